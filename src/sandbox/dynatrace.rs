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

use crate::sandbox::common::{self, Control, Served};
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, SubsecRound, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

/// Scopes the token API accepts on create and update: the app-interface token-spec enum, the
/// scopes of the v2 API surface and the common v1 ones. Anything else is rejected with a
/// constraint violation, as the real API does for an unknown enum value.
pub const KNOWN_SCOPES: &[&str] = &[
    // app-interface `dynatrace-token-provider-token-spec-1.yml`
    "metrics.ingest",
    "logs.ingest",
    "events.ingest",
    "activeGateTokenManagement.create",
    "entities.read",
    "settings.write",
    "settings.read",
    "DataExport",
    "InstallerDownload",
    "SupportAlert",
    "ExternalSyntheticIntegration",
    // API v2
    "apiTokens.read",
    "apiTokens.write",
    "openTelemetryTrace.ingest",
    "metrics.read",
    "metrics.write",
    "logs.read",
    "events.read",
    "entities.write",
    "problems.read",
    "problems.write",
    "auditLogs.read",
    "activeGateTokenManagement.read",
    "activeGateTokenManagement.write",
    "activeGates.read",
    "activeGates.write",
    "bizevents.ingest",
    "credentialVault.read",
    "credentialVault.write",
    "extensions.read",
    "extensions.write",
    "extensionConfigurations.read",
    "extensionConfigurations.write",
    "extensionEnvironment.read",
    "extensionEnvironment.write",
    "networkZones.read",
    "networkZones.write",
    "oneAgents.read",
    "oneAgents.write",
    "releases.read",
    "securityProblems.read",
    "securityProblems.write",
    "slo.read",
    "slo.write",
    "syntheticLocations.read",
    "syntheticLocations.write",
    "tenantTokenRotation.write",
    "traces.lookup",
    // API v1
    "ReadConfig",
    "WriteConfig",
    "PluginUpload",
    "DcrumIntegration",
    "AdvancedSyntheticIntegration",
    "LogExport",
    "DTAQLAccess",
    "UserSessionAnonymization",
    "DataPrivacy",
    "CaptureRequestData",
    "Davis",
    "DssFileManagement",
    "RumJavaScriptTagManagement",
    "TenantTokenManagement",
    "ActiveGateCertManagement",
    "RestRequestForwarding",
    "ReadSyntheticData",
    "DataImport",
];

/// Every field an `ApiToken` can have, in the order the sandbox writes them.
const ALL_FIELDS: &[&str] = &[
    "id",
    "name",
    "enabled",
    "personalAccessToken",
    "owner",
    "creationDate",
    "expirationDate",
    "lastUsedDate",
    "lastUsedIpAddress",
    "modifiedDate",
    "scopes",
    "additionalMetadata",
];
/// The fields a list returns without `fields`.
const DEFAULT_FIELDS: &[&str] = &["id", "name", "enabled", "owner", "creationDate"];
const SORT_FIELDS: &[&str] = &[
    "name",
    "lastUsedDate",
    "creationDate",
    "expirationDate",
    "modifiedDate",
];
const MIN_PAGE_SIZE: usize = 100;
const MAX_PAGE_SIZE: usize = 10_000;
const DEFAULT_PAGE_SIZE: usize = 200;
/// Name and owner of a bootstrap token the fixture does not list itself.
const BOOTSTRAP_NAME: &str = "bootstrap";
const BOOTSTRAP_OWNER: &str = "dtp-bootstrap";
const AUTH_FAILED: &str = "Token Authentication failed";

// ---------------------------------------------------------------------------------------
// Fixture
// ---------------------------------------------------------------------------------------

/// The Dynatrace part of a sandbox fixture.
///
/// ```yaml
/// tenants:
///   - id: abc12345
///     bootstrap_token: dt0c01.BOOT....SECRET
///     tokens:                      # optional pre-existing tokens
///       - id: dt0c01.XXXX
///         name: dtp_operator-token_...
///         token: dt0c01.XXXX.SECRET  # optional: generated when absent
///         scopes: [entities.read]
///         enabled: true              # default true
///         expiration_date: null      # RFC 3339, default never
///         owner: svc                 # default: the bootstrap token's owner
///         creation_date: "2025-01-01T00:00:00Z"  # default: now
/// ```
///
/// The bootstrap token is a token of its tenant. List it under `tokens` (same `token` value)
/// to choose its id, name, scopes or owner; otherwise it is added with the name `bootstrap`,
/// owner `dtp-bootstrap` and the scopes `apiTokens.read`, `apiTokens.write`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynatraceFixture {
    #[serde(default)]
    pub tenants: Vec<FixtureTenant>,
}

/// One Dynatrace environment (tenant) of the fixture.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureTenant {
    pub id: String,
    /// The token dtp authenticates with (`Authorization: Api-Token …`).
    pub bootstrap_token: SecretString,
    #[serde(default)]
    pub tokens: Vec<FixtureToken>,
}

/// A token that exists before the run.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureToken {
    pub id: String,
    pub name: String,
    /// The full token (`<id>.<secret>`); generated when absent.
    #[serde(default)]
    pub token: Option<SecretString>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default)]
    pub expiration_date: Option<DateTime<Utc>>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub creation_date: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_used_date: Option<DateTime<Utc>>,
    #[serde(default)]
    pub personal_access_token: bool,
}

fn default_true() -> bool {
    true
}

impl FixtureToken {
    /// An enabled, never-expiring token with a generated value.
    pub fn new(id: impl Into<String>, name: impl Into<String>, scopes: &[&str]) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            token: None,
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            enabled: true,
            expiration_date: None,
            owner: None,
            creation_date: None,
            last_used_date: None,
            personal_access_token: false,
        }
    }
}

// ---------------------------------------------------------------------------------------
// State and inspection API
// ---------------------------------------------------------------------------------------

/// A token as the sandbox holds it, for test assertions. `token` is the full token
/// (`<id>.<secret>`), which the real API shows only once, at creation; plain text so tests
/// can compare it with what dtp delivered, but redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct SandboxToken {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub enabled: bool,
    pub expiration_date: Option<DateTime<Utc>>,
    pub owner: String,
    pub creation_date: DateTime<Utc>,
    pub modified_date: Option<DateTime<Utc>>,
    pub last_used_date: Option<DateTime<Utc>>,
    pub personal_access_token: bool,
    pub token: String,
}

impl fmt::Debug for SandboxToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxToken")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .field("enabled", &self.enabled)
            .field("expiration_date", &self.expiration_date)
            .field("owner", &self.owner)
            .field("creation_date", &self.creation_date)
            .field("modified_date", &self.modified_date)
            .field("last_used_date", &self.last_used_date)
            .field("personal_access_token", &self.personal_access_token)
            .field("token", &"[REDACTED]")
            .finish()
    }
}

impl SandboxToken {
    /// Enabled and not expired: the API would accept it.
    pub fn is_usable(&self) -> bool {
        self.enabled && self.expiration_date.is_none_or(|e| e > Utc::now())
    }
}

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

#[derive(Default)]
struct SandboxState {
    tenants: BTreeMap<String, Tenant>,
}

struct Tenant {
    bootstrap_id: String,
    /// In creation order.
    tokens: Vec<Token>,
}

struct Token {
    id: String,
    value: String,
    name: String,
    scopes: Vec<String>,
    enabled: bool,
    personal_access_token: bool,
    owner: String,
    creation_date: DateTime<Utc>,
    expiration_date: Option<DateTime<Utc>>,
    modified_date: Option<DateTime<Utc>>,
    last_used_date: Option<DateTime<Utc>>,
    last_used_ip: Option<String>,
}

impl Token {
    fn usable_at(&self, now: DateTime<Utc>) -> bool {
        self.enabled && self.expiration_date.is_none_or(|e| e > now)
    }

    fn view(&self) -> SandboxToken {
        SandboxToken {
            id: self.id.clone(),
            name: self.name.clone(),
            scopes: self.scopes.clone(),
            enabled: self.enabled,
            expiration_date: self.expiration_date,
            owner: self.owner.clone(),
            creation_date: self.creation_date,
            modified_date: self.modified_date,
            last_used_date: self.last_used_date,
            personal_access_token: self.personal_access_token,
            token: self.value.clone(),
        }
    }

    fn from_fixture(t: FixtureToken, default_owner: &str, now: DateTime<Utc>) -> Self {
        let value = t
            .token
            .map(|s| s.expose_secret().to_owned())
            .unwrap_or_else(|| format!("{}.{}", t.id, random_alnum(64)));
        Self {
            id: t.id,
            value,
            name: t.name,
            scopes: t.scopes,
            enabled: t.enabled,
            personal_access_token: t.personal_access_token,
            owner: t.owner.unwrap_or_else(|| default_owner.to_owned()),
            creation_date: t.creation_date.unwrap_or(now),
            expiration_date: t.expiration_date,
            modified_date: None,
            last_used_date: t.last_used_date,
            last_used_ip: None,
        }
    }
}

impl Tenant {
    /// The index of the token whose id, or whole value, is `key`.
    fn find(&self, key: &str) -> Option<usize> {
        self.tokens
            .iter()
            .position(|t| t.id == key || t.value == key)
    }

    fn bootstrap_owner(&self) -> String {
        self.tokens
            .iter()
            .find(|t| t.id == self.bootstrap_id)
            .map_or_else(|| BOOTSTRAP_OWNER.to_owned(), |t| t.owner.clone())
    }

    fn insert(&mut self, token: Token) -> Result<(), String> {
        if token.id.is_empty() || token.value.is_empty() {
            return Err("a token needs a non-empty id and value".to_owned());
        }
        if !token.value.starts_with(&format!("{}.", token.id)) {
            return Err(format!(
                "the value of token {} does not start with '{0}.'",
                token.id
            ));
        }
        if self.tokens.iter().any(|t| t.id == token.id) {
            return Err(format!("token {} exists twice", token.id));
        }
        if self.tokens.iter().any(|t| t.value == token.value) {
            return Err(format!("token {} has the value of another token", token.id));
        }
        self.tokens.push(token);
        Ok(())
    }

    /// A fresh `dt0c01.<24>` id and `<id>.<64>` value, unique in the tenant.
    fn new_id_and_value(&self) -> (String, String) {
        loop {
            let id = format!("dt0c01.{}", random_alnum(24));
            if self.tokens.iter().all(|t| t.id != id) {
                let value = format!("{id}.{}", random_alnum(64));
                return (id, value);
            }
        }
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
        let now = now();
        let mut state = SandboxState::default();
        for t in fixture.tenants {
            if t.id.is_empty() || t.id.contains(['/', '?', '#', '%', ' ']) {
                return Err(format!("tenant id '{}' cannot be a path segment", t.id));
            }
            if state.tenants.contains_key(&t.id) {
                return Err(format!("tenant {} exists twice", t.id));
            }
            let bootstrap = t.bootstrap_token.expose_secret().to_owned();
            if bootstrap.is_empty() {
                return Err(format!("tenant {} has an empty bootstrap token", t.id));
            }
            let listed = t.tokens.iter().position(|tok| {
                tok.token
                    .as_ref()
                    .is_some_and(|v| v.expose_secret() == bootstrap)
            });
            let bootstrap_owner = listed
                .and_then(|i| t.tokens[i].owner.clone())
                .unwrap_or_else(|| BOOTSTRAP_OWNER.to_owned());
            let mut tenant = Tenant {
                bootstrap_id: String::new(),
                tokens: Vec::new(),
            };
            match listed {
                Some(i) => tenant.bootstrap_id = t.tokens[i].id.clone(),
                None => {
                    let id = bootstrap_id_of(&bootstrap);
                    tenant.bootstrap_id = id.clone();
                    tenant.tokens.push(Token {
                        id,
                        value: bootstrap.clone(),
                        name: BOOTSTRAP_NAME.to_owned(),
                        scopes: vec!["apiTokens.read".to_owned(), "apiTokens.write".to_owned()],
                        enabled: true,
                        personal_access_token: false,
                        owner: BOOTSTRAP_OWNER.to_owned(),
                        creation_date: now,
                        expiration_date: None,
                        modified_date: None,
                        last_used_date: None,
                        last_used_ip: None,
                    });
                }
            }
            for tok in t.tokens {
                let is_bootstrap = tok
                    .token
                    .as_ref()
                    .is_some_and(|v| v.expose_secret() == bootstrap);
                let token = Token::from_fixture(tok, &bootstrap_owner, now);
                if is_bootstrap {
                    // A listed bootstrap token need not have the `<id>.<secret>` shape.
                    if tenant
                        .tokens
                        .iter()
                        .any(|x| x.id == token.id || x.value == token.value)
                    {
                        return Err(format!("tenant {}: token {} exists twice", t.id, token.id));
                    }
                    tenant.tokens.push(token);
                } else {
                    tenant
                        .insert(token)
                        .map_err(|e| format!("tenant {}: {e}", t.id))?;
                }
            }
            state.tenants.insert(t.id, tenant);
        }
        Ok(Self {
            state: Arc::new(Mutex::new(state)),
        })
    }

    /// The HTTP API, Managed-style: `/e/{tenant}/api/v2/apiTokens…`.
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

    /// The tenants, sorted.
    pub fn tenant_ids(&self) -> Vec<String> {
        self.lock().tenants.keys().cloned().collect()
    }

    /// The id of `tenant`'s bootstrap token.
    pub fn bootstrap_token_id(&self, tenant: &str) -> String {
        self.with_tenant(tenant, |t| t.bootstrap_id.clone())
    }

    /// `tenant`'s tokens in creation order, **without** its bootstrap token.
    pub fn tokens(&self, tenant: &str) -> Vec<SandboxToken> {
        self.with_tenant(tenant, |t| {
            t.tokens
                .iter()
                .filter(|x| x.id != t.bootstrap_id)
                .map(Token::view)
                .collect()
        })
    }

    /// `tenant`'s tokens in creation order, bootstrap token included (what the API lists).
    pub fn all_tokens(&self, tenant: &str) -> Vec<SandboxToken> {
        self.with_tenant(tenant, |t| t.tokens.iter().map(Token::view).collect())
    }

    /// One token, by id or full value.
    pub fn token(&self, tenant: &str, id: &str) -> Option<SandboxToken> {
        self.with_tenant(tenant, |t| t.find(id).map(|i| t.tokens[i].view()))
    }

    /// The full token (`<id>.<secret>`) of token `id`.
    pub fn token_value(&self, tenant: &str, id: &str) -> Option<String> {
        self.token(tenant, id).map(|t| t.token)
    }

    /// Enables or disables a token, as a user in the Dynatrace UI would. `false` when absent.
    pub fn set_enabled(&self, tenant: &str, id: &str, enabled: bool) -> bool {
        self.with_tenant_mut(tenant, |t| {
            t.find(id).map(|i| t.tokens[i].enabled = enabled).is_some()
        })
    }

    /// Makes a token expire now (its expiration date one second in the past). `false` when
    /// absent.
    pub fn expire(&self, tenant: &str, id: &str) -> bool {
        let when = now().trunc_subsecs(0) - Duration::seconds(1);
        self.with_tenant_mut(tenant, |t| {
            t.find(id)
                .map(|i| t.tokens[i].expiration_date = Some(when))
                .is_some()
        })
    }

    /// Deletes a token behind dtp's back. `false` when absent.
    pub fn remove(&self, tenant: &str, id: &str) -> bool {
        self.with_tenant_mut(tenant, |t| t.find(id).map(|i| t.tokens.remove(i)).is_some())
    }

    /// Creates an enabled, never-expiring token with a generated id and value, owned by the
    /// bootstrap token's owner, as if someone had created it through the API.
    pub fn add_token(&self, tenant: &str, name: &str, scopes: &[&str]) -> SandboxToken {
        let now = now();
        self.with_tenant_mut(tenant, |t| {
            let (id, value) = t.new_id_and_value();
            let token = Token {
                id,
                value,
                name: name.to_owned(),
                scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
                enabled: true,
                personal_access_token: false,
                owner: t.bootstrap_owner(),
                creation_date: now,
                expiration_date: None,
                modified_date: None,
                last_used_date: None,
                last_used_ip: None,
            };
            let view = token.view();
            t.tokens.push(token);
            view
        })
    }

    /// Adds a token exactly as described, or says why it cannot be added (duplicate id or
    /// value, value not starting with `<id>.`).
    pub fn insert_token(&self, tenant: &str, token: FixtureToken) -> Result<SandboxToken, String> {
        let now = now();
        self.with_tenant_mut(tenant, |t| {
            let token = Token::from_fixture(token, &t.bootstrap_owner(), now);
            let view = token.view();
            t.insert(token)?;
            Ok(view)
        })
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

// ---------------------------------------------------------------------------------------
// HTTP handlers
// ---------------------------------------------------------------------------------------

/// Which scope an endpoint needs (lookup needs only a valid token).
#[derive(Clone, Copy)]
enum Need {
    Read,
    Write,
    AnyValidToken,
}

async fn list_tokens(
    State(sb): State<DynatraceSandbox>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, Reject> {
    let now = now();
    let mut state = sb.lock();
    let tenant_state = authorize(&mut state, &tenant, &headers, Need::Read, now)?.0;
    let q = ListQuery::parse(&tenant, query.as_deref().unwrap_or(""))?;
    let mut matching: Vec<&Token> = tenant_state
        .tokens
        .iter()
        .filter(|t| q.matches(t))
        .collect();
    q.sort(&mut matching);
    let total = matching.len();
    let page: Vec<Value> = matching
        .iter()
        .skip(q.offset)
        .take(q.page_size)
        .map(|t| token_json(t, &q.fields))
        .collect();
    let end = q.offset + q.page_size;
    let next = (end < total).then(|| {
        ListQuery {
            offset: end,
            ..q.clone()
        }
        .cursor()
    });
    Ok(Json(json!({
        "totalCount": total,
        "pageSize": q.page_size,
        "nextPageKey": next,
        "apiTokens": page,
    }))
    .into_response())
}

async fn get_token(
    State(sb): State<DynatraceSandbox>,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Reject> {
    let now = now();
    let mut state = sb.lock();
    let tenant_state = authorize(&mut state, &tenant, &headers, Need::Read, now)?.0;
    match tenant_state.find(&id) {
        Some(i) => Ok(Json(token_json(&tenant_state.tokens[i], ALL_FIELDS)).into_response()),
        None => Err(token_not_found(&id)),
    }
}

async fn create_token(
    State(sb): State<DynatraceSandbox>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Reject> {
    let now = now();
    let mut state = sb.lock();
    let (tenant_state, caller) = authorize(&mut state, &tenant, &headers, Need::Write, now)?;
    let body = json_object(&headers, &body)?;
    let mut v = Violations::default();
    v.unknown_fields(
        &body,
        &["name", "scopes", "expirationDate", "personalAccessToken"],
    );
    let name = v.name(&body, true);
    let scopes = v.scopes(&body, true);
    let expiration = match body.get("expirationDate") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match parse_time(s, now) {
            Some(t) if t > now => Some(t.trunc_subsecs(3)),
            Some(_) => {
                v.add("expirationDate", "must be in the future");
                None
            }
            None => {
                v.add(
                    "expirationDate",
                    "must be UTC milliseconds, an ISO 8601 timestamp or relative (now+14d)",
                );
                None
            }
        },
        Some(Value::Number(n)) => match n.as_i64().and_then(DateTime::from_timestamp_millis) {
            Some(t) if t > now => Some(t),
            _ => {
                v.add("expirationDate", "must be in the future");
                None
            }
        },
        Some(_) => {
            v.add("expirationDate", "must be a string");
            None
        }
    };
    let personal = match body.get("personalAccessToken") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            v.add("personalAccessToken", "must be a boolean");
            false
        }
    };
    v.finish()?;
    // `name` and `scopes` are required: each is `None` only with a violation recorded.
    let (Some(name), Some(scopes)) = (name, scopes) else {
        return Err(error(StatusCode::BAD_REQUEST, "Constraints violated."));
    };
    let owner = tenant_state.tokens[caller].owner.clone();
    let (id, value) = tenant_state.new_id_and_value();
    let mut created = Map::new();
    created.insert("id".into(), json!(id));
    created.insert("token".into(), json!(value));
    if let Some(e) = expiration {
        created.insert("expirationDate".into(), json!(fmt_date(&e)));
    }
    let location = format!("/e/{tenant}/api/v2/apiTokens/{id}");
    tenant_state.tokens.push(Token {
        id,
        value,
        name,
        scopes,
        enabled: true,
        personal_access_token: personal,
        owner,
        creation_date: now,
        expiration_date: expiration,
        modified_date: None,
        last_used_date: None,
        last_used_ip: None,
    });
    let mut resp = (StatusCode::CREATED, Json(Value::Object(created))).into_response();
    if let Ok(loc) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(resp)
}

async fn update_token(
    State(sb): State<DynatraceSandbox>,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Reject> {
    let now = now();
    let mut state = sb.lock();
    let (tenant_state, caller) = authorize(&mut state, &tenant, &headers, Need::Write, now)?;
    let Some(index) = tenant_state.find(&id) else {
        return Err(token_not_found(&id));
    };
    let body = json_object(&headers, &body)?;
    let mut v = Violations::default();
    v.unknown_fields(&body, &["name", "enabled", "scopes"]);
    let name = v.name(&body, false);
    let scopes = v.scopes(&body, false);
    let enabled = match body.get("enabled") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            v.add("enabled", "must be a boolean");
            None
        }
    };
    if enabled == Some(false) && index == caller {
        v.add(
            "enabled",
            "the token used to authenticate this request cannot be disabled",
        );
    }
    v.finish()?;
    let token = &mut tenant_state.tokens[index];
    let mut modified = false;
    if let Some(name) = name {
        modified |= token.name != name;
        token.name = name;
    }
    if let Some(scopes) = scopes {
        modified |= token.scopes != scopes;
        token.scopes = scopes;
    }
    if let Some(enabled) = enabled {
        // Enabling or disabling does not change `modifiedDate`.
        token.enabled = enabled;
    }
    if modified {
        token.modified_date = Some(now);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn delete_token(
    State(sb): State<DynatraceSandbox>,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Reject> {
    let now = now();
    let mut state = sb.lock();
    let (tenant_state, caller) = authorize(&mut state, &tenant, &headers, Need::Write, now)?;
    let Some(index) = tenant_state.find(&id) else {
        return Err(token_not_found(&id));
    };
    if index == caller {
        return Err(violations(vec![Violation::new(
            "id",
            "the token used to authenticate this request cannot be deleted",
            "PATH",
        )]));
    }
    tenant_state.tokens.remove(index);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn lookup_token(
    State(sb): State<DynatraceSandbox>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Reject> {
    let now = now();
    let mut state = sb.lock();
    let tenant_state = authorize(&mut state, &tenant, &headers, Need::AnyValidToken, now)?.0;
    let body = json_object(&headers, &body)?;
    let mut v = Violations::default();
    v.unknown_fields(&body, &["token"]);
    let token = match body.get("token") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::String(_)) => {
            v.add("token", "must not be empty");
            None
        }
        None | Some(Value::Null) => {
            v.add("token", "must not be null");
            None
        }
        Some(_) => {
            v.add("token", "must be a string");
            None
        }
    };
    v.finish()?;
    let token = token.unwrap_or_default();
    match tenant_state.tokens.iter().find(|t| t.value == token) {
        Some(t) => Ok(Json(token_json(t, ALL_FIELDS)).into_response()),
        None => Err(error(StatusCode::NOT_FOUND, "Token not found")),
    }
}

/// Finds the tenant and checks the caller's token; on success, records its use and returns
/// the tenant and the caller's index.
fn authorize<'s>(
    state: &'s mut SandboxState,
    tenant: &str,
    headers: &HeaderMap,
    need: Need,
    now: DateTime<Utc>,
) -> Result<(&'s mut Tenant, usize), Reject> {
    let Some(t) = state.tenants.get_mut(tenant) else {
        return Err(error(
            StatusCode::NOT_FOUND,
            &format!("Environment '{tenant}' not found"),
        ));
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("Api-Token"))
        .map(|(_, token)| token.trim());
    let Some(presented) = presented.filter(|p| !p.is_empty()) else {
        return Err(error(StatusCode::UNAUTHORIZED, AUTH_FAILED));
    };
    let Some(caller) = t
        .tokens
        .iter()
        .position(|x| x.value == presented && x.usable_at(now))
    else {
        return Err(error(StatusCode::UNAUTHORIZED, AUTH_FAILED));
    };
    let scope = match need {
        Need::Read => Some("apiTokens.read"),
        Need::Write => Some("apiTokens.write"),
        Need::AnyValidToken => None,
    };
    if let Some(scope) = scope
        && !t.tokens[caller].scopes.iter().any(|s| s == scope)
    {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            &format!("Token is missing required scope. Use one of: {scope}"),
        ));
    }
    let c = &mut t.tokens[caller];
    c.last_used_date = Some(now);
    c.last_used_ip = Some("127.0.0.1".to_owned());
    Ok((t, caller))
}

/// The request body as a JSON object, or the 415/400 the API would answer.
fn json_object(headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, Reject> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    if !is_json {
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content type must be application/json",
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(error(
            StatusCode::BAD_REQUEST,
            "Could not map JSON: expected an object",
        )),
        Err(e) => Err(error(
            StatusCode::BAD_REQUEST,
            &format!(
                "Could not map JSON at '' near line {} column {}",
                e.line(),
                e.column()
            ),
        )),
    }
}

fn token_not_found(key: &str) -> Reject {
    // `{id}` may be a whole token: name only its public part.
    let id = public_part(key);
    error(
        StatusCode::NOT_FOUND,
        &format!("Token with ID '{id}' not found"),
    )
}

/// `prefix.public` of `prefix.public.secret`; anything else unchanged.
fn public_part(key: &str) -> &str {
    match key.match_indices('.').nth(1) {
        Some((i, _)) => &key[..i],
        None => key,
    }
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

/// An error answer: an `ErrorEnvelope`, with constraint violations for a 400.
enum Reject {
    Error(StatusCode, String),
    Violations(Vec<Violation>),
}

impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            Self::Error(status, message) => (
                status,
                json!({"error": {"code": status.as_u16(), "message": message}}),
            ),
            Self::Violations(vs) => {
                let list: Vec<Value> = vs
                    .into_iter()
                    .map(|v| {
                        json!({"path": v.path, "message": v.message,
                               "parameterLocation": v.location, "location": null})
                    })
                    .collect();
                (
                    StatusCode::BAD_REQUEST,
                    json!({"error": {"code": 400, "message": "Constraints violated.",
                                     "constraintViolations": list}}),
                )
            }
        };
        (status, Json(body)).into_response()
    }
}

fn error(status: StatusCode, message: &str) -> Reject {
    Reject::Error(status, message.to_owned())
}

struct Violation {
    path: String,
    message: String,
    location: &'static str,
}

impl Violation {
    fn new(path: &str, message: &str, location: &'static str) -> Self {
        Self {
            path: path.to_owned(),
            message: message.to_owned(),
            location,
        }
    }
}

fn violations(vs: Vec<Violation>) -> Reject {
    Reject::Violations(vs)
}

/// Body violations collected while validating a request.
#[derive(Default)]
struct Violations(Vec<Violation>);

impl Violations {
    fn add(&mut self, path: &str, message: &str) {
        self.0.push(Violation::new(path, message, "PAYLOAD_BODY"));
    }

    /// `Err` with every violation when there is any.
    fn finish(self) -> Result<(), Reject> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(violations(self.0))
        }
    }

    fn unknown_fields(&mut self, body: &Map<String, Value>, known: &[&str]) {
        for key in body.keys().filter(|k| !known.contains(&k.as_str())) {
            self.add(key, "unrecognized field");
        }
    }

    /// `name`: a non-empty string; `None` (with a violation when required) otherwise.
    fn name(&mut self, body: &Map<String, Value>, required: bool) -> Option<String> {
        match body.get("name") {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            Some(Value::String(_)) => {
                self.add("name", "must not be empty");
                None
            }
            None | Some(Value::Null) => {
                if required {
                    self.add("name", "must not be null");
                }
                None
            }
            Some(_) => {
                self.add("name", "must be a string");
                None
            }
        }
    }

    /// `scopes`: a non-empty array of known scopes, de-duplicated in order.
    fn scopes(&mut self, body: &Map<String, Value>, required: bool) -> Option<Vec<String>> {
        let list = match body.get("scopes") {
            Some(Value::Array(a)) => a,
            None | Some(Value::Null) => {
                if required {
                    self.add("scopes", "must not be null");
                }
                return None;
            }
            Some(_) => {
                self.add("scopes", "must be an array of scopes");
                return None;
            }
        };
        if list.is_empty() {
            self.add("scopes", "must not be empty");
            return None;
        }
        let mut scopes: Vec<String> = Vec::new();
        let mut ok = true;
        for (i, s) in list.iter().enumerate() {
            match s.as_str() {
                Some(s) if KNOWN_SCOPES.contains(&s) => {
                    if !scopes.iter().any(|x| x == s) {
                        scopes.push(s.to_owned());
                    }
                }
                Some(s) => {
                    ok = false;
                    self.add(&format!("scopes[{i}]"), &format!("unknown scope '{s}'"));
                }
                None => {
                    ok = false;
                    self.add(&format!("scopes[{i}]"), "must be a string");
                }
            }
        }
        ok.then_some(scopes)
    }
}

// ---------------------------------------------------------------------------------------
// Listing: query parameters and the opaque cursor
// ---------------------------------------------------------------------------------------

/// A validated list query. Serialised (with the tenant and offset) into `nextPageKey`, so a
/// later page is the same query further on, as with the real cursor.
#[derive(Clone, Serialize, Deserialize)]
struct ListQuery {
    tenant: String,
    page_size: usize,
    fields: Vec<String>,
    sort_field: String,
    sort_descending: bool,
    owner: Option<String>,
    personal: Option<bool>,
    any_scope: Option<Vec<String>>,
    /// Last-use window, UTC milliseconds.
    from: Option<i64>,
    to: Option<i64>,
    offset: usize,
}

impl ListQuery {
    fn parse(tenant: &str, raw: &str) -> Result<Self, Reject> {
        let mut params: BTreeMap<String, String> = BTreeMap::new();
        let mut vs = Vec::new();
        for (k, v) in url::form_urlencoded::parse(raw.as_bytes()) {
            if params.insert(k.to_string(), v.to_string()).is_some() {
                vs.push(Violation::new(&k, "must be given at most once", "QUERY"));
            }
        }
        if !vs.is_empty() {
            return Err(violations(vs));
        }
        if let Some(key) = params.get("nextPageKey") {
            if params.len() > 1 {
                let others: Vec<&str> = params
                    .keys()
                    .map(String::as_str)
                    .filter(|k| *k != "nextPageKey")
                    .collect();
                return Err(violations(vec![Violation::new(
                    "nextPageKey",
                    &format!(
                        "no other query parameter may be given with nextPageKey (got {})",
                        others.join(", ")
                    ),
                    "QUERY",
                )]));
            }
            return Self::from_cursor(tenant, key).ok_or_else(|| {
                violations(vec![Violation::new(
                    "nextPageKey",
                    "invalid nextPageKey",
                    "QUERY",
                )])
            });
        }
        let now = now();
        let mut q = Self {
            tenant: tenant.to_owned(),
            page_size: DEFAULT_PAGE_SIZE,
            fields: DEFAULT_FIELDS.iter().map(|s| (*s).to_owned()).collect(),
            sort_field: "creationDate".to_owned(),
            sort_descending: true,
            owner: None,
            personal: None,
            any_scope: None,
            from: None,
            to: None,
            offset: 0,
        };
        for (k, v) in &params {
            let result = match k.as_str() {
                "pageSize" => parse_page_size(v).map(|n| q.page_size = n),
                "fields" => parse_fields(v).map(|f| q.fields = f),
                "sort" => parse_sort(v).map(|(f, desc)| {
                    q.sort_field = f;
                    q.sort_descending = desc;
                }),
                "apiTokenSelector" => parse_selector(v).map(|s| {
                    q.owner = s.owner;
                    q.personal = s.personal;
                    q.any_scope = s.scopes;
                }),
                "from" | "to" => match parse_time(v, now) {
                    Some(t) if k == "from" => {
                        q.from = Some(t.timestamp_millis());
                        Ok(())
                    }
                    Some(t) => {
                        q.to = Some(t.timestamp_millis());
                        Ok(())
                    }
                    None => Err(
                        "must be UTC milliseconds, an ISO 8601 timestamp or relative (now-2h)"
                            .to_owned(),
                    ),
                },
                other => Err(format!("unknown query parameter '{other}'")),
            };
            if let Err(message) = result {
                vs.push(Violation::new(k, &message, "QUERY"));
            }
        }
        if vs.is_empty() {
            Ok(q)
        } else {
            Err(violations(vs))
        }
    }

    fn cursor(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("a list query serialises"))
    }

    fn from_cursor(tenant: &str, key: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(key.trim()).ok()?;
        let q: Self = serde_json::from_slice(&bytes).ok()?;
        (q.tenant == tenant && (MIN_PAGE_SIZE..=MAX_PAGE_SIZE).contains(&q.page_size)).then_some(q)
    }

    fn matches(&self, t: &Token) -> bool {
        self.owner.as_ref().is_none_or(|o| &t.owner == o)
            && self.personal.is_none_or(|p| t.personal_access_token == p)
            && self
                .any_scope
                .as_ref()
                .is_none_or(|any| t.scopes.iter().any(|s| any.contains(s)))
            && (self.from.is_none() && self.to.is_none()
                || t.last_used_date.is_some_and(|used| {
                    let ms = used.timestamp_millis();
                    self.from.is_none_or(|f| ms >= f) && self.to.is_none_or(|to| ms <= to)
                }))
    }

    fn sort(&self, tokens: &mut [&Token]) {
        let key_date = |t: &Token| match self.sort_field.as_str() {
            "lastUsedDate" => t.last_used_date,
            "expirationDate" => t.expiration_date,
            "modifiedDate" => t.modified_date,
            _ => Some(t.creation_date),
        };
        // Stable: ties keep creation order, so pages never overlap.
        tokens.sort_by(|a, b| {
            let ord = if self.sort_field == "name" {
                a.name.cmp(&b.name)
            } else {
                key_date(a).cmp(&key_date(b))
            };
            if self.sort_descending {
                ord.reverse()
            } else {
                ord
            }
        });
    }
}

fn parse_page_size(v: &str) -> Result<usize, String> {
    let n: i64 = v
        .trim()
        .parse()
        .map_err(|_| "must be an integer".to_owned())?;
    if n < MIN_PAGE_SIZE as i64 {
        Err(format!("must be greater than or equal to {MIN_PAGE_SIZE}"))
    } else if n > MAX_PAGE_SIZE as i64 {
        Err(format!("must be less than or equal to {MAX_PAGE_SIZE}"))
    } else {
        Ok(n as usize)
    }
}

/// `fields`: `+x`/`-x` modify the defaults, otherwise the list replaces them; `id` is always
/// returned. A `+` sent unencoded arrives as a space and is rejected as an unknown field.
fn parse_fields(v: &str) -> Result<Vec<String>, String> {
    let items: Vec<&str> = v.split(',').filter(|s| !s.is_empty()).collect();
    if items.is_empty() {
        return Err("must not be empty".to_owned());
    }
    let modifies = items.iter().any(|s| s.starts_with(['+', '-']));
    let mut set: BTreeSet<&str> = if modifies {
        DEFAULT_FIELDS.iter().copied().collect()
    } else {
        BTreeSet::new()
    };
    for item in items {
        let (remove, name) = match item.split_at_checked(1) {
            Some(("+", rest)) => (false, rest),
            Some(("-", rest)) => (true, rest),
            _ => (false, item),
        };
        let Some(field) = ALL_FIELDS.iter().copied().find(|f| *f == name) else {
            return Err(format!("unknown field '{name}'"));
        };
        if remove {
            set.remove(field);
        } else {
            set.insert(field);
        }
    }
    set.insert("id");
    Ok(ALL_FIELDS
        .iter()
        .filter(|f| set.contains(*f))
        .map(|f| (*f).to_owned())
        .collect())
}

fn parse_sort(v: &str) -> Result<(String, bool), String> {
    let (desc, name) = match v.split_at_checked(1) {
        Some(("-", rest)) => (true, rest),
        Some(("+", rest)) => (false, rest),
        _ => (false, v),
    };
    if SORT_FIELDS.contains(&name) {
        Ok((name.to_owned(), desc))
    } else {
        Err(format!(
            "unknown sort field '{name}'; use one of {}",
            SORT_FIELDS.join(", ")
        ))
    }
}

#[derive(Default)]
struct Selector {
    owner: Option<String>,
    personal: Option<bool>,
    scopes: Option<Vec<String>>,
}

/// `apiTokenSelector`: comma-separated `owner("x")`, `personalAccessToken(false)`,
/// `scope("a","b")`; values in quotes, `~` escapes a quote or a tilde.
fn parse_selector(v: &str) -> Result<Selector, String> {
    let mut sel = Selector::default();
    let mut chars = v.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            break;
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '(')).collect();
        if chars.next() != Some('(') {
            return Err(format!("criterion '{}' has no '('", key.trim()));
        }
        let mut args = Vec::new();
        loop {
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            let arg = if chars.next_if_eq(&'"').is_some() {
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some('~') => s.push(chars.next().ok_or("dangling '~'")?),
                        Some('"') => break,
                        Some(c) => s.push(c),
                        None => return Err("unterminated quote".to_owned()),
                    }
                }
                s
            } else {
                std::iter::from_fn(|| chars.next_if(|c| *c != ',' && *c != ')'))
                    .collect::<String>()
                    .trim()
                    .to_owned()
            };
            args.push(arg);
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            match chars.next() {
                Some(',') => continue,
                Some(')') => break,
                _ => return Err(format!("criterion '{}' is not closed", key.trim())),
            }
        }
        match (key.trim(), args.as_slice()) {
            ("owner", [o]) => sel.owner = Some(o.clone()),
            ("personalAccessToken", [b]) => {
                sel.personal = Some(
                    b.parse()
                        .map_err(|_| "personalAccessToken needs true or false")?,
                )
            }
            ("scope", scopes) if !scopes.is_empty() => sel.scopes = Some(scopes.to_vec()),
            (other, _) => return Err(format!("unknown or malformed criterion '{other}'")),
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        match chars.next() {
            None => break,
            Some(',') => continue,
            Some(c) => return Err(format!("unexpected '{c}' after a criterion")),
        }
    }
    Ok(sel)
}

// ---------------------------------------------------------------------------------------
// Formats
// ---------------------------------------------------------------------------------------

/// The JSON of a token with `fields` (never its value).
fn token_json<S: AsRef<str>>(t: &Token, fields: &[S]) -> Value {
    let mut m = Map::new();
    for field in fields {
        let value = match field.as_ref() {
            "id" => json!(t.id),
            "name" => json!(t.name),
            "enabled" => json!(t.enabled),
            "personalAccessToken" => json!(t.personal_access_token),
            "owner" => json!(t.owner),
            "creationDate" => json!(fmt_date(&t.creation_date)),
            "expirationDate" => match &t.expiration_date {
                Some(d) => json!(fmt_date(d)),
                None => continue,
            },
            "lastUsedDate" => match &t.last_used_date {
                Some(d) => json!(fmt_date(d)),
                None => continue,
            },
            "lastUsedIpAddress" => match &t.last_used_ip {
                Some(ip) => json!(ip),
                None => continue,
            },
            "modifiedDate" => match &t.modified_date {
                Some(d) => json!(fmt_date(d)),
                None => continue,
            },
            "scopes" => json!(t.scopes),
            _ => continue,
        };
        m.insert(field.as_ref().to_owned(), value);
    }
    Value::Object(m)
}

/// `yyyy-MM-ddTHH:mm:ss.SSSZ`, without `.SSS` when the milliseconds are zero (as Dynatrace).
pub fn fmt_date(d: &DateTime<Utc>) -> String {
    if d.timestamp_subsec_millis() == 0 {
        d.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
    }
}

/// A time as the API accepts it: UTC milliseconds, ISO 8601, or relative to now
/// (`now`, `now-2h`, `now+14d`; units s, m, h, d, w, M = 30 days, y = 365 days).
fn parse_time(s: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(ms) = s.parse::<i64>() {
        return DateTime::from_timestamp_millis(ms);
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    let rel = s.strip_prefix("now")?;
    if rel.is_empty() {
        return Some(now);
    }
    let (sign, rest) = match rel.split_at_checked(1)? {
        ("+", rest) => (1, rest),
        ("-", rest) => (-1, rest),
        _ => return None,
    };
    let unit_at = rest.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = rest.split_at(unit_at);
    let n: i64 = n.parse().ok()?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        "M" => 30 * 86_400,
        "y" => 365 * 86_400,
        _ => return None,
    };
    now.checked_add_signed(Duration::try_seconds(sign * n.checked_mul(secs)?)?)
}

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

/// The id of a bootstrap token the fixture does not list: `prefix.public` when the value has
/// the `prefix.public.secret` shape, else a stable id derived from it.
fn bootstrap_id_of(value: &str) -> String {
    let parts: Vec<&str> = value.split('.').collect();
    if parts.len() == 3 && parts.iter().all(|p| !p.is_empty()) {
        return format!("{}.{}", parts[0], parts[1]);
    }
    let digest = Sha256::digest(value.as_bytes());
    let public: String = digest.iter().take(24).map(|b| alnum(*b)).collect();
    format!("dt0c01.{public}")
}

const ALPHABET: &[u8; 36] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

fn alnum(b: u8) -> char {
    char::from(ALPHABET[usize::from(b) % ALPHABET.len()])
}

/// `n` random upper-case letters and digits, unbiased.
fn random_alnum(n: usize) -> String {
    let mut out = String::with_capacity(n);
    while out.len() < n {
        let seed = uuid::Uuid::new_v4();
        for b in Sha256::digest(seed.as_bytes()) {
            // 252 = 7 * 36: rejecting larger bytes keeps every character equally likely.
            if b < 252 && out.len() < n {
                out.push(alnum(b));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn fixture(yaml: &str) -> DynatraceFixture {
        serde_saphyr::from_str(yaml).expect("fixture parses")
    }

    #[test]
    fn the_bootstrap_token_is_a_token_of_its_tenant_unless_listed() {
        let sb = DynatraceSandbox::from_fixture(fixture(
            r#"
tenants:
  - id: t1
    bootstrap_token: dt0c01.BOOT.S1
  - id: t2
    bootstrap_token: dt0c01.OWN.S2
    tokens:
      - {id: dt0c01.OWN, name: admin, token: dt0c01.OWN.S2, scopes: [apiTokens.read], owner: me}
      - {id: dt0c01.X, name: dtp_x, scopes: [logs.ingest]}
"#,
        ));
        assert_eq!(sb.bootstrap_token_id("t1"), "dt0c01.BOOT");
        assert!(sb.tokens("t1").is_empty());
        assert_eq!(
            sb.all_tokens("t1")[0].scopes,
            ["apiTokens.read", "apiTokens.write"]
        );
        assert_eq!(sb.bootstrap_token_id("t2"), "dt0c01.OWN");
        let x = &sb.tokens("t2")[0];
        assert_eq!((x.owner.as_str(), x.enabled), ("me", true));
        assert!(x.token.starts_with("dt0c01.X.") && x.token.len() == "dt0c01.X.".len() + 64);
    }

    #[test]
    fn inconsistent_fixtures_are_refused() {
        for (yaml, why) in [
            (
                "tenants:\n- {id: t, bootstrap_token: b}\n- {id: t, bootstrap_token: c}\n",
                "twice",
            ),
            (
                "tenants:\n- id: t\n  bootstrap_token: b\n  tokens:\n  - {id: dt0c01.A, name: a, token: dt0c01.B.S}\n",
                "does not start",
            ),
            (
                "tenants:\n- id: t\n  bootstrap_token: b\n  tokens:\n  - {id: dt0c01.A, name: a}\n  - {id: dt0c01.A, name: b}\n",
                "twice",
            ),
            (
                "tenants:\n- {id: a/b, bootstrap_token: b}\n",
                "path segment",
            ),
        ] {
            let err = DynatraceSandbox::try_from_fixture(fixture(yaml)).unwrap_err();
            assert!(err.contains(why), "{yaml}: {err}");
        }
        assert!(serde_saphyr::from_str::<DynatraceFixture>("tenants: []\nextra: 1\n").is_err());
    }

    #[test]
    fn dates_drop_zero_milliseconds() {
        let d = Utc.with_ymd_and_hms(2025, 1, 20, 21, 37, 2).unwrap();
        assert_eq!(fmt_date(&d), "2025-01-20T21:37:02Z");
        assert_eq!(
            fmt_date(&(d + Duration::milliseconds(7))),
            "2025-01-20T21:37:02.007Z"
        );
    }

    #[test]
    fn fields_take_modifiers_or_an_explicit_list() {
        assert_eq!(
            parse_fields("+expirationDate,+scopes,-owner").unwrap(),
            [
                "id",
                "name",
                "enabled",
                "creationDate",
                "expirationDate",
                "scopes"
            ]
        );
        assert_eq!(parse_fields("name").unwrap(), ["id", "name"]);
        assert!(parse_fields(" expirationDate").is_err());
        assert!(parse_fields("+secret").is_err());
    }

    #[test]
    fn selectors_parse_owner_scope_and_personal_flag() {
        let s = parse_selector(
            r#"owner("john.smith"), scope("metrics.ingest","lo~"gs"),personalAccessToken(false)"#,
        )
        .unwrap();
        assert_eq!(s.owner.as_deref(), Some("john.smith"));
        assert_eq!(s.personal, Some(false));
        assert_eq!(s.scopes.unwrap(), ["metrics.ingest", "lo\"gs"]);
        assert!(parse_selector("owner(").is_err());
        assert!(parse_selector("colour(\"red\")").is_err());
    }

    #[test]
    fn relative_and_absolute_times_parse() {
        let now = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(parse_time("now+14d", now), Some(now + Duration::days(14)));
        assert_eq!(parse_time("now-2h", now), Some(now - Duration::hours(2)));
        assert_eq!(parse_time("1735689600000", now), Some(now));
        assert_eq!(parse_time("2025-01-01T00:00:00.000Z", now), Some(now));
        assert_eq!(parse_time("now+14", now), None);
        assert_eq!(parse_time("tomorrow", now), None);
    }

    #[test]
    fn generated_secrets_have_the_documented_shape() {
        let v = random_alnum(64);
        assert_eq!(v.len(), 64);
        assert!(
            v.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        );
        assert_eq!(bootstrap_id_of("dt0c01.BOOT.SECRET"), "dt0c01.BOOT");
        assert_eq!(bootstrap_id_of("plain").len(), "dt0c01.".len() + 24);
        assert_eq!(public_part("dt0c01.A.SECRET"), "dt0c01.A");
        assert_eq!(public_part("dt0c01.A"), "dt0c01.A");
    }
}
