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
