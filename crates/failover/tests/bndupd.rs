//! A received BNDUPD as lease fields: ISC's message-level checks and its
//! rules for installing an update over the local lease
//! (`dhcp_failover_process_bind_update` in ISC's `server/failover.c`).

use std::net::Ipv4Addr;

use tandem_dhcp::{BindingState, HwAddr, Lease};
use tandem_failover::wire::*;

const ADDR: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 50);

fn mac() -> HwAddr {
    HwAddr::ethernet([0, 0x24, 0xe9, 5, 0xbb, 0xa1])
}

fn active() -> Lease {
    Lease {
        hw: Some(mac()),
        client_id: Some(vec![1, 0, 0x24, 0xe9, 5, 0xbb, 0xa1]),
        hostname: Some("laptop".into()),
        start: 1_800_000_000,
        end: 1_800_003_600,
        cltt: 1_800_000_000,
        tstp: 1_800_005_400,
        ..Lease::new(ADDR, BindingState::Active)
    }
}

fn update(state: u8, opts: Vec<FailoverOption>) -> Message {
    let mut m = Message::new(MessageType::BndUpd, 1, 1)
        .with(FailoverOption::AssignedIpAddress(ADDR))
        .with(FailoverOption::BindingStatus(state));
    m.options.extend(opts);
    m
}

#[test]
fn a_lease_survives_bndupd_and_back() {
    let lease = active();
    let m = bndupd(5, 6, &lease, IpFlags::RESERVE);
    let wire = Message::decode(&m.encode().unwrap(), DecodeMode::IscAllowList).unwrap();
    let b = lease_from_bndupd(&wire).unwrap();
    assert_eq!(b.addr, ADDR);
    assert_eq!(b.state, BindingState::Active);
    assert_eq!(b.client_id, lease.client_id);
    assert_eq!(b.hw, Some(lease.hw.clone()));
    assert_eq!(b.start, Some(lease.start));
    assert_eq!(b.end, Some(lease.end));
    assert_eq!(b.potential_expiry, Some(lease.tstp));
    assert_eq!(b.cltt, Some(lease.cltt));
    assert_eq!(b.ip_flags, IpFlags::RESERVE);

    // Installed over an empty lease of the partner's: our tsfp (and atsfp)
    // is its tstp.
    let fresh = Lease::new(ADDR, BindingState::Free);
    let l = b.apply_to(&fresh);
    assert_eq!(l.state, BindingState::Active);
    assert_eq!(l.hw, lease.hw);
    assert_eq!(l.client_id, lease.client_id);
    assert_eq!((l.start, l.end), (lease.start, lease.end));
    assert_eq!((l.tsfp, l.atsfp, l.tstp), (lease.tstp, lease.tstp, 0));
    // ISC does not take the partner's CLTT.
    assert_eq!(l.cltt, 0);
}

#[test]
fn address_and_binding_status_are_required() {
    let no_addr = Message::new(MessageType::BndUpd, 1, 1).with(FailoverOption::BindingStatus(1));
    let e = lease_from_bndupd(&no_addr).unwrap_err();
    assert_eq!(e, BindingError::MissingAddress);
    assert_eq!(e.reject_reason(), RejectReason::MissingBindingInfo);

    let no_state =
        Message::new(MessageType::BndUpd, 1, 1).with(FailoverOption::AssignedIpAddress(ADDR));
    let e = lease_from_bndupd(&no_state).unwrap_err();
    assert_eq!(e, BindingError::MissingBindingStatus);
    assert_eq!(e.reject_reason(), RejectReason::MissingBindingInfo);

    let e = lease_from_bndupd(&update(0, vec![])).unwrap_err();
    assert_eq!(e, BindingError::UnknownBindingStatus(0));
    assert_eq!(e.reject_reason(), RejectReason::Misc);
    let e = lease_from_bndupd(&update(8, vec![])).unwrap_err();
    assert_eq!(e, BindingError::UnknownBindingStatus(8));

    let e = lease_from_bndupd(&contact(1, 1)).unwrap_err();
    assert_eq!(e, BindingError::NotBndupd(MessageType::Contact));
}

#[test]
fn bound_states_must_name_the_hardware_address() {
    for state in [
        BindingState::Active,
        BindingState::Expired,
        BindingState::Released,
    ] {
        let e = lease_from_bndupd(&update(state.code(), vec![])).unwrap_err();
        assert_eq!(e, BindingError::MissingHardwareAddress(state));
        assert_eq!(e.reject_reason(), RejectReason::MissingBindingInfo);
    }
    for state in [
        BindingState::Free,
        BindingState::Backup,
        BindingState::Reset,
        BindingState::Abandoned,
    ] {
        let b = lease_from_bndupd(&update(state.code(), vec![])).unwrap();
        assert_eq!(b.hw, None);
        assert_eq!(b.ip_flags, IpFlags::NONE);
    }
}

#[test]
fn abandoned_names_no_client() {
    let chaddr = FailoverOption::ClientHardwareAddress(vec![1, 2, 3, 4, 5, 6, 7]);
    let e = lease_from_bndupd(&update(5, vec![chaddr])).unwrap_err();
    assert_eq!(e, BindingError::AbandonedWithHardwareAddress);
    assert_eq!(e.reject_reason(), RejectReason::Misc);
    let id = FailoverOption::ClientIdentifier(vec![1]);
    let e = lease_from_bndupd(&update(5, vec![id])).unwrap_err();
    assert_eq!(e, BindingError::AbandonedWithClientId);
}

#[test]
fn hardware_addresses_as_isc_stores_them() {
    let with = |bytes: Vec<u8>| {
        lease_from_bndupd(&update(
            2,
            vec![FailoverOption::ClientHardwareAddress(bytes)],
        ))
    };
    // Type byte, then up to 16 octets: 17 bytes at most.
    let b = with([vec![6], vec![9; 16]].concat()).unwrap();
    assert_eq!(
        b.hw,
        Some(Some(HwAddr {
            htype: 6,
            addr: vec![9; 16]
        }))
    );
    assert_eq!(
        with(vec![1; 18]),
        Err(BindingError::HardwareAddressTooLong(18))
    );
    // An empty one is present (so ACTIVE passes) but names nothing.
    assert_eq!(with(vec![]).unwrap().hw, Some(None));
    assert_eq!(
        with(vec![1]).unwrap().hw,
        Some(Some(HwAddr {
            htype: 1,
            addr: vec![]
        }))
    );
}

#[test]
fn installing_follows_iscs_rules_for_absent_fields() {
    let ours = active();

    // FREE without client: ISC keeps the identifier (it cannot tell
    // "none" from "not sent" here) and the hardware address.
    let b = lease_from_bndupd(&update(1, vec![])).unwrap();
    let l = b.apply_to(&ours);
    assert_eq!(l.state, BindingState::Free);
    assert_eq!(l.client_id, ours.client_id);
    assert_eq!(l.hw, ours.hw);
    assert_eq!((l.start, l.end, l.tsfp), (ours.start, ours.end, ours.tsfp));

    // EXPIRED with only the hardware address: the identifier goes.
    let chaddr = FailoverOption::ClientHardwareAddress(vec![1, 0, 0x24, 0xe9, 5, 0xbb, 0xa1]);
    let b = lease_from_bndupd(&update(3, vec![chaddr.clone()])).unwrap();
    let l = b.apply_to(&ours);
    assert_eq!(l.client_id, None);
    assert_eq!(l.hw, ours.hw);

    // ABANDONED: hardware address and identifier go.
    let b = lease_from_bndupd(&update(5, vec![])).unwrap();
    let l = b.apply_to(&ours);
    assert_eq!((l.hw, l.client_id), (None, None));

    // ACTIVE for the same client keeps the host name; for another client
    // it is dropped with the old client.
    let same = update(
        2,
        vec![
            FailoverOption::ClientIdentifier(ours.client_id.clone().unwrap()),
            chaddr,
            FailoverOption::LeaseExpirationTime(1_800_007_200),
        ],
    );
    let l = lease_from_bndupd(&same).unwrap().apply_to(&ours);
    assert_eq!(l.hostname.as_deref(), Some("laptop"));
    assert_eq!(l.end, 1_800_007_200);
    let other = update(
        2,
        vec![FailoverOption::ClientHardwareAddress(vec![
            1, 9, 9, 9, 9, 9, 9,
        ])],
    );
    let l = lease_from_bndupd(&other).unwrap().apply_to(&ours);
    assert_eq!(l.hostname, None);
    assert_eq!(l.client_id, None);
    assert_eq!(l.hw, Some(HwAddr::ethernet([9; 6])));
}
