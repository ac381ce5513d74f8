//! Human and machine renderings of a run: the plan as text ([`text`]), JSON ([`json`]) or
//! Markdown for a merge-request comment ([`markdown`]), the counts that summarise a plan, and
//! the end-of-run summary. Every view is derived from the plan's actions and the executor's
//! outcomes by exhaustive `match`es. Only names, ids and reasons are shown — never a token
//! value.

mod json;
mod markdown;
pub(crate) use markdown::md;
mod text;

use crate::action::{Action, ActionOutcome, Outcome};
pub use crate::config::PlanFormat;
use crate::plan::Plan;
use crate::reconcile::Report;
use serde::Serialize;
use std::fmt::Write as _;

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
    pub tokens_to_collect: usize,
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
            } else {
                c.clusters_to_change += 1;
            }
            for a in &cp.actions {
                *c.slot(a) += 1;
            }
        }
        c
    }

    /// The counter an action adds to.
    fn slot(&mut self, a: &Action) -> &mut usize {
        match a {
            Action::CreateToken(_) => &mut self.tokens_to_create,
            Action::UpdateToken(_) => &mut self.tokens_to_update,
            Action::DeleteToken(_) => &mut self.tokens_to_delete,
            Action::CollectToken(_) => &mut self.tokens_to_collect,
            Action::CreateBundle(_) => &mut self.bundles_to_create,
            Action::PatchBundle(_) => &mut self.bundles_to_patch,
        }
    }
}

/// What a run did, counted from the outcomes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct AppliedCounts {
    clusters_changed: usize,
    tokens_created: usize,
    tokens_updated: usize,
    tokens_deleted: usize,
    tokens_collected: usize,
    tokens_compensated: usize,
    bundles_written: usize,
}

impl AppliedCounts {
    fn of(report: &Report) -> Self {
        let mut c = Self {
            clusters_changed: report.outcomes.iter().filter(|o| !o.failed()).count(),
            ..Self::default()
        };
        for a in report.outcomes.iter().flat_map(|o| &o.actions) {
            c.add(a);
        }
        c
    }

    fn add(&mut self, a: &ActionOutcome) {
        if matches!(a.outcome, Outcome::RolledBack) {
            self.tokens_compensated += 1;
        }
        if !a.outcome.performed() {
            return;
        }
        match a.action {
            Action::CreateToken(_) => self.tokens_created += 1,
            Action::UpdateToken(_) => self.tokens_updated += 1,
            Action::DeleteToken(_) => self.tokens_deleted += 1,
            Action::CollectToken(_) => self.tokens_collected += 1,
            Action::CreateBundle(_) | Action::PatchBundle(_) => self.bundles_written += 1,
        }
    }
}

/// Renders the plan of a run.
pub fn render_plan(report: &Report, format: PlanFormat) -> String {
    match format {
        PlanFormat::Json => json::render(report),
        PlanFormat::Text => text::render(report),
        PlanFormat::Markdown => markdown::render(report),
    }
}

/// The end-of-run summary (also logged).
pub fn summary(report: &Report) -> String {
    let mut s = String::new();
    if report.dry_run() {
        let c = PlanCounts::of(&report.plan);
        let _ = write!(
            s,
            "dry-run: {} clusters would change ({} tokens to create, {} to update, {} to delete, {} to collect, {} bundles to create, {} to patch); nothing was written",
            c.clusters_to_change,
            c.tokens_to_create,
            c.tokens_to_update,
            c.tokens_to_delete,
            c.tokens_to_collect,
            c.bundles_to_create,
            c.bundles_to_patch
        );
    } else {
        let c = AppliedCounts::of(report);
        let _ = write!(
            s,
            "applied: {} clusters changed; {} tokens created, {} updated, {} deleted, {} collected, {} compensated; {} bundles written",
            c.clusters_changed,
            c.tokens_created,
            c.tokens_updated,
            c.tokens_deleted,
            c.tokens_collected,
            c.tokens_compensated,
            c.bundles_written,
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

/// The first 12 characters of a bundle sha, as plans show it.
fn short_sha(sha: &str) -> &str {
    let end = sha.char_indices().nth(12).map_or(sha.len(), |(i, _)| i);
    &sha[..end]
}
