//! The plan: every write dtp would make, computed from the desired state and the current state
//! (bundles read from OCM, token lists read from Dynatrace). Pure: no I/O, no clock (the run's
//! time is part of the current state), deterministic order, so a dry-run shows exactly what a
//! real run does. A token dtp has yet to create is referred to by a slot that the executor
//! fills; the plan itself never holds a new secret. The writes are [`Action`]s of the one
//! action vocabulary ([`crate::action`]); how one cluster is planned is in [`cluster`].

mod cluster;
mod collect;

pub use cluster::plan_cluster;
pub use collect::departed;
#[cfg(test)]
mod tests;

use crate::action::{Action, BundleWrite, TokenCreate, TokenDelete, TokenUpdate};
use crate::desired::{DesiredState, SkippedCluster};
use crate::model::bundle::{DesiredSecret, Resources};
use crate::model::naming;
use crate::model::{
    ClusterId, ClusterRef, DtToken, ExternalClusterId, OcmEnvName, TenantId, TokenId,
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

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

/// The tokens of one tenant, sorted by id, with an index by the cluster each name is given
/// for (so that finding a cluster's tokens does not scan the tenant).
#[derive(Clone, Debug, Default)]
pub struct TenantTokens {
    tokens: Vec<DtToken>,
    by_cluster: HashMap<Box<str>, Vec<u32>>,
}

impl TenantTokens {
    /// The listing; of two tokens with the same id, the later one counts.
    pub fn new(mut tokens: Vec<DtToken>) -> Self {
        tokens.reverse();
        tokens.sort_by(|a, b| a.id.cmp(&b.id));
        tokens.dedup_by(|a, b| a.id == b.id);
        tokens.shrink_to_fit();
        let mut by_cluster: HashMap<Box<str>, Vec<u32>> = HashMap::new();
        for (i, t) in tokens.iter().enumerate() {
            let Ok(i) = u32::try_from(i) else { break };
            for c in naming::clusters_named(&t.name) {
                by_cluster.entry(c.into()).or_default().push(i);
            }
        }
        Self { tokens, by_cluster }
    }

    pub fn get(&self, id: &TokenId) -> Option<&DtToken> {
        self.tokens
            .binary_search_by(|t| t.id.cmp(id))
            .ok()
            .map(|i| &self.tokens[i])
    }

    /// Every token, in id order.
    pub fn iter(&self) -> impl Iterator<Item = &DtToken> {
        self.tokens.iter()
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The tokens named for `cluster` (`dtp_<name>_<cluster>_<hash>`), in id order.
    pub fn named_for<'a>(
        &'a self,
        cluster: &ExternalClusterId,
    ) -> impl Iterator<Item = &'a DtToken> + 'a {
        self.by_cluster
            .get(cluster.as_str())
            .into_iter()
            .flatten()
            .map(|i| &self.tokens[*i as usize])
    }
}

/// Each served cluster's current `ext-dynatrace-tokens-dtp` resources (`None`: the object does
/// not exist), or the error reading it gave.
pub type Bundles = BTreeMap<(OcmEnvName, ClusterId), Result<Option<Resources>, String>>;

/// Every tenant's token list, or why it could not be read.
pub type Tenants = BTreeMap<TenantId, Result<TenantTokens, String>>;

/// What dtp read before planning (the whole fleet at once; a run plans each cluster as soon
/// as its bundle is read, from a [`ClusterState`]). A read that failed is kept as its error
/// message, so the plan can fail exactly the clusters that depend on it.
#[derive(Clone, Debug)]
pub struct CurrentState {
    pub now: DateTime<Utc>,
    pub tenants: Tenants,
    pub bundles: Bundles,
    /// Clusters that left the fleet, as OCM confirms (only with `--collect-departed`): their
    /// tokens are collected.
    pub departed: BTreeSet<ExternalClusterId>,
}

impl CurrentState {
    /// What planning `c` reads.
    pub fn cluster(&self, c: &ClusterRef) -> ClusterState<'_> {
        ClusterState {
            now: self.now,
            tenants: &self.tenants,
            bundle: self
                .bundles
                .get(&(c.ocm_env.clone(), c.id.clone()))
                .map(|r| r.as_ref().map(Option::as_ref).map_err(String::as_str)),
        }
    }
}

/// What planning one cluster reads: the run's time, every tenant's token list (the cluster's
/// orphans may be in any), and the cluster's bundle as read (`None`: not read; `Some(Err)`:
/// reading failed; `Some(Ok(None))`: it does not exist).
#[derive(Clone, Copy, Debug)]
pub struct ClusterState<'a> {
    pub now: DateTime<Utc>,
    pub tenants: &'a Tenants,
    pub bundle: Option<Result<Option<&'a Resources>, &'a str>>,
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

/// The existing tokens a run's plans keep delivering, per (OCM environment, tenant): the
/// `dtp_tokens_managed` metric, gathered as clusters are planned.
pub type KeptTokens = BTreeMap<(OcmEnvName, TenantId), BTreeSet<TokenId>>;

impl ClusterPlan {
    /// Adds the existing tokens this plan's Secrets hold to `kept`.
    pub fn keep_into(&self, kept: &mut KeptTokens) {
        for s in &self.secrets {
            let ids = kept
                .entry((self.cluster.ocm_env.clone(), s.tenant.clone()))
                .or_default();
            ids.extend(s.keys.iter().filter_map(|k| k.token_id.clone()));
        }
    }

    /// Drops what only the delivery needs (the Secrets to write, with their token values, and
    /// the carried-over resources), and for a cluster with nothing to do also what only a
    /// change is shown with (the Secret summaries): what is left describes the plan.
    pub fn compact(&mut self) {
        self.desired = Vec::new();
        self.kept = Resources::default();
        if self.is_noop() {
            self.secrets = Vec::new();
            self.carried_over = Vec::new();
        }
    }

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

/// Computes the whole plan at once (for a [`CurrentState`] read beforehand).
pub fn plan(desired: &DesiredState, current: &CurrentState, policy: &Policy) -> Plan {
    let mut clusters = Vec::new();
    let mut failed = Vec::new();
    for dc in &desired.clusters {
        match cluster::plan_cluster(dc, &current.cluster(&dc.cluster), policy) {
            Ok(cp) => clusters.push(cp),
            Err(error) => failed.push(ClusterFailure {
                cluster: dc.cluster.clone(),
                error,
            }),
        }
    }
    let departed = collect::departed(&current.tenants, &current.departed, current.now, policy);
    assemble(clusters, failed, desired.skipped.clone(), departed, policy)
}

/// The plan of a run from its parts, planned one by one: in a deterministic order (clusters
/// by environment and id, departed clusters by uuid), with the deletion budget applied over
/// the whole (the same deletions are withheld however the parts were found).
pub fn assemble(
    mut clusters: Vec<ClusterPlan>,
    mut failed: Vec<ClusterFailure>,
    mut skipped: Vec<SkippedCluster>,
    departed: Vec<DepartedPlan>,
    policy: &Policy,
) -> Plan {
    clusters.sort_by(|a, b| a.cluster.cmp(&b.cluster));
    failed.sort_by(|a, b| a.cluster.cmp(&b.cluster));
    skipped.sort_by(|a, b| a.cluster.cmp(&b.cluster));
    let mut out = Plan {
        clusters,
        failed,
        skipped,
        departed,
        withheld: Vec::new(),
        max_deletions: policy.max_deletions,
    };
    collect::enforce_budget(&mut out, policy.max_deletions);
    out
}
