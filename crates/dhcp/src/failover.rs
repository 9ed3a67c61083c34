//! Failover, as the DHCP engine sees it: who serves which client, who owns
//! which address, and how long a lease may be while the partner has not
//! heard of it. The relationship itself (the TCP protocol, the states) is
//! `tandem-failover`'s; the shell hands its verdict to the engine as a
//! [`Policy`] per relationship, and the engine applies it to every pool
//! that names the relationship (`failover-peer`).
//!
//! Everything here follows ISC dhcpd 4.4 (`server/failover.c`,
//! `server/dhcp.c`; the project's research note `dhcp-anchors.md` §1.7 to
//! §1.9), re-expressed, not copied:
//!
//! - load balancing: the RFC 3074 hash ([`bucket`]) over the client
//!   identifier or `chaddr`, looked up in the 256-bit hash bucket
//!   assignment ([`Hba`]), decides which server answers a DHCPDISCOVER in
//!   the normal state;
//! - ownership ([`may_allocate`]): FREE addresses are the primary's, BACKUP
//!   ones the secondary's; in partner-down the other side's become usable
//!   once the MCLT has passed;
//! - MCLT ([`mclt_lease_time`], [`potential_expiry`]): no lease runs longer
//!   than what the partner has acknowledged plus the MCLT.
//!
//! # The hash
//!
//! - [`bucket`] is RFC 3074 §6's Pearson hash: an 8-bit state that starts
//!   as the key's length, then for every key byte *from the last to the
//!   first* becomes `MIXING_TABLE[state ^ byte]`;
//! - the key ([`packet_bucket`]) is the client identifier option's value
//!   (option 61's data, its type byte included) when the client sent one,
//!   else the `chaddr` bytes (`hlen` of them, *without* the hardware type
//!   byte): ISC's `load_balance_mine`;
//! - for a stored lease ([`lease_bucket`]) the same: the client identifier
//!   if the lease has one, else the hardware address without its type byte
//!   (ISC's `peer_wants_lease` skips the first byte of its stored
//!   `hardware_addr`, which is the type);
//! - bucket `b` is bit `b & 7` (least significant first) of HBA byte
//!   `b >> 3`. A set bit means the primary serves the client, a clear bit
//!   the secondary ([`is_mine`]);
//! - `split N` (0..=256) sets buckets 0..N−1, so `split 128` gives the
//!   primary the hash values 0–127 (`server/confpars.c`, `SPLIT`);
//!   `hba` gives the 32 bytes explicitly ([`Hba::from_isc_text`]).

use std::fmt;
use std::net::Ipv4Addr;

use thiserror::Error;

use crate::lease::{BindingState, Lease};

/// Which side of the relationship a server is. ISC configures it with
/// `primary;` or `secondary;` in the `failover peer` block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Primary,
    Secondary,
}

impl Role {
    /// The other side.
    pub fn peer(self) -> Role {
        match self {
            Role::Primary => Role::Secondary,
            Role::Secondary => Role::Primary,
        }
    }

    /// `primary` or `secondary`, as ISC writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Secondary => "secondary",
        }
    }

    /// The binding state of the addresses this side may allocate: FREE
    /// for the primary, BACKUP for the secondary.
    pub fn own_free_state(self) -> BindingState {
        match self {
            Role::Primary => BindingState::Free,
            Role::Secondary => BindingState::Backup,
        }
    }
}

/// One failover relationship as configured (`[[dhcp.failover]]`, ISC's
/// `failover peer "NAME" { ... }`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailoverPeer {
    pub name: String,
    pub role: Role,
    /// Our address: the source of our connections and the address we
    /// listen on.
    pub address: Ipv4Addr,
    /// The TCP port we listen on (ISC `port`, 647 by default).
    pub port: u16,
    pub peer_address: Ipv4Addr,
    /// The partner's port, which we connect to (ISC `peer port`).
    pub peer_port: u16,
    /// Seconds of silence after which the link is dropped; the partner
    /// keeps it alive with a message at least every third of it.
    pub max_response_delay: u32,
    /// How many binding updates the partner may have in flight to us.
    pub max_unacked_updates: u32,
    /// A DHCPDISCOVER whose `secs` exceed this is answered by both
    /// servers; 0 turns load balancing off.
    pub load_balance_max_seconds: u16,
    /// The maximum client lead time. The primary's setting; a secondary
    /// uses the one the primary sends.
    pub mclt: u32,
    /// The primary's split of the clients (`split` or `hba`); a secondary
    /// has it from the primary.
    pub hba: Option<Hba>,
    /// Pool balancing (ISC's defaults 15 %, 10 %, 60 s, 3600 s).
    pub max_lease_misbalance: u32,
    pub max_lease_ownership: u32,
    pub min_balance: u32,
    pub max_balance: u32,
    /// tandem's automatic partner-down: after this many seconds in
    /// communications-interrupted, if the partner is also silent on the
    /// client network, move to partner-down (off when `None`).
    pub auto_partner_down: Option<u32>,
    /// The pools in this relationship, as (subnet index, pool index) into
    /// [`crate::DhcpConfig::subnets`].
    pub pools: Vec<(usize, usize)>,
}

impl FailoverPeer {
    /// A relationship with ISC's defaults for everything but the names,
    /// roles and addresses.
    pub fn new(name: &str, role: Role, address: Ipv4Addr, peer_address: Ipv4Addr) -> FailoverPeer {
        FailoverPeer {
            name: name.to_string(),
            role,
            address,
            port: 647,
            peer_address,
            peer_port: 647,
            max_response_delay: 20,
            max_unacked_updates: 100,
            // ISC's default: load balancing off, until configured.
            load_balance_max_seconds: 0,
            mclt: 0,
            hba: None,
            max_lease_misbalance: 15,
            max_lease_ownership: 10,
            min_balance: 60,
            max_balance: 3600,
            auto_partner_down: None,
            pools: Vec::new(),
        }
    }
}

/// The relationship (index into [`crate::DhcpConfig::failover`]) whose
/// pool holds `addr`, if any.
pub fn relationship_of(config: &crate::DhcpConfig, addr: Ipv4Addr) -> Option<usize> {
    if config.failover.is_empty() {
        return None;
    }
    let (si, s) = config
        .subnets
        .iter()
        .enumerate()
        .find(|(_, s)| s.contains(addr))?;
    let pi = s.pools.iter().position(|p| p.contains(addr))?;
    config
        .failover
        .iter()
        .position(|f| f.pools.contains(&(si, pi)))
}

/// What the relationship's state lets this server do
/// (ISC's `dhcp_failover_set_service_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// Answer nobody (startup, recover, the conflict states, paused,
    /// shut-down).
    None,
    /// Both serve: DISCOVERs split by the HBA, the rest by ownership.
    LoadBalanced,
    /// The partner is unreachable: renew anyone, allocate only our own
    /// free addresses.
    Alone,
    /// The partner is known to be down: serve everyone, and after `since`
    /// (start of partner-down + MCLT) use the partner's free addresses too.
    PartnerDown { since: u64 },
}

/// The relationship's verdict, for [`crate::Engine::set_failover_policy`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub service: Service,
    /// The split in force (a secondary's comes from the primary's
    /// CONNECT). Without one, no client is this server's by hash.
    pub hba: Option<Hba>,
    /// The MCLT in force.
    pub mclt: u32,
    /// For [`Service::None`]: why, in ISC's words, with its leading space
    /// (`" (recovering)"`), appended to "not responding".
    pub reason: String,
}

impl Policy {
    /// The policy before the relationship has said anything: answer
    /// nobody, as ISC does in STARTUP.
    pub fn startup(mclt: u32, hba: Option<Hba>) -> Policy {
        Policy {
            service: Service::None,
            hba,
            mclt,
            reason: " (startup)".to_string(),
        }
    }
}

/// How one pool's addresses stand between the two servers, for `tandem
/// status` and for pool balancing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolShare {
    pub subnet: usize,
    pub pool: usize,
    pub total: u64,
    /// FREE addresses (the primary's to allocate), never-used ones included.
    pub free: u64,
    /// BACKUP addresses (the secondary's to allocate).
    pub backup: u64,
    pub active: u64,
    /// Expired, released or reset, waiting for the partner's agreement.
    pub transitional: u64,
    pub abandoned: u64,
}

/// Whether a server in `role`, under `service`, may give the address in
/// `state` to a *new* client (ISC's `lease_mine_to_reallocate`). `tsfp` is
/// the partner's potential expiry for the address, `mclt` the MCLT, `end`
/// the binding's end (for abandoned addresses).
///
/// - FREE is the primary's, BACKUP the secondary's; in partner-down the
///   other side's become ours once both the start of partner-down and the
///   partner's potential expiry are an MCLT behind us;
/// - ABANDONED counts as FREE, once its quarantine is over;
/// - EXPIRED, RELEASED and RESET wait for the partner to agree (they turn
///   FREE when it acknowledges); in partner-down they may be reused once
///   the partner's potential expiry has passed and an MCLT has gone by
///   since partner-down began (ISC moves every such tsfp to STOS + MCLT on
///   entering partner-down; comparing with both is the same rule);
/// - ACTIVE never.
pub fn may_allocate(
    role: Role,
    service: Service,
    state: BindingState,
    tsfp: u64,
    end: u64,
    mclt: u32,
    now: u64,
) -> bool {
    let mclt = u64::from(mclt);
    let taken_over = |since: u64| now > since.max(tsfp.saturating_add(mclt));
    let own = role.own_free_state();
    match state {
        BindingState::Active => false,
        BindingState::Abandoned => {
            end <= now
                && (role == Role::Primary
                    || matches!(service, Service::PartnerDown { since } if taken_over(since)))
        }
        s @ (BindingState::Free | BindingState::Backup) if s == own => true,
        BindingState::Free | BindingState::Backup => {
            matches!(service, Service::PartnerDown { since } if taken_over(since))
        }
        BindingState::Expired | BindingState::Released | BindingState::Reset => {
            matches!(service, Service::PartnerDown { since } if now > since && tsfp < now)
        }
    }
}

/// The lease time a server may give when it would like to give `desired`
/// (ISC's `ack_lease`): anything up to the MCLT; beyond it, only while the
/// partner's acknowledged potential expiry `tsfp` covers it, up to `tsfp`
/// plus the MCLT. `u32::MAX` (infinite) is clamped like any long lease.
pub fn mclt_lease_time(desired: u32, tsfp: u64, mclt: u32, now: u64) -> u32 {
    if desired <= mclt {
        return desired;
    }
    if tsfp <= now {
        return mclt;
    }
    let limit = tsfp - now + u64::from(mclt);
    if u64::from(desired) > limit {
        u32::try_from(limit).unwrap_or(u32::MAX)
    } else {
        desired
    }
}

/// The potential expiry to tell the partner for a lease granted at `now`
/// for `granted` seconds when `desired` was wanted: the desired end plus
/// half the granted time (the client's renewal), so that the renewal, once
/// the partner has acknowledged this, can get the full desired time (ISC's
/// `ack_lease`: `tstp = now + desired + granted / 2`). An infinite desired
/// time gives an infinite potential expiry.
pub fn potential_expiry(now: u64, desired: u32, granted: u32) -> u64 {
    if desired == u32::MAX {
        return u64::MAX;
    }
    now + u64::from(desired) + u64::from(granted / 2)
}

// Load balancing (RFC 3074).

/// The 256 "mixing table" values of RFC 3074 §6, a permutation of 0..=255
/// in the RFC's order. Every implementation must use exactly these for
/// the two servers to agree.
#[rustfmt::skip]
pub const MIXING_TABLE: [u8; 256] = [
    251, 175, 119, 215,  81,  14,  79, 191, 103,  49, 181, 143, 186, 157,   0, 232,
     31,  32,  55,  60, 152,  58,  17, 237, 174,  70, 160, 144, 220,  90,  57, 223,
     59,   3,  18, 140, 111, 166, 203, 196, 134, 243, 124,  95, 222, 179, 197,  65,
    180,  48,  36,  15, 107,  46, 233, 130, 165,  30, 123, 161, 209,  23,  97,  16,
     40,  91, 219,  61, 100,  10, 210, 109, 250, 127,  22, 138,  29, 108, 244,  67,
    207,   9, 178, 204,  74,  98, 126, 249, 167, 116,  34,  77, 193, 200, 121,   5,
     20, 113,  71,  35, 128,  13, 182,  94,  25, 226, 227, 199,  75,  27,  41, 245,
    230, 224,  43, 225, 177,  26, 155, 150, 212, 142, 218, 115, 241,  73,  88, 105,
     39, 114,  62, 255, 192, 201, 145, 214, 168, 158, 221, 148, 154, 122,  12,  84,
     82, 163,  44, 139, 228, 236, 205, 242, 217,  11, 187, 146, 159,  64,  86, 239,
    195,  42, 106, 198, 118, 112, 184, 172,  87,   2, 173, 117, 176, 229, 247, 253,
    137, 185,  99, 164, 102, 147,  45,  66, 231,  52, 141, 211, 194, 206, 246, 238,
     56, 110,  78, 248,  63, 240, 189,  93,  92,  51,  53, 183,  19, 171,  72,  50,
     33, 104, 101,  69,   8, 252,  83, 120,  76, 135,  85,  54, 202, 125, 188, 213,
     96, 235, 136, 208, 162, 129, 190, 132, 156,  38,  47,   1,   7, 254,  24,   4,
    216, 131,  89,  21,  28, 133,  37, 153, 149,  80, 170,  68,   6, 169, 234, 151,
];

/// The RFC 3074 hash of `key`: its load-balancing bucket, 0..=255.
pub fn bucket(key: &[u8]) -> u8 {
    // The state starts as the length, modulo 256 as an 8-bit C variable
    // would hold it, and the key is walked backwards, as in RFC 3074 §6.
    key.iter()
        .rev()
        .fold(key.len() as u8, |h, &b| MIXING_TABLE[usize::from(h ^ b)])
}

/// The bucket of a client request: over its client identifier (option 61
/// data) if it sent one, else over its `chaddr` (the first `hlen` bytes,
/// no hardware type).
pub fn packet_bucket(client_id: Option<&[u8]>, chaddr: &[u8]) -> u8 {
    bucket(client_id.unwrap_or(chaddr))
}

/// The bucket of the client a lease belongs to, or `None` when the lease
/// names no client (ISC cannot place such a lease either).
pub fn lease_bucket(lease: &Lease) -> Option<u8> {
    if let Some(id) = lease.client_id.as_deref().filter(|id| !id.is_empty()) {
        return Some(bucket(id));
    }
    lease
        .hw
        .as_ref()
        .filter(|hw| !hw.addr.is_empty())
        .map(|hw| bucket(&hw.addr))
}

/// Whether a server in `role` serves a client in `bucket`. Without an HBA
/// neither side claims the client, as in ISC (`load_balance_mine`: "we
/// can't tell if this one's ours, so we assume it's not").
pub fn is_mine(role: Role, hba: Option<&Hba>, bucket: u8) -> bool {
    match (hba, role) {
        (None, _) => false,
        (Some(h), Role::Primary) => h.is_primary(bucket),
        (Some(h), Role::Secondary) => !h.is_primary(bucket),
    }
}

/// A hash bucket assignment: 256 bits, bit set = the primary's bucket.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Hba([u8; 32]);

/// A `split` value out of ISC's range.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("split {0} is out of range: it must be 0..=256")]
pub struct SplitError(pub u32);

/// An `hba` text that is not 32 colon-separated hex bytes.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("hba must be 32 colon-separated hex bytes: {0}")]
pub struct HbaTextError(pub String);

impl Hba {
    /// ISC's `split N`: the primary has buckets 0..N (N of 256). `split
    /// 128` is the even split, 256 gives everything to the primary, 0
    /// everything to the secondary.
    pub fn from_split(split: u32) -> Result<Hba, SplitError> {
        if split > 256 {
            return Err(SplitError(split));
        }
        let mut bits = [0u8; 32];
        for b in 0..split as usize {
            bits[b >> 3] |= 1 << (b & 7);
        }
        Ok(Hba(bits))
    }

    pub const fn from_array(bits: [u8; 32]) -> Hba {
        Hba(bits)
    }

    /// The HBA of a CONNECT: exactly 32 bytes, or `None` (an ISC secondary
    /// rejects the CONNECT then, with reason 18).
    pub fn from_bytes(bytes: &[u8]) -> Option<Hba> {
        <[u8; 32]>::try_from(bytes).ok().map(Hba)
    }

    /// ISC's `hba` statement value: 32 hex bytes separated by colons, e.g.
    /// `ff:ff:…:00`.
    pub fn from_isc_text(text: &str) -> Result<Hba, HbaTextError> {
        let err = || HbaTextError(text.to_string());
        let mut bits = [0u8; 32];
        let mut n = 0;
        for part in text.trim().split(':') {
            let part = part.trim();
            if n == 32 || part.is_empty() || part.len() > 2 {
                return Err(err());
            }
            bits[n] = u8::from_str_radix(part, 16).map_err(|_| err())?;
            n += 1;
        }
        if n != 32 {
            return Err(err());
        }
        Ok(Hba(bits))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// True if `bucket` is the primary's.
    pub fn is_primary(&self, bucket: u8) -> bool {
        self.0[usize::from(bucket >> 3)] & (1 << (bucket & 7)) != 0
    }

    /// How many of the 256 buckets are the primary's.
    pub fn primary_buckets(&self) -> u32 {
        self.0.iter().map(|b| b.count_ones()).sum()
    }
}

impl fmt::Debug for Hba {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hba({self})")
    }
}

impl fmt::Display for Hba {
    /// The `hba` statement's form: 32 colon-separated hex bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// A hash of what the two servers of relationship `peer` must configure
/// alike: each of its pools (subnet, ranges, exclusions) with the options
/// and lease times a client of the pool gets (global, subnet and pool
/// levels), in a fixed byte form (FNV-1a, 64 bits), whatever the order of
/// the subnets and pools in the file. Two tandem partners
/// exchange it at connect and warn when it differs. Left out on purpose:
/// the relationship's own addresses, role and timers (which differ by
/// design), interfaces, reservations and classes.
pub fn shared_config_hash(config: &crate::DhcpConfig, peer: usize) -> u64 {
    struct Fnv(u64);
    impl Fnv {
        fn put(&mut self, b: &[u8]) {
            for &x in b {
                self.0 ^= u64::from(x);
                self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
            }
        }
        fn tagged(&mut self, tag: u8, b: &[u8]) {
            self.put(&[tag]);
            self.put(&(b.len() as u32).to_be_bytes());
            self.put(b);
        }
    }
    fn options(h: &mut Fnv, tag: u8, o: &crate::config::OptionSet) {
        let mut items: Vec<(u8, &[u8])> = o.iter().collect();
        items.sort();
        for (code, v) in items {
            h.tagged(tag, &[code]);
            h.tagged(tag, v);
        }
    }
    fn times(h: &mut Fnv, tag: u8, t: &crate::config::TimesOverride) {
        for v in [t.default, t.min, t.max] {
            h.tagged(
                tag,
                &v.map_or([0xff; 5], |x| {
                    let b = x.to_be_bytes();
                    [1, b[0], b[1], b[2], b[3]]
                }),
            );
        }
    }
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    let Some(f) = config.failover.get(peer) else {
        return h.0;
    };
    let t = &config.times;
    for v in [t.default, t.min, t.max] {
        h.tagged(1, &v.to_be_bytes());
    }
    options(&mut h, 2, &config.options);
    // Each pool on its own, then sorted: the order in the file is no
    // difference.
    let mut each = Vec::new();
    for &(si, pi) in &f.pools {
        let Some(s) = config.subnets.get(si) else {
            continue;
        };
        let Some(p) = s.pools.get(pi) else { continue };
        let mut h = Fnv(0xcbf2_9ce4_8422_2325);
        h.tagged(3, &s.network.octets());
        h.tagged(3, &[s.prefix]);
        options(&mut h, 4, &s.options);
        times(&mut h, 5, &s.times);
        for r in &p.ranges {
            h.tagged(6, &r.first.octets());
            h.tagged(6, &r.last.octets());
        }
        for r in &p.exclude {
            h.tagged(7, &r.first.octets());
            h.tagged(7, &r.last.octets());
        }
        options(&mut h, 8, &p.options);
        times(&mut h, 9, &p.times);
        each.push(h.0);
    }
    each.sort_unstable();
    for x in each {
        h.put(&x.to_be_bytes());
    }
    h.0
}

/// When a failover pool's lease that ended here may lose its names in DNS
/// on this node (see [`names_may_go`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamesGo {
    /// Now.
    Now,
    /// Not before this time; ask again then.
    At(u64),
    /// Not here: the node that committed it withdraws them.
    Never,
}

/// Whether this node may withdraw the DNS names of a lease of a failover
/// pool that ended here (released, declined or expired), when it did not
/// publish them itself: each lease is published and withdrawn by the node
/// that committed it, and the other node takes over only as the survivor,
/// once the partner cannot be holding the lease for the client:
///
/// - the client released or declined the address here, with the partner
///   unreachable (communications-interrupted or partner-down): the client
///   itself said it is done;
/// - the lease expired here in partner-down: once past the potential
///   expiry the partner told us (`tsfp`) and the start of partner-down
///   plus the MCLT (`since`). A partner may renew a client up to the
///   later of its acknowledged potential expiry and the renewal time plus
///   the MCLT, and it renewed nothing after partner-down began.
///
/// Never in normal operation (the partner's own withdrawal comes), nor for
/// an expiry in communications-interrupted: the partner may be alive and
/// may have renewed the client, by MCLT at a time, for as long as it
/// likes, and its records carry the same guard.
pub fn names_may_go(service: Service, lease: &Lease, now: u64) -> NamesGo {
    use crate::BindingState as B;
    let by_client = matches!(lease.state, B::Released | B::Abandoned);
    match service {
        Service::Alone | Service::PartnerDown { .. } if by_client => NamesGo::Now,
        Service::PartnerDown { since } if lease.state == B::Expired => {
            let safe = lease.end.max(lease.tsfp).max(since);
            if now >= safe {
                NamesGo::Now
            } else {
                NamesGo::At(safe)
            }
        }
        _ => NamesGo::Never,
    }
}
