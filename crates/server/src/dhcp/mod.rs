//! The DHCP shell: one socket and thread per interface feeding
//! `tandem-dhcp`'s engine, the lease store in front of every reply, conflict
//! probes off the request path, and a timer that expires leases.
//!
//! The ordering rule lives here: a reply whose request changed a lease is
//! sent from the lease store's completion callback, after `fdatasync`, and
//! never if the write failed.

pub mod net;
pub mod raw;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;
use tandem_dhcp::config::ConflictDetection;
use tandem_dhcp::{Destination, DhcpConfig, Engine, Ingress, Lease, Outcome, Reply};
use tandem_dhcp_wire::options::hex;
use tandem_dhcp_wire::Packet;
use tandem_leasestore::{LeaseStore, StoreOptions};

/// Counters for `tandem status`.
#[derive(Debug, Default)]
pub struct Counters {
    pub received: AtomicU64,
    pub malformed: AtomicU64,
    pub replies: AtomicU64,
    pub commit_failures: AtomicU64,
}

pub(crate) struct Ctx {
    pub(crate) engine: Mutex<Engine>,
    pub(crate) store: LeaseStore,
    pub(crate) config: Arc<DhcpConfig>,
    counters: Counters,
    stop: Arc<AtomicBool>,
    ddns: Option<Arc<crate::ddns::DdnsService>>,
    /// Told of every durable lease change (failover's binding updates).
    pub(crate) observer: std::sync::OnceLock<crate::failover::Observer>,
}

/// One interface: its socket and what the engine needs to know about it.
struct Link {
    name: String,
    sock: UdpSocket,
    addrs: Mutex<(Instant, Vec<(Ipv4Addr, u8)>)>,
    /// Unicast to an address-less client's hardware address; `None` when
    /// the packet socket could not be opened (then an ARP entry, or
    /// broadcast).
    raw: Option<raw::RawLink>,
}

impl Link {
    /// The interface's addresses, re-read every few seconds so an address
    /// added after start is picked up.
    fn ingress(&self) -> Ingress {
        let mut cached = lock(&self.addrs);
        if cached.0.elapsed() > Duration::from_secs(5) {
            if let Ok(a) = net::interface_addrs(&self.name) {
                *cached = (Instant::now(), a);
            }
        }
        Ingress {
            interface: self.name.clone(),
            addrs: cached.1.clone(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn unix_now() -> u64 {
    crate::unix_now()
}

/// The running DHCP server.
pub struct DhcpService {
    ctx: Arc<Ctx>,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
    interfaces: Vec<String>,
    failover: Option<crate::failover::Failover>,
}

impl DhcpService {
    /// Opens the lease store under `state_dir/dhcp` and binds a socket on
    /// every configured interface.
    /// `ddns`, if set, is told about every lease change (issue 5).
    pub fn start(
        config: &DhcpConfig,
        state_dir: &Path,
        ddns: Option<Arc<crate::ddns::DdnsService>>,
    ) -> anyhow::Result<DhcpService> {
        let dir = state_dir.join("dhcp");
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let opened = LeaseStore::open(
            &dir,
            StoreOptions {
                max_size: config.lease_journal_max_size,
                ..StoreOptions::default()
            },
        )
        .with_context(|| format!("cannot open the lease store in {}", dir.display()))?;
        for w in &opened.warnings {
            tracing::warn!("lease store: {w}");
        }
        let mut opened = opened;
        if let Some(file) = &config.import_leases {
            if opened.leases.is_empty() {
                let leases = read_imported(file)?;
                opened
                    .store
                    .commit_blocking(leases.clone())
                    .context("cannot store the imported leases")?;
                tracing::info!("imported {} leases from {}", leases.len(), file.display());
                opened.leases = leases;
            } else {
                tracing::info!(
                    "not importing {}: the lease store already holds leases",
                    file.display()
                );
            }
        }
        let active = opened
            .leases
            .iter()
            .filter(|l| l.is_active_at(unix_now()))
            .count();
        tracing::info!(
            "lease store {}: {} leases, {active} active",
            dir.display(),
            opened.leases.len()
        );
        if let Some(d) = &ddns {
            d.reconcile(&opened.leases, unix_now());
        }
        let config = Arc::new(config.clone());
        let mut links = Vec::new();
        for name in &config.interfaces {
            let sock = net::bind_device(name, config.port).with_context(|| {
                format!(
                    "cannot listen for DHCP on interface {name} port {}",
                    config.port
                )
            })?;
            let addrs = net::interface_addrs(name).unwrap_or_default();
            if addrs.is_empty() {
                tracing::warn!("interface {name} has no IPv4 address; only relayed requests can be served there");
            }
            let raw = match raw::RawLink::open(name) {
                Ok(r) => Some(r),
                Err(e) => {
                    tracing::warn!(
                        "interface {name}: no packet socket ({e}); replies to clients without an address go through an ARP entry or broadcast"
                    );
                    None
                }
            };
            links.push(Arc::new(Link {
                name: name.clone(),
                sock,
                addrs: Mutex::new((Instant::now(), addrs)),
                raw,
            }));
        }
        let ctx = Arc::new(Ctx {
            engine: Mutex::new(Engine::new(config.clone(), opened.leases)),
            store: opened.store,
            config: config.clone(),
            counters: Counters::default(),
            stop: Arc::new(AtomicBool::new(false)),
            ddns,
            observer: std::sync::OnceLock::new(),
        });
        let mut threads = Vec::new();
        for link in links {
            let ctx = ctx.clone();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("dhcp-{}", link.name))
                    .spawn(move || serve_link(ctx, link))?,
            );
        }
        {
            let ctx = ctx.clone();
            threads.push(
                std::thread::Builder::new()
                    .name("dhcp-timer".into())
                    .spawn(move || timer(ctx))?,
            );
        }
        let failover = (!config.failover.is_empty())
            .then(|| crate::failover::Failover::start(ctx.clone(), &dir))
            .transpose()?;
        Ok(DhcpService {
            ctx,
            threads: Mutex::new(threads),
            interfaces: config.interfaces.clone(),
            failover,
        })
    }

    pub fn interfaces(&self) -> &[String] {
        &self.interfaces
    }

    /// The failover relationships, when `[[dhcp.failover]]` is configured.
    pub fn failover(&self) -> Option<&crate::failover::Failover> {
        self.failover.as_ref()
    }

    /// Every lease, for `tandem leases`.
    pub fn leases(&self) -> Vec<LeaseView> {
        let now = unix_now();
        lock(&self.ctx.engine)
            .leases()
            .map(|l| LeaseView::of(l, now))
            .collect()
    }

    /// One status line.
    pub fn status(&self) -> String {
        let c = &self.ctx.counters;
        let now = unix_now();
        let engine = lock(&self.ctx.engine);
        let active = engine.leases().filter(|l| l.is_active_at(now)).count();
        let size: u64 = self
            .ctx
            .config
            .subnets
            .iter()
            .flat_map(|s| &s.pools)
            .map(|p| p.size())
            .sum();
        drop(engine);
        let line = format!(
            "dhcp on {}: {active} active leases of {size} pool addresses; {} requests, {} replies, {} malformed, {} failed commits",
            self.interfaces.join(" "),
            c.received.load(Ordering::Relaxed),
            c.replies.load(Ordering::Relaxed),
            c.malformed.load(Ordering::Relaxed),
            c.commit_failures.load(Ordering::Relaxed),
        );
        match &self.failover {
            Some(f) => format!("{line}\n{}", f.status()),
            None => line,
        }
    }

    /// Stops the threads and closes the lease store (after its last sync).
    pub fn shutdown(&self) {
        if let Some(f) = &self.failover {
            f.shutdown();
        }
        self.ctx.stop.store(true, Ordering::Relaxed);
        for t in std::mem::take(&mut *lock(&self.threads)) {
            let _ = t.join();
        }
        self.ctx.store.close();
    }
}

/// The leases `tandem import-isc --leases` wrote (a JSON array).
fn read_imported(file: &Path) -> anyhow::Result<Vec<Lease>> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read imported leases {}", file.display()))?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{}: not a lease list written by tandem import-isc",
            file.display()
        )
    })
}

/// A lease as `tandem leases --json` prints it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct LeaseView {
    pub address: Ipv4Addr,
    pub state: String,
    pub hardware_address: Option<String>,
    pub client_id: Option<String>,
    pub hostname: Option<String>,
    pub starts: u64,
    pub ends: u64,
    /// Seconds until `ends` (0 once passed).
    pub remaining: u64,
}

impl LeaseView {
    fn of(l: &Lease, now: u64) -> LeaseView {
        LeaseView {
            address: l.addr,
            state: l.state.to_string(),
            hardware_address: l.hw.as_ref().map(|h| h.to_string()),
            client_id: l.client_id.as_deref().map(hex),
            hostname: l.hostname.clone(),
            starts: l.start,
            ends: l.end,
            remaining: l.end.saturating_sub(now),
        }
    }
}

fn serve_link(ctx: Arc<Ctx>, link: Arc<Link>) {
    let mut buf = vec![0u8; 4096];
    while !ctx.stop.load(Ordering::Relaxed) {
        let n = match link.sock.recv_from(&mut buf) {
            Ok((n, _)) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) => {
                tracing::warn!("DHCP receive on {}: {e}", link.name);
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        ctx.counters.received.fetch_add(1, Ordering::Relaxed);
        let packet = match Packet::parse(&buf[..n]) {
            Ok(p) => p,
            Err(e) => {
                ctx.counters.malformed.fetch_add(1, Ordering::Relaxed);
                tracing::debug!("dropped a malformed DHCP packet on {}: {e}", link.name);
                continue;
            }
        };
        process(&ctx, &link, packet, false);
    }
}

/// Runs one request through the engine; a probe, if asked for, runs on its
/// own thread and hands the request back in when it is done.
///
/// Lease changes are queued on the store while the engine lock is held, so
/// the journal sees every address's versions in the order the engine made
/// them (replay takes the last one).
fn process(ctx: &Arc<Ctx>, link: &Arc<Link>, packet: Packet, after_probe: bool) {
    let ingress = link.ingress();
    let mut engine = lock(&ctx.engine);
    let mut out = engine.handle(&packet, &ingress, unix_now());
    let ddns = ctx
        .ddns
        .as_ref()
        .and_then(|d| d.prepare(&packet, &mut out, &engine, unix_now()));
    // The records DDNS decided go with the lease (into the store, and to
    // a tandem failover partner).
    if ctx.ddns.is_some() {
        for l in &out.changes {
            if l.is_active_at(unix_now()) {
                engine.set_lease_ddns(l.addr, l.start, l.ddns.clone());
            }
        }
    }
    // The request was logged on its first pass, before the probe.
    let skip = usize::from(after_probe && !out.log.is_empty());
    log(&out.log[skip..]);
    if let Some(ip) = out.probe {
        drop(engine);
        let (ctx, link) = (ctx.clone(), link.clone());
        std::thread::spawn(move || probe(ctx, link, packet, ip));
        return;
    }
    let Outcome { reply, changes, .. } = out;
    if changes.is_empty() {
        drop(engine);
        if let Some(r) = reply {
            send_reply(ctx, link, &r);
        }
        return;
    }
    // The reply leaves from the completion, after fdatasync.
    let (ctx2, link2) = (ctx.clone(), link.clone());
    let seen = ctx.watched(&changes);
    ctx.store.commit(
        changes,
        Box::new(move |result| match result {
            Ok(()) => {
                if let Some(r) = reply {
                    send_reply(&ctx2, &link2, &r);
                }
                if let Some(w) = seen {
                    w.tell();
                }
                if let Some(p) = ddns {
                    p.committed();
                }
            }
            Err(e) => {
                ctx2.counters
                    .commit_failures
                    .fetch_add(1, Ordering::Relaxed);
                tracing::error!("lease store: commit failed, reply withheld: {e}");
            }
        }),
    );
    drop(engine);
}

/// Pings `ip`, records the answer and runs the request again.
fn probe(ctx: Arc<Ctx>, link: Arc<Link>, packet: Packet, ip: Ipv4Addr) {
    let timeout = Duration::from_millis(ctx.config.conflict_timeout_ms);
    // ARP reaches only this segment; a relayed client's address is pinged.
    let relayed = !packet.giaddr.is_unspecified();
    let in_use = match ctx.config.conflict_detection {
        ConflictDetection::None => Ok(false),
        ConflictDetection::Arp if !relayed => net::arp_probe(&link.name, ip, timeout),
        ConflictDetection::Icmp | ConflictDetection::Arp => {
            net::icmp_probe(&link.name, ip, timeout)
        }
    }
    .unwrap_or_else(|e| {
        tracing::warn!(
            "conflict probe of {ip} on {} failed: {e}; treating it as free",
            link.name
        );
        false
    });
    {
        let mut engine = lock(&ctx.engine);
        let changes = engine.probe_result(ip, in_use, unix_now());
        if in_use {
            let what = match ctx.config.conflict_detection {
                ConflictDetection::Arp if !relayed => "ARP reply",
                _ => "ICMP Echo reply",
            };
            if changes.is_empty() {
                tracing::info!(
                    "{what} while probing {ip}: leased meanwhile, so its holder answered; kept"
                );
            } else {
                tracing::warn!(
                    "{what} while probing {ip}: abandoned for {} s",
                    ctx.config.decline_hold
                );
            }
        }
        commit_logged(&ctx, &engine, changes, "the conflict");
    }
    process(&ctx, &link, packet, true);
}

/// Queues changes no reply waits for; a failure is logged.
fn commit_logged(ctx: &Ctx, engine: &Engine, changes: Vec<Lease>, what: &'static str) {
    if changes.is_empty() {
        return;
    }
    let ddns = ctx
        .ddns
        .as_ref()
        .and_then(|d| d.changes(&changes, engine, unix_now()));
    let seen = ctx.watched(&changes);
    ctx.store.commit(
        changes,
        Box::new(move |r| match r {
            Err(e) => tracing::error!("lease store: cannot record {what}: {e}"),
            Ok(()) => {
                if let Some(w) = seen {
                    w.tell();
                }
                if let Some(p) = ddns {
                    p.committed();
                }
            }
        }),
    );
}

fn send_reply(ctx: &Ctx, link: &Link, r: &Reply) {
    let enc = r.packet.encode(r.max_len);
    if !enc.dropped.is_empty() {
        tracing::warn!(
            "reply to {}: options {:?} did not fit in {} bytes and were left out",
            tandem_dhcp::HwAddr {
                htype: r.packet.htype,
                addr: r.packet.hw_addr().to_vec()
            },
            enc.dropped,
            r.max_len
        );
    }
    let client = ctx.config.client_port;
    let to = match &r.dest {
        Destination::Relay(g) => SocketAddrV4::new(*g, ctx.config.port),
        Destination::Unicast(ip) => SocketAddrV4::new(*ip, client),
        Destination::Broadcast => SocketAddrV4::new(Ipv4Addr::BROADCAST, client),
        Destination::UnicastHw { ip, hw } => {
            if let (Some(raw), Some(src)) = (&link.raw, reply_source(r, link)) {
                let from = SocketAddrV4::new(src, ctx.config.port);
                match raw.send(from, SocketAddrV4::new(*ip, client), *hw, &enc.bytes) {
                    Ok(()) => {
                        tracing::debug!(
                            "reply to {ip} unicast to its hardware address through the packet socket on {}",
                            link.name
                        );
                        ctx.counters.replies.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    Err(e) => tracing::debug!(
                        "cannot send to {ip} through the packet socket on {}: {e}",
                        link.name
                    ),
                }
            }
            match net::set_arp_entry(&link.sock, &link.name, *ip, *hw) {
                Ok(()) => SocketAddrV4::new(*ip, client),
                Err(e) => {
                    tracing::debug!(
                        "cannot add ARP entry for {ip} on {}: {e}; broadcasting",
                        link.name
                    );
                    SocketAddrV4::new(Ipv4Addr::BROADCAST, client)
                }
            }
        }
    };
    net::send(&link.sock, &enc.bytes, SocketAddr::V4(to));
    ctx.counters.replies.fetch_add(1, Ordering::Relaxed);
}

/// The address a reply comes from: its server identifier (always set in
/// OFFER, ACK and NAK), else the interface's first address.
fn reply_source(r: &Reply, link: &Link) -> Option<Ipv4Addr> {
    r.packet
        .options
        .get(tandem_dhcp_wire::code::SERVER_ID)
        .and_then(|v| <[u8; 4]>::try_from(v).ok())
        .map(Ipv4Addr::from)
        .or_else(|| lock(&link.addrs).1.first().map(|(a, _)| *a))
}

fn log(lines: &[tandem_dhcp::LogLine]) {
    for l in lines {
        if l.warn {
            tracing::warn!("{}", l.text);
        } else {
            tracing::info!("{}", l.text);
        }
    }
}

/// Expires leases once a second and compacts the journal now and then.
fn timer(ctx: Arc<Ctx>) {
    let mut last_compact = Instant::now();
    while !ctx.stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(500));
        {
            let mut engine = lock(&ctx.engine);
            let (changes, lines) = engine.tick(unix_now());
            log(&lines);
            commit_logged(&ctx, &engine, changes, "expiries");
            if let Some(d) = &ctx.ddns {
                d.tick(&engine, unix_now());
            }
        }
        if last_compact.elapsed() > Duration::from_secs(30) {
            last_compact = Instant::now();
            let all: Vec<Lease> = lock(&ctx.engine).leases().cloned().collect();
            match ctx.store.compact_if_needed(&all) {
                Ok(true) => tracing::info!("lease store: compacted to {} leases", all.len()),
                Ok(false) => {}
                Err(e) => tracing::error!("lease store: compaction failed: {e}"),
            }
        }
    }
}
