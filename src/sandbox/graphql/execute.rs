//! Running a GraphQL request with async-graphql against one bundle, and answering as Apollo
//! Server does: HTTP 400 with `{"errors": [...]}` for parse, validation and operation
//! resolution failures (tracked by [`PhaseTracker`]), otherwise `data` (empty objects dropped
//! from arrays), resolver `errors` and `extensions.schemas` (the datafile schemas touched).

use super::GraphqlSandbox;
use super::bundle::Bundle;
use super::request::{Phase, Touched};
use super::schema::QueryRoot;
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextValidation,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{
    EmptyMutation, EmptySubscription, Schema, ServerError, ServerResult, ValidationResult,
    Variables,
};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

pub(super) type SandboxSchema = Schema<QueryRoot, EmptyMutation, EmptySubscription>;

/// The body of a GraphQL POST.
#[derive(Deserialize)]
struct GqlRequest {
    #[serde(default)]
    query: Option<String>,
    #[serde(default)]
    variables: Option<Value>,
    #[serde(default, rename = "operationName")]
    operation_name: Option<String>,
}

impl GraphqlSandbox {
    /// Runs the request in `body` against `bundle`, answering as Apollo Server does.
    pub(super) async fn execute(&self, bundle: Arc<Bundle>, body: &[u8]) -> Response {
        let (req, query) = match parse_request(body) {
            Ok(r) => r,
            Err(error) => return errors_response(StatusCode::BAD_REQUEST, vec![error]),
        };
        let touched = Touched::default();
        let phase = Phase::default();
        let mut request = async_graphql::Request::new(query)
            .data(bundle)
            .data(touched.clone())
            .data(phase.clone());
        if let Some(v @ Value::Object(_)) = req.variables {
            request = request.variables(Variables::from_json(v));
        }
        if let Some(op) = req.operation_name {
            request = request.operation_name(op);
        }
        let resp = self.inner.schema.execute(request).await;
        render(resp, &phase, &touched)
    }
}

/// The request and its non-empty query, or the error of Apollo's 400.
fn parse_request(body: &[u8]) -> Result<(GqlRequest, String), Value> {
    let mut req: GqlRequest = serde_json::from_slice(body).map_err(|e| {
        json!({"message": format!("invalid JSON body: {e}"), "extensions": {"code": "BAD_REQUEST"}})
    })?;
    match req.query.take().filter(|q| !q.trim().is_empty()) {
        Some(query) => Ok((req, query)),
        None => Err(json!({
            "message": "GraphQL operations must contain a non-empty `query` or a `persistedQuery` extension.",
            "extensions": {"code": "BAD_REQUEST"},
        })),
    }
}

/// A 400 for failures before execution, else `data` (+ `errors`) with `extensions.schemas`.
fn render(resp: async_graphql::Response, phase: &Phase, touched: &Touched) -> Response {
    let failed_phase = *phase.0.lock().expect("phase lock");
    let operation_failure = resp.errors.iter().any(|e| {
        e.message.starts_with("Unknown operation named")
            || e.message.starts_with("Operation name required")
    });
    let code = failed_phase.or(operation_failure.then_some("OPERATION_RESOLUTION_FAILURE"));
    if let Some(code) = code {
        return errors_response(
            StatusCode::BAD_REQUEST,
            resp.errors.iter().map(|e| error_json(e, code)).collect(),
        );
    }
    let data = resp.data.into_json().unwrap_or(Value::Null);
    let mut body = serde_json::Map::new();
    body.insert("data".into(), exclude_empty_objects_in_arrays(data));
    if !resp.errors.is_empty() {
        body.insert(
            "errors".into(),
            Value::Array(
                resp.errors
                    .iter()
                    .map(|e| error_json(e, "INTERNAL_SERVER_ERROR"))
                    .collect(),
            ),
        );
    }
    let schemas = touched.0.lock().expect("touched lock").clone();
    body.insert("extensions".into(), json!({ "schemas": schemas }));
    (StatusCode::OK, axum::Json(Value::Object(body))).into_response()
}
pub(super) fn errors_response(status: StatusCode, errors: Vec<Value>) -> Response {
    (status, axum::Json(json!({ "errors": errors }))).into_response()
}

/// An Apollo-style error object; `code` unless the error carries its own.
pub(super) fn error_json(e: &ServerError, code: &str) -> Value {
    let mut v = serde_json::to_value(e).unwrap_or_else(|_| json!({"message": e.message}));
    let obj = v.as_object_mut().expect("an error serializes as an object");
    let ext = obj
        .entry("extensions")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("extensions is an object");
    ext.entry("code")
        .or_insert_with(|| Value::String(code.to_owned()));
    v
}

/// qontract-server drops empty objects from arrays in `data`.
pub(super) fn exclude_empty_objects_in_arrays(v: Value) -> Value {
    match v {
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .filter(|i| !matches!(i, Value::Object(o) if o.is_empty()))
                .map(exclude_empty_objects_in_arrays)
                .collect(),
        ),
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, v)| (k, exclude_empty_objects_in_arrays(v)))
                .collect(),
        ),
        other => other,
    }
}

// ---------------------------------------------------------------------------------------------
// Per-request state and the phase tracker

pub(super) struct PhaseTracker;

impl ExtensionFactory for PhaseTracker {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(PhaseTracker)
    }
}

#[async_trait::async_trait]
impl Extension for PhaseTracker {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let r = next.run(ctx, query, variables).await;
        if r.is_err()
            && let Some(p) = ctx.data_opt::<Phase>()
        {
            *p.0.lock().expect("phase lock") = Some("GRAPHQL_PARSE_FAILED");
        }
        r
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let r = next.run(ctx).await;
        if r.is_err()
            && let Some(p) = ctx.data_opt::<Phase>()
        {
            *p.0.lock().expect("phase lock") = Some("GRAPHQL_VALIDATION_FAILED");
        }
        r
    }
}

pub(super) fn build_schema() -> SandboxSchema {
    Schema::build(QueryRoot, EmptyMutation, EmptySubscription)
        .extension(PhaseTracker)
        .finish()
}
