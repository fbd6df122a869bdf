//! `doze-devnet`: runs a devnet on the command line for manual use.
//!
//! ```text
//! doze-devnet [--listen 127.0.0.1:3002]
//! ```
//! Prints the Esplora URL, then serves until interrupted. Drive it with the control API
//! (see `doze_devnet::control`), e.g. `curl -XPOST localhost:3002/devnet/mine -d '{"blocks":1}'
//! -H 'content-type: application/json'`.

use std::net::SocketAddr;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut listen: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 3002));
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--listen", Some(value)) => match value.parse() {
                Ok(addr) => listen = addr,
                Err(_) => {
                    eprintln!("--listen wants an address like 127.0.0.1:3002, not {value:?}");
                    return ExitCode::from(2);
                }
            },
            _ => {
                eprintln!("usage: doze-devnet [--listen 127.0.0.1:3002]");
                return ExitCode::from(2);
            }
        }
    }
    let devnet = match doze_devnet::Devnet::start_on(listen) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("doze-devnet: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (height, hash) = devnet.tip();
    println!("devnet ready: Esplora API at {} (tip {height} {hash})", devnet.esplora_url());
    println!("control API: POST /devnet/mine, /devnet/fund, /devnet/invalidate; GET /devnet/tip");
    // Serve until the process is interrupted; the server runs on its own thread.
    loop {
        std::thread::park();
    }
}
