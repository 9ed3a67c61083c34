//! Shared by the test files: hex helpers and messages captured from a real
//! ISC dhcpd.
//!
//! The captures were taken on 2026-12-01 from Debian's isc-dhcp-server
//! 4.4.3-P1-2 (`dhcpd -4 -f -d`), run in a private network namespace with a
//! veth pair (10.99.0.1 dhcpd, 10.99.0.2 a Python stand-in for the partner
//! that answered with this crate's builders), relationship "foo",
//! max-response-delay 30, max-unacked-updates 10, mclt 1800, split 128, and
//! a lease file saying "my state normal". dhcpd reached "Both servers
//! normal" in both roles, balanced its pool by BNDUPD and granted a lease to
//! dhclient (client identifier "tandem-cid", MAC fe:41:6c:52:d1:b4).
#![allow(dead_code)]

pub fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// dhcpd as primary, first message on the link (xid 0): CONNECT, 105 bytes.
pub const ISC_CONNECT: &str = "0069050c6b0ef45b00000000\
    00160003666f6f 000e00040000000a 001300040000001e\
    001c000c6973632d342e342e332d5031 0014000101 001b000100 000f000400000708\
    000b0020ffffffffffffffffffffffffffffffff00000000000000000000000000000000";

/// dhcpd as secondary answering our CONNECT (xid 0x3e9 echoed): CONNECTACK
/// with TLS-reply, because the CONNECT carried TLS-request.
pub const ISC_CONNECTACK: &str = "003d060c6b0ef4bb000003e9\
    00160003666f6f 000e00040000000a 001300040000001e\
    001c000c6973632d342e342e332d5031 0014000101 001a000100";

/// dhcpd's STATE while still in STARTUP: its saved state (normal) with the
/// STARTUP flag, and the STOS of that saved state.
pub const ISC_STATE_STARTUP: &str =
    "001e0a0c6b0ef45b00000001 0018000102 0017000101 001900046b0ee0f0";

/// The STATE that follows once it has left STARTUP.
pub const ISC_STATE_NORMAL: &str =
    "001e0a0c6b0ef45b00000002 0018000102 0017000100 001900046b0ee0f0";

/// Pool balancing: the primary hands 10.99.0.100 to the secondary (binding
/// status 7 = backup): no client, expiry 0, tstp = stos = now.
pub const ISC_BNDUPD_BACKUP: &str = "0031030c6b0ef45b00000003\
    000200040a630064 0003000107 000d000400000000 001200046b0ef45b 001900046b0ef45b";

/// An ACTIVE lease granted to dhclient: client-identifier, hardware address
/// (type 1 + MAC), an end MCLT (1800 s) after the start because the partner
/// had acknowledged nothing yet, tstp = start + 43200 + 900, and CLTT.
pub const ISC_BNDUPD_ACTIVE: &str = "0052030c6b0ef4f600000005\
    000200040a630066 0003000102 0004000a74616e64656d2d636964\
    0005000701fe416c52d1b4 000d00046b0efbfe 001200046b0fa13a\
    001900046b0ef4f6 000600046b0ef4f6";

/// A keepalive (sent every receive-timer / 3 = 10 s).
pub const ISC_CONTACT: &str = "000c0b0c6b0ef46500000005";
