//! The plan as one line of JSON (`--plan-format json`), for PR bots and log collectors. The
//! document's shape is part of dtp's interface: per changed cluster `creates`, `updates`,
//! `bundle` (`{op, kind, reasons}` or `null`), `retires` and `secrets`, then `skipped`,
//! `failed` and every failure as a line in `errors`.

use super::PlanCounts;
use crate::action::{Action, TokenCollect, TokenCreate, TokenDelete, TokenUpdate};
use crate::desired::SkippedCluster;
use crate::model::ClusterRef;
use crate::model::bundle::BundleKind;
use crate::plan::{ClusterFailure, ClusterPlan, SecretSummary};
use crate::reconcile::Report;
use serde::Serialize;

#[derive(Serialize)]
struct JsonPlan<'a> {
    dry_run: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    bundle_sha: Option<&'a str>,
    clusters_discovered: usize,
    counts: PlanCounts,
    changes: Vec<JsonCluster<'a>>,
    skipped: &'a [SkippedCluster],
    failed: &'a [ClusterFailure],
    /// Tokens of clusters that left the fleet, to collect.
    departed: &'a [crate::plan::DepartedPlan],
    /// Deletions the budget did not allow.
    withheld: &'a [crate::plan::Withheld],
    errors: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum BundleOp {
    Create,
    Patch,
}

#[derive(Serialize)]
struct JsonBundle<'a> {
    op: BundleOp,
    kind: BundleKind,
    reasons: &'a [String],
}

#[derive(Serialize)]
struct JsonCluster<'a> {
    cluster: &'a ClusterRef,
    creates: Vec<&'a TokenCreate>,
    updates: Vec<&'a TokenUpdate>,
    bundle: Option<JsonBundle<'a>>,
    retires: Vec<&'a TokenDelete>,
    collects: Vec<&'a TokenCollect>,
    secrets: &'a [SecretSummary],
    /// Secrets kept as they are because a binding label cannot be resolved.
    carried_over: &'a [String],
}

impl<'a> JsonCluster<'a> {
    fn of(cp: &'a ClusterPlan) -> Self {
        let mut c = Self {
            cluster: &cp.cluster,
            creates: Vec::new(),
            updates: Vec::new(),
            bundle: None,
            retires: Vec::new(),
            collects: Vec::new(),
            secrets: &cp.secrets,
            carried_over: &cp.carried_over,
        };
        for a in &cp.actions {
            match a {
                Action::CreateToken(t) => c.creates.push(t),
                Action::UpdateToken(u) => c.updates.push(u),
                Action::CreateBundle(b) => {
                    c.bundle = Some(JsonBundle {
                        op: BundleOp::Create,
                        kind: b.kind,
                        reasons: &b.reasons,
                    })
                }
                Action::PatchBundle(b) => {
                    c.bundle = Some(JsonBundle {
                        op: BundleOp::Patch,
                        kind: b.kind,
                        reasons: &b.reasons,
                    })
                }
                Action::DeleteToken(d) => c.retires.push(d),
                Action::CollectToken(t) => c.collects.push(t),
            }
        }
        c
    }
}

pub(super) fn render(report: &Report) -> String {
    let view = JsonPlan {
        dry_run: report.dry_run(),
        bundle_sha: report.bundle_sha.as_deref(),
        clusters_discovered: report.clusters_discovered,
        counts: PlanCounts::of(&report.plan),
        changes: report.plan.changes().map(JsonCluster::of).collect(),
        skipped: &report.plan.skipped,
        failed: &report.plan.failed,
        departed: &report.plan.departed,
        withheld: &report.plan.withheld,
        errors: report.errors(),
    };
    // One line, so that log collectors reading stdout see one JSON document. The view holds
    // only strings, numbers and lists: serializing it cannot fail.
    serde_json::to_string(&view).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}")) + "\n"
}
