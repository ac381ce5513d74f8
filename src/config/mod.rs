//! The validated configuration: what a command needs, typed, with one default per setting,
//! built once by [`crate::cli`] from flags, environment variables and `config.toml`
//! ([`qontract`]). Nothing here reads the environment or knows a flag's spelling; everything
//! downstream receives these types, never raw strings. Types that hold a secret never print
//! it (`Debug` is written by hand or the secret is a `SecretString`).

pub mod qontract;

pub use qontract::{ConfigError, ConfigSecretReader, GraphqlConfig, QontractConfig};

use crate::clients::limit::LimitSettings;
use crate::clients::pushgateway::PushgatewaySettings;
use crate::clients::unleash::UnleashConfig;
use crate::model::OcmEnvName;
use crate::shard::Shard;
use secrecy::SecretString;
use serde::Serialize;
use std::fmt;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

/// Default of `--concurrency`: clusters (and tenants) worked on at once. Their calls are
/// bounded per system ([`LimitSettings`]), so this bounds memory and keeps every system's
/// limit busy while other clusters wait for another system.
pub const DEFAULT_CONCURRENCY: usize = 128;
/// Highest accepted `--concurrency`.
pub const MAX_CONCURRENCY: usize = 1024;
/// Highest accepted per-system limit (`--ocm-concurrency`, …).
pub const MAX_SYSTEM_CONCURRENCY: usize = 256;
/// Default of `--metrics-port` / `PROMETHEUS_PORT` (qontract-reconcile's).
pub const DEFAULT_METRICS_PORT: u16 = 9090;
/// Default path of the Kubernetes service-account token used for Vault Kubernetes auth.
pub const DEFAULT_KUBE_SA_TOKEN_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";
/// Highest accepted `--shards`.
pub const MAX_SHARDS: u32 = 1024;
/// Default of `--orphan-grace`: longer than any run, so that a concurrent run's tokens that
/// are not delivered yet are never collected.
pub const DEFAULT_ORPHAN_GRACE: &str = "15m";
/// Default of `--max-deletions`: existing tokens deleted in one run, at most.
pub const DEFAULT_MAX_DELETIONS: usize = 100;
/// Default of `--shutdown-grace` (below Kubernetes' default 30 s termination grace period).
pub const DEFAULT_SHUTDOWN_GRACE: &str = "25s";
/// The longest duration any setting accepts.
pub const MAX_DURATION: std::time::Duration = std::time::Duration::from_secs(366 * 24 * 3600);

/// Dry-run (read everything, write nothing) or apply. Decided once, checked in one place
/// ([`crate::reconcile::run`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    DryRun,
    Apply,
}

impl Mode {
    pub fn is_dry_run(self) -> bool {
        self == Self::DryRun
    }
    /// `dry-run` or `apply`, as plans and logs name the mode.
    pub fn label(self) -> &'static str {
        match self {
            Self::DryRun => "dry-run",
            Self::Apply => "apply",
        }
    }
}

/// One run, or a loop with a pause between runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schedule {
    Once,
    Every(Duration),
}

/// How the plan is printed on stdout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    #[default]
    Text,
    Json,
    /// GitHub/GitLab-flavoured Markdown, for a PR-check comment.
    Markdown,
}

/// A shell `dtp completions` writes a completion script for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// How log lines are written on stderr.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Where app-interface data comes from.
#[derive(Clone)]
pub enum Source {
    Graphql {
        server: Url,
        /// Sent verbatim as `Authorization`.
        token: Option<SecretString>,
    },
    Datafiles(PathBuf),
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Graphql { server, token } => f
                .debug_struct("Graphql")
                .field("server", &crate::clients::http::redact_url(server))
                .field("token", &token.as_ref().map(|_| crate::model::REDACTED))
                .finish(),
            Self::Datafiles(dir) => f.debug_tuple("Datafiles").field(dir).finish(),
        }
    }
}

/// Everything needed to read app-interface and its secrets (`dtp validate` and `dtp run`).
#[derive(Clone, Debug)]
pub struct SourceConfig {
    pub source: Source,
    /// `config.toml`, when given: `[vault]` and the config-file secrets.
    pub qontract: Option<QontractConfig>,
    /// Extra PEM CA certificates trusted by every HTTPS client.
    pub ca_bundle: Option<PathBuf>,
    /// The service-account token file of Vault Kubernetes auth.
    pub kube_sa_token_path: PathBuf,
}

/// `--ocm-env` and `--cluster`: the part of the fleet a run serves (all when empty).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filters {
    pub ocm_envs: Vec<OcmEnvName>,
    /// OCM ids or external ids (UUIDs).
    pub clusters: Vec<String>,
}

/// `dtp run`.
#[derive(Clone, Debug)]
pub struct RunConfig {
    pub source: SourceConfig,
    pub mode: Mode,
    pub schedule: Schedule,
    pub filters: Filters,
    pub plan_format: PlanFormat,
    /// Clusters (and tenants) processed at once.
    pub concurrency: NonZeroUsize,
    /// Calls in flight per target (OCM environment, Dynatrace tenant, Vault).
    pub limits: LimitSettings,
    /// Time limit of one run.
    pub timeout: Option<Duration>,
    /// `/metrics`, `/healthz`, `/readyz` in loop mode.
    pub metrics_port: u16,
    /// PR checks: exit early when the desired state at this bundle equals the current one.
    pub early_exit_compare_sha: Option<String>,
    pub shard: Shard,
    pub pushgateway: Option<PushgatewaySettings>,
    pub unleash: UnleashConfig,
    /// The orphan grace period and the deletion budget.
    pub policy: crate::plan::Policy,
    /// Collect the tokens of clusters that left the fleet.
    pub collect_departed: bool,
    /// After SIGTERM/SIGINT, how long work in flight may go on before it is aborted.
    pub shutdown_grace: Duration,
}

/// `dtp validate`.
#[derive(Clone, Debug)]
pub struct ValidateConfig {
    pub source: SourceConfig,
    /// How the result is printed on stdout (the plan's three formats).
    pub format: PlanFormat,
}

/// `dtp demo`.
#[derive(Clone, Debug)]
pub struct DemoConfig {
    /// A sandbox fixture (YAML); the built-in example fleet when absent.
    pub fixture: Option<PathBuf>,
    pub plan_format: PlanFormat,
}

/// What to do.
#[derive(Clone, Debug)]
pub enum Command {
    Run(Box<RunConfig>),
    Validate(Box<ValidateConfig>),
    Demo(DemoConfig),
    /// Print the completion script of a shell.
    Completions(Shell),
    /// Print the man page (roff).
    Man,
}

/// The whole validated configuration of one process.
#[derive(Clone, Debug)]
pub struct Config {
    pub command: Command,
}

/// The concurrency when none is configured.
pub fn default_concurrency() -> NonZeroUsize {
    NonZeroUsize::new(DEFAULT_CONCURRENCY).unwrap_or(NonZeroUsize::MIN)
}
