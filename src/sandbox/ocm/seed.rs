//! Seeding the OCM state from an [`OcmFixture`]: organizations and their labels, clusters with
//! their subscription, labels and existing bundle, and service logs, rejecting inconsistent
//! fixtures (duplicate ids, unknown states or statuses, a bundle of the wrong kind for the
//! cluster). [`Db::add_cluster`] also backs [`super::OcmSandbox::add_cluster`].

use super::fixture::{FixtureCluster, OcmFixture};
use super::state::{
    CLUSTER_INDEXES, CLUSTER_LOG_INDEXES, CLUSTER_STATES, DEFAULT_TOKEN_LIFETIME, Db, ExtConfig,
    ExtKind, LABEL_INDEXES, MAX_PAGE_SIZE, Owner, SUBSCRIPTION_INDEXES, SUBSCRIPTION_STATUSES,
    ext_object, new_id, now_rfc3339,
};
use super::table::Table;
use crate::model::BUNDLE_ID;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

impl Db {
    /// The world of `fixture`, or why it is inconsistent.
    pub(super) fn from_fixture(fixture: OcmFixture) -> Result<Self, String> {
        let mut db = Db {
            clients: fixture.clients,
            token_lifetime: fixture
                .token_lifetime_secs
                .map(Duration::from_secs)
                .unwrap_or(DEFAULT_TOKEN_LIFETIME),
            tokens: HashMap::new(),
            grants: 0,
            labels: Table::new(LABEL_INDEXES),
            subscriptions: Table::new(SUBSCRIPTION_INDEXES),
            clusters: Table::new(CLUSTER_INDEXES),
            service_logs: Table::new(CLUSTER_LOG_INDEXES),
            max_page_size: MAX_PAGE_SIZE,
            clock: 0,
        };
        let mut orgs = BTreeSet::new();
        for org in fixture.organizations {
            if !orgs.insert(org.id.clone()) {
                return Err(format!("duplicate organization id '{}'", org.id));
            }
            for (k, v) in org.labels.0 {
                db.set_label(Owner::Organization(&org.id), &k, &v);
            }
        }
        for c in fixture.clusters {
            db.add_cluster(c)?;
        }
        for (i, log) in fixture.service_logs.into_iter().enumerate() {
            let log =
                seeded_log(log).ok_or_else(|| format!("service_logs[{i}] must be an object"))?;
            db.service_logs.push(log, ());
        }
        Ok(db)
    }

    /// Adds a cluster with its subscription, labels and existing bundle.
    pub(super) fn add_cluster(&mut self, c: FixtureCluster) -> Result<(), String> {
        let status = self.check_cluster(&c)?;
        let new = NewCluster {
            sub_id: c.subscription_id(),
            external_id: c
                .external_id
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            name: c.name.clone().unwrap_or_else(|| c.id.clone()),
            created: self.tick(),
            href: format!("/api/clusters_mgmt/v1/clusters/{}", c.id),
        };
        self.subscriptions.push(new.subscription(&c, &status), ());
        let object = new.cluster(&c);
        let mut ext = ExtConfig::default();
        if let Some(resources) = c.syncset {
            let obj = ext_object(
                ExtKind::SyncSet,
                &new.href,
                BUNDLE_ID,
                resources,
                &new.created,
            );
            ext.syncsets.push(obj);
        }
        if let Some(workloads) = c.manifest {
            let obj = ext_object(
                ExtKind::Manifest,
                &new.href,
                BUNDLE_ID,
                workloads,
                &new.created,
            );
            ext.manifests.push(obj);
        }
        self.clusters.push(object, ext);
        for (k, v) in c.labels.0 {
            self.set_label(Owner::Subscription(&new.sub_id), &k, &v);
        }
        Ok(())
    }

    /// Checks the cluster against the world; returns its subscription status.
    fn check_cluster(&self, c: &FixtureCluster) -> Result<String, String> {
        if self.cluster(&c.id).is_some() {
            return Err(format!("duplicate cluster id '{}'", c.id));
        }
        if !CLUSTER_STATES.contains(&c.state.as_str()) {
            return Err(format!(
                "cluster '{}': unknown state '{}' (one of {})",
                c.id,
                c.state,
                CLUSTER_STATES.join(", ")
            ));
        }
        let status = c
            .subscription
            .as_ref()
            .and_then(|s| s.status.clone())
            .unwrap_or_else(|| "Active".into());
        if !SUBSCRIPTION_STATUSES.contains(&status.as_str()) {
            return Err(format!(
                "cluster '{}': unknown subscription status '{status}' (one of {})",
                c.id,
                SUBSCRIPTION_STATUSES.join(", ")
            ));
        }
        let sub_id = c.subscription_id();
        if self.subscription(&sub_id).is_some() {
            return Err(format!(
                "cluster '{}': duplicate subscription id '{sub_id}'",
                c.id
            ));
        }
        check_bundle_kind(c)?;
        Ok(status)
    }
}

/// A SyncSet only on a classic cluster, a Manifest only on a hosted control plane.
fn check_bundle_kind(c: &FixtureCluster) -> Result<(), String> {
    let is_hcp = c.product == "rosa" && c.hcp;
    if c.syncset.is_some() && is_hcp {
        return Err(format!(
            "cluster '{}' is a hosted control plane: give a manifest, not a syncset",
            c.id
        ));
    }
    if c.manifest.is_some() && !is_hcp {
        return Err(format!(
            "cluster '{}' is classic: give a syncset, not a manifest",
            c.id
        ));
    }
    Ok(())
}

/// The generated parts of a new cluster.
struct NewCluster {
    sub_id: String,
    external_id: String,
    name: String,
    created: String,
    href: String,
}

impl NewCluster {
    fn subscription(&self, c: &FixtureCluster, status: &str) -> Value {
        let sub_id = &self.sub_id;
        let managed = c
            .subscription
            .as_ref()
            .and_then(|s| s.managed)
            .unwrap_or(c.managed);
        json!({
            "kind": "Subscription",
            "id": sub_id,
            "href": format!("/api/accounts_mgmt/v1/subscriptions/{sub_id}"),
            "cluster_id": c.id,
            "external_cluster_id": self.external_id,
            "organization_id": c.organization,
            "managed": managed,
            "status": status,
            "display_name": self.name,
            "created_at": self.created,
            "updated_at": self.created,
        })
    }

    fn cluster(&self, c: &FixtureCluster) -> Value {
        let sub_id = &self.sub_id;
        json!({
            "kind": "Cluster",
            "id": c.id,
            "href": self.href,
            "external_id": self.external_id,
            "name": self.name,
            "display_name": self.name,
            "managed": c.managed,
            "state": c.state,
            "product": {"kind": "ProductLink", "id": c.product, "href": format!("/api/clusters_mgmt/v1/products/{}", c.product)},
            "hypershift": {"enabled": c.hcp},
            "subscription": {"kind": "SubscriptionLink", "id": sub_id, "href": format!("/api/accounts_mgmt/v1/subscriptions/{sub_id}")},
            "creation_timestamp": self.created,
            "region": {"kind": "CloudRegionLink", "id": "us-east-1", "href": "/api/clusters_mgmt/v1/cloud_providers/aws/regions/us-east-1"},
            "cloud_provider": {"kind": "CloudProviderLink", "id": "aws", "href": "/api/clusters_mgmt/v1/cloud_providers/aws"},
        })
    }
}

/// A fixture service log with the fields the server fills when absent; `None` when it is
/// not an object.
fn seeded_log(log: Value) -> Option<Value> {
    let Value::Object(mut m) = log else {
        return None;
    };
    let now = now_rfc3339();
    let id = m
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(new_id);
    m.entry("id").or_insert_with(|| json!(id));
    m.entry("kind").or_insert_with(|| json!("ClusterLog"));
    m.entry("href")
        .or_insert_with(|| json!(format!("/api/service_logs/v1/cluster_logs/{id}")));
    m.entry("created_at").or_insert_with(|| json!(now));
    m.entry("timestamp").or_insert_with(|| json!(now));
    m.entry("severity").or_insert_with(|| json!("Info"));
    Some(Value::Object(m))
}
