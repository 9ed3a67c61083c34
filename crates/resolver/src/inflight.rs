//! Coalescing: while one upstream query for a key is out, later identical
//! queries wait for its answer instead of sending their own.

use std::collections::HashMap;

use crate::Key;

/// What [`Inflight::join`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Join {
    /// Nobody was asking: the caller sends the upstream query.
    First,
    /// Already asked: the waiter gets the same answer.
    Joined,
    /// Too many queries (or waiters for this one) outstanding: answer
    /// SERVFAIL (or drop) instead.
    Full,
}

/// The outstanding upstream queries and who waits for each.
#[derive(Debug)]
pub struct Inflight<W> {
    map: HashMap<Key, Vec<W>>,
    max_keys: usize,
    max_waiters: usize,
}

impl<W> Inflight<W> {
    /// At most `max_keys` distinct questions out at once, each with at
    /// most `max_waiters` clients waiting.
    pub fn new(max_keys: usize, max_waiters: usize) -> Inflight<W> {
        Inflight {
            map: HashMap::new(),
            max_keys,
            max_waiters,
        }
    }

    /// Registers `waiter` (none for a prefetch) for `key`. On
    /// [`Join::Full`] the waiter comes back, to be answered otherwise.
    pub fn join(&mut self, key: &Key, waiter: Option<W>) -> (Join, Option<W>) {
        if let Some(list) = self.map.get_mut(key) {
            if let Some(w) = waiter {
                if list.len() >= self.max_waiters {
                    return (Join::Full, Some(w));
                }
                list.push(w);
            }
            return (Join::Joined, None);
        }
        if self.map.len() >= self.max_keys {
            return (Join::Full, waiter);
        }
        self.map.insert(key.clone(), waiter.into_iter().collect());
        (Join::First, None)
    }

    /// The upstream query for `key` is over: everyone who waited.
    pub fn finish(&mut self, key: &Key) -> Vec<W> {
        self.map.remove(key).unwrap_or_default()
    }

    /// Takes the waiters of `key` (to answer them stale, RFC 8767's
    /// client response timer) while its upstream query goes on; later
    /// identical questions still join it.
    pub fn drain(&mut self, key: &Key) -> Vec<W> {
        self.map
            .get_mut(key)
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Distinct questions outstanding.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
