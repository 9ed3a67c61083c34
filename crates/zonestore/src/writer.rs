//! The zone writer: the one thread that changes zones through updates.
//!
//! Each round takes every update waiting (up to [`MAX_BATCH`]), applies
//! them one after the other (each sees the ones before it), appends each
//! change to its zone's journal, waits until every journal touched has
//! synced, and only then publishes the new catalog and answers. If a
//! journal write fails, nothing of the round is published: every update in
//! it is answered SERVFAIL and the zones stay as they were.

use std::collections::HashMap;
use std::sync::{mpsc, Arc, Weak};

use tandem_dns::query::UpdateRequest;
use tandem_dns::Catalog;
use tandem_dns_wire::{Name, Rcode};
use tandem_zone::{plan_update, AllowAll, Authorize, Diff};

use crate::codec::{encode_checkpoint, encode_diff, KIND_CHECKPOINT, KIND_DIFF};
use crate::{Reply, ZoneStore};

/// Most updates committed by one round (and one sync per journal).
const MAX_BATCH: usize = 512;

pub(crate) fn run(store: Weak<ZoneStore>, rx: mpsc::Receiver<(UpdateRequest, Reply)>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let Some(store) = store.upgrade() else {
            for (req, reply) in batch {
                reply(req.response(Rcode::SERVFAIL));
            }
            return;
        };
        commit(&store, batch);
    }
}

/// Denies everything: an update the address list refused.
struct DenyAll;

impl Authorize for DenyAll {
    fn allows(&self, _: Option<&Name>, _: &Name, _: tandem_dns_wire::Rtype) -> bool {
        false
    }
}

fn commit(store: &Arc<ZoneStore>, batch: Vec<(UpdateRequest, Reply)>) {
    let mut inner = store.inner.lock().unwrap_or_else(|p| p.into_inner());
    let mut catalog: Catalog = (*store.catalog.load_full()).clone();
    let mut answers: Vec<(UpdateRequest, Reply, Rcode)> = Vec::with_capacity(batch.len());
    // Zone → the diffs this round appends, in order.
    let mut diffs: HashMap<Name, Vec<Diff>> = HashMap::new();
    for (req, reply) in batch {
        // The query layer forwards updates for secondary zones to their
        // primary; one that still arrives here is refused, never applied.
        let secondary = inner
            .zones
            .get(&req.zone)
            .is_some_and(crate::ZoneState::is_secondary);
        let result = if secondary {
            Err(tandem_zone::UpdateError::new(
                Rcode::NOTAUTH,
                "zone is a secondary here; updates go to its primary",
            ))
        } else {
            apply_one(&mut catalog, &req, &mut diffs)
        };
        let rcode = match result {
            Ok(()) => Rcode::NOERROR,
            Err(e) => {
                tracing::info!(
                    "{}: updating zone '{}/IN': update failed: {}",
                    client(&req),
                    req.zone,
                    e
                );
                e.rcode
            }
        };
        answers.push((req, reply, rcode));
    }

    // Append every diff, then wait for every journal's sync.
    let (done_tx, done_rx) = mpsc::channel();
    let mut pending = 0;
    for (zone, list) in &diffs {
        let Some(state) = inner.zones.get(zone) else {
            continue;
        };
        for d in list {
            let tx = done_tx.clone();
            pending += 1;
            state.journal.submit(
                KIND_DIFF,
                encode_diff(d),
                Box::new(move |r| {
                    let _ = tx.send(r.map(drop));
                }),
            );
        }
    }
    drop(done_tx);
    let mut failure = None;
    for _ in 0..pending {
        match done_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failure = Some(e.to_string()),
            Err(_) => failure = Some("journal writer stopped".into()),
        }
    }
    if let Some(why) = failure {
        tracing::error!("cannot write the zone journal, refusing this round of updates: {why}");
        for (req, reply, _) in answers {
            reply(req.response(Rcode::SERVFAIL));
        }
        return;
    }

    // Durable: fold into the overlays, publish, answer.
    for (zone, list) in &diffs {
        if let Some(state) = inner.zones.get_mut(zone) {
            for d in list {
                state.overlay.record(d);
                state.history.push(d.clone());
            }
        }
    }
    let serials: Vec<(Name, u32)> = diffs
        .keys()
        .filter_map(|z| catalog.get(z).map(|e| (z.clone(), e.zone.serial())))
        .collect();
    store.catalog.store(Arc::new(catalog));
    for (req, reply, rcode) in answers {
        reply(req.response(rcode));
    }
    for (zone, serial) in &serials {
        store.changed(zone, *serial);
    }

    // Compact journals that grew past their limit into one checkpoint.
    for zone in diffs.keys() {
        if let Some(state) = inner.zones.get_mut(zone) {
            if state.journal.len() > state.spec.journal_max_size {
                let before = state.journal.len();
                match state
                    .journal
                    .compact(KIND_CHECKPOINT, vec![encode_checkpoint(&state.overlay)])
                {
                    Ok(r) => {
                        tracing::info!(
                            "zone {zone}/IN: journal compacted from {before} to {} bytes",
                            r.bytes_after
                        );
                        // The diffs are gone from disk: IXFR from before
                        // now falls back to AXFR.
                        state.history.clear();
                    }
                    Err(e) => tracing::error!("zone {zone}/IN: journal compaction failed: {e}"),
                }
            }
        }
    }
}

/// Checks permission and applies one update to the working catalog, in
/// place: the round's first update of a zone copies it (the published
/// snapshot shares it), the later ones change that copy.
fn apply_one(
    catalog: &mut Catalog,
    req: &UpdateRequest,
    diffs: &mut HashMap<Name, Vec<Diff>>,
) -> Result<(), tandem_zone::UpdateError> {
    let Some(entry) = catalog.get(&req.zone) else {
        return Err(tandem_zone::UpdateError::new(
            Rcode::NOTAUTH,
            "zone is not served here",
        ));
    };
    let key = req.key_name();
    let policy = &entry.policy;
    let auth: &dyn Authorize = match &policy.update_policy {
        Some(rules) => rules,
        None if policy.allow_update.allows(req.source.addr, key) => &AllowAll,
        None => &DenyAll,
    };
    let plan = plan_update(&entry.zone, &req.message, auth, key)?;
    if !plan.changed() {
        return Ok(());
    }
    log_change(req, &plan.diff);
    if let Some(entry) = catalog.get_mut(&req.zone) {
        plan.apply_to(Arc::make_mut(&mut entry.zone));
    }
    diffs.entry(req.zone.clone()).or_default().push(plan.diff);
    Ok(())
}

/// "client ADDR (key NAME)" for log lines.
fn client(req: &UpdateRequest) -> String {
    match req.key_name() {
        Some(k) => format!("client {} (key {k})", req.source.addr),
        None => format!("client {}", req.source.addr),
    }
}

/// One log line per record changed, in BIND's words.
fn log_change(req: &UpdateRequest, diff: &Diff) {
    let who = client(req);
    for r in &diff.removed {
        tracing::info!(
            "{who}: updating zone '{}/IN': deleting an RR at '{}' {}",
            req.zone,
            r.owner,
            r.rtype
        );
    }
    for r in &diff.added {
        tracing::info!(
            "{who}: updating zone '{}/IN': adding an RR at '{}' {}",
            req.zone,
            r.owner,
            r.rtype
        );
    }
}
