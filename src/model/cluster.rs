//! Clusters as dtp knows them: what OCM discovery found ([`DiscoveredCluster`], [`Discovery`]),
//! the reference plans, logs, metrics and errors use to name a cluster ([`ClusterRef`]), and
//! what became of a service log ([`ServiceLogOutcome`]). Plain data: the OCM client fills it,
//! the pure core reads it.

use super::bundle::BundleKind;
use super::ids::{ClusterId, ExternalClusterId, OcmEnvName, OrgId, SubscriptionId};
use serde::Serialize;
use std::fmt;

/// A cluster found through its DTP labels, with the labels that apply to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoveredCluster {
    pub id: ClusterId,
    pub external_id: ExternalClusterId,
    pub name: String,
    pub subscription_id: SubscriptionId,
    pub organization_id: OrgId,
    /// ROSA with hypershift enabled: tokens go into a Manifest, not a SyncSet.
    pub is_hcp: bool,
    /// `sre-capabilities.dtp.*` labels in effective order: organization labels first, then the
    /// subscription's (a subscription label overrides an organization label with the same key),
    /// each group sorted by label creation time (the order the Python integration sees).
    pub labels: Vec<(String, String)>,
}

/// The outcome of discovery in one OCM environment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Discovery {
    pub clusters: Vec<DiscoveredCluster>,
    /// Items OCM returned that dtp could not use (e.g. a cluster without `external_id`), each
    /// naming the object. They count as failures of the run; the other clusters go on.
    pub problems: Vec<String>,
}

/// Identifies one cluster in plans, logs, metrics and errors.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ClusterRef {
    pub ocm_env: OcmEnvName,
    pub id: ClusterId,
    pub external_id: ExternalClusterId,
    pub name: String,
    pub org: OrgId,
    pub kind: BundleKind,
}

impl ClusterRef {
    pub fn from_discovered(env: &OcmEnvName, c: &DiscoveredCluster) -> Self {
        Self {
            ocm_env: env.clone(),
            id: c.id.clone(),
            external_id: c.external_id.clone(),
            name: c.name.clone(),
            org: c.organization_id.clone(),
            kind: BundleKind::for_cluster(c.is_hcp),
        }
    }
}

/// `<ocm env>/<org>/<cluster id>`, as the Python integration names a cluster in its errors.
impl fmt::Display for ClusterRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.ocm_env, self.org, self.id)
    }
}

/// Whether a service log was posted or an identical one from the last day was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceLogOutcome {
    Posted,
    Deduplicated,
}
