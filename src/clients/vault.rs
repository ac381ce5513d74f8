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
//! secret value, a token, a role or secret id, or a JWT.

use crate::clients::SecretReader;
use crate::clients::http::HttpSettings;
use crate::config::{VaultAuth, VaultConfig};
use crate::model::VaultSecretRef;
use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use base64::Engine as _;
use reqwest::header::{HeaderValue, USER_AGENT};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::RwLock;
use url::Url;
use vaultrs::client::{Client as _, VaultClient, VaultClientSettingsBuilder};
use vaultrs::error::ClientError;

/// Attempts per Vault call (first try included), on transport errors and 5xx only.
const ATTEMPTS: usize = 3;
/// The AppRole auth mount, as in qontract-reconcile.
const APPROLE_MOUNT: &str = "approle";
/// Log in again when less than this remains of the token's TTL…
const MIN_REMAINING: Duration = Duration::from_secs(60);
/// …or less than this fraction of it.
const REMAINING_FRACTION: u32 = 3;

/// Which secret a [`SecretError`] is about: never its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretLocation {
    pub path: String,
    pub field: String,
    pub version: Option<u64>,
}

impl From<&VaultSecretRef> for SecretLocation {
    fn from(s: &VaultSecretRef) -> Self {
        Self {
            path: s.path.clone(),
            field: s.field.clone(),
            version: s.version,
        }
    }
}

impl fmt::Display for SecretLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.path, self.field)?;
        if let Some(v) = self.version {
            write!(f, " (version {v})")?;
        }
        Ok(())
    }
}

/// A failure reading a secret. Never carries the secret value or a credential.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// No secret at the path (or, for KV v2 without a pinned version, its latest version is
    /// deleted).
    #[error("vault: {secret}: secret not found{}", detail_suffix(.detail))]
    NotFound {
        secret: SecretLocation,
        detail: Option<String>,
    },
    /// The secret exists but has no such field.
    #[error("vault: {secret}: the secret has no field '{}'", .secret.field)]
    FieldNotFound { secret: SecretLocation },
    /// HTTP 403: the token may not read the path (or the token is no longer valid).
    #[error("vault: {secret}: permission denied (HTTP 403{})", detail_suffix(.message))]
    Forbidden {
        secret: SecretLocation,
        message: Option<String>,
    },
    /// The pinned KV v2 version does not exist, or was deleted or destroyed.
    #[error("vault: {secret}: {reason}")]
    Version {
        secret: SecretLocation,
        reason: String,
    },
    /// The value cannot be returned as asked (`format: base64` that is not base64 or not
    /// UTF-8, an unknown format, a field that is not a string).
    #[error("vault: {secret}: {reason}")]
    Decode {
        secret: SecretLocation,
        reason: String,
    },
    /// Login or token verification failed; the message comes from Vault's `errors`.
    #[error("vault: {message}")]
    Auth { message: String },
    /// No usable answer (connection, timeout, TLS), after retries.
    #[error("vault: {op}: {message}")]
    Transport { op: String, message: String },
    /// An unexpected status (5xx after retries, or a 4xx dtp does not expect) or an
    /// unreadable body.
    #[error("vault: {op}: {message}")]
    Server {
        op: String,
        status: Option<u16>,
        message: String,
    },
    /// A local configuration problem: server URL, CA bundle, missing config.
    #[error("{message}")]
    Config { message: String },
    /// The config-file secret reader (`vault: false`) found no such key.
    #[error("key not found in config file {path}/{field}")]
    ConfigKeyNotFound { path: String, field: String },
}

fn detail_suffix(detail: &Option<String>) -> String {
    detail
        .as_ref()
        .map(|d| format!(": {d}"))
        .unwrap_or_default()
}

impl SecretError {
    /// A local configuration problem (the caller's words).
    pub fn config(message: impl Into<String>) -> Self {
        Self::Config {
            message: message.into(),
        }
    }

    /// The secret this error is about, when it is about one.
    pub fn secret(&self) -> Option<&SecretLocation> {
        match self {
            Self::NotFound { secret, .. }
            | Self::FieldNotFound { secret }
            | Self::Forbidden { secret, .. }
            | Self::Version { secret, .. }
            | Self::Decode { secret, .. } => Some(secret),
            _ => None,
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
        self.ttl.map(|ttl| self.obtained + ttl)
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
    /// The reqwest client vaultrs built (TLS settings included), for the plain GETs.
    http: reqwest::Client,
    user_agent: String,
    auth: VaultAuth,
    kube_sa_token_path: PathBuf,
    min_backoff: Duration,
    max_backoff: Duration,
    session: RwLock<Session>,
    mounts: Mutex<Vec<Mount>>,
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
        cfg: &VaultConfig,
        settings: &HttpSettings,
        kube_sa_token_path: &Path,
    ) -> Result<Self, SecretError> {
        let address = Url::parse(cfg.server.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
            .ok_or_else(|| {
                SecretError::config("vault: [vault] server is not an http or https URL")
            })?;
        let mut ca_certs = Vec::new();
        if let Some(path) = &settings.ca_bundle {
            let s = path.to_str().ok_or_else(|| {
                SecretError::config(format!(
                    "vault: CA bundle path {} is not UTF-8",
                    path.display()
                ))
            })?;
            ca_certs.push(s.to_owned());
        }
        // Every field is set explicitly: the builder's defaults read VAULT_ADDR, VAULT_TOKEN,
        // VAULT_CACERT, VAULT_CAPATH, VAULT_SKIP_VERIFY and VAULT_CLIENT_CERT/KEY.
        let client_settings = VaultClientSettingsBuilder::default()
            .address(address.as_str())
            .token(String::new())
            .ca_certs(ca_certs)
            .verify(true)
            .identity(None)
            .timeout(Some(settings.timeout))
            .build()
            .map_err(|e| SecretError::config(format!("vault: invalid client settings: {e}")))?;
        let client = VaultClient::new(client_settings).map_err(|e| {
            SecretError::config(format!(
                "vault: cannot build the client: {}",
                error_chain(&e)
            ))
        })?;
        let http = client.http.http.clone();
        let reader = Self {
            address,
            http,
            user_agent: settings.user_agent.clone(),
            auth: cfg.auth.clone(),
            kube_sa_token_path: kube_sa_token_path.to_owned(),
            min_backoff: settings.min_backoff,
            max_backoff: settings.max_backoff,
            session: RwLock::new(Session {
                client,
                token: SecretString::from(""),
                obtained: Instant::now(),
                ttl: None,
            }),
            mounts: Mutex::new(Vec::new()),
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

    /// Logs in with the configured method and verifies the token. On failure the session
    /// keeps its previous token.
    async fn login(&self, session: &mut Session) -> Result<(), SecretError> {
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
            .retry_vaultrs(&op, || vaultrs::token::lookup_self(&session.client))
            .await;
        match lookup {
            Ok(info) => {
                session.token = token;
                session.obtained = started;
                session.ttl = (info.ttl > 0).then(|| Duration::from_secs(info.ttl));
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
                self.retry_vaultrs(&op, || {
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
                    .map_err(|e| SecretError::Auth {
                        message: format!(
                            "{op}: cannot read the service-account token {}: {e}",
                            self.kube_sa_token_path.display()
                        ),
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
                self.retry_vaultrs(&op, || {
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
    async fn retry_vaultrs<T, F, Fut>(&self, op: &str, call: F) -> Result<T, ClientError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ClientError>>,
    {
        let retryable = |e: &ClientError| {
            is_transport(e) || matches!(e, ClientError::APIError { code: 500.., .. })
        };
        let notify = |e: &ClientError, dur: Duration| {
            let error = client_error_message(e);
            let retry_in_ms = dur.as_millis() as u64;
            tracing::warn!(op, %error, retry_in_ms, "retrying Vault call");
        };
        call.retry(self.backoff())
            .when(retryable)
            .notify(notify)
            .await
    }

    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.min_backoff)
            .with_max_delay(self.max_backoff)
            .with_max_times(ATTEMPTS - 1)
            .with_jitter()
    }

    // ---- plain GETs -----------------------------------------------------------------------

    /// `GET /v1/<segments>[?version=N]` with the current token, retried on transport errors
    /// and 5xx. Any other status is returned to the caller.
    async fn get(
        &self,
        op: &str,
        segments: &[&str],
        version: Option<u64>,
    ) -> Result<Reply, SecretError> {
        let mut url = self.address.clone();
        url.path_segments_mut()
            .map_err(|()| SecretError::config("vault: the server URL cannot take a path"))?
            .pop_if_empty()
            .push("v1")
            .extend(segments);
        if let Some(v) = version {
            url.query_pairs_mut().append_pair("version", &v.to_string());
        }
        let mut token = {
            let session = self.session.read().await;
            HeaderValue::from_str(session.token.expose_secret()).map_err(|_| SecretError::Auth {
                message: "the Vault token holds characters not allowed in an HTTP header".into(),
            })?
        };
        token.set_sensitive(true);
        let attempt = || async {
            let resp = self
                .http
                .get(url.clone())
                .header("X-Vault-Token", token.clone())
                .header("X-Vault-Request", "true")
                .header(USER_AGENT, &self.user_agent)
                .send()
                .await
                .map_err(|e| Failure::Transport(error_chain(&e)))?;
            let status = resp.status().as_u16();
            let body = resp
                .bytes()
                .await
                .map_err(|e| Failure::Transport(error_chain(&e)))?
                .to_vec();
            if status >= 500 {
                return Err(Failure::Server(status, vault_errors(&body)));
            }
            Ok(Reply { status, body })
        };
        attempt
            .retry(self.backoff())
            .notify(|f: &Failure, dur: Duration| {
                let retry_in_ms = dur.as_millis() as u64;
                tracing::warn!(op, error = %f, retry_in_ms, "retrying Vault call");
            })
            .await
            .map_err(|f| match f {
                Failure::Transport(message) => SecretError::Transport {
                    op: op.to_owned(),
                    message,
                },
                Failure::Server(status, message) => SecretError::Server {
                    op: op.to_owned(),
                    status: Some(status),
                    message: format!("HTTP {status}{}", detail_suffix(&message)),
                },
            })
    }

    // ---- KV mounts ------------------------------------------------------------------------

    /// The mount holding `path` (normalized: no empty segments), from the cache or detected.
    async fn mount_for(&self, path: &str, loc: &SecretLocation) -> Result<Mount, SecretError> {
        let with_slash = format!("{path}/");
        let cached = lock(&self.mounts)
            .iter()
            .filter(|m| with_slash.starts_with(&m.path))
            .max_by_key(|m| m.path.len())
            .cloned();
        if let Some(m) = cached {
            return Ok(m);
        }
        let mount = self.detect_mount(path, loc).await?;
        tracing::debug!(mount = %mount.path, kv = ?mount.version, "detected Vault KV mount");
        let mut mounts = lock(&self.mounts);
        if !mounts.iter().any(|m| m.path == mount.path) {
            mounts.push(mount.clone());
        }
        Ok(mount)
    }

    /// `GET sys/internal/ui/mounts/<path>` (the Vault CLI's preflight; allowed for any token
    /// with a capability under the mount); on a 4xx, the Python way: the first path segment
    /// is the mount and it is KV v2 when `<mount>/config` can be read.
    async fn detect_mount(&self, path: &str, loc: &SecretLocation) -> Result<Mount, SecretError> {
        let op = format!("detect the KV mount of {loc}");
        let mut segments = vec!["sys", "internal", "ui", "mounts"];
        segments.extend(path.split('/'));
        let reply = self.get(&op, &segments, None).await?;
        if reply.status == 200 {
            let v: Value =
                serde_json::from_slice(&reply.body).map_err(|e| SecretError::Server {
                    op: op.clone(),
                    status: Some(200),
                    message: format!("unexpected response: {e}"),
                })?;
            let data = &v["data"];
            if let Some(mount_path) = data["path"].as_str().filter(|p| !p.is_empty()) {
                let kv2 = data["type"].as_str() == Some("kv")
                    && data["options"]["version"].as_str() == Some("2");
                let mut mount_path = mount_path.to_owned();
                if !mount_path.ends_with('/') {
                    mount_path.push('/');
                }
                return Ok(Mount {
                    path: mount_path,
                    version: if kv2 { KvVersion::V2 } else { KvVersion::V1 },
                });
            }
            tracing::debug!(
                op,
                "sys/internal/ui/mounts answered without data.path; probing <mount>/config"
            );
        } else {
            tracing::debug!(
                op,
                status = reply.status,
                error = %vault_errors(&reply.body).unwrap_or_default(),
                "sys/internal/ui/mounts failed; probing <mount>/config"
            );
        }
        let first = path.split('/').next().unwrap_or_default();
        let probe = self.get(&op, &[first, "config"], None).await?;
        let version = if probe.status == 200 {
            KvVersion::V2
        } else {
            tracing::debug!(
                mount = first,
                status = probe.status,
                "cannot read <mount>/config; taking the mount as KV v1"
            );
            KvVersion::V1
        };
        Ok(Mount {
            path: format!("{first}/"),
            version,
        })
    }

    // ---- reading --------------------------------------------------------------------------

    /// The fields of the secret at `secret.path` (and version), from the cache or Vault.
    async fn fields(
        &self,
        secret: &VaultSecretRef,
        loc: &SecretLocation,
    ) -> Result<Arc<Fields>, SecretError> {
        let path = secret
            .path
            .split('/')
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("/");
        if path.is_empty() {
            return Err(SecretError::NotFound {
                secret: loc.clone(),
                detail: Some("the path is empty".into()),
            });
        }
        let key = (path.clone(), secret.version);
        if let Some(f) = lock(&self.cache).get(&key) {
            tracing::debug!(secret = %loc, "Vault secret from cache");
            return Ok(f.clone());
        }
        let mount = self.mount_for(&path, loc).await?;
        let fields = match mount.version {
            KvVersion::V2 => self.read_kv2(&path, &mount, secret.version, loc).await?,
            KvVersion::V1 => {
                if secret.version.is_some() {
                    tracing::warn!(
                        secret = %loc,
                        mount = %mount.path,
                        "version given for a KV v1 secret; ignored"
                    );
                }
                self.read_kv1(&path, loc).await?
            }
        };
        let fields = Arc::new(fields);
        lock(&self.cache).insert(key, fields.clone());
        Ok(fields)
    }

    async fn read_kv1(&self, path: &str, loc: &SecretLocation) -> Result<Fields, SecretError> {
        let op = format!("read {loc}");
        let segments: Vec<&str> = path.split('/').collect();
        let reply = self.get(&op, &segments, None).await?;
        match reply.status {
            200 => {
                let v = json(&op, &reply.body)?;
                match v.get("data") {
                    Some(Value::Object(map)) => Ok(to_fields(map)),
                    _ => Err(not_found(loc, None)),
                }
            }
            404 => Err(not_found(loc, None)),
            403 => Err(forbidden(loc, &reply.body)),
            status => Err(unexpected(&op, status, &reply.body)),
        }
    }

    async fn read_kv2(
        &self,
        path: &str,
        mount: &Mount,
        version: Option<u64>,
        loc: &SecretLocation,
    ) -> Result<Fields, SecretError> {
        let op = format!("read {loc}");
        let rest = path.strip_prefix(mount.path.as_str()).unwrap_or_default();
        if rest.is_empty() {
            return Err(not_found(
                loc,
                Some(format!(
                    "the path names the mount {}, not a secret",
                    mount.path
                )),
            ));
        }
        let mut segments: Vec<&str> = mount.path.trim_end_matches('/').split('/').collect();
        segments.push("data");
        segments.extend(rest.split('/'));
        let reply = self.get(&op, &segments, version).await?;
        match reply.status {
            200 => {
                let v = json(&op, &reply.body)?;
                match v["data"].get("data") {
                    Some(Value::Object(map)) => Ok(to_fields(map)),
                    _ => Err(not_found(
                        loc,
                        Some("the version holds no data (deleted?)".into()),
                    )),
                }
            }
            403 => Err(forbidden(loc, &reply.body)),
            404 => {
                // A deleted or destroyed version answers 404 with its metadata.
                let meta = serde_json::from_slice::<Value>(&reply.body)
                    .ok()
                    .and_then(|v| v["data"].get("metadata").filter(|m| m.is_object()).cloned());
                if let Some(meta) = meta {
                    let state = if meta["destroyed"].as_bool() == Some(true) {
                        "destroyed"
                    } else {
                        "deleted"
                    };
                    let n = meta["version"].as_u64();
                    return Err(match version {
                        Some(v) => SecretError::Version {
                            secret: loc.clone(),
                            reason: format!("version {v} was {state}"),
                        },
                        None => not_found(
                            loc,
                            Some(match n {
                                Some(n) => format!("its latest version ({n}) was {state}"),
                                None => format!("its latest version was {state}"),
                            }),
                        ),
                    });
                }
                let Some(v) = version else {
                    return Err(not_found(loc, None));
                };
                // Is it the version that is missing, or the whole secret?
                let latest = self.get(&op, &segments, None).await?;
                if latest.status == 200 {
                    let n = serde_json::from_slice::<Value>(&latest.body)
                        .ok()
                        .and_then(|j| j["data"]["metadata"]["version"].as_u64());
                    Err(SecretError::Version {
                        secret: loc.clone(),
                        reason: match n {
                            Some(n) => format!("version {v} does not exist (the latest is {n})"),
                            None => format!("version {v} does not exist"),
                        },
                    })
                } else {
                    Err(not_found(loc, None))
                }
            }
            status => Err(unexpected(&op, status, &reply.body)),
        }
    }
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
        decode(value, secret.format.as_deref(), &loc)
    }
}

/// Applies the secret's `format`: `plain` (or none) as is, `base64` decoded to UTF-8.
fn decode(
    value: &SecretString,
    format: Option<&str>,
    loc: &SecretLocation,
) -> Result<SecretString, SecretError> {
    match format {
        None | Some("plain") => Ok(SecretString::from(value.expose_secret().to_owned())),
        Some("base64") => {
            // Like Python's b64decode: whitespace (line breaks) is ignored.
            let compact: String = value
                .expose_secret()
                .chars()
                .filter(|c| !c.is_ascii_whitespace())
                .collect();
            let compact = SecretString::from(compact);
            // The decoder's message names the offending byte: not repeated.
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(compact.expose_secret())
                .map_err(|_| SecretError::Decode {
                    secret: loc.clone(),
                    reason: "format base64: the value is not valid base64".into(),
                })?;
            String::from_utf8(bytes)
                .map(SecretString::from)
                .map_err(|_| SecretError::Decode {
                    secret: loc.clone(),
                    reason: "format base64: the decoded value is not UTF-8".into(),
                })
        }
        Some(other) => Err(SecretError::Decode {
            secret: loc.clone(),
            reason: format!("unsupported format '{other}' (expected plain or base64)"),
        }),
    }
}

/// A non-5xx answer to a plain GET.
struct Reply {
    status: u16,
    body: Vec<u8>,
}

/// A retryable failure of one attempt.
enum Failure {
    Transport(String),
    Server(u16, Option<String>),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transport(m) => f.write_str(m),
            Self::Server(status, m) => write!(f, "HTTP {status}{}", detail_suffix(m)),
        }
    }
}

fn to_fields(map: &serde_json::Map<String, Value>) -> Fields {
    map.iter()
        .map(|(k, v)| {
            let field = match v {
                Value::String(s) => FieldValue::Text(SecretString::from(s.clone())),
                Value::Number(n) => FieldValue::Text(SecretString::from(n.to_string())),
                Value::Bool(b) => FieldValue::Text(SecretString::from(b.to_string())),
                Value::Null => FieldValue::NotText("null"),
                Value::Array(_) => FieldValue::NotText("a list"),
                Value::Object(_) => FieldValue::NotText("an object"),
            };
            (k.clone(), field)
        })
        .collect()
}

fn json(op: &str, body: &[u8]) -> Result<Value, SecretError> {
    // serde_json's message names a position, not the content.
    serde_json::from_slice(body).map_err(|e| SecretError::Server {
        op: op.to_owned(),
        status: Some(200),
        message: format!("unexpected response: {e}"),
    })
}

fn not_found(loc: &SecretLocation, detail: Option<String>) -> SecretError {
    SecretError::NotFound {
        secret: loc.clone(),
        detail,
    }
}

fn forbidden(loc: &SecretLocation, body: &[u8]) -> SecretError {
    let message = vault_errors(body).filter(|m| m != "permission denied");
    SecretError::Forbidden {
        secret: loc.clone(),
        message: Some(message.unwrap_or_else(|| {
            "the token's policies do not allow reading this path, or the token is no longer valid".into()
        })),
    }
}

fn unexpected(op: &str, status: u16, body: &[u8]) -> SecretError {
    SecretError::Server {
        op: op.to_owned(),
        status: Some(status),
        message: format!("HTTP {status}{}", detail_suffix(&vault_errors(body))),
    }
}

/// Vault's `{"errors":[...]}` as one line (`1 error occurred: * permission denied` becomes
/// `permission denied`); `None` when the body has no errors.
fn vault_errors(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let errors: Vec<String> = v["errors"]
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .map(tidy_error)
        .filter(|s| !s.is_empty())
        .collect();
    (!errors.is_empty()).then(|| errors.join("; "))
}

fn tidy_error(s: &str) -> String {
    s.lines()
        .map(|l| l.trim().trim_start_matches("* ").trim())
        .filter(|l| {
            !l.is_empty() && !l.ends_with("error occurred:") && !l.ends_with("errors occurred:")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A vaultrs error as one line: Vault's `errors` when it sent some, else the error chain.
fn client_error_message(e: &ClientError) -> String {
    match e {
        ClientError::APIError { code, errors } => {
            let errors: Vec<String> = errors
                .iter()
                .map(|s| tidy_error(s))
                .filter(|s| !s.is_empty())
                .collect();
            if errors.is_empty() {
                format!("HTTP {code}")
            } else {
                format!("HTTP {code}: {}", errors.join("; "))
            }
        }
        // vaultrs and rustify wrap transport errors in generic layers: start at reqwest's.
        other => reqwest_error(other).map_or_else(|| error_chain(other), error_chain),
    }
}

/// The reqwest error in a vaultrs error's chain, if any.
fn reqwest_error(e: &ClientError) -> Option<&(dyn std::error::Error + 'static)> {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = src {
        if s.downcast_ref::<reqwest::Error>().is_some() {
            return Some(s);
        }
        src = s.source();
    }
    None
}

/// Whether the request got no usable answer (the chain holds a reqwest error).
fn is_transport(e: &ClientError) -> bool {
    reqwest_error(e).is_some()
}

/// `e` and its sources, joined with `: `. (reqwest names the URL, which holds no secret.)
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut message = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let text = s.to_string();
        if !message.ends_with(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        src = s.source();
    }
    message
}

/// Replaces every occurrence of a credential in `message`.
fn scrub(message: &str, credentials: &[&str]) -> String {
    credentials
        .iter()
        .filter(|c| !c.is_empty())
        .fold(message.to_owned(), |m, c| m.replace(c, "<redacted>"))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc() -> SecretLocation {
        SecretLocation {
            path: "app-sre/creds/x".into(),
            field: "token".into(),
            version: Some(3),
        }
    }

    #[test]
    fn base64_values_are_decoded_and_line_breaks_ignored() {
        let v = SecretString::from("aGVs\nbG8=".to_owned());
        assert_eq!(
            decode(&v, Some("base64"), &loc()).unwrap().expose_secret(),
            "hello"
        );
    }

    #[test]
    fn invalid_base64_is_a_decode_error_without_the_value() {
        let v = SecretString::from("not*base64".to_owned());
        let e = decode(&v, Some("base64"), &loc()).unwrap_err();
        assert!(matches!(e, SecretError::Decode { .. }));
        let text = e.to_string();
        assert!(text.contains("app-sre/creds/x/token (version 3)"), "{text}");
        assert!(!text.contains("not*base64"), "{text}");
    }

    #[test]
    fn unknown_formats_are_refused() {
        let v = SecretString::from("x".to_owned());
        let e = decode(&v, Some("hex"), &loc()).unwrap_err();
        assert!(e.to_string().contains("unsupported format 'hex'"), "{e}");
    }

    #[test]
    fn vault_error_lists_are_tidied() {
        let body = br#"{"errors":["1 error occurred:\n\t* permission denied\n\n"]}"#;
        assert_eq!(vault_errors(body).as_deref(), Some("permission denied"));
        assert_eq!(vault_errors(br#"{"errors":[]}"#), None);
        assert_eq!(vault_errors(b"<html>"), None);
    }

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

    #[test]
    fn credentials_are_scrubbed_from_messages() {
        assert_eq!(
            scrub("bad id abc-123 given", &["abc-123", ""]),
            "bad id <redacted> given"
        );
    }
}
