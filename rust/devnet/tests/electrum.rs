//! The devnet's Electrum server: electrum-client 0.24 (what bdk_electrum and LDK's transaction
//! sync call through) reads headers, script histories, balances, merkle proofs and fees from
//! it, broadcasts through it and hears new tips; the raw protocol takes batches and answers
//! bad requests with errors.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bitcoin::blockdata::constants::genesis_block;
use bitcoin::consensus::encode::serialize_hex;
use bitcoin::{Address, Amount, Network, TxOut};
use doze_devnet::{Devnet, INITIAL_BLOCKS};
use electrum_client::{Client, ElectrumApi};
use serde_json::{json, Value};

fn new_address() -> Address {
    let secp = bitcoin::secp256k1::Secp256k1::new();
    let (_, pk) = secp.generate_keypair(&mut bitcoin::secp256k1::rand::thread_rng());
    Address::p2wpkh(&bitcoin::CompressedPublicKey(pk), Network::Regtest)
}

/// Calls `ping` until `pop` yields something (notifications are read while a call waits).
fn wait_for<T>(client: &Client, what: &str, mut pop: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        client.ping().expect("ping");
        if let Some(found) = pop() {
            return found;
        }
        assert!(Instant::now() < deadline, "no {what} within 10 s");
    }
}

#[test]
fn electrum_client_reads_the_chain_and_the_mempool_and_broadcasts() {
    let devnet = Devnet::start().expect("devnet");
    let client = Client::new(&devnet.electrum_url()).expect("connects");
    let tip = client.block_headers_subscribe().expect("headers.subscribe");
    assert_eq!((tip.height, tip.header.block_hash()), (INITIAL_BLOCKS as usize, devnet.tip().1));
    let genesis = genesis_block(Network::Regtest).header;
    assert_eq!(client.block_header(0).expect("header 0"), genesis);
    let page = client.block_headers(100, 50).expect("headers");
    assert_eq!(page.count, 11, "100 to the tip at 110");
    assert_eq!(page.headers[10].block_hash(), devnet.tip().1);
    let features = client.server_features().expect("features");
    assert_eq!(hex::encode(features.genesis_hash), genesis.block_hash().to_string());
    devnet.state().set_fee_rates(2.0, &[(1, 20.0), (6, 8.0)]);
    assert_eq!(client.estimate_fee(1).expect("estimatefee"), 0.0002, "BTC/kvB");
    assert_eq!(client.estimate_fee(144).expect("estimatefee"), 0.00008);
    assert_eq!(client.relay_fee().expect("relayfee"), 0.00001);

    // A payment waits in the mempool: history at height 0 with its fee, balance unconfirmed.
    let address = new_address();
    let script = address.script_pubkey();
    assert_eq!(client.script_subscribe(&script).expect("subscribe"), None, "no history yet");
    let txid = devnet.fund(&address, Amount::from_sat(40_000)).expect("faucet");
    let history = client.script_get_history(&script).expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!((history[0].tx_hash, history[0].height), (txid, 0));
    assert!(history[0].fee.is_some_and(|f| f > 0));
    let balance = client.script_get_balance(&script).expect("balance");
    assert_eq!((balance.confirmed, balance.unconfirmed), (0, 40_000));
    let unspent = client.script_list_unspent(&script).expect("listunspent");
    assert_eq!((unspent.len(), unspent[0].height, unspent[0].value), (1, 0, 40_000));
    wait_for(&client, "status notification", || client.script_pop(&script).ok()?);

    // Mined: a new tip notified, the history at its height with a valid merkle proof.
    devnet.mine(1);
    let height = INITIAL_BLOCKS as usize + 1;
    let note = wait_for(&client, "tip notification", || client.block_headers_pop().ok()?);
    assert_eq!(note.height, height);
    let history = client.script_get_history(&script).expect("history");
    assert_eq!((history[0].height, history[0].fee), (height as i32, None));
    let balance = client.script_get_balance(&script).expect("balance");
    assert_eq!((balance.confirmed, balance.unconfirmed), (40_000, 0));
    let proof = client.transaction_get_merkle(&txid, height).expect("merkle");
    let header = client.block_header(height).expect("header");
    assert!(electrum_client::utils::validate_merkle_proof(&txid, &header.merkle_root, &proof));
    assert_eq!(client.txid_from_pos(height, proof.pos).expect("id_from_pos"), txid);
    assert_eq!(client.transaction_get(&txid).expect("tx").compute_txid(), txid);
    assert!(client.transaction_get_merkle(&txid, height - 1).is_err(), "not in that block");

    // Broadcast: accepted into the mempool; a spend of a spent coin refused.
    let coin = devnet.faucet_coins().into_iter().max_by_key(|(_, o)| o.value).expect("a coin");
    let pay = |fee: u64| {
        let output = TxOut {
            value: coin.1.value - Amount::from_sat(fee),
            script_pubkey: devnet.faucet().script(),
        };
        devnet.faucet().sign(std::slice::from_ref(&coin), vec![output])
    };
    let tx = pay(1_000);
    assert_eq!(client.transaction_broadcast(&tx).expect("broadcast"), tx.compute_txid());
    assert!(devnet.in_mempool(&tx.compute_txid()));
    assert!(client.transaction_broadcast(&pay(500)).is_err(), "a replacement paying less");
}

/// One raw connection: writes `line`, reads one answer line.
struct Raw(BufReader<TcpStream>);

impl Raw {
    fn connect(devnet: &Devnet) -> Raw {
        let address = devnet.electrum_url().replace("tcp://", "");
        let stream = TcpStream::connect(address).expect("connects");
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        Raw(BufReader::new(stream))
    }

    fn ask(&mut self, line: &str) -> Value {
        self.0.get_mut().write_all(format!("{line}\n").as_bytes()).expect("write");
        let mut answer = String::new();
        self.0.read_line(&mut answer).expect("an answer line");
        serde_json::from_str(&answer).expect("JSON")
    }
}

#[test]
fn the_raw_protocol_takes_batches_and_answers_bad_requests_with_errors() {
    let devnet = Devnet::start().expect("devnet");
    let mut raw = Raw::connect(&devnet);
    let answer =
        raw.ask(r#"{"jsonrpc":"2.0","method":"server.version","params":["t","1.4"],"id":0}"#);
    assert_eq!(answer["result"][1], "1.4");
    assert!(answer.get("error").is_none(), "electrum-client reads any `error` key as a failure");

    let batch = json!([
        {"jsonrpc": "2.0", "method": "blockchain.block.header", "params": [1], "id": 1},
        {"jsonrpc": "2.0", "method": "blockchain.block.header", "params": [9999], "id": 2},
        {"jsonrpc": "2.0", "method": "blockchain.nope", "params": [], "id": 3},
        {"method": "blockchain.scripthash.get_history", "params": ["zz"], "id": 4},
    ]);
    let answers = raw.ask(&batch.to_string());
    assert_eq!(answers.as_array().map(Vec::len), Some(4), "{answers}");
    assert_eq!(answers[0]["result"].as_str().map(str::len), Some(160));
    assert_eq!(answers[1]["error"]["code"], 1, "no header at that height");
    assert_eq!(answers[2]["error"]["code"], -32601);
    assert_eq!(answers[3]["error"]["code"], 1, "not a script hash");

    assert_eq!(raw.ask("{oops")["error"]["code"], -32700);
    let bad_tx = json!({"method": "blockchain.transaction.broadcast", "params": ["00"], "id": 5});
    assert_eq!(raw.ask(&bad_tx.to_string())["error"]["code"], 1, "undecodable");
    let funded = devnet.fund(&new_address(), Amount::from_sat(10_000)).expect("faucet");
    devnet.mine(1);
    let tx = devnet.state().chain().find_tx(&funded).cloned().expect("confirmed");
    let params = json!([serialize_hex(&tx)]);
    let again = json!({"method": "blockchain.transaction.broadcast", "params": params, "id": 6});
    let answer = raw.ask(&again.to_string());
    assert_eq!(answer["error"]["code"], 2, "the node refuses a confirmed one: {answer}");
    let ping = raw.ask(r#"{"method":"server.ping","id":"s"}"#);
    assert_eq!((ping["id"].as_str(), &ping["result"]), (Some("s"), &Value::Null), "still served");
}
