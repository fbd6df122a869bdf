//! A real backup server on loopback: PostgreSQL (Debian's package) and LDK's `vss-server` on
//! it, as the reference deployment runs them beside the LSP. `./scripts/test` installs both
//! (`scripts/install-backup-server`); a test starts its own pair in a temporary directory and
//! stops it when the [`BackupServer`] is dropped.
//!
//! PostgreSQL refuses to run as root; under root (CI containers) its data directory is handed
//! to the `postgres` user the package creates and its commands run through `runuser`.

use std::net::TcpStream;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use doze_devnet::nodes::free_port;

/// How long the servers get to come up.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A PostgreSQL and a `vss-server` on loopback, stopped on drop.
pub struct BackupServer {
    postgres: Child,
    vss: Child,
    vss_port: u16,
    dir: tempfile::TempDir,
}

impl BackupServer {
    /// Starts PostgreSQL in a fresh data directory and `vss-server` on it (signature auth, the
    /// server's default). Panics with what to install if a binary is missing.
    pub fn start() -> BackupServer {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let as_root = is_root();
        if as_root {
            run(Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()));
        }
        let bin = postgres_bin_dir();
        let data = dir.path().join("data");
        run(postgres_command(as_root, &bin.join("initdb"))
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "-D"])
            .arg(&data));
        let pg_port = free_port();
        let postgres = postgres_command(as_root, &bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .args(["-p", &pg_port.to_string(), "-k"])
            .arg(dir.path())
            .args(["-c", "listen_addresses=127.0.0.1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("postgres starts");
        wait_until_ready("PostgreSQL", START_TIMEOUT, || {
            postgres_command(as_root, &bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &pg_port.to_string()])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });

        let vss_port = free_port();
        let config = dir.path().join("vss-server.toml");
        std::fs::write(
            &config,
            format!(
                "[server_config]\nbind_address = \"127.0.0.1:{vss_port}\"\n\n\
                 [postgresql_config]\nusername = \"postgres\"\npassword = \"postgres\"\n\
                 address = \"127.0.0.1:{pg_port}\"\ndefault_database = \"postgres\"\n\
                 vss_database = \"vss\"\n\n\
                 [log_config]\nlevel = \"info\"\nfile = \"{}\"\n",
                dir.path().join("vss.log").display()
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
        BackupServer { postgres, vss, vss_port, dir }
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
        self.dir.path().join("vss.log")
    }
}

impl Drop for BackupServer {
    fn drop(&mut self) {
        let _ = self.vss.kill();
        let _ = self.vss.wait();
        // Under root the child is `runuser`, which does not pass a kill on to PostgreSQL: stop
        // the postmaster itself (its pid heads `postmaster.pid`) with SIGQUIT, PostgreSQL's
        // immediate shutdown (its backends follow). This data directory is thrown away anyway.
        let stopped = pid_file_pid(&self.dir).is_some_and(|pid| {
            Command::new("kill").args(["-QUIT", &pid]).status().is_ok_and(|s| s.success())
        });
        if !stopped {
            let _ = self.postgres.kill();
        }
        // `runuser` (or PostgreSQL itself) exits once the postmaster has.
        let _ = self.postgres.wait();
    }
}

/// The postmaster's pid, from the first line of its `postmaster.pid`.
fn pid_file_pid(dir: &tempfile::TempDir) -> Option<String> {
    let text = std::fs::read_to_string(dir.path().join("data").join("postmaster.pid")).ok()?;
    let pid = text.lines().next()?.trim();
    pid.parse::<u32>().ok().map(|_| pid.to_string())
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

/// `runuser -u postgres -- PROGRAM` under root, `PROGRAM` otherwise.
fn postgres_command(as_root: bool, program: &Path) -> Command {
    if as_root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn run(command: &mut Command) {
    let output = command.output().unwrap_or_else(|e| panic!("{command:?} did not run: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The newest PostgreSQL of Debian's `postgresql` package.
fn postgres_bin_dir() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| entries.filter_map(|e| e.ok()).map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    versions.retain(|bin| bin.join("postgres").exists());
    versions.sort();
    versions.pop().expect("PostgreSQL is installed (apt-get install postgresql)")
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

fn wait_until_ready(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ready() {
        assert!(Instant::now() < deadline, "{what} did not come up within {timeout:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropping_the_server_stops_postgres_too() {
        let server = BackupServer::start();
        let pid = pid_file_pid(&server.dir).expect("the postmaster's pid");
        let proc_dir = PathBuf::from(format!("/proc/{pid}"));
        assert!(proc_dir.exists());
        drop(server);
        // The drop waited for the postmaster (through `runuser` under root) to exit.
        assert!(!proc_dir.exists(), "PostgreSQL ({pid}) still runs");
    }
}
