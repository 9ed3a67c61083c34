//! What survives a crash: nothing whose commit completed `Ok` is lost, group
//! commit shares syncs between concurrent committers, and compaction keeps
//! the table and is atomic.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use tandem_dhcp::{BindingState, HwAddr, Lease};
use tandem_journal::{FaultBackend, JournalError, MemBackend};
use tandem_leasestore::{LeaseStore, Opened, StoreError, StoreOptions, JOURNAL_FILE};

fn dir() -> PathBuf {
    PathBuf::from("/state/dhcp")
}

fn lease(n: u32, state: BindingState, end: u64) -> Lease {
    Lease {
        hw: Some(HwAddr::ethernet([
            2,
            0,
            0,
            (n >> 16) as u8,
            (n >> 8) as u8,
            n as u8,
        ])),
        client_id: Some(n.to_be_bytes().to_vec()),
        end,
        ..Lease::new(Ipv4Addr::from(0x0a00_0000 + n), state)
    }
}

fn faulty() -> (MemBackend, FaultBackend) {
    let mem = MemBackend::new();
    let fault = FaultBackend::new(Arc::new(mem.clone()));
    (mem, fault)
}

fn open(mem: &MemBackend) -> Opened {
    LeaseStore::open(&dir(), StoreOptions::with_backend(mem.clone())).unwrap()
}

fn open_with(fault: &FaultBackend, max_size: u64) -> LeaseStore {
    LeaseStore::open(
        &dir(),
        StoreOptions {
            max_size,
            ..StoreOptions::with_backend(fault.clone())
        },
    )
    .unwrap()
    .store
}

fn by_addr(leases: impl IntoIterator<Item = Lease>) -> Vec<Lease> {
    let map: BTreeMap<Ipv4Addr, Lease> = leases.into_iter().map(|l| (l.addr, l)).collect();
    map.into_values().collect()
}

#[test]
fn acknowledged_commits_survive_power_loss() {
    let mem = MemBackend::new();
    let store = open(&mem).store;
    let mut want = Vec::new();
    for i in 0..30 {
        let l = lease(i % 10, BindingState::Active, u64::from(i));
        store.commit_blocking(vec![l.clone()]).unwrap();
        want.push(l);
    }
    mem.crash();
    store.close();
    assert_eq!(open(&mem).leases, by_addr(want));
}

#[test]
fn a_failed_sync_loses_only_the_commit_that_was_told_so() {
    let (mem, fault) = faulty();
    let store = open_with(&fault, u64::MAX);
    store
        .commit_blocking(vec![lease(1, BindingState::Active, 1)])
        .unwrap();
    store
        .commit_blocking(vec![lease(2, BindingState::Active, 1)])
        .unwrap();
    fault.fail_nth_sync(1);
    let err = store
        .commit_blocking(vec![lease(3, BindingState::Active, 1)])
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Journal(JournalError::Io {
                op: "fdatasync",
                ..
            })
        ),
        "{err}"
    );
    // After a failed sync nothing more is acknowledged.
    let err = store
        .commit_blocking(vec![lease(4, BindingState::Active, 1)])
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Journal(JournalError::Poisoned { .. })),
        "{err}"
    );
    store.close();

    // The failed commit's bytes reached the page cache...
    let live = mem.contents(&dir().join(JOURNAL_FILE)).unwrap();
    // ...and the power fails before they reach the disk.
    mem.crash();
    let durable = mem.contents(&dir().join(JOURNAL_FILE)).unwrap();
    assert_ne!(durable, live);
    let opened = open(&mem);
    assert!(opened.warnings.is_empty(), "{:?}", opened.warnings);
    assert_eq!(
        opened.leases,
        vec![
            lease(1, BindingState::Active, 1),
            lease(2, BindingState::Active, 1)
        ]
    );
}

#[test]
fn a_failed_commit_may_still_be_replayed_if_the_disk_kept_it() {
    // "Failed" means "unknown": without a power loss the page cache kept the
    // bytes, so the lease is back after a restart. The DHCP server never sent
    // an ACK for it, and must tolerate finding it.
    let (mem, fault) = faulty();
    let store = open_with(&fault, u64::MAX);
    fault.fail_nth_sync(1);
    assert!(store
        .commit_blocking(vec![lease(1, BindingState::Active, 1)])
        .is_err());
    store.close();
    assert_eq!(open(&mem).leases, vec![lease(1, BindingState::Active, 1)]);
}

#[test]
fn a_failed_sync_fails_every_committer_of_its_batch() {
    let (mem, fault) = faulty();
    fault.set_sync_delay(Duration::from_millis(50));
    let store = open_with(&fault, u64::MAX);
    let syncs_at_open = fault.counters().syncs;
    let (tx, rx) = mpsc::channel();
    // The first commit occupies the writer in a slow sync; the next five
    // queue behind it and share the sync that is made to fail.
    let first_tx = tx.clone();
    store.commit(
        vec![lease(0, BindingState::Active, 1)],
        Box::new(move |r| first_tx.send((0, r)).unwrap()),
    );
    while fault.counters().syncs == syncs_at_open {
        std::thread::sleep(Duration::from_millis(1));
    }
    fault.fail_nth_sync(1);
    for i in 1..=5 {
        let tx = tx.clone();
        store.commit(
            vec![lease(i, BindingState::Active, 1)],
            Box::new(move |r| tx.send((i, r)).unwrap()),
        );
    }
    drop(tx);
    let mut results: Vec<(u32, Result<(), StoreError>)> = rx.iter().collect();
    results.sort_by_key(|(i, _)| *i);
    assert!(results[0].1.is_ok());
    assert!(results[1..].iter().all(|(_, r)| r.is_err()), "{results:?}");
    store.close();
    mem.crash();
    assert_eq!(open(&mem).leases, vec![lease(0, BindingState::Active, 1)]);
}

#[test]
fn concurrent_commits_from_8_threads_are_all_durable_and_share_syncs() {
    // A slow sync makes the batching deterministic in memory.
    let (mem, fault) = faulty();
    fault.set_sync_delay(Duration::from_millis(2));
    let store = Arc::new(open_with(&fault, u64::MAX));
    let threads: Vec<_> = (0..8u32)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..25u32 {
                    // Each thread rewrites its own 5 addresses, so the
                    // replayed version shows that its commits kept their order.
                    let n = t * 100 + i % 5;
                    store
                        .commit_blocking(vec![lease(n, BindingState::Active, u64::from(i))])
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let s = store.stats().unwrap();
    assert_eq!(s.appends, 200);
    assert!(s.batches < s.appends / 2, "no group commit: {s:?}");
    assert!(s.largest_batch > 1);
    store.close();
    mem.crash();
    let want: Vec<Lease> = (0..8u32)
        .flat_map(|t| {
            (20..25u32).map(move |i| lease(t * 100 + i % 5, BindingState::Active, u64::from(i)))
        })
        .collect();
    assert_eq!(open(&mem).leases, by_addr(want));
}

#[test]
fn concurrent_commits_on_a_real_file_share_syncs() {
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let store = Arc::new(
        LeaseStore::open(tmp.path(), StoreOptions::default())
            .unwrap()
            .store,
    );
    // Callback commits keep many requests in flight per thread, so batching
    // happens however fast this disk syncs.
    let threads: Vec<_> = (0..8u32)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                let (tx, rx) = mpsc::channel();
                for i in 0..100u32 {
                    let tx = tx.clone();
                    store.commit(
                        vec![lease(t * 1000 + i, BindingState::Active, 1)],
                        Box::new(move |r| tx.send(r).unwrap()),
                    );
                }
                drop(tx);
                rx.iter().collect::<Result<Vec<()>, _>>().unwrap().len()
            })
        })
        .collect();
    let done: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(done, 800);
    let s = store.stats().unwrap();
    assert_eq!(s.appends, 800);
    assert!(
        s.syncs < s.appends,
        "fsyncs {} >= commits {}",
        s.syncs,
        s.appends
    );
    store.close();
    let opened = LeaseStore::open(tmp.path(), StoreOptions::default()).unwrap();
    assert_eq!(opened.leases.len(), 800);
}

/// Commits `rounds` versions of 20 leases one at a time and returns the table.
fn churn(store: &LeaseStore, rounds: u64) -> Vec<Lease> {
    let mut table = BTreeMap::new();
    for r in 0..rounds {
        for n in 0..20 {
            let l = lease(n, BindingState::Active, r);
            store.commit_blocking(vec![l.clone()]).unwrap();
            table.insert(l.addr, l);
        }
    }
    table.into_values().collect()
}

#[test]
fn compaction_keeps_the_table_and_reopen_after_it_is_identical() {
    let (mem, fault) = faulty();
    let store = open_with(&fault, 4096);
    let table = churn(&store, 10);
    let before = store.stats().unwrap().len;
    assert!(before > 4096);
    assert!(store.compact_if_needed(&table).unwrap());
    let after = store.stats().unwrap();
    assert!(after.len < before / 5, "{before} -> {}", after.len);
    assert_eq!(after.entries, 1);
    // Just compacted: nothing more to do.
    assert!(!store.compact_if_needed(&table).unwrap());
    store.close();

    let reopened = open(&mem);
    assert!(reopened.warnings.is_empty());
    assert_eq!(reopened.leases, table);

    // And it survives a power loss (the rename and directory were synced).
    mem.crash();
    assert_eq!(open(&mem).leases, table);
}

#[test]
fn commits_after_compaction_win_over_the_checkpoint() {
    let mem = MemBackend::new();
    let store = open(&mem).store;
    let mut table = churn(&store, 3);
    store.compact(&table).unwrap();
    let newer = lease(5, BindingState::Released, 99);
    store.commit_blocking(vec![newer.clone()]).unwrap();
    table[5] = newer;
    store.close();
    mem.crash();
    assert_eq!(open(&mem).leases, table);
}

#[test]
fn compaction_drops_leases_left_out_of_the_table_once_they_stop_changing() {
    let mem = MemBackend::new();
    let store = open(&mem).store;
    let table = churn(&store, 2);
    let kept: Vec<Lease> = table
        .iter()
        .filter(|l| u32::from(l.addr) % 2 == 0)
        .cloned()
        .collect();
    // Everything was committed since the last compaction (there was none),
    // so this checkpoint still covers all of it...
    store.compact(&kept).unwrap();
    // ...and the next one drops what the caller left out.
    store.compact(&kept).unwrap();
    store.close();
    assert_eq!(open(&mem).leases, kept);
}

#[test]
fn a_commit_racing_with_the_callers_snapshot_survives_compaction() {
    // The caller snapshots its table, another thread commits a lease, then
    // the caller compacts with its (now stale) snapshot. The commit was
    // written to the old file; the checkpoint must carry it over.
    let mem = MemBackend::new();
    let store = open(&mem).store;
    let table = churn(&store, 1);
    store.compact(&table).unwrap();
    let snapshot = table.clone();
    let raced = lease(500, BindingState::Active, 42);
    let renewed = lease(3, BindingState::Active, 43);
    store
        .commit_blocking(vec![raced.clone(), renewed.clone()])
        .unwrap();
    store.compact(&snapshot).unwrap();
    assert_eq!(store.stats().unwrap().entries, 1);
    store.close();
    mem.crash();
    let mut want = snapshot;
    want[3] = renewed;
    want.push(raced);
    assert_eq!(open(&mem).leases, by_addr(want));
}

#[test]
fn commits_made_during_a_compaction_wait_for_it_and_land_in_the_new_file() {
    let (mem, fault) = faulty();
    let store = Arc::new(open_with(&fault, u64::MAX));
    let table = churn(&store, 2);
    // Make the compaction's sync slow, and commit while it runs.
    fault.set_sync_delay(Duration::from_millis(100));
    let before = fault.counters();
    let compactor = {
        let store = store.clone();
        let table = table.clone();
        std::thread::spawn(move || store.compact(&table))
    };
    // The temporary file's (slow) sync has begun: the compaction is under way.
    while fault.counters().syncs == before.syncs {
        std::thread::sleep(Duration::from_millis(1));
    }
    let during = lease(600, BindingState::Active, 1);
    store.commit_blocking(vec![during.clone()]).unwrap();
    assert_eq!(
        fault.counters().renames,
        before.renames + 1,
        "acknowledged before the rename"
    );
    compactor.join().unwrap().unwrap();
    // One checkpoint frame, then the commit made during the compaction.
    assert_eq!(store.stats().unwrap().entries, 2);
    store.close();
    mem.crash();
    let mut want = table;
    want.push(during);
    assert_eq!(open(&mem).leases, by_addr(want));
}

#[test]
fn a_callback_that_commits_again_on_a_poisoned_journal_does_not_deadlock() {
    let (_mem, fault) = faulty();
    let store = Arc::new(open_with(&fault, u64::MAX));
    fault.fail_nth_sync(1);
    assert!(store
        .commit_blocking(vec![lease(1, BindingState::Active, 1)])
        .is_err());
    // The journal now refuses synchronously, on this thread.
    let (tx, rx) = mpsc::channel();
    let again = store.clone();
    store.commit(
        vec![lease(2, BindingState::Active, 1)],
        Box::new(move |r| {
            let tx2 = tx.clone();
            again.commit(
                vec![lease(3, BindingState::Active, 1)],
                Box::new(move |r2| tx2.send(r2).unwrap()),
            );
            tx.send(r).unwrap();
        }),
    );
    let results: Vec<_> = rx.iter().take(2).collect();
    assert!(results
        .iter()
        .all(|r| matches!(r, Err(StoreError::Journal(JournalError::Poisoned { .. })))));
}

#[test]
fn compacting_from_a_callback_is_refused() {
    let mem = MemBackend::new();
    let store = Arc::new(open(&mem).store);
    let (tx, rx) = mpsc::channel();
    let inner = store.clone();
    store.commit(
        vec![lease(1, BindingState::Active, 1)],
        Box::new(move |_| {
            tx.send((inner.compact(&[]), inner.compact_if_needed(&[])))
                .unwrap();
        }),
    );
    let (a, b) = rx.recv().unwrap();
    assert!(matches!(
        a,
        Err(StoreError::Journal(JournalError::WouldDeadlock))
    ));
    assert!(matches!(
        b,
        Err(StoreError::Journal(JournalError::WouldDeadlock))
    ));
}

#[test]
fn compaction_is_skipped_below_max_size_and_thrash_is_avoided_above_it() {
    let (mem, fault) = faulty();
    let store = open_with(&fault, 1 << 20);
    let table = churn(&store, 2);
    assert!(!store.compact_if_needed(&table).unwrap());
    assert_eq!(fault.counters().renames, 0);
    store.close();

    // A table bigger than max_size: after one compaction the journal must
    // double before the next, instead of being rewritten on every call.
    let store = open_with(&fault, 64);
    assert!(store.compact_if_needed(&table).unwrap());
    let checkpoint = store.stats().unwrap().len;
    assert!(checkpoint > 64);
    let mut table = table;
    let mut n = 0;
    while store.stats().unwrap().len <= 2 * checkpoint {
        assert!(!store.compact_if_needed(&table).unwrap());
        let l = lease(n % 20, BindingState::Expired, 100 + u64::from(n));
        store.commit_blocking(vec![l.clone()]).unwrap();
        table[(n % 20) as usize] = l;
        n += 1;
    }
    assert!(n > 1);
    assert!(store.compact_if_needed(&table).unwrap());
    assert_eq!(fault.counters().renames, 2);
    store.close();

    // The baseline is recomputed at open from the checkpoint in the file.
    let store = open_with(&fault, 64);
    assert!(!store.compact_if_needed(&table).unwrap());
    store.close();
    assert_eq!(open(&mem).leases, table);
}

#[test]
fn a_large_table_is_checkpointed_in_several_frames() {
    let mem = MemBackend::new();
    let options = StoreOptions {
        checkpoint_frame_bytes: 4096,
        ..StoreOptions::with_backend(mem.clone())
    };
    let store = LeaseStore::open(&dir(), options).unwrap().store;
    let table: Vec<Lease> = (0..2000)
        .map(|n| lease(n, BindingState::Active, 7))
        .collect();
    store.compact(&table).unwrap();
    let entries = store.stats().unwrap().entries;
    assert!(entries > 10, "{entries} frames");
    store.close();
    mem.crash();
    assert_eq!(open(&mem).leases, table);
}

#[test]
fn compaction_failing_before_the_rename_keeps_the_old_journal_in_use() {
    let (mem, fault) = faulty();
    let store = open_with(&fault, 0);
    let table = churn(&store, 2);
    fault.fail_nth_rename(1);
    let err = store.compact_if_needed(&table).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Journal(JournalError::Io { op: "rename", .. })
        ),
        "{err}"
    );
    // Not poisoned: commits continue in the old file.
    let newer = lease(3, BindingState::Expired, 5);
    store.commit_blocking(vec![newer.clone()]).unwrap();
    store.close();
    mem.crash();
    let mut want = table;
    want[3] = newer;
    assert_eq!(open(&mem).leases, want);
}

#[test]
fn a_crash_before_the_renamed_journal_is_durable_leaves_the_old_one() {
    let (mem, fault) = faulty();
    let store = open_with(&fault, 0);
    let table = churn(&store, 2);
    fault.fail_nth_dir_sync(1);
    let err = store.compact_if_needed(&table).unwrap_err();
    assert!(
        matches!(err, StoreError::Journal(JournalError::Io { .. })),
        "{err}"
    );
    // The rename might not survive a crash, so nothing more is acknowledged.
    assert!(store
        .commit_blocking(vec![lease(1, BindingState::Free, 0)])
        .is_err());
    store.close();
    mem.crash();
    let opened = open(&mem);
    assert_eq!(opened.leases, table);
}

#[test]
fn a_crash_during_compaction_leaves_a_complete_journal_and_a_warning() {
    // A power loss after the temporary file was written but before the
    // rename: the leftover is removed and the old journal is used.
    let (mem, fault) = faulty();
    let store = open_with(&fault, 0);
    let table = churn(&store, 2);
    fault.fail_nth_rename(1);
    let _ = store.compact(&table);
    store.close();
    // Put a leftover back, as a crash between write and rename would leave it.
    let tmp = dir().join(format!("{JOURNAL_FILE}.compact.tmp"));
    mem.set_contents(&tmp, b"TNDMJRNL partial");
    let opened = open(&mem);
    assert_eq!(opened.leases, table);
    assert_eq!(opened.warnings.len(), 1);
    assert!(
        opened.warnings[0].contains("interrupted compaction"),
        "{:?}",
        opened.warnings
    );
    assert!(!mem.list().contains(&tmp));
}

#[test]
fn compaction_concurrent_with_commits_loses_nothing_the_table_holds() {
    // The documented contract: the caller updates its table and commits
    // under one lock, and compacts under that lock too.
    let (mem, fault) = faulty();
    fault.set_sync_delay(Duration::from_micros(200));
    let store = Arc::new(open_with(&fault, 2048));
    let table = Arc::new(Mutex::new(BTreeMap::<Ipv4Addr, Lease>::new()));
    let threads: Vec<_> = (0..4u32)
        .map(|t| {
            let store = store.clone();
            let table = table.clone();
            std::thread::spawn(move || {
                let mut compactions = 0;
                for i in 0..60u32 {
                    let l = lease(t * 10 + i % 10, BindingState::Active, u64::from(i));
                    let (tx, rx) = mpsc::channel();
                    {
                        let mut table = table.lock().unwrap();
                        table.insert(l.addr, l.clone());
                        store.commit(vec![l], Box::new(move |r| tx.send(r).unwrap()));
                    }
                    rx.recv().unwrap().unwrap();
                    if i % 7 == 0 {
                        let table = table.lock().unwrap();
                        let current: Vec<Lease> = table.values().cloned().collect();
                        compactions += usize::from(store.compact_if_needed(&current).unwrap());
                    }
                }
                compactions
            })
        })
        .collect();
    let compactions: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(compactions > 0);
    store.close();
    mem.crash();
    let want: Vec<Lease> = table.lock().unwrap().values().cloned().collect();
    assert_eq!(open(&mem).leases, want);
}
