//! `tandem import-isc` with both servers' files (`--peer-dhcpd-conf`,
//! `--peer-named-conf`): one configuration both nodes share plus each
//! node's identity, which includes it (`tandem_isc::combine_pair`).
//!
//! DIR gets `shared.toml`, `primary.toml` and `secondary.toml` (named
//! after each node's failover role), the primary zones' files under
//! `zones/`, and `imported-leases.json` with `--leases`. Each node runs
//! `tandem serve --config DIR/<its role>.toml` on its own machine (or both
//! from one DIR: their state directories differ).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use tandem_config::Config;

type Imports = (Option<tandem_isc::Import>, Option<tandem_isc::DhcpImport>);

fn view(i: &Imports) -> tandem_isc::NodeImport<'_> {
    (i.0.as_ref(), i.1.as_ref())
}

/// The files of one server.
pub struct ServerFiles {
    pub named_conf: Option<PathBuf>,
    pub dhcpd_conf: Option<PathBuf>,
}

pub fn run(
    this: ServerFiles,
    peer: ServerFiles,
    leases: Option<PathBuf>,
    interfaces: Vec<String>,
    out: PathBuf,
    imported_leases: &str,
) -> anyhow::Result<ExitCode> {
    let mut loader = tandem_isc::fs_loader();
    let leases = match crate::read_isc_leases(leases.as_ref())? {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let options = tandem_isc::DhcpdImportOptions {
        interfaces,
        import_leases: leases.as_ref().map(|_| imported_leases.to_string()),
    };
    let mut imports = Vec::new();
    for s in [&this, &peer] {
        let named = match &s.named_conf {
            Some(p) => match tandem_isc::import_named_conf(p, &mut loader) {
                Ok(i) => Some(i),
                Err(e) => {
                    eprintln!("{e}");
                    return Ok(ExitCode::FAILURE);
                }
            },
            None => None,
        };
        let dhcp = match &s.dhcpd_conf {
            Some(p) => match tandem_isc::import_dhcpd_conf(p, &options, &mut loader) {
                Ok(i) => Some(i),
                Err(e) => {
                    eprintln!("{e}");
                    return Ok(ExitCode::FAILURE);
                }
            },
            None => None,
        };
        imports.push((named, dhcp));
    }
    let pair = match tandem_isc::combine_pair(view(&imports[0]), view(&imports[1])) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let shared = out.join(tandem_isc::SHARED_FILE);
    for f in std::iter::once(shared.clone()).chain(pair.nodes.iter().map(|(n, _)| out.join(n))) {
        if f.exists() {
            anyhow::bail!("{} exists; import into an empty directory", f.display());
        }
    }
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut copied: Vec<(PathBuf, PathBuf)> = Vec::new();
    for named in imports.iter().filter_map(|i| i.0.as_ref()) {
        if named.zone_files.is_empty() {
            continue;
        }
        std::fs::create_dir_all(out.join("zones"))
            .with_context(|| format!("cannot create {}", out.join("zones").display()))?;
        for (from, to) in &named.zone_files {
            let dest = out.join(to);
            if let Some((other, _)) = copied.iter().find(|(_, d)| *d == dest) {
                anyhow::bail!(
                    "both servers have a zone file called {}: {} and {}",
                    to,
                    other.display(),
                    from.display()
                );
            }
            std::fs::copy(from, &dest).with_context(|| {
                format!(
                    "cannot copy zone file {} to {}",
                    from.display(),
                    dest.display()
                )
            })?;
            println!("copied {} -> {}", from.display(), dest.display());
            copied.push((from.clone(), dest));
        }
    }
    if let Some((from, leases)) = &leases {
        let dest = out.join(imported_leases);
        let json = tandem_isc::leases_json(leases).context("cannot write the leases as JSON")?;
        std::fs::write(&dest, json).with_context(|| format!("cannot write {}", dest.display()))?;
        println!(
            "imported {} leases from {} -> {} (both nodes load them at their first start)",
            leases.len(),
            from.display(),
            dest.display()
        );
    }
    std::fs::write(&shared, &pair.shared)
        .with_context(|| format!("cannot write {}", shared.display()))?;
    println!("wrote {} (what both nodes share)", shared.display());
    for (name, text) in &pair.nodes {
        let p = out.join(name);
        std::fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))?;
        println!(
            "wrote {} (this node's identity; includes {})",
            p.display(),
            tandem_isc::SHARED_FILE
        );
    }
    for (i, (name, _)) in pair.nodes.iter().enumerate() {
        let (named, dhcp) = view(&imports[i]);
        let untranslated: Vec<&tandem_isc::Untranslated> = named
            .iter()
            .flat_map(|n| &n.untranslated)
            .chain(dhcp.iter().flat_map(|d| &d.untranslated))
            .collect();
        let notes: Vec<&tandem_isc::Untranslated> = dhcp.iter().flat_map(|d| &d.notes).collect();
        list(&format!("{name}: not translated"), &untranslated);
        list(&format!("{name}: translated, but check"), &notes);
    }
    let mut ok = true;
    for (name, _) in &pair.nodes {
        ok &= check(&out.join(name));
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn list(title: &str, items: &[&tandem_isc::Untranslated]) {
    if items.is_empty() {
        return;
    }
    println!("{title} ({}):", items.len());
    for u in items {
        println!(
            "  {}:{}:{}: {}: {}",
            u.loc.file.display(),
            u.loc.line,
            u.loc.col,
            u.statement,
            u.reason
        );
    }
}

/// The node's file must be a configuration tandem accepts, zone files
/// included.
fn check(config: &Path) -> bool {
    let checked = match Config::load(config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            eprintln!(
                "check: {} needs editing before tandem accepts it (see above)",
                config.display()
            );
            return false;
        }
    };
    if let Err(errors) = tandem_zonestore::check(&tandem_server::zone_specs(&checked)) {
        for e in errors {
            eprintln!("{e}");
        }
        return false;
    }
    let dhcp = match &checked.dhcp {
        Some(d) => format!(
            ", dhcp: {} subnets, {} hosts",
            d.subnets.len(),
            d.hosts.len()
        ),
        None => String::new(),
    };
    println!(
        "check: {}: ok ({} zones{dhcp}); run: tandem serve --config {}",
        config.display(),
        checked.zones.len(),
        config.display()
    );
    true
}
