//! App-interface input: the two [`AppInterfaceSource`](super::AppInterfaceSource)
//! implementations and their shared error type.
//!
//! - [`GraphqlSource`] asks qontract-server, pinned to one bundle sha for the whole run
//!   (`/sha256` → `/graphqlsha/<sha>`), with the Python integration's query documents
//!   (`graphql/*.graphql`, compiled by `graphql_client`) sent over dtp's own HTTP client.
//! - [`DatafilesSource`] reads a directory of app-interface datafiles (YAML), checking each file
//!   against its schema and reporting every broken file at once.
//!
//! - `log_rules` holds what both share for the log-rules reconciler's inputs
//!   ([`AppInterfaceSource::load_log_rules`](super::AppInterfaceSource::load_log_rules)): the
//!   selection of clusters and namespaces and its checks.
//!
//! Both produce the same [`AppInterfaceData`](crate::model::AppInterfaceData) (lists ordered by
//! datafile path, `source` set to the datafile path). Neither validates meaning (unique names,
//! scopes, URLs): that is [`crate::model::validate`]'s job. Errors name the server, query or
//! file; they never carry the GraphQL `Authorization` token.

mod datafiles;
mod graphql;
mod log_rules;

pub use datafiles::{
    DYNATRACE_ENVIRONMENT_SCHEMA, Datafile, DatafilesSource, OCM_ENVIRONMENT_SCHEMA,
    SETTINGS_SCHEMA, TOKEN_SPEC_SCHEMA, from_datafiles, load_dir, load_log_rules_dir,
    log_rules_from_datafiles, read_datafiles,
};
pub use graphql::{GraphqlSource, check_server, token_header};
pub use log_rules::{CLUSTER_SCHEMA, LOG_RULES_INTEGRATION, NAMESPACE_SCHEMA, is_namespace_name};

use super::ApiError;

/// A failure reading app-interface.
#[derive(Debug, thiserror::Error)]
pub enum AppInterfaceError {
    /// The GraphQL server URL or token cannot be used.
    #[error("qontract-server configuration: {0}")]
    Config(String),
    /// qontract-server could not be reached or answered with an HTTP error (after retries).
    #[error("qontract-server: {0}")]
    Http(#[from] ApiError),
    /// A query was answered with GraphQL `errors` (or without `data`) on every attempt, or was
    /// rejected as invalid (HTTP 400).
    #[error("qontract-server {server}: query {query} failed after {attempts} attempt(s): {}", .messages.join("; "))]
    Query {
        query: String,
        server: String,
        attempts: u32,
        messages: Vec<String>,
    },
    /// A query's `data` does not have the expected shape.
    #[error("qontract-server {server}: query {query}: unexpected response: {message}")]
    Decode {
        query: String,
        server: String,
        message: String,
    },
    /// The bundle is not (or no longer) on the server: a pinned sha that expired, or an
    /// expired bundle that was still gone after re-pinning to the latest sha.
    #[error("qontract-server {server}: bundle {sha} not found (expired or never loaded)")]
    BundleNotFound { server: String, sha: String },
    /// The data was read but breaks a rule of the source itself, e.g. the vault settings are
    /// not uniquely defined.
    #[error("app-interface data: {0}")]
    Data(String),
    /// Problems in a datafiles directory: one entry per problem, each naming its file.
    #[error("{} problem(s) in app-interface datafiles:\n  - {}", .0.len(), .0.join("\n  - "))]
    Datafiles(Vec<String>),
    /// Anything else (used by fakes and callers that wrap other failures).
    #[error("app-interface: {0}")]
    Other(String),
}

impl AppInterfaceError {
    /// Whether the data itself is wrong (a person must fix app-interface), as opposed to a
    /// server, network or configuration failure.
    pub fn is_invalid_data(&self) -> bool {
        matches!(self, Self::Datafiles(_) | Self::Data(_))
    }

    /// Whether dtp's configuration is wrong (the GraphQL server URL or token).
    pub fn is_configuration(&self) -> bool {
        matches!(self, Self::Config(_))
    }

    /// Every problem this error reports, one line each (datafile problems individually).
    pub fn problems(&self) -> Vec<String> {
        match self {
            Self::Datafiles(p) => p.clone(),
            other => vec![other.to_string()],
        }
    }
}
