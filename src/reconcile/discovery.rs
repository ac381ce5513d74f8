//! The discovery phase: in every OCM environment (concurrently), read the client secret, log
//! in to SSO and find the labelled, managed, ready clusters; then keep this shard's clusters
//! and those the `--cluster` filter names. An environment that fails is a [`Failure`] and the
//! others go on.

use super::inputs::Inputs;
use super::{Dependencies, Failure, RunOptions};
use crate::clients::Ocm;
use crate::model::{DiscoveredCluster, OcmEnvName, OcmEnvironment};
use crate::progress::Stage;
use std::collections::BTreeMap;
use std::sync::Arc;
use tracing::{Instrument, error, info, info_span, warn};

/// What discovery found.
pub struct Found {
    /// The clusters this run serves, with their OCM environment.
    pub clusters: Vec<(OcmEnvName, DiscoveredCluster)>,
    /// Labelled clusters of this shard (before the `--cluster` filter).
    pub clusters_discovered: usize,
    /// Every discovered cluster, in every shard (before any filter).
    pub seen: std::collections::BTreeSet<crate::model::ExternalClusterId>,
    /// The OCM client of every environment whose discovery succeeded.
    pub ocm: BTreeMap<OcmEnvName, Arc<dyn Ocm>>,
    pub env_failures: Vec<Failure>,
    pub problems: Vec<Failure>,
    /// `--cluster` filters that matched no labelled cluster.
    pub unmatched_filters: Vec<String>,
}

pub(super) async fn discover(inputs: &Inputs, deps: &Dependencies, opts: &RunOptions) -> Found {
    let filters = &opts.filters;
    let envs: Vec<&OcmEnvironment> = inputs
        .data
        .ocm_environments
        .iter()
        .filter(|e| filters.ocm_envs.is_empty() || filters.ocm_envs.contains(&e.name))
        .collect();
    opts.progress.start(Stage::Discovery, envs.len());
    let results = futures::future::join_all(envs.iter().map(|env| {
        let span = info_span!("ocm_env", ocm_env = %env.name);
        async {
            let r = discover_env(env, inputs, deps).await;
            opts.progress.advance(Stage::Discovery);
            r
        }
        .instrument(span)
    }))
    .await;
    let mut found = Found {
        clusters: Vec::new(),
        clusters_discovered: 0,
        seen: Default::default(),
        ocm: BTreeMap::new(),
        env_failures: Vec::new(),
        problems: Vec::new(),
        unmatched_filters: Vec::new(),
    };
    for r in results {
        match r {
            Ok((env, ocm, d)) => {
                found
                    .problems
                    .extend(d.problems.into_iter().map(|problem| Failure::Discovery {
                        env: env.clone(),
                        problem,
                    }));
                found
                    .clusters
                    .extend(d.clusters.into_iter().map(|c| (env.clone(), c)));
                found.ocm.insert(env, ocm);
            }
            Err(f) => {
                error!(error = %f, "OCM environment failed");
                found.env_failures.push(f);
            }
        }
    }
    keep_served(&mut found, opts);
    found
}

async fn discover_env(
    env: &OcmEnvironment,
    inputs: &Inputs,
    deps: &Dependencies,
) -> Result<(OcmEnvName, Arc<dyn Ocm>, crate::model::Discovery), Failure> {
    let fail = |error: String| Failure::OcmEnvironment {
        env: env.name.clone(),
        error,
    };
    let secret = inputs
        .secrets
        .read(&env.access_token_client_secret)
        .await
        .map_err(|e| fail(format!("client secret: {e}")))?;
    let ocm = deps.connector.ocm(env, secret);
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

/// Keeps this shard's clusters, then those the `--cluster` filter names (noting filters that
/// matched nothing).
fn keep_served(found: &mut Found, opts: &RunOptions) {
    found.seen = found
        .clusters
        .iter()
        .map(|(_, c)| c.external_id.clone())
        .collect();
    let shard = opts.shard;
    if shard.count > 1 {
        found.clusters.retain(|(_, c)| shard.owns(&c.external_id));
        info!(
            shard = shard.id,
            shards = shard.count,
            clusters = found.clusters.len(),
            "clusters of this shard"
        );
    }
    found.clusters_discovered = found.clusters.len();
    let wanted = &opts.filters.clusters;
    if wanted.is_empty() {
        return;
    }
    for f in wanted {
        if !found.clusters.iter().any(|(_, c)| matches_filter(c, f)) {
            warn!(cluster = %f, "--cluster matched no labelled, managed and ready cluster");
            found.unmatched_filters.push(f.clone());
        }
    }
    found
        .clusters
        .retain(|(_, c)| wanted.iter().any(|f| matches_filter(c, f)));
}

fn matches_filter(c: &DiscoveredCluster, f: &str) -> bool {
    c.id.as_str() == f || c.external_id.as_str() == f
}
