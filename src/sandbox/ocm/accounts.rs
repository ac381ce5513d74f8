//! accounts_mgmt v1: labels (organization and subscription) and subscriptions (with
//! `fetchLabels`, the labels of each subscription of the page, from the labels' index).

use super::OcmSandbox;
use super::http::{Answer, ListParams, error, query_map, table_page};
use super::state::{Db, LABEL_ATTRIBUTES, SUBSCRIPTION_ATTRIBUTES};
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::Value;
pub(super) async fn list_labels(
    State(s): State<OcmSandbox>,
    uri: Uri,
    RawQuery(q): RawQuery,
) -> Answer {
    let query = query_map(q);
    let mut db = s.lock();
    let params = ListParams::parse(&query, LABEL_ATTRIBUTES, uri.path(), db.max_page_size)?;
    let page = table_page(&mut db.labels, &params);
    drop(db);
    Ok(page.into_response("LabelList"))
}

pub(super) async fn list_subscriptions(
    State(s): State<OcmSandbox>,
    uri: Uri,
    RawQuery(q): RawQuery,
) -> Answer {
    let query = query_map(q);
    let mut db = s.lock();
    let max = db.max_page_size;
    let params = ListParams::parse(&query, SUBSCRIPTION_ATTRIBUTES, uri.path(), max)?;
    let mut page = table_page(&mut db.subscriptions, &params);
    if query.get("fetchLabels").is_some_and(|v| v == "true") {
        for item in &mut page.items {
            item["labels"] = Value::Array(subscription_labels(&db, &item["id"]));
        }
    }
    drop(db);
    Ok(page.into_response("SubscriptionList"))
}

/// The labels of the subscription with this `id`, in creation order.
fn subscription_labels(db: &Db, id: &Value) -> Vec<Value> {
    let own = |l: &&Value| l["type"] == "Subscription" && l["subscription_id"] == *id;
    match id {
        Value::String(id) => db
            .labels
            .find("subscription_id", id)
            .filter_map(|l| db.labels.object(l))
            .filter(own)
            .cloned()
            .collect(),
        // An id edited into something else: compare with every label, as JSON.
        _ => db
            .labels
            .iter()
            .map(|(l, _)| l)
            .filter(own)
            .cloned()
            .collect(),
    }
}

pub(super) async fn get_subscription(
    State(s): State<OcmSandbox>,
    uri: Uri,
    Path(id): Path<String>,
) -> Answer {
    let sub = s.subscription(&id).ok_or_else(|| {
        error(
            StatusCode::NOT_FOUND,
            uri.path(),
            format!("Subscription with id='{id}' not found"),
        )
    })?;
    Ok(axum::Json(sub).into_response())
}
