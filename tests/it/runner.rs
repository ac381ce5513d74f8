//! Run modes of the `dtp` binary against the example fleet: the loop (several iterations, a
//! failed one does not end it, each one re-pins the bundle), SIGTERM in the middle of a run
//! (in-flight clusters finish, no token is left created but undelivered, the process exits
//! within the grace period), the per-run time limit, and the dry-run marker on every log line.

use crate::fleet::{Fleet, finish, sigterm, wait_until};
use dtp::sandbox::common::FaultRule;
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::io::AsyncReadExt;

#[tokio::test(flavor = "multi_thread")]
async fn the_loop_reconciles_repeatedly_re_pins_the_bundle_and_stops_cleanly_on_sigterm() {
    let f = Fleet::start().await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let child = f.spawn(
        &[
            "--no-dry-run",
            "--interval",
            "1s",
            "--metrics-port",
            &port.to_string(),
        ],
        &[],
    );
    wait_until("three iterations", Duration::from_secs(60), || {
        f.count("/sha256") >= 3
    })
    .await;
    let writes_after_three = f.sandbox.control.writes().len();
    // A scraper sees the loop's metrics and health.
    let get = |path: &str| {
        let url = format!("http://127.0.0.1:{port}{path}");
        async move {
            let r = reqwest::get(url).await.expect("metrics server answers");
            (r.status().as_u16(), r.text().await.unwrap_or_default())
        }
    };
    let (status, body) = get("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        body.contains("qontract_reconcile_execution_counter_total{"),
        "{body}"
    );
    assert!(
        body.contains(r#"dtp_clusters_managed{integration="dynatrace-token-provider",ocm_env="ocm-production"} 6"#),
        "{body}"
    );
    assert!(
        body.contains("qontract_reconcile_last_run_status{"),
        "{body}"
    );
    assert_eq!(get("/healthz").await.0, 200);
    assert_eq!(get("/readyz").await.0, 200);
    sigterm(&child);
    let (code, out, took) = finish(child, Duration::from_secs(30)).await;
    assert_eq!(code, 0, "{out}");
    assert!(took < Duration::from_secs(10), "exited promptly: {took:?}");
    assert!(out.contains("SIGTERM"), "{out}");
    // Iterations after the first converge: nothing more was written.
    assert_eq!(f.sandbox.control.writes().len(), writes_after_three);
    let graphql_sha_paths = f
        .sandbox
        .control
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/graphqlsha/"))
        .count();
    assert!(
        graphql_sha_paths >= 3 * 4,
        "each iteration queries a pinned bundle"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_in_the_middle_of_a_run_finishes_clusters_in_flight_and_leaks_no_token() {
    let f = Fleet::start().await;
    let before = f.dtp_tokens();
    f.sandbox.control.set_latency(Duration::from_millis(150));
    let child = f.spawn(&["--no-dry-run", "--concurrency", "2"], &[]);
    wait_until("the first token creation", Duration::from_secs(60), || {
        f.sandbox
            .control
            .writes()
            .iter()
            .any(|w| w.path.ends_with("/apiTokens"))
    })
    .await;
    sigterm(&child);
    let (code, out, took) = finish(child, Duration::from_secs(40)).await;
    assert!(
        took < dtp::runner::SHUTDOWN_GRACE,
        "exited within the grace period: {took:?}"
    );
    assert_eq!(code, 1, "clusters were left for the next run: {out}");
    assert!(out.contains("not reconciled: the run was stopped"), "{out}");
    let created: BTreeSet<String> = f.dtp_tokens().difference(&before).cloned().collect();
    assert!(!created.is_empty());
    let delivered = f.delivered_token_ids();
    let undelivered: Vec<&String> = created
        .iter()
        .filter(|id| !delivered.contains(*id))
        .collect();
    assert!(
        undelivered.is_empty(),
        "tokens created but not delivered: {undelivered:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_time_limit_stops_taking_new_clusters_and_the_next_run_completes() {
    let f = Fleet::start().await;
    let before = f.dtp_tokens();
    f.sandbox.control.set_latency(Duration::from_millis(100));
    let child = f.spawn(
        &["--no-dry-run", "--concurrency", "1"],
        &[("RUNNER_TIMEOUT", "2")],
    );
    let (code, out, _) = finish(child, Duration::from_secs(60)).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("run time limit reached"), "{out}");
    let created: BTreeSet<String> = f.dtp_tokens().difference(&before).cloned().collect();
    let delivered = f.delivered_token_ids();
    assert!(
        created.iter().all(|id| delivered.contains(id)),
        "no token left undelivered"
    );

    f.sandbox.control.set_latency(Duration::ZERO);
    let (code, out, _) = finish(f.spawn(&["--no-dry-run"], &[]), Duration::from_secs(60)).await;
    assert_eq!(code, 0, "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_run_does_not_end_the_loop() {
    let f = Fleet::start().await;
    // The first iteration cannot read app-interface.
    f.sandbox.control.add_fault(FaultRule {
        path_contains: "/sha256".into(),
        status: 500,
        times: Some(8),
        ..Default::default()
    });
    let child = f.spawn(&["--no-dry-run"], &[("SLEEP_DURATION_SECS", "1")]);
    wait_until("a successful iteration", Duration::from_secs(90), || {
        f.sandbox.ocm_env("production").syncset_count() > 1
    })
    .await;
    sigterm(&child);
    let (code, out, _) = finish(child, Duration::from_secs(30)).await;
    assert!(out.contains("run failed; the loop goes on"), "{out}");
    assert_eq!(code, 0, "the last run succeeded: {out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn run_once_beats_sleep_duration_and_every_dry_run_log_line_is_marked() {
    let f = Fleet::start().await;
    let child = f.spawn(
        &["--log-format", "json", "--log-level", "debug"],
        &[("RUN_ONCE", "true"), ("SLEEP_DURATION_SECS", "300")],
    );
    let mut child = child;
    let mut stderr = child.stderr.take().unwrap();
    let mut text = String::new();
    let status = tokio::time::timeout(Duration::from_secs(60), async {
        stderr.read_to_string(&mut text).await.unwrap();
        child.wait().await.unwrap()
    })
    .await
    .expect("one run, then exit");
    assert_eq!(status.code(), Some(0));
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() > 5, "{text}");
    for l in &lines {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        assert_eq!(v["dry_run"], true, "dry-run marker missing: {l}");
    }
    assert_eq!(f.sandbox.control.writes().len(), 0);

    // Text: the Python integration's marker starts every line.
    let (code, out, _) = finish(
        f.spawn(&["--log-level", "debug"], &[]),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(code, 0);
    let stderr_lines: Vec<&str> = out
        .lines()
        .filter(|l| l.contains(" DEBUG ") || l.contains(" INFO ") || l.contains(" WARN "))
        .collect();
    assert!(stderr_lines.len() > 5);
    assert!(
        stderr_lines.iter().all(|l| l.starts_with("[DRY-RUN] ")),
        "{out}"
    );
}
