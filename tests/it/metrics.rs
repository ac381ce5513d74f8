//! Metrics tests: real reconciles against the sandbox, with every HTTP client reporting to the
//! [`Metrics`] observer, then `run_started`/`run_finished` and assertions on the OpenMetrics
//! text: the Python names and labels with working values, the error counter, vanished series,
//! request and retry counters; the `/metrics`, `/healthz` and `/readyz` endpoints over HTTP;
//! and the Pushgateway push against an in-test fake.

use crate::common::*;
use axum::Router;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use dtp::cli::Env;
use dtp::clients::http::{Http, HttpSettings};
use dtp::clients::pushgateway::{Pushgateway, PushgatewaySettings};
use dtp::metrics::{Metrics, OPENMETRICS_CONTENT_TYPE};
use dtp::reconcile::Report;
use dtp::sandbox::Sandbox;
use dtp::sandbox::common::FaultRule;
use dtp::shard::Shard;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A sandbox whose clients report to `metrics` (built as `crate::common::start` builds it).
async fn start_observed(world: &Value, metrics: &Arc<Metrics>) -> Harness {
    let sandbox = Sandbox::start_yaml(&world.to_string())
        .await
        .expect("sandbox starts");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut settings = settings_for(&sandbox, dir.path());
    settings.http.observer = Some(metrics.http_observer());
    let deps = settings.dependencies();
    Harness {
        sandbox,
        deps,
        _dir: dir,
    }
}

/// One run as the runner wraps it: `run_started`, the reconcile, `run_finished`.
async fn observed_run(h: &Harness, metrics: &Metrics, dry_run: bool) -> Report {
    metrics.run_started();
    let report = h.run(dry_run).await.expect("run starts");
    metrics.run_finished(Some(&report), report.exit_code(), report.duration);
    report
}

/// `name{integration="dynatrace-token-provider",k="v",...}`.
fn series(name: &str, labels: &[(&str, &str)]) -> String {
    let mut s = format!("{name}{{integration=\"dynatrace-token-provider\"");
    for (k, v) in labels {
        s.push_str(&format!(",{k}=\"{v}\""));
    }
    s.push('}');
    s
}

/// The value of one series, `None` when the series is not exposed.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().expect("numeric sample"))
}

fn env_series(name: &str) -> String {
    series(name, &[("ocm_env", ENV)])
}

fn org_series(name: &str) -> String {
    series(name, &[("ocm_env", ENV), ("org_id", "ocm_org_id_a")])
}

fn tokens_series(tenant: &str) -> String {
    series(
        "dtp_tokens_managed",
        &[("ocm_env", ENV), ("dt_tenant_id", tenant)],
    )
}

fn qontract(name: &str) -> String {
    series(name, &[("shards", "1"), ("shard_id", "0-1")])
}

fn kind(kind: &str, result: &str) -> String {
    series(
        "dtp_actions_applied_total",
        &[("kind", kind), ("result", result)],
    )
}

fn two_clusters() -> Value {
    let mut w = world();
    for (id, uuid) in [
        ("cluster_a", "external_id_a"),
        ("cluster_b", "external_id_b"),
    ] {
        add_cluster(
            &mut w,
            id,
            uuid,
            "ocm_org_id_a",
            false,
            v2_labels("dt_tenant_a", "default"),
        );
    }
    w
}

#[tokio::test]
async fn the_python_metrics_carry_their_names_labels_and_working_values() {
    let metrics = Metrics::new(Shard::default());
    let h = start_observed(&two_clusters(), &metrics).await;

    let report = observed_run(&h, &metrics, false).await;
    assert_eq!(report.exit_code(), 0, "{:?}", report.errors());
    let t = metrics.encode();
    assert!(t.ends_with("# EOF\n"));
    assert_eq!(
        value(&t, &env_series("dtp_clusters_managed")),
        Some(2.0),
        "{t}"
    );
    assert_eq!(value(&t, &tokens_series("dt_tenant_a")), Some(4.0), "{t}");
    assert_eq!(
        value(&t, &org_series("dtp_organization_reconciled_total")),
        Some(2.0)
    );
    assert_eq!(
        value(&t, &org_series("dtp_organization_reconcile_errors_total")),
        Some(0.0)
    );
    assert_eq!(
        value(&t, &qontract("qontract_reconcile_execution_counter_total")),
        Some(1.0)
    );
    assert_eq!(
        value(&t, &qontract("qontract_reconcile_last_run_status")),
        Some(0.0)
    );
    let secs = value(&t, &qontract("qontract_reconcile_last_run_seconds")).expect("last run");
    assert!(secs > 0.0 && secs < 60.0, "{secs}");
    // The new metrics of the same run.
    assert_eq!(value(&t, &kind("create_token", "ok")), Some(4.0));
    assert_eq!(value(&t, &kind("create_bundle", "ok")), Some(2.0));
    assert_eq!(value(&t, &kind("create_bundle", "error")), Some(0.0));
    assert_eq!(
        value(&t, &env_series("dtp_tokens_created_total")),
        Some(4.0)
    );
    assert_eq!(
        value(
            &t,
            &series("dtp_actions_planned", &[("kind", "create_token")])
        ),
        Some(4.0)
    );
    assert_eq!(value(&t, &env_series("dtp_clusters_failed")), Some(0.0));
    assert_eq!(value(&t, &series("dtp_last_run_dry_run", &[])), Some(0.0));
    assert_eq!(
        value(&t, &series("dtp_run_duration_seconds_count", &[])),
        Some(1.0)
    );
    // HELP of the Python gauges; counters exposed with `_total` exactly once.
    assert!(
        t.contains("# HELP dtp_clusters_managed Gauge for the number of clusters DTP manages.")
    );
    assert!(t.contains("# TYPE dtp_organization_reconciled counter"));
    assert!(!t.contains("_total_total"));

    // Converged: nothing planned, the tokens still managed, counters accumulate.
    let report = observed_run(&h, &metrics, false).await;
    assert!(report.plan.is_empty());
    let t = metrics.encode();
    assert_eq!(value(&t, &tokens_series("dt_tenant_a")), Some(4.0), "{t}");
    assert_eq!(
        value(&t, &org_series("dtp_organization_reconciled_total")),
        Some(4.0)
    );
    assert_eq!(
        value(&t, &qontract("qontract_reconcile_execution_counter_total")),
        Some(2.0)
    );
    assert_eq!(
        value(
            &t,
            &series("dtp_actions_planned", &[("kind", "create_token")])
        ),
        Some(0.0)
    );
    assert_eq!(value(&t, &kind("create_token", "ok")), Some(4.0));
}

#[tokio::test]
async fn the_error_counter_counts_every_cluster_that_fails() {
    let mut w = two_clusters();
    add_cluster(
        &mut w,
        "cluster_c",
        "external_id_c",
        "ocm_org_id_a",
        false,
        v2_labels("slo-tenant", "slo-spec"),
    );
    // cluster_a: its SyncSet cannot be created (apply fails, its tokens are compensated);
    // cluster_c: its tenant refuses the bootstrap token (the plan fails it).
    w["faults"] = json!([
        {"method": "POST", "path_contains": "/clusters/cluster_a/external_configuration/syncsets", "status": 409},
        {"method": "GET", "path_contains": "/e/slo-tenant/api/v2/apiTokens", "status": 401},
    ]);
    let metrics = Metrics::new(Shard::default());
    let h = start_observed(&w, &metrics).await;
    let report = observed_run(&h, &metrics, false).await;
    assert_eq!(report.exit_code(), 1);
    assert_eq!(report.errors().len(), 2, "{:?}", report.errors());

    let t = metrics.encode();
    assert_eq!(
        value(&t, &org_series("dtp_organization_reconcile_errors_total")),
        Some(2.0),
        "{t}"
    );
    assert_eq!(
        value(&t, &org_series("dtp_organization_reconciled_total")),
        Some(3.0)
    );
    assert_eq!(
        value(&t, &qontract("qontract_reconcile_last_run_status")),
        Some(1.0)
    );
    assert_eq!(value(&t, &env_series("dtp_clusters_managed")), Some(3.0));
    assert_eq!(value(&t, &env_series("dtp_clusters_failed")), Some(2.0));
    assert_eq!(
        value(
            &t,
            &series("dtp_tenant_failed", &[("dt_tenant_id", "slo-tenant")])
        ),
        Some(1.0)
    );
    assert_eq!(value(&t, &kind("create_bundle", "error")), Some(1.0));
    assert_eq!(value(&t, &kind("create_bundle", "ok")), Some(1.0));
    assert_eq!(
        value(
            &t,
            &series(
                "dtp_token_compensations_total",
                &[("ocm_env", ENV), ("result", "ok")]
            )
        ),
        Some(2.0)
    );
    // Only cluster_b's delivered tokens are managed.
    assert_eq!(value(&t, &tokens_series("dt_tenant_a")), Some(2.0));
    let last_ok = value(
        &t,
        &series("dtp_last_successful_run_timestamp_seconds", &[]),
    );
    let last = value(&t, &series("dtp_last_run_timestamp_seconds", &[]));
    assert!(last_ok < last, "{last_ok:?} {last:?}");

    // The faults are gone: the next run succeeds, the error gauges are back to zero and the
    // tenant failure disappears, while the error counter keeps its count.
    h.sandbox.control.clear_faults();
    let report = observed_run(&h, &metrics, false).await;
    assert_eq!(report.exit_code(), 0, "{:?}", report.errors());
    let t = metrics.encode();
    assert_eq!(
        value(&t, &env_series("dtp_clusters_failed")),
        Some(0.0),
        "{t}"
    );
    assert!(!t.contains("dtp_tenant_failed{"), "{t}");
    assert_eq!(
        value(&t, &org_series("dtp_organization_reconcile_errors_total")),
        Some(2.0)
    );
    assert_eq!(value(&t, &tokens_series("dt_tenant_a")), Some(4.0));
    assert_eq!(value(&t, &tokens_series("slo-tenant")), Some(1.0));
    assert_eq!(
        value(&t, &qontract("qontract_reconcile_last_run_status")),
        Some(0.0)
    );
}

#[tokio::test]
async fn gauges_of_a_vanished_cluster_and_tenant_disappear_on_the_next_run() {
    let mut w = world();
    add_cluster(
        &mut w,
        "cluster_a",
        "external_id_a",
        "ocm_org_id_a",
        false,
        v2_labels("dt_tenant_a", "default"),
    );
    add_cluster(
        &mut w,
        "cluster_c",
        "external_id_c",
        "ocm_org_id_a",
        true,
        v2_labels("slo-tenant", "slo-spec"),
    );
    let metrics = Metrics::new(Shard::default());
    let h = start_observed(&w, &metrics).await;
    observed_run(&h, &metrics, false).await;
    let t = metrics.encode();
    assert_eq!(value(&t, &tokens_series("slo-tenant")), Some(1.0), "{t}");
    assert_eq!(value(&t, &tokens_series("dt_tenant_a")), Some(2.0));
    assert_eq!(value(&t, &env_series("dtp_clusters_managed")), Some(2.0));

    assert!(h.sandbox.ocm_env(ENV).remove_cluster("cluster_c"));
    observed_run(&h, &metrics, false).await;
    let t = metrics.encode();
    assert_eq!(value(&t, &tokens_series("slo-tenant")), None, "{t}");
    assert!(!t.contains("dt_tenant_id=\"slo-tenant\""), "{t}");
    assert_eq!(value(&t, &tokens_series("dt_tenant_a")), Some(2.0));
    assert_eq!(value(&t, &env_series("dtp_clusters_managed")), Some(1.0));

    // All clusters gone: the environment's gauges vanish too; counters stay.
    assert!(h.sandbox.ocm_env(ENV).remove_cluster("cluster_a"));
    observed_run(&h, &metrics, true).await;
    let t = metrics.encode();
    assert!(!t.contains("dtp_clusters_managed{"), "{t}");
    assert!(!t.contains("dtp_tokens_managed{"), "{t}");
    assert_eq!(
        value(&t, &org_series("dtp_organization_reconciled_total")),
        Some(3.0)
    );
    assert_eq!(value(&t, &series("dtp_last_run_dry_run", &[])), Some(1.0));
}

#[tokio::test]
async fn requests_are_counted_by_system_method_and_status_and_a_429_retry_is_counted() {
    let mut w = world();
    add_cluster(
        &mut w,
        "cluster_a",
        "external_id_a",
        "ocm_org_id_a",
        false,
        v2_labels("dt_tenant_a", "default"),
    );
    let metrics = Metrics::new(Shard::default());
    let h = start_observed(&w, &metrics).await;
    h.sandbox.control.add_fault(FaultRule {
        system: Some("dynatrace".into()),
        method: Some("POST".into()),
        path_contains: "/e/dt_tenant_a/api/v2/apiTokens".into(),
        status: 429,
        times: Some(1),
        retry_after: Some(0),
        ..FaultRule::default()
    });
    let report = observed_run(&h, &metrics, false).await;
    assert_eq!(report.exit_code(), 0, "{:?}", report.errors());

    let t = metrics.encode();
    let req = |system: &str, method: &str, status: &str| {
        value(
            &t,
            &series(
                "dtp_http_requests_total",
                &[("system", system), ("method", method), ("status", status)],
            ),
        )
    };
    assert_eq!(req("dynatrace", "POST", "429"), Some(1.0), "{t}");
    assert_eq!(req("dynatrace", "POST", "201"), Some(2.0));
    // Every tenant's tokens are listed (orphans of a served cluster may be in any tenant).
    assert_eq!(req("dynatrace", "GET", "200"), Some(3.0));
    assert_eq!(req("sso", "POST", "200"), Some(1.0));
    assert!(req("ocm", "GET", "200").is_some_and(|n| n >= 3.0), "{t}");
    assert_eq!(req("ocm", "POST", "201"), Some(1.0));
    assert!(req("graphql", "POST", "200").is_some());
    assert_eq!(
        value(
            &t,
            &series(
                "dtp_http_retries_total",
                &[("system", "dynatrace"), ("reason", "429")]
            )
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &t,
            &series("dtp_http_throttled_total", &[("system", "dynatrace")])
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &t,
            &series(
                "dtp_http_request_duration_seconds_count",
                &[("system", "dynatrace"), ("method", "POST")]
            )
        ),
        Some(3.0)
    );

    // No secret of the fleet is in the metrics.
    let mut secrets = vec![CLIENT_SECRET.to_owned(), bootstrap("dt_tenant_a")];
    secrets.extend(
        h.sandbox
            .dynatrace()
            .all_tokens("dt_tenant_a")
            .into_iter()
            .map(|t| t.token),
    );
    for s in secrets {
        assert!(!t.contains(&s), "a secret is in the metrics");
    }
}

/// Serves `router` on 127.0.0.1:0; returns its base URL.
async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serve");
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn the_endpoints_serve_metrics_health_and_readiness_over_http() {
    let metrics = Metrics::new(Shard::default());
    metrics.run_started();
    metrics.run_finished(None, 0, Duration::from_millis(10));
    let live = serve(metrics.router(Duration::from_secs(600))).await;
    let strict = serve(metrics.router(Duration::from_millis(400))).await;
    let http = reqwest::Client::new();

    let resp = http.get(format!("{live}/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()[reqwest::header::CONTENT_TYPE],
        OPENMETRICS_CONTENT_TYPE
    );
    let body = resp.text().await.unwrap();
    assert!(body.ends_with("# EOF\n"));
    assert_eq!(
        value(
            &body,
            &qontract("qontract_reconcile_execution_counter_total")
        ),
        Some(1.0)
    );

    let get = |url: String| {
        let http = http.clone();
        async move {
            let r = http.get(url).send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    assert_eq!(get(format!("{live}/healthz")).await.0, StatusCode::OK);
    metrics.heartbeat();
    assert_eq!(get(format!("{strict}/healthz")).await.0, StatusCode::OK);
    // No heartbeat for longer than the expected period: stale.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (status, why) = get(format!("{strict}/healthz")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(why.contains("stale"), "{why}");
    assert_eq!(get(format!("{live}/healthz")).await.0, StatusCode::OK);
    // A run beats the heart again.
    metrics.run_started();
    assert_eq!(get(format!("{strict}/healthz")).await.0, StatusCode::OK);

    assert_eq!(get(format!("{live}/readyz")).await.0, StatusCode::OK);
    metrics.set_shutting_down();
    let (status, why) = get(format!("{live}/readyz")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(why.contains("shutting down"), "{why}");
}

/// One request the fake Pushgateway received.
#[derive(Clone, Debug)]
struct PushRequest {
    method: String,
    path: String,
    authorization: Option<String>,
    body: String,
}

#[derive(Clone, Default)]
struct Pushed {
    requests: Arc<Mutex<Vec<PushRequest>>>,
}

/// A Pushgateway that records every request and answers `status`.
async fn fake_pushgateway(status: StatusCode) -> (String, Pushed) {
    let pushed = Pushed::default();
    let p = pushed.clone();
    let router = Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: String| {
            let p = p.clone();
            async move {
                let auth = headers
                    .get(axum::http::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                p.requests.lock().unwrap().push(PushRequest {
                    method: method.to_string(),
                    path: uri.path().to_owned(),
                    authorization: auth,
                    body,
                });
                (status, "push refused: bad metrics\n")
            }
        },
    );
    (serve(router).await, pushed)
}

fn pushgateway_env(url: &str) -> Env {
    Env {
        pushgateway_enabled: Some("true".into()),
        pushgateway_url: Some(url.into()),
        pushgateway_username: Some("dtp-pusher".into()),
        pushgateway_password: Some("pushgateway-password-xyz".into()),
        ..Env::default()
    }
}

/// The Pushgateway `dtp run` configures from `PUSHGATEWAY_*`, on a client with fast retries.
fn pushgateway_at(url: &str) -> Pushgateway {
    let settings: PushgatewaySettings = run_config(&pushgateway_env(url))
        .expect("valid")
        .pushgateway
        .expect("enabled");
    let http = Http::new(HttpSettings {
        min_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        ..HttpSettings::default()
    })
    .expect("http");
    Pushgateway::new(settings, http)
}

async fn push(pg: &Pushgateway, metrics: &Metrics) -> Result<(), String> {
    pg.push(metrics.grouping(), metrics.encode_prometheus())
        .await
}

#[tokio::test]
async fn one_shot_runs_push_their_metrics_to_the_pushgateway_grouped_by_integration_and_shard() {
    let metrics = Metrics::new(Shard::new(3, 1).unwrap());
    let h = start_observed(&two_clusters(), &metrics).await;
    observed_run(&h, &metrics, false).await;

    let (url, pushed) = fake_pushgateway(StatusCode::OK).await;
    let pg = pushgateway_at(&url);
    push(&pg, &metrics).await.expect("pushed");

    let requests = pushed.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    let PushRequest {
        method,
        path,
        authorization: auth,
        body,
    } = &requests[0];
    assert_eq!(method, "PUT");
    assert_eq!(
        path,
        "/metrics/job/qontract-reconcile/integration/dynatrace-token-provider/shards/3/shard_id/1-3"
    );
    let expected = format!("Basic {}", b64("dtp-pusher:pushgateway-password-xyz"));
    assert_eq!(auth.as_deref(), Some(expected.as_str()));
    // Prometheus text format: counters named with `_total`, no `# EOF`.
    let q = |name: &str| series(name, &[("shards", "3"), ("shard_id", "1-3")]);
    assert_eq!(
        value(body, &q("qontract_reconcile_last_run_status")),
        Some(0.0)
    );
    assert!(value(body, &q("qontract_reconcile_last_run_seconds")).is_some());
    assert_eq!(
        value(body, &q("qontract_reconcile_execution_counter_total")),
        Some(1.0)
    );
    assert!(body.contains("# TYPE qontract_reconcile_execution_counter_total counter\n"));
    // The HELP qontract-reconcile pushes for the same family (the Pushgateway wants them equal).
    assert!(
        body.contains("# HELP qontract_reconcile_last_run_seconds Last run duration in seconds\n")
    );
    assert_eq!(value(body, &env_series("dtp_clusters_managed")), Some(2.0));
    assert_eq!(value(body, &tokens_series("dt_tenant_a")), Some(4.0));
    assert_eq!(
        value(body, &org_series("dtp_organization_reconciled_total")),
        Some(2.0)
    );
    assert!(!body.contains("# EOF"));

    // A refused push and an unreachable Pushgateway are errors without the password.
    let (refusing, _) = fake_pushgateway(StatusCode::BAD_REQUEST).await;
    let pg = pushgateway_at(&refusing);
    let e = push(&pg, &metrics).await.unwrap_err();
    assert!(e.contains("HTTP 400") && e.contains("push refused"), "{e}");
    assert!(!e.contains("pushgateway-password-xyz"), "{e}");

    // Outside the ephemeral range: no parallel test's server can be listening there.
    let closed = "127.0.0.1:1";
    let pg = pushgateway_at(&format!("http://{closed}"));
    let e = push(&pg, &metrics).await.unwrap_err();
    assert!(e.contains("Pushgateway"), "{e}");
    assert!(!e.contains("pushgateway-password-xyz"), "{e}");
    assert!(!format!("{pg:?}").contains("pushgateway-password-xyz"));
}

#[test]
fn an_enabled_pushgateway_without_url_names_the_missing_variable() {
    let env = Env {
        pushgateway_enabled: Some("1".into()),
        ..Env::default()
    };
    let e = run_config(&env).unwrap_err().to_string();
    assert!(e.contains("PUSHGATEWAY_URL"), "{e}");
    assert!(run_config(&Env::default()).unwrap().pushgateway.is_none());
}
