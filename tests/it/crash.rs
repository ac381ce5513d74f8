//! The real fault model, with the `dtp` binary against the example fleet: a process SIGKILLed
//! at several points of an apply (then runs with `--orphan-grace 0` converge with zero
//! unreferenced `dtp_` tokens), two processes started together (no duplicate delivery, no
//! service log, converged), and SIGTERM while a write is held longer than the shutdown grace
//! (no token created but undelivered after the exit).

use crate::fleet::{Fleet, finish, sigkill, sigterm, wait_until};
use dtp::sandbox::common::{FaultRule, FaultWhen};
use std::time::Duration;

const APPLY: &[&str] = &["--no-dry-run", "--concurrency", "2"];
const GRACE_0: &[&str] = &["--no-dry-run", "--orphan-grace", "0"];

/// A request matching `method`/`path` is held (before processing) for a minute, then
/// answered with a reset: nothing happens on the server unless the hold ends first.
fn held(method: &str, path: &str) -> FaultRule {
    FaultRule {
        name: Some("held".into()),
        method: Some(method.into()),
        path_contains: path.into(),
        delay_ms: Some(60_000),
        reset: true,
        times: Some(1),
        ..FaultRule::default()
    }
}

/// Whether a request matching `method` and `path` has arrived (it is being held).
fn arrived(f: &Fleet, method: &str, path: &str, n: usize) -> bool {
    f.sandbox
        .control
        .requests()
        .iter()
        .filter(|r| r.method == method && r.path.contains(path))
        .count()
        >= n
}

/// After a crash: runs with grace 0 until nothing is left to do, then asserts convergence
/// (exit 0, no write on a further run) and zero unreferenced `dtp_` tokens.
async fn converges(f: &Fleet, point: &str) {
    f.sandbox.control.clear_faults();
    let (code, out) = f.run(GRACE_0, &[]).await;
    assert_eq!(code, 0, "{point}: the run after the crash: {out}");
    f.sandbox.control.clear_requests();
    let (code, out) = f.run(GRACE_0, &[]).await;
    assert_eq!(code, 0, "{point}: {out}");
    let writes = f.sandbox.control.writes();
    assert!(writes.is_empty(), "{point}: not converged: {writes:?}");
    let left = f.unreferenced_dtp_tokens();
    assert!(left.is_empty(), "{point}: unreferenced tokens: {left:?}");
}

/// SIGKILL while the process waits on one held call, at each point of an apply.
#[tokio::test(flavor = "multi_thread")]
async fn a_sigkill_at_any_point_of_an_apply_is_repaired_by_the_next_runs() {
    let points: [(&str, &str, &str, usize); 4] = [
        ("before any write", "GET", "/external_configuration/", 1),
        ("between token creates", "POST", "/apiTokens", 2),
        (
            "between create and delivery",
            "POST",
            "/external_configuration/",
            1,
        ),
        (
            "after delivery, before deleting replaced tokens",
            "DELETE",
            "/apiTokens/",
            1,
        ),
    ];
    for (point, method, path, n) in points {
        let f = Fleet::start().await;
        let mut rule = held(method, path);
        rule.times = Some(1);
        if n > 1 {
            // Let the first matching calls through, hold the n-th.
            f.sandbox.control.add_fault(FaultRule {
                method: Some(method.into()),
                path_contains: path.into(),
                times: Some((n - 1) as u32),
                delay_ms: Some(1),
                ..FaultRule::default()
            });
        }
        f.sandbox.control.add_fault(rule);
        let child = f.spawn(APPLY, &[]);
        wait_until(point, Duration::from_secs(60), || {
            arrived(&f, method, path, n)
        })
        .await;
        sigkill(&child);
        let (code, _, _) = finish(child, Duration::from_secs(10)).await;
        assert_eq!(code, -1, "{point}: killed by a signal");
        let orphans = f.unreferenced_dtp_tokens();
        if method == "POST" {
            assert!(!orphans.is_empty(), "{point}: the crash left tokens behind");
        }
        converges(&f, point).await;
    }
}

/// SIGKILL after the bundle write was applied but before its answer arrived.
#[tokio::test(flavor = "multi_thread")]
async fn a_sigkill_after_the_server_applied_a_delivery_is_repaired_too() {
    let f = Fleet::start().await;
    f.sandbox.control.add_fault(FaultRule {
        method: Some("POST".into()),
        path_contains: "/external_configuration/".into(),
        when: FaultWhen::After,
        delay_ms: Some(60_000),
        times: Some(1),
        ..FaultRule::default()
    });
    let child = f.spawn(APPLY, &[]);
    wait_until("the delivery", Duration::from_secs(60), || {
        f.sandbox
            .control
            .requests()
            .iter()
            .any(|r| r.method == "POST" && r.path.contains("/external_configuration/"))
    })
    .await;
    // Processed on the server side, not answered.
    tokio::time::sleep(Duration::from_millis(300)).await;
    sigkill(&child);
    let _ = finish(child, Duration::from_secs(10)).await;
    converges(&f, "after the server applied a delivery").await;
}

/// With the default grace period, a crash's orphans stay until they are old enough; a run
/// after that collects them.
#[tokio::test(flavor = "multi_thread")]
async fn orphans_younger_than_the_grace_period_are_kept_until_it_passes() {
    let f = Fleet::start().await;
    f.sandbox
        .control
        .add_fault(held("POST", "/external_configuration/"));
    let child = f.spawn(APPLY, &[]);
    wait_until("the delivery", Duration::from_secs(60), || {
        arrived(&f, "POST", "/external_configuration/", 1)
    })
    .await;
    sigkill(&child);
    let _ = finish(child, Duration::from_secs(10)).await;
    f.sandbox.control.clear_faults();
    let (code, out) = f.run(&["--no-dry-run", "--orphan-grace", "3s"], &[]).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        !f.unreferenced_dtp_tokens().is_empty(),
        "the crash's tokens are younger than the grace period and kept"
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (code, out) = f.run(&["--no-dry-run", "--orphan-grace", "3s"], &[]).await;
    assert_eq!(code, 0, "{out}");
    let left = f.unreferenced_dtp_tokens();
    assert!(left.is_empty(), "collected once older: {left:?}");
}

/// Two processes started together on the same fleet: one delivers each cluster, the other
/// notices and deletes its own new tokens quietly; no service log, no duplicate delivery, and
/// the orphans they leave (a patch race) are collected by a later run.
#[tokio::test(flavor = "multi_thread")]
async fn two_runs_started_together_deliver_once_and_send_no_service_log() {
    let f = Fleet::start().await;
    f.sandbox.control.set_latency(Duration::from_millis(20));
    let a = f.spawn(APPLY, &[]);
    let b = f.spawn(APPLY, &[]);
    let ((ca, oa, _), (cb, ob, _)) = tokio::join!(
        finish(a, Duration::from_secs(120)),
        finish(b, Duration::from_secs(120))
    );
    assert_eq!((ca, cb), (0, 0), "both runs succeed:\n{oa}\n---\n{ob}");
    // They really raced: both created tokens for the same clusters.
    let creates = f
        .sandbox
        .control
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/apiTokens"))
        .count();
    assert!(creates > f.delivered_token_ids().len(), "{creates} creates");
    for (env, _) in &f.cluster_ids {
        assert!(
            f.sandbox.ocm_env(env).service_logs().is_empty(),
            "no service log for a race dtp caused itself"
        );
    }
    // Each delivered Secret key holds one token: no key delivered twice, every id valid.
    let delivered = f.delivered_token_ids();
    let dt = f.sandbox.dynatrace();
    for id in &delivered {
        let exists = dt.tenant_ids().iter().any(|t| dt.token(t, id).is_some());
        assert!(exists, "a delivered token {id} was deleted");
    }
    f.sandbox.control.set_latency(Duration::ZERO);
    converges(&f, "after two runs at once").await;
}

/// SIGTERM while a delivery is held longer than the shutdown grace: the call is aborted, the
/// bundle read back, the undelivered tokens deleted, and the process exits in time.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_with_a_write_in_flight_longer_than_the_grace_leaves_no_undelivered_token() {
    let f = Fleet::start().await;
    f.sandbox
        .control
        .add_fault(held("POST", "/external_configuration/"));
    let before = f.dtp_tokens();
    let child = f.spawn(&["--no-dry-run", "--shutdown-grace", "2s"], &[]);
    wait_until("the held delivery", Duration::from_secs(60), || {
        arrived(&f, "POST", "/external_configuration/", 1)
    })
    .await;
    sigterm(&child);
    let (code, out, took) = finish(child, Duration::from_secs(30)).await;
    assert!(
        took < Duration::from_secs(15),
        "exited after the grace period: {took:?}"
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("aborted"), "{out}");
    let rolled_back = f
        .sandbox
        .control
        .requests()
        .iter()
        .filter(|r| r.method == "DELETE" && r.path.contains("/apiTokens/"))
        .count();
    assert!(rolled_back > 0, "the new tokens were deleted again: {out}");
    let delivered = f.delivered_token_ids();
    let undelivered: Vec<String> = f
        .dtp_tokens()
        .difference(&before)
        .filter(|id| !delivered.contains(*id))
        .cloned()
        .collect();
    assert!(
        undelivered.is_empty(),
        "created but undelivered: {undelivered:?}"
    );
}
