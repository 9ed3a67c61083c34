//! Random workloads against the engine: many clients discovering,
//! requesting, renewing, releasing and declining while time passes, with
//! the invariants checked after every step.
//!
//! - No address is actively leased to two clients.
//! - Every ACKed address is in a pool of its subnet or reserved for the client.
//! - The engine's table is what its committed changes say (replaying the
//!   changes into a fresh engine gives the same leases).

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use proptest::prelude::*;
use tandem_dhcp::config::{ConflictDetection, DhcpConfig, Host, Pool, Range, Subnet};
use tandem_dhcp::{BindingState, Engine, HwAddr, Ingress, Lease};
use tandem_dhcp_wire::{code, MessageType, Packet};

const T0: u64 = 1_800_000_000;

fn config() -> DhcpConfig {
    let mut c = DhcpConfig::new(vec!["eth0".into()]);
    c.conflict_detection = ConflictDetection::None;
    c.times.default = 300;
    c.times.max = 600;
    c.decline_hold = 200;
    c.subnets.push(Subnet {
        network: Ipv4Addr::new(10, 0, 0, 0),
        prefix: 24,
        interface: None,
        pools: vec![Pool {
            ranges: vec![Range {
                first: Ipv4Addr::new(10, 0, 0, 10),
                last: Ipv4Addr::new(10, 0, 0, 17),
            }],
            exclude: vec![],
            options: Default::default(),
            times: Default::default(),
        }],
        options: Default::default(),
        times: Default::default(),
    });
    c.hosts.push(Host {
        name: "fixed".into(),
        hw: Some(HwAddr::ethernet(mac(0))),
        client_id: None,
        fixed_address: Some(Ipv4Addr::new(10, 0, 0, 5)),
        hostname: None,
        options: Default::default(),
        times: Default::default(),
    });
    c
}

fn mac(n: u8) -> [u8; 6] {
    [2, 0, 0, 0, 0, n]
}

#[derive(Debug, Clone)]
enum Step {
    Discover(u8),
    /// Take the last offer (or ask for an arbitrary pool address).
    Request(u8, u8),
    Renew(u8),
    Release(u8),
    Decline(u8),
    Wait(u16),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0u8..12).prop_map(Step::Discover),
        (0u8..12, 0u8..20).prop_map(|(c, a)| Step::Request(c, a)),
        (0u8..12).prop_map(Step::Renew),
        (0u8..12).prop_map(Step::Release),
        (0u8..12).prop_map(Step::Decline),
        (1u16..400).prop_map(Step::Wait),
    ]
}

fn packet(mt: MessageType, client: u8) -> Packet {
    Packet::client_request(mt, mac(client), u32::from(client))
}

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_workloads_keep_the_invariants(steps in proptest::collection::vec(step(), 1..120)) {
        let cfg = Arc::new(config());
        let mut e = Engine::new(cfg.clone(), Vec::new());
        let ingress = Ingress { interface: "eth0".into(), addrs: vec![(SERVER, 24)] };
        let mut now = T0;
        let mut offered: HashMap<u8, Ipv4Addr> = HashMap::new();
        // What each client was told it holds, and until when.
        let mut held: HashMap<u8, (Ipv4Addr, u64)> = HashMap::new();
        let mut committed: Vec<Lease> = Vec::new();
        for s in steps {
            let out = match s {
                Step::Wait(d) => {
                    now += u64::from(d);
                    let (changes, _) = e.tick(now);
                    committed.extend(changes);
                    continue;
                }
                Step::Discover(c) => {
                    let out = e.handle(&packet(MessageType::Discover, c), &ingress, now);
                    if let Some(r) = &out.reply {
                        offered.insert(c, r.packet.yiaddr);
                    }
                    out
                }
                Step::Request(c, a) => {
                    let mut p = packet(MessageType::Request, c);
                    let addr = offered.get(&c).copied().unwrap_or(Ipv4Addr::new(10, 0, 0, a));
                    p.options.set(code::REQUESTED_ADDRESS, addr.octets().to_vec());
                    if offered.contains_key(&c) {
                        p.options.set(code::SERVER_ID, SERVER.octets().to_vec());
                    }
                    e.handle(&p, &ingress, now)
                }
                Step::Renew(c) => {
                    let Some((a, _)) = held.get(&c).copied() else { continue };
                    let mut p = packet(MessageType::Request, c);
                    p.ciaddr = a;
                    e.handle(&p, &ingress, now)
                }
                Step::Release(c) => {
                    let Some((a, _)) = held.remove(&c) else { continue };
                    let mut p = packet(MessageType::Release, c);
                    p.ciaddr = a;
                    e.handle(&p, &ingress, now)
                }
                Step::Decline(c) => {
                    let Some((a, _)) = held.remove(&c) else { continue };
                    let mut p = packet(MessageType::Decline, c);
                    p.options.set(code::REQUESTED_ADDRESS, a.octets().to_vec());
                    e.handle(&p, &ingress, now)
                }
            };
            committed.extend(out.changes.iter().cloned());
            if let Some(r) = out.reply {
                if r.message_type() == Some(MessageType::Ack) {
                    let a = r.packet.yiaddr;
                    let client = r.packet.chaddr[5];
                    let lt = u64::from(r.packet.options.u32(code::LEASE_TIME).unwrap());
                    // In a pool, or the client's own reservation.
                    let ok = cfg.subnets[0].pool_of(a).is_some()
                        || (client == 0 && a == Ipv4Addr::new(10, 0, 0, 5));
                    prop_assert!(ok, "{a} acked to client {client}");
                    // The lease was among the changes to commit first.
                    prop_assert!(out.changes.iter().any(|l| l.addr == a && l.state == BindingState::Active));
                    held.insert(client, (a, now + lt));
                    offered.remove(&client);
                }
            }
            // No two clients hold the same address at once.
            let mut owner: HashMap<Ipv4Addr, u8> = HashMap::new();
            for (c, (a, until)) in &held {
                if *until > now {
                    if let Some(other) = owner.insert(*a, *c) {
                        prop_assert!(false, "{a} held by clients {other} and {c}");
                    }
                }
            }
        }
        // Replaying the committed changes rebuilds the same table.
        let mut latest: HashMap<Ipv4Addr, Lease> = HashMap::new();
        for l in committed {
            latest.insert(l.addr, l);
        }
        let mut replayed: Vec<Lease> = latest.into_values().collect();
        replayed.sort_by_key(|l| l.addr);
        let table: Vec<Lease> = e.leases().cloned().collect();
        prop_assert_eq!(table, replayed);
    }
}
