//! Between tandem and its upstreams: the query we send, the checks a
//! response must pass before anything of it is believed, and the
//! [`Template`] an accepted response becomes.
//!
//! A template is the answer rendered once, without ID, without OPT and
//! with the question in lower case, plus the offset and TTL of every
//! record. Answering from it is a copy and a few patches: the client's ID,
//! RD and CD bits and question case (same length, so compression pointers
//! stay valid), every TTL minus the answer's age, and the client's OPT
//! record. An answer that does not fit the client's size limit is sent
//! empty with TC set, so the client retries over TCP (RFC 2181 §9).

use tandem_dns_wire::message::{read_name, HEADER_LEN};
use tandem_dns_wire::rdata::Soa;
use tandem_dns_wire::{Edns, Header, Message, MessageWriter, Opcode, Question, Rcode};
use tandem_dns_wire::{Rtype, Section};

use crate::Key;

/// TTL limits applied to what upstreams send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TtlLimits {
    /// Positive answers are kept at least this long.
    pub min_ttl: u32,
    /// And at most this long.
    pub max_ttl: u32,
    /// Negative answers (NXDOMAIN, NODATA) at most this long; their TTL is
    /// otherwise the SOA's (RFC 2308 §5: the lesser of its TTL and MINIMUM).
    pub max_negative_ttl: u32,
}

impl Default for TtlLimits {
    fn default() -> Self {
        TtlLimits {
            min_ttl: 0,
            max_ttl: 86_400,
            max_negative_ttl: 3_600,
        }
    }
}

/// Why an upstream response was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reject {
    /// Not an answer to our query (wrong ID or question, not a response):
    /// ignore it and keep waiting for the real one.
    NotOurs,
    /// Ours, but it does not parse.
    Malformed,
    /// TC set: ask again over TCP.
    Truncated,
    /// An RCODE other than NOERROR or NXDOMAIN (SERVFAIL, REFUSED, ...):
    /// try another upstream.
    Rcode(u16),
}

/// The query tandem sends upstream for `key`: RD set, the key's CD bit,
/// and an OPT record with our payload size and the key's DO bit. The name
/// goes out in lower case.
pub fn build_query(id: u16, key: &Key, udp_size: u16) -> Vec<u8> {
    let header = Header {
        id,
        rd: true,
        cd: key.checking_disabled,
        ..Header::default()
    };
    let mut w = MessageWriter::new(header, u16::MAX as usize);
    w.push_question(&key.question());
    let mut edns = Edns::new(udp_size);
    edns.dnssec_ok = key.dnssec_ok;
    let _ = w.push_edns(&edns);
    w.finish()
}

/// Checks an upstream's response to the query with `id` for `key`.
/// Never panics, whatever the bytes.
pub fn check_response(key: &Key, id: u16, bytes: &[u8]) -> Result<Message, Reject> {
    if bytes.len() < HEADER_LEN {
        return Err(Reject::NotOurs);
    }
    let header = Header::from_bytes(
        u16::from_be_bytes([bytes[0], bytes[1]]),
        u16::from_be_bytes([bytes[2], bytes[3]]),
    );
    if header.id != id || !header.qr {
        return Err(Reject::NotOurs);
    }
    if header.tc {
        // A truncated response may be cut anywhere; read only its question.
        let qdcount = u16::from_be_bytes([bytes[4], bytes[5]]);
        if qdcount != 1 {
            return Err(Reject::NotOurs);
        }
        let Ok((name, p)) = read_name(bytes, HEADER_LEN) else {
            return Err(Reject::Malformed);
        };
        let Some(tail) = bytes.get(p..p + 4) else {
            return Err(Reject::Malformed);
        };
        let qtype = u16::from_be_bytes([tail[0], tail[1]]);
        let qclass = u16::from_be_bytes([tail[2], tail[3]]);
        if name != key.name || qtype != key.qtype.to_int() || qclass != key.qclass.to_int() {
            return Err(Reject::NotOurs);
        }
        return Err(Reject::Truncated);
    }
    let msg = Message::parse(bytes).map_err(|_| Reject::Malformed)?;
    match msg.questions.as_slice() {
        [q] if q.name == key.name && q.qtype == key.qtype && q.qclass == key.qclass => {}
        _ => return Err(Reject::NotOurs),
    }
    if msg.header.opcode != Opcode::QUERY {
        return Err(Reject::Malformed);
    }
    let rcode = msg.rcode();
    if rcode != Rcode::NOERROR.to_int() as u16 && rcode != Rcode::NXDOMAIN.to_int() as u16 {
        return Err(Reject::Rcode(rcode));
    }
    Ok(msg)
}

/// An accepted answer, rendered once; see the module documentation.
#[derive(Clone, Debug)]
pub struct Template {
    /// Header (ID 0, flags as we answer them), the question in lower
    /// case, and every record; no OPT.
    wire: Box<[u8]>,
    /// Wire length of the question name.
    qname_len: usize,
    /// (offset of the TTL field, TTL when received) per record.
    ttls: Box<[(u32, u32)]>,
    /// How long, in seconds, the answer stays fresh: the least TTL of its
    /// records after the limits. 0: do not cache.
    pub ttl: u32,
    /// NXDOMAIN or NODATA.
    pub negative: bool,
}

impl Template {
    /// Renders `msg` (an answer [`check_response`] accepted for `key`).
    /// `None` only if the answer cannot be written back (it then cannot be
    /// served either).
    pub fn new(key: &Key, msg: &Message, limits: &TtlLimits) -> Option<Template> {
        let rcode = msg.header.rcode;
        let positive = rcode == Rcode::NOERROR
            && msg.answers.iter().any(|r| {
                r.rtype == key.qtype || (key.qtype == Rtype::ANY && r.rtype != Rtype::OPT)
            });
        let negative = !positive;
        let positive_ttl = |ttl: u32| ttl.clamp(limits.min_ttl, limits.max_ttl.max(limits.min_ttl));
        // RFC 2308 §5: a negative answer is cached for the lesser of the
        // SOA's TTL and its MINIMUM field; without a SOA it is not cached.
        let mut lifetime = u32::MAX;
        let mut has_soa = false;
        let header = Header {
            id: 0,
            qr: true,
            opcode: Opcode::QUERY,
            aa: false,
            tc: false,
            rd: true,
            ra: true,
            ad: false,
            cd: false,
            rcode,
        };
        let mut w = MessageWriter::new(header, u16::MAX as usize);
        w.push_question(&key.question());
        for (section, records) in [
            (Section::Answer, &msg.answers),
            (Section::Authority, &msg.authority),
            (Section::Additional, &msg.additional),
        ] {
            for r in records {
                let ttl = if negative && section == Section::Authority && r.rtype == Rtype::SOA {
                    has_soa = true;
                    let minimum = Soa::parse(&r.rdata).map_or(0, |s| s.minimum);
                    r.ttl.min(minimum).min(limits.max_negative_ttl)
                } else if negative {
                    r.ttl.min(limits.max_ttl)
                } else {
                    positive_ttl(r.ttl)
                };
                lifetime = lifetime.min(ttl);
                w.push_with_ttl(section, r, ttl).ok()?;
            }
        }
        if lifetime == u32::MAX || (negative && !has_soa) {
            lifetime = 0;
        }
        let wire = w.finish();
        let qname_len = key.name.wire_len();
        let ttls = ttl_offsets(&wire, qname_len)?;
        Some(Template {
            wire: wire.into_boxed_slice(),
            qname_len,
            ttls: ttls.into_boxed_slice(),
            ttl: lifetime,
            negative,
        })
    }

    /// Bytes this template holds, for the cache's memory bound.
    pub fn size(&self) -> usize {
        self.wire.len() + self.ttls.len() * 8 + size_of::<Template>()
    }

    /// Wire length of the answer without OPT.
    pub fn len(&self) -> usize {
        self.wire.len()
    }

    pub fn is_empty(&self) -> bool {
        self.wire.len() <= HEADER_LEN
    }

    /// The answer for `reply`, its TTLs lowered by `age` seconds (never
    /// below zero), or all set to `ttl_override` (serve-stale).
    pub fn render(&self, reply: &Reply<'_>, age: u32, ttl_override: Option<u32>) -> Vec<u8> {
        let opt_len = reply.edns.map_or(0, Edns::wire_len);
        if self.wire.len() + opt_len > reply.limit {
            return minimal(reply, self.wire[3] & 0x0f, true);
        }
        let mut out = Vec::with_capacity(self.wire.len() + opt_len);
        out.extend_from_slice(&self.wire);
        out[0..2].copy_from_slice(&reply.id.to_be_bytes());
        out[2] = (out[2] & !0x01) | reply.rd as u8;
        out[3] = (out[3] & !0x10) | ((reply.cd as u8) << 4);
        let qname = reply.question.name.as_wire();
        if qname.len() == self.qname_len {
            out[HEADER_LEN..HEADER_LEN + qname.len()].copy_from_slice(qname);
        }
        for &(off, ttl) in self.ttls.iter() {
            let off = off as usize;
            let now = ttl_override.unwrap_or_else(|| ttl.saturating_sub(age));
            out[off..off + 4].copy_from_slice(&now.to_be_bytes());
        }
        if let Some(e) = reply.edns {
            push_opt(&mut out, e);
        }
        out
    }
}

/// Offsets of every record's TTL in a message we wrote ourselves, whose
/// question name is uncompressed and `qname_len` long.
fn ttl_offsets(wire: &[u8], qname_len: usize) -> Option<Vec<(u32, u32)>> {
    let count = |i: usize| u16::from_be_bytes([wire[i], wire[i + 1]]) as usize;
    let records = count(6) + count(8) + count(10);
    let mut pos = HEADER_LEN + qname_len + 4;
    let mut out = Vec::with_capacity(records);
    for _ in 0..records {
        let (_, p) = read_name(wire, pos).ok()?;
        let fixed = wire.get(p..p + 10)?;
        let ttl = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
        let rdlen = u16::from_be_bytes([fixed[8], fixed[9]]) as usize;
        out.push((u32::try_from(p + 4).ok()?, ttl));
        pos = p + 10 + rdlen;
    }
    (pos == wire.len()).then_some(out)
}

/// How one client is to be answered.
#[derive(Clone, Copy, Debug)]
pub struct Reply<'a> {
    pub id: u16,
    pub rd: bool,
    pub cd: bool,
    /// The question as the client wrote it (its case is echoed).
    pub question: &'a Question,
    /// The OPT record to answer with, if the client sent one.
    pub edns: Option<&'a Edns>,
    /// The largest response the client takes.
    pub limit: usize,
}

/// An answer with no records and `rcode` (SERVFAIL when every upstream
/// failed and nothing stale is at hand, REFUSED, ...).
pub fn error(reply: &Reply<'_>, rcode: Rcode) -> Vec<u8> {
    minimal(reply, rcode.to_int(), false)
}

fn minimal(reply: &Reply<'_>, rcode: u8, tc: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&reply.id.to_be_bytes());
    out.push(0x80 | (tc as u8) << 1 | reply.rd as u8);
    out.push(0x80 | (reply.cd as u8) << 4 | (rcode & 0x0f));
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(reply.question.name.as_wire());
    out.extend_from_slice(&reply.question.qtype.to_int().to_be_bytes());
    out.extend_from_slice(&reply.question.qclass.to_int().to_be_bytes());
    if let Some(e) = reply.edns {
        push_opt(&mut out, e);
    }
    out
}

/// Appends an OPT record and counts it in ARCOUNT.
fn push_opt(out: &mut Vec<u8>, e: &Edns) {
    out.push(0);
    out.extend_from_slice(&Rtype::OPT.to_int().to_be_bytes());
    out.extend_from_slice(&e.udp_size.to_be_bytes());
    out.push(e.ext_rcode);
    out.push(e.version);
    out.push(if e.dnssec_ok { 0x80 } else { 0 });
    out.push(0);
    let len: usize = e.options.iter().map(|(_, d)| 4 + d.len()).sum();
    out.extend_from_slice(&(len as u16).to_be_bytes());
    for (code, data) in &e.options {
        out.extend_from_slice(&code.to_be_bytes());
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(data);
    }
    let ar = u16::from_be_bytes([out[10], out[11]]).wrapping_add(1);
    out[10..12].copy_from_slice(&ar.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_dns_wire::{Class, Name, Record};

    fn key(name: &str, qtype: Rtype) -> Key {
        Key {
            name: name.parse().unwrap(),
            qtype,
            qclass: Class::IN,
            dnssec_ok: false,
            checking_disabled: false,
        }
    }

    fn response(k: &Key, id: u16, rcode: Rcode) -> Message {
        Message {
            header: Header {
                id,
                qr: true,
                rd: true,
                ra: true,
                rcode,
                ..Header::default()
            },
            questions: vec![k.question()],
            ..Default::default()
        }
    }

    fn soa(owner: &str, ttl: u32, minimum: u32) -> Record {
        let s = Soa {
            mname: "ns.example.".parse().unwrap(),
            rname: "h.example.".parse().unwrap(),
            serial: 1,
            refresh: 2,
            retry: 3,
            expire: 4,
            minimum,
        };
        Record::new(
            owner.parse().unwrap(),
            Rtype::SOA,
            Class::IN,
            ttl,
            s.to_rdata(),
        )
    }

    #[test]
    fn checks_id_question_and_rcode() {
        let k = key("www.example.", Rtype::A);
        let ok = response(&k, 7, Rcode::NOERROR).to_wire();
        assert!(check_response(&k, 7, &ok).is_ok());
        assert_eq!(check_response(&k, 8, &ok).unwrap_err(), Reject::NotOurs);
        let other = key("ftp.example.", Rtype::A);
        assert_eq!(check_response(&other, 7, &ok).unwrap_err(), Reject::NotOurs);
        let fail = response(&k, 7, Rcode::SERVFAIL).to_wire();
        assert_eq!(check_response(&k, 7, &fail).unwrap_err(), Reject::Rcode(2));
        let mut tc = ok.clone();
        tc[2] |= 0x02;
        assert_eq!(check_response(&k, 7, &tc).unwrap_err(), Reject::Truncated);
        assert_eq!(
            check_response(&k, 7, &ok[..ok.len() - 1]).unwrap_err(),
            Reject::Malformed
        );
        // Upper-case question in the response still matches.
        let mut upper = ok.clone();
        upper[13] = b'W';
        assert!(check_response(&k, 7, &upper).is_ok());
    }

    #[test]
    fn negative_ttl_is_the_soa_minimum_capped() {
        let k = key("nx.example.", Rtype::A);
        let mut m = response(&k, 1, Rcode::NXDOMAIN);
        m.authority.push(soa("example.", 3600, 300));
        let t = Template::new(&k, &m, &TtlLimits::default()).unwrap();
        assert!(t.negative);
        assert_eq!(t.ttl, 300);
        let limits = TtlLimits {
            max_negative_ttl: 60,
            ..TtlLimits::default()
        };
        assert_eq!(Template::new(&k, &m, &limits).unwrap().ttl, 60);
        // Without a SOA, a negative answer is not cached (RFC 2308 §5).
        let bare = response(&k, 1, Rcode::NXDOMAIN);
        assert_eq!(Template::new(&k, &bare, &limits).unwrap().ttl, 0);
    }

    #[test]
    fn render_patches_id_case_ttls_and_truncates() {
        let k = key("www.example.", Rtype::A);
        let mut m = response(&k, 1, Rcode::NOERROR);
        m.answers.push(Record::new(
            "www.example.".parse().unwrap(),
            Rtype::A,
            Class::IN,
            300,
            vec![192, 0, 2, 1],
        ));
        let t = Template::new(&k, &m, &TtlLimits::default()).unwrap();
        assert_eq!(t.ttl, 300);
        let q = Question {
            name: "WWW.Example.".parse::<Name>().unwrap(),
            qtype: Rtype::A,
            qclass: Class::IN,
        };
        let edns = Edns::new(1232);
        let reply = Reply {
            id: 0xbeef,
            rd: true,
            cd: false,
            question: &q,
            edns: Some(&edns),
            limit: 512,
        };
        let out = Message::parse(&t.render(&reply, 10, None)).unwrap();
        assert_eq!(out.header.id, 0xbeef);
        assert!(out.header.ra && out.header.rd && !out.header.aa);
        assert_eq!(out.questions[0].name.as_wire(), q.name.as_wire());
        assert_eq!(out.answers[0].ttl, 290);
        assert_eq!(out.edns.as_ref().unwrap().udp_size, 1232);
        let stale = Message::parse(&t.render(&reply, 1000, Some(30))).unwrap();
        assert_eq!(stale.answers[0].ttl, 30);
        let old = Message::parse(&t.render(&reply, 1000, None)).unwrap();
        assert_eq!(old.answers[0].ttl, 0);
        let tiny = Reply { limit: 40, ..reply };
        let tc = Message::parse(&t.render(&tiny, 0, None)).unwrap();
        assert!(tc.header.tc);
        assert!(tc.answers.is_empty());
    }
}
