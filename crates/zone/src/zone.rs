//! The zone data model: RRsets grouped by owner name, in canonical order.

use std::sync::Arc;

use imbl::OrdMap;
use std::ops::Bound;

use bytes::Bytes;
use smallvec::{smallvec, SmallVec};
use tandem_dns_wire::rdata::Soa;
use tandem_dns_wire::record::rdata_eq;
use tandem_dns_wire::{Class, Name, Record, Rtype};

/// The records of one RRset. Most sets hold one record, kept inline.
pub type Rdatas = SmallVec<[Bytes; 1]>;

/// A set of records with the same owner, class and type (RFC 2181 §5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RRset {
    pub rtype: Rtype,
    pub ttl: u32,
    pub rdatas: Rdatas,
}

impl RRset {
    /// The records of this set under `owner`.
    pub fn records<'a>(
        &'a self,
        owner: &'a Name,
        class: Class,
    ) -> impl Iterator<Item = Record> + 'a {
        self.rdatas
            .iter()
            .map(move |d| Record::new(owner.clone(), self.rtype, class, self.ttl, d.clone()))
    }

    fn contains(&self, rdata: &[u8]) -> bool {
        self.rdatas.iter().any(|d| rdata_eq(self.rtype, d, rdata))
    }
}

/// Why records cannot form a zone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZoneError {
    #[error("{owner} is outside zone {origin}")]
    OutOfZone { owner: Name, origin: Name },
    #[error("zone {0} has no SOA record at its apex")]
    NoSoa(Name),
    #[error("zone {0} has more than one SOA record")]
    MultipleSoa(Name),
    #[error("SOA record {0} is not at the zone apex")]
    SoaNotAtApex(Name),
    #[error("zone {0} has no NS records at its apex")]
    NoNs(Name),
    #[error("{0} has a CNAME and other data")]
    CnameAndOtherData(Name),
    #[error("{0} has more than one CNAME record")]
    MultipleCname(Name),
    #[error("record class {found} differs from the zone's class {expected}")]
    WrongClass { found: Class, expected: Class },
    #[error("malformed {rtype} record at {owner}")]
    BadRdata { owner: Name, rtype: Rtype },
}

/// Types that may share a name with a CNAME (RFC 4034 §3, RFC 2181 §10.1).
pub fn may_coexist_with_cname(rtype: Rtype) -> bool {
    matches!(
        rtype,
        Rtype::CNAME | Rtype::RRSIG | Rtype::NSEC | Rtype::KEY
    )
}

/// One authoritative zone: its origin and every record at or below it.
///
/// `Zone` is a plain value. The server shares immutable snapshots of it
/// (`Arc<Zone>`) with readers and builds the next version from a clone.
#[derive(Clone, Debug)]
pub struct Zone {
    origin: Name,
    class: Class,
    /// A persistent map: cloning a zone (each update makes a new version)
    /// shares every untouched node instead of copying the whole tree. The
    /// RRsets of a node sit behind an `Arc`, so the tree nodes an update
    /// copies hold pointers, not record data (copy-on-write per node).
    nodes: OrdMap<Name, Node>,
}

impl Zone {
    /// An empty zone (no SOA yet).
    pub fn new(origin: Name, class: Class) -> Zone {
        Zone {
            origin,
            class,
            nodes: OrdMap::new(),
        }
    }

    /// Builds a zone from records and checks the RFC 1035 rules a loaded
    /// zone must meet: one SOA at the apex, NS at the apex, no CNAME beside
    /// other data. Records whose TTL differs from their RRset's keep the
    /// first TTL seen, as BIND does; those owners are returned as warnings.
    pub fn from_records(
        origin: Name,
        class: Class,
        records: impl IntoIterator<Item = Record>,
    ) -> Result<(Zone, Vec<String>), ZoneError> {
        let mut zone = Zone::new(origin, class);
        let mut warnings = Vec::new();
        for r in records {
            if r.class != class {
                return Err(ZoneError::WrongClass {
                    found: r.class,
                    expected: class,
                });
            }
            if !r.owner.is_subdomain_of(&zone.origin) {
                return Err(ZoneError::OutOfZone {
                    owner: r.owner,
                    origin: zone.origin.clone(),
                });
            }
            if r.rtype == Rtype::SOA {
                if r.owner != zone.origin {
                    return Err(ZoneError::SoaNotAtApex(r.owner));
                }
                if zone.rrset(&zone.origin, Rtype::SOA).is_some() {
                    return Err(ZoneError::MultipleSoa(zone.origin.clone()));
                }
                if Soa::parse(&r.rdata).is_err() {
                    return Err(ZoneError::BadRdata {
                        owner: r.owner,
                        rtype: r.rtype,
                    });
                }
            }
            if let Some(set) = zone.rrset(&r.owner, r.rtype) {
                if set.ttl != r.ttl {
                    warnings.push(format!(
                        "{} {}: TTL {} differs from the RRset's TTL {}; using {}",
                        r.owner, r.rtype, r.ttl, set.ttl, set.ttl
                    ));
                }
            }
            zone.insert_keep_ttl(r);
        }
        zone.check()?;
        Ok((zone, warnings))
    }

    /// Checks the structural rules (SOA, apex NS, CNAME exclusivity).
    pub fn check(&self) -> Result<(), ZoneError> {
        if self.rrset(&self.origin, Rtype::SOA).is_none() {
            return Err(ZoneError::NoSoa(self.origin.clone()));
        }
        if self.rrset(&self.origin, Rtype::NS).is_none() {
            return Err(ZoneError::NoNs(self.origin.clone()));
        }
        for (name, sets) in &self.nodes {
            if let Some(cname) = sets.iter().find(|s| s.rtype == Rtype::CNAME) {
                if cname.rdatas.len() > 1 {
                    return Err(ZoneError::MultipleCname(name.clone()));
                }
                if sets.iter().any(|s| !may_coexist_with_cname(s.rtype)) {
                    return Err(ZoneError::CnameAndOtherData(name.clone()));
                }
            }
        }
        Ok(())
    }

    pub fn origin(&self) -> &Name {
        &self.origin
    }

    pub fn class(&self) -> Class {
        self.class
    }

    /// The apex SOA, parsed.
    pub fn soa(&self) -> Option<Soa> {
        let set = self.rrset(&self.origin, Rtype::SOA)?;
        Soa::parse(set.rdatas.first()?).ok()
    }

    /// The apex SOA as a record.
    pub fn soa_record(&self) -> Option<Record> {
        let set = self.rrset(&self.origin, Rtype::SOA)?;
        set.records(&self.origin, self.class).next()
    }

    /// The current serial (0 for a zone without SOA).
    pub fn serial(&self) -> u32 {
        self.soa().map_or(0, |s| s.serial)
    }

    /// Replaces the SOA's serial (the rest of the SOA is kept).
    pub fn set_serial(&mut self, serial: u32) {
        if let Some(mut soa) = self.soa() {
            soa.serial = serial;
            if let Some(set) = self.rrset_mut(&self.origin.clone(), Rtype::SOA) {
                set.rdatas = smallvec![soa.to_rdata()];
            }
        }
    }

    /// Number of owner names holding records.
    pub fn name_count(&self) -> usize {
        self.nodes.len()
    }

    /// Number of records.
    pub fn record_count(&self) -> usize {
        self.nodes
            .values()
            .flat_map(|n| n.iter())
            .map(|s| s.rdatas.len())
            .sum()
    }

    /// All RRsets at `name`, if the name owns any.
    pub fn node(&self, name: &Name) -> Option<&[RRset]> {
        self.nodes.get(name).map(|n| &n[..])
    }

    /// The RRsets at `name` with the owner name as the zone spells it
    /// (answers preserve the zone's case, as BIND's do).
    pub fn node_entry(&self, name: &Name) -> Option<(&Name, &[RRset])> {
        self.nodes.get_key_value(name).map(|(k, v)| (k, &v[..]))
    }

    /// The RRset of `rtype` at `name`.
    pub fn rrset(&self, name: &Name, rtype: Rtype) -> Option<&RRset> {
        self.nodes.get(name)?.iter().find(|s| s.rtype == rtype)
    }

    fn rrset_mut(&mut self, name: &Name, rtype: Rtype) -> Option<&mut RRset> {
        let node = self.nodes.get_mut(name)?;
        if !node.iter().any(|s| s.rtype == rtype) {
            return None;
        }
        Arc::make_mut(node).iter_mut().find(|s| s.rtype == rtype)
    }

    /// True if `name` owns records or is an empty non-terminal (a name with
    /// no records but with descendants that have some, RFC 8020).
    pub fn name_exists(&self, name: &Name) -> bool {
        if self.nodes.contains_key(name) {
            return true;
        }
        // In canonical order every descendant of `name` sorts right after it.
        self.nodes
            .range((Bound::Excluded(name.clone()), Bound::Unbounded))
            .next()
            .is_some_and(|(next, _)| next.is_subdomain_of(name))
    }

    /// Every record, owners in canonical order, the SOA first (the order
    /// AXFR sends them in).
    pub fn records(&self) -> impl Iterator<Item = Record> + '_ {
        let soa = self.soa_record();
        let rest = self.nodes.iter().flat_map(move |(name, sets)| {
            sets.iter()
                .filter(move |s| !(s.rtype == Rtype::SOA && name == &self.origin))
                .flat_map(move |s| s.records(name, self.class))
        });
        soa.into_iter().chain(rest)
    }

    /// Adds a record. An equal record already present is not duplicated
    /// (its TTL is still updated). The RRset's TTL becomes the record's, as
    /// an UPDATE that adds a record with a new TTL asks (RFC 2136 §3.4.2.2).
    /// Returns true if the record was not there before.
    pub fn insert(&mut self, r: Record) -> bool {
        self.insert_inner(r, true)
    }

    /// Adds a record but keeps an existing RRset's TTL (zone-file loading).
    pub fn insert_keep_ttl(&mut self, r: Record) -> bool {
        self.insert_inner(r, false)
    }

    fn insert_inner(&mut self, r: Record, set_ttl: bool) -> bool {
        let Some(node) = self.nodes.get_mut(&r.owner) else {
            let set = RRset {
                rtype: r.rtype,
                ttl: r.ttl,
                rdatas: smallvec![r.rdata],
            };
            self.nodes.insert(r.owner, Arc::from([set]));
            return true;
        };
        match node.iter().position(|s| s.rtype == r.rtype) {
            Some(i) => {
                if node[i].contains(&r.rdata) && (!set_ttl || node[i].ttl == r.ttl) {
                    return false;
                }
                let set = &mut Arc::make_mut(node)[i];
                if set_ttl {
                    set.ttl = r.ttl;
                }
                if set.contains(&r.rdata) {
                    false
                } else {
                    set.rdatas.push(r.rdata);
                    true
                }
            }
            None => {
                let pos = node.partition_point(|s| s.rtype.to_int() < r.rtype.to_int());
                let mut sets = Vec::with_capacity(node.len() + 1);
                sets.extend_from_slice(&node[..pos]);
                sets.push(RRset {
                    rtype: r.rtype,
                    ttl: r.ttl,
                    rdatas: smallvec![r.rdata],
                });
                sets.extend_from_slice(&node[pos..]);
                *node = Arc::from(sets);
                true
            }
        }
    }

    /// Removes one record (compared by value). Returns the removed record
    /// with its stored TTL and data, or `None` if it was not present.
    pub fn remove(&mut self, r: &Record) -> Option<Record> {
        let owner = self_owner(&self.nodes, &r.owner);
        let class = self.class;
        // Looked up read-only first: `get_mut` copies the tree's path even
        // when there is nothing to remove.
        let node = self.nodes.get(&r.owner)?;
        let si = node.iter().position(|s| s.rtype == r.rtype)?;
        let di = node[si]
            .rdatas
            .iter()
            .position(|d| rdata_eq(r.rtype, d, &r.rdata))?;
        if node[si].rdatas.len() > 1 {
            let set = &mut Arc::make_mut(self.nodes.get_mut(&r.owner)?)[si];
            let data = set.rdatas.remove(di);
            return Some(Record::new(owner, r.rtype, class, set.ttl, data));
        }
        // The set's last record: the set goes.
        let set = self.take_set(&r.owner, si)?;
        let data = set.rdatas.into_iter().next()?;
        Some(Record::new(owner, r.rtype, class, set.ttl, data))
    }

    /// Removes a whole RRset; returns its records.
    pub fn remove_rrset(&mut self, name: &Name, rtype: Rtype) -> Vec<Record> {
        let owner = self_owner(&self.nodes, name);
        let Some(si) = self
            .nodes
            .get(name)
            .and_then(|node| node.iter().position(|s| s.rtype == rtype))
        else {
            return Vec::new();
        };
        match self.take_set(name, si) {
            Some(set) => set.records(&owner, self.class).collect(),
            None => Vec::new(),
        }
    }

    /// Takes RRset `si` out of `name`'s node (a new node without it); the
    /// name goes with its last RRset.
    fn take_set(&mut self, name: &Name, si: usize) -> Option<RRset> {
        let node = self.nodes.get_mut(name)?;
        let mut sets = node.to_vec();
        let set = sets.remove(si);
        if sets.is_empty() {
            self.nodes.remove(name);
        } else {
            *node = Arc::from(sets);
        }
        Some(set)
    }

    /// Removes every RRset at `name` whose type satisfies `pred`; returns
    /// the removed records.
    pub fn remove_where(
        &mut self,
        name: &Name,
        mut pred: impl FnMut(Rtype) -> bool,
    ) -> Vec<Record> {
        let types: Vec<Rtype> = self
            .node(name)
            .map(|s| s.iter().map(|s| s.rtype).filter(|t| pred(*t)).collect())
            .unwrap_or_default();
        types
            .into_iter()
            .flat_map(|t| self.remove_rrset(name, t))
            .collect()
    }

    /// Moves every owner name and record's data into one shared buffer.
    ///
    /// Loaded record by record, each name and each record's data is its own
    /// allocation, and the first answer that copies one out adds a
    /// reference-count header to it; for a zone of small records that is
    /// most of its memory. Afterwards they are slices of one buffer with
    /// one header, and answering allocates nothing for them. Records added
    /// later keep their own allocations; the buffer lives while any slice
    /// of it does (at most the size of the zone as it was compacted).
    pub fn compact(&mut self) {
        let total: usize = self
            .nodes
            .iter()
            .map(|(name, sets)| {
                name.wire_len()
                    + sets
                        .iter()
                        .flat_map(|s| s.rdatas.iter())
                        .map(|d| d.len())
                        .sum::<usize>()
            })
            .sum();
        let mut buf = Vec::with_capacity(total);
        for (name, sets) in &self.nodes {
            buf.extend_from_slice(name.as_wire());
            for d in sets.iter().flat_map(|s| s.rdatas.iter()) {
                buf.extend_from_slice(d);
            }
        }
        let arena = Bytes::from(buf);
        let mut at = 0;
        let mut take = |len: usize| {
            let b = arena.slice(at..at + len);
            at += len;
            b
        };
        let mut nodes = OrdMap::new();
        for (name, sets) in &self.nodes {
            let Ok(owner) = Name::from_wire(take(name.wire_len())) else {
                // Cannot happen (the bytes were a name); keep the old one.
                nodes.insert(name.clone(), sets.clone());
                continue;
            };
            let sets: Vec<RRset> = sets
                .iter()
                .map(|s| RRset {
                    rtype: s.rtype,
                    ttl: s.ttl,
                    rdatas: s.rdatas.iter().map(|d| take(d.len())).collect(),
                })
                .collect();
            nodes.insert(owner, Arc::from(sets));
        }
        self.nodes = nodes;
    }

    /// Applies a diff: removes, then adds, then sets the new serial.
    pub fn apply(&mut self, diff: &crate::Diff) {
        for r in &diff.removed {
            self.remove(r);
        }
        for r in &diff.added {
            self.insert(r.clone());
        }
        self.set_serial(diff.to_serial);
    }
}

/// The RRsets of one owner name, ordered by type: one allocation, shared
/// between zone versions until an update changes this name.
type Node = Arc<[RRset]>;

/// The stored spelling of an owner name (case as first written).
fn self_owner(nodes: &OrdMap<Name, Node>, name: &Name) -> Name {
    nodes
        .get_key_value(name)
        .map_or_else(|| name.clone(), |(k, _)| k.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        s.parse().unwrap()
    }

    fn soa() -> Record {
        let s = Soa {
            mname: n("ns1.home."),
            rname: n("hostmaster.home."),
            serial: 1,
            refresh: 3600,
            retry: 600,
            expire: 86400,
            minimum: 300,
        };
        Record::new(n("home."), Rtype::SOA, Class::IN, 3600, s.to_rdata())
    }

    fn a(owner: &str, last: u8) -> Record {
        Record::new(n(owner), Rtype::A, Class::IN, 300, vec![192, 168, 0, last])
    }

    fn base() -> Vec<Record> {
        vec![
            soa(),
            Record::new(
                n("home."),
                Rtype::NS,
                Class::IN,
                3600,
                n("ns1.home.").to_bytes(),
            ),
            a("ns1.home.", 254),
        ]
    }

    #[test]
    fn builds_and_checks() {
        let (zone, warnings) = Zone::from_records(n("home."), Class::IN, base()).unwrap();
        assert!(warnings.is_empty());
        assert_eq!(zone.serial(), 1);
        assert_eq!(zone.record_count(), 3);
        assert_eq!(zone.records().next().unwrap().rtype, Rtype::SOA);
    }

    #[test]
    fn structural_errors() {
        let mut recs = base();
        recs.push(a("other.", 1));
        assert!(matches!(
            Zone::from_records(n("home."), Class::IN, recs),
            Err(ZoneError::OutOfZone { .. })
        ));
        let mut recs = base();
        recs.push(Record::new(
            n("ns1.home."),
            Rtype::CNAME,
            Class::IN,
            300,
            n("x.home.").to_bytes(),
        ));
        assert!(matches!(
            Zone::from_records(n("home."), Class::IN, recs),
            Err(ZoneError::CnameAndOtherData(_))
        ));
        assert!(matches!(
            Zone::from_records(n("home."), Class::IN, vec![soa()]),
            Err(ZoneError::NoNs(_))
        ));
    }

    #[test]
    fn empty_non_terminals_exist() {
        let mut recs = base();
        recs.push(a("a.b.c.home.", 1));
        let (zone, _) = Zone::from_records(n("home."), Class::IN, recs).unwrap();
        assert!(zone.name_exists(&n("b.c.home.")));
        assert!(zone.name_exists(&n("c.home.")));
        assert!(!zone.name_exists(&n("d.home.")));
        assert!(!zone.name_exists(&n("x.a.b.c.home.")));
    }

    #[test]
    fn insert_and_remove() {
        let (mut zone, _) = Zone::from_records(n("home."), Class::IN, base()).unwrap();
        assert!(zone.insert(a("Host.home.", 5)));
        assert!(!zone.insert(a("host.HOME.", 5)));
        assert_eq!(zone.record_count(), 4);
        let removed = zone.remove(&a("HOST.home.", 5)).unwrap();
        assert_eq!(removed.owner.to_string(), "Host.home.");
        assert!(zone.node(&n("host.home.")).is_none());
    }

    #[test]
    fn compacting_keeps_every_record_and_the_zone_stays_editable() {
        let mut recs = base();
        recs.push(a("Laptop.home.", 7));
        recs.push(a("laptop.home.", 8));
        recs.push(a("printer.home.", 9));
        let (mut zone, _) = Zone::from_records(n("home."), Class::IN, recs).unwrap();
        let before: Vec<Record> = zone.records().collect();
        let old = zone.clone();
        zone.compact();
        assert_eq!(zone.records().collect::<Vec<_>>(), before);
        assert_eq!(
            zone.node_entry(&n("LAPTOP.home.")).unwrap().0.to_string(),
            "Laptop.home."
        );
        // An older version sharing nothing with the compacted one is intact.
        assert_eq!(old.records().collect::<Vec<_>>(), before);
        assert!(zone.remove(&a("laptop.home.", 7)).is_some());
        assert!(zone.insert(a("printer.home.", 10)));
        assert_eq!(
            zone.rrset(&n("laptop.home."), Rtype::A)
                .unwrap()
                .rdatas
                .len(),
            1
        );
        assert_eq!(
            zone.rrset(&n("printer.home."), Rtype::A)
                .unwrap()
                .rdatas
                .len(),
            2
        );
        assert!(zone.remove(&a("laptop.home.", 8)).is_some());
        assert!(zone.node(&n("laptop.home.")).is_none());
        assert!(zone.check().is_ok());
    }
}
