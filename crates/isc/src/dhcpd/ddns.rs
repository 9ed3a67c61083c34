//! dhcpd.conf's DDNS statements to tandem's `[ddns]` (docs/ddns.md).
//!
//! Translated, at the top level: `ddns-update-style` (standard, interim,
//! none), `ddns-updates`, `ddns-domainname`, `ddns-rev-domainname`,
//! `ddns-ttl`, `update-optimization`, `update-conflict-detection`,
//! `update-static-leases`, `do-forward-updates`, `do-reverse-updates`,
//! `fqdn-reply`, `allow|ignore|deny client-updates`, and each `zone NAME {
//! primary ...; secondary ...; key ...; }` as a `[[ddns.zone]]`.
//!
//! Not translated, and listed: any of those inside a subnet, pool, host,
//! class or group (tandem's settings are server-wide); values computed by
//! expressions (`ddns-hostname = pick(...)`, which tandem's fixed rule
//! replaces: option 81, option 12, the reservation's hostname, then
//! `generated-name`); the dual-stack and guard-matching refinements; the
//! DHCPv6 statements; a zone server given by host name.
//!
//! dhcpd's own defaults are tandem's, with one exception written out: a
//! dhcpd.conf with `zone` statements but no `ddns-update-style` does no
//! updates (dhcpd's default style is `none`). A dhcpd.conf that makes no
//! updates (no style, or `none`, and no zone) gets no `[ddns]` at all.

use std::net::IpAddr;

use super::{bool_word, Block, Importer};
use crate::parser::Statement;
use crate::toml_text::{string, string_array};

const SERVER_WIDE: &str = "tandem's DDNS settings are server-wide ([ddns]); a value for one";
const EXPRESSION: &str = "values computed by expressions are not supported";

/// What was read for `[ddns]`.
#[derive(Debug, Default)]
pub(super) struct Ddns {
    /// `key = value` lines, in file order, each key once (the last wins).
    settings: Vec<(&'static str, String)>,
    zones: Vec<Zone>,
}

#[derive(Debug)]
struct Zone {
    name: String,
    primary: Vec<String>,
    secondary: Vec<String>,
    key: Option<String>,
    /// The statement's position and report entry, for a zone whose key
    /// turns out not to be defined.
    pos: usize,
    entry: crate::named::Untranslated,
}

impl Ddns {
    fn set(&mut self, key: &'static str, value: String) {
        match self.settings.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.settings.push((key, value)),
        }
    }

    fn has(&self, key: &str) -> bool {
        self.settings.iter().any(|(k, _)| *k == key)
    }
}

/// The single value word of `NAME VALUE;`, if that is the statement.
fn value(st: &Statement) -> Result<&crate::lexer::Token, String> {
    match &st.words[..] {
        [_, v] if v.is_text() => Ok(v),
        [_] => Err(format!("expected {} VALUE;", st.keyword().unwrap_or(""))),
        _ => Err(EXPRESSION.to_string()),
    }
}

fn boolean(st: &Statement) -> Result<String, String> {
    let v = value(st)?;
    bool_word(&v.text)
        .map(|b| b.to_string())
        .ok_or_else(|| format!("expected on or off, not {}", v.text))
}

fn name_value(st: &Statement) -> Result<String, String> {
    let v = value(st)?;
    let text = v.text.trim();
    text.parse::<tandem_dns_wire::Name>()
        .map_err(|e| format!("{text:?} is not a domain name: {e}"))?;
    Ok(string(text))
}

impl Importer {
    /// A DDNS parameter (`ddns-*`, `update-*`, `do-*-updates`,
    /// `fqdn-reply`) in a block of `kind`.
    pub(super) fn ddns_param(&mut self, st: &Statement, kind: Block) {
        let kw = st.keyword().unwrap_or("").to_ascii_lowercase();
        let key: &'static str = match kw.as_str() {
            "ddns-update-style" => "ddns-update-style",
            "ddns-updates" => "ddns-updates",
            "ddns-domainname" => "ddns-domainname",
            "ddns-rev-domainname" => "ddns-rev-domainname",
            "ddns-ttl" => "ddns-ttl",
            "update-optimization" => "update-optimization",
            "update-conflict-detection" => "update-conflict-detection",
            "update-static-leases" => "update-static-leases",
            "do-forward-updates" => "do-forward-updates",
            "do-reverse-updates" => "do-reverse-updates",
            "fqdn-reply" => "fqdn-reply",
            "ddns-hostname" => {
                return self.skip(
                    st,
                    "tandem names a client from its option 81, then option 12, then its reservation's hostname, then [ddns] generated-name; ddns-hostname is not translated",
                )
            }
            "ddns-dual-stack-mixed-mode" | "ddns-guard-id-must-match"
            | "ddns-other-guard-is-dynamic" => {
                return self.skip(
                    st,
                    "tandem publishes IPv4 leases only and always matches the guard to the client; not translated",
                )
            }
            "ddns-local-address4" | "ddns-local-address6" => {
                return self.skip(st, "tandem sends updates from the address the kernel picks")
            }
            "update-stateless-leases" => return self.skip(st, super::DHCPV6),
            k if k.starts_with("ddns6-") => return self.skip(st, super::DHCPV6),
            _ => return self.skip(st, super::UNSUPPORTED),
        };
        if kind != Block::Global {
            return self.skip(
                st,
                format!("{SERVER_WIDE} {} is not translated", kind.name()),
            );
        }
        let parsed = match key {
            "ddns-update-style" => value(st).and_then(|v| {
                let s = v.text.to_ascii_lowercase();
                match s.as_str() {
                    "standard" | "interim" | "none" => Ok(string(&s)),
                    "ad-hoc" => Err(
                        "the ad-hoc style (gone from dhcpd 4) is not supported; use standard"
                            .to_string(),
                    ),
                    other => Err(format!("unknown style {other}")),
                }
            }),
            "ddns-domainname" | "ddns-rev-domainname" => name_value(st),
            "ddns-ttl" => value(st).and_then(|v| {
                v.number()
                    .filter(|&n| n <= u64::from(u32::MAX))
                    .map(|n| n.to_string())
                    .ok_or_else(|| EXPRESSION.to_string())
            }),
            _ => boolean(st),
        };
        match parsed {
            Ok(v) => self.ddns.set(key, v),
            Err(why) => self.skip(st, why),
        }
    }

    /// `allow|ignore|deny client-updates;`.
    pub(super) fn ddns_client_updates(&mut self, st: &Statement, verb: &str, kind: Block) {
        if kind != Block::Global {
            return self.skip(
                st,
                format!("{SERVER_WIDE} {} is not translated", kind.name()),
            );
        }
        let v = if verb == "allow" { "allow" } else { "ignore" };
        self.ddns.set("client-updates", string(v));
    }

    /// `zone NAME { primary ...; secondary ...; key ...; }`.
    pub(super) fn ddns_zone(&mut self, st: &Statement, kind: Block) {
        if kind != Block::Global {
            return self.skip(
                st,
                format!("tandem's zone statements are server-wide ([[ddns.zone]]); one in a {} is not translated", kind.name()),
            );
        }
        let name = match &st.words[..] {
            [_, n] if n.is_text() => n.text.trim().to_string(),
            _ => return self.skip(st, "expected zone NAME { ... }"),
        };
        if name.parse::<tandem_dns_wire::Name>().is_err() {
            return self.skip(st, format!("{name:?} is not a zone name"));
        }
        let mut zone = Zone {
            name,
            primary: Vec::new(),
            secondary: Vec::new(),
            key: None,
            pos: self.pos(st),
            entry: Self::entry(st, String::new()),
        };
        for c in st.children() {
            let kw = c.keyword().unwrap_or("").to_ascii_lowercase();
            match kw.as_str() {
                "primary" | "primary6" | "secondary" | "secondary6" => {
                    let mut addrs = Vec::new();
                    for w in c.words[1..].iter().filter(|w| w.is_text()) {
                        match w.text.parse::<IpAddr>() {
                            Ok(a) => addrs.push(a.to_string()),
                            Err(_) => self.skip(
                                c,
                                format!("zone {}: tandem sends updates to addresses; write the address of {}", zone.name, w.text),
                            ),
                        }
                    }
                    if kw.starts_with("primary") {
                        zone.primary.extend(addrs);
                    } else {
                        zone.secondary.extend(addrs);
                    }
                }
                "key" => match &c.words[..] {
                    [_, k] if k.is_text() => zone.key = Some(k.text.clone()),
                    _ => self.skip(c, "expected key NAME;"),
                },
                _ => self.skip(c, super::UNSUPPORTED),
            }
        }
        if zone.primary.is_empty() && zone.secondary.is_empty() {
            return self.skip(
                st,
                format!("zone {}: no server address to send updates to", zone.name),
            );
        }
        self.ddns
            .zones
            .retain(|z| !z.name.eq_ignore_ascii_case(&zone.name));
        self.ddns.zones.push(zone);
    }

    /// The `[ddns]` table and its `[[ddns.zone]]` tables, or nothing when
    /// dhcpd.conf has no DDNS statement. A zone whose key dhcpd.conf does
    /// not define is left out and listed.
    pub(super) fn ddns_section(&mut self) -> String {
        let zones = std::mem::take(&mut self.ddns.zones);
        let mut kept = Vec::new();
        for z in zones {
            if let Some(k) = &z.key {
                let defined = self
                    .keys
                    .iter()
                    .any(|d| d.name_text().eq_ignore_ascii_case(k.trim_end_matches('.')));
                if !defined {
                    let mut e = z.entry.clone();
                    e.reason = format!("zone {}: key {k} is not defined in dhcpd.conf", z.name);
                    self.untranslated.push((z.pos, e));
                    continue;
                }
            }
            kept.push(z);
        }
        let style = self
            .ddns
            .settings
            .iter()
            .find(|(k, _)| *k == "ddns-update-style")
            .map(|(_, v)| v.as_str());
        // Without a style (dhcpd's default is none) and without zones,
        // dhcpd makes no updates: neither does tandem without [ddns].
        if kept.is_empty() && matches!(style, None | Some("\"none\"")) {
            return String::new();
        }
        let mut t = String::from("\n[ddns]\n");
        if !self.ddns.has("ddns-update-style") {
            t.push_str("ddns-update-style = \"none\"  # dhcpd's default: dhcpd.conf does not say ddns-update-style\n");
        }
        for (k, v) in &self.ddns.settings {
            t.push_str(&format!("{k} = {v}\n"));
        }
        for z in kept {
            t.push_str(&format!("\n[[ddns.zone]]\nname = {}\n", string(&z.name)));
            if !z.primary.is_empty() {
                t.push_str(&format!("primary = {}\n", string_array(&z.primary)));
            }
            if !z.secondary.is_empty() {
                t.push_str(&format!("secondary = {}\n", string_array(&z.secondary)));
            }
            if let Some(k) = &z.key {
                t.push_str(&format!("key = {}\n", string(k)));
            }
        }
        t
    }
}
