//! The UPDATE messages, section by section, after a round trip through
//! the wire format.

mod sim;

use sim::{binding, config, n};
use tandem_ddns::update::{build, Step};
use tandem_dns_wire::{Class, Message, Opcode, Record, Rtype};

fn parsed(step: Step) -> Message {
    let cfg = config();
    let b = binding(&cfg, 1, "laptop", 15);
    let zone = if step.is_forward() {
        n("home.")
    } else {
        n("0.168.192.in-addr.arpa.")
    };
    let u = build(step, &b, &zone).unwrap();
    Message::parse(&u.to_wire(77)).unwrap()
}

/// owner, type, class, ttl, rdata length for each record.
fn shape(rs: &[Record]) -> Vec<(String, Rtype, Class, u32, usize)> {
    rs.iter()
        .map(|r| (r.owner.to_string(), r.rtype, r.class, r.ttl, r.rdata.len()))
        .collect()
}

fn l(s: &str) -> String {
    s.to_string()
}

#[test]
fn claim() {
    let m = parsed(Step::Claim);
    assert_eq!(m.header.id, 77);
    assert_eq!(m.header.opcode, Opcode::UPDATE);
    let q = m.question().unwrap();
    assert_eq!(
        (q.name.to_string(), q.qtype, q.qclass),
        (l("home."), Rtype::SOA, Class::IN)
    );
    assert_eq!(
        shape(&m.answers),
        vec![(l("laptop.home."), Rtype::ANY, Class::NONE, 0, 0)]
    );
    assert_eq!(
        shape(&m.authority),
        vec![
            (l("laptop.home."), Rtype::A, Class::IN, 1800, 4),
            (l("laptop.home."), Rtype::DHCID, Class::IN, 1800, 35),
        ]
    );
    assert_eq!(&m.authority[0].rdata[..], &[192, 168, 0, 15]);
}

#[test]
fn take_over() {
    let m = parsed(Step::TakeOver);
    assert_eq!(
        shape(&m.answers),
        vec![(l("laptop.home."), Rtype::DHCID, Class::IN, 0, 35)]
    );
    assert_eq!(
        shape(&m.authority),
        vec![
            (l("laptop.home."), Rtype::A, Class::ANY, 0, 0),
            (l("laptop.home."), Rtype::A, Class::IN, 1800, 4),
        ]
    );
}

#[test]
fn release_and_guard() {
    let m = parsed(Step::Release);
    assert_eq!(
        shape(&m.answers),
        vec![(l("laptop.home."), Rtype::DHCID, Class::IN, 0, 35)]
    );
    assert_eq!(
        shape(&m.authority),
        vec![(l("laptop.home."), Rtype::A, Class::NONE, 0, 4)]
    );
    let m = parsed(Step::ReleaseGuard);
    assert_eq!(
        shape(&m.answers),
        vec![
            (l("laptop.home."), Rtype::A, Class::NONE, 0, 0),
            (l("laptop.home."), Rtype::AAAA, Class::NONE, 0, 0),
        ]
    );
    assert_eq!(
        shape(&m.authority),
        vec![(l("laptop.home."), Rtype::DHCID, Class::NONE, 0, 35)]
    );
}

#[test]
fn ptr() {
    let m = parsed(Step::SetPtr);
    let q = m.question().unwrap();
    assert_eq!(q.name.to_string(), "0.168.192.in-addr.arpa.");
    assert!(m.answers.is_empty());
    let rev = l("15.0.168.192.in-addr.arpa.");
    assert_eq!(
        shape(&m.authority),
        vec![
            (rev.clone(), Rtype::PTR, Class::ANY, 0, 0),
            (rev.clone(), Rtype::PTR, Class::IN, 1800, 13),
        ]
    );
    assert_eq!(&m.authority[1].rdata[..], n("laptop.home.").as_wire());
    let m = parsed(Step::ClearPtr);
    assert_eq!(
        shape(&m.authority),
        vec![(rev, Rtype::PTR, Class::NONE, 0, 13)]
    );
}

#[test]
fn overwrite() {
    let m = parsed(Step::Overwrite);
    assert!(m.answers.is_empty());
    assert_eq!(
        shape(&m.authority),
        vec![
            (l("laptop.home."), Rtype::DHCID, Class::ANY, 0, 0),
            (l("laptop.home."), Rtype::DHCID, Class::IN, 1800, 35),
            (l("laptop.home."), Rtype::A, Class::ANY, 0, 0),
            (l("laptop.home."), Rtype::A, Class::IN, 1800, 4),
        ]
    );
}
