//! Unit tests of the search and order languages.

use super::eval::like;
use super::*;
use serde_json::json;

const ATTRS: &[&str] = &[
    "id",
    "key",
    "type",
    "managed",
    "status",
    "state",
    "product.id",
    "hypershift.enabled",
    "created_at",
    "count",
    "description",
    "missing",
];

fn item() -> Value {
    json!({
        "id": "2abc",
        "key": "sre-capabilities.dtp.v2.tenant",
        "type": "Subscription",
        "managed": true,
        "status": "Active",
        "state": "ready",
        "product": {"id": "rosa"},
        "hypershift": {"enabled": false},
        "created_at": "2024-05-01T10:00:00.250Z",
        "count": 7,
        "description": "it's\nbroken",
    })
}

fn m(search: &str) -> bool {
    Search::parse(search, ATTRS)
        .unwrap_or_else(|e| panic!("{search}: {e}"))
        .matches(&item())
}

fn err(search: &str) -> String {
    Search::parse(search, ATTRS).expect_err(search).0
}

#[test]
fn the_searches_dtp_sends_match_as_ocm_would() {
    assert!(m(
        "key like 'sre-capabilities.dtp.%' and type in ('Organization','Subscription')"
    ));
    assert!(m(
        "id in ('2abc') and managed='true' and status in ('Active','Reserved')"
    ));
    assert!(m(
        "managed='true' and product.id in ('osd','rosa') and state='ready'"
    ));
    assert!(!m(
        "managed='true' and product.id in ('osd') and state='ready'"
    ));
    assert!(m(
        "created_at >= '2024-04-30T10:00:00Z' and description='it''s\nbroken'"
    ));
}

#[test]
fn equality_and_inequality_operators() {
    assert!(m("id = '2abc'"));
    assert!(!m("id = '2ABC'"));
    assert!(m("id != 'x'"));
    assert!(m("id <> 'x'"));
    assert!(!m("id <> '2abc'"));
    assert!(m("count = 7 and count > 6.5 and count <= '7'"));
    assert!(!m("count < 7"));
}

#[test]
fn booleans_match_true_and_t() {
    assert!(m("managed = 'true'"));
    assert!(m("managed = 't'"));
    assert!(m("managed = true"));
    assert!(m("hypershift.enabled = 'f'"));
    assert!(!m("hypershift.enabled = 'true'"));
    assert!(!m("managed = 'maybe'"));
}

#[test]
fn timestamps_compare_as_instants() {
    assert!(m("created_at > '2024-05-01T10:00:00Z'"));
    assert!(m("created_at < '2024-05-01T12:00:00+01:00'"));
    assert!(m("created_at = '2024-05-01T10:00:00.25Z'"));
    assert!(!m("created_at >= '2024-05-02T00:00:00Z'"));
    // Non-timestamps compare lexically.
    assert!(m("status < 'B' and status > 'A'"));
}

#[test]
fn like_is_case_sensitive_with_percent_and_underscore_wildcards() {
    assert!(m("key like 'sre-capabilities.dtp.%'"));
    assert!(m("key like '%tenant'"));
    assert!(m("key like 'sre%dtp%v_.tenant'"));
    assert!(!m("key like 'SRE-capabilities.%'"));
    assert!(m("key ilike 'SRE-capabilities.%'"));
    assert!(m("key not like 'other%'"));
    assert!(!m("key like 'sre-capabilities.dtp.'"));
    assert!(like("50%", "50\\%"));
    assert!(!like("500", "50\\%"));
    assert!(like("", "%"));
    assert!(!like("", "_"));
}

#[test]
fn in_and_not_in() {
    assert!(m("status in ('Active', 'Reserved')"));
    assert!(!m("status not in ('Active', 'Reserved')"));
    assert!(m("status not in ('Deprovisioned')"));
}

#[test]
fn boolean_connectives_follow_precedence_and_parentheses() {
    // and binds tighter than or.
    assert!(m("id = 'x' and status = 'x' or state = 'ready'"));
    assert!(!m("id = 'x' and (status = 'x' or state = 'ready')"));
    assert!(m("not id = 'x'"));
    assert!(!m("not (id = '2abc' or id = 'x')"));
    assert!(m("NOT id = 'x' AND state = 'ready'"));
}

#[test]
fn missing_attributes_are_null_and_never_compare_true() {
    assert!(!m("missing = 'x'"));
    assert!(!m("missing != 'x'"));
    assert!(!m("missing in ('x')"));
    assert!(!m("missing not in ('x')"));
    assert!(m("missing is null"));
    assert!(!m("id is null"));
    assert!(m("id is not null"));
}

#[test]
fn an_empty_search_matches_everything() {
    assert!(m(""));
    assert!(m("   "));
}

#[test]
fn unknown_attributes_and_syntax_errors_name_the_problem() {
    assert_eq!(
        err("nope = 'x'"),
        "Invalid search: unknown attribute 'nope' at position 0"
    );
    assert!(
        err("id = 'x").contains("unterminated string"),
        "{}",
        err("id = 'x")
    );
    assert!(err("id = ").contains("found the end of the expression"));
    assert!(err("id 'x'").contains("expected a comparison operator"));
    assert!(err("id in ('a' 'b')").contains("',' or ')'"));
    assert!(err("(id = 'a'").contains("expected ')'"));
    assert!(err("id = 'a' id = 'b'").contains("'and', 'or'"));
    assert!(err("id = 'a' and").contains("attribute name"));
    assert!(err("id # 'a'").contains("unexpected character '#'"));
    assert!(err("and = 'a'").contains("keyword 'and'"));
    assert!(err("product. = 'a'").contains("malformed attribute"));
}

#[test]
fn order_terms_parse_and_sort_with_nulls_last() {
    let order = parse_order("state desc, id", ATTRS).unwrap();
    assert_eq!(
        order,
        vec![
            OrderTerm {
                attribute: "state".into(),
                descending: true
            },
            OrderTerm {
                attribute: "id".into(),
                descending: false
            },
        ]
    );
    let mut items = vec![
        json!({"id": "b", "state": "ready"}),
        json!({"id": "c"}),
        json!({"id": "a", "state": "ready"}),
        json!({"id": "d", "state": "zzz"}),
    ];
    sort_items(
        &mut items,
        &parse_order("state asc, id desc", ATTRS).unwrap(),
    );
    let ids: Vec<&str> = items.iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["b", "a", "d", "c"]);
    assert!(parse_order("", ATTRS).unwrap().is_empty());
    assert!(
        parse_order("bogus", ATTRS)
            .unwrap_err()
            .0
            .contains("unknown field 'bogus'")
    );
    assert!(
        parse_order("id sideways", ATTRS)
            .unwrap_err()
            .0
            .contains("[asc|desc]")
    );
    assert!(
        parse_order("id,", ATTRS)
            .unwrap_err()
            .0
            .contains("empty term")
    );
}
