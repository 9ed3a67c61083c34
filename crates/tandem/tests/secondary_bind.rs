//! tandem as a secondary of a BIND 9 primary: the first copy by AXFR,
//! changes by NOTIFY and IXFR, the SOA refresh and expire timers, the
//! stored copy across a crash, update forwarding (relayed, and queued while
//! the primary is down), and the refusals a secondary owes strangers.

mod common;

use std::net::UdpSocket;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Tandem, MD5};
use tandem_testkit::dns::DigResult;
use tandem_testkit::{free_port, peers_present, which, Proc};

const SECRET: &str = "cGFpci1leGFtcGxlLWtleS1kby1ub3QtdXNl";
const FIRST_SERIAL: u32 = 100;

/// Runs nsupdate against 127.0.0.1:`port` for zone home, signed with the
/// test key or not; returns (success, everything it printed).
fn nsupdate(port: u16, signed: bool, script: &str) -> (bool, String) {
    let args: &[&str] = if signed {
        &["-y", MD5, "-t", "5"]
    } else {
        &["-t", "5"]
    };
    common::nsupdate_script(port, args, &format!("zone home\n{script}\nsend"))
}

fn nsupdate_ok(port: u16, script: &str) {
    let (ok, out) = nsupdate(port, true, script);
    assert!(ok, "nsupdate to port {port} failed: {out}");
}

fn dig(port: u16, args: &[&str]) -> DigResult {
    tandem_testkit::dns::dig("127.0.0.1", port, args)
}

/// The SOA serial served on `port`, if it answers one.
fn serial_at(port: u16) -> Option<u32> {
    let soa = dig(port, &["home", "SOA"]).answer_data("SOA");
    soa.first()?.split_whitespace().nth(2)?.parse().ok()
}

fn a_records(port: u16, name: &str) -> Vec<String> {
    dig(port, &[name, "A"]).answer_data("A")
}

/// The records of a transfer as dig prints them, sorted:
/// (owner, ttl, type, data).
fn records(raw: &str) -> Vec<(String, String, String, String)> {
    let mut v: Vec<_> = raw
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 5).then(|| {
                (
                    f[0].to_string(),
                    f[1].to_string(),
                    f[3].to_string(),
                    f[4..].join(" "),
                )
            })
        })
        .collect();
    v.sort();
    v
}

/// BIND 9 as the primary of `home`, on a loopback port, restartable on the
/// same directory (it keeps its zone file and journal there).
struct BindPrimary {
    proc: Option<Proc>,
    port: u16,
    conf: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl BindPrimary {
    /// `timers`: the SOA's (refresh, retry, expire); `zone_opts` goes into
    /// the zone statement (allow-transfer, notify, also-notify).
    fn start(timers: (u32, u32, u32), zone_opts: &str) -> BindPrimary {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let (refresh, retry, expire) = timers;
        let zone = format!(
            "$ORIGIN home.\n$TTL 300\n\
             @ IN SOA ns1.home. hostmaster.home. ( {FIRST_SERIAL} {refresh} {retry} {expire} 300 )\n\
             \x20 IN NS ns1\n\
             \x20 IN MX 10 mail\n\
             \x20 IN TXT \"v=spf1 mx -all\"\n\
             ns1 IN A 192.168.0.254\n\
             router IN A 192.168.0.1\n\
             nas IN A 192.168.0.10\n\
             \x20 IN AAAA fd00::10\n\
             mail IN A 192.168.0.11\n\
             www IN CNAME nas\n\
             printer 600 IN A 192.168.0.20\n"
        );
        std::fs::write(dir.path().join("home.db"), zone).unwrap();
        let conf = format!(
            "key \"DHCP_UPDATER\" {{ algorithm hmac-md5; secret \"{SECRET}\"; }};\n\
             options {{\n directory \"{d}\";\n listen-on port {port} {{ 127.0.0.1; }};\n listen-on-v6 {{ none; }};\n pid-file none;\n session-keyfile none;\n recursion no;\n dnssec-validation no;\n notify-delay 0;\n}};\n\
             controls {{ }};\n\
             zone \"home\" {{ type primary; file \"home.db\"; allow-update {{ key DHCP_UPDATER; }};\n {zone_opts}\n}};\n",
            d = dir.path().display()
        );
        let conf_path = dir.path().join("named.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let mut b = BindPrimary {
            proc: None,
            port,
            conf: conf_path,
            _dir: dir,
        };
        b.restart();
        b
    }

    /// Starts named (again) on the same directory and port.
    fn restart(&mut self) {
        let mut cmd = Command::new(which("named").expect("named"));
        cmd.args(["-g", "-n", "1", "-c"]).arg(&self.conf);
        self.proc = Some(Proc::spawn("named", cmd, "running"));
    }

    /// Kills named (by PID).
    fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill9();
        }
    }

    fn serial(&self) -> u32 {
        serial_at(self.port).expect("BIND answers the SOA")
    }

    fn log(&self) -> String {
        self.proc.as_ref().map(|p| p.output()).unwrap_or_default()
    }
}

/// BIND's zone options: transfers to 127.0.0.1, NOTIFY to tandem only.
fn notify_tandem(tandem_port: u16) -> String {
    format!(
        "allow-transfer {{ 127.0.0.1; }};\n notify explicit;\n also-notify {{ 127.0.0.1 port {tandem_port}; }};"
    )
}

/// tandem serving `home` as a secondary of 127.0.0.1:`primary`, on
/// `port`; `zone_extra` goes into the `[[zone]]` table.
fn start_secondary(port: u16, primary: u16, zone_extra: &str) -> (Tandem, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("tandem.toml");
    let text = format!(
        r#"
[server]
state-dir = "state"

[[key]]
name = "DHCP_UPDATER"
algorithm = "hmac-md5"
secret = "{SECRET}"

[dns]
listen = ["127.0.0.1:{port}"]
udp-workers = 2

[[zone]]
name = "home"
type = "secondary"
primaries = ["127.0.0.1:{primary}"]
allow-transfer = ["127.0.0.1"]
{zone_extra}
"#
    );
    std::fs::write(&config, text).unwrap();
    let t = Tandem::start_in(tmp.path(), &config, port);
    (t, tmp)
}

/// A NOTIFY for `home` (opcode 4, AA, one SOA question), sent over UDP from
/// `from` to tandem; returns the answer's RCODE.
fn send_notify(from: &str, to_port: u16, id: u16) -> u8 {
    let sock = UdpSocket::bind((from, 0)).expect("bind the notify source");
    sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut msg = Vec::new();
    msg.extend_from_slice(&id.to_be_bytes());
    msg.extend_from_slice(&(4u16 << 11 | 0x0400).to_be_bytes());
    msg.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    msg.extend_from_slice(b"\x04home\x00");
    msg.extend_from_slice(&[0, 6, 0, 1]); // SOA, IN
    sock.send_to(&msg, ("127.0.0.1", to_port)).unwrap();
    let mut buf = [0u8; 1500];
    let (n, _) = sock.recv_from(&mut buf).expect("an answer to the NOTIFY");
    assert!(n >= 12, "short answer: {:?}", &buf[..n]);
    assert_eq!(u16::from_be_bytes([buf[0], buf[1]]), id);
    assert_eq!(buf[2] & 0x80, 0x80, "not a response");
    assert_eq!((buf[2] >> 3) & 0xf, 4, "not a NOTIFY response");
    buf[3] & 0xf
}

fn peers() -> bool {
    peers_present(&["named", "dig", "nsupdate"])
}

#[test]
fn first_copy_by_axfr_matches_bind() {
    if !peers() {
        return;
    }
    let tport = free_port();
    let bind = BindPrimary::start((3600, 600, 604800), &notify_tandem(tport));
    let (mut t, _tmp) = start_secondary(tport, bind.port, "");
    let line = t.proc.wait_for(
        &format!(
            "transferred serial {FIRST_SERIAL} from 127.0.0.1:{}",
            bind.port
        ),
        Duration::from_secs(5),
    );
    assert!(line.contains("by AXFR"), "{line}");
    assert!(line.contains("zone home./IN"), "{line}");

    assert_eq!(serial_at(tport), Some(bind.serial()));
    let a = dig(tport, &["nas.home", "A"]);
    assert_eq!(a.status, "NOERROR", "{}", a.raw);
    assert!(a.has_flag("aa"), "{}", a.raw);
    assert_eq!(a.answer_data("A"), vec!["192.168.0.10"], "{}", a.raw);
    let cname = dig(tport, &["www.home", "A"]);
    assert!(
        cname.answer.iter().any(|r| r.contains("CNAME nas.home.")),
        "{}",
        cname.raw
    );
    let nx = dig(tport, &["nothere.home", "A"]);
    assert_eq!(nx.status, "NXDOMAIN", "{}", nx.raw);

    // The whole copy, record by record, is BIND's zone.
    let ours = dig(tport, &["home", "AXFR"]);
    let theirs = dig(bind.port, &["home", "AXFR"]);
    assert!(!records(&theirs.raw).is_empty(), "{}", theirs.raw);
    assert_eq!(records(&ours.raw), records(&theirs.raw), "{}", ours.raw);
}

#[test]
fn notify_then_ixfr_with_a_transfer_key() {
    if !peers() {
        return;
    }
    let tport = free_port();
    // Transfers only by key: tandem's transfer-key must sign them.
    let opts = format!(
        "allow-transfer {{ key DHCP_UPDATER; }};\n notify explicit;\n also-notify {{ 127.0.0.1 port {tport}; }};"
    );
    let bind = BindPrimary::start((3600, 600, 604800), &opts);
    let (mut t, _tmp) = start_secondary(tport, bind.port, "transfer-key = \"DHCP_UPDATER\"");
    t.proc.wait_for(
        &format!("transferred serial {FIRST_SERIAL} from"),
        Duration::from_secs(5),
    );

    for (i, name) in ["fresh", "second"].iter().enumerate() {
        let before = bind.serial();
        nsupdate_ok(
            bind.port,
            &format!("update add {name}.home 300 A 10.9.0.{}", i + 1),
        );
        let after = bind.serial();
        assert!(after > before);
        let started = Instant::now();
        t.proc.wait_for(
            &format!("received notify for zone home. (serial {after})"),
            Duration::from_secs(3),
        );
        let line = t.proc.wait_for(
            &format!("transferred serial {after} from"),
            Duration::from_secs(3),
        );
        assert!(
            started.elapsed() < Duration::from_millis(2500),
            "took {:?}",
            started.elapsed()
        );
        assert!(line.contains("by IXFR"), "{line}");
        assert_eq!(
            a_records(tport, &format!("{name}.home")),
            vec![format!("10.9.0.{}", i + 1)]
        );
        assert_eq!(serial_at(tport), Some(after));
    }
    // A deletion travels by IXFR too.
    nsupdate_ok(bind.port, "update delete fresh.home A");
    let s = bind.serial();
    let line = t.proc.wait_for(
        &format!("transferred serial {s} from"),
        Duration::from_secs(3),
    );
    assert!(line.contains("by IXFR"), "{line}");
    assert!(a_records(tport, "fresh.home").is_empty());
    assert_eq!(a_records(tport, "second.home"), vec!["10.9.0.2"]);
    let log = bind.log();
    assert!(!log.contains("denied"), "{log}");
}

#[test]
fn updates_are_forwarded_to_bind_and_unsigned_ones_refused() {
    if !peers() {
        return;
    }
    let tport = free_port();
    let bind = BindPrimary::start((3600, 600, 604800), &notify_tandem(tport));
    let (mut t, _tmp) = start_secondary(
        tport,
        bind.port,
        "allow-update-forwarding = [\"key DHCP_UPDATER\"]",
    );
    t.proc.wait_for(
        &format!("transferred serial {FIRST_SERIAL} from"),
        Duration::from_secs(5),
    );

    // Signed, sent to tandem: BIND checks the client's own signature.
    nsupdate_ok(tport, "update add fwd.home 300 A 10.9.1.1");
    t.proc.wait_for(
        "forwarded update answered NOERROR by the primary",
        Duration::from_secs(3),
    );
    assert_eq!(a_records(bind.port, "fwd.home"), vec!["10.9.1.1"]);
    let s = bind.serial();
    assert_eq!(s, FIRST_SERIAL + 1);
    // ... and comes back by NOTIFY and IXFR.
    t.proc.wait_for(
        &format!("transferred serial {s} from"),
        Duration::from_secs(3),
    );
    assert_eq!(a_records(tport, "fwd.home"), vec!["10.9.1.1"]);
    assert_eq!(serial_at(tport), Some(s));

    // A refusal by the primary is relayed as such: the prerequisite fails.
    let (ok, out) = nsupdate(
        tport,
        true,
        "prereq nxdomain fwd.home\nupdate add fwd.home 300 A 10.9.1.2",
    );
    assert!(!ok, "{out}");
    assert!(out.contains("YXDOMAIN"), "{out}");
    assert_eq!(a_records(bind.port, "fwd.home"), vec!["10.9.1.1"]);

    // Unsigned: refused by tandem itself, never reaching BIND.
    let (ok, out) = nsupdate(tport, false, "update add unsigned.home 300 A 10.9.1.3");
    assert!(!ok, "{out}");
    assert!(out.contains("REFUSED"), "{out}");
    t.proc.wait_for(
        "zone home.: update forwarding denied (unsigned)",
        Duration::from_secs(2),
    );
    assert!(a_records(bind.port, "unsigned.home").is_empty());
    assert!(a_records(tport, "unsigned.home").is_empty());
    assert_eq!(bind.serial(), s);
}

#[test]
fn the_refresh_timer_finds_changes_without_notify() {
    if !peers() {
        return;
    }
    let tport = free_port();
    // No NOTIFY at all; transfers only to 127.0.0.2, tandem's transfer-source.
    let bind = BindPrimary::start((2, 1, 600), "allow-transfer { 127.0.0.2; };\n notify no;");
    let (mut t, _tmp) = start_secondary(tport, bind.port, "transfer-source = \"127.0.0.2\"");
    t.proc.wait_for(
        &format!("transferred serial {FIRST_SERIAL} from"),
        Duration::from_secs(5),
    );
    nsupdate_ok(bind.port, "update add timer.home 300 A 10.9.2.1");
    let s = bind.serial();
    let started = Instant::now();
    let line = t.proc.wait_for(
        &format!("transferred serial {s} from"),
        Duration::from_secs(5),
    );
    assert!(line.contains("by IXFR"), "{line}");
    // Refresh is 2 s: at most that (plus a transfer) after the change.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(a_records(tport, "timer.home"), vec!["10.9.2.1"]);
    assert_eq!(serial_at(tport), Some(s));
    let log = t.proc.output();
    assert!(!log.contains("received notify"), "{log}");
    // The transfers came from the transfer-source.
    let blog = bind.log();
    assert!(blog.contains("127.0.0.2#"), "{blog}");
    assert!(!blog.contains("denied"), "{blog}");
}

#[test]
fn the_copy_expires_without_the_primary_and_recovers() {
    if !peers() {
        return;
    }
    let tport = free_port();
    let mut bind = BindPrimary::start((1, 1, 5), &notify_tandem(tport));
    let (mut t, _tmp) = start_secondary(tport, bind.port, "");
    t.proc.wait_for(
        &format!("transferred serial {FIRST_SERIAL} from"),
        Duration::from_secs(5),
    );
    bind.stop();
    let stopped = Instant::now();
    // Until expire, the copy is still served.
    let a = dig(tport, &["nas.home", "A"]);
    assert_eq!(a.status, "NOERROR", "{}", a.raw);
    assert_eq!(a.answer_data("A"), vec!["192.168.0.10"], "{}", a.raw);
    t.proc
        .wait_for("zone home.: refresh (", Duration::from_secs(4));
    let a = dig(tport, &["nas.home", "A"]);
    assert_eq!(a.answer_data("A"), vec!["192.168.0.10"], "{}", a.raw);

    t.proc
        .wait_for("zone home./IN: expired:", Duration::from_secs(10));
    let waited = stopped.elapsed();
    // The last contact was at most a refresh (1 s) before the stop.
    assert!(waited >= Duration::from_secs(3), "expired after {waited:?}");
    let a = dig(tport, &["nas.home", "A"]);
    assert_eq!(a.status, "SERVFAIL", "{}", a.raw);
    let soa = dig(tport, &["home", "SOA"]);
    assert_eq!(soa.status, "SERVFAIL", "{}", soa.raw);

    // A restart does not revive the expired copy: it is older than expire.
    t.restart();
    let a = dig(tport, &["nas.home", "A"]);
    assert_eq!(a.status, "SERVFAIL", "{}\n{}", a.raw, t.proc.output());

    // The primary comes back: the retry timer finds it again.
    bind.restart();
    assert!(
        common::eventually(Duration::from_secs(5), || serial_at(tport)
            == Some(FIRST_SERIAL)),
        "{}",
        t.proc.output()
    );
    assert_eq!(a_records(tport, "nas.home"), vec!["192.168.0.10"]);
}

#[test]
fn the_stored_copy_is_served_after_a_crash_without_the_primary() {
    if !peers() {
        return;
    }
    let tport = free_port();
    let mut bind = BindPrimary::start((3600, 600, 604800), &notify_tandem(tport));
    let (mut t, _tmp) = start_secondary(tport, bind.port, "");
    t.proc.wait_for(
        &format!("transferred serial {FIRST_SERIAL} from"),
        Duration::from_secs(5),
    );
    // A change by IXFR too, so the copy is the snapshot plus an increment.
    nsupdate_ok(bind.port, "update add kept.home 300 A 10.9.3.1");
    let s = bind.serial();
    t.proc.wait_for(
        &format!("transferred serial {s} from"),
        Duration::from_secs(3),
    );

    bind.stop();
    t.restart(); // kill -9, then start again on the same state directory
    t.proc.wait_for(
        &format!("zone home./IN: serving the stored copy, serial {s}"),
        Duration::from_secs(1),
    );
    assert_eq!(serial_at(tport), Some(s));
    assert_eq!(a_records(tport, "kept.home"), vec!["10.9.3.1"]);
    assert_eq!(a_records(tport, "nas.home"), vec!["192.168.0.10"]);
}

#[test]
fn updates_queued_while_bind_is_down_are_delivered_when_it_is_back() {
    if !peers() {
        return;
    }
    let tport = free_port();
    let mut bind = BindPrimary::start((3600, 600, 604800), &notify_tandem(tport));
    let (mut t, _tmp) = start_secondary(
        tport,
        bind.port,
        "allow-update-forwarding = [\"key DHCP_UPDATER\"]",
    );
    t.proc.wait_for(
        &format!("transferred serial {FIRST_SERIAL} from"),
        Duration::from_secs(5),
    );
    // BIND has a journal of its own before it goes away.
    nsupdate_ok(bind.port, "update add before.home 300 A 10.9.4.100");
    let s1 = bind.serial();
    t.proc.wait_for(
        &format!("transferred serial {s1} from"),
        Duration::from_secs(3),
    );
    bind.stop();

    for i in 1..=5 {
        let started = Instant::now();
        nsupdate_ok(tport, &format!("update add q{i}.home 300 A 10.9.4.{i}"));
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "update {i} took {:?}",
            started.elapsed()
        );
        // Served at once, on top of the copy.
        assert_eq!(
            a_records(tport, &format!("q{i}.home")),
            vec![format!("10.9.4.{i}")]
        );
    }
    t.proc.wait_for(
        "update queued for the primary (5 waiting)",
        Duration::from_secs(1),
    );
    for i in 1..=5 {
        assert_eq!(
            a_records(tport, &format!("q{i}.home")),
            vec![format!("10.9.4.{i}")]
        );
    }

    bind.restart();
    let on_bind =
        |i: u32| a_records(bind.port, &format!("q{i}.home")) == vec![format!("10.9.4.{i}")];
    assert!(
        common::eventually(Duration::from_secs(15), || (1..=5).all(on_bind)),
        "tandem:\n{}\nBIND:\n{}",
        t.proc.output(),
        bind.log()
    );
    assert_eq!(a_records(bind.port, "before.home"), vec!["10.9.4.100"]);
    let s = bind.serial();
    assert_eq!(s, s1 + 5, "one serial per update");
    assert!(
        common::eventually(Duration::from_secs(5), || serial_at(tport) == Some(s)),
        "{}",
        t.proc.output()
    );
    for i in 1..=5 {
        assert_eq!(
            a_records(tport, &format!("q{i}.home")),
            vec![format!("10.9.4.{i}")]
        );
    }
    assert_eq!(a_records(tport, "before.home"), vec!["10.9.4.100"]);
    let log = t.proc.output();
    assert_eq!(log.matches("delivered to the primary").count(), 5, "{log}");
}

#[test]
fn notify_and_transfer_from_strangers_are_refused() {
    if !peers() {
        return;
    }
    let tport = free_port();
    let bind = BindPrimary::start((3600, 600, 604800), &notify_tandem(tport));
    let (mut t, _tmp) = start_secondary(tport, bind.port, "");
    t.proc.wait_for(
        &format!("transferred serial {FIRST_SERIAL} from"),
        Duration::from_secs(5),
    );

    // A NOTIFY from 127.0.0.3, not a primary: REFUSED (5).
    assert_eq!(send_notify("127.0.0.3", tport, 0x1234), 5);
    t.proc.wait_for(
        "client 127.0.0.3: zone home.: refused notify from a sender that is not a primary",
        Duration::from_secs(2),
    );
    // The same NOTIFY from the primary's address is taken: NOERROR.
    assert_eq!(send_notify("127.0.0.1", tport, 0x4321), 0);
    t.proc.wait_for(
        "client 127.0.0.1: received notify for zone home.",
        Duration::from_secs(2),
    );
    let log = t.proc.output();
    assert!(!log.contains("client 127.0.0.3: received notify"), "{log}");

    // AXFR from an address outside allow-transfer (127.0.0.1 only).
    let refused = dig(tport, &["-b", "127.0.0.3", "home", "AXFR"]);
    assert!(
        refused.raw.contains("REFUSED") || refused.raw.contains("Transfer failed"),
        "{}",
        refused.raw
    );
    assert!(records(&refused.raw).is_empty(), "{}", refused.raw);
    t.proc.wait_for(
        "client 127.0.0.3: zone home.: zone transfer denied",
        Duration::from_secs(2),
    );
    let allowed = dig(tport, &["home", "AXFR"]);
    assert!(
        records(&allowed.raw).iter().any(|r| r.2 == "SOA"),
        "{}",
        allowed.raw
    );
}

#[test]
fn the_update_queue_survives_a_crash_of_tandem() {
    if !peers() {
        return;
    }
    let tport = free_port();
    let mut bind = BindPrimary::start((3600, 600, 604800), &notify_tandem(tport));
    let (mut t, _tmp) = start_secondary(
        tport,
        bind.port,
        "allow-update-forwarding = [\"key DHCP_UPDATER\"]",
    );
    t.proc.wait_for(
        &format!("transferred serial {FIRST_SERIAL} from"),
        Duration::from_secs(5),
    );
    bind.stop();
    // Each update only applies once: a second delivery would be refused
    // (YXDOMAIN) and logged as such.
    for i in 1..=3 {
        nsupdate_ok(
            tport,
            &format!("prereq nxdomain c{i}.home\nupdate add c{i}.home 300 A 10.9.5.{i}"),
        );
    }
    t.proc.wait_for(
        "update queued for the primary (3 waiting)",
        Duration::from_secs(1),
    );

    t.restart(); // kill -9 with three updates waiting
    t.proc.wait_for(
        "zone home.: 3 forwarded update(s) waiting for the primary from the last run",
        Duration::from_secs(1),
    );
    for i in 1..=3 {
        assert_eq!(
            a_records(tport, &format!("c{i}.home")),
            vec![format!("10.9.5.{i}")],
            "{}",
            t.proc.output()
        );
    }

    bind.restart();
    let on_bind =
        |i: u32| a_records(bind.port, &format!("c{i}.home")) == vec![format!("10.9.5.{i}")];
    assert!(
        common::eventually(Duration::from_secs(15), || (1..=3).all(on_bind)),
        "tandem:\n{}\nBIND:\n{}",
        t.proc.output(),
        bind.log()
    );
    let s = bind.serial();
    assert_eq!(s, FIRST_SERIAL + 3, "{}", bind.log());
    assert!(
        common::eventually(Duration::from_secs(5), || serial_at(tport) == Some(s)),
        "{}",
        t.proc.output()
    );
    let log = t.proc.output();
    assert_eq!(log.matches("delivered to the primary").count(), 3, "{log}");
    assert!(!log.contains("refused by the primary"), "{log}");
}
