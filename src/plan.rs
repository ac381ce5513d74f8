//! The plan: every write dtp would make, computed from the desired state and the current state
//! (bundles read from OCM, token lists read from Dynatrace). Pure: no I/O, no clock (the run's
//! time is part of the current state), deterministic order, so a dry-run shows exactly what a
//! real run does. A token dtp has yet to create is referred to by a slot that the executor
//! fills; the plan itself never holds a new secret.

use crate::clients::DtToken;
use crate::desired::{ClusterRef, DesiredCluster, DesiredState, SkippedCluster};
use crate::model::bundle::{
    self, BundleKind, CurrentBundle, DesiredSecret, Resources, TokenValue, render_secret,
};
use crate::model::{ClusterId, OcmEnvName, TenantId, TokenId};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use std::collections::BTreeMap;

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

/// What dtp read before planning. A read that failed is kept as its error message, so the
/// plan can fail exactly the clusters that depend on it.
#[derive(Clone, Debug)]
pub struct CurrentState {
    pub now: DateTime<Utc>,
    pub tenants: BTreeMap<TenantId, Result<TenantTokens, String>>,
    /// The cluster's `ext-dynatrace-tokens-dtp` resources (`None`: the object does not exist).
    pub bundles: BTreeMap<(OcmEnvName, ClusterId), Result<Option<Resources>, String>>,
}

/// Why a token is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CreateReason {
    /// The Secret has no token for this key yet.
    Missing,
    /// The Secret names a token id that Dynatrace does not know (deleted).
    Deleted,
    /// The token exists but is disabled.
    Disabled,
    /// The token exists but has expired.
    Expired,
    /// The Secret's token value is empty, unreadable or does not belong to its id.
    BadValue,
}

impl CreateReason {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Missing => "not delivered yet",
            Self::Deleted => "deleted in Dynatrace",
            Self::Disabled => "disabled in Dynatrace",
            Self::Expired => "expired",
            Self::BadValue => "the delivered value is unreadable",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TokenCreate {
    /// Index into the cluster's token slots.
    pub slot: usize,
    pub tenant: TenantId,
    pub name: String,
    pub scopes: Vec<String>,
    pub reason: CreateReason,
    /// `namespace/name` of the Secret and the key it goes to.
    pub secret: String,
    pub key: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TokenUpdate {
    pub tenant: TenantId,
    pub id: TokenId,
    pub name: String,
    pub scopes: Vec<String>,
    /// The name Dynatrace has now.
    pub current_name: String,
    /// The scopes Dynatrace has now, when the list returned them.
    pub current_scopes: Option<Vec<String>>,
}

/// A token replaced by a new one (disabled, expired or with an unreadable value): deleted
/// after the new one is delivered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TokenRetire {
    pub tenant: TenantId,
    pub id: TokenId,
    pub name: String,
    pub reason: CreateReason,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BundleOp {
    Create,
    Patch,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BundleWrite {
    pub op: BundleOp,
    pub kind: BundleKind,
    /// Why (names and keys only).
    pub reasons: Vec<String>,
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
    pub creates: Vec<TokenCreate>,
    pub updates: Vec<TokenUpdate>,
    pub bundle: Option<BundleWrite>,
    pub retires: Vec<TokenRetire>,
    pub secrets: Vec<SecretSummary>,
    /// The Secrets to write, referring to existing tokens (with their values) or to slots.
    #[serde(skip)]
    pub desired: Vec<DesiredSecret>,
}

impl ClusterPlan {
    pub fn is_noop(&self) -> bool {
        self.creates.is_empty()
            && self.updates.is_empty()
            && self.bundle.is_none()
            && self.retires.is_empty()
    }
    pub fn action_count(&self) -> usize {
        self.creates.len()
            + self.updates.len()
            + usize::from(self.bundle.is_some())
            + self.retires.len()
    }
}

/// A cluster dtp wanted to serve but cannot this run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClusterFailure {
    pub cluster: ClusterRef,
    pub error: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Plan {
    pub clusters: Vec<ClusterPlan>,
    pub failed: Vec<ClusterFailure>,
    pub skipped: Vec<SkippedCluster>,
}

impl Plan {
    /// Clusters with at least one write.
    pub fn changes(&self) -> impl Iterator<Item = &ClusterPlan> {
        self.clusters.iter().filter(|c| !c.is_noop())
    }
    pub fn is_empty(&self) -> bool {
        self.changes().next().is_none()
    }
    pub fn action_count(&self) -> usize {
        self.clusters.iter().map(ClusterPlan::action_count).sum()
    }
}

/// Computes the plan.
pub fn plan(desired: &DesiredState, current: &CurrentState) -> Plan {
    let mut out = Plan {
        skipped: desired.skipped.clone(),
        ..Plan::default()
    };
    for dc in &desired.clusters {
        match plan_cluster(dc, current) {
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
    out
}

fn plan_cluster(dc: &DesiredCluster, current: &CurrentState) -> Result<ClusterPlan, String> {
    if let Some(conflict) = &dc.conflict {
        return Err(conflict.clone());
    }
    let c = &dc.cluster;
    let bundle = match current.bundles.get(&(c.ocm_env.clone(), c.id.clone())) {
        None => {
            return Err(format!(
                "the {} {} was not read",
                c.kind,
                crate::model::BUNDLE_ID
            ));
        }
        Some(Err(e)) => return Err(e.clone()),
        Some(Ok(b)) => b.as_ref(),
    };
    let parsed = bundle.map(CurrentBundle::parse).unwrap_or_default();
    let mut plan = ClusterPlan {
        cluster: c.clone(),
        creates: vec![],
        updates: vec![],
        bundle: None,
        retires: vec![],
        secrets: vec![],
        desired: vec![],
    };
    for s in &dc.secrets {
        let tenant = match current.tenants.get(&s.tenant) {
            Some(Ok(t)) => t,
            Some(Err(e)) => return Err(format!("Dynatrace tenant '{}': {e}", s.tenant)),
            None => return Err(format!("Dynatrace tenant '{}' was not read", s.tenant)),
        };
        let cur_secret = parsed.find(&s.name, &s.namespace);
        let mut tokens = Vec::new();
        let mut keys = Vec::new();
        for t in &s.tokens {
            let cur_id = cur_secret
                .and_then(|cs| cs.get(&format!("{}Id", t.key)))
                .map(|v| v.expose_secret().trim().to_owned())
                .filter(|v| !v.is_empty());
            let cur_value = cur_secret.and_then(|cs| cs.get(&t.key));
            let create = |reason: CreateReason, plan: &mut ClusterPlan| {
                let slot = plan.creates.len();
                plan.creates.push(TokenCreate {
                    slot,
                    tenant: s.tenant.clone(),
                    name: t.token_name.clone(),
                    scopes: t.scopes.clone(),
                    reason,
                    secret: format!("{}/{}", s.namespace, s.name),
                    key: t.key.clone(),
                });
                slot
            };
            let value = match cur_id {
                None => TokenValue::Slot(create(CreateReason::Missing, &mut plan)),
                Some(id) => match tenant.by_id.get(&TokenId::new(id.clone())) {
                    None => TokenValue::Slot(create(CreateReason::Deleted, &mut plan)),
                    Some(dt) => {
                        let broken = if dt.enabled == Some(false) {
                            Some(CreateReason::Disabled)
                        } else if dt.expiration_date.is_some_and(|e| e <= current.now) {
                            Some(CreateReason::Expired)
                        } else if !cur_value
                            .is_some_and(|v| value_belongs_to(&id, v.expose_secret()))
                        {
                            Some(CreateReason::BadValue)
                        } else {
                            None
                        };
                        match broken {
                            Some(reason) => {
                                if owned_by_cluster(&dt.name, c) {
                                    plan.retires.push(TokenRetire {
                                        tenant: s.tenant.clone(),
                                        id: dt.id.clone(),
                                        name: dt.name.clone(),
                                        reason,
                                    });
                                }
                                TokenValue::Slot(create(reason, &mut plan))
                            }
                            None => {
                                let scopes_differ = dt
                                    .scopes
                                    .as_ref()
                                    .is_some_and(|have| !same_scopes(have, &t.scopes));
                                if dt.name != t.token_name || scopes_differ {
                                    plan.updates.push(TokenUpdate {
                                        tenant: s.tenant.clone(),
                                        id: dt.id.clone(),
                                        name: t.token_name.clone(),
                                        scopes: t.scopes.clone(),
                                        current_name: dt.name.clone(),
                                        current_scopes: dt.scopes.clone(),
                                    });
                                }
                                TokenValue::Existing {
                                    id,
                                    token: cur_value
                                        .cloned()
                                        .unwrap_or_else(|| SecretString::from("")),
                                }
                            }
                        }
                    }
                },
            };
            keys.push(KeySummary {
                key: t.key.clone(),
                token_id: match &value {
                    TokenValue::Existing { id, .. } => Some(TokenId::new(id.clone())),
                    TokenValue::Slot(_) => None,
                },
                token_name: t.token_name.clone(),
            });
            tokens.push((t.key.clone(), value));
        }
        plan.secrets.push(SecretSummary {
            namespace: s.namespace.clone(),
            name: s.name.clone(),
            tenant: s.tenant.clone(),
            keys,
        });
        plan.desired.push(DesiredSecret {
            name: s.name.clone(),
            namespace: s.namespace.clone(),
            api_url: s.api_url.clone(),
            tokens,
        });
    }

    plan.bundle = match bundle {
        None => Some(BundleWrite {
            op: BundleOp::Create,
            kind: c.kind,
            reasons: vec![format!(
                "{} {} does not exist",
                c.kind,
                crate::model::BUNDLE_ID
            )],
        }),
        Some(current_resources) => {
            let mut reasons: Vec<String> = plan
                .creates
                .iter()
                .map(|t| format!("secret {} gets a new token for key '{}'", t.secret, t.key))
                .collect();
            if reasons.is_empty() {
                let desired = render_existing(&plan.desired);
                if !bundle::same_content(&desired, current_resources) {
                    reasons = bundle::differences(&desired, current_resources);
                }
            }
            (!reasons.is_empty()).then_some(BundleWrite {
                op: BundleOp::Patch,
                kind: c.kind,
                reasons,
            })
        }
    };
    Ok(plan)
}

/// Renders Secrets that hold only existing tokens (no slots).
fn render_existing(secrets: &[DesiredSecret]) -> Resources {
    let resolve = |v: &TokenValue| match v {
        TokenValue::Existing { id, token } => Some((id.clone(), token.clone())),
        TokenValue::Slot(_) => None,
    };
    Resources(
        secrets
            .iter()
            .filter_map(|s| render_secret(s, &resolve))
            .collect(),
    )
}

/// Whether a delivered token value can belong to the token id. Dynatrace tokens are
/// `<prefix>.<public>.<secret>` and their id is `<prefix>.<public>`; when both have that
/// shape the value must extend the id. Other shapes are only required to be non-empty.
pub fn value_belongs_to(id: &str, value: &str) -> bool {
    let value = value.trim();
    if value.is_empty() {
        return false;
    }
    let id_parts = id.split('.').count();
    let value_parts = value.split('.').count();
    if id_parts == 2 && value_parts == 3 {
        return value.starts_with(&format!("{id}."));
    }
    true
}

/// Only tokens named for this cluster (`dtp_<name>_<uuid>_<hash>`) are ever deleted by dtp.
fn owned_by_cluster(name: &str, c: &ClusterRef) -> bool {
    name.starts_with("dtp_")
        && name.contains(&crate::model::naming::cluster_token_prefix(&c.external_id))
}

fn same_scopes(a: &[String], b: &[String]) -> bool {
    let mut a: Vec<&str> = a.iter().map(String::as_str).collect();
    let mut b: Vec<&str> = b.iter().map(String::as_str).collect();
    a.sort_unstable();
    a.dedup();
    b.sort_unstable();
    b.dedup();
    a == b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_values_must_extend_dynatrace_shaped_ids() {
        assert!(value_belongs_to("dt0c01.ABC", "dt0c01.ABC.SECRET"));
        assert!(!value_belongs_to("dt0c01.ABC", "dt0c01.XYZ.SECRET"));
        assert!(!value_belongs_to("dt0c01.ABC", ""));
        // Test fixtures of the Python integration use free-form ids and values.
        assert!(value_belongs_to("id1", "operator123"));
    }

    #[test]
    fn scope_comparison_ignores_order_and_duplicates() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(same_scopes(&s(&["a", "b"]), &s(&["b", "a", "a"])));
        assert!(!same_scopes(&s(&["a"]), &s(&["a", "b"])));
    }
}
