//! The subcommands: what `dtp run`, `dtp validate` and `dtp demo` do with a validated
//! [`Config`], end to end, returning the process exit code. The plan goes to stdout; logs and
//! the summary go to the log (stderr). The process's one HTTP client is built here.

use crate::clients::http::Http;
use crate::clients::limit::Limits;
use crate::clients::pushgateway::Pushgateway;
use crate::config::{Command, Config, RunConfig, SourceConfig};
use crate::metrics::Metrics;
use crate::reconcile::{self, RunOptions};
use crate::runner::{self, RunnerConfig};
use crate::{deps, early_exit, exit};
use tracing::error;

/// Runs the configured command; returns the exit code.
pub async fn execute(config: Config) -> i32 {
    match config.command {
        Command::Run(run_config) => run(*run_config).await,
        Command::Validate(source) => validate(*source).await,
        #[cfg(feature = "sandbox")]
        Command::Demo(demo) => crate::demo::run(demo).await,
        #[cfg(not(feature = "sandbox"))]
        Command::Demo(_) => invalid("dtp demo needs a build with the sandbox feature"),
    }
}

async fn run(c: RunConfig) -> i32 {
    let metrics = Metrics::new(c.shard);
    let mut settings = deps::http_settings(&c.source);
    settings.observer = Some(metrics.http_observer());
    let limits = Limits::new(c.limits, Some(metrics.limit_observer()));
    let http = match Http::with_limits(settings, limits) {
        Ok(h) => h,
        Err(e) => return invalid(&e),
    };
    if let Some(sha) = c.early_exit_compare_sha.as_deref() {
        if c.mode.is_dry_run() {
            let current = deps::app_interface(&c.source, &http);
            let compare = deps::app_interface_at(&c.source, &http, sha);
            if early_exit::should_exit_early(current.as_ref(), compare, sha).await {
                return exit::OK;
            }
        } else {
            tracing::warn!("--early-exit-compare-sha only applies to dry-runs; ignored");
        }
    }
    let dependencies = deps::dependencies(&c.source, &http);
    let opts = RunOptions {
        mode: c.mode,
        filters: c.filters,
        concurrency: c.concurrency,
        shard: c.shard,
        policy: c.policy,
        collect_departed: c.collect_departed,
        ..RunOptions::default()
    };
    let cfg = RunnerConfig {
        schedule: c.schedule,
        timeout: c.timeout,
        plan_format: c.plan_format,
        unleash: c.unleash,
        pushgateway: c.pushgateway.map(|p| Pushgateway::new(p, http.clone())),
        http,
        metrics,
        metrics_port: c.metrics_port,
    };
    let shutdown = runner::shutdown_on_signals(c.shutdown_grace);
    runner::run(&dependencies, &opts, &cfg, &shutdown).await
}

async fn validate(source: SourceConfig) -> i32 {
    let http = match Http::new(deps::http_settings(&source)) {
        Ok(h) => h,
        Err(e) => return invalid(&e),
    };
    let app_interface = deps::app_interface(&source, &http);
    match reconcile::load_and_validate(app_interface.as_ref()).await {
        Ok(data) => {
            println!(
                "app-interface data is valid: {} token spec(s), {} Dynatrace environment(s), {} OCM environment(s)",
                data.token_specs.len(),
                data.dynatrace_environments.len(),
                data.ocm_environments.len()
            );
            exit::OK
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
    error!(exit_code = exit::INVALID, "{message}");
    exit::INVALID
}
