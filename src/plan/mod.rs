//! The plan: every write dtp would make, computed from the desired state and the current state
//! (bundles read from OCM, token lists read from Dynatrace). Pure: no I/O, no clock (the run's
//! time is part of the current state), deterministic order, so a dry-run shows exactly what a
//! real run does. A token dtp has yet to create is referred to by a slot that the executor
//! fills; the plan itself never holds a new secret. The writes are [`Action`]s of the one
//! action vocabulary ([`crate::action`]); how one cluster is planned is in [`cluster`].

mod cluster;
mod collect;
#[cfg(test)]
mod tests;

use crate::action::{Action, BundleWrite, TokenCreate, TokenDelete, TokenUpdate};
use crate::desired::{DesiredState, SkippedCluster};
use crate::model::bundle::{DesiredSecret, Resources};
use crate::model::{
    ClusterId, ClusterRef, DtToken, ExternalClusterId, OcmEnvName, TenantId, TokenId,
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The rules of collecting orphaned tokens and of deleting at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// An unreferenced token younger than this is kept: it may belong to a concurrent run
    /// that has not delivered it yet. Zero: one writer, collect at once.
    pub orphan_grace: chrono::Duration,
    /// At most this many existing tokens are deleted in one run (replaced and orphaned
    /// tokens; rolling back a run's own new tokens does not count).
    pub max_deletions: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            orphan_grace: chrono::Duration::minutes(15),
            max_deletions: 500,
        }
    }
}

pub use crate::model::bundle::value_belongs_to;

/// The tokens of one tenant, by id.
#[derive(Clone, Debug, Default)]
pub struct TenantTokens {
    pub by_id: BTreeMap<TokenId, DtToken>,
}

impl TenantTokens {
    pub fn new(tokens: Vec<DtToken>) -> Self {
        Self {
            by_id: tokens.into_iter().map(|t| (t.id.clone(), t)).collect(),
        }
    }
}

/// Each served cluster's current `ext-dynatrace-tokens-dtp` resources (`None`: the object does
/// not exist), or the error reading it gave.
pub type Bundles = BTreeMap<(OcmEnvName, ClusterId), Result<Option<Resources>, String>>;

/// What dtp read before planning. A read that failed is kept as its error message, so the
/// plan can fail exactly the clusters that depend on it.
#[derive(Clone, Debug)]
pub struct CurrentState {
    pub now: DateTime<Utc>,
    pub tenants: BTreeMap<TenantId, Result<TenantTokens, String>>,
    pub bundles: Bundles,
    /// Clusters that left the fleet, as OCM confirms (only with `--collect-departed`): their
    /// tokens are collected.
    pub departed: BTreeSet<ExternalClusterId>,
}

/// A key of a planned Secret, for display: which token it will hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeySummary {
    pub key: String,
    /// The existing token id, or `None` when a new token fills it.
    pub token_id: Option<TokenId>,
    pub token_name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SecretSummary {
    pub namespace: String,
    pub name: String,
    pub tenant: TenantId,
    pub keys: Vec<KeySummary>,
}

/// Everything dtp does to one cluster.
#[derive(Clone, Debug, Serialize)]
pub struct ClusterPlan {
    pub cluster: ClusterRef,
    /// The writes, in the order the executor performs them: token creates, token updates,
    /// the bundle write, then deletions of replaced tokens.
    pub actions: Vec<Action>,
    pub secrets: Vec<SecretSummary>,
    /// The Secrets to write, referring to existing tokens (with their values) or to slots.
    #[serde(skip)]
    pub desired: Vec<DesiredSecret>,
    /// `namespace/name` of the Secrets carried over unchanged (a binding label cannot be
    /// resolved), and the resources themselves.
    pub carried_over: Vec<String>,
    #[serde(skip)]
    pub kept: Resources,
}

impl ClusterPlan {
    pub fn is_noop(&self) -> bool {
        self.actions.is_empty()
    }
    pub fn action_count(&self) -> usize {
        self.actions.len()
    }
    /// The planned token creates (each fills one slot).
    pub fn creates(&self) -> impl Iterator<Item = &TokenCreate> {
        self.actions.iter().filter_map(|a| match a {
            Action::CreateToken(t) => Some(t),
            _ => None,
        })
    }
    /// The planned token updates.
    pub fn updates(&self) -> impl Iterator<Item = &TokenUpdate> {
        self.actions.iter().filter_map(|a| match a {
            Action::UpdateToken(u) => Some(u),
            _ => None,
        })
    }
    /// The planned bundle write, if any.
    pub fn bundle(&self) -> Option<&BundleWrite> {
        self.actions.iter().find_map(|a| match a {
            Action::CreateBundle(b) | Action::PatchBundle(b) => Some(b),
            _ => None,
        })
    }
    /// The planned token deletions.
    pub fn deletes(&self) -> impl Iterator<Item = &TokenDelete> {
        self.actions.iter().filter_map(|a| match a {
            Action::DeleteToken(d) => Some(d),
            _ => None,
        })
    }
}

/// A cluster dtp wanted to serve but cannot this run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClusterFailure {
    pub cluster: ClusterRef,
    pub error: String,
}

/// The collection of a departed cluster's tokens (no bundle to write).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DepartedPlan {
    pub cluster: ExternalClusterId,
    pub actions: Vec<Action>,
}

/// A deletion the plan wanted but the deletion budget does not allow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Withheld {
    /// The cluster, as errors name it.
    pub cluster: String,
    pub action: Action,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Plan {
    pub clusters: Vec<ClusterPlan>,
    pub failed: Vec<ClusterFailure>,
    pub skipped: Vec<SkippedCluster>,
    pub departed: Vec<DepartedPlan>,
    pub withheld: Vec<Withheld>,
    /// The budget the withheld deletions ran into.
    pub max_deletions: usize,
}

impl Plan {
    /// Clusters with at least one write.
    pub fn changes(&self) -> impl Iterator<Item = &ClusterPlan> {
        self.clusters.iter().filter(|c| !c.is_noop())
    }
    pub fn is_empty(&self) -> bool {
        self.changes().next().is_none() && self.departed.is_empty()
    }
    pub fn action_count(&self) -> usize {
        self.clusters
            .iter()
            .map(ClusterPlan::action_count)
            .sum::<usize>()
            + self.departed.iter().map(|d| d.actions.len()).sum::<usize>()
    }
    /// Every planned action, in plan order: those of served clusters (with the cluster), then
    /// those of departed clusters.
    pub fn actions(&self) -> impl Iterator<Item = (Option<&ClusterRef>, &Action)> {
        let served = self
            .clusters
            .iter()
            .flat_map(|cp| cp.actions.iter().map(move |a| (Some(&cp.cluster), a)));
        let departed = self
            .departed
            .iter()
            .flat_map(|d| d.actions.iter().map(|a| (None, a)));
        served.chain(departed)
    }
}

/// Computes the plan.
pub fn plan(desired: &DesiredState, current: &CurrentState, policy: &Policy) -> Plan {
    let mut out = Plan {
        skipped: desired.skipped.clone(),
        max_deletions: policy.max_deletions,
        ..Plan::default()
    };
    for dc in &desired.clusters {
        match cluster::plan_cluster(dc, current, policy) {
            Ok(cp) => out.clusters.push(cp),
            Err(error) => out.failed.push(ClusterFailure {
                cluster: dc.cluster.clone(),
                error,
            }),
        }
    }
    out.clusters.sort_by(|a, b| a.cluster.cmp(&b.cluster));
    out.failed.sort_by(|a, b| a.cluster.cmp(&b.cluster));
    out.skipped.sort_by(|a, b| a.cluster.cmp(&b.cluster));
    out.departed = collect::departed(current, policy);
    collect::enforce_budget(&mut out, policy.max_deletions);
    out
}
