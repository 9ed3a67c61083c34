//! A per-worker cache of finished UDP responses, so the common query —
//! the same name asked again while the zone has not changed — costs a hash
//! lookup and a copy instead of a parse, a lookup and a render.
//!
//! Only plain queries are cached: opcode QUERY, one question written
//! without compression, no records but an OPT without options, no TSIG.
//! The key is the question exactly as received (case included, because
//! the answer repeats it) plus what shapes the response (EDNS present,
//! the DO bit and the size limit). A cached response is only reused with
//! the same catalog snapshot it was made from, and only for zones anyone
//! may query (so the source address cannot matter).

use std::collections::HashMap;
use std::sync::Arc;

use tandem_dns_wire::message::HEADER_LEN;
use tandem_dns_wire::Name;

use crate::catalog::Catalog;
use crate::query::{handle, Outcome, Settings, Source, Transport};

/// Entries kept before the cache starts over.
const MAX_ENTRIES: usize = 16_384;

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
        // no options, and nothing after it.
        let opt = bytes.get(qend..)?;
        if opt.len() != 11 || opt[0] != 0 || opt[1..3] != [0, 41] || opt[9..11] != [0, 0] {
            return None;
        }
        if opt[5] != 0 || opt[6] != 0 {
            return None; // extended rcode or version: the full path answers
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

/// One worker's cache.
#[derive(Default)]
pub struct UdpCache {
    catalog: Option<Arc<Catalog>>,
    map: HashMap<Box<[u8]>, Box<[u8]>>,
    hits: u64,
    misses: u64,
}

impl UdpCache {
    pub fn new() -> UdpCache {
        UdpCache::default()
    }

    /// (hits, misses) so far.
    pub fn stats(&self) -> (u64, u64) {
        (self.hits, self.misses)
    }

    /// Answers a UDP request, from the cache when it can.
    pub fn handle(
        &mut self,
        catalog: &Arc<Catalog>,
        settings: &Settings,
        bytes: &[u8],
        source: Source,
        now: u64,
    ) -> Outcome {
        debug_assert_eq!(source.transport, Transport::Udp);
        let Some(q) = plain(bytes) else {
            return handle(catalog, settings, bytes, source, now);
        };
        if !self
            .catalog
            .as_ref()
            .is_some_and(|c| Arc::ptr_eq(c, catalog))
        {
            self.map.clear();
            self.catalog = Some(catalog.clone());
        }
        let limit = match q.edns {
            Some((size, _)) => size.clamp(512, settings.max_udp_payload.max(512)),
            None => 0,
        };
        let mut key = Vec::with_capacity(q.question.len() + 4);
        key.extend_from_slice(q.question);
        key.push(q.edns.is_some() as u8);
        key.push(q.edns.is_some_and(|(_, d)| d) as u8);
        key.extend_from_slice(&limit.to_be_bytes());
        if let Some(cached) = self.map.get(key.as_slice()) {
            self.hits += 1;
            let mut out = cached.to_vec();
            out[0] = bytes[0];
            out[1] = bytes[1];
            // RD and CD are copied from each query.
            out[2] = (out[2] & !0x01) | (bytes[2] & 0x01);
            out[3] = (out[3] & !0x10) | (bytes[3] & 0x10);
            return Outcome::Reply(out);
        }
        self.misses += 1;
        let outcome = handle(catalog, settings, bytes, source, now);
        if let Outcome::Reply(out) = &outcome {
            if cacheable(catalog, settings, q.question) {
                if self.map.len() >= MAX_ENTRIES {
                    self.map.clear();
                }
                self.map
                    .insert(key.into_boxed_slice(), out.clone().into_boxed_slice());
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

    fn catalog(allow_any: bool) -> Arc<Catalog> {
        let origin: Name = "home.".parse().unwrap();
        let text = "$TTL 300\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n";
        let zone = tandem_zone::file::zone_from_str(&origin, text).unwrap();
        let mut policy = ZonePolicy::default();
        if !allow_any {
            policy.allow_query = crate::Acl(vec!["127.0.0.1".parse().unwrap()]);
        }
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
        let mut cache = UdpCache::new();
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
        let mut cache = UdpCache::new();
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
}
