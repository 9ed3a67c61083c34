//! A DNS server in memory for the sequence tests: tandem's own RFC 2136
//! implementation (`tandem-zone`) applying the messages the jobs build,
//! after a round trip through the wire format.

#![allow(dead_code)]

use std::net::Ipv4Addr;

use bytes::Bytes;
use tandem_ddns::{plan, Binding, DdnsConfig, Facts, Job, Published, ZoneTarget};
use tandem_dns_wire::rdata::Soa;
use tandem_dns_wire::{Class, Message, Name, Rcode, Record, Rtype};
use tandem_zone::{apply_update, AllowAll, Zone};

pub fn n(s: &str) -> Name {
    s.parse().unwrap()
}

fn soa(origin: &str) -> Record {
    let rdata = Soa {
        mname: n("ns1.home."),
        rname: n("hostmaster.home."),
        serial: 1,
        refresh: 3600,
        retry: 600,
        expire: 86400,
        minimum: 300,
    }
    .to_rdata();
    Record::new(n(origin), Rtype::SOA, Class::IN, 3600, rdata)
}

fn a(owner: &str, addr: [u8; 4]) -> Record {
    Record::new(n(owner), Rtype::A, Class::IN, 3600, addr.to_vec())
}

/// The seed's two zones. `nas.home.` is the user's own record (zone file:
/// an A record and no guard).
pub struct Dns {
    pub zones: Vec<Zone>,
    /// Answer every message with this instead of applying it.
    pub refuse_with: Option<Rcode>,
    pub sent: usize,
}

impl Dns {
    pub fn new() -> Dns {
        let ns = Record::new(
            n("home."),
            Rtype::NS,
            Class::IN,
            3600,
            n("ns1.home.").to_bytes(),
        );
        let home = Zone::from_records(
            n("home."),
            Class::IN,
            vec![
                soa("home."),
                ns,
                a("ns1.home.", [192, 168, 0, 254]),
                a("nas.home.", [192, 168, 0, 2]),
            ],
        )
        .unwrap()
        .0;
        let rns = Record::new(
            n("0.168.192.in-addr.arpa."),
            Rtype::NS,
            Class::IN,
            3600,
            n("ns1.home.").to_bytes(),
        );
        let rev = Zone::from_records(
            n("0.168.192.in-addr.arpa."),
            Class::IN,
            vec![soa("0.168.192.in-addr.arpa."), rns],
        )
        .unwrap()
        .0;
        Dns {
            zones: vec![home, rev],
            refuse_with: None,
            sent: 0,
        }
    }

    /// Applies one message as a server would, returning its RCODE.
    pub fn apply(&mut self, wire: &[u8]) -> Rcode {
        self.sent += 1;
        if let Some(r) = self.refuse_with {
            return r;
        }
        let msg = Message::parse(wire).expect("the job's message parses");
        let q = msg.question().expect("zone section").name.clone();
        let Some(i) = self.zones.iter().position(|z| z.origin() == &q) else {
            return Rcode::NOTAUTH;
        };
        match apply_update(&self.zones[i], &msg, &AllowAll, None) {
            Ok(out) => {
                self.zones[i] = out.zone;
                Rcode::NOERROR
            }
            Err(e) => e.rcode,
        }
    }

    /// Runs `job` to its end (or until a step is not taken: then the state
    /// reached so far); returns what it says is in DNS and its log.
    pub fn run(&mut self, cfg: &DdnsConfig, mut job: Job) -> (Option<Published>, Vec<String>) {
        let mut log = Vec::new();
        while let Some((step, owner)) = job.next_step() {
            let Some(zone) = cfg.zone_for(&owner) else {
                job.skip("no zone statement");
                continue;
            };
            let update = job.message(step, &zone.name).expect("message");
            let rcode = self.apply(&update.to_wire(0x1234));
            if let tandem_ddns::Answer::TryAnother(why) = job.answer(rcode) {
                log.push(format!("stopped: {why}"));
                break;
            }
        }
        log.extend(job.take_log().into_iter().map(|l| l.text));
        (job.state(), log)
    }

    fn zone_of(&self, name: &Name) -> &Zone {
        self.zones
            .iter()
            .filter(|z| name.is_subdomain_of(z.origin()))
            .max_by_key(|z| z.origin().label_count())
            .unwrap()
    }

    pub fn rdatas(&self, owner: &str, rtype: Rtype) -> Vec<Bytes> {
        let name = n(owner);
        self.zone_of(&name)
            .rrset(&name, rtype)
            .map(|s| s.rdatas.to_vec())
            .unwrap_or_default()
    }

    pub fn a(&self, owner: &str) -> Vec<Ipv4Addr> {
        self.rdatas(owner, Rtype::A)
            .iter()
            .map(|r| Ipv4Addr::new(r[0], r[1], r[2], r[3]))
            .collect()
    }

    pub fn ptr(&self, owner: &str) -> Vec<String> {
        self.rdatas(owner, Rtype::PTR)
            .iter()
            .map(|r| Name::from_wire(r.clone()).unwrap().to_string())
            .collect()
    }

    pub fn exists(&self, owner: &str) -> bool {
        let name = n(owner);
        self.zone_of(&name).name_exists(&name)
    }

    /// Every record of both zones, sorted, for before/after comparisons.
    pub fn dump(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .zones
            .iter()
            .flat_map(|z| z.records())
            .filter(|r| r.rtype != Rtype::SOA)
            .map(|r| r.to_string())
            .collect();
        v.sort();
        v
    }
}

/// The seed's configuration: both zones on one primary, names in home.
pub fn config() -> DdnsConfig {
    let target = |z: &str| ZoneTarget {
        name: n(z),
        primary: vec!["192.168.0.254:53".parse().unwrap()],
        secondary: vec!["192.168.0.253:53".parse().unwrap()],
        key: None,
    };
    let mut c = DdnsConfig::new();
    c.domain = Some(n("home."));
    c.zones = vec![target("home."), target("0.168.192.in-addr.arpa.")];
    c
}

/// A client with hardware address 02:00:00:00:00:`mac` asking for
/// `name` (option 12) at 192.168.0.`last`.
pub fn binding(cfg: &DdnsConfig, mac: u8, name: &str, last: u8) -> Binding {
    let hw = [2, 0, 0, 0, 0, mac];
    plan(
        cfg,
        &Facts {
            addr: Some(Ipv4Addr::new(192, 168, 0, last)),
            hw: Some((1, &hw)),
            host_name: Some(name),
            lease_secs: 3600,
            ..Facts::default()
        },
    )
    .binding
    .expect("a binding")
}
