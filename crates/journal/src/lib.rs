//! `tandem-journal`: a durable, checksummed, append-only record log with
//! group commit.
//!
//! This crate owns the journal file: its byte format ([`format`](mod@format)), recovery
//! after a crash, durable appends batched by a writer thread, and atomic
//! compaction. It does not know what the payloads mean; the DNS zone store
//! appends one entry per committed RFC 2136 update and the DHCP lease store
//! one per lease change, each before answering the client.
//!
//! See `docs/storage.md` for the format, the durability guarantee and
//! measured throughput.
//!
//! ```
//! use tandem_journal::{Journal, MemBackend, Options};
//!
//! // `Options::default()` writes real files; tests use the in-memory backend.
//! let (journal, replay) = Journal::open("/zones/example.org.journal",
//!                                       Options::with_backend(MemBackend::new()))?;
//! for entry in &replay.entries {
//!     // re-apply entry.kind / entry.payload to the in-memory state
//! #   let _ = entry;
//! }
//! if let Some(cut) = replay.truncated {
//!     eprintln!("dropped torn tail: {} bytes at {}: {}", cut.bytes_dropped, cut.offset, cut.reason);
//! }
//!
//! // Returns only after fdatasync; only now may the server answer NOERROR.
//! let lsn = journal.append_blocking(1, b"serialized update".to_vec())?;
//! # let _ = lsn;
//!
//! // Async callers bridge the callback form to a oneshot channel, e.g.
//! // `journal.submit(1, bytes, Box::new(move |r| { let _ = tx.send(r); }))`.
//! let (tx, rx) = std::sync::mpsc::channel();
//! journal.submit(1, b"another".to_vec(), Box::new(move |r| { let _ = tx.send(r); }));
//! rx.recv().unwrap()?;
//!
//! // When the log has grown, fold it into a snapshot and replace the file.
//! if journal.len() > 1 << 20 {
//!     journal.compact(2, vec![b"snapshot".to_vec()])?;
//! }
//! # Ok::<(), tandem_journal::JournalError>(())
//! ```

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
