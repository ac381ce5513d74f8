//! The executor: performs a [`Plan`], cluster by cluster with bounded concurrency. It is the
//! only code that writes to Dynatrace or OCM, and it returns one [`ActionOutcome`] per planned
//! action, from which every view of the run is derived. Per cluster, the actions run in plan
//! order: create the planned tokens (filling the plan's slots), update drifted ones, write the
//! SyncSet/Manifest, then delete the tokens that were replaced. One cluster's failure never
//! stops the others. When a token was created but its delivery failed, the token is deleted
//! again (no leaked tokens), and an OCM write failure is reported to the cluster owner as a
//! service log *and* fails the cluster.

use crate::action::{Action, ActionOutcome, BundleWrite, Outcome, SkipReason, TokenCreate};
use crate::clients::{Dynatrace, Ocm};
use crate::model::bundle::{Resources, TokenValue, render_secret};
use crate::model::{BUNDLE_ID, ClusterRef, OcmEnvName, ServiceLogOutcome, TenantId};
use crate::plan::{ClusterPlan, Plan};
use futures::StreamExt;
use secrecy::SecretString;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, error, info, info_span, warn};

/// The clients the executor writes through.
#[derive(Clone, Default)]
pub struct Writers {
    pub ocm: BTreeMap<OcmEnvName, Arc<dyn Ocm>>,
    pub dynatrace: BTreeMap<TenantId, Arc<dyn Dynatrace>>,
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

/// Applies every non-empty cluster plan, at most `concurrency` clusters at a time. Returns one
/// outcome per changed cluster, in plan order. Once `cancel` fires no further cluster is
/// started (their outcome has `started: false`); clusters in flight finish, so a token is
/// never left created but undelivered.
pub async fn apply(
    plan: &Plan,
    writers: &Writers,
    concurrency: usize,
    cancel: &CancellationToken,
) -> Vec<ClusterOutcome> {
    let mut outcomes: Vec<(usize, ClusterOutcome)> =
        futures::stream::iter(plan.changes().enumerate())
            .map(|(i, cp)| async move {
                if cancel.is_cancelled() {
                    return (i, not_started(cp));
                }
                let span = info_span!(
                    "cluster",
                    ocm_env = %cp.cluster.ocm_env,
                    cluster_id = %cp.cluster.id,
                    cluster_uuid = %cp.cluster.external_id,
                );
                (i, apply_cluster(cp, writers).instrument(span).await)
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
    outcomes.sort_by_key(|(i, _)| *i);
    outcomes.into_iter().map(|(_, o)| o).collect()
}

fn not_started(cp: &ClusterPlan) -> ClusterOutcome {
    ClusterOutcome {
        cluster: cp.cluster.clone(),
        actions: cp
            .actions
            .iter()
            .map(|a| {
                ActionOutcome::new(
                    a.clone(),
                    Outcome::Skipped {
                        reason: SkipReason::RunStopped,
                    },
                )
            })
            .collect(),
        service_log: None,
        started: false,
    }
}

async fn apply_cluster(cp: &ClusterPlan, w: &Writers) -> ClusterOutcome {
    let mut run = ClusterRun::new(cp);
    let Some(ocm) = w.ocm.get(&cp.cluster.ocm_env) else {
        let error = format!("no OCM client for environment '{}'", cp.cluster.ocm_env);
        run.set(0, Outcome::Failed { error });
        return run.finish();
    };
    for (i, action) in cp.actions.iter().enumerate() {
        let keep_going = match action {
            Action::CreateToken(t) => run.create(i, t, w).await,
            Action::UpdateToken(u) => {
                let outcome = match client(w, &u.tenant) {
                    Ok(dt) => result(dt.update_token(&u.id, &u.name, &u.scopes).await),
                    Err(error) => Outcome::Failed { error },
                };
                run.set(i, outcome);
                true
            }
            Action::CreateBundle(b) | Action::PatchBundle(b) => {
                run.deliver(i, b, ocm.as_ref()).await
            }
            Action::DeleteToken(d) => {
                let outcome = match client(w, &d.tenant) {
                    Ok(dt) => result(dt.delete_token(&d.id).await),
                    Err(error) => Outcome::Failed { error },
                };
                run.set(i, outcome);
                true
            }
        };
        if !keep_going {
            run.roll_back(w).await;
            break;
        }
    }
    run.finish()
}

fn client<'w>(w: &'w Writers, tenant: &TenantId) -> Result<&'w Arc<dyn Dynatrace>, String> {
    w.dynatrace
        .get(tenant)
        .ok_or_else(|| format!("no Dynatrace client for tenant '{tenant}'"))
}

fn result<T>(r: Result<T, crate::clients::ApiError>) -> Outcome {
    match r {
        Ok(_) => Outcome::Done,
        Err(e) => Outcome::Failed {
            error: e.to_string(),
        },
    }
}

/// One cluster being applied: the outcome of each action so far, the filled token slots.
struct ClusterRun<'p> {
    cp: &'p ClusterPlan,
    outcomes: Vec<Option<ActionOutcome>>,
    slots: Vec<Option<(String, SecretString)>>,
    service_log: Option<ServiceLog>,
}

impl<'p> ClusterRun<'p> {
    fn new(cp: &'p ClusterPlan) -> Self {
        Self {
            cp,
            outcomes: vec![None; cp.actions.len()],
            slots: vec![None; cp.creates().count()],
            service_log: None,
        }
    }

    fn set(&mut self, i: usize, outcome: Outcome) {
        let Some(action) = self.cp.actions.get(i) else {
            return;
        };
        let done = ActionOutcome::new(action.clone(), outcome);
        log_outcome(&done);
        self.outcomes[i] = Some(done);
    }

    /// Creates one token and fills its slot; `false` when it failed (the cluster stops).
    async fn create(&mut self, i: usize, t: &TokenCreate, w: &Writers) -> bool {
        let created = match client(w, &t.tenant) {
            Ok(dt) => dt
                .create_token(&t.name, &t.scopes)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        match created {
            Ok(new) => {
                self.slots[t.slot] = Some((new.id.0.clone(), new.token));
                let mut done = ActionOutcome::new(self.cp.actions[i].clone(), Outcome::Done);
                done.created = Some(new.id);
                log_outcome(&done);
                self.outcomes[i] = Some(done);
                true
            }
            Err(error) => {
                self.set(i, Outcome::Failed { error });
                false
            }
        }
    }

    /// Renders the Secrets with every slot filled and writes the bundle; on failure posts the
    /// service log. `false` when the delivery failed (the cluster stops).
    async fn deliver(&mut self, i: usize, b: &BundleWrite, ocm: &dyn Ocm) -> bool {
        let slots = &self.slots;
        let resolve = |v: &TokenValue| match v {
            TokenValue::Existing { id, token } => Some((id.clone(), token.clone())),
            TokenValue::Slot(s) => slots.get(*s).cloned().flatten(),
        };
        let rendered: Option<Vec<_>> = self
            .cp
            .desired
            .iter()
            .map(|s| render_secret(s, &resolve))
            .collect();
        let Some(rendered) = rendered else {
            let error = "internal error: a planned token slot was not filled".to_owned();
            self.set(i, Outcome::Failed { error });
            return false;
        };
        let resources = Resources(rendered);
        let c = &self.cp.cluster;
        let (verb, written) = match &self.cp.actions[i] {
            Action::CreateBundle(_) => {
                ("create", ocm.create_bundle(&c.id, b.kind, &resources).await)
            }
            _ => ("patch", ocm.patch_bundle(&c.id, b.kind, &resources).await),
        };
        match written {
            Ok(()) => {
                self.set(i, Outcome::Done);
                true
            }
            Err(e) => {
                // The Python integration's service-log text (B36), stable across runs so the
                // one-day dedup works.
                let description = format!("\n DTP can't {verb} {BUNDLE_ID} due to {e}");
                self.service_log = Some(
                    match ocm.post_service_log(&c.external_id, &description).await {
                        Ok(sent) => ServiceLog::Sent(sent),
                        Err(sl) => {
                            warn!(error = %sl, "could not post the service log");
                            ServiceLog::Failed(sl.to_string())
                        }
                    },
                );
                self.set(
                    i,
                    Outcome::Failed {
                        error: e.to_string(),
                    },
                );
                false
            }
        }
    }

    /// Deletes the tokens created for a delivery that did not happen.
    async fn roll_back(&mut self, w: &Writers) {
        for slot in self.outcomes.iter_mut().flatten() {
            let (Action::CreateToken(t), Outcome::Done, Some(id)) =
                (&slot.action, &slot.outcome, &slot.created)
            else {
                continue;
            };
            let deleted = match client(w, &t.tenant) {
                Ok(dt) => dt.delete_token(id).await.map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            slot.outcome = match deleted {
                Ok(()) => {
                    warn!(action = "delete_token", tenant = %t.tenant, token_id = %id, token_name = %t.name, "deleted a token whose delivery failed");
                    Outcome::RolledBack
                }
                Err(error) => {
                    error!(action = "delete_token", tenant = %t.tenant, token_id = %id, error = %error, "a token whose delivery failed could not be deleted");
                    Outcome::RollbackFailed { error }
                }
            };
        }
    }

    fn finish(self) -> ClusterOutcome {
        let actions = self
            .outcomes
            .into_iter()
            .zip(&self.cp.actions)
            .map(|(o, a)| {
                o.unwrap_or_else(|| {
                    ActionOutcome::new(
                        a.clone(),
                        Outcome::Skipped {
                            reason: SkipReason::EarlierFailure,
                        },
                    )
                })
            })
            .collect();
        ClusterOutcome {
            cluster: self.cp.cluster.clone(),
            actions,
            service_log: self.service_log,
            started: true,
        }
    }
}

/// One log line per performed (or failed) action, derived from its outcome.
fn log_outcome(o: &ActionOutcome) {
    let kind = o.action.kind().label();
    let what = o.action.describe();
    match &o.outcome {
        Outcome::Done => match &o.created {
            Some(id) => {
                info!(action = kind, tenant = ?o.action.tenant().map(|t| t.as_str()), token_id = %id, "{what}: done")
            }
            None => {
                info!(action = kind, tenant = ?o.action.tenant().map(|t| t.as_str()), "{what}: done")
            }
        },
        Outcome::Failed { error } => {
            error!(action = kind, tenant = ?o.action.tenant().map(|t| t.as_str()), error = %error, "{what}: failed")
        }
        Outcome::Skipped { .. } | Outcome::RolledBack | Outcome::RollbackFailed { .. } => {}
    }
}
