//! `tandem demo`: the seed's network, built in network namespaces, and the
//! pair of tandem nodes shown doing what the seed asks of isc-dhcp-server
//! and bind9.
//!
//! The two nodes (192.168.0.254 primary, 192.168.0.253 secondary) are
//! configured by `tandem import-isc` from the seed's own dhcpd.conf and
//! named.conf (`tests/fixtures/seed/`, compiled in). Real DHCP clients
//! (ISC dhclient, busybox udhcpc) get addresses on one bridge; `dig`
//! checks names from a host of the network. Every check prints what it
//! checked and ✓ or ✗; the demo exits 1 if any ✗, 130 if interrupted, and
//! removes everything it made in every case ([`lab::Lab`]'s `Drop`).

mod lab;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

use lab::{poll, Client, ClientKind, Host, Lab};

const PRIMARY: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 254);
const SECONDARY: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 253);

/// The seed's files, one set per node: (node, file name, text).
const SEED_FILES: [(&str, &str, &str); 12] = [
    (
        "primary",
        "dhcpd.conf",
        include_str!("../../tests/fixtures/seed/primary/dhcpd.conf"),
    ),
    (
        "primary",
        "named.conf",
        include_str!("../../tests/fixtures/seed/primary/named.conf"),
    ),
    (
        "primary",
        "named.conf.options",
        include_str!("../../tests/fixtures/seed/primary/named.conf.options"),
    ),
    (
        "primary",
        "named.conf.local",
        include_str!("../../tests/fixtures/seed/primary/named.conf.local"),
    ),
    (
        "primary",
        "ddns.key",
        include_str!("../../tests/fixtures/seed/primary/ddns.key"),
    ),
    (
        "primary",
        "home.zone",
        include_str!("../../tests/fixtures/seed/primary/home.zone"),
    ),
    (
        "primary",
        "db.0.168.192.in-addr.arpa",
        include_str!("../../tests/fixtures/seed/primary/db.0.168.192.in-addr.arpa"),
    ),
    (
        "secondary",
        "dhcpd.conf",
        include_str!("../../tests/fixtures/seed/secondary/dhcpd.conf"),
    ),
    (
        "secondary",
        "named.conf",
        include_str!("../../tests/fixtures/seed/secondary/named.conf"),
    ),
    (
        "secondary",
        "named.conf.options",
        include_str!("../../tests/fixtures/seed/secondary/named.conf.options"),
    ),
    (
        "secondary",
        "named.conf.local",
        include_str!("../../tests/fixtures/seed/secondary/named.conf.local"),
    ),
    (
        "secondary",
        "ddns.key",
        include_str!("../../tests/fixtures/seed/secondary/ddns.key"),
    ),
];

/// The programs the demo runs.
const NEEDS: [&str; 4] = ["ip", "dig", "dhclient", "udhcpc"];

#[derive(clap::Args)]
pub struct DemoArgs {
    /// Keep the demo's directory (configs, logs) even when every check passed.
    #[arg(long)]
    keep: bool,
}

/// Runs the demo; the exit code is 0 when every check passed.
pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("tandem demo makes network namespaces: run it as root (sudo tandem demo)");
    }
    let missing: Vec<&str> = NEEDS
        .iter()
        .copied()
        .filter(|p| which(p).is_none())
        .collect();
    if !missing.is_empty() {
        bail!(
            "tandem demo needs {} (Debian: apt-get install iproute2 bind9-dnsutils isc-dhcp-client udhcpc)",
            missing.join(", ")
        );
    }
    lab::catch_signals();
    let exe = std::env::current_exe().context("cannot find the tandem binary")?;
    let mut demo = Demo {
        lab: Lab::new()?,
        exe,
        start: Instant::now(),
        passed: 0,
        failed: 0,
        nodes: Vec::new(),
        clients: Vec::new(),
        admin: None,
    };
    println!(
        "tandem demo: the seed's home network in network namespaces {}-*, files in {}",
        demo.lab.prefix(),
        demo.lab.dir.display()
    );
    let result = demo.scenario();
    let interrupted = matches!(&result, Err(e) if e.downcast_ref::<lab::Interrupted>().is_some());
    if let Err(e) = &result {
        if !interrupted {
            demo.fail("the demo could not go on", &format!("{e:#}"));
        }
    }
    demo.shutdown();
    let secs = demo.start.elapsed().as_secs_f64();
    let code = if interrupted {
        println!("interrupted: cleaned up after {secs:.1}s");
        ExitCode::from(130)
    } else if demo.failed == 0 {
        println!("all {} checks passed ✓ ({secs:.1}s)", demo.passed);
        if args.keep {
            demo.lab.keep_dir = true;
            println!("kept {}", demo.lab.dir.display());
        }
        ExitCode::SUCCESS
    } else {
        demo.lab.keep_dir = true;
        println!(
            "{} of {} checks failed ✗ ({secs:.1}s); configs and logs kept in {}",
            demo.failed,
            demo.passed + demo.failed,
            demo.lab.dir.display()
        );
        ExitCode::FAILURE
    };
    drop(demo);
    Ok(code)
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(["/usr/sbin", "/usr/bin", "/sbin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// One tandem node: its host, the imported configuration and the process.
struct Node {
    role: &'static str,
    addr: Ipv4Addr,
    host: Host,
    /// Its file in the imported directory (`tandem/<role>.toml`).
    config: PathBuf,
    /// Its control socket.
    socket: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Node {
    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `n` lines of the log, indented, for a failed check.
    fn tail(&self, n: usize) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(n);
        format!(
            "last lines of {} ({}):\n{}",
            self.role,
            self.log.display(),
            lines[from..]
                .iter()
                .map(|l| format!("        {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        )
    }

    fn count(&self, needle: &str) -> usize {
        self.log_text().matches(needle).count()
    }

    /// Leases as the running node lists them: address → (state, hardware).
    fn leases(&self) -> anyhow::Result<BTreeMap<Ipv4Addr, (String, String)>> {
        let socket = &self.socket;
        let answer = tandem_server::control::request(socket, "leases")
            .with_context(|| format!("cannot reach {} at {}", self.role, socket.display()))?;
        let body: Vec<&str> = answer.lines().filter(|l| *l != "ok").collect();
        let list: Vec<tandem_server::dhcp::LeaseView> =
            serde_json::from_str(&body.join("\n")).context("unreadable lease list")?;
        Ok(list
            .into_iter()
            .map(|l| (l.address, (l.state, l.hardware_address.unwrap_or_default())))
            .collect())
    }
}

struct Demo {
    lab: Lab,
    exe: PathBuf,
    start: Instant,
    passed: usize,
    failed: usize,
    nodes: Vec<Node>,
    clients: Vec<Client>,
    /// A host of the network with a static address, where `dig` runs.
    admin: Option<Host>,
}

/// The network's DHCP clients: name (also the host name they send), kind,
/// and whether the failover hash gives them to the primary.
const CLIENTS: [(&str, ClientKind, bool); 4] = [
    ("laptop", ClientKind::Dhclient, true),
    ("phone", ClientKind::Udhcpc, false),
    ("tv", ClientKind::Udhcpc, true),
    ("nas", ClientKind::Dhclient, false),
];

/// The client that arrives while the primary is down; the hash gives it
/// to the primary, so only a secondary that took over serves it.
const LATE: (&str, ClientKind, bool) = ("guest", ClientKind::Udhcpc, true);

/// The record added to the primary's zone file.
const CUSTOM: (&str, &str) = ("wiki.home", "10.8.0.5");

fn reverse_name(a: Ipv4Addr) -> String {
    let o = a.octets();
    format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
}

impl Demo {
    fn stamp(&self) -> String {
        format!("{:5.1}s", self.start.elapsed().as_secs_f64())
    }

    fn step(&self, title: &str) {
        println!("{} ── {title}", self.stamp());
    }

    fn note(&self, text: &str) {
        println!("{}      {text}", self.stamp());
    }

    fn pass(&mut self, what: &str) {
        self.passed += 1;
        println!("{}   ✓ {what}", self.stamp());
    }

    fn fail(&mut self, what: &str, detail: &str) {
        self.failed += 1;
        println!("{}   ✗ {what}", self.stamp());
        for l in detail.lines() {
            println!("        {l}");
        }
    }

    fn check(&mut self, ok: bool, what: &str, detail: impl FnOnce() -> String) -> bool {
        if ok {
            self.pass(what);
        } else {
            let d = detail();
            self.fail(what, &d);
        }
        ok
    }

    fn node(&self, addr: Ipv4Addr) -> &Node {
        self.nodes.iter().find(|n| n.addr == addr).expect("node")
    }

    fn role(addr: Ipv4Addr) -> &'static str {
        if addr == PRIMARY {
            "primary"
        } else if addr == SECONDARY {
            "secondary"
        } else {
            "?"
        }
    }

    fn scenario(&mut self) -> anyhow::Result<()> {
        self.setup()?;
        self.import()?;
        self.start_nodes()?;
        self.clients_get_addresses()?;
        self.names_answer("", Duration::from_secs(15))?;
        self.classless_route()?;
        self.custom_record()?;
        self.primary_down()?;
        self.primary_back()?;
        Ok(())
    }

    /// The bridge, the two servers' hosts and the admin host.
    fn setup(&mut self) -> anyhow::Result<()> {
        self.step("the network: one bridge, two server hosts, an admin host");
        for (i, (role, addr)) in [("primary", PRIMARY), ("secondary", SECONDARY)]
            .into_iter()
            .enumerate()
        {
            let name = format!("ns{}", i + 1);
            let mac = format!("02:74:64:00:00:{:02x}", addr.octets()[3]);
            let host = self
                .lab
                .add_host(&name, &mac, Some(&format!("{addr}/24")))?;
            let dir = self.lab.dir.join("tandem");
            self.nodes.push(Node {
                role,
                addr,
                host,
                log: self.lab.dir.join(format!("{role}.log")),
                config: dir.join(format!("{role}.toml")),
                socket: dir.join(format!("state/{role}/control.sock")),
                child: None,
            });
        }
        self.admin = Some(self.lab.add_host(
            "admin",
            "02:74:64:00:00:0a",
            Some("192.168.0.10/24"),
        )?);
        self.pass(&format!(
            "namespaces {p}-lan (bridge br0), {p}-ns1 (192.168.0.254), {p}-ns2 (192.168.0.253), {p}-admin (192.168.0.10)",
            p = self.lab.prefix()
        ));
        Ok(())
    }

    /// Each node's config from its dhcpd.conf and named.conf.
    fn import(&mut self) -> anyhow::Result<()> {
        self.step(
            "tandem import-isc: both servers' dhcpd.conf and named.conf, as the seed has them",
        );
        let isc = self.lab.dir.join("isc");
        for (role, name, text) in SEED_FILES {
            let dir = isc.join(role);
            std::fs::create_dir_all(&dir)?;
            std::fs::write(dir.join(name), text)?;
        }
        // One import of both servers' files: shared.toml plus each node's
        // identity (primary.toml, secondary.toml), in one directory.
        let (p, s) = (isc.join("primary"), isc.join("secondary"));
        let mut c = Command::new(&self.exe);
        c.arg("import-isc")
            .arg("--dhcpd-conf")
            .arg(p.join("dhcpd.conf"))
            .arg("--named-conf")
            .arg(p.join("named.conf"))
            .arg("--peer-dhcpd-conf")
            .arg(s.join("dhcpd.conf"))
            .arg("--peer-named-conf")
            .arg(s.join("named.conf"))
            .args(["--interface", "eth0", "--out"])
            .arg(self.lab.dir.join("tandem"));
        let (ok, out) = lab::run_bounded(&mut c, Duration::from_secs(20))?;
        std::fs::write(self.lab.dir.join("import.txt"), &out)?;
        let shared = self.lab.dir.join("tandem/shared.toml");
        self.check(
            ok && shared.exists(),
            "tandem/shared.toml: keys, subnet, pool, options, DDNS zones — what both nodes share",
            || out.clone(),
        );
        for i in 0..self.nodes.len() {
            let role = self.nodes[i].role;
            let config = self.nodes[i].config.clone();
            let untranslated = out
                .lines()
                .find(|l| l.starts_with(&format!("{role}.toml: not translated (")))
                .map(|l| {
                    l.trim_start_matches(&format!("{role}.toml: "))
                        .trim_end_matches(':')
                        .to_string()
                })
                .unwrap_or_else(|| "nothing untranslated".into());
            let checked = out.contains(&format!("check: {}: ok", config.display()));
            let what = format!(
                "tandem/{role}.toml: its identity (zones, failover peer) written and checked ({untranslated}, listed with file:line in import.txt)"
            );
            if !self.check(ok && checked, &what, || out.clone()) {
                bail!("the import failed");
            }
        }
        Ok(())
    }

    fn start_node(&mut self, addr: Ipv4Addr) -> anyhow::Result<bool> {
        let i = self
            .nodes
            .iter()
            .position(|n| n.addr == addr)
            .expect("node");
        let before = self.nodes[i].count("tandem ready:");
        let mut c = self.nodes[i].host.command(&self.exe.display().to_string());
        c.arg("serve").arg("--config").arg(&self.nodes[i].config);
        let log = self.nodes[i].log.clone();
        let child = self.lab.spawn(c, &log)?;
        self.nodes[i].child = Some(child);
        let ready = poll(Duration::from_secs(20), || {
            let n = &mut self.nodes[i];
            if let Some(c) = n.child.as_mut() {
                if !matches!(c.try_wait(), Ok(None)) {
                    return Some(false);
                }
            }
            (n.count("tandem ready:") > before).then_some(true)
        })?
        .unwrap_or(false);
        let n = &self.nodes[i];
        let what = format!(
            "{} tandem serving in {} (pid {})",
            n.role,
            n.host.ns,
            n.child.as_ref().map_or(0, Child::id)
        );
        let tail = n.tail(15);
        Ok(self.check(ready, &what, || tail))
    }

    /// Waits until `node` logs `needle` more than `before` times.
    fn wait_log(
        &self,
        addr: Ipv4Addr,
        needle: &str,
        before: usize,
        timeout: Duration,
    ) -> anyhow::Result<bool> {
        let n = self.node(addr);
        Ok(poll(timeout, || (n.count(needle) > before).then_some(()))?.is_some())
    }

    fn start_nodes(&mut self) -> anyhow::Result<()> {
        self.step("both nodes start: DHCP failover pair, primary and secondary zones");
        let ok1 = self.start_node(PRIMARY)?;
        let ok2 = self.start_node(SECONDARY)?;
        if !(ok1 && ok2) {
            bail!("a node did not start");
        }
        self.note("waiting for the failover pair to reach normal ...");
        for addr in [PRIMARY, SECONDARY] {
            let ok = self.wait_log(addr, "Both servers normal", 0, Duration::from_secs(30))?;
            let tail = self.node(addr).tail(20);
            self.check(
                ok,
                &format!(
                    "{}: failover peer dhcp-failover: Both servers normal",
                    Self::role(addr)
                ),
                || tail,
            );
        }
        self.note("waiting for the secondary's first zone transfers ...");
        let admin = self.admin.clone().expect("admin");
        for zone in ["home", "0.168.192.in-addr.arpa"] {
            let serial = poll(Duration::from_secs(20), || {
                admin
                    .dig(SECONDARY, zone, "SOA")
                    .ok()
                    .and_then(|a| a.first().cloned())
            })?;
            let tail = self.node(SECONDARY).tail(20);
            self.check(
                serial.is_some(),
                &format!(
                    "secondary serves {zone} transferred from the primary (SOA {})",
                    serial.as_deref().unwrap_or("none")
                ),
                || tail,
            );
        }
        Ok(())
    }

    fn mac_for(kind: ClientKind, primary: bool, skip: usize) -> String {
        (0..=255u8)
            .map(|n| [0x02, 0x74, 0x64, 0x00, 0x01, n])
            .filter(|m| {
                let b = tandem_dhcp::failover::bucket(&kind.hash_key(m));
                (b < 128) == primary
            })
            .nth(skip)
            .map(|m| {
                m.iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(":")
            })
            .unwrap_or_default()
    }

    fn start_client(
        &mut self,
        (name, kind, primary): (&str, ClientKind, bool),
        skip: usize,
    ) -> anyhow::Result<usize> {
        let mac = Self::mac_for(kind, primary, skip);
        let host = self.lab.add_host(name, &mac, None)?;
        let c = Client::start(&mut self.lab, kind, host, name)?;
        self.clients.push(c);
        Ok(self.clients.len() - 1)
    }

    fn clients_get_addresses(&mut self) -> anyhow::Result<()> {
        self.step("DHCP clients ask for addresses (split 128: the hash gives each to one node)");
        let mut idx = Vec::new();
        for (i, c) in CLIENTS.into_iter().enumerate() {
            idx.push(self.start_client(c, i)?);
        }
        let mut by_server: BTreeMap<Ipv4Addr, usize> = BTreeMap::new();
        for (i, (_, _, primary)) in idx.into_iter().zip(CLIENTS) {
            let lease = self.clients[i].wait_lease(Duration::from_secs(30))?;
            let c = &self.clients[i];
            let expect = if primary { PRIMARY } else { SECONDARY };
            let what = match &lease {
                Some(l) => format!(
                    "{} ({}, {}) got {} from {} ({})",
                    c.hostname,
                    c.kind.program(),
                    c.host.mac,
                    l.address,
                    l.server_id.map_or("?".into(), |s| s.to_string()),
                    l.server_id.map_or("?", Self::role)
                ),
                None => format!(
                    "{} ({}, {}) got an address",
                    c.hostname,
                    c.kind.program(),
                    c.host.mac
                ),
            };
            let log = c.log();
            let ok = lease.as_ref().is_some_and(|l| l.server_id == Some(expect));
            if let Some(s) = lease.as_ref().and_then(|l| l.server_id) {
                *by_server.entry(s).or_default() += 1;
            }
            self.check(ok, &what, || {
                format!(
                    "expected a lease from the {} ({expect}); client log:\n{log}",
                    Self::role(expect)
                )
            });
        }
        let p = by_server.get(&PRIMARY).copied().unwrap_or(0);
        let s = by_server.get(&SECONDARY).copied().unwrap_or(0);
        self.check(
            p > 0 && s > 0,
            &format!("the clients are split between the nodes: {p} from the primary, {s} from the secondary"),
            String::new,
        );
        Ok(())
    }

    /// Every client's name (A and PTR) on both DNS nodes. `when` goes in
    /// the check's line.
    fn names_answer(&mut self, when: &str, timeout: Duration) -> anyhow::Result<()> {
        self.step(&format!("the clients' names in DNS, on both nodes{when}"));
        let admin = self.admin.clone().expect("admin");
        let names: Vec<(String, Ipv4Addr)> = self
            .clients
            .iter()
            .filter_map(|c| {
                c.lease
                    .as_ref()
                    .map(|l| (format!("{}.home", c.hostname), l.address))
            })
            .collect();
        for server in [PRIMARY, SECONDARY] {
            for (name, addr) in &names {
                let a = addr.to_string();
                let got = poll(timeout, || {
                    admin.dig(server, name, "A").ok().filter(|v| v.contains(&a))
                })?;
                let last = admin
                    .dig(server, name, "A")
                    .map(|v| v.join(" "))
                    .unwrap_or_else(|e| e.to_string());
                let ptr_name = reverse_name(*addr);
                let fqdn = format!("{name}.");
                let ptr = poll(timeout, || {
                    admin
                        .dig(server, &ptr_name, "PTR")
                        .ok()
                        .filter(|v| v.contains(&fqdn))
                })?;
                let last_ptr = admin
                    .dig(server, &ptr_name, "PTR")
                    .map(|v| v.join(" "))
                    .unwrap_or_else(|e| e.to_string());
                let tail = self.node(server).tail(12);
                let tail2 = tail.clone();
                self.check(
                    got.is_some(),
                    &format!("{} ({server}): {name} A {addr}", Self::role(server)),
                    || format!("dig answered: {last:?}\n{tail}"),
                );
                self.check(
                    ptr.is_some(),
                    &format!("{} ({server}): {ptr_name} PTR {fqdn}", Self::role(server)),
                    || format!("dig answered: {last_ptr:?}\n{tail2}"),
                );
            }
        }
        Ok(())
    }

    fn classless_route(&mut self) -> anyhow::Result<()> {
        self.step("option 121: the VPN route (10.8.0.0/24 via 192.168.0.2) on each client");
        for i in 0..self.clients.len() {
            let routes = self.clients[i].host.routes()?;
            let c = &self.clients[i];
            let ok = routes
                .iter()
                .any(|r| r.starts_with("10.8.0.0/24 via 192.168.0.2 "));
            let what = format!(
                "{} ({}): ip route has 10.8.0.0/24 via 192.168.0.2",
                c.hostname,
                c.kind.program()
            );
            self.check(ok, &what, || format!("ip -4 route:\n{}", routes.join("\n")));
        }
        Ok(())
    }

    fn custom_record(&mut self) -> anyhow::Result<()> {
        let (name, addr) = CUSTOM;
        self.step(&format!(
            "a custom record: {name} A {addr} added to the primary's zone file, tandem reload"
        ));
        let zone = self.lab.dir.join("tandem/zones/home.zone");
        lab::append(
            &zone,
            &format!("wiki\tIN A\t{addr}\t; added by tandem demo\n"),
        )?;
        let mut c = Command::new(&self.exe);
        c.arg("reload")
            .arg("--config")
            .arg(&self.node(PRIMARY).config);
        let (ok, out) = lab::run_bounded(&mut c, Duration::from_secs(10))?;
        self.check(ok, "tandem reload --config tandem/primary.toml", || {
            out.clone()
        });
        let admin = self.admin.clone().expect("admin");
        for server in [PRIMARY, SECONDARY] {
            let got = poll(Duration::from_secs(10), || {
                admin
                    .dig(server, name, "A")
                    .ok()
                    .filter(|v| v.iter().any(|l| l == addr))
            })?;
            let tail = self.node(server).tail(12);
            self.check(
                got.is_some(),
                &format!(
                    "{} ({server}): {name} A {addr}{}",
                    Self::role(server),
                    if server == SECONDARY {
                        " (NOTIFY, IXFR)"
                    } else {
                        ""
                    }
                ),
                || tail,
            );
        }
        Ok(())
    }

    fn primary_down(&mut self) -> anyhow::Result<()> {
        self.step("the primary is killed (SIGKILL): the secondary takes over DHCP and DNS updates");
        let before = self
            .node(SECONDARY)
            .count("I move from normal to communications-interrupted");
        let i = self
            .nodes
            .iter()
            .position(|n| n.addr == PRIMARY)
            .expect("primary");
        if let Some(mut c) = self.nodes[i].child.take() {
            let pid = c.id();
            self.lab.kill9(&mut c);
            self.note(&format!("killed the primary (pid {pid})"));
        }
        let ok = self.wait_log(
            SECONDARY,
            "I move from normal to communications-interrupted",
            before,
            Duration::from_secs(15),
        )?;
        let tail = self.node(SECONDARY).tail(15);
        self.check(ok, "secondary: failover peer dhcp-failover: I move from normal to communications-interrupted", || tail);
        let admin = self.admin.clone().expect("admin");
        let down = admin.dig(PRIMARY, "home", "SOA").is_err();
        self.check(down, "the primary's DNS no longer answers", String::new);

        let i = self.start_client(LATE, 0)?;
        self.note(&format!(
            "new client {} ({}, {}) whose hash gives it to the primary",
            self.clients[i].hostname,
            self.clients[i].kind.program(),
            self.clients[i].host.mac
        ));
        let lease = self.clients[i].wait_lease(Duration::from_secs(30))?;
        let c = &self.clients[i];
        let log = c.log();
        let tail = self.node(SECONDARY).tail(15);
        let what = match &lease {
            Some(l) => format!(
                "{} got {} from {}",
                c.hostname,
                l.address,
                l.server_id
                    .map_or("?".into(), |s| format!("{s} ({})", Self::role(s)))
            ),
            None => format!("{} got an address from the secondary", c.hostname),
        };
        self.check(
            lease
                .as_ref()
                .is_some_and(|l| l.server_id == Some(SECONDARY)),
            &what,
            || format!("client log:\n{log}\n{tail}"),
        );
        if let Some(l) = lease {
            let name = format!("{}.home", self.clients[i].hostname);
            let a = l.address.to_string();
            let got = poll(Duration::from_secs(20), || {
                admin
                    .dig(SECONDARY, &name, "A")
                    .ok()
                    .filter(|v| v.contains(&a))
            })?;
            let tail = self.node(SECONDARY).tail(15);
            self.check(
                got.is_some(),
                &format!("secondary ({SECONDARY}): {name} A {a} (its update waits in the secondary's outbox for the primary)"),
                || tail,
            );
        }
        Ok(())
    }

    fn primary_back(&mut self) -> anyhow::Result<()> {
        self.step("the primary restarts: both nodes back to normal, nothing lost");
        let p_before = self.node(PRIMARY).count("Both servers normal");
        let s_before = self.node(SECONDARY).count("Both servers normal");
        if !self.start_node(PRIMARY)? {
            bail!("the primary did not restart");
        }
        self.note("waiting for the failover pair to reach normal again ...");
        for (addr, before) in [(PRIMARY, p_before), (SECONDARY, s_before)] {
            let ok = self.wait_log(addr, "Both servers normal", before, Duration::from_secs(30))?;
            let tail = self.node(addr).tail(20);
            self.check(
                ok,
                &format!(
                    "{}: failover peer dhcp-failover: Both servers normal",
                    Self::role(addr)
                ),
                || tail,
            );
        }
        self.names_answer(" after the outage", Duration::from_secs(35))?;
        self.step("every lease on both nodes");
        let mut clients: Vec<(String, String, Ipv4Addr)> = self
            .clients
            .iter()
            .filter_map(|c| {
                c.lease
                    .as_ref()
                    .map(|l| (c.hostname.clone(), c.host.mac.clone(), l.address))
            })
            .collect();
        clients.sort();
        for addr in [PRIMARY, SECONDARY] {
            let found = poll(Duration::from_secs(10), || {
                let leases = self.node(addr).leases().ok()?;
                clients
                    .iter()
                    .all(|(_, mac, a)| {
                        leases.get(a).is_some_and(|(state, hw)| {
                            state == "active" && hw.to_ascii_lowercase().contains(mac)
                        })
                    })
                    .then_some(())
            })?;
            let listing = match self.node(addr).leases() {
                Ok(l) => l
                    .iter()
                    .filter(|(_, (s, _))| s != "free" && s != "backup")
                    .map(|(a, (s, h))| format!("{a} {s} {h}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
                Err(e) => format!("{e:#}"),
            };
            let names: Vec<&str> = clients.iter().map(|(n, _, _)| n.as_str()).collect();
            self.check(
                found.is_some(),
                &format!(
                    "{}: {} leases active ({})",
                    Self::role(addr),
                    clients.len(),
                    names.join(", ")
                ),
                || format!("the node lists:\n{listing}"),
            );
        }
        Ok(())
    }

    /// Ends the clients and the nodes (by PID) before the lab goes.
    fn shutdown(&mut self) {
        let mut clients = std::mem::take(&mut self.clients);
        for c in &mut clients {
            c.stop(&mut self.lab);
        }
        for i in 0..self.nodes.len() {
            if let Some(mut c) = self.nodes[i].child.take() {
                self.lab.stop(&mut c, Duration::from_secs(5));
            }
        }
    }
}
