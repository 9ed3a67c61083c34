//! The tandem.toml an import writes, and how the named.conf and dhcpd.conf
//! imports share one.
//!
//! This module owns the file's layout: a header naming the sources, then
//! `[server]`, `[dns]` (from named.conf), the `[[key]]` tables, the
//! `[[zone]]` tables, `[dhcp]` (from dhcpd.conf), and at the end, as
//! comments, what was not translated and what should be checked. Each
//! import renders its own sections; [`combine`] puts the two imports of one
//! server into one file, defining a key that both files hold once.

use std::path::{Path, PathBuf};

use tandem_dns_wire::Algorithm;

use crate::dhcpd::DhcpImport;
use crate::keys::KeyDef;
use crate::named::{Import, Untranslated};
use crate::toml_text::{comment, string};
use crate::IscError;

/// One tandem configuration from a named.conf import, a dhcpd.conf import,
/// or both (as `tandem import-isc --named-conf ... --dhcpd-conf ...`
/// writes it).
///
/// A key defined in both files (the usual DDNS key, which named.conf
/// allows updates with and dhcpd.conf signs them with) is written once.
/// Errors: a key of the same name whose algorithm or secret differs, at the
/// dhcpd.conf key.
pub fn combine(named: Option<&Import>, dhcp: Option<&DhcpImport>) -> Result<String, IscError> {
    let mut keys: Vec<&KeyDef> = named.map(|n| n.keys.iter().collect()).unwrap_or_default();
    if let Some(d) = dhcp {
        for k in &d.keys {
            match keys.iter().find(|f| f.name == k.name) {
                Some(f) if algorithm(f) == algorithm(k) && f.secret == k.secret => {}
                Some(f) => {
                    return Err(k.loc.error(format!(
                        "key {} is also defined at {}, with another algorithm or secret",
                        k.name_text(),
                        f.loc
                    )))
                }
                None => keys.push(k),
            }
        }
    }
    let mut key_files: Vec<&Path> = Vec::new();
    for k in &keys {
        if !key_files.contains(&k.loc.file.as_path()) {
            key_files.push(&k.loc.file);
        }
    }
    let mut sources: Vec<&Path> = Vec::new();
    let mut untranslated: Vec<&Untranslated> = Vec::new();
    let mut notes: Vec<&Untranslated> = Vec::new();
    if let Some(n) = named {
        sources.push(&n.source);
        untranslated.extend(&n.untranslated);
    }
    if let Some(d) = dhcp {
        sources.push(&d.source);
        untranslated.extend(&d.untranslated);
        notes.extend(&d.notes);
    }
    Ok(render(&Parts {
        sources,
        dns: named.map(|n| n.dns_section.as_str()),
        keys,
        key_files,
        zones: named.map(|n| n.zones_section.as_str()).unwrap_or(""),
        dhcp: dhcp.map(|d| d.dhcp_section.as_str()),
        untranslated,
        notes,
    }))
}

/// The file for a named.conf import alone.
pub(crate) fn single_named(im: &Import) -> String {
    render(&Parts {
        sources: vec![&im.source],
        dns: Some(&im.dns_section),
        keys: im.keys.iter().collect(),
        key_files: im.key_files.iter().map(PathBuf::as_path).collect(),
        zones: &im.zones_section,
        dhcp: None,
        untranslated: im.untranslated.iter().collect(),
        notes: Vec::new(),
    })
}

/// The file for a dhcpd.conf import alone.
pub(crate) fn single_dhcp(im: &DhcpImport) -> String {
    render(&Parts {
        sources: vec![&im.source],
        dns: None,
        keys: im.keys.iter().collect(),
        key_files: im.key_files.iter().map(PathBuf::as_path).collect(),
        zones: "",
        dhcp: Some(&im.dhcp_section),
        untranslated: im.untranslated.iter().collect(),
        notes: im.notes.iter().collect(),
    })
}

/// A key's algorithm as tandem writes it: BIND's short name
/// (`HMAC-MD5.SIG-ALG.REG.INT`, dhcpd's spelling, is `hmac-md5`), or as
/// written if it is none tandem knows (`tandem check` then says so).
fn algorithm(k: &KeyDef) -> String {
    k.algorithm
        .parse::<Algorithm>()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| k.algorithm.clone())
}

struct Parts<'a> {
    sources: Vec<&'a Path>,
    dns: Option<&'a str>,
    keys: Vec<&'a KeyDef>,
    key_files: Vec<&'a Path>,
    zones: &'a str,
    dhcp: Option<&'a str>,
    untranslated: Vec<&'a Untranslated>,
    notes: Vec<&'a Untranslated>,
}

fn render(p: &Parts<'_>) -> String {
    let mut t = String::new();
    let names: Vec<String> = p
        .sources
        .iter()
        .map(|s| comment(&s.display().to_string()))
        .collect();
    t.push_str(&format!(
        "# tandem configuration imported from {} by tandem-isc.\n",
        names.join(" and ")
    ));
    if !p.untranslated.is_empty() {
        t.push_str(&format!(
            "# {} statement(s) were not translated; they are listed at the end.\n",
            p.untranslated.len()
        ));
    }
    if !p.notes.is_empty() {
        t.push_str(&format!(
            "# {} translated statement(s) should be checked; they are listed at the end.\n",
            p.notes.len()
        ));
    }
    t.push_str("\n[server]\nstate-dir = \"state\"\n");
    if let Some(dns) = p.dns {
        t.push_str(dns);
    }
    if !p.key_files.is_empty() {
        let names: Vec<String> = p
            .key_files
            .iter()
            .map(|f| comment(&f.display().to_string()))
            .collect();
        t.push_str(&format!(
            "\n# TSIG keys, inlined from {}.\n# The secrets are below: keep this file readable only by tandem.\n",
            names.join(", ")
        ));
    }
    for (i, k) in p.keys.iter().enumerate() {
        if i > 0 {
            t.push('\n');
        }
        t.push_str(&format!(
            "[[key]]\nname = {}\nalgorithm = {}\nsecret = {}\n",
            string(&k.name_text()),
            string(&algorithm(k)),
            string(&k.secret_base64())
        ));
    }
    t.push_str(p.zones);
    if let Some(d) = p.dhcp {
        t.push_str(d);
    }
    let list = |t: &mut String, title: &str, items: &[&Untranslated]| {
        if items.is_empty() {
            return;
        }
        t.push_str(&format!("\n# {title}:\n"));
        for u in items {
            t.push_str(&format!(
                "#   {}: {}\n#     {}\n",
                comment(&u.loc.to_string()),
                comment(&u.statement),
                comment(&u.reason)
            ));
        }
    };
    list(&mut t, "Not translated", &p.untranslated);
    list(&mut t, "Translated, but check", &p.notes);
    t
}

/// The two nodes of a pair, imported from each node's own files (the
/// seed's two servers: "other than this, the two servers should have
/// identical config"): one configuration both share, and each node's
/// identity, which includes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pair {
    /// `shared.toml`: the keys, `[dhcp]` without the failover peers
    /// (subnets, pools, hosts, options, classes) and `[ddns]`.
    pub shared: String,
    /// Each node's file name (`primary.toml`, `secondary.toml`, after its
    /// failover role) and text: `include = "shared.toml"`, `[server]`,
    /// `[dns]`, its `[[zone]]` tables (primary on one node, secondary on
    /// the other), its `[[dhcp.failover]]` and what was not translated of
    /// its files.
    pub nodes: [(String, String); 2],
}

/// The name of the file a pair's nodes include.
pub const SHARED_FILE: &str = "shared.toml";

/// One node's imports.
pub type NodeImport<'a> = (Option<&'a Import>, Option<&'a DhcpImport>);

/// [`Pair`] from both nodes' imports (`this` first).
///
/// Errors: a key defined differently in two files; one node with a
/// dhcpd.conf and the other without; the two dhcpd.conf translating to
/// different shared configuration (the first differing line is named).
pub fn combine_pair(this: NodeImport<'_>, peer: NodeImport<'_>) -> Result<Pair, IscError> {
    let mut keys: Vec<&KeyDef> = Vec::new();
    let all = [this, peer];
    for (named, dhcp) in all {
        let defs = named
            .iter()
            .flat_map(|n| &n.keys)
            .chain(dhcp.iter().flat_map(|d| &d.keys));
        for k in defs {
            match keys.iter().find(|f| f.name == k.name) {
                Some(f) if algorithm(f) == algorithm(k) && f.secret == k.secret => {}
                Some(f) => {
                    return Err(k.loc.error(format!(
                        "key {} is also defined at {}, with another algorithm or secret",
                        k.name_text(),
                        f.loc
                    )))
                }
                None => keys.push(k),
            }
        }
    }
    let shared_dhcp = |d: &DhcpImport| {
        if d.failover_section.is_empty() {
            d.dhcp_section.clone()
        } else {
            d.dhcp_section.replacen(&d.failover_section, "", 1)
        }
    };
    let dhcp = match (this.1, peer.1) {
        (None, None) => None,
        (Some(a), Some(b)) => {
            let (ta, tb) = (shared_dhcp(a), shared_dhcp(b));
            if ta != tb {
                let (la, lb) = ta
                    .lines()
                    .map(Some)
                    .chain(std::iter::repeat(None))
                    .zip(tb.lines().map(Some).chain(std::iter::repeat(None)))
                    .find(|(x, y)| x != y)
                    .unwrap_or((None, None));
                return Err(crate::Location {
                    file: b.source.clone(),
                    line: 0,
                    col: 0,
                }
                .error(format!(
                    "the two servers' dhcpd.conf differ in more than their failover peer (the seed: \"other than this, the two servers should have identical config\"): {} has `{}` where {} has `{}`",
                    a.source.display(),
                    la.unwrap_or("nothing"),
                    b.source.display(),
                    lb.unwrap_or("nothing")
                )));
            }
            Some(ta)
        }
        (Some(d), None) | (None, Some(d)) => {
            return Err(crate::Location {
                file: d.source.clone(),
                line: 0,
                col: 0,
            }
            .error("a pair needs both servers' dhcpd.conf, or neither"))
        }
    };
    let sources = |n: NodeImport<'_>| -> Vec<String> {
        n.0.map(|i| &i.source)
            .into_iter()
            .chain(n.1.map(|d| &d.source))
            .map(|s| comment(&s.display().to_string()))
            .collect()
    };
    let mut t = String::new();
    let everything: Vec<String> = sources(this).into_iter().chain(sources(peer)).collect();
    t.push_str(&format!(
        "# tandem configuration shared by both nodes of a pair, imported from\n# {} by tandem-isc.\n# Each node's own file includes it (include = \"{SHARED_FILE}\"); what was\n# not translated is listed at the end of each node's file.\n",
        everything.join(", ")
    ));
    if !keys.is_empty() {
        t.push_str(
            "\n# TSIG keys. The secrets are below: keep this file readable only by tandem.\n",
        );
    }
    for (i, k) in keys.iter().enumerate() {
        if i > 0 {
            t.push('\n');
        }
        t.push_str(&key_table(k));
    }
    if let Some(d) = &dhcp {
        t.push_str(d);
    }
    let node = |n: NodeImport<'_>, fallback: &str| -> (String, String) {
        let failover = n.1.map(|d| d.failover_section.as_str()).unwrap_or("");
        let role = if failover.contains("role = \"primary\"") {
            "primary"
        } else if failover.contains("role = \"secondary\"") {
            "secondary"
        } else {
            fallback
        };
        let mut t = format!(
            "# tandem node {role} of a pair, imported from {} by tandem-isc.\n# This node's identity; everything both nodes share is in {SHARED_FILE}.\ninclude = \"{SHARED_FILE}\"\n",
            sources(n).join(" and ")
        );
        t.push_str(&format!("\n[server]\nstate-dir = \"state/{role}\"\n"));
        if let Some(named) = n.0 {
            t.push_str(&named.dns_section);
            t.push_str(&named.zones_section);
        }
        t.push_str(failover);
        let untranslated: Vec<&Untranslated> =
            n.0.iter()
                .flat_map(|i| &i.untranslated)
                .chain(n.1.iter().flat_map(|d| &d.untranslated))
                .collect();
        let notes: Vec<&Untranslated> = n.1.iter().flat_map(|d| &d.notes).collect();
        list_text(&mut t, "Not translated", &untranslated);
        list_text(&mut t, "Translated, but check", &notes);
        (format!("{role}.toml"), t)
    };
    let a = node(this, "this");
    let mut b = node(peer, "peer");
    if b.0 == a.0 {
        b = node(peer, "peer");
        b.0 = "peer.toml".into();
    }
    Ok(Pair {
        shared: t,
        nodes: [a, b],
    })
}

fn key_table(k: &KeyDef) -> String {
    format!(
        "[[key]]\nname = {}\nalgorithm = {}\nsecret = {}\n",
        string(&k.name_text()),
        string(&algorithm(k)),
        string(&k.secret_base64())
    )
}

fn list_text(t: &mut String, title: &str, items: &[&Untranslated]) {
    if items.is_empty() {
        return;
    }
    t.push_str(&format!("\n# {title}:\n"));
    for u in items {
        t.push_str(&format!(
            "#   {}: {}\n#     {}\n",
            comment(&u.loc.to_string()),
            comment(&u.statement),
            comment(&u.reason)
        ));
    }
}
