//! The Unleash feature toggle against a tiny fake Unleash served in this test process: what
//! each answer means (enabled, disabled, a 0 % rollout, unknown toggle, server error,
//! unreachable, garbage), that the access token is sent verbatim as `Authorization`, that it
//! never appears in a reason, and that a 0 % rollout stops a whole `dtp run`.

use crate::common::run_config;
use crate::fleet::Fleet;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use dtp::cli::Env;
use dtp::clients::http::{Http, HttpSettings};
use dtp::clients::unleash::{self, Toggle, UnleashSettings};
use secrecy::SecretString;
use std::sync::{Arc, Mutex};

const TOKEN: &str = "*:production.unleash-client-s3cr3t-4f9a";

/// What the fake answers, and what it saw: `(path, Authorization, UNLEASH-APPNAME)`.
#[derive(Clone)]
struct Fake {
    status: StatusCode,
    body: &'static str,
    seen: Arc<Mutex<Vec<(String, String, String)>>>,
}

async fn answer(State(f): State<Fake>, uri: Uri, headers: HeaderMap) -> Response {
    let h = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    f.seen.lock().expect("lock").push((
        uri.path().to_owned(),
        h("authorization"),
        h("unleash-appname"),
    ));
    (
        f.status,
        [("content-type", "application/json")],
        f.body.to_owned(),
    )
        .into_response()
}

/// Serves the fake; returns its API URL (`http://127.0.0.1:<port>/api`) and the request log.
async fn unleash(
    status: StatusCode,
    body: &'static str,
) -> (String, Arc<Mutex<Vec<(String, String, String)>>>) {
    let fake = Fake {
        status,
        body,
        seen: Arc::default(),
    };
    let seen = fake.seen.clone();
    let app = Router::new().fallback(answer).with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    (format!("http://{addr}/api"), seen)
}

fn http() -> Http {
    Http::new(HttpSettings {
        min_backoff: std::time::Duration::from_millis(5),
        max_backoff: std::time::Duration::from_millis(20),
        ..HttpSettings::default()
    })
    .expect("http")
}

async fn ask(url: &str) -> Toggle {
    let settings = UnleashSettings {
        api_url: url::Url::parse(url).expect("url"),
        token: SecretString::from(TOKEN.to_owned()),
    };
    unleash::enabled(&settings, &http()).await
}

/// The toggle check of `dtp run` configured from `env`.
async fn check(env: &Env) -> Toggle {
    let config = run_config(env).expect("valid configuration");
    unleash::check(&config.unleash, &http()).await
}

fn assert_unknown_without_token(t: &Toggle) -> String {
    match t {
        Toggle::Unknown(reason) => {
            assert!(!reason.contains(TOKEN), "the token leaks: {reason}");
            assert!(!reason.contains("s3cr3t"), "the token leaks: {reason}");
            assert!(t.allows_run(), "unknown counts as enabled");
            reason.clone()
        }
        other => panic!("expected Unknown, got {other:?}"),
    }
}

#[tokio::test]
async fn an_enabled_toggle_runs_and_the_token_is_sent_verbatim() {
    let (url, seen) = unleash(
        StatusCode::OK,
        r#"{"name":"dynatrace-token-provider","type":"release","enabled":true,"stale":false,"strategies":[{"name":"default","parameters":{}}],"variants":[]}"#,
    )
    .await;
    assert_eq!(ask(&url).await, Toggle::Enabled);
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(
        seen,
        vec![(
            "/api/client/features/dynatrace-token-provider".to_owned(),
            TOKEN.to_owned(),
            "qontract-reconcile".to_owned()
        )]
    );
}

#[tokio::test]
async fn a_disabled_toggle_stops_the_run() {
    let (url, _) = unleash(
        StatusCode::OK,
        r#"{"name":"dynatrace-token-provider","enabled":false,"strategies":[{"name":"default","parameters":{}}]}"#,
    )
    .await;
    let t = ask(&url).await;
    assert_eq!(t, Toggle::Disabled);
    assert!(!t.allows_run());
}

#[tokio::test]
async fn enable_cluster_without_a_cluster_context_is_disabled_as_in_qontract_reconcile() {
    let (url, _) = unleash(
        StatusCode::OK,
        r#"{"name":"dynatrace-token-provider","enabled":true,"strategies":[{"name":"enableCluster","parameters":{"cluster_name":"appsres09ue1"}}]}"#,
    )
    .await;
    assert_eq!(ask(&url).await, Toggle::Disabled);
    let (url, _) = unleash(
        StatusCode::OK,
        r#"{"name":"dynatrace-token-provider","enabled":true,"strategies":[{"name":"disableCluster","parameters":{"cluster_name":"appsres09ue1"}}]}"#,
    )
    .await;
    assert_eq!(ask(&url).await, Toggle::Enabled);
}

#[tokio::test]
async fn an_unknown_toggle_is_enabled() {
    let (url, seen) = unleash(StatusCode::NOT_FOUND, r#"{"message":"not found"}"#).await;
    // A trailing slash on UNLEASH_API_URL is fine.
    assert_eq!(ask(&format!("{url}/")).await, Toggle::Enabled);
    assert_eq!(
        seen.lock().expect("lock")[0].0,
        "/api/client/features/dynatrace-token-provider"
    );
}

#[tokio::test]
async fn server_errors_and_refusals_count_as_enabled_with_a_reason() {
    let (url, _) = unleash(StatusCode::INTERNAL_SERVER_ERROR, "{}").await;
    let reason = assert_unknown_without_token(&ask(&url).await);
    assert!(reason.contains("500"), "{reason}");
    assert!(
        reason.contains("/api/client/features/dynatrace-token-provider"),
        "{reason}"
    );

    let (url, _) = unleash(StatusCode::UNAUTHORIZED, r#"{"message":"bad token"}"#).await;
    let reason = assert_unknown_without_token(&ask(&url).await);
    assert!(reason.contains("401"), "{reason}");

    let (url, _) = unleash(StatusCode::OK, "<html>proxy login</html>").await;
    let reason = assert_unknown_without_token(&ask(&url).await);
    assert!(reason.contains("unexpected answer"), "{reason}");
}

#[tokio::test]
async fn an_unreachable_unleash_counts_as_enabled_with_a_reason() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let reason = assert_unknown_without_token(&ask(&format!("http://{addr}/api")).await);
    assert!(reason.contains(&addr.to_string()), "{reason}");

    // User info in the URL is not shown either.
    let reason =
        assert_unknown_without_token(&ask(&format!("http://admin:{TOKEN}@{addr}/api")).await);
    assert!(!reason.contains("admin"), "{reason}");
}

#[tokio::test]
async fn check_reads_the_environment() {
    // Not configured (or half configured): enabled, no request.
    assert_eq!(check(&Env::default()).await, Toggle::Enabled);
    let (url, seen) = unleash(StatusCode::OK, r#"{"enabled":false}"#).await;
    let half = Env {
        unleash_api_url: Some(url.clone()),
        unleash_client_access_token: Some(String::new()),
        ..Env::default()
    };
    assert_eq!(check(&half).await, Toggle::Enabled);
    assert!(seen.lock().expect("lock").is_empty());

    let full = Env {
        unleash_api_url: Some(url),
        unleash_client_access_token: Some(TOKEN.to_owned()),
        ..Env::default()
    };
    assert_eq!(check(&full).await, Toggle::Disabled);
    assert_eq!(seen.lock().expect("lock")[0].1, TOKEN);
}

/// qontract-reconcile's answer to a 0 % gradual rollout: off.
const ZERO_PERCENT_ROLLOUT: &str = r#"{"name":"dynatrace-token-provider","type":"release","enabled":true,"stale":false,"strategies":[{"name":"flexibleRollout","constraints":[],"parameters":{"rollout":"0","stickiness":"default","groupId":"dynatrace-token-provider"}}],"variants":[]}"#;

#[tokio::test]
async fn a_zero_percent_flexible_rollout_is_disabled_and_a_full_one_enabled() {
    let (url, _) = unleash(StatusCode::OK, ZERO_PERCENT_ROLLOUT).await;
    for _ in 0..20 {
        let t = ask(&url).await;
        assert_eq!(t, Toggle::Disabled);
        assert!(!t.allows_run());
    }
    let (url, _) = unleash(
        StatusCode::OK,
        r#"{"name":"dynatrace-token-provider","enabled":true,"strategies":[{"name":"flexibleRollout","parameters":{"rollout":"100","stickiness":"default","groupId":"dynatrace-token-provider"}}]}"#,
    )
    .await;
    for _ in 0..20 {
        assert_eq!(ask(&url).await, Toggle::Enabled);
    }
}

#[tokio::test]
async fn strategies_that_need_a_user_or_an_unknown_name_do_not_enable() {
    let (url, _) = unleash(
        StatusCode::OK,
        r#"{"name":"dynatrace-token-provider","enabled":true,"strategies":[{"name":"userWithId","parameters":{"userIds":"alice"}},{"name":"flexibleRollout","parameters":{"rollout":"100","stickiness":"userId","groupId":"g"}},{"name":"someCustomStrategy","parameters":{}},{"name":"default","constraints":[{"contextName":"environment","operator":"IN","values":["production"]}]}]}"#,
    )
    .await;
    assert_eq!(ask(&url).await, Toggle::Disabled);
    // A constraint on the static context that holds: enabled.
    let (url, _) = unleash(
        StatusCode::OK,
        r#"{"name":"dynatrace-token-provider","enabled":true,"strategies":[{"name":"default","constraints":[{"contextName":"appName","operator":"IN","values":["qontract-reconcile"]}]}]}"#,
    )
    .await;
    assert_eq!(ask(&url).await, Toggle::Enabled);
}

/// End to end: `dtp run --no-dry-run` against the sandbox fleet, with Unleash answering a 0 %
/// flexibleRollout: dtp logs qontract-reconcile's message, exits 0, and asks nothing else.
#[tokio::test(flavor = "multi_thread")]
async fn a_zero_percent_rollout_stops_the_run() {
    let f = Fleet::start().await;
    let (url, seen) = unleash(StatusCode::OK, ZERO_PERCENT_ROLLOUT).await;
    let (code, out) = f
        .run(
            &["--no-dry-run"],
            &[
                ("UNLEASH_API_URL", url.as_str()),
                ("UNLEASH_CLIENT_ACCESS_TOKEN", TOKEN),
            ],
        )
        .await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("Integration toggle is disabled, skipping integration."),
        "{out}"
    );
    assert!(!seen.lock().expect("lock").is_empty(), "Unleash was asked");
    assert!(
        f.sandbox.control.requests().is_empty(),
        "nothing else is read or written"
    );
    assert!(!out.contains("s3cr3t"), "the token leaks: {out}");
}
