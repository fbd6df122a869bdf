//! The cross-process lock on a wallet's storage. The app and its notification extension share
//! one directory; two processes running one node would both sign channel updates from the same
//! state and could lose funds. Whoever holds `doze.lock` may run the node; the OS releases it
//! when the holder stops or dies, so a crash never leaves the wallet locked.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use crate::error::WalletError;

/// The lock file's name inside the storage directory.
const LOCK_FILE: &str = "doze.lock";

/// A held lock on a storage directory; released on drop.
#[derive(Debug)]
pub struct StorageLock {
    _file: File,
    path: PathBuf,
}

impl StorageLock {
    /// Takes the lock without waiting: [`WalletError::StorageLocked`] if another process (or
    /// another wallet in this process) holds it.
    pub fn try_acquire(storage_dir: &Path) -> Result<StorageLock, WalletError> {
        std::fs::create_dir_all(storage_dir).map_err(|e| {
            WalletError::Storage(format!("cannot create {}: {e}", storage_dir.display()))
        })?;
        let path = storage_dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| WalletError::Storage(format!("cannot open {}: {e}", path.display())))?;
        match file.try_lock() {
            Ok(()) => Ok(StorageLock { _file: file, path }),
            Err(TryLockError::WouldBlock) => {
                Err(WalletError::StorageLocked { storage_dir: storage_dir.display().to_string() })
            }
            Err(TryLockError::Error(e)) => {
                Err(WalletError::Storage(format!("cannot lock {}: {e}", path.display())))
            }
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
