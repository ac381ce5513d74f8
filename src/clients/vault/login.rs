//! Logging in to Vault: AppRole, Kubernetes (the service-account JWT re-read at every login)
//! or a given token, verified with `lookup-self`; vaultrs performs the calls, with dtp's retry
//! policy (transport errors and 5xx only) and credentials scrubbed from every message.

use super::error::{client_error_message, is_transport, scrub};
use super::kv::SYSTEM;
use super::{APPROLE_MOUNT, ATTEMPTS, SecretError, Session, VaultAuth, VaultReader};
use crate::clients::limit::Answer;
use backon::{ExponentialBuilder, Retryable};
use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use std::time::{Duration, Instant};
use vaultrs::client::{Client as _, VaultClient};
use vaultrs::error::ClientError;

/// The longest token TTL dtp believes.
const MAX_TTL: Duration = Duration::from_secs(366 * 24 * 3600);

impl VaultReader {
    /// keeps its previous token.
    pub(super) async fn login(&self, session: &mut Session) -> Result<(), SecretError> {
        let started = Instant::now();
        let previous = session.token.clone();
        // Log in without a token header (a stale token must not interfere).
        session.client.set_token("");
        let result = self.obtain_token(&session.client).await;
        let token = match result {
            Ok(t) => t,
            Err(e) => {
                session.client.set_token(previous.expose_secret());
                return Err(e);
            }
        };
        session.client.set_token(token.expose_secret());
        let op = format!("{} login: token lookup", self.auth.method());
        let lookup = self
            .retry_vaultrs(&op, "GET", || vaultrs::token::lookup_self(&session.client))
            .await;
        match lookup {
            Ok(info) => {
                session.token = token;
                session.obtained = started;
                // A server-supplied TTL is trusted up to a year (no arithmetic can overflow).
                session.ttl =
                    (info.ttl > 0).then(|| Duration::from_secs(info.ttl.min(MAX_TTL.as_secs())));
                Ok(())
            }
            Err(e) => {
                session.client.set_token(previous.expose_secret());
                Err(self.auth_error(&op, &e, &[token.expose_secret()]))
            }
        }
    }

    /// Performs the login call itself (or takes the given token).
    async fn obtain_token(&self, client: &VaultClient) -> Result<SecretString, SecretError> {
        match &self.auth {
            VaultAuth::Token(token) => {
                let t = token.expose_secret().trim();
                if HeaderValue::from_str(t).is_err() {
                    return Err(SecretError::Auth {
                        message:
                            "the given Vault token holds characters not allowed in an HTTP header"
                                .into(),
                    });
                }
                Ok(SecretString::from(t.to_owned()))
            }
            VaultAuth::AppRole { role_id, secret_id } => {
                let op = format!("approle login (mount '{APPROLE_MOUNT}')");
                self.retry_vaultrs(&op, "POST", || {
                    vaultrs::auth::approle::login(
                        client,
                        APPROLE_MOUNT,
                        role_id,
                        secret_id.expose_secret(),
                    )
                })
                .await
                .map(|auth| SecretString::from(auth.client_token))
                .map_err(|e| self.auth_error(&op, &e, &[role_id, secret_id.expose_secret()]))
            }
            VaultAuth::Kubernetes { role, mount } => {
                let op = format!("kubernetes login (mount '{mount}', role '{role}')");
                // Re-read at every login: projected service-account tokens rotate.
                let jwt = tokio::fs::read_to_string(&self.kube_sa_token_path)
                    .await
                    .map_err(|e| {
                        SecretError::config(format!(
                            "vault: {op}: cannot read the service-account token KUBE_SA_TOKEN_PATH {}: {e}",
                            self.kube_sa_token_path.display()
                        ))
                    })?;
                let jwt = SecretString::from(jwt.trim().to_owned());
                if jwt.expose_secret().is_empty() {
                    return Err(SecretError::Auth {
                        message: format!(
                            "{op}: the service-account token {} is empty",
                            self.kube_sa_token_path.display()
                        ),
                    });
                }
                self.retry_vaultrs(&op, "POST", || {
                    vaultrs::auth::kubernetes::login(client, mount, role, jwt.expose_secret())
                })
                .await
                .map(|auth| SecretString::from(auth.client_token))
                .map_err(|e| self.auth_error(&op, &e, &[jwt.expose_secret()]))
            }
        }
    }

    /// Maps a vaultrs failure during login to [`SecretError::Auth`] (Vault refused) or
    /// [`SecretError::Transport`], scrubbing the credentials from the message.
    fn auth_error(&self, op: &str, e: &ClientError, credentials: &[&str]) -> SecretError {
        let message = scrub(&client_error_message(e), credentials);
        if is_transport(e) {
            return SecretError::Transport {
                op: op.to_owned(),
                message,
            };
        }
        let hint = match e {
            ClientError::APIError {
                code: 403 | 404, ..
            } if !matches!(self.auth, VaultAuth::Token(_)) => {
                " (is the auth method enabled at this mount, and do the role and credentials exist?)"
            }
            ClientError::APIError { code: 403, .. } => " (is the token valid and unexpired?)",
            _ => "",
        };
        SecretError::Auth {
            message: format!("{op} failed: {message}{hint}"),
        }
    }

    /// Runs a vaultrs call with the retry policy (transport errors and 5xx only).
    /// Every attempt and retry is reported to the request metrics (system `vault`).
    async fn retry_vaultrs<T, F, Fut>(
        &self,
        op: &str,
        method: &str,
        mut call: F,
    ) -> Result<T, ClientError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ClientError>>,
    {
        let observer = self.http.settings.observer.as_deref();
        let status_of = |e: &ClientError| match e {
            ClientError::APIError { code, .. } => Some(*code),
            _ => None,
        };
        let attempt = || {
            let fut = call();
            async move {
                let permit = self.limit.acquire().await;
                let started = Instant::now();
                let result = fut.await;
                permit.finish(match &result {
                    Err(ClientError::APIError { code: 429, .. }) => Answer::Throttled(None),
                    _ => Answer::Served,
                });
                if let Some(o) = observer {
                    let status = match &result {
                        Ok(_) => Some(200),
                        Err(e) => status_of(e),
                    };
                    o.response(SYSTEM, method, status, started.elapsed());
                }
                result
            }
        };
        let retryable = |e: &ClientError| {
            is_transport(e) || matches!(e, ClientError::APIError { code: 500.., .. })
        };
        let notify = |e: &ClientError, dur: Duration| {
            if let Some(o) = observer {
                o.retry(SYSTEM, status_of(e));
            }
            let error = client_error_message(e);
            let retry_in_ms = dur.as_millis() as u64;
            tracing::warn!(op, %error, retry_in_ms, "retrying Vault call");
        };
        attempt
            .retry(self.backoff())
            .when(retryable)
            .notify(notify)
            .await
    }

    pub(super) fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.http.settings.min_backoff)
            .with_max_delay(self.http.settings.max_backoff)
            .with_max_times(ATTEMPTS - 1)
            .with_jitter()
    }
}
