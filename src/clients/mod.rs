//! One module per external system. Each exposes a domain-shaped trait (what dtp needs, in
//! its words) and one HTTP implementation on the shared core ([`http`]); the sandbox provides
//! the servers they are tested against. Real clients are built in exactly one place,
//! [`crate::deps`]. Errors name the system, operation and object; they never carry a secret.
//! Clients depend on [`crate::model`] only: their settings types are their own, and
//! [`crate::config`] builds them.

pub mod appinterface;
pub mod dynatrace;
pub mod http;
pub mod limit;
pub mod ocm;
pub mod pushgateway;
pub mod unleash;
pub mod vault;

use crate::model::{
    AppInterfaceData, ClusterId, CreatedToken, Discovery, DtToken, DynatraceEnvironment,
    ExternalClusterId, OcmEnvironment, ServiceLogOutcome, TokenId, VaultSecretRef,
    bundle::{BundleKind, Resources},
};
use async_trait::async_trait;
use secrecy::SecretString;
use std::sync::Arc;

pub use http::ApiError;

/// Where app-interface data comes from: qontract-server GraphQL or a datafiles directory.
#[async_trait]
pub trait AppInterfaceSource: Send + Sync {
    /// Reads everything dtp needs, from one consistent bundle.
    async fn load(&self) -> Result<AppInterfaceData, appinterface::AppInterfaceError>;
    /// Reads the log-rules reconciler's inputs (its clusters and their logging namespaces),
    /// from one consistent bundle. The default (no clusters) is for fakes; both real sources
    /// implement it.
    async fn load_log_rules(
        &self,
    ) -> Result<crate::model::LogRulesInput, appinterface::AppInterfaceError> {
        Ok(crate::model::LogRulesInput::default())
    }
}

/// Reads one secret referenced by app-interface (Vault, or config.toml when `vault: false`).
#[async_trait]
pub trait SecretReader: Send + Sync {
    async fn read(&self, secret: &VaultSecretRef) -> Result<SecretString, vault::SecretError>;
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
    /// Which of these cluster UUIDs OCM knows, in any state (none of the discovery filters):
    /// a UUID OCM does not know belongs to a cluster that left the fleet.
    async fn existing_clusters(
        &self,
        uuids: &[ExternalClusterId],
    ) -> Result<std::collections::BTreeSet<ExternalClusterId>, ApiError>;
    /// Posts a `Dynatrace Token Provider Errors` service log (severity Moderate) unless an
    /// identical one was posted in the last day (B37).
    async fn post_service_log(
        &self,
        cluster: &ExternalClusterId,
        description: &str,
    ) -> Result<ServiceLogOutcome, ApiError>;
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

/// Chooses the secret reader once app-interface said whether Vault is used (B5).
#[async_trait]
pub trait SecretBackend: Send + Sync {
    async fn reader(&self, vault: bool) -> Result<Arc<dyn SecretReader>, vault::SecretError>;
}

/// Builds the per-environment and per-tenant clients of a run.
pub trait Connector: Send + Sync {
    fn ocm(&self, env: &OcmEnvironment, client_secret: SecretString) -> Arc<dyn Ocm>;
    fn dynatrace(
        &self,
        env: &DynatraceEnvironment,
        bootstrap_token: SecretString,
    ) -> Arc<dyn Dynatrace>;
}
