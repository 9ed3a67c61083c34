//! The server's validated settings as the engine uses them: subnets with
//! their pools, reservations, classes and option sets already encoded to
//! wire bytes. `tandem-config` builds this from the TOML file.

use std::net::Ipv4Addr;

use tandem_dhcp_wire::options::prefix_mask;
use tandem_dhcp_wire::Registry;

use crate::lease::HwAddr;

/// Lease times in seconds. `None` means "inherit from the enclosing scope".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimesOverride {
    pub default: Option<u32>,
    pub max: Option<u32>,
    pub min: Option<u32>,
}

/// Effective lease times for one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTimes {
    pub default: u32,
    pub max: u32,
    pub min: u32,
}

impl LeaseTimes {
    pub fn with(self, o: &TimesOverride) -> LeaseTimes {
        LeaseTimes {
            default: o.default.unwrap_or(self.default),
            max: o.max.unwrap_or(self.max),
            min: o.min.unwrap_or(self.min),
        }
    }

    /// The lease a client gets when it asks for `requested` seconds.
    pub fn grant(&self, requested: Option<u32>) -> u32 {
        let want = requested.unwrap_or(self.default);
        want.clamp(self.min.min(self.max), self.max.max(1))
    }
}

/// An ordered set of options, values in wire form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OptionSet {
    items: Vec<(u8, Vec<u8>)>,
}

impl OptionSet {
    pub fn set(&mut self, code: u8, value: Vec<u8>) {
        match self.items.iter_mut().find(|(c, _)| *c == code) {
            Some(slot) => slot.1 = value,
            None => self.items.push((code, value)),
        }
    }

    pub fn get(&self, code: u8) -> Option<&[u8]> {
        self.items
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, v)| v.as_slice())
    }

    pub fn iter(&self) -> impl Iterator<Item = (u8, &[u8])> {
        self.items.iter().map(|(c, v)| (*c, v.as_slice()))
    }

    /// `self` overlaid with `more`: `more` wins where both set an option.
    pub fn overlay(&mut self, more: &OptionSet) {
        for (c, v) in more.iter() {
            self.set(c, v.to_vec());
        }
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// An inclusive address range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub first: Ipv4Addr,
    pub last: Ipv4Addr,
}

impl Range {
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        (u32::from(self.first)..=u32::from(self.last)).contains(&u32::from(a))
    }

    pub fn len(&self) -> u64 {
        u64::from(u32::from(self.last)) - u64::from(u32::from(self.first)) + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    pub ranges: Vec<Range>,
    pub exclude: Vec<Range>,
    pub options: OptionSet,
    pub times: TimesOverride,
}

impl Pool {
    /// True if the pool may hand out `a`.
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        self.ranges.iter().any(|r| r.contains(a)) && !self.exclude.iter().any(|r| r.contains(a))
    }

    pub fn size(&self) -> u64 {
        self.ranges.iter().map(Range::len).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subnet {
    pub network: Ipv4Addr,
    pub prefix: u8,
    /// The interface this subnet is directly on, when configured.
    pub interface: Option<String>,
    pub pools: Vec<Pool>,
    pub options: OptionSet,
    pub times: TimesOverride,
}

impl Subnet {
    pub fn mask(&self) -> Ipv4Addr {
        Ipv4Addr::from(prefix_mask(self.prefix))
    }

    pub fn contains(&self, a: Ipv4Addr) -> bool {
        let m = prefix_mask(self.prefix);
        u32::from(a) & m == u32::from(self.network) & m
    }

    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | !prefix_mask(self.prefix))
    }

    /// The network and broadcast addresses are never leased (except in a /31
    /// or /32, which have neither).
    pub fn is_usable(&self, a: Ipv4Addr) -> bool {
        self.prefix >= 31 || (a != self.network && a != self.broadcast())
    }

    pub fn pool_of(&self, a: Ipv4Addr) -> Option<&Pool> {
        self.pools.iter().find(|p| p.contains(a))
    }
}

/// A reservation (ISC `host`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub name: String,
    pub hw: Option<HwAddr>,
    pub client_id: Option<Vec<u8>>,
    pub fixed_address: Option<Ipv4Addr>,
    pub hostname: Option<String>,
    pub options: OptionSet,
    pub times: TimesOverride,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClassMatch {
    VendorClass(Vec<u8>),
    VendorClassPrefix(Vec<u8>),
    UserClass(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    pub name: String,
    pub matches: ClassMatch,
    pub options: OptionSet,
}

/// How an address is checked for a squatter before it is offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictDetection {
    None,
    /// An ICMP echo, like ISC's `ping-check`.
    Icmp,
    /// An ARP probe (RFC 5227), which also finds hosts that drop pings.
    Arp,
}

#[derive(Debug, Clone)]
pub struct DhcpConfig {
    pub interfaces: Vec<String>,
    pub authoritative: bool,
    pub server_identifier: Option<Ipv4Addr>,
    pub times: LeaseTimes,
    pub conflict_detection: ConflictDetection,
    pub conflict_timeout_ms: u64,
    /// Seconds a declined or conflicting address stays out of service.
    pub decline_hold: u32,
    pub options: OptionSet,
    pub subnets: Vec<Subnet>,
    pub hosts: Vec<Host>,
    pub classes: Vec<Class>,
    pub registry: Registry,
    pub lease_journal_max_size: u64,
    /// Leases to load on the first start (an empty lease store), as
    /// `tandem import-isc --leases` writes them.
    pub import_leases: Option<std::path::PathBuf>,
    /// Address options written with host names (`routers = "router.home"`,
    /// as ISC allows), to resolve against the served zones at start.
    pub pending_names: Vec<PendingName>,
    pub port: u16,
    pub client_port: u16,
    /// Failover relationships (`[[dhcp.failover]]`) and their pools.
    pub failover: Vec<crate::failover::FailoverPeer>,
}

impl DhcpConfig {
    /// A configuration with the documented defaults and nothing to serve.
    pub fn new(interfaces: Vec<String>) -> DhcpConfig {
        DhcpConfig {
            interfaces,
            authoritative: true,
            server_identifier: None,
            times: LeaseTimes {
                default: 43200,
                max: 86400,
                min: 0,
            },
            conflict_detection: ConflictDetection::Icmp,
            conflict_timeout_ms: 500,
            decline_hold: 86400,
            options: OptionSet::default(),
            subnets: Vec::new(),
            hosts: Vec::new(),
            classes: Vec::new(),
            registry: Registry::default(),
            lease_journal_max_size: 16 << 20,
            import_leases: None,
            pending_names: Vec::new(),
            port: 67,
            client_port: 68,
            failover: Vec::new(),
        }
    }

    /// The reservation whose fixed address is `a`, if any.
    pub fn host_with_address(&self, a: Ipv4Addr) -> Option<&Host> {
        self.hosts.iter().find(|h| h.fixed_address == Some(a))
    }
}

/// Where an option set lives in the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Global,
    Subnet(usize),
    Pool(usize, usize),
    Host(usize),
    Class(usize),
}

/// An address option whose value names hosts instead of addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingName {
    pub scope: Scope,
    pub code: u8,
    pub option: String,
    pub kind: tandem_dhcp_wire::Kind,
    /// The value's words: addresses and host names.
    pub words: Vec<String>,
    /// `file:line:col` of the value, for errors.
    pub place: String,
}

impl DhcpConfig {
    fn options_mut(&mut self, scope: Scope) -> Option<&mut OptionSet> {
        Some(match scope {
            Scope::Global => &mut self.options,
            Scope::Subnet(s) => &mut self.subnets.get_mut(s)?.options,
            Scope::Pool(s, p) => &mut self.subnets.get_mut(s)?.pools.get_mut(p)?.options,
            Scope::Host(h) => &mut self.hosts.get_mut(h)?.options,
            Scope::Class(c) => &mut self.classes.get_mut(c)?.options,
        })
    }

    /// Replaces host names in address options by their addresses, as ISC
    /// does at start. `lookup` gives a name's IPv4 addresses (empty if it
    /// has none). Every name that does not resolve is an error line.
    pub fn resolve_names(
        &mut self,
        lookup: &dyn Fn(&str) -> Vec<Ipv4Addr>,
    ) -> Result<(), Vec<String>> {
        let mut errors = Vec::new();
        for p in std::mem::take(&mut self.pending_names) {
            let mut words = Vec::new();
            for item in p.words.iter().flat_map(|w| w.split(',')).map(str::trim) {
                if item.is_empty() || item.parse::<Ipv4Addr>().is_ok() {
                    words.push(item.to_string());
                    continue;
                }
                let found = lookup(item);
                if found.is_empty() {
                    errors.push(format!(
                        "{}: option {}: {item:?} has no A record in the zones tandem serves",
                        p.place, p.option
                    ));
                }
                let take = if p.kind == tandem_dhcp_wire::Kind::Ip {
                    1
                } else {
                    found.len()
                };
                words.extend(found.iter().take(take).map(|a| a.to_string()));
            }
            match p.kind.parse(&words) {
                Ok(bytes) => {
                    if let Some(set) = self.options_mut(p.scope) {
                        set.set(p.code, bytes);
                    }
                }
                Err(e) if errors.is_empty() => {
                    errors.push(format!("{}: option {}: {e}", p.place, p.option))
                }
                Err(_) => {}
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}
