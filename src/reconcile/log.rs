//! The log lines of a run's clusters, as the pipeline meets them: a warning per skipped
//! cluster and per ignored label, an error per cluster that cannot be planned, and one line
//! per planned action, derived from the action.

use crate::action::Action;
use crate::desired::{DesiredCluster, SkippedCluster};
use crate::model::{BUNDLE_ID, ClusterRef};
use crate::plan::ClusterPlan;
use tracing::{error, info, warn};

pub(super) fn skipped(s: &SkippedCluster) {
    warn!(ocm_env = %s.cluster.ocm_env, cluster_id = %s.cluster.id, reason = %s.reason, "skipping cluster");
}

pub(super) fn notes(c: &DesiredCluster) {
    for n in &c.notes {
        warn!(ocm_env = %c.cluster.ocm_env, cluster_id = %c.cluster.id, label = %n.label, "{}", n.message);
    }
}

pub(super) fn failed(c: &ClusterRef, error: &str) {
    error!(ocm_env = %c.ocm_env, cluster_id = %c.id, error = %error, "cluster cannot be reconciled");
}

/// One line per planned action (inside the cluster's span).
pub(super) fn planned(cp: &ClusterPlan, dry_run: bool) {
    for a in &cp.actions {
        let planned = a.kind().label();
        match a {
            Action::CreateBundle(b) | Action::PatchBundle(b) => {
                info!(planned, dry_run, kind = %b.kind, reasons = %b.reasons.join("; "), "plan: write {BUNDLE_ID}");
            }
            Action::CreateToken(_)
            | Action::UpdateToken(_)
            | Action::DeleteToken(_)
            | Action::CollectToken(_) => {
                info!(planned, dry_run, "plan: {}", a.describe());
            }
        }
    }
}
