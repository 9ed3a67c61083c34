//! `[server] user`: tandem started as root switches to an unprivileged
//! user before it starts any thread, keeping only the network
//! capabilities, and still serves DNS on port 53, takes updates into its
//! journal and reloads on SIGHUP. Root only (skipped otherwise).

mod common;

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::process::Command;
use std::time::Duration;

use common::{eventually, example_config, nsupdate_script, tandem_bin, test_dir, MD5};
use tandem_testkit::{free_port, is_root, peers_present, Proc};

/// Bits 10 (CAP_NET_BIND_SERVICE) and 13 (CAP_NET_RAW).
const DNS_CAPS: u64 = (1 << 10) | (1 << 13);

fn status_field(status: &str, field: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {status}"))
        .trim()
        .to_string()
}

fn nobody() -> Option<(u32, u32)> {
    let out = Command::new("id").args(["-u", "nobody"]).output().ok()?;
    let uid = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    let out = Command::new("id").args(["-g", "nobody"]).output().ok()?;
    let gid = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    Some((uid, gid))
}

#[test]
fn root_drops_to_the_configured_user_and_keeps_serving() {
    if !is_root() {
        eprintln!("skipping: the privilege drop needs root");
        return;
    }
    if !peers_present(&["dig", "nsupdate"]) {
        return;
    }
    let (uid, gid) = nobody().expect("Debian has a nobody user");
    let tmp = test_dir();
    let dir = tmp.path();
    // The user must reach the zone files (reload re-reads them).
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let port = free_port();
    // A low port on an address of its own, so tests running alongside
    // cannot collide with it.
    let low = format!("127.0.0.{}", 100 + std::process::id() % 150);
    let config = example_config(port, "", "")
        .replace(
            "state-dir = \"state\"",
            "state-dir = \"state\"\nuser = \"nobody\"",
        )
        .replace(
            &format!("listen = [\"127.0.0.1:{port}\"]"),
            &format!("listen = [\"127.0.0.1:{port}\", \"{low}:53\"]"),
        );
    let path = dir.join("tandem.toml");
    std::fs::write(&path, config).unwrap();
    let mut cmd = Command::new(tandem_bin());
    cmd.arg("serve").arg("--config").arg(&path);
    let mut proc = Proc::spawn("tandem", cmd, "tandem ready:");
    let line = proc.wait_for("running as", Duration::from_secs(5));
    assert!(
        line.contains("running as nobody:")
            && line.ends_with("with CAP_NET_BIND_SERVICE, CAP_NET_RAW"),
        "{line}"
    );

    // Every thread, not only the main one, runs as nobody with the two
    // capabilities, and none can come back.
    let tasks = std::fs::read_dir(format!("/proc/{}/task", proc.pid())).unwrap();
    let mut threads = 0;
    for t in tasks {
        let status = std::fs::read_to_string(t.unwrap().path().join("status")).unwrap();
        let ids = |f| {
            status_field(&status, f)
                .split_whitespace()
                .map(|v| v.parse::<u32>().unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids("Uid"), vec![uid; 4], "{status}");
        assert_eq!(ids("Gid"), vec![gid; 4], "{status}");
        assert_eq!(status_field(&status, "Groups"), gid.to_string(), "{status}");
        for f in ["CapEff", "CapPrm", "CapBnd"] {
            let v = u64::from_str_radix(&status_field(&status, f), 16).unwrap();
            assert_eq!(v, DNS_CAPS, "{f} in {status}");
        }
        assert_eq!(status_field(&status, "CapInh"), "0000000000000000");
        assert_eq!(status_field(&status, "CapAmb"), "0000000000000000");
        assert_eq!(status_field(&status, "NoNewPrivs"), "1");
        threads += 1;
    }
    assert!(threads > 3, "only {threads} threads");

    // The state directory is the user's, and so is what tandem wrote.
    let state = dir.join("state");
    assert_eq!(std::fs::metadata(&state).unwrap().uid(), uid);
    assert_eq!(
        std::fs::metadata(state.join("control.sock")).unwrap().uid(),
        uid
    );

    // DNS on port 53.
    let r = tandem_testkit::dns::dig(&low, 53, &["nas.home", "A"]);
    assert_eq!(r.status, "NOERROR", "{}", r.raw);
    assert!(!r.answer.is_empty(), "{}", r.raw);

    // An update goes into the journal the user now owns.
    let (ok, out) = nsupdate_script(
        port,
        &["-y", MD5],
        "update add kettle.home 300 A 192.168.0.77\nsend\n",
    );
    assert!(ok, "{out}\n{}", proc.output());
    let r = tandem_testkit::dns::dig(&low, 53, &["kettle.home", "A"]);
    assert_eq!(r.answer_data("A"), vec!["192.168.0.77"], "{}", r.raw);

    // SIGHUP still reloads the zone files.
    let zone = dir.join("zones/home.zone");
    let mut s = std::fs::read_to_string(&zone).unwrap();
    s.push_str("doorbell IN A 192.168.0.31\n");
    std::fs::write(&zone, s).unwrap();
    proc.signal(libc::SIGHUP);
    assert!(
        eventually(Duration::from_secs(10), || {
            tandem_testkit::dns::dig(&low, 53, &["doorbell.home", "A"]).answer_data("A")
                == vec!["192.168.0.31"]
        }),
        "SIGHUP did not reload:\n{}",
        proc.output()
    );

    // The control socket still answers root's `tandem status`.
    let mut c = Command::new(tandem_bin());
    c.args(["status", "--config"]).arg(&path);
    let (ok, out, err) = tandem_testkit::run(&mut c);
    assert!(ok && out.contains("zone home"), "{out}{err}");

    let status = proc.terminate(Duration::from_secs(10));
    assert!(status.success(), "{status:?}\n{}", proc.output());
}

#[test]
fn an_unknown_user_is_refused_at_start() {
    if !is_root() {
        eprintln!("skipping: needs root");
        return;
    }
    let tmp = test_dir();
    let config = example_config(free_port(), "", "").replace(
        "state-dir = \"state\"",
        "state-dir = \"state\"\nuser = \"tandem-no-such-user\"",
    );
    let path = tmp.path().join("tandem.toml");
    std::fs::write(&path, config).unwrap();
    let mut c = Command::new(tandem_bin());
    c.args(["serve", "--config"]).arg(&path);
    let (ok, _, err) = tandem_testkit::run(&mut c);
    assert!(!ok);
    assert!(
        err.contains("\"tandem-no-such-user\": no such user"),
        "{err}"
    );
}
