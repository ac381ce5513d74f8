//! The domain model: identifiers, the app-interface inputs, token-spec validation, label
//! bindings, token naming and the Secret layout. Everything here is pure (no I/O, no clock)
//! and must never depend on `crate::clients`.

pub mod appinterface;
pub mod bindings;
pub mod bundle;
pub mod ids;
pub mod naming;
pub mod validate;

pub use appinterface::*;
pub use ids::*;

/// `qontract.integration` annotation value and the integration name everywhere
/// (service logs, metrics): kept from the Python integration for drop-in compatibility.
pub const INTEGRATION_NAME: &str = "dynatrace-token-provider";
/// `qontract.integration_version` annotation value written by the Python integration (HEAD).
pub const INTEGRATION_VERSION: &str = "2.0.1";
/// The SyncSet / Manifest id holding all Secrets of a cluster.
pub const BUNDLE_ID: &str = "ext-dynatrace-tokens-dtp";
