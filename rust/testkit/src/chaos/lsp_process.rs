//! The phone's LSP as a process of its own (`doze-lsp`), so that a chaos run can kill it with
//! SIGKILL and start it again on the same storage, ports and keys; its operator API answers
//! what the supervisor asks of it meanwhile. At the end it is stopped cleanly and started in
//! the supervisor's process again, for the final checks on its node.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use doze_devnet::nodes::DEFAULT_WAIT;
use doze_lsp::{Lsp, LspConfig};
use serde_json::Value;

use super::workspace_binary;
use crate::kills::poll_state;

/// LSP-A, running as `doze-lsp --config <file>`.
pub struct LspProcess {
    config: LspConfig,
    config_path: PathBuf,
    log_dir: PathBuf,
    child: Option<Child>,
    starts: u64,
}

impl LspProcess {
    /// Stops the in-process `lsp` and starts the same LSP (storage, ports, keys) as a process;
    /// its config and logs go to `work_dir`.
    pub fn take_over(lsp: &Lsp, work_dir: &std::path::Path) -> LspProcess {
        let mut config = lsp.config().clone();
        // The port it got, kept: the phone's configuration names it.
        config.http_listen = lsp.http_addr();
        lsp.stop().unwrap_or_else(|e| panic!("the in-process LSP stops: {e}"));
        let config_path = work_dir.join("lsp-a.toml");
        std::fs::write(&config_path, config.to_toml())
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", config_path.display()));
        let mut process =
            LspProcess { config, config_path, log_dir: work_dir.into(), child: None, starts: 0 };
        process.launch();
        process
    }

    fn launch(&mut self) {
        let log = self.log_dir.join(format!("lsp-a-{}.log", self.starts));
        let log = std::fs::File::create(&log).unwrap_or_else(|e| panic!("an LSP log: {e}"));
        let child = Command::new(workspace_binary("doze-lsp"))
            .arg("--config")
            .arg(&self.config_path)
            .env("DOZE_LSP_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot launch doze-lsp: {e}"));
        self.child = Some(child);
        self.starts += 1;
        let up = poll_state(DEFAULT_WAIT, || self.channels().is_ok(), |up| *up);
        if !up {
            panic!("doze-lsp did not come up within {DEFAULT_WAIT:?} (log in {})", {
                self.log_dir.display()
            });
        }
    }

    /// Kills the LSP with SIGKILL and starts it again.
    pub fn kill_and_restart(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.launch();
    }

    /// The LSP's channels, from its operator API.
    pub fn channels(&self) -> Result<Vec<Value>, String> {
        let url = format!("http://{}/v1/channels", self.config.http_listen);
        let answer = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .and_then(|client| client.get(&url).send())
            .and_then(|response| response.error_for_status())
            .and_then(|response| response.json::<Value>())
            .map_err(|e| format!("{url}: {e}"))?;
        Ok(answer["channels"].as_array().cloned().unwrap_or_default())
    }

    /// Stops the process cleanly (SIGTERM) and starts the LSP in this process again.
    pub fn into_in_process(mut self) -> Lsp {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let stopped =
                poll_state(DEFAULT_WAIT, || child.try_wait().ok().flatten(), Option::is_some);
            if stopped.is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        Lsp::start(self.config.clone()).unwrap_or_else(|e| panic!("LSP-A starts again: {e}"))
    }

    /// How many times the process was started.
    pub fn starts(&self) -> u64 {
        self.starts
    }
}

impl Drop for LspProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
