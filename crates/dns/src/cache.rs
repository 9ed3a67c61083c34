//! A cache of finished UDP responses shared by the UDP workers, so the
//! common query (the same name asked again while the zone has not changed)
//! costs a hash lookup and a copy instead of a parse, a lookup and a render.
//!
//! Only plain queries are cached: opcode QUERY, one question written
//! without compression, no records but an OPT without options (a COOKIE
//! aside), no TSIG.
//! The key is the question exactly as received (case included, because
//! the answer repeats it) plus what shapes the response (EDNS present,
//! the DO bit and the size limit). A cached response is only reused with
//! the same catalog snapshot it was made from, and only for zones anyone
//! may query (so the source address cannot matter).
//!
//! Memory is bounded in bytes, not entries. Entries live packed in one
//! byte arena per shard (no allocation per entry), and a response is kept
//! without its question, which the query supplies again on a hit. A full
//! shard starts over; with [`SHARDS`] shards that drops a sixteenth of the
//! cache at a time.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::{Arc, Mutex};

use tandem_dns_wire::message::HEADER_LEN;
use tandem_dns_wire::Name;

use crate::catalog::Catalog;
use crate::query::{handle, Outcome, Settings, Source, Transport};

/// Bytes of entries (keys and responses) kept across all shards.
pub const CACHE_BYTES: usize = 3 << 19;
/// Independent locks: two workers rarely want the same one.
pub const SHARDS: usize = 16;

/// The parts of a query the fast path understood.
struct Plain<'a> {
    /// Question name, type and class, as received.
    question: &'a [u8],
    /// EDNS: (payload size, DO bit), if an OPT record was present.
    edns: Option<(u16, bool)>,
}

/// Recognises a plain query without allocating; `None` sends the query
/// down the full path.
fn plain(bytes: &[u8]) -> Option<Plain<'_>> {
    if bytes.len() < HEADER_LEN + 5 {
        return None;
    }
    // QR=0, opcode QUERY, TC=0; counts 1/0/0/(0|1).
    if bytes[2] & 0xfa != 0 || bytes[4..10] != [0, 1, 0, 0, 0, 0] || bytes[10] != 0 || bytes[11] > 1
    {
        return None;
    }
    let mut pos = HEADER_LEN;
    loop {
        let len = *bytes.get(pos)? as usize;
        if len == 0 {
            pos += 1;
            break;
        }
        if len > 63 {
            return None;
        }
        pos += 1 + len;
    }
    let qend = pos + 4;
    if qend > bytes.len() || qend - HEADER_LEN > 255 + 4 {
        return None;
    }
    let question = &bytes[HEADER_LEN..qend];
    let edns = if bytes[11] == 1 {
        // Root owner, type OPT, class = size, TTL = ext-rcode/version/flags,
        // no options but COOKIE, and nothing after it.
        let opt = bytes.get(qend..)?;
        if opt.len() < 11 || opt[0] != 0 || opt[1..3] != [0, 41] {
            return None;
        }
        if opt[5] != 0 || opt[6] != 0 {
            return None; // extended rcode or version: the full path answers
        }
        let rdlen = u16::from_be_bytes([opt[9], opt[10]]) as usize;
        if opt.len() != 11 + rdlen || !only_cookies(&opt[11..]) {
            return None;
        }
        Some((u16::from_be_bytes([opt[3], opt[4]]), opt[7] & 0x80 != 0))
    } else {
        if qend != bytes.len() {
            return None;
        }
        None
    };
    Some(Plain { question, edns })
}

/// True if every EDNS option is a COOKIE (RFC 7873). tandem does not
/// implement server cookies and ignores the option, as the RFC lets a
/// server do, so the answer does not depend on it: dig and BIND send one
/// with every query. (A server-cookie implementation must change this.)
fn only_cookies(mut options: &[u8]) -> bool {
    const COOKIE: u16 = 10;
    while !options.is_empty() {
        if options.len() < 4 {
            return false;
        }
        let code = u16::from_be_bytes([options[0], options[1]]);
        let len = u16::from_be_bytes([options[2], options[3]]) as usize;
        if code != COOKIE || options.len() < 4 + len {
            return false;
        }
        options = &options[4 + len..];
    }
    true
}

/// The index's keys are a keyed hash of the entry's key already; hashing
/// them again would only cost time.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u32 keys reach here; a fold keeps anything else correct.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = n.into();
    }
}

/// One shard: entries packed as `key length (u8), value length (u16),
/// key, value`, where the value is the response's header and everything
/// after its question.
#[derive(Default)]
struct Shard {
    catalog: Option<Arc<Catalog>>,
    /// 32 bits of the key's keyed hash → offset of its entry in `arena`
    /// (8 bytes a slot). A collision replaces the older entry; a lookup
    /// compares the whole key.
    index: HashMap<u32, u32, BuildHasherDefault<Prehashed>>,
    arena: Vec<u8>,
}

impl Shard {
    fn reset(&mut self) {
        self.index.clear();
        self.arena.clear();
    }

    fn get(&self, hash: u32, key: &[u8]) -> Option<(&[u8], &[u8])> {
        let at = *self.index.get(&hash)? as usize;
        let klen = self.arena[at] as usize;
        let vlen = u16::from_le_bytes([self.arena[at + 1], self.arena[at + 2]]) as usize;
        let k = &self.arena[at + 3..at + 3 + klen];
        let v = &self.arena[at + 3 + klen..at + 3 + klen + vlen];
        (k == key).then(|| v.split_at(HEADER_LEN))
    }

    fn put(&mut self, hash: u32, key: &[u8], header: &[u8], rest: &[u8], budget: usize) {
        let need = 3 + key.len() + header.len() + rest.len();
        if need > budget {
            return; // larger than the whole shard: never cached
        }
        if self.arena.capacity() == 0 {
            // Once, at full size: growing by doubling would leave the
            // smaller buffers behind as free heap the process still holds.
            self.arena.reserve_exact(budget);
            self.index.reserve(budget / 64);
        }
        if self.arena.len() + need > budget {
            self.reset();
        }
        let at = self.arena.len() as u32;
        self.arena.push(key.len() as u8);
        let vlen = (header.len() + rest.len()) as u16;
        self.arena.extend_from_slice(&vlen.to_le_bytes());
        self.arena.extend_from_slice(key);
        self.arena.extend_from_slice(header);
        self.arena.extend_from_slice(rest);
        self.index.insert(hash, at);
    }
}

/// The UDP response cache, shared by every worker (`&self` throughout).
pub struct UdpCache {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    budget: usize,
    hits: std::sync::atomic::AtomicU64,
    misses: std::sync::atomic::AtomicU64,
}

impl Default for UdpCache {
    fn default() -> Self {
        UdpCache::with_budget(CACHE_BYTES)
    }
}

impl UdpCache {
    pub fn new() -> UdpCache {
        UdpCache::default()
    }

    /// A cache holding about `bytes` of entries.
    pub fn with_budget(bytes: usize) -> UdpCache {
        UdpCache {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
            budget: (bytes / SHARDS).max(1024),
            hits: Default::default(),
            misses: Default::default(),
        }
    }

    /// (hits, misses) so far.
    pub fn stats(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.hits.load(Relaxed), self.misses.load(Relaxed))
    }

    /// The most bytes entries may hold, across shards.
    pub fn capacity(&self) -> usize {
        self.budget * SHARDS
    }

    /// Bytes held by entries now, across shards.
    pub fn bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map_or(0, |s| s.arena.len()))
            .sum()
    }

    /// Answers a UDP request, from the cache when it can.
    pub fn handle(
        &self,
        catalog: &Arc<Catalog>,
        settings: &Settings,
        bytes: &[u8],
        source: Source,
        now: u64,
    ) -> Outcome {
        use std::sync::atomic::Ordering::Relaxed;
        debug_assert_eq!(source.transport, Transport::Udp);
        let Some(q) = plain(bytes) else {
            return handle(catalog, settings, bytes, source, now);
        };
        let limit = match q.edns {
            Some((size, _)) => size.clamp(512, settings.max_udp_payload.max(512)),
            None => 0,
        };
        let mut key = [0u8; 255 + 4 + 4];
        let klen = q.question.len() + 4;
        key[..q.question.len()].copy_from_slice(q.question);
        key[q.question.len()] = q.edns.is_some() as u8;
        key[q.question.len() + 1] = q.edns.is_some_and(|(_, d)| d) as u8;
        key[q.question.len() + 2..klen].copy_from_slice(&limit.to_be_bytes());
        let key = &key[..klen];
        let hash = self.hasher.hash_one(key);
        let shard = &self.shards[(hash >> 60) as usize % SHARDS];
        {
            // A poisoned shard (a panic while it was held) is only skipped.
            let Ok(mut sh) = shard.lock() else {
                return handle(catalog, settings, bytes, source, now);
            };
            if !sh.catalog.as_ref().is_some_and(|c| Arc::ptr_eq(c, catalog)) {
                sh.reset();
                sh.catalog = Some(catalog.clone());
            }
            if let Some((header, rest)) = sh.get(hash as u32, key) {
                self.hits.fetch_add(1, Relaxed);
                let mut out = Vec::with_capacity(HEADER_LEN + q.question.len() + rest.len());
                out.extend_from_slice(header);
                out.extend_from_slice(q.question);
                out.extend_from_slice(rest);
                out[0] = bytes[0];
                out[1] = bytes[1];
                // RD and CD are copied from each query.
                out[2] = (out[2] & !0x01) | (bytes[2] & 0x01);
                out[3] = (out[3] & !0x10) | (bytes[3] & 0x10);
                return Outcome::Reply(out);
            }
        }
        self.misses.fetch_add(1, Relaxed);
        let outcome = handle(catalog, settings, bytes, source, now);
        if let Outcome::Reply(out) = &outcome {
            let qend = HEADER_LEN + q.question.len();
            // Kept without its question only when the response repeats it
            // byte for byte (so a hit can put the query's back).
            let repeats = out.get(HEADER_LEN..qend) == Some(q.question);
            if repeats
                && klen <= 255
                && out.len() < 1 << 16
                && cacheable(catalog, settings, q.question)
            {
                if let Ok(mut sh) = shard.lock() {
                    // Another snapshot may have arrived meanwhile.
                    if sh.catalog.as_ref().is_some_and(|c| Arc::ptr_eq(c, catalog)) {
                        sh.put(
                            hash as u32,
                            key,
                            &out[..HEADER_LEN],
                            &out[qend..],
                            self.budget,
                        );
                    }
                }
            }
        }
        outcome
    }
}

/// True if the answer to this question is the same for every client.
fn cacheable(catalog: &Catalog, settings: &Settings, question: &[u8]) -> bool {
    let name_len = question.len() - 4;
    let Ok(name) = Name::from_wire(bytes::Bytes::copy_from_slice(&question[..name_len])) else {
        return false;
    };
    match catalog.find(&name) {
        Some(entry) => entry.policy.allow_query.allows_everyone(),
        // REFUSED for names outside every zone is the same for everyone,
        // unless a resolver answers them for some clients (a refusal for
        // one must not reach another).
        None => settings.recursion.is_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ZoneEntry, ZonePolicy};
    use std::net::IpAddr;

    const HOME: &str = "$TTL 300\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n";

    fn catalog(allow_any: bool) -> Arc<Catalog> {
        let mut policy = ZonePolicy::default();
        if !allow_any {
            policy.allow_query = crate::Acl(vec!["127.0.0.1".parse().unwrap()]);
        }
        catalog_of(HOME, policy)
    }

    /// A catalog of one zone `home.` with `text` as its file.
    fn catalog_of(text: &str, policy: ZonePolicy) -> Arc<Catalog> {
        let origin: Name = "home.".parse().unwrap();
        let zone = tandem_zone::file::zone_from_str(&origin, text).unwrap();
        let mut c = Catalog::new();
        c.insert(ZoneEntry {
            zone: Arc::new(zone),
            policy: Arc::new(policy),
        });
        Arc::new(c)
    }

    fn query(id: u16, name: &str, edns: bool) -> Vec<u8> {
        let mut m = vec![
            (id >> 8) as u8,
            id as u8,
            1,
            0,
            0,
            1,
            0,
            0,
            0,
            0,
            0,
            edns as u8,
        ];
        for l in name.split('.').filter(|l| !l.is_empty()) {
            m.push(l.len() as u8);
            m.extend_from_slice(l.as_bytes());
        }
        m.extend_from_slice(&[0, 0, 1, 0, 1]);
        if edns {
            m.extend_from_slice(&[0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0]);
        }
        m
    }

    fn src(addr: &str) -> Source {
        Source {
            addr: addr.parse::<IpAddr>().unwrap(),
            transport: Transport::Udp,
        }
    }

    fn reply(o: Outcome) -> Vec<u8> {
        match o {
            Outcome::Reply(b) => b,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hits_are_byte_identical_to_the_full_path_except_the_id() {
        let cat = catalog(true);
        let s = Settings::default();
        let cache = UdpCache::new();
        for edns in [false, true] {
            for name in ["ns.home", "NS.Home", "nope.home", "x.example"] {
                let first =
                    reply(cache.handle(&cat, &s, &query(1, name, edns), src("192.0.2.9"), 0));
                let q2 = query(2, name, edns);
                let second = reply(cache.handle(&cat, &s, &q2, src("192.0.2.9"), 0));
                let full = reply(handle(&cat, &s, &q2, src("192.0.2.9"), 0));
                assert_eq!(second, full, "{name} {edns}");
                assert_eq!(first[2..], full[2..]);
            }
        }
        assert_eq!(cache.stats(), (8, 8));
    }

    #[test]
    fn restricted_zones_and_new_snapshots_are_not_served_stale() {
        let s = Settings::default();
        let cache = UdpCache::new();
        let restricted = catalog(false);
        let q = query(1, "ns.home", false);
        let ok = reply(cache.handle(&restricted, &s, &q, src("127.0.0.1"), 0));
        assert_eq!(ok[3] & 0xf, 0);
        let refused = reply(cache.handle(&restricted, &s, &q, src("192.0.2.9"), 0));
        assert_eq!(
            refused[3] & 0xf,
            5,
            "the cache must not leak a restricted answer"
        );
        let open = catalog(true);
        let _ = cache.handle(&open, &s, &q, src("192.0.2.9"), 0);
        assert_eq!(cache.stats().0, 0);
    }

    #[test]
    fn memory_stays_within_the_budget_and_evictions_never_change_an_answer() {
        let cat = catalog(true);
        let s = Settings::default();
        let cache = UdpCache::with_budget(16 * 1024);
        for round in 0..3 {
            for i in 0..600 {
                let name = format!("n{i}.home");
                let q = query(round, &name, i % 2 == 0);
                let got = reply(cache.handle(&cat, &s, &q, src("192.0.2.9"), 0));
                assert_eq!(
                    got,
                    reply(handle(&cat, &s, &q, src("192.0.2.9"), 0)),
                    "{name}"
                );
                assert!(cache.bytes() <= 16 * 1024, "{} bytes", cache.bytes());
            }
        }
        let (hits, misses) = cache.stats();
        assert_eq!(hits + misses, 1800);
        assert!(misses > 600, "a cycle larger than the cache keeps missing");
        // A working set that fits is answered from the cache.
        for i in 0..20 {
            let q = query(9, &format!("n{i}.home"), false);
            let _ = cache.handle(&cat, &s, &q, src("192.0.2.9"), 0);
            let _ = cache.handle(&cat, &s, &q, src("192.0.2.9"), 0);
        }
        assert!(cache.stats().0 >= hits + 20);
    }

    /// `query` with an OPT carrying `options` (code, data) instead.
    fn query_with_options(id: u16, name: &str, options: &[(u16, &[u8])]) -> Vec<u8> {
        let mut m = query(id, name, false);
        m[11] = 1;
        let rdata: Vec<u8> = options
            .iter()
            .flat_map(|(code, data)| {
                let mut o = code.to_be_bytes().to_vec();
                o.extend_from_slice(&(data.len() as u16).to_be_bytes());
                o.extend_from_slice(data);
                o
            })
            .collect();
        m.extend_from_slice(&[0, 0, 41, 4, 0, 0, 0, 0, 0]);
        m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        m.extend_from_slice(&rdata);
        m
    }

    #[test]
    fn cookies_share_the_cached_answer_and_other_options_take_the_full_path() {
        let cat = catalog(true);
        let s = Settings::default();
        let cache = UdpCache::new();
        let cookies: [&[u8]; 3] = [b"client01", b"client02", b"client03serverco"];
        for (i, cookie) in cookies.iter().enumerate() {
            let q = query_with_options(i as u16, "ns.home", &[(10, cookie)]);
            let got = reply(cache.handle(&cat, &s, &q, src("192.0.2.9"), 0));
            assert_eq!(got, reply(handle(&cat, &s, &q, src("192.0.2.9"), 0)));
        }
        // The plain EDNS query is the same question: answered from the cache.
        let plain = query(7, "ns.home", true);
        let got = reply(cache.handle(&cat, &s, &plain, src("192.0.2.9"), 0));
        assert_eq!(got, reply(handle(&cat, &s, &plain, src("192.0.2.9"), 0)));
        assert_eq!(cache.stats(), (3, 1));
        // NSID (3) or a truncated option: never from the cache.
        for q in [
            query_with_options(8, "ns.home", &[(3, b"")]),
            query_with_options(9, "ns.home", &[(10, b"client01"), (3, b"")]),
        ] {
            let got = reply(cache.handle(&cat, &s, &q, src("192.0.2.9"), 0));
            assert_eq!(got, reply(handle(&cat, &s, &q, src("192.0.2.9"), 0)));
        }
        let mut cut = query_with_options(10, "ns.home", &[(10, b"client01")]);
        cut.truncate(cut.len() - 3);
        let _ = cache.handle(&cat, &s, &cut, src("192.0.2.9"), 0);
        assert_eq!(
            cache.stats(),
            (3, 1),
            "only plain and cookie queries are looked up"
        );
    }

    #[test]
    fn an_answer_larger_than_a_shard_is_never_cached() {
        // 68 addresses: an answer of about 1.1 KB.
        let mut text = String::from(HOME);
        for i in 1..=68 {
            text.push_str(&format!("big A 10.0.0.{i}\n"));
        }
        let cat = catalog_of(&text, ZonePolicy::default());
        let s = Settings::default();
        // 1 KiB a shard; the answer is about 1.1 KB, within the client's
        // 1,232-byte EDNS size.
        let cache = UdpCache::with_budget(16 * 1024);
        let mut q = query_with_options(1, "big.home", &[]);
        let at = q.len() - 11 + 3;
        q[at..at + 2].copy_from_slice(&1232u16.to_be_bytes());
        for _ in 0..2 {
            let got = reply(cache.handle(&cat, &s, &q, src("192.0.2.9"), 0));
            assert!(
                got.len() > 1024,
                "{} bytes, flags {:02x}{:02x}",
                got.len(),
                got[2],
                got[3]
            );
            assert_eq!(got, reply(handle(&cat, &s, &q, src("192.0.2.9"), 0)));
        }
        assert_eq!(cache.bytes(), 0);
        assert_eq!(cache.stats(), (0, 2));
    }
}
