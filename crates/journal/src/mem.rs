//! An in-memory backend that models what survives a power failure.
//!
//! Every file keeps two images: what has been written (the "page cache") and
//! what has been made durable by `sync_data`. The namespace likewise has a
//! live and a durable view, updated by `sync_dir`. [`MemBackend::crash`]
//! throws away everything that was not made durable, which lets tests check
//! that acknowledged entries survive and that compaction is atomic.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::backend::{Backend, OpenMode, StorageFile};

#[derive(Debug, Default)]
struct Inode {
    data: Vec<u8>,
    durable: Vec<u8>,
}

type InodeRef = Arc<Mutex<Inode>>;

#[derive(Debug, Default)]
struct Namespace {
    live: HashMap<PathBuf, InodeRef>,
    durable: HashMap<PathBuf, InodeRef>,
}

/// In-memory files with an explicit crash model. Clones share the same files.
#[derive(Debug, Clone, Default)]
pub struct MemBackend {
    ns: Arc<Mutex<Namespace>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking test thread must not turn every later access into a panic.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn parent_of(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new(""))
}

impl MemBackend {
    /// An empty backend.
    pub fn new() -> Self {
        Self::default()
    }

    /// Simulates a power failure: unsynced data and unsynced directory
    /// changes are lost. Open handles keep pointing at their (reverted) files.
    pub fn crash(&self) {
        let mut ns = lock(&self.ns);
        ns.live = ns.durable.clone();
        for inode in ns.live.values() {
            let mut inode = lock(inode);
            inode.data = inode.durable.clone();
        }
    }

    /// The current (not necessarily durable) contents of `path`.
    pub fn contents(&self, path: &Path) -> Option<Vec<u8>> {
        let ns = lock(&self.ns);
        ns.live.get(path).map(|i| lock(i).data.clone())
    }

    /// Creates or replaces `path` with `bytes`, already durable.
    pub fn set_contents(&self, path: &Path, bytes: &[u8]) {
        let inode = Arc::new(Mutex::new(Inode {
            data: bytes.to_vec(),
            durable: bytes.to_vec(),
        }));
        let mut ns = lock(&self.ns);
        ns.live.insert(path.to_path_buf(), inode.clone());
        ns.durable.insert(path.to_path_buf(), inode);
    }

    /// Names currently present (live view), sorted.
    pub fn list(&self) -> Vec<PathBuf> {
        let mut names: Vec<PathBuf> = lock(&self.ns).live.keys().cloned().collect();
        names.sort();
        names
    }
}

#[derive(Debug)]
struct MemFile {
    inode: InodeRef,
}

impl Backend for MemBackend {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn StorageFile>> {
        let mut ns = lock(&self.ns);
        let inode = match mode {
            OpenMode::Existing => ns
                .live
                .get(path)
                .cloned()
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?,
            OpenMode::Create | OpenMode::CreateTruncate => match ns.live.get(path) {
                Some(inode) => {
                    if mode == OpenMode::CreateTruncate {
                        lock(inode).data.clear();
                    }
                    inode.clone()
                }
                None => {
                    let inode = InodeRef::default();
                    ns.live.insert(path.to_path_buf(), inode.clone());
                    inode
                }
            },
        };
        Ok(Box::new(MemFile { inode }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut ns = lock(&self.ns);
        let inode = ns
            .live
            .remove(from)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        ns.live.insert(to.to_path_buf(), inode);
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        lock(&self.ns).live.remove(path);
        Ok(())
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        Ok(lock(&self.ns).live.contains_key(path))
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut ns = lock(&self.ns);
        ns.durable.retain(|p, _| parent_of(p) != dir);
        let entries: Vec<(PathBuf, InodeRef)> = ns
            .live
            .iter()
            .filter(|(p, _)| parent_of(p) == dir)
            .map(|(p, i)| (p.clone(), i.clone()))
            .collect();
        ns.durable.extend(entries);
        Ok(())
    }
}

impl StorageFile for MemFile {
    fn len(&self) -> io::Result<u64> {
        Ok(lock(&self.inode).data.len() as u64)
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let inode = lock(&self.inode);
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        if start >= inode.data.len() {
            return Ok(0);
        }
        let n = buf.len().min(inode.data.len() - start);
        buf[..n].copy_from_slice(&inode.data[start..start + n]);
        Ok(n)
    }

    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<usize> {
        let mut inode = lock(&self.inode);
        let start = usize::try_from(offset)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "offset too large"))?;
        let end = start + buf.len();
        if inode.data.len() < end {
            inode.data.resize(end, 0);
        }
        inode.data[start..end].copy_from_slice(buf);
        Ok(buf.len())
    }

    fn sync_data(&mut self) -> io::Result<()> {
        let mut inode = lock(&self.inode);
        inode.durable = inode.data.clone();
        Ok(())
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        let len = usize::try_from(len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "length too large"))?;
        lock(&self.inode).data.resize(len, 0);
        Ok(())
    }
}
