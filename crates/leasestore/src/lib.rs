//! The durable lease store (being written).
