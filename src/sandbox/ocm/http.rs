//! HTTP plumbing shared by the OCM handlers: OCM error answers ([`Failure`]), JSON bodies,
//! query maps, and list pages with `search`, `order`, `page` and `size` and the
//! `{kind, page, size, total, items}` envelope, over a [`Table`] (its cached selection: a
//! page costs O(page)) or over a few items at hand.

use super::search::{OrderTerm, Search, parse_order, sort_items};
use super::table::Table;
use crate::sandbox::common::ocm_error;
use axum::body::Bytes;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
/// An OCM error answer waiting to be rendered (`kind: Error` body, see [`ocm_error`]).
pub(super) struct Failure {
    pub(super) status: StatusCode,
    pub(super) path: String,
    pub(super) reason: String,
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let body = ocm_error(self.status.as_u16(), &self.path, &self.reason);
        (self.status, axum::Json(body)).into_response()
    }
}

pub(super) type Answer = Result<Response, Failure>;

pub(super) fn error(status: StatusCode, path: &str, reason: impl Into<String>) -> Failure {
    Failure {
        status,
        path: path.to_owned(),
        reason: reason.into(),
    }
}

pub(super) async fn not_found(uri: Uri) -> Failure {
    let reason = format!("Can't find resource for path '{}'", uri.path());
    error(StatusCode::NOT_FOUND, uri.path(), reason)
}

pub(super) fn query_map(raw: Option<String>) -> HashMap<String, String> {
    raw.map(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect()
    })
    .unwrap_or_default()
}

pub(super) fn json_object(path: &str, body: &Bytes) -> Result<Map<String, Value>, Failure> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(error(
            StatusCode::BAD_REQUEST,
            path,
            "The request body must be a JSON object",
        )),
        Err(e) => Err(error(
            StatusCode::BAD_REQUEST,
            path,
            format!("Invalid JSON body: {e}"),
        )),
    }
}

/// One page of a list: the items, the page number and the total number of matches.
pub(super) struct PageOf {
    pub(super) items: Vec<Value>,
    pub(super) page: usize,
    pub(super) total: usize,
}

impl PageOf {
    pub(super) fn into_response(self, kind: &str) -> Response {
        axum::Json(json!({
            "kind": kind,
            "page": self.page,
            "size": self.items.len(),
            "total": self.total,
            "items": self.items,
        }))
        .into_response()
    }
}

/// The validated `search`, `order`, `page` and `size` of a list request, each with its text.
pub(super) struct ListParams {
    search: Option<(String, Search)>,
    order: Option<(String, Vec<OrderTerm>)>,
    page: usize,
    size: usize,
}

impl ListParams {
    /// Checks the parameters in the order OCM reports them: search, order, then paging.
    pub(super) fn parse(
        query: &HashMap<String, String>,
        attributes: &[&str],
        path: &str,
        max_size: usize,
    ) -> Result<Self, Failure> {
        let bad = |reason: String| error(StatusCode::BAD_REQUEST, path, reason);
        let search = match query.get("search") {
            Some(s) => Some((
                s.clone(),
                Search::parse(s, attributes).map_err(|e| bad(e.0))?,
            )),
            None => None,
        };
        let order = match query.get("order") {
            Some(o) => Some((o.clone(), parse_order(o, attributes).map_err(|e| bad(e.0))?)),
            None => None,
        };
        let (page, size) = paging(query, max_size).map_err(bad)?;
        Ok(Self {
            search,
            order,
            page,
            size,
        })
    }

    /// The `start..end` of the page among `total` matches.
    fn window(&self, total: usize) -> std::ops::Range<usize> {
        let start = (self.page - 1).saturating_mul(self.size).min(total);
        start..start.saturating_add(self.size).min(total)
    }
}

/// Applies `search`, `order`, `page` and `size` to `items`.
pub(super) fn list_page(
    mut items: Vec<Value>,
    query: &HashMap<String, String>,
    attributes: &[&str],
    path: &str,
    max_size: usize,
) -> Result<PageOf, Failure> {
    let params = ListParams::parse(query, attributes, path, max_size)?;
    if let Some((_, search)) = &params.search {
        items.retain(|i| search.matches(i));
    }
    if let Some((_, order)) = &params.order {
        sort_items(&mut items, order);
    }
    let total = items.len();
    Ok(PageOf {
        items: items.drain(params.window(total)).collect(),
        page: params.page,
        total,
    })
}

/// One page of a table's selection for `params` (clones of the page's objects only).
pub(super) fn table_page<X>(table: &mut Table<X>, params: &ListParams) -> PageOf {
    let search = params.search.as_ref().map(|(t, s)| (t.as_str(), s));
    let order = params
        .order
        .as_ref()
        .map(|(t, o)| (t.as_str(), o.as_slice()));
    let selected = table.select(search, order);
    let total = selected.len();
    PageOf {
        items: table.objects(&selected[params.window(total)]),
        page: params.page,
        total,
    }
}

pub(super) fn paging(
    query: &HashMap<String, String>,
    max: usize,
) -> Result<(usize, usize), String> {
    let page = match query.get("page") {
        None => 1,
        Some(p) => match p.trim().parse::<i64>() {
            Ok(n) if n >= 1 => n as usize,
            _ => {
                return Err(format!(
                    "Invalid page '{p}': it must be an integer greater than or equal to 1"
                ));
            }
        },
    };
    let size = match query.get("size") {
        None => max,
        Some(s) => match s.trim().parse::<i64>() {
            Ok(n) if n >= 0 => (n as usize).min(max),
            _ => {
                return Err(format!(
                    "Invalid size '{s}': it must be a non-negative integer"
                ));
            }
        },
    };
    Ok((page, size))
}

/// A list answer over `items` (a few items at hand; a collection is a [`Table`]).
pub(super) fn list(
    kind: &str,
    items: Vec<Value>,
    raw: Option<String>,
    attributes: &[&str],
    path: &str,
    max_size: usize,
) -> Answer {
    Ok(list_page(items, &query_map(raw), attributes, path, max_size)?.into_response(kind))
}

/// Who called, from the bearer token.
#[derive(Clone)]
pub(super) struct Caller {
    pub(super) client_id: String,
}
