//! The Dynatrace calls the log-ingest-rule reconcile needs (`log-ingest-rules.md` §1.4–1.6),
//! as further methods of [`DynatraceClient`] so they share its tenant URL, bootstrap token,
//! per-tenant concurrency limit and retry policy: the bootstrap token's scopes
//! (`POST /apiTokens/lookup`), the `builtin:logmonitoring.log-storage-settings` objects of one scope (`GET /settings/objects`,
//! paged by `nextPageKey` alone), and create, update and delete of settings objects. Host groups are looked up in
//! [`super::entities`].
//! Like the token calls, every error passes through the client's scrubber: neither the
//! bootstrap token nor anything shaped like a token appears in an error or a per-item result.

use super::{DynatraceClient, error_message};
use crate::clients::http::{ApiError, read_json, send};
use crate::model::REDACTED;
use crate::model::token::redact_token_secrets;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use std::collections::HashSet;
use url::Url;

/// The settings schema of log ingest rules.
pub const LOG_STORAGE_SCHEMA: &str = "builtin:logmonitoring.log-storage-settings";
/// The fields of a listed rule that [`crate::logs::RuleObject::from_settings_json`] reads.
const LOG_RULE_FIELDS: &str = "objectId,externalId,value,updateToken,scope";
/// The largest page the settings API serves.
const SETTINGS_PAGE_SIZE: &str = "500";
/// Most pages followed in one listing: a scope holds at most 1000 rules (2 pages of 500) and
/// a host-group name matches a handful of entities (50 per page), so more means the server is
/// misbehaving.
const MAX_PAGES: usize = 100;

/// The answer for one object of a create (`SettingsObjectResponse`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemResult {
    /// The item's HTTP status (200 when created or, with `validateOnly`, valid).
    pub code: u16,
    /// The created object's id (absent on errors and dry runs).
    pub object_id: Option<String>,
    /// The error message with its constraint violations (`path: message`), if any.
    pub error: Option<String>,
}

impl ItemResult {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.code)
    }
}

/// Whether a settings update or delete failed because the object changed since it was read
/// (a stale `updateToken`: HTTP 409).
pub fn is_conflict(e: &ApiError) -> bool {
    e.is_conflict()
}

impl DynatraceClient {
    /// The scopes of the bootstrap token (`POST /api/v2/apiTokens/lookup`). The token is sent
    /// in the body and never returned, logged or quoted in an error.
    pub async fn lookup_scopes(&self) -> Result<Vec<String>, ApiError> {
        self.lookup().await.map_err(|e| self.scrub(e))
    }

    /// Every log ingest rule of `scope` (`HOST_GROUP-…`, `environment`, …), in the scope's
    /// order, each as the API's JSON (`objectId`, `externalId`, `value`, `updateToken`,
    /// `scope`). An unknown scope is a 404 [`ApiError::Status`], not an empty list.
    pub async fn log_rules(&self, scope: &str) -> Result<Vec<Value>, ApiError> {
        let op = self.op(format_args!("list log ingest rules of {scope}"));
        let query = [
            ("schemaIds", LOG_STORAGE_SCHEMA),
            ("scopes", scope),
            ("fields", LOG_RULE_FIELDS),
            ("pageSize", SETTINGS_PAGE_SIZE),
        ];
        self.pages(&op, &["settings", "objects"], &query, "items")
            .await
            .map_err(|e| self.scrub(e))
    }

    /// Creates settings objects (`POST /api/v2/settings/objects`, each item a
    /// `SettingsObjectCreate`); `validate_only` checks them and stores nothing. A 200, 207 or
    /// 400 answer is one [`ItemResult`] per item, in order; any other answer is an error.
    /// Not retried once the request may have reached the server (a POST is not idempotent).
    pub async fn create_settings(
        &self,
        items: &[Value],
        validate_only: bool,
    ) -> Result<Vec<ItemResult>, ApiError> {
        let results = self
            .create_objects(items, validate_only)
            .await
            .map_err(|e| self.scrub(e))?;
        Ok(results
            .into_iter()
            .map(|r| ItemResult {
                error: r.error.map(|e| self.redact(&e)),
                ..r
            })
            .collect())
    }

    /// Replaces an object's value (`PUT /api/v2/settings/objects/{id}`). With `update_token`
    /// the server refuses a change to an object modified since it was read: a 409, see
    /// [`is_conflict`]. Retried like every idempotent call, so a PUT that was applied but
    /// whose answer was lost may come back as such a 409; the caller re-reads either way.
    pub async fn update_settings(
        &self,
        object_id: &str,
        value: &Value,
        update_token: Option<&str>,
        validate_only: bool,
    ) -> Result<(), ApiError> {
        let op = self.op(format_args!("update settings object {object_id}"));
        let mut body = json!({ "value": value });
        if let Some(token) = update_token {
            body["updateToken"] = json!(token);
        }
        let result = async {
            let url = self.api_v2(&op, &["settings", "objects", object_id])?;
            let auth = self.auth_header(&op)?;
            send(
                &self.http,
                &self.limit,
                &op,
                true,
                || {
                    let rb = self
                        .request(self.http.client.put(url.clone()), &auth)
                        .json(&body);
                    if validate_only {
                        rb.query(&[("validateOnly", "true")])
                    } else {
                        rb
                    }
                },
                error_message,
            )
            .await
        };
        result.await.map_err(|e| self.scrub(e))?;
        tracing::debug!(tenant = %self.tenant, object_id, validate_only, "updated settings object");
        Ok(())
    }

    /// Deletes an object (`DELETE /api/v2/settings/objects/{id}`), only if unchanged since it
    /// was read when `update_token` is given (else a 409, see [`is_conflict`]). An object that
    /// does not exist (404) counts as deleted: `Ok`, so a retried or repeated delete succeeds.
    pub async fn delete_settings(
        &self,
        object_id: &str,
        update_token: Option<&str>,
    ) -> Result<(), ApiError> {
        let op = self.op(format_args!("delete settings object {object_id}"));
        let result = async {
            let url = self.api_v2(&op, &["settings", "objects", object_id])?;
            let auth = self.auth_header(&op)?;
            send(
                &self.http,
                &self.limit,
                &op,
                true,
                || {
                    let rb = self.request(self.http.client.delete(url.clone()), &auth);
                    match update_token {
                        Some(token) => rb.query(&[("updateToken", token)]),
                        None => rb,
                    }
                },
                error_message,
            )
            .await
        };
        match result.await {
            Ok(_) => {
                tracing::debug!(tenant = %self.tenant, object_id, "deleted settings object");
                Ok(())
            }
            Err(e) if e.is_not_found() => {
                tracing::debug!(tenant = %self.tenant, object_id, "settings object already gone");
                Ok(())
            }
            Err(e) => Err(self.scrub(e)),
        }
    }

    /// `…/api/v2/<segments>` (each percent-encoded as one path segment).
    pub(super) fn api_v2(&self, op: &str, segments: &[&str]) -> Result<Url, ApiError> {
        let mut url = self.url(op, None)?;
        url.path_segments_mut()
            .expect("checked in new: the base URL has a path")
            .pop()
            .extend(segments);
        Ok(url)
    }

    /// `text` without the bootstrap token and without the secret of anything token-shaped.
    fn redact(&self, text: &str) -> String {
        let bootstrap = self.bootstrap_token.expose_secret().trim();
        let text = if bootstrap.len() >= 8 {
            text.replace(bootstrap, REDACTED)
        } else {
            text.to_owned()
        };
        redact_token_secrets(&text)
    }

    async fn lookup(&self) -> Result<Vec<String>, ApiError> {
        let op = self.op("look up the bootstrap token's scopes");
        let url = self.api_v2(&op, &["apiTokens", "lookup"])?;
        let auth = self.auth_header(&op)?;
        let body = json!({ "token": self.bootstrap_token.expose_secret() });
        // A read: safe to repeat.
        let resp = send(
            &self.http,
            &self.limit,
            &op,
            true,
            || {
                self.request(self.http.client.post(url.clone()), &auth)
                    .json(&body)
            },
            error_message,
        )
        .await?;
        let answer: Value = read_json(&op, resp, self.http.settings.max_body).await?;
        let scopes = answer
            .get("scopes")
            .and_then(Value::as_array)
            .ok_or_else(|| ApiError::decode(&op, "the response has no scopes array"))?;
        scopes
            .iter()
            .map(|s| {
                s.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| ApiError::decode(&op, "a scope is not a string"))
            })
            .collect()
    }

    /// The `key` arrays of every page of `GET …/api/v2/<segments>?<first>`; later pages are
    /// requested with `nextPageKey` alone (the API rejects any other parameter next to it).
    pub(super) async fn pages(
        &self,
        op: &str,
        segments: &[&str],
        first: &[(&str, &str)],
        key: &str,
    ) -> Result<Vec<Value>, ApiError> {
        let url = self.api_v2(op, segments)?;
        let auth = self.auth_header(op)?;
        let mut out = Vec::new();
        let mut followed: HashSet<String> = HashSet::new();
        let mut next: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let resp = send(
                &self.http,
                &self.limit,
                op,
                true,
                || {
                    let rb = self.request(self.http.client.get(url.clone()), &auth);
                    match &next {
                        Some(k) => rb.query(&[("nextPageKey", k.as_str())]),
                        None => rb.query(first),
                    }
                },
                error_message,
            )
            .await?;
            let mut page: Value = read_json(op, resp, self.http.settings.max_body).await?;
            match page.get_mut(key).map(Value::take) {
                Some(Value::Array(items)) => out.extend(items),
                _ => {
                    return Err(ApiError::decode(op, format!("a page has no '{key}' array")));
                }
            }
            let Some(k) = page
                .get("nextPageKey")
                .and_then(Value::as_str)
                .filter(|k| !k.is_empty())
            else {
                return Ok(out);
            };
            if !followed.insert(k.to_owned()) {
                return Err(ApiError::decode(
                    op,
                    "the server returned a nextPageKey it had already returned (paging loops)",
                ));
            }
            next = Some(k.to_owned());
        }
        Err(ApiError::decode(
            op,
            format!("more than {MAX_PAGES} pages; giving up"),
        ))
    }

    async fn create_objects(
        &self,
        items: &[Value],
        validate_only: bool,
    ) -> Result<Vec<ItemResult>, ApiError> {
        let dry = if validate_only {
            " (validate only)"
        } else {
            ""
        };
        let op = self.op(format_args!(
            "create {} settings object(s){dry}",
            items.len()
        ));
        let url = self.api_v2(&op, &["settings", "objects"])?;
        let auth = self.auth_header(&op)?;
        // Not idempotent: `send` repeats it only when the server did not process it (429, 503).
        let result = send(
            &self.http,
            &self.limit,
            &op,
            false,
            || {
                let rb = self
                    .request(self.http.client.post(url.clone()), &auth)
                    .json(items);
                if validate_only {
                    rb.query(&[("validateOnly", "true")])
                } else {
                    rb
                }
            },
            item_results_message,
        )
        .await;
        let body = match result {
            Ok(resp) => read_json(&op, resp, self.http.settings.max_body)
                .await
                .map_err(|e| probably_created(e, validate_only))?,
            Err(e) => match rejected_items(&e) {
                Some(body) => body,
                None => return Err(readable(e)),
            },
        };
        let results = item_results(&op, &body).map_err(|e| probably_created(e, validate_only))?;
        if results.len() != items.len() {
            let message = format!("{} results for {} items", results.len(), items.len());
            return Err(probably_created(
                ApiError::decode(&op, message),
                validate_only,
            ));
        }
        Ok(results)
    }
}

/// For a create: an array of per-item results is kept whole (as JSON text, parsed again by
/// [`rejected_items`] or made readable by [`readable`]); an `ErrorEnvelope` is summarised.
fn item_results_message(body: &Value) -> Option<String> {
    match body {
        Value::Array(_) => Some(body.to_string()),
        _ => error_message(body),
    }
}

/// The per-item results of a create answered 400 (every item was refused).
fn rejected_items(e: &ApiError) -> Option<Value> {
    match e {
        ApiError::Status {
            status: 400,
            message,
            ..
        } => serde_json::from_str::<Value>(message)
            .ok()
            .filter(Value::is_array),
        _ => None,
    }
}

/// The error with a per-item result array in its message replaced by the items' messages.
fn readable(e: ApiError) -> ApiError {
    e.map_message(|m| match serde_json::from_str::<Vec<Value>>(m) {
        Ok(items) => {
            let messages: Vec<String> = items.iter().filter_map(error_message).collect();
            if messages.is_empty() {
                "per-item results without a message".to_owned()
            } else {
                messages.join("; ")
            }
        }
        Err(_) => m.to_owned(),
    })
}

/// A create's unexpected answer after the server accepted it: say the objects may exist.
fn probably_created(e: ApiError, validate_only: bool) -> ApiError {
    match e {
        ApiError::Decode { op, message } if !validate_only => ApiError::Decode {
            op,
            message: format!("{message} (the objects were probably created)"),
        },
        other => other,
    }
}

/// Parses an array of `SettingsObjectResponse`s.
fn item_results(op: &str, body: &Value) -> Result<Vec<ItemResult>, ApiError> {
    let items = body
        .as_array()
        .ok_or_else(|| ApiError::decode(op, "the response is not an array of results"))?;
    items
        .iter()
        .map(|item| {
            let code = item
                .get("code")
                .and_then(Value::as_u64)
                .and_then(|c| u16::try_from(c).ok())
                .ok_or_else(|| ApiError::decode(op, "a result has no valid code"))?;
            let object_id = item
                .get("objectId")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned);
            let error = error_message(item).or_else(|| {
                let failed = item.get("error").is_some() || !(200..300).contains(&code);
                failed.then(|| format!("HTTP {code}"))
            });
            Ok(ItemResult {
                code,
                object_id,
                error,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_results_carry_violations() {
        let body = json!([{"code": 200, "objectId": "o1"},
            {"code": 400, "error": {"code": 400, "message": "Constraints violated.",
             "constraintViolations": [{"path": "matchers/0/values", "message": "too few"}]}}]);
        let r = item_results("op", &body).unwrap();
        assert_eq!(r[0].object_id.as_deref(), Some("o1"));
        assert!(r[0].is_success() && r[0].error.is_none());
        assert_eq!(
            r[1].error.as_deref(),
            Some("Constraints violated. (matchers/0/values: too few)")
        );
        let e = readable(ApiError::Status {
            op: "op".into(),
            status: 404,
            message: item_results_message(&body).unwrap(),
            retry_after: None,
        });
        assert!(e.to_string().contains("matchers/0/values"), "{e}");
    }
}
