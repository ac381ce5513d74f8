//! The discovery phase: in every OCM environment (each in its own task, so that they all make
//! progress while the run works on the clusters already found), read the client secret, log
//! in to SSO and find the labelled, managed, ready clusters. [`Found`] keeps this shard's
//! clusters and those the `--cluster` filter names, as each environment's arrive. An
//! environment that fails is a [`Failure`] and the others go on.

use super::inputs::Inputs;
use super::{Dependencies, Failure, RunOptions};
use crate::clients::{Connector, Ocm, SecretReader};
use crate::config::Filters;
use crate::model::{DiscoveredCluster, ExternalClusterId, OcmEnvName, OcmEnvironment};
use crate::progress::Stage;
use crate::shard::Shard;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use tokio::task::JoinSet;
use tracing::{Instrument, error, info, info_span, warn};

/// One environment's discovery: its client and clusters, or why it failed.
pub(super) type EnvFound =
    Result<(OcmEnvName, Arc<dyn Ocm>, crate::model::Discovery), Box<Failure>>;

/// Starts the discovery of every OCM environment the filters allow, each in its own task;
/// the set yields them as they finish (dropping it stops them).
pub(super) fn spawn(inputs: &Inputs, deps: &Dependencies, opts: &RunOptions) -> JoinSet<EnvFound> {
    let filters = &opts.filters;
    let envs: Vec<&OcmEnvironment> = inputs
        .data
        .ocm_environments
        .iter()
        .filter(|e| filters.ocm_envs.is_empty() || filters.ocm_envs.contains(&e.name))
        .collect();
    opts.progress.start(Stage::Discovery, envs.len());
    let mut set = JoinSet::new();
    for env in envs {
        let span = info_span!("ocm_env", ocm_env = %env.name);
        let (env, secrets, connector, progress) = (
            env.clone(),
            inputs.secrets.clone(),
            deps.connector.clone(),
            opts.progress.clone(),
        );
        set.spawn(
            async move {
                let r = discover_env(&env, &secrets, &connector).await;
                progress.advance(Stage::Discovery);
                r
            }
            .instrument(span),
        );
    }
    set
}

async fn discover_env(
    env: &OcmEnvironment,
    secrets: &Arc<dyn SecretReader>,
    connector: &Arc<dyn Connector>,
) -> EnvFound {
    let fail = |error: String| {
        Box::new(Failure::OcmEnvironment {
            env: env.name.clone(),
            error,
        })
    };
    let secret = secrets
        .read(&env.access_token_client_secret)
        .await
        .map_err(|e| fail(format!("client secret: {e}")))?;
    let ocm = connector.ocm(env, secret);
    let d = ocm
        .discover_clusters()
        .await
        .map_err(|e| fail(e.to_string()))?;
    info!(
        clusters = d.clusters.len(),
        problems = d.problems.len(),
        "discovered labelled clusters"
    );
    Ok((env.name.clone(), ocm, d))
}

/// What discovery found, so far.
#[derive(Default)]
pub struct Found {
    /// Labelled clusters of this shard (before the `--cluster` filter).
    pub clusters_discovered: usize,
    /// Every discovered cluster, in every shard (before any filter).
    pub seen: BTreeSet<ExternalClusterId>,
    /// The OCM client of every environment whose discovery succeeded.
    pub ocm: BTreeMap<OcmEnvName, Arc<dyn Ocm>>,
    pub env_failures: Vec<Failure>,
    pub problems: Vec<Failure>,
    /// `--cluster` filters that matched some labelled cluster.
    matched: BTreeSet<String>,
}

impl Found {
    /// Takes in one environment's discovery; returns the clusters this run serves: this
    /// shard's, and of those, the ones the `--cluster` filter names.
    pub(super) fn add(
        &mut self,
        found: EnvFound,
        shard: Shard,
        filters: &Filters,
    ) -> Option<(OcmEnvName, Arc<dyn Ocm>, Vec<DiscoveredCluster>)> {
        let (env, ocm, d) = match found {
            Ok(f) => f,
            Err(f) => {
                error!(error = %f, "OCM environment failed");
                self.env_failures.push(*f);
                return None;
            }
        };
        self.problems
            .extend(d.problems.into_iter().map(|problem| Failure::Discovery {
                env: env.clone(),
                problem,
            }));
        self.seen
            .extend(d.clusters.iter().map(|c| c.external_id.clone()));
        let mut clusters = d.clusters;
        if shard.count > 1 {
            clusters.retain(|c| shard.owns(&c.external_id));
            info!(ocm_env = %env, shard = shard.id, shards = shard.count, clusters = clusters.len(), "clusters of this shard");
        }
        self.clusters_discovered += clusters.len();
        if !filters.clusters.is_empty() {
            clusters.retain(|c| {
                let hits: Vec<&String> = filters
                    .clusters
                    .iter()
                    .filter(|f| matches_filter(c, f))
                    .collect();
                self.matched.extend(hits.iter().map(|f| (*f).clone()));
                !hits.is_empty()
            });
        }
        self.ocm.insert(env.clone(), ocm.clone());
        Some((env, ocm, clusters))
    }

    /// Once every environment is in: the `--cluster` filters that matched nothing.
    pub(super) fn unmatched_filters(&self, filters: &Filters) -> Vec<String> {
        let unmatched: Vec<String> = filters
            .clusters
            .iter()
            .filter(|f| !self.matched.contains(*f))
            .cloned()
            .collect();
        for f in &unmatched {
            warn!(cluster = %f, "--cluster matched no labelled, managed and ready cluster");
        }
        unmatched
    }
}

fn matches_filter(c: &DiscoveredCluster, f: &str) -> bool {
    c.id.as_str() == f || c.external_id.as_str() == f
}
