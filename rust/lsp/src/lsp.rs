//! The daemon: an ldk-node node in the async-payments server role with an LSPS2 service, its
//! event loop and its operator HTTP API, started with one call and stopped cleanly.
//!
//! Threads: ldk-node runs on a runtime the LSP owns; events are handled on a plain thread;
//! the HTTP API has its own runtime and thread. Nothing here needs the caller's runtime, and
//! the calls that block on ldk-node's runtime ([`Lsp::start`], [`Lsp::sync`], [`Lsp::stop`])
//! move to a fresh thread when called from inside a tokio runtime.

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::bitcoin::Address;
use ldk_node::config::{
    AsyncPaymentsRole, BackgroundSyncConfig, ElectrumSyncConfig, EsploraSyncConfig,
};
use ldk_node::lightning::ln::msgs::SocketAddress;
use ldk_node::logger::{LogRecord, LogWriter};
use ldk_node::{Builder, Event, Node, NodeError};
use tokio::runtime::Runtime;

use crate::chain_source::{check_bitcoind, ChainSource};
use crate::config::LspConfig;
use crate::error::LspError;
use crate::events::{EventHub, EventLoop};
use crate::http::{self, HttpServer, HttpStats};
use crate::log_hooks::LogHub;
use crate::push::{PushService, PushStats, PushStore};

/// The file under `storage_dir` holding the node's key material.
pub const SEED_FILE: &str = "lsp_seed";

/// Observers to attach before the node starts, so that they also see what it logs and emits
/// while starting.
#[derive(Clone, Default)]
pub struct Observers {
    logs: Arc<LogHub>,
    events: Arc<EventHub>,
}

impl Observers {
    /// No observers.
    pub fn new() -> Observers {
        Observers::default()
    }

    /// Adds an observer of every ldk-node log record (see [`LogHub`] for the rules).
    pub fn on_log(self, observer: impl Fn(&LogRecord<'_>) + Send + Sync + 'static) -> Observers {
        self.logs.subscribe(observer);
        self
    }

    /// Adds an observer of every ldk-node event (see [`EventHub`] for the rules).
    pub fn on_event(self, observer: impl Fn(&Event) + Send + Sync + 'static) -> Observers {
        self.events.subscribe(observer);
        self
    }
}

/// The parts that run until [`Lsp::stop`].
struct Running {
    http: HttpServer,
    events: EventLoop,
}

/// A running LSP. Dropping it stops it.
pub struct Lsp {
    node: Arc<Node>,
    push: Arc<PushService>,
    config: LspConfig,
    logs: Arc<LogHub>,
    events: Arc<EventHub>,
    http_addr: SocketAddr,
    running: Mutex<Option<Running>>,
    runtime: Mutex<Option<Runtime>>,
}

impl Lsp {
    /// Builds and starts the node, its event loop and the HTTP API.
    pub fn start(config: LspConfig) -> Result<Lsp, LspError> {
        Self::start_with_observers(config, Observers::new())
    }

    /// Reads the config file and starts: `doze-lsp --config <path>` in one call.
    pub fn start_from_file(path: impl AsRef<std::path::Path>) -> Result<Lsp, LspError> {
        Self::start(LspConfig::from_file(path)?)
    }

    /// Like [`Lsp::start`], with log and event observers attached from the first record.
    pub fn start_with_observers(config: LspConfig, observers: Observers) -> Result<Lsp, LspError> {
        std::fs::create_dir_all(&config.storage_dir)
            .map_err(|source| LspError::Storage { path: config.storage_dir.clone(), source })?;
        let listener = TcpListener::bind(config.http_listen)
            .map_err(|source| LspError::HttpBind { addr: config.http_listen, source })?;
        // Before the runtime: failing here must not drop a runtime inside the caller's.
        let push = PushService::open(&config.push, &config.storage_dir).map_err(|source| {
            LspError::PushStore {
                location: PushStore::location(
                    config.push.postgres_url.as_deref(),
                    &config.storage_dir,
                ),
                source,
            }
        })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("lsp-node")
            .enable_all()
            .build()
            .map_err(LspError::Runtime)?;
        let Observers { logs, events } = observers;
        // Before the node exists, so that no interception record is missed. The observer only
        // queues (never blocks ldk-node's thread); the dispatcher thread does the rest.
        let push_observer = logs.subscribe(push.log_observer());

        let node = match outside_tokio(|| build_and_start(&config, &logs, &runtime)) {
            Ok(node) => node,
            Err(e) => {
                logs.unsubscribe(push_observer);
                shut_down(runtime);
                return Err(e);
            }
        };
        let signing_node = Arc::clone(&node);
        if let Err(e) =
            push.start(node.node_id(), Arc::new(move |m: &[u8]| signing_node.sign_message(m)))
        {
            logs.unsubscribe(push_observer);
            stop_node(&node);
            shut_down(runtime);
            return Err(LspError::Runtime(e));
        }
        let event_loop = match EventLoop::spawn(
            Arc::clone(&node),
            runtime.handle().clone(),
            Arc::clone(&events),
        ) {
            Ok(event_loop) => event_loop,
            Err(e) => {
                push.stop();
                stop_node(&node);
                shut_down(runtime);
                return Err(LspError::Runtime(e));
            }
        };
        let router = http::router(
            Arc::clone(&node),
            Arc::clone(&push),
            (&config.lsps2).into(),
            &config.http,
            config.http_listen,
        );
        let http = match HttpServer::spawn(listener, router, &config.http) {
            Ok(http) => http,
            Err(e) => {
                event_loop.stop();
                push.stop();
                stop_node(&node);
                shut_down(runtime);
                return Err(LspError::Runtime(e));
            }
        };
        let http_addr = http.addr();
        log::info!(
            target: "doze_lsp",
            "LSP {} up: p2p {}, operator API http://{http_addr}",
            node.node_id(),
            config.p2p_listen
        );
        Ok(Lsp {
            node,
            push,
            config,
            logs,
            events,
            http_addr,
            running: Mutex::new(Some(Running { http, events: event_loop })),
            runtime: Mutex::new(Some(runtime)),
        })
    }

    /// The ldk-node node (for what this type does not wrap). Do not take its events: the
    /// LSP's event loop does; subscribe with [`Lsp::events`] instead.
    pub fn node(&self) -> Arc<Node> {
        Arc::clone(&self.node)
    }

    /// The node id.
    pub fn node_id(&self) -> PublicKey {
        self.node.node_id()
    }

    /// The address clients dial: `p2p_announce` if set, else `p2p_listen` (which is not
    /// dialable when it is a wildcard such as `0.0.0.0`: set `p2p_announce` then).
    pub fn p2p_address(&self) -> SocketAddress {
        self.config.p2p_announce.clone().unwrap_or_else(|| self.config.p2p_listen.clone())
    }

    /// The operator API's base URL, e.g. `http://127.0.0.1:41234`.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// What the HTTP server's limits turned away so far (zero once stopped).
    pub fn http_stats(&self) -> HttpStats {
        lock(&self.running).as_ref().map(|r| r.http.stats()).unwrap_or_default()
    }

    /// The operator API's address (the real port when `http_listen` asked for port 0).
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &LspConfig {
        &self.config
    }

    /// The log hub, to subscribe to ldk-node's log records.
    pub fn logs(&self) -> &Arc<LogHub> {
        &self.logs
    }

    /// Push registrations and dispatch (see [`crate::push`]).
    pub fn push(&self) -> &Arc<PushService> {
        &self.push
    }

    /// What the push machinery did since the LSP started.
    pub fn push_stats(&self) -> PushStats {
        self.push.stats()
    }

    /// The event hub, to subscribe to ldk-node's events.
    pub fn events(&self) -> &Arc<EventHub> {
        &self.events
    }

    /// Syncs the on-chain and Lightning wallets with the chain (needed when `background_sync`
    /// is off). Blocks until done.
    pub fn sync(&self) -> Result<(), LspError> {
        let node = &self.node;
        outside_tokio(|| node.sync_wallets()).map_err(|source| LspError::Sync {
            source,
            chain_source: self.config.chain_source.to_string(),
        })
    }

    /// A fresh address of the LSP's on-chain wallet, to fund it.
    pub fn new_onchain_address(&self) -> Result<Address, LspError> {
        self.node.onchain_payment().new_address().map_err(LspError::Wallet)
    }

    /// Whether it runs (not yet stopped).
    pub fn is_running(&self) -> bool {
        lock(&self.running).is_some()
    }

    /// Stops the HTTP API, then the event loop and the push dispatcher, then the node.
    /// Stopping twice is fine.
    pub fn stop(&self) -> Result<(), LspError> {
        let Some(Running { http, events }) = lock(&self.running).take() else {
            return Ok(());
        };
        http.stop();
        events.stop();
        self.push.stop();
        let node = &self.node;
        match outside_tokio(|| node.stop()) {
            Ok(()) | Err(NodeError::NotRunning) => {
                log::info!(target: "doze_lsp", "LSP {} stopped", self.node.node_id());
                Ok(())
            }
            Err(e) => Err(LspError::Stop(e)),
        }
    }
}

impl Drop for Lsp {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            log::warn!(target: "doze_lsp", "{e}");
        }
        if let Some(runtime) = lock(&self.runtime).take() {
            shut_down(runtime);
        }
    }
}

fn build_and_start(
    config: &LspConfig,
    logs: &Arc<LogHub>,
    runtime: &Runtime,
) -> Result<Arc<Node>, LspError> {
    let mut builder = Builder::new();
    builder.set_network(config.network);
    builder.set_storage_dir_path(config.storage_dir.to_string_lossy().into_owned());
    builder
        .set_entropy_seed_path(config.storage_dir.join(SEED_FILE).to_string_lossy().into_owned());
    let background_sync_config = config.background_sync.then(BackgroundSyncConfig::default);
    match &config.chain_source {
        ChainSource::Esplora { url } => {
            builder.set_chain_source_esplora(
                url.clone(),
                Some(EsploraSyncConfig { background_sync_config }),
            );
        }
        ChainSource::Electrum { url } => {
            builder.set_chain_source_electrum(
                url.clone(),
                Some(ElectrumSyncConfig { background_sync_config }),
            );
        }
        // bitcoind writes a new cookie each time it starts: read it now, and check that
        // bitcoind takes it and follows the configured network before the node is built on it.
        // ldk-node polls bitcoind continuously whatever `background_sync` says.
        ChainSource::BitcoindRpc { host, port, auth } => {
            let (user, password) = auth.login()?;
            check_bitcoind(host, *port, (&user, &password), config.network)?;
            builder.set_chain_source_bitcoind_rpc(host.clone(), *port, user, password);
        }
    }
    builder.set_listening_addresses(vec![config.p2p_listen.clone()]).map_err(LspError::Build)?;
    if let Some(announce) = &config.p2p_announce {
        builder.set_announcement_addresses(vec![announce.clone()]).map_err(LspError::Build)?;
    }
    builder.set_node_alias(config.alias.clone()).map_err(LspError::Build)?;
    // After the alias and the listening address: the server role requires both.
    builder.set_async_payments_role(Some(AsyncPaymentsRole::Server)).map_err(LspError::Build)?;
    builder.set_liquidity_provider_lsps2((&config.lsps2).into());
    builder.set_custom_logger(Arc::clone(logs) as Arc<dyn LogWriter>);
    // Monitor writes after the manager's (Doze's ldk-node patch, vendor/ldk-node): an LSP killed
    // at any instant leaves no channel for LDK to force-close at the next start.
    builder.set_kill_safe_persistence(true);
    builder.set_prompt_forwarding(config.prompt_forwarding);
    builder.set_runtime(runtime.handle().clone());
    let node = Arc::new(builder.build().map_err(LspError::Build)?);
    node.start().map_err(|source| LspError::Start {
        source,
        chain_source: config.chain_source.to_string(),
        p2p_listen: config.p2p_listen.to_string(),
    })?;
    Ok(node)
}

fn stop_node(node: &Node) {
    if let Err(e) = outside_tokio(|| node.stop()) {
        log::warn!(target: "doze_lsp", "stopping the node after a failed start: {e}");
    }
}

/// Shuts a runtime down without panicking inside an async context.
fn shut_down(runtime: Runtime) {
    if tokio::runtime::Handle::try_current().is_ok() {
        runtime.shutdown_background();
    } else {
        runtime.shutdown_timeout(Duration::from_secs(5));
    }
}

/// Runs `f` here, or on a fresh thread when called from inside a tokio runtime (ldk-node's
/// blocking calls would reuse, and may panic on, the caller's runtime).
fn outside_tokio<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    std::thread::scope(|scope| match scope.spawn(f).join() {
        Ok(result) => result,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
