//! named.conf import: the fixture (the seed's layout) to TOML, the
//! untranslated list, error positions, and BIND's own opinion of the
//! fixture.

use std::path::{Path, PathBuf};
use std::process::Command;

use tandem_isc::{fs_loader, import_named_conf, import_statements, parse_str, Import};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bind")
}

fn import_fixture() -> Import {
    import_named_conf(&fixture_dir().join("named.conf"), &mut fs_loader()).unwrap()
}

/// Imports text given inline, as /etc/bind/named.conf.
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

/// The TOML without its comment lines.
fn body(im: &Import) -> String {
    im.toml
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

fn reasons(im: &Import) -> Vec<(String, String)> {
    im.untranslated
        .iter()
        .map(|u| (u.statement.clone(), u.reason.clone()))
        .collect()
}

#[test]
fn fixture_imports_to_the_expected_toml() {
    let im = import_fixture();
    let conf = fixture_dir().join("named.conf");
    assert!(im.toml.starts_with(&format!(
        "# tandem configuration imported from {} by tandem-isc.\n",
        conf.display()
    )));
    let want = r#"[server]
state-dir = "state"

[dns]
listen = ["127.0.0.1:53", "192.168.0.254:53", "[::]:53"]

[[key]]
name = "DHCP_UPDATER"
algorithm = "hmac-md5"
secret = "bWFkZSB1cCBzZWNyZXQgZm9yIHRlc3Rz"

[[zone]]
name = "home"
type = "primary"
file = "zones/home.zone"
allow-query = ["192.168.0.0/24", "!192.168.0.66", "127.0.0.1", "::1"]
allow-transfer = ["192.168.0.253", "key DHCP_UPDATER"]
allow-update = ["key DHCP_UPDATER"]
also-notify = ["192.168.0.253", "127.0.0.1:5354"]
notify = "yes"

[[zone]]
name = "0.168.192.in-addr.arpa"
type = "primary"
file = "zones/db.0.168.192.in-addr.arpa"
allow-query = ["any"]
allow-transfer = ["192.168.0.253"]
update-policy = [ { grant = "DHCP_UPDATER", match = "zonesub", types = ["ANY"] }, { deny = "DHCP_UPDATER", match = "name", name = "254.0.168.192.in-addr.arpa.", types = ["PTR"] } ]
notify = "yes"

[[zone]]
name = "lab.home"
type = "secondary"
primaries = ["192.168.0.253"]
allow-query = ["192.168.0.0/24", "!192.168.0.66", "127.0.0.1", "::1"]
allow-update-forwarding = ["key DHCP_UPDATER"]
notify = "yes""#;
    assert_eq!(body(&im), want);
    // Keys are inlined, and the file says where the secrets came from.
    let key_file = fixture_dir().join("ddns.key");
    assert_eq!(im.key_files, vec![key_file.clone()]);
    assert!(im.toml.contains(&format!(
        "\n# TSIG keys, inlined from {}.\n# The secrets are below: keep this file readable only by tandem.\n[[key]]\n",
        key_file.display()
    )));
    assert!(!im.toml.contains("key-files"));
    // Everything untranslated is also listed in the file, for the reader.
    assert!(im.toml.contains("# Not translated:\n"));
    assert!(im
        .toml
        .contains("named.conf.local:28:5: file \"lab.home.zone\";\n#     tandem keeps a secondary's copy in its state directory\n"));
    assert_eq!(
        im.zone_files,
        vec![
            (
                PathBuf::from("/var/cache/bind/home.zone"),
                "zones/home.zone".to_string()
            ),
            (
                PathBuf::from("/etc/bind/db.0.168.192.in-addr.arpa"),
                "zones/db.0.168.192.in-addr.arpa".to_string()
            ),
        ]
    );
}

#[test]
fn fixture_untranslated_list() {
    let im = import_fixture();
    let got: Vec<(String, u32, u32, &str, &str)> = im
        .untranslated
        .iter()
        .map(|u| {
            (
                u.loc
                    .file
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                u.loc.line,
                u.loc.col,
                u.statement.as_str(),
                u.reason.as_str(),
            )
        })
        .collect();
    let want: Vec<(&str, u32, u32, &str, &str)> = vec![
        ("named.conf.options", 7, 2, "forwarders { 1.1.1.1; 8.8.8.8; };", "forwarding arrives with the resolver issue"),
        ("named.conf.options", 11, 2, "recursion yes;", "tandem is authoritative-only for now"),
        ("named.conf.options", 12, 2, "dnssec-validation auto;", "tandem is authoritative-only for now"),
        ("named.conf.options", 15, 21, "localhost;", "options allow-query: localhost was approximated as 127.0.0.1 and ::1 (BIND also matches the host's other addresses)"),
        ("named.conf.local", 28, 5, "file \"lab.home.zone\";", "tandem keeps a secondary's copy in its state directory"),
        ("named.conf", 18, 1, "controls { inet 127.0.0.1 port 953 allow { 127.0.0.1; } keys { \"DHCP_UPDATER\"; }; };", "rndc control channels have no equivalent: tandem is controlled through [server] control-socket"),
        ("named.conf", 22, 1, "logging { channel updates { file \"/var/log/named/updates.log\"; severity info; }; category update { updates; }; };", "logging channels and categories have no equivalent in tandem's configuration"),
    ];
    let got: Vec<(&str, u32, u32, &str, &str)> = got
        .iter()
        .map(|(f, l, c, s, r)| (f.as_str(), *l, *c, *s, *r))
        .collect();
    assert_eq!(got, want);
}

fn named_checkconf() -> Option<PathBuf> {
    ["/usr/bin/named-checkconf", "/usr/sbin/named-checkconf"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

#[test]
fn fixtures_are_valid_bind_syntax() {
    let Some(bin) = named_checkconf() else {
        if std::env::var_os("TANDEM_REQUIRE_PEERS").is_some() {
            panic!("named-checkconf is not installed and TANDEM_REQUIRE_PEERS is set");
        }
        eprintln!("skipping: named-checkconf is not installed (package bind9-utils)");
        return;
    };
    // named-checkconf takes relative includes from the working directory.
    for file in ["named.conf", "ddns.key"] {
        let out = Command::new(&bin)
            .arg(file)
            .current_dir(fixture_dir())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "named-checkconf {file}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // And it does reject what the parser rejects.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.conf"),
        "options {\n  directory \"x\"\n};\n",
    )
    .unwrap();
    let out = Command::new(&bin)
        .arg("bad.conf")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn include_cycle_is_an_error_at_the_include() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("named.conf");
    std::fs::write(&a, "options { };\ninclude \"local.conf\";\n").unwrap();
    std::fs::write(
        dir.path().join("local.conf"),
        "\n  include \"named.conf\";\n",
    )
    .unwrap();
    let e = import_named_conf(&a, &mut fs_loader()).unwrap_err();
    assert_eq!(e.file, dir.path().join("local.conf"));
    assert_eq!((e.line, e.col), (2, 11));
    assert!(e.message.starts_with("include cycle: "), "{e}");
    assert!(e.message.ends_with("named.conf"), "{e}");
}

#[test]
fn bad_base64_is_an_error_at_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("named.conf");
    std::fs::write(&conf, "include \"k.key\";\n").unwrap();
    std::fs::write(
        dir.path().join("k.key"),
        "key k {\n\talgorithm hmac-sha256;\n\tsecret \"abc$\";\n};\n",
    )
    .unwrap();
    let e = import_named_conf(&conf, &mut fs_loader()).unwrap_err();
    assert_eq!(e.file, dir.path().join("k.key"));
    assert_eq!((e.line, e.col), (3, 9));
    assert!(e.message.contains("not valid base64"), "{e}");
    assert_eq!(
        e.to_string(),
        format!("{}:3:9: {}", dir.path().join("k.key").display(), e.message)
    );
}

#[test]
fn acls_are_expanded_and_fail_closed() {
    let im = import(
        r#"
acl inner { 10/8; key "upd."; };
acl outer { inner; !192.168.1.1; };
zone "a" { type master; file "a"; allow-query { outer; 2001:db8::/32; }; };
zone "b" { type master; file "b"; allow-query { localnets; 10.1.2.3; }; };
zone "c" { type master; file "c"; allow-transfer { !localnets; any; }; };
zone "d" { type master; file "d"; allow-transfer { !inner; { 172.16/12; }; }; };
zone "e" { type master; file "e"; allow-update { !outer; any; }; };
zone "f" { type master; file "f"; allow-query { nosuch; }; };
"#,
    );
    let b = body(&im);
    assert!(
        b.contains(r#"allow-query = ["10.0.0.0/8", "key upd", "!192.168.1.1", "2001:db8::/32"]"#),
        "{b}"
    );
    assert!(
        b.contains("file = \"zones/b\"\nallow-query = [\"10.1.2.3\"]"),
        "{b}"
    );
    assert!(
        b.contains("file = \"zones/c\"\nallow-transfer = [\"none\"]"),
        "{b}"
    );
    assert!(
        b.contains(r#"allow-transfer = ["!10.0.0.0/8", "!key upd", "172.16.0.0/12"]"#),
        "{b}"
    );
    // A negated list holding a negation cannot be flattened: fail closed.
    assert!(
        b.contains("file = \"zones/e\"\nallow-update = [\"none\"]"),
        "{b}"
    );
    assert!(b.contains("file = \"zones/f\"\nallow-query = []"), "{b}");
    let r = reasons(&im);
    assert!(r.contains(&(
        "localnets;".into(),
        "zone \"b\" allow-query: localnets depends on the host's interfaces and has no equivalent; left out (this only refuses more)".into()
    )), "{r:#?}");
    assert!(r.contains(&(
        "!localnets;".into(),
        "zone \"c\" allow-transfer: localnets depends on the host's interfaces and has no equivalent; the whole list became [\"none\"] because a refusal was lost".into()
    )), "{r:#?}");
    assert!(r.contains(&(
        "!192.168.1.1;".into(),
        "zone \"e\" allow-update: a negation inside a negated list cannot be flattened; the whole list became [\"none\"] because a refusal was lost".into()
    )), "{r:#?}");
    assert!(r
        .iter()
        .any(|(s, why)| s == "nosuch;" && why.contains("undefined acl")));
}

#[test]
fn options_defaults_apply_to_zones_without_their_own() {
    let im = import(
        r#"
options { allow-transfer { 192.0.2.1; }; also-notify port 5300 { 192.0.2.1; 2001:db8::1 port 53; }; max-journal-size 2m; };
zone "a" { type master; file "a"; };
zone "b" { type master; file "b"; allow-transfer { none; }; also-notify { }; max-journal-size unlimited; };
"#,
    );
    let b = body(&im);
    assert!(b.contains(
        "file = \"zones/a\"\nallow-transfer = [\"192.0.2.1\"]\nalso-notify = [\"192.0.2.1:5300\", \"[2001:db8::1]:53\"]\nnotify = \"yes\"\njournal-max-size = 2097152"
    ), "{b}");
    assert!(b.contains(
        "file = \"zones/b\"\nallow-transfer = [\"none\"]\nalso-notify = []\nnotify = \"yes\"\njournal-max-size = 18446744073709551615"
    ), "{b}");
    assert!(!im.toml.contains("[dns]"));
    assert!(im.toml.contains("# named.conf had no listen-on"));
}

#[test]
fn notify_is_translated_with_binds_default() {
    let im = import(
        r#"
options { notify explicit; };
zone "a" { type master; file "a"; };
zone "b" { type master; file "b"; notify no; };
zone "c" { type master; file "c"; notify master-only; };
zone "d" { type slave; masters { 192.0.2.1; }; notify primary-only; };
"#,
    );
    let b = body(&im);
    for (zone, want) in [("a", "explicit"), ("b", "no"), ("c", "yes"), ("d", "no")] {
        let at = b.find(&format!("name = \"{zone}\"")).unwrap();
        let rest = &b[at..];
        let end = rest.find("[[zone]]").unwrap_or(rest.len());
        assert!(
            rest[..end].contains(&format!("notify = \"{want}\"")),
            "{zone}: {b}"
        );
    }
    // Without a notify statement BIND notifies the name servers.
    let im = import("zone \"a\" { type master; file \"a\"; };\n");
    assert!(body(&im).contains("notify = \"yes\""));
}

#[test]
fn update_policy_rules() {
    let im = import(
        r#"
zone "home" { type master; file "home.zone"; update-policy {
    grant ddns-key zonesub ANY;
    grant ddns-key name www.home A aaaa;
    grant ddns-key subdomain dyn.home TXT;
    grant ddns-key wildcard *.w.home A;
    grant * self . A;
    grant host.home self A;
    grant ddns-key zonesub;
    grant k krb5-self . A;
}; };
zone "x" { type master; file "x"; update-policy { grant a zonesub ANY; deny b tcp-self . A; }; };
options { allow-update { 192.0.2.9; }; };
zone "y" { type master; file "y"; update-policy local; };
zone "w" { type master; file "w"; };
zone "z" { type master; file "z"; update-policy { grant a zonesub A(2); }; };
"#,
    );
    let b = body(&im);
    let want = r#"update-policy = [ { grant = "ddns-key", match = "zonesub", types = ["ANY"] }, { grant = "ddns-key", match = "name", name = "www.home", types = ["A", "AAAA"] }, { grant = "ddns-key", match = "subdomain", name = "dyn.home", types = ["TXT"] }, { grant = "ddns-key", match = "wildcard", name = "*.w.home", types = ["A"] }, { grant = "*", match = "self", types = ["A"] }, { grant = "host.home", match = "self", types = ["A"] }, { grant = "ddns-key", match = "zonesub" } ]"#;
    assert!(b.contains(want), "{b}");
    assert!(b.contains("file = \"zones/x\"\nupdate-policy = []"), "{b}");
    // The inherited allow-update does not apply where a policy was given,
    // even one that could not be translated.
    assert!(
        b.contains("file = \"zones/y\"\nnotify = \"yes\"\n\n[[zone]]\nname = \"w\""),
        "{b}"
    );
    assert!(
        b.contains("file = \"zones/w\"\nallow-update = [\"192.0.2.9\"]"),
        "{b}"
    );
    assert!(
        b.contains("file = \"zones/home.zone\"\nupdate-policy = "),
        "{b}"
    );
    assert!(b.contains("file = \"zones/z\"\nupdate-policy = []"), "{b}");
    let r = reasons(&im);
    assert!(r.contains(&(
        "grant k krb5-self . A;".into(),
        "zone \"home\" update-policy: rule type krb5-self is not supported; left out (this only refuses more)".into()
    )), "{r:#?}");
    assert!(r.contains(&(
        "deny b tcp-self . A;".into(),
        "zone \"x\" update-policy: rule type tcp-self is not supported; the policy became empty (no updates) because a deny was lost".into()
    )), "{r:#?}");
    assert!(
        r.contains(&(
            "update-policy local;".into(),
            "zone \"y\": update-policy local (the session key of nsupdate -l) is not supported"
                .into()
        )),
        "{r:#?}"
    );
}

#[test]
fn zone_kinds_and_statements_that_are_not_translated() {
    let im = import(
        r#"
zone "." { type hint; file "/usr/share/dns/root.hints"; };
zone "fwd" { type forward; forwarders { 192.0.2.1; }; };
zone "s" { type stub; masters { 192.0.2.1; }; };
zone "s2" IN { type secondary; primaries { 192.0.2.1 tls t; }; };
zone "version.bind" CH { type master; file "v"; };
view "inside" { zone "v" { type master; file "v"; }; };
statistics-channels { inet 127.0.0.1 port 8053; };
frobnicate yes;
"#,
    );
    assert!(!im.toml.contains("[[zone]]"));
    assert!(im.zone_files.is_empty());
    let r: Vec<String> = reasons(&im).into_iter().map(|(_, r)| r).collect();
    assert_eq!(
        r,
        vec![
            "root hints are only used for recursion; tandem is authoritative-only for now",
            "forwarding arrives with the resolver issue",
            "stub zones are not supported",
            "zone \"s2\": zone transfers over TLS (t) are not supported; this primary was left out",
            "secondary zone \"s2\": none of its primaries could be translated",
            "class CH zones are not supported (only IN)",
            "views are not supported (tandem serves one set of zones to every client)",
            "statistics channels are not supported",
            "unknown statement",
        ]
    );
}

#[test]
fn malformed_configuration_is_an_error() {
    assert_eq!(
        import_err("zone \"a\" {\n  file \"a\";\n};"),
        "named.conf:1:1: zone \"a\" has no type"
    );
    assert_eq!(
        import_err("\nzone \"a\" { type master; };"),
        "named.conf:2:1: primary zone \"a\" has no file"
    );
    assert_eq!(
        import_err("zone \"a\" { type master; file \"a\";\n file \"b\"; };"),
        "named.conf:2:2: file given twice in zone \"a\""
    );
    assert_eq!(
        import_err("key k {\n algorithm hmac-md5; };"),
        "named.conf:1:1: key k has no secret"
    );
    assert_eq!(
        import_err("key k { algorithm hmac-md5; secret \"c2Vj\"; };\nkey \"K.\" { algorithm hmac-sha1; secret \"c2Vj\"; };"),
        "named.conf:2:1: key K is defined twice (first at named.conf:1:1)"
    );
    assert_eq!(
        import_err("zone \"a\" { type master; file \"a\";\n update-policy { grant k zonesub ANY; };\n  allow-update { any; }; };"),
        "named.conf:3:3: zone \"a\" has both allow-update and update-policy (BIND refuses this too)"
    );
    assert!(import_err("zone \"a..b\" { type master; file \"a\"; };")
        .starts_with("named.conf:1:6: bad zone name"));
}

#[test]
fn strings_are_escaped_and_destinations_unique() {
    let im = import(
        r#"
options { directory "data"; listen-on-v6 port 5353 { ::1; none; fe80::/10; }; };
zone "a" { type master; file "we\"ird\\name"; };
zone "b" { type master; file "/srv/other/we\"ird\\name"; };
zone "c" { type master; file "we\"ird\\name"; };
"#,
    );
    let b = body(&im);
    assert!(b.contains(r#"listen = ["[::1]:5353"]"#), "{b}");
    assert!(b.contains(r#"file = "zones/we\"ird\\name""#), "{b}");
    assert!(b.contains(r#"file = "zones/we\"ird\\name-2""#), "{b}");
    assert_eq!(
        im.zone_files,
        vec![
            (
                PathBuf::from("/etc/bind/data/we\"ird\\name"),
                "zones/we\"ird\\name".to_string()
            ),
            (
                PathBuf::from("/srv/other/we\"ird\\name"),
                "zones/we\"ird\\name-2".to_string()
            ),
        ]
    );
    let r = reasons(&im);
    assert!(r
        .iter()
        .any(|(s, why)| s == "fe80::/10;" && why.contains("exact addresses")));
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn import_of_any_parsable_text(s in "(zone|options|acl|key|update-policy|grant|deny|allow-query|listen-on|also-notify|type|master|slave|masters|primaries|tls|transfer-source|allow-notify|file|port|any|none|!|\\{|\\}|;|\"[a-z.]{0,6}\"|[0-9./:]{1,12}|[a-z*.]{1,6}| |\n){0,60}") {
            let path = Path::new("/etc/bind/named.conf");
            if let Ok(t) = parse_str(&s, path) {
                let _ = import_statements(&t, path);
            }
        }
    }
}
