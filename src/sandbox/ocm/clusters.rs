//! clusters_mgmt v1: the cluster list and single clusters.

use super::OcmSandbox;
use super::http::{Answer, error, list};
use super::state::CLUSTER_ATTRIBUTES;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::Value;
pub(super) async fn list_clusters(
    State(s): State<OcmSandbox>,
    uri: Uri,
    RawQuery(q): RawQuery,
) -> Answer {
    let (clusters, max) = {
        let db = s.lock();
        let clusters: Vec<Value> = db.clusters.iter().map(|c| c.object.clone()).collect();
        (clusters, db.max_page_size)
    };
    list(
        "ClusterList",
        clusters,
        q,
        CLUSTER_ATTRIBUTES,
        uri.path(),
        max,
    )
}

pub(super) async fn get_cluster(
    State(s): State<OcmSandbox>,
    uri: Uri,
    Path(id): Path<String>,
) -> Answer {
    let cluster = s.cluster(&id).ok_or_else(|| {
        error(
            StatusCode::NOT_FOUND,
            uri.path(),
            format!("Cluster '{id}' not found"),
        )
    })?;
    Ok(axum::Json(cluster).into_response())
}
