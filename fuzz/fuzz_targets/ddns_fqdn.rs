//! A client's FQDN option (81) and host name (12), as a DHCP request
//! carries them: parsing and the round trip, the DDNS plan and its option
//! 81 answer (which must parse again, with N=1 never beside S=1), and the
//! update messages of the binding (which must parse as DNS messages).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::Ipv4Addr;
use tandem_ddns::fqdn::{ClientFqdn, FLAG_N, FLAG_S};
use tandem_ddns::update::{build, Step};
use tandem_ddns::{plan, ClientUpdates, DdnsConfig, Facts, ZoneTarget};

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let at = usize::from(split).min(rest.len());
    let (opt81, host) = rest.split_at(at);
    let parsed = ClientFqdn::parse(opt81).ok();
    if let Some(f) = &parsed {
        assert_eq!(ClientFqdn::parse(&f.encode()).as_ref(), Ok(f));
    }
    let mut cfg = DdnsConfig::new();
    cfg.domain = Some("home.".parse().unwrap());
    cfg.generated_name = Some("dhcp-{ip}".into());
    cfg.zones = ["home.", "0.168.192.in-addr.arpa."]
        .iter()
        .map(|z| ZoneTarget {
            name: z.parse().unwrap(),
            primary: vec!["127.0.0.1:53".parse().unwrap()],
            secondary: Vec::new(),
            key: None,
        })
        .collect();
    let host = String::from_utf8_lossy(host);
    for updates in [ClientUpdates::Allow, ClientUpdates::Ignore] {
        cfg.client_updates = updates;
        let p = plan(
            &cfg,
            &Facts {
                addr: Some(Ipv4Addr::new(192, 168, 0, 15)),
                client_id: Some(opt81),
                hw: Some((1, &[2, 0, 0, 0, 0, 1])),
                fqdn: parsed.as_ref(),
                host_name: Some(&host),
                lease_secs: 3600,
                ..Facts::default()
            },
        );
        if let Some(r) = &p.reply {
            let answer = ClientFqdn::parse(r).expect("our answer parses");
            assert!(answer.flags & (FLAG_N | FLAG_S) != (FLAG_N | FLAG_S));
        }
        if let Some(b) = &p.binding {
            for step in [
                Step::Claim,
                Step::TakeOver,
                Step::Overwrite,
                Step::Release,
                Step::ReleaseGuard,
                Step::ReleaseUnguarded,
                Step::SetPtr,
                Step::ClearPtr,
            ] {
                if let Some(u) = build(step, b, &"home.".parse().unwrap()) {
                    tandem_dns_wire::Message::parse(&u.to_wire(1)).expect("our update parses");
                }
            }
        }
    }
});
