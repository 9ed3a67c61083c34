//! DHCP as its clients see it: dhclient, udhcpc and dhcpcd, each in its own
//! network namespace, against a server on a bridged lab network
//! (`tandem_testkit::dhcp`). Every scenario is written once, generic over
//! [`ServerUnderTest`]: ISC dhcpd is the reference it must pass against,
//! tandem the server it is for.
//!
//! The network (fixtures/dhcp/dhcpd.conf and fixtures/dhcp/tandem.toml):
//! 192.168.0.0/24 with the server at .254, pool .15-.245, routers .1,
//! domain "home", name servers .254 and .253, option 121
//! `10.8.0.0/24 via 192.168.0.2` (plus the default route), a reservation
//! of 192.168.0.10 for 02:00:00:00:00:10, and 192.168.1.0/24 behind a relay.
//!
//! Each test runs its parts (each in its own lab, with its own server) in
//! parallel threads: they spend their time waiting for clients, and the
//! test harness runs only as many tests at once as there are CPUs.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tandem_testkit::dhcp::{
    run_bounded, wait_until, Client, ClientKind, ClientOptions, Dhcrelay, Host, IscDhcpd, Lab,
    Lease, LeaseState, RootGuard, ServerLease, LEASE_TIMEOUT,
};
use tandem_testkit::{is_root, peers_present, Proc};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/dhcp");

const SERVER: &str = "192.168.0.254";
const SERVER_CIDR: &str = "192.168.0.254/24";
const RELAY_UP_CIDR: &str = "192.168.0.3/24";
const RELAY_UP: &str = "192.168.0.3";
const RELAY_DOWN_CIDR: &str = "192.168.1.1/24";
const RESERVED_MAC: &str = "02:00:00:00:00:10";
const RESERVED_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 10);
/// Owned by a squatter that does not answer pings but does answer ARP.
const SQUATTED: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 50);
/// How long the server may take to write a lease change down.
const SERVER_TIMEOUT: Duration = Duration::from_secs(10);

/// A DHCP server the scenarios run against, started in the lab's server
/// namespace on the fixture network.
trait ServerUnderTest: Sync + Sized {
    /// Short, for namespace names.
    const TAG: &'static str;
    /// Programs it needs besides the clients.
    const PEERS: &'static [&'static str];
    fn start(host: &Host) -> Self;
    /// The server's own record of `addr` (ISC: its lease file; tandem:
    /// `tandem leases`), `None` if it has none.
    fn lease(&self, addr: Ipv4Addr) -> Option<ServerLease>;
    fn proc(&self) -> &Proc;
}

struct Isc(IscDhcpd);

impl ServerUnderTest for Isc {
    const TAG: &'static str = "i";
    const PEERS: &'static [&'static str] = &["dhcpd"];

    fn start(host: &Host) -> Self {
        let conf = std::fs::read_to_string(Path::new(FIXTURES).join("dhcpd.conf"))
            .expect("dhcpd.conf fixture");
        Isc(IscDhcpd::start(host, &conf, &[&host.iface]))
    }

    fn lease(&self, addr: Ipv4Addr) -> Option<ServerLease> {
        self.0.lease(addr)
    }

    fn proc(&self) -> &Proc {
        &self.0.proc
    }
}

/// `tandem serve` with fixtures/dhcp/tandem.toml, in the server namespace.
struct Tandem {
    proc: Proc,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl ServerUnderTest for Tandem {
    const TAG: &'static str = "t";
    const PEERS: &'static [&'static str] = &[];

    fn start(host: &Host) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("state");
        std::fs::create_dir(&state).expect("state dir");
        let conf = std::fs::read_to_string(Path::new(FIXTURES).join("tandem.toml"))
            .expect("tandem.toml fixture")
            .replace("@STATE_DIR@", &state.display().to_string())
            .replace("@IFACE@", &host.iface);
        let path = dir.path().join("tandem.toml");
        std::fs::write(&path, conf).expect("write config");
        let mut cmd = host.command(env!("CARGO_BIN_EXE_tandem"));
        cmd.arg("serve").arg("--config").arg(&path);
        let proc = Proc::spawn(&format!("tandem on {}", host.name), cmd, "tandem ready:");
        host.assert_runs_here(proc.pid());
        Tandem {
            proc,
            // The default control socket, <state-dir>/control.sock: a Unix
            // socket, reachable from outside the namespace.
            socket: state.join("control.sock"),
            _dir: dir,
        }
    }

    /// `tandem leases --json`, as an operator would ask.
    fn lease(&self, addr: Ipv4Addr) -> Option<ServerLease> {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tandem"));
        c.args(["leases", "--json", "--socket"]).arg(&self.socket);
        let (ok, out) = run_bounded(&mut c, Duration::from_secs(10));
        assert!(ok, "tandem leases: {out}");
        let list: Vec<serde_json::Value> =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("tandem leases: {e}: {out}"));
        let want = addr.to_string();
        let l = list.iter().find(|l| l["address"] == want.as_str())?;
        let text = |k: &str| l[k].as_str().map(str::to_string);
        Some(ServerLease {
            address: addr,
            state: LeaseState::parse(l["state"].as_str().unwrap_or("")),
            hardware: text("hardware_address").map(|h| h.to_ascii_lowercase()),
            client_id: text("client_id").map(|h| {
                h.split(':')
                    .filter_map(|b| u8::from_str_radix(b, 16).ok())
                    .collect()
            }),
            hostname: text("hostname"),
        })
    }

    fn proc(&self) -> &Proc {
        &self.proc
    }
}

fn can_run<S: ServerUnderTest>(kind: ClientKind) -> bool {
    if !is_root() {
        eprintln!("skipping: network namespaces need root");
        return false;
    }
    let mut peers = vec!["ip", "mount", "udhcpc", "dhcrelay", kind.program()];
    peers.extend_from_slice(S::PEERS);
    peers_present(&peers)
}

/// A lab with the server on the first segment.
fn lab_with_server<S: ServerUnderTest>(tag: &str) -> (Lab, Host, S) {
    let lab = Lab::new(tag);
    let host = lab.add_host("srv", Some(SERVER_CIDR));
    let server = S::start(&host);
    (lab, host, server)
}

fn in_pool(a: Ipv4Addr) -> bool {
    (Ipv4Addr::new(192, 168, 0, 15)..=Ipv4Addr::new(192, 168, 0, 245)).contains(&a)
}

fn ips(list: &[&str]) -> Vec<Ipv4Addr> {
    list.iter().map(|a| a.parse().unwrap()).collect()
}

/// What every client on the lan must have been given and have installed.
fn assert_lan_lease(lease: &Lease, host: &Host, what: &str) {
    let ctx = format!("{what}: {lease:#?}");
    assert_eq!(lease.prefix, 24, "{ctx}");
    assert_eq!(lease.routers, ips(&["192.168.0.1"]), "{ctx}");
    assert_eq!(lease.dns, ips(&["192.168.0.254", "192.168.0.253"]), "{ctx}");
    assert_eq!(lease.domain.as_deref(), Some("home"), "{ctx}");
    assert_eq!(lease.server_id, Some(SERVER.parse().unwrap()), "{ctx}");
    let t = lease.lease_time.unwrap_or(0);
    assert!(t > 0 && t <= 600, "lease time {t}: {ctx}");
    // Option 121 as the client decoded it, and as it ended up in the
    // namespace's routing table.
    assert!(
        lease
            .offered_routes
            .iter()
            .any(|r| r.to_string() == "10.8.0.0/24 via 192.168.0.2"),
        "{ctx}"
    );
    assert!(lease.has_route("10.8.0.0/24", "192.168.0.2"), "{ctx}");
    assert!(lease.has_route("0.0.0.0/0", "192.168.0.1"), "{ctx}");
    let cidr = format!("{}/24", lease.address);
    assert!(
        host.addresses().contains(&cidr),
        "{cidr} not on {}: {ctx}",
        host.name
    );
}

/// Polls the server's lease record for `addr` until `want` holds.
fn wait_server_lease<S: ServerUnderTest>(
    server: &S,
    addr: Ipv4Addr,
    what: &str,
    want: impl Fn(&ServerLease) -> bool,
) -> ServerLease {
    wait_until(
        SERVER_TIMEOUT,
        || format!("{what}: server has {:?}", server.lease(addr)),
        || server.lease(addr).filter(|l| want(l)),
    )
}

/// A lease, options, a renewal that keeps the address, a release that
/// frees it (the server says so, and another client asking for that very
/// address gets it).
fn lease_renew_release<S: ServerUnderTest>(kind: ClientKind, tag: &str) {
    let (lab, _srv, server) = lab_with_server::<S>(tag);
    let host = lab.add_host("cl", None);
    let mut client = Client::start(kind, &host, ClientOptions::default());
    let lease = client.wait_lease(LEASE_TIMEOUT);
    assert!(in_pool(lease.address), "{lease:#?}");
    assert_lan_lease(&lease, &host, "first lease");
    host.assert_runs_here(client.pid());
    wait_server_lease(&server, lease.address, "lease is active", |l| {
        l.state == LeaseState::Active && l.hardware.as_deref() == Some(host.mac.as_str())
    });

    let renewed = client.renew(LEASE_TIMEOUT);
    assert_eq!(
        renewed.address, lease.address,
        "renewal changed the address"
    );
    assert_lan_lease(&renewed, &host, "renewed lease");

    client.release(LEASE_TIMEOUT);
    let cidr = format!("{}/24", lease.address);
    assert!(
        !host.addresses().contains(&cidr),
        "{cidr} still configured after release"
    );
    wait_server_lease(&server, lease.address, "lease freed by the release", |l| {
        l.state.is_available()
    });

    // What a user sees of "freed": another machine asking for exactly that
    // address gets it.
    let other = lab.add_host("other", None);
    let opts = ClientOptions {
        request_address: Some(lease.address),
        ..Default::default()
    };
    let mut asker = Client::start(ClientKind::Udhcpc, &other, opts);
    let got = asker.wait_lease(LEASE_TIMEOUT);
    assert_eq!(
        got.address, lease.address,
        "released address not given to another client"
    );
}

/// The reserved MAC gets its fixed address, with the lan's options.
fn reservation<S: ServerUnderTest>(kind: ClientKind, tag: &str) {
    let (lab, _srv, _server) = lab_with_server::<S>(tag);
    let host = lab.add_host_with_mac("resv", None, RESERVED_MAC);
    let mut client = Client::start(kind, &host, ClientOptions::default());
    let lease = client.wait_lease(LEASE_TIMEOUT);
    assert_eq!(lease.address, RESERVED_IP, "{lease:#?}");
    assert_lan_lease(&lease, &host, "reserved lease");
}

/// A host name, a client identifier and a lease time sent by the client
/// reach the server and are honoured; with the short lease the client
/// renews by itself (unicast, at T1) and keeps its address.
fn requested_options<S: ServerUnderTest>(kind: ClientKind, tag: &str) {
    let (lab, _srv, server) = lab_with_server::<S>(tag);
    let host = lab.add_host("opts", None);
    let client_id = "ff:00:00:00:2a:00:01:02:03:04:05:06";
    let opts = ClientOptions {
        hostname: Some("laptop".to_string()),
        client_id: Some(client_id.to_string()),
        lease_time: Some(20),
        ..Default::default()
    };
    let mut client = Client::start(kind, &host, opts);
    let lease = client.wait_lease(LEASE_TIMEOUT);
    assert!(in_pool(lease.address), "{lease:#?}");
    assert_eq!(
        lease.lease_time,
        Some(20),
        "requested lease time not granted"
    );
    let id: Vec<u8> = client_id
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect();
    wait_server_lease(
        &server,
        lease.address,
        "hostname and client id recorded",
        |l| l.hostname.as_deref() == Some("laptop") && l.client_id.as_deref() == Some(&id[..]),
    );
    // T1 is half of 20 s; allow for the clients' jitter.
    let renewed = client.wait_event(&["renew"], Duration::from_secs(25));
    assert_eq!(
        renewed.fields.get("address").map(String::as_str),
        Some(lease.address.to_string().as_str()),
        "{renewed:?}"
    );
}

/// A client on a second segment is served through dhcrelay from the
/// subnet that contains the relay's address.
fn relayed<S: ServerUnderTest>(kind: ClientKind, tag: &str) {
    let lab = Lab::new(tag);
    let far = lab.add_segment();
    let srv = lab.add_host("srv", Some(SERVER_CIDR));
    srv.exec(&["ip", "route", "add", "192.168.1.0/24", "via", RELAY_UP]);
    let server = S::start(&srv);
    let relay_host = lab.add_host("relay", Some(RELAY_UP_CIDR));
    let down = relay_host.add_interface(&far, Some(RELAY_DOWN_CIDR));
    let relay = Dhcrelay::start(&relay_host, SERVER, &relay_host.iface, &down);

    let host = lab.add_host_on(&far, "far", None, None);
    let mut client = Client::start(kind, &host, ClientOptions::default());
    let lease = client.wait_lease(LEASE_TIMEOUT);
    let ctx = format!("{lease:#?}\nrelay:\n{}", relay.proc.output());
    assert!(
        (Ipv4Addr::new(192, 168, 1, 100)..=Ipv4Addr::new(192, 168, 1, 200))
            .contains(&lease.address),
        "{ctx}"
    );
    assert_eq!(lease.prefix, 24, "{ctx}");
    assert_eq!(lease.routers, ips(&["192.168.1.1"]), "{ctx}");
    assert_eq!(lease.dns, ips(&["192.168.0.254", "192.168.0.253"]), "{ctx}");
    assert_eq!(lease.domain.as_deref(), Some("home"), "{ctx}");
    assert_eq!(lease.server_id, Some(SERVER.parse().unwrap()), "{ctx}");
    assert!(lease.has_route("0.0.0.0/0", "192.168.1.1"), "{ctx}");
    // No option 121 on this subnet.
    assert!(!lease.has_route("10.8.0.0/24", "192.168.0.2"), "{ctx}");
    let forwarded = format!("Forwarded BOOTREPLY for {}", host.mac);
    assert!(relay.proc.output().contains(&forwarded), "{ctx}");
    wait_server_lease(&server, lease.address, "relayed lease is active", |l| {
        l.state == LeaseState::Active
    });
}

/// A client that finds its offered address already in use (ARP) declines
/// it and ends up with another; the server takes the address out of
/// service. The squatter ignores pings, so the server's own ping check
/// cannot see it and only the client's ARP check does.
fn decline<S: ServerUnderTest>(kind: ClientKind, tag: &str) {
    let (lab, _srv, server) = lab_with_server::<S>(tag);
    let squatter = lab.add_host("squat", Some(&format!("{SQUATTED}/24")));
    squatter.exec(&["sysctl", "-q", "-w", "net.ipv4.icmp_echo_ignore_all=1"]);
    let host = lab.add_host("decl", None);
    let opts = ClientOptions {
        request_address: Some(SQUATTED),
        arp_check: Some(true),
        ..Default::default()
    };
    let mut client = Client::start(kind, &host, opts);
    client.wait_output(kind.decline_log_line(), LEASE_TIMEOUT);
    let lease = client.wait_lease(LEASE_TIMEOUT);
    assert_ne!(lease.address, SQUATTED, "{lease:#?}");
    assert!(in_pool(lease.address), "{lease:#?}");
    assert_lan_lease(&lease, &host, "lease after the decline");
    wait_server_lease(&server, SQUATTED, "declined address abandoned", |l| {
        l.state == LeaseState::Abandoned
    });
    // Another client asking for it (without an ARP check) is not given it.
    let other = lab.add_host("other", None);
    let opts = ClientOptions {
        request_address: Some(SQUATTED),
        ..Default::default()
    };
    let mut asker = Client::start(ClientKind::Udhcpc, &other, opts);
    let got = asker.wait_lease(LEASE_TIMEOUT);
    assert_ne!(got.address, SQUATTED, "declined address handed out again");
}

type Part = fn(ClientKind, &str);

/// Runs every part for `kind` against `S`, in parallel, then checks that
/// the root namespace was not touched.
fn scenario<S: ServerUnderTest>(kind: ClientKind) {
    if !can_run::<S>(kind) {
        return;
    }
    let root = RootGuard::capture();
    let k = match kind {
        ClientKind::Dhclient => "dhcl",
        ClientKind::Udhcpc => "udhc",
        ClientKind::Dhcpcd => "dcpd",
    };
    let mut parts: Vec<(&str, Part)> = vec![
        ("lrr", lease_renew_release::<S>),
        ("resv", reservation::<S>),
        ("opts", requested_options::<S>),
        ("relay", relayed::<S>),
    ];
    if kind.can_arp_check() {
        parts.push(("decl", decline::<S>));
    }
    let failed: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = parts
            .iter()
            .map(|(name, part)| {
                let tag = format!("{}{k}{name}", S::TAG);
                let thread = format!("{} {name}", kind.program());
                let h = std::thread::Builder::new()
                    .name(thread)
                    .spawn_scoped(s, move || part(kind, &tag))
                    .expect("spawn");
                (*name, h)
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|(name, h)| h.join().is_err().then(|| name.to_string()))
            .collect()
    });
    assert!(
        failed.is_empty(),
        "{} parts failed: {failed:?}",
        kind.program()
    );
    root.check();
}

#[test]
fn isc_dhcpd_serves_dhclient() {
    scenario::<Isc>(ClientKind::Dhclient);
}

#[test]
fn isc_dhcpd_serves_udhcpc() {
    scenario::<Isc>(ClientKind::Udhcpc);
}

#[test]
fn isc_dhcpd_serves_dhcpcd() {
    scenario::<Isc>(ClientKind::Dhcpcd);
}

#[test]
fn tandem_serves_dhclient() {
    scenario::<Tandem>(ClientKind::Dhclient);
}

#[test]
fn tandem_serves_udhcpc() {
    scenario::<Tandem>(ClientKind::Udhcpc);
}

#[test]
fn tandem_serves_dhcpcd() {
    scenario::<Tandem>(ClientKind::Dhcpcd);
}

/// The server's process must be in its namespace, and the tandem config
/// must name the interface the lab gave it; cheap checks of the harness
/// itself that need no client.
#[test]
fn lab_keeps_to_its_namespaces() {
    if !can_run::<Isc>(ClientKind::Udhcpc) {
        return;
    }
    let root = RootGuard::capture();
    let (lab, srv, server) = lab_with_server::<Isc>("ilab");
    srv.assert_runs_here(server.proc().pid());
    assert_eq!(srv.addresses(), vec![SERVER_CIDR.to_string()]);
    // The bridge and the veth peers are in the lan namespace, without
    // addresses.
    let (_, out, _) =
        tandem_testkit::run(Command::new("ip").args(["-n", lab.lan_ns(), "-4", "-o", "addr"]));
    assert!(
        out.lines()
            .all(|l| l.split_whitespace().nth(1) == Some("lo")),
        "lan namespace has addresses: {out}"
    );
    // A client's /run, lease directories and resolv.conf are the host's
    // own copies.
    let host = lab.add_host("cl", None);
    let mut c = host.isolated_command("cat");
    c.arg("/proc/self/mountinfo");
    let (ok, mounts) = run_bounded(&mut c, Duration::from_secs(10));
    assert!(ok, "{mounts}");
    for (target, copy) in [
        ("/run", "run"),
        ("/etc/resolv.conf", "resolv.conf"),
        ("/var/lib/dhcp", "dhcp"),
        ("/var/lib/dhcpcd", "dhcpcd"),
    ] {
        if target != "/run" && !Path::new(target).exists() {
            continue;
        }
        // The last mount on a mount point is the one in effect; its root
        // (field 4) is the host's copy, wherever the temp dir lives.
        let top = mounts
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .rfind(|f| f.get(4) == Some(&target));
        let want = format!("/{}/private/{copy}", host.name);
        assert!(
            top.is_some_and(|f| f[3].ends_with(&want)),
            "{target} is not this host's copy:\n{mounts}"
        );
    }
    drop(server);
    drop(host);
    drop(srv);
    drop(lab);
    root.check();
}
