//! The Prometheus Pushgateway client of one-shot runs: PUTs the run's metrics (Prometheus text
//! format 0.0.4) to the grouping key qontract-reconcile uses,
//! `/metrics/job/qontract-reconcile/integration/dynatrace-token-provider/shards/<N>/shard_id/<SHARD_KEY>`,
//! replacing what the previous run pushed there. It goes through the shared HTTP core
//! ([`super::http::send`]): timeouts, retries (a PUT is idempotent) and request metrics
//! (system `pushgateway`). The password never appears in errors or `Debug`.

use super::http::{ApiError, Http, redact_url, send};
use crate::model::{INTEGRATION_NAME, REDACTED};
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use url::Url;

/// The Pushgateway `job` (as qontract-reconcile pushes it).
pub const PUSHGATEWAY_JOB: &str = "qontract-reconcile";
/// Content type of a Pushgateway push (Prometheus text format 0.0.4).
pub const PROMETHEUS_TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Where one-shot runs push their metrics (`PUSHGATEWAY_*`), validated.
#[derive(Clone)]
pub struct PushgatewaySettings {
    /// http(s), without credentials.
    pub url: Url,
    pub username: Option<String>,
    pub password: Option<SecretString>,
}

impl fmt::Debug for PushgatewaySettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushgatewaySettings")
            .field("url", &redact_url(&self.url))
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| REDACTED))
            .finish()
    }
}

/// The shard part of the grouping key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupingShard {
    pub shards: u32,
    /// The shard's key (`SHARD_KEY`, default `<id>-<count>`), as qontract-reconcile groups.
    pub shard_id: crate::shard::ShardKey,
}

/// A Pushgateway to push to.
#[derive(Clone, Debug)]
pub struct Pushgateway {
    settings: PushgatewaySettings,
    http: Http,
}

impl Pushgateway {
    pub fn new(settings: PushgatewaySettings, http: Http) -> Self {
        Self { settings, http }
    }

    /// `{url}/metrics/job/qontract-reconcile/integration/dynatrace-token-provider/shards/<N>/shard_id/<SHARD_KEY>`.
    pub fn push_url(&self, shard: GroupingShard) -> String {
        format!(
            "{}/metrics/job/{PUSHGATEWAY_JOB}/integration/{INTEGRATION_NAME}/shards/{}/shard_id/{}",
            self.settings.url.as_str().trim_end_matches('/'),
            shard.shards,
            shard.shard_id
        )
    }

    /// PUTs `body` (Prometheus text format) to the grouping key of this integration and shard.
    /// Errors name the URL and never hold the password.
    pub async fn push(&self, shard: GroupingShard, body: String) -> Result<(), String> {
        let url = self.push_url(shard);
        let op = format!("Pushgateway PUT {url}");
        let s = &self.settings;
        let build = || {
            let mut req = self
                .http
                .client
                .put(&url)
                .header(reqwest::header::CONTENT_TYPE, PROMETHEUS_TEXT_CONTENT_TYPE)
                .body(body.clone());
            if s.username.is_some() || s.password.is_some() {
                req = req.basic_auth(
                    s.username.as_deref().unwrap_or_default(),
                    s.password.as_ref().map(|p| p.expose_secret().to_owned()),
                );
            }
            req
        };
        let limit = self
            .http
            .target("pushgateway", &redact_url(&self.settings.url));
        send(&self.http, &limit, &op, true, build, |_| None)
            .await
            .map(drop)
            .map_err(|e: ApiError| self.scrub(&e.to_string()))
    }

    fn scrub(&self, text: &str) -> String {
        match self.settings.password.as_ref().map(|p| p.expose_secret()) {
            Some(p) if !p.is_empty() => text.replace(p, REDACTED),
            _ => text.to_owned(),
        }
    }
}
