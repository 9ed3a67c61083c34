//! NOTIFY out (RFC 1996): when a zone's serial changes (an update committed,
//! a reload, or a transfer into a secondary zone), tell each `also-notify`
//! address — and with `notify = "yes"` the zone's other name servers —
//! over UDP, signed when the zone has a `notify-key`, retrying with
//! backoff until it answers. A secondary that hears it asks for the SOA and
//! then transfers (IXFR when it has a copy).
//!
//! A newer change to the same zone replaces a NOTIFY still being retried:
//! the secondary only needs to hear about the latest serial.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tandem_dns_wire::rdata::Soa;
use tandem_dns_wire::tsig::{self, Key};
use tandem_dns_wire::{
    Class, Header, Message, MessageWriter, Name, Opcode, Question, Record, Rtype, Section,
};
use tandem_zone::Zone;
use tandem_zonestore::ZoneStore;

/// How long to wait for the answer to each try: five tries in about 30 s.
const WAITS: [Duration; 5] = [
    Duration::from_millis(1000),
    Duration::from_millis(2000),
    Duration::from_millis(4000),
    Duration::from_millis(8000),
    Duration::from_millis(16000),
];

/// The NOTIFY message for `zone` at `serial` (RFC 1996 §3.7: AA set, the
/// question is the zone's SOA; the SOA in the answer section is a hint).
pub fn message(id: u16, zone: &Name, soa: Option<&Record>) -> Vec<u8> {
    let header = Header {
        id,
        opcode: Opcode::NOTIFY,
        aa: true,
        ..Header::default()
    };
    let mut w = MessageWriter::new(header, 512);
    w.push_question(&Question {
        name: zone.clone(),
        qtype: Rtype::SOA,
        qclass: Class::IN,
    });
    if let Some(r) = soa {
        let _ = w.push(Section::Answer, r);
    }
    w.finish()
}

/// True if `bytes` answers the NOTIFY with this ID for `zone` (any RCODE:
/// a secondary that refuses is not helped by hearing it again).
pub fn is_answer(bytes: &[u8], id: u16, zone: &Name) -> bool {
    let Ok(m) = Message::parse(bytes) else {
        return false;
    };
    m.header.id == id
        && m.header.qr
        && m.header.opcode == Opcode::NOTIFY
        && m.questions.first().is_some_and(|q| &q.name == zone)
}

/// A zone's name as BIND writes it in its log lines (no final dot).
fn zone_text(zone: &Name) -> String {
    let t = zone.to_string();
    match t.strip_suffix('.') {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => t,
    }
}

/// Where one zone's NOTIFYs go.
#[derive(Clone, Debug, Default)]
pub struct Targets {
    pub also_notify: Vec<SocketAddr>,
    /// Also the zone's name servers (BIND's `notify yes`).
    pub name_servers: bool,
    /// Addresses never notified: this host's own.
    pub ours: Vec<IpAddr>,
    pub key: Option<Key>,
}

/// The addresses of the zone's name servers as the zone itself gives them
/// (in-zone A/AAAA records), on port 53, except the SOA's primary name
/// server (RFC 1996 §3.10) and `ours`. Name servers outside the zone are
/// not resolved.
pub fn name_server_targets(zone: &Zone, ours: &[IpAddr]) -> Vec<SocketAddr> {
    let apex = zone.origin();
    let mname = zone.soa().map(|s| s.mname);
    let mut out = Vec::new();
    let Some(ns) = zone.rrset(apex, Rtype::NS) else {
        return out;
    };
    let skip: Vec<IpAddr> = mname
        .iter()
        .flat_map(|m| addresses(zone, m))
        .chain(ours.iter().copied())
        .collect();
    for rdata in &ns.rdatas {
        let Ok((host, _)) = tandem_dns_wire::message::read_name(rdata, 0) else {
            continue;
        };
        if Some(&host) == mname.as_ref() {
            continue;
        }
        for ip in addresses(zone, &host) {
            let to = SocketAddr::new(ip, 53);
            if !skip.contains(&ip) && !out.contains(&to) {
                out.push(to);
            }
        }
    }
    out
}

fn addresses(zone: &Zone, host: &Name) -> Vec<IpAddr> {
    let mut out = Vec::new();
    if let Some(set) = zone.rrset(host, Rtype::A) {
        out.extend(set.rdatas.iter().filter_map(|d| {
            <[u8; 4]>::try_from(&d[..])
                .ok()
                .map(|b| IpAddr::from(Ipv4Addr::from(b)))
        }));
    }
    if let Some(set) = zone.rrset(host, Rtype::AAAA) {
        out.extend(set.rdatas.iter().filter_map(|d| {
            <[u8; 16]>::try_from(&d[..])
                .ok()
                .map(|b| IpAddr::from(Ipv6Addr::from(b)))
        }));
    }
    out
}

/// Sends the NOTIFYs; cheap to call from the zone writer's thread.
pub struct Notifier {
    targets: HashMap<Name, Targets>,
    /// Per zone, the number of the latest change, so older tries stop.
    generation: HashMap<Name, Arc<AtomicU64>>,
    runtime: tokio::runtime::Handle,
    store: std::sync::Weak<ZoneStore>,
}

impl Notifier {
    /// Hooks NOTIFY onto `store`'s changes; zones that notify nobody are
    /// left alone. Must run inside the tokio runtime.
    pub fn install(store: &Arc<ZoneStore>, targets: HashMap<Name, Targets>) {
        let targets: HashMap<Name, Targets> = targets
            .into_iter()
            .filter(|(_, t)| !t.also_notify.is_empty() || t.name_servers)
            .collect();
        if targets.is_empty() {
            return;
        }
        let n = Arc::new(Notifier {
            generation: targets
                .keys()
                .map(|z| (z.clone(), Arc::new(AtomicU64::new(0))))
                .collect(),
            targets,
            runtime: tokio::runtime::Handle::current(),
            store: Arc::downgrade(store),
        });
        store.set_on_change(Box::new(move |zone, serial| n.changed(zone, serial)));
    }

    fn changed(&self, zone: &Name, serial: u32) {
        let (Some(targets), Some(generation)) = (self.targets.get(zone), self.generation.get(zone))
        else {
            return;
        };
        let Some(store) = self.store.upgrade() else {
            return;
        };
        let catalog = store.snapshot();
        let served = catalog.get(zone).map(|e| e.zone.clone());
        let mut to = targets.also_notify.clone();
        if targets.name_servers {
            if let Some(z) = &served {
                for t in name_server_targets(z, &targets.ours) {
                    if !to.contains(&t) {
                        to.push(t);
                    }
                }
            }
        }
        if to.is_empty() {
            return;
        }
        let mine = generation.fetch_add(1, Ordering::SeqCst) + 1;
        tracing::info!(
            "zone {}/IN: sending notifies (serial {serial})",
            zone_text(zone)
        );
        let soa = served.and_then(|z| {
            // The snapshot may already be newer; the hint names this serial.
            let mut r = z.soa_record()?;
            let mut s = Soa::parse(&r.rdata).ok()?;
            s.serial = serial;
            r.rdata = s.to_rdata();
            Some(r)
        });
        for to in to {
            let zone = zone.clone();
            let soa = soa.clone();
            let generation = generation.clone();
            let key = targets.key.clone();
            self.runtime.spawn(async move {
                notify_one(&zone, serial, soa.as_ref(), key.as_ref(), to, || {
                    generation.load(Ordering::SeqCst) != mine
                })
                .await;
            });
        }
    }
}

/// Sends one NOTIFY to `to` until it is answered, the tries run out, or
/// `superseded` says a newer change took over.
async fn notify_one(
    zone: &Name,
    serial: u32,
    soa: Option<&Record>,
    key: Option<&Key>,
    to: SocketAddr,
    superseded: impl Fn() -> bool,
) {
    // Loopback targets are told from loopback, so a secondary that checks
    // the source against its primary's address (BIND does) accepts it.
    let local: IpAddr = match (to.ip(), to.ip().is_loopback()) {
        (IpAddr::V4(_), true) => Ipv4Addr::LOCALHOST.into(),
        (IpAddr::V4(_), false) => Ipv4Addr::UNSPECIFIED.into(),
        (IpAddr::V6(_), true) => Ipv6Addr::LOCALHOST.into(),
        (IpAddr::V6(_), false) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let sock = match tokio::net::UdpSocket::bind(SocketAddr::new(local, 0)).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("zone {}/IN: notify to {to} failed: {e}", zone_text(zone));
            return;
        }
    };
    let id: u16 = rand::random();
    let msg = message(id, zone, soa);
    let mut buf = vec![0u8; 4096];
    for wait in WAITS {
        if superseded() {
            return;
        }
        // Signed afresh for every try: the time must be current.
        let mut msg = msg.clone();
        if let Some(k) = key {
            if let Err(e) = tsig::sign_request(&mut msg, k, crate::unix_now(), tsig::DEFAULT_FUDGE)
            {
                tracing::warn!("zone {}/IN: cannot sign the notify: {e}", zone_text(zone));
                return;
            }
        }
        if let Err(e) = sock.send_to(&msg, to).await {
            tracing::debug!("zone {}/IN: notify to {to}: {e}", zone_text(zone));
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, sock.recv_from(&mut buf)).await {
                Ok(Ok((n, from))) if from == to && is_answer(&buf[..n], id, zone) => {
                    tracing::debug!(
                        "zone {}/IN: notify to {to} answered (serial {serial})",
                        zone_text(zone)
                    );
                    return;
                }
                // Someone else's datagram, or an ICMP error: keep waiting.
                Ok(_) => continue,
                Err(_) => break,
            }
        }
    }
    tracing::warn!(
        "zone {}/IN: notify to {to} failed: timed out (serial {serial})",
        zone_text(zone)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_servers_are_notified_except_the_primary_and_ourselves() {
        let origin: Name = "home.".parse().unwrap();
        let text = "$TTL 300\n@ SOA ns1 h 1 60 30 600 5\n@ NS ns1\n@ NS ns2\n@ NS ns3\n@ NS ns.elsewhere.\n\
                    ns1 A 192.0.2.254\nns2 A 192.0.2.253\nns2 AAAA 2001:db8::253\nns3 A 192.0.2.252\n";
        let zone = tandem_zone::file::zone_from_str(&origin, text).unwrap();
        let ours: Vec<IpAddr> = vec!["192.0.2.252".parse().unwrap()];
        let got: Vec<String> = name_server_targets(&zone, &ours)
            .iter()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(got, vec!["192.0.2.253:53", "[2001:db8::253]:53"]);
    }

    #[test]
    fn notify_message_and_its_answer() {
        let zone: Name = "home.".parse().unwrap();
        let bytes = message(77, &zone, None);
        let m = Message::parse(&bytes).unwrap();
        assert_eq!(m.header.opcode, Opcode::NOTIFY);
        assert!(m.header.aa && !m.header.qr);
        assert_eq!(m.questions[0].qtype, Rtype::SOA);
        // An answer is the same header with QR set.
        let mut answer = bytes.clone();
        answer[2] |= 0x80;
        assert!(is_answer(&answer, 77, &zone));
        assert!(!is_answer(&answer, 78, &zone));
        assert!(!is_answer(&bytes, 77, &zone));
        assert!(!is_answer(&answer, 77, &"other.".parse().unwrap()));
    }

    #[tokio::test]
    async fn retries_until_answered() {
        let secondary = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let to = secondary.local_addr().unwrap();
        let zone: Name = "home.".parse().unwrap();
        let z = zone.clone();
        let task = tokio::spawn(async move { notify_one(&z, 5, None, None, to, || false).await });
        let mut buf = [0u8; 512];
        // Ignore the first try; answer the second.
        let (n1, _) = secondary.recv_from(&mut buf).await.unwrap();
        let first = buf[..n1].to_vec();
        let (n2, from) = secondary.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n2], &first[..], "the retry is the same message");
        let mut answer = buf[..n2].to_vec();
        answer[2] |= 0x80;
        secondary.send_to(&answer, from).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("stops once answered")
            .unwrap();
    }
}
