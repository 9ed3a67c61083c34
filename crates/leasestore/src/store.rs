//! The store handle: opening and replaying the lease journal, durable
//! commits, and compaction into a checkpoint.
//!
//! The store keeps no lease table of its own. The DHCP server owns the
//! current table; the store only makes changes to it durable and gives the
//! table back after a restart. That keeps one copy of every lease in memory
//! and one place (the server) that decides what a lease is.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use tandem_dhcp::Lease;
use tandem_journal::format::{frame_len, HEADER_LEN};
use tandem_journal::{
    Backend, Entry, Journal, Options, RecoveryMode, Replay, Stats, MAX_PAYLOAD_LEN,
};

use crate::codec::{
    decode_changes, decode_checkpoint, encode_changes, encode_checkpoint, CHECKPOINT_HEADER_LEN,
    KIND_CHANGES, KIND_CHECKPOINT, MAX_RECORD_LEN,
};
use crate::error::{CheckpointProblem, StoreError};

/// File name of the lease journal inside the store's directory.
pub const JOURNAL_FILE: &str = "leases.jnl";

/// Completion callback of [`LeaseStore::commit`].
pub type Done = Box<dyn FnOnce(Result<(), StoreError>) + Send + 'static>;

/// How to open a [`LeaseStore`].
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Journal size in bytes past which [`LeaseStore::compact_if_needed`]
    /// compacts (the configuration's `lease-journal-max-size`).
    pub max_size: u64,
    /// Options of the journal underneath: its storage backend (tests inject
    /// `MemBackend` or `FaultBackend` here), recovery mode and batch size.
    pub journal: Options,
    /// Target payload size of one checkpoint frame. A checkpoint of a big
    /// table is split over several frames, so no frame nears the journal's
    /// 64 MiB limit and recovery never has to checksum one huge frame.
    pub checkpoint_frame_bytes: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_size: 16 << 20,
            journal: Options::default(),
            checkpoint_frame_bytes: 1 << 20,
        }
    }
}

impl StoreOptions {
    /// Default options writing through `backend`.
    pub fn with_backend(backend: impl Backend + 'static) -> Self {
        StoreOptions {
            journal: Options::with_backend(backend),
            ..StoreOptions::default()
        }
    }
}

/// What [`LeaseStore::open`] returns.
#[derive(Debug)]
pub struct Opened {
    /// The store, ready for commits.
    pub store: LeaseStore,
    /// The latest version of every lease in the journal, one per address,
    /// sorted by address.
    pub leases: Vec<Lease>,
    /// Operator-readable lines about what recovery did (a torn tail cut, a
    /// leftover compaction file removed). Already logged with `tracing`;
    /// returned so the caller can show them at startup too.
    pub warnings: Vec<String>,
}

/// The durable lease store. `Send + Sync`; share it in an `Arc`.
#[derive(Debug)]
pub struct LeaseStore {
    path: PathBuf,
    /// `None` once closed. Held only long enough to clone the handle, so a
    /// completion callback may call back into the store without deadlock.
    journal: RwLock<Option<Journal>>,
    max_size: u64,
    checkpoint_frame_bytes: usize,
    /// File length just after the last checkpoint (or at open). Its mutex
    /// also keeps two compactions from running at once.
    compacted_len: Mutex<u64>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl LeaseStore {
    /// Opens (or creates) `<dir>/leases.jnl`, replays it and returns the
    /// latest version of every lease (one entry per address).
    ///
    /// `dir` must exist. A torn tail is cut by the journal and reported in
    /// [`Opened::warnings`]; an undecodable entry, an entry of an unknown
    /// kind or a broken checkpoint is an error and the file is left as it
    /// was found (apart from the journal's own torn-tail cut).
    pub fn open(dir: &Path, options: StoreOptions) -> Result<Opened, StoreError> {
        let path = dir.join(JOURNAL_FILE);
        let recovery = options.journal.recovery;
        let (journal, found) = Journal::open(&path, options.journal)?;
        let end = journal.len();
        let replayed = replay(&path, &found, end, recovery)?;
        let mut warnings = replayed.warnings;
        if let Some(cut) = found.truncated {
            warnings.insert(
                0,
                format!(
                    "lease journal {}: cut {} damaged bytes at offset {} ({}); this is normally \
                     a commit interrupted by a crash, which no client was told about",
                    path.display(),
                    cut.bytes_dropped,
                    cut.offset,
                    cut.reason
                ),
            );
        }
        if found.removed_stale_tmp {
            warnings.push(format!(
                "lease journal {}: removed the leftover file of an interrupted compaction; \
                 the journal itself is complete",
                path.display()
            ));
        }
        for w in &warnings {
            tracing::warn!("{w}");
        }
        tracing::info!(
            path = %path.display(),
            leases = replayed.table.len(),
            entries = found.entries.len(),
            bytes = end,
            "lease journal replayed"
        );
        let frame_cap = MAX_PAYLOAD_LEN as usize - MAX_RECORD_LEN;
        let store = LeaseStore {
            path,
            journal: RwLock::new(Some(journal)),
            max_size: options.max_size,
            checkpoint_frame_bytes: options
                .checkpoint_frame_bytes
                .clamp(CHECKPOINT_HEADER_LEN + 1, frame_cap),
            compacted_len: Mutex::new(replayed.checkpoint_end),
        };
        Ok(Opened {
            store,
            leases: replayed.table.into_values().collect(),
            warnings,
        })
    }

    /// The journal file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open journal handle, or `Closed`.
    fn journal(&self) -> Result<Journal, StoreError> {
        let guard = self.journal.read().unwrap_or_else(|p| p.into_inner());
        guard.clone().ok_or(StoreError::Closed)
    }

    /// Makes `changes` durable (written and `fdatasync`ed, the sync shared
    /// with concurrent callers), then calls `done`.
    ///
    /// Only after `done(Ok(()))` may the DHCP server send the reply that
    /// depends on the changes. All of `changes` go into one journal entry,
    /// so after a crash either all of them or none are replayed. `done` runs
    /// on the journal's writer thread and must be quick (send on a channel,
    /// complete a oneshot); it may call [`commit`](Self::commit) but not the
    /// blocking methods. A commit refused before reaching the journal (empty,
    /// invalid lease, store closed) calls `done` at once on the calling
    /// thread.
    ///
    /// An `Err` means "unknown", not "absent": the changes may still be
    /// replayed after a restart (see `docs/storage.md`).
    pub fn commit(&self, changes: Vec<Lease>, done: Done) {
        let journal = match self.journal() {
            Ok(j) => j,
            Err(e) => return done(Err(e)),
        };
        if changes.is_empty() {
            return done(Ok(()));
        }
        let payload = match encode_changes(&changes) {
            Ok(p) => p,
            Err(e) => return done(Err(e.into())),
        };
        journal.submit(
            KIND_CHANGES,
            payload,
            Box::new(move |r| done(r.map(|_| ()).map_err(StoreError::from))),
        );
    }

    /// [`commit`](Self::commit), waiting for the result. Must not be called
    /// from a completion callback (it returns a `WouldDeadlock` journal error
    /// there).
    pub fn commit_blocking(&self, changes: Vec<Lease>) -> Result<(), StoreError> {
        let journal = self.journal()?;
        if changes.is_empty() {
            return Ok(());
        }
        let payload = encode_changes(&changes)?;
        journal.append_blocking(KIND_CHANGES, payload)?;
        Ok(())
    }

    /// Rewrites the journal as one checkpoint of `current` when it has grown
    /// past `max_size` (and to at least twice its size after the last
    /// checkpoint, so a table bigger than `max_size` is not rewritten on
    /// every call). Returns whether it compacted.
    ///
    /// See [`compact`](Self::compact) for what `current` must contain.
    pub fn compact_if_needed(&self, current: &[Lease]) -> Result<bool, StoreError> {
        let journal = self.journal()?;
        let mut base = lock(&self.compacted_len);
        let len = journal.len();
        if len <= self.max_size || len <= base.saturating_mul(2) {
            return Ok(false);
        }
        self.rewrite(&journal, &mut base, current)?;
        Ok(true)
    }

    /// Rewrites the journal as one checkpoint of `current`, whatever its
    /// size. Blocks until the new file is durable.
    ///
    /// `current` is every lease worth keeping; leases left out are gone
    /// after the next restart. It must include every change passed to
    /// [`commit`](Self::commit) before this call, completed or not: commits
    /// queued before the compaction are written to the old file, which the
    /// checkpoint replaces. The natural way is to call this under the same
    /// lock as the table updates that precede commits. Commits made after
    /// this call go to the new file, behind the checkpoint, and win on
    /// replay. If an address appears twice, the later entry wins.
    ///
    /// Atomic: a crash leaves either the old or the new file. A failure
    /// before the rename keeps the old file in use; a failed directory sync
    /// after it poisons the journal (see `docs/storage.md`).
    pub fn compact(&self, current: &[Lease]) -> Result<(), StoreError> {
        let journal = self.journal()?;
        let mut base = lock(&self.compacted_len);
        self.rewrite(&journal, &mut base, current)
    }

    fn rewrite(
        &self,
        journal: &Journal,
        base: &mut u64,
        current: &[Lease],
    ) -> Result<(), StoreError> {
        let payloads = encode_checkpoint(current, self.checkpoint_frame_bytes)?;
        let frames = payloads.len();
        let report = journal.compact(KIND_CHECKPOINT, payloads)?;
        *base = report.bytes_after;
        tracing::info!(
            path = %self.path.display(),
            leases = current.len(),
            frames,
            before = report.bytes_before,
            after = report.bytes_after,
            "lease journal compacted"
        );
        Ok(())
    }

    /// The journal's counters (commits, syncs, size), or `None` once closed.
    pub fn stats(&self) -> Option<Stats> {
        self.journal().ok().map(|j| j.stats())
    }

    /// Stops accepting commits. Commits already accepted complete first;
    /// then the writer thread stops and the file's lock is released, so the
    /// directory can be opened again. If another thread is inside a store
    /// call at that moment, the shutdown finishes when that call returns.
    /// Later calls fail with [`StoreError::Closed`].
    pub fn close(&self) {
        let taken = self
            .journal
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        // Dropped outside the lock: dropping the last handle waits for the
        // writer thread, whose callbacks may need the read lock.
        drop(taken);
    }
}

/// The outcome of folding the journal's entries into a table.
struct Replayed {
    table: BTreeMap<Ipv4Addr, Lease>,
    warnings: Vec<String>,
    /// Offset just past the leading checkpoint (the header if none).
    checkpoint_end: u64,
}

/// Where replay is in the leading checkpoint.
enum Phase {
    /// No entry seen yet.
    Start,
    /// Parts `0..next` of a checkpoint of `parts` frames seen.
    Checkpoint { next: u32, parts: u32 },
    /// Past the checkpoint (or there was none): only changes may follow.
    Changes,
}

/// Folds `found.entries` into one lease per address, later entries winning,
/// and checks that checkpoint frames form one complete checkpoint at the
/// start. `end` is the file length after recovery.
fn replay(
    path: &Path,
    found: &Replay,
    end: u64,
    recovery: RecoveryMode,
) -> Result<Replayed, StoreError> {
    let mut table = BTreeMap::new();
    let mut warnings = Vec::new();
    let mut phase = Phase::Start;
    let mut checkpoint_end = HEADER_LEN as u64;
    let checkpoint_err = |offset, problem| StoreError::Checkpoint {
        path: path.to_path_buf(),
        offset,
        problem,
    };
    let payload_err = |e: &Entry, source| StoreError::Payload {
        path: path.to_path_buf(),
        offset: e.offset,
        kind: e.kind,
        source,
    };

    for e in &found.entries {
        let leases = match e.kind {
            KIND_CHECKPOINT => {
                let cp = decode_checkpoint(&e.payload).map_err(|s| payload_err(e, s))?;
                let (expected, parts) = match phase {
                    Phase::Start => (0, cp.parts),
                    Phase::Checkpoint { next, parts } => (next, parts),
                    Phase::Changes => {
                        let problem = CheckpointProblem::Misplaced {
                            part: cp.part,
                            parts: cp.parts,
                        };
                        return Err(checkpoint_err(e.offset, problem));
                    }
                };
                if cp.part != expected || cp.parts != parts {
                    let problem = CheckpointProblem::OutOfOrder {
                        expected,
                        parts,
                        part: cp.part,
                        found_parts: cp.parts,
                    };
                    return Err(checkpoint_err(e.offset, problem));
                }
                phase = if cp.part + 1 == parts {
                    checkpoint_end = e.offset + frame_len(e.payload.len()) as u64;
                    Phase::Changes
                } else {
                    Phase::Checkpoint {
                        next: cp.part + 1,
                        parts,
                    }
                };
                cp.leases
            }
            KIND_CHANGES => {
                if let Phase::Checkpoint { next, parts } = phase {
                    let problem = CheckpointProblem::Incomplete { found: next, parts };
                    return Err(checkpoint_err(e.offset, problem));
                }
                phase = Phase::Changes;
                decode_changes(&e.payload).map_err(|s| payload_err(e, s))?
            }
            kind => {
                return Err(StoreError::UnknownKind {
                    path: path.to_path_buf(),
                    offset: e.offset,
                    kind,
                })
            }
        };
        for lease in leases {
            table.insert(lease.addr, lease);
        }
    }

    if let Phase::Checkpoint { next, parts } = phase {
        // Only damage to the file's last frame, cut by recovery, ends a
        // checkpoint early. Its leases were acknowledged, so losing them
        // needs the operator's explicit override.
        let problem = CheckpointProblem::Incomplete { found: next, parts };
        if recovery == RecoveryMode::Strict {
            return Err(checkpoint_err(end, problem));
        }
        warnings.push(format!(
            "lease journal {}: the checkpoint ends after {next} of its {parts} parts (its last \
             frame was cut); the leases of the missing parts are lost, keeping the {} that remain",
            path.display(),
            table.len()
        ));
        checkpoint_end = end;
    }
    Ok(Replayed {
        table,
        warnings,
        checkpoint_end,
    })
}

/// Asserts at compile time what the API promises about sharing.
const _: () = {
    const fn shareable<T: Send + Sync>() {}
    shareable::<LeaseStore>();
    shareable::<Arc<LeaseStore>>();
};
