//! Table tests of the planner on in-memory inputs: each builds a world (app-interface data,
//! discovered clusters, Dynatrace token lists, delivered bundles) with typed builders and
//! asserts the exact plan and nothing else. Every behaviour of the Python integration's test
//! suite has its test here; the HTTP scenarios (`tests/it/scenarios.rs`) prove the wiring.

use super::cluster::same_scopes;
use super::*;
use crate::action::{BundleWrite, CollectReason, CreateReason, TokenCollect};
use crate::desired::desired_state;
use crate::model::bundle::{BundleKind, DesiredSecret, TokenValue, render_secret};
use crate::model::fixtures::{
    ClusterBuilder, INGESTION_HASH, INGESTION_SCOPES, OPERATOR_HASH, OPERATOR_SCOPES, cluster,
    python_world, strings,
};
use crate::model::{AppInterfaceData, DiscoveredCluster};
use chrono::TimeZone;
use secrecy::SecretString;

const NOW: i64 = 1_750_000_000;

/// A delivered Secret: `(name, tenant, [(key, token id, token value)])`.
type DeliveredSecret<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str, &'a str)]);

/// Everything the planner reads, built step by step.
struct World {
    data: AppInterfaceData,
    clusters: Vec<(OcmEnvName, DiscoveredCluster)>,
    tokens: BTreeMap<TenantId, Result<Vec<DtToken>, String>>,
    bundles: Bundles,
    departed: BTreeSet<ExternalClusterId>,
    policy: Policy,
}

impl World {
    fn python() -> Self {
        let data = python_world();
        let tokens = data
            .dynatrace_environments
            .iter()
            .map(|e| (e.environment_id.clone(), Ok(Vec::new())))
            .collect();
        Self {
            data,
            clusters: Vec::new(),
            tokens,
            bundles: BTreeMap::new(),
            departed: BTreeSet::new(),
            policy: Policy::default(),
        }
    }

    /// A discovered cluster with no bundle yet.
    fn cluster(mut self, c: ClusterBuilder) -> Self {
        let (env, c) = c.build();
        self.bundles.insert((env.clone(), c.id.clone()), Ok(None));
        self.clusters.push((env, c));
        self
    }

    /// A token in Dynatrace (enabled, no expiry, scopes as given).
    fn token(self, tenant: &str, id: &str, name: &str, scopes: &[&str]) -> Self {
        self.token_with(tenant, id, name, |t| {
            t.scopes = Some(strings(scopes).into())
        })
    }

    fn token_with(
        mut self,
        tenant: &str,
        id: &str,
        name: &str,
        f: impl FnOnce(&mut DtToken),
    ) -> Self {
        let mut t = DtToken {
            id: TokenId::new(id),
            name: name.into(),
            enabled: Some(true),
            expiration_date: None,
            created: None,
            scopes: None,
        };
        f(&mut t);
        if let Ok(list) = self.tokens.get_mut(&TenantId::new(tenant)).expect("tenant") {
            list.push(t);
        }
        self
    }

    /// The tenant's token list could not be read.
    fn tenant_fails(mut self, tenant: &str, error: &str) -> Self {
        self.tokens.insert(TenantId::new(tenant), Err(error.into()));
        self
    }

    /// The cluster's bundle as the Python integration writes it: each Secret `(name,
    /// tenant, [(key, id, value)])`.
    fn delivered(mut self, cluster: &str, secrets: &[DeliveredSecret<'_>]) -> Self {
        let resources = secrets
            .iter()
            .map(|(name, tenant, keys)| python_secret(name, tenant, keys))
            .collect();
        self.set_bundle(cluster, Ok(Some(Resources(resources))));
        self
    }

    fn set_bundle(&mut self, cluster: &str, b: Result<Option<Resources>, String>) {
        let key = self
            .bundles
            .keys()
            .find(|(_, id)| id.as_str() == cluster)
            .cloned()
            .expect("cluster added first");
        self.bundles.insert(key, b);
    }

    fn plan(&self) -> Plan {
        let desired = desired_state(&self.data, &self.clusters);
        let current = CurrentState {
            now: chrono::Utc.timestamp_opt(NOW, 0).unwrap(),
            tenants: self
                .tokens
                .iter()
                .map(|(t, r)| (t.clone(), r.clone().map(TenantTokens::new)))
                .collect(),
            bundles: self.bundles.clone(),
            departed: self.departed.clone(),
        };
        plan(&desired, &current, &self.policy)
    }
}

fn python_secret(name: &str, tenant: &str, keys: &[(&str, &str, &str)]) -> serde_json::Value {
    let secret = DesiredSecret {
        name: name.into(),
        namespace: "dynatrace".into(),
        api_url: format!("https://{tenant}.live.dynatrace.com/api"),
        tokens: keys
            .iter()
            .map(|(key, id, value)| {
                let token = SecretString::from((*value).to_owned());
                (
                    (*key).to_owned(),
                    TokenValue::Existing {
                        id: (*id).to_owned(),
                        token,
                    },
                )
            })
            .collect(),
    };
    let resolve = |v: &TokenValue| match v {
        TokenValue::Existing { id, token } => Some((id.clone(), token.clone())),
        TokenValue::Slot(_) => None,
    };
    render_secret(&secret, &resolve).expect("existing tokens only")
}

fn operator_name(uuid: &str) -> String {
    format!("dtp_operator-token_{uuid}_{OPERATOR_HASH}")
}

fn ingestion_name(uuid: &str) -> String {
    format!("dtp_ingestion-token_{uuid}_{INGESTION_HASH}")
}

/// The create of a spec token: `operator` (key `apiToken`) or `ingestion` (`dataIngestToken`).
fn create(
    slot: usize,
    which: &str,
    tenant: &str,
    uuid: &str,
    secret: &str,
    reason: CreateReason,
) -> Action {
    let (name, scopes, key) = match which {
        "operator" => (operator_name(uuid), &OPERATOR_SCOPES[..], "apiToken"),
        _ => (
            ingestion_name(uuid),
            &INGESTION_SCOPES[..],
            "dataIngestToken",
        ),
    };
    Action::CreateToken(TokenCreate {
        slot,
        tenant: TenantId::new(tenant),
        name,
        scopes: strings(scopes),
        reason,
        secret: format!("dynatrace/{secret}"),
        key: key.into(),
    })
}

fn create_bundle(kind: BundleKind) -> Action {
    Action::CreateBundle(BundleWrite {
        kind,
        reasons: vec![format!("{kind} ext-dynatrace-tokens-dtp does not exist")],
    })
}

fn patch(kind: BundleKind, reasons: &[&str]) -> Action {
    Action::PatchBundle(BundleWrite {
        kind,
        reasons: strings(reasons),
    })
}

/// A Dynatrace-shaped id and the value that belongs to it.
fn tid(n: &str) -> String {
    format!("dt0c01.{:X<24}", n.to_uppercase())
}
fn tval(n: &str) -> String {
    format!("{}.{:S<64}", tid(n), n.to_uppercase())
}

/// The actions of the one cluster of a plan (panics when there is not exactly one).
fn actions(p: &Plan) -> &[Action] {
    assert_eq!(p.clusters.len(), 1, "{p:?}");
    assert!(p.failed.is_empty() && p.skipped.is_empty(), "{p:?}");
    &p.clusters[0].actions
}

/// Python `test_dtp_create_...`: a new classic cluster gets both tokens and a SyncSet.
#[test]
fn a_new_classic_cluster_gets_two_tokens_and_a_syncset() {
    let p = World::python()
        .cluster(cluster("cluster_a", "external_id_a").v2("dt_tenant_a", "default"))
        .plan();
    let secret = "dynatrace-token-dtp";
    assert_eq!(
        actions(&p),
        [
            create(
                0,
                "operator",
                "dt_tenant_a",
                "external_id_a",
                secret,
                CreateReason::Missing
            ),
            create(
                1,
                "ingestion",
                "dt_tenant_a",
                "external_id_a",
                secret,
                CreateReason::Missing
            ),
            create_bundle(BundleKind::SyncSet),
        ]
    );
}

/// Python `..._hcp`: a hosted control plane gets a Manifest, never a SyncSet.
#[test]
fn a_new_hosted_cluster_gets_a_manifest() {
    let p = World::python()
        .cluster(
            cluster("cluster_a", "external_id_a")
                .hcp()
                .v2("dt_tenant_a", "default"),
        )
        .plan();
    assert_eq!(
        actions(&p).last(),
        Some(&create_bundle(BundleKind::Manifest))
    );
    assert_eq!(actions(&p).len(), 3);
}

/// Python `default_cluster_v3`: two v3 bindings, one bundle with both Secrets, label order.
#[test]
fn two_v3_bindings_give_one_bundle_with_both_secrets_in_label_order() {
    let p = World::python()
        .cluster(
            cluster("cluster_a", "external_id_a")
                .v3("regional", "regional-tenant", "regional-spec")
                .v3("slo", "slo-tenant", "slo-spec"),
        )
        .plan();
    let (r, s) = ("dynatrace-token-dtp", "dynatrace-slo-token-dtp");
    assert_eq!(
        actions(&p),
        [
            create(
                0,
                "operator",
                "regional-tenant",
                "external_id_a",
                r,
                CreateReason::Missing
            ),
            create(
                1,
                "ingestion",
                "regional-tenant",
                "external_id_a",
                r,
                CreateReason::Missing
            ),
            create(
                2,
                "ingestion",
                "slo-tenant",
                "external_id_a",
                s,
                CreateReason::Missing
            ),
            create_bundle(BundleKind::SyncSet),
        ]
    );
    let secrets: Vec<&str> = p.clusters[0]
        .secrets
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(secrets, [r, s]);
}

fn provisioned(hcp: bool) -> World {
    let c = cluster("cluster_a", "external_id_a").v2("dt_tenant_a", "default");
    World::python()
        .cluster(if hcp { c.hcp() } else { c })
        .token(
            "dt_tenant_a",
            &tid("op"),
            &operator_name("external_id_a"),
            &OPERATOR_SCOPES,
        )
        .token(
            "dt_tenant_a",
            &tid("in"),
            &ingestion_name("external_id_a"),
            &INGESTION_SCOPES,
        )
        .delivered(
            "cluster_a",
            &[(
                "dynatrace-token-dtp",
                "dt_tenant_a",
                &[
                    ("apiToken", &tid("op"), &tval("op")),
                    ("dataIngestToken", &tid("in"), &tval("in")),
                ],
            )],
        )
}

/// Python `..._no_change`: state the Python integration produced plans nothing.
#[test]
fn state_the_python_integration_produced_plans_nothing() {
    for hcp in [false, true] {
        let p = provisioned(hcp).plan();
        assert_eq!(actions(&p), [], "hcp: {hcp}");
        let keys: Vec<Option<&str>> = p.clusters[0].secrets[0]
            .keys
            .iter()
            .map(|k| k.token_id.as_ref().map(|i| i.as_str()))
            .collect();
        assert_eq!(keys, [Some(tid("op").as_str()), Some(tid("in").as_str())]);
    }
}

/// Python `test_dtp_..._drift`: a token whose name (and so scopes) drifted is renamed and
/// re-scoped, and nothing is written to OCM.
#[test]
fn a_drifted_token_is_updated_without_a_bundle_write() {
    let p = provisioned(false)
        .token_with(
            "dt_tenant_a",
            &tid("op"),
            "dtp_operator-token_external_id_a_oldhash0000",
            |t| {
                t.scopes = Some(strings(&["entities.read"]).into());
            },
        )
        .plan();
    // The drifted entry is listed after the fixture's own: the latest wins by id.
    assert_eq!(
        actions(&p),
        [Action::UpdateToken(TokenUpdate {
            tenant: TenantId::new("dt_tenant_a"),
            id: TokenId::new(tid("op")),
            name: operator_name("external_id_a"),
            scopes: strings(&OPERATOR_SCOPES),
            current_name: "dtp_operator-token_external_id_a_oldhash0000".into(),
            current_scopes: Some(strings(&["entities.read"])),
        })]
    );
}

/// Python `test_dtp_..._token_deleted`: a token deleted in Dynatrace is created again and the
/// bundle patched.
#[test]
fn a_token_deleted_in_dynatrace_is_recreated_and_the_bundle_patched() {
    let mut w = provisioned(false);
    w.tokens.insert(
        TenantId::new("dt_tenant_a"),
        Ok(vec![DtToken {
            id: TokenId::new(tid("in")),
            name: ingestion_name("external_id_a"),
            enabled: Some(true),
            expiration_date: None,
            created: None,
            scopes: None,
        }]),
    );
    let p = w.plan();
    assert_eq!(
        actions(&p),
        [
            create(
                0,
                "operator",
                "dt_tenant_a",
                "external_id_a",
                "dynatrace-token-dtp",
                CreateReason::Deleted
            ),
            patch(
                BundleKind::SyncSet,
                &["secret dynatrace/dynatrace-token-dtp gets a new token for key 'apiToken'"]
            ),
        ]
    );
}

/// Python multi-spec: a bundle missing one binding's Secret is patched with both.
#[test]
fn a_bundle_missing_one_bindings_secret_is_patched() {
    let p = World::python()
        .cluster(
            cluster("cluster_a", "external_id_a")
                .v3("regional", "regional-tenant", "regional-spec")
                .v3("slo", "slo-tenant", "slo-spec"),
        )
        .token(
            "regional-tenant",
            &tid("op"),
            &operator_name("external_id_a"),
            &OPERATOR_SCOPES,
        )
        .token(
            "regional-tenant",
            &tid("in"),
            &ingestion_name("external_id_a"),
            &INGESTION_SCOPES,
        )
        .delivered(
            "cluster_a",
            &[(
                "dynatrace-token-dtp",
                "regional-tenant",
                &[
                    ("apiToken", &tid("op"), &tval("op")),
                    ("dataIngestToken", &tid("in"), &tval("in")),
                ],
            )],
        )
        .plan();
    let s = "dynatrace-slo-token-dtp";
    assert_eq!(
        actions(&p),
        [
            create(
                0,
                "ingestion",
                "slo-tenant",
                "external_id_a",
                s,
                CreateReason::Missing
            ),
            patch(
                BundleKind::SyncSet,
                &[
                    "secret dynatrace/dynatrace-slo-token-dtp gets a new token for key 'dataIngestToken'"
                ]
            ),
        ]
    );
}

/// Python `test_dtp_..._org_filter`: a cluster whose organization no spec allows is skipped.
#[test]
fn a_cluster_of_a_foreign_organization_is_skipped() {
    let p = World::python()
        .cluster(
            cluster("cluster_a", "external_id_a")
                .org("other")
                .v2("dt_tenant_a", "default"),
        )
        .plan();
    assert!(p.clusters.is_empty() && p.failed.is_empty());
    assert_eq!(p.skipped.len(), 1);
    assert_eq!(
        p.skipped[0].reason,
        "organization 'other' is not allowed by the token spec of any binding"
    );
}

/// Gap G7: the allow-list applies per binding, so only the allowed binding is served.
#[test]
fn the_org_allow_list_applies_per_binding() {
    let mut w = World::python();
    w.data.token_specs[2].ocm_org_ids = vec![crate::model::OrgId::new("other")];
    let p = w
        .cluster(
            cluster("cluster_a", "external_id_a")
                .v3("regional", "regional-tenant", "regional-spec")
                .v3("slo", "slo-tenant", "slo-spec"),
        )
        .plan();
    let tenants: Vec<&str> = p.clusters[0]
        .secrets
        .iter()
        .map(|s| s.tenant.as_str())
        .collect();
    assert_eq!(tenants, ["regional-tenant"]);
    assert_eq!(actions(&p).len(), 3);
}

/// Disabled, expired and unreadable delivered tokens are replaced; the old ones (named for
/// the cluster) are deleted after delivery.
#[test]
fn broken_tokens_are_replaced_and_then_deleted() {
    let expired = chrono::Utc.timestamp_opt(NOW - 1, 0).unwrap();
    let mut w = provisioned(false);
    w.tokens.insert(TenantId::new("dt_tenant_a"), Ok(vec![]));
    let p = w
        .token_with(
            "dt_tenant_a",
            &tid("op"),
            &operator_name("external_id_a"),
            |t| t.enabled = Some(false),
        )
        .token_with(
            "dt_tenant_a",
            &tid("in"),
            &ingestion_name("external_id_a"),
            |t| t.expiration_date = Some(expired),
        )
        .plan();
    let secret = "dynatrace-token-dtp";
    let delete = |id: &str, name: String, reason| {
        Action::DeleteToken(TokenDelete {
            tenant: TenantId::new("dt_tenant_a"),
            id: TokenId::new(tid(id)),
            name,
            reason,
        })
    };
    assert_eq!(
        actions(&p),
        [
            create(
                0,
                "operator",
                "dt_tenant_a",
                "external_id_a",
                secret,
                CreateReason::Disabled
            ),
            create(
                1,
                "ingestion",
                "dt_tenant_a",
                "external_id_a",
                secret,
                CreateReason::Expired
            ),
            patch(
                BundleKind::SyncSet,
                &[
                    "secret dynatrace/dynatrace-token-dtp gets a new token for key 'apiToken'",
                    "secret dynatrace/dynatrace-token-dtp gets a new token for key 'dataIngestToken'",
                ]
            ),
            delete("op", operator_name("external_id_a"), CreateReason::Disabled),
            delete("in", ingestion_name("external_id_a"), CreateReason::Expired),
        ]
    );
}

/// A delivered value that does not belong to its id is replaced; a broken token not named for
/// the cluster is never deleted.
#[test]
fn a_bad_value_is_replaced_and_foreign_tokens_are_never_deleted() {
    let p = provisioned(false)
        .token_with(
            "dt_tenant_a",
            &tid("op"),
            "dtp_operator-token_another-cluster_1b6c3b9a7248",
            |t| t.enabled = Some(false),
        )
        .delivered(
            "cluster_a",
            &[(
                "dynatrace-token-dtp",
                "dt_tenant_a",
                &[
                    ("apiToken", &tid("op"), &tval("op")),
                    ("dataIngestToken", &tid("in"), &tval("other")),
                ],
            )],
        )
        .plan();
    let secret = "dynatrace-token-dtp";
    assert_eq!(
        actions(&p),
        [
            create(
                0,
                "operator",
                "dt_tenant_a",
                "external_id_a",
                secret,
                CreateReason::Disabled
            ),
            create(
                1,
                "ingestion",
                "dt_tenant_a",
                "external_id_a",
                secret,
                CreateReason::BadValue
            ),
            patch(
                BundleKind::SyncSet,
                &[
                    "secret dynatrace/dynatrace-token-dtp gets a new token for key 'apiToken'",
                    "secret dynatrace/dynatrace-token-dtp gets a new token for key 'dataIngestToken'",
                ]
            ),
            Action::DeleteToken(TokenDelete {
                tenant: TenantId::new("dt_tenant_a"),
                id: TokenId::new(tid("in")),
                name: ingestion_name("external_id_a"),
                reason: CreateReason::BadValue,
            }),
        ]
    );
}

/// Issue 8, ownership: a delivered token renamed by hand to a name dtp does not own is left
/// untouched (no update, no delete) and replaced by a new dtp token.
#[test]
fn a_token_renamed_by_hand_is_left_alone_and_replaced() {
    let p = provisioned(false)
        .token(
            "dt_tenant_a",
            &tid("op"),
            "renamed-by-hand",
            &["entities.read"],
        )
        .plan();
    assert_eq!(
        actions(&p),
        [
            create(
                0,
                "operator",
                "dt_tenant_a",
                "external_id_a",
                "dynatrace-token-dtp",
                CreateReason::NotOwned
            ),
            patch(
                BundleKind::SyncSet,
                &["secret dynatrace/dynatrace-token-dtp gets a new token for key 'apiToken'"]
            ),
        ]
    );
}

/// The Python integration's older `dtp…` names are still repaired by a PUT.
#[test]
fn an_older_dtp_name_is_still_updated() {
    let p = provisioned(false)
        .token(
            "dt_tenant_a",
            &tid("op"),
            "dtp-operator-token-external_id_a",
            &OPERATOR_SCOPES,
        )
        .plan();
    assert!(
        matches!(actions(&p), [Action::UpdateToken(u)] if u.current_name == "dtp-operator-token-external_id_a")
    );
}

/// The delivered content is compared, not just the ids: a wrong `apiUrl` is repaired.
#[test]
fn a_wrong_api_url_is_repaired_by_a_patch() {
    let p = provisioned(false)
        .delivered(
            "cluster_a",
            &[(
                "dynatrace-token-dtp",
                "another-tenant",
                &[
                    ("apiToken", &tid("op"), &tval("op")),
                    ("dataIngestToken", &tid("in"), &tval("in")),
                ],
            )],
        )
        .plan();
    assert_eq!(
        actions(&p),
        [patch(
            BundleKind::SyncSet,
            &["secret dynatrace/dynatrace-token-dtp has a different 'apiUrl'"]
        )]
    );
}

/// A tenant whose tokens could not be listed fails exactly the clusters that need it.
#[test]
fn a_failing_tenant_fails_only_its_clusters() {
    let p = World::python()
        .cluster(cluster("a", "ua").v2("dt_tenant_a", "default"))
        .cluster(cluster("b", "ub").v2("slo-tenant", "slo-spec"))
        .tenant_fails("dt_tenant_a", "HTTP 401: Token Authentication failed")
        .plan();
    assert_eq!(p.clusters.len(), 1);
    assert_eq!(p.clusters[0].cluster.id.as_str(), "b");
    assert_eq!(
        p.failed,
        [ClusterFailure {
            cluster: p.failed[0].cluster.clone(),
            error: "Dynatrace tenant 'dt_tenant_a': HTTP 401: Token Authentication failed".into(),
        }]
    );
    assert_eq!(p.failed[0].cluster.id.as_str(), "a");
}

/// A bundle that could not be read fails its cluster with the read's error.
#[test]
fn a_bundle_read_error_fails_the_cluster() {
    let mut w = World::python().cluster(cluster("a", "ua").v2("dt_tenant_a", "default"));
    w.set_bundle("a", Err("OCM ocm-env: GET syncset: HTTP 500".into()));
    let p = w.plan();
    assert!(p.clusters.is_empty());
    assert_eq!(p.failed[0].error, "OCM ocm-env: GET syncset: HTTP 500");
}

/// An unknown tenant leaves the cluster untouched (skipped, not failed), as in Python.
#[test]
fn an_unknown_tenant_leaves_the_cluster_untouched() {
    let p = World::python()
        .cluster(cluster("a", "ua").v2("nope", "default"))
        .plan();
    assert!(p.clusters.is_empty() && p.failed.is_empty());
    assert_eq!(
        p.skipped[0].reason,
        "Dynatrace tenant 'nope' does not exist; the cluster is left untouched"
    );
}

/// Two bindings defining the same Secret fail the cluster, which gets no action.
#[test]
fn two_bindings_defining_the_same_secret_fail_the_cluster() {
    let p = World::python()
        .cluster(cluster("a", "ua").v3("x", "dt_tenant_a", "default").v3(
            "y",
            "regional-tenant",
            "regional-spec",
        ))
        .plan();
    assert!(p.clusters.is_empty());
    assert_eq!(p.failed.len(), 1);
    assert!(
        p.failed[0]
            .error
            .contains("both define secret 'dynatrace-token-dtp'")
    );
}

/// Plans are ordered by OCM environment, then cluster id, whatever the discovery order.
#[test]
fn plans_are_ordered_by_cluster() {
    let p = World::python()
        .cluster(cluster("b", "ub").v2("dt_tenant_a", "default"))
        .cluster(cluster("a", "ua").v2("dt_tenant_a", "default"))
        .plan();
    let ids: Vec<&str> = p.clusters.iter().map(|c| c.cluster.id.as_str()).collect();
    assert_eq!(ids, ["a", "b"]);
}

#[test]
fn token_values_must_extend_dynatrace_shaped_ids() {
    assert!(value_belongs_to("dt0c01.ABC", "dt0c01.ABC.SECRET"));
    assert!(!value_belongs_to("dt0c01.ABC", "dt0c01.XYZ.SECRET"));
    assert!(!value_belongs_to("dt0c01.ABC", ""));
    // Test fixtures of the Python integration use free-form ids and values.
    assert!(value_belongs_to("id1", "operator123"));
}

#[test]
fn scope_comparison_ignores_order_and_duplicates() {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert!(same_scopes(&s(&["a", "b"]), &s(&["b", "a", "a"])));
    assert!(!same_scopes(&s(&["a"]), &s(&["a", "b"])));
}

/// Issue 8, collection: an unreferenced token named for a served cluster (a crash, a race or
/// the Python integration left it) is collected once older than the grace period; a young one,
/// one of unknown age, and one named for another cluster are kept.
#[test]
fn unreferenced_tokens_named_for_the_cluster_are_collected_after_the_grace_period() {
    let hour_ago = chrono::Utc.timestamp_opt(NOW - 3600, 0).unwrap();
    let minute_ago = chrono::Utc.timestamp_opt(NOW - 60, 0).unwrap();
    let orphan = |n: &str| format!("dtp_operator-token_external_id_a_{n}");
    let p = provisioned(false)
        .token_with("dt_tenant_a", &tid("old"), &orphan("aaaaaaaaaaaa"), |t| {
            t.created = Some(hour_ago)
        })
        .token_with("dt_tenant_a", &tid("young"), &orphan("bbbbbbbbbbbb"), |t| {
            t.created = Some(minute_ago)
        })
        .token_with(
            "dt_tenant_a",
            &tid("unknown"),
            &orphan("cccccccccccc"),
            |_| {},
        )
        .token_with(
            "dt_tenant_a",
            &tid("other"),
            "dtp_operator-token_external_id_b_aaaaaaaaaaaa",
            |t| t.created = Some(hour_ago),
        )
        .token_with(
            "regional-tenant",
            &tid("moved"),
            &orphan("dddddddddddd"),
            |t| t.created = Some(hour_ago),
        )
        .plan();
    let collect = |tenant: &str, id: &str, name: String| {
        Action::CollectToken(TokenCollect {
            tenant: TenantId::new(tenant),
            id: TokenId::new(tid(id)),
            name,
            cluster: ExternalClusterId::new("external_id_a"),
            reason: CollectReason::Unreferenced,
            created: Some(hour_ago),
        })
    };
    assert_eq!(
        actions(&p),
        [
            collect("dt_tenant_a", "old", orphan("aaaaaaaaaaaa")),
            collect("regional-tenant", "moved", orphan("dddddddddddd")),
        ]
    );
}

/// With a grace period of zero (one writer), every unreferenced token is collected at once.
#[test]
fn a_zero_grace_period_collects_every_orphan() {
    let mut w = provisioned(false).token_with(
        "dt_tenant_a",
        &tid("ghost"),
        "dtp_ingestion-token_external_id_a_f6e7fac64719",
        |_| {},
    );
    w.policy.orphan_grace = chrono::Duration::zero();
    let p = w.plan();
    assert!(matches!(actions(&p), [Action::CollectToken(c)] if c.id.as_str() == tid("ghost")));
}

/// Deletions past the budget are withheld (and reported), in plan order.
#[test]
fn deletions_past_the_budget_are_withheld() {
    let hour_ago = chrono::Utc.timestamp_opt(NOW - 3600, 0).unwrap();
    let mut w = World::python()
        .cluster(cluster("a", "ua").v2("dt_tenant_a", "default"))
        .cluster(cluster("b", "ub").v2("dt_tenant_a", "default"));
    for (id, uuid) in [("o1", "ua"), ("o2", "ub")] {
        w = w.token_with(
            "dt_tenant_a",
            &tid(id),
            &format!("dtp_x_{uuid}_aaaaaaaaaaaa"),
            |t| t.created = Some(hour_ago),
        );
    }
    w.policy.max_deletions = 1;
    let p = w.plan();
    assert!(p.clusters[0].actions.iter().any(|a| a.deletes()));
    assert!(!p.clusters[1].actions.iter().any(|a| a.deletes()));
    assert_eq!(p.withheld.len(), 1);
    assert_eq!(p.withheld[0].cluster, "ocm-env/ocm_org_id_a/b");
}

/// Issue 8, typos: while a binding label cannot be resolved, the Secrets no resolved binding
/// claims are carried over unchanged, and their tokens are not collected.
#[test]
fn a_typo_in_one_binding_carries_its_secrets_over() {
    let hour_ago = chrono::Utc.timestamp_opt(NOW - 3600, 0).unwrap();
    let world = |labels: fn(ClusterBuilder) -> ClusterBuilder| {
        World::python()
            .cluster(labels(cluster("cluster_a", "external_id_a")))
            .token_with(
                "regional-tenant",
                &tid("op"),
                &operator_name("external_id_a"),
                |t| t.created = Some(hour_ago),
            )
            .token_with(
                "regional-tenant",
                &tid("in"),
                &ingestion_name("external_id_a"),
                |t| t.created = Some(hour_ago),
            )
            .token_with(
                "slo-tenant",
                &tid("slo"),
                &ingestion_name("external_id_a"),
                |t| t.created = Some(hour_ago),
            )
            .delivered(
                "cluster_a",
                &[
                    (
                        "dynatrace-token-dtp",
                        "regional-tenant",
                        &[
                            ("apiToken", &tid("op"), &tval("op")),
                            ("dataIngestToken", &tid("in"), &tval("in")),
                        ],
                    ),
                    (
                        "dynatrace-slo-token-dtp",
                        "slo-tenant",
                        &[("dataIngestToken", &tid("slo"), &tval("slo"))],
                    ),
                ],
            )
    };
    let typo = world(|c| {
        c.v3("regional", "regional-tenant", "regional-spec")
            .v3("slo", "slo-tenant", "slo-spek")
    })
    .plan();
    assert_eq!(actions(&typo), []);
    assert_eq!(
        typo.clusters[0].carried_over,
        ["dynatrace/dynatrace-slo-token-dtp"]
    );
    let unknown_tenant = world(|c| {
        c.v3("regional", "regional-tenant", "regional-spec")
            .v3("slo", "slo-tenat", "slo-spec")
    })
    .plan();
    assert_eq!(actions(&unknown_tenant), []);
    let half_pair = world(|c| {
        c.v3("regional", "regional-tenant", "regional-spec")
            .label("sre-capabilities.dtp.v3.slo.tenant", "slo-tenant")
    })
    .plan();
    assert_eq!(actions(&half_pair), []);

    // The labels removed altogether: the Secret goes, then its token is collected.
    let removed = world(|c| c.v3("regional", "regional-tenant", "regional-spec")).plan();
    assert_eq!(
        actions(&removed),
        [
            patch(
                BundleKind::SyncSet,
                &["secret dynatrace/dynatrace-slo-token-dtp is not wanted any more"]
            ),
            Action::CollectToken(TokenCollect {
                tenant: TenantId::new("slo-tenant"),
                id: TokenId::new(tid("slo")),
                name: ingestion_name("external_id_a"),
                cluster: ExternalClusterId::new("external_id_a"),
                reason: CollectReason::Unreferenced,
                created: Some(hour_ago),
            }),
        ]
    );
}

/// With `--collect-departed`: the tokens of a cluster OCM confirms gone are collected.
#[test]
fn the_tokens_of_a_departed_cluster_are_collected() {
    let hour_ago = chrono::Utc.timestamp_opt(NOW - 3600, 0).unwrap();
    let gone = "6f0c7e1a-1111-4222-8333-444455556666";
    let mut w = World::python()
        .token_with(
            "slo-tenant",
            &tid("g"),
            &format!("dtp_ingestion-token_{gone}_f6e7fac64719"),
            |t| t.created = Some(hour_ago),
        )
        .token_with(
            "slo-tenant",
            &tid("h"),
            "dtp_ingestion-token_7f0c7e1a-1111-4222-8333-444455556666_f6e7fac64719",
            |t| t.created = Some(hour_ago),
        );
    w.departed.insert(ExternalClusterId::new(gone));
    let p = w.plan();
    assert_eq!(p.departed.len(), 1);
    assert_eq!(p.departed[0].cluster.as_str(), gone);
    assert!(matches!(
        p.departed[0].actions.as_slice(),
        [Action::CollectToken(c)] if c.id.as_str() == tid("g") && c.reason == CollectReason::Departed
    ));
}
