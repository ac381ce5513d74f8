//! Black-box tests of the Dynatrace settings calls of [`DynatraceClient`] (token lookup, host
//! groups, log ingest rules: list, create, update, delete) against the Dynatrace sandbox over
//! HTTP: paging by `nextPageKey` alone, exact host-group matching, per-item create results,
//! optimistic locking, the 403/404 errors, and that no secret appears in an error.

use crate::common::dynatrace_environment;
use dtp::clients::ApiError;
use dtp::clients::dynatrace::DynatraceClient;
use dtp::clients::dynatrace::settings::{LOG_STORAGE_SCHEMA, is_conflict};
use dtp::clients::http::{Http, HttpSettings};
use dtp::sandbox::common::{Control, Recorded, Served};
use dtp::sandbox::dynatrace::{DynatraceFixture, DynatraceSandbox};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::time::Duration;

const TENANT: &str = "abc12345";
const PLAIN_TENANT: &str = "xyz67890";
const BOOTSTRAP: &str = "dt0c01.BOOTSTRAPAAAAAAAAAAAAAAAA.BOOTSECRETBOOTSECRETBOOTSECRETBOOTSECRETBOOTSECRETBOOTSECRET1234";
const PLAIN_BOOTSTRAP: &str = "dt0c01.OTHERBOOTAAAAAAAAAAAAAAAA.OTHERSECRETOTHERSECRETOTHERSECRETOTHERSECRETOTHERSECRETOTHER1234";
const SCOPES: &[&str] = &[
    "apiTokens.read",
    "apiTokens.write",
    "entities.read",
    "settings.read",
    "settings.write",
];

struct Harness {
    sandbox: DynatraceSandbox,
    control: Control,
    served: Served,
}

impl Harness {
    /// `TENANT`'s bootstrap token holds [`SCOPES`]; `PLAIN_TENANT`'s only the tokens scopes.
    async fn start() -> Self {
        let fixture: DynatraceFixture = serde_saphyr::from_str(&format!(
            r#"
tenants:
  - id: {TENANT}
    bootstrap_token: {BOOTSTRAP}
    tokens:
      - id: dt0c01.BOOTSTRAPAAAAAAAAAAAAAAAA
        name: bootstrap
        token: {BOOTSTRAP}
        scopes: [{}]
  - id: {PLAIN_TENANT}
    bootstrap_token: {PLAIN_BOOTSTRAP}
"#,
            SCOPES.join(", ")
        ))
        .expect("the fixture parses");
        let sandbox = DynatraceSandbox::from_fixture(fixture);
        let control = Control::new();
        let served = sandbox
            .serve(control.clone())
            .await
            .expect("sandbox serves");
        Self {
            sandbox,
            control,
            served,
        }
    }

    fn client(&self) -> DynatraceClient {
        self.client_with(TENANT, BOOTSTRAP)
    }

    fn client_with(&self, tenant: &str, token: &str) -> DynatraceClient {
        let url = DynatraceSandbox::environment_url(&self.served.url, tenant);
        DynatraceClient::new(
            &dynatrace_environment(tenant, &url),
            SecretString::from(token.to_owned()),
            Http::new(fast_retries()).expect("http"),
        )
    }

    fn requests(&self, method: &str, path_end: &str) -> Vec<Recorded> {
        self.control
            .requests()
            .into_iter()
            .filter(|r| r.method == method && r.path.ends_with(path_end))
            .collect()
    }
}

fn fast_retries() -> HttpSettings {
    HttpSettings {
        timeout: Duration::from_secs(10),
        min_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        ..HttpSettings::default()
    }
}

fn rule(title: &str, namespaces: &[&str]) -> Value {
    json!({"enabled": true, "config-item-title": title, "send-to-storage": true,
           "matchers": [{"attribute": "k8s.namespace.name", "operator": "MATCHES",
                         "values": namespaces}]})
}

fn create_item(scope: &str, value: Value) -> Value {
    json!({"schemaId": LOG_STORAGE_SCHEMA, "scope": scope, "value": value})
}

/// No secret part of either bootstrap token in the error's text.
fn assert_no_secret(e: &ApiError) {
    let text = format!("{e} {e:?}");
    for secret in [BOOTSTRAP, PLAIN_BOOTSTRAP, "BOOTSECRET", "OTHERSECRET"] {
        assert!(!text.contains(secret), "secret in error: {text}");
    }
}

#[tokio::test]
async fn lookup_returns_the_bootstrap_tokens_scopes() {
    let h = Harness::start().await;
    let mut scopes = h.client().lookup_scopes().await.expect("lookup");
    scopes.sort();
    let mut want: Vec<String> = SCOPES.iter().map(|s| (*s).to_owned()).collect();
    want.sort();
    assert_eq!(scopes, want);
    let plain = h.client_with(PLAIN_TENANT, PLAIN_BOOTSTRAP);
    let mut scopes = plain.lookup_scopes().await.expect("lookup");
    scopes.sort();
    assert_eq!(scopes, ["apiTokens.read", "apiTokens.write"]);
}

#[tokio::test]
async fn host_groups_match_the_name_exactly() {
    let h = Harness::start().await;
    let id = h.sandbox.add_host_group(TENANT, "app-sre-stage-01");
    let other = h.sandbox.add_host_group(TENANT, "app-sre-stage-010");
    let quoted = h.sandbox.add_host_group(TENANT, r#"we"ird\name"#);
    let c = h.client();
    assert_eq!(c.host_groups("app-sre-stage-01").await.unwrap(), [id]);
    assert_eq!(c.host_groups("app-sre-stage-010").await.unwrap(), [other]);
    assert_eq!(c.host_groups(r#"we"ird\name"#).await.unwrap(), [quoted]);
    assert!(c.host_groups("APP-SRE-STAGE-01").await.unwrap().is_empty());
    assert!(c.host_groups("unknown").await.unwrap().is_empty());
}

#[tokio::test]
async fn log_rules_follow_next_page_key_alone() {
    let h = Harness::start().await;
    let scope = h.sandbox.add_host_group(TENANT, "stage-01");
    for i in 0..600 {
        let value = rule(&format!("rule-{i:03}"), &["ns"]);
        h.sandbox.seed_settings_object(TENANT, &scope, None, value);
    }
    let rules = h.client().log_rules(&scope).await.expect("list");
    assert_eq!(rules.len(), 600);
    for (i, r) in rules.iter().enumerate() {
        assert_eq!(r["value"]["config-item-title"], format!("rule-{i:03}"));
        assert_eq!(r["scope"], scope);
        assert!(r["updateToken"].is_string() && r["objectId"].is_string());
        dtp::logs::RuleObject::from_settings_json(r).expect("the core parses the rule");
    }
    let gets = h.requests("GET", "/settings/objects");
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert!(gets[0].query.contains("pageSize=500"), "{}", gets[0].query);
    assert!(gets[0].query.contains(&format!("scopes={scope}")));
    assert!(
        gets[1].query.starts_with("nextPageKey=") && !gets[1].query.contains('&'),
        "{}",
        gets[1].query
    );
}

#[tokio::test]
async fn create_answers_per_item_and_validate_only_stores_nothing() {
    let h = Harness::start().await;
    let scope = h.sandbox.add_host_group(TENANT, "stage-01");
    let c = h.client();
    let items = [
        create_item(&scope, rule("good", &["ns-a"])),
        create_item(&scope, rule("bad", &[])),
    ];
    let dry = c.create_settings(&items, true).await.expect("dry run");
    assert_eq!(
        dry.iter().map(|r| r.code).collect::<Vec<_>>(),
        [200, 400],
        "{dry:?}"
    );
    assert!(h.sandbox.settings_objects(TENANT).is_empty());
    assert!(
        h.requests("POST", "/settings/objects")[0]
            .query
            .contains("validateOnly=true")
    );

    let results = c.create_settings(&items, false).await.expect("create");
    assert_eq!((results[0].code, results[1].code), (200, 400));
    let id = results[0].object_id.clone().expect("an object id");
    assert!(results[0].error.is_none());
    let error = results[1].error.as_deref().expect("an error");
    assert!(error.contains("matchers"), "{error}");
    let stored = h.sandbox.settings_objects(TENANT);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].object_id, id);

    // Every item refused: a 400 that is still per-item results.
    let all_bad = [create_item(&scope, rule("bad", &[]))];
    let results = c
        .create_settings(&all_bad, false)
        .await
        .expect("400 results");
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].code, 400);
    assert!(results[0].error.as_deref().unwrap().contains("matchers"));
}

#[tokio::test]
async fn update_with_a_stale_token_is_a_conflict() {
    let h = Harness::start().await;
    let scope = h.sandbox.add_host_group(TENANT, "stage-01");
    let id = h
        .sandbox
        .seed_settings_object(TENANT, &scope, None, rule("r", &["a"]));
    let c = h.client();
    let read = &c.log_rules(&scope).await.unwrap()[0];
    let token = read["updateToken"].as_str().unwrap().to_owned();

    c.update_settings(&id, &rule("r", &["b"]), Some(&token), true)
        .await
        .expect("validate only");
    assert_eq!(
        h.sandbox.settings_object(TENANT, &id).unwrap().value,
        rule("r", &["a"])
    );
    c.update_settings(&id, &rule("r", &["b"]), Some(&token), false)
        .await
        .expect("update");
    assert_eq!(
        h.sandbox.settings_object(TENANT, &id).unwrap().value,
        rule("r", &["b"])
    );
    let e = c
        .update_settings(&id, &rule("r", &["c"]), Some(&token), false)
        .await
        .expect_err("stale token");
    assert!(is_conflict(&e), "{e}");
    assert_eq!(e.status(), Some(409));
    assert_no_secret(&e);
    let bad = c
        .update_settings(&id, &rule("r", &[]), None, false)
        .await
        .expect_err("invalid value");
    assert_eq!(bad.status(), Some(400));
    assert!(bad.to_string().contains("matchers"), "{bad}");
}

#[tokio::test]
async fn delete_twice_is_ok_and_a_stale_token_conflicts() {
    let h = Harness::start().await;
    let scope = h.sandbox.add_host_group(TENANT, "stage-01");
    let id = h
        .sandbox
        .seed_settings_object(TENANT, &scope, None, rule("r", &["a"]));
    let c = h.client();
    let e = c
        .delete_settings(&id, Some("stale-token"))
        .await
        .expect_err("stale token");
    assert!(is_conflict(&e), "{e}");
    let token = h.sandbox.settings_object(TENANT, &id).unwrap().update_token;
    c.delete_settings(&id, Some(&token)).await.expect("delete");
    assert!(h.sandbox.settings_object(TENANT, &id).is_none());
    c.delete_settings(&id, None).await.expect("already gone");
    let deletes = h.requests("DELETE", &id);
    assert_eq!(deletes.len(), 3);
    assert!(deletes[1].query.starts_with("updateToken="));
}

#[tokio::test]
async fn unknown_scopes_are_404_and_missing_scopes_403_without_secrets() {
    let h = Harness::start().await;
    let e = h
        .client()
        .log_rules("HOST_GROUP-0000000000000000")
        .await
        .expect_err("dangling scope");
    assert_eq!(e.status(), Some(404), "{e}");
    assert_no_secret(&e);

    let plain = h.client_with(PLAIN_TENANT, PLAIN_BOOTSTRAP);
    let e = plain
        .log_rules("environment")
        .await
        .expect_err("no settings.read");
    assert_eq!(e.status(), Some(403), "{e}");
    assert_no_secret(&e);
    let e = plain
        .create_settings(&[create_item("environment", rule("r", &["a"]))], false)
        .await
        .expect_err("no settings.write");
    assert_eq!(e.status(), Some(403), "{e}");
    assert_no_secret(&e);
    let e = plain.host_groups("x").await.expect_err("no entities.read");
    assert_eq!(e.status(), Some(403), "{e}");
    assert_no_secret(&e);

    let wrong = h.client_with(TENANT, PLAIN_BOOTSTRAP);
    let e = wrong.lookup_scopes().await.expect_err("a foreign token");
    assert_eq!(e.status(), Some(401), "{e}");
    assert_no_secret(&e);
}
