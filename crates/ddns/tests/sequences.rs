//! RFC 4703's sequences against a real RFC 2136 implementation (tandem's
//! zone code, in memory): publish, renew, release, move, and the conflicts
//! that must not steal a name.

mod sim;

use std::net::Ipv4Addr;

use sim::{binding, config, n, Dns};
use tandem_ddns::{Job, Part, Style};
use tandem_dns_wire::{Rcode, Rtype};

fn publish(
    dns: &mut Dns,
    cfg: &tandem_ddns::DdnsConfig,
    b: &tandem_ddns::Binding,
) -> (tandem_ddns::Published, Vec<String>) {
    let job = Job::new(None, Some(b), false, false, cfg.conflict_detection).expect("work");
    let (state, log) = dns.run(cfg, job);
    (state.expect("state"), log)
}

#[test]
fn a_lease_gets_a_dhcid_an_a_and_a_ptr() {
    let cfg = config();
    let mut dns = Dns::new();
    let b = binding(&cfg, 1, "Laptop", 15);
    assert_eq!(b.fqdn, n("laptop.home."));
    let (state, log) = publish(&mut dns, &cfg, &b);
    assert_eq!(
        (state.forward, state.reverse),
        (Part::Present, Part::Present)
    );
    assert_eq!(dns.a("laptop.home."), vec![Ipv4Addr::new(192, 168, 0, 15)]);
    assert_eq!(
        dns.rdatas("laptop.home.", Rtype::DHCID),
        vec![b.guard.rdata.clone()]
    );
    assert_eq!(dns.ptr("15.0.168.192.in-addr.arpa."), vec!["laptop.home."]);
    assert_eq!(
        log,
        vec![
            "Added new forward map from laptop.home. to 192.168.0.15",
            "Added reverse map from 15.0.168.192.in-addr.arpa. to laptop.home.",
        ]
    );
    // The TTL: half the lease (3600 s), and the PTR the same.
    assert_eq!(b.ttl, 1800);
}

#[test]
fn a_renewal_sends_nothing_unless_optimisation_is_off() {
    let cfg = config();
    let mut dns = Dns::new();
    let b = binding(&cfg, 1, "laptop", 15);
    let (state, _) = publish(&mut dns, &cfg, &b);
    assert!(Job::new(Some(&state), Some(&b), true, false, true).is_none());
    let before = dns.dump();
    let sent = dns.sent;
    let job = Job::new(Some(&state), Some(&b), true, true, true).expect("resend");
    let (again, log) = dns.run(&cfg, job);
    assert_eq!(again.unwrap().forward, Part::Present);
    // Claim (YXDOMAIN), take over, PTR: same records.
    assert_eq!(dns.sent - sent, 3);
    assert_eq!(dns.dump(), before);
    assert_eq!(log.len(), 2);
}

#[test]
fn the_first_client_keeps_its_name() {
    let cfg = config();
    let mut dns = Dns::new();
    let first = binding(&cfg, 1, "laptop", 15);
    publish(&mut dns, &cfg, &first);
    let second = binding(&cfg, 2, "laptop", 16);
    assert_ne!(first.guard, second.guard);
    let (state, log) = publish(&mut dns, &cfg, &second);
    assert_eq!(state.forward, Part::Conflict);
    assert_eq!(
        state.reverse,
        Part::Absent,
        "no PTR for a name we do not hold"
    );
    assert_eq!(dns.a("laptop.home."), vec![Ipv4Addr::new(192, 168, 0, 15)]);
    assert!(dns.ptr("16.0.168.192.in-addr.arpa.").is_empty());
    assert_eq!(
        log,
        vec!["Forward map from laptop.home. to 192.168.0.16 FAILED: Has an address record but no DHCID, not mine."]
    );
    // Not tried again until its lease is renewed.
    assert!(Job::new(Some(&state), Some(&second), false, false, true).is_none());
    assert!(Job::new(Some(&state), Some(&second), true, false, true).is_some());
}

#[test]
fn a_name_from_the_zone_file_is_never_replaced() {
    let cfg = config();
    let mut dns = Dns::new();
    let before = dns.dump();
    let b = binding(&cfg, 3, "NAS", 17);
    let (state, _) = publish(&mut dns, &cfg, &b);
    assert_eq!(state.forward, Part::Conflict);
    assert_eq!(dns.dump(), before);
    // And releasing the lease touches nothing either.
    let job = Job::new(Some(&state), None, false, false, true);
    assert!(job.is_none(), "nothing of ours is there to remove");
}

#[test]
fn a_release_removes_everything_it_added() {
    let cfg = config();
    let mut dns = Dns::new();
    let before = dns.dump();
    let b = binding(&cfg, 1, "laptop", 15);
    let (state, _) = publish(&mut dns, &cfg, &b);
    let job = Job::new(Some(&state), None, false, false, true).unwrap();
    let (after, log) = dns.run(&cfg, job);
    assert_eq!(after, None);
    assert_eq!(dns.dump(), before);
    assert!(!dns.exists("laptop.home."));
    assert_eq!(
        log,
        vec![
            "Removed forward map from laptop.home. to 192.168.0.15",
            "Removed reverse map on 15.0.168.192.in-addr.arpa.",
        ]
    );
}

#[test]
fn a_client_that_moves_keeps_its_name_at_the_new_address() {
    let cfg = config();
    let mut dns = Dns::new();
    let old = binding(&cfg, 1, "laptop", 15);
    let new = binding(&cfg, 1, "laptop", 20);
    let (old_state, _) = publish(&mut dns, &cfg, &old);
    // The new address is published before the old one is withdrawn (the
    // two addresses are separate jobs and may run in either order).
    let (new_state, _) = publish(&mut dns, &cfg, &new);
    assert_eq!(new_state.forward, Part::Present);
    let job = Job::new(Some(&old_state), None, false, false, true).unwrap();
    let (gone, _) = dns.run(&cfg, job);
    assert_eq!(gone, None);
    assert_eq!(dns.a("laptop.home."), vec![Ipv4Addr::new(192, 168, 0, 20)]);
    assert_eq!(
        dns.rdatas("laptop.home.", Rtype::DHCID).len(),
        1,
        "guard kept"
    );
    assert!(dns.ptr("15.0.168.192.in-addr.arpa.").is_empty());
    assert_eq!(dns.ptr("20.0.168.192.in-addr.arpa."), vec!["laptop.home."]);
}

#[test]
fn a_new_name_for_the_same_address_replaces_the_old_one() {
    let cfg = config();
    let mut dns = Dns::new();
    let old = binding(&cfg, 1, "laptop", 15);
    let (state, _) = publish(&mut dns, &cfg, &old);
    let renamed = binding(&cfg, 1, "workstation", 15);
    let job = Job::new(Some(&state), Some(&renamed), true, false, true).unwrap();
    let (after, log) = dns.run(&cfg, job);
    let after = after.unwrap();
    assert_eq!(after.binding.fqdn, n("workstation.home."));
    assert!(!dns.exists("laptop.home."));
    assert_eq!(
        dns.ptr("15.0.168.192.in-addr.arpa."),
        vec!["workstation.home."]
    );
    assert_eq!(log.len(), 4, "{log:?}");
}

#[test]
fn without_conflict_detection_the_last_client_wins() {
    let mut cfg = config();
    cfg.conflict_detection = false;
    let mut dns = Dns::new();
    publish(&mut dns, &cfg, &binding(&cfg, 1, "laptop", 15));
    let second = binding(&cfg, 2, "laptop", 16);
    let (state, _) = publish(&mut dns, &cfg, &second);
    assert_eq!(state.forward, Part::Present);
    assert_eq!(dns.a("laptop.home."), vec![Ipv4Addr::new(192, 168, 0, 16)]);
    assert_eq!(
        dns.rdatas("laptop.home.", Rtype::DHCID),
        vec![second.guard.rdata.clone()]
    );
}

/// The interim style shares a zone with an ISC dhcpd that uses it: a name
/// dhcpd published for the same client (same TXT) is taken over; one it
/// published for another client is not.
#[test]
fn interim_style_guards_with_dhcpd_txt_records() {
    let mut cfg = config();
    cfg.style = Style::Interim;
    let mut dns = Dns::new();
    // What dhcpd would have put there for client 02:00:00:00:00:05.
    let theirs = binding(&cfg, 5, "printer", 30);
    publish(&mut dns, &cfg, &theirs);
    let txt = dns.rdatas("printer.home.", Rtype::TXT);
    assert_eq!(txt.len(), 1);
    assert_eq!(&txt[0][1..3], b"00");
    // The same client now leases from tandem, at another address.
    let mine = binding(&cfg, 5, "printer", 31);
    let (state, _) = publish(&mut dns, &cfg, &mine);
    assert_eq!(state.forward, Part::Present);
    assert_eq!(dns.a("printer.home."), vec![Ipv4Addr::new(192, 168, 0, 31)]);
    // Another client cannot have it.
    let (state, _) = publish(&mut dns, &cfg, &binding(&cfg, 6, "printer", 32));
    assert_eq!(state.forward, Part::Conflict);
}

#[test]
fn a_server_that_cannot_take_an_update_leaves_the_job_resumable() {
    let cfg = config();
    let mut dns = Dns::new();
    let b = binding(&cfg, 1, "laptop", 15);
    dns.refuse_with = Some(Rcode::SERVFAIL);
    let job = Job::new(None, Some(&b), false, false, true).unwrap();
    let (state, log) = dns.run(&cfg, job);
    let state = state.unwrap();
    assert_eq!((state.forward, state.reverse), (Part::Absent, Part::Absent));
    assert_eq!(log, vec!["stopped: SERVFAIL"]);
    // The DNS is back: the same want, from that state, finishes the job.
    dns.refuse_with = None;
    let job = Job::new(Some(&state), Some(&b), false, false, true).unwrap();
    let (state, _) = dns.run(&cfg, job);
    assert_eq!(state.unwrap().reverse, Part::Present);
    assert_eq!(dns.a("laptop.home."), vec![Ipv4Addr::new(192, 168, 0, 15)]);
}

#[test]
fn a_forward_update_lost_in_flight_is_recovered_by_the_takeover() {
    // The claim reached the server but its answer was lost: the retry's
    // claim gets YXDOMAIN and the take-over, guarded by our DHCID, succeeds.
    let cfg = config();
    let mut dns = Dns::new();
    let b = binding(&cfg, 1, "laptop", 15);
    let mut job = Job::new(None, Some(&b), false, false, true).unwrap();
    let (step, owner) = job.next_step().unwrap();
    let zone = cfg.zone_for(&owner).unwrap().name.clone();
    dns.apply(&job.message(step, &zone).unwrap().to_wire(1));
    // The shell saw a timeout: it keeps the job's state and tries later.
    let state = job.state();
    let job = Job::new(state.as_ref(), Some(&b), false, false, true).unwrap();
    let (state, log) = dns.run(&cfg, job);
    assert_eq!(state.unwrap().forward, Part::Present);
    assert_eq!(
        log[0],
        "Added new forward map from laptop.home. to 192.168.0.15"
    );
}

/// A failover survivor (or a tandem that took over from dhcpd) withdraws
/// a name another server published for a lease that ended here: the same
/// client and name give the same DHCID, so the guarded release works.
#[test]
fn a_presumed_binding_is_withdrawn_when_it_is_there() {
    let cfg = config();
    let mut dns = Dns::new();
    let before = dns.dump();
    let b = binding(&cfg, 1, "laptop", 15);
    publish(&mut dns, &cfg, &b); // by the partner
    let job = Job::new(
        Some(&tandem_ddns::Published::presumed(b)),
        None,
        false,
        false,
        true,
    )
    .unwrap();
    let (after, log) = dns.run(&cfg, job);
    assert_eq!(after, None);
    assert_eq!(dns.dump(), before);
    assert_eq!(log.len(), 2, "{log:?}");
}

/// ... and touches nothing when it is not: another client's name at that
/// address, with its PTR, stays.
#[test]
fn a_presumed_binding_that_is_not_there_touches_nothing() {
    let cfg = config();
    let mut dns = Dns::new();
    publish(&mut dns, &cfg, &binding(&cfg, 1, "laptop", 15));
    let before = dns.dump();
    let other = binding(&cfg, 2, "laptop", 15);
    let job = Job::new(
        Some(&tandem_ddns::Published::presumed(other)),
        None,
        false,
        false,
        true,
    )
    .unwrap();
    let (after, log) = dns.run(&cfg, job);
    assert_eq!(after, None);
    assert!(log.is_empty(), "{log:?}");
    assert_eq!(dns.dump(), before);
}
