//! `tandem-dhcp`: the DHCPv4 server core, pure (sans-I/O).
//!
//! It owns the server's decisions: which subnet a request belongs to, which
//! address a client gets, what options it receives, how long its lease is,
//! and which lease changes must be made durable before the reply may leave.
//! It reads no clock and opens no socket: time and the ingress interface come
//! in as arguments, and the shell (`tandem-server`) sends what comes out.

pub mod lease;

pub use lease::{BindingState, HwAddr, Lease};
