//! The DNS server core, without I/O: a request's bytes and where they came
//! from go in, and what to do comes out ([`query::Outcome`]).
//!
//! - [`catalog`]: the immutable snapshot of every served zone and its policy.
//! - [`acl`]: BIND-style address match lists.
//! - [`cache`]: per-worker cache of finished UDP responses (the fast path).
//! - [`query`]: request validation, EDNS, truncation, query answering, and
//!   the hand-off of UPDATE and transfer requests to the zone store.
//! - [`transfer`]: outgoing AXFR and IXFR.
//! - [`xfrin`]: incoming transfers for secondary zones.
//! - [`secondary`]: the refresh, retry and expire schedule of a secondary zone.
//! - [`outbox`]: the secondary's durable queue of updates for the primary.
//!
//! The tokio shell (`tandem-server`) owns the sockets; the zone store
//! (`tandem-zonestore`) owns persistence. Neither is a dependency here.

pub mod acl;
pub mod cache;
pub mod catalog;
pub mod outbox;
pub mod query;
pub mod secondary;
pub mod transfer;
pub mod xfrin;

pub use acl::{Acl, AclElement, AclError};
pub use catalog::{Catalog, SecondaryPolicy, ZoneEntry, ZonePolicy};
pub use query::{
    handle, ForwardRequest, ForwardedUpdate, NotifyRequest, Outcome, Settings, Source, Transport,
};
