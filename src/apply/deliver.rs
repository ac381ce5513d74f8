//! Writing a cluster's bundle (the SyncSet or Manifest `ext-dynatrace-tokens-dtp`), and what
//! happens when the write does not plainly succeed:
//!
//! - **409 on create** (another dtp run created the bundle first): read it back; when it
//!   already delivers every desired Secret, delete dtp's own new tokens and stop quietly (not a
//!   failure, no service log); otherwise patch it with this run's Secrets.
//! - **May have been applied** (a timeout or reset after sending, a 5xx other than 503, an
//!   unexpected 2xx, an abort at shutdown): read it back; when it holds exactly what was sent,
//!   the write happened; otherwise fail and delete only the new tokens it does not hold. If it
//!   cannot be read back, keep the new tokens (a later run's orphan collection deletes the
//!   undelivered ones).
//! - **Refused** for a reason the cluster's owner can act on (400, 403, 404, 422): post the
//!   deduplicated service log (B36) and fail. Never for dtp's own races, throttling or server
//!   failures.

use super::cluster::{ABORTED, ClusterRun, Next};
use super::{CLEANUP_BUDGET, ServiceLog, Writers};
use crate::action::{Action, BundleWrite, Outcome, SkipReason};
use crate::clients::{ApiError, Ocm};
use crate::model::BUNDLE_ID;
use crate::model::bundle::{CurrentBundle, Resources, TokenValue, render_secret, same_content};
use std::collections::BTreeSet;
use tracing::{info, warn};

/// Why a bundle write did not plainly succeed.
enum Failed {
    Api(ApiError),
    Aborted,
}

impl ClusterRun<'_> {
    /// Renders the Secrets with every slot filled and writes the bundle.
    pub(super) async fn deliver(&mut self, i: usize, b: &BundleWrite, w: Writers<'_>) -> Next {
        let ocm = w.ocm;
        let Some(resources) = self.render() else {
            let error = "internal error: a planned token slot was not filled".to_owned();
            self.set(i, Outcome::Failed { error });
            return Next::Stop;
        };
        let create = matches!(self.cp.actions[i], Action::CreateBundle(_));
        match self.write(ocm, b, create, &resources).await {
            Ok(()) => {
                self.set(i, Outcome::Done);
                Next::Continue
            }
            Err(Failed::Api(e)) if create && e.is_conflict() => {
                self.after_conflict(i, b, ocm, w, &resources).await
            }
            Err(Failed::Aborted) => {
                self.after_uncertain(i, ocm, w, &resources, ABORTED.into())
                    .await
            }
            Err(Failed::Api(e)) if e.may_have_applied() => {
                self.after_uncertain(i, ocm, w, &resources, e.to_string())
                    .await
            }
            Err(Failed::Api(e)) => {
                self.refused(i, create, ocm, &e).await;
                Next::Stop
            }
        }
    }

    fn render(&self) -> Option<Resources> {
        let slots = &self.slots;
        let resolve = |v: &TokenValue| match v {
            TokenValue::Existing { id, token } => Some((id.clone(), token.clone())),
            TokenValue::Slot(s) => slots.get(*s).cloned().flatten(),
        };
        let mut rendered: Vec<_> = self
            .cp
            .desired
            .iter()
            .map(|s| render_secret(s, &resolve))
            .collect::<Option<_>>()?;
        rendered.extend(self.cp.kept.0.iter().cloned());
        Some(Resources(rendered))
    }

    async fn write(
        &self,
        ocm: &dyn Ocm,
        b: &BundleWrite,
        create: bool,
        resources: &Resources,
    ) -> Result<(), Failed> {
        let c = &self.cp.cluster;
        let call = async {
            if create {
                ocm.create_bundle(&c.id, b.kind, resources).await
            } else {
                ocm.patch_bundle(&c.id, b.kind, resources).await
            }
        };
        tokio::select! {
            biased;
            _ = self.abort.cancelled() => Err(Failed::Aborted),
            r = call => r.map_err(Failed::Api),
        }
    }

    /// The bundle as it is now, read back within the cleanup budget (`Err`: cannot tell).
    async fn read_back(
        &self,
        ocm: &dyn Ocm,
        b_kind: crate::model::bundle::BundleKind,
    ) -> Result<Option<Resources>, String> {
        let c = &self.cp.cluster;
        match tokio::time::timeout(CLEANUP_BUDGET, ocm.get_bundle(&c.id, b_kind)).await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(_) => Err(format!(
                "reading {BUNDLE_ID} back took more than {}s",
                CLEANUP_BUDGET.as_secs()
            )),
        }
    }

    /// A 409 on create: another run created the bundle.
    async fn after_conflict(
        &mut self,
        i: usize,
        b: &BundleWrite,
        ocm: &dyn Ocm,
        w: Writers<'_>,
        resources: &Resources,
    ) -> Next {
        let current = self.read_back(ocm, b.kind).await;
        if let Ok(Some(cur)) = &current
            && CurrentBundle::parse(cur).delivers(&self.cp.desired)
        {
            info!("another run delivered this cluster first; deleting this run's new tokens");
            self.roll_back(w, &BTreeSet::new()).await;
            let reason = SkipReason::RacedByAnotherRun;
            self.set(i, Outcome::Skipped { reason });
            return Next::Raced;
        }
        if let Ok(Some(_)) = current {
            // It exists but does not deliver what this run wants: patch it.
            let patched = tokio::select! {
                biased;
                _ = self.abort.cancelled() => Err(Failed::Aborted),
                r = ocm.patch_bundle(&self.cp.cluster.id, b.kind, resources) => r.map_err(Failed::Api),
            };
            return match patched {
                Ok(()) => {
                    self.set(i, Outcome::Done);
                    Next::Continue
                }
                Err(Failed::Aborted) => {
                    self.after_uncertain(i, ocm, w, resources, ABORTED.into())
                        .await
                }
                Err(Failed::Api(e)) if e.may_have_applied() => {
                    self.after_uncertain(i, ocm, w, resources, e.to_string())
                        .await
                }
                Err(Failed::Api(e)) => {
                    self.set(
                        i,
                        Outcome::Failed {
                            error: e.to_string(),
                        },
                    );
                    Next::Stop
                }
            };
        }
        let why = match current {
            Err(e) => format!("it answered 409 and could not be read back: {e}"),
            _ => "it answered 409 but does not exist".to_owned(),
        };
        let error = format!(
            "creating {BUNDLE_ID} of cluster {}: {why}",
            self.cp.cluster.id
        );
        self.set(i, Outcome::Failed { error });
        Next::Stop
    }

    /// A write that may have been applied: read back before deleting anything.
    async fn after_uncertain(
        &mut self,
        i: usize,
        ocm: &dyn Ocm,
        w: Writers<'_>,
        resources: &Resources,
        error: String,
    ) -> Next {
        let kind = self.cp.cluster.kind;
        match self.read_back(ocm, kind).await {
            Ok(Some(cur)) if same_content(resources, &cur) => {
                info!(error = %error, "the write failed on the wire but was applied");
                self.set(i, Outcome::Done);
                if self.abort.is_cancelled() {
                    return Next::Stopped;
                }
                Next::Continue
            }
            Ok(current) => {
                let delivered = current
                    .map(|c| CurrentBundle::parse(&c).token_ids())
                    .unwrap_or_default();
                self.set(i, Outcome::Failed { error });
                self.roll_back(w, &delivered).await;
                Next::Stopped
            }
            Err(read) => {
                warn!(error = %read, "cannot read the bundle back: the new tokens are kept");
                let error = format!(
                    "{error} (the bundle could not be read back: {read}; the new tokens are kept, and those not delivered are collected by a later run)"
                );
                self.set(i, Outcome::Failed { error });
                Next::Stopped
            }
        }
    }

    /// A write refused by OCM: the service log when the owner can act on it.
    async fn refused(&mut self, i: usize, create: bool, ocm: &dyn Ocm, e: &ApiError) {
        if e.owner_can_act() {
            let verb = if create { "create" } else { "patch" };
            // The Python integration's service-log text (B36), stable across runs so the
            // one-day dedup works.
            let description = format!("\n DTP can't {verb} {BUNDLE_ID} due to {e}");
            let c = &self.cp.cluster;
            self.service_log = Some(
                match ocm.post_service_log(&c.external_id, &description).await {
                    Ok(sent) => ServiceLog::Sent(sent),
                    Err(sl) => {
                        warn!(error = %sl, "could not post the service log");
                        ServiceLog::Failed(sl.to_string())
                    }
                },
            );
        }
        self.set(
            i,
            Outcome::Failed {
                error: e.to_string(),
            },
        );
    }
}
