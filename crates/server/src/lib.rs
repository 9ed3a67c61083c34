//! The tokio shell around tandem's pure cores: it binds the sockets, feeds
//! bytes to `tandem-dns`, hands updates to the zone store, serves the
//! control socket and turns signals into reloads and a clean stop.
//!
//! - [`udp`]: blocking UDP worker threads (the query fast path).
//! - [`tcp`]: RFC 7766 TCP with pipelining and idle timeouts.
//! - [`control`]: the Unix control socket behind `tandem reload`.
//! - [`dhcp`]: the DHCP sockets, lease commits before replies, probes.
//! - [`ddns`]: leases into DNS (an RFC 2136 client with a durable queue).
//! - [`forward`]: the forwarding resolver (upstream sockets, cache shards).
//! - [`notify`]: NOTIFY out to `also-notify` addresses on every change.
//! - [`secondary`]: secondary zones (refresh, transfers in, NOTIFY in) and
//!   update forwarding with its durable outbox.

pub mod control;
pub mod ddns;
pub mod dhcp;
pub mod failover;
pub mod forward;
pub mod notify;
pub mod secondary;
pub mod system;
pub mod tcp;
pub mod udp;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tandem_config::{Config, NotifyMode, ZoneRole};
use tandem_dns::{query, Outcome, SecondaryPolicy, Settings, Source, ZonePolicy};
use tandem_dns_wire::Name;
use tandem_zonestore::{ZoneKind, ZoneSpec, ZoneStore};

/// A reply callback for work that finishes later (an update waits for disk).
pub type Reply = Box<dyn FnOnce(Vec<u8>) + Send>;

/// What every listener shares.
pub struct Shared {
    pub store: Arc<ZoneStore>,
    pub settings: Settings,
    pub tcp_idle_timeout: Duration,
    pub tcp_max_connections: usize,
    pub dhcp: Option<Arc<dhcp::DhcpService>>,
    /// Leases into DNS, when `[ddns]` is configured.
    pub ddns: Option<Arc<ddns::DdnsService>>,
    /// The forwarding resolver, when `[resolver]` is configured.
    pub forwarder: Option<Arc<forward::Forwarder>>,
    /// The secondary zones' tasks, when there are any.
    pub secondaries: Option<Arc<secondary::Secondaries>>,
    /// Who transferred which zone from us, at which serial and when: the
    /// secondaries' lag in `tandem status`.
    pub transferred_by:
        std::sync::Mutex<std::collections::BTreeMap<(Name, std::net::IpAddr), (u32, u64)>>,
    pub started: std::time::Instant,
    /// Finished UDP answers, shared by every UDP worker of every address.
    pub udp_cache: Arc<tandem_dns::cache::UdpCache>,
}

impl Shared {
    /// Answers one request from the current zone snapshot.
    pub fn handle(&self, bytes: &[u8], source: Source) -> Outcome {
        let catalog = self.store.snapshot();
        tandem_dns::handle(&catalog, &self.settings, bytes, source, unix_now())
    }

    /// Queues an update; `reply` runs once it is durable (or refused).
    pub fn submit_update(&self, req: query::UpdateRequest, reply: Reply) {
        self.store.submit_update(req, reply);
    }

    /// A NOTIFY for a secondary zone; returns the answer to send.
    pub fn notify(&self, req: query::NotifyRequest) -> Vec<u8> {
        if let Some(s) = &self.secondaries {
            s.notify(&req);
        }
        req.reply
    }

    /// An update for a secondary zone: forwarded, or kept in the outbox;
    /// `reply` runs with the answer.
    pub fn forward_update(&self, u: query::ForwardedUpdate, reply: Reply) {
        match &self.secondaries {
            Some(s) => s.forward(u, reply),
            None => reply(u.response(tandem_dns_wire::Rcode::SERVFAIL)),
        }
    }

    /// The messages of an outgoing zone transfer.
    pub fn transfer(&self, req: &query::TransferRequest) -> Vec<Vec<u8>> {
        // The snapshot first: the history is extended before a snapshot is
        // published, so it then reaches at least the snapshot's serial.
        let mut catalog = self.store.catalog();
        let history = self.store.history(&req.zone);
        // A secondary zone goes onward as the primary sent it, without the
        // updates this node still holds for the primary.
        if let Some(copy) = self.store.secondary_plain_copy(&req.zone) {
            catalog = Arc::new(catalog.with_zone(copy));
        }
        let out = tandem_dns::transfer::respond(&catalog, req, &history, unix_now());
        let granted = out.first().is_some_and(|m| m.len() > 3 && m[3] & 0x0f == 0);
        if let (true, Some(e)) = (granted, catalog.get(&req.zone)) {
            self.transferred_by
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(
                    (req.zone.clone(), req.source.addr),
                    (e.zone.serial(), unix_now()),
                );
        }
        out
    }

    /// Re-reads the zone files; returns the control-socket answer.
    pub fn reload(&self) -> String {
        let report = self.store.reload();
        let mut out = String::new();
        for w in &report.warnings {
            tracing::warn!("{w}");
            let _ = writeln!(out, "warning: {w}");
        }
        for (name, serial) in &report.loaded {
            tracing::info!("zone {name}/IN: loaded serial {serial}");
            let _ = writeln!(out, "zone {name}: loaded serial {serial}");
        }
        for name in &report.unchanged {
            let _ = writeln!(out, "zone {name}: unchanged");
        }
        for (name, why) in &report.failed {
            tracing::error!(
                "zone {name}/IN: reload failed, still serving the last good version: {why}"
            );
            let _ = writeln!(out, "zone {name}: not reloaded: {why}");
        }
        if report.failed.is_empty() {
            out.push_str("ok\n");
        } else {
            let _ = writeln!(
                out,
                "error: {} zone(s) failed to reload",
                report.failed.len()
            );
        }
        out
    }

    /// `tandem status`: one screen on this node, its zones and their
    /// secondaries, DHCP and its failover partner, DDNS, the resolver, and
    /// what needs the operator's attention.
    pub fn status(&self) -> String {
        let now = unix_now();
        let mut warnings: Vec<String> = Vec::new();
        let mut out = String::new();
        let up = self.started.elapsed().as_secs();
        let _ = writeln!(
            out,
            "tandem {}: up {}h{:02}m{:02}s",
            env!("CARGO_PKG_VERSION"),
            up / 3600,
            up / 60 % 60,
            up % 60
        );
        let catalog = self.store.snapshot();
        let mut zones: Vec<_> = catalog.zones().collect();
        zones.sort_by(|a, b| a.zone.origin().cmp(b.zone.origin()));
        let has_zones = !zones.is_empty();
        if has_zones {
            out.push_str("dns:\n");
        }
        let seen = self
            .transferred_by
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for z in zones {
            let origin = z.zone.origin();
            if z.policy.secondary.is_some() {
                continue;
            }
            let serial = z.zone.serial();
            let _ = writeln!(
                out,
                "  zone {origin}: primary, serial {serial}, {} records",
                z.zone.record_count()
            );
            for ((zone, addr), (theirs, at)) in
                seen.range((origin.clone(), std::net::IpAddr::from([0u8; 4]))..)
            {
                if zone != origin {
                    break;
                }
                let ago = now.saturating_sub(*at);
                let lag = if *theirs == serial {
                    "up to date".to_string()
                } else {
                    format!("has serial {theirs}")
                };
                let _ = writeln!(
                    out,
                    "    secondary {addr}: {lag}, last transfer {ago} s ago"
                );
                if *theirs != serial && ago > 60 {
                    warnings.push(format!(
                        "zone {origin}: secondary {addr} is behind (serial {theirs}, we serve {serial}) and has not asked for {ago} s"
                    ));
                }
            }
        }
        if has_zones {
            let (hits, misses) = self.udp_cache.stats();
            let _ = writeln!(
                out,
                "  udp answer cache: {} KiB of {} KiB, {hits} hits, {misses} misses",
                self.udp_cache.bytes() / 1024,
                self.udp_cache.capacity() / 1024
            );
        }
        if let Some(s) = &self.secondaries {
            let (lines, w) = s.status(&self.store);
            for l in lines {
                let _ = writeln!(out, "  {l}");
            }
            warnings.extend(w);
        }
        if let Some(d) = &self.dhcp {
            let _ = writeln!(out, "{}", d.status());
        }
        if let Some(d) = &self.ddns {
            let _ = writeln!(out, "{}", d.status());
        }
        if let Some(f) = &self.forwarder {
            let _ = writeln!(out, "{}", f.status());
        }
        if let Some(f) = self.dhcp.as_ref().and_then(|d| d.failover()) {
            warnings.extend(f.warnings());
        }
        if warnings.is_empty() {
            out.push_str("warnings: none\n");
        } else {
            out.push_str("warnings:\n");
            for w in warnings {
                let _ = writeln!(out, "  ! {w}");
            }
        }
        out.push_str("ok\n");
        out
    }

    /// `tandem failover partner-down [NAME]`.
    pub fn partner_down(&self, name: Option<&str>) -> String {
        match self.dhcp.as_ref().and_then(|d| d.failover()) {
            Some(f) => f.partner_down(name),
            None => "error: this server has no failover relationship\n".to_string(),
        }
    }

    /// `tandem failover pause|shut-down|resume [NAME]`.
    pub fn failover_operator(&self, what: &str, name: Option<&str>) -> String {
        let event = match what {
            "pause" => tandem_failover::machine::Event::OperatorPause,
            "shut-down" => tandem_failover::machine::Event::OperatorShutDown,
            "resume" => tandem_failover::machine::Event::OperatorResume,
            other => return format!("error: unknown failover command {other:?}\n"),
        };
        match self.dhcp.as_ref().and_then(|d| d.failover()) {
            Some(f) => f.operator(name, event, what),
            None => "error: this server has no failover relationship\n".to_string(),
        }
    }

    /// The DHCP leases as JSON, for `tandem leases`.
    pub fn leases(&self) -> String {
        match &self.dhcp {
            Some(d) => match serde_json::to_string(&d.leases()) {
                Ok(j) => format!("{j}\nok\n"),
                Err(e) => format!("error: {e}\n"),
            },
            None => "error: this server runs no DHCP service\n".to_string(),
        }
    }
}

fn ipv6_unavailable(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EADDRNOTAVAIL) | Some(libc::EAFNOSUPPORT)
    )
}

/// The A records of `name` (taken as absolute) in the zones served here.
fn served_addresses(catalog: &tandem_dns::Catalog, name: &str) -> Vec<std::net::Ipv4Addr> {
    let Ok(name) = format!("{}.", name.trim_end_matches('.')).parse::<Name>() else {
        return Vec::new();
    };
    let Some(entry) = catalog.find(&name) else {
        return Vec::new();
    };
    entry
        .zone
        .rrset(&name, tandem_dns_wire::Rtype::A)
        .map(|set| {
            set.rdatas
                .iter()
                .filter_map(|r| <[u8; 4]>::try_from(&r[..]).ok())
                .map(std::net::Ipv4Addr::from)
                .collect()
        })
        .unwrap_or_default()
}

/// A name of a secondary zone this node has no copy of yet (its first
/// start), asked of the zone's primaries over UDP, as dhcpd asks DNS: the
/// seed's secondary has `option routers router.home;` and `home` is a
/// secondary zone there. One try of 2 s per primary; empty if none answers.
fn ask_primaries(config: &Config, name: &str) -> Vec<std::net::Ipv4Addr> {
    let wanted = name.trim_end_matches('.').to_ascii_lowercase();
    let zone = config
        .zones
        .iter()
        .filter_map(|z| match &z.role {
            ZoneRole::Secondary(s) => Some((z.name.to_string(), s)),
            ZoneRole::Primary { .. } => None,
        })
        .filter(|(origin, _)| {
            let o = origin.trim_end_matches('.').to_ascii_lowercase();
            wanted == o || wanted.ends_with(&format!(".{o}"))
        })
        .max_by_key(|(origin, _)| origin.len());
    let Some((_, secondary)) = zone else {
        return Vec::new();
    };
    let mut query = vec![0x5a, 0x17, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in wanted.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Vec::new();
        }
        query.push(label.len() as u8);
        query.extend_from_slice(label.as_bytes());
    }
    query.extend_from_slice(&[0, 0, 1, 0, 1]);
    for primary in &secondary.primaries {
        let local: SocketAddr = match (secondary.transfer_source, primary) {
            (Some(a), _) => (a, 0).into(),
            (None, SocketAddr::V4(_)) => ([0, 0, 0, 0], 0).into(),
            (None, SocketAddr::V6(_)) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let Ok(sock) = std::net::UdpSocket::bind(local) else {
            continue;
        };
        let _ = sock.set_read_timeout(Some(Duration::from_secs(2)));
        if sock.send_to(&query, primary).is_err() {
            continue;
        }
        let mut buf = [0u8; 1232];
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let Ok(msg) = tandem_dns_wire::Message::parse(&buf[..n]) else {
            continue;
        };
        if from != *primary || msg.header.id != 0x5a17 {
            continue;
        }
        let found: Vec<std::net::Ipv4Addr> = msg
            .answers
            .iter()
            .filter(|r| r.rtype == tandem_dns_wire::Rtype::A)
            .filter_map(|r| <[u8; 4]>::try_from(&r.rdata[..]).ok())
            .map(std::net::Ipv4Addr::from)
            .collect();
        if !found.is_empty() {
            tracing::info!(
                "{name}: no copy of its zone yet; {primary} says {}",
                found
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            return found;
        }
    }
    Vec::new()
}

/// Seconds since the epoch, for TSIG.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The zone store's view of the configured zones.
pub fn zone_specs(config: &Config) -> Vec<ZoneSpec> {
    config
        .zones
        .iter()
        .map(|z| ZoneSpec {
            name: z.name.clone(),
            kind: match &z.role {
                ZoneRole::Primary { file } => ZoneKind::Primary { file: file.clone() },
                ZoneRole::Secondary(_) => ZoneKind::Secondary,
            },
            policy: Arc::new(ZonePolicy {
                allow_query: z.allow_query.clone(),
                allow_transfer: z.allow_transfer.clone(),
                allow_update: z.allow_update.clone(),
                update_policy: z.update_policy.clone(),
                secondary: match &z.role {
                    ZoneRole::Primary { .. } => None,
                    ZoneRole::Secondary(s) => Some(SecondaryPolicy {
                        allow_notify: s.allow_notify.clone(),
                        allow_update_forwarding: s.allow_update_forwarding.clone(),
                    }),
                },
            }),
            journal_max_size: z.journal_max_size,
        })
        .collect()
}

struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

/// A running server: every listener bound.
pub struct Server {
    shared: Arc<Shared>,
    /// Installed before readiness is announced, so a signal sent right
    /// after the ready line is handled, not fatal.
    signals: Signals,
    stop: Arc<AtomicBool>,
    udp_threads: Vec<std::thread::JoinHandle<()>>,
    control_path: std::path::PathBuf,
    listening: Vec<SocketAddr>,
}

impl Server {
    /// Loads the zones and binds every socket. Must run inside a tokio
    /// runtime. Returns once all listeners are bound, so the caller can
    /// announce readiness.
    pub async fn start(config: &Config) -> anyhow::Result<Server> {
        let (store, warnings) = ZoneStore::open(zone_specs(config), &config.server.state_dir)
            .context("cannot load the zones")?;
        for w in warnings {
            tracing::warn!("{w}");
        }
        // A secondary without a copy yet says so when its refresh starts.
        for z in store.catalog().zones().filter(|z| z.zone.name_count() > 0) {
            tracing::info!(
                "zone {}/IN: loaded serial {}",
                z.zone.origin(),
                z.zone.serial()
            );
        }
        let ours: Vec<std::net::IpAddr> =
            if config.zones.iter().any(|z| z.notify == NotifyMode::Yes) {
                forward::interface_networks()
                    .context("cannot list this host's addresses")?
                    .into_iter()
                    .map(|(ip, _)| ip)
                    .collect()
            } else {
                Vec::new()
            };
        let keys: Vec<_> = config.keys.iter().map(|k| k.to_key()).collect();
        notify::Notifier::install(
            &store,
            config
                .zones
                .iter()
                .map(|z| {
                    let t = match z.notify {
                        NotifyMode::No => notify::Targets::default(),
                        mode => notify::Targets {
                            also_notify: z.also_notify.clone(),
                            name_servers: mode == NotifyMode::Yes,
                            ours: ours.clone(),
                            key: z
                                .notify_key
                                .as_ref()
                                .and_then(|n| keys.iter().find(|k| &k.name == n).cloned()),
                        },
                    };
                    (z.name.clone(), t)
                })
                .collect(),
        );
        let ddns = match (&config.ddns, &config.dhcp) {
            (Some(dd), Some(d)) => Some(Arc::new(
                ddns::DdnsService::open(dd, d, &config.server.state_dir)
                    .context("cannot start DDNS")?,
            )),
            _ => None,
        };
        // Address options written as host names resolve against the zones
        // just loaded, as ISC resolves them at start.
        let dhcp = match &config.dhcp {
            Some(d) => {
                let mut d = d.clone();
                if !d.pending_names.is_empty() {
                    let catalog = store.catalog();
                    d.resolve_names(&|name| {
                        let found = served_addresses(&catalog, name);
                        if found.is_empty() {
                            ask_primaries(config, name)
                        } else {
                            found
                        }
                    })
                    .map_err(|errors| anyhow::anyhow!(errors.join("\n")))?;
                }
                Some(Arc::new(
                    dhcp::DhcpService::start(&d, &config.server.state_dir, ddns.clone())
                        .context("cannot start the DHCP server")?,
                ))
            }
            None => None,
        };
        let (forwarder, recursion) = match &config.resolver {
            Some(r) => {
                let acl = forward::recursion_acl(&r.allow_recursion)?;
                let list: Vec<String> = acl.0.iter().map(|e| e.to_string()).collect();
                tracing::info!("resolver: recursion allowed for {}", list.join(" "));
                (Some(forward::Forwarder::new(r)?), Some(acl))
            }
            None => (None, None),
        };
        let secondaries = secondary::Secondaries::start(config, &keys, &store)
            .context("cannot start the secondary zones")?;
        let shared = Arc::new(Shared {
            store,
            settings: Settings {
                max_udp_payload: config.dns.max_udp_payload,
                keys,
                recursion,
            },
            tcp_idle_timeout: config.dns.tcp_idle_timeout,
            tcp_max_connections: config.dns.tcp_max_connections,
            dhcp,
            ddns,
            forwarder,
            secondaries,
            transferred_by: std::sync::Mutex::new(Default::default()),
            started: std::time::Instant::now(),
            udp_cache: Arc::new(tandem_dns::cache::UdpCache::new()),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let workers = match config.dns.udp_workers {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let mut udp_threads = Vec::new();
        let mut listening = Vec::new();
        for addr in &config.dns.listen {
            // Bind TCP first: with port 0 it picks the port UDP then shares.
            let tcp = match tcp::bind(*addr) {
                Ok(t) => t,
                // A host without IPv6 (some containers) should still serve
                // IPv4, as BIND does; anything else is a configuration error.
                Err(e) if addr.is_ipv6() && ipv6_unavailable(&e) => {
                    tracing::warn!("not listening on {addr}: IPv6 is not available here ({e})");
                    continue;
                }
                Err(e) => return Err(e).with_context(|| format!("cannot listen on {addr}/tcp")),
            };
            let bound = tcp.local_addr()?;
            udp_threads.extend(
                udp::start(bound, workers, shared.clone(), stop.clone())
                    .with_context(|| format!("cannot listen on {bound}/udp"))?,
            );
            tokio::spawn(tcp::serve(tcp, shared.clone()));
            listening.push(bound);
        }
        if listening.is_empty() && shared.dhcp.is_none() {
            anyhow::bail!("no address to listen on");
        }
        if let Some(d) = &shared.ddns {
            d.spawn_workers()?;
        }
        system::release_free_memory();
        let control_path = config.server.control_socket.clone();
        let control = control::bind(&control_path)
            .with_context(|| format!("cannot create control socket {}", control_path.display()))?;
        tokio::spawn(control::serve(control, shared.clone()));
        use tokio::signal::unix::{signal, SignalKind};
        let signals = Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        };
        Ok(Server {
            shared,
            signals,
            stop,
            udp_threads,
            control_path,
            listening,
        })
    }

    /// The line printed once every listener is bound.
    pub fn ready_line(&self) -> String {
        let addrs: Vec<String> = self.listening.iter().map(|a| a.to_string()).collect();
        let mut parts = Vec::new();
        if !addrs.is_empty() {
            parts.push(format!("dns on {} (udp+tcp)", addrs.join(" ")));
        }
        if let Some(d) = &self.shared.dhcp {
            parts.push(format!("dhcp on {}", d.interfaces().join(" ")));
        }
        format!(
            "tandem ready: {}, control {}",
            parts.join(", "),
            self.control_path.display()
        )
    }

    fn store_close(&self) {
        if let Some(d) = &self.shared.dhcp {
            d.shutdown();
        }
        if let Some(d) = &self.shared.ddns {
            d.shutdown();
        }
        self.shared.store.close();
    }

    pub fn listening(&self) -> &[SocketAddr] {
        &self.listening
    }

    /// Serves until SIGTERM or SIGINT; SIGHUP reloads the zone files.
    pub async fn run_until_signal(mut self) -> anyhow::Result<()> {
        loop {
            let s = &mut self.signals;
            tokio::select! {
                _ = s.term.recv() => { tracing::info!("received SIGTERM, shutting down"); break; }
                _ = s.int.recv() => { tracing::info!("received SIGINT, shutting down"); break; }
                _ = s.hup.recv() => {
                    tracing::info!("received SIGHUP, reloading zone files");
                    let shared = self.shared.clone();
                    let _ = tokio::task::spawn_blocking(move || shared.reload()).await;
                }
            }
        }
        self.shutdown();
        Ok(())
    }

    /// Stops the listeners and removes the control socket.
    pub fn shutdown(self) {
        self.store_close();
        self.stop.store(true, Ordering::Relaxed);
        for t in self.udp_threads {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.control_path);
        tracing::info!("exiting");
    }
}
