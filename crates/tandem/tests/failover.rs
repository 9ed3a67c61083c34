//! Failover pairs with real servers and real clients, in a namespace lab
//! shaped like the seed: srv1 192.168.0.254 (primary), srv2 192.168.0.253
//! (secondary), clients on the same bridge, the seed's `failover peer
//! "dhcp-failover"` settings with short timers (MCLT 10 s, 12 s leases,
//! max-response-delay 5 s).
//!
//! Three pairs: tandem + tandem, tandem primary + ISC dhcpd 4.4 secondary,
//! ISC dhcpd primary + tandem secondary. Each:
//!
//! 1. both reach normal, with the log lines the seed quotes;
//! 2. clients (udhcpc and dhclient) are split per `split 128`: the server
//!    identifier of each lease is the server the RFC 3074 hash of the
//!    client's identifier (or MAC) names;
//! 3. every lease granted by one server is in the other's store;
//! 4. `kill -9` of the secondary, then later of the primary: the survivor
//!    logs the move to communications-interrupted, renews every client
//!    (those of the dead server rebind to it), and serves a new client of
//!    the dead server's half from its own share; restarted, the dead
//!    server and the survivor return to normal and the two stores agree.
//!
//! And: tandem's automatic partner-down (not while the partner's host
//! answers ARP; once it is gone); a cut of the failover link while clients
//! come and go, healed without an address held twice (tandem primary, ISC
//! secondary); an ISC pair whose secondary is replaced by a fresh tandem.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use tandem_dhcp::failover::bucket;
use tandem_testkit::dhcp::{
    wait_until, Client, ClientKind, ClientOptions, Host, IscDhcpd, Lab, LeaseState, LEASE_TIMEOUT,
};
use tandem_testkit::{is_root, peers_present, Proc};

const NAME: &str = "dhcp-failover";
const PRIMARY: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 254);
const SECONDARY: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 253);
const MCLT: u32 = 10;
const LEASE_TIME: u32 = 12;
/// Long enough for a client of a dead server to reach its rebinding time
/// (7/8 of 12 s) and be answered by the survivor.
const REBIND_TIMEOUT: Duration = Duration::from_secs(30);
/// Pairing, reconnecting after a restart.
const PAIR_TIMEOUT: Duration = Duration::from_secs(30);

fn tandem_bin() -> &'static str {
    env!("CARGO_BIN_EXE_tandem")
}

fn can_run() -> bool {
    is_root() && peers_present(&["dhcpd", "udhcpc", "dhclient"])
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Tandem,
    Isc,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    Primary,
    Secondary,
}

impl Role {
    fn me(self) -> Ipv4Addr {
        match self {
            Role::Primary => PRIMARY,
            Role::Secondary => SECONDARY,
        }
    }

    fn peer(self) -> Ipv4Addr {
        match self {
            Role::Primary => SECONDARY,
            Role::Secondary => PRIMARY,
        }
    }
}

fn tandem_config(role: Role, iface: &str, state: &std::path::Path, extra: &str) -> String {
    let primary_only = if role == Role::Primary {
        format!("mclt = {MCLT}\nsplit = 128\n")
    } else {
        String::new()
    };
    format!(
        r#"[server]
state-dir = "{state}"

[dhcp]
interfaces = ["{iface}"]
conflict-detection = "none"
default-lease-time = {LEASE_TIME}
max-lease-time = {LEASE_TIME}

[[dhcp.failover]]
name = "{NAME}"
role = "{role}"
address = "{me}"
port = 647
peer-address = "{peer}"
peer-port = 647
max-response-delay = 5
max-unacked-updates = 10
load-balance-max-seconds = 3
{primary_only}{extra}
[[dhcp.subnet]]
subnet = "192.168.0.0/24"
[[dhcp.subnet.pool]]
range = "192.168.0.15 - 192.168.0.34"
failover-peer = "{NAME}"
"#,
        state = state.display(),
        role = if role == Role::Primary {
            "primary"
        } else {
            "secondary"
        },
        me = role.me(),
        peer = role.peer(),
    )
}

/// The seed's dhcpd.conf failover block and pool, with the test's timers.
fn isc_config(role: Role) -> String {
    let (which, primary_only) = match role {
        Role::Primary => ("primary", format!("  mclt {MCLT};\n  split 128;\n")),
        Role::Secondary => ("secondary", String::new()),
    };
    format!(
        r#"authoritative;
ddns-update-style none;
ping-check false;
default-lease-time {LEASE_TIME};
max-lease-time {LEASE_TIME};
failover peer "{NAME}" {{
  {which};
  address {me};
  port 647;
  peer address {peer};
  peer port 647;
  max-response-delay 5;
  max-unacked-updates 10;
  load balance max seconds 3;
{primary_only}}}
subnet 192.168.0.0 netmask 255.255.255.0 {{
  pool {{
    range 192.168.0.15 192.168.0.34;
    failover peer "{NAME}";
  }}
}}
"#,
        me = role.me(),
        peer = role.peer(),
    )
}

/// A lease in a server's own store.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Stored {
    state: String,
    mac: Option<String>,
    client_id: Option<Vec<u8>>,
}

/// One server of the pair.
struct Node<'l> {
    kind: Kind,
    role: Role,
    host: &'l Host,
    dir: PathBuf,
    tandem: Option<Proc>,
    isc: Option<IscDhcpd>,
    /// Output of runs that have ended (before a restart).
    old_output: String,
}

impl<'l> Node<'l> {
    fn start(kind: Kind, role: Role, lab: &Lab, host: &'l Host) -> Node<'l> {
        Node::start_with(kind, role, lab, host, "")
    }

    /// `extra`: more lines for tandem's `[[dhcp.failover]]`.
    fn start_with(kind: Kind, role: Role, lab: &Lab, host: &'l Host, extra: &str) -> Node<'l> {
        let dir = lab.dir().join(format!("{}-{}", host.name, role_name(role)));
        std::fs::create_dir_all(&dir).unwrap();
        let mut n = Node {
            kind,
            role,
            host,
            dir,
            tandem: None,
            isc: None,
            old_output: String::new(),
        };
        match kind {
            Kind::Tandem => {
                let config = n.dir.join("tandem.toml");
                std::fs::write(
                    &config,
                    tandem_config(role, &host.iface, &n.dir.join("state"), extra),
                )
                .unwrap();
                n.spawn_tandem();
            }
            Kind::Isc => {
                n.isc = Some(IscDhcpd::start(host, &isc_config(role), &[&host.iface]));
            }
        }
        n
    }

    fn spawn_tandem(&mut self) {
        let mut c = self.host.command(tandem_bin());
        c.args(["serve", "--config"])
            .arg(self.dir.join("tandem.toml"));
        let p = Proc::spawn(&format!("tandem on {}", self.host.name), c, "tandem ready:");
        self.host.assert_runs_here(p.pid());
        self.tandem = Some(p);
    }

    fn proc(&self) -> &Proc {
        match self.kind {
            Kind::Tandem => self.tandem.as_ref().expect("running"),
            Kind::Isc => &self.isc.as_ref().expect("running").proc,
        }
    }

    fn output(&self) -> String {
        format!("{}{}", self.old_output, self.proc().output())
    }

    fn describe(&self) -> String {
        format!(
            "{:?} {:?} on {}; output:\n{}",
            self.kind,
            self.role,
            self.host.name,
            self.output()
        )
    }

    /// Waits until `needle` has been printed `n` times in all runs.
    fn wait_line(&self, needle: &str, n: usize, timeout: Duration) {
        wait_until(
            timeout,
            || format!("{needle:?} not seen {n} times: {}", self.describe()),
            || (self.output().matches(needle).count() >= n).then_some(()),
        );
    }

    fn kill9(&mut self) {
        self.old_output.push_str(&self.proc().output());
        self.old_output.push('\n');
        match self.kind {
            Kind::Tandem => self.tandem.as_mut().unwrap().kill9(),
            Kind::Isc => self.isc.as_mut().unwrap().proc.kill9(),
        }
    }

    fn restart(&mut self) {
        match self.kind {
            Kind::Tandem => self.spawn_tandem(),
            Kind::Isc => {
                let iface = self.host.iface.clone();
                self.isc.as_mut().unwrap().restart(self.host, &[&iface]);
            }
        }
    }

    fn address(&self) -> Ipv4Addr {
        self.role.me()
    }

    /// The server's own lease database.
    fn store(&self) -> BTreeMap<Ipv4Addr, Stored> {
        match self.kind {
            Kind::Tandem => {
                let socket = self.dir.join("state/control.sock");
                let out = Command::new(tandem_bin())
                    .args(["leases", "--json", "--socket"])
                    .arg(&socket)
                    .output()
                    .expect("tandem leases");
                if !out.status.success() {
                    return BTreeMap::new();
                }
                let v: Vec<serde_json::Value> =
                    serde_json::from_slice(&out.stdout).expect("lease JSON");
                v.iter()
                    .map(|l| {
                        let addr = l["address"].as_str().unwrap().parse().unwrap();
                        let client_id = l["client_id"].as_str().map(|h| {
                            h.split(':')
                                .map(|b| u8::from_str_radix(b, 16).unwrap())
                                .collect()
                        });
                        (
                            addr,
                            Stored {
                                state: l["state"].as_str().unwrap().to_string(),
                                mac: l["hardware_address"].as_str().map(str::to_string),
                                client_id,
                            },
                        )
                    })
                    .collect()
            }
            Kind::Isc => self
                .isc
                .as_ref()
                .unwrap()
                .leases()
                .into_iter()
                .map(|(a, l)| {
                    let state = match l.state {
                        LeaseState::Active => "active".to_string(),
                        LeaseState::Free => "free".to_string(),
                        LeaseState::Released => "released".to_string(),
                        LeaseState::Expired => "expired".to_string(),
                        LeaseState::Abandoned => "abandoned".to_string(),
                        LeaseState::Other(s) => s,
                    };
                    (
                        a,
                        Stored {
                            state,
                            mac: l.hardware,
                            client_id: l.client_id,
                        },
                    )
                })
                .collect(),
        }
    }

    /// The addresses this server may allocate in its own right (FREE for
    /// the primary, BACKUP for the secondary), as its store shows them.
    fn own_share(&self) -> Vec<Ipv4Addr> {
        let want = match self.role {
            Role::Primary => "free",
            Role::Secondary => "backup",
        };
        let store = self.store();
        (15..=34u8)
            .map(|n| Ipv4Addr::new(192, 168, 0, n))
            .filter(|a| match store.get(a) {
                Some(l) => l.state == want,
                // An address never touched is FREE.
                None => self.role == Role::Primary,
            })
            .collect()
    }
}

fn role_name(r: Role) -> &'static str {
    match r {
        Role::Primary => "primary",
        Role::Secondary => "secondary",
    }
}

/// A MAC (with the lab's prefix) whose client the primary serves under
/// `split 128` (or the secondary, if `primary` is false), as the client
/// `kind` identifies itself: udhcpc sends a client identifier of type 1
/// and its MAC, dhclient none (the hash is over chaddr).
fn mac_for(prefix: u8, kind: ClientKind, primary: bool, skip: usize) -> String {
    (0..=255u8)
        .map(|n| [0x02, prefix, 0x7a, 0x00, 0x01, n])
        .filter(|m| {
            let b = match kind {
                ClientKind::Udhcpc => bucket(&[&[1u8][..], &m[..]].concat()),
                _ => bucket(m),
            };
            (b < 128) == primary
        })
        .nth(skip)
        .map(|m| {
            m.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        })
        .expect("enough MACs")
}

/// Which server the hash gives a client: over its stored identifier if it
/// sent one, else over its MAC.
fn expected_server(l: &Stored) -> Ipv4Addr {
    let key: Vec<u8> = match &l.client_id {
        Some(id) => id.clone(),
        None => l
            .mac
            .as_deref()
            .expect("a MAC")
            .split(':')
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect(),
    };
    if bucket(&key) < 128 {
        PRIMARY
    } else {
        SECONDARY
    }
}

/// Waits until `node`'s store has `addr` active for `mac`.
fn wait_active(node: &Node<'_>, addr: Ipv4Addr, mac: &str) -> Stored {
    wait_until(
        Duration::from_secs(10),
        || {
            format!(
                "{addr} is not active for {mac} in the store of {:?} {:?}: {:?}",
                node.kind,
                node.role,
                node.store().get(&addr)
            )
        },
        || {
            node.store()
                .get(&addr)
                .filter(|l| l.state == "active" && l.mac.as_deref() == Some(mac))
                .cloned()
        },
    )
}

/// Waits for the client's next lease from `server` (skipping renewals
/// with the other one that were already under way).
fn wait_lease_from(c: &mut Client<'_>, server: Ipv4Addr, timeout: Duration) -> Ipv4Addr {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let l = c.wait_lease(left.max(Duration::from_millis(1)));
        if l.server_id == Some(server) {
            return l.address;
        }
    }
}

struct Running<'h> {
    client: Client<'h>,
    mac: String,
    address: Ipv4Addr,
}

/// The whole scenario for one pair.
/// `dhcpcd`: add a dhcpcd client, whose identifier (a DUID) it makes up
/// itself, so either server may be its own.
fn pair(primary: Kind, secondary: Kind, tag: &str, prefix: u8, dhcpcd: bool) {
    if !can_run() {
        return;
    }
    let lab = Lab::new(tag);
    let srv1 = lab.add_host("srv1", Some("192.168.0.254/24"));
    let srv2 = lab.add_host("srv2", Some("192.168.0.253/24"));
    // Two clients for each server, one of each client program; and one
    // more per server for the outages.
    let plan = [
        (ClientKind::Udhcpc, true, 0),
        (ClientKind::Udhcpc, false, 0),
        (ClientKind::Dhclient, true, 0),
        (ClientKind::Dhclient, false, 0),
    ];
    let mut hosts: Vec<(ClientKind, Host)> = plan
        .iter()
        .enumerate()
        .map(|(i, &(kind, p, skip))| {
            let mac = mac_for(prefix, kind, p, skip);
            (kind, lab.add_host_with_mac(&format!("cli{i}"), None, &mac))
        })
        .collect();
    if dhcpcd && peers_present(&["dhcpcd"]) {
        hosts.push((ClientKind::Dhcpcd, lab.add_host("cli9", None)));
    }
    let late_for_secondary = lab.add_host_with_mac(
        "late2",
        None,
        &mac_for(prefix, ClientKind::Udhcpc, false, 1),
    );
    let late_for_primary =
        lab.add_host_with_mac("late1", None, &mac_for(prefix, ClientKind::Udhcpc, true, 1));

    let mut p = Node::start(primary, Role::Primary, &lab, &srv1);
    let mut s = Node::start(secondary, Role::Secondary, &lab, &srv2);
    for n in [&p, &s] {
        n.wait_line(
            &format!("failover peer {NAME}: Both servers normal"),
            1,
            PAIR_TIMEOUT,
        );
        n.wait_line(
            &format!("failover peer {NAME}: I move from "),
            1,
            PAIR_TIMEOUT,
        );
        assert!(
            n.output().contains(&format!(
                "failover peer {NAME}: I move from recover-done to normal"
            )),
            "{}",
            n.describe()
        );
    }
    // The secondary has its share before any client asks.
    wait_until(
        Duration::from_secs(10),
        || format!("the secondary has no BACKUP addresses: {}", s.describe()),
        || (s.own_share().len() >= 8).then_some(()),
    );

    // Clients, split per `split 128`.
    let mut running: Vec<Running<'_>> = Vec::new();
    for (kind, host) in &hosts {
        let mut client = Client::start(*kind, host, ClientOptions::default());
        let lease = client.wait_lease(LEASE_TIMEOUT);
        let server = lease.server_id.expect("a server identifier");
        let granting = if server == PRIMARY { &p } else { &s };
        let other = if server == PRIMARY { &s } else { &p };
        let mine = wait_active(granting, lease.address, &host.mac);
        assert_eq!(
            server,
            expected_server(&mine),
            "{kind:?} {} was answered by the wrong server",
            host.mac
        );
        // The partner heard of it.
        wait_active(other, lease.address, &host.mac);
        running.push(Running {
            client,
            mac: host.mac.clone(),
            address: lease.address,
        });
    }
    assert!(running
        .iter()
        .any(|r| expected_server(&p.store()[&r.address]) == PRIMARY));
    assert!(running
        .iter()
        .any(|r| expected_server(&p.store()[&r.address]) == SECONDARY));
    let lb = format!(": load balance to peer {NAME}");
    assert!(p.output().contains(&lb), "{}", p.describe());
    assert!(s.output().contains(&lb), "{}", s.describe());

    // The secondary dies, then the primary; each time the other carries on.
    outage(&mut s, &mut p, &mut running, &late_for_secondary);
    outage(&mut p, &mut s, &mut running, &late_for_primary);
}

fn outage<'h>(
    victim: &mut Node<'_>,
    survivor: &mut Node<'_>,
    running: &mut Vec<Running<'h>>,
    late: &'h Host,
) {
    let count = |n: &Node<'_>, needle: &str| n.output().matches(needle).count();
    let normal = format!("failover peer {NAME}: Both servers normal");
    let back = format!("failover peer {NAME}: I move from communications-interrupted to normal");
    let gone = format!("peer {NAME}: disconnected");
    let (victim_normal, survivor_normal) = (count(victim, &normal), count(survivor, &normal));
    let (survivor_back, survivor_gone) = (count(survivor, &back), count(survivor, &gone));
    let share = survivor.own_share();
    victim.kill9();
    survivor.wait_line(&gone, survivor_gone + 1, PAIR_TIMEOUT);
    survivor.wait_line(
        &format!("failover peer {NAME}: I move from normal to communications-interrupted"),
        1,
        PAIR_TIMEOUT,
    );
    // Every client is renewed by the survivor: its own at their renewal
    // time, the dead server's when they rebind.
    for r in running.iter_mut() {
        let addr = wait_lease_from(&mut r.client, survivor.address(), REBIND_TIMEOUT);
        assert_eq!(addr, r.address, "{} changed address", r.mac);
    }
    // A new client of the dead server's half gets an address of the
    // survivor's own share.
    let mut c = Client::start(ClientKind::Udhcpc, late, ClientOptions::default());
    let lease = c.wait_lease(LEASE_TIMEOUT);
    assert_eq!(lease.server_id, Some(survivor.address()));
    assert!(
        share.contains(&lease.address),
        "{} is not in the survivor's own share {share:?}",
        lease.address
    );
    wait_active(survivor, lease.address, &late.mac);
    running.push(Running {
        client: c,
        mac: late.mac.clone(),
        address: lease.address,
    });

    // Back: both normal, with the seed's recovery lines, and the stores agree.
    victim.restart();
    victim.wait_line(&normal, victim_normal + 1, PAIR_TIMEOUT);
    survivor.wait_line(&back, survivor_back + 1, PAIR_TIMEOUT);
    survivor.wait_line(&normal, survivor_normal + 1, PAIR_TIMEOUT);
    assert!(
        survivor.output().contains(&format!(
            "failover peer {NAME}: peer moves from normal to normal"
        )),
        "{}",
        survivor.describe()
    );
    for r in running.iter() {
        wait_active(victim, r.address, &r.mac);
        wait_active(survivor, r.address, &r.mac);
    }
    // No address is active for two clients across the pair.
    let (a, b) = (victim.store(), survivor.store());
    for (addr, l) in &a {
        if let Some(m) = b.get(addr) {
            if l.state == "active" && m.state == "active" {
                assert_eq!(l.mac, m.mac, "{addr} is active for two clients");
            }
        }
    }
}

#[test]
fn tandem_and_tandem() {
    pair(Kind::Tandem, Kind::Tandem, "fott", 0x11, true);
}

#[test]
fn tandem_primary_with_isc_secondary() {
    pair(Kind::Tandem, Kind::Isc, "foti", 0x12, false);
}

#[test]
fn isc_primary_with_tandem_secondary() {
    pair(Kind::Isc, Kind::Tandem, "foit", 0x13, false);
}

fn control(node: &Node<'_>, args: &[&str]) -> (bool, String) {
    let out = Command::new(tandem_bin())
        .args(args)
        .arg("--socket")
        .arg(node.dir.join("state/control.sock"))
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

/// tandem's automatic partner-down: a partner whose server is dead but
/// whose host still answers ARP on the client network is not declared
/// down; once the host is gone too, the survivor moves to partner-down.
/// And the operator's `tandem failover partner-down` is refused while the
/// partner is connected.
#[test]
fn automatic_partner_down_only_when_the_partners_host_is_gone() {
    if !can_run() {
        return;
    }
    let lab = Lab::new("foauto");
    let srv1 = lab.add_host("srv1", Some("192.168.0.254/24"));
    let srv2 = lab.add_host("srv2", Some("192.168.0.253/24"));
    let auto = "auto-partner-down = 2\n";
    let p = Node::start_with(Kind::Tandem, Role::Primary, &lab, &srv1, auto);
    let mut s = Node::start_with(Kind::Tandem, Role::Secondary, &lab, &srv2, auto);
    let normal = format!("failover peer {NAME}: Both servers normal");
    p.wait_line(&normal, 1, PAIR_TIMEOUT);
    s.wait_line(&normal, 1, PAIR_TIMEOUT);
    let (ok, out) = control(&p, &["failover", "partner-down"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("partner-down refused: the partner is connected and normal"),
        "{out}"
    );
    let (ok, out) = control(&p, &["status"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("my state normal, partner state normal, link up"),
        "{out}"
    );

    // The secondary's server dies; its host is still there.
    s.kill9();
    p.wait_line(
        &format!("failover peer {NAME}: I move from normal to communications-interrupted"),
        1,
        PAIR_TIMEOUT,
    );
    p.wait_line("but answers to ARP on", 1, PAIR_TIMEOUT);
    assert!(
        !p.output()
            .contains("I move from communications-interrupted to partner-down"),
        "{}",
        p.describe()
    );

    // Now the host goes too.
    drop(s);
    drop(srv2);
    p.wait_line("automatic partner-down", 1, PAIR_TIMEOUT);
    p.wait_line(
        &format!("failover peer {NAME}: I move from communications-interrupted to partner-down"),
        1,
        PAIR_TIMEOUT,
    );
    let (ok, out) = control(&p, &["status"]);
    assert!(ok && out.contains("my state partner-down"), "{out}");
    // Alone, it serves a client of the secondary's half.
    let cli = lab.add_host_with_mac("cli", None, &mac_for(0x14, ClientKind::Udhcpc, false, 0));
    let mut c = Client::start(ClientKind::Udhcpc, &cli, ClientOptions::default());
    let lease = c.wait_lease(LEASE_TIMEOUT);
    assert_eq!(lease.server_id, Some(PRIMARY));
}

/// Every client lease both servers show active, with its MAC; panics if
/// the two disagree about an address both show active.
fn agreed_active(a: &Node<'_>, b: &Node<'_>) -> BTreeMap<Ipv4Addr, String> {
    let (x, y) = (a.store(), b.store());
    let mut out = BTreeMap::new();
    for (addr, l) in &x {
        if let Some(m) = y.get(addr) {
            if l.state == "active" && m.state == "active" {
                assert_eq!(l.mac, m.mac, "{addr} is active for two clients");
                out.insert(*addr, l.mac.clone().unwrap_or_default());
            }
        }
    }
    out
}

/// The failover link between the two servers is cut (a blackhole route
/// on each side; the client network stays up) while clients come and go,
/// then healed: both move to communications-interrupted and back, every
/// client acknowledged during the cut is in both stores afterwards, and no
/// address is held by two clients. With an ISC secondary.
#[test]
fn a_cut_failover_link_heals_without_double_allocation() {
    if !can_run() {
        return;
    }
    let lab = Lab::new("focut");
    let srv1 = lab.add_host("srv1", Some("192.168.0.254/24"));
    let srv2 = lab.add_host("srv2", Some("192.168.0.253/24"));
    let prefix = 0x15;
    let before: Vec<Host> = (0..2)
        .map(|i| {
            let mac = mac_for(prefix, ClientKind::Udhcpc, i == 0, 0);
            lab.add_host_with_mac(&format!("old{i}"), None, &mac)
        })
        .collect();
    let during: Vec<Host> = (0..4)
        .map(|i| {
            let mac = mac_for(prefix, ClientKind::Udhcpc, i % 2 == 0, 1 + i / 2);
            lab.add_host_with_mac(&format!("new{i}"), None, &mac)
        })
        .collect();
    let p = Node::start(Kind::Tandem, Role::Primary, &lab, &srv1);
    let s = Node::start(Kind::Isc, Role::Secondary, &lab, &srv2);
    let normal = format!("failover peer {NAME}: Both servers normal");
    p.wait_line(&normal, 1, PAIR_TIMEOUT);
    s.wait_line(&normal, 1, PAIR_TIMEOUT);
    wait_until(
        Duration::from_secs(10),
        || format!("the secondary has no BACKUP addresses: {}", s.describe()),
        || (s.own_share().len() >= 8).then_some(()),
    );
    let mut clients = Vec::new();
    for h in &before {
        let mut c = Client::start(ClientKind::Udhcpc, h, ClientOptions::default());
        let l = c.wait_lease(LEASE_TIMEOUT);
        clients.push((c, h.mac.clone(), l.address));
    }

    // Cut: neither server can reach the other; the clients reach both.
    srv1.exec(&["ip", "route", "add", "blackhole", "192.168.0.253/32"]);
    srv2.exec(&["ip", "route", "add", "blackhole", "192.168.0.254/32"]);
    let interrupted =
        format!("failover peer {NAME}: I move from normal to communications-interrupted");
    p.wait_line(&interrupted, 1, PAIR_TIMEOUT);
    s.wait_line(&interrupted, 1, PAIR_TIMEOUT);
    // Clients come during the cut; each server gives its own addresses.
    for h in &during {
        let mut c = Client::start(ClientKind::Udhcpc, h, ClientOptions::default());
        let l = c.wait_lease(LEASE_TIMEOUT);
        let server = l.server_id.expect("a server identifier");
        let own = if server == PRIMARY { &p } else { &s };
        wait_active(own, l.address, &h.mac);
        clients.push((c, h.mac.clone(), l.address));
    }
    // One of the first clients leaves during the cut.
    let (mut gone, gone_mac, gone_addr) = clients.remove(0);
    gone.release(LEASE_TIMEOUT);

    // Heal.
    srv1.exec(&["ip", "route", "del", "blackhole", "192.168.0.253/32"]);
    srv2.exec(&["ip", "route", "del", "blackhole", "192.168.0.254/32"]);
    let back = format!("failover peer {NAME}: I move from communications-interrupted to normal");
    p.wait_line(&back, 1, PAIR_TIMEOUT);
    s.wait_line(&back, 1, PAIR_TIMEOUT);
    for (_, mac, addr) in &clients {
        wait_active(&p, *addr, mac);
        wait_active(&s, *addr, mac);
    }
    let active = agreed_active(&p, &s);
    for (_, mac, addr) in &clients {
        assert_eq!(active.get(addr), Some(mac), "{addr}");
    }
    assert!(
        active.get(&gone_addr) != Some(&gone_mac),
        "the released {gone_addr} is still active in both stores"
    );
}

/// Migration, the way the issue means it: an ISC pair, then the secondary
/// is replaced by a tandem that starts with no state. The new secondary
/// recovers every binding from the ISC primary (which serves alone in
/// partner-down meanwhile), waits out the MCLT, and the pair is normal
/// again with the clients' leases in tandem's store.
#[test]
fn replacing_an_isc_secondary_by_tandem() {
    if !can_run() {
        return;
    }
    let lab = Lab::new("fomig");
    let srv1 = lab.add_host("srv1", Some("192.168.0.254/24"));
    let srv2 = lab.add_host("srv2", Some("192.168.0.253/24"));
    let prefix = 0x16;
    let hosts: Vec<Host> = (0..2)
        .map(|i| {
            let mac = mac_for(prefix, ClientKind::Udhcpc, i == 0, 0);
            lab.add_host_with_mac(&format!("cli{i}"), None, &mac)
        })
        .collect();
    let late = lab.add_host_with_mac("late", None, &mac_for(prefix, ClientKind::Udhcpc, false, 1));
    let p = Node::start(Kind::Isc, Role::Primary, &lab, &srv1);
    let mut old = Node::start(Kind::Isc, Role::Secondary, &lab, &srv2);
    let normal = format!("failover peer {NAME}: Both servers normal");
    p.wait_line(&normal, 1, PAIR_TIMEOUT);
    old.wait_line(&normal, 1, PAIR_TIMEOUT);
    let mut clients = Vec::new();
    for h in &hosts {
        let mut c = Client::start(ClientKind::Udhcpc, h, ClientOptions::default());
        let l = c.wait_lease(LEASE_TIMEOUT);
        clients.push((c, h.mac.clone(), l.address));
    }
    for (_, mac, addr) in &clients {
        wait_active(&old, *addr, mac);
    }
    // The ISC secondary goes; a tandem takes its place, with no state.
    old.kill9();
    drop(old);
    p.wait_line(
        &format!("failover peer {NAME}: I move from normal to communications-interrupted"),
        1,
        PAIR_TIMEOUT,
    );
    let s = Node::start(Kind::Tandem, Role::Secondary, &lab, &srv2);
    s.wait_line(
        &format!("failover peer {NAME}: I move from startup to recover"),
        1,
        PAIR_TIMEOUT,
    );
    p.wait_line(
        &format!("failover peer {NAME}: I move from communications-interrupted to partner-down"),
        1,
        PAIR_TIMEOUT,
    );
    // The MCLT (10 s) in recover-wait, then normal.
    s.wait_line(&normal, 1, PAIR_TIMEOUT);
    p.wait_line(&normal, 2, PAIR_TIMEOUT);
    for (_, mac, addr) in &clients {
        wait_active(&s, *addr, mac);
    }
    // The new secondary serves its half.
    wait_until(
        Duration::from_secs(20),
        || {
            format!(
                "the new secondary has no BACKUP addresses: {}",
                s.describe()
            )
        },
        || (!s.own_share().is_empty()).then_some(()),
    );
    let mut c = Client::start(ClientKind::Udhcpc, &late, ClientOptions::default());
    let l = c.wait_lease(LEASE_TIMEOUT);
    assert_eq!(l.server_id, Some(SECONDARY), "{}", s.describe());
    wait_active(&p, l.address, &late.mac);
}

/// The operator states: `tandem failover pause` on the secondary stops it
/// answering and sends its partner to communications-interrupted, where it
/// serves the secondary's clients too; `resume` brings both back to
/// normal. `shut-down` sends the partner to partner-down.
#[test]
fn operator_pause_resume_and_shut_down() {
    if !can_run() {
        return;
    }
    let lab = Lab::new("foop");
    let srv1 = lab.add_host("srv1", Some("192.168.0.254/24"));
    let srv2 = lab.add_host("srv2", Some("192.168.0.253/24"));
    let p = Node::start_with(Kind::Tandem, Role::Primary, &lab, &srv1, "");
    let s = Node::start_with(Kind::Tandem, Role::Secondary, &lab, &srv2, "");
    let normal = format!("failover peer {NAME}: Both servers normal");
    p.wait_line(&normal, 1, PAIR_TIMEOUT);
    s.wait_line(&normal, 1, PAIR_TIMEOUT);

    let (ok, out) = control(&s, &["failover", "pause"]);
    assert!(ok && out.contains("now paused"), "{out}");
    p.wait_line(
        &format!("failover peer {NAME}: I move from normal to communications-interrupted"),
        1,
        PAIR_TIMEOUT,
    );
    // The primary alone answers a client of the secondary's half.
    let cli = lab.add_host_with_mac("cli", None, &mac_for(0x16, ClientKind::Udhcpc, false, 0));
    let mut c = Client::start(ClientKind::Udhcpc, &cli, ClientOptions::default());
    assert_eq!(c.wait_lease(LEASE_TIMEOUT).server_id, Some(PRIMARY));

    let (ok, out) = control(&s, &["failover", "resume"]);
    assert!(ok, "{out}");
    p.wait_line(&normal, 2, PAIR_TIMEOUT);
    s.wait_line(&normal, 2, PAIR_TIMEOUT);
    let (ok, out) = control(&s, &["failover", "resume"]);
    assert!(!ok && out.contains("resume refused"), "{out}");

    let (ok, out) = control(&s, &["failover", "shut-down"]);
    assert!(ok && out.contains("now shutdown"), "{out}");
    p.wait_line(
        &format!("failover peer {NAME}: I move from normal to partner-down"),
        1,
        PAIR_TIMEOUT,
    );
}
