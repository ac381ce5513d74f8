//! A stateful, contract-faithful fake of one OCM environment (api-contracts §1): Red Hat SSO
//! client-credentials grants with expiring opaque tokens, accounts_mgmt labels and
//! subscriptions, clusters_mgmt clusters with their SyncSets/Manifests, and service logs. List
//! endpoints implement `search` (a real parser, see [`super::search`]), `order`, `page` and
//! `size` (default and maximum 100) with the `{kind, page, size, total, items}` envelope, and
//! every error is an OCM error body. It is seeded from an [`OcmFixture`] (YAML-friendly) and
//! exposes plain Rust inspection and mutation methods so tests can assert what was written
//! and change the world between runs. It is not a security boundary: client secrets are
//! compared in plain text, but they are never printed by `Debug`.

use super::common::{Control, Served, ocm_error, serve};
use super::search::{Search, parse_order, sort_items};
use crate::model::BUNDLE_ID;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use chrono::{SecondsFormat, TimeZone, Utc};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value, json};
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Where the sandbox serves the SSO token endpoint (the production path on sso.redhat.com).
pub const SSO_TOKEN_PATH: &str = "/auth/realms/redhat-external/protocol/openid-connect/token";

/// Default and maximum `size` of list pages (the OCM model default).
const MAX_PAGE_SIZE: usize = 100;
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(900);

const LABEL_ATTRIBUTES: &[&str] = &[
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
const SUBSCRIPTION_ATTRIBUTES: &[&str] = &[
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
const CLUSTER_ATTRIBUTES: &[&str] = &[
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
const CLUSTER_LOG_ATTRIBUTES: &[&str] = &[
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
const CLUSTER_LOG_INPUT_FIELDS: &[&str] = &[
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
const SEVERITIES: &[&str] = &[
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
const SUBSCRIPTION_STATUSES: &[&str] = &[
    "Active",
    "Reserved",
    "Deprovisioned",
    "Stale",
    "Archived",
    "Disconnected",
];
const CLUSTER_STATES: &[&str] = &[
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

// ---------------------------------------------------------------------------------------------
// Fixture

/// The initial world of one OCM environment; every list is optional. In YAML:
///
/// ```yaml
/// clients: [{client_id: dtp, client_secret: s3cret}]
/// token_lifetime_secs: 900
/// organizations: [{id: org-a, labels: {sre-capabilities.dtp.v2.tenant: abc}}]
/// clusters:
///   - id: 2abc                # OCM internal id
///     external_id: 6f0c5e0e-4a5b-4b0e-9a57-0d2d7c1f0a11
///     name: prod-1
///     organization: org-a
///     product: osd            # osd | rosa | anything else
///     hcp: false              # hypershift.enabled
///     state: ready            # default ready
///     managed: true           # default true
///     subscription: {id: sub-1, status: Active}   # default sub-<id>, Active
///     labels: {sre-capabilities.dtp.v2.token-spec: default}
///     syncset: []             # existing ext-dynatrace-tokens-dtp SyncSet resources
/// service_logs: []
/// ```
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OcmFixture {
    /// SSO clients allowed to obtain tokens.
    #[serde(default)]
    pub clients: Vec<FixtureClient>,
    /// Lifetime of issued access tokens (900 s when absent, like Red Hat SSO).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_lifetime_secs: Option<u64>,
    /// Organizations that carry labels.
    #[serde(default)]
    pub organizations: Vec<FixtureOrganization>,
    #[serde(default)]
    pub clusters: Vec<FixtureCluster>,
    /// Pre-existing service logs (`cluster_uuid`, `service_name`, `summary`, ...); the server
    /// fills `id`, `kind`, `href` and timestamps when absent.
    #[serde(default)]
    pub service_logs: Vec<Value>,
}

impl OcmFixture {
    /// Parses a YAML fixture.
    pub fn from_yaml(text: &str) -> Result<Self, String> {
        serde_saphyr::from_str(text).map_err(|e| format!("invalid OCM fixture: {e}"))
    }
}

/// An SSO client (service account).
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureClient {
    pub client_id: String,
    pub client_secret: String,
}

impl fmt::Debug for FixtureClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FixtureClient")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .finish()
    }
}

/// An organization and its labels (in creation order).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureOrganization {
    pub id: String,
    #[serde(default)]
    pub labels: Labels,
}

/// One cluster with its subscription, subscription labels and external configuration.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureCluster {
    /// OCM internal id (used in `/clusters/{id}` paths).
    pub id: String,
    /// Cluster UUID; a random UUID when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Defaults to the id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub organization: String,
    /// `osd`, `rosa` or anything else.
    #[serde(default = "default_product")]
    pub product: String,
    /// `hypershift.enabled`.
    #[serde(default)]
    pub hcp: bool,
    #[serde(default = "default_state")]
    pub state: String,
    #[serde(default = "default_true")]
    pub managed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<FixtureSubscription>,
    /// Subscription labels, created in this order.
    #[serde(default)]
    pub labels: Labels,
    /// Resources of an existing `ext-dynatrace-tokens-dtp` SyncSet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syncset: Option<Vec<Value>>,
    /// Workloads of an existing `ext-dynatrace-tokens-dtp` Manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Vec<Value>>,
}

fn default_product() -> String {
    "osd".into()
}
fn default_state() -> String {
    "ready".into()
}
fn default_true() -> bool {
    true
}

impl FixtureCluster {
    /// A managed, ready, classic OSD cluster of `organization` with no labels.
    pub fn new(id: impl Into<String>, organization: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            external_id: None,
            name: None,
            organization: organization.into(),
            product: default_product(),
            hcp: false,
            state: default_state(),
            managed: true,
            subscription: None,
            labels: Labels::default(),
            syncset: None,
            manifest: None,
        }
    }
    pub fn external_id(mut self, uuid: impl Into<String>) -> Self {
        self.external_id = Some(uuid.into());
        self
    }
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    pub fn product(mut self, product: impl Into<String>) -> Self {
        self.product = product.into();
        self
    }
    /// ROSA with hypershift enabled.
    pub fn rosa_hcp(mut self) -> Self {
        self.product = "rosa".into();
        self.hcp = true;
        self
    }
    /// `hypershift.enabled` (only a ROSA cluster with it is a hosted control plane).
    pub fn hypershift(mut self, enabled: bool) -> Self {
        self.hcp = enabled;
        self
    }
    pub fn state(mut self, state: impl Into<String>) -> Self {
        self.state = state.into();
        self
    }
    pub fn unmanaged(mut self) -> Self {
        self.managed = false;
        self
    }
    pub fn subscription(mut self, id: impl Into<String>, status: impl Into<String>) -> Self {
        self.subscription = Some(FixtureSubscription {
            id: Some(id.into()),
            status: Some(status.into()),
            managed: None,
        });
        self
    }
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.0.push((key.into(), value.into()));
        self
    }
    pub fn with_syncset(mut self, resources: Vec<Value>) -> Self {
        self.syncset = Some(resources);
        self
    }
    pub fn with_manifest(mut self, workloads: Vec<Value>) -> Self {
        self.manifest = Some(workloads);
        self
    }
    /// The subscription id the cluster gets.
    pub fn subscription_id(&self) -> String {
        self.subscription
            .as_ref()
            .and_then(|s| s.id.clone())
            .unwrap_or_else(|| format!("sub-{}", self.id))
    }
}

/// The cluster's accounts_mgmt subscription.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureSubscription {
    /// `sub-<cluster id>` when absent.
    #[serde(default)]
    pub id: Option<String>,
    /// `Active` when absent.
    #[serde(default)]
    pub status: Option<String>,
    /// The cluster's `managed` when absent.
    #[serde(default)]
    pub managed: Option<bool>,
}

/// Labels as an ordered `key: value` map (order = creation order). Scalar values (numbers,
/// booleans) are taken as their text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Labels(pub Vec<(String, String)>);

impl<'de> Deserialize<'de> for Labels {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = Map::<String, Value>::deserialize(d)?;
        map.into_iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k, s)),
                Value::Number(n) => Ok((k, n.to_string())),
                Value::Bool(b) => Ok((k, b.to_string())),
                Value::Null => Ok((k, String::new())),
                _ => Err(D::Error::custom(format!(
                    "label '{k}' must have a scalar value"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Labels)
    }
}

impl Serialize for Labels {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let map: Map<String, Value> = self
            .0
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        map.serialize(s)
    }
}

// ---------------------------------------------------------------------------------------------
// State

struct Issued {
    client_id: String,
    expires: Instant,
}

struct ClusterRec {
    object: Value,
    syncsets: Vec<Value>,
    manifests: Vec<Value>,
}

struct Db {
    clients: Vec<FixtureClient>,
    token_lifetime: Duration,
    tokens: HashMap<String, Issued>,
    grants: usize,
    /// Organization and subscription labels, in creation order.
    labels: Vec<Value>,
    subscriptions: Vec<Value>,
    clusters: Vec<ClusterRec>,
    service_logs: Vec<Value>,
    /// Largest `size` a list answers with.
    max_page_size: usize,
    /// Seconds after the fixture epoch of the next created object: makes fixture timestamps
    /// strictly increasing in fixture order.
    clock: i64,
}

impl Db {
    fn tick(&mut self) -> String {
        let epoch = Utc
            .with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
            .single()
            .expect("valid epoch");
        let t = epoch + chrono::Duration::seconds(self.clock);
        self.clock += 1;
        t.to_rfc3339_opts(SecondsFormat::Secs, true)
    }

    fn cluster_mut(&mut self, id: &str) -> Option<&mut ClusterRec> {
        self.clusters.iter_mut().find(|c| c.object["id"] == id)
    }

    fn add_cluster(&mut self, c: FixtureCluster) -> Result<(), String> {
        if self
            .clusters
            .iter()
            .any(|x| x.object["id"] == c.id.as_str())
        {
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
        let sub = c.subscription.clone().unwrap_or_default();
        let sub_id = c.subscription_id();
        let status = sub.status.unwrap_or_else(|| "Active".into());
        if !SUBSCRIPTION_STATUSES.contains(&status.as_str()) {
            return Err(format!(
                "cluster '{}': unknown subscription status '{status}' (one of {})",
                c.id,
                SUBSCRIPTION_STATUSES.join(", ")
            ));
        }
        if self
            .subscriptions
            .iter()
            .any(|s| s["id"] == sub_id.as_str())
        {
            return Err(format!(
                "cluster '{}': duplicate subscription id '{sub_id}'",
                c.id
            ));
        }
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
        let external_id = c
            .external_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let name = c.name.clone().unwrap_or_else(|| c.id.clone());
        let created = self.tick();
        self.subscriptions.push(json!({
            "kind": "Subscription",
            "id": sub_id,
            "href": format!("/api/accounts_mgmt/v1/subscriptions/{sub_id}"),
            "cluster_id": c.id,
            "external_cluster_id": external_id,
            "organization_id": c.organization,
            "managed": sub.managed.unwrap_or(c.managed),
            "status": status,
            "display_name": name,
            "created_at": created,
            "updated_at": created,
        }));
        let cluster_href = format!("/api/clusters_mgmt/v1/clusters/{}", c.id);
        let mut rec = ClusterRec {
            object: json!({
                "kind": "Cluster",
                "id": c.id,
                "href": cluster_href,
                "external_id": external_id,
                "name": name,
                "display_name": name,
                "managed": c.managed,
                "state": c.state,
                "product": {"kind": "ProductLink", "id": c.product, "href": format!("/api/clusters_mgmt/v1/products/{}", c.product)},
                "hypershift": {"enabled": c.hcp},
                "subscription": {"kind": "SubscriptionLink", "id": sub_id, "href": format!("/api/accounts_mgmt/v1/subscriptions/{sub_id}")},
                "creation_timestamp": created,
                "region": {"kind": "CloudRegionLink", "id": "us-east-1", "href": "/api/clusters_mgmt/v1/cloud_providers/aws/regions/us-east-1"},
                "cloud_provider": {"kind": "CloudProviderLink", "id": "aws", "href": "/api/clusters_mgmt/v1/cloud_providers/aws"},
            }),
            syncsets: Vec::new(),
            manifests: Vec::new(),
        };
        if let Some(resources) = c.syncset {
            let obj = ext_object(
                ExtKind::SyncSet,
                &cluster_href,
                BUNDLE_ID,
                resources,
                &created,
            );
            rec.syncsets.push(obj);
        }
        if let Some(workloads) = c.manifest {
            let obj = ext_object(
                ExtKind::Manifest,
                &cluster_href,
                BUNDLE_ID,
                workloads,
                &created,
            );
            rec.manifests.push(obj);
        }
        self.clusters.push(rec);
        for (k, v) in c.labels.0 {
            self.set_label(Owner::Subscription(&sub_id), &k, &v);
        }
        Ok(())
    }

    fn set_label(&mut self, owner: Owner<'_>, key: &str, value: &str) {
        let now = self.tick();
        if let Some(l) = self
            .labels
            .iter_mut()
            .find(|l| owner.owns(l) && l["key"] == key)
        {
            l["value"] = json!(value);
            l["updated_at"] = json!(now);
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
        self.labels.push(label);
    }

    fn remove_label(&mut self, owner: Owner<'_>, key: &str) -> bool {
        let before = self.labels.len();
        self.labels.retain(|l| !(owner.owns(l) && l["key"] == key));
        self.labels.len() != before
    }
}

#[derive(Clone, Copy)]
enum Owner<'a> {
    Subscription(&'a str),
    Organization(&'a str),
}

impl Owner<'_> {
    fn owns(&self, label: &Value) -> bool {
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

fn new_id() -> String {
    // OCM ids are 27-character lowercase alphanumerics; a UUID's hex is close enough.
    uuid::Uuid::new_v4().simple().to_string()[..27].to_owned()
}

fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn is_hcp(cluster: &Value) -> bool {
    cluster.pointer("/product/id").and_then(Value::as_str) == Some("rosa")
        && cluster
            .pointer("/hypershift/enabled")
            .and_then(Value::as_bool)
            == Some(true)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ExtKind {
    SyncSet,
    Manifest,
}

impl ExtKind {
    fn from_collection(c: &str) -> Option<Self> {
        match c {
            "syncsets" => Some(Self::SyncSet),
            "manifests" => Some(Self::Manifest),
            _ => None,
        }
    }
    fn collection(self) -> &'static str {
        match self {
            Self::SyncSet => "syncsets",
            Self::Manifest => "manifests",
        }
    }
    /// The `kind` OCM returns (note the lowercase `s` of `Syncset`).
    fn kind(self) -> &'static str {
        match self {
            Self::SyncSet => "Syncset",
            Self::Manifest => "Manifest",
        }
    }
    fn field(self) -> &'static str {
        match self {
            Self::SyncSet => "resources",
            Self::Manifest => "workloads",
        }
    }
    fn items(self, rec: &ClusterRec) -> &Vec<Value> {
        match self {
            Self::SyncSet => &rec.syncsets,
            Self::Manifest => &rec.manifests,
        }
    }
    fn items_mut(self, rec: &mut ClusterRec) -> &mut Vec<Value> {
        match self {
            Self::SyncSet => &mut rec.syncsets,
            Self::Manifest => &mut rec.manifests,
        }
    }
}

fn ext_object(kind: ExtKind, cluster_href: &str, id: &str, items: Vec<Value>, now: &str) -> Value {
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

// ---------------------------------------------------------------------------------------------
// The sandbox

/// One fake OCM environment. Cheap to clone (shared state).
#[derive(Clone)]
pub struct OcmSandbox {
    db: Arc<Mutex<Db>>,
}

impl fmt::Debug for OcmSandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let db = self.lock();
        f.debug_struct("OcmSandbox")
            .field(
                "clients",
                &db.clients.iter().map(|c| &c.client_id).collect::<Vec<_>>(),
            )
            .field("clusters", &db.clusters.len())
            .field("labels", &db.labels.len())
            .field("service_logs", &db.service_logs.len())
            .finish()
    }
}

impl OcmSandbox {
    /// Builds the world; panics on an inconsistent fixture (use [`Self::try_from_fixture`] to
    /// get the error instead).
    pub fn from_fixture(fixture: OcmFixture) -> Self {
        Self::try_from_fixture(fixture).unwrap_or_else(|e| panic!("invalid OCM fixture: {e}"))
    }

    /// Builds the world, rejecting duplicate ids, unknown states/statuses and bundles of the
    /// wrong kind for the cluster.
    pub fn try_from_fixture(fixture: OcmFixture) -> Result<Self, String> {
        let mut db = Db {
            clients: fixture.clients,
            token_lifetime: fixture
                .token_lifetime_secs
                .map(Duration::from_secs)
                .unwrap_or(DEFAULT_TOKEN_LIFETIME),
            tokens: HashMap::new(),
            grants: 0,
            labels: Vec::new(),
            subscriptions: Vec::new(),
            clusters: Vec::new(),
            service_logs: Vec::new(),
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
            let Value::Object(mut m) = log else {
                return Err(format!("service_logs[{i}] must be an object"));
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
            db.service_logs.push(Value::Object(m));
        }
        Ok(Self {
            db: Arc::new(Mutex::new(db)),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Db> {
        // A panicking handler must not wedge the whole sandbox.
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The HTTP API (SSO token endpoint + OCM `/api/...`).
    pub fn router(&self) -> Router {
        let api = Router::new()
            .route("/api/accounts_mgmt/v1/labels", get(list_labels))
            .route(
                "/api/accounts_mgmt/v1/subscriptions",
                get(list_subscriptions),
            )
            .route(
                "/api/accounts_mgmt/v1/subscriptions/{id}",
                get(get_subscription),
            )
            .route("/api/clusters_mgmt/v1/clusters", get(list_clusters))
            .route("/api/clusters_mgmt/v1/clusters/{id}", get(get_cluster))
            .route(
                "/api/clusters_mgmt/v1/clusters/{id}/external_configuration/{collection}",
                get(list_ext).post(create_ext),
            )
            .route(
                "/api/clusters_mgmt/v1/clusters/{id}/external_configuration/{collection}/{item}",
                get(get_ext).patch(patch_ext).delete(delete_ext),
            )
            .route(
                "/api/service_logs/v1/clusters/cluster_logs",
                get(list_cluster_logs),
            )
            .route(
                "/api/service_logs/v1/cluster_logs",
                post(create_cluster_log),
            )
            .route_layer(middleware::from_fn_with_state(self.clone(), require_bearer));
        Router::new()
            .route(SSO_TOKEN_PATH, post(token))
            .merge(api)
            .fallback(not_found)
            .with_state(self.clone())
    }

    /// Serves the router on loopback as system `ocm:<env>`.
    pub async fn serve(&self, env: &str, control: Control) -> std::io::Result<Served> {
        serve(&format!("ocm:{env}"), self.router(), control).await
    }

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
        let mut db = self.lock();
        let rec = db.cluster_mut(cluster_id)?;
        kind.items(rec)
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
            .filter(|c| kind.items(c).iter().any(|o| o["id"] == BUNDLE_ID))
            .count()
    }

    /// Every stored service log, in creation order.
    pub fn service_logs(&self) -> Vec<Value> {
        self.lock().service_logs.clone()
    }

    /// How many access tokens SSO issued.
    pub fn sso_grants(&self) -> usize {
        self.lock().grants
    }

    /// The cluster object as `GET /clusters/{id}` returns it.
    pub fn cluster(&self, cluster_id: &str) -> Option<Value> {
        self.lock()
            .cluster_mut(cluster_id)
            .map(|c| c.object.clone())
    }

    /// The subscription object.
    pub fn subscription(&self, subscription_id: &str) -> Option<Value> {
        self.lock()
            .subscriptions
            .iter()
            .find(|s| s["id"] == subscription_id)
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
        let Some(idx) = db
            .clusters
            .iter()
            .position(|c| c.object["id"] == cluster_id)
        else {
            return false;
        };
        let rec = db.clusters.remove(idx);
        let sub_id = rec
            .object
            .pointer("/subscription/id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        if let Some(s) = db
            .subscriptions
            .iter_mut()
            .find(|s| s["id"] == sub_id.as_str())
        {
            s["status"] = json!("Deprovisioned");
        }
        db.labels
            .retain(|l| l["subscription_id"] != sub_id.as_str());
        true
    }

    /// Edits the raw cluster object (e.g. to drop `external_id` and make it malformed).
    pub fn edit_cluster(&self, cluster_id: &str, edit: impl FnOnce(&mut Value)) -> bool {
        match self.lock().cluster_mut(cluster_id) {
            Some(rec) => {
                edit(&mut rec.object);
                true
            }
            None => false,
        }
    }

    /// Edits the raw subscription object.
    pub fn edit_subscription(&self, subscription_id: &str, edit: impl FnOnce(&mut Value)) -> bool {
        match self
            .lock()
            .subscriptions
            .iter_mut()
            .find(|s| s["id"] == subscription_id)
        {
            Some(s) => {
                edit(s);
                true
            }
            None => false,
        }
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
        edit(&mut self.lock().service_logs);
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
        let Some(rec) = db.cluster_mut(cluster_id) else {
            return false;
        };
        let href = rec.object["href"].as_str().unwrap_or_default().to_owned();
        let list = kind.items_mut(rec);
        list.retain(|o| o["id"] != BUNDLE_ID);
        if let Some(items) = items {
            list.push(ext_object(kind, &href, BUNDLE_ID, items, &now));
        }
        true
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP plumbing

/// An OCM error answer waiting to be rendered (`kind: Error` body, see [`ocm_error`]).
struct Failure {
    status: StatusCode,
    path: String,
    reason: String,
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let body = ocm_error(self.status.as_u16(), &self.path, &self.reason);
        (self.status, axum::Json(body)).into_response()
    }
}

type Answer = Result<Response, Failure>;

fn error(status: StatusCode, path: &str, reason: impl Into<String>) -> Failure {
    Failure {
        status,
        path: path.to_owned(),
        reason: reason.into(),
    }
}

async fn not_found(uri: Uri) -> Failure {
    let reason = format!("Can't find resource for path '{}'", uri.path());
    error(StatusCode::NOT_FOUND, uri.path(), reason)
}

fn query_map(raw: Option<String>) -> HashMap<String, String> {
    raw.map(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect()
    })
    .unwrap_or_default()
}

fn json_object(path: &str, body: &Bytes) -> Result<Map<String, Value>, Failure> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(error(
            StatusCode::BAD_REQUEST,
            path,
            "The request body must be a JSON object",
        )),
        Err(e) => Err(error(
            StatusCode::BAD_REQUEST,
            path,
            format!("Invalid JSON body: {e}"),
        )),
    }
}

/// One page of a list: the items, the page number and the total number of matches.
struct PageOf {
    items: Vec<Value>,
    page: usize,
    total: usize,
}

impl PageOf {
    fn into_response(self, kind: &str) -> Response {
        axum::Json(json!({
            "kind": kind,
            "page": self.page,
            "size": self.items.len(),
            "total": self.total,
            "items": self.items,
        }))
        .into_response()
    }
}

/// Applies `search`, `order`, `page` and `size` to `items`.
fn list_page(
    mut items: Vec<Value>,
    query: &HashMap<String, String>,
    attributes: &[&str],
    path: &str,
    max_size: usize,
) -> Result<PageOf, Failure> {
    let bad = |reason: String| error(StatusCode::BAD_REQUEST, path, reason);
    if let Some(s) = query.get("search") {
        let search = Search::parse(s, attributes).map_err(|e| bad(e.0))?;
        items.retain(|i| search.matches(i));
    }
    if let Some(o) = query.get("order") {
        let order = parse_order(o, attributes).map_err(|e| bad(e.0))?;
        sort_items(&mut items, &order);
    }
    let (page, size) = paging(query, max_size).map_err(bad)?;
    let total = items.len();
    let start = (page - 1).saturating_mul(size).min(total);
    let end = start.saturating_add(size).min(total);
    Ok(PageOf {
        items: items.drain(start..end).collect(),
        page,
        total,
    })
}

fn paging(query: &HashMap<String, String>, max: usize) -> Result<(usize, usize), String> {
    let page = match query.get("page") {
        None => 1,
        Some(p) => match p.trim().parse::<i64>() {
            Ok(n) if n >= 1 => n as usize,
            _ => {
                return Err(format!(
                    "Invalid page '{p}': it must be an integer greater than or equal to 1"
                ));
            }
        },
    };
    let size = match query.get("size") {
        None => max,
        Some(s) => match s.trim().parse::<i64>() {
            Ok(n) if n >= 0 => (n as usize).min(max),
            _ => {
                return Err(format!(
                    "Invalid size '{s}': it must be a non-negative integer"
                ));
            }
        },
    };
    Ok((page, size))
}

fn list(
    kind: &str,
    items: Vec<Value>,
    raw: Option<String>,
    attributes: &[&str],
    path: &str,
    max_size: usize,
) -> Answer {
    Ok(list_page(items, &query_map(raw), attributes, path, max_size)?.into_response(kind))
}

/// Who called, from the bearer token.
#[derive(Clone)]
struct Caller {
    client_id: String,
}

async fn require_bearer(State(s): State<OcmSandbox>, mut req: Request, next: Next) -> Answer {
    let path = req.uri().path().to_owned();
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| rest.trim().to_owned())
        });
    let unauthorized = |reason: &str| error(StatusCode::UNAUTHORIZED, &path, reason);
    let token = token.ok_or_else(|| unauthorized("Authentication required"))?;
    let caller = {
        let db = s.lock();
        match db.tokens.get(&token) {
            None => return Err(unauthorized("Authentication required")),
            Some(t) if Instant::now() >= t.expires => {
                return Err(unauthorized("Bearer token is expired"));
            }
            Some(t) => Caller {
                client_id: t.client_id.clone(),
            },
        }
    };
    req.extensions_mut().insert(caller);
    Ok(next.run(req).await)
}

fn sso_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = json!({"error": error, "error_description": description});
    (status, axum::Json(body)).into_response()
}

/// `POST` client_credentials grant; client auth in the form or with HTTP Basic.
async fn token(State(s): State<OcmSandbox>, headers: HeaderMap, body: Bytes) -> Response {
    const BAD_CLIENT: &str = "Invalid client or Invalid client credentials";
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    match form.get("grant_type").map(String::as_str) {
        None => {
            return sso_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing form parameter: grant_type",
            );
        }
        Some("client_credentials") => {}
        Some(_) => {
            return sso_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Unsupported grant_type",
            );
        }
    }
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
        .and_then(|b64| {
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
        })
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|pair| {
            pair.split_once(':')
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
        });
    let (client_id, client_secret) = match basic {
        Some(pair) => pair,
        None => match (form.get("client_id"), form.get("client_secret")) {
            (Some(id), Some(secret)) => (id.clone(), secret.clone()),
            _ => return sso_error(StatusCode::UNAUTHORIZED, "invalid_client", BAD_CLIENT),
        },
    };
    let mut db = s.lock();
    let known = db
        .clients
        .iter()
        .any(|c| c.client_id == client_id && c.client_secret == client_secret);
    if !known {
        return sso_error(StatusCode::UNAUTHORIZED, "invalid_client", BAD_CLIENT);
    }
    let lifetime = db.token_lifetime;
    let access_token = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    db.tokens.insert(
        access_token.clone(),
        Issued {
            client_id,
            expires: Instant::now() + lifetime,
        },
    );
    db.grants += 1;
    axum::Json(json!({
        "access_token": access_token,
        "expires_in": lifetime.as_secs(),
        "refresh_expires_in": 0,
        "token_type": "Bearer",
        "not-before-policy": 0,
        "scope": "openid api.iam.service_account",
    }))
    .into_response()
}

// --- accounts_mgmt ---------------------------------------------------------------------------

async fn list_labels(State(s): State<OcmSandbox>, uri: Uri, RawQuery(q): RawQuery) -> Answer {
    let (labels, max) = {
        let db = s.lock();
        (db.labels.clone(), db.max_page_size)
    };
    list("LabelList", labels, q, LABEL_ATTRIBUTES, uri.path(), max)
}

async fn list_subscriptions(
    State(s): State<OcmSandbox>,
    uri: Uri,
    RawQuery(q): RawQuery,
) -> Answer {
    let query = query_map(q);
    let (subs, labels, max) = {
        let db = s.lock();
        (
            db.subscriptions.clone(),
            db.labels.clone(),
            db.max_page_size,
        )
    };
    let mut page = list_page(subs, &query, SUBSCRIPTION_ATTRIBUTES, uri.path(), max)?;
    if query.get("fetchLabels").is_some_and(|v| v == "true") {
        for item in &mut page.items {
            let own: Vec<Value> = labels
                .iter()
                .filter(|l| l["type"] == "Subscription" && l["subscription_id"] == item["id"])
                .cloned()
                .collect();
            item["labels"] = Value::Array(own);
        }
    }
    Ok(page.into_response("SubscriptionList"))
}

async fn get_subscription(State(s): State<OcmSandbox>, uri: Uri, Path(id): Path<String>) -> Answer {
    let sub = s.subscription(&id).ok_or_else(|| {
        error(
            StatusCode::NOT_FOUND,
            uri.path(),
            format!("Subscription with id='{id}' not found"),
        )
    })?;
    Ok(axum::Json(sub).into_response())
}

// --- clusters_mgmt ---------------------------------------------------------------------------

async fn list_clusters(State(s): State<OcmSandbox>, uri: Uri, RawQuery(q): RawQuery) -> Answer {
    let (clusters, max) = {
        let db = s.lock();
        let clusters: Vec<Value> = db.clusters.iter().map(|c| c.object.clone()).collect();
        (clusters, db.max_page_size)
    };
    list(
        "ClusterList",
        clusters,
        q,
        CLUSTER_ATTRIBUTES,
        uri.path(),
        max,
    )
}

async fn get_cluster(State(s): State<OcmSandbox>, uri: Uri, Path(id): Path<String>) -> Answer {
    let cluster = s.cluster(&id).ok_or_else(|| {
        error(
            StatusCode::NOT_FOUND,
            uri.path(),
            format!("Cluster '{id}' not found"),
        )
    })?;
    Ok(axum::Json(cluster).into_response())
}

/// Finds the cluster and checks that the collection suits it (Manifests only on hosted
/// control planes, SyncSets only on classic clusters).
fn ext_target<'a>(
    db: &'a mut Db,
    path: &str,
    cluster_id: &str,
    collection: &str,
) -> Result<(&'a mut ClusterRec, ExtKind), Failure> {
    let kind = ExtKind::from_collection(collection).ok_or_else(|| {
        error(
            StatusCode::NOT_FOUND,
            path,
            format!("Can't find resource for path '{path}'"),
        )
    })?;
    let rec = db.cluster_mut(cluster_id).ok_or_else(|| {
        error(
            StatusCode::NOT_FOUND,
            path,
            format!("Cluster '{cluster_id}' not found"),
        )
    })?;
    match (kind, is_hcp(&rec.object)) {
        (ExtKind::SyncSet, true) => Err(error(
            StatusCode::BAD_REQUEST,
            path,
            format!(
                "Cluster '{cluster_id}' is a hosted control plane cluster: \
                 SyncSets are not supported, use Manifests"
            ),
        )),
        (ExtKind::Manifest, false) => Err(error(
            StatusCode::BAD_REQUEST,
            path,
            format!(
                "Cluster '{cluster_id}' is not a hosted control plane cluster: Manifests are only \
                 supported on hosted control plane clusters, use SyncSets"
            ),
        )),
        _ => Ok((rec, kind)),
    }
}

fn items_field(
    kind: ExtKind,
    path: &str,
    body: &Map<String, Value>,
) -> Result<Option<Vec<Value>>, Failure> {
    match body.get(kind.field()) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a.clone())),
        Some(_) => Err(error(
            StatusCode::BAD_REQUEST,
            path,
            format!("Field '{}' must be a list", kind.field()),
        )),
    }
}

fn ext_not_found(kind: ExtKind, path: &str, item: &str, cluster_id: &str) -> Failure {
    error(
        StatusCode::NOT_FOUND,
        path,
        format!(
            "{} '{item}' not found for cluster '{cluster_id}'",
            kind.kind()
        ),
    )
}

async fn list_ext(
    State(s): State<OcmSandbox>,
    uri: Uri,
    Path((id, collection)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Answer {
    let (items, kind, max) = {
        let mut db = s.lock();
        let max = db.max_page_size;
        let (rec, kind) = ext_target(&mut db, uri.path(), &id, &collection)?;
        (kind.items(rec).clone(), kind, max)
    };
    let list_kind = format!("{}List", kind.kind());
    list(&list_kind, items, q, &["id"], uri.path(), max)
}

async fn create_ext(
    State(s): State<OcmSandbox>,
    uri: Uri,
    Path((id, collection)): Path<(String, String)>,
    body: Bytes,
) -> Answer {
    let path = uri.path();
    let body = json_object(path, &body)?;
    let now = now_rfc3339();
    let mut db = s.lock();
    let (rec, kind) = ext_target(&mut db, path, &id, &collection)?;
    let item_id = match body.get("id").and_then(Value::as_str) {
        Some(i) if !i.trim().is_empty() => i.to_owned(),
        _ => {
            let reason = format!("{} id is required", kind.kind());
            return Err(error(StatusCode::BAD_REQUEST, path, reason));
        }
    };
    let items = items_field(kind, path, &body)?.unwrap_or_default();
    if kind.items(rec).iter().any(|o| o["id"] == item_id.as_str()) {
        let reason = format!(
            "{} '{item_id}' already exists for cluster '{id}'",
            kind.kind()
        );
        return Err(error(StatusCode::CONFLICT, path, reason));
    }
    let href = rec.object["href"].as_str().unwrap_or_default().to_owned();
    let obj = ext_object(kind, &href, &item_id, items, &now);
    kind.items_mut(rec).push(obj.clone());
    Ok((StatusCode::CREATED, axum::Json(obj)).into_response())
}

async fn get_ext(
    State(s): State<OcmSandbox>,
    uri: Uri,
    Path((id, collection, item)): Path<(String, String, String)>,
) -> Answer {
    let mut db = s.lock();
    let (rec, kind) = ext_target(&mut db, uri.path(), &id, &collection)?;
    let obj = kind
        .items(rec)
        .iter()
        .find(|o| o["id"] == item.as_str())
        .ok_or_else(|| ext_not_found(kind, uri.path(), &item, &id))?;
    Ok(axum::Json(obj.clone()).into_response())
}

async fn patch_ext(
    State(s): State<OcmSandbox>,
    uri: Uri,
    Path((id, collection, item)): Path<(String, String, String)>,
    body: Bytes,
) -> Answer {
    let path = uri.path();
    let body = json_object(path, &body)?;
    let now = now_rfc3339();
    let mut db = s.lock();
    let (rec, kind) = ext_target(&mut db, path, &id, &collection)?;
    let items = items_field(kind, path, &body)?;
    let obj = kind
        .items_mut(rec)
        .iter_mut()
        .find(|o| o["id"] == item.as_str())
        .ok_or_else(|| ext_not_found(kind, path, &item, &id))?;
    // PATCH replaces the resource list whole.
    if let Some(items) = items {
        obj[kind.field()] = Value::Array(items);
    }
    if kind == ExtKind::Manifest {
        obj["updated_timestamp"] = json!(now);
    }
    Ok(axum::Json(obj.clone()).into_response())
}

async fn delete_ext(
    State(s): State<OcmSandbox>,
    uri: Uri,
    Path((id, collection, item)): Path<(String, String, String)>,
) -> Answer {
    let mut db = s.lock();
    let (rec, kind) = ext_target(&mut db, uri.path(), &id, &collection)?;
    let list = kind.items_mut(rec);
    let before = list.len();
    list.retain(|o| o["id"] != item.as_str());
    if list.len() == before {
        return Err(ext_not_found(kind, uri.path(), &item, &id));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

// --- service_logs ----------------------------------------------------------------------------

async fn list_cluster_logs(State(s): State<OcmSandbox>, uri: Uri, RawQuery(q): RawQuery) -> Answer {
    let query = query_map(q);
    let uuid = query.get("cluster_uuid").filter(|v| !v.is_empty());
    let cluster_id = query.get("cluster_id").filter(|v| !v.is_empty());
    if uuid.is_none() && cluster_id.is_none() {
        return Err(error(
            StatusCode::BAD_REQUEST,
            uri.path(),
            "Either cluster_uuid or cluster_id query parameter is required",
        ));
    }
    // This endpoint hides internal-only logs.
    let (logs, max) = {
        let db = s.lock();
        let logs: Vec<Value> = db
            .service_logs
            .iter()
            .filter(|l| l["internal_only"] != true)
            .filter(|l| uuid.is_none_or(|u| l["cluster_uuid"] == u.as_str()))
            .filter(|l| cluster_id.is_none_or(|c| l["cluster_id"] == c.as_str()))
            .cloned()
            .collect();
        (logs, db.max_page_size)
    };
    let page = list_page(logs, &query, CLUSTER_LOG_ATTRIBUTES, uri.path(), max)?;
    Ok(page.into_response("ClusterLogList"))
}

async fn create_cluster_log(
    State(s): State<OcmSandbox>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
    body: Bytes,
) -> Answer {
    let path = uri.path();
    let body = json_object(path, &body)?;
    let text = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .filter(|v| !v.trim().is_empty())
    };
    for field in ["service_name", "summary"] {
        if text(field).is_none() {
            return Err(error(
                StatusCode::BAD_REQUEST,
                path,
                format!("Field '{field}' is required"),
            ));
        }
    }
    if text("cluster_uuid").is_none() && text("cluster_id").is_none() {
        return Err(error(
            StatusCode::BAD_REQUEST,
            path,
            "Either 'cluster_uuid' or 'cluster_id' is required",
        ));
    }
    let severity = match body.get("severity") {
        None | Some(Value::Null) => "Info".to_owned(),
        Some(Value::String(s)) if SEVERITIES.contains(&s.as_str()) => s.clone(),
        Some(other) => {
            let reason = format!(
                "Invalid severity {other}: it must be one of {}",
                SEVERITIES.join(", ")
            );
            return Err(error(StatusCode::BAD_REQUEST, path, reason));
        }
    };
    let mut log: Map<String, Value> = body
        .into_iter()
        .filter(|(k, _)| CLUSTER_LOG_INPUT_FIELDS.contains(&k.as_str()))
        .collect();
    let id = uuid::Uuid::new_v4().to_string();
    let now = now_rfc3339();
    let username = format!("service-account-{}", caller.client_id);
    log.insert("severity".into(), json!(severity));
    log.insert("kind".into(), json!("ClusterLog"));
    log.insert("id".into(), json!(id));
    log.insert(
        "href".into(),
        json!(format!("/api/service_logs/v1/cluster_logs/{id}")),
    );
    log.insert("created_at".into(), json!(now));
    log.insert("timestamp".into(), json!(now));
    log.insert("username".into(), json!(username));
    log.insert("created_by".into(), json!(username));
    log.entry("event_stream_id")
        .or_insert_with(|| json!(new_id()));
    let log = Value::Object(log);
    s.lock().service_logs.push(log.clone());
    Ok((StatusCode::CREATED, axum::Json(log)).into_response())
}
