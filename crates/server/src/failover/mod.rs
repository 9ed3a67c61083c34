//! The failover shell: the TCP link to the partner server around
//! `tandem-failover`'s pure [`Relationship`], wired to the DHCP engine and
//! the lease store.
//!
//! One relationship (`[[dhcp.failover]]`) runs on four kinds of threads:
//!
//! - its **main loop** owns the [`Relationship`] and the live connection,
//!   feeds it one [`Input`] at a time (a connection, a message, a lease the
//!   DHCP server committed, a binding made durable, the 1 s tick, the
//!   operator's partner-down) and carries out the [`Action`]s in order;
//! - a **listener** on `address:port` accepts connections from the
//!   partner's address only (ISC: "failover: listener: no matching
//!   state");
//! - a **connector** dials `peer-address:peer-port` from `address`
//!   whenever there is no connection. Both sides listen and connect, as
//!   ISC does; when two connections cross, the one the primary opened is
//!   kept, so the two ends always agree on it;
//! - a **reader** per connection cuts the byte stream into messages with
//!   the [`Framer`].
//!
//! The rules the shell keeps:
//!
//! - [`Action::Persist`] is written to `dhcp/failover-NAME.state`
//!   (temporary file, fsync, rename, fsync of the directory) before any
//!   later action is carried out and before the DHCP engine learns the new
//!   service state;
//! - a binding from the partner ([`Action::StoreBinding`]) goes into the
//!   engine and the lease store, and only after `fdatasync` is it
//!   acknowledged ([`Event::BindingStored`]);
//! - every lease the DHCP server commits in one of the relationship's
//!   pools becomes an [`Event::LeaseChanged`] once it is durable;
//! - messages are written to the socket after the engine lock is released,
//!   so a slow partner never holds up DHCP requests.

pub(crate) mod state;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tandem_dhcp::failover::{relationship_of, FailoverPeer, PoolShare};
use tandem_dhcp::{Engine, Lease};
use tandem_failover::machine::{self, Action, Event, Leases, Relationship};
use tandem_failover::{DecodeMode, FailoverState, Framer, Message};

use crate::dhcp::Ctx;

/// How often a relationship without a connection dials its partner.
const CONNECT_EVERY: Duration = Duration::from_secs(2);
/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// A write to the partner that takes longer than this drops the link.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the main loop is told.
enum Input {
    /// A TCP connection with the partner is established.
    Connected {
        id: u64,
        stream: TcpStream,
        outbound: bool,
    },
    Message {
        id: u64,
        message: Message,
    },
    Closed {
        id: u64,
        why: String,
    },
    /// The DHCP server (or failover itself) committed these leases; the
    /// partner must hear of those in our pools.
    Committed(Vec<Lease>),
    /// The partner's binding `xid` is durable.
    Stored {
        xid: u32,
        addr: Ipv4Addr,
    },
    PartnerDown(SyncSender<String>),
    /// The operator pauses, shuts down or resumes this server
    /// ([`Event::OperatorPause`] and its kin); the answer goes back.
    Operator(Event, SyncSender<String>),
    /// The result of probing the partner on the client network, for the
    /// automatic partner-down: whether it answered, and how it was asked.
    Probed {
        answered: Option<bool>,
        how: String,
    },
    Stop,
}

/// The relationship as `tandem status` shows it.
#[derive(Debug, Clone)]
struct View {
    state: FailoverState,
    partner: FailoverState,
    link: bool,
    pending: usize,
    mclt: u32,
    /// A tandem partner's configuration differs from ours.
    drift: bool,
}

/// The lease table as the relationship sees it: only its own pools.
struct Table<'a> {
    engine: &'a Engine,
    peer: usize,
}

impl Leases for Table<'_> {
    fn get(&self, addr: Ipv4Addr) -> Option<Lease> {
        (self.engine.failover_peer_of(addr) == Some(self.peer))
            .then(|| self.engine.lease(addr).cloned())
            .flatten()
    }

    fn all(&self) -> Vec<Lease> {
        self.engine.failover_leases(self.peer)
    }

    fn covers(&self, addr: Ipv4Addr) -> bool {
        self.engine.failover_peer_of(addr) == Some(self.peer)
    }
}

/// One running relationship.
struct Handle {
    peer: FailoverPeer,
    tx: Sender<Input>,
    view: Mutex<View>,
}

/// Every relationship of the DHCP server.
pub struct Failover {
    handles: Vec<Arc<Handle>>,
    stop: Arc<AtomicBool>,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
    ctx: Arc<Ctx>,
}

impl Failover {
    /// Starts every relationship of `ctx`'s configuration, with its state
    /// files in `dir` (the DHCP state directory), and makes the DHCP
    /// server report its lease commits to them.
    pub(crate) fn start(ctx: Arc<Ctx>, dir: &Path) -> anyhow::Result<Failover> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut handles = Vec::new();
        let mut threads = Vec::new();
        let mut senders = Vec::new();
        for (idx, peer) in ctx.config.failover.iter().enumerate() {
            let file = state_path(dir, &peer.name);
            let saved = state::load(&file)
                .with_context(|| format!("cannot read failover state {}", file.display()))?;
            let (tx, rx) = mpsc::channel();
            let view = View {
                state: FailoverState::Startup,
                partner: saved.map_or(FailoverState::UnknownState, |s| s.partner_state),
                link: false,
                pending: 0,
                mclt: peer.mclt,
                drift: false,
            };
            let handle = Arc::new(Handle {
                peer: peer.clone(),
                tx: tx.clone(),
                view: Mutex::new(view),
            });
            let connected = Arc::new(AtomicBool::new(false));
            let ids = Arc::new(AtomicU64::new(1));
            let main = Main {
                idx,
                ctx: ctx.clone(),
                handle: handle.clone(),
                rel: {
                    let mut rel = Relationship::new(machine_config(peer), saved, crate::unix_now());
                    rel.set_config_hash(tandem_dhcp::failover::shared_config_hash(
                        &ctx.config,
                        idx,
                    ));
                    rel
                },
                rx,
                tx: tx.clone(),
                file,
                current: None,
                connected: connected.clone(),
                next_balance: 0,
                auto: AutoState::default(),
            };
            if peer.load_balance_max_seconds == 0 {
                // ISC's warning, in its words.
                tracing::info!(
                    "WARNING: load balancing will be disabled for failover peer, {}, because its load balance max secs is 0",
                    peer.name
                );
            }
            tracing::info!(
                "failover peer {}: I move from {} to startup",
                peer.name,
                saved
                    .map_or(FailoverState::Recover, |s| s.my_state)
                    .isc_name()
            );
            threads.push(
                std::thread::Builder::new()
                    .name(format!("failover-{}", peer.name))
                    .spawn(move || main.run())?,
            );
            let listener = bind_listener(peer)?;
            {
                let (peer, tx, stop, ids) = (peer.clone(), tx.clone(), stop.clone(), ids.clone());
                threads.push(
                    std::thread::Builder::new()
                        .name(format!("failover-listen-{}", peer.name))
                        .spawn(move || listen(listener, peer, tx, stop, ids))?,
                );
            }
            {
                let (peer, tx, stop) = (peer.clone(), tx.clone(), stop.clone());
                threads.push(
                    std::thread::Builder::new()
                        .name(format!("failover-connect-{}", peer.name))
                        .spawn(move || connector(peer, tx, stop, connected, ids))?,
                );
            }
            senders.push((idx, tx));
            handles.push(handle);
        }
        // From now on every committed lease of a failover pool is told to
        // its relationship. This runs in the lease store's completions, so
        // it must not take the engine lock: the pool map is the
        // configuration's.
        let config = ctx.config.clone();
        let _ = ctx.observer.set(Arc::new(move |changes: &[Lease]| {
            for (idx, tx) in &senders {
                let mine: Vec<Lease> = changes
                    .iter()
                    .filter(|l| relationship_of(&config, l.addr) == Some(*idx))
                    .cloned()
                    .collect();
                if !mine.is_empty() {
                    let _ = tx.send(Input::Committed(mine));
                }
            }
        }));
        Ok(Failover {
            handles,
            stop,
            threads: Mutex::new(threads),
            ctx,
        })
    }

    /// Lines for `tandem status`: each relationship's state, its partner's,
    /// the link, pending updates, and how its pools are shared.
    pub fn status(&self) -> String {
        let now = crate::unix_now();
        let engine = lock(&self.ctx.engine);
        let mut out = String::new();
        for (idx, h) in self.handles.iter().enumerate() {
            let v = lock(&h.view).clone();
            out.push_str(&format!(
                "failover peer {}: {}, partner {}:{}; my state {}, partner state {}, link {}, {} pending updates, mclt {}",
                h.peer.name,
                h.peer.role.as_str(),
                h.peer.peer_address,
                h.peer.peer_port,
                v.state.isc_name(),
                v.partner.isc_name(),
                if v.link { "up" } else { "down" },
                v.pending,
                v.mclt
            ));
            if v.drift {
                out.push_str("; partner's configuration differs from ours (pools/options)");
            }
            for s in engine.pool_shares(idx, now) {
                out.push_str(&format!("\n  {}", share_line(&engine, &s)));
            }
            out.push('\n');
        }
        out.trim_end().to_string()
    }

    /// What `tandem status` lists for the operator: a relationship not in
    /// normal, a tandem partner whose configuration differs.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for h in &self.handles {
            let v = lock(&h.view).clone();
            let name = &h.peer.name;
            if v.drift {
                out.push(format!(
                    "failover peer {name}: the partner's configuration differs from ours (pools/options)"
                ));
            }
            if v.state != FailoverState::Normal {
                out.push(format!(
                    "failover peer {name}: in {}, not normal",
                    v.state.isc_name()
                ));
            }
        }
        out
    }

    /// `tandem failover partner-down [NAME]`: the operator declares the
    /// partner down (ISC's omshell `partner-down`). Returns the answer for
    /// the control socket.
    pub fn partner_down(&self, name: Option<&str>) -> String {
        self.ask(name, "partner-down", Input::PartnerDown)
    }

    /// `tandem failover pause|shut-down|resume [NAME]`: the operator
    /// states (ISC's omshell local-state).
    pub fn operator(&self, name: Option<&str>, event: Event, what: &str) -> String {
        self.ask(name, what, |tx| Input::Operator(event.clone(), tx))
    }

    /// Sends one operator request to each matching relationship and
    /// gathers their answers for the control socket.
    fn ask(
        &self,
        name: Option<&str>,
        what: &str,
        input: impl Fn(SyncSender<String>) -> Input,
    ) -> String {
        let targets: Vec<&Arc<Handle>> = self
            .handles
            .iter()
            .filter(|h| name.is_none_or(|n| n == h.peer.name))
            .collect();
        if targets.is_empty() {
            return format!(
                "error: no failover relationship {:?}\n",
                name.unwrap_or_default()
            );
        }
        let mut out = String::new();
        let mut ok = true;
        for h in targets {
            let (tx, rx) = mpsc::sync_channel(1);
            if h.tx.send(input(tx)).is_err() {
                ok = false;
                out.push_str(&format!("failover peer {}: not running\n", h.peer.name));
                continue;
            }
            match rx.recv_timeout(Duration::from_secs(10)) {
                Ok(text) => {
                    ok &= !text.starts_with("error");
                    out.push_str(&text);
                }
                Err(_) => {
                    ok = false;
                    out.push_str(&format!("failover peer {}: no answer\n", h.peer.name));
                }
            }
        }
        if ok {
            out.push_str("ok\n");
        } else {
            out.push_str(&format!("error: {what} refused\n"));
        }
        out
    }

    /// Stops every relationship (the link is closed; the state is already
    /// on disk).
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::Relaxed);
        for h in &self.handles {
            let _ = h.tx.send(Input::Stop);
        }
        for t in std::mem::take(&mut *lock(&self.threads)) {
            let _ = t.join();
        }
    }
}

fn share_line(engine: &Engine, s: &PoolShare) -> String {
    let subnet = &engine.config().subnets[s.subnet];
    format!(
        "pool {}/{} #{}: {} addresses, {} free (primary's), {} backup (secondary's), {} active, {} expired or released, {} abandoned",
        subnet.network,
        subnet.prefix,
        s.pool + 1,
        s.total,
        s.free,
        s.backup,
        s.active,
        s.transitional,
        s.abandoned
    )
}

/// The relationship name as a file name: letters, digits, `-`, `_`, `.`
/// kept, anything else as `_`.
/// Where a relationship's state is kept, under the DHCP state directory.
pub(crate) fn state_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("failover-{}.state", file_name(name)))
}

fn file_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn machine_config(p: &FailoverPeer) -> machine::Config {
    machine::Config {
        name: p.name.clone(),
        role: p.role,
        mclt: p.mclt,
        hba: p.hba,
        max_unacked_updates: p.max_unacked_updates,
        max_response_delay: p.max_response_delay,
        load_balance_max_seconds: p.load_balance_max_seconds,
    }
}

/// The live connection.
struct Conn {
    id: u64,
    stream: TcpStream,
    outbound: bool,
}

impl Conn {
    fn close(&self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

struct Main {
    idx: usize,
    ctx: Arc<Ctx>,
    handle: Arc<Handle>,
    rel: Relationship,
    rx: Receiver<Input>,
    tx: Sender<Input>,
    file: PathBuf,
    current: Option<Conn>,
    connected: Arc<AtomicBool>,
    /// When pool balancing runs next (UNIX seconds; 0: when normal).
    next_balance: u64,
    auto: AutoState,
}

/// The automatic partner-down's bookkeeping (see [`Main::auto_partner_down`]).
#[derive(Debug, Default)]
struct AutoState {
    in_flight: bool,
    last: u64,
    /// Probes in a row the partner did not answer.
    silent: u32,
    /// The last probe result logged, so each is logged once.
    said: Option<Option<bool>>,
}

/// Probes without an answer, one a second, before the move.
const AUTO_SILENT_PROBES: u32 = 3;
/// How long one probe waits.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

impl Main {
    fn run(mut self) {
        // Until the relationship says otherwise, its pools serve nobody.
        {
            let mut engine = lock(&self.ctx.engine);
            engine.set_failover_policy(self.idx, self.rel.policy());
        }
        let mut next_tick = Instant::now() + Duration::from_secs(1);
        loop {
            let wait = next_tick.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(wait) {
                Ok(Input::Stop) => break,
                Ok(input) => self.input(input),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if Instant::now() >= next_tick {
                next_tick += Duration::from_secs(1);
                if next_tick < Instant::now() {
                    next_tick = Instant::now() + Duration::from_secs(1);
                }
                self.tick();
            }
        }
        if let Some(c) = self.current.take() {
            c.close();
        }
    }

    fn input(&mut self, input: Input) {
        match input {
            Input::Connected {
                id,
                stream,
                outbound,
            } => self.connected_event(Conn {
                id,
                stream,
                outbound,
            }),
            Input::Message { id, message } => {
                if self.current.as_ref().is_some_and(|c| c.id == id) {
                    self.event(Event::Received(message));
                }
            }
            Input::Closed { id, why } => {
                if self.current.as_ref().is_some_and(|c| c.id == id) {
                    tracing::debug!("failover peer {}: connection closed: {why}", self.name());
                    self.current = None;
                    self.event(Event::LinkDown);
                }
            }
            Input::Committed(leases) => {
                for l in leases {
                    self.event(Event::LeaseChanged(l));
                }
            }
            Input::Stored { xid, addr } => {
                self.event(Event::BindingStored { xid, addr });
            }
            Input::PartnerDown(reply) => {
                let lines = self.event(Event::OperatorPartnerDown);
                let state = self.rel.state();
                let mut text: String = lines.iter().map(|l| format!("{l}\n")).collect();
                if state == FailoverState::PartnerDown {
                    text.push_str(&format!(
                        "failover peer {}: partner-down since {}; the partner's addresses are used from {}\n",
                        self.name(),
                        self.rel.stos(),
                        self.rel.stos() + u64::from(self.rel.mclt())
                    ));
                } else {
                    text = format!("error: {text}");
                }
                let _ = reply.send(text);
            }
            Input::Operator(event, reply) => {
                let want = match event {
                    Event::OperatorPause => Some(FailoverState::Paused),
                    Event::OperatorShutDown => Some(FailoverState::ShutDown),
                    _ => None,
                };
                let before = self.rel.state();
                let lines = self.event(event);
                let state = self.rel.state();
                let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
                let stopped = |s| matches!(s, FailoverState::Paused | FailoverState::ShutDown);
                let done = match want {
                    Some(s) => state == s,
                    None => stopped(before) && !stopped(state),
                };
                let _ = reply.send(if done {
                    format!(
                        "{text}failover peer {}: now {}\n",
                        self.name(),
                        state.isc_name()
                    )
                } else {
                    format!("error: {text}")
                });
            }
            Input::Probed { answered, how } => self.probed(answered, &how),
            Input::Stop => {}
        }
    }

    /// tandem's automatic partner-down (`auto-partner-down = N`): after N
    /// seconds in communications-interrupted, the partner is probed on the
    /// client network once a second (ARP on the interface whose subnet
    /// holds its address, ICMP if ARP cannot be used). Only when it is
    /// silent there too, three times in a row, does this server move to
    /// partner-down, which then waits the MCLT before it touches the
    /// partner's addresses. A partner whose host still answers (a crashed
    /// or stopped server, a blocked failover port, a cut failover link
    /// between two hosts that both still reach the clients) is never
    /// declared down. docs/failover.md explains the reasoning.
    fn auto_partner_down(&mut self, after: u32, now: u64) {
        if self.rel.state() != FailoverState::CommunicationsInterrupted || self.rel.link_up() {
            self.auto = AutoState::default();
            return;
        }
        if now < self.rel.stos() + u64::from(after) || self.auto.in_flight || now <= self.auto.last
        {
            return;
        }
        self.auto.in_flight = true;
        self.auto.last = now;
        let (peer, interfaces, tx) = (
            self.handle.peer.peer_address,
            self.ctx.config.interfaces.clone(),
            self.tx.clone(),
        );
        let spawned = std::thread::Builder::new()
            .name(format!("failover-probe-{}", self.name()))
            .spawn(move || {
                let (answered, how) = probe_partner(peer, &interfaces);
                let _ = tx.send(Input::Probed { answered, how });
            });
        if spawned.is_err() {
            self.auto.in_flight = false;
        }
    }

    fn probed(&mut self, answered: Option<bool>, how: &str) {
        self.auto.in_flight = false;
        if self.rel.state() != FailoverState::CommunicationsInterrupted || self.rel.link_up() {
            return;
        }
        let name = self.handle.peer.name.clone();
        if answered != Some(false) && self.auto.said != Some(answered) {
            self.auto.said = Some(answered);
            match answered {
                None => tracing::warn!(
                    "failover peer {name}: automatic partner-down cannot probe the partner on the client network ({how}); staying in communications-interrupted"
                ),
                _ => tracing::warn!(
                    "failover peer {name}: the partner does not answer on the failover link but answers {how}: not moving to partner-down"
                ),
            }
        }
        if answered != Some(false) {
            self.auto.silent = 0;
            return;
        }
        self.auto.said = Some(answered);
        self.auto.silent += 1;
        if self.auto.silent == AUTO_SILENT_PROBES {
            tracing::warn!(
                "failover peer {name}: the partner answers neither on the failover link nor {how} ({AUTO_SILENT_PROBES} probes): automatic partner-down"
            );
            self.event(Event::OperatorPartnerDown);
        }
    }

    fn name(&self) -> &str {
        &self.handle.peer.name
    }

    fn connected_event(&mut self, new: Conn) {
        let Some(cur) = &self.current else {
            self.take(new);
            return;
        };
        // Two connections crossed: keep the one the primary opened, so
        // both ends settle on the same one. An established link stays.
        let primary = self.handle.peer.role == tandem_dhcp::failover::Role::Primary;
        let prefer_new = !self.rel.link_up() && new.outbound == primary && cur.outbound != primary;
        if prefer_new {
            let old = self.current.take().expect("current");
            old.close();
            self.event(Event::LinkDown);
            self.take(new);
        } else {
            tracing::debug!(
                "failover peer {}: second connection ({}) closed",
                self.name(),
                if new.outbound { "outbound" } else { "inbound" }
            );
            new.close();
        }
    }

    fn take(&mut self, conn: Conn) {
        let reader = match conn.stream.try_clone() {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("failover peer {}: {e}", self.name());
                conn.close();
                return;
            }
        };
        let _ = conn.stream.set_write_timeout(Some(WRITE_TIMEOUT));
        let _ = conn.stream.set_nodelay(true);
        let (tx, id) = (self.tx.clone(), conn.id);
        let spawned = std::thread::Builder::new()
            .name(format!("failover-read-{}", self.name()))
            .spawn(move || read_loop(reader, id, tx));
        if spawned.is_err() {
            conn.close();
            return;
        }
        self.current = Some(conn);
        self.connected.store(true, Ordering::Relaxed);
        self.event(Event::LinkUp);
    }

    fn tick(&mut self) {
        self.event(Event::Tick);
        let now = crate::unix_now();
        if let Some(after) = self.handle.peer.auto_partner_down {
            self.auto_partner_down(after, now);
        }
        if self.rel.state() == FailoverState::Normal {
            if self.next_balance == 0 {
                self.next_balance = now + u64::from(self.handle.peer.min_balance.max(1));
            } else if now >= self.next_balance {
                self.next_balance = now + u64::from(self.handle.peer.min_balance.max(1));
                self.balance(None, true);
            }
        } else {
            self.next_balance = 0;
        }
    }

    /// Handles one event and carries out what it asks for. Returns the log
    /// lines it produced.
    fn event(&mut self, event: Event) -> Vec<String> {
        let now = crate::unix_now();
        let mut outbox: Vec<Message> = Vec::new();
        let mut close = false;
        let mut lines = Vec::new();
        let mut balance = Vec::new();
        {
            let mut engine = lock(&self.ctx.engine);
            let actions = self.rel.handle(
                event,
                &Table {
                    engine: &engine,
                    peer: self.idx,
                },
                now,
            );
            for a in actions {
                match a {
                    Action::Send(m) => outbox.push(m),
                    Action::CloseLink => close = true,
                    Action::Persist(p) => {
                        // Before anything later is done, and before the
                        // engine is told the new service state below.
                        if let Err(e) = state::save(&self.file, &p) {
                            tracing::error!(
                                "failover peer {}: cannot write {}: {e:#}",
                                self.name(),
                                self.file.display()
                            );
                        }
                    }
                    Action::StoreBinding { xid, lease } => {
                        let stored = engine.store_peer_binding(lease);
                        let (tx, addr) = (self.tx.clone(), stored.addr);
                        let name = self.handle.peer.name.clone();
                        self.ctx.store.commit(
                            vec![stored],
                            Box::new(move |r| match r {
                                Ok(()) => {
                                    let _ = tx.send(Input::Stored { xid, addr });
                                }
                                Err(e) => tracing::error!(
                                    "failover peer {name}: cannot store the binding of {addr}, not acknowledged: {e}"
                                ),
                            }),
                        );
                        if let Some(given) = engine.affinity(self.idx, addr, now) {
                            self.commit_and_send(vec![given]);
                        }
                    }
                    Action::Acked { addr, tstp, state } => {
                        let r = engine.peer_acked(self.idx, addr, tstp, state, now);
                        commit_quietly(&self.ctx, r.record);
                        self.commit_and_send(r.send);
                    }
                    Action::Balance { poolreq } => balance.push(poolreq),
                    Action::Log { warn, text } => {
                        if warn {
                            tracing::warn!("{text}");
                        } else {
                            tracing::info!("{text}");
                        }
                        lines.push(text);
                    }
                }
            }
            engine.set_failover_policy(self.idx, self.rel.policy());
        }
        self.flush(outbox);
        if close {
            if let Some(c) = self.current.take() {
                c.close();
            }
        }
        self.connected
            .store(self.current.is_some(), Ordering::Relaxed);
        self.update_view();
        // On entering normal and for a POOLREQ, no POOLREQ of our own: the
        // partner is balancing too (ISC's dhcp_failover_pool_balance and
        // _reqbalance).
        for poolreq in balance {
            self.balance(poolreq, false);
        }
        lines
    }

    /// Pool balancing, and its report to the relationship; `may_ask`: a
    /// shortage may be answered with POOLREQ.
    fn balance(&mut self, poolreq: Option<u32>, may_ask: bool) {
        let now = crate::unix_now();
        let b = {
            let mut engine = lock(&self.ctx.engine);
            engine.balance(self.idx, now, may_ask)
        };
        for l in &b.log {
            if l.warn {
                tracing::warn!("{}", l.text);
            } else {
                tracing::info!("{}", l.text);
            }
        }
        let given = b.given.len() as u32;
        if given > 0 {
            tracing::info!("Sending updates to {}.", self.name());
        }
        self.commit_and_send(b.given);
        self.event(Event::Balanced {
            poolreq,
            given,
            short: b.short,
        });
    }

    /// Makes `leases` durable, then tells the relationship to send them.
    fn commit_and_send(&self, leases: Vec<Lease>) {
        if leases.is_empty() {
            return;
        }
        let tx = self.tx.clone();
        let sent = leases.clone();
        self.ctx.store.commit(
            leases,
            Box::new(move |r| match r {
                Ok(()) => {
                    let _ = tx.send(Input::Committed(sent));
                }
                Err(e) => tracing::error!("lease store: cannot record a failover change: {e}"),
            }),
        );
    }

    fn flush(&mut self, outbox: Vec<Message>) {
        if outbox.is_empty() {
            return;
        }
        let Some(c) = &self.current else {
            return;
        };
        let mut bytes = Vec::new();
        for m in &outbox {
            match m.encode() {
                Ok(b) => bytes.extend_from_slice(&b),
                Err(e) => tracing::error!(
                    "failover peer {}: not sending a {}: {e}",
                    self.name(),
                    m.kind.name()
                ),
            }
        }
        let mut w = &c.stream;
        if let Err(e) = w.write_all(&bytes).and_then(|()| w.flush()) {
            let id = c.id;
            tracing::debug!("failover peer {}: write failed: {e}", self.name());
            // The reader sees the close and reports it; make sure it does.
            c.close();
            let _ = self.tx.send(Input::Closed {
                id,
                why: format!("write failed: {e}"),
            });
        }
    }

    fn update_view(&self) {
        let mut v = lock(&self.handle.view);
        v.state = self.rel.state();
        v.partner = self.rel.partner_state();
        v.link = self.rel.link_up();
        v.pending = self.rel.pending_updates();
        v.mclt = self.rel.mclt();
        v.drift = self.rel.config_differs();
    }
}

/// What the DHCP shell's commits tell failover.
pub(crate) type Observer = Arc<dyn Fn(&[Lease]) + Send + Sync>;

/// Lease changes on their way to the disk, to hand to failover once there.
pub(crate) struct Watched(Observer, Vec<Lease>);

impl Watched {
    /// The changes are durable: tell failover.
    pub(crate) fn tell(self) {
        (self.0)(&self.1);
    }
}

impl Ctx {
    /// A copy of `changes` for failover, if failover is running.
    pub(crate) fn watched(&self, changes: &[Lease]) -> Option<Watched> {
        self.observer
            .get()
            .map(|f| Watched(f.clone(), changes.to_vec()))
    }
}

/// Commits lease versions the partner already knows (acknowledged
/// potential expiries).
fn commit_quietly(ctx: &Ctx, leases: Vec<Lease>) {
    if leases.is_empty() {
        return;
    }
    ctx.store.commit(
        leases,
        Box::new(|r| {
            if let Err(e) = r {
                tracing::error!("lease store: cannot record an acknowledgement: {e}");
            }
        }),
    );
}

/// Asks whether the partner's host is on the client network: an ARP probe
/// on the served interface whose subnet holds its address (ICMP when ARP
/// cannot be used there). `None` when no served interface is on its
/// network, so nothing can be tested.
fn probe_partner(peer: Ipv4Addr, interfaces: &[String]) -> (Option<bool>, String) {
    let on_link = interfaces.iter().find(|i| {
        crate::dhcp::net::interface_addrs(i).is_ok_and(|addrs| {
            addrs.iter().any(|(a, p)| {
                let m = tandem_dhcp_wire::options::prefix_mask(*p);
                u32::from(*a) & m == u32::from(peer) & m
            })
        })
    });
    let Some(iface) = on_link else {
        return (None, format!("no served interface is on {peer}'s network"));
    };
    match crate::dhcp::net::arp_probe(iface, peer, PROBE_TIMEOUT) {
        Ok(a) => (Some(a), format!("to ARP on {iface}")),
        Err(e) => match crate::dhcp::net::icmp_probe(iface, peer, PROBE_TIMEOUT) {
            Ok(a) => (Some(a), format!("to ICMP echo on {iface} (ARP: {e})")),
            Err(e2) => (None, format!("ARP on {iface}: {e}; ICMP: {e2}")),
        },
    }
}

fn read_loop(mut stream: TcpStream, id: u64, tx: Sender<Input>) {
    // ISC's allow-list, plus tandem's extension (read only from a tandem
    // partner, which alone sends it).
    let mut framer = Framer::new(DecodeMode::Tandem);
    let mut buf = vec![0u8; 4096];
    let why = loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => break "closed by the peer".to_string(),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => break e.to_string(),
        };
        framer.push(&buf[..n]);
        let mut failed = None;
        loop {
            match framer.next_message() {
                Ok(Some(message)) => {
                    if tx.send(Input::Message { id, message }).is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    failed = Some(format!("protocol error: {e}"));
                    break;
                }
            }
        }
        if let Some(why) = failed {
            let _ = stream.shutdown(Shutdown::Both);
            break why;
        }
    };
    let _ = tx.send(Input::Closed { id, why });
}

fn bind_listener(peer: &FailoverPeer) -> anyhow::Result<TcpListener> {
    let addr = SocketAddr::V4(SocketAddrV4::new(peer.address, peer.port));
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    sock.set_reuse_address(true)?;
    sock.bind(&addr.into()).with_context(|| {
        format!(
            "failover peer {}: cannot listen on {addr} (is {} an address of this host?)",
            peer.name, peer.address
        )
    })?;
    sock.listen(8)?;
    let l: TcpListener = sock.into();
    l.set_nonblocking(true)?;
    Ok(l)
}

fn listen(
    listener: TcpListener,
    peer: FailoverPeer,
    tx: Sender<Input>,
    stop: Arc<AtomicBool>,
    ids: Arc<AtomicU64>,
) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, from)) => {
                if from.ip() != std::net::IpAddr::V4(peer.peer_address) {
                    tracing::info!("failover: listener: no matching state ({from})");
                    let _ = stream.shutdown(Shutdown::Both);
                    continue;
                }
                let _ = stream.set_nonblocking(false);
                let id = ids.fetch_add(1, Ordering::Relaxed);
                if tx
                    .send(Input::Connected {
                        id,
                        stream,
                        outbound: false,
                    })
                    .is_err()
                {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => {
                tracing::debug!("failover peer {}: accept: {e}", peer.name);
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn connector(
    peer: FailoverPeer,
    tx: Sender<Input>,
    stop: Arc<AtomicBool>,
    connected: Arc<AtomicBool>,
    ids: Arc<AtomicU64>,
) {
    let to = SocketAddr::V4(SocketAddrV4::new(peer.peer_address, peer.peer_port));
    let from = SocketAddr::V4(SocketAddrV4::new(peer.address, 0));
    let mut last_error = String::new();
    while !stop.load(Ordering::Relaxed) {
        if !connected.load(Ordering::Relaxed) {
            match dial(from, to) {
                Ok(stream) => {
                    last_error.clear();
                    let id = ids.fetch_add(1, Ordering::Relaxed);
                    // Counted as connected until the main loop says
                    // otherwise, so one attempt is not followed by another.
                    connected.store(true, Ordering::Relaxed);
                    if tx
                        .send(Input::Connected {
                            id,
                            stream,
                            outbound: true,
                        })
                        .is_err()
                    {
                        return;
                    }
                }
                Err(e) => {
                    let text = e.to_string();
                    if text != last_error {
                        tracing::debug!("failover peer {}: connect to {to}: {text}", peer.name);
                        last_error = text;
                    }
                }
            }
        }
        let until = Instant::now() + CONNECT_EVERY;
        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn dial(from: SocketAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    sock.bind(&from.into())?;
    sock.connect_timeout(&to.into(), CONNECT_TIMEOUT)?;
    Ok(sock.into())
}
