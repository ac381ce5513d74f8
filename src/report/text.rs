//! The plan as plain text (the default of `dtp run`): a heading with the counts, then per
//! changed cluster one line per action, the skipped clusters with their reasons, and in a
//! dry-run the failures.

use super::{PlanCounts, short_sha};
use crate::action::{Action, TokenUpdate};
use crate::model::BUNDLE_ID;
use crate::plan::ClusterPlan;
use crate::reconcile::Report;
use std::fmt::Write as _;

pub(super) fn render(report: &Report) -> String {
    let plan = &report.plan;
    let counts = PlanCounts::of(plan);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Plan ({}{}): {} labelled clusters; {} to change, {} up to date, {} skipped, {} failed",
        report.mode.label(),
        report
            .bundle_sha
            .as_deref()
            .map(|b| format!(", bundle {}", short_sha(b)))
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
        for a in &cp.actions {
            action(&mut s, Some(cp), a);
        }
        if !cp.carried_over.is_empty() {
            let _ = writeln!(
                s,
                "  = carried over unchanged (a binding label cannot be resolved): {}",
                cp.carried_over.join(", ")
            );
        }
    }
    for d in &plan.departed {
        let _ = writeln!(s, "\ndeparted cluster {} (gone from OCM)", d.cluster);
        for a in &d.actions {
            action(&mut s, None, a);
        }
    }
    for w in &plan.withheld {
        let _ = writeln!(
            s,
            "\n! {}: withheld, the deletion budget (--max-deletions {}) is used up: {}",
            w.cluster,
            plan.max_deletions,
            w.action.describe()
        );
    }
    skipped(&mut s, report);
    let errors = report.errors();
    if !errors.is_empty() && report.dry_run() {
        let _ = writeln!(s, "\nFailures:");
        for e in &errors {
            let _ = writeln!(s, "  - {e}");
        }
    }
    s
}

/// The line(s) of one action.
fn action(s: &mut String, cp: Option<&ClusterPlan>, a: &Action) {
    match a {
        Action::CreateToken(t) => {
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
        Action::UpdateToken(u) => {
            let _ = writeln!(
                s,
                "  ~ update token {} in tenant {}: {}",
                u.id,
                u.tenant,
                update_changes(u)
            );
        }
        Action::CreateBundle(b) => {
            let secrets: Vec<String> = cp
                .map(|cp| cp.secrets.as_slice())
                .unwrap_or_default()
                .iter()
                .map(|x| format!("{}/{}", x.namespace, x.name))
                .collect();
            let _ = writeln!(
                s,
                "  + create {} {BUNDLE_ID} with {} secret(s): {}",
                b.kind,
                secrets.len(),
                secrets.join(", ")
            );
        }
        Action::PatchBundle(b) => {
            let _ = writeln!(s, "  ~ patch {} {BUNDLE_ID}:", b.kind);
            for r in &b.reasons {
                let _ = writeln!(s, "      - {r}");
            }
        }
        Action::DeleteToken(d) => {
            let _ = writeln!(
                s,
                "  - delete token {} ('{}') in tenant {} after delivery ({}; replaced)",
                d.id,
                d.name,
                d.tenant,
                d.reason.describe()
            );
        }
        Action::CollectToken(c) => {
            let _ = writeln!(
                s,
                "  - collect token {} ('{}') in tenant {} ({}{})",
                c.id,
                c.name,
                c.tenant,
                c.reason.describe(),
                c.created
                    .map(|t| format!(", created {}", t.format("%Y-%m-%dT%H:%M:%SZ")))
                    .unwrap_or_default()
            );
        }
    }
}

/// `name 'a' -> 'b', scopes [x] -> [y]`.
fn update_changes(u: &TokenUpdate) -> String {
    let mut what = Vec::new();
    if u.current_name != u.name {
        what.push(format!("name '{}' -> '{}'", u.current_name, u.name));
    }
    if let (true, Some(cur)) = (u.changes_scopes(), &u.current_scopes) {
        what.push(format!(
            "scopes [{}] -> [{}]",
            cur.join(","),
            u.scopes.join(",")
        ));
    }
    what.join(", ")
}

fn skipped(s: &mut String, report: &Report) {
    let plan = &report.plan;
    if plan.skipped.is_empty() {
        return;
    }
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
