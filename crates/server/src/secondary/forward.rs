//! Update forwarding for one secondary zone, with the outbox that keeps
//! what the primary could not take (`docs/replication.md`).
//!
//! One task per zone takes forwarded updates in arrival order. With the
//! outbox empty, an update goes to the primary as received (its signature
//! intact) and the primary's answer is relayed. When no primary answers,
//! or while older updates still wait, the update is checked against the
//! zone as this node serves it (so a prerequisite that fails here is
//! answered now), written to the outbox and synced, and only then answered
//! NOERROR. The outbox is delivered in order, re-signed with the same key
//! (the original signature's time would have expired), whenever a primary
//! is reachable again: on a NOTIFY, after a successful transfer, or on the
//! retry timer.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tandem_dns::outbox::{self, Queued, KIND_DELIVERED, KIND_QUEUED};
use tandem_dns::ForwardedUpdate;
use tandem_dns_wire::tsig::{self, Key};
use tandem_dns_wire::{Message, Name, Rcode};
use tandem_journal::{Journal, Options};
use tandem_zone::update::{plan_update, AllowAll};
use tandem_zonestore::ZoneStore;
use tokio::sync::mpsc;

use super::stream;
use crate::Reply;

/// How long a primary gets to answer one forwarded update.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(3);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Delivery retries back off from the first to the last.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_LAST: Duration = Duration::from_secs(30);
/// Delivered entries after which the outbox file is rewritten.
const COMPACT_AFTER: usize = 1000;

pub(crate) enum Job {
    Update(Box<ForwardedUpdate>, Reply),
    /// A primary may be back (NOTIFY): deliver now.
    PrimaryBack,
    /// A transfer that started at this instant succeeded: updates
    /// delivered before it are in the copy now, and the primary is up.
    Transferred(Instant),
}

/// The handle the listeners and the refresh task hold.
pub(crate) struct ZoneForwarder {
    pub(crate) tx: mpsc::UnboundedSender<Job>,
    /// Updates in the outbox, for `tandem status`.
    pub(crate) waiting: Arc<AtomicUsize>,
}

pub(crate) struct Setup<'a> {
    pub zone: Name,
    pub primaries: Vec<SocketAddr>,
    pub source: Option<IpAddr>,
    pub keys: Vec<Key>,
    pub store: Arc<ZoneStore>,
    pub state_dir: &'a Path,
}

/// Opens the zone's outbox (replaying what a previous run left) and
/// starts its task on the current tokio runtime.
pub(crate) fn start(setup: Setup<'_>) -> anyhow::Result<ZoneForwarder> {
    let path = outbox_path(setup.state_dir, &setup.zone);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let (journal, replay) = Journal::open(&path, Options::default())
        .with_context(|| format!("cannot open the update outbox {}", path.display()))?;
    if let Some(cut) = replay.truncated {
        tracing::warn!(
            "update outbox {}: cut a torn tail of {} bytes at {}: {} (an update never acknowledged)",
            path.display(),
            cut.bytes_dropped,
            cut.offset,
            cut.reason
        );
    }
    let queue = outbox::replay(
        replay
            .entries
            .iter()
            .map(|e| (e.kind, e.payload.as_slice())),
    )
    .with_context(|| format!("update outbox {}", path.display()))?;
    let next_seq = queue.back().map_or(1, |q| q.seq + 1).max(
        replay
            .entries
            .iter()
            .filter(|e| e.kind == KIND_DELIVERED)
            .filter_map(|e| outbox::decode_delivered(&e.payload).ok())
            .max()
            .map_or(1, |s| s + 1),
    );
    if !queue.is_empty() {
        tracing::info!(
            "zone {}: {} forwarded update(s) waiting for the primary from the last run",
            setup.zone,
            queue.len()
        );
    }
    let waiting = Arc::new(AtomicUsize::new(queue.len()));
    let (tx, rx) = mpsc::unbounded_channel();
    let task = Task {
        zone: setup.zone,
        primaries: setup.primaries,
        source: setup.source,
        keys: setup.keys,
        store: setup.store,
        journal,
        queue,
        next_seq,
        delivered: 0,
        waiting: waiting.clone(),
        backoff: RETRY_FIRST,
        delivered_unseen: Vec::new(),
    };
    task.show_local();
    tokio::spawn(task.run(rx));
    Ok(ZoneForwarder { tx, waiting })
}

pub(crate) fn outbox_path(state_dir: &Path, zone: &Name) -> std::path::PathBuf {
    let jnl = tandem_zonestore::journal_path(state_dir, zone);
    let file = jnl
        .file_name()
        .map(|f| f.to_os_string())
        .unwrap_or_default();
    state_dir.join("outbox").join(file)
}

struct Task {
    zone: Name,
    primaries: Vec<SocketAddr>,
    source: Option<IpAddr>,
    keys: Vec<Key>,
    store: Arc<ZoneStore>,
    journal: Journal,
    queue: VecDeque<Queued>,
    next_seq: u64,
    /// Delivered since the outbox file was last rewritten.
    delivered: usize,
    waiting: Arc<AtomicUsize>,
    backoff: Duration,
    /// Updates the primary took that no transfer has brought back yet,
    /// with when they were delivered: still shown on top of the copy, so
    /// a name does not blink out between delivery and the next IXFR.
    delivered_unseen: Vec<(Instant, Message)>,
}

enum Delivery {
    /// The primary answered (any RCODE).
    Answered(Rcode),
    /// No primary answered; try again later.
    Unreachable(String),
}

impl Task {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Job>) {
        let mut retry_at = (!self.queue.is_empty()).then(tokio::time::Instant::now);
        loop {
            let job = match retry_at {
                Some(at) => tokio::select! {
                    j = rx.recv() => j,
                    _ = tokio::time::sleep_until(at) => Some(Job::PrimaryBack),
                },
                None => rx.recv().await,
            };
            let Some(job) = job else { return };
            match job {
                Job::Update(u, reply) => {
                    self.take(*u, reply).await;
                    // Just found the primary away (or older updates wait):
                    // the retry timer already runs, or starts now.
                    if !self.queue.is_empty() && retry_at.is_none() {
                        retry_at = Some(tokio::time::Instant::now() + self.backoff);
                    }
                    continue;
                }
                Job::PrimaryBack => {}
                Job::Transferred(started) => {
                    let before = self.delivered_unseen.len();
                    self.delivered_unseen.retain(|(at, _)| *at > started);
                    if self.delivered_unseen.len() != before {
                        self.show_local();
                    }
                }
            }
            if self.queue.is_empty() {
                retry_at = None;
            } else if self.deliver().await {
                retry_at = None;
                self.backoff = RETRY_FIRST;
            } else {
                retry_at = Some(tokio::time::Instant::now() + self.backoff);
                self.backoff = (self.backoff * 2).min(RETRY_LAST);
            }
        }
    }

    /// Serves what waits (and what was delivered but not yet transferred
    /// back) on top of the zone's copy.
    fn show_local(&self) {
        let mut local: Vec<Message> = self
            .delivered_unseen
            .iter()
            .map(|(_, m)| m.clone())
            .collect();
        local.extend(
            self.queue
                .iter()
                .filter_map(|q| Message::parse(&q.message).ok()),
        );
        self.store.set_local_updates(&self.zone, local);
    }

    /// One update from a client.
    async fn take(&mut self, u: ForwardedUpdate, reply: Reply) {
        let client = u.source.addr;
        if self.queue.is_empty() {
            // Exactly as the client sent it, its signature intact.
            match self.exchange(&u.bytes).await {
                Ok(answer) => {
                    let rcode = Message::parse(&answer)
                        .map(|m| m.header.rcode.to_string())
                        .unwrap_or_else(|_| "an unreadable answer".into());
                    tracing::info!(
                        "client {client}: zone {}: forwarded update answered {rcode} by the primary",
                        self.zone
                    );
                    reply(answer);
                    return;
                }
                Err(e) => tracing::warn!(
                    "client {client}: zone {}: cannot forward the update to the primary ({e}); keeping it in the outbox",
                    self.zone
                ),
            }
        }
        // Checked against what this node serves, which includes what
        // already waits: what the primary will hold when it gets this.
        let served = self
            .store
            .snapshot()
            .get(&self.zone)
            .map(|e| e.zone.clone());
        let Some(view) = served.filter(|z| z.name_count() > 0) else {
            tracing::warn!(
                "client {client}: zone {}: no copy of the zone to check the update against; answering SERVFAIL",
                self.zone
            );
            reply(u.response(Rcode::SERVFAIL));
            return;
        };
        let key = u.tsig.as_ref().map(|c| &c.key().name);
        if let Err(e) = plan_update(&view, &u.message, &AllowAll, key) {
            tracing::info!(
                "client {client}: zone {}: update not queued: {} ({})",
                self.zone,
                e.rcode,
                e.reason
            );
            reply(u.response(e.rcode));
            return;
        }
        let q = Queued {
            seq: self.next_seq,
            queued_at: crate::unix_now(),
            client: client.to_string(),
            message: u.bytes.clone(),
        };
        let journal = self.journal.clone();
        let payload = q.encode();
        let durable =
            tokio::task::spawn_blocking(move || journal.append_blocking(KIND_QUEUED, payload))
                .await;
        match durable {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::error!(
                    "zone {}: cannot write the update outbox: {e}; answering SERVFAIL",
                    self.zone
                );
                reply(u.response(Rcode::SERVFAIL));
                return;
            }
            Err(e) => {
                tracing::error!("zone {}: outbox writer failed: {e}", self.zone);
                reply(u.response(Rcode::SERVFAIL));
                return;
            }
        }
        self.next_seq += 1;
        self.queue.push_back(q);
        self.waiting.store(self.queue.len(), Ordering::Relaxed);
        self.show_local();
        tracing::info!(
            "client {client}: zone {}: update queued for the primary ({} waiting)",
            self.zone,
            self.queue.len()
        );
        reply(u.response(Rcode::NOERROR));
    }

    /// Sends the outbox, oldest first, until it is empty (true) or no
    /// primary answers (false).
    async fn deliver(&mut self) -> bool {
        while let Some(head) = self.queue.front().cloned() {
            match self.deliver_one(&head).await {
                Delivery::Answered(rcode) => {
                    if rcode == Rcode::NOERROR {
                        tracing::info!(
                            "zone {}: queued update {} from {} delivered to the primary",
                            self.zone,
                            head.seq,
                            head.client
                        );
                    } else {
                        // The client was told NOERROR; say loudly that the
                        // primary disagreed (see docs/replication.md).
                        tracing::error!(
                            "zone {}: queued update {} from {} refused by the primary: {rcode}; it is dropped",
                            self.zone,
                            head.seq,
                            head.client
                        );
                    }
                    let journal = self.journal.clone();
                    let payload = outbox::encode_delivered(head.seq);
                    let done = tokio::task::spawn_blocking(move || {
                        journal.append_blocking(KIND_DELIVERED, payload)
                    })
                    .await;
                    if !matches!(done, Ok(Ok(_))) {
                        // Sent again after a restart: a repeated add is
                        // harmless, and the primary's answer tells.
                        tracing::error!(
                            "zone {}: cannot record the delivery of update {} in the outbox",
                            self.zone,
                            head.seq
                        );
                    }
                    if let (Some(q), true) = (self.queue.pop_front(), rcode == Rcode::NOERROR) {
                        if let Ok(m) = Message::parse(&q.message) {
                            self.delivered_unseen.push((Instant::now(), m));
                        }
                    }
                    self.waiting.store(self.queue.len(), Ordering::Relaxed);
                    self.delivered += 1;
                    if rcode != Rcode::NOERROR {
                        self.show_local();
                    }
                }
                Delivery::Unreachable(e) => {
                    tracing::info!(
                        "zone {}: primary still unreachable ({e}); {} update(s) wait",
                        self.zone,
                        self.queue.len()
                    );
                    return false;
                }
            }
        }
        if self.delivered >= COMPACT_AFTER {
            let journal = self.journal.clone();
            if let Ok(Ok(_)) =
                tokio::task::spawn_blocking(move || journal.rewrite(Vec::new())).await
            {
                self.delivered = 0;
            }
        }
        true
    }

    async fn deliver_one(&self, q: &Queued) -> Delivery {
        let Ok(msg) = Message::parse(&q.message) else {
            // Cannot happen (it parsed when it arrived); never block the
            // queue on it.
            return Delivery::Answered(Rcode::FORMERR);
        };
        let key = match &msg.tsig {
            None => None,
            Some(t) => match self.keys.iter().find(|k| k.name == t.record.owner) {
                Some(k) => Some(k),
                None => {
                    tracing::error!(
                        "zone {}: queued update {} is signed with key {}, which is no longer configured",
                        self.zone,
                        q.seq,
                        t.record.owner
                    );
                    return Delivery::Answered(Rcode::REFUSED);
                }
            },
        };
        let mut m = msg.clone();
        m.header.id = crate::ddns::random_id();
        let mut bytes = m.to_wire();
        let ctx = match key {
            Some(k) => {
                match tsig::sign_request(&mut bytes, k, crate::unix_now(), tsig::DEFAULT_FUDGE) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        tracing::error!("zone {}: cannot sign update {}: {e}", self.zone, q.seq);
                        return Delivery::Answered(Rcode::SERVFAIL);
                    }
                }
            }
            None => None,
        };
        let answer = match self.exchange(&bytes).await {
            Ok(a) => a,
            Err(e) => return Delivery::Unreachable(e),
        };
        let Ok(parsed) = Message::parse(&answer) else {
            return Delivery::Unreachable("the primary's answer is malformed".into());
        };
        if let Some(ctx) = ctx {
            if let Err(e) = ctx.verify_parsed_response(&answer, &parsed, crate::unix_now()) {
                if parsed.header.rcode == Rcode::NOERROR {
                    return Delivery::Unreachable(format!("answer failed TSIG verification: {e}"));
                }
            }
        }
        match parsed.header.rcode {
            // A primary that cannot commit now may later.
            Rcode::SERVFAIL => Delivery::Unreachable("the primary answered SERVFAIL".into()),
            r => Delivery::Answered(r),
        }
    }

    /// Sends `bytes` to the first primary that answers; returns its answer.
    async fn exchange(&self, bytes: &[u8]) -> Result<Vec<u8>, String> {
        let mut last = String::from("no primary configured");
        for p in &self.primaries {
            let mut s = match stream::connect(*p, self.source, CONNECT_TIMEOUT).await {
                Ok(s) => s,
                Err(e) => {
                    last = format!("{p}: {e}");
                    continue;
                }
            };
            match stream::exchange(&mut s, bytes, ANSWER_TIMEOUT).await {
                Ok(a) => return Ok(a),
                Err(e) => last = format!("{p}: {e}"),
            }
        }
        Err(last)
    }
}
