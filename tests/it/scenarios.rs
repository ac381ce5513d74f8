//! Scenario tests: one per behaviour of the Python integration's test suite (create, patch and
//! no-change for SyncSets and Manifests, multi-spec, dry-run, org filters, spec validation,
//! token drift), plus dtp's own guarantees (repair, compensation, isolation, convergence). Each
//! runs the real reconcile over HTTP against the sandbox and asserts exactly which writes
//! happened, and nothing else.

use crate::common::*;
use serde_json::{Value, json};

fn body_names(writes: &[&dtp::sandbox::common::Recorded]) -> Vec<String> {
    let mut v: Vec<String> = writes
        .iter()
        .map(|w| {
            w.body
                .as_ref()
                .and_then(|b| b["name"].as_str())
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    v.sort();
    v
}

fn secret_names(resources: &[Value]) -> Vec<String> {
    resources
        .iter()
        .map(|r| r["metadata"]["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_new_classic_cluster_gets_two_tokens_and_a_syncset() {
    let mut w = world();
    add_cluster(
        &mut w,
        "cluster_a",
        "external_id_a",
        "ocm_org_id_a",
        false,
        v2_labels("dt_tenant_a", "default"),
    );
    let h = start(&w).await;
    let (report, writes) = h.run_writes(false).await;
    assert_eq!(report.exit_code(), 0, "{:?}", report.errors());

    let creates = token_writes(&writes, "dt_tenant_a", "POST");
    assert_eq!(body_names(&creates), vec![INGESTION_NAME, OPERATOR_NAME]);
    let op = creates
        .iter()
        .find(|c| c.body.as_ref().unwrap()["name"] == OPERATOR_NAME)
        .unwrap();
    assert_eq!(
        op.body.as_ref().unwrap()["scopes"],
        scopes(&OPERATOR_SCOPES)
    );
    let posts = ocm_writes(&writes, "/syncsets");
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].method, "POST");
    assert_eq!(
        posts[0].body.as_ref().unwrap()["id"],
        "ext-dynatrace-tokens-dtp"
    );
    assert_eq!(posts[0].body.as_ref().unwrap()["kind"], "SyncSet");
    assert!(ocm_writes(&writes, "/manifests").is_empty());
    assert_eq!(writes.len(), 3, "exactly two token creates and one SyncSet");

    // The Secret holds the tokens Dynatrace created, in the Python layout.
    let ss = h.syncset("cluster_a").expect("syncset exists");
    assert_eq!(secret_names(&ss), vec!["dynatrace-token-dtp"]);
    let data = &ss[0]["data"];
    let tokens = h.sandbox.dynatrace().tokens("dt_tenant_a");
    let op_token = tokens.iter().find(|t| t.name == OPERATOR_NAME).unwrap();
    assert_eq!(unb64(&data["apiTokenId"]), op_token.id);
    assert_eq!(unb64(&data["apiToken"]), op_token.token);
    assert!(unb64(&data["apiUrl"]).ends_with("/e/dt_tenant_a/api"));
    assert_eq!(
        ss[0]["metadata"]["annotations"]["qontract.integration"],
        "dynatrace-token-provider"
    );
    let keys: Vec<&String> = data.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        vec![
            "apiUrl",
            "apiToken",
            "apiTokenId",
            "dataIngestToken",
            "dataIngestTokenId"
        ]
    );
}

#[tokio::test]
async fn a_new_hosted_control_plane_cluster_gets_a_manifest_and_no_syncset() {
    let mut w = world();
    add_cluster(
        &mut w,
        "cluster_a",
        "external_id_a",
        "ocm_org_id_a",
        true,
        v2_labels("dt_tenant_a", "default"),
    );
    let h = start(&w).await;
    let (report, writes) = h.run_writes(false).await;
    assert_eq!(report.exit_code(), 0, "{:?}", report.errors());
    assert_eq!(token_writes(&writes, "dt_tenant_a", "POST").len(), 2);
    let m = ocm_writes(&writes, "/manifests");
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].body.as_ref().unwrap()["kind"], "Manifest");
    assert_eq!(
        m[0].body.as_ref().unwrap()["id"],
        "ext-dynatrace-tokens-dtp"
    );
    assert!(ocm_writes(&writes, "/syncsets").is_empty());
    assert_eq!(
        secret_names(&h.manifest("cluster_a").unwrap()),
        vec!["dynatrace-token-dtp"]
    );
    assert!(token_writes(&writes, "dt_tenant_a", "PUT").is_empty());
}

#[tokio::test]
async fn a_cluster_with_two_v3_bindings_gets_one_syncset_with_both_secrets_in_label_order() {
    let mut w = world();
    add_cluster(
        &mut w,
        "cluster_a",
        "external_id_a",
        "ocm_org_id_a",
        false,
        v3_labels(),
    );
    let h = start(&w).await;
    let (report, writes) = h.run_writes(false).await;
    assert_eq!(report.exit_code(), 0, "{:?}", report.errors());
    assert_eq!(token_writes(&writes, "regional-tenant", "POST").len(), 2);
    assert_eq!(
        body_names(&token_writes(&writes, "slo-tenant", "POST")),
        vec![INGESTION_NAME]
    );
    let posts = ocm_writes(&writes, "/syncsets");
    assert_eq!(posts.len(), 1);
    let ss = h.syncset("cluster_a").unwrap();
    assert_eq!(
        secret_names(&ss),
        vec!["dynatrace-token-dtp", "dynatrace-slo-token-dtp"]
    );
    assert!(unb64(&ss[0]["data"]["apiUrl"]).ends_with("/e/regional-tenant/api"));
    assert!(unb64(&ss[1]["data"]["apiUrl"]).ends_with("/e/slo-tenant/api"));
}

/// Cluster b is provisioned (both tokens in its SyncSet) but Dynatrace only knows the
/// ingestion token; cluster a has nothing. A dry-run reads all that and writes nothing.
#[tokio::test]
async fn a_dry_run_reads_everything_and_writes_nothing() {
    let mut w = world();
    add_cluster(
        &mut w,
        "cluster_a",
        "external_id_a",
        "ocm_org_id_a",
        false,
        v2_labels("dt_tenant_a", "default"),
    );
    add_cluster(
        &mut w,
        "cluster_b",
        "external_id_b",
        "ocm_org_id_a",
        false,
        v2_labels("dt_tenant_a", "default"),
    )["syncset"] = json!([python_secret(
        "dynatrace-token-dtp",
        "dt_tenant_a",
        &[
            ("apiToken", &tid("id1"), &tval("id1")),
            ("dataIngestToken", &tid("id2"), &tval("id2"))
        ]
    )]);
    dt_token(
        &mut w,
        "dt_tenant_a",
        &tid("id2"),
        "dtp_ingestion-token_external_id_b_f6e7fac64719",
        &tval("id2"),
        &INGESTION_SCOPES,
    );
    let h = start(&w).await;
    let (report, writes) = h.run_writes(true).await;
    assert!(writes.is_empty(), "dry-run wrote: {writes:?}");
    assert_eq!(report.exit_code(), 0);
    // The plan is what a real run would do.
    let changes: Vec<_> = report.plan.changes().collect();
    assert_eq!(changes.len(), 2);
    let b = changes
        .iter()
        .find(|c| c.cluster.id.as_str() == "cluster_b")
        .unwrap();
    let creates: Vec<_> = b.creates().collect();
    assert_eq!(creates.len(), 1);
    assert_eq!(creates[0].reason, dtp::action::CreateReason::Deleted);
    // Every read happened: bundles and token list.
    let reads = h.sandbox.control.requests();
    assert!(
        reads
            .iter()
            .any(|r| r.path.ends_with("/syncsets/ext-dynatrace-tokens-dtp"))
    );
    assert!(
        reads
            .iter()
            .any(|r| r.path == "/e/dt_tenant_a/api/v2/apiTokens")
    );

    // Applying performs exactly that plan.
    let (_, writes) = h.run_writes(false).await;
    assert_eq!(token_writes(&writes, "dt_tenant_a", "POST").len(), 3);
    assert_eq!(ocm_writes(&writes, "/syncsets").len(), 2);
    assert_eq!(writes.len(), 5);
}

async fn provisioned_world(hcp: bool, operator_name: &str) -> Harness {
    let mut w = world();
    let c = add_cluster(
        &mut w,
        "cluster_a",
        "external_id_a",
        "ocm_org_id_a",
        hcp,
        v2_labels("dt_tenant_a", "default"),
    );
    c[if hcp { "manifest" } else { "syncset" }] = json!([python_secret(
        "dynatrace-token-dtp",
        "dt_tenant_a",
        &[
            ("apiToken", &tid("id1"), &tval("id1")),
            ("dataIngestToken", &tid("id2"), &tval("id2"))
        ]
    )]);
    dt_token(
        &mut w,
        "dt_tenant_a",
        &tid("id1"),
        operator_name,
        &tval("id1"),
        &OPERATOR_SCOPES,
    );
    dt_token(
        &mut w,
        "dt_tenant_a",
        &tid("id2"),
        INGESTION_NAME,
        &tval("id2"),
        &INGESTION_SCOPES,
    );
    start(&w).await
}

#[tokio::test]
async fn a_classic_cluster_provisioned_by_the_python_integration_gets_no_write() {
    let h = provisioned_world(false, OPERATOR_NAME).await;
    let (report, writes) = h.run_writes(false).await;
    assert_eq!(report.exit_code(), 0, "{:?}", report.errors());
    assert!(writes.is_empty(), "{writes:?}");
    assert!(report.plan.is_empty());
}

#[tokio::test]
async fn a_hosted_cluster_provisioned_by_the_python_integration_gets_no_write() {
    let h = provisioned_world(true, OPERATOR_NAME).await;
    let (report, writes) = h.run_writes(false).await;
    assert_eq!(report.exit_code(), 0, "{:?}", report.errors());
    assert!(writes.is_empty(), "{writes:?}");
}

#[tokio::test]
async fn a_token_whose_name_drifted_is_renamed_and_rescoped_without_touching_ocm() {
    // A `dtp…` name that is not the current one (the Python integration lists only names
    // starting with `dtp`, so only those are its to repair).
    let h = provisioned_world(false, "dtp-config-diff").await;
    let (report, writes) = h.run_writes(false).await;
    assert_eq!(report.exit_code(), 0, "{:?}", report.errors());
    let puts = token_writes(&writes, "dt_tenant_a", "PUT");
    assert_eq!(puts.len(), 1);
    assert_eq!(
        puts[0].path,
        format!("/e/dt_tenant_a/api/v2/apiTokens/{}", tid("id1"))
    );
    assert_eq!(
        puts[0].body.as_ref().unwrap(),
        &json!({"name": OPERATOR_NAME, "scopes": OPERATOR_SCOPES})
    );
    assert_eq!(writes.len(), 1, "only the PUT: {writes:?}");
}

/// Issue 8, ownership: a delivered token renamed by hand to a name dtp does not own is left
/// untouched (no PUT, no DELETE) and replaced by a new dtp token.
#[tokio::test]
async fn a_token_renamed_by_hand_is_left_untouched_and_replaced() {
    let h = provisioned_world(false, "config-diff").await;
    let (report, writes) = h.run_writes(false).await;
    assert_eq!(report.exit_code(), 0, "{:?}", report.errors());
    assert!(
        token_writes(&writes, "dt_tenant_a", "PUT").is_empty(),
        "{writes:?}"
    );
    assert!(
        token_writes(&writes, "dt_tenant_a", "DELETE").is_empty(),
        "{writes:?}"
    );
    let posts = token_writes(&writes, "dt_tenant_a", "POST");
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].body.as_ref().unwrap()["name"], OPERATOR_NAME);
    assert_eq!(
        ocm_writes(&writes, "syncsets").len(),
        1,
        "the new token is delivered"
    );
    let renamed = h
        .sandbox
        .dynatrace()
        .token("dt_tenant_a", &tid("id1"))
        .expect("kept");
    assert_eq!(renamed.name, "config-diff");
}

#[tokio::test]
async fn a_deleted_token_is_recreated_and_the_syncset_patched_without_id() {
    for hcp in [false, true] {
        let mut w = world();
        let c = add_cluster(
            &mut w,
            "cluster_a",
            "external_id_a",
            "ocm_org_id_a",
            hcp,
            v2_labels("dt_tenant_a", "default"),
        );
        c[if hcp { "manifest" } else { "syncset" }] = json!([python_secret(
            "dynatrace-token-dtp",
            "dt_tenant_a",
            &[
                ("apiToken", &tid("id1"), &tval("id1")),
                ("dataIngestToken", &tid("id2"), &tval("id2"))
            ]
        )]);
        dt_token(
            &mut w,
            "dt_tenant_a",
            &tid("id2"),
            INGESTION_NAME,
            &tval("id2"),
            &INGESTION_SCOPES,
        );
        let h = start(&w).await;
        let (report, writes) = h.run_writes(false).await;
        assert_eq!(report.exit_code(), 0, "{:?}", report.errors());
        assert_eq!(
            body_names(&token_writes(&writes, "dt_tenant_a", "POST")),
            vec![OPERATOR_NAME]
        );
        let what = if hcp {
            "/manifests/ext-dynatrace-tokens-dtp"
        } else {
            "/syncsets/ext-dynatrace-tokens-dtp"
        };
        let patches = ocm_writes(&writes, what);
        assert_eq!(patches.len(), 1);
        assert_eq!(patches[0].method, "PATCH");
        assert!(patches[0].body.as_ref().unwrap().get("id").is_none());
        assert_eq!(writes.len(), 2, "{writes:?}");
        let res = if hcp {
            h.manifest("cluster_a")
        } else {
            h.syncset("cluster_a")
        }
        .unwrap();
        assert_eq!(
            unb64(&res[0]["data"]["dataIngestToken"]),
            tval("id2"),
            "the existing token is kept"
        );
        assert_ne!(unb64(&res[0]["data"]["apiTokenId"]), tid("id1"));
    }
}

#[tokio::test]
async fn a_multi_spec_syncset_missing_one_secret_is_patched_with_both() {
    let mut w = world();
    add_cluster(
        &mut w,
        "cluster_a",
        "external_id_a",
        "ocm_org_id_a",
        false,
        v3_labels(),
    )["syncset"] = json!([python_secret(
        "dynatrace-token-dtp",
        "regional-tenant",
        &[
            ("apiToken", &tid("id1"), &tval("id1")),
            ("dataIngestToken", &tid("id2"), &tval("id2"))
        ]
    )]);
    dt_token(
        &mut w,
        "regional-tenant",
        &tid("id2"),
        INGESTION_NAME,
        &tval("id2"),
        &INGESTION_SCOPES,
    );
    let h = start(&w).await;
    let (report, writes) = h.run_writes(false).await;
    assert_eq!(report.exit_code(), 0, "{:?}", report.errors());
    assert_eq!(
        body_names(&token_writes(&writes, "regional-tenant", "POST")),
        vec![OPERATOR_NAME]
    );
    assert_eq!(
        body_names(&token_writes(&writes, "slo-tenant", "POST")),
        vec![INGESTION_NAME]
    );
    assert!(token_writes(&writes, "regional-tenant", "PUT").is_empty());
    let patches = ocm_writes(&writes, "/syncsets/ext-dynatrace-tokens-dtp");
    assert_eq!(patches.len(), 1);
    assert_eq!(
        secret_names(
            patches[0].body.as_ref().unwrap()["resources"]
                .as_array()
                .unwrap()
        ),
        vec!["dynatrace-token-dtp", "dynatrace-slo-token-dtp"]
    );
}

#[tokio::test]
async fn a_provisioned_multi_spec_cluster_gets_no_write() {
    let mut w = world();
    add_cluster(
        &mut w,
        "cluster_a",
        "external_id_a",
        "ocm_org_id_a",
        false,
        v3_labels(),
    )["syncset"] = json!([
        python_secret(
            "dynatrace-token-dtp",
            "regional-tenant",
            &[
                ("apiToken", &tid("r1"), &tval("r1")),
                ("dataIngestToken", &tid("r2"), &tval("r2"))
            ]
        ),
        python_secret(
            "dynatrace-slo-token-dtp",
            "slo-tenant",
            &[("dataIngestToken", &tid("s1"), &tval("s1"))]
        ),
    ]);
    dt_token(
        &mut w,
        "regional-tenant",
        &tid("r1"),
        OPERATOR_NAME,
        &tval("r1"),
        &OPERATOR_SCOPES,
    );
    dt_token(
        &mut w,
        "regional-tenant",
        &tid("r2"),
        INGESTION_NAME,
        &tval("r2"),
        &INGESTION_SCOPES,
    );
    dt_token(
        &mut w,
        "slo-tenant",
        &tid("s1"),
        INGESTION_NAME,
        &tval("s1"),
        &INGESTION_SCOPES,
    );
    let h = start(&w).await;
    let (report, writes) = h.run_writes(false).await;
    assert_eq!(report.exit_code(), 0, "{:?}", report.errors());
    assert!(writes.is_empty(), "{writes:?}");
}

#[tokio::test]
async fn a_cluster_whose_organization_no_spec_allows_is_skipped() {
    let mut w = world();
    add_cluster(
        &mut w,
        "cluster_a",
        "external_id_a",
        "does-not-exist",
        false,
        v2_labels("dt_tenant_a", "default"),
    );
    let h = start(&w).await;
    let (report, writes) = h.run_writes(false).await;
    assert!(writes.is_empty());
    assert_eq!(report.plan.skipped.len(), 1);
    assert!(
        report.plan.skipped[0].reason.contains("is not allowed"),
        "{}",
        report.plan.skipped[0].reason
    );
    assert_eq!(report.exit_code(), 0);
}

#[tokio::test]
async fn the_org_allow_list_applies_per_binding() {
    let mut w = world();
    w["app_interface"]["datafiles"]["/dynatrace/slo.yml"]["ocm_org_ids"] = json!(["another-org"]);
    add_cluster(
        &mut w,
        "cluster_a",
        "external_id_a",
        "ocm_org_id_a",
        false,
        v3_labels(),
    );
    let h = start(&w).await;
    let (report, writes) = h.run_writes(false).await;
    assert_eq!(report.exit_code(), 0, "{:?}", report.errors());
    assert!(
        token_writes(&writes, "slo-tenant", "POST").is_empty(),
        "the slo binding is not allowed for this org"
    );
    assert_eq!(
        secret_names(&h.syncset("cluster_a").unwrap()),
        vec!["dynatrace-token-dtp"]
    );
}

#[tokio::test]
async fn invalid_token_specs_stop_the_run_before_any_cluster_work() {
    let mut w = world();
    let spec = &mut w["app_interface"]["datafiles"]["/dynatrace/default.yml"];
    spec["secrets"] = json!([
        {"name": "s", "namespace": "dynatrace", "tokens": [{"name": "a", "keyNameInSecret": "k", "scopes": ["metrics.ingest"]}]},
        {"name": "s", "namespace": "dynatrace", "tokens": [
            {"name": "b", "keyNameInSecret": "k2", "scopes": ["metrics.ingest"]},
            {"name": "b", "keyNameInSecret": "k2", "scopes": ["metrics.ingest"]}
        ]},
    ]);
    add_cluster(
        &mut w,
        "cluster_a",
        "external_id_a",
        "ocm_org_id_a",
        false,
        v2_labels("dt_tenant_a", "default"),
    );
    let h = start(&w).await;
    h.sandbox.control.clear_requests();
    let err = h.run(false).await.expect_err("invalid data");
    assert_eq!(err.exit_code(), 2);
    let text = err.to_string();
    assert!(
        text.contains(
            "Secret 's' in namespace 'dynatrace' is defined multiple times in spec 'default'"
        ),
        "{text}"
    );
    assert!(
        text.contains("Token name 'b' is used more than once"),
        "{text}"
    );
    assert!(
        text.contains("Key name 'k2' is used more than once"),
        "{text}"
    );
    assert!(
        h.sandbox
            .control
            .requests()
            .iter()
            .all(|r| r.system == "graphql"),
        "nothing but app-interface was read"
    );
}

#[tokio::test]
async fn disabled_and_expired_tokens_are_replaced_and_then_deleted() {
    let mut w = world();
    add_cluster(
        &mut w,
        "cluster_a",
        "external_id_a",
        "ocm_org_id_a",
        false,
        v2_labels("dt_tenant_a", "default"),
    )["syncset"] = json!([python_secret(
        "dynatrace-token-dtp",
        "dt_tenant_a",
        &[
            ("apiToken", &tid("id1"), &tval("id1")),
            ("dataIngestToken", &tid("id2"), &tval("id2"))
        ]
    )]);
    dt_token(
        &mut w,
        "dt_tenant_a",
        &tid("id1"),
        OPERATOR_NAME,
        &tval("id1"),
        &OPERATOR_SCOPES,
    );
    dt_token(
        &mut w,
        "dt_tenant_a",
        &tid("id2"),
        INGESTION_NAME,
        &tval("id2"),
        &INGESTION_SCOPES,
    );
    let tenants = w["dynatrace"]["tenants"].as_array_mut().unwrap();
    let t = tenants
        .iter_mut()
        .find(|t| t["id"] == "dt_tenant_a")
        .unwrap();
    t["tokens"][0]["enabled"] = json!(false);
    t["tokens"][1]["expiration_date"] = json!("2020-01-01T00:00:00Z");
    let h = start(&w).await;
    let (report, writes) = h.run_writes(false).await;
    assert_eq!(report.exit_code(), 0, "{:?}", report.errors());
    assert_eq!(token_writes(&writes, "dt_tenant_a", "POST").len(), 2);
    assert_eq!(ocm_writes(&writes, "/syncsets").len(), 1);
    let deletes: Vec<_> = token_writes(&writes, "dt_tenant_a", "DELETE")
        .iter()
        .map(|d| d.path.clone())
        .collect();
    assert_eq!(
        deletes,
        vec![
            format!("/e/dt_tenant_a/api/v2/apiTokens/{}", tid("id1")),
            format!("/e/dt_tenant_a/api/v2/apiTokens/{}", tid("id2"))
        ]
    );
    // Deletes come after delivery.
    let last_ocm = writes
        .iter()
        .rposition(|w| w.system.starts_with("ocm"))
        .unwrap();
    let first_delete = writes.iter().position(|w| w.method == "DELETE").unwrap();
    assert!(first_delete > last_ocm);
    let (_, again) = h.run_writes(false).await;
    assert!(again.is_empty(), "converged: {again:?}");
}

#[tokio::test]
async fn wrong_namespace_api_url_or_extra_keys_are_repaired_by_a_patch() {
    let mut w = world();
    let mut secret = python_secret(
        "dynatrace-token-dtp",
        "dt_tenant_a",
        &[
            ("apiToken", &tid("id1"), &tval("id1")),
            ("dataIngestToken", &tid("id2"), &tval("id2")),
        ],
    );
    secret["metadata"]["namespace"] = json!("wrong");
    secret["data"]["stale"] = json!(b64("x"));
    add_cluster(
        &mut w,
        "cluster_a",
        "external_id_a",
        "ocm_org_id_a",
        false,
        v2_labels("dt_tenant_a", "default"),
    )["syncset"] = json!([secret]);
    dt_token(
        &mut w,
        "dt_tenant_a",
        &tid("id1"),
        OPERATOR_NAME,
        &tval("id1"),
        &OPERATOR_SCOPES,
    );
    dt_token(
        &mut w,
        "dt_tenant_a",
        &tid("id2"),
        INGESTION_NAME,
        &tval("id2"),
        &INGESTION_SCOPES,
    );
    let h = start(&w).await;
    let (report, writes) = h.run_writes(false).await;
    assert_eq!(report.exit_code(), 0, "{:?}", report.errors());
    assert_eq!(writes.len(), 1, "only the patch: {writes:?}");
    let reasons = &report.plan.clusters[0].bundle().unwrap().reasons;
    assert!(
        reasons.iter().any(|r| r.contains("namespace 'wrong'")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("extra key 'stale'")),
        "{reasons:?}"
    );
    let ss = h.syncset("cluster_a").unwrap();
    assert_eq!(ss[0]["metadata"]["namespace"], "dynatrace");
    assert!(ss[0]["data"].get("stale").is_none());
}

#[tokio::test]
async fn a_refused_delivery_posts_a_service_log_fails_the_cluster_and_deletes_the_new_tokens() {
    let mut w = world();
    add_cluster(
        &mut w,
        "cluster_a",
        "external_id_a",
        "ocm_org_id_a",
        false,
        v2_labels("dt_tenant_a", "default"),
    );
    add_cluster(
        &mut w,
        "cluster_b",
        "external_id_b",
        "ocm_org_id_a",
        false,
        v2_labels("dt_tenant_a", "default"),
    );
    // Refused for a reason the cluster's owner can act on (a 400 of OCM's).
    w["faults"] = json!([{"method": "POST", "path_contains": "/clusters/cluster_a/external_configuration/syncsets", "status": 400}]);
    let h = start(&w).await;
    let (report, writes) = h.run_writes(false).await;
    assert_eq!(report.exit_code(), 1);
    let errors = report.errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("ocm-env/ocm_org_id_a/cluster_a: "),
        "{errors:?}"
    );
    // cluster_b is delivered regardless.
    assert!(h.syncset("cluster_b").is_some());
    assert!(h.syncset("cluster_a").is_none());
    // No token of cluster_a is left behind.
    let left: Vec<String> = h
        .sandbox
        .dynatrace()
        .tokens("dt_tenant_a")
        .into_iter()
        .map(|t| t.name)
        .filter(|n| n.contains("external_id_a"))
        .collect();
    assert!(left.is_empty(), "leaked: {left:?}");
    assert_eq!(token_writes(&writes, "dt_tenant_a", "DELETE").len(), 2);
    let logs = h.sandbox.ocm_env(ENV).service_logs();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0]["cluster_uuid"], "external_id_a");
    assert_eq!(logs[0]["severity"], "Moderate");
    assert_eq!(logs[0]["summary"], "Dynatrace Token Provider Errors");
    assert!(
        logs[0]["description"]
            .as_str()
            .unwrap()
            .starts_with("\n DTP can't create ext-dynatrace-tokens-dtp due to ")
    );
    // The same failure the next run does not post a second log (1-day dedup).
    let (report, _) = h.run_writes(false).await;
    assert_eq!(report.exit_code(), 1);
    assert_eq!(h.sandbox.ocm_env(ENV).service_logs().len(), 1);
}

#[tokio::test]
async fn a_failing_tenant_fails_only_its_clusters() {
    let mut w = world();
    add_cluster(
        &mut w,
        "cluster_a",
        "external_id_a",
        "ocm_org_id_a",
        false,
        v2_labels("dt_tenant_a", "default"),
    );
    add_cluster(
        &mut w,
        "cluster_b",
        "external_id_b",
        "ocm_org_id_a",
        false,
        v2_labels("slo-tenant", "slo-spec"),
    );
    w["config_secrets"]["dynatrace"]["dt_tenant_a"]["bootstrap_token"] =
        json!("dt0c01.WRONG.WRONG");
    let h = start(&w).await;
    let (report, _) = h.run_writes(false).await;
    assert_eq!(report.exit_code(), 1);
    assert_eq!(report.plan.failed.len(), 1);
    assert_eq!(report.plan.failed[0].cluster.id.as_str(), "cluster_a");
    assert!(
        report.plan.failed[0].error.contains("401"),
        "{}",
        report.plan.failed[0].error
    );
    assert!(!report.plan.failed[0].error.contains("WRONG"));
    assert!(h.syncset("cluster_b").is_some());
}

#[tokio::test]
async fn an_unknown_tenant_leaves_the_cluster_untouched() {
    let mut w = world();
    add_cluster(
        &mut w,
        "cluster_a",
        "external_id_a",
        "ocm_org_id_a",
        false,
        v2_labels("no-such-tenant", "default"),
    );
    let h = start(&w).await;
    let (report, writes) = h.run_writes(false).await;
    assert!(writes.is_empty());
    assert_eq!(report.exit_code(), 0);
    assert!(
        report.plan.skipped[0]
            .reason
            .contains("'no-such-tenant' does not exist")
    );
}

#[tokio::test]
async fn two_bindings_defining_the_same_secret_fail_the_cluster_without_writing() {
    let mut w = world();
    add_cluster(
        &mut w,
        "cluster_a",
        "external_id_a",
        "ocm_org_id_a",
        false,
        json!({
            "sre-capabilities.dtp.v3.a.tenant": "dt_tenant_a", "sre-capabilities.dtp.v3.a.token-spec": "default",
            "sre-capabilities.dtp.v3.b.tenant": "regional-tenant", "sre-capabilities.dtp.v3.b.token-spec": "regional-spec",
        }),
    );
    let h = start(&w).await;
    let (report, writes) = h.run_writes(false).await;
    assert!(writes.is_empty());
    assert_eq!(report.exit_code(), 1);
    assert!(
        report.plan.failed[0]
            .error
            .contains("both define secret 'dynatrace-token-dtp'")
    );
}

#[tokio::test]
async fn apply_then_replan_gives_an_empty_plan() {
    let mut w = world();
    add_cluster(
        &mut w,
        "cluster_a",
        "external_id_a",
        "ocm_org_id_a",
        false,
        v3_labels(),
    );
    add_cluster(
        &mut w,
        "cluster_b",
        "external_id_b",
        "ocm_org_id_a",
        true,
        v2_labels("dt_tenant_a", "default"),
    );
    let h = start(&w).await;
    let (first, _) = h.run_writes(false).await;
    assert_eq!(first.exit_code(), 0);
    let (second, writes) = h.run_writes(false).await;
    assert!(second.plan.is_empty());
    assert!(writes.is_empty());
}
