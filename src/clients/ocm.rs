//! The OCM client of one OCM environment: Red Hat SSO client-credentials tokens (cached,
//! refreshed a minute before expiry and once more on a 401), label-driven cluster discovery
//! (labels → subscriptions → managed, ready OSD/ROSA clusters, with organization-label
//! inheritance), the `ext-dynatrace-tokens-dtp` SyncSet/Manifest, and deduplicated service
//! logs. Transport, retries and error shapes come from [`super::http`]; this module only knows
//! OCM's paths, search strings and paging. Every error names the OCM environment and the
//! object. The client secret and access tokens never appear in errors, logs or `Debug`.

use super::http::{ApiError, HttpSettings, is_idempotent, send};
use super::{DiscoveredCluster, Discovery, Ocm, ServiceLogOutcome};
use crate::model::bundle::{BundleKind, Resources};
use crate::model::{
    BUNDLE_ID, ClusterId, ExternalClusterId, INTEGRATION_NAME, OcmEnvName, OcmEnvironment, OrgId,
    SubscriptionId,
};
use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, Instant};
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
const LABEL_PREFIX: &str = "sre-capabilities.dtp.";
const SERVICE_LOG_SUMMARY: &str = "Dynatrace Token Provider Errors";
const SERVICE_LOG_SEVERITY: &str = "Moderate";

/// An access token and when to stop using it.
struct CachedToken {
    token: SecretString,
    refresh_at: Instant,
}

/// OCM API client of one environment; share one per environment between concurrent tasks.
pub struct OcmClient {
    env: OcmEnvName,
    /// The API base URL; an error text when app-interface holds an invalid one.
    base: Result<Url, String>,
    token_url: String,
    client_id: String,
    client_secret: SecretString,
    http: reqwest::Client,
    settings: HttpSettings,
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

/// A single-quoted OCM search string (`'` doubled).
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `attr='v'` for one value, `attr in ('a','b')` for several.
fn in_list<S: AsRef<str>>(attr: &str, values: &[S]) -> String {
    match values {
        [one] => format!("{attr}={}", quote(one.as_ref())),
        many => {
            let quoted: Vec<String> = many.iter().map(|v| quote(v.as_ref())).collect();
            format!("{attr} in ({})", quoted.join(","))
        }
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    expires_in: Option<u64>,
    token_type: Option<String>,
}

#[derive(Deserialize)]
struct ListPage {
    items: Option<Vec<Value>>,
    total: Option<u64>,
}

#[derive(Deserialize)]
struct LabelItem {
    id: Option<String>,
    key: Option<String>,
    value: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    subscription_id: Option<String>,
    organization_id: Option<String>,
    created_at: Option<String>,
}

#[derive(Deserialize)]
struct SubscriptionItem {
    id: Option<String>,
    organization_id: Option<String>,
}

#[derive(Deserialize)]
struct Link {
    id: Option<String>,
}

#[derive(Deserialize)]
struct Hypershift {
    enabled: Option<bool>,
}

#[derive(Deserialize)]
struct ClusterItem {
    id: Option<String>,
    external_id: Option<String>,
    name: Option<String>,
    display_name: Option<String>,
    subscription: Option<Link>,
    product: Option<Link>,
    hypershift: Option<Hypershift>,
}

/// A label as dtp orders it: by creation time, then id.
struct Label {
    id: String,
    key: String,
    value: String,
    created_at: Option<DateTime<Utc>>,
    created_raw: String,
}

impl Label {
    fn sort(labels: &mut [Label]) {
        labels.sort_by(|a, b| {
            (a.created_at, &a.created_raw, &a.id).cmp(&(b.created_at, &b.created_raw, &b.id))
        });
    }
}

/// Python dict-update semantics: organization labels first, then each subscription label
/// either replaces the value of the same key in place or is appended.
fn merge_labels(org: &[Label], sub: &[Label]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for l in org.iter().chain(sub) {
        match out.iter_mut().find(|(k, _)| *k == l.key) {
            Some(slot) => slot.1 = l.value.clone(),
            None => out.push((l.key.clone(), l.value.clone())),
        }
    }
    out
}

impl OcmClient {
    pub fn new(
        env: &OcmEnvironment,
        client_secret: SecretString,
        http: reqwest::Client,
        settings: HttpSettings,
    ) -> Self {
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
            http,
            settings,
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

    // --- SSO ------------------------------------------------------------------------------

    /// A valid access token: the cached one, or a fresh one from SSO. The lock is held while
    /// fetching so concurrent callers share one grant.
    async fn access_token(&self) -> Result<SecretString, ApiError> {
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref()
            && Instant::now() < t.refresh_at
        {
            return Ok(t.token.clone());
        }
        let fresh = self.fetch_token().await?;
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    /// Drops the cached token if it is still `stale` (another task may have refreshed it).
    async fn invalidate(&self, stale: &SecretString) {
        let mut cached = self.token.lock().await;
        if cached
            .as_ref()
            .is_some_and(|t| t.token.expose_secret() == stale.expose_secret())
        {
            *cached = None;
        }
    }

    async fn fetch_token(&self) -> Result<CachedToken, ApiError> {
        let op = self.op(format!("SSO token request for client {}", self.client_id));
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose_secret()),
        ];
        let build = || {
            self.http
                .post(&self.token_url)
                .header(reqwest::header::ACCEPT, "application/json")
                .form(&form)
        };
        let started = Instant::now();
        // The grant has no side effect worth protecting: retry it like a GET.
        let resp = send(&self.settings, "sso", &op, true, build, sso_message)
            .await
            .map_err(|e| self.auth_error(&op, e))?;
        let body: TokenResponse = resp.json().await.map_err(|e| ApiError::Auth {
            op: op.clone(),
            message: format!("unreadable token response: {}", self.scrub(&e.to_string())),
        })?;
        if let Some(tt) = &body.token_type
            && !tt.eq_ignore_ascii_case("bearer")
        {
            return Err(ApiError::Auth {
                op,
                message: format!("unexpected token_type '{tt}'"),
            });
        }
        let token = body
            .access_token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::Auth {
                op: op.clone(),
                message: "the token response has no access_token".into(),
            })?;
        let lifetime = Duration::from_secs(body.expires_in.unwrap_or(DEFAULT_EXPIRES_IN));
        // Refresh a minute early; with very short lifetimes, at half-life.
        let usable = lifetime.saturating_sub(REFRESH_MARGIN).max(lifetime / 2);
        tracing::debug!(ocm_env = %self.env, expires_in_s = lifetime.as_secs(), "obtained an OCM access token");
        Ok(CachedToken {
            token: SecretString::from(token),
            refresh_at: started + usable,
        })
    }

    /// Any SSO failure is an authentication error carrying the server's `error` /
    /// `error_description` (or the transport problem), never the secret.
    fn auth_error(&self, op: &str, e: ApiError) -> ApiError {
        let message = match e {
            ApiError::Status {
                status, message, ..
            } => format!("HTTP {status}: {message}"),
            ApiError::Transport { message, .. } => message,
            ApiError::Decode { message, .. } => format!("unexpected response: {message}"),
            ApiError::Auth { message, .. } => message,
        };
        ApiError::Auth {
            op: op.to_owned(),
            message: self.scrub(&message),
        }
    }

    /// Removes the client secret from a text, should a server ever echo it.
    fn scrub(&self, text: &str) -> String {
        let secret = self.client_secret.expose_secret();
        if secret.is_empty() {
            text.to_owned()
        } else {
            text.replace(secret, "[redacted]")
        }
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
            &self.settings,
            "ocm",
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
                    &self.settings,
                    "ocm",
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

    async fn json(op: &str, resp: Response) -> Result<Value, ApiError> {
        resp.json::<Value>()
            .await
            .map_err(|e| ApiError::decode(op, format!("invalid JSON: {e}")))
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

    /// Every item of a list endpoint: `page` from 1, `size=100`, `order=id` (stable pages),
    /// until `total` items were seen (or, without `total`, a page shorter than `size`).
    async fn list_all(
        &self,
        what: &str,
        segments: &[&str],
        search: &str,
    ) -> Result<Vec<Value>, ApiError> {
        let base_op = self.op(format!("list {what}"));
        let url = self.url(&base_op, segments)?;
        let mut out = Vec::new();
        for page in 1..=MAX_PAGES {
            let op = format!("{base_op} (page {page})");
            let query = [
                ("search", search.to_owned()),
                ("page", page.to_string()),
                ("size", PAGE_SIZE.to_string()),
                ("order", "id".to_owned()),
            ];
            let resp = self.call(&op, Method::GET, &url, &query, None).await?;
            let page_body: ListPage = resp
                .json()
                .await
                .map_err(|e| ApiError::decode(&op, format!("not a list: {e}")))?;
            let items = page_body
                .items
                .ok_or_else(|| ApiError::decode(&op, "the list has no 'items'"))?;
            let n = items.len();
            out.extend(items);
            let done = match page_body.total {
                // `total` is authoritative: a server whose maximum page size is below ours
                // answers with short pages that are not the last one.
                Some(total) => n == 0 || out.len() as u64 >= total,
                None => n < PAGE_SIZE,
            };
            if done {
                return Ok(out);
            }
        }
        Err(ApiError::decode(
            &base_op,
            format!("more than {MAX_PAGES} pages of {PAGE_SIZE}; giving up"),
        ))
    }

    // --- discovery ------------------------------------------------------------------------

    async fn labels(
        &self,
        problems: &mut Vec<String>,
    ) -> Result<(BTreeMap<String, Vec<Label>>, BTreeMap<String, Vec<Label>>), ApiError> {
        let search = format!(
            "key like {} and type in ('Organization','Subscription')",
            quote(&format!("{LABEL_PREFIX}%"))
        );
        let items = self
            .list_all("labels", &["api", "accounts_mgmt", "v1", "labels"], &search)
            .await?;
        let mut by_sub: BTreeMap<String, Vec<Label>> = BTreeMap::new();
        let mut by_org: BTreeMap<String, Vec<Label>> = BTreeMap::new();
        for item in items {
            let Ok(l) = serde_json::from_value::<LabelItem>(item) else {
                problems.push(format!(
                    "OCM {}: a label item is not a JSON object of label fields",
                    self.env
                ));
                continue;
            };
            let id = l.id.unwrap_or_else(|| "<no id>".into());
            let Some(key) = l.key else {
                problems.push(format!("OCM {}: label {id} has no key", self.env));
                continue;
            };
            // The server filtered already; this guards against a server that ignores search.
            if !key.starts_with(LABEL_PREFIX) {
                continue;
            }
            let created_raw = l.created_at.unwrap_or_default();
            let label = Label {
                created_at: DateTime::parse_from_rfc3339(&created_raw)
                    .ok()
                    .map(|t| t.with_timezone(&Utc)),
                created_raw,
                value: l.value.unwrap_or_default(),
                key,
                id: id.clone(),
            };
            let (map, owner, owner_field) = match l.kind.as_deref() {
                Some("Subscription") => (&mut by_sub, l.subscription_id, "subscription_id"),
                Some("Organization") => (&mut by_org, l.organization_id, "organization_id"),
                _ => continue,
            };
            match owner.filter(|o| !o.is_empty()) {
                Some(o) => map.entry(o).or_default().push(label),
                None => problems.push(format!(
                    "OCM {}: label {id} ({}) has no {owner_field}",
                    self.env, label.key
                )),
            }
        }
        for labels in by_sub.values_mut().chain(by_org.values_mut()) {
            Label::sort(labels);
        }
        Ok((by_sub, by_org))
    }

    /// Subscriptions (id → organization id) that are managed and Active/Reserved, by id and by
    /// organization.
    async fn subscriptions(
        &self,
        sub_ids: &[&String],
        org_ids: &[&String],
        problems: &mut Vec<String>,
    ) -> Result<BTreeMap<String, String>, ApiError> {
        const FILTER: &str = "managed='true' and status in ('Active','Reserved')";
        let mut searches = Vec::new();
        for chunk in sub_ids.chunks(CHUNK) {
            searches.push(format!("{} and {FILTER}", in_list("id", chunk)));
        }
        for chunk in org_ids.chunks(CHUNK) {
            searches.push(format!(
                "{} and {FILTER}",
                in_list("organization_id", chunk)
            ));
        }
        let mut subs = BTreeMap::new();
        let mut reported = BTreeSet::new();
        for search in searches {
            let items = self
                .list_all(
                    "subscriptions",
                    &["api", "accounts_mgmt", "v1", "subscriptions"],
                    &search,
                )
                .await?;
            for item in items {
                let Ok(s) = serde_json::from_value::<SubscriptionItem>(item) else {
                    problems.push(format!(
                        "OCM {}: a subscription item is not a JSON object of subscription fields",
                        self.env
                    ));
                    continue;
                };
                let Some(id) = s.id.filter(|i| !i.is_empty()) else {
                    problems.push(format!("OCM {}: a subscription has no id", self.env));
                    continue;
                };
                match s.organization_id.filter(|o| !o.is_empty()) {
                    Some(org) => {
                        subs.insert(id, org);
                    }
                    None => {
                        if reported.insert(id.clone()) {
                            problems.push(format!(
                                "OCM {}: subscription {id} has no organization_id; its cluster is skipped",
                                self.env
                            ));
                        }
                    }
                }
            }
        }
        Ok(subs)
    }

    async fn clusters(
        &self,
        sub_ids: &[&String],
        problems: &mut Vec<String>,
    ) -> Result<Vec<ClusterItemChecked>, ApiError> {
        let mut out: BTreeMap<String, ClusterItemChecked> = BTreeMap::new();
        for chunk in sub_ids.chunks(CHUNK) {
            let search = format!(
                "managed='true' and product.id in ('osd','rosa') and state='ready' and {}",
                in_list("subscription.id", chunk)
            );
            let items = self
                .list_all(
                    "clusters",
                    &["api", "clusters_mgmt", "v1", "clusters"],
                    &search,
                )
                .await?;
            for item in items {
                match self.check_cluster(item) {
                    Ok(c) => {
                        out.insert(c.id.clone(), c);
                    }
                    Err(p) => problems.push(p),
                }
            }
        }
        Ok(out.into_values().collect())
    }

    fn check_cluster(&self, item: Value) -> Result<ClusterItemChecked, String> {
        let c: ClusterItem = serde_json::from_value(item.clone()).map_err(|e| {
            let id = item.get("id").and_then(Value::as_str).unwrap_or("<no id>");
            format!("OCM {}: cluster {id} is malformed: {e}", self.env)
        })?;
        let sub = c.subscription.and_then(|s| s.id).filter(|s| !s.is_empty());
        let Some(id) = c.id.filter(|i| !i.is_empty()) else {
            return Err(format!(
                "OCM {}: a cluster of subscription {} has no id",
                self.env,
                sub.as_deref().unwrap_or("<none>")
            ));
        };
        let Some(external_id) = c.external_id.filter(|e| !e.is_empty()) else {
            return Err(format!("OCM {}: cluster {id} has no external_id", self.env));
        };
        let Some(subscription_id) = sub else {
            return Err(format!(
                "OCM {}: cluster {id} has no subscription.id",
                self.env
            ));
        };
        let product = c.product.and_then(|p| p.id).unwrap_or_default();
        let hypershift = c.hypershift.and_then(|h| h.enabled).unwrap_or(false);
        Ok(ClusterItemChecked {
            name: c
                .name
                .or(c.display_name)
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| id.clone()),
            id,
            external_id,
            subscription_id,
            is_hcp: product == "rosa" && hypershift,
        })
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
struct ClusterItemChecked {
    id: String,
    external_id: String,
    name: String,
    subscription_id: String,
    is_hcp: bool,
}

#[async_trait]
impl Ocm for OcmClient {
    async fn discover_clusters(&self) -> Result<Discovery, ApiError> {
        let mut problems = Vec::new();
        let (sub_labels, org_labels) = self.labels(&mut problems).await?;
        if sub_labels.is_empty() && org_labels.is_empty() {
            return Ok(Discovery {
                clusters: Vec::new(),
                problems,
            });
        }
        let sub_ids: Vec<&String> = sub_labels.keys().collect();
        let org_ids: Vec<&String> = org_labels.keys().collect();
        let subs = self
            .subscriptions(&sub_ids, &org_ids, &mut problems)
            .await?;
        let found: Vec<&String> = subs.keys().collect();
        let items = self.clusters(&found, &mut problems).await?;
        let mut clusters = Vec::with_capacity(items.len());
        for c in items {
            let Some(org) = subs.get(&c.subscription_id) else {
                // The search asked only for these subscriptions; a server answering with
                // another one is wrong, and dtp cannot tell the cluster's organization.
                problems.push(format!(
                    "OCM {}: cluster {} belongs to subscription {}, which was not among the subscriptions found",
                    self.env, c.id, c.subscription_id
                ));
                continue;
            };
            let labels = merge_labels(
                org_labels.get(org).map(Vec::as_slice).unwrap_or_default(),
                sub_labels
                    .get(&c.subscription_id)
                    .map(Vec::as_slice)
                    .unwrap_or_default(),
            );
            clusters.push(DiscoveredCluster {
                id: ClusterId::new(c.id),
                external_id: ExternalClusterId::new(c.external_id),
                name: c.name,
                subscription_id: SubscriptionId::new(c.subscription_id),
                organization_id: OrgId::new(org.clone()),
                is_hcp: c.is_hcp,
                labels,
            });
        }
        tracing::debug!(
            ocm_env = %self.env,
            clusters = clusters.len(),
            problems = problems.len(),
            "discovered clusters"
        );
        Ok(Discovery { clusters, problems })
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
                let object = Self::json(&op, resp).await?;
                if !object.is_object() {
                    return Err(ApiError::decode(&op, "the object is not a JSON object"));
                }
                Ok(Some(kind.resources_of(&object)))
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
        let page: ListPage = resp
            .json()
            .await
            .map_err(|e| ApiError::decode(&op, format!("not a list: {e}")))?;
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

    fn label(key: &str, value: &str, created: &str, id: &str) -> Label {
        Label {
            id: id.into(),
            key: key.into(),
            value: value.into(),
            created_at: DateTime::parse_from_rfc3339(created)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
            created_raw: created.into(),
        }
    }

    #[test]
    fn search_values_are_single_quoted_with_quotes_doubled() {
        assert_eq!(quote("it's"), "'it''s'");
        assert_eq!(in_list("id", &["a"]), "id='a'");
        assert_eq!(in_list("id", &["a", "b'c"]), "id in ('a','b''c')");
    }

    #[test]
    fn a_subscription_label_replaces_an_organization_label_in_place() {
        let org = [
            label("k1", "org1", "2024-01-01T00:00:00Z", "a"),
            label("k2", "org2", "2024-01-01T00:00:01Z", "b"),
        ];
        let sub = [
            label("k3", "sub3", "2024-01-01T00:00:00Z", "c"),
            label("k1", "sub1", "2024-01-01T00:00:02Z", "d"),
        ];
        assert_eq!(
            merge_labels(&org, &sub),
            vec![
                ("k1".into(), "sub1".into()),
                ("k2".into(), "org2".into()),
                ("k3".into(), "sub3".into())
            ]
        );
    }

    #[test]
    fn labels_sort_by_creation_instant_then_id() {
        let mut ls = vec![
            label("a", "", "2024-01-01T00:00:00Z", "z"),
            label("b", "", "2024-01-01T00:00:00.500Z", "y"),
            label("c", "", "2023-12-31T23:59:59Z", "x"),
            label("d", "", "2024-01-01T00:00:00Z", "w"),
        ];
        Label::sort(&mut ls);
        let keys: Vec<&str> = ls.iter().map(|l| l.key.as_str()).collect();
        assert_eq!(keys, ["c", "d", "a", "b"]);
    }

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
