//! The qontract-reconcile `config.toml`, read once and validated: `[graphql] server, token`
//! and `[vault] server` with AppRole (`role_id` + `secret_id`), Kubernetes
//! (`kube_auth_role` + `kube_auth_mount`) or token (`VAULT_TOKEN`) login, chosen exactly as the
//! Python integration chooses (B1, B6). Other sections (`smtp`, …) are ignored, but kept so the
//! config-file secret reader ([`ConfigSecretReader`], used when app-interface says
//! `vault: false`, B5) can walk them.
//!
//! This module reads no environment variable: the caller passes `VAULT_TOKEN` in. Errors name
//! the file and the key at fault and never carry a value from the file; `Debug` output redacts
//! every credential. The Vault settings it produces are the Vault client's own
//! ([`VaultSettings`], [`VaultAuth`]): configuration knows the clients, not the reverse.

use crate::clients::SecretReader;
use crate::clients::http::redact_url;
use crate::clients::vault::{SecretError, VaultAuth, VaultSettings};
use crate::model::{REDACTED, VaultSecretRef};
use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use toml::{Table, Value};
use url::Url;

/// `[vault]` as the Vault client takes it (the name of the section in config.toml).
pub type VaultConfig = VaultSettings;

/// The parsed `config.toml`.
#[derive(Clone)]
pub struct QontractConfig {
    /// `[graphql]`, when present.
    pub graphql: Option<GraphqlConfig>,
    /// `[vault]`, when present.
    pub vault: Option<VaultSettings>,
    /// Where the config came from (file path), for messages.
    origin: String,
    /// The whole document: the config-file secret reader walks it. Holds secrets, so it is
    /// private and never printed.
    raw: Table,
}

/// `[graphql]`: the qontract-server endpoint.
#[derive(Clone)]
pub struct GraphqlConfig {
    pub server: Url,
    /// Sent verbatim as the `Authorization` header (it already holds its scheme, e.g. `Basic …`).
    pub token: Option<SecretString>,
}

/// `config.toml` could not be read or is not valid. The message names the file and the key;
/// it never holds a value from the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {message}")]
    Read { path: String, message: String },
    #[error("{origin}: invalid TOML at line {line}, column {column}: {message}")]
    Syntax {
        origin: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
}

impl QontractConfig {
    /// Reads and validates `path`. `vault_token` is the value of `VAULT_TOKEN` (used only when
    /// `[vault]` has neither `role_id` nor `kube_auth_role`); an empty token counts as unset.
    pub fn load(path: &Path, vault_token: Option<SecretString>) -> Result<Self, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: origin.clone(),
            message: e.to_string(),
        })?;
        Self::from_str(&text, &origin, vault_token)
    }

    /// Parses config text; `origin` names it in messages (normally the file path).
    pub fn from_str(
        text: &str,
        origin: &str,
        vault_token: Option<SecretString>,
    ) -> Result<Self, ConfigError> {
        let raw: Table = text
            .parse()
            .map_err(|e: toml::de::Error| syntax_error(origin, text, &e))?;
        let doc = Doc { origin };
        let graphql = match doc.section(&raw, "graphql")? {
            None => None,
            Some(t) => Some(GraphqlConfig {
                server: doc.url(t, "graphql", "server")?,
                token: doc.string(t, "graphql", "token")?.map(SecretString::from),
            }),
        };
        let vault = match doc.section(&raw, "vault")? {
            None => None,
            Some(t) => Some(VaultSettings {
                server: doc.url(t, "vault", "server")?,
                auth: doc.vault_auth(t, vault_token)?,
            }),
        };
        Ok(Self {
            graphql,
            vault,
            origin: origin.to_owned(),
            raw,
        })
    }

    /// Where this config came from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// A secret from the config file itself, as qontract-reconcile's config reader finds it:
    /// `path` split on `/` names nested tables, `field` the key in the last one. `format` and
    /// `version` are ignored (as in Python). Strings are returned as they are; numbers,
    /// booleans and dates as their TOML text.
    pub fn config_secret(&self, secret: &VaultSecretRef) -> Result<SecretString, SecretError> {
        let not_found = || SecretError::ConfigKeyNotFound {
            path: secret.path.clone(),
            field: secret.field.clone(),
        };
        let mut table = &self.raw;
        for segment in secret.path.split('/') {
            match table.get(segment) {
                Some(Value::Table(t)) => table = t,
                _ => return Err(not_found()),
            }
        }
        match table.get(&secret.field) {
            None => Err(not_found()),
            Some(Value::String(s)) => Ok(SecretString::from(s.clone())),
            Some(v @ (Value::Table(_) | Value::Array(_))) => Err(SecretError::Decode {
                secret: secret.into(),
                reason: format!("the config file holds {} there, not a value", kind(v)),
            }),
            Some(v) => Ok(SecretString::from(v.to_string())),
        }
    }
}

impl fmt::Debug for QontractConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QontractConfig")
            .field("origin", &self.origin)
            .field("graphql", &self.graphql)
            .field("vault", &self.vault)
            .field("sections", &self.raw.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl fmt::Debug for GraphqlConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphqlConfig")
            .field("server", &redact_url(&self.server))
            .field("token", &self.token.as_ref().map(|_| REDACTED))
            .finish()
    }
}

/// Reads secrets from `config.toml` (app-interface settings `vault: false`).
#[derive(Clone, Debug)]
pub struct ConfigSecretReader {
    config: Arc<QontractConfig>,
}

impl ConfigSecretReader {
    pub fn new(config: impl Into<Arc<QontractConfig>>) -> Self {
        Self {
            config: config.into(),
        }
    }
}

#[async_trait]
impl SecretReader for ConfigSecretReader {
    async fn read(&self, secret: &VaultSecretRef) -> Result<SecretString, SecretError> {
        self.config.config_secret(secret)
    }
}

/// A TOML syntax error located by line and column. toml's own `Display` quotes the offending
/// source line, which may hold a secret, so only its message is kept.
fn syntax_error(origin: &str, text: &str, e: &toml::de::Error) -> ConfigError {
    let (line, column) = match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            (line, column)
        }
        None => (0, 0),
    };
    ConfigError::Syntax {
        origin: origin.to_owned(),
        line,
        column,
        message: e.message().trim().replace('\n', "; "),
    }
}

/// A TOML value's type with its article, for messages ("an integer").
fn kind(v: &Value) -> String {
    let t = v.type_str();
    let article = if t.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {t}")
}

/// Typed access to the document with messages that name the file, section and key.
struct Doc<'a> {
    origin: &'a str,
}

impl Doc<'_> {
    fn invalid(&self, message: String) -> ConfigError {
        ConfigError::Invalid {
            origin: self.origin.to_owned(),
            message,
        }
    }

    fn section<'t>(&self, root: &'t Table, name: &str) -> Result<Option<&'t Table>, ConfigError> {
        match root.get(name) {
            None => Ok(None),
            Some(Value::Table(t)) => Ok(Some(t)),
            Some(v) => Err(self.invalid(format!("[{name}] must be a table, not {}", kind(v)))),
        }
    }

    /// An optional string key; present but not a string is an error. The value is never quoted.
    fn string<'t>(
        &self,
        t: &'t Table,
        section: &str,
        key: &str,
    ) -> Result<Option<&'t str>, ConfigError> {
        match t.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(v) => Err(self.invalid(format!(
                "[{section}] {key} must be a string, not {}",
                kind(v)
            ))),
        }
    }

    /// A required, non-empty string key.
    fn required(&self, t: &Table, section: &str, key: &str) -> Result<String, ConfigError> {
        match self.string(t, section, key)? {
            None => Err(self.invalid(format!("[{section}] has no {key}"))),
            Some(s) if s.trim().is_empty() => {
                Err(self.invalid(format!("[{section}] {key} is empty")))
            }
            Some(s) => Ok(s.to_owned()),
        }
    }

    /// A required http(s) URL.
    fn url(&self, t: &Table, section: &str, key: &str) -> Result<Url, ConfigError> {
        let s = self.required(t, section, key)?;
        match Url::parse(s.trim()) {
            Ok(u) if !u.username().is_empty() || u.password().is_some() => Err(self.invalid(
                format!("[{section}] {key} must not carry credentials (user info in the URL)"),
            )),
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => Ok(u),
            // The value is not quoted: a URL may carry credentials.
            Ok(_) => Err(self.invalid(format!("[{section}] {key} must be an http or https URL"))),
            Err(e) => Err(self.invalid(format!("[{section}] {key} is not a valid URL: {e}"))),
        }
    }

    /// AppRole if `role_id` is present, else Kubernetes if `kube_auth_role` is present, else
    /// the `VAULT_TOKEN` token.
    fn vault_auth(
        &self,
        t: &Table,
        vault_token: Option<SecretString>,
    ) -> Result<VaultAuth, ConfigError> {
        if t.contains_key("role_id") {
            let role_id = self.required(t, "vault", "role_id")?;
            if !t.contains_key("secret_id") {
                return Err(self.invalid("[vault] has role_id but no secret_id".to_owned()));
            }
            let secret_id = self.required(t, "vault", "secret_id")?;
            return Ok(VaultAuth::AppRole {
                role_id,
                secret_id: SecretString::from(secret_id),
            });
        }
        if t.contains_key("kube_auth_role") {
            let role = self.required(t, "vault", "kube_auth_role")?;
            if !t.contains_key("kube_auth_mount") {
                return Err(
                    self.invalid("[vault] has kube_auth_role but no kube_auth_mount".to_owned())
                );
            }
            let mount = self.required(t, "vault", "kube_auth_mount")?;
            let mount = mount.trim().trim_matches('/').to_owned();
            if mount.is_empty() {
                return Err(self.invalid("[vault] kube_auth_mount is empty".to_owned()));
            }
            return Ok(VaultAuth::Kubernetes { role, mount });
        }
        if t.contains_key("secret_id") {
            return Err(self.invalid("[vault] has secret_id but no role_id".to_owned()));
        }
        match vault_token {
            Some(token) if !token.expose_secret().trim().is_empty() => Ok(VaultAuth::Token(token)),
            _ => Err(self.invalid(
                "[vault] has neither role_id (AppRole) nor kube_auth_role (Kubernetes), and VAULT_TOKEN is not set"
                    .to_owned(),
            )),
        }
    }
}
