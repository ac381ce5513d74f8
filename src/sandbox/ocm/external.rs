//! clusters_mgmt external configuration: a cluster's SyncSets (classic clusters) and
//! Manifests (hosted control planes): list, create (409 on an existing id, atomically under
//! the state lock, so of two concurrent creates one wins), get, patch (the resource list is
//! replaced whole) and delete.

use super::OcmSandbox;
use super::http::{Answer, Failure, error, json_object, list};
use super::state::{Db, ExtConfig, ExtKind, ext_object, is_hcp, now_rfc3339};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::{Map, Value, json};

/// Finds the cluster and checks that the collection suits it (Manifests only on hosted
/// control planes, SyncSets only on classic clusters).
fn ext_target<'a>(
    db: &'a mut Db,
    path: &str,
    cluster_id: &str,
    collection: &str,
) -> Result<(&'a Value, &'a mut ExtConfig, ExtKind), Failure> {
    let kind = ExtKind::from_collection(collection).ok_or_else(|| {
        error(
            StatusCode::NOT_FOUND,
            path,
            format!("Can't find resource for path '{path}'"),
        )
    })?;
    let (object, ext) = db
        .cluster(cluster_id)
        .and_then(|c| db.clusters.row_mut(c))
        .ok_or_else(|| {
            error(
                StatusCode::NOT_FOUND,
                path,
                format!("Cluster '{cluster_id}' not found"),
            )
        })?;
    match (kind, is_hcp(object)) {
        (ExtKind::SyncSet, true) => Err(error(
            StatusCode::BAD_REQUEST,
            path,
            format!(
                "Cluster '{cluster_id}' is a hosted control plane cluster: \
                 SyncSets are not supported, use Manifests"
            ),
        )),
        (ExtKind::Manifest, false) => Err(error(
            StatusCode::BAD_REQUEST,
            path,
            format!(
                "Cluster '{cluster_id}' is not a hosted control plane cluster: Manifests are only \
                 supported on hosted control plane clusters, use SyncSets"
            ),
        )),
        _ => Ok((object, ext, kind)),
    }
}

pub(super) fn items_field(
    kind: ExtKind,
    path: &str,
    body: &Map<String, Value>,
) -> Result<Option<Vec<Value>>, Failure> {
    match body.get(kind.field()) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a.clone())),
        Some(_) => Err(error(
            StatusCode::BAD_REQUEST,
            path,
            format!("Field '{}' must be a list", kind.field()),
        )),
    }
}

pub(super) fn ext_not_found(kind: ExtKind, path: &str, item: &str, cluster_id: &str) -> Failure {
    error(
        StatusCode::NOT_FOUND,
        path,
        format!(
            "{} '{item}' not found for cluster '{cluster_id}'",
            kind.kind()
        ),
    )
}

pub(super) async fn list_ext(
    State(s): State<OcmSandbox>,
    uri: Uri,
    Path((id, collection)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Answer {
    let (items, kind, max) = {
        let mut db = s.lock();
        let max = db.max_page_size;
        let (_, ext, kind) = ext_target(&mut db, uri.path(), &id, &collection)?;
        (kind.items(ext).clone(), kind, max)
    };
    let list_kind = format!("{}List", kind.kind());
    list(&list_kind, items, q, &["id"], uri.path(), max)
}

pub(super) async fn create_ext(
    State(s): State<OcmSandbox>,
    uri: Uri,
    Path((id, collection)): Path<(String, String)>,
    body: Bytes,
) -> Answer {
    let path = uri.path();
    let body = json_object(path, &body)?;
    let now = now_rfc3339();
    let mut db = s.lock();
    let (object, ext, kind) = ext_target(&mut db, path, &id, &collection)?;
    let item_id = match body.get("id").and_then(Value::as_str) {
        Some(i) if !i.trim().is_empty() => i.to_owned(),
        _ => {
            let reason = format!("{} id is required", kind.kind());
            return Err(error(StatusCode::BAD_REQUEST, path, reason));
        }
    };
    let items = items_field(kind, path, &body)?.unwrap_or_default();
    if kind.items(ext).iter().any(|o| o["id"] == item_id.as_str()) {
        let reason = format!(
            "{} '{item_id}' already exists for cluster '{id}'",
            kind.kind()
        );
        return Err(error(StatusCode::CONFLICT, path, reason));
    }
    let href = object["href"].as_str().unwrap_or_default();
    let obj = ext_object(kind, href, &item_id, items, &now);
    kind.items_mut(ext).push(obj.clone());
    Ok((StatusCode::CREATED, axum::Json(obj)).into_response())
}

pub(super) async fn get_ext(
    State(s): State<OcmSandbox>,
    uri: Uri,
    Path((id, collection, item)): Path<(String, String, String)>,
) -> Answer {
    let mut db = s.lock();
    let (_, ext, kind) = ext_target(&mut db, uri.path(), &id, &collection)?;
    let obj = kind
        .items(ext)
        .iter()
        .find(|o| o["id"] == item.as_str())
        .ok_or_else(|| ext_not_found(kind, uri.path(), &item, &id))?;
    Ok(axum::Json(obj.clone()).into_response())
}

pub(super) async fn patch_ext(
    State(s): State<OcmSandbox>,
    uri: Uri,
    Path((id, collection, item)): Path<(String, String, String)>,
    body: Bytes,
) -> Answer {
    let path = uri.path();
    let body = json_object(path, &body)?;
    let now = now_rfc3339();
    let mut db = s.lock();
    let (_, ext, kind) = ext_target(&mut db, path, &id, &collection)?;
    let items = items_field(kind, path, &body)?;
    let obj = kind
        .items_mut(ext)
        .iter_mut()
        .find(|o| o["id"] == item.as_str())
        .ok_or_else(|| ext_not_found(kind, path, &item, &id))?;
    // PATCH replaces the resource list whole.
    if let Some(items) = items {
        obj[kind.field()] = Value::Array(items);
    }
    if kind == ExtKind::Manifest {
        obj["updated_timestamp"] = json!(now);
    }
    Ok(axum::Json(obj.clone()).into_response())
}

pub(super) async fn delete_ext(
    State(s): State<OcmSandbox>,
    uri: Uri,
    Path((id, collection, item)): Path<(String, String, String)>,
) -> Answer {
    let mut db = s.lock();
    let (_, ext, kind) = ext_target(&mut db, uri.path(), &id, &collection)?;
    let list = kind.items_mut(ext);
    let before = list.len();
    list.retain(|o| o["id"] != item.as_str());
    if list.len() == before {
        return Err(ext_not_found(kind, uri.path(), &item, &id));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
