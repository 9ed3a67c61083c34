//! The store handle: opening and replaying the lease journal, durable
//! commits, and compaction into a checkpoint.
//!
//! The DHCP server owns the current lease table; the store makes changes to
//! it durable and gives the table back after a restart. Besides the journal
//! the store keeps only what compaction needs to be safe on its own: the
//! latest version of every address committed since the last compaction, and
//! the commits made while a compaction runs.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, OnceLock};
use std::thread::ThreadId;

use tandem_dhcp::Lease;
use tandem_journal::format::{frame_len, HEADER_LEN};
use tandem_journal::{
    Backend, Completion, Entry, Journal, JournalError, Options, RecoveryMode, Replay, Stats,
    MAX_PAYLOAD_LEN,
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
        StoreOptions::with_journal(Options::default())
    }
}

impl StoreOptions {
    /// Default options writing through `backend`.
    pub fn with_backend(backend: impl Backend + 'static) -> Self {
        StoreOptions::with_journal(Options::with_backend(backend))
    }

    /// Lease changes come from many independent clients, so the journal
    /// lets a batch gather before its sync (`Options::gather`).
    fn with_journal(journal: Options) -> Self {
        StoreOptions {
            max_size: 16 << 20,
            journal: Options {
                gather: true,
                ..journal
            },
            checkpoint_frame_bytes: 1 << 20,
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
    state: Mutex<State>,
    /// The journal's writer thread, learnt from the first completion that
    /// runs there; blocking calls from it are refused instead of deadlocking.
    writer: Arc<OnceLock<ThreadId>>,
    max_size: u64,
    checkpoint_frame_bytes: usize,
    /// File length just after the last checkpoint (or at open). Its mutex
    /// also keeps two compactions from running at once.
    compacted_len: Mutex<u64>,
}

/// What commits and compaction share. Held only briefly, never while
/// waiting for the disk.
#[derive(Debug, Default)]
struct State {
    /// `None` once closed.
    journal: Option<Journal>,
    /// The latest version of every address committed through this handle
    /// since the last compaction, inserted in the same critical section as
    /// its journal submit, so it agrees with the journal's order. Compaction
    /// writes these over the caller's table: a commit that raced with the
    /// caller's snapshot is in the old file, and must not vanish with it.
    since_compaction: HashMap<Ipv4Addr, Lease>,
    /// `Some` while a compaction runs: commits made meanwhile wait here and
    /// are submitted, in order, to the new file once it is in place.
    held: Option<Vec<Pending>>,
}

/// A commit encoded and waiting for a compaction to finish.
struct Pending {
    changes: Vec<Lease>,
    payload: Vec<u8>,
    done: Done,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("changes", &self.changes.len())
            .field("payload", &self.payload.len())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

type Deferred = Box<dyn FnOnce()>;

thread_local! {
    /// Set while this thread submits to the journal under the state lock.
    /// The journal calls a completion synchronously when it refuses a
    /// request (poisoned, closed); such calls are collected here and run
    /// after the lock is released, so a `done` that commits again does not
    /// deadlock on it.
    static INLINE: RefCell<Option<Vec<Deferred>>> = const { RefCell::new(None) };
}

/// Runs `f`, collecting the completions the journal calls synchronously
/// inside it; the caller runs them once its locks are released.
fn collecting<R>(f: impl FnOnce() -> R) -> (R, Vec<Deferred>) {
    let outer = INLINE.with(|c| c.replace(Some(Vec::new())));
    let r = f();
    let inline = INLINE.with(|c| c.replace(outer)).unwrap_or_default();
    (r, inline)
}

/// Adapts a store completion to the journal's, learning the writer thread.
fn completion(writer: &Arc<OnceLock<ThreadId>>, done: Done) -> Completion {
    let writer = writer.clone();
    Box::new(move |r| {
        let result = r.map(|_| ()).map_err(StoreError::from);
        let call: Deferred = Box::new(move || done(result));
        let call = INLINE.with(|c| match c.borrow_mut().as_mut() {
            Some(inline) => {
                inline.push(call);
                None
            }
            None => Some(call),
        });
        if let Some(call) = call {
            // Every completion not run inside `collecting` runs on the
            // journal's writer thread.
            writer.get_or_init(|| std::thread::current().id());
            call();
        }
    })
}

/// Records `p` as committed and queues it in the journal. Called with the
/// state lock held (that is what keeps `since_compaction` in journal order)
/// and inside [`collecting`].
fn submit(
    journal: &Journal,
    since: &mut HashMap<Ipv4Addr, Lease>,
    writer: &Arc<OnceLock<ThreadId>>,
    p: Pending,
) {
    for lease in p.changes {
        since.insert(lease.addr, lease);
    }
    journal.submit(KIND_CHANGES, p.payload, completion(writer, p.done));
}

fn run_all(calls: Vec<Deferred>) {
    for call in calls {
        call();
    }
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
            state: Mutex::new(State {
                journal: Some(journal),
                ..State::default()
            }),
            writer: Arc::default(),
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
        lock(&self.state).journal.clone().ok_or(StoreError::Closed)
    }

    fn on_writer_thread(&self) -> bool {
        self.writer.get() == Some(&std::thread::current().id())
    }

    /// Makes `changes` durable (written and `fdatasync`ed, the sync shared
    /// with concurrent callers), then calls `done`.
    ///
    /// Only after `done(Ok(()))` may the DHCP server send the reply that
    /// depends on the changes. All of `changes` go into one journal entry,
    /// so after a crash either all of them or none are replayed, and later
    /// commits win over earlier ones per address. Two threads committing the
    /// same address at once are ordered by whoever gets here first, so the
    /// caller orders its own decisions about one address.
    ///
    /// Never waits for the disk. `done` runs on the journal's writer thread
    /// and must be quick (send on a channel, complete a oneshot); it may call
    /// `commit` but not the blocking methods. A commit refused before
    /// reaching the journal (empty, invalid lease, store closed, journal
    /// poisoned) calls `done` on the calling thread before returning.
    ///
    /// An `Err` means "unknown", not "absent": the changes may still be
    /// replayed after a restart (see `docs/storage.md`).
    pub fn commit(&self, changes: Vec<Lease>, done: Done) {
        let payload = if changes.is_empty() {
            None
        } else {
            match encode_changes(&changes) {
                Ok(p) => Some(p),
                Err(e) => return done(Err(e.into())),
            }
        };
        let mut guard = lock(&self.state);
        let st = &mut *guard;
        let Some(journal) = &st.journal else {
            drop(guard);
            return done(Err(StoreError::Closed));
        };
        let Some(payload) = payload else {
            drop(guard);
            return done(Ok(()));
        };
        let pending = Pending {
            changes,
            payload,
            done,
        };
        if let Some(held) = &mut st.held {
            held.push(pending);
            return;
        }
        let ((), inline) =
            collecting(|| submit(journal, &mut st.since_compaction, &self.writer, pending));
        drop(guard);
        run_all(inline);
    }

    /// [`commit`](Self::commit), waiting for the result. From a completion
    /// callback it returns a `WouldDeadlock` journal error instead.
    pub fn commit_blocking(&self, changes: Vec<Lease>) -> Result<(), StoreError> {
        if self.on_writer_thread() {
            return Err(JournalError::WouldDeadlock.into());
        }
        let (tx, rx) = mpsc::sync_channel(1);
        self.commit(
            changes,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        rx.recv().unwrap_or(Err(StoreError::Closed))
    }

    /// Rewrites the journal as one checkpoint of `current` when it has grown
    /// past `max_size` (and to at least twice its size after the last
    /// checkpoint, so a table bigger than `max_size` is not rewritten on
    /// every call). Returns whether it compacted.
    ///
    /// See [`compact`](Self::compact) for what ends up in the checkpoint.
    pub fn compact_if_needed(&self, current: &[Lease]) -> Result<bool, StoreError> {
        if self.on_writer_thread() {
            return Err(JournalError::WouldDeadlock.into());
        }
        let mut base = lock(&self.compacted_len);
        let len = self.journal()?.len();
        if len <= self.max_size || len <= base.saturating_mul(2) {
            return Ok(false);
        }
        self.rewrite(&mut base, current)?;
        Ok(true)
    }

    /// Rewrites the journal as one checkpoint, whatever its size. Blocks
    /// until the new file is durable.
    ///
    /// The checkpoint holds `current` (every lease worth keeping, as the
    /// caller sees it) overlaid with the latest version of every lease
    /// committed through this store since the previous compaction. The
    /// overlay is what makes this safe without any locking by the caller: a
    /// commit made after the caller took its snapshot but before this call
    /// was written to the old file, which the checkpoint replaces, so it must
    /// be in the checkpoint. Consequently a lease the caller leaves out of
    /// `current` is dropped only if it has not changed since the previous
    /// compaction; one that has goes at the next compaction. Commits made
    /// while this runs wait (not on the disk, on this call) and go to the new
    /// file behind the checkpoint. If an address appears twice in
    /// `current`, the later entry counts.
    ///
    /// Atomic: a crash leaves either the old or the new file. A failure
    /// before the rename keeps the old file in use; a failed directory sync
    /// after it poisons the journal (see `docs/storage.md`).
    pub fn compact(&self, current: &[Lease]) -> Result<(), StoreError> {
        if self.on_writer_thread() {
            return Err(JournalError::WouldDeadlock.into());
        }
        let mut base = lock(&self.compacted_len);
        self.rewrite(&mut base, current)
    }

    fn rewrite(&self, base: &mut u64, current: &[Lease]) -> Result<(), StoreError> {
        // Hold new commits back, and take what the old file has that the
        // caller's table might not.
        let (journal, since) = {
            let mut st = lock(&self.state);
            let journal = st.journal.clone().ok_or(StoreError::Closed)?;
            st.held = Some(Vec::new());
            (journal, std::mem::take(&mut st.since_compaction))
        };
        let thaw = Thaw {
            store: self,
            journal: &journal,
            since: Some(since),
            compacted: false,
        };
        thaw.run(base, current)
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
        let taken = lock(&self.state).journal.take();
        // Dropped outside the lock: dropping the last handle waits for the
        // writer thread, whose callbacks may commit and so need the lock.
        drop(taken);
    }
}

/// One compaction between freezing and thawing the commit path. Thawing is
/// in `Drop`, so held commits are released whatever happens in between.
struct Thaw<'a> {
    store: &'a LeaseStore,
    journal: &'a Journal,
    /// Leases committed since the previous compaction, given back to the
    /// state unless this compaction replaced the file.
    since: Option<HashMap<Ipv4Addr, Lease>>,
    compacted: bool,
}

impl Thaw<'_> {
    fn run(mut self, base: &mut u64, current: &[Lease]) -> Result<(), StoreError> {
        let store = self.store;
        // One record per address, the store's own commits over the caller's
        // table: they are what the old file says last.
        let mut table: BTreeMap<Ipv4Addr, &Lease> = current.iter().map(|l| (l.addr, l)).collect();
        if let Some(since) = &self.since {
            table.extend(since.values().map(|l| (l.addr, l)));
        }
        let payloads = encode_checkpoint(table.values().copied(), store.checkpoint_frame_bytes)?;
        let frames = payloads.len();
        let leases = table.len();
        drop(table);
        let report = self.journal.compact(KIND_CHECKPOINT, payloads)?;
        self.compacted = true;
        *base = report.bytes_after;
        tracing::info!(
            path = %store.path.display(),
            leases,
            frames,
            before = report.bytes_before,
            after = report.bytes_after,
            "lease journal compacted"
        );
        Ok(())
    }
}

impl Drop for Thaw<'_> {
    fn drop(&mut self) {
        let mut guard = lock(&self.store.state);
        let st = &mut *guard;
        if !self.compacted {
            // The old file is still the journal (or nothing is written any
            // more): its commits still need covering by the next checkpoint.
            if let Some(since) = self.since.take() {
                st.since_compaction = since;
            }
        }
        let held = st.held.take().unwrap_or_default();
        // Submitted to the handle this compaction used, even if the store
        // was closed meanwhile: these commits were accepted before that.
        let ((), inline) = collecting(|| {
            for p in held {
                submit(
                    self.journal,
                    &mut st.since_compaction,
                    &self.store.writer,
                    p,
                );
            }
        });
        drop(guard);
        run_all(inline);
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
