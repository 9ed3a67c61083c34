//! Measures durable lease commits per second: each commit is one lease,
//! acknowledged only after `fdatasync`, with 1, 8 and 64 committers sharing
//! one store on the real file system.
//!
//! Usage: `lease_bench [DIR] [SECONDS_PER_RUN]`
//! DIR defaults to the current directory; it must be on the disk being
//! measured (not a tmpfs). A fresh store is created in a temporary directory
//! under it for each run.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tandem_dhcp::{BindingState, HwAddr, Lease};
use tandem_leasestore::{codec, LeaseStore, StoreOptions};

/// A lease as a DHCPACK would leave it: client id, MAC and host name set.
fn lease(committer: u32, n: u32, now: u64) -> Lease {
    let addr = 0x0a00_0000 | (committer << 16) | (n & 0xffff);
    let mac = [
        2,
        0,
        committer as u8,
        (n >> 16) as u8,
        (n >> 8) as u8,
        n as u8,
    ];
    let mut client_id = vec![1];
    client_id.extend_from_slice(&mac);
    Lease {
        addr: Ipv4Addr::from(addr),
        state: BindingState::Active,
        start: now,
        end: now + 43_200,
        cltt: now,
        hw: Some(HwAddr::ethernet(mac)),
        client_id: Some(client_id),
        hostname: Some(format!("host-{committer}-{n}")),
        ddns: None,
        tstp: now + 43_200,
        atsfp: 0,
        tsfp: 0,
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| ".".into()));
    let secs: f64 = args.next().map_or(3.0, |s| s.parse().expect("seconds"));
    let now = 1_700_000_000;
    let sample = codec::encode_changes(&[lease(1, 1, now)]).expect("encodable");

    println!(
        "dir={} run={secs}s payload={}B (one lease per commit)",
        dir.canonicalize().unwrap_or(dir.clone()).display(),
        sample.len()
    );
    println!("committers  commits/s  fsyncs/s  commits/fsync  p50_us  p99_us");
    for committers in [1u32, 8, 64] {
        let tmp = tempfile::tempdir_in(&dir).expect("temporary directory");
        let store = Arc::new(
            LeaseStore::open(tmp.path(), StoreOptions::default())
                .expect("open")
                .store,
        );
        let stop = Arc::new(AtomicBool::new(false));
        let start = Instant::now();
        let threads: Vec<_> = (0..committers)
            .map(|c| {
                let store = store.clone();
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut latencies = Vec::new();
                    let mut n = 0u32;
                    while !stop.load(Ordering::Relaxed) {
                        let l = lease(c, n, now);
                        let t = Instant::now();
                        store.commit_blocking(vec![l]).expect("commit");
                        latencies.push(t.elapsed());
                        n = n.wrapping_add(1);
                    }
                    latencies
                })
            })
            .collect();
        std::thread::sleep(Duration::from_secs_f64(secs));
        stop.store(true, Ordering::Relaxed);
        let mut latencies: Vec<Duration> = threads
            .into_iter()
            .flat_map(|t| t.join().expect("committer thread"))
            .collect();
        let elapsed = start.elapsed().as_secs_f64();
        let stats = store.stats().expect("still open");
        store.close();
        latencies.sort();
        let pct = |p: f64| {
            let i = ((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1));
            latencies.get(i).map_or(0, |d| d.as_micros())
        };
        println!(
            "{committers:>10}  {:>9.0}  {:>8.0}  {:>13.1}  {:>6}  {:>6}",
            stats.appends as f64 / elapsed,
            stats.batches as f64 / elapsed,
            stats.appends as f64 / stats.batches.max(1) as f64,
            pct(0.50),
            pct(0.99),
        );
    }
}
