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
use crate::clients::limit::Limit;
use crate::model::token::{ScopeSets, redact_token_secrets};
use crate::model::{CreatedToken, DtToken, DynatraceEnvironment, REDACTED, TenantId, TokenId};
use async_trait::async_trait;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue};
use reqwest::{RequestBuilder, Response};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use url::Url;

pub mod entities;
mod parse;
pub mod settings;
pub use parse::parse_date;
use parse::parse_page;

/// Page size of the first list request; the API allows 100..=10000.
const PAGE_SIZE: &str = "1000";
/// Fields added to the defaults (`id,name,enabled,owner,creationDate`) of the list.
const LIST_FIELDS: &str = "+expirationDate,+scopes";
/// Upper bound on pages followed in one listing: 10 million tokens at the page size above,
/// far beyond any real tenant, so hitting it means the server is misbehaving.
const MAX_PAGES: usize = 10_000;
/// Most list entries reserved up front from a page's `totalCount` (a server could claim any).
const MAX_RESERVE: usize = 100_000;

/// A Dynatrace tenant's token API, authenticated with its bootstrap token.
pub struct DynatraceClient {
    tenant: TenantId,
    /// `…/api/v2/apiTokens`, or why the environment URL is unusable.
    base: Result<Url, String>,
    bootstrap_token: SecretString,
    http: Http,
    /// This tenant's concurrency limit (Dynatrace throttles per environment).
    limit: Arc<Limit>,
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
            limit: http.target("dynatrace", env.environment_id.as_str()),
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

/// Every error leaves through [`DynatraceClient::scrub`]: a server may echo a token.
#[async_trait]
impl Dynatrace for DynatraceClient {
    async fn list_tokens(&self) -> Result<Vec<DtToken>, ApiError> {
        self.list(self.op("list tokens"))
            .await
            .map_err(|e| self.scrub(e))
    }

    async fn create_token(&self, name: &str, scopes: &[String]) -> Result<CreatedToken, ApiError> {
        self.create(name, scopes).await.map_err(|e| self.scrub(e))
    }

    async fn update_token(
        &self,
        id: &TokenId,
        name: &str,
        scopes: &[String],
    ) -> Result<(), ApiError> {
        self.update(id, name, scopes)
            .await
            .map_err(|e| self.scrub(e))
    }

    async fn delete_token(&self, id: &TokenId) -> Result<(), ApiError> {
        self.delete(id).await.map_err(|e| self.scrub(e))
    }
}

impl DynatraceClient {
    /// The error without the bootstrap token and without the secret part of anything shaped
    /// like a token.
    fn scrub(&self, e: ApiError) -> ApiError {
        let bootstrap = self.bootstrap_token.expose_secret().trim();
        e.map_message(|text| {
            let text = if bootstrap.len() >= 8 {
                text.replace(bootstrap, REDACTED)
            } else {
                text.to_owned()
            };
            redact_token_secrets(&text)
        })
    }

    async fn list(&self, op: String) -> Result<Vec<DtToken>, ApiError> {
        let url = self.url(&op, None)?;
        let auth = self.auth_header(&op)?;
        let mut tokens = Vec::new();
        let mut scope_sets = ScopeSets::default();
        let mut followed: HashSet<String> = HashSet::new();
        let mut next: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let resp = send(
                &self.http,
                &self.limit,
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
            let (items, key) = parse_page(&op, &page, &mut scope_sets)?;
            if tokens.is_empty() {
                // The list is kept for the whole run: sized once, not doubled into twice it.
                let total = page.get("totalCount").and_then(Value::as_u64).unwrap_or(0);
                tokens.reserve_exact(usize::try_from(total).unwrap_or(0).min(MAX_RESERVE));
            }
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

    async fn create(&self, name: &str, scopes: &[String]) -> Result<CreatedToken, ApiError> {
        let op = self.op(format_args!("create token '{name}'"));
        let url = self.url(&op, None)?;
        let auth = self.auth_header(&op)?;
        let body = serde_json::json!({ "name": name, "scopes": scopes });
        // Not idempotent: a repeated POST would create a second token, so `send` retries it
        // only when the server says it did not process the request (429, 503).
        let resp = send(
            &self.http,
            &self.limit,
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

    async fn update(&self, id: &TokenId, name: &str, scopes: &[String]) -> Result<(), ApiError> {
        let op = self.op(format_args!("update token {id} to '{name}'"));
        let url = self.url(&op, Some(id))?;
        let auth = self.auth_header(&op)?;
        let body = serde_json::json!({ "name": name, "scopes": scopes });
        send(
            &self.http,
            &self.limit,
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

    async fn delete(&self, id: &TokenId) -> Result<(), ApiError> {
        let op = self.op(format_args!("delete token {id}"));
        let url = self.url(&op, Some(id))?;
        let auth = self.auth_header(&op)?;
        let result = send(
            &self.http,
            &self.limit,
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono::Utc;
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
        let (tokens, next) = parse_page("op", &page, &mut ScopeSets::default()).unwrap();
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
        assert!(parse_page("op", &json!({"totalCount": 0}), &mut ScopeSets::default()).is_err());
        let (_, next) = parse_page(
            "op",
            &json!({"apiTokens": [], "nextPageKey": ""}),
            &mut ScopeSets::default(),
        )
        .unwrap();
        assert_eq!(next, None);
        let (_, next) = parse_page(
            "op",
            &json!({"apiTokens": [], "nextPageKey": "k"}),
            &mut ScopeSets::default(),
        )
        .unwrap();
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
