//! The executor: performs the plan of one cluster at a time, as soon as the run has planned
//! it. It is the only code that writes to Dynatrace or OCM, and it returns one
//! [`ActionOutcome`] per planned action, from which every view of the run is derived. Per
//! cluster ([`cluster`]): [`deliver`] creates the planned tokens (at once, filling the plan's
//! slots), updates drifted ones and writes the SyncSet/Manifest ([`mod@deliver`]); once the
//! whole plan is known and the deletion budget applied, [`finish`] deletes replaced and
//! orphaned tokens. One cluster's failure never stops the others. A token created for a
//! delivery that did not happen is deleted again; a write that may have been applied is
//! checked by reading the bundle back first, so a delivered token is never deleted. Once the
//! abort token fires (the shutdown grace ran out), calls in flight are dropped and each
//! cluster cleans up what it created within [`CLEANUP_BUDGET`].

mod cluster;
mod deliver;

use crate::action::{Action, ActionOutcome, Outcome, SkipReason};
use crate::clients::{Dynatrace, Ocm};
use crate::model::{ClusterRef, ExternalClusterId, ServiceLogOutcome, TenantId};
use crate::plan::{ClusterPlan, DepartedPlan};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

/// How long a cluster may take to clean up (read its bundle back, delete undelivered tokens)
/// once the run is aborted.
pub const CLEANUP_BUDGET: Duration = Duration::from_secs(10);

/// The clients one cluster is written through: its OCM environment's and every tenant's.
#[derive(Clone, Copy)]
pub struct Writers<'a> {
    pub ocm: &'a dyn Ocm,
    pub dynatrace: &'a BTreeMap<TenantId, Arc<dyn Dynatrace>>,
}

impl Writers<'_> {
    fn dynatrace(&self, tenant: &TenantId) -> Result<&Arc<dyn Dynatrace>, String> {
        self.dynatrace
            .get(tenant)
            .ok_or_else(|| format!("no Dynatrace client for tenant '{tenant}'"))
    }
}

/// How far [`deliver`] got with a cluster: the outcomes so far and, when it stopped, why the
/// remaining actions are skipped. [`finish`] goes on from here.
#[derive(Debug)]
pub struct Delivery {
    outcomes: Vec<Option<ActionOutcome>>,
    service_log: Option<ServiceLog>,
    halted: Option<SkipReason>,
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

pub use cluster::{deliver, finish};

/// The outcome of a changed cluster the run stopped before (nothing was written).
pub fn not_started(cp: &ClusterPlan) -> ClusterOutcome {
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

/// Collects the tokens of the clusters that left the fleet, one cluster after the other,
/// until the run is stopped.
pub async fn collect_departed(
    departed: &[DepartedPlan],
    dynatrace: &BTreeMap<TenantId, Arc<dyn Dynatrace>>,
    cancel: &CancellationToken,
) -> Vec<DepartedOutcome> {
    let mut out = Vec::new();
    for d in departed {
        if cancel.is_cancelled() {
            break;
        }
        out.push(collect_one(d, dynatrace).await);
    }
    out
}

fn skipped(a: &Action, reason: SkipReason) -> ActionOutcome {
    ActionOutcome::new(a.clone(), Outcome::Skipped { reason })
}

/// Deletes the tokens of a cluster that left the fleet.
async fn collect_one(
    d: &DepartedPlan,
    dynatrace: &BTreeMap<TenantId, Arc<dyn Dynatrace>>,
) -> DepartedOutcome {
    let mut actions = Vec::new();
    for a in &d.actions {
        let outcome = match (a, a.tenant().and_then(|t| dynatrace.get(t))) {
            (Action::CollectToken(c), Some(dt)) => result(dt.delete_token(&c.id).await),
            (Action::CollectToken(c), None) => Outcome::Failed {
                error: format!("no Dynatrace client for tenant '{}'", c.tenant),
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
