//! Secondary zones: keeping the copy fresh from the primaries (refresh
//! schedule, NOTIFY, IXFR/AXFR in) and forwarding the updates this node
//! receives for them (`forward`, with its durable outbox).
//!
//! The decisions live in pure cores: `tandem_dns::secondary` (when to
//! transfer, when to expire), `tandem_dns::xfrin` (what a transfer stream
//! means), `tandem_dns::outbox` (the queue's records). This module owns
//! the tasks, sockets and files around them.

mod forward;
mod refresh;
mod stream;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tandem_config::{Config, ZoneRole};
use tandem_dns::{ForwardedUpdate, NotifyRequest};
use tandem_dns_wire::tsig::Key;
use tandem_dns_wire::Name;
use tandem_zonestore::ZoneStore;

use crate::Reply;

struct ZoneHandle {
    forwarder: forward::ZoneForwarder,
    refresh: refresh::ZoneRefresh,
}

/// Every secondary zone's tasks.
pub struct Secondaries {
    zones: HashMap<Name, ZoneHandle>,
}

impl Secondaries {
    /// Starts the refresh and forwarding tasks of every secondary zone in
    /// `config`; `None` if there is none. Must run inside a tokio runtime.
    pub fn start(
        config: &Config,
        keys: &[Key],
        store: &Arc<ZoneStore>,
    ) -> anyhow::Result<Option<Arc<Secondaries>>> {
        let mut zones = HashMap::new();
        for z in &config.zones {
            let ZoneRole::Secondary(sec) = &z.role else {
                continue;
            };
            let state_dir: &Path = &config.server.state_dir;
            let forwarder = forward::start(forward::Setup {
                zone: z.name.clone(),
                primaries: sec.primaries.clone(),
                source: sec.transfer_source,
                keys: keys.to_vec(),
                store: store.clone(),
                state_dir,
            })?;
            let key = sec
                .transfer_key
                .as_ref()
                .and_then(|n| keys.iter().find(|k| &k.name == n).cloned());
            let refresh = refresh::start(refresh::Setup {
                zone: z.name.clone(),
                primaries: sec.primaries.clone(),
                source: sec.transfer_source,
                key,
                store: store.clone(),
                forwarder: forwarder.tx.clone(),
            });
            zones.insert(z.name.clone(), ZoneHandle { forwarder, refresh });
        }
        if zones.is_empty() {
            return Ok(None);
        }
        Ok(Some(Arc::new(Secondaries { zones })))
    }

    /// A NOTIFY the core accepted: answer it and look for a new version.
    pub fn notify(&self, req: &NotifyRequest) {
        tracing::info!(
            "client {}: received notify for zone {}{}",
            req.source.addr,
            req.zone,
            req.serial
                .map(|s| format!(" (serial {s})"))
                .unwrap_or_default()
        );
        if let Some(z) = self.zones.get(&req.zone) {
            z.refresh.notify(req.serial);
            let _ = z.forwarder.tx.send(forward::Job::PrimaryBack);
        }
    }

    /// An update for a secondary zone: to the primary, or into the outbox.
    pub fn forward(&self, u: ForwardedUpdate, reply: Reply) {
        match self.zones.get(&u.zone) {
            Some(z) => {
                if let Err(tokio::sync::mpsc::error::SendError(forward::Job::Update(u, reply))) = z
                    .forwarder
                    .tx
                    .send(forward::Job::Update(Box::new(u), reply))
                {
                    reply(u.response(tandem_dns_wire::Rcode::SERVFAIL));
                }
            }
            None => reply(u.response(tandem_dns_wire::Rcode::SERVFAIL)),
        }
    }

    /// Lines for `tandem status`, and warnings for the operator.
    pub fn status(&self, store: &ZoneStore) -> (Vec<String>, Vec<String>) {
        let mut lines = Vec::new();
        let mut warnings = Vec::new();
        let mut names: Vec<_> = self.zones.keys().collect();
        names.sort();
        for name in names {
            let z = &self.zones[name];
            let serial = store
                .secondary_copy(name)
                .map(|(s, _, _)| s.to_string())
                .unwrap_or_else(|| "none (no copy)".into());
            let waiting = z.forwarder.waiting.load(Ordering::Relaxed);
            let refresh = z.refresh.describe();
            lines.push(format!(
                "secondary zone {name}: serial {serial}; {refresh}; {waiting} forwarded update(s) waiting for the primary"
            ));
            if refresh.contains("EXPIRED") {
                warnings.push(format!("zone {name}: expired, answering SERVFAIL"));
            } else if refresh.contains("failed") {
                warnings.push(format!("zone {name}: the primary does not answer"));
            }
            if waiting > 0 {
                warnings.push(format!(
                    "zone {name}: {waiting} update(s) kept for the primary, which has not taken them yet"
                ));
            }
        }
        (lines, warnings)
    }
}
