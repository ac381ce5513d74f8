//! The OCM client of one OCM environment: Red Hat SSO client-credentials tokens (cached,
//! refreshed a minute before expiry and once more on a 401), label-driven cluster discovery
//! (labels → subscriptions → managed, ready OSD/ROSA clusters, with organization-label
//! inheritance), the `ext-dynatrace-tokens-dtp` SyncSet/Manifest, and deduplicated service
//! logs. Transport, retries and error shapes come from [`super::http`]; this module only knows
//! OCM's paths, search strings and paging. Every error names the OCM environment and the
//! object. The client secret and access tokens never appear in errors, logs or `Debug`.

mod discovery;
mod list;
mod sso;

pub use discovery::in_list;

use super::Ocm;
use super::http::{ApiError, Http, is_idempotent, read_json, send};
use super::limit::Limit;
use crate::model::bundle::{BundleKind, Resources};
use crate::model::{
    BUNDLE_ID, ClusterId, Discovery, ExternalClusterId, INTEGRATION_NAME, OcmEnvName,
    OcmEnvironment, ServiceLogOutcome,
};
use async_trait::async_trait;
use chrono::{SecondsFormat, Utc};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use sso::CachedToken;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// Items per page (the OCM model default; no server documents a larger maximum).
const PAGE_SIZE: usize = 100;
/// Values per `in (...)` list, to keep URLs short.
const CHUNK: usize = 100;
/// A listing longer than this is treated as a server bug rather than followed forever.
const MAX_PAGES: usize = 10_000;
/// Refresh the access token when less than this remains.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// `expires_in` when SSO does not say (Red Hat documents 15 minutes).
const DEFAULT_EXPIRES_IN: u64 = 900;
const SERVICE_LOG_SUMMARY: &str = "Dynatrace Token Provider Errors";
const SERVICE_LOG_SEVERITY: &str = "Moderate";

pub struct OcmClient {
    env: OcmEnvName,
    /// The API base URL; an error text when app-interface holds an invalid one.
    base: Result<Url, String>,
    token_url: String,
    client_id: String,
    client_secret: SecretString,
    http: Http,
    /// The concurrency limit of this environment's API.
    limit: Arc<Limit>,
    /// The concurrency limit of its SSO (shared by environments with the same token URL).
    sso_limit: Arc<Limit>,
    token: tokio::sync::Mutex<Option<CachedToken>>,
}

impl fmt::Debug for OcmClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OcmClient")
            .field("env", &self.env)
            .field("base", &self.base.as_ref().map(Url::as_str))
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// The message of an OCM error body: `reason`, else `code`.
fn ocm_message(v: &Value) -> Option<String> {
    ["reason", "code"]
        .iter()
        .find_map(|k| v.get(*k).and_then(Value::as_str).filter(|s| !s.is_empty()))
        .map(str::to_owned)
}

/// The message of an OAuth2 error body: `error: error_description`.
fn sso_message(v: &Value) -> Option<String> {
    let error = v.get("error").and_then(Value::as_str);
    let description = v.get("error_description").and_then(Value::as_str);
    match (error, description) {
        (Some(e), Some(d)) => Some(format!("{e}: {d}")),
        (Some(e), None) => Some(e.to_owned()),
        (None, Some(d)) => Some(d.to_owned()),
        (None, None) => None,
    }
}

/// `scheme://host[:port]` of a URL, naming a concurrency target (the URL itself when it
/// does not parse: the call fails later with a clear error).
fn origin_of(url: &str) -> String {
    Url::parse(url).map_or_else(|_| url.to_owned(), |u| u.origin().ascii_serialization())
}

/// A single-quoted OCM search string value (`'` doubled), as dtp builds its searches.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[derive(Deserialize)]
pub(super) struct ListPage {
    pub(super) items: Option<Vec<Value>>,
    pub(super) total: Option<u64>,
}

impl OcmClient {
    pub fn new(env: &OcmEnvironment, client_secret: SecretString, http: Http) -> Self {
        let base = Url::parse(env.url.trim_end_matches('/'))
            .map_err(|e| format!("invalid OCM URL '{}': {e}", env.url))
            .and_then(|u| {
                if u.cannot_be_a_base() {
                    Err(format!("invalid OCM URL '{}': not a base URL", env.url))
                } else {
                    Ok(u)
                }
            });
        Self {
            env: env.name.clone(),
            base,
            token_url: env.access_token_url.clone(),
            client_id: env.access_token_client_id.clone(),
            client_secret,
            limit: http.target("ocm", env.name.as_str()),
            sso_limit: http.target("sso", &origin_of(&env.access_token_url)),
            http,
            token: tokio::sync::Mutex::new(None),
        }
    }

    /// The environment name, as errors show it.
    pub fn environment(&self) -> &OcmEnvName {
        &self.env
    }

    fn op(&self, what: impl fmt::Display) -> String {
        format!("OCM {}: {what}", self.env)
    }

    /// `base` + path segments (each percent-encoded).
    fn url(&self, op: &str, segments: &[&str]) -> Result<Url, ApiError> {
        let mut url = self.base.clone().map_err(|message| ApiError::Transport {
            op: op.to_owned(),
            message,
            not_sent: true,
        })?;
        url.path_segments_mut()
            .expect("checked in new(): a base URL")
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    // --- API calls ------------------------------------------------------------------------

    /// One API call with the bearer token, the retry policy of [`send`], and one token refresh
    /// on a 401.
    async fn call(
        &self,
        op: &str,
        method: Method,
        url: &Url,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Response, ApiError> {
        let idempotent = is_idempotent(&method);
        let request = |token: &SecretString| -> RequestBuilder {
            let mut rb = self
                .http
                .client
                .request(method.clone(), url.clone())
                .bearer_auth(token.expose_secret())
                .header(reqwest::header::ACCEPT, "application/json");
            if !query.is_empty() {
                rb = rb.query(query);
            }
            if let Some(b) = body {
                rb = rb.json(b);
            }
            rb
        };
        let token = self.access_token().await?;
        match send(
            &self.http,
            &self.limit,
            op,
            idempotent,
            || request(&token),
            ocm_message,
        )
        .await
        {
            Err(e) if e.is_unauthorized() => {
                // The token expired early or was revoked: a 401 means the call was not
                // processed, so it is safe to repeat once with a fresh token.
                tracing::debug!(ocm_env = %self.env, %op, "OCM answered 401; refreshing the access token");
                self.invalidate(&token).await;
                let token = self.access_token().await?;
                send(
                    &self.http,
                    &self.limit,
                    op,
                    idempotent,
                    || request(&token),
                    ocm_message,
                )
                .await
            }
            other => other,
        }
    }

    async fn json(&self, op: &str, resp: Response) -> Result<Value, ApiError> {
        read_json(op, resp, self.http.settings.max_body).await
    }

    fn expect_status(op: &str, resp: &Response, want: StatusCode) -> Result<(), ApiError> {
        if resp.status() == want {
            Ok(())
        } else {
            Err(ApiError::decode(
                op,
                format!(
                    "expected HTTP {}, got {}",
                    want.as_u16(),
                    resp.status().as_u16()
                ),
            ))
        }
    }

    fn bundle_url(
        &self,
        op: &str,
        cluster: &ClusterId,
        kind: BundleKind,
        item: bool,
    ) -> Result<Url, ApiError> {
        let mut segs = vec![
            "api",
            "clusters_mgmt",
            "v1",
            "clusters",
            cluster.as_str(),
            "external_configuration",
            kind.collection(),
        ];
        if item {
            segs.push(BUNDLE_ID);
        }
        self.url(op, &segs)
    }

    fn bundle_op(&self, verb: &str, cluster: &ClusterId, kind: BundleKind) -> String {
        let object = match kind {
            BundleKind::SyncSet => "syncset",
            BundleKind::Manifest => "manifest",
        };
        self.op(format!("{verb} {object} {BUNDLE_ID} of cluster {cluster}"))
    }
}

/// A cluster item with everything dtp needs.
#[async_trait]
impl Ocm for OcmClient {
    async fn discover_clusters(&self) -> Result<Discovery, ApiError> {
        self.discover().await
    }

    async fn existing_clusters(
        &self,
        uuids: &[ExternalClusterId],
    ) -> Result<std::collections::BTreeSet<ExternalClusterId>, ApiError> {
        self.known_clusters(uuids).await
    }

    async fn get_bundle(
        &self,
        cluster: &ClusterId,
        kind: BundleKind,
    ) -> Result<Option<Resources>, ApiError> {
        let op = self.bundle_op("GET", cluster, kind);
        let url = self.bundle_url(&op, cluster, kind, true)?;
        match self.call(&op, Method::GET, &url, &[], None).await {
            Ok(resp) => {
                let object = self.json(&op, resp).await?;
                if !object.is_object() {
                    return Err(ApiError::decode(&op, "the object is not a JSON object"));
                }
                kind.resources_of(&object)
                    .map(Some)
                    .map_err(|e| ApiError::decode(&op, e))
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn create_bundle(
        &self,
        cluster: &ClusterId,
        kind: BundleKind,
        resources: &Resources,
    ) -> Result<(), ApiError> {
        let op = self.bundle_op("POST", cluster, kind);
        let url = self.bundle_url(&op, cluster, kind, false)?;
        let body = kind.body(resources, true);
        let resp = self.call(&op, Method::POST, &url, &[], Some(&body)).await?;
        Self::expect_status(&op, &resp, StatusCode::CREATED)
    }

    async fn patch_bundle(
        &self,
        cluster: &ClusterId,
        kind: BundleKind,
        resources: &Resources,
    ) -> Result<(), ApiError> {
        let op = self.bundle_op("PATCH", cluster, kind);
        let url = self.bundle_url(&op, cluster, kind, true)?;
        let body = kind.body(resources, false);
        let resp = self
            .call(&op, Method::PATCH, &url, &[], Some(&body))
            .await?;
        Self::expect_status(&op, &resp, StatusCode::OK)
    }

    async fn post_service_log(
        &self,
        cluster: &ExternalClusterId,
        description: &str,
    ) -> Result<ServiceLogOutcome, ApiError> {
        let since =
            (Utc::now() - chrono::Duration::days(1)).to_rfc3339_opts(SecondsFormat::Secs, true);
        let search = format!(
            "created_at >= {} and description={} and service_name={} and severity={} and summary={}",
            quote(&since),
            quote(description),
            quote(INTEGRATION_NAME),
            quote(SERVICE_LOG_SEVERITY),
            quote(SERVICE_LOG_SUMMARY),
        );
        let op = self.op(format!("GET service logs of cluster {cluster}"));
        let url = self.url(
            &op,
            &["api", "service_logs", "v1", "clusters", "cluster_logs"],
        )?;
        let query = [
            ("cluster_uuid", cluster.to_string()),
            ("search", search),
            ("size", PAGE_SIZE.to_string()),
        ];
        let resp = self.call(&op, Method::GET, &url, &query, None).await?;
        let page: ListPage = read_json(&op, resp, self.http.settings.max_body).await?;
        if page.items.is_some_and(|i| !i.is_empty()) {
            return Ok(ServiceLogOutcome::Deduplicated);
        }
        let op = self.op(format!("POST service log for cluster {cluster}"));
        let url = self.url(&op, &["api", "service_logs", "v1", "cluster_logs"])?;
        let body = json!({
            "cluster_uuid": cluster.as_str(),
            "service_name": INTEGRATION_NAME,
            "summary": SERVICE_LOG_SUMMARY,
            "description": description,
            "severity": SERVICE_LOG_SEVERITY,
        });
        let resp = self.call(&op, Method::POST, &url, &[], Some(&body)).await?;
        Self::expect_status(&op, &resp, StatusCode::CREATED)?;
        Ok(ServiceLogOutcome::Posted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_come_from_reason_or_code_and_oauth_error_fields() {
        assert_eq!(
            ocm_message(&json!({"reason": "nope", "code": "X-1"})).as_deref(),
            Some("nope")
        );
        assert_eq!(ocm_message(&json!({"code": "X-1"})).as_deref(), Some("X-1"));
        assert_eq!(ocm_message(&json!({})), None);
        assert_eq!(
            sso_message(&json!({"error": "invalid_client", "error_description": "bad"})).as_deref(),
            Some("invalid_client: bad")
        );
    }
}
