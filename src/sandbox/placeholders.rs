//! Fixture placeholders: `${OCM_URL:<env>}`, `${DYNATRACE_URL}` (known once the servers
//! listen) and `${base64:...}`, substituted in JSON values and typed fixture parts; and the
//! JSON-to-TOML conversion of the fixture's config secrets.

use serde_json::Value;
use std::collections::BTreeMap;

/// Replaces `${VAR}` placeholders in every string, then evaluates `${base64:...}`.
pub(super) fn substitute(v: &mut Value, vars: &BTreeMap<String, String>) {
    match v {
        Value::String(s) => {
            for (k, val) in vars {
                if s.contains(k.as_str()) {
                    *s = s.replace(k.as_str(), val);
                }
            }
            while let Some(start) = s.find("${base64:") {
                let Some(len) = s[start..].find('}') else {
                    break;
                };
                let inner = s[start + 9..start + len].to_owned();
                let encoded =
                    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, inner);
                s.replace_range(start..start + len + 1, &encoded);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| substitute(x, vars)),
        Value::Object(o) => o.values_mut().for_each(|x| substitute(x, vars)),
        _ => {}
    }
}

/// Substitutes placeholders inside an already-typed fixture part (round trip through JSON).
pub(super) fn substitute_typed<T: serde::Serialize + serde::de::DeserializeOwned>(
    t: T,
    vars: &BTreeMap<String, String>,
) -> std::io::Result<T> {
    let mut v = serde_json::to_value(&t).map_err(std::io::Error::other)?;
    substitute(&mut v, vars);
    serde_json::from_value(v).map_err(std::io::Error::other)
}

pub(super) fn json_to_toml(v: &Value) -> Option<toml::Value> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => toml::Value::Boolean(*b),
        Value::Number(n) => n
            .as_i64()
            .map(toml::Value::Integer)
            .or_else(|| n.as_f64().map(toml::Value::Float))?,
        Value::String(s) => toml::Value::String(s.clone()),
        Value::Array(a) => toml::Value::Array(a.iter().filter_map(json_to_toml).collect()),
        Value::Object(o) => toml::Value::Table(
            o.iter()
                .filter_map(|(k, v)| json_to_toml(v).map(|t| (k.clone(), t)))
                .collect(),
        ),
    })
}
