//! dhcpd.leases: files written by ISC dhcpd 4.4.3 itself (regenerated with
//! tests/fixtures/dhcp/gen_leases.sh, in dhcpd's test mode) and a
//! hand-written append-only one, read into tandem's leases; errors located;
//! never a panic.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use tandem_dhcp::{BindingState, HwAddr, Lease};
use tandem_isc::{leases_json, parse_dhcpd_leases, NEVER};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/dhcp")
        .join(name)
}

fn read(name: &str) -> Vec<Lease> {
    let p = fixture(name);
    parse_dhcpd_leases(&std::fs::read_to_string(&p).unwrap(), &p).unwrap()
}

fn parse_err(text: &str) -> String {
    parse_dhcpd_leases(text, Path::new("dhcpd.leases"))
        .unwrap_err()
        .to_string()
}

fn eth(s: &str) -> Option<HwAddr> {
    let b: Vec<u8> = s
        .split(':')
        .map(|p| u8::from_str_radix(p, 16).unwrap())
        .collect();
    Some(HwAddr { htype: 1, addr: b })
}

/// What dhcpd wrote back from appended.leases: the last entry per address,
/// and neither the abandoned lease that had run out nor its record.
fn rewritten() -> Vec<Lease> {
    let mut l20 = Lease::new(Ipv4Addr::new(192, 168, 0, 20), BindingState::Active);
    l20.start = 1_700_000_000; // 2023/11/14 22:13:20
    l20.end = 2_114_504_000; // 2037/01/02 10:13:20
    l20.tstp = 2_114_504_000;
    l20.cltt = 1_700_038_800; // 2023/11/15 09:00:00, the later entry's
    l20.hw = eth("00:24:e9:05:bb:a1");
    l20.client_id = Some(vec![1, 0, 0x24, 0xe9, 0x05, 0xbb, 0xa1]);
    l20.hostname = Some("laptop".into());

    let mut l21 = Lease::new(Ipv4Addr::new(192, 168, 0, 21), BindingState::Active);
    l21.start = 1_700_000_100;
    l21.end = 2_114_478_245;
    l21.tstp = 2_114_478_245;
    l21.tsfp = 2_114_478_245;
    l21.atsfp = 2_114_478_245;
    l21.cltt = 1_700_000_100;
    l21.hw = eth("00:11:22:33:44:55");
    l21.client_id = Some(vec![1, 0, 0x11, 0x22, 0x33, 0x44, 0x55]);
    l21.hostname = Some("desktop".into());

    let mut l22 = Lease::new(Ipv4Addr::new(192, 168, 0, 22), BindingState::Active);
    l22.start = 1_700_002_800;
    l22.end = NEVER;
    l22.tstp = NEVER;
    l22.cltt = 1_700_002_800;
    l22.hw = eth("52:54:00:ab:cd:ef");
    l22.hostname = Some("appliance".into());

    let mut l23 = Lease::new(Ipv4Addr::new(192, 168, 0, 23), BindingState::Free);
    l23.start = 1_699_862_400;
    l23.end = 1_699_862_700;
    l23.tstp = 1_699_862_700;
    l23.cltt = 1_699_862_400;
    l23.hw = eth("00:de:ad:be:ef:00");

    let mut l200 = Lease::new(Ipv4Addr::new(192, 168, 0, 200), BindingState::Backup);
    l200.start = 1_700_136_000;
    l200.end = 1_700_136_000;
    l200.tstp = 1_700_136_000;

    vec![l20, l21, l22, l23, l200]
}

#[test]
fn lease_file_written_by_dhcpd() {
    assert_eq!(read("dhcpd.leases"), rewritten());
}

#[test]
fn epoch_times_as_db_time_format_local_writes_them() {
    let text = std::fs::read_to_string(fixture("dhcpd-epoch.leases")).unwrap();
    assert!(text.contains("starts epoch 1700000000; # Tue Nov 14 22:13:20 2023"));
    assert_eq!(read("dhcpd-epoch.leases"), rewritten());
}

#[test]
fn appended_file_last_entry_wins() {
    let got = read("appended.leases");
    let mut l24 = Lease::new(Ipv4Addr::new(192, 168, 0, 24), BindingState::Abandoned);
    l24.start = 1_699_866_000;
    l24.end = 1_699_869_600;
    l24.tstp = 1_699_869_600;
    l24.cltt = 1_699_866_000;
    let mut want = rewritten();
    want.insert(4, l24);
    assert_eq!(got, want);
}

#[test]
fn other_forms() {
    let text = r#"
server-duid "\000\001\000\001,\342\021\277\002B\254\021\000\002";
lease 10.0.0.2 {
  starts 2023/11/14 22:13:20;
  ends epoch 1700003600;
  binding state bootp;
  hardware token-ring 0:1:2:3:4:5;
  uid 01:0:1:2:3:4:5;
  on expiry { set x = "y"; }
  option agent.circuit-id 0:1:2;
}
lease 10.0.0.3 {
  hardware unknown-32 00:01;
  client-hostname "caf\303\251";
}
host static-from-omapi { hardware ethernet 00:00:00:00:00:01; fixed-address 10.0.0.9; }
ia_na "\001\000\000\000\000\001" { cltt 0 2023/01/01 00:00:00; }
"#;
    let got = parse_dhcpd_leases(text, Path::new("dhcpd.leases")).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!((got[0].start, got[0].end), (1_700_000_000, 1_700_003_600));
    assert_eq!(got[0].state, BindingState::Active);
    assert_eq!(
        got[0].hw,
        Some(HwAddr {
            htype: 6,
            addr: vec![0, 1, 2, 3, 4, 5]
        })
    );
    assert_eq!(got[0].client_id, Some(vec![1, 0, 1, 2, 3, 4, 5]));
    // No binding state: active, and its times (here: none) decide.
    assert_eq!(got[1].state, BindingState::Active);
    assert_eq!((got[1].start, got[1].end), (0, 0));
    assert_eq!(
        got[1].hw,
        Some(HwAddr {
            htype: 32,
            addr: vec![0, 1]
        })
    );
    assert_eq!(got[1].hostname.as_deref(), Some("café"));
}

#[test]
fn errors_are_located() {
    assert_eq!(
        parse_err("lease 10.0.0.300 {\n}\n"),
        "dhcpd.leases:1:7: expected an IPv4 address, not 10.0.0.300"
    );
    assert_eq!(
        parse_err("lease 10.0.0.1 {\n  starts 2 2023/02/29 00:00:00;\n}"),
        "dhcpd.leases:2:12: bad date for starts: expected W YYYY/MM/DD HH:MM:SS, epoch SECONDS or never"
    );
    assert_eq!(
        parse_err("lease 10.0.0.1 {\n  ends 9 2023/01/01 00:00:00;\n}"),
        "dhcpd.leases:2:8: bad date for ends: expected W YYYY/MM/DD HH:MM:SS, epoch SECONDS or never"
    );
    assert_eq!(
        parse_err("lease 10.0.0.1 {\n  cltt epoch soon;\n}"),
        "dhcpd.leases:2:14: bad date for cltt: expected W YYYY/MM/DD HH:MM:SS, epoch SECONDS or never"
    );
    assert_eq!(
        parse_err("lease 10.0.0.1 {\n  binding state bored;\n}"),
        "dhcpd.leases:2:17: unknown binding state \"bored\""
    );
    assert_eq!(
        parse_err("lease 10.0.0.1 {\n  hardware ethernet 00:11:zz;\n}"),
        "dhcpd.leases:2:21: bad hardware address 00:11:zz: expected up to 16 octets XX:XX:..."
    );
    assert_eq!(
        parse_err("lease 10.0.0.1 {\n  hardware carrier-pigeon 00;\n}"),
        "dhcpd.leases:2:12: unknown hardware type \"carrier-pigeon\""
    );
    assert_eq!(
        parse_err("lease 10.0.0.1 {\n  uid 1:2:xyz;\n}"),
        "dhcpd.leases:2:7: bad uid 1:2:xyz: expected XX:XX:..."
    );
    assert_eq!(
        parse_err("lease 10.0.0.1 {\n  starts 2 2023/01/01 00:00:00\n}"),
        "dhcpd.leases:2:23: missing ';' after 00:00:00"
    );
    assert_eq!(
        parse_err("lease 10.0.0.1;"),
        "dhcpd.leases:1:1: expected lease A.B.C.D { ... }"
    );
}

#[test]
fn json_for_the_lease_store_round_trips() {
    let leases = read("appended.leases");
    let json = leases_json(&leases).unwrap();
    let back: Vec<Lease> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, leases);
    assert!(json.contains("\"state\": \"abandoned\""));
}

/// Lease-file text: lease blocks whose statements are drawn from what
/// dhcpd writes, with some values broken.
fn lease_text() -> impl Strategy<Value = String> {
    let date = prop_oneof![
        (
            0u8..8,
            1965u32..2040,
            0u32..14,
            0u32..33,
            0u32..25,
            0u32..61,
            0u32..61
        )
            .prop_map(|(w, y, m, d, h, mi, s)| format!("{w} {y}/{m}/{d} {h}:{mi}:{s}")),
        any::<u64>().prop_map(|n| format!("epoch {n}")),
        Just("never".to_string()),
        "[a-z0-9/: ]{0,12}",
    ];
    let stmt = prop_oneof![
        (
            prop::sample::select(vec!["starts", "ends", "tstp", "tsfp", "atsfp", "cltt"]),
            date
        )
            .prop_map(|(k, d)| format!("{k} {d};")),
        "[a-z]{0,9}".prop_map(|s| format!("binding state {s};")),
        "[0-9a-fA-F:]{0,20}".prop_map(|h| format!("hardware ethernet {h};")),
        "[0-9a-f:]{0,20}".prop_map(|h| format!("uid {h};")),
        "(\\\\[0-7]{1,3}|[a-z\"$]){0,10}".prop_map(|s| format!("uid \"{s}\";")),
        "[a-z\\\\\"]{0,10}".prop_map(|s| format!("client-hostname \"{s}\";")),
        Just("next binding state free;".to_string()),
        Just("on expiry { set a = \"b\"; }".to_string()),
        "[a-z ;{}]{0,12}",
    ];
    let addr = prop_oneof![
        (any::<u8>(), any::<u8>()).prop_map(|(a, b)| format!("10.0.{a}.{b}")),
        "[0-9.:a-z]{0,15}",
    ];
    let lease = (addr, prop::collection::vec(stmt, 0..8))
        .prop_map(|(a, s)| format!("lease {a} {{\n  {}\n}}\n", s.join("\n  ")));
    prop::collection::vec(lease, 0..5).prop_map(|l| l.concat())
}

proptest! {
    #[test]
    fn lease_like_text_never_panics(text in lease_text()) {
        let _ = parse_dhcpd_leases(&text, Path::new("dhcpd.leases"));
    }

    #[test]
    fn any_text_never_panics(text in "[a-z0-9 \"\\\\{};,#/:.\n]{0,200}") {
        let _ = parse_dhcpd_leases(&text, Path::new("dhcpd.leases"));
    }
}
