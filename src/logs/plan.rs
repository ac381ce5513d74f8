//! One cluster's log-rule plan: its [`desired_rules`] against every log-storage object on its
//! host group's scope.
//!
//! - **Owned** objects are those whose `externalId` starts with `dtp-log-rules:<cluster>:`.
//!   Chunk `i` is the first owned object whose id ends in `i`; an owned object that is no
//!   desired chunk (the set shrank, a duplicate, an unknown suffix) is deleted.
//! - **Adopted**: when no owned object has the chunk-0 `externalId`, the first object (in list
//!   order) titled `log-cluster-namespaces` without an `externalId` — the log-config Job's
//!   rule — plays chunk 0; other such objects are left alone, with a note. An adopted object
//!   keeps no `externalId`: an update (`PUT`) cannot set one, and the switch from the Job
//!   must make zero writes when the namespaces agree, so dtp re-adopts it by title on every
//!   run instead. The adoption is recorded as a note.
//! - Everything else is never touched.
//!
//! A rule is up to date when it is enabled, sends to storage, has the chunk's title and
//! exactly one `k8s.namespace.name` `MATCHES` matcher whose values equal the chunk's as sets
//! (order and duplicates do not matter). Actions come in chunk order (update or create), then
//! the deletes by object id.

use super::desired::{DesiredRule, desired_rules, owner_prefix};
use super::model::{JOB_TITLE, LogCluster, MATCHES, NAMESPACE_ATTRIBUTE, RuleObject};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A write to a cluster's log-storage rules.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum LogAction {
    /// `POST /settings/objects` of one object with dtp's `externalId`.
    Create {
        external_id: String,
        title: String,
        value: Value,
    },
    /// `PUT /settings/objects/{object_id}` with the update token; `adopted`: the object is
    /// the Job's rule, not one dtp created.
    Update {
        object_id: String,
        update_token: Option<String>,
        value: Value,
        adopted: bool,
    },
    /// `DELETE /settings/objects/{object_id}?updateToken=…`.
    Delete {
        object_id: String,
        update_token: Option<String>,
    },
}

/// Every write for one cluster, plus notes on what was adopted or deliberately left alone.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LogPlan {
    pub cluster: String,
    pub actions: Vec<LogAction>,
    pub notes: Vec<String>,
}

/// How many writes of each kind a plan holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LogSummary {
    pub creates: usize,
    pub updates: usize,
    pub deletes: usize,
}

impl LogPlan {
    /// No writes (notes do not count).
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    pub fn summary(&self) -> LogSummary {
        let mut s = LogSummary::default();
        for a in &self.actions {
            match a {
                LogAction::Create { .. } => s.creates += 1,
                LogAction::Update { .. } => s.updates += 1,
                LogAction::Delete { .. } => s.deletes += 1,
            }
        }
        s
    }
}

impl fmt::Display for LogSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} to create, {} to update, {} to delete",
            self.creates, self.updates, self.deletes
        )
    }
}

/// The objects on the scope, sorted into dtp's (by chunk), the adopted one and the rest.
struct Sorted<'a> {
    chunks: BTreeMap<usize, &'a RuleObject>,
    adopted: Option<&'a RuleObject>,
    deletes: Vec<&'a RuleObject>,
    notes: Vec<String>,
}

/// The plan for `cluster`, given every log-storage object on its host group's scope.
pub fn plan_cluster(cluster: &LogCluster, current: &[RuleObject]) -> LogPlan {
    let desired = desired_rules(cluster);
    let Sorted {
        chunks,
        adopted,
        mut deletes,
        mut notes,
    } = sort_objects(&cluster.name, desired.len(), current);
    let mut actions = Vec::new();
    if let Some(job) = adopted {
        notes.push(adoption_note(job, desired.first()));
        if desired.is_empty() {
            deletes.push(job);
        }
    }
    for rule in &desired {
        let (existing, is_adopted) = match chunks.get(&rule.index) {
            Some(o) => (Some(*o), false),
            None if rule.index == 0 => (adopted, adopted.is_some()),
            None => (None, false),
        };
        match existing {
            None => {
                notes.extend(title_clash(rule, current, &cluster.name, adopted));
                actions.push(LogAction::Create {
                    external_id: rule.external_id.clone(),
                    title: rule.title.clone(),
                    value: rule.value(),
                });
            }
            Some(o) if !up_to_date(o, rule) => actions.push(LogAction::Update {
                object_id: o.object_id.clone(),
                update_token: o.update_token.clone(),
                value: rule.value(),
                adopted: is_adopted,
            }),
            Some(_) => {}
        }
    }
    deletes.sort_by(|a, b| a.object_id.cmp(&b.object_id));
    actions.extend(deletes.into_iter().map(|o| LogAction::Delete {
        object_id: o.object_id.clone(),
        update_token: o.update_token.clone(),
    }));
    LogPlan {
        cluster: cluster.name.clone(),
        actions,
        notes,
    }
}

/// Sorts the scope's objects: owned ones by chunk (or to delete), the Job's rule to adopt.
fn sort_objects<'a>(cluster: &str, wanted: usize, current: &'a [RuleObject]) -> Sorted<'a> {
    let prefix = owner_prefix(cluster);
    let mut sorted = Sorted {
        chunks: BTreeMap::new(),
        adopted: None,
        deletes: Vec::new(),
        notes: Vec::new(),
    };
    let mut owns_chunk0 = false;
    for o in current {
        let Some(suffix) = o
            .external_id
            .as_deref()
            .and_then(|e| e.strip_prefix(&prefix))
        else {
            continue;
        };
        let index = chunk_index(suffix);
        owns_chunk0 |= index == Some(0);
        match index {
            Some(i) if i < wanted && !sorted.chunks.contains_key(&i) => {
                sorted.chunks.insert(i, o);
            }
            Some(i) if i < wanted => {
                sorted.notes.push(format!(
                    "{}: a second object with externalId {prefix}{i}: deleted",
                    o.object_id
                ));
                sorted.deletes.push(o);
            }
            _ => sorted.deletes.push(o),
        }
    }
    let mut jobs = current
        .iter()
        .filter(|o| o.external_id.is_none() && o.title.as_deref() == Some(JOB_TITLE));
    if !owns_chunk0 {
        sorted.adopted = jobs.next();
    }
    for o in jobs {
        let why = match sorted.adopted {
            Some(a) => format!("{} is adopted instead", a.object_id),
            None => format!("dtp owns {prefix}0"),
        };
        sorted.notes.push(format!(
            "{}: titled {JOB_TITLE} without externalId: not touched ({why})",
            o.object_id
        ));
    }
    sorted
}

/// The chunk index of an owned `externalId` suffix: a decimal number without leading zeros.
fn chunk_index(suffix: &str) -> Option<usize> {
    let i: usize = suffix.parse().ok()?;
    (i.to_string() == suffix).then_some(i)
}

fn adoption_note(job: &RuleObject, chunk0: Option<&DesiredRule>) -> String {
    let what = match chunk0 {
        Some(_) => "as chunk 0; it keeps no externalId",
        None => "and deleted: the cluster has no namespace to log",
    };
    format!(
        "{}: the log-config Job's rule ({JOB_TITLE}) adopted {what}",
        job.object_id
    )
}

/// A note when an object dtp will not touch already has the title of a rule to create (the
/// schema may refuse two objects with one title).
fn title_clash(
    rule: &DesiredRule,
    current: &[RuleObject],
    cluster: &str,
    adopted: Option<&RuleObject>,
) -> Option<String> {
    let prefix = owner_prefix(cluster);
    let clash = current.iter().find(|o| {
        o.title.as_deref() == Some(rule.title.as_str())
            && !o
                .external_id
                .as_deref()
                .is_some_and(|e| e.starts_with(&prefix))
            && adopted.is_none_or(|a| a.object_id != o.object_id)
    })?;
    Some(format!(
        "{}: not dtp's but titled {}, the title of {}: the create may be refused",
        clash.object_id, rule.title, rule.external_id
    ))
}

/// Whether `o` already is `rule`: enabled, sent to storage, the title, one namespace matcher
/// with the same set of values.
fn up_to_date(o: &RuleObject, rule: &DesiredRule) -> bool {
    let [m] = o.matchers.as_slice() else {
        return false;
    };
    o.enabled
        && o.send_to_storage
        && o.title.as_deref() == Some(rule.title.as_str())
        && m.attribute == NAMESPACE_ATTRIBUTE
        && m.operator == MATCHES
        && m.values.iter().map(String::as_str).collect::<BTreeSet<_>>()
            == rule
                .values
                .iter()
                .map(String::as_str)
                .collect::<BTreeSet<_>>()
}
