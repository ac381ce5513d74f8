//! The command line as a container runs it. Besides `dtp <command> [flags]`, dtp honours the
//! contract of qontract-reconcile's Helm chart (which qontract's integrations-manager renders
//! for every integration with a `managed` spec): the chart sets no command and passes
//! everything as environment variables, so
//! - with no command at all, dtp runs `run`, looping every `SLEEP_DURATION_SECS` (600 s when
//!   unset, as qontract-reconcile's `run-integration`) unless `RUN_ONCE` is set;
//! - `INTEGRATION_EXTRA_ARGS` is appended to the command line, split on whitespace (what the
//!   unquoted expansion in qontract-reconcile's entry point does);
//! - `CONFIG` names the config.toml when neither `--config` nor `QONTRACT_CONFIG` does, and
//!   `/config/config.toml` (where that chart mounts it) is used when it exists and nothing
//!   names one (see [`super::services`]);
//! - `LOG_FILE` receives a copy of every log line (see [`crate::telemetry`]).

use super::{Cli, Env};
use clap::Parser;
use clap::error::ErrorKind;
use std::ffi::OsString;

/// `SLEEP_DURATION_SECS` of a container started without a command (qontract-reconcile's
/// `run-integration` default).
pub const CONTAINER_SLEEP_SECS: &str = "600";

/// Parses the process's command line (plus `INTEGRATION_EXTRA_ARGS`), defaulting to `run`;
/// `--help`, `--version` and usage errors print and exit as clap does (usage errors: 2).
pub fn parse(env: &mut Env) -> Cli {
    let argv: Vec<OsString> = std::env::args_os().collect();
    match parse_from(argv, env) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    }
}

/// [`parse`] on a given command line (the first item is the program name).
pub fn parse_from(argv: Vec<OsString>, env: &mut Env) -> Result<Cli, clap::Error> {
    let extra: Vec<OsString> = env
        .integration_extra_args
        .as_deref()
        .unwrap_or_default()
        .split_whitespace()
        .map(OsString::from)
        .collect();
    match Cli::try_parse_from(&argv) {
        Ok(cli) if extra.is_empty() => Ok(cli),
        Ok(_) => Cli::try_parse_from(argv.into_iter().chain(extra)),
        Err(e) if no_command(&e) => {
            let no_schedule = [&env.run_once, &env.sleep_duration_secs]
                .iter()
                .all(|v| v.as_deref().is_none_or(str::is_empty));
            if no_schedule {
                env.sleep_duration_secs = Some(CONTAINER_SLEEP_SECS.to_owned());
            }
            let run = std::iter::once(OsString::from("run"));
            Cli::try_parse_from(argv.into_iter().chain(run).chain(extra))
        }
        Err(e) => Err(e),
    }
}

fn no_command(e: &clap::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Command;

    fn argv(words: &[&str]) -> Vec<OsString> {
        std::iter::once("dtp")
            .chain(words.iter().copied())
            .map(OsString::from)
            .collect()
    }

    #[test]
    fn no_command_is_a_loop_run_as_run_integration_does() {
        let mut env = Env::default();
        let cli = parse_from(argv(&[]), &mut env).unwrap();
        assert!(matches!(cli.command, Command::Run(_)));
        assert_eq!(
            env.sleep_duration_secs.as_deref(),
            Some(CONTAINER_SLEEP_SECS)
        );

        let mut once = Env {
            run_once: Some("true".into()),
            ..Env::default()
        };
        parse_from(argv(&["--log-level", "debug"]), &mut once).unwrap();
        assert_eq!(once.sleep_duration_secs, None, "RUN_ONCE keeps its meaning");
    }

    #[test]
    fn extra_args_are_flags_of_the_command() {
        let mut env = Env {
            integration_extra_args: Some("  --shards 3\t--shard-id 2 ".into()),
            ..Env::default()
        };
        let cli = parse_from(argv(&[]), &mut env).unwrap();
        let Command::Run(run) = cli.command else {
            panic!("run expected");
        };
        assert_eq!((run.shards.as_str(), run.shard_id.as_str()), ("3", "2"));

        let mut env = Env {
            integration_extra_args: Some("--app-interface-dir examples/app-interface".into()),
            ..Env::default()
        };
        let cli = parse_from(argv(&["validate"]), &mut env).unwrap();
        assert!(matches!(cli.command, Command::Validate(_)));
        assert_eq!(
            env.sleep_duration_secs, None,
            "a command given: no loop default"
        );
    }

    #[test]
    fn unknown_extra_args_are_usage_errors() {
        let mut env = Env {
            integration_extra_args: Some("--no-such-flag".into()),
            ..Env::default()
        };
        let e = parse_from(argv(&[]), &mut env).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnknownArgument);
        assert_eq!(e.exit_code(), 2);
    }
}
