//! The error bodies the real systems send, used for injected faults and by the servers
//! themselves: Dynatrace's `ErrorEnvelope`, OCM's `kind: Error` and a GraphQL `errors` list.

use axum::http::StatusCode;

/// The error body a real server of `system` would send.
pub fn default_error_body(system: &str, status: StatusCode, path: &str) -> serde_json::Value {
    let code = status.as_u16();
    let reason = status.canonical_reason().unwrap_or("error");
    if system.starts_with("dynatrace") {
        serde_json::json!({"error": {"code": code, "message": reason}})
    } else if system.starts_with("ocm") {
        ocm_error(code, path, reason)
    } else {
        serde_json::json!({"errors": [{"message": reason}]})
    }
}

/// An OCM error body (`kind: Error`, string `id`, `code` `<SERVICE>-<id>`).
pub fn ocm_error(status: u16, path: &str, reason: &str) -> serde_json::Value {
    let (service, code_prefix) = if path.starts_with("/api/accounts_mgmt") {
        ("accounts_mgmt", "ACCOUNT-MGMT")
    } else if path.starts_with("/api/service_logs") {
        ("service_logs", "SERVICE-LOGS")
    } else {
        ("clusters_mgmt", "CLUSTERS-MGMT")
    };
    serde_json::json!({
        "kind": "Error",
        "id": status.to_string(),
        "href": format!("/api/{service}/v1/errors/{status}"),
        "code": format!("{code_prefix}-{status}"),
        "reason": reason,
        "operation_id": uuid::Uuid::new_v4().to_string(),
    })
}
