//! Waiting for a future on the calling thread, for the blocking variants. doze-core's futures
//! do their work on the wallet's own runtime and only wait for it, so a thread that parks until
//! woken is all the executor they need (and it works inside or outside any runtime).

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `future` to completion on this thread, parking between wake-ups.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(output) => return output,
            // A spurious unpark only costs one more poll.
            Poll::Pending => thread::park(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_a_future_completed_on_another_runtime() {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build();
        let Ok(runtime) = runtime else { panic!("a runtime") };
        let task = runtime.spawn(async {
            tokio::time::sleep(std::time::Duration::from_millis(30)).await;
            42
        });
        assert!(matches!(block_on(task), Ok(42)));
    }

    #[test]
    fn returns_a_ready_future_at_once() {
        assert_eq!(block_on(async { 7 }), 7);
    }
}
