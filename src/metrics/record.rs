//! What a finished run records: every run gauge replaced from the [`Report`], counters added
//! from the action outcomes. Everything is derived from the report's typed values (plan
//! actions, [`ActionOutcome`]s, typed failures): nothing is inferred from the order in which
//! the executor works or parsed out of an error text.

use super::{
    EnvLabels, EnvResultLabels, EnvTenantLabels, KindLabels, KindResultLabels, Metrics, NoLabels,
    OrgLabels, TenantLabels, gauge_value, unix_now,
};
use crate::action::{Action, ActionKind, ActionOutcome, Outcome};
use crate::apply::ClusterOutcome;
use crate::model::ClusterRef;
use crate::reconcile::{Failure, Report};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

/// `(ocm env, tenant)`, the key of `dtp_tokens_managed`.
type EnvTenant = (String, String);

impl Metrics {
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
        if exit_code == crate::exit::OK {
            self.last_success_timestamp.set(now);
        }
        self.clear_run_gauges();
        if let Some(r) = report {
            self.record(r);
        }
        self.heartbeat();
    }

    fn clear_run_gauges(&self) {
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
    }

    fn env_gauge(family: &Family<EnvLabels, Gauge>, env: &str) -> Gauge {
        family.get_or_create_owned(&EnvLabels {
            ocm_env: env.to_owned(),
        })
    }

    fn record(&self, r: &Report) {
        self.last_run_dry_run
            .get_or_create(&NoLabels::new())
            .set(i64::from(r.dry_run()));
        self.record_cluster_counts(r);
        self.record_planned(r);
        self.record_clusters(r);
        self.record_tokens_managed(r);
        self.record_failures(r);
    }

    /// Skipped, not-started (and, with explicit zeros, failed) clusters per environment.
    fn record_cluster_counts(&self, r: &Report) {
        // Every environment the run served gets explicit zeros, so alerts compare numbers.
        let mut envs: BTreeSet<&str> = BTreeSet::new();
        envs.extend(r.plan.clusters.iter().map(|c| c.cluster.ocm_env.as_str()));
        envs.extend(r.plan.failed.iter().map(|f| f.cluster.ocm_env.as_str()));
        envs.extend(r.plan.skipped.iter().map(|s| s.cluster.ocm_env.as_str()));
        for env in envs {
            for family in [
                &self.clusters_skipped,
                &self.clusters_failed,
                &self.clusters_not_started,
            ] {
                Self::env_gauge(family, env).set(0);
            }
        }
        for s in &r.plan.skipped {
            Self::env_gauge(&self.clusters_skipped, s.cluster.ocm_env.as_str()).inc();
        }
        for c in &r.not_started {
            Self::env_gauge(&self.clusters_not_started, c.ocm_env.as_str()).inc();
        }
    }

    /// `dtp_actions_planned`, from the plan's actions.
    fn record_planned(&self, r: &Report) {
        let mut planned: BTreeMap<ActionKind, i64> =
            ActionKind::ALL.iter().map(|k| (*k, 0)).collect();
        for (_, action) in r.plan.actions() {
            *planned.entry(action.kind()).or_default() += 1;
        }
        for (kind, n) in planned {
            self.actions_planned
                .get_or_create(&KindLabels { kind: kind.label() })
                .set(n);
        }
    }

    /// Per cluster: managed and failed gauges, the organization counters, and the counters of
    /// the applied actions.
    fn record_clusters(&self, r: &Report) {
        for f in &r.plan.failed {
            let env = f.cluster.ocm_env.as_str();
            Self::env_gauge(&self.clusters_managed, env).inc();
            Self::env_gauge(&self.clusters_failed, env).inc();
            let o = org(&f.cluster);
            self.org_reconciled.get_or_create(&o).inc();
            self.org_errors.get_or_create(&o).inc();
        }
        let outcomes: BTreeMap<&ClusterRef, &ClusterOutcome> =
            r.outcomes.iter().map(|o| (&o.cluster, o)).collect();
        let not_started: HashSet<&ClusterRef> = r.not_started.iter().collect();
        for cp in &r.plan.clusters {
            let c = &cp.cluster;
            Self::env_gauge(&self.clusters_managed, c.ocm_env.as_str()).inc();
            if not_started.contains(c) {
                continue;
            }
            let o = org(c);
            self.org_reconciled.get_or_create(&o).inc();
            let errors = self.org_errors.get_or_create_owned(&o);
            let Some(outcome) = outcomes.get(c) else {
                continue;
            };
            if outcome.failed() {
                errors.inc();
                Self::env_gauge(&self.clusters_failed, c.ocm_env.as_str()).inc();
            }
            self.record_outcomes(c.ocm_env.as_str(), &outcome.actions);
        }
        // Departed clusters belong to no OCM environment any more.
        for d in &r.departed {
            self.record_outcomes("", &d.actions);
        }
    }

    /// The counters of one cluster's action outcomes.
    fn record_outcomes(&self, env: &str, actions: &[ActionOutcome]) {
        let env_labels = EnvLabels {
            ocm_env: env.to_owned(),
        };
        for a in actions {
            if let Some(result) = a.outcome.result_label() {
                self.actions_applied
                    .get_or_create(&KindResultLabels {
                        kind: a.action.kind().label(),
                        result,
                    })
                    .inc();
            }
            let counter = match (&a.action, a.outcome.performed()) {
                (Action::CreateToken(_), true) => Some(&self.tokens_created),
                (Action::UpdateToken(_), true) => {
                    matches!(a.outcome, Outcome::Done).then_some(&self.tokens_updated)
                }
                (Action::DeleteToken(_), true) => {
                    matches!(a.outcome, Outcome::Done).then_some(&self.tokens_deleted)
                }
                (Action::CollectToken(_), true) => {
                    matches!(a.outcome, Outcome::Done).then_some(&self.tokens_collected)
                }
                (Action::CreateBundle(_) | Action::PatchBundle(_), _) | (_, false) => None,
            };
            if let Some(c) = counter {
                c.get_or_create(&env_labels).inc();
            }
            let compensation = match &a.outcome {
                Outcome::RolledBack => Some("ok"),
                Outcome::RollbackFailed { .. } => Some("error"),
                Outcome::Done | Outcome::Failed { .. } | Outcome::Skipped { .. } => None,
            };
            if let Some(result) = compensation {
                self.token_compensations
                    .get_or_create(&EnvResultLabels {
                        ocm_env: env.to_owned(),
                        result,
                    })
                    .inc();
            }
        }
    }

    /// `dtp_tokens_managed`: the distinct delivered token ids the plan keeps, plus the new
    /// tokens that were created and delivered, per (environment, tenant).
    fn record_tokens_managed(&self, r: &Report) {
        let mut tokens: BTreeMap<EnvTenant, usize> = r
            .kept_tokens
            .iter()
            .map(|((env, tenant), ids)| {
                (
                    (env.as_str().to_owned(), tenant.as_str().to_owned()),
                    ids.len(),
                )
            })
            .collect();
        for o in &r.outcomes {
            for a in &o.actions {
                if let (Action::CreateToken(t), Outcome::Done) = (&a.action, &a.outcome) {
                    let key = (
                        o.cluster.ocm_env.as_str().to_owned(),
                        t.tenant.as_str().to_owned(),
                    );
                    *tokens.entry(key).or_default() += 1;
                }
            }
        }
        for ((ocm_env, dt_tenant_id), n) in tokens {
            self.tokens_managed
                .get_or_create(&EnvTenantLabels {
                    ocm_env,
                    dt_tenant_id,
                })
                .set(gauge_value(n));
        }
    }

    /// Environment-, discovery- and tenant-level failures, from their typed values.
    fn record_failures(&self, r: &Report) {
        for f in r
            .env_failures
            .iter()
            .chain(&r.discovery_problems)
            .chain(&r.tenant_failures)
        {
            match f {
                Failure::OcmEnvironment { env, .. } => {
                    Self::env_gauge(&self.ocm_env_failed, env.as_str()).set(1);
                }
                Failure::Discovery { env, .. } => {
                    Self::env_gauge(&self.discovery_problems, env.as_str()).inc();
                }
                Failure::Tenant { tenant, .. } => {
                    self.tenant_failed
                        .get_or_create(&TenantLabels {
                            dt_tenant_id: tenant.as_str().to_owned(),
                        })
                        .set(1);
                }
                Failure::Cluster { .. }
                | Failure::NotStarted { .. }
                | Failure::Departed { .. }
                | Failure::Budget { .. } => {}
            }
        }
    }
}

fn org(c: &ClusterRef) -> OrgLabels {
    OrgLabels {
        ocm_env: c.ocm_env.as_str().to_owned(),
        org_id: c.org.as_str().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::{BundleWrite, CreateReason, TokenCreate, TokenDelete, TokenUpdate};
    use crate::model::bundle::BundleKind;
    use crate::model::{TenantId, TokenId};
    use crate::shard::Shard;

    fn create(slot: usize) -> Action {
        Action::CreateToken(TokenCreate {
            slot,
            tenant: TenantId::from("t"),
            name: format!("n{slot}"),
            scopes: vec![],
            reason: CreateReason::Missing,
            secret: "ns/s".into(),
            key: format!("k{slot}"),
        })
    }
    fn update() -> Action {
        Action::UpdateToken(TokenUpdate {
            tenant: TenantId::from("t"),
            id: TokenId::new("u0"),
            name: "n".into(),
            scopes: vec![],
            current_name: "old".into(),
            current_scopes: None,
        })
    }
    fn delete() -> Action {
        Action::DeleteToken(TokenDelete {
            tenant: TenantId::from("t"),
            id: TokenId::new("r0"),
            name: "r".into(),
            reason: CreateReason::Disabled,
        })
    }
    fn bundle(create: bool) -> Action {
        let b = BundleWrite {
            kind: BundleKind::SyncSet,
            reasons: vec![],
        };
        if create {
            Action::CreateBundle(b)
        } else {
            Action::PatchBundle(b)
        }
    }
    fn o(action: Action, outcome: Outcome) -> ActionOutcome {
        ActionOutcome::new(action, outcome)
    }
    const SKIPPED: Outcome = Outcome::Skipped {
        reason: crate::action::SkipReason::EarlierFailure,
    };
    fn failed() -> Outcome {
        Outcome::Failed {
            error: "boom".into(),
        }
    }

    /// The `dtp_actions_applied_total` values, as `kind/result=n`, and the token counters.
    fn counted(outcomes: &[ActionOutcome]) -> (Vec<String>, String) {
        let m = Metrics::new(Shard::default());
        m.record_outcomes("env", outcomes);
        let t = m.encode();
        let mut applied: Vec<String> = t
            .lines()
            .filter(|l| l.starts_with("dtp_actions_applied_total{") && !l.ends_with(" 0"))
            .map(|l| {
                let kind = l
                    .split("kind=\"")
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap();
                let result = l
                    .split("result=\"")
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap();
                format!("{kind}/{result}={}", l.rsplit(' ').next().unwrap())
            })
            .collect();
        applied.sort();
        (applied, t)
    }

    #[test]
    fn a_fully_applied_cluster_counts_every_action_as_ok() {
        let (applied, t) = counted(&[
            o(create(0), Outcome::Done),
            o(create(1), Outcome::Done),
            o(update(), Outcome::Done),
            o(bundle(false), Outcome::Done),
            o(delete(), Outcome::Done),
        ]);
        assert_eq!(
            applied,
            [
                "create_token/ok=2",
                "delete_token/ok=1",
                "patch_bundle/ok=1",
                "update_token/ok=1"
            ]
        );
        assert!(t.contains("dtp_tokens_created_total{integration=\"dynatrace-token-provider\",ocm_env=\"env\"} 2"), "{t}");
        assert!(!t.contains("dtp_token_compensations_total{"), "{t}");
    }

    #[test]
    fn a_failed_delivery_counts_the_bundle_error_and_the_compensations() {
        let (applied, t) = counted(&[
            o(create(0), Outcome::RolledBack),
            o(create(1), Outcome::RollbackFailed { error: "x".into() }),
            o(bundle(true), failed()),
            o(delete(), SKIPPED),
        ]);
        assert_eq!(applied, ["create_bundle/error=1", "create_token/ok=2"]);
        assert!(t.contains("dtp_token_compensations_total{integration=\"dynatrace-token-provider\",ocm_env=\"env\",result=\"ok\"} 1"), "{t}");
        assert!(t.contains("dtp_token_compensations_total{integration=\"dynatrace-token-provider\",ocm_env=\"env\",result=\"error\"} 1"), "{t}");
    }

    #[test]
    fn a_failed_token_creation_stops_the_cluster() {
        let (applied, t) = counted(&[
            o(create(0), Outcome::RolledBack),
            o(create(1), failed()),
            o(update(), SKIPPED),
            o(bundle(false), SKIPPED),
        ]);
        assert_eq!(applied, ["create_token/error=1", "create_token/ok=1"]);
        assert!(t.contains("result=\"ok\"} 1"), "{t}");
    }
}
