//! The demo's little network: network namespaces joined by one bridge,
//! processes run inside them, and the cleanup that removes all of it.
//!
//! The rules are those of the test lab (`tests/testkit/src/dhcp.rs`), which
//! this module follows in a form the binary can ship (no panics, bounded
//! waits that notice an interrupt):
//!
//! - Everything lives in namespaces named `tdemo-<pid>-<name>` that this
//!   process made; both ends of every veth are created inside them, so
//!   nothing is added to the root namespace and no packet is sent from it.
//! - Processes are ended by the PID this process got when it started them
//!   (SIGTERM, then SIGKILL), and whatever still runs in a namespace is
//!   ended by PID (`ip netns pids`) before the namespace is deleted.
//! - DHCP clients run in a private mount namespace where `/run`,
//!   `/var/lib/dhcp` and `/etc/resolv.conf` are the lab's own copies, with
//!   scripts that configure only their own interface.
//! - SIGINT, SIGTERM and SIGHUP set a flag that every wait checks; the
//!   caller then unwinds and [`Lab`]'s `Drop` cleans up. Children run in
//!   their own process group, so a terminal's Ctrl-C reaches only the demo.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};

/// The PATH clients, their scripts and `ip` run with.
const PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Makes SIGINT, SIGTERM and SIGHUP set the interrupt flag.
pub fn catch_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe.
        unsafe {
            libc::signal(
                sig,
                on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            );
        }
    }
}

/// The error every wait returns once a signal arrived.
#[derive(Debug)]
pub struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

/// Err(Interrupted) once a signal arrived.
pub fn check_interrupt() -> anyhow::Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        Err(Interrupted.into())
    } else {
        Ok(())
    }
}

/// Polls `f` every 100 ms until it returns `Some`, for at most `timeout`.
/// None on timeout; Err if interrupted.
pub fn poll<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> anyhow::Result<Option<T>> {
    let deadline = Instant::now() + timeout;
    loop {
        check_interrupt()?;
        if let Some(v) = f() {
            return Ok(Some(v));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn pid_alive(pid: u32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks.
    unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
}

fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) has no memory effects.
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

/// Runs a short command to its end within `timeout` (killing it by PID
/// otherwise); returns whether it succeeded and what it printed.
pub fn run_bounded(cmd: &mut Command, timeout: Duration) -> anyhow::Result<(bool, String)> {
    let out = tempfile_in_tmp()?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(out.0.try_clone()?))
        .stderr(Stdio::from(out.0.try_clone()?))
        .process_group(0);
    let mut child = cmd.spawn().with_context(|| format!("cannot run {cmd:?}"))?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break Some(s);
        }
        if Instant::now() >= deadline || INTERRUPTED.load(Ordering::SeqCst) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let text = std::fs::read_to_string(&out.1).unwrap_or_default();
    let _ = std::fs::remove_file(&out.1);
    check_interrupt()?;
    match status {
        Some(s) => Ok((s.success(), text)),
        None => bail!("{cmd:?} did not finish within {timeout:?}; output:\n{text}"),
    }
}

/// A fresh file for one command's output.
fn tempfile_in_tmp() -> anyhow::Result<(File, PathBuf)> {
    static N: AtomicU32 = AtomicU32::new(0);
    let path = std::env::temp_dir().join(format!(
        "tandem-demo-{}-out{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let f = File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
    Ok((f, path))
}

/// `ip ARGS`, which must succeed.
pub fn ip(args: &[&str]) -> anyhow::Result<()> {
    let mut c = Command::new("ip");
    c.args(args).env("PATH", PATH);
    let (ok, out) = run_bounded(&mut c, Duration::from_secs(10))?;
    if !ok {
        bail!("ip {} failed: {}", args.join(" "), out.trim());
    }
    Ok(())
}

fn netns_list() -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output();
    let text = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    text.unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// Ends (by PID) what runs in `ns`, then deletes it.
fn remove_netns(ns: &str) {
    if let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            if let Ok(pid) = pid.parse::<u32>() {
                signal(pid, libc::SIGKILL);
            }
        }
    }
    let _ = Command::new("ip")
        .args(["netns", "del", ns])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Namespaces of earlier demos that were killed before they could clean
/// up (`tdemo-<pid>-...` whose process is gone).
fn sweep_stale() {
    for name in netns_list() {
        let Some(pid) = name
            .strip_prefix("tdemo-")
            .and_then(|r| r.split('-').next())
        else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new(&format!("/proc/{pid}")).exists() {
            remove_netns(&name);
        }
    }
}

/// The lab: a bridge namespace, the hosts' namespaces, the processes
/// started in them and a directory for their files.
pub struct Lab {
    prefix: String,
    lan: String,
    namespaces: Vec<String>,
    procs: Vec<u32>,
    pub dir: PathBuf,
    /// Keep the directory (with every log) when the lab is dropped.
    pub keep_dir: bool,
    ports: u32,
}

/// One machine: a namespace with `eth0` on the bridge.
#[derive(Clone, Debug)]
pub struct Host {
    pub name: String,
    pub ns: String,
    pub mac: String,
}

impl Lab {
    pub fn new() -> anyhow::Result<Lab> {
        sweep_stale();
        let prefix = format!("tdemo-{}", std::process::id());
        let dir = std::env::temp_dir().join(&prefix);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).ok();
        }
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        set_mode(&dir, 0o755)?;
        let mut lab = Lab {
            lan: format!("{prefix}-lan"),
            prefix,
            namespaces: Vec::new(),
            procs: Vec::new(),
            dir,
            keep_dir: false,
            ports: 0,
        };
        let lan = lab.lan.clone();
        lab.add_netns(&lan)?;
        ip(&["-n", &lan, "link", "add", "br0", "type", "bridge"])?;
        ip(&[
            "-n",
            &lan,
            "link",
            "set",
            "br0",
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
        ])?;
        ip(&["-n", &lan, "link", "set", "br0", "up"])?;
        Ok(lab)
    }

    /// The namespaces' common prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn add_netns(&mut self, name: &str) -> anyhow::Result<()> {
        if netns_list().iter().any(|n| n == name) {
            remove_netns(name);
        }
        // Recorded before it exists: an interrupt can end `ip netns add`
        // (or the wait for it) after the namespace is made, and the clean-up
        // must still find it. Deleting one that never came is harmless.
        self.namespaces.push(name.to_string());
        ip(&["netns", "add", name])?;
        ip(&["-n", name, "link", "set", "lo", "up"])
    }

    /// A host `name` whose `eth0` (MAC `mac`) is a port of the bridge,
    /// with an optional static address (`"192.168.0.254/24"`).
    pub fn add_host(&mut self, name: &str, mac: &str, cidr: Option<&str>) -> anyhow::Result<Host> {
        let ns = format!("{}-{name}", self.prefix);
        self.add_netns(&ns)?;
        self.ports += 1;
        let port = format!("p{}", self.ports);
        std::fs::create_dir_all(self.dir.join(name))?;
        set_mode(&self.dir.join(name), 0o755)?;
        // Both ends are made in their own namespaces, never in the root one.
        ip(&[
            "-n", &ns, "link", "add", "eth0", "address", mac, "type", "veth", "peer", "name",
            &port, "netns", &self.lan,
        ])?;
        ip(&["-n", &self.lan, "link", "set", &port, "master", "br0"])?;
        ip(&["-n", &self.lan, "link", "set", &port, "up"])?;
        if let Some(c) = cidr {
            ip(&["-n", &ns, "addr", "add", c, "dev", "eth0"])?;
        }
        ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
        Ok(Host {
            name: name.to_string(),
            ns,
            mac: mac.to_string(),
        })
    }

    /// Starts `cmd` (already an `ip netns exec ...` command) with its
    /// stdout and stderr appended to `log`; the lab ends it on drop.
    pub fn spawn(&mut self, mut cmd: Command, log: &Path) -> anyhow::Result<Child> {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("cannot open {}", log.display()))?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(f.try_clone()?))
            .stderr(Stdio::from(f))
            .process_group(0);
        let child = cmd.spawn().with_context(|| format!("cannot run {cmd:?}"))?;
        self.procs.push(child.id());
        Ok(child)
    }

    /// Ends a process this lab started: SIGTERM, up to `grace`, SIGKILL.
    pub fn stop(&mut self, child: &mut Child, grace: Duration) {
        let pid = child.id();
        if matches!(child.try_wait(), Ok(None)) {
            signal(pid, libc::SIGTERM);
            let end = Instant::now() + grace;
            while Instant::now() < end && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
        }
        let _ = child.wait();
        self.procs.retain(|p| *p != pid);
    }

    /// SIGKILL, as a crash or a pulled plug would end it.
    pub fn kill9(&mut self, child: &mut Child) {
        let pid = child.id();
        let _ = child.kill();
        let _ = child.wait();
        self.procs.retain(|p| *p != pid);
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for pid in self.procs.drain(..) {
            if pid_alive(pid) {
                signal(pid, libc::SIGTERM);
            }
        }
        std::thread::sleep(Duration::from_millis(300));
        // Hosts first, the bridge's namespace last.
        for ns in self.namespaces.iter().rev() {
            remove_netns(ns);
        }
        if !self.keep_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot chmod {}", path.display()))
}

impl Host {
    /// A command inside the host's namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns, program]);
        c
    }

    /// A command inside the namespace and a private mount namespace where
    /// `/run`, `/var/lib/dhcp`, `/var/lib/dhcpcd` and `/etc/resolv.conf` are
    /// this host's own copies (under `private`), environment cleared to PATH.
    pub fn isolated_command(&self, private: &Path, program: &str) -> anyhow::Result<Command> {
        for d in ["run", "dhcp", "dhcpcd"] {
            std::fs::create_dir_all(private.join(d))?;
        }
        let resolv = private.join("resolv.conf");
        if !resolv.exists() {
            std::fs::write(&resolv, "")?;
        }
        let script = r#"set -e
p="$1"; shift
if [ -e /etc/resolv.conf ]; then mount --bind "$p/resolv.conf" /etc/resolv.conf; fi
if [ -d /var/lib/dhcp ]; then mount --bind "$p/dhcp" /var/lib/dhcp; fi
if [ -d /var/lib/dhcpcd ]; then mount --bind "$p/dhcpcd" /var/lib/dhcpcd; fi
mount --bind "$p/run" /run
exec "$@""#;
        let mut c = self.command("/bin/sh");
        c.env_clear().env("PATH", PATH);
        c.args(["-c", script, "sh"]).arg(private).arg(program);
        Ok(c)
    }

    /// `ip -4 route` in the namespace, one line each.
    pub fn routes(&self) -> anyhow::Result<Vec<String>> {
        let mut c = Command::new("ip");
        c.args(["-n", &self.ns, "-4", "route"]);
        let (ok, out) = run_bounded(&mut c, Duration::from_secs(5))?;
        if !ok {
            bail!("ip route in {}: {out}", self.ns);
        }
        Ok(out.lines().map(|l| l.trim().to_string()).collect())
    }

    /// `dig +short @server name type` from this host: the answer's lines,
    /// or Err with dig's output if dig failed (no answer at all).
    pub fn dig(&self, server: Ipv4Addr, name: &str, rtype: &str) -> anyhow::Result<Vec<String>> {
        let mut c = self.command("dig");
        c.args(["+short", "+time=1", "+tries=1", "+norecurse"])
            .arg(format!("@{server}"))
            .args([name, rtype]);
        let (ok, out) = run_bounded(&mut c, Duration::from_secs(5))?;
        if !ok || out.contains(";;") {
            return Err(anyhow!("{}", out.trim()));
        }
        Ok(out
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect())
    }
}

/// The DHCP clients the demo runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientKind {
    /// ISC dhclient: sends no client identifier, so the failover hash is
    /// over its MAC.
    Dhclient,
    /// busybox udhcpc: sends a client identifier of type 1 and its MAC.
    Udhcpc,
}

impl ClientKind {
    pub fn program(self) -> &'static str {
        match self {
            ClientKind::Dhclient => "dhclient",
            ClientKind::Udhcpc => "udhcpc",
        }
    }

    /// The bytes the failover hash (RFC 3074) is computed over.
    pub fn hash_key(self, mac: &[u8; 6]) -> Vec<u8> {
        match self {
            ClientKind::Dhclient => mac.to_vec(),
            ClientKind::Udhcpc => [&[1u8][..], &mac[..]].concat(),
        }
    }
}

const RECORD: &str = r#"printf 'reason=%s\taddress=%s\tmask=%s\trouters=%s\tdns=%s\tdomain=%s\troutes121=%s\tlease_time=%s\tserver_id=%s\n' \
  "$reason" "$r_address" "$r_mask" "$r_routers" "$r_dns" "$r_domain" "$r_routes" "$r_lease" "$r_server" >> "$rec"
exit 0
"#;

const DHCLIENT_SCRIPT: &str = r#"#!/bin/sh
# dhclient-script for the tandem demo: configures $interface inside this
# network namespace only; never touches resolv.conf or the hostname.
PATH=@PATH@
rec='@REC@'

classless_routes() {
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
r_server=$new_dhcp_server_identifier
"#;

const UDHCPC_SCRIPT: &str = r#"#!/bin/sh
# udhcpc script for the tandem demo: configures $interface inside this
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
r_routes=$staticroutes r_lease=$lease r_server=$serverid
"#;

/// A lease as a client's script recorded it.
#[derive(Clone, Debug)]
pub struct Lease {
    pub address: Ipv4Addr,
    pub server_id: Option<Ipv4Addr>,
}

/// One DHCP client on its own host.
pub struct Client {
    pub kind: ClientKind,
    pub host: Host,
    pub hostname: String,
    dir: PathBuf,
    child: Option<Child>,
    /// Events before this index have been looked at.
    cursor: usize,
    pub lease: Option<Lease>,
}

impl Client {
    /// Writes the client's files and starts it, asking for `hostname`.
    pub fn start(
        lab: &mut Lab,
        kind: ClientKind,
        host: Host,
        hostname: &str,
    ) -> anyhow::Result<Client> {
        let dir = lab.dir.join(&host.name).join(kind.program());
        std::fs::create_dir_all(&dir)?;
        set_mode(&dir, 0o755)?;
        let rec = dir.join("events");
        std::fs::write(&rec, "")?;
        let body = match kind {
            ClientKind::Dhclient => DHCLIENT_SCRIPT,
            ClientKind::Udhcpc => UDHCPC_SCRIPT,
        };
        let script = dir.join("script");
        std::fs::write(
            &script,
            format!("{body}{RECORD}")
                .replace("@PATH@", PATH)
                .replace("@REC@", &rec.display().to_string()),
        )?;
        set_mode(&script, 0o755)?;
        let p = |n: &str| dir.join(n).display().to_string();
        let private = lab.dir.join(&host.name).join("private");
        let cmd = match kind {
            ClientKind::Dhclient => {
                // Debian's dhclient.conf (v4), with short timers.
                let conf = format!(
                    "option rfc3442-classless-static-routes code 121 = array of unsigned integer 8;\n\
                     timeout 30;\nretry 1;\ninitial-interval 1;\nbackoff-cutoff 2;\n\
                     select-timeout 0;\nreboot 5;\n\
                     request subnet-mask, broadcast-address, time-offset, routers,\n  \
                     domain-name, domain-name-servers, domain-search, host-name,\n  \
                     interface-mtu, ntp-servers, rfc3442-classless-static-routes;\n\
                     send host-name \"{hostname}\";\n"
                );
                std::fs::write(dir.join("conf"), conf)?;
                let mut c = host.isolated_command(&private, "dhclient")?;
                c.args(["-4", "-d", "-v", "-sf", &p("script")]);
                c.args([
                    "-lf",
                    &p("leases"),
                    "-pf",
                    &p("pid"),
                    "-cf",
                    &p("conf"),
                    "eth0",
                ]);
                c
            }
            ClientKind::Udhcpc => {
                let mut c = host.isolated_command(&private, "udhcpc")?;
                c.args(["-f", "-i", "eth0", "-s", &p("script"), "-p", &p("pid")]);
                c.args(["-t", "20", "-T", "1", "-A", "1", "-O", "staticroutes"]);
                c.args(["-x", &format!("hostname:{hostname}")]);
                c
            }
        };
        let child = lab.spawn(cmd, &dir.join("log"))?;
        Ok(Client {
            kind,
            host,
            hostname: hostname.to_string(),
            dir,
            child: Some(child),
            cursor: 0,
            lease: None,
        })
    }

    fn events(&self) -> Vec<BTreeMap<String, String>> {
        std::fs::read_to_string(self.dir.join("events"))
            .unwrap_or_default()
            .lines()
            .map(|l| {
                l.split('\t')
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.trim().to_string()))
                    .collect()
            })
            .collect()
    }

    /// The next lease event (bound, renew, rebind, reboot), within `timeout`.
    pub fn wait_lease(&mut self, timeout: Duration) -> anyhow::Result<Option<Lease>> {
        let found = poll(timeout, || {
            let ev = self.events();
            for (i, e) in ev.iter().enumerate().skip(self.cursor) {
                let reason = e.get("reason").map(|r| r.to_ascii_lowercase());
                if matches!(
                    reason.as_deref(),
                    Some("bound" | "renew" | "rebind" | "reboot")
                ) {
                    let address = e.get("address").and_then(|a| a.parse().ok())?;
                    let server_id = e.get("server_id").and_then(|a| a.parse().ok());
                    return Some((i, Lease { address, server_id }));
                }
            }
            None
        })?;
        Ok(found.map(|(i, l)| {
            self.cursor = i + 1;
            self.lease = Some(l.clone());
            l
        }))
    }

    /// The client's own log (for a failed check).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    pub fn stop(&mut self, lab: &mut Lab) {
        if let Some(mut c) = self.child.take() {
            lab.stop(&mut c, Duration::from_secs(2));
        }
    }
}

/// Appends `text` to the file at `path`.
pub fn append(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(())
}
