//! DHCPv4 wire format (being written).
