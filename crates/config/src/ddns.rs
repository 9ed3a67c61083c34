//! The `[ddns]` table: leases into DNS, with ISC dhcpd's names for its
//! settings (`ddns-updates`, `ddns-domainname`, ... and `[[ddns.zone]]` for
//! dhcpd's `zone` statements), validated into [`tandem_ddns::DdnsConfig`].

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;
use tandem_ddns::{ClientUpdates, DdnsConfig, Style, ZoneTarget};
use tandem_dns_wire::Name;
use toml::Spanned;

use crate::{ConfigError, KeySpec, Locator};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawDdns {
    ddns_updates: Option<bool>,
    ddns_update_style: Option<Spanned<String>>,
    ddns_domainname: Option<Spanned<String>>,
    ddns_rev_domainname: Option<Spanned<String>>,
    ddns_ttl: Option<u32>,
    update_optimization: Option<bool>,
    update_conflict_detection: Option<bool>,
    client_updates: Option<Spanned<String>>,
    update_static_leases: Option<bool>,
    do_forward_updates: Option<bool>,
    do_reverse_updates: Option<bool>,
    fqdn_reply: Option<bool>,
    generated_name: Option<Spanned<String>>,
    timeout_ms: Option<Spanned<u64>>,
    retry_min: Option<Spanned<u64>>,
    retry_max: Option<Spanned<u64>>,
    parallel: Option<Spanned<usize>>,
    #[serde(default)]
    zone: Vec<RawZone>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawZone {
    name: Spanned<String>,
    primary: Option<Spanned<toml::Value>>,
    secondary: Option<Spanned<toml::Value>>,
    key: Option<Spanned<String>>,
}

fn name(at: &Locator<'_>, s: &Spanned<String>) -> Result<Name, ConfigError> {
    s.get_ref()
        .parse::<Name>()
        .map(|n| n.to_lowercase())
        .map_err(|e| at.at(s, format!("bad domain name {:?}: {e}", s.get_ref())))
}

/// `"ADDR"`, `"ADDR:PORT"`, `"[ADDR6]:PORT"`, one or a list.
fn servers(
    at: &Locator<'_>,
    v: &Option<Spanned<toml::Value>>,
) -> Result<Vec<SocketAddr>, ConfigError> {
    let Some(v) = v else {
        return Ok(Vec::new());
    };
    let items: Vec<&toml::Value> = match v.get_ref() {
        toml::Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    items
        .into_iter()
        .map(|item| {
            let text = item
                .as_str()
                .ok_or_else(|| at.at(v, "expected an address or a list of addresses"))?;
            text.parse::<SocketAddr>()
                .or_else(|_| {
                    text.parse::<std::net::IpAddr>()
                        .map(|ip| SocketAddr::new(ip, 53))
                })
                .map_err(|_| {
                    at.at(
                        v,
                        format!("bad address {text:?}: expected ADDR, ADDR:PORT or [ADDR6]:PORT"),
                    )
                })
        })
        .collect()
}

/// Validates `[ddns]`; `keys` are the configuration's TSIG keys.
pub(crate) fn validate(
    raw: Option<&Spanned<RawDdns>>,
    has_dhcp: bool,
    keys: &[KeySpec],
    at: &Locator<'_>,
) -> Result<Option<DdnsConfig>, ConfigError> {
    let Some(spanned) = raw else {
        return Ok(None);
    };
    if !has_dhcp {
        return Err(at.at(
            spanned,
            "[ddns] publishes DHCP leases: it needs a [dhcp] table",
        ));
    }
    let r = spanned.get_ref();
    let mut c = DdnsConfig::new();
    c.updates = r.ddns_updates.unwrap_or(true);
    if let Some(s) = &r.ddns_update_style {
        match s.get_ref().as_str() {
            "standard" => c.style = Style::Standard,
            "interim" => c.style = Style::Interim,
            "none" => c.updates = false,
            other => {
                return Err(at.at(
                    s,
                    format!("ddns-update-style must be \"standard\", \"interim\" or \"none\", not {other:?}"),
                ))
            }
        }
    }
    if let Some(d) = &r.ddns_domainname {
        c.domain = Some(name(at, d)?);
    }
    if let Some(d) = &r.ddns_rev_domainname {
        c.rev_domain = name(at, d)?;
    }
    c.ttl = r.ddns_ttl;
    c.update_optimization = r.update_optimization.unwrap_or(true);
    c.conflict_detection = r.update_conflict_detection.unwrap_or(true);
    if let Some(s) = &r.client_updates {
        c.client_updates = match s.get_ref().as_str() {
            "allow" => ClientUpdates::Allow,
            // dhcpd's `deny client-updates` also keeps the updates on the server.
            "ignore" | "deny" => ClientUpdates::Ignore,
            other => {
                return Err(at.at(
                    s,
                    format!("client-updates must be \"allow\" or \"ignore\", not {other:?}"),
                ))
            }
        };
    }
    c.update_static_leases = r.update_static_leases.unwrap_or(false);
    c.forward_updates = r.do_forward_updates.unwrap_or(true);
    c.reverse_updates = r.do_reverse_updates.unwrap_or(true);
    c.fqdn_reply = r.fqdn_reply.unwrap_or(true);
    if let Some(g) = &r.generated_name {
        let probe = tandem_ddns::names::generated_label(
            g.get_ref(),
            std::net::Ipv4Addr::new(192, 168, 0, 15),
            Some(&[2, 0, 0, 0, 0, 1]),
        );
        if probe.is_none() {
            return Err(at.at(g, "generated-name makes no usable label"));
        }
        c.generated_name = Some(g.get_ref().clone());
    }
    if let Some(t) = &r.timeout_ms {
        if *t.get_ref() == 0 {
            return Err(at.at(t, "timeout-ms must be more than 0"));
        }
        c.timeout = Duration::from_millis(*t.get_ref());
    }
    if let Some(t) = &r.retry_min {
        c.retry_min = Duration::from_secs((*t.get_ref()).max(1));
    }
    if let Some(t) = &r.retry_max {
        c.retry_max = Duration::from_secs(*t.get_ref());
        if c.retry_max < c.retry_min {
            return Err(at.at(t, "retry-max must be at least retry-min"));
        }
    }
    if let Some(p) = &r.parallel {
        if *p.get_ref() == 0 {
            return Err(at.at(p, "parallel must be at least 1"));
        }
        c.parallel = *p.get_ref();
    }
    for z in &r.zone {
        let zname = name(at, &z.name)?;
        if c.zones.iter().any(|o| o.name == zname) {
            return Err(at.at(&z.name, format!("zone {zname} is listed twice in [ddns]")));
        }
        let primary = servers(at, &z.primary)?;
        let secondary = servers(at, &z.secondary)?;
        if primary.is_empty() && secondary.is_empty() {
            return Err(at.at(
                &z.name,
                format!(
                    "zone {zname}: give a primary (and optionally a secondary) to send updates to"
                ),
            ));
        }
        let key = match &z.key {
            None => None,
            Some(k) => {
                let kname = k
                    .get_ref()
                    .parse::<Name>()
                    .map_err(|e| at.at(k, format!("bad key name {:?}: {e}", k.get_ref())))?
                    .to_lowercase();
                let spec = keys.iter().find(|s| s.name == kname).ok_or_else(|| {
                    at.at(
                        k,
                        format!("zone {zname}: no key {kname} is defined ([[key]] or [server] key-files)"),
                    )
                })?;
                Some(spec.to_key())
            }
        };
        c.zones.push(ZoneTarget {
            name: zname,
            primary,
            secondary,
            key,
        });
    }
    Ok(Some(c))
}
