//! dhcpd.conf import: the seed's primary and secondary dhcpd.conf and a
//! richer one (hosts, groups, classes, custom options, several pools, the
//! RFC 3442 routes idiom) to the expected `[dhcp]` TOML, with what is not
//! translated; scopes, option values, errors located, the combined file
//! with a named.conf import, and never a panic.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use tandem_isc::{
    combine, fs_loader, import_dhcpd_conf, import_dhcpd_statements, import_statements, parse_str,
    parse_str_dialect, DhcpImport, DhcpdImportOptions, Dialect, IscError, Untranslated,
};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dhcp")
}

fn import_fixture(name: &str, options: &DhcpdImportOptions) -> DhcpImport {
    import_dhcpd_conf(&fixture_dir().join(name), options, &mut fs_loader()).unwrap()
}

fn try_import(text: &str) -> Result<DhcpImport, IscError> {
    let path = Path::new("/etc/dhcp/dhcpd.conf");
    let stmts = parse_str_dialect(text, path, Dialect::Dhcpd)?;
    import_dhcpd_statements(&stmts, path, &DhcpdImportOptions::default())
}

/// Imports text given inline, as /etc/dhcp/dhcpd.conf.
fn import(text: &str) -> DhcpImport {
    try_import(text).unwrap()
}

fn import_err(text: &str) -> String {
    try_import(text).unwrap_err().to_string()
}

/// The TOML without its comment lines.
fn body(toml: &str) -> String {
    toml.lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

/// The `[dhcp]` section without comments and the `[dhcp]` header lines
/// every import writes, for the tests of one feature.
fn section(im: &DhcpImport) -> String {
    let b = body(&im.dhcp_section);
    let mut lines: Vec<&str> = b.lines().collect();
    lines.retain(|l| {
        !matches!(
            *l,
            "[dhcp]"
                | "interfaces = []"
                | "authoritative = false  # dhcpd's default: dhcpd.conf does not say authoritative;"
                | "conflict-detection = \"icmp\"" | "conflict-timeout-ms = 1000"
        )
    });
    lines.join("\n").trim().to_string()
}

fn listed(list: &[Untranslated]) -> Vec<(u32, u32, &str, &str)> {
    list.iter()
        .map(|u| {
            (
                u.loc.line,
                u.loc.col,
                u.statement.as_str(),
                u.reason.as_str(),
            )
        })
        .collect()
}

fn reasons(list: &[Untranslated]) -> Vec<(&str, &str)> {
    list.iter()
        .map(|u| (u.statement.as_str(), u.reason.as_str()))
        .collect()
}

fn parse_toml(text: &str) -> toml::Table {
    text.parse::<toml::Table>()
        .unwrap_or_else(|e| panic!("not TOML: {e}\n{text}"))
}

const INTERFACES_NOTE: &str = "dhcpd.conf does not name interfaces (dhcpd takes them on its command line; Debian: INTERFACESv4 in /etc/default/isc-dhcp-server): fill in [dhcp] interfaces, or import with --interface";

#[test]
fn seed_primary_imports_to_the_expected_toml() {
    let im = import_fixture("dhcpd.conf", &DhcpdImportOptions::default());
    let want = r#"# tandem configuration imported from {dir}/dhcpd.conf by tandem-isc.
# 2 translated statement(s) should be checked; they are listed at the end.

[server]
state-dir = "state"

# TSIG keys, inlined from {dir}/dhcpd.conf.
# The secrets are below: keep this file readable only by tandem.
[[key]]
name = "DHCP_UPDATER"
algorithm = "hmac-md5"
secret = "aG9tZSBkZG5zIP///yBzZWNyZXQh"

[dhcp]
# dhcpd takes its interfaces on its command line (Debian: INTERFACESv4 in
# /etc/default/isc-dhcp-server). Fill them in, or import with --interface.
interfaces = []
authoritative = false  # dhcpd's default: dhcpd.conf does not say authoritative;
conflict-detection = "icmp"
conflict-timeout-ms = 1000

[dhcp.options]
domain-name = "home"
domain-name-servers = ["192.168.0.254", "192.168.0.253"]

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
[dhcp.subnet.options]
routers = "router.home"
[[dhcp.subnet.pool]]
range = "192.168.0.15 - 192.168.0.245"
failover-peer = "dhcp-failover"

[ddns]
ddns-update-style = "standard"

[[ddns.zone]]
name = "home."
primary = ["192.168.0.254"]
secondary = ["192.168.0.253"]
key = "DHCP_UPDATER"

[[ddns.zone]]
name = "0.168.192.in-addr.arpa."
primary = ["192.168.0.254"]
secondary = ["192.168.0.253"]
key = "DHCP_UPDATER"

# Translated, but check:
#   {dir}/dhcpd.conf:0:0: interfaces = []
#     dhcpd.conf does not name interfaces (dhcpd takes them on its command line; Debian: INTERFACESv4 in /etc/default/isc-dhcp-server): fill in [dhcp] interfaces, or import with --interface
#   {dir}/dhcpd.conf:40:3: option routers router.home;
#     routers: router.home is a host name, written as is. dhcpd looks it up in DNS when it starts; tandem looks it up in the zones it serves when it starts and refuses to start if none has an A record for it: check that one of tandem's zones has router.home, or write the address
"#;
    let dir = fixture_dir();
    assert_eq!(im.toml, want.replace("{dir}", &dir.display().to_string()));
    assert_eq!(im.keys.len(), 1);
    assert_eq!(im.key_files, vec![dir.join("dhcpd.conf")]);
    // Everything is translated: the failover block and the pool's
    // failover peer, the DDNS statements.
    assert!(im.untranslated.is_empty(), "{:?}", im.untranslated);
}

#[test]
fn seed_secondary_differs_only_in_its_failover_peer() {
    let primary = import_fixture("dhcpd.conf", &DhcpdImportOptions::default());
    let secondary = import_fixture("dhcpd-secondary.conf", &DhcpdImportOptions::default());
    let the_seeds_secondary = "[[dhcp.failover]]\nname = \"dhcp-failover\"\nrole = \"secondary\"\naddress = \"192.168.0.253\"\nport = 647\npeer-address = \"192.168.0.254\"\npeer-port = 647\nmax-response-delay = 30\nmax-unacked-updates = 10\nload-balance-max-seconds = 3\n";
    let the_seeds_primary = "[[dhcp.failover]]\nname = \"dhcp-failover\"\nrole = \"primary\"\naddress = \"192.168.0.254\"\nport = 647\npeer-address = \"192.168.0.253\"\npeer-port = 647\nmax-response-delay = 30\nmax-unacked-updates = 10\nload-balance-max-seconds = 3\nmclt = 1800\nsplit = 128\n";
    assert!(
        secondary.dhcp_section.contains(the_seeds_secondary),
        "{}",
        secondary.dhcp_section
    );
    assert_eq!(
        secondary
            .dhcp_section
            .replace(the_seeds_secondary, the_seeds_primary),
        primary.dhcp_section
    );
    let key = |im: &DhcpImport| {
        let k = &im.keys[0];
        (k.name_text(), k.algorithm.clone(), k.secret.clone())
    };
    assert_eq!(key(&secondary), key(&primary));
    assert!(
        secondary.untranslated.is_empty(),
        "{:?}",
        secondary.untranslated
    );
}

#[test]
fn seed_toml_parses_and_says_what_dhcpd_did() {
    let im = import_fixture(
        "dhcpd.conf",
        &DhcpdImportOptions {
            interfaces: vec!["eth0".into()],
            import_leases: Some("imported-leases.json".into()),
        },
    );
    let t = parse_toml(&im.toml);
    let dhcp = t["dhcp"].as_table().unwrap();
    assert_eq!(
        dhcp["interfaces"].as_array().unwrap()[0].as_str(),
        Some("eth0")
    );
    assert_eq!(dhcp["import-leases"].as_str(), Some("imported-leases.json"));
    assert_eq!(dhcp["authoritative"].as_bool(), Some(false));
    assert_eq!(dhcp["conflict-timeout-ms"].as_integer(), Some(1000));
    let subnet = &dhcp["subnet"].as_array().unwrap()[0];
    assert_eq!(subnet["subnet"].as_str(), Some("192.168.0.0/24"));
    assert_eq!(
        subnet["pool"][0]["range"].as_str(),
        Some("192.168.0.15 - 192.168.0.245")
    );
    assert_eq!(subnet["options"]["routers"].as_str(), Some("router.home"));
    assert_eq!(t["key"][0]["algorithm"].as_str(), Some("hmac-md5"));
    // With the interfaces given there is nothing to fill in.
    assert!(im.toml.contains("\ninterfaces = [\"eth0\"]\nauthoritative"));
    assert_eq!(im.notes.len(), 1);
    assert!(im.notes[0]
        .reason
        .starts_with("routers: router.home is a host name"));
}

#[test]
fn rich_conf_imports_to_the_expected_toml() {
    let im = import_fixture("rich.conf", &DhcpdImportOptions::default());
    let want = r#"[server]
state-dir = "state"

[dhcp]
interfaces = []
authoritative = true
default-lease-time = 3600
max-lease-time = 7200
min-lease-time = 300
conflict-detection = "icmp"
conflict-timeout-ms = 2000
decline-hold-time = 3600

[dhcp.options]
domain-name = "home"
domain-name-servers = ["192.168.0.254", "192.168.0.253"]
domain-search = ["home", "lab.home"]
ntp-servers = "192.168.0.254"
time-offset = -3600
interface-mtu = 1500
ip-forwarding = false
wpad = "http://wpad.home/wpad.dat\n"
site-flags = 513
site-offset = -7
site-switch = true
site-blob = "01:02:ab"
site-octets = "01:02:ff"
site-servers = ["10.0.0.1", "10.0.0.2"]

[[dhcp.option-definition]]
name = "vpn-gateway"
code = 224
type = "ip"

[[dhcp.option-definition]]
name = "wpad"
code = 252
type = "text"

[[dhcp.option-definition]]
name = "site-flags"
code = 225
type = "u16"

[[dhcp.option-definition]]
name = "site-offset"
code = 226
type = "i32"

[[dhcp.option-definition]]
name = "site-switch"
code = 227
type = "bool"

[[dhcp.option-definition]]
name = "site-blob"
code = 228
type = "bytes"

[[dhcp.option-definition]]
name = "site-octets"
code = 229
type = "bytes"

[[dhcp.option-definition]]
name = "site-servers"
code = 230
type = "ip-list"

[[dhcp.subnet]]
subnet = "192.168.0.0/24"
default-lease-time = 1800
[dhcp.subnet.options]
routers = "192.168.0.1"
broadcast-address = "192.168.0.255"
classless-static-routes = ["10.8.0.0/24 via 192.168.0.2", "0.0.0.0/0 via 192.168.0.1"]
[[dhcp.subnet.pool]]
ranges = ["192.168.0.15 - 192.168.0.99", "192.168.0.110 - 192.168.0.199"]
max-lease-time = 3600
[dhcp.subnet.pool.options]
ntp-servers = "192.168.0.253"

[[dhcp.subnet]]
subnet = "10.20.0.0/16"
[dhcp.subnet.options]
routers = "10.20.0.1"
[[dhcp.subnet.pool]]
ranges = ["10.20.1.1 - 10.20.1.200", "10.20.2.1 - 10.20.2.1"]

[[dhcp.subnet]]
subnet = "172.16.1.0/24"
[dhcp.subnet.options]
domain-name = "office.home"
routers = "172.16.1.1"

[[dhcp.subnet]]
subnet = "172.16.2.0/24"
[dhcp.subnet.options]
domain-name = "office.home"
routers = "172.16.2.1"
[[dhcp.subnet.pool]]
range = "172.16.2.10 - 172.16.2.50"

[[dhcp.subnet]]
subnet = "192.168.50.0/24"

[[dhcp.host]]
name = "printer"
hardware-address = "00:11:22:33:44:55"
fixed-address = "192.168.0.10"
hostname = "printer"

[[dhcp.host]]
name = "nas"
hardware-address = "00:aa:bb:cc:dd:ee"
fixed-address = "192.168.0.20"
hostname = "storage"
default-lease-time = 600
[dhcp.host.options]
domain-name = "lab.home"

[[dhcp.host]]
name = "tv"
client-id = "01:00:aa:bb:cc:dd:ff"
fixed-address = "tv.home"
hostname = "tv"
default-lease-time = 600
[dhcp.host.options]
domain-name = "lab.home"

[[dhcp.host]]
name = "vpnbox"
hardware-address = "00:01:02:03:04:05"
fixed-address = "192.168.0.30"
hostname = "vpnbox"
default-lease-time = 600
[dhcp.host.options]
domain-name = "lab.home"
routers = "192.168.0.2"
classless-static-routes = ["0.0.0.0/0 via 192.168.0.2"]

[[dhcp.host]]
name = "guest-printer"
hardware-address = "00:50:00:00:00:05"
fixed-address = "192.168.50.5"
hostname = "guest-printer"

[[dhcp.class]]
name = "windows"
vendor-class-prefix = "MSFT"
[dhcp.class.options]
ms-classless-static-routes = ["10.8.0.0/24 via 192.168.0.2", "0.0.0.0/0 via 192.168.0.1"]

[[dhcp.class]]
name = "pxe"
vendor-class = "PXEClient:Arch:00000:UNDI:002001"
[dhcp.class.options]
bootfile-name = "pxelinux.0"
tftp-server-name = "192.168.0.254"

[[dhcp.class]]
name = "voip"
user-class = "voip-phone"
[dhcp.class.options]
vpn-gateway = "192.168.0.2""#;
    assert_eq!(body(&im.toml), want);
    parse_toml(&im.toml);
}

#[test]
fn rich_conf_untranslated_and_notes() {
    let im = import_fixture("rich.conf", &DhcpdImportOptions::default());
    let file = fixture_dir().join("rich.conf");
    assert!(im
        .untranslated
        .iter()
        .chain(&im.notes)
        .all(|u| u.loc.file == file));
    let got: Vec<(u32, u32, &str)> = im
        .untranslated
        .iter()
        .map(|u| (u.loc.line, u.loc.col, u.reason.as_str()))
        .collect();
    let at = |l: u32, c: u32| format!("{}:{l}:{c}", file.display());
    let record = "record types are not supported (only array of { ip-address, ip-address })";
    let site_record = format!(
        "its definition at {} is not translated: {record}",
        at(36, 1)
    );
    let pxe_pool = format!("the pool is left out, failing closed (serving it would give addresses to clients dhcpd refused): its permit list (allow members of \"pxe\" at {}) cannot be translated", at(85, 5));
    let unknown_range = format!(
        "left out, failing closed: deny unknown-clients at {} refuses unknown clients",
        at(149, 3)
    );
    let want: Vec<(u32, u32, &str)> = vec![
        (14, 1, "tandem logs to stderr; TANDEM_LOG sets the level"),
        (16, 1, "no equivalent in tandem's [dhcp] configuration"),
        (36, 1, record),
        (45, 1, &site_record),
        (63, 1, "class oui: the class is left out: only substring(option vendor-class-identifier, 0, N) = \"TEXT\", option vendor-class-identifier = \"TEXT\" and option user-class = \"TEXT\" are translated, not match if substring (hardware, 1, 3) = 00:11:22;"),
        (72, 3, "the BOOTP boot fields (file, siaddr, sname) are not in tandem's configuration; the options tftp-server-name and bootfile-name are"),
        (73, 3, "tandem's DDNS settings are server-wide ([ddns]); a value for one subnet is not translated"),
        (80, 5, "BOOTP client permits are not translated; the pool is kept for DHCP clients"),
        (83, 3, &pxe_pool),
        (85, 5, "tandem pools serve every client; the pool is left out (failing closed)"),
        (98, 3, "tandem's authoritative is server-wide ([dhcp] authoritative); a value for one subnet is not translated"),
        (120, 7, "host vpnbox: tandem reserves one address per host; 192.168.0.30 was kept, 192.168.0.31 not"),
        (128, 3, "host blocked: tandem cannot refuse a known client; the host is left out (the client may still get an address from a pool)"),
        (131, 1, "host nothing has neither hardware ethernet nor dhcp-client-identifier (tandem could not match it to a client)"),
        (149, 3, "tandem cannot refuse clients without a reservation; the dynamic pools in this subnet are left out (failing closed)"),
        (150, 3, &unknown_range),
        (157, 1, "conditional and executable statements are not supported"),
    ];
    assert_eq!(got, want);
    assert_eq!(im.untranslated[0].statement, "log-facility local7;");
    let notes: Vec<(u32, u32, &str)> = im
        .notes
        .iter()
        .map(|u| (u.loc.line, u.loc.col, u.reason.as_str()))
        .collect();
    assert_eq!(
        notes,
        [
            (0, 0, INTERFACES_NOTE),
            (113, 5, "host tv fixed-address: tv.home is a host name, written as is. dhcpd looks it up in DNS when it starts; tandem takes an IPv4 address for fixed-address, so tandem check refuses it: write tv.home's address"),
            (135, 1, "shared-network office: its subnets are translated one by one; tandem serves a request from the subnet that holds the receiving interface's address (or the relay's giaddr), so check that each subnet's clients reach it"),
        ]
    );
    // Both lists are repeated in the file, for the reader.
    assert!(im.toml.contains(&format!(
        "\n# Not translated:\n#   {}: log-facility local7;\n#     tandem logs to stderr; TANDEM_LOG sets the level\n",
        at(14, 1)
    )));
    assert!(im.toml.contains("\n# Translated, but check:\n"));
}

#[test]
fn server_wide_settings() {
    let im = import(
        "not authoritative;\nping-check false;\nserver-identifier 192.168.0.254;\ndefault-lease-time 600;\n",
    );
    let s = body(&im.dhcp_section);
    assert!(s.contains("\nauthoritative = false\ndefault-lease-time = 600\nconflict-detection = \"none\"\nserver-identifier = \"192.168.0.254\""), "{s}");
    let im =
        import("ping-timeout 3;\nping-timeout-ms 250;\noption dhcp-server-identifier 10.0.0.1;\n");
    let s = body(&im.dhcp_section);
    assert!(s.contains("conflict-detection = \"icmp\"\nconflict-timeout-ms = 250\nserver-identifier = \"10.0.0.1\""), "{s}");
    assert!(im.untranslated.is_empty());
    // Inside a scope they cannot be translated.
    let im = import("subnet 10.0.0.0 netmask 255.0.0.0 {\n  ping-check false;\n  server-identifier 10.0.0.1;\n}\n");
    assert_eq!(
        reasons(&im.untranslated),
        [
            ("ping-check false;", "tandem's conflict-detection is server-wide ([dhcp] conflict-detection); a value for one subnet is not translated"),
            ("server-identifier 10.0.0.1;", "tandem's server-identifier is server-wide ([dhcp] server-identifier); a value for one subnet is not translated"),
        ]
    );
}

#[test]
fn scopes_flatten_with_dhcpds_precedence() {
    let im = import(
        r#"
option domain-name "top";
group {
  option routers 10.0.0.1;
  option domain-name "group";
  max-lease-time 900;
  subnet 10.0.0.0 netmask 255.255.255.0 {
    option routers 10.0.0.2;
    host in-subnet { hardware ethernet 00:00:00:00:00:01; fixed-address 10.0.0.10; }
    group {
      option ntp-servers 10.0.0.3;
      host in-inner-group { hardware ethernet 00:00:00:00:00:02; }
    }
  }
  host in-group { hardware ethernet 00:00:00:00:00:03; option routers 10.0.0.4; }
}
"#,
    );
    // The subnet holds the group's options under its own; a host inside it
    // needs only what lies between it and the subnet; a host outside every
    // subnet takes its groups'.
    let want = r#"[dhcp.options]
domain-name = "top"

[[dhcp.subnet]]
subnet = "10.0.0.0/24"
max-lease-time = 900
[dhcp.subnet.options]
routers = "10.0.0.2"
domain-name = "group"

[[dhcp.host]]
name = "in-subnet"
hardware-address = "00:00:00:00:00:01"
fixed-address = "10.0.0.10"

[[dhcp.host]]
name = "in-inner-group"
hardware-address = "00:00:00:00:00:02"
[dhcp.host.options]
ntp-servers = "10.0.0.3"

[[dhcp.host]]
name = "in-group"
hardware-address = "00:00:00:00:00:03"
max-lease-time = 900
[dhcp.host.options]
routers = "10.0.0.4"
domain-name = "group""#;
    assert_eq!(section(&im), want);
    assert!(im.untranslated.is_empty(), "{:?}", im.untranslated);
}

#[test]
fn pools_ranges_interfaces_and_shared_networks() {
    let im = import(
        r#"
shared-network lan {
  interface eth1;
  option domain-name "lan";
  subnet 10.1.0.0 netmask 255.255.0.0 { }
  subnet 10.2.0.0 netmask 255.255.0.0 { interface eth2; range 10.2.0.20 10.2.0.10; }
  pool { range 10.1.0.10 10.1.0.20; default-lease-time 60; }
  pool { range 10.3.0.1 10.3.0.2; }
}
"#,
    );
    let want = r#"[[dhcp.subnet]]
subnet = "10.1.0.0/16"
interface = "eth1"
[dhcp.subnet.options]
domain-name = "lan"
[[dhcp.subnet.pool]]
range = "10.1.0.10 - 10.1.0.20"
default-lease-time = 60

[[dhcp.subnet]]
subnet = "10.2.0.0/16"
interface = "eth2"
[dhcp.subnet.options]
domain-name = "lan"
[[dhcp.subnet.pool]]
range = "10.2.0.10 - 10.2.0.20""#;
    assert_eq!(section(&im), want);
    assert_eq!(
        listed(&im.untranslated),
        [(
            8,
            3,
            "pool { range 10.3.0.1 10.3.0.2; };",
            "no subnet of shared-network lan holds all of this pool's ranges (starting 10.3.0.1)"
        )]
    );
    assert_eq!(im.notes.len(), 2);
}

#[test]
fn hosts() {
    let im = import(
        r#"
subnet 10.0.0.0 netmask 255.0.0.0 { }
host a { hardware ethernet 0:1:2:3:4:5; option dhcp-client-identifier 1:0:1:2:3:4:5; option host-name "alpha"; default-lease-time 60; }
host b { option dhcp-client-identifier "\001ab"; fixed-address 10.0.0.2; }
host c { hardware ethernet 00:00:00:00:00:0c; fixed-address 10.0.0.2; }
host d { hardware ethernet 00:00:00:00:00:0d; fixed-address 192.168.9.9; }
host e { hardware token-ring 00:00:00:00:00:0e; }
host f { hardware ethernet 00:00:00:00:00:0f; ddns-hostname "eff"; }
"#,
    );
    let want = r#"[[dhcp.subnet]]
subnet = "10.0.0.0/8"

[[dhcp.host]]
name = "a"
hardware-address = "00:01:02:03:04:05"
client-id = "01:00:01:02:03:04:05"
hostname = "alpha"
default-lease-time = 60

[[dhcp.host]]
name = "b"
client-id = "01:61:62"
fixed-address = "10.0.0.2"

[[dhcp.host]]
name = "c"
hardware-address = "00:00:00:00:00:0c"

[[dhcp.host]]
name = "d"
hardware-address = "00:00:00:00:00:0d"

[[dhcp.host]]
name = "f"
hardware-address = "00:00:00:00:00:0f""#;
    assert_eq!(section(&im), want);
    assert_eq!(
        reasons(&im.untranslated),
        [
            ("fixed-address 10.0.0.2;", "host c: 10.0.0.2 is already reserved for host b, and tandem reserves an address for one host; the host is kept without it"),
            ("fixed-address 192.168.9.9;", "host d: 192.168.9.9 is in no subnet, so dhcpd never hands it out; the host is kept without it"),
            ("host e { hardware token-ring 00:00:00:00:00:0e; };", "host e has neither hardware ethernet nor dhcp-client-identifier (tandem could not match it to a client)"),
            ("hardware token-ring 00:00:00:00:00:0e;", "host e: only ethernet hardware addresses are translated, not token-ring"),
            ("ddns-hostname \"eff\";", "tandem names a client from its option 81, then option 12, then its reservation's hostname, then [ddns] generated-name; ddns-hostname is not translated"),
        ]
    );
    // use-host-decl-names: the declaration's name, unless host-name says otherwise.
    let im = import("use-host-decl-names on;\nhost g { hardware ethernet 00:00:00:00:00:01; }\ngroup { use-host-decl-names off; host h { hardware ethernet 00:00:00:00:00:02; } }\n");
    let s = section(&im);
    assert!(
        s.contains("name = \"g\"\nhardware-address = \"00:00:00:00:00:01\"\nhostname = \"g\"\n"),
        "{s}"
    );
    assert!(
        s.ends_with("name = \"h\"\nhardware-address = \"00:00:00:00:00:02\""),
        "{s}"
    );
}

#[test]
fn option_values_by_type() {
    let im = import(
        r#"
option my-routes code 121 = string;
option ms-classless-static-routes code 249 = array of integer 8;
option pairs code 200 = array of { ip-address, ip-address };
option shorts code 201 = array of integer 16;
option flag code 202 = boolean;
option tftp-server-address 10.0.0.9;
option my-routes 18:0a:08:00:c0:a8:00:02;
option ms-classless-static-routes 8, 10, 10,0,0,1;
option static-routes 10.9.0.0 10.0.0.1, 10.8.0.0 10.0.0.2;
option pairs 1.2.3.4 5.6.7.8;
option shorts 1, 2, 65535;
option flag true;
option path-mtu-plateau-table 576, 1500;
option vendor-encapsulated-options "ab";
option domain-search "a.home", "b.home";
option root-path "/srv/root path";
"#,
    );
    let want = r#"[dhcp.options]
tftp-server-address = "10.0.0.9"
classless-static-routes = ["10.8.0.0/24 via 192.168.0.2"]
ms-classless-static-routes = ["10.0.0.0/8 via 10.0.0.1"]
static-routes = ["10.9.0.0 10.0.0.1", "10.8.0.0 10.0.0.2"]
pairs = ["1.2.3.4 5.6.7.8"]
shorts = [1, 2, 65535]
flag = true
path-mtu-plateau-table = [576, 1500]
vendor-encapsulated-options = "61:62"
domain-search = ["a.home", "b.home"]
root-path = "/srv/root path"

[[dhcp.option-definition]]
name = "pairs"
code = 200
type = "ip-pairs"

[[dhcp.option-definition]]
name = "shorts"
code = 201
type = "u16-list"

[[dhcp.option-definition]]
name = "flag"
code = 202
type = "bool"

[[dhcp.option-definition]]
name = "tftp-server-address"
code = 150
type = "ip-list""#;
    assert_eq!(section(&im), want);
    assert!(im.untranslated.is_empty(), "{:?}", im.untranslated);
    parse_toml(&im.toml);
}

#[test]
fn option_values_that_are_not_translated() {
    let im = import(
        r#"
option rfc3442-classless-static-routes code 121 = array of integer 8;
option rfc3442-classless-static-routes 24, 10,8,0, 192,168;
option host-name = concat("h-", binary-to-ascii(16, 8, "", substring(hardware, 1, 6)));
option no-such-thing 1;
option space site;
option site.thing code 1 = text;
option site.thing "x";
option fqdn.no-client-update on;
option dhcp-lease-time 600;
option dhcp-client-identifier "x";
option my-id code 61 = string;
option interface-mtu 99999;
option routers "10.0.0.1";
option domain-search "bad..name";
option signed code 203 = signed integer 8;
"#,
    );
    let got = reasons(&im.untranslated);
    let want = [
        ("option rfc3442-classless-static-routes 24, 10, 8, 0, 192, 168;", "not valid RFC 3442 routes for classless-static-routes: route list ends inside a route"),
        ("option host-name = concat( \"h-\", binary-to-ascii(16, 8, \"\", substring(hardware, 1, 6)));", "option values computed by expressions are not supported"),
        ("option no-such-thing 1;", "unknown option: dhcpd.conf has no option NAME code N = TYPE; for it"),
        ("option space site;", "option spaces are not supported"),
        ("option site.thing code 1 = text;", "options in their own option space (SPACE.NAME) are not supported"),
        ("option site.thing \"x\";", "its definition at /etc/dhcp/dhcpd.conf:7:1 is not translated: options in their own option space (SPACE.NAME) are not supported"),
        ("option fqdn.no-client-update on;", "tandem answers option 81 itself ([ddns] client-updates, fqdn-reply)"),
        ("option dhcp-lease-time 600;", "tandem sets option 51 from the lease times (default-lease-time, max-lease-time, min-lease-time)"),
        ("option dhcp-client-identifier \"x\";", "a client identifier names one client: tandem takes it only in a host (client-id)"),
        ("option my-id code 61 = string;", "option 61 cannot be defined in tandem: a client identifier names one client: tandem takes it only in a host (client-id)"),
        ("option interface-mtu 99999;", "cannot read this value as u16 (interface-mtu)"),
        ("option routers \"10.0.0.1\";", "cannot read this value as ip-list (routers)"),
        ("option domain-search \"bad..name\";", "domain-search (domain-list): \"bad..name\" is not a valid domain name"),
        ("option signed code 203 = signed integer 8;", "signed 8-bit integers have no tandem type (u8, u16, u32 and i32 do)"),
    ];
    assert_eq!(got, want);
    assert!(
        !im.dhcp_section.contains("[dhcp.options]"),
        "{}",
        im.dhcp_section
    );
}

#[test]
fn classes() {
    let im = import(
        r#"
class "a" { match if (substring(option vendor-class-identifier,0,4) = "MSFT"); option domain-name "w"; }
class "b" { match if option user-class = "x"; }
class "c" { match if substring(option vendor-class-identifier, 0, 3) = "MSFT"; }
class "d" { match option vendor-class-identifier; }
class "e" { option domain-name "nomatch"; }
class "f" { match if substring(option user-class, 0, 1) = "x"; }
subclass "d" "MSFT 5.0";
"#,
    );
    let want = r#"[[dhcp.class]]
name = "a"
vendor-class-prefix = "MSFT"
[dhcp.class.options]
domain-name = "w"

[[dhcp.class]]
name = "b"
user-class = "x""#;
    assert_eq!(section(&im), want);
    let got: Vec<(u32, &str)> = im
        .untranslated
        .iter()
        .map(|u| (u.loc.line, u.reason.as_str()))
        .collect();
    assert_eq!(got.len(), 5);
    assert_eq!(got[0], (4, "class c: the class is left out: substring length 3 differs from the length of \"MSFT\" (4), so dhcpd compares something else than a prefix"));
    assert_eq!(got[1], (5, "class d: the class is left out: only match if EXPRESSION is translated (match VALUE with subclasses is not)"));
    assert_eq!(got[2], (6, "class e has no match if ... (classes filled by subclass or used only in permit lists are not supported)"));
    assert!(got[3].1.starts_with("class f: the class is left out: prefix matches are translated for vendor-class-identifier only"));
    assert_eq!(got[4], (8, "subclasses (match by a computed value) are not supported; tandem classes match the vendor or user class"));
}

#[test]
fn access_is_never_widened() {
    let im = import(
        r#"
subnet 10.0.0.0 netmask 255.0.0.0 {
  pool { range 10.0.0.10 10.0.0.20; allow unknown-clients; }
  pool { range 10.0.1.10 10.0.1.20; deny known-clients; }
  pool { range 10.0.2.10 10.0.2.20; allow all clients; }
}
group {
  boot-unknown-clients false;
  subnet 10.1.0.0 netmask 255.255.0.0 { range 10.1.0.10 10.1.0.20; }
}
subnet 10.2.0.0 netmask 255.255.0.0 { ignore booting; pool { range 10.2.0.1 10.2.0.9; } }
"#,
    );
    // Only the pool open to everyone is left.
    let s = section(&im);
    assert_eq!(s.matches("[[dhcp.subnet.pool]]").count(), 1, "{s}");
    assert!(s.contains("range = \"10.0.2.10 - 10.0.2.20\""));
    let left_out: Vec<u32> = im
        .untranslated
        .iter()
        .filter(|u| u.reason.contains("left out"))
        .map(|u| u.loc.line)
        .collect();
    assert_eq!(left_out, [3, 3, 4, 4, 8, 9, 11, 11]);
}

#[test]
fn errors_are_located() {
    assert_eq!(
        import_err("subnet 10.0.0.0 netmask 255.0.255.0 { }"),
        "/etc/dhcp/dhcpd.conf:1:25: netmask 255.0.255.0 is not contiguous"
    );
    assert_eq!(
        import_err("subnet 10.0.0.1 netmask 255.0.0.0 { }"),
        "/etc/dhcp/dhcpd.conf:1:8: subnet 10.0.0.1 has bits set outside netmask 255.0.0.0"
    );
    assert_eq!(
        import_err("subnet 10.0.0.0 netmask 255.255.255.0 {\n  pool {\n    range 10.0.0.10 10.0.1.10;\n  }\n}"),
        "/etc/dhcp/dhcpd.conf:3:5: range address 10.0.1.10 is not in subnet 10.0.0.0/24"
    );
    assert_eq!(
        import_err("subnet 10.0.0.0 netmask 255.0.0.0 { range 10.0.0.1 ten; }"),
        "/etc/dhcp/dhcpd.conf:1:52: bad range address \"ten\""
    );
    assert_eq!(
        import_err("subnet 10.0.0.0 { }"),
        "/etc/dhcp/dhcpd.conf:1:1: expected subnet ADDRESS netmask MASK { ... }"
    );
    assert_eq!(
        import_err("host a {\n  hardware ethernet 00:11:22:33:44;\n}"),
        "/etc/dhcp/dhcpd.conf:2:21: host a: bad ethernet address \"00:11:22:33:44\""
    );
    assert_eq!(
        import_err("host a {\n  fixed-address 10.0.0.1 10.0.0.2;\n}"),
        "/etc/dhcp/dhcpd.conf:2:3: host a: expected fixed-address ADDRESS[, ADDRESS...];"
    );
    assert_eq!(
        import_err("host a { hardware ethernet 00:00:00:00:00:01; }\nhost a { hardware ethernet 00:00:00:00:00:02; }"),
        "/etc/dhcp/dhcpd.conf:2:1: host a is declared twice (first at /etc/dhcp/dhcpd.conf:1:1); dhcpd refuses this too"
    );
    assert_eq!(
        import_err("key k { algorithm hmac-md5; }"),
        "/etc/dhcp/dhcpd.conf:1:1: key k has no secret"
    );
    assert_eq!(
        import_err("subnet 10.0.0.0 netmask 255.0.0.0 {\n  pool {\n"),
        "/etc/dhcp/dhcpd.conf:2:8: '{' is never closed"
    );
    // Through the loader: the include's own file and position.
    let mut loader = |p: &Path| -> std::io::Result<String> {
        match p.to_str() {
            Some("/etc/dhcp/dhcpd.conf") => Ok("include \"/etc/dhcp/hosts.conf\";\n".into()),
            Some("/etc/dhcp/hosts.conf") => Ok("\nhost x { hardware ethernet zz; }\n".into()),
            _ => Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
        }
    };
    let e = import_dhcpd_conf(
        Path::new("/etc/dhcp/dhcpd.conf"),
        &DhcpdImportOptions::default(),
        &mut loader,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "/etc/dhcp/hosts.conf:2:28: host x: bad ethernet address \"zz\""
    );
    let e = import_dhcpd_conf(
        Path::new("/etc/dhcp/missing.conf"),
        &DhcpdImportOptions::default(),
        &mut loader,
    )
    .unwrap_err();
    assert_eq!((e.line, e.col), (0, 0));
}

/// A named.conf that shares dhcpd.conf's DDNS key.
const NAMED: &str = r#"
key "DHCP_UPDATER" { algorithm hmac-md5; secret "aG9tZSBkZG5zIP///yBzZWNyZXQh"; };
options { listen-on { 192.168.0.254; }; };
zone "home" { type master; file "home.zone"; allow-update { key DHCP_UPDATER; }; };
"#;

#[test]
fn combined_with_a_named_conf_import() {
    let named_path = Path::new("/etc/bind/named.conf");
    let named = import_statements(&parse_str(NAMED, named_path).unwrap(), named_path).unwrap();
    let dhcp = import_fixture(
        "dhcpd.conf",
        &DhcpdImportOptions {
            interfaces: vec!["eth0".into()],
            import_leases: None,
        },
    );
    let toml = combine(Some(&named), Some(&dhcp)).unwrap();
    let conf = fixture_dir().join("dhcpd.conf");
    assert!(toml.starts_with(&format!(
        "# tandem configuration imported from /etc/bind/named.conf and {} by tandem-isc.\n# 1 translated statement(s) should be checked; they are listed at the end.\n\n[server]\nstate-dir = \"state\"\n\n[dns]\nlisten = [\"192.168.0.254:53\"]\n\n# TSIG keys, inlined from /etc/bind/named.conf.\n",
        conf.display()
    )), "{toml}");
    // The key both files hold is written once (dhcpd's long algorithm name
    // is the same algorithm).
    assert_eq!(toml.matches("[[key]]").count(), 1);
    let t = parse_toml(&toml);
    assert_eq!(t["zone"][0]["name"].as_str(), Some("home"));
    assert_eq!(
        t["dhcp"]["subnet"][0]["subnet"].as_str(),
        Some("192.168.0.0/24")
    );
    assert_eq!(
        t["key"][0]["secret"].as_str(),
        Some("aG9tZSBkZG5zIP///yBzZWNyZXQh")
    );
    // The seed's zone statements, signed with the shared key.
    assert_eq!(t["ddns"]["zone"][0]["key"].as_str(), Some("DHCP_UPDATER"));
    // Either import alone gives its own file; nothing from the other.
    assert_eq!(combine(Some(&named), None).unwrap(), named.toml);
    assert_eq!(combine(None, Some(&dhcp)).unwrap(), dhcp.toml);
    // A key of the same name with another secret is an error at dhcpd.conf's.
    let other = NAMED.replace("aG9tZSBkZG5zIP///yBzZWNyZXQh", "c29tZXRoaW5nIGVsc2U=");
    let named = import_statements(&parse_str(&other, named_path).unwrap(), named_path).unwrap();
    let e = combine(Some(&named), Some(&dhcp)).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}:9:1: key DHCP_UPDATER is also defined at /etc/bind/named.conf:2:1, with another algorithm or secret",
            conf.display()
        )
    );
}

/// dhcpd.conf-like text: statements drawn from the words the importer
/// knows, with values that are sometimes right and sometimes not, nested in
/// the blocks it knows.
fn dhcpd_text() -> impl Strategy<Value = String> {
    let word = prop_oneof![
        prop::sample::select(vec![
            "option",
            "subnet",
            "netmask",
            "range",
            "dynamic-bootp",
            "pool",
            "host",
            "group",
            "shared-network",
            "class",
            "subclass",
            "match",
            "if",
            "substring",
            "hardware",
            "ethernet",
            "fixed-address",
            "allow",
            "deny",
            "ignore",
            "members",
            "of",
            "unknown-clients",
            "booting",
            "failover",
            "peer",
            "zone",
            "key",
            "code",
            "=",
            "array",
            "integer",
            "8",
            "16",
            "ip-address",
            "text",
            "string",
            "boolean",
            "routers",
            "domain-name",
            "rfc3442-classless-static-routes",
            "classless-static-routes",
            "dhcp-client-identifier",
            "host-name",
            "authoritative",
            "not",
            "ping-check",
            "ping-timeout",
            "default-lease-time",
            "use-host-decl-names",
            "on",
            "interface",
            "vendor-class-identifier",
            "user-class",
            "(",
            ")",
            "0",
            "4",
            "ddns-updates",
        ])
        .prop_map(str::to_string),
        "(10|192)\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}",
        "255\\.(255|0)\\.(255|0|128)\\.0",
        "[0-9]{1,4}",
        "[0-9a-f]{1,2}(:[0-9a-f]{1,2}){0,6}",
        "\"[a-zA-Z0-9 \\\\]{0,6}\"",
        Just(",".to_string()),
    ];
    let stmt = prop::collection::vec(word, 1..7).prop_map(|w| format!("{};", w.join(" ")));
    stmt.prop_recursive(3, 40, 6, |inner| {
        (
            prop::sample::select(vec![
                "subnet 10.0.0.0 netmask 255.0.0.0",
                "pool",
                "group",
                "host h",
                "shared-network s",
                "class \"c\"",
                "failover peer \"p\"",
                "zone home.",
                "key k",
            ]),
            prop::collection::vec(inner, 0..6),
        )
            .prop_map(|(head, body)| format!("{head} {{\n{}\n}}", body.join("\n")))
    })
}

#[test]
fn generated_text_reaches_the_importer() {
    // The property below is only worth something if most generated texts
    // parse and get as far as the translation.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = prop::collection::vec(dhcpd_text(), 1..6);
    let mut imported = 0;
    for _ in 0..200 {
        let text = strategy.new_tree(&mut runner).unwrap().current().join("\n");
        if try_import(&text).is_ok() {
            imported += 1;
        }
    }
    assert!(imported > 40, "only {imported} of 200 imported");
}

proptest! {
    #[test]
    fn importing_dhcpd_like_text_never_panics(texts in prop::collection::vec(dhcpd_text(), 1..6)) {
        let text = texts.join("\n");
        if let Ok(im) = try_import(&text) {
            parse_toml(&im.toml);
        }
    }

    #[test]
    fn importing_any_parsable_text_never_panics(text in "[a-z0-9 .:\"\\\\{};,=()#\n-]{0,200}") {
        let _ = try_import(&text);
    }
}
