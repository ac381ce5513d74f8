//! The middleware in front of every sandbox router: buffer the body, pick the fault plan,
//! record the request, wait the latency, then serve it normally or run the plan (delays on
//! either side of the real handler, a fault answer, or a connection reset that
//! [`super::serve`] turns into a TCP RST).

use super::control::Control;
use super::errors::default_error_body;
use super::faults::{FaultWhen, Outcome, Plan};
use super::recorded::Recorded;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;

/// Largest request body the sandbox reads.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Marks a response that must not be sent: the connection is reset instead.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ResetConnection;

pub(crate) async fn record_and_inject(
    system: Arc<str>,
    control: Control,
    req: Request,
    next: Next,
) -> Response {
    let (parts, body) = req.into_parts();
    let bytes: Bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "body too large").into_response(),
    };
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    let plan = control.take_plan(&system, &method, &path);
    control.record(Recorded {
        system: system.to_string(),
        method,
        path: path.clone(),
        query: decoded_query(parts.uri.query()),
        body: serde_json::from_slice(&bytes).ok(),
        fault: plan.as_ref().map(|p| p.record.clone()),
    });
    sleep(control.latency_for(&system)).await;
    let req = Request::from_parts(parts, Body::from(bytes));
    match plan {
        None => next.run(req).await,
        // Detached, so the server finishes what it started even when the client gives up.
        Some(plan) => tokio::spawn(run_plan(plan, system, path, req, next))
            .await
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response()),
    }
}

/// `k=v&k=v`, percent-decoded; empty when there is no query.
fn decoded_query(query: Option<&str>) -> String {
    query
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&")
        })
        .unwrap_or_default()
}

async fn sleep(d: Duration) {
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
}

async fn run_plan(
    plan: Plan,
    system: Arc<str>,
    path: String,
    req: Request,
    next: Next,
) -> Response {
    let runs_handler = plan.when != FaultWhen::Before || matches!(plan.outcome, Outcome::Real);
    if plan.when != FaultWhen::After {
        sleep(plan.delay).await;
    }
    let real = if runs_handler {
        Some(next.run(req).await)
    } else {
        None
    };
    if plan.when != FaultWhen::Before {
        sleep(plan.delay).await;
    }
    match plan.outcome {
        Outcome::Real => real.unwrap_or_else(|| StatusCode::INTERNAL_SERVER_ERROR.into_response()),
        Outcome::Reset => {
            // Without the sandbox's accept loop (a bare router), this degrades to a 500.
            let mut resp = StatusCode::INTERNAL_SERVER_ERROR.into_response();
            resp.extensions_mut().insert(ResetConnection);
            resp
        }
        Outcome::Status {
            status,
            body,
            retry_after,
        } => fault_answer(&system, &path, status, body, retry_after),
    }
}

fn fault_answer(
    system: &str,
    path: &str,
    status: u16,
    body: Option<serde_json::Value>,
    retry_after: Option<u64>,
) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = body.unwrap_or_else(|| default_error_body(system, status, path));
    let mut resp = (status, axum::Json(body)).into_response();
    if let Some(ra) = retry_after {
        resp.headers_mut().insert(
            "retry-after",
            HeaderValue::from_str(&ra.to_string()).expect("digits"),
        );
    }
    resp
}
