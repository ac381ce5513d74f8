//! The command line: clap definitions for `dtp run`, `dtp validate` and `dtp demo`. This is
//! the only module that knows flag and environment-variable spellings; everything it reads is
//! turned once into a validated [`crate::settings::Settings`]. A flag always beats its
//! environment variable.

use crate::report::PlanFormat;
use crate::telemetry::LogFormat;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

/// Exit code: success (also a dry-run with a plan, and `validate` with no problem).
pub const EXIT_OK: i32 = 0;
/// Exit code: some OCM environment, tenant or cluster failed; the rest was done.
pub const EXIT_PARTIAL: i32 = 1;
/// Exit code: invalid configuration or app-interface data; nothing was attempted.
pub const EXIT_INVALID: i32 = 2;

/// Default path of the Kubernetes service-account token used for Vault Kubernetes auth.
pub const DEFAULT_KUBE_SA_TOKEN_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

#[derive(Debug, Parser)]
#[command(
    name = "dtp",
    version,
    about = "Provisions Dynatrace API tokens to OpenShift clusters through OCM SyncSets and Manifests",
    long_about = "dtp reads token specs and environments from app-interface, finds OCM clusters labelled \
sre-capabilities.dtp.*, creates or repairs their Dynatrace tokens and delivers them as Secrets \
through OCM SyncSets (classic) or Manifests (hosted control planes).\n\n\
Exit codes: 0 success; 1 some OCM environment, tenant or cluster failed (the rest was done); \
2 invalid configuration or app-interface data (nothing was attempted)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log format: human-readable text or JSON lines (for pods).
    #[arg(
        long,
        global = true,
        env = "LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,
    /// Log level (error, warn, info, debug, trace) or tracing directives.
    #[arg(long, global = true, env = "LOG_LEVEL", default_value = "info")]
    pub log_level: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// One reconcile. Dry-run unless --no-dry-run (or DRY_RUN=false).
    Run(RunArgs),
    /// Check app-interface data (token specs, environments) and list every problem; exit 0 or 2.
    Validate(SourceArgs),
    /// Run the whole flow on the embedded sandbox: dry-run, apply, converge.
    #[cfg(feature = "sandbox")]
    Demo(DemoArgs),
}

/// Where app-interface data and secrets come from.
#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// qontract-reconcile config.toml ([graphql] server/token, [vault] ...).
    #[arg(long, env = "QONTRACT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Read app-interface datafiles from this directory instead of GraphQL.
    #[arg(long, env = "APP_INTERFACE_DIR")]
    pub app_interface_dir: Option<PathBuf>,
    /// qontract-server GraphQL URL; overrides [graphql] server of config.toml.
    #[arg(long, env = "GRAPHQL_SERVER")]
    pub graphql_server: Option<String>,
    /// Extra PEM CA certificates trusted by every HTTPS client (SSL_CERT_FILE is also honoured).
    #[arg(long, env = "DTP_CA_BUNDLE")]
    pub ca_bundle: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Force a dry-run, whatever DRY_RUN says.
    #[arg(long, overrides_with = "no_dry_run")]
    pub dry_run: bool,
    /// Write: create tokens and bundles (default is a dry-run).
    #[arg(long, overrides_with = "dry_run")]
    pub no_dry_run: bool,
    /// Only this OCM environment (repeatable).
    #[arg(
        long = "ocm-env",
        value_name = "NAME",
        env = "DTP_OCM_ENV",
        value_delimiter = ','
    )]
    pub ocm_env: Vec<String>,
    /// Only this cluster, by OCM id or external id (UUID) (repeatable).
    #[arg(
        long = "cluster",
        value_name = "ID_OR_UUID",
        env = "DTP_CLUSTER",
        value_delimiter = ','
    )]
    pub cluster: Vec<String>,
    /// How to print the plan on stdout.
    #[arg(long, env = "PLAN_FORMAT", value_enum, default_value = "text")]
    pub plan_format: PlanFormat,
    /// Clusters (and tenants) processed at once.
    #[arg(long, env = "DTP_CONCURRENCY", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
    /// Loop: reconcile, sleep this long (e.g. 5m, 300s), repeat. Without it (and without
    /// SLEEP_DURATION_SECS), or when RUN_ONCE is set, dtp runs once.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub interval: Option<Duration>,
    /// Time limit of one run (e.g. 10m, or seconds): when hit, no new cluster is started,
    /// writes in flight finish, and the run reports.
    #[arg(long, env = "RUNNER_TIMEOUT", value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Port of /metrics, /healthz and /readyz (loop mode).
    #[arg(long, env = "PROMETHEUS_PORT", default_value_t = 9090)]
    pub metrics_port: u16,
    /// PR checks: in dry-run, exit 0 without touching OCM or Dynatrace when the desired state
    /// at this app-interface bundle sha equals the current one.
    #[arg(long, env = "EARLY_EXIT_COMPARE_SHA", value_name = "SHA")]
    pub early_exit_compare_sha: Option<String>,
    /// Number of shards (processes) sharing the fleet.
    #[arg(long, env = "SHARDS", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub shards: u32,
    /// This process's shard, 0 ≤ K < --shards.
    #[arg(long, env = "SHARD_ID", default_value_t = 0)]
    pub shard_id: u32,
}

/// Parses a duration: `300` (seconds), `300s`, `5m`, `1h 30m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s)
        .map_err(|e| format!("'{s}' is not a duration (e.g. 300, 90s, 5m): {e}"))
}

/// One run or a loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Once,
    Loop { interval: Duration },
}

/// Resolves the run mode: `--interval` beats `RUN_ONCE` (any non-empty value means once, as in
/// qontract-reconcile's run-integration), which beats `SLEEP_DURATION_SECS`; default once.
pub fn resolve_mode(args: &RunArgs, env: &Env) -> Result<Mode, String> {
    if let Some(interval) = args.interval {
        return loop_mode(interval);
    }
    if env.run_once.as_deref().is_some_and(|v| !v.is_empty()) {
        return Ok(Mode::Once);
    }
    match env.sleep_duration_secs.as_deref().map(str::trim) {
        Some(v) if !v.is_empty() => {
            loop_mode(parse_duration(v).map_err(|e| format!("SLEEP_DURATION_SECS: {e}"))?)
        }
        _ => Ok(Mode::Once),
    }
}

fn loop_mode(interval: Duration) -> Result<Mode, String> {
    if interval.is_zero() {
        return Err("the loop interval must be positive".into());
    }
    Ok(Mode::Loop { interval })
}

#[cfg(feature = "sandbox")]
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Sandbox fixture (YAML); the built-in example fleet when absent.
    #[arg(long, env = "DTP_DEMO_FIXTURE")]
    pub fixture: Option<PathBuf>,
    /// How to print the plans.
    #[arg(long, value_enum, default_value = "text")]
    pub plan_format: PlanFormat,
}

/// Environment variables read outside clap (they have no flag).
#[derive(Debug, Clone, Default)]
pub struct Env {
    /// `DRY_RUN`: true/false, 1/0, yes/no, or qontract's `--dry-run`/`--no-dry-run`.
    pub dry_run: Option<String>,
    /// `VAULT_TOKEN`, used when config.toml has neither AppRole nor Kubernetes auth.
    pub vault_token: Option<String>,
    /// `KUBE_SA_TOKEN_PATH`.
    pub kube_sa_token_path: Option<String>,
    /// `SSL_CERT_FILE`.
    pub ssl_cert_file: Option<String>,
    /// `RUN_ONCE`: any non-empty value means one run.
    pub run_once: Option<String>,
    /// `SLEEP_DURATION_SECS`: the loop interval when `--interval` is not given.
    pub sleep_duration_secs: Option<String>,
    /// `PUSHGATEWAY_ENABLED`, `PUSHGATEWAY_URL`, `PUSHGATEWAY_USERNAME`, `PUSHGATEWAY_PASSWORD`.
    pub pushgateway_enabled: Option<String>,
    pub pushgateway_url: Option<String>,
    pub pushgateway_username: Option<String>,
    pub pushgateway_password: Option<String>,
    /// `UNLEASH_API_URL`, `UNLEASH_CLIENT_ACCESS_TOKEN`: the feature toggle.
    pub unleash_api_url: Option<String>,
    pub unleash_client_access_token: Option<String>,
}

impl Env {
    pub fn from_process() -> Self {
        let var = |k: &str| std::env::var(k).ok();
        Self {
            dry_run: var("DRY_RUN"),
            vault_token: var("VAULT_TOKEN"),
            kube_sa_token_path: var("KUBE_SA_TOKEN_PATH"),
            ssl_cert_file: var("SSL_CERT_FILE"),
            run_once: var("RUN_ONCE"),
            sleep_duration_secs: var("SLEEP_DURATION_SECS"),
            pushgateway_enabled: var("PUSHGATEWAY_ENABLED"),
            pushgateway_url: var("PUSHGATEWAY_URL"),
            pushgateway_username: var("PUSHGATEWAY_USERNAME"),
            pushgateway_password: var("PUSHGATEWAY_PASSWORD"),
            unleash_api_url: var("UNLEASH_API_URL"),
            unleash_client_access_token: var("UNLEASH_CLIENT_ACCESS_TOKEN"),
        }
    }
}

/// Resolves dry-run: `--dry-run`/`--no-dry-run` beat `DRY_RUN`, which beats the default (true).
pub fn resolve_dry_run(args: &RunArgs, env: &Env) -> Result<bool, String> {
    if args.no_dry_run {
        return Ok(false);
    }
    if args.dry_run {
        return Ok(true);
    }
    match env
        .dry_run
        .as_deref()
        .map(|v| v.trim().to_ascii_lowercase())
    {
        None => Ok(true),
        Some(v) => match v.as_str() {
            "" | "true" | "1" | "yes" | "--dry-run" => Ok(true),
            "false" | "0" | "no" | "--no-dry-run" => Ok(false),
            other => Err(format!(
                "DRY_RUN='{other}' is not understood; use true/false (or --dry-run/--no-dry-run)"
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_args(argv: &[&str]) -> RunArgs {
        let mut full = vec!["dtp", "run"];
        full.extend_from_slice(argv);
        match Cli::try_parse_from(full).expect("parses").command {
            Command::Run(r) => r,
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
        assert_eq!(resolve_dry_run(&run_args(&[]), &env(None)), Ok(true));
    }

    #[test]
    fn dry_run_env_is_honoured_in_both_spellings() {
        assert_eq!(
            resolve_dry_run(&run_args(&[]), &env(Some("false"))),
            Ok(false)
        );
        assert_eq!(
            resolve_dry_run(&run_args(&[]), &env(Some("--no-dry-run"))),
            Ok(false)
        );
        assert_eq!(
            resolve_dry_run(&run_args(&[]), &env(Some("--dry-run"))),
            Ok(true)
        );
        assert!(resolve_dry_run(&run_args(&[]), &env(Some("maybe"))).is_err());
    }

    #[test]
    fn a_flag_always_beats_the_env_var() {
        assert_eq!(
            resolve_dry_run(&run_args(&["--dry-run"]), &env(Some("false"))),
            Ok(true)
        );
        assert_eq!(
            resolve_dry_run(&run_args(&["--no-dry-run"]), &env(Some("true"))),
            Ok(false)
        );
        assert_eq!(
            resolve_dry_run(&run_args(&["--no-dry-run", "--dry-run"]), &env(None)),
            Ok(true)
        );
    }

    #[test]
    fn the_run_mode_follows_interval_run_once_and_sleep_duration() {
        let e = |once: Option<&str>, sleep: Option<&str>| Env {
            run_once: once.map(Into::into),
            sleep_duration_secs: sleep.map(Into::into),
            ..Env::default()
        };
        let five = Mode::Loop {
            interval: Duration::from_secs(300),
        };
        assert_eq!(resolve_mode(&run_args(&[]), &e(None, None)), Ok(Mode::Once));
        assert_eq!(
            resolve_mode(&run_args(&["--interval", "5m"]), &e(None, None)),
            Ok(five)
        );
        assert_eq!(
            resolve_mode(&run_args(&[]), &e(None, Some("300"))),
            Ok(five)
        );
        // Any non-empty RUN_ONCE, even "false", means once (qontract-reconcile semantics).
        assert_eq!(
            resolve_mode(&run_args(&[]), &e(Some("false"), Some("300"))),
            Ok(Mode::Once)
        );
        assert_eq!(
            resolve_mode(&run_args(&["--interval", "5m"]), &e(Some("true"), None)),
            Ok(five)
        );
        assert!(resolve_mode(&run_args(&[]), &e(None, Some("soon"))).is_err());
        assert!(resolve_mode(&run_args(&["--interval", "0s"]), &e(None, None)).is_err());
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
}
