//! Property tests: every message type round-trips with arbitrary field
//! values, arbitrary bytes never panic the decoder or the framer, and the
//! builders' fields come back as they went in.

use std::net::Ipv4Addr;

use proptest::prelude::*;
use tandem_dhcp::{BindingState, HwAddr, Lease};
use tandem_failover::wire::*;
use tandem_failover::Hba;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..=max)
}

/// Any option but DDNS (which [`Message::encode`] refuses, ISC being unable
/// to parse it) and message-digest (placed last separately).
fn option_for(code: OptionCode) -> BoxedStrategy<FailoverOption> {
    use FailoverOption as F;
    use OptionCode as C;
    match code {
        C::AddressesTransferred => any::<u32>().prop_map(F::AddressesTransferred).boxed(),
        C::AssignedIpAddress => any::<u32>()
            .prop_map(|a| F::AssignedIpAddress(Ipv4Addr::from(a)))
            .boxed(),
        C::BindingStatus => any::<u8>().prop_map(F::BindingStatus).boxed(),
        C::ClientIdentifier => bytes(40).prop_map(F::ClientIdentifier).boxed(),
        C::ClientHardwareAddress => bytes(17).prop_map(F::ClientHardwareAddress).boxed(),
        C::ClientLastTransactionTime => any::<u32>().prop_map(F::ClientLastTransactionTime).boxed(),
        C::ClientReplyOptions => bytes(40).prop_map(F::ClientReplyOptions).boxed(),
        C::ClientRequestOptions => bytes(40).prop_map(F::ClientRequestOptions).boxed(),
        C::DelayedService => any::<u8>().prop_map(F::DelayedService).boxed(),
        C::HashBucketAssignment => bytes(40).prop_map(F::HashBucketAssignment).boxed(),
        C::IpFlags => any::<u16>().prop_map(F::IpFlags).boxed(),
        C::LeaseExpirationTime => any::<u32>().prop_map(F::LeaseExpirationTime).boxed(),
        C::MaxUnackedBndupd => any::<u32>().prop_map(F::MaxUnackedBndupd).boxed(),
        C::Mclt => any::<u32>().prop_map(F::Mclt).boxed(),
        C::Message => bytes(40).prop_map(F::Message).boxed(),
        C::PotentialExpirationTime => any::<u32>().prop_map(F::PotentialExpirationTime).boxed(),
        C::ReceiveTimer => any::<u32>().prop_map(F::ReceiveTimer).boxed(),
        C::ProtocolVersion => any::<u8>().prop_map(F::ProtocolVersion).boxed(),
        C::RejectReason => any::<u8>().prop_map(F::RejectReason).boxed(),
        C::RelationshipName => bytes(40).prop_map(F::RelationshipName).boxed(),
        C::ServerFlags => any::<u8>().prop_map(F::ServerFlags).boxed(),
        C::ServerState => any::<u8>().prop_map(F::ServerState).boxed(),
        C::StartTimeOfState => any::<u32>().prop_map(F::StartTimeOfState).boxed(),
        C::TlsReply => any::<u8>().prop_map(F::TlsReply).boxed(),
        C::TlsRequest => any::<u8>().prop_map(F::TlsRequest).boxed(),
        C::VendorClassIdentifier => bytes(40).prop_map(F::VendorClassIdentifier).boxed(),
        C::VendorSpecificOptions => bytes(40).prop_map(F::VendorSpecificOptions).boxed(),
        C::Ddns | C::MessageDigest => unreachable!("not generated here"),
    }
}

fn kind() -> impl Strategy<Value = MessageType> {
    prop::sample::select(MessageType::ALL.to_vec())
}

/// A message of any type with any subset of the options, each once, in
/// any order, optionally ending with a digest.
fn message() -> impl Strategy<Value = Message> {
    let codes: Vec<OptionCode> = OptionCode::ALL
        .into_iter()
        .filter(|c| !matches!(c, OptionCode::Ddns | OptionCode::MessageDigest))
        .collect();
    let options = prop::sample::subsequence(codes.clone(), 0..=codes.len())
        .prop_shuffle()
        .prop_flat_map(|cs| cs.into_iter().map(option_for).collect::<Vec<_>>());
    (
        kind(),
        any::<u32>(),
        any::<u32>(),
        options,
        prop::option::of(bytes(20)),
    )
        .prop_map(|(kind, time, xid, mut options, digest)| {
            if let Some(d) = digest {
                options.push(FailoverOption::MessageDigest(d));
            }
            Message {
                kind,
                time,
                xid,
                options,
            }
        })
}

fn lease() -> impl Strategy<Value = Lease> {
    let state = prop::sample::select(vec![
        BindingState::Free,
        BindingState::Active,
        BindingState::Expired,
        BindingState::Released,
        BindingState::Abandoned,
        BindingState::Reset,
        BindingState::Backup,
    ]);
    let time = prop_oneof![0..0x7fff_fffeu64, Just(u64::MAX)];
    (
        any::<u32>(),
        state,
        (time.clone(), time.clone(), time.clone(), time),
        prop::option::of((any::<u8>(), bytes(16))),
        prop::option::of(prop::collection::vec(any::<u8>(), 1..40)),
    )
        .prop_map(|(a, state, (start, end, cltt, tstp), hw, client_id)| {
            let abandoned = state == BindingState::Abandoned;
            Lease {
                start,
                end,
                cltt,
                tstp,
                // ISC refuses a client on an abandoned binding, and a
                // bound one without its hardware address.
                hw: if abandoned {
                    None
                } else {
                    hw.map(|(htype, addr)| HwAddr { htype, addr })
                        .or(Some(HwAddr::ethernet([2, 0, 0, 0, 0, 1])))
                },
                client_id: if abandoned { None } else { client_id },
                ..Lease::new(Ipv4Addr::from(a), state)
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn every_message_round_trips(m in message()) {
        let bytes = m.encode().unwrap();
        prop_assert_eq!(bytes.len(), m.encoded_len());
        prop_assert_eq!(Message::decode(&bytes, DecodeMode::KeepAll).unwrap(), m.clone());

        // What ISC would keep of it: the allowed options, digest dropped.
        let isc = Message::decode(&bytes, DecodeMode::IscAllowList).unwrap();
        let mut expect = m.clone();
        expect.options.retain(|o| allowed(m.kind, o.code()));
        prop_assert_eq!(&isc, &expect);
        let again = Message::decode(&isc.encode().unwrap(), DecodeMode::IscAllowList).unwrap();
        prop_assert_eq!(again, isc);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in bytes(300)) {
        for mode in [DecodeMode::KeepAll, DecodeMode::IscAllowList] {
            if let Ok(m) = Message::decode(&data, mode) {
                let again = Message::decode(&m.encode().unwrap(), mode).unwrap();
                prop_assert_eq!(again, m);
            }
            let mut f = Framer::new(mode);
            f.push(&data);
            while let Ok(Some(_)) = f.next_message() {}
        }
    }

    #[test]
    fn arbitrary_options_behind_a_valid_header_never_panic(
        kind in 0u8..=14,
        offset in 10u8..=20,
        body in bytes(200),
    ) {
        let len = 12 + body.len();
        let mut data = vec![(len >> 8) as u8, len as u8, kind, offset];
        data.extend_from_slice(&[0; 8]);
        data.extend_from_slice(&body);
        for mode in [DecodeMode::KeepAll, DecodeMode::IscAllowList] {
            if let Ok(m) = Message::decode(&data, mode) {
                let again = Message::decode(&m.encode().unwrap(), mode).unwrap();
                prop_assert_eq!(again, m);
            }
        }
    }

    #[test]
    fn a_stream_in_random_pieces(
        msgs in prop::collection::vec(message(), 1..6),
        cuts in prop::collection::vec(1usize..300, 1..20),
    ) {
        let bytes: Vec<u8> = msgs.iter().flat_map(|m| m.encode().unwrap()).collect();
        let mut f = Framer::new(DecodeMode::KeepAll);
        let mut got = Vec::new();
        let mut rest = &bytes[..];
        for c in cuts.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (piece, tail) = rest.split_at((*c).min(rest.len()));
            rest = tail;
            f.push(piece);
            while let Some(m) = f.next_message().unwrap() {
                got.push(m);
            }
        }
        prop_assert_eq!(got, msgs);
    }

    #[test]
    fn bndupd_carries_the_lease(l in lease(), xid in 1u32.., flags in any::<u16>()) {
        let m = bndupd(1, xid, &l, IpFlags(flags));
        let wire = Message::decode(&m.encode().unwrap(), DecodeMode::IscAllowList).unwrap();
        prop_assert_eq!(&wire, &m);
        let b = lease_from_bndupd(&wire).unwrap();
        prop_assert_eq!(b.addr, l.addr);
        prop_assert_eq!(b.state, l.state);
        prop_assert_eq!(b.client_id, l.client_id);
        prop_assert_eq!(b.hw, l.hw.map(Some));
        prop_assert_eq!(b.start, Some(l.start));
        prop_assert_eq!(b.end, Some(l.end));
        prop_assert_eq!(b.potential_expiry, Some(l.tstp));
        prop_assert_eq!(b.cltt, (l.cltt != 0).then_some(l.cltt));
        prop_assert_eq!(b.ip_flags, IpFlags(flags));
    }

    #[test]
    fn the_other_builders_carry_their_fields(
        time in any::<u32>(),
        xid in any::<u32>(),
        name in "[a-z0-9-]{0,40}",
        vendor in "[ -~]{0,40}",
        (max_unacked, receive_timer, mclt, stos, n) in any::<(u32, u32, u32, u32, u32)>(),
        split in 0u32..=256,
        state_ix in 0usize..13,
        reason_ix in 0usize..22,
        text in prop::option::of("[ -~]{0,60}"),
        tls_reply in any::<bool>(),
        addr in any::<u32>(),
    ) {
        let hba = Hba::from_split(split).unwrap();
        let fstate = FailoverState::ALL[state_ix];
        let reason = RejectReason::ALL[reason_ix];
        let addr = Ipv4Addr::from(addr);
        let text = text.as_deref();
        let c = connect(time, xid, &Connect {
            relationship_name: &name,
            max_unacked_bndupd: max_unacked,
            receive_timer,
            vendor_class: &vendor,
            mclt,
            hba: Some(&hba),
        });
        let a = connectack(time, xid, &ConnectAck {
            relationship_name: Some(name.as_bytes()),
            max_unacked_bndupd: Some(max_unacked),
            receive_timer: Some(receive_timer),
            vendor_class: &vendor,
            tls_reply,
            reject: Some((reason, text)),
        });
        let all = [
            c.clone(),
            a.clone(),
            state(time, xid, fstate, ServerFlags::STARTUP, stos),
            contact(time, xid),
            disconnect(time, xid, reason, text),
            bndack(time, xid, addr, Some((reason, text))),
            bndack(time, xid, addr, None),
            updreq(time, xid),
            updreqall(time, xid),
            upddone(time, xid),
            poolreq(time, xid),
            poolresp(time, xid, n),
        ];
        for m in &all {
            // Every builder only uses options ISC keeps for its type, so
            // the ISC view is the whole message.
            let back = Message::decode(&m.encode().unwrap(), DecodeMode::IscAllowList).unwrap();
            prop_assert_eq!(&back, m);
            prop_assert_eq!((back.time, back.xid), (time, xid));
        }
        prop_assert_eq!(c.relationship_name(), Some(name.as_bytes()));
        prop_assert_eq!(c.mclt(), Some(mclt));
        prop_assert_eq!(Hba::from_bytes(c.hba().unwrap()), Some(hba));
        prop_assert_eq!(a.reject_reason(), Some(reason.code()));
        prop_assert_eq!(a.tls_reply().is_some(), tls_reply);
        prop_assert_eq!(all[2].failover_state(), Some(Ok(fstate)));
        prop_assert_eq!(all[2].stos(), Some(stos));
        prop_assert_eq!(
            all[4].message_text().unwrap(),
            text.unwrap_or(reason.text())
        );
        prop_assert_eq!(all[5].assigned_address(), Some(addr));
        prop_assert_eq!(all[11].addresses_transferred(), Some(n));
    }
}
