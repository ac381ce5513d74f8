//! The subcommands: what `dtp run`, `dtp validate` (text, JSON or Markdown), `dtp demo`,
//! `dtp completions` and `dtp man` do with a validated
//! [`Config`], end to end, returning the process exit code. The plan goes to stdout; logs and
//! the summary go to the log (stderr). The process's one HTTP client is built here.

use crate::clients::appinterface::AppInterfaceError;
use crate::clients::http::Http;
use crate::clients::limit::Limits;
use crate::clients::pushgateway::Pushgateway;
use crate::config::{Command, Config, PlanFormat, RunConfig, ValidateConfig};
use crate::metrics::Metrics;
use crate::model::appinterface::AppInterfaceData;
use crate::model::validate::{Problem, validate_app_interface};
use crate::reconcile::{RunError, RunOptions};
use crate::report::md;
use crate::runner::{self, RunnerConfig};
use crate::{deps, early_exit, exit};
use serde::Serialize;
use std::io::Write;
use tracing::error;

/// Runs the configured command; returns the exit code.
pub async fn execute(config: Config) -> i32 {
    match config.command {
        Command::Run(run_config) => run(*run_config).await,
        Command::Validate(validate_config) => validate(*validate_config).await,
        Command::Completions(shell) => print_with(|out| crate::cli::completions(shell, out)),
        Command::Man => print_with(crate::cli::man),
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

async fn validate(c: ValidateConfig) -> i32 {
    let http = match Http::new(deps::http_settings(&c.source)) {
        Ok(h) => h,
        Err(e) => return invalid(&e),
    };
    let app_interface = deps::app_interface(&c.source, &http);
    // As `reconcile::load_and_validate`, keeping the data (its counts) when it is invalid.
    let (data, outcome) = match app_interface.load().await {
        Ok(data) => {
            let problems = validate_app_interface(&data);
            let outcome = match problems.is_empty() {
                true => Ok(()),
                false => Err(RunError::Invalid(problems)),
            };
            (Some(data), outcome)
        }
        Err(e) => (None, Err(RunError::from(e))),
    };
    let code = outcome
        .as_ref()
        .map_or_else(RunError::exit_code, |()| exit::OK);
    let result = Validation::of(data.as_ref(), &outcome);
    let text = match (c.format, &outcome) {
        (PlanFormat::Text, Ok(())) => format!(
            "app-interface data is valid: {} token spec(s), {} Dynatrace environment(s), {} OCM environment(s)",
            result.token_specs, result.dynatrace_environments, result.ocm_environments
        ),
        (PlanFormat::Text, Err(e)) => e.to_string(),
        // A struct of numbers and strings: serialising cannot fail.
        (PlanFormat::Json, _) => serde_json::to_string_pretty(&result).unwrap_or_default(),
        (PlanFormat::Markdown, _) => result.markdown(),
    };
    println!("{text}");
    if code != exit::OK {
        error!(exit_code = code, "validation failed");
    }
    code
}

/// The result of `dtp validate`, as `--format json` prints it.
#[derive(Serialize)]
struct Validation {
    valid: bool,
    token_specs: usize,
    dynatrace_environments: usize,
    ocm_environments: usize,
    problems: Vec<Problem>,
}

impl Validation {
    fn of(data: Option<&AppInterfaceData>, outcome: &Result<(), RunError>) -> Self {
        Self {
            valid: outcome.is_ok(),
            token_specs: data.map_or(0, |d| d.token_specs.len()),
            dynatrace_environments: data.map_or(0, |d| d.dynatrace_environments.len()),
            ocm_environments: data.map_or(0, |d| d.ocm_environments.len()),
            problems: outcome.as_ref().err().map(problems).unwrap_or_default(),
        }
    }

    /// A heading and a table, for a PR-check comment.
    fn markdown(&self) -> String {
        if self.valid {
            return format!(
                "### dtp validate: app-interface data is valid\n\n\
                 | Token specs | Dynatrace environments | OCM environments |\n\
                 |---:|---:|---:|\n\
                 | {} | {} | {} |\n",
                self.token_specs, self.dynatrace_environments, self.ocm_environments
            );
        }
        let mut out = format!(
            "### dtp validate: {} problem(s) in app-interface data\n\n\
             | Object | Datafile | Problem |\n\
             |---|---|---|\n",
            self.problems.len()
        );
        for p in &self.problems {
            let source = p.source.as_deref().map_or_else(|| "—".to_owned(), md);
            out.push_str(&format!(
                "| {} | {source} | {} |\n",
                md(&p.object),
                md(&p.message)
            ));
        }
        out
    }
}

/// Every problem of a failed validation, naming its object (and datafile) where known.
fn problems(e: &RunError) -> Vec<Problem> {
    let problem = |object: &str, message: String| Problem {
        object: object.to_owned(),
        source: None,
        message,
    };
    match e {
        RunError::Invalid(problems) => problems.clone(),
        // Each entry is `<datafile>: <message>`.
        RunError::AppInterface(AppInterfaceError::Datafiles(entries)) => entries
            .iter()
            .map(|entry| match entry.split_once(": ") {
                Some((file, message)) => Problem {
                    object: format!("datafile {file}"),
                    source: Some(file.to_owned()),
                    message: message.to_owned(),
                },
                None => problem("app-interface datafiles", entry.clone()),
            })
            .collect(),
        other => vec![problem("app-interface", other.to_string())],
    }
}

/// Writes a generated text (completions, the man page) to stdout.
fn print_with(write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> i32 {
    let mut out = std::io::stdout().lock();
    match write(&mut out).and_then(|()| out.flush()) {
        Ok(()) => exit::OK,
        Err(e) => {
            error!(exit_code = exit::PARTIAL, "cannot write to stdout: {e}");
            exit::PARTIAL
        }
    }
}

fn invalid(message: &str) -> i32 {
    error!(exit_code = exit::INVALID, "{message}");
    exit::INVALID
}
