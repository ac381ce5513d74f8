//! HTTP tests of the entities and settings objects endpoints, against a real server on
//! 127.0.0.1 behind the recording and fault layer, checking the answers and the kept state.

use super::*;
use crate::sandbox::common::Control;
use reqwest::StatusCode;
use serde_json::{Value, json};

const RW: &str = "dt0c01.RW.SECRET";
const RO: &str = "dt0c01.RO.SECRET";
const SCHEMA: &str = "builtin:logmonitoring.log-storage-settings";

struct World {
    dt: DynatraceSandbox,
    control: Control,
    url: String,
    http: reqwest::Client,
}

impl World {
    async fn start() -> Self {
        let fixture: DynatraceFixture = serde_saphyr::from_str(
            r#"
tenants:
  - id: t1
    bootstrap_token: dt0c01.BOOT.SECRET
    tokens:
      - {id: dt0c01.RW, name: rw, token: dt0c01.RW.SECRET,
         scopes: [settings.read, settings.write, entities.read]}
      - {id: dt0c01.RO, name: ro, token: dt0c01.RO.SECRET, scopes: [settings.read]}
"#,
        )
        .expect("fixture");
        let dt = DynatraceSandbox::from_fixture(fixture);
        let control = Control::new();
        let url = dt.serve(control.clone()).await.expect("serve").url;
        Self {
            dt,
            control,
            url,
            http: reqwest::Client::new(),
        }
    }

    fn req(&self, method: reqwest::Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}/e/t1/api/v2{path}", self.url))
            .header("Authorization", format!("Api-Token {token}"))
    }

    async fn send(&self, rb: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let resp = rb.send().await.expect("the sandbox answers");
        let status = resp.status();
        let text = resp.text().await.expect("a body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn get(&self, path_and_query: &str) -> (StatusCode, Value) {
        self.send(self.req(reqwest::Method::GET, path_and_query, RW))
            .await
    }

    async fn create(&self, query: &str, items: Value) -> (StatusCode, Value) {
        let path = format!("/settings/objects{query}");
        self.send(self.req(reqwest::Method::POST, &path, RW).json(&items))
            .await
    }
}

fn rule(title: &str, namespaces: &[&str]) -> Value {
    json!({"enabled": true, "config-item-title": title, "send-to-storage": true,
           "matchers": [{"attribute": "k8s.namespace.name", "operator": "MATCHES",
                         "values": namespaces}]})
}

fn item(scope: &str, value: Value) -> Value {
    json!({"schemaId": SCHEMA, "scope": scope, "value": value})
}

fn selector(s: &str) -> String {
    let q: String = url::form_urlencoded::byte_serialize(s.as_bytes()).collect();
    format!("/entities?entitySelector={q}")
}

#[tokio::test]
async fn entity_names_match_exactly_or_by_contains() {
    let w = World::start().await;
    let a = w.dt.add_host_group("t1", "stage-01");
    let b = w.dt.add_host_group("t1", "stage-010");
    assert!(a.starts_with("HOST_GROUP-") && a.len() == "HOST_GROUP-".len() + 16);
    let (s, body) = w
        .get(&selector(
            r#"type("HOST_GROUP"),entityName.equals("stage-01")"#,
        ))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["totalCount"], 1);
    assert_eq!(
        body["entities"][0],
        json!({"entityId": a, "displayName": "stage-01", "type": "HOST_GROUP"})
    );
    let (_, body) = w
        .get(&selector(r#"type("HOST_GROUP"),entityName("STAGE-01")"#))
        .await;
    let ids: Vec<&Value> = body["entities"].as_array().unwrap().iter().collect();
    assert_eq!(body["totalCount"], 2);
    assert_eq!(
        (ids[0]["entityId"].clone(), ids[1]["entityId"].clone()),
        (json!(a), json!(b))
    );
    let (s, body) = w.get(&selector(r#"type("HOST"),entityName("x")"#)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], 400);
    // entities.read is needed.
    let path = selector(r#"type("HOST_GROUP"),entityName("x")"#);
    let (s, _) = w.send(w.req(reqwest::Method::GET, &path, RO)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(w.control.requests().len(), 4);
}

#[tokio::test]
async fn writes_need_settings_write() {
    let w = World::start().await;
    let body = json!([item("environment", rule("r", &["ns"]))]);
    let rb = w
        .req(reqwest::Method::POST, "/settings/objects", RO)
        .json(&body);
    let (s, body) = w.send(rb).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], 403);
    assert!(w.dt.settings_objects("t1").is_empty());
}

#[tokio::test]
async fn lists_page_with_next_page_key_alone() {
    let w = World::start().await;
    let hg = w.dt.add_host_group("t1", "c1");
    let ids: Vec<String> = (0..3)
        .map(|i| {
            w.dt.seed_settings_object("t1", &hg, None, rule(&format!("r{i}"), &["a"]))
        })
        .collect();
    let first = format!("/settings/objects?schemaIds={SCHEMA}&scopes={hg}&pageSize=2");
    let (s, p1) = w.get(&first).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (p1["totalCount"].clone(), p1["pageSize"].clone()),
        (json!(3), json!(2))
    );
    assert_eq!(p1["items"][0]["objectId"], ids[0]);
    assert_eq!(p1["items"][0]["value"]["config-item-title"], "r0");
    let key = p1["nextPageKey"].as_str().expect("a next page").to_owned();
    let (s, p2) = w.get(&format!("/settings/objects?nextPageKey={key}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(p2["items"].as_array().unwrap().len(), 1);
    assert_eq!(p2["items"][0]["objectId"], ids[2]);
    assert_eq!(p2["nextPageKey"], Value::Null);
    let (s, _) = w
        .get(&format!("/settings/objects?nextPageKey={key}&pageSize=2"))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = w.get("/settings/objects?nextPageKey=bogus").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = w
        .get(&format!(
            "/settings/objects?schemaIds={SCHEMA}&pageSize=501"
        ))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let fields = format!("/settings/objects?scopes={hg}&fields=objectId,externalId,updateToken");
    let (_, body) = w.get(&fields).await;
    let keys: Vec<&String> = body["items"][0].as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 3, "{body}");
}

#[tokio::test]
async fn an_unknown_host_group_scope_is_not_found() {
    let w = World::start().await;
    let (s, body) = w
        .get(&format!(
            "/settings/objects?schemaIds={SCHEMA}&scopes=HOST_GROUP-0123456789ABCDEF"
        ))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(
        body["error"]["message"],
        "The specified schema or scope is not found"
    );
    let (s, _) = w.get("/settings/objects?schemaIds=builtin:other").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_mixed_create_is_multi_status_and_validate_only_stores_nothing() {
    let w = World::start().await;
    let hg = w.dt.add_host_group("t1", "c1");
    let items = json!([item(&hg, rule("ok", &["a"])), item(&hg, rule("bad", &[]))]);
    let (s, body) = w.create("?validateOnly=true", items.clone()).await;
    assert_eq!(s, StatusCode::MULTI_STATUS);
    assert_eq!(body[0], json!({"code": 200}));
    assert!(w.dt.settings_objects("t1").is_empty());
    let (s, body) = w.create("", items).await;
    assert_eq!(s, StatusCode::MULTI_STATUS);
    assert_eq!(body[0]["code"], 200);
    assert_eq!(body[1]["code"], 400);
    let v = &body[1]["error"]["constraintViolations"][0];
    assert_eq!(v["path"], "matchers/0/values");
    assert_eq!(v["parameterLocation"], "PAYLOAD_BODY");
    let stored = w.dt.settings_objects("t1");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].object_id, body[0]["objectId"].as_str().unwrap());
    // The same title again on that scope breaks the UNIQUE constraint: all failed, a 400.
    let (s, body) = w.create("", json!([item(&hg, rule("ok", &["b"]))])).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        body[0]["error"]["constraintViolations"][0]["path"],
        "config-item-title"
    );
    let (s, body) = w.create("", json!({"not": "an array"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], 400);
}

#[tokio::test]
async fn values_are_limited_to_2000_and_insert_after_orders() {
    let w = World::start().await;
    let many: Vec<String> = (0..2001).map(|i| format!("ns-{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let (s, body) = w
        .create("", json!([item("environment", rule("big", &many))]))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let v = &body[0]["error"]["constraintViolations"][0];
    assert_eq!(v["path"], "matchers/0/values", "{body}");
    let job = w.dt.seed_settings_object(
        "t1",
        "environment",
        None,
        rule("log-cluster-namespaces", &["a"]),
    );
    let mut first = item("environment", rule("dtp", &many[..2000]));
    first["insertAfter"] = json!("");
    first["externalId"] = json!("dtp-logs:c1");
    let (s, _) = w.create("", json!([first])).await;
    assert_eq!(s, StatusCode::OK);
    let stored = w.dt.settings_objects("t1");
    assert_eq!(stored[0].external_id.as_deref(), Some("dtp-logs:c1"));
    assert_eq!(stored[1].object_id, job);
}

#[tokio::test]
async fn update_tokens_lock_and_delete_removes() {
    let w = World::start().await;
    let id =
        w.dt.seed_settings_object("t1", "environment", None, rule("r", &["a"]));
    let (s, got) = w.get(&format!("/settings/objects/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(got["schemaId"], SCHEMA);
    let token = got["updateToken"].as_str().unwrap().to_owned();
    let path = format!("/settings/objects/{id}");
    let put = |value: Value, token: &str| {
        let body = json!({"value": value, "updateToken": token});
        w.req(reqwest::Method::PUT, &path, RW).json(&body)
    };
    let (s, body) = w.send(put(rule("r", &["b"]), &token)).await;
    assert_eq!(
        (s, body),
        (StatusCode::OK, json!({"code": 200, "objectId": id}))
    );
    let now = w.dt.settings_object("t1", &id).unwrap();
    assert_ne!(now.update_token, token);
    assert_eq!(now.value["matchers"][0]["values"], json!(["b"]));
    let (s, body) = w.send(put(rule("r", &["c"]), &token)).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(body["code"], 409);
    assert_eq!(body["error"]["code"], 409);
    let del = |q: &str| w.req(reqwest::Method::DELETE, &format!("{path}{q}"), RW);
    let (s, _) = w.send(del(&format!("?updateToken={token}"))).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = w.send(del("")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = w.send(del("")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = w.get(&path).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
