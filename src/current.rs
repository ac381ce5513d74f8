//! Reading the current state the planner compares against: each needed tenant's token list
//! (once per run, whatever the number of OCM environments) and each served cluster's
//! `ext-dynatrace-tokens-dtp` SyncSet/Manifest. A read that fails is kept as its error, so
//! the planner fails exactly the clusters that depend on it. No writes happen here.

use crate::clients::{Connector, Dynatrace, Ocm, SecretReader};
use crate::desired::DesiredState;
use crate::model::naming::cluster_of;
use crate::model::{DynatraceEnvironment, ExternalClusterId, OcmEnvName, TenantId};
use crate::plan::{Bundles, CurrentState, TenantTokens};
use crate::progress::{Progress, Stage};
use crate::shard::Shard;
use futures::StreamExt;
use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::num::NonZeroUsize;
use std::sync::Arc;
use tracing::{Instrument, debug, error, info_span};

/// A tenant's client and token list, or why they could not be had.
type TenantRead = Result<(Arc<dyn Dynatrace>, TenantTokens), String>;

/// The token lists of the tenants the desired state needs (or why one could not be read),
/// with the clients that read them.
pub struct Tenants {
    pub tokens: BTreeMap<TenantId, Result<TenantTokens, String>>,
    pub clients: BTreeMap<TenantId, Arc<dyn Dynatrace>>,
}

/// Reads every tenant's bootstrap token and token list, `concurrency` at a time: those the
/// desired state needs, and the others too, where orphaned tokens of served clusters may be
/// (a changed tenant label leaves its tokens behind).
pub async fn tenants(
    environments: &[DynatraceEnvironment],
    secrets: &Arc<dyn SecretReader>,
    connector: &Arc<dyn Connector>,
    concurrency: NonZeroUsize,
    progress: &Progress,
) -> Tenants {
    let envs_by_tenant: BTreeMap<&TenantId, &DynatraceEnvironment> = environments
        .iter()
        .map(|e| (&e.environment_id, e))
        .collect();
    progress.start(Stage::Tenants, envs_by_tenant.len());
    let results: Vec<(TenantId, TenantRead)> = futures::stream::iter(envs_by_tenant)
        .map(|(tenant, env)| {
            let tenant = tenant.clone();
            let span = info_span!("tenant", tenant = %tenant);
            async move {
                let read = tenant_tokens(env, secrets, connector).await;
                progress.advance(Stage::Tenants);
                (tenant, read)
            }
            .instrument(span)
        })
        .buffer_unordered(concurrency.get())
        .collect()
        .await;
    let mut out = Tenants {
        tokens: BTreeMap::new(),
        clients: BTreeMap::new(),
    };
    for (tenant, r) in results {
        match r {
            Ok((dt, tokens)) => {
                out.clients.insert(tenant.clone(), dt);
                out.tokens.insert(tenant, Ok(tokens));
            }
            Err(e) => {
                error!(tenant = %tenant, error = %e, "Dynatrace tenant failed");
                out.tokens.insert(tenant, Err(e));
            }
        }
    }
    out
}

async fn tenant_tokens(
    env: &DynatraceEnvironment,
    secrets: &Arc<dyn SecretReader>,
    connector: &Arc<dyn Connector>,
) -> TenantRead {
    let token = secrets
        .read(&env.bootstrap_token)
        .await
        .map_err(|e| format!("bootstrap token: {e}"))?;
    let dt = connector.dynatrace(env, token);
    let tokens = dt.list_tokens().await.map_err(|e| e.to_string())?;
    debug!(tokens = tokens.len(), "listed tokens");
    Ok((dt, TenantTokens::new(tokens)))
}

/// The current bundle of every cluster the desired state serves, `concurrency` at a time.
pub async fn bundles(
    desired: &DesiredState,
    ocm: &BTreeMap<OcmEnvName, Arc<dyn Ocm>>,
    concurrency: NonZeroUsize,
    progress: &Progress,
) -> Bundles {
    let served: Vec<_> = desired
        .clusters
        .iter()
        .filter(|c| c.conflict.is_none())
        .collect();
    progress.start(Stage::Bundles, served.len());
    futures::stream::iter(served)
        .map(|dc| {
            let c = &dc.cluster;
            let client = ocm.get(&c.ocm_env).cloned();
            async move {
                let r = match client {
                    Some(ocm) => ocm
                        .get_bundle(&c.id, c.kind)
                        .await
                        .map_err(|e| e.to_string()),
                    None => Err(format!("no OCM client for environment '{}'", c.ocm_env)),
                };
                progress.advance(Stage::Bundles);
                ((c.ocm_env.clone(), c.id.clone()), r)
            }
        })
        .buffer_unordered(concurrency.get())
        .collect()
        .await
}

/// The current state of a run: the token lists and bundles read, at `now`, and the clusters
/// OCM confirmed gone.
pub fn state(
    tenants: BTreeMap<TenantId, Result<TenantTokens, String>>,
    bundles: Bundles,
    departed: BTreeSet<ExternalClusterId>,
) -> CurrentState {
    CurrentState {
        now: chrono::Utc::now(),
        tenants,
        bundles,
        departed,
    }
}

/// The clusters named by tokens (`dtp_<name>_<uuid>_<hash>`) that belong to this shard, were
/// not discovered, and that no OCM environment knows in any state: clusters that left the
/// fleet. Asked only when every OCM environment was discovered and no filter narrows the run
/// (otherwise nothing is gone for sure).
pub async fn departed(
    tokens: &BTreeMap<TenantId, Result<TenantTokens, String>>,
    discovered: &BTreeSet<ExternalClusterId>,
    ocm: &BTreeMap<OcmEnvName, Arc<dyn Ocm>>,
    shard: Shard,
) -> Result<BTreeSet<ExternalClusterId>, (OcmEnvName, String)> {
    let candidates: Vec<ExternalClusterId> = tokens
        .values()
        .filter_map(|r| r.as_ref().ok())
        .flat_map(|t| t.by_id.values())
        .filter_map(|t| cluster_of(&t.name))
        .filter(|c| shard.owns(c) && !discovered.contains(c))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if candidates.is_empty() {
        return Ok(BTreeSet::new());
    }
    let mut gone: BTreeSet<ExternalClusterId> = candidates.iter().cloned().collect();
    for (env, client) in ocm {
        let known = client
            .existing_clusters(&candidates)
            .await
            .map_err(|e| (env.clone(), e.to_string()))?;
        gone.retain(|c| !known.contains(c));
    }
    Ok(gone)
}
