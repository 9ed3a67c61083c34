//! The authoritative answer algorithm: given a zone and a question, which
//! records go in which section (RFC 1034 §4.3.2, RFC 2308 negative answers,
//! RFC 4592 wildcards, RFC 6604 rcodes after CNAME chains, RFC 8482 ANY).

use tandem_dns_wire::rdata::{additional_target, naptr_flags_and_replacement, single_name};
use tandem_dns_wire::{Name, Rcode, Record, Rtype};

use crate::zone::{RRset, Zone};

/// Longest CNAME chain followed inside one zone before stopping.
pub const MAX_CNAME_CHAIN: usize = 16;

/// What to answer, before it is written into a message.
#[derive(Clone, Debug)]
pub struct Resolution {
    pub rcode: Rcode,
    /// The AA bit: false only for referrals.
    pub authoritative: bool,
    pub answer: Vec<Record>,
    pub authority: Vec<Record>,
    pub additional: Vec<Record>,
}

/// The outcome of looking up one name (one link of a CNAME chain).
enum Step {
    Answer(Vec<Record>),
    Cname(Record, Name),
    Referral { ns: Vec<Record> },
    NoData,
    NxDomain,
}

impl Zone {
    /// Answers `qname`/`qtype` from this zone. `qname` must be at or below
    /// the origin. `full_any` answers ANY with every RRset (over TCP);
    /// otherwise ANY gets one RRset, as RFC 8482 §4.2 allows.
    pub fn resolve(&self, qname: &Name, qtype: Rtype, full_any: bool) -> Resolution {
        let mut res = Resolution {
            rcode: Rcode::NOERROR,
            authoritative: true,
            answer: Vec::new(),
            authority: Vec::new(),
            additional: Vec::new(),
        };
        let mut name = qname.clone();
        let mut chain = 0;
        loop {
            match self.step(&name, qtype, full_any) {
                Step::Answer(records) => {
                    res.answer.extend(records);
                    break;
                }
                Step::Cname(record, target) => {
                    res.answer.push(record);
                    chain += 1;
                    // RFC 1034 §4.3.2 step 3a: restart with the target,
                    // but only while it is in this zone and not a loop.
                    let looped = res.answer.iter().any(|r| r.owner == target);
                    if !target.is_subdomain_of(self.origin()) || chain >= MAX_CNAME_CHAIN || looped
                    {
                        break;
                    }
                    name = target;
                }
                Step::Referral { ns } => {
                    if res.answer.is_empty() {
                        res.authoritative = false;
                        res.additional = self.glue(&ns);
                        res.authority = ns;
                    }
                    break;
                }
                Step::NoData => {
                    res.authority.extend(self.negative_soa());
                    break;
                }
                Step::NxDomain => {
                    res.rcode = Rcode::NXDOMAIN;
                    res.authority.extend(self.negative_soa());
                    break;
                }
            }
        }
        if res.authoritative {
            res.additional = self.additional_for(&res.answer);
        }
        res
    }

    fn step(&self, name: &Name, qtype: Rtype, full_any: bool) -> Step {
        if let Some(ns) = self.find_cut(name, qtype) {
            return Step::Referral { ns };
        }
        if let Some((owner, sets)) = self.node_entry(name) {
            return self.answer_from_node(owner, sets, qtype, full_any);
        }
        if self.name_exists(name) {
            return Step::NoData;
        }
        // RFC 4592 §3.3.1: the closest encloser is the longest existing
        // ancestor; the wildcard that may answer is `*` directly below it.
        let Some(encloser) = name.ancestors().skip(1).find(|a| self.name_exists(a)) else {
            return Step::NxDomain;
        };
        let Ok(source) = encloser.wildcard_child() else {
            return Step::NxDomain;
        };
        match self.node(&source) {
            Some(sets) => self.answer_from_node(name, sets, qtype, full_any),
            None => Step::NxDomain,
        }
    }

    /// Answers from the RRsets of one node; `owner` is the name asked for
    /// (which differs from the node's for wildcard synthesis).
    fn answer_from_node(&self, owner: &Name, sets: &[RRset], qtype: Rtype, full_any: bool) -> Step {
        let class = self.class();
        if qtype == Rtype::ANY {
            let chosen: Vec<&RRset> = if full_any {
                sets.iter().collect()
            } else {
                sets.iter().take(1).collect()
            };
            return Step::Answer(
                chosen
                    .into_iter()
                    .flat_map(|s| s.records(owner, class).collect::<Vec<_>>())
                    .collect(),
            );
        }
        if let Some(set) = sets.iter().find(|s| s.rtype == qtype) {
            return Step::Answer(set.records(owner, class).collect());
        }
        if let Some(cname) = sets.iter().find(|s| s.rtype == Rtype::CNAME) {
            if let Some(record) = cname.records(owner, class).next() {
                if let Some(target) = single_name(&record.rdata) {
                    return Step::Cname(record, target);
                }
            }
        }
        Step::NoData
    }

    /// The NS RRset of the highest zone cut at or above `name` (below the
    /// apex). A DS query at the cut itself is answered from this side.
    fn find_cut(&self, name: &Name, qtype: Rtype) -> Option<Vec<Record>> {
        let origin_labels = self.origin().label_count();
        let below_apex: Vec<Name> = name
            .ancestors()
            .take(name.label_count().saturating_sub(origin_labels))
            .collect();
        for cut in below_apex.iter().rev() {
            if cut == name && qtype == Rtype::DS {
                return None;
            }
            if let Some(set) = self.rrset(cut, Rtype::NS) {
                return Some(set.records(cut, self.class()).collect());
            }
        }
        None
    }

    /// The SOA for a negative answer, its TTL capped by the SOA minimum
    /// (RFC 2308 §3).
    pub fn negative_soa(&self) -> Option<Record> {
        let mut soa = self.soa_record()?;
        let minimum = self.soa()?.minimum;
        soa.ttl = soa.ttl.min(minimum);
        Some(soa)
    }

    /// Addresses of the NS targets of a referral that lie in this zone.
    fn glue(&self, ns: &[Record]) -> Vec<Record> {
        self.addresses_for(
            ns.iter()
                .filter_map(|r| additional_target(r.rtype, &r.rdata)),
            &[],
        )
    }

    /// Addresses for NS, MX and SRV targets in the answer (RFC 1035 §3.3).
    fn additional_for(&self, answer: &[Record]) -> Vec<Record> {
        // RFC 3403 §4.1: a NAPTR with flag S leads to the SRV RRset of its
        // replacement (and that SRV's targets), flag A to its addresses.
        let mut srv = Vec::new();
        let mut naptr_hosts = Vec::new();
        for r in answer.iter().filter(|r| r.rtype == Rtype::NAPTR) {
            let Some((flags, replacement)) = naptr_flags_and_replacement(&r.rdata) else {
                continue;
            };
            if replacement.is_root() || !replacement.is_subdomain_of(self.origin()) {
                continue;
            }
            if flags.contains(&b's') {
                if let Some(set) = self.rrset(&replacement, Rtype::SRV) {
                    srv.extend(set.records(&replacement, self.class()));
                }
            }
            if flags.contains(&b'a') {
                naptr_hosts.push(replacement);
            }
        }
        let targets: Vec<Name> = answer
            .iter()
            .chain(srv.iter())
            .filter_map(|r| additional_target(r.rtype, &r.rdata))
            .chain(naptr_hosts)
            .collect();
        let mut out = self.addresses_for(targets.into_iter(), answer);
        srv.retain(|r| !answer.iter().any(|a| a.same_rr(r)));
        out.extend(srv);
        out
    }

    fn addresses_for(&self, targets: impl Iterator<Item = Name>, skip: &[Record]) -> Vec<Record> {
        let mut out: Vec<Record> = Vec::new();
        let mut seen: Vec<Name> = Vec::new();
        for target in targets {
            if !target.is_subdomain_of(self.origin()) || seen.contains(&target) {
                continue;
            }
            for rtype in [Rtype::A, Rtype::AAAA] {
                if let Some(set) = self.rrset(&target, rtype) {
                    out.extend(
                        set.records(&target, self.class())
                            .filter(|r| !skip.iter().any(|s| s.same_rr(r))),
                    );
                }
            }
            seen.push(target);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::parse_str;

    const ZONE: &str = r#"$ORIGIN home.
$TTL 3600
@   SOA ns1 hostmaster 1 3600 600 86400 300
    NS ns1
    MX 10 mail
ns1 A 192.168.0.254
mail A 192.168.0.10
mail AAAA fd00::10
www CNAME mail
loop1 CNAME loop2
loop2 CNAME loop1
ext CNAME www.example.com.
*.wild A 192.168.0.77
*.wild TXT "wild"
sub.wild A 192.168.0.78
lab NS ns.lab
ns.lab A 192.168.0.100
a.b.c A 192.168.0.1
_sip._tcp SRV 0 5 5060 mail
"#;

    fn zone() -> Zone {
        let recs = parse_str(&"home.".parse().unwrap(), ZONE).unwrap();
        Zone::from_records(
            "home.".parse().unwrap(),
            tandem_dns_wire::Class::IN,
            recs.into_iter().map(|r| r.record),
        )
        .unwrap()
        .0
    }

    fn q(name: &str, t: Rtype) -> Resolution {
        zone().resolve(&name.parse().unwrap(), t, false)
    }

    #[test]
    fn positive_answer_with_additional() {
        let r = q("home.", Rtype::MX);
        assert_eq!(r.rcode, Rcode::NOERROR);
        assert!(r.authoritative);
        assert_eq!(r.answer.len(), 1);
        assert_eq!(r.additional.len(), 2, "A and AAAA of mail");
        let r = q("_sip._tcp.home.", Rtype::SRV);
        assert_eq!(r.additional.len(), 2);
    }

    #[test]
    fn nxdomain_and_nodata_carry_the_soa_with_negative_ttl() {
        let r = q("nope.home.", Rtype::A);
        assert_eq!(r.rcode, Rcode::NXDOMAIN);
        assert_eq!(r.authority[0].rtype, Rtype::SOA);
        assert_eq!(r.authority[0].ttl, 300);
        let r = q("mail.home.", Rtype::TXT);
        assert_eq!(r.rcode, Rcode::NOERROR);
        assert!(r.answer.is_empty());
        assert_eq!(r.authority[0].rtype, Rtype::SOA);
        // Empty non-terminal: NODATA, not NXDOMAIN (RFC 8020).
        let r = q("b.c.home.", Rtype::A);
        assert_eq!(r.rcode, Rcode::NOERROR);
    }

    #[test]
    fn cname_chains() {
        let r = q("www.home.", Rtype::A);
        assert_eq!(r.answer.len(), 2);
        assert_eq!(r.answer[0].rtype, Rtype::CNAME);
        assert_eq!(r.answer[1].rtype, Rtype::A);
        let r = q("www.home.", Rtype::CNAME);
        assert_eq!(r.answer.len(), 1);
        let r = q("loop1.home.", Rtype::A);
        assert_eq!(r.answer.len(), 2, "stops at the loop");
        let r = q("ext.home.", Rtype::A);
        assert_eq!(r.answer.len(), 1, "leaves the zone to the resolver");
    }

    #[test]
    fn wildcards() {
        let r = q("x.wild.home.", Rtype::A);
        assert_eq!(r.answer.len(), 1);
        assert_eq!(r.answer[0].owner.to_string(), "x.wild.home.");
        let r = q("x.wild.home.", Rtype::MX);
        assert!(r.answer.is_empty());
        assert_eq!(r.rcode, Rcode::NOERROR);
        // An existing name blocks the wildcard (RFC 4592 §2.2.1).
        let r = q("sub.wild.home.", Rtype::TXT);
        assert!(r.answer.is_empty());
        // Below an existing name there is no wildcard to apply.
        let r = q("y.sub.wild.home.", Rtype::A);
        assert_eq!(r.rcode, Rcode::NXDOMAIN);
    }

    #[test]
    fn delegations_with_glue() {
        let r = q("host.lab.home.", Rtype::A);
        assert!(!r.authoritative);
        assert_eq!(r.authority.len(), 1);
        assert_eq!(r.authority[0].rtype, Rtype::NS);
        assert_eq!(r.additional.len(), 1);
        let r = q("lab.home.", Rtype::DS);
        assert!(r.authoritative, "DS is answered by the parent");
    }

    #[test]
    fn any_gets_one_rrset_over_udp_all_over_tcp() {
        let z = zone();
        let r = z.resolve(&"home.".parse().unwrap(), Rtype::ANY, false);
        assert_eq!(r.answer.len(), 1);
        let r = z.resolve(&"home.".parse().unwrap(), Rtype::ANY, true);
        assert!(r.answer.len() >= 3);
    }
}
