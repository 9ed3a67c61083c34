//! The DNS server core: request in, response out (pure, sans-I/O).
