//! The framer: a stream of messages cut at every possible point, and the
//! errors that must close the connection.

mod common;

use std::net::Ipv4Addr;

use common::*;
use tandem_dhcp::{BindingState, Lease};
use tandem_failover::wire::*;

/// Several messages back to back, as one TCP connection would carry them:
/// dhcpd's own CONNECT, STATEs, two BNDUPDs and a CONTACT, plus ours.
fn stream() -> (Vec<u8>, Vec<Message>) {
    let mut msgs: Vec<Message> = [
        ISC_CONNECT,
        ISC_STATE_STARTUP,
        ISC_STATE_NORMAL,
        ISC_BNDUPD_BACKUP,
        ISC_BNDUPD_ACTIVE,
        ISC_CONTACT,
    ]
    .iter()
    .map(|h| Message::decode(&unhex(h), DecodeMode::IscAllowList).unwrap())
    .collect();
    msgs.push(bndack(7, 8, Ipv4Addr::new(10, 99, 0, 102), None));
    msgs.push(disconnect(7, 9, RejectReason::NoTraffic, None));
    let bytes = msgs.iter().flat_map(|m| m.encode().unwrap()).collect();
    (bytes, msgs)
}

fn drain(f: &mut Framer, out: &mut Vec<Message>) {
    while let Some(m) = f.next_message().unwrap() {
        out.push(m);
    }
}

#[test]
fn every_split_point_of_a_stream_yields_the_same_messages() {
    let (bytes, msgs) = stream();
    for cut in 0..=bytes.len() {
        let mut f = Framer::new(DecodeMode::IscAllowList);
        let mut got = Vec::new();
        f.push(&bytes[..cut]);
        drain(&mut f, &mut got);
        f.push(&bytes[cut..]);
        drain(&mut f, &mut got);
        assert_eq!(got, msgs, "cut at {cut}");
        assert_eq!(f.buffered(), 0);
    }
}

#[test]
fn every_pair_of_split_points_of_the_first_messages() {
    // Three cuts would be cubic in the stream length; two cuts over the
    // first three messages (165 bytes) still cover a message arriving in
    // three pieces and two messages in one piece.
    let (bytes, msgs) = stream();
    let bytes = &bytes[..105 + 30 + 30];
    for a in 0..=bytes.len() {
        for b in a..=bytes.len() {
            let mut f = Framer::new(DecodeMode::KeepAll);
            let mut got = Vec::new();
            for piece in [&bytes[..a], &bytes[a..b], &bytes[b..]] {
                f.push(piece);
                drain(&mut f, &mut got);
            }
            assert_eq!(got, msgs[..3], "cuts at {a} and {b}");
        }
    }
}

#[test]
fn one_byte_at_a_time() {
    let (bytes, msgs) = stream();
    let mut f = Framer::new(DecodeMode::IscAllowList);
    let mut got = Vec::new();
    for b in &bytes {
        f.push(std::slice::from_ref(b));
        drain(&mut f, &mut got);
    }
    assert_eq!(got, msgs);
}

#[test]
fn a_bad_length_is_refused_as_soon_as_its_two_bytes_arrive() {
    let mut f = Framer::new(DecodeMode::IscAllowList);
    f.push(&[0x08]);
    assert_eq!(f.next_message(), Ok(None));
    f.push(&[0x01]); // 2049: no need to wait for 2049 bytes
    assert_eq!(f.next_message(), Err(DecodeError::TooLong { length: 2049 }));
    assert!(f.has_failed());

    let mut f = Framer::new(DecodeMode::IscAllowList);
    f.push(&[0, 11]);
    assert_eq!(f.next_message(), Err(DecodeError::TooShort { length: 11 }));
}

#[test]
fn an_error_is_final() {
    let mut f = Framer::new(DecodeMode::IscAllowList);
    let good = contact(1, 1).encode().unwrap();
    let mut bad = contact(1, 2).encode().unwrap();
    bad[2] = 13; // unknown type
    f.push(&good);
    f.push(&bad);
    f.push(&good);
    assert_eq!(f.next_message().unwrap().unwrap().xid, 1);
    let err = DecodeError::UnknownType { code: 13 };
    assert_eq!(f.next_message(), Err(err.clone()));
    // The stream is out of step: nothing after the error is trusted.
    f.push(&good);
    assert_eq!(f.next_message(), Err(err));
}

#[test]
fn messages_after_a_long_one_are_not_lost_when_the_buffer_is_compacted() {
    // A 2048-byte message, then many small ones pushed in odd pieces, so
    // the framer drops consumed bytes while holding a partial message.
    let big = Message::new(MessageType::State, 1, 1)
        .with(FailoverOption::VendorSpecificOptions(vec![9; 2048 - 16]));
    let lease = Lease::new(Ipv4Addr::new(10, 0, 0, 1), BindingState::Free);
    let mut msgs = vec![big];
    for i in 0..200 {
        msgs.push(bndupd(i, i + 10, &lease, IpFlags::NONE));
    }
    let bytes: Vec<u8> = msgs.iter().flat_map(|m| m.encode().unwrap()).collect();
    let mut f = Framer::new(DecodeMode::KeepAll);
    let mut got = Vec::new();
    for piece in bytes.chunks(37) {
        f.push(piece);
        drain(&mut f, &mut got);
    }
    assert_eq!(got, msgs);
}
