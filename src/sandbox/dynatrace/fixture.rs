//! The Dynatrace part of a sandbox fixture ([`DynatraceFixture`]: tenants, their bootstrap
//! token and pre-existing tokens) and how it seeds the server state, rejecting inconsistent
//! fixtures (duplicate tenants or tokens, a value that does not start with its id).

use super::constants::BOOTSTRAP_OWNER;
use super::settings::Settings;
use super::state::{SandboxState, Tenant, Token, Tokens, bootstrap_id_of, now, random_alnum};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
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

impl SandboxState {
    /// The state of `fixture`, or why the fixture is inconsistent.
    pub(super) fn from_fixture(fixture: DynatraceFixture) -> Result<Self, String> {
        let now = now();
        let mut state = SandboxState::default();
        for t in fixture.tenants {
            if t.id.is_empty() || t.id.contains(['/', '?', '#', '%', ' ']) {
                return Err(format!("tenant id '{}' cannot be a path segment", t.id));
            }
            if state.tenants.contains_key(&t.id) {
                return Err(format!("tenant {} exists twice", t.id));
            }
            let tenant = seed_tenant(&t.id, &t.bootstrap_token, t.tokens, now)?;
            state.tenants.insert(t.id, tenant);
        }
        Ok(state)
    }
}

/// One tenant: its bootstrap token (listed among `tokens`, or added) and its tokens.
fn seed_tenant(
    id: &str,
    bootstrap: &SecretString,
    tokens: Vec<FixtureToken>,
    now: DateTime<Utc>,
) -> Result<Tenant, String> {
    let bootstrap = bootstrap.expose_secret().to_owned();
    if bootstrap.is_empty() {
        return Err(format!("tenant {id} has an empty bootstrap token"));
    }
    let is_bootstrap = |tok: &FixtureToken| {
        tok.token
            .as_ref()
            .is_some_and(|v| v.expose_secret() == bootstrap)
    };
    let listed = tokens.iter().position(is_bootstrap);
    let bootstrap_owner = listed
        .and_then(|i| tokens[i].owner.clone())
        .unwrap_or_else(|| BOOTSTRAP_OWNER.to_owned());
    let mut tenant = Tenant {
        bootstrap_id: String::new(),
        tokens: Tokens::default(),
        settings: Settings::default(),
    };
    match listed {
        Some(i) => tenant.bootstrap_id = tokens[i].id.clone(),
        None => {
            let token_id = bootstrap_id_of(&bootstrap);
            tenant.bootstrap_id = token_id.clone();
            tenant
                .tokens
                .push(Token::bootstrap(token_id, bootstrap.clone(), now));
        }
    }
    for tok in tokens {
        let listed_bootstrap = is_bootstrap(&tok);
        let token = Token::from_fixture(tok, &bootstrap_owner, now);
        if listed_bootstrap {
            // A listed bootstrap token need not have the `<id>.<secret>` shape.
            if tenant.tokens.by_id(&token.id).is_some()
                || tenant.tokens.by_value(&token.value).is_some()
            {
                return Err(format!("tenant {id}: token {} exists twice", token.id));
            }
            tenant.tokens.push(token);
        } else {
            tenant
                .insert(token)
                .map_err(|e| format!("tenant {id}: {e}"))?;
        }
    }
    Ok(tenant)
}

impl Token {
    /// A token of the fixture, with the defaults it leaves out.
    pub(super) fn from_fixture(t: FixtureToken, default_owner: &str, now: DateTime<Utc>) -> Self {
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
