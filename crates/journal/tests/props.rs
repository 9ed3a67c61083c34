//! Property tests for the frame codec and for recovery on arbitrary bytes.

use std::path::PathBuf;

use proptest::prelude::*;
use tandem_journal::format::{
    decode_frame, encode_frame, encode_header, frame_len, Decoded, HEADER_LEN,
};
use tandem_journal::{Journal, JournalError, MemBackend, Options};

proptest! {
    #[test]
    fn frame_round_trips(kind in any::<u16>(), payload in proptest::collection::vec(any::<u8>(), 0..2048),
                         trailing in proptest::collection::vec(any::<u8>(), 0..32)) {
        let mut buf = Vec::new();
        encode_frame(kind, &payload, &mut buf);
        prop_assert_eq!(buf.len(), frame_len(payload.len()));
        buf.extend_from_slice(&trailing);
        match decode_frame(&buf) {
            Decoded::Frame { kind: k, payload: p, frame_len: n } => {
                prop_assert_eq!(k, kind);
                prop_assert_eq!(p, &payload[..]);
                prop_assert_eq!(n, frame_len(payload.len()));
            }
            other => prop_assert!(false, "decode failed: {:?}", other),
        }
    }

    #[test]
    fn every_proper_prefix_of_a_frame_is_rejected(payload in proptest::collection::vec(any::<u8>(), 0..300),
                                                  cut in any::<prop::sample::Index>()) {
        let mut buf = Vec::new();
        encode_frame(1, &payload, &mut buf);
        let n = cut.index(buf.len());
        prop_assert!(matches!(decode_frame(&buf[..n]), Decoded::Invalid(_)));
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_frame(&bytes);
    }

    #[test]
    fn opening_arbitrary_bytes_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512),
                                            with_header in any::<bool>()) {
        let mut image = Vec::new();
        if with_header {
            encode_header(0, &mut image);
        }
        image.extend_from_slice(&body);
        let mem = MemBackend::new();
        let path = PathBuf::from("/p/j");
        mem.set_contents(&path, &image);
        match Journal::open(&path, Options::with_backend(mem)) {
            Ok((j, replay)) => {
                // Whatever was accepted is a clean prefix that now ends the file.
                let end = replay.entries.last()
                    .map(|e| e.offset + frame_len(e.payload.len()) as u64)
                    .unwrap_or(HEADER_LEN as u64);
                prop_assert_eq!(j.len(), end);
            }
            Err(JournalError::BadMagic { .. })
            | Err(JournalError::UnsupportedVersion { .. })
            | Err(JournalError::Corrupt { .. }) => {}
            Err(other) => prop_assert!(false, "unexpected error {}", other),
        }
    }

    /// Valid frames followed by any torn prefix of one more frame always
    /// recover to exactly the valid frames.
    #[test]
    fn torn_final_frame_recovers_the_rest(
        entries in proptest::collection::vec((any::<u16>(), proptest::collection::vec(any::<u8>(), 0..64)), 0..8),
        last in proptest::collection::vec(any::<u8>(), 0..64),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut image = Vec::new();
        encode_header(0, &mut image);
        for (kind, p) in &entries {
            encode_frame(*kind, p, &mut image);
        }
        let mut tail = Vec::new();
        encode_frame(7, &last, &mut tail);
        let n = cut.index(tail.len());
        image.extend_from_slice(&tail[..n]);

        let mem = MemBackend::new();
        let path = PathBuf::from("/p/j");
        mem.set_contents(&path, &image);
        let (_j, replay) = Journal::open(&path, Options::with_backend(mem)).unwrap();
        let got: Vec<(u16, Vec<u8>)> = replay.entries.into_iter().map(|e| (e.kind, e.payload)).collect();
        prop_assert_eq!(got, entries);
        // Damage is counted up to its last non-zero byte; a torn prefix of
        // only zeros is indistinguishable from free room.
        let torn = tail[..n].iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        prop_assert_eq!(replay.truncated.map(|t| t.bytes_dropped).unwrap_or(0), torn as u64);
    }
}
