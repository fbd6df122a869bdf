//! A local HTTP server for the test kit's stand-ins (the push gateway, the hostile backup
//! server): an axum router on a free loopback port, served from a thread of its own so that
//! blocking tests can use it, and stopped and joined when dropped.

use std::net::{SocketAddr, TcpListener};
use std::thread::JoinHandle;

use axum::Router;
use tokio::sync::oneshot;

/// A running server (see the module docs).
pub struct LocalServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl LocalServer {
    /// Serves `router` on a free loopback port from a thread named `name`. Panics if it
    /// cannot listen.
    pub fn start(name: &str, router: Router) -> LocalServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("{name} cannot listen: {e}"));
        listener.set_nonblocking(true).unwrap_or_else(|e| panic!("{name}: non-blocking: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{name}: its address: {e}"));
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap_or_else(|e| panic!("a runtime for the local server: {e}"));
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .unwrap_or_else(|e| panic!("a tokio listener: {e}"));
                    tokio::select! {
                        _ = axum::serve(listener, router) => {}
                        _ = stopped => {}
                    }
                });
            })
            .unwrap_or_else(|e| panic!("{name}'s thread: {e}"));
        LocalServer { addr, stop: Some(stop), thread: Some(thread) }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
