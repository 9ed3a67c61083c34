//! The forwarding resolver's pure core: everything tandem decides about a
//! query for a name outside its own zones, as functions of (state, input,
//! now) with no sockets, threads or clock. The shell
//! (`tandem-server/src/forward.rs`) owns the sockets and timers.
//!
//! - [`answer`]: the query sent upstream, the checks an upstream response
//!   must pass, and the [`Template`] an accepted response becomes: the
//!   rendered answer with the offset of every TTL, so a cached answer is
//!   a copy and a few patches (ID, flags, question case, decremented
//!   TTLs, OPT), truncated to the client's size limit.
//! - [`cache`]: positive and negative (RFC 2308) caching with TTL limits,
//!   a memory bound with LRU eviction, prefetch decisions and serve-stale
//!   (RFC 8767).
//! - [`inflight`]: coalescing of identical concurrent queries.
//! - [`upstream`]: upstream choice by smoothed RTT, failover, backoff.
//! - [`route`]: conditional forwarding (a domain to its own upstreams).
//! - [`ratelimit`]: per-client token buckets.
//!
//! Time is [`Millis`]: milliseconds on a monotonic clock the shell reads.

pub mod answer;
pub mod cache;
pub mod inflight;
pub mod ratelimit;
pub mod route;
pub mod upstream;

use tandem_dns_wire::{Class, Name, Question, Rtype};

pub use answer::{Reject, Reply, Template, TtlLimits};
pub use cache::{Cache, CacheConfig, Lookup};
pub use inflight::{Inflight, Join};
pub use ratelimit::RateLimiter;
pub use route::Routes;
pub use upstream::{Plan, Upstreams};

/// Milliseconds on the shell's monotonic clock.
pub type Millis = u64;

/// What makes two questions the same question for the cache and for
/// coalescing: the name (lower case), type and class, and the two request
/// bits that change what an upstream answers (DO brings RRSIGs, CD asks a
/// validating upstream not to refuse bogus data).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    pub name: Name,
    pub qtype: Rtype,
    pub qclass: Class,
    pub dnssec_ok: bool,
    pub checking_disabled: bool,
}

impl Key {
    pub fn new(q: &Question, dnssec_ok: bool, checking_disabled: bool) -> Key {
        Key {
            name: q.name.to_lowercase(),
            qtype: q.qtype,
            qclass: q.qclass,
            dnssec_ok,
            checking_disabled,
        }
    }

    /// The question as sent upstream (lower case).
    pub fn question(&self) -> Question {
        Question {
            name: self.name.clone(),
            qtype: self.qtype,
            qclass: self.qclass,
        }
    }
}
