//! Desired state: from app-interface data and the clusters OCM discovery returned, what each
//! cluster should receive — which Secrets, with which tokens (names, scopes, keys), for which
//! tenant. Pure: no I/O, no clock. Clusters whose labels do not resolve to any usable binding
//! are listed as skipped, with the reason.

use crate::model::bindings::{self, Binding, LabelNote};
use crate::model::naming::token_name;
use crate::model::{
    AppInterfaceData, ClusterRef, DiscoveredCluster, OcmEnvName, SpecName, TenantId, TokenSpec,
};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

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
    /// Some binding label cannot be resolved (probably a typo): the Secrets of the bundle that
    /// no resolved binding claims are carried over unchanged.
    pub carry_over: bool,
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

/// The app-interface data a cluster is resolved against (built once per run; a run resolves
/// each cluster as it goes, [`Catalog::cluster`]).
pub struct Catalog {
    specs: BTreeMap<SpecName, TokenSpec>,
    api_urls: BTreeMap<TenantId, String>,
    tenants: BTreeSet<TenantId>,
}

impl Catalog {
    pub fn new(data: &AppInterfaceData) -> Self {
        let specs = data
            .token_specs
            .iter()
            .map(|s| (s.name.clone(), s.clone()))
            .collect();
        let api_urls: BTreeMap<TenantId, String> = data
            .dynatrace_environments
            .iter()
            .map(|e| (e.environment_id.clone(), e.api_url()))
            .collect();
        let tenants = api_urls.keys().cloned().collect();
        Self {
            specs,
            api_urls,
            tenants,
        }
    }
}

impl Catalog {
    /// What one discovered cluster of `env` should receive, or why it is skipped.
    pub fn cluster(
        &self,
        env: &OcmEnvName,
        c: &DiscoveredCluster,
    ) -> Result<DesiredCluster, Box<SkippedCluster>> {
        desired_cluster(self, ClusterRef::from_discovered(env, c), c)
    }
}

/// Builds the desired state of every discovered cluster. `data` must have passed validation.
pub fn desired_state(
    data: &AppInterfaceData,
    discovered: &[(OcmEnvName, DiscoveredCluster)],
) -> DesiredState {
    let catalog = Catalog::new(data);
    let mut out = DesiredState::default();
    for (env, c) in discovered {
        match desired_cluster(&catalog, ClusterRef::from_discovered(env, c), c) {
            Ok(dc) => out.clusters.push(dc),
            Err(skipped) => out.skipped.push(*skipped),
        }
    }
    out
}

/// What one cluster should receive, or why it is skipped.
fn desired_cluster(
    catalog: &Catalog,
    cluster: ClusterRef,
    c: &DiscoveredCluster,
) -> Result<DesiredCluster, Box<SkippedCluster>> {
    let resolved = bindings::resolve(
        &c.labels,
        &catalog.specs,
        &catalog.tenants,
        &c.organization_id,
    );
    if let Some(reason) = skip_reason(&resolved, c) {
        return Err(Box::new(SkippedCluster {
            cluster,
            reason,
            notes: resolved.notes,
        }));
    }
    let (secrets, conflict) = secrets_of(catalog, &resolved.bindings, c);
    Ok(DesiredCluster {
        cluster,
        bindings: resolved.bindings,
        secrets,
        notes: resolved.notes,
        conflict,
        carry_over: resolved.unresolved,
    })
}

/// Why a cluster with these resolved labels is not served, if it is not.
fn skip_reason(resolved: &bindings::Resolved, c: &DiscoveredCluster) -> Option<String> {
    if !resolved.bindings.is_empty() {
        return None;
    }
    if !resolved.unknown_tenants.is_empty() {
        let names: Vec<String> = resolved
            .unknown_tenants
            .iter()
            .map(|b| format!("'{}'", b.tenant))
            .collect();
        return Some(format!(
            "Dynatrace tenant {} does not exist; the cluster is left untouched",
            names.join(", ")
        ));
    }
    Some(if !resolved.disallowed.is_empty() {
        format!(
            "organization '{}' is not allowed by the token spec of any binding",
            c.organization_id
        )
    } else if resolved.notes.is_empty() {
        "no sre-capabilities.dtp tenant/token-spec label pair".to_owned()
    } else {
        "no usable tenant/token-spec label pair".to_owned()
    })
}

/// The Secrets of every binding, in binding then spec order, and the conflict when two
/// bindings define the same Secret.
fn secrets_of(
    catalog: &Catalog,
    bindings: &[Binding],
    c: &DiscoveredCluster,
) -> (Vec<DesiredSecretSpec>, Option<String>) {
    let mut secrets: Vec<DesiredSecretSpec> = Vec::new();
    let mut conflict = None;
    for b in bindings {
        let spec = &catalog.specs[&b.spec];
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
                api_url: catalog.api_urls[&b.tenant].clone(),
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
    (secrets, conflict)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fixtures::{
        INGESTION_HASH, INGESTION_SCOPES, OPERATOR_HASH, OPERATOR_SCOPES, cluster, python_world,
        strings,
    };

    fn token(spec_token: &str, key: &str, uuid: &str, hash: &str, scopes: &[&str]) -> DesiredToken {
        DesiredToken {
            spec_token: spec_token.into(),
            key: key.into(),
            token_name: format!("dtp_{spec_token}_{uuid}_{hash}"),
            scopes: strings(scopes),
        }
    }

    fn operator(uuid: &str) -> DesiredToken {
        token(
            "operator-token",
            "apiToken",
            uuid,
            OPERATOR_HASH,
            &OPERATOR_SCOPES,
        )
    }

    fn ingestion(uuid: &str) -> DesiredToken {
        token(
            "ingestion-token",
            "dataIngestToken",
            uuid,
            INGESTION_HASH,
            &INGESTION_SCOPES,
        )
    }

    fn secret(
        binding: &str,
        tenant: &str,
        spec: &str,
        name: &str,
        tokens: Vec<DesiredToken>,
    ) -> DesiredSecretSpec {
        DesiredSecretSpec {
            binding: binding.into(),
            tenant: TenantId::new(tenant),
            spec: SpecName::new(spec),
            name: name.into(),
            namespace: "dynatrace".into(),
            api_url: format!("https://{tenant}.live.dynatrace.com/api"),
            tokens,
        }
    }

    fn desired(clusters: Vec<(OcmEnvName, DiscoveredCluster)>) -> DesiredState {
        desired_state(&python_world(), &clusters)
    }

    #[test]
    fn a_v2_cluster_gets_the_secret_of_its_spec_with_b29_token_names() {
        let d = desired(vec![
            cluster("cluster_a", "external_id_a")
                .v2("dt_tenant_a", "default")
                .build(),
        ]);
        assert!(d.skipped.is_empty());
        assert_eq!(d.clusters.len(), 1);
        assert_eq!(
            d.clusters[0].secrets,
            vec![secret(
                "v2",
                "dt_tenant_a",
                "default",
                "dynatrace-token-dtp",
                vec![operator("external_id_a"), ingestion("external_id_a")]
            )]
        );
        assert_eq!(d.clusters[0].conflict, None);
        assert_eq!(d.tenants(), [TenantId::new("dt_tenant_a")].into());
    }

    #[test]
    fn v3_bindings_give_one_secret_each_in_label_order() {
        let d = desired(vec![
            cluster("cluster_a", "external_id_a")
                .v3("slo", "slo-tenant", "slo-spec")
                .v3("regional", "regional-tenant", "regional-spec")
                .build(),
        ]);
        let got: Vec<(&str, &str)> = d.clusters[0]
            .secrets
            .iter()
            .map(|s| (s.tenant.as_str(), s.name.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("slo-tenant", "dynatrace-slo-token-dtp"),
                ("regional-tenant", "dynatrace-token-dtp")
            ]
        );
        assert_eq!(
            d.clusters[0].secrets[0].tokens,
            vec![ingestion("external_id_a")]
        );
    }

    #[test]
    fn clusters_without_a_usable_binding_are_skipped_with_the_reason() {
        let d = desired(vec![
            cluster("no-labels", "u1").build(),
            cluster("foreign", "u2")
                .org("other-org")
                .v2("dt_tenant_a", "default")
                .build(),
            cluster("unknown-tenant", "u3")
                .v2("nope", "default")
                .build(),
            cluster("unknown-spec", "u4")
                .v2("dt_tenant_a", "nope")
                .build(),
        ]);
        assert!(d.clusters.is_empty());
        let reasons: Vec<(&str, &str)> = d
            .skipped
            .iter()
            .map(|s| (s.cluster.id.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(
            reasons,
            [
                (
                    "no-labels",
                    "no sre-capabilities.dtp tenant/token-spec label pair"
                ),
                (
                    "foreign",
                    "organization 'other-org' is not allowed by the token spec of any binding"
                ),
                (
                    "unknown-tenant",
                    "Dynatrace tenant 'nope' does not exist; the cluster is left untouched"
                ),
                ("unknown-spec", "no usable tenant/token-spec label pair"),
            ]
        );
    }

    #[test]
    fn two_bindings_defining_the_same_secret_are_a_conflict() {
        let d = desired(vec![
            cluster("cluster_a", "external_id_a")
                .v3("a", "dt_tenant_a", "default")
                .v3("b", "regional-tenant", "regional-spec")
                .build(),
        ]);
        assert_eq!(
            d.clusters[0].conflict.as_deref(),
            Some(
                "bindings 'sre-capabilities.dtp.v3.a' (tenant 'dt_tenant_a', spec 'default') and 'sre-capabilities.dtp.v3.b' (tenant 'regional-tenant', spec 'regional-spec') both define secret 'dynatrace-token-dtp' in namespace 'dynatrace'"
            )
        );
        assert!(
            d.tenants().is_empty(),
            "a conflicted cluster needs no tenant"
        );
    }

    #[test]
    fn hosted_control_planes_are_manifest_clusters() {
        let d = desired(vec![
            cluster("hcp", "u")
                .hcp()
                .v2("dt_tenant_a", "default")
                .build(),
        ]);
        assert_eq!(
            d.clusters[0].cluster.kind,
            crate::model::bundle::BundleKind::Manifest
        );
    }
}
