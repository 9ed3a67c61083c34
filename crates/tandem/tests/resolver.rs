//! The forwarding resolver against real servers on loopback: BIND as the
//! "internet" (authoritative for a few zones, with its query log telling
//! how often tandem asked), Unbound as the reference forwarder and as a
//! DNS-over-TLS front end on addresses of 127.1.1.0/24.
//!
//! BIND only listens on addresses configured on an interface, so it runs
//! on 127.0.0.1 with a port of its own; Unbound binds the address it is
//! given.
//!
//! Every server listens on a 127.0.0.0/8 address; every process is ended
//! by PID when its `Proc` drops; every wait is bounded.

mod common;

use std::net::UdpSocket;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::Tandem;
use tandem_testkit::dns::{parse_dig, DigResult};
use tandem_testkit::{free_port, peers_present, run, which, Proc};

const EXAMPLE_TEST: &str = r#"$TTL 300
@       SOA ns1 hostmaster 2026120101 3600 600 86400 120
@       NS ns1
@       MX 10 mail
ns1     A 192.0.2.1
www     A 192.0.2.10
www     TXT "hello from the internet"
mail    A 192.0.2.20
alias   CNAME www
alias2  CNAME alias
v6      AAAA 2001:db8::10
short 1 A 192.0.2.99
zero  0 A 192.0.2.98
upper   A 192.0.2.30
"#;

const OTHER_TEST: &str = r#"$TTL 600
@       SOA ns hostmaster 7 3600 600 86400 60
@       NS ns
ns      A 198.51.100.1
a       A 198.51.100.10
a       A 198.51.100.11
srv     SRV 0 5 5060 a
txt     TXT "one" "two"
"#;

const CORP_INTERNAL: &str = r#"$TTL 300
@       SOA ns hostmaster 1 3600 600 86400 60
@       NS ns
ns      A 10.8.0.53
db      A 10.8.0.20
"#;

/// BIND as an authoritative "internet" server on `addr`, logging every
/// query it receives.
struct Upstream {
    proc: Proc,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Upstream {
    fn start(addr: &str, zones: &[(&str, String)]) -> Upstream {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut conf = format!(
            "options {{\n directory \"{d}\";\n listen-on port {port} {{ {addr}; }};\n listen-on-v6 {{ none; }};\n pid-file none;\n session-keyfile none;\n recursion no;\n dnssec-validation no;\n notify no;\n querylog yes;\n}};\ncontrols {{ }};\n",
            d = dir.path().display()
        );
        for (origin, text) in zones {
            let file = dir.path().join(format!("{origin}.zone"));
            std::fs::write(&file, text).unwrap();
            conf.push_str(&format!(
                "zone \"{origin}\" {{ type primary; file \"{}\"; }};\n",
                file.display()
            ));
        }
        let conf_path = dir.path().join("named.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let mut cmd = Command::new(which("named").expect("named"));
        cmd.args(["-g", "-n", "1", "-c"]).arg(&conf_path);
        let proc = Proc::spawn("named", cmd, "all zones loaded");
        Upstream {
            proc,
            port,
            _dir: dir,
        }
    }

    /// Query-log lines for `name type` so far (after a short settle, as
    /// the log is read from another thread).
    fn queries(&self, name: &str, rtype: &str) -> Vec<String> {
        std::thread::sleep(Duration::from_millis(150));
        let needle = format!("query: {name} in {rtype} ").to_ascii_lowercase();
        self.proc
            .output()
            .lines()
            .filter(|l| l.to_ascii_lowercase().contains(&needle))
            .map(str::to_string)
            .collect()
    }
}

fn internet() -> Upstream {
    Upstream::start(
        "127.0.0.1",
        &[
            ("example.test", format!("{EXAMPLE_TEST}{}", big_rrset())),
            ("other.test", OTHER_TEST.to_string()),
        ],
    )
}

/// 100 A records at big.example.test: about 1.7 kB, more than 1232.
fn big_rrset() -> String {
    (1..=100).map(|i| format!("big A 10.0.0.{i}\n")).collect()
}

/// tandem with the example zones and a `[resolver]` table.
fn tandem_with(resolver: &str) -> Tandem {
    Tandem::start_example_with(&format!("\n[resolver]\n{resolver}\n"), "")
}

/// dig with recursion desired (a stub resolver's query).
fn ask(server: &str, port: u16, args: &[&str]) -> DigResult {
    let mut cmd = Command::new("dig");
    cmd.arg(format!("@{server}"))
        .args(["-p", &port.to_string()])
        .args(["+time=3", "+tries=1", "+nocookie"])
        .args(args);
    let (_, out, err) = run(&mut cmd);
    parse_dig(&format!("{out}{err}"))
}

fn ttl_of(line: &str) -> u32 {
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn forwards_caches_truncates_refuses_and_serves_stale() {
    if !peers_present(&["named", "dig"]) {
        return;
    }
    let up = internet();
    let t = tandem_with(&format!(
        r#"upstreams = ["127.0.0.1:{}"]
allow-recursion = ["!127.0.0.77", "localhost"]
serve-stale = 3600
stale-ttl = 7
resolve-timeout-ms = 1500
"#,
        up.port
    ));
    let q = |args: &[&str]| ask("127.0.0.1", t.port, args);

    // A name of the internet, through tandem: answered, not authoritative.
    let first = q(&["www.example.test", "A"]);
    assert_eq!(first.status, "NOERROR", "{}", first.raw);
    assert_eq!(first.answer_data("A"), vec!["192.0.2.10"], "{}", first.raw);
    assert!(first.has_flag("ra") && first.has_flag("rd") && !first.has_flag("aa"));
    // Our own zones are still ours.
    let local = q(&["nas.home", "A"]);
    assert!(local.has_flag("aa"), "{}", local.raw);

    // Negative answers: NXDOMAIN and NODATA with the SOA, whose TTL is the
    // negative TTL (min(SOA TTL 300, MINIMUM 120)).
    let nx = q(&["nope.example.test", "A"]);
    assert_eq!(nx.status, "NXDOMAIN", "{}", nx.raw);
    assert!(nx.authority.iter().any(|l| l.contains("SOA")), "{}", nx.raw);
    assert!(ttl_of(&nx.authority[0]) <= 120, "{}", nx.raw);
    let nodata = q(&["www.example.test", "AAAA"]);
    assert_eq!(nodata.status, "NOERROR");
    assert!(
        nodata.answer.is_empty() && !nodata.authority.is_empty(),
        "{}",
        nodata.raw
    );

    // The stale candidate, cached before the upstream goes away.
    let short = q(&["short.example.test", "A"]);
    assert_eq!(short.answer_data("A"), vec!["192.0.2.99"], "{}", short.raw);

    // Truncation: more than 512 bytes to a client that takes 512 is TC;
    // tandem itself got the answer over TCP after the upstream's TC.
    let tc = q(&["+notcp", "+ignore", "+bufsize=512", "big.example.test", "A"]);
    assert!(tc.has_flag("tc"), "{}", tc.raw);
    assert!(tc.answer.is_empty());
    let whole = q(&["big.example.test", "A"]);
    assert_eq!(whole.answer.len(), 100, "{}", whole.raw);
    let big = up.queries("big.example.test", "A");
    assert!(
        big.iter().any(|l| l
            .split_whitespace()
            .any(|w| w.starts_with('+') && w.contains('T'))),
        "tandem should have retried over TCP: {big:?}"
    );

    // A client outside the recursion ACL is refused (and may still ask
    // the local zones, which allow anyone).
    let outside = ask(
        "127.0.0.1",
        t.port,
        &["-b", "127.0.0.77", "www.example.test", "A"],
    );
    assert_eq!(outside.status, "REFUSED", "{}", outside.raw);
    let outside_local = ask("127.0.0.1", t.port, &["-b", "127.0.0.77", "nas.home", "A"]);
    assert_eq!(outside_local.status, "NOERROR", "{}", outside_local.raw);
    // And that refusal is not served from a cache to allowed clients.
    assert_eq!(q(&["www.example.test", "A"]).status, "NOERROR");

    // Cache hits: one upstream query each, TTLs counting down.
    std::thread::sleep(Duration::from_millis(1100));
    let again = q(&["WWW.Example.Test", "A"]);
    assert_eq!(again.answer_data("A"), vec!["192.0.2.10"]);
    assert!(
        ttl_of(&again.answer[0]) < ttl_of(&first.answer[0]),
        "{} then {}",
        first.answer[0],
        again.answer[0]
    );
    let nx2 = q(&["nope.example.test", "A"]);
    assert_eq!(nx2.status, "NXDOMAIN");
    assert_eq!(
        up.queries("www.example.test", "A").len(),
        1,
        "{}",
        up.proc.output()
    );
    assert_eq!(up.queries("nope.example.test", "A").len(), 1);
    assert_eq!(up.queries("www.example.test", "AAAA").len(), 1);

    // Coalescing: twenty identical queries at once for a name with TTL 0
    // (never cached) cost far fewer than twenty upstream queries.
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    for id in 0..20u16 {
        sock.send_to(&query(id, "zero.example.test", 1), ("127.0.0.1", t.port))
            .unwrap();
    }
    let mut answered = 0;
    let mut buf = [0u8; 1500];
    while answered < 20 && sock.recv_from(&mut buf).is_ok() {
        answered += 1;
    }
    assert_eq!(answered, 20);
    let zero = up.queries("zero.example.test", "A").len();
    assert!(
        (1..20).contains(&zero),
        "{zero} upstream queries for 20 coalescable ones"
    );

    // The upstream dies. The expired short-TTL answer is served stale
    // with the stale TTL; a name never seen is SERVFAIL.
    let mut up = up;
    up.proc.kill9();
    std::thread::sleep(Duration::from_millis(1100));
    let started = Instant::now();
    let stale = q(&["short.example.test", "A"]);
    assert_eq!(stale.status, "NOERROR", "{}", stale.raw);
    assert_eq!(stale.answer_data("A"), vec!["192.0.2.99"], "{}", stale.raw);
    assert_eq!(ttl_of(&stale.answer[0]), 7, "{}", stale.raw);
    assert!(started.elapsed() < Duration::from_secs(2));
    let unknown = q(&["never.example.test", "A"]);
    assert_eq!(unknown.status, "SERVFAIL", "{}", unknown.raw);
    // Still cached and fresh: served as usual.
    assert_eq!(
        q(&["www.example.test", "A"]).answer_data("A"),
        vec!["192.0.2.10"]
    );

    let (ok, status, _) = t.tandem(&["status", "--config", t.config.to_str().unwrap()]);
    assert!(ok && status.contains("resolver:"), "{status}");
}

/// A raw query with RD set.
fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut m = vec![(id >> 8) as u8, id as u8, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.push(0);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    m
}

#[test]
fn conditional_forwarding_and_rate_limit() {
    if !peers_present(&["named", "dig"]) {
        return;
    }
    let up = internet();
    let corp = Upstream::start("127.0.0.1", &[("corp.internal", CORP_INTERNAL.to_string())]);
    // The first upstream listens nowhere (connections refused): tandem
    // fails over to the second and then leaves the dead one alone.
    let dead = free_port();
    let t = tandem_with(&format!(
        r#"upstreams = ["127.0.0.1:{dead}", "127.0.0.1:{}"]
rate-limit = 5
rate-limit-burst = 5

[[resolver.forward-zone]]
name = "corp.internal"
upstreams = ["127.0.0.1:{}"]
"#,
        up.port, corp.port
    ));
    let www = ask("127.0.0.1", t.port, &["www.example.test", "A"]);
    assert_eq!(www.answer_data("A"), vec!["192.0.2.10"], "{}", www.raw);
    let mail = ask("127.0.0.1", t.port, &["mail.example.test", "A"]);
    assert_eq!(mail.answer_data("A"), vec!["192.0.2.20"], "{}", mail.raw);
    // One failure made the dead upstream look slow (its RTT estimate is
    // at least a timeout): the second query went straight to the live one.
    let (_, status, _) = t.tandem(&["status", "--config", t.config.to_str().unwrap()]);
    let srtt = |addr: String| -> f64 {
        let at = status.find(&format!("{addr} srtt ")).expect(&status) + addr.len() + 6;
        status[at..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(srtt(format!("127.0.0.1:{dead}")) >= 250.0, "{status}");
    assert!(srtt(format!("127.0.0.1:{}", up.port)) < 250.0, "{status}");
    assert!(status.contains("3 upstream queries (1 failed)"), "{status}");
    let db = ask("127.0.0.1", t.port, &["db.corp.internal", "A"]);
    assert_eq!(db.answer_data("A"), vec!["10.8.0.20"], "{}", db.raw);
    assert_eq!(up.queries("db.corp.internal", "A").len(), 0);
    assert_eq!(corp.queries("db.corp.internal", "A").len(), 1);

    // Rate limit: 5 per second with a burst of 5.
    // Thirty queries at once: about five are answered, the rest dropped.
    std::thread::sleep(Duration::from_millis(1100));
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(400)))
        .unwrap();
    for id in 0..30u16 {
        sock.send_to(&query(id, "www.example.test", 1), ("127.0.0.1", t.port))
            .unwrap();
    }
    let mut answered = 0;
    let mut buf = [0u8; 1500];
    while answered < 30 && sock.recv_from(&mut buf).is_ok() {
        answered += 1;
    }
    assert!((3..=7).contains(&answered), "{answered} of 30 answered");
    // The authoritative zones are not rate-limited.
    for _ in 0..10 {
        assert_eq!(
            ask("127.0.0.1", t.port, &["nas.home", "A"]).status,
            "NOERROR"
        );
    }
}

#[test]
fn stale_answer_while_the_upstream_hangs() {
    if !peers_present(&["named", "dig"]) {
        return;
    }
    let up = internet();
    // A second upstream that never answers: after the first, a query
    // tries it (1 s, no RTT known yet) and then the first again.
    let hole = UdpSocket::bind("127.0.0.1:0").unwrap();
    let t = tandem_with(&format!(
        "upstreams = [\"127.0.0.1:{}\", \"{}\"]\nresolve-timeout-ms = 5000\nstale-answer-client-timeout-ms = 300\n",
        up.port,
        hole.local_addr().unwrap()
    ));
    let short = ask("127.0.0.1", t.port, &["short.example.test", "A"]);
    assert_eq!(short.answer_data("A"), vec!["192.0.2.99"], "{}", short.raw);
    // The upstream stops answering (queries time out, no refusal).
    up.proc.signal(libc::SIGSTOP);
    std::thread::sleep(Duration::from_millis(1100));
    let started = Instant::now();
    let stale = ask("127.0.0.1", t.port, &["short.example.test", "A"]);
    let took = started.elapsed();
    assert_eq!(stale.answer_data("A"), vec!["192.0.2.99"], "{}", stale.raw);
    assert_eq!(ttl_of(&stale.answer[0]), 30, "{}", stale.raw);
    // Answered after the client timer (0.3 s), before the tries end
    // (1 s for the silent one, then 0.25 s or more for the stopped one).
    assert!(
        took >= Duration::from_millis(280) && took < Duration::from_millis(1150),
        "{took:?}"
    );
    up.proc.signal(libc::SIGCONT);
}

/// What parity compares: status and the records without TTLs.
fn essence(r: &DigResult) -> (String, Vec<String>, Vec<String>) {
    let strip = |lines: &[String]| {
        let mut v: Vec<String> = lines
            .iter()
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let mut g = vec![f[0].to_ascii_lowercase()];
                g.extend(f[2..].iter().map(|s| s.to_string()));
                g.join(" ")
            })
            .collect();
        v.sort();
        v
    };
    let negative = r.answer.is_empty();
    (
        r.status.clone(),
        strip(&r.answer),
        if negative {
            strip(&r.authority)
        } else {
            Vec::new()
        },
    )
}

#[test]
fn answers_match_unbound_as_a_forwarder() {
    if !peers_present(&["named", "dig", "unbound"]) {
        return;
    }
    let up = internet();
    let t = tandem_with(&format!("upstreams = [\"127.0.0.1:{}\"]\n", up.port));
    let ub = Unbound::start(
        "127.1.1.3",
        &format!(
            "forward-zone:\n  name: \".\"\n  forward-addr: 127.0.0.1@{}\n",
            up.port
        ),
        "",
    );
    let corpus: &[(&str, &str)] = &[
        ("www.example.test", "A"),
        ("www.example.test", "TXT"),
        ("www.example.test", "AAAA"),
        ("www.example.test", "MX"),
        ("example.test", "MX"),
        ("example.test", "NS"),
        ("example.test", "SOA"),
        ("mail.example.test", "A"),
        ("alias.example.test", "A"),
        ("alias2.example.test", "A"),
        ("alias.example.test", "CNAME"),
        ("v6.example.test", "AAAA"),
        ("v6.example.test", "A"),
        ("nope.example.test", "A"),
        ("deep.nope.example.test", "TXT"),
        ("UPPER.example.test", "A"),
        ("big.example.test", "A"),
        ("a.other.test", "A"),
        ("srv.other.test", "SRV"),
        ("txt.other.test", "TXT"),
        ("missing.other.test", "A"),
        ("other.test", "AAAA"),
        ("www.example.test", "A"),
        ("nope.example.test", "A"),
    ];
    let mut checked = 0;
    for (name, rtype) in corpus {
        for extra in [&[][..], &["+dnssec"][..]] {
            let mut args = vec![*name, *rtype];
            args.extend_from_slice(extra);
            let ours = ask("127.0.0.1", t.port, &args);
            let theirs = ask("127.1.1.3", ub.port, &args);
            assert_eq!(
                essence(&ours),
                essence(&theirs),
                "{name} {rtype} {extra:?}\n-- tandem:\n{}\n-- unbound:\n{}",
                ours.raw,
                theirs.raw
            );
            checked += 1;
        }
    }
    assert_eq!(checked, corpus.len() * 2);
}

/// Unbound on `addr`, with `extra` (forward zones) and `server_extra`
/// lines in its `server:` clause.
struct Unbound {
    _proc: Proc,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Unbound {
    fn start(addr: &str, extra: &str, server_extra: &str) -> Unbound {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let conf = format!(
            "server:\n  interface: {addr}@{port}\n  port: {port}\n  do-daemonize: no\n  username: \"\"\n  chroot: \"\"\n  directory: \"{d}\"\n  pidfile: \"\"\n  use-syslog: no\n  logfile: \"\"\n  verbosity: 1\n  num-threads: 1\n  do-not-query-localhost: no\n  access-control: 127.0.0.0/8 allow\n  module-config: \"iterator\"\n  qname-minimisation: no\n  do-ip6: no\n  local-zone: \"test.\" nodefault\n{server_extra}\nremote-control:\n  control-enable: no\n{extra}",
            d = dir.path().display()
        );
        let path = dir.path().join("unbound.conf");
        std::fs::write(&path, conf).unwrap();
        let mut cmd = Command::new(which("unbound").expect("unbound"));
        cmd.arg("-d").arg("-c").arg(&path);
        let proc = Proc::spawn("unbound", cmd, "start of service");
        Unbound {
            _proc: proc,
            port,
            _dir: dir,
        }
    }
}

/// A CA and a server certificate for `name`, made with openssl.
fn certificates(dir: &Path, name: &str) {
    let sh = format!(
        "set -e; cd {d}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=tandem-test-ca 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout key.pem -out srv.csr -subj /CN={name} 2>/dev/null
printf 'subjectAltName=DNS:{name}\\nbasicConstraints=CA:FALSE\\nkeyUsage=digitalSignature\\nextendedKeyUsage=serverAuth\\n' > ext
openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out cert.pem -days 2 -extfile ext 2>/dev/null",
        d = dir.display()
    );
    let (ok, out, err) = run(Command::new("sh").arg("-c").arg(sh));
    assert!(ok, "openssl: {out}{err}");
}

#[test]
fn dns_over_tls_upstream_with_verification() {
    if !peers_present(&["named", "dig", "unbound", "openssl"]) {
        return;
    }
    let up = internet();
    let pki = tempfile::tempdir().unwrap();
    certificates(pki.path(), "dot.test");
    let p = pki.path().display();
    let tls_port_line = |port: u16| {
        format!("  tls-port: {port}\n  tls-service-key: \"{p}/key.pem\"\n  tls-service-pem: \"{p}/cert.pem\"\n")
    };
    // Unbound picks its port inside start(); the TLS port must equal it,
    // so start it with a port chosen here.
    let dot_port = free_port();
    let ub = UnboundTls::start("127.1.1.7", dot_port, &tls_port_line(dot_port), up.port);
    let good = tandem_with(&format!(
        "upstreams = [{{ address = \"127.1.1.7:{dot_port}\", tls-name = \"dot.test\" }}]\ntls-ca-file = \"{p}/ca.pem\"\n"
    ));
    let r = ask("127.0.0.1", good.port, &["www.example.test", "A"]);
    assert_eq!(r.answer_data("A"), vec!["192.0.2.10"], "{}", r.raw);
    let r2 = ask("127.0.0.1", good.port, &["a.other.test", "A"]);
    assert_eq!(r2.answer.len(), 2, "{}", r2.raw);
    // The certificate does not carry this name: no answer, SERVFAIL.
    let wrong = tandem_with(&format!(
        "upstreams = [{{ address = \"127.1.1.7:{dot_port}\", tls-name = \"other.test\" }}]\ntls-ca-file = \"{p}/ca.pem\"\nresolve-timeout-ms = 1000\n"
    ));
    let r = ask("127.0.0.1", wrong.port, &["www.example.test", "A"]);
    assert_eq!(r.status, "SERVFAIL", "{}", r.raw);
    drop(ub);
}

/// Unbound serving DNS over TLS on `addr:port`, forwarding to BIND.
struct UnboundTls {
    _proc: Proc,
    _dir: tempfile::TempDir,
}

impl UnboundTls {
    fn start(addr: &str, port: u16, tls: &str, upstream_port: u16) -> UnboundTls {
        let dir = tempfile::tempdir().unwrap();
        let conf = format!(
            "server:\n  interface: {addr}@{port}\n  do-daemonize: no\n  username: \"\"\n  chroot: \"\"\n  directory: \"{d}\"\n  pidfile: \"\"\n  use-syslog: no\n  logfile: \"\"\n  verbosity: 1\n  num-threads: 1\n  do-not-query-localhost: no\n  access-control: 127.0.0.0/8 allow\n  module-config: \"iterator\"\n  do-ip6: no\n  local-zone: \"test.\" nodefault\n{tls}remote-control:\n  control-enable: no\nforward-zone:\n  name: \".\"\n  forward-addr: 127.0.0.1@{upstream_port}\n",
            d = dir.path().display()
        );
        let path = dir.path().join("unbound.conf");
        std::fs::write(&path, conf).unwrap();
        let mut cmd = Command::new(which("unbound").expect("unbound"));
        cmd.arg("-d").arg("-c").arg(&path);
        let proc = Proc::spawn("unbound-tls", cmd, "start of service");
        UnboundTls {
            _proc: proc,
            _dir: dir,
        }
    }
}
