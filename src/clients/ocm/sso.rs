//! Red Hat SSO client credentials for one OCM environment: the access token is cached and
//! refreshed a minute before it expires (at half-life for short lifetimes) and once more on a
//! 401; concurrent callers share one grant. The client secret never appears in an error.

use super::{DEFAULT_EXPIRES_IN, OcmClient, REFRESH_MARGIN, sso_message};

/// The longest access-token lifetime dtp believes.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);
use crate::clients::http::{ApiError, read_json, send};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::time::{Duration, Instant};

/// An access token and when to stop using it.
pub(super) struct CachedToken {
    token: SecretString,
    refresh_at: Instant,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    expires_in: Option<u64>,
    token_type: Option<String>,
}

impl OcmClient {
    /// A valid access token: the cached one, or a fresh one from SSO. The lock is held while
    /// fetching so concurrent callers share one grant.
    pub(super) async fn access_token(&self) -> Result<SecretString, ApiError> {
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref()
            && Instant::now() < t.refresh_at
        {
            return Ok(t.token.clone());
        }
        let fresh = self.fetch_token().await?;
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    /// Drops the cached token if it is still `stale` (another task may have refreshed it).
    pub(super) async fn invalidate(&self, stale: &SecretString) {
        let mut cached = self.token.lock().await;
        if cached
            .as_ref()
            .is_some_and(|t| t.token.expose_secret() == stale.expose_secret())
        {
            *cached = None;
        }
    }

    async fn fetch_token(&self) -> Result<CachedToken, ApiError> {
        let op = self.op(format!("SSO token request for client {}", self.client_id));
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose_secret()),
        ];
        let build = || {
            self.http
                .client
                .post(&self.token_url)
                .header(reqwest::header::ACCEPT, "application/json")
                .form(&form)
        };
        let started = Instant::now();
        // The grant has no side effect worth protecting: retry it like a GET.
        let resp = send(&self.http, &self.sso_limit, &op, true, build, sso_message)
            .await
            .map_err(|e| self.auth_error(&op, e))?;
        let body: TokenResponse = read_json(&op, resp, self.http.settings.max_body)
            .await
            .map_err(|e| ApiError::Auth {
                op: op.clone(),
                message: format!("unreadable token response: {}", self.scrub(&e.to_string())),
            })?;
        if let Some(tt) = &body.token_type
            && !tt.eq_ignore_ascii_case("bearer")
        {
            return Err(ApiError::Auth {
                op,
                message: format!("unexpected token_type '{tt}'"),
            });
        }
        let token = body
            .access_token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::Auth {
                op: op.clone(),
                message: "the token response has no access_token".into(),
            })?;
        // A server-supplied lifetime is trusted up to a day (no arithmetic can overflow).
        let lifetime = Duration::from_secs(
            body.expires_in
                .unwrap_or(DEFAULT_EXPIRES_IN)
                .min(MAX_TOKEN_LIFETIME.as_secs()),
        );
        // Refresh a minute early; with very short lifetimes, at half-life.
        let usable = lifetime.saturating_sub(REFRESH_MARGIN).max(lifetime / 2);
        tracing::debug!(ocm_env = %self.env, expires_in_s = lifetime.as_secs(), "obtained an OCM access token");
        Ok(CachedToken {
            token: SecretString::from(token),
            refresh_at: started + usable,
        })
    }

    /// Any SSO failure is an authentication error carrying the server's `error` /
    /// `error_description` (or the transport problem), never the secret.
    fn auth_error(&self, op: &str, e: ApiError) -> ApiError {
        let message = match e {
            ApiError::Status {
                status, message, ..
            } => format!("HTTP {status}: {message}"),
            ApiError::Transport { message, .. } => message,
            ApiError::Decode { message, .. } => format!("unexpected response: {message}"),
            ApiError::Auth { message, .. } => message,
        };
        ApiError::Auth {
            op: op.to_owned(),
            message: self.scrub(&message),
        }
    }

    /// Removes the client secret from a text, should a server ever echo it.
    fn scrub(&self, text: &str) -> String {
        let secret = self.client_secret.expose_secret();
        if secret.is_empty() {
            text.to_owned()
        } else {
            text.replace(secret, crate::model::REDACTED)
        }
    }
}
