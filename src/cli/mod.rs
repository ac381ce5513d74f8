//! The command line: clap definitions for `dtp run`, `dtp validate`, `dtp demo`,
//! `dtp completions` and `dtp man` (their text: [`docs`]), the
//! environment variables that have no flag ([`Env`]), and their conversion into the validated
//! [`crate::config::Config`] ([`build`]). This is the only module that knows flag and
//! environment-variable spellings, and raw values never leave it. A flag always beats its
//! environment variable. Every invalid value is an error naming the flag and its variable;
//! the process exits 2 on it.

mod build;
mod container;
mod docs;
mod env;
mod services;

pub use build::{Invalid, build, dry_run_hint, parse_duration, source_config};
pub use container::{CONTAINER_SLEEP_SECS, parse, parse_from};
pub use docs::{ENV_WITHOUT_FLAG, completions, man};
pub use env::Env;

use crate::clients::limit::LimitSettings;
use crate::config::{self, LogFormat, PlanFormat, Shell};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "dtp",
    version,
    about = "Provisions Dynatrace API tokens to OpenShift clusters through OCM SyncSets and Manifests",
    long_about = "dtp reads token specs and environments from app-interface, finds OCM clusters labelled \
sre-capabilities.dtp.*, creates or repairs their Dynatrace tokens and delivers them as Secrets \
through OCM SyncSets (classic) or Manifests (hosted control planes).\n\n\
Exit codes: 0 success; 1 some OCM environment, tenant or cluster failed (the rest was done); \
2 invalid configuration or app-interface data (nothing was attempted).",
    after_help = ENV_WITHOUT_FLAG
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log format: human-readable text or JSON lines (for pods).
    #[arg(long, global = true, env = "LOG_FORMAT", value_enum, default_value_t)]
    pub log_format: LogFormat,
    /// Log level (error, warn, info, debug, trace) or tracing directives.
    #[arg(long, global = true, env = "LOG_LEVEL", default_value = "info")]
    pub log_level: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// One reconcile. Dry-run unless --no-dry-run (or DRY_RUN=false).
    #[command(after_help = ENV_WITHOUT_FLAG)]
    Run(Box<RunArgs>),
    /// Check app-interface data (token specs, environments) and list every problem; exit 0 or 2.
    Validate(ValidateArgs),
    /// Print a shell completion script on stdout, e.g. `dtp completions bash > /etc/bash_completion.d/dtp`.
    Completions {
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print the man page dtp(1) (roff) on stdout (`make man`).
    #[command(hide = true)]
    Man,
    /// Run the whole flow on the embedded sandbox: dry-run, apply, converge.
    #[cfg(feature = "sandbox")]
    Demo(DemoArgs),
}

/// Where app-interface data and secrets come from. (`Debug` does not show the GraphQL URL:
/// it may carry credentials.)
#[derive(Clone, Default, Args)]
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

impl std::fmt::Debug for SourceArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceArgs")
            .field("config", &self.config)
            .field("app_interface_dir", &self.app_interface_dir)
            .field(
                "graphql_server",
                &self.graphql_server.as_ref().map(|_| "set"),
            )
            .field("ca_bundle", &self.ca_bundle)
            .finish()
    }
}

/// `dtp validate`.
#[derive(Debug, Clone, Default, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// How to print the result on stdout: text, one JSON object, or Markdown (for PR bots).
    #[arg(long, env = "DTP_VALIDATE_FORMAT", value_enum, default_value_t)]
    pub format: PlanFormat,
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
    #[arg(long, env = "PLAN_FORMAT", value_enum, default_value_t)]
    pub plan_format: PlanFormat,
    /// Clusters (and tenants) worked on at once (1 to 1024). The calls they make are bounded
    /// per system by the three limits below.
    #[arg(long, env = "DTP_CONCURRENCY", value_name = "N", default_value_t = config::DEFAULT_CONCURRENCY.to_string())]
    pub concurrency: String,
    /// Calls in flight to one OCM environment (its API; its SSO likewise), 1 to 256; halved
    /// while OCM throttles.
    #[arg(long, env = "DTP_OCM_CONCURRENCY", value_name = "N", default_value_t = LimitSettings::default().ocm.to_string())]
    pub ocm_concurrency: String,
    /// Calls in flight to one Dynatrace tenant, 1 to 256; halved while it throttles.
    #[arg(long, env = "DTP_DYNATRACE_CONCURRENCY", value_name = "N", default_value_t = LimitSettings::default().dynatrace.to_string())]
    pub dynatrace_concurrency: String,
    /// Calls in flight to Vault, 1 to 256; halved while it throttles.
    #[arg(long, env = "DTP_VAULT_CONCURRENCY", value_name = "N", default_value_t = LimitSettings::default().vault.to_string())]
    pub vault_concurrency: String,
    /// Loop: reconcile, sleep this long (e.g. 5m, 300s), repeat. Without it (and without
    /// SLEEP_DURATION_SECS), or when RUN_ONCE is set, dtp runs once.
    #[arg(long, value_name = "DURATION")]
    pub interval: Option<String>,
    /// Time limit of one run (e.g. 10m, or seconds): when hit, no new cluster is started,
    /// writes in flight finish, and the run reports.
    #[arg(long, env = "RUNNER_TIMEOUT", value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Port of /metrics, /healthz and /readyz (loop mode).
    #[arg(long, env = "PROMETHEUS_PORT", value_name = "PORT", default_value_t = config::DEFAULT_METRICS_PORT.to_string())]
    pub metrics_port: String,
    /// PR checks: in dry-run, exit 0 without touching OCM or Dynatrace when the desired state
    /// at this app-interface bundle sha equals the current one.
    #[arg(long, env = "EARLY_EXIT_COMPARE_SHA", value_name = "SHA")]
    pub early_exit_compare_sha: Option<String>,
    /// Unreferenced tokens named for a served cluster are deleted once older than this (e.g.
    /// 15m; 0 when dtp is the only writer).
    #[arg(long, env = "DTP_ORPHAN_GRACE", value_name = "DURATION", default_value = config::DEFAULT_ORPHAN_GRACE)]
    pub orphan_grace: String,
    /// At most this many existing tokens (replaced or orphaned) are deleted in one run; past
    /// it dtp stops deleting, reports what it did not delete, and exits 1.
    #[arg(long, env = "DTP_MAX_DELETIONS", value_name = "N", default_value_t = config::DEFAULT_MAX_DELETIONS.to_string())]
    pub max_deletions: String,
    /// Also collect the tokens of clusters that left the fleet, once OCM confirms they are
    /// gone (within the same deletion budget).
    #[arg(long, env = "DTP_COLLECT_DEPARTED", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub collect_departed: Option<String>,
    /// After SIGTERM/SIGINT: how long writes in flight may go on before they are aborted and
    /// the tokens of undelivered clusters deleted (set it below the pod's
    /// terminationGracePeriodSeconds).
    #[arg(long, env = "DTP_SHUTDOWN_GRACE", value_name = "DURATION", default_value = config::DEFAULT_SHUTDOWN_GRACE)]
    pub shutdown_grace: String,
    /// Number of shards (processes) sharing the fleet (1 to 1024).
    #[arg(long, env = "SHARDS", value_name = "N", default_value = "1")]
    pub shards: String,
    /// This process's shard, 0 ≤ K < --shards.
    #[arg(long, env = "SHARD_ID", value_name = "K", default_value = "0")]
    pub shard_id: String,
    /// The shard's name in the `shard_id` metric label and the Pushgateway group
    /// (qontract-reconcile's convention); default `<K>-<N>`.
    #[arg(long, env = "SHARD_KEY", value_name = "KEY")]
    pub shard_key: Option<String>,
}

#[cfg(feature = "sandbox")]
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Sandbox fixture (YAML); the built-in example fleet when absent.
    #[arg(long, env = "DTP_DEMO_FIXTURE")]
    pub fixture: Option<PathBuf>,
    /// How to print the plans.
    #[arg(long, value_enum, default_value_t)]
    pub plan_format: PlanFormat,
}
