//! `doze-devnet`: runs a devnet on the command line for manual use.
//!
//! ```text
//! doze-devnet [--listen 127.0.0.1:3002] [--rpc-listen 127.0.0.1:18443]
//!             [--electrum-listen 127.0.0.1:60401]
//! ```
//! Prints where its servers are (Esplora, bitcoind's JSON-RPC with its logins, Electrum), then
//! serves until interrupted. Drive it with the control API (see `doze_devnet::control`), e.g.
//! `curl -XPOST localhost:3002/devnet/mine -d '{"blocks":1}' -H 'content-type: application/json'`.

use std::net::SocketAddr;
use std::process::ExitCode;

use doze_devnet::{Devnet, Listen};

const USAGE: &str = "usage: doze-devnet [--listen 127.0.0.1:3002] [--rpc-listen 127.0.0.1:18443] \
                     [--electrum-listen 127.0.0.1:60401]";

fn main() -> ExitCode {
    // bitcoind's regtest RPC port and electrs's regtest Electrum port, so that configs written
    // for those work unchanged.
    let mut listen = Listen {
        esplora: SocketAddr::from(([127, 0, 0, 1], 3002)),
        bitcoind_rpc: SocketAddr::from(([127, 0, 0, 1], 18443)),
        electrum: SocketAddr::from(([127, 0, 0, 1], 60401)),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let slot = match arg.as_str() {
            "--listen" => &mut listen.esplora,
            "--rpc-listen" => &mut listen.bitcoind_rpc,
            "--electrum-listen" => &mut listen.electrum,
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        };
        match args.next().map(|value| (value.parse(), value)) {
            Some((Ok(addr), _)) => *slot = addr,
            Some((Err(_), value)) => {
                eprintln!("{arg} wants an address like 127.0.0.1:3002, not {value:?}");
                return ExitCode::from(2);
            }
            None => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let devnet = match Devnet::start_with(listen) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("doze-devnet: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (height, hash) = devnet.tip();
    let rpc = devnet.bitcoind_rpc();
    println!("devnet ready: Esplora API at {} (tip {height} {hash})", devnet.esplora_url());
    println!(
        "bitcoind RPC at {} (user {}, password {}; or the cookie file {})",
        rpc.url(),
        rpc.user,
        rpc.password,
        rpc.cookie_file.display()
    );
    println!("Electrum at {}", devnet.electrum_url());
    println!("control API: POST /devnet/mine, /devnet/fund, /devnet/invalidate; GET /devnet/tip");
    // Serve until the process is interrupted; the servers run on their own thread.
    loop {
        std::thread::park();
    }
}
