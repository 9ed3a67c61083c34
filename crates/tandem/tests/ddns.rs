//! Leases in DNS (issue 5), with real clients in a namespace lab: a
//! client's name and address appear in the forward and reverse zones on
//! tandem's own DNS and on a BIND 9 primary configured like the seed's
//! named.conf.local, signed with hmac-md5 (the seed's key, forward zone) and
//! hmac-sha256 (reverse zone); a release takes them away; a name held by
//! another client or written in the zone file is not taken; an update the
//! DNS could not take (its primary was down, and tandem was killed
//! meanwhile) arrives once it is back; and a client's option 81 is answered
//! with the right flags.
//!
//! Everything runs in the lab's namespaces: tandem, BIND and dig in the
//! server's, the clients in their own.
//!
//! (The failover-pair case, where the survivor withdraws the names of its
//! dead partner's leases, is in `failover_ddns.rs`.)

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

mod common;

use common::import_isc;
use tandem_testkit::dhcp::{
    run_bounded, wait_until, Client, ClientKind, ClientOptions, Host, Lab, LEASE_TIMEOUT,
};
use tandem_testkit::dns::{parse_dig, DigResult};
use tandem_testkit::{is_root, peers_present, Proc};

const MD5_SECRET: &str = "cGFpci1leGFtcGxlLWtleS1kby1ub3QtdXNl";
const SHA256_SECRET: &str = "cmV2ZXJzZS16b25lLWtleS1mb3ItdGhlLXRlc3RzIQ==";
const SRV: &str = "192.168.0.254";
/// BIND's port on the server's loopback.
const BIND_PORT: u16 = 5300;
/// How long a name may take to appear or go.
const DNS_TIMEOUT: Duration = Duration::from_secs(15);

fn tandem_bin() -> &'static str {
    env!("CARGO_BIN_EXE_tandem")
}

fn can_run(clients: &[&str]) -> bool {
    let mut peers = vec!["named", "dig"];
    peers.extend_from_slice(clients);
    is_root() && peers_present(&peers)
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/zones")
}

/// Where the DDNS updates go.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Primary {
    /// tandem's own DNS, on 192.168.0.254:53 (the seed's primary).
    Tandem,
    /// BIND on the server's 127.0.0.1:5300; tandem serves no zone.
    Bind,
    /// A primary that is down (nothing on 127.0.0.1:5301), and BIND as
    /// the secondary.
    BindAsSecondary,
}

const KEYS: &str = r#"
[[key]]
name = "DHCP_UPDATER"
algorithm = "hmac-md5"
secret = "@MD5@"

[[key]]
name = "REV_UPDATER"
algorithm = "hmac-sha256"
secret = "@SHA256@"
"#;

/// tandem's configuration: DHCP on the server's interface for
/// 192.168.0.0/24, the seed's `zone` statements as `[[ddns.zone]]`, and,
/// for `Primary::Tandem`, the seed's two zones.
fn config(lab: &Lab, srv: &Host, primary: Primary, ddns_extra: &str) -> String {
    let state = lab.dir().join("state");
    let mut t = format!("[server]\nstate-dir = \"{}\"\n", state.display());
    t.push_str(
        &KEYS
            .replace("@MD5@", MD5_SECRET)
            .replace("@SHA256@", SHA256_SECRET),
    );
    let servers = match primary {
        Primary::Tandem => {
            let zones = lab.dir().join("zones");
            std::fs::create_dir_all(&zones).unwrap();
            for f in ["home.zone", "db.0.168.192.in-addr.arpa"] {
                std::fs::copy(examples().join(f), zones.join(f)).unwrap();
            }
            t.push_str(&format!(
                "\n[dns]\nlisten = [\"{SRV}:53\"]\n\n\
                 [[zone]]\nname = \"home\"\nfile = \"{z}/home.zone\"\nallow-update = [\"key DHCP_UPDATER\"]\n\n\
                 [[zone]]\nname = \"0.168.192.in-addr.arpa\"\nfile = \"{z}/db.0.168.192.in-addr.arpa\"\nallow-update = [\"key REV_UPDATER\"]\n",
                z = zones.display()
            ));
            format!("primary = \"{SRV}\"")
        }
        Primary::Bind => format!("primary = \"127.0.0.1:{BIND_PORT}\""),
        Primary::BindAsSecondary => {
            format!("primary = \"127.0.0.1:5301\"\nsecondary = \"127.0.0.1:{BIND_PORT}\"")
        }
    };
    t.push_str(&format!(
        "\n[dhcp]\ninterfaces = [\"{iface}\"]\nconflict-detection = \"none\"\ndefault-lease-time = 600\n\
         [dhcp.options]\ndomain-name = \"home\"\ndomain-name-servers = \"{SRV}\"\n\
         [[dhcp.subnet]]\nsubnet = \"192.168.0.0/24\"\n[[dhcp.subnet.pool]]\nrange = \"192.168.0.15 - 192.168.0.60\"\n\n\
         [ddns]\nddns-domainname = \"home\"\nretry-max = 1\ntimeout-ms = 500\n{ddns_extra}\n\
         [[ddns.zone]]\nname = \"home.\"\n{servers}\nkey = \"DHCP_UPDATER\"\n\n\
         [[ddns.zone]]\nname = \"0.168.192.in-addr.arpa.\"\n{servers}\nkey = \"REV_UPDATER\"\n",
        iface = srv.iface
    ));
    t
}

fn start_tandem(lab: &Lab, srv: &Host, text: &str) -> Proc {
    let path = lab.dir().join("tandem.toml");
    std::fs::write(&path, text).unwrap();
    let mut c = srv.command(tandem_bin());
    c.args(["serve", "--config"]).arg(&path);
    Proc::spawn("tandem", c, "tandem ready:")
}

/// BIND in the server's namespace, as the seed's named.conf.local has it:
/// both zones primary, updates allowed with the keys.
fn start_bind(lab: &Lab, srv: &Host) -> Proc {
    start_bind_on(lab, srv, BIND_PORT)
}

fn start_bind_on(lab: &Lab, srv: &Host, port: u16) -> Proc {
    let dir = lab.dir().join("bind");
    std::fs::create_dir_all(&dir).unwrap();
    // A restart keeps the files (and BIND's journals of the updates).
    for f in ["home.zone", "db.0.168.192.in-addr.arpa"] {
        if !dir.join(f).exists() {
            std::fs::copy(examples().join(f), dir.join(f)).unwrap();
        }
    }
    let conf = format!(
        "options {{\n directory \"{d}\";\n listen-on port {port} {{ 127.0.0.1; }};\n listen-on-v6 {{ none; }};\n \
         pid-file none;\n session-keyfile none;\n recursion no;\n dnssec-validation no;\n notify no;\n}};\n\
         controls {{ }};\n\
         key \"DHCP_UPDATER\" {{ algorithm hmac-md5; secret \"{MD5_SECRET}\"; }};\n\
         key \"REV_UPDATER\" {{ algorithm hmac-sha256; secret \"{SHA256_SECRET}\"; }};\n\
         zone \"home\" {{ type master; file \"home.zone\"; allow-update {{ key DHCP_UPDATER; }}; }};\n\
         zone \"0.168.192.in-addr.arpa\" {{ type master; file \"db.0.168.192.in-addr.arpa\"; allow-update {{ key REV_UPDATER; }}; }};\n",
        d = dir.display()
    );
    let path = dir.join("named.conf");
    std::fs::write(&path, conf).unwrap();
    let mut c = srv.command("named");
    c.args(["-g", "-n", "1", "-c"]).arg(&path);
    Proc::spawn("named", c, "all zones loaded")
}

/// dig from the server's namespace.
fn dig(srv: &Host, server: &str, port: u16, args: &[&str]) -> DigResult {
    let mut c = srv.command("dig");
    c.arg(format!("@{server}"))
        .args(["-p", &port.to_string()])
        .args(["+norec", "+time=2", "+tries=1", "+nocookie"])
        .args(args);
    let (_, out) = run_bounded(&mut c, Duration::from_secs(10));
    parse_dig(&out)
}

/// Waits until `dig` of `name`/`rtype` answers `want` (empty: the name
/// has no such records).
/// Waits until `name` has no A record and then until the name itself is
/// gone (its DHCID goes in the update after the A's), returning the last
/// answer, so the caller can assert NXDOMAIN.
fn wait_gone(srv: &Host, at: (&str, u16), name: &str) -> DigResult {
    let mut last = wait_answer(srv, at, name, "A", &[]);
    let deadline = std::time::Instant::now() + DNS_TIMEOUT;
    while last.status != "NXDOMAIN" && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        last = dig(srv, at.0, at.1, &[name, "A"]);
    }
    last
}

fn wait_answer(srv: &Host, at: (&str, u16), name: &str, rtype: &str, want: &[String]) -> DigResult {
    let last = std::cell::RefCell::new(DigResult::default());
    wait_until(
        DNS_TIMEOUT,
        || {
            format!(
                "{name} {rtype} never became {want:?}; last answer:\n{}",
                last.borrow().raw
            )
        },
        || {
            let args: Vec<&str> = if rtype == "PTR" {
                vec!["-x", name]
            } else {
                vec![name, rtype]
            };
            let r = dig(srv, at.0, at.1, &args);
            let mut got = r.answer_data(rtype);
            got.sort();
            let ok = got == want && !r.status.is_empty();
            *last.borrow_mut() = r.clone();
            ok.then_some(r)
        },
    )
}

fn status(lab: &Lab) -> String {
    let out = Command::new(tandem_bin())
        .args(["status", "--socket"])
        .arg(lab.dir().join("state/control.sock"))
        .output()
        .expect("tandem status");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn s(v: impl ToString) -> String {
    v.to_string()
}

/// The issue's first test, for one primary: dhclient with `send host-name
/// "laptop"` gets a lease, its names appear, and go with the release.
fn laptop_in_dns(primary: Primary, tag: &str) {
    if !can_run(&["dhclient"]) {
        return;
    }
    let lab = Lab::new(tag);
    let srv = lab.add_host("srv", Some("192.168.0.254/24"));
    let cli = lab.add_host("cli", None);
    let _bind = (primary != Primary::Tandem).then(|| start_bind(&lab, &srv));
    let mut tandem = start_tandem(&lab, &srv, &config(&lab, &srv, primary, ""));
    let at = match primary {
        Primary::Tandem => (SRV, 53),
        Primary::Bind | Primary::BindAsSecondary => ("127.0.0.1", BIND_PORT),
    };
    let mut c = Client::start(
        ClientKind::Dhclient,
        &cli,
        ClientOptions {
            hostname: Some("laptop".into()),
            ..ClientOptions::default()
        },
    );
    let lease = c.wait_lease(LEASE_TIMEOUT);
    let addr = lease.address;
    wait_answer(&srv, at, "laptop.home", "A", &[s(addr)]);
    wait_answer(&srv, at, &s(addr), "PTR", &[s("laptop.home.")]);
    let dhcid = dig(&srv, at.0, at.1, &["laptop.home", "DHCID"]);
    assert_eq!(dhcid.answer_data("DHCID").len(), 1, "{}", dhcid.raw);
    tandem.wait_for(
        &format!("Added new forward map from laptop.home. to {addr}"),
        Duration::from_secs(5),
    );
    tandem.wait_for(
        &format!(
            "Added reverse map from {}.0.168.192.in-addr.arpa. to laptop.home.",
            addr.octets()[3]
        ),
        Duration::from_secs(5),
    );
    assert!(
        status(&lab).contains("ddns: 1 names in DNS, 0 queued"),
        "{}",
        status(&lab)
    );
    c.release(LEASE_TIMEOUT);
    let gone = wait_gone(&srv, at, "laptop.home");
    assert_eq!(
        gone.status, "NXDOMAIN",
        "A and DHCID both gone: {}",
        gone.raw
    );
    let gone = wait_answer(&srv, at, &s(addr), "PTR", &[]);
    assert_eq!(gone.status, "NXDOMAIN", "{}", gone.raw);
    tandem.wait_for(
        &format!("Removed forward map from laptop.home. to {addr}"),
        Duration::from_secs(5),
    );
}

#[test]
fn a_laptop_gets_its_names_on_tandems_dns() {
    laptop_in_dns(Primary::Tandem, "ddnsown");
}

#[test]
fn a_laptop_gets_its_names_on_a_bind_primary() {
    laptop_in_dns(Primary::Bind, "ddnsbind");
}

/// The seed's `secondary` takes the updates its primary does not answer
/// (BIND's update forwarding on a real secondary is the replication
/// issue's; here the secondary is the one that serves the zone).
#[test]
fn updates_go_to_the_secondary_when_the_primary_is_down() {
    laptop_in_dns(Primary::BindAsSecondary, "ddnssec");
}

/// Two clients ask for "laptop": the first keeps it. A third asks for
/// "nas", which the zone file has: the file's record stays.
#[test]
fn the_first_client_keeps_a_name_and_the_zone_file_keeps_its_own() {
    if !can_run(&["udhcpc"]) {
        return;
    }
    let lab = Lab::new("ddnsconf");
    let srv = lab.add_host("srv", Some("192.168.0.254/24"));
    let mut tandem = start_tandem(&lab, &srv, &config(&lab, &srv, Primary::Tandem, ""));
    let at = (SRV, 53);
    let hosts: Vec<Host> = (1..=3)
        .map(|i| lab.add_host(&format!("c{i}"), None))
        .collect();
    fn client<'h>(h: &'h Host, name: &str) -> Client<'h> {
        Client::start(
            ClientKind::Udhcpc,
            h,
            ClientOptions {
                hostname: Some(name.into()),
                no_classless_routes: true,
                ..ClientOptions::default()
            },
        )
    }
    let mut first = client(&hosts[0], "laptop");
    let a1 = first.wait_lease(LEASE_TIMEOUT).address;
    wait_answer(&srv, at, "laptop.home", "A", &[s(a1)]);
    let mut second = client(&hosts[1], "laptop");
    let a2 = second.wait_lease(LEASE_TIMEOUT).address;
    tandem.wait_for(
        &format!(
            "Forward map from laptop.home. to {a2} FAILED: Has an address record but no DHCID, not mine."
        ),
        Duration::from_secs(10),
    );
    let mut third = client(&hosts[2], "NAS");
    let a3 = third.wait_lease(LEASE_TIMEOUT).address;
    tandem.wait_for(
        &format!("Forward map from nas.home. to {a3} FAILED"),
        Duration::from_secs(10),
    );
    wait_answer(&srv, at, "laptop.home", "A", &[s(a1)]);
    wait_answer(&srv, at, &s(a2), "PTR", &[]);
    wait_answer(&srv, at, &s(a3), "PTR", &[]);
    wait_answer(&srv, at, "nas.home", "A", &[s("192.168.0.10")]);
    let aaaa = dig(&srv, SRV, 53, &["nas.home", "AAAA"]);
    assert_eq!(aaaa.answer_data("AAAA"), vec!["fd00::10"]);
    assert!(
        dig(&srv, SRV, 53, &["nas.home", "DHCID"])
            .answer_data("DHCID")
            .is_empty(),
        "no guard was added to the user's name"
    );
    assert!(status(&lab).contains("2 in conflict"), "{}", status(&lab));
    // The holder leaves: the name goes, and is not handed to the second
    // client behind its back (it gets it at its next renewal).
    first.release(LEASE_TIMEOUT);
    wait_answer(&srv, at, "laptop.home", "A", &[]);
    let renewed = second.renew(LEASE_TIMEOUT);
    assert_eq!(renewed.address, a2);
    wait_answer(&srv, at, "laptop.home", "A", &[s(a2)]);
    wait_answer(&srv, at, &s(a2), "PTR", &[s("laptop.home.")]);
}

/// The primary is down when the lease is granted, and tandem is killed
/// while the update waits: once both are back, the name appears, with no
/// client action.
#[test]
fn a_name_waits_out_a_dns_outage_and_a_crash() {
    if !can_run(&["udhcpc"]) {
        return;
    }
    let lab = Lab::new("ddnsdown");
    let srv = lab.add_host("srv", Some("192.168.0.254/24"));
    let cli = lab.add_host("cli", None);
    let text = config(&lab, &srv, Primary::Bind, "");
    let mut tandem = start_tandem(&lab, &srv, &text);
    let mut c = Client::start(
        ClientKind::Udhcpc,
        &cli,
        ClientOptions {
            hostname: Some("laptop".into()),
            no_classless_routes: true,
            ..ClientOptions::default()
        },
    );
    let addr = c.wait_lease(LEASE_TIMEOUT).address;
    tandem.wait_for("DDNS: cannot update laptop.home.", Duration::from_secs(10));
    wait_until(
        Duration::from_secs(5),
        || format!("the queue is not in tandem status: {}", status(&lab)),
        || status(&lab).contains("waiting to retry").then_some(()),
    );
    tandem.kill9();
    let mut tandem = start_tandem(&lab, &srv, &text);
    let _bind = start_bind(&lab, &srv);
    let at = ("127.0.0.1", BIND_PORT);
    wait_answer(&srv, at, "laptop.home", "A", &[s(addr)]);
    wait_answer(&srv, at, &s(addr), "PTR", &[s("laptop.home.")]);
    tandem.wait_for(
        &format!("Added new forward map from laptop.home. to {addr}"),
        Duration::from_secs(5),
    );
}

/// dhclient sends option 81 (`desk`, S=1, wire encoding) and no host name:
/// the ACK answers S=1 with the name tandem uses, and that name is in DNS.
#[test]
fn the_fqdn_option_is_answered_and_published() {
    if !can_run(&["dhclient"]) {
        return;
    }
    let lab = Lab::new("ddnsfqdn");
    let srv = lab.add_host("srv", Some("192.168.0.254/24"));
    let cli = lab.add_host("cli", None);
    let _tandem = start_tandem(&lab, &srv, &config(&lab, &srv, Primary::Tandem, ""));
    let dir = cli.dir().join("fqdn");
    std::fs::create_dir_all(&dir).unwrap();
    let rec = dir.join("events");
    let script = dir.join("script");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ncase \"$reason\" in BOUND|REBOOT|RENEW)\n\
             printf 'reason=%s address=%s s=%s o=%s e=%s fqdn=%s\\n' \"$reason\" \"$new_ip_address\" \
             \"$new_fqdn_server_update\" \"$new_fqdn_no_client_update\" \"$new_fqdn_encoded\" \"$new_fqdn_fqdn\" >> '{}' ;;\nesac\nexit 0\n",
            rec.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let conf = dir.join("dhclient.conf");
    std::fs::write(
        &conf,
        "send fqdn.fqdn \"desk\";\nsend fqdn.encoded on;\nsend fqdn.server-update on;\n\
         request subnet-mask, routers, domain-name, domain-name-servers;\n",
    )
    .unwrap();
    let p = |f: &str| dir.join(f).display().to_string();
    let mut cmd = cli.isolated_command("dhclient");
    cmd.args(["-4", "-d", "-v", "-sf"]).arg(&script);
    cmd.args(["-lf", &p("leases"), "-pf", &p("pid"), "-cf"])
        .arg(&conf);
    cmd.arg(&cli.iface);
    let _client = Proc::spawn("dhclient", cmd, "");
    let line = wait_until(
        LEASE_TIMEOUT,
        || "dhclient never bound".into(),
        || {
            std::fs::read_to_string(&rec)
                .ok()?
                .lines()
                .next()
                .map(str::to_string)
        },
    );
    let addr: Ipv4Addr = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("address="))
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    // S=1 (the server updates), O=0 (as asked), E=1 (as sent).
    assert!(line.contains(" s=true o=false e=true"), "{line}");
    // The name tandem uses (dhclient prints it without the final dot).
    assert!(line.contains("fqdn=desk.home"), "{line}");
    wait_answer(&srv, (SRV, 53), "desk.home", "A", &[s(addr)]);
    wait_answer(&srv, (SRV, 53), &s(addr), "PTR", &[s("desk.home.")]);
}

/// The seed's own files, imported: its dhcpd.conf (`ddns-update-style
/// standard`, the `zone` statements with key DHCP_UPDATER) and a
/// named.conf like its named.conf.local (both zones, `allow-update { key
/// DHCP_UPDATER; }`). The imported tandem.toml serves DHCP and DNS, and a
/// client's name reaches the zone with no edit.
#[test]
fn the_seeds_dhcpd_conf_and_named_conf_import_into_names_in_dns() {
    if !can_run(&["dhclient"]) {
        return;
    }
    let lab = Lab::new("ddnsimp");
    let srv = lab.add_host("srv", Some("192.168.0.254/24"));
    let cli = lab.add_host("cli", None);
    let bind = lab.dir().join("bind");
    std::fs::create_dir_all(&bind).unwrap();
    for f in ["home.zone", "db.0.168.192.in-addr.arpa"] {
        std::fs::copy(examples().join(f), bind.join(f)).unwrap();
    }
    // The key is the one the fixture dhcpd.conf holds.
    std::fs::write(
        bind.join("named.conf"),
        format!(
            "options {{ directory \"{}\"; listen-on {{ 192.168.0.254; }}; }};\n\
             key \"DHCP_UPDATER\" {{ algorithm hmac-md5; secret \"aG9tZSBkZG5zIP///yBzZWNyZXQh\"; }};\n\
             zone \"home\" {{ type master; file \"home.zone\"; allow-transfer {{ 192.168.0.253; }}; allow-update {{ key DHCP_UPDATER; }}; }};\n\
             zone \"0.168.192.in-addr.arpa\" {{ type master; file \"db.0.168.192.in-addr.arpa\"; allow-transfer {{ 192.168.0.253; }}; allow-update {{ key DHCP_UPDATER; }}; }};\n",
            bind.display()
        ),
    )
    .unwrap();
    let dhcpd_conf =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../isc/tests/fixtures/dhcp/dhcpd.conf");
    let out_dir = lab.dir().join("imported");
    import_isc([
        "--named-conf".as_ref(),
        bind.join("named.conf").as_os_str(),
        "--dhcpd-conf".as_ref(),
        dhcpd_conf.as_os_str(),
        "--interface".as_ref(),
        srv.iface.as_ref(),
        "--out".as_ref(),
        out_dir.as_os_str(),
    ]);
    let toml = std::fs::read_to_string(out_dir.join("tandem.toml")).unwrap();
    assert!(toml.contains("[[ddns.zone]]\nname = \"home.\""), "{toml}");
    // This node runs alone: without its failover partner it would answer
    // only its share of the clients. (DDNS in a failover pair is the
    // failover issue's part of issue 5.)
    let mut alone = String::new();
    let mut skipping = false;
    for line in toml.lines() {
        if line.starts_with('[') {
            skipping = line == "[[dhcp.failover]]";
        }
        if !skipping && !line.starts_with("failover-peer") {
            alone.push_str(line);
            alone.push('\n');
        }
    }
    std::fs::write(out_dir.join("tandem.toml"), alone).unwrap();
    let mut c = srv.command(tandem_bin());
    c.args(["serve", "--config"])
        .arg(out_dir.join("tandem.toml"));
    let mut tandem = Proc::spawn("tandem", c, "tandem ready:");
    let mut client = Client::start(
        ClientKind::Dhclient,
        &cli,
        ClientOptions {
            hostname: Some("laptop".into()),
            ..ClientOptions::default()
        },
    );
    let addr = client.wait_lease(LEASE_TIMEOUT).address;
    wait_answer(&srv, (SRV, 53), "laptop.home", "A", &[s(addr)]);
    wait_answer(&srv, (SRV, 53), &s(addr), "PTR", &[s("laptop.home.")]);
    tandem.wait_for(
        &format!("Added new forward map from laptop.home. to {addr}"),
        Duration::from_secs(5),
    );
}

/// A migration from ISC dhcpd: dhcpd publishes a client's names in BIND
/// (standard style, the seed's kind of zone statements); tandem replaces it
/// with dhcpd's configuration and leases imported, and the names go when
/// the client releases its lease to tandem. Every step is guarded by the
/// DHCID dhcpd wrote, so this passes only if tandem computes dhcpd's DHCID
/// byte for byte.
///
/// `dns_down`: BIND is down while tandem takes over and when the client
/// releases, so tandem never confirmed the names; it withdraws them anyway
/// (guarded) once BIND is back. `style`: dhcpd's `ddns-update-style`
/// (with `interim`, the guard is dhcpd's TXT record, and tandem's must
/// match it byte for byte too).
fn migrate(tag: &str, dns_down: bool, style: &str) {
    if !can_run(&["udhcpc", "dhcpd"]) {
        return;
    }
    let lab = Lab::new(tag);
    let srv = lab.add_host("srv", Some("192.168.0.254/24"));
    let cli = lab.add_host("cli", None);
    // dhcpd's zone statements take no port: BIND on the server's 127.0.0.1:53.
    let mut bind = Some(start_bind_on(&lab, &srv, 53));
    let at = ("127.0.0.1", 53);
    let dir = lab.dir().join("dhcpd");
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("dhcpd.conf");
    std::fs::write(
        &conf,
        format!(
            "ddns-update-style {style};\nddns-domainname \"home.\";\nauthoritative;\nping-check false;\n\
             default-lease-time 600;\nmax-lease-time 600;\n\
             key DHCP_UPDATER {{ algorithm hmac-md5; secret \"{MD5_SECRET}\"; }};\n\
             key REV_UPDATER {{ algorithm hmac-sha256; secret \"{SHA256_SECRET}\"; }};\n\
             zone home. {{ primary 127.0.0.1; key DHCP_UPDATER; }}\n\
             zone 0.168.192.in-addr.arpa. {{ primary 127.0.0.1; key REV_UPDATER; }}\n\
             subnet 192.168.0.0 netmask 255.255.255.0 {{\n  range 192.168.0.15 192.168.0.60;\n  option domain-name \"home\";\n}}\n"
        ),
    )
    .unwrap();
    let leases = dir.join("dhcpd.leases");
    std::fs::write(&leases, "").unwrap();
    let mut cmd = srv.command("dhcpd");
    cmd.args(["-f", "-d", "-4", "-cf"]).arg(&conf);
    cmd.arg("-lf").arg(&leases);
    cmd.arg("-pf").arg(dir.join("dhcpd.pid"));
    cmd.arg(&srv.iface);
    let mut dhcpd = Proc::spawn("dhcpd", cmd, "Server starting service.");
    let mut c = Client::start(
        ClientKind::Udhcpc,
        &cli,
        ClientOptions {
            hostname: Some("laptop".into()),
            no_classless_routes: true,
            ..ClientOptions::default()
        },
    );
    let addr = c.wait_lease(LEASE_TIMEOUT).address;
    wait_answer(&srv, at, "laptop.home", "A", &[s(addr)]);
    wait_answer(&srv, at, &s(addr), "PTR", &[s("laptop.home.")]);
    dhcpd.wait_for(
        &format!("Added new forward map from laptop.home. to {addr}"),
        Duration::from_secs(5),
    );
    if style == "interim" {
        // dhcpd's interim guard: "31" (client identifier) and the MD5.
        let txt = dig(&srv, at.0, at.1, &["laptop.home", "TXT"]).answer_data("TXT");
        assert!(txt.len() == 1 && txt[0].starts_with("\"31"), "{txt:?}");
    }
    let _ = dhcpd.terminate(Duration::from_secs(5));
    if dns_down {
        drop(bind.take());
    }
    // tandem replaces dhcpd, with its configuration and leases.
    let out_dir = lab.dir().join("imported");
    import_isc([
        "--dhcpd-conf".as_ref(),
        conf.as_os_str(),
        "--leases".as_ref(),
        leases.as_os_str(),
        "--interface".as_ref(),
        srv.iface.as_ref(),
        "--out".as_ref(),
        out_dir.as_os_str(),
    ]);
    let mut cmd = srv.command(tandem_bin());
    cmd.args(["serve", "--config"])
        .arg(out_dir.join("tandem.toml"));
    let mut tandem = Proc::spawn("tandem", cmd, "tandem ready:");
    tandem.wait_for("imported 1 leases", Duration::from_secs(5));
    if dns_down {
        tandem.wait_for("DDNS: cannot update laptop.home.", Duration::from_secs(10));
        c.release(LEASE_TIMEOUT);
        tandem.wait_for("DHCPRELEASE of", Duration::from_secs(5));
        bind = Some(start_bind_on(&lab, &srv, 53));
        wait_answer(&srv, at, "laptop.home", "A", &[s(addr)]);
    } else {
        // The take-over, guarded by dhcpd's DHCID.
        tandem.wait_for(
            &format!("Added new forward map from laptop.home. to {addr}"),
            Duration::from_secs(10),
        );
        c.release(LEASE_TIMEOUT);
    }
    assert!(!tandem.output().contains("FAILED"), "{}", tandem.output());
    tandem.wait_for(
        &format!("Removed forward map from laptop.home. to {addr}"),
        Duration::from_secs(10),
    );
    let gone = wait_gone(&srv, at, "laptop.home");
    assert_eq!(
        gone.status, "NXDOMAIN",
        "A and DHCID both gone: {}",
        gone.raw
    );
    wait_answer(&srv, at, &s(addr), "PTR", &[]);
    drop(bind);
}

#[test]
fn names_dhcpd_published_are_taken_over_and_withdrawn_after_a_migration() {
    migrate("ddnsmig", false, "standard");
}

#[test]
fn names_dhcpd_published_are_withdrawn_even_if_dns_was_down_at_the_take_over() {
    migrate("ddnsmigd", true, "standard");
}

#[test]
fn names_dhcpd_published_in_the_interim_style_are_taken_over_and_withdrawn() {
    migrate("ddnsmigi", false, "interim");
}
