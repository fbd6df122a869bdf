//! A real backup server on loopback: PostgreSQL (Debian's package, [`crate::postgres`]) and
//! LDK's `vss-server` on it, as the reference deployment runs them beside the LSP.
//! `./scripts/test` installs both (`scripts/install-backup-server`); a test starts its own pair
//! in a temporary directory and stops it when the [`BackupServer`] is dropped.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use doze_devnet::nodes::free_port;

use crate::postgres::{wait_until_ready, Postgres};

/// How long the server gets to come up.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A PostgreSQL and a `vss-server` on loopback, stopped on drop.
pub struct BackupServer {
    // Fields drop in order: the cluster stops after `vss` was killed in `drop`.
    vss: Child,
    vss_port: u16,
    postgres: Postgres,
}

impl BackupServer {
    /// Starts PostgreSQL in a fresh data directory and `vss-server` on it (signature auth, the
    /// server's default). Panics with what to install if a binary is missing.
    pub fn start() -> BackupServer {
        let postgres = Postgres::start();
        let pg_port = postgres.port();
        let dir = postgres.dir();

        let vss_port = free_port();
        let config = dir.join("vss-server.toml");
        std::fs::write(
            &config,
            format!(
                "[server_config]\nbind_address = \"127.0.0.1:{vss_port}\"\n\n\
                 [postgresql_config]\nusername = \"postgres\"\npassword = \"postgres\"\n\
                 address = \"127.0.0.1:{pg_port}\"\ndefault_database = \"postgres\"\n\
                 vss_database = \"vss\"\n\n\
                 [log_config]\nlevel = \"info\"\nfile = \"{}\"\n",
                dir.join("vss.log").display()
            ),
        )
        .expect("write the vss-server config");
        let vss = Command::new(vss_server_bin())
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("vss-server starts");
        wait_until_ready("vss-server", START_TIMEOUT, || {
            TcpStream::connect(("127.0.0.1", vss_port)).is_ok()
        });
        BackupServer { vss, vss_port, postgres }
    }

    /// The base URL a wallet's backup configuration points at (`…/vss`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/vss", self.vss_port)
    }

    /// The server's loopback address (to put doze-testkit's `LatencyProxy` in
    /// front of it).
    pub fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.vss_port))
    }

    /// The server's log file (`DOZE_TEST_KEEP_LOGS` is not needed: read it before the drop).
    pub fn log_path(&self) -> PathBuf {
        self.postgres.dir().join("vss.log")
    }
}

impl Drop for BackupServer {
    fn drop(&mut self) {
        // vss-server first, so that it does not log PostgreSQL going away; `postgres` stops
        // its cluster when it is dropped after this.
        let _ = self.vss.kill();
        let _ = self.vss.wait();
    }
}

/// `$DOZE_VSS_SERVER`, else `vss-server` under `$DOZE_TOOLS/bin` (as
/// `scripts/install-backup-server` installs it), else on the `PATH`.
fn vss_server_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("DOZE_VSS_SERVER") {
        return PathBuf::from(path);
    }
    let tools = std::env::var_os("DOZE_TOOLS").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/doze-tools")
    });
    let installed = tools.join("bin/vss-server");
    if installed.exists() {
        installed
    } else {
        PathBuf::from("vss-server")
    }
}
