//! The file's shape, as serde reads it, and its validation into the model.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine;
use serde::Deserialize;
use tandem_dns::{Acl, AclElement};
use tandem_dns_wire::tsig::Algorithm;
use tandem_dns_wire::{Name, Rtype};
use toml::Spanned;

use tandem_zone::{MatchKind, PolicyRule, UpdatePolicy};

use crate::{
    Config, ConfigError, Dns, KeySpec, Locator, NotifyMode, SecondaryConfig, Server, ZoneConfig,
    ZoneRole,
};

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawConfig {
    /// Read by [`Config::parse`] before the file is deserialised.
    #[allow(dead_code)]
    include: Option<String>,
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    dns: RawDns,
    #[serde(default)]
    key: Vec<RawKey>,
    #[serde(default)]
    zone: Vec<RawZone>,
    dhcp: Option<crate::dhcp::RawDhcp>,
    ddns: Option<Spanned<crate::ddns::RawDdns>>,
    resolver: Option<crate::resolver::RawResolver>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawServer {
    state_dir: Option<String>,
    control_socket: Option<String>,
    #[serde(default)]
    key_files: Vec<Spanned<String>>,
    user: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawDns {
    listen: Option<Vec<Spanned<String>>>,
    tcp_idle_timeout: Option<u64>,
    tcp_max_connections: Option<usize>,
    max_udp_payload: Option<Spanned<u16>>,
    udp_workers: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawKey {
    name: Spanned<String>,
    algorithm: Spanned<String>,
    secret: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawZone {
    name: Spanned<String>,
    #[serde(rename = "type")]
    kind: Option<Spanned<String>>,
    file: Option<Spanned<String>>,
    #[serde(default)]
    primaries: Vec<Spanned<String>>,
    transfer_key: Option<Spanned<String>>,
    transfer_source: Option<Spanned<String>>,
    allow_notify: Option<Vec<Spanned<String>>>,
    allow_update_forwarding: Option<Vec<Spanned<String>>>,
    allow_query: Option<Vec<Spanned<String>>>,
    allow_transfer: Option<Vec<Spanned<String>>>,
    allow_update: Option<Vec<Spanned<String>>>,
    update_policy: Option<Vec<Spanned<RawRule>>>,
    #[serde(default)]
    also_notify: Vec<Spanned<String>>,
    notify: Option<Spanned<String>>,
    notify_key: Option<Spanned<String>>,
    journal_max_size: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawRule {
    grant: Option<String>,
    deny: Option<String>,
    #[serde(rename = "match")]
    kind: String,
    name: Option<String>,
    #[serde(default)]
    types: Vec<String>,
}

const MATCH_KINDS: [&str; 5] = ["zonesub", "subdomain", "name", "wildcard", "self"];

fn name(at: &Locator<'_>, s: &Spanned<String>) -> Result<Name, ConfigError> {
    s.get_ref()
        .parse::<Name>()
        .map_err(|e| at.at(s, format!("bad domain name {:?}: {e}", s.get_ref())))
}

fn socket_addr(
    at: &Locator<'_>,
    s: &Spanned<String>,
    default_port: u16,
) -> Result<SocketAddr, ConfigError> {
    let t = s.get_ref();
    if let Ok(a) = t.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(ip) = t.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, default_port));
    }
    Err(at.at(
        s,
        format!("bad address {t:?}: expected ADDR, ADDR:PORT or [ADDR6]:PORT"),
    ))
}

pub(crate) fn validate(raw: RawConfig, at: &Locator<'_>) -> Result<Config, ConfigError> {
    let server = Server {
        state_dir: at.resolve(raw.server.state_dir.as_deref().unwrap_or("/var/lib/tandem")),
        control_socket: match &raw.server.control_socket {
            Some(p) => at.resolve(p),
            None => at
                .resolve(raw.server.state_dir.as_deref().unwrap_or("/var/lib/tandem"))
                .join("control.sock"),
        },
        key_files: raw
            .server
            .key_files
            .iter()
            .map(|s| at.resolve(s.get_ref()))
            .collect(),
        user: match &raw.server.user {
            Some(u) => {
                let t = u.get_ref();
                if t.is_empty() || t.chars().any(|c| c == ':' || c == '/' || c.is_whitespace()) {
                    return Err(at.at(u, format!("bad user name {t:?}")));
                }
                Some(t.clone())
            }
            None => None,
        },
    };
    let listen = match &raw.dns.listen {
        Some(items) => items
            .iter()
            .map(|s| socket_addr(at, s, 53))
            .collect::<Result<Vec<_>, _>>()?,
        // A DHCP-only node serves no DNS unless asked to.
        None if raw.zone.is_empty() && raw.dhcp.is_some() => Vec::new(),
        None => vec![
            "127.0.0.1:53".parse().expect("literal"),
            "[::1]:53".parse().expect("literal"),
        ],
    };
    let max_udp_payload = match &raw.dns.max_udp_payload {
        Some(s) if *s.get_ref() < 512 => {
            return Err(at.at(s, "max-udp-payload must be at least 512"));
        }
        Some(s) => *s.get_ref(),
        None => 1232,
    };
    let dns = Dns {
        listen,
        tcp_idle_timeout: Duration::from_secs(raw.dns.tcp_idle_timeout.unwrap_or(10)),
        tcp_max_connections: raw.dns.tcp_max_connections.unwrap_or(1024),
        max_udp_payload,
        udp_workers: raw.dns.udp_workers.unwrap_or(0),
    };

    let mut keys = Vec::new();
    let mut key_names = HashSet::new();
    for k in &raw.key {
        let kname = name(at, &k.name)?.to_lowercase();
        if !key_names.insert(kname.clone()) {
            return Err(at.at(&k.name, format!("key {kname} is defined twice")));
        }
        let secret = base64::engine::general_purpose::STANDARD
            .decode(k.secret.get_ref().trim())
            .map_err(|e| {
                at.at(
                    &k.secret,
                    format!("key {kname}: secret is not valid base64: {e}"),
                )
            })?;
        if secret.is_empty() {
            return Err(at.at(&k.secret, format!("key {kname}: secret is empty")));
        }
        let algorithm = k.algorithm.get_ref().parse::<Algorithm>().map_err(|_| {
            at.at(
                &k.algorithm,
                format!(
                    "key {kname}: unknown algorithm {:?} (hmac-md5, hmac-sha1, hmac-sha224, hmac-sha256, hmac-sha384 or hmac-sha512)",
                    k.algorithm.get_ref()
                ),
            )
        })?;
        keys.push(KeySpec {
            name: kname,
            algorithm,
            secret,
            defined_at: at.place(&k.name),
        });
    }
    for (file, spanned) in server.key_files.iter().zip(&raw.server.key_files) {
        for k in key_file(at, file, spanned)? {
            if let Some(first) = keys.iter().find(|f| f.name == k.spec.name) {
                return Err(ConfigError {
                    file: file.clone(),
                    line: k.defined_at_line,
                    col: k.defined_at_col,
                    message: format!(
                        "key {} is defined twice (first at {})",
                        k.spec.name, first.defined_at
                    ),
                });
            }
            keys.push(k.spec);
        }
    }

    let mut zones = Vec::new();
    let mut zone_names = HashSet::new();
    for z in &raw.zone {
        let zname = name(at, &z.name)?;
        if !zone_names.insert(zname.clone()) {
            return Err(at.at(&z.name, format!("zone {zname} is defined twice")));
        }
        let secondary = match z.kind.as_ref().map(|k| k.get_ref().as_str()) {
            None | Some("primary" | "master") => false,
            Some("secondary" | "slave") => true,
            Some(other) => {
                return Err(at.at(
                    z.kind.as_ref().expect("matched Some"),
                    format!("zone type {other:?} is not supported (\"primary\" or \"secondary\")"),
                ))
            }
        };
        let role = if secondary {
            secondary_role(at, z, &zname, &keys)?
        } else {
            for (set, what) in [
                (!z.primaries.is_empty(), "primaries"),
                (z.transfer_key.is_some(), "transfer-key"),
                (z.transfer_source.is_some(), "transfer-source"),
                (z.allow_notify.is_some(), "allow-notify"),
                (
                    z.allow_update_forwarding.is_some(),
                    "allow-update-forwarding",
                ),
            ] {
                if set {
                    return Err(at.at(
                        &z.name,
                        format!("zone {zname}: {what} is only for zones of type \"secondary\""),
                    ));
                }
            }
            let Some(file) = &z.file else {
                return Err(at.at(
                    &z.name,
                    format!("zone {zname}: a primary zone needs a file"),
                ));
            };
            ZoneRole::Primary {
                file: at.resolve(file.get_ref()),
            }
        };
        let update_policy = match &z.update_policy {
            None => None,
            Some(rules) => Some(UpdatePolicy {
                rules: rules
                    .iter()
                    .map(|r| rule(at, r))
                    .collect::<Result<Vec<_>, _>>()?,
            }),
        };
        let notify = match z.notify.as_ref().map(|n| (n, n.get_ref().as_str())) {
            None | Some((_, "explicit")) => NotifyMode::Explicit,
            Some((_, "yes")) => NotifyMode::Yes,
            Some((_, "no")) => NotifyMode::No,
            Some((n, other)) => {
                return Err(at.at(
                    n,
                    format!("notify = {other:?}: expected \"yes\", \"explicit\" or \"no\""),
                ))
            }
        };
        let notify_key = zone_key(at, z.notify_key.as_ref(), &zname, &keys)?;
        zones.push(ZoneConfig {
            role,
            notify,
            notify_key,
            allow_query: at.acl(&z.allow_query, Acl::any())?,
            allow_transfer: at.acl(&z.allow_transfer, Acl::none())?,
            allow_update: at.acl(&z.allow_update, Acl::none())?,
            update_policy,
            also_notify: z
                .also_notify
                .iter()
                .map(|s| socket_addr(at, s, 53))
                .collect::<Result<Vec<_>, _>>()?,
            journal_max_size: z.journal_max_size.unwrap_or(16 << 20),
            name: zname,
        });
    }
    let dhcp = raw
        .dhcp
        .as_ref()
        .map(|d| crate::dhcp::validate(d, at))
        .transpose()?;
    let zone_names: Vec<Name> = zones.iter().map(|z| z.name.clone()).collect();
    let resolver = raw
        .resolver
        .as_ref()
        .map(|r| crate::resolver::validate(r, &zone_names, at))
        .transpose()?;
    let ddns = crate::ddns::validate(raw.ddns.as_ref(), dhcp.is_some(), &keys, at)?;
    Ok(Config {
        path: at.path.to_path_buf(),
        server,
        dns,
        keys,
        zones,
        dhcp,
        resolver,
        ddns,
    })
}

/// A zone's reference to a key (`transfer-key`, `notify-key`), which must
/// be defined.
fn zone_key(
    at: &Locator<'_>,
    k: Option<&Spanned<String>>,
    zname: &Name,
    keys: &[KeySpec],
) -> Result<Option<Name>, ConfigError> {
    let Some(k) = k else {
        return Ok(None);
    };
    let kname = name(at, k)?.to_lowercase();
    if !keys.iter().any(|d| d.name == kname) {
        return Err(at.at(k, format!("zone {zname}: unknown key {kname}")));
    }
    Ok(Some(kname))
}

/// The part of a `[[zone]]` that only a secondary has.
fn secondary_role(
    at: &Locator<'_>,
    z: &RawZone,
    zname: &Name,
    keys: &[KeySpec],
) -> Result<ZoneRole, ConfigError> {
    if let Some(file) = &z.file {
        return Err(at.at(
            file,
            format!(
                "zone {zname}: a secondary zone keeps its copy in the state directory; remove file"
            ),
        ));
    }
    if z.primaries.is_empty() {
        return Err(at.at(
            &z.name,
            format!("zone {zname}: a secondary zone needs primaries = [\"ADDR\", ...]"),
        ));
    }
    let primaries = z
        .primaries
        .iter()
        .map(|s| socket_addr(at, s, 53))
        .collect::<Result<Vec<_>, _>>()?;
    let transfer_key = zone_key(at, z.transfer_key.as_ref(), zname, keys)?;
    let transfer_source = match &z.transfer_source {
        None => None,
        Some(s) => Some(
            s.get_ref()
                .parse::<std::net::IpAddr>()
                .map_err(|_| at.at(s, format!("bad address {:?}", s.get_ref())))?,
        ),
    };
    // By default only the primaries may poke us (RFC 1996 §3.10).
    let from_primaries = Acl(primaries
        .iter()
        .map(|p| {
            p.ip()
                .to_string()
                .parse::<AclElement>()
                .expect("an address is an ACL element")
        })
        .collect());
    Ok(ZoneRole::Secondary(SecondaryConfig {
        primaries,
        transfer_key,
        transfer_source,
        allow_notify: at.acl(&z.allow_notify, from_primaries)?,
        allow_update_forwarding: at.acl(&z.allow_update_forwarding, Acl::none())?,
    }))
}

struct FileKey {
    spec: KeySpec,
    defined_at_line: usize,
    defined_at_col: usize,
}

/// The keys of one BIND-syntax key file.
fn key_file(
    at: &Locator<'_>,
    file: &std::path::Path,
    named: &Spanned<String>,
) -> Result<Vec<FileKey>, ConfigError> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        at.at(
            named,
            format!("cannot read key file {}: {e}", file.display()),
        )
    })?;
    let located = |e: tandem_isc::IscError| ConfigError {
        file: e.file,
        line: e.line as usize,
        col: e.col as usize,
        message: e.message,
    };
    let defs = tandem_isc::parse_keys(&text, file).map_err(located)?;
    if defs.is_empty() {
        return Err(at.at(
            named,
            format!("key file {} holds no key statement", file.display()),
        ));
    }
    defs.into_iter()
        .map(|d| {
            let algorithm = d.algorithm.parse::<Algorithm>().map_err(|_| {
                located(d.loc.error(format!(
                    "key {}: unknown algorithm {:?}",
                    d.name, d.algorithm
                )))
            })?;
            Ok(FileKey {
                spec: KeySpec {
                    name: d.name.to_lowercase(),
                    algorithm,
                    secret: d.secret,
                    defined_at: format!("{}:{}:{}", d.loc.file.display(), d.loc.line, d.loc.col),
                },
                defined_at_line: d.loc.line as usize,
                defined_at_col: d.loc.col as usize,
            })
        })
        .collect()
}

/// One update-policy rule. Names are absolute, as in BIND's configuration
/// (a trailing dot is optional).
fn rule(at: &Locator<'_>, r: &Spanned<RawRule>) -> Result<PolicyRule, ConfigError> {
    let rr = r.get_ref();
    let (grant, key) = match (&rr.grant, &rr.deny) {
        (Some(k), None) => (true, k),
        (None, Some(k)) => (false, k),
        _ => return Err(at.at(r, "a rule needs exactly one of grant = KEY or deny = KEY")),
    };
    let key: Name = key
        .parse()
        .map_err(|e| at.at(r, format!("bad key name {key:?}: {e}")))?;
    let kind = match rr.kind.as_str() {
        "zonesub" => MatchKind::ZoneSub,
        "subdomain" => MatchKind::Subdomain,
        "name" => MatchKind::Name,
        "wildcard" => MatchKind::Wildcard,
        "self" => MatchKind::SelfName,
        other => {
            return Err(at.at(
                r,
                format!(
                    "match must be one of {}, not {other:?}",
                    MATCH_KINDS.join(", ")
                ),
            ))
        }
    };
    let needs_name = matches!(rr.kind.as_str(), "subdomain" | "name" | "wildcard");
    let name = match (&rr.name, needs_name) {
        (Some(n), true) => {
            let n = n
                .parse::<Name>()
                .map_err(|e| at.at(r, format!("bad name {n:?}: {e}")))?;
            Some(n)
        }
        (None, true) => return Err(at.at(r, format!("match = \"{}\" needs a name", rr.kind))),
        (Some(_), false) => {
            return Err(at.at(r, format!("match = \"{}\" takes no name", rr.kind)));
        }
        (None, false) => None,
    };
    let types = rr
        .types
        .iter()
        .map(|t| {
            t.to_ascii_uppercase()
                .parse::<Rtype>()
                .map_err(|_| at.at(r, format!("unknown record type {t:?}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(PolicyRule {
        grant,
        key: key.to_lowercase(),
        kind,
        name,
        types,
    })
}
