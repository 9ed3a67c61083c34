//! The codec against ISC: exact byte images (several captured from a real
//! dhcpd 4.4.3-P1, see `common/mod.rs`), one test per decoding rule of
//! ISC's reader, the allow-list, and the builders' option sets and order.

mod common;

use std::net::Ipv4Addr;

use common::*;
use tandem_dhcp::{BindingState, HwAddr, Lease};
use tandem_failover::wire::*;
use tandem_failover::{Hba, Role};

fn codes(m: &Message) -> Vec<u16> {
    m.options.iter().map(|o| o.code().code()).collect()
}

/// A frame from a type, an xid and raw option bytes, payload offset 12.
fn frame(kind: u8, options: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&((12 + options.len()) as u16).to_be_bytes());
    v.push(kind);
    v.push(12);
    v.extend_from_slice(&1_700_000_000u32.to_be_bytes());
    v.extend_from_slice(&42u32.to_be_bytes());
    v.extend_from_slice(options);
    v
}

fn opt(code: u16, data: &[u8]) -> Vec<u8> {
    let mut v = code.to_be_bytes().to_vec();
    v.extend_from_slice(&(data.len() as u16).to_be_bytes());
    v.extend_from_slice(data);
    v
}

fn keep(bytes: &[u8]) -> Result<Message, DecodeError> {
    Message::decode(bytes, DecodeMode::KeepAll)
}

fn isc(bytes: &[u8]) -> Result<Message, DecodeError> {
    Message::decode(bytes, DecodeMode::IscAllowList)
}

// ---- exact byte images ----------------------------------------------------

#[test]
fn contact_is_the_bare_12_byte_header() {
    let m = contact(0x6b0e_f465, 5);
    let bytes = m.encode().unwrap();
    assert_eq!(bytes.len(), 12);
    assert_eq!(hex(&bytes), ISC_CONTACT);
    assert_eq!(hex(&bytes), "000c0b0c6b0ef46500000005");
}

#[test]
fn state_is_30_bytes_and_matches_dhcpd() {
    let startup = state(
        0x6b0e_f45b,
        1,
        FailoverState::Normal,
        ServerFlags::STARTUP,
        0x6b0e_e0f0,
    );
    let bytes = startup.encode().unwrap();
    // 12 header + server-state (4+1) + server-flags (4+1) + STOS (4+4).
    assert_eq!(bytes.len(), 30);
    assert_eq!(bytes, unhex(ISC_STATE_STARTUP));

    let normal = state(
        0x6b0e_f45b,
        2,
        FailoverState::Normal,
        ServerFlags::default(),
        0x6b0e_e0f0,
    );
    assert_eq!(normal.encode().unwrap(), unhex(ISC_STATE_NORMAL));
}

#[test]
fn connect_for_relationship_foo_is_105_bytes_byte_for_byte_dhcpds() {
    // The option order is the argument order of ISC's
    // dhcp_failover_send_connect (server/failover.c): relationship-name,
    // max-unacked-bndupd, receive-timer, vendor-class-identifier,
    // protocol-version, TLS-request, MCLT, HBA. The capture of dhcpd
    // 4.4.3-P1 (common::ISC_CONNECT) shows the same order on the wire.
    //
    // The size, as dhcp-anchors.md §1.5 computes it: 12 header + 7 name
    // (4 + "foo") + 8 max-unacked + 8 receive-timer + 16 vendor class
    // (4 + "isc-4.4.3-P1") + 5 protocol-version + 5 TLS-request + 8 MCLT +
    // 36 HBA (4 + 32) = 105.
    let hba = Hba::from_split(128).unwrap();
    let m = connect(
        0x6b0e_f45b,
        0,
        &Connect {
            relationship_name: "foo",
            max_unacked_bndupd: 10,
            receive_timer: 30,
            vendor_class: "isc-4.4.3-P1",
            mclt: 1800,
            hba: Some(&hba),
        },
    );
    assert_eq!(codes(&m), [22, 14, 19, 28, 20, 27, 15, 11]);
    let bytes = m.encode().unwrap();
    assert_eq!(12 + 7 + 8 + 8 + 16 + 5 + 5 + 8 + 36, 105);
    assert_eq!(bytes.len(), 105);
    assert_eq!(m.encoded_len(), 105);
    assert_eq!(hex(&bytes), hex(&unhex(ISC_CONNECT)));
}

#[test]
fn tandems_connect_has_the_same_size_with_its_own_vendor_class() {
    // "tandem-0.1.0" happens to be as long as "isc-4.4.3-P1".
    let hba = Hba::from_split(128).unwrap();
    let c = Connect {
        relationship_name: "foo",
        max_unacked_bndupd: 10,
        receive_timer: 30,
        vendor_class: TANDEM_VENDOR_CLASS,
        mclt: 1800,
        hba: Some(&hba),
    };
    let m = connect(1, 2, &c);
    assert_eq!(
        m.encoded_len(),
        105 - "isc-4.4.3-P1".len() + TANDEM_VENDOR_CLASS.len()
    );
    assert_eq!(m.tls_request(), Some(0));
    assert_eq!(m.protocol_version(), Some(1));
    let without_hba = connect(1, 2, &Connect { hba: None, ..c });
    assert_eq!(without_hba.encoded_len(), m.encoded_len() - 36);
}

#[test]
fn connectack_matches_dhcpds() {
    let m = connectack(
        0x6b0e_f4bb,
        0x3e9,
        &ConnectAck {
            relationship_name: Some(b"foo"),
            max_unacked_bndupd: Some(10),
            receive_timer: Some(30),
            vendor_class: "isc-4.4.3-P1",
            tls_reply: true,
            reject: None,
        },
    );
    assert_eq!(m.encode().unwrap(), unhex(ISC_CONNECTACK));
}

#[test]
fn bndupd_of_an_active_lease_matches_dhcpds() {
    let start = 0x6b0e_f4f6;
    let lease = Lease {
        client_id: Some(b"tandem-cid".to_vec()),
        hw: Some(HwAddr::ethernet([0xfe, 0x41, 0x6c, 0x52, 0xd1, 0xb4])),
        start,
        end: start + 1800,
        cltt: start,
        tstp: 0x6b0f_a13a,
        ..Lease::new(Ipv4Addr::new(10, 99, 0, 102), BindingState::Active)
    };
    let m = bndupd(0x6b0e_f4f6, 5, &lease, IpFlags::NONE);
    assert_eq!(hex(&m.encode().unwrap()), hex(&unhex(ISC_BNDUPD_ACTIVE)));
}

#[test]
fn bndupd_of_a_lease_given_to_the_secondary_matches_dhcpds() {
    let now = 0x6b0e_f45b;
    let lease = Lease {
        start: now,
        tstp: now,
        ..Lease::new(Ipv4Addr::new(10, 99, 0, 100), BindingState::Backup)
    };
    let m = bndupd(now as u32, 3, &lease, IpFlags::NONE);
    assert_eq!(m.encode().unwrap(), unhex(ISC_BNDUPD_BACKUP));
}

#[test]
fn every_capture_decodes_and_reencodes_identically() {
    let captures = [
        (ISC_CONNECT, MessageType::Connect),
        (ISC_CONNECTACK, MessageType::ConnectAck),
        (ISC_STATE_STARTUP, MessageType::State),
        (ISC_STATE_NORMAL, MessageType::State),
        (ISC_BNDUPD_BACKUP, MessageType::BndUpd),
        (ISC_BNDUPD_ACTIVE, MessageType::BndUpd),
        (ISC_CONTACT, MessageType::Contact),
    ];
    for (h, kind) in captures {
        let bytes = unhex(h);
        for mode in [DecodeMode::KeepAll, DecodeMode::IscAllowList] {
            let m = Message::decode(&bytes, mode).unwrap();
            assert_eq!(m.kind, kind);
            assert_eq!(m.encode().unwrap(), bytes, "{kind}");
        }
    }
}

#[test]
fn captured_messages_read_as_dhcpd_meant_them() {
    let c = keep(&unhex(ISC_CONNECT)).unwrap();
    assert_eq!(c.relationship_name(), Some(&b"foo"[..]));
    assert_eq!(c.max_unacked_bndupd(), Some(10));
    assert_eq!(c.receive_timer(), Some(30));
    assert_eq!(c.vendor_class_identifier(), Some(&b"isc-4.4.3-P1"[..]));
    assert_eq!(c.mclt(), Some(1800));
    let hba = Hba::from_bytes(c.hba().unwrap()).unwrap();
    assert_eq!(hba, Hba::from_split(128).unwrap());

    let s = keep(&unhex(ISC_STATE_STARTUP)).unwrap();
    assert_eq!(s.failover_state(), Some(Ok(FailoverState::Normal)));
    assert!(s.server_flags().unwrap().contains(ServerFlags::STARTUP));
    assert_eq!(s.stos(), Some(0x6b0e_e0f0));

    let u = keep(&unhex(ISC_BNDUPD_ACTIVE)).unwrap();
    let b = lease_from_bndupd(&u).unwrap();
    assert_eq!(b.addr, Ipv4Addr::new(10, 99, 0, 102));
    assert_eq!(b.state, BindingState::Active);
    assert_eq!(b.client_id.as_deref(), Some(&b"tandem-cid"[..]));
    assert_eq!(
        b.hw,
        Some(Some(HwAddr::ethernet([0xfe, 0x41, 0x6c, 0x52, 0xd1, 0xb4])))
    );
    // The lease dhcpd granted is clamped to the MCLT, and its potential
    // expiry is now + desired (43200) + granted / 2 (900): §1.8 of the
    // research note, seen on the wire.
    assert_eq!(b.end.unwrap() - b.start.unwrap(), 1800);
    assert_eq!(b.potential_expiry.unwrap() - b.start.unwrap(), 43200 + 900);
    assert_eq!(b.cltt, b.start);
}

// ---- ISC's decoding rules, one by one ------------------------------------

#[test]
fn rule_length_below_the_header_is_an_error() {
    for length in [0u16, 1, 11] {
        let mut b = frame(11, &[]);
        b[..2].copy_from_slice(&length.to_be_bytes());
        assert_eq!(keep(&b), Err(DecodeError::TooShort { length }));
    }
}

#[test]
fn rule_length_above_2048_is_an_error_and_2048_is_fine() {
    let mut b = frame(11, &[]);
    b[..2].copy_from_slice(&2049u16.to_be_bytes());
    assert_eq!(keep(&b), Err(DecodeError::TooLong { length: 2049 }));
    b[..2].copy_from_slice(&65535u16.to_be_bytes());
    assert_eq!(keep(&b), Err(DecodeError::TooLong { length: 65535 }));

    // Exactly 2048: one vendor-specific option filling the rest.
    let big = frame(10, &opt(29, &vec![7u8; 2048 - 12 - 4]));
    assert_eq!(big.len(), 2048);
    let m = keep(&big).unwrap();
    assert_eq!(m.encode().unwrap(), big);
    let too_big = Message::new(MessageType::State, 0, 0).with(
        FailoverOption::VendorSpecificOptions(vec![7; 2048 - 12 - 4 + 1]),
    );
    assert_eq!(
        too_big.encode(),
        Err(EncodeError::TooLong {
            kind: MessageType::State,
            len: 2049
        })
    );
}

#[test]
fn the_frame_must_be_exactly_the_declared_length() {
    let mut b = frame(11, &[]);
    b.push(0);
    assert_eq!(
        keep(&b),
        Err(DecodeError::LengthMismatch {
            declared: 12,
            actual: 13
        })
    );
    assert_eq!(
        keep(&b[..11]).unwrap_err(),
        DecodeError::LengthMismatch {
            declared: 12,
            actual: 11
        }
    );
}

#[test]
fn rule_message_types_1_to_12_only() {
    for code in 1..=12u8 {
        let m = keep(&frame(code, &[])).unwrap();
        assert_eq!(m.kind.code(), code);
        assert_eq!(MessageType::from_code(code), Some(m.kind));
    }
    for code in [0u8, 13, 99, 255] {
        assert_eq!(
            keep(&frame(code, &[])),
            Err(DecodeError::UnknownType { code })
        );
    }
}

#[test]
fn rule_payload_offset_skips_extra_header_bytes() {
    // Offset 16: four bytes of a future header extension, then options.
    let mut b = frame(10, &[]);
    b[3] = 16;
    b.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    b.extend_from_slice(&opt(24, &[2]));
    let len = b.len() as u16;
    b[..2].copy_from_slice(&len.to_be_bytes());
    let m = keep(&b).unwrap();
    assert_eq!(m.server_state(), Some(2));
    assert_eq!(m.options.len(), 1);
    // We always write 12.
    assert_eq!(m.encode().unwrap()[3], 12);

    // Offset equal to the length: no options at all.
    let mut b = frame(11, &[0; 4]);
    b[3] = 16;
    assert_eq!(keep(&b).unwrap().options, vec![]);
}

#[test]
fn payload_offset_inside_the_header_or_past_the_message_is_an_error() {
    for offset in [0u8, 11] {
        let mut b = frame(11, &[]);
        b[3] = offset;
        assert_eq!(
            keep(&b),
            Err(DecodeError::BadPayloadOffset { offset, length: 12 })
        );
    }
    let mut b = frame(11, &[]);
    b[3] = 13;
    assert_eq!(
        keep(&b),
        Err(DecodeError::BadPayloadOffset {
            offset: 13,
            length: 12
        })
    );
}

#[test]
fn rule_an_option_header_must_fit() {
    for stray in 1..=3 {
        let mut opts = opt(24, &[2]);
        opts.resize(opts.len() + stray, 0);
        assert_eq!(
            keep(&frame(10, &opts)),
            Err(DecodeError::TruncatedOptionHeader { offset: 17 })
        );
    }
}

#[test]
fn rule_option_data_must_fit() {
    let mut opts = opt(24, &[2]);
    opts.extend_from_slice(&[0, 25, 0, 4, 1, 2, 3]); // STOS says 4, has 3
    assert_eq!(
        keep(&frame(10, &opts)),
        Err(DecodeError::OptionOverrun {
            code: 25,
            offset: 17,
            len: 4
        })
    );
    // Even an unknown option must fit: ISC checks before skipping.
    let opts = [0u8, 200, 0, 9, 1];
    assert_eq!(
        keep(&frame(10, &opts)),
        Err(DecodeError::OptionOverrun {
            code: 200,
            offset: 12,
            len: 9
        })
    );
}

#[test]
fn rule_unknown_option_codes_are_skipped() {
    let mut opts = opt(0, &[1, 2, 3]);
    opts.extend(opt(30, &[9; 7]));
    opts.extend(opt(24, &[2]));
    opts.extend(opt(0xffff, &[]));
    opts.extend(opt(1000, &[1]));
    let m = keep(&frame(10, &opts)).unwrap();
    assert_eq!(codes(&m), [24]);
    assert_eq!(isc(&frame(10, &opts)).unwrap(), m);
}

#[test]
fn rule_a_duplicated_option_is_an_error() {
    let mut opts = opt(24, &[2]);
    opts.extend(opt(23, &[0]));
    opts.extend(opt(24, &[3]));
    let err = DecodeError::Duplicate {
        code: OptionCode::ServerState,
        offset: 22,
    };
    assert_eq!(keep(&frame(10, &opts)), Err(err.clone()));
    assert_eq!(isc(&frame(10, &opts)), Err(err));
    // Variable-length options too.
    let mut opts = opt(4, b"a");
    opts.extend(opt(4, b"a"));
    assert!(matches!(
        keep(&frame(3, &opts)),
        Err(DecodeError::Duplicate {
            code: OptionCode::ClientIdentifier,
            offset: 17
        })
    ));
}

#[test]
fn rule_fixed_size_options_must_have_their_size() {
    for code in OptionCode::ALL {
        let Some(size) = code.wire_type().fixed_len() else {
            continue;
        };
        for bad in [0, size - 1, size + 1] {
            if bad == size {
                continue;
            }
            let b = frame(3, &opt(code.code(), &vec![1; bad]));
            assert_eq!(
                keep(&b),
                Err(DecodeError::BadLength {
                    code,
                    offset: 12,
                    len: bad as u16,
                    expected: size
                }),
                "{code}"
            );
        }
        let good = frame(3, &opt(code.code(), &vec![1; size]));
        assert_eq!(keep(&good).unwrap().options.len(), 1, "{code}");
    }
}

#[test]
fn tls_request_is_one_byte_the_two_byte_form_of_isc_3_0_is_refused() {
    let ok = frame(5, &opt(27, &[0]));
    assert_eq!(isc(&ok).unwrap().tls_request(), Some(0));
    let old = frame(5, &opt(27, &[0, 0]));
    assert!(matches!(
        isc(&old),
        Err(DecodeError::BadLength {
            code: OptionCode::TlsRequest,
            expected: 1,
            ..
        })
    ));
}

#[test]
fn variable_options_take_any_length_including_zero_and_hba_is_not_checked_here() {
    let mut opts = opt(22, b"");
    opts.extend(opt(11, &[0xff; 5])); // a 5-byte HBA
    let m = isc(&frame(5, &opts)).unwrap();
    assert_eq!(m.relationship_name(), Some(&b""[..]));
    assert_eq!(m.hba(), Some(&[0xff; 5][..]));
    // It is the CONNECT handler that refuses it (ISC: reject reason 18).
    assert_eq!(Hba::from_bytes(m.hba().unwrap()), None);
}

#[test]
fn rule_message_digest_must_be_last_and_is_ignored() {
    let mut opts = opt(24, &[2]);
    opts.extend(opt(17, &[1, 0xaa, 0xbb]));
    let b = frame(10, &opts);
    let kept = keep(&b).unwrap();
    assert_eq!(codes(&kept), [24, 17]);
    assert_eq!(kept.encode().unwrap(), b);
    // ISC checks and discards it.
    assert_eq!(codes(&isc(&b).unwrap()), [24]);

    let mut opts = opt(17, &[1]);
    opts.extend(opt(24, &[2]));
    for mode in [DecodeMode::KeepAll, DecodeMode::IscAllowList] {
        assert_eq!(
            Message::decode(&frame(10, &opts), mode),
            Err(DecodeError::DigestNotLast { offset: 12 })
        );
    }
}

#[test]
fn rule_the_ddns_option_kills_the_connection_where_isc_keeps_it() {
    // ISC declares DDNS as one element of size 0 and then has no reader
    // for it, so even an empty one is a protocol error in BNDUPD/BNDACK.
    for data in [&[][..], &[0, 0, b'h'][..]] {
        let mut opts = opt(2, &[10, 0, 0, 1]);
        opts.extend(opt(9, data));
        for kind in [3u8, 4] {
            for mode in [DecodeMode::KeepAll, DecodeMode::IscAllowList] {
                assert_eq!(
                    Message::decode(&frame(kind, &opts), mode),
                    Err(DecodeError::Ddns { offset: 20 })
                );
            }
        }
        // Where ISC does not keep it, it drops it unread.
        assert_eq!(codes(&isc(&frame(10, &opts)).unwrap()), [] as [u16; 0]);
    }
}

#[test]
fn the_isc_mode_drops_what_isc_does_not_keep_before_checking_it() {
    // A BNDUPD carrying MCLT, a duplicated server-state and a 3-byte
    // TLS-request: none is in ISC's BNDUPD list, so ISC skips all three
    // without a look, and so do we. KeepAll checks them.
    let mut opts = opt(2, &[10, 0, 0, 1]);
    opts.extend(opt(3, &[2]));
    opts.extend(opt(15, &1800u32.to_be_bytes()));
    opts.extend(opt(24, &[2]));
    opts.extend(opt(24, &[2]));
    opts.extend(opt(27, &[0, 0, 0]));
    let b = frame(3, &opts);
    let m = isc(&b).unwrap();
    assert_eq!(codes(&m), [2, 3]);
    assert!(matches!(
        keep(&b),
        Err(DecodeError::Duplicate {
            code: OptionCode::ServerState,
            ..
        })
    ));
}

#[test]
fn the_allow_list_is_iscs() {
    use MessageType as M;
    use OptionCode as O;
    let lists: [(M, &[O]); 12] = [
        (M::PoolReq, &[]),
        (M::PoolResp, &[O::AddressesTransferred]),
        (
            M::BndUpd,
            &[
                O::AssignedIpAddress,
                O::BindingStatus,
                O::ClientIdentifier,
                O::ClientHardwareAddress,
                O::ClientLastTransactionTime,
                O::ClientReplyOptions,
                O::ClientRequestOptions,
                O::Ddns,
                O::IpFlags,
                O::LeaseExpirationTime,
                O::PotentialExpirationTime,
                O::StartTimeOfState,
            ],
        ),
        (
            M::BndAck,
            &[
                O::AssignedIpAddress,
                O::BindingStatus,
                O::ClientIdentifier,
                O::ClientHardwareAddress,
                O::ClientLastTransactionTime,
                O::ClientReplyOptions,
                O::ClientRequestOptions,
                O::Ddns,
                O::IpFlags,
                O::LeaseExpirationTime,
                O::Message,
                O::PotentialExpirationTime,
                O::RejectReason,
                O::StartTimeOfState,
            ],
        ),
        (
            M::Connect,
            &[
                O::HashBucketAssignment,
                O::MaxUnackedBndupd,
                O::Mclt,
                O::ReceiveTimer,
                O::ProtocolVersion,
                O::RelationshipName,
                O::TlsRequest,
                O::VendorClassIdentifier,
            ],
        ),
        (
            M::ConnectAck,
            &[
                O::MaxUnackedBndupd,
                O::Message,
                O::ReceiveTimer,
                O::ProtocolVersion,
                O::RejectReason,
                O::RelationshipName,
                O::TlsReply,
                O::VendorClassIdentifier,
            ],
        ),
        (M::UpdReqAll, &[]),
        (M::UpdDone, &[]),
        (M::UpdReq, &[]),
        (
            M::State,
            &[O::ServerFlags, O::ServerState, O::StartTimeOfState],
        ),
        (M::Contact, &[]),
        (M::Disconnect, &[O::Message, O::RejectReason]),
    ];
    for (kind, list) in lists {
        for code in OptionCode::ALL {
            assert_eq!(allowed(kind, code), list.contains(&code), "{kind} {code}");
        }
    }
    // Never kept anywhere: ISC parses these and throws them away.
    for code in [
        O::DelayedService,
        O::MessageDigest,
        O::VendorSpecificOptions,
    ] {
        assert!(M::ALL.iter().all(|&k| !allowed(k, code)));
    }
}

#[test]
fn encode_refuses_what_isc_would_drop_the_connection_for() {
    let m = state(1, 2, FailoverState::Normal, ServerFlags::default(), 3)
        .with(FailoverOption::ServerState(2));
    assert_eq!(
        m.encode(),
        Err(EncodeError::Duplicate {
            kind: MessageType::State,
            code: OptionCode::ServerState
        })
    );
    let m = contact(1, 2)
        .with(FailoverOption::MessageDigest(vec![1]))
        .with(FailoverOption::ServerState(2));
    assert_eq!(
        m.encode(),
        Err(EncodeError::DigestNotLast {
            kind: MessageType::Contact
        })
    );
    let m = bndupd(
        1,
        2,
        &Lease::new(Ipv4Addr::LOCALHOST, BindingState::Free),
        IpFlags::NONE,
    )
    .with(FailoverOption::Ddns(vec![]));
    assert_eq!(
        m.encode(),
        Err(EncodeError::Ddns {
            kind: MessageType::BndUpd
        })
    );
}

// ---- builders -------------------------------------------------------------

#[test]
fn bndupd_carries_exactly_iscs_fields_in_iscs_order() {
    let lease = Lease {
        client_id: Some(vec![1, 2, 3]),
        hw: Some(HwAddr::ethernet([1, 2, 3, 4, 5, 6])),
        hostname: Some("laptop".into()),
        start: 100,
        end: 200,
        cltt: 150,
        tstp: 300,
        atsfp: 7,
        tsfp: 8,
        ..Lease::new(Ipv4Addr::new(192, 168, 0, 20), BindingState::Active)
    };
    let m = bndupd(9, 10, &lease, IpFlags::RESERVE | IpFlags::BOOTP);
    assert_eq!(codes(&m), [2, 3, 4, 5, 13, 18, 25, 6, 12]);
    assert_eq!(
        m.client_hardware_address(),
        Some(&[1, 1, 2, 3, 4, 5, 6][..])
    );
    assert_eq!(m.lease_expiration_time(), Some(200));
    assert_eq!(m.potential_expiration_time(), Some(300));
    assert_eq!(m.stos(), Some(100));
    assert_eq!(m.cltt(), Some(150));
    assert_eq!(m.ip_flags(), Some(IpFlags(3)));
    // No host name, no DDNS, no client options: ISC sends none of them.
    assert!(m.get(OptionCode::Ddns).is_none());

    // Without client, CLTT or flags, those options are left out.
    let bare = Lease::new(Ipv4Addr::new(192, 168, 0, 21), BindingState::Free);
    let m = bndupd(9, 11, &bare, IpFlags::NONE);
    assert_eq!(codes(&m), [2, 3, 13, 18, 25]);
    let empty_id = Lease {
        client_id: Some(vec![]),
        ..bare
    };
    assert_eq!(
        codes(&bndupd(9, 12, &empty_id, IpFlags::NONE)),
        [2, 3, 13, 18, 25]
    );
}

#[test]
fn lease_times_use_iscs_never() {
    let lease = Lease {
        end: u64::MAX,
        tstp: u64::from(u32::MAX) + 5,
        start: 0x7fff_fffe,
        ..Lease::new(Ipv4Addr::new(192, 168, 0, 20), BindingState::Active)
    };
    let m = bndupd(1, 1, &lease, IpFlags::NONE);
    assert_eq!(m.lease_expiration_time(), Some(ISC_NEVER));
    assert_eq!(m.potential_expiration_time(), Some(ISC_NEVER));
    assert_eq!(m.stos(), Some(0x7fff_fffe));
    assert_eq!(lease_time_from_wire(ISC_NEVER), u64::MAX);
    assert_eq!(lease_time_from_wire(u32::MAX), u64::MAX);
    assert_eq!(lease_time_from_wire(0x7fff_fffe), 0x7fff_fffe);
}

#[test]
fn reserved_leases_go_out_in_the_peers_free_state() {
    use BindingState::*;
    assert_eq!(transmit_state(Role::Primary, Free, true), Backup);
    assert_eq!(transmit_state(Role::Secondary, Backup, true), Free);
    assert_eq!(transmit_state(Role::Primary, Free, false), Free);
    assert_eq!(transmit_state(Role::Primary, Backup, true), Backup);
    assert_eq!(transmit_state(Role::Secondary, Free, true), Free);
    assert_eq!(transmit_state(Role::Primary, Active, true), Active);
}

#[test]
fn bndack_is_the_address_alone_or_with_the_rejection() {
    let addr = Ipv4Addr::new(10, 0, 0, 9);
    let ok = bndack(5, 77, addr, None);
    assert_eq!(codes(&ok), [2]);
    assert_eq!(ok.xid, 77);
    assert_eq!(ok.encode().unwrap().len(), 20);

    let no = bndack(5, 77, addr, Some((RejectReason::FatalConflict, None)));
    assert_eq!(codes(&no), [2, 21, 16]);
    assert_eq!(no.reject_reason(), Some(2));
    assert_eq!(
        no.message_text().unwrap(),
        RejectReason::FatalConflict.text()
    );
    let no = bndack(
        5,
        77,
        addr,
        Some((RejectReason::Misc, Some("database update failed"))),
    );
    assert_eq!(no.message_text().unwrap(), "database update failed");
    // Never client-identifier: an ISC peer would then read the potential
    // expiry, which a BNDACK does not carry, as 0 (its BNDACK bug).
    assert!(no.get(OptionCode::ClientIdentifier).is_none());
}

#[test]
fn connectack_rejections_and_unknown_relationships() {
    // Refusing a CONNECT for a relationship we do not have: ISC echoes the
    // name it got and sends neither max-unacked nor receive-timer.
    let m = connectack(
        1,
        5,
        &ConnectAck {
            relationship_name: Some(b"bar"),
            max_unacked_bndupd: None,
            receive_timer: None,
            vendor_class: TANDEM_VENDOR_CLASS,
            tls_reply: false,
            reject: Some((
                RejectReason::InvalidPartner,
                Some("unknown failover relationship name"),
            )),
        },
    );
    assert_eq!(codes(&m), [22, 28, 20, 21, 16]);
    assert_eq!(m.reject_reason(), Some(8));
    let m = connectack(
        1,
        5,
        &ConnectAck {
            relationship_name: None,
            max_unacked_bndupd: None,
            receive_timer: None,
            vendor_class: TANDEM_VENDOR_CLASS,
            tls_reply: true,
            reject: Some((RejectReason::DuplicateConnection, None)),
        },
    );
    assert_eq!(codes(&m), [28, 20, 26, 21]);
}

#[test]
fn disconnect_and_the_option_less_messages() {
    let d = disconnect(1, 2, RejectReason::TimeMismatch, None);
    assert_eq!(codes(&d), [21, 16]);
    assert_eq!(d.message_text().unwrap(), RejectReason::TimeMismatch.text());
    let d = disconnect(1, 2, RejectReason::InvalidPartner, Some("bad name"));
    assert_eq!(d.message(), Some(&b"bad name"[..]));

    for (m, kind) in [
        (updreq(1, 2), MessageType::UpdReq),
        (updreqall(1, 2), MessageType::UpdReqAll),
        (upddone(1, 2), MessageType::UpdDone),
        (poolreq(1, 2), MessageType::PoolReq),
        (contact(1, 2), MessageType::Contact),
    ] {
        assert_eq!(m.kind, kind);
        assert!(m.options.is_empty());
        assert_eq!(m.encode().unwrap().len(), 12);
    }
    let r = poolresp(1, 2, 57);
    assert_eq!(codes(&r), [1]);
    assert_eq!(r.addresses_transferred(), Some(57));
    assert_eq!(r.encode().unwrap().len(), 20);
}

// ---- names and numbers -----------------------------------------------------

#[test]
fn failover_states_have_iscs_codes_and_log_names() {
    let table = [
        (0, "unknown-state"),
        (1, "startup"),
        (2, "normal"),
        (3, "communications-interrupted"),
        (4, "partner-down"),
        (5, "potential-conflict"),
        (6, "recover"),
        (7, "paused"),
        (8, "shutdown"),
        (9, "recover-done"),
        (10, "resolution-interrupted"),
        (11, "conflict-done"),
        (254, "recover-wait"),
    ];
    for (code, name) in table {
        let s = FailoverState::from_code(code).unwrap();
        assert_eq!(s.code(), code);
        assert_eq!(s.isc_name(), name);
        assert_eq!(s.to_string(), name);
        assert_eq!(FailoverState::from_isc_name(name), Some(s));
    }
    assert_eq!(
        FailoverState::from_isc_name("shut-down"),
        Some(FailoverState::ShutDown)
    );
    for code in [12u8, 100, 253, 255] {
        assert_eq!(FailoverState::from_code(code), None);
    }
    let m = contact(1, 1).with(FailoverOption::ServerState(99));
    assert_eq!(m.failover_state(), Some(Err(99)));
}

#[test]
fn reject_reasons_have_the_drafts_codes() {
    let codes: Vec<u8> = RejectReason::ALL.iter().map(|r| r.code()).collect();
    let mut expected: Vec<u8> = (1..=21).collect();
    expected.push(254);
    assert_eq!(codes, expected);
    for r in RejectReason::ALL {
        assert_eq!(RejectReason::from_code(r.code()), Some(r));
        assert!(!r.text().is_empty());
    }
    assert_eq!(RejectReason::from_code(0), None);
    assert_eq!(RejectReason::from_code(22), None);
    assert_eq!(
        RejectReason::text_for_code(99),
        "undefined reject reason 99"
    );
}

#[test]
fn option_codes_and_wire_types() {
    for (i, code) in OptionCode::ALL.iter().enumerate() {
        assert_eq!(usize::from(code.code()), i + 1);
        assert_eq!(OptionCode::from_code(code.code()), Some(*code));
    }
    assert_eq!(OptionCode::from_code(0), None);
    assert_eq!(OptionCode::from_code(30), None);
    use OptionCode as O;
    use WireType as W;
    let expect = [
        (O::AddressesTransferred, W::U32),
        (O::AssignedIpAddress, W::Ipv4),
        (O::BindingStatus, W::U8),
        (O::ClientHardwareAddress, W::Bytes),
        (O::Ddns, W::Ddns),
        (O::HashBucketAssignment, W::Bytes),
        (O::IpFlags, W::U16),
        (O::Message, W::Text),
        (O::ProtocolVersion, W::U8),
        (O::TlsRequest, W::U8),
        (O::TlsReply, W::U8),
        (O::ServerFlags, W::U8),
        (O::ServerState, W::U8),
        (O::StartTimeOfState, W::U32),
        (O::Mclt, W::U32),
    ];
    for (code, wire) in expect {
        assert_eq!(code.wire_type(), wire, "{code}");
    }
    assert_eq!(O::Mclt.to_string(), "MCLT (15)");
}
