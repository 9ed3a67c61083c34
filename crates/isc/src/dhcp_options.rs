//! DHCPv4 option names as dhcpd.conf writes them, and what they are in
//! tandem's `[dhcp]` configuration.
//!
//! This module owns the mapping from ISC's option world to tandem's: the
//! name lookup (tandem's registry in `tandem_dhcp_wire::options`, which uses
//! ISC's names, then the ISC standard options that registry lacks, for which
//! the import writes a definition), why the options tandem sets itself are
//! not taken from dhcpd.conf, and the reading of `option NAME code N = TYPE;`
//! type expressions into tandem's [`Kind`]s.

use tandem_dhcp_wire::options::SERVER_OWNED;
pub use tandem_dhcp_wire::Kind;
use tandem_dhcp_wire::Registry;

use crate::lexer::Token;

/// Option 121 (RFC 3442) under tandem's name.
pub const CLASSLESS_ROUTES: &str = "classless-static-routes";
/// Option 249, Microsoft's copy of 121, under tandem's name.
pub const MS_CLASSLESS_ROUTES: &str = "ms-classless-static-routes";

/// ISC's standard DHCPv4 options (dhcp-options(5)) that tandem's registry
/// does not name. Options with an ISC format tandem has no type for (SLP's,
/// the vendor-identified ones, NWIP sub-options) are left out: they are
/// reported as unknown.
const ISC_ONLY: &[(&str, u8, Kind)] = &[
    ("nwip-domain", 62, Kind::Text),
    ("nds-servers", 85, Kind::IpList),
    ("nds-tree-name", 86, Kind::Text),
    ("nds-context", 87, Kind::Text),
    ("bcms-controller-names", 88, Kind::DomainList),
    ("bcms-controller-address", 89, Kind::IpList),
    ("client-last-transaction-time", 91, Kind::U32),
    ("associated-ip", 92, Kind::IpList),
    ("pxe-system-type", 93, Kind::U16List),
    ("pxe-interface-id", 94, Kind::Bytes),
    ("pxe-client-id", 95, Kind::Bytes),
    ("uap-servers", 98, Kind::Text),
    ("netinfo-server-address", 112, Kind::IpList),
    ("netinfo-server-tag", 113, Kind::Text),
    ("auto-config", 116, Kind::U8),
    ("name-service-search", 117, Kind::U16List),
    ("capwap-ac-v4", 138, Kind::IpList),
    ("sip-ua-cs-domains", 141, Kind::DomainList),
    ("tftp-server-address", 150, Kind::IpList),
    ("v4-captive-portal", 160, Kind::Text),
];

/// What an ISC option name is to tandem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Known {
    /// In tandem's registry: written under this (canonical) name.
    Tandem { name: String, code: u8, kind: Kind },
    /// A standard ISC option tandem's registry lacks: written under this
    /// name, with a `[[dhcp.option-definition]]`.
    IscOnly { name: String, code: u8, kind: Kind },
    /// An option tandem sets itself; the reason says from what.
    ServerOwned { code: u8, why: &'static str },
}

/// Why tandem takes no value for this server-owned option from the
/// configuration.
pub fn server_owned_reason(code: u8) -> &'static str {
    match code {
        50 | 55 | 57 => "it is the client's to send",
        51 => "tandem sets option 51 from the lease times (default-lease-time, max-lease-time, min-lease-time)",
        52 => "tandem decides option overload itself",
        53 => "tandem sets the message type",
        54 => "tandem sets option 54 from [dhcp] server-identifier or the interface address",
        58 | 59 => "tandem sets the renewal and rebinding times from the lease time",
        61 => "a client identifier names one client: tandem takes it only in a host (client-id)",
        82 => "tandem echoes the relay's option 82",
        _ => "tandem sets this option itself",
    }
}

/// Looks an ISC option name up (any case). `rfc3442-classless-static-routes`
/// is tandem's alias of `classless-static-routes`.
pub fn lookup(registry: &Registry, name: &str) -> Option<Known> {
    let lower = name.to_ascii_lowercase();
    if let Some(d) = registry.by_name(&lower) {
        if SERVER_OWNED.contains(&d.code) {
            return Some(Known::ServerOwned {
                code: d.code,
                why: server_owned_reason(d.code),
            });
        }
        return Some(Known::Tandem {
            name: d.name.clone(),
            code: d.code,
            kind: d.kind,
        });
    }
    ISC_ONLY
        .iter()
        .find(|(n, _, _)| *n == lower)
        .map(|&(n, code, kind)| Known::IscOnly {
            name: n.to_string(),
            code,
            kind,
        })
}

/// Whether tandem's configuration refuses a definition with this code.
pub fn code_is_reserved(code: u8) -> bool {
    code == 0 || code == 255 || SERVER_OWNED.contains(&code)
}

/// The tandem type for the ISC type expression of `option NAME code N =
/// TYPE;` (the tokens after `=`), or why there is none.
pub fn definition_type(ty: &[Token]) -> Result<Kind, String> {
    let words: Vec<String> = ty.iter().map(|t| t.text.to_ascii_lowercase()).collect();
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    let (array, base) = match w.as_slice() {
        ["array", "of", rest @ ..] => (true, rest),
        rest => (false, rest),
    };
    let scalar = match base {
        ["ip-address"] => Kind::Ip,
        ["integer", "8"] | ["unsigned", "integer", "8"] => Kind::U8,
        ["integer", "16"] | ["unsigned", "integer", "16"] => Kind::U16,
        ["integer", "32"] | ["unsigned", "integer", "32"] => Kind::U32,
        ["signed", "integer", "32"] => Kind::I32,
        ["boolean"] => Kind::Bool,
        ["text"] => Kind::Text,
        ["string"] => Kind::Bytes,
        ["domain-list"] | ["domain-list", "compressed"] => Kind::DomainList,
        ["{", "ip-address", ",", "ip-address", "}"] if array => Kind::IpPairs,
        ["signed", "integer", n @ ("8" | "16")] => {
            return Err(format!(
                "signed {n}-bit integers have no tandem type (u8, u16, u32 and i32 do)"
            ))
        }
        ["domain-name"] => return Err("a single DNS-encoded domain name has no tandem type".into()),
        ["encapsulate", ..] => return Err("encapsulated option spaces are not supported".into()),
        ["{", ..] => {
            return Err(
                "record types are not supported (only array of { ip-address, ip-address })".into(),
            )
        }
        _ => return Err(format!("unknown option type {:?}", w.join(" "))),
    };
    match (array, scalar) {
        (false, t) => Ok(t),
        (true, Kind::Ip) => Ok(Kind::IpList),
        // As the routes idiom writes it: a list of octets is bytes.
        (true, Kind::U8) => Ok(Kind::Bytes),
        (true, Kind::U16) => Ok(Kind::U16List),
        (true, Kind::IpPairs) => Ok(Kind::IpPairs),
        (true, t) => Err(format!("arrays of {} have no tandem type", t.name())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lexer::{tokenize_dialect, Dialect};
    use std::path::Path;

    fn ty(s: &str) -> Result<Kind, String> {
        let t = tokenize_dialect(s, Path::new("t"), Dialect::Dhcpd).unwrap();
        definition_type(&t)
    }

    #[test]
    fn definition_types() {
        assert_eq!(ty("ip-address"), Ok(Kind::Ip));
        assert_eq!(ty("array of ip-address"), Ok(Kind::IpList));
        assert_eq!(ty("integer 8"), Ok(Kind::U8));
        assert_eq!(ty("unsigned integer 16"), Ok(Kind::U16));
        assert_eq!(ty("integer 32"), Ok(Kind::U32));
        assert_eq!(ty("signed integer 32"), Ok(Kind::I32));
        assert_eq!(ty("boolean"), Ok(Kind::Bool));
        assert_eq!(ty("text"), Ok(Kind::Text));
        assert_eq!(ty("string"), Ok(Kind::Bytes));
        assert_eq!(ty("array of integer 8"), Ok(Kind::Bytes));
        assert_eq!(ty("array of unsigned integer 8"), Ok(Kind::Bytes));
        assert_eq!(ty("array of integer 16"), Ok(Kind::U16List));
        assert_eq!(ty("array of { ip-address, ip-address }"), Ok(Kind::IpPairs));
        assert!(ty("signed integer 8").is_err());
        assert!(ty("{ ip-address, integer 8 }").is_err());
        assert!(ty("array of boolean").is_err());
        assert!(ty("encapsulate foo").is_err());
        assert!(ty("").is_err());
    }

    #[test]
    fn names() {
        let r = Registry::default();
        assert_eq!(
            lookup(&r, "Routers"),
            Some(Known::Tandem {
                name: "routers".into(),
                code: 3,
                kind: Kind::IpList
            })
        );
        assert_eq!(
            lookup(&r, "rfc3442-classless-static-routes"),
            Some(Known::Tandem {
                name: CLASSLESS_ROUTES.into(),
                code: 121,
                kind: Kind::Routes
            })
        );
        assert!(matches!(
            lookup(&r, "dhcp-lease-time"),
            Some(Known::ServerOwned { code: 51, .. })
        ));
        assert!(matches!(
            lookup(&r, "tftp-server-address"),
            Some(Known::IscOnly { code: 150, .. })
        ));
        assert_eq!(lookup(&r, "no-such-option"), None);
        // The ISC-only names and codes are really missing from tandem's
        // registry, and listed once.
        for (i, (n, c, _)) in ISC_ONLY.iter().enumerate() {
            assert!(r.by_name(n).is_none() && r.by_code(*c).is_none(), "{n}");
            assert!(
                ISC_ONLY[i + 1..].iter().all(|(m, d, _)| m != n && d != c),
                "{n}"
            );
        }
    }
}
