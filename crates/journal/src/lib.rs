//! A durable, checksummed, append-only record log with group commit.
