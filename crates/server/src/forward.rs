//! The forwarding resolver's shell: the cache shards and tables of
//! `tandem-resolver` behind locks, the upstream sockets (UDP with TCP
//! fallback on TC; DNS over TLS, RFC 7858, with certificate verification)
//! and the timers.
//!
//! A cached answer is served on the thread that received the query (a UDP
//! worker or a TCP task) under one shard lock; only a miss goes to the
//! tokio runtime, which asks the upstreams and answers every coalesced
//! waiter through its [`Sink`].

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tandem_config::resolver::{RecursionElement, ResolverConfig, UpstreamSpec};
use tandem_dns::acl::{AclElement, AclMatch};
use tandem_dns::{Acl, ForwardRequest, Transport};
use tandem_dns_wire::tsig::RequestContext;
use tandem_dns_wire::{Edns, Message, Question, Rcode};
use tandem_resolver::answer::{
    self, build_query, check_response, Reject, Reply, Template, TtlLimits,
};
use tandem_resolver::{Cache, CacheConfig, Inflight, Join, Key, Lookup, Plan, RateLimiter};
use tandem_resolver::{Routes, Upstreams};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// Cache shards (locks); a power of two.
const SHARDS: usize = 16;
/// The EDNS payload size we offer upstreams.
const UPSTREAM_UDP_SIZE: u16 = 1232;
/// Distinct questions out at once, and clients waiting on one.
const MAX_INFLIGHT: usize = 4096;
const MAX_WAITERS: usize = 256;
/// Idle DNS-over-TLS connections kept per upstream.
const TLS_POOL: usize = 2;
/// Rate-limit buckets kept (per limiter shard).
const MAX_CLIENTS: usize = 4096;

/// Where an answer that comes later goes.
pub enum Sink {
    Udp(Arc<std::net::UdpSocket>, SocketAddr),
    Tcp(mpsc::Sender<Vec<u8>>),
}

impl Sink {
    fn deliver(self, bytes: Vec<u8>) {
        match self {
            Sink::Udp(sock, peer) => {
                let _ = sock.send_to(&bytes, peer);
            }
            Sink::Tcp(tx) => {
                if let Err(mpsc::error::TrySendError::Full(bytes)) = tx.try_send(bytes) {
                    tokio::spawn(async move {
                        let _ = tx.send(bytes).await;
                    });
                }
            }
        }
    }
}

/// A client waiting for an upstream answer.
struct Waiter {
    id: u16,
    rd: bool,
    cd: bool,
    question: Question,
    edns: Option<Edns>,
    limit: usize,
    tsig: Option<RequestContext>,
    sink: Sink,
}

impl Waiter {
    fn reply(&self) -> Reply<'_> {
        Reply {
            id: self.id,
            rd: self.rd,
            cd: self.cd,
            question: &self.question,
            edns: self.edns.as_ref(),
            limit: self.limit,
        }
    }

    fn answer(self, mut bytes: Vec<u8>) {
        if let Some(ctx) = &self.tsig {
            let _ = ctx.sign_response(&mut bytes);
        }
        self.sink.deliver(bytes);
    }
}

struct Server {
    addr: SocketAddr,
    tls_name: Option<rustls::pki_types::ServerName<'static>>,
    idle_tls: Mutex<Vec<TlsStream<TcpStream>>>,
}

/// Counters for `tandem status`.
#[derive(Default)]
struct Counters {
    upstream_queries: AtomicU64,
    upstream_failures: AtomicU64,
    servfail: AtomicU64,
    coalesced: AtomicU64,
    prefetches: AtomicU64,
}

/// Why one upstream try failed.
#[derive(Debug)]
enum TryError {
    Timeout,
    Io(std::io::Error),
    Tls(String),
    Rejected(Reject),
}

impl std::fmt::Display for TryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TryError::Timeout => f.write_str("timed out"),
            TryError::Io(e) => write!(f, "{e}"),
            TryError::Tls(e) => write!(f, "TLS: {e}"),
            TryError::Rejected(Reject::Rcode(r)) => write!(f, "answered rcode {r}"),
            TryError::Rejected(r) => write!(f, "bad answer ({r:?})"),
        }
    }
}

/// The resolver: see the module documentation.
pub struct Forwarder {
    shards: Box<[Mutex<Cache>]>,
    inflight: Mutex<Inflight<Waiter>>,
    health: Mutex<Upstreams>,
    servers: Vec<Server>,
    /// Upstream groups (server indices): 0 is the default, then one per
    /// forward zone.
    groups: Vec<Vec<usize>>,
    routes: Routes,
    /// Per-client token buckets, sharded by client like the cache; none
    /// when the limit is off, so the hot path takes no lock for it.
    limiters: Option<Box<[Mutex<RateLimiter>]>>,
    limits: TtlLimits,
    resolve_timeout: Duration,
    stale_client_timeout: Option<Duration>,
    tls: Option<TlsConnector>,
    runtime: tokio::runtime::Handle,
    epoch: Instant,
    counters: Counters,
}

impl Forwarder {
    /// Builds the resolver; must run inside the tokio runtime it will use.
    pub fn new(cfg: &ResolverConfig) -> anyhow::Result<Arc<Forwarder>> {
        let mut servers: Vec<Server> = Vec::new();
        let mut index = |spec: &UpstreamSpec| -> anyhow::Result<usize> {
            let tls_name = match &spec.tls_name {
                Some(n) => Some(
                    rustls::pki_types::ServerName::try_from(n.clone())
                        .with_context(|| format!("bad tls-name {n:?}"))?,
                ),
                None => None,
            };
            if let Some(i) = servers
                .iter()
                .position(|s| s.addr == spec.addr && s.tls_name == tls_name)
            {
                return Ok(i);
            }
            servers.push(Server {
                addr: spec.addr,
                tls_name,
                idle_tls: Mutex::new(Vec::new()),
            });
            Ok(servers.len() - 1)
        };
        let mut groups = vec![cfg
            .upstreams
            .iter()
            .map(&mut index)
            .collect::<Result<Vec<_>, _>>()?];
        let mut routes = Routes::new(0);
        for fz in &cfg.forward_zones {
            groups.push(
                fz.upstreams
                    .iter()
                    .map(&mut index)
                    .collect::<Result<Vec<_>, _>>()?,
            );
            routes.add(fz.name.clone(), groups.len() - 1);
        }
        let tls = if servers.iter().any(|s| s.tls_name.is_some()) {
            Some(tls_connector(cfg)?)
        } else {
            None
        };
        let limits = TtlLimits {
            min_ttl: cfg.min_ttl,
            max_ttl: cfg.max_ttl,
            max_negative_ttl: cfg.max_negative_ttl,
        };
        let shard_cfg = CacheConfig {
            max_bytes: (cfg.cache_size / SHARDS).max(4096),
            limits,
            serve_stale: cfg.serve_stale,
            stale_ttl: cfg.stale_ttl,
            prefetch: cfg.prefetch,
        };
        let shards = (0..SHARDS)
            .map(|_| Mutex::new(Cache::new(shard_cfg)))
            .collect::<Vec<_>>()
            .into_boxed_slice();
        let count = servers.len();
        let fwd = Arc::new(Forwarder {
            shards,
            inflight: Mutex::new(Inflight::new(MAX_INFLIGHT, MAX_WAITERS)),
            health: Mutex::new(Upstreams::new(count)),
            servers,
            groups,
            routes,
            limiters: (cfg.rate_limit > 0).then(|| {
                (0..SHARDS)
                    .map(|_| {
                        Mutex::new(RateLimiter::new(
                            cfg.rate_limit,
                            cfg.rate_limit_burst,
                            MAX_CLIENTS,
                        ))
                    })
                    .collect()
            }),
            limits,
            resolve_timeout: cfg.resolve_timeout,
            stale_client_timeout: cfg
                .stale_answer_client_timeout
                .filter(|_| cfg.serve_stale > 0),
            tls,
            runtime: tokio::runtime::Handle::current(),
            epoch: Instant::now(),
            counters: Counters::default(),
        });
        // Dead entries are removed a little at a time.
        let weak = Arc::downgrade(&fwd);
        fwd.runtime.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                let Some(f) = weak.upgrade() else { break };
                let now = f.now();
                for s in f.shards.iter() {
                    lock(s).sweep(now, 2000);
                }
            }
        });
        Ok(fwd)
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn shard(&self, key: &Key) -> &Mutex<Cache> {
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        &self.shards[(h.finish() as usize) & (SHARDS - 1)]
    }

    /// Answers a forwarded query: `Some(bytes)` to send now (a cache hit,
    /// a refusal), or `None` when the answer will go to the sink `sink`
    /// makes (or the query is dropped by the rate limit).
    pub fn query(
        self: &Arc<Self>,
        req: ForwardRequest,
        sink: impl FnOnce() -> Sink,
    ) -> Option<Vec<u8>> {
        let now = self.now();
        let reply = Reply {
            id: req.header.id,
            rd: req.header.rd,
            cd: req.header.cd,
            question: &req.question,
            edns: req.edns.as_ref(),
            limit: req.limit,
        };
        if !self.allow(req.source.addr, now) {
            // Over its limit: a UDP client hears nothing (no amplification,
            // no work), a TCP client is told.
            return match req.source.transport {
                Transport::Udp => None,
                Transport::Tcp => Some(sign(&req.tsig, answer::error(&reply, Rcode::REFUSED))),
            };
        }
        let key = Key::new(&req.question, req.dnssec_ok, req.header.cd);
        let found = lock(self.shard(&key)).lookup(&key, &reply, now);
        match found {
            Lookup::Fresh { answer, prefetch } => {
                if prefetch {
                    self.counters.prefetches.fetch_add(1, Ordering::Relaxed);
                    self.start(key, None);
                }
                Some(sign(&req.tsig, answer))
            }
            Lookup::Stale(answer) => Some(sign(&req.tsig, answer)),
            Lookup::Expired | Lookup::Miss => {
                let waiter = Waiter {
                    id: req.header.id,
                    rd: req.header.rd,
                    cd: req.header.cd,
                    question: req.question,
                    edns: req.edns,
                    limit: req.limit,
                    tsig: req.tsig,
                    sink: sink(),
                };
                self.start(key, Some(waiter));
                None
            }
        }
    }

    /// The rate limit's verdict for `client`.
    fn allow(&self, client: IpAddr, now: u64) -> bool {
        let Some(limiters) = &self.limiters else {
            return true;
        };
        let mut h = DefaultHasher::new();
        match client.to_canonical() {
            IpAddr::V4(v4) => v4.hash(&mut h),
            // The limiter counts an IPv6 /64 as one client.
            IpAddr::V6(v6) => (u128::from(v6) >> 64).hash(&mut h),
        }
        lock(&limiters[(h.finish() as usize) & (SHARDS - 1)]).allow(client, now)
    }

    /// Joins or starts the upstream query for `key`.
    fn start(self: &Arc<Self>, key: Key, waiter: Option<Waiter>) {
        let (join, back) = lock(&self.inflight).join(&key, waiter);
        match join {
            Join::First => {
                let me = self.clone();
                self.runtime.spawn(async move { me.resolve(key).await });
            }
            Join::Joined => {
                self.counters.coalesced.fetch_add(1, Ordering::Relaxed);
            }
            Join::Full => {
                if let Some(w) = back {
                    self.counters.servfail.fetch_add(1, Ordering::Relaxed);
                    let bytes = answer::error(&w.reply(), Rcode::SERVFAIL);
                    w.answer(bytes);
                }
            }
        }
    }

    /// Asks the upstreams for `key`, caches the answer and answers every
    /// waiter; on failure, stale answers or SERVFAIL.
    async fn resolve(self: Arc<Self>, key: Key) {
        let group = &self.groups[self.routes.group_for(&key.name)];
        let mut plan = Plan::new(group, self.now(), self.resolve_timeout.as_millis() as u64);
        let tries = async {
            loop {
                let next = {
                    let mut h = lock(&self.health);
                    plan.next(&mut h, group, self.now())
                };
                let Some((i, wait)) = next else { break None };
                self.counters
                    .upstream_queries
                    .fetch_add(1, Ordering::Relaxed);
                let started = Instant::now();
                match self.ask(i, &key, Duration::from_millis(wait)).await {
                    Ok(m) => {
                        lock(&self.health).success(i, started.elapsed().as_micros() as u64);
                        break Some(m);
                    }
                    Err(e) => {
                        self.counters
                            .upstream_failures
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(
                            "upstream {} for {} {}: {e}",
                            self.servers[i].addr,
                            key.name,
                            key.qtype
                        );
                        lock(&self.health).failure(i, self.now());
                    }
                }
            }
        };
        tokio::pin!(tries);
        // RFC 8767 §5: a client that has waited `stale_client_timeout` gets
        // the stale answer, if there is one, while the tries go on to
        // refresh the cache.
        let answer: Option<Message> = match self.stale_client_timeout {
            Some(after) => tokio::select! {
                m = &mut tries => m,
                _ = tokio::time::sleep(after) => {
                    self.answer_stale_waiters(&key);
                    tries.await
                }
            },
            None => tries.await,
        };
        let now = self.now();
        let template = answer
            .as_ref()
            .and_then(|m| Template::new(&key, m, &self.limits));
        if let Some(t) = &template {
            // Into the cache before the waiters leave the table, so a query
            // arriving in between finds the answer instead of asking again.
            lock(self.shard(&key)).insert(key.clone(), t.clone(), now);
        }
        let waiters = lock(&self.inflight).finish(&key);
        match template {
            Some(t) => {
                for w in waiters {
                    let bytes = t.render(&w.reply(), 0, None);
                    w.answer(bytes);
                }
            }
            None => {
                if answer.is_none() {
                    tracing::debug!("every upstream failed for {} {}", key.name, key.qtype);
                }
                let mut shard = lock(self.shard(&key));
                shard.prefetch_failed(&key);
                for w in waiters {
                    let bytes = match shard.stale(&key, &w.reply(), now) {
                        Some(b) => b,
                        None => {
                            self.counters.servfail.fetch_add(1, Ordering::Relaxed);
                            answer::error(&w.reply(), Rcode::SERVFAIL)
                        }
                    };
                    w.answer(bytes);
                }
            }
        }
    }

    /// Answers the waiters of `key` stale, if its entry has a stale answer
    /// (the others go on waiting).
    fn answer_stale_waiters(&self, key: &Key) {
        let now = self.now();
        let waiters = lock(&self.inflight).drain(key);
        let mut left = Vec::new();
        {
            let mut shard = lock(self.shard(key));
            for w in waiters {
                match shard.stale(key, &w.reply(), now) {
                    Some(bytes) => w.answer(bytes),
                    None => left.push(w),
                }
            }
        }
        if !left.is_empty() {
            let mut inflight = lock(&self.inflight);
            for w in left {
                // Called from the key's own resolution, so the key is still
                // in flight and the waiter joins it; anything else would
                // strand the waiter, so it is answered instead.
                let stranded = match inflight.join(key, Some(w)) {
                    (Join::Joined, _) => Vec::new(),
                    (Join::First, _) => inflight.finish(key),
                    (Join::Full, back) => back.into_iter().collect(),
                };
                for w in stranded {
                    let bytes = answer::error(&w.reply(), Rcode::SERVFAIL);
                    w.answer(bytes);
                }
            }
        }
    }

    /// One try at upstream `i`, within `wait`.
    async fn ask(&self, i: usize, key: &Key, wait: Duration) -> Result<Message, TryError> {
        let server = &self.servers[i];
        let id: u16 = rand::random();
        let query = build_query(id, key, UPSTREAM_UDP_SIZE);
        let deadline = tokio::time::Instant::now() + wait;
        if let Some(name) = &server.tls_name {
            return within(deadline, self.ask_tls(server, name, &query, id, key)).await;
        }
        match within(deadline, ask_udp(server.addr, &query, id, key)).await {
            // RFC 7766 §5: truncated over UDP, ask again over TCP. The
            // connection gets a fresh allowance: it costs an extra round
            // trip.
            Err(TryError::Rejected(Reject::Truncated)) => {
                let addr = server.addr;
                let over_tcp = async move {
                    let s = TcpStream::connect(addr).await.map_err(TryError::Io)?;
                    ask_stream(s, &query, id, key).await
                };
                within(tokio::time::Instant::now() + wait, over_tcp).await
            }
            other => other,
        }
    }

    async fn ask_tls(
        &self,
        server: &Server,
        name: &rustls::pki_types::ServerName<'static>,
        query: &[u8],
        id: u16,
        key: &Key,
    ) -> Result<Message, TryError> {
        // An idle connection first (RFC 7858 §3.4: reuse connections);
        // if the server has closed it meanwhile, one fresh try.
        let pooled = lock(&server.idle_tls).pop();
        if let Some(mut stream) = pooled {
            if let Ok(m) = exchange(&mut stream, query, id, key).await {
                self.keep(server, stream);
                return Ok(m);
            }
        }
        let connector = self
            .tls
            .as_ref()
            .ok_or_else(|| TryError::Tls("no TLS configuration".into()))?;
        let tcp = TcpStream::connect(server.addr)
            .await
            .map_err(TryError::Io)?;
        let _ = tcp.set_nodelay(true);
        let mut stream = connector
            .connect(name.clone(), tcp)
            .await
            .map_err(|e| TryError::Tls(e.to_string()))?;
        let m = exchange(&mut stream, query, id, key).await?;
        self.keep(server, stream);
        Ok(m)
    }

    fn keep(&self, server: &Server, stream: TlsStream<TcpStream>) {
        let mut idle = lock(&server.idle_tls);
        if idle.len() < TLS_POOL {
            idle.push(stream);
        }
    }

    /// One line for `tandem status`.
    pub fn status(&self) -> String {
        let (mut entries, mut bytes, mut hits, mut misses, mut stale) = (0, 0, 0, 0, 0);
        for s in self.shards.iter() {
            let c = lock(s);
            entries += c.len();
            bytes += c.bytes();
            let st = c.stats();
            hits += st.hits;
            misses += st.misses;
            stale += st.stale_served;
        }
        let c = &self.counters;
        let health = lock(&self.health);
        let ups: Vec<String> = self
            .servers
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let h = health.health(i).copied().unwrap_or_default();
                format!(
                    "{}{} srtt {:.1} ms{}",
                    s.addr,
                    if s.tls_name.is_some() { " (tls)" } else { "" },
                    h.srtt_us as f64 / 1000.0,
                    if h.failures >= 2 { ", backing off" } else { "" }
                )
            })
            .collect();
        format!(
            "resolver: cache {entries} answers in {bytes} bytes, {hits} hits, {misses} misses, {stale} stale served, {} coalesced, {} prefetches, {} upstream queries ({} failed), {} SERVFAIL, {} rate-limited; upstreams: {}",
            c.coalesced.load(Ordering::Relaxed),
            c.prefetches.load(Ordering::Relaxed),
            c.upstream_queries.load(Ordering::Relaxed),
            c.upstream_failures.load(Ordering::Relaxed),
            c.servfail.load(Ordering::Relaxed),
            self.limiters
                .iter()
                .flat_map(|l| l.iter())
                .map(|l| lock(l).limited())
                .sum::<u64>(),
            ups.join(", ")
        )
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere must not take the resolver down with it.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn sign(tsig: &Option<RequestContext>, mut bytes: Vec<u8>) -> Vec<u8> {
    if let Some(ctx) = tsig {
        let _ = ctx.sign_response(&mut bytes);
    }
    bytes
}

async fn within<F>(deadline: tokio::time::Instant, f: F) -> Result<Message, TryError>
where
    F: std::future::Future<Output = Result<Message, TryError>>,
{
    match tokio::time::timeout_at(deadline, f).await {
        Ok(r) => r,
        Err(_) => Err(TryError::Timeout),
    }
}

/// One UDP exchange from a fresh socket (a random source port per query,
/// with the random ID, against spoofed answers).
async fn ask_udp(addr: SocketAddr, query: &[u8], id: u16, key: &Key) -> Result<Message, TryError> {
    let local: SocketAddr = if addr.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(local).await.map_err(TryError::Io)?;
    sock.connect(addr).await.map_err(TryError::Io)?;
    sock.send(query).await.map_err(TryError::Io)?;
    // Room for any datagram, but not zeroed: `recv_buf` writes into the
    // spare capacity, so only the pages an answer fills are touched. A
    // zeroed 64 KiB buffer per query cost 16 MB of resident memory over a
    // 5,000-name cache warm-up (freed buffers reused across threads' heaps,
    // each zeroed again in full).
    let mut buf = Vec::with_capacity(65_535);
    loop {
        buf.clear();
        sock.recv_buf(&mut buf).await.map_err(TryError::Io)?;
        match check_response(key, id, &buf) {
            Ok(m) => return Ok(m),
            // Someone else's datagram: keep waiting (the caller's deadline
            // bounds this loop).
            Err(Reject::NotOurs) => continue,
            Err(r) => return Err(TryError::Rejected(r)),
        }
    }
}

/// One length-prefixed exchange on a fresh TCP connection.
async fn ask_stream(
    mut s: TcpStream,
    query: &[u8],
    id: u16,
    key: &Key,
) -> Result<Message, TryError> {
    let _ = s.set_nodelay(true);
    exchange(&mut s, query, id, key).await
}

async fn exchange<S>(s: &mut S, query: &[u8], id: u16, key: &Key) -> Result<Message, TryError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut framed = Vec::with_capacity(query.len() + 2);
    framed.extend_from_slice(&(query.len() as u16).to_be_bytes());
    framed.extend_from_slice(query);
    s.write_all(&framed).await.map_err(TryError::Io)?;
    s.flush().await.map_err(TryError::Io)?;
    // Bounded: a server that keeps sending other IDs runs into the
    // caller's deadline.
    loop {
        let len = s.read_u16().await.map_err(TryError::Io)? as usize;
        let mut buf = vec![0u8; len];
        s.read_exact(&mut buf).await.map_err(TryError::Io)?;
        match check_response(key, id, &buf) {
            Ok(m) => return Ok(m),
            Err(Reject::NotOurs) => continue,
            // TC over a stream makes no sense.
            Err(Reject::Truncated) => return Err(TryError::Rejected(Reject::Malformed)),
            Err(r) => return Err(TryError::Rejected(r)),
        }
    }
}

fn tls_connector(cfg: &ResolverConfig) -> anyhow::Result<TlsConnector> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    match &cfg.tls_ca_file {
        Some(path) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .with_context(|| format!("cannot read tls-ca-file {}", path.display()))?
                .collect::<Result<_, _>>()
                .with_context(|| format!("bad certificate in {}", path.display()))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                anyhow::bail!("tls-ca-file {} holds no usable certificate", path.display());
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS setup")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// The recursion ACL with `localhost` and `localnets` replaced by this
/// host's addresses and subnets as they are now.
pub fn recursion_acl(elements: &[RecursionElement]) -> anyhow::Result<Acl> {
    let needs_interfaces = elements
        .iter()
        .any(|e| !matches!(e, RecursionElement::Acl(_)));
    let local = if needs_interfaces {
        interface_networks().context("cannot list the interfaces' addresses")?
    } else {
        Vec::new()
    };
    Ok(expand(elements, &local))
}

/// `localhost` and `localnets` against `local` (address, prefix length).
pub fn expand(elements: &[RecursionElement], local: &[(IpAddr, u8)]) -> Acl {
    let net = |negate, addr: IpAddr, prefix| AclElement {
        negate,
        matches: AclMatch::Net {
            addr: addr.to_canonical(),
            prefix,
        },
    };
    let mut out = Vec::new();
    for e in elements {
        match e {
            RecursionElement::Acl(a) => out.push(a.clone()),
            RecursionElement::LocalHost { negate } => {
                out.push(net(*negate, Ipv4Addr::new(127, 0, 0, 0).into(), 8));
                out.push(net(*negate, Ipv6Addr::LOCALHOST.into(), 128));
                for (addr, _) in local {
                    out.push(net(*negate, *addr, if addr.is_ipv4() { 32 } else { 128 }));
                }
            }
            RecursionElement::LocalNets { negate } => {
                for (addr, prefix) in local {
                    out.push(net(*negate, *addr, *prefix));
                }
            }
        }
    }
    Acl(out)
}

/// Every address of this host's interfaces with its prefix length.
pub(crate) fn interface_networks() -> std::io::Result<Vec<(IpAddr, u8)>> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_netmask.is_null() {
            continue;
        }
        // SAFETY: ifa_addr and ifa_netmask point at sockaddrs of the family
        // the address field names.
        unsafe {
            match (*ifa.ifa_addr).sa_family as libc::c_int {
                libc::AF_INET => {
                    let a = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                    let m = &*(ifa.ifa_netmask as *const libc::sockaddr_in);
                    let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
                    let prefix = u32::from_be(m.sin_addr.s_addr).count_ones() as u8;
                    out.push((IpAddr::V4(ip), prefix));
                }
                libc::AF_INET6 => {
                    let a = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                    let m = &*(ifa.ifa_netmask as *const libc::sockaddr_in6);
                    let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
                    let prefix = u128::from_be_bytes(m.sin6_addr.s6_addr).count_ones() as u8;
                    out.push((IpAddr::V6(ip), prefix));
                }
                _ => {}
            }
        }
    }
    // SAFETY: `head` came from getifaddrs.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localhost_and_localnets_expand_to_this_hosts_networks() {
        let local = vec![
            ("192.168.0.254".parse().unwrap(), 24),
            ("fd00::254".parse().unwrap(), 64),
        ];
        let acl = expand(
            &[
                RecursionElement::Acl("!192.168.0.66".parse().unwrap()),
                RecursionElement::LocalHost { negate: false },
                RecursionElement::LocalNets { negate: false },
            ],
            &local,
        );
        let ok = |a: &str| acl.allows(a.parse().unwrap(), None);
        assert!(ok("127.0.0.1") && ok("127.9.9.9") && ok("::1"));
        assert!(ok("192.168.0.10") && ok("fd00::1234"));
        assert!(!ok("192.168.0.66"));
        assert!(!ok("192.168.1.10") && !ok("8.8.8.8") && !ok("2001:db8::1"));
        let none = expand(&[RecursionElement::LocalHost { negate: false }], &local);
        assert!(none.allows("192.168.0.254".parse().unwrap(), None));
        assert!(!none.allows("192.168.0.10".parse().unwrap(), None));
    }

    #[test]
    fn this_host_has_a_loopback_network() {
        let nets = interface_networks().unwrap();
        assert!(nets.iter().any(|(a, _)| a.is_loopback()), "{nets:?}");
    }
}
