//! A DHCP lab made of network namespaces, the DHCP clients people run
//! (ISC dhclient, busybox udhcpc, dhcpcd), and the reference servers
//! (ISC dhcpd, dhcrelay) that tandem's DHCP server is compared with.
//!
//! The layout keeps every packet inside namespaces the test made:
//!
//! ```text
//!   ns "<tag>-lan":  br0 ─┬─ p<n> ══ veth ══ <host>-<n>  (ns "<tag>-<host>")
//!                         └─ ...
//!                    br1 ─── ...   (another segment, e.g. behind a relay)
//! ```
//!
//! The bridges live in the lan namespace and have no address; each host is
//! its own namespace with one veth whose peer is a port of a bridge. Nothing
//! is created in the root namespace: both veth ends are made directly in
//! their namespaces.
//!
//! Clients run with their own configuration, script, lease and pid files in
//! the lab's temporary directory, and inside a private mount namespace
//! ([`Host::isolated_command`]) where `/run`, `/var/lib/dhcp`,
//! `/var/lib/dhcpcd` and `/etc/resolv.conf` are the lab's own copies, so
//! no client can touch this machine's resolver, leases or DUID. The scripts
//! configure the address and routes of the client's interface (inside its
//! namespace) and record one line per event, which [`Client`] reads.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime};

use crate::{run, which, Netns, Proc};

/// How long a client may take to get a lease. dhcpcd's ARP probing and
/// announcing alone takes about 6 s; a relayed or declined exchange more.
pub const LEASE_TIMEOUT: Duration = Duration::from_secs(40);

/// The PATH clients and their scripts run with.
const PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// Numbers interfaces and MACs, unique within this test process.
static SEQ: AtomicU32 = AtomicU32::new(1);

fn next_seq() -> u32 {
    SEQ.fetch_add(1, Ordering::Relaxed)
}

/// Runs `ip ARGS` and panics with its output if it fails.
fn ip(args: &[&str]) {
    let (ok, out, err) = run(Command::new("ip").args(args));
    assert!(ok, "ip {args:?} failed: {out}{err}");
}

/// Polls `f` every 50 ms until it returns `Some`, or panics after
/// `timeout` with `what()` (called only then) as the message.
pub fn wait_until<T>(
    timeout: Duration,
    what: impl FnOnce() -> String,
    mut f: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?}: {}", what());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs a short command to its end, killing it (by PID) if it takes longer
/// than `timeout`. Returns whether it exited successfully, and what it
/// printed (stdout and stderr, in one temporary file).
pub fn run_bounded(cmd: &mut Command, timeout: Duration) -> (bool, String) {
    use std::io::{Read, Seek};
    let mut file = tempfile::tempfile().expect("temp file");
    let stdout = file.try_clone().expect("dup");
    let stderr = file.try_clone().expect("dup");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(stderr));
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break Some(s);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut text = String::new();
    let _ = file.rewind();
    let _ = file.read_to_string(&mut text);
    match status {
        Some(s) => (s.success(), text),
        None => panic!("{cmd:?} did not finish within {timeout:?}; output:\n{text}"),
    }
}

/// One broadcast domain: a bridge in the lab's lan namespace.
#[derive(Clone, Debug)]
pub struct Segment {
    lan: String,
    pub bridge: String,
}

/// The lan namespace with its bridges, and a directory for everything the
/// lab's hosts write. Dropping it removes the namespace (and with it every
/// bridge and veth peer still in it).
pub struct Lab {
    tag: String,
    lan: Netns,
    bridges: AtomicU32,
    dir: tempfile::TempDir,
}

impl Lab {
    /// A lab whose namespaces are named `tt-<tag>-...-<pid>`; `tag` must be
    /// unique among the tests of one process (they run in parallel).
    pub fn new(tag: &str) -> Lab {
        let lan = Netns::new(&format!("{tag}-lan"));
        let dir = tempfile::Builder::new()
            .prefix(&format!("tandem-lab-{tag}-"))
            .tempdir()
            .expect("tempdir");
        // Clients' helpers (dhcpcd's privilege-separated processes) run as
        // other users and must be able to reach their files.
        set_mode(dir.path(), 0o755);
        let lab = Lab {
            tag: tag.to_string(),
            lan,
            bridges: AtomicU32::new(0),
            dir,
        };
        lab.add_segment();
        lab
    }

    /// The first segment, made by [`Lab::new`].
    pub fn segment(&self) -> Segment {
        Segment {
            lan: self.lan.name.clone(),
            bridge: "br0".to_string(),
        }
    }

    /// A new bridge, not connected to the others.
    pub fn add_segment(&self) -> Segment {
        let n = self.bridges.fetch_add(1, Ordering::Relaxed);
        let bridge = format!("br{n}");
        let lan = self.lan.name.as_str();
        ip(&["-n", lan, "link", "add", &bridge, "type", "bridge"]);
        // No spanning tree, no forwarding delay: ports forward at once.
        ip(&[
            "-n",
            lan,
            "link",
            "set",
            &bridge,
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
        ]);
        ip(&["-n", lan, "link", "set", &bridge, "up"]);
        Segment {
            lan: lan.to_string(),
            bridge,
        }
    }

    /// A host on the first segment with a generated MAC and, optionally, a
    /// static address such as `"192.168.0.254/24"`.
    pub fn add_host(&self, name: &str, ip_cidr: Option<&str>) -> Host {
        self.add_host_on(&self.segment(), name, ip_cidr, None)
    }

    /// A host on the first segment with the given MAC.
    pub fn add_host_with_mac(&self, name: &str, ip_cidr: Option<&str>, mac: &str) -> Host {
        self.add_host_on(&self.segment(), name, ip_cidr, Some(mac))
    }

    /// A host on `segment`. `name` is short (up to 8 characters: it is
    /// part of the interface name) and unique in the lab.
    pub fn add_host_on(
        &self,
        segment: &Segment,
        name: &str,
        ip_cidr: Option<&str>,
        mac: Option<&str>,
    ) -> Host {
        assert!(
            !name.is_empty()
                && name.len() <= 8
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
            "host name {name:?}: 1-8 lowercase letters or digits"
        );
        let ns = Netns::new(&format!("{}-{name}", self.tag));
        let dir = self.dir.path().join(name);
        std::fs::create_dir(&dir).expect("host dir");
        set_mode(&dir, 0o755);
        let host = Host {
            name: name.to_string(),
            ns,
            iface: String::new(),
            mac: String::new(),
            dir,
        };
        let (iface, mac) = host.attach(segment, ip_cidr, mac);
        Host { iface, mac, ..host }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn lan_ns(&self) -> &str {
        &self.lan.name
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// One machine of the lab: a namespace with an interface on a segment.
/// Dropping it deletes the namespace, which deletes its veths too.
pub struct Host {
    pub name: String,
    ns: Netns,
    /// The interface on the segment the host was made on.
    pub iface: String,
    /// That interface's MAC, `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
    dir: PathBuf,
}

impl Host {
    /// Adds an interface on `segment` (a relay's second leg); returns its
    /// name.
    pub fn add_interface(&self, segment: &Segment, ip_cidr: Option<&str>) -> String {
        self.attach(segment, ip_cidr, None).0
    }

    fn attach(
        &self,
        segment: &Segment,
        ip_cidr: Option<&str>,
        mac: Option<&str>,
    ) -> (String, String) {
        let n = next_seq();
        let iface = format!("{}-{n}", self.name);
        assert!(iface.len() <= 15, "interface name {iface} too long");
        let peer = format!("p{n}");
        let mac = match mac {
            Some(m) => m.to_ascii_lowercase(),
            // Locally administered, unicast, unique in this process.
            None => format!(
                "02:74:6b:{:02x}:{:02x}:{:02x}",
                (n >> 16) & 0xff,
                (n >> 8) & 0xff,
                n & 0xff
            ),
        };
        let ns = self.ns.name.as_str();
        // Both ends are created in their own namespaces, never in the root one.
        ip(&[
            "-n",
            ns,
            "link",
            "add",
            &iface,
            "address",
            &mac,
            "type",
            "veth",
            "peer",
            "name",
            &peer,
            "netns",
            &segment.lan,
        ]);
        ip(&[
            "-n",
            &segment.lan,
            "link",
            "set",
            &peer,
            "master",
            &segment.bridge,
        ]);
        ip(&["-n", &segment.lan, "link", "set", &peer, "up"]);
        if let Some(cidr) = ip_cidr {
            ip(&["-n", ns, "addr", "add", cidr, "dev", &iface]);
        }
        ip(&["-n", ns, "link", "set", &iface, "up"]);
        (iface, mac)
    }

    /// The namespace's name.
    pub fn ns(&self) -> &str {
        &self.ns.name
    }

    /// This host's own directory in the lab.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A command that runs inside the host's namespace.
    pub fn command(&self, program: &str) -> Command {
        self.ns.command(program)
    }

    /// Runs a command inside the namespace and panics if it fails.
    pub fn exec(&self, argv: &[&str]) {
        self.ns.exec(argv)
    }

    /// A command inside the namespace *and* a private mount namespace
    /// (`ip netns exec` makes one, with mounts that do not propagate back)
    /// in which `/run`, `/var/lib/dhcp`, `/var/lib/dhcpcd` and
    /// `/etc/resolv.conf` are this host's own copies. The environment is
    /// cleared to PATH alone. Every command of one host sees the same
    /// copies, so e.g. `dhcpcd -k` finds the running dhcpcd's pid file.
    pub fn isolated_command(&self, program: &str) -> Command {
        let root = self.dir.join("private");
        for d in ["run", "dhcp", "dhcpcd"] {
            std::fs::create_dir_all(root.join(d)).expect("private dir");
        }
        let resolv = root.join("resolv.conf");
        if !resolv.exists() {
            std::fs::write(&resolv, "").expect("private resolv.conf");
        }
        // /etc/resolv.conf is bound before /run is hidden, in case it is a
        // symlink into /run. A failed mount stops the command (set -e)
        // rather than let the program see the real file.
        let script = r#"set -e
p="$1"; shift
if [ -e /etc/resolv.conf ]; then mount --bind "$p/resolv.conf" /etc/resolv.conf; fi
if [ -d /var/lib/dhcp ]; then mount --bind "$p/dhcp" /var/lib/dhcp; fi
if [ -d /var/lib/dhcpcd ]; then mount --bind "$p/dhcpcd" /var/lib/dhcpcd; fi
mount --bind "$p/run" /run
exec "$@""#;
        let mut c = self.ns.command("/bin/sh");
        c.env_clear().env("PATH", PATH);
        c.args(["-c", script, "sh"]).arg(&root).arg(program);
        c
    }

    /// The private `/etc/resolv.conf` that [`Host::isolated_command`]s see.
    pub fn private_resolv_conf(&self) -> PathBuf {
        self.dir.join("private/resolv.conf")
    }

    /// The namespace's IPv4 routes (`ip -4 route`).
    pub fn routes(&self) -> Vec<Route> {
        let (ok, out, err) = run(Command::new("ip").args(["-n", self.ns(), "-4", "route"]));
        assert!(ok, "ip route in {}: {err}", self.ns());
        out.lines().filter_map(Route::parse).collect()
    }

    /// Every IPv4 address in the namespace except loopback, as
    /// `"192.168.0.15/24"`.
    pub fn addresses(&self) -> Vec<String> {
        let (ok, out, err) = run(Command::new("ip").args(["-n", self.ns(), "-4", "-o", "addr"]));
        assert!(ok, "ip addr in {}: {err}", self.ns());
        out.lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let i = f.iter().position(|w| *w == "inet")?;
                (f.get(1) != Some(&"lo")).then(|| f.get(i + 1).map(|s| s.to_string()))?
            })
            .collect()
    }

    /// Panics unless process `pid` runs in this host's namespace. A process
    /// just started may still be `ip netns exec` before its `setns`, so
    /// this waits (up to 5 s) for it to get there.
    pub fn assert_runs_here(&self, pid: u32) {
        let last = std::cell::RefCell::new(String::new());
        wait_until(
            Duration::from_secs(5),
            || {
                format!(
                    "process {pid} is not in namespace {} (ip netns identify: {:?})",
                    self.ns(),
                    last.borrow()
                )
            },
            || {
                let (_, out, err) =
                    run(Command::new("ip").args(["netns", "identify", &pid.to_string()]));
                *last.borrow_mut() = format!("{out}{err}");
                out.split_whitespace().any(|n| n == self.ns()).then_some(())
            },
        );
    }
}

/// One IPv4 route: destination (`"0.0.0.0/0"` for default) and gateway.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    pub dest: String,
    pub via: Option<Ipv4Addr>,
}

impl Route {
    pub fn new(dest: &str, via: Option<&str>) -> Route {
        Route {
            dest: dest.to_string(),
            via: via.map(|v| v.parse().expect("gateway")),
        }
    }

    /// One line of `ip route`.
    fn parse(line: &str) -> Option<Route> {
        let f: Vec<&str> = line.split_whitespace().collect();
        let dest = match *f.first()? {
            "default" => "0.0.0.0/0".to_string(),
            d if d.contains('/') => d.to_string(),
            d => format!("{d}/32"),
        };
        let via = f
            .iter()
            .position(|w| *w == "via")
            .and_then(|i| f.get(i + 1))
            .and_then(|v| v.parse().ok());
        Some(Route { dest, via })
    }
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.via {
            Some(v) => write!(f, "{} via {v}", self.dest),
            None => write!(f, "{} on-link", self.dest),
        }
    }
}

/// The DHCP clients the lab can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientKind {
    /// ISC dhclient 4.4.
    Dhclient,
    /// busybox udhcpc.
    Udhcpc,
    /// dhcpcd 9 (Roy Marples).
    Dhcpcd,
}

impl ClientKind {
    pub const ALL: [ClientKind; 3] = [ClientKind::Dhclient, ClientKind::Udhcpc, ClientKind::Dhcpcd];

    /// The program a test needs for this kind.
    pub fn program(self) -> &'static str {
        match self {
            ClientKind::Dhclient => "dhclient",
            ClientKind::Udhcpc => "udhcpc",
            ClientKind::Dhcpcd => "dhcpcd",
        }
    }

    /// Whether the client checks an offered address with ARP before using
    /// it (and so can send a DHCPDECLINE): dhcpcd always (RFC 5227 probe),
    /// udhcpc when asked (`-a`), dhclient never on Linux.
    pub fn can_arp_check(self) -> bool {
        !matches!(self, ClientKind::Dhclient)
    }

    /// A line the client logs when it sends a DHCPDECLINE.
    pub fn decline_log_line(self) -> &'static str {
        match self {
            ClientKind::Dhclient => "DHCPDECLINE",
            ClientKind::Udhcpc => "broadcasting decline",
            ClientKind::Dhcpcd => "sending DECLINE",
        }
    }
}

/// What a client sends besides its defaults.
#[derive(Clone, Debug, Default)]
pub struct ClientOptions {
    /// Option 12.
    pub hostname: Option<String>,
    /// Option 61, as colon-separated hex bytes (`"01:02:03"`).
    pub client_id: Option<String>,
    /// Option 51: the lease time the client asks for.
    pub lease_time: Option<u32>,
    /// Option 50 in the DISCOVER.
    pub request_address: Option<Ipv4Addr>,
    /// Check the offered address with ARP (`None`: the client's default;
    /// dhclient cannot).
    pub arp_check: Option<bool>,
    /// Do not ask for option 121 (dhclient and dhcpcd ask for it in the
    /// distribution's default configuration, udhcpc only with `-O`).
    pub no_classless_routes: bool,
}

/// One run of the client's script, as recorded.
#[derive(Clone, Debug)]
pub struct Event {
    /// The client's own name for it, lower-cased: `bound`, `renew`,
    /// `rebind`, `reboot`, `release`, `stop`, `deconfig`, `expire`, `nak`,
    /// `preinit`, `carrier`, ...
    pub reason: String,
    pub fields: BTreeMap<String, String>,
}

impl Event {
    fn parse(line: &str) -> Event {
        let fields: BTreeMap<String, String> = line
            .split('\t')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.trim().to_string()))
            .collect();
        Event {
            reason: fields
                .get("reason")
                .cloned()
                .unwrap_or_default()
                .to_ascii_lowercase(),
            fields,
        }
    }

    fn get(&self, key: &str) -> &str {
        self.fields.get(key).map_or("", String::as_str)
    }

    /// Whether this event means the client now holds a lease.
    pub fn is_lease(&self) -> bool {
        matches!(
            self.reason.as_str(),
            "bound" | "renew" | "rebind" | "reboot"
        )
    }
}

/// A lease as the client got it, and the routes in its namespace after its
/// script (or, for dhcpcd, the client itself) applied it.
#[derive(Clone, Debug)]
pub struct Lease {
    /// The event that reported it (`bound`, `renew`, `rebind`, `reboot`).
    pub event: String,
    pub address: Ipv4Addr,
    pub prefix: u8,
    pub routers: Vec<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    pub domain: Option<String>,
    /// Option 121 as the client decoded it.
    pub offered_routes: Vec<Route>,
    /// `ip -4 route` in the client's namespace.
    pub routes: Vec<Route>,
    pub server_id: Option<Ipv4Addr>,
    pub lease_time: Option<u32>,
}

impl Lease {
    pub fn has_route(&self, dest: &str, via: &str) -> bool {
        self.routes.contains(&Route::new(dest, Some(via)))
    }
}

fn addrs(s: &str) -> Vec<Ipv4Addr> {
    s.split([' ', ','])
        .filter(|w| !w.is_empty())
        .filter_map(|w| w.parse().ok())
        .collect()
}

fn mask_to_prefix(m: &str) -> Option<u8> {
    if let Ok(p) = m.parse::<u8>() {
        return Some(p);
    }
    let a: Ipv4Addr = m.parse().ok()?;
    Some(u32::from(a).count_ones() as u8)
}

/// RFC 3442 as dhclient passes it: decimal bytes (width, the significant
/// destination octets, gateway), repeated.
fn routes_from_bytes(s: &str) -> Vec<Route> {
    let b: Vec<u8> = s
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let width = b[i] as usize;
        let n = width.div_ceil(8);
        if width > 32 || i + 1 + n + 4 > b.len() {
            break;
        }
        let mut d = [0u8; 4];
        d[..n].copy_from_slice(&b[i + 1..i + 1 + n]);
        let g = &b[i + 1 + n..i + 5 + n];
        let gw = Ipv4Addr::new(g[0], g[1], g[2], g[3]);
        out.push(Route {
            dest: format!("{}/{width}", Ipv4Addr::from(d)),
            via: (!gw.is_unspecified()).then_some(gw),
        });
        i += 5 + n;
    }
    out
}

/// RFC 3442 as udhcpc and dhcpcd pass it: `DEST/WIDTH GATEWAY` pairs.
fn routes_from_pairs(s: &str) -> Vec<Route> {
    let w: Vec<&str> = s.split_whitespace().collect();
    w.chunks(2)
        .filter(|c| c.len() == 2)
        .map(|c| {
            let gw: Option<Ipv4Addr> = c[1].parse().ok();
            Route {
                dest: c[0].to_string(),
                via: gw.filter(|g| !g.is_unspecified()),
            }
        })
        .collect()
}

// The scripts. Each records one tab-separated line per event, after it
// has applied the event, so a recorded `bound` means the address and
// routes are in place. dhcpcd configures the interface itself; its script
// only records.

const RECORD: &str = r#"printf 'reason=%s\taddress=%s\tmask=%s\trouters=%s\tdns=%s\tdomain=%s\troutes121=%s\tlease_time=%s\tserver_id=%s\told_address=%s\n' \
  "$reason" "$r_address" "$r_mask" "$r_routers" "$r_dns" "$r_domain" "$r_routes" "$r_lease" "$r_server" "$r_old" >> "$rec"
exit 0
"#;

const DHCLIENT_SCRIPT: &str = r#"#!/bin/sh
# dhclient-script for a tandem test lab: configures $interface inside this
# network namespace only; never touches resolv.conf or the hostname.
PATH=@PATH@
rec='@REC@'

classless_routes() {
    # RFC 3442 bytes: width, significant destination octets, gateway.
    while [ $# -gt 0 ]; do
        width=$1; shift
        dest=""; n=0
        while [ $n -lt 4 ]; do
            if [ $((n * 8)) -lt "$width" ] && [ $# -gt 0 ]; then o=$1; shift; else o=0; fi
            dest="$dest${dest:+.}$o"; n=$((n + 1))
        done
        [ $# -ge 4 ] || break
        gw="$1.$2.$3.$4"; shift 4
        if [ "$gw" = 0.0.0.0 ]; then
            ip -4 route replace "$dest/$width" dev "$interface" proto dhcp
        else
            ip -4 route replace "$dest/$width" via "$gw" dev "$interface" proto dhcp
        fi
    done
}

case "$reason" in
PREINIT)
    ip link set dev "$interface" up ;;
BOUND|RENEW|REBIND|REBOOT)
    if [ -n "$old_ip_address" ] && [ "$old_ip_address" != "$new_ip_address" ]; then
        ip -4 addr flush dev "$interface"
    fi
    ip -4 addr replace "$new_ip_address/$new_subnet_mask" broadcast + dev "$interface"
    ip -4 route flush dev "$interface" proto dhcp
    if [ -n "$new_rfc3442_classless_static_routes" ]; then
        # RFC 3442: with option 121 the routers option is ignored.
        classless_routes $new_rfc3442_classless_static_routes
    else
        for r in $new_routers; do
            ip -4 route replace default via "$r" dev "$interface" proto dhcp; break
        done
    fi ;;
EXPIRE|FAIL|RELEASE|STOP)
    ip -4 addr flush dev "$interface" ;;
esac >/dev/null 2>&1

r_address=$new_ip_address r_mask=$new_subnet_mask r_routers=$new_routers
r_dns=$new_domain_name_servers r_domain=$new_domain_name
r_routes=$new_rfc3442_classless_static_routes r_lease=$new_dhcp_lease_time
r_server=$new_dhcp_server_identifier r_old=$old_ip_address
"#;

const UDHCPC_SCRIPT: &str = r#"#!/bin/sh
# udhcpc script for a tandem test lab: configures $interface inside this
# network namespace only; never touches resolv.conf or the hostname.
PATH=@PATH@
rec='@REC@'
reason=$1

case "$reason" in
deconfig)
    ip -4 addr flush dev "$interface"
    ip link set dev "$interface" up ;;
bound|renew)
    ip -4 addr replace "$ip/${mask:-$subnet}" broadcast + dev "$interface"
    ip -4 route flush dev "$interface" proto dhcp
    if [ -n "$staticroutes" ]; then
        # RFC 3442: with option 121 the routers option is ignored.
        set -- $staticroutes
        while [ $# -ge 2 ]; do
            if [ "$2" = 0.0.0.0 ]; then
                ip -4 route replace "$1" dev "$interface" proto dhcp
            else
                ip -4 route replace "$1" via "$2" dev "$interface" proto dhcp
            fi
            shift 2
        done
    else
        for r in $router; do
            ip -4 route replace default via "$r" dev "$interface" proto dhcp; break
        done
    fi ;;
esac >/dev/null 2>&1

r_address=$ip r_mask=${mask:-$subnet} r_routers=$router r_dns=$dns r_domain=$domain
r_routes=$staticroutes r_lease=$lease r_server=$serverid r_old=
"#;

const DHCPCD_SCRIPT: &str = r#"#!/bin/sh
# dhcpcd script for a tandem test lab: dhcpcd configures addresses and
# routes itself; this replaces dhcpcd-run-hooks, so no hook (resolv.conf,
# hostname, ntp) runs. It only records.
PATH=@PATH@
rec='@REC@'
r_address=$new_ip_address r_mask=$new_subnet_cidr r_routers=$new_routers
r_dns=$new_domain_name_servers r_domain=$new_domain_name
r_routes=$new_classless_static_routes r_lease=$new_dhcp_lease_time
r_server=$new_dhcp_server_identifier r_old=$old_ip_address
"#;

/// A DHCP client running on a host, with its own files in the host's
/// directory. Dropping it ends the client by PID.
pub struct Client<'h> {
    pub kind: ClientKind,
    host: &'h Host,
    opts: ClientOptions,
    proc: Option<Proc>,
    /// Output of runs that have ended (dhclient restarts), for messages.
    old_output: String,
    dir: PathBuf,
    record: PathBuf,
    /// Events before this index have been looked at.
    cursor: usize,
}

impl<'h> Client<'h> {
    /// Writes the client's configuration and script and starts it on the
    /// host's interface. It does not wait: see [`Client::wait_lease`].
    pub fn start(kind: ClientKind, host: &'h Host, opts: ClientOptions) -> Client<'h> {
        let dir = host.dir().join(kind.program());
        std::fs::create_dir_all(&dir).expect("client dir");
        set_mode(&dir, 0o755);
        let record = dir.join("events");
        std::fs::write(&record, "").expect("events file");
        let script = dir.join("script");
        let body = match kind {
            ClientKind::Dhclient => DHCLIENT_SCRIPT,
            ClientKind::Udhcpc => UDHCPC_SCRIPT,
            ClientKind::Dhcpcd => DHCPCD_SCRIPT,
        };
        let text = format!("{body}{RECORD}")
            .replace("@PATH@", PATH)
            .replace("@REC@", &record.display().to_string());
        std::fs::write(&script, text).expect("script");
        set_mode(&script, 0o755);
        let mut c = Client {
            kind,
            host,
            opts,
            proc: None,
            old_output: String::new(),
            dir,
            record,
            cursor: 0,
        };
        c.write_config();
        c.spawn();
        c
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    fn write_config(&self) {
        let o = &self.opts;
        let text = match self.kind {
            ClientKind::Dhclient => {
                // Debian's default dhclient.conf (v4 part), with timers cut
                // down so a test does not wait for dhclient's backoff.
                let mut s = String::from(
                    "option rfc3442-classless-static-routes code 121 = array of unsigned integer 8;\n\
                     timeout 30;\nretry 1;\ninitial-interval 1;\nbackoff-cutoff 2;\n\
                     select-timeout 0;\nreboot 5;\n",
                );
                s.push_str(
                    "request subnet-mask, broadcast-address, time-offset, routers,\n  \
                     domain-name, domain-name-servers, domain-search, host-name,\n  \
                     netbios-name-servers, netbios-scope, interface-mtu, ntp-servers",
                );
                if !o.no_classless_routes {
                    s.push_str(",\n  rfc3442-classless-static-routes");
                }
                s.push_str(";\n");
                if let Some(h) = &o.hostname {
                    s.push_str(&format!("send host-name \"{h}\";\n"));
                }
                if let Some(id) = &o.client_id {
                    s.push_str(&format!("send dhcp-client-identifier {id};\n"));
                }
                if let Some(t) = o.lease_time {
                    s.push_str(&format!("send dhcp-lease-time {t};\n"));
                }
                if let Some(a) = o.request_address {
                    s.push_str(&format!("send dhcp-requested-address {a};\n"));
                }
                s
            }
            ClientKind::Dhcpcd => {
                // Debian's default dhcpcd.conf, IPv4 part, plus nodelay
                // (no random wait before the first DISCOVER).
                let mut s = String::from(
                    "duid\npersistent\nvendorclassid\n\
                     option domain_name_servers, domain_name, domain_search\n\
                     option interface_mtu\noption host_name\noption rapid_commit\n\
                     require dhcp_server_identifier\nnoipv4ll\nnodelay\n",
                );
                if !o.no_classless_routes {
                    s.push_str("option classless_static_routes\n");
                }
                s
            }
            ClientKind::Udhcpc => return,
        };
        std::fs::write(self.dir.join("conf"), text).expect("client conf");
    }

    fn command(&self) -> Command {
        let iface = self.host.iface.as_str();
        let o = &self.opts;
        match self.kind {
            ClientKind::Dhclient => {
                let mut c = self.host.isolated_command("dhclient");
                c.args(["-4", "-d", "-v", "-sf", &self.path("script")]);
                c.args(["-lf", &self.path("leases"), "-pf", &self.path("pid")]);
                c.args(["-cf", &self.path("conf"), iface]);
                c
            }
            ClientKind::Udhcpc => {
                let mut c = self.host.isolated_command("udhcpc");
                // Foreground, keep trying (20 DISCOVERs 1 s apart, then
                // again after 1 s), never exit.
                c.args(["-f", "-i", iface, "-s", &self.path("script")]);
                c.args(["-p", &self.path("pid"), "-t", "20", "-T", "1", "-A", "1"]);
                if !o.no_classless_routes {
                    c.args(["-O", "staticroutes"]);
                }
                if o.arp_check == Some(true) {
                    c.arg("-a");
                }
                if let Some(a) = o.request_address {
                    c.args(["-r", &a.to_string()]);
                }
                if let Some(h) = &o.hostname {
                    c.args(["-x", &format!("hostname:{h}")]);
                }
                if let Some(t) = o.lease_time {
                    c.args(["-x", &format!("lease:{t}")]);
                }
                if let Some(id) = &o.client_id {
                    c.args(["-x", &format!("0x3d:{}", id.replace(':', ""))]);
                }
                c
            }
            ClientKind::Dhcpcd => {
                let mut c = self.host.isolated_command("dhcpcd");
                c.args(["-4", "-B", "-d", "-f", &self.path("conf")]);
                c.args(["-c", &self.path("script")]);
                if o.arp_check == Some(false) {
                    c.arg("-A");
                }
                if let Some(a) = o.request_address {
                    c.args(["-r", &a.to_string()]);
                }
                if let Some(h) = &o.hostname {
                    c.args(["-h", h]);
                }
                if let Some(t) = o.lease_time {
                    c.args(["-l", &t.to_string()]);
                }
                if let Some(id) = &o.client_id {
                    c.args(["-I", id]);
                }
                c.arg(iface);
                c
            }
        }
    }

    fn spawn(&mut self) {
        let name = format!("{} on {}", self.kind.program(), self.host.name);
        let p = Proc::spawn(&name, self.command(), "");
        self.host.assert_runs_here(p.pid());
        self.proc = Some(p);
    }

    /// The PID of the running client.
    pub fn pid(&self) -> u32 {
        self.proc.as_ref().map_or(0, Proc::pid)
    }

    /// Everything the client has printed (all its runs).
    pub fn output(&self) -> String {
        let now = self.proc.as_ref().map(Proc::output).unwrap_or_default();
        format!("{}{now}", self.old_output)
    }

    /// Every event recorded so far.
    pub fn events(&self) -> Vec<Event> {
        let text = std::fs::read_to_string(&self.record).unwrap_or_default();
        // Only whole lines: a line being appended is read next time.
        let whole = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
        whole.lines().map(Event::parse).collect()
    }

    fn describe(&self) -> String {
        let ev: Vec<String> = self
            .events()
            .iter()
            .map(|e| format!("{:?}", e.fields))
            .collect();
        format!(
            "{} on {}: events:\n{}\noutput:\n{}",
            self.kind.program(),
            self.host.name,
            ev.join("\n"),
            self.output()
        )
    }

    /// Waits for the next event (after those already looked at) whose
    /// reason is one of `reasons`; events in between are skipped.
    pub fn wait_event(&mut self, reasons: &[&str], timeout: Duration) -> Event {
        let start = self.cursor;
        let (i, ev) = wait_until(
            timeout,
            || format!("no {reasons:?} event from {}", self.describe()),
            || {
                self.events()
                    .into_iter()
                    .enumerate()
                    .skip(start)
                    .find(|(_, e)| reasons.contains(&e.reason.as_str()))
            },
        );
        self.cursor = i + 1;
        ev
    }

    /// Waits for the next event that gives the client a lease.
    pub fn wait_lease(&mut self, timeout: Duration) -> Lease {
        let ev = self.wait_event(&["bound", "renew", "rebind", "reboot"], timeout);
        self.lease_from(&ev)
    }

    /// Waits for a line of the client's output containing `needle`.
    pub fn wait_output(&mut self, needle: &str, timeout: Duration) -> String {
        wait_until(
            timeout,
            || format!("no {needle:?} from {}", self.describe()),
            || {
                self.output()
                    .lines()
                    .find(|l| l.contains(needle))
                    .map(str::to_string)
            },
        )
    }

    fn lease_from(&self, ev: &Event) -> Lease {
        let address = ev
            .get("address")
            .parse()
            .unwrap_or_else(|_| panic!("event without an address: {}", self.describe()));
        let offered_routes = match self.kind {
            ClientKind::Dhclient => routes_from_bytes(ev.get("routes121")),
            _ => routes_from_pairs(ev.get("routes121")),
        };
        Lease {
            event: ev.reason.clone(),
            address,
            prefix: mask_to_prefix(ev.get("mask")).unwrap_or(32),
            routers: addrs(ev.get("routers")),
            dns: addrs(ev.get("dns")),
            domain: Some(ev.get("domain").to_string()).filter(|d| !d.is_empty()),
            offered_routes,
            routes: self.host.routes(),
            server_id: ev.get("server_id").parse().ok(),
            lease_time: ev.get("lease_time").parse().ok(),
        }
    }

    /// Makes the client renew its lease now, the way that client can, and
    /// waits for the result:
    /// - udhcpc: SIGUSR1 (a unicast REQUEST to the server, RENEWING);
    /// - dhcpcd: `dhcpcd -N IFACE` (the same, through its pid file);
    /// - dhclient has no renew command for IPv4, so it is stopped without
    ///   a release (`dhclient -x`) and started again on its lease file: an
    ///   INIT-REBOOT (a broadcast REQUEST for the old address), which is
    ///   what a rebooted machine sends. Its own renewals at T1 are seen by
    ///   waiting with a short lease time.
    pub fn renew(&mut self, timeout: Duration) -> Lease {
        match self.kind {
            ClientKind::Udhcpc => {
                self.proc
                    .as_ref()
                    .expect("client running")
                    .signal(libc::SIGUSR1);
                let ev = self.wait_event(&["renew", "bound"], timeout);
                self.lease_from(&ev)
            }
            ClientKind::Dhcpcd => {
                self.control(&["-4", "-N"]);
                let ev = self.wait_event(&["renew", "rebind", "bound"], timeout);
                self.lease_from(&ev)
            }
            ClientKind::Dhclient => {
                self.control(&["-4", "-x"]);
                self.reap();
                self.spawn();
                let ev = self.wait_event(&["reboot", "bound"], timeout);
                self.lease_from(&ev)
            }
        }
    }

    /// Releases the lease the way the client's user would, and waits until
    /// the client says it sent the DHCPRELEASE and has deconfigured:
    /// dhclient `-r`, udhcpc SIGUSR2 (it stays running, released), dhcpcd
    /// `-k`.
    pub fn release(&mut self, timeout: Duration) {
        match self.kind {
            ClientKind::Dhclient => {
                let out = self.control(&["-4", "-r", "-v"]);
                assert!(out.contains("DHCPRELEASE"), "dhclient -r: {out}");
                self.wait_event(&["release"], timeout);
                self.reap();
            }
            ClientKind::Udhcpc => {
                self.proc
                    .as_ref()
                    .expect("client running")
                    .signal(libc::SIGUSR2);
                self.wait_output("entering released state", timeout);
                self.wait_event(&["deconfig"], timeout);
            }
            ClientKind::Dhcpcd => {
                self.control(&["-4", "-k"]);
                self.wait_output("sending RELEASE", timeout);
                self.wait_event(&["stop", "release"], timeout);
                self.reap();
            }
        }
    }

    /// Runs the client program again with `args` (plus the files and
    /// interface of this client) to control the running one.
    fn control(&self, args: &[&str]) -> String {
        let mut c = self.host.isolated_command(self.kind.program());
        c.args(args);
        match self.kind {
            ClientKind::Dhclient => {
                c.args(["-sf", &self.path("script"), "-lf", &self.path("leases")]);
                c.args(["-pf", &self.path("pid"), "-cf", &self.path("conf")]);
            }
            ClientKind::Dhcpcd => {
                c.args(["-f", &self.path("conf")]);
            }
            ClientKind::Udhcpc => {}
        }
        c.arg(&self.host.iface);
        let (ok, out) = run_bounded(&mut c, Duration::from_secs(20));
        assert!(ok, "{} {args:?} failed: {out}", self.kind.program());
        out
    }

    /// Waits (bounded) for a client that was told to exit, keeping its
    /// output for messages.
    fn reap(&mut self) {
        if let Some(mut p) = self.proc.take() {
            let pid = p.pid();
            // The process is ending by itself; SIGTERM is a no-op for a
            // zombie and harmless for a client that is already stopping.
            wait_until(
                Duration::from_secs(10),
                || format!("{} (pid {pid}) did not exit", self.kind.program()),
                || (!pid_alive(pid)).then_some(()),
            );
            let _ = p.terminate(Duration::from_secs(5));
            self.old_output.push_str(&p.output());
            self.old_output.push('\n');
            if self.kind == ClientKind::Dhcpcd {
                // Its helpers end with it; give them a moment (bounded).
                let helpers = spawned_pids(&self.old_output);
                wait_until(
                    Duration::from_secs(5),
                    || format!("dhcpcd helpers {helpers:?} outlived their master"),
                    || (!helpers.iter().any(|&h| is_live_dhcpcd(h))).then_some(()),
                );
            }
        }
    }
}

/// Whether `pid` is still running (a zombie counts as ended).
fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            // The state follows the parenthesised command name.
            let state = s.rsplit_once(')').map(|(_, r)| r.trim_start());
            !matches!(
                state.and_then(|r| r.chars().next()),
                Some('Z') | Some('X') | None
            )
        }
        Err(_) => false,
    }
}

/// The PIDs a dhcpcd said it spawned ("spawned privileged proxy on PID
/// 123", "spawned BPF ARP on PID 124", ...).
fn spawned_pids(output: &str) -> Vec<u32> {
    output
        .lines()
        .filter(|l| l.contains("spawned"))
        .filter_map(|l| {
            l.split_once(" on PID ")?
                .1
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

/// Whether `pid` is a live dhcpcd (so a reused PID is never signalled).
fn is_live_dhcpcd(pid: u32) -> bool {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    comm.trim() == "dhcpcd" && pid_alive(pid)
}

impl Drop for Client<'_> {
    fn drop(&mut self) {
        let Some(mut p) = self.proc.take() else {
            return;
        };
        if self.kind != ClientKind::Dhcpcd {
            return; // Proc's drop kills it.
        }
        // dhcpcd runs privilege-separated helpers, which outlive a master
        // killed with SIGKILL (and ignore SIGTERM themselves). A SIGTERM
        // to the master stops them all; whatever is left after 5 s is
        // killed by the PIDs dhcpcd printed when it spawned them.
        let pid = p.pid();
        p.signal(libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while pid_alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let output = format!("{}{}", self.old_output, p.output());
        p.kill9();
        for helper in spawned_pids(&output) {
            if is_live_dhcpcd(helper) {
                // SAFETY: kill(2) on a PID just checked to be one of the
                // dhcpcd helpers this client started.
                unsafe {
                    libc::kill(helper as libc::pid_t, libc::SIGKILL);
                }
            }
        }
    }
}

/// What a server's own lease database says about one address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerLease {
    pub address: Ipv4Addr,
    pub state: LeaseState,
    pub hardware: Option<String>,
    pub client_id: Option<Vec<u8>>,
    pub hostname: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseState {
    Active,
    Free,
    /// Released by its client (ISC writes this only with failover; tandem
    /// keeps it to remember whose the address was).
    Released,
    Expired,
    Abandoned,
    Other(String),
}

impl LeaseState {
    /// ISC's (and tandem's) word for it, as in `binding state WORD;`.
    pub fn parse(word: &str) -> LeaseState {
        match word {
            "active" => LeaseState::Active,
            "free" => LeaseState::Free,
            "released" => LeaseState::Released,
            "expired" => LeaseState::Expired,
            "abandoned" => LeaseState::Abandoned,
            other => LeaseState::Other(other.to_string()),
        }
    }

    /// Whether the address may be given to a new client.
    pub fn is_available(&self) -> bool {
        matches!(
            self,
            LeaseState::Free | LeaseState::Released | LeaseState::Expired
        )
    }
}

/// Parses a dhcpd.leases file; for each address the last entry wins (the
/// file is a log).
pub fn parse_isc_leases(text: &str) -> BTreeMap<Ipv4Addr, ServerLease> {
    let mut out = BTreeMap::new();
    let mut cur: Option<ServerLease> = None;
    for line in text.lines() {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix("lease ") {
            let addr = rest.trim_end_matches('{').trim();
            cur = addr.parse().ok().map(|address| ServerLease {
                address,
                state: LeaseState::Other(String::new()),
                hardware: None,
                client_id: None,
                hostname: None,
            });
            continue;
        }
        let Some(lease) = cur.as_mut() else { continue };
        if l == "}" {
            let done = cur.take().expect("current lease");
            out.insert(done.address, done);
            continue;
        }
        let l = l.trim_end_matches(';');
        if let Some(s) = l.strip_prefix("binding state ") {
            lease.state = LeaseState::parse(s);
        } else if let Some(m) = l.strip_prefix("hardware ethernet ") {
            lease.hardware = Some(m.to_ascii_lowercase());
        } else if let Some(u) = l.strip_prefix("uid ") {
            lease.client_id = isc_data(u);
        } else if let Some(h) = l.strip_prefix("client-hostname ") {
            lease.hostname = isc_data(h).map(|b| String::from_utf8_lossy(&b).into_owned());
        }
    }
    out
}

/// An ISC data value: a quoted string with `\ooo` and `\x` escapes, or
/// colon-separated hex.
fn isc_data(v: &str) -> Option<Vec<u8>> {
    let v = v.trim();
    let Some(inner) = v.strip_prefix('"') else {
        return v
            .split(':')
            .map(|h| u8::from_str_radix(h, 16).ok())
            .collect();
    };
    let inner = inner.strip_suffix('"')?;
    let b = inner.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            let oct = &b[i + 1..(i + 4).min(b.len())];
            if oct.len() == 3 && oct.iter().all(|c| (b'0'..=b'7').contains(c)) {
                let s = std::str::from_utf8(oct).ok()?;
                out.push(u8::from_str_radix(s, 8).ok()?);
                i += 4;
            } else {
                out.push(b[i + 1]);
                i += 2;
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// ISC dhcpd, the reference server, in a host's namespace.
pub struct IscDhcpd {
    pub proc: Proc,
    leases: PathBuf,
    _dir: tempfile::TempDir,
}

impl IscDhcpd {
    /// Runs `dhcpd -f -d -4` with configuration `conf` on `interfaces` of
    /// `host`, and waits until it serves.
    pub fn start(host: &Host, conf: &str, interfaces: &[&str]) -> IscDhcpd {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("dhcpd.conf"), conf).expect("dhcpd.conf");
        let leases = dir.path().join("dhcpd.leases");
        std::fs::write(&leases, "").expect("lease file");
        let proc = Self::spawn(host, dir.path(), interfaces);
        IscDhcpd {
            proc,
            leases,
            _dir: dir,
        }
    }

    fn spawn(host: &Host, dir: &Path, interfaces: &[&str]) -> Proc {
        let dhcpd = which("dhcpd").expect("dhcpd is installed");
        let mut cmd = host.command(&dhcpd.display().to_string());
        cmd.args(["-f", "-d", "-4", "-cf"])
            .arg(dir.join("dhcpd.conf"));
        cmd.arg("-lf").arg(dir.join("dhcpd.leases"));
        cmd.arg("-pf").arg(dir.join("dhcpd.pid"));
        cmd.args(interfaces);
        // Printed once the sockets are open and the leases are loaded.
        let proc = Proc::spawn(
            &format!("dhcpd on {}", host.name),
            cmd,
            "Server starting service.",
        );
        host.assert_runs_here(proc.pid());
        proc
    }

    /// Starts dhcpd again on the same configuration and lease file, as a
    /// server restarted after a crash would be (kill the old one first,
    /// e.g. with `proc.kill9()`).
    pub fn restart(&mut self, host: &Host, interfaces: &[&str]) {
        self.proc = Self::spawn(host, self._dir.path(), interfaces);
    }

    /// The lease file's current view of every address.
    pub fn leases(&self) -> BTreeMap<Ipv4Addr, ServerLease> {
        let text = std::fs::read_to_string(&self.leases).unwrap_or_default();
        parse_isc_leases(&text)
    }

    /// The lease file's current view of `addr`.
    pub fn lease(&self, addr: Ipv4Addr) -> Option<ServerLease> {
        let text = std::fs::read_to_string(&self.leases).unwrap_or_default();
        parse_isc_leases(&text).remove(&addr)
    }
}

/// ISC dhcrelay between two interfaces of a host.
pub struct Dhcrelay {
    pub proc: Proc,
    _dir: tempfile::TempDir,
}

impl Dhcrelay {
    /// Relays requests heard on `downstream` to `server` through
    /// `upstream`.
    pub fn start(host: &Host, server: &str, upstream: &str, downstream: &str) -> Dhcrelay {
        let dir = tempfile::tempdir().expect("tempdir");
        let relay = which("dhcrelay").expect("dhcrelay is installed");
        let mut cmd = host.command(&relay.display().to_string());
        cmd.args(["-d", "-4", "-pf"])
            .arg(dir.path().join("dhcrelay.pid"));
        cmd.args(["-id", downstream, "-iu", upstream, server]);
        // The last line of its start-up, after both interfaces are open.
        let proc = Proc::spawn(
            &format!("dhcrelay on {}", host.name),
            cmd,
            "Sending on   Socket/fallback",
        );
        host.assert_runs_here(proc.pid());
        Dhcrelay { proc, _dir: dir }
    }
}

/// What a lab could disturb in the root namespace: its IPv4 addresses,
/// routes and links, and /etc/resolv.conf. Taken before a test and
/// compared after it.
pub struct RootGuard {
    state: (BTreeSet<String>, BTreeSet<String>, BTreeSet<String>),
    resolv: Option<(Vec<u8>, SystemTime)>,
    etc_netns: bool,
}

fn root_state() -> (BTreeSet<String>, BTreeSet<String>, BTreeSet<String>) {
    let lines = |args: &[&str]| -> Vec<String> {
        let (_, out, _) = run(Command::new("ip").args(args));
        out.lines().map(str::to_string).collect()
    };
    let addrs = lines(&["-4", "-o", "addr"])
        .iter()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some(format!("{} {}", f.get(1)?, f.get(3)?))
        })
        .collect();
    let routes = lines(&["-4", "route"])
        .iter()
        .map(|l| {
            // Drop timers such as "expires 3599sec".
            let f: Vec<&str> = l.split_whitespace().collect();
            let mut keep = Vec::new();
            let mut i = 0;
            while i < f.len() {
                if f[i] == "expires" {
                    i += 2;
                    continue;
                }
                keep.push(f[i]);
                i += 1;
            }
            keep.join(" ")
        })
        .collect();
    let links = lines(&["-o", "link"])
        .iter()
        .filter_map(|l| l.split(':').nth(1).map(|n| n.trim().to_string()))
        .collect();
    (addrs, routes, links)
}

fn resolv_state() -> Option<(Vec<u8>, SystemTime)> {
    let p = Path::new("/etc/resolv.conf");
    Some((
        std::fs::read(p).ok()?,
        std::fs::metadata(p).ok()?.modified().ok()?,
    ))
}

impl RootGuard {
    pub fn capture() -> RootGuard {
        RootGuard {
            state: root_state(),
            resolv: resolv_state(),
            etc_netns: Path::new("/etc/netns").exists(),
        }
    }

    /// Panics if the root namespace, /etc/resolv.conf or the presence of
    /// /etc/netns changed.
    pub fn check(&self) {
        let now = root_state();
        assert_eq!(
            now, self.state,
            "the root namespace changed (addresses, routes, links); left: now, right: before"
        );
        assert!(
            resolv_state() == self.resolv,
            "/etc/resolv.conf changed during the test"
        );
        assert_eq!(
            Path::new("/etc/netns").exists(),
            self.etc_netns,
            "/etc/netns appeared or vanished during the test"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classless_routes_in_both_forms() {
        let want = vec![
            Route::new("10.8.0.0/24", Some("192.168.0.2")),
            Route::new("0.0.0.0/0", Some("192.168.0.1")),
        ];
        assert_eq!(
            routes_from_bytes("24 10 8 0 192 168 0 2 0 192 168 0 1"),
            want
        );
        assert_eq!(
            routes_from_pairs("10.8.0.0/24 192.168.0.2 0.0.0.0/0 192.168.0.1"),
            want
        );
        assert_eq!(
            routes_from_bytes("32 10 1 2 3 0 0 0 0"),
            vec![Route::new("10.1.2.3/32", None)]
        );
        // A truncated option stops the list instead of inventing routes.
        assert_eq!(routes_from_bytes("24 10 8 0 192 168"), vec![]);
    }

    #[test]
    fn ip_route_lines() {
        let r =
            Route::parse("default via 192.168.0.1 dev e proto dhcp src 192.168.0.17 metric 1002");
        assert_eq!(r, Some(Route::new("0.0.0.0/0", Some("192.168.0.1"))));
        let r = Route::parse("192.168.0.0/24 dev e proto kernel scope link src 192.168.0.15");
        assert_eq!(r, Some(Route::new("192.168.0.0/24", None)));
    }

    #[test]
    fn isc_lease_file() {
        let text = r#"
lease 192.168.0.18 {
  starts 2 2026/12/01 15:59:09;
  binding state active;
  next binding state free;
  rewind binding state free;
  hardware ethernet 16:6A:6b:d0:f2:11;
  uid "\001\002\000\000\000\000\"";
  set vendor-class-identifier = "udhcp 1.35.0";
  client-hostname "laptop";
}
lease 192.168.0.50 {
  binding state abandoned;
  next binding state free;
}
lease 192.168.0.18 {
  binding state free;
  hardware ethernet 16:6a:6b:d0:f2:11;
  uid 01:02:03;
}
"#;
        let l = parse_isc_leases(text);
        let a = &l[&"192.168.0.18".parse().unwrap()];
        assert_eq!(a.state, LeaseState::Free);
        assert_eq!(a.client_id, Some(vec![1, 2, 3]));
        assert_eq!(a.hostname, None);
        assert_eq!(
            l[&"192.168.0.50".parse().unwrap()].state,
            LeaseState::Abandoned
        );
        assert_eq!(
            isc_data(r#""\001\002\000\000\000\000\"""#),
            Some(vec![1, 2, 0, 0, 0, 0, b'"'])
        );
        let first = parse_isc_leases(&text[..text.find("lease 192.168.0.50").unwrap()]);
        let f = &first[&"192.168.0.18".parse().unwrap()];
        assert_eq!(f.hostname.as_deref(), Some("laptop"));
        assert_eq!(f.hardware.as_deref(), Some("16:6a:6b:d0:f2:11"));
    }

    #[test]
    fn dhcpcd_helper_pids() {
        let out = "spawned privileged proxy on PID 15538\nspawned controller proxy on PID 15539\n\
                   ec3: spawned BPF BOOTP on PID 15542\nspawned listener 192.168.0.17 on PID 15545\n\
                   ec3: leased 192.168.0.17 for 600 seconds";
        assert_eq!(spawned_pids(out), vec![15538, 15539, 15542, 15545]);
    }

    #[test]
    fn masks() {
        assert_eq!(mask_to_prefix("255.255.255.0"), Some(24));
        assert_eq!(mask_to_prefix("24"), Some(24));
        assert_eq!(mask_to_prefix(""), None);
    }
}
