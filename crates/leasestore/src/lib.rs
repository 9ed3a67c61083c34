//! `tandem-leasestore`: the durable DHCP lease store.
//!
//! It owns the lease journal, `<state-dir>/dhcp/leases.jnl`: the payload
//! format of lease changes and checkpoints ([`codec`]), the rule that a
//! change is durable (written and `fdatasync`ed, with group commit) before
//! the DHCPACK that depends on it leaves, replay after a restart, and
//! compaction. The log itself (frames, checksums, torn-tail recovery, the
//! writer thread, atomic rewrite) is `tandem-journal`'s; what a lease means
//! and which leases are worth keeping is the DHCP server's.
//!
//! See `docs/storage.md`, section "DHCP lease journal".
//!
//! ```
//! use std::net::Ipv4Addr;
//! use std::path::Path;
//! use tandem_dhcp::{BindingState, Lease};
//! use tandem_journal::MemBackend;
//! use tandem_leasestore::{LeaseStore, StoreOptions};
//!
//! let opened = LeaseStore::open(Path::new("/state/dhcp"), StoreOptions::with_backend(MemBackend::new()))?;
//! for w in &opened.warnings {
//!     eprintln!("{w}");
//! }
//! let store = opened.store;
//! let mut table = opened.leases;
//!
//! let lease = Lease::new(Ipv4Addr::new(192, 0, 2, 10), BindingState::Active);
//! table.push(lease.clone());
//! // Returns after fdatasync: only now may the DHCPACK leave.
//! store.commit_blocking(vec![lease.clone()])?;
//!
//! // Servers on an event loop use the callback and bridge it to a channel.
//! let (tx, rx) = std::sync::mpsc::channel();
//! let renewed = Lease { end: 1_700_043_200, ..lease };
//! table[0] = renewed.clone();
//! store.commit(vec![renewed], Box::new(move |r| { let _ = tx.send(r); }));
//! rx.recv().unwrap()?;
//!
//! store.compact_if_needed(&table)?;
//! # Ok::<(), tandem_leasestore::StoreError>(())
//! ```

pub mod codec;
mod error;
mod store;

pub use codec::{DecodeError, EncodeError};
pub use error::{CheckpointProblem, StoreError};
pub use store::{Done, LeaseStore, Opened, StoreOptions, JOURNAL_FILE};
