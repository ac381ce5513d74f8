//! The executor: performs a [`Plan`], cluster by cluster with bounded concurrency. It is the
//! only code that writes to Dynatrace or OCM, and it returns one [`ActionOutcome`] per planned
//! action, from which every view of the run is derived. Per cluster, the actions run in plan
//! order ([`cluster`]): create the planned tokens (filling the plan's slots), update drifted
//! ones, write the SyncSet/Manifest ([`deliver`]), then delete replaced and orphaned tokens.
//! One cluster's failure never stops the others. A token created for a delivery that did not
//! happen is deleted again; a write that may have been applied is checked by reading the
//! bundle back first, so a delivered token is never deleted. Once the abort token fires (the
//! shutdown grace ran out), calls in flight are dropped and each cluster cleans up what it
//! created within [`CLEANUP_BUDGET`].

mod cluster;
mod deliver;

use crate::action::{Action, ActionOutcome, Outcome, SkipReason};
use crate::clients::{Dynatrace, Ocm};
use crate::model::{ClusterRef, ExternalClusterId, OcmEnvName, ServiceLogOutcome, TenantId};
use crate::plan::{ClusterPlan, DepartedPlan, Plan};
use crate::progress::{Progress, Stage};
use futures::StreamExt;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, error, info, info_span};

/// How long a cluster may take to clean up (read its bundle back, delete undelivered tokens)
/// once the run is aborted.
pub const CLEANUP_BUDGET: Duration = Duration::from_secs(10);

/// The clients the executor writes through.
#[derive(Clone, Default)]
pub struct Writers {
    pub ocm: BTreeMap<OcmEnvName, Arc<dyn Ocm>>,
    pub dynatrace: BTreeMap<TenantId, Arc<dyn Dynatrace>>,
}

impl Writers {
    fn dynatrace(&self, tenant: &TenantId) -> Result<&Arc<dyn Dynatrace>, String> {
        self.dynatrace
            .get(tenant)
            .ok_or_else(|| format!("no Dynatrace client for tenant '{tenant}'"))
    }
}

/// When to stop: `cancel` starts no new cluster; `abort` also drops the calls in flight.
#[derive(Clone, Debug, Default)]
pub struct Stop {
    pub cancel: CancellationToken,
    pub abort: CancellationToken,
}

/// What became of the service log of a failed delivery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceLog {
    Sent(ServiceLogOutcome),
    Failed(String),
}

/// What happened to one cluster: one outcome per planned action, in plan order.
#[derive(Clone, Debug, Serialize)]
pub struct ClusterOutcome {
    pub cluster: ClusterRef,
    pub actions: Vec<ActionOutcome>,
    pub service_log: Option<ServiceLog>,
    /// False when the run was cancelled before this cluster started (nothing was written).
    pub started: bool,
}

impl ClusterOutcome {
    /// The failures of this cluster, one line each: failed actions in plan order, then tokens
    /// that could not be rolled back, then a service log that could not be posted.
    pub fn errors(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .actions
            .iter()
            .filter(|a| matches!(a.outcome, Outcome::Failed { .. }))
            .filter_map(ActionOutcome::failure)
            .collect();
        out.extend(
            self.actions
                .iter()
                .filter(|a| matches!(a.outcome, Outcome::RollbackFailed { .. }))
                .filter_map(ActionOutcome::failure),
        );
        if let Some(ServiceLog::Failed(e)) = &self.service_log {
            out.push(format!("service log: {e}"));
        }
        out
    }
    pub fn failed(&self) -> bool {
        self.actions.iter().any(|a| a.outcome.is_failure())
            || matches!(self.service_log, Some(ServiceLog::Failed(_)))
    }
}

/// What happened to the tokens of a departed cluster.
#[derive(Clone, Debug, Serialize)]
pub struct DepartedOutcome {
    pub cluster: ExternalClusterId,
    pub actions: Vec<ActionOutcome>,
}

/// Everything the executor did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Applied {
    /// One per changed cluster, in plan order.
    pub clusters: Vec<ClusterOutcome>,
    pub departed: Vec<DepartedOutcome>,
}

/// Applies every non-empty cluster plan, at most `concurrency` clusters at a time, then the
/// collection of departed clusters' tokens. Once `stop.cancel` fires no further cluster is
/// started (its outcome has `started: false`); clusters in flight finish, so a token is never
/// left created but undelivered. Once `stop.abort` fires, calls in flight are dropped and each
/// cluster cleans up.
pub async fn apply(
    plan: &Plan,
    writers: &Writers,
    concurrency: usize,
    stop: &Stop,
    progress: &Progress,
) -> Applied {
    let mut outcomes: Vec<(usize, ClusterOutcome)> =
        futures::stream::iter(plan.changes().enumerate())
            .map(|(i, cp)| async move {
                if stop.cancel.is_cancelled() {
                    return (i, not_started(cp));
                }
                let span = info_span!(
                    "cluster",
                    ocm_env = %cp.cluster.ocm_env,
                    cluster_id = %cp.cluster.id,
                    cluster_uuid = %cp.cluster.external_id,
                );
                let outcome = cluster::apply_cluster(cp, writers, &stop.abort)
                    .instrument(span)
                    .await;
                progress.advance(Stage::Apply);
                (i, outcome)
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
    outcomes.sort_by_key(|(i, _)| *i);
    let mut departed = Vec::new();
    for d in &plan.departed {
        if stop.cancel.is_cancelled() {
            break;
        }
        departed.push(collect_departed(d, writers).await);
    }
    Applied {
        clusters: outcomes.into_iter().map(|(_, o)| o).collect(),
        departed,
    }
}

fn not_started(cp: &ClusterPlan) -> ClusterOutcome {
    ClusterOutcome {
        cluster: cp.cluster.clone(),
        actions: cp
            .actions
            .iter()
            .map(|a| skipped(a, SkipReason::RunStopped))
            .collect(),
        service_log: None,
        started: false,
    }
}

fn skipped(a: &Action, reason: SkipReason) -> ActionOutcome {
    ActionOutcome::new(a.clone(), Outcome::Skipped { reason })
}

/// Deletes the tokens of a cluster that left the fleet.
async fn collect_departed(d: &DepartedPlan, w: &Writers) -> DepartedOutcome {
    let mut actions = Vec::new();
    for a in &d.actions {
        let outcome = match (a, a.tenant()) {
            (Action::CollectToken(c), Some(tenant)) => match w.dynatrace(tenant) {
                Ok(dt) => result(dt.delete_token(&c.id).await),
                Err(error) => Outcome::Failed { error },
            },
            _ => Outcome::Failed {
                error: "internal error: a departed cluster holds only collections".into(),
            },
        };
        let done = ActionOutcome::new(a.clone(), outcome);
        log_outcome(&done);
        actions.push(done);
    }
    DepartedOutcome {
        cluster: d.cluster.clone(),
        actions,
    }
}

fn result<T>(r: Result<T, crate::clients::ApiError>) -> Outcome {
    match r {
        Ok(_) => Outcome::Done,
        Err(e) => Outcome::Failed {
            error: e.to_string(),
        },
    }
}

/// One log line per performed (or failed) action, derived from its outcome.
fn log_outcome(o: &ActionOutcome) {
    let kind = o.action.kind().label();
    let what = o.action.describe();
    let tenant = o.action.tenant().map(|t| t.as_str());
    match &o.outcome {
        Outcome::Done => match &o.created {
            Some(id) => info!(action = kind, tenant, token_id = %id, "{what}: done"),
            None => info!(action = kind, tenant, "{what}: done"),
        },
        Outcome::Failed { error } => {
            error!(action = kind, tenant, error = %error, "{what}: failed")
        }
        Outcome::RolledBack => {
            info!(
                action = kind,
                tenant, "{what}: delivered by no one; deleted again"
            )
        }
        Outcome::RollbackFailed { error } => {
            error!(action = kind, tenant, error = %error, "{what}: undelivered, and deleting it failed")
        }
        Outcome::Skipped { .. } => {}
    }
}
