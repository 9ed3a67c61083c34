//! Leases in DNS in a failover pair of two tandem nodes, in a namespace
//! lab: srv1 192.168.0.254 (primary), srv2 192.168.0.253 (secondary, and
//! the DNS primary of both zones, tandem's own DNS), a dhclient on the
//! same bridge whose MAC the primary serves under `split 128`.
//!
//! 1. The client gets a lease and its name from the primary: the names
//!    are published once, by the primary, and the lease reaches the
//!    secondary's store with its host name (tandem's extension of the
//!    binding update).
//! 2. The client and the primary die (kill -9: no release); the secondary
//!    goes partner-down by the operator's command.
//! 3. The lease expires on the secondary, which then withdraws the A,
//!    DHCID and PTR records the primary published (dig: NXDOMAIN).
//!
//! The same with an ISC dhcpd 4.4 primary (`ddns-update-style standard`,
//! publishing into tandem's DNS): ISC sends no names, so the survivor
//! reads the name back from the address's PTR (a query signed with the
//! reverse zone's key) and withdraws it under the client's DHCID.
//!
//! And with the survivor restarted (kill -9, then start) while the
//! expired lease waits out partner-down's MCLT (30 s here): the wait is
//! derived again at start from the lease store and the relationship's
//! state file, to the same second, and the names go when it is over.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tandem_dhcp::failover::bucket;
use tandem_testkit::dhcp::{
    run_bounded, wait_until, Client, ClientKind, ClientOptions, Host, IscDhcpd, Lab, LEASE_TIMEOUT,
};
use tandem_testkit::dns::{parse_dig, DigResult};
use tandem_testkit::{is_root, peers_present, Proc};

const NAME: &str = "dhcp-failover";
const PRIMARY: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 254);
const SECONDARY: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 253);
const MD5_SECRET: &str = "cGFpci1leGFtcGxlLWtleS1kby1ub3QtdXNl";
const SHA256_SECRET: &str = "cmV2ZXJzZS16b25lLWtleS1mb3ItdGhlLXRlc3RzIQ==";
const PAIR_TIMEOUT: Duration = Duration::from_secs(30);
const DNS_TIMEOUT: Duration = Duration::from_secs(15);
/// The lease (12 s), the partner's potential expiry and the MCLT (10 s)
/// after partner-down, then the withdrawal itself.
const WITHDRAW_TIMEOUT: Duration = Duration::from_secs(60);

fn tandem_bin() -> &'static str {
    env!("CARGO_BIN_EXE_tandem")
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/zones")
}

/// The MCLT, except in the restart test: long enough that the survivor is
/// restarted (and through its 15 s of startup) inside the wait.
const MCLT: u32 = 10;
const RESTART_MCLT: u32 = 30;

/// One node's configuration. `dns`: this node serves the two zones.
fn config(lab: &Lab, host: &Host, primary: bool, dns: bool, mclt: u32) -> (PathBuf, String) {
    let dir = lab.dir().join(&host.name);
    std::fs::create_dir_all(&dir).unwrap();
    let (me, peer) = if primary {
        (PRIMARY, SECONDARY)
    } else {
        (SECONDARY, PRIMARY)
    };
    let mut t = format!(
        "[server]\nstate-dir = \"{}\"\n\n\
         [[key]]\nname = \"DHCP_UPDATER\"\nalgorithm = \"hmac-md5\"\nsecret = \"{MD5_SECRET}\"\n\n\
         [[key]]\nname = \"REV_UPDATER\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SHA256_SECRET}\"\n",
        dir.join("state").display()
    );
    if dns {
        let zones = dir.join("zones");
        std::fs::create_dir_all(&zones).unwrap();
        for f in ["home.zone", "db.0.168.192.in-addr.arpa"] {
            std::fs::copy(examples().join(f), zones.join(f)).unwrap();
        }
        t.push_str(&format!(
            "\n[dns]\nlisten = [\"{me}:53\"]\n\n\
             [[zone]]\nname = \"home\"\nfile = \"{z}/home.zone\"\nallow-update = [\"key DHCP_UPDATER\"]\n\n\
             [[zone]]\nname = \"0.168.192.in-addr.arpa\"\nfile = \"{z}/db.0.168.192.in-addr.arpa\"\nallow-update = [\"key REV_UPDATER\"]\n",
            z = zones.display()
        ));
    }
    let primary_only = if primary {
        format!("mclt = {mclt}\nsplit = 128\n")
    } else {
        String::new()
    };
    t.push_str(&format!(
        "\n[dhcp]\ninterfaces = [\"{iface}\"]\nconflict-detection = \"none\"\n\
         default-lease-time = 12\nmax-lease-time = 12\n\n\
         [dhcp.options]\ndomain-name = \"home\"\ndomain-name-servers = \"{SECONDARY}\"\n\n\
         [[dhcp.failover]]\nname = \"{NAME}\"\nrole = \"{role}\"\naddress = \"{me}\"\nport = 647\n\
         peer-address = \"{peer}\"\npeer-port = 647\nmax-response-delay = 5\nmax-unacked-updates = 10\n\
         load-balance-max-seconds = 3\n{primary_only}\n\
         [[dhcp.subnet]]\nsubnet = \"192.168.0.0/24\"\n[[dhcp.subnet.pool]]\nrange = \"192.168.0.15 - 192.168.0.34\"\nfailover-peer = \"{NAME}\"\n\n\
         [ddns]\nddns-domainname = \"home\"\nretry-max = 1\ntimeout-ms = 500\n\n\
         [[ddns.zone]]\nname = \"home.\"\nprimary = \"{SECONDARY}\"\nkey = \"DHCP_UPDATER\"\n\n\
         [[ddns.zone]]\nname = \"0.168.192.in-addr.arpa.\"\nprimary = \"{SECONDARY}\"\nkey = \"REV_UPDATER\"\n",
        iface = host.iface,
        role = if primary { "primary" } else { "secondary" },
    ));
    (dir, t)
}

/// The ISC primary's dhcpd.conf: the pair's settings, and its names into
/// tandem's DNS on the secondary.
fn isc_config() -> String {
    format!(
        "authoritative;\nping-check false;\ndefault-lease-time 12;\nmax-lease-time 12;\n\
         ddns-update-style standard;\nddns-domainname \"home.\";\n\
         key DHCP_UPDATER {{ algorithm hmac-md5; secret \"{MD5_SECRET}\"; }};\n\
         key REV_UPDATER {{ algorithm hmac-sha256; secret \"{SHA256_SECRET}\"; }};\n\
         zone home. {{ primary {SECONDARY}; key DHCP_UPDATER; }}\n\
         zone 0.168.192.in-addr.arpa. {{ primary {SECONDARY}; key REV_UPDATER; }}\n\
         failover peer \"{NAME}\" {{\n  primary;\n  address {PRIMARY};\n  port 647;\n  peer address {SECONDARY};\n\
           peer port 647;\n  max-response-delay 5;\n  max-unacked-updates 10;\n  load balance max seconds 3;\n\
           mclt 10;\n  split 128;\n}}\n\
         subnet 192.168.0.0 netmask 255.255.255.0 {{\n  option domain-name \"home\";\n\
           pool {{\n    range 192.168.0.15 192.168.0.34;\n    failover peer \"{NAME}\";\n  }}\n}}\n"
    )
}

fn start(lab: &Lab, host: &Host, primary: bool, dns: bool, mclt: u32) -> (PathBuf, Proc) {
    let (dir, text) = config(lab, host, primary, dns, mclt);
    let path = dir.join("tandem.toml");
    std::fs::write(&path, text).unwrap();
    let mut c = host.command(tandem_bin());
    c.args(["serve", "--config"]).arg(&path);
    let p = Proc::spawn(&format!("tandem on {}", host.name), c, "tandem ready:");
    host.assert_runs_here(p.pid());
    (dir, p)
}

fn dig(host: &Host, args: &[&str]) -> DigResult {
    let mut c = host.command("dig");
    c.arg(format!("@{SECONDARY}"))
        .args(["+norec", "+time=2", "+tries=1", "+nocookie"])
        .args(args);
    let (_, out) = run_bounded(&mut c, Duration::from_secs(10));
    parse_dig(&out)
}

/// Waits until `dig` of `name`/`rtype` answers `want` (empty: none).
fn wait_answer(
    host: &Host,
    name: &str,
    rtype: &str,
    want: &[String],
    timeout: Duration,
) -> DigResult {
    let last = std::cell::RefCell::new(DigResult::default());
    wait_until(
        timeout,
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
            let r = dig(host, &args);
            let mut got = r.answer_data(rtype);
            got.sort();
            let ok = got == want && !r.status.is_empty();
            *last.borrow_mut() = r.clone();
            ok.then_some(r)
        },
    )
}

fn control(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(tandem_bin())
        .args(args)
        .arg("--socket")
        .arg(dir.join("state/control.sock"))
        .output()
        .expect("tandem");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The host name the node's store has for `addr`.
fn stored_hostname(dir: &Path, addr: Ipv4Addr) -> Option<String> {
    let (ok, out) = control(dir, &["leases", "--json"]);
    if !ok {
        return None;
    }
    let v: Vec<serde_json::Value> = serde_json::from_str(&out).ok()?;
    v.iter()
        .find(|l| l["address"].as_str() == Some(&addr.to_string()))
        .and_then(|l| l["hostname"].as_str().map(str::to_string))
}

/// A MAC dhclient (no client identifier: the hash is over chaddr) is
/// served with by the primary.
fn primary_mac() -> String {
    (0..=255u8)
        .map(|n| [0x02, 0x21, 0x7a, 0x00, 0x01, n])
        .find(|m| bucket(m) < 128)
        .map(|m| {
            m.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        })
        .unwrap()
}

fn s(v: impl ToString) -> String {
    v.to_string()
}

#[test]
fn the_survivor_withdraws_the_names_of_its_dead_partners_leases() {
    survivor_withdraws(false, false, "foddns");
}

#[test]
fn the_survivor_withdraws_the_names_of_its_dead_isc_partners_leases() {
    survivor_withdraws(true, false, "foddnsi");
}

#[test]
fn a_restarted_survivor_still_withdraws_them_after_the_wait() {
    survivor_withdraws(false, true, "foddnsr");
}

fn survivor_withdraws(isc: bool, restart: bool, tag: &str) {
    let mclt = if restart { RESTART_MCLT } else { MCLT };
    let mut peers = vec!["dhclient", "dig"];
    if isc {
        peers.push("dhcpd");
    }
    if !(is_root() && peers_present(&peers)) {
        return;
    }
    let lab = Lab::new(tag);
    let srv1 = lab.add_host("srv1", Some("192.168.0.254/24"));
    let srv2 = lab.add_host("srv2", Some("192.168.0.253/24"));
    let cli = lab.add_host_with_mac("cli", None, &primary_mac());
    let (dir_b, mut b) = start(&lab, &srv2, false, true, mclt);
    let mut isc_a = None;
    let mut tandem_a = None;
    if isc {
        isc_a = Some(IscDhcpd::start(&srv1, &isc_config(), &[&srv1.iface]));
    } else {
        tandem_a = Some(start(&lab, &srv1, true, false, mclt));
    }
    let a: &mut Proc = match (&mut isc_a, &mut tandem_a) {
        (Some(i), _) => &mut i.proc,
        (_, Some((_, p))) => p,
        _ => unreachable!(),
    };
    let normal = format!("failover peer {NAME}: Both servers normal");
    a.wait_for(&normal, PAIR_TIMEOUT);
    b.wait_for(&normal, PAIR_TIMEOUT);
    for p in [&*a, &b] {
        assert!(
            !p.output().contains("configuration differs"),
            "{}",
            p.output()
        );
    }

    let mut c = Client::start(
        ClientKind::Dhclient,
        &cli,
        ClientOptions {
            hostname: Some("laptop".into()),
            ..ClientOptions::default()
        },
    );
    let lease = c.wait_lease(LEASE_TIMEOUT);
    assert_eq!(lease.server_id, Some(PRIMARY), "{}", c.output());
    let addr = lease.address;
    wait_answer(&srv2, "laptop.home", "A", &[s(addr)], DNS_TIMEOUT);
    wait_answer(&srv2, &s(addr), "PTR", &[s("laptop.home.")], DNS_TIMEOUT);
    a.wait_for(
        &format!("Added new forward map from laptop.home. to {addr}"),
        Duration::from_secs(5),
    );
    if !isc {
        // The host name travelled with the binding update.
        wait_until(
            Duration::from_secs(10),
            || format!("the secondary never stored laptop for {addr}"),
            || (stored_hostname(&dir_b, addr).as_deref() == Some("laptop")).then_some(()),
        );
        let dir_a = lab.dir().join("srv1");
        assert!(stored_hostname(&dir_a, addr).as_deref() == Some("laptop"));
    }
    // Published once, by the primary.
    assert!(
        !b.output().contains("Added new forward map"),
        "{}",
        b.output()
    );

    // The client and the primary die without a word.
    drop(c);
    a.kill9();
    b.wait_for(
        &format!("failover peer {NAME}: I move from normal to communications-interrupted"),
        PAIR_TIMEOUT,
    );
    let (ok, out) = control(&dir_b, &["failover", "partner-down"]);
    assert!(ok, "{out}");
    b.wait_for(
        &format!("failover peer {NAME}: I move from communications-interrupted to partner-down"),
        Duration::from_secs(5),
    );

    if restart {
        // The lease expires here and waits for partner-down's MCLT.
        let waits = format!("DDNS: {addr} ended here in partner-down; its names wait until ");
        b.wait_for(&waits, WITHDRAW_TIMEOUT);
        let until = |out: &str| {
            out.lines()
                .find_map(|l| l.split(&waits).nth(1))
                .and_then(|rest| rest.split_whitespace().next())
                .map(str::to_string)
                .unwrap()
        };
        let first = until(&b.output());
        let r = dig(&srv2, &["laptop.home", "A"]);
        assert_eq!(r.answer_data("A"), vec![s(addr)], "{}", r.raw);
        // Killed inside the wait, and started again (its DNS with it).
        b.kill9();
        let (_, again) = start(&lab, &srv2, false, true, mclt);
        b = again;
        b.wait_for(&waits, Duration::from_secs(5));
        assert_eq!(until(&b.output()), first, "{}", b.output());
        let r = dig(&srv2, &["laptop.home", "A"]);
        assert_eq!(
            r.answer_data("A"),
            vec![s(addr)],
            "the names stand until the wait is over: {}\n{}",
            r.raw,
            b.output()
        );
    }
    wait_answer(&srv2, "laptop.home", "A", &[], WITHDRAW_TIMEOUT);
    // The guard goes in the next update, once no address is left.
    wait_answer(&srv2, "laptop.home", "DHCID", &[], DNS_TIMEOUT);
    let gone = dig(&srv2, &["laptop.home", "A"]);
    assert_eq!(gone.status, "NXDOMAIN", "A and DHCID gone: {}", gone.raw);
    let gone = wait_answer(&srv2, &s(addr), "PTR", &[], DNS_TIMEOUT);
    assert_eq!(gone.status, "NXDOMAIN", "{}", gone.raw);
    b.wait_for(
        &format!("Removed forward map from laptop.home. to {addr}"),
        Duration::from_secs(5),
    );
    if isc {
        // ISC sent no name: the survivor read it back from the PTR.
        b.wait_for(
            &format!("DDNS: {addr} ended here and its partner sent no name; DNS says laptop.home."),
            Duration::from_secs(1),
        );
    }
}
