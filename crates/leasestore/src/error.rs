//! The crate's error type.
//!
//! `Clone`, like the journal's, because a failed group commit reaches every
//! committer of the batch with the same cause.

use std::path::PathBuf;

use tandem_journal::JournalError;

use crate::codec::{DecodeError, EncodeError};

/// Everything that can go wrong opening, committing to or compacting the
/// lease store.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The journal underneath failed (I/O, lock held, corruption, poisoned).
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// A lease with a field the format cannot hold; nothing of its commit
    /// (or compaction) was written.
    #[error("cannot store {0}")]
    InvalidLease(#[from] EncodeError),
    /// An entry passed the journal's checksum but its payload does not
    /// decode: a bug or an incompatible build wrote it.
    #[error("lease journal {}: entry at offset {offset} (kind {kind}) does not decode: {source}", path.display())]
    Payload {
        /// The journal file.
        path: PathBuf,
        /// The entry's offset in the file.
        offset: u64,
        /// Its journal kind.
        kind: u16,
        /// What is wrong with it.
        #[source]
        source: DecodeError,
    },
    /// An entry of a kind this build does not write.
    #[error("lease journal {}: entry at offset {offset} has unknown kind {kind} (written by a newer tandem?)", path.display())]
    UnknownKind {
        /// The journal file.
        path: PathBuf,
        /// The entry's offset in the file.
        offset: u64,
        /// The kind found.
        kind: u16,
    },
    /// The checkpoint frames at the start of the file are not one complete
    /// checkpoint.
    #[error("lease journal {}: at offset {offset}: {problem}", path.display())]
    Checkpoint {
        /// The journal file.
        path: PathBuf,
        /// Where the problem was found.
        offset: u64,
        /// What it is.
        problem: CheckpointProblem,
    },
    /// [`crate::LeaseStore::close`] was called.
    #[error("lease store is closed")]
    Closed,
}

/// Why the checkpoint frames of a lease journal cannot be trusted.
///
/// Compaction writes a whole checkpoint into a new file and renames it into
/// place, so a valid journal starts with parts `0..parts` of one checkpoint
/// in order and holds no other checkpoint frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointProblem {
    /// A checkpoint frame after lease changes (or after a complete
    /// checkpoint).
    #[error("checkpoint frame (part {part} of {parts}) after the start of the journal")]
    Misplaced {
        /// Its part index.
        part: u32,
        /// Its declared total.
        parts: u32,
    },
    /// Parts out of order, or of two different checkpoints.
    #[error("expected checkpoint part {expected} of {parts}, found part {part} of {found_parts}")]
    OutOfOrder {
        /// The part that should come next.
        expected: u32,
        /// The total the first part declared.
        parts: u32,
        /// The part found.
        part: u32,
        /// The total it declares.
        found_parts: u32,
    },
    /// The checkpoint stops before its last part. Leases of the missing
    /// parts were acknowledged and are lost; opening with
    /// `RecoveryMode::TruncateAtFirstDamage` accepts that and keeps the rest.
    #[error(
        "checkpoint ends after {found} of {parts} parts; leases in the missing parts were \
         acknowledged and would be lost (open with RecoveryMode::TruncateAtFirstDamage to accept)"
    )]
    Incomplete {
        /// Parts present.
        found: u32,
        /// Parts declared.
        parts: u32,
    },
}
