//! Secondary zones in the store: transfers applied durably, restored on
//! restart without the primary, expiry, and updates refused.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use tandem_dns::query::{Source, Transport, UpdateRequest};
use tandem_dns::xfrin::Transfer;
use tandem_dns::{Acl, ZonePolicy};
use tandem_dns_wire::rdata::Soa;
use tandem_dns_wire::{Class, Header, Message, Name, Opcode, Question, Rcode, Record, Rtype};
use tandem_zone::Diff;
use tandem_zonestore::{journal_path, StoreError, ZoneKind, ZoneSpec, ZoneStore};

fn n(s: &str) -> Name {
    s.parse().unwrap()
}

fn zone() -> Name {
    n("example.")
}

fn soa(serial: u32) -> Record {
    let rdata = Soa {
        mname: n("ns1.example."),
        rname: n("hostmaster.example."),
        serial,
        refresh: 3600,
        retry: 600,
        expire: 86400,
        minimum: 300,
    }
    .to_rdata();
    Record::new(zone(), Rtype::SOA, Class::IN, 3600, rdata)
}

fn ns() -> Record {
    let target = n("ns1.example.");
    Record::new(
        zone(),
        Rtype::NS,
        Class::IN,
        3600,
        target.as_wire().to_vec(),
    )
}

fn a(owner: &str, last: u8) -> Record {
    Record::new(n(owner), Rtype::A, Class::IN, 300, vec![192, 0, 2, last])
}

fn full(serial: u32, extra: Vec<Record>) -> Transfer {
    let mut records = vec![soa(serial), ns(), a("ns1.example.", 1)];
    records.extend(extra);
    Transfer::Full { records }
}

fn diff(from: u32, to: u32, removed: Vec<Record>, added: Vec<Record>) -> Diff {
    Diff {
        from_serial: from,
        to_serial: to,
        removed,
        added,
    }
}

fn spec(kind: ZoneKind, journal_max_size: u64) -> ZoneSpec {
    ZoneSpec {
        name: zone(),
        kind,
        policy: Arc::new(ZonePolicy {
            allow_update: Acl::any(),
            ..ZonePolicy::default()
        }),
        journal_max_size,
    }
}

fn open(dir: &Path) -> (Arc<ZoneStore>, Vec<String>) {
    open_with(dir, 1 << 20)
}

fn open_with(dir: &Path, max: u64) -> (Arc<ZoneStore>, Vec<String>) {
    ZoneStore::open(vec![spec(ZoneKind::Secondary, max)], dir).unwrap()
}

/// Where the journal's last frame ends (the file goes on with the zeros
/// the journal preallocates).
fn frames_end(path: &Path) -> u64 {
    tandem_journal::format::frames_end(&std::fs::read(path).unwrap()) as u64
}

/// The published zone's serial, or `None` for the empty (expired) zone.
fn served(store: &ZoneStore) -> Option<u32> {
    let cat = store.catalog();
    cat.get(&zone()).unwrap().zone.soa().map(|s| s.serial)
}

fn has(store: &ZoneStore, owner: &str, last: u8) -> bool {
    let cat = store.catalog();
    let z = &cat.get(&zone()).unwrap().zone;
    z.rrset(&n(owner), Rtype::A)
        .is_some_and(|s| s.rdatas.iter().any(|d| d[..] == [192, 0, 2, last]))
}

fn record_changes(store: &ZoneStore) -> Arc<Mutex<Vec<u32>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    store.set_on_change(Box::new(move |_, serial| s.lock().unwrap().push(serial)));
    seen
}

#[test]
fn full_then_incremental_then_up_to_date_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (store, _) = open(dir.path());
        assert!(store.is_secondary(&zone()));
        assert_eq!(store.secondary_copy(&zone()).map(|c| c.0), None);
        // No copy yet: published without SOA.
        assert_eq!(served(&store), None);
        let changes = record_changes(&store);

        let s = store
            .apply_transfer(&zone(), full(10, vec![a("www.example.", 10)]), 1000)
            .unwrap();
        assert_eq!(s, 10);
        assert_eq!(served(&store), Some(10));
        assert!(has(&store, "www.example.", 10));
        assert!(store.history(&zone()).is_empty());

        let inc = Transfer::Incremental {
            diffs: vec![
                diff(
                    10,
                    11,
                    vec![a("www.example.", 10)],
                    vec![a("www.example.", 11)],
                ),
                diff(11, 12, vec![], vec![a("mail.example.", 12)]),
            ],
        };
        assert_eq!(store.apply_transfer(&zone(), inc, 2000).unwrap(), 12);
        assert_eq!(served(&store), Some(12));
        assert!(!has(&store, "www.example.", 10));
        assert!(has(&store, "www.example.", 11));
        assert!(has(&store, "mail.example.", 12));
        let h: Vec<_> = store
            .history(&zone())
            .iter()
            .map(|d| (d.from_serial, d.to_serial))
            .collect();
        assert_eq!(h, vec![(10, 11), (11, 12)]);

        let up = Transfer::UpToDate { serial: 12 };
        assert_eq!(store.apply_transfer(&zone(), up, 3000).unwrap(), 12);
        let (serial, soa_rec, refreshed) = store.secondary_copy(&zone()).unwrap();
        assert_eq!((serial, refreshed), (12, 3000));
        assert_eq!(soa_rec.rtype, Rtype::SOA);
        assert_eq!(Soa::parse(&soa_rec.rdata).unwrap().serial, 12);
        // Up to date changes no serial: no hook call for it.
        assert_eq!(*changes.lock().unwrap(), vec![10, 12]);
        store.close();
    }
    // Restart: the copy is served at once, no primary involved.
    let (store, warnings) = open(dir.path());
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(served(&store), Some(12));
    assert!(has(&store, "www.example.", 11));
    assert!(has(&store, "mail.example.", 12));
    assert!(has(&store, "ns1.example.", 1));
    let (serial, _, refreshed) = store.secondary_copy(&zone()).unwrap();
    assert_eq!((serial, refreshed), (12, 3000));
    let h: Vec<_> = store
        .history(&zone())
        .iter()
        .map(|d| (d.from_serial, d.to_serial))
        .collect();
    assert_eq!(h, vec![(10, 11), (11, 12)]);
    // And it keeps taking transfers after the restart.
    let inc = Transfer::Incremental {
        diffs: vec![diff(12, 13, vec![a("mail.example.", 12)], vec![])],
    };
    assert_eq!(store.apply_transfer(&zone(), inc, 4000).unwrap(), 13);
    assert!(!has(&store, "mail.example.", 12));
}

#[test]
fn incremental_from_the_wrong_serial_or_not_applying_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let jpath = journal_path(dir.path(), &zone());
    let (store, _) = open(dir.path());
    // No copy yet: incremental and up to date are refused.
    let e = store
        .apply_transfer(&zone(), Transfer::UpToDate { serial: 1 }, 5)
        .unwrap_err();
    assert!(matches!(e, StoreError::Transfer { .. }), "{e}");
    store
        .apply_transfer(&zone(), full(10, vec![a("www.example.", 10)]), 1000)
        .unwrap();
    let len = frames_end(&jpath);
    let changes = record_changes(&store);

    let wrong_serial = Transfer::Incremental {
        diffs: vec![diff(9, 11, vec![], vec![a("x.example.", 1)])],
    };
    let e = store
        .apply_transfer(&zone(), wrong_serial, 2000)
        .unwrap_err();
    assert!(e.to_string().contains("serial 10"), "{e}");

    // The second diff removes a record that is not there: the whole
    // transfer is refused, the first diff too.
    let not_there = Transfer::Incremental {
        diffs: vec![
            diff(10, 11, vec![], vec![a("x.example.", 1)]),
            diff(11, 12, vec![a("nothere.example.", 1)], vec![]),
        ],
    };
    let e = store.apply_transfer(&zone(), not_there, 2000).unwrap_err();
    assert!(e.to_string().contains("nothere.example."), "{e}");

    // A chain with a gap.
    let gap = Transfer::Incremental {
        diffs: vec![diff(10, 11, vec![], vec![]), diff(12, 13, vec![], vec![])],
    };
    assert!(store.apply_transfer(&zone(), gap, 2000).is_err());

    assert_eq!(served(&store), Some(10));
    assert!(!has(&store, "x.example.", 1));
    assert!(store.history(&zone()).is_empty());
    assert_eq!(store.secondary_copy(&zone()).unwrap().2, 1000);
    assert_eq!(frames_end(&jpath), len);
    assert!(changes.lock().unwrap().is_empty());
}

#[test]
fn broken_full_transfer_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    store
        .apply_transfer(&zone(), full(10, vec![]), 1000)
        .unwrap();
    // No SOA.
    let no_soa = Transfer::Full {
        records: vec![ns(), a("www.example.", 1)],
    };
    let e = store.apply_transfer(&zone(), no_soa, 2000).unwrap_err();
    assert!(matches!(e, StoreError::Transfer { .. }));
    assert!(e.to_string().contains("no SOA"), "{e}");
    // SOA not at the apex.
    let mut off_apex = soa(11);
    off_apex.owner = n("sub.example.");
    let e = store
        .apply_transfer(
            &zone(),
            Transfer::Full {
                records: vec![off_apex, soa(11), ns()],
            },
            2000,
        )
        .unwrap_err();
    assert!(e.to_string().contains("apex"), "{e}");
    // Out of zone.
    let e = store
        .apply_transfer(&zone(), full(11, vec![a("www.other.", 1)]), 2000)
        .unwrap_err();
    assert!(e.to_string().contains("outside"), "{e}");
    assert_eq!(served(&store), Some(10));
    assert_eq!(store.secondary_copy(&zone()).unwrap().2, 1000);
    drop(store);
    let (store, _) = open(dir.path());
    assert_eq!(served(&store), Some(10));
}

#[test]
fn expire_publishes_the_empty_zone_and_a_transfer_restores_it() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    store
        .apply_transfer(&zone(), full(10, vec![a("www.example.", 10)]), 1000)
        .unwrap();
    store.expire(&zone());
    assert_eq!(served(&store), None);
    assert!(store.catalog().get(&zone()).unwrap().zone.soa().is_none());
    // The copy is kept for the refresh schedule and an IXFR from it.
    assert_eq!(store.secondary_copy(&zone()).unwrap().0, 10);
    let inc = Transfer::Incremental {
        diffs: vec![diff(10, 11, vec![], vec![a("new.example.", 1)])],
    };
    assert_eq!(store.apply_transfer(&zone(), inc, 2000).unwrap(), 11);
    assert_eq!(served(&store), Some(11));
    assert!(has(&store, "www.example.", 10));
    assert!(has(&store, "new.example.", 1));

    // Up to date also ends an expiry, and tells the hook (the serial
    // served reappeared).
    store.expire(&zone());
    let changes = record_changes(&store);
    store
        .apply_transfer(&zone(), Transfer::UpToDate { serial: 11 }, 3000)
        .unwrap();
    assert_eq!(served(&store), Some(11));
    assert_eq!(*changes.lock().unwrap(), vec![11]);

    // Expiry is not written down: a restart serves the copy, and the
    // schedule expires it again from refreshed_at if it must.
    store.expire(&zone());
    drop(store);
    let (store, _) = open(dir.path());
    assert_eq!(served(&store), Some(11));
    assert_eq!(store.secondary_copy(&zone()).unwrap().2, 3000);
}

#[test]
fn torn_tail_after_a_transfer_entry() {
    let dir = tempfile::tempdir().unwrap();
    let jpath = journal_path(dir.path(), &zone());
    let before_inc;
    {
        let (store, _) = open(dir.path());
        store
            .apply_transfer(&zone(), full(10, vec![a("www.example.", 10)]), 1000)
            .unwrap();
        before_inc = frames_end(&jpath);
        let inc = Transfer::Incremental {
            diffs: vec![diff(10, 11, vec![], vec![a("new.example.", 1)])],
        };
        store.apply_transfer(&zone(), inc, 2000).unwrap();
    }
    let full_len = frames_end(&jpath);
    // The refreshed-at mark is the last frame: 10 + 9 bytes.
    let refreshed_frame = 19;
    // Every cut inside the last two frames (the diff and the mark).
    for cut in (before_inc + 1)..full_len {
        if cut == full_len - refreshed_frame {
            continue; // a whole frame boundary: nothing torn
        }
        let copy = tempfile::tempdir().unwrap();
        let cpath = journal_path(copy.path(), &zone());
        std::fs::create_dir_all(cpath.parent().unwrap()).unwrap();
        std::fs::copy(&jpath, &cpath).unwrap();
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&cpath)
            .unwrap();
        f.set_len(cut).unwrap();
        drop(f);
        let (store, warnings) = open(copy.path());
        assert_eq!(warnings.len(), 1, "cut {cut}: {warnings:?}");
        assert!(warnings[0].contains("torn tail"), "{warnings:?}");
        let (serial, _, refreshed) = store.secondary_copy(&zone()).unwrap();
        if cut > full_len - refreshed_frame {
            // Only the mark was torn.
            assert_eq!((serial, refreshed), (11, 1000), "cut {cut}");
            assert!(has(&store, "new.example.", 1));
        } else {
            assert_eq!((serial, refreshed), (10, 1000), "cut {cut}");
            assert!(!has(&store, "new.example.", 1));
        }
        assert!(has(&store, "www.example.", 10));
        // It goes on from there.
        let up = Transfer::UpToDate { serial };
        store.apply_transfer(&zone(), up, 5000).unwrap();
        drop(store);
        let (store, warnings) = open(copy.path());
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(store.secondary_copy(&zone()).unwrap().2, 5000);
    }
}

#[test]
fn compaction_keeps_the_data_and_bounds_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let jpath = journal_path(dir.path(), &zone());
    let max = 2000;
    {
        let (store, _) = open_with(dir.path(), max);
        store
            .apply_transfer(&zone(), full(1, vec![a("www.example.", 1)]), 1000)
            .unwrap();
        for s in 1..100u32 {
            let inc = Transfer::Incremental {
                diffs: vec![diff(
                    s,
                    s + 1,
                    vec![],
                    vec![a(&format!("h{s}.example."), (s % 250) as u8)],
                )],
            };
            store
                .apply_transfer(&zone(), inc, 1000 + u64::from(s))
                .unwrap();
            for _ in 0..3 {
                store
                    .apply_transfer(
                        &zone(),
                        Transfer::UpToDate { serial: s + 1 },
                        1000 + u64::from(s),
                    )
                    .unwrap();
            }
            let len = frames_end(&jpath);
            // The zone itself grows past the limit; the journal stays
            // within the snapshot plus one transfer's entries.
            assert!(len < 8000, "journal {len} bytes at serial {s}");
        }
        assert_eq!(served(&store), Some(100));
        // A compaction dropped the older history.
        assert!(store.history(&zone()).len() < 99);
    }
    let (store, warnings) = open_with(dir.path(), max);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(served(&store), Some(100));
    for s in 1..100u32 {
        assert!(has(&store, &format!("h{s}.example."), (s % 250) as u8));
    }
    assert!(has(&store, "www.example.", 1));
    assert_eq!(store.secondary_copy(&zone()).unwrap().2, 1099);
}

#[test]
fn big_snapshot_spans_several_frames() {
    let dir = tempfile::tempdir().unwrap();
    let many: Vec<Record> = (0..40_000u32)
        .map(|i| {
            Record::new(
                n(&format!("host-number-{i}.example.")),
                Rtype::A,
                Class::IN,
                300,
                i.to_be_bytes().to_vec(),
            )
        })
        .collect();
    {
        let (store, _) = open(dir.path());
        store.apply_transfer(&zone(), full(7, many), 100).unwrap();
    }
    let jpath = journal_path(dir.path(), &zone());
    assert!(frames_end(&jpath) > 1 << 20);
    let (store, warnings) = open(dir.path());
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(served(&store), Some(7));
    assert_eq!(
        store.catalog().get(&zone()).unwrap().zone.record_count(),
        40_003
    );
}

#[test]
fn soa_changes_in_an_incremental_transfer() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    store.apply_transfer(&zone(), full(1, vec![]), 1).unwrap();
    let mut new_soa = soa(2);
    new_soa.ttl = 60;
    let inc = Transfer::Incremental {
        diffs: vec![diff(1, 2, vec![soa(1)], vec![new_soa, a("x.example.", 2)])],
    };
    assert_eq!(store.apply_transfer(&zone(), inc, 2).unwrap(), 2);
    let check = |store: &ZoneStore| {
        let cat = store.catalog();
        let z = &cat.get(&zone()).unwrap().zone;
        assert_eq!(z.soa_record().unwrap().ttl, 60);
        assert_eq!(z.serial(), 2);
        // The history is SOA-free, as a primary's is.
        let h = store.history(&zone());
        assert_eq!(h.len(), 1);
        assert!(h[0].added.iter().all(|r| r.rtype != Rtype::SOA));
        assert!(h[0].removed.is_empty());
    };
    check(&store);
    drop(store);
    let (store, _) = open(dir.path());
    check(&store);
}

#[test]
fn primary_and_secondary_journals_are_not_mixed_up() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (store, _) = open(dir.path());
        store.apply_transfer(&zone(), full(1, vec![]), 1).unwrap();
    }
    let file = dir.path().join("example.zone");
    std::fs::write(
        &file,
        "$ORIGIN example.\n$TTL 300\n@ SOA ns1 hostmaster 5 3600 600 86400 300\n@ NS ns1\nns1 A 192.0.2.1\n",
    )
    .unwrap();
    let primary = vec![spec(ZoneKind::Primary { file: file.clone() }, 1 << 20)];
    let e = ZoneStore::open(primary.clone(), dir.path()).err().unwrap();
    assert!(e.to_string().contains("secondary zone's copy"), "{e}");

    let other = tempfile::tempdir().unwrap();
    let (store, _) = ZoneStore::open(primary.clone(), other.path()).unwrap();
    assert!(!store.is_secondary(&zone()));
    let e = store
        .apply_transfer(&zone(), full(1, vec![]), 1)
        .unwrap_err();
    assert!(matches!(e, StoreError::NotSecondary(_)));
    // An update makes the journal a primary's.
    let (tx, rx) = mpsc::channel();
    store.submit_update(
        update(),
        Box::new(move |bytes| {
            let _ = tx.send(bytes);
        }),
    );
    let reply = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(Message::parse(&reply).unwrap().header.rcode, Rcode::NOERROR);
    store.close();
    drop(store);
    // The writer thread lets go of the store (and the journal's lock)
    // just after it replied.
    let mut tries = 0;
    let e = loop {
        let e = ZoneStore::open(vec![spec(ZoneKind::Secondary, 1 << 20)], other.path())
            .err()
            .unwrap();
        if !e.to_string().contains("locked") || tries == 100 {
            break e;
        }
        tries += 1;
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(e.to_string().contains("primary zone's"), "{e}");

    // check() and reload() skip secondaries.
    assert!(tandem_zonestore::check(&[spec(ZoneKind::Secondary, 1)]).is_ok());
    let third = tempfile::tempdir().unwrap();
    let (store, _) = open(third.path());
    let report = store.reload();
    assert!(report.loaded.is_empty() && report.failed.is_empty() && report.unchanged.is_empty());
}

fn update() -> UpdateRequest {
    let message = Message {
        header: Header {
            id: 7,
            opcode: Opcode::UPDATE,
            ..Header::default()
        },
        questions: vec![Question {
            name: zone(),
            qtype: Rtype::SOA,
            qclass: Class::IN,
        }],
        authority: vec![a("added.example.", 9)],
        ..Message::default()
    };
    UpdateRequest {
        zone: zone(),
        message,
        source: Source {
            addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
            transport: Transport::Udp,
        },
        tsig: None,
    }
}

#[test]
fn an_update_to_a_secondary_zone_gets_notauth() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    store.apply_transfer(&zone(), full(3, vec![]), 1).unwrap();
    let (tx, rx) = mpsc::channel();
    store.submit_update(
        update(),
        Box::new(move |bytes| {
            let _ = tx.send(bytes);
        }),
    );
    let reply = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let m = Message::parse(&reply).unwrap();
    assert_eq!(m.header.rcode, Rcode::NOTAUTH);
    assert_eq!(m.header.id, 7);
    assert_eq!(served(&store), Some(3));
    assert!(!has(&store, "added.example.", 9));
    assert!(store.history(&zone()).is_empty());
}

#[test]
fn primary_updates_continue_beside_a_secondary_transfer() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("primary.zone");
    std::fs::write(
        &file,
        "$ORIGIN primary.\n$TTL 300\n@ SOA ns1 hostmaster 5 3600 600 86400 300\n@ NS ns1\nns1 A 192.0.2.1\n",
    )
    .unwrap();
    let primary = ZoneSpec {
        name: n("primary."),
        ..spec(ZoneKind::Primary { file }, 1 << 20)
    };
    let specs = vec![primary, spec(ZoneKind::Secondary, 1 << 20)];
    let (store, _) = ZoneStore::open(specs.clone(), dir.path()).unwrap();
    let big: Vec<Record> = (0..20_000u32)
        .map(|i| {
            Record::new(
                n(&format!("h{i}.example.")),
                Rtype::A,
                Class::IN,
                300,
                i.to_be_bytes().to_vec(),
            )
        })
        .collect();
    let s2 = store.clone();
    let transfer =
        std::thread::spawn(move || s2.apply_transfer(&zone(), full(9, big), 100).unwrap());
    let (tx, rx) = mpsc::channel();
    for i in 0..20u8 {
        let mut req = update();
        req.zone = n("primary.");
        req.message.questions[0].name = n("primary.");
        req.message.authority = vec![a(&format!("u{i}.primary."), i)];
        let tx = tx.clone();
        store.submit_update(
            req,
            Box::new(move |bytes| {
                let _ = tx.send(bytes);
            }),
        );
    }
    for _ in 0..20 {
        let reply = rx.recv_timeout(Duration::from_secs(20)).unwrap();
        assert_eq!(Message::parse(&reply).unwrap().header.rcode, Rcode::NOERROR);
    }
    assert_eq!(transfer.join().unwrap(), 9);
    let check = |store: &ZoneStore| {
        let cat = store.catalog();
        assert_eq!(cat.get(&zone()).unwrap().zone.record_count(), 20_003);
        let p = &cat.get(&n("primary.")).unwrap().zone;
        assert!(p.rrset(&n("u19.primary."), Rtype::A).is_some());
        assert!(!store.is_secondary(&n("primary.")));
        assert!(store.is_secondary(&zone()));
    };
    check(&store);
    store.close();
    drop(store);
    let mut tries = 0;
    let store = loop {
        match ZoneStore::open(specs.clone(), dir.path()) {
            Ok((s, _)) => break s,
            Err(e) if tries < 100 && e.to_string().contains("locked") => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("{e}"),
        }
    };
    check(&store);
}

/// An UPDATE adding `owner` A 192.0.2.`last` to the zone.
fn add_update(owner: &str, last: u8) -> Message {
    let mut m = Message {
        header: Header {
            opcode: Opcode::UPDATE,
            ..Header::default()
        },
        ..Message::default()
    };
    m.questions.push(Question {
        name: zone(),
        qtype: Rtype::SOA,
        qclass: Class::IN,
    });
    m.authority.push(a(owner, last));
    m
}

#[test]
fn local_updates_are_served_on_the_copy_and_kept_out_of_transfers() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    store
        .apply_transfer(&zone(), full(10, vec![]), 1000)
        .unwrap();
    store.set_local_updates(&zone(), vec![add_update("queued.example.", 9)]);
    // Served at once, with the primary's serial.
    assert!(has(&store, "queued.example.", 9));
    assert_eq!(served(&store), Some(10));
    // What goes onward to a chained secondary is the primary's version.
    let plain = store.secondary_plain_copy(&zone()).unwrap();
    assert!(plain.rrset(&n("queued.example."), Rtype::A).is_none());
    // A new version from the primary keeps them on top until they are
    // withdrawn.
    store
        .apply_transfer(
            &zone(),
            Transfer::Incremental {
                diffs: vec![diff(10, 11, vec![], vec![a("new.example.", 7)])],
            },
            1001,
        )
        .unwrap();
    assert!(has(&store, "queued.example.", 9) && has(&store, "new.example.", 7));
    assert_eq!(served(&store), Some(11));
    store.set_local_updates(&zone(), vec![]);
    assert!(!has(&store, "queued.example.", 9));
    assert!(store.secondary_plain_copy(&zone()).is_none());
}
