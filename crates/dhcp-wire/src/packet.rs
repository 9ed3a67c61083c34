//! The DHCPv4 message (RFC 2131 §2): the fixed BOOTP header, the magic
//! cookie and the options, with option overload (RFC 2131 §4.1, option 52)
//! and long-option concatenation (RFC 3396) handled in both directions.
//!
//! Parsing is all-or-nothing: a packet whose options are malformed is an
//! error, never a half-read message with the rest silently missing.

use std::net::Ipv4Addr;

use crate::code;

/// Length of the fixed header before the magic cookie.
pub const HEADER_LEN: usize = 236;
/// The magic cookie that starts the options (RFC 2131 §3).
pub const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];
/// The smallest DHCP message a client must accept without option 57: the
/// 576-byte IP datagram of RFC 2131 less IP and UDP headers.
pub const DEFAULT_MAX_MESSAGE: usize = 548;
/// Replies are padded to this size, the BOOTP minimum some clients expect.
pub const MIN_REPLY_LEN: usize = 300;

const SNAME: std::ops::Range<usize> = 44..108;
const FILE: std::ops::Range<usize> = 108..236;

pub const BOOTREQUEST: u8 = 1;
pub const BOOTREPLY: u8 = 2;
/// The broadcast bit of `flags` (RFC 2131 §2).
pub const FLAG_BROADCAST: u16 = 0x8000;

/// Why a packet was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("packet of {0} bytes is shorter than the 240-byte minimum")]
    TooShort(usize),
    #[error("no DHCP magic cookie (a BOOTP packet)")]
    NoCookie,
    #[error("hardware address length {0} is more than 16")]
    BadHlen(u8),
    #[error("option {code} at offset {offset} in the {area} field runs past its end")]
    TruncatedOption {
        code: u8,
        offset: usize,
        area: &'static str,
    },
    #[error("option overload (52) has value {0}, not 1, 2 or 3")]
    BadOverload(u8),
    #[error("option overload (52) has length {0}, not 1")]
    BadOverloadLen(usize),
}

/// The options of a message, in the order they were first seen, each code
/// once (repeated instances concatenated per RFC 3396).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    items: Vec<(u8, Vec<u8>)>,
}

impl Options {
    pub fn new() -> Options {
        Options::default()
    }

    pub fn get(&self, code: u8) -> Option<&[u8]> {
        self.items
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, v)| v.as_slice())
    }

    /// Sets `code`, replacing any earlier value but keeping its position.
    pub fn set(&mut self, code: u8, value: Vec<u8>) {
        match self.items.iter_mut().find(|(c, _)| *c == code) {
            Some(slot) => slot.1 = value,
            None => self.items.push((code, value)),
        }
    }

    /// Appends to `code` (RFC 3396: a repeated option is one long option).
    fn append(&mut self, code: u8, data: &[u8]) {
        match self.items.iter_mut().find(|(c, _)| *c == code) {
            Some(slot) => slot.1.extend_from_slice(data),
            None => self.items.push((code, data.to_vec())),
        }
    }

    pub fn remove(&mut self, code: u8) -> Option<Vec<u8>> {
        let i = self.items.iter().position(|(c, _)| *c == code)?;
        Some(self.items.remove(i).1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (u8, &[u8])> {
        self.items.iter().map(|(c, v)| (*c, v.as_slice()))
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The single byte of a one-byte option, if it is exactly that.
    pub fn u8(&self, code: u8) -> Option<u8> {
        match self.get(code)? {
            [b] => Some(*b),
            _ => None,
        }
    }

    pub fn u16(&self, code: u8) -> Option<u16> {
        let v: [u8; 2] = self.get(code)?.try_into().ok()?;
        Some(u16::from_be_bytes(v))
    }

    pub fn u32(&self, code: u8) -> Option<u32> {
        let v: [u8; 4] = self.get(code)?.try_into().ok()?;
        Some(u32::from_be_bytes(v))
    }

    pub fn ip(&self, code: u8) -> Option<Ipv4Addr> {
        let v: [u8; 4] = self.get(code)?.try_into().ok()?;
        Some(Ipv4Addr::from(v))
    }
}

impl FromIterator<(u8, Vec<u8>)> for Options {
    fn from_iter<I: IntoIterator<Item = (u8, Vec<u8>)>>(iter: I) -> Options {
        let mut o = Options::new();
        for (c, v) in iter {
            o.append(c, &v);
        }
        o
    }
}

/// One DHCP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub op: u8,
    pub htype: u8,
    pub hlen: u8,
    pub hops: u8,
    pub xid: u32,
    pub secs: u16,
    pub flags: u16,
    pub ciaddr: Ipv4Addr,
    pub yiaddr: Ipv4Addr,
    pub siaddr: Ipv4Addr,
    pub giaddr: Ipv4Addr,
    pub chaddr: [u8; 16],
    /// Server host name; empty when the field carried options.
    pub sname: Vec<u8>,
    /// Boot file name; empty when the field carried options.
    pub file: Vec<u8>,
    pub options: Options,
}

/// What [`Packet::encode`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub bytes: Vec<u8>,
    /// Codes of options that did not fit anywhere and were left out.
    pub dropped: Vec<u8>,
}

impl Packet {
    /// An empty reply to `req`: same xid, flags, giaddr, chaddr and hardware
    /// type, as RFC 2131 table 3 requires.
    pub fn reply_to(req: &Packet) -> Packet {
        Packet {
            op: BOOTREPLY,
            htype: req.htype,
            hlen: req.hlen,
            hops: 0,
            xid: req.xid,
            secs: 0,
            flags: req.flags,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: req.giaddr,
            chaddr: req.chaddr,
            sname: Vec::new(),
            file: Vec::new(),
            options: Options::new(),
        }
    }

    /// A client's BOOTREQUEST of type `mt` from Ethernet address `hw`,
    /// with option 53 only and every address zero: what a client without
    /// an address sends, and the starting point of tests and tools.
    pub fn client_request(mt: crate::MessageType, hw: [u8; 6], xid: u32) -> Packet {
        let mut chaddr = [0u8; 16];
        chaddr[..6].copy_from_slice(&hw);
        let mut options = Options::new();
        options.set(code::MESSAGE_TYPE, vec![mt as u8]);
        Packet {
            op: BOOTREQUEST,
            htype: 1,
            hlen: 6,
            hops: 0,
            xid,
            secs: 0,
            flags: 0,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: Ipv4Addr::UNSPECIFIED,
            chaddr,
            sname: Vec::new(),
            file: Vec::new(),
            options,
        }
    }

    /// The client hardware address (`hlen` octets of `chaddr`).
    pub fn hw_addr(&self) -> &[u8] {
        &self.chaddr[..usize::from(self.hlen.min(16))]
    }

    pub fn broadcast(&self) -> bool {
        self.flags & FLAG_BROADCAST != 0
    }

    /// The DHCP message type (option 53), if present and one byte.
    pub fn message_type(&self) -> Option<u8> {
        self.options.u8(code::MESSAGE_TYPE)
    }

    /// Reads a message. Any malformed option makes the whole packet an error.
    pub fn parse(buf: &[u8]) -> Result<Packet, ParseError> {
        if buf.len() < HEADER_LEN + 4 {
            return Err(ParseError::TooShort(buf.len()));
        }
        if buf[HEADER_LEN..HEADER_LEN + 4] != MAGIC_COOKIE {
            return Err(ParseError::NoCookie);
        }
        let ip = |at: usize| Ipv4Addr::new(buf[at], buf[at + 1], buf[at + 2], buf[at + 3]);
        let hlen = buf[2];
        if hlen > 16 {
            return Err(ParseError::BadHlen(hlen));
        }
        let mut chaddr = [0u8; 16];
        chaddr.copy_from_slice(&buf[28..44]);
        let mut options = Options::new();
        read_area(&buf[HEADER_LEN + 4..], "options", &mut options)?;
        let overload = match options.get(code::OVERLOAD) {
            None => 0,
            Some([v @ 1..=3]) => *v,
            Some([v]) => return Err(ParseError::BadOverload(*v)),
            Some(v) => return Err(ParseError::BadOverloadLen(v.len())),
        };
        // RFC 3396 §5: options, then file, then sname.
        let (mut sname, mut file) = (text_field(&buf[SNAME]), text_field(&buf[FILE]));
        if overload & 1 != 0 {
            read_area(&buf[FILE], "file", &mut options)?;
            file.clear();
        }
        if overload & 2 != 0 {
            read_area(&buf[SNAME], "sname", &mut options)?;
            sname.clear();
        }
        options.remove(code::OVERLOAD);
        Ok(Packet {
            op: buf[0],
            htype: buf[1],
            hlen,
            hops: buf[3],
            xid: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
            secs: u16::from_be_bytes([buf[8], buf[9]]),
            flags: u16::from_be_bytes([buf[10], buf[11]]),
            ciaddr: ip(12),
            yiaddr: ip(16),
            siaddr: ip(20),
            giaddr: ip(24),
            chaddr,
            sname,
            file,
            options,
        })
    }

    /// Writes the message in at most `max_len` bytes (at least
    /// [`DEFAULT_MAX_MESSAGE`] is assumed). Options go in their order into
    /// the options field, then `file`, then `sname` (setting option 52) when
    /// those are free; an option that fits nowhere is dropped and reported.
    pub fn encode(&self, max_len: usize) -> Encoded {
        let max_len = max_len.max(DEFAULT_MAX_MESSAGE);
        let mut out = Vec::with_capacity(max_len);
        out.push(self.op);
        out.push(self.htype);
        out.push(self.hlen);
        out.push(self.hops);
        out.extend_from_slice(&self.xid.to_be_bytes());
        out.extend_from_slice(&self.secs.to_be_bytes());
        out.extend_from_slice(&self.flags.to_be_bytes());
        for a in [self.ciaddr, self.yiaddr, self.siaddr, self.giaddr] {
            out.extend_from_slice(&a.octets());
        }
        out.extend_from_slice(&self.chaddr);
        let mut sname = [0u8; 64];
        let mut file = [0u8; 128];
        copy_text(&mut sname, &self.sname);
        copy_text(&mut file, &self.file);

        // Room: the options field keeps 3 bytes for option 52 and 1 for END;
        // an overloaded field keeps 1 for its END.
        let main_room = max_len - HEADER_LEN - 4 - 4;
        let mut main = Vec::new();
        let mut spill_file = Vec::new();
        let mut spill_sname = Vec::new();
        let file_free = self.file.is_empty();
        let sname_free = self.sname.is_empty();
        let mut dropped = Vec::new();
        for (c, v) in self.options.iter() {
            if c == code::PAD || c == code::END || c == code::OVERLOAD {
                continue;
            }
            let wire = chunked(c, v);
            if main.len() + wire.len() <= main_room {
                main.extend_from_slice(&wire);
            } else if file_free && spill_file.len() + wire.len() < file.len() {
                spill_file.extend_from_slice(&wire);
            } else if sname_free && spill_sname.len() + wire.len() < sname.len() {
                spill_sname.extend_from_slice(&wire);
            } else {
                dropped.push(c);
            }
        }
        let mut overload = 0u8;
        if !spill_file.is_empty() {
            overload |= 1;
            file = [0u8; 128];
            file[..spill_file.len()].copy_from_slice(&spill_file);
            file[spill_file.len()] = code::END;
        }
        if !spill_sname.is_empty() {
            overload |= 2;
            sname = [0u8; 64];
            sname[..spill_sname.len()].copy_from_slice(&spill_sname);
            sname[spill_sname.len()] = code::END;
        }
        out.extend_from_slice(&sname);
        out.extend_from_slice(&file);
        out.extend_from_slice(&MAGIC_COOKIE);
        if overload != 0 {
            out.extend_from_slice(&[code::OVERLOAD, 1, overload]);
        }
        out.extend_from_slice(&main);
        out.push(code::END);
        if out.len() < MIN_REPLY_LEN {
            out.resize(MIN_REPLY_LEN, 0);
        }
        Encoded {
            bytes: out,
            dropped,
        }
    }
}

/// `code` with `value`, split into 255-byte instances (RFC 3396); a
/// zero-length value is one empty instance.
fn chunked(code: u8, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 2);
    if value.is_empty() {
        out.extend_from_slice(&[code, 0]);
    }
    for part in value.chunks(255) {
        out.push(code);
        out.push(part.len() as u8);
        out.extend_from_slice(part);
    }
    out
}

fn read_area(area: &[u8], name: &'static str, into: &mut Options) -> Result<(), ParseError> {
    let mut i = 0;
    while i < area.len() {
        let c = area[i];
        match c {
            code::PAD => i += 1,
            code::END => return Ok(()),
            _ => {
                let Some(&len) = area.get(i + 1) else {
                    return Err(ParseError::TruncatedOption {
                        code: c,
                        offset: i,
                        area: name,
                    });
                };
                let end = i + 2 + usize::from(len);
                let Some(data) = area.get(i + 2..end) else {
                    return Err(ParseError::TruncatedOption {
                        code: c,
                        offset: i,
                        area: name,
                    });
                };
                into.append(c, data);
                i = end;
            }
        }
    }
    // A missing END is tolerated: many clients end the packet instead.
    Ok(())
}

/// A NUL-terminated field's text (bytes before the first NUL).
fn text_field(field: &[u8]) -> Vec<u8> {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    field[..end].to_vec()
}

fn copy_text(dst: &mut [u8], src: &[u8]) {
    // Keep room for the terminating NUL.
    let n = src.len().min(dst.len() - 1);
    dst[..n].copy_from_slice(&src[..n]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn discover() -> Packet {
        let mut chaddr = [0u8; 16];
        chaddr[..6].copy_from_slice(&[0, 0x24, 0xe9, 5, 0xbb, 0xa1]);
        let mut p = Packet {
            op: BOOTREQUEST,
            htype: 1,
            hlen: 6,
            hops: 0,
            xid: 0x1234_5678,
            secs: 3,
            flags: FLAG_BROADCAST,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: Ipv4Addr::UNSPECIFIED,
            chaddr,
            sname: Vec::new(),
            file: Vec::new(),
            options: Options::new(),
        };
        p.options.set(code::MESSAGE_TYPE, vec![1]);
        p.options
            .set(code::PARAMETER_REQUEST_LIST, vec![1, 3, 6, 15, 121]);
        p
    }

    #[test]
    fn round_trip() {
        let p = discover();
        let e = p.encode(576);
        assert_eq!(e.bytes.len(), MIN_REPLY_LEN);
        assert!(e.dropped.is_empty());
        assert_eq!(Packet::parse(&e.bytes).unwrap(), p);
    }

    #[test]
    fn long_option_is_split_and_joined() {
        let mut p = discover();
        let long: Vec<u8> = (0..600u32).map(|i| i as u8).collect();
        p.options.set(code::VENDOR_ENCAPSULATED, long.clone());
        let e = p.encode(1500);
        let q = Packet::parse(&e.bytes).unwrap();
        assert_eq!(q.options.get(code::VENDOR_ENCAPSULATED), Some(&long[..]));
    }

    #[test]
    fn overload_moves_options_into_file_and_sname() {
        let mut p = discover();
        // Fill the options field so later ones spill.
        p.options.set(43, vec![7; 250]);
        p.options.set(224, vec![1; 40]);
        p.options.set(225, vec![2; 100]);
        p.options.set(226, vec![3; 50]);
        let e = p.encode(548);
        assert!(e.bytes.len() <= 548);
        assert!(e.dropped.is_empty(), "{:?}", e.dropped);
        let q = Packet::parse(&e.bytes).unwrap();
        for c in [43, 224, 225, 226] {
            assert_eq!(q.options.get(c), p.options.get(c), "option {c}");
        }
        assert!(q.file.is_empty() && q.sname.is_empty());
        // 52 is consumed by the parser, never shown as an option.
        assert!(q.options.get(code::OVERLOAD).is_none());
    }

    #[test]
    fn what_fits_nowhere_is_dropped() {
        let mut p = discover();
        p.sname = b"srv".to_vec();
        p.file = b"boot".to_vec();
        p.options.set(43, vec![7; 250]);
        p.options.set(224, vec![1; 60]);
        let e = p.encode(548);
        assert_eq!(e.dropped, vec![224]);
        let q = Packet::parse(&e.bytes).unwrap();
        assert_eq!(q.sname, b"srv");
        assert_eq!(q.file, b"boot");
    }

    #[test]
    fn truncated_option_is_an_error_not_a_partial_packet() {
        let mut bytes = discover().encode(576).bytes;
        // options start at 240: 53,1,1, 55,5,... ; make 55's length too long.
        let at = bytes.len();
        bytes.truncate(240 + 3);
        bytes.extend_from_slice(&[12, 40, b'x']);
        assert!(matches!(
            Packet::parse(&bytes),
            Err(ParseError::TruncatedOption { code: 12, .. })
        ));
        let _ = at;
    }

    #[test]
    fn short_and_cookieless_packets() {
        assert_eq!(Packet::parse(&[0; 100]), Err(ParseError::TooShort(100)));
        assert_eq!(Packet::parse(&[0; 300]), Err(ParseError::NoCookie));
    }
}
