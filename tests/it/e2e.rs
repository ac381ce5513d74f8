//! End-to-end: the `dtp` binary, run as a user runs it (config.toml, flags, env vars), against
//! the example fleet served by the sandbox in this test process. Checks the exit codes, that a
//! dry-run writes nothing, that a second run writes nothing, that state the Python integration
//! produced gets no write, and that no secret ever appears in the output.

use dtp::demo::DEMO_FLEET;
use dtp::sandbox::Sandbox;
use std::path::Path;
use std::process::Output;

struct Fleet {
    sandbox: Sandbox,
    dir: tempfile::TempDir,
}

impl Fleet {
    async fn start() -> Self {
        let sandbox = Sandbox::start_yaml(DEMO_FLEET).await.expect("sandbox");
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("config.toml"), sandbox.config_toml()).expect("config");
        Self { sandbox, dir }
    }

    fn config(&self) -> String {
        self.dir.path().join("config.toml").display().to_string()
    }

    async fn dtp(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_dtp"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().await.expect("dtp runs")
    }

    async fn run(&self, extra: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
        let config = self.config();
        let mut args = vec!["run", "--config", config.as_str()];
        args.extend_from_slice(extra);
        self.sandbox.control.clear_requests();
        let out = self.dtp(&args, env).await;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_no_secret(&self.sandbox, &stdout, &stderr);
        (out.status.code().unwrap_or(-1), stdout, stderr)
    }

    fn writes(&self) -> usize {
        self.sandbox.control.writes().len()
    }
}

/// No token value, bootstrap token or client secret of the fleet may appear in any output.
fn assert_no_secret(sandbox: &Sandbox, stdout: &str, stderr: &str) {
    let mut secrets: Vec<String> = Vec::new();
    for tenant in sandbox.dynatrace().tenant_ids() {
        secrets.extend(
            sandbox
                .dynatrace()
                .tokens(&tenant)
                .into_iter()
                .map(|t| t.token),
        );
    }
    for line in DEMO_FLEET.lines() {
        let l = line.trim();
        for key in ["client_secret: ", "bootstrap_token: ", "token: "] {
            if let Some(v) = l.strip_prefix(key) {
                secrets.push(v.trim().to_owned());
            }
        }
    }
    secrets.retain(|s| s.len() >= 8);
    assert!(!secrets.is_empty());
    for s in &secrets {
        let secret_part = s.rsplit('.').next().unwrap_or(s);
        for (name, text) in [("stdout", stdout), ("stderr", stderr)] {
            assert!(!text.contains(s.as_str()), "{name} leaks a secret");
            assert!(
                secret_part.len() < 16 || !text.contains(secret_part),
                "{name} leaks the secret part of a token"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn first_run_is_a_dry_run_then_apply_then_nothing_is_left_to_do() {
    let f = Fleet::start().await;

    let (code, stdout, _) = f.run(&[], &[]).await;
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(f.writes(), 0, "the default is a dry-run");
    assert!(stdout.contains("Plan (dry-run"), "{stdout}");
    assert!(
        stdout.contains("+ create token dtp_operator-token_"),
        "{stdout}"
    );
    assert!(
        stdout.contains("p-bad-label"),
        "the bad label is reported: {stdout}"
    );
    assert!(
        stdout.contains("p-foreign-org"),
        "the disallowed org is reported: {stdout}"
    );
    assert!(
        !stdout.contains("p-hibernating"),
        "hibernating clusters are invisible"
    );

    // A flag beats the env var: --dry-run with DRY_RUN=false still writes nothing.
    let (code, _, _) = f.run(&["--dry-run"], &[("DRY_RUN", "false")]).await;
    assert_eq!(code, 0);
    assert_eq!(f.writes(), 0);

    let (code, _, stderr) = f.run(&[], &[("DRY_RUN", "false")]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(f.writes() > 0);

    let (code, stdout, _) = f.run(&["--no-dry-run", "--plan-format", "json"], &[]).await;
    assert_eq!(code, 0);
    assert_eq!(f.writes(), 0, "second run writes nothing");
    let plan: serde_json::Value = serde_json::from_str(&stdout).expect("JSON plan");
    assert_eq!(plan["counts"]["clusters_to_change"], 0);
    assert_eq!(plan["counts"]["clusters_up_to_date"], 9);
    assert_eq!(plan["counts"]["clusters_skipped"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_the_python_integration_provisioned_gets_no_write() {
    let f = Fleet::start().await;
    // s-osd-1 is in the state the Python integration leaves behind.
    let uuid = "000000aa-0000-4000-8000-0000000000aa";
    let (code, stdout, _) = f.run(&["--no-dry-run", "--cluster", uuid], &[]).await;
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(f.writes(), 0, "{stdout}");
    assert!(stdout.contains("No changes"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn filters_narrow_the_run_to_one_environment() {
    let f = Fleet::start().await;
    let (code, stdout, _) = f
        .run(&["--no-dry-run", "--ocm-env", "ocm-stage"], &[])
        .await;
    assert_eq!(code, 0, "{stdout}");
    assert!(
        f.sandbox
            .control
            .writes()
            .iter()
            .all(|w| !w.system.contains("production"))
    );
    assert!(
        f.sandbox.ocm_env("stage").syncset_count() + f.sandbox.ocm_env("stage").manifest_count()
            >= 3
    );
    assert_eq!(
        f.sandbox.ocm_env("production").syncset_count(),
        1,
        "only the pre-provisioned one"
    );

    let (code, _, stderr) = f.run(&["--ocm-env", "nope"], &[]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("'nope'"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_cluster_gives_exit_code_1_and_the_others_are_delivered() {
    let f = Fleet::start().await;
    f.sandbox
        .control
        .add_fault(dtp::sandbox::common::FaultRule {
            method: Some("POST".into()),
            path_contains: "/external_configuration/syncsets".into(),
            status: 500,
            times: Some(1),
            ..Default::default()
        });
    let (code, _, stderr) = f.run(&["--no-dry-run"], &[]).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("Reconcile exceptions"), "{stderr}");
    let (code, _, stderr) = f.run(&["--no-dry-run"], &[]).await;
    assert_eq!(code, 0, "the next run repairs it: {stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_datafiles_directory_gives_the_same_plan_as_graphql() {
    let f = Fleet::start().await;
    let data = f.dir.path().join("data");
    f.sandbox.write_datafiles(&data).expect("datafiles");
    let config = f.config();
    let d = data.display().to_string();
    let a = f
        .dtp(&["run", "--config", &config, "--plan-format", "json"], &[])
        .await;
    let b = f
        .dtp(
            &[
                "run",
                "--config",
                &config,
                "--app-interface-dir",
                &d,
                "--plan-format",
                "json",
            ],
            &[],
        )
        .await;
    assert_eq!(a.status.code(), Some(0));
    assert_eq!(
        b.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&b.stderr)
    );
    let mut pa: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
    let pb: serde_json::Value = serde_json::from_slice(&b.stdout).unwrap();
    pa.as_object_mut().unwrap().remove("bundle_sha");
    assert_eq!(pa["counts"], pb["counts"]);
    assert_eq!(pa["changes"], pb["changes"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn validate_lists_every_problem_and_exits_2() {
    let f = Fleet::start().await;
    let dir = f.dir.path().join("bad");
    f.sandbox.write_datafiles(&dir).expect("datafiles");
    let d = dir.display().to_string();
    let ok = f.dtp(&["validate", "--app-interface-dir", &d], &[]).await;
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let spec = dir.join("dynatrace/token-specs/default.yml");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&spec).unwrap()).unwrap();
    v["secrets"][0]["tokens"][1]["keyNameInSecret"] = "apiToken".into();
    v["secrets"][0]["tokens"][0]["scopes"] = serde_json::json!([]);
    std::fs::write(&spec, v.to_string()).unwrap();
    let bad = f.dtp(&["validate", "--app-interface-dir", &d], &[]).await;
    let out = String::from_utf8_lossy(&bad.stdout);
    assert_eq!(bad.status.code(), Some(2), "{out}");
    assert!(
        out.contains("Key name 'apiToken' is used more than once"),
        "{out}"
    );
    assert!(out.contains("has no scopes"), "{out}");
    assert!(
        out.contains("default.yml"),
        "problems name the datafile: {out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_configuration_exits_2_before_anything_is_attempted() {
    let f = Fleet::start().await;
    let missing = Path::new("/nonexistent/config.toml").display().to_string();
    let out = f.dtp(&["run", "--config", &missing], &[]).await;
    assert_eq!(out.status.code(), Some(2));
    let out = f
        .dtp(&["run", "--config", &f.config()], &[("DRY_RUN", "perhaps")])
        .await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(f.writes(), 0);
}

/// Every log line of full runs with failures, at the most verbose level and in both formats,
/// is free of secrets: token values, bootstrap tokens, OCM client secrets.
#[tokio::test(flavor = "multi_thread")]
async fn no_secret_appears_in_any_log_line_even_at_trace_level_with_failures() {
    let f = Fleet::start().await;
    use dtp::sandbox::common::FaultRule;
    let faults = [
        // A delivery that fails (service log + compensation), a retried 429, a 503 on a read.
        FaultRule {
            method: Some("POST".into()),
            path_contains: "/external_configuration/syncsets".into(),
            status: 500,
            times: Some(1),
            ..Default::default()
        },
        FaultRule {
            method: Some("POST".into()),
            path_contains: "/apiTokens".into(),
            status: 429,
            times: Some(2),
            retry_after: Some(0),
            ..Default::default()
        },
        FaultRule {
            method: Some("GET".into()),
            path_contains: "/external_configuration/manifests".into(),
            status: 503,
            times: Some(1),
            ..Default::default()
        },
    ];
    for fault in faults {
        f.sandbox.control.add_fault(fault);
    }
    for format in ["json", "text"] {
        // `run` checks stdout and stderr of every run for every secret of the fleet.
        let (code, _, stderr) = f
            .run(
                &[
                    "--no-dry-run",
                    "--log-level",
                    "trace",
                    "--log-format",
                    format,
                ],
                &[],
            )
            .await;
        assert!(code == 0 || code == 1, "{stderr}");
        assert!(stderr.lines().count() > 100, "trace logging is on");
    }
    // A run whose bootstrap token and client secret are wrong, so that auth errors are logged.
    let config = std::fs::read_to_string(f.dir.path().join("config.toml")).unwrap();
    let wrong = f.dir.path().join("wrong.toml");
    std::fs::write(
        &wrong,
        config.replace("production-client-secret", "production-client-secrex"),
    )
    .unwrap();
    let out = f
        .dtp(
            &[
                "run",
                "--config",
                &wrong.display().to_string(),
                "--log-level",
                "trace",
            ],
            &[],
        )
        .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_no_secret(&f.sandbox, &String::from_utf8_lossy(&out.stdout), &stderr);
    assert!(!stderr.contains("production-client-secrex"));
}

/// PR checks: with an unchanged desired state, `--early-exit-compare-sha` exits 0 having read
/// only app-interface; with a changed one it does the whole dry-run (here in Markdown).
#[tokio::test(flavor = "multi_thread")]
async fn early_exit_skips_unchanged_bundles_and_plans_changed_ones() {
    let f = Fleet::start().await;
    let base = f.sandbox.graphql.0.latest_sha().expect("a bundle");
    let (code, stdout, stderr) = f.run(&["--early-exit-compare-sha", &base], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.is_empty(), "no plan: {stdout}");
    assert!(stderr.contains("Exit PR check early"), "{stderr}");
    assert!(
        f.sandbox
            .control
            .requests()
            .iter()
            .all(|r| r.system == "graphql"),
        "only app-interface was read"
    );

    // A merge request that lets another organization use the SLO spec.
    let mut files = f.sandbox.datafiles.clone();
    let slo = files
        .iter_mut()
        .find(|(p, _)| p.ends_with("/slo.yml"))
        .expect("slo spec");
    slo.1["ocm_org_ids"]
        .as_array_mut()
        .unwrap()
        .push("org-payments".into());
    f.sandbox.graphql.0.set_datafiles(files);
    let (code, stdout, stderr) = f
        .run(
            &["--plan-format", "markdown"],
            &[("EARLY_EXIT_COMPARE_SHA", base.as_str())],
        )
        .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("dtp plan (dry-run)"), "{stdout}");
    assert!(
        f.sandbox
            .control
            .requests()
            .iter()
            .any(|r| r.system.starts_with("ocm"))
    );
    assert_eq!(f.writes(), 0);
}

/// A disabled Unleash toggle stops the run before anything is read.
#[tokio::test(flavor = "multi_thread")]
async fn a_disabled_feature_toggle_skips_the_run() {
    let f = Fleet::start().await;
    let unleash = axum::Router::new().route(
        "/api/client/features/dynatrace-token-provider",
        axum::routing::get(|| async { axum::Json(serde_json::json!({"name": "dynatrace-token-provider", "enabled": false, "strategies": []})) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, unleash).await.unwrap() });
    let (code, _, stderr) = f
        .run(
            &["--no-dry-run"],
            &[
                ("UNLEASH_API_URL", url.as_str()),
                ("UNLEASH_CLIENT_ACCESS_TOKEN", "unleash-token-value"),
            ],
        )
        .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("Integration toggle is disabled, skipping integration."),
        "{stderr}"
    );
    assert!(f.sandbox.control.requests().is_empty());
    assert!(!stderr.contains("unleash-token-value"));
}
