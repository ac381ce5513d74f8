//! A stateful, in-process fake of the Dynatrace Environment API v2 access-token endpoints
//! (`/api/v2/apiTokens`, see `api-contracts.md` §2) for several tenants on one server, with
//! Managed-style paths: the environment URL of tenant `t` is `<server>/e/t`. It enforces what
//! the real API enforces and a client can get wrong: `Api-Token` authentication against the
//! tenant's own tokens (enabled, unexpired, with `apiTokens.read`/`apiTokens.write`),
//! `pageSize` bounds, `nextPageKey` alone on later pages, `fields` modifiers, body validation
//! with `ErrorEnvelope` constraint violations, known scopes, and that the calling token can
//! neither disable nor delete itself. Dates are written as Dynatrace does (`.SSS` dropped when
//! the milliseconds are zero). Each tenant's bootstrap token is itself a token of the tenant.
//! It is stricter than the real API where that catches client mistakes: unknown query
//! parameters and body fields are refused with a 400, and so is a `+` sent unencoded.
//! Tests inspect and change the state through Rust methods ([`DynatraceSandbox::tokens`],
//! [`DynatraceSandbox::set_enabled`], …); apart from the answer to a create, they are the only
//! place a token value is shown.
//! Request recording and fault injection are the job of [`crate::sandbox::common::serve`].
//!
//! For the log-ingest reconcile it also fakes, per tenant, the `HOST_GROUP` entities
//! (`/api/v2/entities`, scope `entities.read`) and the Settings 2.0 objects of
//! `builtin:logmonitoring.log-storage-settings` (`/api/v2/settings/objects`, scopes
//! `settings.read`/`settings.write`, `log-ingest-rules.md` §1.3–1.5): paged lists with a
//! dangling `HOST_GROUP-…` scope answered 404, per-item create answers (200/207/400),
//! `validateOnly`, optimistic locking by `updateToken` (409), strict value validation and the
//! UNIQUE title per scope. Tests seed and inspect them with
//! [`DynatraceSandbox::add_host_group`], [`DynatraceSandbox::seed_settings_object`] and
//! [`DynatraceSandbox::settings_objects`].

//!
//! Layout: [`fixture`] (the YAML world and how it seeds the state), `state` (tenants and
//! their tokens, indexed by id and value, with cached list selections, so no request scans a
//! tenant), `world` (inspection and mutation for tests), `handlers` (the endpoints) with
//! `auth` (the `Api-Token` check), `query` (list parameters and the cursor), `validate`
//! (body validation), `errors` (the `ErrorEnvelope`) and `format` (JSON and dates); for
//! settings, `settings` (host groups and objects), `schema` (value validation),
//! `settings_query`, `settings_handlers`, `entities` and `settings_world` (tests' methods).

mod auth;
mod constants;
mod entities;
mod errors;
pub mod fixture;
mod format;
mod handlers;
mod query;
mod schema;
mod settings;
mod settings_handlers;
mod settings_query;
mod settings_world;
mod state;
mod validate;
mod world;

pub use constants::KNOWN_SCOPES;
pub use fixture::{DynatraceFixture, FixtureTenant, FixtureToken};
pub use format::fmt_date;
pub use settings::SettingsObjectView;
pub use state::SandboxToken;

use crate::sandbox::common::{self, Control, Served};
use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use entities::list_entities;
use errors::error;
use handlers::{create_token, delete_token, get_token, list_tokens, lookup_token, update_token};
use settings_handlers::{create_objects, delete_object, get_object, list_objects, update_object};
use state::{SandboxState, Tenant};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

/// The fake Dynatrace server's state, shared by the router and the test. Cheap to clone.
///
/// Inspection methods panic on an unknown tenant (a mistake in the test) and report an
/// unknown token through their return value.
#[derive(Clone)]
pub struct DynatraceSandbox {
    state: Arc<Mutex<SandboxState>>,
}

impl fmt::Debug for DynatraceSandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        let mut d = f.debug_struct("DynatraceSandbox");
        for (id, tenant) in &state.tenants {
            d.field(id, &format_args!("{} tokens", tenant.tokens.len()));
        }
        d.finish()
    }
}

impl DynatraceSandbox {
    /// A sandbox seeded from `fixture`. Panics on an inconsistent fixture (duplicate tenant
    /// or token ids, a token value that does not start with its id); see
    /// [`Self::try_from_fixture`].
    pub fn from_fixture(fixture: DynatraceFixture) -> Self {
        Self::try_from_fixture(fixture).unwrap_or_else(|e| panic!("invalid Dynatrace fixture: {e}"))
    }

    /// A sandbox seeded from `fixture`, or why the fixture is inconsistent.
    pub fn try_from_fixture(fixture: DynatraceFixture) -> Result<Self, String> {
        let state = SandboxState::from_fixture(fixture)?;
        Ok(Self {
            state: Arc::new(Mutex::new(state)),
        })
    }

    /// The HTTP API, Managed-style: `/e/{tenant}/api/v2/apiTokens…`, `…/entities` and
    /// `…/settings/objects…`.
    pub fn router(&self) -> Router {
        Router::new()
            .route(
                "/e/{tenant}/api/v2/apiTokens",
                get(list_tokens).post(create_token),
            )
            .route("/e/{tenant}/api/v2/apiTokens/lookup", post(lookup_token))
            .route(
                "/e/{tenant}/api/v2/apiTokens/{id}",
                get(get_token).put(update_token).delete(delete_token),
            )
            .route("/e/{tenant}/api/v2/entities", get(list_entities))
            .route(
                "/e/{tenant}/api/v2/settings/objects",
                get(list_objects).post(create_objects),
            )
            .route(
                "/e/{tenant}/api/v2/settings/objects/{object_id}",
                get(get_object).put(update_object).delete(delete_object),
            )
            .fallback(|| async { error(StatusCode::NOT_FOUND, "Not found") })
            .with_state(self.clone())
    }

    /// Serves [`Self::router`] on a loopback port behind the recording and fault layer.
    pub async fn serve(&self, control: Control) -> std::io::Result<Served> {
        common::serve("dynatrace", self.router(), control).await
    }

    /// The environment URL of `tenant` on a server at `server_url` (`http://127.0.0.1:PORT`).
    pub fn environment_url(server_url: &str, tenant: &str) -> String {
        format!("{}/e/{tenant}", server_url.trim_end_matches('/'))
    }

    fn lock(&self) -> MutexGuard<'_, SandboxState> {
        // A panicking test thread must not take every later request down with it.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn with_tenant<R>(&self, tenant: &str, f: impl FnOnce(&Tenant) -> R) -> R {
        let state = self.lock();
        let t = state
            .tenants
            .get(tenant)
            .unwrap_or_else(|| panic!("the sandbox has no Dynatrace tenant '{tenant}'"));
        f(t)
    }

    fn with_tenant_mut<R>(&self, tenant: &str, f: impl FnOnce(&mut Tenant) -> R) -> R {
        let mut state = self.lock();
        let t = state
            .tenants
            .get_mut(tenant)
            .unwrap_or_else(|| panic!("the sandbox has no Dynatrace tenant '{tenant}'"));
        f(t)
    }
}

#[cfg(test)]
mod settings_tests;
#[cfg(test)]
mod tests;
