//! RFC 1035 master files: text → records, with `file:line:col` errors.
//!
//! Scanning (tokens, `$ORIGIN`, `$TTL`, parentheses, escapes, `@`, relative
//! names, RFC 3597 `\#` data and the presentation format of each type) is
//! done by `domain`'s zone-file scanner. This module drives it: it follows
//! `$INCLUDE` through a caller-supplied loader (so it does no I/O itself),
//! converts each entry into a [`Record`], remembers the line each record
//! came from, and then checks the whole as a zone.

use std::fmt;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use domain::base::name::ToName;
use domain::base::rdata::ComposeRecordData;
use domain::zonefile::inplace::{Entry, Zonefile};
use std::sync::Arc;
use tandem_dns_wire::{Class, Name, Record};

use crate::zone::Zone;

/// How deep `$INCLUDE` may nest before we assume a loop.
pub const MAX_INCLUDE_DEPTH: usize = 16;

/// A zone-file error, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneFileError {
    pub file: PathBuf,
    /// 1-based; 0 when the error concerns the file as a whole.
    pub line: usize,
    /// 1-based; 0 when unknown.
    pub col: usize,
    pub message: String,
}

impl fmt::Display for ZoneFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.col) {
            (0, _) => write!(f, "{}: {}", self.file.display(), self.message),
            (l, 0) => write!(f, "{}:{}: {}", self.file.display(), l, self.message),
            (l, c) => write!(f, "{}:{}:{}: {}", self.file.display(), l, c, self.message),
        }
    }
}

impl std::error::Error for ZoneFileError {}

/// Where a record was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Shared by every record of the file: a zone's records are all in
    /// memory at once while it loads.
    pub file: Arc<Path>,
    pub line: usize,
}

/// A record with the place it was read from.
#[derive(Debug, Clone)]
pub struct LocatedRecord {
    pub record: Record,
    pub at: Origin,
}

/// The result of loading a zone file.
#[derive(Debug, Clone)]
pub struct LoadedZone {
    pub zone: Zone,
    /// Non-fatal findings (BIND would log them as warnings), located.
    pub warnings: Vec<String>,
}

/// Reads the text of a file; the zone store passes `std::fs::read_to_string`.
pub type Loader<'a> = dyn FnMut(&Path) -> std::io::Result<String> + 'a;

/// Parses the zone file at `path` for zone `origin` and checks it as a zone.
pub fn load(
    origin: &Name,
    path: &Path,
    loader: &mut Loader<'_>,
) -> Result<LoadedZone, ZoneFileError> {
    let records = parse_file(origin, path, loader)?;
    let class = records.first().map_or(Class::IN, |r| r.record.class);
    // Cloning a record is two reference counts (see `Parsed::finish`);
    // `records` stays for pointing an error at its line.
    let consumed = std::cell::Cell::new(0usize);
    let each = records.iter().map(|r| {
        consumed.set(consumed.get() + 1);
        r.record.clone()
    });
    let (zone, warnings) = Zone::from_records(origin.clone(), class, each).map_err(|e| {
        // Point at the first record the error names, else at the file.
        let named = match &e {
            crate::ZoneError::OutOfZone { owner, .. }
            | crate::ZoneError::SoaNotAtApex(owner)
            | crate::ZoneError::CnameAndOtherData(owner)
            | crate::ZoneError::MultipleCname(owner)
            | crate::ZoneError::BadRdata { owner, .. } => records
                .iter()
                .rev()
                .find(|r| &r.record.owner == owner)
                .map(|r| r.at.clone()),
            // The record being added when the check failed.
            crate::ZoneError::MultipleSoa(_) | crate::ZoneError::WrongClass { .. } => records
                .get(consumed.get().saturating_sub(1))
                .map(|r| r.at.clone()),
            _ => None,
        };
        let at = named.unwrap_or(Origin {
            file: Arc::from(path),
            line: 0,
        });
        ZoneFileError {
            file: at.file.to_path_buf(),
            line: at.line,
            col: 0,
            message: e.to_string(),
        }
    })?;
    let warnings = warnings
        .into_iter()
        .map(|w| format!("{}: {w}", path.display()))
        .collect();
    Ok(LoadedZone { zone, warnings })
}

/// Parses the zone file at `path` (and its includes) into located records,
/// without checking zone structure.
pub fn parse_file(
    origin: &Name,
    path: &Path,
    loader: &mut Loader<'_>,
) -> Result<Vec<LocatedRecord>, ZoneFileError> {
    let mut out = Parsed::default();
    parse_into(origin, path, loader, 0, &mut out)?;
    out.finish()
}

/// A zone from zone-file text that did not come from a file (tests,
/// fuzzing); warnings are dropped.
pub fn zone_from_str(origin: &Name, text: &str) -> Result<Zone, ZoneFileError> {
    let records = parse_str(origin, text)?;
    let class = records.first().map_or(Class::IN, |r| r.record.class);
    Zone::from_records(origin.clone(), class, records.into_iter().map(|r| r.record))
        .map(|(zone, _)| zone)
        .map_err(|e| ZoneFileError {
            file: PathBuf::from("<input>"),
            line: 0,
            col: 0,
            message: e.to_string(),
        })
}

/// Parses zone-file text that did not come from a file (tests, fuzzing).
pub fn parse_str(origin: &Name, text: &str) -> Result<Vec<LocatedRecord>, ZoneFileError> {
    let path = PathBuf::from("<input>");
    let mut loader = |p: &Path| -> std::io::Result<String> {
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("$INCLUDE {} is not available here", p.display()),
        ))
    };
    let mut out = Parsed::default();
    parse_text(origin, &path, text, &mut loader, 0, &mut out)?;
    out.finish()
}

/// Records as parsed, their names and data still offsets into one buffer.
#[derive(Default)]
struct Parsed {
    buf: Vec<u8>,
    records: Vec<Pending>,
}

struct Pending {
    owner: std::ops::Range<usize>,
    rtype: tandem_dns_wire::Rtype,
    class: Class,
    ttl: u32,
    rdata: std::ops::Range<usize>,
    at: Origin,
}

impl Parsed {
    /// Stores an owner name, once for a run of records with the same owner.
    fn put_owner(&mut self, wire: &[u8]) -> std::ops::Range<usize> {
        if let Some(last) = self.records.last() {
            if &self.buf[last.owner.clone()] == wire {
                return last.owner.clone();
            }
        }
        let start = self.buf.len();
        self.buf.extend_from_slice(wire);
        start..self.buf.len()
    }

    /// The records, every name and record's data a slice of one shared
    /// buffer: for a zone of small records, one allocation (and one
    /// reference count) per name and per record would be most of its
    /// memory, and a copy handed out in an answer would add a header each.
    fn finish(self) -> Result<Vec<LocatedRecord>, ZoneFileError> {
        let arena = Bytes::from(self.buf);
        let mut owner: Option<(std::ops::Range<usize>, Name)> = None;
        self.records
            .into_iter()
            .map(|p| {
                let name = match &owner {
                    Some((range, name)) if *range == p.owner => name.clone(),
                    _ => {
                        // The bytes are a name checked while parsing.
                        let name = Name::from_wire(arena.slice(p.owner.clone())).map_err(|e| {
                            ZoneFileError {
                                file: p.at.file.to_path_buf(),
                                line: p.at.line,
                                col: 0,
                                message: e.to_string(),
                            }
                        })?;
                        owner = Some((p.owner.clone(), name.clone()));
                        name
                    }
                };
                Ok(LocatedRecord {
                    record: Record::new(name, p.rtype, p.class, p.ttl, arena.slice(p.rdata)),
                    at: p.at,
                })
            })
            .collect()
    }
}

fn parse_into(
    origin: &Name,
    path: &Path,
    loader: &mut Loader<'_>,
    depth: usize,
    out: &mut Parsed,
) -> Result<(), ZoneFileError> {
    let text = loader(path).map_err(|e| ZoneFileError {
        file: path.to_path_buf(),
        line: 0,
        col: 0,
        message: format!("cannot read: {e}"),
    })?;
    parse_text(origin, path, &text, loader, depth, out)
}

fn parse_text(
    origin: &Name,
    path: &Path,
    text: &str,
    loader: &mut Loader<'_>,
    depth: usize,
    out: &mut Parsed,
) -> Result<(), ZoneFileError> {
    let err = |line: usize, col: usize, message: String| ZoneFileError {
        file: path.to_path_buf(),
        line,
        col,
        message,
    };
    let file: Arc<Path> = Arc::from(path);
    let expanded = crate::bind_ttl::expand(text);
    let text: &str = &expanded;
    let mut scanner = Zonefile::from(text);
    scanner.set_origin(to_domain_name(origin));
    scanner.set_default_class(Class::IN);
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    loop {
        let start = first_token(text, scanner.current_offset());
        let line = line_starts.partition_point(|&s| s <= start);
        let entry = match scanner.next_entry() {
            Ok(Some(entry)) => entry,
            Ok(None) => return Ok(()),
            Err(e) => {
                // domain reports "LINE:COL: message".
                let shown = e.to_string();
                let mut parts = shown.splitn(3, ':');
                let (l, c, m) = (parts.next(), parts.next(), parts.next());
                return Err(
                    match (
                        l.and_then(|l| l.parse().ok()),
                        c.and_then(|c| c.parse().ok()),
                        m,
                    ) {
                        // The scanner reports a bad last field after it has
                        // consumed the line feed, i.e. at column 1 of the next
                        // line; point at the entry's own line instead.
                        (Some(l), Some(1), Some(m)) if l > line => {
                            err(l - 1, 0, m.trim().to_string())
                        }
                        (Some(l), Some(c), Some(m)) => err(l, c, m.trim().to_string()),
                        _ => err(line, 0, shown),
                    },
                );
            }
        };
        match entry {
            Entry::Record(rec) => {
                let owner = from_domain_name(rec.owner()).map_err(|m| err(line, 0, m))?;
                let owner = out.put_owner(owner.as_wire());
                let start = out.buf.len();
                rec.data()
                    .compose_rdata(&mut out.buf)
                    .map_err(|_| err(line, 0, "record data too long".into()))?;
                if out.buf.len() - start > usize::from(u16::MAX) {
                    return Err(err(line, 0, "record data too long".into()));
                }
                out.records.push(Pending {
                    owner,
                    rtype: rec.rtype(),
                    class: Class::from_int(rec.class().to_int()),
                    ttl: rec.ttl().as_secs(),
                    rdata: start..out.buf.len(),
                    at: Origin {
                        file: file.clone(),
                        line,
                    },
                });
            }
            Entry::Include {
                path: inc,
                origin: inc_origin,
            } => {
                if depth + 1 > MAX_INCLUDE_DEPTH {
                    return Err(err(
                        line,
                        0,
                        format!("$INCLUDE nested more than {MAX_INCLUDE_DEPTH} deep (a loop?)"),
                    ));
                }
                // The scanner may hand a quoted path back with its quotes.
                let inc_text = inc.to_string();
                let inc_text = inc_text.trim_matches('"');
                let inc_path = Path::new(inc_text);
                let resolved = if inc_path.is_absolute() {
                    inc_path.to_path_buf()
                } else {
                    path.parent().unwrap_or(Path::new(".")).join(inc_path)
                };
                let inc_origin = match inc_origin {
                    Some(o) => from_domain_name(&o).map_err(|m| err(line, 0, m))?,
                    None => match scanner.origin() {
                        Ok(o) => from_domain_name(&o).map_err(|m| err(line, 0, m))?,
                        Err(_) => origin.clone(),
                    },
                };
                parse_into(&inc_origin, &resolved, loader, depth + 1, out)?;
            }
        }
    }
}

/// Skips whitespace and comments from `offset` to the first byte of the
/// next entry, so the reported line is the record's own.
fn first_token(text: &str, offset: usize) -> usize {
    let bytes = text.as_bytes();
    let mut i = offset.min(bytes.len());
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b';' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            _ => break,
        }
    }
    i
}

fn to_domain_name(name: &Name) -> domain::base::Name<Bytes> {
    // Our names are validated wire format, which is all domain checks.
    domain::base::Name::from_octets(name.to_bytes()).unwrap_or_else(|_| domain::base::Name::root())
}

fn from_domain_name(name: &impl ToName) -> Result<Name, String> {
    let mut wire = Vec::with_capacity(64);
    for label in name.iter_labels() {
        wire.push(label.len() as u8);
        wire.extend_from_slice(label.as_slice());
    }
    if wire.last() != Some(&0) {
        wire.push(0);
    }
    // An exact-size copy: a zone keeps every owner name for its lifetime,
    // and a Vec with spare capacity would keep that spare room too.
    Name::from_wire(Bytes::copy_from_slice(&wire)).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use tandem_dns_wire::Rtype;

    const HOME: &str = r#"$ORIGIN home.
$TTL 3600
@   IN SOA ns1 hostmaster ( 2024010101 ; serial
            3600 600 86400 300 )
    IN NS ns1
    IN NS ns2
    IN MX 10 mail
ns1 IN A 192.168.0.254
ns2 IN A 192.168.0.253
mail    300 IN A 192.168.0.10
www IN CNAME mail
_sip._tcp IN SRV 10 5 5060 mail
txt IN TXT "hello world" "second string"
v6  IN AAAA fd00::1
odd IN TYPE65280 \# 3 010203
caa IN CAA 0 issue "letsencrypt.org"
https IN HTTPS 1 . alpn="h2,h3"
sshfp IN SSHFP 1 1 123456789abcdef67890123456789abcdef67890
esc\.aped IN A 192.168.0.11
"#;

    fn files(map: &[(&str, &str)]) -> impl FnMut(&Path) -> std::io::Result<String> {
        let map: HashMap<PathBuf, String> = map
            .iter()
            .map(|(p, t)| (PathBuf::from(p), t.to_string()))
            .collect();
        move |p: &Path| {
            map.get(p)
                .cloned()
                .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"))
        }
    }

    #[test]
    fn loads_a_home_zone() {
        let mut loader = files(&[("/z/home.zone", HOME)]);
        let loaded = load(
            &"home.".parse().unwrap(),
            Path::new("/z/home.zone"),
            &mut loader,
        )
        .unwrap();
        let zone = loaded.zone;
        assert_eq!(zone.serial(), 2024010101);
        assert_eq!(
            zone.rrset(&"home.".parse().unwrap(), Rtype::NS)
                .unwrap()
                .rdatas
                .len(),
            2
        );
        assert_eq!(
            zone.rrset(&"mail.home.".parse().unwrap(), Rtype::A)
                .unwrap()
                .ttl,
            300
        );
        assert!(zone
            .rrset(&"odd.home.".parse().unwrap(), Rtype::from_int(65280))
            .is_some());
        assert!(zone
            .rrset(&"esc\\.aped.home.".parse().unwrap(), Rtype::A)
            .is_some());
        assert!(zone
            .rrset(&"https.home.".parse().unwrap(), Rtype::HTTPS)
            .is_some());
    }

    #[test]
    fn a_second_soa_is_reported_at_its_own_line() {
        let text = "$TTL 300\n@ SOA ns1 hm 1 2 3 4 5\n@ NS ns1\n@ SOA ns1 hm 2 2 3 4 5\nns1 A 192.0.2.1\nx A 192.0.2.2\n";
        let mut loader = files(&[("/z/two.zone", text)]);
        let e = load(
            &"home.".parse().unwrap(),
            Path::new("/z/two.zone"),
            &mut loader,
        )
        .unwrap_err();
        assert_eq!(
            (e.file.as_path(), e.line),
            (Path::new("/z/two.zone"), 4),
            "{e}"
        );
    }

    #[test]
    fn records_share_one_buffer_and_keep_their_spelling() {
        let text = "$TTL 300\n@ SOA ns1 hm 1 2 3 4 5\n@ NS ns1\nNs1 A 192.0.2.1\nns1 TXT \"x\"\n";
        let recs = parse_str(&"home.".parse().unwrap(), text).unwrap();
        assert_eq!(recs.len(), 4);
        assert_eq!(recs[2].record.owner.to_string(), "Ns1.home.");
        assert_eq!(recs[3].record.owner.to_string(), "ns1.home.");
        assert_eq!(recs[2].record.rdata.as_ref(), &[192, 0, 2, 1]);
        assert_eq!(recs[3].record.rdata.as_ref(), b"\x01x");
        assert_eq!(recs[3].at.line, 5);
    }

    #[test]
    fn includes_are_followed_with_their_origin() {
        let main = "$TTL 300\n@ SOA ns1 hm 1 2 3 4 5\n@ NS ns1\n$INCLUDE hosts.inc\n$INCLUDE sub.inc sub.home.\n";
        let mut loader = files(&[
            ("/z/main.zone", main),
            ("/z/hosts.inc", "ns1 A 192.168.0.254\n"),
            ("/z/sub.inc", "box A 192.168.0.9\n"),
        ]);
        let loaded = load(
            &"home.".parse().unwrap(),
            Path::new("/z/main.zone"),
            &mut loader,
        )
        .unwrap();
        assert!(loaded
            .zone
            .rrset(&"ns1.home.".parse().unwrap(), Rtype::A)
            .is_some());
        assert!(loaded
            .zone
            .rrset(&"box.sub.home.".parse().unwrap(), Rtype::A)
            .is_some());
    }

    #[test]
    fn include_loops_are_stopped() {
        let main = "$TTL 300\n@ SOA ns1 hm 1 2 3 4 5\n$INCLUDE main.zone\n";
        let mut loader = files(&[("/z/main.zone", main)]);
        let e = load(
            &"home.".parse().unwrap(),
            Path::new("/z/main.zone"),
            &mut loader,
        )
        .unwrap_err();
        assert!(e.message.contains("nested"), "{e}");
    }

    #[test]
    fn errors_name_file_and_line() {
        let text = "$TTL 300\n@ SOA ns1 hm 1 2 3 4 5\n@ NS ns1\nbad A 300.1.1.1\n";
        let mut loader = files(&[("/z/bad.zone", text)]);
        let e = load(
            &"home.".parse().unwrap(),
            Path::new("/z/bad.zone"),
            &mut loader,
        )
        .unwrap_err();
        assert_eq!(e.file, PathBuf::from("/z/bad.zone"));
        assert_eq!(e.line, 4, "{e}");
        let text = "$TTL 300\n@ SOA ns1 hm 1 2 3 4 5\n@ NS ns1\nx A 1.2.3.4\nx CNAME y\n";
        let mut loader = files(&[("/z/c.zone", text)]);
        let e = load(
            &"home.".parse().unwrap(),
            Path::new("/z/c.zone"),
            &mut loader,
        )
        .unwrap_err();
        assert_eq!(e.line, 5, "{e}");
        assert!(e.to_string().starts_with("/z/c.zone:5"), "{e}");
    }

    #[test]
    fn hostile_input_is_an_error_not_a_panic() {
        for text in [
            "(",
            ")",
            "$ORIGIN",
            "$INCLUDE",
            "@ IN SOA",
            "a\\",
            "\"",
            "@ TYPE1 \\# 70000 00",
            "\u{0}\u{1}",
            "$TTL -1",
            "x 1 IN A 1.2.3.4 ( ;",
        ] {
            let _ = parse_str(&"home.".parse().unwrap(), text);
        }
    }
}
