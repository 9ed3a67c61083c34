//! The zone store: owns every served zone's data on its way between disk
//! and the query path.
//!
//! A zone is its zone file (owned by the user, never written here) plus an
//! [`overlay::Overlay`] of dynamic changes kept in tandem's journal. The
//! store publishes an immutable [`Catalog`] snapshot that query threads read
//! without locks; loads, reloads and updates build a new snapshot and swap
//! it in whole. A broken zone file leaves that zone at its last good
//! version.

pub mod overlay;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use tandem_dns::{Catalog, ZoneEntry, ZonePolicy};
use tandem_dns_wire::Name;
use tandem_zone::file::{load, ZoneFileError};
use tandem_zone::Zone;

use crate::overlay::Overlay;

/// What the store needs to know about one configured zone.
#[derive(Clone, Debug)]
pub struct ZoneSpec {
    pub name: Name,
    pub file: PathBuf,
    pub policy: Arc<ZonePolicy>,
    pub journal_max_size: u64,
}

/// Why the store could not start or a zone could not be (re)loaded.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    ZoneFile(#[from] ZoneFileError),
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
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

struct ZoneState {
    spec: ZoneSpec,
    /// The zone file's text as last loaded, to skip unchanged files.
    file_text: Option<String>,
    overlay: Overlay,
}

struct Inner {
    zones: HashMap<Name, ZoneState>,
}

/// The served zones. Cheap to share (`Arc`); readers call [`ZoneStore::catalog`].
pub struct ZoneStore {
    catalog: ArcSwap<Catalog>,
    inner: Mutex<Inner>,
}

/// Reads a zone file and checks it, through the file system.
pub fn load_file(name: &Name, path: &Path) -> Result<(Zone, Vec<String>, String), ZoneFileError> {
    let mut texts = Vec::new();
    let mut loader = |p: &Path| {
        let t = std::fs::read_to_string(p)?;
        texts.push(t.clone());
        Ok(t)
    };
    let loaded = load(name, path, &mut loader)?;
    Ok((loaded.zone, loaded.warnings, texts.concat()))
}

/// Loads every zone file without starting anything; for `tandem check`.
/// Returns the warnings, or every error found (not just the first).
pub fn check(specs: &[ZoneSpec]) -> Result<Vec<String>, Vec<ZoneFileError>> {
    let mut warnings = Vec::new();
    let mut errors = Vec::new();
    for spec in specs {
        match load_file(&spec.name, &spec.file) {
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

impl ZoneStore {
    /// Loads every zone. Any broken zone file stops the start: a server that
    /// silently serves fewer zones than configured is worse than one that
    /// refuses to start and says why.
    pub fn open(specs: Vec<ZoneSpec>) -> Result<(ZoneStore, Vec<String>), StoreError> {
        let mut catalog = Catalog::new();
        let mut zones = HashMap::new();
        let mut warnings = Vec::new();
        for spec in specs {
            let (file_zone, w, text) = load_file(&spec.name, &spec.file)?;
            warnings.extend(w);
            let mut overlay = Overlay::new();
            let (zone, report) = overlay.merge(&file_zone, None);
            for (r, why) in report.dropped {
                warnings.push(format!(
                    "zone {}: dropped dynamic record {r:?}: {why}",
                    spec.name
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
                    file_text: Some(text),
                    overlay,
                },
            );
        }
        Ok((
            ZoneStore {
                catalog: ArcSwap::from_pointee(catalog),
                inner: Mutex::new(Inner { zones }),
            },
            warnings,
        ))
    }

    /// The current snapshot of every zone.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.load_full()
    }

    /// A cheap borrow of the current snapshot for one request.
    pub fn snapshot(&self) -> arc_swap::Guard<Arc<Catalog>> {
        self.catalog.load()
    }

    /// Re-reads every zone file. A zone whose file fails to load keeps
    /// serving its last good version; the failure is in the report.
    pub fn reload(&self) -> ReloadReport {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut report = ReloadReport::default();
        let mut catalog = (*self.catalog.load_full()).clone();
        for (name, state) in inner.zones.iter_mut() {
            let (file_zone, warnings, text) = match load_file(name, &state.spec.file) {
                Ok(v) => v,
                Err(e) => {
                    report.failed.push((name.clone(), e.to_string()));
                    continue;
                }
            };
            if state.file_text.as_deref() == Some(text.as_str()) {
                report.unchanged.push(name.clone());
                continue;
            }
            report.warnings.extend(warnings);
            let served = catalog.get(name).map(|e| e.zone.clone());
            let (zone, merge) = state.overlay.merge(&file_zone, served.as_deref());
            for (r, why) in merge.dropped {
                report.warnings.push(format!(
                    "zone {name}: dropped dynamic record {} {}: {why}",
                    r.owner, r.rtype
                ));
            }
            report.loaded.push((name.clone(), zone.serial()));
            state.file_text = Some(text);
            catalog.insert(ZoneEntry {
                zone: Arc::new(zone),
                policy: state.spec.policy.clone(),
            });
        }
        self.catalog.store(Arc::new(catalog));
        report
    }
}
