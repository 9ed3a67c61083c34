//! Zone replication as secondaries see it: IXFR answered from the journal's
//! history (RFC 1995), with the whole zone when the history does not reach
//! back far enough; NOTIFY (RFC 1996) to a BIND 9 secondary, which then
//! pulls the change by IXFR; the same with a Knot secondary.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Tandem, MD5};
use tandem_testkit::{free_port, peers_present, which, Proc};

fn nsupdate(port: u16, script: &str) {
    let (ok, out) =
        common::nsupdate_script(port, &["-y", MD5], &format!("zone home\n{script}\nsend"));
    assert!(ok, "{out}");
}

fn serial(t: &Tandem) -> u32 {
    let soa = t.dig(&["home", "SOA"]).answer_data("SOA");
    soa[0].split_whitespace().nth(2).unwrap().parse().unwrap()
}

/// The records of a transfer as dig prints them: (owner, type, data).
fn records(raw: &str) -> Vec<(String, String, String)> {
    raw.lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 5).then(|| (f[0].to_string(), f[3].to_string(), f[4..].join(" ")))
        })
        .collect()
}

fn soa_serials(recs: &[(String, String, String)]) -> Vec<u32> {
    recs.iter()
        .filter(|r| r.1 == "SOA")
        .map(|r| r.2.split_whitespace().nth(2).unwrap().parse().unwrap())
        .collect()
}

#[test]
fn ixfr_from_the_journal_and_axfr_when_too_old() {
    if !peers_present(&["nsupdate", "dig"]) {
        return;
    }
    let t = Tandem::start_example();
    let s0 = serial(&t);
    nsupdate(t.port, "update add x1.home 300 A 10.9.0.1");
    nsupdate(t.port, "update add x2.home 300 A 10.9.0.2");
    nsupdate(t.port, "update delete x1.home A");
    let s3 = s0 + 3;
    assert_eq!(serial(&t), s3);

    // From s0: the three diffs condensed into one change, between the old
    // and the new SOA; x1 came and went, so it is not sent at all.
    let ixfr = t.dig(&["+tcp", "home", &format!("IXFR={s0}")]);
    let recs = records(&ixfr.raw);
    assert_eq!(soa_serials(&recs), vec![s3, s0, s3, s3], "{}", ixfr.raw);
    let changed: Vec<_> = recs.iter().filter(|r| r.1 != "SOA").collect();
    assert_eq!(
        changed,
        vec![&(
            "x2.home.".to_string(),
            "A".to_string(),
            "10.9.0.2".to_string()
        )],
        "{}",
        ixfr.raw
    );

    // From s0+2: only the last change.
    let ixfr = t.dig(&["+tcp", "home", &format!("IXFR={}", s0 + 2)]);
    let recs = records(&ixfr.raw);
    assert_eq!(soa_serials(&recs), vec![s3, s0 + 2, s3, s3], "{}", ixfr.raw);

    // Up to date: the SOA alone.
    let ixfr = t.dig(&["+tcp", "home", &format!("IXFR={s3}")]);
    assert_eq!(soa_serials(&records(&ixfr.raw)), vec![s3], "{}", ixfr.raw);

    // Older than the history: the whole zone, as AXFR sends it.
    let ixfr = t.dig(&["+tcp", "home", &format!("IXFR={}", s0 - 1)]);
    let recs = records(&ixfr.raw);
    assert_eq!(soa_serials(&recs), vec![s3, s3], "{}", ixfr.raw);
    assert!(recs.iter().any(|r| r.1 == "NS"), "{}", ixfr.raw);
    assert!(recs.iter().any(|r| r.0 == "x2.home."), "{}", ixfr.raw);
    assert!(!recs.iter().any(|r| r.0 == "x1.home."), "{}", ixfr.raw);
    let axfr = t.dig(&["home", "AXFR"]);
    assert_eq!(recs, records(&axfr.raw));

    // The history survives a restart (it is the journal's).
    let mut t = t;
    t.restart();
    let ixfr = t.dig(&["+tcp", "home", &format!("IXFR={s0}")]);
    assert_eq!(
        soa_serials(&records(&ixfr.raw)),
        vec![s3, s0, s3, s3],
        "{}",
        ixfr.raw
    );

    // Signed requests get signed answers; allow-transfer still applies.
    let signed = t.dig(&["+tcp", "-y", MD5, "home", &format!("IXFR={s0}")]);
    assert!(!signed.raw.contains("Couldn't verify"), "{}", signed.raw);
    assert!(signed.raw.contains("TSIG"), "{}", signed.raw);
}

#[test]
fn ixfr_is_refused_without_allow_transfer() {
    if !peers_present(&["dig"]) {
        return;
    }
    let mut t = Tandem::start_prepared("", "", |dir| {
        let path = dir.join("tandem.toml");
        let text = std::fs::read_to_string(&path).unwrap().replacen(
            "allow-transfer = [\"127.0.0.1\"]",
            "allow-transfer = [\"key DHCP_UPDATER\"]",
            1,
        );
        std::fs::write(path, text).unwrap();
    });
    let s = serial(&t);
    let unsigned = t.dig(&["+tcp", "home", &format!("IXFR={}", s - 1)]);
    assert!(
        unsigned.raw.contains("REFUSED") || unsigned.raw.contains("Transfer failed"),
        "{}",
        unsigned.raw
    );
    let signed = t.dig(&["+tcp", "-y", MD5, "home", &format!("IXFR={}", s - 1)]);
    assert_eq!(
        soa_serials(&records(&signed.raw)),
        vec![s, s],
        "{}",
        signed.raw
    );
    t.proc
        .wait_for("zone home.: zone transfer denied", Duration::from_secs(2));
}

/// BIND 9 as a secondary of tandem's `home` zone, on its own loopback port.
struct BindSecondary {
    proc: Proc,
    port: u16,
    dir: tempfile::TempDir,
}

impl BindSecondary {
    fn start(port: u16, primary: u16) -> BindSecondary {
        let dir = tempfile::tempdir().unwrap();
        let conf = format!(
            "options {{\n directory \"{d}\";\n listen-on port {port} {{ 127.0.0.1; }};\n listen-on-v6 {{ none; }};\n pid-file none;\n session-keyfile none;\n recursion no;\n dnssec-validation no;\n notify no;\n}};\ncontrols {{ }};\nzone \"home\" {{ type secondary; primaries {{ 127.0.0.1 port {primary}; }}; file \"home.bk\"; }};\n",
            d = dir.path().display()
        );
        let conf_path = dir.path().join("named.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let mut cmd = Command::new(which("named").expect("named"));
        cmd.args(["-g", "-n", "1", "-c"]).arg(&conf_path);
        let proc = Proc::spawn("named", cmd, "running");
        BindSecondary { proc, port, dir }
    }
}

#[test]
fn an_update_reaches_a_bind_secondary_by_notify_and_ixfr() {
    if !peers_present(&["nsupdate", "dig", "named"]) {
        return;
    }
    let bind_port = free_port();
    let mut t = Tandem::start_prepared("", "", |dir| {
        let path = dir.join("tandem.toml");
        let text = std::fs::read_to_string(&path).unwrap().replacen(
            "allow-transfer = [\"127.0.0.1\"]",
            &format!("allow-transfer = [\"127.0.0.1\"]\nalso-notify = [\"127.0.0.1:{bind_port}\"]"),
            1,
        );
        std::fs::write(path, text).unwrap();
    });
    let s0 = serial(&t);
    let mut bind = BindSecondary::start(bind_port, t.port);
    // The first copy: a whole-zone transfer at startup.
    bind.proc
        .wait_for(&format!("transferred serial {s0}"), Duration::from_secs(10));

    nsupdate(t.port, "update add fresh.home 300 A 10.9.0.7");
    let s1 = s0 + 1;
    t.proc.wait_for(
        &format!("zone home/IN: sending notifies (serial {s1})"),
        Duration::from_secs(5),
    );
    // NOTIFY, then BIND's SOA check and IXFR: well within two seconds.
    bind.proc
        .wait_for(&format!("transferred serial {s1}"), Duration::from_secs(3));
    let answer = tandem_testkit::dns::dig("127.0.0.1", bind.port, &["fresh.home", "A"]);
    assert_eq!(answer.answer_data("A"), vec!["10.9.0.7"], "{}", answer.raw);
    let log = bind.proc.output();
    assert!(log.contains("notify from 127.0.0.1#"), "{log}");
    // BIND keeps a journal only for incremental transfers.
    assert!(bind.dir.path().join("home.bk.jnl").exists(), "{log}");
    t.proc.wait_for(
        &format!("IXFR ended: 1 messages, serial {s1}"),
        Duration::from_secs(2),
    );

    // A reload that changes the zone notifies too; the reload's checkpoint
    // ended the history, so BIND gets the whole zone in answer to its IXFR.
    t.append_zone("edited 300 A 10.9.0.8\n");
    let config = t.config.display().to_string();
    let (ok, out, err) = t.tandem(&["reload", "--config", &config]);
    assert!(ok, "{out}{err}");
    let s2 = s1 + 1;
    t.proc.wait_for(
        &format!("zone home/IN: sending notifies (serial {s2})"),
        Duration::from_secs(5),
    );
    bind.proc
        .wait_for(&format!("transferred serial {s2}"), Duration::from_secs(3));
    let answer = tandem_testkit::dns::dig("127.0.0.1", bind.port, &["edited.home", "A"]);
    assert_eq!(answer.answer_data("A"), vec!["10.9.0.8"], "{}", answer.raw);
    let answer = tandem_testkit::dns::dig("127.0.0.1", bind.port, &["fresh.home", "A"]);
    assert_eq!(answer.answer_data("A"), vec!["10.9.0.7"], "{}", answer.raw);
}

/// Knot DNS as a secondary of tandem's `home` zone.
struct KnotSecondary {
    proc: Proc,
    port: u16,
    _dir: tempfile::TempDir,
}

impl KnotSecondary {
    fn start(port: u16, primary: u16) -> KnotSecondary {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let conf = format!(
            "server:\n    listen: 127.0.0.1@{port}\n    rundir: {d}\n    udp-workers: 1\n    tcp-workers: 1\n    background-workers: 1\n\
             log:\n  - target: stderr\n    any: info\n\
             database:\n    storage: {d}\n\
             remote:\n  - id: primary\n    address: 127.0.0.1@{primary}\n\
             acl:\n  - id: from_primary\n    address: 127.0.0.1\n    action: notify\n\
             zone:\n  - domain: home\n    master: primary\n    acl: from_primary\n    file: {d}/home.zone\n    zonefile-sync: -1\n    journal-content: changes\n"
        );
        let conf_path = dir.path().join("knot.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let mut cmd = Command::new(which("knotd").expect("knotd"));
        cmd.arg("-c").arg(&conf_path);
        let proc = Proc::spawn("knotd", cmd, "server started");
        KnotSecondary {
            proc,
            port,
            _dir: dir,
        }
    }
}

#[test]
fn an_update_reaches_a_knot_secondary_by_notify_and_ixfr() {
    if !peers_present(&["nsupdate", "dig", "knotd"]) {
        return;
    }
    let knot_port = free_port();
    let mut t = Tandem::start_prepared("", "", |dir| {
        let path = dir.join("tandem.toml");
        let text = std::fs::read_to_string(&path).unwrap().replacen(
            "allow-transfer = [\"127.0.0.1\"]",
            &format!("allow-transfer = [\"127.0.0.1\"]\nalso-notify = [\"127.0.0.1:{knot_port}\"]"),
            1,
        );
        std::fs::write(path, text).unwrap();
    });
    let s0 = serial(&t);
    let mut knot = KnotSecondary::start(knot_port, t.port);
    knot.proc.wait_for(
        &format!("AXFR, incoming, remote 127.0.0.1@{}, finished", t.port),
        Duration::from_secs(10),
    );
    nsupdate(t.port, "update add fresh.home 300 A 10.9.0.7");
    let s1 = s0 + 1;
    t.proc.wait_for(
        &format!("zone home/IN: sending notifies (serial {s1})"),
        Duration::from_secs(5),
    );
    knot.proc.wait_for(
        &format!("IXFR, incoming, remote 127.0.0.1@{}, finished", t.port),
        Duration::from_secs(3),
    );
    let answer = tandem_testkit::dns::dig("127.0.0.1", knot.port, &["fresh.home", "A"]);
    assert_eq!(answer.answer_data("A"), vec!["10.9.0.7"], "{}", answer.raw);
    let soa = tandem_testkit::dns::dig("127.0.0.1", knot.port, &["home", "SOA"]).answer_data("SOA");
    assert_eq!(
        soa[0].split_whitespace().nth(2),
        Some(s1.to_string().as_str())
    );
}
