//! The devnet's bitcoind JSON-RPC: lightning-block-sync's `RpcClient` (what ldk-node's bitcoind
//! chain source polls with) follows the chain through it, the mempool and fee calls ldk-node
//! makes answer as bitcoind does, and logins and bad calls get bitcoind's statuses and codes.

use std::str::FromStr;

use bitcoin::base64::Engine;
use bitcoin::consensus::encode::{deserialize_hex, serialize_hex};
use bitcoin::{Amount, Block, BlockHash, OutPoint, Transaction, TxOut, Txid};
use doze_devnet::{BitcoindRpc, Devnet, INITIAL_BLOCKS};
use lightning_block_sync::gossip::UtxoSource;
use lightning_block_sync::http::HttpEndpoint;
use lightning_block_sync::init::validate_best_block_header;
use lightning_block_sync::poll::{ChainPoller, ChainTip, Poll};
use lightning_block_sync::rpc::RpcClient;
use lightning_block_sync::{BlockData, BlockSource};
use serde_json::{json, Value};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

fn basic(user: &str, password: &str) -> String {
    bitcoin::base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

/// The client ldk-node builds for `set_chain_source_bitcoind_rpc`.
fn block_sync_client(rpc: &BitcoindRpc) -> RpcClient {
    let endpoint = HttpEndpoint::for_host(rpc.host.clone()).with_port(rpc.port);
    RpcClient::new(&basic(&rpc.user, &rpc.password), endpoint)
}

/// Posts `body` with the given `Authorization` header; the status and the JSON answer (Null
/// for an empty body).
fn post(rpc: &BitcoindRpc, authorization: Option<&str>, body: &str) -> (u16, Value) {
    let mut request = reqwest::blocking::Client::new().post(rpc.url()).body(body.to_string());
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    let response = request.send().expect("POST to the RPC");
    let status = response.status().as_u16();
    let text = response.text().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Calls `method` with the password login: HTTP status, `result`, `error`.
fn call(rpc: &BitcoindRpc, method: &str, params: Value) -> (u16, Value, Value) {
    let login = format!("Basic {}", basic(&rpc.user, &rpc.password));
    let body = json!({"method": method, "params": params, "id": "t"}).to_string();
    let (status, mut answer) = post(rpc, Some(&login), &body);
    assert_eq!(answer["id"], "t", "{method}: {answer}");
    (status, answer["result"].take(), answer["error"].take())
}

fn ok(rpc: &BitcoindRpc, method: &str, params: Value) -> Value {
    let (status, result, error) = call(rpc, method, params);
    assert_eq!((status, &error), (200, &Value::Null), "{method}");
    result
}

fn error_code(rpc: &BitcoindRpc, method: &str, params: Value) -> (u16, i64, String) {
    let (status, _, error) = call(rpc, method, params);
    let code = error["code"].as_i64().unwrap_or_else(|| panic!("{method}: no error: {error}"));
    (status, code, error["message"].as_str().unwrap_or_default().to_string())
}

fn coin(devnet: &Devnet) -> (OutPoint, TxOut) {
    devnet.faucet_coins().into_iter().max_by_key(|(_, o)| o.value).expect("a faucet coin")
}

/// `coin` back to the faucet, less `fee`.
fn spend(devnet: &Devnet, coin: &(OutPoint, TxOut), fee: u64) -> Transaction {
    let value = coin.1.value - Amount::from_sat(fee);
    let output = TxOut { value, script_pubkey: devnet.faucet().script() };
    devnet.faucet().sign(std::slice::from_ref(coin), vec![output])
}

#[test]
fn lightning_block_sync_follows_the_chain_through_the_rpc() {
    let devnet = Devnet::start().expect("devnet");
    let rpc = devnet.bitcoind_rpc();
    let client = block_sync_client(rpc);
    runtime().block_on(async {
        let (hash, height) = client.get_best_block().await.expect("getblockchaininfo");
        assert_eq!((hash, height), (devnet.tip().1, Some(INITIAL_BLOCKS)));
        // Proof of work, height and chainwork checked, as ldk-node does at start.
        let tip = validate_best_block_header(&client).await.expect("a valid tip");
        assert_eq!(tip.height, INITIAL_BLOCKS);

        devnet.mine(3);
        let poller = ChainPoller::new(&client, bitcoin::Network::Regtest);
        let new_tip = match poller.poll_chain_tip(tip).await.expect("poll") {
            ChainTip::Better(new_tip) => new_tip,
            other => panic!("three more blocks are a better tip: {other:?}"),
        };
        assert_eq!(new_tip.height, INITIAL_BLOCKS + 3);
        // Each header's chainwork builds on its parent's: block-sync walks back through them.
        let mut header = new_tip;
        for _ in 0..3 {
            header = poller.look_up_previous_header(&header).await.expect("previous header");
        }
        assert_eq!(header.header.block_hash(), tip.header.block_hash());

        let (_, tip_hash) = devnet.tip();
        match client.get_block(&tip_hash).await.expect("getblock verbosity 0") {
            BlockData::FullBlock(block) => assert_eq!(block.block_hash(), tip_hash),
            BlockData::HeaderOnly(_) => panic!("a full block"),
        }
        let at = client.get_block_hash_by_height(INITIAL_BLOCKS).await.expect("getblockhash");
        assert_eq!(at, tip.header.block_hash());

        // gettxout without the mempool: a confirmed coin is unspent until a block spends it.
        let coin = coin(&devnet);
        let outpoint = coin.0;
        assert!(client.is_output_unspent(outpoint).await.expect("gettxout"));
        devnet.broadcast(spend(&devnet, &coin, 1_000)).expect("accepted");
        assert!(client.is_output_unspent(outpoint).await.expect("gettxout"), "mempool ignored");
        devnet.mine(1);
        assert!(!client.is_output_unspent(outpoint).await.expect("gettxout"));
    });

    // A stale block still answers, with confirmations -1, as bitcoind's do.
    let (_, stale) = devnet.tip();
    devnet.invalidate(1);
    devnet.mine_empty(2);
    let header = ok(rpc, "getblockheader", json!([stale.to_string()]));
    assert_eq!(header["confirmations"], -1);
    let raw = ok(rpc, "getblockheader", json!([stale.to_string(), false]));
    assert_eq!(raw.as_str().map(str::len), Some(160), "80 bytes of hex");
    let block: Block =
        deserialize_hex(ok(rpc, "getblock", json!([stale.to_string(), 0])).as_str().expect("hex"))
            .expect("a block");
    assert_eq!(block.block_hash(), stale);
    let verbose = ok(rpc, "getblock", json!({"blockhash": devnet.tip().1.to_string()}));
    assert_eq!(verbose["height"], INITIAL_BLOCKS + 5);
    assert_eq!(verbose["tx"].as_array().map(Vec::len), Some(1), "an empty block: its coinbase");
}

#[test]
fn the_mempool_and_fee_calls_answer_as_bitcoind_without_txindex() {
    let devnet = Devnet::start().expect("devnet");
    let rpc = devnet.bitcoind_rpc();
    devnet.state().set_fee_rates(2.0, &[(1, 20.0), (6, 8.0)]);
    let fee = ok(rpc, "estimatesmartfee", json!([1, "CONSERVATIVE"]));
    assert_eq!(fee, json!({"feerate": 0.0002, "blocks": 1}), "20 sat/vB in BTC/kvB");
    assert_eq!(ok(rpc, "estimatesmartfee", json!([144, "ECONOMICAL"]))["feerate"], 0.00008);
    let info = ok(rpc, "getmempoolinfo", json!([]));
    assert_eq!(info["mempoolminfee"], 0.00001, "1 sat/vB, ldk-node's anchor floor");

    let tx = spend(&devnet, &coin(&devnet), 2_000);
    let txid = tx.compute_txid();
    let sent = ok(rpc, "sendrawtransaction", json!([serialize_hex(&tx)]));
    assert_eq!(sent, txid.to_string());
    assert_eq!(
        ok(rpc, "sendrawtransaction", json!([serialize_hex(&tx)])),
        txid.to_string(),
        "again: fine"
    );
    assert!(devnet.in_mempool(&txid));
    let mempool = ok(rpc, "getrawmempool", json!([false]));
    assert_eq!(mempool, json!([txid.to_string()]));
    let entry = ok(rpc, "getmempoolentry", json!([txid.to_string()]));
    assert_eq!(entry["height"], INITIAL_BLOCKS, "the tip when it arrived");
    assert!(entry["time"].as_u64().is_some_and(|t| t > 1_600_000_000), "{entry}");
    assert_eq!(entry["fees"]["base"], 0.00002);
    let raw = ok(rpc, "getrawtransaction", json!([txid.to_string()]));
    assert_eq!(deserialize_hex::<Transaction>(raw.as_str().expect("hex")).expect("tx"), tx);
    let decoded = ok(rpc, "getrawtransaction", json!([txid.to_string(), true]));
    assert_eq!(decoded["vout"][0]["scriptPubKey"]["type"], "witness_v0_keyhash");

    let block = devnet.mine(1)[0];
    let (_, code, message) = error_code(rpc, "getrawtransaction", json!([txid.to_string()]));
    assert_eq!(code, -5, "no -txindex: a confirmed transaction needs its block");
    assert!(message.starts_with("No such mempool transaction"), "{message}");
    let found = ok(rpc, "getrawtransaction", json!([txid.to_string(), 1, block.to_string()]));
    assert_eq!(found["confirmations"], 1);
    assert_eq!(error_code(rpc, "getmempoolentry", json!([txid.to_string()])).1, -5);
    assert_eq!(ok(rpc, "getindexinfo", json!([])), json!({}), "no transaction index");
    assert_eq!(ok(rpc, "gettxout", json!([txid.to_string(), 0]))["confirmations"], 1);

    // sendrawtransaction's refusals, with bitcoind's codes.
    let send = |tx: &Transaction| error_code(rpc, "sendrawtransaction", json!([serialize_hex(tx)]));
    let (status, code, message) = send(&tx);
    assert_eq!((status, code), (500, -27), "already confirmed: {message}");
    let contested = coin(&devnet);
    let first = spend(&devnet, &contested, 5_000);
    devnet.broadcast(first.clone()).expect("accepted");
    let (_, code, message) = send(&spend(&devnet, &contested, 1_000));
    assert_eq!(code, -26, "a replacement paying less: {message}");
    assert!(message.starts_with("insufficient fee"), "{message}");
    let mut ghost = first.clone();
    ghost.input[0].previous_output =
        OutPoint { txid: Txid::from_str(&"11".repeat(32)).unwrap(), vout: 0 };
    let (_, code, message) = send(&ghost);
    assert_eq!(code, -25, "an unknown input: {message}");
    assert!(message.starts_with("bad-txns-inputs-missingorspent"), "{message}");
    let (_, code, _) = error_code(rpc, "sendrawtransaction", json!(["00ff"]));
    assert_eq!(code, -22, "undecodable");
}

#[test]
fn logins_and_bad_calls_get_bitcoind_statuses_and_codes() {
    let devnet = Devnet::start().expect("devnet");
    let rpc = devnet.bitcoind_rpc();
    let body = json!({"method": "getblockcount", "params": [], "id": 1}).to_string();

    let (status, answer) = post(rpc, None, &body);
    assert_eq!((status, answer), (401, Value::Null), "no login: 401, empty body");
    let wrong = format!("Basic {}", basic(&rpc.user, "not-the-password"));
    assert_eq!(post(rpc, Some(&wrong), &body).0, 401, "wrong password");
    let unauthenticated = reqwest::blocking::Client::new().post(rpc.url()).body(body.clone());
    let response = unauthenticated.send().expect("POST");
    assert_eq!(
        response.headers().get("www-authenticate").and_then(|v| v.to_str().ok()),
        Some("Basic realm=\"jsonrpc\"")
    );

    // The cookie file logs in as `__cookie__`, as bitcoind's does.
    let cookie = std::fs::read_to_string(&rpc.cookie_file).expect("the cookie file");
    let (user, secret) = cookie.split_once(':').expect("user:secret");
    assert_eq!(user, "__cookie__");
    let (status, answer) = post(rpc, Some(&format!("Basic {}", basic(user, secret))), &body);
    assert_eq!((status, answer["result"].as_u64()), (200, Some(u64::from(INITIAL_BLOCKS))));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&rpc.cookie_file).expect("cookie").permissions().mode();
        assert_eq!(mode & 0o077, 0, "only its owner may read the cookie");
    }

    assert_eq!(
        error_code(rpc, "getblockcount2", json!([])),
        (404, -32601, "Method not found".into())
    );
    assert_eq!(error_code(rpc, "getblockhash", json!([9_999])).1, -8, "height out of range");
    assert_eq!(error_code(rpc, "getblockhash", json!([-1])).1, -8);
    assert_eq!(error_code(rpc, "getblockhash", json!(["1"])).1, -3, "wrong type");
    assert_eq!(error_code(rpc, "getblockhash", json!([])).1, -1, "missing argument");
    assert_eq!(error_code(rpc, "getblockheader", json!(["abc"])).1, -8, "not a hash");
    let unknown = BlockHash::from_str(&"22".repeat(32)).unwrap().to_string();
    assert_eq!(error_code(rpc, "getblockheader", json!([unknown])).1, -5);
    assert_eq!(error_code(rpc, "estimatesmartfee", json!([0])).1, -8);
    assert_eq!(error_code(rpc, "estimatesmartfee", json!([2, "FAST"])).1, -8);

    let login = format!("Basic {}", basic(&rpc.user, &rpc.password));
    let (status, answer) = post(rpc, Some(&login), "{not json");
    assert_eq!((status, answer["error"]["code"].as_i64()), (500, Some(-32700)));
    let (status, answer) = post(rpc, Some(&login), "[1]");
    assert_eq!((status, answer[0]["error"]["code"].as_i64()), (200, Some(-32600)));
    let batch = json!([
        {"method": "getblockcount", "id": 1},
        {"method": "nope", "id": 2},
    ]);
    let (status, answer) = post(rpc, Some(&login), &batch.to_string());
    assert_eq!(status, 200, "a batch is 200 whatever its calls did");
    assert_eq!(answer[0]["result"], INITIAL_BLOCKS);
    assert_eq!(answer[1]["error"]["code"], -32601);
    // JSON-RPC 2.0 (bitcoind 28+): no `error` key on success, HTTP 200 on failure.
    let v2 = json!({"jsonrpc": "2.0", "method": "getblockhash", "params": [0], "id": 7});
    let (status, answer) = post(rpc, Some(&login), &v2.to_string());
    assert_eq!(status, 200);
    assert!(answer.get("error").is_none() && answer["result"].is_string(), "{answer}");
    let v2 = json!({"jsonrpc": "2.0", "method": "getblockhash", "params": [-5], "id": 8});
    let (status, answer) = post(rpc, Some(&login), &v2.to_string());
    assert_eq!((status, answer["error"]["code"].as_i64()), (200, Some(-8)));
}
