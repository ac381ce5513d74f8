//! The HTTP surface of qontract-server: the nginx `Authorization` gate, 503 `No loaded data.`
//! before the first bundle, `POST /graphql` and `/graphqlsha/{sha}`, `GET /sha256` (running
//! the hooks of [`super::GraphqlSandbox::on_next_sha256`]), `/git-commit-info[/{sha}]`, the
//! redirect of `/` and Express's HTML 404.

use super::GraphqlSandbox;
use super::bundle::Bundle;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
/// The nginx gate (Basic auth) in front of qontract-server, then qontract-server's own 503
/// while nothing is loaded.
pub(super) async fn gate(State(sb): State<GraphqlSandbox>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    if path != "/"
        && let Some(auth) = &sb.inner.auth
    {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes);
        if given != Some(auth.as_bytes()) {
            let mut resp = (
                StatusCode::UNAUTHORIZED,
                html("<html>\r\n<head><title>401 Authorization Required</title></head>\r\n<body>\r\n<center><h1>401 Authorization Required</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"),
            )
                .into_response();
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"qontract-server\""),
            );
            return resp;
        }
    }
    if path != "/" && path != "/reload" && sb.latest().is_none() {
        return (StatusCode::SERVICE_UNAVAILABLE, html("No loaded data.")).into_response();
    }
    next.run(req).await
}

pub(super) fn html(body: &str) -> ([(header::HeaderName, &'static str); 1], String) {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body.to_owned(),
    )
}

pub(super) fn redirect(to: &'static str) -> Response {
    (
        StatusCode::FOUND,
        [(header::LOCATION, to)],
        format!("Found. Redirecting to {to}"),
    )
        .into_response()
}

/// Express's default 404 (`finalhandler`): an HTML page, not JSON.
pub(super) async fn express_404(method: Method, uri: Uri) -> Response {
    let body = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Error</title>\n</head>\n<body>\n<pre>Cannot {} {}</pre>\n</body>\n</html>\n",
        method,
        uri.path()
    );
    (StatusCode::NOT_FOUND, html(&body)).into_response()
}

pub(super) async fn graphql_latest(State(sb): State<GraphqlSandbox>, body: Bytes) -> Response {
    match sb.latest() {
        Some(bundle) => sb.execute(bundle, &body).await,
        None => (StatusCode::SERVICE_UNAVAILABLE, html("No loaded data.")).into_response(),
    }
}

pub(super) async fn graphql_sha(
    State(sb): State<GraphqlSandbox>,
    Path(sha): Path<String>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    match sb.bundle(&sha) {
        Some(bundle) => sb.execute(bundle, &body).await,
        None => express_404(method, uri).await,
    }
}

pub(super) async fn sha256(State(sb): State<GraphqlSandbox>) -> Response {
    let (sha, hooks) = {
        let mut st = sb.state();
        (
            st.latest.clone().unwrap_or_default(),
            std::mem::take(&mut st.after_sha_read),
        )
    };
    for hook in hooks {
        hook(&sb);
    }
    (StatusCode::OK, html(&sha)).into_response()
}

pub(super) fn commit_json(bundle: &Bundle) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"commit": bundle.commit, "timestamp": bundle.timestamp}).to_string(),
    )
        .into_response()
}

pub(super) async fn commit_info_latest(State(sb): State<GraphqlSandbox>) -> Response {
    match sb.latest() {
        Some(b) => commit_json(&b),
        None => (StatusCode::SERVICE_UNAVAILABLE, html("No loaded data.")).into_response(),
    }
}

pub(super) async fn commit_info(
    State(sb): State<GraphqlSandbox>,
    Path(sha): Path<String>,
) -> Response {
    match sb.bundle(&sha) {
        Some(b) => commit_json(&b),
        None => (
            StatusCode::NOT_FOUND,
            html(&format!("Bundle {sha} not found")),
        )
            .into_response(),
    }
}
