//! `tandem import-isc` on a BIND configuration like the seed's: the result
//! loads, serves what BIND serves from the same files, accepts the same
//! signed updates, and lists what it could not translate.

mod common;

use std::path::Path;
use std::process::Command;

use common::{tandem_bin, Tandem};
use tandem_testkit::dns::dig;
use tandem_testkit::{free_port, peers_present, run, which, Proc};

const SECRET: &str = "cGFpci1leGFtcGxlLWtleS1kby1ub3QtdXNl";

/// Writes a Debian-style BIND setup into `dir` listening on `port`.
fn bind_setup(dir: &Path, port: u16) {
    let examples = Path::new(common::EXAMPLES);
    std::fs::copy(examples.join("zones/home.zone"), dir.join("home.zone")).unwrap();
    std::fs::copy(
        examples.join("zones/db.0.168.192.in-addr.arpa"),
        dir.join("db.0.168.192.in-addr.arpa"),
    )
    .unwrap();
    std::fs::write(
        dir.join("dhcp-updater.key"),
        format!("key \"DHCP_UPDATER\" {{\n\talgorithm hmac-md5;\n\tsecret \"{SECRET}\";\n}};\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("named.conf"),
        format!(
            r#"// As Debian lays it out: options, then the local zones.
include "{d}/dhcp-updater.key";
options {{
    directory "{d}";
    listen-on port {port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    pid-file none;
    session-keyfile none;
    recursion no;
    dnssec-validation no;
    // The zones' NS addresses are not ours to send to from this host.
    notify no;
    forwarders {{ 192.0.2.53; }};
}};
controls {{ }};
include "{d}/named.conf.local";
"#,
            d = dir.display()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("named.conf.local"),
        r#"zone "home" {
    type master;
    file "home.zone";
    allow-transfer { 127.0.0.1; };
    allow-update { key DHCP_UPDATER; };
};

zone "0.168.192.in-addr.arpa" {
    type master;
    file "db.0.168.192.in-addr.arpa";
    allow-transfer { 127.0.0.1; };
    allow-update { key DHCP_UPDATER; };
};

zone "example.lan" {
    type slave;
    file "example.lan.zone";
    masters { 127.0.0.1 port 9; };
};
"#,
    )
    .unwrap();
}

#[test]
fn imported_seed_config_serves_and_updates_like_bind() {
    if !peers_present(&["named", "named-checkconf", "dig", "nsupdate"]) {
        return;
    }
    let bind_dir = tempfile::tempdir().unwrap();
    let bind_port = free_port();
    bind_setup(bind_dir.path(), bind_port);
    let conf = bind_dir.path().join("named.conf");
    let (ok, out, err) = run(Command::new("named-checkconf").arg(&conf));
    assert!(ok, "the fixture is not valid BIND: {out}{err}");

    let out_dir = tempfile::tempdir().unwrap();
    let target = out_dir.path().join("tandem");
    let (ok, out, err) = run(Command::new(tandem_bin())
        .args(["import-isc", "--named-conf"])
        .arg(&conf)
        .arg("--out")
        .arg(&target));
    assert!(ok, "{out}{err}");
    // The secondary is translated; only its file is not (tandem keeps the
    // copy in its state directory).
    assert!(
        out.contains("example.lan") && out.contains("keeps a secondary's copy"),
        "{out}"
    );
    assert!(out.contains("forwarders"), "{out}");
    assert!(out.contains("check: ok (3 zones)"), "{out}");

    // Serve the import on its own port, with state in the output directory.
    let port = free_port();
    let config = target.join("tandem.toml");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        &format!("127.0.0.1:{bind_port}"),
        &format!("127.0.0.1:{port}"),
    );
    std::fs::write(&config, text).unwrap();
    let tandem = Tandem::start_in(&target, &config, port);

    let named = {
        let mut c = Command::new(which("named").unwrap());
        c.args(["-g", "-n", "1", "-c"]).arg(&conf);
        Proc::spawn("named", c, "all zones loaded")
    };
    for (name, rtype) in [
        ("www.home", "A"),
        ("home", "NS"),
        ("nope.home", "A"),
        ("10.0.168.192.in-addr.arpa", "PTR"),
    ] {
        let ours = tandem.dig(&[name, rtype]);
        let theirs = dig("127.0.0.1", bind_port, &[name, rtype]);
        assert_eq!(
            ours.status, theirs.status,
            "{name}: {}\n{}",
            ours.raw, theirs.raw
        );
        assert_eq!(
            ours.answer, theirs.answer,
            "{name}: {}\n{}",
            ours.raw, theirs.raw
        );
    }
    // The same signed update, with the user's key file, to both.
    for p in [port, bind_port] {
        let mut c = Command::new("nsupdate");
        c.arg("-k").arg(bind_dir.path().join("dhcp-updater.key"));
        c.stdin(std::process::Stdio::piped());
        let mut child = c.spawn().unwrap();
        std::io::Write::write_all(
            child.stdin.as_mut().unwrap(),
            format!("server 127.0.0.1 {p}\nzone home\nupdate add tablet.home 300 A 192.168.0.81\nsend\n").as_bytes(),
        )
        .unwrap();
        drop(child.stdin.take());
        assert!(child.wait().unwrap().success(), "nsupdate to port {p}");
    }
    assert_eq!(
        tandem.dig(&["tablet.home", "A"]).answer,
        dig("127.0.0.1", bind_port, &["tablet.home", "A"]).answer
    );
    drop(named);
}
