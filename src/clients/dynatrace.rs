//! The Dynatrace Environment API v2 access-token client (`/api/v2/apiTokens`): list every
//! token of a tenant (paged through `nextPageKey`), create, update (PUT name and scopes) and
//! delete. One [`DynatraceClient`] serves one tenant and authenticates with that tenant's
//! bootstrap token (`Authorization: Api-Token …`). Transport, retries and `Retry-After` come
//! from [`crate::clients::http`]; this module only knows the token API's shapes. It must
//! never log, format or return a secret: neither the bootstrap token nor a created token's
//! value appears in its errors, logs or `Debug` output. The API base comes from
//! [`DynatraceEnvironment::api_url`], so Managed URLs (`https://host/e/<env-id>`) work.

use crate::clients::Dynatrace;
use crate::clients::http::{ApiError, Http, read_json, send};
use crate::model::{CreatedToken, DtToken, DynatraceEnvironment, REDACTED, TenantId, TokenId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue};
use reqwest::{RequestBuilder, Response};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use std::collections::HashSet;
use std::fmt;
use url::Url;

/// Page size of the first list request; the API allows 100..=10000.
const PAGE_SIZE: &str = "1000";
/// Fields added to the defaults (`id,name,enabled,owner,creationDate`) of the list.
const LIST_FIELDS: &str = "+expirationDate,+scopes";
/// Upper bound on pages followed in one listing: 10 million tokens at the page size above,
/// far beyond any real tenant, so hitting it means the server is misbehaving.
const MAX_PAGES: usize = 10_000;

/// A Dynatrace tenant's token API, authenticated with its bootstrap token.
pub struct DynatraceClient {
    tenant: TenantId,
    /// `…/api/v2/apiTokens`, or why the environment URL is unusable.
    base: Result<Url, String>,
    bootstrap_token: SecretString,
    http: Http,
}

impl fmt::Debug for DynatraceClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynatraceClient")
            .field("tenant", &self.tenant)
            .field("base", &self.base.as_ref().map(Url::as_str))
            .field("bootstrap_token", &REDACTED)
            .finish_non_exhaustive()
    }
}

impl DynatraceClient {
    /// A client for `env`'s tenant. An unusable environment URL is not an error here: every
    /// call then fails with a message naming the tenant and the URL.
    pub fn new(env: &DynatraceEnvironment, bootstrap_token: SecretString, http: Http) -> Self {
        let api_url = env.api_url();
        let base = Url::parse(&api_url)
            .map_err(|e| format!("invalid environment URL '{}': {e}", env.environment_url))
            .and_then(|mut url| {
                if url.cannot_be_a_base() || !matches!(url.scheme(), "http" | "https") {
                    return Err(format!(
                        "invalid environment URL '{}': not an http(s) URL",
                        env.environment_url
                    ));
                }
                url.set_query(None);
                url.set_fragment(None);
                url.path_segments_mut()
                    .map_err(|()| format!("invalid environment URL '{}'", env.environment_url))?
                    .pop_if_empty()
                    .extend(["v2", "apiTokens"]);
                Ok(url)
            });
        Self {
            tenant: env.environment_id.clone(),
            base,
            bootstrap_token,
            http,
        }
    }

    /// The tenant this client talks to.
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    fn op(&self, what: impl fmt::Display) -> String {
        format!("Dynatrace tenant {}: {what}", self.tenant)
    }

    /// `…/apiTokens`, or `…/apiTokens/<id>` with the id percent-encoded as a path segment.
    fn url(&self, op: &str, id: Option<&TokenId>) -> Result<Url, ApiError> {
        let mut url = self.base.clone().map_err(|message| ApiError::Transport {
            op: op.to_owned(),
            message,
            not_sent: true,
        })?;
        if let Some(id) = id {
            url.path_segments_mut()
                .expect("checked in new: the base URL has a path")
                .push(id.as_str());
        }
        Ok(url)
    }

    /// The `Authorization` header value, marked sensitive so no layer below logs it.
    fn auth_header(&self, op: &str) -> Result<HeaderValue, ApiError> {
        let mut value = HeaderValue::from_str(&format!(
            "Api-Token {}",
            self.bootstrap_token.expose_secret()
        ))
        .map_err(|_| ApiError::Auth {
            op: op.to_owned(),
            message: "the bootstrap token contains characters not allowed in an HTTP header"
                .to_owned(),
        })?;
        value.set_sensitive(true);
        Ok(value)
    }

    fn request(&self, rb: RequestBuilder, auth: &HeaderValue) -> RequestBuilder {
        rb.header(AUTHORIZATION, auth.clone())
            .header(ACCEPT, "application/json")
    }
}

#[async_trait]
impl Dynatrace for DynatraceClient {
    async fn list_tokens(&self) -> Result<Vec<DtToken>, ApiError> {
        let op = self.op("list tokens");
        let url = self.url(&op, None)?;
        let auth = self.auth_header(&op)?;
        let mut tokens = Vec::new();
        let mut followed: HashSet<String> = HashSet::new();
        let mut next: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let resp = send(
                &self.http.settings,
                "dynatrace",
                &op,
                true,
                || {
                    let rb = self.request(self.http.client.get(url.clone()), &auth);
                    match &next {
                        // The API rejects any other parameter next to nextPageKey.
                        Some(key) => rb.query(&[("nextPageKey", key.as_str())]),
                        None => rb.query(&[("pageSize", PAGE_SIZE), ("fields", LIST_FIELDS)]),
                    }
                },
                error_message,
            )
            .await?;
            let page = json_body(&op, resp, self.http.settings.max_body).await?;
            let (items, key) = parse_page(&op, &page)?;
            tokens.extend(items);
            match key {
                None => {
                    tracing::debug!(tenant = %self.tenant, count = tokens.len(), "listed tokens");
                    return Ok(tokens);
                }
                Some(key) => {
                    if !followed.insert(key.clone()) {
                        return Err(ApiError::decode(
                            &op,
                            "the server returned a nextPageKey it had already returned (paging loops)",
                        ));
                    }
                    next = Some(key);
                }
            }
        }
        Err(ApiError::decode(
            &op,
            format!("more than {MAX_PAGES} pages of tokens; giving up"),
        ))
    }

    async fn create_token(&self, name: &str, scopes: &[String]) -> Result<CreatedToken, ApiError> {
        let op = self.op(format_args!("create token '{name}'"));
        let url = self.url(&op, None)?;
        let auth = self.auth_header(&op)?;
        let body = serde_json::json!({ "name": name, "scopes": scopes });
        // Not idempotent: a repeated POST would create a second token, so `send` retries it
        // only when the server says it did not process the request (429, 503).
        let resp = send(
            &self.http.settings,
            "dynatrace",
            &op,
            false,
            || {
                self.request(self.http.client.post(url.clone()), &auth)
                    .json(&body)
            },
            error_message,
        )
        .await?;
        // From here on the token exists: say so, so an operator can look for an orphan.
        let orphan = |e: ApiError| match e {
            ApiError::Decode { op, message } => ApiError::Decode {
                op,
                message: format!("{message} (the token was probably created)"),
            },
            other => other,
        };
        let created = json_body(&op, resp, self.http.settings.max_body)
            .await
            .map_err(orphan)?;
        let id = created
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| orphan(ApiError::decode(&op, "the response has no token id")))?;
        // Extracted by hand: a serde error message could quote the secret.
        let Some(token) = created
            .get("token")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        else {
            // Useless without its value: delete it by its id rather than leave it behind.
            let id = TokenId::new(id);
            let cleanup = match self.delete_token(&id).await {
                Ok(()) => "it was deleted again".to_owned(),
                Err(e) => format!("deleting it failed too: {e}"),
            };
            return Err(ApiError::decode(
                &op,
                format!("the response for token {id} has no token value; {cleanup}"),
            ));
        };
        if !token.starts_with(&format!("{id}.")) {
            tracing::warn!(tenant = %self.tenant, token_id = id, "the created token's value does not start with its id");
        }
        tracing::debug!(tenant = %self.tenant, token_id = id, name, "created token");
        Ok(CreatedToken {
            id: TokenId::new(id),
            token: SecretString::from(token.to_owned()),
        })
    }

    async fn update_token(
        &self,
        id: &TokenId,
        name: &str,
        scopes: &[String],
    ) -> Result<(), ApiError> {
        let op = self.op(format_args!("update token {id} to '{name}'"));
        let url = self.url(&op, Some(id))?;
        let auth = self.auth_header(&op)?;
        let body = serde_json::json!({ "name": name, "scopes": scopes });
        send(
            &self.http.settings,
            "dynatrace",
            &op,
            true,
            || {
                self.request(self.http.client.put(url.clone()), &auth)
                    .json(&body)
            },
            error_message,
        )
        .await?;
        tracing::debug!(tenant = %self.tenant, token_id = %id, name, "updated token");
        Ok(())
    }

    async fn delete_token(&self, id: &TokenId) -> Result<(), ApiError> {
        let op = self.op(format_args!("delete token {id}"));
        let url = self.url(&op, Some(id))?;
        let auth = self.auth_header(&op)?;
        let result = send(
            &self.http.settings,
            "dynatrace",
            &op,
            true,
            || self.request(self.http.client.delete(url.clone()), &auth),
            error_message,
        )
        .await;
        match result {
            Ok(_) => {
                tracing::debug!(tenant = %self.tenant, token_id = %id, "deleted token");
                Ok(())
            }
            Err(e) if e.is_not_found() => {
                tracing::debug!(tenant = %self.tenant, token_id = %id, "token already gone");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

/// The message of a Dynatrace `ErrorEnvelope`
/// (`{"error":{"code","message","constraintViolations":[{"path","message"}]}}`), with the
/// constraint violations appended; `None` when the body has another shape.
pub fn error_message(body: &Value) -> Option<String> {
    let error = body.get("error")?;
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|m| !m.is_empty());
    let violations: Vec<String> = error
        .get("constraintViolations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| {
            let msg = v
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .trim();
            let path = v.get("path").and_then(Value::as_str).unwrap_or("").trim();
            match (path.is_empty(), msg.is_empty()) {
                (true, true) => None,
                (true, false) => Some(msg.to_owned()),
                (false, true) => Some(format!("{path}: invalid")),
                (false, false) => Some(format!("{path}: {msg}")),
            }
        })
        .collect();
    match (message, violations.is_empty()) {
        (None, true) => None,
        (Some(m), true) => Some(m.to_owned()),
        (None, false) => Some(violations.join("; ")),
        (Some(m), false) => Some(format!("{m} ({})", violations.join("; "))),
    }
}

async fn json_body(op: &str, resp: Response, limit: usize) -> Result<Value, ApiError> {
    read_json(op, resp, limit).await
}

/// One `ApiTokenList` page: its usable tokens and the next page's key (`None` on the last).
/// Lenient per item: only `id` and `name` are required; others are skipped with a warning.
fn parse_page(op: &str, page: &Value) -> Result<(Vec<DtToken>, Option<String>), ApiError> {
    let items = page
        .get("apiTokens")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::decode(op, "the token list has no 'apiTokens' array"))?;
    let next = match page.get("nextPageKey") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(ApiError::decode(op, "'nextPageKey' is not a string")),
    };
    let tokens = items
        .iter()
        .filter_map(|item| parse_token(op, item))
        .collect();
    Ok((tokens, next))
}

fn parse_token(op: &str, item: &Value) -> Option<DtToken> {
    let id = item
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    let name = item.get("name").and_then(Value::as_str);
    let (Some(id), Some(name)) = (id, name) else {
        match id {
            Some(id) => tracing::warn!(op, token_id = id, "skipping a listed token without a name"),
            None => tracing::warn!(op, "skipping a listed token without an id"),
        }
        return None;
    };
    let enabled = match item.get("enabled") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            tracing::warn!(op, token_id = id, "ignoring a non-boolean 'enabled'");
            None
        }
    };
    let expiration_date = date_field(op, id, item, "expirationDate");
    let created = date_field(op, id, item, "creationDate");
    let scopes = match item.get("scopes") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => {
            let scopes: Option<Vec<String>> =
                a.iter().map(|s| s.as_str().map(str::to_owned)).collect();
            if scopes.is_none() {
                tracing::warn!(
                    op,
                    token_id = id,
                    "ignoring 'scopes' that are not all strings"
                );
            }
            scopes
        }
        Some(_) => {
            tracing::warn!(op, token_id = id, "ignoring a non-array 'scopes'");
            None
        }
    };
    Some(DtToken {
        id: TokenId::new(id),
        name: name.to_owned(),
        enabled,
        expiration_date,
        created,
        scopes,
    })
}

/// A date field of a listed token: ISO 8601 or epoch milliseconds; unparsable is ignored.
fn date_field(op: &str, id: &str, item: &Value, field: &str) -> Option<DateTime<Utc>> {
    let v = item.get(field).filter(|v| !v.is_null())?;
    let parsed = match v {
        Value::String(s) => parse_date(s),
        Value::Number(n) => n.as_i64().and_then(DateTime::from_timestamp_millis),
        _ => None,
    };
    if parsed.is_none() {
        tracing::warn!(op, token_id = id, field, value = %v, "ignoring an unparsable date");
    }
    parsed
}

/// A Dynatrace timestamp: ISO 8601 in UTC with or without milliseconds
/// (`2024-01-01T00:00:00Z`, `2024-01-01T00:00:00.123Z`), or with an offset.
pub fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    #[test]
    fn dates_parse_with_and_without_milliseconds() {
        let whole = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(parse_date("2024-01-01T00:00:00Z"), Some(whole));
        assert_eq!(
            parse_date("2024-01-01T00:00:00.123Z"),
            Some(whole + chrono::Duration::milliseconds(123))
        );
        assert_eq!(parse_date("2024-01-01T01:00:00+01:00"), Some(whole));
        assert_eq!(parse_date("yesterday"), None);
        assert_eq!(parse_date("2024-13-01T00:00:00Z"), None);
    }

    #[test]
    fn error_message_includes_constraint_violations() {
        let body = json!({"error": {"code": 400, "message": "Constraints violated.",
            "constraintViolations": [
                {"path": "scopes", "message": "unknown scope 'x'", "parameterLocation": "PAYLOAD_BODY"},
                {"path": "name", "message": "must not be empty"}]}});
        assert_eq!(
            error_message(&body).as_deref(),
            Some("Constraints violated. (scopes: unknown scope 'x'; name: must not be empty)")
        );
        assert_eq!(
            error_message(
                &json!({"error": {"code": 401, "message": "Token Authentication failed"}})
            )
            .as_deref(),
            Some("Token Authentication failed")
        );
        assert_eq!(error_message(&json!({"reason": "x"})), None);
        assert_eq!(error_message(&json!({"error": {"code": 500}})), None);
    }

    #[test]
    fn items_without_id_or_name_are_skipped_and_optional_fields_are_lenient() {
        let page = json!({"totalCount": 4, "nextPageKey": null, "apiTokens": [
            {"id": "dt0c01.A", "name": "dtp_a", "enabled": true,
             "expirationDate": "2030-01-01T00:00:00Z", "scopes": ["logs.ingest"]},
            {"id": "dt0c01.B"},
            {"name": "nameless"},
            {"id": "dt0c01.C", "name": "dtp_c", "enabled": "yes", "expirationDate": "soon",
             "scopes": "logs.ingest"}]});
        let (tokens, next) = parse_page("op", &page).unwrap();
        assert_eq!(next, None);
        assert_eq!(tokens.len(), 2);
        assert_eq!(tokens[0].enabled, Some(true));
        assert_eq!(
            tokens[0].scopes.as_deref(),
            Some(&["logs.ingest".to_owned()][..])
        );
        assert!(tokens[0].expiration_date.is_some());
        assert_eq!(tokens[1].id, TokenId::new("dt0c01.C"));
        assert_eq!(
            (
                tokens[1].enabled,
                tokens[1].expiration_date,
                &tokens[1].scopes
            ),
            (None, None, &None)
        );
    }

    #[test]
    fn a_page_without_a_token_array_is_an_error_and_an_empty_key_ends_paging() {
        assert!(parse_page("op", &json!({"totalCount": 0})).is_err());
        let (_, next) = parse_page("op", &json!({"apiTokens": [], "nextPageKey": ""})).unwrap();
        assert_eq!(next, None);
        let (_, next) = parse_page("op", &json!({"apiTokens": [], "nextPageKey": "k"})).unwrap();
        assert_eq!(next.as_deref(), Some("k"));
    }

    #[test]
    fn token_ids_are_percent_encoded_and_managed_urls_keep_their_path() {
        let env = DynatraceEnvironment {
            name: "managed".into(),
            environment_id: TenantId::new("abc12345"),
            environment_url: "https://dt.example.com/e/abc12345/".into(),
            bootstrap_token: crate::model::VaultSecretRef {
                path: "p".into(),
                field: "f".into(),
                version: None,
                format: None,
            },
            source: None,
        };
        let client = DynatraceClient::new(
            &env,
            SecretString::from("dt0c01.BOOT.SECRET"),
            crate::clients::http::Http::new(crate::clients::http::HttpSettings::default())
                .expect("client"),
        );
        let url = client
            .url("op", Some(&TokenId::new("dt0c01.A/B?C #")))
            .unwrap();
        assert_eq!(
            url.as_str(),
            "https://dt.example.com/e/abc12345/api/v2/apiTokens/dt0c01.A%2FB%3FC%20%23"
        );
        let debug = format!("{client:?}");
        assert!(
            debug.contains("abc12345") && !debug.contains("SECRET"),
            "{debug}"
        );
    }
}
