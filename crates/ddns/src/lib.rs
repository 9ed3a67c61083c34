//! `tandem-ddns`: leases into DNS, as a pure core (sans-I/O).
//!
//! When the DHCP server commits a lease, the client's name should appear in
//! the forward zone (an A record) and its address in the reverse zone (a
//! PTR record); when the lease ends they should go. This crate decides
//! *what* to send; the shell (`tandem-server`'s `ddns` module) sends it,
//! retries it and keeps the queue on disk.
//!
//! - [`fqdn`]: the client FQDN option (81, RFC 4702): parsing what the
//!   client sent and writing the server's answer with its S/O/N flags.
//! - [`names`]: a client's name as a valid DNS label, generated names,
//!   reverse names.
//! - [`guard`]: the record that says which client owns a name: the DHCID RR
//!   of RFC 4701 (`ddns-update-style standard`) or ISC's TXT record
//!   (`interim`).
//! - [`config`]: the validated `[ddns]` settings (`tandem-config` builds
//!   them from the file).
//! - [`plan`]: one lease (and the request that made it) to a [`Binding`]
//!   (the records the server maintains for it) and the option 81 answer.
//! - [`update`]: the RFC 2136 messages of RFC 4703's sequences: claim a
//!   name, take over a name that holds our guard, release it, the PTR.
//! - [`job`]: the state machine that walks those sequences for one address,
//!   from what is in DNS now to what should be, answer by answer.
//! - [`record`]: the queue's journal records.
//!
//! Nothing here reads a clock, opens a socket or touches a file; the shell
//! passes `now` where it matters (TSIG signing happens in the shell, with
//! `tandem-dns-wire`).

pub mod config;
pub mod fqdn;
pub mod guard;
pub mod job;
pub mod names;
pub mod plan;
pub mod record;
pub mod update;

pub use config::{ClientUpdates, DdnsConfig, Style, ZoneTarget};
pub use fqdn::ClientFqdn;
pub use guard::{Guard, GuardKind, Identity};
pub use job::{Answer, Job, Part, Published};
pub use plan::{plan, Binding, Facts, Plan};
pub use update::{Step, Update};
