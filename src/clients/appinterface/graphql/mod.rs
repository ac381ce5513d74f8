//! App-interface from qontract-server over GraphQL.
//!
//! The query documents are the Python integration's (`graphql/*.graphql`, plus each object's
//! `path` so problems can name the datafile), compiled against `graphql/schema.graphql` by
//! `graphql_client`'s derive; requests go through dtp's shared `reqwest` client and retry
//! policy ([`crate::clients::http::send`]). The `Authorization` header is the configured token,
//! sent verbatim (it already carries its scheme, e.g. `Basic …`) and marked sensitive.
//!
//! One load reads one bundle: unless a sha is given, `GET <origin>/sha256` names the latest
//! bundle and every query of the load goes to `<origin>/graphqlsha/<sha>`, so a bundle swapped
//! on the server mid-run cannot mix data. If that bundle expires during the load (404), the
//! latest sha is read once more and the whole load restarts on it. A query answered with
//! GraphQL `errors` or without `data` is retried (5 attempts by default, linear backoff);
//! transport errors and 5xx are retried by the HTTP layer; an invalid query (HTTP 400) is not
//! retried.

use super::AppInterfaceError;
use crate::clients::AppInterfaceSource;
use crate::clients::http::{Http, read_body, read_json, send};
use crate::clients::limit::Limit;
use crate::model::{
    AppInterfaceData, DynatraceEnvironment, LogRulesInput, OcmEnvName, OcmEnvironment, OrgId,
    SpecName, SpecSecret, SpecToken, TenantId, TokenSpec, VaultSecretRef,
};
use async_trait::async_trait;
use graphql_client::GraphQLQuery;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use std::time::Duration;

mod queries;

use queries::{
    AppInterfaceVaultSettings, DynatraceTokenProviderTokenSpecs, OcmEnvironments,
    app_interface_vault_settings, dynatrace_environment, dynatrace_token_provider_token_specs,
    ocm_environments,
};

/// App-interface data from qontract-server.
#[derive(Clone)]
pub struct GraphqlSource {
    /// As configured (for logs and errors; carries no credential).
    server_url: String,
    /// The server, or why it cannot be used.
    endpoint: Result<Endpoint, String>,
    http: Http,
    limit: std::sync::Arc<Limit>,
    sha: Option<String>,
    pin: bool,
    query_attempts: u32,
    query_backoff: Duration,
}

/// Where and how to reach qontract-server.
#[derive(Clone)]
struct Endpoint {
    /// The configured endpoint (used as is when pinning is off).
    server: url::Url,
    /// `scheme://host[:port]`, no trailing slash.
    origin: String,
    authorization: Option<HeaderValue>,
}

/// Whether `server` can be qontract-server's URL: http(s) with a host, and no credentials (the
/// token goes in `graphql.token`). The message does not quote a URL with credentials.
pub fn check_server(server: &url::Url) -> Result<(), String> {
    if !server.username().is_empty() || server.password().is_some() {
        return Err(
            "the GraphQL server URL must not carry credentials (the token goes in graphql.token)"
                .to_owned(),
        );
    }
    if !matches!(server.scheme(), "http" | "https") || server.host_str().is_none() {
        return Err(format!(
            "invalid GraphQL server URL '{server}': expected http(s)://host[:port]/graphql"
        ));
    }
    Ok(())
}

/// The `Authorization` header of a GraphQL token (surrounding whitespace removed), marked
/// sensitive; an error when the token cannot be a header value.
pub fn token_header(token: &SecretString) -> Result<HeaderValue, String> {
    HeaderValue::from_str(token.expose_secret().trim())
        .map(|mut h| {
            h.set_sensitive(true);
            h
        })
        .map_err(|_| "the GraphQL token is not a valid HTTP header value".to_owned())
}

impl Endpoint {
    fn parse(server_url: &str, token: Option<SecretString>) -> Result<Self, String> {
        // The text is not quoted: it may carry credentials.
        let server =
            url::Url::parse(server_url).map_err(|e| format!("invalid GraphQL server URL: {e}"))?;
        Self::from_url(server, token)
    }

    fn from_url(server: url::Url, token: Option<SecretString>) -> Result<Self, String> {
        check_server(&server)?;
        let origin = server.origin().ascii_serialization();
        let authorization = token.as_ref().map(token_header).transpose()?;
        Ok(Self {
            server,
            origin,
            authorization,
        })
    }
}

impl std::fmt::Debug for GraphqlSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (server, auth) = match &self.endpoint {
            Ok(e) => (
                e.server.as_str(),
                e.authorization.as_ref().map(|_| crate::model::REDACTED),
            ),
            Err(_) => ("<invalid>", None),
        };
        f.debug_struct("GraphqlSource")
            .field("server", &server)
            .field("authorization", &auth)
            .field("sha", &self.sha)
            .field("pin", &self.pin)
            .finish_non_exhaustive()
    }
}

impl GraphqlSource {
    /// `server_url` is `graphql.server` (e.g. `https://host/graphql`); `token` is sent verbatim
    /// as `Authorization` (only surrounding whitespace, such as a file's trailing newline, is
    /// removed). Never fails: an unusable URL or token makes every
    /// [`load`](AppInterfaceSource::load) fail with [`AppInterfaceError::Config`]; use
    /// [`Self::try_new`] to find out at construction.
    pub fn new(server_url: &str, token: Option<SecretString>, http: Http) -> Self {
        let endpoint = Endpoint::parse(server_url, token);
        let server_url = match &endpoint {
            Ok(e) => e.server.to_string(),
            Err(_) => match url::Url::parse(server_url) {
                Ok(mut u) => {
                    let _ = u.set_username("");
                    let _ = u.set_password(None);
                    u.to_string()
                }
                Err(_) => "<invalid URL>".to_owned(),
            },
        };
        Self::with_endpoint(server_url, endpoint, http)
    }

    /// A source for an already validated URL (from the configuration).
    pub fn from_url(server: &url::Url, token: Option<SecretString>, http: Http) -> Self {
        let endpoint = Endpoint::from_url(server.clone(), token);
        Self::with_endpoint(crate::clients::http::redact_url(server), endpoint, http)
    }

    fn with_endpoint(server_url: String, endpoint: Result<Endpoint, String>, http: Http) -> Self {
        Self {
            limit: http.target("graphql", &server_url),
            server_url,
            endpoint,
            http,
            sha: None,
            pin: true,
            query_attempts: 5,
            query_backoff: Duration::from_secs(1),
        }
    }

    /// [`Self::new`], failing when the URL is not http(s) with a host or the token cannot be
    /// an HTTP header value.
    pub fn try_new(
        server_url: &str,
        token: Option<SecretString>,
        http: Http,
    ) -> Result<Self, AppInterfaceError> {
        let source = Self::new(server_url, token, http);
        source.endpoint()?;
        Ok(source)
    }

    fn endpoint(&self) -> Result<&Endpoint, AppInterfaceError> {
        self.endpoint
            .as_ref()
            .map_err(|e| AppInterfaceError::Config(e.clone()))
    }

    /// Reads the given bundle instead of the latest one (e.g. the comparison bundle of a PR
    /// check). A pinned sha that the server does not know is an error, never re-pinned.
    pub fn with_sha(mut self, sha: Option<String>) -> Self {
        self.sha = sha;
        self
    }

    /// `false` queries the configured URL as is, without `/sha256` (`--no-gql-sha-url`); the
    /// data then has no `bundle_sha`.
    pub fn with_sha_pinning(mut self, pin: bool) -> Self {
        self.pin = pin;
        self
    }

    /// Attempts per query on GraphQL `errors` or missing `data` (at least 1), and the backoff
    /// unit: attempt *n* waits *n* × `backoff` before the next one.
    pub fn with_query_retries(mut self, attempts: u32, backoff: Duration) -> Self {
        self.query_attempts = attempts.max(1);
        self.query_backoff = backoff;
        self
    }

    /// The configured GraphQL URL (for logs; carries no credential).
    pub fn server(&self) -> &str {
        &self.server_url
    }

    /// `scheme://host[:port]` of the server (the configured URL when it is unusable).
    fn origin(&self) -> &str {
        self.endpoint
            .as_ref()
            .map_or(self.server_url.as_str(), |e| e.origin.as_str())
    }

    /// The latest bundle sha (`GET <origin>/sha256`).
    pub async fn latest_sha(&self) -> Result<String, AppInterfaceError> {
        let url = format!("{}/sha256", self.endpoint()?.origin);
        let op = format!("GET {url}");
        let resp = send(
            &self.http,
            &self.limit,
            &op,
            true,
            || self.request(reqwest::Method::GET, &url),
            gql_message,
        )
        .await?;
        let body = read_body(&op, resp, 1024).await?;
        let text = String::from_utf8_lossy(&body);
        let sha = text.trim();
        if sha.is_empty() || !sha.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(AppInterfaceError::Http(crate::clients::ApiError::decode(
                &op,
                format!(
                    "not a bundle sha: '{}'",
                    sha.chars().take(80).collect::<String>()
                ),
            )));
        }
        Ok(sha.to_owned())
    }

    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let mut b = self.http.client.request(method, url);
        if let Some(auth) = self
            .endpoint
            .as_ref()
            .ok()
            .and_then(|e| e.authorization.as_ref())
        {
            b = b.header(AUTHORIZATION, auth.clone());
        }
        b
    }

    fn sha_endpoint(&self, sha: &str) -> String {
        format!("{}/graphqlsha/{sha}", self.origin())
    }

    /// Logs the git commit of the bundle (`/git-commit-info/<sha>`), as the Python client
    /// records it. Best effort: one attempt, failures only logged.
    async fn log_commit(&self, sha: &str) {
        let url = format!("{}/git-commit-info/{sha}", self.origin());
        let info = async {
            let resp = self.request(reqwest::Method::GET, &url).send().await.ok()?;
            if !resp.status().is_success() {
                return None;
            }
            read_json::<Value>("git-commit-info", resp, 64 * 1024)
                .await
                .ok()
        }
        .await;
        match info {
            Some(v) => {
                let commit = v
                    .get("commit")
                    .and_then(|c| c.as_str())
                    .unwrap_or_default()
                    .to_owned();
                let timestamp = v
                    .get("timestamp")
                    .map(|t| t.to_string())
                    .unwrap_or_default();
                tracing::info!(
                    bundle_sha = sha,
                    commit,
                    commit_timestamp = timestamp,
                    "reading app-interface bundle"
                );
            }
            None => tracing::info!(
                bundle_sha = sha,
                "reading app-interface bundle (commit unknown)"
            ),
        }
    }

    /// Runs the four queries against one endpoint.
    async fn load_from(
        &self,
        endpoint: &str,
        pinned: bool,
    ) -> Result<AppInterfaceData, AppInterfaceError> {
        let (specs, dt, ocm, settings) = futures::future::try_join4(
            self.query::<DynatraceTokenProviderTokenSpecs>(
                endpoint,
                pinned,
                dynatrace_token_provider_token_specs::Variables,
            ),
            self.query::<queries::DynatraceEnvironment>(
                endpoint,
                pinned,
                dynatrace_environment::Variables,
            ),
            self.query::<OcmEnvironments>(
                endpoint,
                pinned,
                ocm_environments::Variables { name: None },
            ),
            self.query::<AppInterfaceVaultSettings>(
                endpoint,
                pinned,
                app_interface_vault_settings::Variables,
            ),
        )
        .await?;
        let mut data = AppInterfaceData {
            token_specs: convert::token_specs(specs),
            dynatrace_environments: convert::dynatrace_environments(dt)
                .map_err(|m| self.decode_error("DynatraceEnvironment", m))?,
            ocm_environments: convert::ocm_environments(ocm)
                .map_err(|m| self.decode_error("OCMEnvironments", m))?,
            vault: convert::vault(settings)?,
            bundle_sha: None,
        };
        sort_by_source(&mut data);
        Ok(data)
    }

    fn decode_error(&self, query: &str, message: String) -> AppInterfaceError {
        AppInterfaceError::Decode {
            query: query.to_owned(),
            server: self.origin().to_owned(),
            message,
        }
    }

    /// One POST of a query document, parsed as a GraphQL response (errors not looked at).
    async fn post_once(
        &self,
        op: &str,
        name: &str,
        endpoint: &str,
        pinned: bool,
        payload: &[u8],
        attempt: u32,
    ) -> Result<graphql_client::Response<Value>, AppInterfaceError> {
        let result = send(
            &self.http,
            &self.limit,
            op,
            true,
            || {
                self.request(reqwest::Method::POST, endpoint)
                    .header(CONTENT_TYPE, "application/json")
                    .body(payload.to_vec())
            },
            gql_message,
        )
        .await;
        let resp = match result {
            Ok(r) => r,
            Err(e) if pinned && e.is_not_found() => {
                return Err(AppInterfaceError::BundleNotFound {
                    server: self.origin().to_owned(),
                    sha: endpoint.rsplit('/').next().unwrap_or_default().to_owned(),
                });
            }
            Err(crate::clients::ApiError::Status {
                status: 400,
                message,
                ..
            }) => {
                return Err(AppInterfaceError::Query {
                    query: name.to_owned(),
                    server: self.origin().to_owned(),
                    attempts: attempt,
                    messages: vec![format!("invalid query (HTTP 400): {message}")],
                });
            }
            Err(e) => return Err(e.into()),
        };
        read_json(op, resp, self.http.settings.max_body)
            .await
            .map_err(|e| match e {
                crate::clients::ApiError::Decode { message, .. } => {
                    self.decode_error(name, format!("not a GraphQL response: {message}"))
                }
                other => other.into(),
            })
    }

    /// One query: POST `{query, variables, operationName}`; retried on GraphQL `errors` or
    /// missing `data`. A 404 on a pinned endpoint is [`AppInterfaceError::BundleNotFound`].
    async fn query<Q: GraphQLQuery>(
        &self,
        endpoint: &str,
        pinned: bool,
        variables: Q::Variables,
    ) -> Result<Q::ResponseData, AppInterfaceError> {
        let body = Q::build_query(variables);
        let name = body.operation_name;
        let payload = serde_json::to_vec(&body)
            .map_err(|e| AppInterfaceError::Other(format!("encoding query {name}: {e}")))?;
        let op = format!("query {name} (POST {endpoint})");
        let mut messages = Vec::new();
        for attempt in 1..=self.query_attempts {
            if attempt > 1 {
                tokio::time::sleep(self.query_backoff * (attempt - 1)).await;
            }
            let parsed = self
                .post_once(&op, name, endpoint, pinned, &payload, attempt)
                .await?;
            let errors = parsed.errors.unwrap_or_default();
            match parsed.data {
                Some(data) if errors.is_empty() && !data.is_null() => {
                    return serde_json::from_value(data)
                        .map_err(|e| self.decode_error(name, e.to_string()));
                }
                _ => {
                    messages = if errors.is_empty() {
                        vec!["the response has no data".to_owned()]
                    } else {
                        errors.iter().map(describe).collect()
                    };
                    if attempt < self.query_attempts {
                        tracing::warn!(query = name, attempt, errors = %messages.join("; "), "GraphQL query failed; retrying");
                    }
                }
            }
        }
        Err(AppInterfaceError::Query {
            query: name.to_owned(),
            server: self.origin().to_owned(),
            attempts: self.query_attempts,
            messages,
        })
    }
}

impl GraphqlSource {
    /// Runs `load` against one bundle: the configured URL as is without pinning (no sha);
    /// otherwise the given or latest sha, re-pinned once to the latest when a discovered sha
    /// expires during the load. Returns the result and the sha it was read from.
    async fn on_one_bundle<T, F, Fut>(
        &self,
        load: F,
    ) -> Result<(T, Option<String>), AppInterfaceError>
    where
        F: Fn(String, bool) -> Fut,
        Fut: std::future::Future<Output = Result<T, AppInterfaceError>>,
    {
        let endpoint = self.endpoint()?;
        if !self.pin {
            return Ok((load(endpoint.server.to_string(), false).await?, None));
        }
        let discovered = self.sha.is_none();
        let mut sha = match &self.sha {
            Some(sha) => sha.clone(),
            None => self.latest_sha().await?,
        };
        let mut repinned = false;
        loop {
            self.log_commit(&sha).await;
            match load(self.sha_endpoint(&sha), true).await {
                Ok(data) => return Ok((data, Some(sha))),
                Err(AppInterfaceError::BundleNotFound { .. }) if discovered && !repinned => {
                    let latest = self.latest_sha().await?;
                    tracing::warn!(expired = %sha, latest = %latest, "app-interface bundle expired during the load; re-pinning");
                    repinned = true;
                    sha = latest;
                }
                Err(AppInterfaceError::BundleNotFound { server, .. }) => {
                    return Err(AppInterfaceError::BundleNotFound { server, sha });
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[async_trait]
impl AppInterfaceSource for GraphqlSource {
    async fn load(&self) -> Result<AppInterfaceData, AppInterfaceError> {
        let (mut data, sha) = self
            .on_one_bundle(
                |endpoint, pinned| async move { self.load_from(&endpoint, pinned).await },
            )
            .await?;
        data.bundle_sha = sha;
        Ok(data)
    }

    async fn load_log_rules(&self) -> Result<LogRulesInput, AppInterfaceError> {
        let (input, _) = self
            .on_one_bundle(|endpoint, pinned| async move {
                self.load_log_rules_from(&endpoint, pinned).await
            })
            .await?;
        Ok(input)
    }
}

/// A GraphQL error as one line: its message, and the response path when there is one.
fn describe(e: &graphql_client::Error) -> String {
    match &e.path {
        Some(path) if !path.is_empty() => {
            let path: Vec<String> = path.iter().map(ToString::to_string).collect();
            format!("{} (at {})", e.message, path.join("/"))
        }
        _ => e.message.clone(),
    }
}

/// The messages of a qontract-server error body (`{"errors":[{"message": …}]}`).
fn gql_message(v: &Value) -> Option<String> {
    let messages: Vec<&str> = v
        .get("errors")?
        .as_array()?
        .iter()
        .filter_map(|e| e.get("message").and_then(Value::as_str))
        .collect();
    (!messages.is_empty()).then(|| messages.join("; "))
}

/// Orders every list by datafile path (items without a path keep the server's order, last),
/// so that GraphQL and datafiles give identical data and plans diff cleanly.
fn sort_by_source(data: &mut AppInterfaceData) {
    fn key(s: &Option<String>) -> (bool, &str) {
        (s.is_none(), s.as_deref().unwrap_or(""))
    }
    data.token_specs
        .sort_by(|a, b| key(&a.source).cmp(&key(&b.source)));
    data.dynatrace_environments
        .sort_by(|a, b| key(&a.source).cmp(&key(&b.source)));
    data.ocm_environments
        .sort_by(|a, b| key(&a.source).cmp(&key(&b.source)));
}

/// From the generated response types to the model.
mod convert;
/// The log-rules reconciler's queries.
mod log_rules;

#[cfg(test)]
mod tests;
