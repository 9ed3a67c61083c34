//! Recovery: turning the bytes of a journal file into entries, and deciding
//! whether damage is a torn tail (safe to cut) or corruption (refuse).
//!
//! The writer appends a batch with one write and acknowledges it only after
//! `fdatasync`, and it never writes batch N+1 before batch N is synced. So a
//! crash can only damage bytes *after* the last acknowledged entry, and
//! nothing valid is ever written after them. The rule follows: at the first
//! frame that fails to decode, look for any complete, checksum-valid frame
//! further on. If there is none, the damage is a torn tail and is truncated.
//! If there is one, acknowledged data sits behind the damage (bit rot, a
//! misdirected write, a bad copy) and cutting there would silently lose it,
//! so open fails with [`JournalError::Corrupt`].

use std::path::Path;

use crate::error::JournalError;
use crate::format::{decode_frame, Decoded, FrameDefect, HEADER_LEN, MAGIC, VERSION};

/// How [`crate::Journal::open`] treats a damaged frame that has valid frames
/// after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecoveryMode {
    /// Fail with [`JournalError::Corrupt`] and leave the file untouched.
    #[default]
    Strict,
    /// Keep everything before the first damaged frame and truncate the rest,
    /// reporting it in [`crate::Replay::truncated`]. This is the operator's
    /// explicit "accept the loss" switch.
    TruncateAtFirstDamage,
}

/// One entry read back from the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Byte offset of the entry's frame in the file (its [`crate::Lsn`]).
    pub offset: u64,
    /// The caller-defined kind it was appended with.
    pub kind: u16,
    /// The payload it was appended with.
    pub payload: Vec<u8>,
}

/// What recovery cut off the end of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TruncationReport {
    /// Offset at which the file was cut (the first damaged frame).
    pub offset: u64,
    /// How many damaged bytes were removed: from `offset` to the last
    /// non-zero byte. Zeros after them (preallocated room) are cut too but
    /// not counted.
    pub bytes_dropped: u64,
    /// What was wrong with the bytes at `offset`.
    pub reason: FrameDefect,
}

/// Outcome of scanning a file image.
#[derive(Debug)]
pub(crate) struct Scan {
    pub entries: Vec<Entry>,
    /// `None` when the header itself is missing or torn and must be rewritten.
    pub created: Option<u64>,
    /// Offset just past the last valid frame (or the header).
    pub valid_end: u64,
    pub truncated: Option<TruncationReport>,
}

/// Parses a whole file image. Never panics, whatever the bytes.
pub(crate) fn scan(path: &Path, buf: &[u8], mode: RecoveryMode) -> Result<Scan, JournalError> {
    if buf.len() < HEADER_LEN {
        // A file shorter than its header is an interrupted creation, but only
        // if what is there is the start of our magic; otherwise it is some
        // other file and we must not touch it.
        let n = buf.len().min(MAGIC.len());
        if buf[..n] != MAGIC[..n] {
            return Err(bad_magic(path, buf));
        }
        let truncated = (!buf.is_empty()).then_some(TruncationReport {
            offset: 0,
            bytes_dropped: buf.len() as u64,
            reason: FrameDefect::TornHeader {
                available: buf.len() as u64,
            },
        });
        return Ok(Scan {
            entries: Vec::new(),
            created: None,
            valid_end: 0,
            truncated,
        });
    }
    if buf[..8] != MAGIC {
        return Err(bad_magic(path, buf));
    }
    let version = u32::from_le_bytes([buf[8], buf[9], buf[10], buf[11]]);
    if version != VERSION {
        return Err(JournalError::UnsupportedVersion {
            path: path.to_path_buf(),
            found: version,
            supported: VERSION,
        });
    }
    let mut created = [0u8; 8];
    created.copy_from_slice(&buf[12..20]);
    let created = u64::from_le_bytes(created);

    let mut entries = Vec::new();
    let mut pos = HEADER_LEN;
    while pos < buf.len() {
        match decode_frame(&buf[pos..]) {
            Decoded::Frame {
                kind,
                payload,
                frame_len,
            } => {
                entries.push(Entry {
                    offset: pos as u64,
                    kind,
                    payload: payload.to_vec(),
                });
                pos += frame_len;
            }
            Decoded::Invalid(defect) => {
                let damaged = damaged_len(&buf[pos..]);
                if damaged == 0 {
                    // The zero-filled room the writer keeps past the last
                    // frame (see `Options::preallocate`), not damage.
                    break;
                }
                if mode == RecoveryMode::Strict {
                    if let Some(next_valid) = find_valid_frame_after(buf, pos) {
                        return Err(JournalError::Corrupt {
                            path: path.to_path_buf(),
                            offset: pos as u64,
                            defect,
                            next_valid: next_valid as u64,
                        });
                    }
                }
                return Ok(Scan {
                    entries,
                    created: Some(created),
                    valid_end: pos as u64,
                    truncated: Some(TruncationReport {
                        offset: pos as u64,
                        bytes_dropped: damaged,
                        reason: defect,
                    }),
                });
            }
        }
    }
    Ok(Scan {
        entries,
        created: Some(created),
        valid_end: pos as u64,
        truncated: None,
    })
}

/// Length of `tail` without its trailing zeros.
fn damaged_len(tail: &[u8]) -> u64 {
    tail.iter()
        .rposition(|&b| b != 0)
        .map_or(0, |i| i as u64 + 1)
}

fn bad_magic(path: &Path, buf: &[u8]) -> JournalError {
    JournalError::BadMagic {
        path: path.to_path_buf(),
        found: buf[..buf.len().min(MAGIC.len())].to_vec(),
    }
}

/// First offset after `bad` at which a complete, checksum-valid frame starts.
///
/// Every byte position is tried, because a damaged length field means the
/// damaged frame cannot tell us where its successor begins. The cost is
/// small in practice: at most positions the declared length is either too
/// large for the format or runs past the end of the file, which is rejected
/// without checksumming; and on genuine corruption the search stops at the
/// next intact frame.
fn find_valid_frame_after(buf: &[u8], bad: usize) -> Option<usize> {
    (bad + 1..buf.len()).find(|&p| matches!(decode_frame(&buf[p..]), Decoded::Frame { .. }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{encode_frame, encode_header};

    fn image(payloads: &[&[u8]]) -> Vec<u8> {
        let mut buf = Vec::new();
        encode_header(1, &mut buf);
        for p in payloads {
            encode_frame(1, p, &mut buf);
        }
        buf
    }

    #[test]
    fn clean_file() {
        let buf = image(&[b"a", b"bb", b""]);
        let s = scan(Path::new("j"), &buf, RecoveryMode::Strict).unwrap();
        assert_eq!(s.entries.len(), 3);
        assert_eq!(s.valid_end, buf.len() as u64);
        assert!(s.truncated.is_none());
    }

    #[test]
    fn zeroed_tail_is_free_space_and_a_torn_frame_before_it_is_cut() {
        let mut buf = image(&[b"a", b"bb"]);
        let good = buf.len();
        buf.extend_from_slice(&[0u8; 4096]);
        let s = scan(Path::new("j"), &buf, RecoveryMode::Strict).unwrap();
        assert_eq!(s.entries.len(), 2);
        assert_eq!(s.valid_end, good as u64);
        assert!(s.truncated.is_none());

        // Counted up to the last damaged byte, not through the zeros.
        buf[good + 1] = 7;
        let s = scan(Path::new("j"), &buf, RecoveryMode::Strict).unwrap();
        assert_eq!(s.entries.len(), 2);
        let t = s.truncated.unwrap();
        assert_eq!((t.offset, t.bytes_dropped), (good as u64, 2));
    }

    #[test]
    fn damaged_middle_is_corrupt_unless_told_otherwise() {
        let mut buf = image(&[b"first", b"second", b"third"]);
        let second = HEADER_LEN + 15;
        buf[second + 12] ^= 0x40;
        let err = scan(Path::new("/x/j"), &buf, RecoveryMode::Strict).unwrap_err();
        match err {
            JournalError::Corrupt {
                offset, next_valid, ..
            } => {
                assert_eq!(offset, second as u64);
                assert_eq!(next_valid, (second + 16) as u64);
            }
            other => panic!("{other}"),
        }
        let s = scan(Path::new("j"), &buf, RecoveryMode::TruncateAtFirstDamage).unwrap();
        assert_eq!(s.entries.len(), 1);
        assert_eq!(s.truncated.unwrap().offset, second as u64);
    }
}
