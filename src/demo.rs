//! `dtp demo`: the whole flow on the embedded sandbox, for a newcomer. Starts the example fleet
//! (`examples/demo-fleet.yml`: 2 OCM environments, 2 tenants, 12 clusters), then runs the real
//! `dtp run` code path over HTTP: a dry-run (printing the plan, and checking the sandbox saw no
//! write), an apply, and a second run whose plan must be empty. Feature `sandbox` only.

use crate::cli::{self, Env, SourceArgs};
use crate::clients::http::Http;
use crate::config::{DemoConfig, Mode};
use crate::deps;
use crate::model::naming::TOKEN_NAME_PREFIX;
use crate::reconcile::RunOptions;
use crate::runner::run_with;
use crate::sandbox::Sandbox;

/// The built-in example fleet.
pub const DEMO_FLEET: &str = include_str!("../examples/demo-fleet.yml");

/// Runs the demo; returns the exit code (0 when the fleet converged).
pub async fn run(args: DemoConfig) -> i32 {
    match demo(args).await {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("demo failed: {e}");
            crate::exit::PARTIAL
        }
    }
}

async fn demo(args: DemoConfig) -> Result<i32, String> {
    let text = match &args.fixture {
        Some(p) => std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?,
        None => DEMO_FLEET.to_owned(),
    };
    let sandbox = Sandbox::start_yaml(&text).await?;
    let dir = std::env::temp_dir().join(format!("dtp-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let config = dir.join("config.toml");
    std::fs::write(&config, sandbox.config_toml())
        .map_err(|e| format!("{}: {e}", config.display()))?;

    println!("dtp demo: sandbox started");
    println!("  qontract-server  {}", sandbox.graphql_url());
    for (env, (_, served)) in &sandbox.ocm {
        println!("  OCM {env:<12} {}", served.url);
    }
    println!(
        "  Dynatrace        {}  (tenants under /e/<id>)",
        sandbox.dynatrace.1.url
    );
    println!("  config.toml      {}", config.display());

    let source = SourceArgs {
        config: Some(config.clone()),
        ..SourceArgs::default()
    };
    let source = cli::source_config(&source, &Env::default()).map_err(|e| e.to_string())?;
    let http = Http::new(deps::http_settings(&source))?;
    let deps = deps::dependencies(&source, &http);
    let mut opts = RunOptions::default();

    println!("\n=== 1. dtp run (dry-run: reads everything, writes nothing) ===\n");
    let code = run_with(&deps, &opts, args.plan_format).await;
    let writes = sandbox.control.writes().len();
    println!("\n-> exit code {code}; writes received by the sandbox during the dry-run: {writes}");
    if writes != 0 {
        return Err(format!("the dry-run wrote {writes} times"));
    }

    println!("\n=== 2. dtp run --no-dry-run (apply the plan) ===\n");
    sandbox.control.clear_requests();
    opts.mode = Mode::Apply;
    let code = run_with(&deps, &opts, args.plan_format).await;
    let writes = sandbox.control.writes();
    println!("\n-> exit code {code}; writes: {}", describe(&writes));

    println!("\n=== 3. dtp run --no-dry-run again (nothing left to do) ===\n");
    sandbox.control.clear_requests();
    let code2 = run_with(&deps, &opts, args.plan_format).await;
    let writes2 = sandbox.control.writes().len();
    println!("\n-> exit code {code2}; writes: {writes2}");

    let converged = writes2 == 0 && code == 0 && code2 == 0;
    print_summary(&sandbox, converged);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(if converged {
        crate::exit::OK
    } else {
        crate::exit::PARTIAL
    })
}

/// What the sandbox holds at the end, and whether the fleet converged.
fn print_summary(sandbox: &Sandbox, converged: bool) {
    println!("\n=== Summary ===");
    for (env, (ocm, _)) in &sandbox.ocm {
        println!(
            "  OCM {env}: {} SyncSet(s), {} Manifest(s) named ext-dynatrace-tokens-dtp, {} service log(s)",
            ocm.syncset_count(),
            ocm.manifest_count(),
            ocm.service_logs().len()
        );
    }
    for tenant in sandbox.dynatrace().tenant_ids() {
        let tokens = sandbox.dynatrace().tokens(&tenant);
        let dtp = tokens
            .iter()
            .filter(|t| t.name.starts_with(TOKEN_NAME_PREFIX))
            .count();
        println!(
            "  Dynatrace {tenant}: {dtp} dtp token(s), {} token(s) in all",
            tokens.len()
        );
    }
    println!(
        "  {}",
        if converged {
            "converged: the second run planned and wrote nothing"
        } else {
            "NOT converged: see the plan above"
        }
    );
}

fn describe(writes: &[crate::sandbox::common::Recorded]) -> String {
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for w in writes {
        let what = if w.path.contains("/apiTokens") {
            "Dynatrace token"
        } else if w.path.contains("/syncsets") {
            "SyncSet"
        } else if w.path.contains("/manifests") {
            "Manifest"
        } else if w.path.contains("service_logs") {
            "service log"
        } else {
            "other"
        };
        *counts.entry(format!("{} {what}", w.method)).or_default() += 1;
    }
    if counts.is_empty() {
        return "none".into();
    }
    counts
        .iter()
        .map(|(k, v)| format!("{v}× {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}
