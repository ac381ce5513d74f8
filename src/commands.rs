//! The subcommands: what `dtp run`, `dtp validate` and `dtp demo` do, end to end, returning
//! the process exit code. The plan goes to stdout; logs and the summary go to the log (stderr).

use crate::cli::{
    Cli, Command, EXIT_INVALID, EXIT_OK, Env, RunArgs, SourceArgs, resolve_dry_run, resolve_mode,
};
use crate::metrics::{Metrics, Pushgateway};
use crate::reconcile::{self, Report, RunOptions};
use crate::report::{self, PlanFormat};
use crate::runner::{self, RunnerConfig};
use crate::settings::Settings;
use crate::shard::Shard;
use tracing::{error, info};

/// Runs the parsed command line; returns the exit code.
pub async fn execute(cli: Cli, env: Env) -> i32 {
    let Cli {
        command,
        log_format: _,
        log_level: _,
    } = cli;
    match command {
        Command::Run(args) => run(args, env).await,
        Command::Validate(args) => validate(args, env).await,
        #[cfg(feature = "sandbox")]
        Command::Demo(args) => crate::demo::run(args).await,
    }
}

async fn run(args: RunArgs, env: Env) -> i32 {
    let dry_run = match resolve_dry_run(&args, &env) {
        Ok(d) => d,
        Err(e) => return invalid(&e),
    };
    let mode = match resolve_mode(&args, &env) {
        Ok(m) => m,
        Err(e) => return invalid(&e),
    };
    let shard = match Shard::new(args.shards, args.shard_id) {
        Ok(s) => s,
        Err(e) => return invalid(&e),
    };
    let RunArgs {
        source,
        dry_run: _,
        no_dry_run: _,
        ocm_env,
        cluster,
        plan_format,
        concurrency,
        interval: _,
        timeout,
        metrics_port,
        early_exit_compare_sha,
        shards: _,
        shard_id: _,
    } = args;
    let mut settings = match Settings::from_args(&source, &env) {
        Ok(s) => s,
        Err(e) => return invalid(&e),
    };
    let pushgateway = match Pushgateway::from_env(&env) {
        Ok(p) => p,
        Err(e) => return invalid(&e),
    };
    let metrics = Metrics::new(shard);
    settings.http.observer = Some(metrics.http_observer());
    let http = match settings.http.client() {
        Ok(h) => h,
        Err(e) => return invalid(&e),
    };
    if let Some(sha) = early_exit_compare_sha.as_deref() {
        if dry_run {
            if crate::early_exit::should_exit_early(&settings, &http, sha).await {
                return EXIT_OK;
            }
        } else {
            tracing::warn!("--early-exit-compare-sha only applies to dry-runs; ignored");
        }
    }
    let deps = match settings.dependencies() {
        Ok(d) => d,
        Err(e) => return invalid(&e),
    };
    let opts = RunOptions {
        dry_run,
        ocm_envs: ocm_env,
        clusters: cluster,
        concurrency: usize::from(concurrency),
        shard,
        ..RunOptions::default()
    };
    let cfg = RunnerConfig {
        mode,
        timeout,
        plan_format,
        env: env.clone(),
        http,
        metrics,
        metrics_port,
        pushgateway,
    };
    let shutdown = runner::shutdown_on_signals();
    runner::run(&deps, &opts, &cfg, &shutdown).await
}

/// Runs one reconcile with the given dependencies, prints the plan and logs the summary.
pub async fn run_with(
    deps: &reconcile::Dependencies,
    opts: &RunOptions,
    plan_format: PlanFormat,
) -> i32 {
    run_report(deps, opts, Some(plan_format)).await.0
}

/// Like [`run_with`], also returning the report (`None` when the run could not start).
/// `plan_format` `None` prints no plan (loop mode: the log has every action).
pub async fn run_report(
    deps: &reconcile::Dependencies,
    opts: &RunOptions,
    plan_format: Option<PlanFormat>,
) -> (i32, Option<Report>) {
    match reconcile::run(deps, opts).await {
        Ok(report) => {
            if let Some(format) = plan_format {
                print!("{}", report::render_plan(&report, format));
            }
            let summary = report::summary(&report);
            let code = report.exit_code();
            if code == EXIT_OK {
                info!(exit_code = code, "{summary}");
            } else {
                error!(exit_code = code, "{summary}");
            }
            (code, Some(report))
        }
        Err(e) => {
            let code = e.exit_code();
            error!(exit_code = code, "{e}");
            (code, None)
        }
    }
}

async fn validate(args: SourceArgs, env: Env) -> i32 {
    let settings = match Settings::from_args(&args, &env) {
        Ok(s) => s,
        Err(e) => return invalid(&e),
    };
    let http = match settings.http.client() {
        Ok(h) => h,
        Err(e) => return invalid(&e),
    };
    let source = settings.app_interface(&http);
    match reconcile::load_and_validate(source.as_ref()).await {
        Ok(data) => {
            println!(
                "app-interface data is valid: {} token spec(s), {} Dynatrace environment(s), {} OCM environment(s)",
                data.token_specs.len(),
                data.dynatrace_environments.len(),
                data.ocm_environments.len()
            );
            EXIT_OK
        }
        Err(e) => {
            println!("{e}");
            let code = e.exit_code();
            error!(exit_code = code, "validation failed");
            code
        }
    }
}

fn invalid(message: &str) -> i32 {
    error!(exit_code = EXIT_INVALID, "{message}");
    EXIT_INVALID
}
