//! The story's lines on the terminal: one line per step, with the time since the start.
//!
//! ```text
//! [ 1.2s] ✓ LSP ready (node 02ab12cd…)
//! [31.0s] ✗ the merchant pays the phone's invoice: timed out after 30 s waiting for …
//! ```
//!
//! On a terminal, a step in progress shows as a `…` line that its result replaces. The state is
//! process-wide so that the logger, the panic hook and the watchdog can print cleanly around
//! it and name the step that was running.

use std::fmt::Display;
use std::io::{IsTerminal, Write};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// A step failed and its `✗` line is printed; nothing more to say about it.
#[derive(Debug)]
pub struct Failed;

struct State {
    /// The step running now, if any.
    current: Option<String>,
    /// Whether a `…` line without a newline is on the terminal.
    live_line: bool,
    /// Whether stdout is a terminal (in-place updates only there).
    tty: bool,
}

fn started() -> Instant {
    static STARTED: OnceLock<Instant> = OnceLock::new();
    *STARTED.get_or_init(Instant::now)
}

fn state() -> MutexGuard<'static, State> {
    static STATE: OnceLock<Mutex<State>> = OnceLock::new();
    STATE
        .get_or_init(|| {
            Mutex::new(State {
                current: None,
                live_line: false,
                tty: std::io::stdout().is_terminal(),
            })
        })
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Starts the clock the step lines show.
pub fn start_clock() {
    started();
}

/// Time since [`start_clock`].
pub fn elapsed() -> Duration {
    started().elapsed()
}

fn stamp() -> String {
    format!("[{:>4.1}s]", elapsed().as_secs_f64())
}

/// Writes `text` as whole lines on stdout, first erasing a `…` line if one is showing.
fn print_lines(state: &mut State, text: &str) {
    let mut out = std::io::stdout().lock();
    if state.live_line {
        let _ = write!(out, "\r\x1b[2K");
        state.live_line = false;
    }
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// Runs one step of the story: shows `what` while it runs (on a terminal), then prints
/// `✓ <done(result)>`, or `✗ <what>: <error>` and returns [`Failed`].
pub fn step<T, E: Display>(
    what: &str,
    work: impl FnOnce() -> Result<T, E>,
    done: impl FnOnce(&T) -> String,
) -> Result<T, Failed> {
    {
        let mut state = state();
        state.current = Some(what.to_string());
        if state.tty {
            let mut out = std::io::stdout().lock();
            let _ = write!(out, "{} … {what}", stamp());
            let _ = out.flush();
            state.live_line = true;
        }
    }
    let result = work();
    let mut state = state();
    state.current = None;
    match result {
        Ok(value) => {
            let line = format!("{} ✓ {}", stamp(), done(&value));
            print_lines(&mut state, &line);
            Ok(value)
        }
        Err(error) => {
            let line = format!("{} ✗ {what}: {error}", stamp());
            print_lines(&mut state, &line);
            Err(Failed)
        }
    }
}

/// Prints a failure outside a step's own result (a panic, the watchdog): `✗ <step>: <error>`,
/// naming the step that was running if there was one.
pub fn fail(error: &str) {
    let mut state = state();
    let line = match state.current.take() {
        Some(what) => format!("{} ✗ {what}: {error}", stamp()),
        None => format!("{} ✗ {error}", stamp()),
    };
    print_lines(&mut state, &line);
}

/// A chapter title, with a blank line before it.
pub fn chapter(title: &str) {
    print_lines(&mut state(), &format!("\n{title}"));
}

/// Lines of text (tables, the summary), printed as they are.
pub fn text(text: &str) {
    print_lines(&mut state(), text);
}

/// Called before something else writes to the terminal (log records on stderr): ends a `…`
/// line so the record starts on a line of its own.
pub fn interrupt() {
    let mut state = state();
    if state.live_line {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out);
        let _ = out.flush();
        state.live_line = false;
    }
}

/// `50000` → `50 000`.
pub fn sat(amount: u64) -> String {
    let digits = amount.to_string();
    let mut groups: Vec<&str> = Vec::new();
    let mut end = digits.len();
    while end > 3 {
        groups.push(&digits[end - 3..end]);
        end -= 3;
    }
    groups.push(&digits[..end]);
    groups.reverse();
    groups.join(" ")
}

/// A long hex id shortened for a line: `02ab12cd…`.
pub fn short(id: &str) -> String {
    match id.get(..8) {
        Some(head) if id.len() > 8 => format!("{head}…"),
        _ => id.to_string(),
    }
}

/// Seconds with two decimals: `0.07 s`, `12.40 s`.
pub fn secs(duration: Duration) -> String {
    format!("{:.2} s", duration.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_thousands() {
        assert_eq!(sat(0), "0");
        assert_eq!(sat(999), "999");
        assert_eq!(sat(1_000), "1 000");
        assert_eq!(sat(50_000), "50 000");
        assert_eq!(sat(5_000_000), "5 000 000");
    }

    #[test]
    fn shortens_ids() {
        assert_eq!(short("02ab12cd34ef"), "02ab12cd…");
        assert_eq!(short("02ab"), "02ab");
    }
}
