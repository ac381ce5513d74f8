//! The pipeline of a run: every served cluster flows through read → plan → deliver on its
//! own, `--concurrency` clusters at a time, while discovery of the other environments and the
//! tenants' token lists are still being read. A cluster's bundle is read as soon as its
//! environment is discovered; it is planned as soon as the bundle and every tenant's token
//! list are in; in a real run its delivery (creates, updates, the bundle write) starts right
//! away. What each cluster came to is gathered here; the run puts it in a deterministic
//! order ([`crate::plan::assemble`]), so a dry-run prints exactly what a real run performs.
//! The mode is decided by the caller (`deliver`); this module never looks at it.

use super::discovery::{EnvFound, Found};
use super::{RunOptions, log};
use crate::apply::{self, Delivery, Writers};
use crate::current::{self, Tenants};
use crate::desired::{Catalog, DesiredCluster, SkippedCluster};
use crate::model::{ClusterId, ClusterRef, DiscoveredCluster, OcmEnvName};
use crate::plan::{self, ClusterFailure, ClusterPlan, ClusterState, KeptTokens};
use crate::progress::Stage;
use futures::StreamExt;
use futures::future::{BoxFuture, Shared};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::task::JoinSet;
use tracing::{Instrument, info_span};

/// The tenants' token lists, read by their own task; every cluster awaits the same result.
pub(super) type SharedTenants = Shared<BoxFuture<'static, Arc<Tenants>>>;

/// What the pipeline did with every served cluster.
#[derive(Default)]
pub(super) struct Served {
    pub clusters: Vec<ClusterPlan>,
    pub failed: Vec<ClusterFailure>,
    pub skipped: Vec<SkippedCluster>,
    /// The deliveries performed, by cluster (a real run only).
    pub deliveries: HashMap<(OcmEnvName, ClusterId), Delivery>,
    /// Clusters the run stopped before reading them (their plan is unknown).
    pub unread: Vec<ClusterRef>,
    /// The existing tokens the plans keep delivering.
    pub kept: KeptTokens,
}

/// What became of one cluster.
enum Came {
    Skipped(SkippedCluster),
    Failed(ClusterFailure),
    Planned(ClusterPlan, Option<Delivery>),
    Unread(ClusterRef),
}

/// Everything a cluster's trip through the pipeline needs.
pub(super) struct Pipeline<'a> {
    pub catalog: &'a Catalog,
    pub tenants: SharedTenants,
    pub opts: &'a RunOptions,
    /// Whether planned changes are delivered (a real run).
    pub deliver: bool,
    /// Gathered from each plan before it is compacted.
    pub kept: Mutex<KeptTokens>,
}

impl Pipeline<'_> {
    /// Runs every cluster of every environment `envs` discovers, taking the environments in
    /// as they finish (into `found`).
    pub(super) async fn run(&self, mut envs: JoinSet<EnvFound>, found: &Mutex<Found>) -> Served {
        let opts = self.opts;
        let arrivals = futures::stream::poll_fn(move |cx| envs.poll_join_next(cx)).filter_map(
            |joined| async move {
                let found_env = joined.unwrap_or_else(|e| {
                    Err(Box::new(super::Failure::OcmEnvironment {
                        env: OcmEnvName::from("?"),
                        error: format!("internal error: discovery task failed: {e}"),
                    }))
                });
                let mut f = found
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let (env, ocm, clusters) = f.add(found_env, opts.shard, &opts.filters)?;
                opts.progress.add(Stage::Bundles, clusters.len());
                Some(futures::stream::iter(
                    clusters
                        .into_iter()
                        .map(move |c| (env.clone(), ocm.clone(), c)),
                ))
            },
        );
        // Interleaved, not concatenated: the environments discovered so far share the cluster
        // bound, so each keeps its own OCM limit busy (one after another, the first would
        // finish before the second started).
        let came: Vec<Came> = arrivals
            .flatten_unordered(None)
            .map(|(env, ocm, c)| self.cluster(env, ocm, c))
            .buffer_unordered(opts.concurrency.get())
            .collect()
            .await;
        let mut served = Served::default();
        for c in came {
            match c {
                Came::Skipped(s) => served.skipped.push(s),
                Came::Failed(f) => served.failed.push(f),
                Came::Unread(c) => served.unread.push(c),
                Came::Planned(cp, delivery) => {
                    if let Some(d) = delivery {
                        let key = (cp.cluster.ocm_env.clone(), cp.cluster.id.clone());
                        served.deliveries.insert(key, d);
                    }
                    served.clusters.push(cp);
                }
            }
        }
        served.unread.sort();
        served.kept = std::mem::take(
            &mut *self
                .kept
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        served
    }

    async fn cluster(
        &self,
        env: OcmEnvName,
        ocm: Arc<dyn crate::clients::Ocm>,
        c: DiscoveredCluster,
    ) -> Came {
        let dc = match self.catalog.cluster(&env, &c) {
            Ok(dc) => dc,
            Err(skipped) => {
                log::skipped(&skipped);
                return Came::Skipped(*skipped);
            }
        };
        drop(c);
        let r = &dc.cluster;
        let span = info_span!("cluster", ocm_env = %r.ocm_env, cluster_id = %r.id, cluster_uuid = %r.external_id);
        self.desired(dc, ocm.as_ref()).instrument(span).await
    }

    /// Reads, plans and (in a real run) delivers one served cluster.
    async fn desired(&self, dc: DesiredCluster, ocm: &dyn crate::clients::Ocm) -> Came {
        log::notes(&dc);
        let opts = self.opts;
        let fail = |dc: &DesiredCluster, error: String| {
            log::failed(&dc.cluster, &error);
            Came::Failed(ClusterFailure {
                cluster: dc.cluster.clone(),
                error,
            })
        };
        if let Some(conflict) = &dc.conflict {
            opts.progress.advance(Stage::Bundles);
            return fail(&dc, conflict.clone());
        }
        if opts.cancel.is_cancelled() {
            return Came::Unread(dc.cluster);
        }
        let bundle = current::bundle(ocm, &dc.cluster).await;
        opts.progress.advance(Stage::Bundles);
        let tenants = self.tenants.clone().await;
        let state = ClusterState {
            now: tenants.now,
            tenants: &tenants.tokens,
            bundle: Some(bundle.as_ref().map(Option::as_ref).map_err(String::as_str)),
        };
        let mut cp = match plan::plan_cluster(&dc, &state, &opts.policy) {
            Ok(cp) => cp,
            Err(error) => return fail(&dc, error),
        };
        drop(bundle);
        log::planned(&cp, !self.deliver);
        let delivery = if self.deliver && !cp.is_noop() && !opts.cancel.is_cancelled() {
            opts.progress.add(Stage::Apply, 1);
            let w = Writers {
                ocm,
                dynatrace: &tenants.clients,
            };
            let d = apply::deliver(&cp, w, &opts.abort).await;
            opts.progress.advance(Stage::Apply);
            Some(d)
        } else {
            None
        };
        cp.keep_into(
            &mut self
                .kept
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        cp.compact();
        Came::Planned(cp, delivery)
    }
}
