//! A loopback TCP relay that a test can freeze: the connections through it stay open (neither
//! end sees a disconnect, so a Lightning peer on the far side goes on treating the channel as
//! live and forwards into it), but no byte crosses until the link thaws or is cut. A cut closes
//! every connection without delivering what it held, as when the process on one side dies
//! with the link down. New connections are accepted in every state; they freeze with the link.
//!
//! Used to hold back exactly the messages of one peer connection (e.g. one LSP's part of a
//! multi-part payment) while the phone's other connections carry on.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;

#[derive(Default)]
struct State {
    frozen: bool,
    /// Every connection's two sockets, to shut down on a cut.
    sockets: Vec<TcpStream>,
    /// Bumped by each cut: a chunk read before a cut is dropped, not delivered.
    cuts: u64,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    stopped: AtomicBool,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running link (see the module docs); it stops accepting and cuts everything when dropped.
pub struct Link {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Link {
    /// Listens on a free loopback port and relays every connection to `target`. Panics if it
    /// cannot listen.
    pub fn start(target: SocketAddr) -> Link {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .unwrap_or_else(|e| panic!("the link cannot listen: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("the link's address: {e}"));
        let shared = Arc::new(Shared::default());
        let accepting = Arc::clone(&shared);
        thread::Builder::new()
            .name("link-accept".into())
            .spawn(move || accept(listener, target, accepting))
            .unwrap_or_else(|e| panic!("the link's thread: {e}"));
        Link { addr, shared }
    }

    /// Where the link listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Holds every byte from now on (connections stay open).
    pub fn freeze(&self) {
        self.shared.lock().frozen = true;
    }

    /// Delivers what was held and whatever comes next.
    pub fn thaw(&self) {
        self.shared.lock().frozen = false;
        self.shared.changed.notify_all();
    }

    /// Closes every connection through the link now; what it held is dropped.
    pub fn cut(&self) {
        let mut state = self.shared.lock();
        state.cuts += 1;
        for socket in state.sockets.drain(..) {
            let _ = socket.shutdown(Shutdown::Both);
        }
        drop(state);
        self.shared.changed.notify_all();
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        self.cut();
        // Wake the accept loop so that it sees `stopped`.
        let _ = TcpStream::connect(self.addr);
    }
}

fn accept(listener: TcpListener, target: SocketAddr, shared: Arc<Shared>) {
    for client in listener.incoming() {
        if shared.stopped.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        let Ok(server) = TcpStream::connect(target) else {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        // Lightning messages are small and latency-bound.
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let sockets = [&client, &server].map(|s| s.try_clone());
        let (Ok(client_copy), Ok(server_copy)) = (sockets[0].as_ref(), sockets[1].as_ref()) else {
            continue;
        };
        let cuts = {
            let mut state = shared.lock();
            for socket in [client_copy, server_copy] {
                if let Ok(socket) = socket.try_clone() {
                    state.sockets.push(socket);
                }
            }
            state.cuts
        };
        for (from, to) in [(client.try_clone(), server.try_clone()), (Ok(server), Ok(client))] {
            if let (Ok(from), Ok(to)) = (from, to) {
                let shared = Arc::clone(&shared);
                let _ = thread::Builder::new()
                    .name("link-pump".into())
                    .spawn(move || pump(from, to, &shared, cuts));
            }
        }
    }
}

/// Copies `from` to `to` chunk by chunk, each chunk held while the link is frozen and dropped
/// if the link was cut meanwhile (`cuts` is the cut count the connection was opened under).
fn pump(mut from: TcpStream, mut to: TcpStream, shared: &Shared, cuts: u64) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut state = shared.lock();
        while state.frozen && state.cuts == cuts {
            state = shared.changed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        if state.cuts != cuts {
            break;
        }
        drop(state);
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}
