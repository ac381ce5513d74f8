//! The inputs of the log-ingest planner: a cluster with the namespaces whose logs Dynatrace
//! should ingest ([`LogCluster`], already filtered by the input layer), the host group that is
//! its scope ([`HostGroup`]), and the log-storage settings objects found on that scope
//! ([`RuleObject`], parsed strictly from the Settings 2.0 JSON so that a malformed response
//! fails that cluster with the field named). Plus the constants of the schema and of dtp's
//! ownership of rules.

use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// The Settings 2.0 schema of log ingest rules.
pub const SCHEMA_ID: &str = "builtin:logmonitoring.log-storage-settings";
/// The title (`config-item-title`) of the rule the log-config Job maintains; dtp gives its
/// first rule the same title, so adopting the Job's rule keeps it.
pub const JOB_TITLE: &str = "log-cluster-namespaces";
/// At most this many values in one matcher (schema: `values` `maxObjects 2000`).
pub const MAX_VALUES: usize = 2000;
/// The matcher attribute that selects namespaces.
pub const NAMESPACE_ATTRIBUTE: &str = "k8s.namespace.name";
/// The only matcher operator the schema knows.
pub const MATCHES: &str = "MATCHES";
/// The first segment of every `externalId` dtp gives a log rule:
/// `dtp-log-rules:<cluster>:<chunk>`.
pub const EXTERNAL_ID_PREFIX: &str = "dtp-log-rules";
/// Settings 2.0 limit on an `externalId`.
pub const MAX_EXTERNAL_ID_LEN: usize = 500;

/// One cluster as the log-ingest reconciler sees it: its name (also the name of its Dynatrace
/// host group), the name of its Dynatrace environment (`dynatrace_environment_v1.name`), and
/// the namespaces with `enableDynatraceLogging && !delete`. An empty set means "no rule".
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LogCluster {
    pub name: String,
    pub environment: String,
    pub namespaces: BTreeSet<String>,
}

/// The cluster's host group entity (`HOST_GROUP-<16 hex>`): the scope of its rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HostGroup {
    pub entity_id: String,
}

/// One matcher of a rule: `attribute` `operator` any of `values`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Matcher {
    pub attribute: String,
    pub operator: String,
    pub values: Vec<String>,
}

/// A log-storage settings object as listed (`fields=objectId,externalId,value,updateToken,…`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleObject {
    pub object_id: String,
    pub external_id: Option<String>,
    /// `value.config-item-title`.
    pub title: Option<String>,
    pub enabled: bool,
    /// `value.send-to-storage`: `true` includes the logs, `false` excludes them.
    pub send_to_storage: bool,
    pub matchers: Vec<Matcher>,
    pub update_token: Option<String>,
}

impl RuleObject {
    /// Parses one item of a settings-object listing (or a single GET). Required: `objectId`
    /// and `value` (an object); within each matcher `attribute`, `operator` and `values` (an
    /// array of strings). Absent optional fields take the schema's defaults (`enabled` and
    /// `send-to-storage` true, `matchers` empty); `null` counts as absent. A field of the
    /// wrong type is an error naming it (`value.matchers[0].values[3]: not a string`), as
    /// is a missing required one.
    pub fn from_settings_json(json: &Value) -> Result<RuleObject, String> {
        let obj = json
            .as_object()
            .ok_or("settings object: not a JSON object")?;
        let object_id = match obj.get("objectId") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::String(_)) => return Err("settings object: objectId: empty".into()),
            None | Some(Value::Null) => return Err("settings object: objectId: missing".into()),
            Some(_) => return Err("settings object: objectId: not a string".into()),
        };
        let at = |e: String| format!("settings object {object_id}: {e}");
        let external_id = opt_string(obj, "externalId", "externalId").map_err(at)?;
        let update_token = opt_string(obj, "updateToken", "updateToken").map_err(at)?;
        let value = match obj.get("value") {
            Some(Value::Object(v)) => v,
            None | Some(Value::Null) => return Err(at("value: missing".into())),
            Some(_) => return Err(at("value: not an object".into())),
        };
        Ok(RuleObject {
            title: opt_string(value, "config-item-title", "value.config-item-title").map_err(at)?,
            enabled: opt_bool(value, "enabled", "value.enabled")
                .map_err(at)?
                .unwrap_or(true),
            send_to_storage: opt_bool(value, "send-to-storage", "value.send-to-storage")
                .map_err(at)?
                .unwrap_or(true),
            matchers: matchers(value).map_err(at)?,
            object_id,
            external_id,
            update_token,
        })
    }
}

fn opt_string(obj: &Map<String, Value>, key: &str, name: &str) -> Result<Option<String>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("{name}: not a string")),
    }
}

fn opt_bool(obj: &Map<String, Value>, key: &str, name: &str) -> Result<Option<bool>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(format!("{name}: not a boolean")),
    }
}

fn req_string(obj: &Map<String, Value>, key: &str, name: &str) -> Result<String, String> {
    opt_string(obj, key, name)?.ok_or_else(|| format!("{name}: missing"))
}

fn matchers(value: &Map<String, Value>) -> Result<Vec<Matcher>, String> {
    let list = match value.get("matchers") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => return Err("value.matchers: not an array".into()),
    };
    list.iter()
        .enumerate()
        .map(|(i, m)| {
            let name = format!("value.matchers[{i}]");
            let m = m
                .as_object()
                .ok_or_else(|| format!("{name}: not an object"))?;
            let values = match m.get("values") {
                Some(Value::Array(vs)) => vs
                    .iter()
                    .enumerate()
                    .map(|(j, v)| {
                        v.as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| format!("{name}.values[{j}]: not a string"))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                None | Some(Value::Null) => return Err(format!("{name}.values: missing")),
                Some(_) => return Err(format!("{name}.values: not an array")),
            };
            Ok(Matcher {
                attribute: req_string(m, "attribute", &format!("{name}.attribute"))?,
                operator: req_string(m, "operator", &format!("{name}.operator"))?,
                values,
            })
        })
        .collect()
}
