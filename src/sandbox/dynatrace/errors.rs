//! Error answers as the token API sends them: an `ErrorEnvelope` (`{"error": {code,
//! message}}`), with `constraintViolations` for a 400; plus the 415/400 of a body that is not
//! a JSON object, and the 404 of an unknown token (naming only its public part).

use axum::Json;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
/// An error answer: an `ErrorEnvelope`, with constraint violations for a 400.
pub(super) enum Reject {
    Error(StatusCode, String),
    Violations(Vec<Violation>),
}

impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            Self::Error(status, message) => (
                status,
                json!({"error": {"code": status.as_u16(), "message": message}}),
            ),
            Self::Violations(vs) => {
                let list: Vec<Value> = vs
                    .into_iter()
                    .map(|v| {
                        json!({"path": v.path, "message": v.message,
                               "parameterLocation": v.location, "location": null})
                    })
                    .collect();
                (
                    StatusCode::BAD_REQUEST,
                    json!({"error": {"code": 400, "message": "Constraints violated.",
                                     "constraintViolations": list}}),
                )
            }
        };
        (status, Json(body)).into_response()
    }
}

pub(super) fn error(status: StatusCode, message: &str) -> Reject {
    Reject::Error(status, message.to_owned())
}

pub(super) struct Violation {
    pub(super) path: String,
    pub(super) message: String,
    pub(super) location: &'static str,
}

impl Violation {
    pub(super) fn new(path: &str, message: &str, location: &'static str) -> Self {
        Self {
            path: path.to_owned(),
            message: message.to_owned(),
            location,
        }
    }
}

pub(super) fn violations(vs: Vec<Violation>) -> Reject {
    Reject::Violations(vs)
}

/// The request body as a JSON object, or the 415/400 the API would answer.
pub(super) fn json_object(headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, Reject> {
    match json_value(headers, body)? {
        Value::Object(m) => Ok(m),
        _ => Err(error(
            StatusCode::BAD_REQUEST,
            "Could not map JSON: expected an object",
        )),
    }
}

/// The request body as JSON, or the 415/400 the API would answer.
pub(super) fn json_value(headers: &HeaderMap, body: &[u8]) -> Result<Value, Reject> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    if !is_json {
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content type must be application/json",
        ));
    }
    serde_json::from_slice::<Value>(body).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            &format!(
                "Could not map JSON at '' near line {} column {}",
                e.line(),
                e.column()
            ),
        )
    })
}

pub(super) fn token_not_found(key: &str) -> Reject {
    // `{id}` may be a whole token: name only its public part.
    let id = public_part(key);
    error(
        StatusCode::NOT_FOUND,
        &format!("Token with ID '{id}' not found"),
    )
}

/// `prefix.public` of `prefix.public.secret`; anything else unchanged.
pub(super) fn public_part(key: &str) -> &str {
    match key.match_indices('.').nth(1) {
        Some((i, _)) => &key[..i],
        None => key,
    }
}
