//! The binary run exactly as qontract-reconcile's Helm chart runs an integration (what qontract's
//! integrations-manager renders for a `managed` integration): no command, no flags, only the
//! chart's environment — `CONFIG` (the mounted config.toml), `DRY_RUN`, `RUN_ONCE` (CronJob) or
//! `SLEEP_DURATION_SECS` (Deployment), `INTEGRATION_EXTRA_ARGS`, `LOG_FILE`, `SHARDS`,
//! `SHARD_ID`, `PROMETHEUS_PORT` — against the example fleet.

use crate::fleet::{Fleet, finish, sigterm, wait_until};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

/// The chart's container: the binary with no arguments and only these variables.
fn chart_container(env: &[(&str, &str)]) -> tokio::process::Child {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_dtp"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("INTEGRATION_NAME", "dynatrace-token-provider")
        .env("SHARDS", "1")
        .env("SHARD_ID", "0")
        .env("PROMETHEUS_PORT", "0")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd.spawn().expect("dtp starts")
}

/// config.toml where the chart mounts it, under this test's directory.
fn mounted_config(f: &Fleet) -> String {
    let dir = f.dir.path().join("config");
    std::fs::create_dir_all(&dir).expect("config dir");
    let path = dir.join("config.toml");
    std::fs::copy(f.dir.path().join("config.toml"), &path).expect("config copied");
    path.display().to_string()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[tokio::test]
async fn the_cronjob_of_qontract_reconciles_chart_delivers_and_logs_to_log_file() {
    let f = Fleet::start().await;
    let config = mounted_config(&f);
    let log = f.dir.path().join("integration.log");
    let log_s = log.display().to_string();
    let child = chart_container(&[
        ("CONFIG", config.as_str()),
        ("DRY_RUN", "--no-dry-run"),
        ("RUN_ONCE", "true"),
        (
            "INTEGRATION_EXTRA_ARGS",
            "--orphan-grace 0 --max-deletions 50",
        ),
        ("LOG_FILE", log_s.as_str()),
        ("LOG_LEVEL", "INFO"),
    ]);
    let (code, out, _) = finish(child, Duration::from_secs(60)).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        !f.delivered_token_ids().is_empty(),
        "tokens delivered: {out}"
    );
    let logged = read(&log);
    assert!(!logged.is_empty(), "LOG_FILE written");
    let last = logged.lines().last().unwrap_or_default();
    assert!(out.contains(last), "the same lines as stderr: {last}");

    // The next run appends to the file and, the fleet being converged, writes nothing.
    let child = chart_container(&[
        ("CONFIG", config.as_str()),
        ("DRY_RUN", "--no-dry-run"),
        ("RUN_ONCE", "true"),
        ("LOG_FILE", log_s.as_str()),
    ]);
    let (code, out, _) = finish(child, Duration::from_secs(60)).await;
    assert_eq!(code, 0, "{out}");
    assert!(read(&log).len() > logged.len(), "appended");
    assert!(read(&log).starts_with(&logged), "appended, not truncated");
}

#[tokio::test]
async fn the_deployment_of_qontract_reconciles_chart_loops_until_sigterm() {
    let f = Fleet::start().await;
    let config = mounted_config(&f);
    let log = f.dir.path().join("integration.log");
    let log_s = log.display().to_string();
    let (delivered, tokens) = (f.delivered_token_ids(), f.dtp_tokens());
    let child = chart_container(&[
        ("CONFIG", config.as_str()),
        ("DRY_RUN", "--dry-run"),
        ("SLEEP_DURATION_SECS", "300"),
        ("LOG_FILE", log_s.as_str()),
    ]);
    wait_until(
        "the first iteration's summary",
        Duration::from_secs(60),
        || read(&log).contains("nothing was written"),
    )
    .await;
    sigterm(&child);
    let (code, out, _) = finish(child, Duration::from_secs(30)).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("iteration"), "loop mode: {out}");
    assert_eq!(
        f.delivered_token_ids(),
        delivered,
        "a dry-run writes nothing"
    );
    assert_eq!(f.dtp_tokens(), tokens, "a dry-run creates no token");
}

#[tokio::test]
async fn a_bad_log_file_or_extra_arg_is_a_configuration_error() {
    let f = Fleet::start().await;
    let config = mounted_config(&f);
    let child = chart_container(&[
        ("CONFIG", config.as_str()),
        ("RUN_ONCE", "1"),
        ("LOG_FILE", "/nonexistent-dir/x.log"),
    ]);
    let (code, out, _) = finish(child, Duration::from_secs(30)).await;
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("LOG_FILE"), "{out}");

    let child = chart_container(&[
        ("CONFIG", config.as_str()),
        ("RUN_ONCE", "1"),
        ("INTEGRATION_EXTRA_ARGS", "--no-such-flag"),
    ]);
    let (code, out, _) = finish(child, Duration::from_secs(30)).await;
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("--no-such-flag"), "{out}");
}
