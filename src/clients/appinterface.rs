//! placeholder: app-interface over GraphQL and from a datafiles directory.

/// A failure reading app-interface.
#[derive(Debug, thiserror::Error)]
pub enum AppInterfaceError {
    #[error("{0}")]
    Other(String),
}
