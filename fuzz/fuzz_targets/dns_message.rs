//! Any bytes as a DNS request: the parser must not panic, a parsed message
//! must survive a write/parse round trip, the server core must answer or
//! drop without panicking, and an answer the UDP cache gives back must be
//! the full path's, byte for byte.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use tandem_dns::cache::UdpCache;
use tandem_dns::{Catalog, Outcome, Settings, Source, Transport, ZoneEntry, ZonePolicy};
use tandem_dns_wire::{Message, Name};

const ZONE: &str = "$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 300\n@ NS ns\nns A 192.0.2.1\nwww CNAME ns\n*.w TXT \"x\"\nsub NS ns.sub\nns.sub A 192.0.2.2\n@ MX 10 ns\n";

fn catalog() -> &'static Arc<Catalog> {
    static C: OnceLock<Arc<Catalog>> = OnceLock::new();
    C.get_or_init(|| {
        let origin: Name = "fuzz.".parse().unwrap();
        let zone = tandem_zone::file::zone_from_str(&origin, ZONE).unwrap();
        let mut c = Catalog::new();
        c.insert(ZoneEntry {
            zone: Arc::new(zone),
            policy: Arc::new(ZonePolicy::default()),
        });
        Arc::new(c)
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::parse(data) {
        let wire = m.to_wire();
        let again = Message::parse(&wire).expect("our own output parses");
        assert_eq!(again.questions, m.questions);
        assert_eq!(again.answers, m.answers);
        assert_eq!(again.authority, m.authority);
        assert_eq!(again.additional, m.additional);
    }
    for transport in [Transport::Udp, Transport::Tcp] {
        let source = Source {
            addr: "127.0.0.1".parse().unwrap(),
            transport,
        };
        let _ = tandem_dns::handle(catalog(), &Settings::default(), data, source, 1_800_000_000);
    }
    let udp = Source {
        addr: "127.0.0.1".parse().unwrap(),
        transport: Transport::Udp,
    };
    let settings = Settings::default();
    let cache = UdpCache::with_budget(16 * 1024);
    let now = 1_800_000_000;
    let full = tandem_dns::handle(catalog(), &settings, data, udp, now);
    let _ = cache.handle(catalog(), &settings, data, udp, now);
    let again = cache.handle(catalog(), &settings, data, udp, now);
    if let (Outcome::Reply(a), Outcome::Reply(b)) = (&full, &again) {
        assert_eq!(a, b, "a cached answer differs from the full path's");
    }
});
