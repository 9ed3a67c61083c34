//! The `[resolver]` table: forwarding of names outside tandem's zones
//! (`docs/configuration.md`, "`[resolver]`").

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use tandem_dns::AclElement;
use tandem_dns_wire::Name;
use toml::Spanned;

use crate::{ConfigError, Locator};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawResolver {
    upstreams: Spanned<Vec<Spanned<RawUpstream>>>,
    allow_recursion: Option<Vec<Spanned<String>>>,
    cache_size: Option<Spanned<u64>>,
    min_ttl: Option<u32>,
    max_ttl: Option<Spanned<u32>>,
    max_negative_ttl: Option<u32>,
    prefetch: Option<bool>,
    serve_stale: Option<u32>,
    stale_ttl: Option<Spanned<u32>>,
    rate_limit: Option<u32>,
    rate_limit_burst: Option<u32>,
    resolve_timeout_ms: Option<Spanned<u64>>,
    stale_answer_client_timeout_ms: Option<u64>,
    tls_ca_file: Option<String>,
    #[serde(default)]
    forward_zone: Vec<RawForwardZone>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawUpstream {
    Plain(String),
    Table(RawUpstreamTable),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawUpstreamTable {
    address: String,
    tls_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawForwardZone {
    name: Spanned<String>,
    upstreams: Spanned<Vec<Spanned<RawUpstream>>>,
}

/// One upstream server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamSpec {
    pub addr: SocketAddr,
    /// DNS over TLS (RFC 7858) when set: the name the server's
    /// certificate must carry.
    pub tls_name: Option<String>,
}

/// A domain sent to its own upstreams (conditional forwarding).
#[derive(Clone, Debug)]
pub struct ForwardZone {
    pub name: Name,
    pub upstreams: Vec<UpstreamSpec>,
}

/// One element of `allow-recursion`: an address match element, or one of
/// the two names resolved when the server starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecursionElement {
    Acl(AclElement),
    /// `localhost`: the loopback addresses and every address of the
    /// server's own interfaces.
    LocalHost {
        negate: bool,
    },
    /// `localnets`: every subnet the server's interfaces are on.
    LocalNets {
        negate: bool,
    },
}

/// The forwarding resolver, when the file has a `[resolver]` table.
#[derive(Clone, Debug)]
pub struct ResolverConfig {
    pub upstreams: Vec<UpstreamSpec>,
    pub forward_zones: Vec<ForwardZone>,
    pub allow_recursion: Vec<RecursionElement>,
    /// Bytes of cached answers.
    pub cache_size: usize,
    pub min_ttl: u32,
    pub max_ttl: u32,
    pub max_negative_ttl: u32,
    pub prefetch: bool,
    /// Seconds past expiry an answer may be served while every upstream
    /// fails; 0 disables serve-stale.
    pub serve_stale: u32,
    pub stale_ttl: u32,
    /// Queries per second per client; 0 disables the limit.
    pub rate_limit: u32,
    pub rate_limit_burst: u32,
    /// How long one query may wait for upstreams in all.
    pub resolve_timeout: Duration,
    /// After this long waiting, a client with a stale answer at hand gets
    /// it while the upstreams are still being asked (RFC 8767 §5); `None`
    /// turns it off.
    pub stale_answer_client_timeout: Option<Duration>,
    /// PEM file of CA certificates for DNS over TLS, instead of the
    /// built-in Mozilla set.
    pub tls_ca_file: Option<PathBuf>,
}

/// The default `allow-recursion`: this host and the networks it is on.
pub fn default_allow_recursion() -> Vec<RecursionElement> {
    vec![
        RecursionElement::LocalHost { negate: false },
        RecursionElement::LocalNets { negate: false },
    ]
}

fn upstream(at: &Locator<'_>, u: &Spanned<RawUpstream>) -> Result<UpstreamSpec, ConfigError> {
    let (text, tls_name) = match u.get_ref() {
        RawUpstream::Plain(s) => (s.as_str(), None),
        RawUpstream::Table(t) => (t.address.as_str(), t.tls_name.clone()),
    };
    if let Some(n) = &tls_name {
        if n.trim().is_empty() {
            return Err(at.at(u, "tls-name must not be empty"));
        }
    }
    let port = if tls_name.is_some() { 853 } else { 53 };
    let addr = if let Ok(a) = text.parse::<SocketAddr>() {
        a
    } else if let Ok(ip) = text.parse::<IpAddr>() {
        SocketAddr::new(ip, port)
    } else {
        return Err(at.at(
            u,
            format!("bad upstream address {text:?}: expected ADDR, ADDR:PORT or [ADDR6]:PORT"),
        ));
    };
    Ok(UpstreamSpec { addr, tls_name })
}

fn upstreams(
    at: &Locator<'_>,
    list: &Spanned<Vec<Spanned<RawUpstream>>>,
) -> Result<Vec<UpstreamSpec>, ConfigError> {
    if list.get_ref().is_empty() {
        return Err(at.at(list, "upstreams must name at least one server"));
    }
    list.get_ref().iter().map(|u| upstream(at, u)).collect()
}

fn recursion_element(
    at: &Locator<'_>,
    s: &Spanned<String>,
) -> Result<RecursionElement, ConfigError> {
    let t = s.get_ref().trim();
    let (negate, word) = match t.strip_prefix('!') {
        Some(rest) => (true, rest.trim_start()),
        None => (false, t),
    };
    if word.eq_ignore_ascii_case("localhost") {
        return Ok(RecursionElement::LocalHost { negate });
    }
    if word.eq_ignore_ascii_case("localnets") {
        return Ok(RecursionElement::LocalNets { negate });
    }
    t.parse::<AclElement>()
        .map(RecursionElement::Acl)
        .map_err(|e| at.at(s, format!("{e} (or localhost, localnets)")))
}

pub(crate) fn validate(
    raw: &RawResolver,
    zones: &[Name],
    at: &Locator<'_>,
) -> Result<ResolverConfig, ConfigError> {
    let mut forward_zones = Vec::new();
    for fz in &raw.forward_zone {
        let name: Name = fz.name.get_ref().parse().map_err(|e| {
            at.at(
                &fz.name,
                format!("bad domain name {:?}: {e}", fz.name.get_ref()),
            )
        })?;
        if let Some(z) = zones.iter().find(|z| name.is_subdomain_of(z)) {
            return Err(at.at(
                &fz.name,
                format!("{name} is inside zone {z}, which tandem serves itself; a forward-zone there would never be used"),
            ));
        }
        if forward_zones.iter().any(|f: &ForwardZone| f.name == name) {
            return Err(at.at(&fz.name, format!("forward-zone {name} is defined twice")));
        }
        forward_zones.push(ForwardZone {
            name,
            upstreams: upstreams(at, &fz.upstreams)?,
        });
    }
    let allow_recursion = match &raw.allow_recursion {
        Some(items) => items
            .iter()
            .map(|s| recursion_element(at, s))
            .collect::<Result<Vec<_>, _>>()?,
        None => default_allow_recursion(),
    };
    let min_ttl = raw.min_ttl.unwrap_or(0);
    let max_ttl = match &raw.max_ttl {
        Some(m) if *m.get_ref() < min_ttl => {
            return Err(at.at(m, "max-ttl must not be below min-ttl"));
        }
        Some(m) => *m.get_ref(),
        None => 86_400.max(min_ttl),
    };
    let cache_size = match &raw.cache_size {
        Some(s) if *s.get_ref() < 65_536 => {
            return Err(at.at(s, "cache-size must be at least 65536 bytes"));
        }
        Some(s) => usize::try_from(*s.get_ref()).unwrap_or(usize::MAX),
        None => 32 << 20,
    };
    let stale_ttl = match &raw.stale_ttl {
        Some(s) if *s.get_ref() == 0 => {
            return Err(at.at(s, "stale-ttl must be at least 1 second"));
        }
        Some(s) => *s.get_ref(),
        None => 30,
    };
    let resolve_timeout = match &raw.resolve_timeout_ms {
        Some(s) if !(100..=30_000).contains(s.get_ref()) => {
            return Err(at.at(s, "resolve-timeout-ms must be between 100 and 30000"));
        }
        Some(s) => Duration::from_millis(*s.get_ref()),
        None => Duration::from_millis(3000),
    };
    let rate_limit = raw.rate_limit.unwrap_or(500);
    Ok(ResolverConfig {
        upstreams: upstreams(at, &raw.upstreams)?,
        forward_zones,
        allow_recursion,
        cache_size,
        min_ttl,
        max_ttl,
        max_negative_ttl: raw.max_negative_ttl.unwrap_or(3_600),
        prefetch: raw.prefetch.unwrap_or(true),
        serve_stale: raw.serve_stale.unwrap_or(86_400),
        stale_ttl,
        rate_limit,
        rate_limit_burst: raw.rate_limit_burst.unwrap_or(rate_limit.saturating_mul(2)),
        resolve_timeout,
        stale_answer_client_timeout: match raw.stale_answer_client_timeout_ms.unwrap_or(1800) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        },
        tls_ca_file: raw.tls_ca_file.as_deref().map(|p| at.resolve(p)),
    })
}

#[cfg(test)]
mod tests {
    use crate::Config;
    use std::path::Path;

    fn parse(text: &str) -> Result<Config, crate::ConfigError> {
        Config::parse(text, Path::new("/etc/tandem/tandem.toml"))
    }

    #[test]
    fn defaults_are_local_only_and_bounded() {
        let c =
            parse("[resolver]\nupstreams = [\"192.0.2.53\", \"[2001:db8::53]:5353\"]\n").unwrap();
        let r = c.resolver.unwrap();
        assert_eq!(r.upstreams[0].addr, "192.0.2.53:53".parse().unwrap());
        assert_eq!(r.upstreams[1].addr, "[2001:db8::53]:5353".parse().unwrap());
        assert_eq!(r.allow_recursion, super::default_allow_recursion());
        assert_eq!(r.cache_size, 32 << 20);
        assert_eq!((r.serve_stale, r.stale_ttl), (86_400, 30));
        assert_eq!((r.rate_limit, r.rate_limit_burst), (500, 1000));
        assert!(parse("").unwrap().resolver.is_none());
    }

    #[test]
    fn tls_upstreams_forward_zones_and_acl_words() {
        let c = parse(
            r#"
[resolver]
upstreams = [{ address = "192.0.2.1", tls-name = "dns.example" }]
allow-recursion = ["!192.168.0.66", "localnets", "!localhost", "10.0.0.0/8"]
tls-ca-file = "ca.pem"

[[resolver.forward-zone]]
name = "corp.example"
upstreams = ["10.8.0.53"]
"#,
        )
        .unwrap();
        let r = c.resolver.unwrap();
        assert_eq!(r.upstreams[0].addr.port(), 853);
        assert_eq!(r.upstreams[0].tls_name.as_deref(), Some("dns.example"));
        assert_eq!(r.forward_zones[0].name, "corp.example.".parse().unwrap());
        assert_eq!(r.allow_recursion.len(), 4);
        assert_eq!(
            r.allow_recursion[2],
            super::RecursionElement::LocalHost { negate: true }
        );
        assert_eq!(r.tls_ca_file.unwrap(), Path::new("/etc/tandem/ca.pem"));
    }

    #[test]
    fn errors_are_located() {
        let cases = [
            ("[resolver]\nupstreams = []\n", 2, "at least one"),
            ("[resolver]\nupstreams = [\"dns.example\"]\n", 2, "bad upstream address"),
            ("[resolver]\nupstreams = [\"192.0.2.1\"]\nallow-recursion = [\"lan\"]\n", 3, "localnets"),
            ("[resolver]\nupstreams = [\"192.0.2.1\"]\nmin-ttl = 600\nmax-ttl = 60\n", 4, "max-ttl"),
            ("[resolver]\nupstreams = [\"192.0.2.1\"]\ncache-size = 10\n", 3, "cache-size"),
            ("[resolver]\nupstreams = [\"192.0.2.1\"]\nbogus = 1\n", 3, "unknown field"),
            (
                "[[zone]]\nname = \"home\"\nfile = \"z\"\n[resolver]\nupstreams = [\"192.0.2.1\"]\n[[resolver.forward-zone]]\nname = \"lab.home\"\nupstreams = [\"10.0.0.1\"]\n",
                7,
                "inside zone home.",
            ),
        ];
        for (text, line, needle) in cases {
            let e = parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text}: {e}");
            assert!(e.message.contains(needle), "{text}: {e}");
        }
    }
}
