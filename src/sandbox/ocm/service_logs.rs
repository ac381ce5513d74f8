//! service_logs v1: listing a cluster's logs (internal-only ones hidden; found through the
//! `cluster_uuid`/`cluster_id` index) and posting a cluster log (validated fields, severity
//! enum, server-filled id, timestamps and author).

use super::OcmSandbox;
use super::http::{Answer, Caller, error, json_object, list_page, query_map};
use super::state::{
    CLUSTER_LOG_ATTRIBUTES, CLUSTER_LOG_INPUT_FIELDS, SEVERITIES, new_id, now_rfc3339,
};
use axum::body::Bytes;
use axum::extract::{Extension, RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::{Map, Value, json};
pub(super) async fn list_cluster_logs(
    State(s): State<OcmSandbox>,
    uri: Uri,
    RawQuery(q): RawQuery,
) -> Answer {
    let query = query_map(q);
    let uuid = query.get("cluster_uuid").filter(|v| !v.is_empty());
    let cluster_id = query.get("cluster_id").filter(|v| !v.is_empty());
    if uuid.is_none() && cluster_id.is_none() {
        return Err(error(
            StatusCode::BAD_REQUEST,
            uri.path(),
            "Either cluster_uuid or cluster_id query parameter is required",
        ));
    }
    // This endpoint hides internal-only logs.
    let (logs, max) = {
        let db = s.lock();
        let table = &db.service_logs;
        let rows: Vec<_> = match (uuid, cluster_id) {
            (Some(u), _) => table.find("cluster_uuid", u).collect(),
            (None, Some(c)) => table.find("cluster_id", c).collect(),
            (None, None) => Vec::new(),
        };
        let logs: Vec<Value> = rows
            .into_iter()
            .filter_map(|r| table.object(r))
            .filter(|l| l["internal_only"] != true)
            .filter(|l| uuid.is_none_or(|u| l["cluster_uuid"] == u.as_str()))
            .filter(|l| cluster_id.is_none_or(|c| l["cluster_id"] == c.as_str()))
            .cloned()
            .collect();
        (logs, db.max_page_size)
    };
    let page = list_page(logs, &query, CLUSTER_LOG_ATTRIBUTES, uri.path(), max)?;
    Ok(page.into_response("ClusterLogList"))
}

pub(super) async fn create_cluster_log(
    State(s): State<OcmSandbox>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
    body: Bytes,
) -> Answer {
    let path = uri.path();
    let body = json_object(path, &body)?;
    let text = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .filter(|v| !v.trim().is_empty())
    };
    for field in ["service_name", "summary"] {
        if text(field).is_none() {
            return Err(error(
                StatusCode::BAD_REQUEST,
                path,
                format!("Field '{field}' is required"),
            ));
        }
    }
    if text("cluster_uuid").is_none() && text("cluster_id").is_none() {
        return Err(error(
            StatusCode::BAD_REQUEST,
            path,
            "Either 'cluster_uuid' or 'cluster_id' is required",
        ));
    }
    let severity = match body.get("severity") {
        None | Some(Value::Null) => "Info".to_owned(),
        Some(Value::String(s)) if SEVERITIES.contains(&s.as_str()) => s.clone(),
        Some(other) => {
            let reason = format!(
                "Invalid severity {other}: it must be one of {}",
                SEVERITIES.join(", ")
            );
            return Err(error(StatusCode::BAD_REQUEST, path, reason));
        }
    };
    let mut log: Map<String, Value> = body
        .into_iter()
        .filter(|(k, _)| CLUSTER_LOG_INPUT_FIELDS.contains(&k.as_str()))
        .collect();
    let id = uuid::Uuid::new_v4().to_string();
    let now = now_rfc3339();
    let username = format!("service-account-{}", caller.client_id);
    log.insert("severity".into(), json!(severity));
    log.insert("kind".into(), json!("ClusterLog"));
    log.insert("id".into(), json!(id));
    log.insert(
        "href".into(),
        json!(format!("/api/service_logs/v1/cluster_logs/{id}")),
    );
    log.insert("created_at".into(), json!(now));
    log.insert("timestamp".into(), json!(now));
    log.insert("username".into(), json!(username));
    log.insert("created_by".into(), json!(username));
    log.entry("event_stream_id")
        .or_insert_with(|| json!(new_id()));
    let log = Value::Object(log);
    s.lock().service_logs.push(log.clone(), ());
    Ok((StatusCode::CREATED, axum::Json(log)).into_response())
}
