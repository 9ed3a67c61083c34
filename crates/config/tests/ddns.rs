//! The `[ddns]` table: the seed's zone statements with their key, dhcpd's
//! settings, and located errors.

use std::path::Path;
use std::time::Duration;

use tandem_config::Config;
use tandem_ddns::{ClientUpdates, Style};

fn parse(text: &str) -> Result<Config, String> {
    Config::parse(text, Path::new("/etc/tandem/tandem.toml")).map_err(|e| e.to_string())
}

const BASE: &str = r#"
[[key]]
name = "DHCP_UPDATER"
algorithm = "hmac-md5"
secret = "aG9tZSBkZG5zIP///yBzZWNyZXQh"

[dhcp]
interfaces = ["eth0"]
"#;

#[test]
fn the_seeds_zone_statements() {
    let c = parse(&format!(
        "{BASE}
[ddns]
ddns-update-style = \"standard\"
ddns-domainname = \"Home\"
ddns-ttl = 300
client-updates = \"ignore\"
update-optimization = false
generated-name = \"dhcp-{{ip}}\"
retry-max = 10
timeout-ms = 500

[[ddns.zone]]
name = \"home.\"
primary = \"192.168.0.254\"
secondary = [\"192.168.0.253\", \"[fd00::1]:5353\"]
key = \"dhcp_updater\"

[[ddns.zone]]
name = \"0.168.192.in-addr.arpa\"
primary = [\"192.168.0.254:53\"]
"
    ))
    .unwrap();
    let d = c.ddns.unwrap();
    assert!(d.updates);
    assert_eq!(d.style, Style::Standard);
    assert_eq!(d.domain.unwrap().to_string(), "home.");
    assert_eq!(d.ttl, Some(300));
    assert_eq!(d.client_updates, ClientUpdates::Ignore);
    assert!(!d.update_optimization);
    assert_eq!(d.generated_name.as_deref(), Some("dhcp-{ip}"));
    assert_eq!(d.retry_max, Duration::from_secs(10));
    assert_eq!(d.timeout, Duration::from_millis(500));
    assert_eq!(d.zones.len(), 2);
    let home = &d.zones[0];
    assert_eq!(home.primary, vec!["192.168.0.254:53".parse().unwrap()]);
    assert_eq!(
        home.secondary,
        vec![
            "192.168.0.253:53".parse().unwrap(),
            "[fd00::1]:5353".parse().unwrap()
        ]
    );
    assert_eq!(home.key.as_ref().unwrap().name.to_string(), "dhcp_updater.");
    assert!(d.zones[1].key.is_none());
}

#[test]
fn defaults_are_dhcpds() {
    let d = parse(&format!("{BASE}\n[ddns]\n")).unwrap().ddns.unwrap();
    assert!(d.updates && d.conflict_detection && d.update_optimization && d.fqdn_reply);
    assert_eq!(d.style, Style::Standard);
    assert_eq!(d.client_updates, ClientUpdates::Allow);
    assert!(!d.update_static_leases);
    assert_eq!(d.rev_domain.to_string(), "in-addr.arpa.");
    assert_eq!(d.ttl, None);
    assert!(parse(BASE).unwrap().ddns.is_none());
    let none = parse(&format!("{BASE}\n[ddns]\nddns-update-style = \"none\"\n")).unwrap();
    assert!(!none.ddns.unwrap().updates);
}

#[test]
fn errors_name_their_place() {
    let cases = [
        (
            "[ddns]\nddns-update-style = \"ad-hoc\"\n",
            "ddns-update-style must be",
        ),
        ("[ddns]\nclient-updates = \"maybe\"\n", "client-updates must be"),
        (
            "[ddns]\n[[ddns.zone]]\nname = \"home\"\nprimary = \"192.168.0\"\n",
            "bad address \"192.168.0\"",
        ),
        (
            "[ddns]\n[[ddns.zone]]\nname = \"home\"\nprimary = \"192.168.0.254\"\nkey = \"OTHER\"\n",
            "no key other. is defined",
        ),
        ("[ddns]\n[[ddns.zone]]\nname = \"home\"\n", "give a primary"),
        (
            "[ddns]\n[[ddns.zone]]\nname = \"home\"\nprimary = \"::1\"\n[[ddns.zone]]\nname = \"HOME.\"\nprimary = \"::1\"\n",
            "listed twice",
        ),
        ("[ddns]\ngenerated-name = \"!!!\"\n", "no usable label"),
        ("[ddns]\nddns-updatez = true\n", "unknown field"),
    ];
    for (text, want) in cases {
        let e = parse(&format!("{BASE}{text}")).unwrap_err();
        assert!(e.contains(want), "{text}: {e}");
        assert!(e.starts_with("/etc/tandem/tandem.toml:"), "{e}");
    }
    let e = parse("[ddns]\n").unwrap_err();
    assert!(e.contains("needs a [dhcp] table"), "{e}");
    assert!(e.starts_with("/etc/tandem/tandem.toml:1:1:"), "{e}");
}
