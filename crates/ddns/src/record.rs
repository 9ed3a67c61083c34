//! The DDNS queue's journal records (the shell keeps them in a
//! `tandem-journal` file, `<state-dir>/ddns/queue.jnl`).
//!
//! Two facts per address, each replacing the one before it:
//! - [`Record::Want`]: what the lease at the address wants in DNS, with
//!   the lease it was decided for (client and start), written when a lease
//!   commit completes;
//! - [`Record::Have`]: what tandem has confirmed in DNS, written after
//!   every job.
//!
//! Replaying the records in order and keeping the last of each kind per
//! address rebuilds the queue: every address whose want differs from its
//! have. A checkpoint is the list of the current records.
//!
//! The encoding is JSON, one record per journal entry: small, and
//! readable with `strings` when something has to be explained.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::job::Published;
use crate::plan::Binding;

/// Journal entry kinds.
pub const KIND_RECORD: u16 = 1;
pub const KIND_CHECKPOINT: u16 = 2;

/// The lease a want was decided for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Owner {
    /// Option 61, or `htype` followed by the hardware address.
    #[serde(with = "hex_bytes")]
    pub client: Vec<u8>,
    /// The lease's start.
    pub start: u64,
}

/// One journal record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "r", rename_all = "kebab-case")]
pub enum Record {
    Want {
        addr: Ipv4Addr,
        owner: Option<Owner>,
        binding: Option<Binding>,
    },
    Have {
        addr: Ipv4Addr,
        state: Option<Published>,
    },
}

impl Record {
    pub fn addr(&self) -> Ipv4Addr {
        match self {
            Record::Want { addr, .. } | Record::Have { addr, .. } => *addr,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("records serialise")
    }

    pub fn decode(bytes: &[u8]) -> Result<Record, String> {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }
}

/// A checkpoint: every current record.
pub fn encode_checkpoint(records: &[Record]) -> Vec<u8> {
    serde_json::to_vec(records).expect("records serialise")
}

pub fn decode_checkpoint(bytes: &[u8]) -> Result<Vec<Record>, String> {
    serde_json::from_slice(bytes).map_err(|e| e.to_string())
}

/// Bytes as a hex string.
pub mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        let text: String = b.iter().map(|x| format!("{x:02x}")).collect();
        s.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        if text.len() % 2 != 0 {
            return Err(serde::de::Error::custom("odd number of hex digits"));
        }
        (0..text.len())
            .step_by(2)
            .map(|i| {
                text.get(i..i + 2)
                    .and_then(|p| u8::from_str_radix(p, 16).ok())
                    .ok_or_else(|| serde::de::Error::custom("bad hex digit"))
            })
            .collect()
    }
}

/// A name in presentation format.
pub mod name_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use tandem_dns_wire::Name;

    pub fn serialize<S: Serializer>(n: &Name, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&n.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Name, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// An optional name in presentation format.
pub mod opt_name_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use tandem_dns_wire::Name;

    pub fn serialize<S: Serializer>(n: &Option<Name>, s: S) -> Result<S::Ok, S::Error> {
        match n {
            Some(n) => s.serialize_some(&n.to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Name>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|t| t.parse().map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// The last want and have of every address, from records in journal order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Replayed {
    pub wants: std::collections::BTreeMap<Ipv4Addr, (Option<Owner>, Option<Binding>)>,
    pub haves: std::collections::BTreeMap<Ipv4Addr, Published>,
}

impl Replayed {
    pub fn apply(&mut self, r: Record) {
        match r {
            Record::Want {
                addr,
                owner,
                binding,
            } => {
                self.wants.insert(addr, (owner, binding));
            }
            Record::Have { addr, state } => match state {
                Some(p) => {
                    self.haves.insert(addr, p);
                }
                None => {
                    self.haves.remove(&addr);
                }
            },
        }
    }

    /// The records of a checkpoint that rebuilds this state.
    pub fn records(&self) -> Vec<Record> {
        let mut out: Vec<Record> = self
            .wants
            .iter()
            .map(|(addr, (owner, binding))| Record::Want {
                addr: *addr,
                owner: owner.clone(),
                binding: binding.clone(),
            })
            .collect();
        out.extend(self.haves.iter().map(|(addr, p)| Record::Have {
            addr: *addr,
            state: Some(p.clone()),
        }));
        out
    }
}
