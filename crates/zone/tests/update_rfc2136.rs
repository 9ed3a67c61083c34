//! RFC 2136 rules, one test per rule, named after the section they check.

use bytes::Bytes;
use tandem_dns_wire::rdata::Soa;
use tandem_dns_wire::{Class, Header, Message, Name, Opcode, Question, Rcode, Record, Rtype};
use tandem_zone::{
    apply_update, AllowAll, Authorize, KeyList, MatchKind, PolicyRule, UpdateError, UpdateOutcome,
    UpdatePolicy, Zone,
};

fn n(s: &str) -> Name {
    s.parse().unwrap()
}

fn soa_rdata(serial: u32) -> Bytes {
    Soa {
        mname: n("ns1.home."),
        rname: n("hostmaster.home."),
        serial,
        refresh: 3600,
        retry: 600,
        expire: 86400,
        minimum: 300,
    }
    .to_rdata()
}

fn rec(owner: &str, rtype: Rtype, class: Class, ttl: u32, rdata: impl Into<Bytes>) -> Record {
    Record::new(n(owner), rtype, class, ttl, rdata)
}

fn a(owner: &str, last: u8) -> Record {
    rec(owner, Rtype::A, Class::IN, 300, vec![192, 168, 0, last])
}

fn a_ttl(owner: &str, last: u8, ttl: u32) -> Record {
    rec(owner, Rtype::A, Class::IN, ttl, vec![192, 168, 0, last])
}

fn named(owner: &str, rtype: Rtype, target: &str) -> Record {
    rec(owner, rtype, Class::IN, 300, n(target).to_bytes())
}

fn txt(owner: &str, s: &str) -> Record {
    let mut d = vec![s.len() as u8];
    d.extend_from_slice(s.as_bytes());
    rec(owner, Rtype::TXT, Class::IN, 300, d)
}

fn soa(owner: &str, serial: u32) -> Record {
    rec(owner, Rtype::SOA, Class::IN, 3600, soa_rdata(serial))
}

/// Class ANY, no data: "RRset exists" prerequisite / delete an RRset.
fn any(owner: &str, rtype: Rtype) -> Record {
    rec(owner, rtype, Class::ANY, 0, Bytes::new())
}

/// Class NONE, no data: "RRset does not exist" prerequisite.
fn none(owner: &str, rtype: Rtype) -> Record {
    rec(owner, rtype, Class::NONE, 0, Bytes::new())
}

/// Class NONE with data: delete one RR.
fn del(r: Record) -> Record {
    Record {
        class: Class::NONE,
        ttl: 0,
        ..r
    }
}

/// Zone class, TTL 0: member of a value-dependent prerequisite RRset.
fn val(r: Record) -> Record {
    Record { ttl: 0, ..r }
}

fn base_records(serial: u32) -> Vec<Record> {
    vec![
        soa("home.", serial),
        named("home.", Rtype::NS, "ns1.home."),
        named("home.", Rtype::NS, "ns2.home."),
        named("home.", Rtype::MX, "mail.home."),
        a("ns1.home.", 1),
        a("ns2.home.", 2),
        a("host.home.", 10),
        a("host.home.", 11),
        txt("host.home.", "desk"),
        named("www.home.", Rtype::CNAME, "host.home."),
        a("a.b.c.home.", 20),
        named("sub.home.", Rtype::NS, "ns.sub.home."),
        a("ns.sub.home.", 30),
    ]
}

fn zone_with_serial(serial: u32) -> Zone {
    let mut recs = base_records(serial);
    // MX data is preference + name.
    recs[3].rdata = [&[0u8, 10][..], n("mail.home.").as_wire()].concat().into();
    Zone::from_records(n("home."), Class::IN, recs).unwrap().0
}

fn zone() -> Zone {
    zone_with_serial(10)
}

struct Upd(Message);

fn upd() -> Upd {
    upd_zone("home.", Rtype::SOA, Class::IN)
}

fn upd_zone(name: &str, qtype: Rtype, qclass: Class) -> Upd {
    Upd(Message {
        header: Header {
            id: 7,
            opcode: Opcode::UPDATE,
            ..Header::default()
        },
        questions: vec![Question {
            name: n(name),
            qtype,
            qclass,
        }],
        ..Default::default()
    })
}

impl Upd {
    fn pre(mut self, r: Record) -> Upd {
        self.0.answers.push(r);
        self
    }

    fn up(mut self, r: Record) -> Upd {
        self.0.authority.push(r);
        self
    }

    fn run_on(&self, z: &Zone) -> Result<UpdateOutcome, UpdateError> {
        let out = apply_update(z, &self.0, &AllowAll, None);
        if let Ok(out) = &out {
            check_diff(z, out);
        }
        out
    }

    fn run_on_unchecked(&self, z: &Zone) -> Result<UpdateOutcome, UpdateError> {
        apply_update(z, &self.0, &AllowAll, None)
    }

    fn run(&self) -> Result<UpdateOutcome, UpdateError> {
        self.run_on(&zone())
    }

    fn rcode(&self) -> Rcode {
        match self.run() {
            Ok(_) => Rcode::NOERROR,
            Err(e) => e.rcode,
        }
    }
}

fn dump(z: &Zone) -> Vec<String> {
    z.records().map(|r| r.to_string()).collect()
}

/// The diff leads from the old zone to the new one (SOA aside), and the
/// serials are where the outcome says.
fn check_diff(old: &Zone, out: &UpdateOutcome) {
    let mut replayed = old.clone();
    replayed.apply(&out.diff);
    let strip = |z: &Zone| dump(z).into_iter().skip(1).collect::<Vec<_>>();
    assert_eq!(strip(&replayed), strip(&out.zone));
    assert_eq!(out.diff.from_serial, old.serial());
    assert_eq!(out.diff.to_serial, out.zone.serial());
    out.zone.check().unwrap();
}

fn has(z: &Zone, r: &Record) -> bool {
    z.rrset(&r.owner, r.rtype)
        .is_some_and(|s| s.rdatas.iter().any(|d| d == &r.rdata))
}

// ---- §3.1 zone section ----

#[test]
fn s3_1_1_zone_section_needs_one_soa_entry() {
    let mut u = upd();
    u.0.questions.clear();
    assert_eq!(u.rcode(), Rcode::FORMERR);
    let mut u = upd();
    u.0.questions.push(u.0.questions[0].clone());
    assert_eq!(u.rcode(), Rcode::FORMERR);
    assert_eq!(
        upd_zone("home.", Rtype::A, Class::IN).rcode(),
        Rcode::FORMERR
    );
}

#[test]
fn s3_1_2_other_zone_or_class_is_notauth() {
    assert_eq!(
        upd_zone("other.", Rtype::SOA, Class::IN).rcode(),
        Rcode::NOTAUTH
    );
    assert_eq!(
        upd_zone("sub.home.", Rtype::SOA, Class::IN).rcode(),
        Rcode::NOTAUTH
    );
    assert_eq!(
        upd_zone("home.", Rtype::SOA, Class::CH).rcode(),
        Rcode::NOTAUTH
    );
    // Names compare without regard to case.
    assert_eq!(
        upd_zone("HOME.", Rtype::SOA, Class::IN).rcode(),
        Rcode::NOERROR
    );
}

// ---- §2.4 / §3.2 prerequisites ----

#[test]
fn s2_4_1_rrset_exists_value_independent() {
    assert_eq!(
        upd().pre(any("host.home.", Rtype::A)).rcode(),
        Rcode::NOERROR
    );
    let e = upd().pre(any("host.home.", Rtype::AAAA)).run().unwrap_err();
    assert_eq!(e.rcode, Rcode::NXRRSET);
    assert!(
        e.reason.contains("host.home. has no AAAA RRset"),
        "{}",
        e.reason
    );
}

#[test]
fn s2_4_2_rrset_exists_value_dependent_compares_whole_sets() {
    // The same set in another order, with a duplicate: satisfied.
    let u = upd()
        .pre(val(a("host.home.", 11)))
        .pre(val(a("host.home.", 10)))
        .pre(val(a("host.home.", 11)));
    assert_eq!(u.rcode(), Rcode::NOERROR);
    // A subset or a superset is not the RRset.
    assert_eq!(upd().pre(val(a("host.home.", 10))).rcode(), Rcode::NXRRSET);
    let u = upd()
        .pre(val(a("host.home.", 10)))
        .pre(val(a("host.home.", 11)))
        .pre(val(a("host.home.", 12)));
    assert_eq!(u.rcode(), Rcode::NXRRSET);
    // Absent RRset.
    assert_eq!(upd().pre(val(a("nope.home.", 1))).rcode(), Rcode::NXRRSET);
    // Names inside the data compare case-insensitively; TTLs are ignored
    // (the prerequisite TTL must be 0 anyway).
    let u = upd().pre(val(named("www.home.", Rtype::CNAME, "HOST.Home.")));
    assert_eq!(u.rcode(), Rcode::NOERROR);
}

#[test]
fn s2_4_3_rrset_does_not_exist() {
    assert_eq!(
        upd().pre(none("host.home.", Rtype::AAAA)).rcode(),
        Rcode::NOERROR
    );
    assert_eq!(
        upd().pre(none("nope.home.", Rtype::A)).rcode(),
        Rcode::NOERROR
    );
    assert_eq!(
        upd().pre(none("host.home.", Rtype::A)).rcode(),
        Rcode::YXRRSET
    );
}

#[test]
fn s2_4_4_name_is_in_use_not_by_empty_non_terminals() {
    assert_eq!(
        upd().pre(any("host.home.", Rtype::ANY)).rcode(),
        Rcode::NOERROR
    );
    assert_eq!(
        upd().pre(any("nope.home.", Rtype::ANY)).rcode(),
        Rcode::NXDOMAIN
    );
    // b.c.home. exists only as an empty non-terminal above a.b.c.home.;
    // §2.4.4: "this prerequisite is NOT satisfied by empty nonterminals".
    assert_eq!(
        upd().pre(any("b.c.home.", Rtype::ANY)).rcode(),
        Rcode::NXDOMAIN
    );
}

#[test]
fn s2_4_5_name_is_not_in_use() {
    assert_eq!(
        upd().pre(none("nope.home.", Rtype::ANY)).rcode(),
        Rcode::NOERROR
    );
    assert_eq!(
        upd().pre(none("b.c.home.", Rtype::ANY)).rcode(),
        Rcode::NOERROR
    );
    assert_eq!(
        upd().pre(none("host.home.", Rtype::ANY)).rcode(),
        Rcode::YXDOMAIN
    );
}

#[test]
fn s3_2_1_malformed_prerequisites_are_formerr() {
    let cases = [
        (
            "TTL not 0",
            rec("host.home.", Rtype::A, Class::ANY, 1, Bytes::new()),
        ),
        (
            "ANY with data",
            rec("host.home.", Rtype::A, Class::ANY, 0, vec![1, 2, 3, 4]),
        ),
        (
            "NONE with data",
            rec("host.home.", Rtype::A, Class::NONE, 0, vec![1, 2, 3, 4]),
        ),
        (
            "other class",
            rec("host.home.", Rtype::A, Class::CH, 0, vec![1, 2, 3, 4]),
        ),
        (
            "zone class, type ANY",
            rec("host.home.", Rtype::ANY, Class::IN, 0, Bytes::new()),
        ),
        ("ANY, type AXFR", any("host.home.", Rtype::AXFR)),
        ("NONE, type TSIG", none("host.home.", Rtype::TSIG)),
        (
            "bad A data",
            rec("host.home.", Rtype::A, Class::IN, 0, vec![1, 2]),
        ),
    ];
    for (what, r) in cases {
        assert_eq!(upd().pre(r).rcode(), Rcode::FORMERR, "{what}");
    }
}

#[test]
fn s3_2_1_prerequisite_outside_zone_is_notzone() {
    assert_eq!(
        upd().pre(any("host.other.", Rtype::A)).rcode(),
        Rcode::NOTZONE
    );
    assert_eq!(
        upd().pre(none("home2.", Rtype::ANY)).rcode(),
        Rcode::NOTZONE
    );
}

#[test]
fn s3_2_3_value_dependent_sets_are_compared_after_the_rest() {
    // The mismatching value-dependent RRset comes first in the message, but
    // its comparison happens after the other prerequisites (§3.2.3 "temp").
    let u = upd()
        .pre(val(a("host.home.", 99)))
        .pre(none("host.home.", Rtype::A));
    assert_eq!(u.rcode(), Rcode::YXRRSET);
    // Otherwise the first failing prerequisite decides.
    let u = upd()
        .pre(any("nope.home.", Rtype::ANY))
        .pre(none("host.home.", Rtype::A));
    assert_eq!(u.rcode(), Rcode::NXDOMAIN);
}

#[test]
fn s3_2_failed_prerequisite_changes_nothing() {
    let u = upd()
        .pre(none("host.home.", Rtype::A))
        .up(a("new.home.", 5));
    assert_eq!(u.rcode(), Rcode::YXRRSET);
}

// ---- §3.3 permission ----

fn policy() -> UpdatePolicy {
    UpdatePolicy {
        rules: vec![PolicyRule {
            grant: true,
            key: n("dhcp.key."),
            kind: MatchKind::Subdomain,
            name: Some(n("home.")),
            types: vec![Rtype::A, Rtype::DHCID],
        }],
    }
}

#[test]
fn s3_3_every_update_rr_is_authorized_before_any_change() {
    let z = zone();
    let key = n("dhcp.key.");
    let ok = upd().up(a("pc.home.", 5));
    assert!(apply_update(&z, &ok.0, &policy(), Some(&key)).is_ok());
    let mixed = upd().up(a("pc.home.", 5)).up(txt("pc.home.", "x"));
    let e = apply_update(&z, &mixed.0, &policy(), Some(&key)).unwrap_err();
    assert_eq!(e.rcode, Rcode::REFUSED);
    assert!(e.reason.contains("pc.home. TXT"), "{}", e.reason);
    let e = apply_update(&z, &ok.0, &policy(), None).unwrap_err();
    assert_eq!(e.rcode, Rcode::REFUSED);
    let keys = KeyList(vec![key.clone()]);
    assert!(apply_update(&z, &mixed.0, &keys, Some(&key)).is_ok());
    assert_eq!(
        apply_update(&z, &mixed.0, &keys, Some(&n("other.")))
            .unwrap_err()
            .rcode,
        Rcode::REFUSED
    );
}

/// Records every question the policy is asked.
struct Recorder(std::cell::RefCell<Vec<(Name, Rtype)>>);

impl Authorize for Recorder {
    fn allows(&self, _key: Option<&Name>, name: &Name, rtype: Rtype) -> bool {
        self.0.borrow_mut().push((name.clone(), rtype));
        true
    }
}

#[test]
fn s3_3_deleting_a_name_asks_for_each_type_it_deletes() {
    let z = zone();
    let r = Recorder(Default::default());
    let u = upd()
        .up(txt("new.home.", "x"))
        .up(any("host.home.", Rtype::ANY))
        .up(any("home.", Rtype::ANY))
        .up(any("new.home.", Rtype::ANY))
        .up(any("nope.home.", Rtype::ANY));
    apply_update(&z, &u.0, &r, None).unwrap();
    let asked = r.0.into_inner();
    let expect = [
        ("new.home.", Rtype::TXT),
        ("host.home.", Rtype::A),
        ("host.home.", Rtype::TXT),
        ("home.", Rtype::MX),
        ("new.home.", Rtype::TXT),
        ("nope.home.", Rtype::ANY),
    ];
    let expect: Vec<(Name, Rtype)> = expect.iter().map(|(o, t)| (n(o), *t)).collect();
    assert_eq!(asked, expect);
    // With the DHCP policy (A and DHCID only), deleting host.home. (which
    // also has TXT) is refused.
    let u = upd().up(any("host.home.", Rtype::ANY));
    let e = apply_update(&z, &u.0, &policy(), Some(&n("dhcp.key."))).unwrap_err();
    assert_eq!(e.rcode, Rcode::REFUSED);
}

// ---- §3.4.1 prescan ----

#[test]
fn s3_4_1_3_update_outside_zone_is_notzone() {
    let e = upd().up(a("x.other.", 1)).run().unwrap_err();
    assert_eq!(e.rcode, Rcode::NOTZONE);
    // One bad RR after a good one: nothing is applied.
    assert_eq!(
        upd()
            .up(a("ok.home.", 1))
            .up(any("home2.", Rtype::A))
            .rcode(),
        Rcode::NOTZONE
    );
}

#[test]
fn s3_4_1_3_malformed_updates_are_formerr() {
    let mut cases = vec![];
    for t in [
        Rtype::ANY,
        Rtype::AXFR,
        Rtype::IXFR,
        Rtype::MAILA,
        Rtype::MAILB,
        Rtype::OPT,
        Rtype::TSIG,
        Rtype::TKEY,
    ] {
        cases.push((
            format!("add {t}"),
            rec("x.home.", t, Class::IN, 300, vec![0]),
        ));
        cases.push((
            format!("delete one {t}"),
            rec("x.home.", t, Class::NONE, 0, vec![0]),
        ));
        if t != Rtype::ANY {
            cases.push((format!("delete set {t}"), any("x.home.", t)));
        }
    }
    cases.push((
        "ANY ttl".into(),
        rec("x.home.", Rtype::A, Class::ANY, 5, Bytes::new()),
    ));
    cases.push((
        "ANY data".into(),
        rec("x.home.", Rtype::A, Class::ANY, 0, vec![1, 2, 3, 4]),
    ));
    cases.push((
        "NONE ttl".into(),
        rec("x.home.", Rtype::A, Class::NONE, 5, vec![1, 2, 3, 4]),
    ));
    cases.push((
        "class CH".into(),
        rec("x.home.", Rtype::A, Class::CH, 0, vec![1, 2, 3, 4]),
    ));
    cases.push((
        "short A".into(),
        rec("x.home.", Rtype::A, Class::IN, 300, vec![1, 2, 3]),
    ));
    cases.push((
        "bad SOA".into(),
        rec("home.", Rtype::SOA, Class::IN, 300, vec![0, 1]),
    ));
    cases.push((
        "bad NS".into(),
        rec("x.home.", Rtype::NS, Class::IN, 300, vec![5, b'a']),
    ));
    for (what, r) in cases {
        assert_eq!(upd().up(r).rcode(), Rcode::FORMERR, "{what}");
    }
}

// ---- §3.4.2.2 adds ----

#[test]
fn s3_4_2_2_add_new_rr_bumps_serial() {
    let out = upd().up(a("pc.home.", 5)).run().unwrap();
    assert!(out.changed());
    assert_eq!(out.diff.from_serial, 10);
    assert_eq!(out.diff.to_serial, 11);
    assert_eq!(out.diff.added.len(), 1);
    assert!(out.diff.removed.is_empty());
    assert!(has(&out.zone, &a("pc.home.", 5)));
}

#[test]
fn s3_4_2_2_adding_a_present_rr_is_a_no_op() {
    let out = upd().up(a("host.home.", 10)).run().unwrap();
    assert!(!out.changed());
    assert!(out.diff.is_empty());
    assert_eq!(out.diff.to_serial, 10);
    assert_eq!(dump(&out.zone), dump(&zone()));
}

#[test]
fn s3_4_2_2_duplicate_add_with_new_ttl_replaces_rrset_ttl() {
    let out = upd().up(a_ttl("host.home.", 10, 600)).run().unwrap();
    let set = out.zone.rrset(&n("host.home."), Rtype::A).unwrap();
    assert_eq!(set.ttl, 600);
    assert_eq!(set.rdatas.len(), 2);
    // The IXFR view: both RRs leave with TTL 300 and return with 600.
    assert_eq!(out.diff.removed.len(), 2);
    assert!(out.diff.removed.iter().all(|r| r.ttl == 300));
    assert_eq!(out.diff.added.len(), 2);
    assert!(out.diff.added.iter().all(|r| r.ttl == 600));
    // A new RR with another TTL also sets the RRset's TTL (RFC 2181 §5.2).
    let out = upd().up(a_ttl("host.home.", 12, 60)).run().unwrap();
    assert_eq!(out.zone.rrset(&n("host.home."), Rtype::A).unwrap().ttl, 60);
}

#[test]
fn s3_4_2_2_cname_and_other_data_exclude_each_other() {
    // Other data at a CNAME: ignored.
    let out = upd().up(a("www.home.", 5)).run().unwrap();
    assert!(!out.changed());
    // CNAME at a name with other data: ignored.
    let out = upd()
        .up(named("host.home.", Rtype::CNAME, "x.home."))
        .run()
        .unwrap();
    assert!(!out.changed());
    // CNAME at a CNAME: replaces it.
    let out = upd()
        .up(named("www.home.", Rtype::CNAME, "ns1.home."))
        .run()
        .unwrap();
    let set = out.zone.rrset(&n("www.home."), Rtype::CNAME).unwrap();
    assert_eq!(set.rdatas.to_vec(), vec![n("ns1.home.").to_bytes()]);
    assert_eq!(out.diff.removed.len(), 1);
    assert_eq!(out.diff.added.len(), 1);
    // Types allowed beside a CNAME are not "other data".
    let out = upd()
        .up(rec(
            "www.home.",
            Rtype::NSEC,
            Class::IN,
            300,
            [n("x.home.").as_wire(), &[0, 1, 0x40]].concat(),
        ))
        .run()
        .unwrap();
    assert!(out.changed());
    // Order matters: delete the CNAME, then the A is accepted.
    let out = upd()
        .up(any("www.home.", Rtype::CNAME))
        .up(a("www.home.", 5))
        .run()
        .unwrap();
    assert!(has(&out.zone, &a("www.home.", 5)));
    assert!(out.zone.rrset(&n("www.home."), Rtype::CNAME).is_none());
}

#[test]
fn s3_4_2_2_soa_add_needs_a_newer_serial() {
    for older in [9, 10, 10u32.wrapping_sub(1 << 31).wrapping_add(1)] {
        let out = upd().up(soa("home.", older)).run().unwrap();
        assert!(!out.changed(), "serial {older}");
        assert_eq!(out.zone.serial(), 10);
    }
    // At another name: ignored.
    let out = upd().up(soa("host.home.", 50)).run().unwrap();
    assert!(!out.changed());
    assert!(out.zone.rrset(&n("host.home."), Rtype::SOA).is_none());
    // Newer: replaces the SOA, and its serial is kept (not incremented).
    let mut new_soa = soa("home.", 50);
    new_soa.ttl = 7200;
    let out = upd().up(new_soa).up(a("pc.home.", 5)).run().unwrap();
    assert_eq!(out.diff.to_serial, 50);
    assert_eq!(out.zone.serial(), 50);
    assert_eq!(out.zone.soa_record().unwrap().ttl, 7200);
    assert_eq!(out.diff.added.len(), 1);
    // An SOA-only change is a change, with an empty record diff.
    let out = upd().up(soa("home.", 11)).run().unwrap();
    assert!(out.changed());
    assert!(out.diff.is_empty());
    assert_eq!((out.diff.from_serial, out.diff.to_serial), (10, 11));
}

#[test]
fn s3_4_2_2_wks_with_same_address_and_protocol_replaces() {
    let wks = |bits: u8| {
        rec(
            "host.home.",
            Rtype::WKS,
            Class::IN,
            300,
            vec![192, 168, 0, 10, 6, bits],
        )
    };
    let z = upd().up(wks(0x01)).run().unwrap().zone;
    let out = upd().up(wks(0x02)).run_on(&z).unwrap();
    let set = out.zone.rrset(&n("host.home."), Rtype::WKS).unwrap();
    assert_eq!(
        set.rdatas.to_vec(),
        vec![Bytes::from(vec![192, 168, 0, 10, 6, 0x02])]
    );
}

// ---- §3.4.2.3 class ANY deletes ----

#[test]
fn s3_4_2_3_delete_rrset() {
    let out = upd().up(any("host.home.", Rtype::A)).run().unwrap();
    assert!(out.zone.rrset(&n("host.home."), Rtype::A).is_none());
    assert!(out.zone.rrset(&n("host.home."), Rtype::TXT).is_some());
    assert_eq!(out.diff.removed.len(), 2);
    // Deleting an absent RRset is a no-op.
    assert!(!upd()
        .up(any("host.home.", Rtype::AAAA))
        .run()
        .unwrap()
        .changed());
}

#[test]
fn s3_4_2_3_apex_soa_and_ns_rrsets_are_never_deleted() {
    let out = upd()
        .up(any("home.", Rtype::NS))
        .up(any("home.", Rtype::SOA))
        .run()
        .unwrap();
    assert!(!out.changed());
    // Below the apex an NS RRset (a delegation) may go.
    let out = upd().up(any("sub.home.", Rtype::NS)).run().unwrap();
    assert!(out.zone.rrset(&n("sub.home."), Rtype::NS).is_none());
}

#[test]
fn s3_4_2_3_delete_all_rrsets_of_a_name() {
    let out = upd().up(any("host.home.", Rtype::ANY)).run().unwrap();
    assert!(out.zone.node(&n("host.home.")).is_none());
    assert_eq!(out.diff.removed.len(), 3);
    // At the apex, SOA and NS stay.
    let out = upd().up(any("home.", Rtype::ANY)).run().unwrap();
    let types: Vec<Rtype> = out
        .zone
        .node(&n("home."))
        .unwrap()
        .iter()
        .map(|s| s.rtype)
        .collect();
    assert_eq!(types, vec![Rtype::NS, Rtype::SOA]);
    assert_eq!(out.diff.removed.len(), 1);
}

// ---- §3.4.2.4 class NONE deletes ----

#[test]
fn s3_4_2_4_delete_one_rr() {
    let out = upd().up(del(a("host.home.", 10))).run().unwrap();
    let set = out.zone.rrset(&n("host.home."), Rtype::A).unwrap();
    assert_eq!(set.rdatas.len(), 1);
    assert_eq!(out.diff.removed.len(), 1);
    // Data compares with names case-insensitively.
    let out = upd()
        .up(del(named("www.home.", Rtype::CNAME, "HOST.HOME.")))
        .run()
        .unwrap();
    assert!(out.zone.node(&n("www.home.")).is_none());
    // Absent RR: no-op.
    assert!(!upd().up(del(a("host.home.", 99))).run().unwrap().changed());
}

#[test]
fn s3_4_2_4_soa_and_last_apex_ns_are_not_deleted() {
    let out = upd().up(del(soa("home.", 10))).run().unwrap();
    assert!(!out.changed());
    let out = upd()
        .up(del(named("home.", Rtype::NS, "ns1.home.")))
        .up(del(named("home.", Rtype::NS, "ns2.home.")))
        .run()
        .unwrap();
    let set = out.zone.rrset(&n("home."), Rtype::NS).unwrap();
    assert_eq!(set.rdatas.to_vec(), vec![n("ns2.home.").to_bytes()]);
    // The last NS of a delegation may be deleted.
    let out = upd()
        .up(del(named("sub.home.", Rtype::NS, "ns.sub.home.")))
        .run()
        .unwrap();
    assert!(out.zone.rrset(&n("sub.home."), Rtype::NS).is_none());
}

// ---- §3.4.2 order, §3.6 serial ----

#[test]
fn s3_4_2_updates_apply_in_message_order() {
    // Replace an RRset: delete then add.
    let out = upd()
        .up(any("host.home.", Rtype::A))
        .up(a("host.home.", 12))
        .run()
        .unwrap();
    let set = out.zone.rrset(&n("host.home."), Rtype::A).unwrap();
    assert_eq!(
        set.rdatas.to_vec(),
        vec![Bytes::from(vec![192, 168, 0, 12])]
    );
    assert_eq!((out.diff.removed.len(), out.diff.added.len()), (2, 1));
    // Add then delete: nothing left, nothing in the diff.
    let out = upd()
        .up(a("pc.home.", 5))
        .up(any("pc.home.", Rtype::ANY))
        .run()
        .unwrap();
    assert!(!out.changed());
    // Delete and re-add the same data: the net change is empty.
    let out = upd()
        .up(any("host.home.", Rtype::A))
        .up(a("host.home.", 11))
        .up(a("host.home.", 10))
        .run()
        .unwrap();
    assert!(!out.changed());
}

#[test]
fn s3_6_serial_increment_skips_zero() {
    let z = zone_with_serial(u32::MAX);
    let out = upd().up(a("pc.home.", 5)).run_on(&z).unwrap();
    assert_eq!(out.diff.to_serial, 1);
    assert_eq!(out.zone.serial(), 1);
}

// ---- RCODE table and wire form ----

#[test]
fn rcode_table() {
    let table: Vec<(&str, Upd, Rcode)> = vec![
        ("accepted", upd().up(a("pc.home.", 5)), Rcode::NOERROR),
        (
            "no zone section",
            upd_zone("home.", Rtype::A, Class::IN),
            Rcode::FORMERR,
        ),
        (
            "not our zone",
            upd_zone("x.", Rtype::SOA, Class::IN),
            Rcode::NOTAUTH,
        ),
        (
            "prereq NXDOMAIN",
            upd().pre(any("no.home.", Rtype::ANY)),
            Rcode::NXDOMAIN,
        ),
        (
            "prereq YXDOMAIN",
            upd().pre(none("host.home.", Rtype::ANY)),
            Rcode::YXDOMAIN,
        ),
        (
            "prereq NXRRSET",
            upd().pre(any("host.home.", Rtype::MX)),
            Rcode::NXRRSET,
        ),
        (
            "prereq YXRRSET",
            upd().pre(none("host.home.", Rtype::A)),
            Rcode::YXRRSET,
        ),
        (
            "prereq NOTZONE",
            upd().pre(any("x.", Rtype::A)),
            Rcode::NOTZONE,
        ),
        (
            "prereq FORMERR",
            upd().pre(a("host.home.", 10)),
            Rcode::FORMERR,
        ),
        ("update NOTZONE", upd().up(a("x.", 1)), Rcode::NOTZONE),
        (
            "update FORMERR",
            upd().up(any("x.home.", Rtype::AXFR)),
            Rcode::FORMERR,
        ),
    ];
    for (what, u, rcode) in table {
        assert_eq!(u.rcode(), rcode, "{what}");
    }
    let e = apply_update(
        &zone(),
        &upd().up(a("pc.home.", 5)).0,
        &UpdatePolicy::default(),
        None,
    )
    .unwrap_err();
    assert_eq!(e.rcode, Rcode::REFUSED);
}

#[test]
fn through_the_wire_format() {
    let u = upd()
        .pre(none("pc.home.", Rtype::ANY))
        .up(a("pc.home.", 5))
        .up(any("host.home.", Rtype::TXT))
        .up(del(a("host.home.", 10)));
    let parsed = Message::parse(&u.0.to_wire()).unwrap();
    let out = Upd(parsed).run().unwrap();
    assert!(has(&out.zone, &a("pc.home.", 5)));
    assert!(out.zone.rrset(&n("host.home."), Rtype::TXT).is_none());
    assert_eq!(
        out.zone
            .rrset(&n("host.home."), Rtype::A)
            .unwrap()
            .rdatas
            .len(),
        1
    );
    assert_eq!((out.diff.removed.len(), out.diff.added.len()), (2, 1));
}

#[test]
fn zone_without_soa_is_servfail() {
    let z = Zone::new(n("home."), Class::IN);
    let e = upd().up(a("pc.home.", 5)).run_on_unchecked(&z).unwrap_err();
    assert_eq!(e.rcode, Rcode::SERVFAIL);
}

#[test]
fn names_keep_the_zone_spelling_and_compare_without_case() {
    let out = upd()
        .pre(val(a("HOST.home.", 10)))
        .pre(val(a("host.HOME.", 11)))
        .up(a("Host.Home.", 12))
        .up(del(a("HOST.HOME.", 10)))
        .run()
        .unwrap();
    let set = out.zone.rrset(&n("host.home."), Rtype::A).unwrap();
    assert_eq!(set.rdatas.len(), 2);
    assert!(out
        .zone
        .records()
        .any(|r| r.owner.to_string() == "host.home."));
}

/// The exchange a DHCP server makes (RFC 4703 §5.3): claim a free name,
/// then update it while it still holds our DHCID, and be told when another
/// client owns it.
#[test]
fn dhcp_ddns_exchange() {
    let dhcid = |id: u8| rec("pc.home.", Rtype::DHCID, Class::IN, 300, vec![0, 1, 1, id]);
    let key = n("dhcp.key.");
    let auth = policy();
    let first = upd()
        .pre(none("pc.home.", Rtype::ANY))
        .up(a("pc.home.", 50))
        .up(dhcid(1));
    let z1 = apply_update(&zone(), &first.0, &auth, Some(&key))
        .unwrap()
        .zone;
    assert_eq!(z1.serial(), 11);
    // Same request again: the name is in use now.
    let e = apply_update(&z1, &first.0, &auth, Some(&key)).unwrap_err();
    assert_eq!(e.rcode, Rcode::YXDOMAIN);
    // Renewal with a new address, guarded by our DHCID.
    let renew = upd()
        .pre(val(dhcid(1)))
        .up(any("pc.home.", Rtype::A))
        .up(a("pc.home.", 51));
    let out = apply_update(&z1, &renew.0, &auth, Some(&key)).unwrap();
    assert_eq!(out.zone.serial(), 12);
    assert_eq!((out.diff.removed.len(), out.diff.added.len()), (1, 1));
    // Another client's DHCID: NXRRSET, nothing changes.
    let other = upd().pre(val(dhcid(2))).up(any("pc.home.", Rtype::A));
    let e = apply_update(&z1, &other.0, &auth, Some(&key)).unwrap_err();
    assert_eq!(e.rcode, Rcode::NXRRSET);
}
