//! The engine against RFC 2131's exchanges, with no sockets and no clock.

use std::net::Ipv4Addr;
use std::sync::Arc;

use tandem_dhcp::config::{
    Class, ClassMatch, ConflictDetection, DhcpConfig, Host, OptionSet, Pool, Range, Subnet,
    TimesOverride,
};
use tandem_dhcp::{BindingState, Destination, Engine, HwAddr, Ingress};
use tandem_dhcp_wire::packet::FLAG_BROADCAST;
use tandem_dhcp_wire::{code, Kind, MessageType, Packet};

const NOW: u64 = 1_800_000_000;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn words(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn config() -> DhcpConfig {
    let mut c = DhcpConfig::new(vec!["eth0".into()]);
    c.conflict_detection = ConflictDetection::None;
    c.options.set(
        code::DNS_SERVERS,
        Kind::IpList
            .parse(&words(&["192.168.0.254, 192.168.0.253"]))
            .unwrap(),
    );
    c.options.set(code::DOMAIN_NAME, b"home".to_vec());
    let mut subnet_opts = OptionSet::default();
    subnet_opts.set(code::ROUTERS, ip("192.168.0.1").octets().to_vec());
    subnet_opts.set(
        code::CLASSLESS_ROUTES,
        Kind::Routes
            .parse(&words(&["10.8.0.0/24 via 192.168.0.2"]))
            .unwrap(),
    );
    c.subnets.push(Subnet {
        network: ip("192.168.0.0"),
        prefix: 24,
        interface: None,
        pools: vec![Pool {
            ranges: vec![Range {
                first: ip("192.168.0.15"),
                last: ip("192.168.0.20"),
            }],
            exclude: vec![Range {
                first: ip("192.168.0.16"),
                last: ip("192.168.0.16"),
            }],
            options: OptionSet::default(),
            times: TimesOverride::default(),
        }],
        options: subnet_opts,
        times: TimesOverride::default(),
    });
    c.subnets.push(Subnet {
        network: ip("192.168.1.0"),
        prefix: 24,
        interface: None,
        pools: vec![Pool {
            ranges: vec![Range {
                first: ip("192.168.1.100"),
                last: ip("192.168.1.110"),
            }],
            exclude: vec![],
            options: OptionSet::default(),
            times: TimesOverride::default(),
        }],
        options: OptionSet::default(),
        times: TimesOverride::default(),
    });
    let mut host_opts = OptionSet::default();
    host_opts.set(code::DOMAIN_NAME, b"printers.home".to_vec());
    c.hosts.push(Host {
        name: "printer".into(),
        hw: Some(HwAddr::ethernet([0, 0x11, 0x22, 0x33, 0x44, 0x55])),
        client_id: None,
        fixed_address: Some(ip("192.168.0.10")),
        hostname: Some("printer".into()),
        options: host_opts,
        times: TimesOverride {
            default: Some(7200),
            ..Default::default()
        },
    });
    let mut class_opts = OptionSet::default();
    class_opts.set(252, b"http://wpad.home/wpad.dat".to_vec());
    c.classes.push(Class {
        name: "windows".into(),
        matches: ClassMatch::VendorClassPrefix(b"MSFT".to_vec()),
        options: class_opts,
    });
    c
}

fn engine() -> Engine {
    Engine::new(Arc::new(config()), Vec::new())
}

fn eth0() -> Ingress {
    Ingress {
        interface: "eth0".into(),
        addrs: vec![(ip("192.168.0.254"), 24)],
    }
}

fn mac(n: u8) -> [u8; 6] {
    [0x02, 0, 0, 0, 0, n]
}

fn packet(mt: MessageType, hw: [u8; 6]) -> Packet {
    let mut p = Packet::client_request(mt, hw, 42);
    p.options
        .set(code::PARAMETER_REQUEST_LIST, vec![1, 121, 3, 6, 15, 12]);
    p
}

fn request_selecting(hw: [u8; 6], addr: Ipv4Addr) -> Packet {
    let mut p = packet(MessageType::Request, hw);
    p.options
        .set(code::SERVER_ID, ip("192.168.0.254").octets().to_vec());
    p.options
        .set(code::REQUESTED_ADDRESS, addr.octets().to_vec());
    p
}

/// DISCOVER then REQUEST; returns the acknowledged address.
fn dora(e: &mut Engine, hw: [u8; 6], now: u64) -> Ipv4Addr {
    let offer = e.handle(&packet(MessageType::Discover, hw), &eth0(), now);
    let offer = offer.reply.expect("an offer");
    assert_eq!(offer.message_type(), Some(MessageType::Offer));
    let addr = offer.packet.yiaddr;
    let ack = e.handle(&request_selecting(hw, addr), &eth0(), now);
    assert_eq!(
        ack.changes.last().unwrap().addr,
        addr,
        "the lease is committed"
    );
    let reply = ack.reply.expect("an ack");
    assert_eq!(reply.message_type(), Some(MessageType::Ack));
    addr
}

#[test]
fn discover_offer_request_ack() {
    let mut e = engine();
    let out = e.handle(&packet(MessageType::Discover, mac(1)), &eth0(), NOW);
    assert!(out.changes.is_empty(), "an offer is not a lease");
    let r = out.reply.unwrap();
    assert_eq!(r.packet.yiaddr, ip("192.168.0.15"));
    assert_eq!(
        r.dest,
        Destination::UnicastHw {
            ip: ip("192.168.0.15"),
            hw: mac(1)
        }
    );
    let codes: Vec<u8> = r.packet.options.iter().map(|(c, _)| c).collect();
    // 53, 54, lease times, then the request list in the client's order.
    assert_eq!(codes, vec![53, 54, 51, 58, 59, 1, 121, 3, 6, 15]);
    assert_eq!(r.packet.options.u32(code::LEASE_TIME), Some(43200));
    assert_eq!(r.packet.options.u32(code::RENEWAL_TIME), Some(21600));
    assert_eq!(r.packet.options.u32(code::REBINDING_TIME), Some(37800));
    assert_eq!(
        r.packet.options.ip(code::SUBNET_MASK),
        Some(ip("255.255.255.0"))
    );
    assert_eq!(
        r.packet.options.get(code::CLASSLESS_ROUTES),
        Some(&[24, 10, 8, 0, 192, 168, 0, 2][..])
    );

    let ack = e.handle(&request_selecting(mac(1), ip("192.168.0.15")), &eth0(), NOW);
    let lease = &ack.changes[0];
    assert_eq!(lease.state, BindingState::Active);
    assert_eq!(lease.end, NOW + 43200);
    assert_eq!(lease.hw, Some(HwAddr::ethernet(mac(1))));
    assert_eq!(ack.reply.unwrap().message_type(), Some(MessageType::Ack));
    assert!(ack.log.iter().any(|l| l
        .text
        .starts_with("DHCPACK on 192.168.0.15 to 02:00:00:00:00:01 via eth0")));
}

#[test]
fn exclusions_and_exhaustion() {
    let mut e = engine();
    let got: Vec<Ipv4Addr> = (1..=5).map(|n| dora(&mut e, mac(n), NOW)).collect();
    assert!(!got.contains(&ip("192.168.0.16")), "{got:?}");
    assert_eq!(got.len(), 5);
    let out = e.handle(&packet(MessageType::Discover, mac(9)), &eth0(), NOW);
    assert!(out.reply.is_none());
    assert!(out.log.iter().any(|l| l.text.contains("no free leases")));
}

#[test]
fn returning_client_gets_its_address_back() {
    let mut e = engine();
    let first = dora(&mut e, mac(1), NOW);
    let _ = dora(&mut e, mac(2), NOW);
    // Released, then back a day later, after others came and went.
    let mut rel = packet(MessageType::Release, mac(1));
    rel.ciaddr = first;
    rel.options
        .set(code::SERVER_ID, ip("192.168.0.254").octets().to_vec());
    let out = e.handle(&rel, &eth0(), NOW + 10);
    assert_eq!(out.changes[0].state, BindingState::Released);
    assert!(out.reply.is_none());
    let _ = dora(&mut e, mac(3), NOW + 20);
    assert_eq!(dora(&mut e, mac(1), NOW + 86400), first);
}

#[test]
fn client_identifier_wins_over_hardware_address() {
    let mut e = engine();
    let mut d = packet(MessageType::Discover, mac(1));
    d.options.set(code::CLIENT_ID, vec![1, 2, 0, 0, 0, 0, 1]);
    let a = e.handle(&d, &eth0(), NOW).reply.unwrap().packet.yiaddr;
    let mut r = request_selecting(mac(1), a);
    r.options.set(code::CLIENT_ID, vec![1, 2, 0, 0, 0, 0, 1]);
    let out = e.handle(&r, &eth0(), NOW);
    assert_eq!(
        out.changes[0].client_id.as_deref(),
        Some(&[1, 2, 0, 0, 0, 0, 1][..])
    );
    // Same hardware, another identity (a second OS): another address.
    let mut d2 = packet(MessageType::Discover, mac(1));
    d2.options.set(code::CLIENT_ID, vec![0xff, 9]);
    let b = e.handle(&d2, &eth0(), NOW).reply.unwrap().packet.yiaddr;
    assert_ne!(a, b);
}

#[test]
fn renewing_and_rebinding_extend_the_lease() {
    let mut e = engine();
    let a = dora(&mut e, mac(1), NOW);
    let mut renew = packet(MessageType::Request, mac(1));
    renew.ciaddr = a;
    renew
        .options
        .set(code::LEASE_TIME, 600u32.to_be_bytes().to_vec());
    let out = e.handle(&renew, &eth0(), NOW + 21600);
    assert_eq!(out.changes[0].end, NOW + 21600 + 600);
    let r = out.reply.unwrap();
    assert_eq!(r.dest, Destination::Unicast(a));
    assert_eq!(r.packet.options.u32(code::LEASE_TIME), Some(600));
    // Rebinding: broadcast, still ciaddr; a request above max is clamped.
    let mut rebind = renew.clone();
    rebind.flags = FLAG_BROADCAST;
    rebind
        .options
        .set(code::LEASE_TIME, 10_000_000u32.to_be_bytes().to_vec());
    let out = e.handle(&rebind, &eth0(), NOW + 30000);
    assert_eq!(
        out.reply.unwrap().packet.options.u32(code::LEASE_TIME),
        Some(86400)
    );
}

#[test]
fn init_reboot_on_the_wrong_network_is_nakked() {
    let mut e = engine();
    let mut r = packet(MessageType::Request, mac(1));
    r.options
        .set(code::REQUESTED_ADDRESS, ip("10.0.0.5").octets().to_vec());
    let out = e.handle(&r, &eth0(), NOW);
    let nak = out.reply.unwrap();
    assert_eq!(nak.message_type(), Some(MessageType::Nak));
    assert_eq!(nak.dest, Destination::Broadcast);
    assert!(out.changes.is_empty());
    // Someone else's address is nakked too.
    let mut e = engine();
    let a = dora(&mut e, mac(1), NOW);
    let mut r = packet(MessageType::Request, mac(2));
    r.options.set(code::REQUESTED_ADDRESS, a.octets().to_vec());
    let out = e.handle(&r, &eth0(), NOW);
    assert_eq!(out.reply.unwrap().message_type(), Some(MessageType::Nak));
    // Not authoritative: silent.
    let mut c = config();
    c.authoritative = false;
    let mut e = Engine::new(Arc::new(c), Vec::new());
    let mut r = packet(MessageType::Request, mac(1));
    r.options
        .set(code::REQUESTED_ADDRESS, ip("10.0.0.5").octets().to_vec());
    assert!(e.handle(&r, &eth0(), NOW).reply.is_none());
}

#[test]
fn init_reboot_of_a_free_pool_address_is_acked() {
    // A client that kept its address across a migration or a lost lease
    // file gets it, if nobody else holds it.
    let mut e = engine();
    let mut r = packet(MessageType::Request, mac(1));
    r.options.set(
        code::REQUESTED_ADDRESS,
        ip("192.168.0.18").octets().to_vec(),
    );
    let out = e.handle(&r, &eth0(), NOW);
    assert_eq!(out.reply.unwrap().message_type(), Some(MessageType::Ack));
}

#[test]
fn selecting_another_server_drops_our_offer() {
    let mut e = engine();
    let a = e
        .handle(&packet(MessageType::Discover, mac(1)), &eth0(), NOW)
        .reply
        .unwrap()
        .packet
        .yiaddr;
    let mut r = request_selecting(mac(1), a);
    r.options
        .set(code::SERVER_ID, ip("192.168.0.253").octets().to_vec());
    let out = e.handle(&r, &eth0(), NOW);
    assert!(out.reply.is_none() && out.changes.is_empty());
    // The address is free for the next client at once.
    let mut d = packet(MessageType::Discover, mac(2));
    d.options.set(code::REQUESTED_ADDRESS, a.octets().to_vec());
    let b = e.handle(&d, &eth0(), NOW).reply.unwrap().packet.yiaddr;
    assert_eq!(a, b);
}

#[test]
fn reservation_gets_fixed_address_hostname_and_its_options() {
    let mut e = engine();
    let hw = [0, 0x11, 0x22, 0x33, 0x44, 0x55];
    let out = e.handle(&packet(MessageType::Discover, hw), &eth0(), NOW);
    let r = out.reply.unwrap();
    assert_eq!(r.packet.yiaddr, ip("192.168.0.10"));
    assert_eq!(r.packet.options.get(code::HOST_NAME), Some(&b"printer"[..]));
    assert_eq!(
        r.packet.options.get(code::DOMAIN_NAME),
        Some(&b"printers.home"[..])
    );
    assert_eq!(r.packet.options.u32(code::LEASE_TIME), Some(7200));
    let out = e.handle(&request_selecting(hw, ip("192.168.0.10")), &eth0(), NOW);
    assert_eq!(out.changes[0].hostname.as_deref(), Some("printer"));
    // Nobody else is ever given the reserved address.
    let mut r = packet(MessageType::Request, mac(7));
    r.options.set(
        code::REQUESTED_ADDRESS,
        ip("192.168.0.10").octets().to_vec(),
    );
    assert_eq!(
        e.handle(&r, &eth0(), NOW).reply.unwrap().message_type(),
        Some(MessageType::Nak)
    );
}

#[test]
fn decline_takes_the_address_out_of_service() {
    let mut e = engine();
    let a = dora(&mut e, mac(1), NOW);
    let mut d = packet(MessageType::Decline, mac(1));
    d.options.set(code::REQUESTED_ADDRESS, a.octets().to_vec());
    d.options
        .set(code::SERVER_ID, ip("192.168.0.254").octets().to_vec());
    let out = e.handle(&d, &eth0(), NOW + 1);
    assert!(out.reply.is_none());
    assert_eq!(out.changes[0].state, BindingState::Abandoned);
    assert_eq!(out.changes[0].end, NOW + 1 + 86400);
    let b = dora(&mut e, mac(1), NOW + 2);
    assert_ne!(a, b, "a declined address is not offered again");
    // After the hold time it comes back.
    let (changed, _) = e.tick(NOW + 2 + 86400);
    assert!(changed
        .iter()
        .any(|l| l.addr == a && l.state == BindingState::Free));
}

#[test]
fn relayed_request_is_answered_through_the_relay() {
    let mut e = engine();
    let mut d = packet(MessageType::Discover, mac(1));
    d.giaddr = ip("192.168.1.1");
    d.options
        .set(code::RELAY_AGENT_INFO, vec![1, 3, b'p', b'o', b'1']);
    let r = e.handle(&d, &eth0(), NOW).reply.unwrap();
    assert_eq!(r.packet.yiaddr, ip("192.168.1.100"));
    assert_eq!(r.dest, Destination::Relay(ip("192.168.1.1")));
    assert_eq!(r.packet.giaddr, ip("192.168.1.1"));
    let last = r.packet.options.iter().last().unwrap();
    assert_eq!(
        last,
        (82, &[1, 3, b'p', b'o', b'1'][..]),
        "option 82 echoed, last"
    );
}

#[test]
fn broadcast_flag_and_inform() {
    let mut e = engine();
    let mut d = packet(MessageType::Discover, mac(1));
    d.flags = FLAG_BROADCAST;
    assert_eq!(
        e.handle(&d, &eth0(), NOW).reply.unwrap().dest,
        Destination::Broadcast
    );
    let mut i = packet(MessageType::Inform, mac(5));
    i.ciaddr = ip("192.168.0.200");
    let out = e.handle(&i, &eth0(), NOW);
    let r = out.reply.unwrap();
    assert!(out.changes.is_empty());
    assert_eq!(r.dest, Destination::Unicast(ip("192.168.0.200")));
    assert_eq!(r.packet.yiaddr, Ipv4Addr::UNSPECIFIED);
    assert!(r.packet.options.get(code::LEASE_TIME).is_none());
    assert!(r.packet.options.get(code::DNS_SERVERS).is_some());
}

#[test]
fn vendor_class_chooses_options() {
    let mut e = engine();
    let mut d = packet(MessageType::Discover, mac(1));
    d.options.set(code::VENDOR_CLASS, b"MSFT 5.0".to_vec());
    d.options.set(code::PARAMETER_REQUEST_LIST, vec![1, 3, 252]);
    let r = e.handle(&d, &eth0(), NOW).reply.unwrap();
    assert_eq!(
        r.packet.options.get(252),
        Some(&b"http://wpad.home/wpad.dat"[..])
    );
    let mut d = packet(MessageType::Discover, mac(2));
    d.options.set(code::PARAMETER_REQUEST_LIST, vec![1, 3, 252]);
    assert!(e
        .handle(&d, &eth0(), NOW)
        .reply
        .unwrap()
        .packet
        .options
        .get(252)
        .is_none());
}

#[test]
fn probe_before_offer_and_conflicts_are_abandoned() {
    let mut c = config();
    c.conflict_detection = ConflictDetection::Icmp;
    let mut e = Engine::new(Arc::new(c), Vec::new());
    let d = packet(MessageType::Discover, mac(1));
    let out = e.handle(&d, &eth0(), NOW);
    assert_eq!(out.probe, Some(ip("192.168.0.15")));
    assert!(out.reply.is_none());
    // Something answers: abandoned, durable, and the next one is probed.
    let changes = e.probe_result(ip("192.168.0.15"), true, NOW);
    assert_eq!(changes[0].state, BindingState::Abandoned);
    let out = e.handle(&d, &eth0(), NOW);
    assert_eq!(out.probe, Some(ip("192.168.0.17")));
    assert!(e.probe_result(ip("192.168.0.17"), false, NOW).is_empty());
    let out = e.handle(&d, &eth0(), NOW);
    assert_eq!(out.reply.unwrap().packet.yiaddr, ip("192.168.0.17"));
}

/// A probe that ends after its address was leased (the client's own answer
/// to the ping, once it configured the address) does not take the lease
/// away from it.
#[test]
fn a_late_probe_answer_keeps_a_lease_granted_meanwhile() {
    let mut c = config();
    c.conflict_detection = ConflictDetection::Icmp;
    let mut e = Engine::new(Arc::new(c), Vec::new());
    let d = packet(MessageType::Discover, mac(1));
    assert_eq!(e.handle(&d, &eth0(), NOW).probe, Some(ip("192.168.0.15")));
    assert!(e.probe_result(ip("192.168.0.15"), false, NOW).is_empty());
    let offered = e.handle(&d, &eth0(), NOW).reply.unwrap().packet.yiaddr;
    let out = e.handle(&request_selecting(mac(1), offered), &eth0(), NOW);
    assert!(out.reply.is_some());
    // A second probe of the same address, answered by the client itself.
    assert!(e.probe_result(offered, true, NOW + 1).is_empty());
    let l = e.leases().find(|l| l.addr == offered).unwrap();
    assert_eq!(l.state, BindingState::Active);
}

#[test]
fn expiry_and_restart_from_stored_leases() {
    let mut e = engine();
    let a = dora(&mut e, mac(1), NOW);
    let (changed, _) = e.tick(NOW + 43200);
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].state, BindingState::Expired);
    // A restart rebuilds the table; the client still gets its address.
    let stored: Vec<_> = e.leases().cloned().collect();
    let mut e2 = Engine::new(Arc::new(config()), stored);
    assert_eq!(dora(&mut e2, mac(1), NOW + 50000), a);
}

#[test]
fn hostile_requests_are_dropped_not_panicked() {
    let mut e = engine();
    let mut p = packet(MessageType::Request, mac(1));
    p.options.remove(code::PARAMETER_REQUEST_LIST);
    let out = e.handle(&p, &eth0(), NOW);
    assert!(out.dropped && out.reply.is_none());
    let mut p = packet(MessageType::Offer, mac(1));
    p.op = 2;
    assert!(e.handle(&p, &eth0(), NOW).dropped);
    let mut p = packet(MessageType::Discover, mac(1));
    p.options.remove(code::MESSAGE_TYPE);
    assert!(e.handle(&p, &eth0(), NOW).dropped);
    let p = packet(MessageType::Discover, mac(1));
    let other = Ingress {
        interface: "eth1".into(),
        addrs: vec![(ip("172.16.0.1"), 16)],
    };
    assert!(e.handle(&p, &other, NOW).reply.is_none());
}

/// A client that names itself only in option 81 (RFC 4702) has that name
/// (its first label) on its lease, in either encoding; option 12 wins when
/// both are sent.
#[test]
fn the_fqdn_option_names_a_lease_without_a_host_name() {
    for (fqdn, want) in [
        (&b"\x05\0\0\x06laptop\x04home\0"[..], Some("laptop")),
        (&b"\x01\0\0desk.home."[..], Some("desk")),
        (&b"\x05\0\0"[..], None),
    ] {
        let mut e = engine();
        let offer = e.handle(&packet(MessageType::Discover, mac(9)), &eth0(), NOW);
        let addr = offer.reply.unwrap().packet.yiaddr;
        let mut req = request_selecting(mac(9), addr);
        req.options.set(code::FQDN, fqdn.to_vec());
        let ack = e.handle(&req, &eth0(), NOW);
        assert_eq!(ack.changes.last().unwrap().hostname.as_deref(), want);
        req.options.set(code::HOST_NAME, b"named".to_vec());
        let ack = e.handle(&req, &eth0(), NOW);
        assert_eq!(
            ack.changes.last().unwrap().hostname.as_deref(),
            Some("named")
        );
    }
}
