//! Incoming zone transfers, for secondary zones: the request a secondary
//! sends its primary and what the primary's answer stream means.

use tandem_dns_wire::Record;
use tandem_zone::Diff;

/// What one transfer from the primary brought.
#[derive(Clone, Debug)]
pub enum Transfer {
    /// The primary has nothing newer than our `serial`.
    UpToDate { serial: u32 },
    /// The whole zone (AXFR, or IXFR answered in AXFR form): every record,
    /// the SOA first.
    Full { records: Vec<Record> },
    /// The changes from our serial to the primary's, oldest first.
    Incremental { diffs: Vec<Diff> },
}
