//! A stateful fake of qontract-server (app-interface GraphQL), following its contract
//! (api-contracts §4): bundles of datafiles keyed by sha, `POST /graphql` (latest bundle),
//! `POST /graphqlsha/{sha}` (a pinned bundle; an unknown sha falls through to Express's HTML
//! 404), `GET /sha256` (plain text), `GET /git-commit-info[/{sha}]`, 503 `No loaded data.`
//! before the first bundle, and optionally the nginx gate's `Authorization` check (401).
//!
//! Queries are really parsed, validated and executed by async-graphql against the schema
//! subset of `graphql/schema.graphql` (same type, field and argument names and nullability; a
//! test keeps the two identical). Like qontract-server, resolvers read the datafiles as JSON:
//! `schema` is `$schema`, `{$ref: path}` crossrefs are followed, `JSON` fields are returned as
//! JSON strings, a missing required field is a `Cannot return null for non-nullable field`
//! error, top-level fields take `path`, searchable fields (`name` of OCM environments,
//! clusters and namespaces) and the generic `filter` (`in`, `ne` — also `{"ne": null}` on a
//! crossref —, nested `filter`, equality; an unknown field is `BAD_FILTER_FIELD`), and
//! responses carry `extensions.schemas`. Parse and validation failures
//! are HTTP 400 with Apollo's `{"errors":[{message, locations, extensions: {code}}]}`.
//!
//! Bundles never expire by time; [`GraphqlSandbox::expire`] drops one (what a reload does to
//! shas unused for `BUNDLE_SHA_TTL`), and [`GraphqlSandbox::on_next_sha256`] lets a test
//! change the server right after a client read the latest sha.
//!
//! Layout: `bundle` (loaded datafiles by sha), `routes` (the HTTP surface), `execute`
//! (running a query, Apollo-shaped answers) with `request` (per-request data), `schema` (the
//! object types and resolvers), `values` (the JSON default resolver with graphql-js
//! coercion) and `filters` (top-level selection and the `filter` argument).

mod bundle;
mod execute;
mod filters;
mod request;
mod routes;
mod schema;
mod values;

pub use bundle::bundle_sha;

use super::common::{self, Control, Served};
use axum::Router;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::{get, post};
use bundle::Bundle;
use execute::{SandboxSchema, build_schema};
use routes::{
    commit_info, commit_info_latest, express_404, gate, graphql_latest, graphql_sha, redirect,
    sha256,
};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

type Hook = Box<dyn FnOnce(&GraphqlSandbox) + Send>;
/// The fake qontract-server. Cheap to clone (shared state).
#[derive(Clone)]
pub struct GraphqlSandbox {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<ServerState>,
    auth: Option<String>,
    schema: SandboxSchema,
}

#[derive(Default)]
struct ServerState {
    bundles: HashMap<String, Arc<Bundle>>,
    latest: Option<String>,
    after_sha_read: Vec<Hook>,
}

impl GraphqlSandbox {
    /// A server with one bundle (possibly empty) loaded from `datafiles` (`(path, content)`).
    /// With `auth`, every route but `/` requires exactly that `Authorization` header.
    pub fn new(datafiles: Vec<(String, Value)>, auth: Option<String>) -> Self {
        let sb = Self::unloaded(auth);
        sb.set_datafiles(datafiles);
        sb
    }

    /// A server that has not loaded any bundle yet: everything but `/` answers 503.
    pub fn unloaded(auth: Option<String>) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(ServerState::default()),
                auth,
                schema: build_schema(),
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ServerState> {
        self.inner.state.lock().expect("graphql sandbox lock")
    }

    /// Loads a bundle and makes it the latest; older bundles stay queryable by sha. Returns
    /// the new sha (unchanged when the same datafiles are already loaded).
    pub fn set_datafiles(&self, datafiles: Vec<(String, Value)>) -> String {
        let bundle = Bundle::new(datafiles);
        let sha = bundle.sha.clone();
        let mut st = self.state();
        st.bundles
            .entry(sha.clone())
            .or_insert_with(|| Arc::new(bundle));
        st.latest = Some(sha.clone());
        sha
    }

    /// The latest bundle's sha, if any bundle is loaded.
    pub fn latest_sha(&self) -> Option<String> {
        self.state().latest.clone()
    }

    /// Every loaded sha (sorted).
    pub fn shas(&self) -> Vec<String> {
        let mut v: Vec<String> = self.state().bundles.keys().cloned().collect();
        v.sort();
        v
    }

    /// Drops a bundle that is not the latest (as a reload drops shas unused for
    /// `BUNDLE_SHA_TTL`). Returns whether it was dropped.
    pub fn expire(&self, sha: &str) -> bool {
        let mut st = self.state();
        if st.latest.as_deref() == Some(sha) {
            return false;
        }
        st.bundles.remove(sha).is_some()
    }

    /// Runs `f` right after the next `GET /sha256` has computed its answer (before the client
    /// sees it): a deterministic way to swap or expire bundles mid-run.
    pub fn on_next_sha256(&self, f: impl FnOnce(&GraphqlSandbox) + Send + 'static) {
        self.state().after_sha_read.push(Box::new(f));
    }

    fn bundle(&self, sha: &str) -> Option<Arc<Bundle>> {
        self.state().bundles.get(sha).cloned()
    }

    fn latest(&self) -> Option<Arc<Bundle>> {
        let st = self.state();
        st.latest.as_ref().and_then(|s| st.bundles.get(s).cloned())
    }

    /// The schema the sandbox serves, as SDL.
    pub fn schema_sdl(&self) -> String {
        self.inner.schema.sdl()
    }

    /// The HTTP routes of qontract-server.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/", get(|| async { redirect("/graphql") }))
            .route("/graphql", post(graphql_latest).fallback(express_404))
            .route("/graphqlsha/{sha}", post(graphql_sha).fallback(express_404))
            .route("/sha256", get(sha256))
            .route("/git-commit-info", get(commit_info_latest))
            .route("/git-commit-info/{sha}", get(commit_info))
            .route("/healthz", get(|| async { StatusCode::OK }))
            .fallback(express_404)
            .layer(middleware::from_fn_with_state(self.clone(), gate))
            .with_state(self.clone())
    }

    /// Serves [`Self::router`] on loopback behind the shared recording/fault layer (system
    /// `graphql`).
    pub async fn serve(&self, control: Control) -> std::io::Result<Served> {
        common::serve("graphql", self.router(), control).await
    }
}

#[cfg(test)]
mod tests;
