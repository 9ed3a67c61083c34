//! The lease: what tandem remembers about one address, with every field the
//! failover protocol exchanges in a binding update (draft-ietf-dhc-failover-12
//! §7, as ISC dhcpd implements it), so the failover issue adds behaviour, not
//! fields.

use std::fmt;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// Binding states, numbered as the failover protocol's `binding-status`
/// option (ISC `FTS_*`), so a lease crosses the wire without translation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BindingState {
    Free = 1,
    Active = 2,
    Expired = 3,
    Released = 4,
    Abandoned = 5,
    Reset = 6,
    Backup = 7,
}

impl BindingState {
    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Option<BindingState> {
        Some(match code {
            1 => BindingState::Free,
            2 => BindingState::Active,
            3 => BindingState::Expired,
            4 => BindingState::Released,
            5 => BindingState::Abandoned,
            6 => BindingState::Reset,
            7 => BindingState::Backup,
            _ => return None,
        })
    }

    /// ISC's word for the state, as `dhcpd.leases` writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            BindingState::Free => "free",
            BindingState::Active => "active",
            BindingState::Expired => "expired",
            BindingState::Released => "released",
            BindingState::Abandoned => "abandoned",
            BindingState::Reset => "reset",
            BindingState::Backup => "backup",
        }
    }
}

impl fmt::Display for BindingState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A hardware address as DHCP carries it: `htype` (1 = Ethernet) and up to
/// 16 octets.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct HwAddr {
    pub htype: u8,
    pub addr: Vec<u8>,
}

impl HwAddr {
    pub fn ethernet(addr: [u8; 6]) -> HwAddr {
        HwAddr {
            htype: 1,
            addr: addr.to_vec(),
        }
    }
}

impl fmt::Display for HwAddr {
    /// `00:11:22:33:44:55`, as ISC and ip(8) print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.addr.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// One address's binding. Times are UNIX seconds, as the failover protocol
/// sends them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub addr: Ipv4Addr,
    pub state: BindingState,
    /// When the current binding began.
    pub start: u64,
    /// When it ends (for `Abandoned`: when the address may be used again).
    pub end: u64,
    /// Client last transaction time (failover CLTT).
    pub cltt: u64,
    pub hw: Option<HwAddr>,
    /// Option 61, as the client sent it.
    pub client_id: Option<Vec<u8>>,
    /// The client's host name (option 12 or 81, or the reservation's).
    pub hostname: Option<String>,
    /// What the server that committed this lease keeps in DNS for it (the
    /// DDNS binding), so that whichever node ends the lease can withdraw
    /// exactly those records. Set by the DDNS shell; between two tandem
    /// failover partners it travels with the binding update.
    #[serde(default)]
    pub ddns: Option<LeaseDns>,
    /// Potential expiration time: the end we have told (or will tell) the
    /// partner; with failover, no lease is given past the partner's
    /// acknowledged potential expiry plus MCLT.
    pub tstp: u64,
    /// The potential expiry the partner acknowledged (ISC `atsfp`).
    pub atsfp: u64,
    /// The expiry the partner sent us in its last binding update (ISC `tsfp`).
    pub tsfp: u64,
}

impl Lease {
    /// A lease for `addr` in `state`, with every time zero and no client.
    pub fn new(addr: Ipv4Addr, state: BindingState) -> Lease {
        Lease {
            addr,
            state,
            start: 0,
            end: 0,
            cltt: 0,
            hw: None,
            client_id: None,
            hostname: None,
            ddns: None,
            tstp: 0,
            atsfp: 0,
            tsfp: 0,
        }
    }

    /// True while the binding holds the address for its client.
    pub fn is_active_at(&self, now: u64) -> bool {
        self.state == BindingState::Active && self.end > now
    }
}

/// The records a lease has in DNS, as the DDNS service decided them when
/// the lease was committed (`tandem_ddns::Binding`, in plain types: this
/// crate does not depend on the DDNS one). Enough to withdraw them under
/// RFC 4703's rules on any node: the name, which parts the server keeps,
/// the guard record's type and data.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LeaseDns {
    /// The forward name, absolute, in text (`laptop.home.`).
    pub fqdn: String,
    /// The server keeps the A record and its guard (false: the client
    /// keeps its own A record, the server only the PTR).
    pub forward: bool,
    /// The PTR's owner, when the server keeps the PTR.
    pub reverse: Option<String>,
    /// The guard is ISC's interim TXT record (else an RFC 4701 DHCID).
    pub guard_txt: bool,
    /// The guard record's RDATA.
    pub guard: Vec<u8>,
    pub ttl: u32,
}

/// Why bytes are not a [`LeaseDns`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseDnsError(pub &'static str);

impl fmt::Display for LeaseDnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DDNS state: {}", self.0)
    }
}

impl std::error::Error for LeaseDnsError {}

impl LeaseDns {
    const FORWARD: u8 = 1 << 0;
    const REVERSE: u8 = 1 << 1;
    const TXT: u8 = 1 << 2;

    /// The bytes both the lease store and tandem's failover extension
    /// carry:
    ///
    /// ```text
    /// flags u8    bit 0 forward, bit 1 reverse follows, bit 2 TXT guard; others zero
    /// ttl   u32
    /// fqdn  len u8, UTF-8
    /// [reverse  len u8, UTF-8]
    /// guard len u8, RDATA
    /// ```
    ///
    /// `None` if a field is longer than 255 bytes (no DNS name is, nor a
    /// guard tandem writes).
    pub fn encode(&self) -> Option<Vec<u8>> {
        let mut flags = 0;
        if self.forward {
            flags |= Self::FORWARD;
        }
        if self.reverse.is_some() {
            flags |= Self::REVERSE;
        }
        if self.guard_txt {
            flags |= Self::TXT;
        }
        let mut out = vec![flags];
        out.extend_from_slice(&self.ttl.to_be_bytes());
        let mut put = |b: &[u8]| -> Option<()> {
            out.push(u8::try_from(b.len()).ok()?);
            out.extend_from_slice(b);
            Some(())
        };
        put(self.fqdn.as_bytes())?;
        if let Some(r) = &self.reverse {
            put(r.as_bytes())?;
        }
        put(&self.guard)?;
        Some(out)
    }

    /// Reads [`LeaseDns::encode`]'s bytes, all of them.
    pub fn decode(b: &[u8]) -> Result<LeaseDns, LeaseDnsError> {
        let (&flags, rest) = b.split_first().ok_or(LeaseDnsError("empty"))?;
        if flags & !(Self::FORWARD | Self::REVERSE | Self::TXT) != 0 {
            return Err(LeaseDnsError("unknown flags"));
        }
        let (ttl, mut rest) = rest
            .split_first_chunk::<4>()
            .ok_or(LeaseDnsError("truncated TTL"))?;
        let mut take = |what: &'static str| -> Result<Vec<u8>, LeaseDnsError> {
            let (&len, r) = rest.split_first().ok_or(LeaseDnsError(what))?;
            if r.len() < usize::from(len) {
                return Err(LeaseDnsError(what));
            }
            let (v, r) = r.split_at(usize::from(len));
            rest = r;
            Ok(v.to_vec())
        };
        let text = |v: Vec<u8>| String::from_utf8(v).map_err(|_| LeaseDnsError("name not UTF-8"));
        let fqdn = text(take("truncated name")?)?;
        let reverse = if flags & Self::REVERSE != 0 {
            Some(text(take("truncated reverse name")?)?)
        } else {
            None
        };
        let guard = take("truncated guard")?;
        if !rest.is_empty() {
            return Err(LeaseDnsError("trailing bytes"));
        }
        Ok(LeaseDns {
            fqdn,
            forward: flags & Self::FORWARD != 0,
            reverse,
            guard_txt: flags & Self::TXT != 0,
            guard,
            ttl: u32::from_be_bytes(*ttl),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_dns_round_trips_and_refuses_damage() {
        let d = LeaseDns {
            fqdn: "laptop.home.".into(),
            forward: true,
            reverse: Some("15.0.168.192.in-addr.arpa.".into()),
            guard_txt: true,
            guard: b"\x2031abcdef".to_vec(),
            ttl: 600,
        };
        let b = d.encode().unwrap();
        assert_eq!(b[0], 0b111);
        assert_eq!(LeaseDns::decode(&b).unwrap(), d);
        let plain = LeaseDns {
            reverse: None,
            forward: false,
            guard_txt: false,
            ..d.clone()
        };
        assert_eq!(LeaseDns::decode(&plain.encode().unwrap()).unwrap(), plain);
        for cut in 0..b.len() {
            assert!(LeaseDns::decode(&b[..cut]).is_err(), "cut at {cut}");
        }
        let mut extra = b.clone();
        extra.push(0);
        assert!(LeaseDns::decode(&extra).is_err());
        let mut flags = b;
        flags[0] |= 0x80;
        assert!(LeaseDns::decode(&flags).is_err());
        let long = LeaseDns {
            fqdn: "x".repeat(256),
            ..d
        };
        assert!(long.encode().is_none());
    }
}
