//! The log-rules reconciler's inputs, shared by both sources: each source turns its answers
//! (GraphQL lists or datafiles) into [`ClusterRecord`]s and [`NamespaceRecord`]s, and
//! [`assemble`] applies the selection and the checks once, so that both give the same
//! [`LogRulesInput`] and the same problems.
//!
//! Selection: every cluster with a `dynatraceEnvironment` whose `disable.integrations` does
//! not name [`LOG_RULES_INTEGRATION`], with the names of its namespaces that have
//! `enableDynatraceLogging: true` and not `delete: true` (possibly none). Checks (each a
//! problem naming the datafile, all reported together as [`AppInterfaceError::Datafiles`]):
//! a logging namespace whose name is not a Kubernetes namespace name (RFC 1123 label), a
//! `dynatraceEnvironment` that is not a Dynatrace environment, two cluster datafiles with the
//! same name, a logging namespace whose `cluster` does not resolve.

use super::AppInterfaceError;
use crate::model::{LogRulesCluster, LogRulesInput};
use std::collections::{BTreeMap, BTreeSet};

/// The name of the log-rules reconciler in a cluster's `disable.integrations`: a cluster that
/// lists it is left alone (its rule is neither written nor removed).
pub const LOG_RULES_INTEGRATION: &str = "dynatrace-log-rules";

/// `$schema` of clusters.
pub const CLUSTER_SCHEMA: &str = "/openshift/cluster-1.yml";
/// `$schema` of namespaces.
pub const NAMESPACE_SCHEMA: &str = "/openshift/namespace-1.yml";

/// A cluster datafile that has a `dynatraceEnvironment`.
#[derive(Debug)]
pub(super) struct ClusterRecord {
    pub(super) path: String,
    pub(super) name: String,
    /// `disable.integrations`.
    pub(super) disabled: Vec<String>,
    /// The environment's name, or why the reference is not a Dynatrace environment.
    pub(super) environment: Result<String, String>,
}

/// A namespace datafile (only those with `enableDynatraceLogging: true` matter).
#[derive(Debug)]
pub(super) struct NamespaceRecord {
    pub(super) path: String,
    pub(super) name: String,
    pub(super) delete: bool,
    pub(super) logging: bool,
    /// The cluster's name, or why the `cluster` reference does not resolve.
    pub(super) cluster: Result<String, String>,
}

/// Whether `name` is a Kubernetes namespace name: an RFC 1123 label (lowercase alphanumerics
/// and `-`, starting and ending alphanumeric, 1 to 63 characters).
pub fn is_namespace_name(name: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| alnum(c) || c == '-')
        && name.starts_with(alnum)
        && name.ends_with(alnum)
}

/// The input from the records, or every problem found (`problems` holds the source's own).
pub(super) fn assemble(
    clusters: Vec<ClusterRecord>,
    namespaces: Vec<NamespaceRecord>,
    mut problems: Vec<String>,
) -> Result<LogRulesInput, AppInterfaceError> {
    let mut by_name: BTreeMap<String, Vec<&ClusterRecord>> = BTreeMap::new();
    for c in &clusters {
        by_name.entry(c.name.clone()).or_default().push(c);
        if let Err(why) = &c.environment {
            problems.push(format!("{}: dynatraceEnvironment {why}", c.path));
        }
    }
    for (name, files) in &by_name {
        if let [_, _, ..] = files.as_slice() {
            let mut paths: Vec<&str> = files.iter().map(|c| c.path.as_str()).collect();
            paths.sort_unstable();
            problems.push(format!(
                "cluster '{name}' is defined by {} datafiles: {}",
                paths.len(),
                paths.join(", ")
            ));
        }
    }
    let mut wanted: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for ns in namespaces.iter().filter(|n| n.logging && !n.delete) {
        if !is_namespace_name(&ns.name) {
            problems.push(format!(
                "{}: '{}' is not a valid Kubernetes namespace name (lowercase letters, digits \
                 and '-', starting and ending with a letter or digit, at most 63 characters)",
                ns.path, ns.name
            ));
        }
        match &ns.cluster {
            Ok(cluster) => {
                wanted
                    .entry(cluster.as_str())
                    .or_default()
                    .insert(ns.name.clone());
            }
            Err(why) => problems.push(format!("{}: cluster {why}", ns.path)),
        }
    }
    if !problems.is_empty() {
        return Err(AppInterfaceError::Datafiles(problems));
    }
    let clusters = by_name
        .into_values()
        .filter_map(|files| files.into_iter().next())
        .filter(|c| !c.disabled.iter().any(|i| i == LOG_RULES_INTEGRATION))
        .map(|c| LogRulesCluster {
            name: c.name.clone(),
            path: c.path.clone(),
            environment: c.environment.clone().unwrap_or_default(),
            namespaces: wanted.remove(c.name.as_str()).unwrap_or_default(),
        })
        .collect();
    Ok(LogRulesInput { clusters })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_names_are_rfc_1123_labels() {
        for ok in ["a", "ns-1", "0abc", &"a".repeat(63)] {
            assert!(is_namespace_name(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", &"a".repeat(64), "ä"] {
            assert!(!is_namespace_name(bad), "{bad}");
        }
    }

    fn cluster(path: &str, name: &str, env: Result<&str, &str>) -> ClusterRecord {
        ClusterRecord {
            path: path.into(),
            name: name.into(),
            disabled: vec![],
            environment: env.map(str::to_owned).map_err(str::to_owned),
        }
    }

    fn ns(path: &str, name: &str, cluster: Result<&str, &str>) -> NamespaceRecord {
        NamespaceRecord {
            path: path.into(),
            name: name.into(),
            delete: false,
            logging: true,
            cluster: cluster.map(str::to_owned).map_err(str::to_owned),
        }
    }

    #[test]
    fn every_problem_names_its_datafile() {
        let clusters = vec![
            cluster("/c1.yml", "c", Ok("dt")),
            cluster("/c2.yml", "c", Ok("dt")),
            cluster(
                "/d.yml",
                "d",
                Err("'/x.yml' is not a Dynatrace environment"),
            ),
        ];
        let namespaces = vec![
            ns("/n1.yml", "Bad_Name", Ok("c")),
            ns("/n2.yml", "good", Err("'/gone.yml' does not resolve")),
        ];
        let problems = assemble(clusters, namespaces, vec![])
            .unwrap_err()
            .problems();
        assert_eq!(problems.len(), 4, "{problems:#?}");
        assert!(problems[0].starts_with("/d.yml: dynatraceEnvironment"));
        assert!(problems[1].contains("/c1.yml, /c2.yml"));
        assert!(problems[2].starts_with("/n1.yml: 'Bad_Name'"));
        assert!(problems[3].starts_with("/n2.yml: cluster"));
    }

    #[test]
    fn namespaces_of_other_clusters_or_switched_off_are_ignored() {
        let mut off = ns("/n2.yml", "off", Ok("c"));
        off.logging = false;
        let mut deleted = ns("/n3.yml", "Deleted_Bad", Ok("c"));
        deleted.delete = true;
        let input = assemble(
            vec![cluster("/c.yml", "c", Ok("dt"))],
            vec![
                ns("/n1.yml", "on", Ok("c")),
                off,
                deleted,
                ns("/n4.yml", "x", Ok("other")),
            ],
            vec![],
        )
        .unwrap();
        assert_eq!(input.clusters.len(), 1);
        assert_eq!(input.clusters[0].environment, "dt");
        assert_eq!(
            input.clusters[0].namespaces,
            BTreeSet::from(["on".to_owned()])
        );
    }
}
