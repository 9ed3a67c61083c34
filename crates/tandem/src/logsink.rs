//! Where `tandem serve`'s log lines go: a buffer that one writer thread
//! empties into stderr in batches.
//!
//! A DHCP exchange logs four ISC-style lines, so at a few thousand leases a
//! second a writer that wakes per line (as tracing-appender's does) spends
//! more on wake-ups and one `write(2)` per line than on the lines. Here a
//! line is appended under a lock; only the first line into an empty buffer
//! wakes the thread, which waits [`GATHER`] for more and writes them all at
//! once. An idle server's writer sleeps until the next line. Nothing is
//! dropped: past [`MAX_PENDING`] bytes a logger waits for the writer.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long the writer collects lines after the first one wakes it: the
/// most a line waits before it reaches stderr.
const GATHER: Duration = Duration::from_millis(10);
/// Bytes pending beyond which loggers wait for the writer.
const MAX_PENDING: usize = 1 << 20;
/// A drained buffer larger than this is given back to the allocator.
const KEEP_CAPACITY: usize = 64 << 10;

#[derive(Default)]
struct State {
    buf: Vec<u8>,
    closed: bool,
}

#[derive(Default)]
struct Inner {
    state: Mutex<State>,
    /// The buffer became non-empty, or the sink closed.
    wake: Condvar,
    /// The writer took the buffer.
    drained: Condvar,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The sink handed to the fmt layer (`MakeWriter`). Cheap to clone.
#[derive(Clone)]
pub struct LogSink {
    inner: Arc<Inner>,
}

/// Flushes every pending line and stops the writer thread when dropped.
pub struct Guard {
    inner: Arc<Inner>,
    thread: Option<JoinHandle<()>>,
}

impl LogSink {
    /// Starts the writer thread, writing into `out`.
    pub fn start(out: impl Write + Send + 'static) -> io::Result<(LogSink, Guard)> {
        let inner = Arc::new(Inner::default());
        let thread = {
            let inner = inner.clone();
            std::thread::Builder::new()
                .name("log-writer".into())
                .spawn(move || run(&inner, out))?
        };
        Ok((
            LogSink {
                inner: inner.clone(),
            },
            Guard {
                inner,
                thread: Some(thread),
            },
        ))
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        lock(&self.inner.state).closed = true;
        self.inner.wake.notify_one();
        self.inner.drained.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(inner: &Inner, mut out: impl Write) {
    let mut spare = Vec::new();
    loop {
        let mut s = lock(&inner.state);
        while s.buf.is_empty() && !s.closed {
            s = inner.wake.wait(s).unwrap_or_else(|p| p.into_inner());
        }
        if s.buf.is_empty() {
            return; // closed and drained
        }
        if !s.closed {
            drop(s);
            std::thread::sleep(GATHER);
            s = lock(&inner.state);
        }
        std::mem::swap(&mut s.buf, &mut spare);
        drop(s);
        inner.drained.notify_all();
        // A log that cannot be written has nowhere to report it.
        let _ = out.write_all(&spare).and_then(|()| out.flush());
        spare.clear();
        if spare.capacity() > KEEP_CAPACITY {
            spare = Vec::new();
        }
    }
}

impl Write for &LogSink {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let inner = &self.inner;
        let mut s = lock(&inner.state);
        while s.buf.len() > MAX_PENDING && !s.closed {
            s = inner.drained.wait(s).unwrap_or_else(|p| p.into_inner());
        }
        let first = s.buf.is_empty();
        s.buf.extend_from_slice(bytes);
        drop(s);
        if first {
            inner.wake.notify_one();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogSink {
    type Writer = &'a LogSink;

    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `Write` that records what reached it and how many writes it took.
    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<(Vec<u8>, usize)>>);

    impl Write for Recorder {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            let mut r = self.0.lock().unwrap();
            r.0.extend_from_slice(b);
            r.1 += 1;
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_arrive_in_order_in_few_writes_and_all_are_flushed_on_drop() {
        let rec = Recorder::default();
        let (sink, guard) = LogSink::start(rec.clone()).unwrap();
        let mut expected = Vec::new();
        for i in 0..10_000 {
            let line = format!("line {i}\n");
            (&sink).write_all(line.as_bytes()).unwrap();
            expected.extend_from_slice(line.as_bytes());
        }
        drop(guard);
        let r = rec.0.lock().unwrap();
        assert_eq!(r.0, expected);
        assert!(r.1 < 100, "{} writes for 10,000 lines", r.1);
    }

    #[test]
    fn a_lone_line_is_written_without_waiting_for_more() {
        let rec = Recorder::default();
        let (sink, _guard) = LogSink::start(rec.clone()).unwrap();
        (&sink).write_all(b"ready\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while rec.0.lock().unwrap().0.is_empty() {
            assert!(std::time::Instant::now() < deadline, "line never written");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(rec.0.lock().unwrap().0, b"ready\n");
    }

    #[test]
    fn loggers_wait_rather_than_drop_when_the_writer_is_behind() {
        // A writer slower than the loggers: everything still arrives.
        #[derive(Clone, Default)]
        struct Slow(Recorder);
        impl Write for Slow {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                std::thread::sleep(Duration::from_millis(2));
                self.0.write(b)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let slow = Slow::default();
        let (sink, guard) = LogSink::start(slow.clone()).unwrap();
        let line = vec![b'x'; 4096];
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let sink = sink.clone();
                let line = line.clone();
                std::thread::spawn(move || {
                    for _ in 0..300 {
                        (&sink).write_all(&line).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(guard);
        assert_eq!(slow.0 .0.lock().unwrap().0.len(), 4 * 300 * 4096);
    }
}
