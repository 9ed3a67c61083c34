//! The DHCP state machine (RFC 2131 §4.3): one request in, at most one
//! reply out, plus the lease changes that must be durable before that reply
//! may leave. The engine also decides when an address must be probed for a
//! squatter before it is offered.
//!
//! The engine changes its in-memory table at once; the shell commits
//! [`Outcome::changes`] to disk and only then sends [`Outcome::reply`].

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::Arc;

use tandem_dhcp_wire::{code, MessageType, Packet};

use crate::config::{ClassMatch, DhcpConfig, Host, LeaseTimes, OptionSet, Subnet};
use crate::lease::{BindingState, HwAddr, Lease};
use crate::reply::{build_options, Destination, Reply};

mod failover;
mod offers;
pub use failover::{AckResult, Balance};
use offers::Offers;

/// How long an offered address is held for the client it was offered to.
const OFFER_HOLD: u64 = 60;
/// How long a successful probe vouches for an address.
const PROBE_VALID: u64 = 60;

/// The interface a request came in on, as the shell knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingress {
    pub interface: String,
    /// The interface's IPv4 addresses with their prefix lengths.
    pub addrs: Vec<(Ipv4Addr, u8)>,
}

/// A line for the operator's log, in ISC dhcpd's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub warn: bool,
    pub text: String,
}

/// What one request produced.
#[derive(Debug, Default)]
pub struct Outcome {
    pub reply: Option<Reply>,
    /// Leases to make durable before `reply` is sent.
    pub changes: Vec<Lease>,
    /// Probe this address for a squatter, report with
    /// [`Engine::probe_result`], then hand the same request in again.
    pub probe: Option<Ipv4Addr>,
    pub log: Vec<LogLine>,
    /// The request was dropped as unusable (for the shell's counters).
    pub dropped: bool,
}

impl Outcome {
    fn info(&mut self, text: String) {
        self.log.push(LogLine { warn: false, text });
    }

    fn warn(&mut self, text: String) {
        self.log.push(LogLine { warn: true, text });
    }
}

/// Who a client is: option 61 when it sends one, else its hardware address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ClientKey {
    Id(Vec<u8>),
    Hw(HwAddr),
}

/// The request's client, as read once.
struct Client {
    key: ClientKey,
    hw: HwAddr,
    id: Option<Vec<u8>>,
    hostname: Option<String>,
    /// `MAC` or `MAC (name)` for log lines.
    label: String,
}

pub struct Engine {
    config: Arc<DhcpConfig>,
    leases: BTreeMap<Ipv4Addr, Lease>,
    by_id: HashMap<Vec<u8>, Ipv4Addr>,
    by_hw: HashMap<HwAddr, Ipv4Addr>,
    offers: Offers,
    probed: HashMap<Ipv4Addr, u64>,
    /// Next-fit cursor per (subnet, pool), so allocation does not rescan
    /// the used start of a pool on every DISCOVER.
    cursors: HashMap<(usize, usize), u32>,
    /// What each failover relationship allows (`config.failover` order).
    failover: Vec<crate::failover::Policy>,
}

impl Engine {
    /// An engine over the leases read back from disk.
    pub fn new(config: Arc<DhcpConfig>, leases: Vec<Lease>) -> Engine {
        let mut e = Engine {
            config,
            leases: BTreeMap::new(),
            by_id: HashMap::new(),
            by_hw: HashMap::new(),
            offers: Offers::default(),
            probed: HashMap::new(),
            cursors: HashMap::new(),
            failover: Vec::new(),
        };
        e.failover = (e.config.failover.iter())
            .map(|f| crate::failover::Policy::startup(f.mclt, f.hba))
            .collect();
        for l in leases {
            e.store(l);
        }
        e
    }

    pub fn config(&self) -> &DhcpConfig {
        &self.config
    }

    /// Every lease the server knows, in address order.
    pub fn leases(&self) -> impl Iterator<Item = &Lease> {
        self.leases.values()
    }

    /// Records what the DDNS service keeps in DNS for the lease at `addr`
    /// (decided after the engine made the lease; see [`Lease::ddns`]),
    /// if it is still the version that was decided for (same start).
    pub fn set_lease_ddns(&mut self, addr: Ipv4Addr, start: u64, ddns: Option<crate::LeaseDns>) {
        if let Some(l) = self.leases.get_mut(&addr) {
            if l.start == start {
                l.ddns = ddns;
            }
        }
    }

    pub fn lease(&self, a: Ipv4Addr) -> Option<&Lease> {
        self.leases.get(&a)
    }

    /// Puts a lease into the table and the client indexes.
    fn store(&mut self, l: Lease) {
        if let Some(old) = self.leases.get(&l.addr) {
            if old.client_id.is_some() && old.client_id != l.client_id {
                if let Some(id) = &old.client_id {
                    if self.by_id.get(id) == Some(&l.addr) {
                        self.by_id.remove(id);
                    }
                }
            }
            if let Some(hw) = &old.hw {
                if old.hw != l.hw && self.by_hw.get(hw) == Some(&l.addr) {
                    self.by_hw.remove(hw);
                }
            }
        }
        if let Some(id) = &l.client_id {
            self.by_id.insert(id.clone(), l.addr);
        }
        if let Some(hw) = &l.hw {
            self.by_hw.insert(hw.clone(), l.addr);
        }
        self.leases.insert(l.addr, l);
    }

    /// Keeps `addr` for client `c` for a while: offered, or being probed.
    fn hold_offer(&mut self, addr: Ipv4Addr, c: &Client, now: u64) {
        self.offers.hold(addr, &c.key, now + OFFER_HOLD);
    }

    fn belongs_to(&self, l: &Lease, c: &Client) -> bool {
        match (&l.client_id, &c.id) {
            (Some(a), Some(b)) => a == b,
            // A lease made without option 61 is matched by hardware address.
            (None, _) => l.hw.as_ref() == Some(&c.hw),
            (Some(_), None) => false,
        }
    }

    /// The address this client last held, if the lease still names it.
    fn previous_address(&self, c: &Client) -> Option<Ipv4Addr> {
        let by_id = c.id.as_ref().and_then(|id| self.by_id.get(id)).copied();
        let by_hw = || {
            self.by_hw
                .get(&c.hw)
                .copied()
                .filter(|a| self.leases.get(a).is_some_and(|l| l.client_id.is_none()))
        };
        by_id
            .or_else(by_hw)
            .filter(|a| self.leases.get(a).is_some_and(|l| self.belongs_to(l, c)))
    }

    fn host_for(&self, c: &Client) -> Option<&Host> {
        let cfg = &self.config;
        c.id.as_ref()
            .and_then(|id| cfg.hosts.iter().find(|h| h.client_id.as_ref() == Some(id)))
            .or_else(|| cfg.hosts.iter().find(|h| h.hw.as_ref() == Some(&c.hw)))
    }

    /// The subnets a request may be served from: the relay's (by giaddr or
    /// option 118), else those on the ingress interface.
    fn candidate_subnets(&self, p: &Packet, ingress: &Ingress) -> Vec<usize> {
        let subnets = &self.config.subnets;
        let link = p
            .options
            .ip(118)
            .or((!p.giaddr.is_unspecified()).then_some(p.giaddr));
        if let Some(link) = link {
            return (0..subnets.len())
                .filter(|&i| subnets[i].contains(link))
                .collect();
        }
        (0..subnets.len())
            .filter(|&i| {
                let s = &subnets[i];
                match &s.interface {
                    Some(name) => *name == ingress.interface,
                    None => ingress.addrs.iter().any(|(a, _)| s.contains(*a)),
                }
            })
            .collect()
    }

    /// Address available to `c` right now (not held by someone else, not in
    /// quarantine, not reserved for another host).
    fn available_for(&self, a: Ipv4Addr, c: &Client, now: u64) -> bool {
        if let Some(h) = self.config.host_with_address(a) {
            let mine = self.host_for(c).is_some_and(|m| m.name == h.name);
            if !mine {
                return false;
            }
        }
        if let Some(o) = self.offers.get(&a) {
            if o.expires > now && o.client != c.key {
                return false;
            }
        }
        if let Some(ok) = self.failover_available(a, c, now) {
            return ok;
        }
        match self.leases.get(&a) {
            None => true,
            Some(l) => match l.state {
                BindingState::Active => l.end <= now || self.belongs_to(l, c),
                BindingState::Abandoned => l.end <= now,
                BindingState::Backup | BindingState::Reset => false,
                BindingState::Free | BindingState::Expired | BindingState::Released => true,
            },
        }
    }

    fn is_server_address(&self, a: Ipv4Addr, ingress: &Ingress) -> bool {
        self.config.server_identifier == Some(a) || ingress.addrs.iter().any(|(x, _)| *x == a)
    }

    /// A free pool address for `c` in subnet `si`, next-fit from the pool
    /// cursor; addresses that still remember another client are used only
    /// when no untouched one is left.
    fn find_free(
        &mut self,
        si: usize,
        c: &Client,
        ingress: &Ingress,
        now: u64,
    ) -> Option<Ipv4Addr> {
        let subnet = &self.config.subnets[si];
        let mut fallback: Option<(u64, Ipv4Addr)> = None;
        for (pi, pool) in subnet.pools.iter().enumerate() {
            let total: u64 = pool.size();
            let start = *self.cursors.get(&(si, pi)).unwrap_or(&0);
            for step in 0..total {
                let idx = (u64::from(start) + step) % total;
                let Some(a) = nth_address(pool, idx) else {
                    continue;
                };
                if !pool.contains(a) || !subnet.is_usable(a) || self.is_server_address(a, ingress) {
                    continue;
                }
                if !self.available_for(a, c, now) {
                    continue;
                }
                match self.leases.get(&a) {
                    Some(l) if l.hw.is_some() || l.client_id.is_some() => {
                        // Someone's old address: keep it for them if we can.
                        let age = l.end;
                        if fallback.is_none_or(|(e, _)| age < e) {
                            fallback = Some((age, a));
                        }
                    }
                    _ => {
                        self.cursors.insert((si, pi), ((idx + 1) % total) as u32);
                        return Some(a);
                    }
                }
            }
        }
        fallback.map(|(_, a)| a)
    }

    fn read_client(&self, p: &Packet) -> Client {
        let hw = HwAddr {
            htype: p.htype,
            addr: p.hw_addr().to_vec(),
        };
        let id = p
            .options
            .get(code::CLIENT_ID)
            .filter(|v| !v.is_empty())
            .map(<[u8]>::to_vec);
        let hostname = p
            .options
            .get(code::HOST_NAME)
            .and_then(|b| std::str::from_utf8(b).ok())
            .map(|s| s.trim_end_matches('\0').to_string())
            .filter(|s| !s.is_empty())
            // A client that names itself only in option 81 (RFC 4702).
            .or_else(|| p.options.get(code::FQDN).and_then(fqdn_host));
        let label = match &hostname {
            Some(h) => format!("{hw} ({h})"),
            None => hw.to_string(),
        };
        Client {
            key: match &id {
                Some(id) => ClientKey::Id(id.clone()),
                None => ClientKey::Hw(hw.clone()),
            },
            hw,
            id,
            hostname,
            label,
        }
    }

    /// Handles one request at time `now` (UNIX seconds).
    pub fn handle(&mut self, p: &Packet, ingress: &Ingress, now: u64) -> Outcome {
        let mut out = Outcome::default();
        if p.op != tandem_dhcp_wire::packet::BOOTREQUEST {
            out.dropped = true;
            return out;
        }
        let Some(mt) = p.message_type().and_then(MessageType::from_code) else {
            // BOOTP (no option 53) is not served.
            out.dropped = true;
            out.info(format!(
                "BOOTREQUEST from {} via {}: BOOTP is not served",
                HwAddr {
                    htype: p.htype,
                    addr: p.hw_addr().to_vec()
                },
                via(p, ingress)
            ));
            return out;
        };
        let c = self.read_client(p);
        let subnets = self.candidate_subnets(p, ingress);
        match mt {
            MessageType::Discover => self.discover(p, &c, ingress, &subnets, now, &mut out),
            MessageType::Request => self.request(p, &c, ingress, &subnets, now, &mut out),
            MessageType::Decline => self.decline(p, &c, ingress, now, &mut out),
            MessageType::Release => self.release(p, &c, ingress, now, &mut out),
            MessageType::Inform => self.inform(p, &c, ingress, &subnets, &mut out),
            other => {
                out.dropped = true;
                out.info(format!(
                    "{} from {} via {}: not a client message",
                    other.log_name(),
                    c.label,
                    via(p, ingress)
                ));
            }
        }
        out
    }

    fn discover(
        &mut self,
        p: &Packet,
        c: &Client,
        ingress: &Ingress,
        subnets: &[usize],
        now: u64,
        out: &mut Outcome,
    ) {
        out.info(format!(
            "DHCPDISCOVER from {} via {}",
            c.label,
            via(p, ingress)
        ));
        if subnets.is_empty() {
            out.dropped = true;
            out.warn(format!(
                "DHCPDISCOVER from {} via {}: no subnet is configured for this network",
                c.label,
                via(p, ingress)
            ));
            return;
        }
        let Some((si, addr)) = self.choose(p, c, ingress, subnets, now) else {
            if let Some(why) = self.failover_no_lease(subnets, now) {
                out.warn(format!(
                    "DHCPDISCOVER from {} via {}: {why}",
                    c.label,
                    via(p, ingress)
                ));
                return;
            }
            out.warn(format!(
                "DHCPDISCOVER from {} via {}: network {}: no free leases",
                c.label,
                via(p, ingress),
                subnet_label(&self.config.subnets[subnets[0]])
            ));
            return;
        };
        if let Some(why) = self.failover_discover(p, c, addr, now) {
            // ISC says it on the request's own line.
            if let Some(line) = out.log.last_mut() {
                line.text.push_str(&why);
            }
            return;
        }
        let fresh = !self
            .leases
            .get(&addr)
            .is_some_and(|l| self.belongs_to(l, c) && l.state == BindingState::Active);
        let fixed = self.config.host_with_address(addr).is_some();
        if fresh
            && !fixed
            && self.config.conflict_detection != crate::config::ConflictDetection::None
            && self
                .probed
                .get(&addr)
                .is_none_or(|t| now >= t + PROBE_VALID)
        {
            // Hold it while the probe runs, so the retry picks it again.
            self.hold_offer(addr, c, now);
            out.probe = Some(addr);
            return;
        }
        self.hold_offer(addr, c, now);
        let mut reply = self.build_reply(p, c, ingress, si, addr, MessageType::Offer, now);
        if let Some(g) = self.failover_lease_time(addr, self.desired_time(p, c, si, addr), now) {
            failover::set_lease_time(&mut reply, g.granted);
        }
        out.info(format!(
            "DHCPOFFER on {addr} to {} via {}",
            c.label,
            via(p, ingress)
        ));
        out.reply = Some(reply);
    }

    /// The address to offer: reservation, previous address, requested
    /// address, then a free one.
    fn choose(
        &mut self,
        p: &Packet,
        c: &Client,
        ingress: &Ingress,
        subnets: &[usize],
        now: u64,
    ) -> Option<(usize, Ipv4Addr)> {
        let subnet_of = |a: Ipv4Addr| {
            subnets
                .iter()
                .copied()
                .find(|&i| self.config.subnets[i].contains(a))
        };
        if let Some(h) = self.host_for(c) {
            if let Some(a) = h.fixed_address {
                if let Some(si) = subnet_of(a) {
                    return Some((si, a));
                }
            }
        }
        // An address already offered (or being probed) for this client.
        if let Some(a) = self.offers.held_for(&c.key, now) {
            if let Some(si) = subnet_of(a) {
                return Some((si, a));
            }
        }
        let in_pool = |a: Ipv4Addr| {
            subnet_of(a).filter(|&si| {
                let s = &self.config.subnets[si];
                s.pool_of(a).is_some() && s.is_usable(a)
            })
        };
        if let Some(a) = self.previous_address(c) {
            if let Some(si) = in_pool(a) {
                if self.available_for(a, c, now) {
                    return Some((si, a));
                }
            }
        }
        if let Some(a) = p.options.ip(code::REQUESTED_ADDRESS) {
            if let Some(si) = in_pool(a) {
                if self.available_for(a, c, now) && !self.is_server_address(a, ingress) {
                    return Some((si, a));
                }
            }
        }
        for &si in subnets {
            if let Some(a) = self.find_free(si, c, ingress, now) {
                return Some((si, a));
            }
        }
        None
    }

    /// Records the result of a probe the engine asked for.
    pub fn probe_result(&mut self, addr: Ipv4Addr, in_use: bool, now: u64) -> Vec<Lease> {
        if !in_use {
            self.probed.insert(addr, now);
            return Vec::new();
        }
        // Leased while the probe ran (the client's retransmitted DISCOVER
        // or another path got it an ACK): the answer is its new holder.
        if self
            .leases
            .get(&addr)
            .is_some_and(|l| l.state == BindingState::Active && l.end > now)
        {
            return Vec::new();
        }
        self.probed.remove(&addr);
        self.offers.remove(&addr);
        let mut l = Lease::new(addr, BindingState::Abandoned);
        l.start = now;
        l.end = now + u64::from(self.config.decline_hold);
        l.cltt = now;
        self.store(l.clone());
        vec![l]
    }

    #[allow(clippy::too_many_arguments)]
    fn request(
        &mut self,
        p: &Packet,
        c: &Client,
        ingress: &Ingress,
        subnets: &[usize],
        now: u64,
        out: &mut Outcome,
    ) {
        let server_id = p.options.ip(code::SERVER_ID);
        let requested = p.options.ip(code::REQUESTED_ADDRESS);
        let (addr, phase) = match (server_id, requested, p.ciaddr.is_unspecified()) {
            (Some(_), Some(r), _) => (r, "selecting"),
            (None, Some(r), true) => (r, "init-reboot"),
            (None, _, false) => (p.ciaddr, "renewing"),
            _ => {
                out.dropped = true;
                out.warn(format!(
                    "DHCPREQUEST from {} via {}: neither ciaddr nor requested address",
                    c.label,
                    via(p, ingress)
                ));
                return;
            }
        };
        let ours = self.server_id(ingress, subnets);
        match server_id {
            Some(sid) => out.info(format!(
                "DHCPREQUEST for {addr} ({sid}) from {} via {}",
                c.label,
                via(p, ingress)
            )),
            None => out.info(format!(
                "DHCPREQUEST for {addr} from {} via {}",
                c.label,
                via(p, ingress)
            )),
        }
        if let Some(sid) = server_id {
            if Some(sid) != ours && !ingress.addrs.iter().any(|(a, _)| *a == sid) {
                // The client chose another server's offer: forget ours.
                if let Some(o) = self.offers.get(&addr) {
                    if o.client == c.key {
                        self.offers.remove(&addr);
                    }
                }
                out.info(format!(
                    "DHCPREQUEST for {addr} ({sid}) from {}: not this server",
                    c.label
                ));
                return;
            }
        }
        if let Some(why) = self.failover_request(addr, c, now) {
            if let Some(line) = out.log.last_mut() {
                line.text.push_str(&why);
            }
            return;
        }
        let nak = |this: &mut Self, out: &mut Outcome, why: &str| {
            if !this.config.authoritative && server_id.is_none() {
                out.info(format!(
                    "DHCPREQUEST for {addr} from {}: {why}; not authoritative, staying silent",
                    c.label
                ));
                return;
            }
            out.info(format!(
                "DHCPNAK on {addr} to {} via {}: {why}",
                c.label,
                via(p, ingress)
            ));
            out.reply = Some(this.build_nak(p, ingress, subnets, why));
        };
        let Some(si) = subnets
            .iter()
            .copied()
            .find(|&i| self.config.subnets[i].contains(addr))
        else {
            if subnets.is_empty() {
                out.dropped = true;
                out.warn(format!(
                    "DHCPREQUEST for {addr} from {} via {}: no subnet is configured for this network",
                    c.label,
                    via(p, ingress)
                ));
                return;
            }
            nak(self, out, "wrong network");
            return;
        };
        let subnet = &self.config.subnets[si];
        let reserved_here = self.host_for(c).and_then(|h| h.fixed_address);
        let acceptable = match reserved_here {
            // A host with a reservation on this subnet gets only that address.
            Some(r) if subnet.contains(r) => r == addr,
            _ => {
                let in_pool = subnet.pool_of(addr).is_some() && subnet.is_usable(addr);
                let mine = self.leases.get(&addr).is_some_and(|l| {
                    self.belongs_to(l, c) && matches!(l.state, BindingState::Active)
                });
                (in_pool || mine)
                    && self.available_for(addr, c, now)
                    && !self.is_server_address(addr, ingress)
            }
        };
        if !acceptable {
            let why = if self.leases.get(&addr).is_some_and(|l| l.is_active_at(now)) {
                "lease owned by another client"
            } else if reserved_here.is_some() {
                "client has a reservation for another address"
            } else {
                "address not available"
            };
            nak(self, out, why);
            return;
        }
        let _ = phase;
        self.offers.remove(&addr);
        let times = self.times_for(c, si, addr);
        let lease_time = times.grant(p.options.u32(code::LEASE_TIME));
        let grant = self.failover_lease_time(addr, lease_time, now);
        // Give up the client's other address, if it had one.
        if let Some(prev) = self.previous_address(c) {
            if prev != addr {
                if let Some(mut old) = self.leases.get(&prev).cloned() {
                    if old.state == BindingState::Active {
                        old.state = BindingState::Released;
                        old.end = now;
                        old.cltt = now;
                        self.store(old.clone());
                        out.changes.push(old);
                    }
                }
            }
        }
        let hostname = c
            .hostname
            .clone()
            .or_else(|| self.host_for(c).and_then(|h| h.hostname.clone()));
        let mut lease = Lease {
            addr,
            state: BindingState::Active,
            start: now,
            end: now + u64::from(lease_time),
            cltt: now,
            hw: Some(c.hw.clone()),
            client_id: c.id.clone(),
            hostname,
            ddns: None,
            tstp: now + u64::from(lease_time),
            atsfp: 0,
            tsfp: 0,
        };
        if let Some(g) = grant {
            g.apply(&mut lease, now);
        }
        self.store(lease.clone());
        out.changes.push(lease);
        let mut reply = self.build_reply(p, c, ingress, si, addr, MessageType::Ack, now);
        if let Some(g) = grant {
            failover::set_lease_time(&mut reply, g.granted);
        }
        out.info(format!(
            "DHCPACK on {addr} to {} via {}",
            c.label,
            via(p, ingress)
        ));
        out.reply = Some(reply);
    }

    fn decline(&mut self, p: &Packet, c: &Client, ingress: &Ingress, now: u64, out: &mut Outcome) {
        let Some(addr) = p.options.ip(code::REQUESTED_ADDRESS) else {
            out.dropped = true;
            return;
        };
        out.warn(format!(
            "DHCPDECLINE of {addr} from {} via {}: abandoned",
            c.label,
            via(p, ingress)
        ));
        let known = self
            .leases
            .get(&addr)
            .is_some_and(|l| self.belongs_to(l, c))
            || self.offers.get(&addr).is_some_and(|o| o.client == c.key);
        if !known {
            out.info(format!(
                "DHCPDECLINE of {addr}: not leased to {}, ignored",
                c.label
            ));
            return;
        }
        self.offers.remove(&addr);
        let mut l = Lease::new(addr, BindingState::Abandoned);
        l.start = now;
        l.end = now + u64::from(self.config.decline_hold);
        l.cltt = now;
        self.store(l.clone());
        out.changes.push(l);
    }

    fn release(&mut self, p: &Packet, c: &Client, ingress: &Ingress, now: u64, out: &mut Outcome) {
        let addr = p.ciaddr;
        match self.leases.get(&addr).cloned() {
            Some(mut l) if self.belongs_to(&l, c) && l.state == BindingState::Active => {
                out.info(format!(
                    "DHCPRELEASE of {addr} from {} via {} (found)",
                    c.label,
                    via(p, ingress)
                ));
                l.state = BindingState::Released;
                l.end = now;
                l.cltt = now;
                self.store(l.clone());
                out.changes.push(l);
            }
            _ => out.info(format!(
                "DHCPRELEASE of {addr} from {} via {} (not found)",
                c.label,
                via(p, ingress)
            )),
        }
    }

    fn inform(
        &mut self,
        p: &Packet,
        c: &Client,
        ingress: &Ingress,
        subnets: &[usize],
        out: &mut Outcome,
    ) {
        let addr = if p.ciaddr.is_unspecified() {
            out.dropped = true;
            return;
        } else {
            p.ciaddr
        };
        out.info(format!("DHCPINFORM from {addr} via {}", via(p, ingress)));
        let si = subnets
            .iter()
            .copied()
            .find(|&i| self.config.subnets[i].contains(addr))
            .or(subnets.first().copied());
        let Some(si) = si else {
            out.dropped = true;
            return;
        };
        let mut reply = self.build_reply(p, c, ingress, si, addr, MessageType::Ack, 0);
        reply.packet.yiaddr = Ipv4Addr::UNSPECIFIED;
        reply.packet.ciaddr = addr;
        reply.packet.options.remove(code::LEASE_TIME);
        reply.packet.options.remove(code::RENEWAL_TIME);
        reply.packet.options.remove(code::REBINDING_TIME);
        // RFC 2131 §4.3.5: answer to ciaddr, ignoring the broadcast bit.
        reply.dest = if p.giaddr.is_unspecified() {
            Destination::Unicast(addr)
        } else {
            Destination::Relay(p.giaddr)
        };
        out.info(format!(
            "DHCPACK to {addr} ({}) via {}",
            c.hw,
            via(p, ingress)
        ));
        out.reply = Some(reply);
    }

    /// Ages leases and offers: active leases past their end become
    /// expired, quarantined addresses come back. Returns what changed.
    pub fn tick(&mut self, now: u64) -> (Vec<Lease>, Vec<LogLine>) {
        self.offers.expire(now);
        self.probed.retain(|_, t| now < *t + PROBE_VALID);
        let mut changed = Vec::new();
        let mut log = Vec::new();
        for l in self.leases.values_mut() {
            let next = match l.state {
                BindingState::Active if l.end <= now => BindingState::Expired,
                BindingState::Abandoned if l.end <= now => BindingState::Free,
                _ => continue,
            };
            log.push(LogLine {
                warn: false,
                text: format!(
                    "lease {} {}: {} -> {next}",
                    l.addr,
                    l.hw.as_ref().map(|h| h.to_string()).unwrap_or_default(),
                    l.state
                ),
            });
            l.state = next;
            changed.push(l.clone());
        }
        (changed, log)
    }

    /// When the next lease ends (for the shell's timer).
    pub fn next_expiry(&self) -> Option<u64> {
        self.leases
            .values()
            .filter(|l| matches!(l.state, BindingState::Active | BindingState::Abandoned))
            .map(|l| l.end)
            .min()
    }

    fn server_id(&self, ingress: &Ingress, subnets: &[usize]) -> Option<Ipv4Addr> {
        if let Some(s) = self.config.server_identifier {
            return Some(s);
        }
        let on_subnet = subnets.iter().find_map(|&i| {
            let s = &self.config.subnets[i];
            ingress
                .addrs
                .iter()
                .map(|(a, _)| *a)
                .find(|a| s.contains(*a))
        });
        on_subnet.or_else(|| ingress.addrs.first().map(|(a, _)| *a))
    }

    fn times_for(&self, c: &Client, si: usize, addr: Ipv4Addr) -> LeaseTimes {
        let s = &self.config.subnets[si];
        let mut t = self.config.times.with(&s.times);
        if let Some(pool) = s.pool_of(addr) {
            t = t.with(&pool.times);
        }
        if let Some(h) = self.host_for(c) {
            t = t.with(&h.times);
        }
        t
    }

    /// The option set for this client: global, subnet, pool, classes, host.
    fn options_for(&self, p: &Packet, c: &Client, si: usize, addr: Ipv4Addr) -> OptionSet {
        let cfg = &self.config;
        let s = &cfg.subnets[si];
        let mut set = cfg.options.clone();
        set.overlay(&s.options);
        if let Some(pool) = s.pool_of(addr) {
            set.overlay(&pool.options);
        }
        let vendor = p.options.get(code::VENDOR_CLASS);
        let user = p.options.get(code::USER_CLASS);
        for class in &cfg.classes {
            let hit = match &class.matches {
                ClassMatch::VendorClass(v) => vendor == Some(v.as_slice()),
                ClassMatch::VendorClassPrefix(v) => vendor.is_some_and(|x| x.starts_with(v)),
                ClassMatch::UserClass(v) => user.is_some_and(|x| user_class_has(x, v)),
            };
            if hit {
                set.overlay(&class.options);
            }
        }
        if let Some(h) = self.host_for(c) {
            set.overlay(&h.options);
            if let Some(name) = &h.hostname {
                if set.get(code::HOST_NAME).is_none() {
                    set.set(code::HOST_NAME, name.as_bytes().to_vec());
                }
            }
        }
        if set.get(code::SUBNET_MASK).is_none() {
            set.set(code::SUBNET_MASK, s.mask().octets().to_vec());
        }
        set
    }

    #[allow(clippy::too_many_arguments)]
    fn build_reply(
        &self,
        p: &Packet,
        c: &Client,
        ingress: &Ingress,
        si: usize,
        addr: Ipv4Addr,
        mt: MessageType,
        now: u64,
    ) -> Reply {
        let mut r = Packet::reply_to(p);
        r.yiaddr = addr;
        r.ciaddr = p.ciaddr;
        let subnets = [si];
        let sid = self
            .server_id(ingress, &subnets)
            .unwrap_or(Ipv4Addr::UNSPECIFIED);
        let times = self.times_for(c, si, addr);
        let lease_time = times.grant(p.options.u32(code::LEASE_TIME));
        let set = self.options_for(p, c, si, addr);
        let _ = now;
        r.options = build_options(mt, sid, Some(lease_time), &set, p);
        Reply {
            dest: Destination::for_reply(p, addr, false),
            max_len: max_message(p),
            packet: r,
        }
    }

    fn build_nak(&self, p: &Packet, ingress: &Ingress, subnets: &[usize], why: &str) -> Reply {
        let mut r = Packet::reply_to(p);
        let sid = self
            .server_id(ingress, subnets)
            .unwrap_or(Ipv4Addr::UNSPECIFIED);
        r.options
            .set(code::MESSAGE_TYPE, vec![MessageType::Nak as u8]);
        r.options.set(code::SERVER_ID, sid.octets().to_vec());
        r.options.set(code::MESSAGE, why.as_bytes().to_vec());
        if let Some(rai) = p.options.get(code::RELAY_AGENT_INFO) {
            r.options.set(code::RELAY_AGENT_INFO, rai.to_vec());
        }
        if !p.giaddr.is_unspecified() {
            // RFC 2131 §4.3.2: a NAK through a relay asks it to broadcast.
            r.flags |= tandem_dhcp_wire::packet::FLAG_BROADCAST;
        }
        Reply {
            dest: Destination::for_reply(p, Ipv4Addr::UNSPECIFIED, true),
            max_len: max_message(p),
            packet: r,
        }
    }
}

/// The host part (first label) of a client FQDN option's name (RFC 4702
/// §2.3), in either of its encodings.
fn fqdn_host(v: &[u8]) -> Option<String> {
    let (&flags, name) = (v.first()?, v.get(3..)?);
    let label = if flags & 0x04 != 0 {
        let len = usize::from(*name.first()?);
        if len > 63 {
            return None;
        }
        name.get(1..1 + len)?
    } else {
        name.split(|&b| b == b'.' || b == 0).next()?
    };
    let s = std::str::from_utf8(label).ok()?;
    (!s.is_empty()).then(|| s.to_string())
}

/// RFC 3004: user class data is a list of length-prefixed class names.
fn user_class_has(data: &[u8], want: &[u8]) -> bool {
    if data == want {
        return true;
    }
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len);
        if len == 0 || tail.len() < len {
            return false;
        }
        if &tail[..len] == want {
            return true;
        }
        rest = &tail[len..];
    }
    false
}

/// The client's maximum DHCP message (option 57 counts the IP datagram).
fn max_message(p: &Packet) -> usize {
    match p.options.u16(code::MAX_MESSAGE_SIZE) {
        Some(n) if n >= 576 => usize::from(n) - 28,
        _ => tandem_dhcp_wire::packet::DEFAULT_MAX_MESSAGE,
    }
}

/// `eth0`, or `192.168.1.1 via eth0` for a relayed request: ISC's wording.
fn via(p: &Packet, ingress: &Ingress) -> String {
    if p.giaddr.is_unspecified() {
        ingress.interface.clone()
    } else {
        format!("{} via {}", p.giaddr, ingress.interface)
    }
}

fn subnet_label(s: &Subnet) -> String {
    format!("{}/{}", s.network, s.prefix)
}

/// The `idx`-th address of the pool's ranges taken together.
fn nth_address(pool: &crate::config::Pool, mut idx: u64) -> Option<Ipv4Addr> {
    for r in &pool.ranges {
        if idx < r.len() {
            return Some(Ipv4Addr::from(u32::from(r.first) + idx as u32));
        }
        idx -= r.len();
    }
    None
}
