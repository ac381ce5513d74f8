//! Prometheus metrics of dtp (prometheus-client, OpenMetrics text): the registry and the
//! families ([`Metrics`]), what a finished run records ([`record`]), the `/metrics`,
//! `/healthz` and `/readyz` endpoints ([`server`]), and the Prometheus text format the
//! Pushgateway reads ([`text`]).
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
//! clears every run gauge before setting it from the [`Report`](crate::reconcile::Report),
//! under a lock that scrapes also take, so a scrape never sees half a run and series of
//! vanished clusters, tenants and environments disappear. Counters accumulate over the life of
//! the process. HTTP metrics arrive through the [`HttpObserver`] that every client's `send()`
//! reports to.

mod labels;
mod observe;
mod record;
mod server;
mod text;

use labels::*;

use crate::action::ActionKind;
use crate::clients::http::HttpObserver;
use crate::clients::limit::LimitObserver;
use crate::clients::pushgateway::GroupingShard;
use crate::model::INTEGRATION_NAME;
use crate::shard::Shard;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The `integration` label of every series (and the Pushgateway grouping key).
pub const INTEGRATION: &str = INTEGRATION_NAME;
/// Content type of `/metrics`.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Buckets of the request latency histogram (seconds).
const HTTP_BUCKETS: [f64; 13] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
/// Buckets of the run duration histogram (seconds).
const RUN_BUCKETS: [f64; 11] = [
    1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0,
];

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
    concurrency_limit: Family<TargetLabels, Gauge>,

    // Runs.
    actions_planned: Family<KindLabels, Gauge>,
    actions_applied: Family<KindResultLabels, Counter>,
    tokens_created: Family<EnvLabels, Counter>,
    tokens_updated: Family<EnvLabels, Counter>,
    tokens_deleted: Family<EnvLabels, Counter>,
    tokens_collected: Family<EnvLabels, Counter>,
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
            concurrency_limit: Family::default(),
            actions_planned: Family::default(),
            actions_applied: Family::default(),
            tokens_created: Family::default(),
            tokens_updated: Family::default(),
            tokens_deleted: Family::default(),
            tokens_collected: Family::default(),
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
        for kind in ActionKind::ALL.map(ActionKind::label) {
            for result in ["ok", "error"] {
                drop(
                    m.actions_applied
                        .get_or_create(&KindResultLabels { kind, result }),
                );
            }
        }

        m.register_qontract(&mut registry);
        m.register_python(&mut registry);
        m.register_http(&mut registry);
        m.register_run(&mut registry);
        m.register_last_run(&mut registry);
        Arc::new(Self { registry, ..m })
    }

    /// qontract-reconcile's run wrapper metrics, labelled with the shard.
    fn register_qontract(&self, registry: &mut Registry) {
        let (m, shard) = (self, self.shard);
        let q = registry.sub_registry_with_labels(
            [
                label("shards", shard.count.to_string()),
                label("shard_id", shard.key().to_string()),
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

    /// The Python integration's metrics.
    fn register_python(&self, r: &mut Registry) {
        let m = self;
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
    }

    /// Requests to every external system.
    fn register_http(&self, r: &mut Registry) {
        let m = self;
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
            "dtp_concurrency_limit",
            "Calls allowed in flight to a target (OCM environment, SSO, Dynatrace tenant, Vault, ...): the configured maximum, less while the target throttles",
            m.concurrency_limit.clone(),
        );
    }

    /// What runs planned and did.
    fn register_run(&self, r: &mut Registry) {
        let m = self;
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
            "dtp_tokens_collected",
            "Orphaned Dynatrace tokens (named for a served or departed cluster, referenced by no delivered Secret) deleted",
            m.tokens_collected.clone(),
        );
        r.register(
        "dtp_token_compensations",
        "Tokens created this run whose delivery failed, deleted again (ok) or left behind (error)",
        m.token_compensations.clone(),
    );
    }

    /// The state of the last run.
    fn register_last_run(&self, r: &mut Registry) {
        let m = self;
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
    }

    /// The shard this process serves.
    pub fn shard(&self) -> Shard {
        self.shard
    }

    /// The shard part of the Pushgateway grouping key.
    pub fn grouping(&self) -> GroupingShard {
        GroupingShard {
            shards: self.shard.count,
            shard_id: self.shard.key(),
        }
    }

    /// Observer to put into `HttpSettings::observer` so every client reports its requests.
    pub fn http_observer(self: &Arc<Self>) -> Arc<dyn HttpObserver> {
        self.clone()
    }

    /// Observer for [`crate::clients::limit::Limits`], so the current limits are metrics.
    pub fn limit_observer(self: &Arc<Self>) -> Arc<dyn LimitObserver> {
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

    /// The Prometheus text format 0.0.4 of every metric, for the Pushgateway: counters named
    /// with their `_total`, HELP texts as qontract-reconcile's (no full stop).
    pub fn encode_prometheus(&self) -> String {
        let _reading = self.publish.read().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        if let Err(e) =
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
        {
            tracing::error!(error = %e, "cannot encode the metrics");
        }
        text::without_help_full_stops(&out)
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let text = m.encode_prometheus();
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
            "qontract_reconcile_execution_counter_total{integration=\"dynatrace-token-provider\",shards=\"1\",shard_id=\"0-1\"} 1\n"
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
        assert!(t.contains("qontract_reconcile_last_run_status{integration=\"dynatrace-token-provider\",shards=\"3\",shard_id=\"2-3\"} 2\n"), "{t}");
        assert!(t.contains("qontract_reconcile_last_run_seconds{integration=\"dynatrace-token-provider\",shards=\"3\",shard_id=\"2-3\"} 1.5\n"), "{t}");
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
}
