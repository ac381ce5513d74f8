//! placeholder: secrets from Vault or config.toml.

/// A failure reading a secret. Never carries the secret value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("{0}")]
    Other(String),
}
