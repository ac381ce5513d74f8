//! Planning one cluster: for every token of every desired Secret, decide whether the delivered
//! token can be reused (maybe renamed or re-scoped), must be created, or replaces a broken one;
//! carry over the Secrets of bindings whose labels cannot be resolved; decide whether the
//! bundle must be created or patched; then collect the cluster's orphaned tokens. Each decision
//! is a small pure function; [`plan_cluster`] strings them together.

use super::{ClusterPlan, ClusterState, KeySummary, Policy, SecretSummary, TenantTokens, collect};
use crate::action::{Action, BundleWrite, CreateReason, TokenCreate, TokenDelete, TokenUpdate};
use crate::desired::{DesiredCluster, DesiredSecretSpec, DesiredToken};
use crate::model::bundle::{
    self, CurrentBundle, CurrentSecret, DesiredSecret, Resources, TokenValue, render_secret,
    value_belongs_to,
};
use crate::model::naming::{named_for_cluster, owned_by_dtp};
use crate::model::{BUNDLE_ID, ClusterRef, DtToken, TokenId};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

/// Plans one cluster, or says why it cannot be planned (a conflict between its bindings, or a
/// read it depends on failed).
pub fn plan_cluster(
    dc: &DesiredCluster,
    state: &ClusterState<'_>,
    policy: &Policy,
) -> Result<ClusterPlan, String> {
    if let Some(conflict) = &dc.conflict {
        return Err(conflict.clone());
    }
    let c = &dc.cluster;
    let bundle = current_bundle(c, state)?;
    let parsed = bundle.map(CurrentBundle::parse).unwrap_or_default();
    let mut b = Builder::default();
    for s in &dc.secrets {
        let tenant = tenant_tokens(state, s)?;
        b.secret(s, parsed.find(&s.name, &s.namespace), tenant, c, state.now);
    }
    if dc.carry_over {
        b.carry_over(bundle, &dc.secrets);
    }
    let write = bundle_write(c, bundle, &b.creates, &b.desired, &b.kept);
    let referenced = b.referenced();
    let retired = b.deletes.iter().map(|d| d.id.clone()).collect();
    b.collects = collect::orphans(c, &referenced, &retired, state, policy);
    Ok(b.finish(c.clone(), write))
}

/// The cluster's current bundle (`None`: it does not exist), or the error that reading it gave.
fn current_bundle<'a>(
    c: &ClusterRef,
    state: &ClusterState<'a>,
) -> Result<Option<&'a Resources>, String> {
    match state.bundle {
        None => Err(format!("the {} {BUNDLE_ID} was not read", c.kind)),
        Some(Err(e)) => Err(e.to_owned()),
        Some(Ok(b)) => Ok(b),
    }
}

/// The token list of the Secret's tenant, or why it is not available.
fn tenant_tokens<'a>(
    state: &ClusterState<'a>,
    s: &DesiredSecretSpec,
) -> Result<&'a TenantTokens, String> {
    match state.tenants.get(&s.tenant) {
        Some(Ok(t)) => Ok(t),
        Some(Err(e)) => Err(format!("Dynatrace tenant '{}': {e}", s.tenant)),
        None => Err(format!("Dynatrace tenant '{}' was not read", s.tenant)),
    }
}

/// What to do about one key of a desired Secret.
enum Decision {
    /// Create a token (nothing usable is delivered).
    Create(CreateReason),
    /// Create a token and delete the broken one it replaces (when it is named for the cluster).
    Replace(CreateReason, Option<TokenDelete>),
    /// Keep the delivered token; rename or re-scope it when it drifted.
    Keep {
        id: String,
        token: SecretString,
        update: Option<TokenUpdate>,
    },
}

/// Decides about one token: reuse the delivered one, or create a new one (and why).
fn decide(
    t: &DesiredToken,
    tenant_id: &crate::model::TenantId,
    delivered: Option<&CurrentSecret>,
    tenant: &TenantTokens,
    c: &ClusterRef,
    now: DateTime<Utc>,
) -> Decision {
    let Some(id) = delivered_id(delivered, &t.key) else {
        return Decision::Create(CreateReason::Missing);
    };
    let Some(dt) = tenant.get(&TokenId::new(id.clone())) else {
        return Decision::Create(CreateReason::Deleted);
    };
    if !owned_by_dtp(&dt.name) {
        // Renamed by hand: not dtp's any more. Left untouched, replaced by a token of dtp's.
        return Decision::Create(CreateReason::NotOwned);
    }
    let value = delivered.and_then(|cs| cs.get(&t.key));
    if let Some(reason) = broken(dt, &id, value, now) {
        let retire = named_for_cluster(&dt.name, &c.external_id).then(|| TokenDelete {
            tenant: tenant_id.clone(),
            id: dt.id.clone(),
            name: dt.name.clone(),
            reason,
        });
        return Decision::Replace(reason, retire);
    }
    Decision::Keep {
        update: drift(t, tenant_id, dt),
        token: value.cloned().unwrap_or_else(|| SecretString::from("")),
        id,
    }
}

/// The token id the delivered Secret holds for `key` (`<key>Id`), when it is not blank.
fn delivered_id(delivered: Option<&CurrentSecret>, key: &str) -> Option<String> {
    delivered
        .and_then(|cs| cs.get(&format!("{key}Id")))
        .map(|v| v.expose_secret().trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Why a delivered token can no longer be used, if it cannot.
fn broken(
    dt: &DtToken,
    id: &str,
    value: Option<&SecretString>,
    now: DateTime<Utc>,
) -> Option<CreateReason> {
    if dt.enabled == Some(false) {
        Some(CreateReason::Disabled)
    } else if dt.expiration_date.is_some_and(|e| e <= now) {
        Some(CreateReason::Expired)
    } else if !value.is_some_and(|v| value_belongs_to(id, v.expose_secret())) {
        Some(CreateReason::BadValue)
    } else {
        None
    }
}

/// The update that brings a kept token's name and scopes back to the spec, if they drifted.
fn drift(t: &DesiredToken, tenant: &crate::model::TenantId, dt: &DtToken) -> Option<TokenUpdate> {
    let scopes_differ = dt
        .scopes
        .as_ref()
        .is_some_and(|have| !same_scopes(have, &t.scopes));
    (dt.name != t.token_name || scopes_differ).then(|| TokenUpdate {
        tenant: tenant.clone(),
        id: dt.id.clone(),
        name: t.token_name.clone(),
        scopes: t.scopes.clone(),
        current_name: dt.name.clone(),
        current_scopes: dt.scopes.as_deref().map(<[String]>::to_vec),
    })
}

/// Collects a cluster's actions in executor order while its Secrets are planned.
#[derive(Default)]
struct Builder {
    creates: Vec<TokenCreate>,
    updates: Vec<TokenUpdate>,
    deletes: Vec<TokenDelete>,
    collects: Vec<crate::action::TokenCollect>,
    secrets: Vec<SecretSummary>,
    desired: Vec<DesiredSecret>,
    /// Secrets carried over unchanged.
    kept: Resources,
}

impl Builder {
    /// Plans one desired Secret against what is delivered.
    fn secret(
        &mut self,
        s: &DesiredSecretSpec,
        delivered: Option<&CurrentSecret>,
        tenant: &TenantTokens,
        c: &ClusterRef,
        now: DateTime<Utc>,
    ) {
        let mut tokens = Vec::new();
        let mut keys = Vec::new();
        for t in &s.tokens {
            let value = match decide(t, &s.tenant, delivered, tenant, c, now) {
                Decision::Create(reason) => self.create(s, t, reason),
                Decision::Replace(reason, retire) => {
                    self.deletes.extend(retire);
                    self.create(s, t, reason)
                }
                Decision::Keep { id, token, update } => {
                    self.updates.extend(update);
                    TokenValue::Existing { id, token }
                }
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
        self.secrets.push(SecretSummary {
            namespace: s.namespace.clone(),
            name: s.name.clone(),
            tenant: s.tenant.clone(),
            keys,
        });
        self.desired.push(DesiredSecret {
            name: s.name.clone(),
            namespace: s.namespace.clone(),
            api_url: s.api_url.clone(),
            tokens,
        });
    }

    /// Plans a token create and returns the slot it fills.
    fn create(
        &mut self,
        s: &DesiredSecretSpec,
        t: &DesiredToken,
        reason: CreateReason,
    ) -> TokenValue {
        let slot = self.creates.len();
        self.creates.push(TokenCreate {
            slot,
            tenant: s.tenant.clone(),
            name: t.token_name.clone(),
            scopes: t.scopes.clone(),
            reason,
            secret: format!("{}/{}", s.namespace, s.name),
            key: t.key.clone(),
        });
        TokenValue::Slot(slot)
    }

    /// Keeps the Secrets of the current bundle that no desired Secret claims (by name, as
    /// the Python integration matches them), unchanged.
    fn carry_over(&mut self, current: Option<&Resources>, desired: &[DesiredSecretSpec]) {
        let Some(current) = current else {
            return;
        };
        self.kept = Resources(
            current
                .0
                .iter()
                .filter(|r| r.get("kind").and_then(serde_json::Value::as_str) == Some("Secret"))
                .filter(|r| {
                    let name = r
                        .pointer("/metadata/name")
                        .and_then(serde_json::Value::as_str);
                    !desired.iter().any(|d| Some(d.name.as_str()) == name)
                })
                .cloned()
                .collect(),
        );
    }

    /// The token ids the bundle references once written: the kept tokens of the desired
    /// Secrets and every id of the carried-over Secrets.
    fn referenced(&self) -> std::collections::BTreeSet<TokenId> {
        let mut ids: std::collections::BTreeSet<TokenId> = self
            .desired
            .iter()
            .flat_map(|s| s.tokens.iter())
            .filter_map(|(_, v)| match v {
                TokenValue::Existing { id, .. } => Some(TokenId::new(id.clone())),
                TokenValue::Slot(_) => None,
            })
            .collect();
        ids.extend(
            CurrentBundle::parse(&self.kept)
                .token_ids()
                .into_iter()
                .map(TokenId::new),
        );
        ids
    }

    fn finish(self, cluster: ClusterRef, bundle: Option<Action>) -> ClusterPlan {
        let mut actions: Vec<Action> = Vec::new();
        actions.extend(self.creates.into_iter().map(Action::CreateToken));
        actions.extend(self.updates.into_iter().map(Action::UpdateToken));
        actions.extend(bundle);
        actions.extend(self.deletes.into_iter().map(Action::DeleteToken));
        actions.extend(self.collects.into_iter().map(Action::CollectToken));
        let carried_over = CurrentBundle::parse(&self.kept)
            .secrets
            .iter()
            .map(|s| format!("{}/{}", s.namespace, s.name))
            .collect();
        ClusterPlan {
            cluster,
            actions,
            secrets: self.secrets,
            desired: self.desired,
            carried_over,
            kept: self.kept,
        }
    }
}

/// The bundle write: create when the object does not exist; patch when a token is new or the
/// delivered content differs from the desired content; nothing otherwise.
fn bundle_write(
    c: &ClusterRef,
    current: Option<&Resources>,
    creates: &[TokenCreate],
    desired: &[DesiredSecret],
    kept: &Resources,
) -> Option<Action> {
    let Some(current) = current else {
        return Some(Action::CreateBundle(BundleWrite {
            kind: c.kind,
            reasons: vec![format!("{} {BUNDLE_ID} does not exist", c.kind)],
        }));
    };
    let mut reasons: Vec<String> = creates
        .iter()
        .map(|t| format!("secret {} gets a new token for key '{}'", t.secret, t.key))
        .collect();
    if reasons.is_empty() {
        let mut rendered = render_existing(desired);
        rendered.0.extend(kept.0.iter().cloned());
        if !bundle::same_content(&rendered, current) {
            reasons = bundle::differences(&rendered, current);
        }
    }
    (!reasons.is_empty()).then_some(Action::PatchBundle(BundleWrite {
        kind: c.kind,
        reasons,
    }))
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

/// Scopes compared as sets (order and duplicates do not matter).
pub(super) fn same_scopes(a: &[String], b: &[String]) -> bool {
    let mut a: Vec<&str> = a.iter().map(String::as_str).collect();
    let mut b: Vec<&str> = b.iter().map(String::as_str).collect();
    a.sort_unstable();
    a.dedup();
    b.sort_unstable();
    b.dedup();
    a == b
}
