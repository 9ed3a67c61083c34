//! The DDNS shell: leases into DNS over RFC 2136, with a durable queue.
//!
//! The DHCP shell calls in at three points (a few lines in `dhcp/mod.rs`):
//! - [`DdnsService::reconcile`], with the lease table read back from disk:
//!   every address whose lease wants other records than the queue last
//!   confirmed in DNS is queued (start-up reconciliation);
//! - [`DdnsService::prepare`], under the engine lock, with the request and
//!   the engine's outcome: decides each changed lease's records
//!   (`tandem_ddns::plan`) and writes the option 81 answer into the reply;
//! - [`Pending::committed`], from the lease commit's completion, after the
//!   lease is on disk and the reply has left: records the wants in the
//!   queue's journal and wakes the workers.
//!
//! **Durability: DNS trails the ACK.** The DHCPACK waits for the lease
//! commit only. The lease store is the durable record of what must be in
//! DNS: a crash between the ACK and the DNS update loses nothing, because
//! start-up reconciliation derives every active lease's records again.
//! The queue's journal (`<state-dir>/ddns/queue.jnl`) adds what the lease
//! cannot hold (the option 81 flags of the request, the exact name) and
//! what DNS has confirmed, so withdrawals remove exactly what was added,
//! even after a configuration change. Every step is idempotent under RFC
//! 4703's prerequisites, so a record written twice or a confirmation lost
//! in a crash is harmless.
//!
//! Workers (`[ddns] parallel`, 16 by default) take queued addresses one at
//! a time per address, run the `tandem_ddns::Job` for it and send each
//! step to the zone's primaries, then its secondaries: UDP, TCP when the
//! answer is truncated, signed with the zone's key and the answer's TSIG
//! verified. A step no server takes (no answer, SERVFAIL, REFUSED,
//! NOTAUTH) stops the job where it is; the address is tried again after
//! `retry-min`, doubling up to `retry-max`, until DNS answers. Logs use
//! dhcpd's words ("Added new forward map from laptop.home. to
//! 192.168.0.15").

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tandem_ddns::fqdn::ClientFqdn;
use tandem_ddns::record::{
    decode_checkpoint, encode_checkpoint, Owner, Record, Replayed, KIND_CHECKPOINT, KIND_RECORD,
};
use tandem_ddns::{
    plan, Answer, Binding, DdnsConfig, Facts, Guard, GuardKind, Job, Part, Published,
};
use tandem_dhcp::failover::{FailoverPeer, NamesGo, Role, Service};
use tandem_dhcp::{BindingState, DhcpConfig, Engine, Lease, LeaseDns, Outcome, Reply};
use tandem_dhcp_wire::{code, MessageType, Packet};
use tandem_dns_wire::tsig::{self, Key};
use tandem_dns_wire::{Message, Name, Rcode};
use tandem_failover::FailoverState;
use tandem_journal::{Journal, Options};

/// The queue's journal is compacted past this size.
const COMPACT_AT: u64 = 4 << 20;

/// Seconds between two looks at a partner's expired lease that the
/// relationship's state keeps for now (see [`decide`]).
const RECHECK_SECS: u64 = 5;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the lease at an address wants in DNS.
#[derive(Clone, Debug)]
struct Want {
    owner: Option<Owner>,
    binding: Option<Binding>,
    /// A lease commit asked for it since the last job (a renewal retries
    /// conflicts, and resends with `update-optimization false`).
    renewed: bool,
    /// Bumped on every change, so a worker sees a want that moved under it.
    generation: u64,
}

#[derive(Clone, Debug)]
struct Retry {
    attempts: u32,
    due: Instant,
    error: String,
}

#[derive(Default)]
struct State {
    wants: HashMap<Ipv4Addr, Want>,
    haves: HashMap<Ipv4Addr, Published>,
    busy: HashSet<Ipv4Addr>,
    /// Names a running job works on, and its address: two addresses of
    /// one name (a client that moved) never run at once, so a take-over
    /// cannot race the old address's release.
    busy_names: HashMap<Name, Ipv4Addr>,
    /// Addresses waiting for a name another job holds.
    blocked: Vec<Ipv4Addr>,
    ready: VecDeque<Ipv4Addr>,
    queued: HashSet<Ipv4Addr>,
    waiting: BTreeSet<(Instant, Ipv4Addr)>,
    retry: HashMap<Ipv4Addr, Retry>,
    generation: u64,
}

#[derive(Default)]
struct Counters {
    updates: AtomicU64,
    published: AtomicU64,
    withdrawn: AtomicU64,
    conflicts: AtomicU64,
    failures: AtomicU64,
}

struct Inner {
    cfg: Arc<DdnsConfig>,
    dhcp: Arc<DhcpConfig>,
    state: Mutex<State>,
    wake: Condvar,
    journal: Journal,
    stop: AtomicBool,
    counters: Counters,
    /// Journal length after the last compaction.
    compacted: AtomicU64,
    /// Failover partners' leases that ended here in partner-down before
    /// their names may go (see [`DdnsService::tick`]): when, and the lease.
    /// Not journaled: start-up reconciliation derives them again from the
    /// lease table and the relationship's state file.
    deferred: Mutex<Vec<(u64, Lease)>>,
    /// Where the failover state files are (`<state-dir>/dhcp`).
    failover_dir: PathBuf,
    /// Partners' leases whose names are not known here (an ISC partner
    /// sends none): their PTR is to be read from DNS.
    to_look_up: Mutex<Vec<Lease>>,
    /// What those look-ups found: the lease and the records to withdraw.
    looked_up: Mutex<Vec<(Lease, Binding)>>,
}

/// The running DDNS client.
pub struct DdnsService {
    inner: Arc<Inner>,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

/// One lease's want, as a commit makes it: its owner, the records it
/// wants, and, for a lease that ended, the records another server may have
/// published for it (see `Published::presumed`).
type LeaseWant = (Ipv4Addr, Option<Owner>, Option<Binding>, Option<Binding>);

/// The wants of one lease commit, applied once the commit is durable.
pub struct Pending {
    inner: Arc<Inner>,
    wants: Vec<LeaseWant>,
}

impl Pending {
    /// The commit is on disk: queue the wants.
    pub fn committed(self) {
        let inner = self.inner;
        let mut st = lock(&inner.state);
        for (addr, owner, binding, ended) in self.wants {
            // A lease that ended here with nothing of it known in DNS: its
            // partner (or dhcpd, before tandem) may have published it.
            // (Nothing known: no record of it, or one that never got into
            // DNS, say because DNS was down; not one held by another client.)
            if let (None, Some(b)) = (&binding, ended) {
                let unknown = st
                    .haves
                    .get(&addr)
                    .is_none_or(|h| !h.holds_records() && h.forward != Part::Conflict);
                if unknown {
                    let p = Published::presumed(b);
                    inner.append(&Record::Have {
                        addr,
                        state: Some(p.clone()),
                    });
                    st.haves.insert(addr, p);
                }
            }
            inner.set_want(&mut st, addr, owner, binding, true);
        }
        drop(st);
        inner.wake.notify_all();
    }
}

impl DdnsService {
    /// Opens the queue under `state_dir/ddns` and replays it.
    pub fn open(
        cfg: &DdnsConfig,
        dhcp: &DhcpConfig,
        state_dir: &Path,
    ) -> anyhow::Result<DdnsService> {
        let dir = state_dir.join("ddns");
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join("queue.jnl");
        let (journal, replay) = Journal::open(&path, Options::default())
            .with_context(|| format!("cannot open the DDNS queue {}", path.display()))?;
        if let Some(cut) = replay.truncated {
            tracing::warn!(
                "DDNS queue {}: cut a torn tail of {} bytes at {}: {}",
                path.display(),
                cut.bytes_dropped,
                cut.offset,
                cut.reason
            );
        }
        let mut replayed = Replayed::default();
        for e in &replay.entries {
            let records = match e.kind {
                KIND_RECORD => Record::decode(&e.payload).map(|r| vec![r]),
                KIND_CHECKPOINT => decode_checkpoint(&e.payload),
                other => Err(format!("unknown entry kind {other}")),
            };
            match records {
                Ok(rs) => rs.into_iter().for_each(|r| replayed.apply(r)),
                // An entry we cannot read only costs a resend: every step
                // is idempotent.
                Err(e) => tracing::warn!("DDNS queue {}: skipped an entry: {e}", path.display()),
            }
        }
        let mut st = State::default();
        for (addr, (owner, binding)) in replayed.wants {
            st.wants.insert(
                addr,
                Want {
                    owner,
                    binding,
                    renewed: false,
                    generation: 0,
                },
            );
        }
        st.haves = replayed.haves.into_iter().collect();
        let compacted = journal.len();
        Ok(DdnsService {
            inner: Arc::new(Inner {
                cfg: Arc::new(cfg.clone()),
                dhcp: Arc::new(dhcp.clone()),
                state: Mutex::new(st),
                wake: Condvar::new(),
                journal,
                stop: AtomicBool::new(false),
                counters: Counters::default(),
                compacted: AtomicU64::new(compacted),
                deferred: Mutex::new(Vec::new()),
                failover_dir: state_dir.join("dhcp"),
                to_look_up: Mutex::new(Vec::new()),
                looked_up: Mutex::new(Vec::new()),
            }),
            threads: Mutex::new(Vec::new()),
        })
    }

    /// Reconciles the queue with the lease table read back from disk.
    ///
    /// In a failover pool, an active lease is left as it is (this node's
    /// own commits drive its names there; a partner's are the partner's).
    /// An ended one is decided by [`takeover_at_start`]: this node's own
    /// is withdrawn, as its expiry would have been; a partner's is judged
    /// by [`tandem_dhcp::failover::names_may_go`] under the state the
    /// relationship saved (`dhcp/failover-NAME.state`: partner-down since
    /// when, the MCLT), so the wait of an expiry in partner-down survives a
    /// restart: its names go now, or get their timer again.
    pub fn reconcile(&self, leases: &[Lease], now: u64) {
        let inner = &self.inner;
        let services: Vec<Service> = inner
            .dhcp
            .failover
            .iter()
            .map(|p| saved_service(&inner.failover_dir, p))
            .collect();
        let mut takeovers = Vec::new();
        {
            let mut st = lock(&inner.state);
            let mut seen = HashSet::new();
            for l in leases {
                seen.insert(l.addr);
                if let Some(peer) = tandem_dhcp::failover::relationship_of(&inner.dhcp, l.addr) {
                    match takeover_at_start(l, st.wants.get(&l.addr), now) {
                        Takeover::Leave => {}
                        Takeover::WithdrawOwn => {
                            inner.set_want(&mut st, l.addr, None, None, false);
                        }
                        Takeover::Partner(ended) => {
                            let service = services.get(peer).copied().unwrap_or(Service::None);
                            takeovers.push((*ended, service));
                        }
                    }
                    continue;
                }
                let (owner, binding) = if l.is_active_at(now) {
                    let owner = owner_of(l);
                    // The journal's want holds what the lease cannot (the
                    // request's option 81); it counts if it was decided for
                    // this very lease.
                    match st.wants.get(&l.addr) {
                        Some(w) if w.owner.as_ref() == Some(&owner) => continue,
                        _ => (Some(owner), inner.derive(l, now)),
                    }
                } else {
                    (None, None)
                };
                let differs = st
                    .wants
                    .get(&l.addr)
                    .is_none_or(|w| w.owner != owner || w.binding != binding);
                if differs {
                    inner.set_want(&mut st, l.addr, owner, binding, false);
                }
            }
            // Records confirmed for addresses the lease table no longer has.
            let orphans: Vec<Ipv4Addr> = st
                .haves
                .keys()
                .chain(st.wants.keys())
                .filter(|a| !seen.contains(a))
                .copied()
                .collect();
            for a in orphans {
                if st.wants.get(&a).is_some_and(|w| w.binding.is_some())
                    || st.haves.contains_key(&a)
                {
                    inner.set_want(&mut st, a, None, None, false);
                }
            }
            let all: Vec<Ipv4Addr> = st.wants.keys().chain(st.haves.keys()).copied().collect();
            for a in all {
                inner.consider(&mut st, a);
            }
            let queued = st.queued.len();
            if queued > 0 {
                tracing::info!("DDNS: {queued} address(es) to bring up to date in DNS");
            }
        }
        // Outside the state lock: `committed` takes it.
        let wants: Vec<LeaseWant> = takeovers
            .into_iter()
            .filter_map(|(l, service)| {
                let b = inner.ended_under(&l, service, now)?;
                Some((l.addr, Some(owner_of(&l)), None, Some(b)))
            })
            .collect();
        if !wants.is_empty() {
            tracing::info!(
                "DDNS: withdrawing the names of {} lease(s) of failover partners that ended here",
                wants.len()
            );
            Pending {
                inner: inner.clone(),
                wants,
            }
            .committed();
        }
        for zone in inner.missing_zones() {
            tracing::warn!("DDNS: {zone}");
        }
    }

    /// Starts the workers (once tandem's own DNS listens, so that updates
    /// to it do not begin with refusals).
    pub fn spawn_workers(&self) -> anyhow::Result<()> {
        let inner = &self.inner;
        let mut threads = lock(&self.threads);
        for i in 0..inner.cfg.parallel.max(1) {
            let inner = inner.clone();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("ddns-{i}"))
                    .spawn(move || inner.work(i == 0))?,
            );
        }
        Ok(())
    }

    /// Decides the records of every lease `out` changes, and answers the
    /// request's option 81 in the reply. Runs under the engine lock.
    ///
    /// Each active lease's records are also written into the lease
    /// ([`Lease::ddns`]), so that they are stored with it and, in a
    /// failover pool, travel to a tandem partner with its binding update:
    /// the shell copies them into the engine's table
    /// ([`Engine::set_lease_ddns`]) before the commit.
    pub fn prepare(
        &self,
        req: &Packet,
        out: &mut Outcome,
        engine: &Engine,
        now: u64,
    ) -> Option<Pending> {
        let inner = &self.inner;
        let fqdn = req
            .options
            .get(code::FQDN)
            .and_then(|v| ClientFqdn::parse(v).ok());
        if let Some(reply) = out.reply.as_mut() {
            let mt = reply.message_type();
            let offered = reply.packet.yiaddr;
            if matches!(mt, Some(MessageType::Offer)) && fqdn.is_some() {
                let p = inner.plan_request(req, reply, fqdn.as_ref(), offered, None, now);
                if let Some(v) = p.reply {
                    set_fqdn(reply, v);
                }
            }
        }
        if out.changes.is_empty() {
            return None;
        }
        let mut wants = Vec::with_capacity(out.changes.len());
        for l in out.changes.iter_mut() {
            if !l.is_active_at(now) {
                wants.push((l.addr, None, None, inner.ended(l, engine, now)));
                continue;
            }
            let acked = out.reply.as_ref().filter(|r| {
                r.message_type() == Some(MessageType::Ack) && r.packet.yiaddr == l.addr
            });
            let p = match acked {
                Some(r) => inner.plan_request(req, r, fqdn.as_ref(), l.addr, Some(l), now),
                None => tandem_ddns::Plan {
                    binding: inner.derive(l, now),
                    reply: None,
                    why_not: None,
                },
            };
            if let Some(why) = &p.why_not {
                tracing::debug!("DDNS: nothing to publish for {}: {why}", l.addr);
            }
            if let (Some(v), Some(r)) = (p.reply, out.reply.as_mut()) {
                if r.packet.yiaddr == l.addr {
                    set_fqdn(r, v);
                }
            }
            l.ddns = p.binding.as_ref().map(lease_dns);
            wants.push((l.addr, Some(owner_of(l)), p.binding, None));
        }
        Some(Pending {
            inner: inner.clone(),
            wants,
        })
    }

    /// The wants of lease changes no request made (expiry, conflicts).
    pub fn changes(&self, changes: &[Lease], engine: &Engine, now: u64) -> Option<Pending> {
        if changes.is_empty() {
            return None;
        }
        let wants = changes
            .iter()
            .map(|l| {
                if l.is_active_at(now) {
                    (l.addr, Some(owner_of(l)), self.inner.derive(l, now), None)
                } else {
                    (l.addr, None, None, self.inner.ended(l, engine, now))
                }
            })
            .collect();
        Some(Pending {
            inner: self.inner.clone(),
            wants,
        })
    }

    /// Withdraws the names of failover partners' leases whose wait is over
    /// (see `Inner::ended`), if each address still holds the lease that
    /// ended and the relationship is still in partner-down. Called once a
    /// second with the engine locked.
    ///
    /// Also starts the DNS look-ups `Inner::ended` asked for (on a thread
    /// of their own, never under the engine lock), and withdraws what the
    /// finished ones found, under the same check.
    pub fn tick(&self, engine: &Engine, now: u64) {
        let lookups = std::mem::take(&mut *lock(&self.inner.to_look_up));
        if !lookups.is_empty() {
            let inner = self.inner.clone();
            let spawned = std::thread::Builder::new()
                .name("ddns-lookup".into())
                .spawn(move || {
                    for l in lookups {
                        if let Some(b) = inner.look_up(&l) {
                            lock(&inner.looked_up).push((l, b));
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!("DDNS: cannot start a DNS look-up: {e}");
            }
        }
        let due: Vec<Lease> = {
            let mut d = lock(&self.inner.deferred);
            let (due, later): (Vec<_>, Vec<_>) = d.drain(..).partition(|(t, _)| *t <= now);
            *d = later;
            due.into_iter().map(|(_, l)| l).collect()
        };
        let found = std::mem::take(&mut *lock(&self.inner.looked_up));
        if due.is_empty() && found.is_empty() {
            return;
        }
        let same = |l: &Lease| {
            engine
                .lease(l.addr)
                .is_some_and(|c| c.start == l.start && c.hw == l.hw && !c.is_active_at(now))
        };
        // A takeover's want keeps the lease's owner, so that start-up
        // reconciliation knows these names were withdrawn here already.
        let mut wants = Vec::new();
        for l in due {
            if !same(&l) {
                continue;
            }
            if let Some(b) = self.inner.ended(&l, engine, now) {
                wants.push((l.addr, Some(owner_of(&l)), None, Some(b)));
            }
        }
        for (l, b) in found {
            if same(&l) {
                wants.push((l.addr, Some(owner_of(&l)), None, Some(b)));
            }
        }
        if !wants.is_empty() {
            Pending {
                inner: self.inner.clone(),
                wants,
            }
            .committed();
        }
    }

    /// One status line.
    pub fn status(&self) -> String {
        let inner = &self.inner;
        let st = lock(&inner.state);
        let now = Instant::now();
        let published = st
            .haves
            .values()
            .filter(|p| {
                p.forward == Part::Present || (!p.binding.forward && p.reverse == Part::Present)
            })
            .count();
        let conflicts = st
            .haves
            .values()
            .filter(|p| p.forward == Part::Conflict)
            .count();
        let queued = st.queued.len() + st.busy.len() + st.waiting.len() + st.blocked.len();
        let mut line = format!(
            "ddns: {published} names in DNS, {queued} queued, {conflicts} in conflict; {} updates sent, {} failed",
            inner.counters.updates.load(Ordering::Relaxed),
            inner.counters.failures.load(Ordering::Relaxed),
        );
        if let Some((due, addr)) = st.waiting.iter().next() {
            let error = st.retry.get(addr).map_or("", |r| r.error.as_str());
            let _ = write!(
                line,
                "; {} waiting to retry, next in {} s (last error: {error})",
                st.waiting.len(),
                due.saturating_duration_since(now).as_secs(),
            );
        }
        line
    }

    /// Stops the workers (an update in flight is finished or times out).
    pub fn shutdown(&self) {
        self.inner.stop.store(true, Ordering::Relaxed);
        self.inner.wake.notify_all();
        for t in std::mem::take(&mut *lock(&self.threads)) {
            let _ = t.join();
        }
    }
}

/// Writes option 81 into a reply, before option 82 (which stays last,
/// RFC 3046 §2.1).
fn set_fqdn(r: &mut Reply, value: Vec<u8>) {
    let rai = r.packet.options.remove(code::RELAY_AGENT_INFO);
    r.packet.options.set(code::FQDN, value);
    if let Some(v) = rai {
        r.packet.options.set(code::RELAY_AGENT_INFO, v);
    }
}

/// A binding as the lease keeps it ([`Lease::ddns`]).
fn lease_dns(b: &Binding) -> LeaseDns {
    LeaseDns {
        fqdn: b.fqdn.to_string(),
        forward: b.forward,
        reverse: b.reverse.as_ref().map(|n| n.to_string()),
        guard_txt: b.guard.kind == GuardKind::Txt,
        guard: b.guard.rdata.clone(),
        ttl: b.ttl,
    }
}

/// The binding a lease's [`Lease::ddns`] describes (from this node or its
/// tandem partner); `None` if a name does not parse.
fn binding_of(l: &Lease, d: &LeaseDns) -> Option<Binding> {
    Some(Binding {
        addr: l.addr,
        fqdn: d.fqdn.parse().ok()?,
        forward: d.forward,
        reverse: match &d.reverse {
            Some(r) => Some(r.parse().ok()?),
            None => None,
        },
        guard: Guard {
            kind: if d.guard_txt {
                GuardKind::Txt
            } else {
                GuardKind::Dhcid
            },
            rdata: d.guard.clone(),
        },
        ttl: d.ttl,
    })
}

/// The lease's client, as the want's owner.
fn owner_of(l: &Lease) -> Owner {
    let client = match (&l.client_id, &l.hw) {
        (Some(id), _) => id.clone(),
        (None, Some(hw)) => {
            let mut v = vec![hw.htype];
            v.extend_from_slice(&hw.addr);
            v
        }
        (None, None) => Vec::new(),
    };
    Owner {
        client,
        start: l.start,
    }
}

/// [`tandem_dhcp::failover::names_may_go`], and when to ask again about
/// an expiry it keeps for now: while the relationship serves nobody
/// (startup: for 15 s after a restart, before the saved state is back) or
/// in communications-interrupted (the partner may be alive), the state
/// may still move to partner-down, and then the names go after its wait.
/// Normal operation (`LoadBalanced`) leaves them to the partner for good.
fn decide(service: Service, l: &Lease, now: u64) -> NamesGo {
    match tandem_dhcp::failover::names_may_go(service, l, now) {
        NamesGo::Never
            if l.state == BindingState::Expired
                && matches!(service, Service::None | Service::Alone) =>
        {
            NamesGo::At(now + RECHECK_SECS)
        }
        d => d,
    }
}

/// What start-up reconciliation does with a failover pool's lease.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Takeover {
    /// Nothing: it is active (whoever committed it drives its names), or
    /// its names were withdrawn here already.
    Leave,
    /// This node published it (the queue's want is this lease's) and it
    /// ended: withdraw it, as the expiry here would have.
    WithdrawOwn,
    /// Nothing of it is this node's: the partner granted it (or this
    /// node's want was lost). Decide by the relationship's state, with the
    /// lease as ended (an active one whose end passed while this node was
    /// down is an expiry: the engine expires it after start).
    Partner(Box<Lease>),
}

fn takeover_at_start(l: &Lease, want: Option<&Want>, now: u64) -> Takeover {
    if l.is_active_at(now) {
        return Takeover::Leave;
    }
    let owner = owner_of(l);
    if let Some(w) = want.filter(|w| w.owner.as_ref() == Some(&owner)) {
        return if w.binding.is_some() {
            Takeover::WithdrawOwn
        } else {
            Takeover::Leave
        };
    }
    let mut ended = l.clone();
    if ended.state == BindingState::Active {
        ended.state = BindingState::Expired;
    }
    Takeover::Partner(Box::new(ended))
}

/// The service the relationship's saved state gives (what the engine will
/// be told once startup is over, see `Relationship::service`): read from
/// `dir/failover-NAME.state`; [`Service::None`] when there is none or it
/// cannot be read.
fn saved_service(dir: &Path, peer: &FailoverPeer) -> Service {
    let file = crate::failover::state_path(dir, &peer.name);
    match crate::failover::state::load(&file) {
        Ok(Some(p)) => service_of_saved(&p, peer),
        Ok(None) => Service::None,
        Err(e) => {
            tracing::warn!("DDNS: cannot read {}: {e:#}", file.display());
            Service::None
        }
    }
}

/// The service a saved state gives: partner-down since `my-stos` plus the
/// MCLT (a primary's own, a secondary's as saved), alone in
/// communications-interrupted, load-balanced in normal, none otherwise.
fn service_of_saved(p: &tandem_failover::machine::Persisted, peer: &FailoverPeer) -> Service {
    let mclt = match peer.role {
        Role::Primary => peer.mclt,
        Role::Secondary => p.mclt,
    };
    match p.my_state {
        FailoverState::PartnerDown => Service::PartnerDown {
            since: p.my_stos + u64::from(mclt),
        },
        FailoverState::CommunicationsInterrupted => Service::Alone,
        FailoverState::Normal => Service::LoadBalanced,
        _ => Service::None,
    }
}

fn text_name(v: &[u8]) -> Option<Name> {
    let s = std::str::from_utf8(v).ok()?.trim_end_matches('\0').trim();
    if s.is_empty() {
        return None;
    }
    s.parse().ok()
}

impl Inner {
    /// The plan for a lease (or offer) made by `req`, with the reply the
    /// client gets (its options 15 and 12 are what the client was told).
    fn plan_request(
        &self,
        req: &Packet,
        reply: &Reply,
        fqdn: Option<&ClientFqdn>,
        addr: Ipv4Addr,
        lease: Option<&Lease>,
        now: u64,
    ) -> tandem_ddns::Plan {
        let opts = &reply.packet.options;
        let domain = opts.get(code::DOMAIN_NAME).and_then(text_name);
        let req_name = req
            .options
            .get(code::HOST_NAME)
            .and_then(|b| std::str::from_utf8(b).ok())
            .map(|s| s.trim_end_matches('\0').to_string());
        let reserved = opts
            .get(code::HOST_NAME)
            .and_then(|b| std::str::from_utf8(b).ok())
            .map(str::to_string);
        let host_name = lease
            .and_then(|l| l.hostname.clone())
            .or(req_name)
            .or(reserved);
        let lease_secs = match lease {
            Some(l) => l.end.saturating_sub(now),
            None => opts.u32(code::LEASE_TIME).map_or(0, u64::from),
        };
        let hw = req.hw_addr();
        let client_id = req.options.get(code::CLIENT_ID).filter(|v| !v.is_empty());
        plan(
            &self.cfg,
            &Facts {
                addr: Some(addr),
                client_id,
                hw: Some((req.htype, hw)),
                fqdn,
                host_name: host_name.as_deref(),
                domain_option: domain.as_ref(),
                lease_secs,
                fixed: self.dhcp.host_with_address(addr).is_some(),
            },
        )
    }

    /// The records a lease had while it was active (for one that ended),
    /// to withdraw should another server have published them (they are
    /// withdrawn only if nothing of the address is known here, and under
    /// the guard: see `Published::presumed`).
    ///
    /// In a failover pool each lease is published by the node that
    /// committed it, and withdrawn by it; the other node withdraws a
    /// lease's names only as the survivor, by the rules of
    /// [`tandem_dhcp::failover::names_may_go`] (a release or decline with
    /// the partner unreachable; an expiry in partner-down once the partner
    /// cannot hold the lease, deferred to that time by
    /// [`DdnsService::tick`]).
    ///
    /// The records are the ones the partner sent with the lease (a tandem
    /// partner's [`Lease::ddns`]), else derived from the lease's host name
    /// with this node's settings; with neither (an ISC partner), none.
    fn ended(&self, l: &Lease, engine: &Engine, now: u64) -> Option<Binding> {
        let Some(peer) = tandem_dhcp::failover::relationship_of(&self.dhcp, l.addr) else {
            let mut active = l.clone();
            active.end = active.end.max(now + 1);
            return self.derive(&active, now);
        };
        let service = engine
            .failover_policy(peer)
            .map_or(Service::None, |p| p.service);
        self.ended_under(l, service, now)
    }

    /// [`Inner::ended`] for a failover pool's lease, with the
    /// relationship's `service` (the engine's, or at start the one its
    /// state file describes); see [`decide`].
    fn ended_under(&self, l: &Lease, service: Service, now: u64) -> Option<Binding> {
        match decide(service, l, now) {
            NamesGo::Now => {}
            NamesGo::At(safe) => {
                let mut d = lock(&self.deferred);
                let known = d
                    .iter()
                    .any(|(_, x)| x.addr == l.addr && x.start == l.start && x.hw == l.hw);
                if !known {
                    d.push((safe, l.clone()));
                    if matches!(service, Service::PartnerDown { .. }) {
                        tracing::info!(
                            "DDNS: {} ended here in partner-down; its names wait until {safe} (in {} s), when the partner cannot hold it",
                            l.addr,
                            safe.saturating_sub(now)
                        );
                    }
                }
                return None;
            }
            NamesGo::Never => return None,
        }
        if let Some(b) = l.ddns.as_ref().and_then(|d| binding_of(l, d)) {
            return Some(b);
        }
        if l.hostname.is_none() {
            // An ISC partner sends no name: read it back from the PTR in
            // DNS (see `look_up`), then withdraw from `tick`.
            if self.cfg.updates && self.cfg.forward_updates {
                lock(&self.to_look_up).push(l.clone());
            }
            return None;
        }
        let mut active = l.clone();
        active.end = active.end.max(now + 1);
        self.derive(&active, now)
    }

    /// The records a partner that sends no names (ISC dhcpd) published for
    /// a lease, as far as DNS shows them: the PTR of the address names the
    /// forward name; the guard is the one this node's style computes for
    /// the lease's client and that name (dhcpd's DHCID, or its interim TXT,
    /// byte for byte). The withdrawal is then the presumed one, guarded:
    /// the A record goes only if that guard stands beside it (RFC 4703: a
    /// name another client holds is not touched), and the PTR only if the
    /// guarded A record was there. The query goes to the reverse zone's
    /// servers in order, signed with the zone's key (see [`ptr_target`]).
    fn look_up(&self, l: &Lease) -> Option<Binding> {
        let rev = tandem_ddns::names::reverse_name(l.addr, &self.cfg.rev_domain)?;
        let zone = self.cfg.zone_for(&rev)?;
        let fqdn =
            ptr_target(&rev, zone.servers(), zone.key.as_ref(), self.cfg.timeout)?.to_lowercase();
        let id = tandem_ddns::Identity::of(
            l.client_id.as_deref(),
            l.hw.as_ref().map(|h| (h.htype, h.addr.as_slice())),
        )?;
        let guard = match self.cfg.style {
            tandem_ddns::Style::Standard => Guard::dhcid(&id, &fqdn),
            tandem_ddns::Style::Interim => Guard::interim(&id),
        };
        tracing::info!(
            "DDNS: {} ended here and its partner sent no name; DNS says {fqdn}: withdrawing it if {fqdn} is still this client's",
            l.addr
        );
        Some(Binding {
            addr: l.addr,
            fqdn,
            forward: true,
            reverse: Some(rev),
            guard,
            ttl: self.cfg.ttl.unwrap_or(300),
        })
    }

    /// The records of a lease known only from the lease table (no
    /// request at hand).
    fn derive(&self, l: &Lease, now: u64) -> Option<Binding> {
        let domain = domain_option(&self.dhcp, l);
        plan(
            &self.cfg,
            &Facts {
                addr: Some(l.addr),
                client_id: l.client_id.as_deref(),
                hw: l.hw.as_ref().map(|h| (h.htype, h.addr.as_slice())),
                fqdn: None,
                host_name: l.hostname.as_deref(),
                domain_option: domain.as_ref(),
                lease_secs: l.end.saturating_sub(now),
                fixed: self.dhcp.host_with_address(l.addr).is_some(),
            },
        )
        .binding
    }

    /// Zones the configuration publishes into that no zone statement
    /// covers, as warnings.
    fn missing_zones(&self) -> Vec<String> {
        let cfg = &self.cfg;
        if !cfg.updates {
            return Vec::new();
        }
        let mut out = Vec::new();
        if let Some(d) = &cfg.domain {
            if cfg.zone_for(d).is_none() {
                out.push(format!(
                    "no [[ddns.zone]] covers ddns-domainname {d}: no forward names will be published"
                ));
            }
        }
        if cfg.reverse_updates {
            for s in &self.dhcp.subnets {
                let rev = tandem_ddns::names::reverse_name(s.network, &cfg.rev_domain);
                if rev.is_some_and(|r| cfg.zone_for(&r).is_none()) {
                    out.push(format!(
                        "no [[ddns.zone]] covers the reverse names of {}/{}: no PTR records will be published there",
                        s.network, s.prefix
                    ));
                }
            }
        }
        out
    }

    /// Records a want, journals it and queues the address if it needs
    /// work.
    fn set_want(
        &self,
        st: &mut State,
        addr: Ipv4Addr,
        owner: Option<Owner>,
        binding: Option<Binding>,
        renewed: bool,
    ) {
        st.generation += 1;
        let generation = st.generation;
        let rec = Record::Want {
            addr,
            owner: owner.clone(),
            binding: binding.clone(),
        };
        self.append(&rec);
        st.wants.insert(
            addr,
            Want {
                owner,
                binding,
                renewed: renewed || st.wants.get(&addr).is_some_and(|w| w.renewed),
                generation,
            },
        );
        if renewed {
            // New information: do not wait for the backoff.
            if let Some(r) = st.retry.get(&addr) {
                st.waiting.remove(&(r.due, addr));
            }
        }
        self.consider(st, addr);
    }

    /// Queues `addr` if what it wants differs from what DNS has.
    fn consider(&self, st: &mut State, addr: Ipv4Addr) {
        if st.queued.contains(&addr) || st.busy.contains(&addr) {
            return;
        }
        if st
            .retry
            .get(&addr)
            .is_some_and(|r| st.waiting.contains(&(r.due, addr)))
        {
            return;
        }
        let want = st.wants.get(&addr);
        let needed = Job::new(
            st.haves.get(&addr),
            want.and_then(|w| w.binding.as_ref()),
            want.is_some_and(|w| w.renewed),
            !self.cfg.update_optimization,
            self.cfg.conflict_detection,
        )
        .is_some();
        if needed {
            st.queued.insert(addr);
            st.ready.push_back(addr);
        } else if let Some(w) = st.wants.get_mut(&addr) {
            w.renewed = false;
        }
    }

    fn append(&self, rec: &Record) {
        let path = self.journal.path().display().to_string();
        self.journal.submit(
            KIND_RECORD,
            rec.encode(),
            Box::new(move |r| {
                if let Err(e) = r {
                    tracing::error!("DDNS queue {path}: cannot record a change: {e}");
                }
            }),
        );
    }

    /// A worker: takes addresses off the queue and runs their jobs.
    fn work(self: Arc<Inner>, compactor: bool) {
        loop {
            let Some((addr, job, generation)) = self.next_job() else {
                return;
            };
            let result = self.run(job);
            self.finish(addr, generation, result);
            if compactor {
                self.compact_if_needed();
            }
        }
    }

    /// Waits for an address that needs work; `None` on shutdown.
    fn next_job(&self) -> Option<(Ipv4Addr, Job, u64)> {
        let mut st = lock(&self.state);
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return None;
            }
            let now = Instant::now();
            while let Some(&(due, addr)) = st.waiting.iter().next() {
                if due > now {
                    break;
                }
                st.waiting.remove(&(due, addr));
                if !st.queued.contains(&addr) && !st.busy.contains(&addr) {
                    st.queued.insert(addr);
                    st.ready.push_back(addr);
                }
            }
            if let Some(addr) = st.ready.pop_front() {
                st.queued.remove(&addr);
                if st.busy.contains(&addr) {
                    continue;
                }
                let (binding, renewed, generation) = match st.wants.get(&addr) {
                    Some(w) => (w.binding.clone(), w.renewed, w.generation),
                    None => (None, false, 0),
                };
                let job = Job::new(
                    st.haves.get(&addr),
                    binding.as_ref(),
                    renewed,
                    !self.cfg.update_optimization,
                    self.cfg.conflict_detection,
                );
                let Some(job) = job else {
                    if let Some(w) = st.wants.get_mut(&addr) {
                        w.renewed = false;
                    }
                    continue;
                };
                let names: Vec<Name> = binding
                    .iter()
                    .chain(st.haves.get(&addr).map(|p| &p.binding))
                    .map(|b| b.fqdn.clone())
                    .collect();
                if names
                    .iter()
                    .any(|n| st.busy_names.get(n).is_some_and(|a| *a != addr))
                {
                    st.blocked.push(addr);
                    continue;
                }
                if let Some(w) = st.wants.get_mut(&addr) {
                    w.renewed = false;
                }
                for n in &names {
                    st.busy_names.insert(n.clone(), addr);
                }
                st.busy.insert(addr);
                return Some((addr, job, generation));
            }
            let wait = st
                .waiting
                .iter()
                .next()
                .map_or(Duration::from_secs(1), |(due, _)| {
                    due.saturating_duration_since(now)
                        .min(Duration::from_secs(1))
                });
            st = self
                .wake
                .wait_timeout(st, wait.max(Duration::from_millis(10)))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Runs a job as far as DNS lets it; `Err` when a step found no
    /// server to take it.
    fn run(&self, mut job: Job) -> (Job, Result<(), String>) {
        while let Some((step, owner)) = job.next_step() {
            let Some(zone) = self.cfg.zone_for(&owner) else {
                job.skip(&format!("no [[ddns.zone]] covers {owner}"));
                continue;
            };
            let Some(update) = job.message(step, &zone.name) else {
                job.skip("nothing to send");
                continue;
            };
            let unsigned = update.to_wire(0);
            let mut last = String::new();
            let mut taken = false;
            for server in zone.servers() {
                if self.stop.load(Ordering::Relaxed) {
                    return (job, Err("shutting down".into()));
                }
                self.counters.updates.fetch_add(1, Ordering::Relaxed);
                match exchange(*server, &unsigned, zone.key.as_ref(), self.cfg.timeout) {
                    Err(e) => last = format!("{server}: {e}"),
                    Ok((rcode, note)) => match job.answer(rcode) {
                        Answer::Next => {
                            taken = true;
                            break;
                        }
                        Answer::TryAnother(why) => {
                            last = format!("{server}: {why}{note}");
                        }
                    },
                }
            }
            if !taken {
                self.counters.failures.fetch_add(1, Ordering::Relaxed);
                return (job, Err(last));
            }
        }
        (job, Ok(()))
    }

    /// Records what a job left in DNS and schedules what is left to do.
    fn finish(
        &self,
        addr: Ipv4Addr,
        generation: u64,
        (mut job, result): (Job, Result<(), String>),
    ) {
        for l in job.take_log() {
            let c = &self.counters;
            if l.text.starts_with("Added new forward map") {
                c.published.fetch_add(1, Ordering::Relaxed);
            } else if l.text.starts_with("Removed forward map") {
                c.withdrawn.fetch_add(1, Ordering::Relaxed);
            } else if l.text.contains("FAILED") {
                c.conflicts.fetch_add(1, Ordering::Relaxed);
            }
            if l.warn {
                tracing::warn!("{}", l.text);
            } else {
                tracing::info!("{}", l.text);
            }
        }
        let state = job.state();
        let mut guard = lock(&self.state);
        let st = &mut *guard;
        let changed = match (&state, st.haves.get(&addr)) {
            (Some(a), Some(b)) => a != b,
            (None, None) => false,
            _ => true,
        };
        if changed {
            self.append(&Record::Have {
                addr,
                state: state.clone(),
            });
            match state {
                Some(p) => st.haves.insert(addr, p),
                None => st.haves.remove(&addr),
            };
        }
        st.busy.remove(&addr);
        st.busy_names.retain(|_, a| *a != addr);
        for b in std::mem::take(&mut st.blocked) {
            self.consider(st, b);
        }
        let moved = st
            .wants
            .get(&addr)
            .is_some_and(|w| w.generation != generation);
        match result {
            Ok(()) => {
                if let Some(r) = st.retry.remove(&addr) {
                    st.waiting.remove(&(r.due, addr));
                    tracing::info!(
                        "DDNS: {addr} is up to date in DNS after {} failed attempt(s)",
                        r.attempts
                    );
                }
                self.consider(st, addr);
            }
            Err(_) if self.stop.load(Ordering::Relaxed) => {}
            Err(e) if moved => {
                // The lease changed meanwhile: try the new want at once.
                st.retry.remove(&addr);
                tracing::debug!("DDNS: {addr}: {e}; the lease changed, trying again");
                self.consider(st, addr);
            }
            Err(e) => {
                let attempts = st.retry.get(&addr).map_or(0, |r| r.attempts) + 1;
                let wait = backoff(&self.cfg, attempts);
                let due = Instant::now() + wait;
                if let Some(old) = st.retry.get(&addr) {
                    st.waiting.remove(&(old.due, addr));
                }
                let what = state_label(st.wants.get(&addr), st.haves.get(&addr), addr);
                if attempts == 1 {
                    tracing::warn!(
                        "DDNS: cannot update {what}: {e}; trying again in {} s, and then until DNS answers",
                        wait.as_secs()
                    );
                } else {
                    tracing::debug!("DDNS: attempt {attempts} for {what} failed: {e}");
                }
                st.retry.insert(
                    addr,
                    Retry {
                        attempts,
                        due,
                        error: e,
                    },
                );
                st.waiting.insert((due, addr));
            }
        }
        drop(guard);
        self.wake.notify_one();
    }

    /// Folds the journal into one checkpoint once it has grown.
    fn compact_if_needed(&self) {
        let len = self.journal.len();
        let base = self.compacted.load(Ordering::Relaxed);
        if len < COMPACT_AT || len < base.saturating_mul(2) {
            return;
        }
        // Under the state lock, so no record is appended between the
        // snapshot and the rewrite (appends queued before it go to the old
        // file and are covered by the snapshot).
        let st = lock(&self.state);
        let mut snap = Replayed::default();
        for (a, w) in &st.wants {
            snap.wants.insert(*a, (w.owner.clone(), w.binding.clone()));
        }
        for (a, p) in &st.haves {
            snap.haves.insert(*a, p.clone());
        }
        let payload = encode_checkpoint(&snap.records());
        match self.journal.compact(KIND_CHECKPOINT, vec![payload]) {
            Ok(_) => {
                self.compacted.store(self.journal.len(), Ordering::Relaxed);
                tracing::info!("DDNS queue: compacted to {} bytes", self.journal.len());
            }
            Err(e) => tracing::error!("DDNS queue: compaction failed: {e}"),
        }
        drop(st);
    }
}

/// `retry-min` doubled per failed attempt, at most `retry-max`.
fn backoff(cfg: &DdnsConfig, attempts: u32) -> Duration {
    let factor = 1u32 << attempts.saturating_sub(1).min(16);
    cfg.retry_min.saturating_mul(factor).min(cfg.retry_max)
}

fn state_label(want: Option<&Want>, have: Option<&Published>, addr: Ipv4Addr) -> String {
    let b = want
        .and_then(|w| w.binding.as_ref())
        .or(have.map(|p| &p.binding));
    match b {
        Some(b) => format!("{} ({addr})", b.fqdn),
        None => addr.to_string(),
    }
}

/// A message ID nobody can guess from the last one (the answer's TSIG is
/// what authenticates it; the ID only pairs it with its request).
pub(crate) fn random_id() -> u16 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    );
    h.finish() as u16
}

/// The target of the PTR record at `rev`, asked of `servers` in order
/// (the first that answers NOERROR or NXDOMAIN decides), signed with
/// `key` when there is one, so that a server that refuses unsigned
/// queries still answers; the answer to a signed query must verify, or
/// that server counts as silent.
fn ptr_target<'a>(
    rev: &Name,
    servers: impl Iterator<Item = &'a SocketAddr>,
    key: Option<&Key>,
    timeout: Duration,
) -> Option<Name> {
    let query = Message {
        questions: vec![tandem_dns_wire::Question {
            name: rev.clone(),
            qtype: tandem_dns_wire::Rtype::PTR,
            qclass: tandem_dns_wire::Class::IN,
        }],
        ..Default::default()
    }
    .to_wire();
    for server in servers {
        let m = match signed_exchange(*server, &query, key, timeout) {
            Ok((m, Ok(()))) => m,
            Ok((_, Err(e))) => {
                tracing::debug!("DDNS: PTR of {rev} from {server}: {e}");
                continue;
            }
            Err(e) => {
                tracing::debug!("DDNS: PTR of {rev} from {server}: {e}");
                continue;
            }
        };
        if !matches!(m.header.rcode, Rcode::NOERROR | Rcode::NXDOMAIN) {
            tracing::debug!("DDNS: PTR of {rev} from {server}: {}", m.header.rcode);
            continue;
        }
        return m
            .answers
            .iter()
            .filter(|r| r.rtype == tandem_dns_wire::Rtype::PTR && r.owner == *rev)
            .find_map(|r| Name::from_wire(r.rdata.clone()).ok());
    }
    None
}

/// Sends one update to `server` and returns its RCODE, and a note on the
/// answer's TSIG when it matters. UDP first; TCP if the answer is
/// truncated.
fn exchange(
    server: SocketAddr,
    unsigned: &[u8],
    key: Option<&Key>,
    timeout: Duration,
) -> Result<(Rcode, String), String> {
    let (parsed, verified) = signed_exchange(server, unsigned, key, timeout)?;
    let rcode = parsed.header.rcode;
    match verified {
        Ok(()) => Ok((rcode, String::new())),
        // An error answer to a signed request may come back unsigned (a
        // server that does not know the key cannot sign); it counts as a
        // refusal, never as a success.
        Err(e) if rcode != Rcode::NOERROR => Ok((rcode, format!("; {e}"))),
        Err(e) => Err(format!("answer failed {e}")),
    }
}

/// One request (update or query) to `server` under a fresh ID, signed
/// with `key` if there is one: the parsed answer, and whether its TSIG
/// verified (`Ok` for an unsigned request). UDP first; TCP if the answer
/// is truncated.
fn signed_exchange(
    server: SocketAddr,
    unsigned: &[u8],
    key: Option<&Key>,
    timeout: Duration,
) -> Result<(Message, Result<(), String>), String> {
    let mut msg = unsigned.to_vec();
    let id = random_id();
    msg[..2].copy_from_slice(&id.to_be_bytes());
    let now = crate::unix_now();
    let ctx = match key {
        Some(k) => Some(
            tsig::sign_request(&mut msg, k, now, tsig::DEFAULT_FUDGE)
                .map_err(|e| format!("cannot sign with key {}: {e}", k.name))?,
        ),
        None => None,
    };
    let answer = match udp_exchange(server, &msg, id, timeout)? {
        Some(a) => a,
        None => tcp_exchange(server, &msg, id, timeout)?,
    };
    let parsed = Message::parse(&answer).map_err(|e| format!("malformed answer: {e}"))?;
    let verified = match &ctx {
        None => Ok(()),
        Some(ctx) => ctx
            .verify_parsed_response(&answer, &parsed, crate::unix_now())
            .map_err(|e| format!("TSIG verification with key {}: {e}", ctx.key().name)),
    };
    Ok((parsed, verified))
}

/// One UDP exchange; `Ok(None)` when the answer is truncated.
fn udp_exchange(
    server: SocketAddr,
    msg: &[u8],
    id: u16,
    timeout: Duration,
) -> Result<Option<Vec<u8>>, String> {
    let local: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0".parse().expect("literal")
    } else {
        "[::]:0".parse().expect("literal")
    };
    let sock = UdpSocket::bind(local).map_err(|e| format!("cannot open a UDP socket: {e}"))?;
    sock.connect(server)
        .map_err(|e| format!("cannot reach: {e}"))?;
    sock.send(msg).map_err(|e| format!("cannot send: {e}"))?;
    let deadline = Instant::now() + timeout;
    let mut buf = vec![0u8; 65535];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("no answer in {} ms", timeout.as_millis()));
        }
        sock.set_read_timeout(Some(left))
            .map_err(|e| format!("socket: {e}"))?;
        match sock.recv(&mut buf) {
            Ok(n) if n >= 12 => {
                let got = u16::from_be_bytes([buf[0], buf[1]]);
                let is_response = buf[2] & 0x80 != 0;
                if got != id || !is_response {
                    continue;
                }
                if buf[2] & 0x02 != 0 {
                    return Ok(None);
                }
                return Ok(Some(buf[..n].to_vec()));
            }
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(format!("no answer in {} ms", timeout.as_millis()));
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                return Err("connection refused (is the DNS server running?)".into());
            }
            Err(e) => return Err(format!("receive: {e}")),
        }
    }
}

fn tcp_exchange(
    server: SocketAddr,
    msg: &[u8],
    id: u16,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let mut s = TcpStream::connect_timeout(&server, timeout).map_err(|e| format!("TCP: {e}"))?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| format!("TCP: {e}"))?;
    s.set_write_timeout(Some(timeout))
        .map_err(|e| format!("TCP: {e}"))?;
    let mut out = Vec::with_capacity(msg.len() + 2);
    out.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    out.extend_from_slice(msg);
    s.write_all(&out).map_err(|e| format!("TCP send: {e}"))?;
    let mut len = [0u8; 2];
    s.read_exact(&mut len)
        .map_err(|e| format!("TCP receive: {e}"))?;
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut body)
        .map_err(|e| format!("TCP receive: {e}"))?;
    if body.len() < 12 || u16::from_be_bytes([body[0], body[1]]) != id {
        return Err("TCP answer does not match the request".into());
    }
    Ok(body)
}

/// The `domain-name` option a lease's client gets from the configuration
/// (global, subnet, pool, its reservation), for leases read back from disk.
fn domain_option(dhcp: &DhcpConfig, l: &Lease) -> Option<Name> {
    let mut v = dhcp.options.get(code::DOMAIN_NAME);
    if let Some(s) = dhcp.subnets.iter().find(|s| s.contains(l.addr)) {
        v = s.options.get(code::DOMAIN_NAME).or(v);
        if let Some(p) = s.pool_of(l.addr) {
            v = p.options.get(code::DOMAIN_NAME).or(v);
        }
    }
    let host = dhcp.hosts.iter().find(|h| {
        (h.client_id.is_some() && h.client_id == l.client_id) || (h.hw.is_some() && h.hw == l.hw)
    });
    if let Some(h) = host {
        v = h.options.get(code::DOMAIN_NAME).or(v);
    }
    v.and_then(text_name)
}

#[cfg(test)]
mod tests {
    //! The transport against fake servers on loopback: TCP after a
    //! truncated UDP answer, and answers to signed requests that do not
    //! verify.

    use super::*;
    use std::net::TcpListener;

    fn request() -> Vec<u8> {
        let u = tandem_ddns::Update {
            zone: "home.".parse().unwrap(),
            prerequisites: Vec::new(),
            updates: Vec::new(),
        };
        u.to_wire(0)
    }

    /// The request's header turned into a response with `flags` and
    /// `rcode`, no records.
    fn answer(req: &[u8], tc: bool, rcode: u8) -> Vec<u8> {
        let mut a = req[..12].to_vec();
        a[2] = 0x80 | (req[2] & 0x78) | if tc { 0x02 } else { 0 };
        a[3] = rcode;
        a[4..12].copy_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
        a.extend_from_slice(&req[12..]);
        // Keep only the zone section.
        // \x04home\x00, type, class.
        let zone_end = 12 + 6 + 4;
        a.truncate(zone_end);
        a
    }

    /// A UDP server that answers TC and a TCP server on the same port that
    /// answers `rcode`.
    fn truncating_server(rcode: u8) -> SocketAddr {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = tcp.local_addr().unwrap();
        let udp = UdpSocket::bind(addr).unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            if let Ok((n, from)) = udp.recv_from(&mut buf) {
                let _ = udp.send_to(&answer(&buf[..n], true, 0), from);
            }
        });
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = tcp.accept() {
                let mut len = [0u8; 2];
                s.read_exact(&mut len).unwrap();
                let mut req = vec![0u8; usize::from(u16::from_be_bytes(len))];
                s.read_exact(&mut req).unwrap();
                let a = answer(&req, false, rcode);
                let mut out = (a.len() as u16).to_be_bytes().to_vec();
                out.extend_from_slice(&a);
                s.write_all(&out).unwrap();
            }
        });
        addr
    }

    #[test]
    fn a_truncated_answer_is_asked_again_over_tcp() {
        let server = truncating_server(Rcode::NXRRSET.to_int());
        let (rcode, _) = exchange(server, &request(), None, Duration::from_secs(2)).unwrap();
        assert_eq!(rcode, Rcode::NXRRSET);
    }

    #[test]
    fn an_unsigned_success_to_a_signed_request_is_not_believed() {
        let key = Key::new(
            "k.".parse().unwrap(),
            tsig::Algorithm::HmacSha256,
            vec![7u8; 32],
        );
        let server = truncating_server(0);
        let e = exchange(server, &request(), Some(&key), Duration::from_secs(2)).unwrap_err();
        assert!(e.contains("TSIG"), "{e}");
        // An unsigned refusal is still a refusal (with the reason noted).
        let server = truncating_server(Rcode::NOTAUTH.to_int());
        let (rcode, note) =
            exchange(server, &request(), Some(&key), Duration::from_secs(2)).unwrap();
        assert_eq!(rcode, Rcode::NOTAUTH);
        assert!(note.contains("TSIG"), "{note}");
    }

    #[test]
    fn silence_and_refusal_are_reported() {
        // A bound socket that never answers.
        let quiet = UdpSocket::bind("127.0.0.1:0").unwrap();
        let e = exchange(
            quiet.local_addr().unwrap(),
            &request(),
            None,
            Duration::from_millis(200),
        )
        .unwrap_err();
        assert!(e.contains("no answer in 200 ms"), "{e}");
        drop(quiet);
        let closed = {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.local_addr().unwrap()
        };
        let e = exchange(closed, &request(), None, Duration::from_millis(500)).unwrap_err();
        assert!(e.contains("refused"), "{e}");
    }

    /// A DNS server on loopback that answers the PTR of `rev` with
    /// `target`, signed, and refuses a query that is not signed with `key`.
    fn signed_ptr_server(key: Key, rev: Name, target: Name) -> SocketAddr {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = udp.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            for _ in 0..2 {
                let Ok((n, from)) = udp.recv_from(&mut buf) else {
                    return;
                };
                let req = &buf[..n];
                let parsed = Message::parse(req).unwrap();
                let ctx = tsig::verify_request(req, &parsed, &key, crate::unix_now());
                let mut a = Message {
                    header: tandem_dns_wire::Header {
                        id: parsed.header.id,
                        qr: true,
                        aa: true,
                        ..Default::default()
                    },
                    questions: parsed.questions.clone(),
                    ..Default::default()
                };
                match &ctx {
                    Ok(Some(_)) => a.answers.push(tandem_dns_wire::Record::new(
                        rev.clone(),
                        tandem_dns_wire::Rtype::PTR,
                        tandem_dns_wire::Class::IN,
                        300,
                        target.to_bytes(),
                    )),
                    _ => a.header.rcode = Rcode::REFUSED,
                }
                let mut wire = a.to_wire();
                if let Ok(Some(c)) = ctx {
                    c.sign_response(&mut wire).unwrap();
                }
                let _ = udp.send_to(&wire, from);
            }
        });
        addr
    }

    #[test]
    fn the_ptr_look_up_is_signed_with_the_zones_key() {
        let key = Key::new(
            "REV_UPDATER.".parse().unwrap(),
            tsig::Algorithm::HmacSha256,
            vec![9u8; 32],
        );
        let rev: Name = "15.0.168.192.in-addr.arpa.".parse().unwrap();
        let target: Name = "laptop.home.".parse().unwrap();
        let server = signed_ptr_server(key.clone(), rev.clone(), target.clone());
        let t = Duration::from_secs(2);
        // Unsigned: refused, nothing found.
        assert_eq!(ptr_target(&rev, [server].iter(), None, t), None);
        // Signed: the answer, verified.
        assert_eq!(
            ptr_target(&rev, [server].iter(), Some(&key), t),
            Some(target.clone())
        );
        // A server with another secret for the key: nothing believed.
        let other = Key::new(key.name.clone(), tsig::Algorithm::HmacSha256, vec![1u8; 32]);
        let server = signed_ptr_server(other, rev.clone(), target);
        assert_eq!(ptr_target(&rev, [server].iter(), Some(&key), t), None);
    }

    const NOW: u64 = 1_800_000_000;

    fn peer(role: Role) -> FailoverPeer {
        let mut p = FailoverPeer::new(
            "dhcp-failover",
            role,
            Ipv4Addr::new(192, 168, 0, 253),
            Ipv4Addr::new(192, 168, 0, 254),
        );
        p.mclt = 3600;
        p
    }

    fn lease(state: BindingState, end: u64) -> Lease {
        let mut l = Lease::new(Ipv4Addr::new(192, 168, 0, 15), state);
        l.hw = Some(tandem_dhcp::HwAddr {
            htype: 1,
            addr: vec![2, 0x74, 0x6b, 0, 0, 2],
        });
        l.start = end - 12;
        l.end = end;
        l.tsfp = end + 5;
        l
    }

    fn want(owner: Option<Owner>, binding: bool) -> Want {
        Want {
            owner,
            binding: binding.then(|| Binding {
                addr: Ipv4Addr::new(192, 168, 0, 15),
                fqdn: "laptop.home.".parse().unwrap(),
                forward: true,
                reverse: None,
                guard: Guard::interim(
                    &tandem_ddns::Identity::of(None, Some((1, &[2, 0x74, 0x6b, 0, 0, 2]))).unwrap(),
                ),
                ttl: 300,
            }),
            renewed: false,
            generation: 0,
        }
    }

    #[test]
    fn the_saved_state_gives_the_service() {
        let text = |state: &str| {
            format!(
                "# tandem failover state; written before the state is acted on
my-state {state}
my-stos {NOW}
partner-state normal
partner-stos 1
mclt 10
"
            )
        };
        let dir = tempfile::tempdir().unwrap();
        let saved = |state: &str, role| {
            std::fs::write(dir.path().join("failover-dhcp-failover.state"), text(state)).unwrap();
            saved_service(dir.path(), &peer(role))
        };
        // A secondary uses the MCLT it saved (the primary's); a primary its own.
        assert_eq!(
            saved("partner-down", Role::Secondary),
            Service::PartnerDown { since: NOW + 10 }
        );
        assert_eq!(
            saved("partner-down", Role::Primary),
            Service::PartnerDown { since: NOW + 3600 }
        );
        assert_eq!(
            saved("communications-interrupted", Role::Secondary),
            Service::Alone
        );
        assert_eq!(saved("normal", Role::Secondary), Service::LoadBalanced);
        for other in ["recover", "potential-conflict", "no-such-state"] {
            assert_eq!(saved(other, Role::Secondary), Service::None);
        }
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(
            saved_service(empty.path(), &peer(Role::Secondary)),
            Service::None
        );
    }

    #[test]
    fn at_start_own_leases_are_this_nodes_and_ended_ones_the_partners() {
        let ended = lease(BindingState::Expired, NOW - 5);
        let owner = owner_of(&ended);
        // Active: left alone, whoever committed it.
        let active = lease(BindingState::Active, NOW + 60);
        assert_eq!(takeover_at_start(&active, None, NOW), Takeover::Leave);
        let w = want(Some(owner_of(&active)), true);
        assert_eq!(takeover_at_start(&active, Some(&w), NOW), Takeover::Leave);
        // Published here and ended: this node withdraws it, as ever.
        let w = want(Some(owner.clone()), true);
        assert_eq!(
            takeover_at_start(&ended, Some(&w), NOW),
            Takeover::WithdrawOwn
        );
        // Withdrawn here already (a takeover's want keeps the owner).
        let w = want(Some(owner), false);
        assert_eq!(takeover_at_start(&ended, Some(&w), NOW), Takeover::Leave);
        // Nothing of it here, or another lease's want: the partner's.
        assert_eq!(
            takeover_at_start(&ended, None, NOW),
            Takeover::Partner(Box::new(ended.clone()))
        );
        let mut other = ended.clone();
        other.start -= 100;
        let w = want(Some(owner_of(&other)), true);
        assert_eq!(
            takeover_at_start(&ended, Some(&w), NOW),
            Takeover::Partner(Box::new(ended.clone()))
        );
        // An active lease whose end passed while this node was down is an
        // expiry.
        let lapsed = lease(BindingState::Active, NOW - 5);
        let mut as_expired = lapsed.clone();
        as_expired.state = BindingState::Expired;
        assert_eq!(
            takeover_at_start(&lapsed, None, NOW),
            Takeover::Partner(Box::new(as_expired))
        );
    }

    #[test]
    fn a_partners_expiry_waits_for_partner_down_and_its_mclt() {
        let l = lease(BindingState::Expired, NOW - 5);
        // Partner-down since 4 s ago, MCLT 10: the names wait 6 s more.
        let down = Service::PartnerDown { since: NOW + 6 };
        assert_eq!(decide(down, &l, NOW), NamesGo::At(NOW + 6));
        // Restarted after the wait: at once.
        assert_eq!(decide(down, &l, NOW + 6), NamesGo::Now);
        // The partner's potential expiry counts too.
        let early = Service::PartnerDown { since: NOW - 100 };
        assert_eq!(decide(early, &l, NOW - 4), NamesGo::At(l.tsfp));
        // Both up: never here.
        assert_eq!(decide(Service::LoadBalanced, &l, NOW), NamesGo::Never);
        // Startup, or communications-interrupted: not now, asked again.
        assert_eq!(
            decide(Service::None, &l, NOW),
            NamesGo::At(NOW + RECHECK_SECS)
        );
        assert_eq!(
            decide(Service::Alone, &l, NOW),
            NamesGo::At(NOW + RECHECK_SECS)
        );
        // A release here with the partner unreachable: at once; in startup
        // or normal, not here.
        let r = lease(BindingState::Released, NOW - 5);
        assert_eq!(decide(Service::Alone, &r, NOW), NamesGo::Now);
        assert_eq!(decide(Service::None, &r, NOW), NamesGo::Never);
        assert_eq!(decide(Service::LoadBalanced, &r, NOW), NamesGo::Never);
        // A free address has no names to withdraw.
        let f = lease(BindingState::Free, NOW - 5);
        assert_eq!(decide(down, &f, NOW + 100), NamesGo::Never);
    }

    #[test]
    fn backoff_doubles_up_to_the_limit() {
        let mut cfg = DdnsConfig::new();
        cfg.retry_min = Duration::from_secs(1);
        cfg.retry_max = Duration::from_secs(10);
        let waits: Vec<u64> = (1..=6).map(|n| backoff(&cfg, n).as_secs()).collect();
        assert_eq!(waits, vec![1, 2, 4, 8, 10, 10]);
    }
}
