//! The Settings 2.0 object endpoints (`/api/v2/settings/objects`, `log-ingest-rules.md` §1.4):
//! list (paged, a dangling `HOST_GROUP-…` scope is a 404), get, create (an array answered per
//! item with 200/207/400, `validateOnly` stores nothing), update and delete (both with
//! optimistic locking by `updateToken`, a stale one is a 409). Reads need `settings.read`,
//! writes `settings.write`, an update both. Per-item and update answers are
//! `SettingsObjectResponse`s (`{code, objectId}` or `{code, error}`); the rest `ErrorEnvelope`s.

use super::DynatraceSandbox;
use super::auth::{Need, authorize};
use super::errors::{Reject, Violation, error, json_value, violations};
use super::query::unique_params;
use super::schema::validate_log_storage;
use super::settings::{LOG_STORAGE_SCHEMA, Position, Settings, SettingsObject};
use super::settings_query::{OBJECT_FIELDS, ObjectsQuery};
use super::state::now;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

const READ: &[&str] = &["settings.read"];
const WRITE: &[&str] = &["settings.write"];
const READ_WRITE: &[&str] = &["settings.read", "settings.write"];
const CREATE_KEYS: &[&str] = &[
    "schemaId",
    "scope",
    "value",
    "externalId",
    "schemaVersion",
    "insertAfter",
];

/// A constraint violation of a settings body: `path` and a JSON-pointer `location`.
struct BodyViolation {
    path: String,
    message: String,
    location: String,
}

fn body_violation(path: &str, message: &str, location: &str) -> BodyViolation {
    BodyViolation {
        path: path.to_owned(),
        message: message.to_owned(),
        location: location.to_owned(),
    }
}

/// A failed `SettingsObjectResponse`.
fn item_error(code: StatusCode, message: &str, vs: &[BodyViolation]) -> Value {
    let mut err = json!({"code": code.as_u16(), "message": message});
    if !vs.is_empty() {
        err["constraintViolations"] = vs
            .iter()
            .map(|v| {
                json!({"path": v.path, "message": v.message,
                       "parameterLocation": "PAYLOAD_BODY", "location": v.location})
            })
            .collect();
    }
    json!({"code": code.as_u16(), "error": err})
}

fn not_found_item(object_id: &str) -> Response {
    let message = format!("Settings object with ID '{object_id}' not found");
    let body = item_error(StatusCode::NOT_FOUND, &message, &[]);
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

fn schema_not_found(schema: &str) -> Value {
    let message = format!("Settings schema '{schema}' not found");
    item_error(StatusCode::NOT_FOUND, &message, &[])
}

fn object_json(o: &SettingsObject, fields: &[String]) -> Value {
    let mut m = Map::new();
    for f in fields {
        let v = match f.as_str() {
            "objectId" => json!(o.object_id),
            "summary" => json!(o.title()),
            "updateToken" => json!(o.update_token),
            "scope" => json!(o.scope),
            "schemaId" => json!(o.schema_id),
            "schemaVersion" => json!(o.schema_version),
            "value" => o.value.clone(),
            _ => json!(o.external_id),
        };
        m.insert(f.clone(), v);
    }
    Value::Object(m)
}

/// `validateOnly=true|false`, the only query parameter of create and update.
fn validate_only(raw: Option<&str>) -> Result<bool, Reject> {
    let params = unique_params(raw.unwrap_or(""))?;
    let mut only = false;
    for (k, v) in params {
        match (k.as_str(), v.as_str()) {
            ("validateOnly", "true") => only = true,
            ("validateOnly", "false") => only = false,
            (k, _) => {
                return Err(violations(vec![Violation::new(
                    k,
                    "unknown query parameter, or validateOnly not true or false",
                    "QUERY",
                )]));
            }
        }
    }
    Ok(only)
}

pub(super) async fn list_objects(
    State(sb): State<DynatraceSandbox>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, Reject> {
    let mut state = sb.lock();
    let t = authorize(&mut state, &tenant, &headers, Need::All(READ), now())?.0;
    let q = ObjectsQuery::parse(&tenant, query.as_deref().unwrap_or(""))?;
    let unknown_schema = q
        .schema_ids
        .iter()
        .flatten()
        .any(|s| s != LOG_STORAGE_SCHEMA);
    let dangling_scope = q
        .scopes
        .iter()
        .flatten()
        .any(|s| s.starts_with("HOST_GROUP-") && !t.settings.has_host_group(s));
    if unknown_schema || dangling_scope {
        return Err(error(
            StatusCode::NOT_FOUND,
            "The specified schema or scope is not found",
        ));
    }
    let selected: Vec<&SettingsObject> = t
        .settings
        .objects
        .iter()
        .filter(|o| q.matches(&o.schema_id, &o.scope, o.external_id.as_deref()))
        .collect();
    let total = selected.len();
    let end = q.offset.saturating_add(q.page_size);
    let items: Vec<Value> = selected
        .iter()
        .skip(q.offset)
        .take(q.page_size)
        .map(|o| object_json(o, &q.fields))
        .collect();
    let next = (end < total).then(|| q.cursor_at(end));
    Ok(Json(
        json!({"items": items, "totalCount": total, "pageSize": q.page_size,
                   "nextPageKey": next}),
    )
    .into_response())
}

pub(super) async fn get_object(
    State(sb): State<DynatraceSandbox>,
    Path((tenant, object_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Reject> {
    let mut state = sb.lock();
    let t = authorize(&mut state, &tenant, &headers, Need::All(READ), now())?.0;
    let fields: Vec<String> = OBJECT_FIELDS
        .iter()
        .filter(|f| **f != "summary")
        .map(|f| (*f).to_owned())
        .collect();
    match t.settings.get(&object_id) {
        Some(o) => Ok(Json(object_json(o, &fields)).into_response()),
        None => Err(error(
            StatusCode::NOT_FOUND,
            &format!("Settings object with ID '{object_id}' not found"),
        )),
    }
}

pub(super) async fn create_objects(
    State(sb): State<DynatraceSandbox>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, Reject> {
    let mut state = sb.lock();
    let t = authorize(&mut state, &tenant, &headers, Need::All(WRITE), now())?.0;
    let only = validate_only(query.as_deref())?;
    let Value::Array(items) = json_value(&headers, &body)? else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "Could not map JSON: expected an array of settings objects",
        ));
    };
    if items.is_empty() {
        return Err(error(StatusCode::BAD_REQUEST, "No settings objects given"));
    }
    // A dry run works on a copy, so later items still see the earlier ones.
    let mut scratch;
    let store = if only {
        scratch = t.settings.clone();
        &mut scratch
    } else {
        &mut t.settings
    };
    let answers: Vec<Value> = items
        .iter()
        .enumerate()
        .map(|(i, item)| create_one(store, i, item, only))
        .collect();
    let ok = answers.iter().filter(|a| a["code"] == 200).count();
    let status = match ok {
        n if n == answers.len() => StatusCode::OK,
        0 => StatusCode::BAD_REQUEST,
        _ => StatusCode::MULTI_STATUS,
    };
    Ok((status, Json(Value::Array(answers))).into_response())
}

/// Validates item `i` of a create and stores it; its `SettingsObjectResponse`.
fn create_one(store: &mut Settings, i: usize, item: &Value, validate_only: bool) -> Value {
    let at = |p: &str| format!("/{i}/{p}");
    let Value::Object(m) = item else {
        let v = body_violation("", "must be an object", &format!("/{i}"));
        return item_error(StatusCode::BAD_REQUEST, "Constraints violated.", &[v]);
    };
    let mut vs = Vec::new();
    for k in m.keys().filter(|k| !CREATE_KEYS.contains(&k.as_str())) {
        vs.push(body_violation(k, "unknown property", &at(k)));
    }
    let schema = m
        .get("schemaId")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if schema.is_empty() {
        vs.push(body_violation(
            "schemaId",
            "must not be null",
            &at("schemaId"),
        ));
    } else if schema != LOG_STORAGE_SCHEMA {
        return schema_not_found(schema);
    }
    let scope = m.get("scope").and_then(Value::as_str).unwrap_or_default();
    if !store.is_known_scope(scope) {
        let msg = "must be a known HOST_GROUP entity of the environment or 'environment'";
        vs.push(body_violation("scope", msg, &at("scope")));
    }
    let external_id = optional_text(m, "externalId", 500, &at("externalId"), &mut vs);
    if external_id
        .as_deref()
        .is_some_and(|e| store.external_id_taken(schema, e))
    {
        let msg = "an object of this schema with this externalId exists";
        vs.push(body_violation("externalId", msg, &at("externalId")));
    }
    let version = optional_text(m, "schemaVersion", 64, &at("schemaVersion"), &mut vs);
    let position = match m.get("insertAfter") {
        None | Some(Value::Null) => Position::Last,
        Some(Value::String(s)) if s.is_empty() => Position::First,
        Some(Value::String(s)) => Position::After(s.clone()),
        Some(_) => {
            vs.push(body_violation(
                "insertAfter",
                "must be a string",
                &at("insertAfter"),
            ));
            Position::Last
        }
    };
    let value = m.get("value").cloned().unwrap_or(Value::Null);
    check_value(
        store,
        schema,
        scope,
        &value,
        None,
        &format!("/{i}"),
        &mut vs,
    );
    if !vs.is_empty() {
        return item_error(StatusCode::BAD_REQUEST, "Constraints violated.", &vs);
    }
    if !store.can_insert(schema, scope, &position) {
        let v = body_violation(
            "insertAfter",
            "Setting value cannot be inserted to the specified position",
            &at("insertAfter"),
        );
        return item_error(StatusCode::BAD_REQUEST, "Constraints violated.", &[v]);
    }
    let id = store.insert(schema, scope, external_id, value, version, &position);
    if validate_only {
        json!({"code": 200})
    } else {
        json!({"code": 200, "objectId": id})
    }
}

/// An optional non-empty string of at most `max` characters.
fn optional_text(
    m: &Map<String, Value>,
    key: &str,
    max: usize,
    location: &str,
    vs: &mut Vec<BodyViolation>,
) -> Option<String> {
    match m.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= max => Some(s.clone()),
        Some(_) => {
            let msg = format!("must be a string of 1 to {max} characters");
            vs.push(body_violation(key, &msg, location));
            None
        }
    }
}

/// The schema's rules and the UNIQUE title within (schema, scope); `location` is the pointer
/// of the object holding `value`.
fn check_value(
    store: &Settings,
    schema: &str,
    scope: &str,
    value: &Value,
    except: Option<&str>,
    location: &str,
    vs: &mut Vec<BodyViolation>,
) {
    for v in validate_log_storage(value) {
        let loc = format!("{location}/value/{}", v.path);
        vs.push(body_violation(
            &v.path,
            &v.message,
            loc.trim_end_matches('/'),
        ));
    }
    let title = value.get("config-item-title").and_then(Value::as_str);
    if let Some(title) = title
        && store.title_taken(schema, scope, title, except)
    {
        let msg = "an object with this config-item-title exists in this scope (UNIQUE constraint)";
        let loc = format!("{location}/value/config-item-title");
        vs.push(body_violation("config-item-title", msg, &loc));
    }
}

pub(super) async fn update_object(
    State(sb): State<DynatraceSandbox>,
    Path((tenant, object_id)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, Reject> {
    let mut state = sb.lock();
    let t = authorize(&mut state, &tenant, &headers, Need::All(READ_WRITE), now())?.0;
    let only = validate_only(query.as_deref())?;
    let Some(current) = t.settings.get(&object_id) else {
        return Ok(not_found_item(&object_id));
    };
    let Value::Object(m) = json_value(&headers, &body)? else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "Could not map JSON: expected an object",
        ));
    };
    let mut vs = Vec::new();
    for k in m.keys() {
        if !["value", "updateToken", "schemaVersion"].contains(&k.as_str()) {
            vs.push(body_violation(k, "unknown property", &format!("/{k}")));
        }
    }
    let token = optional_text(&m, "updateToken", 4096, "/updateToken", &mut vs);
    let version = optional_text(&m, "schemaVersion", 64, "/schemaVersion", &mut vs);
    let value = m.get("value").cloned().unwrap_or(Value::Null);
    let (schema, scope) = (current.schema_id.clone(), current.scope.clone());
    check_value(
        &t.settings,
        &schema,
        &scope,
        &value,
        Some(&object_id),
        "",
        &mut vs,
    );
    if !vs.is_empty() {
        let body = item_error(StatusCode::BAD_REQUEST, "Constraints violated.", &vs);
        return Ok((StatusCode::BAD_REQUEST, Json(body)).into_response());
    }
    if token.is_some_and(|tok| tok != current.update_token) {
        let message = "The update token is outdated: the object changed since it was read";
        let body = item_error(StatusCode::CONFLICT, message, &[]);
        return Ok((StatusCode::CONFLICT, Json(body)).into_response());
    }
    if !only && let Some(o) = t.settings.get_mut(&object_id) {
        o.replace(value, version);
    }
    Ok(Json(json!({"code": 200, "objectId": object_id})).into_response())
}

pub(super) async fn delete_object(
    State(sb): State<DynatraceSandbox>,
    Path((tenant, object_id)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, Reject> {
    let mut state = sb.lock();
    let t = authorize(&mut state, &tenant, &headers, Need::All(WRITE), now())?.0;
    let params = unique_params(query.as_deref().unwrap_or(""))?;
    if let Some(k) = params.keys().find(|k| *k != "updateToken") {
        return Err(violations(vec![Violation::new(
            k,
            "unknown query parameter",
            "QUERY",
        )]));
    }
    let Some(current) = t.settings.get(&object_id) else {
        return Err(error(
            StatusCode::NOT_FOUND,
            &format!("Settings object with ID '{object_id}' not found"),
        ));
    };
    if params
        .get("updateToken")
        .is_some_and(|tok| *tok != current.update_token)
    {
        return Err(error(
            StatusCode::CONFLICT,
            "The update token is outdated: the object changed since it was read",
        ));
    }
    t.settings.remove(&object_id);
    Ok(StatusCode::NO_CONTENT.into_response())
}
