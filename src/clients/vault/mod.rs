//! Secrets from Vault (or OpenBao): [`VaultReader`] logs in with AppRole, Kubernetes or a given
//! token, verifies the token with `lookup-self`, and reads KV v1 and v2 secrets as
//! app-interface references them (`path` without `data/`, `field`, optional `version` and
//! `format`). It keeps the token's expiry so a long-running process can log in again before
//! it runs out ([`VaultReader::ensure_fresh`]), detects each mount's KV version once, and
//! caches secrets per (path, version) for the life of the reader (clear it per run with
//! [`VaultReader::clear_cache`]).
//!
//! vaultrs builds the HTTP client (TLS verification always on, extra CA certificates from
//! [`HttpSettings::ca_bundle`], no `VAULT_*` environment variable honoured) and performs the
//! logins and `lookup-self`. Mount detection and KV reads are plain GETs through that same
//! client, because dtp needs what vaultrs hides: the status and body of a 404 (a deleted KV v2
//! version answers 404 *with* metadata), `sys/internal/ui/mounts/<path>` (no vaultrs helper),
//! and retries on transport errors and 5xx only.
//!
//! Deviations from the Python integration (B6, G16): KV v2 reads without `version` return the
//! latest version instead of failing; the KV version of a mount is found through
//! `sys/internal/ui/mounts/<path>` (which works for least-privilege tokens) before falling
//! back to the Python probe of `<mount>/config`.
//!
//! Errors name the secret (`path/field`, and the version when one is pinned) and never carry a

mod error;
mod kv;
mod login;

pub use error::{SecretError, SecretLocation};

use crate::clients::SecretReader;
use crate::clients::http::{Http, redact_url};
use crate::clients::limit::Limit;
use crate::model::{REDACTED, VaultSecretRef};
use async_trait::async_trait;
use secrecy::SecretString;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::RwLock;
use url::Url;
use vaultrs::client::{VaultClient, VaultClientSettingsBuilder};

/// Attempts per Vault call (first try included), on transport errors and 5xx only.
const ATTEMPTS: usize = 3;
/// The AppRole auth mount, as in qontract-reconcile.
const APPROLE_MOUNT: &str = "approle";
/// Log in again when less than this remains of the token's TTL…
const MIN_REMAINING: Duration = Duration::from_secs(60);
/// …or less than this fraction of it.
const REMAINING_FRACTION: u32 = 3;

/// The Vault (or OpenBao) server and how dtp logs in (`[vault]` of config.toml).
#[derive(Clone)]
pub struct VaultSettings {
    /// Base URL, e.g. `https://vault.example.com` (http or https).
    pub server: Url,
    pub auth: VaultAuth,
}

/// How dtp logs in to Vault.
#[derive(Clone)]
pub enum VaultAuth {
    /// `[vault] role_id, secret_id`: AppRole login at the `approle` mount.
    AppRole {
        role_id: String,
        secret_id: SecretString,
    },
    /// `[vault] kube_auth_role, kube_auth_mount`: Kubernetes login with the pod's
    /// service-account JWT (re-read from its file at every login).
    Kubernetes { role: String, mount: String },
    /// Neither of the above: the token from the `VAULT_TOKEN` environment variable.
    Token(SecretString),
}

impl VaultAuth {
    /// The login method's name, for logs and messages.
    pub fn method(&self) -> &'static str {
        match self {
            Self::AppRole { .. } => "approle",
            Self::Kubernetes { .. } => "kubernetes",
            Self::Token(_) => "token",
        }
    }
}

impl fmt::Debug for VaultSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultSettings")
            .field("server", &redact_url(&self.server))
            .field("auth", &self.auth)
            .finish()
    }
}

impl fmt::Debug for VaultAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The role_id is half of the AppRole credential: redacted too.
            Self::AppRole { .. } => f
                .debug_struct("AppRole")
                .field("role_id", &REDACTED)
                .field("secret_id", &REDACTED)
                .finish(),
            Self::Kubernetes { role, mount } => f
                .debug_struct("Kubernetes")
                .field("role", role)
                .field("mount", mount)
                .finish(),
            Self::Token(_) => f.debug_tuple("Token").field(&REDACTED).finish(),
        }
    }
}

/// The KV engine version of a mount.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KvVersion {
    V1,
    V2,
}

/// A secrets-engine mount: its path with a trailing `/` (e.g. `secret/`) and KV version.
#[derive(Clone, Debug)]
struct Mount {
    path: String,
    version: KvVersion,
}

/// One field of a cached secret. Non-string JSON values are kept as their kind only.
enum FieldValue {
    Text(SecretString),
    NotText(&'static str),
}

type Fields = BTreeMap<String, FieldValue>;

/// Cached secrets, keyed by normalized path and pinned version.
type SecretCache = HashMap<(String, Option<u64>), Arc<Fields>>;

/// The logged-in client and what dtp knows about its token.
struct Session {
    client: VaultClient,
    token: SecretString,
    /// When the token was obtained (taken before the login call: conservative).
    obtained: Instant,
    /// The TTL `lookup-self` reported; `None` for a token that never expires.
    ttl: Option<Duration>,
}

impl Session {
    fn expires_at(&self) -> Option<Instant> {
        self.ttl.and_then(|ttl| self.obtained.checked_add(ttl))
    }

    fn needs_refresh(&self, now: Instant) -> bool {
        needs_refresh(self.obtained, self.ttl, now)
    }

    fn expired(&self, now: Instant) -> bool {
        self.expires_at().is_some_and(|at| now >= at)
    }
}

/// Less than a minute, or less than a third of the TTL, remains of a token obtained at
/// `obtained` (never for a token without TTL).
fn needs_refresh(obtained: Instant, ttl: Option<Duration>, now: Instant) -> bool {
    match ttl {
        None => false,
        Some(ttl) => {
            let remaining = ttl.saturating_sub(now.saturating_duration_since(obtained));
            remaining < MIN_REMAINING.max(ttl / REMAINING_FRACTION)
        }
    }
}

/// Reads secrets from Vault or OpenBao. Shareable across tasks (`&self` everywhere).
pub struct VaultReader {
    /// Server base URL.
    address: Url,
    /// The process's HTTP client, for the plain GETs.
    http: Http,
    /// Vault's concurrency limit (every call, vaultrs' included, holds a permit).
    limit: Arc<Limit>,
    auth: VaultAuth,
    kube_sa_token_path: PathBuf,
    session: RwLock<Session>,
    mounts: Mutex<Vec<Mount>>,
    /// Held while a mount is detected.
    detecting: tokio::sync::Mutex<()>,
    cache: Mutex<SecretCache>,
}

impl fmt::Debug for VaultReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultReader")
            .field("address", &self.address.as_str())
            .field("auth", &self.auth.method())
            .finish_non_exhaustive()
    }
}

impl VaultReader {
    /// Builds the client, logs in and verifies the token with `lookup-self`.
    /// `kube_sa_token_path` is the service-account JWT file used by Kubernetes auth.
    pub async fn connect(
        cfg: &VaultSettings,
        http: &Http,
        kube_sa_token_path: &Path,
    ) -> Result<Self, SecretError> {
        let address = cfg.server.clone();
        // Every field is set explicitly: the builder's defaults read VAULT_ADDR, VAULT_TOKEN,
        // VAULT_CACERT, VAULT_CAPATH, VAULT_SKIP_VERIFY and VAULT_CLIENT_CERT/KEY.
        let client_settings = VaultClientSettingsBuilder::default()
            .address(address.as_str())
            .token(String::new())
            .ca_certs(Vec::new())
            .verify(true)
            .identity(None)
            .timeout(Some(http.settings.timeout))
            .build()
            .map_err(|e| SecretError::config(format!("vault: invalid client settings: {e}")))?;
        let mut client = VaultClient::new(client_settings).map_err(|e| {
            SecretError::config(format!(
                "vault: cannot build the client: {}",
                error::error_chain(&e)
            ))
        })?;
        // vaultrs calls go through the process's one HTTP client too (its TLS roots, CA
        // bundle, timeouts and redirect policy).
        client.http.http = http.client.clone();
        let reader = Self {
            limit: http.target("vault", &redact_url(&address)),
            address,
            http: http.clone(),
            auth: cfg.auth.clone(),
            kube_sa_token_path: kube_sa_token_path.to_owned(),
            session: RwLock::new(Session {
                client,
                token: SecretString::from(""),
                obtained: Instant::now(),
                ttl: None,
            }),
            mounts: Mutex::new(Vec::new()),
            detecting: tokio::sync::Mutex::new(()),
            cache: Mutex::new(HashMap::new()),
        };
        {
            let mut session = reader.session.write().await;
            reader.login(&mut session).await?;
            tracing::info!(
                server = %reader.address,
                method = reader.auth.method(),
                ttl_s = session.ttl.map(|t| t.as_secs()),
                "logged in to Vault"
            );
        }
        Ok(reader)
    }

    /// When the current token expires; `None` when it never does.
    pub async fn expires_at(&self) -> Option<Instant> {
        self.session.read().await.expires_at()
    }

    /// Logs in again when less than 60 s or a third of the token's TTL remains (AppRole and
    /// Kubernetes; the JWT file is read again). Returns whether it logged in. A given token
    /// cannot be renewed: once it has expired this is an [`SecretError::Auth`].
    /// [`read`](SecretReader::read) calls this first, so a loop needs no timer of its own.
    pub async fn ensure_fresh(&self) -> Result<bool, SecretError> {
        {
            let session = self.session.read().await;
            if matches!(self.auth, VaultAuth::Token(_)) {
                return if session.expired(Instant::now()) {
                    Err(SecretError::Auth {
                        message: "the given Vault token (VAULT_TOKEN) has expired; \
                                  dtp cannot log in again with it"
                            .into(),
                    })
                } else {
                    Ok(false)
                };
            }
            if !session.needs_refresh(Instant::now()) {
                return Ok(false);
            }
        }
        let mut session = self.session.write().await;
        // Another task may have logged in while this one waited for the lock.
        if !session.needs_refresh(Instant::now()) {
            return Ok(false);
        }
        self.login(&mut session).await?;
        tracing::info!(
            method = self.auth.method(),
            ttl_s = session.ttl.map(|t| t.as_secs()),
            "logged in to Vault again"
        );
        Ok(true)
    }

    /// Logs in again now (for a given token: verifies it again).
    pub async fn relogin(&self) -> Result<(), SecretError> {
        let mut session = self.session.write().await;
        self.login(&mut session).await
    }

    /// Forgets cached secrets and mount versions; call it at the start of every run of a
    /// long-running process so that unpinned secrets are read anew.
    pub fn clear_cache(&self) {
        lock(&self.cache).clear();
        lock(&self.mounts).clear();
    }

    // ---- login ----------------------------------------------------------------------------
}

#[async_trait]
impl SecretReader for VaultReader {
    async fn read(&self, secret: &VaultSecretRef) -> Result<SecretString, SecretError> {
        self.ensure_fresh().await?;
        let loc = SecretLocation::from(secret);
        let fields = self.fields(secret, &loc).await?;
        let value = match fields.get(&secret.field) {
            None => return Err(SecretError::FieldNotFound { secret: loc }),
            Some(FieldValue::NotText(kind)) => {
                return Err(SecretError::Decode {
                    secret: loc,
                    reason: format!("the field holds {kind}, not a string"),
                });
            }
            Some(FieldValue::Text(v)) => v,
        };
        kv::decode(value, secret.format.as_deref(), &loc)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_refreshed_when_a_third_of_its_ttl_remains() {
        let now = Instant::now();
        let hour = Some(Duration::from_secs(3600));
        assert!(!needs_refresh(now, hour, now));
        assert!(!needs_refresh(now, hour, now + Duration::from_secs(2399)));
        assert!(needs_refresh(now, hour, now + Duration::from_secs(2401)));
        // Short TTLs: the 60 s floor wins.
        assert!(needs_refresh(
            now,
            Some(Duration::from_secs(90)),
            now + Duration::from_secs(31)
        ));
        assert!(!needs_refresh(
            now,
            None,
            now + Duration::from_secs(1_000_000)
        ));
    }
}
