//! The `doze` binary as a person runs it: `doze demo` tells the whole story and exits 0; a
//! demo that cannot finish says which step failed and exits 1; a mistyped command exits 2
//! with the usage.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn doze(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_doze")).args(args).output().expect("the doze binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn demo_tells_the_whole_story_and_exits_0() {
    let started = Instant::now();
    let output = doze(&["demo"]);
    let took = started.elapsed();
    let stdout = text(&output.stdout);
    let stderr = text(&output.stderr);
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    for line in [
        "✓ devnet up",
        "✓ LSP ready (node ",
        "✓ LSP funded with 5 000 000 sat",
        "✓ merchant opened a 1 000 000 sat channel to the LSP",
        "✓ phone wallet started in ",
        "✓ phone invoiced 50 000 sat; no channel yet, so the LSP will open one just in time",
        "the LSP opened a 100 000 sat channel to the phone, just in time",
        "✓ phone received 50 000 sat",
        "✓ phone can spend ",
        "✓ phone paid 20 000 sat",
        "✓ merchant received 20 000 sat",
        "✓ phone's channel settled: ",
        "✓ LSP opened a 100 000 sat channel with 40 000 sat on the phone's side",
        "✓ payable: 45 000 sat",
        "✓ paid 45 000 sat split over the phone's channels",
        "✓ sent ",
        "✓ LSP opened an announced 500 000 sat channel to the merchant",
        "✓ friend's node ready",
        "✓ registered with the LSP; pushes go to http://127.0.0.1:",
        "✓ reusable BOLT 12 offer lno1",
        "✓ app's wallet stopped; the LSP sees the phone offline",
        "✓ friend is paying 9 000 sat",
        "✓ woken, paid and stopped in ",
        "Received 9,000 sats (Paid)",
        "push verified",
        "release sent to the payer",
        "payment received",
        "1 payment(s); the app shows \"Received 9,000 sats\" (dedup key payment-received:",
        "✓ friend's payment settled",
        "✓ app's wallet started in ",
        "Balances",
        "Lightning, spendable",
        "History (newest first)",
        "invoice, JIT channel",
        "✓ merchant's node, LSP and devnet stopped",
        "✓ removed ",
        "Done in ",
        "The phone's wallet started in ",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}\nstderr:\n{stderr}");
    }
    assert!(!stdout.contains('✗'), "a step failed:\n{stdout}");
    // Quiet by default: no log record reaches the terminal when all goes well.
    assert!(!stderr.contains(" error "), "errors logged:\n{stderr}");
    // Every step line carries the elapsed time.
    assert!(
        stdout
            .lines()
            .filter(|l| l.contains('✓'))
            .all(|l| l.starts_with('[') && l.contains("s] ✓ ")),
        "{stdout}"
    );
    // The history lists the five payments, all settled, the one received asleep on top.
    let history = stdout.split("History (newest first)").nth(1).expect("history table");
    assert_eq!(history.lines().filter(|l| l.contains("settled")).count(), 5, "{history}");
    // Rows of one second are in no particular order (README, known limits), and the wake now
    // takes a fraction of a second: the payment received asleep is among the newest second's.
    let rows: Vec<&str> = history.lines().filter(|l| l.contains("settled")).collect();
    let second = |row: &str| row.split_whitespace().next().unwrap_or("").to_string();
    let newest_second = second(rows[0]);
    assert!(
        rows.iter()
            .take_while(|r| second(r) == newest_second)
            .any(|r| r.contains("received") && r.contains("9 000 sat") && r.contains("offer")),
        "{history}"
    );
    // The temporary directory is gone.
    let dir = stdout
        .lines()
        .find_map(|l| l.split("✓ removed ").nth(1))
        .expect("the removed directory is named");
    assert!(!std::path::Path::new(dir.trim()).exists(), "{dir} still exists");
    assert!(took < Duration::from_secs(60), "the demo took {took:?}");
}

#[test]
fn a_demo_that_cannot_finish_in_time_names_the_step_and_exits_1() {
    // The phone's first payment alone takes about 2 s (LDK forwards HTLCs on a 2 s timer
    // after start), so a 1 s budget always runs out inside the story.
    let output = doze(&["demo", "--timeout", "1"]);
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "stdout:\n{stdout}\nstderr:\n{}",
        text(&output.stderr)
    );
    let failure = stdout
        .lines()
        .find(|l| l.contains('✗'))
        .unwrap_or_else(|| panic!("no ✗ line in:\n{stdout}"));
    assert!(failure.contains("the demo did not end within 1 s"), "{failure}");
    assert!(!stdout.contains("Done in"), "{stdout}");
    assert!(!text(&output.stderr).contains("panicked"), "{}", text(&output.stderr));
}

#[test]
fn an_unknown_command_exits_2_with_the_usage() {
    let output = doze(&["dmeo"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("unknown command `dmeo`"), "{stderr}");
    assert!(stderr.contains("usage: doze <command>"), "{stderr}");
    assert!(output.stdout.is_empty(), "{}", text(&output.stdout));
}

#[test]
fn no_command_or_a_bad_option_exits_2_with_the_usage() {
    for args in [&[][..], &["demo", "--fast"][..], &["demo", "--timeout", "soon"][..]] {
        let output = doze(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(text(&output.stderr).contains("usage: doze <command>"), "{args:?}");
    }
}

#[test]
fn help_prints_the_usage_and_exits_0() {
    for args in [&["--help"][..], &["help"][..], &["demo", "--help"][..]] {
        let output = doze(args);
        assert!(output.status.success(), "{args:?}");
        let stdout = text(&output.stdout);
        assert!(stdout.contains("usage: doze <command>") && stdout.contains("demo"), "{stdout}");
    }
}
