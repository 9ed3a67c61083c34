//! dhcpd.conf import: ISC dhcpd's configuration to tandem's `[dhcp]`.
//!
//! This module owns the meaning of dhcpd.conf statements and their
//! translation into the `[dhcp]` schema of docs/configuration.md. It reads
//! the tree from [`crate::parser`] in the dhcpd dialect (includes already
//! resolved), option types from [`crate::dhcp_options`], keys through
//! [`crate::keys`], and writes TOML with [`crate::toml_text`].
//!
//! How dhcpd's nested scopes become tandem's flat lists:
//!
//! - tandem's option sets are global, subnet, pool, class and host, the
//!   more specific winning. `group` and `shared-network` have no table of
//!   their own, so their options and lease times are copied into what they
//!   contain: into each subnet below them (the subnet's own win), and into
//!   each host below them that is not also below a subnet (a host inside a
//!   subnet already gets that subnet's set, which holds everything above
//!   it). Hosts are global in dhcpd wherever they are declared, and so they
//!   are in tandem.
//! - `range` statements directly in a subnet become its first pool; each
//!   `pool { }` another. A pool directly in a `shared-network` goes to the
//!   subnet of that shared-network that holds all its ranges.
//! - Hosts keep one fixed address, an IPv4 one inside a subnet and not
//!   reserved for another host, as tandem requires (dhcpd lets a host have
//!   several, and two hosts share one); what does not fit is listed.
//! - Server-wide settings (`authoritative`, `ping-check`, `ping-timeout`,
//!   `abandon-lease-time`, `server-identifier`) are read at the top level;
//!   inside a scope they are listed as not translated.
//! - Where dhcpd's behaviour without a statement differs from tandem's
//!   default, the ISC default is written out: `authoritative = false`
//!   unless dhcpd.conf says `authoritative;`, and ping checks with dhcpd's
//!   one-second wait.
//!
//! Access is never widened: a pool with a permit list (`allow members of`,
//! `deny unknown-clients`, ...) or under a scope that refuses unknown
//! clients is left out, and a host that must not boot is left out, both
//! listed. The DDNS statements (`ddns-*`, `update-*`, `client-updates`,
//! `zone`) become `[ddns]` ([`ddns`]); the failover statements (`failover
//! peer "NAME" { ... }`, a pool's `failover peer "NAME";`) become
//! `[[dhcp.failover]]` and the pool's `failover-peer` ([`failover`]).
//! Everything else that is not
//! translated is listed in [`DhcpImport::untranslated`] with its location
//! and a reason; what is translated but needs a human look (a host name
//! where an address belongs, the interfaces) is in [`DhcpImport::notes`].
//! Both lists are in file order.
//!
//! What dhcpd itself would reject and the translation depends on (a subnet
//! with a bad netmask, a range outside its subnet, a malformed `host`) is an
//! [`IscError`].

use std::collections::HashMap;
use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use tandem_dhcp_wire::options::{decode_routes, hex, prefix_mask};
use tandem_dhcp_wire::Registry;

use crate::dhcp_options::{self, Kind, Known, CLASSLESS_ROUTES, MS_CLASSLESS_ROUTES};
use crate::keys::{key_from_statement, KeyDef};
use crate::leases::hex_octets;
use crate::lexer::{Dialect, Token, TokenKind};
use crate::named::Untranslated;
use crate::parser::{parse_file_dialect, Statement};
use crate::toml_text::{key, string, string_array};
use crate::{IscError, Location};

mod ddns;
mod failover;

const UNSUPPORTED: &str = "no equivalent in tandem's [dhcp] configuration";
const FILES: &str = "tandem keeps its own files under [server] state-dir";
const DHCPV6: &str = "DHCPv6 is not supported";
const EXECUTABLE: &str = "conditional and executable statements are not supported";

/// Choices the caller makes for the import.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DhcpdImportOptions {
    /// The interfaces dhcpd served, which it takes on its command line
    /// (Debian: `INTERFACESv4` in /etc/default/isc-dhcp-server), not from
    /// dhcpd.conf. Empty: `interfaces = []` is written with a note.
    pub interfaces: Vec<String>,
    /// Written as `[dhcp] import-leases`: the lease list (as
    /// `tandem import-isc --leases` writes it, relative to the new
    /// configuration) to load at the first start.
    pub import_leases: Option<String>,
}

/// The result of importing a dhcpd.conf.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DhcpImport {
    /// A complete tandem configuration for this dhcpd.conf alone: a
    /// header, `[server]`, the `[[key]]` tables, [`DhcpImport::dhcp_section`]
    /// and, as comments, the two lists. See [`crate::combine`] for one file
    /// with a named.conf import.
    pub toml: String,
    /// The `[dhcp]` table and its sub-tables, alone.
    pub dhcp_section: String,
    /// The `[[dhcp.failover]]` tables alone (also in `dhcp_section`): what
    /// differs between the two nodes of a pair ([`crate::combine_pair`]).
    pub failover_section: String,
    /// The `key` statements (dhcpd's keys sign DDNS updates; they are
    /// written as `[[key]]` tables for that issue, and so that a key shared
    /// with named.conf is defined once).
    pub keys: Vec<KeyDef>,
    /// The files the keys came from, in order of first use.
    pub key_files: Vec<PathBuf>,
    /// What was not translated, in file order.
    pub untranslated: Vec<Untranslated>,
    /// What was translated but should be checked, in file order.
    pub notes: Vec<Untranslated>,
    pub(crate) source: PathBuf,
}

/// Reads `path` (and its includes) through `loader` and translates it.
pub fn import_dhcpd_conf(
    path: &Path,
    options: &DhcpdImportOptions,
    loader: &mut dyn FnMut(&Path) -> io::Result<String>,
) -> Result<DhcpImport, IscError> {
    let stmts = parse_file_dialect(path, Dialect::Dhcpd, loader)?;
    import_dhcpd_statements(&stmts, path, options)
}

/// Translates an already parsed dhcpd.conf; `path` names it.
pub fn import_dhcpd_statements(
    stmts: &[Statement],
    path: &Path,
    options: &DhcpdImportOptions,
) -> Result<DhcpImport, IscError> {
    let mut order = HashMap::new();
    number(stmts, &mut order);
    let mut im = Importer {
        order,
        untranslated: Vec::new(),
        notes: Vec::new(),
        defs: HashMap::new(),
        definitions: Vec::new(),
        keys: Vec::new(),
        registry: Registry::default(),
        global: Params::default(),
        settings: Settings::default(),
        subnets: Vec::new(),
        hosts: Vec::new(),
        host_names: HashMap::new(),
        classes: Vec::new(),
        ddns: ddns::Ddns::default(),
        failover: failover::Failover::default(),
        stray_pools: Vec::new(),
    };
    im.definitions_in(stmts);
    let root = Scope::default();
    im.global_block(stmts, &root)?;
    im.place_stray_pools();
    Ok(im.finish(path, options))
}

/// Every statement's place in a pre-order walk, so that reports made while
/// a scope's parameters are read before its declarations still come out in
/// file order.
fn number(stmts: &[Statement], order: &mut HashMap<*const Statement, usize>) {
    for st in stmts {
        let n = order.len();
        order.insert(st as *const Statement, n);
        number(st.children(), order);
    }
}

/// An option value, before it is written as TOML.
#[derive(Clone, Debug, PartialEq)]
enum Val {
    Str(String),
    Int(i64),
    Bool(bool),
    Strs(Vec<String>),
    Ints(Vec<i64>),
}

impl Val {
    /// The words tandem's option parser reads from this value (as the
    /// configuration crate splits a TOML value).
    fn words(&self) -> Vec<String> {
        match self {
            Val::Str(s) => vec![s.clone()],
            Val::Int(n) => vec![n.to_string()],
            Val::Bool(b) => vec![b.to_string()],
            Val::Strs(v) => v.clone(),
            Val::Ints(v) => v.iter().map(i64::to_string).collect(),
        }
    }

    fn toml(&self) -> String {
        match self {
            Val::Str(s) => string(s),
            Val::Int(n) => n.to_string(),
            Val::Bool(b) => b.to_string(),
            Val::Strs(v) => string_array(v),
            Val::Ints(v) => {
                let parts: Vec<String> = v.iter().map(i64::to_string).collect();
                format!("[{}]", parts.join(", "))
            }
        }
    }
}

#[derive(Clone, Debug, Default)]
struct LeaseTimes {
    default: Option<u64>,
    max: Option<u64>,
    min: Option<u64>,
}

/// Options and lease times of one scope, or inherited by one.
#[derive(Clone, Debug, Default)]
struct Params {
    options: Vec<(String, Val)>,
    lease: LeaseTimes,
}

impl Params {
    fn set(&mut self, name: &str, v: Val) {
        match self.options.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = v,
            None => self.options.push((name.to_string(), v)),
        }
    }

    /// `inner` over `self`.
    fn merged(&self, inner: &Params) -> Params {
        let mut out = self.clone();
        for (n, v) in &inner.options {
            out.set(n, v.clone());
        }
        out.lease.default = inner.lease.default.or(out.lease.default);
        out.lease.max = inner.lease.max.or(out.lease.max);
        out.lease.min = inner.lease.min.or(out.lease.min);
        out
    }
}

/// What a scope hands down to the declarations inside it.
#[derive(Clone, Debug, Default)]
struct Scope {
    /// Copied into each subnet below.
    for_subnets: Params,
    /// Copied into each host below that is not below a subnet.
    for_hosts: Params,
    use_host_decl_names: bool,
    /// Why the dynamic pools below are left out, if they are.
    closed: Option<String>,
}

/// Which kind of block a statement is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Block {
    Global,
    Group,
    SharedNetwork,
    Subnet,
    Pool,
    Host,
    Class,
}

impl Block {
    fn name(self) -> &'static str {
        match self {
            Block::Global => "the top level",
            Block::Group => "group",
            Block::SharedNetwork => "shared-network",
            Block::Subnet => "subnet",
            Block::Pool => "pool",
            Block::Host => "host",
            Block::Class => "class",
        }
    }
}

/// The server-wide `[dhcp]` settings.
#[derive(Clone, Debug, Default)]
struct Settings {
    authoritative: Option<bool>,
    ping_check: Option<bool>,
    /// `ping-timeout`, seconds.
    ping_timeout: Option<u64>,
    /// `ping-timeout-ms`, which wins when it is more than 0.
    ping_timeout_ms: Option<u64>,
    decline_hold: Option<u64>,
    server_identifier: Option<String>,
}

/// A custom option, as `option NAME code N = TYPE;` defines it.
#[derive(Clone, Debug)]
enum Def {
    /// Written as `name` with this type; `octets` if dhcpd reads its values
    /// as decimal octets (`array of integer 8`), else as hex or a string.
    Ok {
        name: String,
        ty: Kind,
        octets: bool,
    },
    Unsupported {
        at: Location,
        why: String,
    },
}

struct Pool {
    ranges: Vec<(Ipv4Addr, Ipv4Addr)>,
    params: Params,
    /// `failover peer "NAME";`: the relationship.
    failover: Option<String>,
}

struct Subnet {
    net: Ipv4Addr,
    prefix: u8,
    interface: Option<String>,
    params: Params,
    pools: Vec<Pool>,
}

impl Subnet {
    fn contains(&self, a: Ipv4Addr) -> bool {
        let mask = prefix_mask(self.prefix);
        u32::from(a) & mask == u32::from(self.net)
    }
}

struct Host {
    name: String,
    /// Where `fixed-address` is, for what can only be checked once every
    /// subnet is known.
    fixed_at: Option<(usize, Untranslated)>,
    hardware: Option<String>,
    client_id: Option<String>,
    fixed_address: Option<String>,
    hostname: Option<String>,
    params: Params,
}

struct Class {
    name: String,
    matcher: (&'static str, String),
    options: Vec<(String, Val)>,
}

struct Importer {
    order: HashMap<*const Statement, usize>,
    untranslated: Vec<(usize, Untranslated)>,
    notes: Vec<(usize, Untranslated)>,
    /// Custom options by lower-case name.
    defs: HashMap<String, Def>,
    /// `[[dhcp.option-definition]]` tables: name, code, type.
    definitions: Vec<(String, u8, Kind)>,
    keys: Vec<KeyDef>,
    registry: Registry,
    global: Params,
    settings: Settings,
    subnets: Vec<Subnet>,
    hosts: Vec<Host>,
    /// Every host declaration's name, translated or not.
    host_names: HashMap<String, Location>,
    classes: Vec<Class>,
    ddns: ddns::Ddns,
    failover: failover::Failover,
    /// Pools found directly in a shared-network, placed once its subnets
    /// are known: the pool, its statement's report entry and place, the
    /// index of the shared-network's first subnet, and its name.
    stray_pools: Vec<(Pool, Untranslated, usize, usize, String)>,
}

/// A host name as it may stand where dhcpd wants an address (dhcpd looks it
/// up in DNS).
fn looks_like_host_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.trim_end_matches('.').split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        && s.bytes().any(|b| b.is_ascii_alphabetic())
}

/// Statement value tokens split at commas.
fn groups(words: &[Token]) -> Vec<Vec<&Token>> {
    let mut out = vec![Vec::new()];
    for w in words {
        if w.kind == TokenKind::Comma {
            out.push(Vec::new());
        } else if let Some(last) = out.last_mut() {
            last.push(w);
        }
    }
    if out.len() == 1 && out[0].is_empty() {
        out.clear();
    }
    out
}

/// A value that did not translate, and why.
type Why = String;

impl Importer {
    fn pos(&self, st: &Statement) -> usize {
        self.order
            .get(&(st as *const Statement))
            .copied()
            .unwrap_or(usize::MAX)
    }

    fn entry(st: &Statement, reason: String) -> Untranslated {
        let mut statement = st.render();
        if statement.chars().count() > 160 {
            statement = statement.chars().take(157).collect::<String>() + "...";
        }
        Untranslated {
            loc: st.loc.clone(),
            statement,
            reason,
        }
    }

    fn skip(&mut self, st: &Statement, reason: impl Into<String>) {
        let e = Self::entry(st, reason.into());
        self.untranslated.push((self.pos(st), e));
    }

    fn note(&mut self, st: &Statement, reason: impl Into<String>) {
        let e = Self::entry(st, reason.into());
        self.notes.push((self.pos(st), e));
    }

    /// Collects every `option NAME code N = TYPE;`, wherever it is (dhcpd's
    /// option definitions are global).
    fn definitions_in(&mut self, stmts: &[Statement]) {
        for st in stmts {
            if st.is("option")
                && st
                    .words
                    .get(2)
                    .is_some_and(|w| w.text.eq_ignore_ascii_case("code"))
            {
                self.definition(st);
            }
            self.definitions_in(st.children());
        }
    }

    fn definition(&mut self, st: &Statement) {
        let w = &st.words;
        let parsed = match &w[..] {
            [_, name, _, code, eq, ty @ ..] if name.is_text() && eq.text == "=" => {
                match code.number().and_then(|c| u8::try_from(c).ok()) {
                    Some(c) if (1..=254).contains(&c) => Ok((name, c, ty)),
                    _ => Err(format!("option code {} is not 1..254", code.text)),
                }
            }
            _ => Err("expected option NAME code N = TYPE;".to_string()),
        };
        let (name, code, ty) = match parsed {
            Ok(p) => p,
            Err(why) => {
                self.skip(st, why);
                return;
            }
        };
        let lower = name.text.to_ascii_lowercase();
        if dhcp_options::code_is_reserved(code) {
            let why = format!(
                "option {code} cannot be defined in tandem: {}",
                dhcp_options::server_owned_reason(code)
            );
            self.defs.insert(
                lower,
                Def::Unsupported {
                    at: st.loc.clone(),
                    why: why.clone(),
                },
            );
            self.skip(st, why);
            return;
        }
        if lower.contains('.') {
            let why =
                "options in their own option space (SPACE.NAME) are not supported".to_string();
            self.defs.insert(
                lower,
                Def::Unsupported {
                    at: st.loc.clone(),
                    why: why.clone(),
                },
            );
            self.skip(st, why);
            return;
        }
        // `array of integer 8` values are decimal octets (`24, 10,8,0, ...`).
        let ty_words: Vec<String> = ty.iter().map(|t| t.text.to_ascii_lowercase()).collect();
        let octets = matches!(
            ty_words
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .as_slice(),
            ["array", "of", "integer", "8"] | ["array", "of", "unsigned", "integer", "8"]
        );
        // 121 and 249 are tandem's own options: their uses are written under
        // tandem's names as routes, and no definition is needed.
        let builtin = match code {
            121 => Some(CLASSLESS_ROUTES),
            249 => Some(MS_CLASSLESS_ROUTES),
            _ => None,
        };
        if let Some(b) = builtin {
            self.defs.insert(
                lower,
                Def::Ok {
                    name: b.to_string(),
                    ty: Kind::Routes,
                    octets,
                },
            );
            return;
        }
        match dhcp_options::definition_type(ty) {
            Ok(t) => {
                self.defs.insert(
                    lower,
                    Def::Ok {
                        name: name.text.clone(),
                        ty: t,
                        octets: octets && t == Kind::Bytes,
                    },
                );
                if let Some(d) = self
                    .definitions
                    .iter_mut()
                    .find(|d| d.0.eq_ignore_ascii_case(&name.text))
                {
                    *d = (name.text.clone(), code, t);
                } else {
                    self.definitions.push((name.text.clone(), code, t));
                }
            }
            Err(why) => {
                self.defs.insert(
                    lower,
                    Def::Unsupported {
                        at: st.loc.clone(),
                        why: why.clone(),
                    },
                );
                self.skip(st, why);
            }
        }
    }

    fn global_block(&mut self, stmts: &[Statement], scope: &Scope) -> Result<(), IscError> {
        let mut own = Params::default();
        let mut scope = scope.clone();
        for st in stmts {
            if !is_declaration(st) {
                self.param(st, Block::Global, &mut own, &mut scope);
            }
        }
        self.global = own;
        // Global options and lease times are [dhcp]'s own; only the flags go
        // down.
        self.declarations(stmts, Block::Global, &scope)
    }

    /// The declarations of a block, in order.
    fn declarations(
        &mut self,
        stmts: &[Statement],
        kind: Block,
        scope: &Scope,
    ) -> Result<(), IscError> {
        for st in stmts.iter().filter(|s| is_declaration(s)) {
            let kw = st.keyword().unwrap_or("").to_ascii_lowercase();
            match kw.as_str() {
                "subnet" if kind != Block::Subnet => self.subnet(st, scope, None)?,
                "shared-network" if matches!(kind, Block::Global | Block::Group) => {
                    self.shared_network(st, scope)?
                }
                "group" => self.group(st, kind, scope)?,
                "host" => self.host(st, scope)?,
                "class" => self.class(st)?,
                "subclass" => self.skip(
                    st,
                    "subclasses (match by a computed value) are not supported; tandem classes match the vendor or user class",
                ),
                "key" => self.key(st)?,
                "failover" if kind == Block::Global => self.failover_peer(st),
                "failover" => self.skip(
                    st,
                    "tandem's failover relationships are server-wide; declare it at the top level",
                ),
                "zone" => self.ddns_zone(st, kind),
                "subnet6" => self.skip(st, DHCPV6),
                "pool" if kind == Block::SharedNetwork => {}
                "pool" => self.skip(st, "a pool belongs in a subnet or shared-network"),
                other => self.skip(st, format!("{other} is not allowed in {}", kind.name())),
            }
        }
        Ok(())
    }

    fn key(&mut self, st: &Statement) -> Result<(), IscError> {
        let k = key_from_statement(st)?;
        if let Some(first) = self.keys.iter().find(|f| f.name == k.name) {
            return Err(st.loc.error(format!(
                "key {} is defined twice (first at {})",
                k.name_text(),
                first.loc
            )));
        }
        self.keys.push(k);
        Ok(())
    }

    /// A parameter statement in a block of `kind`: options, lease times,
    /// settings and flags. Declarations never come here.
    fn param(&mut self, st: &Statement, kind: Block, own: &mut Params, scope: &mut Scope) {
        let kw = st.keyword().unwrap_or("").to_ascii_lowercase();
        let global_only = |name: &str| {
            format!(
                "tandem's {name} is server-wide ([dhcp] {name}); a value for one {} is not translated",
                kind.name()
            )
        };
        if st.block.is_some() && !matches!(kw.as_str(), "if" | "elsif" | "else" | "on" | "switch") {
            self.skip(st, UNSUPPORTED);
            return;
        }
        match kw.as_str() {
            "option" => self.option_param(st, kind, own),
            "default-lease-time" | "max-lease-time" | "min-lease-time" => {
                let Some(n) = self.number_arg(st) else { return };
                if kind == Block::Class {
                    self.skip(st, "lease times cannot be set per class in tandem");
                    return;
                }
                let slot = match kw.as_str() {
                    "default-lease-time" => &mut own.lease.default,
                    "max-lease-time" => &mut own.lease.max,
                    _ => &mut own.lease.min,
                };
                *slot = Some(n);
            }
            "authoritative" | "not" => {
                let value = match &st.words[..] {
                    [_] if kw == "authoritative" => true,
                    [_, a] if kw == "not" && a.text.eq_ignore_ascii_case("authoritative") => false,
                    _ => {
                        self.skip(st, UNSUPPORTED);
                        return;
                    }
                };
                if kind == Block::Global {
                    self.settings.authoritative = Some(value);
                } else {
                    self.skip(st, global_only("authoritative"));
                }
            }
            "ping-check" => {
                let Some(b) = self.bool_arg(st) else { return };
                if kind == Block::Global {
                    self.settings.ping_check = Some(b);
                } else {
                    self.skip(st, global_only("conflict-detection"));
                }
            }
            "ping-timeout" | "ping-timeout-ms" => {
                let Some(n) = self.number_arg(st) else { return };
                if kind != Block::Global {
                    self.skip(st, global_only("conflict-timeout-ms"));
                } else if kw == "ping-timeout" {
                    self.settings.ping_timeout = Some(n);
                } else {
                    self.settings.ping_timeout_ms = Some(n);
                }
            }
            "abandon-lease-time" => {
                let Some(n) = self.number_arg(st) else { return };
                if kind == Block::Global {
                    self.settings.decline_hold = Some(n);
                } else {
                    self.skip(st, global_only("decline-hold-time"));
                }
            }
            "server-identifier" => match (&st.words[..], kind) {
                ([_, a], Block::Global) if a.text.parse::<Ipv4Addr>().is_ok() => {
                    self.settings.server_identifier = Some(a.text.clone())
                }
                ([_, _], Block::Global) => {
                    self.skip(st, "tandem's server-identifier must be an IPv4 address")
                }
                ([_, _], _) => self.skip(st, global_only("server-identifier")),
                _ => self.skip(st, "expected server-identifier ADDRESS;"),
            },
            "use-host-decl-names" => {
                if let Some(b) = self.bool_arg(st) {
                    scope.use_host_decl_names = b;
                }
            }
            "boot-unknown-clients" => {
                if let Some(b) = self.bool_arg(st) {
                    if !b {
                        self.close(st, kind, scope);
                    }
                }
            }
            "allow" | "deny" | "ignore" => self.permit(st, kind, scope),
            "interface" => self.skip(st, "interface belongs in a subnet or shared-network"),
            "range" | "range6" if kind != Block::Subnet && kind != Block::Pool => {
                self.skip(st, "a range belongs in a subnet or pool")
            }
            "hardware" | "fixed-address" | "uid" => {
                self.skip(st, format!("{kw} belongs in a host"))
            }
            "match" | "spawn" | "lease" if kind == Block::Class => {
                self.skip(st, "not supported in a tandem class")
            }
            "failover" => self.skip(
                st,
                "tandem's failover-peer is a pool setting; put failover peer in each pool",
            ),
            "update-static-leases" | "update-optimization" | "update-conflict-detection"
            | "do-forward-updates" | "do-reverse-updates" | "fqdn-reply"
            | "update-stateless-leases" => self.ddns_param(st, kind),
            k if k.starts_with("ddns-") || k.starts_with("ddns6-") => self.ddns_param(st, kind),
            "log-facility" => self.skip(st, "tandem logs to stderr; TANDEM_LOG sets the level"),
            "lease-file-name" | "pid-file-name" | "db-time-format" | "lease-id-format" => {
                self.skip(st, FILES)
            }
            "local-port" | "local-address" | "remote-port" => self.skip(
                st,
                "tandem's DHCP sockets come from [dhcp] interfaces (and port, for tests)",
            ),
            "omapi-port" | "omapi-key" => self.skip(
                st,
                "OMAPI is not supported; tandem is controlled through [server] control-socket",
            ),
            "filename" | "next-server" | "server-name" => self.skip(
                st,
                "the BOOTP boot fields (file, siaddr, sname) are not in tandem's configuration; the options tftp-server-name and bootfile-name are",
            ),
            "if" | "elsif" | "else" | "on" | "set" | "unset" | "eval" | "log" | "execute"
            | "return" | "switch" | "case" | "default" | "define" => self.skip(st, EXECUTABLE),
            "subnet6" | "range6" | "prefix6" | "fixed-address6" | "fixed-prefix6"
            | "preferred-lifetime" | "dhcpv6-lease-file-name" | "dhcpv6-pid-file-name"
            | "server-duid" | "prefix-length-mode" | "local-address6" => self.skip(st, DHCPV6),
            "vendor-option-space" | "site-option-space" => {
                self.skip(st, "option spaces are not supported")
            }
            _ => self.skip(st, UNSUPPORTED),
        }
    }

    fn number_arg(&mut self, st: &Statement) -> Option<u64> {
        match &st.words[..] {
            [_, n] if n.number().is_some() => n.number(),
            _ => {
                let kw = st.keyword().unwrap_or("").to_string();
                self.skip(st, format!("expected {kw} NUMBER;"));
                None
            }
        }
    }

    fn bool_arg(&mut self, st: &Statement) -> Option<bool> {
        let v = match &st.words[..] {
            [_] => Some(true),
            [_, v] => bool_word(&v.text),
            _ => None,
        };
        if v.is_none() {
            let kw = st.keyword().unwrap_or("").to_string();
            self.skip(st, format!("expected {kw} true|false;"));
        }
        v
    }

    /// A statement that refuses unknown clients everywhere below it: the
    /// pools there are left out.
    fn close(&mut self, st: &Statement, kind: Block, scope: &mut Scope) {
        let why = format!(
            "{} at {} refuses unknown clients",
            st.render().trim_end_matches(';'),
            st.loc
        );
        self.skip(
            st,
            format!(
                "tandem cannot refuse clients without a reservation; the dynamic pools in this {} are left out (failing closed)",
                kind.name()
            ),
        );
        scope.closed = Some(why);
    }

    /// `allow|deny|ignore ...;` outside a pool.
    fn permit(&mut self, st: &Statement, kind: Block, scope: &mut Scope) {
        let verb = st.keyword().unwrap_or("").to_ascii_lowercase();
        let what: Vec<String> = st.words[1..]
            .iter()
            .map(|t| t.text.to_ascii_lowercase())
            .collect();
        let what: Vec<&str> = what.iter().map(String::as_str).collect();
        let allow = verb == "allow";
        match what.as_slice() {
            ["unknown-clients"] | ["unknown", "clients"] | ["booting"] if allow => {}
            ["unknown-clients"] | ["unknown", "clients"] => self.close(st, kind, scope),
            ["booting"] => self.close(st, kind, scope),
            ["bootp"] => self.skip(st, "BOOTP clients are not translated"),
            ["client-updates"] => self.ddns_client_updates(st, &verb, kind),
            ["duplicates"] | ["declines"] | ["leasequery"] => self.skip(st, UNSUPPORTED),
            _ => self.skip(st, "this permit belongs in a pool"),
        }
    }

    /// `option NAME VALUE...;` in a scope.
    fn option_param(&mut self, st: &Statement, kind: Block, own: &mut Params) {
        if st
            .words
            .get(2)
            .is_some_and(|w| w.text.eq_ignore_ascii_case("code"))
        {
            // Read by `definitions_in`.
            return;
        }
        let name = match st.words.get(1) {
            Some(n) if n.is_text() => n.text.to_ascii_lowercase(),
            _ => {
                self.skip(st, "expected option NAME VALUE;");
                return;
            }
        };
        if name == "space" {
            self.skip(st, "option spaces are not supported");
            return;
        }
        if name == "dhcp-server-identifier" {
            match (&st.words[..], kind) {
                ([_, _, a], Block::Global) if a.text.parse::<Ipv4Addr>().is_ok() => {
                    self.settings.server_identifier = Some(a.text.clone())
                }
                _ => self.skip(
                    st,
                    "tandem's server-identifier is server-wide and must be an IPv4 address ([dhcp] server-identifier)",
                ),
            }
            return;
        }
        match self.option_value(st) {
            Ok((n, v)) => own.set(&n, v),
            Err(why) => self.skip(st, why),
        }
    }

    /// The tandem name and value of `option NAME VALUE...;`, with notes
    /// made for host names where addresses belong.
    fn option_value(&mut self, st: &Statement) -> Result<(String, Val), Why> {
        let name_tok = match st.words.get(1) {
            Some(n) if n.is_text() => n,
            _ => return Err("expected option NAME VALUE;".into()),
        };
        let lower = name_tok.text.to_ascii_lowercase();
        let values = &st.words[2..];
        if values.first().is_some_and(|t| t.text == "=") {
            return Err("option values computed by expressions are not supported".into());
        }
        let (name, ty, octets) = match self.defs.get(&lower) {
            Some(Def::Ok { name, ty, octets }) => (name.clone(), *ty, *octets),
            Some(Def::Unsupported { at, why }) => {
                return Err(format!("its definition at {at} is not translated: {why}"))
            }
            None => match dhcp_options::lookup(&self.registry, &lower) {
                // Without a definition dhcpd would not know 121 or 249; if
                // they are used anyway, read them as the idiom writes them.
                Some(Known::Tandem { name, kind, .. }) => (name, kind, kind == Kind::Routes),
                Some(Known::IscOnly { name, code, kind }) => {
                    if !self.definitions.iter().any(|d| d.1 == code) {
                        self.definitions.push((name.clone(), code, kind));
                    }
                    (name, kind, false)
                }
                Some(Known::ServerOwned { why, .. }) => return Err(why.to_string()),
                None if lower.starts_with("fqdn.") => {
                    return Err(
                        "tandem answers option 81 itself ([ddns] client-updates, fqdn-reply)"
                            .into(),
                    )
                }
                None if lower.contains('.') => {
                    return Err(
                        "options in their own option space (SPACE.NAME) are not supported".into(),
                    )
                }
                None => {
                    return Err(
                        "unknown option: dhcpd.conf has no option NAME code N = TYPE; for it"
                            .into(),
                    )
                }
            },
        };
        if values.is_empty() {
            return Err("the option has no value".into());
        }
        let mut names = Vec::new();
        let v = value(&name, ty, octets, values, &mut names)?;
        if names.is_empty() {
            // What tandem's configuration will make of it: the same check
            // `tandem check` runs, so the import writes nothing it refuses.
            ty.parse(&v.words())
                .map_err(|e| format!("{name} ({}): {e}", ty.name()))?;
        }
        for n in names {
            self.note(st, host_name_note(&name, &n));
        }
        Ok((name, v))
    }
}

/// The value of an option of type `ty` from the words after its name.
/// Host names where addresses belong are taken as they are and pushed to
/// `names`.
fn value(
    name: &str,
    ty: Kind,
    octets: bool,
    values: &[Token],
    names: &mut Vec<String>,
) -> Result<Val, Why> {
    let g = groups(values);
    let bad = || format!("cannot read this value as {} ({})", ty.name(), name);
    let singles = || -> Option<Vec<&Token>> {
        g.iter()
            .map(|grp| match grp.as_slice() {
                [t] if t.is_text() => Some(*t),
                _ => None,
            })
            .collect()
    };
    let int = |t: &Token, lo: i64, hi: i64| -> Option<i64> {
        if t.kind == TokenKind::Str {
            return None;
        }
        t.text.parse::<i64>().ok().filter(|n| (lo..=hi).contains(n))
    };
    Ok(match ty {
        Kind::Ip | Kind::IpList => {
            let items = singles().filter(|s| !s.is_empty()).ok_or_else(bad)?;
            if ty == Kind::Ip && items.len() != 1 {
                return Err(format!("{name} takes one address"));
            }
            let mut out = Vec::new();
            for t in items {
                out.push(address(t, names).ok_or_else(bad)?);
            }
            if out.len() == 1 {
                Val::Str(out.remove(0))
            } else {
                Val::Strs(out)
            }
        }
        Kind::U8 | Kind::U16 | Kind::U32 | Kind::I32 => {
            let (lo, hi) = match ty {
                Kind::U8 => (0, 255),
                Kind::U16 => (0, 65535),
                Kind::U32 => (0, i64::from(u32::MAX)),
                _ => (i64::from(i32::MIN), i64::from(i32::MAX)),
            };
            match singles().as_deref() {
                Some([t]) => Val::Int(int(t, lo, hi).ok_or_else(bad)?),
                _ => return Err(bad()),
            }
        }
        Kind::U8List | Kind::U16List => {
            let hi = if ty == Kind::U8List { 255 } else { 65535 };
            let items = singles().ok_or_else(bad)?;
            let nums: Option<Vec<i64>> = items.iter().map(|t| int(t, 0, hi)).collect();
            Val::Ints(nums.ok_or_else(bad)?)
        }
        Kind::Bool => match singles().as_deref() {
            Some([t]) => Val::Bool(bool_word(&t.text).ok_or_else(bad)?),
            _ => return Err(bad()),
        },
        Kind::Text => match singles().as_deref() {
            Some([t]) => Val::Str(String::from_utf8_lossy(t.octets()).into_owned()),
            _ => return Err(bad()),
        },
        Kind::DomainList => {
            let items = singles().ok_or_else(bad)?;
            Val::Strs(items.iter().map(|t| t.text.clone()).collect())
        }
        Kind::Bytes => Val::Str(hex(&bytes(&g, octets).ok_or_else(bad)?)),
        Kind::Routes => {
            let b = bytes(&g, octets).ok_or_else(bad)?;
            let routes = decode_routes(&b)
                .map_err(|e| format!("not valid RFC 3442 routes for {name}: {e}"))?;
            Val::Strs(routes.iter().map(ToString::to_string).collect())
        }
        Kind::IpPairs => {
            let mut out = Vec::new();
            for grp in &g {
                match grp.as_slice() {
                    [a, b]
                        if a.text.parse::<Ipv4Addr>().is_ok()
                            && b.text.parse::<Ipv4Addr>().is_ok() =>
                    {
                        out.push(format!("{} {}", a.text, b.text))
                    }
                    _ => return Err(bad()),
                }
            }
            Val::Strs(out)
        }
    })
}

/// An address in an option or fixed-address: an IPv4 address, or a host
/// name (pushed to `names`).
fn address(t: &Token, names: &mut Vec<String>) -> Option<String> {
    if t.kind == TokenKind::Str {
        return None;
    }
    if t.text.parse::<Ipv4Addr>().is_ok() {
        return Some(t.text.clone());
    }
    if looks_like_host_name(&t.text) {
        names.push(t.text.clone());
        return Some(t.text.clone());
    }
    None
}

/// The note for a host name written where tandem wants an address.
fn host_name_note(what: &str, name: &str) -> String {
    // tandem resolves names in address options against its own zones at
    // start, as dhcpd does through DNS; fixed addresses must be literal.
    if what.ends_with("fixed-address") {
        format!(
            "{what}: {name} is a host name, written as is. dhcpd looks it up in DNS when it starts; tandem takes an IPv4 address for fixed-address, so tandem check refuses it: write {name}'s address"
        )
    } else {
        format!(
            "{what}: {name} is a host name, written as is. dhcpd looks it up in DNS when it starts; tandem looks it up in the zones it serves when it starts and refuses to start if none has an A record for it: check that one of tandem's zones has {name}, or write the address"
        )
    }
}

impl Importer {
    fn group(&mut self, st: &Statement, kind: Block, parent: &Scope) -> Result<(), IscError> {
        if st.words.len() > 2 {
            self.skip(st, "expected group [NAME] { ... }");
            return Ok(());
        }
        let mut own = Params::default();
        let mut scope = parent.clone();
        for c in st.children().iter().filter(|c| !is_declaration(c)) {
            self.param(c, Block::Group, &mut own, &mut scope);
        }
        scope.for_subnets = parent.for_subnets.merged(&own);
        scope.for_hosts = parent.for_hosts.merged(&own);
        // A group inside a subnet holds hosts; one outside may hold subnets.
        let inner = if kind == Block::Subnet {
            Block::Subnet
        } else {
            Block::Group
        };
        for c in st.children().iter().filter(|c| is_declaration(c)) {
            if inner == Block::Subnet && (c.is("pool") || c.is("subnet") || c.is("shared-network"))
            {
                self.skip(
                    c,
                    format!(
                        "a {} is not allowed in a group inside a subnet",
                        c.keyword().unwrap_or("")
                    ),
                );
                continue;
            }
            self.declarations(std::slice::from_ref(c), inner, &scope)?;
        }
        Ok(())
    }

    fn shared_network(&mut self, st: &Statement, parent: &Scope) -> Result<(), IscError> {
        let name = match &st.words[..] {
            [_, n] if n.is_text() => n.text.clone(),
            _ => return Err(st.loc.error("expected shared-network NAME { ... }")),
        };
        let mut own = Params::default();
        let mut scope = parent.clone();
        let mut interface = None;
        for c in st.children().iter().filter(|c| !is_declaration(c)) {
            if c.is("interface") {
                interface = self.interface(c);
                continue;
            }
            self.param(c, Block::SharedNetwork, &mut own, &mut scope);
        }
        scope.for_subnets = parent.for_subnets.merged(&own);
        // The subnets' own sets hold the shared-network's options, so hosts
        // below start afresh, as below a subnet.
        scope.for_hosts = Params::default();
        let first = self.subnets.len();
        for c in st.children().iter().filter(|c| is_declaration(c)) {
            if c.is("subnet") {
                self.subnet(c, &scope, interface.clone())?;
            } else if c.is("pool") {
                if let Some(p) = self.pool(c, &scope, None)? {
                    let entry = Self::entry(c, String::new());
                    let pos = self.pos(c);
                    self.stray_pools.push((p, entry, pos, first, name.clone()));
                }
            } else {
                self.declarations(std::slice::from_ref(c), Block::SharedNetwork, &scope)?;
            }
        }
        if self.subnets.len() - first > 1 {
            self.note(
                st,
                format!(
                    "shared-network {name}: its subnets are translated one by one; tandem serves a request from the subnet that holds the receiving interface's address (or the relay's giaddr), so check that each subnet's clients reach it"
                ),
            );
        }
        Ok(())
    }

    fn interface(&mut self, c: &Statement) -> Option<String> {
        match &c.words[..] {
            [_, i] if i.is_text() => Some(i.text.clone()),
            _ => {
                self.skip(c, "expected interface NAME;");
                None
            }
        }
    }

    fn subnet(
        &mut self,
        st: &Statement,
        parent: &Scope,
        interface: Option<String>,
    ) -> Result<(), IscError> {
        let (net, mask) = match &st.words[..] {
            [_, a, m, mask] if m.text.eq_ignore_ascii_case("netmask") => (a, mask),
            _ => return Err(st.loc.error("expected subnet ADDRESS netmask MASK { ... }")),
        };
        let net_ip: Ipv4Addr = net
            .text
            .parse()
            .map_err(|_| net.loc.error(format!("bad subnet address {:?}", net.text)))?;
        let mask_ip: Ipv4Addr = mask
            .text
            .parse()
            .map_err(|_| mask.loc.error(format!("bad netmask {:?}", mask.text)))?;
        let m = u32::from(mask_ip);
        let prefix = m.leading_ones() as u8;
        if m != prefix_mask(prefix) {
            return Err(mask
                .loc
                .error(format!("netmask {mask_ip} is not contiguous")));
        }
        if u32::from(net_ip) & !m != 0 {
            return Err(net.loc.error(format!(
                "subnet {net_ip} has bits set outside netmask {mask_ip}"
            )));
        }
        let mut own = Params::default();
        let mut scope = parent.clone();
        let mut interface = interface;
        let mut ranges = Vec::new();
        let mut bootp = Vec::new();
        let mut sub = Subnet {
            net: net_ip,
            prefix,
            interface: None,
            params: Params::default(),
            pools: Vec::new(),
        };
        for c in st.children().iter().filter(|c| !is_declaration(c)) {
            if c.is("interface") {
                interface = self.interface(c);
            } else if c.is("range") {
                let (r, b) = Self::range(c, Some(&sub))?;
                ranges.push(r);
                if b {
                    bootp.push(c);
                }
            } else {
                self.param(c, Block::Subnet, &mut own, &mut scope);
            }
        }
        sub.interface = interface;
        sub.params = parent.for_subnets.merged(&own);
        if !ranges.is_empty() {
            match &scope.closed {
                None => {
                    self.bootp_notes(&bootp);
                    sub.pools.push(Pool {
                        ranges,
                        params: Params::default(),
                        failover: None,
                    })
                }
                Some(why) => {
                    let why = format!("left out, failing closed: {why}");
                    for c in st.children().iter().filter(|c| c.is("range")) {
                        self.skip(c, why.clone());
                    }
                }
            }
        }
        let inner = Scope {
            for_subnets: Params::default(),
            for_hosts: Params::default(),
            ..scope.clone()
        };
        for c in st.children().iter().filter(|c| is_declaration(c)) {
            if c.is("pool") {
                if let Some(p) = self.pool(c, &scope, Some(&sub))? {
                    sub.pools.push(p);
                }
            } else {
                self.declarations(std::slice::from_ref(c), Block::Subnet, &inner)?;
            }
        }
        self.subnets.push(sub);
        Ok(())
    }

    /// `range [dynamic-bootp] LOW [HIGH];`, checked against the subnet if
    /// it is known. Also says whether it is a `dynamic-bootp` range, which
    /// is noted if the range is kept.
    fn range(
        c: &Statement,
        sub: Option<&Subnet>,
    ) -> Result<((Ipv4Addr, Ipv4Addr), bool), IscError> {
        let mut w = &c.words[1..];
        let bootp = w
            .first()
            .is_some_and(|t| t.text.eq_ignore_ascii_case("dynamic-bootp"));
        if bootp {
            w = &w[1..];
        }
        let addr = |t: &Token| {
            t.text
                .parse::<Ipv4Addr>()
                .map_err(|_| t.loc.error(format!("bad range address {:?}", t.text)))
        };
        let (lo, hi) = match w {
            [a] => (addr(a)?, addr(a)?),
            [a, b] => (addr(a)?, addr(b)?),
            _ => return Err(c.loc.error("expected range [dynamic-bootp] LOW [HIGH];")),
        };
        if let Some(sub) = sub {
            for a in [lo, hi] {
                if !sub.contains(a) {
                    return Err(c.loc.error(format!(
                        "range address {a} is not in subnet {}/{}",
                        sub.net, sub.prefix
                    )));
                }
            }
        }
        // dhcpd accepts the two ends either way round.
        Ok((if lo <= hi { (lo, hi) } else { (hi, lo) }, bootp))
    }

    fn bootp_notes(&mut self, ranges: &[&Statement]) {
        for c in ranges {
            self.note(
                c,
                "range dynamic-bootp: translated as a plain range; BOOTP clients are not treated apart",
            );
        }
    }

    /// A `pool { }`, or `None` if it is left out (failing closed). `sub` is
    /// the subnet it is in, unless it is directly in a shared-network.
    fn pool(
        &mut self,
        st: &Statement,
        scope: &Scope,
        sub: Option<&Subnet>,
    ) -> Result<Option<Pool>, IscError> {
        let mut own = Params::default();
        let mut inner = scope.clone();
        let mut ranges = Vec::new();
        let mut closed = scope.closed.clone();
        let mut bootp = Vec::new();
        let mut failover = None;
        for c in st.children() {
            let kw = c.keyword().unwrap_or("").to_ascii_lowercase();
            match kw.as_str() {
                "range" => {
                    let (r, b) = Self::range(c, sub)?;
                    ranges.push(r);
                    if b {
                        bootp.push(c);
                    }
                }
                "failover" => failover = self.pool_failover(c),
                "allow" | "deny" | "ignore" => {
                    let what: Vec<String> = c.words[1..]
                        .iter()
                        .map(|t| t.text.to_ascii_lowercase())
                        .collect();
                    let what: Vec<&str> = what.iter().map(String::as_str).collect();
                    match what.as_slice() {
                        ["dynamic", "bootp", "clients"] => self.skip(
                            c,
                            "BOOTP client permits are not translated; the pool is kept for DHCP clients",
                        ),
                        ["bootp"] => self.skip(c, "BOOTP clients are not translated"),
                        ["client-updates"] => self.ddns_client_updates(c, &kw, Block::Pool),
                        ["all", "clients"] if kw == "allow" => {}
                        _ => {
                            let why = format!(
                                "its permit list ({} at {}) cannot be translated",
                                c.render().trim_end_matches(';'),
                                c.loc
                            );
                            self.skip(c, "tandem pools serve every client; the pool is left out (failing closed)");
                            closed.get_or_insert(why);
                        }
                    }
                }
                _ if is_declaration(c) => self.skip(c, format!("{kw} is not allowed in a pool")),
                _ => self.param(c, Block::Pool, &mut own, &mut inner),
            }
        }
        if let Some(why) = inner.closed.clone() {
            closed.get_or_insert(why);
        }
        if let Some(why) = closed {
            self.skip(
                st,
                format!("the pool is left out, failing closed (serving it would give addresses to clients dhcpd refused): {why}"),
            );
            return Ok(None);
        }
        if ranges.is_empty() {
            self.skip(st, "the pool has no range");
            return Ok(None);
        }
        self.bootp_notes(&bootp);
        Ok(Some(Pool {
            ranges,
            params: own,
            failover,
        }))
    }

    /// Pools written directly in a shared-network go to the subnet, among
    /// that shared-network's, that holds their first range.
    fn place_stray_pools(&mut self) {
        for (pool, mut entry, pos, first, name) in std::mem::take(&mut self.stray_pools) {
            let lo = pool.ranges[0].0;
            let target = self.subnets[first..].iter().position(|s| {
                pool.ranges
                    .iter()
                    .all(|(a, b)| s.contains(*a) && s.contains(*b))
            });
            match target {
                Some(i) => self.subnets[first + i].pools.push(pool),
                None => {
                    entry.reason = format!(
                        "no subnet of shared-network {name} holds all of this pool's ranges (starting {lo})"
                    );
                    self.untranslated.push((pos, entry));
                }
            }
        }
    }

    fn host(&mut self, st: &Statement, scope: &Scope) -> Result<(), IscError> {
        let name = match &st.words[..] {
            [_, n] if n.is_text() => n.text.clone(),
            _ => return Err(st.loc.error("expected host NAME { ... }")),
        };
        let ctx = format!("host {name}");
        let mut own = Params::default();
        let mut inner = scope.clone();
        if let Some(first) = self.host_names.get(&name) {
            return Err(st.loc.error(format!(
                "host {name} is declared twice (first at {first}); dhcpd refuses this too"
            )));
        }
        self.host_names.insert(name.clone(), st.loc.clone());
        let mut host = Host {
            name: name.clone(),
            fixed_at: None,
            hardware: None,
            client_id: None,
            fixed_address: None,
            hostname: None,
            params: Params::default(),
        };
        let mut refused = None;
        for c in st.children() {
            let kw = c.keyword().unwrap_or("").to_ascii_lowercase();
            let opt = if kw == "option" {
                c.words.get(1).map(|t| t.text.to_ascii_lowercase())
            } else {
                None
            };
            match (kw.as_str(), opt.as_deref()) {
                ("hardware", _) => match &c.words[..] {
                    [_, t, a] if t.text.eq_ignore_ascii_case("ethernet") => {
                        let o = hex_octets(&a.text)
                            .filter(|o| o.len() == 6)
                            .ok_or_else(|| {
                                a.loc
                                    .error(format!("{ctx}: bad ethernet address {:?}", a.text))
                            })?;
                        host.hardware = Some(hex(&o));
                    }
                    [_, t, _] => self.skip(
                        c,
                        format!(
                            "{ctx}: only ethernet hardware addresses are translated, not {}",
                            t.text
                        ),
                    ),
                    _ => {
                        return Err(c.loc.error(format!(
                            "{ctx}: expected hardware ethernet XX:XX:XX:XX:XX:XX;"
                        )))
                    }
                },
                ("fixed-address", _) => {
                    let g = groups(&c.words[1..]);
                    let mut addrs = Vec::new();
                    for grp in &g {
                        match grp.as_slice() {
                            [t] if t.is_text() => match address(t, &mut Vec::new()) {
                                Some(a) => addrs.push(a),
                                None => {
                                    return Err(t
                                        .loc
                                        .error(format!("{ctx}: bad fixed-address {:?}", t.text)))
                                }
                            },
                            _ => {
                                return Err(c.loc.error(format!(
                                    "{ctx}: expected fixed-address ADDRESS[, ADDRESS...];"
                                )))
                            }
                        }
                    }
                    if addrs.is_empty() {
                        return Err(c
                            .loc
                            .error(format!("{ctx}: fixed-address needs an address")));
                    }
                    if addrs.len() > 1 {
                        self.skip(
                            c,
                            format!(
                                "{ctx}: tandem reserves one address per host; {} was kept, {} not",
                                addrs[0],
                                addrs[1..].join(", ")
                            ),
                        );
                    }
                    let kept = addrs.remove(0);
                    if kept.parse::<Ipv4Addr>().is_err() {
                        self.note(c, host_name_note(&format!("{ctx} fixed-address"), &kept));
                    }
                    host.fixed_address = Some(kept);
                    host.fixed_at = Some((self.pos(c), Self::entry(c, String::new())));
                }
                ("option", Some("host-name")) => match &c.words[..] {
                    [_, _, v] if v.is_text() => {
                        host.hostname = Some(String::from_utf8_lossy(v.octets()).into_owned())
                    }
                    _ => self.skip(c, format!("{ctx}: expected option host-name \"NAME\";")),
                },
                ("option", Some("dhcp-client-identifier")) => match &c.words[..] {
                    [_, _, v] if v.kind == TokenKind::Str => host.client_id = Some(hex(v.octets())),
                    [_, _, v] if v.is_text() => match hex_octets(&v.text) {
                        Some(o) => host.client_id = Some(hex(&o)),
                        None => self.skip(c, format!("{ctx}: cannot read this client identifier")),
                    },
                    _ => self.skip(c, format!("{ctx}: cannot read this client identifier")),
                },
                ("allow" | "deny" | "ignore", _) => {
                    let what: Vec<String> = c.words[1..]
                        .iter()
                        .map(|t| t.text.to_ascii_lowercase())
                        .collect();
                    match (
                        kw.as_str(),
                        what.iter()
                            .map(String::as_str)
                            .collect::<Vec<_>>()
                            .as_slice(),
                    ) {
                        ("allow", ["booting"]) => {}
                        (_, ["booting"]) => refused = Some(c),
                        _ => self.skip(c, format!("{ctx}: not supported in a host")),
                    }
                }
                ("host-identifier", _) => self.skip(c, DHCPV6),
                ("uid", _) => self.skip(c, format!("{ctx}: use option dhcp-client-identifier")),
                _ if is_declaration(c) => {
                    self.skip(c, format!("{ctx}: {kw} is not allowed in a host"))
                }
                _ => self.param(c, Block::Host, &mut own, &mut inner),
            }
        }
        if let Some(c) = refused {
            self.skip(
                c,
                format!("{ctx}: tandem cannot refuse a known client; the host is left out (the client may still get an address from a pool)"),
            );
            return Ok(());
        }
        let mut params = scope.for_hosts.merged(&own);
        if let Some(i) = params.options.iter().position(|(n, _)| n == "host-name") {
            if let (None, Val::Str(s)) = (&host.hostname, &params.options[i].1) {
                host.hostname = Some(s.clone());
            }
            params.options.remove(i);
        }
        if host.hostname.is_none() && inner.use_host_decl_names {
            host.hostname = Some(name.clone());
        }
        host.params = params;
        if host.hardware.is_none() && host.client_id.is_none() {
            self.skip(
                st,
                format!("{ctx} has neither hardware ethernet nor dhcp-client-identifier (tandem could not match it to a client)"),
            );
            return Ok(());
        }
        self.hosts.push(host);
        Ok(())
    }

    fn class(&mut self, st: &Statement) -> Result<(), IscError> {
        let name = match &st.words[..] {
            [_, n] if n.is_text() => n.text.clone(),
            _ => return Err(st.loc.error("expected class \"NAME\" { ... }")),
        };
        let mut matcher = None;
        let mut own = Params::default();
        let mut scope = Scope::default();
        for c in st.children() {
            if c.is("match") {
                match class_match(c) {
                    Ok(m) if matcher.is_none() => matcher = Some(m),
                    Ok(_) => self.skip(c, "a class matches once"),
                    Err(why) => {
                        self.skip(st, format!("class {name}: the class is left out: {why}"));
                        return Ok(());
                    }
                }
            } else if is_declaration(c) {
                self.skip(
                    c,
                    format!("{} is not allowed in a class", c.keyword().unwrap_or("")),
                );
            } else {
                self.param(c, Block::Class, &mut own, &mut scope);
            }
        }
        let Some(matcher) = matcher else {
            self.skip(
                st,
                format!("class {name} has no match if ... (classes filled by subclass or used only in permit lists are not supported)"),
            );
            return Ok(());
        };
        self.classes.push(Class {
            name,
            matcher,
            options: own.options,
        });
        Ok(())
    }

    /// What tandem's configuration refuses of a fixed address and dhcpd
    /// accepts: one outside every subnet (dhcpd never hands it out), or one
    /// reserved for two hosts (dhcpd gives it to whichever asks). The host
    /// is kept, without the address.
    fn check_fixed_addresses(&mut self) {
        let mut taken: HashMap<Ipv4Addr, String> = HashMap::new();
        for h in &mut self.hosts {
            let Some(a) = h
                .fixed_address
                .as_ref()
                .and_then(|a| a.parse::<Ipv4Addr>().ok())
            else {
                continue;
            };
            let why = if !self.subnets.iter().any(|s| s.contains(a)) {
                Some(format!(
                    "host {}: {a} is in no subnet, so dhcpd never hands it out; the host is kept without it",
                    h.name
                ))
            } else if let Some(other) = taken.get(&a) {
                Some(format!(
                    "host {}: {a} is already reserved for host {other}, and tandem reserves an address for one host; the host is kept without it",
                    h.name
                ))
            } else {
                taken.insert(a, h.name.clone());
                None
            };
            if let (Some(why), Some((pos, mut entry))) = (why, h.fixed_at.clone()) {
                entry.reason = why;
                self.untranslated.push((pos, entry));
                h.fixed_address = None;
            }
        }
    }

    fn finish(mut self, path: &Path, options: &DhcpdImportOptions) -> DhcpImport {
        self.check_fixed_addresses();
        let mut t = String::new();
        let s = &self.settings;
        t.push_str("\n[dhcp]\n");
        if options.interfaces.is_empty() {
            t.push_str("# dhcpd takes its interfaces on its command line (Debian: INTERFACESv4 in\n# /etc/default/isc-dhcp-server). Fill them in, or import with --interface.\ninterfaces = []\n");
        } else {
            t.push_str(&format!(
                "interfaces = {}\n",
                string_array(&options.interfaces)
            ));
        }
        match s.authoritative {
            Some(a) => t.push_str(&format!("authoritative = {a}\n")),
            None => t.push_str(
                "authoritative = false  # dhcpd's default: dhcpd.conf does not say authoritative;\n",
            ),
        }
        let lease_lines = |t: &mut String, l: &LeaseTimes| {
            for (k, v) in [
                ("default-lease-time", l.default),
                ("max-lease-time", l.max),
                ("min-lease-time", l.min),
            ] {
                if let Some(v) = v {
                    t.push_str(&format!("{k} = {v}\n"));
                }
            }
        };
        lease_lines(&mut t, &self.global.lease);
        // dhcpd pings by default, waiting one second.
        if s.ping_check == Some(false) {
            t.push_str("conflict-detection = \"none\"\n");
        } else {
            let ms = match (s.ping_timeout_ms, s.ping_timeout) {
                (Some(ms), _) if ms > 0 => ms,
                (_, Some(secs)) => secs.saturating_mul(1000),
                _ => 1000,
            };
            t.push_str(&format!(
                "conflict-detection = \"icmp\"\nconflict-timeout-ms = {ms}\n"
            ));
        }
        if let Some(d) = s.decline_hold {
            t.push_str(&format!("decline-hold-time = {d}\n"));
        }
        if let Some(a) = &s.server_identifier {
            t.push_str(&format!("server-identifier = {}\n", string(a)));
        }
        if let Some(f) = &options.import_leases {
            t.push_str(&format!("import-leases = {}\n", string(f)));
        }
        let options_table = |t: &mut String, table: &str, opts: &[(String, Val)]| {
            if opts.is_empty() {
                return;
            }
            t.push_str(&format!("[{table}]\n"));
            for (n, v) in opts {
                t.push_str(&format!("{} = {}\n", key(n), v.toml()));
            }
        };
        if !self.global.options.is_empty() {
            t.push('\n');
            options_table(&mut t, "dhcp.options", &self.global.options);
        }
        for (name, code, ty) in &self.definitions {
            t.push_str(&format!(
                "\n[[dhcp.option-definition]]\nname = {}\ncode = {code}\ntype = {}\n",
                string(name),
                string(ty.name())
            ));
        }
        let failover_section = self.failover_section();
        t.push_str(&failover_section);
        for sub in &self.subnets {
            t.push_str(&format!(
                "\n[[dhcp.subnet]]\nsubnet = \"{}/{}\"\n",
                sub.net, sub.prefix
            ));
            if let Some(i) = &sub.interface {
                t.push_str(&format!("interface = {}\n", string(i)));
            }
            lease_lines(&mut t, &sub.params.lease);
            options_table(&mut t, "dhcp.subnet.options", &sub.params.options);
            for p in &sub.pools {
                t.push_str("[[dhcp.subnet.pool]]\n");
                let rs: Vec<String> = p.ranges.iter().map(|(a, b)| format!("{a} - {b}")).collect();
                if rs.len() == 1 {
                    t.push_str(&format!("range = {}\n", string(&rs[0])));
                } else {
                    t.push_str(&format!("ranges = {}\n", string_array(&rs)));
                }
                if let Some(f) = &p.failover {
                    t.push_str(&format!("failover-peer = {}\n", string(f)));
                }
                lease_lines(&mut t, &p.params.lease);
                options_table(&mut t, "dhcp.subnet.pool.options", &p.params.options);
            }
        }
        for h in &self.hosts {
            t.push_str(&format!("\n[[dhcp.host]]\nname = {}\n", string(&h.name)));
            for (k, v) in [
                ("hardware-address", &h.hardware),
                ("client-id", &h.client_id),
                ("fixed-address", &h.fixed_address),
                ("hostname", &h.hostname),
            ] {
                if let Some(v) = v {
                    t.push_str(&format!("{k} = {}\n", string(v)));
                }
            }
            lease_lines(&mut t, &h.params.lease);
            options_table(&mut t, "dhcp.host.options", &h.params.options);
        }
        for c in &self.classes {
            t.push_str(&format!(
                "\n[[dhcp.class]]\nname = {}\n{} = {}\n",
                string(&c.name),
                c.matcher.0,
                string(&c.matcher.1)
            ));
            options_table(&mut t, "dhcp.class.options", &c.options);
        }
        t.push_str(&self.ddns_section());
        if options.interfaces.is_empty() {
            let e = Untranslated {
                loc: Location {
                    file: path.to_path_buf(),
                    line: 0,
                    col: 0,
                },
                statement: "interfaces = []".into(),
                reason: "dhcpd.conf does not name interfaces (dhcpd takes them on its command line; Debian: INTERFACESv4 in /etc/default/isc-dhcp-server): fill in [dhcp] interfaces, or import with --interface".into(),
            };
            self.notes.insert(0, (0, e));
        }
        self.untranslated.sort_by_key(|(n, _)| *n);
        self.notes.sort_by_key(|(n, _)| *n);
        let mut key_files: Vec<PathBuf> = Vec::new();
        for k in &self.keys {
            if !key_files.contains(&k.loc.file) {
                key_files.push(k.loc.file.clone());
            }
        }
        let mut im = DhcpImport {
            toml: String::new(),
            dhcp_section: t,
            failover_section,
            keys: self.keys,
            key_files,
            untranslated: self.untranslated.into_iter().map(|(_, u)| u).collect(),
            notes: self.notes.into_iter().map(|(_, u)| u).collect(),
            source: path.to_path_buf(),
        };
        im.toml = crate::output::single_dhcp(&im);
        im
    }
}

fn bool_word(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "on" => Some(true),
        "false" | "off" => Some(false),
        _ => None,
    }
}

/// Bytes from a value as dhcpd reads it: decimal octets separated by commas
/// (`octets`, the `array of integer 8` idiom), or one string or hex list.
fn bytes(g: &[Vec<&Token>], octets: bool) -> Option<Vec<u8>> {
    match g {
        [one] if one.len() == 1 && !(octets && one[0].kind == TokenKind::Number) => {
            let t = one[0];
            match t.kind {
                TokenKind::Str => Some(t.octets().to_vec()),
                _ => hex_octets(&t.text),
            }
        }
        _ if octets => g
            .iter()
            .map(|grp| match grp.as_slice() {
                [t] if t.kind == TokenKind::Number => t.text.parse::<u8>().ok(),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

/// Whether a statement declares something (a block with its own meaning)
/// rather than setting a parameter of the enclosing scope.
fn is_declaration(st: &Statement) -> bool {
    let kw = st.keyword().unwrap_or("").to_ascii_lowercase();
    match kw.as_str() {
        "subnet" | "shared-network" | "group" | "host" | "class" | "subclass" | "pool"
        | "subnet6" | "zone" => true,
        "key" => st.block.is_some(),
        // `failover peer NAME { ... }` declares a peer; a pool's
        // `failover peer NAME;` is a parameter of the pool.
        "failover" => st.block.is_some(),
        _ => false,
    }
}

/// Splits words so that `(`, `)`, `=` and `,` stand alone: dhcpd's
/// expression syntax needs no spaces around them.
fn atoms(words: &[Token]) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    for w in words {
        match w.kind {
            TokenKind::Str => out.push((true, String::from_utf8_lossy(w.octets()).into_owned())),
            TokenKind::Comma => out.push((false, ",".into())),
            _ => {
                let mut cur = String::new();
                for ch in w.text.chars() {
                    if matches!(ch, '(' | ')' | '=') {
                        if !cur.is_empty() {
                            out.push((false, std::mem::take(&mut cur)));
                        }
                        out.push((false, ch.to_string()));
                    } else {
                        cur.push(ch);
                    }
                }
                if !cur.is_empty() {
                    out.push((false, cur));
                }
            }
        }
    }
    out
}

/// A class's `match if ...;` as tandem's `vendor-class-prefix`,
/// `vendor-class` or `user-class`.
fn class_match(c: &Statement) -> Result<(&'static str, String), Why> {
    let a = atoms(&c.words[1..]);
    let mut a: Vec<(bool, &str)> = a.iter().map(|(q, s)| (*q, s.as_str())).collect();
    match a.first() {
        Some((false, w)) if w.eq_ignore_ascii_case("if") => {
            a.remove(0);
        }
        _ => {
            return Err(
                "only match if EXPRESSION is translated (match VALUE with subclasses is not)"
                    .into(),
            )
        }
    }
    // Parentheses around the whole comparison change nothing.
    while a.first() == Some(&(false, "(")) && a.last() == Some(&(false, ")")) {
        a.remove(0);
        a.pop();
    }
    let unsupported = || {
        format!(
            "only substring(option vendor-class-identifier, 0, N) = \"TEXT\", option vendor-class-identifier = \"TEXT\" and option user-class = \"TEXT\" are translated, not {}",
            c.render()
        )
    };
    let lower = |s: &str| s.to_ascii_lowercase();
    match a.as_slice() {
        [(false, sub), (false, "("), (false, opt), (false, name), (false, ","), (false, zero), (false, ","), (false, n), (false, ")"), (false, "="), (true, text)]
            if lower(sub) == "substring" && lower(opt) == "option" && *zero == "0" =>
        {
            let n: usize = n.parse().map_err(|_| unsupported())?;
            if lower(name) != "vendor-class-identifier" {
                return Err(format!(
                    "prefix matches are translated for vendor-class-identifier only; {}",
                    unsupported()
                ));
            }
            if n != text.len() {
                return Err(format!(
                    "substring length {n} differs from the length of \"{text}\" ({}), so dhcpd compares something else than a prefix",
                    text.len()
                ));
            }
            Ok(("vendor-class-prefix", text.to_string()))
        }
        [(false, opt), (false, name), (false, "="), (true, text)] if lower(opt) == "option" => {
            match lower(name).as_str() {
                "vendor-class-identifier" => Ok(("vendor-class", text.to_string())),
                "user-class" => Ok(("user-class", text.to_string())),
                _ => Err(unsupported()),
            }
        }
        _ => Err(unsupported()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names() {
        assert!(looks_like_host_name("router.home"));
        assert!(looks_like_host_name("router"));
        assert!(!looks_like_host_name("10.0.0.300"));
        assert!(!looks_like_host_name("a..b"));
        assert!(!looks_like_host_name("a b"));
    }
}
