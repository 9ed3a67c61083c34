//! The zone store: zone file plus journal, durable updates, reload.
