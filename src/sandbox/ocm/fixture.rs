//! The YAML-friendly initial world of one OCM environment ([`OcmFixture`]): SSO clients,
//! organizations with labels, clusters with their subscription, labels and existing
//! `ext-dynatrace-tokens-dtp` SyncSet/Manifest, and service logs; plus the builder methods
//! tests use to describe clusters in Rust. Turning it into server state is `super::state`'s
//! job.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::fmt;
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
