//! The `orrery` binary: the one executable an operator runs, with a subcommand per process (`up`, later `hub`, `host`, `local-hub`, `admin`).
//! This is the only crate that composes the others; every other crate is a library with a `run(config, shutdown)` entry that a subcommand here calls.
//! It is also the only non-test crate that uses `anyhow`: errors from the libraries arrive here typed and leave as a message and an exit code.
//! For now only `--version`, `help` and an honest `up` exist: the hub and host are built by later issues.

use std::ffi::OsString;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Result};

const USAGE: &str = "\
orrery: a collaborative cloud workspace

usage: orrery <command>

commands:
  up          run Orrery on this machine (not built yet: the hub is a later issue)
  help        print this message
  --version   print the version
";

/// What the command line asked for.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Version,
    Help,
    Up,
}

/// Reads the arguments after the program name; anything unknown is an error that shows the usage.
fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command> {
    let mut args = args.into_iter();
    let Some(first) = args.next() else {
        bail!("no command given\n\n{USAGE}");
    };
    let first = first
        .into_string()
        .map_err(|raw| anyhow!("command {raw:?} is not valid UTF-8\n\n{USAGE}"))?;
    let command = match first.as_str() {
        "--version" | "-V" | "version" => Command::Version,
        "help" | "--help" | "-h" => Command::Help,
        "up" => Command::Up,
        other => bail!("unknown command `{other}`\n\n{USAGE}"),
    };
    if let Some(extra) = args.next() {
        bail!("`{first}` takes no arguments, got {extra:?}\n\n{USAGE}");
    }
    Ok(command)
}

fn run(command: Command) -> Result<()> {
    match command {
        Command::Version => println!("orrery {}", env!("CARGO_PKG_VERSION")),
        Command::Help => print!("{USAGE}"),
        Command::Up => bail!(
            "`orrery up` is not built yet: the hub and host that it starts come in a later issue.\n\
             What runs today is the sync engine and its benchmark: `tests/bench/run sync`."
        ),
    }
    Ok(())
}

fn main() -> ExitCode {
    match parse(std::env::args_os().skip(1)).and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("orrery: {error:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Result<Command> {
        parse(args.iter().map(OsString::from))
    }

    #[test]
    fn known_commands_parse() {
        for (args, expected) in [
            (&["--version"][..], Command::Version),
            (&["-V"], Command::Version),
            (&["help"], Command::Help),
            (&["--help"], Command::Help),
            (&["up"], Command::Up),
        ] {
            assert_eq!(parse_strs(args).ok(), Some(expected), "args {args:?}");
        }
    }

    #[test]
    fn bad_command_lines_are_errors_that_show_usage() {
        for args in [&[][..], &["frobnicate"], &["up", "--now"]] {
            let message = match parse_strs(args) {
                Ok(command) => panic!("args {args:?} parsed as {command:?}"),
                Err(error) => format!("{error:#}"),
            };
            assert!(
                message.contains("usage: orrery"),
                "args {args:?}: {message}"
            );
        }
    }

    #[test]
    fn up_fails_and_says_the_hub_is_not_built() {
        let message = match run(Command::Up) {
            Ok(()) => panic!("`orrery up` succeeded but there is no hub yet"),
            Err(error) => error.to_string(),
        };
        assert!(message.contains("not built yet"), "{message}");
    }
}
