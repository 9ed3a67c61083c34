//! dhcpd.conf's failover statements to tandem's `[[dhcp.failover]]`
//! (docs/failover.md): each `failover peer "NAME" { ... }` block becomes a
//! table, a pool's `failover peer "NAME";` its `failover-peer`.
//!
//! Translated inside the block: `primary;` / `secondary;`, `address`,
//! `port`, `peer address`, `peer port`, `max-response-delay`,
//! `max-unacked-updates`, `load balance max seconds`, `mclt`, `split`,
//! `hba`, `max-lease-misbalance`, `max-lease-ownership`, `min-balance`,
//! `max-balance`. Not translated, and listed: `auto-partner-down` (tandem's
//! automatic partner-down is a different, safer mechanism that must be
//! chosen knowingly; docs/failover.md), `max-transmit-idle` and
//! `max-update-idle` (old names ISC itself maps onto max-response-delay),
//! an address given as a host name, anything else. A block without a role
//! or without both addresses is left out, and so are the pools that name it
//! (they keep serving, without failover: the import says so).

use std::net::Ipv4Addr;

use super::Importer;
use crate::parser::Statement;
use crate::toml_text::string;

/// One `failover peer` block, as read.
#[derive(Debug, Clone, Default)]
pub(super) struct Peer {
    pub name: String,
    /// `key = value` lines in tandem's names, in tandem's order.
    lines: Vec<(&'static str, String)>,
}

impl Peer {
    fn set(&mut self, key: &'static str, value: String) {
        match self.lines.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.lines.push((key, value)),
        }
    }

    fn has(&self, key: &str) -> bool {
        self.lines.iter().any(|(k, _)| *k == key)
    }
}

/// What was read for `[[dhcp.failover]]`.
#[derive(Debug, Default)]
pub(super) struct Failover {
    peers: Vec<Peer>,
    /// Names of blocks that were left out, so their pools say why.
    broken: Vec<String>,
}

impl Importer {
    /// `failover peer "NAME" { ... }`.
    pub(super) fn failover_peer(&mut self, st: &Statement) {
        let name = match &st.words[..] {
            [_, p, n] if p.text.eq_ignore_ascii_case("peer") && n.is_text() => {
                n.text.trim().to_string()
            }
            _ => return self.skip(st, "expected failover peer \"NAME\" { ... }"),
        };
        let mut peer = Peer {
            name: name.clone(),
            ..Peer::default()
        };
        let mut role = None;
        for c in st.children() {
            let words: Vec<String> = c
                .words
                .iter()
                .map(|w| w.text.to_ascii_lowercase())
                .collect();
            let w: Vec<&str> = words.iter().map(String::as_str).collect();
            let raw: Vec<&str> = c.words.iter().map(|w| w.text.as_str()).collect();
            match w.as_slice() {
                ["primary"] => role = Some("primary"),
                ["secondary"] => role = Some("secondary"),
                ["address", _] => match raw[1].parse::<Ipv4Addr>() {
                    Ok(a) => peer.set("address", string(&a.to_string())),
                    Err(_) => self.skip(
                        c,
                        format!("failover {name}: tandem takes an IPv4 address here, not {:?}", raw[1]),
                    ),
                },
                ["peer", "address", _] => match raw[2].parse::<Ipv4Addr>() {
                    Ok(a) => peer.set("peer-address", string(&a.to_string())),
                    Err(_) => self.skip(
                        c,
                        format!("failover {name}: tandem takes an IPv4 address here, not {:?}", raw[2]),
                    ),
                },
                ["port", n] => self.failover_number(c, &mut peer, "port", n, u64::from(u16::MAX)),
                ["peer", "port", n] => {
                    self.failover_number(c, &mut peer, "peer-port", n, u64::from(u16::MAX))
                }
                ["max-response-delay", n] => {
                    self.failover_number(c, &mut peer, "max-response-delay", n, u64::from(u32::MAX))
                }
                ["max-unacked-updates", n] => {
                    self.failover_number(c, &mut peer, "max-unacked-updates", n, u64::from(u32::MAX))
                }
                ["load", "balance", "max", "seconds", n] => self.failover_number(
                    c,
                    &mut peer,
                    "load-balance-max-seconds",
                    n,
                    u64::from(u16::MAX),
                ),
                ["mclt", n] => self.failover_number(c, &mut peer, "mclt", n, u64::from(u32::MAX)),
                ["split", n] => self.failover_number(c, &mut peer, "split", n, 256),
                ["hba", ..] => {
                    let text: String = raw[1..].concat();
                    match tandem_dhcp::failover::Hba::from_isc_text(&text) {
                        Ok(h) => peer.set("hba", string(&h.to_string())),
                        Err(e) => self.skip(c, format!("failover {name}: {e}")),
                    }
                }
                ["max-lease-misbalance", n] => {
                    self.failover_number(c, &mut peer, "max-lease-misbalance", n, 100)
                }
                ["max-lease-ownership", n] => {
                    self.failover_number(c, &mut peer, "max-lease-ownership", n, 100)
                }
                ["min-balance", n] => {
                    self.failover_number(c, &mut peer, "min-balance", n, u64::from(u32::MAX))
                }
                ["max-balance", n] => {
                    self.failover_number(c, &mut peer, "max-balance", n, u64::from(u32::MAX))
                }
                ["auto-partner-down", ..] => self.skip(
                    c,
                    "ISC's auto-partner-down moves to partner-down on a timer alone; tandem's automatic partner-down also probes the partner on the client network and is chosen with [[dhcp.failover]] auto-partner-down (docs/failover.md)",
                ),
                ["max-transmit-idle" | "max-update-idle", ..] => self.skip(
                    c,
                    "an old name dhcpd maps onto max-response-delay; set max-response-delay",
                ),
                _ => self.skip(
                    c,
                    format!("not a failover setting tandem knows (in failover peer {name})"),
                ),
            }
        }
        let missing = match role {
            None => Some("neither primary; nor secondary;"),
            Some(_) if !peer.has("address") => Some("no address"),
            Some(_) if !peer.has("peer-address") => Some("no peer address"),
            Some("primary") if !peer.has("mclt") => Some("a primary without mclt"),
            Some("primary") if !peer.has("split") && !peer.has("hba") => {
                Some("a primary without split or hba")
            }
            _ => None,
        };
        if let Some(why) = missing {
            self.failover.broken.push(name.clone());
            return self.skip(
                st,
                format!(
                    "failover peer {name}: {why}; left out, and its pools serve without failover"
                ),
            );
        }
        let role = role.unwrap_or("primary");
        if role == "secondary" {
            // A secondary takes these from the primary; tandem refuses them.
            for k in ["mclt", "split", "hba"] {
                if peer.has(k) {
                    peer.lines.retain(|(key, _)| *key != k);
                    self.note(
                        st,
                        format!(
                            "failover peer {name}: {k} is the primary's; left out of the secondary"
                        ),
                    );
                }
            }
        }
        if self.failover.peers.iter().any(|p| p.name == name) {
            return self.skip(st, format!("failover peer {name} is defined twice"));
        }
        peer.lines.insert(0, ("role", string(role)));
        self.failover.peers.push(peer);
    }

    fn failover_number(
        &mut self,
        c: &Statement,
        peer: &mut Peer,
        key: &'static str,
        text: &str,
        max: u64,
    ) {
        match text.parse::<u64>() {
            Ok(n) if n <= max => peer.set(key, n.to_string()),
            _ => self.skip(c, format!("{key}: expected a number up to {max}")),
        }
    }

    /// A pool's `failover peer "NAME";`: the name, if the pool may use it.
    pub(super) fn pool_failover(&mut self, c: &Statement) -> Option<String> {
        match &c.words[..] {
            [_, p, n] if p.text.eq_ignore_ascii_case("peer") && n.is_text() => {
                let name = n.text.trim().to_string();
                if !self.failover.broken.contains(&name)
                    && !self.failover.peers.iter().any(|p| p.name == name)
                {
                    // dhcpd too wants the block before the pool.
                    self.skip(
                        c,
                        format!("no failover peer {name:?} is declared before this pool; the pool serves without failover"),
                    );
                    return None;
                }
                if self.failover.broken.contains(&name) {
                    self.skip(
                        c,
                        format!("failover peer {name} was left out (see there); the pool serves without failover"),
                    );
                    return None;
                }
                Some(name)
            }
            _ => {
                self.skip(c, "expected failover peer \"NAME\";");
                None
            }
        }
    }

    /// The `[[dhcp.failover]]` tables.
    pub(super) fn failover_section(&self) -> String {
        let mut t = String::new();
        for p in &self.failover.peers {
            t.push_str(&format!(
                "\n[[dhcp.failover]]\nname = {}\n",
                string(&p.name)
            ));
            for (k, v) in &p.lines {
                t.push_str(&format!("{k} = {v}\n"));
            }
        }
        t
    }
}
