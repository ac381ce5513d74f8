//! The pure core of the log-ingest reconciler: per cluster, the Dynatrace log-storage rules
//! (`builtin:logmonitoring.log-storage-settings` on the cluster's host group) that make
//! Dynatrace ingest the logs of the namespaces with `enableDynatraceLogging`. Data in, plan
//! out, no I/O and no async: [`model`] holds the inputs (the cluster and its namespaces, the
//! settings objects read from Dynatrace), [`desired`] turns a cluster into its rules (chunks of
//! at most 2,000 namespaces, each identified by an `externalId` dtp owns), and [`plan`]
//! compares them with the objects on the scope and yields a [`LogPlan`] of [`LogAction`]s,
//! adopting the rule the log-config Job left behind. It imports only `crate::model`.

pub mod desired;
pub mod model;
pub mod plan;

#[cfg(test)]
mod tests;

pub use desired::{DesiredRule, desired_rules};
pub use model::{HostGroup, LogCluster, Matcher, RuleObject};
pub use plan::{LogAction, LogPlan, LogSummary, plan_cluster};
