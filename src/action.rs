//! The one action vocabulary: every write dtp can make is a variant of [`Action`], and what
//! became of it is an [`Outcome`]. The planner produces actions, the executor performs them and
//! returns one [`ActionOutcome`] per action, and every view — log lines, the three plan formats,
//! the summary, the metrics — is derived from those, by exhaustive `match`es: a new action kind
//! is a compile error wherever it is not handled. Pure data: no I/O.

use crate::model::bundle::BundleKind;
use crate::model::{BUNDLE_ID, ExternalClusterId, TenantId, TokenId};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::fmt;

/// The kinds of writes, as metrics label them (`kind="create_token"`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    CreateToken,
    UpdateToken,
    DeleteToken,
    CreateBundle,
    PatchBundle,
    CollectToken,
}

impl ActionKind {
    /// Every kind, in the order metrics and summaries list them.
    pub const ALL: [ActionKind; 6] = [
        Self::CreateToken,
        Self::UpdateToken,
        Self::DeleteToken,
        Self::CreateBundle,
        Self::PatchBundle,
        Self::CollectToken,
    ];

    /// The `kind` label of the action metrics and the `action` field of log lines.
    pub fn label(self) -> &'static str {
        match self {
            Self::CreateToken => "create_token",
            Self::UpdateToken => "update_token",
            Self::DeleteToken => "delete_token",
            Self::CreateBundle => "create_bundle",
            Self::PatchBundle => "patch_bundle",
            Self::CollectToken => "collect_token",
        }
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Why a token is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CreateReason {
    /// The Secret has no token for this key yet.
    Missing,
    /// The Secret names a token id that Dynatrace does not know (deleted).
    Deleted,
    /// The token exists but is disabled.
    Disabled,
    /// The token exists but has expired.
    Expired,
    /// The Secret's token value is empty, unreadable or does not belong to its id.
    BadValue,
    /// The delivered token was renamed to a name dtp does not own (not `dtp…`): dtp leaves it
    /// alone and delivers a token of its own.
    NotOwned,
}

impl CreateReason {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Missing => "not delivered yet",
            Self::Deleted => "deleted in Dynatrace",
            Self::Disabled => "disabled in Dynatrace",
            Self::Expired => "expired",
            Self::BadValue => "the delivered value is unreadable",
            Self::NotOwned => "the delivered token was renamed to a name dtp does not own",
        }
    }
}

/// Create a Dynatrace token and put it into a slot of the cluster's plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TokenCreate {
    /// Index into the cluster's token slots.
    pub slot: usize,
    pub tenant: TenantId,
    pub name: String,
    pub scopes: Vec<String>,
    pub reason: CreateReason,
    /// `namespace/name` of the Secret and the key it goes to.
    pub secret: String,
    pub key: String,
}

/// Rename and re-scope an existing token (PUT).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TokenUpdate {
    pub tenant: TenantId,
    pub id: TokenId,
    pub name: String,
    pub scopes: Vec<String>,
    /// The name Dynatrace has now.
    pub current_name: String,
    /// The scopes Dynatrace has now, when the list returned them.
    pub current_scopes: Option<Vec<String>>,
}

impl TokenUpdate {
    /// What changes, for display: the name and/or the scopes (compared as sorted lists).
    pub fn changes_scopes(&self) -> bool {
        self.current_scopes.as_ref().is_some_and(|cur| {
            let mut a = cur.clone();
            let mut b = self.scopes.clone();
            a.sort();
            b.sort();
            a != b
        })
    }
}

/// A token replaced by a new one (disabled, expired or with an unreadable value): deleted
/// after the new one is delivered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TokenDelete {
    pub tenant: TenantId,
    pub id: TokenId,
    pub name: String,
    pub reason: CreateReason,
}

/// Why an orphaned token is collected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CollectReason {
    /// Named for a cluster dtp serves, not referenced by its delivered Secrets, older than the
    /// grace period.
    Unreferenced,
    /// Named for a cluster that left the fleet (OCM confirms it is gone).
    Departed,
}

impl CollectReason {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Unreferenced => "not referenced by the cluster's delivered Secrets",
            Self::Departed => "its cluster is gone from OCM",
        }
    }
}

/// Delete a token dtp created for a cluster and no longer references (an orphan: left by a
/// crash, a concurrent run, a changed spec or tenant, the Python integration, or a departed
/// cluster). Only tokens named exactly for the cluster are ever collected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TokenCollect {
    pub tenant: TenantId,
    pub id: TokenId,
    pub name: String,
    pub cluster: ExternalClusterId,
    pub reason: CollectReason,
    /// When Dynatrace says the token was created.
    pub created: Option<DateTime<Utc>>,
}

/// Create or patch the cluster's `ext-dynatrace-tokens-dtp` SyncSet/Manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BundleWrite {
    pub kind: BundleKind,
    /// Why (names and keys only).
    pub reasons: Vec<String>,
}

/// One write of a plan. The order of a cluster's actions is the order the executor performs
/// them in: token creates, token updates, the bundle write, deletions of replaced tokens, then
/// the collection of orphaned tokens (both only once the bundle is confirmed current).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    CreateToken(TokenCreate),
    UpdateToken(TokenUpdate),
    CreateBundle(BundleWrite),
    PatchBundle(BundleWrite),
    DeleteToken(TokenDelete),
    CollectToken(TokenCollect),
}

impl Action {
    pub fn kind(&self) -> ActionKind {
        match self {
            Self::CreateToken(_) => ActionKind::CreateToken,
            Self::UpdateToken(_) => ActionKind::UpdateToken,
            Self::CreateBundle(_) => ActionKind::CreateBundle,
            Self::PatchBundle(_) => ActionKind::PatchBundle,
            Self::DeleteToken(_) => ActionKind::DeleteToken,
            Self::CollectToken(_) => ActionKind::CollectToken,
        }
    }

    /// Whether the action deletes a token that exists (these count against the deletion
    /// budget).
    pub fn deletes(&self) -> bool {
        match self {
            Self::DeleteToken(_) | Self::CollectToken(_) => true,
            Self::CreateToken(_)
            | Self::UpdateToken(_)
            | Self::CreateBundle(_)
            | Self::PatchBundle(_) => false,
        }
    }

    /// The tenant the action writes to (`None`: it writes to OCM).
    pub fn tenant(&self) -> Option<&TenantId> {
        match self {
            Self::CreateToken(t) => Some(&t.tenant),
            Self::UpdateToken(u) => Some(&u.tenant),
            Self::DeleteToken(d) => Some(&d.tenant),
            Self::CollectToken(c) => Some(&c.tenant),
            Self::CreateBundle(_) | Self::PatchBundle(_) => None,
        }
    }

    /// A one-line description without secrets, e.g. for the planned-action log line.
    pub fn describe(&self) -> String {
        match self {
            Self::CreateToken(t) => format!(
                "create token {} in tenant {} for {} key {} ({})",
                t.name,
                t.tenant,
                t.secret,
                t.key,
                t.reason.describe()
            ),
            Self::UpdateToken(u) => format!(
                "update token {} in tenant {}: '{}' -> '{}'",
                u.id, u.tenant, u.current_name, u.name
            ),
            Self::CreateBundle(b) => format!("create {} {BUNDLE_ID}", b.kind),
            Self::PatchBundle(b) => format!("patch {} {BUNDLE_ID}", b.kind),
            Self::DeleteToken(d) => format!(
                "delete token {} ('{}') in tenant {} ({}; replaced)",
                d.id,
                d.name,
                d.tenant,
                d.reason.describe()
            ),
            Self::CollectToken(c) => format!(
                "collect token {} ('{}') in tenant {} ({})",
                c.id,
                c.name,
                c.tenant,
                c.reason.describe()
            ),
        }
    }
}

/// Why an action was not tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// An earlier action of the same cluster failed.
    EarlierFailure,
    /// The run was stopped (time limit or shutdown) before the cluster started.
    RunStopped,
    /// Another run delivered the cluster's bundle first (a 409 on create): dtp's own new
    /// tokens were deleted again and the rest of its plan is moot.
    RacedByAnotherRun,
}

/// What became of one planned action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    /// Performed.
    Done,
    /// Tried and failed (the message names the system, operation and object).
    Failed { error: String },
    /// Not tried.
    Skipped { reason: SkipReason },
    /// A token was created, its delivery failed, and it was deleted again.
    RolledBack,
    /// A token was created, its delivery failed, and deleting it failed too: it is left
    /// behind (the next run's orphan collection deletes it).
    RollbackFailed { error: String },
}

impl Outcome {
    /// Whether the write itself reached its target (a rolled-back create did).
    pub fn performed(&self) -> bool {
        match self {
            Self::Done | Self::RolledBack | Self::RollbackFailed { .. } => true,
            Self::Failed { .. } | Self::Skipped { .. } => false,
        }
    }

    /// Whether this outcome is a failure of the run.
    pub fn is_failure(&self) -> bool {
        match self {
            Self::Failed { .. } | Self::RollbackFailed { .. } => true,
            Self::Done | Self::Skipped { .. } | Self::RolledBack => false,
        }
    }

    /// The `result` label of the applied-action metric (`None`: not tried, not counted).
    pub fn result_label(&self) -> Option<&'static str> {
        match self {
            Self::Done | Self::RolledBack | Self::RollbackFailed { .. } => Some("ok"),
            Self::Failed { .. } => Some("error"),
            Self::Skipped { .. } => None,
        }
    }
}

/// One action and what became of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ActionOutcome {
    #[serde(flatten)]
    pub action: Action,
    pub outcome: Outcome,
    /// The id of the token a `create_token` made (never its value).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<TokenId>,
}

impl ActionOutcome {
    pub fn new(action: Action, outcome: Outcome) -> Self {
        Self {
            action,
            outcome,
            created: None,
        }
    }

    /// The line of the run's failure list for this action, if it failed: the error text as
    /// the client wrote it, or for a token left behind, what was left and why.
    pub fn failure(&self) -> Option<String> {
        match (&self.outcome, &self.action) {
            (Outcome::Failed { error }, Action::DeleteToken(d)) => Some(format!(
                "replaced token {} ('{}') was not deleted: {error}",
                d.id, d.name
            )),
            (Outcome::Failed { error }, Action::CollectToken(c)) => Some(format!(
                "orphaned token {} ('{}') in tenant '{}' was not deleted: {error}",
                c.id, c.name, c.tenant
            )),
            (Outcome::Failed { error }, _) => Some(error.clone()),
            (Outcome::RollbackFailed { error }, Action::CreateToken(t)) => Some(format!(
                "token {} ('{}') in tenant '{}' was created but not delivered, and deleting it failed: {error}",
                self.created.as_ref().map(TokenId::as_str).unwrap_or("?"),
                t.name,
                t.tenant
            )),
            (Outcome::RollbackFailed { error }, _) => Some(error.clone()),
            (Outcome::Done | Outcome::Skipped { .. } | Outcome::RolledBack, _) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_distinct_label() {
        let labels: std::collections::BTreeSet<_> =
            ActionKind::ALL.iter().map(|k| k.label()).collect();
        assert_eq!(labels.len(), ActionKind::ALL.len());
    }

    #[test]
    fn rolled_back_creates_count_as_performed_but_not_as_failures() {
        assert!(Outcome::RolledBack.performed());
        assert!(!Outcome::RolledBack.is_failure());
        let leaked = Outcome::RollbackFailed { error: "x".into() };
        assert!(leaked.performed() && leaked.is_failure());
        assert_eq!(
            Outcome::Skipped {
                reason: SkipReason::EarlierFailure
            }
            .result_label(),
            None
        );
    }
}
