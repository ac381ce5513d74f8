//! The server state: tenants with their bootstrap token id and tokens in creation order
//! ([`Token`], with value, scopes, dates and last use), the [`SandboxToken`] view tests get,
//! and generated ids and secrets (`dt0c01.<24>` / `<id>.<64>`, upper-case alphanumerics).
//!
//! A tenant's tokens are a [`Tokens`]: indexed by id and by value, so the `Api-Token` check,
//! lookups and deletes are hash lookups rather than scans of the tenant. A list query's
//! selection (its matches, sorted) is kept until a token changes, so the later pages of a
//! listing cost O(page); a selection that depends on last use (sorted by `lastUsedDate`, or
//! with a `from`/`to` window) also ends with the next recorded use. Ids and values never
//! change once a token is added: they are the indexes' keys.

use super::constants::{BOOTSTRAP_NAME, BOOTSTRAP_OWNER};
use super::settings::Settings;
use chrono::{DateTime, SubsecRound, Utc};
use sha2::{Digest, Sha256};
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
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

/// Every tenant, by id.
#[derive(Default)]
pub(super) struct SandboxState {
    pub(super) tenants: BTreeMap<String, Tenant>,
}

pub(super) struct Tenant {
    pub(super) bootstrap_id: String,
    /// In creation order.
    pub(super) tokens: Tokens,
    /// Host groups and settings objects (`settings`).
    pub(super) settings: Settings,
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
    /// The (first) token whose id, or whole value, is `key`.
    pub(super) fn find(&self, key: &str) -> Option<Handle> {
        self.tokens.find(key)
    }

    pub(super) fn bootstrap_owner(&self) -> String {
        self.tokens
            .by_id(&self.bootstrap_id)
            .and_then(|h| self.tokens.get(h))
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
        if self.tokens.by_id(&token.id).is_some() {
            return Err(format!("token {} exists twice", token.id));
        }
        if self.tokens.by_value(&token.value).is_some() {
            return Err(format!("token {} has the value of another token", token.id));
        }
        self.tokens.push(token);
        Ok(())
    }

    /// A fresh `dt0c01.<24>` id and `<id>.<64>` value, both unique in the tenant.
    pub(super) fn new_id_and_value(&self) -> (String, String) {
        loop {
            let id = format!("dt0c01.{}", random_alnum(24));
            if self.tokens.by_id(&id).is_none() {
                let value = format!("{id}.{}", random_alnum(64));
                if self.tokens.by_value(&value).is_none() {
                    return (id, value);
                }
            }
        }
    }
}

/// What [`Tokens::select`] needs of a list query (`query::ListQuery`).
pub(super) trait TokenQuery {
    /// Everything the selection depends on (not the page), as a cache key.
    fn selection_key(&self) -> String;
    /// Whether the selection changes with a token's last use (each call records one).
    fn depends_on_use(&self) -> bool;
    fn matches(&self, t: &Token) -> bool;
    /// The listing order; ties keep creation order (the sort is stable).
    fn compare(&self, a: &Token, b: &Token) -> Ordering;
}

/// A token's place in creation order; stable while the token exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct Handle(u64);

/// A cached list selection.
struct Selection {
    /// The use count it was computed at, when last use matters to it.
    uses: Option<u64>,
    handles: Arc<[Handle]>,
}

/// More distinct queries than this since the last change empty the cache.
const MAX_SELECTIONS: usize = 32;

/// One tenant's tokens: creation order, id and value indexes, cached list selections.
#[derive(Default)]
pub(super) struct Tokens {
    rows: BTreeMap<Handle, Token>,
    next: u64,
    by_id: HashMap<String, Handle>,
    by_value: HashMap<String, Handle>,
    /// By [`TokenQuery::selection_key`]; emptied by every change but a recorded use.
    selections: HashMap<String, Selection>,
    /// Recorded uses so far.
    uses: u64,
}

impl Tokens {
    pub(super) fn len(&self) -> usize {
        self.rows.len()
    }

    /// Every token, in creation order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &Token> {
        self.rows.values()
    }

    pub(super) fn get(&self, h: Handle) -> Option<&Token> {
        self.rows.get(&h)
    }

    /// The token, to change anything but its id and value (the indexes' keys).
    pub(super) fn get_mut(&mut self, h: Handle) -> Option<&mut Token> {
        self.selections.clear();
        self.rows.get_mut(&h)
    }

    /// Records a successful call with the token.
    pub(super) fn record_use(&mut self, h: Handle, now: DateTime<Utc>) {
        if let Some(t) = self.rows.get_mut(&h) {
            t.last_used_date = Some(now);
            t.last_used_ip = Some("127.0.0.1".to_owned());
            self.uses += 1;
        }
    }

    pub(super) fn by_id(&self, id: &str) -> Option<Handle> {
        self.by_id.get(id).copied()
    }

    pub(super) fn by_value(&self, value: &str) -> Option<Handle> {
        self.by_value.get(value).copied()
    }

    /// The first token (in creation order) whose id, or whole value, is `key`.
    pub(super) fn find(&self, key: &str) -> Option<Handle> {
        match (self.by_id(key), self.by_value(key)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Adds a token after every other; its id and value must be new to the tenant.
    pub(super) fn push(&mut self, token: Token) -> Handle {
        debug_assert!(self.by_id(&token.id).is_none() && self.by_value(&token.value).is_none());
        let h = Handle(self.next);
        self.next += 1;
        self.by_id.insert(token.id.clone(), h);
        self.by_value.insert(token.value.clone(), h);
        self.rows.insert(h, token);
        self.selections.clear();
        h
    }

    pub(super) fn remove(&mut self, h: Handle) -> Option<Token> {
        let token = self.rows.remove(&h)?;
        self.by_id.remove(&token.id);
        self.by_value.remove(&token.value);
        self.selections.clear();
        Some(token)
    }

    /// The tokens `q` lists, in its order (ties in creation order), from the cache when the
    /// same query was answered since the last change.
    pub(super) fn select(&mut self, q: &impl TokenQuery) -> Arc<[Handle]> {
        let key = q.selection_key();
        let uses = q.depends_on_use().then_some(self.uses);
        if let Some(s) = self.selections.get(&key)
            && s.uses == uses
        {
            return s.handles.clone();
        }
        let mut matching: Vec<(Handle, &Token)> = self
            .rows
            .iter()
            .filter(|(_, t)| q.matches(t))
            .map(|(h, t)| (*h, t))
            .collect();
        // Stable: ties keep creation order, so pages never overlap.
        matching.sort_by(|a, b| q.compare(a.1, b.1));
        let handles: Arc<[Handle]> = matching.into_iter().map(|(h, _)| h).collect();
        if self.selections.len() >= MAX_SELECTIONS {
            self.selections.clear();
        }
        let selection = Selection {
            uses,
            handles: handles.clone(),
        };
        self.selections.insert(key, selection);
        handles
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
