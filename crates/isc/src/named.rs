//! named.conf import: BIND's configuration to tandem's TOML.
//!
//! This module owns the meaning of named.conf statements and their
//! translation. It reads the tree from [`crate::parser`] (includes already
//! resolved), keys through [`crate::keys`], and writes tandem's
//! configuration schema (`[server]`, `[dns]`, `[[key]]`, `[[zone]]`) with
//! [`crate::toml_text`].
//!
//! Choices made for the output:
//!
//! - Keys are inlined: each `key` statement (from named.conf or a key file it
//!   includes) becomes a `[[key]]` table with its secret, and no
//!   `[server] key-files` entry is written, so the output is one file plus
//!   zone files. [`Import::key_files`] names where the secrets came from.
//! - Zone files are copied by the caller: [`Import::zone_files`] pairs each
//!   source (relative `file` paths resolved against `options { directory }`,
//!   or named.conf's directory without one) with `zones/<file name>`, made
//!   unique, which is what the `[[zone]] file` entries say.
//! - `listen-on`/`listen-on-v6` become `[dns] listen` (`any` is the wildcard
//!   address of that family, `none` nothing); without either, `[dns]` is left
//!   out and a comment says so.
//!
//! - Secondary zones (`type slave|secondary`) become `type = "secondary"`
//!   with `primaries` from their `masters`/`primaries` list (named lists
//!   resolved, ports kept as `ADDR:PORT`) and `transfer-key` from the first
//!   `key` in it: tandem signs every transfer with one key, so a primary
//!   with another key, or none, is reported. Their `file` is not copied:
//!   tandem keeps a secondary's copy in its state directory. BIND's
//!   `transfer-source` and `transfer-source-v6` become the one
//!   `transfer-source` of the primaries' family.
//!
//! Everything that is not translated is listed in [`Import::untranslated`]
//! with a reason, and repeated as comments at the end of the TOML: nothing
//! is dropped silently. Where an address match list cannot be translated
//! exactly, the import fails closed: an element that would have allowed
//! access is left out; one that would have refused access makes the whole
//! list `["none"]`.
//!
//! What BIND itself would reject (a zone without a type, a key without a
//! secret, a malformed statement the import depends on) is an [`IscError`].

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use tandem_dns_wire::Name;

use crate::keys::{key_from_statement, KeyDef};
use crate::lexer::{Token, TokenKind};
use crate::parser::{parse_file, Statement};
use crate::toml_text::{string, string_array};
use crate::{IscError, Location};

/// The result of importing a named.conf.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Import {
    /// tandem's configuration file text.
    pub toml: String,
    /// Zone files to copy: (source path, resolved; destination relative to
    /// the new configuration file, `zones/<file name>`).
    pub zone_files: Vec<(PathBuf, String)>,
    /// The files the `key` statements came from (named.conf itself or the
    /// key files it includes), in order of first use.
    ///
    /// Keys are *inlined*: every `key` statement becomes a `[[key]]` table in
    /// [`Import::toml`], secret included, and `[server] key-files` is not
    /// written. There is nothing to copy; the list is for telling the user
    /// that the secrets from these files now live in the new configuration,
    /// which must be kept as private as they were.
    pub key_files: Vec<PathBuf>,
    /// What was not translated or only approximated: `options` first, then
    /// the other statements in file order.
    pub untranslated: Vec<Untranslated>,
    /// The `key` statements, in file order (written as `[[key]]` tables).
    pub keys: Vec<KeyDef>,
    pub(crate) source: PathBuf,
    /// `[dns]`, or the comment that stands for it.
    pub(crate) dns_section: String,
    /// The `[[zone]]` tables.
    pub(crate) zones_section: String,
}

/// One statement (or part of one) that the import did not translate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Untranslated {
    pub loc: Location,
    /// The statement on one line, as [`Statement::render`] writes it.
    pub statement: String,
    pub reason: String,
}

const AUTHORITATIVE_ONLY: &str = "tandem is authoritative-only for now";
const RESOLVER: &str = "forwarding arrives with the resolver issue";
const SECONDARY_ONLY: &str = "only used by secondary zones";
const SECONDARY_FILE: &str = "tandem keeps a secondary's copy in its state directory";
const DNSSEC_SIGNING: &str = "DNSSEC signing is not supported";
const FILES: &str = "tandem keeps its own files under [server] state-dir";
const UNSUPPORTED: &str = "not supported by tandem's configuration";

/// Reads `path` (and its includes) through `loader` and translates it.
pub fn import_named_conf(
    path: &Path,
    loader: &mut dyn FnMut(&Path) -> io::Result<String>,
) -> Result<Import, IscError> {
    let stmts = parse_file(path, loader)?;
    import_statements(&stmts, path)
}

/// Translates an already parsed named.conf; `path` names it in the header
/// and is the base for a relative `directory`.
pub fn import_statements(stmts: &[Statement], path: &Path) -> Result<Import, IscError> {
    let mut im = Importer {
        acls: HashMap::new(),
        lists: HashMap::new(),
        used_lists: HashSet::new(),
        untranslated: Vec::new(),
        conf_dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        directory: None,
        listen: Vec::new(),
        listen_given: false,
        defaults: ZoneOptions::default(),
        keys: Vec::new(),
        zones: Vec::new(),
        zone_files: Vec::new(),
    };
    for st in stmts.iter().filter(|s| s.is("acl")) {
        let name = match (&st.words[..], &st.block) {
            ([_, n], Some(_)) if n.is_text() => n.text.to_ascii_lowercase(),
            _ => return Err(st.loc.error("expected acl NAME { ... };")),
        };
        im.acls.insert(name, st);
    }
    for st in stmts
        .iter()
        .filter(|s| s.is("masters") || s.is("primaries"))
    {
        // A malformed list is reported where it stands (see `top`).
        if let ([_, n, ..], Some(_)) = (&st.words[..], &st.block) {
            if n.is_text() {
                let name = n.text.to_ascii_lowercase();
                if let Some(first) = im.lists.get(&name) {
                    return Err(st.loc.error(format!(
                        "primaries list {} is defined twice (first at {})",
                        n.render(),
                        first.loc
                    )));
                }
                im.lists.insert(name, st);
            }
        }
    }
    im.used_lists = used_lists(stmts, &im.lists);
    // Options first: `directory` and the zone defaults apply to every zone.
    for st in stmts.iter().filter(|s| s.is("options")) {
        im.options(st)?;
    }
    for st in stmts {
        im.top(st)?;
    }
    // BIND refuses a transfer key it does not know; so does tandem's check.
    for z in &im.zones {
        if let ZoneKind::Secondary {
            transfer_key: Some((k, loc)),
            ..
        } = &z.kind
        {
            let known = k
                .parse::<Name>()
                .is_ok_and(|n| im.keys.iter().any(|d| d.name == n));
            if !known {
                return Err(loc.error(format!("zone {}: key {k} is not defined", string(&z.name))));
            }
        }
    }
    Ok(im.finish(path))
}

/// Zone options that named.conf's `options` may also set as defaults.
#[derive(Clone, Debug, Default)]
struct ZoneOptions {
    allow_query: Option<Vec<String>>,
    allow_transfer: Option<Vec<String>>,
    allow_update: Option<Vec<String>>,
    also_notify: Option<Vec<String>>,
    /// `notify yes|no|explicit|primary-only` (master-only), lowercased.
    notify: Option<String>,
    journal_max_size: Option<u64>,
    allow_notify: Option<Vec<String>>,
    allow_update_forwarding: Option<Vec<String>>,
    /// `transfer-source` and `transfer-source-v6` (tandem has one key for
    /// both; which one applies depends on the primaries' family).
    transfer_source: Option<Source>,
    transfer_source_v6: Option<Source>,
}

/// A `transfer-source` statement: the address (`None` for `*`) and where
/// it was written, for reporting it if it cannot apply.
#[derive(Clone, Debug)]
struct Source {
    ip: Option<IpAddr>,
    loc: Location,
    text: String,
    /// Written in the zone (not inherited from `options`).
    in_zone: bool,
}

/// One primary of a secondary zone, as its `masters` list gives it.
struct Primary {
    /// `ADDR` or `ADDR:PORT`, as tandem reads it.
    addr: String,
    ip: IpAddr,
    /// The key name and where it was written.
    key: Option<(String, Location)>,
    loc: Location,
    text: String,
}

enum ZoneKind {
    Primary {
        file: String,
    },
    Secondary {
        primaries: Vec<String>,
        transfer_key: Option<(String, Location)>,
        transfer_source: Option<IpAddr>,
    },
}

struct ZoneOut {
    name: String,
    kind: ZoneKind,
    opts: ZoneOptions,
    /// Rendered inline tables.
    update_policy: Option<Vec<String>>,
}

struct Importer<'a> {
    acls: HashMap<String, &'a Statement>,
    /// Top-level `masters NAME { ... };` lists, by lowercased name.
    lists: HashMap<String, &'a Statement>,
    /// The lists some zone refers to (directly or through another list).
    used_lists: HashSet<String>,
    untranslated: Vec<Untranslated>,
    conf_dir: PathBuf,
    directory: Option<PathBuf>,
    listen: Vec<String>,
    listen_given: bool,
    defaults: ZoneOptions,
    keys: Vec<KeyDef>,
    zones: Vec<ZoneOut>,
    zone_files: Vec<(PathBuf, String)>,
}

/// An element of an address match list, flattened.
enum Elem {
    Ok(String),
    /// Translated approximately; the caller reports why.
    Note {
        loc: Location,
        text: String,
        why: String,
    },
    /// Cannot be translated; `denies` if it would have refused access.
    Bad {
        loc: Location,
        text: String,
        why: String,
        denies: bool,
    },
}

fn strip_dot(s: &str) -> &str {
    match s.strip_suffix('.') {
        Some(t) if !t.is_empty() => t,
        _ => s,
    }
}

/// An address or prefix in the form tandem reads; BIND's short IPv4
/// prefixes (`10/8`, `192.168/16`) are completed with zeros.
fn address_or_prefix(text: &str) -> Option<String> {
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let ip = match addr.parse::<IpAddr>() {
        Ok(ip) => ip,
        Err(_) => {
            prefix?;
            let octets: Vec<&str> = addr.split('.').collect();
            if octets.is_empty()
                || octets.len() > 3
                || !octets.iter().all(|o| o.parse::<u8>().is_ok())
            {
                return None;
            }
            let mut full: Vec<&str> = octets;
            full.resize(4, "0");
            full.join(".").parse().ok()?
        }
    };
    match prefix {
        None => Some(ip.to_string()),
        Some(p) => {
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let p: u8 = p.parse().ok().filter(|p| *p <= max)?;
            Some(format!("{ip}/{p}"))
        }
    }
}

/// A record type mnemonic, as update-policy rules list them.
fn looks_like_type(s: &str) -> bool {
    const TYPES: &[&str] = &[
        "A",
        "AAAA",
        "ANY",
        "CAA",
        "CDNSKEY",
        "CDS",
        "CNAME",
        "DHCID",
        "DNAME",
        "DNSKEY",
        "DS",
        "HINFO",
        "HTTPS",
        "KEY",
        "LOC",
        "MX",
        "NAPTR",
        "NS",
        "NSEC",
        "NSEC3",
        "NSEC3PARAM",
        "OPENPGPKEY",
        "PTR",
        "RP",
        "RRSIG",
        "SOA",
        "SPF",
        "SRV",
        "SSHFP",
        "SVCB",
        "TLSA",
        "TXT",
        "URI",
        "ZONEMD",
    ];
    let u = s.to_ascii_uppercase();
    TYPES.contains(&u.as_str())
        || u.strip_prefix("TYPE")
            .is_some_and(|n| !n.is_empty() && n.parse::<u16>().is_ok())
}

/// A size as `max-journal-size` writes it (`512k`, `10M`, `1g`, bytes).
fn size(text: &str) -> Option<u64> {
    let t = text.to_ascii_lowercase();
    let (num, mult) = match t.as_bytes().last()? {
        b'k' => (&t[..t.len() - 1], 1u64 << 10),
        b'm' => (&t[..t.len() - 1], 1 << 20),
        b'g' => (&t[..t.len() - 1], 1 << 30),
        _ => (&t[..], 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mult)
}

impl<'a> Importer<'a> {
    fn skip(&mut self, st: &Statement, reason: impl Into<String>) {
        let mut statement = st.render();
        if statement.chars().count() > 160 {
            statement = statement.chars().take(157).collect::<String>() + "...";
        }
        self.untranslated.push(Untranslated {
            loc: st.loc.clone(),
            statement,
            reason: reason.into(),
        });
    }

    fn top(&mut self, st: &'a Statement) -> Result<(), IscError> {
        let kw = st.keyword().unwrap_or("").to_ascii_lowercase();
        match kw.as_str() {
            "key" => {
                let k = key_from_statement(st)?;
                if let Some(first) = self.keys.iter().find(|f| f.name == k.name) {
                    return Err(st.loc.error(format!(
                        "key {} is defined twice (first at {})",
                        k.name_text(),
                        first.loc
                    )));
                }
                self.keys.push(k);
            }
            "acl" | "options" => {}
            "zone" => self.zone(st)?,
            "controls" => self.skip(
                st,
                "rndc control channels have no equivalent: tandem is controlled through [server] control-socket",
            ),
            "logging" => self.skip(st, "logging channels and categories have no equivalent in tandem's configuration"),
            "view" => self.skip(st, "views are not supported (tandem serves one set of zones to every client)"),
            "statistics-channels" => self.skip(st, "statistics channels are not supported"),
            "masters" | "primaries" => self.top_list(st),
            "server" => self.skip(st, "per-server settings are not supported"),
            "trusted-keys" | "managed-keys" | "trust-anchors" => {
                self.skip(st, format!("trust anchors are for DNSSEC validation; {AUTHORITATIVE_ONLY}"))
            }
            "dnssec-policy" => self.skip(st, DNSSEC_SIGNING),
            "tls" | "http" => self.skip(st, "DNS over TLS and HTTPS are not supported"),
            "include" => self.skip(st, "include was not resolved (import the file with import_named_conf)"),
            _ => self.skip(st, "unknown statement"),
        }
        Ok(())
    }

    fn options(&mut self, st: &'a Statement) -> Result<(), IscError> {
        for o in st.children() {
            let kw = o.keyword().unwrap_or("").to_ascii_lowercase();
            match kw.as_str() {
                "directory" => {
                    let dir = match &o.words[..] {
                        [_, d] if d.is_text() => PathBuf::from(&d.text),
                        _ => return Err(o.loc.error("expected directory \"PATH\";")),
                    };
                    self.directory = Some(if dir.is_relative() {
                        self.conf_dir.join(dir)
                    } else {
                        dir
                    });
                }
                "listen-on" | "listen-on-v6" => self.listen_on(o, kw == "listen-on-v6"),
                "allow-query" | "allow-transfer" | "allow-update" => {
                    let list = self.acl_option(o, "options");
                    let slot = match kw.as_str() {
                        "allow-query" => &mut self.defaults.allow_query,
                        "allow-transfer" => &mut self.defaults.allow_transfer,
                        _ => &mut self.defaults.allow_update,
                    };
                    *slot = Some(list);
                }
                "also-notify" => self.defaults.also_notify = Some(self.also_notify(o)),
                "notify" => {
                    if let Some(n) = self.notify_option(o) {
                        self.defaults.notify = Some(n);
                    }
                }
                "allow-notify" => self.defaults.allow_notify = Some(self.acl_option(o, "options")),
                "allow-update-forwarding" => {
                    self.defaults.allow_update_forwarding = Some(self.acl_option(o, "options"))
                }
                "transfer-source" => {
                    if let Some(s) = self.transfer_source(o, false) {
                        self.defaults.transfer_source = Some(s);
                    }
                }
                "transfer-source-v6" => {
                    if let Some(s) = self.transfer_source(o, false) {
                        self.defaults.transfer_source_v6 = Some(s);
                    }
                }
                "max-journal-size" => {
                    self.journal_size(o, true);
                }
                "forwarders" | "forward" => self.skip(o, RESOLVER),
                "recursion"
                | "allow-recursion"
                | "allow-recursion-on"
                | "allow-query-cache"
                | "allow-query-cache-on"
                | "dnssec-validation"
                | "dnssec-enable"
                | "dnssec-lookaside"
                | "auth-nxdomain"
                | "empty-zones-enable"
                | "max-cache-size"
                | "max-cache-ttl"
                | "max-ncache-ttl"
                | "prefetch"
                | "qname-minimization"
                | "query-source"
                | "query-source-v6"
                | "resolver-query-timeout"
                | "root-delegation-only"
                | "bindkeys-file"
                | "managed-keys-directory"
                | "trust-anchor-telemetry"
                | "stale-answer-enable"
                | "minimal-any" => self.skip(o, AUTHORITATIVE_ONLY),
                "pid-file" | "session-keyfile" | "session-keyname" | "session-keyalg"
                | "dump-file" | "statistics-file" | "memstatistics-file" | "key-directory"
                | "secroots-file" | "recursing-file" => self.skip(o, FILES),
                "dnssec-policy" | "inline-signing" | "auto-dnssec" => self.skip(o, DNSSEC_SIGNING),
                _ => self.skip(o, UNSUPPORTED),
            }
        }
        Ok(())
    }

    fn listen_on(&mut self, o: &Statement, v6: bool) {
        self.listen_given = true;
        let mut port = 53u16;
        let mut rest = &o.words[1..];
        while let [k, v, tail @ ..] = rest {
            if !k.text.eq_ignore_ascii_case("port") {
                break;
            }
            match v.text.parse() {
                Ok(p) => port = p,
                Err(_) => break,
            }
            rest = tail;
        }
        if !rest.is_empty() || o.block.is_none() || o.tail.is_some() {
            self.skip(o, "only `port` and an address list can be translated here");
            return;
        }
        let fmt = |ip: IpAddr| match ip {
            IpAddr::V4(a) => format!("{a}:{port}"),
            IpAddr::V6(a) => format!("[{a}]:{port}"),
        };
        for el in o.children() {
            let addr = match (&el.words[..], &el.block) {
                ([w], None) if w.is_text() => Some(w.text.to_ascii_lowercase()),
                _ => None,
            };
            let addrs: Vec<IpAddr> = match addr.as_deref() {
                Some("none") => continue,
                Some("any") => vec![if v6 { "::" } else { "0.0.0.0" }.parse().expect("literal")],
                Some(a) => match a.parse::<IpAddr>() {
                    Ok(ip) => vec![ip],
                    Err(_) => Vec::new(),
                },
                None => Vec::new(),
            };
            if addrs.is_empty() {
                self.skip(
                    el,
                    format!(
                        "{}: tandem listens on exact addresses; only addresses, any and none can be translated",
                        o.keyword().unwrap_or("listen-on")
                    ),
                );
            }
            for a in addrs {
                let s = fmt(a);
                if !self.listen.contains(&s) {
                    self.listen.push(s);
                }
            }
        }
    }

    /// `notify yes|no|explicit|primary-only|master-only;`.
    fn notify_option(&mut self, o: &Statement) -> Option<String> {
        match &o.words[..] {
            [_, v] if v.is_text() => {
                let v = v.text.to_ascii_lowercase();
                match v.as_str() {
                    "yes" | "true" | "1" => Some("yes".into()),
                    "no" | "false" | "0" => Some("no".into()),
                    "explicit" => Some("explicit".into()),
                    "master-only" | "primary-only" => Some("primary-only".into()),
                    _ => {
                        self.skip(
                            o,
                            format!("notify {v}: expected yes, no, explicit or primary-only"),
                        );
                        None
                    }
                }
            }
            _ => {
                self.skip(o, "expected notify yes|no|explicit|primary-only;");
                None
            }
        }
    }

    fn journal_size(&mut self, o: &Statement, default: bool) -> Option<u64> {
        let v = match &o.words[..] {
            [_, v] if v.is_text() && o.block.is_none() => v.text.as_str(),
            _ => {
                self.skip(o, "expected max-journal-size SIZE;");
                return None;
            }
        };
        let n = match v.to_ascii_lowercase().as_str() {
            "unlimited" => Some(u64::MAX),
            "default" => None,
            _ => match size(v) {
                Some(n) => Some(n),
                None => {
                    self.skip(o, "cannot read this size");
                    return None;
                }
            },
        };
        if default {
            self.defaults.journal_max_size = n;
        }
        n
    }

    /// An address match list option, flattened to tandem's element texts.
    fn acl_option(&mut self, o: &Statement, ctx: &str) -> Vec<String> {
        let kw = o.keyword().unwrap_or("").to_string();
        if o.words.len() != 1 || o.block.is_none() || o.tail.is_some() {
            self.skip(
                o,
                format!("{ctx} {kw}: expected {kw} {{ ... }}; (failing closed: none)"),
            );
            return vec!["none".into()];
        }
        let mut elems = Vec::new();
        let mut stack = Vec::new();
        self.acl_elems(o.children(), false, &mut stack, &mut elems);
        let fail_closed = elems
            .iter()
            .any(|e| matches!(e, Elem::Bad { denies: true, .. }));
        let mut out = Vec::new();
        for e in elems {
            match e {
                Elem::Ok(s) => out.push(s),
                Elem::Note { loc, text, why } => self.untranslated.push(Untranslated {
                    loc,
                    statement: text,
                    reason: format!("{ctx} {kw}: {why}"),
                }),
                Elem::Bad {
                    loc,
                    text,
                    why,
                    denies,
                } => {
                    let consequence = if fail_closed {
                        "the whole list became [\"none\"] because a refusal was lost"
                    } else if denies {
                        "left out"
                    } else {
                        "left out (this only refuses more)"
                    };
                    self.untranslated.push(Untranslated {
                        loc,
                        statement: text,
                        reason: format!("{ctx} {kw}: {why}; {consequence}"),
                    });
                }
            }
        }
        if fail_closed {
            vec!["none".into()]
        } else {
            out
        }
    }

    fn acl_elems(
        &self,
        list: &[Statement],
        negated: bool,
        stack: &mut Vec<String>,
        out: &mut Vec<Elem>,
    ) {
        for el in list {
            let (neg, words) = match el.words.first() {
                Some(t) if t.kind == TokenKind::Bang => (true, &el.words[1..]),
                _ => (false, &el.words[..]),
            };
            // The element refuses access if exactly one of the enclosing
            // list and the element is negated.
            let denies = neg != negated;
            let bad = |why: &str| Elem::Bad {
                loc: el.loc.clone(),
                text: el.render(),
                why: why.to_string(),
                denies,
            };
            if negated && neg {
                // Whether BIND's double negation allows or refuses is not
                // something to guess at: treat it as a lost refusal.
                out.push(Elem::Bad {
                    loc: el.loc.clone(),
                    text: el.render(),
                    why: "a negation inside a negated list cannot be flattened".into(),
                    denies: true,
                });
                continue;
            }
            let prefix = if denies { "!" } else { "" };
            if el.block.is_some() || el.tail.is_some() {
                if words.is_empty() && el.tail.is_none() {
                    self.acl_elems(el.children(), denies, stack, out);
                } else {
                    out.push(bad("unexpected element"));
                }
                continue;
            }
            match words {
                [w] if w.is_text() => {
                    let lower = w.text.to_ascii_lowercase();
                    match lower.as_str() {
                        "any" | "none" => out.push(Elem::Ok(format!("{prefix}{lower}"))),
                        "localhost" => {
                            out.push(Elem::Ok(format!("{prefix}127.0.0.1")));
                            out.push(Elem::Ok(format!("{prefix}::1")));
                            out.push(Elem::Note {
                                loc: el.loc.clone(),
                                text: el.render(),
                                why: "localhost was approximated as 127.0.0.1 and ::1 (BIND also matches the host's other addresses)".into(),
                            });
                        }
                        "localnets" => out.push(bad(
                            "localnets depends on the host's interfaces and has no equivalent",
                        )),
                        _ => {
                            if let Some(a) = address_or_prefix(&w.text) {
                                out.push(Elem::Ok(format!("{prefix}{a}")));
                            } else if let Some(acl) = self.acls.get(&lower).copied() {
                                if stack.contains(&lower) {
                                    out.push(bad("the acl refers to itself"));
                                } else {
                                    stack.push(lower);
                                    self.acl_elems(acl.children(), denies, stack, out);
                                    stack.pop();
                                }
                            } else {
                                out.push(bad("undefined acl"));
                            }
                        }
                    }
                }
                [k, n] if k.text.eq_ignore_ascii_case("key") && n.is_text() => {
                    match n.text.parse::<Name>() {
                        Ok(_) => out.push(Elem::Ok(format!("{prefix}key {}", strip_dot(&n.text)))),
                        Err(_) => out.push(bad("bad key name")),
                    }
                }
                [g, ..] if g.text.eq_ignore_ascii_case("geoip") => {
                    out.push(bad("geoip elements are not supported"))
                }
                _ => out.push(bad("unexpected element")),
            }
        }
    }

    /// `also-notify [port P] { ADDR [port P]; ... };` to `ADDR:PORT` texts.
    fn also_notify(&mut self, o: &Statement) -> Vec<String> {
        let mut port = None;
        match &o.words[1..] {
            [] => {}
            [k, v] if k.text.eq_ignore_ascii_case("port") && v.text.parse::<u16>().is_ok() => {
                port = v.text.parse::<u16>().ok()
            }
            _ => {
                self.skip(
                    o,
                    "only `port` and a list of addresses can be translated here",
                );
                return Vec::new();
            }
        }
        let mut out = Vec::new();
        for el in o.children() {
            let parsed = match (&el.words[..], &el.block) {
                ([a], None) if a.is_text() => a.text.parse::<IpAddr>().ok().map(|ip| (ip, port)),
                ([a, k, p], None) if a.is_text() && k.text.eq_ignore_ascii_case("port") => {
                    match (a.text.parse::<IpAddr>(), p.text.parse::<u16>()) {
                        (Ok(ip), Ok(p)) => Some((ip, Some(p))),
                        _ => None,
                    }
                }
                _ => None,
            };
            match parsed {
                Some((ip, None)) => out.push(ip.to_string()),
                Some((IpAddr::V4(a), Some(p))) => out.push(format!("{a}:{p}")),
                Some((IpAddr::V6(a), Some(p))) => out.push(format!("[{a}]:{p}")),
                None => self.skip(
                    el,
                    "also-notify: only ADDRESS [port PORT] can be translated (no primaries lists, keys or TLS)",
                ),
            }
        }
        out
    }

    /// A top-level `masters NAME { ... };`: translated where a zone uses
    /// it (its addresses are written into that zone's `primaries`).
    fn top_list(&mut self, st: &Statement) {
        let kw = st.keyword().unwrap_or("masters").to_ascii_lowercase();
        match (&st.words[..], &st.block) {
            ([_, n, ..], Some(_)) if n.is_text() => {
                if !self.used_lists.contains(&n.text.to_ascii_lowercase()) {
                    self.skip(
                        st,
                        format!(
                            "primaries list {} is not used by any secondary zone",
                            n.render()
                        ),
                    );
                }
            }
            _ => self.skip(
                st,
                format!("expected {kw} NAME [port PORT] {{ ADDRESS [port PORT] [key KEY]; ... }};"),
            ),
        }
    }

    /// `transfer-source (ADDR | *) [port P] [dscp D];`: the address, with
    /// what cannot be kept reported.
    fn transfer_source(&mut self, o: &Statement, in_zone: bool) -> Option<Source> {
        let kw = o.keyword().unwrap_or("transfer-source").to_string();
        let (addr, mut rest) = match &o.words[..] {
            [_, a, rest @ ..] if a.is_text() && o.block.is_none() && o.tail.is_none() => (a, rest),
            _ => {
                self.skip(o, format!("expected {kw} ADDRESS [port PORT];"));
                return None;
            }
        };
        let ip = if addr.text == "*" {
            None
        } else {
            match addr.text.parse::<IpAddr>() {
                Ok(ip) => Some(ip),
                Err(_) => {
                    self.skip(o, format!("{kw}: cannot read this address"));
                    return None;
                }
            }
        };
        let mut dropped = Vec::new();
        while let [k, v, tail @ ..] = rest {
            match k.text.to_ascii_lowercase().as_str() {
                "port" if v.text != "*" => {
                    dropped.push(format!("port {} (tandem picks the source port)", v.text))
                }
                "port" => {}
                "dscp" => dropped.push(format!("dscp {} (tandem sets no DSCP)", v.text)),
                _ => break,
            }
            rest = tail;
        }
        if !rest.is_empty() {
            self.skip(o, format!("expected {kw} ADDRESS [port PORT];"));
            return None;
        }
        if !dropped.is_empty() {
            self.skip(
                o,
                format!(
                    "{kw}: only the address was translated; dropped {}",
                    dropped.join(", ")
                ),
            );
        }
        Some(Source {
            ip,
            loc: o.loc.clone(),
            text: o.render(),
            in_zone,
        })
    }

    /// `[port P] [dscp D]` after a primaries list's keyword (and name):
    /// the port; `None` as the error if the words are something else.
    fn list_port(&mut self, st: &Statement, mut words: &[Token]) -> Result<Option<u16>, ()> {
        let mut port = None;
        while let [k, v, tail @ ..] = words {
            match k.text.to_ascii_lowercase().as_str() {
                "port" => port = Some(v.text.parse::<u16>().map_err(|_| ())?),
                "dscp" => self.skip(
                    st,
                    format!("dscp {} was dropped (tandem sets no DSCP)", v.text),
                ),
                _ => return Err(()),
            }
            words = tail;
        }
        if words.is_empty() {
            Ok(port)
        } else {
            Err(())
        }
    }

    /// The elements of a primaries list, named lists resolved, appended to
    /// `out`; `port` and `key` are the defaults from where the list is
    /// used. Elements that cannot be translated are reported and left out.
    fn primaries(
        &mut self,
        list: &'a [Statement],
        port: Option<u16>,
        key: Option<&(String, Location)>,
        stack: &mut Vec<String>,
        ctx: &str,
        out: &mut Vec<Primary>,
    ) -> Result<(), IscError> {
        for el in list {
            let bad_shape = || {
                el.loc.error(format!(
                    "{ctx}: expected ADDRESS [port PORT] [key KEY]; or a primaries list name"
                ))
            };
            let (first, mut rest) = match &el.words[..] {
                [f, rest @ ..] if f.is_text() && el.block.is_none() && el.tail.is_none() => {
                    (f, rest)
                }
                _ => return Err(bad_shape()),
            };
            let mut el_port = None;
            let mut el_key = None;
            let mut tls = None;
            while let [k, v, tail @ ..] = rest {
                match k.text.to_ascii_lowercase().as_str() {
                    "port" => {
                        el_port =
                            Some(v.text.parse::<u16>().map_err(|_| {
                                v.loc.error(format!("{ctx}: bad port {:?}", v.text))
                            })?)
                    }
                    "key" if v.is_text() => {
                        el_key = Some((strip_dot(&v.text).to_string(), v.loc.clone()))
                    }
                    "tls" => tls = Some(v.text.clone()),
                    _ => return Err(bad_shape()),
                }
                rest = tail;
            }
            if !rest.is_empty() {
                return Err(bad_shape());
            }
            if let Some(t) = tls {
                self.skip(
                    el,
                    format!("{ctx}: zone transfers over TLS ({t}) are not supported; this primary was left out"),
                );
                continue;
            }
            let key = el_key.as_ref().or(key);
            let port = el_port.or(port);
            if let Ok(ip) = first.text.parse::<IpAddr>() {
                let addr = match (ip, port) {
                    (ip, None) => ip.to_string(),
                    (IpAddr::V4(a), Some(p)) => format!("{a}:{p}"),
                    (IpAddr::V6(a), Some(p)) => format!("[{a}]:{p}"),
                };
                out.push(Primary {
                    addr,
                    ip,
                    key: key.cloned(),
                    loc: el.loc.clone(),
                    text: el.render(),
                });
                continue;
            }
            let lower = first.text.to_ascii_lowercase();
            let Some(def) = self.lists.get(&lower).copied() else {
                if first.text.contains([':', '%', '/']) {
                    self.skip(
                        el,
                        format!("{ctx}: cannot read this address; this primary was left out"),
                    );
                    continue;
                }
                return Err(first.loc.error(format!(
                    "{ctx}: {} is neither an address nor a primaries list (masters NAME {{ ... }};)",
                    first.render()
                )));
            };
            if stack.contains(&lower) {
                return Err(first.loc.error(format!(
                    "{ctx}: primaries list {} refers to itself",
                    first.render()
                )));
            }
            let def_port = self.list_port(def, &def.words[2..]).map_err(|()| {
                def.loc.error(format!(
                    "expected {} NAME [port PORT] {{ ... }};",
                    def.keyword().unwrap_or("masters")
                ))
            })?;
            stack.push(lower);
            self.primaries(def.children(), def_port.or(port), key, stack, ctx, out)?;
            stack.pop();
        }
        Ok(())
    }

    fn zone(&mut self, st: &'a Statement) -> Result<(), IscError> {
        let (name_tok, class) = match &st.words[..] {
            [_, n] if n.is_text() => (n, None),
            [_, n, c] if n.is_text() && c.is_text() => (n, Some(c)),
            _ => return Err(st.loc.error("expected zone \"NAME\" [CLASS] { ... };")),
        };
        if st.block.is_none() || st.tail.is_some() {
            return Err(st.loc.error(format!(
                "zone {} needs a {{ ... }} block",
                name_tok.render()
            )));
        }
        name_tok.text.parse::<Name>().map_err(|e| {
            name_tok
                .loc
                .error(format!("bad zone name {:?}: {e}", name_tok.text))
        })?;
        if let Some(c) = class {
            if !c.text.eq_ignore_ascii_case("in") {
                self.skip(
                    st,
                    format!("class {} zones are not supported (only IN)", c.text),
                );
                return Ok(());
            }
        }
        let mut seen = HashSet::new();
        for o in st.children() {
            let kw = o.keyword().unwrap_or("").to_ascii_lowercase();
            if !kw.is_empty() && !seen.insert(kw.clone()) {
                return Err(o
                    .loc
                    .error(format!("{kw} given twice in zone {}", name_tok.render())));
            }
        }
        let find = |kw: &str| st.children().iter().find(|o| o.is(kw));
        let Some(ty) = find("type") else {
            return Err(st
                .loc
                .error(format!("zone {} has no type", name_tok.render())));
        };
        let ty_text = match &ty.words[..] {
            [_, t] if t.is_text() => t.text.to_ascii_lowercase(),
            _ => return Err(ty.loc.error("expected type TYPE;")),
        };
        if let Some(v) = find("in-view") {
            self.skip(v, "views are not supported");
        }
        let reason = match ty_text.as_str() {
            "master" | "primary" => None,
            "slave" | "secondary" => return self.secondary_zone(st, &name_tok.text),
            "hint" => Some(format!(
                "root hints are only used for recursion; {AUTHORITATIVE_ONLY}"
            )),
            "forward" => Some(RESOLVER.to_string()),
            "stub" | "static-stub" => Some(format!("{ty_text} zones are not supported")),
            "mirror" => Some("mirror zones are not supported".to_string()),
            "redirect" => Some(format!(
                "redirect zones are for recursion; {AUTHORITATIVE_ONLY}"
            )),
            "delegation-only" => Some("delegation-only zones are not supported".to_string()),
            _ => Some(format!("unknown zone type {ty_text:?}")),
        };
        if let Some(r) = reason {
            self.skip(st, r);
            return Ok(());
        }
        let Some(file) = find("file") else {
            return Err(st
                .loc
                .error(format!("primary zone {} has no file", name_tok.render())));
        };
        let file_text = match &file.words[..] {
            [_, f] if f.is_text() => f.text.clone(),
            _ => return Err(file.loc.error("expected file \"PATH\";")),
        };
        let ctx = format!("zone {}", name_tok.render());
        if let (Some(_), Some(au)) = (find("update-policy"), find("allow-update")) {
            return Err(au.loc.error(format!(
                "{ctx} has both allow-update and update-policy (BIND refuses this too)"
            )));
        }
        let mut opts = self.defaults.clone();
        if find("update-policy").is_some() {
            // BIND ignores an inherited allow-update when the zone has a
            // policy, even one the import cannot translate (which then
            // allows no updates at all).
            opts.allow_update = None;
        }
        let mut update_policy = None;
        for o in st.children() {
            let kw = o.keyword().unwrap_or("").to_ascii_lowercase();
            match kw.as_str() {
                "type" | "file" | "in-view" => {}
                "allow-query" => opts.allow_query = Some(self.acl_option(o, &ctx)),
                "allow-transfer" => opts.allow_transfer = Some(self.acl_option(o, &ctx)),
                "allow-update" => opts.allow_update = Some(self.acl_option(o, &ctx)),
                "also-notify" => opts.also_notify = Some(self.also_notify(o)),
                "notify" => {
                    if let Some(n) = self.notify_option(o) {
                        opts.notify = Some(n);
                    }
                }
                "update-policy" => update_policy = self.update_policy(o, &ctx),
                "max-journal-size" => {
                    if let Some(n) = self.journal_size(o, false) {
                        opts.journal_max_size = Some(n);
                    }
                }
                "allow-update-forwarding" | "masters" | "primaries" | "allow-notify" => {
                    self.skip(o, SECONDARY_ONLY)
                }
                "forwarders" | "forward" => self.skip(o, RESOLVER),
                "journal" => self.skip(o, FILES),
                "dnssec-policy"
                | "inline-signing"
                | "auto-dnssec"
                | "key-directory"
                | "sig-validity-interval"
                | "dnskey-sig-validity" => self.skip(o, DNSSEC_SIGNING),
                _ => self.skip(o, UNSUPPORTED),
            }
        }
        let src = Path::new(&file_text);
        let src = if src.is_relative() {
            self.directory.as_ref().unwrap_or(&self.conf_dir).join(src)
        } else {
            src.to_path_buf()
        };
        let dest = self.destination(&src);
        self.zones.push(ZoneOut {
            name: name_tok.text.clone(),
            kind: ZoneKind::Primary { file: dest },
            opts,
            update_policy,
        });
        Ok(())
    }

    /// A `type slave|secondary` zone whose name, class and statements
    /// `zone` has checked.
    fn secondary_zone(&mut self, st: &'a Statement, name: &str) -> Result<(), IscError> {
        let ctx = format!("zone {}", string(name));
        let mut opts = self.defaults.clone();
        // BIND does not apply these to a secondary zone either.
        opts.allow_update = None;
        opts.transfer_source = opts.transfer_source.filter(|s| s.ip.is_some());
        opts.transfer_source_v6 = opts.transfer_source_v6.filter(|s| s.ip.is_some());
        let mut list = None;
        for o in st.children() {
            let kw = o.keyword().unwrap_or("").to_ascii_lowercase();
            match kw.as_str() {
                "type" | "in-view" => {}
                "masters" | "primaries" => list = Some(o),
                "file" => self.skip(o, SECONDARY_FILE),
                "allow-query" => opts.allow_query = Some(self.acl_option(o, &ctx)),
                "allow-transfer" => opts.allow_transfer = Some(self.acl_option(o, &ctx)),
                "allow-notify" => opts.allow_notify = Some(self.acl_option(o, &ctx)),
                "allow-update-forwarding" => {
                    opts.allow_update_forwarding = Some(self.acl_option(o, &ctx))
                }
                "also-notify" => opts.also_notify = Some(self.also_notify(o)),
                "notify" => {
                    if let Some(n) = self.notify_option(o) {
                        opts.notify = Some(n);
                    }
                }
                "transfer-source" | "transfer-source-v6" => {
                    let src = self.transfer_source(o, true);
                    let slot = if kw == "transfer-source" {
                        &mut opts.transfer_source
                    } else {
                        &mut opts.transfer_source_v6
                    };
                    // `*` is tandem's default: nothing to write.
                    *slot = src.filter(|s| s.ip.is_some());
                }
                "max-journal-size" => {
                    if let Some(n) = self.journal_size(o, false) {
                        opts.journal_max_size = Some(n);
                    }
                }
                "allow-update" | "update-policy" => self.skip(
                    o,
                    "a secondary zone takes no updates itself (BIND refuses this too); see allow-update-forwarding",
                ),
                "forwarders" | "forward" => self.skip(o, RESOLVER),
                "journal" => self.skip(o, FILES),
                "dnssec-policy"
                | "inline-signing"
                | "auto-dnssec"
                | "key-directory"
                | "sig-validity-interval"
                | "dnskey-sig-validity" => self.skip(o, DNSSEC_SIGNING),
                _ => self.skip(o, UNSUPPORTED),
            }
        }
        let Some(list) = list else {
            return Err(st.loc.error(format!(
                "secondary {ctx} has no primaries (masters {{ ADDRESS; }};)"
            )));
        };
        if list.block.is_none() || list.tail.is_some() {
            return Err(list.loc.error(format!(
                "{ctx}: expected {} [port PORT] {{ ADDRESS [port PORT] [key KEY]; ... }};",
                list.keyword().unwrap_or("masters")
            )));
        }
        let port = self.list_port(list, &list.words[1..]).map_err(|()| {
            list.loc.error(format!(
                "{ctx}: expected {} [port PORT] {{ ADDRESS [port PORT] [key KEY]; ... }};",
                list.keyword().unwrap_or("masters")
            ))
        })?;
        let before = self.untranslated.len();
        let mut primaries = Vec::new();
        self.primaries(
            list.children(),
            port,
            None,
            &mut Vec::new(),
            &ctx,
            &mut primaries,
        )?;
        if primaries.is_empty() {
            if self.untranslated.len() == before {
                return Err(list.loc.error(format!("secondary {ctx} has no primaries")));
            }
            self.skip(
                st,
                format!("secondary {ctx}: none of its primaries could be translated"),
            );
            return Ok(());
        }
        // tandem signs every transfer request with one key: the first
        // one given.
        let transfer_key = primaries.iter().find_map(|p| p.key.clone());
        if let Some((k, _)) = &transfer_key {
            let others: Vec<(Location, String, String)> = primaries
                .iter()
                .filter_map(|p| {
                    let why = match &p.key {
                        Some((pk, _)) if pk.eq_ignore_ascii_case(k) => return None,
                        Some((pk, _)) => format!(
                            "{ctx}: tandem signs transfers from every primary with one transfer-key ({k}); this primary's key {pk} was not used"
                        ),
                        None => format!(
                            "{ctx}: this primary has no key, but tandem signs transfers from every primary with transfer-key {k}"
                        ),
                    };
                    Some((p.loc.clone(), p.text.clone(), why))
                })
                .collect();
            for (loc, statement, reason) in others {
                self.untranslated.push(Untranslated {
                    loc,
                    statement,
                    reason,
                });
            }
        }
        let transfer_source = self.pick_source(&opts, &primaries, &ctx);
        self.zones.push(ZoneOut {
            name: name.to_string(),
            kind: ZoneKind::Secondary {
                primaries: primaries.into_iter().map(|p| p.addr).collect(),
                transfer_key,
                transfer_source,
            },
            opts,
            update_policy: None,
        });
        Ok(())
    }

    /// tandem's one `transfer-source` from BIND's two (one per family):
    /// the one for the primaries' family. Primaries of both families with
    /// a source for either cannot be translated; a source of the other
    /// family written in the zone is reported as unused.
    fn pick_source(
        &mut self,
        opts: &ZoneOptions,
        primaries: &[Primary],
        ctx: &str,
    ) -> Option<IpAddr> {
        let v4 = primaries.iter().any(|p| p.ip.is_ipv4());
        let v6 = primaries.iter().any(|p| p.ip.is_ipv6());
        let mut chosen = None;
        for (src, family_used, family) in [
            (&opts.transfer_source, v4, "IPv4"),
            (&opts.transfer_source_v6, v6, "IPv6"),
        ] {
            let Some(src) = src else { continue };
            let why = if v4 && v6 {
                format!("{ctx}: the primaries are IPv4 and IPv6, and tandem has one transfer-source for all of them")
            } else if !family_used {
                if !src.in_zone {
                    continue;
                }
                format!("{ctx}: no primary is {family}, so this source would not be used")
            } else {
                chosen = src.ip;
                continue;
            };
            self.untranslated.push(Untranslated {
                loc: src.loc.clone(),
                statement: src.text.clone(),
                reason: why,
            });
        }
        chosen
    }

    /// `zones/<file name>` for `src`, made unique among the zone files.
    fn destination(&mut self, src: &Path) -> String {
        if let Some((_, d)) = self.zone_files.iter().find(|(s, _)| s == src) {
            return d.clone();
        }
        let base = src
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| "zone".to_string());
        let mut dest = format!("zones/{base}");
        let mut n = 2;
        while self.zone_files.iter().any(|(_, d)| *d == dest) {
            dest = format!("zones/{base}-{n}");
            n += 1;
        }
        self.zone_files.push((src.to_path_buf(), dest.clone()));
        dest
    }

    fn update_policy(&mut self, o: &Statement, ctx: &str) -> Option<Vec<String>> {
        if o.block.is_none() || o.words.len() != 1 || o.tail.is_some() {
            let why = if o
                .words
                .get(1)
                .is_some_and(|w| w.text.eq_ignore_ascii_case("local"))
            {
                "update-policy local (the session key of nsupdate -l) is not supported"
            } else {
                "expected update-policy { RULES };"
            };
            self.skip(o, format!("{ctx}: {why}"));
            return None;
        }
        let mut rules = Vec::new();
        let mut lost_deny = false;
        for r in o.children() {
            match rule(r) {
                Ok(t) => rules.push(t),
                Err(why) => {
                    let deny = r.is("deny");
                    lost_deny |= deny;
                    let consequence = if deny {
                        "the policy became empty (no updates) because a deny was lost"
                    } else {
                        "left out (this only refuses more)"
                    };
                    self.skip(r, format!("{ctx} update-policy: {why}; {consequence}"));
                }
            }
        }
        Some(if lost_deny { Vec::new() } else { rules })
    }

    fn finish(self, path: &Path) -> Import {
        let mut dns = String::new();
        if self.listen_given {
            dns.push_str(&format!(
                "\n[dns]\nlisten = {}\n",
                string_array(&self.listen)
            ));
        } else {
            dns.push_str(
                "\n# named.conf had no listen-on: tandem's default addresses apply\n# (BIND would listen on every interface).\n",
            );
        }
        let mut key_files: Vec<PathBuf> = Vec::new();
        for k in &self.keys {
            if !key_files.contains(&k.loc.file) {
                key_files.push(k.loc.file.clone());
            }
        }
        let mut t = String::new();
        for z in &self.zones {
            t.push_str(&format!("\n[[zone]]\nname = {}\n", string(&z.name)));
            let secondary = match &z.kind {
                ZoneKind::Primary { file } => {
                    t.push_str(&format!("type = \"primary\"\nfile = {}\n", string(file)));
                    false
                }
                ZoneKind::Secondary {
                    primaries,
                    transfer_key,
                    transfer_source,
                } => {
                    t.push_str(&format!(
                        "type = \"secondary\"\nprimaries = {}\n",
                        string_array(primaries)
                    ));
                    if let Some((k, _)) = transfer_key {
                        t.push_str(&format!("transfer-key = {}\n", string(k)));
                    }
                    if let Some(ip) = transfer_source {
                        t.push_str(&format!("transfer-source = {}\n", string(&ip.to_string())));
                    }
                    true
                }
            };
            let none = None;
            let lists = [
                ("allow-query", &z.opts.allow_query),
                ("allow-transfer", &z.opts.allow_transfer),
                ("allow-update", &z.opts.allow_update),
                (
                    "allow-notify",
                    if secondary {
                        &z.opts.allow_notify
                    } else {
                        &none
                    },
                ),
                (
                    "allow-update-forwarding",
                    if secondary {
                        &z.opts.allow_update_forwarding
                    } else {
                        &none
                    },
                ),
            ];
            for (k, v) in lists {
                if let Some(v) = v {
                    t.push_str(&format!("{k} = {}\n", string_array(v)));
                }
            }
            if let Some(rules) = &z.update_policy {
                if rules.is_empty() {
                    t.push_str("update-policy = []\n");
                } else {
                    t.push_str(&format!("update-policy = [ {} ]\n", rules.join(", ")));
                }
            }
            if let Some(v) = &z.opts.also_notify {
                t.push_str(&format!("also-notify = {}\n", string_array(v)));
            }
            // BIND notifies the zone's name servers unless told otherwise;
            // tandem only when asked, so the import says it.
            let secondary = matches!(z.kind, ZoneKind::Secondary { .. });
            let notify = match z.opts.notify.as_deref() {
                None | Some("yes") => "yes",
                Some("primary-only") if secondary => "no",
                Some("primary-only") => "yes",
                Some(other) => other,
            };
            t.push_str(&format!("notify = \"{notify}\"\n"));
            if let Some(n) = z.opts.journal_max_size {
                t.push_str(&format!("journal-max-size = {n}\n"));
            }
        }
        let mut im = Import {
            toml: String::new(),
            zone_files: self.zone_files,
            key_files,
            untranslated: self.untranslated,
            keys: self.keys,
            source: path.to_path_buf(),
            dns_section: dns,
            zones_section: t,
        };
        im.toml = crate::output::single_named(&im);
        im
    }
}

/// The named primaries lists that a zone's `masters` refers to, directly
/// or through other lists.
fn used_lists(stmts: &[Statement], lists: &HashMap<String, &Statement>) -> HashSet<String> {
    let mut used = HashSet::new();
    let mut todo: Vec<&Statement> = stmts
        .iter()
        .filter(|s| s.is("zone"))
        .flat_map(|z| z.children())
        .filter(|o| o.is("masters") || o.is("primaries"))
        .collect();
    while let Some(list) = todo.pop() {
        for el in list.children() {
            let Some(name) = el.keyword().map(str::to_ascii_lowercase) else {
                continue;
            };
            if let Some(def) = lists.get(&name) {
                if used.insert(name) {
                    todo.push(def);
                }
            }
        }
    }
    used
}

/// One update-policy rule as a TOML inline table, or why it cannot be.
fn rule(r: &Statement) -> Result<String, String> {
    if r.block.is_some() || r.tail.is_some() {
        return Err("unexpected block".into());
    }
    let w: Vec<&Token> = r.words.iter().collect();
    if w.iter().any(|t| !t.is_text()) {
        return Err("unexpected punctuation".into());
    }
    let (verb, identity, kind, rest) = match &w[..] {
        [v, i, k, rest @ ..] => (
            v.text.to_ascii_lowercase(),
            *i,
            k.text.to_ascii_lowercase(),
            rest,
        ),
        _ => return Err("expected grant|deny IDENTITY RULETYPE [NAME] [TYPES]".into()),
    };
    if verb != "grant" && verb != "deny" {
        return Err(format!("expected grant or deny, not {:?}", verb));
    }
    let (name, types) = match kind.as_str() {
        "zonesub" => (None, rest),
        "name" | "subdomain" | "wildcard" => match rest {
            [n, types @ ..] => (Some(*n), types),
            [] => return Err(format!("rule type {kind} needs a name")),
        },
        // `self` has a name field that BIND ignores; it may be left out.
        "self" => match rest {
            [n, types @ ..] if !looks_like_type(&n.text) => (None, types),
            _ => (None, rest),
        },
        _ => return Err(format!("rule type {kind} is not supported")),
    };
    if let Some(t) = types.iter().find(|t| t.text.contains('(')) {
        return Err(format!("update quotas ({}) are not supported", t.text));
    }
    if let Some(t) = types.iter().find(|t| !looks_like_type(&t.text)) {
        return Err(format!("unknown record type {:?}", t.text));
    }
    let mut s = format!(
        "{{ {verb} = {}, match = {}",
        string(&identity.text),
        string(&kind)
    );
    if let Some(n) = name {
        s.push_str(&format!(", name = {}", string(&n.text)));
    }
    if !types.is_empty() {
        let t: Vec<String> = types.iter().map(|t| t.text.to_ascii_uppercase()).collect();
        s.push_str(&format!(", types = {}", string_array(&t)));
    }
    s.push_str(" }");
    Ok(s)
}
