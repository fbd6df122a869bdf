//! `doze`: Doze on the command line. `doze demo` runs the whole story on an embedded devnet:
//! a regtest chain, an LSP, a merchant node and a phone wallet in one process.

use std::process::ExitCode;
use std::time::Duration;

use doze_cli::{demo, progress};
use doze_wake as wake;

const USAGE: &str = "usage: doze <command> [options]

commands:
  demo        run the whole story on an embedded devnet: a regtest chain, an LSP, a
              merchant and a phone wallet in this process, in temporary directories;
              the phone receives its first payment through a JIT channel, pays the
              merchant, splits a payment over two channels, is paid while asleep
              (woken by a push in a `doze wake` process), and shows its balances and
              history
  wake        handle one push notification as a phone's notification extension does:
              the payload on stdin, the headers as --header, the recovery phrase in
              $DOZE_MNEMONIC; prints the WakeOutcome as JSON (also a binary of its
              own, `doze-wake`, which links nothing else)
  help        show this text

demo options:
  -v, --verbose        log at info level to stderr (default: warnings only)
      --timeout <SECS> give up (exit 1) if the demo has not ended after SECS seconds
                       (default 90)

wake options:
      --storage <DIR>        the wallet's storage directory (shared with the app)
      --esplora <URL>        the chain source
      --lsp-id <HEX>         the LSP's node id (pushes are verified against it)
      --lsp-address <H:P>    the LSP's peer address
      --network <NAME>       bitcoin, testnet, signet or regtest (default regtest)
      --deadline-ms <MS>     the time budget (default 25000)
      --backup-url <URL>     the wallet's backup server, if the app configured one
      --header <NAME:VALUE>  a header of the push (repeat; x-lsps5-timestamp, x-lsps5-signature)

Exit status: 0 on success, 1 if a step fails, 2 for a usage error, 3 for a refused push.";

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Help,
    Version,
    Demo(demo::Options),
    Wake(wake::Options),
}

fn main() -> ExitCode {
    let command = match parse_args(std::env::args().skip(1)) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("doze: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Help => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!("doze {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Demo(options) => match demo::run(&options) {
            Ok(()) => ExitCode::SUCCESS,
            Err(progress::Failed) => ExitCode::FAILURE,
        },
        Command::Wake(options) => wake::run(options),
    }
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Command, String> {
    let Some(command) = args.next() else {
        return Err("no command given".into());
    };
    match command.as_str() {
        "-h" | "--help" | "help" => Ok(Command::Help),
        "-V" | "--version" => Ok(Command::Version),
        "demo" => {
            let mut options = demo::Options::default();
            while let Some(arg) = args.next() {
                match arg.as_str() {
                    "-h" | "--help" => return Ok(Command::Help),
                    "-v" | "--verbose" => options.verbose = true,
                    "--timeout" => {
                        let value = args.next().ok_or("--timeout needs a number of seconds")?;
                        options.timeout = parse_timeout(&value)?;
                    }
                    other => match other.strip_prefix("--timeout=") {
                        Some(value) => options.timeout = parse_timeout(value)?,
                        None => {
                            return Err(format!("unexpected argument `{other}` for `doze demo`"))
                        }
                    },
                }
            }
            Ok(Command::Demo(options))
        }
        "wake" => wake::parse_options(args).map(Command::Wake),
        other => Err(format!("unknown command `{other}`")),
    }
}

fn parse_timeout(value: &str) -> Result<Duration, String> {
    match value.trim().parse::<u64>() {
        Ok(secs) if secs > 0 => Ok(Duration::from_secs(secs)),
        _ => Err(format!("--timeout wants a whole number of seconds above 0, not `{value}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn parses_the_commands() {
        assert_eq!(parse(&["demo"]), Ok(Command::Demo(demo::Options::default())));
        assert_eq!(
            parse(&["demo", "--verbose", "--timeout", "30"]),
            Ok(Command::Demo(demo::Options { verbose: true, timeout: Duration::from_secs(30) }))
        );
        assert_eq!(
            parse(&["demo", "-v", "--timeout=5"]),
            Ok(Command::Demo(demo::Options { verbose: true, timeout: Duration::from_secs(5) }))
        );
        assert_eq!(parse(&["--help"]), Ok(Command::Help));
        assert_eq!(parse(&["help"]), Ok(Command::Help));
        assert_eq!(parse(&["demo", "-h"]), Ok(Command::Help));
        assert_eq!(parse(&["--version"]), Ok(Command::Version));
    }

    #[test]
    fn refuses_what_it_does_not_know() {
        assert!(parse(&[]).is_err());
        assert!(parse(&["dmeo"]).expect_err("unknown").contains("unknown command `dmeo`"));
        assert!(parse(&["demo", "--fast"]).expect_err("unknown option").contains("--fast"));
        assert!(parse(&["demo", "--timeout"]).is_err());
        assert!(parse(&["demo", "--timeout", "0"]).is_err());
        assert!(parse(&["demo", "--timeout", "soon"]).is_err());
    }
}
