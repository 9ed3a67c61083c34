//! `tandem import-isc` on the seed's files exactly as the write-up has
//! them (`fixtures/seed/`): each server alone, and both servers at once
//! (one shared configuration plus each node's identity). Every result must
//! pass `tandem check`, keep the failover peer, the pool's failover
//! statement, the zone statements and the key, and list what it did not
//! translate with file:line. `tests/demo.rs` serves with the pair's files.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{import_isc, tandem_bin};

fn seed(node: &str, file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/seed")
        .join(node)
        .join(file)
}

fn check(config: &Path) {
    let out = Command::new(tandem_bin())
        .args(["check", "--config"])
        .arg(config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tandem check {}: {}{}",
        config.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn each_server_alone() {
    for (node, role) in [("primary", "primary"), ("secondary", "secondary")] {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let report = import_isc([
            "--dhcpd-conf".as_ref(),
            seed(node, "dhcpd.conf").as_os_str(),
            "--named-conf".as_ref(),
            seed(node, "named.conf").as_os_str(),
            "--interface".as_ref(),
            "eth0".as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
        ]);
        let config = out.join("tandem.toml");
        check(&config);
        let t = std::fs::read_to_string(&config).unwrap();
        assert!(t.contains(&format!("role = \"{role}\"")), "{t}");
        assert!(t.contains("failover-peer = \"dhcp-failover\""), "{t}");
        assert!(t.contains("name = \"DHCP_UPDATER\""), "{t}");
        assert!(t.contains("[[ddns.zone]]\nname = \"home.\""), "{t}");
        assert!(
            t.contains("[[ddns.zone]]\nname = \"0.168.192.in-addr.arpa.\""),
            "{t}"
        );
        if role == "primary" {
            assert!(
                t.contains("mclt = 1800") && t.contains("split = 128"),
                "{t}"
            );
            assert!(t.contains("type = \"primary\""), "{t}");
            assert!(!report.contains("not translated"), "{report}");
        } else {
            assert!(t.contains("type = \"secondary\""), "{t}");
            assert!(t.contains("primaries = [\"192.168.0.254\"]"), "{t}");
            assert!(
                t.contains("allow-update-forwarding = [\"key DHCP_UPDATER\"]"),
                "{t}"
            );
            // The secondary's zone files are not used: said, with file:line.
            let listed = format!(
                "{}:8:9: file \"home.zone\";",
                seed(node, "named.conf.local").display()
            );
            assert!(report.contains(&listed), "{report}");
        }
    }
}

#[test]
fn both_servers_make_one_shared_config_and_two_identities() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let report = import_isc([
        "--dhcpd-conf".as_ref(),
        seed("primary", "dhcpd.conf").as_os_str(),
        "--named-conf".as_ref(),
        seed("primary", "named.conf").as_os_str(),
        "--peer-dhcpd-conf".as_ref(),
        seed("secondary", "dhcpd.conf").as_os_str(),
        "--peer-named-conf".as_ref(),
        seed("secondary", "named.conf").as_os_str(),
        "--interface".as_ref(),
        "eth0".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    let shared = std::fs::read_to_string(out.join("shared.toml")).unwrap();
    let primary = std::fs::read_to_string(out.join("primary.toml")).unwrap();
    let secondary = std::fs::read_to_string(out.join("secondary.toml")).unwrap();
    check(&out.join("primary.toml"));
    check(&out.join("secondary.toml"));
    // Shared: the key once, the subnet and pool, DDNS; no failover peer.
    assert_eq!(shared.matches("[[key]]").count(), 1, "{shared}");
    assert!(
        shared.contains("failover-peer = \"dhcp-failover\""),
        "{shared}"
    );
    assert!(shared.contains("[[ddns.zone]]"), "{shared}");
    assert!(!shared.contains("[[dhcp.failover]]"), "{shared}");
    assert!(!shared.contains("[[zone]]"), "{shared}");
    // Each identity: include, own state, own zones, own failover peer.
    for (t, role, zone_type, state) in [
        (&primary, "primary", "primary", "state/primary"),
        (&secondary, "secondary", "secondary", "state/secondary"),
    ] {
        assert!(t.contains("include = \"shared.toml\""), "{t}");
        assert!(t.contains(&format!("state-dir = \"{state}\"")), "{t}");
        assert!(t.contains(&format!("role = \"{role}\"")), "{t}");
        assert_eq!(
            t.matches(&format!("type = \"{zone_type}\"")).count(),
            2,
            "{t}"
        );
        assert!(!t.contains("[[key]]"), "{t}");
    }
    assert!(primary.contains("split = 128"), "{primary}");
    assert!(
        secondary.contains("peer-address = \"192.168.0.254\""),
        "{secondary}"
    );
    assert!(
        report.contains("secondary.toml: not translated (2)"),
        "{report}"
    );
    assert!(out.join("zones/home.zone").exists());
}

#[test]
fn two_servers_that_disagree_are_refused_with_the_difference() {
    let tmp = tempfile::tempdir().unwrap();
    let other = tmp.path().join("dhcpd.conf");
    let text = std::fs::read_to_string(seed("secondary", "dhcpd.conf")).unwrap();
    std::fs::write(&other, text.replace("192.168.0.245", "192.168.0.240")).unwrap();
    let out = Command::new(tandem_bin())
        .arg("import-isc")
        .arg("--dhcpd-conf")
        .arg(seed("primary", "dhcpd.conf"))
        .arg("--peer-dhcpd-conf")
        .arg(&other)
        .args(["--interface", "eth0", "--out"])
        .arg(tmp.path().join("out"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("192.168.0.15 - 192.168.0.245")
            && err.contains("192.168.0.15 - 192.168.0.240"),
        "{err}"
    );
    assert!(!tmp.path().join("out").exists());
}

#[test]
fn an_error_in_the_shared_file_names_that_file() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("node.toml"),
        "include = \"shared.toml\"\n\n[server]\nstate-dir = \"state\"\n",
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("shared.toml"),
        "# shared\n\n[[key]]\nname = \"k\"\nalgorithm = \"hmac-md5\"\nsecret = 7\n",
    )
    .unwrap();
    let out = Command::new(tandem_bin())
        .args(["check", "--config"])
        .arg(tmp.path().join("node.toml"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    let want = format!("{}:6:", tmp.path().join("shared.toml").display());
    assert!(err.contains(&want), "{err}");
}
