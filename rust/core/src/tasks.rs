//! Work handed to a tokio runtime (or to a thread) as one task type for the whole crate.
//!
//! Why this exists: tokio compiles its task machinery (cell, harness, scheduler hooks, join
//! handle) again for every distinct future or closure type it is given, about 4 kB of code
//! each, and `std::sync::mpsc` compiles all three of its channel flavours for every message
//! type. Doze hands work to its runtimes from some thirty places; spawned as they are written,
//! that was a few hundred kB of the phone library (README, "The phone library's size"). Here
//! every future is boxed to [`Task`] and every blocking closure to [`BlockingWork`], and a
//! result travels back through a slot that only the output type's `Option` is compiled for.
//!
//! Each helper keeps the meaning of the tokio call it stands for: a spawned task runs on even
//! if nobody waits for it, and a waiter learns that the task ended without an answer (it
//! panicked, or its runtime shut down) as [`Stopped`].

use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::runtime::Handle;

use crate::mutex::lock;

/// The one future type Doze spawns on a runtime.
pub(crate) type Task = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// The one closure type Doze runs on a runtime's blocking threads or a thread of its own.
pub(crate) type BlockingWork = Box<dyn FnOnce() + Send + 'static>;

/// A task ended without giving its answer: it panicked, or its runtime shut down first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stopped;

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("it stopped before finishing (a panic, or its runtime shut down)")
    }
}

/// Spawns `future` on `runtime`; it runs to its end whether or not anyone waits.
pub(crate) fn spawn(
    runtime: &Handle,
    future: impl Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    runtime.spawn(Box::pin(future) as Task)
}

/// Spawns `future` on the runtime the caller runs on (as `tokio::spawn`; panics outside one).
pub(crate) fn spawn_here(
    future: impl Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(Box::pin(future) as Task)
}

/// Runs `future` on `runtime` and waits for its output from any executor.
pub(crate) async fn run<T: Send + 'static>(
    runtime: &Handle,
    future: impl Future<Output = T> + Send + 'static,
) -> Result<T, Stopped> {
    let (answer, answered) = tokio::sync::oneshot::channel();
    spawn(runtime, async move {
        let _ = answer.send(future.await);
    });
    answered.await.map_err(|_| Stopped)
}

/// Runs `work` on `runtime`'s blocking threads and waits for its result from any executor.
pub(crate) async fn run_blocking<T: Send + 'static>(
    runtime: &Handle,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Stopped> {
    let (answer, answered) = tokio::sync::oneshot::channel();
    let job: BlockingWork = Box::new(move || {
        let _ = answer.send(work());
    });
    // The join handle is not needed: the answer (or its sender dropped) says how it ended.
    drop(runtime.spawn_blocking(job));
    answered.await.map_err(|_| Stopped)
}

/// Runs `work` on the blocking threads of the runtime the caller runs on (as
/// `tokio::task::spawn_blocking`; panics outside one) and waits for its result.
pub(crate) async fn run_blocking_here<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Stopped> {
    run_blocking(&Handle::current(), work).await
}

/// Where a result waits for a thread that blocks on it: filled once, then signalled.
pub(crate) struct Answer<T> {
    slot: Arc<Mutex<Option<T>>>,
    signal: std::sync::mpsc::SyncSender<()>,
}

impl<T> Answer<T> {
    /// Gives the answer and wakes the waiter (gone waiters are ignored).
    pub(crate) fn give(self, value: T) {
        *lock(&self.slot) = Some(value);
        let _ = self.signal.send(());
    }
}

/// The waiting side of an [`Answer`].
pub(crate) struct Awaited<T> {
    slot: Arc<Mutex<Option<T>>>,
    signal: Receiver<()>,
}

/// Why a thread that waited for an [`Answer`] has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoAnswer {
    /// The answering side was dropped without giving one.
    Stopped,
    /// It did not come within the time given.
    TimedOut,
}

impl<T> Awaited<T> {
    /// Blocks until the answer is given, or its giver is dropped.
    pub(crate) fn wait(self) -> Result<T, Stopped> {
        let _ = self.signal.recv();
        lock(&self.slot).take().ok_or(Stopped)
    }

    /// Blocks until the answer is given, its giver is dropped, or `timeout` passes.
    pub(crate) fn wait_for(&self, timeout: Duration) -> Result<T, NoAnswer> {
        match self.signal.recv_timeout(timeout) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                lock(&self.slot).take().ok_or(NoAnswer::Stopped)
            }
            Err(RecvTimeoutError::Timeout) => Err(NoAnswer::TimedOut),
        }
    }
}

/// A place for one answer that a blocked thread waits for: std's channels are compiled for
/// each message type, this only for `Option<T>` (the signal is always `()`).
pub(crate) fn answer<T>() -> (Answer<T>, Awaited<T>) {
    let slot = Arc::new(Mutex::new(None));
    let (signal, signalled) = std::sync::mpsc::sync_channel(1);
    (Answer { slot: Arc::clone(&slot), signal }, Awaited { slot, signal: signalled })
}

/// Starts `work` on a new named thread (`Err` if the system cannot start one).
pub(crate) fn thread(name: &str, work: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    let work: BlockingWork = Box::new(work);
    std::thread::Builder::new().name(name.into()).spawn(work).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap()
    }

    #[test]
    fn results_come_back_and_panics_are_stopped() {
        let rt = runtime();
        let handle = rt.handle().clone();
        assert_eq!(rt.block_on(run(&handle, async { 7u8 })), Ok(7));
        assert_eq!(rt.block_on(run_blocking(&handle, || 8u8)), Ok(8));
        let panicked = run(&handle, async { panic!("a task's panic") });
        assert_eq!(rt.block_on(panicked), Err::<(), _>(Stopped));
        let panicked = run_blocking(&handle, || -> u8 { panic!("a blocking panic") });
        assert_eq!(rt.block_on(panicked), Err(Stopped));
    }

    #[test]
    fn an_answer_is_waited_for_and_a_dropped_giver_is_stopped() {
        let (given, awaited) = answer();
        thread("answer-test", move || given.give(5u8)).unwrap();
        assert_eq!(awaited.wait(), Ok(5));

        let (given, awaited) = answer::<u8>();
        assert_eq!(awaited.wait_for(Duration::from_millis(10)), Err(NoAnswer::TimedOut));
        drop(given);
        assert_eq!(awaited.wait_for(Duration::from_secs(5)), Err(NoAnswer::Stopped));
    }
}
