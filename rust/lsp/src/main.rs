//! `doze-lsp --config lsp.toml`: runs Doze's reference LSP until SIGINT or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use doze_lsp::{Lsp, LspConfig};

const USAGE: &str = "usage: doze-lsp --config <lsp.toml>

Runs Doze's reference LSP (ldk-node async-payments server + LSPS2 JIT channels + operator
HTTP API) until SIGINT or SIGTERM. See lsp.example.toml for the config format.
Log level: DOZE_LSP_LOG=error|warn|info|debug|trace (default info).";

fn main() -> ExitCode {
    let config_path = match parse_args(std::env::args().skip(1)) {
        Ok(Some(path)) => path,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("doze-lsp: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = doze_lsp::stderr_logger::init_from_env() {
        eprintln!("doze-lsp: cannot install the logger: {e}");
    }
    match run(config_path) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("doze-lsp: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `Ok(None)` asks for the usage text.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<PathBuf>, String> {
    let mut config = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "-c" | "--config" => {
                config = Some(args.next().ok_or("--config needs a file path")?.into());
            }
            other => match other.strip_prefix("--config=") {
                Some(path) => config = Some(path.into()),
                None => return Err(format!("unexpected argument `{other}`")),
            },
        }
    }
    config.map(Some).ok_or_else(|| "missing --config <lsp.toml>".to_string())
}

fn run(config_path: PathBuf) -> Result<(), String> {
    let config = LspConfig::from_file(&config_path).map_err(|e| e.to_string())?;
    // Started from this plain thread, not from inside a tokio runtime.
    let lsp = Lsp::start(config).map_err(|e| e.to_string())?;
    println!("node id:      {}", lsp.node_id());
    println!("p2p address:  {}", lsp.p2p_address());
    println!("operator API: {}", lsp.http_url());

    let signals = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot wait for signals: {e}"))?;
    let waited = signals.block_on(wait_for_shutdown_signal());
    drop(signals);
    match waited {
        Ok(name) => log::info!(target: "doze_lsp", "{name} received, stopping"),
        Err(e) => log::error!(target: "doze_lsp", "cannot wait for signals ({e}), stopping"),
    }
    lsp.stop().map_err(|e| e.to_string())
}

#[cfg(unix)]
async fn wait_for_shutdown_signal() -> std::io::Result<&'static str> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(tokio::select! {
        _ = terminate.recv() => "SIGTERM",
        _ = interrupt.recv() => "SIGINT",
    })
}

#[cfg(not(unix))]
async fn wait_for_shutdown_signal() -> std::io::Result<&'static str> {
    tokio::signal::ctrl_c().await.map(|()| "Ctrl-C")
}
