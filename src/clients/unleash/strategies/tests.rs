//! Tests of the strategies and constraints: each strategy and operator, the spec's murmur3
//! vectors, 0 % and 100 % rollouts, missing context fields and malformed input.
use super::*;
use chrono::TimeZone;
use serde_json::json;

fn ctx() -> Context {
    Context {
        app_name: "qontract-reconcile".into(),
        environment: "default".into(),
        hostname: Some("Dtp-Pod-1".into()),
        now: Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap(),
    }
}

fn on(strategy: Value) -> bool {
    strategy_enabled(&strategy, "dynatrace-token-provider", &ctx())
}

/// Every outcome over many evaluations (random strategies).
fn outcomes(strategy: Value) -> (bool, bool) {
    let results: Vec<bool> = (0..300).map(|_| on(strategy.clone())).collect();
    (results.contains(&true), results.contains(&false))
}

fn with_constraint(c: Value) -> bool {
    on(json!({"name": "default", "constraints": [c]}))
}

#[test]
fn murmur3_matches_the_published_vectors() {
    assert_eq!(murmur3_32(b"", 0), 0);
    assert_eq!(murmur3_32(b"", 1), 0x514e_28b7);
    assert_eq!(murmur3_32(b"", 0xffff_ffff), 0x81f1_6f39);
    assert_eq!(murmur3_32(b"test", 0), 0xba6b_d213);
    assert_eq!(murmur3_32(b"Hello, world!", 0), 0xc036_3e43);
    assert_eq!(murmur3_32(b"Hello, world!", 0x9747_b28c), 0x2488_4cba);
    assert_eq!(murmur3_32(b"aaaa", 0x9747_b28c), 0x5a97_808a);
    assert_eq!(murmur3_32(b"abc", 0), 0xb3dd_93fa);
    assert_eq!(
        murmur3_32(b"The quick brown fox jumps over the lazy dog", 0),
        0x2e4f_f723
    );
}

#[test]
fn normalized_value_matches_the_unleash_client_spec() {
    // The vectors the Node, Java and Go clients share.
    assert_eq!(normalized_value("123", "gr1"), 73);
    assert_eq!(normalized_value("999", "groupX"), 25);
    for i in 0..1000 {
        assert!((1..=100).contains(&normalized_value(&i.to_string(), "g")));
    }
}

#[test]
fn default_and_the_cluster_strategies() {
    assert!(on(json!({"name": "default"})));
    assert!(on(
        json!({"name": "default", "parameters": null, "constraints": null})
    ));
    assert!(on(
        json!({"name": "disableCluster", "parameters": {"cluster_name": "a,b"}})
    ));
    assert!(!on(
        json!({"name": "enableCluster", "parameters": {"cluster_name": "a"}})
    ));
}

#[test]
fn strategies_needing_a_user_session_or_address_are_false() {
    assert!(!on(
        json!({"name": "userWithId", "parameters": {"userIds": "a,b"}})
    ));
    assert!(!on(
        json!({"name": "gradualRolloutUserId", "parameters": {"percentage": "100", "groupId": "g"}})
    ));
    assert!(!on(
        json!({"name": "gradualRolloutSessionId", "parameters": {"percentage": "100", "groupId": "g"}})
    ));
    assert!(!on(
        json!({"name": "remoteAddress", "parameters": {"IPs": "127.0.0.1"}})
    ));
}

#[test]
fn application_hostname_compares_case_insensitively() {
    assert!(on(
        json!({"name": "applicationHostname", "parameters": {"hostNames": "other, dtp-pod-1"}})
    ));
    assert!(!on(
        json!({"name": "applicationHostname", "parameters": {"hostNames": "other,dtp-pod-2"}})
    ));
    assert!(!on(
        json!({"name": "applicationHostname", "parameters": {}})
    ));
    let mut no_host = ctx();
    no_host.hostname = None;
    let s = json!({"name": "applicationHostname", "parameters": {"hostNames": "dtp-pod-1"}});
    assert!(!strategy_enabled(&s, "f", &no_host));
}

#[test]
fn flexible_rollout_zero_is_off_and_hundred_is_on() {
    for stickiness in ["default", "random", "appName"] {
        let s = |rollout: Value| json!({"name": "flexibleRollout", "parameters": {"rollout": rollout, "stickiness": stickiness, "groupId": "dynatrace-token-provider"}});
        assert_eq!(outcomes(s(json!("0"))), (false, true), "{stickiness}");
        assert_eq!(outcomes(s(json!(0))), (false, true), "{stickiness}");
        assert_eq!(outcomes(s(json!("100"))), (true, false), "{stickiness}");
        assert_eq!(outcomes(s(json!(100))), (true, false), "{stickiness}");
    }
    // No stickiness nor groupId: default stickiness, the feature name as group.
    assert_eq!(
        outcomes(json!({"name": "flexibleRollout", "parameters": {"rollout": "0"}})),
        (false, true)
    );
}

#[test]
fn flexible_rollout_default_stickiness_without_ids_is_random() {
    let s = json!({"name": "flexibleRollout", "parameters": {"rollout": "50", "stickiness": "default", "groupId": "g"}});
    assert_eq!(outcomes(s), (true, true));
    let s =
        json!({"name": "flexibleRollout", "parameters": {"rollout": "50", "stickiness": "random"}});
    assert_eq!(outcomes(s), (true, true));
    let s = json!({"name": "gradualRolloutRandom", "parameters": {"percentage": "50"}});
    assert_eq!(outcomes(s), (true, true));
}

#[test]
fn flexible_rollout_sticky_on_a_missing_field_is_false() {
    for stickiness in ["userId", "sessionId", "tenant", "cluster_name"] {
        let s = json!({"name": "flexibleRollout", "parameters": {"rollout": "100", "stickiness": stickiness, "groupId": "g"}});
        assert_eq!(outcomes(s), (false, true), "{stickiness}");
    }
}

#[test]
fn flexible_rollout_on_a_context_field_is_deterministic() {
    // normalizedValue("qontract-reconcile", "g") decides, the same way every time.
    let n = normalized_value("qontract-reconcile", "g");
    let s = |rollout: i64| json!({"name": "flexibleRollout", "parameters": {"rollout": rollout.to_string(), "stickiness": "appName", "groupId": "g"}});
    assert_eq!(outcomes(s(n)), (true, false));
    assert_eq!(outcomes(s(n - 1)), (false, true));
    let e = normalized_value("default", "dynatrace-token-provider");
    let s = json!({"name": "flexibleRollout", "parameters": {"rollout": e, "stickiness": "environment"}});
    assert_eq!(outcomes(s), (true, false));
}

#[test]
fn gradual_rollout_random_zero_and_hundred() {
    let s = |p: &str| json!({"name": "gradualRolloutRandom", "parameters": {"percentage": p}});
    assert_eq!(outcomes(s("0")), (false, true));
    assert_eq!(outcomes(s("100")), (true, false));
}

#[test]
fn malformed_parameters_and_unknown_strategies_are_false() {
    for s in [
        json!({"name": "flexibleRollout", "parameters": {"rollout": "fifty"}}),
        json!({"name": "flexibleRollout", "parameters": {"rollout": "50.5"}}),
        json!({"name": "flexibleRollout", "parameters": {}}),
        json!({"name": "flexibleRollout", "parameters": {"rollout": "100", "groupId": 7}}),
        json!({"name": "flexibleRollout", "parameters": {"rollout": "100", "stickiness": []}}),
        json!({"name": "gradualRolloutRandom", "parameters": {"percentage": null}}),
        json!({"name": "default", "parameters": "oops"}),
        json!({"name": "default", "constraints": {"contextName": "appName"}}),
        json!({"name": "default", "constraints": [{"operator": "IN"}]}),
        json!({"name": "default", "constraints": [{"contextName": "appName"}]}),
        json!({"name": "default", "constraints": [{"contextName": "appName", "operator": "IN", "values": [1]}]}),
        json!({"name": "default", "constraints": [{"contextName": "appName", "operator": "IN", "inverted": "yes"}]}),
        json!({"name": "default", "constraints": [{"contextName": "appName", "operator": "REGEX", "values": ["x"]}]}),
        json!({"name": "default", "constraints": [{"contextName": "appName", "operator": "REGEX", "inverted": true}]}),
        json!({"name": "myCustomStrategy", "parameters": {}}),
        json!({"name": 42}),
        json!({}),
        json!("default"),
        json!(null),
    ] {
        assert!(!on(s.clone()), "{s}");
    }
}

#[test]
fn any_strategy_enables() {
    let ctx = ctx();
    assert!(any_enabled(&[], "f", &ctx));
    let off = json!({"name": "flexibleRollout", "parameters": {"rollout": "0"}});
    let on = json!({"name": "default"});
    assert!(!any_enabled(std::slice::from_ref(&off), "f", &ctx));
    assert!(any_enabled(&[off.clone(), on], "f", &ctx));
    assert!(!any_enabled(
        &[off, json!({"name": "enableCluster"})],
        "f",
        &ctx
    ));
}

#[test]
fn constraints_must_all_hold() {
    let s = |cs: Value| on(json!({"name": "default", "constraints": cs}));
    let yes = json!({"contextName": "environment", "operator": "IN", "values": ["default"]});
    let no = json!({"contextName": "environment", "operator": "IN", "values": ["production"]});
    assert!(s(json!([yes.clone()])));
    assert!(s(json!([yes.clone(), yes.clone()])));
    assert!(!s(json!([yes, no])));
    assert!(s(json!([])));
    // Constraints gate custom strategies too.
    assert!(!on(
        json!({"name": "disableCluster", "parameters": {"cluster_name": "a"},
        "constraints": [{"contextName": "appName", "operator": "IN", "values": ["other"]}]})
    ));
}

#[test]
fn in_and_not_in() {
    let c = |op: &str, vals: Value, inverted: bool| {
        with_constraint(
            json!({"contextName": "appName", "operator": op, "values": vals, "inverted": inverted}),
        )
    };
    assert!(c("IN", json!(["a", "qontract-reconcile"]), false));
    assert!(!c("IN", json!(["a"]), false));
    assert!(
        !c("IN", json!(["QONTRACT-RECONCILE"]), false),
        "IN is case-sensitive"
    );
    assert!(c("IN", json!(["a"]), true));
    assert!(c("NOT_IN", json!(["a"]), false));
    assert!(!c("NOT_IN", json!(["qontract-reconcile"]), false));
    assert!(c("NOT_IN", json!(["qontract-reconcile"]), true));
    assert!(!c("IN", json!([]), false));
}

#[test]
fn a_constraint_on_a_missing_field() {
    let c = |op: &str, inverted: bool| {
        with_constraint(
            json!({"contextName": "userId", "operator": op, "values": ["u1"], "value": "1", "inverted": inverted}),
        )
    };
    assert!(!c("IN", false));
    assert!(c("NOT_IN", false));
    assert!(!c("NOT_IN", true));
    assert!(c("IN", true));
    for op in [
        "STR_CONTAINS",
        "STR_STARTS_WITH",
        "STR_ENDS_WITH",
        "NUM_EQ",
        "NUM_GT",
        "NUM_GTE",
        "NUM_LT",
        "NUM_LTE",
        "DATE_AFTER",
        "DATE_BEFORE",
        "SEMVER_EQ",
        "SEMVER_GT",
        "SEMVER_LT",
    ] {
        assert!(!c(op, false), "{op}");
        assert!(c(op, true), "{op}");
    }
    for field in ["sessionId", "remoteAddress", "cluster_name", "tenant"] {
        assert!(!with_constraint(
            json!({"contextName": field, "operator": "IN", "values": ["x"]})
        ));
    }
}

#[test]
fn string_operators() {
    let c = |op: &str, vals: Value, ci: bool, inverted: bool| {
        with_constraint(
            json!({"contextName": "appName", "operator": op, "values": vals,
            "caseInsensitive": ci, "inverted": inverted}),
        )
    };
    assert!(c("STR_CONTAINS", json!(["x", "ract-rec"]), false, false));
    assert!(!c("STR_CONTAINS", json!(["RACT"]), false, false));
    assert!(c("STR_CONTAINS", json!(["RACT"]), true, false));
    assert!(!c("STR_CONTAINS", json!(["RACT"]), true, true));
    assert!(c("STR_STARTS_WITH", json!(["qontract"]), false, false));
    assert!(!c("STR_STARTS_WITH", json!(["reconcile"]), false, false));
    assert!(c("STR_STARTS_WITH", json!(["QONTRACT"]), true, false));
    assert!(c("STR_ENDS_WITH", json!(["-reconcile"]), false, false));
    assert!(!c("STR_ENDS_WITH", json!(["-RECONCILE"]), false, false));
    assert!(c("STR_ENDS_WITH", json!(["-RECONCILE"]), true, false));
    assert!(c("STR_ENDS_WITH", json!(["qontract"]), false, true));
    assert!(!c("STR_CONTAINS", json!([]), false, false));
}

#[test]
fn numeric_operators() {
    // No numeric context field exists; compare a field whose value is not a number…
    let c = |field: &str, op: &str, value: Value, inverted: bool| {
        with_constraint(
            json!({"contextName": field, "operator": op, "value": value, "inverted": inverted}),
        )
    };
    assert!(!c("appName", "NUM_EQ", json!("1"), false));
    assert!(
        c("appName", "NUM_EQ", json!("1"), true),
        "a failed check is inverted"
    );
    // … and the comparisons themselves.
    assert!(operator("NUM_EQ", "5", &[], Some("5.0"), false));
    assert!(!operator("NUM_EQ", "5", &[], Some("6"), false));
    assert!(operator("NUM_GT", "6", &[], Some("5"), false));
    assert!(!operator("NUM_GT", "5", &[], Some("5"), false));
    assert!(operator("NUM_GTE", "5", &[], Some("5"), false));
    assert!(!operator("NUM_GTE", "4.9", &[], Some("5"), false));
    assert!(operator("NUM_LT", "-1", &[], Some("0"), false));
    assert!(!operator("NUM_LT", "0", &[], Some("0"), false));
    assert!(operator("NUM_LTE", "0", &[], Some("0"), false));
    assert!(!operator("NUM_LTE", "1", &[], Some("0"), false));
    assert!(!operator("NUM_EQ", "5", &[], None, false));
    assert!(!operator("NUM_EQ", "5", &[], Some("five"), false));
    assert!(c("environment", "NUM_EQ", json!(5), true));
}

#[test]
fn date_operators_compare_the_current_time() {
    let c = |op: &str, value: &str| {
        with_constraint(json!({"contextName": "currentTime", "operator": op, "value": value}))
    };
    assert!(c("DATE_AFTER", "2026-01-01T00:00:00Z"));
    assert!(!c("DATE_AFTER", "2027-01-01T00:00:00.000Z"));
    assert!(c("DATE_BEFORE", "2027-01-01T00:00:00+02:00"));
    assert!(
        !c("DATE_BEFORE", "2026-06-01T12:00:00Z"),
        "not strictly before"
    );
    assert!(!c("DATE_AFTER", "2026-06-01T12:00:00Z"));
    assert!(!c("DATE_AFTER", "next tuesday"));
    assert!(with_constraint(
        json!({"contextName": "currentTime", "operator": "DATE_BEFORE",
        "value": "2026-01-01T00:00:00Z", "inverted": true})
    ));
    // A field that is not a date.
    assert!(!with_constraint(
        json!({"contextName": "appName", "operator": "DATE_AFTER", "value": "2026-01-01T00:00:00Z"})
    ));
}

#[test]
fn semver_operators() {
    let op = |o: &str, a: &str, b: &str| operator(o, a, &[], Some(b), false);
    assert!(op("SEMVER_EQ", "1.2.3", "1.2.3"));
    assert!(op("SEMVER_EQ", "1.2.3+build.1", "1.2.3"));
    assert!(!op("SEMVER_EQ", "1.2.3-rc.1", "1.2.3"));
    assert!(op("SEMVER_GT", "1.10.0", "1.9.9"));
    assert!(op("SEMVER_GT", "1.2.3", "1.2.3-rc.1"));
    assert!(op("SEMVER_GT", "1.2.3-rc.10", "1.2.3-rc.2"));
    assert!(op("SEMVER_GT", "1.2.3-beta", "1.2.3-alpha.1"));
    assert!(op("SEMVER_GT", "1.0.0-alpha.beta", "1.0.0-alpha.1"));
    assert!(op("SEMVER_GT", "1.0.0-alpha.1", "1.0.0-alpha"));
    assert!(op("SEMVER_LT", "1.0.0-alpha", "1.0.0"));
    assert!(op("SEMVER_LT", "0.9.0", "1.0.0"));
    assert!(!op("SEMVER_LT", "1.0.0", "1.0.0"));
    for bad in [
        "1.2", "1.2.3.4", "01.2.3", "1.2.x", "", "1.2.3-", "1.2.3-01", "v1.2.3", "1.2.3+",
    ] {
        assert!(!op("SEMVER_EQ", bad, bad), "{bad}");
        assert!(!op("SEMVER_LT", bad, "9.9.9"), "{bad}");
    }
    // appName is no version: the check fails, and inverted it holds.
    assert!(!with_constraint(
        json!({"contextName": "appName", "operator": "SEMVER_GT", "value": "0.0.1"})
    ));
    assert!(with_constraint(
        json!({"contextName": "appName", "operator": "SEMVER_GT", "value": "0.0.1", "inverted": true})
    ));
}
