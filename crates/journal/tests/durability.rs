//! Durability under injected faults and simulated power loss, group commit,
//! and compaction.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use tandem_journal::{
    FaultBackend, Journal, JournalError, Lsn, MemBackend, Options, MAX_PAYLOAD_LEN,
};

fn path() -> PathBuf {
    PathBuf::from("/d/leases.journal")
}

fn faulty() -> (MemBackend, FaultBackend) {
    let mem = MemBackend::new();
    let fault = FaultBackend::new(Arc::new(mem.clone()));
    (mem, fault)
}

fn payloads(replay: &tandem_journal::Replay) -> Vec<Vec<u8>> {
    replay.entries.iter().map(|e| e.payload.clone()).collect()
}

fn entry(i: usize) -> Vec<u8> {
    format!("lease-change-{i:04}").into_bytes()
}

#[test]
fn acknowledged_entries_survive_power_loss() {
    let mem = MemBackend::new();
    let (j, _) = Journal::open(path(), Options::with_backend(mem.clone())).unwrap();
    for i in 0..20 {
        j.append_blocking(1, entry(i)).unwrap();
    }
    mem.crash();
    drop(j);
    let (_j, replay) = Journal::open(path(), Options::with_backend(mem)).unwrap();
    assert_eq!(payloads(&replay), (0..20).map(entry).collect::<Vec<_>>());
    assert!(replay.truncated.is_none());
}

#[test]
fn returned_positions_match_replay_offsets() {
    let mem = MemBackend::new();
    let (j, _) = Journal::open(path(), Options::with_backend(mem.clone())).unwrap();
    let lsns: Vec<Lsn> = (0..5)
        .map(|i| j.append_blocking(i as u16, entry(i)).unwrap())
        .collect();
    drop(j);
    let (_j, replay) = Journal::open(path(), Options::with_backend(mem)).unwrap();
    let offsets: Vec<Lsn> = replay.entries.iter().map(|e| e.offset).collect();
    assert_eq!(offsets, lsns);
    let kinds: Vec<u16> = replay.entries.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, vec![0, 1, 2, 3, 4]);
}

#[test]
fn failed_fsync_is_reported_and_poisons_the_journal() {
    let (mem, fault) = faulty();
    let (j, _) = Journal::open(path(), Options::with_backend(fault.clone())).unwrap();
    j.append_blocking(1, entry(0)).unwrap();
    fault.fail_nth_sync(1);
    let err = j.append_blocking(1, entry(1)).unwrap_err();
    assert!(
        matches!(
            err,
            JournalError::Io {
                op: "fdatasync",
                ..
            }
        ),
        "{err}"
    );
    assert!(j.is_poisoned());
    // The disk would accept the next sync, but after a failed fsync nothing
    // written before it can be trusted: keep refusing.
    let err = j.append_blocking(1, entry(2)).unwrap_err();
    assert!(matches!(err, JournalError::Poisoned { .. }), "{err}");
    assert!(j.compact(2, vec![b"snap".to_vec()]).is_err());
    assert_eq!(j.stats().appends, 1);
    drop(j);

    // Reopening recovers. An entry whose append failed may still be there
    // (here its write reached the page cache and nothing crashed): callers
    // must treat "failed" as "unknown", never as "absent".
    let (j, replay) = Journal::open(path(), Options::with_backend(fault)).unwrap();
    assert_eq!(payloads(&replay), vec![entry(0), entry(1)]);
    drop(j);
    mem.crash();
    let (j, replay) = Journal::open(path(), Options::with_backend(mem)).unwrap();
    assert_eq!(payloads(&replay), vec![entry(0), entry(1)]);
    j.append_blocking(1, entry(3)).unwrap();
}

#[test]
fn a_failed_fsync_fails_every_waiter_of_its_batch() {
    let (_mem, fault) = faulty();
    fault.set_sync_delay(Duration::from_millis(100));
    let (j, _) = Journal::open(path(), Options::with_backend(fault.clone())).unwrap();
    // Occupy the writer with a slow first sync, queue five more behind it,
    // and fail the sync that covers those five.
    let opened = fault.counters().syncs; // the header sync
    let first = {
        let j = j.clone();
        std::thread::spawn(move || j.append_blocking(1, entry(0)))
    };
    while fault.counters().syncs <= opened {
        std::thread::sleep(Duration::from_millis(1));
    }
    fault.fail_nth_sync(1);
    let (tx, rx) = mpsc::channel();
    for i in 1..=5 {
        let tx = tx.clone();
        j.submit(
            1,
            entry(i),
            Box::new(move |r| {
                tx.send(r).unwrap();
            }),
        );
    }
    drop(tx);
    assert!(first.join().unwrap().is_ok());
    let results: Vec<_> = rx.iter().collect();
    assert_eq!(results.len(), 5);
    for r in results {
        match r {
            Err(JournalError::Io {
                op: "fdatasync", ..
            }) => {}
            other => panic!("expected the batch's fsync error, got {other:?}"),
        }
    }
    assert_eq!(j.stats().appends, 1);
    assert_eq!(j.stats().batches, 1);
}

#[test]
fn torn_write_is_cut_off_on_reopen() {
    let (mem, fault) = faulty();
    let (j, _) = Journal::open(path(), Options::with_backend(fault.clone())).unwrap();
    j.append_blocking(1, entry(0)).unwrap();
    let end = j.len();
    fault.tear_nth_write(1, 7);
    let err = j.append_blocking(1, entry(1)).unwrap_err();
    assert!(matches!(err, JournalError::Io { op: "write", .. }), "{err}");
    assert!(j.is_poisoned());
    drop(j);
    // The torn bytes sit in the zero-filled room the first append made.
    let image = mem.contents(&path()).unwrap();
    assert!(image.len() as u64 > end + 7);
    assert!(image[end as usize + 7..].iter().all(|&b| b == 0));

    let (j, replay) = Journal::open(path(), Options::with_backend(fault)).unwrap();
    assert_eq!(payloads(&replay), vec![entry(0)]);
    let t = replay.truncated.unwrap();
    assert_eq!((t.offset, t.bytes_dropped), (end, 7));
    assert_eq!(mem.contents(&path()).unwrap().len() as u64, end);
    assert_eq!(j.append_blocking(1, entry(2)).unwrap(), end);
}

#[test]
fn failed_write_poisons() {
    let (_mem, fault) = faulty();
    let (j, _) = Journal::open(path(), Options::with_backend(fault.clone())).unwrap();
    fault.fail_nth_write(1);
    assert!(j.append_blocking(1, entry(0)).is_err());
    assert!(matches!(
        j.append_blocking(1, entry(1)),
        Err(JournalError::Poisoned { .. })
    ));
}

#[test]
fn concurrent_appends_share_fsyncs() {
    // A slow sync makes batching deterministic on the in-memory backend.
    let (mem, fault) = faulty();
    fault.set_sync_delay(Duration::from_millis(2));
    let (j, _) = Journal::open(path(), Options::with_backend(fault)).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let j = j.clone();
            std::thread::spawn(move || {
                let mut lsns = Vec::new();
                for i in 0..25 {
                    let payload = format!("t{t}-{i:03}").into_bytes();
                    lsns.push(j.append_blocking(1, payload).unwrap());
                }
                lsns
            })
        })
        .collect();
    for t in threads {
        let lsns = t.join().unwrap();
        // Each thread's entries are ordered as it appended them.
        assert!(lsns.windows(2).all(|w| w[0] < w[1]));
    }
    let s = j.stats();
    assert_eq!(s.appends, 200);
    assert!(s.syncs < s.appends / 2, "no group commit: {s:?}");
    assert!(s.largest_batch > 1, "{s:?}");
    drop(j);

    let (_j, replay) = Journal::open(path(), Options::with_backend(mem)).unwrap();
    assert_eq!(replay.entries.len(), 200);
    for t in 0..8 {
        let mine: Vec<Vec<u8>> = replay
            .entries
            .iter()
            .filter(|e| e.payload.starts_with(format!("t{t}-").as_bytes()))
            .map(|e| e.payload.clone())
            .collect();
        let want: Vec<Vec<u8>> = (0..25)
            .map(|i| format!("t{t}-{i:03}").into_bytes())
            .collect();
        assert_eq!(mine, want);
    }
}

#[test]
fn concurrent_appends_share_fsyncs_on_a_real_file() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let file = dir.path().join("j");
    let (j, _) = Journal::open(&file, Options::default()).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let j = j.clone();
            std::thread::spawn(move || {
                for i in 0..100 {
                    j.append_blocking(1, format!("{t}/{i}")).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let s = j.stats();
    assert_eq!(s.appends, 800);
    assert!(s.syncs < s.appends, "fsyncs {} >= appends", s.syncs);
    drop(j);
    let (_j, replay) = Journal::open(&file, Options::default()).unwrap();
    assert_eq!(replay.entries.len(), 800);
}

#[test]
fn dropping_the_journal_completes_queued_appends() {
    let (mem, fault) = faulty();
    fault.set_sync_delay(Duration::from_millis(1));
    let (j, _) = Journal::open(path(), Options::with_backend(fault)).unwrap();
    let ok = Arc::new(AtomicUsize::new(0));
    for i in 0..100 {
        let ok = ok.clone();
        j.submit(
            1,
            entry(i),
            Box::new(move |r| {
                r.unwrap();
                ok.fetch_add(1, Ordering::SeqCst);
            }),
        );
    }
    drop(j);
    assert_eq!(ok.load(Ordering::SeqCst), 100);
    let (_j, replay) = Journal::open(path(), Options::with_backend(mem)).unwrap();
    assert_eq!(replay.entries.len(), 100);
}

#[test]
fn blocking_from_a_callback_is_refused_instead_of_deadlocking() {
    let (j, _) = Journal::open(path(), Options::with_backend(MemBackend::new())).unwrap();
    let (tx, rx) = mpsc::channel();
    let inner = j.clone();
    j.submit(
        1,
        entry(0),
        Box::new(move |r| {
            r.unwrap();
            tx.send(inner.append_blocking(1, entry(1))).unwrap();
        }),
    );
    assert!(matches!(
        rx.recv().unwrap(),
        Err(JournalError::WouldDeadlock)
    ));
}

#[test]
fn oversized_entries_are_rejected() {
    let (j, _) = Journal::open(path(), Options::with_backend(MemBackend::new())).unwrap();
    let big = vec![0u8; MAX_PAYLOAD_LEN as usize + 1];
    assert!(matches!(
        j.append_blocking(1, big),
        Err(JournalError::EntryTooLarge { .. })
    ));
    assert!(!j.is_poisoned());
}

#[test]
fn compaction_replaces_the_log_and_keeps_later_appends() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let file = dir.path().join("zone.journal");
    let (j, _) = Journal::open(&file, Options::default()).unwrap();
    for i in 0..100 {
        j.append_blocking(1, entry(i)).unwrap();
    }
    let before = j.len();
    assert!(before <= std::fs::metadata(&file).unwrap().len());
    let report = j
        .compact(2, vec![b"snapshot part 1".to_vec(), b"part 2".to_vec()])
        .unwrap();
    assert_eq!(report.bytes_before, before);
    assert_eq!(report.bytes_after, j.len());
    assert!(j.len() < before / 10);
    assert_eq!(report.offsets.len(), 2);
    assert_eq!(j.stats().entries, 2);
    j.append_blocking(1, entry(100)).unwrap();
    drop(j);

    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1, "temporary file left behind");
    let (_j, replay) = Journal::open(&file, Options::default()).unwrap();
    let got: Vec<(u16, Vec<u8>)> = replay
        .entries
        .iter()
        .map(|e| (e.kind, e.payload.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (2, b"snapshot part 1".to_vec()),
            (2, b"part 2".to_vec()),
            (1, entry(100))
        ]
    );
    assert_eq!(replay.entries[0].offset, report.offsets[0]);
}

#[test]
fn compaction_failing_before_rename_keeps_the_old_log_usable() {
    let (mem, fault) = faulty();
    let (j, _) = Journal::open(path(), Options::with_backend(fault.clone())).unwrap();
    for i in 0..3 {
        j.append_blocking(1, entry(i)).unwrap();
    }
    fault.fail_nth_sync(1); // the temporary file's sync
    assert!(j.compact(2, vec![b"snap".to_vec()]).is_err());
    fault.fail_nth_rename(1);
    assert!(j.compact(2, vec![b"snap".to_vec()]).is_err());
    assert!(!j.is_poisoned());
    assert_eq!(mem.list(), vec![path()], "temporary file left behind");
    j.append_blocking(1, entry(3)).unwrap();
    drop(j);
    mem.crash();
    let (_j, replay) = Journal::open(path(), Options::with_backend(mem)).unwrap();
    assert_eq!(payloads(&replay), (0..4).map(entry).collect::<Vec<_>>());
}

#[test]
fn crash_between_rename_and_directory_sync_leaves_one_valid_log() {
    let (mem, fault) = faulty();
    let (j, _) = Journal::open(path(), Options::with_backend(fault.clone())).unwrap();
    for i in 0..3 {
        j.append_blocking(1, entry(i)).unwrap();
    }
    fault.fail_nth_dir_sync(1);
    assert!(j.compact(2, vec![b"snap".to_vec()]).is_err());
    // The rename may not be durable, so acknowledging appends to the new
    // file could lose them: the journal must refuse.
    assert!(j.is_poisoned());
    assert!(j.append_blocking(1, entry(3)).is_err());
    drop(j);
    mem.crash(); // the rename was never made durable: the old log is back
    let (_j, replay) = Journal::open(path(), Options::with_backend(mem)).unwrap();
    assert_eq!(payloads(&replay), (0..3).map(entry).collect::<Vec<_>>());
}

#[test]
fn completed_compaction_survives_power_loss() {
    let mem = MemBackend::new();
    let (j, _) = Journal::open(path(), Options::with_backend(mem.clone())).unwrap();
    for i in 0..3 {
        j.append_blocking(1, entry(i)).unwrap();
    }
    j.compact(2, vec![b"snap".to_vec()]).unwrap();
    j.append_blocking(1, entry(3)).unwrap();
    mem.crash();
    drop(j);
    let (_j, replay) = Journal::open(path(), Options::with_backend(mem)).unwrap();
    assert_eq!(payloads(&replay), vec![b"snap".to_vec(), entry(3)]);
}

#[test]
fn leftover_compaction_file_is_removed_on_open() {
    let mem = MemBackend::new();
    let tmp = PathBuf::from("/d/leases.journal.compact.tmp");
    mem.set_contents(&tmp, b"half a snapshot");
    let (_j, replay) = Journal::open(path(), Options::with_backend(mem.clone())).unwrap();
    assert!(replay.removed_stale_tmp);
    assert_eq!(mem.list(), vec![path()]);
}

#[test]
fn new_journal_is_durable_after_power_loss() {
    // Creating the file must also sync its directory entry.
    let mem = MemBackend::new();
    let (j, replay) = Journal::open(path(), Options::with_backend(mem.clone())).unwrap();
    assert!(replay.fresh);
    j.append_blocking(1, entry(0)).unwrap();
    mem.crash();
    drop(j);
    let (_j, replay) = Journal::open(path(), Options::with_backend(mem)).unwrap();
    assert!(!replay.fresh);
    assert_eq!(payloads(&replay), vec![entry(0)]);
}

#[test]
fn a_panicking_callback_does_not_stop_the_writer() {
    let (j, _) = Journal::open(path(), Options::with_backend(MemBackend::new())).unwrap();
    j.submit(1, entry(0), Box::new(|_| panic!("callback bug")));
    assert!(j.append_blocking(1, entry(1)).is_ok());
    assert_eq!(j.stats().appends, 2);
}

#[test]
fn journal_handles_are_shareable() {
    fn shareable<T: Send + Sync + Clone + 'static>() {}
    shareable::<Journal>();
}

#[test]
fn batch_size_is_bounded_by_max_batch_bytes() {
    let (_mem, fault) = faulty();
    fault.set_sync_delay(Duration::from_millis(1));
    let opts = Options {
        max_batch_bytes: 60, // room for two 17-byte payload frames (27 bytes each)
        ..Options::with_backend(fault)
    };
    let (j, _) = Journal::open(path(), opts).unwrap();
    let (tx, rx) = mpsc::channel();
    for i in 0..40 {
        let tx = tx.clone();
        j.submit(1, entry(i), Box::new(move |r| tx.send(r).unwrap()));
    }
    drop(tx);
    assert_eq!(rx.iter().filter(|r| r.is_ok()).count(), 40);
    let s = j.stats();
    assert_eq!(s.largest_batch, 2, "{s:?}");
    assert!(s.batches >= 20, "{s:?}");
}

#[test]
fn appends_overwrite_preallocated_zeros_and_reopen_sees_no_damage() {
    let mem = MemBackend::new();
    let (j, _) = Journal::open(path(), Options::with_backend(mem.clone())).unwrap();
    j.append_blocking(1, entry(0)).unwrap();
    let grown = mem.contents(&path()).unwrap().len();
    assert!(grown >= 64 << 10, "the first append makes room: {grown}");
    for i in 1..100 {
        j.append_blocking(1, entry(i)).unwrap();
    }
    let end = j.len() as usize;
    let image = mem.contents(&path()).unwrap();
    assert_eq!(
        image.len(),
        grown,
        "appends inside the room do not grow the file"
    );
    assert!(image[end..].iter().all(|&b| b == 0));
    mem.crash();
    drop(j);

    let (j, replay) = Journal::open(path(), Options::with_backend(mem.clone())).unwrap();
    assert!(replay.truncated.is_none(), "{:?}", replay.truncated);
    assert_eq!(payloads(&replay), (0..100).map(entry).collect::<Vec<_>>());
    assert_eq!(j.append_blocking(1, entry(100)).unwrap(), end as u64);
    drop(j);
    let (_j, replay) = Journal::open(path(), Options::with_backend(mem)).unwrap();
    assert_eq!(replay.entries.len(), 101);
}

#[test]
fn without_preallocation_the_file_ends_at_the_last_frame() {
    let mem = MemBackend::new();
    let options = Options {
        preallocate: false,
        ..Options::with_backend(mem.clone())
    };
    let (j, _) = Journal::open(path(), options).unwrap();
    for i in 0..10 {
        j.append_blocking(1, entry(i)).unwrap();
    }
    assert_eq!(mem.contents(&path()).unwrap().len() as u64, j.len());
}

#[test]
fn a_failed_preallocation_does_not_fail_the_append() {
    let (mem, fault) = faulty();
    let (j, _) = Journal::open(path(), Options::with_backend(fault.clone())).unwrap();
    // The first append's second write is the zero fill (a full disk, say).
    fault.fail_nth_write(2);
    j.append_blocking(1, entry(0)).unwrap();
    assert!(!j.is_poisoned());
    assert_eq!(mem.contents(&path()).unwrap().len() as u64, j.len());
    // The next batch tries again.
    j.append_blocking(1, entry(1)).unwrap();
    assert!(mem.contents(&path()).unwrap().len() as u64 > j.len());
    drop(j);
    let (_j, replay) = Journal::open(path(), Options::with_backend(fault)).unwrap();
    assert_eq!(payloads(&replay), vec![entry(0), entry(1)]);
    assert!(replay.truncated.is_none());
}
