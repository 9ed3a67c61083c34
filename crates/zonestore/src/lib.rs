//! The zone store: owns every served zone's data on its way between disk
//! and the query path.
//!
//! A zone is its zone file (owned by the user, never written here) plus an
//! [`overlay::Overlay`] of dynamic changes kept in tandem's journal. The
//! store publishes an immutable [`Catalog`] snapshot that query threads read
//! without locks; loads, reloads and updates build a new snapshot and swap
//! it in whole. A broken zone file leaves that zone at its last good
//! version.
//!
//! Updates go through one writer thread ([`writer`]): it takes every update
//! waiting, applies them in order, appends their diffs to the zones'
//! journals, waits for one `fdatasync` per journal, and only then publishes
//! the new snapshot and sends the NOERRORs. So concurrent updates share a
//! sync (group commit), no reader ever sees data that is not yet durable,
//! and nothing is acknowledged that a `kill -9` could lose.
//!
//! A secondary zone ([`ZoneKind::Secondary`]) has no zone file: its data
//! is a copy of its primary's, brought by zone transfers
//! ([`ZoneStore::apply_transfer`], see [`secondary`]) and kept in the same
//! per-zone journal as a snapshot plus diffs, so a restart serves the copy
//! at once without asking the primary. Updates never change it.

pub mod codec;
pub mod overlay;
pub mod secondary;
mod writer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};

use arc_swap::ArcSwap;
use tandem_dns::query::UpdateRequest;
use tandem_dns::{Catalog, ZoneEntry, ZonePolicy};
use tandem_dns_wire::Name;
use tandem_journal::{Journal, JournalError, Options};
use tandem_zone::file::{load, ZoneFileError};
use tandem_zone::{Diff, Zone};

use crate::codec::{DecodeError, KIND_CHECKPOINT, KIND_DIFF, KIND_REFRESHED, KIND_SNAPSHOT};
use crate::overlay::Overlay;

/// Called with the response once an update is durable or refused.
pub type Reply = Box<dyn FnOnce(Vec<u8>) + Send>;

/// Where a zone's data comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZoneKind {
    /// A zone file plus the journal's overlay of dynamic updates.
    Primary { file: PathBuf },
    /// Zone transfers from a primary, kept in the journal.
    Secondary,
}

/// What the store needs to know about one configured zone.
#[derive(Clone, Debug)]
pub struct ZoneSpec {
    pub name: Name,
    pub kind: ZoneKind,
    pub policy: Arc<ZonePolicy>,
    pub journal_max_size: u64,
}

/// Why the store could not start or a zone could not be (re)loaded.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    ZoneFile(#[from] ZoneFileError),
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("journal {path}: {source}")]
    Decode { path: PathBuf, source: DecodeError },
    /// A journal that does not belong to a zone of this kind (the zone's
    /// type changed), or a secondary's journal that does not replay.
    #[error("journal {path}: {message}")]
    Replay { path: PathBuf, message: String },
    /// The zone is not configured, or not as a secondary.
    #[error("zone {0} is not a secondary zone served here")]
    NotSecondary(Name),
    /// A transfer that cannot be applied; nothing was changed.
    #[error("zone {zone}: transfer rejected: {message}")]
    Transfer { zone: Name, message: String },
}

/// What a reload did, zone by zone.
#[derive(Debug, Default)]
pub struct ReloadReport {
    /// Zones whose new file was loaded, with their serial now served.
    pub loaded: Vec<(Name, u32)>,
    /// Zones whose file did not change (same text) and were left alone.
    pub unchanged: Vec<Name>,
    /// Zones that kept their last good version, with the reason.
    pub failed: Vec<(Name, String)>,
    /// Non-fatal findings, including dynamic records the file overrode.
    pub warnings: Vec<String>,
}

pub(crate) struct ZoneState {
    pub(crate) spec: ZoneSpec,
    /// A digest of the zone file's text (and its includes') as last
    /// loaded, to skip unchanged files without keeping their text.
    file_digest: Option<FileDigest>,
    pub(crate) overlay: Overlay,
    pub(crate) journal: Journal,
    /// The committed diffs still in the journal (since its last
    /// checkpoint), oldest first: what IXFR is answered from.
    pub(crate) history: Vec<Diff>,
    /// A secondary zone's copy (`None` for a primary). Its own lock
    /// serializes the zone's transfers and is held across their journal
    /// writes, so the store-wide lock is not (lock order: this one first).
    pub(crate) secondary: Option<Arc<Mutex<secondary::SecondaryState>>>,
}

impl ZoneState {
    pub(crate) fn is_secondary(&self) -> bool {
        matches!(self.spec.kind, ZoneKind::Secondary)
    }
}

pub(crate) struct Inner {
    pub(crate) zones: HashMap<Name, ZoneState>,
}

/// The served zones. Share it with `Arc`; readers call [`ZoneStore::snapshot`].
pub struct ZoneStore {
    pub(crate) catalog: ArcSwap<Catalog>,
    pub(crate) inner: Mutex<Inner>,
    updates: Mutex<Option<mpsc::Sender<(UpdateRequest, Reply)>>>,
    /// Told of every published serial change (NOTIFY rides on it).
    on_change: std::sync::OnceLock<ChangeHook>,
}

/// Called with a zone and its new serial once that version is published.
pub type ChangeHook = Box<dyn Fn(&Name, u32) + Send + Sync>;

/// Reads a zone file and checks it, through the file system.
pub fn load_file(
    name: &Name,
    path: &Path,
) -> Result<(Zone, Vec<String>, FileDigest), ZoneFileError> {
    use sha2::Digest;
    let mut digest = sha2::Sha256::new();
    let mut loader = |p: &Path| {
        let t = std::fs::read_to_string(p)?;
        // Length-prefixed, so two files' texts cannot run together.
        digest.update((t.len() as u64).to_be_bytes());
        digest.update(t.as_bytes());
        Ok(t)
    };
    let loaded = load(name, path, &mut loader)?;
    Ok((loaded.zone, loaded.warnings, digest.finalize().into()))
}

/// SHA-256 of the texts a zone was loaded from, in the order read.
pub type FileDigest = [u8; 32];

/// Loads every zone file without starting anything; for `tandem check`.
/// Returns the warnings, or every error found (not just the first).
/// Secondary zones have no file and are skipped.
pub fn check(specs: &[ZoneSpec]) -> Result<Vec<String>, Vec<ZoneFileError>> {
    let mut warnings = Vec::new();
    let mut errors = Vec::new();
    for spec in specs {
        let ZoneKind::Primary { file } = &spec.kind else {
            continue;
        };
        match load_file(&spec.name, file) {
            Ok((_, w, _)) => warnings.extend(w),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(warnings)
    } else {
        Err(errors)
    }
}

/// The journal file of a zone: its name in presentation form, made safe.
pub fn journal_path(state_dir: &Path, origin: &Name) -> PathBuf {
    let text = origin.to_string();
    let text = text.trim_end_matches('.');
    let safe: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let safe = if safe.is_empty() {
        "root".to_string()
    } else {
        safe
    };
    state_dir.join("zones").join(format!("{safe}.jnl"))
}

/// Rebuilds the overlay from a journal's entries, with the diffs after the
/// last checkpoint (the history IXFR answers from).
fn replay(
    path: &Path,
    entries: &[tandem_journal::Entry],
) -> Result<(Overlay, Vec<Diff>), StoreError> {
    let decode = |e: DecodeError| StoreError::Decode {
        path: path.to_path_buf(),
        source: e,
    };
    let mut overlay = Overlay::new();
    let mut history = Vec::new();
    for e in entries {
        match e.kind {
            KIND_DIFF => {
                let d = codec::decode_diff(&e.payload).map_err(decode)?;
                overlay.record(&d);
                history.push(d);
            }
            KIND_CHECKPOINT => {
                overlay = codec::decode_checkpoint(&e.payload).map_err(decode)?;
                history.clear();
            }
            KIND_SNAPSHOT | KIND_REFRESHED => {
                return Err(StoreError::Replay {
                    path: path.to_path_buf(),
                    message: "this journal holds a secondary zone's copy, but the zone is now a \
                              primary; move the journal away to start the primary afresh"
                        .into(),
                })
            }
            _ => return Err(decode(DecodeError("unknown entry kind"))),
        }
    }
    Ok((overlay, history))
}

impl ZoneStore {
    /// Loads every zone and its journal under `state_dir`. Any broken zone
    /// file or damaged journal stops the start: a server that silently
    /// serves less than it acknowledged is worse than one that refuses to
    /// start and says why.
    pub fn open(
        specs: Vec<ZoneSpec>,
        state_dir: &Path,
    ) -> Result<(Arc<ZoneStore>, Vec<String>), StoreError> {
        let mut catalog = Catalog::new();
        let mut zones = HashMap::new();
        let mut warnings = Vec::new();
        for spec in specs {
            let file = match &spec.kind {
                ZoneKind::Primary { file } => Some(load_file(&spec.name, file)?),
                ZoneKind::Secondary => None,
            };
            let jpath = journal_path(state_dir, &spec.name);
            if let Some(dir) = jpath.parent() {
                std::fs::create_dir_all(dir).map_err(|e| StoreError::Io {
                    path: dir.to_path_buf(),
                    message: format!("cannot create directory: {e}"),
                })?;
            }
            let (journal, found) = Journal::open(&jpath, Options::default())?;
            if let Some(t) = &found.truncated {
                warnings.push(format!(
                    "journal {}: torn tail at offset {} ({:?}): dropped {} bytes of an update that was never acknowledged",
                    jpath.display(),
                    t.offset,
                    t.reason,
                    t.bytes_dropped
                ));
            }
            let Some((file_zone, w, text)) = file else {
                let (mut copy, history, zone) =
                    secondary::restore(&spec, &jpath, &found.entries, &mut warnings)?;
                copy.base_len = journal.len();
                catalog.insert(ZoneEntry {
                    zone: Arc::new(zone),
                    policy: spec.policy.clone(),
                });
                zones.insert(
                    spec.name.clone(),
                    ZoneState {
                        spec,
                        file_digest: None,
                        overlay: Overlay::new(),
                        journal,
                        history,
                        secondary: Some(Arc::new(Mutex::new(copy))),
                    },
                );
                continue;
            };
            warnings.extend(w);
            let (mut overlay, mut history) = replay(&jpath, &found.entries)?;
            let (zone, report) = overlay.merge(&file_zone, None);
            // A zone file edited while stopped moves the serial past the
            // history's end; the history then no longer leads to it.
            if history.last().is_some_and(|d| d.to_serial != zone.serial()) {
                history.clear();
            }
            for (r, why) in report.dropped {
                warnings.push(format!(
                    "zone {}: dropped dynamic record {} {}: {why}",
                    spec.name, r.owner, r.rtype
                ));
            }
            catalog.insert(ZoneEntry {
                zone: Arc::new(zone),
                policy: spec.policy.clone(),
            });
            zones.insert(
                spec.name.clone(),
                ZoneState {
                    spec,
                    file_digest: Some(text),
                    overlay,
                    journal,
                    history,
                    secondary: None,
                },
            );
        }
        let (tx, rx) = mpsc::channel();
        let store = Arc::new(ZoneStore {
            catalog: ArcSwap::from_pointee(catalog),
            inner: Mutex::new(Inner { zones }),
            updates: Mutex::new(Some(tx)),
            on_change: std::sync::OnceLock::new(),
        });
        let weak = Arc::downgrade(&store);
        std::thread::Builder::new()
            .name("zone-writer".into())
            .spawn(move || writer::run(weak, rx))
            .map_err(|e| StoreError::Io {
                path: state_dir.to_path_buf(),
                message: format!("cannot start the zone writer: {e}"),
            })?;
        Ok((store, warnings))
    }

    /// The current snapshot of every zone.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.load_full()
    }

    /// A cheap borrow of the current snapshot for one request.
    pub fn snapshot(&self) -> arc_swap::Guard<Arc<Catalog>> {
        self.catalog.load()
    }

    /// Queues an update; `reply` runs with the response once the change is
    /// on disk, or at once if it is refused.
    pub fn submit_update(&self, req: UpdateRequest, reply: Reply) {
        let tx = self
            .updates
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        match tx {
            Some(tx) => {
                if let Err(mpsc::SendError((req, reply))) = tx.send((req, reply)) {
                    reply(req.response(tandem_dns_wire::Rcode::SERVFAIL));
                }
            }
            None => reply(req.response(tandem_dns_wire::Rcode::SERVFAIL)),
        }
    }

    /// Sets the hook told of every serial change published from now on
    /// (by an update or a reload); only the first call has effect.
    pub fn set_on_change(&self, hook: ChangeHook) {
        let _ = self.on_change.set(hook);
    }

    pub(crate) fn changed(&self, zone: &Name, serial: u32) {
        if let Some(hook) = self.on_change.get() {
            hook(zone, serial);
        }
    }

    /// The zone's committed diffs still in its journal, oldest first.
    pub fn history(&self, zone: &Name) -> Vec<Diff> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner
            .zones
            .get(zone)
            .map(|s| s.history.clone())
            .unwrap_or_default()
    }

    /// Stops taking updates; those already queued are still committed.
    pub fn close(&self) {
        self.updates
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }

    /// Re-reads every zone file. A zone whose file fails to load keeps
    /// serving its last good version; the failure is in the report.
    /// Secondary zones are left alone (and not in the report).
    pub fn reload(&self) -> ReloadReport {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut report = ReloadReport::default();
        let mut changed = Vec::new();
        let mut catalog = (*self.catalog.load_full()).clone();
        for (name, state) in inner.zones.iter_mut() {
            let ZoneKind::Primary { file } = &state.spec.kind else {
                continue;
            };
            let (file_zone, warnings, text) = match load_file(name, file) {
                Ok(v) => v,
                Err(e) => {
                    report.failed.push((name.clone(), e.to_string()));
                    continue;
                }
            };
            if state.file_digest == Some(text) {
                report.unchanged.push(name.clone());
                continue;
            }
            report.warnings.extend(warnings);
            let served = catalog.get(name).map(|e| e.zone.clone());
            let before = state.overlay.clone();
            let (zone, merge) = state.overlay.merge(&file_zone, served.as_deref());
            // The served serial must survive a restart, or it could go
            // backwards; a merge may also have pruned the overlay.
            let persisted = state.journal.compact(
                KIND_CHECKPOINT,
                vec![codec::encode_checkpoint(&state.overlay)],
            );
            if let Err(e) = persisted {
                state.overlay = before;
                report
                    .failed
                    .push((name.clone(), format!("cannot write the journal: {e}")));
                continue;
            }
            for (r, why) in merge.dropped {
                report.warnings.push(format!(
                    "zone {name}: dropped dynamic record {} {}: {why}",
                    r.owner, r.rtype
                ));
            }
            if served.as_ref().map(|z| z.serial()) != Some(zone.serial()) {
                changed.push((name.clone(), zone.serial()));
            }
            report.loaded.push((name.clone(), zone.serial()));
            state.file_digest = Some(text);
            // The checkpoint replaced the journal's diffs.
            state.history.clear();
            catalog.insert(ZoneEntry {
                zone: Arc::new(zone),
                policy: state.spec.policy.clone(),
            });
        }
        self.catalog.store(Arc::new(catalog));
        drop(inner);
        for (name, serial) in changed {
            self.changed(&name, serial);
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_journal::Entry;

    fn diff(from: u32, to: u32) -> Entry {
        let d = Diff {
            from_serial: from,
            to_serial: to,
            removed: vec![],
            added: vec![],
        };
        Entry {
            offset: 0,
            kind: KIND_DIFF,
            payload: codec::encode_diff(&d),
        }
    }

    #[test]
    fn history_is_the_diffs_after_the_last_checkpoint() {
        let checkpoint = Entry {
            offset: 0,
            kind: KIND_CHECKPOINT,
            payload: codec::encode_checkpoint(&Overlay::from_parts(vec![], vec![], Some(2))),
        };
        let entries = vec![diff(1, 2), checkpoint, diff(2, 3), diff(3, 4)];
        let (overlay, history) = replay(Path::new("x.jnl"), &entries).unwrap();
        assert_eq!(overlay.serial, Some(4));
        let serials: Vec<_> = history
            .iter()
            .map(|d| (d.from_serial, d.to_serial))
            .collect();
        assert_eq!(serials, vec![(2, 3), (3, 4)]);
    }
}
