//! named.conf import of secondary zones (`type slave|secondary`): the
//! seed's secondary statements, primaries lists with ports, keys and names,
//! allow-notify and transfer-source, and what is reported or refused.
//!
//! tandem-config depends on tandem-isc, so it cannot be a dev-dependency
//! here without a cycle: the output is checked as text and as generic TOML
//! (the `toml` crate), with the keys `docs/configuration.md` gives a
//! secondary `[[zone]]`.

use std::path::Path;

use tandem_isc::{import_statements, parse_str, Import};

fn import(text: &str) -> Import {
    let path = Path::new("/etc/bind/named.conf");
    import_statements(&parse_str(text, path).unwrap(), path).unwrap()
}

fn import_err(text: &str) -> String {
    let path = Path::new("named.conf");
    import_statements(&parse_str(text, path).unwrap(), path)
        .unwrap_err()
        .to_string()
}

/// The `[[zone]]` tables and what precedes them, without comment lines.
fn body(im: &Import) -> String {
    im.toml
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

/// (line, statement, reason) of each untranslated item.
fn reasons(im: &Import) -> Vec<(u32, String, String)> {
    im.untranslated
        .iter()
        .map(|u| (u.loc.line, u.statement.clone(), u.reason.clone()))
        .collect()
}

fn zones(im: &Import) -> Vec<toml::Table> {
    let v: toml::Table = im.toml.parse().expect("the import is valid TOML");
    v["zone"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| z.as_table().unwrap().clone())
        .collect()
}

/// The seed's secondary server, verbatim (its named.conf.local), with the
/// key its allow-update-forwarding names.
const SEED_SECONDARY: &str = r#"
key DHCP_UPDATER {
    algorithm HMAC-MD5.SIG-ALG.REG.INT;
    secret "bWFkZSB1cCBzZWNyZXQgZm9yIHRlc3Rz";
};

    zone "home" {
        type slave;
        file "home.zone";
        masters { 192.168.0.254; };
        allow-update-forwarding { key DHCP_UPDATER; };
    };

    zone "0.168.192.in-addr.arpa"  {
        type slave;
        file "db.0.168.192.in-addr.arpa";
        masters { 192.168.0.254; };
        allow-update-forwarding { key DHCP_UPDATER; };
    };
"#;

#[test]
fn seed_secondary_zones() {
    let im = import(SEED_SECONDARY);
    let want = r#"[server]
state-dir = "state"


[[key]]
name = "DHCP_UPDATER"
algorithm = "hmac-md5"
secret = "bWFkZSB1cCBzZWNyZXQgZm9yIHRlc3Rz"

[[zone]]
name = "home"
type = "secondary"
primaries = ["192.168.0.254"]
allow-update-forwarding = ["key DHCP_UPDATER"]
notify = "yes"

[[zone]]
name = "0.168.192.in-addr.arpa"
type = "secondary"
primaries = ["192.168.0.254"]
allow-update-forwarding = ["key DHCP_UPDATER"]
notify = "yes""#;
    assert_eq!(body(&im), want);
    // The zone files are the secondary's copies: not copied, not named.
    assert!(im.zone_files.is_empty());
    assert!(!im.toml.contains("\nfile ="));
    assert_eq!(
        reasons(&im),
        vec![
            (
                9,
                "file \"home.zone\";".to_string(),
                "tandem keeps a secondary's copy in its state directory".to_string()
            ),
            (
                16,
                "file \"db.0.168.192.in-addr.arpa\";".to_string(),
                "tandem keeps a secondary's copy in its state directory".to_string()
            ),
        ]
    );
    assert!(im.toml.contains(
        "#   /etc/bind/named.conf:9:9: file \"home.zone\";\n#     tandem keeps a secondary's copy in its state directory\n"
    ));
    // As TOML: what tandem-config reads for a secondary zone.
    let z = zones(&im);
    assert_eq!(z.len(), 2);
    for (z, name) in z.iter().zip(["home", "0.168.192.in-addr.arpa"]) {
        assert_eq!(z["name"].as_str(), Some(name));
        assert_eq!(z["type"].as_str(), Some("secondary"));
        assert_eq!(
            z["primaries"].as_array().unwrap(),
            &vec![toml::Value::from("192.168.0.254")]
        );
        assert!(!z.contains_key("file"));
        assert!(!z.contains_key("transfer-key"));
    }
}

#[test]
fn primaries_with_ports_and_keys() {
    let im = import(
        r#"
key k1 { algorithm hmac-sha256; secret "c2VjcmV0"; };
key k2 { algorithm hmac-sha256; secret "c2VjcmV0"; };
zone "a" { type secondary; primaries port 5300 {
    192.0.2.1 key k1;
    192.0.2.2 port 53 key "k1.";
    2001:db8::1 key k2;
    2001:db8::2 port 54;
}; };
zone "b" { type slave; masters { 192.0.2.9 port 5353 key k2; }; };
"#,
    );
    let b = body(&im);
    assert!(
        b.contains(
            r#"name = "a"
type = "secondary"
primaries = ["192.0.2.1:5300", "192.0.2.2:53", "[2001:db8::1]:5300", "[2001:db8::2]:54"]
transfer-key = "k1"
notify = "yes"

"#
        ),
        "{b}"
    );
    assert!(
        b.ends_with(
            r#"name = "b"
type = "secondary"
primaries = ["192.0.2.9:5353"]
transfer-key = "k2"
notify = "yes""#
        ),
        "{b}"
    );
    assert_eq!(
        reasons(&im),
        vec![
            (7, "2001:db8::1 key k2;".to_string(), "zone \"a\": tandem signs transfers from every primary with one transfer-key (k1); this primary's key k2 was not used".to_string()),
            (8, "2001:db8::2 port 54;".to_string(), "zone \"a\": this primary has no key, but tandem signs transfers from every primary with transfer-key k1".to_string()),
        ]
    );
    let z = zones(&im);
    assert_eq!(z[0]["transfer-key"].as_str(), Some("k1"));
    assert_eq!(z[0]["primaries"].as_array().unwrap().len(), 4);
}

#[test]
fn named_primaries_lists_are_resolved() {
    let im = import(
        r#"
key k { algorithm hmac-sha256; secret "c2VjcmV0"; };
masters upstream port 5301 { 10.0.0.1 key k; inner; };
primaries inner { 10.0.0.2 port 53; 10.0.0.4; };
masters spare { 10.9.9.9; };
zone "a" { type secondary; masters { upstream; 10.0.0.3; }; };
"#,
    );
    let b = body(&im);
    assert!(
        b.contains(
            r#"primaries = ["10.0.0.1:5301", "10.0.0.2:53", "10.0.0.4:5301", "10.0.0.3"]
transfer-key = "k""#
        ),
        "{b}"
    );
    let r = reasons(&im);
    assert!(
        r.contains(&(
            5,
            "masters spare { 10.9.9.9; };".to_string(),
            "primaries list spare is not used by any secondary zone".to_string()
        )),
        "{r:#?}"
    );
    // The used lists are translated (into the zone), not reported; the
    // primaries without the key are.
    assert!(
        !r.iter().any(|(_, s, _)| s.starts_with("masters upstream")),
        "{r:#?}"
    );
    assert!(
        !r.iter().any(|(_, s, _)| s.starts_with("primaries inner")),
        "{r:#?}"
    );
    assert_eq!(
        r.iter()
            .filter(|(_, _, why)| why.contains("has no key"))
            .count(),
        3,
        "{r:#?}"
    );
}

#[test]
fn allow_notify_transfer_source_and_inherited_options() {
    let im = import(
        r#"
options { allow-notify { 192.0.2.7; }; allow-update { any; }; allow-transfer { none; }; transfer-source-v6 2001:db8::53; };
zone "a" { type secondary; masters { 192.0.2.1; };
    allow-notify { 192.0.2.1; 192.0.2.2; key k; };
    transfer-source 192.0.2.53 port 5300;
    also-notify { 192.0.2.3; };
    max-journal-size 1m;
};
zone "b" { type secondary; masters { 192.0.2.1; }; allow-update { any; }; notify no; };
zone "c" { type secondary; masters { 2001:db8::1; 192.0.2.1; }; transfer-source 192.0.2.53; };
zone "p" { type master; file "p"; allow-notify { any; }; };
"#,
    );
    let b = body(&im);
    assert!(
        b.contains(
            r#"name = "a"
type = "secondary"
primaries = ["192.0.2.1"]
transfer-source = "192.0.2.53"
allow-transfer = ["none"]
allow-notify = ["192.0.2.1", "192.0.2.2", "key k"]
also-notify = ["192.0.2.3"]
notify = "yes"
journal-max-size = 1048576
"#
        ),
        "{b}"
    );
    // The options' allow-update does not apply to a secondary (nor in
    // BIND); the options' allow-notify does.
    assert!(
        b.contains(
            r#"name = "b"
type = "secondary"
primaries = ["192.0.2.1"]
allow-transfer = ["none"]
allow-notify = ["192.0.2.7"]
notify = "no"
"#
        ),
        "{b}"
    );
    assert!(
        b.contains(
            r#"name = "c"
type = "secondary"
primaries = ["2001:db8::1", "192.0.2.1"]
allow-transfer = ["none"]
allow-notify = ["192.0.2.7"]
"#
        ),
        "{b}"
    );
    assert!(b.ends_with(
        "name = \"p\"\ntype = \"primary\"\nfile = \"zones/p\"\nallow-transfer = [\"none\"]\nallow-update = [\"any\"]\nnotify = \"yes\""
    ), "{b}");
    let r = reasons(&im);
    let want = [
        (5, "transfer-source 192.0.2.53 port 5300;", "transfer-source: only the address was translated; dropped port 5300 (tandem picks the source port)"),
        (9, "allow-update { any; };", "a secondary zone takes no updates itself (BIND refuses this too); see allow-update-forwarding"),
        (10, "transfer-source 192.0.2.53;", "zone \"c\": the primaries are IPv4 and IPv6, and tandem has one transfer-source for all of them"),
        (2, "transfer-source-v6 2001:db8::53;", "zone \"c\": the primaries are IPv4 and IPv6, and tandem has one transfer-source for all of them"),
        (11, "allow-notify { any; };", "only used by secondary zones"),
    ];
    for (line, st, why) in want {
        assert!(
            r.contains(&(line, st.to_string(), why.to_string())),
            "{line} {st} {why}: {r:#?}"
        );
    }
    // A primary zone gets no allow-notify.
    let z = zones(&im);
    assert!(!z[3].contains_key("allow-notify"));
    assert_eq!(z[1]["allow-notify"].as_array().unwrap().len(), 1);
}

#[test]
fn malformed_secondaries_are_errors_at_their_place() {
    assert_eq!(
        import_err("\nzone \"a\" {\n  type slave;\n  file \"a\";\n};"),
        "named.conf:2:1: secondary zone \"a\" has no primaries (masters { ADDRESS; };)"
    );
    assert_eq!(
        import_err("zone \"a\" { type slave;\n  masters { };\n};"),
        "named.conf:2:3: secondary zone \"a\" has no primaries"
    );
    assert_eq!(
        import_err("zone \"a\" { type slave;\n  masters { nosuch; };\n};"),
        "named.conf:2:13: zone \"a\": nosuch is neither an address nor a primaries list (masters NAME { ... };)"
    );
    assert_eq!(
        import_err("zone \"a\" { type slave;\n  masters { 192.0.2.1 key nokey; };\n};"),
        "named.conf:2:27: zone \"a\": key nokey is not defined"
    );
    assert_eq!(
        import_err("masters l { l; };\nzone \"a\" { type slave; masters { l; }; };"),
        "named.conf:1:13: zone \"a\": primaries list l refers to itself"
    );
    assert_eq!(
        import_err("masters l { 192.0.2.1; };\nprimaries L { 192.0.2.2; };"),
        "named.conf:2:1: primaries list L is defined twice (first at named.conf:1:1)"
    );
    assert_eq!(
        import_err("zone \"a\" { type slave;\n  masters { 192.0.2.1 port x; };\n};"),
        "named.conf:2:28: zone \"a\": bad port \"x\""
    );
}
