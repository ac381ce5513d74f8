//! Black-box tests of the Dynatrace tokens v2 client against the Dynatrace sandbox: paging,
//! create/update/delete, error surfacing, the retry policy, and that no secret leaks into an
//! error or `Debug`. A second group checks the sandbox's own contract (the rules of the real
//! API a client could break) with raw HTTP, so the client tests above prove something.

use crate::common::dynatrace_environment;
use dtp::clients::dynatrace::DynatraceClient;
use dtp::clients::http::{Http, HttpSettings};
use dtp::clients::{ApiError, Dynatrace};
use dtp::model::{DtToken, TokenId};
use dtp::sandbox::common::{Control, FaultRule, Served};
use dtp::sandbox::dynatrace::{DynatraceFixture, DynatraceSandbox, FixtureToken};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const TENANT: &str = "abc12345";
const OTHER_TENANT: &str = "xyz67890";
const BOOTSTRAP: &str = "dt0c01.BOOTSTRAPAAAAAAAAAAAAAAAA.BOOTSECRETBOOTSECRETBOOTSECRETBOOTSECRETBOOTSECRETBOOTSECRET1234";
const OTHER_BOOTSTRAP: &str = "dt0c01.OTHERBOOTAAAAAAAAAAAAAAAA.OTHERSECRETOTHERSECRETOTHERSECRETOTHERSECRETOTHERSECRETOTHER1234";
const OPERATOR_SCOPES: &[&str] = &[
    "activeGateTokenManagement.create",
    "entities.read",
    "settings.write",
    "settings.read",
    "DataExport",
    "InstallerDownload",
];
const INGEST_SCOPES: &[&str] = &["metrics.ingest", "logs.ingest", "events.ingest"];

struct Harness {
    sandbox: DynatraceSandbox,
    control: Control,
    served: Served,
    http: reqwest::Client,
}

impl Harness {
    async fn start() -> Self {
        let fixture: DynatraceFixture = serde_saphyr::from_str(&format!(
            r#"
tenants:
  - id: {TENANT}
    bootstrap_token: {BOOTSTRAP}
    tokens:
      - id: dt0c01.PREEXISTINGAAAAAAAAAAAAAA
        name: dtp_operator-token_6f0c_1b6c3b9a7248
        scopes: [entities.read]
        owner: svc
        creation_date: "2025-01-01T00:00:00Z"
  - id: {OTHER_TENANT}
    bootstrap_token: {OTHER_BOOTSTRAP}
"#
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
            http: reqwest::Client::new(),
        }
    }

    fn env_url(&self, tenant: &str) -> String {
        DynatraceSandbox::environment_url(&self.served.url, tenant)
    }

    fn client(&self) -> DynatraceClient {
        self.client_with(TENANT, BOOTSTRAP)
    }

    fn client_with(&self, tenant: &str, token: &str) -> DynatraceClient {
        DynatraceClient::new(
            &dynatrace_environment(tenant, &self.env_url(tenant)),
            SecretString::from(token.to_owned()),
            Http::new(fast_retries()).expect("http"),
        )
    }

    fn api(&self, tenant: &str) -> String {
        format!("{}/api/v2/apiTokens", self.env_url(tenant))
    }

    /// A raw request to the sandbox with `token`; returns status and JSON body (Null if none).
    async fn raw(
        &self,
        method: reqwest::Method,
        url: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut rb = self.http.request(method, url);
        if let Some(token) = token {
            rb = rb.header("Authorization", format!("Api-Token {token}"));
        }
        if let Some(body) = body {
            rb = rb.json(&body);
        }
        let resp = rb.send().await.expect("the sandbox answers");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn requests(&self, method: &str) -> Vec<dtp::sandbox::common::Recorded> {
        self.control
            .requests()
            .into_iter()
            .filter(|r| r.method == method)
            .collect()
    }
}

fn fast_retries() -> HttpSettings {
    HttpSettings {
        timeout: Duration::from_secs(10),
        min_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        max_retries: 3,
        ..HttpSettings::default()
    }
}

fn strings(s: &[&str]) -> Vec<String> {
    s.iter().map(|x| (*x).to_owned()).collect()
}

fn find<'a>(tokens: &'a [DtToken], id: &TokenId) -> &'a DtToken {
    tokens
        .iter()
        .find(|t| &t.id == id)
        .unwrap_or_else(|| panic!("token {id} is listed"))
}

// ----- the client ---------------------------------------------------------------------

#[tokio::test]
async fn listing_pages_through_more_than_a_thousand_tokens_sending_only_the_page_key_after_the_first_page()
 {
    let h = Harness::start().await;
    for i in 0..2100 {
        h.sandbox
            .add_token(TENANT, &format!("dtp_bulk_{i:04}"), INGEST_SCOPES);
    }
    h.control.clear_requests();

    let tokens = h.client().list_tokens().await.expect("list succeeds");

    // 2100 added + the fixture's token + the bootstrap token.
    assert_eq!(tokens.len(), 2102);
    let mut ids: Vec<&str> = tokens.iter().map(|t| t.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 2102, "no token is listed twice");
    let gets = h.requests("GET");
    assert_eq!(gets.len(), 3, "pages of 1000: {gets:?}");
    assert_eq!(gets[0].path, format!("/e/{TENANT}/api/v2/apiTokens"));
    assert_eq!(
        gets[0].query,
        "pageSize=1000&fields=+expirationDate,+scopes"
    );
    for later in &gets[1..] {
        assert!(later.query.starts_with("nextPageKey="), "{}", later.query);
        assert!(
            !later.query.contains('&'),
            "only nextPageKey: {}",
            later.query
        );
    }
}

#[tokio::test]
async fn listing_keeps_enabled_expiration_and_scopes() {
    let h = Harness::start().await;
    let expiry = chrono::DateTime::parse_from_rfc3339("2031-02-03T04:05:06.789Z")
        .unwrap()
        .to_utc();
    let disabled = h
        .sandbox
        .insert_token(
            TENANT,
            FixtureToken {
                enabled: false,
                expiration_date: Some(expiry),
                ..FixtureToken::new(
                    "dt0c01.DISABLEDAAAAAAAAAAAAAAAA",
                    "dtp_x_y_z",
                    OPERATOR_SCOPES,
                )
            },
        )
        .expect("token inserted");

    let tokens = h.client().list_tokens().await.unwrap();

    let t = find(&tokens, &TokenId::new(&disabled.id));
    assert_eq!(t.name, "dtp_x_y_z");
    assert_eq!(t.enabled, Some(false));
    assert_eq!(t.expiration_date, Some(expiry));
    assert_eq!(t.scopes.as_deref(), Some(&strings(OPERATOR_SCOPES)[..]));
    let pre = find(&tokens, &TokenId::new("dt0c01.PREEXISTINGAAAAAAAAAAAAAA"));
    assert_eq!((pre.enabled, pre.expiration_date), (Some(true), None));
}

#[tokio::test]
async fn expiration_dates_parse_with_and_without_milliseconds() {
    let h = Harness::start().await;
    let whole = chrono::DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z")
        .unwrap()
        .to_utc();
    let millis = whole + chrono::Duration::milliseconds(123);
    for (id, when) in [
        ("dt0c01.WHOLESECONDSAAAAAAAAAAAA", whole),
        ("dt0c01.MILLISAAAAAAAAAAAAAAAAAA", millis),
    ] {
        h.sandbox
            .insert_token(
                TENANT,
                FixtureToken {
                    expiration_date: Some(when),
                    ..FixtureToken::new(id, id, INGEST_SCOPES)
                },
            )
            .unwrap();
    }

    // What goes over the wire: Dynatrace drops `.000`.
    let (status, page) = h
        .raw(
            reqwest::Method::GET,
            &format!("{}?fields=%2BexpirationDate", h.api(TENANT)),
            Some(BOOTSTRAP),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let wire: Vec<&str> = page["apiTokens"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["expirationDate"].as_str())
        .collect();
    assert!(wire.contains(&"2030-01-01T00:00:00Z"), "{wire:?}");
    assert!(wire.contains(&"2030-01-01T00:00:00.123Z"), "{wire:?}");

    let tokens = h.client().list_tokens().await.unwrap();
    assert_eq!(
        find(&tokens, &TokenId::new("dt0c01.WHOLESECONDSAAAAAAAAAAAA")).expiration_date,
        Some(whole)
    );
    assert_eq!(
        find(&tokens, &TokenId::new("dt0c01.MILLISAAAAAAAAAAAAAAAAAA")).expiration_date,
        Some(millis)
    );
}

#[tokio::test]
async fn creating_returns_the_id_and_secret_and_the_token_is_then_listed() {
    let h = Harness::start().await;
    let name = "dtp_ingestion-token_6f0c_f6e7fac64719";

    let created = h
        .client()
        .create_token(name, &strings(INGEST_SCOPES))
        .await
        .expect("create succeeds");

    assert!(created.id.as_str().starts_with("dt0c01."), "{}", created.id);
    assert!(
        created
            .token
            .expose_secret()
            .starts_with(&format!("{}.", created.id)),
        "the token is <id>.<secret>"
    );
    let stored = h.sandbox.token_value(TENANT, created.id.as_str()).unwrap();
    assert_eq!(stored, created.token.expose_secret());
    let posts = h.requests("POST");
    assert_eq!(posts.len(), 1);
    assert_eq!(
        posts[0].body,
        Some(json!({"name": name, "scopes": INGEST_SCOPES}))
    );

    let listed = h.client().list_tokens().await.unwrap();
    let t = find(&listed, &created.id);
    assert_eq!((t.name.as_str(), t.enabled), (name, Some(true)));
    assert_eq!(t.scopes.as_deref(), Some(&strings(INGEST_SCOPES)[..]));
    assert_eq!(t.expiration_date, None);
}

#[tokio::test]
async fn a_managed_environment_url_with_a_trailing_slash_works() {
    let h = Harness::start().await;
    let url = format!("{}/", h.env_url(TENANT));
    let client = DynatraceClient::new(
        &dynatrace_environment(TENANT, &url),
        SecretString::from(BOOTSTRAP.to_owned()),
        Http::new(fast_retries()).expect("http"),
    );
    client
        .create_token("dtp_a_b_c", &strings(INGEST_SCOPES))
        .await
        .unwrap();
    assert_eq!(
        h.requests("POST")[0].path,
        format!("/e/{TENANT}/api/v2/apiTokens")
    );
}

#[tokio::test]
async fn updating_renames_and_rescopes_a_token() {
    let h = Harness::start().await;
    let client = h.client();
    let created = client
        .create_token("dtp_old", &strings(INGEST_SCOPES))
        .await
        .unwrap();

    client
        .update_token(&created.id, "dtp_new", &strings(&["metrics.ingest"]))
        .await
        .expect("update succeeds");

    let t = h.sandbox.token(TENANT, created.id.as_str()).unwrap();
    assert_eq!(t.name, "dtp_new");
    assert_eq!(t.scopes, ["metrics.ingest"]);
    assert!(t.enabled);
    assert!(t.modified_date.is_some());
    let puts = h.requests("PUT");
    assert_eq!(puts.len(), 1);
    assert_eq!(
        puts[0].path,
        format!("/e/{TENANT}/api/v2/apiTokens/{}", created.id)
    );
    assert_eq!(
        puts[0].body,
        Some(json!({"name": "dtp_new", "scopes": ["metrics.ingest"]}))
    );
}

#[tokio::test]
async fn updating_an_unknown_token_is_a_404() {
    let h = Harness::start().await;
    let err = h
        .client()
        .update_token(
            &TokenId::new("dt0c01.NOSUCHTOKENAAAAAAAAAAAAA"),
            "dtp_x",
            &strings(INGEST_SCOPES),
        )
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(
        err.to_string().contains("dt0c01.NOSUCHTOKENAAAAAAAAAAAAA"),
        "{err}"
    );
}

#[tokio::test]
async fn deleting_removes_a_token_and_deleting_it_again_is_ok() {
    let h = Harness::start().await;
    let client = h.client();
    let created = client
        .create_token("dtp_doomed", &strings(INGEST_SCOPES))
        .await
        .unwrap();

    client
        .delete_token(&created.id)
        .await
        .expect("delete succeeds");
    assert!(h.sandbox.token(TENANT, created.id.as_str()).is_none());
    client
        .delete_token(&created.id)
        .await
        .expect("a token already gone counts as deleted");

    assert_eq!(h.requests("DELETE").len(), 2, "404 is not retried");
    assert!(
        !client
            .list_tokens()
            .await
            .unwrap()
            .iter()
            .any(|t| t.id == created.id)
    );
}

#[tokio::test]
async fn token_ids_are_percent_encoded_in_paths() {
    let h = Harness::start().await;
    h.client()
        .delete_token(&TokenId::new("dt0c01.A/B?C"))
        .await
        .expect("an unknown id is already deleted");
    let deletes = h.requests("DELETE");
    assert_eq!(
        deletes[0].path,
        format!("/e/{TENANT}/api/v2/apiTokens/dt0c01.A%2FB%3FC")
    );
    assert_eq!(deletes[0].query, "");
}

#[tokio::test]
async fn a_wrong_bootstrap_token_gives_a_401_that_does_not_reveal_the_token() {
    let h = Harness::start().await;
    let wrong = "dt0c01.WRONGWRONGWRONGWRONGWRON.WRONGSECRETWRONGSECRET";

    let err = h
        .client_with(TENANT, wrong)
        .list_tokens()
        .await
        .unwrap_err();

    assert!(err.is_unauthorized(), "{err}");
    assert!(matches!(err, ApiError::Status { status: 401, .. }));
    let shown = format!("{err} {err:?}");
    assert!(
        !shown.contains("WRONGSECRET") && !shown.contains("WRONGWRONG"),
        "{shown}"
    );
    assert!(shown.contains("Token Authentication failed"), "{shown}");
    assert!(
        shown.contains(&format!("Dynatrace tenant {TENANT}: list tokens")),
        "{shown}"
    );
    assert_eq!(h.requests("GET").len(), 1, "401 is not retried");
}

#[tokio::test]
async fn a_bootstrap_token_of_another_tenant_is_refused() {
    let h = Harness::start().await;
    let err = h
        .client_with(TENANT, OTHER_BOOTSTRAP)
        .list_tokens()
        .await
        .unwrap_err();
    assert!(err.is_unauthorized(), "{err}");
    let other = h
        .client_with(OTHER_TENANT, OTHER_BOOTSTRAP)
        .list_tokens()
        .await
        .unwrap();
    assert_eq!(other.len(), 1, "only its bootstrap token: {other:?}");
}

#[tokio::test]
async fn a_429_with_retry_after_is_retried_and_succeeds() {
    let h = Harness::start().await;
    h.control.add_fault(FaultRule {
        method: Some("GET".into()),
        path_contains: "/apiTokens".into(),
        status: 429,
        times: Some(1),
        retry_after: Some(1),
        ..FaultRule::default()
    });
    let started = Instant::now();

    let tokens = h.client().list_tokens().await.expect("the retry succeeds");

    assert_eq!(tokens.len(), 2);
    assert_eq!(h.requests("GET").len(), 2);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "Retry-After is honoured: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_server_that_always_answers_429_with_retry_after_is_given_up_on() {
    let h = Harness::start().await;
    h.control.add_fault(FaultRule {
        method: Some("GET".into()),
        path_contains: "/apiTokens".into(),
        status: 429,
        retry_after: Some(0),
        ..FaultRule::default()
    });
    let client = h.client();

    let result = tokio::time::timeout(Duration::from_secs(10), client.list_tokens())
        .await
        .expect("retries are bounded even when every answer has Retry-After");

    let err = result.unwrap_err();
    assert!(err.is_too_many_requests(), "{err}");
    // Throttled answers have their own retry budget, on top of the one for other failures.
    assert_eq!(
        h.requests("GET").len(),
        1 + fast_retries().max_throttled_retries
    );
}

#[tokio::test]
async fn a_create_rejected_with_429_is_retried() {
    let h = Harness::start().await;
    h.control.add_fault(FaultRule {
        method: Some("POST".into()),
        path_contains: "/apiTokens".into(),
        status: 429,
        times: Some(1),
        ..FaultRule::default()
    });
    h.client()
        .create_token("dtp_retried", &strings(INGEST_SCOPES))
        .await
        .unwrap();
    assert_eq!(h.requests("POST").len(), 2);
    assert_eq!(
        h.sandbox.tokens(TENANT).len(),
        2,
        "exactly one token was created"
    );
}

#[tokio::test]
async fn a_create_is_not_retried_on_500() {
    let h = Harness::start().await;
    h.control.add_fault(FaultRule {
        method: Some("POST".into()),
        path_contains: "/apiTokens".into(),
        status: 500,
        times: Some(1),
        ..FaultRule::default()
    });

    let err = h
        .client()
        .create_token("dtp_once", &strings(INGEST_SCOPES))
        .await
        .unwrap_err();

    assert_eq!(err.status(), Some(500), "{err}");
    assert!(err.to_string().contains("create token 'dtp_once'"), "{err}");
    assert_eq!(
        h.requests("POST").len(),
        1,
        "a POST may have created a token: no retry"
    );
}

#[tokio::test]
async fn a_get_failing_with_500_is_retried() {
    let h = Harness::start().await;
    h.control.add_fault(FaultRule {
        method: Some("GET".into()),
        path_contains: "/apiTokens".into(),
        status: 500,
        times: Some(2),
        ..FaultRule::default()
    });
    h.client()
        .list_tokens()
        .await
        .expect("the third attempt succeeds");
    assert_eq!(h.requests("GET").len(), 3);
}

#[tokio::test]
async fn a_create_answer_without_the_token_value_deletes_that_token_and_says_so() {
    let h = Harness::start().await;
    h.control.add_fault(FaultRule {
        method: Some("POST".into()),
        path_contains: "/apiTokens".into(),
        status: 201,
        times: Some(1),
        body: Some(json!({"id": "dt0c01.HALFCREATEDAAAAAAAAAAAAA"})),
        ..FaultRule::default()
    });

    let err = h
        .client()
        .create_token("dtp_half", &strings(INGEST_SCOPES))
        .await
        .unwrap_err();

    assert!(matches!(err, ApiError::Decode { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("dt0c01.HALFCREATEDAAAAAAAAAAAAA has no token value"),
        "{msg}"
    );
    assert!(msg.contains("it was deleted again"), "{msg}");
    let deletes = h.requests("DELETE");
    assert_eq!(deletes.len(), 1);
    assert!(
        deletes[0]
            .path
            .ends_with("/apiTokens/dt0c01.HALFCREATEDAAAAAAAAAAAAA")
    );
}

#[tokio::test]
async fn a_constraint_violation_is_surfaced_in_the_error() {
    let h = Harness::start().await;

    let err = h
        .client()
        .create_token("dtp_bad", &strings(&["metrics.ingest", "no.such.scope"]))
        .await
        .unwrap_err();

    assert_eq!(err.status(), Some(400));
    let msg = err.to_string();
    assert!(msg.contains("Constraints violated."), "{msg}");
    assert!(
        msg.contains("scopes[1]: unknown scope 'no.such.scope'"),
        "{msg}"
    );
    assert!(h.sandbox.tokens(TENANT).len() == 1, "nothing was created");
}

#[tokio::test]
async fn a_server_that_repeats_a_page_key_is_an_error_not_a_loop() {
    let h = Harness::start().await;
    h.control.add_fault(FaultRule {
        method: Some("GET".into()),
        path_contains: "/apiTokens".into(),
        status: 200,
        times: Some(5),
        body: Some(
            json!({"totalCount": 1, "pageSize": 1000, "nextPageKey": "AAAA",
                          "apiTokens": [{"id": "dt0c01.A", "name": "dtp_a"}]}),
        ),
        ..FaultRule::default()
    });

    let err = h.client().list_tokens().await.unwrap_err();

    assert!(matches!(err, ApiError::Decode { .. }), "{err}");
    assert!(err.to_string().contains("nextPageKey"), "{err}");
    assert_eq!(h.requests("GET").len(), 2);
}

#[tokio::test]
async fn listed_tokens_without_an_id_or_name_are_skipped() {
    let h = Harness::start().await;
    h.control.add_fault(FaultRule {
        method: Some("GET".into()),
        path_contains: "/apiTokens".into(),
        status: 200,
        times: Some(1),
        body: Some(json!({"totalCount": 3, "pageSize": 1000, "apiTokens": [
            {"id": "dt0c01.GOOD", "name": "dtp_good", "expirationDate": "not a date"},
            {"id": "dt0c01.NONAME"},
            {"name": "dtp_noid", "enabled": true}]})),
        ..FaultRule::default()
    });

    let tokens = h.client().list_tokens().await.unwrap();

    assert_eq!(
        tokens,
        [DtToken {
            id: TokenId::new("dt0c01.GOOD"),
            name: "dtp_good".into(),
            enabled: None,
            expiration_date: None,
            created: None,
            scopes: None,
        }]
    );
}

#[tokio::test]
async fn debug_of_the_client_and_of_a_created_token_reveals_no_secret() {
    let h = Harness::start().await;
    let client = h.client();
    let created = client
        .create_token("dtp_dbg", &strings(INGEST_SCOPES))
        .await
        .unwrap();
    let secret_part = created
        .token
        .expose_secret()
        .rsplit('.')
        .next()
        .unwrap()
        .to_owned();

    let client_debug = format!("{client:?}");
    let created_debug = format!("{created:?}");
    let sandbox_debug = format!("{:?} {:?}", h.sandbox, h.sandbox.tokens(TENANT));

    assert!(!client_debug.contains("BOOTSECRET"), "{client_debug}");
    assert!(client_debug.contains(TENANT), "{client_debug}");
    assert!(!created_debug.contains(&secret_part), "{created_debug}");
    assert!(
        created_debug.contains(created.id.as_str()),
        "{created_debug}"
    );
    assert!(!sandbox_debug.contains(&secret_part), "{sandbox_debug}");
}

#[tokio::test]
async fn an_unreachable_server_fails_with_a_transport_error_naming_the_tenant() {
    // Port 1, outside the ephemeral range: no parallel test's server can be listening there.
    let url = format!("http://127.0.0.1:1/e/{TENANT}");
    let client = DynatraceClient::new(
        &dynatrace_environment(TENANT, &url),
        SecretString::from(BOOTSTRAP.to_owned()),
        Http::new(HttpSettings {
            max_retries: 0,
            ..fast_retries()
        })
        .expect("http"),
    );
    let err = client.list_tokens().await.unwrap_err();
    assert!(matches!(err, ApiError::Transport { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with(&format!("Dynatrace tenant {TENANT}: list tokens"))
    );
    assert!(!err.to_string().contains("BOOTSECRET"));
}

#[tokio::test]
async fn an_invalid_environment_url_fails_every_call_without_a_request() {
    let client = DynatraceClient::new(
        &dynatrace_environment(TENANT, "not a url"),
        SecretString::from(BOOTSTRAP.to_owned()),
        Http::new(fast_retries()).expect("http"),
    );
    let err = client
        .delete_token(&TokenId::new("dt0c01.X"))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("invalid environment URL 'not a url'"),
        "{err}"
    );
}

// ----- the sandbox's contract -----------------------------------------------------------

#[tokio::test]
async fn the_sandbox_rejects_a_next_page_key_combined_with_other_parameters() {
    let h = Harness::start().await;
    for i in 0..150 {
        h.sandbox
            .add_token(TENANT, &format!("dtp_{i}"), INGEST_SCOPES);
    }
    let (status, first) = h
        .raw(
            reqwest::Method::GET,
            &format!("{}?pageSize=100", h.api(TENANT)),
            Some(BOOTSTRAP),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(first["totalCount"], 152);
    assert_eq!(first["pageSize"], 100);
    assert_eq!(first["apiTokens"].as_array().unwrap().len(), 100);
    let key = first["nextPageKey"]
        .as_str()
        .expect("a second page")
        .to_owned();

    let (status, body) = h
        .raw(
            reqwest::Method::GET,
            &format!("{}?nextPageKey={key}&pageSize=100", h.api(TENANT)),
            Some(BOOTSTRAP),
            None,
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"]["constraintViolations"][0]["path"],
        "nextPageKey"
    );

    let (status, second) = h
        .raw(
            reqwest::Method::GET,
            &format!("{}?nextPageKey={key}", h.api(TENANT)),
            Some(BOOTSTRAP),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(second["apiTokens"].as_array().unwrap().len(), 52);
    assert_eq!(second["nextPageKey"], Value::Null);
    assert_eq!(
        second["apiTokens"][0]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["id", "name", "enabled", "owner", "creationDate"],
        "the default fields"
    );
}

#[tokio::test]
async fn the_sandbox_validates_page_size_fields_and_parameters() {
    let h = Harness::start().await;
    for (query, path) in [
        ("pageSize=99", "pageSize"),
        ("pageSize=10001", "pageSize"),
        ("pageSize=ten", "pageSize"),
        ("fields=%2Bsecret", "fields"),
        // An unencoded `+` arrives as a space.
        ("fields=+scopes", "fields"),
        ("sort=colour", "sort"),
        ("filter=name", "filter"),
    ] {
        let (status, body) = h
            .raw(
                reqwest::Method::GET,
                &format!("{}?{query}", h.api(TENANT)),
                Some(BOOTSTRAP),
                None,
            )
            .await;
        assert_eq!(status, 400, "{query}");
        assert_eq!(body["error"]["code"], 400, "{query}");
        assert_eq!(
            body["error"]["constraintViolations"][0]["path"], path,
            "{query}"
        );
        assert_eq!(
            body["error"]["constraintViolations"][0]["parameterLocation"],
            "QUERY"
        );
    }
    let (status, body) = h
        .raw(
            reqwest::Method::GET,
            &format!(
                "{}?pageSize=10000&sort=%2Bname&fields=name,scopes",
                h.api(TENANT)
            ),
            Some(BOOTSTRAP),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let names: Vec<&str> = body["apiTokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bootstrap", "dtp_operator-token_6f0c_1b6c3b9a7248"]);
    assert!(
        body["apiTokens"][0]["enabled"].is_null(),
        "an explicit list replaces the defaults"
    );
}

#[tokio::test]
async fn the_sandbox_filters_with_an_api_token_selector() {
    let h = Harness::start().await;
    h.sandbox.add_token(TENANT, "dtp_ingest", INGEST_SCOPES);
    let selector = "scope(\"logs.ingest\",\"nothing.here\")";
    let url =
        reqwest::Url::parse_with_params(&h.api(TENANT), [("apiTokenSelector", selector)]).unwrap();
    let (status, body) = h
        .raw(reqwest::Method::GET, url.as_str(), Some(BOOTSTRAP), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["totalCount"], 1);
    assert_eq!(body["apiTokens"][0]["name"], "dtp_ingest");
    let url =
        reqwest::Url::parse_with_params(&h.api(TENANT), [("apiTokenSelector", "owner(\"svc\")")])
            .unwrap();
    let (_, body) = h
        .raw(reqwest::Method::GET, url.as_str(), Some(BOOTSTRAP), None)
        .await;
    assert_eq!(
        body["apiTokens"][0]["id"],
        "dt0c01.PREEXISTINGAAAAAAAAAAAAAA"
    );
    assert_eq!(body["totalCount"], 1);
}

#[tokio::test]
async fn the_sandbox_refuses_missing_disabled_expired_and_underprivileged_tokens() {
    let h = Harness::start().await;
    let url = h.api(TENANT);
    let (status, body) = h.raw(reqwest::Method::GET, &url, None, None).await;
    assert_eq!(
        (status, &body["error"]["message"]),
        (401, &json!("Token Authentication failed"))
    );

    // A token without apiTokens.read cannot list.
    let ingest = h.sandbox.add_token(TENANT, "dtp_ingest", INGEST_SCOPES);
    let (status, body) = h
        .raw(reqwest::Method::GET, &url, Some(&ingest.token), None)
        .await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("apiTokens.read")
    );

    let boot = h.sandbox.bootstrap_token_id(TENANT);
    assert!(h.sandbox.set_enabled(TENANT, &boot, false));
    assert_eq!(
        h.raw(reqwest::Method::GET, &url, Some(BOOTSTRAP), None)
            .await
            .0,
        401
    );
    assert!(h.sandbox.set_enabled(TENANT, &boot, true));
    assert_eq!(
        h.raw(reqwest::Method::GET, &url, Some(BOOTSTRAP), None)
            .await
            .0,
        200
    );
    assert!(h.sandbox.expire(TENANT, &boot));
    let err = h.client().list_tokens().await.unwrap_err();
    assert!(err.is_unauthorized(), "{err}");

    let (status, _) = h
        .raw(
            reqwest::Method::GET,
            &h.api("nosuchtenant"),
            Some(BOOTSTRAP),
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_calling_token_can_neither_disable_nor_delete_itself() {
    let h = Harness::start().await;
    let boot = h.sandbox.bootstrap_token_id(TENANT);
    let url = format!("{}/{boot}", h.api(TENANT));

    let (status, body) = h
        .raw(
            reqwest::Method::PUT,
            &url,
            Some(BOOTSTRAP),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["constraintViolations"][0]["path"], "enabled");

    let err = h
        .client()
        .delete_token(&TokenId::new(&boot))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    assert!(h.sandbox.token(TENANT, &boot).unwrap().enabled);
}

#[tokio::test]
async fn the_sandbox_gets_looks_up_and_deletes_by_full_token_without_returning_secrets() {
    let h = Harness::start().await;
    let created = h
        .client()
        .create_token("dtp_lookup", &strings(INGEST_SCOPES))
        .await
        .unwrap();
    let secret = created.token.expose_secret().to_owned();

    let (status, got) = h
        .raw(
            reqwest::Method::GET,
            &format!("{}/{}", h.api(TENANT), created.id),
            Some(BOOTSTRAP),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(got["scopes"], json!(INGEST_SCOPES));
    assert_eq!(got["owner"], "dtp-bootstrap");
    assert!(
        !got.to_string().contains(&secret),
        "GET never returns the secret"
    );

    let (status, looked) = h
        .raw(
            reqwest::Method::POST,
            &format!("{}/lookup", h.api(TENANT)),
            Some(BOOTSTRAP),
            Some(json!({"token": secret})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(looked["id"], created.id.as_str());

    let (status, _) = h
        .raw(
            reqwest::Method::DELETE,
            &format!("{}/{secret}", h.api(TENANT)),
            Some(BOOTSTRAP),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, body) = h
        .raw(
            reqwest::Method::GET,
            &format!("{}/{secret}", h.api(TENANT)),
            Some(BOOTSTRAP),
            None,
        )
        .await;
    assert_eq!(status, 404);
    assert!(
        !body.to_string().contains(&secret),
        "a 404 names only the id: {body}"
    );
    let (status, _) = h
        .raw(
            reqwest::Method::POST,
            &format!("{}/lookup", h.api(TENANT)),
            Some(BOOTSTRAP),
            Some(json!({"token": secret})),
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_sandbox_validates_create_bodies() {
    let h = Harness::start().await;
    let url = h.api(TENANT);
    for (body, path) in [
        (json!({"scopes": ["logs.ingest"]}), "name"),
        (json!({"name": "", "scopes": ["logs.ingest"]}), "name"),
        (json!({"name": "x"}), "scopes"),
        (json!({"name": "x", "scopes": []}), "scopes"),
        (
            json!({"name": "x", "scopes": ["logs.ingest"], "expirationDate": "2001-01-01T00:00:00Z"}),
            "expirationDate",
        ),
        (
            json!({"name": "x", "scopes": ["logs.ingest"], "colour": "red"}),
            "colour",
        ),
    ] {
        let (status, resp) = h
            .raw(
                reqwest::Method::POST,
                &url,
                Some(BOOTSTRAP),
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(
            resp["error"]["constraintViolations"][0]["path"], path,
            "{body}"
        );
    }
    let (status, resp) = h
        .raw(
            reqwest::Method::POST,
            &url,
            Some(BOOTSTRAP),
            Some(
                json!({"name": "x", "scopes": ["logs.ingest"], "expirationDate": "now+14d",
                        "personalAccessToken": null}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{resp}");
    let id = resp["id"].as_str().unwrap();
    assert_eq!(id.len(), "dt0c01.".len() + 24);
    assert_eq!(resp["token"].as_str().unwrap().len(), id.len() + 1 + 64);
    assert!(resp["expirationDate"].is_string());
    let t = h.sandbox.token(TENANT, id).unwrap();
    assert!(t.expiration_date.unwrap() > chrono::Utc::now() + chrono::Duration::days(13));
}
