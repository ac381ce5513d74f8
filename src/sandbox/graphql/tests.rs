//! Unit tests of the value helpers and the bundle sha.

use super::execute::exclude_empty_objects_in_arrays;
use super::filters::js_strict_eq;
use super::*;
use serde_json::json;

#[test]
fn javascript_strict_equality_compares_primitives_only() {
    assert!(js_strict_eq(&json!(1), &json!(1.0)));
    assert!(js_strict_eq(&Value::Null, &Value::Null));
    assert!(!js_strict_eq(&json!("1"), &json!(1)));
    assert!(!js_strict_eq(&json!({"a": 1}), &json!({"a": 1})));
}

#[test]
fn the_bundle_sha_depends_on_the_content_only() {
    let a = vec![("/a.yml".to_owned(), json!({"$schema": "/x", "n": 1}))];
    let mut b = a.clone();
    assert_eq!(bundle_sha(&a), bundle_sha(&b));
    b[0].1["n"] = json!(2);
    assert_ne!(bundle_sha(&a), bundle_sha(&b));
    assert_eq!(bundle_sha(&a).len(), 64);
}

#[test]
fn empty_objects_are_dropped_from_arrays() {
    let v = exclude_empty_objects_in_arrays(json!({"x": [{}, {"a": [{}, 1]}], "y": {}}));
    assert_eq!(v, json!({"x": [{"a": [1]}], "y": {}}));
}
