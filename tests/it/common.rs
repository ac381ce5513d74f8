//! Fixture builders shared by the black-box tests: the Python integration's test world
//! (`conftest.py`/`fixtures.py`: specs `default`, `regional-spec`, `slo-spec`, cluster
//! `cluster_a`/`external_id_a` in org `ocm_org_id_a`), expressed as a sandbox fixture.

use dtp::cli::{self, Env, SourceArgs};
use dtp::clients::http::{Http, HttpSettings};
use dtp::config::{Mode, SourceConfig};
use dtp::deps;
use dtp::reconcile::{self, Dependencies, Report, RunError, RunOptions};
use dtp::sandbox::Sandbox;
use dtp::sandbox::common::Recorded;
use serde_json::{Value, json};

pub const OPERATOR_SCOPES: [&str; 6] = [
    "activeGateTokenManagement.create",
    "entities.read",
    "settings.write",
    "settings.read",
    "DataExport",
    "InstallerDownload",
];
pub const INGESTION_SCOPES: [&str; 3] = ["metrics.ingest", "logs.ingest", "events.ingest"];
pub const OPERATOR_NAME: &str = "dtp_operator-token_external_id_a_1b6c3b9a7248";
pub const INGESTION_NAME: &str = "dtp_ingestion-token_external_id_a_f6e7fac64719";
pub const CLIENT_SECRET: &str = "ocm-client-secret-for-tests";
pub const ENV: &str = "ocm-env";

pub fn bootstrap(tenant: &str) -> String {
    format!("dt0c01.BOOTSTRAP{:0>15}.{}", tenant.len(), tenant.repeat(3))
}

fn spec(name: &str, secret: &str, tokens: &[(&str, &str, &[&str])]) -> Value {
    json!({
        "$schema": "/dynatrace/dynatrace-token-provider-token-spec-1.yml",
        "name": name,
        "description": name,
        "ocm_org_ids": ["ocm_org_id_a"],
        "secrets": [{
            "name": secret,
            "namespace": "dynatrace",
            "tokens": tokens.iter().map(|(n, k, s)| json!({"name": n, "keyNameInSecret": k, "scopes": s})).collect::<Vec<_>>(),
        }],
    })
}

fn tenant_file(id: &str) -> Value {
    json!({
        "$schema": "/dependencies/dynatrace-environment-1.yml",
        "name": format!("dt-{id}"),
        "description": id,
        "environmentID": id,
        "environmentUrl": format!("${{DYNATRACE_URL}}/e/{id}"),
        "bootstrapToken": {"path": format!("dynatrace/{id}"), "field": "bootstrap_token"},
    })
}

/// The Python test world, with no cluster yet.
pub fn world() -> Value {
    let operator = ("operator-token", "apiToken", &OPERATOR_SCOPES[..]);
    let ingestion = ("ingestion-token", "dataIngestToken", &INGESTION_SCOPES[..]);
    let tenants = ["dt_tenant_a", "regional-tenant", "slo-tenant"];
    let mut datafiles = serde_json::Map::new();
    datafiles.insert(
        "/app-interface/settings.yml".into(),
        json!({"$schema": "/app-interface/app-interface-settings-1.yml", "vault": false}),
    );
    for t in tenants {
        datafiles.insert(format!("/dependencies/dynatrace/{t}.yml"), tenant_file(t));
    }
    datafiles.insert(
        "/openshift/ocm-env.yml".into(),
        json!({
            "$schema": "/openshift/openshift-cluster-manager-environment-1.yml",
            "name": ENV,
            "description": "test",
            "labels": {},
            "url": "${OCM_URL:ocm-env}",
            "accessTokenClientId": "dtp",
            "accessTokenUrl": "${OCM_URL:ocm-env}/auth/realms/redhat-external/protocol/openid-connect/token",
            "accessTokenClientSecret": {"path": "ocm/ocm-env", "field": "client_secret"},
        }),
    );
    datafiles.insert(
        "/dynatrace/default.yml".into(),
        spec("default", "dynatrace-token-dtp", &[operator, ingestion]),
    );
    datafiles.insert(
        "/dynatrace/regional.yml".into(),
        spec(
            "regional-spec",
            "dynatrace-token-dtp",
            &[operator, ingestion],
        ),
    );
    datafiles.insert(
        "/dynatrace/slo.yml".into(),
        spec("slo-spec", "dynatrace-slo-token-dtp", &[ingestion]),
    );
    let mut dt_secrets = serde_json::Map::new();
    for t in tenants {
        dt_secrets.insert(t.into(), json!({"bootstrap_token": bootstrap(t)}));
    }
    json!({
        "app_interface": {"datafiles": datafiles},
        "ocm": {ENV: {"clients": [{"client_id": "dtp", "client_secret": CLIENT_SECRET}], "clusters": []}},
        "dynatrace": {"tenants": tenants.iter().map(|t| json!({"id": t, "bootstrap_token": bootstrap(t), "tokens": []})).collect::<Vec<_>>()},
        "config_secrets": {"ocm": {ENV: {"client_secret": CLIENT_SECRET}}, "dynatrace": dt_secrets},
    })
}

pub fn v2_labels(tenant: &str, spec: &str) -> Value {
    json!({"sre-capabilities.dtp.v2.tenant": tenant, "sre-capabilities.dtp.v2.token-spec": spec})
}

/// `default_cluster_v3`: regional + slo bindings.
pub fn v3_labels() -> Value {
    json!({
        "sre-capabilities.dtp.v3.regional.tenant": "regional-tenant",
        "sre-capabilities.dtp.v3.regional.token-spec": "regional-spec",
        "sre-capabilities.dtp.v3.slo.tenant": "slo-tenant",
        "sre-capabilities.dtp.v3.slo.token-spec": "slo-spec",
    })
}

/// Adds `cluster_a` (or another) to the world.
pub fn add_cluster<'a>(
    world: &'a mut Value,
    id: &str,
    uuid: &str,
    org: &str,
    hcp: bool,
    labels: Value,
) -> &'a mut Value {
    let clusters = world["ocm"][ENV]["clusters"]
        .as_array_mut()
        .expect("clusters");
    clusters.push(json!({
        "id": id,
        "external_id": uuid,
        "name": id,
        "organization": org,
        "product": if hcp { "rosa" } else { "osd" },
        "hcp": hcp,
        "labels": labels,
    }));
    clusters.last_mut().expect("pushed")
}

/// A Secret exactly as the Python integration writes it, for `tenant`.
pub fn python_secret(name: &str, tenant: &str, tokens: &[(&str, &str, &str)]) -> Value {
    let mut data = serde_json::Map::new();
    data.insert(
        "apiUrl".into(),
        json!(format!("${{base64:${{DYNATRACE_URL}}/e/{tenant}/api}}")),
    );
    for (key, id, value) in tokens {
        data.insert((*key).into(), json!(b64(value)));
        data.insert(format!("{key}Id"), json!(b64(id)));
    }
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": "dynatrace",
            "annotations": {"qontract.integration": "dynatrace-token-provider", "qontract.integration_version": "2.0.1"},
        },
        "data": data,
    })
}

/// A Dynatrace-shaped token id (`dt0c01.<24 chars>`) for a short name such as `id1`.
pub fn tid(n: &str) -> String {
    format!("dt0c01.{:X<24}", n.to_uppercase())
}

/// The token value belonging to [`tid`]`(n)`.
pub fn tval(n: &str) -> String {
    format!("{}.{:S<64}", tid(n), n.to_uppercase())
}

pub fn b64(s: &str) -> String {
    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, s)
}

pub fn unb64(v: &Value) -> String {
    let s = v.as_str().expect("base64 string");
    String::from_utf8(
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, s).expect("b64"),
    )
    .expect("utf8")
}

/// A token in Dynatrace.
pub fn dt_token(
    world: &mut Value,
    tenant: &str,
    id: &str,
    name: &str,
    token: &str,
    scopes: &[&str],
) {
    let tenants = world["dynatrace"]["tenants"]
        .as_array_mut()
        .expect("tenants");
    let t = tenants
        .iter_mut()
        .find(|t| t["id"] == tenant)
        .expect("tenant");
    t["tokens"].as_array_mut().expect("tokens").push(json!({
        "id": id, "name": name, "token": token, "scopes": scopes, "enabled": true,
    }));
}

/// A started sandbox plus dependencies pointing at it (through config.toml, as a user runs it).
pub struct Harness {
    pub sandbox: Sandbox,
    pub deps: Dependencies,
    pub _dir: tempfile::TempDir,
}

/// The source configuration and HTTP settings of a test, built the way `dtp` builds them.
#[derive(Clone, Debug)]
pub struct TestSettings {
    pub source: SourceConfig,
    pub http: HttpSettings,
}

impl TestSettings {
    /// The one HTTP client of the test "process".
    pub fn http(&self) -> Http {
        Http::new(self.http.clone()).expect("http client")
    }
    pub fn dependencies(&self) -> Dependencies {
        deps::dependencies(&self.source, &self.http())
    }
}

/// Settings from source flags, as `dtp` builds them (no environment).
pub fn settings_from(args: &SourceArgs) -> TestSettings {
    let source = cli::source_config(args, &Env::default()).expect("source config");
    let mut http = deps::http_settings(&source);
    http.min_backoff = std::time::Duration::from_millis(10);
    http.max_backoff = std::time::Duration::from_millis(50);
    TestSettings { source, http }
}

/// Settings for a running sandbox, through a config.toml written into `dir` (as a user
/// configures dtp), with short retry backoffs so that failing tests stay fast.
pub fn settings_for(sandbox: &Sandbox, dir: &std::path::Path) -> TestSettings {
    let config = dir.join("config.toml");
    std::fs::write(&config, sandbox.config_toml()).expect("config written");
    settings_from(&SourceArgs {
        config: Some(config),
        ..SourceArgs::default()
    })
}

pub async fn start(world: &Value) -> Harness {
    let sandbox = Sandbox::start_yaml(&world.to_string())
        .await
        .expect("sandbox starts");
    let dir = tempfile::tempdir().expect("tempdir");
    let deps = settings_for(&sandbox, dir.path()).dependencies();
    Harness {
        sandbox,
        deps,
        _dir: dir,
    }
}

/// Apply, or a dry-run.
pub fn mode(dry_run: bool) -> Mode {
    if dry_run { Mode::DryRun } else { Mode::Apply }
}

impl Harness {
    pub async fn run(&self, dry_run: bool) -> Result<Report, RunError> {
        let opts = RunOptions {
            mode: mode(dry_run),
            ..RunOptions::default()
        };
        reconcile::run(&self.deps, &opts).await
    }

    /// An apply with these options (the request log cleared first); the report and the
    /// writes it made.
    pub async fn apply_with(&self, opts: RunOptions) -> (Report, Vec<Recorded>) {
        self.sandbox.control.clear_requests();
        let opts = RunOptions {
            mode: Mode::Apply,
            ..opts
        };
        let report = reconcile::run(&self.deps, &opts).await.expect("run starts");
        (report, self.sandbox.control.writes())
    }

    /// Runs and clears the request log first; returns the report and the writes it made.
    pub async fn run_writes(&self, dry_run: bool) -> (Report, Vec<Recorded>) {
        self.sandbox.control.clear_requests();
        let report = self.run(dry_run).await.expect("run starts");
        (report, self.sandbox.control.writes())
    }

    pub fn syncset(&self, cluster: &str) -> Option<Vec<Value>> {
        self.sandbox.ocm_env(ENV).syncset(cluster)
    }
    pub fn manifest(&self, cluster: &str) -> Option<Vec<Value>> {
        self.sandbox.ocm_env(ENV).manifest(cluster)
    }
}

/// Writes to Dynatrace token endpoints of `tenant`, as (method, name).
pub fn token_writes<'a>(writes: &'a [Recorded], tenant: &str, method: &str) -> Vec<&'a Recorded> {
    writes
        .iter()
        .filter(|w| {
            w.method == method && w.path.starts_with(&format!("/e/{tenant}/api/v2/apiTokens"))
        })
        .collect()
}

pub fn ocm_writes<'a>(writes: &'a [Recorded], what: &str) -> Vec<&'a Recorded> {
    writes
        .iter()
        .filter(|w| w.system.starts_with("ocm") && w.path.contains(what))
        .collect()
}

pub fn scopes(v: &[&str]) -> Value {
    json!(v)
}

/// The configuration `dtp run` builds from `env` (app-interface from a directory).
pub fn run_config(env: &Env) -> Result<dtp::config::RunConfig, cli::Invalid> {
    use clap::Parser;
    let dir = std::env::temp_dir();
    let args = cli::Cli::try_parse_from([
        "dtp",
        "run",
        "--app-interface-dir",
        dir.to_str().expect("utf-8 temp dir"),
    ])
    .expect("parses");
    match cli::build(&args, env)?.command {
        dtp::config::Command::Run(c) => Ok(*c),
        _ => unreachable!("run"),
    }
}

/// A Dynatrace environment as app-interface describes it, for a sandbox tenant at `url`.
pub fn dynatrace_environment(tenant: &str, url: &str) -> dtp::model::DynatraceEnvironment {
    dtp::model::DynatraceEnvironment {
        name: format!("dt-{tenant}"),
        environment_id: dtp::model::TenantId::new(tenant),
        environment_url: url.to_owned(),
        bootstrap_token: dtp::model::VaultSecretRef {
            path: format!("app-sre/dynatrace/{tenant}"),
            field: "token".into(),
            version: None,
            format: None,
        },
        source: None,
    }
}
