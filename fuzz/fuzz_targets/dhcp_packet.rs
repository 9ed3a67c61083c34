//! Any bytes as a DHCP request: the parser must not panic, a parsed packet
//! must survive a write/parse round trip, and the engine must answer or
//! drop it without panicking, its reply encodable.
#![no_main]

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use tandem_dhcp::config::{ConflictDetection, DhcpConfig, Pool, Range, Subnet};
use tandem_dhcp::{Engine, Ingress};
use tandem_dhcp_wire::Packet;

fn engine() -> &'static Mutex<Engine> {
    static E: OnceLock<Mutex<Engine>> = OnceLock::new();
    E.get_or_init(|| {
        let mut c = DhcpConfig::new(vec!["eth0".into()]);
        c.conflict_detection = ConflictDetection::None;
        c.subnets.push(Subnet {
            network: Ipv4Addr::new(192, 168, 0, 0),
            prefix: 24,
            interface: None,
            pools: vec![Pool {
                ranges: vec![Range {
                    first: Ipv4Addr::new(192, 168, 0, 10),
                    last: Ipv4Addr::new(192, 168, 0, 20),
                }],
                exclude: vec![],
                options: Default::default(),
                times: Default::default(),
            }],
            options: Default::default(),
            times: Default::default(),
        });
        Mutex::new(Engine::new(Arc::new(c), Vec::new()))
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(p) = Packet::parse(data) else { return };
    let again = Packet::parse(&p.encode(65535).bytes).expect("own output must parse");
    for (c, v) in p.options.iter() {
        assert_eq!(again.options.get(c), Some(v));
    }
    let ingress = Ingress {
        interface: "eth0".into(),
        addrs: vec![(Ipv4Addr::new(192, 168, 0, 254), 24)],
    };
    let mut e = engine().lock().unwrap();
    let out = e.handle(&p, &ingress, 1_800_000_000);
    if let Some(r) = out.reply {
        let bytes = r.packet.encode(r.max_len).bytes;
        assert!(Packet::parse(&bytes).is_ok());
    }
    let _ = e.tick(1_800_000_000 + u64::from(p.xid % 100_000));
});
