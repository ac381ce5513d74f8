//! `make bench`, the fleet table: the `dtp` binary (this tree's, or `DTP_BENCH_BIN`) run as an
//! operator runs it, against the sandbox (OCM, Dynatrace, qontract-server) and a real OpenBao,
//! with 20 ms added to every request, two OCM environments and ~75 % of the clusters managed.
//! One row per case of issue 9: wall time, the floor the configured limits imply, their
//! ratio, requests by system, requests per managed cluster, peak RSS and CPU.
//!
//! The floor is `latency × (R + D)`: R is the rounds of the busiest concurrency target (its
//! requests ÷ its limit, or the managed clusters' dependent calls ÷ `--concurrency` when that
//! is larger), D = 8 dependent round trips no concurrency shortens (GraphQL sha and query,
//! Vault login and mount, SSO, and discovery's labels → subscriptions → clusters). Under a
//! per-host rate limit of R requests/s the floor is the busiest host's requests ÷ R.
//! Worlds that must start provisioned are provisioned by this tree's binary without latency.
//!
//! `DTP_BENCH_ONLY=<substring>` runs only the matching cases; `DTP_BENCH_BIN` measures
//! another build; `DTP_BENCH_WRAPPER` runs the measured binary under a profiler.

mod measure;
mod vault;
mod world;

use dtp::sandbox::common::FaultRule;
use dtp::sandbox::{Fixture, Sandbox};
use measure::Figures;
use std::time::Duration;
use world::Shape;

const LATENCY: Duration = Duration::from_millis(20);
/// Per-host rate limit of the rate-limit case.
const RATE: u32 = 500;
/// Dependent round trips outside any parallel work (see the module documentation).
const DEPTH: f64 = 8.0;

/// The default limits of dtp (`--ocm-concurrency`, …, `--concurrency`).
fn limit_of(target: &str) -> f64 {
    let l = dtp::clients::limit::LimitSettings::default();
    match target.split(':').next().unwrap_or("") {
        "ocm" | "sso" => l.ocm as f64,
        "dynatrace" => l.dynatrace as f64,
        "vault" => l.vault as f64,
        _ => l.other as f64,
    }
}

struct World {
    sandbox: Sandbox,
    vault: vault::Vault,
    config: std::path::PathBuf,
    shape: Shape,
    _dir: tempfile::TempDir,
}

impl World {
    async fn new(shape: Shape) -> Self {
        let fixture: Fixture =
            serde_json::from_value(world::fixture(shape)).expect("a valid fixture");
        let sandbox = Sandbox::start(fixture).await.expect("the sandbox starts");
        let vault = vault::Vault::start().await;
        for (path, field, value) in world::vault_secrets(shape) {
            vault.put(&path, field, &value).await;
        }
        let dir = tempfile::tempdir().expect("a temp dir");
        let config = measure::write_config(dir.path(), &sandbox, &vault);
        Self {
            sandbox,
            vault,
            config,
            shape,
            _dir: dir,
        }
    }

    fn latency(&self, d: Duration) {
        self.sandbox.control.set_latency(d);
        self.vault
            .latency_ms
            .store(d.as_millis() as u64, std::sync::atomic::Ordering::Relaxed);
    }

    async fn run(&self, bin: &str, args: &[&str]) -> Figures {
        measure::run(bin, &self.config, args, &self.sandbox, &self.vault, true).await
    }

    /// Brings the world to the state a first run leaves (this tree's binary, no latency).
    async fn provision(&self) {
        self.latency(Duration::ZERO);
        let bin = env!("CARGO_BIN_EXE_dtp");
        let f = measure::run(
            bin,
            &self.config,
            &["--no-dry-run"],
            &self.sandbox,
            &self.vault,
            false,
        )
        .await;
        assert_eq!(f.exit, 0, "provisioning {:?} failed", self.shape);
        self.latency(LATENCY);
    }
}

struct Row {
    case: String,
    goal: &'static str,
    f: Figures,
    floor: Duration,
    managed: usize,
}

/// The latency floor of a run (see the module documentation); `chain` is the dependent calls
/// of one managed cluster.
fn floor(f: &Figures, managed: usize, chain: f64) -> Duration {
    let busiest = f
        .by_target
        .iter()
        .map(|(t, n)| (*n as f64 / limit_of(t)).ceil())
        .fold(0.0, f64::max);
    let clusters = (managed as f64 * chain / dtp::config::DEFAULT_CONCURRENCY as f64).ceil();
    LATENCY.mul_f64(busiest.max(clusters) + DEPTH)
}

fn rate_floor(f: &Figures) -> Duration {
    let busiest = f.by_host.values().copied().max().unwrap_or(0);
    Duration::from_secs_f64(busiest as f64 / f64::from(RATE))
}

fn print(rows: &[Row], bin: &str) {
    println!("## Fleet runs: {bin}");
    println!(
        "20 ms on every request; defaults (ocm 16/env, dynatrace 8/tenant, vault 16, {} clusters at once)\n",
        dtp::config::DEFAULT_CONCURRENCY
    );
    println!(
        "| case | goal | wall | floor | ratio | exit | ocm / sso / dynatrace / graphql / vault | req per managed (excl. {{paging}}) | peak RSS | CPU |"
    );
    println!("|---|---|---:|---:|---:|---:|---|---:|---:|---:|");
    for r in rows {
        let s = |k: &str| r.f.by_system.get(k).copied().unwrap_or(0);
        let per = (r.f.requests - r.f.paging) as f64 / r.managed.max(1) as f64;
        println!(
            "| {} | {} | {:.2} s | {:.2} s | {:.2} | {} | {} / {} / {} / {} / {} | {per:.3} ({{{}}}) | {:.1} MiB | {:.2} s |",
            r.case,
            r.goal,
            r.f.wall.as_secs_f64(),
            r.floor.as_secs_f64(),
            r.f.wall.as_secs_f64() / r.floor.as_secs_f64().max(1e-9),
            r.f.exit,
            s("ocm"),
            s("sso"),
            s("dynatrace"),
            s("graphql"),
            s("vault"),
            r.f.paging,
            r.f.peak_rss_kib as f64 / 1024.0,
            r.f.cpu.as_secs_f64(),
        );
    }
}

/// `DTP_BENCH_ONLY=<substring>`: run only the worlds whose case names contain it.
fn wanted(names: &[&str]) -> bool {
    std::env::var("DTP_BENCH_ONLY").map_or(true, |only| names.iter().any(|n| n.contains(&only)))
}

async fn cases(bin: &str) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut row = |case: &str, goal, f: Figures, floor, managed| {
        eprintln!("{case}: {:.2} s, exit {}", f.wall.as_secs_f64(), f.exit);
        rows.push(Row {
            case: case.to_owned(),
            goal,
            f,
            floor,
            managed,
        });
    };

    let small = Shape {
        clusters: 1_000,
        tenants: 2,
    };
    let managed = world::managed_count(small);
    if wanted(&["first run, N=1,000, 2 tenants", "second run, N=1,000"]) {
        let w = World::new(small).await;
        w.latency(LATENCY);
        let f = w.run(bin, &["--no-dry-run"]).await;
        let fl = floor(&f, managed, 3.0);
        row(
            "first run, N=1,000, 2 tenants",
            "≤ 5 s, CPU ≤ 1 s",
            f,
            fl,
            managed,
        );
        let f = w.run(bin, &["--no-dry-run"]).await;
        let fl = floor(&f, managed, 1.0);
        row("second run, N=1,000", "≤ 1.5 s, ≤ 1.02 req", f, fl, managed);
        drop(w);
    }

    let big = Shape {
        clusters: 10_000,
        tenants: 2,
    };
    if wanted(&["dry-run, N=10,000"]) {
        let w = World::new(big).await;
        w.provision().await;
        let f = w.run(bin, &["--dry-run"]).await;
        let m = world::managed_count(big);
        let fl = floor(&f, m, 1.0);
        row(
            "second run, dry-run, N=10,000",
            "≤ 10 s, ≤ 40 MiB",
            f,
            fl,
            m,
        );
        drop(w);
    }

    let wide = Shape {
        clusters: 5_000,
        tenants: 1_000,
    };
    if wanted(&["N=5,000, 1,000 tenants"]) {
        let w = World::new(wide).await;
        w.provision().await;
        let f = w.run(bin, &["--no-dry-run"]).await;
        let m = world::managed_count(wide);
        let fl = floor(&f, m, 1.0);
        row("second run, N=5,000, 1,000 tenants", "≤ 10 s", f, fl, m);
        drop(w);
    }

    if wanted(&["500 req/s per host"]) {
        let w = World::new(small).await;
        w.latency(LATENCY);
        w.sandbox.control.add_fault(FaultRule::rate_limit("", RATE));
        let f = w.run(bin, &["--no-dry-run"]).await;
        let fl = rate_floor(&f);
        row(
            "first run, N=1,000, 500 req/s per host",
            "exit 0, ≤ 1.5 × floor",
            f,
            fl,
            managed,
        );
        drop(w);
    }

    if wanted(&["429 storm"]) {
        let w = World::new(small).await;
        w.latency(LATENCY);
        w.sandbox.control.add_fault(FaultRule::storm("ocm", 0.2, 7));
        w.sandbox
            .control
            .add_fault(FaultRule::storm("dynatrace", 0.2, 11));
        let f = w.run(bin, &["--no-dry-run"]).await;
        let fl = floor(&f, managed, 3.0);
        row(
            "first run, N=1,000, 20 % 429 storm",
            "exit 0",
            f,
            fl,
            managed,
        );
        drop(w);
    }
    rows
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let bin = measure::binary();
    let rows = rt.block_on(cases(&bin));
    print(&rows, &bin);
}
