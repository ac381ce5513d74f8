//! Faults before, after and around processing: statuses, resets and delays, with the state
//! the server kept.

use super::*;

// --- apply then fail ----------------------------------------------------------------------

#[tokio::test]
async fn apply_then_500_keeps_the_syncset_and_answers_an_ocm_error() {
    let w = World::start().await;
    w.control.add_fault(FaultRule {
        name: Some("after-500".into()),
        method: Some("POST".into()),
        path_contains: "/external_configuration/syncsets".into(),
        when: FaultWhen::After,
        status: 500,
        times: Some(1),
        ..Default::default()
    });
    let resp = w
        .ocm_post(&client(), SYNCSETS, syncset())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        (&body["kind"], &body["id"], &body["code"]),
        (&json!("Error"), &json!("500"), &json!("CLUSTERS-MGMT-500"))
    );
    assert_eq!(w.ocm.syncset("c1"), Some(vec![json!({"kind": "Secret"})]));
    let fault = w.only_fault();
    assert_eq!(fault.name.as_deref(), Some("after-500"));
    assert_eq!(
        (fault.when, fault.status, fault.cause),
        (FaultWhen::After, Some(500), FaultCause::Rule)
    );
    let recorded = &w.control.writes()[0];
    assert!(recorded.is_write() && recorded.was_processed());
    // The rule is used up: the retry meets the SyncSet the failed call created.
    let retry = w
        .ocm_post(&client(), SYNCSETS, syncset())
        .send()
        .await
        .unwrap();
    assert_eq!(retry.status(), StatusCode::CONFLICT);
    assert_eq!(w.control.faults()[0].times, Some(0));
}

#[tokio::test]
async fn apply_then_reset_creates_the_token_and_the_client_sees_a_transport_error() {
    let w = World::start().await;
    let c = client();
    // A first call pools a keep-alive connection: the reset must not be retried on it.
    assert_eq!(w.dt_list(&c).send().await.unwrap().status(), StatusCode::OK);
    w.control.add_fault(FaultRule {
        system: Some("dynatrace".into()),
        method: Some("POST".into()),
        path_contains: "/apiTokens".into(),
        when: FaultWhen::After,
        reset: true,
        times: Some(1),
        ..Default::default()
    });
    let err = w
        .dt_create(&c, "dtp_reset")
        .send()
        .await
        .expect_err("no HTTP answer");
    assert!(is_connection_reset(&err), "{err:?}");
    let tokens = w.dt.tokens("t1");
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].name, "dtp_reset");
    let fault = w.only_fault();
    assert!(fault.reset && fault.status.is_none() && fault.processes());
    assert_eq!(w.control.writes().len(), 1, "sent once, not retried");
    // The next call gets a fresh connection.
    assert_eq!(w.dt_list(&c).send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn apply_then_delay_outlives_the_client_timeout() {
    let w = World::start().await;
    w.control.add_fault(FaultRule {
        method: Some("POST".into()),
        path_contains: "/syncsets".into(),
        when: FaultWhen::After,
        delay_ms: Some(2_000),
        times: Some(1),
        ..Default::default()
    });
    let impatient = client_with_timeout(Duration::from_millis(300));
    let err = w.ocm_post(&impatient, SYNCSETS, syncset()).send().await;
    assert!(err.expect_err("times out").is_timeout());
    assert!(w.ocm.syncset("c1").is_some(), "applied before the delay");
    assert_eq!(w.only_fault().delay_ms, 2_000);
}

// --- before ------------------------------------------------------------------------------

#[tokio::test]
async fn a_status_before_processing_changes_nothing() {
    let w = World::start().await;
    w.control.add_fault(FaultRule {
        path_contains: "/syncsets".into(),
        status: 503,
        retry_after: Some(7),
        times: Some(1),
        ..Default::default()
    });
    let resp = w
        .ocm_post(&client(), SYNCSETS, syncset())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()["retry-after"], "7");
    assert_eq!(w.ocm.syncset("c1"), None);
    assert!(!w.control.writes()[0].was_processed());
}

#[tokio::test]
async fn a_reset_before_processing_changes_nothing() {
    let w = World::start().await;
    w.control.add_fault(FaultRule {
        path_contains: "/syncsets".into(),
        reset: true,
        times: Some(1),
        ..Default::default()
    });
    let err = w.ocm_post(&client(), SYNCSETS, syncset()).send().await;
    assert!(is_connection_reset(&err.expect_err("reset")));
    assert_eq!(w.ocm.syncset("c1"), None);
    let fault = w.only_fault();
    assert!(fault.reset && !fault.processes());
}

#[tokio::test]
async fn a_delay_before_processing_then_answers_for_real_or_with_the_fault() {
    let w = World::start().await;
    w.control.add_fault(FaultRule {
        path_contains: "/syncsets".into(),
        delay_ms: Some(300),
        times: Some(1),
        ..Default::default()
    });
    let started = Instant::now();
    let resp = w
        .ocm_post(&client(), SYNCSETS, syncset())
        .send()
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert!(w.ocm.syncset("c1").is_some());

    w.control.add_fault(FaultRule {
        path_contains: "/manifests".into(),
        delay_ms: Some(200),
        status: 502,
        times: Some(1),
        ..Default::default()
    });
    let started = Instant::now();
    let resp = w
        .ocm_post(
            &client(),
            MANIFESTS,
            json!({"id": BUNDLE_ID, "workloads": []}),
        )
        .send()
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(w.ocm.manifest("h1"), None);
}

// --- hold --------------------------------------------------------------------------------

#[tokio::test]
async fn a_held_request_is_processed_after_the_client_gave_up() {
    let w = World::start().await;
    w.control.add_fault(FaultRule {
        path_contains: "/syncsets".into(),
        when: FaultWhen::Hold,
        delay_ms: Some(500),
        times: Some(1),
        ..Default::default()
    });
    let impatient = client_with_timeout(Duration::from_millis(150));
    let err = w.ocm_post(&impatient, SYNCSETS, syncset()).send().await;
    assert!(err.expect_err("times out").is_timeout());
    assert_eq!(w.ocm.syncset("c1"), None, "still held before processing");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        w.ocm.syncset("c1").is_some(),
        "processed although the client left"
    );

    w.control.add_fault(FaultRule {
        path_contains: "/manifests".into(),
        when: FaultWhen::Hold,
        delay_ms: Some(200),
        times: Some(1),
        ..Default::default()
    });
    let started = Instant::now();
    let resp = w
        .ocm_post(
            &client(),
            MANIFESTS,
            json!({"id": BUNDLE_ID, "workloads": []}),
        )
        .send()
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "held on both sides"
    );
    assert_eq!(resp.status(), StatusCode::CREATED);
}
