//! Any bytes as an update-outbox entry (after the journal's checksum
//! passed): an error or a value that encodes back to the same bytes, and a
//! replay of any sequence of them that never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem_dns::outbox::{self, Queued, KIND_DELIVERED, KIND_QUEUED};

fuzz_target!(|data: &[u8]| {
    if let Ok(q) = Queued::decode(data) {
        // The client field is cut at 255 bytes when encoding, and decoded
        // ones are never longer, so the bytes come back exactly.
        assert_eq!(q.encode(), data);
    }
    if let Ok(seq) = outbox::decode_delivered(data) {
        assert_eq!(outbox::encode_delivered(seq), data);
    }
    // Split the input into entries at 0xff bytes, kinds alternating.
    let entries: Vec<(u16, &[u8])> = data
        .split(|b| *b == 0xff)
        .enumerate()
        .map(|(i, p)| (if i % 2 == 0 { KIND_QUEUED } else { KIND_DELIVERED }, p))
        .collect();
    if let Ok(queue) = outbox::replay(entries) {
        assert!(queue.iter().zip(queue.iter().skip(1)).all(|(a, b)| a.seq < b.seq));
    }
});
