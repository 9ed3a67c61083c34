//! The lease journal's payloads: how leases become bytes inside a journal
//! frame and back.
//!
//! This module owns the payload format and nothing else; it does no I/O, so
//! the property tests can feed it arbitrary bytes. The journal frame around
//! a payload already carries its length, kind and CRC32C, so the payload
//! spends no bytes on those. Integers are big-endian and the address is in
//! network order, as on the DHCP wire.
//!
//! ```text
//! changes payload (journal kind KIND_CHANGES = 1), one per commit:
//!   version  u8    PAYLOAD_VERSION (1)
//!   count    u32   number of lease records that follow
//!   record × count
//!
//! checkpoint payload (journal kind KIND_CHECKPOINT = 2), one per frame of a checkpoint:
//!   version  u8    PAYLOAD_VERSION (1)
//!   part     u32   0-based index of this frame within the checkpoint
//!   parts    u32   frames in the checkpoint (>= 1)
//!   count    u32
//!   record × count
//!
//! record (54 bytes + optional fields):
//!   addr     4     IPv4 address, network order
//!   state    u8    BindingState::code (1..=7)
//!   flags    u8    bit 0: hw follows, bit 1: client id follows, bit 2: host name follows,
//!                  bit 3: DDNS state follows; every other bit must be zero
//!   start, end, cltt, tstp, atsfp, tsfp   u64 each
//!   [hw]         htype u8, len u8 (<= 16), len octets
//!   [client id]  len u8, len octets
//!   [host name]  len u8, len octets of UTF-8
//!   [DDNS state] len u16, len octets of `LeaseDns::encode`
//! ```
//!
//! Bit 3 was added after version 1 was first written: a file without it
//! reads as before (no DDNS state), and a build from before it refuses a
//! record that has it ("unknown flag bits") rather than misreading it.
//!
//! The limits (16 hardware octets, 255 client-id and host-name bytes) are
//! DHCP's own: `chaddr` is 16 octets and an option carries at most 255. A
//! lease outside them is refused when it is encoded, so the store never
//! writes a record it could not read back.

use std::net::Ipv4Addr;

use tandem_dhcp::{BindingState, HwAddr, Lease, LeaseDns};

/// Journal entry kind of a commit's lease changes.
pub const KIND_CHANGES: u16 = 1;
/// Journal entry kind of one frame of a compaction checkpoint.
pub const KIND_CHECKPOINT: u16 = 2;
/// The payload format version this build writes and reads.
pub const PAYLOAD_VERSION: u8 = 1;

/// Longest hardware address (DHCP `chaddr`).
pub const MAX_HW_LEN: usize = 16;
/// Longest client identifier (one DHCP option).
pub const MAX_CLIENT_ID_LEN: usize = 255;
/// Longest host name in bytes (one DHCP option).
pub const MAX_HOSTNAME_LEN: usize = 255;

/// Bytes of a record without any optional field.
pub const FIXED_RECORD_LEN: usize = 4 + 1 + 1 + 6 * 8;
/// Bytes of the largest possible record.
pub const MAX_RECORD_LEN: usize = FIXED_RECORD_LEN
    + 2
    + MAX_HW_LEN
    + 1
    + MAX_CLIENT_ID_LEN
    + 1
    + MAX_HOSTNAME_LEN
    + 2
    + MAX_DDNS_LEN;
/// Longest DDNS state (`LeaseDns::encode`: flags, TTL, three short strings).
pub const MAX_DDNS_LEN: usize = 1 + 4 + 3 * 256;
/// Bytes before the first record of a changes payload.
pub const CHANGES_HEADER_LEN: usize = 1 + 4;
/// Bytes before the first record of a checkpoint payload.
pub const CHECKPOINT_HEADER_LEN: usize = 1 + 4 + 4 + 4;

const FLAG_HW: u8 = 1 << 0;
const FLAG_CLIENT_ID: u8 = 1 << 1;
const FLAG_HOSTNAME: u8 = 1 << 2;
const FLAG_DDNS: u8 = 1 << 3;
const KNOWN_FLAGS: u8 = FLAG_HW | FLAG_CLIENT_ID | FLAG_HOSTNAME | FLAG_DDNS;

/// A lease the format cannot represent: one of its fields is longer than
/// DHCP allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The hardware address is longer than `chaddr`.
    #[error("lease {addr}: hardware address of {len} octets (at most {MAX_HW_LEN})")]
    HwAddrTooLong {
        /// The lease's address.
        addr: Ipv4Addr,
        /// The hardware address's length.
        len: usize,
    },
    /// The client identifier is longer than one DHCP option.
    #[error("lease {addr}: client identifier of {len} bytes (at most {MAX_CLIENT_ID_LEN})")]
    ClientIdTooLong {
        /// The lease's address.
        addr: Ipv4Addr,
        /// The identifier's length.
        len: usize,
    },
    /// The host name is longer than one DHCP option.
    #[error("lease {addr}: host name of {len} bytes (at most {MAX_HOSTNAME_LEN})")]
    HostnameTooLong {
        /// The lease's address.
        addr: Ipv4Addr,
        /// The name's length in bytes.
        len: usize,
    },
    /// A field of the DDNS state is longer than 255 bytes.
    #[error("lease {addr}: DDNS state with a field over 255 bytes")]
    DdnsTooLong {
        /// The lease's address.
        addr: Ipv4Addr,
    },
}

/// What is wrong with a payload that does not decode.
///
/// The journal's checksum already passed when this is returned, so it means
/// a bug, a file written by an incompatible build, or deliberate tampering;
/// never a torn write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not even the version byte is there.
    #[error("empty payload")]
    Empty,
    /// A version this build does not read.
    #[error("payload format version {found} (this build reads version {PAYLOAD_VERSION})")]
    UnsupportedVersion {
        /// The version byte found.
        found: u8,
    },
    /// The payload ends inside a field.
    #[error("{field} needs {needed} bytes at payload offset {at}, only {available} left")]
    Truncated {
        /// Which field (for a record: `"lease 3 client id"` and so on).
        field: String,
        /// Where it starts.
        at: usize,
        /// How many bytes it needs.
        needed: usize,
        /// How many bytes remain.
        available: usize,
    },
    /// The declared record count cannot fit in the bytes that follow.
    #[error("declares {count} leases but only {available} bytes follow (each needs at least {FIXED_RECORD_LEN})")]
    CountTooLarge {
        /// Declared number of records.
        count: u32,
        /// Bytes after the header.
        available: usize,
    },
    /// A binding state code outside 1..=7.
    #[error("lease {index} ({addr}): unknown binding state code {code}")]
    BadState {
        /// Record index within the payload.
        index: u32,
        /// The record's address.
        addr: Ipv4Addr,
        /// The code found.
        code: u8,
    },
    /// Flag bits this version does not define.
    #[error("lease {index} ({addr}): unknown flag bits {bits:#04x}")]
    UnknownFlags {
        /// Record index within the payload.
        index: u32,
        /// The record's address.
        addr: Ipv4Addr,
        /// The undefined bits that were set.
        bits: u8,
    },
    /// A hardware address longer than 16 octets.
    #[error("lease {index} ({addr}): hardware address length {len} (at most {MAX_HW_LEN})")]
    HwAddrTooLong {
        /// Record index within the payload.
        index: u32,
        /// The record's address.
        addr: Ipv4Addr,
        /// The declared length.
        len: u8,
    },
    /// A host name that is not UTF-8.
    #[error("lease {index} ({addr}): host name is not valid UTF-8")]
    HostnameNotUtf8 {
        /// Record index within the payload.
        index: u32,
        /// The record's address.
        addr: Ipv4Addr,
    },
    /// DDNS state that does not read back.
    #[error("lease {index} ({addr}): {why} in its DDNS state")]
    BadDdns {
        /// Record index within the payload.
        index: u32,
        /// The record's address.
        addr: Ipv4Addr,
        /// What is wrong.
        why: &'static str,
    },
    /// A checkpoint frame with `parts == 0` or `part >= parts`.
    #[error("checkpoint part {part} of {parts} is out of range")]
    BadPart {
        /// Declared index.
        part: u32,
        /// Declared total.
        parts: u32,
    },
    /// Bytes after the last declared record.
    #[error("{count} unexpected bytes after the last lease")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
}

/// One decoded checkpoint frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointPart {
    /// Index of this frame in the checkpoint.
    pub part: u32,
    /// Frames in the checkpoint.
    pub parts: u32,
    /// Its leases.
    pub leases: Vec<Lease>,
}

/// Checks that `lease` fits the format, without encoding it.
pub fn check_lease(lease: &Lease) -> Result<(), EncodeError> {
    if let Some(hw) = &lease.hw {
        if hw.addr.len() > MAX_HW_LEN {
            return Err(EncodeError::HwAddrTooLong {
                addr: lease.addr,
                len: hw.addr.len(),
            });
        }
    }
    if let Some(id) = &lease.client_id {
        if id.len() > MAX_CLIENT_ID_LEN {
            return Err(EncodeError::ClientIdTooLong {
                addr: lease.addr,
                len: id.len(),
            });
        }
    }
    if let Some(name) = &lease.hostname {
        if name.len() > MAX_HOSTNAME_LEN {
            return Err(EncodeError::HostnameTooLong {
                addr: lease.addr,
                len: name.len(),
            });
        }
    }
    if let Some(d) = &lease.ddns {
        if d.encode().is_none() {
            return Err(EncodeError::DdnsTooLong { addr: lease.addr });
        }
    }
    Ok(())
}

/// Encoded size of `lease`'s record (assuming it passes [`check_lease`]).
pub fn record_len(lease: &Lease) -> usize {
    FIXED_RECORD_LEN
        + lease.hw.as_ref().map_or(0, |hw| 2 + hw.addr.len())
        + lease.client_id.as_ref().map_or(0, |id| 1 + id.len())
        + lease.hostname.as_ref().map_or(0, |n| 1 + n.len())
        + lease
            .ddns
            .as_ref()
            .and_then(|d| d.encode())
            .map_or(0, |d| 2 + d.len())
}

/// Appends `lease`'s record to `out`. On error `out` is unchanged.
pub fn encode_record(lease: &Lease, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    check_lease(lease)?;
    let mut flags = 0;
    if lease.hw.is_some() {
        flags |= FLAG_HW;
    }
    if lease.client_id.is_some() {
        flags |= FLAG_CLIENT_ID;
    }
    if lease.hostname.is_some() {
        flags |= FLAG_HOSTNAME;
    }
    let ddns = lease.ddns.as_ref().and_then(|d| d.encode());
    if ddns.is_some() {
        flags |= FLAG_DDNS;
    }
    out.reserve(record_len(lease));
    out.extend_from_slice(&lease.addr.octets());
    out.push(lease.state.code());
    out.push(flags);
    for t in [
        lease.start,
        lease.end,
        lease.cltt,
        lease.tstp,
        lease.atsfp,
        lease.tsfp,
    ] {
        out.extend_from_slice(&t.to_be_bytes());
    }
    // The casts below cannot truncate: check_lease bounded every length.
    if let Some(hw) = &lease.hw {
        out.push(hw.htype);
        out.push(hw.addr.len() as u8);
        out.extend_from_slice(&hw.addr);
    }
    if let Some(id) = &lease.client_id {
        out.push(id.len() as u8);
        out.extend_from_slice(id);
    }
    if let Some(name) = &lease.hostname {
        out.push(name.len() as u8);
        out.extend_from_slice(name.as_bytes());
    }
    if let Some(d) = ddns {
        out.extend_from_slice(&(d.len() as u16).to_be_bytes());
        out.extend_from_slice(&d);
    }
    Ok(())
}

/// Encodes one commit's leases as a changes payload.
pub fn encode_changes(leases: &[Lease]) -> Result<Vec<u8>, EncodeError> {
    let body: usize = leases.iter().map(record_len).sum();
    let mut out = Vec::with_capacity(CHANGES_HEADER_LEN + body);
    out.push(PAYLOAD_VERSION);
    out.extend_from_slice(&count_u32(leases.len()).to_be_bytes());
    for lease in leases {
        encode_record(lease, &mut out)?;
    }
    Ok(out)
}

/// Encodes a whole table as checkpoint payloads of at most about
/// `frame_bytes` each (always at least one record per frame, and always at
/// least one frame, so that even an empty table leaves a checkpoint).
pub fn encode_checkpoint<'a>(
    leases: impl IntoIterator<Item = &'a Lease>,
    frame_bytes: usize,
) -> Result<Vec<Vec<u8>>, EncodeError> {
    let leases: Vec<&Lease> = leases.into_iter().collect();
    // First split the records into groups, then write headers once the
    // number of parts is known.
    let mut groups: Vec<&[&Lease]> = Vec::new();
    let mut start = 0;
    let mut size = CHECKPOINT_HEADER_LEN;
    for (i, lease) in leases.iter().enumerate() {
        check_lease(lease)?;
        let len = record_len(lease);
        if i > start && size + len > frame_bytes {
            groups.push(&leases[start..i]);
            start = i;
            size = CHECKPOINT_HEADER_LEN;
        }
        size += len;
    }
    groups.push(&leases[start..]);

    let parts = count_u32(groups.len());
    let mut payloads = Vec::with_capacity(groups.len());
    for (part, group) in groups.into_iter().enumerate() {
        let body: usize = group.iter().map(|l| record_len(l)).sum();
        let mut out = Vec::with_capacity(CHECKPOINT_HEADER_LEN + body);
        out.push(PAYLOAD_VERSION);
        out.extend_from_slice(&count_u32(part).to_be_bytes());
        out.extend_from_slice(&parts.to_be_bytes());
        out.extend_from_slice(&count_u32(group.len()).to_be_bytes());
        for lease in group {
            encode_record(lease, &mut out)?;
        }
        payloads.push(out);
    }
    Ok(payloads)
}

fn count_u32(n: usize) -> u32 {
    // A journal frame holds at most 64 MiB, far fewer than 2^32 records, so a
    // count that does not fit would be refused by the journal anyway;
    // saturating keeps this function total without a silent wrap.
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Decodes a changes payload.
pub fn decode_changes(payload: &[u8]) -> Result<Vec<Lease>, DecodeError> {
    let mut r = Reader::new(payload)?;
    let count = r.u32("lease count")?;
    let leases = r.records(count)?;
    r.finish()?;
    Ok(leases)
}

/// Decodes one checkpoint payload.
pub fn decode_checkpoint(payload: &[u8]) -> Result<CheckpointPart, DecodeError> {
    let mut r = Reader::new(payload)?;
    let part = r.u32("checkpoint part")?;
    let parts = r.u32("checkpoint parts")?;
    if parts == 0 || part >= parts {
        return Err(DecodeError::BadPart { part, parts });
    }
    let count = r.u32("lease count")?;
    let leases = r.records(count)?;
    r.finish()?;
    Ok(CheckpointPart {
        part,
        parts,
        leases,
    })
}

/// A bounds-checked cursor: every read names its field, so a short payload
/// says exactly where it ends.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Starts at the version byte and checks it.
    fn new(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let (&version, _) = buf.split_first().ok_or(DecodeError::Empty)?;
        if version != PAYLOAD_VERSION {
            return Err(DecodeError::UnsupportedVersion { found: version });
        }
        Ok(Reader { buf, pos: 1 })
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize, field: impl FnOnce() -> String) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(DecodeError::Truncated {
                field: field(),
                at: self.pos,
                needed: n,
                available: self.remaining(),
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(
        &mut self,
        field: impl FnOnce() -> String,
    ) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, field)?);
        Ok(a)
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        self.array(|| field.to_string()).map(u32::from_be_bytes)
    }

    fn records(&mut self, count: u32) -> Result<Vec<Lease>, DecodeError> {
        // The count comes from the file: bound it by the bytes present before
        // reserving memory for it, so a damaged count cannot ask for gigabytes.
        let available = self.remaining();
        if count as usize > available / FIXED_RECORD_LEN {
            return Err(DecodeError::CountTooLarge { count, available });
        }
        let mut leases = Vec::with_capacity(count as usize);
        for index in 0..count {
            leases.push(self.record(index)?);
        }
        Ok(leases)
    }

    fn record(&mut self, index: u32) -> Result<Lease, DecodeError> {
        let fixed = self.take(FIXED_RECORD_LEN, || format!("lease {index}"))?;
        let addr = Ipv4Addr::new(fixed[0], fixed[1], fixed[2], fixed[3]);
        let code = fixed[4];
        let flags = fixed[5];
        let state =
            BindingState::from_code(code).ok_or(DecodeError::BadState { index, addr, code })?;
        if flags & !KNOWN_FLAGS != 0 {
            return Err(DecodeError::UnknownFlags {
                index,
                addr,
                bits: flags & !KNOWN_FLAGS,
            });
        }
        let mut times = [0u64; 6];
        for (i, t) in times.iter_mut().enumerate() {
            let at = 6 + 8 * i;
            let mut b = [0u8; 8];
            b.copy_from_slice(&fixed[at..at + 8]);
            *t = u64::from_be_bytes(b);
        }
        let [start, end, cltt, tstp, atsfp, tsfp] = times;

        let hw = if flags & FLAG_HW != 0 {
            let [htype, len] =
                self.array(|| format!("lease {index} ({addr}) hardware type and length"))?;
            if len as usize > MAX_HW_LEN {
                return Err(DecodeError::HwAddrTooLong { index, addr, len });
            }
            let octets = self.take(len as usize, || {
                format!("lease {index} ({addr}) hardware address")
            })?;
            Some(HwAddr {
                htype,
                addr: octets.to_vec(),
            })
        } else {
            None
        };
        let client_id = if flags & FLAG_CLIENT_ID != 0 {
            Some(
                self.short_bytes(|| format!("lease {index} ({addr}) client id"))?
                    .to_vec(),
            )
        } else {
            None
        };
        let hostname = if flags & FLAG_HOSTNAME != 0 {
            let bytes = self.short_bytes(|| format!("lease {index} ({addr}) host name"))?;
            let name = std::str::from_utf8(bytes)
                .map_err(|_| DecodeError::HostnameNotUtf8 { index, addr })?;
            Some(name.to_string())
        } else {
            None
        };
        let ddns = if flags & FLAG_DDNS != 0 {
            let field = || format!("lease {index} ({addr}) DDNS state");
            let len = u16::from_be_bytes(self.array(|| format!("{} length", field()))?);
            let bytes = self.take(usize::from(len), field)?;
            Some(LeaseDns::decode(bytes).map_err(|e| DecodeError::BadDdns {
                index,
                addr,
                why: e.0,
            })?)
        } else {
            None
        };
        Ok(Lease {
            addr,
            state,
            start,
            end,
            cltt,
            hw,
            client_id,
            hostname,
            ddns,
            tstp,
            atsfp,
            tsfp,
        })
    }

    /// A `u8` length followed by that many bytes.
    fn short_bytes(&mut self, field: impl Fn() -> String) -> Result<&'a [u8], DecodeError> {
        let [len] = self.array(|| format!("{} length", field()))?;
        self.take(len as usize, field)
    }

    fn finish(self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(DecodeError::TrailingBytes { count }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> Lease {
        Lease {
            addr: Ipv4Addr::new(192, 0, 2, 10),
            state: BindingState::Active,
            start: 1_700_000_000,
            end: 1_700_043_200,
            cltt: 1_700_000_001,
            hw: Some(HwAddr::ethernet([0, 0x11, 0x22, 0x33, 0x44, 0x55])),
            client_id: Some(vec![1, 0, 0x11, 0x22, 0x33, 0x44, 0x55]),
            hostname: Some("printer".into()),
            ddns: None,
            tstp: 1_700_043_200,
            atsfp: 1_700_043_100,
            tsfp: 1_700_043_000,
        }
    }

    #[test]
    fn record_layout_is_as_documented() {
        let lease = Lease::new(Ipv4Addr::new(10, 1, 2, 3), BindingState::Free);
        let mut out = Vec::new();
        encode_record(&lease, &mut out).unwrap();
        assert_eq!(out.len(), FIXED_RECORD_LEN);
        assert_eq!(&out[..6], &[10, 1, 2, 3, 1, 0]);
        assert!(out[6..].iter().all(|&b| b == 0));

        let lease = full();
        out.clear();
        encode_record(&lease, &mut out).unwrap();
        assert_eq!(out.len(), record_len(&lease));
        assert_eq!(out[5], FLAG_HW | FLAG_CLIENT_ID | FLAG_HOSTNAME);
        assert_eq!(&out[6..14], &1_700_000_000u64.to_be_bytes());
        assert_eq!(&out[FIXED_RECORD_LEN..FIXED_RECORD_LEN + 2], &[1, 6]);
        assert!(out.ends_with(b"\x07printer"));
    }

    #[test]
    fn ddns_state_round_trips_and_old_records_still_read() {
        let mut lease = full();
        let before = encode_changes(std::slice::from_ref(&lease)).unwrap();
        lease.ddns = Some(LeaseDns {
            fqdn: "printer.home.".into(),
            forward: true,
            reverse: Some("10.2.0.192.in-addr.arpa.".into()),
            guard_txt: false,
            guard: vec![0, 1, 1, 9, 9, 9],
            ttl: 300,
        });
        let bytes = encode_changes(std::slice::from_ref(&lease)).unwrap();
        assert_eq!(bytes[CHANGES_HEADER_LEN + 5] & FLAG_DDNS, FLAG_DDNS);
        assert_eq!(bytes.len() - CHANGES_HEADER_LEN, record_len(&lease));
        assert_eq!(decode_changes(&bytes).unwrap(), vec![lease.clone()]);
        // A record written before the DDNS state existed is the same bytes
        // as one without it, and reads back without it.
        lease.ddns = None;
        assert_eq!(decode_changes(&before).unwrap(), vec![lease]);
        const { assert!(MAX_RECORD_LEN >= FIXED_RECORD_LEN + 2 + MAX_DDNS_LEN) };
    }

    #[test]
    fn changes_round_trip() {
        let leases = vec![
            full(),
            Lease::new(Ipv4Addr::new(10, 0, 0, 1), BindingState::Backup),
        ];
        let bytes = encode_changes(&leases).unwrap();
        assert_eq!(bytes[0], PAYLOAD_VERSION);
        assert_eq!(&bytes[1..5], &2u32.to_be_bytes());
        assert_eq!(decode_changes(&bytes).unwrap(), leases);
    }

    #[test]
    fn oversized_fields_are_refused_when_encoding() {
        let mut lease = full();
        lease.hw = Some(HwAddr {
            htype: 1,
            addr: vec![0; 17],
        });
        assert_eq!(
            encode_changes(&[lease]),
            Err(EncodeError::HwAddrTooLong {
                addr: Ipv4Addr::new(192, 0, 2, 10),
                len: 17
            })
        );
        let mut lease = full();
        lease.client_id = Some(vec![0; 256]);
        assert_eq!(
            encode_changes(&[lease]),
            Err(EncodeError::ClientIdTooLong {
                addr: Ipv4Addr::new(192, 0, 2, 10),
                len: 256
            })
        );
        let mut lease = full();
        lease.hostname = Some("x".repeat(256));
        assert_eq!(
            encode_checkpoint(&[lease], 1 << 20),
            Err(EncodeError::HostnameTooLong {
                addr: Ipv4Addr::new(192, 0, 2, 10),
                len: 256
            })
        );
    }

    #[test]
    fn checkpoint_splits_by_size_and_keeps_order() {
        let leases: Vec<Lease> = (0..10u8)
            .map(|i| Lease::new(Ipv4Addr::new(10, 0, 0, i), BindingState::Free))
            .collect();
        // Room for three records per frame.
        let frame = CHECKPOINT_HEADER_LEN + 3 * FIXED_RECORD_LEN;
        let payloads = encode_checkpoint(&leases, frame).unwrap();
        assert_eq!(payloads.len(), 4);
        let mut back = Vec::new();
        for (i, p) in payloads.iter().enumerate() {
            assert!(p.len() <= frame);
            let part = decode_checkpoint(p).unwrap();
            assert_eq!((part.part, part.parts), (i as u32, 4));
            back.extend(part.leases);
        }
        assert_eq!(back, leases);

        // An empty table still yields one (empty) frame, and a frame too small
        // for any record still carries one.
        let empty = encode_checkpoint(&[], frame).unwrap();
        assert_eq!(empty.len(), 1);
        assert_eq!(decode_checkpoint(&empty[0]).unwrap().leases, vec![]);
        assert_eq!(encode_checkpoint(&leases, 1).unwrap().len(), 10);
    }

    #[test]
    fn decode_errors_name_the_defect() {
        assert_eq!(decode_changes(&[]), Err(DecodeError::Empty));
        assert_eq!(
            decode_changes(&[2, 0, 0, 0, 0]),
            Err(DecodeError::UnsupportedVersion { found: 2 })
        );
        assert_eq!(
            decode_changes(&[1, 0, 0]),
            Err(DecodeError::Truncated {
                field: "lease count".into(),
                at: 1,
                needed: 4,
                available: 2
            })
        );
        assert_eq!(
            decode_changes(&[1, 0xff, 0xff, 0xff, 0xff]),
            Err(DecodeError::CountTooLarge {
                count: u32::MAX,
                available: 0
            })
        );

        let mut bytes = encode_changes(&[full()]).unwrap();
        let state_at = CHANGES_HEADER_LEN + 4;
        bytes[state_at] = 9;
        let err = decode_changes(&bytes).unwrap_err();
        assert_eq!(
            err.to_string(),
            "lease 0 (192.0.2.10): unknown binding state code 9"
        );
        bytes[state_at] = 2;
        bytes[state_at + 1] |= 0x80;
        assert!(matches!(
            decode_changes(&bytes),
            Err(DecodeError::UnknownFlags { bits: 0x80, .. })
        ));
        bytes[state_at + 1] &= 0x7f;
        bytes[CHANGES_HEADER_LEN + FIXED_RECORD_LEN + 1] = 17;
        assert!(matches!(
            decode_changes(&bytes),
            Err(DecodeError::HwAddrTooLong { len: 17, .. })
        ));
        bytes[CHANGES_HEADER_LEN + FIXED_RECORD_LEN + 1] = 6;

        let name_at = bytes.len() - 7;
        bytes[name_at] = 0xff;
        assert!(matches!(
            decode_changes(&bytes),
            Err(DecodeError::HostnameNotUtf8 { index: 0, .. })
        ));
        bytes[name_at] = b'p';

        bytes.push(0);
        assert_eq!(
            decode_changes(&bytes),
            Err(DecodeError::TrailingBytes { count: 1 })
        );
        bytes.pop();
        bytes.pop();
        let err = decode_changes(&bytes).unwrap_err();
        assert_eq!(
            err.to_string(),
            "lease 0 (192.0.2.10) host name needs 7 bytes at payload offset 76, only 6 left"
        );
    }

    #[test]
    fn checkpoint_part_numbers_are_checked() {
        let mut p = encode_checkpoint(&[full()], 1 << 20).unwrap().remove(0);
        p[1..5].copy_from_slice(&1u32.to_be_bytes());
        assert_eq!(
            decode_checkpoint(&p),
            Err(DecodeError::BadPart { part: 1, parts: 1 })
        );
        p[1..5].copy_from_slice(&0u32.to_be_bytes());
        p[5..9].copy_from_slice(&0u32.to_be_bytes());
        assert_eq!(
            decode_checkpoint(&p),
            Err(DecodeError::BadPart { part: 0, parts: 0 })
        );
    }
}
