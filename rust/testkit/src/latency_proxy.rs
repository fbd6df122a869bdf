//! A loopback TCP proxy that adds a fixed delay each way: a server on loopback made to look
//! far away (50 ms each way is a 100 ms round trip). Every chunk read from one side is written
//! to the other `one_way` after it was read, in order; the directions are independent and
//! pipelined, as on a real link (a second chunk read 1 ms after the first is delivered 1 ms
//! after it, not `one_way` later). Bandwidth is not limited. A closed side is closed on the
//! other side `one_way` later.
//!
//! The proxy also counts the HTTP/1.1 requests that go through it, by method and path (e.g.
//! `POST /vss/putObjects`), so that a bench can tell how many round trips an operation cost
//! the client: [`LatencyProxy::requests`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// A running proxy (see the module docs); it stops when dropped.
pub struct LatencyProxy {
    addr: SocketAddr,
    one_way: Duration,
    requests: Arc<Mutex<BTreeMap<String, u64>>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl LatencyProxy {
    /// Listens on a free loopback port and forwards every connection to `target`, delaying
    /// each direction by `one_way`. Panics if it cannot listen.
    pub fn start(target: SocketAddr, one_way: Duration) -> LatencyProxy {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("latency-proxy")
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("the latency proxy's runtime: {e}"));
        let listener = runtime
            .block_on(TcpListener::bind(("127.0.0.1", 0)))
            .unwrap_or_else(|e| panic!("the latency proxy cannot listen: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("the proxy's address: {e}"));
        let requests = Arc::new(Mutex::new(BTreeMap::new()));
        let counted = Arc::clone(&requests);
        runtime.spawn(async move {
            loop {
                let client = match listener.accept().await {
                    Ok((client, _)) => client,
                    Err(e) => {
                        log::warn!(target: "doze_testkit", "latency proxy: accept failed: {e}");
                        continue;
                    }
                };
                let counted = Arc::clone(&counted);
                tokio::spawn(async move {
                    if let Err(e) = relay(client, target, one_way, counted).await {
                        log::debug!(target: "doze_testkit", "latency proxy: {e}");
                    }
                });
            }
        });
        LatencyProxy { addr, one_way, requests, runtime: Some(runtime) }
    }

    /// Where the proxy listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The delay added each way.
    pub fn one_way(&self) -> Duration {
        self.one_way
    }

    /// `url` (an `http://host:port/...` URL of the proxied server) with its host and port
    /// replaced by the proxy's.
    pub fn url(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
        let path = rest.find('/').map(|i| &rest[i..]).unwrap_or("");
        format!("{scheme}://{}{path}", self.addr)
    }

    /// How many HTTP requests went through so far, by `METHOD path` (counted when their
    /// request line is read from the client).
    pub fn requests(&self) -> BTreeMap<String, u64> {
        self.requests.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for LatencyProxy {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn relay(
    client: TcpStream,
    target: SocketAddr,
    one_way: Duration,
    requests: Arc<Mutex<BTreeMap<String, u64>>>,
) -> std::io::Result<()> {
    // The connection itself takes a round trip too (the SYN and its answer): connect, then
    // wait for the whole round trip before anything goes through.
    let connected_at = Instant::now();
    let server = TcpStream::connect(target).await?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    tokio::time::sleep_until(connected_at + one_way * 2).await;
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let mut scanner = RequestScanner::new(requests);
    let upstream = pipe(client_read, server_write, one_way, move |chunk| scanner.scan(chunk));
    let downstream = pipe(server_read, client_write, one_way, |_| {});
    let (up, down) = tokio::join!(upstream, downstream);
    up.and(down)
}

/// Copies `from` to `to`, each chunk `one_way` after it was read, in order; `inspect` sees
/// each chunk as it is read.
async fn pipe(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    one_way: Duration,
    mut inspect: impl FnMut(&[u8]),
) -> std::io::Result<()> {
    // `None`: the reading side closed (or failed).
    let (chunks, mut due) = mpsc::unbounded_channel::<(Instant, Option<Vec<u8>>)>();
    let reader = async move {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = from.read(&mut buffer).await;
            let at = Instant::now() + one_way;
            match read {
                Ok(n) if n > 0 => {
                    inspect(&buffer[..n]);
                    if chunks.send((at, Some(buffer[..n].to_vec()))).is_err() {
                        return;
                    }
                }
                _ => {
                    let _ = chunks.send((at, None));
                    return;
                }
            }
        }
    };
    let writer = async move {
        while let Some((at, chunk)) = due.recv().await {
            tokio::time::sleep_until(at).await;
            match chunk {
                Some(chunk) => to.write_all(&chunk).await?,
                None => break,
            }
        }
        to.shutdown().await
    };
    let ((), written) = tokio::join!(reader, writer);
    written
}

/// Finds HTTP/1.x request lines (`METHOD /path HTTP/1.1`) in a client's byte stream, across
/// chunk boundaries. Request bodies here are protobuf with encrypted values: a false match in
/// one is vanishingly unlikely.
struct RequestScanner {
    tail: Vec<u8>,
    requests: Arc<Mutex<BTreeMap<String, u64>>>,
}

/// The longest request line looked for; anything longer is not counted.
const MAX_REQUEST_LINE: usize = 512;
const METHODS: [&[u8]; 4] = [b"POST /", b"GET /", b"PUT /", b"DELETE /"];

impl RequestScanner {
    fn new(requests: Arc<Mutex<BTreeMap<String, u64>>>) -> RequestScanner {
        RequestScanner { tail: Vec::new(), requests }
    }

    fn scan(&mut self, chunk: &[u8]) {
        self.tail.extend_from_slice(chunk);
        let mut consumed = 0;
        let mut at = 0;
        while at < self.tail.len() {
            let rest = &self.tail[at..];
            let Some(method) = METHODS.iter().find(|m| rest.starts_with(m)) else {
                at += 1;
                continue;
            };
            let line_end = rest.iter().take(MAX_REQUEST_LINE).position(|&b| b == b'\r');
            let Some(line_end) = line_end else {
                if rest.len() < MAX_REQUEST_LINE {
                    // The rest of the line is still to come.
                    break;
                }
                at += method.len();
                continue;
            };
            let line = String::from_utf8_lossy(&rest[..line_end]);
            if let Some(request) = line.strip_suffix(" HTTP/1.1").or(line.strip_suffix(" HTTP/1.0"))
            {
                *self
                    .requests
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .entry(request.to_string())
                    .or_default() += 1;
            }
            at += line_end;
            consumed = at;
        }
        // Keep what may still start a request line: from an unfinished one, or the last few
        // bytes (a method name cut by the chunk boundary).
        let keep_from = if at < self.tail.len() {
            at
        } else {
            self.tail.len().saturating_sub(METHODS.iter().map(|m| m.len()).max().unwrap_or(0))
        };
        self.tail.drain(..keep_from.max(consumed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_are_counted_across_chunk_boundaries() {
        let requests = Arc::new(Mutex::new(BTreeMap::new()));
        let mut scanner = RequestScanner::new(Arc::clone(&requests));
        let stream =
            b"POST /vss/putObjects HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n\r\n\x01\x02\x03\
POST /vss/getObject HTTP/1.1\r\n\r\nPOST /vss/putObjects HTTP/1.1\r\n\r\n";
        for size in [1, 2, 3, 7, 64, stream.len()] {
            requests.lock().unwrap().clear();
            for chunk in stream.chunks(size) {
                scanner.scan(chunk);
            }
            let counted = requests.lock().unwrap().clone();
            assert_eq!(counted.get("POST /vss/putObjects"), Some(&2), "chunks of {size}");
            assert_eq!(counted.get("POST /vss/getObject"), Some(&1), "chunks of {size}");
        }
    }

    #[test]
    fn each_direction_is_delayed_and_kept_in_order() {
        let rt = crate::runtime();
        let echo = rt.block_on(TcpListener::bind(("127.0.0.1", 0))).unwrap();
        let target = echo.local_addr().unwrap();
        std::thread::spawn(move || {
            crate::runtime().block_on(async move {
                let (mut socket, _) = echo.accept().await.unwrap();
                let mut buffer = [0u8; 1024];
                loop {
                    let n = socket.read(&mut buffer).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    socket.write_all(&buffer[..n]).await.unwrap();
                }
            })
        });
        let proxy = LatencyProxy::start(target, Duration::from_millis(30));
        rt.block_on(async {
            let mut socket = TcpStream::connect(proxy.addr()).await.unwrap();
            socket.set_nodelay(true).unwrap();
            let mut answer = [0u8; 6];
            // The connection's own round trip, then one for the echo.
            let started = Instant::now();
            socket.write_all(b"abc").await.unwrap();
            socket.write_all(b"def").await.unwrap();
            socket.read_exact(&mut answer).await.unwrap();
            let first = started.elapsed();
            assert_eq!(&answer, b"abcdef");
            assert!(first >= Duration::from_millis(60), "{first:?}");
            let started = Instant::now();
            socket.write_all(b"ghijkl").await.unwrap();
            socket.read_exact(&mut answer).await.unwrap();
            let second = started.elapsed();
            assert_eq!(&answer, b"ghijkl");
            assert!(second >= Duration::from_millis(60), "{second:?}");
            assert!(second < Duration::from_millis(200), "{second:?}");
        });
    }
}
