//! A stateful, contract-faithful fake of one OCM environment (api-contracts §1): Red Hat SSO
//! client-credentials grants with expiring opaque tokens, accounts_mgmt labels and
//! subscriptions, clusters_mgmt clusters with their SyncSets/Manifests, and service logs. List
//! endpoints implement `search` (a real parser, see [`search`]), `order`, `page` and
//! `size` (default and maximum 100) with the `{kind, page, size, total, items}` envelope, and
//! every error is an OCM error body. It is seeded from an [`OcmFixture`] (YAML-friendly) and
//! exposes plain Rust inspection and mutation methods so tests can assert what was written
//! and change the world between runs. It is not a security boundary: client secrets are
//! compared in plain text, but they are never printed by `Debug`.
//!
//! Layout: [`fixture`] (the YAML world) and `state`/`seed` (the server state), whose
//! collections are `table`s (creation order, hash indexes, cached list selections, so a
//! request costs O(log n) or O(page) however large the world), one file per API (`sso`,
//! `accounts`, `clusters`, `external`, `service_logs`) over the shared `http` plumbing,
//! `world` (inspection and mutation for tests) and [`search`] (the search and order
//! languages).

mod accounts;
mod clusters;
mod external;
pub mod fixture;
mod http;
pub mod search;
mod seed;
mod service_logs;
mod sso;
mod state;
mod table;
mod world;

pub use fixture::{
    FixtureClient, FixtureCluster, FixtureOrganization, FixtureSubscription, Labels, OcmFixture,
};

use super::common::{Control, Served, serve};
use accounts::{get_subscription, list_labels, list_subscriptions};
use axum::Router;
use axum::middleware;
use axum::routing::{get, post};
use clusters::{get_cluster, list_clusters};
use external::{create_ext, delete_ext, get_ext, list_ext, patch_ext};
use http::not_found;
use service_logs::{create_cluster_log, list_cluster_logs};
use sso::{require_bearer, token};
use state::Db;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

/// Where the sandbox serves the SSO token endpoint (the production path on sso.redhat.com).
pub const SSO_TOKEN_PATH: &str = "/auth/realms/redhat-external/protocol/openid-connect/token";

/// One fake OCM environment. Cheap to clone (shared state).
#[derive(Clone)]
pub struct OcmSandbox {
    db: Arc<Mutex<Db>>,
}

impl fmt::Debug for OcmSandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let db = self.lock();
        f.debug_struct("OcmSandbox")
            .field(
                "clients",
                &db.clients.iter().map(|c| &c.client_id).collect::<Vec<_>>(),
            )
            .field("clusters", &db.clusters.len())
            .field("labels", &db.labels.len())
            .field("service_logs", &db.service_logs.len())
            .finish()
    }
}

impl OcmSandbox {
    /// Builds the world; panics on an inconsistent fixture (use [`Self::try_from_fixture`] to
    /// get the error instead).
    pub fn from_fixture(fixture: OcmFixture) -> Self {
        Self::try_from_fixture(fixture).unwrap_or_else(|e| panic!("invalid OCM fixture: {e}"))
    }

    /// Builds the world, rejecting duplicate ids, unknown states/statuses and bundles of the
    /// wrong kind for the cluster.
    pub fn try_from_fixture(fixture: OcmFixture) -> Result<Self, String> {
        let db = Db::from_fixture(fixture)?;
        Ok(Self {
            db: Arc::new(Mutex::new(db)),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Db> {
        // A panicking handler must not wedge the whole sandbox.
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The HTTP API (SSO token endpoint + OCM `/api/...`).
    pub fn router(&self) -> Router {
        let api = Router::new()
            .route("/api/accounts_mgmt/v1/labels", get(list_labels))
            .route(
                "/api/accounts_mgmt/v1/subscriptions",
                get(list_subscriptions),
            )
            .route(
                "/api/accounts_mgmt/v1/subscriptions/{id}",
                get(get_subscription),
            )
            .route("/api/clusters_mgmt/v1/clusters", get(list_clusters))
            .route("/api/clusters_mgmt/v1/clusters/{id}", get(get_cluster))
            .route(
                "/api/clusters_mgmt/v1/clusters/{id}/external_configuration/{collection}",
                get(list_ext).post(create_ext),
            )
            .route(
                "/api/clusters_mgmt/v1/clusters/{id}/external_configuration/{collection}/{item}",
                get(get_ext).patch(patch_ext).delete(delete_ext),
            )
            .route(
                "/api/service_logs/v1/clusters/cluster_logs",
                get(list_cluster_logs),
            )
            .route(
                "/api/service_logs/v1/cluster_logs",
                post(create_cluster_log),
            )
            .route_layer(middleware::from_fn_with_state(self.clone(), require_bearer));
        Router::new()
            .route(SSO_TOKEN_PATH, post(token))
            .merge(api)
            .fallback(not_found)
            .with_state(self.clone())
    }

    /// Serves the router on loopback as system `ocm:<env>`.
    pub async fn serve(&self, env: &str, control: Control) -> std::io::Result<Served> {
        serve(&format!("ocm:{env}"), self.router(), control).await
    }
}
