//! Any bytes as a journal file (damage, torn tails, preallocated zeros):
//! opening never panics; what it replays are the file's own frames in
//! order; what it keeps unreported past them is zeros; and the journal
//! takes an append afterwards and replays it.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use tandem_journal::format::{decode_frame, frames_end, Decoded, HEADER_LEN};
use tandem_journal::{Journal, MemBackend, Options, RecoveryMode};

fuzz_target!(|data: &[u8]| {
    for recovery in [RecoveryMode::Strict, RecoveryMode::TruncateAtFirstDamage] {
        let mem = MemBackend::new();
        let path = Path::new("/f/fuzz.jnl");
        mem.set_contents(path, data);
        let options = Options {
            recovery,
            ..Options::with_backend(mem.clone())
        };
        let Ok((journal, replay)) = Journal::open(path, options.clone()) else {
            // Refused (corruption, wrong magic or version): left as found.
            assert_eq!(mem.contents(path).unwrap(), data);
            continue;
        };
        let mut end = HEADER_LEN as u64;
        for e in &replay.entries {
            assert_eq!(e.offset, end);
            match decode_frame(&data[e.offset as usize..]) {
                Decoded::Frame {
                    kind,
                    payload,
                    frame_len,
                } => {
                    assert_eq!((kind, payload), (e.kind, &e.payload[..]));
                    end += frame_len as u64;
                }
                Decoded::Invalid(d) => panic!("replayed an invalid frame: {d}"),
            }
        }
        if !replay.fresh {
            assert_eq!(journal.len(), end);
            if replay.truncated.is_none() {
                assert_eq!(frames_end(data) as u64, end);
                assert!(data[end as usize..].iter().all(|&b| b == 0));
            }
        }
        let lsn = journal.append_blocking(7, b"after".to_vec()).unwrap();
        drop(journal);
        let (_j, again) = Journal::open(path, options).unwrap();
        assert!(again.truncated.is_none());
        let last = again.entries.last().unwrap();
        assert_eq!(
            (last.offset, last.kind, &last.payload[..]),
            (lsn, 7, &b"after"[..])
        );
        assert_eq!(again.entries.len(), replay.entries.len() + 1);
    }
});
