//! Address match lists: who may query, transfer or update a zone.
//!
//! The semantics follow BIND's address match lists, which the seed's users
//! already write: elements are tried in order, the first one that matches
//! decides, and a leading `!` turns a match into a refusal. No match refuses.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use tandem_dns_wire::Name;

/// What one element matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AclMatch {
    Any,
    None,
    /// An address prefix; a bare address is a full-length prefix.
    Net {
        addr: IpAddr,
        prefix: u8,
    },
    /// Requests signed with this TSIG key (already verified).
    Key(Name),
}

/// One element of a list, possibly negated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AclElement {
    pub negate: bool,
    pub matches: AclMatch,
}

/// An ordered address match list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Acl(pub Vec<AclElement>);

/// Why an ACL element's text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad address match element {text:?}: {reason}")]
pub struct AclError {
    pub text: String,
    pub reason: String,
}

impl Acl {
    /// A list that matches everyone.
    pub fn any() -> Acl {
        Acl(vec![AclElement {
            negate: false,
            matches: AclMatch::Any,
        }])
    }

    /// A list that matches no one.
    pub fn none() -> Acl {
        Acl(Vec::new())
    }

    /// True if a request from `src`, signed by `key` (if any), is allowed.
    pub fn allows(&self, src: IpAddr, key: Option<&Name>) -> bool {
        let src = canonical_ip(src);
        for el in &self.0 {
            let hit = match &el.matches {
                AclMatch::Any => true,
                AclMatch::None => false,
                AclMatch::Net { addr, prefix } => in_prefix(src, *addr, *prefix),
                AclMatch::Key(k) => key == Some(k),
            };
            if hit {
                return !el.negate;
            }
        }
        false
    }

    /// True if this list allows every request whatever its source or key
    /// (it starts with a plain `any`).
    pub fn allows_everyone(&self) -> bool {
        self.0
            .first()
            .is_some_and(|e| !e.negate && e.matches == AclMatch::Any)
    }

    /// The keys this list names.
    pub fn names_keys(&self) -> impl Iterator<Item = &Name> {
        self.0.iter().filter_map(|e| match &e.matches {
            AclMatch::Key(k) => Some(k),
            _ => None,
        })
    }
}

/// IPv4-mapped IPv6 sources (from a dual-stack socket) compare as IPv4.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

fn in_prefix(src: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (src, net) {
        (IpAddr::V4(s), IpAddr::V4(n)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - prefix as u32)
            };
            u32::from(s) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(s), IpAddr::V6(n)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - prefix as u32)
            };
            u128::from(s) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

impl FromStr for AclElement {
    type Err = AclError;

    fn from_str(text: &str) -> Result<Self, AclError> {
        let err = |reason: &str| AclError {
            text: text.to_string(),
            reason: reason.to_string(),
        };
        let t = text.trim();
        let (negate, t) = match t.strip_prefix('!') {
            Some(rest) => (true, rest.trim_start()),
            None => (false, t),
        };
        let matches = if t.eq_ignore_ascii_case("any") {
            AclMatch::Any
        } else if t.eq_ignore_ascii_case("none") {
            AclMatch::None
        } else if let Some(k) = t.strip_prefix("key ").or_else(|| t.strip_prefix("key\t")) {
            let k = k.trim().trim_matches('"');
            let name: Name = k.parse().map_err(|e| err(&format!("bad key name: {e}")))?;
            AclMatch::Key(name.to_lowercase())
        } else {
            let (addr, prefix) = match t.split_once('/') {
                Some((a, p)) => (a, Some(p)),
                None => (t, None),
            };
            let addr: IpAddr = addr
                .parse()
                .map_err(|_| err("expected any, none, an address, ADDR/PREFIX or key NAME"))?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let prefix = match prefix {
                Some(p) => p
                    .parse::<u8>()
                    .ok()
                    .filter(|p| *p <= max)
                    .ok_or_else(|| err(&format!("prefix length must be 0..={max}")))?,
                None => max,
            };
            AclMatch::Net {
                addr: canonical_ip(addr),
                prefix,
            }
        };
        Ok(AclElement { negate, matches })
    }
}

impl fmt::Display for AclElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.negate {
            f.write_str("!")?;
        }
        match &self.matches {
            AclMatch::Any => f.write_str("any"),
            AclMatch::None => f.write_str("none"),
            AclMatch::Net { addr, prefix } => write!(f, "{addr}/{prefix}"),
            AclMatch::Key(k) => write!(f, "key {k}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(items: &[&str]) -> Acl {
        Acl(items.iter().map(|s| s.parse().unwrap()).collect())
    }

    #[test]
    fn first_match_wins() {
        let a = acl(&["!192.168.0.66", "192.168.0.0/24", "key ddns-key"]);
        assert!(a.allows("192.168.0.10".parse().unwrap(), None));
        assert!(!a.allows("192.168.0.66".parse().unwrap(), None));
        assert!(!a.allows("10.0.0.1".parse().unwrap(), None));
        let k: Name = "DDNS-key".parse().unwrap();
        assert!(a.allows("10.0.0.1".parse().unwrap(), Some(&k.to_lowercase())));
        assert!(!acl(&[]).allows("127.0.0.1".parse().unwrap(), None));
        assert!(acl(&["any"]).allows("::1".parse().unwrap(), None));
    }

    #[test]
    fn mapped_v4_matches_v4_prefix() {
        let a = acl(&["127.0.0.0/8"]);
        assert!(a.allows("::ffff:127.0.0.1".parse().unwrap(), None));
        assert!(!a.allows("::1".parse().unwrap(), None));
    }

    #[test]
    fn bad_elements_are_errors() {
        for bad in ["10.0.0.0/33", "hello", "key", "::1/129"] {
            assert!(bad.parse::<AclElement>().is_err(), "{bad}");
        }
    }
}
