//! Typed fixture builders for the pure tests (tests only): the Python integration's test world
//! (`conftest.py`/`fixtures.py`: specs `default`, `regional-spec`, `slo-spec`, tenants
//! `dt_tenant_a`, `regional-tenant`, `slo-tenant`, cluster `cluster_a` / `external_id_a` in
//! organization `ocm_org_id_a`) and clusters described by their labels.

use super::bindings::{V2_SPEC, V2_TENANT, V3_PREFIX};
use super::{
    AppInterfaceData, ClusterId, DiscoveredCluster, DynatraceEnvironment, ExternalClusterId,
    OcmEnvName, OrgId, SpecName, SpecSecret, SpecToken, SubscriptionId, TenantId, TokenSpec,
    VaultSecretRef,
};

pub const OPERATOR_SCOPES: [&str; 6] = [
    "activeGateTokenManagement.create",
    "entities.read",
    "settings.write",
    "settings.read",
    "DataExport",
    "InstallerDownload",
];
pub const INGESTION_SCOPES: [&str; 3] = ["metrics.ingest", "logs.ingest", "events.ingest"];
/// The scope hashes of the two spec tokens (behaviour B29).
pub const OPERATOR_HASH: &str = "1b6c3b9a7248";
pub const INGESTION_HASH: &str = "f6e7fac64719";
pub const ORG: &str = "ocm_org_id_a";
pub const ENV: &str = "ocm-env";

pub fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// `operator-token` → key `apiToken`.
pub fn operator() -> SpecToken {
    SpecToken {
        name: "operator-token".into(),
        key_name_in_secret: Some("apiToken".into()),
        scopes: strings(&OPERATOR_SCOPES),
    }
}

/// `ingestion-token` → key `dataIngestToken`.
pub fn ingestion() -> SpecToken {
    SpecToken {
        name: "ingestion-token".into(),
        key_name_in_secret: Some("dataIngestToken".into()),
        scopes: strings(&INGESTION_SCOPES),
    }
}

/// A spec with one Secret in namespace `dynatrace`, allowed for [`ORG`].
pub fn spec(name: &str, secret: &str, tokens: Vec<SpecToken>) -> TokenSpec {
    TokenSpec {
        name: SpecName::new(name),
        ocm_org_ids: vec![OrgId::new(ORG)],
        secrets: vec![SpecSecret {
            name: secret.into(),
            namespace: "dynatrace".into(),
            tokens,
        }],
        source: None,
    }
}

/// A SaaS tenant `https://<id>.live.dynatrace.com`.
pub fn tenant(id: &str) -> DynatraceEnvironment {
    DynatraceEnvironment {
        name: format!("dt-{id}"),
        environment_id: TenantId::new(id),
        environment_url: format!("https://{id}.live.dynatrace.com"),
        bootstrap_token: VaultSecretRef {
            path: format!("dynatrace/{id}"),
            field: "bootstrap_token".into(),
            version: None,
            format: None,
        },
        source: None,
    }
}

/// The Python test world: three specs and three tenants (no OCM environment: the pure core
/// does not need one).
pub fn python_world() -> AppInterfaceData {
    AppInterfaceData {
        dynatrace_environments: ["dt_tenant_a", "regional-tenant", "slo-tenant"]
            .iter()
            .map(|t| tenant(t))
            .collect(),
        ocm_environments: vec![],
        token_specs: vec![
            spec(
                "default",
                "dynatrace-token-dtp",
                vec![operator(), ingestion()],
            ),
            spec(
                "regional-spec",
                "dynatrace-token-dtp",
                vec![operator(), ingestion()],
            ),
            spec("slo-spec", "dynatrace-slo-token-dtp", vec![ingestion()]),
        ],
        vault: false,
        bundle_sha: None,
    }
}

/// A discovered cluster, built label by label.
#[derive(Clone, Debug)]
pub struct ClusterBuilder {
    cluster: DiscoveredCluster,
}

/// `cluster_a`-style: OCM id `id`, external id `uuid`, organization [`ORG`], classic OSD.
pub fn cluster(id: &str, uuid: &str) -> ClusterBuilder {
    ClusterBuilder {
        cluster: DiscoveredCluster {
            id: ClusterId::new(id),
            external_id: ExternalClusterId::new(uuid),
            name: id.into(),
            subscription_id: SubscriptionId::new(format!("sub-{id}")),
            organization_id: OrgId::new(ORG),
            is_hcp: false,
            labels: vec![],
        },
    }
}

impl ClusterBuilder {
    pub fn org(mut self, org: &str) -> Self {
        self.cluster.organization_id = OrgId::new(org);
        self
    }
    /// A ROSA hosted control plane (its tokens go into a Manifest).
    pub fn hcp(mut self) -> Self {
        self.cluster.is_hcp = true;
        self
    }
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.cluster.labels.push((key.into(), value.into()));
        self
    }
    /// `sre-capabilities.dtp.v2.tenant` / `.token-spec`.
    pub fn v2(self, tenant: &str, spec: &str) -> Self {
        self.label(V2_TENANT, tenant).label(V2_SPEC, spec)
    }
    /// `sre-capabilities.dtp.v3.<group>.tenant` / `.token-spec`.
    pub fn v3(self, group: &str, tenant: &str, spec: &str) -> Self {
        self.label(&format!("{V3_PREFIX}.{group}.tenant"), tenant)
            .label(&format!("{V3_PREFIX}.{group}.token-spec"), spec)
    }
    pub fn build(self) -> (OcmEnvName, DiscoveredCluster) {
        (OcmEnvName::new(ENV), self.cluster)
    }
}
