//! A real PostgreSQL (Debian's package) on loopback in a temporary data directory, stopped on
//! drop: what the backup server stores in, and what LSPs share their push registrations in.
//! `./scripts/test` installs it (`scripts/install-backup-server`).
//!
//! PostgreSQL refuses to run as root; under root (CI containers) its data directory is handed
//! to the `postgres` user the package creates and its commands run through `runuser`.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use doze_devnet::nodes::free_port;

/// How long PostgreSQL gets to come up.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A PostgreSQL cluster on a free loopback port (user `postgres`, trust authentication).
pub struct Postgres {
    process: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Postgres {
    /// Initialises a cluster in a fresh temporary directory and starts it. Panics with what to
    /// install if PostgreSQL is missing.
    pub fn start() -> Postgres {
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
        let port = free_port();
        let process = postgres_command(as_root, &bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-k"])
            .arg(dir.path())
            .args(["-c", "listen_addresses=127.0.0.1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("postgres starts");
        wait_until_ready("PostgreSQL", START_TIMEOUT, || {
            postgres_command(as_root, &bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
        Postgres { process, port, dir }
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A connection URL for the `postgres` database as the `postgres` user.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The directory the cluster lives in (its data directory is `data` inside); others may
    /// keep their own files beside it for as long as this server lives.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The postmaster's pid, from the first line of its `postmaster.pid`.
    pub fn pid(&self) -> Option<String> {
        let text =
            std::fs::read_to_string(self.dir.path().join("data").join("postmaster.pid")).ok()?;
        let pid = text.lines().next()?.trim();
        pid.parse::<u32>().ok().map(|_| pid.to_string())
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // Under root the child is `runuser`, which does not pass a kill on to PostgreSQL: stop
        // the postmaster itself (its pid heads `postmaster.pid`) with SIGQUIT, PostgreSQL's
        // immediate shutdown (its backends follow). This data directory is thrown away anyway.
        let stopped = self.pid().is_some_and(|pid| {
            Command::new("kill").args(["-QUIT", &pid]).status().is_ok_and(|s| s.success())
        });
        if !stopped {
            let _ = self.process.kill();
        }
        // `runuser` (or PostgreSQL itself) exits once the postmaster has.
        let _ = self.process.wait();
    }
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

/// Polls `ready` every 50 ms until it holds, panicking after `timeout`.
pub(crate) fn wait_until_ready(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
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
    fn dropping_the_server_stops_postgres() {
        let server = Postgres::start();
        let pid = server.pid().expect("the postmaster's pid");
        let proc_dir = PathBuf::from(format!("/proc/{pid}"));
        assert!(proc_dir.exists());
        drop(server);
        // The drop waited for the postmaster (through `runuser` under root) to exit.
        assert!(!proc_dir.exists(), "PostgreSQL ({pid}) still runs");
    }
}
