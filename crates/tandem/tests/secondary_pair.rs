//! tandem ↔ tandem: a tandem secondary of a tandem primary's `home` zone,
//! both real processes on loopback. The secondary's first copy comes by
//! AXFR, later changes by NOTIFY and IXFR; updates sent to the secondary
//! are forwarded to the primary, or, while the primary is down, kept in a
//! durable outbox, answered NOERROR, served at once and delivered (in
//! order) when the primary is back — across a kill -9 of either node.

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Tandem, MD5};
use tandem_testkit::{free_port, peers_present};

/// How long the secondary may take to deliver its outbox once the primary
/// is back: the retry backoff doubles from 1 s up to 30 s.
const DELIVERY: Duration = Duration::from_secs(45);

/// The secondary's config: `home` from the primary on `primary`.
fn secondary_config(port: u16, primary: u16) -> String {
    format!(
        r#"
[server]
state-dir = "state"

[[key]]
name = "DHCP_UPDATER"
algorithm = "hmac-md5"
secret = "cGFpci1leGFtcGxlLWtleS1kby1ub3QtdXNl"

[dns]
listen = ["127.0.0.1:{port}"]
udp-workers = 2

[[zone]]
name = "home"
type = "secondary"
primaries = ["127.0.0.1:{primary}"]
transfer-key = "DHCP_UPDATER"
allow-update-forwarding = ["key DHCP_UPDATER"]
allow-transfer = ["127.0.0.1"]
"#
    )
}

/// A primary (the example zones, notifying the secondary) and a secondary.
struct Pair {
    primary: Tandem,
    secondary: Tandem,
    _secondary_dir: tempfile::TempDir,
}

impl Pair {
    /// Starts the primary, then the secondary (which has no copy yet and
    /// transfers the zone at start).
    fn start() -> Pair {
        let sport = free_port();
        let primary = Tandem::start_prepared("", "", |dir| {
            let path = dir.join("tandem.toml");
            let text = std::fs::read_to_string(&path).unwrap().replacen(
                "allow-transfer = [\"127.0.0.1\"]",
                &format!("allow-transfer = [\"127.0.0.1\"]\nalso-notify = [\"127.0.0.1:{sport}\"]"),
                1,
            );
            std::fs::write(path, text).unwrap();
        });
        let sdir = tempfile::tempdir().unwrap();
        let config = sdir.path().join("tandem.toml");
        std::fs::write(&config, secondary_config(sport, primary.port)).unwrap();
        let secondary = Tandem::start_in(sdir.path(), &config, sport);
        Pair {
            primary,
            secondary,
            _secondary_dir: sdir,
        }
    }

    /// Waits for the secondary's first transfer, of serial `s`.
    fn wait_first_copy(&mut self, s: u32) -> String {
        self.secondary.proc.wait_for(
            &format!("zone home./IN: transferred serial {s} from"),
            Duration::from_secs(10),
        )
    }
}

/// Restarts a tandem whose process is gone (or kills it first), on the
/// same directory and config.
fn start_again(t: &mut Tandem) {
    t.restart();
}

fn status(t: &Tandem) -> String {
    let config = t.config.display().to_string();
    let (ok, out, err) = t.tandem(&["status", "--config", &config]);
    assert!(ok, "tandem status failed:\n{out}{err}");
    out
}

/// Runs one nsupdate process (signed) with `script` against `port`;
/// returns (exit status ok, everything it printed).
fn nsupdate_run(port: u16, script: &str) -> (bool, String) {
    common::nsupdate_script(
        port,
        &["-y", MD5, "-t", "10"],
        &format!("zone home\n{script}"),
    )
}

/// One update (`script` then `send`); it must succeed.
fn nsupdate(port: u16, script: &str) {
    let (ok, out) = nsupdate_run(port, &format!("{script}\nsend"));
    assert!(ok, "nsupdate to port {port} failed:\n{out}");
}

fn host(n: u32) -> String {
    format!("h{n}.home.")
}

/// Sends hN.home A 10.77.0.N for each N in `range`, one update (one
/// `send`) each, in one nsupdate process; every one must succeed.
fn add_hosts(port: u16, range: std::ops::RangeInclusive<u32>) {
    let mut script = String::new();
    for n in range.clone() {
        script.push_str(&format!("update add h{n}.home 300 A 10.77.0.{n}\nsend\n"));
    }
    let (ok, out) = nsupdate_run(port, &script);
    assert!(
        ok && !out.contains("failed"),
        "nsupdate of {range:?} to port {port} failed:\n{out}"
    );
}

/// The names among `names` that `port` answers an A record for, by one
/// dig process asking for all of them.
fn answered(port: u16, names: &[String]) -> BTreeSet<String> {
    let mut cmd = Command::new("dig");
    cmd.arg("@127.0.0.1").args(["-p", &port.to_string()]).args([
        "+norec",
        "+time=3",
        "+tries=1",
        "+nocookie",
        "+noall",
        "+answer",
    ]);
    for n in names {
        cmd.args([n.as_str(), "A"]);
    }
    let (_, out, _) = tandem_testkit::run(&mut cmd);
    out.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 5 && f[3] == "A").then(|| f[0].to_string())
        })
        .collect()
}

fn serial(t: &Tandem) -> u32 {
    let soa = t.dig(&["home", "SOA"]);
    let data = soa.answer_data("SOA");
    assert!(
        !data.is_empty(),
        "no SOA from port {}:\n{}",
        t.port,
        soa.raw
    );
    data[0].split_whitespace().nth(2).unwrap().parse().unwrap()
}

fn serial_of(t: &Tandem) -> Option<u32> {
    t.dig(&["home", "SOA"])
        .answer_data("SOA")
        .first()
        .and_then(|d| d.split_whitespace().nth(2))
        .and_then(|s| s.parse().ok())
}

/// A zone transfer as dig prints it: (owner, type, data), TTLs left out.
fn axfr(t: &Tandem) -> (BTreeSet<(String, String, String)>, String) {
    let r = t.dig(&["+tcp", "home", "AXFR"]);
    let set = r
        .raw
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 5).then(|| (f[0].to_string(), f[3].to_string(), f[4..].join(" ")))
        })
        .collect();
    (set, r.raw)
}

fn a_of(t: &Tandem, name: &str) -> Vec<String> {
    t.dig(&[name, "A"]).answer_data("A")
}

/// Polls until `f` holds, or panics with `what()` after `timeout`.
fn eventually(timeout: Duration, what: impl Fn() -> String, f: impl FnMut() -> bool) {
    if !common::eventually(timeout, f) {
        panic!("timed out after {timeout:?}: {}", what());
    }
}

/// After the primary is back: all of `hosts` on both nodes, the same
/// records by AXFR on each, and equal SOA serials (`want` on both).
fn assert_converged(pair: &Pair, hosts: &[String], want: u32) {
    let started = Instant::now();
    eventually(
        DELIVERY,
        || {
            format!(
                "primary has {} of {} names, serial {:?}; secondary serial {:?}\nsecondary log:\n{}\nprimary log:\n{}",
                answered(pair.primary.port, hosts).len(),
                hosts.len(),
                serial_of(&pair.primary),
                serial_of(&pair.secondary),
                pair.secondary.proc.output(),
                pair.primary.proc.output()
            )
        },
        || {
            answered(pair.primary.port, hosts).len() == hosts.len()
                && serial_of(&pair.primary) == Some(want)
                && serial_of(&pair.secondary) == Some(want)
        },
    );
    eprintln!(
        "outbox delivered and transferred back in {:?}",
        started.elapsed()
    );
    assert_eq!(answered(pair.secondary.port, hosts).len(), hosts.len());
    // The same zone, record for record, on both.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (p, praw) = axfr(&pair.primary);
        let (s, sraw) = axfr(&pair.secondary);
        if !p.is_empty() && p == s {
            break;
        }
        if Instant::now() >= deadline {
            let only_p: Vec<_> = p.difference(&s).collect();
            let only_s: Vec<_> = s.difference(&p).collect();
            panic!(
                "AXFRs differ; only on the primary: {only_p:?}; only on the secondary: {only_s:?}\nprimary:\n{praw}\nsecondary:\n{sraw}"
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let (p, raw) = axfr(&pair.primary);
    for h in hosts {
        let n: u32 = h
            .trim_start_matches('h')
            .split('.')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            p.contains(&(h.clone(), "A".into(), format!("10.77.0.{n}"))),
            "{h} missing from the primary's AXFR:\n{raw}"
        );
    }
    let soas: Vec<_> = p.iter().filter(|r| r.1 == "SOA").collect();
    assert_eq!(soas.len(), 1, "{raw}");
    assert_eq!(
        soas[0].2.split_whitespace().nth(2),
        Some(want.to_string().as_str())
    );
}

fn count_lines(log: &str, needle: &str) -> usize {
    log.lines().filter(|l| l.contains(needle)).count()
}

#[test]
fn pair_axfr_at_start_notify_ixfr_and_forwarding() {
    if !peers_present(&["nsupdate", "dig"]) {
        return;
    }
    let mut pair = Pair::start();
    let s0 = serial(&pair.primary);
    let line = pair.wait_first_copy(s0);
    assert!(line.contains("by AXFR"), "{line}");
    assert!(
        line.contains(&format!("from 127.0.0.1:{}", pair.primary.port)),
        "{line}"
    );
    assert_eq!(serial(&pair.secondary), s0);
    assert_eq!(a_of(&pair.secondary, "nas.home"), vec!["192.168.0.10"]);
    let answer = pair.secondary.dig(&["nas.home", "A"]);
    assert!(answer.has_flag("aa"), "{}", answer.raw);

    // An update on the primary: NOTIFY, then the secondary's IXFR.
    nsupdate(pair.primary.port, "update add p1.home 300 A 10.77.1.1");
    let s1 = s0 + 1;
    let line = pair.secondary.proc.wait_for(
        &format!("zone home./IN: transferred serial {s1} from"),
        Duration::from_secs(5),
    );
    assert!(line.contains("by IXFR"), "{line}");
    assert_eq!(a_of(&pair.secondary, "p1.home"), vec!["10.77.1.1"]);
    assert_eq!(a_of(&pair.primary, "p1.home"), vec!["10.77.1.1"]);
    assert_eq!(serial(&pair.primary), s1);
    assert_eq!(serial(&pair.secondary), s1);

    // An update sent to the secondary: forwarded, the primary's answer
    // relayed; the change comes back by NOTIFY + IXFR.
    nsupdate(pair.secondary.port, "update add f1.home 300 A 10.77.1.2");
    pair.secondary.proc.wait_for(
        "zone home.: forwarded update answered NOERROR by the primary",
        Duration::from_secs(2),
    );
    let s2 = s1 + 1;
    assert_eq!(a_of(&pair.primary, "f1.home"), vec!["10.77.1.2"]);
    assert_eq!(serial(&pair.primary), s2);
    pair.secondary.proc.wait_for(
        &format!("zone home./IN: transferred serial {s2} from"),
        Duration::from_secs(5),
    );
    assert_eq!(a_of(&pair.secondary, "f1.home"), vec!["10.77.1.2"]);
    assert_eq!(serial(&pair.secondary), s2);
    let log = pair.secondary.proc.output();
    assert!(!log.contains("update queued"), "{log}");

    // The whole zone is the same on both.
    let (p, praw) = axfr(&pair.primary);
    let (s, sraw) = axfr(&pair.secondary);
    assert!(!p.is_empty(), "{praw}");
    assert_eq!(p, s, "primary:\n{praw}\nsecondary:\n{sraw}");

    let st = status(&pair.secondary);
    let line = st
        .lines()
        .find(|l| l.trim_start().starts_with("secondary zone home."))
        .unwrap_or_else(|| panic!("no secondary line in tandem status:\n{st}"));
    assert!(line.contains(&format!("serial {s2}")), "{st}");
    assert!(
        line.contains("0 forwarded update(s) waiting for the primary"),
        "{st}"
    );
    assert!(st.contains("warnings: none"), "{st}");
    // The primary has no secondary zone, and knows its secondary is current.
    let st = status(&pair.primary);
    assert!(!st.contains("secondary zone"), "{st}");
    assert!(
        st.contains("secondary 127.0.0.1: up to date, last transfer"),
        "{st}"
    );
}

#[test]
fn primary_down_100_updates_are_queued_served_and_delivered() {
    if !peers_present(&["nsupdate", "dig"]) {
        return;
    }
    let mut pair = Pair::start();
    let s0 = serial(&pair.primary);
    pair.wait_first_copy(s0);

    pair.primary.proc.kill9();
    let hosts: Vec<String> = (1..=100).map(host).collect();
    let sent = Instant::now();
    add_hosts(pair.secondary.port, 1..=100);
    eprintln!("100 updates queued in {:?}", sent.elapsed());
    // All served at once, by the secondary, at the copy's serial.
    assert_eq!(answered(pair.secondary.port, &hosts).len(), 100);
    assert_eq!(a_of(&pair.secondary, "h42.home"), vec!["10.77.0.42"]);
    assert_eq!(serial(&pair.secondary), s0);
    let log = pair.secondary.proc.output();
    assert!(
        log.contains("zone home.: update queued for the primary (100 waiting)"),
        "{log}"
    );
    let st = status(&pair.secondary);
    assert!(
        st.contains("100 forwarded update(s) waiting for the primary"),
        "{st}"
    );

    // The primary comes back on the same directory.
    start_again(&mut pair.primary);
    assert_eq!(serial(&pair.primary), s0, "the primary lost nothing yet");
    assert_converged(&pair, &hosts, s0 + 100);
    let log = pair.secondary.proc.output();
    assert_eq!(count_lines(&log, "delivered to the primary"), 100, "{log}");
    assert!(!log.contains("refused by the primary"), "{log}");
    // In order: update 1 first, 100 last.
    let order: Vec<u64> = log
        .lines()
        .filter(|l| l.contains("delivered to the primary"))
        .filter_map(|l| {
            let rest = l.split("queued update ").nth(1)?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .collect();
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_eq!(order, sorted, "{log}");
    let st = status(&pair.secondary);
    assert!(
        st.contains("0 forwarded update(s) waiting for the primary"),
        "{st}"
    );
}

#[test]
fn kill_9_of_the_secondary_in_the_middle_loses_nothing() {
    if !peers_present(&["nsupdate", "dig"]) {
        return;
    }
    let mut pair = Pair::start();
    let s0 = serial(&pair.primary);
    pair.wait_first_copy(s0);

    pair.primary.proc.kill9();
    add_hosts(pair.secondary.port, 1..=50);
    pair.secondary
        .proc
        .wait_for("(50 waiting)", Duration::from_secs(2));
    // A crash: every update answered NOERROR was in the outbox (fsync).
    pair.secondary.restart();
    pair.secondary.proc.wait_for(
        "zone home.: 50 forwarded update(s) waiting for the primary from the last run",
        Duration::from_secs(5),
    );
    let first: Vec<String> = (1..=50).map(host).collect();
    assert_eq!(answered(pair.secondary.port, &first).len(), 50);
    add_hosts(pair.secondary.port, 51..=100);
    let hosts: Vec<String> = (1..=100).map(host).collect();
    assert_eq!(answered(pair.secondary.port, &hosts).len(), 100);
    assert_eq!(serial(&pair.secondary), s0);

    start_again(&mut pair.primary);
    assert_converged(&pair, &hosts, s0 + 100);
    let log = pair.secondary.proc.output();
    assert!(!log.contains("refused by the primary"), "{log}");
    assert_eq!(count_lines(&log, "delivered to the primary"), 100, "{log}");
}

#[test]
fn a_restarted_secondary_serves_its_copy_and_queue_with_the_primary_down() {
    if !peers_present(&["nsupdate", "dig"]) {
        return;
    }
    let mut pair = Pair::start();
    let s0 = serial(&pair.primary);
    pair.wait_first_copy(s0);
    pair.primary.proc.kill9();
    nsupdate(pair.secondary.port, "update add q1.home 300 A 10.77.2.1");
    nsupdate(
        pair.secondary.port,
        "update add q2.home 300 A 10.77.2.2\nupdate delete nas.home AAAA",
    );
    assert_eq!(a_of(&pair.secondary, "q1.home"), vec!["10.77.2.1"]);
    // Prerequisites are checked against what the secondary serves: the
    // queued name exists already.
    let (ok, out) = nsupdate_run(
        pair.secondary.port,
        "prereq nxdomain q1.home\nupdate add q1.home 300 A 10.77.2.9\nsend",
    );
    assert!(!ok && out.contains("YXDOMAIN"), "{out}");

    pair.secondary.restart();
    // At once, with no primary to ask: the stored copy and the queue.
    let answer = pair.secondary.dig(&["nas.home", "A"]);
    assert_eq!(answer.status, "NOERROR", "{}", answer.raw);
    assert_eq!(
        answer.answer_data("A"),
        vec!["192.168.0.10"],
        "{}",
        answer.raw
    );
    assert!(answer.has_flag("aa"), "{}", answer.raw);
    assert_eq!(a_of(&pair.secondary, "q1.home"), vec!["10.77.2.1"]);
    assert_eq!(a_of(&pair.secondary, "q2.home"), vec!["10.77.2.2"]);
    assert!(
        pair.secondary
            .dig(&["nas.home", "AAAA"])
            .answer_data("AAAA")
            .is_empty(),
        "the queued delete is served too"
    );
    assert_eq!(serial(&pair.secondary), s0);
    let log = pair.secondary.proc.output();
    assert!(
        log.contains(&format!(
            "zone home./IN: serving the stored copy, serial {s0}"
        )),
        "{log}"
    );
    let st = status(&pair.secondary);
    assert!(
        st.contains("2 forwarded update(s) waiting for the primary"),
        "{st}"
    );

    // And they reach the primary when it is back.
    start_again(&mut pair.primary);
    let hosts = vec!["q1.home.".to_string(), "q2.home.".to_string()];
    eventually(
        DELIVERY,
        || pair.secondary.proc.output(),
        || answered(pair.primary.port, &hosts).len() == 2,
    );
    assert!(a_of(&pair.primary, "q1.home") == vec!["10.77.2.1"]);
    assert!(pair
        .primary
        .dig(&["nas.home", "AAAA"])
        .answer_data("AAAA")
        .is_empty());
    eventually(
        Duration::from_secs(10),
        || {
            format!(
                "{:?} vs {:?}",
                serial_of(&pair.primary),
                serial_of(&pair.secondary)
            )
        },
        || serial_of(&pair.primary) == Some(s0 + 2) && serial_of(&pair.secondary) == Some(s0 + 2),
    );
}

#[test]
fn a_forwarded_update_refused_by_the_primary_gets_its_answer() {
    if !peers_present(&["nsupdate", "dig"]) {
        return;
    }
    let mut pair = Pair::start();
    let s0 = serial(&pair.primary);
    pair.wait_first_copy(s0);
    let (ok, out) = nsupdate_run(
        pair.secondary.port,
        "prereq yxdomain nothere.home\nupdate add nothere.home 300 A 10.77.3.1\nsend",
    );
    assert!(!ok, "{out}");
    assert!(out.contains("NXDOMAIN"), "{out}");
    pair.secondary.proc.wait_for(
        "zone home.: forwarded update answered NXDOMAIN by the primary",
        Duration::from_secs(2),
    );
    assert!(a_of(&pair.primary, "nothere.home").is_empty());
    assert!(a_of(&pair.secondary, "nothere.home").is_empty());
    assert_eq!(serial(&pair.primary), s0);
    assert_eq!(serial(&pair.secondary), s0);
    let log = pair.secondary.proc.output();
    assert!(!log.contains("update queued"), "{log}");

    // An unsigned update is not forwarded at all.
    let mut child = Command::new("nsupdate")
        .args(["-t", "5"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nsupdate");
    let script = format!(
        "server 127.0.0.1 {}\nzone home\nupdate add unsigned.home 300 A 10.77.3.2\nsend\n",
        pair.secondary.port
    );
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), script.as_bytes()).unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success() && text.contains("REFUSED"), "{text}");
    assert!(a_of(&pair.primary, "unsigned.home").is_empty());
}

#[test]
fn kill_9_of_the_secondary_while_it_delivers_loses_and_repeats_nothing() {
    if !peers_present(&["nsupdate", "dig"]) {
        return;
    }
    let mut pair = Pair::start();
    let s0 = serial(&pair.primary);
    pair.wait_first_copy(s0);
    pair.primary.proc.kill9();
    add_hosts(pair.secondary.port, 1..=100);
    let hosts: Vec<String> = (1..=100).map(host).collect();

    // The primary is back; the secondary dies part way through its outbox
    // (wherever the kill lands, the outcome must be the same).
    start_again(&mut pair.primary);
    pair.secondary
        .proc
        .wait_for("zone home.: queued update 30 from", DELIVERY);
    pair.secondary.restart();
    let log = pair.secondary.proc.output();
    eprintln!(
        "{}",
        log.lines()
            .find(|l| l.contains("from the last run"))
            .unwrap_or("the outbox was empty at the restart")
    );
    assert_converged(&pair, &hosts, s0 + 100);
    let log = pair.secondary.proc.output();
    assert!(!log.contains("refused by the primary"), "{log}");
}
