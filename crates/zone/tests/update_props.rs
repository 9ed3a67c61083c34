//! Property tests for RFC 2136 updates: the diff replays to the new zone,
//! adds and deletes agree with a plain set model, and no message panics.

use std::collections::BTreeMap;

use bytes::Bytes;
use proptest::prelude::*;
use tandem_dns_wire::rdata::Soa;
use tandem_dns_wire::{Class, Header, Message, Name, Opcode, Question, Record, Rtype};
use tandem_zone::{
    apply_update, AllowAll, MatchKind, PolicyRule, UpdateOutcome, UpdatePolicy, Zone,
};

fn n(s: &str) -> Name {
    s.parse().unwrap()
}

fn base_zone(extra: Vec<Record>) -> Zone {
    let soa = Soa {
        mname: n("ns1.home."),
        rname: n("hostmaster.home."),
        serial: 100,
        refresh: 3600,
        retry: 600,
        expire: 86400,
        minimum: 300,
    };
    let mut recs = vec![
        Record::new(n("home."), Rtype::SOA, Class::IN, 3600, soa.to_rdata()),
        Record::new(
            n("home."),
            Rtype::NS,
            Class::IN,
            3600,
            n("ns1.home.").to_bytes(),
        ),
        Record::new(
            n("home."),
            Rtype::NS,
            Class::IN,
            3600,
            n("ns2.home.").to_bytes(),
        ),
    ];
    recs.extend(extra);
    Zone::from_records(n("home."), Class::IN, recs).unwrap().0
}

fn update(prereqs: Vec<Record>, updates: Vec<Record>) -> Message {
    Message {
        header: Header {
            opcode: Opcode::UPDATE,
            ..Header::default()
        },
        questions: vec![Question {
            name: n("home."),
            qtype: Rtype::SOA,
            qclass: Class::IN,
        }],
        answers: prereqs,
        authority: updates,
        ..Default::default()
    }
}

fn dump(z: &Zone) -> Vec<String> {
    z.records().map(|r| r.to_string()).collect()
}

/// Invariants every accepted update meets.
fn check_outcome(old: &Zone, out: &UpdateOutcome) -> Result<(), TestCaseError> {
    let mut replayed = old.clone();
    replayed.apply(&out.diff);
    // Records other than the SOA replay exactly (order and TTLs included).
    let strip = |z: &Zone| dump(z).into_iter().skip(1).collect::<Vec<_>>();
    prop_assert_eq!(strip(&replayed), strip(&out.zone));
    prop_assert_eq!(replayed.serial(), out.zone.serial());
    prop_assert_eq!(out.diff.from_serial, old.serial());
    prop_assert_eq!(out.diff.to_serial, out.zone.serial());
    prop_assert!(out.zone.check().is_ok(), "{:?}", out.zone.check());
    if out.changed() {
        prop_assert!(out.diff.to_serial != out.diff.from_serial);
    } else {
        prop_assert_eq!(dump(&out.zone), dump(old));
    }
    strict_replay(old, out)?;
    // The diff is net: no record is both removed and added with one TTL,
    // removed records were in the old zone and added ones are in the new.
    for r in &out.diff.removed {
        prop_assert!(
            !out.diff
                .added
                .iter()
                .any(|a| a.same_rr(r) && a.ttl == r.ttl),
            "{} both removed and added",
            r
        );
        prop_assert!(contains(old, r), "removed {} not in old zone", r);
        prop_assert!(r.rtype != Rtype::SOA);
    }
    for r in &out.diff.added {
        prop_assert!(contains(&out.zone, r), "added {} not in new zone", r);
        prop_assert!(r.rtype != Rtype::SOA);
    }
    Ok(())
}

/// Replays the diff as IXFR means it: each removed record must be present
/// with exactly its TTL, and afterwards every RRset must have one TTL (so a
/// TTL change has to remove the whole RRset and add it back).
fn strict_replay(old: &Zone, out: &UpdateOutcome) -> Result<(), TestCaseError> {
    let line = |r: &Record| {
        format!(
            "{} {} {} {:?}",
            r.owner.to_string().to_ascii_lowercase(),
            r.rtype.to_int(),
            r.ttl,
            tandem_dns_wire::rdata::canonical(r.rtype, &r.rdata)
        )
    };
    let mut set: std::collections::BTreeSet<String> =
        old.records().skip(1).map(|r| line(&r)).collect();
    for r in &out.diff.removed {
        prop_assert!(set.remove(&line(r)), "removed {} is not in the old zone", r);
    }
    for r in &out.diff.added {
        prop_assert!(set.insert(line(r)), "added {} is already there", r);
    }
    let want: std::collections::BTreeSet<String> =
        out.zone.records().skip(1).map(|r| line(&r)).collect();
    prop_assert_eq!(&set, &want);
    let mut ttls: BTreeMap<(String, String), String> = BTreeMap::new();
    for l in &set {
        let f: Vec<&str> = l.splitn(4, ' ').collect();
        let k = (f[0].to_string(), f[1].to_string());
        let prev = ttls.insert(k, f[2].to_string());
        prop_assert!(
            prev.is_none_or(|p| p == f[2]),
            "mixed TTLs after replay: {}",
            l
        );
    }
    Ok(())
}

fn contains(z: &Zone, r: &Record) -> bool {
    z.rrset(&r.owner, r.rtype).is_some_and(|s| {
        s.ttl == r.ttl
            && s.rdatas.iter().any(|d| {
                Record {
                    rdata: d.clone(),
                    ..r.clone()
                }
                .same_rr(r)
            })
    })
}

// ---- differential test against a set model (A and TXT, no special rules) ----

#[derive(Clone, Debug)]
enum Op {
    Add(usize, bool, u8, u32),
    DelSet(usize, bool),
    DelName(usize),
    DelRr(usize, bool, u8),
}

const NAMES: [&str; 4] = ["a.home.", "B.home.", "b.HOME.", "c.a.home."];

fn rtype(txt: bool) -> Rtype {
    if txt {
        Rtype::TXT
    } else {
        Rtype::A
    }
}

fn data(txt: bool, v: u8) -> Vec<u8> {
    if txt {
        vec![1, b'a' + v]
    } else {
        vec![10, 0, 0, v]
    }
}

fn op_record(op: &Op) -> Record {
    match *op {
        Op::Add(i, t, v, ttl) => Record::new(n(NAMES[i]), rtype(t), Class::IN, ttl, data(t, v)),
        Op::DelSet(i, t) => Record::new(n(NAMES[i]), rtype(t), Class::ANY, 0, Bytes::new()),
        Op::DelName(i) => Record::new(n(NAMES[i]), Rtype::ANY, Class::ANY, 0, Bytes::new()),
        Op::DelRr(i, t, v) => Record::new(n(NAMES[i]), rtype(t), Class::NONE, 0, data(t, v)),
    }
}

type Model = BTreeMap<(String, u16), (u32, Vec<Vec<u8>>)>;

fn key(i: usize, t: bool) -> (String, u16) {
    (NAMES[i].to_ascii_lowercase(), rtype(t).to_int())
}

fn model_apply(m: &mut Model, op: &Op) {
    match *op {
        Op::Add(i, t, v, ttl) => {
            let e = m.entry(key(i, t)).or_insert((ttl, Vec::new()));
            e.0 = ttl;
            if !e.1.contains(&data(t, v)) {
                e.1.push(data(t, v));
            }
        }
        Op::DelSet(i, t) => {
            m.remove(&key(i, t));
        }
        Op::DelName(i) => {
            let name = NAMES[i].to_ascii_lowercase();
            m.retain(|k, _| k.0 != name);
        }
        Op::DelRr(i, t, v) => {
            if let Some(e) = m.get_mut(&key(i, t)) {
                e.1.retain(|d| *d != data(t, v));
                if e.1.is_empty() {
                    m.remove(&key(i, t));
                }
            }
        }
    }
}

/// The model as sorted "name type ttl data" lines.
fn model_lines(m: &Model) -> Vec<String> {
    let mut out: Vec<String> = m
        .iter()
        .flat_map(|((name, t), (ttl, ds))| {
            ds.iter().map(move |d| format!("{name} {t} {ttl} {d:?}"))
        })
        .collect();
    out.sort();
    out
}

fn zone_lines(z: &Zone) -> Vec<String> {
    let mut out: Vec<String> = z
        .records()
        .filter(|r| r.owner != n("home."))
        .map(|r| {
            format!(
                "{} {} {} {:?}",
                r.owner.to_string().to_ascii_lowercase(),
                r.rtype.to_int(),
                r.ttl,
                r.rdata.to_vec()
            )
        })
        .collect();
    out.sort();
    out
}

fn arb_op() -> impl Strategy<Value = Op> {
    let i = 0..NAMES.len();
    let v = 0u8..3;
    let ttl = prop_oneof![Just(300u32), Just(600u32)];
    prop_oneof![
        4 => (i.clone(), any::<bool>(), v.clone(), ttl).prop_map(|(i, t, v, ttl)| Op::Add(i, t, v, ttl)),
        1 => (i.clone(), any::<bool>()).prop_map(|(i, t)| Op::DelSet(i, t)),
        1 => i.clone().prop_map(Op::DelName),
        2 => (i, any::<bool>(), v).prop_map(|(i, t, v)| Op::DelRr(i, t, v)),
    ]
}

proptest! {
    #[test]
    fn adds_and_deletes_match_a_set_model_and_the_diff_replays(
        initial in proptest::collection::vec(arb_op(), 0..8),
        ops in proptest::collection::vec(arb_op(), 1..10),
    ) {
        // The initial zone: the adds of `initial`, applied through the model
        // so that TTLs within an RRset agree.
        let mut model = Model::new();
        for op in initial.iter().filter(|o| matches!(o, Op::Add(..))) {
            model_apply(&mut model, op);
        }
        let extra: Vec<Record> = model
            .iter()
            .flat_map(|((name, t), (ttl, ds))| {
                ds.iter().map(move |d| Record::new(n(name), Rtype::from_int(*t), Class::IN, *ttl, d.clone()))
            })
            .collect();
        let old = base_zone(extra);
        let before = model.clone();
        let msg = update(vec![], ops.iter().map(op_record).collect());
        let out = apply_update(&old, &msg, &AllowAll, None).unwrap();
        for op in &ops {
            model_apply(&mut model, op);
        }
        prop_assert_eq!(zone_lines(&out.zone), model_lines(&model));
        prop_assert_eq!(out.changed(), model_lines(&model) != model_lines(&before));
        if out.changed() {
            prop_assert_eq!(out.diff.to_serial, 101);
        }
        check_outcome(&old, &out)?;
    }
}

// ---- the special rules: invariants only ----

fn special_record() -> impl Strategy<Value = Record> {
    let names = prop_oneof![
        Just("home."),
        Just("a.home."),
        Just("b.home."),
        Just("sub.home."),
    ];
    let add = (
        names.clone(),
        0u8..6,
        0u8..3,
        prop_oneof![Just(300u32), Just(900u32)],
    )
        .prop_map(|(name, kind, v, ttl)| {
            let target = ["ns1.home.", "ns2.home.", "a.home."][v as usize];
            let (t, d): (Rtype, Bytes) = match kind {
                0 => (Rtype::A, vec![10, 0, 0, v].into()),
                1 => (Rtype::CNAME, n(target).to_bytes()),
                2 => (Rtype::NS, n(target).to_bytes()),
                3 => (Rtype::TXT, vec![1, b'a' + v].into()),
                4 => (
                    Rtype::NSEC,
                    [n(target).as_wire(), &[0, 1, 0x40]].concat().into(),
                ),
                _ => {
                    let soa = Soa {
                        mname: n(target),
                        rname: n("hostmaster.home."),
                        serial: [99u32, 100, 150][v as usize],
                        refresh: 1,
                        retry: 2,
                        expire: 3,
                        minimum: 4,
                    };
                    (Rtype::SOA, soa.to_rdata())
                }
            };
            Record::new(n(name), t, Class::IN, ttl, d)
        });
    let types = prop_oneof![
        Just(Rtype::A),
        Just(Rtype::CNAME),
        Just(Rtype::NS),
        Just(Rtype::SOA),
        Just(Rtype::ANY)
    ];
    let del_set = (names.clone(), types)
        .prop_map(|(name, t)| Record::new(n(name), t, Class::ANY, 0, Bytes::new()));
    let del_rr = add.clone().prop_map(|r| Record {
        class: Class::NONE,
        ttl: 0,
        ..r
    });
    prop_oneof![3 => add, 1 => del_set, 2 => del_rr]
}

proptest! {
    #[test]
    fn special_rules_keep_the_zone_valid_and_the_diff_exact(
        setup in proptest::collection::vec(special_record(), 0..8),
        updates in proptest::collection::vec(special_record(), 1..10),
    ) {
        // Build the starting zone with an update, so it is valid too.
        let empty = base_zone(vec![]);
        let old = apply_update(&empty, &update(vec![], setup), &AllowAll, None).unwrap().zone;
        let out = apply_update(&old, &update(vec![], updates), &AllowAll, None).unwrap();
        check_outcome(&old, &out)?;
        prop_assert!(out.zone.rrset(&n("home."), Rtype::NS).is_some());
    }
}

// ---- arbitrary messages ----

fn arb_name() -> impl Strategy<Value = Name> {
    prop_oneof![
        Just(n("home.")),
        Just(n("a.home.")),
        Just(n("B.a.home.")),
        Just(n("sub.home.")),
        Just(n("other.")),
        Just(Name::root()),
    ]
}

fn arb_rtype() -> impl Strategy<Value = Rtype> {
    prop_oneof![
        Just(Rtype::A),
        Just(Rtype::AAAA),
        Just(Rtype::NS),
        Just(Rtype::CNAME),
        Just(Rtype::SOA),
        Just(Rtype::MX),
        Just(Rtype::TXT),
        Just(Rtype::WKS),
        Just(Rtype::ANY),
        Just(Rtype::AXFR),
        Just(Rtype::OPT),
        any::<u16>().prop_map(Rtype::from_int),
    ]
}

fn arb_class() -> impl Strategy<Value = Class> {
    prop_oneof![
        4 => Just(Class::IN),
        2 => Just(Class::ANY),
        2 => Just(Class::NONE),
        1 => Just(Class::CH),
        1 => any::<u16>().prop_map(Class::from_int),
    ]
}

fn arb_rdata() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        Just(Bytes::new()),
        proptest::collection::vec(any::<u8>(), 0..24).prop_map(Bytes::from),
        arb_name().prop_map(|n| n.to_bytes()),
        Just(Bytes::from(vec![10, 0, 0, 1])),
    ]
}

fn arb_record() -> impl Strategy<Value = Record> {
    (
        arb_name(),
        arb_rtype(),
        arb_class(),
        prop_oneof![Just(0u32), any::<u32>()],
        arb_rdata(),
    )
        .prop_map(|(owner, t, c, ttl, d)| Record::new(owner, t, c, ttl, d))
}

fn arb_message() -> impl Strategy<Value = Message> {
    let question =
        (arb_name(), arb_rtype(), arb_class()).prop_map(|(name, qtype, qclass)| Question {
            name,
            qtype,
            qclass,
        });
    let zone_q = Just(Question {
        name: n("home."),
        qtype: Rtype::SOA,
        qclass: Class::IN,
    });
    (
        prop_oneof![
            3 => zone_q.prop_map(|q| vec![q]),
            1 => proptest::collection::vec(question, 0..3),
        ],
        proptest::collection::vec(arb_record(), 0..4),
        proptest::collection::vec(arb_record(), 0..8),
    )
        .prop_map(|(questions, answers, authority)| Message {
            header: Header {
                opcode: Opcode::UPDATE,
                ..Header::default()
            },
            questions,
            answers,
            authority,
            ..Default::default()
        })
}

proptest! {
    #[test]
    fn arbitrary_messages_never_panic(msg in arb_message()) {
        let old = base_zone(vec![
            Record::new(n("a.home."), Rtype::A, Class::IN, 300, vec![10, 0, 0, 1]),
            Record::new(n("sub.home."), Rtype::NS, Class::IN, 300, n("ns.other.").to_bytes()),
        ]);
        if let Ok(out) = apply_update(&old, &msg, &AllowAll, None) {
            check_outcome(&old, &out)?;
        }
        let policy = UpdatePolicy {
            rules: vec![PolicyRule {
                grant: true,
                key: n("k."),
                kind: MatchKind::Wildcard,
                name: Some(n("*.home.")),
                types: vec![],
            }],
        };
        let _ = apply_update(&old, &msg, &policy, Some(&n("k.")));
        // And through the wire format, where it can be encoded.
        if let Ok(parsed) = Message::parse(&msg.to_wire()) {
            let _ = apply_update(&old, &parsed, &AllowAll, None);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 12..200)) {
        let old = base_zone(vec![]);
        if let Ok(msg) = Message::parse(&bytes) {
            if let Ok(out) = apply_update(&old, &msg, &AllowAll, None) {
                check_outcome(&old, &out)?;
            }
        }
    }
}
