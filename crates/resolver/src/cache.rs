//! The answer cache: positive and negative answers (RFC 2308) under TTL
//! limits, a memory bound enforced by evicting the least recently used
//! entry, prefetch of popular entries near expiry, and serve-stale
//! (RFC 8767).
//!
//! An entry is *fresh* while its age is below its TTL, then *stale* for
//! `serve_stale` seconds more, then dead. A stale entry is only served
//! when refreshing it failed: the shell asks upstream first and calls
//! [`Cache::stale`] when every upstream failed. After such a failure the
//! entry is served stale at once, without asking upstream again, for
//! `stale_ttl` seconds (RFC 8767's "failure recheck timer"), so a dead
//! link costs one timeout per name and not one per query.

use std::collections::HashMap;

use crate::answer::{Reply, Template, TtlLimits};
use crate::{Key, Millis};

/// What the cache is allowed to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheConfig {
    /// Bytes of answers (and their bookkeeping) kept at most.
    pub max_bytes: usize,
    pub limits: TtlLimits,
    /// Seconds past expiry an answer may still be served when every
    /// upstream fails; 0 turns serve-stale off.
    pub serve_stale: u32,
    /// TTL given to stale answers (RFC 8767 §4 suggests 30 s).
    pub stale_ttl: u32,
    /// Refresh popular entries before they expire.
    pub prefetch: bool,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            max_bytes: 32 << 20,
            limits: TtlLimits::default(),
            serve_stale: 86_400,
            stale_ttl: 30,
            prefetch: true,
        }
    }
}

/// Fixed bookkeeping cost charged per entry on top of its template and
/// key (map slot, slab slot, name buffer header).
const ENTRY_OVERHEAD: usize = 160;

/// Entries younger than this many seconds before expiry, out of this
/// fraction of their TTL, are prefetched when asked for again.
const PREFETCH_MIN_TTL: u32 = 10;

/// The result of a lookup.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    /// A fresh answer. `prefetch`: the entry is popular and close to
    /// expiry; refresh it in the background (the flag is set once).
    Fresh {
        answer: Vec<u8>,
        prefetch: bool,
    },
    /// An expired answer served because refreshing it failed recently.
    Stale(Vec<u8>),
    /// Expired but within the serve-stale window: ask upstream, and call
    /// [`Cache::stale`] if that fails.
    Expired,
    Miss,
}

#[derive(Debug)]
struct Entry {
    template: Template,
    stored: Millis,
    /// Hits since stored.
    hits: u32,
    prefetching: bool,
    /// When refreshing this (expired) entry last failed.
    failed_at: Option<Millis>,
    size: usize,
}

const NIL: u32 = u32::MAX;

#[derive(Debug)]
struct Slot {
    key: Option<Key>,
    entry: Option<Entry>,
    prev: u32,
    next: u32,
}

/// Counters for `tandem status` and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub hits: u64,
    pub misses: u64,
    pub stale_served: u64,
    pub inserted: u64,
    pub evicted: u64,
}

/// The cache; see the module documentation. Not thread-safe: the shell
/// shards it behind locks.
#[derive(Debug)]
pub struct Cache {
    cfg: CacheConfig,
    map: HashMap<Key, u32>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// Most recently used.
    head: u32,
    /// Least recently used: evicted first.
    tail: u32,
    bytes: usize,
    stats: Stats,
}

enum State {
    Fresh { remaining: u32 },
    Stale,
    Dead,
}

impl Cache {
    pub fn new(cfg: CacheConfig) -> Cache {
        Cache {
            cfg,
            map: HashMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            bytes: 0,
            stats: Stats::default(),
        }
    }

    pub fn config(&self) -> &CacheConfig {
        &self.cfg
    }

    /// Bytes charged to the entries held now; never above `max_bytes`.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    fn age(stored: Millis, now: Millis) -> u32 {
        (now.saturating_sub(stored) / 1000).min(u32::MAX as u64) as u32
    }

    fn state(&self, e: &Entry, now: Millis) -> State {
        let age = Self::age(e.stored, now);
        let ttl = e.template.ttl;
        if age < ttl {
            State::Fresh {
                remaining: ttl - age,
            }
        } else if (age as u64) < ttl as u64 + self.cfg.serve_stale as u64 {
            State::Stale
        } else {
            State::Dead
        }
    }

    /// Looks `key` up at `now` and renders the answer for `reply`.
    pub fn lookup(&mut self, key: &Key, reply: &Reply<'_>, now: Millis) -> Lookup {
        let Some(&idx) = self.map.get(key) else {
            self.stats.misses += 1;
            return Lookup::Miss;
        };
        let entry = self.slots[idx as usize]
            .entry
            .as_ref()
            .expect("mapped slot");
        match self.state(entry, now) {
            State::Dead => {
                self.remove(idx);
                self.stats.misses += 1;
                Lookup::Miss
            }
            State::Stale => {
                let recheck = entry
                    .failed_at
                    .is_some_and(|t| now.saturating_sub(t) < self.cfg.stale_ttl as u64 * 1000);
                if recheck {
                    let answer = entry.template.render(reply, 0, Some(self.cfg.stale_ttl));
                    self.stats.stale_served += 1;
                    self.touch(idx);
                    Lookup::Stale(answer)
                } else {
                    self.stats.misses += 1;
                    Lookup::Expired
                }
            }
            State::Fresh { remaining } => {
                let age = Self::age(entry.stored, now);
                let answer = entry.template.render(reply, age, None);
                let ttl = entry.template.ttl;
                let entry = self.slots[idx as usize]
                    .entry
                    .as_mut()
                    .expect("mapped slot");
                entry.hits = entry.hits.saturating_add(1);
                let prefetch = self.cfg.prefetch
                    && !entry.prefetching
                    && entry.hits >= 2
                    && ttl >= PREFETCH_MIN_TTL
                    && remaining.saturating_mul(10) <= ttl;
                if prefetch {
                    entry.prefetching = true;
                }
                self.stats.hits += 1;
                self.touch(idx);
                Lookup::Fresh { answer, prefetch }
            }
        }
    }

    /// The stale answer for `key`, if it has one within the serve-stale
    /// window, after every upstream failed. Marks the entry so the next
    /// `stale_ttl` seconds of queries are answered stale at once.
    pub fn stale(&mut self, key: &Key, reply: &Reply<'_>, now: Millis) -> Option<Vec<u8>> {
        let &idx = self.map.get(key)?;
        let entry = self.slots[idx as usize]
            .entry
            .as_ref()
            .expect("mapped slot");
        if self.cfg.serve_stale == 0 {
            return None;
        }
        match self.state(entry, now) {
            State::Dead => {
                self.remove(idx);
                None
            }
            // A fresh entry (refreshed by another query meanwhile) is
            // better than stale.
            State::Fresh { .. } => {
                let age = Self::age(entry.stored, now);
                Some(entry.template.render(reply, age, None))
            }
            State::Stale => {
                let answer = entry.template.render(reply, 0, Some(self.cfg.stale_ttl));
                let entry = self.slots[idx as usize]
                    .entry
                    .as_mut()
                    .expect("mapped slot");
                entry.failed_at = Some(now);
                entry.prefetching = false;
                self.stats.stale_served += 1;
                self.touch(idx);
                Some(answer)
            }
        }
    }

    /// Stores an answer. Returns false if it is not cacheable (TTL 0, or
    /// larger than the whole cache).
    pub fn insert(&mut self, key: Key, template: Template, now: Millis) -> bool {
        if template.ttl == 0 {
            // Keep a stale copy rather than forget it, but do not refresh
            // it with an uncacheable answer.
            return false;
        }
        let size = template.size() + key.name.wire_len() + ENTRY_OVERHEAD;
        if size > self.cfg.max_bytes {
            return false;
        }
        if let Some(&idx) = self.map.get(&key) {
            self.remove(idx);
        }
        while self.bytes + size > self.cfg.max_bytes && self.tail != NIL {
            self.remove(self.tail);
            self.stats.evicted += 1;
        }
        let entry = Entry {
            template,
            stored: now,
            hits: 0,
            prefetching: false,
            failed_at: None,
            size,
        };
        let idx = match self.free.pop() {
            Some(i) => {
                let s = &mut self.slots[i as usize];
                s.key = Some(key.clone());
                s.entry = Some(entry);
                i
            }
            None => {
                self.slots.push(Slot {
                    key: Some(key.clone()),
                    entry: Some(entry),
                    prev: NIL,
                    next: NIL,
                });
                (self.slots.len() - 1) as u32
            }
        };
        self.link_front(idx);
        self.map.insert(key, idx);
        self.bytes += size;
        self.stats.inserted += 1;
        true
    }

    /// Clears the prefetch mark after a failed prefetch, so a later hit
    /// may try again.
    pub fn prefetch_failed(&mut self, key: &Key) {
        if let Some(&idx) = self.map.get(key) {
            if let Some(e) = self.slots[idx as usize].entry.as_mut() {
                e.prefetching = false;
            }
        }
    }

    /// Removes up to `budget` dead entries, oldest use first; returns how
    /// many it removed. The shell calls it from a timer.
    pub fn sweep(&mut self, now: Millis, budget: usize) -> usize {
        let mut removed = 0;
        let mut cur = self.tail;
        let mut looked = 0;
        while cur != NIL && looked < budget {
            let prev = self.slots[cur as usize].prev;
            let dead = self.slots[cur as usize]
                .entry
                .as_ref()
                .is_some_and(|e| matches!(self.state(e, now), State::Dead));
            if dead {
                self.remove(cur);
                removed += 1;
            }
            looked += 1;
            cur = prev;
        }
        removed
    }

    fn remove(&mut self, idx: u32) {
        self.unlink(idx);
        let slot = &mut self.slots[idx as usize];
        if let Some(k) = slot.key.take() {
            self.map.remove(&k);
        }
        if let Some(e) = slot.entry.take() {
            self.bytes -= e.size;
        }
        self.free.push(idx);
    }

    fn touch(&mut self, idx: u32) {
        if self.head != idx {
            self.unlink(idx);
            self.link_front(idx);
        }
    }

    fn unlink(&mut self, idx: u32) {
        let (prev, next) = {
            let s = &self.slots[idx as usize];
            (s.prev, s.next)
        };
        if prev != NIL {
            self.slots[prev as usize].next = next;
        } else if self.head == idx {
            self.head = next;
        }
        if next != NIL {
            self.slots[next as usize].prev = prev;
        } else if self.tail == idx {
            self.tail = prev;
        }
        let s = &mut self.slots[idx as usize];
        s.prev = NIL;
        s.next = NIL;
    }

    fn link_front(&mut self, idx: u32) {
        let old = self.head;
        {
            let s = &mut self.slots[idx as usize];
            s.prev = NIL;
            s.next = old;
        }
        if old != NIL {
            self.slots[old as usize].prev = idx;
        }
        self.head = idx;
        if self.tail == NIL {
            self.tail = idx;
        }
    }

    /// Checks the internal links (tests).
    #[doc(hidden)]
    pub fn check_invariants(&self) {
        let mut n = 0;
        let mut bytes = 0;
        let mut cur = self.head;
        let mut prev = NIL;
        while cur != NIL {
            let s = &self.slots[cur as usize];
            assert_eq!(s.prev, prev);
            let k = s.key.as_ref().expect("linked slot has a key");
            assert_eq!(self.map.get(k), Some(&cur));
            bytes += s.entry.as_ref().expect("linked slot has an entry").size;
            n += 1;
            assert!(n <= self.map.len());
            prev = cur;
            cur = s.next;
        }
        assert_eq!(prev, self.tail);
        assert_eq!(n, self.map.len());
        assert_eq!(bytes, self.bytes);
        assert!(self.bytes <= self.cfg.max_bytes);
    }
}
