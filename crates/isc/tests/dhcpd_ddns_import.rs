//! dhcpd.conf's DDNS statements to `[ddns]`: every setting dhcpd users
//! know, `zone` statements with their servers and key, and what is listed
//! instead of translated.

use std::path::Path;

use tandem_isc::{
    import_dhcpd_statements, parse_str_dialect, DhcpImport, DhcpdImportOptions, Dialect,
};

fn import(text: &str) -> DhcpImport {
    let path = Path::new("/etc/dhcp/dhcpd.conf");
    let stmts = parse_str_dialect(text, path, Dialect::Dhcpd).unwrap();
    import_dhcpd_statements(&stmts, path, &DhcpdImportOptions::default()).unwrap()
}

/// The `[ddns]` part of the written section, comments kept.
fn ddns(im: &DhcpImport) -> String {
    match im.dhcp_section.find("\n[ddns]\n") {
        Some(i) => im.dhcp_section[i + 1..].trim_end().to_string(),
        None => String::new(),
    }
}

fn untranslated(im: &DhcpImport) -> Vec<(u32, String)> {
    im.untranslated
        .iter()
        .map(|u| (u.loc.line, u.reason.clone()))
        .collect()
}

const KEY: &str =
    "key DHCP_UPDATER { algorithm hmac-md5; secret aG9tZSBkZG5zIP///yBzZWNyZXQh; };\n";

#[test]
fn every_setting_and_the_zones() {
    let im = import(&format!(
        "{KEY}\
ddns-update-style interim;
ddns-updates on;
ddns-domainname \"home.\";
ddns-rev-domainname \"in-addr.arpa.\";
ddns-ttl 600;
update-optimization off;
update-conflict-detection false;
update-static-leases on;
do-forward-updates on;
do-reverse-updates off;
fqdn-reply true;
ignore client-updates;
zone home. {{ primary 192.168.0.254; secondary 192.168.0.253, 192.168.0.252; key DHCP_UPDATER; }}
zone \"0.168.192.in-addr.arpa.\" {{ primary6 fd00::1; key \"DHCP_UPDATER\"; }}
subnet 192.168.0.0 netmask 255.255.255.0 {{ }}
"
    ));
    assert_eq!(
        ddns(&im),
        r#"[ddns]
ddns-update-style = "interim"
ddns-updates = true
ddns-domainname = "home."
ddns-rev-domainname = "in-addr.arpa."
ddns-ttl = 600
update-optimization = false
update-conflict-detection = false
update-static-leases = true
do-forward-updates = true
do-reverse-updates = false
fqdn-reply = true
client-updates = "ignore"

[[ddns.zone]]
name = "home."
primary = ["192.168.0.254"]
secondary = ["192.168.0.253", "192.168.0.252"]
key = "DHCP_UPDATER"

[[ddns.zone]]
name = "0.168.192.in-addr.arpa."
primary = ["fd00::1"]
key = "DHCP_UPDATER""#
    );
    assert_eq!(untranslated(&im), vec![]);
    let t: toml::Table = im.toml.parse().unwrap();
    assert_eq!(
        t["ddns"]["zone"][0]["secondary"][1].as_str(),
        Some("192.168.0.252")
    );
}

#[test]
fn zones_without_a_style_do_nothing_as_in_dhcpd() {
    let im = import(&format!(
        "{KEY}zone home. {{ primary 192.168.0.254; key DHCP_UPDATER; }}\n"
    ));
    assert!(
        ddns(&im).starts_with("[ddns]\nddns-update-style = \"none\"  # dhcpd's default"),
        "{}",
        ddns(&im)
    );
    // No zone and no style: nothing to write.
    assert_eq!(
        ddns(&import("ddns-updates off;\nallow client-updates;\n")),
        ""
    );
    assert_eq!(ddns(&import("ddns-update-style none;\n")), "");
}

#[test]
fn what_is_listed_instead() {
    let im = import(&format!(
        "{KEY}\
ddns-update-style standard;
ddns-hostname = pick(option fqdn.hostname, option host-name);
ddns-ttl = lease-time / 2;
ddns-guard-id-must-match off;
ddns6-ttl 60;
ddns-update-style ad-hoc;
update-optimization maybe;
zone home. {{ primary ns1.home; key DHCP_UPDATER; }}
zone lab.home. {{ primary 192.168.0.254; key OTHER_KEY; }}
zone bad..name {{ primary 192.168.0.254; }}
subnet 192.168.0.0 netmask 255.255.255.0 {{
  ddns-domainname \"office.home\";
  allow client-updates;
  zone office.home. {{ primary 192.168.0.254; }}
}}
"
    ));
    let got = untranslated(&im);
    let want: Vec<(u32, &str)> = vec![
        (3, "tandem names a client from its option 81, then option 12, then its reservation's hostname, then [ddns] generated-name; ddns-hostname is not translated"),
        (4, "values computed by expressions are not supported"),
        (5, "tandem publishes IPv4 leases only and always matches the guard to the client; not translated"),
        (6, "DHCPv6 is not supported"),
        (7, "the ad-hoc style (gone from dhcpd 4) is not supported; use standard"),
        (8, "expected on or off, not maybe"),
        (9, "zone home.: no server address to send updates to"),
        (9, "zone home.: tandem sends updates to addresses; write the address of ns1.home"),
        (10, "zone lab.home.: key OTHER_KEY is not defined in dhcpd.conf"),
        (11, "\"bad..name\" is not a zone name"),
        (13, "tandem's DDNS settings are server-wide ([ddns]); a value for one subnet is not translated"),
        (14, "tandem's DDNS settings are server-wide ([ddns]); a value for one subnet is not translated"),
        (15, "tandem's zone statements are server-wide ([[ddns.zone]]); one in a subnet is not translated"),
    ];
    let got: Vec<(u32, &str)> = got.iter().map(|(l, r)| (*l, r.as_str())).collect();
    assert_eq!(got, want);
    // The style that was translated stays; no zone survived.
    assert_eq!(ddns(&im), "[ddns]\nddns-update-style = \"standard\"");
}
