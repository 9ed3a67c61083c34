//! Any bytes as an upstream's answer to the resolver's query: the checks
//! must not panic, and whatever they accept must become a template whose
//! rendering, at any client size limit and age, parses and fits, and that
//! the cache takes and serves back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem_dns_wire::{Class, Edns, Message, Name, Question, Rtype};
use tandem_resolver::answer::{check_response, Reply, Template, TtlLimits};
use tandem_resolver::{Cache, CacheConfig, Key, Lookup};

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    // The first byte picks the question; the rest is the answer, whose
    // own ID is taken as ours so the checks go past the ID test.
    let (sel, answer) = (data[0], &data[1..]);
    let name: Name = ["www.example.", "example.", "a.b.c.example."][sel as usize % 3]
        .parse()
        .unwrap();
    let qtype = [Rtype::A, Rtype::AAAA, Rtype::MX, Rtype::ANY, Rtype::CNAME][(sel as usize / 3) % 5];
    let key = Key {
        name: name.clone(),
        qtype,
        qclass: Class::IN,
        dnssec_ok: sel & 0x80 != 0,
        checking_disabled: false,
    };
    let id = u16::from_be_bytes([answer[0], answer[1]]);
    let Ok(msg) = check_response(&key, id, answer) else {
        return;
    };
    let limits = TtlLimits::default();
    let Some(t) = Template::new(&key, &msg, &limits) else {
        return;
    };
    assert!(t.ttl <= limits.max_ttl);
    let q = Question {
        name,
        qtype,
        qclass: Class::IN,
    };
    let edns = Edns::new(1232);
    for (limit, with_edns) in [(512, false), (1232, true), (65_535, true)] {
        let reply = Reply {
            id: 9,
            rd: true,
            cd: false,
            question: &q,
            edns: with_edns.then_some(&edns),
            limit,
        };
        for age in [0, 1, u32::MAX] {
            let out = t.render(&reply, age, None);
            let parsed = Message::parse(&out).expect("a rendered answer parses");
            assert!(out.len() <= limit || parsed.header.tc);
        }
    }
    let mut cache = Cache::new(CacheConfig::default());
    let reply = Reply {
        id: 1,
        rd: true,
        cd: false,
        question: &q,
        edns: None,
        limit: 512,
    };
    if cache.insert(key.clone(), t, 0) {
        assert!(matches!(cache.lookup(&key, &reply, 0), Lookup::Fresh { .. }));
    }
});
