//! Prometheus metrics of dtp (prometheus-client, OpenMetrics text), the `/metrics`,
//! `/healthz` and `/readyz` endpoints, and the Pushgateway push of one-shot runs.
//!
//! The names operators already use come from qontract-reconcile and keep their labels:
//! `dtp_clusters_managed`, `dtp_tokens_managed`, `dtp_organization_reconciled_total`,
//! `dtp_organization_reconcile_errors_total` (which, unlike the Python HEAD, really counts),
//! `qontract_reconcile_last_run_seconds`, `qontract_reconcile_last_run_status` and
//! `qontract_reconcile_execution_counter_total`. The other `dtp_*` metrics are new; every
//! metric is described in `docs/operations.md`. Every series carries
//! `integration="dynatrace-token-provider"`.
//!
//! Semantics: gauges describe the last completed run only — [`Metrics::run_finished`]
//! clears every run gauge before setting it from the [`Report`], under a lock that scrapes
//! also take, so a scrape never sees half a run and series of vanished clusters, tenants and
//! environments disappear. Counters accumulate over the life of the process. HTTP metrics
//! arrive through the [`HttpObserver`] that every client's `send()` reports to.

use crate::apply::ClusterOutcome;
use crate::clients::http::HttpObserver;
use crate::plan::{BundleOp, ClusterPlan};
use crate::reconcile::Report;
use crate::shard::Shard;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use secrecy::{ExposeSecret, SecretString};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The `integration` label of every series (and the Pushgateway grouping key).
pub const INTEGRATION: &str = "dynatrace-token-provider";
/// The Pushgateway `job` (as qontract-reconcile pushes it).
pub const PUSHGATEWAY_JOB: &str = "qontract-reconcile";
/// Content type of `/metrics`.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Content type of a Pushgateway push (Prometheus text format 0.0.4).
pub const PROMETHEUS_TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The `kind` label of the action metrics, in plan order.
pub const ACTION_KINDS: [&str; 5] = [
    "create_token",
    "update_token",
    "delete_token",
    "create_bundle",
    "patch_bundle",
];
const CREATE_TOKEN: usize = 0;
const UPDATE_TOKEN: usize = 1;
const DELETE_TOKEN: usize = 2;
const CREATE_BUNDLE: usize = 3;
const PATCH_BUNDLE: usize = 4;

/// Buckets of the request latency histogram (seconds).
const HTTP_BUCKETS: [f64; 13] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
/// Buckets of the run duration histogram (seconds).
const RUN_BUCKETS: [f64; 11] = [
    1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EnvLabels {
    ocm_env: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EnvTenantLabels {
    ocm_env: String,
    dt_tenant_id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OrgLabels {
    ocm_env: String,
    org_id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantLabels {
    dt_tenant_id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EnvResultLabels {
    ocm_env: String,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    system: &'static str,
    method: &'static str,
    status: Cow<'static, str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SystemMethodLabels {
    system: &'static str,
    method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RetryLabels {
    system: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SystemLabels {
    system: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindResultLabels {
    kind: &'static str,
    result: &'static str,
}

/// A family whose one series has no label of its own (so it can be cleared).
type NoLabels = Vec<(&'static str, &'static str)>;
type F64Gauge = Gauge<f64, AtomicU64>;
type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn http_histogram() -> Histogram {
    Histogram::new(HTTP_BUCKETS)
}

/// dtp's metrics. Cheap to share (`Arc`); every method takes `&self`.
pub struct Metrics {
    registry: Registry,
    shard: Shard,

    // qontract-reconcile's run wrapper.
    execution_counter: Counter,
    last_run_seconds: F64Gauge,
    last_run_status: Gauge<i64, AtomicI64>,

    // The Python integration's metrics.
    clusters_managed: Family<EnvLabels, Gauge>,
    tokens_managed: Family<EnvTenantLabels, Gauge>,
    org_reconciled: Family<OrgLabels, Counter>,
    org_errors: Family<OrgLabels, Counter>,

    // HTTP.
    http_requests: Family<RequestLabels, Counter>,
    http_duration: HistogramFamily<SystemMethodLabels>,
    http_retries: Family<RetryLabels, Counter>,
    http_throttled: Family<SystemLabels, Counter>,

    // Runs.
    actions_planned: Family<KindLabels, Gauge>,
    actions_applied: Family<KindResultLabels, Counter>,
    tokens_created: Family<EnvLabels, Counter>,
    tokens_updated: Family<EnvLabels, Counter>,
    tokens_deleted: Family<EnvLabels, Counter>,
    token_compensations: Family<EnvResultLabels, Counter>,
    clusters_skipped: Family<EnvLabels, Gauge>,
    clusters_failed: Family<EnvLabels, Gauge>,
    clusters_not_started: Family<EnvLabels, Gauge>,
    discovery_problems: Family<EnvLabels, Gauge>,
    ocm_env_failed: Family<EnvLabels, Gauge>,
    tenant_failed: Family<TenantLabels, Gauge>,
    last_run_dry_run: Family<NoLabels, Gauge>,
    run_duration: Histogram,
    last_run_timestamp: F64Gauge,
    last_success_timestamp: F64Gauge,

    /// Held for writing while a run's results are published, for reading while encoding.
    publish: RwLock<()>,
    heartbeat: Mutex<Instant>,
    shutting_down: AtomicBool,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("shard", &self.shard)
            .finish_non_exhaustive()
    }
}

fn label(
    k: &'static str,
    v: impl Into<Cow<'static, str>>,
) -> (Cow<'static, str>, Cow<'static, str>) {
    (Cow::Borrowed(k), v.into())
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn gauge_value(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The method label, from a fixed set (bounded cardinality).
fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "OTHER",
    }
}

/// The part of `<name>: <error>` before the first `": "`.
fn prefix(line: &str) -> &str {
    line.split_once(": ").map_or(line, |(p, _)| p)
}

impl Metrics {
    /// Registers every metric. `shard` becomes the `shards`/`shard_id` labels of the
    /// `qontract_reconcile_*` metrics and the Pushgateway grouping key.
    pub fn new(shard: Shard) -> Arc<Self> {
        let mut registry =
            Registry::with_labels(std::iter::once(label("integration", INTEGRATION)));
        let now = unix_now();
        let m = Self {
            shard,
            execution_counter: Counter::default(),
            last_run_seconds: F64Gauge::default(),
            last_run_status: Gauge::default(),
            clusters_managed: Family::default(),
            tokens_managed: Family::default(),
            org_reconciled: Family::default(),
            org_errors: Family::default(),
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(http_histogram),
            http_retries: Family::default(),
            http_throttled: Family::default(),
            actions_planned: Family::default(),
            actions_applied: Family::default(),
            tokens_created: Family::default(),
            tokens_updated: Family::default(),
            tokens_deleted: Family::default(),
            token_compensations: Family::default(),
            clusters_skipped: Family::default(),
            clusters_failed: Family::default(),
            clusters_not_started: Family::default(),
            discovery_problems: Family::default(),
            ocm_env_failed: Family::default(),
            tenant_failed: Family::default(),
            last_run_dry_run: Family::default(),
            run_duration: Histogram::new(RUN_BUCKETS),
            last_run_timestamp: F64Gauge::default(),
            last_success_timestamp: F64Gauge::default(),
            publish: RwLock::new(()),
            heartbeat: Mutex::new(Instant::now()),
            shutting_down: AtomicBool::new(false),
            registry: Registry::default(),
        };
        // Until a run finishes, "the last run" is the process start: `time() - x` is then the
        // time without a (successful) run, which is what the stuck-loop alert needs.
        m.last_run_timestamp.set(now);
        m.last_success_timestamp.set(now);
        // Every kind/result pair exists from the start, so `increase()` sees the first error.
        for kind in ACTION_KINDS {
            for result in ["ok", "error"] {
                drop(
                    m.actions_applied
                        .get_or_create(&KindResultLabels { kind, result }),
                );
            }
        }

        {
            let q = registry.sub_registry_with_labels(
                [
                    label("shards", shard.count.to_string()),
                    label("shard_id", shard.id.to_string()),
                ]
                .into_iter(),
            );
            q.register(
                "qontract_reconcile_last_run_seconds",
                "Last run duration in seconds",
                m.last_run_seconds.clone(),
            );
            q.register(
                "qontract_reconcile_last_run_status",
                "Last run status",
                m.last_run_status.clone(),
            );
            // Counters are exposed with `_total` appended.
            q.register(
                "qontract_reconcile_execution_counter",
                "Counts started integration executions",
                m.execution_counter.clone(),
            );
        }
        let r = &mut registry;
        r.register(
            "dtp_clusters_managed",
            "Gauge for the number of clusters DTP manages",
            m.clusters_managed.clone(),
        );
        r.register(
            "dtp_tokens_managed",
            "Gauge for the number of tokens DTP manages",
            m.tokens_managed.clone(),
        );
        r.register(
            "dtp_organization_reconciled",
            "Clusters reconciled, per OCM organization",
            m.org_reconciled.clone(),
        );
        r.register(
            "dtp_organization_reconcile_errors",
            "Clusters whose reconcile failed, per OCM organization",
            m.org_errors.clone(),
        );
        r.register(
            "dtp_http_requests",
            "HTTP requests sent (every attempt), by system, method and status (error: no response)",
            m.http_requests.clone(),
        );
        r.register(
            "dtp_http_request_duration_seconds",
            "HTTP request latency (every attempt), by system and method",
            m.http_duration.clone(),
        );
        r.register(
            "dtp_http_retries",
            "HTTP requests retried, by system and reason (429, 503, other)",
            m.http_retries.clone(),
        );
        r.register(
            "dtp_http_throttled",
            "HTTP 429 Too Many Requests answers, by system",
            m.http_throttled.clone(),
        );
        r.register(
            "dtp_actions_planned",
            "Writes the last run planned, by kind",
            m.actions_planned.clone(),
        );
        r.register(
            "dtp_actions_applied",
            "Planned writes performed, by kind and result",
            m.actions_applied.clone(),
        );
        r.register(
            "dtp_tokens_created",
            "Dynatrace tokens created",
            m.tokens_created.clone(),
        );
        r.register(
            "dtp_tokens_updated",
            "Dynatrace tokens renamed or re-scoped",
            m.tokens_updated.clone(),
        );
        r.register(
            "dtp_tokens_deleted",
            "Replaced Dynatrace tokens deleted after their successor was delivered",
            m.tokens_deleted.clone(),
        );
        r.register(
            "dtp_token_compensations",
            "Tokens created this run whose delivery failed, deleted again (ok) or left behind (error)",
            m.token_compensations.clone(),
        );
        r.register(
            "dtp_clusters_skipped",
            "Labelled clusters the last run did not serve (bad labels, organization not allowed, unknown tenant or spec)",
            m.clusters_skipped.clone(),
        );
        r.register(
            "dtp_clusters_failed",
            "Clusters whose reconcile failed in the last run",
            m.clusters_failed.clone(),
        );
        r.register(
            "dtp_clusters_not_started",
            "Clusters with planned changes the last run did not start (time limit or shutdown)",
            m.clusters_not_started.clone(),
        );
        r.register(
            "dtp_discovery_problems",
            "Objects OCM returned that the last run could not use",
            m.discovery_problems.clone(),
        );
        r.register(
            "dtp_ocm_environment_failed",
            "1 for an OCM environment the last run could not reconcile (SSO, client secret or discovery failed)",
            m.ocm_env_failed.clone(),
        );
        r.register(
            "dtp_tenant_failed",
            "1 for a Dynatrace tenant whose tokens the last run could not list",
            m.tenant_failed.clone(),
        );
        r.register(
            "dtp_last_run_dry_run",
            "1 when the last run was a dry-run",
            m.last_run_dry_run.clone(),
        );
        r.register(
            "dtp_run_duration_seconds",
            "Run duration",
            m.run_duration.clone(),
        );
        r.register(
            "dtp_last_run_timestamp_seconds",
            "Unix time the last run finished (process start before the first run)",
            m.last_run_timestamp.clone(),
        );
        r.register(
            "dtp_last_successful_run_timestamp_seconds",
            "Unix time the last run with exit code 0 finished (process start before the first)",
            m.last_success_timestamp.clone(),
        );
        Arc::new(Self { registry, ..m })
    }

    /// The shard this process serves.
    pub fn shard(&self) -> Shard {
        self.shard
    }

    /// Observer to put into `HttpSettings::observer` so every client reports its requests.
    pub fn http_observer(self: &Arc<Self>) -> Arc<dyn HttpObserver> {
        self.clone()
    }

    /// Records that the loop is alive (runs do it at start and end).
    pub fn heartbeat(&self) {
        *self.heartbeat.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    /// Time since the last heartbeat.
    pub fn heartbeat_age(&self) -> Duration {
        self.heartbeat
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
    }

    /// Before each run: `qontract_reconcile_execution_counter_total` +1 and a heartbeat.
    pub fn run_started(&self) {
        self.execution_counter.inc();
        self.heartbeat();
    }

    /// After each run: replaces every run gauge from `report` (`None`: the run could not
    /// start, so the run gauges are emptied), adds the counters, sets
    /// `qontract_reconcile_last_run_seconds` (`duration`) and `_status` (`exit_code`), the run
    /// duration histogram, the last-run timestamps, and beats the heart.
    pub fn run_finished(&self, report: Option<&Report>, exit_code: i32, duration: Duration) {
        let _publishing = self.publish.write().unwrap_or_else(|e| e.into_inner());
        let secs = duration.as_secs_f64();
        let now = unix_now();
        self.last_run_seconds.set(secs);
        self.last_run_status.set(i64::from(exit_code));
        self.run_duration.observe(secs);
        self.last_run_timestamp.set(now);
        if exit_code == 0 {
            self.last_success_timestamp.set(now);
        }
        self.clusters_managed.clear();
        self.tokens_managed.clear();
        self.actions_planned.clear();
        self.clusters_skipped.clear();
        self.clusters_failed.clear();
        self.clusters_not_started.clear();
        self.discovery_problems.clear();
        self.ocm_env_failed.clear();
        self.tenant_failed.clear();
        self.last_run_dry_run.clear();
        if let Some(r) = report {
            self.record(r);
        }
        self.heartbeat();
    }

    fn env_gauge(family: &Family<EnvLabels, Gauge>, env: &str) -> Gauge {
        family.get_or_create_owned(&EnvLabels {
            ocm_env: env.to_owned(),
        })
    }

    fn record(&self, r: &Report) {
        let env_of = |c: &crate::desired::ClusterRef| c.ocm_env.as_str().to_owned();
        let org = |c: &crate::desired::ClusterRef| OrgLabels {
            ocm_env: env_of(c),
            org_id: c.org.as_str().to_owned(),
        };
        self.last_run_dry_run
            .get_or_create(&NoLabels::new())
            .set(i64::from(r.dry_run));

        // Every environment the run served gets explicit zeros, so alerts compare numbers.
        let mut envs: BTreeSet<String> = BTreeSet::new();
        envs.extend(r.plan.clusters.iter().map(|c| env_of(&c.cluster)));
        envs.extend(r.plan.failed.iter().map(|f| env_of(&f.cluster)));
        envs.extend(r.plan.skipped.iter().map(|s| env_of(&s.cluster)));
        for env in &envs {
            for family in [
                &self.clusters_skipped,
                &self.clusters_failed,
                &self.clusters_not_started,
            ] {
                Self::env_gauge(family, env).set(0);
            }
        }
        for s in &r.plan.skipped {
            Self::env_gauge(&self.clusters_skipped, &env_of(&s.cluster)).inc();
        }
        for c in &r.not_started {
            Self::env_gauge(&self.clusters_not_started, &env_of(c)).inc();
        }

        // Planned actions.
        let mut planned = [0usize; 5];
        for cp in r.plan.changes() {
            planned[CREATE_TOKEN] += cp.creates.len();
            planned[UPDATE_TOKEN] += cp.updates.len();
            planned[DELETE_TOKEN] += cp.retires.len();
            match cp.bundle.as_ref().map(|b| b.op) {
                Some(BundleOp::Create) => planned[CREATE_BUNDLE] += 1,
                Some(BundleOp::Patch) => planned[PATCH_BUNDLE] += 1,
                None => {}
            }
        }
        for (kind, n) in ACTION_KINDS.iter().zip(planned) {
            self.actions_planned
                .get_or_create(&KindLabels { kind })
                .set(gauge_value(n));
        }

        // Clusters that could not be planned.
        for f in &r.plan.failed {
            let env = env_of(&f.cluster);
            Self::env_gauge(&self.clusters_managed, &env).inc();
            Self::env_gauge(&self.clusters_failed, &env).inc();
            let o = org(&f.cluster);
            self.org_reconciled.get_or_create(&o).inc();
            self.org_errors.get_or_create(&o).inc();
        }

        // Planned clusters, with their outcome when they were applied.
        let outcomes: BTreeMap<_, &ClusterOutcome> = r
            .outcomes
            .iter()
            .filter_map(|o| {
                o.cluster
                    .as_ref()
                    .map(|c| ((c.ocm_env.clone(), c.id.clone()), o))
            })
            .collect();
        let not_started: HashSet<_> = r
            .not_started
            .iter()
            .map(|c| (c.ocm_env.clone(), c.id.clone()))
            .collect();
        // Existing token ids and successfully delivered new tokens, per (env, tenant).
        let mut existing: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
        let mut delivered: BTreeMap<(String, String), usize> = BTreeMap::new();
        for cp in &r.plan.clusters {
            let c = &cp.cluster;
            let env = env_of(c);
            Self::env_gauge(&self.clusters_managed, &env).inc();
            for s in &cp.secrets {
                let ids = existing
                    .entry((env.clone(), s.tenant.as_str().to_owned()))
                    .or_default();
                ids.extend(
                    s.keys
                        .iter()
                        .filter_map(|k| k.token_id.as_ref().map(|id| id.as_str().to_owned())),
                );
            }
            let key = (c.ocm_env.clone(), c.id.clone());
            if not_started.contains(&key) {
                continue;
            }
            let o = org(c);
            self.org_reconciled.get_or_create(&o).inc();
            let errors = self.org_errors.get_or_create_owned(&o);
            let Some(outcome) = outcomes.get(&key) else {
                continue;
            };
            if outcome.failed() {
                errors.inc();
                Self::env_gauge(&self.clusters_failed, &env).inc();
            }
            let a = infer_applied(cp, outcome);
            for (i, kind) in ACTION_KINDS.iter().enumerate() {
                for (result, n) in [("ok", a.ok[i]), ("error", a.error[i])] {
                    if n > 0 {
                        self.actions_applied
                            .get_or_create(&KindResultLabels { kind, result })
                            .inc_by(count(n));
                    }
                }
            }
            let env_labels = EnvLabels {
                ocm_env: env.clone(),
            };
            for (family, n) in [
                (&self.tokens_created, outcome.tokens_created),
                (&self.tokens_updated, outcome.tokens_updated),
                (&self.tokens_deleted, outcome.tokens_deleted),
            ] {
                if n > 0 {
                    family.get_or_create(&env_labels).inc_by(count(n));
                }
            }
            for (result, n) in [("ok", a.compensated), ("error", a.leaked)] {
                if n > 0 {
                    self.token_compensations
                        .get_or_create(&EnvResultLabels {
                            ocm_env: env.clone(),
                            result,
                        })
                        .inc_by(count(n));
                }
            }
            for t in cp.creates.iter().take(a.delivered_creates) {
                *delivered
                    .entry((env.clone(), t.tenant.as_str().to_owned()))
                    .or_default() += 1;
            }
        }
        let mut tokens: BTreeMap<(String, String), usize> = existing
            .into_iter()
            .map(|(k, ids)| (k, ids.len()))
            .collect();
        for (k, n) in delivered {
            *tokens.entry(k).or_default() += n;
        }
        for ((ocm_env, dt_tenant_id), n) in tokens {
            self.tokens_managed
                .get_or_create(&EnvTenantLabels {
                    ocm_env,
                    dt_tenant_id,
                })
                .set(gauge_value(n));
        }

        // Environment- and tenant-level failures (`<name>: <error>`).
        for e in &r.env_errors {
            Self::env_gauge(&self.ocm_env_failed, prefix(e)).set(1);
        }
        for p in &r.discovery_problems {
            Self::env_gauge(&self.discovery_problems, prefix(p)).inc();
        }
        for t in &r.tenant_errors {
            self.tenant_failed
                .get_or_create(&TenantLabels {
                    dt_tenant_id: prefix(t).to_owned(),
                })
                .set(1);
        }
    }

    /// The OpenMetrics text of every metric (ends with `# EOF`).
    pub fn encode(&self) -> String {
        let _reading = self.publish.read().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "cannot encode the metrics");
        }
        out
    }

    /// `Ok` while the last heartbeat is younger than `expected_period`; else why not.
    pub fn health(&self, expected_period: Duration) -> Result<(), String> {
        let age = self.heartbeat_age();
        if age <= expected_period {
            Ok(())
        } else {
            Err(format!(
                "stale: last heartbeat {}s ago, expected within {}s (the run loop is stuck or stopped)",
                age.as_secs(),
                expected_period.as_secs()
            ))
        }
    }

    /// `/readyz` answers 503 from now on.
    pub fn set_shutting_down(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// `GET /metrics` (OpenMetrics), `/healthz` (200 while the last heartbeat is younger than
    /// `expected_period`, else 503 with the reason) and `/readyz` (200 until
    /// [`Metrics::set_shutting_down`], then 503).
    pub fn router(self: &Arc<Self>, expected_period: Duration) -> Router {
        let state = Arc::new(RouterState {
            metrics: self.clone(),
            expected_period,
        });
        Router::new()
            .route("/metrics", get(metrics_handler))
            .route("/healthz", get(healthz_handler))
            .route("/readyz", get(readyz_handler))
            .with_state(state)
    }
}

impl HttpObserver for Metrics {
    fn response(&self, system: &'static str, method: &str, status: Option<u16>, elapsed: Duration) {
        let method = method_label(method);
        let status_label = status.map_or(Cow::Borrowed("error"), |s| Cow::Owned(s.to_string()));
        self.http_requests
            .get_or_create(&RequestLabels {
                system,
                method,
                status: status_label,
            })
            .inc();
        self.http_duration
            .get_or_create(&SystemMethodLabels { system, method })
            .observe(elapsed.as_secs_f64());
        if status == Some(429) {
            self.http_throttled
                .get_or_create(&SystemLabels { system })
                .inc();
        }
    }

    fn retry(&self, system: &'static str, status: Option<u16>) {
        let reason = match status {
            Some(429) => "429",
            Some(503) => "503",
            _ => "other",
        };
        self.http_retries
            .get_or_create(&RetryLabels { system, reason })
            .inc();
    }
}

struct RouterState {
    metrics: Arc<Metrics>,
    expected_period: Duration,
}

async fn metrics_handler(State(s): State<Arc<RouterState>>) -> Response {
    (
        [(CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)],
        s.metrics.encode(),
    )
        .into_response()
}

async fn healthz_handler(State(s): State<Arc<RouterState>>) -> Response {
    match s.metrics.health(s.expected_period) {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")).into_response(),
    }
}

async fn readyz_handler(State(s): State<Arc<RouterState>>) -> Response {
    if s.metrics.is_shutting_down() {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response()
    } else {
        (StatusCode::OK, "ready\n").into_response()
    }
}

/// What happened to the planned actions of one applied cluster.
#[derive(Debug, Default, PartialEq, Eq)]
struct Applied {
    /// By [`ACTION_KINDS`] index.
    ok: [usize; 5],
    error: [usize; 5],
    /// New tokens deleted again because their delivery failed.
    compensated: usize,
    /// New tokens whose delivery failed and whose deletion failed too.
    leaked: usize,
    /// New tokens created and delivered (the first `n` of the plan's creates).
    delivered_creates: usize,
}

/// Derives per-action results from an outcome and the order in which `apply` works: tokens
/// are created in plan order and the first failure ends the cluster (nothing else is
/// attempted); then updates; then the bundle write, whose failure ends the cluster; then the
/// deletions of replaced tokens. Created tokens whose delivery failed are compensated.
fn infer_applied(cp: &ClusterPlan, o: &ClusterOutcome) -> Applied {
    let mut a = Applied::default();
    let creates_failed = o.tokens_created < cp.creates.len();
    a.ok[CREATE_TOKEN] = o.tokens_created;
    let mut delivery_failed = creates_failed;
    if creates_failed {
        a.error[CREATE_TOKEN] = 1;
    } else {
        a.ok[UPDATE_TOKEN] = o.tokens_updated;
        a.error[UPDATE_TOKEN] = cp.updates.len().saturating_sub(o.tokens_updated);
        if let Some(bw) = &cp.bundle {
            let kind = match bw.op {
                BundleOp::Create => CREATE_BUNDLE,
                BundleOp::Patch => PATCH_BUNDLE,
            };
            if o.bundle.is_some() {
                a.ok[kind] = 1;
            } else {
                a.error[kind] = 1;
                delivery_failed = true;
            }
        }
        if !delivery_failed {
            a.ok[DELETE_TOKEN] = o.tokens_deleted;
            a.error[DELETE_TOKEN] = cp.retires.len().saturating_sub(o.tokens_deleted);
        }
    }
    if delivery_failed {
        a.compensated = o.tokens_compensated;
        a.leaked = o.tokens_created.saturating_sub(o.tokens_compensated);
    } else {
        a.delivered_creates = o.tokens_created;
    }
    a
}

/// Converts OpenMetrics text (as [`Metrics::encode`] writes it) to the Prometheus text
/// format 0.0.4 the Pushgateway reads: counter families are named with their `_total`
/// suffix, HELP texts lose the full stop prometheus-client appends (so they equal the
/// Python integrations' HELP for the same families), `# UNIT` and `# EOF` lines are dropped.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let counters: HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len() + 64);
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let rewritten = ["# HELP ", "# TYPE "].iter().find_map(|tag| {
            let rest = line.strip_prefix(tag)?;
            let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            let suffix = if counters.contains(name) {
                "_total"
            } else {
                ""
            };
            // prometheus-client ends every HELP with a full stop; qontract-reconcile's (the
            // same families pushed by the Python integrations) have none.
            let tail = if *tag == "# HELP " {
                tail.strip_suffix('.').unwrap_or(tail)
            } else {
                tail
            };
            Some(format!("{tag}{name}{suffix} {tail}"))
        });
        match rewritten {
            Some(l) => out.push_str(l.trim_end()),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// Where one-shot runs push their metrics (`PUSHGATEWAY_*`).
pub struct Pushgateway {
    url: url::Url,
    username: Option<String>,
    password: Option<SecretString>,
}

impl std::fmt::Debug for Pushgateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pushgateway")
            .field("url", &self.url.as_str())
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

impl Pushgateway {
    /// From `PUSHGATEWAY_ENABLED` (non-empty and not `false`/`0`: enabled), `PUSHGATEWAY_URL`
    /// (required when enabled), `PUSHGATEWAY_USERNAME` and `PUSHGATEWAY_PASSWORD` (basic
    /// auth when given). `Ok(None)`: pushing is off.
    pub fn from_env(env: &crate::cli::Env) -> Result<Option<Self>, String> {
        let enabled = env
            .pushgateway_enabled
            .as_deref()
            .map(str::trim)
            .is_some_and(|v| !v.is_empty() && !v.eq_ignore_ascii_case("false") && v != "0");
        if !enabled {
            return Ok(None);
        }
        let raw = env
            .pushgateway_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .ok_or("PUSHGATEWAY_URL is required when PUSHGATEWAY_ENABLED is set")?;
        let url = url::Url::parse(raw).map_err(|e| format!("PUSHGATEWAY_URL is not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "PUSHGATEWAY_URL must be http(s), not '{}'",
                url.scheme()
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(
                "PUSHGATEWAY_URL must not hold credentials; use PUSHGATEWAY_USERNAME and PUSHGATEWAY_PASSWORD"
                    .into(),
            );
        }
        let non_empty =
            |v: &Option<String>| v.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
        Ok(Some(Self {
            url,
            username: non_empty(&env.pushgateway_username),
            password: non_empty(&env.pushgateway_password).map(SecretString::from),
        }))
    }

    /// `{url}/metrics/job/qontract-reconcile/integration/dynatrace-token-provider/shards/<N>/shard_id/<K>`.
    pub fn push_url(&self, shard: Shard) -> String {
        format!(
            "{}/metrics/job/{PUSHGATEWAY_JOB}/integration/{INTEGRATION}/shards/{}/shard_id/{}",
            self.url.as_str().trim_end_matches('/'),
            shard.count,
            shard.id
        )
    }

    /// PUTs every metric (Prometheus text format) to the grouping key of this integration and
    /// shard, replacing what the previous run pushed there. Errors never hold the password.
    pub async fn push(&self, metrics: &Metrics, http: &reqwest::Client) -> Result<(), String> {
        let url = self.push_url(metrics.shard());
        let body = to_prometheus_text(&metrics.encode());
        let mut req = http
            .put(&url)
            .header(reqwest::header::CONTENT_TYPE, PROMETHEUS_TEXT_CONTENT_TYPE)
            .timeout(Duration::from_secs(30))
            .body(body);
        if self.username.is_some() || self.password.is_some() {
            req = req.basic_auth(
                self.username.as_deref().unwrap_or_default(),
                self.password.as_ref().map(|p| p.expose_secret().to_owned()),
            );
        }
        let result = match req.send().await {
            Err(e) => Err(format!("Pushgateway PUT {url}: {}", e.without_url())),
            Ok(resp) if resp.status().is_success() => Ok(()),
            Ok(resp) => {
                let status = resp.status();
                let text = resp.text().await.unwrap_or_default();
                let text: String = text.trim().chars().take(300).collect();
                Err(format!(
                    "Pushgateway PUT {url}: HTTP {}: {text}",
                    status.as_u16()
                ))
            }
        };
        result.map_err(|e| self.scrub(&e))
    }

    fn scrub(&self, text: &str) -> String {
        match self.password.as_ref().map(|p| p.expose_secret()) {
            Some(p) if !p.is_empty() => text.replace(p, "[redacted]"),
            _ => text.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Env;
    use crate::desired::ClusterRef;
    use crate::model::bundle::BundleKind;
    use crate::model::{TenantId, TokenId};
    use crate::plan::{BundleWrite, CreateReason, TokenCreate, TokenRetire, TokenUpdate};

    fn cluster() -> ClusterRef {
        ClusterRef {
            ocm_env: "env".into(),
            id: "c1".into(),
            external_id: "uuid-1".into(),
            name: "c1".into(),
            org: "org".into(),
            kind: BundleKind::SyncSet,
        }
    }

    fn plan(
        creates: usize,
        updates: usize,
        retires: usize,
        bundle: Option<BundleOp>,
    ) -> ClusterPlan {
        let tenant = TenantId::from("t");
        ClusterPlan {
            cluster: cluster(),
            creates: (0..creates)
                .map(|slot| TokenCreate {
                    slot,
                    tenant: tenant.clone(),
                    name: format!("n{slot}"),
                    scopes: vec![],
                    reason: CreateReason::Missing,
                    secret: "ns/s".into(),
                    key: format!("k{slot}"),
                })
                .collect(),
            updates: (0..updates)
                .map(|i| TokenUpdate {
                    tenant: tenant.clone(),
                    id: TokenId::new(format!("u{i}")),
                    name: "n".into(),
                    scopes: vec![],
                    current_name: "old".into(),
                    current_scopes: None,
                })
                .collect(),
            bundle: bundle.map(|op| BundleWrite {
                op,
                kind: BundleKind::SyncSet,
                reasons: vec![],
            }),
            retires: (0..retires)
                .map(|i| TokenRetire {
                    tenant: tenant.clone(),
                    id: TokenId::new(format!("r{i}")),
                    name: "r".into(),
                    reason: CreateReason::Disabled,
                })
                .collect(),
            secrets: vec![],
            desired: vec![],
        }
    }

    fn outcome(
        created: usize,
        updated: usize,
        deleted: usize,
        compensated: usize,
        bundle: Option<BundleOp>,
        failed: bool,
    ) -> ClusterOutcome {
        ClusterOutcome {
            cluster: Some(cluster()),
            tokens_created: created,
            tokens_updated: updated,
            tokens_deleted: deleted,
            tokens_compensated: compensated,
            bundle,
            service_log: None,
            errors: if failed { vec!["boom".into()] } else { vec![] },
            started: true,
        }
    }

    #[test]
    fn a_fully_applied_cluster_counts_every_action_as_ok() {
        let cp = plan(2, 1, 1, Some(BundleOp::Patch));
        let a = infer_applied(&cp, &outcome(2, 1, 1, 0, Some(BundleOp::Patch), false));
        assert_eq!(a.ok, [2, 1, 1, 0, 1]);
        assert_eq!(a.error, [0; 5]);
        assert_eq!((a.compensated, a.leaked, a.delivered_creates), (0, 0, 2));
    }

    #[test]
    fn a_failed_delivery_counts_the_bundle_error_and_the_compensations() {
        let cp = plan(2, 0, 1, Some(BundleOp::Create));
        let a = infer_applied(&cp, &outcome(2, 0, 0, 1, None, true));
        assert_eq!(a.ok, [2, 0, 0, 0, 0]);
        assert_eq!(a.error, [0, 0, 0, 1, 0]);
        assert_eq!((a.compensated, a.leaked, a.delivered_creates), (1, 1, 0));
    }

    #[test]
    fn a_failed_token_creation_stops_the_cluster() {
        let cp = plan(2, 1, 0, Some(BundleOp::Patch));
        let a = infer_applied(&cp, &outcome(1, 0, 0, 1, None, true));
        assert_eq!(a.ok, [1, 0, 0, 0, 0]);
        assert_eq!(a.error, [1, 0, 0, 0, 0]);
        assert_eq!((a.compensated, a.leaked, a.delivered_creates), (1, 0, 0));
    }

    #[test]
    fn counters_are_exposed_with_total_once_in_prometheus_text() {
        let m = Metrics::new(Shard::default());
        m.run_started();
        let om = m.encode();
        assert!(
            om.contains("# TYPE qontract_reconcile_execution_counter counter"),
            "{om}"
        );
        assert!(om.ends_with("# EOF\n"));
        let text = to_prometheus_text(&om);
        assert!(
            text.contains("# TYPE qontract_reconcile_execution_counter_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "# HELP qontract_reconcile_execution_counter_total Counts started integration executions\n"
            ),
            "{text}"
        );
        assert!(text.contains(
            "qontract_reconcile_execution_counter_total{integration=\"dynatrace-token-provider\",shards=\"1\",shard_id=\"0\"} 1\n"
        ), "{text}");
        assert!(text.contains("# TYPE qontract_reconcile_last_run_seconds gauge\n"));
        assert!(!text.contains("# EOF"));
        assert!(!text.contains("_total_total"));
    }

    #[test]
    fn http_attempts_and_retries_are_counted_by_system_method_and_status() {
        let m = Metrics::new(Shard::default());
        let o = m.http_observer();
        o.response("dynatrace", "POST", Some(429), Duration::from_millis(3));
        o.retry("dynatrace", Some(429));
        o.response("dynatrace", "POST", Some(201), Duration::from_millis(3));
        o.response("ocm", "GET", None, Duration::from_millis(3));
        o.retry("ocm", None);
        let t = m.encode();
        for want in [
            "dtp_http_requests_total{integration=\"dynatrace-token-provider\",system=\"dynatrace\",method=\"POST\",status=\"429\"} 1",
            "dtp_http_requests_total{integration=\"dynatrace-token-provider\",system=\"dynatrace\",method=\"POST\",status=\"201\"} 1",
            "dtp_http_requests_total{integration=\"dynatrace-token-provider\",system=\"ocm\",method=\"GET\",status=\"error\"} 1",
            "dtp_http_retries_total{integration=\"dynatrace-token-provider\",system=\"dynatrace\",reason=\"429\"} 1",
            "dtp_http_retries_total{integration=\"dynatrace-token-provider\",system=\"ocm\",reason=\"other\"} 1",
            "dtp_http_throttled_total{integration=\"dynatrace-token-provider\",system=\"dynatrace\"} 1",
            "dtp_http_request_duration_seconds_count{integration=\"dynatrace-token-provider\",system=\"dynatrace\",method=\"POST\"} 2",
        ] {
            assert!(t.contains(want), "missing {want} in\n{t}");
        }
    }

    #[test]
    fn a_run_that_could_not_start_sets_the_status_and_empties_the_run_gauges() {
        let m = Metrics::new(Shard::new(3, 2).unwrap());
        m.run_started();
        m.run_finished(None, 2, Duration::from_millis(1500));
        let t = m.encode();
        assert!(t.contains("qontract_reconcile_last_run_status{integration=\"dynatrace-token-provider\",shards=\"3\",shard_id=\"2\"} 2\n"), "{t}");
        assert!(t.contains("qontract_reconcile_last_run_seconds{integration=\"dynatrace-token-provider\",shards=\"3\",shard_id=\"2\"} 1.5\n"), "{t}");
        assert!(!t.contains("dtp_clusters_managed{"), "{t}");
        assert!(
            t.contains(
                "dtp_run_duration_seconds_count{integration=\"dynatrace-token-provider\"} 1\n"
            ),
            "{t}"
        );
    }

    #[test]
    fn health_turns_stale_after_the_expected_period() {
        let m = Metrics::new(Shard::default());
        assert!(m.health(Duration::from_secs(60)).is_ok());
        std::thread::sleep(Duration::from_millis(20));
        let e = m.health(Duration::from_millis(1)).unwrap_err();
        assert!(e.starts_with("stale"), "{e}");
        m.heartbeat();
        assert!(m.health(Duration::from_secs(1)).is_ok());
    }

    fn env(enabled: Option<&str>, url: Option<&str>) -> Env {
        Env {
            pushgateway_enabled: enabled.map(Into::into),
            pushgateway_url: url.map(Into::into),
            pushgateway_username: Some("user".into()),
            pushgateway_password: Some("pw-secret".into()),
            ..Env::default()
        }
    }

    #[test]
    fn the_pushgateway_is_off_unless_enabled() {
        for v in [None, Some(""), Some("false"), Some("FALSE"), Some("0")] {
            assert!(
                Pushgateway::from_env(&env(v, Some("http://pg:9091")))
                    .unwrap()
                    .is_none(),
                "{v:?}"
            );
        }
        let pg = Pushgateway::from_env(&env(Some("true"), Some("http://pg:9091/")))
            .unwrap()
            .unwrap();
        assert_eq!(
            pg.push_url(Shard::new(2, 1).unwrap()),
            "http://pg:9091/metrics/job/qontract-reconcile/integration/dynatrace-token-provider/shards/2/shard_id/1"
        );
        assert!(!format!("{pg:?}").contains("pw-secret"));
    }

    #[test]
    fn an_enabled_pushgateway_needs_a_url_and_says_which_variable_is_missing() {
        let e = Pushgateway::from_env(&env(Some("1"), None)).unwrap_err();
        assert!(e.contains("PUSHGATEWAY_URL"), "{e}");
        let e = Pushgateway::from_env(&env(Some("yes"), Some("not a url"))).unwrap_err();
        assert!(e.contains("PUSHGATEWAY_URL"), "{e}");
        let e =
            Pushgateway::from_env(&env(Some("yes"), Some("http://u:pw-secret@pg"))).unwrap_err();
        assert!(!e.contains("pw-secret"), "{e}");
    }
}
