//! Validation of a `builtin:logmonitoring.log-storage-settings` value (`log-ingest-rules.md`
//! §1.3), strict where the contract is unconfirmed: `enabled`, `config-item-title` (1..=1024),
//! `send-to-storage` and `matchers` are all required; a matcher is exactly `attribute` (the
//! `MatcherType` enum), `operator` (`MATCHES`) and `values` (a set of 1..=2000 strings, each
//! 1..=1024 chars, no duplicates); unknown keys anywhere are violations.

use serde_json::{Map, Value};

/// `MatcherType` of schema version 1.0.18.
pub(super) const MATCHER_ATTRIBUTES: &[&str] = &[
    "dt.entity.process_group",
    "log.source",
    "log.source.origin",
    "log.content",
    "loglevel",
    "journald.unit",
    "host.tag",
    "k8s.container.name",
    "k8s.namespace.name",
    "k8s.deployment.name",
    "k8s.pod.annotation",
    "k8s.pod.label",
    "k8s.workload.name",
    "k8s.workload.kind",
    "container.name",
    "dt.entity.container_group",
    "process.technology",
    "winlog.eventid",
    "winlog.provider",
    "winlog.task",
    "winlog.opcode",
    "winlog.username",
    "winlog.keywords",
];

const MAX_TEXT: usize = 1024;
const MAX_MATCHERS: usize = 100;
const MAX_VALUES: usize = 2000;

/// A constraint violation inside `value`; `path` is relative to it (`matchers/0/values`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ValueViolation {
    pub(super) path: String,
    pub(super) message: String,
}

#[derive(Default)]
struct Collect(Vec<ValueViolation>);

impl Collect {
    fn add(&mut self, path: &str, message: &str) {
        self.0.push(ValueViolation {
            path: path.to_owned(),
            message: message.to_owned(),
        });
    }

    fn unknown_keys(&mut self, prefix: &str, m: &Map<String, Value>, known: &[&str]) {
        for k in m.keys().filter(|k| !known.contains(&k.as_str())) {
            self.add(&format!("{prefix}{k}"), "unknown property");
        }
    }

    fn boolean(&mut self, m: &Map<String, Value>, key: &str) {
        match m.get(key) {
            Some(Value::Bool(_)) => {}
            None | Some(Value::Null) => self.add(key, "must not be null"),
            Some(_) => self.add(key, "must be a boolean"),
        }
    }

    /// A string of 1..=1024 characters.
    fn text(&mut self, path: &str, v: Option<&Value>) {
        match v {
            Some(Value::String(s)) if s.is_empty() => self.add(path, "must not be empty"),
            Some(Value::String(s)) if s.chars().count() > MAX_TEXT => self.add(
                path,
                &format!("must not be longer than {MAX_TEXT} characters"),
            ),
            Some(Value::String(_)) => {}
            None | Some(Value::Null) => self.add(path, "must not be null"),
            Some(_) => self.add(path, "must be a string"),
        }
    }

    fn matcher(&mut self, i: usize, v: &Value) {
        let prefix = format!("matchers/{i}/");
        let Value::Object(m) = v else {
            self.add(&format!("matchers/{i}"), "must be an object");
            return;
        };
        self.unknown_keys(&prefix, m, &["attribute", "operator", "values"]);
        match m.get("attribute").and_then(Value::as_str) {
            Some(a) if MATCHER_ATTRIBUTES.contains(&a) => {}
            _ => self.add(
                &format!("{prefix}attribute"),
                &format!("must be one of {}", MATCHER_ATTRIBUTES.join(", ")),
            ),
        }
        if m.get("operator").and_then(Value::as_str) != Some("MATCHES") {
            self.add(&format!("{prefix}operator"), "must be MATCHES");
        }
        let path = format!("{prefix}values");
        let Some(values) = m.get("values").and_then(Value::as_array) else {
            self.add(&path, "must be an array of strings");
            return;
        };
        if values.is_empty() {
            self.add(&path, "must contain at least 1 element");
        } else if values.len() > MAX_VALUES {
            self.add(
                &path,
                &format!("must contain at most {MAX_VALUES} elements"),
            );
        }
        let mut seen = std::collections::HashSet::new();
        for (j, value) in values.iter().enumerate() {
            self.text(&format!("{path}/{j}"), Some(value));
            if !seen.insert(value.as_str()) {
                self.add(&format!("{path}/{j}"), "duplicate element of a set");
            }
        }
    }
}

/// Every violation of `value`; empty when it is a valid log ingest rule.
pub(super) fn validate_log_storage(value: &Value) -> Vec<ValueViolation> {
    let mut c = Collect::default();
    let Value::Object(m) = value else {
        c.add("", "value must be an object");
        return c.0;
    };
    c.unknown_keys(
        "",
        m,
        &[
            "enabled",
            "config-item-title",
            "send-to-storage",
            "matchers",
        ],
    );
    c.boolean(m, "enabled");
    c.text("config-item-title", m.get("config-item-title"));
    c.boolean(m, "send-to-storage");
    match m.get("matchers") {
        Some(Value::Array(ms)) => {
            if ms.len() > MAX_MATCHERS {
                c.add(
                    "matchers",
                    &format!("must contain at most {MAX_MATCHERS} elements"),
                );
            }
            for (i, matcher) in ms.iter().enumerate() {
                c.matcher(i, matcher);
            }
        }
        None | Some(Value::Null) => c.add("matchers", "must not be null"),
        Some(_) => c.add("matchers", "must be an array"),
    }
    c.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(values: Value) -> Value {
        json!({"enabled": true, "config-item-title": "t", "send-to-storage": true,
               "matchers": [{"attribute": "k8s.namespace.name", "operator": "MATCHES",
                             "values": values}]})
    }

    #[test]
    fn a_valid_rule_passes_and_every_problem_is_named() {
        assert!(validate_log_storage(&rule(json!(["a", "b"]))).is_empty());
        let paths = |v: &Value| -> Vec<String> {
            validate_log_storage(v)
                .into_iter()
                .map(|x| x.path)
                .collect()
        };
        assert_eq!(paths(&rule(json!([]))), ["matchers/0/values"]);
        assert_eq!(paths(&rule(json!(["a", "a"]))), ["matchers/0/values/1"]);
        assert_eq!(paths(&rule(json!([""]))), ["matchers/0/values/0"]);
        let bad = json!({"enabled": "yes", "config-item-title": "", "extra": 1,
                         "matchers": [{"attribute": "k8s.cluster.name", "operator": "EQUALS",
                                       "values": ["x"]}]});
        assert_eq!(
            paths(&bad),
            [
                "extra",
                "enabled",
                "config-item-title",
                "send-to-storage",
                "matchers/0/attribute",
                "matchers/0/operator"
            ]
        );
    }
}
