//! Which upstream to ask: the fastest healthy one by smoothed RTT, the
//! next one when it fails, and exponential backoff for servers that keep
//! failing.
//!
//! RTT bookkeeping follows TCP's (RFC 6298): a smoothed RTT and its
//! variance per server, and a retransmission timeout of SRTT + 4·RTTVAR
//! within bounds. A server never heard from starts at SRTT 0, so each is
//! tried once. Servers that are not chosen see their SRTT decay a little
//! every time another is picked, so a server that was slow once is tried
//! again later instead of being shunned for ever (BIND does the same).
//! Two failures in a row take a server out of rotation for 1 s, then 2 s,
//! 4 s, ... up to a minute; when every server of a group is out, the one
//! whose backoff ends first is tried anyway, so there is always an answer
//! attempt.

use crate::Millis;

/// Timeout for a server with no RTT sample yet.
pub const INITIAL_TIMEOUT: Millis = 1000;
/// Bounds of the per-try timeout.
pub const MIN_TIMEOUT: Millis = 250;
pub const MAX_TIMEOUT: Millis = 3000;
/// Longest time a failing server stays out of rotation.
pub const MAX_BACKOFF: Millis = 60_000;

/// What tandem knows about one upstream server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Health {
    /// Smoothed RTT, microseconds.
    pub srtt_us: u64,
    /// RTT variance, microseconds.
    pub rttvar_us: u64,
    pub samples: u64,
    /// Consecutive failures.
    pub failures: u32,
    /// Out of rotation until then.
    pub down_until: Millis,
}

/// Every upstream server's health, by index.
#[derive(Clone, Debug, Default)]
pub struct Upstreams {
    servers: Vec<Health>,
}

impl Upstreams {
    pub fn new(count: usize) -> Upstreams {
        Upstreams {
            servers: vec![Health::default(); count],
        }
    }

    pub fn health(&self, i: usize) -> Option<&Health> {
        self.servers.get(i)
    }

    /// Picks a server from `group`, preferring those not in `tried`.
    pub fn choose(&mut self, group: &[usize], tried: &[usize], now: Millis) -> Option<usize> {
        let valid: Vec<usize> = group
            .iter()
            .copied()
            .filter(|&i| i < self.servers.len())
            .collect();
        let fresh: Vec<usize> = valid
            .iter()
            .copied()
            .filter(|i| !tried.contains(i))
            .collect();
        let pool = if fresh.is_empty() { valid } else { fresh };
        let healthy = pool
            .iter()
            .copied()
            .filter(|&i| self.servers[i].down_until <= now)
            .min_by_key(|&i| self.servers[i].srtt_us);
        let pick = healthy.or_else(|| {
            pool.iter()
                .copied()
                .min_by_key(|&i| self.servers[i].down_until)
        })?;
        for &i in &pool {
            if i != pick && self.servers[i].down_until <= now {
                let s = &mut self.servers[i];
                s.srtt_us = s.srtt_us * 98 / 100;
            }
        }
        Some(pick)
    }

    /// How long to wait for server `i` before trying another.
    pub fn timeout(&self, i: usize) -> Millis {
        match self.servers.get(i) {
            Some(s) if s.samples > 0 => {
                ((s.srtt_us + 4 * s.rttvar_us) / 1000).clamp(MIN_TIMEOUT, MAX_TIMEOUT)
            }
            _ => INITIAL_TIMEOUT,
        }
    }

    /// Server `i` answered after `rtt_us` microseconds.
    pub fn success(&mut self, i: usize, rtt_us: u64) {
        let Some(s) = self.servers.get_mut(i) else {
            return;
        };
        // A first sample, or the first after failures (whose penalties
        // are not measurements), starts the estimate afresh.
        if s.samples == 0 || s.failures > 0 {
            s.srtt_us = rtt_us;
            s.rttvar_us = rtt_us / 2;
        } else {
            let diff = s.srtt_us.abs_diff(rtt_us);
            s.rttvar_us = (3 * s.rttvar_us + diff) / 4;
            s.srtt_us = (7 * s.srtt_us + rtt_us) / 8;
        }
        s.samples += 1;
        s.failures = 0;
        s.down_until = 0;
    }

    /// Server `i` timed out, refused the connection or answered with an
    /// error.
    pub fn failure(&mut self, i: usize, now: Millis) {
        let timeout = self.timeout(i);
        let Some(s) = self.servers.get_mut(i) else {
            return;
        };
        s.failures = s.failures.saturating_add(1);
        // A failure counts as a slow answer, so the next choice prefers
        // the others even before the server is taken out of rotation.
        s.srtt_us = s.srtt_us.max(timeout * 1000) + 100_000;
        if s.failures >= 2 {
            let shift = (s.failures - 2).min(16);
            let backoff = (1000u64 << shift).min(MAX_BACKOFF);
            s.down_until = now + backoff;
        }
    }
}

/// One resolution's tries: each server of the group once in order of
/// preference, then the best again, within a deadline.
#[derive(Clone, Debug)]
pub struct Plan {
    tried: Vec<usize>,
    max_tries: usize,
    deadline: Millis,
}

impl Plan {
    /// A plan for `group`, with `budget` milliseconds in all.
    pub fn new(group: &[usize], now: Millis, budget: Millis) -> Plan {
        Plan {
            tried: Vec::new(),
            max_tries: (group.len() + 1).clamp(2, 6),
            deadline: now + budget,
        }
    }

    /// The next server to try and how long to wait for it; `None` when
    /// the tries or the time are spent.
    pub fn next(
        &mut self,
        ups: &mut Upstreams,
        group: &[usize],
        now: Millis,
    ) -> Option<(usize, Millis)> {
        if self.tried.len() >= self.max_tries || now >= self.deadline {
            return None;
        }
        let i = ups.choose(group, &self.tried, now)?;
        self.tried.push(i);
        let wait = ups.timeout(i).min(self.deadline - now);
        Some((i, wait))
    }

    pub fn tries(&self) -> usize {
        self.tried.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fastest_healthy_wins_and_failures_fail_over() {
        let mut u = Upstreams::new(3);
        let g = [0, 1, 2];
        // Unknown servers: each is tried (SRTT 0), lowest index first.
        assert_eq!(u.choose(&g, &[], 0), Some(0));
        u.success(0, 30_000);
        u.success(1, 5_000);
        u.success(2, 60_000);
        assert_eq!(u.choose(&g, &[], 0), Some(1));
        assert_eq!(u.choose(&g, &[1], 0), Some(0));
        // Server 1 fails twice: out of rotation, 0 takes over.
        u.failure(1, 0);
        u.failure(1, 0);
        assert_eq!(u.choose(&g, &[], 10), Some(0));
        // Backoff over and it answers fast again: back in front.
        u.success(1, 5_000);
        assert_eq!(u.choose(&g, &[], 2000), Some(1));
    }

    #[test]
    fn backoff_grows_and_all_down_still_tries_one() {
        let mut u = Upstreams::new(2);
        for _ in 0..10 {
            u.failure(0, 0);
            u.failure(1, 0);
        }
        let d0 = u.health(0).unwrap().down_until;
        assert_eq!(d0, MAX_BACKOFF);
        u.failure(1, 5);
        assert_eq!(u.choose(&[0, 1], &[], 10), Some(0));
    }

    #[test]
    fn plan_is_bounded_by_tries_and_deadline() {
        let mut u = Upstreams::new(2);
        let g = [0, 1];
        let mut p = Plan::new(&g, 0, 10_000);
        let mut seen = Vec::new();
        while let Some((i, wait)) = p.next(&mut u, &g, 0) {
            assert!(wait <= INITIAL_TIMEOUT);
            seen.push(i);
            u.failure(i, 0);
        }
        assert_eq!(seen, vec![0, 1, 0]);
        let mut p = Plan::new(&g, 0, 300);
        assert_eq!(p.next(&mut u, &g, 0).map(|x| x.1), Some(300));
        assert_eq!(p.next(&mut u, &g, 300), None);
    }
}
