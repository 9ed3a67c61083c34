//! A backend wrapper that injects failures, for tests.
//!
//! Faults are armed relative to "now": `fail_nth_sync(1)` fails the next
//! `sync_data` call on any file opened through this backend, `fail_nth_sync(3)`
//! the third from now. Each armed fault fires once. The wrapper also counts
//! calls and can slow down syncs so that group commit is observable on a fast
//! in-memory backend.

use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::backend::{Backend, OpenMode, StorageFile};

#[derive(Debug, Default)]
struct Plan {
    write_fail_in: Option<u64>,
    write_tear_in: Option<(u64, usize)>,
    sync_fail_in: Option<u64>,
    rename_fail_in: Option<u64>,
    dir_sync_fail_in: Option<u64>,
    sync_delay: Duration,
    writes: u64,
    syncs: u64,
    renames: u64,
    dir_syncs: u64,
}

/// Call counters observed by a [`FaultBackend`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounters {
    /// `write_at` calls.
    pub writes: u64,
    /// `sync_data` calls.
    pub syncs: u64,
    /// `rename` calls.
    pub renames: u64,
    /// `sync_dir` calls.
    pub dir_syncs: u64,
}

/// Wraps another backend and fails chosen calls. Clones share one plan.
#[derive(Debug, Clone)]
pub struct FaultBackend {
    inner: Arc<dyn Backend>,
    plan: Arc<Mutex<Plan>>,
}

fn lock(m: &Mutex<Plan>) -> MutexGuard<'_, Plan> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Counts down an armed fault; true when this call is the one to fail.
fn fires(slot: &mut Option<u64>) -> bool {
    match slot {
        Some(1) => {
            *slot = None;
            true
        }
        Some(n) => {
            *n -= 1;
            false
        }
        None => false,
    }
}

fn injected(what: &str) -> io::Error {
    io::Error::other(format!("injected {what} failure"))
}

impl FaultBackend {
    /// Wraps `inner` with no faults armed.
    pub fn new(inner: Arc<dyn Backend>) -> Self {
        FaultBackend {
            inner,
            plan: Arc::default(),
        }
    }

    /// The `n`th `write_at` from now (1 = next) fails without writing.
    pub fn fail_nth_write(&self, n: u64) {
        lock(&self.plan).write_fail_in = Some(n.max(1));
    }

    /// The `n`th `write_at` from now writes only its first `bytes` bytes and
    /// then fails, like a crash or `ENOSPC` in the middle of a write.
    pub fn tear_nth_write(&self, n: u64, bytes: usize) {
        lock(&self.plan).write_tear_in = Some((n.max(1), bytes));
    }

    /// The `n`th `sync_data` from now fails.
    pub fn fail_nth_sync(&self, n: u64) {
        lock(&self.plan).sync_fail_in = Some(n.max(1));
    }

    /// The `n`th `rename` from now fails.
    pub fn fail_nth_rename(&self, n: u64) {
        lock(&self.plan).rename_fail_in = Some(n.max(1));
    }

    /// The `n`th `sync_dir` from now fails.
    pub fn fail_nth_dir_sync(&self, n: u64) {
        lock(&self.plan).dir_sync_fail_in = Some(n.max(1));
    }

    /// Every `sync_data` sleeps this long before doing the real sync.
    pub fn set_sync_delay(&self, delay: Duration) {
        lock(&self.plan).sync_delay = delay;
    }

    /// Calls seen so far.
    pub fn counters(&self) -> FaultCounters {
        let p = lock(&self.plan);
        FaultCounters {
            writes: p.writes,
            syncs: p.syncs,
            renames: p.renames,
            dir_syncs: p.dir_syncs,
        }
    }
}

#[derive(Debug)]
struct FaultFile {
    inner: Box<dyn StorageFile>,
    plan: Arc<Mutex<Plan>>,
}

impl Backend for FaultBackend {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn StorageFile>> {
        let inner = self.inner.open(path, mode)?;
        Ok(Box::new(FaultFile {
            inner,
            plan: self.plan.clone(),
        }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        {
            let mut p = lock(&self.plan);
            p.renames += 1;
            if fires(&mut p.rename_fail_in) {
                return Err(injected("rename"));
            }
        }
        self.inner.rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        self.inner.remove(path)
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        self.inner.exists(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        {
            let mut p = lock(&self.plan);
            p.dir_syncs += 1;
            if fires(&mut p.dir_sync_fail_in) {
                return Err(injected("directory sync"));
            }
        }
        self.inner.sync_dir(dir)
    }
}

impl StorageFile for FaultFile {
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read_at(offset, buf)
    }

    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<usize> {
        let tear = {
            let mut p = lock(&self.plan);
            p.writes += 1;
            if fires(&mut p.write_fail_in) {
                return Err(injected("write"));
            }
            match &mut p.write_tear_in {
                Some((1, bytes)) => {
                    let bytes = *bytes;
                    p.write_tear_in = None;
                    Some(bytes)
                }
                Some((n, _)) => {
                    *n -= 1;
                    None
                }
                None => None,
            }
        };
        if let Some(bytes) = tear {
            let keep = bytes.min(buf.len());
            self.inner.write_all_at(offset, &buf[..keep])?;
            return Err(injected("torn write"));
        }
        self.inner.write_at(offset, buf)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        let delay = {
            let mut p = lock(&self.plan);
            p.syncs += 1;
            if fires(&mut p.sync_fail_in) {
                return Err(injected("fdatasync"));
            }
            p.sync_delay
        };
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        self.inner.sync_data()
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
}
