//! Vault failures ([`SecretError`], always naming the secret, never carrying a value or a
//! credential) and the helpers that turn Vault's and vaultrs's error shapes into one line.

use crate::model::{REDACTED, VaultSecretRef};
use serde_json::Value;
use std::fmt;
use vaultrs::error::ClientError;

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

pub(super) fn detail_suffix(detail: &Option<String>) -> String {
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

pub(super) fn not_found(loc: &SecretLocation, detail: Option<String>) -> SecretError {
    SecretError::NotFound {
        secret: loc.clone(),
        detail,
    }
}

pub(super) fn forbidden(loc: &SecretLocation, body: &[u8]) -> SecretError {
    let message = vault_errors(body).filter(|m| m != "permission denied");
    SecretError::Forbidden {
        secret: loc.clone(),
        message: Some(message.unwrap_or_else(|| {
            "the token's policies do not allow reading this path, or the token is no longer valid".into()
        })),
    }
}

pub(super) fn unexpected(op: &str, status: u16, body: &[u8]) -> SecretError {
    SecretError::Server {
        op: op.to_owned(),
        status: Some(status),
        message: format!("HTTP {status}{}", detail_suffix(&vault_errors(body))),
    }
}

/// Vault's `{"errors":[...]}` as one line (`1 error occurred: * permission denied` becomes
/// `permission denied`); `None` when the body has no errors.
pub(super) fn vault_errors(body: &[u8]) -> Option<String> {
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

pub(super) fn tidy_error(s: &str) -> String {
    s.lines()
        .map(|l| l.trim().trim_start_matches("* ").trim())
        .filter(|l| {
            !l.is_empty() && !l.ends_with("error occurred:") && !l.ends_with("errors occurred:")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A vaultrs error as one line: Vault's `errors` when it sent some, else the error chain.
pub(super) fn client_error_message(e: &ClientError) -> String {
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
pub(super) fn reqwest_error(e: &ClientError) -> Option<&(dyn std::error::Error + 'static)> {
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
pub(super) fn is_transport(e: &ClientError) -> bool {
    reqwest_error(e).is_some()
}

/// `e` and its sources, joined with `: `. (reqwest names the URL, which holds no secret.)
pub(super) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
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
pub(super) fn scrub(message: &str, credentials: &[&str]) -> String {
    credentials
        .iter()
        .filter(|c| !c.is_empty())
        .fold(message.to_owned(), |m, c| m.replace(c, REDACTED))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_error_lists_are_tidied() {
        let body = br#"{"errors":["1 error occurred:\n\t* permission denied\n\n"]}"#;
        assert_eq!(vault_errors(body).as_deref(), Some("permission denied"));
        assert_eq!(vault_errors(br#"{"errors":[]}"#), None);
        assert_eq!(vault_errors(b"<html>"), None);
    }

    #[test]
    fn credentials_are_scrubbed_from_messages() {
        assert_eq!(
            scrub("bad id abc-123 given", &["abc-123", ""]),
            "bad id <redacted> given"
        );
    }
}
