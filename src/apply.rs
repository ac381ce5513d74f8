//! The executor: performs a [`Plan`], cluster by cluster with bounded concurrency. It is the
//! only code that writes to Dynatrace or OCM. Per cluster: create the planned tokens (filling
//! the plan's slots), update drifted ones, write the SyncSet/Manifest, then delete the tokens
//! that were replaced. One cluster's failure never stops the others. When a token was created
//! but its delivery failed, the token is deleted again (no leaked tokens), and an OCM write
//! failure is reported to the cluster owner as a service log *and* fails the cluster.

use crate::clients::{Dynatrace, Ocm, ServiceLogOutcome};
use crate::desired::ClusterRef;
use crate::model::bundle::{Resources, TokenValue, render_secret};
use crate::model::{BUNDLE_ID, OcmEnvName, TenantId, TokenId};
use crate::plan::{BundleOp, ClusterPlan, Plan};
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

/// What happened to one cluster.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ClusterOutcome {
    pub cluster: Option<ClusterRef>,
    pub tokens_created: usize,
    pub tokens_updated: usize,
    pub tokens_deleted: usize,
    /// Tokens created this run and deleted again because their delivery failed.
    pub tokens_compensated: usize,
    pub bundle: Option<BundleOp>,
    pub service_log: Option<String>,
    pub errors: Vec<String>,
    /// False when the run was cancelled before this cluster started (nothing was written).
    pub started: bool,
}

impl ClusterOutcome {
    pub fn failed(&self) -> bool {
        !self.errors.is_empty()
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
                    let skipped = ClusterOutcome {
                        cluster: Some(cp.cluster.clone()),
                        ..Default::default()
                    };
                    return (i, skipped);
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

async fn apply_cluster(cp: &ClusterPlan, w: &Writers) -> ClusterOutcome {
    let c = &cp.cluster;
    let mut out = ClusterOutcome {
        cluster: Some(c.clone()),
        started: true,
        ..Default::default()
    };
    let Some(ocm) = w.ocm.get(&c.ocm_env) else {
        out.errors
            .push(format!("no OCM client for environment '{}'", c.ocm_env));
        return out;
    };

    // 1. Create tokens, filling the slots.
    let mut created: Vec<(TenantId, TokenId, String)> = Vec::new();
    let mut slots: Vec<Option<(String, SecretString)>> = vec![None; cp.creates.len()];
    for t in &cp.creates {
        let Some(dt) = w.dynatrace.get(&t.tenant) else {
            out.errors
                .push(format!("no Dynatrace client for tenant '{}'", t.tenant));
            compensate(&created, w, &mut out).await;
            return out;
        };
        match dt.create_token(&t.name, &t.scopes).await {
            Ok(new) => {
                info!(action = "create_token", tenant = %t.tenant, token_id = %new.id, token_name = %t.name, reason = t.reason.describe(), "created token");
                out.tokens_created += 1;
                created.push((t.tenant.clone(), new.id.clone(), t.name.clone()));
                slots[t.slot] = Some((new.id.0, new.token));
            }
            Err(e) => {
                error!(action = "create_token", tenant = %t.tenant, token_name = %t.name, error = %e, "token creation failed");
                out.errors.push(e.to_string());
                compensate(&created, w, &mut out).await;
                return out;
            }
        }
    }

    // 2. Sync drifted names and scopes (independent of delivery).
    for u in &cp.updates {
        let Some(dt) = w.dynatrace.get(&u.tenant) else {
            out.errors
                .push(format!("no Dynatrace client for tenant '{}'", u.tenant));
            continue;
        };
        match dt.update_token(&u.id, &u.name, &u.scopes).await {
            Ok(()) => {
                info!(action = "update_token", tenant = %u.tenant, token_id = %u.id, from = %u.current_name, to = %u.name, "updated token name and scopes");
                out.tokens_updated += 1;
            }
            Err(e) => {
                error!(action = "update_token", tenant = %u.tenant, token_id = %u.id, error = %e, "token update failed");
                out.errors.push(e.to_string());
            }
        }
    }

    // 3. Deliver.
    if let Some(bw) = &cp.bundle {
        let resolve = |v: &TokenValue| match v {
            TokenValue::Existing { id, token } => Some((id.clone(), token.clone())),
            TokenValue::Slot(i) => slots.get(*i).cloned().flatten(),
        };
        let rendered: Option<Vec<_>> = cp
            .desired
            .iter()
            .map(|s| render_secret(s, &resolve))
            .collect();
        let Some(rendered) = rendered else {
            out.errors
                .push("internal error: a planned token slot was not filled".into());
            compensate(&created, w, &mut out).await;
            return out;
        };
        let resources = Resources(rendered);
        let result = match bw.op {
            BundleOp::Create => ocm.create_bundle(&c.id, bw.kind, &resources).await,
            BundleOp::Patch => ocm.patch_bundle(&c.id, bw.kind, &resources).await,
        };
        let verb = match bw.op {
            BundleOp::Create => "create",
            BundleOp::Patch => "patch",
        };
        match result {
            Ok(()) => {
                info!(action = %format!("{verb}_{}", bw.kind.collection().trim_end_matches('s')), secrets = cp.desired.len(), "{verb}d {} {BUNDLE_ID}", bw.kind);
                out.bundle = Some(bw.op);
            }
            Err(e) => {
                error!(action = %format!("{verb}_{}", bw.kind.collection().trim_end_matches('s')), error = %e, "delivery failed");
                // The Python integration's service-log text (B36), stable across runs so the
                // one-day dedup works.
                let description = format!("\n DTP can't {verb} {BUNDLE_ID} due to {e}");
                match ocm.post_service_log(&c.external_id, &description).await {
                    Ok(ServiceLogOutcome::Posted) => out.service_log = Some("posted".into()),
                    Ok(ServiceLogOutcome::Deduplicated) => {
                        out.service_log = Some("already posted in the last day".into())
                    }
                    Err(sl) => {
                        warn!(error = %sl, "could not post the service log");
                        out.errors.push(format!("service log: {sl}"));
                    }
                }
                out.errors.push(e.to_string());
                compensate(&created, w, &mut out).await;
                return out;
            }
        }
    }

    // 4. Delete the tokens the new ones replaced.
    for r in &cp.retires {
        let Some(dt) = w.dynatrace.get(&r.tenant) else {
            continue;
        };
        match dt.delete_token(&r.id).await {
            Ok(()) => {
                info!(action = "delete_token", tenant = %r.tenant, token_id = %r.id, token_name = %r.name, reason = r.reason.describe(), "deleted replaced token");
                out.tokens_deleted += 1;
            }
            Err(e) => {
                error!(action = "delete_token", tenant = %r.tenant, token_id = %r.id, error = %e, "could not delete a replaced token");
                out.errors.push(format!(
                    "replaced token {} ('{}') was not deleted: {e}",
                    r.id, r.name
                ));
            }
        }
    }
    out
}

/// Deletes the tokens created for a delivery that did not happen.
async fn compensate(
    created: &[(TenantId, TokenId, String)],
    w: &Writers,
    out: &mut ClusterOutcome,
) {
    for (tenant, id, name) in created {
        let Some(dt) = w.dynatrace.get(tenant) else {
            continue;
        };
        match dt.delete_token(id).await {
            Ok(()) => {
                warn!(action = "delete_token", tenant = %tenant, token_id = %id, token_name = %name, "deleted a token whose delivery failed");
                out.tokens_compensated += 1;
            }
            Err(e) => {
                error!(action = "delete_token", tenant = %tenant, token_id = %id, error = %e, "a token whose delivery failed could not be deleted");
                out.errors.push(format!(
                    "token {id} ('{name}') in tenant '{tenant}' was created but not delivered, and deleting it failed: {e}"
                ));
            }
        }
    }
}
