//! The refresh schedule of one secondary zone (RFC 1034 §4.3.5, RFC 1996),
//! without I/O or clock: `now` (seconds since the epoch) is an argument.
//!
//! A [`Refresher`] owns the answer to "should this zone be transferred
//! from its primary now, and has our copy expired?": the refresh and retry
//! timers from the zone's SOA, NOTIFY handling, the one-transfer-at-a-time
//! rule and expiry. The shell polls it, runs the transfer it asks for
//! ([`crate::xfrin`]) and reports back; the zone store persists [`Copy`]
//! so expiry survives restarts.

use std::fmt;

use tandem_dns_wire::rdata::Soa;
use tandem_dns_wire::{Record, Rtype};
use tandem_zone::serial;

/// The longest wait between attempts while we have no copy at all (and so
/// no SOA to take a retry timer from); the waits start at 1 s and double.
pub const NO_COPY_RETRY: u32 = 60;

/// Timer bounds, as BIND applies them (`max-refresh-time`,
/// `max-retry-time`, and its 24-week expire cap), except that the lower
/// bound is 1 s rather than BIND's `min-refresh-time`/`min-retry-time`
/// (300/500 s): a small network's zones may reasonably refresh fast.
pub const MIN_TIMER: u32 = 1;
/// Four weeks.
pub const MAX_REFRESH: u32 = 4 * 7 * 86_400;
/// Two weeks.
pub const MAX_RETRY: u32 = 2 * 7 * 86_400;
/// 24 weeks.
pub const MAX_EXPIRE: u32 = 24 * 7 * 86_400;

/// The SOA timers of a secondary zone, in seconds, clamped to sane bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timers {
    pub refresh: u32,
    pub retry: u32,
    pub expire: u32,
}

impl Timers {
    /// The timers of an SOA's rdata, clamped (see [`Timers::clamped`]).
    pub fn from_soa(soa: &Soa) -> Timers {
        Timers {
            refresh: soa.refresh,
            retry: soa.retry,
            expire: soa.expire,
        }
        .clamped()
    }

    /// The timers of an SOA record; `None` if it is not a valid SOA.
    pub fn from_record(r: &Record) -> Option<Timers> {
        if r.rtype != Rtype::SOA {
            return None;
        }
        Soa::parse(&r.rdata).ok().map(|s| Timers::from_soa(&s))
    }

    /// Within bounds: every timer at least [`MIN_TIMER`]; refresh at most
    /// [`MAX_REFRESH`], retry at most [`MAX_RETRY`]; expire at most
    /// [`MAX_EXPIRE`] but at least refresh + retry, so a zone never
    /// expires before it had a chance to refresh and retry once (BIND's
    /// rule).
    pub fn clamped(self) -> Timers {
        let refresh = self.refresh.clamp(MIN_TIMER, MAX_REFRESH);
        let retry = self.retry.clamp(MIN_TIMER, MAX_RETRY);
        let expire = self
            .expire
            .clamp(MIN_TIMER, MAX_EXPIRE)
            .max(refresh + retry);
        Timers {
            refresh,
            retry,
            expire,
        }
    }
}

/// What we hold of the zone: the last successful contact with the primary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Copy {
    pub serial: u32,
    pub timers: Timers,
    /// When the primary last answered a refresh (a transfer, or "up to
    /// date"); expiry counts from here.
    pub refreshed_at: u64,
}

/// Why a transfer is started, for logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Startup,
    Notify,
    Refresh,
    Retry,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reason::Startup => "at startup",
            Reason::Notify => "on NOTIFY",
            Reason::Refresh => "refresh timer",
            Reason::Retry => "retry timer",
        })
    }
}

/// What the shell should do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Start a transfer (check the SOA / IXFR / AXFR), then call
    /// [`Refresher::on_success`] or [`Refresher::on_failure`].
    Transfer(Reason),
    /// Our copy is older than the SOA's expire: stop serving the zone
    /// (SERVFAIL) until a transfer succeeds.
    Expire,
}

/// What became of a NOTIFY.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotifyVerdict {
    /// The NOTIFY's serial is not newer than ours: nothing to fetch.
    Ignored,
    /// A transfer is running; another one follows right after it (unless
    /// the running one already brings the notified serial).
    Queued,
    /// A transfer is due now.
    Scheduled,
}

/// The refresh state machine of one secondary zone.
#[derive(Clone, Debug)]
pub struct Refresher {
    copy: Option<Copy>,
    /// When the next transfer is due and why; `None` while one runs.
    next: Option<(u64, Reason)>,
    running: bool,
    /// A NOTIFY that came during a transfer, with its serial hint.
    queued_notify: Option<Option<u32>>,
    expired: bool,
    /// Failures in a row, for the backoff while there is no copy.
    failures: u32,
}

impl Refresher {
    /// A zone with `copy` restored from the store (or none yet). A
    /// transfer is due at once: the primary may have changed while we were
    /// down.
    pub fn new(copy: Option<Copy>, now: u64) -> Refresher {
        let copy = copy.map(|c| Copy {
            timers: c.timers.clamped(),
            ..c
        });
        Refresher {
            copy,
            next: Some((now, Reason::Startup)),
            running: false,
            queued_notify: None,
            expired: false,
            failures: 0,
        }
    }

    /// The copy to persist after a success.
    pub fn copy(&self) -> Option<&Copy> {
        self.copy.as_ref()
    }

    pub fn is_expired(&self) -> bool {
        self.expired
    }

    /// True between a [`Step::Transfer`] and its outcome.
    pub fn is_transferring(&self) -> bool {
        self.running
    }

    /// When our copy expires, if it has not already.
    fn expire_at(&self) -> Option<u64> {
        match self.copy {
            Some(c) if !self.expired => Some(c.refreshed_at + c.timers.expire as u64),
            _ => None,
        }
    }

    /// The next thing to do at `now`, if anything. Call again until `None`
    /// (an expiry and a transfer may be due at once), then sleep until
    /// [`next_wakeup`](Self::next_wakeup).
    pub fn poll(&mut self, now: u64) -> Option<Step> {
        // Expiry first: it may be due while a transfer runs, and a copy that
        // expired while we were down must not be served even briefly.
        if self.expire_at().is_some_and(|t| now >= t) {
            self.expired = true;
            return Some(Step::Expire);
        }
        match self.next {
            Some((at, reason)) if !self.running && now >= at => {
                self.running = true;
                self.next = None;
                Some(Step::Transfer(reason))
            }
            _ => None,
        }
    }

    /// When [`poll`](Self::poll) next has something to do; `None` while a
    /// transfer runs with no expiry pending (its outcome wakes the shell).
    pub fn next_wakeup(&self) -> Option<u64> {
        let transfer = self.next.filter(|_| !self.running).map(|(at, _)| at);
        match (transfer, self.expire_at()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The transfer succeeded, or the primary said we are up to date:
    /// `serial` and `timers` are from the primary's SOA. Un-expires.
    pub fn on_success(&mut self, now: u64, serial: u32, timers: Timers) {
        let timers = timers.clamped();
        self.running = false;
        self.expired = false;
        self.failures = 0;
        self.copy = Some(Copy {
            serial,
            timers,
            refreshed_at: now,
        });
        self.next = match self.queued_notify.take() {
            // The transfer already brought what was notified.
            Some(Some(hint)) if !serial::is_newer(hint, serial) => {
                Some((now + timers.refresh as u64, Reason::Refresh))
            }
            Some(_) => Some((now, Reason::Notify)),
            None => Some((now + timers.refresh as u64, Reason::Refresh)),
        };
    }

    /// The transfer failed (no answer, refused, bad stream): retry after
    /// the retry timer, or at once if a NOTIFY came meanwhile.
    pub fn on_failure(&mut self, now: u64) {
        self.running = false;
        self.failures = self.failures.saturating_add(1);
        // Without a copy there is nothing to serve: try again soon (1 s,
        // doubling up to NO_COPY_RETRY), since a pair often starts together.
        let retry = self.copy.map_or_else(
            || NO_COPY_RETRY.min(1u32 << self.failures.saturating_sub(1).min(16)),
            |c| c.timers.retry,
        );
        self.next = match self.queued_notify.take() {
            Some(_) => Some((now, Reason::Notify)),
            None => Some((now + retry as u64, Reason::Retry)),
        };
    }

    /// A NOTIFY from the primary (RFC 1996 §3.7), with the serial of the
    /// SOA it carried, if any.
    pub fn on_notify(&mut self, now: u64, serial_hint: Option<u32>) -> NotifyVerdict {
        if let (Some(hint), Some(c)) = (serial_hint, self.copy) {
            if !serial::is_newer(hint, c.serial) {
                return NotifyVerdict::Ignored;
            }
        }
        if self.running {
            self.queued_notify = Some(serial_hint);
            return NotifyVerdict::Queued;
        }
        self.next = Some(match self.next {
            // Already due: keep the earlier reason (and time).
            Some((at, reason)) if at <= now => (at, reason),
            _ => (now, Reason::Notify),
        });
        NotifyVerdict::Scheduled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_000_000;

    fn timers() -> Timers {
        Timers {
            refresh: 100,
            retry: 30,
            expire: 200,
        }
    }

    fn copy(serial: u32, refreshed_at: u64) -> Copy {
        Copy {
            serial,
            timers: timers(),
            refreshed_at,
        }
    }

    #[test]
    fn startup_then_refresh() {
        let mut r = Refresher::new(Some(copy(5, T0 - 10)), T0);
        assert_eq!(r.next_wakeup(), Some(T0));
        assert_eq!(r.poll(T0), Some(Step::Transfer(Reason::Startup)));
        // One at a time.
        assert_eq!(r.poll(T0), None);
        assert!(r.is_transferring());
        // Expiry is still watched while the transfer runs.
        assert_eq!(r.next_wakeup(), Some(T0 - 10 + 200));
        r.on_success(T0 + 1, 6, timers());
        assert_eq!(r.copy(), Some(&copy(6, T0 + 1)));
        assert_eq!(r.next_wakeup(), Some(T0 + 101));
        assert_eq!(r.poll(T0 + 100), None);
        assert_eq!(r.poll(T0 + 101), Some(Step::Transfer(Reason::Refresh)));
        assert_eq!(Reason::Refresh.to_string(), "refresh timer");
        assert_eq!(Reason::Startup.to_string(), "at startup");
    }

    #[test]
    fn no_copy_retries_quickly_and_never_expires() {
        let mut r = Refresher::new(None, T0);
        assert_eq!(r.poll(T0), Some(Step::Transfer(Reason::Startup)));
        // 1 s, 2 s, 4 s ... then every NO_COPY_RETRY.
        let mut now = T0 + 2;
        for wait in [1u64, 2, 4, 8, 16, 32, 60, 60] {
            r.on_failure(now);
            assert_eq!(r.next_wakeup(), Some(now + wait));
            now += wait;
            assert_eq!(r.poll(now), Some(Step::Transfer(Reason::Retry)));
        }
        r.on_failure(now);
        assert_eq!(r.poll(now + 1_000_000), Some(Step::Transfer(Reason::Retry)));
        assert!(!r.is_expired());
    }

    #[test]
    fn notify_during_transfer_runs_another_after_it() {
        let mut r = Refresher::new(Some(copy(5, T0)), T0);
        assert_eq!(r.poll(T0), Some(Step::Transfer(Reason::Startup)));
        assert_eq!(r.on_notify(T0 + 1, Some(7)), NotifyVerdict::Queued);
        // The running transfer brought 6: 7 is still to fetch.
        r.on_success(T0 + 2, 6, timers());
        assert_eq!(r.poll(T0 + 2), Some(Step::Transfer(Reason::Notify)));
        // A notify whose serial the running transfer brings: no second one.
        assert_eq!(r.on_notify(T0 + 3, Some(7)), NotifyVerdict::Queued);
        r.on_success(T0 + 4, 7, timers());
        assert_eq!(r.poll(T0 + 4), None);
        assert_eq!(r.next_wakeup(), Some(T0 + 104));
        // A hintless notify during a failing transfer: try again at once.
        assert_eq!(r.poll(T0 + 104), Some(Step::Transfer(Reason::Refresh)));
        assert_eq!(r.on_notify(T0 + 105, None), NotifyVerdict::Queued);
        r.on_failure(T0 + 106);
        assert_eq!(r.poll(T0 + 106), Some(Step::Transfer(Reason::Notify)));
    }

    #[test]
    fn notify_with_stale_serial_is_ignored() {
        let mut r = Refresher::new(Some(copy(5, T0)), T0);
        assert_eq!(r.poll(T0), Some(Step::Transfer(Reason::Startup)));
        r.on_success(T0, 5, timers());
        assert_eq!(r.on_notify(T0 + 1, Some(5)), NotifyVerdict::Ignored);
        assert_eq!(r.on_notify(T0 + 1, Some(4)), NotifyVerdict::Ignored);
        assert_eq!(r.poll(T0 + 1), None);
        assert_eq!(r.on_notify(T0 + 1, Some(6)), NotifyVerdict::Scheduled);
        assert_eq!(r.next_wakeup(), Some(T0 + 1));
        assert_eq!(r.poll(T0 + 1), Some(Step::Transfer(Reason::Notify)));
        assert_eq!(Reason::Notify.to_string(), "on NOTIFY");
    }

    #[test]
    fn retry_until_expire() {
        let mut r = Refresher::new(Some(copy(5, T0)), T0);
        let mut now = T0;
        let mut expired_at = None;
        let mut retries = 0;
        while now < T0 + 400 {
            match r.poll(now) {
                Some(Step::Transfer(reason)) => {
                    assert!(matches!(reason, Reason::Startup | Reason::Retry));
                    retries += 1;
                    r.on_failure(now);
                }
                Some(Step::Expire) => {
                    assert!(expired_at.is_none(), "expires once");
                    expired_at = Some(now);
                }
                None => now = r.next_wakeup().unwrap(),
            }
        }
        assert_eq!(expired_at, Some(T0 + 200));
        assert!(r.is_expired());
        // Retries every 30 s from T0 on, and go on after expiry.
        assert_eq!(retries, 400 / 30 + 1);
        assert_eq!(Reason::Retry.to_string(), "retry timer");
    }

    #[test]
    fn restored_copy_past_expire_expires_at_once() {
        let mut r = Refresher::new(Some(copy(5, T0 - 1000)), T0);
        assert_eq!(r.poll(T0), Some(Step::Expire));
        assert_eq!(r.poll(T0), Some(Step::Transfer(Reason::Startup)));
        assert_eq!(r.poll(T0), None);
        assert!(r.is_expired());
    }

    #[test]
    fn success_after_expire_unexpires() {
        let mut r = Refresher::new(Some(copy(5, T0 - 1000)), T0);
        assert_eq!(r.poll(T0), Some(Step::Expire));
        assert_eq!(r.poll(T0), Some(Step::Transfer(Reason::Startup)));
        r.on_success(T0 + 5, 9, timers());
        assert!(!r.is_expired());
        assert_eq!(r.next_wakeup(), Some(T0 + 105));
        // And it can expire again, 200 s after this success.
        assert_eq!(r.poll(T0 + 105), Some(Step::Transfer(Reason::Refresh)));
        r.on_failure(T0 + 105);
        let mut now = T0 + 105;
        loop {
            match r.poll(now) {
                Some(Step::Expire) => break,
                Some(Step::Transfer(_)) => r.on_failure(now),
                None => now = r.next_wakeup().unwrap(),
            }
        }
        assert_eq!(now, T0 + 205);
    }

    #[test]
    fn timers_are_clamped() {
        let t = Timers {
            refresh: 0,
            retry: u32::MAX,
            expire: 0,
        }
        .clamped();
        assert_eq!(
            t,
            Timers {
                refresh: 1,
                retry: MAX_RETRY,
                expire: 1 + MAX_RETRY
            }
        );
        let t = Timers {
            refresh: u32::MAX,
            retry: 10,
            expire: u32::MAX,
        }
        .clamped();
        assert_eq!((t.refresh, t.expire), (MAX_REFRESH, MAX_EXPIRE));
        let soa = Soa {
            mname: "ns.home.".parse().unwrap(),
            rname: "h.home.".parse().unwrap(),
            serial: 1,
            refresh: 3600,
            retry: 600,
            expire: 60,
            minimum: 5,
        };
        let r = Record::new(
            "home.".parse().unwrap(),
            Rtype::SOA,
            tandem_dns_wire::Class::IN,
            300,
            soa.to_rdata(),
        );
        assert_eq!(
            Timers::from_record(&r),
            Some(Timers {
                refresh: 3600,
                retry: 600,
                expire: 4200
            })
        );
        // A restored copy's timers are clamped too.
        let mut c = copy(1, T0);
        c.timers.refresh = 0;
        let r = Refresher::new(Some(c), T0);
        assert_eq!(r.copy().unwrap().timers.refresh, 1);
    }
}
