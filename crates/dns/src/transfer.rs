//! Outgoing zone transfers: AXFR (RFC 5936) and IXFR (RFC 1995).
//!
//! IXFR is answered from the history of committed diffs the zone store
//! keeps (the journal's diffs since its last checkpoint). When the client's
//! serial is not the start of an unbroken chain of diffs ending at the
//! served serial (older than the history, after a reload or compaction, or
//! unknown), the answer is the whole zone in AXFR form, which RFC 1995 §4
//! allows. A client already at the served serial gets the single SOA. The
//! chain is sent condensed into its net change (RFC 1995 §5).

use std::collections::BTreeMap;

use tandem_dns_wire::rdata::{canonical, Soa};
use tandem_dns_wire::{MessageWriter, Name, Rcode, Record, Rtype, Section};
use tandem_zone::{serial, Diff};

use crate::catalog::Catalog;
use crate::query::{error_reply, TransferRequest};

/// Largest transfer message; well under the 65535 TCP limit so a TSIG
/// record always fits after it.
const MESSAGE_LIMIT: usize = 16 * 1024;

/// The response stream for a transfer request, as whole messages, each
/// signed if the request was (RFC 8945 §5.3.1). `history` is the zone's
/// committed diffs, oldest first (may be empty, or not reach the snapshot).
pub fn respond(
    catalog: &Catalog,
    req: &TransferRequest,
    history: &[Diff],
    now: u64,
) -> Vec<Vec<u8>> {
    let mut out = unsigned(catalog, req, history);
    if let Some(ctx) = &req.tsig {
        let mut signer = ctx.sequence_signer();
        for m in &mut out {
            let _ = signer.sign(m, now);
        }
    }
    out
}

/// The serial in an IXFR request's authority SOA (RFC 1995 §3).
pub fn ixfr_serial(req: &TransferRequest) -> Option<u32> {
    let msg = &req.message;
    if msg.questions.first()?.qtype != Rtype::IXFR {
        return None;
    }
    let r = msg.authority.iter().find(|r| r.rtype == Rtype::SOA)?;
    Soa::parse(&r.rdata).ok().map(|s| s.serial)
}

/// The diffs that lead from `from` to `to`, if the history holds an
/// unbroken chain between them.
pub fn chain(history: &[Diff], from: u32, to: u32) -> Option<&[Diff]> {
    let start = history.iter().position(|d| d.from_serial == from)?;
    let mut at = from;
    for (i, d) in history[start..].iter().enumerate() {
        if d.from_serial != at {
            return None;
        }
        at = d.to_serial;
        if at == to {
            return Some(&history[start..=start + i]);
        }
    }
    None
}

/// The served SOA record with its serial replaced.
fn soa_with_serial(soa: &Record, serial: u32) -> Record {
    let mut r = soa.clone();
    if let Ok(mut s) = Soa::parse(&soa.rdata) {
        s.serial = serial;
        r.rdata = s.to_rdata();
    }
    r
}

fn unsigned(catalog: &Catalog, req: &TransferRequest, history: &[Diff]) -> Vec<Vec<u8>> {
    let key = req.tsig.as_ref().map(|c| &c.key().name);
    let msg = &req.message;
    let q = &msg.questions[0];
    let Some(entry) = catalog.get(&req.zone) else {
        return vec![error_reply(&msg.header, Some(q), None, Rcode::NOTAUTH)];
    };
    if !entry.policy.allow_transfer.allows(req.source.addr, key) {
        tracing::info!(
            "client {}: zone {}: zone transfer denied",
            req.source.addr,
            req.zone
        );
        return vec![error_reply(&msg.header, Some(q), None, Rcode::REFUSED)];
    }
    let zone = &entry.zone;
    let Some(soa) = zone.soa_record() else {
        return vec![error_reply(&msg.header, Some(q), None, Rcode::SERVFAIL)];
    };
    let current = zone.serial();
    let mut kind = "AXFR";
    let records: Vec<Record> = match ixfr_serial(req) {
        Some(s) if s == current || serial::is_newer(s, current) => {
            // Up to date (or ahead): the current SOA alone (RFC 1995 §2).
            kind = "IXFR";
            vec![soa.clone()]
        }
        Some(s) => match chain(history, s, current) {
            Some(diffs) => {
                kind = "IXFR";
                incremental(&soa, diffs)
            }
            None => {
                tracing::info!(
                    "client {}: transfer of '{}/IN': IXFR from serial {s}: not in the history, answering with the whole zone",
                    req.source.addr,
                    req.zone
                );
                zone.records().chain(std::iter::once(soa.clone())).collect()
            }
        },
        // `records()` yields the SOA first; the stream also ends with it.
        None => zone.records().chain(std::iter::once(soa.clone())).collect(),
    };
    let mut header = msg.header;
    header.qr = true;
    header.aa = true;
    header.rcode = Rcode::NOERROR;
    let mut out = Vec::new();
    let mut w = MessageWriter::new(header, MESSAGE_LIMIT);
    w.push_question(q);
    for r in &records {
        if w.push(Section::Answer, r).is_err() {
            out.push(std::mem::replace(&mut w, MessageWriter::new(header, MESSAGE_LIMIT)).finish());
            if w.push(Section::Answer, r).is_err() {
                // A single record larger than a message cannot be sent.
                return vec![error_reply(&msg.header, Some(q), None, Rcode::SERVFAIL)];
            }
        }
    }
    out.push(w.finish());
    tracing::info!(
        "client {}: transfer of '{}/IN': {kind} ended: {} messages, serial {}",
        req.source.addr,
        req.zone,
        out.len(),
        current
    );
    out
}

/// A record's exact identity for condensing: owner (lower case), type,
/// canonical rdata and TTL, so a TTL change stays a removal and an addition.
type Key = (Name, u16, Vec<u8>, u32);

fn key(r: &Record) -> Key {
    (
        r.owner.to_lowercase(),
        r.rtype.to_int(),
        canonical(r.rtype, &r.rdata),
        r.ttl,
    )
}

/// The net effect of a chain of diffs as one diff (RFC 1995 §5): a record
/// added then removed within the chain is not sent at all, nor one removed
/// then added back.
pub fn condense(diffs: &[Diff]) -> Diff {
    let mut removed: BTreeMap<Key, Record> = BTreeMap::new();
    let mut added: BTreeMap<Key, Record> = BTreeMap::new();
    for d in diffs {
        for r in &d.removed {
            let k = key(r);
            if added.remove(&k).is_none() {
                removed.insert(k, r.clone());
            }
        }
        for r in &d.added {
            let k = key(r);
            if removed.remove(&k).is_none() {
                added.insert(k, r.clone());
            }
        }
    }
    Diff {
        from_serial: diffs.first().map_or(0, |d| d.from_serial),
        to_serial: diffs.last().map_or(0, |d| d.to_serial),
        removed: removed.into_values().collect(),
        added: added.into_values().collect(),
    }
}

/// RFC 1995 §4's incremental form, with the chain condensed into one
/// change: the new SOA, the old SOA, the records removed, the new SOA, the
/// records added, then the new SOA again.
fn incremental(soa: &Record, diffs: &[Diff]) -> Vec<Record> {
    let d = condense(diffs);
    let mut out = vec![soa.clone()];
    out.push(soa_with_serial(soa, d.from_serial));
    out.extend(d.removed);
    out.push(soa_with_serial(soa, d.to_serial));
    out.extend(d.added);
    out.push(soa.clone());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::{handle, Settings, Source, Transport};
    use crate::{Acl, Outcome, ZoneEntry, ZonePolicy};
    use std::sync::Arc;
    use tandem_dns_wire::{Class, Header, Message, Name, Question};

    fn origin() -> Name {
        "home.".parse().unwrap()
    }

    fn a(owner: &str, last: u8) -> Record {
        Record::new(
            owner.parse().unwrap(),
            Rtype::A,
            Class::IN,
            300,
            vec![192, 0, 2, last],
        )
    }

    /// The zone at serial 3 after two updates: 1→2 added a, 2→3 replaced
    /// a's address and added b.
    fn setup(allow: Acl) -> (Catalog, Vec<Diff>) {
        let text = "$TTL 300\n@ SOA ns h 3 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n\
                    a A 192.0.2.20\nb A 192.0.2.30\n";
        let zone = tandem_zone::file::zone_from_str(&origin(), text).unwrap();
        let policy = ZonePolicy {
            allow_transfer: allow,
            ..ZonePolicy::default()
        };
        let mut c = Catalog::new();
        c.insert(ZoneEntry {
            zone: Arc::new(zone),
            policy: Arc::new(policy),
        });
        let history = vec![
            Diff {
                from_serial: 1,
                to_serial: 2,
                removed: vec![],
                added: vec![a("a.home.", 10)],
            },
            Diff {
                from_serial: 2,
                to_serial: 3,
                removed: vec![a("a.home.", 10)],
                added: vec![a("a.home.", 20), a("b.home.", 30)],
            },
        ];
        (c, history)
    }

    fn request(qtype: Rtype, serial: Option<u32>) -> Vec<u8> {
        let header = Header {
            id: 7,
            ..Header::default()
        };
        let mut w = MessageWriter::new(header, 512);
        w.push_question(&Question {
            name: origin(),
            qtype,
            qclass: Class::IN,
        });
        if let Some(s) = serial {
            let soa = Soa {
                mname: "ns.home.".parse().unwrap(),
                rname: "h.home.".parse().unwrap(),
                serial: s,
                refresh: 2,
                retry: 3,
                expire: 4,
                minimum: 5,
            };
            let r = Record::new(origin(), Rtype::SOA, Class::IN, 300, soa.to_rdata());
            w.push(Section::Authority, &r).unwrap();
        }
        w.finish()
    }

    /// The answer records of the whole stream, as (type, serial or last
    /// address byte).
    fn run(catalog: &Catalog, history: &[Diff], bytes: &[u8]) -> (Rcode, Vec<(Rtype, u32)>) {
        let source = Source {
            addr: "127.0.0.1".parse().unwrap(),
            transport: Transport::Tcp,
        };
        let Outcome::Transfer(req) = handle(catalog, &Settings::default(), bytes, source, 0) else {
            panic!("not a transfer");
        };
        let mut rcode = Rcode::NOERROR;
        let mut out = Vec::new();
        for m in respond(catalog, &req, history, 0) {
            let m = Message::parse(&m).unwrap();
            rcode = m.header.rcode;
            for r in &m.answers {
                let v = match r.rtype {
                    Rtype::SOA => Soa::parse(&r.rdata).unwrap().serial,
                    Rtype::A => r.rdata[3] as u32,
                    _ => 0,
                };
                out.push((r.rtype, v));
            }
        }
        (rcode, out)
    }

    #[test]
    fn ixfr_sends_the_condensed_change_between_soas() {
        let (c, h) = setup(Acl::any());
        let (rcode, got) = run(&c, &h, &request(Rtype::IXFR, Some(1)));
        assert_eq!(rcode, Rcode::NOERROR);
        use Rtype as T;
        // a's first address came and went inside the chain: not sent.
        let want = vec![
            (T::SOA, 3),
            (T::SOA, 1),
            (T::SOA, 3),
            (T::A, 20),
            (T::A, 30),
            (T::SOA, 3),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn condensing_keeps_ttl_changes_and_cancels_round_trips() {
        let mut long = a("a.home.", 1);
        long.ttl = 600;
        let d = |from, to, removed, added| Diff {
            from_serial: from,
            to_serial: to,
            removed,
            added,
        };
        let chain = vec![
            // A file record removed, then added back: no change.
            d(1, 2, vec![a("f.home.", 5)], vec![]),
            d(2, 3, vec![], vec![a("f.home.", 5)]),
            // A TTL change: the old one removed, the new one added.
            d(3, 4, vec![a("a.home.", 1)], vec![long.clone()]),
        ];
        let net = condense(&chain);
        assert_eq!((net.from_serial, net.to_serial), (1, 4));
        assert_eq!(net.removed, vec![a("a.home.", 1)]);
        assert_eq!(net.added, vec![long]);
    }

    #[test]
    fn ixfr_from_the_middle_of_the_history() {
        let (c, h) = setup(Acl::any());
        let (_, got) = run(&c, &h, &request(Rtype::IXFR, Some(2)));
        assert_eq!(got.len(), 7);
        assert_eq!(got[1], (Rtype::SOA, 2));
    }

    #[test]
    fn ixfr_up_to_date_is_one_soa() {
        let (c, h) = setup(Acl::any());
        let (_, got) = run(&c, &h, &request(Rtype::IXFR, Some(3)));
        assert_eq!(got, vec![(Rtype::SOA, 3)]);
    }

    #[test]
    fn ixfr_older_than_history_is_the_whole_zone() {
        let (c, h) = setup(Acl::any());
        let (_, got) = run(&c, &h, &request(Rtype::IXFR, Some(0)));
        let (_, axfr) = run(&c, &h, &request(Rtype::AXFR, None));
        assert_eq!(got, axfr);
        assert_eq!(got.first(), Some(&(Rtype::SOA, 3)));
        assert_eq!(got.last(), Some(&(Rtype::SOA, 3)));
        // NS, ns A, a A, b A between the SOAs.
        assert_eq!(got.len(), 6);
        // And a history that stops short of the served serial is no chain.
        let (_, short) = run(&c, &h[..1], &request(Rtype::IXFR, Some(1)));
        assert_eq!(short, axfr);
    }

    #[test]
    fn ixfr_needs_allow_transfer() {
        let (c, h) = setup(Acl::none());
        let (rcode, got) = run(&c, &h, &request(Rtype::IXFR, Some(1)));
        assert_eq!(rcode, Rcode::REFUSED);
        assert!(got.is_empty());
    }

    #[test]
    fn chain_rejects_gaps() {
        let mut h = setup(Acl::any()).1;
        h[1].from_serial = 5;
        assert!(chain(&h, 1, 3).is_none());
        assert!(chain(&h, 1, 2).is_some());
    }
}
