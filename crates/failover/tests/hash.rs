//! The RFC 3074 hash and the HBA, against ISC dhcpd.
//!
//! Where the expected values come from:
//!
//! - `MIXING_TABLE` is RFC 3074 §6's table. Its first 59 values were read
//!   in a copy of the RFC's text; the whole table was compared (outside this
//!   repository) with the copies in ISC dhcpd 4.4.3's `server/failover.c`
//!   and in Kea's high-availability hook, which both say they took it from
//!   the RFC: all three agree. The test here checks it is a permutation and
//!   pins a position-weighted sum of it.
//! - The RFC itself gives no worked examples, as far as the parts we could
//!   read show. `ISC_HASHES` were computed by ISC's own hash function
//!   (pulled out of `server/failover.c` into a throwaway C program, run
//!   once; none of its code is here).
//! - `DHCPD_DECISIONS` is dhcpd's real behaviour: 48 DHCPDISCOVERs (secs 0;
//!   24 with only a MAC, 24 with a random client identifier) were sent to
//!   dhcpd 4.4.3-P1 as primary with `split 128`, in the normal state with
//!   its partner, in a private network namespace (see `common/mod.rs`).
//!   dhcpd logged "load balance to peer" for exactly the clients whose
//!   bucket we compute as 128 or more, and offered an address to the others.

use tandem_dhcp::{BindingState, HwAddr, Lease};
use tandem_failover::hash::*;
use tandem_failover::Role;

mod common;
use common::unhex;

/// (chaddr, client identifier, our bucket, dhcpd answered it itself).
const DHCPD_DECISIONS: [(&str, Option<&str>, u8, bool); 48] = [
    ("976a279b0dcc", None, 230, false),
    ("220a19cc438b", None, 182, false),
    ("2a04d569bf3b", None, 27, true),
    ("a15e6c600353", None, 159, false),
    ("12fc134db1ca", None, 101, true),
    ("7701fb83bdad", None, 250, false),
    ("a39756444d0f", None, 169, false),
    ("3f708cf026eb", None, 151, false),
    ("f982670cab7e", None, 168, false),
    ("148cc7e3be5c", None, 70, true),
    ("0ba9b0dc4e45", None, 14, true),
    ("3fd48aff0fd1", None, 228, false),
    ("bc7d630cc571", None, 103, true),
    ("283b34915848", None, 220, false),
    ("712cd7bac0e5", None, 126, true),
    ("eae51a8aea5b", None, 137, false),
    ("45e0a2f8abb1", None, 78, true),
    ("fc2e5533000b", None, 79, true),
    ("3fb147a47bc1", None, 34, true),
    ("cc524eccef36", None, 15, true),
    ("5f18efaf35a4", None, 172, false),
    ("7cfbf41e80b4", None, 71, true),
    ("aadb14868fc7", None, 112, true),
    ("379212713c0e", None, 8, true),
    ("80ae64509866", Some("9cbaadf94399"), 127, true),
    ("3488d0beabd9", Some("6863ba"), 163, false),
    ("ebdbd7bf2f07", Some("06a8e2ab0c74d4"), 146, false),
    (
        "e09c0434d0fb",
        Some("ef8235058e33a698f90795d3be"),
        105,
        true,
    ),
    ("7d59197d012e", Some("5200b8"), 237, false),
    ("46d918409bec", Some("421130c711d2c599a904"), 254, false),
    ("7ded3987cccb", Some("7e624e0118ea31c695"), 104, true),
    ("4dbabc211059", Some("65c2913c"), 94, true),
    ("9a51949c0040", Some("9fe472"), 72, true),
    ("d264e3399964", Some("3e"), 16, true),
    ("580a9adfd5f5", Some("84"), 201, false),
    ("c5588a77f696", Some("528556724ff9ac209e0c"), 113, true),
    (
        "a2aeb8e20d7a",
        Some("f637f47334a726bf359b5dc1fefb0eb230bf06"),
        225,
        false,
    ),
    ("b00905374232", Some("c0095a"), 158, false),
    (
        "f0758ff19fab",
        Some("175d88bf2f349725df223ab4dc5439"),
        49,
        true,
    ),
    (
        "cefe62134e87",
        Some("e0d129a3292555baaa07aa64c380e543614274"),
        120,
        true,
    ),
    ("7f77131d2172", Some("afbec29970"), 229, false),
    (
        "b4bfb4089ea7",
        Some("9b19e12304ed49fe03d12979df90c915d1e514"),
        232,
        false,
    ),
    ("27af37fe5528", Some("f2d4e7"), 226, false),
    (
        "59c80860b123",
        Some("2f83d2e3fbf6099206ef0112faa43356"),
        26,
        true,
    ),
    ("ac132530b1f6", Some("fa45d77c6a305b277a4c"), 31, true),
    (
        "b8d7fe6f895b",
        Some("180deef08dbe3175bcb51b7aeec9"),
        193,
        false,
    ),
    (
        "f52eefe01068",
        Some("85d5581f5df7d011e7784452bdfcbe51"),
        113,
        true,
    ),
    (
        "bdebe797878e",
        Some("9e201614ddc0db7919258c30633d1e"),
        32,
        true,
    ),
];

#[test]
fn the_mixing_table_is_a_permutation() {
    let mut seen = [false; 256];
    for v in MIXING_TABLE {
        assert!(!seen[usize::from(v)], "{v} twice");
        seen[usize::from(v)] = true;
    }
    // RFC 3074 §6 begins the table with these.
    assert_eq!(
        MIXING_TABLE[..16],
        [251, 175, 119, 215, 81, 14, 79, 191, 103, 49, 181, 143, 186, 157, 0, 232]
    );
    assert_eq!(MIXING_TABLE[255], 151);
    // A position-weighted sum over the whole table, computed from the RFC's
    // table as dhcpd and Kea carry it: any changed or swapped value shows.
    let weighted: u32 = (1..).zip(MIXING_TABLE).map(|(i, v)| i * u32::from(v)).sum();
    assert_eq!(weighted, 4_215_230);
}

#[test]
fn hashes_match_iscs_function() {
    let all: Vec<u8> = (0..=255).collect();
    let cases: [(&[u8], u8); 7] = [
        (&[0x00, 0x11, 0x22, 0x33, 0x44, 0x55], 135),
        // The same MAC with its hardware type byte in front hashes
        // elsewhere: which is why ISC leaves the type out.
        (&[0x01, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55], 223),
        (&[0xfe, 0x41, 0x6c, 0x52, 0xd1, 0xb4], 135),
        (b"tandem-cid", 82),
        // 256 bytes: the length wraps to 0 as ISC's 8-bit state does.
        (&all, 152),
        (&[], 0),
        (&[0], 175),
    ];
    for (key, expected) in cases {
        assert_eq!(bucket(key), expected, "{key:02x?}");
    }
}

#[test]
fn buckets_decide_as_dhcpd_decided() {
    let hba = Hba::from_split(128).unwrap();
    for (mac, cid, b, dhcpd_mine) in DHCPD_DECISIONS {
        let mac = unhex(mac);
        let cid = cid.map(unhex);
        let got = packet_bucket(cid.as_deref(), &mac);
        assert_eq!(got, b, "{mac:02x?} {cid:02x?}");
        assert_eq!(is_mine(Role::Primary, Some(&hba), got), dhcpd_mine);
        assert_eq!(is_mine(Role::Secondary, Some(&hba), got), !dhcpd_mine);
    }
    // The sample covers both sides and the edge of the split.
    assert!(DHCPD_DECISIONS.iter().any(|d| d.2 == 127 && d.3));
    assert!(DHCPD_DECISIONS.iter().any(|d| !d.3));
}

#[test]
fn a_stored_lease_hashes_like_the_client_that_got_it() {
    let mac = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55];
    let mut lease = Lease::new("10.0.0.1".parse().unwrap(), BindingState::Active);
    assert_eq!(lease_bucket(&lease), None);
    lease.hw = Some(HwAddr::ethernet(mac));
    // Without the type byte, as chaddr in the client's packet.
    assert_eq!(lease_bucket(&lease), Some(packet_bucket(None, &mac)));
    assert_eq!(lease_bucket(&lease), Some(135));
    lease.client_id = Some(vec![]);
    assert_eq!(lease_bucket(&lease), Some(135));
    lease.client_id = Some(b"tandem-cid".to_vec());
    assert_eq!(lease_bucket(&lease), Some(82));
    lease.client_id = None;
    lease.hw = Some(HwAddr {
        htype: 1,
        addr: vec![],
    });
    assert_eq!(lease_bucket(&lease), None);
}

#[test]
fn split_sets_the_first_n_buckets() {
    for split in [0u32, 1, 7, 8, 9, 127, 128, 129, 255, 256] {
        let hba = Hba::from_split(split).unwrap();
        assert_eq!(hba.primary_buckets(), split);
        for b in 0..=255u8 {
            assert_eq!(
                hba.is_primary(b),
                u32::from(b) < split,
                "split {split} bucket {b}"
            );
        }
    }
    assert_eq!(Hba::from_split(257), Err(SplitError(257)));
    let half = Hba::from_split(128).unwrap();
    assert_eq!(half.as_bytes()[..16], [0xff; 16]);
    assert_eq!(half.as_bytes()[16..], [0; 16]);
    // Bucket b is bit b & 7 of byte b >> 3, least significant bit first.
    let three = Hba::from_split(3).unwrap();
    assert_eq!(three.as_bytes()[0], 0b0000_0111);
}

#[test]
fn hba_given_explicitly() {
    let text = "ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:\
                00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00";
    let hba = Hba::from_isc_text(text).unwrap();
    assert_eq!(hba, Hba::from_split(128).unwrap());
    assert_eq!(hba.to_string(), text);
    assert_eq!(Hba::from_isc_text(&hba.to_string()), Ok(hba));

    let mut bits = [0u8; 32];
    bits[31] = 0x80; // only bucket 255
    let odd = Hba::from_array(bits);
    assert!(odd.is_primary(255));
    assert!(!odd.is_primary(254));
    assert_eq!(Hba::from_bytes(&bits), Some(odd));
    assert_eq!(Hba::from_bytes(&bits[..31]), None);

    for bad in ["", "ff", "ff:", "1ff:00", "zz:00", &format!("{text}:00")] {
        assert!(Hba::from_isc_text(bad).is_err(), "{bad}");
    }
}

#[test]
fn without_an_hba_nobody_claims_the_client() {
    for b in [0u8, 127, 128, 255] {
        assert!(!is_mine(Role::Primary, None, b));
        assert!(!is_mine(Role::Secondary, None, b));
    }
    let all = Hba::from_split(256).unwrap();
    let none = Hba::from_split(0).unwrap();
    assert!((0..=255).all(|b| is_mine(Role::Primary, Some(&all), b)));
    assert!((0..=255).all(|b| is_mine(Role::Secondary, Some(&none), b)));
}

/// A table of (MAC → bucket) for a few MACs without client identifier,
/// for anyone checking another implementation (Kea's hook uses the same
/// hash). The values were also computed by ISC's function (see the top).
/// 00:24:e9:05:bb:a1 is the client in the seed's syslog excerpt.
#[test]
fn a_few_macs() {
    let table: [([u8; 6], u8); 4] = [
        ([0x00, 0x00, 0x00, 0x00, 0x00, 0x00], 254),
        ([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 79),
        ([0x00, 0x24, 0xe9, 0x05, 0xbb, 0xa1], 113),
        ([0x52, 0x54, 0x00, 0x12, 0x34, 0x56], 156),
    ];
    for (mac, expected) in table {
        assert_eq!(bucket(&mac), expected, "{mac:02x?}");
        assert_eq!(packet_bucket(None, &mac), expected);
    }
}
