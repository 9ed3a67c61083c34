//! Resource records with uncompressed data.

use std::fmt;

use bytes::Bytes;
use domain::base::iana::{Class, Rtype};

use crate::name::Name;
use crate::rdata;

/// One resource record. `rdata` is uncompressed wire format, so records
/// compare by value. `==` compares every field, TTL included; RFC 2136
/// identity (owner, type, class and data, not TTL) is [`Record::same_rr`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub owner: Name,
    pub rtype: Rtype,
    pub class: Class,
    pub ttl: u32,
    pub rdata: Bytes,
}

impl Record {
    pub fn new(owner: Name, rtype: Rtype, class: Class, ttl: u32, rdata: impl Into<Bytes>) -> Self {
        Record {
            owner,
            rtype,
            class,
            ttl,
            rdata: rdata.into(),
        }
    }

    /// Same owner, type, class and data (RFC 2136's notion of "the same RR").
    /// Names inside the data compare case-insensitively, as RFC 4034 §6.2
    /// canonical form would make them.
    pub fn same_rr(&self, other: &Record) -> bool {
        self.owner == other.owner
            && self.rtype == other.rtype
            && self.class == other.class
            && rdata_eq(self.rtype, &self.rdata, &other.rdata)
    }
}

/// Compares record data; names inside the data compare without regard to
/// case, other bytes exactly.
pub fn rdata_eq(rtype: Rtype, a: &[u8], b: &[u8]) -> bool {
    a == b || (a.len() == b.len() && rdata::canonical(rtype, a) == rdata::canonical(rtype, b))
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {}",
            self.owner,
            self.ttl,
            self.class,
            self.rtype,
            rdata::to_text(self.rtype, &self.rdata)
        )
    }
}
