//! From a lease to its records and its option 81 answer.

mod sim;

use std::net::Ipv4Addr;

use sim::{config, n};
use tandem_ddns::fqdn::{ClientFqdn, FLAG_E, FLAG_N, FLAG_O, FLAG_S};
use tandem_ddns::{plan, ClientUpdates, Facts, Plan};
use tandem_dns_wire::Name;

const HW: [u8; 6] = [2, 0, 0, 0, 0, 1];

fn facts<'a>(fqdn: Option<&'a ClientFqdn>, host: Option<&'a str>) -> Facts<'a> {
    Facts {
        addr: Some(Ipv4Addr::new(192, 168, 0, 15)),
        hw: Some((1, &HW)),
        fqdn,
        host_name: host,
        lease_secs: 43200,
        ..Facts::default()
    }
}

fn wire(flags: u8, name: &str) -> ClientFqdn {
    let mut v = vec![flags | FLAG_E, 0, 0];
    for l in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        v.push(l.len() as u8);
        v.extend_from_slice(l.as_bytes());
    }
    if name.ends_with('.') {
        v.push(0);
    }
    ClientFqdn::parse(&v).unwrap()
}

fn reply(p: &Plan) -> ClientFqdn {
    ClientFqdn::parse(p.reply.as_ref().expect("an option 81 answer")).unwrap()
}

#[test]
fn the_fqdn_option_names_the_client_but_not_its_domain() {
    let cfg = config();
    let q = wire(FLAG_S, "Laptop.evil.example.");
    let p = plan(&cfg, &facts(Some(&q), Some("other")));
    let b = p.binding.clone().unwrap();
    assert_eq!(b.fqdn, n("laptop.home."));
    assert!(b.forward);
    assert_eq!(b.reverse, Some(n("15.0.168.192.in-addr.arpa.")));
    let r = reply(&p);
    assert_eq!(r.flags, FLAG_S | FLAG_E);
    assert_eq!((r.rcode1, r.rcode2), (255, 255));
    assert_eq!(r.name_text(), "laptop.home.");
    assert!(r.absolute);
}

#[test]
fn host_name_then_generated_name() {
    let mut cfg = config();
    let p = plan(&cfg, &facts(None, Some("Bob's iPhone")));
    assert_eq!(p.binding.unwrap().fqdn, n("bob-s-iphone.home."));
    assert_eq!(p.reply, None, "no option 81 asked, none sent");
    let p = plan(&cfg, &facts(None, None));
    assert!(p.binding.is_none());
    assert_eq!(p.why_not.as_deref(), Some("the client sent no usable name"));
    cfg.generated_name = Some("dhcp-{ip}".into());
    let p = plan(&cfg, &facts(None, Some("!!!")));
    assert_eq!(p.binding.unwrap().fqdn, n("dhcp-192-168-0-15.home."));
}

#[test]
fn ascii_encoded_requests_get_ascii_answers() {
    let cfg = config();
    let q = ClientFqdn::parse(b"\x01\0\0laptop\0").unwrap();
    let p = plan(&cfg, &facts(Some(&q), None));
    assert_eq!(p.reply.as_deref(), Some(&b"\x01\xff\xfflaptop.home."[..]));
}

#[test]
fn a_client_that_updates_its_own_a_record_gets_only_its_ptr() {
    let cfg = config();
    let q = wire(0, "laptop.corp.example.");
    let p = plan(&cfg, &facts(Some(&q), None));
    let b = p.binding.clone().unwrap();
    assert!(!b.forward);
    assert_eq!(b.fqdn, n("laptop.corp.example."));
    assert_eq!(b.reverse, Some(n("15.0.168.192.in-addr.arpa.")));
    let r = reply(&p);
    assert_eq!(
        r.flags, FLAG_E,
        "S=0, O=0, N=0: the client does its A record"
    );
    assert_eq!(r.name_text(), "laptop.corp.example.");
}

#[test]
fn a_bare_label_with_s0_is_updated_by_the_server() {
    let cfg = config();
    let q = wire(0, "laptop");
    let p = plan(&cfg, &facts(Some(&q), None));
    assert!(p.binding.clone().unwrap().forward);
    assert_eq!(reply(&p).flags, FLAG_S | FLAG_O | FLAG_E);
}

#[test]
fn ignore_client_updates_overrides_s0_and_n1() {
    let mut cfg = config();
    cfg.client_updates = ClientUpdates::Ignore;
    for asked in [0, FLAG_N] {
        let q = wire(asked, "laptop.corp.example.");
        let p = plan(&cfg, &facts(Some(&q), None));
        let b = p.binding.clone().unwrap();
        assert!(b.forward);
        assert_eq!(b.fqdn, n("laptop.home."));
        assert_eq!(reply(&p).flags, FLAG_S | FLAG_O | FLAG_E);
    }
}

#[test]
fn n1_is_honoured_by_default() {
    let cfg = config();
    let q = wire(FLAG_N, "laptop");
    let p = plan(&cfg, &facts(Some(&q), None));
    assert!(p.binding.is_none());
    assert_eq!(reply(&p).flags, FLAG_N | FLAG_E);
}

#[test]
fn no_updates_is_said_with_n1() {
    let mut cfg = config();
    cfg.updates = false;
    let q = wire(FLAG_S, "laptop");
    let p = plan(&cfg, &facts(Some(&q), None));
    assert!(p.binding.is_none());
    assert_eq!(reply(&p).flags, FLAG_N | FLAG_O | FLAG_E);
    cfg.updates = true;
    cfg.fqdn_reply = false;
    assert_eq!(plan(&cfg, &facts(Some(&q), None)).reply, None);
}

#[test]
fn fixed_addresses_only_with_update_static_leases() {
    let mut cfg = config();
    let mut f = facts(None, Some("printer"));
    f.fixed = true;
    assert!(plan(&cfg, &f).binding.is_none());
    cfg.update_static_leases = true;
    assert_eq!(plan(&cfg, &f).binding.unwrap().fqdn, n("printer.home."));
}

#[test]
fn the_domain_comes_from_ddns_domainname_or_the_domain_name_option() {
    let mut cfg = config();
    cfg.domain = None;
    assert!(plan(&cfg, &facts(None, Some("laptop"))).binding.is_none());
    let home: Name = n("home.");
    let mut f = facts(None, Some("laptop"));
    f.domain_option = Some(&home);
    assert_eq!(plan(&cfg, &f).binding.unwrap().fqdn, n("laptop.home."));
    // A domain no zone statement covers publishes nothing.
    let other: Name = n("elsewhere.");
    f.domain_option = Some(&other);
    let p = plan(&cfg, &f);
    assert!(p.binding.is_none());
    assert_eq!(
        p.why_not.as_deref(),
        Some("no zone statement covers laptop.elsewhere.")
    );
}

#[test]
fn ttl_is_ddns_ttl_or_half_the_lease_up_to_an_hour() {
    let mut cfg = config();
    let mut f = facts(None, Some("laptop"));
    assert_eq!(plan(&cfg, &f).binding.unwrap().ttl, 3600);
    f.lease_secs = 600;
    assert_eq!(plan(&cfg, &f).binding.unwrap().ttl, 300);
    cfg.ttl = Some(60);
    assert_eq!(plan(&cfg, &f).binding.unwrap().ttl, 60);
}

#[test]
fn no_reverse_zone_no_ptr() {
    let mut cfg = config();
    cfg.zones.retain(|z| z.name == n("home."));
    let b = plan(&cfg, &facts(None, Some("laptop"))).binding.unwrap();
    assert_eq!(b.reverse, None);
    cfg.reverse_updates = false;
    cfg.zones = config().zones;
    assert_eq!(
        plan(&cfg, &facts(None, Some("laptop")))
            .binding
            .unwrap()
            .reverse,
        None
    );
}

#[test]
fn the_client_identifier_is_the_identity_when_there_is_one() {
    let cfg = config();
    let id = [1, 2, 0, 0, 0, 0, 1];
    let mut f = facts(None, Some("laptop"));
    let by_hw = plan(&cfg, &f).binding.unwrap().guard;
    f.client_id = Some(&id);
    let by_id = plan(&cfg, &f).binding.unwrap().guard;
    assert_eq!(&by_hw.rdata[..2], &[0, 0]);
    assert_eq!(&by_id.rdata[..2], &[0, 1]);
}
