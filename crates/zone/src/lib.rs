//! Zones: what a zone is, how it is read from a zone file, how a query is
//! answered from it, and how an RFC 2136 update changes it.
//!
//! This crate is pure. It reads no files itself (the zone-file loader takes a
//! callback that returns the text of a path), opens no sockets and reads no
//! clock. Record data is uncompressed wire format ([`tandem_dns_wire::Record`]).
//!
//! Layout:
//! - [`zone`]: the [`Zone`] type, RRsets by owner name in canonical order.
//! - [`file`]: RFC 1035 master files → records, with `file:line:col` errors.
//! - [`lookup`]: the authoritative answer algorithm (RFC 1034 §4.3.2,
//!   RFC 2308, RFC 4592, RFC 8482).
//! - [`update`]: RFC 2136 prerequisites and updates → a [`Diff`].
//! - [`diff`]: a change between two versions of a zone, as IXFR carries it.
//! - [`serial`]: RFC 1982 serial number arithmetic.

mod bind_ttl;
pub mod diff;
pub mod file;
pub mod lookup;
pub mod serial;
pub mod update;
pub mod zone;

pub use diff::Diff;
pub use lookup::Resolution;
pub use update::{
    apply_update, plan_update, AllowAll, Authorize, KeyList, MatchKind, PolicyRule, UpdateError,
    UpdateOutcome, UpdatePlan, UpdatePolicy,
};
pub use zone::{RRset, Zone, ZoneError};
