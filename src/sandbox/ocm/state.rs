//! The server state of one OCM environment ([`Db`]): issued SSO tokens, labels, subscriptions,
//! clusters with their SyncSets/Manifests and service logs (each an indexed [`Table`]), the
//! resources' known and indexed attributes and enums, and the helpers that create objects the
//! way OCM shapes them (ids, timestamps, hrefs). Seeding it from a fixture is in
//! [`super::seed`].

use super::fixture::FixtureClient;
use super::table::{RowId, Table};
use chrono::{SecondsFormat, TimeZone, Utc};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};
/// Default and maximum `size` of list pages (the OCM model default).
pub(super) const MAX_PAGE_SIZE: usize = 100;
pub(super) const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(900);

pub(super) const LABEL_ATTRIBUTES: &[&str] = &[
    "id",
    "kind",
    "href",
    "key",
    "value",
    "type",
    "subscription_id",
    "organization_id",
    "account_id",
    "internal",
    "managed_by",
    "created_at",
    "updated_at",
];
pub(super) const SUBSCRIPTION_ATTRIBUTES: &[&str] = &[
    "id",
    "kind",
    "href",
    "cluster_id",
    "external_cluster_id",
    "organization_id",
    "managed",
    "status",
    "display_name",
    "plan.id",
    "created_at",
    "updated_at",
];
pub(super) const CLUSTER_ATTRIBUTES: &[&str] = &[
    "id",
    "kind",
    "href",
    "external_id",
    "name",
    "display_name",
    "managed",
    "state",
    "product.id",
    "hypershift.enabled",
    "subscription.id",
    "creation_timestamp",
    "region.id",
    "cloud_provider.id",
];
pub(super) const CLUSTER_LOG_ATTRIBUTES: &[&str] = &[
    "id",
    "kind",
    "href",
    "cluster_uuid",
    "cluster_id",
    "subscription_id",
    "service_name",
    "summary",
    "description",
    "severity",
    "internal_only",
    "log_type",
    "event_stream_id",
    "username",
    "created_by",
    "created_at",
    "timestamp",
];
/// Service-log fields a client may send; others are dropped like unknown JSON fields.
pub(super) const CLUSTER_LOG_INPUT_FIELDS: &[&str] = &[
    "cluster_uuid",
    "cluster_id",
    "subscription_id",
    "service_name",
    "summary",
    "description",
    "severity",
    "internal_only",
    "log_type",
    "doc_references",
    "event_stream_id",
];
/// The attributes each table indexes: what the handlers look rows up by, and the equalities
/// of dtp's searches (`id in (…)`, `subscription.id in (…)`, `external_id in (…)`).
pub(super) const LABEL_INDEXES: &[&str] = &["subscription_id", "organization_id"];
pub(super) const SUBSCRIPTION_INDEXES: &[&str] =
    &["id", "organization_id", "cluster_id", "external_cluster_id"];
pub(super) const CLUSTER_INDEXES: &[&str] = &["id", "external_id", "subscription.id"];
pub(super) const CLUSTER_LOG_INDEXES: &[&str] = &["cluster_uuid", "cluster_id"];
pub(super) const SEVERITIES: &[&str] = &[
    "Debug",
    "Info",
    "Warning",
    "Error",
    "Fatal",
    "Low",
    "Moderate",
    "Important",
    "Major",
    "Critical",
];
pub(super) const SUBSCRIPTION_STATUSES: &[&str] = &[
    "Active",
    "Reserved",
    "Deprovisioned",
    "Stale",
    "Archived",
    "Disconnected",
];
pub(super) const CLUSTER_STATES: &[&str] = &[
    "error",
    "hibernating",
    "installing",
    "pending",
    "powering_down",
    "ready",
    "resuming",
    "uninstalling",
    "unknown",
    "updating",
    "validating",
    "waiting",
];

pub(super) struct Issued {
    pub(super) client_id: String,
    pub(super) expires: Instant,
}

/// A cluster's external configuration, kept beside its object in the clusters table.
#[derive(Default)]
pub(super) struct ExtConfig {
    pub(super) syncsets: Vec<Value>,
    pub(super) manifests: Vec<Value>,
}

pub(super) struct Db {
    pub(super) clients: Vec<FixtureClient>,
    pub(super) token_lifetime: Duration,
    pub(super) tokens: HashMap<String, Issued>,
    pub(super) grants: usize,
    /// Organization and subscription labels, in creation order (as every table).
    pub(super) labels: Table,
    pub(super) subscriptions: Table,
    pub(super) clusters: Table<ExtConfig>,
    pub(super) service_logs: Table,
    /// Largest `size` a list answers with.
    pub(super) max_page_size: usize,
    /// Seconds after the fixture epoch of the next created object: makes fixture timestamps
    /// strictly increasing in fixture order.
    pub(super) clock: i64,
}

impl Db {
    pub(super) fn tick(&mut self) -> String {
        let epoch = Utc
            .with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
            .single()
            .expect("valid epoch");
        let t = epoch + chrono::Duration::seconds(self.clock);
        self.clock += 1;
        t.to_rfc3339_opts(SecondsFormat::Secs, true)
    }

    /// The (first) cluster whose `id` is `id`.
    pub(super) fn cluster(&self, id: &str) -> Option<RowId> {
        self.clusters.first("id", id)
    }

    /// The (first) subscription whose `id` is `id`.
    pub(super) fn subscription(&self, id: &str) -> Option<RowId> {
        self.subscriptions.first("id", id)
    }

    /// The labels of `owner` with key `key`, in creation order.
    fn owned_labels(&self, owner: Owner<'_>, key: &str) -> Vec<RowId> {
        let (field, owner_id) = owner.field();
        self.labels
            .find(field, owner_id)
            .filter(|id| {
                self.labels
                    .object(*id)
                    .is_some_and(|l| owner.owns(l) && l["key"] == key)
            })
            .collect()
    }

    pub(super) fn set_label(&mut self, owner: Owner<'_>, key: &str, value: &str) {
        let now = self.tick();
        if let Some(id) = self.owned_labels(owner, key).first() {
            self.labels.edit(*id, |l| {
                l["value"] = json!(value);
                l["updated_at"] = json!(now);
            });
            return;
        }
        let id = new_id();
        let (ty, field, owner_id, collection) = match owner {
            Owner::Subscription(s) => ("Subscription", "subscription_id", s, "subscriptions"),
            Owner::Organization(o) => ("Organization", "organization_id", o, "organizations"),
        };
        let mut label = json!({
            "kind": "Label",
            "id": id,
            "href": format!("/api/accounts_mgmt/v1/{collection}/{owner_id}/labels/{key}"),
            "key": key,
            "value": value,
            "type": ty,
            "internal": false,
            "created_at": now,
            "updated_at": now,
        });
        label[field] = json!(owner_id);
        self.labels.push(label, ());
    }

    pub(super) fn remove_label(&mut self, owner: Owner<'_>, key: &str) -> bool {
        let doomed = self.owned_labels(owner, key);
        for id in &doomed {
            self.labels.remove(*id);
        }
        !doomed.is_empty()
    }
}

#[derive(Clone, Copy)]
pub(super) enum Owner<'a> {
    Subscription(&'a str),
    Organization(&'a str),
}

impl Owner<'_> {
    /// The label field naming the owner, and the owner's id.
    fn field(&self) -> (&'static str, &str) {
        match self {
            Owner::Subscription(s) => ("subscription_id", s),
            Owner::Organization(o) => ("organization_id", o),
        }
    }

    pub(super) fn owns(&self, label: &Value) -> bool {
        match self {
            Owner::Subscription(s) => {
                label["type"] == "Subscription" && label["subscription_id"] == *s
            }
            Owner::Organization(o) => {
                label["type"] == "Organization" && label["organization_id"] == *o
            }
        }
    }
}

pub(super) fn new_id() -> String {
    // OCM ids are 27-character lowercase alphanumerics; a UUID's hex is close enough.
    uuid::Uuid::new_v4().simple().to_string()[..27].to_owned()
}

pub(super) fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub(super) fn is_hcp(cluster: &Value) -> bool {
    cluster.pointer("/product/id").and_then(Value::as_str) == Some("rosa")
        && cluster
            .pointer("/hypershift/enabled")
            .and_then(Value::as_bool)
            == Some(true)
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum ExtKind {
    SyncSet,
    Manifest,
}

impl ExtKind {
    pub(super) fn from_collection(c: &str) -> Option<Self> {
        match c {
            "syncsets" => Some(Self::SyncSet),
            "manifests" => Some(Self::Manifest),
            _ => None,
        }
    }
    pub(super) fn collection(self) -> &'static str {
        match self {
            Self::SyncSet => "syncsets",
            Self::Manifest => "manifests",
        }
    }
    /// The `kind` OCM returns (note the lowercase `s` of `Syncset`).
    pub(super) fn kind(self) -> &'static str {
        match self {
            Self::SyncSet => "Syncset",
            Self::Manifest => "Manifest",
        }
    }
    pub(super) fn field(self) -> &'static str {
        match self {
            Self::SyncSet => "resources",
            Self::Manifest => "workloads",
        }
    }
    pub(super) fn items(self, rec: &ExtConfig) -> &Vec<Value> {
        match self {
            Self::SyncSet => &rec.syncsets,
            Self::Manifest => &rec.manifests,
        }
    }
    pub(super) fn items_mut(self, rec: &mut ExtConfig) -> &mut Vec<Value> {
        match self {
            Self::SyncSet => &mut rec.syncsets,
            Self::Manifest => &mut rec.manifests,
        }
    }
}

pub(super) fn ext_object(
    kind: ExtKind,
    cluster_href: &str,
    id: &str,
    items: Vec<Value>,
    now: &str,
) -> Value {
    let mut obj = json!({
        "kind": kind.kind(),
        "id": id,
        "href": format!("{cluster_href}/external_configuration/{}/{id}", kind.collection()),
    });
    obj[kind.field()] = Value::Array(items);
    if kind == ExtKind::Manifest {
        obj["creation_timestamp"] = json!(now);
        obj["updated_timestamp"] = json!(now);
    }
    obj
}
