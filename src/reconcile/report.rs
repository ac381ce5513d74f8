//! What one run saw, planned and did: the [`Report`], and its failures as typed values
//! ([`Failure`]: an OCM environment, a discovery problem, a tenant, a cluster, a cluster not
//! started). Every view — plan formats, summary, metrics, the exit code — reads this.

use crate::action::ActionOutcome;
use crate::apply::{ClusterOutcome, DepartedOutcome};
use crate::config::Mode;
use crate::model::{ClusterRef, ExternalClusterId, OcmEnvName, TenantId};
use crate::plan::Plan;
use crate::shard::Shard;
use serde::Serialize;
use std::fmt;
use std::time::Duration;

/// One failure of a run, with the object it is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "scope", rename_all = "snake_case")]
pub enum Failure {
    /// An OCM environment could not be reconciled at all (client secret, SSO, discovery).
    OcmEnvironment { env: OcmEnvName, error: String },
    /// An object OCM returned that dtp could not use.
    Discovery { env: OcmEnvName, problem: String },
    /// A Dynatrace tenant whose tokens could not be listed (its clusters fail too).
    Tenant { tenant: TenantId, error: String },
    /// A cluster that could not be planned, or whose apply failed.
    Cluster { cluster: ClusterRef, error: String },
    /// A cluster with planned changes that the run did not start (time limit or shutdown).
    NotStarted { cluster: ClusterRef },
    /// A token of a cluster that left the fleet could not be deleted.
    Departed {
        cluster: ExternalClusterId,
        error: String,
    },
    /// A deletion the per-run budget (`--max-deletions`) did not allow.
    Budget {
        cluster: String,
        action: String,
        max: usize,
    },
}

/// One line, as the Python integration words its errors: `<env>: <error>` for an
/// environment, `<env>/<org>/<cluster id>: <error>` for a cluster.
impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OcmEnvironment { env, error } => write!(f, "{env}: {error}"),
            Self::Discovery { env, problem } => write!(f, "{env}: {problem}"),
            Self::Tenant { tenant, error } => write!(f, "{tenant}: {error}"),
            Self::Cluster { cluster, error } => write!(f, "{cluster}: {error}"),
            Self::NotStarted { cluster } => write!(
                f,
                "{cluster}: not reconciled: the run was stopped (time limit or shutdown) before it started"
            ),
            Self::Departed { cluster, error } => write!(f, "departed cluster {cluster}: {error}"),
            Self::Budget {
                cluster,
                action,
                max,
            } => write!(
                f,
                "{cluster}: not done, the deletion budget of this run (--max-deletions {max}) is used up: {action}"
            ),
        }
    }
}

/// What one run saw, planned and did.
#[derive(Debug, Serialize)]
pub struct Report {
    pub mode: Mode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle_sha: Option<String>,
    pub clusters_discovered: usize,
    pub plan: Plan,
    /// Outcomes of the clusters the run applied (empty in dry-run).
    pub outcomes: Vec<ClusterOutcome>,
    /// Outcomes of the collection of departed clusters' tokens (empty in dry-run).
    pub departed: Vec<DepartedOutcome>,
    /// OCM environments that could not be reconciled ([`Failure::OcmEnvironment`]).
    pub env_failures: Vec<Failure>,
    /// Objects OCM returned that dtp could not use ([`Failure::Discovery`]).
    pub discovery_problems: Vec<Failure>,
    /// Tenants whose tokens could not be listed ([`Failure::Tenant`]).
    pub tenant_failures: Vec<Failure>,
    /// `--cluster` filters that matched no labelled cluster.
    pub unmatched_filters: Vec<String>,
    /// Clusters with planned changes that were not started because the run was cancelled
    /// (time limit or shutdown).
    pub not_started: Vec<ClusterRef>,
    /// The existing tokens the plans keep delivering, per (environment, tenant).
    #[serde(skip)]
    pub kept_tokens: crate::plan::KeptTokens,
    /// The shard this run served.
    #[serde(skip)]
    pub shard: Shard,
    #[serde(with = "secs")]
    pub duration: Duration,
}

mod secs {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

impl Report {
    pub fn dry_run(&self) -> bool {
        self.mode.is_dry_run()
    }

    /// Every failure of the run, in report order: environments, discovery problems, clusters
    /// that could not be planned, clusters whose apply failed, clusters not started. Tenant
    /// failures show as the failures of their clusters.
    pub fn failures(&self) -> Vec<Failure> {
        let mut out: Vec<Failure> = self.env_failures.clone();
        out.extend(self.discovery_problems.iter().cloned());
        out.extend(self.plan.failed.iter().map(|f| Failure::Cluster {
            cluster: f.cluster.clone(),
            error: f.error.clone(),
        }));
        for o in &self.outcomes {
            out.extend(o.errors().into_iter().map(|error| Failure::Cluster {
                cluster: o.cluster.clone(),
                error,
            }));
        }
        out.extend(
            self.not_started
                .iter()
                .map(|c| Failure::NotStarted { cluster: c.clone() }),
        );
        for d in &self.departed {
            out.extend(
                d.actions
                    .iter()
                    .filter_map(ActionOutcome::failure)
                    .map(|error| Failure::Departed {
                        cluster: d.cluster.clone(),
                        error,
                    }),
            );
        }
        out.extend(self.plan.withheld.iter().map(|w| Failure::Budget {
            cluster: w.cluster.clone(),
            action: w.action.describe(),
            max: self.plan.max_deletions,
        }));
        out
    }

    /// [`Report::failures`], one line each.
    pub fn errors(&self) -> Vec<String> {
        self.failures().iter().map(ToString::to_string).collect()
    }

    pub fn exit_code(&self) -> i32 {
        if self.failures().is_empty() {
            crate::exit::OK
        } else {
            crate::exit::PARTIAL
        }
    }
}
