//! tandem's DHCP server in a namespace lab, for what the client scenarios
//! (`dhcp_clients.rs`) do not cover: conflict probing against a squatter,
//! serving two interfaces at once, and a restart that keeps a client's
//! lease.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

mod common;

use common::import_isc;
use tandem_testkit::dhcp::{Client, ClientKind, ClientOptions, Host, Lab, LEASE_TIMEOUT};
use tandem_testkit::{is_root, peers_present, Proc};

fn tandem_bin() -> &'static str {
    env!("CARGO_BIN_EXE_tandem")
}

fn can_run() -> bool {
    is_root() && peers_present(&["udhcpc"])
}

/// Starts tandem in `srv` with `dhcp` (the body of a `[dhcp]` table plus
/// its sub-tables) and a state directory in the lab.
fn start(lab: &Lab, srv: &Host, dhcp: &str) -> Proc {
    let config = lab.dir().join("tandem.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nstate-dir = \"{}\"\n{dhcp}",
            lab.dir().join("state").display()
        ),
    )
    .unwrap();
    let mut c = srv.command(tandem_bin());
    c.args(["serve", "--config"]).arg(&config);
    Proc::spawn("tandem", c, "tandem ready:")
}

fn leases(lab: &Lab) -> Vec<serde_json::Value> {
    let socket = lab.dir().join("state/control.sock");
    let out = Command::new(tandem_bin())
        .args(["leases", "--json", "--socket"])
        .arg(Path::new(&socket))
        .output()
        .expect("tandem leases");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("lease JSON")
}

fn state_of(leases: &[serde_json::Value], addr: &str) -> Option<String> {
    leases
        .iter()
        .find(|l| l["address"] == addr)
        .map(|l| l["state"].as_str().unwrap_or("").to_string())
}

/// A statically configured device sits on the first pool address; the
/// probe finds it, the address is abandoned and the client gets the next.
fn squatter(mode: &str, tag: &str, drops_pings: bool, found: &str) {
    if !can_run() {
        return;
    }
    let lab = Lab::new(tag);
    let srv = lab.add_host("srv", Some("192.168.0.254/24"));
    let squatter = lab.add_host("squat", Some("192.168.0.15/24"));
    if drops_pings {
        squatter.exec(&["sysctl", "-qw", "net.ipv4.icmp_echo_ignore_all=1"]);
    }
    let cli = lab.add_host("cli", None);
    let mut tandem = start(
        &lab,
        &srv,
        &format!(
            "[dhcp]\ninterfaces = [\"{}\"]\nconflict-detection = \"{mode}\"\nconflict-timeout-ms = 400\n\
             [[dhcp.subnet]]\nsubnet = \"192.168.0.0/24\"\n[[dhcp.subnet.pool]]\nrange = \"192.168.0.15 - 192.168.0.17\"\n",
            srv.iface
        ),
    );
    let mut c = Client::start(ClientKind::Udhcpc, &cli, ClientOptions::default());
    let lease = c.wait_lease(LEASE_TIMEOUT);
    assert_eq!(
        lease.address,
        Ipv4Addr::new(192, 168, 0, 16),
        "the squatter's address was offered"
    );
    tandem.wait_for(
        &format!("{found} while probing 192.168.0.15"),
        Duration::from_secs(5),
    );
    let all = leases(&lab);
    assert_eq!(state_of(&all, "192.168.0.15").as_deref(), Some("abandoned"));
    assert_eq!(state_of(&all, "192.168.0.16").as_deref(), Some("active"));
}

#[test]
fn a_squatter_found_by_ping_is_abandoned_and_skipped() {
    squatter("icmp", "squat", false, "ICMP Echo reply");
}

#[test]
fn a_squatter_that_drops_pings_is_found_by_arp() {
    squatter("arp", "squatarp", true, "ARP reply");
}

#[test]
fn two_interfaces_serve_their_own_subnets() {
    if !can_run() {
        return;
    }
    let lab = Lab::new("twoif");
    let srv = lab.add_host("srv", Some("192.168.0.254/24"));
    let second = lab.add_segment();
    let srv_b = srv.add_interface(&second, Some("192.168.1.254/24"));
    let cli_a = lab.add_host("clia", None);
    let cli_b = lab.add_host_on(&second, "clib", None, None);
    let _tandem = start(
        &lab,
        &srv,
        &format!(
            "[dhcp]\ninterfaces = [\"{}\", \"{srv_b}\"]\nconflict-detection = \"none\"\n\
             [[dhcp.subnet]]\nsubnet = \"192.168.0.0/24\"\n[dhcp.subnet.options]\nrouters = \"192.168.0.1\"\n\
             [[dhcp.subnet.pool]]\nrange = \"192.168.0.100 - 192.168.0.110\"\n\
             [[dhcp.subnet]]\nsubnet = \"192.168.1.0/24\"\n[dhcp.subnet.options]\nrouters = \"192.168.1.1\"\n\
             [[dhcp.subnet.pool]]\nrange = \"192.168.1.100 - 192.168.1.110\"\n",
            srv.iface
        ),
    );
    let mut a = Client::start(ClientKind::Udhcpc, &cli_a, ClientOptions::default());
    let mut b = Client::start(ClientKind::Udhcpc, &cli_b, ClientOptions::default());
    let la = a.wait_lease(LEASE_TIMEOUT);
    let lb = b.wait_lease(LEASE_TIMEOUT);
    assert_eq!(la.address, Ipv4Addr::new(192, 168, 0, 100));
    assert_eq!(la.routers, vec![Ipv4Addr::new(192, 168, 0, 1)]);
    assert_eq!(la.server_id, Some(Ipv4Addr::new(192, 168, 0, 254)));
    assert_eq!(lb.address, Ipv4Addr::new(192, 168, 1, 100));
    assert_eq!(lb.routers, vec![Ipv4Addr::new(192, 168, 1, 1)]);
    assert_eq!(lb.server_id, Some(Ipv4Addr::new(192, 168, 1, 254)));
}

#[test]
fn a_restart_keeps_the_lease_and_the_renewal_is_acked() {
    if !can_run() {
        return;
    }
    let lab = Lab::new("restart");
    let srv = lab.add_host("srv", Some("192.168.0.254/24"));
    let cli = lab.add_host("cli", None);
    let dhcp = format!(
        "[dhcp]\ninterfaces = [\"{}\"]\nconflict-detection = \"none\"\n\
         [[dhcp.subnet]]\nsubnet = \"192.168.0.0/24\"\n[[dhcp.subnet.pool]]\nrange = \"192.168.0.15 - 192.168.0.245\"\n",
        srv.iface
    );
    let mut tandem = start(&lab, &srv, &dhcp);
    let mut c = Client::start(ClientKind::Udhcpc, &cli, ClientOptions::default());
    let first = c.wait_lease(LEASE_TIMEOUT);
    // A crash, and the server comes back with the lease from disk.
    tandem.kill9();
    let _tandem = start(&lab, &srv, &dhcp);
    assert_eq!(
        state_of(&leases(&lab), &first.address.to_string()).as_deref(),
        Some("active")
    );
    let renewed = c.renew(LEASE_TIMEOUT);
    assert_eq!(renewed.address, first.address);
}

/// The seed's dhcpd.conf (with `option routers router.home;`) and a BIND
/// configuration for its `home` zone, imported verbatim and served: the
/// client gets the router's address from the zone, and the seed's options.
#[test]
fn the_seeds_dhcpd_conf_imports_and_serves() {
    if !can_run() {
        return;
    }
    let lab = Lab::new("seedimp");
    let srv = lab.add_host("srv", Some("192.168.0.254/24"));
    let cli = lab.add_host("cli", None);
    let bind = lab.dir().join("bind");
    std::fs::create_dir_all(&bind).unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    std::fs::copy(examples.join("zones/home.zone"), bind.join("home.zone")).unwrap();
    std::fs::write(
        bind.join("named.conf"),
        format!(
            "options {{ directory \"{}\"; listen-on port 5353 {{ 127.0.0.1; }}; }};\n\
             zone \"home\" {{ type master; file \"home.zone\"; }};\n",
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
    // The failover block is translated; this lab has no partner for it,
    // so the pool is served by this node alone (a lone failover primary
    // would wait for its partner, as dhcpd does: docs/failover.md).
    let config = out_dir.join("tandem.toml");
    let toml = std::fs::read_to_string(&config).unwrap();
    assert!(toml.contains("[[dhcp.failover]]"), "{toml}");
    std::fs::write(
        &config,
        toml.replace("failover-peer = \"dhcp-failover\"\n", ""),
    )
    .unwrap();
    let mut c = srv.command(tandem_bin());
    c.args(["serve", "--config"])
        .arg(out_dir.join("tandem.toml"));
    let _tandem = Proc::spawn("tandem", c, "tandem ready:");
    let mut client = Client::start(ClientKind::Udhcpc, &cli, ClientOptions::default());
    let lease = client.wait_lease(LEASE_TIMEOUT);
    assert_eq!(
        lease.routers,
        vec![Ipv4Addr::new(192, 168, 0, 1)],
        "router.home from the zone"
    );
    assert_eq!(
        lease.dns,
        vec![
            Ipv4Addr::new(192, 168, 0, 254),
            Ipv4Addr::new(192, 168, 0, 253)
        ]
    );
    assert_eq!(lease.domain.as_deref(), Some("home"));
    assert!((15..=245).contains(&lease.address.octets()[3]));
}

/// `import-isc --leases`: a client keeps the address ISC dhcpd gave it. The
/// lease file is one dhcpd 4.4.3 wrote: 192.168.0.21 is active until 2037
/// for 00:11:22:33:44:55 with uid 01:00:11:22:33:44:55, which is the
/// client identifier udhcpc sends for that MAC.
#[test]
fn imported_isc_leases_keep_their_clients_addresses() {
    if !can_run() {
        return;
    }
    let lab = Lab::new("leaseimp");
    let srv = lab.add_host("srv", Some("192.168.0.254/24"));
    let cli = lab.add_host_with_mac("cli", None, "00:11:22:33:44:55");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../isc/tests/fixtures/dhcp");
    let out_dir = lab.dir().join("imported");
    let text = import_isc([
        "--dhcpd-conf".as_ref(),
        fixtures.join("dhcpd.conf").as_os_str(),
        "--leases".as_ref(),
        fixtures.join("dhcpd.leases").as_os_str(),
        "--interface".as_ref(),
        srv.iface.as_ref(),
        "--out".as_ref(),
        out_dir.as_os_str(),
    ]);
    // The seed's dhcpd.conf names router.home, which only a served zone
    // can resolve; replace it by its address for a DHCP-only node.
    let config = out_dir.join("tandem.toml");
    let toml = std::fs::read_to_string(&config)
        .unwrap_or_else(|e| panic!("{e}: {text}"))
        .replace("routers = \"router.home\"", "routers = \"192.168.0.1\"")
        // No partner in this lab: the pool is served by this node alone.
        .replace("failover-peer = \"dhcp-failover\"\n", "")
        .replace(
            "conflict-detection = \"icmp\"",
            "conflict-detection = \"none\"",
        );
    std::fs::write(&config, toml).unwrap();
    assert!(text.contains("imported"), "{text}");
    let mut c = srv.command(tandem_bin());
    c.args(["serve", "--config"]).arg(&config);
    let mut tandem = Proc::spawn("tandem", c, "tandem ready:");
    tandem.wait_for("imported", Duration::from_secs(5));
    let mut client = Client::start(ClientKind::Udhcpc, &cli, ClientOptions::default());
    let lease = client.wait_lease(LEASE_TIMEOUT);
    assert_eq!(lease.address, Ipv4Addr::new(192, 168, 0, 21));
}

/// A packet with broken options is counted and dropped; the server goes on.
#[test]
fn a_malformed_packet_is_counted_and_dropped() {
    if !can_run() || !peers_present(&["python3"]) {
        return;
    }
    let lab = Lab::new("garbage");
    let srv = lab.add_host("srv", Some("192.168.0.254/24"));
    let cli = lab.add_host("cli", Some("192.168.0.99/24"));
    let _tandem = start(
        &lab,
        &srv,
        &format!(
            "[dhcp]\ninterfaces = [\"{}\"]\nconflict-detection = \"none\"\n\
             [[dhcp.subnet]]\nsubnet = \"192.168.0.0/24\"\n[[dhcp.subnet.pool]]\nrange = \"192.168.0.15 - 192.168.0.20\"\n",
            srv.iface
        ),
    );
    // A BOOTREQUEST with the cookie and an option whose length runs past
    // the end of the packet.
    let send = "import socket\n\
        p = bytes([1, 1, 6, 0]) + bytes(232) + bytes([99, 130, 83, 99, 53, 1, 1, 12, 200, 65])\n\
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
        s.sendto(p, ('192.168.0.254', 67))\n";
    cli.exec(&["python3", "-c", send]);
    let socket = lab.dir().join("state/control.sock");
    tandem_testkit::dhcp::wait_until(
        Duration::from_secs(5),
        || "no malformed packet counted".into(),
        || {
            let out = Command::new(tandem_bin())
                .args(["status", "--socket"])
                .arg(&socket)
                .output()
                .ok()?;
            String::from_utf8_lossy(&out.stdout)
                .contains("1 malformed")
                .then_some(())
        },
    );
    // And it still serves.
    let cli2 = lab.add_host("cli2", None);
    let mut c = Client::start(ClientKind::Udhcpc, &cli2, ClientOptions::default());
    assert_eq!(
        c.wait_lease(LEASE_TIMEOUT).address,
        Ipv4Addr::new(192, 168, 0, 15)
    );
}

/// Without CAP_NET_ADMIN (no ARP-table entry possible), a reply to a client
/// that has no address yet still goes unicast to its hardware address and
/// offered address (RFC 2131 §4.1), through the packet socket
/// (CAP_NET_RAW), rather than falling back to broadcast.
#[test]
fn replies_to_an_address_less_client_are_unicast_without_net_admin() {
    if !can_run() || !peers_present(&["setpriv"]) {
        return;
    }
    let lab = Lab::new("rawuni");
    let srv = lab.add_host("srv", Some("192.168.0.254/24"));
    let cli = lab.add_host("cli", None);
    let config = lab.dir().join("tandem.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nstate-dir = \"{}\"\n[dhcp]\ninterfaces = [\"{}\"]\nconflict-detection = \"none\"\n\
             [[dhcp.subnet]]\nsubnet = \"192.168.0.0/24\"\n[[dhcp.subnet.pool]]\nrange = \"192.168.0.50 - 192.168.0.60\"\n",
            lab.dir().join("state").display(),
            srv.iface
        ),
    )
    .unwrap();
    // Root without CAP_NET_ADMIN: SIOCSARP is refused.
    let mut c = srv.command("setpriv");
    c.args([
        "--bounding-set",
        "-net_admin",
        "--inh-caps",
        "-net_admin",
        "--",
    ])
    .arg(tandem_bin())
    .args(["serve", "--config"])
    .arg(&config)
    .env("TANDEM_LOG", "tandem_server::dhcp=debug,info");
    let mut tandem = Proc::spawn("tandem", c, "tandem ready:");
    let mut client = Client::start(ClientKind::Udhcpc, &cli, ClientOptions::default());
    let lease = client.wait_lease(LEASE_TIMEOUT);
    assert!(lease.address >= Ipv4Addr::new(192, 168, 0, 50));
    tandem.wait_for(
        &format!(
            "reply to {} unicast to its hardware address through the packet socket",
            lease.address
        ),
        Duration::from_secs(5),
    );
    let log = tandem.output();
    assert!(!log.contains("broadcasting"), "{log}");
}
