//! Any bytes as a failover TCP stream from the partner: the framer and the
//! decoder must not panic in either mode, and every message they return
//! must encode and decode back to itself. The bytes are fed in pieces cut
//! where the input says, so split messages are covered too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem_failover::wire::{
    lease_from_bndupd, DecodeMode, Framer, Message, MessageType, TandemExt,
};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the piece size (1..=256), the rest is the stream.
    let Some((&cut, stream)) = data.split_first() else {
        return;
    };
    let piece = usize::from(cut) + 1;
    // tandem's extension, alone: must not panic, and what it reads writes
    // back to the same.
    if let Some(ext) = TandemExt::decode(stream) {
        assert_eq!(TandemExt::decode(&ext.encode()), Some(ext));
    }
    for mode in [
        DecodeMode::KeepAll,
        DecodeMode::IscAllowList,
        DecodeMode::Tandem,
    ] {
        let mut framer = Framer::new(mode);
        'feed: for chunk in stream.chunks(piece) {
            framer.push(chunk);
            loop {
                match framer.next_message() {
                    Ok(Some(m)) => check(&m, mode),
                    Ok(None) => break,
                    Err(_) => break 'feed,
                }
            }
        }
        // The stream as one frame, as Message::decode sees it.
        if let Ok(m) = Message::decode(stream, mode) {
            check(&m, mode);
        }
    }
});

fn check(m: &Message, mode: DecodeMode) {
    let bytes = m.encode().expect("a decoded message must encode");
    assert_eq!(bytes.len(), m.encoded_len());
    let again = Message::decode(&bytes, mode).expect("own output must decode");
    assert_eq!(&again, m);
    if m.kind == MessageType::BndUpd {
        // Must not panic; errors are answers (BNDACK rejects).
        if let Ok(update) = lease_from_bndupd(m) {
            let lease = tandem_dhcp::Lease::new(update.addr, update.state);
            let _ = update.apply_to(&lease);
        }
    }
}
