//! The anchor of the wake benchmark: the same wake done with stock ldk-node — build the node
//! on the phone's storage, `start()`, wait for a new `PaymentReceived`, `stop()`. Run as its
//! own process by `wake`, like `doze wake`.
//!
//! `ldk-wake <node storage dir> <esplora url> <lsp id> <lsp address> <deadline ms>
//! [<vss url> <vss store id>]`, with the recovery phrase in `$DOZE_MNEMONIC`. With a VSS server
//! the node's store is there (ldk-node's `build_with_vss_store_and_header_provider`, signed in
//! with Doze's `BackupAuth` of the same phrase), as a stock phone with a remote store wakes.

use std::str::FromStr;
use std::time::{Duration, Instant};

use ldk_node::config::{AsyncPaymentsRole, EsploraSyncConfig};
use ldk_node::lightning::ln::msgs::SocketAddress;
use ldk_node::Event;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (storage, esplora, lsp_id, lsp_address, deadline_ms, vss) = match args.as_slice() {
        [storage, esplora, lsp_id, lsp_address, deadline_ms] => {
            (storage, esplora, lsp_id, lsp_address, deadline_ms, None)
        }
        [storage, esplora, lsp_id, lsp_address, deadline_ms, vss_url, store_id] => {
            (storage, esplora, lsp_id, lsp_address, deadline_ms, Some((vss_url, store_id)))
        }
        _ => {
            eprintln!(
                "usage: ldk-wake <node dir> <esplora> <lsp id> <lsp address> <deadline ms> \
                 [<vss url> <vss store id>]"
            );
            std::process::exit(2);
        }
    };
    let started = Instant::now();
    let deadline = started + Duration::from_millis(deadline_ms.parse().expect("deadline ms"));
    let phrase = std::env::var("DOZE_MNEMONIC").expect("DOZE_MNEMONIC");
    let mnemonic = ldk_node::bip39::Mnemonic::parse(&phrase).expect("mnemonic");
    let lsp_id = ldk_node::bitcoin::secp256k1::PublicKey::from_str(lsp_id).expect("lsp id");
    let lsp_address = SocketAddress::from_str(lsp_address).expect("lsp address");
    let mut builder = ldk_node::Builder::new();
    builder.set_network(ldk_node::bitcoin::Network::Regtest);
    builder.set_storage_dir_path(storage.clone());
    builder.set_chain_source_esplora(
        esplora.clone(),
        Some(EsploraSyncConfig { background_sync_config: None }),
    );
    builder.set_entropy_bip39_mnemonic(mnemonic, None);
    builder.set_liquidity_source_lsps2(lsp_id, lsp_address.clone(), None);
    builder.set_async_payments_role(Some(AsyncPaymentsRole::Client)).expect("role");
    if let Ok(path) = std::env::var("LDK_WAKE_LOG") {
        // A trace log to compare its timeline with `doze-wake`'s.
        builder.set_filesystem_logger(Some(path), Some(ldk_node::logger::LogLevel::Trace));
    }
    let node = match vss {
        None => builder.build(),
        Some((url, store_id)) => {
            let auth =
                doze_core::BackupAuth::from_mnemonic(&phrase, None, doze_core::Network::Regtest)
                    .expect("the backup key");
            builder.build_with_vss_store_and_header_provider(
                url.clone(),
                store_id.clone(),
                std::sync::Arc::new(auth),
            )
        }
    }
    .expect("build");
    node.start().expect("start");
    node.connect(lsp_id, lsp_address, true).expect("connect");
    // Stale PaymentReceived events of earlier wakes are re-emitted at start: only a payment
    // this wake claimed counts (DESIGN.md's first pitfall).
    let known: std::collections::HashSet<_> = node.list_payments().iter().map(|p| p.id).collect();
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let node_started_ms = started.elapsed().as_millis();
    let mut paid = false;
    let mut received_ms = None;
    while Instant::now() < deadline && !paid {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(event) =
            runtime.block_on(async { tokio::time::timeout(left, node.next_event_async()).await })
        else {
            break;
        };
        if let Event::PaymentReceived { payment_id: Some(id), .. } = &event {
            paid = !known.contains(id);
            received_ms = Some(started.elapsed().as_millis());
        }
        node.event_handled().expect("event handled");
    }
    node.stop().expect("stop");
    println!(
        "{{\"paid\": {paid}, \"node_started_ms\": {node_started_ms}, \
         \"payment_received_ms\": {}, \"total_ms\": {}}}",
        received_ms.map(|ms| ms.to_string()).unwrap_or_else(|| "null".into()),
        started.elapsed().as_millis()
    );
}
