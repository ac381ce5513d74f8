//! Run modes. One run (a CronJob, a PR check, a local run) or a loop (a Deployment):
//! reconcile, sleep, repeat — a failed run never ends the loop, and every iteration re-reads
//! app-interface (re-pinning the bundle sha), logs in to Vault and fetches OCM SSO tokens
//! afresh, because each run builds its clients anew. Each run can have a time limit; on
//! SIGTERM/SIGINT no new cluster is started, writes in flight finish, and the process exits
//! within a bounded grace period.

use crate::clients::http::Http;
use crate::clients::pushgateway::Pushgateway;
use crate::clients::unleash::{self, UnleashConfig};
use crate::config::{PlanFormat, Schedule};
use crate::exit;
use crate::metrics::Metrics;
use crate::reconcile::{self, Dependencies, Report, RunOptions};
use crate::{progress, report};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, error, info, warn};

/// How long in-flight work may take after SIGTERM/SIGINT by default (`--shutdown-grace`).
/// Below Kubernetes' default `terminationGracePeriodSeconds` (30 s).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(25);

/// After the grace period, how long the process waits for clusters to clean up before it
/// exits anyway (their cleanup is bounded by [`crate::apply::CLEANUP_BUDGET`]).
pub const EXIT_MARGIN: Duration = Duration::from_secs(2);

/// The process's shutdown: `cancel` on SIGTERM/SIGINT (no new work), `abort` once the grace
/// period ran out (calls in flight are dropped, clusters clean up).
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    pub cancel: CancellationToken,
    pub abort: CancellationToken,
}

/// Exit code when the grace period ran out.
pub const EXIT_GRACE_EXPIRED: i32 = exit::PARTIAL;

/// How to run.
#[derive(Debug)]
pub struct RunnerConfig {
    pub schedule: Schedule,
    /// Time limit of one run.
    pub timeout: Option<Duration>,
    pub plan_format: PlanFormat,
    /// The feature toggle, checked before every run.
    pub unleash: UnleashConfig,
    pub http: Http,
    pub metrics: Arc<Metrics>,
    /// `/metrics`, `/healthz`, `/readyz` are served on this port in loop mode.
    pub metrics_port: u16,
    /// One-shot runs push their metrics here.
    pub pushgateway: Option<Pushgateway>,
}

/// How long a run may take when it has no time limit, for `/healthz`.
pub const ASSUMED_RUN_LIMIT: Duration = Duration::from_secs(30 * 60);

/// Runs once or loops until `shutdown` is cancelled. Returns the exit code of the last run.
pub async fn run(
    deps: &Dependencies,
    opts: &RunOptions,
    cfg: &RunnerConfig,
    stop: &Shutdown,
) -> i32 {
    let shutdown = &stop.cancel;
    let opts = &RunOptions {
        abort: stop.abort.clone(),
        ..opts.clone()
    };
    {
        let metrics = cfg.metrics.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(
            async move {
                shutdown.cancelled().await;
                metrics.set_shutting_down();
            }
            .in_current_span(),
        );
    }
    match cfg.schedule {
        Schedule::Once => {
            let code = one_run(deps, opts, cfg, shutdown).await;
            if let Some(pg) = &cfg.pushgateway {
                let body = cfg.metrics.encode_prometheus();
                match pg.push(cfg.metrics.grouping(), body).await {
                    Ok(()) => info!("pushed the run metrics to the Pushgateway"),
                    Err(e) => error!(error = %e, "cannot push the run metrics to the Pushgateway"),
                }
            }
            code
        }
        Schedule::Every(interval) => {
            info!(interval_secs = interval.as_secs(), "loop mode");
            // Alive means: a heartbeat within one interval plus one run plus a margin.
            let expected =
                interval + cfg.timeout.unwrap_or(ASSUMED_RUN_LIMIT) + Duration::from_secs(60);
            let listener = match tokio::net::TcpListener::bind(("0.0.0.0", cfg.metrics_port)).await
            {
                Ok(l) => l,
                Err(e) => {
                    error!(port = cfg.metrics_port, error = %e, "cannot serve /metrics");
                    return exit::INVALID;
                }
            };
            info!(
                port = cfg.metrics_port,
                "serving /metrics, /healthz and /readyz"
            );
            let app = cfg.metrics.router(expected);
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app).await {
                    error!(error = %e, "the metrics server stopped");
                }
            });
            let mut last = 0;
            let mut iteration: u64 = 0;
            while !shutdown.is_cancelled() {
                iteration += 1;
                let span = tracing::info_span!("iteration", n = iteration);
                last =
                    tracing::Instrument::instrument(one_run(deps, opts, cfg, shutdown), span).await;
                if last != 0 {
                    warn!(exit_code = last, "run failed; the loop goes on");
                }
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    _ = tokio::time::sleep(interval) => {}
                }
            }
            info!(exit_code = last, "loop stopped");
            last
        }
    }
}

async fn one_run(
    deps: &Dependencies,
    opts: &RunOptions,
    cfg: &RunnerConfig,
    shutdown: &CancellationToken,
) -> i32 {
    // `check` logs the qontract-reconcile message when the toggle is off.
    if !unleash::check(&cfg.unleash, &cfg.http).await.allows_run() {
        return exit::OK;
    }
    let cancel = shutdown.child_token();
    let timer = cfg.timeout.map(|limit| {
        let cancel = cancel.clone();
        tokio::spawn(
            async move {
                tokio::time::sleep(limit).await;
                warn!(
                    limit_secs = limit.as_secs_f64(),
                    "run time limit reached: no new cluster is started"
                );
                cancel.cancel();
            }
            .in_current_span(),
        )
    });
    let opts = RunOptions {
        cancel: cancel.clone(),
        progress: Arc::default(),
        ..opts.clone()
    };
    let ticker = progress_ticker(&opts, &cfg.metrics);
    cfg.metrics.run_started();
    let started = std::time::Instant::now();
    // A loop does not print plans: its log has one line per planned and applied action.
    let plan_format = match cfg.schedule {
        Schedule::Once => Some(cfg.plan_format),
        Schedule::Every(_) => None,
    };
    let (code, report) = run_report(deps, &opts, plan_format).await;
    cfg.metrics
        .run_finished(report.as_ref(), code, started.elapsed());
    if let Some(t) = timer {
        t.abort();
    }
    ticker.abort();
    code
}

/// Every [`progress::INTERVAL`] of a run: a log line with the counts of each phase, and, when
/// they moved, a heartbeat (a run that makes progress is alive, however long it takes; one that
/// is stuck turns `/healthz` stale).
fn progress_ticker(opts: &RunOptions, metrics: &Arc<Metrics>) -> tokio::task::JoinHandle<()> {
    let progress = opts.progress.clone();
    let metrics = metrics.clone();
    tokio::spawn(
        async move {
            let mut tick = tokio::time::interval(progress::INTERVAL);
            tick.tick().await;
            let mut last = String::new();
            loop {
                tick.tick().await;
                let line = progress.line();
                if line.is_empty() {
                    continue;
                }
                info!("progress: {line}");
                if line != last {
                    metrics.heartbeat();
                    last = line;
                }
            }
        }
        .in_current_span(),
    )
}

/// Runs one reconcile with the given dependencies, prints the plan and logs the summary.
pub async fn run_with(deps: &Dependencies, opts: &RunOptions, plan_format: PlanFormat) -> i32 {
    run_report(deps, opts, Some(plan_format)).await.0
}

/// Like [`run_with`], also returning the report (`None` when the run could not start).
/// `plan_format` `None` prints no plan (loop mode: the log has every action).
pub async fn run_report(
    deps: &Dependencies,
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
            if code == exit::OK {
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

/// On SIGTERM or SIGINT cancels `cancel` (no new work); when work in flight has not finished
/// `grace` later, cancels `abort` (calls in flight are dropped and each cluster deletes the
/// tokens it created and did not deliver, within [`crate::apply::CLEANUP_BUDGET`]); after that
/// and [`EXIT_MARGIN`], exits the process.
pub fn shutdown_on_signals(grace: Duration) -> Shutdown {
    let shutdown = Shutdown::default();
    let s = shutdown.clone();
    tokio::spawn(
        async move {
            let signal = wait_for_signal().await;
            info!(
                signal,
                grace_secs = grace.as_secs_f64(),
                "shutting down: no new work; finishing writes in flight"
            );
            s.cancel.cancel();
            tokio::time::sleep(grace).await;
            warn!(
                grace_secs = grace.as_secs_f64(),
                "work in flight did not finish within the grace period; aborting it and deleting the tokens of undelivered clusters"
            );
            s.abort.cancel();
            tokio::time::sleep(crate::apply::CLEANUP_BUDGET + EXIT_MARGIN).await;
            error!("the cleanup did not finish in time; exiting");
            std::process::exit(EXIT_GRACE_EXPIRED);
        }
        .in_current_span(),
    );
    shutdown
}

#[cfg(unix)]
async fn wait_for_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "cannot listen for SIGTERM");
            let _ = tokio::signal::ctrl_c().await;
            return "SIGINT";
        }
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = tokio::signal::ctrl_c() => "SIGINT",
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() -> &'static str {
    let _ = tokio::signal::ctrl_c().await;
    "SIGINT"
}
