//! From one lease to the records the server keeps for it.
//!
//! The name (in this order, as the issue and dhcpd agree): the first label
//! of the client's FQDN option (81), else its host-name option (12), else
//! the reservation's hostname, else the `generated-name` template, each
//! sanitised to a host label ([`crate::names::sanitize_label`]); then
//! `.` and `ddns-domainname` (or the client's `domain-name` option). The
//! client's own domain is not used: a client cannot put itself into a zone
//! by asking.
//!
//! Who updates what follows RFC 4702 §4 and dhcpd's `client-updates`:
//!
//! | option 81 from the client | `allow` (default) | `ignore` |
//! |---|---|---|
//! | none, or S=1 | server: A and PTR | server: A and PTR |
//! | S=0 with a qualified name | client: A; server: PTR to the client's name | server: A and PTR (S=1, O=1) |
//! | S=0 with a bare label | server: A and PTR (S=1, O=1) | same |
//! | N=1 | nobody (N=1) | server: A and PTR (S=1, O=1) |
//!
//! A reservation's fixed address is published only with
//! `update-static-leases` (dhcpd's default is not to: such hosts are
//! usually in the zone file already).

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use tandem_dns_wire::Name;

use crate::config::{ClientUpdates, DdnsConfig, Style};
use crate::fqdn::{self, ClientFqdn, ServerRole};
use crate::guard::{Guard, Identity};
use crate::names::{forward_name, generated_label, labels_of, reverse_name, sanitize_label};

/// dhcpd's cap on the default TTL.
pub const MAX_DEFAULT_TTL: u32 = 3600;

/// The records the server maintains for one lease.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    pub addr: Ipv4Addr,
    /// The forward name, lower case and absolute.
    #[serde(with = "crate::record::name_text")]
    pub fqdn: Name,
    /// True when the server keeps the A record and its guard; false when
    /// the client keeps its own A record.
    pub forward: bool,
    /// The PTR's owner, when the server keeps the PTR.
    #[serde(with = "crate::record::opt_name_text")]
    pub reverse: Option<Name>,
    pub guard: Guard,
    pub ttl: u32,
}

impl Binding {
    /// Same records in DNS (the TTL aside, which a renewal changes and
    /// dhcpd does not chase either).
    pub fn same_records(&self, other: &Binding) -> bool {
        self.addr == other.addr
            && self.fqdn == other.fqdn
            && self.forward == other.forward
            && self.reverse == other.reverse
            && self.guard == other.guard
    }
}

/// What is known about one lease when it is committed.
#[derive(Clone, Debug, Default)]
pub struct Facts<'a> {
    pub addr: Option<Ipv4Addr>,
    pub client_id: Option<&'a [u8]>,
    /// `htype` and `chaddr`.
    pub hw: Option<(u8, &'a [u8])>,
    /// The request's option 81, if it had a well-formed one (none when the
    /// lease is read back from disk).
    pub fqdn: Option<&'a ClientFqdn>,
    /// Option 12, else the lease's or the reservation's hostname.
    pub host_name: Option<&'a str>,
    /// The client's `domain-name` option, for when `ddns-domainname` is
    /// not set.
    pub domain_option: Option<&'a Name>,
    /// Seconds the lease has left.
    pub lease_secs: u64,
    /// The address is a reservation's fixed address.
    pub fixed: bool,
}

/// The decision for one lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// What to keep in DNS, if anything.
    pub binding: Option<Binding>,
    /// The option 81 value for the reply, when the client sent option 81.
    pub reply: Option<Vec<u8>>,
    /// Why nothing is published (for the debug log).
    pub why_not: Option<String>,
}

/// Decides what to publish for a lease and how to answer its option 81.
pub fn plan(cfg: &DdnsConfig, f: &Facts<'_>) -> Plan {
    let (role, binding, why_not) = match decide(cfg, f) {
        Ok((role, b)) => (role, Some(b), None),
        Err(why) => (ServerRole::Nothing, None, Some(why)),
    };
    let reply = f.fqdn.filter(|_| cfg.fqdn_reply).map(|asked| {
        let name = binding
            .as_ref()
            .filter(|b| b.forward)
            .map(|b| labels_of(&b.fqdn));
        fqdn::answer(asked, role, name.as_deref()).encode()
    });
    Plan {
        binding,
        reply,
        why_not,
    }
}

fn decide(cfg: &DdnsConfig, f: &Facts<'_>) -> Result<(ServerRole, Binding), String> {
    if !cfg.updates {
        return Err("ddns-updates is off".into());
    }
    let addr = f.addr.ok_or("no address")?;
    if f.fixed && !cfg.update_static_leases {
        return Err(format!(
            "{addr} is a reservation's fixed address and update-static-leases is off"
        ));
    }
    let id = Identity::of(f.client_id, f.hw).ok_or("the client has no identifier")?;
    let allow = cfg.client_updates == ClientUpdates::Allow;
    let reverse = |cfg: &DdnsConfig| {
        cfg.reverse_updates
            .then(|| reverse_name(addr, &cfg.rev_domain))
            .flatten()
            .filter(|r| cfg.zone_for(r).is_some())
    };
    if let Some(q) = f.fqdn.filter(|_| allow) {
        if q.n() && !q.s() {
            return Err("the client asked for no updates (option 81 N=1)".into());
        }
        if !q.s() && q.is_qualified() {
            // The client keeps its own A record; its PTR is ours.
            let own = client_name(q).ok_or("the client's FQDN is not a valid name")?;
            let rev = reverse(cfg).ok_or("the client updates its own A record, and no zone statement covers the reverse name")?;
            let guard = guard_for(cfg.style, &id, &own);
            return Ok((
                ServerRole::ReverseOnly,
                Binding {
                    addr,
                    fqdn: own,
                    forward: false,
                    reverse: Some(rev),
                    guard,
                    ttl: ttl(cfg, f),
                },
            ));
        }
    }
    if !cfg.forward_updates {
        return Err("do-forward-updates is off".into());
    }
    let label = f
        .fqdn
        .and_then(ClientFqdn::host_label)
        .and_then(sanitize_label)
        .or_else(|| f.host_name.and_then(|h| sanitize_label(h.as_bytes())))
        .or_else(|| {
            cfg.generated_name
                .as_deref()
                .and_then(|t| generated_label(t, addr, f.hw.map(|(_, a)| a)))
        })
        .ok_or("the client sent no usable name")?;
    let domain = cfg
        .domain
        .as_ref()
        .or(f.domain_option)
        .ok_or("neither ddns-domainname nor a domain-name option is set")?;
    let fqdn = forward_name(&label, domain).ok_or("the name is too long")?;
    if cfg.zone_for(&fqdn).is_none() {
        return Err(format!("no zone statement covers {fqdn}"));
    }
    let guard = guard_for(cfg.style, &id, &fqdn);
    Ok((
        ServerRole::Forward,
        Binding {
            addr,
            reverse: reverse(cfg),
            fqdn,
            forward: true,
            guard,
            ttl: ttl(cfg, f),
        },
    ))
}

fn guard_for(style: Style, id: &Identity<'_>, fqdn: &Name) -> Guard {
    match style {
        Style::Standard => Guard::dhcid(id, fqdn),
        Style::Interim => Guard::interim(id),
    }
}

/// The client's FQDN as a name, if its labels are host labels.
fn client_name(q: &ClientFqdn) -> Option<Name> {
    let ok = q.labels.iter().all(|l| {
        !l.is_empty()
            && l.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with(b"-")
            && !l.ends_with(b"-")
    });
    if !ok {
        return None;
    }
    Name::from_labels(q.labels.iter().map(Vec::as_slice))
        .ok()
        .map(|n| n.to_lowercase())
}

/// `ddns-ttl`, or dhcpd's default: half the lease, at most an hour.
fn ttl(cfg: &DdnsConfig, f: &Facts<'_>) -> u32 {
    cfg.ttl
        .unwrap_or_else(|| (f.lease_secs / 2).min(u64::from(MAX_DEFAULT_TTL)) as u32)
}
