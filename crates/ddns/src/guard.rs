//! The guard record: the record beside a client's A record that says which
//! DHCP client the name belongs to, so that no other client (and no other
//! DHCP server sharing the zone) takes it over, and so that a name that
//! has records but no guard (one the user wrote in the zone file) is never
//! touched.
//!
//! - `ddns-update-style standard`: the DHCID RR of RFC 4701. Its data is a
//!   2-octet identifier type, a 1-octet digest type (1 = SHA-256) and
//!   SHA-256 over the client's identity followed by the FQDN in canonical
//!   wire form (RFC 4701 §3.3, §3.5).
//! - `ddns-update-style interim`: ISC dhcpd's TXT record from before RFC
//!   4701, kept so that tandem can share a zone with a dhcpd that still
//!   uses it: a 34-character string, two hex digits of a type and the hex
//!   MD5 of the identity (not of the name). The second type digit is
//!   dhcpd's: it takes the type modulo 15, not 16, so a client identifier
//!   (type 61) gives "31". Matching dhcpd byte for byte is the point.

use md5::Md5;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tandem_dns_wire::{Name, Rtype};

/// RFC 4701 §3.3 identifier types.
pub const ID_HTYPE_CHADDR: u16 = 0x0000;
pub const ID_CLIENT_ID: u16 = 0x0001;
pub const ID_DUID: u16 = 0x0002;
/// RFC 4701 §3.4: the only digest type.
pub const DIGEST_SHA256: u8 = 1;

/// Who the client is, as the guard is computed over it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Identity<'a> {
    /// The data of option 61 (type octet and identifier).
    ClientId(&'a [u8]),
    /// `htype` and the `chaddr` octets (`hlen` of them).
    Hardware { htype: u8, addr: &'a [u8] },
}

impl<'a> Identity<'a> {
    /// Option 61 when the client sent one (as RFC 4701 §3.3 prefers), else
    /// its hardware address.
    pub fn of(client_id: Option<&'a [u8]>, hw: Option<(u8, &'a [u8])>) -> Option<Identity<'a>> {
        match (client_id, hw) {
            (Some(id), _) if !id.is_empty() => Some(Identity::ClientId(id)),
            (_, Some((htype, addr))) if !addr.is_empty() => {
                Some(Identity::Hardware { htype, addr })
            }
            _ => None,
        }
    }
}

/// Which record type guards the names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GuardKind {
    Dhcid,
    Txt,
}

impl GuardKind {
    pub fn rtype(self) -> Rtype {
        match self {
            GuardKind::Dhcid => Rtype::DHCID,
            GuardKind::Txt => Rtype::TXT,
        }
    }
}

/// A guard record's type and data.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Guard {
    pub kind: GuardKind,
    #[serde(with = "crate::record::hex_bytes")]
    pub rdata: Vec<u8>,
}

impl Guard {
    /// The standard guard for `id` holding `fqdn`.
    pub fn dhcid(id: &Identity<'_>, fqdn: &Name) -> Guard {
        Guard {
            kind: GuardKind::Dhcid,
            rdata: dhcid_rdata(id, fqdn),
        }
    }

    /// ISC's interim guard for `id` (the name does not enter it).
    pub fn interim(id: &Identity<'_>) -> Guard {
        Guard {
            kind: GuardKind::Txt,
            rdata: interim_txt_rdata(id),
        }
    }

    pub fn rtype(&self) -> Rtype {
        self.kind.rtype()
    }
}

/// The identifier type and the octets RFC 4701 §3.3 digests for `id`.
///
/// A client identifier whose type octet is 255 carries an IAID and a DUID
/// (RFC 4361); then the DUID alone is the identity, as type 2, so a
/// dual-stack client has the same DHCID for both protocols.
pub fn dhcid_identity<'a>(id: &Identity<'a>) -> (u16, std::borrow::Cow<'a, [u8]>) {
    use std::borrow::Cow;
    match *id {
        Identity::ClientId(c) if c.first() == Some(&255) && c.len() > 5 => {
            (ID_DUID, Cow::Borrowed(&c[5..]))
        }
        Identity::ClientId(c) => (ID_CLIENT_ID, Cow::Borrowed(c)),
        Identity::Hardware { htype, addr } => {
            let mut v = Vec::with_capacity(1 + addr.len());
            v.push(htype);
            v.extend_from_slice(addr);
            (ID_HTYPE_CHADDR, Cow::Owned(v))
        }
    }
}

/// The DHCID RDATA (RFC 4701 §3.5) for `id` holding `fqdn`. The name is
/// digested in canonical form (lower case), so the case a client used
/// does not change its DHCID.
pub fn dhcid_rdata(id: &Identity<'_>, fqdn: &Name) -> Vec<u8> {
    let (ty, data) = dhcid_identity(id);
    let mut h = Sha256::new();
    h.update(&data);
    h.update(fqdn.to_lowercase().as_wire());
    let digest = h.finalize();
    let mut out = Vec::with_capacity(3 + digest.len());
    out.extend_from_slice(&ty.to_be_bytes());
    out.push(DIGEST_SHA256);
    out.extend_from_slice(&digest);
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The TXT RDATA of ISC's interim style: one character-string of 34
/// characters.
pub fn interim_txt_rdata(id: &Identity<'_>) -> Vec<u8> {
    // dhcpd's types: 61 (option 61's code) for a client identifier, 0 for
    // the hardware address, which it digests with its htype in front.
    let (ty, digest): (u16, [u8; 16]) = match *id {
        Identity::ClientId(c) => (61, Md5::digest(c).into()),
        Identity::Hardware { htype, addr } => {
            let mut h = Md5::new();
            h.update([htype]);
            h.update(addr);
            (0, h.finalize().into())
        }
    };
    let mut out = Vec::with_capacity(35);
    out.push(34);
    out.push(HEX[usize::from((ty >> 4) & 0xf)]);
    // Sic: dhcpd writes `type % 15` here, and every interim record in
    // the world carries that digit.
    out.push(HEX[usize::from(ty % 15)]);
    for b in digest {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 0xf)]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_prefers_the_client_identifier() {
        let hw = [1, 2, 3, 4, 5, 6];
        assert_eq!(
            Identity::of(Some(&[1, 9]), Some((1, &hw))),
            Some(Identity::ClientId(&[1, 9]))
        );
        assert_eq!(
            Identity::of(Some(&[]), Some((1, &hw))),
            Some(Identity::Hardware {
                htype: 1,
                addr: &hw
            })
        );
        assert_eq!(Identity::of(None, None), None);
    }

    #[test]
    fn interim_digits() {
        let t = interim_txt_rdata(&Identity::ClientId(&[1, 2]));
        assert_eq!(t.len(), 35);
        assert_eq!(&t[..3], b"\x2231");
        let h = interim_txt_rdata(&Identity::Hardware {
            htype: 1,
            addr: &[0, 1, 2, 3, 4, 5],
        });
        assert_eq!(&h[..3], b"\x2200");
    }
}
