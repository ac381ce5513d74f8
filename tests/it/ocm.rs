//! Black-box tests of the OCM client against the OCM sandbox on loopback: discovery (filters,
//! organization-label inheritance, paging and chunking, malformed items), the
//! `ext-dynatrace-tokens-dtp` SyncSet/Manifest, SSO token caching and refresh, retries, and
//! service-log deduplication; plus contract checks of the sandbox itself with raw HTTP.

use dtp::clients::http::{Http, HttpSettings};
use dtp::clients::ocm::OcmClient;
use dtp::clients::{ApiError, Ocm};
use dtp::model::ServiceLogOutcome;
use dtp::model::bundle::{BundleKind, Resources};
use dtp::model::{ClusterId, ExternalClusterId, OcmEnvName, OcmEnvironment, VaultSecretRef};
use dtp::sandbox::common::{Control, FaultRule, Served};
use dtp::sandbox::ocm::{
    FixtureClient, FixtureCluster, FixtureOrganization, Labels, OcmFixture, OcmSandbox,
    SSO_TOKEN_PATH,
};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const SECRET: &str = "s3cret-client-secret";
const TENANT: &str = "sre-capabilities.dtp.v2.tenant";
const SPEC: &str = "sre-capabilities.dtp.v2.token-spec";

struct World {
    ocm: OcmSandbox,
    control: Control,
    served: Served,
}

impl World {
    async fn start(mut fixture: OcmFixture) -> Self {
        fixture.clients.push(FixtureClient {
            client_id: "dtp".into(),
            client_secret: SECRET.into(),
        });
        let ocm = OcmSandbox::from_fixture(fixture);
        let control = Control::new();
        let served = ocm
            .serve("production", control.clone())
            .await
            .expect("serve");
        Self {
            ocm,
            control,
            served,
        }
    }

    async fn with_clusters(clusters: Vec<FixtureCluster>) -> Self {
        Self::start(OcmFixture {
            clusters,
            ..Default::default()
        })
        .await
    }

    fn client(&self) -> OcmClient {
        self.client_with_secret(SECRET)
    }

    fn client_with_secret(&self, secret: &str) -> OcmClient {
        let env = OcmEnvironment {
            name: OcmEnvName::new("production"),
            url: format!("{}/", self.served.url),
            access_token_url: format!("{}{SSO_TOKEN_PATH}", self.served.url),
            access_token_client_id: "dtp".into(),
            access_token_client_secret: VaultSecretRef {
                path: "app-sre/ocm".into(),
                field: "client_secret".into(),
                version: None,
                format: None,
            },
            source: None,
        };
        let settings = HttpSettings {
            timeout: Duration::from_secs(10),
            min_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
            max_retry_after: Duration::from_secs(2),
            ..HttpSettings::default()
        };
        let http = Http::new(settings).expect("http client");
        OcmClient::new(&env, secret.to_owned().into(), http)
    }

    /// Requests whose path ends with `suffix`.
    fn requests_to(&self, method: &str, suffix: &str) -> Vec<dtp::sandbox::common::Recorded> {
        self.control
            .requests()
            .into_iter()
            .filter(|r| r.method == method && r.path.ends_with(suffix))
            .collect()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.served.url)
    }

    /// A raw bearer token for contract checks.
    async fn raw_token(&self) -> String {
        let resp: Value = reqwest::Client::new()
            .post(self.url(SSO_TOKEN_PATH))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "dtp"),
                ("client_secret", SECRET),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        resp["access_token"].as_str().unwrap().to_owned()
    }

    async fn raw_get(&self, path_and_query: &str) -> (u16, Value) {
        let token = self.raw_token().await;
        let resp = reqwest::Client::new()
            .get(self.url(path_and_query))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

fn labelled(id: &str, org: &str) -> FixtureCluster {
    FixtureCluster::new(id, org)
        .external_id(format!("uuid-{id}"))
        .label(TENANT, "abc12345")
        .label(SPEC, "default")
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// The number of values in each `in (...)` list of a search string.
fn in_list_sizes(search: &str) -> Vec<usize> {
    search
        .match_indices(" in (")
        .map(|(i, m)| {
            let rest = &search[i + m.len()..];
            let end = rest.find(')').expect("closing parenthesis");
            rest[..end].split("','").count()
        })
        .collect()
}

fn secret_resource(name: &str, token: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": "dynatrace"},
        "data": {"apiToken": token},
    })
}

// ---------------------------------------------------------------------------------------------
// Discovery

#[tokio::test]
async fn discovery_returns_exactly_the_labelled_managed_ready_osd_and_rosa_clusters() {
    let world = World::with_clusters(vec![
        labelled("c-osd", "org-a").name("prod-1"),
        labelled("c-rosa", "org-a").product("rosa"),
        labelled("c-hcp", "org-a").rosa_hcp(),
        labelled("c-osd-hypershift-flag", "org-a").hypershift(true),
        labelled("c-reserved", "org-b").subscription("sub-reserved", "Reserved"),
        labelled("c-hibernating", "org-a").state("hibernating"),
        labelled("c-unmanaged", "org-a").unmanaged(),
        labelled("c-deprovisioned", "org-a").subscription("sub-gone", "Deprovisioned"),
        labelled("c-other-product", "org-a").product("other"),
        FixtureCluster::new("c-unlabelled", "org-a"),
        FixtureCluster::new("c-foreign-label", "org-a").label("sre-capabilities.other.tenant", "x"),
    ])
    .await;

    let d = world.client().discover_clusters().await.expect("discovery");

    assert!(d.problems.is_empty(), "{:?}", d.problems);
    let found: Vec<(&str, bool)> = d
        .clusters
        .iter()
        .map(|c| (c.id.as_str(), c.is_hcp))
        .collect();
    assert_eq!(
        found,
        [
            ("c-hcp", true),
            ("c-osd", false),
            ("c-osd-hypershift-flag", false),
            ("c-reserved", false),
            ("c-rosa", false),
        ]
    );
    let osd = d
        .clusters
        .iter()
        .find(|c| c.id.as_str() == "c-osd")
        .unwrap();
    assert_eq!(osd.external_id, ExternalClusterId::new("uuid-c-osd"));
    assert_eq!(osd.name, "prod-1");
    assert_eq!(osd.subscription_id.as_str(), "sub-c-osd");
    assert_eq!(osd.organization_id.as_str(), "org-a");
    assert_eq!(
        osd.labels,
        vec![
            (TENANT.into(), "abc12345".into()),
            (SPEC.into(), "default".into())
        ]
    );
}

#[tokio::test]
async fn discovery_sends_the_documented_searches_with_stable_paging() {
    let world = World::with_clusters(vec![labelled("c1", "org-a")]).await;
    world.client().discover_clusters().await.expect("discovery");

    let labels = world.requests_to("GET", "/api/accounts_mgmt/v1/labels");
    assert_eq!(labels.len(), 1);
    let q = &labels[0].query;
    assert_eq!(
        query_param(q, "search").unwrap(),
        "key like 'sre-capabilities.dtp.%' and type in ('Organization','Subscription')"
    );
    assert_eq!(query_param(q, "page").as_deref(), Some("1"));
    assert_eq!(query_param(q, "size").as_deref(), Some("100"));
    assert_eq!(query_param(q, "order").as_deref(), Some("id"));

    let subs = world.requests_to("GET", "/api/accounts_mgmt/v1/subscriptions");
    assert_eq!(
        query_param(&subs[0].query, "search").unwrap(),
        "id='sub-c1' and managed='true' and status in ('Active','Reserved')"
    );
    let clusters = world.requests_to("GET", "/api/clusters_mgmt/v1/clusters");
    assert_eq!(
        query_param(&clusters[0].query, "search").unwrap(),
        "managed='true' and product.id in ('osd','rosa') and state='ready' and subscription.id='sub-c1'"
    );
}

#[tokio::test]
async fn organization_labels_are_inherited_and_a_subscription_label_wins_on_the_same_key() {
    let mut org_labels = Labels::default();
    org_labels.0.push((TENANT.into(), "org-tenant".into()));
    org_labels.0.push((SPEC.into(), "org-spec".into()));
    let world = World::start(OcmFixture {
        organizations: vec![FixtureOrganization {
            id: "org-a".into(),
            labels: org_labels,
        }],
        clusters: vec![
            FixtureCluster::new("c-override", "org-a")
                .label("sre-capabilities.dtp.v3.x.tenant", "v3-tenant")
                .label(SPEC, "sub-spec"),
            FixtureCluster::new("c-inherit", "org-a"),
            labelled("c-other-org", "org-b"),
            FixtureCluster::new("c-other-org-unlabelled", "org-b"),
        ],
        ..Default::default()
    })
    .await;

    let d = world.client().discover_clusters().await.expect("discovery");

    assert!(d.problems.is_empty(), "{:?}", d.problems);
    let labels = |id: &str| {
        d.clusters
            .iter()
            .find(|c| c.id.as_str() == id)
            .unwrap_or_else(|| panic!("{id} not discovered"))
            .labels
            .clone()
    };
    // The organization's keys keep their place; the subscription's value replaces them.
    assert_eq!(
        labels("c-override"),
        vec![
            (TENANT.into(), "org-tenant".into()),
            (SPEC.into(), "sub-spec".into()),
            (
                "sre-capabilities.dtp.v3.x.tenant".into(),
                "v3-tenant".into()
            ),
        ]
    );
    assert_eq!(
        labels("c-inherit"),
        vec![
            (TENANT.into(), "org-tenant".into()),
            (SPEC.into(), "org-spec".into())
        ]
    );
    assert_eq!(
        labels("c-other-org"),
        vec![
            (TENANT.into(), "abc12345".into()),
            (SPEC.into(), "default".into())
        ]
    );
    assert_eq!(
        d.clusters.len(),
        3,
        "c-other-org-unlabelled has no labels at all"
    );
}

#[tokio::test]
async fn discovery_walks_every_page_and_keeps_at_most_100_ids_per_search() {
    let mut clusters: Vec<FixtureCluster> = (0..250)
        .map(|i| labelled(&format!("c{i:03}"), "org-big"))
        .collect();
    // An organization label pulls in 120 more subscriptions (two pages by organization).
    clusters.extend((0..120).map(|i| FixtureCluster::new(format!("w{i:03}"), "org-wide")));
    let mut wide = Labels::default();
    wide.0.push((TENANT.into(), "wide".into()));
    let world = World::start(OcmFixture {
        organizations: vec![FixtureOrganization {
            id: "org-wide".into(),
            labels: wide,
        }],
        clusters,
        ..Default::default()
    })
    .await;

    let d = world.client().discover_clusters().await.expect("discovery");

    assert!(d.problems.is_empty(), "{:?}", d.problems);
    assert_eq!(d.clusters.len(), 370);
    let labels = world.requests_to("GET", "/labels");
    let pages: Vec<String> = labels
        .iter()
        .map(|r| query_param(&r.query, "page").unwrap())
        .collect();
    assert_eq!(
        pages,
        ["1", "2", "3", "4", "5", "6"],
        "2 × 250 subscription labels + 1 organization label"
    );
    let mut largest = 0;
    for r in world
        .control
        .requests()
        .iter()
        .filter(|r| r.method == "GET")
    {
        if let Some(search) = query_param(&r.query, "search") {
            for n in in_list_sizes(&search) {
                assert!(n <= 100, "{n} values in one search: {}", r.path);
                largest = largest.max(n);
            }
            assert_eq!(query_param(&r.query, "size").as_deref(), Some("100"));
        }
    }
    assert_eq!(largest, 100, "full chunks are used");
    let cluster_searches = world.requests_to("GET", "/clusters").len();
    // Each subscription search asks for its subscriptions' clusters as soon as it is
    // answered: the 4 id chunks (370 subscriptions), and the organization search for the
    // subscriptions only it found.
    assert_eq!(
        cluster_searches, 5,
        "370 subscriptions → 4 chunks of ≤100 + the organization search's, one page each"
    );
    let sub_searches = world.requests_to("GET", "/subscriptions").len();
    assert_eq!(
        sub_searches,
        3 + 2,
        "3 id chunks, then 2 pages for the organization"
    );
}

#[tokio::test]
async fn discovery_follows_total_when_the_server_pages_smaller_than_asked() {
    let world = World::with_clusters(
        (0..130)
            .map(|i| labelled(&format!("c{i:03}"), "org-a"))
            .collect(),
    )
    .await;
    world.ocm.set_max_page_size(40);

    let d = world.client().discover_clusters().await.expect("discovery");

    assert_eq!(d.clusters.len(), 130);
    // 260 labels in pages of 40.
    assert_eq!(world.requests_to("GET", "/labels").len(), 7);
}

#[tokio::test]
async fn a_malformed_cluster_is_a_problem_and_the_others_are_still_returned() {
    let world = World::with_clusters(vec![
        labelled("c1", "org-a"),
        labelled("c2", "org-a"),
        labelled("c3", "org-a"),
        labelled("c4", "org-a"),
    ])
    .await;
    world.ocm.edit_cluster("c2", |c| {
        c.as_object_mut().unwrap().remove("external_id");
    });
    world.ocm.edit_subscription("sub-c4", |s| {
        s.as_object_mut().unwrap().remove("organization_id");
    });

    let d = world.client().discover_clusters().await.expect("discovery");

    let ids: Vec<&str> = d.clusters.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["c1", "c3"]);
    assert_eq!(
        d.problems,
        [
            "OCM production: subscription sub-c4 has no organization_id; its cluster is skipped",
            "OCM production: cluster c2 has no external_id",
        ]
    );
}

#[tokio::test]
async fn a_page_level_http_error_fails_the_whole_discovery() {
    let world = World::with_clusters(vec![labelled("c1", "org-a")]).await;
    world.control.add_fault(FaultRule {
        path_contains: "/api/clusters_mgmt/v1/clusters".into(),
        status: 400,
        ..Default::default()
    });

    let err = world
        .client()
        .discover_clusters()
        .await
        .expect_err("must fail");

    assert_eq!(err.status(), Some(400));
    assert!(
        err.to_string()
            .starts_with("OCM production: list clusters (page 1): HTTP 400"),
        "{err}"
    );
}

#[tokio::test]
async fn no_labels_means_no_clusters_and_no_further_queries() {
    let world = World::with_clusters(vec![FixtureCluster::new("c1", "org-a")]).await;
    let d = world.client().discover_clusters().await.expect("discovery");
    assert_eq!(d.clusters, []);
    assert!(world.requests_to("GET", "/subscriptions").is_empty());
}

// ---------------------------------------------------------------------------------------------
// SyncSets and Manifests

#[tokio::test]
async fn an_absent_bundle_reads_as_none_and_creating_it_posts_the_object_with_its_id() {
    let world = World::with_clusters(vec![labelled("c1", "org-a")]).await;
    let client = world.client();
    let cluster = ClusterId::new("c1");

    assert!(
        client
            .get_bundle(&cluster, BundleKind::SyncSet)
            .await
            .unwrap()
            .is_none()
    );

    let resources = Resources(vec![secret_resource("dynatrace-token-dtp", "dG9r")]);
    client
        .create_bundle(&cluster, BundleKind::SyncSet, &resources)
        .await
        .expect("create");

    assert_eq!(world.ocm.syncset("c1"), Some(resources.0.clone()));
    let posts = world.requests_to("POST", "/clusters/c1/external_configuration/syncsets");
    assert_eq!(posts.len(), 1);
    let body = posts[0].body.as_ref().unwrap();
    assert_eq!(body["id"], "ext-dynatrace-tokens-dtp");
    assert_eq!(body["kind"], "SyncSet");
    let read = client
        .get_bundle(&cluster, BundleKind::SyncSet)
        .await
        .unwrap();
    assert_eq!(read, Some(resources));
}

#[tokio::test]
async fn patching_a_bundle_replaces_its_resources_whole_and_sends_no_id() {
    let world = World::with_clusters(vec![labelled("c1", "org-a").with_syncset(vec![
        secret_resource("old", "b2xk"),
        secret_resource("older", "eA=="),
    ])])
    .await;
    let client = world.client();
    let new = Resources(vec![secret_resource("dynatrace-token-dtp", "bmV3")]);

    client
        .patch_bundle(&ClusterId::new("c1"), BundleKind::SyncSet, &new)
        .await
        .expect("patch");

    assert_eq!(world.ocm.syncset("c1"), Some(new.0));
    let patches = world.requests_to("PATCH", "/syncsets/ext-dynatrace-tokens-dtp");
    assert_eq!(patches.len(), 1);
    assert!(patches[0].body.as_ref().unwrap().get("id").is_none());
}

#[tokio::test]
async fn hosted_control_planes_get_a_manifest_with_workloads() {
    let world = World::with_clusters(vec![labelled("hcp", "org-a").rosa_hcp()]).await;
    let client = world.client();
    let cluster = ClusterId::new("hcp");
    let workloads = Resources(vec![secret_resource("dynatrace-token-dtp", "dG9r")]);

    assert!(
        client
            .get_bundle(&cluster, BundleKind::Manifest)
            .await
            .unwrap()
            .is_none()
    );
    client
        .create_bundle(&cluster, BundleKind::Manifest, &workloads)
        .await
        .expect("create");

    assert_eq!(world.ocm.manifest("hcp"), Some(workloads.0.clone()));
    assert_eq!(
        client
            .get_bundle(&cluster, BundleKind::Manifest)
            .await
            .unwrap(),
        Some(workloads)
    );
    assert_eq!(world.ocm.manifest_count(), 1);
    assert_eq!(world.ocm.syncset_count(), 0);
}

#[tokio::test]
async fn the_wrong_bundle_kind_for_a_cluster_is_a_clear_400() {
    let world = World::with_clusters(vec![
        labelled("classic", "org-a"),
        labelled("hcp", "org-a").rosa_hcp(),
    ])
    .await;
    let client = world.client();

    let err = client
        .get_bundle(&ClusterId::new("classic"), BundleKind::Manifest)
        .await
        .expect_err("manifests are for HCP only");
    assert_eq!(err.status(), Some(400));
    assert!(
        err.to_string()
            .contains("OCM production: GET manifest ext-dynatrace-tokens-dtp of cluster classic"),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("not a hosted control plane cluster"),
        "{err}"
    );

    let err = client
        .create_bundle(
            &ClusterId::new("hcp"),
            BundleKind::SyncSet,
            &Resources::default(),
        )
        .await
        .expect_err("syncsets are for classic clusters only");
    assert_eq!(err.status(), Some(400));
    assert!(
        err.to_string().contains("SyncSets are not supported"),
        "{err}"
    );
}

#[tokio::test]
async fn creating_a_bundle_that_exists_is_a_409_and_patching_a_missing_one_a_404() {
    let world = World::with_clusters(vec![labelled("c1", "org-a").with_syncset(vec![])]).await;
    let client = world.client();

    let err = client
        .create_bundle(
            &ClusterId::new("c1"),
            BundleKind::SyncSet,
            &Resources::default(),
        )
        .await
        .expect_err("duplicate");
    assert_eq!(err.status(), Some(409));
    assert!(
        err.to_string()
            .contains("OCM production: POST syncset ext-dynatrace-tokens-dtp of cluster c1"),
        "{err}"
    );

    world.ocm.set_syncset("c1", None);
    let err = client
        .patch_bundle(
            &ClusterId::new("c1"),
            BundleKind::SyncSet,
            &Resources::default(),
        )
        .await
        .expect_err("absent");
    assert!(err.is_not_found(), "{err}");

    let err = client
        .create_bundle(
            &ClusterId::new("nope"),
            BundleKind::SyncSet,
            &Resources::default(),
        )
        .await
        .expect_err("unknown cluster");
    assert!(err.is_not_found(), "{err}");
}

// ---------------------------------------------------------------------------------------------
// SSO

#[tokio::test]
async fn one_token_serves_many_concurrent_calls() {
    let world = World::with_clusters(
        (0..10)
            .map(|i| labelled(&format!("c{i}"), "org-a"))
            .collect(),
    )
    .await;
    let client = world.client();
    let calls = (0..10).map(|i| {
        let client = &client;
        async move {
            client
                .get_bundle(&ClusterId::new(format!("c{i}")), BundleKind::SyncSet)
                .await
        }
    });
    for r in futures::future::join_all(calls).await {
        assert!(r.unwrap().is_none());
    }
    assert_eq!(world.ocm.sso_grants(), 1);
}

#[tokio::test]
async fn an_expired_sso_token_is_refreshed_transparently() {
    let world = World::with_clusters(vec![labelled("c1", "org-a")]).await;
    let client = world.client();
    let cluster = ClusterId::new("c1");
    client
        .get_bundle(&cluster, BundleKind::SyncSet)
        .await
        .unwrap();
    assert_eq!(world.ocm.sso_grants(), 1);

    world.ocm.expire_all_tokens();
    let resources = Resources(vec![secret_resource("s", "dA==")]);
    client
        .create_bundle(&cluster, BundleKind::SyncSet, &resources)
        .await
        .expect("create after expiry");

    assert_eq!(world.ocm.sso_grants(), 2);
    assert_eq!(world.ocm.syncset("c1"), Some(resources.0));
    // The POST that met the expired token was repeated once, with the new token.
    assert_eq!(world.requests_to("POST", "/syncsets").len(), 2);
}

#[tokio::test]
async fn a_token_about_to_expire_is_renewed_before_use() {
    let world = World::with_clusters(vec![labelled("c1", "org-a")]).await;
    world.ocm.set_token_lifetime(Duration::from_secs(2));
    let client = world.client();
    let cluster = ClusterId::new("c1");
    client
        .get_bundle(&cluster, BundleKind::SyncSet)
        .await
        .unwrap();

    tokio::time::sleep(Duration::from_millis(1100)).await;
    client
        .get_bundle(&cluster, BundleKind::SyncSet)
        .await
        .unwrap();

    assert_eq!(world.ocm.sso_grants(), 2);
    assert_eq!(
        world.requests_to("GET", "/ext-dynatrace-tokens-dtp").len(),
        2,
        "no call met a 401"
    );
}

#[tokio::test]
async fn a_wrong_client_secret_is_an_auth_error_that_never_shows_the_secret() {
    let world = World::with_clusters(vec![labelled("c1", "org-a")]).await;
    let wrong = "wr0ng-and-very-secret";
    let client = world.client_with_secret(wrong);

    let err = client.discover_clusters().await.expect_err("refused");

    assert!(matches!(err, ApiError::Auth { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with("OCM production: SSO token request for client dtp"),
        "{text}"
    );
    assert!(text.contains("invalid_client"), "{text}");
    assert!(!text.contains(wrong) && !format!("{err:?}").contains(wrong));
    assert!(!format!("{client:?}").contains(wrong));
    assert_eq!(
        world.requests_to("POST", SSO_TOKEN_PATH).len(),
        1,
        "a 401 from SSO is not retried"
    );
    assert_eq!(world.ocm.sso_grants(), 0);
}

#[tokio::test]
async fn an_sso_outage_is_retried() {
    let world = World::with_clusters(vec![labelled("c1", "org-a")]).await;
    world.control.add_fault(FaultRule {
        path_contains: SSO_TOKEN_PATH.into(),
        status: 502,
        times: Some(2),
        ..Default::default()
    });
    let d = world
        .client()
        .discover_clusters()
        .await
        .expect("discovery after SSO recovered");
    assert_eq!(d.clusters.len(), 1);
    assert_eq!(world.requests_to("POST", SSO_TOKEN_PATH).len(), 3);
}

// ---------------------------------------------------------------------------------------------
// Retries

#[tokio::test]
async fn a_503_with_retry_after_is_retried_after_the_given_delay() {
    let world = World::with_clusters(vec![labelled("c1", "org-a")]).await;
    world.control.add_fault(FaultRule {
        method: Some("GET".into()),
        path_contains: "/api/accounts_mgmt/v1/labels".into(),
        status: 503,
        times: Some(1),
        retry_after: Some(1),
        ..Default::default()
    });
    let started = Instant::now();

    let d = world.client().discover_clusters().await.expect("discovery");

    assert_eq!(d.clusters.len(), 1);
    assert_eq!(world.requests_to("GET", "/labels").len(), 2);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_500_on_post_is_not_retried_but_a_503_is() {
    let world = World::with_clusters(vec![labelled("c1", "org-a"), labelled("c2", "org-a")]).await;
    let client = world.client();
    world.control.add_fault(FaultRule {
        method: Some("POST".into()),
        path_contains: "/clusters/c1/external_configuration/syncsets".into(),
        status: 500,
        times: Some(1),
        ..Default::default()
    });
    let err = client
        .create_bundle(
            &ClusterId::new("c1"),
            BundleKind::SyncSet,
            &Resources::default(),
        )
        .await
        .expect_err("500");
    assert_eq!(err.status(), Some(500));
    assert_eq!(
        world
            .requests_to("POST", "/clusters/c1/external_configuration/syncsets")
            .len(),
        1
    );
    assert_eq!(world.ocm.syncset("c1"), None);

    world.control.add_fault(FaultRule {
        method: Some("POST".into()),
        path_contains: "/clusters/c2/external_configuration/syncsets".into(),
        status: 503,
        times: Some(1),
        ..Default::default()
    });
    client
        .create_bundle(
            &ClusterId::new("c2"),
            BundleKind::SyncSet,
            &Resources::default(),
        )
        .await
        .expect("503 means not processed: retried");
    assert_eq!(
        world
            .requests_to("POST", "/clusters/c2/external_configuration/syncsets")
            .len(),
        2
    );
    assert_eq!(world.ocm.syncset("c2"), Some(vec![]));
}

// ---------------------------------------------------------------------------------------------
// Service logs

#[tokio::test]
async fn an_identical_service_log_from_the_last_day_is_not_posted_again() {
    let world = World::with_clusters(vec![labelled("c1", "org-a")]).await;
    let client = world.client();
    let uuid = ExternalClusterId::new("uuid-c1");
    let description = "\n DTP can't create ext-dynatrace-tokens-dtp due to 'quotes' and more";

    assert_eq!(
        client.post_service_log(&uuid, description).await.unwrap(),
        ServiceLogOutcome::Posted
    );
    assert_eq!(
        client.post_service_log(&uuid, description).await.unwrap(),
        ServiceLogOutcome::Deduplicated
    );

    let logs = world.ocm.service_logs();
    assert_eq!(logs.len(), 1);
    let log = &logs[0];
    assert_eq!(log["cluster_uuid"], "uuid-c1");
    assert_eq!(log["service_name"], "dynatrace-token-provider");
    assert_eq!(log["summary"], "Dynatrace Token Provider Errors");
    assert_eq!(log["severity"], "Moderate");
    assert_eq!(log["description"], description);
    assert_eq!(log["username"], "service-account-dtp");

    let lookups = world.requests_to("GET", "/api/service_logs/v1/clusters/cluster_logs");
    assert_eq!(
        query_param(&lookups[0].query, "cluster_uuid").as_deref(),
        Some("uuid-c1")
    );
    assert_eq!(
        query_param(&lookups[0].query, "size").as_deref(),
        Some("100")
    );
    let search = query_param(&lookups[0].query, "search").unwrap();
    assert!(search.starts_with("created_at >= '"), "{search}");
    assert!(
        search.ends_with(
            "' and description='\n DTP can''t create ext-dynatrace-tokens-dtp due to ''quotes'' and more' \
             and service_name='dynatrace-token-provider' and severity='Moderate' \
             and summary='Dynatrace Token Provider Errors'"
        ),
        "{search}"
    );
}

#[tokio::test]
async fn a_different_description_another_cluster_or_an_old_log_is_posted() {
    let world = World::with_clusters(vec![labelled("c1", "org-a")]).await;
    let client = world.client();
    let c1 = ExternalClusterId::new("uuid-c1");
    client.post_service_log(&c1, "first").await.unwrap();

    assert_eq!(
        client.post_service_log(&c1, "second").await.unwrap(),
        ServiceLogOutcome::Posted
    );
    let other = ExternalClusterId::new("uuid-c2");
    assert_eq!(
        client.post_service_log(&other, "first").await.unwrap(),
        ServiceLogOutcome::Posted
    );
    world.ocm.edit_service_logs(|logs| {
        for l in logs.iter_mut() {
            l["created_at"] = json!("2020-01-01T00:00:00.000Z");
        }
    });
    assert_eq!(
        client.post_service_log(&c1, "first").await.unwrap(),
        ServiceLogOutcome::Posted
    );
    assert_eq!(world.ocm.service_logs().len(), 4);
}

// ---------------------------------------------------------------------------------------------
// The sandbox's own contract

#[tokio::test]
async fn the_sandbox_requires_a_valid_bearer_token() {
    let world = World::with_clusters(vec![]).await;
    let http = reqwest::Client::new();
    let resp = http
        .get(world.url("/api/clusters_mgmt/v1/clusters"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["kind"], "Error");
    assert_eq!(body["id"], "401");
    assert_eq!(body["code"], "CLUSTERS-MGMT-401");
    assert_eq!(body["reason"], "Authentication required");

    let token = world.raw_token().await;
    world.ocm.expire_all_tokens();
    let resp = http
        .get(world.url("/api/accounts_mgmt/v1/labels"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["reason"], "Bearer token is expired");
    assert_eq!(body["code"], "ACCOUNT-MGMT-401");
}

#[tokio::test]
async fn the_sandbox_sso_accepts_basic_auth_and_rejects_other_grants() {
    let world = World::with_clusters(vec![]).await;
    let http = reqwest::Client::new();
    let resp = http
        .post(world.url(SSO_TOKEN_PATH))
        .basic_auth("dtp", Some(SECRET))
        .form(&[("grant_type", "client_credentials"), ("scope", "openid")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);

    let resp = http
        .post(world.url(SSO_TOKEN_PATH))
        .form(&[
            ("grant_type", "password"),
            ("client_id", "dtp"),
            ("client_secret", SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn the_sandbox_rejects_bad_searches_and_orders_with_a_reason() {
    let world = World::with_clusters(vec![labelled("c1", "org-a")]).await;
    let (status, body) = world
        .raw_get("/api/clusters_mgmt/v1/clusters?search=region='x'")
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["reason"],
        "Invalid search: unknown attribute 'region' at position 0"
    );
    let (status, body) = world
        .raw_get("/api/clusters_mgmt/v1/clusters?search=id in ('a'")
        .await;
    assert_eq!(status, 400);
    assert!(
        body["reason"].as_str().unwrap().contains("',' or ')'"),
        "{body}"
    );
    let (status, body) = world
        .raw_get("/api/accounts_mgmt/v1/subscriptions?order=bogus desc")
        .await;
    assert_eq!(status, 400);
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("unknown field 'bogus'"),
        "{body}"
    );
}

#[tokio::test]
async fn the_sandbox_clamps_page_size_to_100_and_reports_the_total() {
    let world = World::with_clusters(
        (0..150)
            .map(|i| FixtureCluster::new(format!("c{i:03}"), "org-a"))
            .collect(),
    )
    .await;
    let (status, body) = world
        .raw_get("/api/clusters_mgmt/v1/clusters?size=500&order=id desc")
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["kind"], "ClusterList");
    assert_eq!(body["size"], 100);
    assert_eq!(body["total"], 150);
    assert_eq!(body["items"][0]["id"], "c149");
    let (_, body) = world
        .raw_get("/api/clusters_mgmt/v1/clusters?page=2&order=id")
        .await;
    assert_eq!(body["page"], 2);
    assert_eq!(body["size"], 50);
    assert_eq!(body["items"][0]["id"], "c100");
    assert!(
        body["items"][0].get("organization").is_none(),
        "clusters carry no organization"
    );
}

#[tokio::test]
async fn the_sandbox_embeds_subscription_labels_on_request() {
    let world = World::with_clusters(vec![labelled("c1", "org-a")]).await;
    let (_, plain) = world.raw_get("/api/accounts_mgmt/v1/subscriptions").await;
    assert!(plain["items"][0].get("labels").is_none());
    let (_, with) = world
        .raw_get("/api/accounts_mgmt/v1/subscriptions?fetchLabels=true")
        .await;
    let labels = with["items"][0]["labels"].as_array().unwrap();
    assert_eq!(labels.len(), 2);
    assert_eq!(labels[0]["kind"], "Label");
    assert_eq!(labels[0]["type"], "Subscription");
    assert_eq!(labels[0]["subscription_id"], "sub-c1");
    assert!(labels[0]["created_at"].as_str() < labels[1]["created_at"].as_str());
}

#[tokio::test]
async fn the_sandbox_validates_service_logs() {
    let world = World::with_clusters(vec![]).await;
    let token = world.raw_token().await;
    let http = reqwest::Client::new();
    let post = |body: Value| {
        http.post(world.url("/api/service_logs/v1/cluster_logs"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let resp =
        post(json!({"cluster_uuid": "u", "service_name": "s", "summary": "x", "severity": "Bad"}))
            .await
            .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "SERVICE-LOGS-400");
    assert!(
        body["reason"].as_str().unwrap().contains("Moderate"),
        "{body}"
    );
    let resp = post(json!({"cluster_uuid": "u", "summary": "x"}))
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = post(
        json!({"cluster_uuid": "u", "service_name": "s", "summary": "x", "internal_only": true}),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 201);
    let created: Value = resp.json().await.unwrap();
    assert_eq!(created["kind"], "ClusterLog");
    assert_eq!(created["severity"], "Info");
    // Internal-only logs are hidden from the per-cluster listing.
    let (_, listed) = world
        .raw_get("/api/service_logs/v1/clusters/cluster_logs?cluster_uuid=u")
        .await;
    assert_eq!(listed["total"], 0);
    let (status, _) = world
        .raw_get("/api/service_logs/v1/clusters/cluster_logs")
        .await;
    assert_eq!(status, 400, "cluster_uuid is required");
}

#[test]
fn fixtures_read_from_compact_yaml_and_reject_unknown_fields() {
    let fx = OcmFixture::from_yaml(
        r#"
clients: [{client_id: dtp, client_secret: s3cret}]
token_lifetime_secs: 60
organizations: [{id: org-a, labels: {sre-capabilities.dtp.v2.tenant: abc}}]
clusters:
  - id: 2abc
    external_id: 6f0c0000-0000-0000-0000-000000000001
    name: prod-1
    organization: org-a
    product: rosa
    hcp: true
    subscription: {id: sub-1, status: Reserved}
    labels: {sre-capabilities.dtp.v2.token-spec: default, sre-capabilities.dtp.v2.tenant: 12345}
    manifest: [{kind: Secret, metadata: {name: x}}]
"#,
    )
    .expect("valid fixture");
    assert!(!format!("{:?}", fx.clients).contains("s3cret"));
    let c = &fx.clusters[0];
    assert_eq!(c.state, "ready");
    assert!(c.managed);
    assert_eq!(c.labels.0[0].0, SPEC, "labels keep their fixture order");
    assert_eq!(c.labels.0[1].1, "12345");
    let sb = OcmSandbox::from_fixture(fx);
    assert_eq!(sb.manifest("2abc").unwrap().len(), 1);
    assert_eq!(sb.subscription("sub-1").unwrap()["status"], "Reserved");

    let err =
        OcmFixture::from_yaml("clusters: [{id: x, organization: o, prodcut: osd}]").unwrap_err();
    assert!(err.contains("prodcut"), "{err}");
    let err = OcmSandbox::try_from_fixture(OcmFixture {
        clusters: vec![FixtureCluster::new("x", "o").state("sleeping")],
        ..Default::default()
    })
    .unwrap_err();
    assert!(err.contains("unknown state 'sleeping'"), "{err}");
    let err = OcmSandbox::try_from_fixture(OcmFixture {
        clusters: vec![FixtureCluster::new("x", "o").with_manifest(vec![])],
        ..Default::default()
    })
    .unwrap_err();
    assert!(err.contains("give a syncset"), "{err}");
}
