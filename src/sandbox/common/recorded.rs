//! What the sandbox remembers of each request: [`Recorded`] (system, method, path, query, JSON
//! body and, when a [`super::FaultRule`] decided the request, the [`InjectedFault`]).

use super::faults::InjectedFault;
use serde::Serialize;

/// One request a sandbox server received.
#[derive(Clone, Debug, Serialize)]
pub struct Recorded {
    /// `ocm:<env>`, `dynatrace`, `graphql`.
    pub system: String,
    pub method: String,
    pub path: String,
    /// Raw query string (percent-decoded), empty when none.
    pub query: String,
    /// JSON body, when the body was JSON.
    pub body: Option<serde_json::Value>,
    /// The fault injected into this request, `None` when it was served normally (latency is
    /// not a fault).
    pub fault: Option<InjectedFault>,
}

impl Recorded {
    /// A request that changes state: POST, PUT, PATCH or DELETE, except the POSTs that only
    /// read (GraphQL queries, SSO token grants, Dynatrace token lookups). Whether a fault kept
    /// it from being processed does not matter: this is what the client *sent*.
    pub fn is_write(&self) -> bool {
        if !matches!(self.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE") {
            return false;
        }
        !(self.system == "graphql"
            || self.path.ends_with("/protocol/openid-connect/token")
            || self.path.ends_with("/apiTokens/lookup"))
    }

    /// Whether the server processed the request (no fault, or a fault applied after or
    /// around processing, or a delay-only fault before it).
    pub fn was_processed(&self) -> bool {
        self.fault.as_ref().is_none_or(InjectedFault::processes)
    }
}
