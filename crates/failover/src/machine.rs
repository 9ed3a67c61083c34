//! The failover relationship as a pure state machine: one [`Relationship`]
//! per `failover peer` block, driven by [`Event`]s (link up/down, a message
//! from the partner, a lease the DHCP engine committed, the passing of
//! time) and answering with [`Action`]s for the shell to carry out (send a
//! message, close the link, persist the state, store a binding the partner
//! sent).
//!
//! It follows ISC dhcpd 4.4 (dhcp-anchors.md §1.2, §1.6–§1.8): who sends
//! CONNECT, the STARTUP period, the transition table driven by the
//! partner's STATE and by link loss, recovery with UPDREQALL/UPDDONE and
//! the MCLT wait, conflict resolution with UPDREQ, keepalives and the
//! max-response-delay cut-off, flow control by the partner's
//! max-unacked-bndupd. The log lines are ISC's, word for word where the
//! user knows them (`failover peer NAME: I move from normal to
//! communications-interrupted`).
//!
//! Time is whole UNIX seconds, given with every event.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::Ipv4Addr;

use tandem_dhcp::failover::Policy;
use tandem_dhcp::{BindingState, Lease};

use crate::hash::Hba;
use crate::wire::{
    self as build, is_tandem_vendor, lease_from_bndupd, Connect, ConnectAck, TandemExt,
    TANDEM_VENDOR_CLASS,
};
use crate::wire::{FailoverState, IpFlags, Message, MessageType, RejectReason, ServerFlags};
use crate::Role;

use FailoverState as S;

/// How long a new link may take to finish CONNECT/CONNECTACK (ISC: 15 s).
pub const HANDSHAKE_TIMEOUT: u64 = 15;
/// How long a starting server waits for the partner's STATE (ISC: 15 s).
pub const STARTUP_TIMEOUT: u64 = 15;
/// The largest clock difference ISC accepts at connect.
pub const MAX_SKEW: i64 = 60;

/// One relationship's settings, as the `failover peer` block gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub name: String,
    pub role: Role,
    /// The primary's `mclt`; a secondary takes the primary's from CONNECT.
    pub mclt: u32,
    /// The primary's `split`/`hba`; a secondary takes it from CONNECT.
    pub hba: Option<Hba>,
    /// `max-unacked-updates`: BNDUPDs the partner may have in flight to us.
    pub max_unacked_updates: u32,
    /// `max-response-delay`: silence after which we drop the link.
    pub max_response_delay: u32,
    /// `load balance max seconds`: a client that has waited longer (its
    /// `secs`) is answered by both servers. 0 turns load balancing off.
    pub load_balance_max_seconds: u16,
}

/// What must survive a restart (ISC's `failover peer "NAME" state { my
/// state ...; peer state ...; }` in the lease file), persisted before the
/// change is acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Persisted {
    pub my_state: FailoverState,
    pub my_stos: u64,
    pub partner_state: FailoverState,
    pub partner_stos: u64,
    /// The MCLT in force (a secondary's is the primary's).
    pub mclt: u32,
}

/// Something that happened, for [`Relationship::handle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A TCP connection with the partner is established (either way).
    LinkUp,
    /// That connection closed or failed.
    LinkDown,
    /// A message arrived on the link.
    Received(Message),
    /// Time passed; check the timers.
    Tick,
    /// The DHCP engine committed this lease version: tell the partner.
    LeaseChanged(Lease),
    /// The shell has durably stored the binding of [`Action::StoreBinding`]
    /// `xid`; the BNDACK may go.
    BindingStored { xid: u32, addr: Ipv4Addr },
    /// The operator says the partner is down (`tandem failover
    /// partner-down`, ISC's omshell).
    OperatorPartnerDown,
    /// The operator stops this server's service for a while (`tandem
    /// failover pause`, ISC's local-state paused): the partner moves to
    /// communications-interrupted and serves alone.
    OperatorPause,
    /// The operator takes this server out (`tandem failover shut-down`,
    /// ISC's local-state shut-down): the partner moves to partner-down.
    OperatorShutDown,
    /// The operator ends a pause or shut-down (`tandem failover resume`).
    OperatorResume,
    /// The shell ran the pool balancing that [`Action::Balance`] asked for:
    /// `given` addresses went to the partner (their updates come as
    /// [`Event::LeaseChanged`]); `short` means this side is short of
    /// addresses and should ask for more (POOLREQ).
    Balanced {
        poolreq: Option<u32>,
        given: u32,
        short: bool,
    },
}

/// Something the shell must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Send(Message),
    CloseLink,
    /// Write this state to disk before anything after it is done.
    Persist(Persisted),
    /// Store this lease (the partner's binding update) durably, apply it to
    /// the engine, then report [`Event::BindingStored`].
    StoreBinding {
        xid: u32,
        lease: Lease,
    },
    /// The partner acknowledged our update of this lease, sent in binding
    /// state `state` with potential expiry `tstp` (for MCLT bookkeeping,
    /// and an expired or released address becomes free).
    Acked {
        addr: Ipv4Addr,
        tstp: u64,
        state: BindingState,
    },
    /// Run pool balancing (on entering normal, and when the partner sends
    /// POOLREQ, whose xid is `poolreq`), then report [`Event::Balanced`].
    Balance {
        poolreq: Option<u32>,
    },
    /// A line for the operator's log.
    Log {
        warn: bool,
        text: String,
    },
}

/// The lease table, as the relationship reads it.
pub trait Leases {
    fn get(&self, addr: Ipv4Addr) -> Option<Lease>;
    /// Every lease (for UPDREQALL and after a restart).
    fn all(&self) -> Vec<Lease>;
    /// Whether `addr` is in a pool of this relationship; a binding update
    /// for any other address is refused ("illegal IP address"), as ISC
    /// refuses it.
    fn covers(&self, _addr: Ipv4Addr) -> bool {
        true
    }
}

/// What the DHCP engine may do in the current state (the engine's own
/// type: the shell hands it over as part of a [`Policy`]).
pub use tandem_dhcp::failover::Service;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Link {
    Down,
    /// Connected; waiting for CONNECT (secondary) or CONNECTACK (primary).
    Handshaking {
        since: u64,
        connect_xid: Option<u32>,
    },
    Up,
}

/// One failover relationship.
#[derive(Debug)]
pub struct Relationship {
    config: Config,
    mclt: u32,
    hba: Option<Hba>,
    my_state: FailoverState,
    my_stos: u64,
    /// While in STARTUP: the state to return to.
    saved_state: FailoverState,
    startup_until: u64,
    partner_state: FailoverState,
    partner_stos: u64,
    partner_startup: bool,
    link: Link,
    last_rx: u64,
    last_tx: u64,
    partner_receive_timer: u32,
    partner_max_unacked: u32,
    next_xid: u32,
    /// Addresses whose latest version the partner has not acknowledged, in
    /// the order to send them.
    queue: VecDeque<Ipv4Addr>,
    queued: BTreeSet<Ipv4Addr>,
    /// BNDUPDs in flight: xid → (address, the tstp it carried, the state
    /// it carried).
    in_flight: BTreeMap<u32, (Ipv4Addr, u64, BindingState)>,
    /// The xid of the UPDREQ/UPDREQALL we are answering, UPDDONE once the
    /// queue and the in-flight updates are empty.
    answering: Option<u32>,
    /// We sent UPDREQ/UPDREQALL and wait for UPDDONE.
    requested: bool,
    /// After a restart, every lease the partner may not have (see
    /// [`unacked`]) is sent once on the first link.
    resend_all: bool,
    /// The partner on this link named tandem's vendor class in its CONNECT
    /// or CONNECTACK: tandem's extension ([`TandemExt`]) may be sent, and
    /// is read. Never set for ISC, which therefore never receives it.
    partner_tandem: bool,
    /// Our hash of the DHCP configuration both nodes must share.
    config_hash: Option<u64>,
    /// The partner's hash was compared on this link.
    hash_checked: bool,
    /// The last comparison found the two configurations different (kept
    /// across link drops, for `tandem status`, until a link shows them equal).
    config_differs: bool,
}

/// Whether the partner may not know this version of the lease, the rule
/// ISC applies after a restart and for UPDREQ: its potential expiry was
/// never acknowledged (`tstp > atsfp`; every local change clears `atsfp`,
/// an acknowledgement sets it to `tstp`, a binding from the partner sets
/// both to the partner's potential expiry), or it is expired, released or
/// reset. Re-sending everything instead is not harmless: an old FREE or
/// BACKUP whose potential expiry has passed would overwrite a binding the
/// partner made since, which ISC accepts.
pub fn unacked(l: &Lease) -> bool {
    l.tstp > l.atsfp
        || matches!(
            l.state,
            BindingState::Expired | BindingState::Released | BindingState::Reset
        )
}

/// ISC's "disconnect" event: the state a server moves to when the link is
/// lost (or STARTUP ends without the partner).
fn after_disconnect(s: FailoverState) -> FailoverState {
    match s {
        S::Normal => S::CommunicationsInterrupted,
        S::PotentialConflict | S::UnknownState => S::ResolutionInterrupted,
        other => other,
    }
}

fn name(s: FailoverState) -> &'static str {
    s.isc_name()
}

impl Relationship {
    /// A relationship at process start: STARTUP, remembering `saved` (or
    /// RECOVER for a server that was never paired, as ISC does).
    pub fn new(config: Config, saved: Option<Persisted>, now: u64) -> Relationship {
        let (saved_state, my_stos, partner_state, partner_stos, mclt) = match saved {
            Some(p) => (
                p.my_state,
                p.my_stos,
                p.partner_state,
                p.partner_stos,
                if config.role == Role::Primary {
                    config.mclt
                } else {
                    p.mclt
                },
            ),
            None => (S::Recover, now, S::UnknownState, 0, config.mclt),
        };
        Relationship {
            hba: config.hba,
            config,
            mclt,
            my_state: S::Startup,
            my_stos,
            saved_state,
            startup_until: now + STARTUP_TIMEOUT,
            partner_state,
            partner_stos,
            partner_startup: false,
            link: Link::Down,
            last_rx: now,
            last_tx: now,
            partner_receive_timer: 0,
            partner_max_unacked: 1,
            next_xid: 1,
            queue: VecDeque::new(),
            queued: BTreeSet::new(),
            in_flight: BTreeMap::new(),
            answering: None,
            requested: false,
            resend_all: true,
            partner_tandem: false,
            config_hash: None,
            hash_checked: false,
            config_differs: false,
        }
    }

    /// Sets the hash of the configuration the two nodes must share (the
    /// shell computes it from the relationship's pools and options); a
    /// tandem partner's is compared with it at every connect.
    pub fn set_config_hash(&mut self, hash: u64) {
        self.config_hash = Some(hash);
    }

    /// Whether a tandem partner's configuration was last found to differ
    /// from ours.
    pub fn config_differs(&self) -> bool {
        self.config_differs
    }

    /// Whether the partner on the current link is a tandem node.
    pub fn partner_is_tandem(&self) -> bool {
        self.partner_tandem && self.link != Link::Down
    }

    /// Compares a tandem partner's configuration hash with ours, once per
    /// link.
    fn check_hash(&mut self, out: &mut Vec<Action>, m: &Message) {
        if !self.partner_tandem || self.hash_checked {
            return;
        }
        let (Some(ours), Some(theirs)) = (
            self.config_hash,
            TandemExt::of(m).and_then(|e| e.config_hash),
        ) else {
            return;
        };
        self.hash_checked = true;
        self.config_differs = ours != theirs;
        if ours != theirs {
            self.log(
                out,
                true,
                format!(
                    "failover peer {}: partner's configuration differs from ours (pools/options)",
                    self.config.name
                ),
            );
        }
    }

    /// The extension carrying our configuration hash, for a tandem
    /// partner.
    fn hash_ext(&self) -> Option<TandemExt> {
        (self.partner_tandem && self.config_hash.is_some()).then(|| TandemExt {
            config_hash: self.config_hash,
            ..TandemExt::default()
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn state(&self) -> FailoverState {
        self.my_state
    }

    pub fn partner_state(&self) -> FailoverState {
        self.partner_state
    }

    pub fn mclt(&self) -> u32 {
        self.mclt
    }

    pub fn hba(&self) -> Option<&Hba> {
        self.hba.as_ref()
    }

    pub fn link_up(&self) -> bool {
        self.link == Link::Up
    }

    /// BNDUPDs queued or in flight.
    pub fn pending_updates(&self) -> usize {
        self.queue.len() + self.in_flight.len()
    }

    /// What the DHCP engine may do now. ISC also stops answering when the
    /// partner is in a state that demands it (partner-down and the
    /// conflict states) even if our own state would serve.
    pub fn service(&self) -> Service {
        let peer_demands = matches!(
            self.partner_state,
            S::PartnerDown | S::PotentialConflict | S::ConflictDone | S::ResolutionInterrupted
        ) && self.link_up();
        match self.my_state {
            S::Normal if !peer_demands => Service::LoadBalanced,
            S::CommunicationsInterrupted if !peer_demands => Service::Alone,
            S::PartnerDown => Service::PartnerDown {
                since: self.my_stos + u64::from(self.mclt),
            },
            _ => Service::None,
        }
    }

    /// Why this server answers nobody, in ISC's words (`nrr` in
    /// `dhcp_failover_set_service_state`), or "" when it answers.
    pub fn not_responding_reason(&self) -> &'static str {
        if self.service() != Service::None {
            return "";
        }
        match self.my_state {
            S::UnknownState => " (my state unknown)",
            S::ResolutionInterrupted | S::PotentialConflict | S::ConflictDone => {
                " (resolving conflicts)"
            }
            S::Recover => " (recovering)",
            S::ShutDown => " (shut down)",
            S::Paused => " (paused)",
            S::RecoverWait => " (recover wait)",
            S::RecoverDone => " (recover done)",
            S::Startup => " (startup)",
            _ if self.partner_state == S::PartnerDown => " (peer demands: recovering)",
            _ => " (peer demands: resolving conflicts)",
        }
    }

    /// What the DHCP engine must apply to this relationship's pools now.
    pub fn policy(&self) -> Policy {
        Policy {
            service: self.service(),
            hba: self.hba,
            mclt: self.mclt,
            reason: self.not_responding_reason().to_string(),
        }
    }

    /// The start of our current state (STOS).
    pub fn stos(&self) -> u64 {
        self.my_stos
    }

    /// Whether the partner is in STARTUP, as its last STATE said.
    pub fn partner_starting(&self) -> bool {
        self.partner_startup
    }

    fn answer_poolreq(&mut self, out: &mut Vec<Action>, xid: u32, given: u32, now: u64) {
        if given == 0 {
            self.log(
                out,
                false,
                format!(
                    "peer {}: Got POOLREQ, answering negatively!  Peer may be out of leases or database inconsistent.",
                    self.config.name
                ),
            );
        }
        if self.link == Link::Up {
            self.send(out, build::poolresp(now as u32, xid, given), now);
        }
    }

    /// Whether the relationship's state and persisted facts, for
    /// [`Action::Persist`].
    fn persisted(&self) -> Persisted {
        Persisted {
            my_state: if self.my_state == S::Startup {
                self.saved_state
            } else {
                self.my_state
            },
            my_stos: self.my_stos,
            partner_state: self.partner_state,
            partner_stos: self.partner_stos,
            mclt: self.mclt,
        }
    }

    fn xid(&mut self) -> u32 {
        let x = self.next_xid;
        self.next_xid = self.next_xid.wrapping_add(1).max(1);
        x
    }

    fn log(&self, out: &mut Vec<Action>, warn: bool, text: String) {
        out.push(Action::Log { warn, text });
    }

    fn send(&mut self, out: &mut Vec<Action>, m: Message, now: u64) {
        self.last_tx = now;
        out.push(Action::Send(m));
    }

    fn send_state(&mut self, out: &mut Vec<Action>, now: u64) {
        if self.link != Link::Up {
            return;
        }
        let (state, flags) = if self.my_state == S::Startup {
            (self.saved_state, ServerFlags::STARTUP)
        } else {
            (self.my_state, ServerFlags::default())
        };
        let xid = self.xid();
        let mut m = build::state(now as u32, xid, state, flags, self.my_stos as u32);
        if let Some(ext) = self.hash_ext() {
            m = ext.append_to(m);
        }
        self.send(out, m, now);
    }

    /// Moves to `next`, persisting first, then telling the partner and
    /// doing what entering the state requires.
    fn transition(
        &mut self,
        out: &mut Vec<Action>,
        next: FailoverState,
        now: u64,
        leases: &dyn Leases,
    ) {
        let from = self.my_state;
        if from == next {
            return;
        }
        self.my_state = next;
        self.my_stos = now;
        out.push(Action::Persist(self.persisted()));
        self.log(
            out,
            !matches!(next, S::Normal),
            format!(
                "failover peer {}: I move from {} to {}",
                self.config.name,
                name(from),
                name(next)
            ),
        );
        self.send_state(out, now);
        match next {
            S::Recover if self.link == Link::Up => self.request_all(out, now),
            S::PotentialConflict => {
                // The primary asks first; the secondary after the primary
                // reports conflict-done.
                let partner_done = self.partner_state == S::ConflictDone;
                if self.link == Link::Up && (self.config.role == Role::Primary || partner_done) {
                    self.request_unacked(out, now);
                }
            }
            S::Normal => {
                if self.partner_state == S::Normal {
                    self.log(
                        out,
                        false,
                        format!("failover peer {}: Both servers normal", self.config.name),
                    );
                }
                self.pump(out, now, leases);
                // ISC balances its pools on entering normal.
                out.push(Action::Balance { poolreq: None });
            }
            _ => {}
        }
    }

    fn request_all(&mut self, out: &mut Vec<Action>, now: u64) {
        let xid = self.xid();
        self.requested = true;
        let name = &self.config.name;
        let lines = [
            format!("failover peer {name}: requesting full update from peer"),
            format!("Sent update request all message to {name}"),
        ];
        for text in lines {
            self.log(out, false, text);
        }
        self.send(out, build::updreqall(now as u32, xid), now);
    }

    fn request_unacked(&mut self, out: &mut Vec<Action>, now: u64) {
        let xid = self.xid();
        self.requested = true;
        let text = format!("Sent update request message to {}", self.config.name);
        self.log(out, false, text);
        self.send(out, build::updreq(now as u32, xid), now);
    }

    /// Answers UPDREQ or UPDREQALL `xid` with what has been queued, and
    /// says so in ISC's words.
    fn answer_request(
        &mut self,
        out: &mut Vec<Action>,
        xid: u32,
        all: bool,
        now: u64,
        leases: &dyn Leases,
    ) {
        let what = if all {
            "Update request all"
        } else {
            "Update request"
        };
        let pending = if self.queue.is_empty() && self.in_flight.is_empty() {
            "nothing pending"
        } else {
            "sending update"
        };
        let text = format!("{what} from {}: {pending}", self.config.name);
        self.log(out, false, text);
        self.answering = Some(xid);
        self.pump(out, now, leases);
    }

    /// Handles one event at `now`.
    pub fn handle(&mut self, event: Event, leases: &dyn Leases, now: u64) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::LinkUp => self.link_up_event(&mut out, now),
            Event::LinkDown => self.link_lost(&mut out, now, leases, "disconnected"),
            Event::Received(m) => {
                self.last_rx = now;
                self.received(&mut out, m, now, leases);
            }
            Event::Tick => self.tick(&mut out, now, leases),
            Event::LeaseChanged(l) => {
                self.enqueue(l.addr);
                self.pump(&mut out, now, leases);
            }
            Event::BindingStored { xid, addr } => {
                if self.link == Link::Up {
                    self.send(&mut out, build::bndack(now as u32, xid, addr, None), now);
                }
            }
            Event::Balanced {
                poolreq,
                given,
                short,
            } => {
                if let Some(xid) = poolreq {
                    self.answer_poolreq(&mut out, xid, given, now);
                } else if short && self.link == Link::Up && self.my_state == S::Normal {
                    let xid = self.xid();
                    self.send(&mut out, build::poolreq(now as u32, xid), now);
                }
                self.pump(&mut out, now, leases);
            }
            Event::OperatorPartnerDown if self.mclt == 0 => {
                // A secondary that never heard the primary's MCLT could
                // give only zero-length leases and take the partner's
                // addresses at once.
                self.log(
                    &mut out,
                    true,
                    format!(
                        "failover peer {}: partner-down refused: the MCLT is not known (the primary has never connected)",
                        self.config.name
                    ),
                );
            }
            Event::OperatorPause | Event::OperatorShutDown => {
                let next = if event == Event::OperatorPause {
                    S::Paused
                } else {
                    S::ShutDown
                };
                self.leave_startup(now);
                self.transition(&mut out, next, now, leases);
            }
            Event::OperatorResume => {
                if matches!(self.current(), S::Paused | S::ShutDown) {
                    // Back through communications-interrupted: the partner's
                    // answer to our STATE then decides, by ISC's table (normal
                    // again, or conflict resolution after a partner-down).
                    self.leave_startup(now);
                    self.transition(&mut out, S::CommunicationsInterrupted, now, leases);
                } else {
                    self.log(
                        &mut out,
                        true,
                        format!(
                            "failover peer {}: resume refused: not paused or shut down ({})",
                            self.config.name,
                            name(self.current())
                        ),
                    );
                }
            }
            Event::OperatorPartnerDown => {
                if matches!(
                    self.current(),
                    S::CommunicationsInterrupted | S::ResolutionInterrupted | S::Startup
                ) || self.link != Link::Up
                {
                    self.leave_startup(now);
                    self.transition(&mut out, S::PartnerDown, now, leases);
                } else {
                    self.log(
                        &mut out,
                        true,
                        format!(
                            "failover peer {}: partner-down refused: the partner is connected and {}",
                            self.config.name,
                            name(self.partner_state)
                        ),
                    );
                }
            }
        }
        out
    }

    /// Our state, or while in STARTUP, the one we will return to.
    fn current(&self) -> FailoverState {
        if self.my_state == S::Startup {
            self.saved_state
        } else {
            self.my_state
        }
    }

    fn leave_startup(&mut self, _now: u64) {
        if self.my_state == S::Startup {
            // Back to the saved state, keeping its start time.
            self.my_state = self.saved_state;
        }
    }

    fn enqueue(&mut self, addr: Ipv4Addr) {
        if self.queued.insert(addr) {
            self.queue.push_back(addr);
        }
    }

    /// Sends queued BNDUPDs while the partner's window allows, and UPDDONE
    /// once a requested replay is complete.
    fn pump(&mut self, out: &mut Vec<Action>, now: u64, leases: &dyn Leases) {
        if self.link != Link::Up || !self.may_send_updates() {
            return;
        }
        while (self.in_flight.len() as u32) < self.partner_max_unacked.max(1) {
            let Some(addr) = self.queue.pop_front() else {
                break;
            };
            self.queued.remove(&addr);
            let Some(lease) = leases.get(addr) else {
                continue;
            };
            // A lease is never sent twice at once: the later version waits.
            if self.in_flight.values().any(|(a, _, _)| *a == addr) {
                self.queue.push_back(addr);
                self.queued.insert(addr);
                break;
            }
            let reserved = false;
            let mut sent = lease.clone();
            sent.state = build::transmit_state(self.config.role, lease.state, reserved);
            let xid = self.xid();
            self.in_flight.insert(xid, (addr, lease.tstp, lease.state));
            let m = if self.partner_tandem {
                build::bndupd_tandem(now as u32, xid, &sent, IpFlags::default())
            } else {
                build::bndupd(now as u32, xid, &sent, IpFlags::default())
            };
            self.send(out, m, now);
        }
        if let Some(xid) = self.answering {
            if self.queue.is_empty() && self.in_flight.is_empty() {
                self.answering = None;
                let text = format!("Sent update done message to {}", self.config.name);
                self.log(out, false, text);
                self.send(out, build::upddone(now as u32, xid), now);
            }
        }
    }

    /// ISC sends binding updates in every state where the link is up and
    /// the handshake done, except while it has not yet learnt the
    /// partner's state.
    fn may_send_updates(&self) -> bool {
        !matches!(self.my_state, S::Startup) && self.partner_state != S::UnknownState
    }

    fn link_up_event(&mut self, out: &mut Vec<Action>, now: u64) {
        if self.link != Link::Down {
            // A second connection: ISC answers it with reason 7 and closes
            // it; the shell keeps the first one open.
            self.log(
                out,
                true,
                format!(
                    "failover peer {}: duplicate connection refused",
                    self.config.name
                ),
            );
            return;
        }
        self.link = Link::Handshaking {
            since: now,
            connect_xid: None,
        };
        self.partner_tandem = false;
        self.hash_checked = false;
        self.last_rx = now;
        if self.config.role == Role::Primary {
            let xid = self.xid();
            let m = build::connect(
                now as u32,
                xid,
                &Connect {
                    relationship_name: &self.config.name,
                    max_unacked_bndupd: self.config.max_unacked_updates,
                    receive_timer: self.config.max_response_delay,
                    vendor_class: TANDEM_VENDOR_CLASS,
                    mclt: self.mclt,
                    hba: self.hba.as_ref(),
                },
            );
            self.link = Link::Handshaking {
                since: now,
                connect_xid: Some(xid),
            };
            self.send(out, m, now);
        }
    }

    fn link_lost(&mut self, out: &mut Vec<Action>, now: u64, leases: &dyn Leases, why: &str) {
        if self.link == Link::Down {
            return;
        }
        let was_up = self.link == Link::Up;
        self.link = Link::Down;
        // Un-acked updates go back in the queue, to be sent again.
        let flying: Vec<Ipv4Addr> = self.in_flight.values().map(|(a, _, _)| *a).collect();
        self.in_flight.clear();
        for a in flying.into_iter().rev() {
            if self.queued.insert(a) {
                self.queue.push_front(a);
            }
        }
        self.answering = None;
        self.requested = false;
        if !was_up {
            return;
        }
        self.log(out, true, format!("peer {}: {why}", self.config.name));
        if self.my_state == S::Startup {
            return;
        }
        self.transition(out, after_disconnect(self.my_state), now, leases);
    }

    fn close(
        &mut self,
        out: &mut Vec<Action>,
        now: u64,
        leases: &dyn Leases,
        reason: RejectReason,
        why: &str,
    ) {
        if self.link == Link::Up || matches!(self.link, Link::Handshaking { .. }) {
            let xid = self.xid();
            self.send(
                out,
                build::disconnect(now as u32, xid, reason, Some(why)),
                now,
            );
        }
        out.push(Action::CloseLink);
        self.link_lost(out, now, leases, why);
        self.link = Link::Down;
    }

    fn tick(&mut self, out: &mut Vec<Action>, now: u64, leases: &dyn Leases) {
        match self.link {
            Link::Handshaking { since, .. } if now >= since + HANDSHAKE_TIMEOUT => {
                self.log(
                    out,
                    true,
                    format!(
                        "failover peer {}: connection timed out in the handshake",
                        self.config.name
                    ),
                );
                out.push(Action::CloseLink);
                self.link = Link::Down;
            }
            Link::Up if now >= self.last_rx + u64::from(self.config.max_response_delay.max(1)) => {
                out.push(Action::CloseLink);
                self.link_lost(out, now, leases, "no response from the peer, disconnecting");
            }
            Link::Up => {
                let every = u64::from((self.partner_receive_timer / 3).max(1));
                if now >= self.last_tx + every {
                    let xid = self.xid();
                    self.send(out, build::contact(now as u32, xid), now);
                }
            }
            _ => {}
        }
        if self.my_state == S::Startup && now >= self.startup_until {
            // No STATE from the partner in time: the saved state, mapped as
            // for a lost link (ISC's "disconnect" event).
            self.my_state = self.saved_state;
            self.log(
                out,
                false,
                format!(
                    "failover peer {}: I move from startup to {}",
                    self.config.name,
                    name(self.my_state)
                ),
            );
            if self.link == Link::Up {
                // The partner saw our STARTUP flag; tell it we are back.
                self.send_state(out, now);
                self.pump(out, now, leases);
            } else {
                self.transition(out, after_disconnect(self.my_state), now, leases);
            }
        }
        if self.my_state == S::RecoverWait && now >= self.my_stos + u64::from(self.mclt) {
            self.transition(out, S::RecoverDone, now, leases);
        }
    }

    fn skew_ok(&self, m: &Message, now: u64) -> bool {
        (i64::from(m.time) - now as i64).abs() <= MAX_SKEW
    }

    fn received(&mut self, out: &mut Vec<Action>, m: Message, now: u64, leases: &dyn Leases) {
        match (m.kind, &self.link) {
            (MessageType::Connect, Link::Handshaking { .. })
                if self.config.role == Role::Secondary =>
            {
                self.on_connect(out, m, now, leases);
                return;
            }
            (MessageType::ConnectAck, Link::Handshaking { connect_xid, .. })
                if self.config.role == Role::Primary =>
            {
                let expected = *connect_xid;
                self.on_connectack(out, m, expected, now, leases);
                return;
            }
            (MessageType::Disconnect, _) => {
                let why = m.message_text().map(|t| t.into_owned()).unwrap_or_else(|| {
                    RejectReason::text_for_code(m.reject_reason().unwrap_or(254)).into_owned()
                });
                out.push(Action::CloseLink);
                self.link_lost(out, now, leases, &format!("peer disconnected: {why}"));
                self.link = Link::Down;
                return;
            }
            (_, Link::Up) => {}
            (kind, _) => {
                self.close(
                    out,
                    now,
                    leases,
                    RejectReason::Misc,
                    &format!("{} before the connection was set up", kind.name()),
                );
                return;
            }
        }
        match m.kind {
            MessageType::State => self.on_state(out, &m, now, leases),
            MessageType::Contact => {}
            MessageType::BndUpd => self.on_bndupd(out, &m, now, leases),
            MessageType::BndAck => self.on_bndack(out, &m, now, leases),
            MessageType::UpdReqAll => {
                for l in leases.all() {
                    self.enqueue(l.addr);
                }
                self.answer_request(out, m.xid, true, now, leases);
            }
            MessageType::UpdReq => {
                // What the partner may not have: never acknowledged, or in
                // transition (ISC's dhcp_failover_generate_update_queue).
                for l in leases.all().iter().filter(|l| unacked(l)) {
                    self.enqueue(l.addr);
                }
                self.answer_request(out, m.xid, false, now, leases);
            }
            MessageType::UpdDone => self.on_upddone(out, now, leases),
            MessageType::PoolReq => {
                if self.my_state == S::Normal {
                    out.push(Action::Balance {
                        poolreq: Some(m.xid),
                    });
                } else {
                    self.answer_poolreq(out, m.xid, 0, now);
                }
            }
            MessageType::PoolResp => {
                let n = m.addresses_transferred().unwrap_or(0);
                self.log(out, false, format!("pool response: {n} leases"));
            }
            MessageType::Connect | MessageType::ConnectAck | MessageType::Disconnect => {
                self.close(
                    out,
                    now,
                    leases,
                    RejectReason::DuplicateConnection,
                    "connect on an established link",
                );
            }
        }
    }

    fn on_connect(&mut self, out: &mut Vec<Action>, m: Message, now: u64, leases: &dyn Leases) {
        let theirs = m.relationship_name().map(<[u8]>::to_vec);
        let reject = if theirs.as_deref() != Some(self.config.name.as_bytes()) {
            Some((
                RejectReason::InvalidPartner,
                "unknown failover relationship name",
            ))
        } else if !self.skew_ok(&m, now) {
            Some((RejectReason::TimeMismatch, "time offset too large"))
        } else if m.mclt().is_none() {
            Some((RejectReason::InvalidMclt, "no MCLT provided"))
        } else if m.hba().is_none_or(|h| h.len() != 32) {
            Some((RejectReason::HbaConflict, "invalid HBA"))
        } else {
            None
        };
        let tls = m.tls_request().is_some();
        let ack = ConnectAck {
            relationship_name: theirs.as_deref(),
            max_unacked_bndupd: Some(self.config.max_unacked_updates),
            receive_timer: Some(self.config.max_response_delay),
            vendor_class: TANDEM_VENDOR_CLASS,
            tls_reply: tls,
            reject: reject.map(|(r, t)| (r, Some(t))),
        };
        let mut reply = build::connectack(now as u32, m.xid, &ack);
        if reject.is_none() {
            self.partner_tandem = m.vendor_class_identifier().is_some_and(is_tandem_vendor);
            if let Some(ext) = self.hash_ext() {
                reply = ext.append_to(reply);
            }
        }
        self.send(out, reply, now);
        if let Some((_, why)) = reject {
            self.log(
                out,
                true,
                format!(
                    "failover peer {}: refused a CONNECT: {why}",
                    self.config.name
                ),
            );
            out.push(Action::CloseLink);
            self.link = Link::Down;
            return;
        }
        if let Some(mclt) = m.mclt() {
            if mclt != self.mclt {
                self.mclt = mclt;
                out.push(Action::Persist(self.persisted()));
            }
        }
        self.hba = m.hba().and_then(Hba::from_bytes);
        self.partner_max_unacked = m.max_unacked_bndupd().unwrap_or(1);
        self.partner_receive_timer = m.receive_timer().unwrap_or(self.config.max_response_delay);
        self.established(out, now, leases);
    }

    fn on_connectack(
        &mut self,
        out: &mut Vec<Action>,
        m: Message,
        expected: Option<u32>,
        now: u64,
        leases: &dyn Leases,
    ) {
        if let Some(code) = m.reject_reason() {
            let why = RejectReason::text_for_code(code).into_owned();
            self.log(
                out,
                true,
                format!(
                    "failover peer {}: CONNECT rejected: {why}",
                    self.config.name
                ),
            );
            out.push(Action::CloseLink);
            self.link = Link::Down;
            return;
        }
        if m.relationship_name() != Some(self.config.name.as_bytes()) {
            self.close(
                out,
                now,
                leases,
                RejectReason::InvalidPartner,
                "wrong relationship name in CONNECTACK",
            );
            return;
        }
        if Some(m.xid) != expected {
            self.close(
                out,
                now,
                leases,
                RejectReason::Misc,
                "CONNECTACK for another CONNECT",
            );
            return;
        }
        if !self.skew_ok(&m, now) {
            self.close(
                out,
                now,
                leases,
                RejectReason::TimeMismatch,
                "time offset too large",
            );
            return;
        }
        self.partner_max_unacked = m.max_unacked_bndupd().unwrap_or(1);
        self.partner_receive_timer = m.receive_timer().unwrap_or(self.config.max_response_delay);
        self.partner_tandem = m.vendor_class_identifier().is_some_and(is_tandem_vendor);
        self.check_hash(out, &m);
        self.established(out, now, leases);
    }

    fn established(&mut self, out: &mut Vec<Action>, now: u64, leases: &dyn Leases) {
        self.link = Link::Up;
        self.log(
            out,
            false,
            format!("failover peer {}: connected", self.config.name),
        );
        if self.resend_all {
            self.resend_all = false;
            for l in leases.all().iter().filter(|l| unacked(l)) {
                self.enqueue(l.addr);
            }
        }
        self.send_state(out, now);
    }

    fn on_state(&mut self, out: &mut Vec<Action>, m: &Message, now: u64, leases: &dyn Leases) {
        let Some(reported) = m.failover_state() else {
            self.close(
                out,
                now,
                leases,
                RejectReason::MissingBindingInfo,
                "STATE without server-state",
            );
            return;
        };
        let Ok(peer) = reported else {
            // ISC goes to shut-down when a peer reports a state it does not know.
            self.leave_startup(now);
            self.transition(out, S::ShutDown, now, leases);
            return;
        };
        let startup = m
            .server_flags()
            .is_some_and(|f| f.contains(ServerFlags::STARTUP));
        self.check_hash(out, m);
        let before = self.partner_state;
        self.partner_state = peer;
        self.partner_startup = startup;
        if let Some(t) = m.stos() {
            self.partner_stos = u64::from(t);
        }
        // ISC logs a STATE that repeats the partner's known state too when
        // it is in one of the states that such a STATE can end (a partner
        // back from a restart: "peer moves from normal to normal").
        let repeat_matters = matches!(
            self.current(),
            S::PartnerDown
                | S::CommunicationsInterrupted
                | S::ResolutionInterrupted
                | S::Recover
                | S::ConflictDone
        );
        if before != peer || repeat_matters {
            self.log(
                out,
                false,
                format!(
                    "failover peer {}: peer moves from {} to {}",
                    self.config.name,
                    name(before),
                    name(peer)
                ),
            );
            out.push(Action::Persist(self.persisted()));
        }
        let was_startup = self.my_state == S::Startup;
        self.leave_startup(now);
        if was_startup {
            out.push(Action::Persist(self.persisted()));
            self.log(
                out,
                false,
                format!(
                    "failover peer {}: I move from startup to {}",
                    self.config.name,
                    name(self.my_state)
                ),
            );
        }
        if startup {
            // The partner is still starting: it will send its real state.
            // Ours changed if we just left STARTUP ourselves.
            if was_startup {
                self.send_state(out, now);
            }
            // One exception, where ISC would end in shut-down: a secondary
            // that restarted right after finishing conflict resolution
            // comes back as normal. Its saved normal means it had every
            // update, so conflict-done may complete (ISC moves the two to
            // shut-down and waits for the operator).
            if self.my_state == S::ConflictDone && peer == S::Normal {
                self.transition(out, S::Normal, now, leases);
            }
            self.pump(out, now, leases);
            return;
        }
        if self.my_state == S::RecoverDone && peer == S::RecoverDone {
            self.log(
                out,
                false,
                "Both servers have entered recover-done!".to_string(),
            );
        }
        let next = self.next_on_peer_state(peer, was_startup);
        match next {
            Some(n) => self.transition(out, n, now, leases),
            None => {
                if was_startup {
                    self.send_state(out, now);
                }
                // Entering RECOVER sent UPDREQALL only with a link; ask now.
                if self.my_state == S::Recover
                    && !self.requested
                    && matches!(
                        peer,
                        S::Recover
                            | S::PartnerDown
                            | S::CommunicationsInterrupted
                            | S::RecoverDone
                            | S::Normal
                            | S::RecoverWait
                    )
                {
                    self.request_all(out, now);
                }
                if self.my_state == S::PotentialConflict
                    && self.config.role == Role::Primary
                    && !self.requested
                {
                    self.request_unacked(out, now);
                }
                if self.my_state == S::PotentialConflict
                    && self.config.role == Role::Secondary
                    && peer == S::ConflictDone
                    && !self.requested
                {
                    self.request_unacked(out, now);
                }
                if self.my_state == S::Normal && peer == S::Normal && before != S::Normal {
                    self.log(
                        out,
                        false,
                        format!("failover peer {}: Both servers normal", self.config.name),
                    );
                }
                self.pump(out, now, leases);
            }
        }
    }

    /// ISC's transitions on the partner's STATE (dhcp-anchors.md §1.6).
    fn next_on_peer_state(&self, peer: FailoverState, was_startup: bool) -> Option<FailoverState> {
        let me = self.my_state;
        let n = match (me, peer) {
            (S::Normal, S::PartnerDown) if was_startup => S::Recover,
            (S::Normal, S::PartnerDown) => S::PotentialConflict,
            (S::Normal, S::Recover | S::ShutDown) => S::PartnerDown,
            (S::Normal, S::Paused) => S::CommunicationsInterrupted,
            // A secondary that finished resolving is normal while the
            // primary is still conflict-done: the primary follows shortly.
            (S::Normal, S::ConflictDone) if self.config.role == Role::Secondary => return None,
            (S::Normal, S::PotentialConflict | S::ResolutionInterrupted | S::ConflictDone) => {
                S::ShutDown
            }

            (
                S::CommunicationsInterrupted,
                S::Normal | S::CommunicationsInterrupted | S::RecoverDone | S::RecoverWait,
            ) => S::Normal,
            (S::CommunicationsInterrupted, S::Recover | S::ShutDown) => S::PartnerDown,
            (
                S::CommunicationsInterrupted,
                S::PartnerDown | S::PotentialConflict | S::ResolutionInterrupted | S::ConflictDone,
            ) => S::PotentialConflict,

            (S::PartnerDown, S::RecoverDone) => S::Normal,
            (
                S::PartnerDown,
                S::Normal
                | S::PotentialConflict
                | S::PartnerDown
                | S::CommunicationsInterrupted
                | S::ResolutionInterrupted
                | S::ConflictDone,
            ) => S::PotentialConflict,

            (
                S::Recover,
                S::Normal | S::PotentialConflict | S::ResolutionInterrupted | S::ConflictDone,
            ) => S::PotentialConflict,
            (S::Recover, S::ShutDown) => S::PartnerDown,

            (S::ResolutionInterrupted, p) if !matches!(p, S::ShutDown | S::Paused | S::Startup) => {
                S::PotentialConflict
            }

            (S::PotentialConflict, S::Normal) => S::ShutDown,
            (S::PotentialConflict, S::Recover) => S::Recover,
            (S::PotentialConflict, S::ShutDown) => S::PartnerDown,

            (S::ConflictDone, S::Normal) => S::Normal,
            (S::ConflictDone, S::ShutDown) => S::ShutDown,

            (S::RecoverDone, S::RecoverDone | S::Normal) => S::Normal,
            (S::RecoverDone, S::ShutDown) => S::PartnerDown,
            _ => return None,
        };
        (n != me).then_some(n)
    }

    fn on_upddone(&mut self, out: &mut Vec<Action>, now: u64, leases: &dyn Leases) {
        self.requested = false;
        let text = format!("failover peer {}: peer update completed.", self.config.name);
        self.log(out, false, text);
        match self.my_state {
            S::Recover => {
                // Skip the MCLT wait when the partner is itself freshly
                // recovering (both new), as ISC does.
                if matches!(self.partner_state, S::Recover | S::RecoverDone) {
                    self.transition(out, S::RecoverDone, now, leases);
                } else {
                    self.transition(out, S::RecoverWait, now, leases);
                    self.tick(out, now, leases);
                }
            }
            S::PotentialConflict => {
                let next = if self.config.role == Role::Primary {
                    S::ConflictDone
                } else {
                    S::Normal
                };
                self.transition(out, next, now, leases);
            }
            _ => {}
        }
    }

    fn on_bndack(&mut self, out: &mut Vec<Action>, m: &Message, now: u64, leases: &dyn Leases) {
        let Some((addr, tstp, state)) = self.in_flight.remove(&m.xid) else {
            self.log(
                out,
                true,
                format!(
                    "failover peer {}: BNDACK with unknown xid {}",
                    self.config.name, m.xid
                ),
            );
            return;
        };
        if let Some(code) = m.reject_reason() {
            self.log(
                out,
                true,
                format!(
                    "failover peer {}: binding update for {addr} rejected: {}",
                    self.config.name,
                    RejectReason::text_for_code(code)
                ),
            );
        } else {
            out.push(Action::Acked { addr, tstp, state });
        }
        self.pump(out, now, leases);
    }

    fn on_bndupd(&mut self, out: &mut Vec<Action>, m: &Message, now: u64, _leases: &dyn Leases) {
        let update = match lease_from_bndupd(m) {
            // tandem's extension counts only from a tandem partner.
            Ok(u) if !self.partner_tandem => crate::wire::BindingUpdate { tandem: None, ..u },
            Ok(u) => u,
            Err(e) => {
                let addr = m.assigned_address().unwrap_or(Ipv4Addr::UNSPECIFIED);
                self.log(
                    out,
                    true,
                    format!(
                        "failover peer {}: bad binding update: {e}",
                        self.config.name
                    ),
                );
                let ack = build::bndack(now as u32, m.xid, addr, Some((e.reject_reason(), None)));
                self.send(out, ack, now);
                return;
            }
        };
        if !_leases.covers(update.addr) {
            let reason = Some((RejectReason::IllegalIpAddress, Some("unknown IP address")));
            let ack = build::bndack(now as u32, m.xid, update.addr, reason);
            self.send(out, ack, now);
            return;
        }
        let current = _leases
            .get(update.addr)
            .unwrap_or_else(|| Lease::new(update.addr, BindingState::Free));
        // Dueling updates: our own update for the same address is in
        // flight, and both sides must pick the same winner. ISC's
        // `failover_lease_is_better` does not always: for an active binding
        // at one side and a released one at the other, or an active one
        // against an expired one, each side can take the other's, and the
        // tables never agree again. tandem decides the same way on both
        // sides from the two versions alone:
        // - both name the same client: the later transaction (CLTT) wins;
        // - both active: the later CLTT, ties to the primary's;
        // - one active: the active one (never free an address in use);
        // - neither: the primary's.
        let dueling = self.in_flight.values().any(|(a, _, _)| *a == update.addr);
        if dueling {
            let theirs = update.cltt.unwrap_or(0);
            let primary = self.config.role == Role::Primary;
            let same_client = update.hw.clone().flatten() == current.hw
                && update.client_id == current.client_id
                && current.hw.is_some();
            let ours_active = current.state == BindingState::Active;
            let theirs_active = update.state == BindingState::Active;
            let ours_wins = if same_client && current.cltt != theirs {
                current.cltt > theirs
            } else if ours_active && theirs_active {
                current.cltt > theirs || (current.cltt == theirs && primary)
            } else if ours_active != theirs_active {
                ours_active
            } else {
                primary
            };
            if ours_wins {
                let ack = build::bndack(
                    now as u32,
                    m.xid,
                    update.addr,
                    Some((RejectReason::LessCriticalBindingInfo, None)),
                );
                self.send(out, ack, now);
                return;
            }
        }
        // A duel won by the partner's version is accepted as is: the
        // partner, applying the same rule to the same two versions, has
        // refused ours, and a transition check refusing theirs too would
        // leave the two tables apart for good.
        let tsfp = update.potential_expiry.unwrap_or(0);
        if !dueling && !self.transition_allowed(&current, &update, tsfp, now) {
            let text = format!(
                "{}: invalid state transition: {} to {}",
                update.addr, current.state, update.state
            );
            self.log(
                out,
                true,
                format!(
                    "failover peer {}: binding update refused: {text}",
                    self.config.name
                ),
            );
            let reason = Some((RejectReason::FatalConflict, Some(text.as_str())));
            let ack = build::bndack(now as u32, m.xid, update.addr, reason);
            self.send(out, ack, now);
            return;
        }
        let mut lease = update.apply_to(&current);
        // An expired or released binding is free again once accepted.
        if matches!(
            lease.state,
            BindingState::Expired | BindingState::Released | BindingState::Reset
        ) {
            lease.state = BindingState::Free;
        }
        out.push(Action::StoreBinding { xid: m.xid, lease });
    }

    /// Whether the partner may move our binding `current` to `new` (ISC's
    /// `normal_binding_state_transition_check` in the normal state, its
    /// `conflict_binding_state_transition_check` otherwise). `tsfp` is the
    /// potential expiry the update carries.
    ///
    /// One deliberate difference: ISC's primary refuses an EXPIRED from the
    /// secondary for a binding it still thinks active, while its secondary
    /// accepts one from the primary within 65 s (60 s of clock skew and a
    /// fudge) of the binding's end. Both sides' timers expire the binding
    /// at the same moment, so the refusal only produces a "fatal conflict"
    /// for every expiry that races; tandem applies the 65 s rule in both
    /// directions.
    ///
    /// And one more: an expiry is also accepted when it is of a later
    /// transaction of the same client whose own end has passed (the
    /// partner renewed the client, shorter, and that lease ended); ISC
    /// judges it by the end of its own older version and refuses.
    fn transition_allowed(
        &self,
        current: &Lease,
        update: &crate::wire::BindingUpdate,
        tsfp: u64,
        now: u64,
    ) -> bool {
        use BindingState as B;
        let (from, new) = (current.state, update.state);
        if from == new {
            return true;
        }
        let soon = now.saturating_add(65);
        let later_of_same_client = update.hw.clone().flatten() == current.hw
            && update.client_id == current.client_id
            && update.cltt.unwrap_or(0) > current.cltt;
        let ended =
            current.end <= soon || (later_of_same_client && update.end.is_some_and(|e| e <= soon));
        if self.my_state != S::Normal {
            // Only an address we believe in use is defended.
            return match (from, new) {
                (B::Active, B::Free | B::Backup) => false,
                (B::Active, B::Expired) => ended,
                _ => true,
            };
        }
        match (from, new) {
            // From the secondary: only the client can end its binding there.
            (B::Active, B::Released | B::Abandoned) => true,
            (B::Active, B::Expired) => ended,
            (B::Active, B::Active) => true,
            (B::Active, _) if self.config.role == Role::Primary => false,
            // From the primary: not free before the partner's potential
            // expiry has passed.
            (B::Active | B::Expired | B::Reset, B::Free | B::Backup) => tsfp <= now,
            _ => true,
        }
    }

    /// The longest lease this server may give now, per MCLT (§1.8): the
    /// desired time if it is within the MCLT or the partner's acknowledged
    /// potential expiry plus the MCLT covers it, else that much. ISC applies
    /// it in every state, partner-down included (the DHCP engine does it
    /// with [`tandem_dhcp::failover::mclt_lease_time`]).
    pub fn clamp_lease_time(&self, desired: u32, partner_acked_until: u64, now: u64) -> u32 {
        tandem_dhcp::failover::mclt_lease_time(desired, partner_acked_until, self.mclt, now)
    }
}
