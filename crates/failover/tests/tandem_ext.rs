//! tandem's extension between two tandem nodes (host name, DDNS state and
//! a configuration hash in vendor-specific-options), and the proof that an
//! ISC partner never receives it.

mod common;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use common::{unhex, ISC_CONNECT};
use tandem_dhcp::{BindingState, HwAddr, Lease, LeaseDns};
use tandem_failover::machine::{Action, Config, Event, Leases, Relationship};
use tandem_failover::wire::{self, TANDEM_VENDOR_CLASS};
use tandem_failover::TandemExt;
use tandem_failover::{DecodeMode, FailoverOption, Hba, Message, MessageType, OptionCode, Role};

struct Table(BTreeMap<Ipv4Addr, Lease>);

impl Leases for Table {
    fn get(&self, addr: Ipv4Addr) -> Option<Lease> {
        self.0.get(&addr).cloned()
    }
    fn all(&self) -> Vec<Lease> {
        self.0.values().cloned().collect()
    }
}

fn ddns() -> LeaseDns {
    LeaseDns {
        fqdn: "laptop.foo.".into(),
        forward: true,
        reverse: Some("102.0.99.10.in-addr.arpa.".into()),
        guard_txt: false,
        guard: vec![0, 1, 1, 0xaa, 0xbb],
        ttl: 300,
    }
}

fn lease(now: u64) -> Lease {
    let mut l = Lease::new(Ipv4Addr::new(10, 99, 0, 102), BindingState::Active);
    l.start = now;
    l.end = now + 600;
    l.cltt = now;
    l.tstp = now + 900;
    l.hw = Some(HwAddr::ethernet([0xfe, 0x41, 0x6c, 0x52, 0xd1, 0xb4]));
    l.hostname = Some("laptop".into());
    l.ddns = Some(ddns());
    l
}

fn config(role: Role) -> Config {
    Config {
        name: "foo".into(),
        role,
        mclt: 1800,
        hba: Some(Hba::from_split(128).unwrap()),
        max_unacked_updates: 10,
        max_response_delay: 30,
        load_balance_max_seconds: 0,
    }
}

fn sent(actions: &[Action]) -> Vec<Message> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

fn has_vso(m: &Message) -> bool {
    m.get(OptionCode::VendorSpecificOptions).is_some()
}

fn warnings(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Log { warn: true, text } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

/// A secondary that receives `connect`, then the partner's STATE normal,
/// and then commits a lease; returns everything it sent.
fn secondary_session(connect: Message, partner_hash: Option<u64>) -> (Vec<Message>, Vec<String>) {
    let now = u64::from(connect.time);
    let saved = tandem_failover::machine::Persisted {
        my_state: tandem_failover::FailoverState::Normal,
        my_stos: now - 100,
        partner_state: tandem_failover::FailoverState::Normal,
        partner_stos: now - 100,
        mclt: 1800,
    };
    let mut rel = Relationship::new(config(Role::Secondary), Some(saved), now);
    rel.set_config_hash(0x1234);
    let mut table = Table(BTreeMap::new());
    let mut out = rel.handle(Event::LinkUp, &table, now);
    out.extend(rel.handle(Event::Received(connect), &table, now));
    let mut state = wire::state(
        now as u32,
        7,
        tandem_failover::FailoverState::Normal,
        Default::default(),
        (now - 100) as u32,
    );
    if let Some(h) = partner_hash {
        state = TandemExt {
            config_hash: Some(h),
            ..Default::default()
        }
        .append_to(state);
    }
    out.extend(rel.handle(Event::Received(state), &table, now));
    let l = lease(now);
    table.0.insert(l.addr, l.clone());
    out.extend(rel.handle(Event::LeaseChanged(l), &table, now));
    let mut warn = warnings(&out);
    // What `tandem status` shows, as a pseudo-warning for the tests.
    if rel.config_differs() {
        warn.push("status: configuration differs".into());
    }
    // Every message goes through the real codec, as on the link.
    let msgs = sent(&out)
        .into_iter()
        .map(|m| Message::decode(&m.encode().unwrap(), DecodeMode::KeepAll).unwrap())
        .collect();
    (msgs, warn)
}

#[test]
fn the_extension_round_trips_and_ignores_other_vendors() {
    let ext = TandemExt {
        hostname: Some("laptop".into()),
        ddns: Some(ddns()),
        config_hash: Some(u64::MAX - 3),
    };
    let b = ext.encode();
    assert!(b.starts_with(b"tandem\x01"));
    assert_eq!(TandemExt::decode(&b), Some(ext.clone()));
    assert_eq!(
        TandemExt::decode(&TandemExt::default().encode()),
        Some(TandemExt::default())
    );
    // Another vendor's data, a cut, a damaged DDNS state: not ours.
    assert_eq!(TandemExt::decode(b"isc-4.4.3\x01\x02"), None);
    for cut in 7..b.len() {
        let d = TandemExt::decode(&b[..cut]);
        assert!(d.is_none() || d != Some(ext.clone()), "cut at {cut}");
    }
    // An unknown sub-option is skipped.
    let mut later = b.clone();
    later.extend_from_slice(&[200, 0, 2, 9, 9]);
    assert_eq!(TandemExt::decode(&later), Some(ext));
}

#[test]
fn isc_bndupd_has_no_extension_and_tandem_bndupd_carries_name_and_dns() {
    let now = 1_800_000_000;
    let l = lease(now);
    let isc = wire::bndupd(now as u32, 1, &l, Default::default());
    assert!(!has_vso(&isc));
    assert!(isc.get(OptionCode::Ddns).is_none());
    let t = wire::bndupd_tandem(now as u32, 1, &l, Default::default());
    assert_eq!(&t.options[..isc.options.len()], &isc.options[..]);
    let bytes = t.encode().unwrap();
    // ISC's reader keeps nothing of it; tandem's does.
    let as_isc = Message::decode(&bytes, DecodeMode::IscAllowList).unwrap();
    assert_eq!(as_isc, isc);
    let m = Message::decode(&bytes, DecodeMode::Tandem).unwrap();
    let u = wire::lease_from_bndupd(&m).unwrap();
    let ext = u.tandem.clone().unwrap();
    assert_eq!(ext.hostname.as_deref(), Some("laptop"));
    assert_eq!(ext.ddns, Some(ddns()));
    // Installed over a version without a name, it brings both.
    let mut before = l.clone();
    before.hostname = None;
    before.ddns = None;
    let after = u.apply_to(&before);
    assert_eq!(after.hostname.as_deref(), Some("laptop"));
    assert_eq!(after.ddns, Some(ddns()));
    // A tandem update without a name clears the one we had.
    let mut nameless = l.clone();
    nameless.hostname = None;
    nameless.ddns = None;
    let m = wire::bndupd_tandem(now as u32, 2, &nameless, Default::default());
    let after = wire::lease_from_bndupd(&m).unwrap().apply_to(&l);
    assert_eq!((after.hostname, after.ddns), (None, None));
}

#[test]
fn an_isc_partner_never_receives_the_extension() {
    let connect = Message::decode(&unhex(ISC_CONNECT), DecodeMode::IscAllowList).unwrap();
    assert!(connect
        .vendor_class_identifier()
        .is_some_and(|v| v.starts_with(b"isc-")));
    let (msgs, warn) = secondary_session(connect, None);
    let kinds: Vec<MessageType> = msgs.iter().map(|m| m.kind).collect();
    assert!(kinds.contains(&MessageType::ConnectAck), "{kinds:?}");
    assert!(kinds.contains(&MessageType::State), "{kinds:?}");
    assert!(kinds.contains(&MessageType::BndUpd), "{kinds:?}");
    for m in &msgs {
        assert!(!has_vso(m), "{} to ISC carries option 29", m.kind);
        assert!(m.get(OptionCode::Ddns).is_none());
    }
    assert!(warn.iter().all(|w| !w.contains("configuration differs")));
}

fn tandem_connect(time: u32) -> Message {
    let hba = Hba::from_split(128).unwrap();
    wire::connect(
        time,
        1,
        &wire::Connect {
            relationship_name: "foo",
            max_unacked_bndupd: 10,
            receive_timer: 30,
            vendor_class: TANDEM_VENDOR_CLASS,
            mclt: 1800,
            hba: Some(&hba),
        },
    )
}

#[test]
fn a_tandem_partner_gets_names_and_a_hash_and_drift_is_reported() {
    let now = 1_800_000_000u32;
    let (msgs, warn) = secondary_session(tandem_connect(now), Some(0x1234));
    let ack = msgs
        .iter()
        .find(|m| m.kind == MessageType::ConnectAck)
        .unwrap();
    assert_eq!(TandemExt::of(ack).and_then(|e| e.config_hash), Some(0x1234));
    let upd = msgs.iter().find(|m| m.kind == MessageType::BndUpd).unwrap();
    let ext = TandemExt::of(upd).unwrap();
    assert_eq!(ext.hostname.as_deref(), Some("laptop"));
    assert_eq!(ext.ddns, Some(ddns()));
    assert!(warn.is_empty(), "{warn:?}");

    let (_, warn) = secondary_session(tandem_connect(now), Some(0x9999));
    assert_eq!(
        warn,
        vec![
            "failover peer foo: partner's configuration differs from ours (pools/options)",
            "status: configuration differs"
        ]
    );
}

#[test]
fn the_extension_from_a_partner_not_known_as_tandem_is_ignored() {
    // A CONNECT from ISC, then a BNDUPD carrying the extension anyway:
    // the stored lease takes no name from it.
    let connect = Message::decode(&unhex(ISC_CONNECT), DecodeMode::IscAllowList).unwrap();
    let now = u64::from(connect.time);
    let mut rel = Relationship::new(config(Role::Secondary), None, now);
    let table = Table(BTreeMap::new());
    rel.handle(Event::LinkUp, &table, now);
    rel.handle(Event::Received(connect), &table, now);
    let upd = wire::bndupd_tandem(now as u32, 9, &lease(now), Default::default());
    let out = rel.handle(Event::Received(upd), &table, now);
    let stored = out.iter().find_map(|a| match a {
        Action::StoreBinding { lease, .. } => Some(lease.clone()),
        _ => None,
    });
    let stored = stored.expect("the binding is stored");
    assert_eq!((stored.hostname, stored.ddns), (None, None));
    assert!(!matches!(
        FailoverOption::VendorSpecificOptions(Vec::new()).code(),
        OptionCode::Ddns
    ));
}

/// Operator states (ISC's omshell local-state): a paused server serves
/// nobody and tells its partner, which moves to communications-interrupted
/// (shut-down: partner-down); resume goes back through
/// communications-interrupted, so the partner's answer decides by ISC's
/// table.
#[test]
fn operator_pause_shut_down_and_resume() {
    use tandem_failover::machine::Service;
    use tandem_failover::FailoverState as S;
    let now = 1_800_000_000u64;
    let saved = tandem_failover::machine::Persisted {
        my_state: S::Normal,
        my_stos: now - 100,
        partner_state: S::Normal,
        partner_stos: now - 100,
        mclt: 1800,
    };
    for (event, state) in [
        (Event::OperatorPause, S::Paused),
        (Event::OperatorShutDown, S::ShutDown),
    ] {
        let mut rel = Relationship::new(config(Role::Secondary), Some(saved), now);
        let table = Table(BTreeMap::new());
        let mut out = rel.handle(Event::LinkUp, &table, now);
        out.extend(rel.handle(Event::Received(tandem_connect(now as u32)), &table, now));
        let normal = wire::state(
            now as u32,
            7,
            S::Normal,
            Default::default(),
            (now - 100) as u32,
        );
        out.extend(rel.handle(Event::Received(normal), &table, now));
        assert_eq!(rel.state(), S::Normal);
        assert_ne!(rel.service(), Service::None);

        let out = rel.handle(event, &table, now + 1);
        assert_eq!(rel.state(), state);
        assert_eq!(rel.service(), Service::None);
        assert!(out
            .iter()
            .any(|a| matches!(a, Action::Persist(p) if p.my_state == state)));
        assert!(sent(&out).iter().any(|m| m.kind == MessageType::State));

        let out = rel.handle(Event::OperatorResume, &table, now + 2);
        assert_eq!(rel.state(), S::CommunicationsInterrupted);
        assert!(sent(&out).iter().any(|m| m.kind == MessageType::State));
        // The partner, normal again, answers normal: both are normal.
        let normal = wire::state(
            now as u32 + 3,
            8,
            S::Normal,
            Default::default(),
            (now - 100) as u32,
        );
        rel.handle(Event::Received(normal), &table, now + 3);
        assert_eq!(rel.state(), S::Normal);
        // Resume is refused when there is nothing to resume.
        let out = rel.handle(Event::OperatorResume, &table, now + 4);
        assert!(warnings(&out).iter().any(|w| w.contains("resume refused")));
    }
    // A restart keeps the operator's state: it is the saved state that
    // startup returns to, with no automatic way out.
    let paused = tandem_failover::machine::Persisted {
        my_state: S::Paused,
        ..saved
    };
    let mut rel = Relationship::new(config(Role::Secondary), Some(paused), now);
    let table = Table(BTreeMap::new());
    for t in 0..30 {
        rel.handle(Event::Tick, &table, now + t);
    }
    assert_eq!(rel.state(), S::Paused);
    assert_eq!(rel.service(), Service::None);
    rel.handle(Event::OperatorResume, &table, now + 31);
    assert_eq!(rel.state(), S::CommunicationsInterrupted);
}
