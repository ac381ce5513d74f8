//! The server state: tenants with their bootstrap token id and tokens in creation order
//! ([`Token`], with value, scopes, dates and last use), the [`SandboxToken`] view tests get,
//! and generated ids and secrets (`dt0c01.<24>` / `<id>.<64>`, upper-case alphanumerics).

use super::constants::{BOOTSTRAP_NAME, BOOTSTRAP_OWNER};
use chrono::{DateTime, SubsecRound, Utc};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
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

#[derive(Default)]
pub(super) struct SandboxState {
    pub(super) tenants: BTreeMap<String, Tenant>,
}

pub(super) struct Tenant {
    pub(super) bootstrap_id: String,
    /// In creation order.
    pub(super) tokens: Vec<Token>,
}

pub(super) struct Token {
    pub(super) id: String,
    pub(super) value: String,
    pub(super) name: String,
    pub(super) scopes: Vec<String>,
    pub(super) enabled: bool,
    pub(super) personal_access_token: bool,
    pub(super) owner: String,
    pub(super) creation_date: DateTime<Utc>,
    pub(super) expiration_date: Option<DateTime<Utc>>,
    pub(super) modified_date: Option<DateTime<Utc>>,
    pub(super) last_used_date: Option<DateTime<Utc>>,
    pub(super) last_used_ip: Option<String>,
}

impl Token {
    /// A bootstrap token the fixture does not list.
    pub(super) fn bootstrap(id: String, value: String, now: DateTime<Utc>) -> Self {
        Self {
            id,
            value,
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
        }
    }

    pub(super) fn usable_at(&self, now: DateTime<Utc>) -> bool {
        self.enabled && self.expiration_date.is_none_or(|e| e > now)
    }

    pub(super) fn view(&self) -> SandboxToken {
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
}

impl Tenant {
    /// The index of the token whose id, or whole value, is `key`.
    pub(super) fn find(&self, key: &str) -> Option<usize> {
        self.tokens
            .iter()
            .position(|t| t.id == key || t.value == key)
    }

    pub(super) fn bootstrap_owner(&self) -> String {
        self.tokens
            .iter()
            .find(|t| t.id == self.bootstrap_id)
            .map_or_else(|| BOOTSTRAP_OWNER.to_owned(), |t| t.owner.clone())
    }

    pub(super) fn insert(&mut self, token: Token) -> Result<(), String> {
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
    pub(super) fn new_id_and_value(&self) -> (String, String) {
        loop {
            let id = format!("dt0c01.{}", random_alnum(24));
            if self.tokens.iter().all(|t| t.id != id) {
                let value = format!("{id}.{}", random_alnum(64));
                return (id, value);
            }
        }
    }
}

pub(super) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

/// The id of a bootstrap token the fixture does not list: `prefix.public` when the value has
/// the `prefix.public.secret` shape, else a stable id derived from it.
pub(super) fn bootstrap_id_of(value: &str) -> String {
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
pub(super) fn random_alnum(n: usize) -> String {
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
