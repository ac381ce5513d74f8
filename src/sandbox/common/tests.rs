//! Unit tests of the fault model without a server: rule selection (storm fractions), the
//! per-system latency lookup, and rules as YAML fixtures give them. The tests against served
//! routers are in `sandbox::tests`.

use super::faults::{ActiveRule, take_plan};
use super::rng::SplitMix64;
use super::*;
use std::time::{Duration, Instant};

#[test]
fn a_storm_hits_roughly_its_fraction() {
    let mut rules = vec![ActiveRule::new(FaultRule::storm("ocm", 0.2, 1))];
    let now = Instant::now();
    let mut hits = 0;
    for _ in 0..10_000 {
        if let Some(plan) = take_plan(&mut rules, "ocm:prod", "GET", "/x", now) {
            assert_eq!(plan.record.cause, FaultCause::Storm);
            assert_eq!(plan.record.status, Some(429));
            hits += 1;
        }
        assert!(take_plan(&mut rules, "dynatrace", "GET", "/x", now).is_none());
    }
    assert!((1_800..=2_200).contains(&hits), "{hits} of 10000");
}

#[test]
fn the_longest_system_prefix_decides_the_latency() {
    let c = Control::new();
    c.set_system_latency("ocm", Duration::from_millis(10));
    c.set_system_latency("ocm:prod", Duration::from_millis(30));
    assert_eq!(c.latency_for("ocm:prod"), Duration::from_millis(30));
    assert_eq!(c.latency_for("ocm:stage"), Duration::from_millis(10));
    assert_eq!(c.latency_for("graphql"), Duration::ZERO);
    c.set_system_latency("ocm:prod", Duration::ZERO);
    assert_eq!(c.latency_for("ocm:prod"), Duration::from_millis(10));
}

#[test]
fn every_documented_option_parses_from_yaml() {
    let rules: Vec<FaultRule> = serde_saphyr::from_str(
        r#"
- {method: POST, path_contains: /external_configuration/syncsets, when: after, status: 502, times: 1}
- {system: dynatrace, method: POST, path_contains: /apiTokens, when: after, reset: true, times: 1}
- {method: PATCH, path_contains: /syncsets/, when: after, delay_ms: 15000, times: 1}
- {path_contains: /api/clusters_mgmt/v1/clusters, reset: true, times: 1}
- {path_contains: /sha256, delay_ms: 300, times: 2}
- {method: POST, path_contains: /cluster_logs, when: hold, delay_ms: 2000, times: 1}
- {system: dynatrace, rate_limit: 5}
- {system: ocm, probability: 0.2, seed: 42, retry_after: 2, name: storm}
- {path_contains: /labels, status: 503}
"#,
    )
    .expect("rules parse");
    assert_eq!(rules.len(), 9);
    assert!(rules.iter().all(|r| r.validate().is_ok()));
    assert_eq!(rules[6], FaultRule::rate_limit("dynatrace", 5));
    assert_eq!(
        rules[7],
        FaultRule {
            name: Some("storm".into()),
            retry_after: Some(2),
            ..FaultRule::storm("ocm", 0.2, 42)
        }
    );
    assert_eq!(rules[8].when, FaultWhen::Before);
    assert_eq!(rules[5].when, FaultWhen::Hold);
}

#[test]
fn nonsensical_rules_are_refused() {
    for (rule, why) in [
        ("{probability: 1.5}", "between 0 and 1"),
        ("{when: hold}", "delay_ms"),
        ("{status: 42}", "HTTP status"),
        ("{seed: 3}", "probability"),
    ] {
        let rule: FaultRule = serde_saphyr::from_str(rule).expect("parses");
        assert!(rule.validate().unwrap_err().contains(why), "{rule:?}");
    }
    assert!(serde_saphyr::from_str::<FaultRule>("{when: later}").is_err());
}

#[test]
fn the_generator_is_deterministic_and_uniform_enough() {
    let draws = |seed| {
        let mut g = SplitMix64::new(seed);
        (0..1_000).map(|_| g.next_f64()).collect::<Vec<_>>()
    };
    assert_eq!(draws(9), draws(9));
    assert_ne!(draws(9), draws(10));
    let d = draws(9);
    assert!(d.iter().all(|x| (0.0..1.0).contains(x)));
    let mean = d.iter().sum::<f64>() / d.len() as f64;
    assert!((0.45..0.55).contains(&mean), "{mean}");
}

#[test]
fn rules_fire_in_order_and_count_down_their_times() {
    let mut rules = vec![
        ActiveRule::new(FaultRule {
            path_contains: "/a".into(),
            status: 500,
            times: Some(1),
            ..Default::default()
        }),
        ActiveRule::new(FaultRule {
            status: 503,
            ..Default::default()
        }),
    ];
    let now = Instant::now();
    let statuses: Vec<Option<u16>> = (0..3)
        .map(|_| take_plan(&mut rules, "ocm:x", "GET", "/a", now).and_then(|p| p.record.status))
        .collect();
    assert_eq!(statuses, [Some(500), Some(503), Some(503)]);
    assert_eq!(rules[0].rule.times, Some(0));
    let first = take_plan(&mut rules, "ocm:x", "GET", "/b", now).expect("second rule");
    assert_eq!(first.record.rule, 1);
}
