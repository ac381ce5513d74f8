//! The log-rules reconciler's app-interface inputs: clusters with a Dynatrace environment and
//! their logging namespaces, from a datafiles directory (trees written by each test) and over
//! GraphQL (the sandbox qontract-server loaded with the same tree), which must agree; the bad
//! inputs each give a problem naming the datafile; the token reconciler's load is unchanged.

use dtp::clients::AppInterfaceSource;
use dtp::clients::appinterface::{
    AppInterfaceError, DatafilesSource, GraphqlSource, LOG_RULES_INTEGRATION, read_datafiles,
};
use dtp::clients::http::{Http, HttpSettings};
use dtp::model::{LogRulesCluster, LogRulesInput};
use dtp::sandbox::common::Control;
use dtp::sandbox::graphql::GraphqlSandbox;
use serde_json::json;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

const DT: &str = "/dependencies/dynatrace-environment-1.yml";
const CLUSTER: &str = "/openshift/cluster-1.yml";
const NAMESPACE: &str = "/openshift/namespace-1.yml";

fn write(dir: &Path, path: &str, text: &str) {
    let file = dir.join(path.trim_start_matches('/'));
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(file, text).unwrap();
}

fn environment(dir: &Path, path: &str, name: &str) {
    write(
        dir,
        path,
        &format!(
            "$schema: {DT}\nname: {name}\ndescription: d\nenvironmentID: {name}\n\
             environmentUrl: https://{name}.live.dynatrace.com\n\
             bootstrapToken: {{path: app-sre/dt/{name}, field: token}}\n"
        ),
    );
}

/// A cluster datafile; `env` is the `$ref` of its `dynatraceEnvironment`, `extra` more YAML.
fn cluster(dir: &Path, path: &str, name: &str, env: Option<&str>, extra: &str) {
    let env = env
        .map(|e| format!("dynatraceEnvironment:\n  $ref: {e}\n"))
        .unwrap_or_default();
    write(
        dir,
        path,
        &format!(
            "$schema: {CLUSTER}\nlabels: {{}}\nname: {name}\ndescription: the {name} cluster\n\
             serverUrl: https://api.{name}.example.com:6443\n{env}{extra}"
        ),
    );
}

/// A namespace datafile; `extra` is more YAML (`enableDynatraceLogging`, `delete`).
fn namespace(dir: &Path, path: &str, name: &str, cluster: &str, extra: &str) {
    write(
        dir,
        path,
        &format!(
            "$schema: {NAMESPACE}\nlabels: {{}}\nname: {name}\ndescription: ns {name}\n\
             cluster:\n  $ref: {cluster}\napp:\n  $ref: /services/app.yml\n{extra}"
        ),
    );
}

const ON: &str = "enableDynatraceLogging: true\n";

/// The happy-path tree: `c1` with two logging namespaces (and one deleted, one off, one
/// without the field), `c2` with logging all off, `c3` disabled for the reconciler, `c4`
/// without an environment.
fn happy_tree(dir: &Path) {
    environment(dir, "/dependencies/dynatrace/dt-a.yml", "dt-a");
    environment(dir, "/dependencies/dynatrace/dt-b.yml", "dt-b");
    let dt_a = "/dependencies/dynatrace/dt-a.yml";
    cluster(dir, "/openshift/c1/cluster.yml", "c1", Some(dt_a), "");
    for (ns, extra) in [
        ("ns-b", ON),
        ("ns-a", ON),
        ("ns-gone", "enableDynatraceLogging: true\ndelete: true\n"),
        ("ns-off", "enableDynatraceLogging: false\n"),
        ("ns-plain", ""),
    ] {
        let path = format!("/openshift/c1/namespaces/{ns}.yml");
        namespace(dir, &path, ns, "/openshift/c1/cluster.yml", extra);
    }
    let dt_b = "/dependencies/dynatrace/dt-b.yml";
    cluster(dir, "/openshift/c2/cluster.yml", "c2", Some(dt_b), "");
    namespace(
        dir,
        "/openshift/c2/namespaces/x.yml",
        "x",
        "/openshift/c2/cluster.yml",
        "enableDynatraceLogging: false\n",
    );
    let disabled = format!("disable:\n  integrations:\n  - other\n  - {LOG_RULES_INTEGRATION}\n");
    cluster(
        dir,
        "/openshift/c3/cluster.yml",
        "c3",
        Some(dt_a),
        &disabled,
    );
    namespace(
        dir,
        "/openshift/c3/ns.yml",
        "y",
        "/openshift/c3/cluster.yml",
        ON,
    );
    cluster(dir, "/openshift/c4/cluster.yml", "c4", None, "");
    namespace(
        dir,
        "/openshift/c4/ns.yml",
        "z",
        "/openshift/c4/cluster.yml",
        ON,
    );
    write(
        dir,
        "/services/app.yml",
        "$schema: /app-sre/app-1.yml\nname: app\n",
    );
}

fn expected_happy() -> LogRulesInput {
    let set = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<BTreeSet<_>>();
    LogRulesInput {
        clusters: vec![
            LogRulesCluster {
                name: "c1".into(),
                path: "/openshift/c1/cluster.yml".into(),
                environment: "dt-a".into(),
                namespaces: set(&["ns-a", "ns-b"]),
            },
            LogRulesCluster {
                name: "c2".into(),
                path: "/openshift/c2/cluster.yml".into(),
                environment: "dt-b".into(),
                namespaces: set(&[]),
            },
        ],
    }
}

async fn from_dir(dir: &Path) -> Result<LogRulesInput, AppInterfaceError> {
    DatafilesSource::new(dir.to_path_buf())
        .load_log_rules()
        .await
}

struct Server {
    _sandbox: GraphqlSandbox,
    control: Control,
    source: GraphqlSource,
}

async fn server(dir: &Path) -> Server {
    let sandbox = GraphqlSandbox::new(read_datafiles(dir).expect("tree reads"), None);
    let control = Control::new();
    let served = sandbox.serve(control.clone()).await.expect("serves");
    let settings = HttpSettings {
        timeout: Duration::from_secs(10),
        max_retries: 1,
        min_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        ..HttpSettings::default()
    };
    let source = GraphqlSource::try_new(
        &format!("{}/graphql", served.url),
        None,
        Http::new(settings).expect("client"),
    )
    .expect("valid URL")
    .with_query_retries(2, Duration::from_millis(1));
    Server {
        _sandbox: sandbox,
        control,
        source,
    }
}

fn problems(r: Result<LogRulesInput, AppInterfaceError>) -> Vec<String> {
    let e = r.expect_err("must fail");
    assert!(e.is_invalid_data(), "{e}");
    e.problems()
}

#[tokio::test]
async fn the_happy_tree_gives_the_logging_clusters_and_namespaces() {
    let dir = tempfile::tempdir().unwrap();
    happy_tree(dir.path());
    assert_eq!(from_dir(dir.path()).await.unwrap(), expected_happy());
}

#[tokio::test]
async fn graphql_gives_the_same_input_from_one_pinned_bundle() {
    let dir = tempfile::tempdir().unwrap();
    happy_tree(dir.path());
    let server = server(dir.path()).await;
    let input = server.source.load_log_rules().await.expect("graphql loads");
    assert_eq!(input, expected_happy());
    assert_eq!(input, from_dir(dir.path()).await.unwrap());
    let posts: Vec<String> = server
        .control
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.path)
        .collect();
    assert_eq!(posts.len(), 2, "{posts:?}");
    assert!(
        posts.iter().all(|p| p.starts_with("/graphqlsha/")),
        "{posts:?}"
    );
}

#[tokio::test]
async fn the_token_load_is_unchanged_by_cluster_and_namespace_files() {
    let dir = tempfile::tempdir().unwrap();
    happy_tree(dir.path());
    write(
        dir.path(),
        "/app-interface/settings.yml",
        "$schema: /app-interface/app-interface-settings-1.yml\nvault: false\n",
    );
    let data = DatafilesSource::new(dir.path().to_path_buf())
        .load()
        .await
        .expect("token inputs load");
    assert_eq!(data.dynatrace_environments.len(), 2);
    assert!(data.token_specs.is_empty() && data.ocm_environments.is_empty());
    let server = server(dir.path()).await;
    let mut over_graphql = server.source.load().await.expect("graphql loads");
    over_graphql.bundle_sha = None;
    assert_eq!(over_graphql, data);
}

#[tokio::test]
async fn an_invalid_namespace_name_is_a_problem_naming_its_datafile() {
    let dir = tempfile::tempdir().unwrap();
    happy_tree(dir.path());
    let c1 = "/openshift/c1/cluster.yml";
    namespace(dir.path(), "/openshift/c1/bad.yml", "Bad_NS", c1, ON);
    let long = "n".repeat(64);
    namespace(dir.path(), "/openshift/c1/long.yml", &long, c1, ON);
    // Not looked at: deleted, or logging off.
    let deleted = "enableDynatraceLogging: true\ndelete: true\n";
    namespace(dir.path(), "/openshift/c1/del.yml", "Also_Bad", c1, deleted);
    namespace(dir.path(), "/openshift/c1/off.yml", "Off_Bad", c1, "");
    for result in [
        from_dir(dir.path()).await,
        server(dir.path()).await.source.load_log_rules().await,
    ] {
        let p = problems(result);
        assert_eq!(p.len(), 2, "{p:#?}");
        assert!(
            p[0].starts_with(
                "/openshift/c1/bad.yml: 'Bad_NS' is not a valid Kubernetes namespace name"
            ),
            "{p:?}"
        );
        assert!(p[1].starts_with("/openshift/c1/long.yml: "), "{p:?}");
    }
}

#[tokio::test]
async fn an_environment_ref_to_an_unknown_file_is_a_problem_naming_the_cluster() {
    let dir = tempfile::tempdir().unwrap();
    happy_tree(dir.path());
    cluster(
        dir.path(),
        "/openshift/c5/cluster.yml",
        "c5",
        Some("/dependencies/gone.yml"),
        "",
    );
    cluster(
        dir.path(),
        "/openshift/c6/cluster.yml",
        "c6",
        Some("/services/app.yml"),
        "",
    );
    let p = problems(from_dir(dir.path()).await);
    assert_eq!(p.len(), 2, "{p:#?}");
    assert!(
        p[0].starts_with("/openshift/c5/cluster.yml: dynatraceEnvironment '/dependencies/gone.yml' is not a known Dynatrace environment"),
        "{p:?}"
    );
    assert!(
        p[1].starts_with("/openshift/c6/cluster.yml: dynatraceEnvironment '/services/app.yml'"),
        "{p:?}"
    );

    let p = problems(server(dir.path()).await.source.load_log_rules().await);
    assert_eq!(p.len(), 2, "{p:#?}");
    assert!(
        p[0].starts_with("/openshift/c5/cluster.yml: dynatraceEnvironment "),
        "{p:?}"
    );
    assert!(p[1].starts_with("/openshift/c6/cluster.yml: dynatraceEnvironment '/services/app.yml' is not a known Dynatrace environment"), "{p:?}");
}

#[tokio::test]
async fn a_cluster_name_in_two_datafiles_is_a_problem_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    happy_tree(dir.path());
    let dt = Some("/dependencies/dynatrace/dt-b.yml");
    cluster(dir.path(), "/openshift/copy/cluster.yml", "c1", dt, "");
    for result in [
        from_dir(dir.path()).await,
        server(dir.path()).await.source.load_log_rules().await,
    ] {
        let p = problems(result);
        assert_eq!(
            p,
            [
                "cluster 'c1' is defined by 2 datafiles: /openshift/c1/cluster.yml, /openshift/copy/cluster.yml"
            ]
        );
    }
}

#[tokio::test]
async fn a_namespace_whose_cluster_does_not_resolve_is_a_problem_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    happy_tree(dir.path());
    namespace(
        dir.path(),
        "/openshift/lost.yml",
        "lost",
        "/openshift/nope/cluster.yml",
        ON,
    );
    // A namespace with logging off is not looked at.
    namespace(
        dir.path(),
        "/openshift/lost-off.yml",
        "x",
        "/openshift/nope.yml",
        "",
    );
    let p = problems(from_dir(dir.path()).await);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(
        p[0].starts_with(
            "/openshift/lost.yml: cluster '/openshift/nope/cluster.yml' does not resolve"
        ),
        "{p:?}"
    );
    // qontract-server never serves a dangling ref (the bundle would not load); the sandbox
    // answers with a null-for-non-null error, so the load fails with the query named.
    let err = server(dir.path())
        .await
        .source
        .load_log_rules()
        .await
        .unwrap_err();
    assert!(
        matches!(err, AppInterfaceError::Query { ref query, .. } if query == "LogRulesNamespaces"),
        "{err}"
    );
}

#[tokio::test]
async fn schema_family_rules_and_broken_files_are_problems_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    happy_tree(dir.path());
    write(
        dir.path(),
        "/openshift/v2.yml",
        "$schema: /openshift/cluster-2.yml\nname: v2\n",
    );
    write(
        dir.path(),
        "/openshift/typo.yml",
        "$schema: /openshift/namespce-1.yml\nname: t\n",
    );
    write(
        dir.path(),
        "/openshift/broken.yml",
        &format!("$schema: {CLUSTER}\nname: [x\n"),
    );
    write(
        dir.path(),
        "/openshift/noname.yml",
        &format!("$schema: {NAMESPACE}\ncluster: {{$ref: /x.yml}}\n"),
    );
    write(
        dir.path(),
        "/other/broken.yml",
        "$schema: /app-sre/app-1.yml\nname: [x\n",
    );
    let p = problems(from_dir(dir.path()).await);
    assert_eq!(p.len(), 4, "{p:#?}");
    assert!(
        p[0].starts_with("/openshift/broken.yml: invalid YAML"),
        "{p:?}"
    );
    assert!(
        p[1].starts_with("/openshift/noname.yml: ") && p[1].contains("name"),
        "{p:?}"
    );
    assert!(
        p[2].contains("/openshift/typo.yml: $schema '/openshift/namespce-1.yml'")
            && p[2].contains(&format!("did you mean '{NAMESPACE}'")),
        "{p:?}"
    );
    assert!(p[3].contains(&format!("/openshift/v2.yml: $schema '/openshift/cluster-2.yml' is not a schema dtp reads (did you mean '{CLUSTER}'?)")), "{p:?}");
}

#[tokio::test]
async fn the_log_rules_query_documents_validate_and_filter_on_the_server() {
    let dir = tempfile::tempdir().unwrap();
    happy_tree(dir.path());
    let sandbox = GraphqlSandbox::new(read_datafiles(dir.path()).unwrap(), None);
    let served = sandbox.serve(Control::new()).await.unwrap();
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("graphql/log_rules");
    let cases = [
        (
            "clusters.graphql",
            json!({"dynatraceEnvironment": {"ne": null}}),
            "clusters",
            3,
        ),
        (
            "namespaces.graphql",
            json!({"enableDynatraceLogging": true}),
            "namespaces",
            5,
        ),
    ];
    for (file, filter, key, count) in cases {
        let query = std::fs::read_to_string(docs.join(file)).unwrap();
        let resp = reqwest::Client::new()
            .post(format!("{}/graphql", served.url))
            .json(&json!({"query": query, "variables": {"filter": filter}}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{file}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert!(body.get("errors").is_none(), "{file}: {body}");
        let items = body["data"][key].as_array().expect("a list");
        assert_eq!(items.len(), count, "{file}: {body}");
    }
}
