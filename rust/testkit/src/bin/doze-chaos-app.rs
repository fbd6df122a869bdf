//! `doze-chaos-app --args <json>`: the phone's app in a chaos run (`doze_testkit::chaos::app`),
//! a process of its own so that the supervisor can kill it with SIGKILL at any instant.

use std::process::ExitCode;

use doze_testkit::chaos::app::{self, AppArgs};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let json = match (args.next().as_deref(), args.next()) {
        (Some("--args"), Some(json)) => json,
        _ => {
            eprintln!("usage: doze-chaos-app --args <json>");
            return ExitCode::from(2);
        }
    };
    let args: AppArgs = match serde_json::from_str(&json) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("doze-chaos-app: bad --args: {e}");
            return ExitCode::from(2);
        }
    };
    doze_wake::logger::init_level(doze_wake::logger::level_from_env(), || {});
    app::run(args)
}
