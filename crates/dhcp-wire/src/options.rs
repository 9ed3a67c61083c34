//! The option registry: every RFC 2132 option (and the later ones a home
//! network meets) by ISC's name with its type, and the conversions of a
//! typed value between configuration text and wire bytes.
//!
//! Configuration values arrive as a list of words (a TOML string, number or
//! array, or the tokens of an ISC `option` statement), so one parser serves
//! both `tandem.toml` and `import-isc`.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// How an option's value is written and encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Ip,
    IpList,
    /// Pairs of addresses (options 21 and 33).
    IpPairs,
    U8,
    U16,
    U32,
    I32,
    Bool,
    Text,
    Bytes,
    /// Classless static routes, RFC 3442 (121, and Microsoft's 249).
    Routes,
    /// RFC 1035 names, uncompressed (option 119, RFC 3397).
    DomainList,
    U8List,
    U16List,
}

impl Kind {
    /// The name used in `type = "..."` of an option definition.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Ip => "ip",
            Kind::IpList => "ip-list",
            Kind::IpPairs => "ip-pairs",
            Kind::U8 => "u8",
            Kind::U16 => "u16",
            Kind::U32 => "u32",
            Kind::I32 => "i32",
            Kind::Bool => "bool",
            Kind::Text => "text",
            Kind::Bytes => "bytes",
            Kind::Routes => "routes",
            Kind::DomainList => "domain-list",
            Kind::U8List => "u8-list",
            Kind::U16List => "u16-list",
        }
    }

    pub const ALL: [Kind; 14] = [
        Kind::Ip,
        Kind::IpList,
        Kind::IpPairs,
        Kind::U8,
        Kind::U16,
        Kind::U32,
        Kind::I32,
        Kind::Bool,
        Kind::Text,
        Kind::Bytes,
        Kind::Routes,
        Kind::DomainList,
        Kind::U8List,
        Kind::U16List,
    ];

    pub fn from_name(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// Encodes a value written as `words` (each word may itself be a
    /// comma-separated list). The error says what was expected.
    pub fn parse(self, words: &[String]) -> Result<Vec<u8>, String> {
        let items: Vec<&str> = words
            .iter()
            .flat_map(|w| w.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        let one = || -> Result<&str, String> {
            match items.as_slice() {
                [x] => Ok(*x),
                [] => Err("a value is required".into()),
                _ => Err(format!("one value expected, got {}", items.len())),
            }
        };
        let mut out = Vec::new();
        match self {
            Kind::Ip => out.extend_from_slice(&ip(one()?)?.octets()),
            Kind::IpList => {
                if items.is_empty() {
                    return Err("at least one address is required".into());
                }
                for i in &items {
                    out.extend_from_slice(&ip(i)?.octets());
                }
            }
            Kind::IpPairs => {
                if items.is_empty() {
                    return Err("at least one address pair is required".into());
                }
                for i in &items {
                    let parts: Vec<&str> = i.split_whitespace().collect();
                    let [a, b] = parts.as_slice() else {
                        return Err(format!("{i:?}: expected two addresses, \"A B\""));
                    };
                    out.extend_from_slice(&ip(a)?.octets());
                    out.extend_from_slice(&ip(b)?.octets());
                }
            }
            Kind::U8 => out.push(number::<u8>(one()?)?),
            Kind::U16 => out.extend_from_slice(&number::<u16>(one()?)?.to_be_bytes()),
            Kind::U32 => out.extend_from_slice(&number::<u32>(one()?)?.to_be_bytes()),
            Kind::I32 => out.extend_from_slice(&number::<i32>(one()?)?.to_be_bytes()),
            Kind::Bool => out.push(match one()? {
                "true" | "on" | "1" => 1,
                "false" | "off" | "0" => 0,
                other => return Err(format!("{other:?}: expected true or false")),
            }),
            // Text keeps commas: it is the words as written.
            Kind::Text => {
                let t = words.join(" ");
                if t.is_empty() {
                    return Err("text must not be empty".into());
                }
                out.extend_from_slice(t.as_bytes());
            }
            Kind::Bytes => {
                for w in words {
                    out.extend(hex_bytes(w)?);
                }
                if out.is_empty() {
                    return Err("at least one octet is required".into());
                }
            }
            Kind::Routes => {
                for i in &items {
                    Route::from_str(i)?.encode(&mut out);
                }
                if out.is_empty() {
                    return Err("at least one route is required".into());
                }
            }
            Kind::DomainList => {
                if items.is_empty() {
                    return Err("at least one domain is required".into());
                }
                for i in &items {
                    encode_domain(i, &mut out)?;
                }
            }
            Kind::U8List => {
                for i in &items {
                    out.push(number::<u8>(i)?);
                }
            }
            Kind::U16List => {
                for i in &items {
                    out.extend_from_slice(&number::<u16>(i)?.to_be_bytes());
                }
            }
        }
        if out.len() > 255 * 16 {
            return Err(format!("value is {} bytes, too long", out.len()));
        }
        Ok(out)
    }

    /// Renders wire bytes for logs and `tandem leases`; bytes that do not fit
    /// the type are shown as hex.
    pub fn format(self, bytes: &[u8]) -> String {
        self.try_format(bytes).unwrap_or_else(|| hex(bytes))
    }

    fn try_format(self, b: &[u8]) -> Option<String> {
        let ips = |b: &[u8]| -> Option<Vec<String>> {
            (b.len() % 4 == 0 && !b.is_empty()).then(|| {
                b.chunks(4)
                    .map(|c| Ipv4Addr::new(c[0], c[1], c[2], c[3]).to_string())
                    .collect()
            })
        };
        Some(match self {
            Kind::Ip if b.len() == 4 => ips(b)?.join(""),
            Kind::IpList => ips(b)?.join(", "),
            Kind::IpPairs if b.len() % 8 == 0 => ips(b)?
                .chunks(2)
                .map(|p| p.join(" "))
                .collect::<Vec<_>>()
                .join(", "),
            Kind::U8 if b.len() == 1 => b[0].to_string(),
            Kind::U16 => u16::from_be_bytes(b.try_into().ok()?).to_string(),
            Kind::U32 => u32::from_be_bytes(b.try_into().ok()?).to_string(),
            Kind::I32 => i32::from_be_bytes(b.try_into().ok()?).to_string(),
            Kind::Bool if b.len() == 1 => (b[0] != 0).to_string(),
            Kind::Text => std::str::from_utf8(b).ok()?.to_string(),
            Kind::Bytes => hex(b),
            Kind::Routes => decode_routes(b)
                .ok()?
                .iter()
                .map(Route::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            Kind::DomainList => decode_domains(b)?.join(", "),
            Kind::U8List => b.iter().map(u8::to_string).collect::<Vec<_>>().join(", "),
            Kind::U16List if b.len() % 2 == 0 => b
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]).to_string())
                .collect::<Vec<_>>()
                .join(", "),
            _ => return None,
        })
    }
}

fn ip(s: &str) -> Result<Ipv4Addr, String> {
    s.parse()
        .map_err(|_| format!("{s:?} is not an IPv4 address"))
}

fn number<T: FromStr>(s: &str) -> Result<T, String> {
    s.parse()
        .map_err(|_| format!("{s:?} is not a number in range for this option"))
}

/// `aa:bb:0c` (or `aabb0c`) to bytes.
pub fn hex_bytes(s: &str) -> Result<Vec<u8>, String> {
    let s = s.trim();
    let parts: Vec<&str> = if s.contains(':') {
        s.split(':').collect()
    } else if s.len() % 2 == 0 {
        (0..s.len())
            .step_by(2)
            .map(|i| s.get(i..i + 2).unwrap_or(""))
            .collect()
    } else {
        return Err(format!("{s:?}: expected hex octets like 01:02:0a"));
    };
    parts
        .iter()
        .map(|p| {
            if p.is_empty() || p.len() > 2 {
                return Err(format!("{s:?}: expected hex octets like 01:02:0a"));
            }
            u8::from_str_radix(p, 16).map_err(|_| format!("{s:?}: {p:?} is not a hex octet"))
        })
        .collect()
}

/// Bytes as `01:02:0a`.
pub fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 3);
    for (i, x) in b.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        let _ = write!(s, "{x:02x}");
    }
    s
}

fn encode_domain(name: &str, out: &mut Vec<u8>) -> Result<(), String> {
    let name = name.trim_end_matches('.');
    let mut total = 1;
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(format!("{name:?} is not a valid domain name"));
        }
        total += label.len() + 1;
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    if total > 255 {
        return Err(format!("{name:?} is longer than 255 octets"));
    }
    out.push(0);
    Ok(())
}

/// Option 119 without compression pointers (which tandem never writes).
fn decode_domains(mut b: &[u8]) -> Option<Vec<String>> {
    let mut names = Vec::new();
    while !b.is_empty() {
        let mut labels = Vec::new();
        loop {
            let (&len, rest) = b.split_first()?;
            b = rest;
            if len == 0 {
                break;
            }
            if len > 63 || b.len() < usize::from(len) {
                return None;
            }
            labels.push(String::from_utf8_lossy(&b[..usize::from(len)]).into_owned());
            b = &b[usize::from(len)..];
        }
        names.push(labels.join("."));
    }
    Some(names)
}

/// One classless static route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Route {
    pub dest: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
}

impl Route {
    /// RFC 3442 §3: the prefix length, the significant octets of the
    /// destination, then the router.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let significant = usize::from(self.prefix).div_ceil(8);
        out.push(self.prefix);
        out.extend_from_slice(&self.dest.octets()[..significant]);
        out.extend_from_slice(&self.gateway.octets());
    }
}

impl FromStr for Route {
    type Err = String;

    /// `10.8.0.0/24 via 192.168.0.2`.
    fn from_str(s: &str) -> Result<Route, String> {
        let bad = || format!("{s:?}: expected \"DEST/PREFIX via GATEWAY\"");
        let words: Vec<&str> = s.split_whitespace().collect();
        let [net, "via", gw] = words.as_slice() else {
            return Err(bad());
        };
        let (dest, prefix) = net.split_once('/').ok_or_else(bad)?;
        let dest = ip(dest)?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| format!("{s:?}: prefix length must be 0..=32"))?;
        let mask = prefix_mask(prefix);
        if u32::from(dest) & !mask != 0 {
            return Err(format!(
                "{s:?}: {dest} has bits set beyond /{prefix} (did you mean {}/{prefix}?)",
                Ipv4Addr::from(u32::from(dest) & mask)
            ));
        }
        Ok(Route {
            dest,
            prefix,
            gateway: ip(gw)?,
        })
    }
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{} via {}", self.dest, self.prefix, self.gateway)
    }
}

/// The netmask of a prefix length.
pub fn prefix_mask(prefix: u8) -> u32 {
    match prefix {
        0 => 0,
        p => u32::MAX << (32 - u32::from(p.min(32))),
    }
}

/// Decodes an RFC 3442 route list.
pub fn decode_routes(mut b: &[u8]) -> Result<Vec<Route>, String> {
    let mut routes = Vec::new();
    while let Some((&prefix, rest)) = b.split_first() {
        if prefix > 32 {
            return Err(format!("route prefix length {prefix} is more than 32"));
        }
        let n = usize::from(prefix).div_ceil(8);
        if rest.len() < n + 4 {
            return Err("route list ends inside a route".into());
        }
        let mut dest = [0u8; 4];
        dest[..n].copy_from_slice(&rest[..n]);
        let gateway = Ipv4Addr::new(rest[n], rest[n + 1], rest[n + 2], rest[n + 3]);
        routes.push(Route {
            dest: Ipv4Addr::from(dest),
            prefix,
            gateway,
        });
        b = &rest[n + 4..];
    }
    Ok(routes)
}

/// A known option: its code, ISC's name and its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionDef {
    pub code: u8,
    pub name: String,
    pub kind: Kind,
}

/// The options tandem knows by name. ISC's names, so configurations
/// translate word for word.
pub const STANDARD: &[(u8, &str, Kind)] = &[
    (1, "subnet-mask", Kind::Ip),
    (2, "time-offset", Kind::I32),
    (3, "routers", Kind::IpList),
    (4, "time-servers", Kind::IpList),
    (5, "ien116-name-servers", Kind::IpList),
    (6, "domain-name-servers", Kind::IpList),
    (7, "log-servers", Kind::IpList),
    (8, "cookie-servers", Kind::IpList),
    (9, "lpr-servers", Kind::IpList),
    (10, "impress-servers", Kind::IpList),
    (11, "resource-location-servers", Kind::IpList),
    (12, "host-name", Kind::Text),
    (13, "boot-size", Kind::U16),
    (14, "merit-dump", Kind::Text),
    (15, "domain-name", Kind::Text),
    (16, "swap-server", Kind::Ip),
    (17, "root-path", Kind::Text),
    (18, "extensions-path", Kind::Text),
    (19, "ip-forwarding", Kind::Bool),
    (20, "non-local-source-routing", Kind::Bool),
    (21, "policy-filter", Kind::IpPairs),
    (22, "max-dgram-reassembly", Kind::U16),
    (23, "default-ip-ttl", Kind::U8),
    (24, "path-mtu-aging-timeout", Kind::U32),
    (25, "path-mtu-plateau-table", Kind::U16List),
    (26, "interface-mtu", Kind::U16),
    (27, "all-subnets-local", Kind::Bool),
    (28, "broadcast-address", Kind::Ip),
    (29, "perform-mask-discovery", Kind::Bool),
    (30, "mask-supplier", Kind::Bool),
    (31, "router-discovery", Kind::Bool),
    (32, "router-solicitation-address", Kind::Ip),
    (33, "static-routes", Kind::IpPairs),
    (34, "trailer-encapsulation", Kind::Bool),
    (35, "arp-cache-timeout", Kind::U32),
    (36, "ieee802-3-encapsulation", Kind::Bool),
    (37, "default-tcp-ttl", Kind::U8),
    (38, "tcp-keepalive-interval", Kind::U32),
    (39, "tcp-keepalive-garbage", Kind::Bool),
    (40, "nis-domain", Kind::Text),
    (41, "nis-servers", Kind::IpList),
    (42, "ntp-servers", Kind::IpList),
    (43, "vendor-encapsulated-options", Kind::Bytes),
    (44, "netbios-name-servers", Kind::IpList),
    (45, "netbios-dd-server", Kind::IpList),
    (46, "netbios-node-type", Kind::U8),
    (47, "netbios-scope", Kind::Text),
    (48, "font-servers", Kind::IpList),
    (49, "x-display-manager", Kind::IpList),
    (50, "dhcp-requested-address", Kind::Ip),
    (51, "dhcp-lease-time", Kind::U32),
    (52, "dhcp-option-overload", Kind::U8),
    (53, "dhcp-message-type", Kind::U8),
    (54, "dhcp-server-identifier", Kind::Ip),
    (55, "dhcp-parameter-request-list", Kind::U8List),
    (56, "dhcp-message", Kind::Text),
    (57, "dhcp-max-message-size", Kind::U16),
    (58, "dhcp-renewal-time", Kind::U32),
    (59, "dhcp-rebinding-time", Kind::U32),
    (60, "vendor-class-identifier", Kind::Text),
    (61, "dhcp-client-identifier", Kind::Bytes),
    (64, "nisplus-domain", Kind::Text),
    (65, "nisplus-servers", Kind::IpList),
    (66, "tftp-server-name", Kind::Text),
    (67, "bootfile-name", Kind::Text),
    (68, "mobile-ip-home-agent", Kind::IpList),
    (69, "smtp-server", Kind::IpList),
    (70, "pop-server", Kind::IpList),
    (71, "nntp-server", Kind::IpList),
    (72, "www-server", Kind::IpList),
    (73, "finger-server", Kind::IpList),
    (74, "irc-server", Kind::IpList),
    (75, "streettalk-server", Kind::IpList),
    (76, "streettalk-directory-assistance-server", Kind::IpList),
    (77, "user-class", Kind::Bytes),
    (81, "fqdn", Kind::Bytes),
    (82, "relay-agent-information", Kind::Bytes),
    (100, "pcode", Kind::Text),
    (101, "tcode", Kind::Text),
    (108, "v6-only-preferred", Kind::U32),
    (114, "default-url", Kind::Text),
    (118, "subnet-selection", Kind::Ip),
    (119, "domain-search", Kind::DomainList),
    (121, "classless-static-routes", Kind::Routes),
    (249, "ms-classless-static-routes", Kind::Routes),
    (252, "wpad-url", Kind::Text),
];

/// Other names users write for the same options.
const ALIASES: &[(&str, u8)] = &[("rfc3442-classless-static-routes", 121)];

/// Options the server sets from its own state; a configuration may not.
pub const SERVER_OWNED: &[u8] = &[50, 51, 52, 53, 54, 55, 57, 58, 59, 61, 82];

/// A registry: the standard options plus the configuration's definitions.
#[derive(Debug, Clone)]
pub struct Registry {
    defs: Vec<OptionDef>,
}

impl Default for Registry {
    fn default() -> Registry {
        Registry {
            defs: STANDARD
                .iter()
                .map(|&(code, name, kind)| OptionDef {
                    code,
                    name: name.to_string(),
                    kind,
                })
                .collect(),
        }
    }
}

impl Registry {
    /// Adds (or, for a known code, redefines) an option. ISC users define
    /// 121 as `array of integer 8`; the definition wins over the standard one.
    pub fn define(&mut self, def: OptionDef) {
        self.defs
            .retain(|d| d.code != def.code && d.name != def.name);
        self.defs.push(def);
    }

    pub fn by_name(&self, name: &str) -> Option<&OptionDef> {
        let lower = name.to_ascii_lowercase();
        if let Some(d) = self.defs.iter().find(|d| d.name == lower) {
            return Some(d);
        }
        let code = ALIASES.iter().find(|(a, _)| *a == lower)?.1;
        self.by_code(code)
    }

    pub fn by_code(&self, code: u8) -> Option<&OptionDef> {
        self.defs.iter().find(|d| d.code == code)
    }

    /// Known names close to `name` (by edit distance), for "did you mean".
    pub fn suggest(&self, name: &str) -> Vec<&str> {
        let lower = name.to_ascii_lowercase();
        let limit = (lower.len() / 4).max(2);
        let mut near: Vec<(usize, &str)> = self
            .defs
            .iter()
            .map(|d| (edit_distance(&lower, &d.name), d.name.as_str()))
            .filter(|(dist, _)| *dist <= limit)
            .collect();
        near.sort();
        near.into_iter().take(3).map(|(_, n)| n).collect()
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn rfc3442_example_routes() {
        let b = Kind::Routes
            .parse(&w(&[
                "10.8.0.0/24 via 192.168.0.2",
                "0.0.0.0/0 via 192.168.0.1",
            ]))
            .unwrap();
        assert_eq!(b, vec![24, 10, 8, 0, 192, 168, 0, 2, 0, 192, 168, 0, 1]);
        assert_eq!(
            Kind::Routes.format(&b),
            "10.8.0.0/24 via 192.168.0.2, 0.0.0.0/0 via 192.168.0.1"
        );
        let r: Route = "10.0.0.0/9 via 1.2.3.4".parse().unwrap();
        let mut out = Vec::new();
        r.encode(&mut out);
        assert_eq!(out, vec![9, 10, 0, 1, 2, 3, 4]);
        assert!("10.8.0.1/24 via 1.1.1.1".parse::<Route>().is_err());
        assert!(decode_routes(&[33]).is_err());
        assert!(decode_routes(&[24, 10, 8]).is_err());
    }

    #[test]
    fn values_by_type() {
        assert_eq!(
            Kind::IpList
                .parse(&w(&["192.168.0.254, 192.168.0.253"]))
                .unwrap(),
            vec![192, 168, 0, 254, 192, 168, 0, 253]
        );
        assert_eq!(Kind::U16.parse(&w(&["1500"])).unwrap(), vec![5, 220]);
        assert!(Kind::U8.parse(&w(&["300"])).is_err());
        assert_eq!(Kind::Bool.parse(&w(&["true"])).unwrap(), vec![1]);
        assert_eq!(Kind::Bytes.parse(&w(&["01:0a"])).unwrap(), vec![1, 10]);
        assert_eq!(
            Kind::DomainList.parse(&w(&["home", "lab.home"])).unwrap(),
            b"\x04home\x00\x03lab\x04home\x00".to_vec()
        );
        assert_eq!(
            Kind::DomainList.format(b"\x04home\x00\x03lab\x04home\x00"),
            "home, lab.home"
        );
        assert_eq!(Kind::Text.parse(&w(&["a, b"])).unwrap(), b"a, b".to_vec());
        assert!(Kind::Ip.parse(&w(&["router.home"])).is_err());
    }

    #[test]
    fn registry_names_and_definitions() {
        let mut r = Registry::default();
        assert_eq!(r.by_name("routers").unwrap().code, 3);
        assert_eq!(
            r.by_name("rfc3442-classless-static-routes").unwrap().code,
            121
        );
        r.define(OptionDef {
            code: 121,
            name: "my-routes".into(),
            kind: Kind::Bytes,
        });
        assert_eq!(r.by_code(121).unwrap().name, "my-routes");
        assert!(r.by_name("classless-static-routes").is_none());
        assert!(Registry::default()
            .suggest("domain-name-server")
            .contains(&"domain-name-servers"));
    }
}
