//! TSIG keys.
