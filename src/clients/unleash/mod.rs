//! The Unleash feature toggle `dynatrace-token-provider` (behaviour B4, docs/behaviour.md):
//! when `UNLEASH_API_URL` and `UNLEASH_CLIENT_ACCESS_TOKEN` are both set (and non-empty), dtp
//! asks Unleash whether it may run; a disabled toggle makes `dtp run` log and exit 0. The
//! request goes through the shared HTTP core (timeouts, retries, request metrics with system
//! `unleash`).
//!
//! # Protocol
//!
//! One request, no SDK, no background polling: `GET {UNLEASH_API_URL}/client/features/
//! dynatrace-token-provider` with `Authorization: <token>` (the token verbatim, as
//! qontract-reconcile's `UnleashClient` sends it; only surrounding whitespace such as a file's
//! trailing newline is removed) and `UNLEASH-APPNAME: qontract-reconcile`. The answer is
//! Unleash's feature object `{"name", "enabled", "strategies": [{"name", "parameters"}]}`.
//!
//! # Evaluation
//!
//! As qontract-reconcile's `get_feature_toggle_state(integration_name, context=None)` decides
//! with the Python `UnleashClient` SDK, for the only context dtp has: `appName`
//! `qontract-reconcile`, `environment` `default` and, for date constraints, `currentTime`; no
//! `userId`, `sessionId`, `remoteAddress` or `cluster_name` (see the `strategies` module).
//!
//! - `enabled: false` → [`Toggle::Disabled`].
//! - `enabled: true` and no strategies → [`Toggle::Enabled`] (as the Unleash SDKs do).
//! - Otherwise enabled when any strategy is, and a strategy is only when all its
//!   `constraints` hold (`IN`, `NOT_IN`, `STR_CONTAINS`/`STARTS_WITH`/`ENDS_WITH`, `NUM_EQ`/
//!   `GT`/`GTE`/`LT`/`LTE`, `DATE_AFTER`/`BEFORE`, `SEMVER_EQ`/`GT`/`LT`, with `inverted` and
//!   `caseInsensitive`; a constraint on a field the context lacks holds only for `NOT_IN`).
//!   `default` is enabled. `flexibleRollout` is off at 0 %, on at 100 %, and in between
//!   random (stickiness `default` without ids, or `random`), decided by murmur3 of
//!   `groupId:value` for a context field (`appName`, `environment`), or off for a field the
//!   context lacks (`userId`, `sessionId`, others). `gradualRolloutRandom` is random;
//!   `userWithId`, `gradualRolloutUserId`, `gradualRolloutSessionId` and `remoteAddress` are
//!   off (no ids, no address); `applicationHostname` compares `hostNames` with `HOSTNAME` (or
//!   `/etc/hostname`), case-insensitively. qontract-reconcile's custom `disableCluster` is
//!   enabled and `enableCluster` is not, because the integration-level check passes no
//!   `cluster_name` (`DisableClusterStrategy.apply` answers `True` and
//!   `EnableClusterStrategy.apply` `False` without one). Unknown strategies and malformed
//!   parameters or constraints make their strategy off (logged at debug level).
//! - HTTP 404, the toggle does not exist → [`Toggle::Enabled`] (the Python fallback).
//!
//! # Failures
//!
//! Unleash unreachable, a timeout, 401/403, 5xx (after retries), an unreadable answer, or a
//! `UNLEASH_API_URL` that is not an http(s) URL ([`UnleashConfig::Misconfigured`]) →
//! [`Toggle::Unknown`] with the reason, which **counts as enabled** (and is logged as a
//! warning by [`check`]). A flaky or misconfigured Unleash must not stop token provisioning:
//! the toggle is an emergency brake that someone pulls on purpose, while missing or expired
//! tokens break monitoring of every cluster. The Python client behaves the same (a failed
//! fetch leaves it with no features, and its fallback answers enabled).
//!
//! The access token is never logged and never part of a [`Toggle::Unknown`] reason; URLs in
//! reasons have their user info removed.

use super::http::{ApiError, Http, redact_url, send};
use crate::model::REDACTED;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::fmt;
use url::Url;

mod strategies;

/// The toggle's name (the integration name).
pub const TOGGLE_NAME: &str = crate::model::INTEGRATION_NAME;

/// The app name qontract-reconcile registers with Unleash.
const APP_NAME: &str = "qontract-reconcile";

/// A usable Unleash: its API URL and client access token.
#[derive(Clone)]
pub struct UnleashSettings {
    pub api_url: Url,
    pub token: SecretString,
}

impl fmt::Debug for UnleashSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnleashSettings")
            .field("api_url", &redact_url(&self.api_url))
            .field("token", &REDACTED)
            .finish()
    }
}

/// Whether and how the toggle is checked.
#[derive(Clone, Debug, Default)]
pub enum UnleashConfig {
    /// The variables are not both set: there is no toggle to check (dtp runs).
    #[default]
    Off,
    On(UnleashSettings),
    /// Set, but unusable (the reason names the variable, never the token): counts as
    /// enabled, with a warning at every check.
    Misconfigured(String),
}

/// What Unleash says about the toggle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Toggle {
    /// dtp may run (also: the toggle does not exist, or Unleash is not configured).
    Enabled,
    /// The toggle is off: log and exit 0 without doing anything.
    Disabled,
    /// Unleash could not answer; the reason (no credential in it). Counts as enabled.
    Unknown(String),
}

impl Toggle {
    /// Whether dtp runs: `false` only for [`Toggle::Disabled`].
    pub fn allows_run(&self) -> bool {
        !matches!(self, Self::Disabled)
    }
}

/// Asks Unleash about the `dynatrace-token-provider` toggle (see the module documentation for
/// the request and the evaluation). Never fails: problems are [`Toggle::Unknown`].
pub async fn enabled(settings: &UnleashSettings, http: &Http) -> Toggle {
    let mut url = settings.api_url.clone();
    match url.path_segments_mut() {
        Ok(mut segments) => {
            segments
                .pop_if_empty()
                .extend(["client", "features", TOGGLE_NAME]);
        }
        Err(()) => {
            return Toggle::Unknown(format!(
                "UNLEASH_API_URL '{}' is not an http(s) URL",
                redact_url(&settings.api_url)
            ));
        }
    }
    let shown = redact_url(&url);
    let Ok(mut auth) = HeaderValue::from_str(settings.token.expose_secret().trim()) else {
        return Toggle::Unknown(
            "UNLEASH_CLIENT_ACCESS_TOKEN is not a valid HTTP header value".to_owned(),
        );
    };
    auth.set_sensitive(true);
    let op = format!("GET {shown}");
    let build = || {
        http.client
            .get(url.clone())
            .header(AUTHORIZATION, auth.clone())
            .header("UNLEASH-APPNAME", APP_NAME)
    };
    let limit = http.target("unleash", &shown);
    let resp = match send(http, &limit, &op, true, build, |_| None).await {
        Ok(r) => r,
        Err(e) if e.is_not_found() => return Toggle::Enabled,
        Err(ApiError::Status { status, .. }) => {
            let reason = reqwest::StatusCode::from_u16(status)
                .map(|s| s.to_string())
                .unwrap_or_else(|_| status.to_string());
            return Toggle::Unknown(format!("{op}: HTTP {reason}"));
        }
        Err(e) => return Toggle::Unknown(without_url(&e.to_string(), &url, &shown)),
    };
    match super::http::read_json::<Feature>(&op, resp, 1024 * 1024).await {
        Ok(feature) => feature.evaluate(),
        Err(e) => Toggle::Unknown(format!("{op}: unexpected answer: {e}")),
    }
}

/// The toggle check of `dtp run`: [`Toggle::Enabled`] when Unleash is not configured, else
/// [`enabled`]; logs an unknown state as a warning (dtp then runs) and a disabled toggle at info
/// level, with qontract-reconcile's message. Call it before each run (every loop iteration)
/// and skip the run when `!toggle.allows_run()`.
pub async fn check(config: &UnleashConfig, http: &Http) -> Toggle {
    let toggle = match config {
        UnleashConfig::Off => return Toggle::Enabled,
        UnleashConfig::Misconfigured(reason) => Toggle::Unknown(reason.clone()),
        UnleashConfig::On(settings) => enabled(settings, http).await,
    };
    match &toggle {
        Toggle::Enabled => tracing::debug!(toggle = TOGGLE_NAME, "feature toggle is enabled"),
        Toggle::Disabled => tracing::info!(
            toggle = TOGGLE_NAME,
            "Integration toggle is disabled, skipping integration."
        ),
        Toggle::Unknown(reason) => tracing::warn!(
            toggle = TOGGLE_NAME,
            "feature toggle could not be read, running as if enabled: {reason}"
        ),
    }
    toggle
}

/// A transport error's text with any full URL replaced by its redacted form.
fn without_url(text: &str, url: &Url, shown: &str) -> String {
    text.replace(url.as_str(), shown)
}

/// Unleash's feature object (client API). Strategies stay JSON until evaluated, so that a
/// malformed one turns off only itself.
#[derive(Deserialize)]
struct Feature {
    #[serde(default)]
    name: Option<String>,
    enabled: bool,
    #[serde(default)]
    strategies: Option<Vec<serde_json::Value>>,
}

impl Feature {
    fn evaluate(&self) -> Toggle {
        self.evaluate_in(&strategies::Context::integration(APP_NAME))
    }

    fn evaluate_in(&self, ctx: &strategies::Context) -> Toggle {
        if !self.enabled {
            return Toggle::Disabled;
        }
        let name = self.name.as_deref().unwrap_or(TOGGLE_NAME);
        let list = self.strategies.as_deref().unwrap_or_default();
        if strategies::any_enabled(list, name, ctx) {
            Toggle::Enabled
        } else {
            Toggle::Disabled
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(json: &str) -> Toggle {
        serde_json::from_str::<Feature>(json)
            .expect("feature parses")
            .evaluate()
    }

    #[test]
    fn the_enabled_flag_and_strategies_decide() {
        assert_eq!(eval(r#"{"name":"x","enabled":false}"#), Toggle::Disabled);
        assert_eq!(eval(r#"{"name":"x","enabled":true}"#), Toggle::Enabled);
        assert_eq!(
            eval(r#"{"enabled":true,"strategies":[{"name":"default","parameters":{}}]}"#),
            Toggle::Enabled
        );
        assert_eq!(
            eval(
                r#"{"enabled":true,"strategies":[{"name":"disableCluster","parameters":{"cluster_name":"a,b"}}]}"#
            ),
            Toggle::Enabled
        );
        assert_eq!(
            eval(
                r#"{"enabled":true,"strategies":[{"name":"enableCluster","parameters":{"cluster_name":"a"}}]}"#
            ),
            Toggle::Disabled,
            "without a cluster context, enableCluster does not apply (as in qontract-reconcile)"
        );
        assert_eq!(
            eval(
                r#"{"enabled":true,"strategies":[{"name":"enableCluster","parameters":{"cluster_name":"a"}},{"name":"flexibleRollout","parameters":{"rollout":"100"}}]}"#
            ),
            Toggle::Enabled
        );
        assert_eq!(
            eval(r#"{"enabled":true,"strategies":null}"#),
            Toggle::Enabled
        );
        assert_eq!(
            eval(r#"{"enabled":false,"strategies":[{"name":"default"}]}"#),
            Toggle::Disabled
        );
    }

    #[test]
    fn a_zero_percent_rollout_is_disabled_as_in_qontract_reconcile() {
        for _ in 0..100 {
            assert_eq!(
                eval(
                    r#"{"name":"dynatrace-token-provider","enabled":true,"strategies":[{"name":"flexibleRollout","parameters":{"rollout":"0","stickiness":"default","groupId":"dynatrace-token-provider"},"constraints":[]}]}"#
                ),
                Toggle::Disabled
            );
        }
        assert_eq!(
            eval(
                r#"{"enabled":true,"strategies":[{"name":"flexibleRollout","parameters":{"rollout":"100","stickiness":"default"}}]}"#
            ),
            Toggle::Enabled
        );
        // Unknown and user-bound strategies, and unmet constraints, do not enable it.
        assert_eq!(
            eval(
                r#"{"enabled":true,"strategies":[{"name":"myStrategy"},{"name":"userWithId","parameters":{"userIds":"a"}},{"name":"default","constraints":[{"contextName":"environment","operator":"IN","values":["production"]}]}]}"#
            ),
            Toggle::Disabled
        );
        // A malformed strategy turns off only itself.
        assert_eq!(
            eval(
                r#"{"enabled":true,"strategies":[{"name":"flexibleRollout","parameters":{"rollout":{}}},{"name":"default","constraints":[{"contextName":"appName","operator":"IN","values":["qontract-reconcile"]}]}]}"#
            ),
            Toggle::Enabled
        );
    }

    #[test]
    fn only_a_disabled_toggle_stops_the_run() {
        assert!(Toggle::Enabled.allows_run());
        assert!(Toggle::Unknown("down".into()).allows_run());
        assert!(!Toggle::Disabled.allows_run());
    }

    #[test]
    fn urls_in_messages_have_no_user_info() {
        let url = Url::parse("https://user:pw@unleash.example.com/api").unwrap();
        assert_eq!(redact_url(&url), "https://unleash.example.com/api");
    }

    #[tokio::test]
    async fn a_bad_url_or_token_is_unknown_without_the_token() {
        let http = Http::new(crate::clients::http::HttpSettings::default()).unwrap();
        let misconfigured =
            UnleashConfig::Misconfigured("UNLEASH_API_URL is not an http(s) URL".into());
        let t = check(&misconfigured, &http).await;
        assert!(
            matches!(&t, Toggle::Unknown(r) if r.contains("UNLEASH_API_URL")),
            "{t:?}"
        );
        assert!(t.allows_run());
        let bad = UnleashSettings {
            api_url: Url::parse("http://127.0.0.1:1/api").unwrap(),
            token: SecretString::from("line\nbreak-s3cr3t".to_owned()),
        };
        let t = enabled(&bad, &http).await;
        assert!(
            matches!(&t, Toggle::Unknown(r) if !r.contains("s3cr3t")),
            "{t:?}"
        );
        assert!(!format!("{bad:?}").contains("s3cr3t"));
    }
}
