//! The crate's error type.
//!
//! Errors are `Clone` because one failed `fdatasync` has to be reported to
//! every waiter of the batch it covered; the underlying `io::Error` is shared
//! behind an `Arc` for that reason.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use crate::format::FrameDefect;

/// Everything that can go wrong opening, appending to or compacting a journal.
#[derive(Debug, Clone, thiserror::Error)]
pub enum JournalError {
    /// An I/O call failed.
    #[error("journal {}: {op} failed: {source}", path.display())]
    Io {
        /// The file or directory the call was made on.
        path: PathBuf,
        /// The operation, e.g. `"fdatasync"`.
        op: &'static str,
        /// The error returned by the operating system (or injected by a test).
        #[source]
        source: Arc<io::Error>,
    },
    /// The file does not start with the journal magic.
    #[error("{} is not a tandem journal: bad magic {found:02x?}", path.display())]
    BadMagic {
        /// The offending file.
        path: PathBuf,
        /// The first bytes of the file (up to eight).
        found: Vec<u8>,
    },
    /// The file uses a format version this build does not understand.
    #[error(
        "journal {}: unsupported format version {found} (this build reads version {supported})",
        path.display()
    )]
    UnsupportedVersion {
        /// The offending file.
        path: PathBuf,
        /// Version in the file header.
        found: u32,
        /// Version this build reads.
        supported: u32,
    },
    /// A damaged frame is followed by valid frames, so truncating would drop
    /// acknowledged entries. The file is left untouched.
    #[error(
        "journal {}: corrupt frame at offset {offset} ({defect}); a valid frame follows at \
         offset {next_valid}, refusing to truncate acknowledged entries",
        path.display()
    )]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// Offset of the first frame that failed to decode.
        offset: u64,
        /// What is wrong with it.
        defect: FrameDefect,
        /// Offset of the first valid frame found after the damage.
        next_valid: u64,
    },
    /// Another handle (in this or another process) holds the journal's lock.
    #[error("journal {} is locked by another writer", path.display())]
    Locked {
        /// The journal file.
        path: PathBuf,
    },
    /// An earlier write or sync failed; nothing more is written until the
    /// journal is reopened, because after a failed `fdatasync` the kernel may
    /// have dropped dirty pages and a later successful sync proves nothing.
    #[error("journal {} is poisoned by an earlier failure: {cause}", path.display())]
    Poisoned {
        /// The journal file.
        path: PathBuf,
        /// Description of the failure that poisoned it.
        cause: Arc<str>,
    },
    /// A payload larger than the format allows.
    #[error("entry payload of {len} bytes exceeds the maximum of {max}")]
    EntryTooLarge {
        /// The payload's length.
        len: usize,
        /// [`crate::MAX_PAYLOAD_LEN`].
        max: u32,
    },
    /// A blocking call was made from the writer thread (from inside a
    /// completion callback); waiting there would deadlock.
    #[error("blocking journal call made from a completion callback (would deadlock)")]
    WouldDeadlock,
    /// The writer thread has stopped.
    #[error("journal is closed")]
    Closed,
}

impl JournalError {
    pub(crate) fn io(path: impl Into<PathBuf>, op: &'static str, source: io::Error) -> Self {
        JournalError::Io {
            path: path.into(),
            op,
            source: Arc::new(source),
        }
    }
}
