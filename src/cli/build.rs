//! Raw flags and environment variables → the validated [`Config`]: each setting is parsed and
//! checked once, with one default (the `config` constants), and every error names the flag and
//! its environment variable. Only this file turns raw strings into configuration.

pub use super::services::Invalid;
pub use super::services::source_config;
use super::services::{pushgateway, unleash};
use super::{Cli, Command, Env, RunArgs};
use crate::clients::limit::LimitSettings;
use crate::config::{self, Config, Filters, Mode, RunConfig, Schedule};
use crate::model::OcmEnvName;
use crate::shard::{Shard, ShardKey};
use std::num::NonZeroUsize;
use std::time::Duration;

/// Builds the whole configuration of this process.
pub fn build(cli: &Cli, env: &Env) -> Result<Config, Invalid> {
    let command = match &cli.command {
        Command::Run(args) => config::Command::Run(Box::new(run_config(args, env)?)),
        Command::Validate(args) => config::Command::Validate(Box::new(config::ValidateConfig {
            source: source_config(&args.source, env)?,
            format: args.format,
        })),
        Command::Completions { shell } => config::Command::Completions(*shell),
        Command::Man => config::Command::Man,
        #[cfg(feature = "sandbox")]
        Command::Demo(args) => config::Command::Demo(config::DemoConfig {
            fixture: args.fixture.clone(),
            plan_format: args.plan_format,
        }),
    };
    Ok(Config { command })
}

/// Whether the command is a dry-run, as far as it can be told before the whole configuration
/// is valid (so that every log line of a dry-run, errors included, is marked).
pub fn dry_run_hint(cli: &Cli, env: &Env) -> bool {
    match &cli.command {
        Command::Run(args) => mode(args, env).map_or(true, Mode::is_dry_run),
        _ => false,
    }
}

fn run_config(args: &RunArgs, env: &Env) -> Result<RunConfig, Invalid> {
    Ok(RunConfig {
        source: source_config(&args.source, env)?,
        mode: mode(args, env)?,
        schedule: schedule(args, env)?,
        filters: filters(args)?,
        plan_format: args.plan_format,
        concurrency: concurrency(&args.concurrency)?,
        limits: limits(args)?,
        timeout: args
            .timeout
            .as_deref()
            .map(|t| positive_duration(t, "--timeout (RUNNER_TIMEOUT)"))
            .transpose()?,
        metrics_port: args.metrics_port.trim().parse().map_err(|_| {
            invalid(
                "--metrics-port (PROMETHEUS_PORT)",
                "must be a port number from 0 to 65535",
            )
        })?,
        early_exit_compare_sha: early_exit_sha(args)?,
        shard: shard(args)?,
        pushgateway: pushgateway(env)?,
        unleash: unleash(env),
        policy: policy(args)?,
        collect_departed: args
            .collect_departed
            .as_deref()
            .map(|v| boolean(v, "--collect-departed (DTP_COLLECT_DEPARTED)"))
            .transpose()?
            .unwrap_or(false),
        shutdown_grace: positive_duration(
            &args.shutdown_grace,
            "--shutdown-grace (DTP_SHUTDOWN_GRACE)",
        )?,
    })
}

/// `--ocm-env` / `DTP_OCM_ENV` and `--cluster` / `DTP_CLUSTER`: an empty value is a mistake
/// (it would match nothing), not "all".
fn filters(args: &RunArgs) -> Result<Filters, Invalid> {
    let values = |raw: &[String], setting: &str| -> Result<Vec<String>, Invalid> {
        raw.iter()
            .map(|v| {
                let v = v.trim();
                if v.is_empty() {
                    Err(invalid(
                        setting,
                        "an empty value matches nothing; leave the filter out to serve everything",
                    ))
                } else {
                    Ok(v.to_owned())
                }
            })
            .collect()
    };
    Ok(Filters {
        ocm_envs: values(&args.ocm_env, "--ocm-env (DTP_OCM_ENV)")?
            .into_iter()
            .map(OcmEnvName::new)
            .collect(),
        clusters: values(&args.cluster, "--cluster (DTP_CLUSTER)")?,
    })
}

/// `--orphan-grace` / `DTP_ORPHAN_GRACE` and `--max-deletions` / `DTP_MAX_DELETIONS`.
fn policy(args: &RunArgs) -> Result<crate::plan::Policy, Invalid> {
    let grace = parse_duration(&args.orphan_grace)
        .map_err(|e| invalid("--orphan-grace (DTP_ORPHAN_GRACE)", &e))?;
    let orphan_grace = chrono::Duration::from_std(grace)
        .map_err(|_| invalid("--orphan-grace (DTP_ORPHAN_GRACE)", "is too long"))?;
    let max_deletions = args.max_deletions.trim().parse::<usize>().map_err(|_| {
        invalid(
            "--max-deletions (DTP_MAX_DELETIONS)",
            &format!(
                "'{}' is not a whole number (0 deletes nothing)",
                args.max_deletions.trim()
            ),
        )
    })?;
    Ok(crate::plan::Policy {
        orphan_grace,
        max_deletions,
    })
}

/// A duration that must be positive.
fn positive_duration(raw: &str, setting: &str) -> Result<Duration, Invalid> {
    let d = parse_duration(raw).map_err(|e| invalid(setting, &e))?;
    if d.is_zero() {
        return Err(invalid(setting, "must be longer than zero"));
    }
    Ok(d)
}

/// `true`/`false`, `1`/`0`, `yes`/`no` (any case).
fn boolean(raw: &str, setting: &str) -> Result<bool, Invalid> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        other => Err(invalid(setting, &format!("'{other}' is not true or false"))),
    }
}

fn invalid(setting: &str, message: &str) -> Invalid {
    Invalid(format!("{setting}: {message}"))
}

/// `--concurrency` / `DTP_CONCURRENCY`: 1 to 256.
fn concurrency(raw: &str) -> Result<NonZeroUsize, Invalid> {
    raw.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=config::MAX_CONCURRENCY).contains(n))
        .and_then(NonZeroUsize::new)
        .ok_or_else(|| {
            invalid(
                "--concurrency (DTP_CONCURRENCY)",
                &format!(
                    "'{}' is not a whole number from 1 to {}",
                    raw.trim(),
                    config::MAX_CONCURRENCY
                ),
            )
        })
}

/// `--ocm-concurrency`, `--dynatrace-concurrency`, `--vault-concurrency`: 1 to 256 each.
fn limits(args: &RunArgs) -> Result<LimitSettings, Invalid> {
    let one = |raw: &str, setting: &str| {
        raw.trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=config::MAX_SYSTEM_CONCURRENCY).contains(n))
            .ok_or_else(|| {
                invalid(
                    setting,
                    &format!(
                        "'{}' is not a whole number from 1 to {}",
                        raw.trim(),
                        config::MAX_SYSTEM_CONCURRENCY
                    ),
                )
            })
    };
    Ok(LimitSettings {
        ocm: one(
            &args.ocm_concurrency,
            "--ocm-concurrency (DTP_OCM_CONCURRENCY)",
        )?,
        dynatrace: one(
            &args.dynatrace_concurrency,
            "--dynatrace-concurrency (DTP_DYNATRACE_CONCURRENCY)",
        )?,
        vault: one(
            &args.vault_concurrency,
            "--vault-concurrency (DTP_VAULT_CONCURRENCY)",
        )?,
        ..LimitSettings::default()
    })
}

/// `--early-exit-compare-sha` / `EARLY_EXIT_COMPARE_SHA` (empty: unset): an app-interface
/// bundle sha (letters and digits), which only GraphQL can serve.
fn early_exit_sha(args: &RunArgs) -> Result<Option<String>, Invalid> {
    let setting = "--early-exit-compare-sha (EARLY_EXIT_COMPARE_SHA)";
    let Some(sha) = args
        .early_exit_compare_sha
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    else {
        return Ok(None);
    };
    if !sha.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(invalid(
            setting,
            &format!("'{sha}' is not an app-interface bundle sha (letters and digits)"),
        ));
    }
    if let Some(dir) = &args.source.app_interface_dir {
        return Err(invalid(
            setting,
            &format!(
                "needs GraphQL (qontract-server serves bundles by sha), but app-interface is read from --app-interface-dir {}",
                dir.display()
            ),
        ));
    }
    Ok(Some(sha.to_owned()))
}

/// `--shards` / `SHARDS`, `--shard-id` / `SHARD_ID` and `--shard-key` / `SHARD_KEY`.
fn shard(args: &RunArgs) -> Result<Shard, Invalid> {
    let count: u32 = args
        .shards
        .trim()
        .parse()
        .ok()
        .filter(|n| (1..=config::MAX_SHARDS).contains(n))
        .ok_or_else(|| {
            invalid(
                "--shards (SHARDS)",
                &format!("must be a whole number from 1 to {}", config::MAX_SHARDS),
            )
        })?;
    let id: u32 = args
        .shard_id
        .trim()
        .parse()
        .map_err(|_| invalid("--shard-id (SHARD_ID)", "must be a whole number"))?;
    let shard = Shard::new(count, id).map_err(|e| invalid("--shard-id (SHARD_ID)", &e))?;
    match args.shard_key.as_deref().map(str::trim) {
        None | Some("") => Ok(shard),
        Some(key) => ShardKey::parse(key)
            .map(|k| shard.with_key(k))
            .map_err(|e| invalid("--shard-key (SHARD_KEY)", &e)),
    }
}

/// `--dry-run`/`--no-dry-run` beat `DRY_RUN`, which beats the default (dry-run).
fn mode(args: &RunArgs, env: &Env) -> Result<Mode, Invalid> {
    if args.no_dry_run {
        return Ok(Mode::Apply);
    }
    if args.dry_run {
        return Ok(Mode::DryRun);
    }
    let Some(raw) = env.dry_run.as_deref() else {
        return Ok(Mode::DryRun);
    };
    match raw.trim().to_ascii_lowercase().as_str() {
        "" | "true" | "1" | "yes" | "--dry-run" => Ok(Mode::DryRun),
        "false" | "0" | "no" | "--no-dry-run" => Ok(Mode::Apply),
        other => Err(Invalid(format!(
            "DRY_RUN='{other}' is not understood; use true/false (or --dry-run/--no-dry-run)"
        ))),
    }
}

/// `--interval` beats `RUN_ONCE` (any non-empty value means once, as in qontract-reconcile's
/// run-integration), which beats `SLEEP_DURATION_SECS`; default once.
fn schedule(args: &RunArgs, env: &Env) -> Result<Schedule, Invalid> {
    if let Some(raw) = &args.interval {
        let d = parse_duration(raw).map_err(|e| invalid("--interval", &e))?;
        return every(d, "--interval");
    }
    if env.run_once.as_deref().is_some_and(|v| !v.is_empty()) {
        return Ok(Schedule::Once);
    }
    match env.sleep_duration_secs.as_deref().map(str::trim) {
        Some(v) if !v.is_empty() => {
            let d = parse_duration(v).map_err(|e| invalid("SLEEP_DURATION_SECS", &e))?;
            every(d, "SLEEP_DURATION_SECS")
        }
        _ => Ok(Schedule::Once),
    }
}

fn every(interval: Duration, setting: &str) -> Result<Schedule, Invalid> {
    if interval.is_zero() {
        return Err(invalid(setting, "the loop interval must be positive"));
    }
    Ok(Schedule::Every(interval))
}

/// Parses a duration: `300` (seconds), `300s`, `5m`, `1h 30m`; at most a year.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let d = match s.parse::<u64>() {
        Ok(secs) => Ok(Duration::from_secs(secs)),
        Err(_) => humantime::parse_duration(s)
            .map_err(|e| format!("'{s}' is not a duration (e.g. 300, 90s, 5m): {e}")),
    }?;
    if d > config::MAX_DURATION {
        return Err(format!("'{s}' is longer than a year"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::unleash::UnleashConfig;
    use clap::Parser;
    use secrecy::ExposeSecret;

    fn run_args(argv: &[&str]) -> RunArgs {
        let mut full = vec!["dtp", "run"];
        full.extend_from_slice(argv);
        match Cli::try_parse_from(full).expect("parses").command {
            Command::Run(r) => *r,
            _ => unreachable!("run subcommand"),
        }
    }

    fn env(dry: Option<&str>) -> Env {
        Env {
            dry_run: dry.map(Into::into),
            ..Env::default()
        }
    }

    #[test]
    fn dry_run_is_the_default() {
        assert_eq!(mode(&run_args(&[]), &env(None)), Ok(Mode::DryRun));
    }

    #[test]
    fn dry_run_env_is_honoured_in_both_spellings() {
        assert_eq!(mode(&run_args(&[]), &env(Some("false"))), Ok(Mode::Apply));
        assert_eq!(
            mode(&run_args(&[]), &env(Some("--no-dry-run"))),
            Ok(Mode::Apply)
        );
        assert_eq!(
            mode(&run_args(&[]), &env(Some("--dry-run"))),
            Ok(Mode::DryRun)
        );
        assert!(mode(&run_args(&[]), &env(Some("maybe"))).is_err());
    }

    #[test]
    fn a_flag_always_beats_the_env_var() {
        assert_eq!(
            mode(&run_args(&["--dry-run"]), &env(Some("false"))),
            Ok(Mode::DryRun)
        );
        assert_eq!(
            mode(&run_args(&["--no-dry-run"]), &env(Some("true"))),
            Ok(Mode::Apply)
        );
        assert_eq!(
            mode(&run_args(&["--no-dry-run", "--dry-run"]), &env(None)),
            Ok(Mode::DryRun)
        );
    }

    #[test]
    fn the_run_mode_follows_interval_run_once_and_sleep_duration() {
        let e = |once: Option<&str>, sleep: Option<&str>| Env {
            run_once: once.map(Into::into),
            sleep_duration_secs: sleep.map(Into::into),
            ..Env::default()
        };
        let five = Schedule::Every(Duration::from_secs(300));
        assert_eq!(schedule(&run_args(&[]), &e(None, None)), Ok(Schedule::Once));
        assert_eq!(
            schedule(&run_args(&["--interval", "5m"]), &e(None, None)),
            Ok(five)
        );
        assert_eq!(schedule(&run_args(&[]), &e(None, Some("300"))), Ok(five));
        // Any non-empty RUN_ONCE, even "false", means once (qontract-reconcile semantics).
        assert_eq!(
            schedule(&run_args(&[]), &e(Some("false"), Some("300"))),
            Ok(Schedule::Once)
        );
        assert_eq!(
            schedule(&run_args(&["--interval", "5m"]), &e(Some("true"), None)),
            Ok(five)
        );
        assert!(schedule(&run_args(&[]), &e(None, Some("soon"))).is_err());
        assert!(schedule(&run_args(&["--interval", "0s"]), &e(None, None)).is_err());
    }

    #[test]
    fn durations_accept_seconds_and_units() {
        assert_eq!(parse_duration("300"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert!(parse_duration("five").is_err());
    }

    #[test]
    fn filters_are_repeatable() {
        let r = run_args(&["--ocm-env", "a", "--ocm-env", "b", "--cluster", "c1"]);
        assert_eq!(r.ocm_env, vec!["a", "b"]);
        assert_eq!(r.cluster, vec!["c1"]);
    }

    #[test]
    fn invalid_numbers_name_the_flag_and_the_variable() {
        let e = concurrency("0").unwrap_err().0;
        assert!(
            e.contains("--concurrency") && e.contains("DTP_CONCURRENCY"),
            "{e}"
        );
        assert_eq!(concurrency(" 8 ").unwrap().get(), 8);
        let e = shard(&run_args(&["--shards", "2", "--shard-id", "2"]))
            .unwrap_err()
            .0;
        assert!(e.contains("--shard-id") && e.contains("SHARD_ID"), "{e}");
    }

    #[test]
    fn unleash_needs_both_variables_set_and_non_empty() {
        let env = |url: Option<&str>, token: Option<&str>| Env {
            unleash_api_url: url.map(Into::into),
            unleash_client_access_token: token.map(Into::into),
            ..Env::default()
        };
        let off = |e: &Env| matches!(unleash(e), UnleashConfig::Off);
        assert!(off(&env(None, None)));
        assert!(off(&env(Some("https://u/api"), None)));
        assert!(off(&env(None, Some("t"))));
        assert!(off(&env(Some(""), Some("t"))));
        assert!(off(&env(Some("https://u/api"), Some(" "))));
        match unleash(&env(Some(" https://u/api "), Some("tok"))) {
            UnleashConfig::On(s) => {
                assert_eq!(s.api_url.as_str(), "https://u/api");
                assert_eq!(s.token.expose_secret(), "tok");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            unleash(&env(Some("ftp://x"), Some("s3cr3t"))),
            UnleashConfig::Misconfigured(r) if !r.contains("s3cr3t")
        ));
    }

    fn pg_env(enabled: Option<&str>, url: Option<&str>) -> Env {
        Env {
            pushgateway_enabled: enabled.map(Into::into),
            pushgateway_url: url.map(Into::into),
            pushgateway_username: Some("user".into()),
            pushgateway_password: Some("pw-secret".into()),
            ..Env::default()
        }
    }

    #[test]
    fn the_pushgateway_is_off_unless_enabled() {
        for v in [None, Some(""), Some("false"), Some("FALSE"), Some("0")] {
            assert!(
                pushgateway(&pg_env(v, Some("http://pg:9091")))
                    .unwrap()
                    .is_none(),
                "{v:?}"
            );
        }
        let pg = pushgateway(&pg_env(Some("true"), Some("http://pg:9091/")))
            .unwrap()
            .unwrap();
        assert!(!format!("{pg:?}").contains("pw-secret"));
    }

    #[test]
    fn an_enabled_pushgateway_needs_a_url_and_says_which_variable_is_missing() {
        let e = pushgateway(&pg_env(Some("1"), None)).unwrap_err().0;
        assert!(e.contains("PUSHGATEWAY_URL"), "{e}");
        let e = pushgateway(&pg_env(Some("yes"), Some("not a url")))
            .unwrap_err()
            .0;
        assert!(e.contains("PUSHGATEWAY_URL"), "{e}");
        let e = pushgateway(&pg_env(Some("yes"), Some("http://u:pw-secret@pg")))
            .unwrap_err()
            .0;
        assert!(!e.contains("pw-secret"), "{e}");
    }
}
