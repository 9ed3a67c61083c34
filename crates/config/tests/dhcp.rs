//! The `[dhcp]` table: values reach the engine's model encoded, and every
//! mistake is an error at its place.

use std::net::Ipv4Addr;
use std::path::Path;

use tandem_config::Config;
use tandem_dhcp::config::{ClassMatch, ConflictDetection};

fn parse(text: &str) -> Result<Config, String> {
    Config::parse(text, Path::new("/etc/tandem/tandem.toml")).map_err(|e| e.to_string())
}

const GOOD: &str = r#"
[dhcp]
interfaces = ["eth0"]
authoritative = false
default-lease-time = 600
conflict-detection = "arp"

[dhcp.options]
domain-name-servers = "192.168.0.254, 192.168.0.253"
domain-name = "home"
interface-mtu = 1500

[[dhcp.option-definition]]
name = "vpn-routes"
code = 249
type = "routes"

[[dhcp.subnet]]
subnet = "192.168.0.0/24"
max-lease-time = 7200
[dhcp.subnet.options]
routers = "192.168.0.1"
rfc3442-classless-static-routes = ["10.8.0.0/24 via 192.168.0.2"]
[[dhcp.subnet.pool]]
ranges = ["192.168.0.15 - 192.168.0.100", "192.168.0.150 - 192.168.0.160"]
exclude = ["192.168.0.50"]

[[dhcp.host]]
name = "printer"
hardware-address = "00:11:22:33:44:55"
fixed-address = "192.168.0.10"

[[dhcp.class]]
name = "windows"
vendor-class-prefix = "MSFT"
[dhcp.class.options]
vpn-routes = ["10.8.0.0/24 via 192.168.0.2"]
"#;

#[test]
fn a_full_dhcp_table_reaches_the_model() {
    let c = parse(GOOD).unwrap();
    assert!(c.dns.listen.is_empty(), "a DHCP-only file serves no DNS");
    let d = c.dhcp.unwrap();
    assert!(!d.authoritative);
    assert_eq!(d.conflict_detection, ConflictDetection::Arp);
    assert_eq!(d.times.default, 600);
    assert_eq!(
        d.options.get(6),
        Some(&[192, 168, 0, 254, 192, 168, 0, 253][..])
    );
    assert_eq!(d.options.get(26), Some(&[5, 220][..]));
    let s = &d.subnets[0];
    assert_eq!(s.times.max, Some(7200));
    assert_eq!(
        s.options.get(121),
        Some(&[24, 10, 8, 0, 192, 168, 0, 2][..])
    );
    assert_eq!(s.pools[0].ranges.len(), 2);
    assert!(!s.pools[0].contains(Ipv4Addr::new(192, 168, 0, 50)));
    assert_eq!(
        d.hosts[0].fixed_address,
        Some(Ipv4Addr::new(192, 168, 0, 10))
    );
    assert_eq!(
        d.classes[0].matches,
        ClassMatch::VendorClassPrefix(b"MSFT".to_vec())
    );
    assert_eq!(d.classes[0].options.get(249).map(<[u8]>::len), Some(8));
}

fn error_of(text: &str) -> String {
    parse(text).expect_err("should be refused")
}

#[test]
fn mistakes_are_located() {
    let base = "[dhcp]\ninterfaces = [\"eth0\"]\n";
    let cases = [
        (
            "[dhcp.options]\ndomain-name-server = \"1.2.3.4\"\n",
            "4:1: unknown DHCP option \"domain-name-server\" (did you mean domain-name-servers",
        ),
        (
            "[dhcp.options]\nrouters = \"192.168.0.300\"\n",
            "4:11: option routers (ip-list): \"192.168.0.300\" is not an IPv4 address",
        ),
        (
            "[dhcp.options]\ndhcp-lease-time = 5\n",
            "4:1: option dhcp-lease-time (51) is set by the server itself",
        ),
        (
            "[[dhcp.subnet]]\nsubnet = \"192.168.0.1/24\"\n",
            "4:10: \"192.168.0.1/24\": host bits are set",
        ),
        (
            "[[dhcp.subnet]]\nsubnet = \"192.168.0.0/24\"\n[[dhcp.subnet.pool]]\nrange = \"192.168.1.1 - 192.168.1.9\"\n",
            "6:9: range \"192.168.1.1 - 192.168.1.9\" is not inside subnet 192.168.0.0/24",
        ),
        (
            "[[dhcp.host]]\nname = \"x\"\n",
            "4:8: host x: needs hardware-address or client-id",
        ),
        (
            "[[dhcp.host]]\nname = \"x\"\nhardware-address = \"00:11:zz\"\n",
            "5:20: hardware-address: \"00:11:zz\": \"zz\" is not a hex octet",
        ),
        (
            "[[dhcp.option-definition]]\nname = \"x\"\ncode = 240\ntype = \"ipaddr\"\n",
            "6:8: unknown option type \"ipaddr\"",
        ),
        ("conflict-detection = \"arping\"\n", "3:22: conflict-detection must be"),
        ("bogus = 1\n", "3:1: unknown field `bogus`"),
    ];
    for (extra, want) in cases {
        let e = error_of(&format!("{base}{extra}"));
        assert!(
            e.starts_with(&format!("/etc/tandem/tandem.toml:{want}")),
            "for {extra:?}:\n got {e}\nwant {want}"
        );
    }
}

#[test]
fn host_names_in_address_options_wait_for_the_zones() {
    let c = parse(
        "[dhcp]\ninterfaces = [\"eth0\"]\n[[dhcp.subnet]]\nsubnet = \"192.168.0.0/24\"\n\
         [dhcp.subnet.options]\nrouters = \"router.home\"\ndomain-name-servers = [\"ns1.home\", \"192.168.0.253\"]\n",
    )
    .unwrap();
    let mut d = c.dhcp.unwrap();
    assert_eq!(d.pending_names.len(), 2);
    assert!(d.subnets[0].options.get(3).is_none());
    let lookup = |n: &str| match n {
        "router.home" => vec![Ipv4Addr::new(192, 168, 0, 1)],
        "ns1.home" => vec![Ipv4Addr::new(192, 168, 0, 254)],
        _ => vec![],
    };
    d.resolve_names(&lookup).unwrap();
    assert_eq!(d.subnets[0].options.get(3), Some(&[192, 168, 0, 1][..]));
    assert_eq!(
        d.subnets[0].options.get(6),
        Some(&[192, 168, 0, 254, 192, 168, 0, 253][..])
    );
    // A name the zones do not have is an error at its place.
    let c = parse("[dhcp]\ninterfaces = [\"eth0\"]\n[dhcp.options]\nrouters = \"gw.nowhere\"\n")
        .unwrap();
    let errors = c.dhcp.unwrap().resolve_names(&lookup).unwrap_err();
    assert_eq!(
        errors,
        vec!["/etc/tandem/tandem.toml:4:11: option routers: \"gw.nowhere\" has no A record in the zones tandem serves"]
    );
}
