//! Red Hat SSO: the client-credentials grant (client auth in the form or with HTTP Basic,
//! opaque expiring tokens, Keycloak-shaped errors) and the bearer check in front of every
//! `/api/...` route.

use super::OcmSandbox;
use super::http::{Answer, Caller, error};
use super::state::Issued;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::json;
use std::collections::HashMap;
use std::time::Instant;
pub(super) async fn require_bearer(
    State(s): State<OcmSandbox>,
    mut req: Request,
    next: Next,
) -> Answer {
    let path = req.uri().path().to_owned();
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| rest.trim().to_owned())
        });
    let unauthorized = |reason: &str| error(StatusCode::UNAUTHORIZED, &path, reason);
    let token = token.ok_or_else(|| unauthorized("Authentication required"))?;
    let caller = {
        let db = s.lock();
        match db.tokens.get(&token) {
            None => return Err(unauthorized("Authentication required")),
            Some(t) if Instant::now() >= t.expires => {
                return Err(unauthorized("Bearer token is expired"));
            }
            Some(t) => Caller {
                client_id: t.client_id.clone(),
            },
        }
    };
    req.extensions_mut().insert(caller);
    Ok(next.run(req).await)
}

pub(super) fn sso_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = json!({"error": error, "error_description": description});
    (status, axum::Json(body)).into_response()
}

/// The client id and secret: from HTTP Basic when given, else from the form.
fn client_credentials(
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Option<(String, String)> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
        .and_then(|b64| {
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
        })
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|pair| {
            pair.split_once(':')
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
        });
    match basic {
        Some(pair) => Some(pair),
        None => match (form.get("client_id"), form.get("client_secret")) {
            (Some(id), Some(secret)) => Some((id.clone(), secret.clone())),
            _ => None,
        },
    }
}

/// `POST` client_credentials grant; client auth in the form or with HTTP Basic.
pub(super) async fn token(
    State(s): State<OcmSandbox>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const BAD_CLIENT: &str = "Invalid client or Invalid client credentials";
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    match form.get("grant_type").map(String::as_str) {
        None => {
            return sso_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing form parameter: grant_type",
            );
        }
        Some("client_credentials") => {}
        Some(_) => {
            return sso_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Unsupported grant_type",
            );
        }
    }
    let Some((client_id, client_secret)) = client_credentials(&headers, &form) else {
        return sso_error(StatusCode::UNAUTHORIZED, "invalid_client", BAD_CLIENT);
    };
    let mut db = s.lock();
    let known = db
        .clients
        .iter()
        .any(|c| c.client_id == client_id && c.client_secret == client_secret);
    if !known {
        return sso_error(StatusCode::UNAUTHORIZED, "invalid_client", BAD_CLIENT);
    }
    let lifetime = db.token_lifetime;
    let access_token = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    db.tokens.insert(
        access_token.clone(),
        Issued {
            client_id,
            expires: Instant::now() + lifetime,
        },
    );
    db.grants += 1;
    axum::Json(json!({
        "access_token": access_token,
        "expires_in": lifetime.as_secs(),
        "refresh_expires_in": 0,
        "token_type": "Bearer",
        "not-before-policy": 0,
        "scope": "openid api.iam.service_account",
    }))
    .into_response()
}
