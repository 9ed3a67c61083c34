//! The guard records, byte for byte: the three examples RFC 4701 gives
//! after its computation rules (§3.5), and ISC dhcpd's interim TXT record.

use base64::Engine;
use tandem_ddns::guard::{dhcid_rdata, interim_txt_rdata, Identity};
use tandem_dns_wire::Name;

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn n(s: &str) -> Name {
    s.parse().unwrap()
}

/// RFC 4701's hardware-address example: a DHCPv4 client with htype 1 and chaddr
/// 01:02:03:04:05:06, no client identifier, named client.example.com.
#[test]
fn example_hardware_address() {
    let id = Identity::Hardware {
        htype: 1,
        addr: &[1, 2, 3, 4, 5, 6],
    };
    assert_eq!(
        dhcid_rdata(&id, &n("client.example.com.")),
        b64("AAABxLmlskllE0MVjd57zHcWmEH3pCQ6VytcKD//7es/deY=")
    );
}

/// RFC 4701's client-identifier example: option 61 with type 1 and
/// 07:08:09:0a:0b:0c, named chi.example.com.
#[test]
fn example_client_identifier() {
    let id = Identity::ClientId(&[1, 7, 8, 9, 10, 11, 12]);
    assert_eq!(
        dhcid_rdata(&id, &n("chi.example.com.")),
        b64("AAEBOSD+XR3Os/0LozeXVqcNc7FwCfQdWL3b/NaiUDlW2No=")
    );
}

/// RFC 4701's DUID example is a DHCPv6 client with DUID
/// 00:01:00:06:41:2d:f1:66:01:02:03:04:05:06, named chi6.example.com. A
/// DHCPv4 client identifier of type 255 (RFC 4361: IAID, then DUID) with
/// that DUID gets the same DHCID, identifier type 2.
#[test]
fn example_duid_through_an_rfc4361_client_identifier() {
    let duid = [
        0x00, 0x01, 0x00, 0x06, 0x41, 0x2d, 0xf1, 0x66, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
    ];
    let mut cid = vec![255, 0, 0, 0, 1];
    cid.extend_from_slice(&duid);
    assert_eq!(
        dhcid_rdata(&Identity::ClientId(&cid), &n("chi6.example.com.")),
        b64("AAIBY2/AuCccgoJbsaxcQc9TUapptP69lOjxfNuVAA2kjEA=")
    );
}

/// The name enters the digest in canonical (lower-case) form.
#[test]
fn case_does_not_change_the_dhcid() {
    let id = Identity::ClientId(&[1, 7, 8, 9, 10, 11, 12]);
    assert_eq!(
        dhcid_rdata(&id, &n("CHI.Example.COM.")),
        dhcid_rdata(&id, &n("chi.example.com."))
    );
}

/// dhcpd's interim record: "31" or "00", then the hex MD5 of the identity
/// (for a hardware address, htype and chaddr). The expected strings were
/// computed with Python's hashlib.
#[test]
fn interim_txt_as_dhcpd_writes_it() {
    let t = interim_txt_rdata(&Identity::ClientId(&[1, 2, 3, 4, 5, 6, 7]));
    assert_eq!(t[0], 34);
    assert_eq!(&t[1..], b"31498001217bc632cb158588224d7d23c4");
    let h = interim_txt_rdata(&Identity::Hardware {
        htype: 1,
        addr: &[0x00, 0x11, 0x22, 0x33, 0x44, 0x55],
    });
    assert_eq!(&h[1..], b"005312ab28d12bcf29cddb72a68319091d");
}
