//! Opening and replaying the lease journal: reopen returns exactly what was
//! committed, a torn tail is cut with a warning, and a journal that is not a
//! valid lease journal is refused with an error that says why.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{mpsc, Arc};

use tandem_dhcp::{BindingState, HwAddr, Lease};
use tandem_journal::format::frame_len;
use tandem_journal::{FaultBackend, Journal, JournalError, MemBackend, Options};
use tandem_leasestore::codec::{encode_changes, encode_checkpoint, KIND_CHANGES, KIND_CHECKPOINT};
use tandem_leasestore::{
    CheckpointProblem, DecodeError, EncodeError, LeaseStore, StoreError, StoreOptions, JOURNAL_FILE,
};

fn dir() -> PathBuf {
    PathBuf::from("/state/dhcp")
}

fn jpath() -> PathBuf {
    dir().join(JOURNAL_FILE)
}

fn lease(last: u8, state: BindingState, end: u64) -> Lease {
    Lease {
        hw: Some(HwAddr::ethernet([2, 0, 0, 0, 0, last])),
        hostname: Some(format!("host-{last}")),
        end,
        start: end.saturating_sub(3600),
        cltt: end.saturating_sub(3600),
        ..Lease::new(Ipv4Addr::new(10, 0, 0, last), state)
    }
}

fn open_mem(mem: &MemBackend) -> tandem_leasestore::Opened {
    LeaseStore::open(&dir(), StoreOptions::with_backend(mem.clone())).unwrap()
}

#[test]
fn a_new_store_is_empty() {
    let opened = open_mem(&MemBackend::new());
    assert!(opened.leases.is_empty());
    assert!(opened.warnings.is_empty());
    assert_eq!(opened.store.path(), jpath());
}

#[test]
fn reopen_returns_the_latest_version_of_every_committed_lease() {
    let mem = MemBackend::new();
    let store = open_mem(&mem).store;
    store
        .commit_blocking(vec![
            lease(3, BindingState::Active, 1000),
            lease(1, BindingState::Active, 1000),
        ])
        .unwrap();
    store
        .commit_blocking(vec![lease(2, BindingState::Active, 2000)])
        .unwrap();
    // Later commits win per address, also within one commit.
    store
        .commit_blocking(vec![
            lease(3, BindingState::Released, 1500),
            lease(1, BindingState::Expired, 1000),
            lease(1, BindingState::Free, 1000),
        ])
        .unwrap();
    store.close();

    let opened = open_mem(&mem);
    assert!(opened.warnings.is_empty(), "{:?}", opened.warnings);
    assert_eq!(
        opened.leases,
        vec![
            lease(1, BindingState::Free, 1000),
            lease(2, BindingState::Active, 2000),
            lease(3, BindingState::Released, 1500),
        ]
    );
}

#[test]
fn reopen_on_a_real_directory() {
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let store = LeaseStore::open(tmp.path(), StoreOptions::default())
        .unwrap()
        .store;
    let want: Vec<Lease> = (1..=50)
        .map(|i| lease(i, BindingState::Active, 100 * u64::from(i)))
        .collect();
    for l in &want {
        store.commit_blocking(vec![l.clone()]).unwrap();
    }
    // The file is locked while open.
    let err = LeaseStore::open(tmp.path(), StoreOptions::default()).unwrap_err();
    assert!(
        matches!(err, StoreError::Journal(JournalError::Locked { .. })),
        "{err}"
    );
    store.close();
    assert!(tmp.path().join(JOURNAL_FILE).exists());
    let opened = LeaseStore::open(tmp.path(), StoreOptions::default()).unwrap();
    assert_eq!(opened.leases, want);
}

#[test]
fn commit_completes_on_the_writer_thread_and_may_commit_again_from_there() {
    let mem = MemBackend::new();
    let store = Arc::new(open_mem(&mem).store);
    let (tx, rx) = mpsc::channel();
    let inner = store.clone();
    store.commit(
        vec![lease(1, BindingState::Active, 10)],
        Box::new(move |r| {
            let thread = std::thread::current().name().map(str::to_owned);
            // Blocking here would deadlock, and is refused instead.
            let blocking = inner.commit_blocking(vec![lease(9, BindingState::Active, 9)]);
            let tx2 = tx.clone();
            inner.commit(
                vec![lease(2, BindingState::Active, 20)],
                Box::new(move |r2| tx2.send(("nested", r2, None, None)).unwrap()),
            );
            tx.send(("first", r, thread, Some(blocking))).unwrap();
        }),
    );
    let (what, r, thread, blocking) = rx.recv().unwrap();
    assert_eq!(what, "first");
    r.unwrap();
    assert_eq!(thread.as_deref(), Some("journal-writer"));
    assert!(matches!(
        blocking,
        Some(Err(StoreError::Journal(JournalError::WouldDeadlock)))
    ));
    let (what, r, _, _) = rx.recv().unwrap();
    assert_eq!(what, "nested");
    r.unwrap();
    store.close();
    let leases = open_mem(&mem).leases;
    assert_eq!(
        leases,
        vec![
            lease(1, BindingState::Active, 10),
            lease(2, BindingState::Active, 20)
        ]
    );
}

#[test]
fn an_empty_commit_completes_at_once_without_writing() {
    let store = open_mem(&MemBackend::new()).store;
    let (tx, rx) = mpsc::channel();
    store.commit(Vec::new(), Box::new(move |r| tx.send(r).unwrap()));
    rx.recv().unwrap().unwrap();
    store.commit_blocking(Vec::new()).unwrap();
    assert_eq!(store.stats().unwrap().appends, 0);
}

#[test]
fn an_unrepresentable_lease_fails_its_whole_commit() {
    let mem = MemBackend::new();
    let store = open_mem(&mem).store;
    let mut bad = lease(7, BindingState::Active, 1);
    bad.client_id = Some(vec![0; 300]);
    let err = store
        .commit_blocking(vec![lease(1, BindingState::Active, 1), bad])
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::InvalidLease(EncodeError::ClientIdTooLong { len: 300, .. })
    ));
    assert_eq!(
        err.to_string(),
        "cannot store lease 10.0.0.7: client identifier of 300 bytes (at most 255)"
    );
    assert_eq!(store.stats().unwrap().appends, 0);
    store.close();
    assert!(open_mem(&mem).leases.is_empty());
}

#[test]
fn after_close_calls_fail_and_the_directory_can_be_reopened() {
    let mem = MemBackend::new();
    let store = open_mem(&mem).store;
    store
        .commit_blocking(vec![lease(1, BindingState::Active, 1)])
        .unwrap();
    store.close();
    store.close(); // idempotent
    assert!(matches!(
        store.commit_blocking(vec![lease(2, BindingState::Active, 1)]),
        Err(StoreError::Closed)
    ));
    let (tx, rx) = mpsc::channel();
    store.commit(
        vec![lease(2, BindingState::Active, 1)],
        Box::new(move |r| tx.send(r).unwrap()),
    );
    assert!(matches!(rx.recv().unwrap(), Err(StoreError::Closed)));
    assert!(matches!(store.compact(&[]), Err(StoreError::Closed)));
    assert!(store.stats().is_none());
    assert_eq!(
        open_mem(&mem).leases,
        vec![lease(1, BindingState::Active, 1)]
    );
}

#[test]
fn commits_queued_before_close_complete() {
    let mem = MemBackend::new();
    let fault = FaultBackend::new(Arc::new(mem.clone()));
    fault.set_sync_delay(std::time::Duration::from_millis(5));
    let store = LeaseStore::open(&dir(), StoreOptions::with_backend(fault))
        .unwrap()
        .store;
    let (tx, rx) = mpsc::channel();
    for i in 1..=20 {
        let tx = tx.clone();
        store.commit(
            vec![lease(i, BindingState::Active, 1)],
            Box::new(move |r| tx.send(r).unwrap()),
        );
    }
    store.close();
    drop(tx);
    let results: Vec<_> = rx.iter().collect();
    assert_eq!(results.len(), 20);
    assert!(results.iter().all(Result::is_ok));
    mem.crash();
    assert_eq!(open_mem(&mem).leases.len(), 20);
}

fn three_commits(mem: &MemBackend) -> Vec<u64> {
    let store = open_mem(mem).store;
    for i in 1..=3 {
        store
            .commit_blocking(vec![lease(i, BindingState::Active, 1)])
            .unwrap();
    }
    store.close();
    // The frames only, without the journal's preallocated zeros.
    let mut ends = Vec::new();
    // Offsets just past each frame: 20-byte header, then equal-sized frames.
    let frame = frame_len(
        encode_changes(&[lease(1, BindingState::Active, 1)])
            .unwrap()
            .len(),
    );
    for i in 1..=3u64 {
        ends.push(20 + i * frame as u64);
    }
    let bytes = mem.contents(&jpath()).unwrap();
    mem.set_contents(&jpath(), &bytes[..ends[2] as usize]);
    ends
}

#[test]
fn a_torn_tail_is_cut_with_a_warning_and_the_rest_kept() {
    let mem = MemBackend::new();
    let ends = three_commits(&mem);
    let full = mem.contents(&jpath()).unwrap();
    assert_eq!(full.len() as u64, ends[2]);
    // Cut the last commit at every length that leaves it incomplete.
    for cut in ends[1] + 1..ends[2] {
        let mem = MemBackend::new();
        mem.set_contents(&jpath(), &full[..cut as usize]);
        let opened = open_mem(&mem);
        assert_eq!(
            opened.leases,
            vec![
                lease(1, BindingState::Active, 1),
                lease(2, BindingState::Active, 1)
            ],
            "cut at {cut}"
        );
        assert_eq!(opened.warnings.len(), 1, "{:?}", opened.warnings);
        let w = &opened.warnings[0];
        // Counted up to the last non-zero byte of the torn frame.
        let torn = &full[ends[1] as usize..cut as usize];
        let damaged = torn.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        assert!(
            w.starts_with(&format!(
                "lease journal {}: cut {damaged} damaged bytes at offset {}",
                jpath().display(),
                ends[1]
            )),
            "{w}"
        );
        // The store keeps working after the cut.
        opened
            .store
            .commit_blocking(vec![lease(4, BindingState::Active, 1)])
            .unwrap();
        opened.store.close();
        let again = open_mem(&mem);
        assert!(again.warnings.is_empty());
        assert_eq!(again.leases.len(), 3);
    }
}

#[test]
fn a_torn_write_from_a_failing_disk_is_cut_on_reopen() {
    let mem = MemBackend::new();
    let fault = FaultBackend::new(Arc::new(mem.clone()));
    let store = LeaseStore::open(&dir(), StoreOptions::with_backend(fault.clone()))
        .unwrap()
        .store;
    store
        .commit_blocking(vec![lease(1, BindingState::Active, 1)])
        .unwrap();
    fault.tear_nth_write(1, 30);
    let err = store
        .commit_blocking(vec![lease(2, BindingState::Active, 1)])
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Journal(JournalError::Io { .. })),
        "{err}"
    );
    store.close();
    let opened = open_mem(&mem);
    assert_eq!(opened.leases, vec![lease(1, BindingState::Active, 1)]);
    assert_eq!(opened.warnings.len(), 1);
    assert!(
        opened.warnings[0].contains("damaged bytes at offset"),
        "{:?}",
        opened.warnings
    );
}

#[test]
fn zeros_after_the_last_commit_are_free_room_not_damage() {
    let mem = MemBackend::new();
    three_commits(&mem);
    let mut bytes = mem.contents(&jpath()).unwrap();
    bytes.extend_from_slice(&[0; 4096]);
    mem.set_contents(&jpath(), &bytes);
    let opened = open_mem(&mem);
    assert_eq!(opened.leases.len(), 3);
    assert!(opened.warnings.is_empty(), "{:?}", opened.warnings);
}

/// Writes raw journal entries, bypassing the store.
fn raw_journal(mem: &MemBackend, entries: &[(u16, Vec<u8>)]) {
    let (j, _) = Journal::open(jpath(), Options::with_backend(mem.clone())).unwrap();
    for (kind, payload) in entries {
        j.append_blocking(*kind, payload.clone()).unwrap();
    }
}

fn open_err(mem: &MemBackend) -> StoreError {
    LeaseStore::open(&dir(), StoreOptions::with_backend(mem.clone())).unwrap_err()
}

fn changes(i: u8) -> (u16, Vec<u8>) {
    (
        KIND_CHANGES,
        encode_changes(&[lease(i, BindingState::Active, 1)]).unwrap(),
    )
}

#[test]
fn an_undecodable_entry_is_an_error_naming_file_offset_and_defect() {
    let mem = MemBackend::new();
    let mut bad = encode_changes(&[lease(5, BindingState::Active, 1)]).unwrap();
    bad[5 + 4] = 42; // the binding state
    raw_journal(&mem, &[changes(1), (KIND_CHANGES, bad)]);
    let before = mem.contents(&jpath()).unwrap();
    let err = open_err(&mem);
    let StoreError::Payload {
        path,
        offset,
        kind,
        source,
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(path, &jpath());
    assert_eq!(
        (*kind, *offset),
        (KIND_CHANGES, 20 + frame_len(changes(1).1.len()) as u64)
    );
    assert!(matches!(
        source,
        DecodeError::BadState {
            code: 42,
            index: 0,
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        format!(
            "lease journal {}: entry at offset {offset} (kind 1) does not decode: lease 0 \
             (10.0.0.5): unknown binding state code 42",
            jpath().display()
        )
    );
    // Refusing leaves the file as it was.
    assert_eq!(mem.contents(&jpath()).unwrap(), before);
}

#[test]
fn an_entry_of_unknown_kind_is_refused() {
    let mem = MemBackend::new();
    raw_journal(&mem, &[changes(1), (77, b"from the future".to_vec())]);
    assert!(matches!(
        open_err(&mem),
        StoreError::UnknownKind { kind: 77, .. }
    ));
}

fn checkpoint(parts_of: &[Lease], frame: usize) -> Vec<(u16, Vec<u8>)> {
    encode_checkpoint(parts_of, frame)
        .unwrap()
        .into_iter()
        .map(|p| (KIND_CHECKPOINT, p))
        .collect()
}

fn ten() -> Vec<Lease> {
    (1..=10)
        .map(|i| lease(i, BindingState::Active, 1))
        .collect()
}

#[test]
fn a_checkpoint_after_changes_is_refused() {
    let mem = MemBackend::new();
    let mut entries = vec![changes(1)];
    entries.extend(checkpoint(&ten(), 1 << 20));
    raw_journal(&mem, &entries);
    let err = open_err(&mem);
    assert!(
        matches!(
            err,
            StoreError::Checkpoint {
                problem: CheckpointProblem::Misplaced { part: 0, parts: 1 },
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn checkpoint_parts_out_of_order_are_refused() {
    let mem = MemBackend::new();
    let mut parts = checkpoint(&ten(), 300); // several parts
    assert!(parts.len() >= 3);
    parts.swap(1, 2);
    raw_journal(&mem, &parts);
    let err = open_err(&mem);
    assert!(
        matches!(
            err,
            StoreError::Checkpoint {
                problem: CheckpointProblem::OutOfOrder {
                    expected: 1,
                    part: 2,
                    ..
                },
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_checkpoint_interrupted_by_changes_is_refused() {
    let mem = MemBackend::new();
    let mut entries = checkpoint(&ten(), 300);
    let n = entries.len() as u32;
    entries.pop();
    entries.push(changes(11));
    raw_journal(&mem, &entries);
    let err = open_err(&mem);
    assert!(
        matches!(
            err,
            StoreError::Checkpoint {
                problem: CheckpointProblem::Incomplete { found, parts },
                ..
            } if found == n - 1 && parts == n
        ),
        "{err}"
    );
}

#[test]
fn a_checkpoint_whose_last_frame_was_cut_needs_the_operators_override() {
    let mem = MemBackend::new();
    let store = LeaseStore::open(
        &dir(),
        StoreOptions {
            checkpoint_frame_bytes: 300,
            ..StoreOptions::with_backend(mem.clone())
        },
    )
    .unwrap()
    .store;
    store.compact(&ten()).unwrap();
    store.close();
    let bytes = mem.contents(&jpath()).unwrap();
    mem.set_contents(&jpath(), &bytes[..bytes.len() - 1]);

    // Strict: the cut frame held acknowledged leases; refuse to start.
    let err = open_err(&mem);
    assert!(
        matches!(
            err,
            StoreError::Checkpoint {
                problem: CheckpointProblem::Incomplete { .. },
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("TruncateAtFirstDamage"), "{err}");

    // The override keeps the parts that remain and says what was lost.
    let mut options = StoreOptions::with_backend(mem.clone());
    options.journal.recovery = tandem_journal::RecoveryMode::TruncateAtFirstDamage;
    let opened = LeaseStore::open(&dir(), options).unwrap();
    assert!(!opened.leases.is_empty() && opened.leases.len() < 10);
    assert_eq!(opened.leases, ten()[..opened.leases.len()].to_vec());
    // The journal already cut the damaged bytes during the refused open (they
    // were unreadable either way), so only the checkpoint warning remains.
    assert_eq!(opened.warnings.len(), 1, "{:?}", opened.warnings);
    assert!(opened.warnings[0].contains("the checkpoint ends after"));
}

#[test]
fn a_file_that_is_not_a_journal_is_refused() {
    let mem = MemBackend::new();
    mem.set_contents(
        &jpath(),
        b"lease 10.0.0.1 { starts 4 2024/01/01 00:00:00; }\n",
    );
    let err = open_err(&mem);
    assert!(
        matches!(err, StoreError::Journal(JournalError::BadMagic { .. })),
        "{err}"
    );
    assert!(err.to_string().contains(&jpath().display().to_string()));
}

#[test]
fn a_missing_directory_is_an_io_error() {
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let err = LeaseStore::open(&tmp.path().join("nope"), StoreOptions::default()).unwrap_err();
    assert!(
        matches!(err, StoreError::Journal(JournalError::Io { .. })),
        "{err}"
    );
}
