//! App-interface input end to end: the example datafiles under `tests/data/appinterface/`
//! read from the directory and through qontract-server (the GraphQL sandbox) must give the
//! same data; the GraphQL client pins one bundle per load, re-pins an expired one, retries
//! GraphQL errors and never leaks its token; the sandbox validates queries like Apollo; bad
//! datafiles are reported all at once, each with its path.

use dtp::clients::AppInterfaceSource;
use dtp::clients::appinterface::{
    AppInterfaceError, Datafile, DatafilesSource, GraphqlSource, from_datafiles, read_datafiles,
};
use dtp::clients::http::{Http, HttpSettings};
use dtp::model::AppInterfaceData;
use dtp::sandbox::common::{Control, FaultRule, Served};
use dtp::sandbox::graphql::GraphqlSandbox;
use secrecy::SecretString;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

const TOKEN: &str = "Basic ZHRwOnMzY3IzdA==";

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/appinterface")
}

fn example_datafiles() -> Vec<Datafile> {
    read_datafiles(&examples_dir()).expect("example datafiles parse")
}

fn fast_http() -> HttpSettings {
    HttpSettings {
        timeout: Duration::from_secs(10),
        max_retries: 1,
        min_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        ..HttpSettings::default()
    }
}

struct Server {
    sandbox: GraphqlSandbox,
    served: Served,
    control: Control,
}

impl Server {
    async fn start(datafiles: Vec<Datafile>, auth: Option<&str>) -> Self {
        let sandbox = GraphqlSandbox::new(datafiles, auth.map(str::to_owned));
        let control = Control::new();
        let served = sandbox
            .serve(control.clone())
            .await
            .expect("sandbox serves");
        Self {
            sandbox,
            served,
            control,
        }
    }

    fn source(&self, token: Option<&str>) -> GraphqlSource {
        let settings = fast_http();
        GraphqlSource::try_new(
            &format!("{}/graphql", self.served.url),
            token.map(|t| SecretString::from(t.to_owned())),
            Http::new(settings).expect("client"),
        )
        .expect("valid server URL")
        .with_query_retries(5, Duration::from_millis(1))
    }

    /// `(method, path)` of every request so far.
    fn requests(&self) -> Vec<(String, String)> {
        self.control
            .requests()
            .into_iter()
            .map(|r| (r.method, r.path))
            .collect()
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let resp = reqwest::Client::new()
            .post(format!("{}{path}", self.served.url))
            .header("authorization", TOKEN)
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str, auth: Option<&str>) -> (u16, String) {
        let mut req = reqwest::Client::new().get(format!("{}{path}", self.served.url));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let resp = req.send().await.expect("request");
        (resp.status().as_u16(), resp.text().await.expect("body"))
    }
}

fn without_sha(mut d: AppInterfaceData) -> AppInterfaceData {
    d.bundle_sha = None;
    d
}

/// The examples with one more token spec (a different bundle).
fn modified_datafiles() -> Vec<Datafile> {
    let mut files = example_datafiles();
    files.push((
        "/dynatrace/token-specs/extra.yml".to_owned(),
        json!({
            "$schema": "/dynatrace/dynatrace-token-provider-token-spec-1.yml",
            "name": "extra", "description": "added later", "ocm_org_ids": ["3Org"],
            "secrets": [{"name": "s", "namespace": "ns", "tokens": [{"name": "t", "scopes": ["logs.ingest"]}]}],
        }),
    ));
    files
}

fn spec_names(d: &AppInterfaceData) -> Vec<&str> {
    d.token_specs.iter().map(|s| s.name.as_str()).collect()
}

#[tokio::test]
async fn the_example_datafiles_load_identically_from_the_directory_and_over_graphql() {
    let from_dir = DatafilesSource::new(examples_dir())
        .load()
        .await
        .expect("directory loads");

    assert_eq!(from_dir.dynatrace_environments.len(), 2);
    assert_eq!(from_dir.ocm_environments.len(), 1);
    assert_eq!(spec_names(&from_dir), ["default", "hypershift-hosted"]);
    assert!(from_dir.vault);
    assert_eq!(from_dir.bundle_sha, None);
    let managed = &from_dir.dynatrace_environments[1];
    assert_eq!(
        managed.source.as_deref(),
        Some("/dependencies/dynatrace-environments/def67890.yml")
    );
    assert_eq!(managed.environment_id.as_str(), "def67890");
    assert_eq!(
        managed.api_url(),
        "https://dynatrace.example.com/e/def67890/api"
    );
    assert_eq!(managed.bootstrap_token.version, Some(3));
    assert_eq!(managed.bootstrap_token.format.as_deref(), Some("base64"));
    let ocm = &from_dir.ocm_environments[0];
    assert_eq!(ocm.name.as_str(), "ocm-production");
    assert_eq!(ocm.access_token_client_secret.field, "client_secret");
    let default = &from_dir.token_specs[0];
    assert_eq!(default.secrets.len(), 2);
    assert_eq!(default.secrets[0].tokens[0].key(), "apiToken");
    assert_eq!(
        default.secrets[1].tokens[0].key(),
        "logs",
        "keyNameInSecret falls back to the name"
    );

    let in_memory = from_datafiles(&example_datafiles()).expect("in-memory datafiles load");
    assert_eq!(in_memory, from_dir);

    let server = Server::start(example_datafiles(), Some(TOKEN)).await;
    let over_graphql = server
        .source(Some(TOKEN))
        .load()
        .await
        .expect("GraphQL loads");
    assert_eq!(over_graphql.bundle_sha, server.sandbox.latest_sha());
    assert_eq!(without_sha(over_graphql), from_dir);
}

#[tokio::test]
async fn the_client_pins_one_sha_for_every_query_and_sends_the_token_verbatim() {
    // The sandbox answers 401 unless `Authorization` is exactly TOKEN.
    let server = Server::start(example_datafiles(), Some(TOKEN)).await;
    let data = server.source(Some(TOKEN)).load().await.expect("loads");
    let sha = server.sandbox.latest_sha().expect("a bundle");
    assert_eq!(data.bundle_sha.as_deref(), Some(sha.as_str()));

    let requests = server.requests();
    assert_eq!(requests[0], ("GET".to_owned(), "/sha256".to_owned()));
    let posts: Vec<&String> = requests
        .iter()
        .filter(|(m, _)| m == "POST")
        .map(|(_, p)| p)
        .collect();
    assert_eq!(posts.len(), 4, "one POST per query: {requests:?}");
    assert!(
        posts.iter().all(|p| **p == format!("/graphqlsha/{sha}")),
        "{requests:?}"
    );

    let operations: Vec<String> = server
        .control
        .requests()
        .iter()
        .filter_map(|r| {
            r.body
                .as_ref()?
                .get("operationName")?
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    let mut sorted = operations.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "AppInterfaceVaultSettings",
            "DynatraceEnvironment",
            "DynatraceTokenProviderTokenSpecs",
            "OCMEnvironments"
        ]
    );
    let ocm_body = server
        .control
        .requests()
        .into_iter()
        .find_map(|r| r.body.filter(|b| b["operationName"] == "OCMEnvironments"))
        .expect("the OCM query");
    assert_eq!(ocm_body["variables"], json!({"name": null}));
}

#[tokio::test]
async fn a_bundle_swapped_mid_run_does_not_mix_bundles() {
    let server = Server::start(example_datafiles(), None).await;
    let old_sha = server.sandbox.latest_sha().unwrap();
    server.sandbox.on_next_sha256(|sb| {
        sb.set_datafiles(modified_datafiles());
    });

    let data = server.source(None).load().await.expect("loads");
    let new_sha = server.sandbox.latest_sha().unwrap();
    assert_ne!(old_sha, new_sha, "the server moved on during the load");
    assert_eq!(data.bundle_sha.as_deref(), Some(old_sha.as_str()));
    assert_eq!(
        spec_names(&data),
        ["default", "hypershift-hosted"],
        "only the pinned bundle's data"
    );

    let next = server.source(None).load().await.expect("loads");
    assert_eq!(next.bundle_sha.as_deref(), Some(new_sha.as_str()));
    assert_eq!(spec_names(&next), ["default", "extra", "hypershift-hosted"]);
}

#[tokio::test]
async fn an_expired_bundle_is_re_pinned_to_the_latest_sha_once() {
    let server = Server::start(example_datafiles(), None).await;
    let old_sha = server.sandbox.latest_sha().unwrap();
    server.sandbox.on_next_sha256(move |sb| {
        sb.set_datafiles(modified_datafiles());
        assert!(sb.expire(&old_sha));
    });

    let data = server.source(None).load().await.expect("re-pinned load");
    let new_sha = server.sandbox.latest_sha().unwrap();
    assert_eq!(data.bundle_sha.as_deref(), Some(new_sha.as_str()));
    assert_eq!(spec_names(&data), ["default", "extra", "hypershift-hosted"]);
    let requests = server.requests();
    let sha_reads = requests.iter().filter(|(_, p)| p == "/sha256").count();
    assert_eq!(sha_reads, 2, "read once, re-read once: {requests:?}");
    let new_path = format!("/graphqlsha/{new_sha}");
    assert_eq!(
        requests
            .iter()
            .filter(|(m, p)| m == "POST" && *p == new_path)
            .count(),
        4
    );
}

#[tokio::test]
async fn a_pinned_sha_is_honoured_and_never_re_pinned() {
    let server = Server::start(example_datafiles(), None).await;
    let old_sha = server.sandbox.latest_sha().unwrap();
    server.sandbox.set_datafiles(modified_datafiles());

    let old = server
        .source(None)
        .with_sha(Some(old_sha.clone()))
        .load()
        .await
        .expect("an older bundle stays readable");
    assert_eq!(old.bundle_sha.as_deref(), Some(old_sha.as_str()));
    assert_eq!(spec_names(&old), ["default", "hypershift-hosted"]);

    server.control.clear_requests();
    let err = server
        .source(None)
        .with_sha(Some("0badc0de".into()))
        .load()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AppInterfaceError::BundleNotFound { sha, .. } if sha == "0badc0de"),
        "{err}"
    );
    assert!(
        server.requests().iter().all(|(_, p)| p != "/sha256"),
        "a given sha is not replaced"
    );
}

#[tokio::test]
async fn graphql_errors_and_missing_data_are_retried_then_surfaced() {
    let server = Server::start(example_datafiles(), None).await;
    let fault = |body: Value, times: Option<u32>| FaultRule {
        system: Some("graphql".into()),
        method: Some("POST".into()),
        path_contains: "/graphqlsha/".into(),
        status: 200,
        times,
        body: Some(body),
        ..FaultRule::default()
    };
    server.control.add_fault(fault(
        json!({"errors": [{"message": "resolver exploded"}], "data": null}),
        Some(2),
    ));
    server
        .control
        .add_fault(fault(json!({"extensions": {}}), Some(1)));
    let data = server
        .source(None)
        .load()
        .await
        .expect("transient errors are retried");
    assert_eq!(spec_names(&data), ["default", "hypershift-hosted"]);
    let posts = server
        .requests()
        .iter()
        .filter(|(m, _)| m == "POST")
        .count();
    assert_eq!(posts, 4 + 3, "each failed answer cost one more attempt");

    server.control.clear_faults();
    server.control.add_fault(fault(
        json!({"errors": [{"message": "resolver exploded"}]}),
        None,
    ));
    let err = server.source(None).load().await.unwrap_err();
    match &err {
        AppInterfaceError::Query {
            attempts,
            messages,
            server: srv,
            ..
        } => {
            assert_eq!(*attempts, 5);
            assert_eq!(messages, &["resolver exploded".to_owned()]);
            assert!(srv.starts_with("http://127.0.0.1:"));
        }
        other => panic!("expected a query error, got {other}"),
    }
}

#[tokio::test]
async fn a_wrong_token_gives_an_error_that_does_not_contain_the_token() {
    let server = Server::start(example_datafiles(), Some(TOKEN)).await;
    let wrong = "Basic d3Jvbmc6dG9rZW4tc2VjcmV0";
    let source = server.source(Some(wrong));
    let err = source.load().await.unwrap_err();
    let text = format!("{err} {err:?} {source:?}");
    assert!(text.contains("401"), "{text}");
    assert!(!text.contains("d3Jvbmc6dG9rZW4tc2VjcmV0"), "{text}");
    assert!(!text.contains(TOKEN), "{text}");

    let err = server.source(None).load().await.unwrap_err();
    assert!(err.to_string().contains("HTTP 401"), "{err}");
}

#[tokio::test]
async fn vault_settings_must_be_defined_exactly_once_over_graphql() {
    let mut files = example_datafiles();
    files.push((
        "/app-interface/second-settings.yml".into(),
        json!({"$schema": "/app-interface/app-interface-settings-1.yml", "vault": false}),
    ));
    let server = Server::start(files, None).await;
    let err = server.source(None).load().await.unwrap_err();
    assert!(err.is_invalid_data());
    assert!(
        err.to_string()
            .contains("vault settings not uniquely defined"),
        "{err}"
    );

    let none: Vec<Datafile> = example_datafiles()
        .into_iter()
        .filter(|(p, _)| !p.starts_with("/app-interface/"))
        .collect();
    server.sandbox.set_datafiles(none);
    let err = server.source(None).load().await.unwrap_err();
    assert!(err.to_string().contains("returned 0 element(s)"), "{err}");
}

#[tokio::test]
async fn without_sha_pinning_the_configured_url_is_queried_as_is() {
    let server = Server::start(example_datafiles(), None).await;
    let data = server
        .source(None)
        .with_sha_pinning(false)
        .load()
        .await
        .expect("loads");
    assert_eq!(data.bundle_sha, None);
    let requests = server.requests();
    assert_eq!(requests.len(), 4, "{requests:?}");
    assert!(
        requests.iter().all(|(m, p)| m == "POST" && p == "/graphql"),
        "{requests:?}"
    );
}

#[tokio::test]
async fn every_query_document_validates_against_the_sandbox_schema() {
    let server = Server::start(example_datafiles(), Some(TOKEN)).await;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("graphql");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "graphql") || path.ends_with("schema.graphql") {
            continue;
        }
        let query = std::fs::read_to_string(&path).unwrap();
        let (status, body) = server
            .post("/graphql", json!({"query": query, "variables": null}))
            .await;
        assert_eq!(status, 200, "{}: {body}", path.display());
        assert!(body.get("errors").is_none(), "{}: {body}", path.display());
        let schemas = body["extensions"]["schemas"]
            .as_array()
            .expect("extensions.schemas");
        assert_eq!(schemas.len(), 1, "{}: {body}", path.display());
        checked += 1;
    }
    assert_eq!(checked, 4);
}

#[tokio::test]
async fn an_unknown_field_is_http_400_with_graphql_validation_failed() {
    let server = Server::start(example_datafiles(), Some(TOKEN)).await;
    let (status, body) = server
        .post(
            "/graphql",
            json!({"query": "query Q {\n  dynatrace_environment_v1 { name colour }\n}"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let error = &body["errors"][0];
    assert_eq!(
        error["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
        "{body}"
    );
    assert!(
        error["message"].as_str().unwrap().contains("colour"),
        "{body}"
    );
    assert_eq!(error["locations"][0]["line"], 2, "{body}");
    assert!(body.get("data").is_none(), "{body}");

    let (status, body) = server.post("/graphql", json!({"query": "query {"})).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "GRAPHQL_PARSE_FAILED",
        "{body}"
    );
}

#[tokio::test]
async fn the_sandbox_serves_exactly_the_schema_of_graphql_schema_graphql() {
    use async_graphql::parser::parse_schema;
    use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};

    type Shape = BTreeMap<String, BTreeMap<String, (String, Vec<(String, String)>)>>;
    fn shape(sdl: &str) -> Shape {
        let doc = parse_schema(sdl).expect("SDL parses");
        let mut out = Shape::new();
        for def in doc.definitions {
            let TypeSystemDefinition::Type(t) = def else {
                continue;
            };
            let t = t.node;
            let fields = match t.kind {
                TypeKind::Object(o) => o
                    .fields
                    .into_iter()
                    .map(|f| {
                        let f = f.node;
                        let args = f
                            .arguments
                            .into_iter()
                            .map(|a| (a.node.name.node.to_string(), a.node.ty.node.to_string()))
                            .collect();
                        (f.name.node.to_string(), (f.ty.node.to_string(), args))
                    })
                    .collect(),
                TypeKind::Scalar => BTreeMap::new(),
                _ => panic!("unexpected kind of type {}", t.name.node),
            };
            out.insert(t.name.node.to_string(), fields);
        }
        out
    }
    let ours = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("graphql/schema.graphql"),
    )
    .unwrap();
    let sandbox = GraphqlSandbox::unloaded(None).schema_sdl();
    assert_eq!(shape(&sandbox), shape(&ours), "sandbox SDL:\n{sandbox}");
}

#[tokio::test]
async fn the_sandbox_follows_the_qontract_server_http_contract() {
    let server = Server::start(example_datafiles(), Some(TOKEN)).await;
    let sha = server.sandbox.latest_sha().unwrap();

    assert_eq!(server.get("/sha256", Some(TOKEN)).await, (200, sha.clone()));
    assert_eq!(server.get("/sha256", None).await.0, 401);
    assert_eq!(server.get("/sha256", Some("Basic other")).await.0, 401);

    let (status, body) = server
        .get(&format!("/git-commit-info/{sha}"), Some(TOKEN))
        .await;
    assert_eq!(status, 200);
    let info: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(info["commit"].as_str().unwrap().len(), 40);
    assert!(info["timestamp"].as_str().unwrap().parse::<u64>().is_ok());
    assert_eq!(
        server.get("/git-commit-info/nope", Some(TOKEN)).await,
        (404, "Bundle nope not found".into())
    );

    let (status, body) = server
        .post(
            "/graphqlsha/nope",
            json!({"query": "{ integrations_v1 { name } }"}),
        )
        .await;
    assert_eq!(status, 404);
    assert!(
        body.as_str()
            .unwrap()
            .contains("Cannot POST /graphqlsha/nope"),
        "{body}"
    );

    // `labels` is a JSON scalar: serialized as a JSON string; crossrefs are followed and their
    // schemas reported.
    let (status, body) = server
        .post(
            &format!("/graphqlsha/{sha}"),
            json!({"query": "{ ocm_environments_v1(name: \"ocm-production\") { labels telemeter { name path } } }"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let env = &body["data"]["ocm_environments_v1"][0];
    assert_eq!(env["labels"], "{\"service\":\"ocm\"}");
    assert_eq!(env["telemeter"]["name"], "telemeter-production");
    assert_eq!(
        body["extensions"]["schemas"],
        json!([
            "/openshift/openshift-cluster-manager-environment-1.yml",
            "/dependencies/prometheus-instance-1.yml"
        ])
    );

    // qontract-server filters: `in`, `ne`, nested, and an unknown field.
    let query = |filter: Value| json!({"query": "query F($f: JSON) { dynatrace_environment_v1(filter: $f) { name } }", "variables": {"f": filter}});
    let (_, body) = server
        .post(
            "/graphql",
            query(json!({"environmentID": {"in": ["def67890"]}})),
        )
        .await;
    assert_eq!(
        body["data"]["dynatrace_environment_v1"],
        json!([{"name": "dt-managed-stage"}])
    );
    let (_, body) = server
        .post(
            "/graphql",
            query(json!({"name": {"ne": "dt-managed-stage"}})),
        )
        .await;
    assert_eq!(
        body["data"]["dynatrace_environment_v1"],
        json!([{"name": "dt-saas-production"}])
    );
    let (_, body) = server
        .post(
            "/graphql",
            query(json!({"bootstrapToken": {"filter": {"version": 3}}})),
        )
        .await;
    assert_eq!(
        body["data"]["dynatrace_environment_v1"],
        json!([{"name": "dt-managed-stage"}])
    );
    let (status, body) = server
        .post("/graphql", query(json!({"colour": "blue"})))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_FILTER_FIELD",
        "{body}"
    );

    // A missing required field is a resolver error, as in graphql-js.
    server.sandbox.set_datafiles(vec![(
        "/dt.yml".into(),
        json!({"$schema": "/dependencies/dynatrace-environment-1.yml", "name": "x"}),
    )]);
    let (status, body) = server
        .post(
            "/graphql",
            json!({"query": "{ dynatrace_environment_v1 { description } }"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["errors"][0]["message"],
        "Cannot return null for non-nullable field DynatraceEnvironment_v1.description."
    );

    let unloaded = GraphqlSandbox::unloaded(None);
    let control = Control::new();
    let served = unloaded.serve(control).await.unwrap();
    let resp = reqwest::get(format!("{}/sha256", served.url))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    assert_eq!(resp.text().await.unwrap(), "No loaded data.");
}

#[tokio::test]
async fn bad_datafiles_report_every_problem_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let write = |rel: &str, text: &str| {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write(
        "dependencies/dt.yml",
        "$schema: /dependencies/dynatrace-environment-1.yml\nname: dt\nenvironmentID: abc\nenvironmentUrl: https://abc.live.dynatrace.com\nbootstrapToken: {path: p, field: f}\n",
    );
    write(
        "dynatrace/spec.yml",
        "$schema: /dynatrace/dynatrace-token-provider-token-spec-1.yml\nname: s\ndescription: d\nocm_org_ids: [o]\ncolour: blue\nsecrets: []\n",
    );
    write(
        "dynatrace/scopes.yml",
        "$schema: /dynatrace/dynatrace-token-provider-token-spec-1.yml\nname: s2\ndescription: d\nocm_org_ids: o\nsecrets: []\n",
    );
    write(
        "openshift/broken.yml",
        "$schema: /openshift/openshift-cluster-manager-environment-1.yml\nname: [unclosed\n",
    );
    write("templates/broken.yml", "{{ not: yaml: at all\n");
    write(
        "app-interface/a.yml",
        "$schema: /app-interface/app-interface-settings-1.yml\nvault: true\n",
    );
    write(
        "app-interface/b.yml",
        "$schema: /app-interface/app-interface-settings-1.yml\nvault: false\nname: b\n",
    );

    let err = DatafilesSource::new(dir.path().to_path_buf())
        .load()
        .await
        .unwrap_err();
    assert!(err.is_invalid_data());
    let problems = err.problems();
    assert_eq!(problems.len(), 5, "{problems:#?}");
    let find = |prefix: &str| {
        problems
            .iter()
            .find(|p| p.starts_with(prefix))
            .unwrap_or_else(|| panic!("no problem for {prefix}: {problems:#?}"))
    };
    assert!(find("/dependencies/dt.yml: ").contains("missing field `description`"));
    assert!(find("/dynatrace/spec.yml: ").contains("unknown field `colour`"));
    assert!(
        find("/dynatrace/scopes.yml: ").contains("line 4"),
        "{problems:#?}"
    );
    assert!(find("/openshift/broken.yml: invalid YAML").contains("line"));
    assert!(
        find("vault settings not uniquely defined")
            .contains("/app-interface/a.yml, /app-interface/b.yml")
    );
    let text = err.to_string();
    assert!(
        text.starts_with("5 problem(s) in app-interface datafiles:"),
        "{text}"
    );
}

#[tokio::test]
async fn a_missing_directory_is_a_datafiles_error_naming_it() {
    let err = DatafilesSource::new(PathBuf::from("/nonexistent/app-interface"))
        .load()
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/app-interface"),
        "{err}"
    );
}

#[tokio::test]
async fn without_a_settings_file_secrets_come_from_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("spec.yaml"),
        "$schema: /dynatrace/dynatrace-token-provider-token-spec-1.yml\nname: s\ndescription: d\nocm_org_ids: [o]\nsecrets: []\n",
    )
    .unwrap();
    let data = DatafilesSource::new(dir.path().to_path_buf())
        .load()
        .await
        .unwrap();
    assert!(!data.vault);
    assert_eq!(data.token_specs[0].source.as_deref(), Some("/spec.yaml"));
}
