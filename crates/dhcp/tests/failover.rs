//! The engine under a failover policy: load balancing of DHCPDISCOVERs by
//! the RFC 3074 hash, allocation by ownership (FREE for the primary,
//! BACKUP for the secondary), the service states, MCLT-limited lease
//! times with the potential-expiry bookkeeping, partner-down, the
//! partner's bindings and acknowledgements, and pool balancing.

use std::net::Ipv4Addr;
use std::sync::Arc;

use tandem_dhcp::config::TimesOverride;
use tandem_dhcp::config::{ConflictDetection, DhcpConfig, OptionSet, Pool, Range, Subnet};
use tandem_dhcp::failover::{packet_bucket, FailoverPeer, Hba, Policy, Role, Service};
use tandem_dhcp::{BindingState, Engine, HwAddr, Ingress, Lease, Outcome};
use tandem_dhcp_wire::{code, MessageType, Packet};

const NOW: u64 = 1_800_000_000;
const MCLT: u32 = 600;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn config(role: Role) -> DhcpConfig {
    let mut c = DhcpConfig::new(vec!["eth0".into()]);
    c.conflict_detection = ConflictDetection::None;
    c.times.default = 3600;
    c.times.max = 7200;
    c.subnets.push(Subnet {
        network: ip("192.168.0.0"),
        prefix: 24,
        interface: None,
        pools: vec![Pool {
            ranges: vec![Range {
                first: ip("192.168.0.15"),
                last: ip("192.168.0.34"),
            }],
            exclude: vec![],
            options: OptionSet::default(),
            times: TimesOverride::default(),
        }],
        options: OptionSet::default(),
        times: TimesOverride::default(),
    });
    let (me, them) = match role {
        Role::Primary => (ip("192.168.0.254"), ip("192.168.0.253")),
        Role::Secondary => (ip("192.168.0.253"), ip("192.168.0.254")),
    };
    let mut f = FailoverPeer::new("dhcp-failover", role, me, them);
    f.mclt = MCLT;
    f.load_balance_max_seconds = 3;
    f.hba = Some(Hba::from_split(128).unwrap());
    f.pools = vec![(0, 0)];
    c.failover.push(f);
    c
}

fn engine(role: Role, service: Service) -> Engine {
    let mut e = Engine::new(Arc::new(config(role)), Vec::new());
    set(&mut e, service);
    e
}

fn set(e: &mut Engine, service: Service) {
    e.set_failover_policy(
        0,
        Policy {
            service,
            hba: Some(Hba::from_split(128).unwrap()),
            mclt: MCLT,
            reason: if service == Service::None {
                " (recovering)".into()
            } else {
                String::new()
            },
        },
    );
}

fn eth0(role: Role) -> Ingress {
    Ingress {
        interface: "eth0".into(),
        addrs: vec![(
            if role == Role::Primary {
                ip("192.168.0.254")
            } else {
                ip("192.168.0.253")
            },
            24,
        )],
    }
}

fn packet(mt: MessageType, hw: [u8; 6]) -> Packet {
    Packet::client_request(mt, hw, 7)
}

/// A MAC whose bucket is below 128 (the primary's under `split 128`) or
/// not, found by walking the last byte.
fn mac_for(primary: bool, skip: usize) -> [u8; 6] {
    (0..=255u8)
        .map(|n| [0x02, 0x10, 0x20, 0x30, 0x40, n])
        .filter(|m| (packet_bucket(None, m) < 128) == primary)
        .nth(skip)
        .expect("enough MACs")
}

fn discover(e: &mut Engine, role: Role, hw: [u8; 6], now: u64) -> Outcome {
    e.handle(&packet(MessageType::Discover, hw), &eth0(role), now)
}

fn select(e: &mut Engine, role: Role, hw: [u8; 6], addr: Ipv4Addr, now: u64) -> Outcome {
    let mut p = packet(MessageType::Request, hw);
    let sid = eth0(role).addrs[0].0;
    p.options.set(code::SERVER_ID, sid.octets().to_vec());
    p.options
        .set(code::REQUESTED_ADDRESS, addr.octets().to_vec());
    e.handle(&p, &eth0(role), now)
}

fn renew(e: &mut Engine, role: Role, hw: [u8; 6], addr: Ipv4Addr, now: u64) -> Outcome {
    let mut p = packet(MessageType::Request, hw);
    p.ciaddr = addr;
    e.handle(&p, &eth0(role), now)
}

fn lines(o: &Outcome) -> Vec<String> {
    o.log.iter().map(|l| l.text.clone()).collect()
}

/// The address an engine offers and then acknowledges to `hw`.
fn dora(e: &mut Engine, role: Role, hw: [u8; 6], now: u64) -> Lease {
    let offer = discover(e, role, hw, now);
    let what = lines(&offer);
    let addr = offer
        .reply
        .unwrap_or_else(|| panic!("no offer: {what:?}"))
        .packet
        .yiaddr;
    let ack = select(e, role, hw, addr, now);
    assert!(ack.reply.is_some(), "no ack: {:?}", lines(&ack));
    ack.changes.last().unwrap().clone()
}

/// Gives the secondary's half of the pool to it, as the primary's pool
/// balancing does, and returns the BACKUP leases.
fn backup_leases(now: u64) -> Vec<Lease> {
    let mut p = engine(Role::Primary, Service::LoadBalanced);
    p.balance(0, now, true).given
}

#[test]
fn in_normal_discovers_are_split_by_the_hash() {
    let mut e = engine(Role::Primary, Service::LoadBalanced);
    // The secondary holds addresses, so load balancing applies.
    let b = e.balance(0, NOW, true);
    assert_eq!(b.given.len(), 10);
    let mine = mac_for(true, 0);
    let theirs = mac_for(false, 0);
    let out = discover(&mut e, Role::Primary, mine, NOW);
    assert!(out.reply.is_some(), "{:?}", lines(&out));
    let out = discover(&mut e, Role::Primary, theirs, NOW);
    assert!(out.reply.is_none());
    let hw = HwAddr::ethernet(theirs);
    assert_eq!(
        lines(&out),
        vec![format!(
            "DHCPDISCOVER from {hw} via eth0: load balance to peer dhcp-failover"
        )]
    );
    // A client that has waited longer than load-balance-max-seconds is
    // answered by both.
    let mut p = packet(MessageType::Discover, theirs);
    p.secs = 4;
    assert!(e.handle(&p, &eth0(Role::Primary), NOW).reply.is_some());
    // The secondary answers exactly the other half.
    let mut s = engine(Role::Secondary, Service::LoadBalanced);
    for l in b.given {
        s.store_peer_binding(l);
    }
    assert!(discover(&mut s, Role::Secondary, theirs, NOW)
        .reply
        .is_some());
    assert!(discover(&mut s, Role::Secondary, mine, NOW).reply.is_none());
}

#[test]
fn the_client_identifier_is_hashed_when_present() {
    let mut e = engine(Role::Primary, Service::LoadBalanced);
    e.balance(0, NOW, true);
    let hw = [0x02, 0, 0, 0, 0, 1];
    let id = (0..=255u8)
        .map(|n| vec![1, 9, 9, 9, 9, 9, n])
        .find(|id| (packet_bucket(Some(id), &hw) < 128) != (packet_bucket(None, &hw) < 128))
        .unwrap();
    let mut p = packet(MessageType::Discover, hw);
    p.options.set(code::CLIENT_ID, id.clone());
    let answered = e.handle(&p, &eth0(Role::Primary), NOW).reply.is_some();
    assert_eq!(answered, packet_bucket(Some(&id), &hw) < 128);
}

#[test]
fn the_secondary_allocates_only_backup_addresses() {
    let mut s = engine(Role::Secondary, Service::LoadBalanced);
    let theirs = mac_for(false, 0);
    // Without BACKUP addresses there is nothing it may give.
    let out = discover(&mut s, Role::Secondary, theirs, NOW);
    assert!(out.reply.is_none());
    assert!(
        lines(&out)
            .last()
            .unwrap()
            .ends_with(": peer holds all free leases"),
        "{:?}",
        lines(&out)
    );
    let given = backup_leases(NOW);
    let backup: Vec<Ipv4Addr> = given.iter().map(|l| l.addr).collect();
    for l in given {
        s.store_peer_binding(l);
    }
    for n in 0..10 {
        let l = dora(&mut s, Role::Secondary, mac_for(false, n), NOW);
        assert!(
            backup.contains(&l.addr),
            "{} is not a BACKUP address",
            l.addr
        );
    }
    // Eleven: the secondary's share is gone.
    assert!(discover(&mut s, Role::Secondary, mac_for(false, 10), NOW)
        .reply
        .is_none());
}

#[test]
fn the_primary_does_not_touch_backup_addresses() {
    let mut p = engine(Role::Primary, Service::Alone);
    let backup: Vec<Ipv4Addr> = p
        .balance(0, NOW, true)
        .given
        .iter()
        .map(|l| l.addr)
        .collect();
    for n in 0..10 {
        let l = dora(&mut p, Role::Primary, mac_for(n % 2 == 0, n), NOW);
        assert!(!backup.contains(&l.addr));
    }
    assert!(discover(&mut p, Role::Primary, mac_for(true, 20), NOW)
        .reply
        .is_none());
    // A REQUEST for one of them is the partner's business.
    let out = select(&mut p, Role::Primary, mac_for(true, 21), backup[0], NOW);
    assert!(out.reply.is_none());
    assert!(
        lines(&out)[0].ends_with(": lease owned by peer"),
        "{:?}",
        lines(&out)
    );
}

#[test]
fn serving_nobody_says_why() {
    let mut e = engine(Role::Primary, Service::None);
    let hw = mac_for(true, 0);
    let out = discover(&mut e, Role::Primary, hw, NOW);
    assert!(out.reply.is_none());
    assert_eq!(
        lines(&out),
        vec![format!(
            "DHCPDISCOVER from {} via eth0: not responding (recovering)",
            HwAddr::ethernet(hw)
        )]
    );
    let out = renew(&mut e, Role::Primary, hw, ip("192.168.0.15"), NOW);
    assert!(out.reply.is_none());
    assert!(lines(&out)[0].ends_with(": not responding (recovering)"));
}

#[test]
fn communications_interrupted_renews_anyone_and_allocates_its_own() {
    // The secondary granted a lease from its share; the primary heard of it.
    let mut s = engine(Role::Secondary, Service::LoadBalanced);
    for l in backup_leases(NOW) {
        s.store_peer_binding(l);
    }
    let theirs = mac_for(false, 0);
    let granted = dora(&mut s, Role::Secondary, theirs, NOW);
    let mut p = engine(Role::Primary, Service::LoadBalanced);
    p.balance(0, NOW, true);
    p.store_peer_binding(granted.clone());
    // Then the secondary is gone: the primary renews that client ...
    set(&mut p, Service::Alone);
    let out = renew(&mut p, Role::Primary, theirs, granted.addr, NOW + 100);
    let ack = out.reply.expect("the peer's client is renewed");
    assert_eq!(ack.packet.yiaddr, granted.addr);
    // ... answers the secondary's new clients from its own addresses ...
    let l = dora(&mut p, Role::Primary, mac_for(false, 1), NOW + 100);
    assert_eq!(
        p.lease(l.addr).unwrap().state,
        BindingState::Active,
        "{l:?}"
    );
    // ... and, with no acknowledgement possible, gives at most the MCLT.
    assert_eq!(l.end, NOW + 100 + u64::from(MCLT));
}

#[test]
fn lease_times_are_limited_by_the_mclt_until_the_partner_knows() {
    let mut p = engine(Role::Primary, Service::LoadBalanced);
    let hw = mac_for(true, 0);
    let offer = discover(&mut p, Role::Primary, hw, NOW).reply.unwrap();
    assert_eq!(offer.packet.options.u32(code::LEASE_TIME), Some(MCLT));
    let ack = select(&mut p, Role::Primary, hw, offer.packet.yiaddr, NOW);
    let l = ack.changes[0].clone();
    let reply = ack.reply.unwrap();
    assert_eq!(reply.packet.options.u32(code::LEASE_TIME), Some(MCLT));
    assert_eq!(reply.packet.options.u32(code::RENEWAL_TIME), Some(MCLT / 2));
    assert_eq!(l.end, NOW + u64::from(MCLT));
    // The potential expiry: the desired end plus half the granted time.
    assert_eq!(l.tstp, NOW + 3600 + u64::from(MCLT / 2));
    // The partner acknowledges it; the renewal gets the full hour.
    let acked = p.peer_acked(0, l.addr, l.tstp, BindingState::Active, NOW + 1);
    assert_eq!(acked.record[0].tsfp, l.tstp);
    assert!(acked.send.is_empty());
    let later = NOW + u64::from(MCLT / 2);
    let r = renew(&mut p, Role::Primary, hw, l.addr, later);
    let reply = r.reply.unwrap();
    assert_eq!(reply.packet.options.u32(code::LEASE_TIME), Some(3600));
    assert_eq!(r.changes[0].end, later + 3600);
    assert_eq!(r.changes[0].tsfp, l.tstp, "what the partner knows is kept");
    // Without another acknowledgement, the next renewal is bounded by what
    // the partner knows plus the MCLT.
    let much_later = later + 3000;
    let r = renew(&mut p, Role::Primary, hw, l.addr, much_later);
    let t = r
        .reply
        .unwrap()
        .packet
        .options
        .u32(code::LEASE_TIME)
        .unwrap();
    assert_eq!(u64::from(t), l.tstp + u64::from(MCLT) - much_later);
}

#[test]
fn partner_down_takes_the_partners_addresses_after_the_mclt() {
    let mut p = engine(Role::Primary, Service::LoadBalanced);
    p.balance(0, NOW, true);
    for n in 0..10 {
        dora(&mut p, Role::Primary, mac_for(true, n), NOW);
    }
    let since = NOW + 100 + u64::from(MCLT);
    set(&mut p, Service::PartnerDown { since });
    // Its own are used up, the partner's are not yet safe.
    assert!(
        discover(&mut p, Role::Primary, mac_for(true, 11), since - 1)
            .reply
            .is_none()
    );
    let l = dora(&mut p, Role::Primary, mac_for(false, 11), since + 1);
    assert_eq!(l.state, BindingState::Active);
}

#[test]
fn an_expiry_acknowledged_by_the_partner_frees_the_address_and_affinity_gives_it_back() {
    let mut p = engine(Role::Primary, Service::Alone);
    let theirs = mac_for(false, 0);
    // The primary served a secondary client while alone.
    let l = dora(&mut p, Role::Primary, theirs, NOW);
    let (expired, _) = p.tick(l.end);
    assert_eq!(expired[0].state, BindingState::Expired);
    // Not reusable until the partner agrees.
    set(&mut p, Service::LoadBalanced);
    let ack = p.peer_acked(0, l.addr, l.end, BindingState::Expired, l.end + 1);
    assert_eq!(ack.record[0].state, BindingState::Free);
    // Its client hashes to the secondary: the address goes there.
    assert_eq!(ack.send.len(), 1);
    assert_eq!(ack.send[0].state, BindingState::Backup);
    assert_eq!(p.lease(l.addr).unwrap().state, BindingState::Backup);
}

#[test]
fn an_ack_of_an_old_version_does_not_free_a_renewed_address() {
    let mut p = engine(Role::Primary, Service::Alone);
    let hw = mac_for(true, 0);
    let l = dora(&mut p, Role::Primary, hw, NOW);
    p.tick(l.end);
    // The client is back before the partner acknowledged the expiry.
    let again = dora(&mut p, Role::Primary, hw, l.end + 1);
    assert_eq!(again.addr, l.addr);
    p.peer_acked(0, l.addr, l.end, BindingState::Expired, l.end + 2);
    assert_eq!(p.lease(l.addr).unwrap().state, BindingState::Active);
}

#[test]
fn pool_balancing_gives_half_and_then_nothing() {
    let mut p = engine(Role::Primary, Service::LoadBalanced);
    let b = p.balance(0, NOW, true);
    assert_eq!(b.given.len(), 10);
    assert!(b.given.iter().all(|l| l.state == BindingState::Backup));
    assert!(!b.short);
    assert!(b.log[1].text.starts_with("balanced pool"), "{:?}", b.log);
    let shares = p.pool_shares(0, NOW);
    assert_eq!((shares[0].free, shares[0].backup), (10, 10));
    assert!(p.balance(0, NOW + 60, true).given.is_empty());
    // A secondary short of addresses says so.
    let mut s = engine(Role::Secondary, Service::LoadBalanced);
    assert!(s.balance(0, NOW, true).short);
}

#[test]
fn a_partner_binding_voids_an_offer_and_is_renewed_by_its_client() {
    let mut p = engine(Role::Primary, Service::LoadBalanced);
    let hw = mac_for(true, 0);
    let offer = discover(&mut p, Role::Primary, hw, NOW).reply.unwrap();
    let addr = offer.packet.yiaddr;
    let mut theirs = Lease::new(addr, BindingState::Active);
    theirs.hw = Some(HwAddr::ethernet(mac_for(false, 3)));
    theirs.start = NOW;
    theirs.end = NOW + 600;
    theirs.tsfp = NOW + 900;
    p.store_peer_binding(theirs);
    let out = select(&mut p, Role::Primary, hw, addr, NOW);
    assert!(
        out.reply
            .is_some_and(|r| r.message_type() == Some(MessageType::Nak)),
        "another client's address is refused"
    );
    let r = renew(&mut p, Role::Primary, mac_for(false, 3), addr, NOW + 300);
    assert_eq!(
        r.reply.unwrap().message_type(),
        Some(MessageType::Ack),
        "the partner's client renews here"
    );
}

#[test]
fn the_shared_config_hash_sees_pools_and_options_not_the_file_order() {
    use tandem_dhcp::failover::shared_config_hash;
    let base = config(Role::Primary);
    let h = shared_config_hash(&base, 0);
    assert_eq!(h, shared_config_hash(&base.clone(), 0));
    let mut other = base.clone();
    other.subnets[0].pools[0].ranges[0].last =
        Ipv4Addr::from(u32::from(other.subnets[0].pools[0].ranges[0].last) - 1);
    assert_ne!(h, shared_config_hash(&other, 0));
    let mut opts = base.clone();
    opts.subnets[0].options.set(6, vec![192, 168, 0, 1]);
    assert_ne!(h, shared_config_hash(&opts, 0));
    // The relationship's own addresses are not part of it.
    let mut addr = base.clone();
    addr.failover[0].address = Ipv4Addr::new(10, 9, 9, 9);
    assert_eq!(h, shared_config_hash(&addr, 0));
}

#[test]
fn a_partners_names_go_only_when_it_cannot_hold_the_lease() {
    use tandem_dhcp::failover::{names_may_go, NamesGo};
    use tandem_dhcp::{BindingState, Lease};
    let now = 1_000_000;
    let mut l = Lease::new(ip("192.168.0.20"), BindingState::Expired);
    l.end = now - 5;
    l.tsfp = now + 30;
    let down = |since| Service::PartnerDown { since };
    // In normal operation and for an expiry with the partner maybe alive:
    // never here.
    assert_eq!(names_may_go(Service::LoadBalanced, &l, now), NamesGo::Never);
    assert_eq!(names_may_go(Service::Alone, &l, now), NamesGo::Never);
    assert_eq!(names_may_go(Service::None, &l, now), NamesGo::Never);
    // Partner-down: after the partner's potential expiry and the MCLT.
    assert_eq!(names_may_go(down(now + 60), &l, now), NamesGo::At(now + 60));
    assert_eq!(names_may_go(down(now - 60), &l, now), NamesGo::At(now + 30));
    assert_eq!(names_may_go(down(now - 60), &l, now + 30), NamesGo::Now);
    // The client's own release or decline: at once, partner unreachable.
    for state in [BindingState::Released, BindingState::Abandoned] {
        l.state = state;
        assert_eq!(names_may_go(Service::Alone, &l, now), NamesGo::Now);
        assert_eq!(names_may_go(down(now + 60), &l, now), NamesGo::Now);
        assert_eq!(names_may_go(Service::LoadBalanced, &l, now), NamesGo::Never);
    }
    l.state = BindingState::Free;
    assert_eq!(names_may_go(down(now - 60), &l, now), NamesGo::Never);
}

/// Load balancing sends a partner's client away only while the partner has
/// an address to give it (ISC's `peer_has_leases`): once every one of the
/// partner's addresses is taken, this node answers that client itself.
#[test]
fn a_partner_without_free_addresses_gets_no_clients_sent_to_it() {
    // Primary: the secondary's share is BACKUP; once it is all bound, the
    // primary answers the secondary's clients.
    let mut p = engine(Role::Primary, Service::LoadBalanced);
    let given = p.balance(0, NOW, true).given;
    assert!(!given.is_empty());
    let theirs = mac_for(false, 0);
    assert!(discover(&mut p, Role::Primary, theirs, NOW).reply.is_none());
    for (i, mut l) in given.into_iter().enumerate() {
        l.state = BindingState::Active;
        l.start = NOW;
        l.end = NOW + 3600;
        l.hw = Some(HwAddr::ethernet([0x02, 0, 0, 0, 1, i as u8]));
        p.store_peer_binding(l);
    }
    assert!(discover(&mut p, Role::Primary, theirs, NOW).reply.is_some());

    // Secondary: the primary's share is every address that is not BACKUP
    // (no lease counts as FREE); with all of it bound, the secondary
    // answers the primary's clients.
    let mut s = engine(Role::Secondary, Service::LoadBalanced);
    let backup = backup_leases(NOW);
    let backup_addrs: Vec<Ipv4Addr> = backup.iter().map(|l| l.addr).collect();
    for l in backup {
        s.store_peer_binding(l);
    }
    let mine = mac_for(true, 0);
    assert!(discover(&mut s, Role::Secondary, mine, NOW).reply.is_none());
    let all: Vec<Ipv4Addr> = (15..=34u8).map(|n| Ipv4Addr::new(192, 168, 0, n)).collect();
    let free: Vec<Ipv4Addr> = all
        .into_iter()
        .filter(|a| !backup_addrs.contains(a))
        .collect();
    for (i, a) in free.iter().enumerate() {
        let mut l = Lease::new(*a, BindingState::Active);
        l.start = NOW;
        l.end = NOW + 3600;
        l.hw = Some(HwAddr::ethernet([0x02, 0, 0, 0, 2, i as u8]));
        s.store_peer_binding(l);
        // Until the last free address is bound, the primary still has one.
        let answered = discover(&mut s, Role::Secondary, mine, NOW).reply.is_some();
        assert_eq!(answered, i + 1 == free.len(), "after binding {a}");
    }
}
