//! RFC 2136 updates (being written).
