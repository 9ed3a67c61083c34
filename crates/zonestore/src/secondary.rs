//! Secondary zones: a copy of a primary's zone, brought by zone transfers
//! and kept durably in the zone's journal, so a restart serves it at once
//! even while the primary is unreachable.
//!
//! The journal of a secondary zone is, in order:
//! - one snapshot ([`codec::KIND_SNAPSHOT`], parts `0..parts`): the whole
//!   copy as of the last full transfer or compaction, with the time of the
//!   last contact with the primary then; always written by
//!   [`tandem_journal::Journal::compact`], so the file starts with it;
//! - then, in any order, diffs ([`codec::KIND_DIFF`], one per change an
//!   incremental transfer brought) and "refreshed at" marks
//!   ([`codec::KIND_REFRESHED`], after every successful contact).
//!
//! Every change is synced before the catalog shows it; a journal that
//! grew past `journal_max_size` is compacted into a new snapshot. Expiry
//! ([`ZoneStore::expire`]) only changes what is published: the copy stays
//! in memory and on disk, so a later incremental transfer from its serial
//! still applies.

use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};

use tandem_dns::xfrin::Transfer;
use tandem_dns::ZoneEntry;
use tandem_dns_wire::rdata::Soa;
use tandem_dns_wire::{Class, Name, Record, Rtype};
use tandem_journal::Entry;
use tandem_zone::{Diff, Zone};

use crate::codec::{
    self, DecodeError, KIND_CHECKPOINT, KIND_DIFF, KIND_REFRESHED, KIND_SNAPSHOT,
    SNAPSHOT_PART_BYTES,
};
use crate::{StoreError, ZoneSpec, ZoneState, ZoneStore};

/// A secondary zone's copy, as the store keeps it.
#[derive(Clone, Debug, Default)]
pub(crate) struct SecondaryState {
    /// The copy; `None` before the first full transfer.
    pub(crate) copy: Option<Arc<Zone>>,
    /// Seconds since the epoch of the last successful contact with the
    /// primary (0 if never).
    pub(crate) refreshed_at: u64,
    /// Set by [`ZoneStore::expire`]: the catalog holds an empty zone.
    pub(crate) expired: bool,
    /// The journal's size right after its last compaction (or at open):
    /// a copy bigger than `journal_max_size` is not rewritten on every
    /// transfer, only once the journal doubled.
    pub(crate) base_len: u64,
    /// Updates this node accepted for the primary and still holds in its
    /// outbox (or delivered, but not yet back in a transfer): served on
    /// top of the copy so their names resolve here at once. Not durable
    /// here; the outbox owns them and sets them again after a restart.
    pub(crate) local: Vec<tandem_dns_wire::Message>,
}

/// The copy as served: with the local updates applied in order, the SOA
/// serial left at the copy's (the primary numbers versions, not us), so
/// the refresh schedule and chained secondaries see the primary's serial.
fn view(copy: &Arc<Zone>, local: &[tandem_dns_wire::Message]) -> Arc<Zone> {
    if local.is_empty() {
        return copy.clone();
    }
    let serial = copy.serial();
    let mut z = (**copy).clone();
    for m in local {
        let key = m.tsig.as_ref().map(|t| t.record.owner.clone());
        // An update the copy has overtaken (its prerequisites fail now)
        // is simply not shown; the primary's answer to it decides.
        if let Ok(plan) =
            tandem_zone::update::plan_update(&z, m, &tandem_zone::update::AllowAll, key.as_ref())
        {
            plan.apply_to(&mut z);
        }
    }
    z.set_serial(serial);
    Arc::new(z)
}

/// What a zone without a copy (or an expired one) is published as: no
/// SOA, so the query path answers SERVFAIL.
fn empty(origin: &Name) -> Zone {
    Zone::new(origin.clone(), Class::IN)
}

/// Applies an incremental transfer's diffs to `zone`, strictly: each diff
/// must start at the serial the one before ended at (the first at the
/// zone's), every record removed must be there, and the result must still
/// be a valid zone. Apex SOA records in a diff (the old SOA in `removed`,
/// the new one in `added`, as RFC 1995 carries them) replace the SOA.
/// Returns the new zone and the diffs without SOA records (the history's
/// form).
pub fn apply_diffs(zone: &Zone, diffs: &[Diff]) -> Result<(Zone, Vec<Diff>), String> {
    let origin = zone.origin().clone();
    let mut z = zone.clone();
    let mut serial = z.serial();
    let mut stripped = Vec::with_capacity(diffs.len());
    for d in diffs {
        if d.from_serial != serial {
            return Err(format!(
                "the change {} → {} does not start at the copy's serial {serial}",
                d.from_serial, d.to_serial
            ));
        }
        let is_soa = |r: &Record| r.rtype == Rtype::SOA;
        let mut new_soa = None;
        for r in &d.removed {
            if is_soa(r) {
                continue;
            }
            if z.remove(r).is_none() {
                return Err(format!(
                    "the change {} → {} removes {} {}, which the copy does not hold",
                    d.from_serial, d.to_serial, r.owner, r.rtype
                ));
            }
        }
        for r in &d.added {
            if r.class != z.class() {
                return Err(format!("{} {} has class {}", r.owner, r.rtype, r.class));
            }
            if !r.owner.is_subdomain_of(&origin) {
                return Err(format!("{} is outside the zone", r.owner));
            }
            if is_soa(r) {
                if r.owner != origin || Soa::parse(&r.rdata).is_err() {
                    return Err(format!("bad SOA record at {}", r.owner));
                }
                new_soa = Some(r.clone());
                continue;
            }
            z.insert(r.clone());
        }
        if let Some(soa) = new_soa {
            z.remove_rrset(&origin, Rtype::SOA);
            z.insert(soa);
        }
        z.set_serial(d.to_serial);
        serial = d.to_serial;
        stripped.push(Diff {
            from_serial: d.from_serial,
            to_serial: d.to_serial,
            removed: d.removed.iter().filter(|r| !is_soa(r)).cloned().collect(),
            added: d.added.iter().filter(|r| !is_soa(r)).cloned().collect(),
        });
    }
    z.check().map_err(|e| e.to_string())?;
    Ok((z, stripped))
}

/// Rebuilds a secondary zone's copy from its journal: the state, the
/// history (diffs since the snapshot) and the zone to publish.
pub(crate) fn restore(
    spec: &ZoneSpec,
    path: &Path,
    entries: &[Entry],
    warnings: &mut Vec<String>,
) -> Result<(SecondaryState, Vec<Diff>, Zone), StoreError> {
    let decode = |e: DecodeError| StoreError::Decode {
        path: path.to_path_buf(),
        source: e,
    };
    let refuse = |offset: u64, message: String| StoreError::Replay {
        path: path.to_path_buf(),
        message: format!("entry at offset {offset}: {message}"),
    };
    let mut state = SecondaryState::default();
    let mut history = Vec::new();
    // A snapshot being read: its records so far, the next part, the parts.
    let mut pending: Option<(Vec<Record>, u32, u32)> = None;
    for e in entries {
        if pending.is_some() && e.kind != KIND_SNAPSHOT {
            return Err(refuse(e.offset, "an entry inside a snapshot".into()));
        }
        match e.kind {
            KIND_SNAPSHOT => {
                let p = codec::decode_snapshot_part(&e.payload).map_err(decode)?;
                let (mut records, next, parts) = match pending.take() {
                    None if p.part == 0 => (Vec::new(), 0, p.parts),
                    None => return Err(refuse(e.offset, "snapshot parts out of order".into())),
                    Some(x) => x,
                };
                if p.part != next || p.parts != parts {
                    return Err(refuse(e.offset, "snapshot parts out of order".into()));
                }
                records.extend(p.records);
                if p.part + 1 < parts {
                    pending = Some((records, next + 1, parts));
                    continue;
                }
                let (mut zone, _) = Zone::from_records(spec.name.clone(), Class::IN, records)
                    .map_err(|err| refuse(e.offset, format!("snapshot: {err}")))?;
                zone.compact();
                state.copy = Some(Arc::new(zone));
                state.refreshed_at = p.refreshed_at;
                history.clear();
            }
            KIND_DIFF => {
                let d = codec::decode_diff(&e.payload).map_err(decode)?;
                let Some(copy) = &state.copy else {
                    return Err(refuse(
                        e.offset,
                        "a change before any snapshot: this is not a secondary zone's journal \
                         (a primary zone's dynamic updates?); move it away to start the \
                         secondary afresh"
                            .into(),
                    ));
                };
                let (zone, mut stripped) =
                    apply_diffs(copy, std::slice::from_ref(&d)).map_err(|m| refuse(e.offset, m))?;
                state.copy = Some(Arc::new(zone));
                history.append(&mut stripped);
            }
            KIND_REFRESHED => {
                state.refreshed_at = codec::decode_refreshed(&e.payload).map_err(decode)?;
            }
            KIND_CHECKPOINT => {
                return Err(StoreError::Replay {
                    path: path.to_path_buf(),
                    message: "this journal holds a primary zone's dynamic updates, but the zone \
                              is now a secondary; move the journal away to start the secondary \
                              afresh"
                        .into(),
                })
            }
            _ => return Err(decode(DecodeError("unknown entry kind"))),
        }
    }
    if pending.is_some() {
        // Only damage cut from the file's last frame can leave this (a
        // snapshot is written whole by a compaction); the copy can be
        // fetched again, so start without it rather than not at all.
        warnings.push(format!(
            "journal {}: the snapshot of secondary zone {} is incomplete (its last frames \
             were damaged); starting without a copy until the next transfer from the primary",
            path.display(),
            spec.name
        ));
        state = SecondaryState::default();
        history.clear();
    }
    let zone = match &state.copy {
        Some(z) => (**z).clone(),
        None => empty(&spec.name),
    };
    Ok((state, history, zone))
}

fn rejected(zone: &Name, message: impl Into<String>) -> StoreError {
    StoreError::Transfer {
        zone: zone.clone(),
        message: message.into(),
    }
}

/// The journal frames that replace a secondary's journal with its copy.
fn snapshot_frames(copy: &Zone, refreshed_at: u64) -> Vec<Vec<u8>> {
    let records: Vec<Record> = copy.records().collect();
    codec::encode_snapshot(&records, refreshed_at, SNAPSHOT_PART_BYTES)
}

/// What a transfer needs of a zone's state, taken under the store-wide
/// lock and used after it was released.
struct Handle {
    copy: Arc<Mutex<SecondaryState>>,
    journal: tandem_journal::Journal,
    policy: Arc<tandem_dns::ZonePolicy>,
    max_size: u64,
}

impl ZoneStore {
    fn handle(&self, zone: &Name) -> Option<Handle> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let state = inner.zones.get(zone)?;
        Some(Handle {
            copy: state.secondary.clone()?,
            journal: state.journal.clone(),
            policy: state.spec.policy.clone(),
            max_size: state.spec.journal_max_size,
        })
    }

    /// Publishes `zone`'s new version; `history` changes the zone's
    /// history under the same lock. Returns the serial published before.
    fn publish(
        &self,
        origin: &Name,
        zone: Arc<Zone>,
        policy: Arc<tandem_dns::ZonePolicy>,
        history: impl FnOnce(&mut Vec<Diff>),
    ) -> Option<u32> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(state) = inner.zones.get_mut(origin) {
            history(&mut state.history);
        }
        let mut catalog = (*self.catalog.load_full()).clone();
        let before = catalog
            .get(origin)
            .and_then(|e| e.zone.soa().map(|s| s.serial));
        catalog.insert(ZoneEntry { zone, policy });
        self.catalog.store(Arc::new(catalog));
        before
    }

    /// True if `zone` is configured here as a secondary zone.
    pub fn is_secondary(&self, zone: &Name) -> bool {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.zones.get(zone).is_some_and(ZoneState::is_secondary)
    }

    /// A secondary zone's copy, for the refresh schedule: its serial, its
    /// SOA record and when the primary was last reached (seconds since
    /// the epoch). `None` for a zone with no copy yet, or no secondary.
    /// An expired zone still has its copy.
    pub fn secondary_copy(&self, zone: &Name) -> Option<(u32, Record, u64)> {
        let h = self.handle(zone)?;
        let sec = h.copy.lock().unwrap_or_else(|p| p.into_inner());
        let copy = sec.copy.as_ref()?;
        Some((copy.serial(), copy.soa_record()?, sec.refreshed_at))
    }

    /// The transferred copy of a secondary zone as the primary sent it,
    /// without the outbox's updates on top: what is transferred onward to
    /// chained secondaries, so they only ever hold the primary's versions.
    /// `None` without a copy, when expired, or when nothing is on top.
    pub fn secondary_plain_copy(&self, zone: &Name) -> Option<Arc<Zone>> {
        let h = self.handle(zone)?;
        let sec = h.copy.lock().unwrap_or_else(|p| p.into_inner());
        if sec.expired || sec.local.is_empty() {
            return None;
        }
        sec.copy.clone()
    }

    /// Stops serving a secondary zone's data (its expire time passed
    /// without contact with the primary): the catalog gets an empty zone
    /// without SOA, which the query path answers SERVFAIL for. The copy
    /// stays in memory and on disk; the next successful
    /// [`ZoneStore::apply_transfer`] publishes data again. Does nothing for
    /// a zone that is not a secondary.
    pub fn expire(&self, zone: &Name) {
        let Some(h) = self.handle(zone) else {
            return;
        };
        let mut sec = h.copy.lock().unwrap_or_else(|p| p.into_inner());
        sec.expired = true;
        self.publish(zone, Arc::new(empty(zone)), h.policy, |_| {});
        tracing::warn!("zone {zone}/IN: expired; answering SERVFAIL until the primary is reached");
    }

    /// Sets the updates served on top of a secondary zone's copy (the
    /// outbox's, oldest first) and publishes the result. An expired zone or
    /// one without a copy stays as it is (SERVFAIL).
    pub fn set_local_updates(&self, zone: &Name, local: Vec<tandem_dns_wire::Message>) {
        let Some(h) = self.handle(zone) else {
            return;
        };
        let mut sec = h.copy.lock().unwrap_or_else(|p| p.into_inner());
        sec.local = local;
        if sec.expired {
            return;
        }
        if let Some(copy) = &sec.copy {
            let shown = view(copy, &sec.local);
            self.publish(zone, shown, h.policy, |_| {});
        }
    }

    /// Applies what a zone transfer from the primary brought to a
    /// secondary zone, durably, then publishes it; returns the serial now
    /// served. Blocks until the journal has synced (not holding up other
    /// zones' updates meanwhile); transfers of one zone run one at a time.
    ///
    /// - `Full`: the records must form a zone (the SOA at the apex, NS
    ///   there, no CNAME beside other data); the journal is rewritten as a
    ///   snapshot of it.
    /// - `Incremental`: the first diff must start at the copy's serial and
    ///   every diff must apply cleanly (a removed record that is not there
    ///   is an error: fall back to a full transfer); the diffs are appended
    ///   and become the zone's history (for IXFR to a chained secondary).
    /// - `UpToDate`: records the contact.
    ///
    /// Each also records `now` as the last contact and ends an expiry. A
    /// rejected transfer, or one whose journal write failed, changes
    /// nothing that is served. The change hook runs when the serial served
    /// changed.
    pub fn apply_transfer(
        &self,
        zone: &Name,
        transfer: Transfer,
        now: u64,
    ) -> Result<u32, StoreError> {
        let h = self
            .handle(zone)
            .ok_or_else(|| StoreError::NotSecondary(zone.clone()))?;
        let mut sec = h.copy.lock().unwrap_or_else(|p| p.into_inner());
        let journal = &h.journal;
        // How the history changes once the new version is durable.
        let mut new_history: Option<Vec<Diff>> = None; // Some = replace
        let mut appended: Vec<Diff> = Vec::new();
        let mut compacted = false;
        let copy = match transfer {
            Transfer::Full { records } => {
                let (mut z, warnings) = Zone::from_records(zone.clone(), Class::IN, records)
                    .map_err(|e| {
                        rejected(zone, format!("the full transfer is not a valid zone: {e}"))
                    })?;
                for w in warnings {
                    tracing::warn!("zone {zone}/IN: transfer: {w}");
                }
                z.compact();
                journal.compact(KIND_SNAPSHOT, snapshot_frames(&z, now))?;
                compacted = true;
                new_history = Some(Vec::new());
                Arc::new(z)
            }
            Transfer::Incremental { diffs } => {
                let Some(copy) = &sec.copy else {
                    return Err(rejected(
                        zone,
                        "an incremental transfer, but there is no copy to apply it to",
                    ));
                };
                if diffs.is_empty() {
                    return Err(rejected(zone, "an incremental transfer without changes"));
                }
                let (z, stripped) = apply_diffs(copy, &diffs).map_err(|m| rejected(zone, m))?;
                let (tx, rx) = mpsc::channel();
                let mut pending = 0;
                let entries = diffs
                    .iter()
                    .map(|d| (KIND_DIFF, codec::encode_diff(d)))
                    .chain(std::iter::once((
                        KIND_REFRESHED,
                        codec::encode_refreshed(now),
                    )));
                for (kind, payload) in entries {
                    let tx = tx.clone();
                    pending += 1;
                    journal.submit(
                        kind,
                        payload,
                        Box::new(move |r| {
                            let _ = tx.send(r.map(drop));
                        }),
                    );
                }
                drop(tx);
                for _ in 0..pending {
                    match rx.recv() {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => return Err(e.into()),
                        Err(_) => {
                            return Err(rejected(zone, "the journal writer stopped"));
                        }
                    }
                }
                appended = stripped;
                Arc::new(z)
            }
            Transfer::UpToDate { serial } => {
                let Some(copy) = &sec.copy else {
                    return Err(rejected(
                        zone,
                        "the primary says up to date, but there is no copy yet",
                    ));
                };
                if copy.serial() != serial {
                    tracing::warn!(
                        "zone {zone}/IN: the primary's serial {serial} is not newer than the copy's {}; keeping the copy",
                        copy.serial()
                    );
                }
                let copy = copy.clone();
                journal.append_blocking(KIND_REFRESHED, codec::encode_refreshed(now))?;
                copy
            }
        };
        // Durable: keep, publish, tell.
        sec.copy = Some(copy.clone());
        sec.refreshed_at = now;
        sec.expired = false;
        let serial = copy.serial();
        let shown = view(&copy, &sec.local);
        let published = self.publish(zone, shown, h.policy.clone(), |history| {
            if let Some(h) = new_history {
                *history = h;
            }
            history.append(&mut appended);
        });

        // Keep the journal bounded, as a primary's is.
        let before = journal.len();
        if compacted {
            sec.base_len = before;
        } else if before > h.max_size && before > sec.base_len.saturating_mul(2) {
            match journal.compact(KIND_SNAPSHOT, snapshot_frames(&copy, now)) {
                Ok(r) => {
                    tracing::info!(
                        "zone {zone}/IN: journal compacted from {before} to {} bytes",
                        r.bytes_after
                    );
                    sec.base_len = journal.len();
                    // The diffs are gone from disk: IXFR from before now
                    // gets the whole zone.
                    let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(state) = inner.zones.get_mut(zone) {
                        state.history.clear();
                    }
                }
                Err(e) => tracing::error!("zone {zone}/IN: journal compaction failed: {e}"),
            }
        }
        drop(sec);
        if published != Some(serial) {
            self.changed(zone, serial);
        }
        Ok(serial)
    }
}
