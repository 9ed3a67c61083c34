//! Properties of the codec: what is written reads back the same, any bytes
//! read without a panic, and option values survive text → wire → text.

use std::net::Ipv4Addr;

use proptest::prelude::*;
use tandem_dhcp_wire::options::decode_routes;
use tandem_dhcp_wire::{Kind, Options, Packet, Route};

fn text_field(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(1u8..=255, 0..max)
}

fn options() -> impl Strategy<Value = Options> {
    // Codes 0, 52 and 255 are the codec's own.
    let code = (1u8..=254).prop_filter("overload is the codec's", |c| *c != 52);
    proptest::collection::vec(
        (code, proptest::collection::vec(any::<u8>(), 0..300)),
        0..12,
    )
    .prop_map(|items| items.into_iter().collect())
}

prop_compose! {
    fn packet()(
        op in 1u8..=2, htype in any::<u8>(), hlen in 0u8..=16, hops in any::<u8>(),
        xid in any::<u32>(), secs in any::<u16>(), flags in any::<u16>(),
        addrs in any::<[u32; 4]>(), chaddr in any::<[u8; 16]>(),
        sname in text_field(64), file in text_field(128), options in options(),
    ) -> Packet {
        Packet {
            op, htype, hlen, hops, xid, secs, flags,
            ciaddr: Ipv4Addr::from(addrs[0]),
            yiaddr: Ipv4Addr::from(addrs[1]),
            siaddr: Ipv4Addr::from(addrs[2]),
            giaddr: Ipv4Addr::from(addrs[3]),
            chaddr, sname, file, options,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn written_packets_read_back(p in packet(), max in 548usize..9000) {
        let enc = p.encode(max);
        prop_assert!(enc.bytes.len() <= max.max(548));
        let q = Packet::parse(&enc.bytes).unwrap();
        prop_assert_eq!(
            (q.op, q.htype, q.hlen, q.xid, q.flags, q.ciaddr, q.yiaddr, q.giaddr, q.chaddr),
            (p.op, p.htype, p.hlen, p.xid, p.flags, p.ciaddr, p.yiaddr, p.giaddr, p.chaddr)
        );
        // The sname/file text survives unless the field carried options.
        prop_assert!(q.sname.is_empty() || q.sname == p.sname[..p.sname.len().min(63)]);
        prop_assert!(q.file.is_empty() || q.file == p.file[..p.file.len().min(127)]);
        for (c, v) in p.options.iter() {
            if enc.dropped.contains(&c) {
                prop_assert!(q.options.get(c).is_none());
            } else {
                prop_assert_eq!(q.options.get(c), Some(v), "option {}", c);
            }
        }
        prop_assert_eq!(q.options.len() + enc.dropped.len(), p.options.len());
    }

    #[test]
    fn any_bytes_parse_or_fail_cleanly(
        mut bytes in proptest::collection::vec(any::<u8>(), 0..1500),
        cookie in any::<bool>(),
    ) {
        if cookie && bytes.len() >= 240 {
            bytes[236..240].copy_from_slice(&[99, 130, 83, 99]);
        }
        if let Ok(p) = Packet::parse(&bytes) {
            // What was read can be written and reads back the same options.
            let again = Packet::parse(&p.encode(65535).bytes).unwrap();
            for (c, v) in p.options.iter() {
                prop_assert_eq!(again.options.get(c), Some(v));
            }
        }
    }

    #[test]
    fn option_text_never_panics(words in proptest::collection::vec(".{0,40}", 0..4)) {
        for k in Kind::ALL {
            if let Ok(bytes) = k.parse(&words) {
                let _ = k.format(&bytes);
            }
            let _ = k.format(words.concat().as_bytes());
        }
    }

    #[test]
    fn routes_round_trip(
        routes in proptest::collection::vec((any::<u32>(), 0u8..=32, any::<u32>()), 1..8),
    ) {
        let routes: Vec<Route> = routes
            .into_iter()
            .map(|(d, prefix, g)| Route {
                dest: Ipv4Addr::from(d & tandem_dhcp_wire::options::prefix_mask(prefix)),
                prefix,
                gateway: Ipv4Addr::from(g),
            })
            .collect();
        let text: Vec<String> = routes.iter().map(Route::to_string).collect();
        let wire = Kind::Routes.parse(&text).unwrap();
        prop_assert_eq!(decode_routes(&wire).unwrap(), routes);
        let shown = Kind::Routes.format(&wire);
        let back: Vec<String> = shown.split(", ").map(str::to_string).collect();
        prop_assert_eq!(Kind::Routes.parse(&back).unwrap(), wire);
    }

    #[test]
    fn typed_values_round_trip(
        ips in proptest::collection::vec(any::<u32>(), 1..10),
        n in any::<u32>(),
        m in any::<u16>(),
    ) {
        let text: Vec<String> = ips.iter().map(|i| Ipv4Addr::from(*i).to_string()).collect();
        let wire = Kind::IpList.parse(&text).unwrap();
        prop_assert_eq!(Kind::IpList.parse(&[Kind::IpList.format(&wire)]).unwrap(), wire);
        let w = Kind::U32.parse(&[n.to_string()]).unwrap();
        prop_assert_eq!(Kind::U32.format(&w), n.to_string());
        let w = Kind::U16List.parse(&[m.to_string(), "7".into()]).unwrap();
        prop_assert_eq!(Kind::U16List.format(&w), format!("{m}, 7"));
    }
}
