//! dhcpd.leases: ISC dhcpd's lease database, read into tandem's leases.
//!
//! This module owns the meaning of the lease file (dhcpd.leases(5)) and the
//! date arithmetic it needs. The file is read with the dhcpd dialect of
//! [`crate::parser`]: it is the same grammar as dhcpd.conf, and the
//! dialect's string escapes give the exact bytes of `uid "\001\000..."`.
//!
//! What is read from each `lease A.B.C.D { ... }`:
//!
//! - `starts`, `ends`, `tstp`, `tsfp`, `atsfp`, `cltt`: dates, either
//!   `W YYYY/MM/DD HH:MM:SS` (UTC; the weekday is ignored, as dhcpd does),
//!   `epoch SECONDS` (written under `db-time-format local`) or `never`
//!   ([`NEVER`]). A time that is not there is 0.
//! - `binding state`: the state; `bootp` and `reserved` (states of older
//!   dhcpd versions) are read as active. Without one, a lease is active:
//!   its `ends` then decides, as tandem treats an active lease whose end has
//!   passed as expired. `next binding state` and `rewind binding state`
//!   are dhcpd's plans for the lease, which tandem makes itself.
//! - `hardware TYPE XX:XX:...`, `uid` (a string or hex octets) and
//!   `client-hostname`.
//!
//! The file is append-only, so the last entry for an address wins. Other
//! statements in a lease (`set`, `on`, `option agent.*`, `bootp;`, ...) and
//! outside one (`failover peer ... state`, `server-duid`,
//! `authoring-byte-order`, OMAPI `host`/`group`/`class` objects, DHCPv6
//! `ia_na`/`ia_ta`/`ia_pd`) are not leases and are skipped.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;

use tandem_dhcp::{BindingState, HwAddr, Lease};

use crate::lexer::{Dialect, Token, TokenKind};
use crate::parser::{parse_str_dialect, Statement};
use crate::IscError;

/// The time `never` is read as: a lease that does not end.
pub const NEVER: u64 = u64::MAX;

/// Reads the text of a dhcpd.leases file (`file` names it in errors) into
/// one lease per address, the last entry for each winning, in address
/// order.
///
/// Errors, located: the file does not parse, or a lease has a bad address,
/// date, state, hardware address or uid.
pub fn parse_dhcpd_leases(text: &str, file: &Path) -> Result<Vec<Lease>, IscError> {
    let stmts = parse_str_dialect(text, file, Dialect::Dhcpd)?;
    let mut by_addr = BTreeMap::new();
    for st in stmts.iter().filter(|s| s.is("lease")) {
        let lease = lease(st)?;
        by_addr.insert(lease.addr, lease);
    }
    Ok(by_addr.into_values().collect())
}

/// The leases as tandem's import file `imported-leases.json` holds them:
/// one JSON array of [`Lease`] values.
pub fn leases_json(leases: &[Lease]) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(leases)
}

fn lease(st: &Statement) -> Result<Lease, IscError> {
    let addr = match (&st.words[..], &st.block) {
        ([_, a], Some(_)) if a.is_text() => a.text.parse::<Ipv4Addr>().map_err(|_| {
            a.loc
                .error(format!("expected an IPv4 address, not {}", a.render()))
        })?,
        _ => return Err(st.loc.error("expected lease A.B.C.D { ... }")),
    };
    let mut l = Lease::new(addr, BindingState::Active);
    for s in st.children() {
        let kw = s.keyword().unwrap_or("").to_ascii_lowercase();
        let time_slot = match kw.as_str() {
            "starts" => Some(&mut l.start),
            "ends" => Some(&mut l.end),
            "cltt" => Some(&mut l.cltt),
            "tstp" => Some(&mut l.tstp),
            "tsfp" => Some(&mut l.tsfp),
            "atsfp" => Some(&mut l.atsfp),
            _ => None,
        };
        if let Some(slot) = time_slot {
            *slot = date(s)?;
            continue;
        }
        match kw.as_str() {
            "binding" => l.state = binding_state(s, 1)?,
            "hardware" => l.hw = Some(hardware(s)?),
            "uid" => {
                l.client_id = Some(match &s.words[..] {
                    [_, v] if v.kind == TokenKind::Str => v.octets().to_vec(),
                    [_, v] if v.is_text() => hex_octets(&v.text).ok_or_else(|| {
                        v.loc
                            .error(format!("bad uid {}: expected XX:XX:...", v.text))
                    })?,
                    _ => return Err(s.loc.error("expected uid \"...\"; or uid XX:XX:...;")),
                })
            }
            "client-hostname" => match &s.words[..] {
                [_, v] if v.is_text() => {
                    l.hostname = Some(String::from_utf8_lossy(v.octets()).into_owned())
                }
                _ => return Err(s.loc.error("expected client-hostname \"NAME\";")),
            },
            _ => {}
        }
    }
    Ok(l)
}

/// `binding state S;` (`at` is the index of `state`); `next binding` and
/// `rewind binding` start with another word and never reach here.
fn binding_state(s: &Statement, at: usize) -> Result<BindingState, IscError> {
    let (Some(state_kw), Some(v), true) = (
        s.words.get(at),
        s.words.get(at + 1),
        s.words.len() == at + 2,
    ) else {
        return Err(s.loc.error("expected binding state STATE;"));
    };
    if !state_kw.text.eq_ignore_ascii_case("state") {
        return Err(state_kw.loc.error("expected binding state STATE;"));
    }
    Ok(match v.text.to_ascii_lowercase().as_str() {
        "free" => BindingState::Free,
        "active" | "bootp" | "reserved" => BindingState::Active,
        "expired" => BindingState::Expired,
        "released" => BindingState::Released,
        "abandoned" => BindingState::Abandoned,
        "reset" => BindingState::Reset,
        "backup" => BindingState::Backup,
        other => return Err(v.loc.error(format!("unknown binding state {other:?}"))),
    })
}

fn hardware(s: &Statement) -> Result<HwAddr, IscError> {
    let (ty, addr) = match &s.words[..] {
        [_, t, a] if t.is_text() && a.is_text() => (t, a),
        _ => return Err(s.loc.error("expected hardware TYPE XX:XX:...;")),
    };
    let htype = match ty.text.to_ascii_lowercase().as_str() {
        "ethernet" => 1,
        "token-ring" => 6,
        "fddi" => 8,
        "infiniband" => 32,
        // dhcpd writes types it has no name for as `unknown-N`.
        t => match t
            .strip_prefix("unknown-")
            .and_then(|n| n.parse::<u8>().ok())
        {
            Some(n) => n,
            None => return Err(ty.loc.error(format!("unknown hardware type {:?}", ty.text))),
        },
    };
    let octets = hex_octets(&addr.text)
        .filter(|o| o.len() <= 16)
        .ok_or_else(|| {
            addr.loc.error(format!(
                "bad hardware address {}: expected up to 16 octets XX:XX:...",
                addr.text
            ))
        })?;
    Ok(HwAddr {
        htype,
        addr: octets,
    })
}

/// `aa:b:0c` to bytes: colon-separated octets of one or two hex digits.
pub(crate) fn hex_octets(s: &str) -> Option<Vec<u8>> {
    s.split(':')
        .map(|p| {
            if (1..=2).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_hexdigit()) {
                u8::from_str_radix(p, 16).ok()
            } else {
                None
            }
        })
        .collect()
}

/// A lease-file date statement (`starts ...;`) to UNIX seconds.
fn date(s: &Statement) -> Result<u64, IscError> {
    let kw = s.keyword().unwrap_or("date").to_string();
    let w: Vec<&Token> = s.words[1..].iter().collect();
    let bad = |at: &Token| {
        at.loc.error(format!(
            "bad date for {kw}: expected W YYYY/MM/DD HH:MM:SS, epoch SECONDS or never"
        ))
    };
    if s.block.is_some() {
        return Err(s.loc.error(format!("unexpected block after {kw}")));
    }
    match &w[..] {
        [n] if n.text.eq_ignore_ascii_case("never") => Ok(NEVER),
        [e, n] if e.text.eq_ignore_ascii_case("epoch") => n.number().ok_or_else(|| bad(n)),
        [wd, d, t] => {
            if wd.number().is_none_or(|n| n > 6) {
                return Err(bad(wd));
            }
            calendar(d, t).ok_or_else(|| bad(d))
        }
        [d, t] => calendar(d, t).ok_or_else(|| bad(d)),
        [first, ..] => Err(bad(first)),
        [] => Err(s.loc.error(format!("{kw} needs a date"))),
    }
}

fn calendar(d: &Token, t: &Token) -> Option<u64> {
    let nums = |s: &str, sep: char| -> Option<Vec<u64>> {
        s.split(sep)
            .map(|p| {
                if !p.is_empty() && p.len() <= 10 && p.bytes().all(|b| b.is_ascii_digit()) {
                    p.parse().ok()
                } else {
                    None
                }
            })
            .collect()
    };
    match (&nums(&d.text, '/')?[..], &nums(&t.text, ':')?[..]) {
        ([y, mo, da], [h, mi, se]) => unix_time(*y, *mo, *da, *h, *mi, *se),
        _ => None,
    }
}

/// Seconds since 1970-01-01 00:00:00 UTC of a UTC date and time in the
/// proleptic Gregorian calendar, or `None` if the date does not exist or
/// lies before 1970. (dhcpd writes its lease times in UTC, so no time zone
/// enters.)
pub fn unix_time(year: u64, month: u64, day: u64, hour: u64, min: u64, sec: u64) -> Option<u64> {
    // Years far beyond any lease would overflow the arithmetic below.
    if !(1970..=1_000_000).contains(&year) || hour > 23 || min > 59 || sec > 59 {
        return None;
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_len = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let m = usize::try_from(month).ok()?.checked_sub(1)?;
    if day == 0 || day > *month_len.get(m)? {
        return None;
    }
    // Days from 1 January of year 1 to 1 January of `y`: 365 a year plus one
    // per leap year before it (every 4th, not every 100th, every 400th).
    let days_to_year = |y: u64| 365 * (y - 1) + (y - 1) / 4 - (y - 1) / 100 + (y - 1) / 400;
    let days_in_year: u64 = month_len[..m].iter().sum::<u64>() + day - 1;
    let days = days_to_year(year) - days_to_year(1970) + days_in_year;
    Some(days * 86_400 + hour * 3600 + min * 60 + sec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_time_matches_known_instants() {
        // Values from `date -u -d ... +%s` (and Python's calendar.timegm).
        assert_eq!(unix_time(1970, 1, 1, 0, 0, 0), Some(0));
        assert_eq!(unix_time(1970, 1, 2, 0, 0, 1), Some(86_401));
        assert_eq!(unix_time(2000, 2, 29, 0, 0, 0), Some(951_782_400));
        assert_eq!(unix_time(2000, 3, 1, 0, 0, 0), Some(951_868_800));
        assert_eq!(unix_time(2023, 11, 14, 22, 13, 20), Some(1_700_000_000));
        assert_eq!(unix_time(2024, 2, 29, 12, 0, 0), Some(1_709_208_000));
        assert_eq!(unix_time(2024, 12, 31, 23, 59, 59), Some(1_735_689_599));
        assert_eq!(unix_time(2038, 1, 19, 3, 14, 7), Some(2_147_483_647));
        assert_eq!(unix_time(2100, 3, 1, 0, 0, 0), Some(4_107_542_400));
    }

    #[test]
    fn unix_time_refuses_dates_that_do_not_exist() {
        assert_eq!(unix_time(2023, 2, 29, 0, 0, 0), None);
        assert_eq!(unix_time(2100, 2, 29, 0, 0, 0), None);
        assert_eq!(unix_time(2023, 4, 31, 0, 0, 0), None);
        assert_eq!(unix_time(2023, 0, 1, 0, 0, 0), None);
        assert_eq!(unix_time(2023, 13, 1, 0, 0, 0), None);
        assert_eq!(unix_time(2023, 1, 0, 0, 0, 0), None);
        assert_eq!(unix_time(2023, 1, 1, 24, 0, 0), None);
        assert_eq!(unix_time(2023, 1, 1, 0, 60, 0), None);
        assert_eq!(unix_time(2023, 1, 1, 0, 0, 60), None);
        assert_eq!(unix_time(1969, 12, 31, 23, 59, 59), None);
        assert_eq!(unix_time(u64::MAX, 1, 1, 0, 0, 0), None);
        assert!(unix_time(1_000_000, 12, 31, 23, 59, 59).is_some());
    }

    #[test]
    fn hex_octets_forms() {
        assert_eq!(
            hex_octets("00:24:e9:5:BB:a1"),
            Some(vec![0, 0x24, 0xe9, 5, 0xbb, 0xa1])
        );
        assert_eq!(hex_octets("1"), Some(vec![1]));
        assert_eq!(hex_octets("001:02"), None);
        assert_eq!(hex_octets("01::02"), None);
        assert_eq!(hex_octets("0g"), None);
    }
}
