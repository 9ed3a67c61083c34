//! Answers from tandem compared with BIND 9 serving the same zone files,
//! as dig shows them: status, AA, and every section.

mod common;

use common::{Tandem, EXAMPLES};
use std::path::Path;
use tandem_testkit::dns::{dig, DigResult, Named};
use tandem_testkit::peers_present;

/// (name, type) pairs covering each answer kind the issue names.
const CORPUS: &[(&str, &str)] = &[
    ("home", "SOA"),
    ("home", "NS"),
    ("home", "MX"),
    ("home", "TXT"),
    ("home", "CAA"),
    ("nas.home", "A"),
    ("nas.home", "AAAA"),
    ("nas.home", "SSHFP"),
    ("NaS.HoMe", "A"),   // case-insensitive, case-preserving
    ("www.home", "A"),   // CNAME → A inside the zone
    ("media.home", "A"), // CNAME chain of two
    ("www.home", "CNAME"),
    ("nas.home", "MX"),             // NODATA
    ("nothere.home", "A"),          // NXDOMAIN
    ("deeper.nothere.home", "TXT"), // NXDOMAIN below nothing
    ("x.lab.home", "A"),            // wildcard
    ("a.b.lab.home", "A"),          // wildcard, several labels
    ("x.lab.home", "MX"),           // wildcard NODATA
    ("lab.home", "A"),              // empty non-terminal: NODATA
    ("dev.home", "A"),              // referral with glue
    ("host.dev.home", "A"),         // referral below the cut
    ("ns.dev.home", "A"),           // glue name itself: referral
    ("_ipp._tcp.home", "SRV"),      // SRV with additional target address
    ("_tcp.home", "SRV"),           // empty non-terminal
    ("printer.home", "A"),          // TTL of its own
    ("10.0.168.192.in-addr.arpa", "PTR"),
    ("99.0.168.192.in-addr.arpa", "PTR"),
    ("0.168.192.in-addr.arpa", "NS"),
    ("example.com", "A"), // not ours: REFUSED
];

/// Status, AA and every section must be what BIND says.
fn assert_same(ours: &DigResult, theirs: &DigResult, what: &str) {
    let both = format!("tandem:\n{}\nBIND:\n{}", ours.raw, theirs.raw);
    assert_eq!(ours.status, theirs.status, "status for {what}:\n{both}");
    assert_eq!(
        ours.has_flag("aa"),
        theirs.has_flag("aa"),
        "AA for {what}:\n{both}"
    );
    assert_eq!(ours.answer, theirs.answer, "answer for {what}:\n{both}");
    assert_eq!(
        ours.authority, theirs.authority,
        "authority for {what}:\n{both}"
    );
    assert_eq!(
        ours.additional, theirs.additional,
        "additional for {what}:\n{both}"
    );
}

#[test]
fn answers_match_bind_over_udp_and_tcp() {
    if !peers_present(&["dig", "named"]) {
        return;
    }
    let tandem = Tandem::start_example();
    let named = Named::start(
        &[
            ("home", &Path::new(EXAMPLES).join("zones/home.zone")),
            (
                "0.168.192.in-addr.arpa",
                &Path::new(EXAMPLES).join("zones/db.0.168.192.in-addr.arpa"),
            ),
        ],
        "minimal-responses no-auth;",
    );
    let mut compared = 0;
    for transport in ["+notcp", "+tcp"] {
        for (name, rtype) in CORPUS {
            let ours = tandem.dig(&[transport, name, rtype]);
            let theirs = dig("127.0.0.1", named.port, &[transport, name, rtype]);
            assert!(
                !theirs.status.is_empty(),
                "named gave no answer:\n{}",
                theirs.raw
            );
            assert_same(&ours, &theirs, &format!("{name} {rtype} {transport}"));
            compared += 1;
        }
    }
    assert_eq!(compared, CORPUS.len() * 2);
}

#[test]
fn any_is_minimal_over_udp_and_full_over_tcp() {
    if !peers_present(&["dig"]) {
        return;
    }
    let t = Tandem::start_example();
    let udp = t.dig(&["+notcp", "nas.home", "ANY"]);
    assert_eq!(udp.status, "NOERROR");
    // RFC 8482 §4.2: one RRset is enough.
    let types: std::collections::BTreeSet<String> = udp
        .answer
        .iter()
        .map(|l| l.split_whitespace().nth(3).unwrap().to_string())
        .collect();
    assert_eq!(types.len(), 1, "{}", udp.raw);
    let tcp = t.dig(&["+tcp", "nas.home", "ANY"]);
    assert_eq!(tcp.answer_data("A"), vec!["192.168.0.10"]);
    assert_eq!(tcp.answer_data("AAAA"), vec!["fd00::10"]);
    assert_eq!(tcp.answer.len(), 3, "{}", tcp.raw);
}

#[test]
fn kdig_gets_the_same_answer() {
    if !peers_present(&["kdig"]) {
        return;
    }
    let t = Tandem::start_example();
    for proto in ["+notcp", "+tcp"] {
        let mut c = std::process::Command::new("kdig");
        c.args([
            "@127.0.0.1",
            "-p",
            &t.port.to_string(),
            proto,
            "+norec",
            "+short",
            "www.home",
            "A",
        ]);
        let (ok, out, err) = tandem_testkit::run(&mut c);
        assert!(ok, "{err}");
        assert_eq!(
            out.lines().collect::<Vec<_>>(),
            vec!["nas.home.", "192.168.0.10"],
            "{proto}"
        );
    }
}

/// A zone file using every syntax feature and record type the issue names
/// ($ORIGIN, $TTL, $INCLUDE, parentheses, escapes, RFC 3597, HTTPS/SVCB…),
/// loaded by BIND and tandem: every RRset BIND serves, tandem serves the same.
#[test]
fn every_record_of_a_kitchen_sink_zone_matches_bind() {
    if !peers_present(&["dig", "named", "named-checkzone"]) {
        return;
    }
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zones");
    let zone = fixtures.join("kitchen.test.zone");
    let include = fixtures.join("kitchen-include.zone");
    // BIND's own checker accepts the file.
    let mut check = std::process::Command::new("named-checkzone");
    check
        .current_dir(&fixtures)
        .args(["kitchen.test", "kitchen.test.zone"]);
    let (ok, out, err) = tandem_testkit::run(&mut check);
    assert!(ok, "named-checkzone refused the fixture: {out}{err}");

    let named = Named::start_with_files(
        &[("kitchen.test", &zone)],
        &[&include],
        "minimal-responses no-auth; allow-transfer { any; }; check-names primary ignore;",
    );
    let tandem = Tandem::start_prepared("", "", |dir| {
        std::fs::copy(&zone, dir.join("zones/kitchen.test.zone")).unwrap();
        std::fs::copy(&include, dir.join("zones/kitchen-include.zone")).unwrap();
        let path = dir.join("tandem.toml");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("\n[[zone]]\nname = \"kitchen.test\"\nfile = \"zones/kitchen.test.zone\"\n");
        std::fs::write(path, text).unwrap();
    });
    let axfr = dig("127.0.0.1", named.port, &["kitchen.test", "AXFR"]);
    let mut pairs: Vec<(String, String)> = axfr
        .raw
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].to_string(), f[3].to_string())
        })
        .collect();
    pairs.sort();
    pairs.dedup();
    assert!(pairs.len() > 30, "{}\n{}", axfr.raw, named.proc.output());
    // Names that exist only through the wildcard, or not at all.
    for extra in [
        ("x.wild.kitchen.test.", "A"),
        ("x.wild.kitchen.test.", "TXT"),
        ("nope.kitchen.test.", "A"),
        ("q.delegated.kitchen.test.", "A"),
    ] {
        pairs.push((extra.0.to_string(), extra.1.to_string()));
    }
    for (name, rtype) in &pairs {
        for transport in ["+notcp", "+tcp"] {
            let ours = tandem.dig(&[transport, name, rtype]);
            let theirs = dig("127.0.0.1", named.port, &[transport, name, rtype]);
            assert_same(&ours, &theirs, &format!("{name} {rtype} {transport}"));
        }
    }
}
