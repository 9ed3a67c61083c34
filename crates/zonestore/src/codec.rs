//! The journal's payloads: a zone diff (one committed update, or one
//! change an incremental transfer brought a secondary zone), a checkpoint
//! (a primary's whole overlay with the served serial, written by
//! compaction and by reloads), a secondary zone's snapshot (its whole copy,
//! written by a full transfer and by compaction) and a secondary's
//! "refreshed at" mark (the last successful contact with its primary).
//!
//! Records are stored in uncompressed wire form: owner name, type, class,
//! TTL, rdata length and rdata, so a payload is independent of any message.
//! Integers are big-endian, as in DNS.

use bytes::Bytes;
use tandem_dns_wire::{Class, Name, Record, Rtype};
use tandem_zone::Diff;

use crate::overlay::Overlay;

/// Journal entry kinds.
pub const KIND_DIFF: u16 = 1;
pub const KIND_CHECKPOINT: u16 = 2;
/// One part of a secondary zone's snapshot (only ever written by a
/// compaction, so the journal starts with it).
pub const KIND_SNAPSHOT: u16 = 3;
/// A secondary zone's last successful contact with its primary.
pub const KIND_REFRESHED: u16 = 4;

/// The version byte the secondary kinds start with.
const SECONDARY_VERSION: u8 = 1;

/// About how many bytes of records one snapshot frame holds, far below
/// the journal's 64 MiB frame limit.
pub const SNAPSHOT_PART_BYTES: usize = 1 << 20;

/// A payload that does not decode: the journal's checksum passed, so this
/// means a bug or a journal written by an incompatible version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("undecodable journal payload: {0}")]
pub struct DecodeError(pub &'static str);

fn put_records(out: &mut Vec<u8>, records: &[Record]) {
    out.extend_from_slice(&(records.len() as u32).to_be_bytes());
    for r in records {
        out.extend_from_slice(r.owner.as_wire());
        out.extend_from_slice(&r.rtype.to_int().to_be_bytes());
        out.extend_from_slice(&r.class.to_int().to_be_bytes());
        out.extend_from_slice(&r.ttl.to_be_bytes());
        out.extend_from_slice(&(r.rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(&r.rdata);
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(DecodeError("length overflow"))?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or(DecodeError("truncated"))?;
        self.pos = end;
        Ok(s)
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    fn version(&mut self) -> Result<(), DecodeError> {
        if self.take(1)?[0] == SECONDARY_VERSION {
            Ok(())
        } else {
            Err(DecodeError("unsupported version"))
        }
    }

    fn name(&mut self) -> Result<Name, DecodeError> {
        let start = self.pos;
        loop {
            let len = self.take(1)?[0] as usize;
            if len == 0 {
                break;
            }
            if len > 63 {
                return Err(DecodeError("bad label"));
            }
            self.take(len)?;
        }
        Name::from_wire(Bytes::copy_from_slice(&self.buf[start..self.pos]))
            .map_err(|_| DecodeError("bad name"))
    }

    fn records(&mut self) -> Result<Vec<Record>, DecodeError> {
        let n = self.u32()? as usize;
        // Each record takes at least 11 bytes: refuse absurd counts early.
        if n > (self.buf.len() - self.pos) / 11 {
            return Err(DecodeError("record count exceeds payload"));
        }
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let owner = self.name()?;
            let rtype = Rtype::from_int(self.u16()?);
            let class = Class::from_int(self.u16()?);
            let ttl = self.u32()?;
            let len = self.u16()? as usize;
            let rdata = Bytes::copy_from_slice(self.take(len)?);
            out.push(Record::new(owner, rtype, class, ttl, rdata));
        }
        Ok(out)
    }

    fn end(&self) -> Result<(), DecodeError> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(DecodeError("trailing bytes"))
        }
    }
}

pub fn encode_diff(d: &Diff) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&d.from_serial.to_be_bytes());
    out.extend_from_slice(&d.to_serial.to_be_bytes());
    put_records(&mut out, &d.removed);
    put_records(&mut out, &d.added);
    out
}

pub fn decode_diff(buf: &[u8]) -> Result<Diff, DecodeError> {
    let mut r = Reader { buf, pos: 0 };
    let d = Diff {
        from_serial: r.u32()?,
        to_serial: r.u32()?,
        removed: r.records()?,
        added: r.records()?,
    };
    r.end()?;
    Ok(d)
}

pub fn encode_checkpoint(o: &Overlay) -> Vec<u8> {
    let mut out = Vec::new();
    match o.serial {
        Some(s) => {
            out.push(1);
            out.extend_from_slice(&s.to_be_bytes());
        }
        None => out.extend_from_slice(&[0, 0, 0, 0, 0]),
    }
    put_records(&mut out, &o.added());
    put_records(&mut out, &o.deleted());
    out
}

pub fn decode_checkpoint(buf: &[u8]) -> Result<Overlay, DecodeError> {
    let mut r = Reader { buf, pos: 0 };
    let has = r.take(1)?[0];
    let s = r.u32()?;
    let added = r.records()?;
    let deleted = r.records()?;
    r.end()?;
    Ok(Overlay::from_parts(added, deleted, (has == 1).then_some(s)))
}

/// One frame of a secondary zone's snapshot. A snapshot is parts
/// `0..parts` in order; the records of all parts together are the zone,
/// the SOA first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotPart {
    pub part: u32,
    pub parts: u32,
    /// Seconds since the epoch of the last successful contact with the
    /// primary when the snapshot was written.
    pub refreshed_at: u64,
    pub records: Vec<Record>,
}

fn record_len(r: &Record) -> usize {
    r.owner.as_wire().len() + 10 + r.rdata.len()
}

/// Splits a zone's records (the SOA first) into snapshot frames of about
/// `part_bytes` each; an empty list still gives one frame.
pub fn encode_snapshot(records: &[Record], refreshed_at: u64, part_bytes: usize) -> Vec<Vec<u8>> {
    let mut chunks: Vec<&[Record]> = Vec::new();
    let mut start = 0;
    let mut size = 0;
    for (i, r) in records.iter().enumerate() {
        let n = record_len(r);
        if i > start && size + n > part_bytes {
            chunks.push(&records[start..i]);
            start = i;
            size = 0;
        }
        size += n;
    }
    chunks.push(&records[start..]);
    let parts = chunks.len() as u32;
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            encode_snapshot_part(&SnapshotPart {
                part: i as u32,
                parts,
                refreshed_at,
                records: c.to_vec(),
            })
        })
        .collect()
}

pub fn encode_snapshot_part(p: &SnapshotPart) -> Vec<u8> {
    let mut out = vec![SECONDARY_VERSION];
    out.extend_from_slice(&p.part.to_be_bytes());
    out.extend_from_slice(&p.parts.to_be_bytes());
    out.extend_from_slice(&p.refreshed_at.to_be_bytes());
    put_records(&mut out, &p.records);
    out
}

pub fn decode_snapshot_part(buf: &[u8]) -> Result<SnapshotPart, DecodeError> {
    let mut r = Reader { buf, pos: 0 };
    r.version()?;
    let part = r.u32()?;
    let parts = r.u32()?;
    if part >= parts {
        return Err(DecodeError("snapshot part number out of range"));
    }
    let p = SnapshotPart {
        part,
        parts,
        refreshed_at: r.u64()?,
        records: r.records()?,
    };
    r.end()?;
    Ok(p)
}

pub fn encode_refreshed(refreshed_at: u64) -> Vec<u8> {
    let mut out = vec![SECONDARY_VERSION];
    out.extend_from_slice(&refreshed_at.to_be_bytes());
    out
}

pub fn decode_refreshed(buf: &[u8]) -> Result<u64, DecodeError> {
    let mut r = Reader { buf, pos: 0 };
    r.version()?;
    let t = r.u64()?;
    r.end()?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record() -> impl Strategy<Value = Record> {
        (
            proptest::collection::vec("[a-z0-9-]{1,10}", 0..4),
            any::<u16>(),
            any::<u32>(),
            proptest::collection::vec(any::<u8>(), 0..40),
        )
            .prop_map(|(labels, t, ttl, rdata)| {
                let mut text = labels.join(".");
                text.push('.');
                let owner: Name = if labels.is_empty() {
                    Name::root()
                } else {
                    text.parse().unwrap()
                };
                Record::new(owner, Rtype::from_int(t), Class::IN, ttl, rdata)
            })
    }

    #[test]
    fn secondary_kinds_layout() {
        assert_eq!(encode_refreshed(0x0102), vec![1, 0, 0, 0, 0, 0, 0, 1, 2]);
        let p = encode_snapshot(&[], 7, SNAPSHOT_PART_BYTES);
        assert_eq!(
            p,
            vec![vec![
                1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0
            ]]
        );
        // Version, part range.
        let mut bad = p[0].clone();
        bad[0] = 2;
        assert_eq!(
            decode_snapshot_part(&bad),
            Err(DecodeError("unsupported version"))
        );
        let mut bad = p[0].clone();
        bad[4] = 1; // part 1 of 1
        assert!(decode_snapshot_part(&bad).is_err());
        let mut long = encode_refreshed(1);
        long.push(0);
        assert_eq!(decode_refreshed(&long), Err(DecodeError("trailing bytes")));
    }

    proptest! {
        #[test]
        fn diff_round_trip(from in any::<u32>(), to in any::<u32>(),
                           removed in proptest::collection::vec(record(), 0..8),
                           added in proptest::collection::vec(record(), 0..8)) {
            let d = Diff { from_serial: from, to_serial: to, removed, added };
            let back = decode_diff(&encode_diff(&d)).unwrap();
            prop_assert_eq!(back.from_serial, d.from_serial);
            prop_assert_eq!(back.to_serial, d.to_serial);
            prop_assert_eq!(back.removed, d.removed);
            prop_assert_eq!(back.added, d.added);
        }

        #[test]
        fn checkpoint_round_trip(serial in proptest::option::of(any::<u32>()),
                                 added in proptest::collection::vec(record(), 0..8),
                                 deleted in proptest::collection::vec(record(), 0..8)) {
            let o = Overlay::from_parts(added, deleted, serial);
            let back = decode_checkpoint(&encode_checkpoint(&o)).unwrap();
            prop_assert_eq!(back.serial, o.serial);
            prop_assert_eq!(back.added(), o.added());
            prop_assert_eq!(back.deleted(), o.deleted());
        }

        #[test]
        fn snapshot_round_trip(records in proptest::collection::vec(record(), 0..40),
                               refreshed_at in any::<u64>(),
                               part_bytes in 1usize..400) {
            let frames = encode_snapshot(&records, refreshed_at, part_bytes);
            prop_assert!(!frames.is_empty());
            let mut back = Vec::new();
            for (i, f) in frames.iter().enumerate() {
                let p = decode_snapshot_part(f).unwrap();
                prop_assert_eq!(p.part as usize, i);
                prop_assert_eq!(p.parts as usize, frames.len());
                prop_assert_eq!(p.refreshed_at, refreshed_at);
                prop_assert_eq!(&encode_snapshot_part(&p), f);
                back.extend(p.records);
            }
            prop_assert_eq!(back, records);
        }

        #[test]
        fn snapshot_prefixes_rejected(records in proptest::collection::vec(record(), 0..6),
                                      refreshed_at in any::<u64>()) {
            let frame = encode_snapshot(&records, refreshed_at, SNAPSHOT_PART_BYTES).remove(0);
            for n in 0..frame.len() {
                prop_assert!(decode_snapshot_part(&frame[..n]).is_err());
            }
        }

        #[test]
        fn refreshed_round_trip(t in any::<u64>()) {
            let bytes = encode_refreshed(t);
            prop_assert_eq!(bytes.len(), 9);
            prop_assert_eq!(decode_refreshed(&bytes).unwrap(), t);
            for n in 0..bytes.len() {
                prop_assert!(decode_refreshed(&bytes[..n]).is_err());
            }
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_diff(&bytes);
            let _ = decode_checkpoint(&bytes);
            let _ = decode_snapshot_part(&bytes);
            let _ = decode_refreshed(&bytes);
        }
    }
}
