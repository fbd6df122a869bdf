//! The Electrum protocol over plain TCP (`tcp://host:port`), from the devnet's chain: what
//! ldk-node 0.7.1's Electrum chain source (`Builder::set_chain_source_electrum`) calls through
//! electrum-client 0.24, bdk_electrum 0.23 and lightning-transaction-sync 0.2.7.
//!
//! One JSON-RPC request per line, or a JSON array of them (answered by one array); answers
//! carry `result` or `error` (`{"code", "message"}`), never both: electrum-client reads any
//! `error` key, even `null`, as a failure. A connection that called
//! `blockchain.headers.subscribe` is sent a notification with every new tip, and one that
//! subscribed to a script hash a notification whenever its status changes, as electrs does.
//!
//! ```text
//! server.version  server.features  server.ping  server.banner  server.donation_address
//! server.peers.subscribe  mempool.get_fee_histogram
//! blockchain.headers.subscribe  blockchain.block.header  blockchain.block.headers
//! blockchain.estimatefee  blockchain.relayfee
//! blockchain.scripthash.get_history  .get_mempool  .get_balance  .listunspent
//!                       .subscribe  .unsubscribe
//! blockchain.transaction.get  .get_merkle  .id_from_pos  .broadcast
//! ```

mod methods;
mod scripts;

use std::sync::Arc;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};

use self::methods::{Session, BAD_REQUEST};
use crate::bitcoind_rpc::params::RpcError;
use crate::state::DevnetState;

/// The longest request line taken (a batch of large transactions fits); a longer one is
/// answered with an error and the connection closed.
const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// Accepts connections until the future is dropped (when the devnet stops).
pub(crate) async fn serve(listener: TcpListener, state: Arc<DevnetState>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(connection(stream, Arc::clone(&state)));
            }
            Err(e) => {
                // Out of file descriptors and the like: give connections time to close rather
                // than spin on the same error.
                log::warn!("devnet: Electrum server cannot accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

async fn connection(stream: TcpStream, state: Arc<DevnetState>) {
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut changes = state.subscribe_changes();
    let mut session = Session::default();
    let mut line = Vec::new();
    loop {
        let limit = MAX_LINE_BYTES.saturating_sub(line.len()) as u64;
        let mut limited = (&mut reader).take(limit);
        tokio::select! {
            // Tell the client about a change before answering what it asks next.
            biased;
            changed = changes.changed() => {
                if changed.is_err() {
                    return;
                }
                for note in notifications(&state, &mut session) {
                    if send(&mut write, &note).await.is_err() {
                        return;
                    }
                }
            }
            // Cancel-safe: bytes read before another branch wins stay in `line`.
            read = limited.read_until(b'\n', &mut line) => {
                match read {
                    Ok(0) | Err(_) => return,
                    Ok(_) if !line.ends_with(b"\n") && line.len() < MAX_LINE_BYTES => continue,
                    Ok(_) => {}
                }
                let answer = if line.ends_with(b"\n") {
                    answer_line(&state, &mut session, &line)
                } else {
                    Some(error_reply(Value::Null, &RpcError::new(BAD_REQUEST, "request too long")))
                };
                let too_long = !line.ends_with(b"\n");
                line.clear();
                if let Some(answer) = answer {
                    if send(&mut write, &answer).await.is_err() || too_long {
                        return;
                    }
                }
            }
        }
    }
}

async fn send(write: &mut OwnedWriteHalf, message: &Value) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec(message).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    write.write_all(&bytes).await
}

/// The reply to one line: a request object or a batch array (`None` for a blank line).
fn answer_line(state: &DevnetState, session: &mut Session, line: &[u8]) -> Option<Value> {
    if line.trim_ascii().is_empty() {
        return None;
    }
    match serde_json::from_slice::<Value>(line) {
        Ok(Value::Array(batch)) => {
            Some(Value::Array(batch.iter().map(|r| answer(state, session, r)).collect()))
        }
        Ok(request) => Some(answer(state, session, &request)),
        Err(e) => {
            Some(error_reply(Value::Null, &RpcError::new(-32700, format!("parse error: {e}"))))
        }
    }
}

fn answer(state: &DevnetState, session: &mut Session, request: &Value) -> Value {
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let Some(method) = request.get("method").and_then(Value::as_str) else {
        return error_reply(id, &RpcError::new(-32600, "invalid request: no method"));
    };
    let params = match request.get("params") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(list)) => list.as_slice(),
        Some(_) => {
            return error_reply(id, &RpcError::new(BAD_REQUEST, "params must be an array"));
        }
    };
    match methods::call(state, session, method, params) {
        Ok(result) => json!({ "jsonrpc": "2.0", "result": result, "id": id }),
        Err(e) => error_reply(id, &e),
    }
}

fn error_reply(id: Value, error: &RpcError) -> Value {
    json!({
        "jsonrpc": "2.0",
        "error": { "code": error.code, "message": error.message },
        "id": id,
    })
}

/// What a change of the chain or the mempool tells this connection: a new tip if it
/// subscribed to headers, a new status for each subscribed script whose status changed.
fn notifications(state: &DevnetState, session: &mut Session) -> Vec<Value> {
    let chain = state.chain();
    let mut notes = Vec::new();
    if let Some(sent) = session.headers.as_mut() {
        if *sent != chain.tip_hash() {
            *sent = chain.tip_hash();
            notes.push(json!({
                "jsonrpc": "2.0",
                "method": "blockchain.headers.subscribe",
                "params": [methods::tip_json(&chain)],
            }));
        }
    }
    for (script, (text, sent)) in session.scripts.iter_mut() {
        let status = scripts::status(&chain, script);
        if status != *sent {
            sent.clone_from(&status);
            notes.push(json!({
                "jsonrpc": "2.0",
                "method": "blockchain.scripthash.subscribe",
                "params": [text, status],
            }));
        }
    }
    notes
}
