//! The engine's side of failover: the relationship's [`Policy`] applied to
//! the pools that name it, the partner's bindings and acknowledgements
//! folded into the lease table, and pool balancing.
//!
//! The hooks in `engine.rs` call the `pub(super)` functions here at four
//! places: whether an address may be given to a client
//! ([`Engine::failover_available`]), whether a DHCPDISCOVER or DHCPREQUEST
//! is answered at all ([`Engine::failover_discover`],
//! [`Engine::failover_request`]), and the lease time
//! ([`Engine::failover_lease_time`]). Addresses outside every failover
//! pool are untouched by all of this.

use std::net::Ipv4Addr;

use tandem_dhcp_wire::{code, Packet};

use super::{Client, Engine};
use crate::failover::{
    is_mine, lease_bucket, may_allocate, mclt_lease_time, packet_bucket, potential_expiry, Policy,
    PoolShare, Role, Service,
};
use crate::lease::{BindingState, Lease};
use crate::reply::Reply;
use crate::LogLine;

/// The lease time of one grant under failover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Grant {
    pub granted: u32,
    /// The potential expiry to tell the partner.
    pub tstp: u64,
    /// What the partner has acknowledged, carried over from the address's
    /// previous binding (lowered to `tstp` when that is earlier).
    pub tsfp: u64,
    /// 0: this version is not acknowledged yet.
    pub atsfp: u64,
}

impl Grant {
    /// Puts the grant's times on the new binding.
    pub fn apply(&self, l: &mut Lease, now: u64) {
        l.end = now + u64::from(self.granted);
        l.tstp = self.tstp;
        l.tsfp = self.tsfp;
        l.atsfp = self.atsfp;
    }
}

/// What an acknowledgement from the partner changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AckResult {
    /// Lease versions to make durable; the partner already knows them.
    pub record: Vec<Lease>,
    /// Lease versions to make durable *and* send to the partner (a freed
    /// address handed to the secondary for the client that last had it).
    pub send: Vec<Lease>,
}

/// What a round of pool balancing did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Balance {
    /// Addresses given to the partner: make durable and send.
    pub given: Vec<Lease>,
    /// Some pool is short of addresses by more than twice the allowed
    /// misbalance: ask the partner for a rebalance (POOLREQ).
    pub short: bool,
    pub log: Vec<LogLine>,
}

impl Engine {
    /// The relationship whose pool holds `addr`, as an index into
    /// [`crate::DhcpConfig::failover`].
    pub fn failover_peer_of(&self, addr: Ipv4Addr) -> Option<usize> {
        crate::failover::relationship_of(&self.config, addr)
    }

    /// Tells the engine what relationship `peer` allows now. Until it is
    /// told, the relationship's pools are served to nobody.
    pub fn set_failover_policy(&mut self, peer: usize, policy: Policy) {
        if let Some(p) = self.failover.get_mut(peer) {
            *p = policy;
        }
    }

    pub fn failover_policy(&self, peer: usize) -> Option<&Policy> {
        self.failover.get(peer)
    }

    /// The leases of relationship `peer`'s pools, in address order.
    pub fn failover_leases(&self, peer: usize) -> Vec<Lease> {
        self.leases
            .values()
            .filter(|l| self.failover_peer_of(l.addr) == Some(peer))
            .cloned()
            .collect()
    }

    /// Installs a binding the partner sent (already merged with our
    /// version of the address by the relationship). Returns it, to be made
    /// durable before it is acknowledged.
    pub fn store_peer_binding(&mut self, mut lease: Lease) -> Lease {
        // Whatever we offered on this address is void now.
        self.offers.remove(&lease.addr);
        // Both sides know this version: nothing to send after a restart.
        lease.tstp = lease.atsfp;
        self.store(lease.clone());
        lease
    }

    /// The partner acknowledged our update of `addr`, sent in binding
    /// state `sent` with potential expiry `tstp` (ISC's
    /// `dhcp_failover_process_bind_ack`): the potential expiry is now
    /// known to both; an expired, released or reset address becomes free,
    /// and the primary hands it to the secondary if its last client is the
    /// secondary's by hash.
    pub fn peer_acked(
        &mut self,
        peer: usize,
        addr: Ipv4Addr,
        tstp: u64,
        sent: BindingState,
        now: u64,
    ) -> AckResult {
        let mut out = AckResult::default();
        let Some(mut l) = self.leases.get(&addr).cloned() else {
            return out;
        };
        if self.failover_peer_of(addr) != Some(peer) {
            return out;
        }
        l.tsfp = tstp;
        l.atsfp = tstp;
        let freed = matches!(
            sent,
            BindingState::Expired | BindingState::Released | BindingState::Reset
        ) && l.state == sent;
        if freed {
            l.state = BindingState::Free;
        }
        self.store(l.clone());
        out.record.push(l);
        if freed {
            if let Some(given) = self.affinity(peer, addr, now) {
                out.send.push(given);
            }
        }
        out
    }

    /// MAC affinity (ISC's `peer_wants_lease` with `secondary_not_hoarding`):
    /// a primary gives a FREE address whose last client hashes to the
    /// secondary to the secondary, so the client can get it back there,
    /// unless the secondary already holds more than its share. Returns the
    /// new version, to be made durable and sent.
    pub fn affinity(&mut self, peer: usize, addr: Ipv4Addr, now: u64) -> Option<Lease> {
        let cfg = self.config.failover.get(peer)?;
        if cfg.role != Role::Primary || self.failover_peer_of(addr) != Some(peer) {
            return None;
        }
        let l = self.leases.get(&addr)?.clone();
        if l.state != BindingState::Free || self.config.host_with_address(addr).is_some() {
            return None;
        }
        let hba = self.failover.get(peer)?.hba;
        if !is_mine(Role::Secondary, hba.as_ref(), lease_bucket(&l)?) {
            return None;
        }
        let share = self.share_of(addr, now)?;
        let total = share.free + share.backup;
        let hold = (total * u64::from(cfg.max_lease_ownership) + 50) / 100;
        let lts = (share.free as i64 - share.backup as i64) / 2;
        if lts <= -(hold as i64) {
            return None;
        }
        let mut l = l;
        l.state = BindingState::Backup;
        l.tstp = now;
        l.atsfp = 0;
        l.start = now;
        l.hostname = None;
        l.ddns = None;
        self.store(l.clone());
        Some(l)
    }

    /// One round of pool balancing for relationship `peer` (ISC's
    /// `dhcp_failover_pool_dobalance`), to run in the normal state: each
    /// side gives the other half the difference between their free
    /// addresses, first those whose last client the partner serves by
    /// hash, then the oldest, and keeps a hold of `max-lease-ownership`
    /// percent. Only the side with the surplus gives; the short side
    /// learns it should send POOLREQ (`ask`: whether it may, which ISC
    /// allows only on its periodic rebalance).
    pub fn balance(&mut self, peer: usize, now: u64, ask: bool) -> Balance {
        let mut out = Balance::default();
        let Some(cfg) = self.config.failover.get(peer).cloned() else {
            return out;
        };
        let hba = self.failover.get(peer).and_then(|p| p.hba);
        let (mine, theirs) = match cfg.role {
            Role::Primary => (BindingState::Free, BindingState::Backup),
            Role::Secondary => (BindingState::Backup, BindingState::Free),
        };
        for &(si, pi) in &cfg.pools {
            let Some(share) = self.pool_share(si, pi, now) else {
                continue;
            };
            let (own, other) = match cfg.role {
                Role::Primary => (share.free, share.backup),
                Role::Secondary => (share.backup, share.free),
            };
            let mut lts = (own as i64 - other as i64) / 2;
            let total = share.free + share.backup;
            let thresh = ((total * u64::from(cfg.max_lease_misbalance) + 50) / 100) as i64;
            let hold = ((total * u64::from(cfg.max_lease_ownership) + 50) / 100) as i64;
            let panic = if thresh == 0 { -1 } else { -2 * thresh };
            let short = ask && lts < panic;
            out.short |= short;
            out.log.push(LogLine {
                warn: false,
                text: format!(
                    "balancing pool {}  total {}  free {}  backup {}  lts {lts}  max-own (+/-){hold}{}",
                    pool_label(self, si, pi),
                    share.total,
                    share.free,
                    share.backup,
                    if short {
                        "  (requesting peer rebalance!)"
                    } else {
                        ""
                    }
                ),
            });
            // Candidates: our free-state addresses, never-used ones first
            // (ISC's queue is ordered by the end of the last binding), then
            // by that end, then by address.
            let mut candidates: Vec<(u64, Ipv4Addr, bool)> = Vec::new();
            for a in self.pool_addresses(si, pi) {
                if self.config.host_with_address(a).is_some()
                    || self.offers.get(&a).is_some_and(|o| o.expires > now)
                {
                    continue;
                }
                match self.leases.get(&a) {
                    None if mine == BindingState::Free => candidates.push((0, a, false)),
                    Some(l) if l.state == mine => {
                        let used = l.end != 0 || l.hw.is_some() || l.client_id.is_some();
                        candidates.push((if used { l.end.max(1) } else { 0 }, a, used));
                    }
                    _ => {}
                }
            }
            candidates.sort();
            let mut given: Vec<Ipv4Addr> = Vec::new();
            // Pass 1: addresses whose last client the partner serves.
            for &(_, a, used) in &candidates {
                if lts <= -hold {
                    break;
                }
                if !used {
                    continue;
                }
                let wants = self
                    .leases
                    .get(&a)
                    .and_then(lease_bucket)
                    .is_some_and(|b| hba.is_some() && !is_mine(cfg.role, hba.as_ref(), b));
                if wants {
                    lts -= 1;
                    given.push(a);
                }
            }
            // Pass 2: the oldest, up to an even split of never-used
            // addresses, or a hold in our favour of used ones.
            for &(_, a, used) in &candidates {
                if given.contains(&a) {
                    continue;
                }
                if (used && lts <= hold) || (!used && lts <= 0) {
                    break;
                }
                lts -= 1;
                given.push(a);
            }
            for a in given {
                let mut l = self
                    .leases
                    .get(&a)
                    .cloned()
                    .unwrap_or_else(|| Lease::new(a, mine));
                l.state = theirs;
                l.tstp = now;
                l.atsfp = 0;
                l.start = now;
                l.hostname = None;
                l.ddns = None;
                self.store(l.clone());
                out.given.push(l);
            }
            let after = self.pool_share(si, pi, now).unwrap_or(share);
            out.log.push(LogLine {
                warn: lts > thresh,
                text: format!(
                    "{} pool {}  total {}  free {}  backup {}  lts {lts}  max-misbal {thresh}",
                    if lts > thresh {
                        "IMBALANCED"
                    } else {
                        "balanced"
                    },
                    pool_label(self, si, pi),
                    after.total,
                    after.free,
                    after.backup
                ),
            });
        }
        out
    }

    /// How relationship `peer`'s pools stand, for `tandem status`.
    pub fn pool_shares(&self, peer: usize, now: u64) -> Vec<PoolShare> {
        let Some(cfg) = self.config.failover.get(peer) else {
            return Vec::new();
        };
        cfg.pools
            .iter()
            .filter_map(|&(si, pi)| self.pool_share(si, pi, now))
            .collect()
    }

    fn share_of(&self, addr: Ipv4Addr, now: u64) -> Option<PoolShare> {
        let (si, pi) = self.pool_of(addr)?;
        self.pool_share(si, pi, now)
    }

    fn pool_share(&self, si: usize, pi: usize, now: u64) -> Option<PoolShare> {
        self.config.subnets.get(si)?.pools.get(pi)?;
        let mut s = PoolShare {
            subnet: si,
            pool: pi,
            ..PoolShare::default()
        };
        for a in self.pool_addresses(si, pi) {
            s.total += 1;
            if self.config.host_with_address(a).is_some() {
                continue;
            }
            match self.leases.get(&a).map(|l| (l.state, l.end)) {
                None | Some((BindingState::Free, _)) => s.free += 1,
                Some((BindingState::Backup, _)) => s.backup += 1,
                Some((BindingState::Active, end)) if end > now => s.active += 1,
                Some((BindingState::Active, _)) => s.transitional += 1,
                Some((BindingState::Abandoned, _)) => s.abandoned += 1,
                Some(_) => s.transitional += 1,
            }
        }
        Some(s)
    }

    /// The usable addresses of pool `pi` of subnet `si`.
    fn pool_addresses(&self, si: usize, pi: usize) -> Vec<Ipv4Addr> {
        let subnet = &self.config.subnets[si];
        let pool = &subnet.pools[pi];
        pool.ranges
            .iter()
            .flat_map(|r| u32::from(r.first)..=u32::from(r.last))
            .map(Ipv4Addr::from)
            .filter(|a| pool.contains(*a) && subnet.is_usable(*a))
            .collect()
    }

    /// Whether the partner holds any free-state address in `addr`'s pool
    /// (ISC's `peer_has_leases`): the primary asks about BACKUP, the
    /// secondary about FREE.
    fn peer_has_free(&self, peer: usize, addr: Ipv4Addr, _now: u64) -> bool {
        let Some(cfg) = self.config.failover.get(peer) else {
            return false;
        };
        let Some((si, pi)) = self.pool_of(addr) else {
            return false;
        };
        match cfg.role {
            Role::Primary => self.pool_has(si, pi, BindingState::Backup),
            Role::Secondary => self.pool_has(si, pi, BindingState::Free),
        }
    }

    /// The subnet and pool holding `addr`.
    fn pool_of(&self, addr: Ipv4Addr) -> Option<(usize, usize)> {
        let (si, s) = self
            .config
            .subnets
            .iter()
            .enumerate()
            .find(|(_, s)| s.contains(addr))?;
        Some((si, s.pools.iter().position(|p| p.contains(addr))?))
    }

    /// Whether pool `pi` of subnet `si` holds at least one usable,
    /// unreserved address in `state` (an address without a lease counts as
    /// free), as `pool_share` would count it. Asked for every DISCOVER the
    /// hash gives to the partner, so it walks the lease table (stopping at
    /// the first hit), not every address of a possibly large pool.
    fn pool_has(&self, si: usize, pi: usize, state: BindingState) -> bool {
        let subnet = &self.config.subnets[si];
        let pool = &subnet.pools[pi];
        let counts = |a: Ipv4Addr| {
            pool.contains(a) && subnet.is_usable(a) && self.config.host_with_address(a).is_none()
        };
        let free = state == BindingState::Free;
        for r in &pool.ranges {
            let mut next = u32::from(r.first);
            for (a, l) in self.leases.range(r.first..=r.last) {
                let at = u32::from(*a);
                // Addresses without a lease, between the last one and this.
                if free && (next..at).map(Ipv4Addr::from).any(counts) {
                    return true;
                }
                if l.state == state && counts(*a) {
                    return true;
                }
                next = at.saturating_add(1);
            }
            if free
                && next <= u32::from(r.last)
                && (next..=u32::from(r.last)).map(Ipv4Addr::from).any(counts)
            {
                return true;
            }
        }
        false
    }

    /// Failover's say on whether `a` may go to `c` now, or `None` when `a`
    /// is in no failover pool (the engine's own rules apply then).
    pub(super) fn failover_available(&self, a: Ipv4Addr, c: &Client, now: u64) -> Option<bool> {
        let peer = self.failover_peer_of(a)?;
        let cfg = &self.config.failover[peer];
        let pol = &self.failover[peer];
        let Some(l) = self.leases.get(&a) else {
            return Some(may_allocate(
                cfg.role,
                pol.service,
                BindingState::Free,
                0,
                0,
                pol.mclt,
                now,
            ));
        };
        // A client may always have its own binding back, even one that
        // has ended: the partner knows it as this client's or as ended.
        if self.belongs_to(l, c)
            && matches!(
                l.state,
                BindingState::Active | BindingState::Expired | BindingState::Released
            )
        {
            return Some(true);
        }
        // An active binding past its end that the timer has not expired
        // yet counts as expired.
        let state = match l.state {
            BindingState::Active if l.end <= now => BindingState::Expired,
            s => s,
        };
        Some(may_allocate(
            cfg.role,
            pol.service,
            state,
            l.tsfp,
            l.end,
            pol.mclt,
            now,
        ))
    }

    /// Whether a DHCPDISCOVER for which `addr` was chosen goes unanswered,
    /// and why, as the suffix ISC puts on the request's log line
    /// (`": load balance to peer NAME"`, `": not responding (recovering)"`).
    pub(super) fn failover_discover(
        &self,
        p: &Packet,
        c: &Client,
        addr: Ipv4Addr,
        now: u64,
    ) -> Option<String> {
        let peer = self.failover_peer_of(addr)?;
        let cfg = &self.config.failover[peer];
        let pol = &self.failover[peer];
        match pol.service {
            Service::None => Some(format!(": not responding{}", pol.reason)),
            Service::LoadBalanced => {
                let max = cfg.load_balance_max_seconds;
                if max == 0 || p.secs > max {
                    return None;
                }
                let b = packet_bucket(c.id.as_deref(), &c.hw.addr);
                if is_mine(cfg.role, pol.hba.as_ref(), b) || !self.peer_has_free(peer, addr, now) {
                    return None;
                }
                Some(format!(": load balance to peer {}", cfg.name))
            }
            Service::Alone | Service::PartnerDown { .. } => None,
        }
    }

    /// Why no DHCPDISCOVER could be offered an address, when failover is
    /// the reason (ISC's "peer holds all free leases").
    pub(super) fn failover_no_lease(&self, subnets: &[usize], now: u64) -> Option<&'static str> {
        for (peer, cfg) in self.config.failover.iter().enumerate() {
            for &(si, pi) in &cfg.pools {
                if !subnets.contains(&si) {
                    continue;
                }
                let Some(s) = self.pool_share(si, pi, now) else {
                    continue;
                };
                let theirs = match cfg.role {
                    Role::Primary => s.backup,
                    Role::Secondary => s.free,
                };
                if theirs > 0 && self.failover.get(peer).is_some() {
                    return Some("peer holds all free leases");
                }
            }
        }
        None
    }

    /// Whether a DHCPREQUEST for `addr` goes unanswered under failover,
    /// and why (ISC's `dhcprequest`): nothing while the relationship
    /// serves nobody; not an address the partner owns; not one in
    /// transition unless it is the client's own.
    pub(super) fn failover_request(&self, addr: Ipv4Addr, c: &Client, now: u64) -> Option<String> {
        let peer = self.failover_peer_of(addr)?;
        let cfg = &self.config.failover[peer];
        let pol = &self.failover[peer];
        if pol.service == Service::None {
            return Some(format!(": not responding{}", pol.reason));
        }
        let l = self.leases.get(&addr);
        let (state, tsfp, end) = l.map_or((BindingState::Free, 0, 0), |l| (l.state, l.tsfp, l.end));
        let mine = may_allocate(cfg.role, pol.service, state, tsfp, end, pol.mclt, now);
        match state {
            BindingState::Free | BindingState::Backup if !mine => {
                Some(": lease owned by peer".to_string())
            }
            BindingState::Expired | BindingState::Released
                if !mine && !l.is_some_and(|l| self.belongs_to(l, c)) =>
            {
                Some(format!(": lease in transition state {state}"))
            }
            _ => None,
        }
    }

    /// The lease time the client would get without failover.
    pub(super) fn desired_time(&self, p: &Packet, c: &Client, si: usize, addr: Ipv4Addr) -> u32 {
        self.times_for(c, si, addr)
            .grant(p.options.u32(code::LEASE_TIME))
    }

    /// The lease time for a grant of `desired` seconds on `addr`, when it
    /// is in a failover pool: at most the MCLT beyond what the partner has
    /// acknowledged (ISC's `ack_lease`).
    pub(super) fn failover_lease_time(
        &self,
        addr: Ipv4Addr,
        desired: u32,
        now: u64,
    ) -> Option<Grant> {
        let peer = self.failover_peer_of(addr)?;
        let mclt = self.failover[peer].mclt;
        let tsfp = self.leases.get(&addr).map_or(0, |l| l.tsfp);
        let granted = mclt_lease_time(desired, tsfp, mclt, now);
        let tstp = potential_expiry(now, desired, granted);
        Some(Grant {
            granted,
            tstp,
            tsfp: tsfp.min(tstp),
            // A new version: the partner has not acknowledged it.
            atsfp: 0,
        })
    }
}

/// Puts lease time `t` in a reply built for another (with T1 and T2 from
/// it, as the reply builder makes them).
pub(super) fn set_lease_time(reply: &mut Reply, t: u32) {
    let o = &mut reply.packet.options;
    if o.get(code::LEASE_TIME).is_some() {
        o.set(code::LEASE_TIME, t.to_be_bytes().to_vec());
        o.set(code::RENEWAL_TIME, (t / 2).to_be_bytes().to_vec());
        let t2 = (u64::from(t) * 7 / 8) as u32;
        o.set(code::REBINDING_TIME, t2.to_be_bytes().to_vec());
    }
}

/// `192.168.0.0/24 pool 1` for the balancing log lines (ISC prints the
/// pool's memory address and its shared network's name).
fn pool_label(e: &Engine, si: usize, pi: usize) -> String {
    let s = &e.config.subnets[si];
    format!("{}/{} pool {}", s.network, s.prefix, pi + 1)
}
