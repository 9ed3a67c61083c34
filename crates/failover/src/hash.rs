//! Load balancing: which of the two servers answers a client.
//!
//! The hash, the HBA and the "is this client mine?" question live in
//! `tandem-dhcp` (`tandem_dhcp::failover`), because the DHCP engine applies
//! them to every DHCPDISCOVER; this module re-exports them.
//!
//! ISC dhcpd splits clients between the primary and the secondary with the
//! hash of RFC 3074 ("DHC Load Balancing Algorithm") and a 256-bit hash
//! bucket assignment (HBA) that the primary configures and sends to the
//! secondary in CONNECT:
//!
//! - the hash ([`bucket`]) is RFC 3074 §6's Pearson hash: an 8-bit state
//!   that starts as the key's length, then for every key byte *from the
//!   last to the first* becomes `MIXING_TABLE[state ^ byte]`;
//! - the key ([`packet_bucket`]) is the client identifier option's value
//!   (option 61's data, its type byte included) when the client sent one,
//!   else the `chaddr` bytes (`hlen` of them, *without* the hardware type
//!   byte): ISC's `load_balance_mine` in `server/failover.c`;
//! - for a stored lease ([`lease_bucket`]) the same: the client identifier
//!   if the lease has one, else the hardware address without its type byte
//!   (ISC's `peer_wants_lease` skips the first byte of its stored
//!   `hardware_addr`, which is the type);
//! - bucket `b` is bit `b & 7` (least significant first) of HBA byte
//!   `b >> 3`. A set bit means the primary serves the client, a clear bit
//!   the secondary ([`is_mine`]);
//! - `split N` (0..=256) sets buckets 0..N−1, so `split 128` gives the
//!   primary the hash values 0–127 (`server/confpars.c`, `SPLIT`);
//!   `hba` gives the 32 bytes explicitly ([`Hba::from_isc_text`]).
//!
//! ISC applies it to DHCPDISCOVER only, and only in the normal state, and
//! answers regardless when the client's `secs` exceed `load balance max
//! seconds` (dhcp-anchors.md §1.9); those rules belong to the caller.

pub use tandem_dhcp::failover::{
    bucket, is_mine, lease_bucket, packet_bucket, Hba, HbaTextError, SplitError, MIXING_TABLE,
};
