//! BIND's TTL units in zone files (`$TTL 1h`, `host 1d IN A ...`, SOA
//! timers like `3h 15m 1w 5m`), which `named-checkzone` accepts and
//! `domain`'s scanner does not. Before scanning, each token in a TTL
//! position that is written with units is rewritten as seconds. Only TTL
//! positions are touched (the `$TTL` argument, the TTL field of a record,
//! and the four SOA timers), never names or data, and line breaks are kept,
//! so errors still point at the right line.

use std::borrow::Cow;

/// One token: its byte range in the text and whether it started a line.
struct Token {
    start: usize,
    end: usize,
    line_start: bool,
}

/// Seconds for a BIND TTL with units (`1w2d3h4m5s`, case-insensitive), or
/// `None` if `s` is not one (plain numbers are left alone).
pub(crate) fn parse_units(s: &str) -> Option<u32> {
    if s.is_empty() || s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut total: u64 = 0;
    let mut num: Option<u64> = None;
    for b in s.bytes() {
        match b {
            b'0'..=b'9' => {
                num = Some(
                    num.unwrap_or(0)
                        .checked_mul(10)?
                        .checked_add((b - b'0') as u64)?,
                );
            }
            _ => {
                let mult = match b.to_ascii_lowercase() {
                    b'w' => 604_800,
                    b'd' => 86_400,
                    b'h' => 3_600,
                    b'm' => 60,
                    b's' => 1,
                    _ => return None,
                };
                total = total.checked_add(num.take()?.checked_mul(mult)?)?;
            }
        }
    }
    // A trailing bare number counts as seconds ("1h30" is 5430).
    total = total.checked_add(num.unwrap_or(0))?;
    u32::try_from(total).ok()
}

/// Splits the text into entries (a line, or several joined by parentheses)
/// of tokens, skipping comments and keeping quoted strings whole.
fn entries(text: &str) -> Vec<Vec<Token>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut cur: Vec<Token> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    let mut at_line_start = true;
    while i < b.len() {
        match b[i] {
            b'\n' => {
                if depth == 0 && !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                at_line_start = true;
                i += 1;
            }
            b' ' | b'\t' | b'\r' => {
                at_line_start = false;
                i += 1;
            }
            b';' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'(' => {
                depth += 1;
                at_line_start = false;
                i += 1;
            }
            b')' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'"' => {
                let start = i;
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i = (i + 1).min(b.len());
                cur.push(Token {
                    start,
                    end: i,
                    line_start: false,
                });
                at_line_start = false;
            }
            _ => {
                let start = i;
                while i < b.len()
                    && !matches!(
                        b[i],
                        b' ' | b'\t' | b'\r' | b'\n' | b';' | b'(' | b')' | b'"'
                    )
                {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                let i_end = i.min(b.len());
                cur.push(Token {
                    start,
                    end: i_end,
                    line_start: at_line_start,
                });
                i = i_end;
                at_line_start = false;
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn is_class(s: &str) -> bool {
    let u = s.to_ascii_uppercase();
    matches!(u.as_str(), "IN" | "CH" | "CS" | "HS" | "NONE" | "ANY") || u.starts_with("CLASS")
}

fn is_ttl(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) || parse_units(s).is_some()
}

/// The text with every TTL written in units replaced by seconds.
pub(crate) fn expand(text: &str) -> Cow<'_, str> {
    // Fast path: no letter that could be a unit follows a digit.
    let b = text.as_bytes();
    let maybe = b.windows(2).any(|w| {
        w[0].is_ascii_digit()
            && matches!(w[1].to_ascii_lowercase(), b'w' | b'd' | b'h' | b'm' | b's')
    });
    if !maybe {
        return Cow::Borrowed(text);
    }
    let mut replace: Vec<(usize, usize, u32)> = Vec::new();
    let word = |t: &Token| &text[t.start..t.end];
    for entry in entries(text) {
        let first = word(&entry[0]);
        if first.starts_with('$') {
            if first.eq_ignore_ascii_case("$TTL") {
                if let Some(t) = entry.get(1) {
                    if let Some(secs) = parse_units(word(t)) {
                        replace.push((t.start, t.end, secs));
                    }
                }
            }
            continue;
        }
        // An entry that starts at column 1 begins with its owner name.
        let mut i = usize::from(entry[0].line_start);
        // Up to two of class and TTL, in either order.
        for _ in 0..2 {
            let Some(t) = entry.get(i) else { break };
            let w = word(t);
            if is_class(w) {
                i += 1;
            } else if is_ttl(w) {
                if let Some(secs) = parse_units(w) {
                    replace.push((t.start, t.end, secs));
                }
                i += 1;
            } else {
                break;
            }
        }
        let Some(rtype) = entry.get(i) else { continue };
        if word(rtype).eq_ignore_ascii_case("SOA") {
            // MNAME RNAME SERIAL REFRESH RETRY EXPIRE MINIMUM
            for t in entry.iter().skip(i + 4).take(4) {
                if let Some(secs) = parse_units(word(t)) {
                    replace.push((t.start, t.end, secs));
                }
            }
        }
    }
    if replace.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    for (start, end, secs) in replace {
        out.push_str(&text[pos..start]);
        out.push_str(&secs.to_string());
        pos = end;
    }
    out.push_str(&text[pos..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_units("1h"), Some(3600));
        assert_eq!(
            parse_units("1W2d3H4m5S"),
            Some(604_800 + 172_800 + 10_800 + 240 + 5)
        );
        assert_eq!(parse_units("1h30"), Some(3630));
        assert_eq!(parse_units("3600"), None);
        assert_eq!(parse_units("h"), None);
        assert_eq!(parse_units("1x"), None);
        assert_eq!(parse_units("99999999w"), None);
    }

    #[test]
    fn only_ttl_positions_change() {
        let text = "$TTL 1h\n@ IN SOA ns 1h ( 1 3h 15m 1w 5m )\n1h 1d IN CNAME 1h.example.\n  2h A 192.0.2.1\nx TXT \"1h\" 1h\n";
        let out = expand(text);
        assert_eq!(
            out,
            "$TTL 3600\n@ IN SOA ns 1h ( 1 10800 900 604800 300 )\n1h 86400 IN CNAME 1h.example.\n  7200 A 192.0.2.1\nx TXT \"1h\" 1h\n"
        );
        assert_eq!(out.lines().count(), text.lines().count());
    }

    #[test]
    fn plain_files_are_untouched() {
        let text = "$TTL 3600\n@ SOA ns h 1 2 3 4 5\n";
        assert!(matches!(expand(text), Cow::Borrowed(_)));
    }
}
