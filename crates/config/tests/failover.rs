//! `[[dhcp.failover]]` and the pools' `failover-peer`.

use std::path::Path;

use tandem_config::Config;
use tandem_dhcp::failover::{Hba, Role};

fn parse(text: &str) -> Result<Config, String> {
    Config::parse(text, Path::new("/etc/tandem/tandem.toml")).map_err(|e| e.to_string())
}

/// The seed's primary, in tandem's words.
const PRIMARY: &str = r#"
[dhcp]
interfaces = ["eth0"]

[[dhcp.failover]]
name = "dhcp-failover"
role = "primary"
address = "192.168.0.254"
port = 647
peer-address = "192.168.0.253"
peer-port = 647
max-response-delay = 30
max-unacked-updates = 10
load-balance-max-seconds = 3
mclt = 1800
split = 128

[[dhcp.subnet]]
subnet = "192.168.0.0/24"
[[dhcp.subnet.pool]]
range = "192.168.0.15 - 192.168.0.245"
failover-peer = "dhcp-failover"
"#;

#[test]
fn the_seeds_primary() {
    let c = parse(PRIMARY).unwrap();
    let d = c.dhcp.unwrap();
    let f = &d.failover[0];
    assert_eq!(f.name, "dhcp-failover");
    assert_eq!(f.role, Role::Primary);
    assert_eq!(f.address.to_string(), "192.168.0.254");
    assert_eq!(f.peer_address.to_string(), "192.168.0.253");
    assert_eq!((f.port, f.peer_port), (647, 647));
    assert_eq!(f.max_response_delay, 30);
    assert_eq!(f.max_unacked_updates, 10);
    assert_eq!(f.load_balance_max_seconds, 3);
    assert_eq!(f.mclt, 1800);
    assert_eq!(f.hba, Some(Hba::from_split(128).unwrap()));
    assert_eq!(f.pools, vec![(0, 0)]);
    // ISC's defaults for what the seed does not set.
    assert_eq!((f.max_lease_misbalance, f.max_lease_ownership), (15, 10));
    assert_eq!((f.min_balance, f.max_balance), (60, 3600));
    assert_eq!(f.auto_partner_down, None);
}

#[test]
fn the_seeds_secondary_has_no_mclt_or_split() {
    let text = PRIMARY
        .replace("role = \"primary\"", "role = \"secondary\"")
        .replace("address = \"192.168.0.254\"", "address = \"X\"")
        .replace(
            "peer-address = \"192.168.0.253\"",
            "peer-address = \"192.168.0.254\"",
        )
        .replace("address = \"X\"", "address = \"192.168.0.253\"")
        .replace("mclt = 1800\n", "")
        .replace("split = 128\n", "");
    let d = parse(&text).unwrap().dhcp.unwrap();
    assert_eq!(d.failover[0].role, Role::Secondary);
    assert_eq!(d.failover[0].hba, None);
    let with_mclt = text.replace(
        "load-balance-max-seconds = 3",
        "load-balance-max-seconds = 3\nmclt = 60",
    );
    let e = parse(&with_mclt).unwrap_err();
    assert!(e.contains("mclt is the primary's"), "{e}");
}

#[test]
fn mistakes_are_located() {
    for (from, to, want) in [
        ("mclt = 1800\n", "", "a primary must have mclt"),
        ("split = 128\n", "", "a primary must have split or hba"),
        ("split = 128", "split = 300", "split 300 is out of range"),
        (
            "split = 128",
            "hba = \"ff:00\"",
            "hba must be 32 colon-separated hex bytes",
        ),
        (
            "role = \"primary\"",
            "role = \"master\"",
            "role must be \"primary\" or \"secondary\"",
        ),
        (
            "peer-address = \"192.168.0.253\"",
            "peer-address = \"192.168.0.254\"",
            "own address",
        ),
        (
            "failover-peer = \"dhcp-failover\"",
            "failover-peer = \"other\"",
            "not a configured relationship",
        ),
        (
            "max-unacked-updates = 10",
            "max-unacked-updates = 0",
            "at least 1",
        ),
        (
            "mclt = 1800",
            "mclt = 1800\nmax-lease-ownership = 101",
            "percentage",
        ),
    ] {
        let text = PRIMARY.replace(from, to);
        let e = parse(&text).unwrap_err();
        assert!(e.contains(want), "{from} -> {to}: {e}");
        assert!(e.starts_with("/etc/tandem/tandem.toml:"), "{e}");
    }
}

#[test]
fn hba_instead_of_split() {
    let half = Hba::from_split(128).unwrap().to_string();
    let text = PRIMARY.replace("split = 128", &format!("hba = \"{half}\""));
    let d = parse(&text).unwrap().dhcp.unwrap();
    assert_eq!(d.failover[0].hba, Some(Hba::from_split(128).unwrap()));
}

#[test]
fn the_seeds_dhcpd_confs_import_to_a_valid_pair() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../isc/tests/fixtures/dhcp");
    let mut roles = Vec::new();
    for (file, role) in [
        ("dhcpd.conf", Role::Primary),
        ("dhcpd-secondary.conf", Role::Secondary),
    ] {
        let options = tandem_isc::DhcpdImportOptions {
            interfaces: vec!["eth0".into()],
            import_leases: None,
        };
        let im =
            tandem_isc::import_dhcpd_conf(&dir.join(file), &options, &mut tandem_isc::fs_loader())
                .unwrap();
        assert!(im.untranslated.is_empty(), "{:?}", im.untranslated);
        let c = parse(&im.toml).unwrap_or_else(|e| panic!("{e}\n{}", im.toml));
        let d = c.dhcp.unwrap();
        assert_eq!(d.failover.len(), 1);
        assert_eq!(d.failover[0].role, role);
        assert_eq!(d.failover[0].pools, vec![(0, 0)]);
        roles.push(d.failover[0].clone());
    }
    // The two halves describe one relationship.
    assert_eq!(roles[0].name, roles[1].name);
    assert_eq!(roles[0].address, roles[1].peer_address);
    assert_eq!(roles[1].address, roles[0].peer_address);
    assert_eq!(roles[0].mclt, 1800);
}
