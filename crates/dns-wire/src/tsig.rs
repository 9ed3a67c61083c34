//! TSIG (RFC 8945): signing and verifying messages with shared keys.
