//! One reconcile run: [`inputs`] (app-interface, validation, the secret reader), then at
//! once [`discovery`] of every OCM environment, every tenant's token list
//! ([`crate::current::tenants`]) and the [`pipeline`] that reads, plans
//! ([`crate::plan::plan_cluster`]) and delivers ([`crate::apply::deliver`]) each served
//! cluster as soon as it can; then the whole plan in a deterministic order, the departed
//! clusters, the deletions the budget allows ([`crate::apply::finish`]) and the [`Report`].
//! A dry-run goes the same way without delivering or deleting: the mode is checked here and
//! nowhere else. Failures are isolated: an OCM environment, a tenant or a cluster that fails
//! is recorded and the rest goes on. Dependencies arrive through [`Dependencies`], so this
//! module builds no client.

mod discovery;
mod inputs;
mod log;
mod pipeline;
mod report;

pub use inputs::load_and_validate;
pub use report::{Failure, Report};

use crate::apply::{self, Writers};
use crate::clients::appinterface::AppInterfaceError;
use crate::clients::vault::SecretError;
use crate::clients::{AppInterfaceSource, Connector, SecretBackend};
use crate::config::{Filters, Mode, default_concurrency};
use crate::model::ClusterRef;
use crate::model::validate::Problem;
use crate::plan::{self, Plan, Policy};
use crate::progress::Progress;
use crate::shard::Shard;
use crate::{current, desired};
use futures::{FutureExt, StreamExt};
use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};
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
    let tenants = spawn_tenants(&inputs, deps, opts);
    let envs = discovery::spawn(&inputs, deps, opts);
    let catalog = desired::Catalog::new(&inputs.data);
    let found = Mutex::new(discovery::Found::default());
    let pipeline = pipeline::Pipeline {
        catalog: &catalog,
        tenants: tenants.clone(),
        opts,
        deliver: !opts.mode.is_dry_run(),
        kept: Mutex::default(),
    };
    let served = pipeline.run(envs, &found).await;
    let found = found.into_inner().unwrap_or_else(PoisonError::into_inner);
    let tenants = tenants.await;
    let (gone, departed_failure) = departed(&found, &tenants.tokens, opts).await;
    let departed = plan::departed(&tenants.tokens, &gone, tenants.now, &opts.policy);
    let plan = plan::assemble(
        served.clusters,
        served.failed,
        served.skipped,
        departed,
        &opts.policy,
    );
    log_withheld(&plan);
    let mut applied = apply::Applied::default();
    let mut not_started = served.unread;
    if !opts.mode.is_dry_run() {
        not_started.extend(
            finish(
                &plan,
                served.deliveries,
                &found.ocm,
                &tenants,
                &mut applied,
                opts,
            )
            .await,
        );
    }
    if !not_started.is_empty() {
        warn!(
            clusters = not_started.len(),
            "run stopped before every cluster was reconciled"
        );
    }
    Ok(Report {
        mode: opts.mode,
        bundle_sha: inputs.data.bundle_sha.clone(),
        clusters_discovered: found.clusters_discovered,
        unmatched_filters: found.unmatched_filters(&opts.filters),
        plan,
        outcomes: applied.clusters,
        departed: applied.departed,
        env_failures: found
            .env_failures
            .into_iter()
            .chain(departed_failure)
            .collect(),
        discovery_problems: found.problems,
        tenant_failures: tenant_failures(&tenants.tokens),
        not_started,
        kept_tokens: served.kept,
        shard: opts.shard,
        duration: started.elapsed(),
    })
}

/// Reads every tenant's token list in a task of its own (so it progresses while discovery
/// runs); every cluster of the pipeline awaits the one result. Dropping the last handle
/// stops the task.
fn spawn_tenants(
    inputs: &inputs::Inputs,
    deps: &Dependencies,
    opts: &RunOptions,
) -> pipeline::SharedTenants {
    let envs = inputs.data.dynatrace_environments.clone();
    let (secrets, connector) = (inputs.secrets.clone(), deps.connector.clone());
    let (concurrency, progress) = (opts.concurrency, opts.progress.clone());
    let task_envs = envs.clone();
    let task =
        tokio::spawn(
            async move {
                current::tenants(&task_envs, &secrets, &connector, concurrency, &progress).await
            }
            .in_current_span(),
        );
    let task = tokio_util::task::AbortOnDropHandle::new(task);
    async move {
        let tenants = task.await.unwrap_or_else(|e| {
            let error = format!("internal error: the token-list task failed: {e}");
            current::Tenants::default().failed_all(&envs, &error)
        });
        Arc::new(tenants)
    }
    .boxed()
    .shared()
}

/// The rest of a real run, once the plan is whole: every delivered cluster's deletions (as
/// the budget allows), the changed clusters the run stopped before, then the departed
/// clusters' collection. Returns the clusters not started.
async fn finish(
    plan: &Plan,
    mut deliveries: HashMap<(crate::model::OcmEnvName, crate::model::ClusterId), apply::Delivery>,
    ocm: &BTreeMap<crate::model::OcmEnvName, Arc<dyn crate::clients::Ocm>>,
    tenants: &current::Tenants,
    applied: &mut apply::Applied,
    opts: &RunOptions,
) -> Vec<ClusterRef> {
    let mut todo = Vec::new();
    let mut not_started = Vec::new();
    for (i, cp) in plan.changes().enumerate() {
        let key = (cp.cluster.ocm_env.clone(), cp.cluster.id.clone());
        match (deliveries.remove(&key), ocm.get(&cp.cluster.ocm_env)) {
            (Some(d), Some(o)) => todo.push((i, cp, d, o.clone())),
            _ => not_started.push((i, apply::not_started(cp))),
        }
    }
    let mut outcomes: Vec<(usize, apply::ClusterOutcome)> = futures::stream::iter(todo)
        .map(|(i, cp, d, o)| async move {
            let w = Writers {
                ocm: o.as_ref(),
                dynatrace: &tenants.clients,
            };
            let span = info_span!("cluster", ocm_env = %cp.cluster.ocm_env, cluster_id = %cp.cluster.id, cluster_uuid = %cp.cluster.external_id);
            (i, apply::finish(cp, d, w, &opts.cancel, &opts.abort).instrument(span).await)
        })
        .buffer_unordered(opts.concurrency.get())
        .collect()
        .await;
    let refs: Vec<ClusterRef> = not_started.iter().map(|(_, o)| o.cluster.clone()).collect();
    outcomes.extend(not_started);
    outcomes.sort_by_key(|(i, _)| *i);
    applied.clusters = outcomes
        .into_iter()
        .map(|(_, o)| o)
        .filter(|o| o.started)
        .collect();
    applied.departed =
        apply::collect_departed(&plan.departed, &tenants.clients, &opts.cancel).await;
    refs
}

/// The clusters that left the fleet, with `--collect-departed` only, and only when every OCM
/// environment was discovered and no filter narrows the run; a failure to ask OCM is an
/// environment failure and nothing is collected.
async fn departed(
    found: &discovery::Found,
    tokens: &plan::Tenants,
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

fn tenant_failures(tokens: &plan::Tenants) -> Vec<Failure> {
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

/// An error per deletion the budget withheld (each is a failure of the run).
fn log_withheld(plan: &Plan) {
    for w in &plan.withheld {
        error!(
            cluster = %w.cluster,
            max_deletions = plan.max_deletions,
            "deletion withheld (--max-deletions): {}",
            w.action.describe()
        );
    }
}
