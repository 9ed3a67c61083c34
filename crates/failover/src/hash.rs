//! Load balancing: which of the two servers answers a client.
//!
//! ISC dhcpd splits clients between the primary and the secondary with the
//! hash of RFC 3074 ("DHC Load Balancing Algorithm") and a 256-bit hash
//! bucket assignment (HBA) that the primary configures and sends to the
//! secondary in CONNECT:
//!
//! - the hash ([`bucket`]) is RFC 3074 §6's Pearson hash: an 8-bit state
//!   that starts as the key's length, then for every key byte *from the
//!   last to the first* becomes `MIXING_TABLE[state ^ byte]`;
//! - the key ([`packet_bucket`]) is the client identifier option's value
//!   (option 61's data, its type byte included) when the client sent one,
//!   else the `chaddr` bytes (`hlen` of them, *without* the hardware type
//!   byte): ISC's `load_balance_mine` in `server/failover.c`;
//! - for a stored lease ([`lease_bucket`]) the same: the client identifier
//!   if the lease has one, else the hardware address without its type byte
//!   (ISC's `peer_wants_lease` skips the first byte of its stored
//!   `hardware_addr`, which is the type);
//! - bucket `b` is bit `b & 7` (least significant first) of HBA byte
//!   `b >> 3`. A set bit means the primary serves the client, a clear bit
//!   the secondary ([`is_mine`]);
//! - `split N` (0..=256) sets buckets 0..N−1, so `split 128` gives the
//!   primary the hash values 0–127 (`server/confpars.c`, `SPLIT`);
//!   `hba` gives the 32 bytes explicitly ([`Hba::from_isc_text`]).
//!
//! ISC applies it to DHCPDISCOVER only, and only in the normal state, and
//! answers regardless when the client's `secs` exceed `load balance max
//! seconds` (dhcp-anchors.md §1.9); those rules belong to the caller.

use std::fmt;

use tandem_dhcp::Lease;
use thiserror::Error;

use crate::Role;

/// The 256 "mixing table" values of RFC 3074 §6, a permutation of 0..=255
/// in the RFC's order. Every implementation must use exactly these for
/// the two servers to agree.
#[rustfmt::skip]
pub const MIXING_TABLE: [u8; 256] = [
    251, 175, 119, 215,  81,  14,  79, 191, 103,  49, 181, 143, 186, 157,   0, 232,
     31,  32,  55,  60, 152,  58,  17, 237, 174,  70, 160, 144, 220,  90,  57, 223,
     59,   3,  18, 140, 111, 166, 203, 196, 134, 243, 124,  95, 222, 179, 197,  65,
    180,  48,  36,  15, 107,  46, 233, 130, 165,  30, 123, 161, 209,  23,  97,  16,
     40,  91, 219,  61, 100,  10, 210, 109, 250, 127,  22, 138,  29, 108, 244,  67,
    207,   9, 178, 204,  74,  98, 126, 249, 167, 116,  34,  77, 193, 200, 121,   5,
     20, 113,  71,  35, 128,  13, 182,  94,  25, 226, 227, 199,  75,  27,  41, 245,
    230, 224,  43, 225, 177,  26, 155, 150, 212, 142, 218, 115, 241,  73,  88, 105,
     39, 114,  62, 255, 192, 201, 145, 214, 168, 158, 221, 148, 154, 122,  12,  84,
     82, 163,  44, 139, 228, 236, 205, 242, 217,  11, 187, 146, 159,  64,  86, 239,
    195,  42, 106, 198, 118, 112, 184, 172,  87,   2, 173, 117, 176, 229, 247, 253,
    137, 185,  99, 164, 102, 147,  45,  66, 231,  52, 141, 211, 194, 206, 246, 238,
     56, 110,  78, 248,  63, 240, 189,  93,  92,  51,  53, 183,  19, 171,  72,  50,
     33, 104, 101,  69,   8, 252,  83, 120,  76, 135,  85,  54, 202, 125, 188, 213,
     96, 235, 136, 208, 162, 129, 190, 132, 156,  38,  47,   1,   7, 254,  24,   4,
    216, 131,  89,  21,  28, 133,  37, 153, 149,  80, 170,  68,   6, 169, 234, 151,
];

/// The RFC 3074 hash of `key`: its load-balancing bucket, 0..=255.
pub fn bucket(key: &[u8]) -> u8 {
    // The state starts as the length, modulo 256 as an 8-bit C variable
    // would hold it, and the key is walked backwards, as in RFC 3074 §6.
    key.iter()
        .rev()
        .fold(key.len() as u8, |h, &b| MIXING_TABLE[usize::from(h ^ b)])
}

/// The bucket of a client request: over its client identifier (option 61
/// data) if it sent one, else over its `chaddr` (the first `hlen` bytes,
/// no hardware type).
pub fn packet_bucket(client_id: Option<&[u8]>, chaddr: &[u8]) -> u8 {
    bucket(client_id.unwrap_or(chaddr))
}

/// The bucket of the client a lease belongs to, or `None` when the lease
/// names no client (ISC cannot place such a lease either).
pub fn lease_bucket(lease: &Lease) -> Option<u8> {
    if let Some(id) = lease.client_id.as_deref().filter(|id| !id.is_empty()) {
        return Some(bucket(id));
    }
    lease
        .hw
        .as_ref()
        .filter(|hw| !hw.addr.is_empty())
        .map(|hw| bucket(&hw.addr))
}

/// Whether a server in `role` serves a client in `bucket`. Without an HBA
/// neither side claims the client, as in ISC (`load_balance_mine`: "we
/// can't tell if this one's ours, so we assume it's not").
pub fn is_mine(role: Role, hba: Option<&Hba>, bucket: u8) -> bool {
    match (hba, role) {
        (None, _) => false,
        (Some(h), Role::Primary) => h.is_primary(bucket),
        (Some(h), Role::Secondary) => !h.is_primary(bucket),
    }
}

/// A hash bucket assignment: 256 bits, bit set = the primary's bucket.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Hba([u8; 32]);

/// A `split` value out of ISC's range.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("split {0} is out of range: it must be 0..=256")]
pub struct SplitError(pub u32);

/// An `hba` text that is not 32 colon-separated hex bytes.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("hba must be 32 colon-separated hex bytes: {0}")]
pub struct HbaTextError(pub String);

impl Hba {
    /// ISC's `split N`: the primary has buckets 0..N (N of 256). `split
    /// 128` is the even split, 256 gives everything to the primary, 0
    /// everything to the secondary.
    pub fn from_split(split: u32) -> Result<Hba, SplitError> {
        if split > 256 {
            return Err(SplitError(split));
        }
        let mut bits = [0u8; 32];
        for b in 0..split as usize {
            bits[b >> 3] |= 1 << (b & 7);
        }
        Ok(Hba(bits))
    }

    pub const fn from_array(bits: [u8; 32]) -> Hba {
        Hba(bits)
    }

    /// The HBA of a CONNECT: exactly 32 bytes, or `None` (an ISC secondary
    /// rejects the CONNECT then, with reason 18).
    pub fn from_bytes(bytes: &[u8]) -> Option<Hba> {
        <[u8; 32]>::try_from(bytes).ok().map(Hba)
    }

    /// ISC's `hba` statement value: 32 hex bytes separated by colons, e.g.
    /// `ff:ff:…:00`.
    pub fn from_isc_text(text: &str) -> Result<Hba, HbaTextError> {
        let err = || HbaTextError(text.to_string());
        let mut bits = [0u8; 32];
        let mut n = 0;
        for part in text.trim().split(':') {
            let part = part.trim();
            if n == 32 || part.is_empty() || part.len() > 2 {
                return Err(err());
            }
            bits[n] = u8::from_str_radix(part, 16).map_err(|_| err())?;
            n += 1;
        }
        if n != 32 {
            return Err(err());
        }
        Ok(Hba(bits))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// True if `bucket` is the primary's.
    pub fn is_primary(&self, bucket: u8) -> bool {
        self.0[usize::from(bucket >> 3)] & (1 << (bucket & 7)) != 0
    }

    /// How many of the 256 buckets are the primary's.
    pub fn primary_buckets(&self) -> u32 {
        self.0.iter().map(|b| b.count_ones()).sum()
    }
}

impl fmt::Debug for Hba {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hba({self})")
    }
}

impl fmt::Display for Hba {
    /// The `hba` statement's form: 32 colon-separated hex bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}
