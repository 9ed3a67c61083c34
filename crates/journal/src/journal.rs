//! The journal handle, its writer thread (group commit) and compaction.
//!
//! All writes to the file happen on one dedicated thread. Callers queue
//! requests; the writer takes every queued append (up to a byte budget),
//! writes them with one `write`, makes them durable with one `fdatasync`, and
//! only then completes each request. While it waits for the disk, new
//! requests pile up and form the next batch, so the number of syncs grows
//! with disk latency, not with the number of callers.
//!
//! Compaction is a request in the same queue, so it is ordered with appends
//! without any extra locking: everything queued before it is in the old file
//! (and therefore covered by the caller's checkpoint), everything after it
//! lands in the new one.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::backend::{Backend, FileBackend, OpenMode, StorageFile};
use crate::error::JournalError;
use crate::format::{encode_frame, encode_header, frame_len, HEADER_LEN, MAX_PAYLOAD_LEN};
use crate::recover::{self, Entry, RecoveryMode, TruncationReport};

/// The longest a batch waits for more committers to join it.
const MAX_GATHER: Duration = Duration::from_millis(1);
/// Bounds of one preallocation step (see [`Options::preallocate`]).
const GROW_MIN: u64 = 64 << 10;
const GROW_MAX: u64 = 1 << 20;
/// The source of preallocation writes.
static ZEROS: [u8; 64 << 10] = [0; 64 << 10];

/// Position of an entry: the byte offset of its frame in the current file.
///
/// Offsets grow with every append but start over after a compaction, which
/// rewrites the file.
pub type Lsn = u64;

/// Completion callback of [`Journal::submit`].
///
/// It runs on the writer thread (or, for requests rejected up front, on the
/// submitting thread), so it must be quick and must not block on the journal:
/// sending on a channel or completing a oneshot is the intended use.
pub type Completion = Box<dyn FnOnce(Result<Lsn, JournalError>) + Send + 'static>;

type RewriteCompletion = Box<dyn FnOnce(Result<RewriteReport, JournalError>) + Send + 'static>;

/// How to open a journal.
#[derive(Clone)]
pub struct Options {
    /// Where the bytes go. Defaults to [`FileBackend`].
    pub backend: Arc<dyn Backend>,
    /// What to do about damage with valid frames behind it.
    pub recovery: RecoveryMode,
    /// Create the file if it does not exist (default `true`).
    pub create: bool,
    /// Upper bound on the bytes the writer puts in one batch (default 4 MiB).
    /// A batch always takes at least one entry.
    pub max_batch_bytes: usize,
    /// Keep zero-filled room past the last frame (default `true`), so an
    /// append overwrites blocks the file already has and its `fdatasync`
    /// has no new file size or block allocation to record. The file grows
    /// by a quarter of its size at a time (64 KiB to 1 MiB); recovery reads
    /// the zeros as free space, not as damage.
    pub preallocate: bool,
    /// Let a batch gather before it is written when committers are
    /// concurrent (default `false`). For many
    /// independent committers, such as a DHCP server's clients: it halves
    /// the syncs there. Closed-loop committers that each wait for their
    /// answer before the next (an update client with N requests in flight)
    /// would only see their latency grow, so it is off by default.
    pub gather: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            backend: Arc::new(FileBackend),
            recovery: RecoveryMode::Strict,
            create: true,
            max_batch_bytes: 4 << 20,
            preallocate: true,
            gather: false,
        }
    }
}

impl Options {
    /// Default options writing through `backend`.
    pub fn with_backend(backend: impl Backend + 'static) -> Self {
        Options {
            backend: Arc::new(backend),
            ..Options::default()
        }
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("backend", &self.backend)
            .field("recovery", &self.recovery)
            .field("create", &self.create)
            .field("max_batch_bytes", &self.max_batch_bytes)
            .field("preallocate", &self.preallocate)
            .field("gather", &self.gather)
            .finish()
    }
}

/// What [`Journal::open`] found in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay {
    /// Every valid entry, in append order.
    pub entries: Vec<Entry>,
    /// Set when a torn tail (or, in
    /// [`RecoveryMode::TruncateAtFirstDamage`], damage) was cut off. The
    /// caller should log it.
    pub truncated: Option<TruncationReport>,
    /// The file was missing, empty or had only a partial header, and a fresh
    /// header was written.
    pub fresh: bool,
    /// A leftover temporary file from an interrupted compaction was removed.
    pub removed_stale_tmp: bool,
}

/// Counters for monitoring and for deciding when to compact.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Entries acknowledged as durable since open.
    pub appends: u64,
    /// Append batches written (each one `write` + one `fdatasync`).
    pub batches: u64,
    /// All `fdatasync` calls since open, including those of compactions.
    pub syncs: u64,
    /// Frame bytes appended since open.
    pub bytes_appended: u64,
    /// Most entries committed by a single sync.
    pub largest_batch: u64,
    /// Completed compactions since open.
    pub rewrites: u64,
    /// Entries currently in the file.
    pub entries: u64,
    /// Current file length in bytes, header included.
    pub len: u64,
}

/// Outcome of [`Journal::rewrite`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewriteReport {
    /// File length before the rewrite.
    pub bytes_before: u64,
    /// File length after the rewrite.
    pub bytes_after: u64,
    /// Position of each rewritten entry in the new file.
    pub offsets: Vec<Lsn>,
}

enum Request {
    Append {
        kind: u16,
        payload: Vec<u8>,
        done: Completion,
    },
    Rewrite {
        entries: Vec<(u16, Vec<u8>)>,
        done: RewriteCompletion,
    },
}

#[derive(Default)]
struct Queue {
    pending: VecDeque<Request>,
    shutdown: bool,
    poisoned: Option<Arc<str>>,
    /// The writer waits on `wake`. Only then does a request wake it: one
    /// that arrives while the writer is syncing is taken with the next
    /// batch anyway, and a wake-up is a system call per request.
    writer_waiting: bool,
}

struct Shared {
    path: PathBuf,
    queue: Mutex<Queue>,
    wake: Condvar,
    stats: Mutex<Stats>,
    len: AtomicU64,
    writer: OnceLock<ThreadId>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Callbacks run on the writer thread; a panicking one must not wedge every
    // other caller behind a poisoned mutex.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Stops and joins the writer thread when the last [`Journal`] clone goes.
struct Owner {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        lock(&self.shared.queue).shutdown = true;
        self.shared.wake.notify_all();
        if let Some(handle) = lock(&self.thread).take() {
            // The last clone may be dropped inside a completion callback, i.e.
            // on the writer itself; it exits on its own once the queue drains.
            if handle.thread().id() != std::thread::current().id() {
                let _ = handle.join();
            }
        }
    }
}

/// A durable append-only log. Cheap to clone; clones share one file and one
/// writer thread, and can be used from any number of threads.
#[derive(Clone)]
pub struct Journal {
    shared: Arc<Shared>,
    _owner: Arc<Owner>,
}

impl fmt::Debug for Journal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.shared.path)
            .field("len", &self.len())
            .finish()
    }
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".compact.tmp");
    path.with_file_name(name)
}

fn dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn check_len(payload: &[u8]) -> Result<(), JournalError> {
    if payload.len() > MAX_PAYLOAD_LEN as usize {
        return Err(JournalError::EntryTooLarge {
            len: payload.len(),
            max: MAX_PAYLOAD_LEN,
        });
    }
    Ok(())
}

impl Journal {
    /// Opens (or creates) the journal at `path`, recovers it and starts the
    /// writer thread.
    ///
    /// A torn tail is cut off and reported in [`Replay::truncated`]; damage
    /// followed by valid frames is [`JournalError::Corrupt`] (in
    /// [`RecoveryMode::Strict`]); a file that is not a journal is
    /// [`JournalError::BadMagic`]. On error the file is left as it was.
    pub fn open(
        path: impl AsRef<Path>,
        options: Options,
    ) -> Result<(Journal, Replay), JournalError> {
        let path = path.as_ref().to_path_buf();
        let backend = options.backend.clone();
        let dir = dir_of(&path);
        let io_err = |op, e: io::Error| JournalError::io(&path, op, e);

        let mode = if options.create {
            OpenMode::Create
        } else {
            OpenMode::Existing
        };
        let mut file = backend.open(&path, mode).map_err(|e| {
            if e.kind() == io::ErrorKind::WouldBlock {
                JournalError::Locked { path: path.clone() }
            } else {
                io_err("open", e)
            }
        })?;

        // Only after taking the lock: a temporary file is stale only if no
        // one else is compacting this journal right now.
        let tmp = tmp_path(&path);
        let removed_stale_tmp = backend.exists(&tmp).map_err(|e| io_err("stat", e))?;
        if removed_stale_tmp {
            tracing::warn!(path = %tmp.display(), "removing leftover compaction file");
            backend.remove(&tmp).map_err(|e| io_err("remove", e))?;
        }

        let bytes = file.read_to_vec().map_err(|e| io_err("read", e))?;
        let scan = recover::scan(&path, &bytes, options.recovery)?;
        let file_len = bytes.len() as u64;
        drop(bytes);

        let fresh = scan.created.is_none();
        let end = if fresh {
            // Missing, empty or torn header: nothing was ever acknowledged
            // from this file, so start it over.
            let mut header = Vec::with_capacity(HEADER_LEN);
            encode_header(unix_now(), &mut header);
            file.set_len(0).map_err(|e| io_err("truncate", e))?;
            file.write_all_at(0, &header)
                .map_err(|e| io_err("write", e))?;
            file.sync_data().map_err(|e| io_err("fdatasync", e))?;
            // The file may be new: make its directory entry durable too.
            backend
                .sync_dir(&dir)
                .map_err(|e| JournalError::io(&dir, "directory fsync", e))?;
            HEADER_LEN as u64
        } else {
            if scan.truncated.is_some() {
                // Make the cut durable before appending behind it, so a crash
                // cannot resurrect the old tail between new frames.
                file.set_len(scan.valid_end)
                    .map_err(|e| io_err("truncate", e))?;
            }
            // Sync even when nothing changed: after a process crash the file
            // may hold written-but-unsynced frames from the page cache. The
            // caller is about to act on them, so they must not be able to
            // vanish in a later power loss.
            file.sync_data().map_err(|e| io_err("fdatasync", e))?;
            scan.valid_end
        };
        // A file started over or cut ends at `end`; otherwise what lies past
        // the last frame is zero-filled room.
        let allocated = if fresh || scan.truncated.is_some() {
            end
        } else {
            file_len
        };

        let stats = Stats {
            entries: scan.entries.len() as u64,
            len: end,
            ..Stats::default()
        };
        let shared = Arc::new(Shared {
            path: path.clone(),
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            stats: Mutex::new(stats),
            len: AtomicU64::new(end),
            writer: OnceLock::new(),
        });
        let writer = Writer {
            shared: shared.clone(),
            backend,
            path: path.clone(),
            dir,
            tmp,
            file,
            end,
            allocated,
            preallocate: options.preallocate,
            prealloc_failed: false,
            entries: scan.entries.len() as u64,
            max_batch_bytes: options.max_batch_bytes.max(1),
            buf: Vec::new(),
            gather: options.gather,
            last_batch: 0,
            last_sync: Duration::ZERO,
        };
        let handle = std::thread::Builder::new()
            .name("journal-writer".into())
            .spawn(move || writer.run())
            .map_err(|e| io_err("spawn writer thread", e))?;
        let _ = shared.writer.set(handle.thread().id());
        let owner = Arc::new(Owner {
            shared: shared.clone(),
            thread: Mutex::new(Some(handle)),
        });
        let replay = Replay {
            entries: scan.entries,
            truncated: scan.truncated,
            fresh,
            removed_stale_tmp,
        };
        Ok((
            Journal {
                shared,
                _owner: owner,
            },
            replay,
        ))
    }

    /// The journal's file path.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Queues an append; `done` is called once the entry is durable (with its
    /// position) or has definitely failed. Never blocks.
    ///
    /// This is the bridge for async callers: complete a oneshot channel in
    /// `done`. See [`Completion`] for where `done` runs.
    pub fn submit(&self, kind: u16, payload: impl Into<Vec<u8>>, done: Completion) {
        let payload = payload.into();
        if let Err(e) = check_len(&payload) {
            return done(Err(e));
        }
        self.enqueue(Request::Append {
            kind,
            payload,
            done,
        });
    }

    /// Appends one entry and returns its position once it is on stable
    /// storage (after `fdatasync`). Concurrent callers share syncs.
    pub fn append_blocking(
        &self,
        kind: u16,
        payload: impl Into<Vec<u8>>,
    ) -> Result<Lsn, JournalError> {
        self.refuse_on_writer()?;
        let (tx, rx) = mpsc::sync_channel(1);
        self.submit(
            kind,
            payload,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        rx.recv().unwrap_or(Err(JournalError::Closed))
    }

    /// Atomically replaces the file's contents with `entries`, durably
    /// (temporary file, `fdatasync`, rename, directory fsync).
    ///
    /// Every append queued before this call is written to the old file first,
    /// so the caller must make sure its checkpoint covers those; appends
    /// queued afterwards go to the new file. If the rewrite fails before the
    /// rename, the old file stays in use and nothing is lost; if the
    /// directory sync after the rename fails, the journal is poisoned.
    pub fn rewrite(&self, entries: Vec<(u16, Vec<u8>)>) -> Result<RewriteReport, JournalError> {
        self.refuse_on_writer()?;
        for (_, payload) in &entries {
            check_len(payload)?;
        }
        let (tx, rx) = mpsc::sync_channel(1);
        self.enqueue(Request::Rewrite {
            entries,
            done: Box::new(move |r| {
                let _ = tx.send(r);
            }),
        });
        rx.recv().unwrap_or(Err(JournalError::Closed))
    }

    /// [`rewrite`](Self::rewrite) with every entry of one `kind`, typically
    /// the caller's snapshot split into one or more checkpoint payloads.
    pub fn compact(
        &self,
        kind: u16,
        checkpoint_payloads: Vec<Vec<u8>>,
    ) -> Result<RewriteReport, JournalError> {
        self.rewrite(checkpoint_payloads.into_iter().map(|p| (kind, p)).collect())
    }

    /// Current file length in bytes (header included) as of the last
    /// completed batch or compaction.
    pub fn len(&self) -> u64 {
        self.shared.len.load(Ordering::Acquire)
    }

    /// Whether the file holds no entries.
    pub fn is_empty(&self) -> bool {
        lock(&self.shared.stats).entries == 0
    }

    /// Counters since open.
    pub fn stats(&self) -> Stats {
        *lock(&self.shared.stats)
    }

    /// Whether an earlier failure has stopped all writes.
    pub fn is_poisoned(&self) -> bool {
        lock(&self.shared.queue).poisoned.is_some()
    }

    fn refuse_on_writer(&self) -> Result<(), JournalError> {
        if self.shared.writer.get() == Some(&std::thread::current().id()) {
            return Err(JournalError::WouldDeadlock);
        }
        Ok(())
    }

    fn enqueue(&self, req: Request) {
        let mut q = lock(&self.shared.queue);
        let refusal = if let Some(cause) = &q.poisoned {
            Some(JournalError::Poisoned {
                path: self.shared.path.clone(),
                cause: cause.clone(),
            })
        } else if q.shutdown {
            Some(JournalError::Closed)
        } else {
            None
        };
        match refusal {
            None => {
                q.pending.push_back(req);
                let waiting = q.writer_waiting;
                drop(q);
                if waiting {
                    self.shared.wake.notify_one();
                }
            }
            Some(err) => {
                drop(q);
                fail(req, err);
            }
        }
    }
}

fn fail(req: Request, err: JournalError) {
    match req {
        Request::Append { done, .. } => complete(done, Err(err)),
        Request::Rewrite { done, .. } => complete(done, Err(err)),
    }
}

/// Runs a completion callback, containing a panic in it: a buggy callback
/// must not take the writer thread down, or every later request would hang.
fn complete<T>(done: Box<dyn FnOnce(T) + Send>, value: T) {
    if std::panic::catch_unwind(AssertUnwindSafe(move || done(value))).is_err() {
        tracing::error!("journal completion callback panicked");
    }
}

/// How long the writer lets a new batch gather before writing it, given
/// the last batch's size and sync time and how many requests wait now.
///
/// Only with [`Options::gather`], only when the last batch had concurrent committers, and fewer than
/// twice its size wait already: then a pause of one sync's time (at most
/// [`MAX_GATHER`]) lets about twice as many share the next `fdatasync`.
/// Each sync costs the kernel tens of microseconds of CPU; a DHCP client or
/// an update waits that much longer, far below any retry timer. A lone
/// committer (the last batch had one entry) never waits.
fn gather_pause(last_batch: usize, last_sync: Duration, pending: usize) -> Option<Duration> {
    (last_batch >= 2 && pending < 2 * last_batch).then(|| last_sync.min(MAX_GATHER))
}

/// State owned by the writer thread.
struct Writer {
    shared: Arc<Shared>,
    backend: Arc<dyn Backend>,
    path: PathBuf,
    dir: PathBuf,
    tmp: PathBuf,
    file: Box<dyn StorageFile>,
    /// Offset just past the last durable frame; the next batch goes here.
    end: u64,
    /// The file's length: zeros from `end` up to here.
    allocated: u64,
    preallocate: bool,
    /// The last attempt to grow the file failed (logged once until one works).
    prealloc_failed: bool,
    entries: u64,
    max_batch_bytes: usize,
    /// Reused encoding buffer, so steady-state appends do not allocate it.
    buf: Vec<u8>,
    gather: bool,
    /// Entries of the last batch, and how long its write and sync took.
    last_batch: usize,
    last_sync: Duration,
}

enum Work {
    Appends(Vec<(u16, Vec<u8>, Completion)>),
    Rewrite(Vec<(u16, Vec<u8>)>, RewriteCompletion),
}

impl Writer {
    fn run(mut self) {
        while let Some(work) = self.next_work() {
            match work {
                Work::Appends(batch) => self.commit(batch),
                Work::Rewrite(entries, done) => {
                    let r = self.rewrite(entries);
                    complete(done, r);
                }
            }
        }
    }

    /// Waits for requests and takes the next unit of work: either one
    /// compaction, or every queued append up to the byte budget (stopping at a
    /// compaction, which must see the appends before it and none after).
    fn next_work(&mut self) -> Option<Work> {
        let mut q = lock(&self.shared.queue);
        while q.pending.is_empty() {
            if q.shutdown {
                return None;
            }
            q.writer_waiting = true;
            q = self.shared.wake.wait(q).unwrap_or_else(|p| p.into_inner());
            q.writer_waiting = false;
        }
        if self.gather && !q.shutdown {
            if let Some(pause) = gather_pause(self.last_batch, self.last_sync, q.pending.len()) {
                drop(q);
                std::thread::sleep(pause);
                q = lock(&self.shared.queue);
            }
        }
        if matches!(q.pending.front(), Some(Request::Rewrite { .. })) {
            if let Some(Request::Rewrite { entries, done }) = q.pending.pop_front() {
                return Some(Work::Rewrite(entries, done));
            }
        }
        let mut batch = Vec::new();
        let mut bytes = 0usize;
        while let Some(Request::Append { payload, .. }) = q.pending.front() {
            let size = frame_len(payload.len());
            if !batch.is_empty() && bytes + size > self.max_batch_bytes {
                break;
            }
            bytes += size;
            if let Some(Request::Append {
                kind,
                payload,
                done,
            }) = q.pending.pop_front()
            {
                batch.push((kind, payload, done));
            }
        }
        Some(Work::Appends(batch))
    }

    fn commit(&mut self, batch: Vec<(u16, Vec<u8>, Completion)>) {
        self.buf.clear();
        let mut offsets = Vec::with_capacity(batch.len());
        let mut at = self.end;
        for (kind, payload, _) in &batch {
            offsets.push(at);
            encode_frame(*kind, payload, &mut self.buf);
            at += frame_len(payload.len()) as u64;
        }
        let started = Instant::now();
        let result = match self.file.write_all_at(self.end, &self.buf) {
            Err(e) => Err(("write", e)),
            Ok(()) => {
                // Synced together with the frames, so one fdatasync pays for
                // the new size once per growth step, not once per batch.
                self.grow_past(at);
                self.file.sync_data().map_err(|e| ("fdatasync", e))
            }
        };
        if let Err((op, e)) = result {
            // Some or all of the batch may be on disk, or may be dropped from
            // the page cache without us ever learning which. Acknowledging
            // anything from here on could be a lie, so stop writing for good.
            let err = JournalError::io(&self.path, op, e);
            self.poison(&err);
            for (_, _, done) in batch {
                complete(done, Err(err.clone()));
            }
            return;
        }
        let n = batch.len() as u64;
        self.last_batch = batch.len();
        self.last_sync = started.elapsed();
        self.end = at;
        self.entries += n;
        {
            let mut s = lock(&self.shared.stats);
            s.appends += n;
            s.batches += 1;
            s.syncs += 1;
            s.bytes_appended += self.buf.len() as u64;
            s.largest_batch = s.largest_batch.max(n);
            s.entries = self.entries;
            s.len = self.end;
        }
        self.shared.len.store(self.end, Ordering::Release);
        for ((_, _, done), lsn) in batch.into_iter().zip(offsets) {
            complete(done, Ok(lsn));
        }
    }

    /// Zero-fills room past `end` once the frames reach the end of the file.
    /// A failure (a full disk) costs only the speed-up: the frames are
    /// already written, and this is tried again at the next batch.
    fn grow_past(&mut self, end: u64) {
        if !self.preallocate || end < self.allocated {
            return;
        }
        let step = (end / 4).clamp(GROW_MIN, GROW_MAX);
        let target = (end + step).next_multiple_of(4096);
        let mut at = end;
        let result = loop {
            if at >= target {
                break Ok(());
            }
            let n = (target - at).min(ZEROS.len() as u64) as usize;
            if let Err(e) = self.file.write_all_at(at, &ZEROS[..n]) {
                break Err(e);
            }
            at += n as u64;
        };
        // Whatever was written is zeros past the last frame: free room.
        self.allocated = self.allocated.max(at);
        match result {
            Ok(()) => self.prealloc_failed = false,
            Err(e) if !self.prealloc_failed => {
                self.prealloc_failed = true;
                tracing::warn!(path = %self.path.display(), error = %e, "cannot preallocate journal space; appending without it");
            }
            Err(_) => {}
        }
    }

    fn rewrite(&mut self, entries: Vec<(u16, Vec<u8>)>) -> Result<RewriteReport, JournalError> {
        if let Some(cause) = lock(&self.shared.queue).poisoned.clone() {
            return Err(JournalError::Poisoned {
                path: self.path.clone(),
                cause,
            });
        }
        let mut image = Vec::new();
        encode_header(unix_now(), &mut image);
        let mut offsets = Vec::with_capacity(entries.len());
        for (kind, payload) in &entries {
            offsets.push(image.len() as u64);
            encode_frame(*kind, payload, &mut image);
        }

        // Until the rename the old file is untouched and still ours, so a
        // failure here is reported without poisoning anything.
        let staged = (|| {
            let mut f = self
                .backend
                .open(&self.tmp, OpenMode::CreateTruncate)
                .map_err(|e| ("create", e))?;
            f.write_all_at(0, &image).map_err(|e| ("write", e))?;
            f.sync_data().map_err(|e| ("fdatasync", e))?;
            Ok(f)
        })();
        let new_file = match staged {
            Ok(f) => f,
            Err((op, e)) => {
                let _ = self.backend.remove(&self.tmp);
                return Err(JournalError::io(&self.tmp, op, e));
            }
        };
        if let Err(e) = self.backend.rename(&self.tmp, &self.path) {
            let _ = self.backend.remove(&self.tmp);
            return Err(JournalError::io(&self.tmp, "rename", e));
        }

        // The name now points at the new file, so that is where appends go.
        let bytes_before = self.end;
        self.file = new_file;
        self.end = image.len() as u64;
        self.allocated = self.end;
        self.entries = entries.len() as u64;
        {
            let mut s = lock(&self.shared.stats);
            s.syncs += 1;
            s.rewrites += 1;
            s.entries = self.entries;
            s.len = self.end;
        }
        self.shared.len.store(self.end, Ordering::Release);

        // Without a durable rename a crash could bring back the old file, and
        // appends acknowledged to the new one would vanish: poison instead.
        if let Err(e) = self.backend.sync_dir(&self.dir) {
            let err = JournalError::io(&self.dir, "directory fsync", e);
            self.poison(&err);
            return Err(err);
        }
        Ok(RewriteReport {
            bytes_before,
            bytes_after: self.end,
            offsets,
        })
    }

    /// Marks the journal unusable and fails everything still queued.
    fn poison(&mut self, err: &JournalError) {
        tracing::error!(path = %self.path.display(), error = %err, "journal poisoned; refusing further writes");
        let cause: Arc<str> = err.to_string().into();
        let drained: Vec<Request> = {
            let mut q = lock(&self.shared.queue);
            q.poisoned.get_or_insert(cause.clone());
            q.pending.drain(..).collect()
        };
        for req in drained {
            fail(
                req,
                JournalError::Poisoned {
                    path: self.path.clone(),
                    cause: cause.clone(),
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_concurrent_committers_gather() {
        let sync = Duration::from_micros(200);
        // A lone committer, or none yet: write at once.
        assert_eq!(gather_pause(0, sync, 1), None);
        assert_eq!(gather_pause(1, sync, 1), None);
        // Concurrent ones: wait a sync's time for more.
        assert_eq!(gather_pause(3, sync, 2), Some(sync));
        // Twice the last batch is already there: no need to wait.
        assert_eq!(gather_pause(3, sync, 6), None);
        // A slow disk does not make the wait longer than the cap.
        assert_eq!(gather_pause(3, Duration::from_secs(1), 1), Some(MAX_GATHER));
    }
}
