//! `[[dhcp.failover]]`: one failover relationship with a partner server,
//! with the knobs of ISC's `failover peer "NAME" { ... }` block, and the
//! pools' `failover-peer`. Validated into
//! [`tandem_dhcp::failover::FailoverPeer`].
//!
//! ISC's rules are kept: the primary must have `mclt` and `split` or
//! `hba`, a secondary has neither (it takes both from the primary's
//! CONNECT); names are unique; `split` is at most 256.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use serde::Deserialize;
use tandem_dhcp::failover::{FailoverPeer, Hba, Role};
use toml::Spanned;

use crate::{ConfigError, Locator};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawFailover {
    name: Spanned<String>,
    role: Spanned<String>,
    address: Spanned<String>,
    port: Option<u16>,
    peer_address: Spanned<String>,
    peer_port: Option<u16>,
    max_response_delay: Option<Spanned<u32>>,
    max_unacked_updates: Option<Spanned<u32>>,
    load_balance_max_seconds: Option<u16>,
    mclt: Option<Spanned<u32>>,
    split: Option<Spanned<u32>>,
    hba: Option<Spanned<String>>,
    max_lease_misbalance: Option<Spanned<u32>>,
    max_lease_ownership: Option<Spanned<u32>>,
    min_balance: Option<u32>,
    max_balance: Option<u32>,
    auto_partner_down: Option<u32>,
}

fn ipv4(at: &Locator<'_>, s: &Spanned<String>, what: &str) -> Result<Ipv4Addr, ConfigError> {
    s.get_ref().trim().parse().map_err(|_| {
        at.at(
            s,
            format!("{what}: {:?} is not an IPv4 address", s.get_ref()),
        )
    })
}

fn percent(at: &Locator<'_>, v: &Option<Spanned<u32>>, name: &str) -> Result<(), ConfigError> {
    match v {
        Some(p) if *p.get_ref() > 100 => Err(at.at(p, format!("{name} is a percentage: 0 to 100"))),
        _ => Ok(()),
    }
}

/// Validates every relationship. Pools are attached later, by
/// [`attach_pool`].
pub(crate) fn validate(
    raw: &[RawFailover],
    at: &Locator<'_>,
) -> Result<Vec<FailoverPeer>, ConfigError> {
    let mut names = HashSet::new();
    let mut out = Vec::new();
    for f in raw {
        let name = f.name.get_ref().trim();
        if name.is_empty() {
            return Err(at.at(&f.name, "failover: name must not be empty"));
        }
        if !names.insert(name.to_string()) {
            return Err(at.at(
                &f.name,
                format!("failover relationship {name:?} is defined twice"),
            ));
        }
        let role = match f.role.get_ref().as_str() {
            "primary" => Role::Primary,
            "secondary" => Role::Secondary,
            other => {
                return Err(at.at(
                    &f.role,
                    format!(
                        "failover {name}: role must be \"primary\" or \"secondary\", not {other:?}"
                    ),
                ))
            }
        };
        let address = ipv4(at, &f.address, "address")?;
        let peer_address = ipv4(at, &f.peer_address, "peer-address")?;
        if address == peer_address {
            return Err(at.at(
                &f.peer_address,
                format!("failover {name}: peer-address is this server's own address"),
            ));
        }
        let mut p = FailoverPeer::new(name, role, address, peer_address);
        if let Some(v) = f.port {
            p.port = v;
        }
        if let Some(v) = f.peer_port {
            p.peer_port = v;
        }
        if let Some(v) = &f.max_response_delay {
            if *v.get_ref() == 0 {
                return Err(at.at(v, "max-response-delay must be at least 1 second"));
            }
            p.max_response_delay = *v.get_ref();
        }
        if let Some(v) = &f.max_unacked_updates {
            if *v.get_ref() == 0 {
                return Err(at.at(v, "max-unacked-updates must be at least 1"));
            }
            p.max_unacked_updates = *v.get_ref();
        }
        if let Some(v) = f.load_balance_max_seconds {
            p.load_balance_max_seconds = v;
        }
        percent(at, &f.max_lease_misbalance, "max-lease-misbalance")?;
        percent(at, &f.max_lease_ownership, "max-lease-ownership")?;
        if let Some(v) = &f.max_lease_misbalance {
            p.max_lease_misbalance = *v.get_ref();
        }
        if let Some(v) = &f.max_lease_ownership {
            p.max_lease_ownership = *v.get_ref();
        }
        if let Some(v) = f.min_balance {
            p.min_balance = v;
        }
        if let Some(v) = f.max_balance {
            p.max_balance = v.max(p.min_balance);
        }
        p.auto_partner_down = f.auto_partner_down.filter(|s| *s > 0);
        match role {
            Role::Primary => {
                let Some(mclt) = &f.mclt else {
                    return Err(at.at(
                        &f.role,
                        format!("failover {name}: a primary must have mclt"),
                    ));
                };
                p.mclt = *mclt.get_ref();
                p.hba = Some(match (&f.split, &f.hba) {
                    (Some(_), Some(h)) => {
                        return Err(at.at(h, "give split or hba, not both"));
                    }
                    (Some(s), None) => Hba::from_split(*s.get_ref())
                        .map_err(|e| at.at(s, format!("failover {name}: {e}")))?,
                    (None, Some(h)) => Hba::from_isc_text(h.get_ref())
                        .map_err(|e| at.at(h, format!("failover {name}: {e}")))?,
                    (None, None) => {
                        return Err(at.at(
                            &f.role,
                            format!("failover {name}: a primary must have split or hba"),
                        ))
                    }
                });
            }
            Role::Secondary => {
                let only_primary = [
                    f.mclt.as_ref().map(|s| (s.span(), "mclt")),
                    f.split.as_ref().map(|s| (s.span(), "split")),
                    f.hba.as_ref().map(|s| (s.span(), "hba")),
                ];
                if let Some((span, what)) = only_primary.into_iter().flatten().next() {
                    return Err(at.error(
                        span.start,
                        format!(
                            "failover {name}: {what} is the primary's; a secondary takes it from the primary"
                        ),
                    ));
                }
            }
        }
        out.push(p);
    }
    Ok(out)
}

/// Records that pool `(si, pi)` names relationship `name`.
pub(crate) fn attach_pool(
    peers: &mut [FailoverPeer],
    name: &Spanned<String>,
    si: usize,
    pi: usize,
    at: &Locator<'_>,
) -> Result<(), ConfigError> {
    let wanted = name.get_ref().trim();
    match peers.iter_mut().find(|p| p.name == wanted) {
        Some(p) => {
            p.pools.push((si, pi));
            Ok(())
        }
        None => {
            let known: Vec<&str> = peers.iter().map(|p| p.name.as_str()).collect();
            Err(at.at(
                name,
                if known.is_empty() {
                    format!("failover-peer {wanted:?}: no [[dhcp.failover]] is configured")
                } else {
                    format!(
                        "failover-peer {wanted:?} is not a configured relationship (have {})",
                        known.join(", ")
                    )
                },
            ))
        }
    }
}
