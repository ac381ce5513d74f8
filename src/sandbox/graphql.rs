//! A stateful fake of qontract-server (app-interface GraphQL), following its contract
//! (api-contracts §4): bundles of datafiles keyed by sha, `POST /graphql` (latest bundle),
//! `POST /graphqlsha/{sha}` (a pinned bundle; an unknown sha falls through to Express's HTML
//! 404), `GET /sha256` (plain text), `GET /git-commit-info[/{sha}]`, 503 `No loaded data.`
//! before the first bundle, and optionally the nginx gate's `Authorization` check (401).
//!
//! Queries are really parsed, validated and executed by async-graphql against the schema
//! subset of `graphql/schema.graphql` (same type, field and argument names and nullability; a
//! test keeps the two identical). Like qontract-server, resolvers read the datafiles as JSON:
//! `schema` is `$schema`, `{$ref: path}` crossrefs are followed, `JSON` fields are returned as
//! JSON strings, a missing required field is a `Cannot return null for non-nullable field`
//! error, top-level fields take `path`, searchable fields (`name` of OCM environments) and the
//! generic `filter` (`in`, `ne`, nested `filter`, equality; an unknown field is
//! `BAD_FILTER_FIELD`), and responses carry `extensions.schemas`. Parse and validation failures
//! are HTTP 400 with Apollo's `{"errors":[{message, locations, extensions: {code}}]}`.
//!
//! Bundles never expire by time; [`GraphqlSandbox::expire`] drops one (what a reload does to
//! shas unused for `BUNDLE_SHA_TTL`), and [`GraphqlSandbox::on_next_sha256`] lets a test
//! change the server right after a client read the latest sha.

use super::common::{self, Control, Served};
use crate::clients::appinterface::{
    DYNATRACE_ENVIRONMENT_SCHEMA, OCM_ENVIRONMENT_SCHEMA, SETTINGS_SCHEMA, TOKEN_SPEC_SCHEMA,
};
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextValidation,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::registry::{MetaType, MetaTypeName};
use async_graphql::{
    Context, EmptyMutation, EmptySubscription, ErrorExtensions, InputValueError, InputValueResult,
    Object, Scalar, ScalarType, Schema, ServerError, ServerResult, ValidationResult,
    Value as GqlValue, Variables,
};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

const INTEGRATION_SCHEMA: &str = "/app-sre/integration-1.yml";

type SandboxSchema = Schema<QueryRoot, EmptyMutation, EmptySubscription>;
type Hook = Box<dyn FnOnce(&GraphqlSandbox) + Send>;

/// The fake qontract-server. Cheap to clone (shared state).
#[derive(Clone)]
pub struct GraphqlSandbox {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<ServerState>,
    auth: Option<String>,
    schema: SandboxSchema,
}

#[derive(Default)]
struct ServerState {
    bundles: HashMap<String, Arc<Bundle>>,
    latest: Option<String>,
    after_sha_read: Vec<Hook>,
}

/// One loaded bundle: datafiles by path (each with its `path` set, as qontract-server does).
struct Bundle {
    sha: String,
    /// A made-up git commit (40 hex), stable for a sha.
    commit: String,
    /// Unix seconds at load time, as a string (qontract-server's `gitCommitTimestamp`).
    timestamp: String,
    datafiles: BTreeMap<String, Value>,
}

impl Bundle {
    fn new(datafiles: Vec<(String, Value)>) -> Self {
        let mut by_path = BTreeMap::new();
        for (path, mut value) in datafiles {
            if let Value::Object(o) = &mut value {
                o.insert("path".to_owned(), Value::String(path.clone()));
            }
            by_path.insert(path, value);
        }
        let sha = hex(&Sha256::digest(
            serde_json::to_vec(&by_path).expect("JSON serializes"),
        ));
        let commit = hex(&Sha256::digest(format!("git-commit:{sha}")))[..40].to_owned();
        let timestamp = chrono::Utc::now().timestamp().to_string();
        Self {
            sha,
            commit,
            timestamp,
            datafiles: by_path,
        }
    }

    fn by_schema<'a>(&'a self, schema: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.datafiles
            .values()
            .filter(move |v| v.get("$schema").and_then(Value::as_str) == Some(schema))
    }

    fn resolve_ref(&self, v: &Value) -> Option<&Value> {
        let target = crossref(v)?;
        let path = target.split('#').next().unwrap_or(target);
        self.datafiles.get(path)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `{"$ref": "<path>"}` (an object with that single key).
fn crossref(v: &Value) -> Option<&str> {
    let o = v.as_object()?;
    if o.len() == 1 {
        o.get("$ref")?.as_str()
    } else {
        None
    }
}

/// The sha a bundle of these datafiles gets (sha256 of the datafiles by path, as JSON).
pub fn bundle_sha(datafiles: &[(String, Value)]) -> String {
    Bundle::new(datafiles.to_vec()).sha
}

impl GraphqlSandbox {
    /// A server with one bundle (possibly empty) loaded from `datafiles` (`(path, content)`).
    /// With `auth`, every route but `/` requires exactly that `Authorization` header.
    pub fn new(datafiles: Vec<(String, Value)>, auth: Option<String>) -> Self {
        let sb = Self::unloaded(auth);
        sb.set_datafiles(datafiles);
        sb
    }

    /// A server that has not loaded any bundle yet: everything but `/` answers 503.
    pub fn unloaded(auth: Option<String>) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(ServerState::default()),
                auth,
                schema: build_schema(),
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ServerState> {
        self.inner.state.lock().expect("graphql sandbox lock")
    }

    /// Loads a bundle and makes it the latest; older bundles stay queryable by sha. Returns
    /// the new sha (unchanged when the same datafiles are already loaded).
    pub fn set_datafiles(&self, datafiles: Vec<(String, Value)>) -> String {
        let bundle = Bundle::new(datafiles);
        let sha = bundle.sha.clone();
        let mut st = self.state();
        st.bundles
            .entry(sha.clone())
            .or_insert_with(|| Arc::new(bundle));
        st.latest = Some(sha.clone());
        sha
    }

    /// The latest bundle's sha, if any bundle is loaded.
    pub fn latest_sha(&self) -> Option<String> {
        self.state().latest.clone()
    }

    /// Every loaded sha (sorted).
    pub fn shas(&self) -> Vec<String> {
        let mut v: Vec<String> = self.state().bundles.keys().cloned().collect();
        v.sort();
        v
    }

    /// Drops a bundle that is not the latest (as a reload drops shas unused for
    /// `BUNDLE_SHA_TTL`). Returns whether it was dropped.
    pub fn expire(&self, sha: &str) -> bool {
        let mut st = self.state();
        if st.latest.as_deref() == Some(sha) {
            return false;
        }
        st.bundles.remove(sha).is_some()
    }

    /// Runs `f` right after the next `GET /sha256` has computed its answer (before the client
    /// sees it): a deterministic way to swap or expire bundles mid-run.
    pub fn on_next_sha256(&self, f: impl FnOnce(&GraphqlSandbox) + Send + 'static) {
        self.state().after_sha_read.push(Box::new(f));
    }

    fn bundle(&self, sha: &str) -> Option<Arc<Bundle>> {
        self.state().bundles.get(sha).cloned()
    }

    fn latest(&self) -> Option<Arc<Bundle>> {
        let st = self.state();
        st.latest.as_ref().and_then(|s| st.bundles.get(s).cloned())
    }

    /// The schema the sandbox serves, as SDL.
    pub fn schema_sdl(&self) -> String {
        self.inner.schema.sdl()
    }

    /// The HTTP routes of qontract-server.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/", get(|| async { redirect("/graphql") }))
            .route("/graphql", post(graphql_latest).fallback(express_404))
            .route("/graphqlsha/{sha}", post(graphql_sha).fallback(express_404))
            .route("/sha256", get(sha256))
            .route("/git-commit-info", get(commit_info_latest))
            .route("/git-commit-info/{sha}", get(commit_info))
            .route("/healthz", get(|| async { StatusCode::OK }))
            .fallback(express_404)
            .layer(middleware::from_fn_with_state(self.clone(), gate))
            .with_state(self.clone())
    }

    /// Serves [`Self::router`] on loopback behind the shared recording/fault layer (system
    /// `graphql`).
    pub async fn serve(&self, control: Control) -> std::io::Result<Served> {
        common::serve("graphql", self.router(), control).await
    }

    async fn execute(&self, bundle: Arc<Bundle>, body: &[u8]) -> Response {
        #[derive(Deserialize)]
        struct GqlRequest {
            #[serde(default)]
            query: Option<String>,
            #[serde(default)]
            variables: Option<Value>,
            #[serde(default, rename = "operationName")]
            operation_name: Option<String>,
        }
        let req: GqlRequest = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => {
                return errors_response(
                    StatusCode::BAD_REQUEST,
                    vec![
                        json!({"message": format!("invalid JSON body: {e}"), "extensions": {"code": "BAD_REQUEST"}}),
                    ],
                );
            }
        };
        let Some(query) = req.query.filter(|q| !q.trim().is_empty()) else {
            return errors_response(
                StatusCode::BAD_REQUEST,
                vec![json!({
                    "message": "GraphQL operations must contain a non-empty `query` or a `persistedQuery` extension.",
                    "extensions": {"code": "BAD_REQUEST"},
                })],
            );
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
}

// ---------------------------------------------------------------------------------------------
// HTTP

/// The nginx gate (Basic auth) in front of qontract-server, then qontract-server's own 503
/// while nothing is loaded.
async fn gate(State(sb): State<GraphqlSandbox>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    if path != "/"
        && let Some(auth) = &sb.inner.auth
    {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes);
        if given != Some(auth.as_bytes()) {
            let mut resp = (
                StatusCode::UNAUTHORIZED,
                html("<html>\r\n<head><title>401 Authorization Required</title></head>\r\n<body>\r\n<center><h1>401 Authorization Required</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"),
            )
                .into_response();
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"qontract-server\""),
            );
            return resp;
        }
    }
    if path != "/" && path != "/reload" && sb.latest().is_none() {
        return (StatusCode::SERVICE_UNAVAILABLE, html("No loaded data.")).into_response();
    }
    next.run(req).await
}

fn html(body: &str) -> ([(header::HeaderName, &'static str); 1], String) {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body.to_owned(),
    )
}

fn redirect(to: &'static str) -> Response {
    (
        StatusCode::FOUND,
        [(header::LOCATION, to)],
        format!("Found. Redirecting to {to}"),
    )
        .into_response()
}

/// Express's default 404 (`finalhandler`): an HTML page, not JSON.
async fn express_404(method: Method, uri: Uri) -> Response {
    let body = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Error</title>\n</head>\n<body>\n<pre>Cannot {} {}</pre>\n</body>\n</html>\n",
        method,
        uri.path()
    );
    (StatusCode::NOT_FOUND, html(&body)).into_response()
}

async fn graphql_latest(State(sb): State<GraphqlSandbox>, body: Bytes) -> Response {
    match sb.latest() {
        Some(bundle) => sb.execute(bundle, &body).await,
        None => (StatusCode::SERVICE_UNAVAILABLE, html("No loaded data.")).into_response(),
    }
}

async fn graphql_sha(
    State(sb): State<GraphqlSandbox>,
    Path(sha): Path<String>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    match sb.bundle(&sha) {
        Some(bundle) => sb.execute(bundle, &body).await,
        None => express_404(method, uri).await,
    }
}

async fn sha256(State(sb): State<GraphqlSandbox>) -> Response {
    let (sha, hooks) = {
        let mut st = sb.state();
        (
            st.latest.clone().unwrap_or_default(),
            std::mem::take(&mut st.after_sha_read),
        )
    };
    for hook in hooks {
        hook(&sb);
    }
    (StatusCode::OK, html(&sha)).into_response()
}

fn commit_json(bundle: &Bundle) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"commit": bundle.commit, "timestamp": bundle.timestamp}).to_string(),
    )
        .into_response()
}

async fn commit_info_latest(State(sb): State<GraphqlSandbox>) -> Response {
    match sb.latest() {
        Some(b) => commit_json(&b),
        None => (StatusCode::SERVICE_UNAVAILABLE, html("No loaded data.")).into_response(),
    }
}

async fn commit_info(State(sb): State<GraphqlSandbox>, Path(sha): Path<String>) -> Response {
    match sb.bundle(&sha) {
        Some(b) => commit_json(&b),
        None => (
            StatusCode::NOT_FOUND,
            html(&format!("Bundle {sha} not found")),
        )
            .into_response(),
    }
}

fn errors_response(status: StatusCode, errors: Vec<Value>) -> Response {
    (status, axum::Json(json!({ "errors": errors }))).into_response()
}

/// An Apollo-style error object; `code` unless the error carries its own.
fn error_json(e: &ServerError, code: &str) -> Value {
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
fn exclude_empty_objects_in_arrays(v: Value) -> Value {
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

/// Datafile schemas the query touched (`extensions.schemas`), in first-seen order.
#[derive(Clone, Default)]
struct Touched(Arc<Mutex<Vec<String>>>);

impl Touched {
    fn add(&self, schema: Option<&str>) {
        if let Some(s) = schema {
            let mut v = self.0.lock().expect("touched lock");
            if !v.iter().any(|x| x == s) {
                v.push(s.to_owned());
            }
        }
    }
}

/// Set when the request failed before execution (Apollo answers those with HTTP 400).
#[derive(Clone, Default)]
struct Phase(Arc<Mutex<Option<&'static str>>>);

struct PhaseTracker;

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

fn build_schema() -> SandboxSchema {
    Schema::build(QueryRoot, EmptyMutation, EmptySubscription)
        .extension(PhaseTracker)
        .finish()
}

// ---------------------------------------------------------------------------------------------
// Values: qontract-server's default resolver over JSON datafiles, with graphql-js coercion

/// qontract-server's `JSON` scalar: any JSON as input; serialized with `JSON.stringify`, so
/// clients receive a JSON *string*.
#[derive(Clone, Debug)]
struct Json(Value);

/// A scalar that can represent any JSON value.
#[Scalar(name = "JSON")]
impl ScalarType for Json {
    fn parse(value: GqlValue) -> InputValueResult<Self> {
        value.into_json().map(Json).map_err(InputValueError::custom)
    }

    fn to_value(&self) -> GqlValue {
        GqlValue::String(self.0.to_string())
    }
}

type GqlResult<T> = async_graphql::Result<T>;

/// One JSON object (a datafile or a part of one) seen as a value of GraphQL type `ty`.
#[derive(Clone)]
struct Node {
    ty: &'static str,
    v: Value,
}

fn non_null(ty: &str, field: &str) -> async_graphql::Error {
    async_graphql::Error::new(format!(
        "Cannot return null for non-nullable field {ty}.{field}."
    ))
}

fn coerce_string(v: &Value) -> GqlResult<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(async_graphql::Error::new(format!(
            "String cannot represent value: {other}"
        ))),
    }
}

fn coerce_int(v: &Value) -> GqlResult<i32> {
    let n = match v {
        Value::Number(n) => n.as_f64(),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match n {
        Some(f) if f.fract() == 0.0 && f >= f64::from(i32::MIN) && f <= f64::from(i32::MAX) => {
            Ok(f as i32)
        }
        _ => Err(async_graphql::Error::new(format!(
            "Int cannot represent non-integer value: {v}"
        ))),
    }
}

fn coerce_bool(v: &Value) -> GqlResult<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) if n.as_f64().is_some() => Ok(n.as_f64() != Some(0.0)),
        other => Err(async_graphql::Error::new(format!(
            "Boolean cannot represent a non boolean value: {other}"
        ))),
    }
}

impl Node {
    fn new(ty: &'static str, v: Value) -> Self {
        Self { ty, v }
    }

    /// The datafile key behind a GraphQL field (`schema` is `$schema`); null counts as absent.
    fn get(&self, field: &str) -> Option<&Value> {
        let key = if field == "schema" { "$schema" } else { field };
        self.v.get(key).filter(|v| !v.is_null())
    }

    fn string(&self, field: &str) -> GqlResult<Option<String>> {
        self.get(field).map(coerce_string).transpose()
    }

    fn req_string(&self, field: &str) -> GqlResult<String> {
        self.string(field)?.ok_or_else(|| non_null(self.ty, field))
    }

    fn int(&self, field: &str) -> GqlResult<Option<i32>> {
        self.get(field).map(coerce_int).transpose()
    }

    fn req_int(&self, field: &str) -> GqlResult<i32> {
        self.int(field)?.ok_or_else(|| non_null(self.ty, field))
    }

    fn req_bool(&self, field: &str) -> GqlResult<bool> {
        self.get(field)
            .map(coerce_bool)
            .transpose()?
            .ok_or_else(|| non_null(self.ty, field))
    }

    fn json(&self, field: &str) -> Option<Json> {
        self.get(field).cloned().map(Json)
    }

    fn list(&self, field: &str) -> GqlResult<Option<&Vec<Value>>> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(_) => Err(async_graphql::Error::new(format!(
                "Expected Iterable, but did not find one for field \"{}.{field}\".",
                self.ty
            ))),
        }
    }

    /// `[String!]`.
    fn strings(&self, field: &str) -> GqlResult<Option<Vec<String>>> {
        let Some(items) = self.list(field)? else {
            return Ok(None);
        };
        items
            .iter()
            .map(|i| {
                if i.is_null() {
                    Err(non_null(self.ty, field))
                } else {
                    coerce_string(i)
                }
            })
            .collect::<GqlResult<Vec<_>>>()
            .map(Some)
    }

    /// `[String!]!`.
    fn req_strings(&self, field: &str) -> GqlResult<Vec<String>> {
        self.strings(field)?.ok_or_else(|| non_null(self.ty, field))
    }

    /// An object field, following a `$ref` crossref into another datafile.
    fn child(&self, ctx: &Context<'_>, field: &str, ty: &'static str) -> GqlResult<Option<Node>> {
        let Some(v) = self.get(field) else {
            return Ok(None);
        };
        Ok(deref(ctx, v).map(|v| Node::new(ty, v)))
    }

    fn req_child(&self, ctx: &Context<'_>, field: &str, ty: &'static str) -> GqlResult<Node> {
        self.child(ctx, field, ty)?
            .ok_or_else(|| non_null(self.ty, field))
    }

    /// `[T!]!` of objects (each possibly a crossref).
    fn req_children(
        &self,
        ctx: &Context<'_>,
        field: &str,
        ty: &'static str,
    ) -> GqlResult<Vec<Node>> {
        let items = self.list(field)?.ok_or_else(|| non_null(self.ty, field))?;
        items
            .iter()
            .map(|i| {
                deref(ctx, i)
                    .map(|v| Node::new(ty, v))
                    .ok_or_else(|| non_null(self.ty, field))
            })
            .collect()
    }
}

/// Follows a crossref (recording the target's schema); other values are returned as they are.
fn deref(ctx: &Context<'_>, v: &Value) -> Option<Value> {
    if crossref(v).is_none() {
        return (!v.is_null()).then(|| v.clone());
    }
    let bundle = ctx.data_unchecked::<Arc<Bundle>>();
    let target = bundle.resolve_ref(v)?;
    ctx.data_unchecked::<Touched>()
        .add(target.get("$schema").and_then(Value::as_str));
    Some(target.clone())
}

// ---------------------------------------------------------------------------------------------
// Top-level selection and qontract-server filters

/// The datafiles of `schema` matching the searchable arguments (`(field, value)`, a null value
/// matches everything) and `filter`, as nodes of GraphQL type `ty`.
fn select(
    ctx: &Context<'_>,
    schema: &str,
    ty: &'static str,
    searchable: &[(&str, Option<String>)],
    filter: Option<Json>,
) -> GqlResult<Vec<Node>> {
    let bundle = ctx.data_unchecked::<Arc<Bundle>>();
    let filter = filter.map(|f| Filter::compile(ctx, ty, &f.0)).transpose()?;
    let touched = ctx.data_unchecked::<Touched>();
    let mut out = Vec::new();
    for v in bundle.by_schema(schema) {
        let searchable_ok = searchable.iter().all(|(field, want)| match want {
            None => true,
            Some(w) => v.get(*field).and_then(Value::as_str) == Some(w.as_str()),
        });
        if searchable_ok && filter.as_ref().is_none_or(|f| f.matches(bundle, v)) {
            touched.add(Some(schema));
            out.push(Node::new(ty, v.clone()));
        }
    }
    Ok(out)
}

/// A compiled `filter` argument (qontract-server `filterObjectPredicateBuilder`).
enum Filter {
    /// A filter that is not an object matches nothing.
    Never,
    All(Vec<(String, Cond)>),
}

enum Cond {
    /// `(source[field] ?? null) === value`.
    Eq(Value),
    /// A list field compared element-wise with an array.
    ListEq(Vec<Value>),
    /// `{in: [...]}`: the field is present and its value is one of them.
    In(Vec<Value>),
    /// `{ne: value}`.
    Ne(Value),
    /// `{filter: {...}}` on the object (or crossref'd datafile) in the field; for a list, any
    /// element matching (the sandbox's reading of an unspecified case).
    Nested(Filter),
}

impl Filter {
    fn compile(ctx: &Context<'_>, ty: &str, filter: &Value) -> GqlResult<Self> {
        let Some(obj) = filter.as_object() else {
            return Ok(Filter::Never);
        };
        let registry = &ctx.schema_env.registry;
        let fields = match registry.types.get(ty) {
            Some(MetaType::Object { fields, .. }) => fields,
            _ => return Ok(Filter::Never),
        };
        let mut conds = Vec::new();
        for (name, value) in obj {
            let Some(field) = fields.get(name) else {
                return Err(async_graphql::Error::new(format!(
                    "Field \"{name}\" does not exist on type \"{ty}\""
                ))
                .extend_with(|_, e| {
                    e.set("code", "BAD_FILTER_FIELD");
                    e.set("gqlType", ty);
                }));
            };
            // `[T!]` or `[T!]!`.
            let is_list = field.ty.starts_with('[');
            let cond = match value {
                Value::Array(a) if is_list => Cond::ListEq(a.clone()),
                Value::Object(o) if o.contains_key("in") => {
                    Cond::In(o["in"].as_array().cloned().unwrap_or_default())
                }
                Value::Object(o) if o.contains_key("filter") => Cond::Nested(Filter::compile(
                    ctx,
                    MetaTypeName::concrete_typename(&field.ty),
                    &o["filter"],
                )?),
                Value::Object(o) if o.contains_key("ne") => Cond::Ne(o["ne"].clone()),
                other => Cond::Eq(other.clone()),
            };
            conds.push((name.clone(), cond));
        }
        Ok(Filter::All(conds))
    }

    fn matches(&self, bundle: &Bundle, source: &Value) -> bool {
        let Filter::All(conds) = self else {
            return false;
        };
        conds.iter().all(|(field, cond)| {
            let key = if field == "schema" {
                "$schema"
            } else {
                field.as_str()
            };
            let value = source.get(key).unwrap_or(&Value::Null);
            match cond {
                Cond::Eq(want) => js_strict_eq(value, want),
                Cond::Ne(want) => !js_strict_eq(value, want),
                Cond::In(set) => {
                    source.get(key).is_some() && set.iter().any(|w| js_strict_eq(value, w))
                }
                Cond::ListEq(want) => value.as_array().is_some_and(|have| {
                    have.len() == want.len()
                        && have.iter().zip(want).all(|(a, b)| js_strict_eq(a, b))
                }),
                Cond::Nested(f) => {
                    let resolve =
                        |v: &Value| bundle.resolve_ref(v).cloned().unwrap_or_else(|| v.clone());
                    match value {
                        Value::Null => false,
                        Value::Array(items) => items.iter().any(|i| f.matches(bundle, &resolve(i))),
                        v => f.matches(bundle, &resolve(v)),
                    }
                }
            }
        })
    }
}

/// JavaScript `===` between JSON values: primitives by value, objects and arrays never equal.
fn js_strict_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// The schema (mirrors graphql/schema.graphql)

struct QueryRoot;

#[Object(name = "Query")]
impl QueryRoot {
    /// Datafiles of schema /dependencies/dynatrace-environment-1.yml.
    #[graphql(name = "dynatrace_environment_v1")]
    async fn dynatrace_environment_v1(
        &self,
        ctx: &Context<'_>,
        path: Option<String>,
        filter: Option<Json>,
    ) -> GqlResult<Option<Vec<DynatraceEnvironmentV1>>> {
        let nodes = select(
            ctx,
            DYNATRACE_ENVIRONMENT_SCHEMA,
            "DynatraceEnvironment_v1",
            &[("path", path)],
            filter,
        )?;
        Ok(Some(
            nodes.into_iter().map(DynatraceEnvironmentV1).collect(),
        ))
    }

    /// Datafiles of schema /dynatrace/dynatrace-token-provider-token-spec-1.yml.
    #[graphql(name = "dynatrace_token_provider_token_spec_v1")]
    async fn dynatrace_token_provider_token_spec_v1(
        &self,
        ctx: &Context<'_>,
        path: Option<String>,
        filter: Option<Json>,
    ) -> GqlResult<Option<Vec<TokenSpecV1>>> {
        let nodes = select(
            ctx,
            TOKEN_SPEC_SCHEMA,
            "DynatraceTokenProviderTokenSpec_v1",
            &[("path", path)],
            filter,
        )?;
        Ok(Some(nodes.into_iter().map(TokenSpecV1).collect()))
    }

    /// Datafiles of schema /openshift/openshift-cluster-manager-environment-1.yml.
    #[graphql(name = "ocm_environments_v1")]
    async fn ocm_environments_v1(
        &self,
        ctx: &Context<'_>,
        name: Option<String>,
        path: Option<String>,
        filter: Option<Json>,
    ) -> GqlResult<Vec<OcmEnvironmentV1>> {
        let nodes = select(
            ctx,
            OCM_ENVIRONMENT_SCHEMA,
            "OpenShiftClusterManagerEnvironment_v1",
            &[("name", name), ("path", path)],
            filter,
        )?;
        Ok(nodes.into_iter().map(OcmEnvironmentV1).collect())
    }

    /// Datafiles of schema /app-interface/app-interface-settings-1.yml.
    #[graphql(name = "app_interface_settings_v1")]
    async fn app_interface_settings_v1(
        &self,
        ctx: &Context<'_>,
        path: Option<String>,
        filter: Option<Json>,
    ) -> GqlResult<Option<Vec<AppInterfaceSettingsV1>>> {
        let nodes = select(
            ctx,
            SETTINGS_SCHEMA,
            "AppInterfaceSettings_v1",
            &[("path", path)],
            filter,
        )?;
        Ok(Some(
            nodes.into_iter().map(AppInterfaceSettingsV1).collect(),
        ))
    }

    /// Datafiles of schema /app-sre/integration-1.yml.
    #[graphql(name = "integrations_v1")]
    async fn integrations_v1(
        &self,
        ctx: &Context<'_>,
        path: Option<String>,
        filter: Option<Json>,
    ) -> GqlResult<Option<Vec<IntegrationV1>>> {
        let nodes = select(
            ctx,
            INTEGRATION_SCHEMA,
            "Integration_v1",
            &[("path", path)],
            filter,
        )?;
        Ok(Some(nodes.into_iter().map(IntegrationV1).collect()))
    }
}

struct VaultSecretV1(Node);

#[Object(name = "VaultSecret_v1")]
impl VaultSecretV1 {
    async fn path(&self) -> GqlResult<String> {
        self.0.req_string("path")
    }
    async fn field(&self) -> GqlResult<String> {
        self.0.req_string("field")
    }
    async fn format(&self) -> GqlResult<Option<String>> {
        self.0.string("format")
    }
    async fn version(&self) -> GqlResult<Option<i32>> {
        self.0.int("version")
    }
}

struct DynatraceEnvironmentV1(Node);

#[Object(name = "DynatraceEnvironment_v1")]
impl DynatraceEnvironmentV1 {
    async fn schema(&self) -> GqlResult<String> {
        self.0.req_string("schema")
    }
    async fn path(&self) -> GqlResult<String> {
        self.0.req_string("path")
    }
    async fn name(&self) -> GqlResult<String> {
        self.0.req_string("name")
    }
    async fn description(&self) -> GqlResult<String> {
        self.0.req_string("description")
    }
    #[graphql(name = "environmentID")]
    async fn environment_id(&self) -> GqlResult<String> {
        self.0.req_string("environmentID")
    }
    async fn environment_url(&self) -> GqlResult<String> {
        self.0.req_string("environmentUrl")
    }
    async fn bootstrap_token(&self, ctx: &Context<'_>) -> GqlResult<VaultSecretV1> {
        self.0
            .req_child(ctx, "bootstrapToken", "VaultSecret_v1")
            .map(VaultSecretV1)
    }
    async fn environment(&self) -> GqlResult<Option<String>> {
        self.0.string("environment")
    }
    async fn dynatrace_region(&self) -> GqlResult<Option<String>> {
        self.0.string("dynatraceRegion")
    }
    async fn aws_region(&self) -> GqlResult<Option<Vec<String>>> {
        self.0.strings("awsRegion")
    }
}

struct TokenSpecV1(Node);

#[Object(name = "DynatraceTokenProviderTokenSpec_v1")]
impl TokenSpecV1 {
    async fn path(&self) -> GqlResult<String> {
        self.0.req_string("path")
    }
    async fn schema(&self) -> GqlResult<String> {
        self.0.req_string("schema")
    }
    async fn name(&self) -> GqlResult<String> {
        self.0.req_string("name")
    }
    async fn description(&self) -> GqlResult<String> {
        self.0.req_string("description")
    }
    #[graphql(name = "ocm_org_ids")]
    async fn ocm_org_ids(&self) -> GqlResult<Vec<String>> {
        self.0.req_strings("ocm_org_ids")
    }
    async fn secrets(&self, ctx: &Context<'_>) -> GqlResult<Vec<TokenSecretV1>> {
        let nodes = self
            .0
            .req_children(ctx, "secrets", "DynatraceTokenProviderTokenSecret_v1")?;
        Ok(nodes.into_iter().map(TokenSecretV1).collect())
    }
}

struct TokenSecretV1(Node);

#[Object(name = "DynatraceTokenProviderTokenSecret_v1")]
impl TokenSecretV1 {
    async fn name(&self) -> GqlResult<String> {
        self.0.req_string("name")
    }
    async fn namespace(&self) -> GqlResult<String> {
        self.0.req_string("namespace")
    }
    async fn tokens(&self, ctx: &Context<'_>) -> GqlResult<Vec<ApiTokenV1>> {
        let nodes = self.0.req_children(ctx, "tokens", "DynatraceAPIToken_v1")?;
        Ok(nodes.into_iter().map(ApiTokenV1).collect())
    }
}

struct ApiTokenV1(Node);

#[Object(name = "DynatraceAPIToken_v1")]
impl ApiTokenV1 {
    async fn name(&self) -> GqlResult<String> {
        self.0.req_string("name")
    }
    async fn key_name_in_secret(&self) -> GqlResult<Option<String>> {
        self.0.string("keyNameInSecret")
    }
    async fn scopes(&self) -> GqlResult<Vec<String>> {
        self.0.req_strings("scopes")
    }
}

struct OcmEnvironmentV1(Node);

#[Object(name = "OpenShiftClusterManagerEnvironment_v1")]
impl OcmEnvironmentV1 {
    async fn schema(&self) -> GqlResult<String> {
        self.0.req_string("schema")
    }
    async fn path(&self) -> GqlResult<String> {
        self.0.req_string("path")
    }
    async fn labels(&self) -> Option<Json> {
        self.0.json("labels")
    }
    async fn name(&self) -> GqlResult<String> {
        self.0.req_string("name")
    }
    async fn url(&self) -> GqlResult<String> {
        self.0.req_string("url")
    }
    async fn description(&self) -> GqlResult<Option<String>> {
        self.0.string("description")
    }
    async fn access_token_client_id(&self) -> GqlResult<String> {
        self.0.req_string("accessTokenClientId")
    }
    async fn access_token_url(&self) -> GqlResult<String> {
        self.0.req_string("accessTokenUrl")
    }
    async fn access_token_client_secret(&self, ctx: &Context<'_>) -> GqlResult<VaultSecretV1> {
        self.0
            .req_child(ctx, "accessTokenClientSecret", "VaultSecret_v1")
            .map(VaultSecretV1)
    }
    async fn telemeter(&self, ctx: &Context<'_>) -> GqlResult<Option<PrometheusInstanceV1>> {
        Ok(self
            .0
            .child(ctx, "telemeter", "PrometheusInstance_v1")?
            .map(PrometheusInstanceV1))
    }
}

/// Subset: the `auth` interface field is left out.
struct PrometheusInstanceV1(Node);

#[Object(name = "PrometheusInstance_v1")]
impl PrometheusInstanceV1 {
    async fn schema(&self) -> GqlResult<String> {
        self.0.req_string("schema")
    }
    async fn path(&self) -> GqlResult<String> {
        self.0.req_string("path")
    }
    async fn name(&self) -> GqlResult<String> {
        self.0.req_string("name")
    }
    async fn labels(&self) -> Option<Json> {
        self.0.json("labels")
    }
    async fn description(&self) -> GqlResult<Option<String>> {
        self.0.string("description")
    }
    async fn base_url(&self) -> GqlResult<String> {
        self.0.req_string("baseUrl")
    }
    async fn query_path(&self) -> GqlResult<Option<String>> {
        self.0.string("queryPath")
    }
}

/// Subset: only the scalar fields.
struct AppInterfaceSettingsV1(Node);

#[Object(name = "AppInterfaceSettings_v1")]
impl AppInterfaceSettingsV1 {
    async fn schema(&self) -> GqlResult<String> {
        self.0.req_string("schema")
    }
    async fn path(&self) -> GqlResult<String> {
        self.0.req_string("path")
    }
    async fn labels(&self) -> Option<Json> {
        self.0.json("labels")
    }
    async fn name(&self) -> GqlResult<String> {
        self.0.req_string("name")
    }
    async fn description(&self) -> GqlResult<String> {
        self.0.req_string("description")
    }
    async fn repo_url(&self) -> GqlResult<String> {
        self.0.req_string("repoUrl")
    }
    async fn vault(&self) -> GqlResult<bool> {
        self.0.req_bool("vault")
    }
    async fn kube_binary(&self) -> GqlResult<String> {
        self.0.req_string("kubeBinary")
    }
    async fn merge_request_gateway(&self) -> GqlResult<Option<String>> {
        self.0.string("mergeRequestGateway")
    }
    async fn saas_deploy_job_template(&self) -> GqlResult<String> {
        self.0.req_string("saasDeployJobTemplate")
    }
    async fn hash_length(&self) -> GqlResult<i32> {
        self.0.req_int("hashLength")
    }
}

/// Subset: `pr_check` and `managed` are left out.
struct IntegrationV1(Node);

#[Object(name = "Integration_v1")]
impl IntegrationV1 {
    async fn schema(&self) -> GqlResult<String> {
        self.0.req_string("schema")
    }
    async fn path(&self) -> GqlResult<String> {
        self.0.req_string("path")
    }
    async fn labels(&self) -> Option<Json> {
        self.0.json("labels")
    }
    async fn name(&self) -> GqlResult<String> {
        self.0.req_string("name")
    }
    async fn description(&self) -> GqlResult<String> {
        self.0.req_string("description")
    }
    async fn upstream(&self) -> GqlResult<Option<String>> {
        self.0.string("upstream")
    }
    async fn schemas(&self) -> GqlResult<Vec<String>> {
        self.0.req_strings("schemas")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn javascript_strict_equality_compares_primitives_only() {
        assert!(js_strict_eq(&json!(1), &json!(1.0)));
        assert!(js_strict_eq(&Value::Null, &Value::Null));
        assert!(!js_strict_eq(&json!("1"), &json!(1)));
        assert!(!js_strict_eq(&json!({"a": 1}), &json!({"a": 1})));
    }

    #[test]
    fn the_bundle_sha_depends_on_the_content_only() {
        let a = vec![("/a.yml".to_owned(), json!({"$schema": "/x", "n": 1}))];
        let mut b = a.clone();
        assert_eq!(bundle_sha(&a), bundle_sha(&b));
        b[0].1["n"] = json!(2);
        assert_ne!(bundle_sha(&a), bundle_sha(&b));
        assert_eq!(bundle_sha(&a).len(), 64);
    }

    #[test]
    fn empty_objects_are_dropped_from_arrays() {
        let v = exclude_empty_objects_in_arrays(json!({"x": [{}, {"a": [{}, 1]}], "y": {}}));
        assert_eq!(v, json!({"x": [{"a": [1]}], "y": {}}));
    }
}
