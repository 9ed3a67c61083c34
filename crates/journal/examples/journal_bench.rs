//! Measures durable appends per second (each acknowledged after fdatasync)
//! for a range of concurrent writers, on the real file system.
//!
//! Usage: `journal_bench [DIR] [SECONDS_PER_RUN] [PAYLOAD_BYTES]`
//! DIR defaults to the current directory; use a directory on the disk you
//! care about (not a tmpfs). Every writer count runs twice with and twice
//! without preallocation, alternating, so both meet the same disk.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tandem_journal::{Journal, Options};

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| ".".into()));
    let secs: f64 = args.next().map_or(3.0, |s| s.parse().expect("seconds"));
    let payload_len: usize = args.next().map_or(200, |s| s.parse().expect("bytes"));
    let tmp = tempfile::tempdir_in(&dir).expect("temporary directory");

    println!(
        "dir={} run={secs}s payload={payload_len}B",
        dir.canonicalize().unwrap_or(dir.clone()).display()
    );
    println!(
        "writers  prealloc  appends/s  fsyncs/s  entries/fsync  p50_us  p99_us  cpu_us/append"
    );
    let runs = [1usize, 8, 32]
        .into_iter()
        .flat_map(|w| [(w, false), (w, true), (w, false), (w, true)]);
    for (i, (writers, preallocate)) in runs.enumerate() {
        let path = tmp.path().join(format!("bench-{i}.journal"));
        let options = Options {
            preallocate,
            ..Options::default()
        };
        let (journal, _) = Journal::open(&path, options).expect("open");
        let cpu0 = cpu_time();
        let stop = Arc::new(AtomicBool::new(false));
        let start = Instant::now();
        let threads: Vec<_> = (0..writers)
            .map(|_| {
                let journal = journal.clone();
                let stop = stop.clone();
                let payload = vec![0x5au8; payload_len];
                std::thread::spawn(move || {
                    let mut latencies = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let t = Instant::now();
                        journal.append_blocking(1, payload.clone()).expect("append");
                        latencies.push(t.elapsed());
                    }
                    latencies
                })
            })
            .collect();
        std::thread::sleep(Duration::from_secs_f64(secs));
        stop.store(true, Ordering::Relaxed);
        let mut latencies: Vec<Duration> = threads
            .into_iter()
            .flat_map(|t| t.join().expect("writer thread"))
            .collect();
        let elapsed = start.elapsed().as_secs_f64();
        let stats = journal.stats();
        latencies.sort();
        let pct = |p: f64| {
            latencies
                .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
                .map_or(0, |d| d.as_micros())
        };
        let cpu = cpu_time() - cpu0;
        println!(
            "{writers:>7}  {:>8}  {:>9.0}  {:>8.0}  {:>13.1}  {:>6}  {:>6}  {:>13.1}",
            if preallocate { "yes" } else { "no" },
            stats.appends as f64 / elapsed,
            stats.batches as f64 / elapsed,
            stats.appends as f64 / stats.batches.max(1) as f64,
            pct(0.50),
            pct(0.99),
            cpu * 1e6 / stats.appends.max(1) as f64,
        );
        drop(journal);
        let _ = std::fs::remove_file(&path);
    }
}

/// User + system CPU seconds of this process so far.
fn cpu_time() -> f64 {
    // SAFETY: getrusage fills the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}
