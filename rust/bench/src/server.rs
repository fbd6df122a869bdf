//! The backup server of a bench run, stopped however the run ends. A panic in a node's
//! background task (ldk-node panics when it cannot persist) makes the node's own `Drop` panic
//! again while the bench unwinds, which aborts the process before the server is dropped, and
//! PostgreSQL and `vss-server` would outlive it.

use std::sync::{Mutex, MutexGuard};

use doze_testkit::backup_server::BackupServer;

static SERVER: Mutex<Option<BackupServer>> = Mutex::new(None);

fn server() -> MutexGuard<'static, Option<BackupServer>> {
    SERVER.lock().unwrap_or_else(|p| p.into_inner())
}

/// Holds the bench's backup server; dropping it stops the server.
pub struct ServerGuard(());

impl Drop for ServerGuard {
    fn drop(&mut self) {
        drop(server().take());
    }
}

/// Keeps `server` until the returned guard is dropped, or until anything panics: then the
/// panic's message is printed, the server stopped and the process ends with status 101.
pub fn stop_on_panic(keep: BackupServer) -> ServerGuard {
    *server() = Some(keep);
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        drop(server().take());
        std::process::exit(101);
    }));
    ServerGuard(())
}
