//! Names: what a client calls itself, as a valid DNS host label, the
//! generated name for a client without one, and reverse names.

use std::net::Ipv4Addr;

use tandem_dns_wire::Name;

/// The longest label.
pub const MAX_LABEL: usize = 63;

/// A host label from what a client sent (option 81's first label, option
/// 12, a reservation's hostname): only the part before the first dot, in
/// lower case, letters, digits and hyphens (RFC 952/1123); every other
/// octet becomes a hyphen, runs of hyphens become one, and hyphens at
/// either end go. At most 63 octets. `None` when nothing is left.
///
/// `"Bob's iPhone"` → `bob-s-iphone`, `"laptop.example.com"` → `laptop`,
/// `"DESKTOP_7Q2"` → `desktop-7q2`.
pub fn sanitize_label(raw: &[u8]) -> Option<String> {
    let first = raw.split(|&b| b == b'.').next().unwrap_or(&[]);
    let mut out = String::with_capacity(first.len().min(MAX_LABEL));
    for &b in first {
        let c = match b {
            b'a'..=b'z' | b'0'..=b'9' => b as char,
            b'A'..=b'Z' => b.to_ascii_lowercase() as char,
            _ => '-',
        };
        if c == '-' && (out.is_empty() || out.ends_with('-')) {
            continue;
        }
        out.push(c);
        if out.len() == MAX_LABEL {
            break;
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    (!out.is_empty()).then_some(out)
}

/// A label from a template for clients without a usable name (the
/// `generated-name` setting): `{ip}` is the address with dashes
/// (`192-168-0-15`), `{mac}` the hardware address as hex digits
/// (`020000aabbcc`), `{a}`..`{d}` the address's octets. The result is
/// sanitised like a client's name.
pub fn generated_label(template: &str, addr: Ipv4Addr, hw: Option<&[u8]>) -> Option<String> {
    let o = addr.octets();
    let mac: String = hw
        .unwrap_or(&[])
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let text = template
        .replace("{ip}", &format!("{}-{}-{}-{}", o[0], o[1], o[2], o[3]))
        .replace("{mac}", &mac)
        .replace("{a}", &o[0].to_string())
        .replace("{b}", &o[1].to_string())
        .replace("{c}", &o[2].to_string())
        .replace("{d}", &o[3].to_string());
    sanitize_label(text.as_bytes())
}

/// `label.domain.`, lower case; `None` if it would be too long.
pub fn forward_name(label: &str, domain: &Name) -> Option<Name> {
    domain
        .to_lowercase()
        .prepend(label.to_ascii_lowercase().as_bytes())
        .ok()
}

/// The reverse name of `addr` under `rev_domain` (`in-addr.arpa.` unless
/// configured otherwise): `15.0.168.192.in-addr.arpa.`.
pub fn reverse_name(addr: Ipv4Addr, rev_domain: &Name) -> Option<Name> {
    let o = addr.octets();
    let mut n = rev_domain.to_lowercase();
    for b in o {
        n = n.prepend(b.to_string().as_bytes()).ok()?;
    }
    Some(n)
}

/// A name's labels, as option 81 carries them.
pub fn labels_of(name: &Name) -> Vec<Vec<u8>> {
    name.labels().map(<[u8]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        let s = |t: &str| sanitize_label(t.as_bytes());
        assert_eq!(s("laptop").as_deref(), Some("laptop"));
        assert_eq!(s("Bob's iPhone").as_deref(), Some("bob-s-iphone"));
        assert_eq!(s("laptop.example.com").as_deref(), Some("laptop"));
        assert_eq!(s("DESKTOP_7Q2").as_deref(), Some("desktop-7q2"));
        assert_eq!(s("--a--b--").as_deref(), Some("a-b"));
        assert_eq!(s("Jürgen").as_deref(), Some("j-rgen"));
        assert_eq!(s("!!!"), None);
        assert_eq!(s(""), None);
        assert_eq!(s(".home"), None);
        assert_eq!(s(&"x".repeat(100)).map(|l| l.len()), Some(63));
        let long = format!("{}-{}", "a".repeat(62), "b");
        assert_eq!(s(&long).as_deref(), Some("a".repeat(62).as_str()));
    }

    #[test]
    fn generated_and_reverse() {
        let a = Ipv4Addr::new(192, 168, 0, 15);
        assert_eq!(
            generated_label("dhcp-{ip}", a, None).as_deref(),
            Some("dhcp-192-168-0-15")
        );
        assert_eq!(
            generated_label("host-{mac}", a, Some(&[2, 0, 0, 0xaa, 0xbb, 0xcc])).as_deref(),
            Some("host-020000aabbcc")
        );
        assert_eq!(generated_label("pc{d}", a, None).as_deref(), Some("pc15"));
        let rev = reverse_name(a, &"in-addr.arpa".parse().unwrap()).unwrap();
        assert_eq!(rev.to_string(), "15.0.168.192.in-addr.arpa.");
        let fwd = forward_name("laptop", &"Home".parse().unwrap()).unwrap();
        assert_eq!(fwd.to_string(), "laptop.home.");
    }
}
