//! The domain model: identifiers, the app-interface inputs, token-spec validation, label
//! bindings, token naming, the Secret layout, and the plain data the core reads from the
//! outside world (discovered clusters, Dynatrace token metadata, created tokens). Everything
//! here is pure (no I/O, no clock) and depends on nothing else in the crate.

pub mod appinterface;
pub mod bindings;
pub mod bundle;
pub mod cluster;
pub mod ids;
pub mod naming;
pub mod token;
pub mod validate;

#[cfg(test)]
pub mod fixtures;

pub use appinterface::*;
pub use cluster::{ClusterRef, DiscoveredCluster, Discovery, ServiceLogOutcome};
pub use ids::*;
pub use token::{CreatedToken, DtToken};

/// `qontract.integration` annotation value and the integration name everywhere
/// (service logs, metrics, the Unleash toggle): kept from the Python integration for drop-in
/// compatibility.
pub const INTEGRATION_NAME: &str = "dynatrace-token-provider";
/// `qontract.integration_version` annotation value written by the Python integration (HEAD).
pub const INTEGRATION_VERSION: &str = "2.0.1";
/// The SyncSet / Manifest id holding all Secrets of a cluster.
pub const BUNDLE_ID: &str = "ext-dynatrace-tokens-dtp";
/// What dtp prints instead of a secret, everywhere (`Debug`, scrubbed messages).
pub const REDACTED: &str = "<redacted>";
