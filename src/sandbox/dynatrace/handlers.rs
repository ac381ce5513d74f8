//! The token endpoints: list (paged, filtered, sorted, with `fields`; a page of the tenant's
//! cached selection), get, create (the only answer that shows a token value), update (name,
//! scopes, enabled), delete and lookup by value (index lookups, no scans); the calling token
//! can neither disable nor delete itself.

use super::DynatraceSandbox;
use super::auth::{Need, authorize};
use super::constants::ALL_FIELDS;
use super::errors::{Reject, Violation, error, json_object, token_not_found, violations};
use super::format::{fmt_date, token_json};
use super::query::ListQuery;
use super::state::{Token, now};
use super::validate::Violations;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
pub(super) async fn list_tokens(
    State(sb): State<DynatraceSandbox>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, Reject> {
    let now = now();
    let mut state = sb.lock();
    let tenant_state = authorize(&mut state, &tenant, &headers, Need::Read, now)?.0;
    let q = ListQuery::parse(&tenant, query.as_deref().unwrap_or(""))?;
    let selected = tenant_state.tokens.select(&q);
    let total = selected.len();
    let start = q.offset.min(total);
    let page: Vec<Value> = selected[start..]
        .iter()
        .take(q.page_size)
        .filter_map(|h| tenant_state.tokens.get(*h))
        .map(|t| token_json(t, &q.fields))
        .collect();
    let end = q.offset + q.page_size;
    let next = (end < total).then(|| {
        ListQuery {
            offset: end,
            ..q.clone()
        }
        .cursor()
    });
    Ok(Json(json!({
        "totalCount": total,
        "pageSize": q.page_size,
        "nextPageKey": next,
        "apiTokens": page,
    }))
    .into_response())
}

pub(super) async fn get_token(
    State(sb): State<DynatraceSandbox>,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Reject> {
    let now = now();
    let mut state = sb.lock();
    let tenant_state = authorize(&mut state, &tenant, &headers, Need::Read, now)?.0;
    match tenant_state
        .find(&id)
        .and_then(|h| tenant_state.tokens.get(h))
    {
        Some(t) => Ok(Json(token_json(t, ALL_FIELDS)).into_response()),
        None => Err(token_not_found(&id)),
    }
}

pub(super) async fn create_token(
    State(sb): State<DynatraceSandbox>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Reject> {
    let now = now();
    let mut state = sb.lock();
    let (tenant_state, caller) = authorize(&mut state, &tenant, &headers, Need::Write, now)?;
    let body = json_object(&headers, &body)?;
    let mut v = Violations::default();
    v.unknown_fields(
        &body,
        &["name", "scopes", "expirationDate", "personalAccessToken"],
    );
    let name = v.name(&body, true);
    let scopes = v.scopes(&body, true);
    let expiration = v.expiration(&body, now);
    let personal = v.personal(&body);
    v.finish()?;
    // `name` and `scopes` are required: each is `None` only with a violation recorded.
    let (Some(name), Some(scopes)) = (name, scopes) else {
        return Err(error(StatusCode::BAD_REQUEST, "Constraints violated."));
    };
    let owner = tenant_state
        .tokens
        .get(caller)
        .map(|c| c.owner.clone())
        .unwrap_or_default();
    let (id, value) = tenant_state.new_id_and_value();
    let mut created = Map::new();
    created.insert("id".into(), json!(id));
    created.insert("token".into(), json!(value));
    if let Some(e) = expiration {
        created.insert("expirationDate".into(), json!(fmt_date(&e)));
    }
    let location = format!("/e/{tenant}/api/v2/apiTokens/{id}");
    tenant_state.tokens.push(Token {
        id,
        value,
        name,
        scopes,
        enabled: true,
        personal_access_token: personal,
        owner,
        creation_date: now,
        expiration_date: expiration,
        modified_date: None,
        last_used_date: None,
        last_used_ip: None,
    });
    let mut resp = (StatusCode::CREATED, Json(Value::Object(created))).into_response();
    if let Ok(loc) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(resp)
}

pub(super) async fn update_token(
    State(sb): State<DynatraceSandbox>,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Reject> {
    let now = now();
    let mut state = sb.lock();
    let (tenant_state, caller) = authorize(&mut state, &tenant, &headers, Need::Write, now)?;
    let Some(index) = tenant_state.find(&id) else {
        return Err(token_not_found(&id));
    };
    let body = json_object(&headers, &body)?;
    let mut v = Violations::default();
    v.unknown_fields(&body, &["name", "enabled", "scopes"]);
    let name = v.name(&body, false);
    let scopes = v.scopes(&body, false);
    let enabled = match body.get("enabled") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            v.add("enabled", "must be a boolean");
            None
        }
    };
    if enabled == Some(false) && index == caller {
        v.add(
            "enabled",
            "the token used to authenticate this request cannot be disabled",
        );
    }
    v.finish()?;
    let Some(token) = tenant_state.tokens.get_mut(index) else {
        return Err(token_not_found(&id));
    };
    let mut modified = false;
    if let Some(name) = name {
        modified |= token.name != name;
        token.name = name;
    }
    if let Some(scopes) = scopes {
        modified |= token.scopes != scopes;
        token.scopes = scopes;
    }
    if let Some(enabled) = enabled {
        // Enabling or disabling does not change `modifiedDate`.
        token.enabled = enabled;
    }
    if modified {
        token.modified_date = Some(now);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn delete_token(
    State(sb): State<DynatraceSandbox>,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Reject> {
    let now = now();
    let mut state = sb.lock();
    let (tenant_state, caller) = authorize(&mut state, &tenant, &headers, Need::Write, now)?;
    let Some(index) = tenant_state.find(&id) else {
        return Err(token_not_found(&id));
    };
    if index == caller {
        return Err(violations(vec![Violation::new(
            "id",
            "the token used to authenticate this request cannot be deleted",
            "PATH",
        )]));
    }
    tenant_state.tokens.remove(index);
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn lookup_token(
    State(sb): State<DynatraceSandbox>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Reject> {
    let now = now();
    let mut state = sb.lock();
    let tenant_state = authorize(&mut state, &tenant, &headers, Need::AnyValidToken, now)?.0;
    let body = json_object(&headers, &body)?;
    let mut v = Violations::default();
    v.unknown_fields(&body, &["token"]);
    let token = match body.get("token") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::String(_)) => {
            v.add("token", "must not be empty");
            None
        }
        None | Some(Value::Null) => {
            v.add("token", "must not be null");
            None
        }
        Some(_) => {
            v.add("token", "must be a string");
            None
        }
    };
    v.finish()?;
    let token = token.unwrap_or_default();
    match tenant_state
        .tokens
        .by_value(&token)
        .and_then(|h| tenant_state.tokens.get(h))
    {
        Some(t) => Ok(Json(token_json(t, ALL_FIELDS)).into_response()),
        None => Err(error(StatusCode::NOT_FOUND, "Token not found")),
    }
}
