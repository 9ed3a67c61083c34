//! A change between two versions of a zone: the records removed and the
//! records added, with the SOA before and after, as one IXFR difference
//! sequence carries it (RFC 1995 §4).

use tandem_dns_wire::Record;

/// One committed change to a zone.
#[derive(Clone, Debug, Default)]
pub struct Diff {
    /// Serial before the change.
    pub from_serial: u32,
    /// Serial after the change.
    pub to_serial: u32,
    /// Records removed (excluding the old SOA).
    pub removed: Vec<Record>,
    /// Records added (excluding the new SOA).
    pub added: Vec<Record>,
}

impl Diff {
    /// True if the change touches no record other than the SOA.
    pub fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.added.is_empty()
    }
}
