//! Label-driven cluster discovery in one OCM environment: `sre-capabilities.dtp.*` labels
//! (subscription and organization) → managed, Active/Reserved subscriptions → managed, ready
//! OSD/ROSA clusters, in chunks of at most 100 ids per search; each cluster gets its
//! organization's labels overlaid by its subscription's. Items OCM returns that dtp cannot use
//! are problems naming the object; the other clusters go on.

use super::{CHUNK, OcmClient, quote};
use crate::clients::http::ApiError;
use crate::model::bindings::LABEL_PREFIX;
use crate::model::{
    ClusterId, DiscoveredCluster, Discovery, ExternalClusterId, OrgId, SubscriptionId,
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, PoisonError};

/// `attr='v'` for one value, `attr in ('a','b')` for several.
pub fn in_list<S: AsRef<str>>(attr: &str, values: &[S]) -> String {
    match values {
        [one] => format!("{attr}={}", quote(one.as_ref())),
        many => {
            let quoted: Vec<String> = many.iter().map(|v| quote(v.as_ref())).collect();
            format!("{attr} in ({})", quoted.join(","))
        }
    }
}

#[derive(Deserialize)]
struct LabelItem {
    id: Option<String>,
    key: Option<String>,
    value: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    subscription_id: Option<String>,
    organization_id: Option<String>,
    created_at: Option<String>,
}

#[derive(Deserialize)]
struct SubscriptionItem {
    id: Option<String>,
    organization_id: Option<String>,
}

#[derive(Deserialize)]
struct Link {
    id: Option<String>,
}

#[derive(Deserialize)]
struct Hypershift {
    enabled: Option<bool>,
}

#[derive(Deserialize)]
struct ClusterItem {
    id: Option<String>,
    external_id: Option<String>,
    name: Option<String>,
    display_name: Option<String>,
    subscription: Option<Link>,
    product: Option<Link>,
    hypershift: Option<Hypershift>,
}

/// A label as dtp orders it: by creation time, then id.
struct Label {
    id: String,
    key: String,
    value: String,
    created_at: Option<DateTime<Utc>>,
    created_raw: String,
}

impl Label {
    fn sort(labels: &mut [Label]) {
        labels.sort_by(|a, b| {
            (a.created_at, &a.created_raw, &a.id).cmp(&(b.created_at, &b.created_raw, &b.id))
        });
    }
}

/// Python dict-update semantics: organization labels first, then each subscription label
/// either replaces the value of the same key in place or is appended.
fn merge_labels(org: &[Label], sub: &[Label]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for l in org.iter().chain(sub) {
        match out.iter_mut().find(|(k, _)| *k == l.key) {
            Some(slot) => slot.1 = l.value.clone(),
            None => out.push((l.key.clone(), l.value.clone())),
        }
    }
    out
}

impl OcmClient {
    /// The UUIDs among `uuids` of clusters OCM knows in any state, asked in chunks of 100 (all
    /// at once).
    pub(super) async fn known_clusters(
        &self,
        uuids: &[ExternalClusterId],
    ) -> Result<BTreeSet<ExternalClusterId>, ApiError> {
        let searches = uuids.chunks(CHUNK).map(|chunk| {
            let ids: Vec<&str> = chunk.iter().map(ExternalClusterId::as_str).collect();
            let search = in_list("external_id", &ids);
            async move {
                let mut known = Vec::new();
                self.list_all(
                    "clusters",
                    &["api", "clusters_mgmt", "v1", "clusters"],
                    &search,
                    |item| {
                        if let Some(id) = item.get("external_id").and_then(Value::as_str) {
                            known.push(ExternalClusterId::new(id));
                        }
                    },
                )
                .await
                .map(|()| known)
            }
        });
        let found = futures::future::try_join_all(searches).await?;
        Ok(found.into_iter().flatten().collect())
    }

    /// Every labelled, managed, ready cluster of this environment.
    pub(super) async fn discover(&self) -> Result<Discovery, ApiError> {
        let mut problems = Vec::new();
        let (sub_labels, org_labels) = self.labels(&mut problems).await?;
        if sub_labels.is_empty() && org_labels.is_empty() {
            return Ok(Discovery {
                clusters: Vec::new(),
                problems,
            });
        }
        let sub_ids: Vec<&String> = sub_labels.keys().collect();
        let org_ids: Vec<&String> = org_labels.keys().collect();
        let (subs, items) = self
            .subscriptions_and_clusters(&sub_ids, &org_ids, &mut problems)
            .await?;
        let mut clusters = Vec::with_capacity(items.len());
        for c in items {
            let Some(org) = subs.get(&c.subscription_id) else {
                // The search asked only for these subscriptions; a server answering with
                // another one is wrong, and dtp cannot tell the cluster's organization.
                problems.push(format!(
                    "OCM {}: cluster {} belongs to subscription {}, which was not among the subscriptions found",
                    self.env, c.id, c.subscription_id
                ));
                continue;
            };
            let labels = merge_labels(
                org_labels.get(org).map(Vec::as_slice).unwrap_or_default(),
                sub_labels
                    .get(&c.subscription_id)
                    .map(Vec::as_slice)
                    .unwrap_or_default(),
            );
            clusters.push(DiscoveredCluster {
                id: ClusterId::new(c.id),
                external_id: ExternalClusterId::new(c.external_id),
                name: c.name,
                subscription_id: SubscriptionId::new(c.subscription_id),
                organization_id: OrgId::new(org.clone()),
                is_hcp: c.is_hcp,
                labels,
            });
        }
        tracing::debug!(
            ocm_env = %self.env,
            clusters = clusters.len(),
            problems = problems.len(),
            "discovered clusters"
        );
        Ok(Discovery { clusters, problems })
    }

    // --- discovery ------------------------------------------------------------------------

    async fn labels(
        &self,
        problems: &mut Vec<String>,
    ) -> Result<(BTreeMap<String, Vec<Label>>, BTreeMap<String, Vec<Label>>), ApiError> {
        let search = format!(
            "key like {} and type in ('Organization','Subscription')",
            quote(&format!("{LABEL_PREFIX}%"))
        );
        let mut items: Vec<Option<LabelItem>> = Vec::new();
        self.list_all(
            "labels",
            &["api", "accounts_mgmt", "v1", "labels"],
            &search,
            |item| items.push(serde_json::from_value::<LabelItem>(item).ok()),
        )
        .await?;
        let mut by_sub: BTreeMap<String, Vec<Label>> = BTreeMap::new();
        let mut by_org: BTreeMap<String, Vec<Label>> = BTreeMap::new();
        for item in items {
            let Some(l) = item else {
                problems.push(format!(
                    "OCM {}: a label item is not a JSON object of label fields",
                    self.env
                ));
                continue;
            };
            let id = l.id.unwrap_or_else(|| "<no id>".into());
            let Some(key) = l.key else {
                problems.push(format!("OCM {}: label {id} has no key", self.env));
                continue;
            };
            // The server filtered already; this guards against a server that ignores search.
            if !key.starts_with(LABEL_PREFIX) {
                continue;
            }
            let created_raw = l.created_at.unwrap_or_default();
            let label = Label {
                created_at: DateTime::parse_from_rfc3339(&created_raw)
                    .ok()
                    .map(|t| t.with_timezone(&Utc)),
                created_raw,
                value: l.value.unwrap_or_default(),
                key,
                id: id.clone(),
            };
            let (map, owner, owner_field) = match l.kind.as_deref() {
                Some("Subscription") => (&mut by_sub, l.subscription_id, "subscription_id"),
                Some("Organization") => (&mut by_org, l.organization_id, "organization_id"),
                _ => continue,
            };
            match owner.filter(|o| !o.is_empty()) {
                Some(o) => map.entry(o).or_default().push(label),
                None => problems.push(format!(
                    "OCM {}: label {id} ({}) has no {owner_field}",
                    self.env, label.key
                )),
            }
        }
        for labels in by_sub.values_mut().chain(by_org.values_mut()) {
            Label::sort(labels);
        }
        Ok((by_sub, by_org))
    }

    /// Subscriptions (id → organization id) that are managed and Active/Reserved, by id and by
    /// organization, and the managed, ready OSD/ROSA clusters of those subscriptions. Every
    /// search runs at once, and each subscription search asks for its subscriptions' clusters
    /// as soon as it is answered (a subscription found twice is asked about once). Results
    /// are merged in search order, so the outcome does not depend on timing.
    async fn subscriptions_and_clusters(
        &self,
        sub_ids: &[&String],
        org_ids: &[&String],
        problems: &mut Vec<String>,
    ) -> Result<(BTreeMap<String, String>, Vec<ClusterItemChecked>), ApiError> {
        const FILTER: &str = "managed='true' and status in ('Active','Reserved')";
        let mut searches = Vec::new();
        for chunk in sub_ids.chunks(CHUNK) {
            searches.push(format!("{} and {FILTER}", in_list("id", chunk)));
        }
        for chunk in org_ids.chunks(CHUNK) {
            searches.push(format!(
                "{} and {FILTER}",
                in_list("organization_id", chunk)
            ));
        }
        let asked: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
        let answers = futures::future::try_join_all(
            searches
                .iter()
                .map(|search| self.subscription_search(search, &asked)),
        )
        .await?;
        let mut subs = BTreeMap::new();
        let mut clusters: BTreeMap<String, ClusterItemChecked> = BTreeMap::new();
        let mut reported = BTreeSet::new();
        for answer in answers {
            for (id, org) in answer.subs {
                match org {
                    Some(org) => {
                        subs.insert(id, org);
                    }
                    None => {
                        if reported.insert(id.clone()) {
                            problems.push(format!(
                                "OCM {}: subscription {id} has no organization_id; its cluster is skipped",
                                self.env
                            ));
                        }
                    }
                }
            }
            problems.extend(answer.problems);
            for c in answer.clusters {
                clusters.insert(c.id.clone(), c);
            }
        }
        Ok((subs, clusters.into_values().collect()))
    }

    /// One subscription search, then the clusters of the subscriptions it found that no
    /// other search asked about yet (`asked`).
    async fn subscription_search(
        &self,
        search: &str,
        asked: &Mutex<BTreeSet<String>>,
    ) -> Result<SearchAnswer, ApiError> {
        let mut items: Vec<Option<SubscriptionItem>> = Vec::new();
        self.list_all(
            "subscriptions",
            &["api", "accounts_mgmt", "v1", "subscriptions"],
            search,
            |item| items.push(serde_json::from_value::<SubscriptionItem>(item).ok()),
        )
        .await?;
        let mut answer = SearchAnswer::default();
        for item in items {
            let Some(s) = item else {
                answer.problems.push(format!(
                    "OCM {}: a subscription item is not a JSON object of subscription fields",
                    self.env
                ));
                continue;
            };
            let Some(id) = s.id.filter(|i| !i.is_empty()) else {
                answer
                    .problems
                    .push(format!("OCM {}: a subscription has no id", self.env));
                continue;
            };
            answer
                .subs
                .push((id, s.organization_id.filter(|o| !o.is_empty())));
        }
        let new: Vec<&String> = {
            let mut asked = asked.lock().unwrap_or_else(PoisonError::into_inner);
            answer
                .subs
                .iter()
                .filter(|(id, org)| org.is_some() && asked.insert(id.clone()))
                .map(|(id, _)| id)
                .collect()
        };
        let chunks = new.chunks(CHUNK).map(|chunk| self.cluster_search(chunk));
        for found in futures::future::try_join_all(chunks).await? {
            for checked in found {
                match checked {
                    Ok(c) => answer.clusters.push(c),
                    Err(p) => answer.problems.push(p),
                }
            }
        }
        Ok(answer)
    }

    /// The managed, ready OSD/ROSA clusters of (at most [`CHUNK`]) subscriptions.
    async fn cluster_search(
        &self,
        sub_ids: &[&String],
    ) -> Result<Vec<Result<ClusterItemChecked, String>>, ApiError> {
        let search = format!(
            "managed='true' and product.id in ('osd','rosa') and state='ready' and {}",
            in_list("subscription.id", sub_ids)
        );
        let mut found = Vec::new();
        self.list_all(
            "clusters",
            &["api", "clusters_mgmt", "v1", "clusters"],
            &search,
            |item| found.push(self.check_cluster(&item)),
        )
        .await?;
        Ok(found)
    }

    fn check_cluster(&self, item: &Value) -> Result<ClusterItemChecked, String> {
        let c = ClusterItem::deserialize(item).map_err(|e| {
            let id = item.get("id").and_then(Value::as_str).unwrap_or("<no id>");
            format!("OCM {}: cluster {id} is malformed: {e}", self.env)
        })?;
        let sub = c.subscription.and_then(|s| s.id).filter(|s| !s.is_empty());
        let Some(id) = c.id.filter(|i| !i.is_empty()) else {
            return Err(format!(
                "OCM {}: a cluster of subscription {} has no id",
                self.env,
                sub.as_deref().unwrap_or("<none>")
            ));
        };
        let Some(external_id) = c.external_id.filter(|e| !e.is_empty()) else {
            return Err(format!("OCM {}: cluster {id} has no external_id", self.env));
        };
        let Some(subscription_id) = sub else {
            return Err(format!(
                "OCM {}: cluster {id} has no subscription.id",
                self.env
            ));
        };
        let product = c.product.and_then(|p| p.id).unwrap_or_default();
        let hypershift = c.hypershift.and_then(|h| h.enabled).unwrap_or(false);
        Ok(ClusterItemChecked {
            name: c
                .name
                .or(c.display_name)
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| id.clone()),
            id,
            external_id,
            subscription_id,
            is_hcp: product == "rosa" && hypershift,
        })
    }
}

/// What one subscription search found: subscriptions (with their organization, when they
/// name one), the clusters of those first found by it, and the problems.
#[derive(Default)]
struct SearchAnswer {
    subs: Vec<(String, Option<String>)>,
    clusters: Vec<ClusterItemChecked>,
    problems: Vec<String>,
}

struct ClusterItemChecked {
    id: String,
    external_id: String,
    name: String,
    subscription_id: String,
    is_hcp: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(key: &str, value: &str, created: &str, id: &str) -> Label {
        Label {
            id: id.into(),
            key: key.into(),
            value: value.into(),
            created_at: DateTime::parse_from_rfc3339(created)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
            created_raw: created.into(),
        }
    }

    #[test]
    fn search_values_are_single_quoted_with_quotes_doubled() {
        assert_eq!(quote("it's"), "'it''s'");
        assert_eq!(in_list("id", &["a"]), "id='a'");
        assert_eq!(in_list("id", &["a", "b'c"]), "id in ('a','b''c')");
    }

    #[test]
    fn a_subscription_label_replaces_an_organization_label_in_place() {
        let org = [
            label("k1", "org1", "2024-01-01T00:00:00Z", "a"),
            label("k2", "org2", "2024-01-01T00:00:01Z", "b"),
        ];
        let sub = [
            label("k3", "sub3", "2024-01-01T00:00:00Z", "c"),
            label("k1", "sub1", "2024-01-01T00:00:02Z", "d"),
        ];
        assert_eq!(
            merge_labels(&org, &sub),
            vec![
                ("k1".into(), "sub1".into()),
                ("k2".into(), "org2".into()),
                ("k3".into(), "sub3".into())
            ]
        );
    }

    #[test]
    fn labels_sort_by_creation_instant_then_id() {
        let mut ls = vec![
            label("a", "", "2024-01-01T00:00:00Z", "z"),
            label("b", "", "2024-01-01T00:00:00.500Z", "y"),
            label("c", "", "2023-12-31T23:59:59Z", "x"),
            label("d", "", "2024-01-01T00:00:00Z", "w"),
        ];
        Label::sort(&mut ls);
        let keys: Vec<&str> = ls.iter().map(|l| l.key.as_str()).collect();
        assert_eq!(keys, ["c", "d", "a", "b"]);
    }
}
