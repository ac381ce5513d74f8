//! One reconcile run: read app-interface, validate it, read secrets, discover clusters in every
//! OCM environment, read the current bundles and token lists, compute the plan and — unless
//! this is a dry-run — apply it. Failures are isolated: an OCM environment, a tenant or a
//! cluster that fails is recorded and the rest goes on; the [`Report`] turns them into the
//! exit code. Dependencies arrive through [`Dependencies`], so this module builds no client.

use crate::apply::{self, ClusterOutcome, Writers};
use crate::clients::appinterface::AppInterfaceError;
use crate::clients::vault::SecretError;
use crate::clients::{AppInterfaceSource, DiscoveredCluster, Dynatrace, Ocm, SecretReader};
use crate::desired::{self, ClusterRef};
use crate::model::validate::{Problem, validate_app_interface};
use crate::model::{AppInterfaceData, DynatraceEnvironment, OcmEnvName, OcmEnvironment, TenantId};
use crate::plan::{self, CurrentState, Plan, TenantTokens};
use crate::shard::Shard;
use async_trait::async_trait;
use futures::StreamExt;
use secrecy::SecretString;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, error, info, info_span, warn};

/// A tenant's client and token list, or why they could not be had.
type TenantRead = Result<(Arc<dyn Dynatrace>, TenantTokens), String>;

/// Chooses the secret reader once app-interface said whether Vault is used.
#[async_trait]
pub trait SecretBackend: Send + Sync {
    async fn reader(&self, vault: bool) -> Result<Arc<dyn SecretReader>, SecretError>;
}

/// Builds the per-environment and per-tenant clients.
pub trait Connector: Send + Sync {
    fn ocm(&self, env: &OcmEnvironment, client_secret: SecretString) -> Arc<dyn Ocm>;
    fn dynatrace(
        &self,
        env: &DynatraceEnvironment,
        bootstrap_token: SecretString,
    ) -> Arc<dyn Dynatrace>;
}

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
    pub dry_run: bool,
    /// Only these OCM environments (all when empty).
    pub ocm_envs: Vec<String>,
    /// Only these clusters, by OCM id or external id (UUID) (all when empty).
    pub clusters: Vec<String>,
    /// Clusters (and tenants) processed at once.
    pub concurrency: usize,
    /// This process's share of the fleet.
    pub shard: Shard,
    /// Cancelled on timeout or shutdown: no new cluster is started, work in flight finishes.
    pub cancel: CancellationToken,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            dry_run: true,
            ocm_envs: vec![],
            clusters: vec![],
            concurrency: 8,
            shard: Shard::default(),
            cancel: CancellationToken::new(),
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
    /// 2 when the input must be fixed by a person; 1 when a system failed.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Invalid(_) | Self::Config(_) => 2,
            Self::AppInterface(e) if e.is_invalid_data() => 2,
            Self::AppInterface(_) | Self::Secrets(_) => 1,
        }
    }
}

/// What one run saw, planned and did.
#[derive(Debug, Serialize)]
pub struct Report {
    pub dry_run: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle_sha: Option<String>,
    pub clusters_discovered: usize,
    pub plan: Plan,
    /// Outcomes of applied clusters (empty in dry-run).
    pub outcomes: Vec<ClusterOutcome>,
    /// OCM environments that could not be reconciled (`<env>: <error>`).
    pub env_errors: Vec<String>,
    /// Objects OCM returned that dtp could not use.
    pub discovery_problems: Vec<String>,
    /// Tenants whose tokens could not be listed (`<tenant>: <error>`).
    pub tenant_errors: Vec<String>,
    /// `--cluster` filters that matched no labelled cluster.
    pub unmatched_filters: Vec<String>,
    /// Clusters with planned changes that were not started because the run was cancelled
    /// (time limit or shutdown).
    pub not_started: Vec<ClusterRef>,
    /// The shard this run served.
    #[serde(skip)]
    pub shard: Shard,
    #[serde(with = "secs")]
    pub duration: Duration,
}

mod secs {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

impl Report {
    /// Every failure of the run, one line each (`<env>/<org>/<cluster id>: <error>` for
    /// clusters, as the Python integration words them).
    pub fn errors(&self) -> Vec<String> {
        let mut out: Vec<String> = self.env_errors.clone();
        out.extend(self.discovery_problems.iter().cloned());
        out.extend(
            self.plan
                .failed
                .iter()
                .map(|f| format!("{}: {}", f.cluster, f.error)),
        );
        for o in &self.outcomes {
            let c = o
                .cluster
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            out.extend(o.errors.iter().map(|e| format!("{c}: {e}")));
        }
        out.extend(self.not_started.iter().map(|c| {
            format!("{c}: not reconciled: the run was stopped (time limit or shutdown) before it started")
        }));
        out
    }
    pub fn exit_code(&self) -> i32 {
        if self.errors().is_empty() { 0 } else { 1 }
    }
}

/// Reads and validates app-interface data (`dtp validate`, and the first step of a run).
pub async fn load_and_validate(
    source: &dyn AppInterfaceSource,
) -> Result<AppInterfaceData, RunError> {
    let data = source.load().await?;
    let problems = validate_app_interface(&data);
    if problems.is_empty() {
        Ok(data)
    } else {
        Err(RunError::Invalid(problems))
    }
}

/// One reconcile.
pub async fn run(deps: &Dependencies, opts: &RunOptions) -> Result<Report, RunError> {
    let span = info_span!("run", dry_run = opts.dry_run);
    run_inner(deps, opts).instrument(span).await
}

async fn run_inner(deps: &Dependencies, opts: &RunOptions) -> Result<Report, RunError> {
    let started = Instant::now();
    let data = load_and_validate(deps.app_interface.as_ref()).await?;
    info!(
        bundle_sha = data.bundle_sha.as_deref().unwrap_or("-"),
        dynatrace_environments = data.dynatrace_environments.len(),
        ocm_environments = data.ocm_environments.len(),
        token_specs = data.token_specs.len(),
        "read app-interface"
    );
    for name in &opts.ocm_envs {
        if !data
            .ocm_environments
            .iter()
            .any(|e| e.name.as_str() == name)
        {
            return Err(RunError::Config(format!(
                "--ocm-env '{name}': no such OCM environment in app-interface"
            )));
        }
    }
    let secrets = deps.secrets.reader(data.vault).await?;
    let concurrency = opts.concurrency.max(1);

    // Discovery, one task per OCM environment.
    let envs: Vec<&OcmEnvironment> = data
        .ocm_environments
        .iter()
        .filter(|e| opts.ocm_envs.is_empty() || opts.ocm_envs.iter().any(|n| n == e.name.as_str()))
        .collect();
    let discovered = futures::future::join_all(envs.iter().map(|env| {
        let secrets = secrets.clone();
        let connector = deps.connector.clone();
        let span = info_span!("ocm_env", ocm_env = %env.name);
        async move {
            let secret = secrets
                .read(&env.access_token_client_secret)
                .await
                .map_err(|e| format!("{}: client secret: {e}", env.name))?;
            let ocm = connector.ocm(env, secret);
            let d = ocm
                .discover_clusters()
                .await
                .map_err(|e| format!("{}: {e}", env.name))?;
            info!(
                clusters = d.clusters.len(),
                problems = d.problems.len(),
                "discovered labelled clusters"
            );
            Ok::<_, String>((env.name.clone(), ocm, d))
        }
        .instrument(span)
    }))
    .await;

    let mut env_errors = Vec::new();
    let mut discovery_problems = Vec::new();
    let mut ocm_clients: BTreeMap<OcmEnvName, Arc<dyn Ocm>> = BTreeMap::new();
    let mut clusters: Vec<(OcmEnvName, DiscoveredCluster)> = Vec::new();
    for r in discovered {
        match r {
            Ok((env, ocm, d)) => {
                discovery_problems.extend(d.problems.into_iter().map(|p| format!("{env}: {p}")));
                clusters.extend(d.clusters.into_iter().map(|c| (env.clone(), c)));
                ocm_clients.insert(env, ocm);
            }
            Err(e) => {
                error!(error = %e, "OCM environment failed");
                env_errors.push(e);
            }
        }
    }
    if opts.shard.count > 1 {
        clusters.retain(|(_, c)| opts.shard.owns(&c.external_id));
        info!(
            shard = opts.shard.id,
            shards = opts.shard.count,
            clusters = clusters.len(),
            "clusters of this shard"
        );
    }
    let clusters_discovered = clusters.len();
    let mut unmatched_filters = Vec::new();
    if !opts.clusters.is_empty() {
        for f in &opts.clusters {
            if !clusters.iter().any(|(_, c)| matches_filter(c, f)) {
                warn!(cluster = %f, "--cluster matched no labelled, managed and ready cluster");
                unmatched_filters.push(f.clone());
            }
        }
        clusters.retain(|(_, c)| opts.clusters.iter().any(|f| matches_filter(c, f)));
    }

    let desired = desired::desired_state(&data, &clusters);
    for s in &desired.skipped {
        warn!(ocm_env = %s.cluster.ocm_env, cluster_id = %s.cluster.id, reason = %s.reason, "skipping cluster");
    }
    for c in &desired.clusters {
        for n in &c.notes {
            warn!(ocm_env = %c.cluster.ocm_env, cluster_id = %c.cluster.id, label = %n.label, "{}", n.message);
        }
    }

    // One token list per tenant per run, whatever the number of OCM environments.
    let envs_by_tenant: BTreeMap<TenantId, &DynatraceEnvironment> = data
        .dynatrace_environments
        .iter()
        .map(|e| (e.environment_id.clone(), e))
        .collect();
    let tenant_results: Vec<(TenantId, TenantRead)> = futures::stream::iter(desired.tenants())
        .map(|tenant| {
            let env = envs_by_tenant[&tenant];
            let secrets = secrets.clone();
            let connector = deps.connector.clone();
            let span = info_span!("tenant", tenant = %tenant);
            async move {
                let r = async {
                    let token = secrets
                        .read(&env.bootstrap_token)
                        .await
                        .map_err(|e| format!("bootstrap token: {e}"))?;
                    let dt = connector.dynatrace(env, token);
                    let tokens = dt.list_tokens().await.map_err(|e| e.to_string())?;
                    debug!(tokens = tokens.len(), "listed tokens");
                    Ok::<_, String>((dt, TenantTokens::new(tokens)))
                }
                .await;
                (tenant, r)
            }
            .instrument(span)
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let mut tenant_errors = Vec::new();
    let mut dt_clients: BTreeMap<TenantId, Arc<dyn Dynatrace>> = BTreeMap::new();
    let mut tenants = BTreeMap::new();
    for (tenant, r) in tenant_results {
        match r {
            Ok((dt, tokens)) => {
                dt_clients.insert(tenant.clone(), dt);
                tenants.insert(tenant, Ok(tokens));
            }
            Err(e) => {
                error!(tenant = %tenant, error = %e, "Dynatrace tenant failed");
                tenant_errors.push(format!("{tenant}: {e}"));
                tenants.insert(tenant, Err(e));
            }
        }
    }

    // Current bundles of the clusters to serve.
    let bundles = futures::stream::iter(desired.clusters.iter().filter(|c| c.conflict.is_none()))
        .map(|dc| {
            let ocm = ocm_clients[&dc.cluster.ocm_env].clone();
            let c: ClusterRef = dc.cluster.clone();
            async move {
                let r = ocm
                    .get_bundle(&c.id, c.kind)
                    .await
                    .map_err(|e| e.to_string());
                ((c.ocm_env, c.id), r)
            }
        })
        .buffer_unordered(concurrency)
        .collect::<BTreeMap<_, _>>()
        .await;

    let current = CurrentState {
        now: chrono::Utc::now(),
        tenants,
        bundles,
    };
    let plan = plan::plan(&desired, &current);
    log_plan(&plan, opts.dry_run);

    let (outcomes, not_started) = if opts.dry_run || plan.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        let writers = Writers {
            ocm: ocm_clients,
            dynatrace: dt_clients,
        };
        let outcomes = apply::apply(&plan, &writers, concurrency, &opts.cancel).await;
        let (done, skipped): (Vec<_>, Vec<_>) = outcomes.into_iter().partition(|o| o.started);
        (
            done,
            skipped.into_iter().filter_map(|o| o.cluster).collect(),
        )
    };
    if !not_started.is_empty() {
        warn!(
            clusters = not_started.len(),
            "run stopped before every cluster was reconciled"
        );
    }
    Ok(Report {
        dry_run: opts.dry_run,
        bundle_sha: data.bundle_sha.clone(),
        clusters_discovered,
        plan,
        outcomes,
        env_errors,
        discovery_problems,
        tenant_errors,
        unmatched_filters,
        not_started,
        shard: opts.shard,
        duration: started.elapsed(),
    })
}

fn matches_filter(c: &DiscoveredCluster, f: &str) -> bool {
    c.id.as_str() == f || c.external_id.as_str() == f
}

/// One log line per planned action.
fn log_plan(plan: &Plan, dry_run: bool) {
    for cp in plan.changes() {
        let c = &cp.cluster;
        let _g = info_span!("cluster", ocm_env = %c.ocm_env, cluster_id = %c.id, cluster_uuid = %c.external_id).entered();
        for t in &cp.creates {
            info!(planned = "create_token", dry_run, tenant = %t.tenant, token_name = %t.name, secret = %t.secret, key = %t.key, reason = t.reason.describe(), "plan: create token");
        }
        for u in &cp.updates {
            info!(planned = "update_token", dry_run, tenant = %u.tenant, token_id = %u.id, from = %u.current_name, to = %u.name, "plan: update token");
        }
        if let Some(b) = &cp.bundle {
            info!(planned = ?b.op, dry_run, kind = %b.kind, reasons = %b.reasons.join("; "), "plan: write {}", crate::model::BUNDLE_ID);
        }
        for r in &cp.retires {
            info!(planned = "delete_token", dry_run, tenant = %r.tenant, token_id = %r.id, reason = r.reason.describe(), "plan: delete replaced token");
        }
    }
    for f in &plan.failed {
        error!(ocm_env = %f.cluster.ocm_env, cluster_id = %f.cluster.id, error = %f.error, "cluster cannot be reconciled");
    }
}
