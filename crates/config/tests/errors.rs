//! Broken configurations give one clear error naming file, line and column.

use std::path::Path;

use tandem_config::Config;

fn err(text: &str) -> String {
    Config::parse(text, Path::new("/etc/tandem/tandem.toml"))
        .expect_err("should be refused")
        .to_string()
}

#[test]
fn unknown_keys_are_refused_with_their_place() {
    let e = err("[dns]\nlisten = [\"127.0.0.1:53\"]\ntcp-idle-timeot = 3\n");
    assert!(e.starts_with("/etc/tandem/tandem.toml:3:1:"), "{e}");
    assert!(e.contains("tcp-idle-timeot"), "{e}");
    let e = err("[[zone]]\nname = \"home\"\nfile = \"x\"\nallow_update = []\n");
    assert!(e.starts_with("/etc/tandem/tandem.toml:4:1:"), "{e}");
}

#[test]
fn bad_values_point_at_the_value() {
    let e = err("[dns]\nlisten = [\"127.0.0.1:53\", \"nonsense\"]\n");
    assert!(e.starts_with("/etc/tandem/tandem.toml:2:27:"), "{e}");
    let e = err("[[zone]]\nname = \"home\"\nfile = \"x\"\nallow-query = [\"10.0.0.0/40\"]\n");
    assert!(e.contains(":4:16:") && e.contains("prefix"), "{e}");
    let e = err("[[key]]\nname = \"k\"\nalgorithm = \"hmac-md4\"\nsecret = \"aGVsbG8=\"\n");
    assert!(
        e.contains(":3:13:") && e.contains("unknown algorithm"),
        "{e}"
    );
    let e = err("[[key]]\nname = \"k\"\nalgorithm = \"hmac-md5\"\nsecret = \"not base64!\"\n");
    assert!(e.contains(":4:10:") && e.contains("base64"), "{e}");
    let e =
        err("[[zone]]\nname = \"home\"\nfile = \"x\"\n[[zone]]\nname = \"HOME.\"\nfile = \"y\"\n");
    assert!(e.contains(":5:8:") && e.contains("twice"), "{e}");
    let e = err("[[zone]]\nname = \"home\"\ntype = \"stub\"\nfile = \"x\"\n");
    assert!(e.contains(":3:8:") && e.contains("not supported"), "{e}");
    let e = err("[[zone]]\nname = \"home\"\ntype = \"secondary\"\nfile = \"x\"\nprimaries = [\"192.0.2.1\"]\n");
    assert!(e.contains(":4:8:") && e.contains("remove file"), "{e}");
    let e = err("[[zone]]\nname = \"home\"\ntype = \"secondary\"\n");
    assert!(e.contains(":2:8:") && e.contains("needs primaries"), "{e}");
    let e = err("[[zone]]\nname = \"home\"\ntype = \"secondary\"\nprimaries = [\"192.0.2.1:x\"]\n");
    assert!(e.contains(":4:14:") && e.contains("bad address"), "{e}");
    let e = err("[[zone]]\nname = \"home\"\ntype = \"secondary\"\nprimaries = [\"192.0.2.1\"]\ntransfer-key = \"nokey\"\n");
    assert!(e.contains(":5:16:") && e.contains("unknown key"), "{e}");
    let e = err("[[zone]]\nname = \"home\"\nfile = \"x\"\nallow-update-forwarding = [\"any\"]\n");
    assert!(
        e.contains(":2:8:") && e.contains("only for zones of type"),
        "{e}"
    );
    let e = err("[[zone]]\nname = \"home\"\n");
    assert!(e.contains(":2:8:") && e.contains("needs a file"), "{e}");
    let e = err("[[zone]]\nname = \"home\"\nfile = \"x\"\nupdate-policy = [{ grant = \"k\", match = \"subdomain\" }]\n");
    assert!(e.contains(":4:18:") && e.contains("needs a name"), "{e}");
    let e = err("[dns]\nmax-udp-payload = 100\n");
    assert!(e.contains(":2:19:") && e.contains("512"), "{e}");
    let e = err("this is not toml");
    assert!(e.starts_with("/etc/tandem/tandem.toml:1:"), "{e}");
}

#[test]
fn defaults_and_relative_paths() {
    let c = Config::parse(
        "[server]\nstate-dir = \"state\"\n[[zone]]\nname = \"home\"\nfile = \"zones/home.zone\"\n",
        Path::new("/etc/tandem/tandem.toml"),
    )
    .unwrap();
    assert_eq!(c.server.state_dir, Path::new("/etc/tandem/state"));
    assert_eq!(
        c.server.control_socket,
        Path::new("/etc/tandem/state/control.sock")
    );
    assert!(
        matches!(&c.zones[0].role, tandem_config::ZoneRole::Primary { file } if file == Path::new("/etc/tandem/zones/home.zone"))
    );
    assert_eq!(c.dns.max_udp_payload, 1232);
    assert_eq!(c.dns.listen.len(), 2);
    assert!(c.zones[0]
        .allow_query
        .allows("192.0.2.1".parse().unwrap(), None));
    assert!(!c.zones[0]
        .allow_transfer
        .allows("127.0.0.1".parse().unwrap(), None));
}

#[test]
fn a_secondary_zone_and_its_defaults() {
    let c = Config::parse(
        "[[zone]]\nname = \"home\"\ntype = \"slave\"\nprimaries = [\"192.0.2.254\", \"192.0.2.252:5300\"]\nallow-update-forwarding = [\"key k\"]\n",
        Path::new("/etc/tandem/tandem.toml"),
    )
    .unwrap();
    let tandem_config::ZoneRole::Secondary(s) = &c.zones[0].role else {
        panic!("not a secondary: {:?}", c.zones[0].role);
    };
    assert_eq!(s.primaries[0].to_string(), "192.0.2.254:53");
    assert_eq!(s.primaries[1].to_string(), "192.0.2.252:5300");
    // NOTIFY is accepted from the primaries' addresses only, by default.
    assert!(s.allow_notify.allows("192.0.2.252".parse().unwrap(), None));
    assert!(!s.allow_notify.allows("192.0.2.9".parse().unwrap(), None));
    let k: tandem_dns_wire::Name = "k".parse().unwrap();
    assert!(s
        .allow_update_forwarding
        .allows("192.0.2.9".parse().unwrap(), Some(&k)));
    assert!(!s
        .allow_update_forwarding
        .allows("192.0.2.9".parse().unwrap(), None));
}

#[test]
fn key_files_are_read_and_their_errors_located() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("tandem.toml");
    let good = "key \"DHCP_UPDATER\" {\n\talgorithm hmac-md5;\n\tsecret \"aGVsbG8=\";\n};\n";
    std::fs::write(dir.path().join("k.key"), good).unwrap();
    let text = "[server]\nkey-files = [\"k.key\"]\n";
    let c = Config::parse(text, &cfg).unwrap();
    assert_eq!(c.keys.len(), 1);
    assert_eq!(c.keys[0].name.to_string(), "dhcp_updater.");

    // Defined in the file and again inline.
    let both = format!(
        "{text}[[key]]\nname = \"dhcp_updater\"\nalgorithm = \"hmac-md5\"\nsecret = \"aGVsbG8=\"\n"
    );
    let e = Config::parse(&both, &cfg).unwrap_err().to_string();
    assert!(
        e.contains("k.key:1:1:") && e.contains("defined twice"),
        "{e}"
    );

    // Bad base64 inside the key file: the key file's line and column.
    let bad = "key \"x\" {\n\talgorithm hmac-sha256;\n\tsecret \"***\";\n};\n";
    std::fs::write(dir.path().join("k.key"), bad).unwrap();
    let e = Config::parse(text, &cfg).unwrap_err().to_string();
    assert!(e.contains("k.key:3:"), "{e}");

    // A missing key file points at its entry in the config.
    let e = Config::parse("[server]\nkey-files = [\"nope.key\"]\n", &cfg)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("tandem.toml:2:14:") && e.contains("nope.key"),
        "{e}"
    );
}
