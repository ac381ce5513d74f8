//! accounts_mgmt v1: labels (organization and subscription) and subscriptions (with
//! `fetchLabels`).

use super::OcmSandbox;
use super::http::{Answer, error, list, list_page, query_map};
use super::state::{LABEL_ATTRIBUTES, SUBSCRIPTION_ATTRIBUTES};
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::Value;
pub(super) async fn list_labels(
    State(s): State<OcmSandbox>,
    uri: Uri,
    RawQuery(q): RawQuery,
) -> Answer {
    let (labels, max) = {
        let db = s.lock();
        (db.labels.clone(), db.max_page_size)
    };
    list("LabelList", labels, q, LABEL_ATTRIBUTES, uri.path(), max)
}

pub(super) async fn list_subscriptions(
    State(s): State<OcmSandbox>,
    uri: Uri,
    RawQuery(q): RawQuery,
) -> Answer {
    let query = query_map(q);
    let (subs, labels, max) = {
        let db = s.lock();
        (
            db.subscriptions.clone(),
            db.labels.clone(),
            db.max_page_size,
        )
    };
    let mut page = list_page(subs, &query, SUBSCRIPTION_ATTRIBUTES, uri.path(), max)?;
    if query.get("fetchLabels").is_some_and(|v| v == "true") {
        for item in &mut page.items {
            let own: Vec<Value> = labels
                .iter()
                .filter(|l| l["type"] == "Subscription" && l["subscription_id"] == item["id"])
                .cloned()
                .collect();
            item["labels"] = Value::Array(own);
        }
    }
    Ok(page.into_response("SubscriptionList"))
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
