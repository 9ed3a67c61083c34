//! Zones: the data model, zone files, lookups and RFC 2136 update semantics (pure).
