//! The log-rules reconciler's inputs over GraphQL: `clusters_v1` filtered on a Dynatrace
//! environment and `namespaces_v1` filtered on `enableDynatraceLogging: true`, from the same
//! bundle, joined by cluster name; selection and checks are
//! [`super::super::log_rules`]'s, as for datafiles.

use super::super::log_rules::{ClusterRecord, NamespaceRecord, assemble};
use super::queries::{
    LogRulesClusters, LogRulesNamespaces, log_rules_clusters, log_rules_namespaces,
};
use super::{AppInterfaceError, GraphqlSource};
use crate::clients::appinterface::DYNATRACE_ENVIRONMENT_SCHEMA;
use crate::model::LogRulesInput;
use serde_json::json;

impl GraphqlSource {
    /// Runs the two queries against one endpoint.
    pub(super) async fn load_log_rules_from(
        &self,
        endpoint: &str,
        pinned: bool,
    ) -> Result<LogRulesInput, AppInterfaceError> {
        let (clusters, namespaces) = futures::future::try_join(
            self.query::<LogRulesClusters>(
                endpoint,
                pinned,
                log_rules_clusters::Variables {
                    filter: Some(json!({"dynatraceEnvironment": {"ne": null}})),
                },
            ),
            self.query::<LogRulesNamespaces>(
                endpoint,
                pinned,
                log_rules_namespaces::Variables {
                    filter: Some(json!({"enableDynatraceLogging": true})),
                },
            ),
        )
        .await?;
        assemble(
            cluster_records(clusters),
            namespace_records(namespaces),
            Vec::new(),
        )
    }
}

fn cluster_records(r: log_rules_clusters::ResponseData) -> Vec<ClusterRecord> {
    r.clusters
        .unwrap_or_default()
        .into_iter()
        .map(|c| ClusterRecord {
            environment: match c.dynatrace_environment {
                Some(e) if e.schema == DYNATRACE_ENVIRONMENT_SCHEMA => Ok(e.name),
                Some(e) => Err(format!(
                    "'{}' is not a known Dynatrace environment (its schema is {})",
                    e.path, e.schema
                )),
                None => Err("does not resolve to a known Dynatrace environment".to_owned()),
            },
            disabled: c.disable.and_then(|d| d.integrations).unwrap_or_default(),
            name: c.name,
            path: c.path,
        })
        .collect()
}

fn namespace_records(r: log_rules_namespaces::ResponseData) -> Vec<NamespaceRecord> {
    r.namespaces
        .unwrap_or_default()
        .into_iter()
        .map(|n| NamespaceRecord {
            path: n.path,
            name: n.name,
            delete: n.delete.unwrap_or(false),
            logging: n.enable_dynatrace_logging.unwrap_or(false),
            cluster: Ok(n.cluster.name),
        })
        .collect()
}
