//! Locking a mutex whose last holder panicked: the data it guards is still the wallet's (each
//! holder leaves it consistent before it can panic), so the lock is taken, not poisoned.

use std::sync::{Mutex, MutexGuard};

/// `mutex`, locked, whether or not a holder panicked.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
