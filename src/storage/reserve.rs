//! The emergency reserve: a file of zeros kept in the data dir (`--reserve-mb`). When the disk
//! fills up, sled refuses every write until it is reopened; an operator's deletion of a
//! sandbox or snapshot then gives the reserve back to the disk first, so the deletion's own
//! small writes fit and room can be made through the API. The reserve is put back once the
//! disk has twice its size free again.

use std::io::Write;
use std::path::{Path, PathBuf};

const FILE: &str = "reserve.bin";

pub struct Reserve {
    path: PathBuf,
    bytes: u64,
}

impl Reserve {
    pub fn new(dir: &Path, bytes: u64) -> Reserve {
        Reserve {
            path: dir.join(FILE),
            bytes,
        }
    }

    /// Writes the reserve if it is missing and the disk has room for it twice over.
    pub fn keep(&self) {
        if self.bytes == 0 || self.is_held() {
            return;
        }
        let Some(free) = free_bytes(&self.path) else { return };
        if free < self.bytes.saturating_mul(2) {
            return;
        }
        if let Err(e) = self.write() {
            tracing::warn!(error = %e, path = %self.path.display(), "could not write the emergency disk reserve");
            let _ = std::fs::remove_file(&self.path);
        }
    }

    fn write(&self) -> std::io::Result<()> {
        let mut file = std::fs::File::create(&self.path)?;
        let chunk = vec![0u8; 1 << 20];
        let mut left = self.bytes;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            file.write_all(&chunk[..n])?;
            left -= n as u64;
        }
        file.sync_all()
    }

    /// Gives the reserve back to the disk; whether there was one.
    pub fn release(&self) -> bool {
        let held = self.is_held();
        if held {
            tracing::warn!(path = %self.path.display(), "the disk is full: releasing the emergency reserve so a deletion can be stored");
        }
        std::fs::remove_file(&self.path).is_ok() && held
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn is_held(&self) -> bool {
        std::fs::metadata(&self.path).is_ok_and(|m| m.len() == self.bytes)
    }
}

/// Free bytes on the disk that holds `path` (or its directory).
pub fn free_bytes(path: &Path) -> Option<u64> {
    let dir = if path.is_dir() { path } else { path.parent()? };
    fs2::available_space(dir).ok()
}
