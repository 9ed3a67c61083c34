//! The `[dhcp]` table: its shape as serde reads it, and its validation into
//! the engine's [`DhcpConfig`], with every option value encoded and every
//! error located.

use std::collections::{BTreeMap, HashSet};
use std::net::Ipv4Addr;

use serde::Deserialize;
use tandem_dhcp::config::{
    Class, ClassMatch, ConflictDetection, DhcpConfig, Host, OptionSet, PendingName, Pool, Range,
    Scope, Subnet, TimesOverride,
};
use tandem_dhcp::HwAddr;
use tandem_dhcp_wire::options::{hex_bytes, prefix_mask, SERVER_OWNED};
use tandem_dhcp_wire::{Kind, OptionDef, Registry};
use toml::Spanned;

use crate::{ConfigError, Locator};

type RawOptions = BTreeMap<Spanned<String>, Spanned<toml::Value>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawDhcp {
    interfaces: Spanned<Vec<String>>,
    authoritative: Option<bool>,
    server_identifier: Option<Spanned<String>>,
    default_lease_time: Option<u32>,
    max_lease_time: Option<u32>,
    min_lease_time: Option<u32>,
    conflict_detection: Option<Spanned<String>>,
    conflict_timeout_ms: Option<u64>,
    decline_hold_time: Option<u32>,
    lease_journal_max_size: Option<u64>,
    import_leases: Option<String>,
    port: Option<u16>,
    client_port: Option<u16>,
    #[serde(default)]
    options: RawOptions,
    #[serde(default)]
    option_definition: Vec<RawDefinition>,
    #[serde(default)]
    subnet: Vec<RawSubnet>,
    #[serde(default)]
    host: Vec<RawHost>,
    #[serde(default)]
    class: Vec<RawClass>,
    #[serde(default)]
    failover: Vec<crate::failover::RawFailover>,
}

/// Lease-time overrides, as every scope writes them.
macro_rules! times {
    ($raw:expr) => {
        TimesOverride {
            default: $raw.default_lease_time,
            max: $raw.max_lease_time,
            min: $raw.min_lease_time,
        }
    };
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawDefinition {
    name: Spanned<String>,
    code: Spanned<u8>,
    #[serde(rename = "type")]
    kind: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawSubnet {
    subnet: Spanned<String>,
    interface: Option<String>,
    default_lease_time: Option<u32>,
    max_lease_time: Option<u32>,
    min_lease_time: Option<u32>,
    #[serde(default)]
    options: RawOptions,
    #[serde(default)]
    pool: Vec<RawPool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawPool {
    range: Option<Spanned<String>>,
    #[serde(default)]
    ranges: Vec<Spanned<String>>,
    #[serde(default)]
    exclude: Vec<Spanned<String>>,
    failover_peer: Option<Spanned<String>>,
    default_lease_time: Option<u32>,
    max_lease_time: Option<u32>,
    min_lease_time: Option<u32>,
    #[serde(default)]
    options: RawOptions,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawHost {
    name: Spanned<String>,
    hardware_address: Option<Spanned<String>>,
    client_id: Option<Spanned<String>>,
    fixed_address: Option<Spanned<String>>,
    hostname: Option<String>,
    default_lease_time: Option<u32>,
    max_lease_time: Option<u32>,
    min_lease_time: Option<u32>,
    #[serde(default)]
    options: RawOptions,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawClass {
    name: Spanned<String>,
    vendor_class: Option<String>,
    vendor_class_prefix: Option<String>,
    user_class: Option<String>,
    #[serde(default)]
    options: RawOptions,
}

fn ipv4(at: &Locator<'_>, s: &Spanned<String>) -> Result<Ipv4Addr, ConfigError> {
    s.get_ref()
        .trim()
        .parse()
        .map_err(|_| at.at(s, format!("{:?} is not an IPv4 address", s.get_ref())))
}

/// `A - B` or a single address.
fn range(at: &Locator<'_>, s: &Spanned<String>) -> Result<Range, ConfigError> {
    let text = s.get_ref();
    let (a, b) = text.split_once('-').unwrap_or((text, text));
    let parse = |x: &str| {
        x.trim().parse::<Ipv4Addr>().map_err(|_| {
            at.at(
                s,
                format!("{text:?}: expected an address or \"FIRST - LAST\""),
            )
        })
    };
    let (first, last) = (parse(a)?, parse(b)?);
    if u32::from(first) > u32::from(last) {
        return Err(at.at(s, format!("{text:?}: the first address is after the last")));
    }
    Ok(Range { first, last })
}

/// The words of a TOML value, as the option parsers take them.
fn value_words(v: &toml::Value) -> Option<Vec<String>> {
    Some(match v {
        toml::Value::String(s) => vec![s.clone()],
        toml::Value::Integer(i) => vec![i.to_string()],
        toml::Value::Boolean(b) => vec![b.to_string()],
        toml::Value::Array(items) => {
            let mut out = Vec::new();
            for i in items {
                out.extend(value_words(i)?);
            }
            out
        }
        _ => return None,
    })
}

/// True if `s` reads as a host name (letters, digits, hyphens, dots, at
/// least one letter), the form ISC accepts in address options.
fn host_name_like(s: &str) -> bool {
    let s = s.trim().trim_end_matches('.');
    !s.is_empty()
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        && s.bytes().any(|b| b.is_ascii_alphabetic())
}

fn option_set(
    at: &Locator<'_>,
    registry: &Registry,
    raw: &RawOptions,
    scope: Scope,
    pending: &mut Vec<PendingName>,
) -> Result<OptionSet, ConfigError> {
    let mut set = OptionSet::default();
    for (name, value) in raw {
        let Some(def) = registry.by_name(name.get_ref()) else {
            let near = registry.suggest(name.get_ref());
            let hint = if near.is_empty() {
                " (define it with [[dhcp.option-definition]])".to_string()
            } else {
                format!(" (did you mean {}?)", near.join(", "))
            };
            return Err(at.at(
                name,
                format!("unknown DHCP option {:?}{hint}", name.get_ref()),
            ));
        };
        if SERVER_OWNED.contains(&def.code) {
            return Err(at.at(
                name,
                format!(
                    "option {} ({}) is set by the server itself and cannot be configured",
                    def.name, def.code
                ),
            ));
        }
        let words = value_words(value.get_ref()).ok_or_else(|| {
            at.at(
                value,
                format!(
                    "option {}: expected a string, number, boolean or list",
                    def.name
                ),
            )
        })?;
        // Host names in address options are looked up at start.
        if matches!(def.kind, Kind::Ip | Kind::IpList) {
            let items: Vec<&str> = words
                .iter()
                .flat_map(|w| w.split(','))
                .map(str::trim)
                .collect();
            let names = items
                .iter()
                .any(|i| i.parse::<Ipv4Addr>().is_err() && host_name_like(i));
            let all_ok = items
                .iter()
                .all(|i| i.is_empty() || i.parse::<Ipv4Addr>().is_ok() || host_name_like(i));
            if names && all_ok {
                pending.push(PendingName {
                    scope,
                    code: def.code,
                    option: def.name.clone(),
                    kind: def.kind,
                    words,
                    place: at.place(value),
                });
                continue;
            }
        }
        let bytes = def.kind.parse(&words).map_err(|e| {
            at.at(
                value,
                format!("option {} ({}): {e}", def.name, def.kind.name()),
            )
        })?;
        set.set(def.code, bytes);
    }
    Ok(set)
}

pub(crate) fn validate(raw: &RawDhcp, at: &Locator<'_>) -> Result<DhcpConfig, ConfigError> {
    if raw.interfaces.get_ref().is_empty() {
        return Err(at.at(&raw.interfaces, "interfaces: name at least one interface"));
    }
    let mut c = DhcpConfig::new(raw.interfaces.get_ref().clone());
    if let Some(a) = raw.authoritative {
        c.authoritative = a;
    }
    c.server_identifier = raw
        .server_identifier
        .as_ref()
        .map(|s| ipv4(at, s))
        .transpose()?;
    c.times = c.times.with(&times!(raw));
    if let Some(s) = &raw.conflict_detection {
        c.conflict_detection = match s.get_ref().as_str() {
            "icmp" | "ping" => ConflictDetection::Icmp,
            "arp" => ConflictDetection::Arp,
            "none" | "off" => ConflictDetection::None,
            other => {
                return Err(at.at(
                    s,
                    format!(
                        "conflict-detection must be \"icmp\", \"arp\" or \"none\", not {other:?}"
                    ),
                ))
            }
        };
    }
    if let Some(t) = raw.conflict_timeout_ms {
        c.conflict_timeout_ms = t;
    }
    if let Some(t) = raw.decline_hold_time {
        c.decline_hold = t;
    }
    if let Some(n) = raw.lease_journal_max_size {
        c.lease_journal_max_size = n;
    }
    c.import_leases = raw.import_leases.as_deref().map(|p| at.resolve(p));
    if let Some(p) = raw.port {
        c.port = p;
    }
    if let Some(p) = raw.client_port {
        c.client_port = p;
    }
    for d in &raw.option_definition {
        let kind = Kind::from_name(d.kind.get_ref()).ok_or_else(|| {
            let all: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
            at.at(
                &d.kind,
                format!(
                    "unknown option type {:?} (one of {})",
                    d.kind.get_ref(),
                    all.join(", ")
                ),
            )
        })?;
        let code = *d.code.get_ref();
        if code == 0 || code == 255 || SERVER_OWNED.contains(&code) {
            return Err(at.at(&d.code, format!("option code {code} cannot be defined")));
        }
        c.registry.define(OptionDef {
            code,
            name: d.name.get_ref().to_ascii_lowercase(),
            kind,
        });
    }
    let mut pending = Vec::new();
    c.options = option_set(at, &c.registry, &raw.options, Scope::Global, &mut pending)?;
    c.failover = crate::failover::validate(&raw.failover, at)?;

    for s in &raw.subnet {
        let text = s.subnet.get_ref();
        let bad = || {
            at.at(
                &s.subnet,
                format!("{text:?}: expected NETWORK/PREFIX, like 192.168.0.0/24"),
            )
        };
        let (net, prefix) = text.split_once('/').ok_or_else(bad)?;
        let network: Ipv4Addr = net.trim().parse().map_err(|_| bad())?;
        let prefix: u8 = prefix
            .trim()
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(bad)?;
        if u32::from(network) & !prefix_mask(prefix) != 0 {
            return Err(at.at(&s.subnet, format!("{text:?}: host bits are set")));
        }
        let mut subnet = Subnet {
            network,
            prefix,
            interface: s.interface.clone(),
            pools: Vec::new(),
            options: option_set(
                at,
                &c.registry,
                &s.options,
                Scope::Subnet(c.subnets.len()),
                &mut pending,
            )?,
            times: times!(s),
        };
        if c.subnets
            .iter()
            .any(|o: &Subnet| o.contains(network) || subnet.contains(o.network))
        {
            return Err(at.at(&s.subnet, format!("subnet {text} overlaps another subnet")));
        }
        for p in &s.pool {
            let mut ranges = Vec::new();
            for r in p.range.iter().chain(&p.ranges) {
                let r2 = range(at, r)?;
                if !subnet.contains(r2.first) || !subnet.contains(r2.last) {
                    return Err(at.at(
                        r,
                        format!("range {:?} is not inside subnet {text}", r.get_ref()),
                    ));
                }
                ranges.push(r2);
            }
            if ranges.is_empty() {
                return Err(at.at(
                    &s.subnet,
                    format!("subnet {text}: a pool needs range or ranges"),
                ));
            }
            let exclude = p
                .exclude
                .iter()
                .map(|r| range(at, r))
                .collect::<Result<Vec<_>, _>>()?;
            if let Some(name) = &p.failover_peer {
                let (si, pi) = (c.subnets.len(), subnet.pools.len());
                crate::failover::attach_pool(&mut c.failover, name, si, pi, at)?;
            }
            subnet.pools.push(Pool {
                ranges,
                exclude,
                options: option_set(
                    at,
                    &c.registry,
                    &p.options,
                    Scope::Pool(c.subnets.len(), subnet.pools.len()),
                    &mut pending,
                )?,
                times: times!(p),
            });
        }
        c.subnets.push(subnet);
    }

    let mut names = HashSet::new();
    for h in &raw.host {
        if !names.insert(h.name.get_ref().clone()) {
            return Err(at.at(
                &h.name,
                format!("host {} is defined twice", h.name.get_ref()),
            ));
        }
        let hw = h
            .hardware_address
            .as_ref()
            .map(|s| {
                let b = hex_bytes(s.get_ref())
                    .map_err(|e| at.at(s, format!("hardware-address: {e}")))?;
                if b.is_empty() || b.len() > 16 {
                    return Err(at.at(s, "hardware-address: 1 to 16 octets"));
                }
                Ok(HwAddr { htype: 1, addr: b })
            })
            .transpose()?;
        let client_id = h
            .client_id
            .as_ref()
            .map(|s| hex_bytes(s.get_ref()).map_err(|e| at.at(s, format!("client-id: {e}"))))
            .transpose()?;
        if hw.is_none() && client_id.is_none() {
            return Err(at.at(
                &h.name,
                format!(
                    "host {}: needs hardware-address or client-id",
                    h.name.get_ref()
                ),
            ));
        }
        let fixed_address = h.fixed_address.as_ref().map(|s| ipv4(at, s)).transpose()?;
        if let (Some(a), Some(s)) = (fixed_address, &h.fixed_address) {
            if !c.subnets.iter().any(|n| n.contains(a)) {
                return Err(at.at(s, format!("fixed-address {a} is in no configured subnet")));
            }
            if let Some(other) = c.hosts.iter().find(|o| o.fixed_address == Some(a)) {
                return Err(at.at(
                    s,
                    format!(
                        "fixed-address {a} is already reserved for host {}",
                        other.name
                    ),
                ));
            }
        }
        c.hosts.push(Host {
            name: h.name.get_ref().clone(),
            hw,
            client_id,
            fixed_address,
            hostname: h.hostname.clone(),
            options: option_set(
                at,
                &c.registry,
                &h.options,
                Scope::Host(c.hosts.len()),
                &mut pending,
            )?,
            times: times!(h),
        });
    }

    for k in &raw.class {
        let matches = match (&k.vendor_class, &k.vendor_class_prefix, &k.user_class) {
            (Some(v), None, None) => ClassMatch::VendorClass(v.as_bytes().to_vec()),
            (None, Some(v), None) => ClassMatch::VendorClassPrefix(v.as_bytes().to_vec()),
            (None, None, Some(v)) => ClassMatch::UserClass(v.as_bytes().to_vec()),
            _ => {
                return Err(at.at(
                    &k.name,
                    format!(
                    "class {}: needs exactly one of vendor-class, vendor-class-prefix, user-class",
                    k.name.get_ref()
                ),
                ))
            }
        };
        c.classes.push(Class {
            name: k.name.get_ref().clone(),
            matches,
            options: option_set(
                at,
                &c.registry,
                &k.options,
                Scope::Class(c.classes.len()),
                &mut pending,
            )?,
        });
    }
    c.pending_names = pending;
    Ok(c)
}
