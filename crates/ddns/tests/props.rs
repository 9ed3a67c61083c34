//! Properties: option 81 parsing never panics and round-trips; sanitised
//! labels are always host labels; and random lease histories against a
//! real RFC 2136 implementation never let a client take another's name,
//! never touch the zone file's records, and leave DNS as it was once
//! every lease is gone.

mod sim;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use proptest::prelude::*;
use sim::{binding, config, Dns};
use tandem_ddns::fqdn::ClientFqdn;
use tandem_ddns::names::sanitize_label;
use tandem_ddns::{Job, Part, Published};
use tandem_dns_wire::Rtype;

fn is_host_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

proptest! {
    #[test]
    fn fqdn_parse_never_panics_and_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(f) = ClientFqdn::parse(&bytes) {
            let again = ClientFqdn::parse(&f.encode()).expect("what we encode parses");
            prop_assert_eq!(again, f);
        }
    }

    #[test]
    fn wire_names_round_trip(
        flags in any::<u8>(),
        labels in proptest::collection::vec("[a-zA-Z0-9-]{1,20}", 0..5),
        absolute in any::<bool>(),
    ) {
        let f = ClientFqdn {
            flags: flags | tandem_ddns::fqdn::FLAG_E,
            rcode1: 0,
            rcode2: 0,
            labels: labels.iter().map(|l| l.as_bytes().to_vec()).collect(),
            absolute: absolute && !labels.is_empty(),
        };
        prop_assert_eq!(ClientFqdn::parse(&f.encode()).unwrap(), f);
    }

    #[test]
    fn sanitised_labels_are_host_labels(raw in proptest::collection::vec(any::<u8>(), 0..100)) {
        if let Some(l) = sanitize_label(&raw) {
            prop_assert!(is_host_label(&l), "{:?}", l);
        }
    }

    #[test]
    fn histories_never_steal_and_clean_up(events in proptest::collection::vec((0u8..4, 0u8..4, any::<bool>()), 1..40)) {
        history(&events)?;
    }
}

/// Four clients (0..4) want names from {laptop, phone, nas}: nas is the
/// zone file's. Each event leases address 20+a to client c (or, with
/// `release`, releases that address).
fn history(events: &[(u8, u8, bool)]) -> Result<(), TestCaseError> {
    const NAMES: [&str; 4] = ["laptop", "phone", "laptop", "nas"];
    let cfg = config();
    let mut dns = Dns::new();
    let pristine = dns.dump();
    let nas = dns.a("nas.home.");
    let mut leases: BTreeMap<u8, u8> = BTreeMap::new(); // addr -> client
    let mut have: BTreeMap<Ipv4Addr, Published> = BTreeMap::new();
    let addr = |a: u8| Ipv4Addr::new(192, 168, 0, 20 + a);
    let run = |dns: &mut Dns,
               have: &mut BTreeMap<Ipv4Addr, Published>,
               a: u8,
               want: Option<tandem_ddns::Binding>| {
        let ip = addr(a);
        if let Some(job) = Job::new(have.get(&ip), want.as_ref(), true, false, true) {
            match dns.run(&cfg, job).0 {
                Some(p) => have.insert(ip, p),
                None => have.remove(&ip),
            };
        }
    };
    for &(c, a, release) in events {
        if release {
            if leases.remove(&a).is_some() {
                run(&mut dns, &mut have, a, None);
            }
            continue;
        }
        if leases.get(&a).is_some_and(|&holder| holder != c) {
            continue; // the engine would not give it
        }
        // A client holds one address: its old one is released first.
        if let Some((&old, _)) = leases.iter().find(|(&x, &h)| h == c && x != a) {
            leases.remove(&old);
            run(&mut dns, &mut have, old, None);
        }
        leases.insert(a, c);
        let b = binding(&cfg, c, NAMES[usize::from(c)], 20 + a);
        run(&mut dns, &mut have, a, Some(b));
        // Invariants after every event.
        prop_assert_eq!(dns.a("nas.home."), nas.clone());
        for p in have.values() {
            if p.forward == Part::Present {
                // A name we hold carries our guard and our address.
                let guards = dns.rdatas(&p.binding.fqdn.to_string(), Rtype::DHCID);
                prop_assert_eq!(
                    guards,
                    vec![bytes::Bytes::from(p.binding.guard.rdata.clone())]
                );
                prop_assert!(dns.a(&p.binding.fqdn.to_string()).contains(&p.binding.addr));
            }
        }
        // Two clients never both hold one name.
        let mut holders: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for p in have.values().filter(|p| p.forward == Part::Present) {
            holders
                .entry(p.binding.fqdn.to_string())
                .or_default()
                .push(p.binding.guard.rdata[3]);
        }
        for (name, guards) in holders {
            prop_assert!(
                guards.windows(2).all(|w| w[0] == w[1]),
                "{} held by two clients",
                name
            );
        }
    }
    for a in leases.keys().copied().collect::<Vec<_>>() {
        run(&mut dns, &mut have, a, None);
    }
    prop_assert_eq!(dns.dump(), pristine);
    Ok(())
}
