//! Whole DNS messages: parsing with bounds checks, and a writer with name
//! compression and a size limit.

use std::collections::HashMap;

use bytes::Bytes;
use domain::base::iana::{Class, Opcode, Rcode, Rtype};

use crate::name::{Name, MAX_NAME_LEN};
use crate::rdata;
use crate::record::Record;

/// Size of the fixed message header.
pub const HEADER_LEN: usize = 12;

/// Why a message could not be parsed. Each maps to FORMERR when answering.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("message is truncated")]
    Truncated,
    #[error("compression pointer does not point backwards")]
    BadPointer,
    #[error("bad label type {0:#04x}")]
    BadLabel(u8),
    #[error("name is longer than 255 octets")]
    NameTooLong,
    #[error("malformed {0} record data")]
    BadRdata(Rtype),
    #[error("more than one OPT record")]
    DuplicateOpt,
    #[error("OPT record is not owned by the root name")]
    BadOpt,
    #[error("TSIG record is not the last record")]
    TsigNotLast,
    #[error("{0} bytes after the end of the message")]
    TrailingData(usize),
}

/// The fixed header of a message (RFC 1035 §4.1.1). `rcode` holds only the
/// low four bits; the extended bits travel in [`Edns`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub id: u16,
    pub qr: bool,
    pub opcode: Opcode,
    pub aa: bool,
    pub tc: bool,
    pub rd: bool,
    pub ra: bool,
    pub ad: bool,
    pub cd: bool,
    pub rcode: Rcode,
}

impl Default for Header {
    fn default() -> Self {
        Header {
            id: 0,
            qr: false,
            opcode: Opcode::QUERY,
            aa: false,
            tc: false,
            rd: false,
            ra: false,
            ad: false,
            cd: false,
            rcode: Rcode::NOERROR,
        }
    }
}

impl Header {
    pub fn flags(&self) -> u16 {
        (self.qr as u16) << 15
            | ((self.opcode.to_int() as u16) & 0xf) << 11
            | (self.aa as u16) << 10
            | (self.tc as u16) << 9
            | (self.rd as u16) << 8
            | (self.ra as u16) << 7
            | (self.ad as u16) << 5
            | (self.cd as u16) << 4
            | (self.rcode.to_int() as u16 & 0xf)
    }

    pub fn from_bytes(id: u16, flags: u16) -> Header {
        Header {
            id,
            qr: flags & 0x8000 != 0,
            opcode: Opcode::from_int(((flags >> 11) & 0xf) as u8),
            aa: flags & 0x0400 != 0,
            tc: flags & 0x0200 != 0,
            rd: flags & 0x0100 != 0,
            ra: flags & 0x0080 != 0,
            ad: flags & 0x0020 != 0,
            cd: flags & 0x0010 != 0,
            rcode: Rcode::masked_from_int((flags & 0xf) as u8),
        }
    }
}

/// One entry of the question section (the zone section of an UPDATE).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    pub name: Name,
    pub qtype: Rtype,
    pub qclass: Class,
}

/// EDNS(0) parameters carried in the OPT pseudo-record (RFC 6891).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edns {
    /// The sender's UDP payload size.
    pub udp_size: u16,
    /// Upper eight bits of the extended RCODE.
    pub ext_rcode: u8,
    pub version: u8,
    /// The DO bit (RFC 3225).
    pub dnssec_ok: bool,
    /// Options as (code, data), in order.
    pub options: Vec<(u16, Bytes)>,
}

impl Edns {
    pub fn new(udp_size: u16) -> Edns {
        Edns {
            udp_size,
            ext_rcode: 0,
            version: 0,
            dnssec_ok: false,
            options: Vec::new(),
        }
    }

    /// Wire length of the OPT record this writes.
    pub fn wire_len(&self) -> usize {
        11 + self.options.iter().map(|(_, d)| 4 + d.len()).sum::<usize>()
    }
}

/// A TSIG record found at the end of the additional section, with where it
/// began, which TSIG verification needs (RFC 8945 §4.3.3).
#[derive(Clone, Debug)]
pub struct TsigRecord {
    pub record: Record,
    /// Offset of the TSIG record's first byte in the received message.
    pub offset: usize,
}

/// The four record sections, named as in RFC 1035 (an UPDATE's zone,
/// prerequisite and update sections occupy the same places).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    Answer,
    Authority,
    Additional,
}

/// A parsed DNS message.
#[derive(Clone, Debug, Default)]
pub struct Message {
    pub header: Header,
    pub questions: Vec<Question>,
    pub answers: Vec<Record>,
    pub authority: Vec<Record>,
    /// Additional records other than OPT and TSIG.
    pub additional: Vec<Record>,
    pub edns: Option<Edns>,
    pub tsig: Option<TsigRecord>,
}

/// Reads a possibly compressed name at `pos` in `msg`. Returns the name and
/// the position just after it in the original data. Pointers must point
/// strictly backwards from the label that holds them, so a loop is
/// impossible and the work is bounded by the message length.
pub fn read_name(msg: &[u8], pos: usize) -> Result<(Name, usize), WireError> {
    let mut out = Vec::with_capacity(32);
    let mut cursor = pos;
    let mut end_of_name: Option<usize> = None;
    loop {
        let len = *msg.get(cursor).ok_or(WireError::Truncated)?;
        match len & 0xc0 {
            0x00 => {
                let len = len as usize;
                if len == 0 {
                    out.push(0);
                    if out.len() > MAX_NAME_LEN {
                        return Err(WireError::NameTooLong);
                    }
                    let next = end_of_name.unwrap_or(cursor + 1);
                    // The bytes were checked label by label above.
                    let name = Name::from_wire(out).map_err(|_| WireError::NameTooLong)?;
                    return Ok((name, next));
                }
                let label = msg
                    .get(cursor + 1..cursor + 1 + len)
                    .ok_or(WireError::Truncated)?;
                out.push(len as u8);
                out.extend_from_slice(label);
                if out.len() >= MAX_NAME_LEN {
                    return Err(WireError::NameTooLong);
                }
                cursor += 1 + len;
            }
            0xc0 => {
                let lo = *msg.get(cursor + 1).ok_or(WireError::Truncated)?;
                let target = (((len & 0x3f) as usize) << 8) | lo as usize;
                if target >= cursor {
                    return Err(WireError::BadPointer);
                }
                if end_of_name.is_none() {
                    end_of_name = Some(cursor + 2);
                }
                cursor = target;
            }
            _ => return Err(WireError::BadLabel(len)),
        }
    }
}

fn read_u16(msg: &[u8], pos: usize) -> Result<u16, WireError> {
    msg.get(pos..pos + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .ok_or(WireError::Truncated)
}

fn read_u32(msg: &[u8], pos: usize) -> Result<u32, WireError> {
    msg.get(pos..pos + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or(WireError::Truncated)
}

/// Reads one resource record at `pos`; returns it and the next position.
pub fn read_record(msg: &[u8], pos: usize) -> Result<(Record, usize), WireError> {
    let (owner, p) = read_name(msg, pos)?;
    let rtype = Rtype::from_int(read_u16(msg, p)?);
    let class = Class::from_int(read_u16(msg, p + 2)?);
    let ttl = read_u32(msg, p + 4)?;
    let rdlen = read_u16(msg, p + 8)? as usize;
    let start = p + 10;
    if start + rdlen > msg.len() {
        return Err(WireError::Truncated);
    }
    // Empty data is legal in UPDATE deletes and prerequisites (RFC 2136 §2.4).
    let data = if rdlen == 0 {
        Bytes::new()
    } else {
        rdata::read_rdata(rtype, msg, start, rdlen)?
    };
    Ok((
        Record {
            owner,
            rtype,
            class,
            ttl,
            rdata: data,
        },
        start + rdlen,
    ))
}

impl Message {
    /// Parses a whole message. Never panics; malformed input is an error.
    pub fn parse(msg: &[u8]) -> Result<Message, WireError> {
        if msg.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let header = Header::from_bytes(read_u16(msg, 0)?, read_u16(msg, 2)?);
        let counts = [
            read_u16(msg, 4)?,
            read_u16(msg, 6)?,
            read_u16(msg, 8)?,
            read_u16(msg, 10)?,
        ];
        // Every question takes at least 5 bytes and every record 11; reject
        // counts the message cannot hold before allocating for them.
        let min = counts[0] as usize * 5
            + (counts[1] as usize + counts[2] as usize + counts[3] as usize) * 11;
        if HEADER_LEN + min > msg.len() {
            return Err(WireError::Truncated);
        }
        let mut m = Message {
            header,
            ..Default::default()
        };
        let mut pos = HEADER_LEN;
        for _ in 0..counts[0] {
            let (name, p) = read_name(msg, pos)?;
            let qtype = Rtype::from_int(read_u16(msg, p)?);
            let qclass = Class::from_int(read_u16(msg, p + 2)?);
            m.questions.push(Question {
                name,
                qtype,
                qclass,
            });
            pos = p + 4;
        }
        for (section, count) in [(0, counts[1]), (1, counts[2]), (2, counts[3])] {
            for i in 0..count {
                let start = pos;
                let (rec, next) = read_record(msg, pos)?;
                pos = next;
                if section == 2 && rec.rtype == Rtype::OPT {
                    if m.edns.is_some() {
                        return Err(WireError::DuplicateOpt);
                    }
                    if !rec.owner.is_root() {
                        return Err(WireError::BadOpt);
                    }
                    m.edns = Some(parse_opt(&rec)?);
                    continue;
                }
                if section == 2 && rec.rtype == Rtype::TSIG {
                    if i + 1 != count {
                        return Err(WireError::TsigNotLast);
                    }
                    m.tsig = Some(TsigRecord {
                        record: rec,
                        offset: start,
                    });
                    continue;
                }
                match section {
                    0 => m.answers.push(rec),
                    1 => m.authority.push(rec),
                    _ => m.additional.push(rec),
                }
            }
        }
        if pos != msg.len() {
            return Err(WireError::TrailingData(msg.len() - pos));
        }
        Ok(m)
    }

    /// The full (extended) response code.
    pub fn rcode(&self) -> u16 {
        let ext = self.edns.as_ref().map_or(0, |e| e.ext_rcode as u16);
        ext << 4 | self.header.rcode.to_int() as u16
    }

    /// The first question, if any.
    pub fn question(&self) -> Option<&Question> {
        self.questions.first()
    }

    /// Encodes the message without a size limit. TSIG is not written; sign
    /// the result with [`crate::tsig`] instead.
    pub fn to_wire(&self) -> Vec<u8> {
        let mut w = MessageWriter::new(self.header, usize::MAX);
        for q in &self.questions {
            w.push_question(q);
        }
        for (section, records) in [
            (Section::Answer, &self.answers),
            (Section::Authority, &self.authority),
            (Section::Additional, &self.additional),
        ] {
            for r in records {
                // Cannot fail without a limit.
                let _ = w.push(section, r);
            }
        }
        if let Some(edns) = &self.edns {
            let _ = w.push_edns(edns);
        }
        w.finish()
    }
}

fn parse_opt(rec: &Record) -> Result<Edns, WireError> {
    let mut options = Vec::new();
    let data = &rec.rdata;
    let mut p = 0;
    while p < data.len() {
        let code = read_u16(data, p).map_err(|_| WireError::BadOpt)?;
        let len = read_u16(data, p + 2).map_err(|_| WireError::BadOpt)? as usize;
        let value = data.get(p + 4..p + 4 + len).ok_or(WireError::BadOpt)?;
        options.push((code, Bytes::copy_from_slice(value)));
        p += 4 + len;
    }
    Ok(Edns {
        udp_size: rec.class.to_int(),
        ext_rcode: (rec.ttl >> 24) as u8,
        version: (rec.ttl >> 16) as u8,
        dnssec_ok: rec.ttl & 0x8000 != 0,
        options,
    })
}

/// The record did not fit under the writer's size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("message size limit reached")]
pub struct Full;

/// Writes a message section by section, compressing names, and refuses any
/// record that would take the message past `limit` bytes (the caller then
/// sets TC or stops adding optional records).
pub struct MessageWriter {
    buf: Vec<u8>,
    limit: usize,
    /// Name suffix (exact case) → offset of its first occurrence.
    names: HashMap<Box<[u8]>, u16>,
    counts: [u16; 4],
    /// Bytes kept free at the end for the OPT record (and a TSIG).
    reserved: usize,
}

impl MessageWriter {
    pub fn new(header: Header, limit: usize) -> MessageWriter {
        let mut buf = Vec::with_capacity(512.min(limit));
        buf.extend_from_slice(&header.id.to_be_bytes());
        buf.extend_from_slice(&header.flags().to_be_bytes());
        buf.extend_from_slice(&[0; 8]);
        MessageWriter {
            buf,
            limit: limit.max(HEADER_LEN),
            names: HashMap::new(),
            counts: [0; 4],
            reserved: 0,
        }
    }

    /// Keeps `n` bytes free at the end of the limit for trailing pseudo
    /// records (OPT, TSIG) written later.
    pub fn reserve(&mut self, n: usize) {
        self.reserved = n;
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.len() <= HEADER_LEN
    }

    /// Sets or clears the TC bit.
    pub fn set_tc(&mut self, tc: bool) {
        if tc {
            self.buf[2] |= 0x02;
        } else {
            self.buf[2] &= !0x02;
        }
    }

    /// Replaces the RCODE (low four bits).
    pub fn set_rcode(&mut self, rcode: Rcode) {
        self.buf[3] = (self.buf[3] & 0xf0) | (rcode.to_int() & 0xf);
    }

    /// Section counts written so far: question, answer, authority, additional.
    pub fn counts(&self) -> [u16; 4] {
        self.counts
    }

    pub(crate) fn put_bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    /// Writes a name, compressed against earlier names if `compress`.
    pub(crate) fn put_name(&mut self, name: &Name, compress: bool) {
        let wire = name.as_wire();
        let mut pos = 0;
        while wire[pos] != 0 {
            let suffix = &wire[pos..];
            // Case-sensitive, so every name keeps the case it was written
            // with (a zone's owner names, a client's question), as BIND does.
            let key: Box<[u8]> = suffix.into();
            if compress {
                if let Some(&off) = self.names.get(&key) {
                    self.buf.extend_from_slice(&(0xc000 | off).to_be_bytes());
                    return;
                }
            }
            let here = self.buf.len();
            if here < 0x3fff {
                self.names.entry(key).or_insert(here as u16);
            }
            let len = wire[pos] as usize;
            self.buf.extend_from_slice(&wire[pos..pos + 1 + len]);
            pos += 1 + len;
        }
        self.buf.push(0);
    }

    fn set_count(&mut self, idx: usize) {
        self.counts[idx] += 1;
        let off = 4 + idx * 2;
        self.buf[off..off + 2].copy_from_slice(&self.counts[idx].to_be_bytes());
    }

    pub fn push_question(&mut self, q: &Question) {
        self.put_name(&q.name, true);
        self.buf.extend_from_slice(&q.qtype.to_int().to_be_bytes());
        self.buf.extend_from_slice(&q.qclass.to_int().to_be_bytes());
        self.set_count(0);
    }

    /// Appends a record, or leaves the message unchanged and returns
    /// [`Full`] if it would not fit.
    pub fn push(&mut self, section: Section, r: &Record) -> Result<(), Full> {
        self.push_with_ttl(section, r, r.ttl)
    }

    /// Appends a record with a different TTL (negative answers, caches).
    pub fn push_with_ttl(&mut self, section: Section, r: &Record, ttl: u32) -> Result<(), Full> {
        let mark = self.buf.len();
        let names_before = self.names.len();
        self.put_name(&r.owner, true);
        self.buf.extend_from_slice(&r.rtype.to_int().to_be_bytes());
        self.buf.extend_from_slice(&r.class.to_int().to_be_bytes());
        self.buf.extend_from_slice(&ttl.to_be_bytes());
        let len_at = self.buf.len();
        self.buf.extend_from_slice(&[0, 0]);
        rdata::write_rdata(self, r.rtype, &r.rdata);
        let rdlen = self.buf.len() - len_at - 2;
        if self.buf.len() + self.reserved > self.limit || rdlen > u16::MAX as usize {
            self.buf.truncate(mark);
            if self.names.len() != names_before {
                self.names.retain(|_, off| (*off as usize) < mark);
            }
            return Err(Full);
        }
        self.buf[len_at..len_at + 2].copy_from_slice(&(rdlen as u16).to_be_bytes());
        let idx = match section {
            Section::Answer => 1,
            Section::Authority => 2,
            Section::Additional => 3,
        };
        self.set_count(idx);
        Ok(())
    }

    /// Appends the OPT record. Written last-but-TSIG; its space is the
    /// reserved space, so it only fails if the limit is below 23 bytes.
    pub fn push_edns(&mut self, edns: &Edns) -> Result<(), Full> {
        if self.buf.len() + edns.wire_len() > self.limit {
            return Err(Full);
        }
        self.buf.push(0);
        self.buf
            .extend_from_slice(&Rtype::OPT.to_int().to_be_bytes());
        self.buf.extend_from_slice(&edns.udp_size.to_be_bytes());
        let ttl = (edns.ext_rcode as u32) << 24
            | (edns.version as u32) << 16
            | if edns.dnssec_ok { 0x8000 } else { 0 };
        self.buf.extend_from_slice(&ttl.to_be_bytes());
        let len: usize = edns.options.iter().map(|(_, d)| 4 + d.len()).sum();
        self.buf.extend_from_slice(&(len as u16).to_be_bytes());
        for (code, data) in &edns.options {
            self.buf.extend_from_slice(&code.to_be_bytes());
            self.buf
                .extend_from_slice(&(data.len() as u16).to_be_bytes());
            self.buf.extend_from_slice(data);
        }
        self.set_count(3);
        Ok(())
    }

    /// Appends a record with no compression and no limit check (TSIG).
    pub fn push_raw_additional(&mut self, r: &Record) {
        self.buf.extend_from_slice(r.owner.as_wire());
        self.buf.extend_from_slice(&r.rtype.to_int().to_be_bytes());
        self.buf.extend_from_slice(&r.class.to_int().to_be_bytes());
        self.buf.extend_from_slice(&r.ttl.to_be_bytes());
        self.buf
            .extend_from_slice(&(r.rdata.len() as u16).to_be_bytes());
        self.buf.extend_from_slice(&r.rdata);
        self.set_count(3);
    }

    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn name(s: &str) -> Name {
        s.parse().unwrap()
    }

    fn sample() -> Message {
        let mut m = Message {
            header: Header {
                id: 0x1234,
                qr: true,
                aa: true,
                rd: true,
                ..Header::default()
            },
            ..Default::default()
        };
        m.questions.push(Question {
            name: name("www.Home."),
            qtype: Rtype::A,
            qclass: Class::IN,
        });
        m.answers.push(Record::new(
            name("www.home."),
            Rtype::CNAME,
            Class::IN,
            300,
            name("host.home.").to_bytes(),
        ));
        m.answers.push(Record::new(
            name("host.home."),
            Rtype::A,
            Class::IN,
            300,
            vec![192, 168, 0, 10],
        ));
        m.authority.push(Record::new(
            name("home."),
            Rtype::NS,
            Class::IN,
            3600,
            name("ns1.home.").to_bytes(),
        ));
        let mx = [&[0u8, 10][..], name("mail.home.").as_wire()].concat();
        m.additional
            .push(Record::new(name("home."), Rtype::MX, Class::IN, 3600, mx));
        m.edns = Some(Edns {
            dnssec_ok: true,
            ..Edns::new(1232)
        });
        m
    }

    #[test]
    fn round_trip_with_compression() {
        let m = sample();
        let wire = m.to_wire();
        let back = Message::parse(&wire).unwrap();
        assert_eq!(back.header, m.header);
        assert_eq!(back.questions, m.questions);
        assert_eq!(back.answers.len(), 2);
        assert!(back.answers[0].same_rr(&m.answers[0]));
        assert!(back.additional[0].same_rr(&m.additional[0]));
        assert_eq!(back.edns, m.edns);
        // Compression made it shorter than the sum of uncompressed names.
        assert!(wire.len() < 140, "{}", wire.len());
    }

    #[test]
    fn pointer_loops_are_rejected() {
        // Header with one question whose name is a pointer to itself.
        let mut msg = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        msg.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        assert_eq!(Message::parse(&msg).unwrap_err(), WireError::BadPointer);
        // Forward pointer.
        let mut msg = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        msg.extend_from_slice(&[0xc0, 20, 0, 1, 0, 1, 0, 0]);
        assert!(Message::parse(&msg).is_err());
    }

    #[test]
    fn counts_larger_than_the_message_are_rejected() {
        let msg = [0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];
        assert_eq!(Message::parse(&msg).unwrap_err(), WireError::Truncated);
    }

    #[test]
    fn limit_refuses_records_that_do_not_fit() {
        let m = sample();
        let mut w = MessageWriter::new(m.header, 60);
        w.push_question(&m.questions[0]);
        let mut pushed = 0;
        for r in &m.answers {
            if w.push(Section::Answer, r).is_ok() {
                pushed += 1;
            }
        }
        let wire = w.finish();
        assert!(wire.len() <= 60);
        let back = Message::parse(&wire).unwrap();
        assert_eq!(back.answers.len(), pushed);
    }

    fn arb_name() -> impl Strategy<Value = Name> {
        proptest::collection::vec("[a-zA-Z0-9-]{1,10}", 0..4)
            .prop_map(|labels| Name::from_labels(labels.iter().map(|l| l.as_bytes())).unwrap())
    }

    fn arb_record() -> impl Strategy<Value = Record> {
        let data = prop_oneof![
            proptest::collection::vec(any::<u8>(), 4).prop_map(|d| (Rtype::A, Bytes::from(d))),
            arb_name().prop_map(|n| (Rtype::NS, n.to_bytes())),
            arb_name().prop_map(|n| (Rtype::PTR, n.to_bytes())),
            (any::<u16>(), arb_name()).prop_map(|(p, n)| (
                Rtype::MX,
                Bytes::from([&p.to_be_bytes()[..], n.as_wire()].concat())
            )),
            proptest::collection::vec(any::<u8>(), 0..40)
                .prop_map(|d| (Rtype::from_int(65280), Bytes::from(d))),
        ];
        (arb_name(), any::<u32>(), data).prop_map(|(owner, ttl, (rtype, rdata))| {
            Record::new(owner, rtype, Class::IN, ttl, rdata)
        })
    }

    proptest! {
        #[test]
        fn encode_parse_round_trip(
            id in any::<u16>(),
            qname in arb_name(),
            answers in proptest::collection::vec(arb_record(), 0..6),
            additional in proptest::collection::vec(arb_record(), 0..3),
            edns in proptest::option::of(512u16..4096),
        ) {
            let m = Message {
                header: Header { id, qr: true, ..Header::default() },
                questions: vec![Question { name: qname, qtype: Rtype::A, qclass: Class::IN }],
                answers,
                additional,
                edns: edns.map(Edns::new),
                ..Default::default()
            };
            let wire = m.to_wire();
            let back = Message::parse(&wire).unwrap();
            prop_assert_eq!(&back.questions, &m.questions);
            prop_assert_eq!(back.answers.len(), m.answers.len());
            for (a, b) in back.answers.iter().zip(&m.answers) {
                prop_assert!(a.same_rr(b));
                prop_assert_eq!(a.ttl, b.ttl);
            }
            prop_assert_eq!(&back.edns, &m.edns);
            // Re-encoding the parsed message gives the same bytes.
            prop_assert_eq!(back.to_wire(), wire);
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = Message::parse(&bytes);
        }
    }
}
