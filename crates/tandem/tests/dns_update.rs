//! RFC 2136 updates as nsupdate sends them, signed with TSIG, checked with
//! dig; durability across `kill -9`; reloads that keep dynamic records.

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Tandem, MD5};
use tandem_testkit::peers_present;

const SHA256_SECRET: &str = "c2hhMjU2LWFkbWluLWtleS1mb3ItdGVzdHMtb25seSE=";

/// The example zones plus an hmac-sha256 key `admin` allowed to update.
fn start() -> Tandem {
    Tandem::start_prepared("", "", |dir| {
        let path = dir.join("tandem.toml");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text = text.replace(
            "allow-update = [\"key DHCP_UPDATER\"]",
            "allow-update = [\"key DHCP_UPDATER\", \"key admin\"]",
        );
        text.push_str(&format!(
            "\n[[key]]\nname = \"admin\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SHA256_SECRET}\"\n"
        ));
        std::fs::write(path, text).unwrap();
    })
}

/// Runs nsupdate with `key` (`-y` text, `-k` file, or none) on `script`.
fn nsupdate(port: u16, key: &[&str], script: &str) -> (bool, String) {
    common::nsupdate_script(port, key, &format!("{script}\nsend"))
}

fn serial(t: &Tandem) -> u32 {
    let soa = t.dig(&["home", "SOA"]).answer_data("SOA");
    soa[0].split_whitespace().nth(2).unwrap().parse().unwrap()
}

#[test]
fn adds_and_deletes_with_md5_and_sha256() {
    if !peers_present(&["nsupdate", "dig"]) {
        return;
    }
    let t = start();
    let s0 = serial(&t);
    let (ok, out) = nsupdate(
        t.port,
        &["-y", MD5],
        "zone home\nupdate add laptop.home 300 A 192.168.0.77\nupdate add laptop.home 300 TXT \"dhcp\"",
    );
    assert!(ok, "{out}");
    let (ok, out) = nsupdate(
        t.port,
        &["-y", MD5],
        "zone 0.168.192.in-addr.arpa\nupdate add 77.0.168.192.in-addr.arpa 300 PTR laptop.home.",
    );
    assert!(ok, "{out}");
    assert_eq!(
        t.dig(&["laptop.home", "A"]).answer_data("A"),
        vec!["192.168.0.77"]
    );
    assert_eq!(
        t.dig(&["-x", "192.168.0.77"]).answer_data("PTR"),
        vec!["laptop.home."]
    );
    assert_eq!(serial(&t), s0.wrapping_add(1));

    let sha = format!("hmac-sha256:admin:{SHA256_SECRET}");
    let (ok, out) = nsupdate(
        t.port,
        &["-y", &sha],
        "zone home\nupdate add laptop.home 300 A 192.168.0.78\nupdate delete laptop.home A 192.168.0.77",
    );
    assert!(ok, "{out}");
    assert_eq!(
        t.dig(&["laptop.home", "A"]).answer_data("A"),
        vec!["192.168.0.78"]
    );
    // Delete an RRset, then the whole name.
    let (ok, out) = nsupdate(
        t.port,
        &["-y", &sha],
        "zone home\nupdate delete laptop.home TXT",
    );
    assert!(ok, "{out}");
    assert!(t.dig(&["laptop.home", "TXT"]).answer.is_empty());
    let (ok, out) = nsupdate(
        t.port,
        &["-y", &sha],
        "zone home\nupdate delete laptop.home",
    );
    assert!(ok, "{out}");
    assert_eq!(t.dig(&["laptop.home", "A"]).status, "NXDOMAIN");
    assert_eq!(serial(&t), s0.wrapping_add(4));
}

#[test]
fn key_file_written_by_tsig_keygen_works() {
    if !peers_present(&["nsupdate", "dig"]) {
        return;
    }
    // The example configuration reads the key from this BIND key file.
    let dir = common::test_dir();
    let port = tandem_testkit::free_port();
    let config = dir.path().join("tandem.toml");
    let text = std::fs::read_to_string(std::path::Path::new(common::EXAMPLES).join("tandem.toml"))
        .unwrap()
        .replace("../target/tandem-example-state", "state")
        .replace(
            "\"127.0.0.1:5353\", \"[::1]:5353\"",
            &format!("\"127.0.0.1:{port}\""),
        );
    std::fs::write(&config, text).unwrap();
    let t = Tandem::start_in(dir.path(), &config, port);
    let keyfile = t.dir.join("keys/dhcp-updater.key");
    let (ok, out) = nsupdate(
        t.port,
        &["-k", keyfile.to_str().unwrap()],
        "zone home\nupdate add phone.home 300 A 192.168.0.79",
    );
    assert!(ok, "{out}");
    assert_eq!(
        t.dig(&["phone.home", "A"]).answer_data("A"),
        vec!["192.168.0.79"]
    );
}

#[test]
fn failed_prerequisites_give_their_rcodes_and_change_nothing() {
    if !peers_present(&["nsupdate", "dig"]) {
        return;
    }
    let t = start();
    let s0 = serial(&t);
    for (prereq, rcode) in [
        ("prereq nxdomain nas.home", "YXDOMAIN"),
        ("prereq yxdomain nothere.home", "NXDOMAIN"),
        ("prereq yxrrset nas.home MX", "NXRRSET"),
        ("prereq nxrrset nas.home A", "YXRRSET"),
        ("prereq yxrrset nas.home A 192.168.0.99", "NXRRSET"),
    ] {
        let (ok, out) = nsupdate(
            t.port,
            &["-y", MD5],
            &format!("zone home\n{prereq}\nupdate add blocked.home 300 A 192.168.0.9"),
        );
        assert!(!ok, "{prereq}: {out}");
        assert!(out.contains(rcode), "{prereq}: expected {rcode}: {out}");
    }
    // A prerequisite that holds lets the update through.
    let (ok, out) = nsupdate(
        t.port,
        &["-y", MD5],
        "zone home\nprereq yxrrset nas.home A 192.168.0.10\nprereq nxdomain blocked.home\nupdate add blocked.home 300 A 192.168.0.9",
    );
    assert!(ok, "{out}");
    assert_eq!(serial(&t), s0.wrapping_add(1));
}

#[test]
fn unsigned_and_badly_signed_updates_are_refused() {
    if !peers_present(&["nsupdate", "dig"]) {
        return;
    }
    let t = start();
    let s0 = serial(&t);
    let script = "zone home\nupdate add intruder.home 300 A 192.168.0.66";
    let (ok, out) = nsupdate(t.port, &[], script);
    assert!(!ok && out.contains("REFUSED"), "{out}");
    let wrong = "hmac-md5:DHCP_UPDATER:d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA==";
    let (ok, out) = nsupdate(t.port, &["-y", wrong], script);
    assert!(!ok, "{out}");
    let unknown = "hmac-sha256:stranger:c2hhMjU2LWFkbWluLWtleS1mb3ItdGVzdHMtb25seSE=";
    let (ok, out) = nsupdate(t.port, &["-y", unknown], script);
    assert!(!ok, "{out}");
    assert_eq!(t.dig(&["intruder.home", "A"]).status, "NXDOMAIN");
    assert_eq!(serial(&t), s0);
    let log = t.proc.output();
    assert!(log.contains("BADSIG"), "{log}");
    assert!(log.contains("BADKEY"), "{log}");
}

/// dnspython (a second, independent TSIG implementation) signs an update
/// with its clock moved; tandem must answer BADTIME and change nothing.
#[test]
fn clock_skew_beyond_fudge_is_badtime() {
    if !peers_present(&["/usr/bin/python3"]) {
        return;
    }
    let t = start();
    let script = format!(
        r#"
import time, dns.update, dns.query, dns.tsigkeyring, dns.tsig, dns.rcode
real = time.time
def skewed(): return real() + 3600
keyring = dns.tsigkeyring.from_text({{"DHCP_UPDATER": "cGFpci1leGFtcGxlLWtleS1kby1ub3QtdXNl"}})
u = dns.update.UpdateMessage("home", keyring=keyring, keyalgorithm=dns.tsig.HMAC_MD5)
u.add("skewed.home", 300, "A", "192.168.0.5")
time.time = skewed
try:
    r = dns.query.udp(u, "127.0.0.1", port={port}, timeout=3)
    print("rcode", dns.rcode.to_text(r.rcode()))
except dns.tsig.PeerBadTime:
    print("BADTIME")
except Exception as e:
    print("error", type(e).__name__, e)
"#,
        port = t.port
    );
    let mut c = Command::new("/usr/bin/python3");
    c.args(["-c", &script]);
    let (_, out, err) = tandem_testkit::run(&mut c);
    assert!(out.contains("BADTIME"), "{out}{err}");
    assert_eq!(t.dig(&["skewed.home", "A"]).status, "NXDOMAIN");
}

#[test]
fn update_policy_limits_names_and_types() {
    if !peers_present(&["nsupdate", "dig"]) {
        return;
    }
    let t = Tandem::start_prepared("", "", |dir| {
        let path = dir.join("tandem.toml");
        let text = std::fs::read_to_string(&path).unwrap().replacen(
            "allow-update = [\"key DHCP_UPDATER\"]",
            "update-policy = [ { deny = \"DHCP_UPDATER\", match = \"name\", name = \"nas.home\" },\n  { grant = \"DHCP_UPDATER\", match = \"zonesub\", types = [\"A\", \"TXT\"] } ]",
            1,
        );
        std::fs::write(path, text).unwrap();
    });
    let (ok, out) = nsupdate(
        t.port,
        &["-y", MD5],
        "zone home\nupdate add tv.home 300 A 192.168.0.40",
    );
    assert!(ok, "{out}");
    let (ok, out) = nsupdate(
        t.port,
        &["-y", MD5],
        "zone home\nupdate add tv.home 300 MX 10 mail.home.",
    );
    assert!(!ok && out.contains("REFUSED"), "{out}");
    let (ok, out) = nsupdate(t.port, &["-y", MD5], "zone home\nupdate delete nas.home A");
    assert!(!ok && out.contains("REFUSED"), "{out}");
    assert_eq!(
        t.dig(&["nas.home", "A"]).answer_data("A"),
        vec!["192.168.0.10"]
    );
}

#[test]
fn reload_keeps_dynamic_records_and_the_file_wins_conflicts() {
    if !peers_present(&["nsupdate", "dig"]) {
        return;
    }
    let t = start();
    let config = t.config.to_str().unwrap().to_string();
    let (ok, out) = nsupdate(
        t.port,
        &["-y", MD5],
        "zone home\nupdate add laptop.home 300 A 192.168.0.77\nupdate add alias.home 300 CNAME nas.home.\nupdate delete router.home A",
    );
    assert!(ok, "{out}");
    // The user adds a custom record, and an A record where a dynamic CNAME is.
    t.append_zone("custom IN TXT \"by hand\"\nalias IN A 192.168.0.99\n");
    let (ok, out, err) = t.tandem(&["reload", "--config", &config]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("dropped dynamic record alias.home. CNAME"),
        "{out}"
    );
    assert_eq!(
        t.dig(&["laptop.home", "A"]).answer_data("A"),
        vec!["192.168.0.77"]
    );
    assert_eq!(
        t.dig(&["custom.home", "TXT"]).answer_data("TXT"),
        vec!["\"by hand\""]
    );
    assert_eq!(
        t.dig(&["alias.home", "A"]).answer_data("A"),
        vec!["192.168.0.99"]
    );
    // The deletion of a file record by an update survives the reload.
    assert!(t.dig(&["router.home", "A"]).answer.is_empty());
    // And all of it survives a restart.
    let mut t = t;
    t.restart();
    assert_eq!(
        t.dig(&["laptop.home", "A"]).answer_data("A"),
        vec!["192.168.0.77"]
    );
    assert_eq!(
        t.dig(&["custom.home", "TXT"]).answer_data("TXT"),
        vec!["\"by hand\""]
    );
    assert!(t.dig(&["router.home", "A"]).answer.is_empty());
}

/// Updates in flight from several nsupdate processes, `kill -9` in the
/// middle, restart: every update answered NOERROR is there.
#[test]
fn kill_9_loses_no_acknowledged_update() {
    if !peers_present(&["nsupdate", "dig"]) {
        return;
    }
    let mut t = start();
    let port = t.port;
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for w in 0..6 {
        let acked = acked.clone();
        let stop = stop.clone();
        let started = started.clone();
        workers.push(std::thread::spawn(move || {
            for i in 0..200 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                started.fetch_add(1, Ordering::Relaxed);
                let name = format!("h{w}-{i}.home");
                let (ok, _) = nsupdate(
                    port,
                    &["-y", MD5, "-t", "2"],
                    &format!("zone home\nupdate add {name} 300 A 10.9.{w}.{}", i % 250),
                );
                if ok {
                    acked.lock().unwrap().push(name);
                }
            }
        }));
    }
    // Kill once a fair number are acknowledged, while others are in flight.
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().len() < 60 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    t.proc.kill9();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 60,
        "only {} updates acknowledged",
        acked.len()
    );
    t.restart();
    // One AXFR shows the whole zone; every acknowledged name must be in it.
    let axfr = t.dig(&["home", "AXFR"]);
    let missing: Vec<&String> = acked
        .iter()
        .filter(|n| !axfr.raw.contains(&format!("{n}.")))
        .collect();
    assert!(missing.is_empty(), "lost acknowledged updates: {missing:?}");
    eprintln!(
        "crash test: {} acknowledged of {} started, all present after kill -9",
        acked.len(),
        started.load(Ordering::Relaxed)
    );
}

/// A small journal limit forces compaction; after a restart every record is
/// still there and the journal stayed small.
#[test]
fn journal_compacts_itself_and_keeps_everything() {
    if !peers_present(&["nsupdate", "dig"]) {
        return;
    }
    let mut t = Tandem::start_example_with("", "journal-max-size = 2048");
    for i in 0u32..40 {
        let mut script = format!("zone home\nupdate add c{i}.home 300 A 10.7.0.{i}");
        if i > 0 {
            script.push_str(&format!("\nupdate delete c{}.home A", i - 1));
        }
        let (ok, out) = nsupdate(t.port, &["-y", MD5], &script);
        assert!(ok, "{out}");
    }
    t.proc.wait_for("journal compacted", Duration::from_secs(5));
    let journal = t.dir.join("state/zones/home.jnl");
    // Its frames, not the file: the journal keeps zero-filled room past
    // them (preallocation, docs/storage.md).
    let size = tandem_journal::format::frames_end(&std::fs::read(&journal).unwrap());
    assert!(size < 8192, "journal holds {size} bytes of frames");
    t.restart();
    assert_eq!(
        t.dig(&["c39.home", "A"]).answer_data("A"),
        vec!["10.7.0.39"]
    );
    assert_eq!(t.dig(&["c38.home", "A"]).status, "NXDOMAIN");
    assert_eq!(serial(&t), 2026112401 + 40);
}

/// Zone transfers signed with TSIG: allowed for the key, refused without.
#[test]
fn signed_axfr_is_allowed_by_key_and_refused_without() {
    if !peers_present(&["dig"]) {
        return;
    }
    let t = Tandem::start_prepared("", "", |dir| {
        let path = dir.join("tandem.toml");
        let text = std::fs::read_to_string(&path).unwrap().replacen(
            "allow-transfer = [\"127.0.0.1\"]",
            "allow-transfer = [\"key DHCP_UPDATER\"]",
            1,
        );
        std::fs::write(path, text).unwrap();
    });
    let signed = t.dig(&["-y", MD5, "home", "AXFR"]);
    assert!(signed.raw.contains("XFR size:"), "{}", signed.raw);
    assert!(!signed.raw.contains("Couldn't verify"), "{}", signed.raw);
    let unsigned = t.dig(&["home", "AXFR"]);
    assert!(unsigned.raw.contains("Transfer failed"), "{}", unsigned.raw);
}
