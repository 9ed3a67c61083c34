//! Per-client rate limiting: a token bucket per client (an IPv4 address,
//! or an IPv6 /64, since one IPv6 host may use many addresses of its
//! prefix), refilled at `rate` queries per second up to `burst`.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::Millis;

#[derive(Clone, Copy, Debug)]
struct Bucket {
    /// Thousandths of a query.
    tokens: u64,
    last: Millis,
}

/// The buckets. Memory is bounded: past `max_clients`, buckets that are
/// full again (idle clients) are dropped, and if none is, all are.
#[derive(Debug)]
pub struct RateLimiter {
    rate: u32,
    burst: u32,
    max_clients: usize,
    buckets: HashMap<IpAddr, Bucket>,
    limited: u64,
}

impl RateLimiter {
    /// `rate` queries per second per client (0: no limit), bursts of up to
    /// `burst` queries.
    pub fn new(rate: u32, burst: u32, max_clients: usize) -> RateLimiter {
        RateLimiter {
            rate,
            burst: burst.max(1),
            max_clients: max_clients.max(1),
            buckets: HashMap::new(),
            limited: 0,
        }
    }

    /// Queries refused so far.
    pub fn limited(&self) -> u64 {
        self.limited
    }

    pub fn clients(&self) -> usize {
        self.buckets.len()
    }

    /// True if a query from `client` at `now` is within its limit (and
    /// takes a token).
    pub fn allow(&mut self, client: IpAddr, now: Millis) -> bool {
        if self.rate == 0 {
            return true;
        }
        let who = bucket_key(client);
        let cap = self.burst as u64 * 1000;
        let rate = self.rate as u64;
        if !self.buckets.contains_key(&who) && self.buckets.len() >= self.max_clients {
            self.buckets
                .retain(|_, b| b.tokens + now.saturating_sub(b.last).saturating_mul(rate) < cap);
            if self.buckets.len() >= self.max_clients {
                self.buckets.clear();
            }
        }
        let b = self.buckets.entry(who).or_insert(Bucket {
            tokens: cap,
            last: now,
        });
        let refill = now.saturating_sub(b.last).saturating_mul(rate);
        b.tokens = b.tokens.saturating_add(refill).min(cap);
        b.last = b.last.max(now);
        if b.tokens >= 1000 {
            b.tokens -= 1000;
            true
        } else {
            self.limited += 1;
            false
        }
    }
}

fn bucket_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(bits.into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate() {
        let mut r = RateLimiter::new(10, 5, 100);
        let a: IpAddr = "192.168.0.9".parse().unwrap();
        let b: IpAddr = "192.168.0.10".parse().unwrap();
        assert_eq!((0..8).filter(|_| r.allow(a, 1000)).count(), 5);
        assert!(r.allow(b, 1000), "another client has its own bucket");
        // 10 per second: one more every 100 ms.
        assert!(!r.allow(a, 1050));
        assert!(r.allow(a, 1100));
        assert!(!r.allow(a, 1100));
        assert_eq!(r.limited(), 5);
        assert!((0..5).all(|_| r.allow(a, 10_000)));
    }

    #[test]
    fn ipv6_clients_share_their_64_and_memory_is_bounded() {
        let mut r = RateLimiter::new(1, 1, 3);
        assert!(r.allow("2001:db8::1".parse().unwrap(), 0));
        assert!(!r.allow("2001:db8::2".parse().unwrap(), 0));
        for i in 0..100u32 {
            r.allow(IpAddr::V4(i.into()), 0);
            assert!(r.clients() <= 3);
        }
    }
}
