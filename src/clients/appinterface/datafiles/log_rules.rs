//! The log-rules reconciler's inputs from datafiles: `/openshift/cluster-1.yml`,
//! `/openshift/namespace-1.yml` and the Dynatrace environments their `$ref`s point at.
//!
//! Only the fields the reconciler needs are read (`name`, `disable.integrations`,
//! `dynatraceEnvironment`; `name`, `cluster`, `delete`, `enableDynatraceLogging`); other
//! fields are ignored, since these schemas are large and owned by other integrations. The
//! `$schema` rules of the token loader apply to these three schemas: a `$schema` of their
//! family in another version (or a near typo) is a problem naming the file, and a broken file
//! is an error only when it names one of them. Selection and checks are
//! [`super::super::log_rules`]'s.

use super::super::log_rules::{
    CLUSTER_SCHEMA, ClusterRecord, NAMESPACE_SCHEMA, NamespaceRecord, assemble,
};
use super::{
    AppInterfaceError, CrossRef, DYNATRACE_ENVIRONMENT_SCHEMA, Datafile, SchemaProbe, from_json,
    from_yaml, names_schema, near_miss_in, read_text, walk, yaml_error, yaml_options,
};
use crate::model::LogRulesInput;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

const LOG_RULES_SCHEMAS: [&str; 3] = [
    CLUSTER_SCHEMA,
    NAMESPACE_SCHEMA,
    DYNATRACE_ENVIRONMENT_SCHEMA,
];

#[derive(Clone, Copy)]
enum Kind {
    Cluster,
    Namespace,
    Dynatrace,
}

enum Parsed {
    Cluster(ClusterFile),
    Namespace(NamespaceFile),
    Dynatrace(EnvironmentName),
}

/// `/openshift/cluster-1.yml`: the fields the log-rules reconciler reads.
#[derive(Deserialize)]
struct ClusterFile {
    name: String,
    #[serde(default)]
    disable: Option<DisableFile>,
    #[serde(rename = "dynatraceEnvironment", default)]
    dynatrace_environment: Option<CrossRef>,
}

/// `disable` of a cluster (`/openshift/cluster-1.yml#/definitions/disable`): the integrations.
#[derive(Deserialize)]
struct DisableFile {
    #[serde(default)]
    integrations: Option<Vec<String>>,
}

/// `/openshift/namespace-1.yml`: the fields the log-rules reconciler reads.
#[derive(Deserialize)]
struct NamespaceFile {
    name: String,
    cluster: CrossRef,
    #[serde(default)]
    delete: Option<bool>,
    #[serde(rename = "enableDynatraceLogging", default)]
    enable_dynatrace_logging: Option<bool>,
}

/// A Dynatrace environment, for its name only (the token loader checks the rest).
#[derive(Deserialize)]
struct EnvironmentName {
    name: String,
}

fn kind_of(path: &str, schema: Option<&str>, problems: &mut Vec<String>) -> Option<Kind> {
    let schema = schema?;
    match schema {
        CLUSTER_SCHEMA => return Some(Kind::Cluster),
        NAMESPACE_SCHEMA => return Some(Kind::Namespace),
        DYNATRACE_ENVIRONMENT_SCHEMA => return Some(Kind::Dynatrace),
        _ => {}
    }
    if let Some(known) = near_miss_in(&LOG_RULES_SCHEMAS, schema) {
        problems.push(format!(
            "{path}: $schema '{schema}' is not a schema dtp reads (did you mean '{known}'?)"
        ));
    }
    None
}

/// Reads the log-rules inputs from a datafiles directory (blocking); problems carry line and
/// column.
pub fn load_log_rules_dir(dir: &Path) -> Result<LogRulesInput, AppInterfaceError> {
    let mut problems = Vec::new();
    let mut parsed = Vec::new();
    for file in walk(dir, &mut problems) {
        let Some(text) = read_text(&file, &mut problems) else {
            continue;
        };
        let text = text.text;
        let schema = match serde_saphyr::from_str_with_options::<SchemaProbe>(&text, yaml_options())
        {
            Ok(probe) => probe.schema,
            Err(e) => {
                if names_schema(&text, &LOG_RULES_SCHEMAS) {
                    problems.push(format!("{}: invalid YAML: {}", file.path, yaml_error(&e)));
                }
                continue;
            }
        };
        let Some(kind) = kind_of(&file.path, schema.as_deref(), &mut problems) else {
            continue;
        };
        let item = match kind {
            Kind::Cluster => from_yaml(&text).map(Parsed::Cluster),
            Kind::Namespace => from_yaml(&text).map(Parsed::Namespace),
            Kind::Dynatrace => from_yaml(&text).map(Parsed::Dynatrace),
        };
        match item {
            Ok(item) => parsed.push((file.path, item)),
            Err(message) => problems.push(format!("{}: {message}", file.path)),
        }
    }
    resolve(parsed, problems)
}

/// The log-rules inputs from in-memory datafiles (`(path, content)`, any order, any schemas),
/// with the same rules as a directory.
pub fn log_rules_from_datafiles(files: &[Datafile]) -> Result<LogRulesInput, AppInterfaceError> {
    let mut sorted: Vec<&Datafile> = files.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut problems = Vec::new();
    let mut parsed = Vec::new();
    for (path, value) in sorted {
        let schema = value.get("$schema").and_then(Value::as_str);
        let Some(kind) = kind_of(path, schema, &mut problems) else {
            continue;
        };
        let item = match kind {
            Kind::Cluster => from_json(value).map(Parsed::Cluster),
            Kind::Namespace => from_json(value).map(Parsed::Namespace),
            Kind::Dynatrace => from_json(value).map(Parsed::Dynatrace),
        };
        match item {
            Ok(item) => parsed.push((path.clone(), item)),
            Err(message) => problems.push(format!("{path}: {message}")),
        }
    }
    resolve(parsed, problems)
}

/// The datafile path a crossref names (without a `#` fragment).
fn target(r: &CrossRef) -> &str {
    r.target.split('#').next().unwrap_or(&r.target)
}

/// Follows the crossrefs and hands the records to [`assemble`].
fn resolve(
    parsed: Vec<(String, Parsed)>,
    problems: Vec<String>,
) -> Result<LogRulesInput, AppInterfaceError> {
    let mut environments = BTreeMap::new();
    let mut cluster_names = BTreeMap::new();
    for (path, item) in &parsed {
        match item {
            Parsed::Dynatrace(e) => {
                environments.insert(path.as_str(), e.name.as_str());
            }
            Parsed::Cluster(c) => {
                cluster_names.insert(path.as_str(), c.name.as_str());
            }
            Parsed::Namespace(_) => {}
        }
    }
    let mut clusters = Vec::new();
    let mut namespaces = Vec::new();
    for (path, item) in &parsed {
        match item {
            Parsed::Cluster(c) => {
                let Some(env) = &c.dynatrace_environment else {
                    continue;
                };
                let env = target(env);
                clusters.push(ClusterRecord {
                    path: path.clone(),
                    name: c.name.clone(),
                    disabled: c
                        .disable
                        .as_ref()
                        .and_then(|d| d.integrations.clone())
                        .unwrap_or_default(),
                    environment: environments.get(env).map(|n| (*n).to_owned()).ok_or_else(|| {
                        format!(
                            "'{env}' is not a known Dynatrace environment (no datafile of schema \
                             {DYNATRACE_ENVIRONMENT_SCHEMA} at that path)"
                        )
                    }),
                });
            }
            Parsed::Namespace(n) => {
                let cluster = target(&n.cluster);
                namespaces.push(NamespaceRecord {
                    path: path.clone(),
                    name: n.name.clone(),
                    delete: n.delete.unwrap_or(false),
                    logging: n.enable_dynatrace_logging.unwrap_or(false),
                    cluster: cluster_names
                        .get(cluster)
                        .map(|n| (*n).to_owned())
                        .ok_or_else(|| {
                            format!(
                                "'{cluster}' does not resolve (no datafile of schema \
                                 {CLUSTER_SCHEMA} at that path)"
                            )
                        }),
                });
            }
            Parsed::Dynatrace(_) => {}
        }
    }
    assemble(clusters, namespaces, problems)
}
