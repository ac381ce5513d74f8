//! The example fleet served by the sandbox, and the `dtp` binary run against it as a user
//! runs it (a child process, environment cleared): shared by the tests of run modes, crashes
//! and overlapping runs.

use dtp::demo::DEMO_FLEET;
use dtp::sandbox::Sandbox;
use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;

pub struct Fleet {
    pub sandbox: Sandbox,
    pub dir: tempfile::TempDir,
    pub cluster_ids: Vec<(String, String)>,
}

impl Fleet {
    pub async fn start() -> Self {
        let sandbox = Sandbox::start_yaml(DEMO_FLEET).await.expect("sandbox");
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("config.toml"), sandbox.config_toml()).expect("config");
        let fixture = dtp::sandbox::Fixture::from_yaml(DEMO_FLEET).expect("fixture");
        let cluster_ids = fixture
            .ocm
            .iter()
            .flat_map(|(env, f)| f.clusters.iter().map(move |c| (env.clone(), c.id.clone())))
            .collect();
        Self {
            sandbox,
            dir,
            cluster_ids,
        }
    }

    pub fn spawn(&self, args: &[&str], env: &[(&str, &str)]) -> tokio::process::Child {
        let config = self.dir.path().join("config.toml");
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_dtp"));
        cmd.arg("run").arg("--config").arg(config).args(args);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        // Loop mode serves /metrics: never on a fixed port in tests.
        cmd.env("PROMETHEUS_PORT", "0");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd.spawn().expect("dtp starts")
    }

    /// Token ids referenced by any delivered bundle.
    pub fn delivered_token_ids(&self) -> BTreeSet<String> {
        let mut ids = BTreeSet::new();
        for (env, id) in &self.cluster_ids {
            let ocm = self.sandbox.ocm_env(env);
            for res in [ocm.syncset(id), ocm.manifest(id)].into_iter().flatten() {
                for r in res {
                    for (k, v) in r["data"].as_object().into_iter().flatten() {
                        if k.ends_with("Id") {
                            let raw = v.as_str().unwrap_or_default();
                            let id = base64::Engine::decode(
                                &base64::engine::general_purpose::STANDARD,
                                raw,
                            )
                            .unwrap();
                            ids.insert(String::from_utf8(id).unwrap());
                        }
                    }
                }
            }
        }
        ids
    }

    /// Ids of all dtp tokens in every tenant.
    pub fn dtp_tokens(&self) -> BTreeSet<String> {
        let dt = self.sandbox.dynatrace();
        dt.tenant_ids()
            .iter()
            .flat_map(|t| dt.tokens(t))
            .filter(|t| t.name.starts_with("dtp"))
            .map(|t| t.id)
            .collect()
    }

    pub fn count(&self, path_suffix: &str) -> usize {
        self.sandbox
            .control
            .requests()
            .iter()
            .filter(|r| r.path.ends_with(path_suffix))
            .count()
    }
}

pub fn sigterm(child: &tokio::process::Child) {
    let pid = child.id().expect("running").to_string();
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs")
        .success();
    assert!(ok, "kill -TERM {pid}");
}

pub async fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn finish(mut child: tokio::process::Child, limit: Duration) -> (i32, String, Duration) {
    let started = Instant::now();
    let mut stderr = child.stderr.take().expect("stderr");
    let mut stdout = child.stdout.take().expect("stdout");
    let collect = tokio::spawn(async move {
        let mut e = String::new();
        let mut o = String::new();
        let _ = tokio::join!(stderr.read_to_string(&mut e), stdout.read_to_string(&mut o));
        format!("{o}\n{e}")
    });
    let status = tokio::time::timeout(limit, child.wait())
        .await
        .expect("dtp exits in time")
        .expect("wait");
    let output = collect.await.expect("output");
    (status.code().unwrap_or(-1), output, started.elapsed())
}

/// SIGKILL: the process dies between two instructions, nothing runs on its way out.
pub fn sigkill(child: &tokio::process::Child) {
    let pid = child.id().expect("running").to_string();
    let ok = std::process::Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .expect("kill runs")
        .success();
    assert!(ok, "kill -KILL {pid}");
}

impl Fleet {
    /// `dtp_` tokens (the names dtp gives) that no delivered bundle references.
    pub fn unreferenced_dtp_tokens(&self) -> Vec<String> {
        let delivered = self.delivered_token_ids();
        let dt = self.sandbox.dynatrace();
        dt.tenant_ids()
            .iter()
            .flat_map(|t| dt.tokens(t))
            .filter(|t| t.name.starts_with("dtp_") && !delivered.contains(&t.id))
            .map(|t| format!("{} ({})", t.id, t.name))
            .collect()
    }

    /// Runs `dtp run` to the end and returns its exit code and output.
    pub async fn run(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
        let child = self.spawn(args, env);
        let (code, out, _) = finish(child, Duration::from_secs(120)).await;
        (code, out)
    }
}
