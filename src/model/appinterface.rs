//! The app-interface data dtp reads (Dynatrace environments, OCM environments, token specs,
//! the Vault setting), independent of where it came from (GraphQL or a datafiles directory).
//! `source` is the datafile path when known, so error messages can point at the file.

use super::ids::{OcmEnvName, OrgId, SpecName, TenantId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// A `VaultSecret_v1` reference: `path` without `data/` (first segment = mount), `field`,
/// optional KV v2 `version` (latest when absent) and `format` (`plain` | `base64`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaultSecretRef {
    pub path: String,
    pub field: String,
    #[serde(default)]
    pub version: Option<u64>,
    #[serde(default)]
    pub format: Option<String>,
}

impl std::fmt::Display for VaultSecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.path, self.field)?;
        if let Some(v) = self.version {
            write!(f, " (version {v})")?;
        }
        Ok(())
    }
}

/// `dynatrace_environment_v1`: one Dynatrace tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DynatraceEnvironment {
    pub name: String,
    /// The tenant id (`environmentID`); the value cluster labels use.
    pub environment_id: TenantId,
    /// e.g. `https://abc12345.live.dynatrace.com` or `https://host/e/abc12345` (Managed).
    pub environment_url: String,
    pub bootstrap_token: VaultSecretRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl DynatraceEnvironment {
    /// The Dynatrace API base: `environmentUrl` (no trailing `/`) + `/api`. Written as the
    /// Secret's `apiUrl` and used for every token call.
    pub fn api_url(&self) -> String {
        format!("{}/api", self.environment_url.trim_end_matches('/'))
    }
}

/// `ocm_environments_v1`: one OCM installation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OcmEnvironment {
    pub name: OcmEnvName,
    pub url: String,
    pub access_token_url: String,
    pub access_token_client_id: String,
    pub access_token_client_secret: VaultSecretRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// `dynatrace_token_provider_token_spec_v1`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenSpec {
    pub name: SpecName,
    pub ocm_org_ids: Vec<OrgId>,
    pub secrets: Vec<SpecSecret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl TokenSpec {
    pub fn allows_org(&self, org: &OrgId) -> bool {
        self.ocm_org_ids.iter().any(|o| o == org)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecSecret {
    pub name: String,
    pub namespace: String,
    pub tokens: Vec<SpecToken>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecToken {
    pub name: String,
    #[serde(default)]
    pub key_name_in_secret: Option<String>,
    pub scopes: Vec<String>,
}

impl SpecToken {
    /// The key inside the Secret: `keyNameInSecret`, falling back to the token name (the
    /// Python integration writes with this fallback but reads without it: gap G1).
    pub fn key(&self) -> &str {
        self.key_name_in_secret.as_deref().unwrap_or(&self.name)
    }
}

/// Everything dtp reads from app-interface in one run, from one bundle.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppInterfaceData {
    pub dynatrace_environments: Vec<DynatraceEnvironment>,
    pub ocm_environments: Vec<OcmEnvironment>,
    pub token_specs: Vec<TokenSpec>,
    /// `app_interface_settings_v1.vault`: secrets from Vault (`true`) or from config.toml.
    pub vault: bool,
    /// The bundle sha the data was read from (GraphQL), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_sha: Option<String>,
}

/// One cluster the log-rules reconciler visits: a `cluster-1.yml` with a
/// `dynatraceEnvironment` that does not disable `dynatrace-log-rules`, and the names of its
/// namespaces whose logs Dynatrace must ingest (`enableDynatraceLogging: true`, not
/// `delete: true`). An empty set means the cluster's rule must be removed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRulesCluster {
    /// The cluster name (also its Dynatrace host group).
    pub name: String,
    /// The cluster's datafile.
    pub path: String,
    /// The `name` of its `DynatraceEnvironment_v1`.
    pub environment: String,
    pub namespaces: BTreeSet<String>,
}

/// Everything the log-rules reconciler reads from app-interface: its clusters, sorted by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRulesInput {
    pub clusters: Vec<LogRulesCluster>,
}
