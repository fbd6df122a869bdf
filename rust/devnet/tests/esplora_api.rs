//! The devnet's Esplora API answers `esplora-client` 0.12 (the client ldk-node, BDK and LDK's
//! transaction sync use) with real, valid blocks.

use std::str::FromStr;

use bitcoin::blockdata::constants::genesis_block;
use bitcoin::hashes::Hash;
use bitcoin::{Address, Amount, Network, Target};
use doze_devnet::{Devnet, INITIAL_BLOCKS};
use esplora_client::{AsyncClient, Builder};

fn client(devnet: &Devnet) -> AsyncClient {
    Builder::new(&devnet.esplora_url()).build_async().expect("client")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

fn new_address() -> Address {
    let secp = bitcoin::secp256k1::Secp256k1::new();
    let (_, pk) = secp.generate_keypair(&mut bitcoin::secp256k1::rand::thread_rng());
    Address::p2wpkh(&bitcoin::CompressedPublicKey(pk), Network::Regtest)
}

#[test]
fn chain_starts_at_regtest_genesis_with_valid_blocks() {
    let devnet = Devnet::start().expect("devnet");
    let esplora = client(&devnet);
    runtime().block_on(async {
        assert_eq!(esplora.get_height().await.unwrap(), INITIAL_BLOCKS);
        let genesis = esplora.get_block_hash(0).await.unwrap();
        assert_eq!(genesis, genesis_block(Network::Regtest).block_hash());

        let tip = esplora.get_tip_hash().await.unwrap();
        let status = esplora.get_block_status(&tip).await.unwrap();
        assert!(status.in_best_chain);
        assert_eq!(status.height, Some(INITIAL_BLOCKS));
        assert_eq!(status.next_best, None);

        let infos = esplora.get_block_infos(None).await.unwrap();
        assert_eq!(infos.len(), 10, "a page of ten blocks, as electrs");
        assert_eq!(infos[0].id, tip, "newest first");
        assert_eq!(infos[0].height, INITIAL_BLOCKS);
        assert_eq!(infos[1].height, INITIAL_BLOCKS - 1);

        let mut previous_mtp = 0;
        for height in 1..=INITIAL_BLOCKS {
            let hash = esplora.get_block_hash(height).await.unwrap();
            let block = esplora.get_block_by_hash(&hash).await.unwrap().expect("raw block");
            let header = esplora.get_header_by_hash(&hash).await.unwrap();
            assert_eq!(header, block.header);
            assert_eq!(block.block_hash(), hash);
            assert!(block.check_merkle_root(), "merkle root at {height}");
            assert!(block.check_witness_commitment(), "witness commitment at {height}");
            // BIP34 exactly as bitcoind checks it: the coinbase scriptSig starts with
            // `CScript() << height` (OP_N for heights up to 16).
            let expected =
                bitcoin::script::Builder::new().push_int(i64::from(height)).into_script();
            let script_sig = block.txdata[0].input[0].script_sig.as_bytes();
            assert!(script_sig.starts_with(expected.as_bytes()), "BIP34 at {height}");
            if height > 16 {
                assert_eq!(block.bip34_block_height().unwrap(), u64::from(height));
            }
            header
                .validate_pow(Target::MAX_ATTAINABLE_REGTEST)
                .unwrap_or_else(|e| panic!("proof of work at {height}: {e}"));
            let info = esplora.get_block_info(&hash).await.unwrap();
            assert!(u64::from(header.time) > previous_mtp || height == 1, "time above MTP");
            assert!(info.mediantime >= previous_mtp, "MTP never goes back");
            previous_mtp = info.mediantime;
        }
    });
}

#[test]
fn funding_shows_in_mempool_then_confirms_with_merkle_proof() {
    let devnet = Devnet::start().expect("devnet");
    let esplora = client(&devnet);
    let address = new_address();
    let txid = devnet.fund(&address, Amount::from_sat(150_000)).expect("fund");
    runtime().block_on(async {
        let info = esplora.get_tx_info(&txid).await.unwrap().expect("mempool tx");
        assert!(!info.status.confirmed);
        assert_eq!(info.vout[0].value, 150_000);
        assert!(info.vin[0].prevout.is_some() && !info.vin[0].is_coinbase);
        assert!(info.fee > 0);
        let mempool = esplora.get_mempool_scripthash_txs(&address.script_pubkey()).await.unwrap();
        assert_eq!(mempool.len(), 1);
        assert!(
            esplora.get_merkle_block(&txid).await.unwrap().is_none(),
            "no proof while unconfirmed"
        );
    });

    let block_hash = devnet.mine(1)[0];
    runtime().block_on(async {
        let status = esplora.get_tx_status(&txid).await.unwrap();
        assert!(status.confirmed);
        assert_eq!(status.block_hash, Some(block_hash));
        assert_eq!(status.block_height, Some(INITIAL_BLOCKS + 1));

        let merkle_block = esplora.get_merkle_block(&txid).await.unwrap().expect("proof");
        let (mut matches, mut indexes) = (vec![], vec![]);
        let root = merkle_block.txn.extract_matches(&mut matches, &mut indexes).unwrap();
        assert_eq!(root, merkle_block.header.merkle_root);
        assert_eq!(matches, vec![txid]);
        assert_eq!(indexes, vec![1], "after the coinbase");

        let proof = esplora.get_merkle_proof(&txid).await.unwrap().expect("merkle proof");
        assert_eq!(proof.pos, 1);
        assert_eq!(proof.block_height, INITIAL_BLOCKS + 1);

        let raw = esplora.get_tx(&txid).await.unwrap().expect("raw tx");
        assert_eq!(raw.compute_txid(), txid);
        let spend = esplora.get_output_status(&txid, 0).await.unwrap().expect("output status");
        assert!(!spend.spent);
        assert!(esplora.get_output_status(&txid, 9).await.unwrap().is_none(), "no such output");
        let unknown = bitcoin::Txid::all_zeros();
        assert!(esplora.get_tx_info(&unknown).await.unwrap().is_none());
        assert!(!esplora.get_tx_status(&unknown).await.unwrap().confirmed);
        let fees = esplora.get_fee_estimates().await.unwrap();
        assert!(fees.contains_key(&1) && fees.contains_key(&144));
        // Per target, as a real mempool answers: each rate holds from its target on.
        devnet.state().set_fee_rates(2.0, &[(1, 20.0), (6, 8.0), (144, 3.0)]);
        let fees = esplora.get_fee_estimates().await.unwrap();
        let answers: Vec<f64> = [1, 5, 6, 24, 144, 1008].iter().map(|t| fees[t]).collect();
        assert_eq!(answers, [20.0, 20.0, 8.0, 8.0, 3.0, 3.0]);
        devnet.state().set_fee_rate(2.0);
        assert_eq!(esplora.get_fee_estimates().await.unwrap()[&1], 2.0, "one rate again");
    });
}

#[test]
fn scripthash_history_pages_by_25_newest_first() {
    let devnet = Devnet::start().expect("devnet");
    let esplora = client(&devnet);
    let address = new_address();
    let mut txids = Vec::new();
    for i in 0..30u64 {
        txids.push(devnet.fund(&address, Amount::from_sat(10_000 + i)).expect("fund"));
        if i % 10 == 9 {
            devnet.mine(1);
        }
    }
    let pending = devnet.fund(&address, Amount::from_sat(5_000)).expect("fund");
    let script = address.script_pubkey();
    runtime().block_on(async {
        let first = esplora.scripthash_txs(&script, None).await.unwrap();
        assert_eq!(first[0].txid, pending, "mempool first");
        let confirmed: Vec<_> = first.iter().filter(|t| t.status.confirmed).collect();
        assert_eq!(confirmed.len(), 25);
        let heights: Vec<u32> = confirmed.iter().filter_map(|t| t.status.block_height).collect();
        assert!(heights.windows(2).all(|w| w[0] >= w[1]), "newest first");
        let last = confirmed.last().unwrap().txid;
        let rest = esplora.scripthash_txs(&script, Some(last)).await.unwrap();
        assert_eq!(rest.len(), 5);
        let mut all: Vec<_> =
            confirmed.iter().map(|t| t.txid).chain(rest.iter().map(|t| t.txid)).collect();
        all.sort();
        let mut expected = txids.clone();
        expected.sort();
        assert_eq!(all, expected);
    });
}

#[test]
fn control_api_mines_funds_and_waits_over_http() {
    let devnet = Devnet::start().expect("devnet");
    let url = devnet.esplora_url();
    let http = reqwest::blocking::Client::new();
    let address = new_address();

    let fund: serde_json::Value = http
        .post(format!("{url}/devnet/fund"))
        .json(&serde_json::json!({"address": address.to_string(), "amount_sat": 42_000}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let txid = bitcoin::Txid::from_str(fund["txid"].as_str().unwrap()).unwrap();
    let waited =
        http.get(format!("{url}/devnet/mempool/{txid}/wait?timeout_ms=2000")).send().unwrap();
    assert_eq!(waited.status(), 200);

    let mined: serde_json::Value = http
        .post(format!("{url}/devnet/mine"))
        .json(&serde_json::json!({"blocks": 3, "address": address.to_string()}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(mined["height"], INITIAL_BLOCKS + 3);
    assert_eq!(devnet.confirmation_height(&txid), Some(INITIAL_BLOCKS + 1));

    let tip: serde_json::Value =
        http.get(format!("{url}/devnet/tip")).send().unwrap().json().unwrap();
    assert_eq!(tip["height"], INITIAL_BLOCKS + 3);

    let absent = bitcoin::Txid::all_zeros();
    let timed_out =
        http.get(format!("{url}/devnet/mempool/{absent}/wait?timeout_ms=50")).send().unwrap();
    assert_eq!(timed_out.status(), 408);

    let wrong_network = http
        .post(format!("{url}/devnet/fund"))
        .json(&serde_json::json!({
            "address": "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
            "amount_sat": 1
        }))
        .send()
        .unwrap();
    assert_eq!(wrong_network.status(), 400);
    assert!(wrong_network.text().unwrap().contains("not a regtest address"));
}
