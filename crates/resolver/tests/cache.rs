//! The cache as the shell drives it: answers, TTL arithmetic, negative
//! caching, prefetch, serve-stale, the memory bound, coalescing; plus
//! properties over random inputs.

use proptest::prelude::*;
use tandem_dns_wire::rdata::Soa;
use tandem_dns_wire::{Class, Edns, Header, Message, Name, Question, Rcode, Record, Rtype};
use tandem_resolver::answer::{build_query, check_response, Reply, Template, TtlLimits};
use tandem_resolver::{Cache, CacheConfig, Inflight, Join, Key, Lookup};

fn key(name: &str) -> Key {
    Key {
        name: name.parse().unwrap(),
        qtype: Rtype::A,
        qclass: Class::IN,
        dnssec_ok: false,
        checking_disabled: false,
    }
}

fn answer(k: &Key, ttls: &[u32]) -> Message {
    let mut m = Message {
        header: Header {
            qr: true,
            ra: true,
            rd: true,
            ..Header::default()
        },
        questions: vec![k.question()],
        ..Default::default()
    };
    for (i, ttl) in ttls.iter().enumerate() {
        m.answers.push(Record::new(
            k.name.clone(),
            Rtype::A,
            Class::IN,
            *ttl,
            vec![192, 0, 2, i as u8],
        ));
    }
    m
}

fn nxdomain(k: &Key, soa_ttl: u32, minimum: u32) -> Message {
    let mut m = answer(k, &[]);
    m.header.rcode = Rcode::NXDOMAIN;
    let soa = Soa {
        mname: "ns.example.".parse().unwrap(),
        rname: "h.example.".parse().unwrap(),
        serial: 1,
        refresh: 1,
        retry: 1,
        expire: 1,
        minimum,
    };
    m.authority.push(Record::new(
        "example.".parse().unwrap(),
        Rtype::SOA,
        Class::IN,
        soa_ttl,
        soa.to_rdata(),
    ));
    m
}

fn question(name: &str) -> Question {
    Question {
        name: name.parse().unwrap(),
        qtype: Rtype::A,
        qclass: Class::IN,
    }
}

fn reply<'a>(q: &'a Question, edns: Option<&'a Edns>) -> Reply<'a> {
    Reply {
        id: 42,
        rd: true,
        cd: false,
        question: q,
        edns,
        limit: 1232,
    }
}

fn ttls(bytes: &[u8]) -> Vec<u32> {
    let m = Message::parse(bytes).unwrap();
    m.answers
        .iter()
        .chain(&m.authority)
        .map(|r| r.ttl)
        .collect()
}

fn fresh(l: Lookup) -> (Vec<u8>, bool) {
    match l {
        Lookup::Fresh { answer, prefetch } => (answer, prefetch),
        other => panic!("expected a fresh answer, got {other:?}"),
    }
}

#[test]
fn hit_decrements_ttls_and_echoes_the_question() {
    let k = key("www.example.");
    let mut c = Cache::new(CacheConfig::default());
    let t = Template::new(&k, &answer(&k, &[300, 200]), &TtlLimits::default()).unwrap();
    assert_eq!(t.ttl, 200);
    assert!(c.insert(k.clone(), t, 1_000));
    let q = question("WWW.example.");
    let (bytes, _) = fresh(c.lookup(&k, &reply(&q, None), 1_000 + 61_500));
    assert_eq!(ttls(&bytes), vec![239, 139]);
    let m = Message::parse(&bytes).unwrap();
    assert_eq!(m.header.id, 42);
    assert_eq!(m.questions[0].name.as_wire(), q.name.as_wire());
    assert_eq!(c.stats().hits, 1);
}

#[test]
fn ttl_limits_apply() {
    let k = key("www.example.");
    let limits = TtlLimits {
        min_ttl: 60,
        max_ttl: 600,
        max_negative_ttl: 30,
    };
    let low = Template::new(&k, &answer(&k, &[5]), &limits).unwrap();
    assert_eq!(low.ttl, 60);
    let high = Template::new(&k, &answer(&k, &[86_400]), &limits).unwrap();
    assert_eq!(high.ttl, 600);
    let neg = Template::new(&k, &nxdomain(&k, 3600, 900), &limits).unwrap();
    assert_eq!(neg.ttl, 30);
}

#[test]
fn negative_answers_are_cached_with_the_soa_ttl() {
    let k = key("nx.example.");
    let mut c = Cache::new(CacheConfig::default());
    let t = Template::new(&k, &nxdomain(&k, 3600, 120), &TtlLimits::default()).unwrap();
    assert!(t.negative);
    assert!(c.insert(k.clone(), t, 0));
    let q = question("nx.example.");
    let (bytes, _) = fresh(c.lookup(&k, &reply(&q, None), 20_000));
    let m = Message::parse(&bytes).unwrap();
    assert_eq!(m.header.rcode, Rcode::NXDOMAIN);
    // The SOA carries the negative TTL (RFC 2308 §3), decremented.
    assert_eq!(ttls(&bytes), vec![100]);
    assert_eq!(c.lookup(&k, &reply(&q, None), 120_000), Lookup::Expired);
}

#[test]
fn popular_names_are_prefetched_once_near_expiry() {
    let k = key("popular.example.");
    let mut c = Cache::new(CacheConfig::default());
    let t = Template::new(&k, &answer(&k, &[100]), &TtlLimits::default()).unwrap();
    c.insert(k.clone(), t, 0);
    let q = question("popular.example.");
    let r = reply(&q, None);
    assert!(!fresh(c.lookup(&k, &r, 1_000)).1);
    assert!(!fresh(c.lookup(&k, &r, 50_000)).1, "not yet near expiry");
    assert!(
        fresh(c.lookup(&k, &r, 91_000)).1,
        "hit twice and in the last 10%"
    );
    assert!(
        !fresh(c.lookup(&k, &r, 92_000)).1,
        "only one prefetch at a time"
    );
    c.prefetch_failed(&k);
    assert!(fresh(c.lookup(&k, &r, 93_000)).1);
}

#[test]
fn stale_answers_only_after_failure_and_only_within_the_window() {
    let k = key("stale.example.");
    let cfg = CacheConfig {
        serve_stale: 3_600,
        stale_ttl: 30,
        ..CacheConfig::default()
    };
    let mut c = Cache::new(cfg);
    let t = Template::new(&k, &answer(&k, &[60]), &TtlLimits::default()).unwrap();
    c.insert(k.clone(), t, 0);
    let q = question("stale.example.");
    let r = reply(&q, None);
    // Expired: the shell must ask upstream first.
    assert_eq!(c.lookup(&k, &r, 61_000), Lookup::Expired);
    // Every upstream failed: the stale answer, with the stale TTL.
    let s = c.stale(&k, &r, 62_000).unwrap();
    assert_eq!(ttls(&s), vec![30]);
    // For the next 30 s it is served at once, without asking upstream.
    match c.lookup(&k, &r, 80_000) {
        Lookup::Stale(b) => assert_eq!(ttls(&b), vec![30]),
        other => panic!("{other:?}"),
    }
    assert_eq!(c.lookup(&k, &r, 93_000), Lookup::Expired);
    // Past the window it is gone.
    assert_eq!(c.stale(&k, &r, 3_700_000), None);
    assert_eq!(c.lookup(&k, &r, 3_700_000), Lookup::Miss);
    c.check_invariants();
}

#[test]
fn serve_stale_off_means_expired_is_gone() {
    let k = key("x.example.");
    let mut c = Cache::new(CacheConfig {
        serve_stale: 0,
        ..CacheConfig::default()
    });
    let t = Template::new(&k, &answer(&k, &[1]), &TtlLimits::default()).unwrap();
    c.insert(k.clone(), t, 0);
    let q = question("x.example.");
    assert_eq!(c.lookup(&k, &reply(&q, None), 1_000), Lookup::Miss);
}

#[test]
fn the_memory_bound_evicts_least_recently_used() {
    let mut c = Cache::new(CacheConfig {
        max_bytes: 4_000,
        ..CacheConfig::default()
    });
    let q = question("n0.example.");
    let keys: Vec<Key> = (0..50).map(|i| key(&format!("n{i}.example."))).collect();
    for (i, k) in keys.iter().enumerate() {
        let t = Template::new(k, &answer(k, &[300]), &TtlLimits::default()).unwrap();
        c.insert(k.clone(), t, 0);
        // Keep the first one in use.
        let _ = c.lookup(&keys[0], &reply(&q, None), i as u64);
        c.check_invariants();
    }
    assert!(c.bytes() <= 4_000);
    assert!(c.len() < 50 && c.len() > 5, "{}", c.len());
    assert!(matches!(
        c.lookup(&keys[0], &reply(&q, None), 100),
        Lookup::Fresh { .. }
    ));
    assert_eq!(c.lookup(&keys[1], &reply(&q, None), 100), Lookup::Miss);
    assert!(c.stats().evicted > 0);
}

#[test]
fn sweep_removes_dead_entries() {
    let mut c = Cache::new(CacheConfig {
        serve_stale: 10,
        ..CacheConfig::default()
    });
    for i in 0..20 {
        let k = key(&format!("n{i}.example."));
        let t = Template::new(&k, &answer(&k, &[5 + i]), &TtlLimits::default()).unwrap();
        c.insert(k, t, 0);
    }
    assert_eq!(c.sweep(20_000, 100), 6);
    assert_eq!(c.len(), 14);
    c.check_invariants();
}

#[test]
fn truncation_to_the_client_size() {
    let k = key("big.example.");
    let many: Vec<u32> = vec![300; 100];
    let t = Template::new(&k, &answer(&k, &many), &TtlLimits::default()).unwrap();
    let q = question("big.example.");
    let edns = Edns::new(1232);
    let small = Reply {
        limit: 512,
        ..reply(&q, Some(&edns))
    };
    let tc = Message::parse(&t.render(&small, 0, None)).unwrap();
    assert!(tc.header.tc && tc.answers.is_empty());
    assert!(tc.edns.is_some());
    let tcp = Reply {
        limit: 65_535,
        ..small
    };
    let whole = Message::parse(&t.render(&tcp, 0, None)).unwrap();
    assert_eq!(whole.answers.len(), 100);
}

#[test]
fn coalescing_gives_one_upstream_query() {
    let k = key("same.example.");
    let mut f: Inflight<u32> = Inflight::new(2, 3);
    assert_eq!(f.join(&k, Some(1)), (Join::First, None));
    assert_eq!(f.join(&k, Some(2)), (Join::Joined, None));
    assert_eq!(f.join(&k, None), (Join::Joined, None));
    assert_eq!(f.join(&k, Some(3)), (Join::Joined, None));
    assert_eq!(f.join(&k, Some(4)), (Join::Full, Some(4)));
    assert_eq!(f.join(&key("b."), None), (Join::First, None));
    assert_eq!(f.join(&key("c."), Some(9)), (Join::Full, Some(9)));
    assert_eq!(f.drain(&k), vec![1, 2, 3]);
    assert_eq!(f.join(&k, Some(5)), (Join::Joined, None));
    assert_eq!(f.finish(&k), vec![5]);
    assert_eq!(f.join(&k, Some(1)), (Join::First, None));
    assert_eq!(f.join(&k, Some(2)), (Join::Joined, None));
    assert_eq!(f.join(&k, Some(3)), (Join::Joined, None));
    assert_eq!(f.finish(&k), vec![1, 2, 3]);
    assert!(f.finish(&k).is_empty());
}

#[test]
fn our_query_and_its_answer_round_trip() {
    let k = Key {
        dnssec_ok: true,
        checking_disabled: true,
        ..key("www.example.")
    };
    let q = Message::parse(&build_query(77, &k, 1232)).unwrap();
    assert!(q.header.rd && q.header.cd && !q.header.qr);
    assert!(q.edns.as_ref().unwrap().dnssec_ok);
    let mut a = answer(&k, &[60]);
    a.header.id = 77;
    assert!(check_response(&k, 77, &a.to_wire()).is_ok());
}

fn arb_name() -> impl Strategy<Value = Name> {
    proptest::collection::vec("[a-z0-9]{1,8}", 1..4)
        .prop_map(|l| Name::from_labels(l.iter().map(|s| s.as_bytes())).unwrap())
}

proptest! {
    /// Served TTLs: each record's TTL after the limits, minus the whole
    /// seconds elapsed, never negative, never above the limits; the entry
    /// is fresh exactly while the least of them is above zero.
    #[test]
    fn ttl_arithmetic(
        raw in proptest::collection::vec(0u32..200_000, 1..6),
        min_ttl in 0u32..100,
        max_ttl in 100u32..100_000,
        elapsed_ms in 0u64..300_000_000,
    ) {
        let k = key("p.example.");
        let limits = TtlLimits { min_ttl, max_ttl, max_negative_ttl: 3600 };
        let t = Template::new(&k, &answer(&k, &raw), &limits).unwrap();
        let clamped: Vec<u32> = raw.iter().map(|t| (*t).clamp(min_ttl, max_ttl)).collect();
        prop_assert_eq!(t.ttl, *clamped.iter().min().unwrap());
        let mut c = Cache::new(CacheConfig { serve_stale: 0, ..CacheConfig::default() });
        let cached = c.insert(k.clone(), t, 5);
        prop_assert_eq!(cached, clamped.iter().all(|t| *t > 0));
        let q = question("p.example.");
        let age = (elapsed_ms / 1000) as u32;
        match c.lookup(&k, &reply(&q, None), 5 + elapsed_ms) {
            Lookup::Fresh { answer, .. } => {
                prop_assert!(age < *clamped.iter().min().unwrap());
                let mut got = ttls(&answer);
                let mut want: Vec<u32> = clamped.iter().map(|t| t - age).collect();
                got.sort_unstable();
                want.sort_unstable();
                prop_assert_eq!(got, want);
            }
            Lookup::Miss => prop_assert!(!cached || age >= *clamped.iter().min().unwrap()),
            other => prop_assert!(false, "unexpected {:?}", other),
        }
    }

    /// Whatever is inserted and looked up, the cache stays within its
    /// memory bound and its links stay consistent.
    #[test]
    fn bound_respected(
        ops in proptest::collection::vec((arb_name(), 1usize..40, 0u32..1000, any::<bool>()), 1..120),
        max_bytes in 500usize..20_000,
    ) {
        let mut c = Cache::new(CacheConfig { max_bytes, serve_stale: 60, ..CacheConfig::default() });
        let q = question("a.example.");
        for (now, (name, n, ttl, look)) in ops.into_iter().enumerate() {
            let now = now as u64 * 1000;
            let k = Key { name, ..key("a.") };
            if look {
                let r = Reply { question: &q, ..reply(&q, None) };
                let _ = c.lookup(&k, &r, now);
                let _ = c.stale(&k, &r, now);
            } else {
                let t = Template::new(&k, &answer(&k, &vec![ttl; n]), &TtlLimits::default()).unwrap();
                c.insert(k, t, now);
            }
            prop_assert!(c.bytes() <= max_bytes);
            c.check_invariants();
        }
        c.sweep(u64::MAX / 2, usize::MAX);
        prop_assert!(c.is_empty());
    }

    /// Upstream bytes never panic the checks, and whatever passes them
    /// renders into a message that parses.
    #[test]
    fn upstream_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400), id in any::<u16>()) {
        let k = key("www.example.");
        if let Ok(m) = check_response(&k, id, &bytes) {
            if let Some(t) = Template::new(&k, &m, &TtlLimits::default()) {
                let q = question("www.example.");
                let out = t.render(&reply(&q, None), 3, None);
                prop_assert!(Message::parse(&out).is_ok());
            }
        }
    }
}
