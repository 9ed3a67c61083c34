//! Properties of the lease payload codec: every representable lease survives
//! a round trip, and no byte string makes a decoder panic.

use std::net::Ipv4Addr;

use proptest::prelude::*;
use tandem_dhcp::{BindingState, HwAddr, Lease};
use tandem_leasestore::codec::{
    decode_changes, decode_checkpoint, encode_changes, encode_checkpoint, record_len,
    CHANGES_HEADER_LEN, MAX_CLIENT_ID_LEN, MAX_HW_LEN, MAX_RECORD_LEN,
};

fn state() -> impl Strategy<Value = BindingState> {
    (1u8..=7).prop_map(|c| BindingState::from_code(c).expect("codes 1..=7 are defined"))
}

fn hostname() -> impl Strategy<Value = String> {
    prop_oneof![
        // Any Unicode, at most 60 chars (so at most 240 bytes).
        "\\PC{0,60}",
        // ASCII right up to the 255-byte limit.
        "[a-z0-9.-]{0,255}",
    ]
}

fn lease() -> impl Strategy<Value = Lease> {
    (
        any::<u32>(),
        state(),
        any::<[u64; 6]>(),
        proptest::option::of((
            any::<u8>(),
            proptest::collection::vec(any::<u8>(), 0..=MAX_HW_LEN),
        )),
        proptest::option::of(proptest::collection::vec(
            any::<u8>(),
            0..=MAX_CLIENT_ID_LEN,
        )),
        proptest::option::of(hostname()),
    )
        .prop_map(|(addr, state, t, hw, client_id, hostname)| Lease {
            addr: Ipv4Addr::from(addr),
            state,
            start: t[0],
            end: t[1],
            cltt: t[2],
            hw: hw.map(|(htype, addr)| HwAddr { htype, addr }),
            client_id,
            hostname,
            ddns: None,
            tstp: t[3],
            atsfp: t[4],
            tsfp: t[5],
        })
}

proptest! {
    #[test]
    fn changes_round_trip(leases in proptest::collection::vec(lease(), 0..20)) {
        let bytes = encode_changes(&leases).unwrap();
        let expected: usize = CHANGES_HEADER_LEN + leases.iter().map(record_len).sum::<usize>();
        prop_assert_eq!(bytes.len(), expected);
        prop_assert!(leases.iter().all(|l| record_len(l) <= MAX_RECORD_LEN));
        prop_assert_eq!(decode_changes(&bytes).unwrap(), leases);
    }

    #[test]
    fn checkpoint_round_trip(
        leases in proptest::collection::vec(lease(), 0..40),
        frame_bytes in 1usize..4096,
    ) {
        let payloads = encode_checkpoint(&leases, frame_bytes).unwrap();
        let parts = payloads.len() as u32;
        let mut back = Vec::new();
        for (i, p) in payloads.iter().enumerate() {
            let cp = decode_checkpoint(p).unwrap();
            prop_assert_eq!((cp.part, cp.parts), (i as u32, parts));
            // A frame is over budget only if it carries a single record.
            prop_assert!(p.len() <= frame_bytes || cp.leases.len() == 1);
            back.extend(cp.leases);
        }
        prop_assert_eq!(back, leases);
    }

    #[test]
    fn every_proper_prefix_is_rejected(leases in proptest::collection::vec(lease(), 1..5)) {
        let bytes = encode_changes(&leases).unwrap();
        for n in 0..bytes.len() {
            prop_assert!(decode_changes(&bytes[..n]).is_err(), "prefix of {} bytes decoded", n);
        }
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = decode_changes(&bytes);
        let _ = decode_checkpoint(&bytes);
        // Also with a valid version byte, so the decoders get past it.
        let mut v = vec![1u8];
        v.extend_from_slice(&bytes);
        let _ = decode_changes(&v);
        let _ = decode_checkpoint(&v);
    }

    #[test]
    fn damaged_payloads_never_panic_and_errors_are_typed(
        leases in proptest::collection::vec(lease(), 1..5),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
    ) {
        // Random bytes rarely get past the header; damaging a valid payload
        // reaches every field decoder.
        let mut bytes = encode_changes(&leases).unwrap();
        for (at, mask) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= mask;
        }
        if let Err(e) = decode_changes(&bytes) {
            prop_assert!(!e.to_string().is_empty());
        }
    }
}
