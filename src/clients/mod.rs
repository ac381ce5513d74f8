//! One module per external system. Each exposes a domain-shaped trait (what dtp needs, in
//! its words) and one HTTP implementation; the sandbox provides the servers they are tested
//! against. Real clients are built in exactly one place, [`crate::reconcile::Dependencies`].
//! Errors name the system, operation and object; they never carry a secret.

pub mod appinterface;
pub mod dynatrace;
pub mod http;
pub mod ocm;
pub mod vault;

use crate::model::{
    AppInterfaceData, ClusterId, ExternalClusterId, OrgId, SubscriptionId, TokenId, VaultSecretRef,
    bundle::{BundleKind, Resources},
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;

pub use http::ApiError;

/// Where app-interface data comes from: qontract-server GraphQL or a datafiles directory.
#[async_trait]
pub trait AppInterfaceSource: Send + Sync {
    /// Reads everything dtp needs, from one consistent bundle.
    async fn load(&self) -> Result<AppInterfaceData, appinterface::AppInterfaceError>;
}

/// Reads one secret referenced by app-interface (Vault, or config.toml when `vault: false`).
#[async_trait]
pub trait SecretReader: Send + Sync {
    async fn read(&self, secret: &VaultSecretRef) -> Result<SecretString, vault::SecretError>;
}

/// A cluster found through its DTP labels, with the labels that apply to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoveredCluster {
    pub id: ClusterId,
    pub external_id: ExternalClusterId,
    pub name: String,
    pub subscription_id: SubscriptionId,
    pub organization_id: OrgId,
    /// ROSA with hypershift enabled: tokens go into a Manifest, not a SyncSet.
    pub is_hcp: bool,
    /// `sre-capabilities.dtp.*` labels in effective order: organization labels first, then the
    /// subscription's (a subscription label overrides an organization label with the same key),
    /// each group sorted by label creation time (the order the Python integration sees).
    pub labels: Vec<(String, String)>,
}

/// The outcome of discovery in one OCM environment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Discovery {
    pub clusters: Vec<DiscoveredCluster>,
    /// Items OCM returned that dtp could not use (e.g. a cluster without `external_id`), each
    /// naming the object. They count as failures of the run; the other clusters go on.
    pub problems: Vec<String>,
}

/// Whether a service log was posted or an identical one from the last day was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceLogOutcome {
    Posted,
    Deduplicated,
}

/// One OCM environment.
#[async_trait]
pub trait Ocm: Send + Sync {
    /// Managed, ready OSD/ROSA clusters whose subscription or organization carries
    /// `sre-capabilities.dtp.*` labels (B12–B16, with organization-label inheritance).
    async fn discover_clusters(&self) -> Result<Discovery, ApiError>;
    /// The resources of the cluster's `ext-dynatrace-tokens-dtp` object; `None` on 404.
    async fn get_bundle(
        &self,
        cluster: &ClusterId,
        kind: BundleKind,
    ) -> Result<Option<Resources>, ApiError>;
    /// POST the object with its id.
    async fn create_bundle(
        &self,
        cluster: &ClusterId,
        kind: BundleKind,
        resources: &Resources,
    ) -> Result<(), ApiError>;
    /// PATCH the object (body without id); the resource list is replaced whole.
    async fn patch_bundle(
        &self,
        cluster: &ClusterId,
        kind: BundleKind,
        resources: &Resources,
    ) -> Result<(), ApiError>;
    /// Posts a `Dynatrace Token Provider Errors` service log (severity Moderate) unless an
    /// identical one was posted in the last day (B37).
    async fn post_service_log(
        &self,
        cluster: &ExternalClusterId,
        description: &str,
    ) -> Result<ServiceLogOutcome, ApiError>;
}

/// A token as the Dynatrace token list shows it (never its secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DtToken {
    pub id: TokenId,
    pub name: String,
    /// `None` when the server did not say.
    pub enabled: Option<bool>,
    pub expiration_date: Option<DateTime<Utc>>,
    /// Present when the server returned scopes in the list.
    pub scopes: Option<Vec<String>>,
}

/// A token Dynatrace just created: the only time its secret is visible.
#[derive(Clone, Debug)]
pub struct CreatedToken {
    pub id: TokenId,
    pub token: SecretString,
}

/// One Dynatrace tenant's token API (v2).
#[async_trait]
pub trait Dynatrace: Send + Sync {
    /// All tokens of the tenant (every page), with `enabled` and `expirationDate`.
    async fn list_tokens(&self) -> Result<Vec<DtToken>, ApiError>;
    async fn create_token(&self, name: &str, scopes: &[String]) -> Result<CreatedToken, ApiError>;
    /// PUT name and scopes.
    async fn update_token(
        &self,
        id: &TokenId,
        name: &str,
        scopes: &[String],
    ) -> Result<(), ApiError>;
    /// DELETE; a token that is already gone (404) counts as deleted.
    async fn delete_token(&self, id: &TokenId) -> Result<(), ApiError>;
}
