//! Plain Rust inspection and mutation of one OCM environment, for tests: what was written
//! (SyncSets, Manifests, service logs, SSO grants) and changes to the world between runs
//! (clusters, labels, token lifetime and expiry, page size).

use super::OcmSandbox;
use super::fixture::{FixtureClient, FixtureCluster};
use super::state::{ExtKind, Owner, ext_object, now_rfc3339};
use crate::model::BUNDLE_ID;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

impl OcmSandbox {
    // --- inspection -------------------------------------------------------------------------

    /// Resources of the cluster's `ext-dynatrace-tokens-dtp` SyncSet, if it exists.
    pub fn syncset(&self, cluster_id: &str) -> Option<Vec<Value>> {
        self.bundle(cluster_id, ExtKind::SyncSet)
    }

    /// Workloads of the cluster's `ext-dynatrace-tokens-dtp` Manifest, if it exists.
    pub fn manifest(&self, cluster_id: &str) -> Option<Vec<Value>> {
        self.bundle(cluster_id, ExtKind::Manifest)
    }

    fn bundle(&self, cluster_id: &str, kind: ExtKind) -> Option<Vec<Value>> {
        let db = self.lock();
        let (_, ext) = db.clusters.row(db.cluster(cluster_id)?)?;
        kind.items(ext)
            .iter()
            .find(|o| o["id"] == BUNDLE_ID)
            .map(|o| o[kind.field()].as_array().cloned().unwrap_or_default())
    }

    /// How many clusters have an `ext-dynatrace-tokens-dtp` SyncSet.
    pub fn syncset_count(&self) -> usize {
        self.bundle_count(ExtKind::SyncSet)
    }

    /// How many clusters have an `ext-dynatrace-tokens-dtp` Manifest.
    pub fn manifest_count(&self) -> usize {
        self.bundle_count(ExtKind::Manifest)
    }

    fn bundle_count(&self, kind: ExtKind) -> usize {
        self.lock()
            .clusters
            .iter()
            .filter(|(_, ext)| kind.items(ext).iter().any(|o| o["id"] == BUNDLE_ID))
            .count()
    }

    /// Every stored service log, in creation order.
    pub fn service_logs(&self) -> Vec<Value> {
        self.lock().service_logs.to_vec()
    }

    /// How many access tokens SSO issued.
    pub fn sso_grants(&self) -> usize {
        self.lock().grants
    }

    /// The cluster object as `GET /clusters/{id}` returns it.
    pub fn cluster(&self, cluster_id: &str) -> Option<Value> {
        let db = self.lock();
        db.clusters.object(db.cluster(cluster_id)?).cloned()
    }

    /// The subscription object.
    pub fn subscription(&self, subscription_id: &str) -> Option<Value> {
        let db = self.lock();
        db.subscriptions
            .object(db.subscription(subscription_id)?)
            .cloned()
    }

    // --- mutation ---------------------------------------------------------------------------

    /// Lifetime of tokens issued from now on.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.lock().token_lifetime = lifetime;
    }

    /// Lowers the largest page lists answer with (100 by default): a larger `size` is clamped
    /// to it, like a server with a smaller maximum than the clients expect.
    pub fn set_max_page_size(&self, size: usize) {
        self.lock().max_page_size = size.max(1);
    }

    /// Makes every issued token expired (the next API call with one gets a 401).
    pub fn expire_all_tokens(&self) {
        let now = Instant::now();
        for t in self.lock().tokens.values_mut() {
            t.expires = now;
        }
    }

    pub fn add_client(&self, client_id: &str, client_secret: &str) {
        self.lock().clients.push(FixtureClient {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
        });
    }

    /// Adds a cluster (with its subscription and labels) as the fixture would.
    pub fn add_cluster(&self, cluster: FixtureCluster) -> Result<(), String> {
        self.lock().add_cluster(cluster)
    }

    /// Removes a cluster and its subscription's labels (the subscription stays, deprovisioned).
    pub fn remove_cluster(&self, cluster_id: &str) -> bool {
        let mut db = self.lock();
        let Some((object, _)) = db.cluster(cluster_id).and_then(|c| db.clusters.remove(c)) else {
            return false;
        };
        let sub_id = object
            .pointer("/subscription/id")
            .and_then(Value::as_str)
            .unwrap_or("");
        if let Some(s) = db.subscription(sub_id) {
            db.subscriptions
                .edit(s, |s| s["status"] = json!("Deprovisioned"));
        }
        let labels: Vec<_> = db.labels.find("subscription_id", sub_id).collect();
        for l in labels {
            db.labels.remove(l);
        }
        true
    }

    /// Edits the raw cluster object (e.g. to drop `external_id` and make it malformed).
    pub fn edit_cluster(&self, cluster_id: &str, edit: impl FnOnce(&mut Value)) -> bool {
        let mut db = self.lock();
        db.cluster(cluster_id)
            .and_then(|c| db.clusters.edit(c, edit))
            .is_some()
    }

    /// Edits the raw subscription object.
    pub fn edit_subscription(&self, subscription_id: &str, edit: impl FnOnce(&mut Value)) -> bool {
        let mut db = self.lock();
        db.subscription(subscription_id)
            .and_then(|s| db.subscriptions.edit(s, edit))
            .is_some()
    }

    /// Creates or updates a subscription label (a new label is the newest).
    pub fn set_subscription_label(&self, subscription_id: &str, key: &str, value: &str) {
        self.lock()
            .set_label(Owner::Subscription(subscription_id), key, value);
    }

    pub fn remove_subscription_label(&self, subscription_id: &str, key: &str) -> bool {
        self.lock()
            .remove_label(Owner::Subscription(subscription_id), key)
    }

    /// Creates or updates an organization label.
    pub fn set_organization_label(&self, organization_id: &str, key: &str, value: &str) {
        self.lock()
            .set_label(Owner::Organization(organization_id), key, value);
    }

    pub fn remove_organization_label(&self, organization_id: &str, key: &str) -> bool {
        self.lock()
            .remove_label(Owner::Organization(organization_id), key)
    }

    /// Edits the stored service logs (e.g. to age one past the dedup window).
    pub fn edit_service_logs(&self, edit: impl FnOnce(&mut Vec<Value>)) {
        let mut db = self.lock();
        let mut logs = db.service_logs.to_vec();
        edit(&mut logs);
        db.service_logs.replace_all(logs);
    }

    /// Sets (or with `None` deletes) the cluster's `ext-dynatrace-tokens-dtp` SyncSet.
    pub fn set_syncset(&self, cluster_id: &str, resources: Option<Vec<Value>>) -> bool {
        self.set_bundle(cluster_id, ExtKind::SyncSet, resources)
    }

    /// Sets (or with `None` deletes) the cluster's `ext-dynatrace-tokens-dtp` Manifest.
    pub fn set_manifest(&self, cluster_id: &str, workloads: Option<Vec<Value>>) -> bool {
        self.set_bundle(cluster_id, ExtKind::Manifest, workloads)
    }

    fn set_bundle(&self, cluster_id: &str, kind: ExtKind, items: Option<Vec<Value>>) -> bool {
        let now = now_rfc3339();
        let mut db = self.lock();
        let Some((object, ext)) = db.cluster(cluster_id).and_then(|c| db.clusters.row_mut(c))
        else {
            return false;
        };
        let href = object["href"].as_str().unwrap_or_default().to_owned();
        let list = kind.items_mut(ext);
        list.retain(|o| o["id"] != BUNDLE_ID);
        if let Some(items) = items {
            list.push(ext_object(kind, &href, BUNDLE_ID, items, &now));
        }
        true
    }
}
