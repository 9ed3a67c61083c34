//! The on-disk byte layout: the file header and the frame codec.
//!
//! This module owns every decision about bytes on disk and nothing else; it
//! performs no I/O, so the recovery scanner and the property tests can drive
//! it with arbitrary buffers.
//!
//! ```text
//! header: magic b"TNDMJRNL" | version u32 LE | created u64 LE (unix seconds)
//! frame:  len u32 LE | kind u16 LE | crc32c u32 LE (over kind bytes + payload) | payload[len]
//! ```

use std::fmt;

/// The eight bytes every journal file starts with.
pub const MAGIC: [u8; 8] = *b"TNDMJRNL";
/// The only format version this build reads and writes.
pub const VERSION: u32 = 1;
/// Size of the file header in bytes.
pub const HEADER_LEN: usize = 8 + 4 + 8;
/// Size of the fixed part of a frame (len + kind + crc).
pub const FRAME_OVERHEAD: usize = 4 + 2 + 4;
/// Largest payload a frame may carry.
///
/// This is part of the format, not a tunable: a reader treats a larger
/// declared length as damage, which keeps a flipped high bit in a length
/// field from making recovery checksum gigabytes of unrelated data. Callers
/// with bigger snapshots split them over several frames.
pub const MAX_PAYLOAD_LEN: u32 = 64 << 20;

/// The decoded file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Format version found in the file.
    pub version: u32,
    /// Unix time (seconds) at which this file was written; informational only.
    pub created: u64,
}

/// Appends the header bytes for a file created at `created` to `out`.
pub fn encode_header(created: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&created.to_le_bytes());
}

/// What is wrong with the bytes at a position where a frame was expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameDefect {
    /// Fewer bytes remain than the frame needs (header or declared payload).
    Incomplete {
        /// Bytes the frame would need, counted from its start.
        needed: u64,
        /// Bytes actually present from the frame's start to end of file.
        available: u64,
    },
    /// The declared payload length exceeds [`MAX_PAYLOAD_LEN`].
    LengthTooLarge {
        /// The declared length.
        declared: u32,
    },
    /// The frame is complete but its checksum does not match.
    BadChecksum {
        /// Checksum stored in the frame.
        stored: u32,
        /// Checksum computed over the frame's kind and payload.
        computed: u32,
    },
    /// The file is too short to hold a header (its creation was interrupted).
    TornHeader {
        /// Bytes present.
        available: u64,
    },
}

impl fmt::Display for FrameDefect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FrameDefect::Incomplete { needed, available } => write!(
                f,
                "incomplete frame: needs {needed} bytes, {available} present"
            ),
            FrameDefect::LengthTooLarge { declared } => write!(
                f,
                "declared payload length {declared} exceeds the maximum {MAX_PAYLOAD_LEN}"
            ),
            FrameDefect::BadChecksum { stored, computed } => write!(
                f,
                "checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"
            ),
            FrameDefect::TornHeader { available } => write!(
                f,
                "file header incomplete: {available} of {HEADER_LEN} bytes present"
            ),
        }
    }
}

/// Result of decoding one frame at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A complete frame with a valid checksum.
    Frame {
        /// Caller-defined record kind.
        kind: u16,
        /// The payload bytes.
        payload: &'a [u8],
        /// Total bytes the frame occupies (overhead + payload).
        frame_len: usize,
    },
    /// The bytes do not form a valid frame.
    Invalid(FrameDefect),
}

/// Checksum of a frame: CRC32C over the little-endian kind, then the payload.
pub fn frame_checksum(kind: u16, payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&kind.to_le_bytes()), payload)
}

/// Total encoded size of a frame carrying `payload_len` bytes.
pub fn frame_len(payload_len: usize) -> usize {
    FRAME_OVERHEAD + payload_len
}

/// Appends one encoded frame to `out`.
///
/// # Panics
/// If `payload` is longer than [`MAX_PAYLOAD_LEN`]; the journal checks this
/// before queueing, so reaching it is a bug.
pub fn encode_frame(kind: u16, payload: &[u8], out: &mut Vec<u8>) {
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|&l| l <= MAX_PAYLOAD_LEN)
        .expect("payload length checked before encoding");
    out.reserve(frame_len(payload.len()));
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&frame_checksum(kind, payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Decodes the frame starting at `buf[0]`. Never panics, whatever the bytes.
pub fn decode_frame(buf: &[u8]) -> Decoded<'_> {
    let available = buf.len() as u64;
    if buf.len() < FRAME_OVERHEAD {
        return Decoded::Invalid(FrameDefect::Incomplete {
            needed: FRAME_OVERHEAD as u64,
            available,
        });
    }
    let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if len > MAX_PAYLOAD_LEN {
        return Decoded::Invalid(FrameDefect::LengthTooLarge { declared: len });
    }
    let kind = u16::from_le_bytes([buf[4], buf[5]]);
    let stored = u32::from_le_bytes([buf[6], buf[7], buf[8], buf[9]]);
    let total = FRAME_OVERHEAD + len as usize;
    if buf.len() < total {
        return Decoded::Invalid(FrameDefect::Incomplete {
            needed: total as u64,
            available,
        });
    }
    let payload = &buf[FRAME_OVERHEAD..total];
    let computed = frame_checksum(kind, payload);
    if computed != stored {
        return Decoded::Invalid(FrameDefect::BadChecksum { stored, computed });
    }
    Decoded::Frame {
        kind,
        payload,
        frame_len: total,
    }
}

/// Where the frames of a journal file image end: past the header, the
/// first position that does not start a valid frame. What follows is free
/// room (zeros) or a torn tail. For tools and tests that look at a file
/// the journal keeps preallocated.
pub fn frames_end(file: &[u8]) -> usize {
    if file.len() < HEADER_LEN || file[..MAGIC.len()] != MAGIC {
        return 0;
    }
    let mut at = HEADER_LEN;
    while let Decoded::Frame { frame_len, .. } = decode_frame(&file[at..]) {
        at += frame_len;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_layout() {
        let mut buf = Vec::new();
        encode_frame(7, b"hello", &mut buf);
        assert_eq!(buf.len(), frame_len(5));
        assert_eq!(&buf[..4], &5u32.to_le_bytes());
        assert_eq!(&buf[4..6], &7u16.to_le_bytes());
        match decode_frame(&buf) {
            Decoded::Frame {
                kind,
                payload,
                frame_len,
            } => {
                assert_eq!((kind, payload, frame_len), (7, &b"hello"[..], 15));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn zero_filled_region_is_not_a_frame() {
        // Filesystems may expose zeros where a crash lost data; recovery relies
        // on an all-zero frame header failing its checksum.
        assert_ne!(frame_checksum(0, &[]), 0);
        assert!(matches!(
            decode_frame(&[0u8; 64]),
            Decoded::Invalid(FrameDefect::BadChecksum { .. })
        ));
    }

    #[test]
    fn frames_end_stops_at_free_room() {
        let mut buf = Vec::new();
        encode_header(1, &mut buf);
        encode_frame(1, b"abc", &mut buf);
        let end = buf.len();
        buf.extend_from_slice(&[0; 100]);
        assert_eq!(frames_end(&buf), end);
        assert_eq!(frames_end(b"not a journal"), 0);
    }

    #[test]
    fn header_layout() {
        let mut buf = Vec::new();
        encode_header(42, &mut buf);
        assert_eq!(buf.len(), HEADER_LEN);
        assert_eq!(&buf[..8], b"TNDMJRNL");
    }
}
