//! The server as an operator meets it: truncation and TCP fallback,
//! pipelining, idle timeouts, hostile packets, reloads, `tandem check`,
//! signals.

mod common;

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use common::{tandem_bin, Tandem};
use tandem_testkit::peers_present;

/// 100 A records at big.home: about 1.6 kB, more than 1232 or 512 bytes.
fn add_big_rrset(dir: &std::path::Path) {
    let path = dir.join("zones/home.zone");
    let mut s = std::fs::read_to_string(&path).unwrap();
    for i in 1..=100 {
        s.push_str(&format!("big IN A 10.1.0.{i}\n"));
    }
    std::fs::write(path, s).unwrap();
}

#[test]
fn large_answers_set_tc_and_come_whole_over_tcp() {
    if !peers_present(&["dig"]) {
        return;
    }
    let t = Tandem::start_prepared("", "", add_big_rrset);
    let udp = t.dig(&["+notcp", "+ignore", "big.home", "A"]);
    assert!(udp.has_flag("tc"), "{}", udp.raw);
    assert!(udp.answer.is_empty());
    let plain = t.dig(&["+notcp", "+ignore", "+noedns", "big.home", "A"]);
    assert!(plain.has_flag("tc"), "{}", plain.raw);
    let big_edns = t.dig(&["+notcp", "+ignore", "+bufsize=4096", "big.home", "A"]);
    // Our own limit (1232) wins over the client's 4096.
    assert!(big_edns.has_flag("tc"), "{}", big_edns.raw);
    // dig retries over TCP by itself when it sees TC.
    let fallback = t.dig(&["+notcp", "big.home", "A"]);
    assert_eq!(fallback.answer.len(), 100, "{}", fallback.raw);
    assert!(fallback.raw.contains("(TCP)"), "{}", fallback.raw);
}

#[test]
fn edns_payload_and_badvers() {
    if !peers_present(&["dig"]) {
        return;
    }
    let t = Tandem::start_example();
    let r = t.dig(&["+notcp", "nas.home", "A"]);
    assert!(r.raw.contains("udp: 1232"), "{}", r.raw);
    let noedns = t.dig(&["+notcp", "+noedns", "nas.home", "A"]);
    assert!(!noedns.raw.contains("OPT PSEUDOSECTION"), "{}", noedns.raw);
    let v1 = t.dig(&["+notcp", "+edns=1", "+noednsneg", "nas.home", "A"]);
    assert_eq!(v1.status, "BADVERS", "{}", v1.raw);
}

fn query_bytes(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut m = vec![(id >> 8) as u8, id as u8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.trim_end_matches('.').split('.') {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.push(0);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    m
}

fn read_framed(s: &mut TcpStream) -> Vec<u8> {
    let mut len = [0u8; 2];
    s.read_exact(&mut len).unwrap();
    let mut msg = vec![0; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut msg).unwrap();
    msg
}

#[test]
fn tcp_pipelining_and_idle_timeout() {
    let t = Tandem::start_example_with("tcp-idle-timeout = 1", "");
    let mut s = TcpStream::connect(("127.0.0.1", t.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // Three queries in one write (RFC 7766 §6.2.1.1 pipelining).
    let mut batch = Vec::new();
    for (id, name) in [(1u16, "nas.home"), (2, "www.home"), (3, "nope.home")] {
        let q = query_bytes(id, name, 1);
        batch.extend_from_slice(&(q.len() as u16).to_be_bytes());
        batch.extend_from_slice(&q);
    }
    s.write_all(&batch).unwrap();
    let mut ids: Vec<u16> = (0..3)
        .map(|_| {
            let r = read_framed(&mut s);
            u16::from_be_bytes([r[0], r[1]])
        })
        .collect();
    ids.sort();
    assert_eq!(ids, vec![1, 2, 3]);
    // Silent for longer than the idle timeout: the server closes.
    let start = Instant::now();
    let mut buf = [0u8; 1];
    let n = s.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "connection should be closed");
    assert!(start.elapsed() < Duration::from_secs(4));
}

#[test]
fn hostile_packets_get_formerr_or_silence_and_the_server_lives() {
    let t = Tandem::start_example();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let server = ("127.0.0.1", t.port);
    // A compression loop in the question name.
    let mut looped = vec![0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    looped.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
    // Counts that promise more than the packet holds.
    let lying = vec![0x56, 0x78, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];
    // Trailing garbage after a good query.
    let mut trailing = query_bytes(0x9abc, "nas.home", 1);
    trailing.extend_from_slice(&[1, 2, 3]);
    let mut buf = [0u8; 2048];
    for (pkt, id) in [(looped, 0x1234u16), (lying, 0x5678), (trailing, 0x9abc)] {
        sock.send_to(&pkt, server).unwrap();
        let (n, _) = sock.recv_from(&mut buf).expect("an answer");
        assert!(n >= 12);
        assert_eq!(u16::from_be_bytes([buf[0], buf[1]]), id);
        assert_eq!(buf[3] & 0xf, 1, "FORMERR");
    }
    // Too short to answer, and a response: silence.
    for pkt in [vec![1, 2, 3], {
        let mut r = query_bytes(7, "nas.home", 1);
        r[2] |= 0x80;
        r
    }] {
        sock.send_to(&pkt, server).unwrap();
        assert!(sock.recv_from(&mut buf).is_err(), "no answer expected");
    }
    // Random junk of every length, then a good query still works.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for len in 0..300 {
        let pkt: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        sock.send_to(&pkt, server).unwrap();
    }
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    while sock.recv_from(&mut buf).is_ok() {}
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    sock.send_to(&query_bytes(42, "nas.home", 1), server)
        .unwrap();
    let (n, _) = sock.recv_from(&mut buf).unwrap();
    assert_eq!(u16::from_be_bytes([buf[0], buf[1]]), 42);
    assert_eq!(buf[3] & 0xf, 0);
    assert!(n > 30);
}

#[test]
fn repeated_questions_come_from_the_answer_cache_and_status_counts_them() {
    if !peers_present(&["dig"]) {
        return;
    }
    let t = Tandem::start_example();
    let config = t.config.to_str().unwrap().to_string();
    // Without EDNS, and as dig sends it by default: EDNS with a new
    // client cookie each time (tandem ignores cookies, so they share one
    // cached answer).
    let first = t.dig(&["+noedns", "home", "SOA"]);
    for args in [&["+noedns"][..], &["+cookie"][..]] {
        for _ in 0..3 {
            let again = t.dig(&[args, &["home", "SOA"]].concat());
            assert_eq!(again.answer_data("SOA"), first.answer_data("SOA"));
        }
    }
    let (ok, status, err) = t.tandem(&["status", "--config", &config]);
    assert!(ok, "{status}{err}");
    let line = status
        .lines()
        .find(|l| l.contains("udp answer cache:"))
        .unwrap_or_else(|| panic!("no cache line in:\n{status}"));
    let hits: u64 = line
        .split(", ")
        .find_map(|p| p.strip_suffix(" hits"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(hits >= 5, "{line}");
}

#[test]
fn reload_picks_up_edits_and_keeps_the_last_good_version() {
    if !peers_present(&["dig"]) {
        return;
    }
    let t = Tandem::start_example();
    let config = t.config.to_str().unwrap().to_string();
    t.append_zone("camera IN A 192.168.0.30\n");
    let (ok, out, err) = t.tandem(&["reload", "--config", &config]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("zone home.: loaded serial"), "{out}");
    assert_eq!(
        t.dig(&["camera.home", "A"]).answer_data("A"),
        vec!["192.168.0.30"]
    );
    // The serial went up although the file's did not: secondaries notice.
    let soa = t.dig(&["home", "SOA"]).answer_data("SOA");
    assert!(soa[0].contains("2026112402"), "{soa:?}");

    // A broken edit: the reload fails, names the line, and the zone stays.
    t.append_zone("broken IN A not-an-address\n");
    let (ok, out, _) = t.tandem(&["reload", "--config", &config]);
    assert!(!ok, "{out}");
    assert!(out.contains("home.zone:"), "{out}");
    assert_eq!(
        t.dig(&["camera.home", "A"]).answer_data("A"),
        vec!["192.168.0.30"]
    );

    // SIGHUP reloads too, once the file is fixed.
    let mut s = std::fs::read_to_string(t.zone_file()).unwrap();
    s = s.replace(
        "broken IN A not-an-address\n",
        "doorbell IN A 192.168.0.31\n",
    );
    std::fs::write(t.zone_file(), s).unwrap();
    t.proc.signal(libc_sighup());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if t.dig(&["doorbell.home", "A"]).answer_data("A") == vec!["192.168.0.31"] {
            break;
        }
        assert!(Instant::now() < deadline, "SIGHUP did not reload");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn libc_sighup() -> i32 {
    1
}

#[test]
fn check_reports_located_errors_and_exit_status() {
    let dir = common::test_dir();
    let config = dir.path().join("tandem.toml");
    std::fs::write(&config, common::example_config(5999, "", "")).unwrap();
    let run = |args: &[&str]| {
        let mut c = std::process::Command::new(tandem_bin());
        c.args(args);
        tandem_testkit::run(&mut c)
    };
    let cfg = config.to_str().unwrap();
    let (ok, out, err) = run(&["check", "--config", cfg]);
    assert!(ok, "{out}{err}");

    // A zone-file error: file:line: message, exit status non-zero.
    let zone = dir.path().join("zones/home.zone");
    let mut text = std::fs::read_to_string(&zone).unwrap();
    text.push_str("bad IN MX not-a-number mail\n");
    std::fs::write(&zone, &text).unwrap();
    let lines = text.lines().count();
    let (ok, _, err) = run(&["check", "--config", cfg]);
    assert!(!ok);
    assert!(err.contains(&format!("home.zone:{lines}")), "{err}");

    // A config error: unknown key, with line and column.
    std::fs::write(&config, "[dns]\nlisten = [\"127.0.0.1:53\"]\nlisen = 1\n").unwrap();
    let (ok, _, err) = run(&["check", "--config", cfg]);
    assert!(!ok);
    assert!(
        err.contains("tandem.toml:3:1:") && err.contains("lisen"),
        "{err}"
    );
}

#[test]
fn sigterm_stops_cleanly_and_removes_the_control_socket() {
    let mut t = Tandem::start_example();
    let sock = t.dir.join("state/control.sock");
    assert!(sock.exists());
    let status = t.proc.terminate(Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    assert!(!sock.exists());
}
