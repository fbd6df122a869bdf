//! A named background thread that is told to stop through a oneshot channel and joined when
//! stopped or dropped: the event loop, the push dispatcher and the HTTP server each run in one.

use std::thread::JoinHandle;

use tokio::sync::oneshot;

/// A running worker thread.
pub(crate) struct Worker {
    name: &'static str,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    /// Runs `body` on a new thread named `name`; `body` should return when its receiver fires.
    pub(crate) fn spawn(
        name: &'static str,
        body: impl FnOnce(oneshot::Receiver<()>) + Send + 'static,
    ) -> std::io::Result<Worker> {
        let (stop, stopped) = oneshot::channel();
        let thread = std::thread::Builder::new().name(name.into()).spawn(move || body(stopped))?;
        Ok(Worker { name, stop: Some(stop), thread: Some(thread) })
    }

    /// Tells the thread to stop and waits for it.
    pub(crate) fn stop(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                log::error!(target: "doze_lsp", "the {} thread panicked", self.name);
            }
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}
