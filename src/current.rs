//! Reading the current state the planner compares against: every tenant's token list (once
//! per run, whatever the number of OCM environments; a run reads them while discovery runs),
//! each served cluster's `ext-dynatrace-tokens-dtp` SyncSet/Manifest (read by the run's
//! pipeline, [`bundle`]), and which clusters left the fleet. A read that fails is kept as its
//! error, so the planner fails exactly the clusters that depend on it. No writes happen here.

use crate::clients::{Connector, Dynatrace, Ocm, SecretReader};
use crate::model::bundle::Resources;
use crate::model::naming::cluster_of;
use crate::model::{ClusterRef, DynatraceEnvironment, ExternalClusterId, OcmEnvName, TenantId};
use crate::plan::{self, TenantTokens};
use crate::progress::{Progress, Stage};
use crate::shard::Shard;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::num::NonZeroUsize;
use std::sync::Arc;
use tracing::{Instrument, debug, error, info_span};

/// A tenant's client and token list, or why they could not be had.
type TenantRead = Result<(Arc<dyn Dynatrace>, TenantTokens), String>;

/// The token lists of every tenant (or why one could not be read), with the clients that
/// read them, and when they were read (the plan's "now": orphans are aged against it).
pub struct Tenants {
    pub tokens: plan::Tenants,
    pub clients: BTreeMap<TenantId, Arc<dyn Dynatrace>>,
    pub now: DateTime<Utc>,
}

impl Default for Tenants {
    fn default() -> Self {
        Self {
            tokens: BTreeMap::new(),
            clients: BTreeMap::new(),
            now: Utc::now(),
        }
    }
}

impl Tenants {
    /// Every tenant failed with `error` (for when the listing could not run at all).
    pub fn failed_all(mut self, environments: &[DynatraceEnvironment], error: &str) -> Self {
        for e in environments {
            self.tokens
                .insert(e.environment_id.clone(), Err(error.to_owned()));
        }
        self
    }
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
    // Owned items: a stream of borrowed ones cannot be proven `Send` for every lifetime,
    // which a spawned run needs.
    let envs: Vec<DynatraceEnvironment> = envs_by_tenant.into_values().cloned().collect();
    let results: Vec<(TenantId, TenantRead)> = futures::stream::iter(envs)
        .map(|env| {
            let span = info_span!("tenant", tenant = %env.environment_id);
            async move {
                let read = tenant_tokens(&env, secrets, connector).await;
                progress.advance(Stage::Tenants);
                (env.environment_id, read)
            }
            .instrument(span)
        })
        .buffer_unordered(concurrency.get())
        .collect()
        .await;
    let mut out = Tenants {
        tokens: BTreeMap::new(),
        clients: BTreeMap::new(),
        now: Utc::now(),
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

/// One served cluster's current bundle (`None`: it does not exist), or why it could not be
/// read.
pub async fn bundle(ocm: &dyn Ocm, c: &ClusterRef) -> Result<Option<Resources>, String> {
    ocm.get_bundle(&c.id, c.kind)
        .await
        .map_err(|e| e.to_string())
}

/// The clusters named by tokens (`dtp_<name>_<uuid>_<hash>`) that belong to this shard, were
/// not discovered, and that no OCM environment knows in any state: clusters that left the
/// fleet. Asked only when every OCM environment was discovered and no filter narrows the run
/// (otherwise nothing is gone for sure).
pub async fn departed(
    tokens: &plan::Tenants,
    discovered: &BTreeSet<ExternalClusterId>,
    ocm: &BTreeMap<OcmEnvName, Arc<dyn Ocm>>,
    shard: Shard,
) -> Result<BTreeSet<ExternalClusterId>, (OcmEnvName, String)> {
    let candidates: Vec<ExternalClusterId> = tokens
        .values()
        .filter_map(|r| r.as_ref().ok())
        .flat_map(TenantTokens::iter)
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
