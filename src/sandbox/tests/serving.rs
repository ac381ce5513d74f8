//! Latency (global and per system), concurrent clients and creates, `TCP_NODELAY`, and a
//! sandbox fixture with faults and per-system latency.

use super::*;
use crate::sandbox::common::accepted;
use std::sync::atomic::Ordering;

// --- latency -----------------------------------------------------------------------------

#[tokio::test]
async fn per_system_latency_adds_to_the_global_latency() {
    let w = World::start().await;
    w.control.set_latency(Duration::from_millis(50));
    w.control
        .set_system_latency("dynatrace", Duration::from_millis(250));
    let c = client();
    let started = Instant::now();
    w.dt_list(&c).send().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    let started = Instant::now();
    w.ocm_get(&c, CLUSTERS).send().await.unwrap();
    let ocm = started.elapsed();
    assert!(ocm >= Duration::from_millis(50) && ocm < Duration::from_millis(300));
    assert!(w.control.injected().is_empty(), "latency is not a fault");
}

// --- concurrency and sockets -------------------------------------------------------------

async fn concurrent_creates(w: &World, path: &str, body: Value, n: usize) -> Vec<(u16, Value)> {
    let c = client();
    let sends = (0..n).map(|_| {
        let req = w.ocm_post(&c, path, body.clone());
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap())
        }
    });
    let mut out = futures::future::join_all(sends).await;
    out.sort_by_key(|(s, _)| *s);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_of_one_bundle_give_one_201_and_409s() {
    let w = World::start().await;
    // A little latency makes the requests overlap on their connections.
    w.control.set_latency(Duration::from_millis(20));
    for (path, body) in [
        (SYNCSETS, syncset()),
        (MANIFESTS, json!({"id": BUNDLE_ID, "workloads": []})),
    ] {
        let answers = concurrent_creates(&w, path, body, 2).await;
        assert_eq!(answers[0].0, 201);
        assert_eq!(answers[1].0, 409);
        assert_eq!(answers[1].1["kind"], "Error");
        assert_eq!(answers[1].1["code"], "CLUSTERS-MGMT-409");
    }
    w.ocm.set_syncset("c1", None);
    let answers = concurrent_creates(&w, SYNCSETS, syncset(), 16).await;
    let created = answers.iter().filter(|(s, _)| *s == 201).count();
    let conflicts = answers.iter().filter(|(s, _)| *s == 409).count();
    assert_eq!((created, conflicts), (1, 15));
    assert_eq!(w.ocm.syncset_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_clients_are_served_at_once_on_nodelay_connections() {
    const N: u32 = 32;
    const LATENCY: Duration = Duration::from_millis(300);
    let w = World::start().await;
    w.control.set_latency(LATENCY);
    // One client: concurrent HTTP/1.1 requests each need a connection of their own.
    let c = client();
    let before = accepted::CONNECTIONS.load(Ordering::SeqCst);
    let started = Instant::now();
    let gets = (0..N).map(|_| {
        let req = w.ocm_get(&c, CLUSTERS);
        async move { req.send().await.unwrap().status() }
    });
    let statuses = futures::future::join_all(gets).await;
    assert!(statuses.iter().all(|s| *s == StatusCode::OK));
    assert!(
        started.elapsed() < LATENCY * N / 2,
        "served concurrently, not one after the other: {:?}",
        started.elapsed()
    );
    assert!(accepted::CONNECTIONS.load(Ordering::SeqCst) - before >= N as usize);
    assert_eq!(accepted::WITHOUT_NODELAY.load(Ordering::SeqCst), 0);
}

// --- fixtures ----------------------------------------------------------------------------

#[tokio::test]
async fn a_fixture_configures_faults_and_per_system_latency() {
    let base = "app_interface: {datafiles: {}}\ndynatrace: {tenants: []}\n";
    let err = crate::sandbox::Sandbox::start_yaml(&format!("{base}faults: [{{when: hold}}]"))
        .await
        .err()
        .expect("refused");
    assert!(err.contains("faults[0]"), "{err}");
    let sb = crate::sandbox::Sandbox::start_yaml(&format!(
        "{base}system_latency_ms: {{graphql: 40}}\nfaults: [{{system: graphql, rate_limit: 1}}]"
    ))
    .await
    .expect("starts");
    assert_eq!(sb.control.latency_for("graphql"), Duration::from_millis(40));
    let url = format!("{}/sha256", sb.graphql.1.url);
    let c = client();
    assert_eq!(c.get(&url).send().await.unwrap().status(), StatusCode::OK);
    let limited = c.get(&url).send().await.unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["errors"][0]["message"], "Too Many Requests");
}
