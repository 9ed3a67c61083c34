//! Any bytes as a primary's answer stream to a secondary's AXFR or IXFR
//! request: the receiver must not panic, and whatever transfer it accepts
//! must keep its promises (the SOA first, every record in the zone, an
//! unbroken chain of serials from ours).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem_dns::xfrin::{request, Kind, Transfer};
use tandem_dns_wire::rdata::Soa;
use tandem_dns_wire::{Class, Name, Record, Rtype};

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    // First byte: the request; next two: the ID (so answers can pass the
    // ID check); then messages, each behind a 2-byte length as on TCP.
    let sel = data[0];
    let id = u16::from_be_bytes([data[1], data[2]]);
    let zone: Name = "home.".parse().unwrap();
    let ours = (sel >> 2) as u32;
    let soa = Soa {
        mname: "ns.home.".parse().unwrap(),
        rname: "h.home.".parse().unwrap(),
        serial: ours,
        refresh: 1,
        retry: 1,
        expire: 1,
        minimum: 1,
    };
    let soa = Record::new(zone.clone(), Rtype::SOA, Class::IN, 300, soa.to_rdata());
    let kind = if sel & 1 == 0 { Kind::Axfr } else { Kind::Ixfr };
    let current = (sel & 2 != 0).then_some(&soa);
    let mut rx = request(&zone, kind, current, id, None, 0).unwrap().receiver;
    let mut rest = &data[3..];
    while rest.len() >= 2 {
        let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
        let msg = &rest[2..(2 + len).min(rest.len())];
        rest = &rest[(2 + len).min(rest.len())..];
        match rx.feed(msg, 0) {
            Err(_) => return,
            Ok(None) => {}
            Ok(Some(t)) => {
                check(&zone, kind, current.map(|_| ours), t);
                assert!(rx.feed(msg, 0).is_err(), "nothing after the end");
                return;
            }
        }
    }
});

fn check(zone: &Name, kind: Kind, ours: Option<u32>, t: Transfer) {
    match t {
        Transfer::UpToDate { .. } => assert!(kind == Kind::Ixfr && ours.is_some()),
        Transfer::Full { records } => {
            assert_eq!(records[0].rtype, Rtype::SOA);
            assert_eq!(records.iter().filter(|r| r.rtype == Rtype::SOA).count(), 1);
            assert!(records.iter().all(|r| r.owner.is_subdomain_of(zone)));
        }
        Transfer::Incremental { diffs } => {
            let mut at = ours.expect("incremental only from a serial");
            assert!(!diffs.is_empty());
            for d in &diffs {
                assert_eq!(d.from_serial, at);
                at = d.to_serial;
                assert!(d
                    .removed
                    .iter()
                    .chain(&d.added)
                    .all(|r| r.rtype != Rtype::SOA && r.owner.is_subdomain_of(zone)));
            }
        }
    }
}
