//! The simulated fleet of one bench case: `n` clusters over two OCM environments and `tenants`
//! Dynatrace tenants, ~75 % of them labelled (managed), a third of those HCP; two token specs
//! (3 and 4 tokens, ~3.7 per cluster), every secret in Vault. Built as sandbox fixture JSON
//! plus the Vault secrets to write.

use serde_json::{Value, json};

pub const ENVS: [&str; 2] = ["ocm-a", "ocm-b"];
const ORGS: usize = 20;
const CLIENT_SECRET: &str = "bench-client-secret";

/// What a case's world is made of.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub clusters: usize,
    pub tenants: usize,
}

pub fn tenant_id(t: usize) -> String {
    format!("bench{t:04}")
}

fn bootstrap_token(t: usize) -> String {
    format!("dt0c01.BENCHBOOT{t:04}000000000000.{:0>64}", t)
}

fn uuid(i: usize) -> String {
    format!("{i:08x}-0000-4000-8000-{i:012x}")
}

/// Whether cluster `i` carries dtp labels (3 in 4 do).
pub fn managed(i: usize) -> bool {
    i % 4 != 3
}

pub fn managed_count(shape: Shape) -> usize {
    (0..shape.clusters).filter(|i| managed(*i)).count()
}

fn token(name: &str, key: &str, scopes: &[&str]) -> Value {
    json!({"name": name, "keyNameInSecret": key, "scopes": scopes})
}

fn specs() -> Vec<Value> {
    let orgs: Vec<String> = (0..ORGS).map(|o| format!("org-{o:02}")).collect();
    let operator = token(
        "operator-token",
        "apiToken",
        &[
            "activeGateTokenManagement.create",
            "entities.read",
            "settings.write",
            "settings.read",
            "DataExport",
            "InstallerDownload",
        ],
    );
    let ingest = token(
        "ingestion-token",
        "dataIngestToken",
        &["metrics.ingest", "logs.ingest", "events.ingest"],
    );
    let logs = token("log-token", "logToken", &["logs.ingest"]);
    let read = token("read-token", "readToken", &["entities.read", "DataExport"]);
    vec![
        json!({"$schema": "/dynatrace/dynatrace-token-provider-token-spec-1.yml", "name": "default",
        "description": "four tokens", "ocm_org_ids": orgs, "secrets": [
            {"name": "dynatrace-token-dtp", "namespace": "dynatrace", "tokens": [operator, ingest]},
            {"name": "dynatrace-logs", "namespace": "openshift-logging", "tokens": [logs, read]},
        ]}),
        json!({"$schema": "/dynatrace/dynatrace-token-provider-token-spec-1.yml", "name": "small",
        "description": "three tokens", "ocm_org_ids": orgs, "secrets": [
            {"name": "dynatrace-token-dtp", "namespace": "dynatrace", "tokens": [operator, ingest]},
            {"name": "dynatrace-logs", "namespace": "openshift-logging", "tokens": [logs]},
        ]}),
    ]
}

fn cluster(i: usize, tenants: usize) -> Value {
    let hcp = i.is_multiple_of(3);
    let mut c = json!({
        "id": format!("c{i:06}"), "external_id": uuid(i), "name": format!("cluster-{i}"),
        "organization": format!("org-{:02}", i % ORGS),
        "product": if hcp { "rosa" } else { "osd" }, "hcp": hcp,
    });
    if managed(i) {
        let spec = if i % 10 < 3 { "small" } else { "default" };
        c["labels"] = json!({
            // By the cluster's rank among the managed ones: tenants get equal shares.
            "sre-capabilities.dtp.v2.tenant": tenant_id((i - (i + 1) / 4) % tenants),
            "sre-capabilities.dtp.v2.token-spec": spec,
        });
    }
    c
}

/// The sandbox fixture (servers, datafiles) of a world.
pub fn fixture(shape: Shape) -> Value {
    let mut datafiles = serde_json::Map::new();
    datafiles.insert(
        "/settings.yml".into(),
        json!({"$schema": "/app-interface/app-interface-settings-1.yml", "vault": true}),
    );
    for (k, spec) in specs().into_iter().enumerate() {
        datafiles.insert(format!("/specs/{k}.yml"), spec);
    }
    for t in 0..shape.tenants {
        let id = tenant_id(t);
        datafiles.insert(
            format!("/dynatrace/{id}.yml"),
            json!({"$schema": "/dependencies/dynatrace-environment-1.yml", "name": id,
                "description": "d", "environmentID": id,
                "environmentUrl": format!("${{DYNATRACE_URL}}/e/{id}"),
                "bootstrapToken": {"path": format!("secret/dtp/tenants/{id}"), "field": "bootstrap_token"}}),
        );
    }
    let mut ocm = serde_json::Map::new();
    for (e, env) in ENVS.iter().enumerate() {
        datafiles.insert(
            format!("/ocm/{env}.yml"),
            json!({"$schema": "/openshift/openshift-cluster-manager-environment-1.yml", "name": env,
                "description": "d", "labels": {}, "url": format!("${{OCM_URL:{env}}}"),
                "accessTokenClientId": "dtp",
                "accessTokenUrl": format!("${{OCM_URL:{env}}}/auth/realms/redhat-external/protocol/openid-connect/token"),
                "accessTokenClientSecret": {"path": format!("secret/dtp/ocm/{env}"), "field": "client_secret"}}),
        );
        let clusters: Vec<Value> = (0..shape.clusters)
            .filter(|i| i % ENVS.len() == e)
            .map(|i| cluster(i, shape.tenants))
            .collect();
        ocm.insert(
            (*env).into(),
            json!({"clients": [{"client_id": "dtp", "client_secret": CLIENT_SECRET}], "clusters": clusters}),
        );
    }
    let tenants: Vec<Value> = (0..shape.tenants)
        .map(|t| json!({"id": tenant_id(t), "bootstrap_token": bootstrap_token(t)}))
        .collect();
    json!({
        "app_interface": {"datafiles": datafiles},
        "ocm": ocm,
        "dynatrace": {"tenants": tenants},
    })
}

/// The Vault secrets of a world: (KV v2 path under `secret/`, field, value).
pub fn vault_secrets(shape: Shape) -> Vec<(String, &'static str, String)> {
    let mut out: Vec<_> = (0..shape.tenants)
        .map(|t| {
            (
                format!("dtp/tenants/{}", tenant_id(t)),
                "bootstrap_token",
                bootstrap_token(t),
            )
        })
        .collect();
    for env in ENVS {
        out.push((
            format!("dtp/ocm/{env}"),
            "client_secret",
            CLIENT_SECRET.to_owned(),
        ));
    }
    out
}
