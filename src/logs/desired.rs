//! What one cluster should have: its namespaces (sorted and de-duplicated, as the
//! [`LogCluster`] set already is) split into chunks of at most [`MAX_VALUES`], one rule per
//! chunk. Chunk `i` is identified by the `externalId` `dtp-log-rules:<cluster>:<i>` and titled
//! `log-cluster-namespaces` (chunk 0, the Job's title, so that adopting the Job's rule changes
//! nothing) or `log-cluster-namespaces-<i+1>`. No namespaces, no rule: dtp never sends
//! `values: []`, which the schema refuses.
//!
//! Length of the `externalId`: the prefix, the cluster name, a colon and the index. Cluster
//! names are DNS labels of at most 63 characters (app-interface and OCM enforce it), so the
//! id stays far below [`MAX_EXTERNAL_ID_LEN`](super::model::MAX_EXTERNAL_ID_LEN) (500); the input layer rejects longer names.

use super::model::{
    EXTERNAL_ID_PREFIX, JOB_TITLE, LogCluster, MATCHES, MAX_VALUES, NAMESPACE_ATTRIBUTE,
};
use serde::Serialize;
use serde_json::{Value, json};

/// One rule dtp wants on the cluster's scope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DesiredRule {
    /// The chunk index, from 0.
    pub index: usize,
    pub external_id: String,
    pub title: String,
    /// Sorted, distinct, at most [`MAX_VALUES`], never empty.
    pub values: Vec<String>,
}

impl DesiredRule {
    /// The settings `value` of the rule, as sent in a create or an update.
    pub fn value(&self) -> Value {
        json!({
            "enabled": true,
            "config-item-title": self.title,
            "send-to-storage": true,
            "matchers": [{
                "attribute": NAMESPACE_ATTRIBUTE,
                "operator": MATCHES,
                "values": self.values,
            }],
        })
    }
}

/// `dtp-log-rules:<cluster>:`: every `externalId` starting with it belongs to dtp's rules of
/// that cluster.
pub fn owner_prefix(cluster: &str) -> String {
    format!("{EXTERNAL_ID_PREFIX}:{cluster}:")
}

/// The `externalId` of chunk `index` of the cluster's rules.
pub fn external_id(cluster: &str, index: usize) -> String {
    format!("{}{index}", owner_prefix(cluster))
}

/// The title of chunk `index`: the Job's title for chunk 0, `<title>-<index + 1>` after it.
pub fn chunk_title(index: usize) -> String {
    if index == 0 {
        JOB_TITLE.to_owned()
    } else {
        format!("{JOB_TITLE}-{}", index + 1)
    }
}

/// The cluster's rules in chunk order; empty when it has no namespaces.
pub fn desired_rules(cluster: &LogCluster) -> Vec<DesiredRule> {
    let namespaces: Vec<&String> = cluster.namespaces.iter().collect();
    namespaces
        .chunks(MAX_VALUES)
        .enumerate()
        .map(|(index, chunk)| DesiredRule {
            index,
            external_id: external_id(&cluster.name, index),
            title: chunk_title(index),
            values: chunk.iter().map(|s| (*s).clone()).collect(),
        })
        .collect()
}
