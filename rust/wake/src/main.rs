//! `doze-wake`: `doze wake` as a binary of its own, linking only doze-core and ldk-node (what
//! a phone's notification extension links), for the wake benchmark's memory figures. Same
//! options, input, output and exit status as `doze wake`.

use std::process::ExitCode;

fn main() -> ExitCode {
    match doze_wake::parse_options(std::env::args().skip(1)) {
        Ok(options) => doze_wake::run(options),
        Err(message) => {
            eprintln!("doze-wake: {message} (see `doze help` for the options)");
            ExitCode::from(2)
        }
    }
}
