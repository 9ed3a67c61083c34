//! `tandem demo`, run as a user would run it: as root, the real binary,
//! the seed's network in namespaces. It must exit 0, print every step's
//! ✓ line and no ✗, finish within its time budget, and leave no namespace
//! or process behind. A second run is interrupted with SIGINT halfway and
//! must clean up just as well.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tandem_testkit::{is_root, peers_present};

fn tandem_bin() -> &'static str {
    env!("CARGO_BIN_EXE_tandem")
}

fn can_run() -> bool {
    is_root() && peers_present(&["ip", "dig", "dhclient", "udhcpc"])
}

/// The demo's namespaces (`tdemo-<pid>-...`) that still exist.
fn leftover_namespaces(pid: u32) -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&format!("tdemo-{pid}-")))
        .map(str::to_string)
        .collect()
}

/// The lines each step must print with ✓.
const EXPECTED: &[&str] = &[
    "✓ tandem/shared.toml: keys, subnet, pool, options, DDNS zones",
    "✓ tandem/primary.toml: its identity (zones, failover peer) written and checked",
    "✓ tandem/secondary.toml: its identity (zones, failover peer) written and checked",
    "✓ primary tandem serving in",
    "✓ secondary tandem serving in",
    "✓ primary: failover peer dhcp-failover: Both servers normal",
    "✓ secondary: failover peer dhcp-failover: Both servers normal",
    "✓ secondary serves home transferred from the primary",
    "✓ secondary serves 0.168.192.in-addr.arpa transferred from the primary",
    "✓ the clients are split between the nodes: 2 from the primary, 2 from the secondary",
    "✓ secondary (192.168.0.253): laptop.home A ",
    "✓ primary (192.168.0.254): nas.home A ",
    "✓ laptop (dhclient): ip route has 10.8.0.0/24 via 192.168.0.2",
    "✓ phone (udhcpc): ip route has 10.8.0.0/24 via 192.168.0.2",
    "✓ tandem reload --config tandem/primary.toml",
    "✓ secondary (192.168.0.253): wiki.home A 10.8.0.5 (NOTIFY, IXFR)",
    "✓ secondary: failover peer dhcp-failover: I move from normal to communications-interrupted",
    "✓ the primary's DNS no longer answers",
    "from 192.168.0.253 (secondary)",
    "its update waits in the secondary's outbox for the primary",
    "✓ primary (192.168.0.254): guest.home A ",
    "✓ primary: 5 leases active (guest, laptop, nas, phone, tv)",
    "✓ secondary: 5 leases active (guest, laptop, nas, phone, tv)",
];

#[test]
fn the_demo_passes_every_check_and_cleans_up() {
    if !can_run() {
        eprintln!("skipping: needs root and ip, dig, dhclient, udhcpc");
        return;
    }
    let start = Instant::now();
    let child = Command::new(tandem_bin())
        .arg("demo")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tandem demo");
    let pid = child.id();
    let out = child.wait_with_output().expect("wait");
    let took = start.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let all = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "tandem demo failed:\n{all}");
    for line in EXPECTED {
        assert!(stdout.contains(line), "no {line:?} in:\n{all}");
    }
    assert!(!stdout.contains('✗'), "a ✗ in:\n{all}");
    assert!(stdout.contains("checks passed ✓"), "{all}");
    assert!(
        took < Duration::from_secs(90),
        "the demo took {took:?}:\n{all}"
    );
    assert_eq!(leftover_namespaces(pid), Vec::<String>::new(), "{all}");
    assert!(
        !std::path::Path::new(&format!("/tmp/tdemo-{pid}")).exists(),
        "the demo's directory is left behind"
    );
}

#[test]
fn an_interrupted_demo_cleans_up() {
    if !can_run() {
        eprintln!("skipping: needs root and ip, dig, dhclient, udhcpc");
        return;
    }
    let mut child = Command::new(tandem_bin())
        .arg("demo")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run tandem demo");
    let pid = child.id();
    // Once the clients run (the demo is in the middle of its steps).
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut text = String::new();
        let mut buf = [0u8; 4096];
        let mut sent = false;
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
            if !sent && text.contains("DHCP clients ask for addresses") {
                // SAFETY: kill(2) has no memory effects.
                unsafe {
                    libc::kill(pid as libc::pid_t, libc::SIGINT);
                }
                sent = true;
            }
        }
        text
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the interrupted demo did not end");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = reader.join().unwrap();
    assert_eq!(status.code(), Some(130), "{text}");
    assert!(text.contains("interrupted: cleaned up"), "{text}");
    assert_eq!(leftover_namespaces(pid), Vec::<String>::new(), "{text}");
    assert!(!std::path::Path::new(&format!("/tmp/tdemo-{pid}")).exists());
    // No process of the demo is left: its clients ran in namespaces that
    // are gone, and nothing named after its files still runs.
    let ps = Command::new("ps").args(["-eo", "args"]).output().unwrap();
    let ps = String::from_utf8_lossy(&ps.stdout);
    assert!(!ps.contains(&format!("tdemo-{pid}")), "left running:\n{ps}");
}
