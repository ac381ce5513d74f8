//! Writes that do not plainly succeed, through the real clients against the sandbox: applied
//! by the server while the client saw a 5xx, a reset or an answer it did not expect; not
//! applied; refused by another run (409). dtp reads the bundle back before it deletes
//! anything, never deletes a delivered token, and never posts a service log for these. Also:
//! orphan collection, the deletion budget, typos that carry Secrets over, and departed
//! clusters, end to end.

use crate::common::*;
use dtp::plan::Policy;
use dtp::reconcile::RunOptions;
use dtp::sandbox::common::{FaultRule, FaultWhen};
use serde_json::{Value, json};
use std::time::Duration;

fn one_cluster() -> Value {
    let mut w = world();
    add_cluster(
        &mut w,
        "cluster_a",
        "external_id_a",
        "ocm_org_id_a",
        false,
        v2_labels("dt_tenant_a", "default"),
    );
    w
}

fn syncset_post(when: FaultWhen) -> FaultRule {
    FaultRule {
        method: Some("POST".into()),
        path_contains: "/external_configuration/syncsets".into(),
        when,
        times: Some(1),
        ..FaultRule::default()
    }
}

fn grace_0() -> RunOptions {
    RunOptions {
        policy: Policy {
            orphan_grace: chrono::Duration::zero(),
            ..Policy::default()
        },
        ..RunOptions::default()
    }
}

/// Every dtp token of `tenant` is referenced by the cluster's SyncSet.
fn every_token_delivered(h: &Harness, tenant: &str) {
    let ss = h.syncset("cluster_a").expect("delivered");
    let ids: Vec<String> = ss
        .iter()
        .flat_map(|r| r["data"].as_object().cloned().unwrap_or_default())
        .filter(|(k, _)| k.ends_with("Id"))
        .map(|(_, v)| unb64(&v))
        .collect();
    for t in h.sandbox.dynatrace().tokens(tenant) {
        if t.name.starts_with("dtp_") {
            assert!(
                ids.contains(&t.id),
                "token {} ({}) is not delivered",
                t.id,
                t.name
            );
        }
    }
}

#[tokio::test]
async fn a_delivery_applied_while_the_client_saw_a_502_or_a_reset_keeps_its_tokens() {
    for rule in [
        FaultRule {
            status: 502,
            ..syncset_post(FaultWhen::After)
        },
        FaultRule {
            reset: true,
            ..syncset_post(FaultWhen::After)
        },
        // An answer that is a success but not the documented 201.
        FaultRule {
            status: 200,
            body: Some(json!({})),
            ..syncset_post(FaultWhen::After)
        },
    ] {
        let h = start(&one_cluster()).await;
        h.sandbox.control.add_fault(rule.clone());
        let (report, writes) = h.apply_with(RunOptions::default()).await;
        assert_eq!(report.exit_code(), 0, "{rule:?}: {:?}", report.errors());
        assert!(
            token_writes(&writes, "dt_tenant_a", "DELETE").is_empty(),
            "{rule:?}: {writes:?}"
        );
        every_token_delivered(&h, "dt_tenant_a");
        assert!(h.sandbox.ocm_env(ENV).service_logs().is_empty());
        let (report, writes) = h.run_writes(false).await;
        assert_eq!(
            (report.exit_code(), writes.len()),
            (0, 0),
            "converged: {writes:?}"
        );
    }
}

#[tokio::test]
async fn a_delivery_not_applied_after_a_5xx_deletes_its_tokens_without_a_service_log() {
    let h = start(&one_cluster()).await;
    h.sandbox.control.add_fault(FaultRule {
        status: 500,
        ..syncset_post(FaultWhen::Before)
    });
    let (report, writes) = h.apply_with(RunOptions::default()).await;
    assert_eq!(report.exit_code(), 1);
    assert!(h.syncset("cluster_a").is_none());
    assert_eq!(
        token_writes(&writes, "dt_tenant_a", "DELETE").len(),
        2,
        "{writes:?}"
    );
    assert!(h.sandbox.dynatrace().tokens("dt_tenant_a").is_empty());
    assert!(
        h.sandbox.ocm_env(ENV).service_logs().is_empty(),
        "a server failure is not the cluster owner's to act on"
    );
    let (report, _) = h.run_writes(false).await;
    assert_eq!(
        report.exit_code(),
        0,
        "the next run delivers: {:?}",
        report.errors()
    );
}

#[tokio::test]
async fn losing_a_create_race_to_another_run_is_quiet() {
    let h = start(&one_cluster()).await;
    // Hold this run's second token create; meanwhile "another run" delivers the cluster.
    h.sandbox.control.add_fault(FaultRule {
        method: Some("POST".into()),
        path_contains: "/apiTokens".into(),
        delay_ms: Some(1),
        times: Some(1),
        ..FaultRule::default()
    });
    h.sandbox.control.add_fault(FaultRule {
        method: Some("POST".into()),
        path_contains: "/apiTokens".into(),
        delay_ms: Some(1500),
        times: Some(1),
        ..FaultRule::default()
    });
    let other = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let dt = h.sandbox.dynatrace();
        let op = dt.add_token("dt_tenant_a", OPERATOR_NAME, &OPERATOR_SCOPES);
        let ing = dt.add_token("dt_tenant_a", INGESTION_NAME, &INGESTION_SCOPES);
        let api_url = format!("{}/e/dt_tenant_a/api", h.sandbox.dynatrace.1.url);
        let secret = json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "dynatrace-token-dtp", "namespace": "dynatrace"},
            "data": {
                "apiUrl": b64(&api_url),
                "apiToken": b64(&op.token), "apiTokenId": b64(&op.id),
                "dataIngestToken": b64(&ing.token), "dataIngestTokenId": b64(&ing.id),
            },
        });
        assert!(
            h.sandbox
                .ocm_env(ENV)
                .set_syncset("cluster_a", Some(vec![secret]))
        );
        (op.id, ing.id)
    };
    let ((report, writes), (op, ing)) = tokio::join!(h.apply_with(RunOptions::default()), other);
    assert_eq!(report.exit_code(), 0, "{:?}", report.errors());
    assert_eq!(token_writes(&writes, "dt_tenant_a", "POST").len(), 2);
    assert_eq!(
        token_writes(&writes, "dt_tenant_a", "DELETE").len(),
        2,
        "own tokens deleted"
    );
    assert!(h.sandbox.ocm_env(ENV).service_logs().is_empty());
    let left: Vec<String> = h
        .sandbox
        .dynatrace()
        .tokens("dt_tenant_a")
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.contains(&op) && left.contains(&ing));
}

#[tokio::test]
async fn an_orphan_left_by_a_crash_is_collected_after_delivery() {
    let mut w = one_cluster();
    // A token of this cluster that no Secret references (a crash between create and
    // delivery, by dtp or by the Python integration).
    dt_token(
        &mut w,
        "dt_tenant_a",
        &tid("ghost"),
        OPERATOR_NAME,
        &tval("ghost"),
        &OPERATOR_SCOPES,
    );
    // And one of another name, and one of another cluster: never touched.
    dt_token(
        &mut w,
        "dt_tenant_a",
        &tid("mine"),
        "my-own-token",
        &tval("mine"),
        &OPERATOR_SCOPES,
    );
    dt_token(
        &mut w,
        "dt_tenant_a",
        &tid("other"),
        "dtp_operator-token_external_id_zz_1b6c3b9a7248",
        &tval("other"),
        &OPERATOR_SCOPES,
    );
    let h = start(&w).await;
    // The default grace period keeps it (it was created just now).
    let (report, writes) = h.apply_with(RunOptions::default()).await;
    assert_eq!(report.exit_code(), 0, "{:?}", report.errors());
    assert!(token_writes(&writes, "dt_tenant_a", "DELETE").is_empty());
    // Grace 0: collected.
    let (report, writes) = h.apply_with(grace_0()).await;
    assert_eq!(report.exit_code(), 0, "{:?}", report.errors());
    let deletes = token_writes(&writes, "dt_tenant_a", "DELETE");
    assert_eq!(deletes.len(), 1, "{writes:?}");
    assert!(deletes[0].path.ends_with(&tid("ghost")));
    let names: Vec<String> = h
        .sandbox
        .dynatrace()
        .tokens("dt_tenant_a")
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert!(names.contains(&"my-own-token".to_owned()));
    assert!(names.contains(&"dtp_operator-token_external_id_zz_1b6c3b9a7248".to_owned()));
    every_token_delivered_but(&h, &["dtp_operator-token_external_id_zz_1b6c3b9a7248"]);
}

fn every_token_delivered_but(h: &Harness, foreign: &[&str]) {
    let ss = h.syncset("cluster_a").expect("delivered");
    let ids: Vec<String> = ss
        .iter()
        .flat_map(|r| r["data"].as_object().cloned().unwrap_or_default())
        .filter(|(k, _)| k.ends_with("Id"))
        .map(|(_, v)| unb64(&v))
        .collect();
    for t in h.sandbox.dynatrace().tokens("dt_tenant_a") {
        if t.name.starts_with("dtp_") && !foreign.contains(&t.name.as_str()) {
            assert!(
                ids.contains(&t.id),
                "token {} ({}) is not delivered",
                t.id,
                t.name
            );
        }
    }
}

#[tokio::test]
async fn deletions_past_the_budget_are_withheld_and_fail_the_run() {
    let mut w = one_cluster();
    for n in ["g1", "g2", "g3"] {
        dt_token(
            &mut w,
            "dt_tenant_a",
            &tid(n),
            INGESTION_NAME,
            &tval(n),
            &INGESTION_SCOPES,
        );
    }
    let h = start(&w).await;
    let mut opts = grace_0();
    opts.policy.max_deletions = 2;
    let (report, writes) = h.apply_with(opts).await;
    assert_eq!(report.exit_code(), 1);
    assert_eq!(token_writes(&writes, "dt_tenant_a", "DELETE").len(), 2);
    let errors = report.errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("--max-deletions 2"), "{errors:?}");
    // The next run finishes the job.
    let (report, _) = h.apply_with(grace_0()).await;
    assert_eq!(report.exit_code(), 0, "{:?}", report.errors());
}

#[tokio::test]
async fn a_typo_in_a_label_keeps_that_bindings_secret() {
    let mut w = world();
    let labels = v3_labels();
    add_cluster(
        &mut w,
        "cluster_a",
        "external_id_a",
        "ocm_org_id_a",
        false,
        labels,
    );
    let h = start(&w).await;
    let (report, _) = h.apply_with(RunOptions::default()).await;
    assert_eq!(report.exit_code(), 0, "{:?}", report.errors());
    let before = h.syncset("cluster_a").expect("delivered");
    assert_eq!(before.len(), 2);
    // Someone mistypes the slo binding's spec.
    h.sandbox.ocm_env(ENV).set_subscription_label(
        h.sandbox.ocm_env(ENV).cluster("cluster_a").unwrap()["subscription"]["id"]
            .as_str()
            .unwrap(),
        "sre-capabilities.dtp.v3.slo.token-spec",
        "slo-spek",
    );
    let (report, writes) = h.apply_with(grace_0()).await;
    assert_eq!(report.exit_code(), 0, "{:?}", report.errors());
    assert!(
        writes.is_empty(),
        "nothing removed, nothing collected: {writes:?}"
    );
    assert_eq!(h.syncset("cluster_a").expect("kept").len(), 2);
}

#[tokio::test]
async fn with_collect_departed_the_tokens_of_clusters_gone_from_ocm_are_collected() {
    let gone = "6f0c7e1a-1111-4222-8333-444455556666";
    let hibernating = "7f0c7e1a-1111-4222-8333-444455556666";
    let mut w = one_cluster();
    // A cluster OCM still knows (not labelled, or not ready): its token is not touched.
    let c = add_cluster(
        &mut w,
        "cluster_h",
        hibernating,
        "ocm_org_id_a",
        false,
        json!({}),
    );
    c["state"] = json!("hibernating");
    for (n, uuid) in [("g", gone), ("h", hibernating)] {
        dt_token(
            &mut w,
            "slo-tenant",
            &tid(n),
            &format!("dtp_ingestion-token_{uuid}_f6e7fac64719"),
            &tval(n),
            &INGESTION_SCOPES,
        );
    }
    let h = start(&w).await;
    // Not without the flag.
    let (report, writes) = h.apply_with(grace_0()).await;
    assert_eq!(report.exit_code(), 0, "{:?}", report.errors());
    assert!(token_writes(&writes, "slo-tenant", "DELETE").is_empty());
    let mut opts = grace_0();
    opts.collect_departed = true;
    let (report, writes) = h.apply_with(opts).await;
    assert_eq!(report.exit_code(), 0, "{:?}", report.errors());
    let deletes = token_writes(&writes, "slo-tenant", "DELETE");
    assert_eq!(deletes.len(), 1, "{writes:?}");
    assert!(deletes[0].path.ends_with(&tid("g")));
    assert_eq!(report.departed.len(), 1);
}
