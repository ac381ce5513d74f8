//! Applying one cluster, in two parts. [`deliver`]: the planned token creates (all at once,
//! filling the plan's slots), the updates, then the bundle write; when a step fails the
//! cluster stops and the tokens it created that no bundle references are deleted again
//! (rolled back). [`finish`], once the whole plan is known (the deletion budget spans every
//! cluster): the deletions of replaced and orphaned tokens, which never roll anything back
//! (the bundle is written by then).

use super::{
    CLEANUP_BUDGET, ClusterOutcome, Delivery, ServiceLog, Writers, log_outcome, result, skipped,
};
use crate::action::{Action, ActionOutcome, Outcome, SkipReason, TokenCreate};
use crate::model::{CreatedToken, TokenId};
use crate::plan::ClusterPlan;
use secrecy::SecretString;
use std::collections::BTreeSet;
use tokio_util::sync::CancellationToken;
use tracing::warn;

/// The message of an action whose call was dropped because the run was aborted.
pub(super) const ABORTED: &str = "aborted: the shutdown grace period ran out";

/// How a cluster's walk through its actions goes on after one action.
pub(super) enum Next {
    Continue,
    /// A step failed: roll back every new token, skip the rest.
    Stop,
    /// A step failed and already rolled back what no bundle references: skip the rest.
    Stopped,
    /// Another run delivered the cluster first: every new token was deleted again, the rest
    /// is moot (not a failure).
    Raced,
}

/// One cluster being applied: the outcome of each action so far, the filled token slots.
pub(super) struct ClusterRun<'p> {
    pub(super) cp: &'p ClusterPlan,
    pub(super) outcomes: Vec<Option<ActionOutcome>>,
    pub(super) slots: Vec<Option<(String, SecretString)>>,
    pub(super) service_log: Option<ServiceLog>,
    pub(super) abort: &'p CancellationToken,
}

/// Delivers one cluster: every action before its deletions.
pub async fn deliver(cp: &ClusterPlan, w: Writers<'_>, abort: &CancellationToken) -> Delivery {
    let mut run = ClusterRun::new(cp, abort);
    let halted = run.delivery(w).await;
    Delivery {
        outcomes: run.outcomes,
        service_log: run.service_log,
        halted,
    }
}

/// The rest of a delivered cluster: its deletions (as the budget left them in `cp`), unless
/// the delivery stopped or the run was stopped since (then they are skipped: the tokens are
/// unreferenced and a later run collects them).
pub async fn finish(
    cp: &ClusterPlan,
    d: Delivery,
    w: Writers<'_>,
    cancel: &CancellationToken,
    abort: &CancellationToken,
) -> ClusterOutcome {
    let mut run = ClusterRun::new(cp, abort);
    run.service_log = d.service_log;
    let delivered = d.outcomes.len().min(cp.actions.len());
    for (i, o) in d.outcomes.into_iter().take(delivered).enumerate() {
        run.outcomes[i] = o;
    }
    if let Some(reason) = d.halted {
        return run.finish(reason);
    }
    if cancel.is_cancelled() {
        return run.finish(SkipReason::RunStopped);
    }
    for (i, action) in cp.actions.iter().enumerate() {
        if !action.deletes() {
            continue;
        }
        if let Next::Stop = run.step(i, action, w).await {
            return run.finish(SkipReason::RunStopped);
        }
    }
    run.finish(SkipReason::EarlierFailure)
}

impl<'p> ClusterRun<'p> {
    fn new(cp: &'p ClusterPlan, abort: &'p CancellationToken) -> Self {
        Self {
            cp,
            outcomes: vec![None; cp.actions.len()],
            slots: vec![None; cp.creates().count()],
            service_log: None,
            abort,
        }
    }

    /// The actions before the first deletion; why the rest is skipped when it stopped.
    async fn delivery(&mut self, w: Writers<'_>) -> Option<SkipReason> {
        let cp = self.cp;
        let creates: Vec<usize> = (0..cp.actions.len())
            .filter(|i| matches!(cp.actions[*i], Action::CreateToken(_)))
            .collect();
        let mut next = self.create_all(&creates, w).await;
        for (i, action) in cp.actions.iter().enumerate() {
            if !matches!(next, Next::Continue) || action.deletes() {
                break;
            }
            if !matches!(action, Action::CreateToken(_)) {
                next = self.step(i, action, w).await;
            }
        }
        match next {
            Next::Continue => None,
            Next::Stop => {
                self.roll_back(w, &BTreeSet::new()).await;
                Some(SkipReason::EarlierFailure)
            }
            Next::Stopped => Some(SkipReason::EarlierFailure),
            Next::Raced => Some(SkipReason::RacedByAnotherRun),
        }
    }

    /// Performs action `i` (not a create: those go through [`Self::create_all`]).
    async fn step(&mut self, i: usize, action: &Action, w: Writers<'_>) -> Next {
        match action {
            Action::CreateToken(_) => Next::Continue,
            Action::CreateBundle(b) | Action::PatchBundle(b) => self.deliver(i, b, w).await,
            Action::UpdateToken(u) => {
                let call = async {
                    match w.dynatrace(&u.tenant) {
                        Ok(dt) => result(dt.update_token(&u.id, &u.name, &u.scopes).await),
                        Err(error) => Outcome::Failed { error },
                    }
                };
                let outcome = self.unless_aborted(call).await;
                let go_on =
                    !matches!(outcome, Outcome::Failed { .. }) || !self.abort.is_cancelled();
                self.set(i, outcome);
                if go_on { Next::Continue } else { Next::Stop }
            }
            Action::DeleteToken(d) => self.delete(i, &d.tenant, &d.id, w).await,
            Action::CollectToken(c) => self.delete(i, &c.tenant, &c.id, w).await,
        }
    }

    /// Deletes a replaced or orphaned token (the bundle is current by now). A failure does not
    /// stop the cluster, an abort does.
    async fn delete(
        &mut self,
        i: usize,
        tenant: &crate::model::TenantId,
        id: &TokenId,
        w: Writers<'_>,
    ) -> Next {
        let call = async {
            match w.dynatrace(tenant) {
                Ok(dt) => result(dt.delete_token(id).await),
                Err(error) => Outcome::Failed { error },
            }
        };
        let outcome = self.unless_aborted(call).await;
        self.set(i, outcome);
        if self.abort.is_cancelled() {
            Next::Stop
        } else {
            Next::Continue
        }
    }

    /// `call`, or a failure when the run is aborted first (the call is dropped).
    pub(super) async fn unless_aborted(&self, call: impl Future<Output = Outcome>) -> Outcome {
        tokio::select! {
            biased;
            _ = self.abort.cancelled() => Outcome::Failed { error: ABORTED.into() },
            outcome = call => outcome,
        }
    }

    pub(super) fn set(&mut self, i: usize, outcome: Outcome) {
        let Some(action) = self.cp.actions.get(i) else {
            return;
        };
        let done = ActionOutcome::new(action.clone(), outcome);
        log_outcome(&done);
        self.outcomes[i] = Some(done);
    }

    /// Creates the planned tokens, all at once, and fills their slots; `Stop` when one failed
    /// (the caller rolls back the others). A create that may have happened on the server (a
    /// timeout, a reset, a 5xx) is never retried: the token, if it exists, is named for the
    /// cluster and unreferenced, so the orphan collection deletes it.
    async fn create_all(&mut self, indices: &[usize], w: Writers<'_>) -> Next {
        let abort = self.abort;
        let calls = indices.iter().filter_map(|&i| match &self.cp.actions[i] {
            Action::CreateToken(t) => Some(async move {
                let call = async {
                    let dt = w.dynatrace(&t.tenant)?;
                    dt.create_token(&t.name, &t.scopes)
                        .await
                        .map_err(|e| e.to_string())
                };
                let created = tokio::select! {
                    biased;
                    _ = abort.cancelled() => Err(ABORTED.to_owned()),
                    r = call => r,
                };
                (i, t, created)
            }),
            _ => None,
        });
        let results: Vec<(usize, &TokenCreate, Result<CreatedToken, String>)> =
            futures::future::join_all(calls).await;
        let mut next = Next::Continue;
        for (i, t, created) in results {
            match created {
                Ok(new) => {
                    self.slots[t.slot] = Some((new.id.0.clone(), new.token));
                    let mut done = ActionOutcome::new(self.cp.actions[i].clone(), Outcome::Done);
                    done.created = Some(new.id);
                    log_outcome(&done);
                    self.outcomes[i] = Some(done);
                }
                Err(error) => {
                    self.set(i, Outcome::Failed { error });
                    next = Next::Stop;
                }
            }
        }
        next
    }

    /// Deletes the tokens created this run that `delivered` does not hold (the bundle as read
    /// back after an uncertain write; empty when nothing was delivered). Bounded by
    /// [`CLEANUP_BUDGET`], so that an aborted run still exits in time; a token left behind is
    /// reported and collected by a later run.
    pub(super) async fn roll_back(&mut self, w: Writers<'_>, delivered: &BTreeSet<String>) {
        let work = async {
            for slot in self.outcomes.iter_mut().flatten() {
                let (Action::CreateToken(t), Outcome::Done, Some(id)) =
                    (&slot.action, &slot.outcome, &slot.created)
                else {
                    continue;
                };
                if delivered.contains(id.as_str()) {
                    continue;
                }
                let deleted = match w.dynatrace(&t.tenant) {
                    Ok(dt) => dt.delete_token(id).await.map_err(|e| e.to_string()),
                    Err(e) => Err(e),
                };
                slot.outcome = match deleted {
                    Ok(()) => Outcome::RolledBack,
                    Err(error) => Outcome::RollbackFailed { error },
                };
                log_outcome(slot);
            }
        };
        if tokio::time::timeout(CLEANUP_BUDGET, work).await.is_err() {
            warn!(
                budget_secs = CLEANUP_BUDGET.as_secs(),
                "rolling back took too long; the tokens left are collected by a later run"
            );
            self.mark_undeleted(delivered);
        }
    }

    /// After a rollback that ran out of time: every new token still `Done` and not delivered
    /// was not deleted.
    fn mark_undeleted(&mut self, delivered: &BTreeSet<String>) {
        for slot in self.outcomes.iter_mut().flatten() {
            let undelivered = matches!(&slot.created, Some(id) if !delivered.contains(id.as_str()));
            if matches!(slot.action, Action::CreateToken(_))
                && matches!(slot.outcome, Outcome::Done)
                && undelivered
            {
                slot.outcome = Outcome::RollbackFailed {
                    error: "the cleanup ran out of time".into(),
                };
            }
        }
    }

    pub(super) fn finish(self, rest: SkipReason) -> ClusterOutcome {
        let actions = self
            .outcomes
            .into_iter()
            .zip(&self.cp.actions)
            .map(|(o, a)| o.unwrap_or_else(|| skipped(a, rest)))
            .collect();
        ClusterOutcome {
            cluster: self.cp.cluster.clone(),
            actions,
            service_log: self.service_log,
            started: true,
        }
    }
}
