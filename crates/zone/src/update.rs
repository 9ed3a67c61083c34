//! RFC 2136 dynamic update applied to a zone value.
//!
//! This module owns the *meaning* of an UPDATE message: the zone section
//! check (§3.1), the prerequisites (§2.4, §3.2), the prescan (§3.4.1), the
//! permission check (§3.3, through [`Authorize`]) and the update section
//! itself (§3.4.2), ending in the next version of the zone and the [`Diff`]
//! that leads to it. It is pure: no I/O and no clock. Transport, TSIG
//! verification, forwarding from secondaries, journaling and the swap of
//! the served zone belong to the caller, which passes the name of the key
//! that signed the request (if any).
//!
//! Processing order, each step finishing before the next begins, so nothing
//! is changed unless the whole request is accepted:
//!
//! 1. zone section (§3.1): ZOCOUNT must be 1 and ZTYPE SOA, else FORMERR;
//!    a zone name or class other than this zone's gives NOTAUTH;
//! 2. prerequisites (§3.2), in message order, then the value-dependent
//!    RRset comparisons;
//! 3. prescan of the update section (§3.4.1): NOTZONE / FORMERR;
//! 4. permission (§3.3): every update RR is put to the [`Authorize`]
//!    implementation; one refusal refuses the request (REFUSED). The
//!    prescan runs first so that the policy only ever sees well-formed
//!    requests (BIND interleaves the two per RR; the outcome differs only
//!    in which error a request with both faults gets);
//! 5. the updates (§3.4.2), in message order.
//!
//! Decisions worth knowing:
//! - **No-op updates** (every add already present with the same TTL, every
//!   delete of something absent, ignored SOA/CNAME adds…) return an
//!   [`UpdateOutcome`] with an empty diff, `from_serial == to_serial` and an
//!   unchanged zone: like BIND, the serial is not bumped when nothing
//!   changed. Check [`UpdateOutcome::changed`] before journaling.
//! - **Serial** (§3.6): after a change the serial becomes
//!   [`serial::increment`] of the old one, unless the update itself
//!   installed an SOA with a newer serial, which is then kept as is.
//! - **Empty non-terminals** do not satisfy "name is in use" (§2.4.4 says
//!   so explicitly) and do satisfy "name is not in use" (§2.4.5: no RR is
//!   owned by the name).
//! - **CNAME** (§3.4.2.2): a CNAME add to a name with other data, or an add
//!   of other data to a name with a CNAME, is silently ignored, as BIND
//!   does. The DNSSEC types that may live beside a CNAME
//!   ([`crate::zone::may_coexist_with_cname`]) are not "other data". A
//!   CNAME add to a name that has a CNAME replaces it.
//! - **TTL** (§3.4.2.2, RFC 2181 §5.2): an add whose data is already present
//!   replaces the RR, i.e. takes its TTL; and since all RRs of an RRset
//!   share one TTL, any add sets the TTL of its whole RRset.
//! - **SOA add** replaces the apex SOA only if its serial is newer (RFC 1982);
//!   otherwise, or at another name, it is ignored. SOA deletes are ignored.
//! - **Apex NS**: class ANY deletes of NS or SOA at the apex are ignored,
//!   "delete all RRsets" at the apex keeps SOA and NS, and a class NONE
//!   delete of the last apex NS is ignored. The RFC's pseudo code would also
//!   protect the last NS of a delegation; like BIND, only the apex is
//!   protected.
//! - **NOTZONE** is decided by name only (`name` at or below the origin);
//!   names below a delegation inside this zone count as in the zone, as in
//!   BIND.
//! - **Meta types**: data types 0, OPT and 128–255 (TKEY, TSIG, IXFR, AXFR,
//!   MAILB, MAILA, ANY) may not be added or deleted one by one, and are
//!   FORMERR in prerequisites except ANY where §2.4 gives it a meaning.
//! - The additional section is ignored, and the header opcode is not
//!   checked (the caller routed the message here because it is an UPDATE).
//! - The [`Diff`] holds the net change for every record except the SOA;
//!   an RRset whose TTL changed appears as removed with its old TTL and
//!   added with the new one. The new zone is built by applying the diff to
//!   a copy of the old one (then installing the SOA), so replaying the
//!   journal gives exactly the zone that was served.

mod policy;

use std::collections::BTreeSet;

use bytes::Bytes;
use tandem_dns_wire::rdata::{self, Soa};
use tandem_dns_wire::record::rdata_eq;
use tandem_dns_wire::{Class, Message, Name, Rcode, Record, Rtype};

use crate::zone::{may_coexist_with_cname, RRset};
use crate::{serial, Diff, Zone};

pub use policy::{AllowAll, Authorize, KeyList, MatchKind, PolicyRule, UpdatePolicy};

/// The result of an accepted update.
#[derive(Clone, Debug)]
pub struct UpdateOutcome {
    /// The new version of the zone (the old one, unchanged, for a no-op).
    pub zone: Zone,
    /// The change from the old version to `zone`, SOA excluded.
    pub diff: Diff,
}

impl UpdateOutcome {
    /// True if the update changed the zone (records or SOA), i.e. there is
    /// something to journal and serve.
    pub fn changed(&self) -> bool {
        !self.diff.is_empty() || self.diff.from_serial != self.diff.to_serial
    }
}

/// Why an update was rejected: the RCODE to answer with and a sentence for
/// the operator's log.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{rcode}: {reason}")]
pub struct UpdateError {
    pub rcode: Rcode,
    pub reason: String,
}

impl UpdateError {
    pub fn new(rcode: Rcode, reason: impl Into<String>) -> UpdateError {
        UpdateError {
            rcode,
            reason: reason.into(),
        }
    }
}

fn err<T>(rcode: Rcode, reason: impl Into<String>) -> Result<T, UpdateError> {
    Err(UpdateError::new(rcode, reason))
}

/// Applies the RFC 2136 UPDATE `msg` to `zone`, whose owner has already
/// been picked from the zone section. `key` is the name of the TSIG key
/// that signed the request (verified by the caller), `None` if unsigned.
///
/// On success returns the next version of the zone and the diff to it;
/// see the module documentation for no-op updates and serials.
pub fn apply_update(
    zone: &Zone,
    msg: &Message,
    auth: &dyn Authorize,
    key: Option<&Name>,
) -> Result<UpdateOutcome, UpdateError> {
    let plan = plan_update(zone, msg, auth, key)?;
    let mut next = zone.clone();
    plan.apply_to(&mut next);
    Ok(UpdateOutcome {
        zone: next,
        diff: plan.diff,
    })
}

/// An update checked and computed against one version of a zone, not yet
/// applied: applying it to that version (or an identical copy) gives the
/// new version. A writer that owns its working copy applies plans in
/// place, so a batch of updates copies each touched path of the zone's
/// tree once, not once per update.
#[derive(Debug, Clone)]
pub struct UpdatePlan {
    /// The change, SOA excluded, with the serials.
    pub diff: Diff,
    /// The new SOA when the update changed it (serial already set).
    soa: Option<Record>,
}

impl UpdatePlan {
    /// True if the update changes the zone (records or SOA).
    pub fn changed(&self) -> bool {
        !self.diff.is_empty() || self.diff.from_serial != self.diff.to_serial
    }

    /// Applies the plan to the zone version it was computed against.
    pub fn apply_to(&self, zone: &mut Zone) {
        if !self.changed() {
            return;
        }
        zone.apply(&self.diff);
        if let Some(soa) = &self.soa {
            let origin = zone.origin().clone();
            zone.remove_rrset(&origin, Rtype::SOA);
            zone.insert(soa.clone());
        }
        zone.set_serial(self.diff.to_serial);
    }
}

/// Checks an update (RFC 2136 §3.1–§3.3 and permission) against `zone`
/// and computes its effect without changing the zone.
pub fn plan_update(
    zone: &Zone,
    msg: &Message,
    auth: &dyn Authorize,
    key: Option<&Name>,
) -> Result<UpdatePlan, UpdateError> {
    check_zone_section(zone, msg)?;
    check_prerequisites(zone, &msg.answers)?;
    prescan(zone, &msg.authority)?;
    check_permission(zone, &msg.authority, auth, key)?;
    let mut work = Work::new(zone);
    for rr in &msg.authority {
        work.apply(rr);
    }
    Ok(work.finish())
}

/// Types that are not data and so can be neither stored nor compared:
/// 0, OPT and the QTYPE/meta range 128–255 (RFC 6895 §3.1).
fn is_meta(t: Rtype) -> bool {
    let v = t.to_int();
    v == 0 || t == Rtype::OPT || (128..=255).contains(&v)
}

/// §3.1: one zone RR, type SOA (else FORMERR), naming this zone in its
/// class (else NOTAUTH).
fn check_zone_section(zone: &Zone, msg: &Message) -> Result<(), UpdateError> {
    let q = match msg.questions.as_slice() {
        [q] => q,
        [] => return err(Rcode::FORMERR, "update has no zone section"),
        qs => {
            return err(
                Rcode::FORMERR,
                format!("update zone section has {} entries, not 1", qs.len()),
            )
        }
    };
    if q.qtype != Rtype::SOA {
        return err(
            Rcode::FORMERR,
            format!("update zone section has type {}, not SOA", q.qtype),
        );
    }
    if q.name != *zone.origin() || q.qclass != zone.class() {
        return err(
            Rcode::NOTAUTH,
            format!(
                "update names zone {}/{}, not {}/{}",
                q.name,
                q.qclass,
                zone.origin(),
                zone.class()
            ),
        );
    }
    if zone.soa().is_none() {
        return err(
            Rcode::SERVFAIL,
            format!("zone {} has no valid SOA", zone.origin()),
        );
    }
    Ok(())
}

/// §2.4.4: a name is in use if it owns at least one RR (an empty
/// non-terminal does not count).
fn in_use(zone: &Zone, name: &Name) -> bool {
    zone.node(name).is_some_and(|sets| !sets.is_empty())
}

/// Well-formedness of record data we are about to store or compare.
fn check_rdata(rr: &Record, what: &str) -> Result<(), UpdateError> {
    let ok = match rr.rtype {
        Rtype::A => rr.rdata.len() == 4,
        Rtype::AAAA => rr.rdata.len() == 16,
        Rtype::SOA => Soa::parse(&rr.rdata).is_ok(),
        t => rdata::validate(t, &rr.rdata).is_ok(),
    };
    if ok {
        Ok(())
    } else {
        err(
            Rcode::FORMERR,
            format!("{what} {} {} has malformed data", rr.owner, rr.rtype),
        )
    }
}

/// One value-dependent prerequisite RRset being collected (§3.2.3 `temp`).
struct Required {
    name: Name,
    rtype: Rtype,
    rdatas: Vec<Bytes>,
}

/// §3.2: the prerequisite section, in order; the value-dependent RRsets are
/// compared after every other prerequisite passed (§3.2.3).
fn check_prerequisites(zone: &Zone, prereqs: &[Record]) -> Result<(), UpdateError> {
    let origin = zone.origin();
    let mut temp: Vec<Required> = Vec::new();
    for rr in prereqs {
        // §3.2.1: TTL must be zero; names must lie in the zone.
        if rr.ttl != 0 {
            return err(
                Rcode::FORMERR,
                format!(
                    "prerequisite {} {} has TTL {}, not 0",
                    rr.owner, rr.rtype, rr.ttl
                ),
            );
        }
        if !rr.owner.is_subdomain_of(origin) {
            return err(
                Rcode::NOTZONE,
                format!("prerequisite name {} is outside zone {origin}", rr.owner),
            );
        }
        if rr.class == Class::ANY || rr.class == Class::NONE {
            let exists_form = rr.class == Class::ANY;
            if !rr.rdata.is_empty() {
                return err(
                    Rcode::FORMERR,
                    format!(
                        "class {} prerequisite {} {} has data",
                        rr.class, rr.owner, rr.rtype
                    ),
                );
            }
            if rr.rtype == Rtype::ANY {
                // §2.4.4 name is in use / §2.4.5 name is not in use.
                match (exists_form, in_use(zone, &rr.owner)) {
                    (true, false) => {
                        return err(
                            Rcode::NXDOMAIN,
                            format!("prerequisite failed: name {} is not in use", rr.owner),
                        )
                    }
                    (false, true) => {
                        return err(
                            Rcode::YXDOMAIN,
                            format!("prerequisite failed: name {} is in use", rr.owner),
                        )
                    }
                    _ => {}
                }
            } else if is_meta(rr.rtype) {
                return err(
                    Rcode::FORMERR,
                    format!("prerequisite {} names meta type {}", rr.owner, rr.rtype),
                );
            } else {
                // §2.4.1 RRset exists (value independent) / §2.4.3 RRset
                // does not exist.
                match (exists_form, zone.rrset(&rr.owner, rr.rtype).is_some()) {
                    (true, false) => {
                        return err(
                            Rcode::NXRRSET,
                            format!(
                                "prerequisite failed: name {} has no {} RRset",
                                rr.owner, rr.rtype
                            ),
                        )
                    }
                    (false, true) => {
                        return err(
                            Rcode::YXRRSET,
                            format!(
                                "prerequisite failed: name {} has a {} RRset",
                                rr.owner, rr.rtype
                            ),
                        )
                    }
                    _ => {}
                }
            }
        } else if rr.class == zone.class() {
            // §2.4.2 RRset exists (value dependent): collect, compare later.
            if is_meta(rr.rtype) {
                return err(
                    Rcode::FORMERR,
                    format!("prerequisite {} names meta type {}", rr.owner, rr.rtype),
                );
            }
            check_rdata(rr, "prerequisite")?;
            match temp
                .iter_mut()
                .find(|t| t.name == rr.owner && t.rtype == rr.rtype)
            {
                Some(t) => {
                    if !t.rdatas.iter().any(|d| rdata_eq(rr.rtype, d, &rr.rdata)) {
                        t.rdatas.push(rr.rdata.clone());
                    }
                }
                None => temp.push(Required {
                    name: rr.owner.clone(),
                    rtype: rr.rtype,
                    rdatas: vec![rr.rdata.clone()],
                }),
            }
        } else {
            return err(
                Rcode::FORMERR,
                format!(
                    "prerequisite {} {} has class {}",
                    rr.owner, rr.rtype, rr.class
                ),
            );
        }
    }
    for req in &temp {
        let matches = zone.rrset(&req.name, req.rtype).is_some_and(|set| {
            set.rdatas.len() == req.rdatas.len()
                && req
                    .rdatas
                    .iter()
                    .all(|d| set.rdatas.iter().any(|z| rdata_eq(req.rtype, z, d)))
        });
        if !matches {
            return err(
                Rcode::NXRRSET,
                format!(
                    "prerequisite failed: {} {} RRset is not the required one",
                    req.name, req.rtype
                ),
            );
        }
    }
    Ok(())
}

/// §3.4.1.3: every update RR is checked before any is applied.
fn prescan(zone: &Zone, updates: &[Record]) -> Result<(), UpdateError> {
    let origin = zone.origin();
    for rr in updates {
        if !rr.owner.is_subdomain_of(origin) {
            return err(
                Rcode::NOTZONE,
                format!("update name {} is outside zone {origin}", rr.owner),
            );
        }
        let bad = |why: &str| {
            err(
                Rcode::FORMERR,
                format!("update {} {} class {}: {why}", rr.owner, rr.rtype, rr.class),
            )
        };
        if rr.class == zone.class() {
            // Add to an RRset.
            if is_meta(rr.rtype) {
                return bad("meta type cannot be added");
            }
            check_rdata(rr, "update")?;
        } else if rr.class == Class::ANY {
            // Delete an RRset, or every RRset of a name.
            if rr.ttl != 0 {
                return bad("TTL must be 0");
            }
            if !rr.rdata.is_empty() {
                return bad("data must be empty");
            }
            if is_meta(rr.rtype) && rr.rtype != Rtype::ANY {
                return bad("meta type cannot be deleted");
            }
        } else if rr.class == Class::NONE {
            // Delete one RR.
            if rr.ttl != 0 {
                return bad("TTL must be 0");
            }
            if is_meta(rr.rtype) {
                return bad("meta type cannot be deleted");
            }
            check_rdata(rr, "update")?;
        } else {
            return bad("bad class");
        }
    }
    Ok(())
}

/// §3.3: every update RR must be allowed. A delete of every RRset at a name
/// is checked against each type that could be deleted: those at the name
/// now and those added there earlier in this message (SOA and NS excepted
/// at the apex, where they survive); with none, against type ANY.
fn check_permission(
    zone: &Zone,
    updates: &[Record],
    auth: &dyn Authorize,
    key: Option<&Name>,
) -> Result<(), UpdateError> {
    let refuse = |name: &Name, rtype: Rtype| {
        err(
            Rcode::REFUSED,
            format!(
                "update of {name} {rtype} not allowed for {}",
                key.map_or_else(|| "unsigned requests".to_string(), |k| format!("key {k}"))
            ),
        )
    };
    for (i, rr) in updates.iter().enumerate() {
        if rr.class == Class::ANY && rr.rtype == Rtype::ANY {
            let apex = rr.owner == *zone.origin();
            let mut types: Vec<Rtype> = zone
                .node(&rr.owner)
                .unwrap_or(&[])
                .iter()
                .map(|s| s.rtype)
                .collect();
            for earlier in &updates[..i] {
                if earlier.class == zone.class()
                    && earlier.owner == rr.owner
                    && !types.contains(&earlier.rtype)
                {
                    types.push(earlier.rtype);
                }
            }
            types.retain(|t| !(apex && (*t == Rtype::SOA || *t == Rtype::NS)));
            if types.is_empty() {
                types.push(Rtype::ANY);
            }
            for t in types {
                if !auth.allows(key, &rr.owner, t) {
                    return refuse(&rr.owner, t);
                }
            }
        } else if !auth.allows(key, &rr.owner, rr.rtype) {
            return refuse(&rr.owner, rr.rtype);
        }
    }
    Ok(())
}

/// The update in progress. `new` holds only the names the update touched,
/// each copied from the old zone when first touched, so the work (and the
/// diff) is proportional to the update, not to the zone.
struct Work<'a> {
    old: &'a Zone,
    new: Zone,
    touched: BTreeSet<Name>,
}

impl<'a> Work<'a> {
    fn new(old: &'a Zone) -> Work<'a> {
        Work {
            old,
            new: Zone::new(old.origin().clone(), old.class()),
            touched: BTreeSet::new(),
        }
    }

    /// Copies the RRsets at `name` from the old zone, once.
    fn load(&mut self, name: &Name) {
        if !self.touched.insert(name.clone()) {
            return;
        }
        for set in self.old.node(name).unwrap_or(&[]) {
            for r in set.records(name, self.old.class()) {
                self.new.insert_keep_ttl(r);
            }
        }
    }

    fn node_types(&self, name: &Name) -> Vec<Rtype> {
        self.new
            .node(name)
            .unwrap_or(&[])
            .iter()
            .map(|s| s.rtype)
            .collect()
    }

    /// §3.4.2: one update RR, already prescanned and authorized.
    fn apply(&mut self, rr: &Record) {
        self.load(&rr.owner);
        let zclass = self.new.class();
        let apex = rr.owner == *self.new.origin();
        if rr.class == zclass {
            self.add(rr, apex);
        } else if rr.class == Class::ANY {
            if rr.rtype == Rtype::ANY {
                // §3.4.2.3: all RRsets of a name; the apex keeps SOA and NS.
                self.new.remove_where(&rr.owner, |t| {
                    !(apex && (t == Rtype::SOA || t == Rtype::NS))
                });
            } else if !(apex && (rr.rtype == Rtype::SOA || rr.rtype == Rtype::NS)) {
                // §3.4.2.3: one RRset (apex SOA and NS are never deleted).
                self.new.remove_rrset(&rr.owner, rr.rtype);
            }
        } else if rr.class == Class::NONE {
            // §3.4.2.4: one RR; SOA never, the last apex NS neither.
            if rr.rtype == Rtype::SOA {
                return;
            }
            if apex && rr.rtype == Rtype::NS {
                let last = self
                    .new
                    .rrset(&rr.owner, Rtype::NS)
                    .is_some_and(|set| set.rdatas.len() <= 1);
                if last {
                    return;
                }
            }
            self.new.remove(rr);
        }
    }

    /// §3.4.2.2: add one RR.
    fn add(&mut self, rr: &Record, apex: bool) {
        let types = self.node_types(&rr.owner);
        if rr.rtype == Rtype::CNAME {
            if types.iter().any(|t| !may_coexist_with_cname(*t)) {
                return;
            }
        } else if !may_coexist_with_cname(rr.rtype) && types.contains(&Rtype::CNAME) {
            return;
        }
        match rr.rtype {
            Rtype::SOA => {
                let (Some(current), Ok(proposed)) = (self.new.soa(), Soa::parse(&rr.rdata)) else {
                    return;
                };
                if !apex || !serial::is_newer(proposed.serial, current.serial) {
                    return;
                }
                self.new.remove_rrset(&rr.owner, Rtype::SOA);
            }
            // A zone holds one CNAME per name: the new one replaces it.
            Rtype::CNAME => {
                self.new.remove_rrset(&rr.owner, Rtype::CNAME);
            }
            // WKS RRs are the same RR if address and protocol match.
            Rtype::WKS if rr.rdata.len() >= 5 => {
                let same: Vec<Bytes> = self
                    .new
                    .rrset(&rr.owner, Rtype::WKS)
                    .map(|set| {
                        set.rdatas
                            .iter()
                            .filter(|d| d.len() >= 5 && d[..5] == rr.rdata[..5])
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default();
                for d in same {
                    let mut old = rr.clone();
                    old.rdata = d;
                    self.new.remove(&old);
                }
            }
            _ => {}
        }
        // Replaces an equal RR (taking its TTL) or extends the RRset; in
        // both cases the RRset takes this TTL.
        self.new.insert(rr.clone());
    }

    /// The net change and, when the SOA itself changed, the new SOA.
    fn finish(self) -> UpdatePlan {
        let old = self.old;
        let from = old.serial();
        let mut diff = Diff {
            from_serial: from,
            to_serial: from,
            removed: Vec::new(),
            added: Vec::new(),
        };
        for name in &self.touched {
            diff_node(old, &self.new, name, &mut diff);
        }
        let soa_changed = match (old.soa_record(), self.new.soa_record()) {
            (Some(a), Some(b)) => !(a.same_rr(&b) && a.ttl == b.ttl),
            _ => false,
        };
        if diff.is_empty() && !soa_changed {
            return UpdatePlan { diff, soa: None };
        }
        let requested = soa_changed.then(|| self.new.serial());
        diff.to_serial = serial::next(from, requested);
        let soa = if soa_changed {
            self.new.soa_record().map(|mut soa| {
                soa.owner = old.origin().clone();
                soa
            })
        } else {
            None
        };
        UpdatePlan { diff, soa }
    }
}

/// Appends to `diff` the difference between the RRsets at `name` in `old`
/// and in `new`, SOA excluded. An RRset whose TTL changed is removed and
/// added whole.
fn diff_node(old: &Zone, new: &Zone, name: &Name, diff: &mut Diff) {
    let class = old.class();
    let apex = name == old.origin();
    let before = old.node(name).unwrap_or(&[]);
    let after = new.node(name).unwrap_or(&[]);
    let record =
        |set: &RRset, d: &Bytes| Record::new(name.clone(), set.rtype, class, set.ttl, d.clone());
    for o in before {
        if apex && o.rtype == Rtype::SOA {
            continue;
        }
        let n = find(after, o.rtype);
        for d in &o.rdatas {
            let kept = n.is_some_and(|n| {
                n.ttl == o.ttl && n.rdatas.iter().any(|x| rdata_eq(o.rtype, x, d))
            });
            if !kept {
                diff.removed.push(record(o, d));
            }
        }
    }
    for n in after {
        if apex && n.rtype == Rtype::SOA {
            continue;
        }
        let o = find(before, n.rtype);
        for d in &n.rdatas {
            let had = o.is_some_and(|o| {
                o.ttl == n.ttl && o.rdatas.iter().any(|x| rdata_eq(n.rtype, x, d))
            });
            if !had {
                diff.added.push(record(n, d));
            }
        }
    }
}

fn find(sets: &[RRset], rtype: Rtype) -> Option<&RRset> {
    sets.iter().find(|s| s.rtype == rtype)
}
