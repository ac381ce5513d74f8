//! Plumbing shared by the sandbox servers: binding a router on loopback, recording every
//! request (so tests can assert "exactly these writes"), optional latency, and fault
//! injection (a rule answers matching requests with a chosen status a number of times).

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
}

impl Recorded {
    /// A request that changes state: POST, PUT, PATCH or DELETE, except the POSTs that only
    /// read (GraphQL queries, SSO token grants, Dynatrace token lookups).
    pub fn is_write(&self) -> bool {
        if !matches!(self.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE") {
            return false;
        }
        !(self.system == "graphql"
            || self.path.ends_with("/protocol/openid-connect/token")
            || self.path.ends_with("/apiTokens/lookup"))
    }
}

/// A fault: answer requests matching `method` (any when absent) and whose path contains
/// `path_contains` with `status`, `times` times (forever when absent).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    #[serde(default)]
    pub system: Option<String>,
    #[serde(default)]
    pub method: Option<String>,
    pub path_contains: String,
    pub status: u16,
    #[serde(default)]
    pub times: Option<u32>,
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// JSON error body; a system-shaped default is used when absent.
    #[serde(default)]
    pub body: Option<serde_json::Value>,
}

/// State shared by all sandbox servers of one sandbox: the request log, fault rules and
/// latency. Cheap to clone.
#[derive(Clone, Default)]
pub struct Control {
    inner: Arc<ControlInner>,
}

#[derive(Default)]
struct ControlInner {
    log: Mutex<Vec<Recorded>>,
    faults: Mutex<Vec<FaultRule>>,
    latency: Mutex<Duration>,
}

impl Control {
    pub fn new() -> Self {
        Self::default()
    }
    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.log.lock().expect("log lock").clone()
    }
    /// Writes (POST/PUT/PATCH/DELETE) received so far.
    pub fn writes(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(Recorded::is_write)
            .collect()
    }
    pub fn clear_requests(&self) {
        self.inner.log.lock().expect("log lock").clear();
    }
    pub fn add_fault(&self, rule: FaultRule) {
        self.inner.faults.lock().expect("fault lock").push(rule);
    }
    pub fn clear_faults(&self) {
        self.inner.faults.lock().expect("fault lock").clear();
    }
    pub fn set_latency(&self, d: Duration) {
        *self.inner.latency.lock().expect("latency lock") = d;
    }

    fn take_fault(&self, system: &str, method: &str, path: &str) -> Option<FaultRule> {
        let mut faults = self.inner.faults.lock().expect("fault lock");
        let idx = faults.iter().position(|f| {
            f.system.as_deref().is_none_or(|s| system.starts_with(s))
                && f.method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method))
                && path.contains(&f.path_contains)
                && f.times != Some(0)
        })?;
        let rule = faults[idx].clone();
        if let Some(t) = faults[idx].times.as_mut() {
            *t -= 1;
        }
        Some(rule)
    }
}

/// A running sandbox server.
pub struct Served {
    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub url: String,
    pub handle: tokio::task::JoinHandle<()>,
}

/// Binds `router` on an ephemeral loopback port, behind the recording/fault/latency layer,
/// and serves it in the background.
pub async fn serve(system: &str, router: Router, control: Control) -> std::io::Result<Served> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let url = format!("http://{}", listener.local_addr()?);
    let system = system.to_owned();
    let app = router.layer(middleware::from_fn(move |req: Request, next: Next| {
        let control = control.clone();
        let system = system.clone();
        async move { record_and_inject(&system, control, req, next).await }
    }));
    let handle = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(Served { url, handle })
}

async fn record_and_inject(system: &str, control: Control, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let bytes: Bytes = match axum::body::to_bytes(body, 16 * 1024 * 1024).await {
        Ok(b) => b,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "body too large").into_response(),
    };
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    let query = parts
        .uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&")
        })
        .unwrap_or_default();
    control.inner.log.lock().expect("log lock").push(Recorded {
        system: system.to_owned(),
        method: method.clone(),
        path: path.clone(),
        query,
        body: serde_json::from_slice(&bytes).ok(),
    });
    let latency = *control.inner.latency.lock().expect("latency lock");
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some(rule) = control.take_fault(system, &method, &path) {
        let status = StatusCode::from_u16(rule.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = rule
            .body
            .unwrap_or_else(|| default_error_body(system, status, &path));
        let mut resp = (status, axum::Json(body)).into_response();
        if let Some(ra) = rule.retry_after {
            resp.headers_mut().insert(
                "retry-after",
                HeaderValue::from_str(&ra.to_string()).expect("digits"),
            );
        }
        return resp;
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

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
