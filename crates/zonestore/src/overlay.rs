//! The dynamic layer of a zone: what updates changed relative to the zone
//! file, kept apart from the file so the file is never rewritten.
//!
//! The zone served is `file − deleted + added`, with the serial carried
//! here. When the user edits the file and reloads, the overlay is applied
//! to the new file text:
//! - a dynamic record that the file now also holds is no longer dynamic;
//! - a deletion of a file record the file no longer has is forgotten;
//! - a dynamic record that conflicts with the file (a CNAME beside other
//!   data, or other data beside a file CNAME) loses: the file wins, the
//!   dynamic record is dropped and the drop is logged;
//! - the serial becomes the file's serial if that is newer than the one
//!   served, else the served serial plus one, so secondaries see a change.

use std::collections::{BTreeMap, BTreeSet};

use tandem_dns_wire::rdata::canonical;
use tandem_dns_wire::{Name, Record, Rtype};
use tandem_zone::{serial, Diff, Zone};

/// A record's identity for set membership: owner (lower case), type,
/// canonical rdata. TTL is not part of identity (RFC 2181 §5.2).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key(Name, u16, Vec<u8>);

fn key(r: &Record) -> Key {
    Key(
        r.owner.to_lowercase(),
        r.rtype.to_int(),
        canonical(r.rtype, &r.rdata),
    )
}

/// The net effect of every update since the zone file was first loaded.
/// Both sets are maps by record identity, so folding in an update costs
/// O(log n) per record however many dynamic records there are.
#[derive(Clone, Debug, Default)]
pub struct Overlay {
    /// Records added by updates that the file does not hold.
    added: BTreeMap<Key, Record>,
    /// File records removed by updates.
    deleted: BTreeMap<Key, Record>,
    /// The serial last served, if any update or reload set one.
    pub serial: Option<u32>,
}

/// What merging an overlay into a freshly read file dropped.
#[derive(Debug, Default)]
pub struct MergeReport {
    /// Dynamic records the file now contradicts.
    pub dropped: Vec<(Record, String)>,
}

impl Overlay {
    pub fn new() -> Overlay {
        Overlay::default()
    }

    /// Records added by updates, in canonical order.
    pub fn added(&self) -> Vec<Record> {
        self.added.values().cloned().collect()
    }

    /// File records deleted by updates, in canonical order.
    pub fn deleted(&self) -> Vec<Record> {
        self.deleted.values().cloned().collect()
    }

    pub fn from_parts(added: Vec<Record>, deleted: Vec<Record>, serial: Option<u32>) -> Overlay {
        Overlay {
            added: added.into_iter().map(|r| (key(&r), r)).collect(),
            deleted: deleted.into_iter().map(|r| (key(&r), r)).collect(),
            serial,
        }
    }

    /// True if updates changed nothing relative to the file.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.deleted.is_empty()
    }

    /// Folds one committed update into the overlay.
    pub fn record(&mut self, diff: &Diff) {
        for r in &diff.removed {
            let k = key(r);
            if self.added.remove(&k).is_none() {
                self.deleted.entry(k).or_insert_with(|| r.clone());
            }
        }
        for r in &diff.added {
            let k = key(r);
            if self.deleted.remove(&k).is_none() {
                self.added.insert(k, r.clone());
            }
        }
        self.serial = Some(diff.to_serial);
    }

    /// Builds the zone to serve from the file's zone, and prunes entries the
    /// file made moot. `served` is the version served before this merge.
    pub fn merge(&mut self, file: &Zone, served: Option<&Zone>) -> (Zone, MergeReport) {
        let mut zone = file.clone();
        let mut report = MergeReport::default();
        self.deleted.retain(|_, d| zone.remove(d).is_some());
        let mut kept = BTreeMap::new();
        for (k, r) in std::mem::take(&mut self.added) {
            let in_file = zone.rrset(&r.owner, r.rtype).is_some_and(|set| {
                set.rdatas
                    .iter()
                    .any(|d| canonical(r.rtype, d) == canonical(r.rtype, &r.rdata))
            });
            if in_file {
                // The file now holds it: no longer dynamic.
                continue;
            }
            if let Some(reason) = conflict(&zone, &r) {
                report.dropped.push((r, reason));
                continue;
            }
            zone.insert_keep_ttl(r.clone());
            kept.insert(k, r);
        }
        self.added = kept;
        let file_serial = file.serial();
        let target = match served {
            None => match self.serial {
                Some(s) if !serial::is_newer(file_serial, s) => s,
                _ => file_serial,
            },
            Some(old) => {
                let s = old.serial();
                if serial::is_newer(file_serial, s) {
                    file_serial
                } else {
                    let mut probe = zone.clone();
                    probe.set_serial(s);
                    if zone_diff(old, &probe).is_empty() && same_soa(old, &probe) {
                        s
                    } else {
                        // Content changed without a newer file serial: bump,
                        // so secondaries and caches see the change.
                        serial::increment(s)
                    }
                }
            }
        };
        zone.set_serial(target);
        self.serial = Some(target);
        (zone, report)
    }
}

fn same_soa(a: &Zone, b: &Zone) -> bool {
    match (a.soa_record(), b.soa_record()) {
        (Some(x), Some(y)) => x.ttl == y.ttl && x.rdata == y.rdata,
        _ => false,
    }
}

/// Why a dynamic record cannot stand beside the file's records, if it can't.
fn conflict(zone: &Zone, r: &Record) -> Option<String> {
    let node = zone.node(&r.owner).unwrap_or(&[]);
    if r.rtype == Rtype::CNAME {
        if node
            .iter()
            .any(|s| !tandem_zone::zone::may_coexist_with_cname(s.rtype))
        {
            return Some(format!(
                "{} CNAME conflicts with other data in the zone file",
                r.owner
            ));
        }
    } else if !tandem_zone::zone::may_coexist_with_cname(r.rtype)
        && node.iter().any(|s| s.rtype == Rtype::CNAME)
    {
        return Some(format!(
            "{} {} conflicts with a CNAME in the zone file",
            r.owner, r.rtype
        ));
    }
    if r.rtype == Rtype::SOA {
        return Some("SOA comes from the zone file".into());
    }
    None
}

/// Set difference helper used by tests and by diffs between versions.
pub fn zone_diff(old: &Zone, new: &Zone) -> Diff {
    let a: BTreeSet<(Key, u32)> = old
        .records()
        .filter(|r| r.rtype != Rtype::SOA)
        .map(|r| (key(&r), r.ttl))
        .collect();
    let b: BTreeSet<(Key, u32)> = new
        .records()
        .filter(|r| r.rtype != Rtype::SOA)
        .map(|r| (key(&r), r.ttl))
        .collect();
    let removed = old
        .records()
        .filter(|r| r.rtype != Rtype::SOA && !b.contains(&(key(r), r.ttl)))
        .collect();
    let added = new
        .records()
        .filter(|r| r.rtype != Rtype::SOA && !a.contains(&(key(r), r.ttl)))
        .collect();
    Diff {
        from_serial: old.serial(),
        to_serial: new.serial(),
        removed,
        added,
    }
}
