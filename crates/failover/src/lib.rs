//! `tandem-failover`: the DHCP failover protocol as ISC dhcpd 4.4 speaks it.
//!
//! ISC dhcpd implements draft-ietf-dhc-failover-12 over one TCP connection
//! (port 647) between a primary and a secondary. This crate is the first
//! brick of tandem's implementation of it, and it is pure: no sockets, no
//! clock (every time is an argument), no threads.
//!
//! - [`wire`]: the bytes. The 12-byte header and the option TLVs, a typed
//!   [`Message`] with accessors, decoding with ISC's rules and ISC's
//!   per-message allow-list, a [`Framer`] that cuts a TCP byte stream into
//!   messages, builders for every message ISC sends (with ISC's option set
//!   and order), and the conversion between a BNDUPD and a
//!   [`tandem_dhcp::Lease`].
//! - [`hash`]: load balancing. The RFC 3074 hash, the 32-byte hash bucket
//!   assignment (HBA) that ISC derives from `split` or takes from `hba`, and
//!   the "is this client mine?" question for either role.
//!
//! - [`machine`]: the relationship's state machine (ISC's states and
//!   transitions, handshake, keepalives, binding updates and their acks,
//!   recovery and conflict resolution), driven by events with the time.
//!
//! Where ISC's behaviour is matched, the doc comment says which part of ISC
//! (or of the project's research note, `dhcp-anchors.md` §1) it follows.
//! Nothing here is copied from ISC; the behaviour was read and re-expressed.

pub mod hash;
pub mod machine;
pub mod wire;

pub use hash::{Hba, HbaTextError, SplitError};
pub use wire::{
    BindingError, BindingUpdate, DecodeError, DecodeMode, EncodeError, FailoverOption,
    FailoverState, Framer, IpFlags, Message, MessageType, OptionCode, RejectReason, ServerFlags,
    TandemExt, WireType,
};

/// Which side of the relationship a server is (ISC's `primary;` or
/// `secondary;`), shared with the DHCP engine.
pub use tandem_dhcp::failover::Role;
