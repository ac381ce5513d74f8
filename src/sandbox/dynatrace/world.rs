//! Plain Rust inspection and mutation of the Dynatrace state, for tests: the tenants, their
//! tokens (with values) and changes behind dtp's back (enable/disable, expire, remove, add).
//! Apart from the answer to a create, this is the only place a token value is shown.

use super::DynatraceSandbox;
use super::fixture::FixtureToken;
use super::state::{SandboxToken, Token, now};
use chrono::{Duration, SubsecRound};

impl DynatraceSandbox {
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
        self.with_tenant(tenant, |t| {
            t.find(id).and_then(|h| t.tokens.get(h)).map(Token::view)
        })
    }

    /// The full token (`<id>.<secret>`) of token `id`.
    pub fn token_value(&self, tenant: &str, id: &str) -> Option<String> {
        self.token(tenant, id).map(|t| t.token)
    }

    /// Enables or disables a token, as a user in the Dynatrace UI would. `false` when absent.
    pub fn set_enabled(&self, tenant: &str, id: &str, enabled: bool) -> bool {
        self.with_tenant_mut(tenant, |t| {
            t.find(id)
                .and_then(|h| t.tokens.get_mut(h))
                .map(|x| x.enabled = enabled)
                .is_some()
        })
    }

    /// Makes a token expire now (its expiration date one second in the past). `false` when
    /// absent.
    pub fn expire(&self, tenant: &str, id: &str) -> bool {
        let when = now().trunc_subsecs(0) - Duration::seconds(1);
        self.with_tenant_mut(tenant, |t| {
            t.find(id)
                .and_then(|h| t.tokens.get_mut(h))
                .map(|x| x.expiration_date = Some(when))
                .is_some()
        })
    }

    /// Deletes a token behind dtp's back. `false` when absent.
    pub fn remove(&self, tenant: &str, id: &str) -> bool {
        self.with_tenant_mut(tenant, |t| {
            t.find(id).and_then(|h| t.tokens.remove(h)).is_some()
        })
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
}
