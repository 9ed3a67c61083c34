//! Deterministic simulation of a failover pair: two relationships, their
//! lease tables and a virtual network that delays, cuts and heals the link,
//! with restarts of either node. No sockets, no sleeps: time is a counter.
//! Every message crosses the wire as bytes through the real codec and
//! framer.
//!
//! Checked: a fresh pair reaches normal; a cut moves both to
//! communications-interrupted with ISC's log lines and healing brings
//! them back; thousands of seeded schedules end, after healing, with both
//! normal, nothing queued and identical lease tables, and nothing a peer
//! acknowledged is missing from its table. A failing seed is printed.

use std::collections::{BTreeMap, VecDeque};
use std::net::Ipv4Addr;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tandem_dhcp::{BindingState, HwAddr, Lease};
use tandem_failover::machine::{Action, Config, Event, Leases, Persisted, Relationship, Service};
use tandem_failover::{DecodeMode, FailoverState, Framer, Hba, Role};

const T0: u64 = 1_800_000_000;

#[derive(Default, Clone)]
struct Table(BTreeMap<Ipv4Addr, Lease>);

impl Leases for Table {
    fn get(&self, addr: Ipv4Addr) -> Option<Lease> {
        self.0.get(&addr).cloned()
    }
    fn all(&self) -> Vec<Lease> {
        self.0.values().cloned().collect()
    }
}

struct Node {
    rel: Relationship,
    leases: Table,
    saved: Option<Persisted>,
    alive: bool,
    framer: Framer,
    log: Vec<String>,
}

fn config(role: Role) -> Config {
    Config {
        name: "dhcp-failover".into(),
        role,
        mclt: 60,
        hba: (role == Role::Primary).then(|| Hba::from_split(128).unwrap()),
        max_unacked_updates: 10,
        max_response_delay: 30,
        load_balance_max_seconds: 3,
    }
}

/// A message on its way, delivered at `at` unless the link it was sent on
/// is gone by then.
struct InFlight {
    at: u64,
    to: usize,
    epoch: u64,
    bytes: Vec<u8>,
}

struct Sim {
    nodes: [Node; 2],
    now: u64,
    /// The link exists (both connected) in this epoch.
    link: bool,
    epoch: u64,
    /// The network between them is cut.
    cut: bool,
    reconnect_at: u64,
    wire: VecDeque<InFlight>,
    rng: StdRng,
    max_delay: u64,
}

impl Sim {
    fn new(seed: u64, max_delay: u64) -> Sim {
        let node = |role| Node {
            rel: Relationship::new(config(role), None, T0),
            leases: Table::default(),
            saved: None,
            alive: true,
            framer: Framer::new(DecodeMode::IscAllowList),
            log: Vec::new(),
        };
        Sim {
            nodes: [node(Role::Primary), node(Role::Secondary)],
            now: T0,
            link: false,
            epoch: 0,
            cut: false,
            reconnect_at: T0 + 1,
            wire: VecDeque::new(),
            rng: StdRng::seed_from_u64(seed),
            max_delay,
        }
    }

    fn event(&mut self, i: usize, e: Event) {
        if !self.nodes[i].alive {
            return;
        }
        let n = &mut self.nodes[i];
        let actions = n.rel.handle(e, &n.leases, self.now);
        self.apply(i, actions);
    }

    fn apply(&mut self, i: usize, actions: Vec<Action>) {
        let mut follow = Vec::new();
        for a in actions {
            match a {
                Action::Send(m) => {
                    if self.link {
                        let delay = if self.max_delay == 0 {
                            0
                        } else {
                            self.rng.gen_range(0..=self.max_delay)
                        };
                        // TCP keeps order: never before an earlier message.
                        let last = self
                            .wire
                            .iter()
                            .filter(|f| f.to == 1 - i)
                            .map(|f| f.at)
                            .max()
                            .unwrap_or(0);
                        self.wire.push_back(InFlight {
                            at: (self.now + delay).max(last),
                            to: 1 - i,
                            epoch: self.epoch,
                            bytes: m.encode().expect("our messages encode"),
                        });
                    }
                }
                Action::CloseLink => self.drop_link(),
                Action::Persist(p) => self.nodes[i].saved = Some(p),
                Action::StoreBinding { xid, mut lease } => {
                    let addr = lease.addr;
                    // As the engine stores it: both sides know this version.
                    lease.tstp = lease.atsfp;
                    trace(self.now, i, || {
                        format!("stores {addr} {:?} start {}", lease.state, lease.start)
                    });
                    self.nodes[i].leases.0.insert(addr, lease);
                    follow.push(Event::BindingStored { xid, addr });
                }
                Action::Acked { addr, tstp, state } => {
                    // What the partner acknowledged is in its table: the
                    // potential expiry we sent, or a binding at least as
                    // new (the simulation's leases start 300 s before
                    // their potential expiry).
                    let theirs = self.nodes[1 - i].leases.get(addr);
                    assert!(
                        theirs
                            .as_ref()
                            .is_some_and(|t| t.tsfp >= tstp || t.start + 300 >= tstp),
                        "node {i}: {addr} acked (tstp {tstp}) but the partner has {theirs:?}"
                    );
                    // As the engine does: the partner knows this potential
                    // expiry now; an acknowledged release frees the address.
                    if let Some(l) = self.nodes[i].leases.0.get_mut(&addr) {
                        if l.tstp == tstp {
                            l.atsfp = tstp;
                            l.tsfp = tstp;
                        }
                        if l.state == state && state == BindingState::Released {
                            l.state = BindingState::Free;
                        }
                    }
                }
                Action::Balance { poolreq } => follow.push(Event::Balanced {
                    poolreq,
                    given: 0,
                    short: false,
                }),
                Action::Log { text, .. } => {
                    if std::env::var_os("SIM_TRACE").is_some() {
                        eprintln!("{} node{i} {text}", self.now - T0);
                    }
                    self.nodes[i].log.push(text)
                }
            }
        }
        for e in follow {
            self.event(i, e);
        }
    }

    fn drop_link(&mut self) {
        if !self.link {
            return;
        }
        self.link = false;
        self.epoch += 1;
        self.reconnect_at = self.now + 5;
        for j in 0..2 {
            self.nodes[j].framer = Framer::new(DecodeMode::IscAllowList);
            self.event(j, Event::LinkDown);
        }
    }

    fn step(&mut self) {
        self.now += 1;
        if !self.link
            && !self.cut
            && self.nodes.iter().all(|n| n.alive)
            && self.now >= self.reconnect_at
        {
            self.link = true;
            self.epoch += 1;
            // The secondary sees the connection first half the time.
            let first = self.rng.gen_range(0..2);
            self.event(first, Event::LinkUp);
            self.event(1 - first, Event::LinkUp);
        }
        // Deliver what is due, in order. A cut network holds the bytes,
        // as TCP would, until it heals or a side gives up on the link.
        while !self.cut {
            let Some(pos) = self.wire.iter().position(|f| f.at <= self.now) else {
                break;
            };
            let f = self.wire.remove(pos).unwrap();
            if f.epoch != self.epoch || !self.link {
                continue;
            }
            let n = &mut self.nodes[f.to];
            n.framer.push(&f.bytes);
            loop {
                let m = match self.nodes[f.to].framer.next_message() {
                    Ok(Some(m)) => m,
                    Ok(None) => break,
                    Err(e) => panic!("framing error: {e}"),
                };
                if matches!(
                    m.kind,
                    tandem_failover::MessageType::BndUpd | tandem_failover::MessageType::BndAck
                ) {
                    trace(self.now, f.to, || {
                        format!(
                            "gets {} {} xid {} {:?} start {:?} reject {:?}",
                            m.kind.name(),
                            m.assigned_address()
                                .map(|a| a.to_string())
                                .unwrap_or_default(),
                            m.xid,
                            m.binding_status(),
                            m.stos(),
                            m.reject_reason()
                        )
                    });
                }
                self.event(f.to, Event::Received(m));
                if f.epoch != self.epoch {
                    break;
                }
            }
        }
        for i in 0..2 {
            self.event(i, Event::Tick);
        }
    }

    fn run(&mut self, seconds: u64) {
        for _ in 0..seconds {
            self.step();
        }
    }

    fn cut(&mut self) {
        self.cut = true;
        // Nothing notices until the keepalive times out.
    }

    fn heal(&mut self) {
        self.cut = false;
    }

    /// A crash and restart: the node forgets everything but its persisted
    /// state and its lease table; its partner sees the link drop.
    fn restart(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        n.rel = Relationship::new(
            config(if i == 0 {
                Role::Primary
            } else {
                Role::Secondary
            }),
            n.saved,
            self.now,
        );
        self.drop_link();
    }

    fn states(&self) -> (FailoverState, FailoverState) {
        (self.nodes[0].rel.state(), self.nodes[1].rel.state())
    }

    /// Node `i` changes `a` to exactly this version (no policy checks),
    /// as the engine would have made it: an expired binding has ended, a
    /// released one ended at its release.
    fn set(&mut self, i: usize, a: Ipv4Addr, state: BindingState, client: u8, cltt: u64) {
        let end = match state {
            BindingState::Expired => self.now - 1,
            BindingState::Released => cltt,
            _ => cltt + 300,
        };
        let lease = Lease {
            addr: a,
            state,
            start: cltt,
            end,
            cltt,
            hw: Some(HwAddr::ethernet([2, 0, 0, 0, 9, client])),
            client_id: None,
            hostname: None,
            ddns: None,
            tstp: cltt + 300,
            atsfp: 0,
            tsfp: 0,
        };
        self.nodes[i].leases.0.insert(a, lease.clone());
        self.event(i, Event::LeaseChanged(lease));
    }

    /// A client transaction at node `i` on address `a`, if its state lets it.
    fn grant(&mut self, i: usize, a: Ipv4Addr) {
        let service = self.nodes[i].rel.service();
        let own = (a.octets()[3] % 2) as usize == i;
        let existing = self.nodes[i].leases.get(a);
        let allowed = match service {
            Service::None => false,
            Service::LoadBalanced => own,
            // Alone: renew anything active, allocate only our own.
            Service::Alone => {
                own || existing
                    .as_ref()
                    .is_some_and(|l| l.state == BindingState::Active)
            }
            Service::PartnerDown { .. } => true,
        };
        if !allowed {
            return;
        }
        let client = self.rng.gen_range(1..=6u8);
        let hw = match &existing {
            Some(l) if l.state == BindingState::Active => l.hw.clone().unwrap(),
            _ => HwAddr::ethernet([2, 0, 0, 0, i as u8, client]),
        };
        let lease = Lease {
            addr: a,
            state: if self.rng.gen_bool(0.8) {
                BindingState::Active
            } else {
                BindingState::Released
            },
            start: self.now,
            end: self.now + 300,
            cltt: self.now,
            hw: Some(hw),
            client_id: None,
            hostname: None,
            ddns: None,
            tstp: self.now + 300,
            atsfp: 0,
            tsfp: 0,
        };
        trace(self.now, i, || {
            format!(
                "grants {a} {:?} start {} ({service:?})",
                lease.state, lease.start
            )
        });
        self.nodes[i].leases.0.insert(a, lease.clone());
        self.event(i, Event::LeaseChanged(lease));
    }
}

/// A line of the schedule's story when `SIM_TRACE` is set.
fn trace(now: u64, node: usize, what: impl FnOnce() -> String) {
    if std::env::var_os("SIM_TRACE").is_some() {
        eprintln!("{} node{node} {}", now - T0, what());
    }
}

/// The part of a lease both nodes must agree on. A released or expired
/// binding the partner accepted is free there, as ISC does.
fn agreed(t: &Table) -> Vec<(Ipv4Addr, BindingState, Option<HwAddr>, u64, u64)> {
    t.0.values()
        .map(|l| {
            let state = match l.state {
                BindingState::Released | BindingState::Expired | BindingState::Reset => {
                    BindingState::Free
                }
                s => s,
            };
            (l.addr, state, l.hw.clone(), l.start, l.end)
        })
        .collect()
}

fn addr(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 168, 0, 100 + n)
}

#[test]
fn a_new_pair_recovers_and_both_go_normal() {
    let mut sim = Sim::new(1, 0);
    sim.run(200);
    assert_eq!(sim.states(), (FailoverState::Normal, FailoverState::Normal));
    for n in &sim.nodes {
        assert!(
            n.log
                .iter()
                .any(|l| l == "failover peer dhcp-failover: Both servers normal"),
            "{:?}",
            n.log
        );
    }
}

#[test]
fn a_cut_link_is_communications_interrupted_and_healing_restores_normal() {
    let mut sim = Sim::new(2, 1);
    sim.run(200);
    assert_eq!(sim.states(), (FailoverState::Normal, FailoverState::Normal));
    sim.cut();
    sim.run(40);
    assert_eq!(
        sim.states(),
        (
            FailoverState::CommunicationsInterrupted,
            FailoverState::CommunicationsInterrupted
        )
    );
    assert!(sim.nodes[0]
        .log
        .iter()
        .any(|l| l
            == "failover peer dhcp-failover: I move from normal to communications-interrupted"));
    // Both keep serving alone while apart.
    sim.grant(0, addr(2));
    sim.grant(1, addr(3));
    sim.heal();
    sim.run(30);
    assert_eq!(sim.states(), (FailoverState::Normal, FailoverState::Normal));
    let log = &sim.nodes[1].log;
    assert!(
        log.iter().any(|l| l
            == "failover peer dhcp-failover: peer moves from communications-interrupted to normal"),
        "{log:?}"
    );
    assert!(log
        .iter()
        .any(|l| l
            == "failover peer dhcp-failover: I move from communications-interrupted to normal"));
    assert_eq!(agreed(&sim.nodes[0].leases), agreed(&sim.nodes[1].leases));
}

#[test]
fn bindings_replicate_with_flow_control() {
    let mut sim = Sim::new(3, 2);
    sim.run(200);
    for n in 0..40 {
        sim.grant((n % 2) as usize, addr(n));
    }
    sim.run(20);
    assert_eq!(sim.nodes[0].leases.0.len(), 40);
    assert_eq!(agreed(&sim.nodes[0].leases), agreed(&sim.nodes[1].leases));
    assert_eq!(sim.nodes[0].rel.pending_updates(), 0);
}

#[test]
fn a_restarted_node_returns_to_normal_and_catches_up() {
    let mut sim = Sim::new(4, 1);
    sim.run(200);
    sim.nodes[1].alive = false;
    sim.drop_link();
    sim.run(40);
    assert_eq!(
        sim.nodes[0].rel.state(),
        FailoverState::CommunicationsInterrupted
    );
    sim.grant(0, addr(4));
    sim.grant(0, addr(5)); // renews nothing: not ours and not active, refused
    sim.restart(1);
    sim.nodes[1].alive = true;
    sim.run(60);
    assert_eq!(sim.states(), (FailoverState::Normal, FailoverState::Normal));
    assert_eq!(agreed(&sim.nodes[0].leases), agreed(&sim.nodes[1].leases));
}

#[test]
fn operator_partner_down_serves_everything() {
    let mut sim = Sim::new(5, 0);
    sim.run(200);
    sim.nodes[1].alive = false;
    sim.drop_link();
    sim.run(40);
    sim.event(0, Event::OperatorPartnerDown);
    assert_eq!(sim.nodes[0].rel.state(), FailoverState::PartnerDown);
    assert!(matches!(
        sim.nodes[0].rel.service(),
        Service::PartnerDown { .. }
    ));
    // The partner comes back: it learns it must recover, and the pair
    // returns to normal after the recovery.
    sim.restart(1);
    sim.nodes[1].alive = true;
    sim.run(300);
    assert_eq!(
        sim.states(),
        (FailoverState::Normal, FailoverState::Normal),
        "{:?}\n{:?}",
        sim.nodes[0].log,
        sim.nodes[1].log
    );
}

/// Random schedules: leases at both nodes, cuts, heals, restarts, delays.
#[test]
fn random_schedules_converge_after_healing() {
    let seeds: u64 = std::env::var("SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000);
    let mut seen: BTreeMap<&str, u64> = BTreeMap::new();
    for seed in 0..seeds {
        let seed = std::env::var("SIM_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(seed);
        let result = std::panic::catch_unwind(|| run_schedule(seed));
        match result {
            Ok(logs) => {
                for (key, needle) in [
                    (
                        "interrupted",
                        "I move from normal to communications-interrupted",
                    ),
                    ("dueling", "rejected: less critical binding"),
                    ("partner-down", "to partner-down"),
                    ("recover", "I move from startup to recover"),
                    ("restart-normal", "I move from startup to normal"),
                    ("potential-conflict", "to potential-conflict"),
                ] {
                    if logs.iter().any(|l| l.contains(needle)) {
                        *seen.entry(key).or_default() += 1;
                    }
                }
            }
            Err(e) => {
                eprintln!("failing seed: {seed} (rerun with run_schedule({seed}))");
                std::panic::resume_unwind(e);
            }
        }
    }
    eprintln!("schedules that reached each situation: {seen:?}");
    // The schedules must actually explore: cuts that interrupt, restarts.
    if seeds >= 200 {
        assert!(
            seen.get("interrupted").copied().unwrap_or(0) > seeds / 10,
            "{seen:?}"
        );
        assert!(
            seen.get("restart-normal").copied().unwrap_or(0) > 0,
            "{seen:?}"
        );
    }
}

fn run_schedule(seed: u64) -> Vec<String> {
    let mut sim = Sim::new(seed, seed % 3);
    let steps = 300 + seed % 200;
    for _ in 0..steps {
        let r: u32 = sim.rng.gen_range(0..100);
        match r {
            0..=29 => {
                let i = sim.rng.gen_range(0..2);
                let a = addr(sim.rng.gen_range(0..16));
                sim.grant(i, a);
            }
            30..=31 => sim.cut(),
            32..=34 => sim.heal(),
            35 => {
                let i = sim.rng.gen_range(0..2);
                sim.restart(i);
            }
            // An operator declaring the partner down during an outage.
            36 if !sim.link && sim.rng.gen_bool(0.3) => {
                let i = sim.rng.gen_range(0..2);
                sim.event(i, Event::OperatorPartnerDown);
            }
            _ => {}
        }
        sim.step();
    }
    // Heal everything and let it settle without new leases.
    sim.heal();
    sim.run(400);
    let (a, b) = sim.states();
    assert_eq!(
        (a, b),
        (FailoverState::Normal, FailoverState::Normal),
        "seed {seed}: not normal after healing\nprimary: {:?}\nsecondary: {:?}",
        sim.nodes[0].log.iter().rev().take(12).collect::<Vec<_>>(),
        sim.nodes[1].log.iter().rev().take(12).collect::<Vec<_>>()
    );
    assert_eq!(sim.nodes[0].rel.pending_updates(), 0, "seed {seed}");
    assert_eq!(sim.nodes[1].rel.pending_updates(), 0, "seed {seed}");
    assert_eq!(
        agreed(&sim.nodes[0].leases),
        agreed(&sim.nodes[1].leases),
        "seed {seed}: tables differ"
    );
    let mut logs = sim.nodes[0].log.clone();
    logs.extend(sim.nodes[1].log.iter().cloned());
    logs
}

/// Both nodes change the same address at the same moment, in every
/// combination of binding states, same or different client, and which
/// transaction is later: the dueling updates must settle on one version
/// at both (ISC's own rule does not, for an active binding against a
/// released or expired one).
#[test]
fn dueling_updates_settle_on_one_version() {
    use BindingState as B;
    let states = [B::Active, B::Released, B::Expired, B::Free, B::Backup];
    let mut cases = 0;
    for s0 in states {
        for s1 in states {
            for same_client in [true, false] {
                for (c0, c1) in [(10, 20), (20, 10), (15, 15)] {
                    let mut sim = Sim::new(7, 0);
                    sim.run(20);
                    assert_eq!(sim.states(), (FailoverState::Normal, FailoverState::Normal));
                    let a = addr(1);
                    let now = sim.now;
                    sim.set(0, a, s0, 1, now - 30 + c0);
                    sim.set(1, a, s1, if same_client { 1 } else { 2 }, now - 30 + c1);
                    sim.run(10);
                    assert_eq!(
                        agreed(&sim.nodes[0].leases),
                        agreed(&sim.nodes[1].leases),
                        "{s0:?}/{c0} at the primary, {s1:?}/{c1} at the secondary, same client: {same_client}"
                    );
                    assert_eq!(sim.nodes[0].rel.pending_updates(), 0);
                    assert_eq!(sim.nodes[1].rel.pending_updates(), 0);
                    cases += 1;
                }
            }
        }
    }
    assert_eq!(cases, 150);
}
