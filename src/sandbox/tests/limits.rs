//! Per-system rate limits and seeded 429 storms.

use super::*;

// --- rate limits and storms --------------------------------------------------------------

#[tokio::test]
async fn past_the_rate_limit_a_system_answers_429_with_retry_after() {
    let w = World::start().await;
    w.control.set_rate_limit("dynatrace", 3);
    let c = client();
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let resp = w.dt_list(&c).send().await.unwrap();
        statuses.push(resp.status().as_u16());
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(resp.headers()["retry-after"], "1");
            let body: Value = resp.json().await.unwrap();
            assert_eq!(body["error"]["code"], 429);
        }
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    // Other systems are not limited.
    for _ in 0..5 {
        let resp = w.ocm_get(&c, CLUSTERS).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
    let limited = w.control.injected();
    assert_eq!(limited.len(), 2);
    assert!(limited.iter().all(|r| r.system == "dynatrace"
        && r.fault.as_ref().unwrap().cause == FaultCause::RateLimit
        && !r.was_processed()));
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(w.dt_list(&c).send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn a_request_past_the_rate_limit_changes_nothing() {
    let w = World::start().await;
    w.control.add_fault(FaultRule::rate_limit("dynatrace", 3));
    let c = client();
    // A token created within the limit exists; a rejected create changed nothing.
    assert_eq!(w.dt_create(&c, "a").send().await.unwrap().status(), 201);
    for _ in 0..2 {
        w.dt_list(&c).send().await.unwrap();
    }
    assert_eq!(w.dt_create(&c, "b").send().await.unwrap().status(), 429);
    let names: Vec<String> = w.dt.tokens("t1").into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["a"]);
}

/// The statuses of `n` cluster lists through a fresh world with a storm rule.
async fn storm_run(rule: FaultRule, n: usize) -> Vec<u16> {
    let w = World::start().await;
    w.control.add_fault(rule);
    let c = client();
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let resp = w.ocm_get(&c, CLUSTERS).send().await.unwrap();
        out.push(resp.status().as_u16());
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(resp.headers()["retry-after"], "2");
            let body: Value = resp.json().await.unwrap();
            assert_eq!(body["code"], "CLUSTERS-MGMT-429");
        }
    }
    out
}

#[tokio::test]
async fn a_seeded_429_storm_is_reproducible() {
    let storm = |seed| FaultRule {
        retry_after: Some(2),
        ..FaultRule::storm("ocm", 0.2, seed)
    };
    let a = storm_run(storm(42), 100).await;
    let b = storm_run(storm(42), 100).await;
    let other = storm_run(storm(7), 100).await;
    assert_eq!(a, b, "same seed, same storm");
    assert_ne!(a, other, "another seed, another storm");
    let hits = a.iter().filter(|s| **s == 429).count();
    assert!((8..=35).contains(&hits), "{hits} of 100");
    assert!(a.iter().all(|s| *s == 200 || *s == 429));
}
