//! Human and machine renderings of a run: the plan (text or JSON) and the end-of-run summary.
//! Only names, ids and reasons are shown — never a token value.

use crate::plan::{BundleOp, Plan};
use crate::reconcile::Report;
use serde::Serialize;
use std::fmt::Write as _;

/// `--plan-format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
}

/// Counts that summarise a plan.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PlanCounts {
    pub clusters_to_change: usize,
    pub clusters_up_to_date: usize,
    pub clusters_skipped: usize,
    pub clusters_failed: usize,
    pub tokens_to_create: usize,
    pub tokens_to_update: usize,
    pub tokens_to_delete: usize,
    pub bundles_to_create: usize,
    pub bundles_to_patch: usize,
}

impl PlanCounts {
    pub fn of(plan: &Plan) -> Self {
        let mut c = Self {
            clusters_skipped: plan.skipped.len(),
            clusters_failed: plan.failed.len(),
            ..Self::default()
        };
        for cp in &plan.clusters {
            if cp.is_noop() {
                c.clusters_up_to_date += 1;
                continue;
            }
            c.clusters_to_change += 1;
            c.tokens_to_create += cp.creates.len();
            c.tokens_to_update += cp.updates.len();
            c.tokens_to_delete += cp.retires.len();
            match cp.bundle.as_ref().map(|b| b.op) {
                Some(BundleOp::Create) => c.bundles_to_create += 1,
                Some(BundleOp::Patch) => c.bundles_to_patch += 1,
                None => {}
            }
        }
        c
    }
}

#[derive(Serialize)]
struct JsonPlan<'a> {
    dry_run: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    bundle_sha: Option<&'a str>,
    clusters_discovered: usize,
    counts: PlanCounts,
    changes: Vec<&'a crate::plan::ClusterPlan>,
    skipped: &'a [crate::desired::SkippedCluster],
    failed: &'a [crate::plan::ClusterFailure],
    errors: Vec<String>,
}

/// Renders the plan of a run.
pub fn render_plan(report: &Report, format: PlanFormat) -> String {
    match format {
        PlanFormat::Json => {
            let view = JsonPlan {
                dry_run: report.dry_run,
                bundle_sha: report.bundle_sha.as_deref(),
                clusters_discovered: report.clusters_discovered,
                counts: PlanCounts::of(&report.plan),
                changes: report.plan.changes().collect(),
                skipped: &report.plan.skipped,
                failed: &report.plan.failed,
                errors: report.errors(),
            };
            serde_json::to_string_pretty(&view).expect("plan serializes") + "\n"
        }
        PlanFormat::Text => render_text(report),
    }
}

fn render_text(report: &Report) -> String {
    let plan = &report.plan;
    let counts = PlanCounts::of(plan);
    let mut s = String::new();
    let mode = if report.dry_run { "dry-run" } else { "apply" };
    let _ = writeln!(
        s,
        "Plan ({mode}{}): {} labelled clusters; {} to change, {} up to date, {} skipped, {} failed",
        report
            .bundle_sha
            .as_deref()
            .map(|b| format!(", bundle {}", &b[..b.len().min(12)]))
            .unwrap_or_default(),
        report.clusters_discovered,
        counts.clusters_to_change,
        counts.clusters_up_to_date,
        counts.clusters_skipped,
        counts.clusters_failed,
    );
    if plan.is_empty() && plan.failed.is_empty() {
        let _ = writeln!(s, "No changes: every served cluster is up to date.");
    }
    for cp in plan.changes() {
        let c = &cp.cluster;
        let _ = writeln!(
            s,
            "\n{} / {} (id {}, uuid {}, org {}, {})",
            c.ocm_env, c.name, c.id, c.external_id, c.org, c.kind
        );
        for t in &cp.creates {
            let _ = writeln!(
                s,
                "  + create token {} in tenant {} for {} key {} ({})",
                t.name,
                t.tenant,
                t.secret,
                t.key,
                t.reason.describe()
            );
        }
        for u in &cp.updates {
            let mut what = Vec::new();
            if u.current_name != u.name {
                what.push(format!("name '{}' -> '{}'", u.current_name, u.name));
            }
            if let Some(cur) = &u.current_scopes {
                let mut a = cur.clone();
                let mut b = u.scopes.clone();
                a.sort();
                b.sort();
                if a != b {
                    what.push(format!(
                        "scopes [{}] -> [{}]",
                        cur.join(","),
                        u.scopes.join(",")
                    ));
                }
            }
            let _ = writeln!(
                s,
                "  ~ update token {} in tenant {}: {}",
                u.id,
                u.tenant,
                what.join(", ")
            );
        }
        if let Some(b) = &cp.bundle {
            match b.op {
                BundleOp::Create => {
                    let _ = writeln!(
                        s,
                        "  + create {} {} with {} secret(s): {}",
                        b.kind,
                        crate::model::BUNDLE_ID,
                        cp.secrets.len(),
                        cp.secrets
                            .iter()
                            .map(|x| format!("{}/{}", x.namespace, x.name))
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
                BundleOp::Patch => {
                    let _ = writeln!(s, "  ~ patch {} {}:", b.kind, crate::model::BUNDLE_ID);
                    for r in &b.reasons {
                        let _ = writeln!(s, "      - {r}");
                    }
                }
            }
        }
        for r in &cp.retires {
            let _ = writeln!(
                s,
                "  - delete token {} ('{}') in tenant {} after delivery ({}; replaced)",
                r.id,
                r.name,
                r.tenant,
                r.reason.describe()
            );
        }
    }
    if !plan.skipped.is_empty() {
        let _ = writeln!(s, "\nSkipped:");
        for k in &plan.skipped {
            let _ = writeln!(
                s,
                "  {} / {} (id {}, org {}): {}",
                k.cluster.ocm_env, k.cluster.name, k.cluster.id, k.cluster.org, k.reason
            );
            for n in &k.notes {
                let _ = writeln!(s, "      {}: {}", n.label, n.message);
            }
        }
    }
    let errors = report.errors();
    if !errors.is_empty() && report.dry_run {
        let _ = writeln!(s, "\nFailures:");
        for e in &errors {
            let _ = writeln!(s, "  - {e}");
        }
    }
    s
}

/// The end-of-run summary (also logged).
pub fn summary(report: &Report) -> String {
    let mut s = String::new();
    if report.dry_run {
        let c = PlanCounts::of(&report.plan);
        let _ = write!(
            s,
            "dry-run: {} clusters would change ({} tokens to create, {} to update, {} to delete, {} bundles to create, {} to patch); nothing was written",
            c.clusters_to_change,
            c.tokens_to_create,
            c.tokens_to_update,
            c.tokens_to_delete,
            c.bundles_to_create,
            c.bundles_to_patch
        );
    } else {
        let sum = |f: fn(&crate::apply::ClusterOutcome) -> usize| {
            report.outcomes.iter().map(f).sum::<usize>()
        };
        let _ = write!(
            s,
            "applied: {} clusters changed; {} tokens created, {} updated, {} deleted, {} compensated; {} bundles written",
            report.outcomes.iter().filter(|o| !o.failed()).count(),
            sum(|o| o.tokens_created),
            sum(|o| o.tokens_updated),
            sum(|o| o.tokens_deleted),
            sum(|o| o.tokens_compensated),
            sum(|o| usize::from(o.bundle.is_some())),
        );
    }
    let errors = report.errors();
    let _ = write!(
        s,
        "; {} failure(s) in {:.1}s",
        errors.len(),
        report.duration.as_secs_f64()
    );
    if !errors.is_empty() {
        s.push_str("\nReconcile exceptions:");
        for e in errors {
            let _ = write!(s, "\n- {e}");
        }
    }
    s
}
