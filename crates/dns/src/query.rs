//! Answering one request: bytes in, an [`Outcome`] out.
//!
//! This is the sans-I/O heart of the DNS server. It owns the protocol
//! decisions that do not depend on zone content: which requests are dropped
//! or answered FORMERR, EDNS(0) negotiation and the response size limit,
//! truncation, access lists, and the split between queries (answered here)
//! and updates and transfers (handed to the zone store, which must persist
//! before it answers).

use std::net::IpAddr;

use tandem_dns_wire::message::HEADER_LEN;
use tandem_dns_wire::tsig::{self, Key, RequestContext};
use tandem_dns_wire::{Class, Edns, Header, Message, MessageWriter, Opcode, Question, Rcode};
use tandem_dns_wire::{Name, Record, Rtype, Section};
use tandem_zone::Resolution;

use crate::acl::Acl;
use crate::catalog::Catalog;

/// How a request arrived; decides the size limit and ANY handling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// Server-wide settings the core needs.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Largest UDP response we send, whatever the client offers
    /// (1232 avoids IP fragmentation, per the DNS flag day 2020 advice).
    pub max_udp_payload: u16,
    /// Every TSIG key the server knows.
    pub keys: Vec<Key>,
    /// Who may have names outside every zone resolved (forwarded); `None`
    /// when no resolver is configured, so such names are REFUSED.
    pub recursion: Option<Acl>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_udp_payload: 1232,
            keys: Vec::new(),
            recursion: None,
        }
    }
}

/// Where a request came from.
#[derive(Clone, Copy, Debug)]
pub struct Source {
    pub addr: IpAddr,
    pub transport: Transport,
}

/// An UPDATE that passed the message checks, for the zone store.
#[derive(Debug)]
pub struct UpdateRequest {
    pub zone: Name,
    pub message: Message,
    pub source: Source,
    /// Present if the update was signed and the signature verified; signs
    /// the response.
    pub tsig: Option<RequestContext>,
}

impl UpdateRequest {
    /// The name of the key that signed the update, if any.
    pub fn key_name(&self) -> Option<&Name> {
        self.tsig.as_ref().map(|c| &c.key().name)
    }

    /// The response to this update with `rcode`, signed if it was signed.
    pub fn response(&self, rcode: Rcode) -> Vec<u8> {
        signed_reply(&self.message, self.tsig.as_ref(), rcode)
    }
}

/// A records-free answer to `m` with `rcode`, signed when `tsig` is given.
fn signed_reply(m: &Message, tsig: Option<&RequestContext>, rcode: Rcode) -> Vec<u8> {
    let mut out = error_reply(&m.header, m.question(), None, rcode);
    if let Some(ctx) = tsig {
        let _ = ctx.sign_response(&mut out);
    }
    out
}

/// A zone transfer request (AXFR/IXFR over TCP), for the transfer driver.
#[derive(Debug)]
pub struct TransferRequest {
    pub zone: Name,
    pub message: Message,
    pub source: Source,
    pub tsig: Option<RequestContext>,
}

/// A query for a name outside every zone, from a client the recursion
/// ACL allows: the forwarding resolver (`tandem-server/src/forward.rs`)
/// answers it.
#[derive(Debug)]
pub struct ForwardRequest {
    pub header: Header,
    /// The question as the client wrote it.
    pub question: Question,
    /// The OPT record to answer with (DO copied), if the client sent one.
    pub edns: Option<Edns>,
    /// The client's DO bit.
    pub dnssec_ok: bool,
    /// The largest response the client takes (less any TSIG).
    pub limit: usize,
    pub source: Source,
    /// Signs the response, if the query was signed.
    pub tsig: Option<RequestContext>,
}

/// An UPDATE for a zone this server is a secondary for, from a client
/// `allow-update-forwarding` admits: to be passed on to the primary.
#[derive(Debug)]
pub struct ForwardedUpdate {
    pub zone: Name,
    /// The request exactly as received, signature included, so the
    /// primary verifies the client's own signature.
    pub bytes: Vec<u8>,
    pub message: Message,
    pub source: Source,
    /// The verified signature, if any (the key is then known here too).
    pub tsig: Option<RequestContext>,
}

impl ForwardedUpdate {
    /// The response to this update with `rcode`, signed if it was signed.
    pub fn response(&self, rcode: Rcode) -> Vec<u8> {
        signed_reply(&self.message, self.tsig.as_ref(), rcode)
    }
}

/// A NOTIFY (RFC 1996) for a secondary zone from a sender `allow-notify`
/// admits. The shell sends `reply` and tells the zone's refresh schedule.
#[derive(Debug)]
pub struct NotifyRequest {
    pub zone: Name,
    /// The serial of the SOA the primary put in the answer section, a hint.
    pub serial: Option<u32>,
    pub source: Source,
    pub reply: Vec<u8>,
}

/// What the shell should do with a request.
#[derive(Debug)]
pub enum Outcome {
    /// Send these bytes back.
    Reply(Vec<u8>),
    /// Send nothing (a response, or too short to answer).
    Drop,
    Update(UpdateRequest),
    Transfer(TransferRequest),
    /// Not ours: resolve it through the upstreams.
    Forward(ForwardRequest),
    /// An update for a secondary zone: pass it on to the primary.
    ForwardUpdate(ForwardedUpdate),
    Notify(NotifyRequest),
}

/// Answers one request; `now` is the time in seconds since the epoch (for
/// TSIG).
pub fn handle(
    catalog: &Catalog,
    settings: &Settings,
    bytes: &[u8],
    source: Source,
    now: u64,
) -> Outcome {
    if bytes.len() < HEADER_LEN {
        return Outcome::Drop;
    }
    let header = Header::from_bytes(
        u16::from_be_bytes([bytes[0], bytes[1]]),
        u16::from_be_bytes([bytes[2], bytes[3]]),
    );
    // Never answer a response: that is how reflection loops start.
    if header.qr {
        return Outcome::Drop;
    }
    let msg = match Message::parse(bytes) {
        Ok(m) => m,
        Err(_) => return Outcome::Reply(error_reply(&header, None, None, Rcode::FORMERR)),
    };
    let limit = size_limit(settings, msg.edns.as_ref(), source.transport);
    if let Some(edns) = &msg.edns {
        if edns.version != 0 {
            // RFC 6891 §6.1.3: BADVERS is extended rcode 16 = 1 << 4 | 0.
            return Outcome::Reply(badvers(&msg, settings));
        }
    }
    // RFC 8945 §5.2: a signed request is verified before anything else.
    let tsig = match tsig::verify_request(bytes, &msg, &settings.keys[..], now) {
        Ok(ctx) => ctx,
        Err(failure) => {
            tracing::warn!(
                "client {}: request has invalid signature: {failure}",
                source.addr
            );
            let edns = response_edns(&msg, settings);
            let mut out = error_reply(&msg.header, msg.question(), edns.as_ref(), failure.rcode());
            let _ = failure.append_to(&mut out);
            return Outcome::Reply(out);
        }
    };
    let outcome = match msg.header.opcode {
        Opcode::QUERY => {
            let limit = limit - tsig.as_ref().map_or(0, RequestContext::tsig_len);
            query(catalog, settings, msg, source, limit, tsig.as_ref())
        }
        Opcode::UPDATE => return update(catalog, settings, bytes, msg, source, tsig),
        Opcode::NOTIFY => return notify(catalog, settings, msg, source, tsig),
        _ => Outcome::Reply(error_reply(
            &msg.header,
            msg.question(),
            response_edns(&msg, settings).as_ref(),
            Rcode::NOTIMP,
        )),
    };
    match (outcome, tsig) {
        // A signed request gets a signed answer, whatever the answer is.
        (Outcome::Reply(mut out), Some(ctx)) => {
            let _ = ctx.sign_response(&mut out);
            Outcome::Reply(out)
        }
        (Outcome::Transfer(mut t), ctx) => {
            t.tsig = ctx;
            Outcome::Transfer(t)
        }
        (Outcome::Forward(mut f), ctx) => {
            f.tsig = ctx;
            Outcome::Forward(f)
        }
        (other, _) => other,
    }
}

fn size_limit(settings: &Settings, edns: Option<&Edns>, transport: Transport) -> usize {
    match transport {
        Transport::Tcp => u16::MAX as usize,
        Transport::Udp => match edns {
            // RFC 6891 §6.2.5: below 512 is treated as 512.
            Some(e) => e.udp_size.clamp(512, settings.max_udp_payload.max(512)) as usize,
            None => 512,
        },
    }
}

/// The OPT record we answer with, if the request had one.
fn response_edns(msg: &Message, settings: &Settings) -> Option<Edns> {
    msg.edns.as_ref().map(|e| {
        let mut out = Edns::new(settings.max_udp_payload);
        // RFC 3225 §3: the DO bit is copied into the response.
        out.dnssec_ok = e.dnssec_ok;
        out
    })
}

fn response_header(req: &Header, rcode: Rcode) -> Header {
    Header {
        id: req.id,
        qr: true,
        opcode: req.opcode,
        aa: false,
        tc: false,
        rd: req.rd,
        ra: false,
        ad: false,
        cd: req.cd,
        rcode,
    }
}

/// A response with no records: the question (if any) and the OPT record.
pub fn error_reply(
    req: &Header,
    question: Option<&Question>,
    edns: Option<&Edns>,
    rcode: Rcode,
) -> Vec<u8> {
    let mut w = MessageWriter::new(response_header(req, rcode), u16::MAX as usize);
    if let Some(q) = question {
        w.push_question(q);
    }
    if let Some(e) = edns {
        let _ = w.push_edns(e);
    }
    w.finish()
}

fn badvers(msg: &Message, settings: &Settings) -> Vec<u8> {
    let mut edns = response_edns(msg, settings).unwrap_or_else(|| Edns::new(512));
    edns.ext_rcode = 1;
    error_reply(&msg.header, msg.question(), Some(&edns), Rcode::NOERROR)
}

fn query(
    catalog: &Catalog,
    settings: &Settings,
    msg: Message,
    source: Source,
    limit: usize,
    tsig: Option<&RequestContext>,
) -> Outcome {
    let key = tsig.map(|c| &c.key().name);
    let edns = response_edns(&msg, settings);
    let reply = |rcode| {
        Outcome::Reply(error_reply(
            &msg.header,
            msg.question(),
            edns.as_ref(),
            rcode,
        ))
    };
    // An IXFR request carries the client's SOA in the authority section
    // (RFC 1995 §3); no other query has one.
    let ixfr = msg
        .questions
        .first()
        .is_some_and(|q| q.qtype == Rtype::IXFR);
    if msg.questions.len() != 1 || !msg.answers.is_empty() || (!msg.authority.is_empty() && !ixfr) {
        return reply(Rcode::FORMERR);
    }
    let q = &msg.questions[0];
    if q.qclass != Class::IN && q.qclass != Class::ANY {
        return reply(Rcode::REFUSED);
    }
    match q.qtype {
        Rtype::AXFR | Rtype::IXFR => {
            if source.transport == Transport::Udp {
                // Transfers need a stream (RFC 5936 §4.2); IXFR over UDP
                // is optional (RFC 1995 §2) and we ask for TCP instead.
                return reply(if q.qtype == Rtype::AXFR {
                    Rcode::FORMERR
                } else {
                    Rcode::NOTIMP
                });
            }
            let Some(entry) = catalog.get(&q.name) else {
                return reply(Rcode::NOTAUTH);
            };
            return Outcome::Transfer(TransferRequest {
                zone: entry.zone.origin().clone(),
                message: msg,
                source,
                tsig: None,
            });
        }
        Rtype::OPT | Rtype::TSIG | Rtype::TKEY => return reply(Rcode::FORMERR),
        Rtype::MAILA | Rtype::MAILB => return reply(Rcode::NOTIMP),
        _ => {}
    }
    let Some(entry) = catalog.find(&q.name) else {
        // Not ours: forwarded for clients the recursion ACL allows (class
        // IN only), REFUSED for everyone else, as before there was a
        // resolver.
        return match &settings.recursion {
            Some(acl) if q.qclass == Class::IN && acl.allows(source.addr, key) => {
                Outcome::Forward(ForwardRequest {
                    header: msg.header,
                    question: q.clone(),
                    dnssec_ok: msg.edns.as_ref().is_some_and(|e| e.dnssec_ok),
                    edns,
                    limit,
                    source,
                    tsig: None,
                })
            }
            _ => reply(Rcode::REFUSED),
        };
    };
    if !entry.policy.allow_query.allows(source.addr, key) {
        return reply(Rcode::REFUSED);
    }
    // A secondary zone with no copy yet, or past its expire time, is
    // known but has no data to answer from (RFC 1034 §4.3.5).
    // (An empty zone is that case; a loaded one always has its SOA.)
    if entry.zone.name_count() == 0 {
        return reply(Rcode::SERVFAIL);
    }
    let full_any = source.transport == Transport::Tcp;
    let res = entry.zone.resolve(&q.name, q.qtype, full_any);
    Outcome::Reply(write_answer(&msg.header, q, edns.as_ref(), &res, limit))
}

/// RFC 1996 §3: a NOTIFY names the zone in its question (type SOA) and
/// may carry the new SOA as a hint. Only a secondary zone listens, and
/// only to the senders its `allow-notify` names.
fn notify(
    catalog: &Catalog,
    settings: &Settings,
    msg: Message,
    source: Source,
    tsig: Option<RequestContext>,
) -> Outcome {
    let edns = response_edns(&msg, settings);
    let reply = |rcode| {
        let mut header = msg.header;
        header.aa = rcode == Rcode::NOERROR;
        let mut out = error_reply(&header, msg.question(), edns.as_ref(), rcode);
        if rcode == Rcode::NOERROR {
            // error_reply clears AA; a NOTIFY answer from the zone's
            // server sets it (RFC 1996 §3.7 shows it set).
            out[2] |= 0x04;
        }
        if let Some(ctx) = &tsig {
            let _ = ctx.sign_response(&mut out);
        }
        out
    };
    if msg.questions.len() != 1 || msg.questions[0].qtype != Rtype::SOA {
        return Outcome::Reply(reply(Rcode::FORMERR));
    }
    let qname = &msg.questions[0].name;
    let key = tsig.as_ref().map(|c| &c.key().name);
    let Some(entry) = catalog.get(qname) else {
        tracing::info!(
            "client {}: received notify for zone {qname}: not authoritative",
            source.addr
        );
        return Outcome::Reply(reply(Rcode::NOTAUTH));
    };
    let zone = entry.zone.origin().clone();
    let Some(secondary) = &entry.policy.secondary else {
        tracing::info!(
            "client {}: received notify for zone {zone}: not a secondary zone here",
            source.addr
        );
        return Outcome::Reply(reply(Rcode::NOTAUTH));
    };
    if !secondary.allow_notify.allows(source.addr, key) {
        tracing::warn!(
            "client {}: zone {zone}: refused notify from a sender that is not a primary",
            source.addr
        );
        return Outcome::Reply(reply(Rcode::REFUSED));
    }
    let serial = msg
        .answers
        .iter()
        .find(|r| r.rtype == Rtype::SOA && r.owner == zone)
        .and_then(|r| tandem_dns_wire::rdata::Soa::parse(&r.rdata).ok())
        .map(|s| s.serial);
    Outcome::Notify(NotifyRequest {
        zone,
        serial,
        source,
        reply: reply(Rcode::NOERROR),
    })
}

/// Writes a resolution into a response of at most `limit` bytes. If the
/// answer or authority does not fit, the response carries no records and
/// the TC bit, so the client retries over TCP (RFC 2181 §9); additional
/// records that do not fit are left out, except referral glue, whose loss
/// also sets TC (RFC 9471).
pub fn write_answer(
    req: &Header,
    q: &Question,
    edns: Option<&Edns>,
    res: &Resolution,
    limit: usize,
) -> Vec<u8> {
    let mut header = response_header(req, res.rcode);
    header.aa = res.authoritative;
    let mut w = MessageWriter::new(header, limit);
    w.push_question(q);
    if let Some(e) = edns {
        w.reserve(e.wire_len());
    }
    let fits = push_all(&mut w, Section::Answer, &res.answer)
        && push_all(&mut w, Section::Authority, &res.authority)
        && (push_all(&mut w, Section::Additional, &res.additional) || res.authoritative);
    if !fits {
        let mut w = MessageWriter::new(header, limit);
        w.push_question(q);
        w.set_tc(true);
        if let Some(e) = edns {
            let _ = w.push_edns(e);
        }
        return w.finish();
    }
    if let Some(e) = edns {
        let _ = w.push_edns(e);
    }
    w.finish()
}

/// Pushes records until one does not fit; false if any was left out.
fn push_all(w: &mut MessageWriter, section: Section, records: &[Record]) -> bool {
    records.iter().all(|r| w.push(section, r).is_ok())
}

fn update(
    catalog: &Catalog,
    settings: &Settings,
    bytes: &[u8],
    msg: Message,
    source: Source,
    tsig: Option<RequestContext>,
) -> Outcome {
    let edns = response_edns(&msg, settings);
    let reply = |rcode| {
        let mut out = error_reply(&msg.header, msg.question(), edns.as_ref(), rcode);
        if let Some(ctx) = &tsig {
            let _ = ctx.sign_response(&mut out);
        }
        Outcome::Reply(out)
    };
    // RFC 2136 §3.1.1: exactly one zone, of type SOA.
    if msg.questions.len() != 1 || msg.questions[0].qtype != Rtype::SOA {
        return reply(Rcode::FORMERR);
    }
    let Some(entry) = catalog.get(&msg.questions[0].name) else {
        return reply(Rcode::NOTAUTH);
    };
    let zone = entry.zone.origin().clone();
    if let Some(secondary) = &entry.policy.secondary {
        let key = tsig.as_ref().map(|c| &c.key().name);
        if !secondary.allow_update_forwarding.allows(source.addr, key) {
            tracing::warn!(
                "client {}: zone {zone}: update forwarding denied{}",
                source.addr,
                key.map(|k| format!(" (key {k})"))
                    .unwrap_or_else(|| " (unsigned)".into())
            );
            return reply(Rcode::REFUSED);
        }
        return Outcome::ForwardUpdate(ForwardedUpdate {
            zone,
            bytes: bytes.to_vec(),
            message: msg,
            source,
            tsig,
        });
    }
    Outcome::Update(UpdateRequest {
        zone,
        message: msg,
        source,
        tsig,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tandem_dns_wire::tsig::{sign_request, Algorithm, DEFAULT_FUDGE};
    use tandem_zone::Zone;

    use super::*;
    use crate::catalog::{SecondaryPolicy, ZoneEntry, ZonePolicy};

    const NOW: u64 = 1_700_000_000;

    fn name(s: &str) -> Name {
        s.parse().unwrap()
    }

    fn key() -> Key {
        Key::new(
            name("k"),
            Algorithm::HmacSha256,
            b"0123456789abcdef".to_vec(),
        )
    }

    /// `home` is a secondary fed by 192.0.2.1, `lab` one with no copy yet,
    /// `prim` a primary.
    fn setup() -> (Catalog, Settings) {
        let text = "$TTL 300\n@ SOA ns h 7 60 30 600 5\n@ NS ns\nns A 192.0.2.1\n";
        let secondary = Arc::new(ZonePolicy {
            secondary: Some(SecondaryPolicy {
                allow_notify: "192.0.2.1"
                    .parse::<crate::AclElement>()
                    .map(|e| Acl(vec![e]))
                    .unwrap(),
                allow_update_forwarding: "key k"
                    .parse::<crate::AclElement>()
                    .map(|e| Acl(vec![e]))
                    .unwrap(),
            }),
            ..ZonePolicy::default()
        });
        let mut c = Catalog::new();
        for (origin, policy, loaded) in [
            ("home", secondary.clone(), true),
            ("lab", secondary, false),
            ("prim", Arc::new(ZonePolicy::default()), true),
        ] {
            let zone = if loaded {
                tandem_zone::file::zone_from_str(&name(origin), text).unwrap()
            } else {
                Zone::new(name(origin), Class::IN)
            };
            c.insert(ZoneEntry {
                zone: Arc::new(zone),
                policy,
            });
        }
        let settings = Settings {
            keys: vec![key()],
            ..Settings::default()
        };
        (c, settings)
    }

    fn message(opcode: Opcode, zone: &str, answer: Option<Record>) -> Vec<u8> {
        let header = Header {
            id: 77,
            opcode,
            ..Header::default()
        };
        let mut w = MessageWriter::new(header, 4096);
        w.push_question(&Question {
            name: name(zone),
            qtype: Rtype::SOA,
            qclass: Class::IN,
        });
        if let Some(r) = answer {
            w.push(Section::Answer, &r).unwrap();
        }
        w.finish()
    }

    fn from(addr: &str) -> Source {
        Source {
            addr: addr.parse().unwrap(),
            transport: Transport::Udp,
        }
    }

    fn rcode(out: &Outcome) -> Rcode {
        match out {
            Outcome::Reply(b) => Message::parse(b).unwrap().header.rcode,
            other => panic!("not a reply: {other:?}"),
        }
    }

    #[test]
    fn notify_is_taken_from_the_primary_only() {
        let (c, s) = setup();
        let soa = tandem_zone::file::zone_from_str(
            &name("home"),
            "$TTL 300\n@ SOA ns h 9 60 30 600 5\n@ NS ns\n",
        )
        .unwrap()
        .soa_record()
        .unwrap();
        let bytes = message(Opcode::NOTIFY, "home", Some(soa));
        match handle(&c, &s, &bytes, from("192.0.2.1"), NOW) {
            Outcome::Notify(n) => {
                assert_eq!(n.zone, name("home"));
                assert_eq!(n.serial, Some(9));
                let m = Message::parse(&n.reply).unwrap();
                assert_eq!(
                    (m.header.rcode, m.header.opcode),
                    (Rcode::NOERROR, Opcode::NOTIFY)
                );
                assert!(m.header.qr && m.header.aa);
            }
            other => panic!("{other:?}"),
        }
        let stranger = handle(&c, &s, &bytes, from("198.51.100.9"), NOW);
        assert_eq!(rcode(&stranger), Rcode::REFUSED);
        let primary_zone = message(Opcode::NOTIFY, "prim", None);
        assert_eq!(
            rcode(&handle(&c, &s, &primary_zone, from("192.0.2.1"), NOW)),
            Rcode::NOTAUTH
        );
        let unknown = message(Opcode::NOTIFY, "other", None);
        assert_eq!(
            rcode(&handle(&c, &s, &unknown, from("192.0.2.1"), NOW)),
            Rcode::NOTAUTH
        );
    }

    #[test]
    fn updates_for_a_secondary_are_forwarded_as_received_when_allowed() {
        let (c, s) = setup();
        let mut signed = message(Opcode::UPDATE, "home", None);
        sign_request(&mut signed, &key(), NOW, DEFAULT_FUDGE).unwrap();
        match handle(&c, &s, &signed, from("198.51.100.9"), NOW) {
            Outcome::ForwardUpdate(u) => {
                assert_eq!(u.bytes, signed, "the signature travels intact");
                assert_eq!(u.zone, name("home"));
                assert!(u.tsig.is_some());
            }
            other => panic!("{other:?}"),
        }
        let unsigned = message(Opcode::UPDATE, "home", None);
        assert_eq!(
            rcode(&handle(&c, &s, &unsigned, from("198.51.100.9"), NOW)),
            Rcode::REFUSED
        );
        // A primary zone's updates still go to the store.
        let mut to_primary = message(Opcode::UPDATE, "prim", None);
        sign_request(&mut to_primary, &key(), NOW, DEFAULT_FUDGE).unwrap();
        assert!(matches!(
            handle(&c, &s, &to_primary, from("198.51.100.9"), NOW),
            Outcome::Update(_)
        ));
    }

    #[test]
    fn a_secondary_without_a_copy_answers_servfail() {
        let (c, s) = setup();
        let q = message(Opcode::QUERY, "lab", None);
        assert_eq!(
            rcode(&handle(&c, &s, &q, from("198.51.100.9"), NOW)),
            Rcode::SERVFAIL
        );
        let q = message(Opcode::QUERY, "home", None);
        assert_eq!(
            rcode(&handle(&c, &s, &q, from("198.51.100.9"), NOW)),
            Rcode::NOERROR
        );
    }
}
