//! `doze demo`: the whole story in one process, on an embedded devnet, in temporary
//! directories. One file per chapter:
//!
//! 1. `scene`: a regtest chain, an LSP with funds, a merchant with a channel to the LSP;
//! 2. `first_payment`: a new phone wallet is paid for the first time, through a channel the
//!    LSP opens just in time;
//! 3. `pay_merchant`: the phone pays the merchant;
//! 4. `split_send`: a second channel, a payment split over both, and "send max";
//! 5. `paid_asleep`: the phone registers for pushes, gets an offer and sleeps; a friend
//!    pays it, the push wakes a fresh `doze wake` process that takes the payment;
//! 6. `report`: the phone's balances and history;
//!
//! then everything stops cleanly and the temporary directories are removed. Each step prints
//! one line (see [`crate::progress`]); the first step that fails prints `✗ <step>: <error>`
//! and the demo exits with status 1.

mod first_payment;
mod paid_asleep;
mod pay_merchant;
mod report;
mod scene;
mod split_send;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use doze_core::LogLevel;
use tokio::runtime::Runtime;

use crate::progress::{self, secs, Failed};
use doze_testkit::Scene;
use first_payment::Phone;

/// How long one step may wait before it fails.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// `doze demo`'s options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Log at info level instead of warn.
    pub verbose: bool,
    /// The whole demo fails if it has not ended after this long.
    pub timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options { verbose: false, timeout: Duration::from_secs(90) }
    }
}

static PANICKED: AtomicBool = AtomicBool::new(false);

/// The temporary directory, for the watchdog to remove when it ends the process.
static WORK_DIR: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Runs the demo. Every failure has been printed when this returns `Err`.
pub fn run(options: &Options) -> Result<(), Failed> {
    progress::start_clock();
    let level = if options.verbose { LogLevel::Info } else { LogLevel::Warn };
    doze_wake::logger::init_level(level, progress::interrupt);
    // A panic anywhere (ours, or a node's thread) is a failed step, reported as one line.
    std::panic::set_hook(Box::new(|info| {
        PANICKED.store(true, Ordering::SeqCst);
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let location =
            info.location().map(|l| format!(" (at {}:{})", l.file(), l.line())).unwrap_or_default();
        let thread =
            std::thread::current().name().map(|n| format!(" in thread {n}")).unwrap_or_default();
        progress::fail(&format!("panicked{thread}: {message}{location}"));
    }));
    start_watchdog(options.timeout);

    progress::text(
        "Doze demo: a devnet, an LSP, a merchant and a phone wallet in this process, and the \
         phone's notification extension in another",
    );
    let outcome = catch_unwind(AssertUnwindSafe(tell_the_story)).unwrap_or(Err(Failed));
    if PANICKED.load(Ordering::SeqCst) {
        return Err(Failed);
    }
    outcome
}

/// Ends the process with status 1 if the demo has not ended after `timeout`.
fn start_watchdog(timeout: Duration) {
    let spawned = std::thread::Builder::new().name("watchdog".into()).spawn(move || {
        std::thread::sleep(timeout);
        progress::fail(&format!("the demo did not end within {} s; giving up", timeout.as_secs()));
        let dir = WORK_DIR.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(dir) = dir {
            // Best effort: the nodes may still be writing there.
            let _ = std::fs::remove_dir_all(dir);
        }
        std::process::exit(1);
    });
    if let Err(e) = spawned {
        progress::fail(&format!("cannot start the watchdog thread: {e}"));
    }
}

fn tell_the_story() -> Result<(), Failed> {
    // Drop order on failure, the reverse of declaration: phone, scene (merchant, LSP, devnet),
    // runtime, temporary directory.
    let dir = progress::step(
        "create a temporary directory",
        || tempfile::Builder::new().prefix("doze-demo-").tempdir(),
        |dir| format!("working in {} (removed at the end)", dir.path().display()),
    )?;
    *WORK_DIR.lock().unwrap_or_else(|p| p.into_inner()) = Some(dir.path().to_path_buf());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| {
        progress::fail(&format!("cannot start a runtime to drive the wallet's async API: {e}"));
        Failed
    })?;
    let scene = scene::set_up()?;
    let phone = first_payment::start_phone(&rt, &scene, &dir.path().join("phone"))?;
    first_payment::receive_first_payment(&rt, &scene, &phone)?;
    pay_merchant::pay_merchant(&rt, &scene, &phone)?;
    split_send::split_send(&rt, &scene, &phone)?;
    let phone = paid_asleep::paid_while_asleep(&rt, &scene, phone)?;
    report::show_balances_and_history(&phone, 5)?;
    let phone_start = phone.start_time;
    wrap_up(&rt, phone, scene, dir)?;
    progress::text(&format!(
        "\nDone in {}. The phone's wallet started in {}.",
        secs(progress::elapsed()),
        secs(phone_start)
    ));
    Ok(())
}

/// Stops the phone, the merchant, the LSP and the devnet, in that order, and removes the
/// temporary directory.
fn wrap_up(rt: &Runtime, phone: Phone, scene: Scene, dir: tempfile::TempDir) -> Result<(), Failed> {
    progress::chapter("Wrapping up");
    progress::step(
        "stop the phone's wallet",
        || -> Result<Duration, String> {
            let started = Instant::now();
            rt.block_on(phone.wallet.stop()).map_err(|e| e.to_string())?;
            let took = started.elapsed();
            drop(phone);
            Ok(took)
        },
        |took| format!("phone's wallet stopped in {}", secs(*took)),
    )?;
    progress::step(
        "stop the merchant's node and the LSP",
        || scene.stop(),
        |_| "merchant's node, LSP and devnet stopped".to_string(),
    )?;
    let path = dir.path().display().to_string();
    WORK_DIR.lock().unwrap_or_else(|p| p.into_inner()).take();
    progress::step(
        "remove the temporary directory",
        || dir.close(),
        |_| format!("removed {path}"),
    )?;
    Ok(())
}
