//! The Unleash feature toggle `dynatrace-token-provider` (behaviour B4, reference §4.2): when
//! `UNLEASH_API_URL` and `UNLEASH_CLIENT_ACCESS_TOKEN` are both set (and non-empty), dtp asks
//! Unleash whether it may run; a disabled toggle makes `dtp run` log and exit 0.
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
//! - `enabled: false` → [`Toggle::Disabled`].
//! - `enabled: true` and no strategies → [`Toggle::Enabled`] (as the Unleash SDKs do).
//! - Otherwise enabled when any strategy is: `default` is; qontract-reconcile's custom
//!   `disableCluster` is and `enableCluster` is not, because the integration-level check
//!   passes no `cluster_name` context (`DisableClusterStrategy.apply` answers `True` and
//!   `EnableClusterStrategy.apply` answers `False` without one; dtp has no cluster name either,
//!   so this is exactly what the Python integration decides). Any other strategy (rollouts,
//!   user ids, constraints) needs a context dtp does not have and counts as enabled: the
//!   reliable way to stop dtp is to switch the toggle off.
//! - HTTP 404, the toggle does not exist → [`Toggle::Enabled`] (the Python fallback).
//!
//! # Failures
//!
//! Unleash unreachable, a timeout ([`TIMEOUT`]), 401/403, 5xx or an unreadable answer →
//! [`Toggle::Unknown`] with the reason, which **counts as enabled** (and is logged as a
//! warning by [`check`]). A flaky or misconfigured Unleash must not stop token provisioning:
//! the toggle is an emergency brake that someone pulls on purpose, while missing or expired
//! tokens break monitoring of every cluster. The Python client behaves the same (a failed
//! fetch leaves it with no features, and its fallback answers enabled).
//!
//! The access token is never logged and never part of a [`Toggle::Unknown`] reason; URLs in
//! reasons have their user info removed.

use crate::cli::Env;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::time::Duration;

/// The toggle's name (the integration name).
pub const TOGGLE_NAME: &str = crate::model::INTEGRATION_NAME;

/// Time limit of the toggle request.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The app name qontract-reconcile registers with Unleash.
const APP_NAME: &str = "qontract-reconcile";

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

/// `UNLEASH_API_URL` and `UNLEASH_CLIENT_ACCESS_TOKEN`, when both are set and non-empty;
/// `None` means there is no toggle to check (dtp runs, as in qontract-reconcile).
pub fn from_env(env: &Env) -> Option<(String, SecretString)> {
    let url = env
        .unleash_api_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())?;
    let token = env
        .unleash_client_access_token
        .as_deref()
        .filter(|t| !t.trim().is_empty())?;
    Some((url.to_owned(), SecretString::from(token.to_owned())))
}

/// Asks Unleash about the `dynatrace-token-provider` toggle (see the module documentation for
/// the request and the evaluation). Never fails: problems are [`Toggle::Unknown`].
pub async fn enabled(api_url: &str, token: &SecretString, http: &reqwest::Client) -> Toggle {
    let url = match url::Url::parse(&format!(
        "{}/client/features/{TOGGLE_NAME}",
        api_url.trim().trim_end_matches('/')
    )) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => u,
        _ => {
            return Toggle::Unknown(format!(
                "UNLEASH_API_URL '{}' is not an http(s) URL",
                redact(api_url)
            ));
        }
    };
    let shown = redact(url.as_str());
    let Ok(mut auth) = HeaderValue::from_str(token.expose_secret().trim()) else {
        return Toggle::Unknown(
            "UNLEASH_CLIENT_ACCESS_TOKEN is not a valid HTTP header value".to_owned(),
        );
    };
    auth.set_sensitive(true);
    let resp = http
        .get(url)
        .header(AUTHORIZATION, auth)
        .header("UNLEASH-APPNAME", APP_NAME)
        .timeout(TIMEOUT)
        .send()
        .await;
    let resp = match resp {
        Ok(r) => r,
        Err(e) => return Toggle::Unknown(format!("GET {shown}: {}", describe(e))),
    };
    let status = resp.status();
    if status == StatusCode::NOT_FOUND {
        return Toggle::Enabled;
    }
    if !status.is_success() {
        return Toggle::Unknown(format!("GET {shown}: HTTP {status}"));
    }
    match resp.json::<Feature>().await {
        Ok(feature) => feature.evaluate(),
        Err(e) => Toggle::Unknown(format!("GET {shown}: unexpected answer: {}", describe(e))),
    }
}

/// The toggle check of `dtp run`: [`Toggle::Enabled`] when Unleash is not configured
/// ([`from_env`]), else [`enabled`]; logs an unknown state as a warning (dtp then runs) and a
/// disabled toggle at info level, with qontract-reconcile's message. Call it before each run
/// (every loop iteration) and skip the run when `!toggle.allows_run()`.
pub async fn check(env: &Env, http: &reqwest::Client) -> Toggle {
    let Some((url, token)) = from_env(env) else {
        return Toggle::Enabled;
    };
    let toggle = enabled(&url, &token, http).await;
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

/// Unleash's feature object (client API).
#[derive(Deserialize)]
struct Feature {
    enabled: bool,
    #[serde(default)]
    strategies: Vec<Strategy>,
}

#[derive(Deserialize)]
struct Strategy {
    name: String,
}

impl Feature {
    fn evaluate(&self) -> Toggle {
        if !self.enabled {
            return Toggle::Disabled;
        }
        if self.strategies.is_empty() || self.strategies.iter().any(Strategy::applies) {
            Toggle::Enabled
        } else {
            Toggle::Disabled
        }
    }
}

impl Strategy {
    /// Whether the strategy enables the toggle for a check without context.
    fn applies(&self) -> bool {
        // qontract-reconcile's EnableClusterStrategy: no cluster_name in the context → False.
        self.name != "enableCluster"
    }
}

/// A URL without user info (for messages).
fn redact(raw: &str) -> String {
    match url::Url::parse(raw.trim()) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => "<invalid URL>".to_owned(),
    }
}

/// A reqwest error and its causes, without the URL (which [`enabled`] shows redacted).
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut out = if e.is_timeout() {
        format!("timed out after {}s", TIMEOUT.as_secs())
    } else {
        e.to_string()
    };
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
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
                r#"{"enabled":true,"strategies":[{"name":"enableCluster","parameters":{"cluster_name":"a"}},{"name":"flexibleRollout","parameters":{"rollout":"50"}}]}"#
            ),
            Toggle::Enabled
        );
        assert_eq!(
            eval(r#"{"enabled":false,"strategies":[{"name":"default"}]}"#),
            Toggle::Disabled
        );
    }

    #[test]
    fn only_a_disabled_toggle_stops_the_run() {
        assert!(Toggle::Enabled.allows_run());
        assert!(Toggle::Unknown("down".into()).allows_run());
        assert!(!Toggle::Disabled.allows_run());
    }

    #[test]
    fn both_variables_must_be_set_and_non_empty() {
        let env = |url: Option<&str>, token: Option<&str>| Env {
            unleash_api_url: url.map(Into::into),
            unleash_client_access_token: token.map(Into::into),
            ..Env::default()
        };
        assert!(from_env(&env(None, None)).is_none());
        assert!(from_env(&env(Some("https://u/api"), None)).is_none());
        assert!(from_env(&env(None, Some("t"))).is_none());
        assert!(from_env(&env(Some(""), Some("t"))).is_none());
        assert!(from_env(&env(Some("https://u/api"), Some(" "))).is_none());
        let (url, token) = from_env(&env(Some(" https://u/api "), Some("tok"))).expect("set");
        assert_eq!(url, "https://u/api");
        assert_eq!(token.expose_secret(), "tok");
    }

    #[test]
    fn urls_in_messages_have_no_user_info() {
        assert_eq!(
            redact("https://user:pw@unleash.example.com/api"),
            "https://unleash.example.com/api"
        );
        assert_eq!(redact("not a url"), "<invalid URL>");
    }

    #[tokio::test]
    async fn a_bad_url_or_token_is_unknown_without_the_token() {
        let http = reqwest::Client::new();
        let token = SecretString::from("s3cr3t-token".to_owned());
        let t = enabled("ftp://x", &token, &http).await;
        assert!(
            matches!(&t, Toggle::Unknown(r) if !r.contains("s3cr3t")),
            "{t:?}"
        );
        let bad = SecretString::from("line\nbreak-s3cr3t".to_owned());
        let t = enabled("http://127.0.0.1:1/api", &bad, &http).await;
        assert!(
            matches!(&t, Toggle::Unknown(r) if !r.contains("s3cr3t")),
            "{t:?}"
        );
    }
}
