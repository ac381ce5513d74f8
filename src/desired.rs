//! Desired state: from app-interface data and the clusters OCM discovery returned, what each
//! cluster should receive — which Secrets, with which tokens (names, scopes, keys), for which
//! tenant. Pure: no I/O, no clock. Clusters whose labels do not resolve to any usable binding
//! are listed as skipped, with the reason.

use crate::clients::DiscoveredCluster;
use crate::model::bindings::{self, Binding, LabelNote};
use crate::model::bundle::BundleKind;
use crate::model::naming::token_name;
use crate::model::{
    AppInterfaceData, ClusterId, ExternalClusterId, OcmEnvName, OrgId, SpecName, TenantId,
    TokenSpec,
};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Identifies one cluster in plans, logs and errors.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ClusterRef {
    pub ocm_env: OcmEnvName,
    pub id: ClusterId,
    pub external_id: ExternalClusterId,
    pub name: String,
    pub org: OrgId,
    pub kind: BundleKind,
}

impl ClusterRef {
    pub fn from_discovered(env: &OcmEnvName, c: &DiscoveredCluster) -> Self {
        Self {
            ocm_env: env.clone(),
            id: c.id.clone(),
            external_id: c.external_id.clone(),
            name: c.name.clone(),
            org: c.organization_id.clone(),
            kind: BundleKind::for_cluster(c.is_hcp),
        }
    }
}

impl fmt::Display for ClusterRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.ocm_env, self.org, self.id)
    }
}

/// One token a desired Secret holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DesiredToken {
    /// The spec token's name.
    pub spec_token: String,
    /// `<key>` and `<key>Id` in the Secret.
    pub key: String,
    /// The Dynatrace token name (B29).
    pub token_name: String,
    pub scopes: Vec<String>,
}

/// One Secret a cluster should receive, from one binding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DesiredSecretSpec {
    pub binding: String,
    pub tenant: TenantId,
    pub spec: SpecName,
    pub name: String,
    pub namespace: String,
    pub api_url: String,
    pub tokens: Vec<DesiredToken>,
}

/// What one cluster should receive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DesiredCluster {
    pub cluster: ClusterRef,
    pub bindings: Vec<Binding>,
    pub secrets: Vec<DesiredSecretSpec>,
    /// Ignored labels and bindings (warnings).
    pub notes: Vec<LabelNote>,
    /// Two bindings want the same Secret (namespace and name): dtp cannot serve the cluster.
    pub conflict: Option<String>,
}

/// A labelled cluster dtp does not serve, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SkippedCluster {
    pub cluster: ClusterRef,
    pub reason: String,
    pub notes: Vec<LabelNote>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DesiredState {
    pub clusters: Vec<DesiredCluster>,
    pub skipped: Vec<SkippedCluster>,
}

impl DesiredState {
    /// Tenants some cluster needs tokens from.
    pub fn tenants(&self) -> BTreeSet<TenantId> {
        self.clusters
            .iter()
            .filter(|c| c.conflict.is_none())
            .flat_map(|c| c.secrets.iter().map(|s| s.tenant.clone()))
            .collect()
    }
}

/// Builds the desired state of every discovered cluster. `data` must have passed validation.
pub fn desired_state(
    data: &AppInterfaceData,
    discovered: &[(OcmEnvName, DiscoveredCluster)],
) -> DesiredState {
    let specs: BTreeMap<SpecName, TokenSpec> = data
        .token_specs
        .iter()
        .map(|s| (s.name.clone(), s.clone()))
        .collect();
    let api_urls: BTreeMap<TenantId, String> = data
        .dynatrace_environments
        .iter()
        .map(|e| (e.environment_id.clone(), e.api_url()))
        .collect();
    let tenants: BTreeSet<TenantId> = api_urls.keys().cloned().collect();

    let mut out = DesiredState::default();
    for (env, c) in discovered {
        let cluster = ClusterRef::from_discovered(env, c);
        let resolved = bindings::resolve(&c.labels, &specs, &tenants, &c.organization_id);
        if !resolved.unknown_tenants.is_empty() {
            let names: Vec<&str> = resolved
                .unknown_tenants
                .iter()
                .map(|b| b.tenant.as_str())
                .collect();
            out.skipped.push(SkippedCluster {
                cluster,
                reason: format!(
                    "Dynatrace tenant {} does not exist; the cluster is left untouched",
                    names
                        .iter()
                        .map(|n| format!("'{n}'"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                notes: resolved.notes,
            });
            continue;
        }
        if resolved.bindings.is_empty() {
            let reason = if !resolved.disallowed.is_empty() {
                format!(
                    "organization '{}' is not allowed by the token spec of any binding",
                    c.organization_id
                )
            } else if resolved.notes.is_empty() {
                "no sre-capabilities.dtp tenant/token-spec label pair".to_owned()
            } else {
                "no usable tenant/token-spec label pair".to_owned()
            };
            out.skipped.push(SkippedCluster {
                cluster,
                reason,
                notes: resolved.notes,
            });
            continue;
        }
        let mut secrets: Vec<DesiredSecretSpec> = Vec::new();
        let mut conflict = None;
        for b in &resolved.bindings {
            let spec = &specs[&b.spec];
            for s in &spec.secrets {
                if let Some(other) = secrets
                    .iter()
                    .find(|x| x.name == s.name && x.namespace == s.namespace)
                {
                    conflict = Some(format!(
                        "bindings '{}' (tenant '{}', spec '{}') and '{}' (tenant '{}', spec '{}') both define secret '{}' in namespace '{}'",
                        other.binding,
                        other.tenant,
                        other.spec,
                        b.key,
                        b.tenant,
                        b.spec,
                        s.name,
                        s.namespace
                    ));
                }
                secrets.push(DesiredSecretSpec {
                    binding: b.key.clone(),
                    tenant: b.tenant.clone(),
                    spec: b.spec.clone(),
                    name: s.name.clone(),
                    namespace: s.namespace.clone(),
                    api_url: api_urls[&b.tenant].clone(),
                    tokens: s
                        .tokens
                        .iter()
                        .map(|t| DesiredToken {
                            spec_token: t.name.clone(),
                            key: t.key().to_owned(),
                            token_name: token_name(&t.name, &c.external_id, &t.scopes),
                            scopes: t.scopes.clone(),
                        })
                        .collect(),
                });
            }
        }
        out.clusters.push(DesiredCluster {
            cluster,
            bindings: resolved.bindings,
            secrets,
            notes: resolved.notes,
            conflict,
        });
    }
    out
}
