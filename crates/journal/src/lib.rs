//! `tandem-journal`: a durable, checksummed, append-only record log with
//! group commit.
//!
//! This crate owns the journal file: its byte format ([`format`]), recovery
//! after a crash, durable appends batched by a writer thread, and atomic
//! compaction. It does not know what the payloads mean; the DNS zone store
//! appends one entry per committed RFC 2136 update and the DHCP lease store
//! one per lease change, each before answering the client.
//!
//! See `docs/storage.md` for the format, the durability guarantee and
//! measured throughput.

pub mod backend;
mod error;
pub mod fault;
pub mod format;
mod journal;
mod mem;
mod recover;

pub use backend::{Backend, FileBackend, OpenMode, StorageFile};
pub use error::JournalError;
pub use fault::{FaultBackend, FaultCounters};
pub use format::{FrameDefect, MAX_PAYLOAD_LEN};
pub use journal::{Completion, Journal, Lsn, Options, Replay, RewriteReport, Stats};
pub use mem::MemBackend;
pub use recover::{Entry, RecoveryMode, TruncationReport};
