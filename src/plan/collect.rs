//! Collecting orphaned tokens, and the deletion budget. An orphan is a token named exactly for
//! a cluster (`dtp_<name>_<cluster uuid>_<hash>`), in any tenant dtp lists, that the cluster's
//! bundle does not reference once written, and older than the grace period (a concurrent run's
//! not-yet-delivered tokens are young). The tokens of a departed cluster (OCM confirms it is
//! gone) are collected the same way. Every deletion of an existing token counts against the
//! per-run budget; past it, the remaining deletions are withheld and reported.

use super::{ClusterState, DepartedPlan, Plan, Policy, Tenants, Withheld};
use crate::action::{Action, CollectReason, TokenCollect};
use crate::model::naming::{cluster_of, named_for_cluster};
use crate::model::{ClusterRef, DtToken, ExternalClusterId, TenantId, TokenId};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet};

/// Whether a token is old enough to be collected: created more than the grace period ago.
/// A token whose creation time is unknown is collected only when the grace period is zero.
fn old_enough(t: &DtToken, now: DateTime<Utc>, policy: &Policy) -> bool {
    if policy.orphan_grace <= chrono::Duration::zero() {
        return true;
    }
    match (t.created, now.checked_sub_signed(policy.orphan_grace)) {
        (Some(created), Some(cutoff)) => created <= cutoff,
        _ => false,
    }
}

/// The orphans of a served cluster: named for it, in any listed tenant, neither referenced by
/// its bundle once written nor already deleted as replaced, and old enough.
pub(super) fn orphans(
    c: &ClusterRef,
    referenced: &BTreeSet<TokenId>,
    retired: &BTreeSet<TokenId>,
    state: &ClusterState<'_>,
    policy: &Policy,
) -> Vec<TokenCollect> {
    let mut out = Vec::new();
    for (tenant, tokens) in state.tenants {
        let Ok(tokens) = tokens else { continue };
        for t in tokens.named_for(&c.external_id) {
            if named_for_cluster(&t.name, &c.external_id)
                && !referenced.contains(&t.id)
                && !retired.contains(&t.id)
                && old_enough(t, state.now, policy)
            {
                out.push(collect(
                    tenant,
                    t,
                    &c.external_id,
                    CollectReason::Unreferenced,
                ));
            }
        }
    }
    out
}

fn collect(
    tenant: &TenantId,
    t: &DtToken,
    cluster: &ExternalClusterId,
    reason: CollectReason,
) -> TokenCollect {
    TokenCollect {
        tenant: tenant.clone(),
        id: t.id.clone(),
        name: t.name.clone(),
        cluster: cluster.clone(),
        reason,
        created: t.created,
    }
}

/// The collection of the departed clusters' tokens, per cluster in uuid order.
pub fn departed(
    tenants: &Tenants,
    departed: &BTreeSet<ExternalClusterId>,
    now: DateTime<Utc>,
    policy: &Policy,
) -> Vec<DepartedPlan> {
    if departed.is_empty() {
        return Vec::new();
    }
    let mut by_cluster: BTreeMap<ExternalClusterId, Vec<Action>> = BTreeMap::new();
    for (tenant, tokens) in tenants {
        let Ok(tokens) = tokens else { continue };
        for t in tokens.iter() {
            let Some(cluster) = cluster_of(&t.name) else {
                continue;
            };
            if departed.contains(&cluster) && old_enough(t, now, policy) {
                let action =
                    Action::CollectToken(collect(tenant, t, &cluster, CollectReason::Departed));
                by_cluster.entry(cluster).or_default().push(action);
            }
        }
    }
    by_cluster
        .into_iter()
        .map(|(cluster, actions)| DepartedPlan { cluster, actions })
        .collect()
}

/// Keeps at most `max` deletions of existing tokens, in plan order (served clusters, then
/// departed ones); the rest are withheld.
pub(super) fn enforce_budget(plan: &mut Plan, max: usize) {
    let mut left = max;
    let mut withheld = Vec::new();
    for cp in &mut plan.clusters {
        let name = cp.cluster.to_string();
        cp.actions
            .retain(|a| keep_within(a, &mut left, &name, &mut withheld));
    }
    for d in &mut plan.departed {
        let name = d.cluster.to_string();
        d.actions
            .retain(|a| keep_within(a, &mut left, &name, &mut withheld));
    }
    plan.departed.retain(|d| !d.actions.is_empty());
    plan.withheld = withheld;
}

fn keep_within(a: &Action, left: &mut usize, cluster: &str, withheld: &mut Vec<Withheld>) -> bool {
    if !a.deletes() {
        return true;
    }
    if *left > 0 {
        *left -= 1;
        return true;
    }
    withheld.push(Withheld {
        cluster: cluster.to_owned(),
        action: a.clone(),
    });
    false
}
