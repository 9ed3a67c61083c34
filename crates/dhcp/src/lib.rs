//! `tandem-dhcp`: the DHCPv4 server core, pure (sans-I/O).
//!
//! It owns the server's decisions: which subnet a request belongs to, which
//! address a client gets, what options it receives, how long its lease is,
//! and which lease changes must be made durable before the reply may leave.
//! It reads no clock and opens no socket: time and the ingress interface come
//! in as arguments, and the shell (`tandem-server`) sends what comes out.
//!
//! - [`lease`]: the lease model (with the failover protocol's fields).
//! - [`config`]: subnets, pools, reservations, classes, option sets.
//! - [`engine`]: the RFC 2131 state machine.
//! - [`reply`]: reply destinations and option assembly.
//! - [`failover`]: load balancing, address ownership and MCLT for pools
//!   in a failover relationship.

pub mod config;
pub mod engine;
pub mod failover;
pub mod lease;
pub mod reply;

pub use config::DhcpConfig;
pub use engine::{Engine, Ingress, LogLine, Outcome};
pub use lease::{BindingState, HwAddr, Lease, LeaseDns};
pub use reply::{Destination, Reply};
