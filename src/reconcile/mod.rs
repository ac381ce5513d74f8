//! One reconcile run, as named phases: [`inputs`] (app-interface, validation, the secret
//! reader), [`discovery`] (labelled clusters in every OCM environment, then the shard and
//! `--cluster` filters), the desired state ([`crate::desired`]), the current state
//! ([`crate::current`]), the plan ([`crate::plan`]), the apply ([`crate::apply`], skipped in a
//! dry-run: the mode is checked here and nowhere else) and the [`Report`]. Failures are
//! isolated: an OCM environment, a tenant or a cluster that fails is recorded and the rest goes
//! on. Dependencies arrive through [`Dependencies`], so this module builds no client.

mod discovery;
mod inputs;
mod report;

pub use inputs::load_and_validate;
pub use report::{Failure, Report};

use crate::action::Action;
use crate::apply::{self, Writers};
use crate::clients::appinterface::AppInterfaceError;
use crate::clients::vault::SecretError;
use crate::clients::{AppInterfaceSource, Connector, SecretBackend};
use crate::config::{Filters, Mode, default_concurrency};
use crate::model::validate::Problem;
use crate::model::{BUNDLE_ID, ClusterRef};
use crate::plan::{self, Plan, Policy};
use crate::progress::{Progress, Stage};
use crate::shard::Shard;
use crate::{current, desired};
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, error, info, info_span, warn};

/// Everything a run talks to.
#[derive(Clone)]
pub struct Dependencies {
    pub app_interface: Arc<dyn AppInterfaceSource>,
    pub secrets: Arc<dyn SecretBackend>,
    pub connector: Arc<dyn Connector>,
}

/// How to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub mode: Mode,
    /// Only these OCM environments and clusters (all when empty).
    pub filters: Filters,
    /// Clusters (and tenants) processed at once.
    pub concurrency: NonZeroUsize,
    /// This process's share of the fleet.
    pub shard: Shard,
    /// The grace period of orphaned tokens and the deletion budget.
    pub policy: Policy,
    /// Collect the tokens of clusters that left the fleet (OCM confirms them gone).
    pub collect_departed: bool,
    /// Cancelled on timeout or shutdown: no new cluster is started, work in flight finishes.
    pub cancel: CancellationToken,
    /// Cancelled when the shutdown grace period ran out: calls in flight are dropped and every
    /// cluster cleans up what it created.
    pub abort: CancellationToken,
    /// Counted as the phases go (the runner logs it and beats `/healthz`).
    pub progress: Arc<Progress>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            mode: Mode::DryRun,
            filters: Filters::default(),
            concurrency: default_concurrency(),
            shard: Shard::default(),
            policy: Policy::default(),
            collect_departed: false,
            cancel: CancellationToken::new(),
            abort: CancellationToken::new(),
            progress: Arc::default(),
        }
    }
}

/// A run that could not start. Everything after this point is per environment or cluster.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("invalid app-interface data ({} problem(s)):\n{}", .0.len(), .0.iter().map(|p| format!("- {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Problem>),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error(transparent)]
    AppInterface(#[from] AppInterfaceError),
    #[error("secrets: {0}")]
    Secrets(#[from] SecretError),
}

impl RunError {
    /// 2 when the input or the configuration must be fixed by a person; 1 when a system
    /// failed.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Invalid(_) | Self::Config(_) => crate::exit::INVALID,
            Self::AppInterface(e) if e.is_invalid_data() || e.is_configuration() => {
                crate::exit::INVALID
            }
            Self::Secrets(SecretError::Config { .. }) => crate::exit::INVALID,
            Self::AppInterface(_) | Self::Secrets(_) => crate::exit::PARTIAL,
        }
    }
}

/// One reconcile.
pub async fn run(deps: &Dependencies, opts: &RunOptions) -> Result<Report, RunError> {
    let span = info_span!("run", dry_run = opts.mode.is_dry_run());
    run_phases(deps, opts).instrument(span).await
}

async fn run_phases(deps: &Dependencies, opts: &RunOptions) -> Result<Report, RunError> {
    let started = Instant::now();
    let inputs = inputs::read(deps, &opts.filters).await?;
    let found = discovery::discover(&inputs, deps, opts).await;
    let desired = desired::desired_state(&inputs.data, &found.clusters);
    log_desired(&desired);
    let secrets = &inputs.secrets;
    let tenants = current::tenants(
        &inputs.data.dynatrace_environments,
        secrets,
        &deps.connector,
        opts.concurrency,
        &opts.progress,
    )
    .await;
    let bundles = current::bundles(&desired, &found.ocm, opts.concurrency, &opts.progress).await;
    let tenant_failures = tenant_failures(&tenants.tokens);
    let (departed, departed_failure) = departed(&found, &tenants.tokens, opts).await;
    let current = current::state(tenants.tokens, bundles, departed);
    let plan = plan::plan(&desired, &current, &opts.policy);
    log_plan(&plan, opts.mode);
    let writers = Writers {
        ocm: found.ocm,
        dynatrace: tenants.clients,
    };
    let (applied, not_started) = apply_unless_dry_run(&plan, &writers, opts).await;
    Ok(Report {
        mode: opts.mode,
        bundle_sha: inputs.data.bundle_sha.clone(),
        clusters_discovered: found.clusters_discovered,
        plan,
        outcomes: applied.clusters,
        departed: applied.departed,
        env_failures: found
            .env_failures
            .into_iter()
            .chain(departed_failure)
            .collect(),
        discovery_problems: found.problems,
        tenant_failures,
        unmatched_filters: found.unmatched_filters,
        not_started,
        shard: opts.shard,
        duration: started.elapsed(),
    })
}

/// The clusters that left the fleet, with `--collect-departed` only, and only when every OCM
/// environment was discovered and no filter narrows the run; a failure to ask OCM is an
/// environment failure and nothing is collected.
async fn departed(
    found: &discovery::Found,
    tokens: &std::collections::BTreeMap<crate::model::TenantId, Result<plan::TenantTokens, String>>,
    opts: &RunOptions,
) -> (
    std::collections::BTreeSet<crate::model::ExternalClusterId>,
    Option<Failure>,
) {
    let complete = found.env_failures.is_empty()
        && opts.filters.ocm_envs.is_empty()
        && opts.filters.clusters.is_empty();
    if !opts.collect_departed || !complete {
        return Default::default();
    }
    match current::departed(tokens, &found.seen, &found.ocm, opts.shard).await {
        Ok(gone) => {
            if !gone.is_empty() {
                info!(
                    clusters = gone.len(),
                    "clusters gone from OCM: their tokens are collected"
                );
            }
            (gone, None)
        }
        Err((env, error)) => {
            error!(ocm_env = %env, error = %error, "cannot tell which clusters left the fleet");
            let error = format!("departed clusters: {error}");
            (
                Default::default(),
                Some(Failure::OcmEnvironment { env, error }),
            )
        }
    }
}

/// Applies the plan, unless this is a dry-run: the one place the mode is checked. Returns the
/// outcomes of the clusters that were applied and the clusters that were not started.
async fn apply_unless_dry_run(
    plan: &Plan,
    writers: &Writers,
    opts: &RunOptions,
) -> (apply::Applied, Vec<ClusterRef>) {
    if opts.mode.is_dry_run() || plan.is_empty() {
        return Default::default();
    }
    let stop = apply::Stop {
        cancel: opts.cancel.clone(),
        abort: opts.abort.clone(),
    };
    opts.progress.start(Stage::Apply, plan.changes().count());
    let mut applied =
        apply::apply(plan, writers, opts.concurrency.get(), &stop, &opts.progress).await;
    let (done, skipped): (Vec<_>, Vec<_>) = std::mem::take(&mut applied.clusters)
        .into_iter()
        .partition(|o| o.started);
    applied.clusters = done;
    let not_started: Vec<ClusterRef> = skipped.into_iter().map(|o| o.cluster).collect();
    if !not_started.is_empty() {
        warn!(
            clusters = not_started.len(),
            "run stopped before every cluster was reconciled"
        );
    }
    (applied, not_started)
}

fn tenant_failures(
    tokens: &std::collections::BTreeMap<crate::model::TenantId, Result<plan::TenantTokens, String>>,
) -> Vec<Failure> {
    tokens
        .iter()
        .filter_map(|(tenant, r)| {
            r.as_ref().err().map(|e| Failure::Tenant {
                tenant: tenant.clone(),
                error: e.clone(),
            })
        })
        .collect()
}

/// A warning per skipped cluster and per ignored label.
fn log_desired(desired: &desired::DesiredState) {
    for s in &desired.skipped {
        warn!(ocm_env = %s.cluster.ocm_env, cluster_id = %s.cluster.id, reason = %s.reason, "skipping cluster");
    }
    for c in &desired.clusters {
        for n in &c.notes {
            warn!(ocm_env = %c.cluster.ocm_env, cluster_id = %c.cluster.id, label = %n.label, "{}", n.message);
        }
    }
}

/// One log line per planned action, derived from the action.
fn log_plan(plan: &Plan, mode: Mode) {
    let dry_run = mode.is_dry_run();
    for cp in plan.changes() {
        let c = &cp.cluster;
        let _g = info_span!("cluster", ocm_env = %c.ocm_env, cluster_id = %c.id, cluster_uuid = %c.external_id).entered();
        for a in &cp.actions {
            let planned = a.kind().label();
            match a {
                Action::CreateBundle(b) | Action::PatchBundle(b) => {
                    info!(planned, dry_run, kind = %b.kind, reasons = %b.reasons.join("; "), "plan: write {BUNDLE_ID}");
                }
                Action::CreateToken(_)
                | Action::UpdateToken(_)
                | Action::DeleteToken(_)
                | Action::CollectToken(_) => {
                    info!(planned, dry_run, "plan: {}", a.describe());
                }
            }
        }
    }
    for f in &plan.failed {
        error!(ocm_env = %f.cluster.ocm_env, cluster_id = %f.cluster.id, error = %f.error, "cluster cannot be reconciled");
    }
}
