//! The refresh task of one secondary zone: runs the transfers the pure
//! schedule (`tandem_dns::secondary::Refresher`) asks for, over TCP to
//! the primaries in order, and hands what arrives to the zone store,
//! which makes it durable before it is served.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tandem_dns::secondary::{Copy, Reason, Refresher, Step, Timers};
use tandem_dns::xfrin::{self, Kind, Transfer};
use tandem_dns_wire::rdata::Soa;
use tandem_dns_wire::tsig::Key;
use tandem_dns_wire::{Name, Record};
use tandem_zonestore::ZoneStore;
use tokio::sync::mpsc;

use super::{forward, stream};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Silence allowed between two messages of one transfer.
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) struct Setup {
    pub zone: Name,
    pub primaries: Vec<SocketAddr>,
    pub source: Option<IpAddr>,
    pub key: Option<Key>,
    pub store: Arc<ZoneStore>,
    /// Told when a primary answered, so queued updates go out.
    pub forwarder: mpsc::UnboundedSender<forward::Job>,
}

/// The handle: pokes the task on NOTIFY, describes it for `status`.
pub(crate) struct ZoneRefresh {
    tx: mpsc::UnboundedSender<Option<u32>>,
    described: Arc<Mutex<Described>>,
}

/// The last refresh, for `tandem status`.
#[derive(Default)]
struct Described {
    /// When the primary last answered (seconds since the epoch).
    ok_at: Option<u64>,
    /// The last failure, if the last attempt failed.
    failed: Option<String>,
    expired: bool,
}

impl ZoneRefresh {
    pub(crate) fn notify(&self, serial: Option<u32>) {
        let _ = self.tx.send(serial);
    }

    pub(crate) fn describe(&self) -> String {
        let d = self.described.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = match d.ok_at {
            Some(at) => format!(
                "primary last answered {} s ago",
                crate::unix_now().saturating_sub(at)
            ),
            None => "no answer from a primary yet".to_string(),
        };
        if let Some(e) = &d.failed {
            out.push_str(&format!(", last refresh failed: {e}"));
        }
        if d.expired {
            out.push_str(", EXPIRED (answering SERVFAIL)");
        }
        out
    }
}

pub(crate) fn start(setup: Setup) -> ZoneRefresh {
    // Before any listener answers: a stored copy already past its expire
    // time must not be served even for a moment.
    if let Some(c) = copy_of(&setup.store, &setup.zone) {
        let age = crate::unix_now().saturating_sub(c.refreshed_at);
        if age >= u64::from(c.timers.expire) {
            setup.store.expire(&setup.zone);
        }
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let described = Arc::new(Mutex::new(Described::default()));
    tokio::spawn(run(setup, rx, described.clone()));
    ZoneRefresh { tx, described }
}

fn timers(soa: &Record) -> Option<Timers> {
    Soa::parse(&soa.rdata).ok().map(|s| Timers::from_soa(&s))
}

fn copy_of(store: &ZoneStore, zone: &Name) -> Option<Copy> {
    let (serial, soa, refreshed_at) = store.secondary_copy(zone)?;
    Some(Copy {
        serial,
        timers: timers(&soa)?,
        refreshed_at,
    })
}

async fn run(
    s: Setup,
    mut rx: mpsc::UnboundedReceiver<Option<u32>>,
    described: Arc<Mutex<Described>>,
) {
    let now = crate::unix_now();
    let copy = copy_of(&s.store, &s.zone);
    match &copy {
        Some(c) => tracing::info!(
            "zone {}/IN: serving the stored copy, serial {}, last refreshed {} s ago",
            s.zone,
            c.serial,
            now.saturating_sub(c.refreshed_at)
        ),
        None => tracing::info!(
            "zone {}/IN: no copy yet; transferring from {}",
            s.zone,
            list(&s.primaries)
        ),
    }
    let mut r = Refresher::new(copy, now);
    let set =
        |f: &dyn Fn(&mut Described)| f(&mut described.lock().unwrap_or_else(|p| p.into_inner()));
    if let Some(c) = r.copy() {
        let at = c.refreshed_at;
        set(&|d| d.ok_at = (at > 0).then_some(at));
    }
    loop {
        while let Some(step) = r.poll(crate::unix_now()) {
            match step {
                Step::Transfer(reason) => {
                    tracing::debug!("zone {}: refreshing ({reason})", s.zone);
                    let started = Instant::now();
                    match transfer(&s, reason).await {
                        Ok((serial, soa)) => {
                            let now = crate::unix_now();
                            match timers(&soa) {
                                Some(t) => r.on_success(now, serial, t),
                                None => r.on_failure(now),
                            }
                            set(&|d| {
                                d.ok_at = Some(now);
                                d.failed = None;
                                d.expired = false;
                            });
                            let _ = s.forwarder.send(forward::Job::Transferred(started));
                        }
                        Err(e) => {
                            tracing::warn!("zone {}: refresh ({reason}) failed: {e}", s.zone);
                            r.on_failure(crate::unix_now());
                            set(&|d| d.failed = Some(e.clone()));
                        }
                    }
                }
                Step::Expire => {
                    tracing::error!(
                        "zone {}/IN: expired: no primary answered for the SOA's expire time; answering SERVFAIL until one does",
                        s.zone
                    );
                    let store = s.store.clone();
                    let zone = s.zone.clone();
                    let _ = tokio::task::spawn_blocking(move || store.expire(&zone)).await;
                    set(&|d| d.expired = true);
                }
            }
        }
        let wait = r
            .next_wakeup()
            .map(|at| Duration::from_secs(at.saturating_sub(crate::unix_now())))
            .unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            poke = rx.recv() => match poke {
                Some(serial) => {
                    let _ = r.on_notify(crate::unix_now(), serial);
                }
                None => return,
            },
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// One refresh: IXFR (falling back to AXFR when the increment does not
/// apply) from the first primary that answers. Returns the serial now
/// served and its SOA.
async fn transfer(s: &Setup, reason: Reason) -> Result<(u32, Record), String> {
    let mut last = String::from("no primary configured");
    for p in &s.primaries {
        let mut kind = Kind::Ixfr;
        loop {
            match transfer_from(s, *p, kind, reason).await {
                Ok(v) => return Ok(v),
                Err(TransferError::Apply(e)) if kind == Kind::Ixfr => {
                    tracing::warn!(
                        "zone {}: the increment from {p} does not apply ({e}); asking for the whole zone",
                        s.zone
                    );
                    kind = Kind::Axfr;
                }
                Err(TransferError::Apply(e)) | Err(TransferError::Net(e)) => {
                    last = format!("{p}: {e}");
                    break;
                }
            }
        }
    }
    Err(last)
}

enum TransferError {
    /// The primary could not be reached or sent nothing usable.
    Net(String),
    /// The transfer arrived but the store refused it.
    Apply(String),
}

async fn transfer_from(
    s: &Setup,
    primary: SocketAddr,
    kind: Kind,
    reason: Reason,
) -> Result<(u32, Record), TransferError> {
    let started = Instant::now();
    let current = s.store.secondary_copy(&s.zone).map(|(_, soa, _)| soa);
    let req = xfrin::request(
        &s.zone,
        kind,
        current.as_ref(),
        crate::ddns::random_id(),
        s.key.as_ref(),
        crate::unix_now(),
    )
    .map_err(|e| TransferError::Net(e.to_string()))?;
    let mut receiver = req.receiver;
    let asked = if receiver.kind() == Kind::Ixfr {
        "IXFR"
    } else {
        "AXFR"
    };
    let mut conn = stream::connect(primary, s.source, CONNECT_TIMEOUT)
        .await
        .map_err(TransferError::Net)?;
    stream::send(&mut conn, &req.bytes)
        .await
        .map_err(TransferError::Net)?;
    let t = loop {
        let msg = stream::recv(&mut conn, MESSAGE_TIMEOUT)
            .await
            .map_err(TransferError::Net)?;
        match receiver.feed(&msg, crate::unix_now()) {
            Ok(Some(t)) => break t,
            Ok(None) => {}
            Err(e) => return Err(TransferError::Net(format!("{asked}: {e}"))),
        }
    };
    drop(conn);
    let (messages, records, _) = receiver.stats();
    let what = match &t {
        Transfer::UpToDate { serial } => format!("up to date at serial {serial}"),
        Transfer::Full { records } => format!("whole zone, {} records", records.len()),
        Transfer::Incremental { diffs } => format!(
            "{} change(s), {} records",
            diffs.len(),
            diffs
                .iter()
                .map(|d| d.added.len() + d.removed.len())
                .sum::<usize>()
        ),
    };
    let up_to_date = matches!(t, Transfer::UpToDate { .. });
    let store = s.store.clone();
    let zone = s.zone.clone();
    let serial =
        tokio::task::spawn_blocking(move || store.apply_transfer(&zone, t, crate::unix_now()))
            .await
            .map_err(|e| TransferError::Apply(e.to_string()))?
            .map_err(|e| TransferError::Apply(e.to_string()))?;
    let ms = started.elapsed().as_millis();
    if up_to_date {
        tracing::debug!(
            "zone {}/IN: {asked} from {primary} ({reason}): {what}",
            s.zone
        );
    } else {
        tracing::info!(
            "zone {}/IN: transferred serial {serial} from {primary} by {asked} ({reason}): {what} in {messages} message(s), {records} answer records, {ms} ms",
            s.zone
        );
    }
    let soa = s
        .store
        .secondary_copy(&s.zone)
        .map(|(_, soa, _)| soa)
        .ok_or_else(|| TransferError::Apply("the store has no copy after the transfer".into()))?;
    Ok((serial, soa))
}

fn list(primaries: &[SocketAddr]) -> String {
    primaries
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
