//! clusters_mgmt v1: the cluster list and single clusters.

use super::OcmSandbox;
use super::http::{Answer, ListParams, error, query_map, table_page};
use super::state::CLUSTER_ATTRIBUTES;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
pub(super) async fn list_clusters(
    State(s): State<OcmSandbox>,
    uri: Uri,
    RawQuery(q): RawQuery,
) -> Answer {
    let query = query_map(q);
    let mut db = s.lock();
    let params = ListParams::parse(&query, CLUSTER_ATTRIBUTES, uri.path(), db.max_page_size)?;
    let page = table_page(&mut db.clusters, &params);
    drop(db);
    Ok(page.into_response("ClusterList"))
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
