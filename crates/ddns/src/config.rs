//! The validated `[ddns]` settings, in the words of ISC dhcpd's
//! configuration (docs/configuration.md, "DDNS"). `tandem-config` builds a
//! [`DdnsConfig`] from the file; `tandem import-isc` writes one from
//! dhcpd.conf.

use std::net::SocketAddr;
use std::time::Duration;

use tandem_dns_wire::{Key, Name};

/// `ddns-update-style`: which guard record protects the names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// DHCID records and RFC 4703 (`standard`).
    Standard,
    /// ISC's TXT records (`interim`), to share a zone with a dhcpd that
    /// still uses them.
    Interim,
}

/// `allow client-updates` / `ignore client-updates`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientUpdates {
    /// A client that says (option 81, S=0, with a domain) it updates its
    /// own A record does so; the server does its PTR. A client that asks
    /// for no updates (N=1) gets none. dhcpd's default.
    Allow,
    /// The server updates every client's records itself and says so (S=1,
    /// O=1).
    Ignore,
}

/// One `zone` statement: where updates for names in `name` go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneTarget {
    pub name: Name,
    /// Tried first, in order.
    pub primary: Vec<SocketAddr>,
    /// Tried when no primary answers (a secondary that forwards updates to
    /// its primary, BIND's `allow-update-forwarding`).
    pub secondary: Vec<SocketAddr>,
    /// Signs the updates; unsigned when `None`.
    pub key: Option<Key>,
}

impl ZoneTarget {
    /// The servers in the order they are tried.
    pub fn servers(&self) -> impl Iterator<Item = &SocketAddr> {
        self.primary.iter().chain(&self.secondary)
    }
}

/// Everything the DDNS core and shell need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DdnsConfig {
    /// `ddns-updates`: false keeps every name out of DNS (option 81 is
    /// still answered, with N=1).
    pub updates: bool,
    pub style: Style,
    /// `update-conflict-detection`: false overwrites whatever holds a name
    /// (the guard's owner is not checked).
    pub conflict_detection: bool,
    pub client_updates: ClientUpdates,
    /// `ddns-domainname`; `None`: the client's `domain-name` option.
    pub domain: Option<Name>,
    /// `ddns-rev-domainname`: `in-addr.arpa.` by default.
    pub rev_domain: Name,
    /// `ddns-ttl`; `None`: half the lease, at most an hour (dhcpd's rule).
    pub ttl: Option<u32>,
    /// `update-optimization`: a renewal whose records are already in DNS
    /// sends nothing.
    pub update_optimization: bool,
    /// `update-static-leases`: also publish reservations' fixed addresses.
    pub update_static_leases: bool,
    /// `do-forward-updates`: false leaves A records to the clients.
    pub forward_updates: bool,
    /// `do-reverse-updates`: false leaves PTR records alone.
    pub reverse_updates: bool,
    /// `fqdn-reply`: answer option 81.
    pub fqdn_reply: bool,
    /// A template for clients without a usable name (`dhcp-{ip}`), or
    /// none: such clients get no name.
    pub generated_name: Option<String>,
    pub zones: Vec<ZoneTarget>,
    /// How long one server has to answer one update.
    pub timeout: Duration,
    /// First and longest wait before a failed update is tried again.
    pub retry_min: Duration,
    pub retry_max: Duration,
    /// Updates in flight at once.
    pub parallel: usize,
}

impl DdnsConfig {
    /// The documented defaults (dhcpd's), with no zones.
    pub fn new() -> DdnsConfig {
        DdnsConfig {
            updates: true,
            style: Style::Standard,
            conflict_detection: true,
            client_updates: ClientUpdates::Allow,
            domain: None,
            rev_domain: "in-addr.arpa.".parse().expect("literal"),
            ttl: None,
            update_optimization: true,
            update_static_leases: false,
            forward_updates: true,
            reverse_updates: true,
            fqdn_reply: true,
            generated_name: None,
            zones: Vec::new(),
            timeout: Duration::from_secs(2),
            retry_min: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            parallel: 16,
        }
    }

    /// The zone statement that covers `name`: the longest one that does.
    pub fn zone_for(&self, name: &Name) -> Option<&ZoneTarget> {
        self.zones
            .iter()
            .filter(|z| name.is_subdomain_of(&z.name))
            .max_by_key(|z| z.name.label_count())
    }
}

impl Default for DdnsConfig {
    fn default() -> DdnsConfig {
        DdnsConfig::new()
    }
}
