//! Incoming zone transfers, for secondary zones: the request a secondary
//! sends its primary and what the primary's answer stream means.
//!
//! [`request`] builds the AXFR (RFC 5936) or IXFR (RFC 1995) query, signed
//! with TSIG when a key is given, and the [`Receiver`] for its answer. The
//! receiver takes the answer one DNS message at a time (the shell strips
//! the TCP length prefix) and says when the stream is complete and what it
//! brought, as a [`Transfer`]. This module owns every check a secondary
//! makes on a primary's answer (IDs, RCODEs, question, zone membership,
//! serial chaining, TSIG on every message, size caps); it does no I/O and
//! applies nothing: the zone store turns a [`Transfer`] into a new zone.
//! The outgoing side, what tandem sends as a primary, is
//! [`crate::transfer`].

use std::fmt;

use tandem_dns_wire::rdata::Soa;
use tandem_dns_wire::tsig::{self, Key, SequenceVerifier, TsigError, TsigRdata, VerifyError};
use tandem_dns_wire::{
    Class, Header, Message, MessageWriter, Name, Opcode, Question, Rcode, Record, Rtype, Section,
    WireError,
};
use tandem_zone::{serial, Diff};
/// What one transfer from the primary brought.
#[derive(Clone, Debug)]
pub enum Transfer {
    /// The primary has nothing newer than our `serial`.
    UpToDate { serial: u32 },
    /// The whole zone (AXFR, or IXFR answered in AXFR form): every record,
    /// the SOA first.
    Full { records: Vec<Record> },
    /// The changes from our serial to the primary's, oldest first.
    Incremental { diffs: Vec<Diff> },
}

/// Which transfer to ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The whole zone (RFC 5936).
    Axfr,
    /// The changes since our serial (RFC 1995); the primary may still send
    /// the whole zone.
    Ixfr,
}

/// Caps on what one transfer may bring, against a hostile or broken
/// primary that never ends its stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most answer records in the whole stream (SOAs included).
    pub max_records: u64,
    /// Most bytes in the whole stream (messages without length prefixes).
    pub max_bytes: u64,
}

impl Default for Limits {
    /// Generous: 10 million records and 4 GiB, far beyond a home network's
    /// zones, yet bounded.
    fn default() -> Self {
        Limits {
            max_records: 10_000_000,
            max_bytes: 4 << 30,
        }
    }
}

/// A transfer request ready to send, and the receiver for its answer.
#[derive(Debug)]
pub struct Request {
    /// The query message, without the TCP length prefix.
    pub bytes: Vec<u8>,
    pub receiver: Receiver,
}

/// Why a transfer request could not be built, or its answer was rejected.
/// Messages are numbered from 1 in the order received.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum XfrError {
    #[error("our SOA record for zone {zone} is not a valid SOA of that zone")]
    CurrentSoa { zone: Name },
    #[error("cannot build the transfer request: {0}")]
    Build(String),
    #[error("cannot sign the transfer request: {0}")]
    Sign(TsigError),
    #[error("message {message} of the answer is malformed: {source}")]
    Malformed { message: usize, source: WireError },
    #[error("message {message} has ID {found}, expected {expected}")]
    WrongId {
        message: usize,
        found: u16,
        expected: u16,
    },
    #[error("message {message} is not a response (QR clear)")]
    NotResponse { message: usize },
    #[error("message {message} has opcode {opcode}, not QUERY")]
    Opcode { message: usize, opcode: Opcode },
    #[error("primary answered {rcode}{}", tsig_note(*.tsig_error))]
    Rcode {
        rcode: Rcode,
        /// The TSIG error code in the answer, if any (not verified: BADKEY
        /// and BADSIG answers cannot be signed).
        tsig_error: Option<u16>,
    },
    #[error("message {message} is truncated (TC set); the transfer needs TCP")]
    Truncated { message: usize },
    #[error("message {message} has question {found}, expected {expected}")]
    Question {
        message: usize,
        found: String,
        expected: String,
    },
    #[error("the answer begins with {found}, not the SOA of zone {zone}")]
    FirstNotSoa { found: String, zone: Name },
    #[error("record {owner} outside zone {zone}")]
    OutOfZone { owner: Name, zone: Name },
    #[error("record {owner} has class {class}, not IN")]
    WrongClass { owner: Name, class: Class },
    #[error("SOA record at {owner} is malformed or not at the apex of zone {zone}")]
    BadSoa { owner: Name, zone: Name },
    #[error("IXFR difference sequence starts at serial {found}, expected {expected}")]
    BrokenChain { found: u32, expected: u32 },
    #[error("the transfer began with serial {first} but ended with serial {last}")]
    SerialChanged { first: u32, last: u32 },
    #[error("message {message} has records after the transfer's final SOA")]
    TrailingRecords { message: usize },
    #[error("message {message} arrived after the transfer was complete")]
    AfterEnd { message: usize },
    #[error("bad TSIG on message {message}: {source}")]
    Tsig { message: usize, source: VerifyError },
    #[error("the primary sent more than {limit} records; giving up (is the transfer record limit too low?)")]
    TooManyRecords { limit: u64 },
    #[error(
        "the primary sent more than {limit} bytes; giving up (is the transfer size limit too low?)"
    )]
    TooManyBytes { limit: u64 },
}

fn tsig_note(code: Option<u16>) -> String {
    let name = match code {
        None => return String::new(),
        Some(tsig::BADSIG) => "BADSIG".to_string(),
        Some(tsig::BADKEY) => "BADKEY".to_string(),
        Some(tsig::BADTIME) => "BADTIME".to_string(),
        Some(tsig::BADTRUNC) => "BADTRUNC".to_string(),
        Some(c) => c.to_string(),
    };
    format!(" (TSIG error {name})")
}

/// Builds the transfer request for `zone` with the default [`Limits`].
///
/// An IXFR request carries `current_soa` in its authority section (RFC
/// 1995 §3); without one there is nothing to be incremental from, so it
/// degrades to AXFR. With `key` the request is TSIG-signed and every
/// message of the answer must verify.
pub fn request(
    zone: &Name,
    kind: Kind,
    current_soa: Option<&Record>,
    id: u16,
    key: Option<&Key>,
    now: u64,
) -> Result<Request, XfrError> {
    request_with(zone, kind, current_soa, id, key, now, Limits::default())
}

/// [`request`] with explicit caps on the answer.
pub fn request_with(
    zone: &Name,
    kind: Kind,
    current_soa: Option<&Record>,
    id: u16,
    key: Option<&Key>,
    now: u64,
    limits: Limits,
) -> Result<Request, XfrError> {
    let ours = match (kind, current_soa) {
        (Kind::Ixfr, Some(r)) => {
            let soa = (r.rtype == Rtype::SOA && r.owner == *zone)
                .then(|| Soa::parse(&r.rdata).ok())
                .flatten()
                .ok_or_else(|| XfrError::CurrentSoa { zone: zone.clone() })?;
            Some((r, soa.serial))
        }
        _ => None,
    };
    let qtype = if ours.is_some() {
        Rtype::IXFR
    } else {
        Rtype::AXFR
    };
    let header = Header {
        id,
        opcode: Opcode::QUERY,
        ..Header::default()
    };
    let mut w = MessageWriter::new(header, u16::MAX as usize);
    w.push_question(&Question {
        name: zone.clone(),
        qtype,
        qclass: Class::IN,
    });
    if let Some((r, _)) = ours {
        w.push(Section::Authority, r)
            .map_err(|_| XfrError::Build("our SOA record does not fit a message".into()))?;
    }
    let mut bytes = w.finish();
    let verifier = match key {
        Some(k) => Some(
            tsig::sign_request(&mut bytes, k, now, tsig::DEFAULT_FUDGE)
                .map_err(XfrError::Sign)?
                .sequence_verifier(),
        ),
        None => None,
    };
    let receiver = Receiver {
        zone: zone.clone(),
        qtype,
        id,
        ours: ours.map(|(_, s)| s),
        verifier,
        limits,
        messages: 0,
        records: 0,
        bytes: 0,
        state: State::Start,
    };
    Ok(Request { bytes, receiver })
}

/// Takes a transfer's answer stream one message at a time.
#[derive(Debug)]
pub struct Receiver {
    zone: Name,
    /// What the request asked for (AXFR when an IXFR degraded).
    qtype: Rtype,
    id: u16,
    /// Our serial, for IXFR.
    ours: Option<u32>,
    verifier: Option<SequenceVerifier>,
    limits: Limits,
    messages: usize,
    records: u64,
    bytes: u64,
    state: State,
}

#[derive(Debug)]
enum State {
    /// No record yet.
    Start,
    /// Only the first SOA so far: the form is not known yet.
    First { soa: Record, serial: u32 },
    /// AXFR form: every record so far, the SOA first.
    Full { serial: u32, records: Vec<Record> },
    /// IXFR form. `last` is the primary's serial, `at` where the chain of
    /// completed sequences has reached.
    Incremental {
        last: u32,
        at: u32,
        diffs: Vec<Diff>,
        phase: Phase,
    },
    /// The final SOA was seen; the transfer is handed out at the end of
    /// the message, after its TSIG check.
    Ended(Transfer),
    /// The transfer was handed out.
    Finished,
}

#[derive(Debug)]
enum Phase {
    /// Between the old SOA and the new SOA of a sequence.
    Removed(Diff),
    /// Between the new SOA and the next sequence's old SOA (or the end).
    Added(Diff),
}

impl Receiver {
    /// The zone being transferred.
    pub fn zone(&self) -> &Name {
        &self.zone
    }

    /// What was asked for: [`Kind::Axfr`] also when an IXFR request
    /// degraded for lack of a current SOA.
    pub fn kind(&self) -> Kind {
        if self.qtype == Rtype::IXFR {
            Kind::Ixfr
        } else {
            Kind::Axfr
        }
    }

    /// Messages, answer records and bytes received so far, for logs.
    pub fn stats(&self) -> (usize, u64, u64) {
        (self.messages, self.records, self.bytes)
    }

    /// Takes the next message of the answer (without the TCP length
    /// prefix). Returns the transfer once the stream is complete; any
    /// error ends the transfer (the shell closes the connection).
    ///
    /// Over UDP, an IXFR answer of a lone SOA newer than ours means "use
    /// TCP" (RFC 1995 §2); this returns `None` for it and the shell retries.
    pub fn feed(&mut self, msg: &[u8], now: u64) -> Result<Option<Transfer>, XfrError> {
        self.messages += 1;
        let n = self.messages;
        if matches!(self.state, State::Finished | State::Ended(_)) {
            return Err(XfrError::AfterEnd { message: n });
        }
        self.bytes += msg.len() as u64;
        if self.bytes > self.limits.max_bytes {
            return Err(XfrError::TooManyBytes {
                limit: self.limits.max_bytes,
            });
        }
        let parsed =
            Message::parse(msg).map_err(|source| XfrError::Malformed { message: n, source })?;
        self.check_header(n, &parsed)?;
        if let Some(v) = &mut self.verifier {
            v.verify_parsed(msg, &parsed, now)
                .map_err(|source| XfrError::Tsig { message: n, source })?;
        }
        // An unsigned request with a signed answer: we hold no key to check
        // it with, and the answer is no less trustworthy than unsigned.
        self.records += parsed.answers.len() as u64;
        if self.records > self.limits.max_records {
            return Err(XfrError::TooManyRecords {
                limit: self.limits.max_records,
            });
        }
        for r in parsed.answers {
            if matches!(self.state, State::Ended(_)) {
                return Err(XfrError::TrailingRecords { message: n });
            }
            self.record(r)?;
        }
        // A lone SOA not newer than ours: nothing to transfer (RFC 1995 §2).
        // A newer one may be the start of a longer stream; wait for more.
        if let (State::First { serial, .. }, Some(ours)) = (&self.state, self.ours) {
            if !serial::is_newer(*serial, ours) {
                self.state = State::Ended(Transfer::UpToDate { serial: *serial });
            }
        }
        if !matches!(self.state, State::Ended(_)) {
            return Ok(None);
        }
        if let Some(v) = &self.verifier {
            v.finish()
                .map_err(|source| XfrError::Tsig { message: n, source })?;
        }
        match std::mem::replace(&mut self.state, State::Finished) {
            State::Ended(t) => Ok(Some(t)),
            _ => unreachable!("checked above"),
        }
    }

    fn check_header(&self, n: usize, m: &Message) -> Result<(), XfrError> {
        // The ID first: a message with another ID is not an answer to us,
        // whatever else it says.
        if m.header.id != self.id {
            return Err(XfrError::WrongId {
                message: n,
                found: m.header.id,
                expected: self.id,
            });
        }
        if !m.header.qr {
            return Err(XfrError::NotResponse { message: n });
        }
        if m.header.opcode != Opcode::QUERY {
            return Err(XfrError::Opcode {
                message: n,
                opcode: m.header.opcode,
            });
        }
        // Before the TSIG check, so a refusal is reported as what it is
        // even when the primary could not sign it (BADKEY).
        if m.header.rcode != Rcode::NOERROR {
            let tsig_error = m
                .tsig
                .as_ref()
                .and_then(|t| TsigRdata::parse(&t.record.rdata).ok())
                .map(|rd| rd.error)
                .filter(|&e| e != 0);
            return Err(XfrError::Rcode {
                rcode: m.header.rcode,
                tsig_error,
            });
        }
        if m.header.tc {
            return Err(XfrError::Truncated { message: n });
        }
        // Later messages may leave the question out (RFC 5936 §2.2.1).
        let ok = match m.questions.as_slice() {
            [] => true,
            [q] => q.name == self.zone && q.qtype == self.qtype && q.qclass == Class::IN,
            _ => false,
        };
        if !ok {
            let found = m
                .questions
                .iter()
                .map(|q| format!("{} {} {}", q.name, q.qclass, q.qtype))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(XfrError::Question {
                message: n,
                found,
                expected: format!("{} IN {}", self.zone, self.qtype),
            });
        }
        Ok(())
    }

    /// The SOA's serial if `r` is an SOA; an SOA anywhere but the apex, or
    /// one that does not parse, is an error.
    fn soa_serial(&self, r: &Record) -> Result<Option<u32>, XfrError> {
        if r.rtype != Rtype::SOA {
            return Ok(None);
        }
        let bad = || XfrError::BadSoa {
            owner: r.owner.clone(),
            zone: self.zone.clone(),
        };
        if r.owner != self.zone {
            return Err(bad());
        }
        Soa::parse(&r.rdata)
            .map(|s| Some(s.serial))
            .map_err(|_| bad())
    }

    fn record(&mut self, r: Record) -> Result<(), XfrError> {
        if !r.owner.is_subdomain_of(&self.zone) {
            return Err(XfrError::OutOfZone {
                owner: r.owner,
                zone: self.zone.clone(),
            });
        }
        if r.class != Class::IN {
            return Err(XfrError::WrongClass {
                owner: r.owner,
                class: r.class,
            });
        }
        let soa = self.soa_serial(&r)?;
        self.state = match std::mem::replace(&mut self.state, State::Finished) {
            State::Start => match soa {
                Some(serial) => State::First { soa: r, serial },
                None => {
                    return Err(XfrError::FirstNotSoa {
                        found: format!("{} {}", r.owner, r.rtype),
                        zone: self.zone.clone(),
                    })
                }
            },
            State::First { soa: first, serial } => match (soa, self.ours) {
                // SOA, SOA in an IXFR answer: the incremental form.
                (Some(s), Some(ours)) if self.qtype == Rtype::IXFR => {
                    boundary(first, serial, ours, Vec::new(), s)?
                }
                _ => {
                    let st = State::Full {
                        serial,
                        records: vec![first],
                    };
                    full(st, r, soa)?
                }
            },
            st @ State::Full { .. } => full(st, r, soa)?,
            State::Incremental {
                last,
                at,
                mut diffs,
                phase,
            } => match (phase, soa) {
                (Phase::Removed(mut d), None) => {
                    d.removed.push(r);
                    State::Incremental {
                        last,
                        at,
                        diffs,
                        phase: Phase::Removed(d),
                    }
                }
                (Phase::Removed(mut d), Some(s)) => {
                    d.to_serial = s;
                    State::Incremental {
                        last,
                        at,
                        diffs,
                        phase: Phase::Added(d),
                    }
                }
                (Phase::Added(mut d), None) => {
                    d.added.push(r);
                    State::Incremental {
                        last,
                        at,
                        diffs,
                        phase: Phase::Added(d),
                    }
                }
                (Phase::Added(d), Some(s)) => {
                    let at = d.to_serial;
                    diffs.push(d);
                    boundary_incremental(last, at, diffs, s)?
                }
            },
            State::Ended(_) | State::Finished => unreachable!("feed stops at the end"),
        };
        Ok(())
    }
}

/// After the first SOA of an IXFR answer, an SOA with serial `s`.
fn boundary(
    first: Record,
    last: u32,
    ours: u32,
    diffs: Vec<Diff>,
    s: u32,
) -> Result<State, XfrError> {
    // SOA, SOA of the same serial: the AXFR form of a zone that holds
    // nothing but its SOA (no sequence can start at the final serial).
    if s == last {
        return Ok(State::Ended(Transfer::Full {
            records: vec![first],
        }));
    }
    boundary_incremental(last, ours, diffs, s)
}

/// An SOA with serial `s` where a difference sequence may begin: the final
/// SOA once the chain has reached the primary's serial, else the old SOA of
/// the next sequence, which must continue the chain.
fn boundary_incremental(last: u32, at: u32, diffs: Vec<Diff>, s: u32) -> Result<State, XfrError> {
    if s == last && at == last {
        return Ok(State::Ended(Transfer::Incremental { diffs }));
    }
    if s != at {
        return Err(XfrError::BrokenChain {
            found: s,
            expected: at,
        });
    }
    Ok(State::Incremental {
        last,
        at,
        diffs,
        phase: Phase::Removed(Diff {
            from_serial: s,
            to_serial: s,
            removed: Vec::new(),
            added: Vec::new(),
        }),
    })
}

/// The next record of an AXFR-form stream: the SOA again ends it.
fn full(st: State, r: Record, soa: Option<u32>) -> Result<State, XfrError> {
    let State::Full {
        serial,
        mut records,
    } = st
    else {
        unreachable!("only called in the AXFR form");
    };
    match soa {
        None => {
            records.push(r);
            Ok(State::Full { serial, records })
        }
        Some(s) if s == serial => Ok(State::Ended(Transfer::Full { records })),
        Some(s) => Err(XfrError::SerialChanged {
            first: serial,
            last: s,
        }),
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Axfr => "AXFR",
            Kind::Ixfr => "IXFR",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::{handle, Settings, Source, Transport};
    use crate::{transfer, Acl, Catalog, Outcome, ZoneEntry, ZonePolicy};
    use proptest::prelude::*;
    use std::collections::BTreeSet;
    use std::sync::Arc;
    use tandem_dns_wire::Algorithm;
    use tandem_zone::Zone;

    const NOW: u64 = 1_700_000_000;

    fn origin() -> Name {
        "home.".parse().unwrap()
    }

    fn a(owner: &str, addr: [u8; 4]) -> Record {
        Record::new(
            owner.parse().unwrap(),
            Rtype::A,
            Class::IN,
            300,
            addr.to_vec(),
        )
    }

    fn soa(serial: u32) -> Record {
        let s = Soa {
            mname: "ns.home.".parse().unwrap(),
            rname: "h.home.".parse().unwrap(),
            serial,
            refresh: 2,
            retry: 3,
            expire: 4,
            minimum: 5,
        };
        Record::new(origin(), Rtype::SOA, Class::IN, 300, s.to_rdata())
    }

    fn key() -> Key {
        Key::new(
            "xfr.".parse().unwrap(),
            Algorithm::HmacSha256,
            b"secret!".to_vec(),
        )
    }

    fn zone(serial: u32, extra: usize) -> Zone {
        let mut text = format!("$TTL 300\n@ SOA ns h {serial} 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n");
        for i in 0..extra {
            text.push_str(&format!(
                "h{i} A 10.{}.{}.{}\n",
                i >> 16,
                (i >> 8) & 255,
                i & 255
            ));
        }
        tandem_zone::file::zone_from_str(&origin(), &text).unwrap()
    }

    fn catalog(zone: Zone, allow: Acl) -> Catalog {
        let mut c = Catalog::new();
        c.insert(ZoneEntry {
            zone: Arc::new(zone),
            policy: Arc::new(ZonePolicy {
                allow_transfer: allow,
                ..ZonePolicy::default()
            }),
        });
        c
    }

    /// The primary's answer stream to `bytes`, from tandem's own primary.
    fn serve(c: &Catalog, keys: Vec<Key>, history: &[Diff], bytes: &[u8]) -> Vec<Vec<u8>> {
        let settings = Settings {
            keys,
            ..Settings::default()
        };
        let source = Source {
            addr: "127.0.0.1".parse().unwrap(),
            transport: Transport::Tcp,
        };
        match handle(c, &settings, bytes, source, NOW) {
            Outcome::Transfer(req) => transfer::respond(c, &req, history, NOW),
            Outcome::Reply(r) => vec![r.to_vec()],
            other => panic!("not a transfer: {other:?}"),
        }
    }

    fn feed_all(rx: &mut Receiver, msgs: &[Vec<u8>]) -> Result<Transfer, XfrError> {
        for (i, m) in msgs.iter().enumerate() {
            if let Some(t) = rx.feed(m, NOW)? {
                assert_eq!(i + 1, msgs.len(), "complete before the last message");
                return Ok(t);
            }
        }
        panic!("stream not complete after {} messages", msgs.len());
    }

    /// A hand-made answer: `records` in messages of `per` answers each.
    fn answer(id: u16, qtype: Rtype, records: &[Record], per: usize) -> Vec<Vec<u8>> {
        let header = Header {
            id,
            qr: true,
            aa: true,
            ..Header::default()
        };
        records
            .chunks(per)
            .enumerate()
            .map(|(i, chunk)| {
                let mut w = MessageWriter::new(header, 65535);
                if i == 0 {
                    w.push_question(&Question {
                        name: origin(),
                        qtype,
                        qclass: Class::IN,
                    });
                }
                for r in chunk {
                    w.push(Section::Answer, r).unwrap();
                }
                w.finish()
            })
            .collect()
    }

    fn history() -> Vec<Diff> {
        vec![
            Diff {
                from_serial: 1,
                to_serial: 2,
                removed: vec![],
                added: vec![a("a.home.", [192, 0, 2, 10])],
            },
            Diff {
                from_serial: 2,
                to_serial: 3,
                removed: vec![a("a.home.", [192, 0, 2, 10])],
                added: vec![a("a.home.", [192, 0, 2, 20]), a("b.home.", [192, 0, 2, 30])],
            },
        ]
    }

    fn set(records: &[Record]) -> BTreeSet<String> {
        records.iter().map(|r| r.to_string()).collect()
    }

    #[test]
    fn full_axfr() {
        let z = zone(3, 3);
        let c = catalog(z.clone(), Acl::any());
        let mut req = request(&origin(), Kind::Axfr, None, 42, None, NOW).unwrap();
        let msgs = serve(&c, vec![], &[], &req.bytes);
        let Transfer::Full { records } = feed_all(&mut req.receiver, &msgs).unwrap() else {
            panic!("not full");
        };
        assert_eq!(records[0].rtype, Rtype::SOA);
        assert_eq!(set(&records), set(&z.records().collect::<Vec<_>>()));
        assert_eq!(records.len(), 6);
        // Nothing may follow.
        assert!(matches!(
            req.receiver.feed(&msgs[0], NOW),
            Err(XfrError::AfterEnd { message: 2 })
        ));
    }

    #[test]
    fn multi_message_axfr() {
        let z = zone(7, 3000);
        let c = catalog(z.clone(), Acl::any());
        let mut req = request(&origin(), Kind::Axfr, None, 1, None, NOW).unwrap();
        let msgs = serve(&c, vec![], &[], &req.bytes);
        assert!(msgs.len() > 2, "{} messages", msgs.len());
        let Transfer::Full { records } = feed_all(&mut req.receiver, &msgs).unwrap() else {
            panic!("not full");
        };
        assert_eq!(records.len(), z.record_count());
        assert_eq!(req.receiver.stats().0, msgs.len());
    }

    #[test]
    fn ixfr_condensed_from_tandem() {
        let c = catalog(zone(3, 0), Acl::any());
        let mut req = request(&origin(), Kind::Ixfr, Some(&soa(1)), 5, None, NOW).unwrap();
        assert_eq!(req.receiver.kind(), Kind::Ixfr);
        let msgs = serve(&c, vec![], &history(), &req.bytes);
        let Transfer::Incremental { diffs } = feed_all(&mut req.receiver, &msgs).unwrap() else {
            panic!("not incremental");
        };
        assert_eq!(diffs.len(), 1);
        assert_eq!((diffs[0].from_serial, diffs[0].to_serial), (1, 3));
        assert!(diffs[0].removed.is_empty());
        assert_eq!(
            set(&diffs[0].added),
            set(&[a("a.home.", [192, 0, 2, 20]), a("b.home.", [192, 0, 2, 30])])
        );
    }

    #[test]
    fn ixfr_several_sequences() {
        let mut req = request(&origin(), Kind::Ixfr, Some(&soa(1)), 9, None, NOW).unwrap();
        let x = a("x.home.", [10, 0, 0, 1]);
        let y = a("y.home.", [10, 0, 0, 2]);
        let stream = vec![
            soa(4),
            soa(1),
            soa(2),
            x.clone(),
            soa(2),
            x.clone(),
            soa(3),
            y.clone(),
            soa(3),
            soa(4),
            soa(4),
        ];
        // Split across messages mid-sequence, too.
        let msgs = answer(9, Rtype::IXFR, &stream, 4);
        let Transfer::Incremental { diffs } = feed_all(&mut req.receiver, &msgs).unwrap() else {
            panic!("not incremental");
        };
        let got: Vec<_> = diffs
            .iter()
            .map(|d| (d.from_serial, d.to_serial, d.removed.len(), d.added.len()))
            .collect();
        assert_eq!(got, vec![(1, 2, 0, 1), (2, 3, 1, 1), (3, 4, 0, 0)]);
        assert_eq!(diffs[1].added, vec![y]);
    }

    #[test]
    fn ixfr_up_to_date() {
        let c = catalog(zone(3, 0), Acl::any());
        for ours in [3, 4] {
            let mut req = request(&origin(), Kind::Ixfr, Some(&soa(ours)), 5, None, NOW).unwrap();
            let msgs = serve(&c, vec![], &history(), &req.bytes);
            let t = feed_all(&mut req.receiver, &msgs).unwrap();
            assert!(matches!(t, Transfer::UpToDate { serial: 3 }), "{t:?}");
        }
        // A lone newer SOA (the UDP "use TCP" answer) is not the end.
        let mut req = request(&origin(), Kind::Ixfr, Some(&soa(1)), 5, None, NOW).unwrap();
        let msgs = answer(5, Rtype::IXFR, &[soa(3)], 1);
        assert!(matches!(req.receiver.feed(&msgs[0], NOW), Ok(None)));
    }

    #[test]
    fn ixfr_answered_in_axfr_form() {
        let z = zone(3, 2);
        let c = catalog(z.clone(), Acl::any());
        // Serial 0 is older than the history: the whole zone comes back.
        let mut req = request(&origin(), Kind::Ixfr, Some(&soa(0)), 5, None, NOW).unwrap();
        let msgs = serve(&c, vec![], &history(), &req.bytes);
        let Transfer::Full { records } = feed_all(&mut req.receiver, &msgs).unwrap() else {
            panic!("not full");
        };
        assert_eq!(set(&records), set(&z.records().collect::<Vec<_>>()));
    }

    #[test]
    fn ixfr_without_soa_degrades_to_axfr() {
        let req = request(&origin(), Kind::Ixfr, None, 5, None, NOW).unwrap();
        assert_eq!(req.receiver.kind(), Kind::Axfr);
        let m = Message::parse(&req.bytes).unwrap();
        assert_eq!(m.questions[0].qtype, Rtype::AXFR);
        assert!(m.authority.is_empty());
        let req = request(&origin(), Kind::Ixfr, Some(&soa(8)), 5, None, NOW).unwrap();
        let m = Message::parse(&req.bytes).unwrap();
        assert_eq!(m.questions[0].qtype, Rtype::IXFR);
        assert_eq!(m.authority, vec![soa(8)]);
        // Our "SOA" must be one, of this zone.
        let bad = a("home.", [1, 2, 3, 4]);
        assert!(matches!(
            request(&origin(), Kind::Ixfr, Some(&bad), 5, None, NOW),
            Err(XfrError::CurrentSoa { .. })
        ));
    }

    #[test]
    fn refused_carries_the_rcode() {
        let c = catalog(zone(3, 0), Acl::none());
        let mut req = request(&origin(), Kind::Axfr, None, 5, None, NOW).unwrap();
        let msgs = serve(&c, vec![], &[], &req.bytes);
        let e = req.receiver.feed(&msgs[0], NOW).unwrap_err();
        assert_eq!(
            e,
            XfrError::Rcode {
                rcode: Rcode::REFUSED,
                tsig_error: None
            }
        );
        assert_eq!(e.to_string(), "primary answered REFUSED");
        // A zone the primary does not have.
        let other = catalog(zone(3, 0), Acl::any());
        let name: Name = "elsewhere.".parse().unwrap();
        let mut req = request(&name, Kind::Axfr, None, 5, None, NOW).unwrap();
        let msgs = serve(&other, vec![], &[], &req.bytes);
        let e = req.receiver.feed(&msgs[0], NOW).unwrap_err();
        assert_eq!(e.to_string(), "primary answered NOTAUTH");
    }

    #[test]
    fn header_checks() {
        let mut req = request(&origin(), Kind::Axfr, None, 5, None, NOW).unwrap();
        let msgs = answer(6, Rtype::AXFR, &[soa(1), soa(1)], 10);
        assert!(matches!(
            req.receiver.feed(&msgs[0], NOW),
            Err(XfrError::WrongId {
                found: 6,
                expected: 5,
                ..
            })
        ));
        let mut req = request(&origin(), Kind::Axfr, None, 5, None, NOW).unwrap();
        let msgs = answer(5, Rtype::IXFR, &[soa(1), soa(1)], 10);
        let e = req.receiver.feed(&msgs[0], NOW).unwrap_err();
        assert!(matches!(e, XfrError::Question { .. }), "{e}");
        let mut req = request(&origin(), Kind::Axfr, None, 5, None, NOW).unwrap();
        let mut m = answer(5, Rtype::AXFR, &[soa(1), soa(1)], 10).remove(0);
        m[2] &= 0x7f; // QR off
        assert!(matches!(
            req.receiver.feed(&m, NOW),
            Err(XfrError::NotResponse { .. })
        ));
        let mut req = request(&origin(), Kind::Axfr, None, 5, None, NOW).unwrap();
        assert!(matches!(
            req.receiver.feed(&[0, 5, 0x80], NOW),
            Err(XfrError::Malformed { message: 1, .. })
        ));
    }

    #[test]
    fn stream_content_checks() {
        let rx = || {
            request(&origin(), Kind::Axfr, None, 5, None, NOW)
                .unwrap()
                .receiver
        };
        let out = [soa(1), a("www.other.", [1, 1, 1, 1]), soa(1)];
        let e = feed_all(&mut rx(), &answer(5, Rtype::AXFR, &out, 10)).unwrap_err();
        assert_eq!(e.to_string(), "record www.other. outside zone home.");
        let first = [a("www.home.", [1, 1, 1, 1]), soa(1)];
        let e = feed_all(&mut rx(), &answer(5, Rtype::AXFR, &first, 10)).unwrap_err();
        assert!(matches!(e, XfrError::FirstNotSoa { .. }), "{e}");
        let changed = [soa(1), a("www.home.", [1, 1, 1, 1]), soa(2)];
        let e = feed_all(&mut rx(), &answer(5, Rtype::AXFR, &changed, 10)).unwrap_err();
        assert_eq!(e, XfrError::SerialChanged { first: 1, last: 2 });
        let trailing = [soa(1), soa(1), a("www.home.", [1, 1, 1, 1])];
        let e = feed_all(&mut rx(), &answer(5, Rtype::AXFR, &trailing, 10)).unwrap_err();
        assert!(matches!(e, XfrError::TrailingRecords { message: 1 }), "{e}");
        // A zone of nothing but its SOA.
        let t = feed_all(&mut rx(), &answer(5, Rtype::AXFR, &[soa(1), soa(1)], 10)).unwrap();
        assert!(matches!(t, Transfer::Full { records } if records == vec![soa(1)]));
    }

    #[test]
    fn broken_chain() {
        let rx = || {
            request(&origin(), Kind::Ixfr, Some(&soa(1)), 5, None, NOW)
                .unwrap()
                .receiver
        };
        // Starts at 2, we are at 1.
        let s = [soa(3), soa(2), soa(3), soa(3)];
        let e = feed_all(&mut rx(), &answer(5, Rtype::IXFR, &s, 10)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "IXFR difference sequence starts at serial 2, expected 1"
        );
        // 1→2, then a sequence from 5.
        let s = [soa(6), soa(1), soa(2), soa(5), soa(6), soa(6)];
        let e = feed_all(&mut rx(), &answer(5, Rtype::IXFR, &s, 10)).unwrap_err();
        assert_eq!(
            e,
            XfrError::BrokenChain {
                found: 5,
                expected: 2
            }
        );
    }

    #[test]
    fn limits() {
        let z = zone(7, 100);
        let c = catalog(z, Acl::any());
        let limits = Limits {
            max_records: 50,
            ..Limits::default()
        };
        let mut req = request_with(&origin(), Kind::Axfr, None, 1, None, NOW, limits).unwrap();
        let msgs = serve(&c, vec![], &[], &req.bytes);
        let e = feed_all(&mut req.receiver, &msgs).unwrap_err();
        assert_eq!(e, XfrError::TooManyRecords { limit: 50 });
        let limits = Limits {
            max_bytes: 100,
            ..Limits::default()
        };
        let mut req = request_with(&origin(), Kind::Axfr, None, 1, None, NOW, limits).unwrap();
        let e = feed_all(&mut req.receiver, &msgs).unwrap_err();
        assert_eq!(e, XfrError::TooManyBytes { limit: 100 });
    }

    #[test]
    fn signed_stream_verifies() {
        let c = catalog(zone(7, 3000), Acl::any());
        let mut req = request(&origin(), Kind::Axfr, None, 1, Some(&key()), NOW).unwrap();
        let msgs = serve(&c, vec![key()], &[], &req.bytes);
        assert!(msgs.len() > 2);
        assert!(matches!(
            feed_all(&mut req.receiver, &msgs),
            Ok(Transfer::Full { .. })
        ));
    }

    #[test]
    fn tampered_signed_stream_is_rejected() {
        let c = catalog(zone(7, 3000), Acl::any());
        let mut req = request(&origin(), Kind::Axfr, None, 1, Some(&key()), NOW).unwrap();
        let mut msgs = serve(&c, vec![key()], &[], &req.bytes);
        // Change one address in the second message: still parses, MAC fails.
        let m = &mut msgs[1];
        let at = m.windows(2).position(|w| w == [10, 0]).unwrap();
        m[at + 3] ^= 1;
        let e = feed_all(&mut req.receiver, &msgs).unwrap_err();
        assert_eq!(
            e,
            XfrError::Tsig {
                message: 2,
                source: VerifyError::BadSig
            }
        );
        assert!(e.to_string().starts_with("bad TSIG on message 2: "), "{e}");
    }

    #[test]
    fn unsigned_answer_to_signed_request() {
        let c = catalog(zone(3, 0), Acl::any());
        let mut req = request(&origin(), Kind::Axfr, None, 1, Some(&key()), NOW).unwrap();
        let plain = request(&origin(), Kind::Axfr, None, 1, None, NOW).unwrap();
        let msgs = serve(&c, vec![], &[], &plain.bytes);
        let e = feed_all(&mut req.receiver, &msgs).unwrap_err();
        assert_eq!(
            e,
            XfrError::Tsig {
                message: 1,
                source: VerifyError::Unsigned
            }
        );
        // And a stream whose last message is unsigned.
        let c = catalog(zone(7, 3000), Acl::any());
        let mut req = request(&origin(), Kind::Axfr, None, 1, Some(&key()), NOW).unwrap();
        let mut msgs = serve(&c, vec![key()], &[], &req.bytes);
        let plain = serve(&c, vec![], &[], &plain.bytes);
        assert_eq!(msgs.len(), plain.len());
        *msgs.last_mut().unwrap() = plain.last().unwrap().clone();
        let e = feed_all(&mut req.receiver, &msgs).unwrap_err();
        assert!(
            matches!(
                e,
                XfrError::Tsig {
                    source: VerifyError::UnsignedTail,
                    ..
                }
            ),
            "{e}"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Random zone, random chain of diffs: tandem's own AXFR and IXFR
        /// answers come back as the same records and the same net change.
        #[test]
        fn round_trip(
            initial in proptest::collection::btree_set(0u16..300, 0..40),
            steps in proptest::collection::vec(
                (proptest::collection::vec(any::<prop::sample::Index>(), 0..5),
                 proptest::collection::btree_set(300u16..600, 0..5)),
                1..5),
            big in any::<bool>(),
        ) {
            let base = zone(10, if big { 2000 } else { 0 });
            let rec = |i: u16| a(&format!("r{i}.home."), [10, 9, (i >> 8) as u8, i as u8]);
            let mut z = base.clone();
            for &i in &initial {
                z.insert(rec(i));
            }
            let start = z.clone();
            let mut history = Vec::new();
            let mut serial = 10;
            for (removals, additions) in &steps {
                let present: Vec<Record> = z
                    .records()
                    .filter(|r| r.owner.to_string().starts_with('r'))
                    .collect();
                let mut removed: Vec<Record> = Vec::new();
                if !present.is_empty() {
                    for ix in removals {
                        let r = ix.get(&present).clone();
                        if !removed.contains(&r) {
                            removed.push(r);
                        }
                    }
                }
                let added: Vec<Record> = additions
                    .iter()
                    .map(|&i| rec(i))
                    .filter(|r| !present.contains(r))
                    .collect();
                let d = Diff { from_serial: serial, to_serial: serial + 1, removed, added };
                serial += 1;
                z.apply(&d);
                history.push(d);
            }
            let c = catalog(z.clone(), Acl::any());
            let want = set(&z.records().collect::<Vec<_>>());

            let mut req = request(&origin(), Kind::Axfr, None, 3, Some(&key()), NOW).unwrap();
            let msgs = serve(&c, vec![key()], &history, &req.bytes);
            let Transfer::Full { records } = feed_all(&mut req.receiver, &msgs).unwrap() else {
                panic!("not full");
            };
            prop_assert_eq!(set(&records), want.clone());

            let ours = start.soa_record().unwrap();
            let mut req = request(&origin(), Kind::Ixfr, Some(&ours), 4, None, NOW).unwrap();
            let msgs = serve(&c, vec![], &history, &req.bytes);
            let Transfer::Incremental { diffs } = feed_all(&mut req.receiver, &msgs).unwrap() else {
                panic!("not incremental");
            };
            let net = transfer::condense(&history);
            prop_assert_eq!(diffs.len(), 1);
            prop_assert_eq!((diffs[0].from_serial, diffs[0].to_serial), (10, serial));
            prop_assert_eq!(set(&diffs[0].removed), set(&net.removed));
            prop_assert_eq!(set(&diffs[0].added), set(&net.added));
            let mut applied = start.clone();
            for d in &diffs {
                applied.apply(d);
            }
            prop_assert_eq!(set(&applied.records().collect::<Vec<_>>()), want);
        }
    }
}
