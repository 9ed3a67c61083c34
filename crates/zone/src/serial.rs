//! RFC 1982 serial number arithmetic for SOA serials.

use std::cmp::Ordering;

/// Compares two serials as RFC 1982 §3.2 defines; `None` when the two are
/// exactly 2^31 apart and the comparison is undefined.
pub fn compare(a: u32, b: u32) -> Option<Ordering> {
    if a == b {
        return Some(Ordering::Equal);
    }
    let diff = b.wrapping_sub(a);
    match diff.cmp(&(1 << 31)) {
        Ordering::Less => Some(Ordering::Less),
        Ordering::Greater => Some(Ordering::Greater),
        Ordering::Equal => None,
    }
}

/// True if `a` is strictly newer than `b`.
pub fn is_newer(a: u32, b: u32) -> bool {
    compare(a, b) == Some(Ordering::Greater)
}

/// The serial after `s` for a changed zone: one more, skipping zero as
/// BIND does, so "0" never appears as a dynamically made serial.
pub fn increment(s: u32) -> u32 {
    match s.wrapping_add(1) {
        0 => 1,
        n => n,
    }
}

/// The serial a zone should carry after a change, given its current serial
/// and a serial someone asked for (an UPDATE that sets the SOA, or an
/// edited zone file): the requested one if it is newer, else current + 1.
pub fn next(current: u32, requested: Option<u32>) -> u32 {
    match requested {
        Some(r) if is_newer(r, current) => r,
        _ => increment(current),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1982_examples() {
        assert!(is_newer(1, 0));
        assert!(is_newer(44, 0));
        assert!(is_newer(100, 44));
        assert!(is_newer(0, 4294967295));
        assert!(is_newer(5, 4294967290));
        assert!(!is_newer(0, 1));
        assert_eq!(compare(0, 1 << 31), None);
    }

    #[test]
    fn increment_skips_zero() {
        assert_eq!(increment(u32::MAX), 1);
        assert_eq!(next(10, Some(5)), 11);
        assert_eq!(next(10, Some(20)), 20);
        assert_eq!(next(10, None), 11);
    }
}
