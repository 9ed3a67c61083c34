//! The storage abstraction the journal writes through, and the real
//! file-system implementation.
//!
//! The journal only ever needs positional reads and writes, `fdatasync`,
//! truncation, rename and a directory sync, so that is all [`Backend`] and
//! [`StorageFile`] expose. Keeping the surface this small is what lets the
//! in-memory and fault-injecting backends model crashes faithfully.

use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;

/// How [`Backend::open`] treats a missing or existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Open an existing file; fail with `NotFound` if there is none.
    Existing,
    /// Open the file, creating it empty if it does not exist.
    Create,
    /// Create a new, empty file, discarding the contents of any file of that
    /// name.
    CreateTruncate,
}

/// A file-system-like store of named files.
pub trait Backend: Send + Sync + Debug {
    /// Opens `path` for reading and writing.
    ///
    /// Implementations that can, take an exclusive advisory lock and fail with
    /// `io::ErrorKind::WouldBlock` if someone else holds it.
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn StorageFile>>;
    /// Atomically renames `from` to `to`, replacing `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes `path`; a missing file is not an error.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Whether `path` exists.
    fn exists(&self, path: &Path) -> io::Result<bool>;
    /// Makes creations, renames and removals in `dir` durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// An open file.
pub trait StorageFile: Send + Debug {
    /// Current length in bytes.
    fn len(&self) -> io::Result<u64>;
    /// Whether the file has no bytes.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
    /// Reads up to `buf.len()` bytes at `offset`; returns the count read.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize>;
    /// Writes some prefix of `buf` at `offset`; returns the count written.
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<usize>;
    /// Makes written data (and the length) durable: `fdatasync`.
    fn sync_data(&mut self) -> io::Result<()>;
    /// Truncates or extends the file to `len` bytes.
    fn set_len(&mut self, len: u64) -> io::Result<()>;

    /// Writes all of `buf` at `offset`.
    fn write_all_at(&mut self, mut offset: u64, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.write_at(offset, buf) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    offset += n as u64;
                    buf = &buf[n..];
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads the whole file.
    fn read_to_vec(&mut self) -> io::Result<Vec<u8>> {
        let len = usize::try_from(self.len()?)
            .map_err(|_| io::Error::new(io::ErrorKind::OutOfMemory, "file too large"))?;
        let mut buf = vec![0u8; len];
        let mut filled = 0;
        while filled < len {
            match self.read_at(filled as u64, &mut buf[filled..]) {
                Ok(0) => break, // shrank underneath us; keep what we got
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        buf.truncate(filled);
        Ok(buf)
    }
}

/// The real backend: `std::fs`, `flock` and `fdatasync`.
#[derive(Debug, Clone, Copy, Default)]
pub struct FileBackend;

#[derive(Debug)]
struct RealFile {
    file: File,
}

impl Backend for FileBackend {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn StorageFile>> {
        let mut opts = OpenOptions::new();
        opts.read(true).write(true);
        match mode {
            OpenMode::Existing => {}
            OpenMode::Create => {
                opts.create(true);
            }
            OpenMode::CreateTruncate => {
                opts.create(true).truncate(true);
            }
        }
        let file = opts.open(path)?;
        // A second daemon (or a second handle in this process) appending to the
        // same file would interleave frames; an exclusive flock turns that into
        // a clear error at open time.
        // SAFETY: the descriptor is owned by `file`, which outlives the call.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Box::new(RealFile { file }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        path.try_exists()
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
}

impl StorageFile for RealFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        FileExt::read_at(&self.file, buf, offset)
    }

    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<usize> {
        FileExt::write_at(&self.file, buf, offset)
    }

    #[cfg(target_os = "linux")]
    fn sync_data(&mut self) -> io::Result<()> {
        loop {
            // SAFETY: plain syscall on a descriptor owned by `self.file`.
            let rc = unsafe { libc::fdatasync(self.file.as_raw_fd()) };
            if rc == 0 {
                return Ok(());
            }
            let err = io::Error::last_os_error();
            // EINTR means the call did not run to completion and may simply be
            // repeated; any other error is final (and poisons the journal).
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn sync_data(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }
}
