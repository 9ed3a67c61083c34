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
