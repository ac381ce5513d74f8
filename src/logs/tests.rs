//! Table tests of the log-rule core on typed fixtures: each builds a cluster and the objects on
//! its scope, and asserts the exact plan (actions and notes) and nothing else; plus the
//! settings-JSON parser on well-formed and malformed objects.

use super::desired::{chunk_title, external_id};
use super::model::{JOB_TITLE, MAX_EXTERNAL_ID_LEN, MAX_VALUES};
use super::*;
use serde_json::json;

const CLUSTER: &str = "app-sre-stage-01";

fn cluster(namespaces: &[&str]) -> LogCluster {
    LogCluster {
        name: CLUSTER.into(),
        environment: "dt-stage".into(),
        namespaces: namespaces.iter().map(|s| s.to_string()).collect(),
    }
}

fn many(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("ns-{i:05}")).collect()
}

fn cluster_of(namespaces: &[String]) -> LogCluster {
    let refs: Vec<&str> = namespaces.iter().map(String::as_str).collect();
    cluster(&refs)
}

/// A rule as dtp or the Job writes it: enabled, to storage, one namespace matcher.
fn rule(id: &str, external_id: Option<&str>, title: &str, values: &[&str]) -> RuleObject {
    RuleObject {
        object_id: id.into(),
        external_id: external_id.map(str::to_owned),
        title: Some(title.into()),
        enabled: true,
        send_to_storage: true,
        matchers: vec![Matcher {
            attribute: "k8s.namespace.name".into(),
            operator: "MATCHES".into(),
            values: values.iter().map(|s| s.to_string()).collect(),
        }],
        update_token: Some(format!("tok-{id}")),
    }
}

/// The Job's rule: titled `log-cluster-namespaces`, no externalId.
fn job_rule(id: &str, values: &[&str]) -> RuleObject {
    rule(id, None, JOB_TITLE, values)
}

fn owned(id: &str, chunk: usize, values: &[&str]) -> RuleObject {
    rule(
        id,
        Some(&external_id(CLUSTER, chunk)),
        &chunk_title(chunk),
        values,
    )
}

fn value(title: &str, values: &[&str]) -> serde_json::Value {
    json!({
        "enabled": true,
        "config-item-title": title,
        "send-to-storage": true,
        "matchers": [{"attribute": "k8s.namespace.name", "operator": "MATCHES", "values": values}],
    })
}

fn create(chunk: usize, values: &[&str]) -> LogAction {
    LogAction::Create {
        external_id: external_id(CLUSTER, chunk),
        title: chunk_title(chunk),
        value: value(&chunk_title(chunk), values),
    }
}

fn update(id: &str, chunk: usize, values: &[&str], adopted: bool) -> LogAction {
    LogAction::Update {
        object_id: id.into(),
        update_token: Some(format!("tok-{id}")),
        value: value(&chunk_title(chunk), values),
        adopted,
    }
}

fn delete(id: &str) -> LogAction {
    LogAction::Delete {
        object_id: id.into(),
        update_token: Some(format!("tok-{id}")),
    }
}

fn adopted_note(id: &str) -> String {
    format!(
        "{id}: the log-config Job's rule (log-cluster-namespaces) adopted as chunk 0; it keeps no externalId"
    )
}

fn plan(c: &LogCluster, current: &[RuleObject], actions: Vec<LogAction>, notes: Vec<String>) {
    assert_eq!(
        plan_cluster(c, current),
        LogPlan {
            cluster: CLUSTER.into(),
            actions,
            notes
        }
    );
}

#[test]
fn new_cluster_gets_one_rule() {
    plan(
        &cluster(&["b", "a", "c"]),
        &[],
        vec![create(0, &["a", "b", "c"])],
        vec![],
    );
}

#[test]
fn no_namespaces_no_rule() {
    let p = plan_cluster(&cluster(&[]), &[]);
    assert!(p.is_empty());
    assert!(desired_rules(&cluster(&[])).is_empty());
}

#[test]
fn more_than_2000_namespaces_are_split() {
    let ns = many(2500);
    let rules = desired_rules(&cluster_of(&ns));
    let ids: Vec<_> = rules.iter().map(|r| r.external_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "dtp-log-rules:app-sre-stage-01:0",
            "dtp-log-rules:app-sre-stage-01:1"
        ]
    );
    let titles: Vec<_> = rules.iter().map(|r| r.title.as_str()).collect();
    assert_eq!(
        titles,
        ["log-cluster-namespaces", "log-cluster-namespaces-2"]
    );
    assert_eq!(rules[0].values.len(), MAX_VALUES);
    assert_eq!(rules[1].values.len(), 500);
    let refs: Vec<&str> = ns.iter().map(String::as_str).collect();
    plan(
        &cluster_of(&ns),
        &[],
        vec![create(0, &refs[..2000]), create(1, &refs[2000..])],
        vec![],
    );
    let p = plan_cluster(&cluster_of(&ns), &[]);
    assert_eq!(
        p.summary(),
        LogSummary {
            creates: 2,
            updates: 0,
            deletes: 0
        }
    );
    assert_eq!(
        p.summary().to_string(),
        "2 to create, 0 to update, 0 to delete"
    );
}

#[test]
fn exactly_2000_namespaces_is_one_rule() {
    assert_eq!(desired_rules(&cluster_of(&many(MAX_VALUES))).len(), 1);
    assert_eq!(desired_rules(&cluster_of(&many(MAX_VALUES + 1))).len(), 2);
}

#[test]
fn job_rule_with_same_namespaces_in_other_order_is_adopted_without_writes() {
    plan(
        &cluster(&["a", "b", "c"]),
        &[job_rule("job", &["c", "a", "b"])],
        vec![],
        vec![adopted_note("job")],
    );
}

#[test]
fn job_rule_with_one_namespace_fewer_is_updated_as_adopted() {
    plan(
        &cluster(&["a", "b", "c"]),
        &[job_rule("job", &["b", "a"])],
        vec![update("job", 0, &["a", "b", "c"], true)],
        vec![adopted_note("job")],
    );
}

#[test]
fn owned_rule_with_another_set_is_updated() {
    plan(
        &cluster(&["a", "b"]),
        &[owned("mine", 0, &["a"])],
        vec![update("mine", 0, &["a", "b"], false)],
        vec![],
    );
}

#[test]
fn owned_rule_disabled_or_renamed_is_updated() {
    let mut disabled = owned("mine", 0, &["a"]);
    disabled.enabled = false;
    let mut renamed = owned("mine", 0, &["a"]);
    renamed.title = Some("renamed in the UI".into());
    let mut excluded = owned("mine", 0, &["a"]);
    excluded.send_to_storage = false;
    let mut other_attr = owned("mine", 0, &["a"]);
    other_attr.matchers[0].attribute = "k8s.container.name".into();
    for o in [disabled, renamed, excluded, other_attr] {
        plan(
            &cluster(&["a"]),
            &[o],
            vec![update("mine", 0, &["a"], false)],
            vec![],
        );
    }
}

#[test]
fn all_namespaces_removed_deletes_the_owned_rule() {
    plan(
        &cluster(&[]),
        &[owned("mine", 0, &["a"])],
        vec![delete("mine")],
        vec![],
    );
}

#[test]
fn all_namespaces_removed_deletes_the_adopted_job_rule() {
    plan(
        &cluster(&[]),
        &[job_rule("job", &["a"])],
        vec![delete("job")],
        vec![
            "job: the log-config Job's rule (log-cluster-namespaces) adopted and deleted: the cluster has no namespace to log"
                .into(),
        ],
    );
}

#[test]
fn unrelated_rules_are_never_touched() {
    let unrelated = [
        rule("other", None, "someone-elses-rule", &["a"]),
        rule(
            "other-dtp",
            Some("dtp-log-rules:other-cluster:0"),
            JOB_TITLE,
            &["x"],
        ),
        rule("monaco", Some("monaco:abc"), JOB_TITLE, &["x"]),
    ];
    // Nothing desired: nothing to delete.
    plan(&cluster(&[]), &unrelated, vec![], vec![]);
    // Something desired: the rule is created beside them, the title clash noted.
    plan(
        &cluster(&["a"]),
        &unrelated,
        vec![create(0, &["a"])],
        vec![
            "other-dtp: not dtp's but titled log-cluster-namespaces, the title of \
             dtp-log-rules:app-sre-stage-01:0: the create may be refused"
                .into(),
        ],
    );
}

#[test]
fn left_over_chunk_after_shrinking_is_deleted() {
    let ns = many(1999);
    let refs: Vec<&str> = ns.iter().map(String::as_str).collect();
    plan(
        &cluster_of(&ns),
        &[owned("c0", 0, &refs), owned("c1", 1, &["ns-x"])],
        vec![delete("c1")],
        vec![],
    );
}

#[test]
fn growing_past_2000_keeps_chunk_0_and_creates_chunk_1() {
    let ns = many(2001);
    let refs: Vec<&str> = ns.iter().map(String::as_str).collect();
    plan(
        &cluster_of(&ns),
        &[job_rule("job", &refs[..2000])],
        vec![create(1, &refs[2000..])],
        vec![adopted_note("job")],
    );
}

#[test]
fn duplicates_in_current_values_compare_equal() {
    plan(
        &cluster(&["a", "b"]),
        &[owned("mine", 0, &["b", "a", "b", "a"])],
        vec![],
        vec![],
    );
}

#[test]
fn owned_chunk_0_wins_over_the_job_rule() {
    plan(
        &cluster(&["a"]),
        &[job_rule("job", &["a"]), owned("mine", 0, &["a"])],
        vec![],
        vec![
            "job: titled log-cluster-namespaces without externalId: not touched \
             (dtp owns dtp-log-rules:app-sre-stage-01:0)"
                .into(),
        ],
    );
}

#[test]
fn only_the_first_of_several_job_rules_is_adopted() {
    plan(
        &cluster(&["a"]),
        &[job_rule("job1", &["x"]), job_rule("job2", &["a"])],
        vec![update("job1", 0, &["a"], true)],
        vec![
            "job2: titled log-cluster-namespaces without externalId: not touched \
             (job1 is adopted instead)"
                .into(),
            adopted_note("job1"),
        ],
    );
}

#[test]
fn owned_duplicates_and_unknown_suffixes_are_deleted_in_id_order() {
    plan(
        &cluster(&["a"]),
        &[
            rule(
                "z-bad",
                Some("dtp-log-rules:app-sre-stage-01:x"),
                "t",
                &["a"],
            ),
            owned("mine", 0, &["a"]),
            owned("b-dup", 0, &["a"]),
            rule(
                "a-zero",
                Some("dtp-log-rules:app-sre-stage-01:00"),
                "t",
                &["a"],
            ),
        ],
        vec![delete("a-zero"), delete("b-dup"), delete("z-bad")],
        vec![
            "b-dup: a second object with externalId dtp-log-rules:app-sre-stage-01:0: deleted"
                .into(),
        ],
    );
}

#[test]
fn value_json_is_the_job_payload_with_sorted_values() {
    let rules = desired_rules(&cluster(&["ns-b", "ns-a"]));
    assert_eq!(
        rules[0].value(),
        json!({"enabled": true, "config-item-title": "log-cluster-namespaces",
               "send-to-storage": true,
               "matchers": [{"attribute": "k8s.namespace.name", "operator": "MATCHES",
                             "values": ["ns-a", "ns-b"]}]})
    );
}

#[test]
fn external_ids_stay_within_the_limit_for_dns_label_names() {
    let name = "a".repeat(63);
    assert!(external_id(&name, usize::MAX).len() <= MAX_EXTERNAL_ID_LEN);
}

#[test]
fn parses_a_listed_settings_object() {
    let o = RuleObject::from_settings_json(&json!({
        "objectId": "obj-1", "externalId": null, "updateToken": "tok",
        "value": {"enabled": true, "config-item-title": "log-cluster-namespaces",
                  "send-to-storage": false,
                  "matchers": [{"attribute": "k8s.namespace.name", "operator": "MATCHES",
                                "values": ["a", "b"]}]},
    }))
    .unwrap();
    assert_eq!(
        o,
        RuleObject {
            object_id: "obj-1".into(),
            external_id: None,
            title: Some("log-cluster-namespaces".into()),
            enabled: true,
            send_to_storage: false,
            matchers: vec![Matcher {
                attribute: "k8s.namespace.name".into(),
                operator: "MATCHES".into(),
                values: vec!["a".into(), "b".into()],
            }],
            update_token: Some("tok".into()),
        }
    );
    // Absent optional fields take the schema's defaults.
    let o = RuleObject::from_settings_json(&json!({"objectId": "o", "value": {}})).unwrap();
    assert!(o.enabled && o.send_to_storage && o.matchers.is_empty() && o.title.is_none());
}

#[test]
fn malformed_settings_objects_name_the_field() {
    let ok_value = json!({"enabled": true, "matchers": []});
    let cases = [
        (
            json!({"value": ok_value}),
            "settings object: objectId: missing",
        ),
        (
            json!({"objectId": 7, "value": ok_value}),
            "settings object: objectId: not a string",
        ),
        (json!([1]), "settings object: not a JSON object"),
        (
            json!({"objectId": "o"}),
            "settings object o: value: missing",
        ),
        (
            json!({"objectId": "o", "value": {"matchers": {"a": 1}}}),
            "settings object o: value.matchers: not an array",
        ),
        (
            json!({"objectId": "o", "value": {"matchers": [{"attribute": "k8s.namespace.name",
                "operator": "MATCHES", "values": ["a", 3]}]}}),
            "settings object o: value.matchers[0].values[1]: not a string",
        ),
        (
            json!({"objectId": "o", "value": {"matchers": [{"attribute": "x", "operator": "MATCHES",
                "values": "a"}]}}),
            "settings object o: value.matchers[0].values: not an array",
        ),
        (
            json!({"objectId": "o", "value": {"matchers": [{"operator": "MATCHES", "values": []}]}}),
            "settings object o: value.matchers[0].attribute: missing",
        ),
        (
            json!({"objectId": "o", "value": {"enabled": "yes"}}),
            "settings object o: value.enabled: not a boolean",
        ),
        (
            json!({"objectId": "o", "externalId": 1, "value": {}}),
            "settings object o: externalId: not a string",
        ),
    ];
    for (input, want) in cases {
        assert_eq!(
            RuleObject::from_settings_json(&input),
            Err(want.to_owned()),
            "{input}"
        );
    }
}
