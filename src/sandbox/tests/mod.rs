//! Tests of the fault model, latency and serving against real sandbox servers on 127.0.0.1,
//! with reqwest: each checks what the client saw *and* what state the server kept. This file
//! holds the shared world (one OCM environment, one Dynatrace tenant, one [`Control`]); the
//! tests are in `faults` (before, after, hold), `limits` (rate limits, storms) and `serving`
//! (latency, concurrency, sockets, a fixture). The unit tests of the rules themselves are in
//! `common::tests`.

mod faults;
mod limits;
mod serving;

use super::common::{Control, FaultCause, FaultRule, FaultWhen, InjectedFault};
use crate::model::BUNDLE_ID;
use crate::sandbox::dynatrace::{DynatraceFixture, DynatraceSandbox};
use crate::sandbox::ocm::{OcmFixture, OcmSandbox, SSO_TOKEN_PATH};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const BOOT: &str = "dt0c01.BOOT.SECRET";
const SYNCSETS: &str = "/api/clusters_mgmt/v1/clusters/c1/external_configuration/syncsets";
const MANIFESTS: &str = "/api/clusters_mgmt/v1/clusters/h1/external_configuration/manifests";
const CLUSTERS: &str = "/api/clusters_mgmt/v1/clusters";
const TOKENS: &str = "/e/t1/api/v2/apiTokens";

fn client() -> reqwest::Client {
    client_with_timeout(Duration::from_secs(10))
}

fn client_with_timeout(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .build()
        .expect("client")
}

/// One OCM environment (classic cluster `c1`, hosted control plane `h1`) and one Dynatrace
/// tenant `t1`, served behind one [`Control`].
struct World {
    control: Control,
    ocm: OcmSandbox,
    ocm_url: String,
    dt: DynatraceSandbox,
    dt_url: String,
    bearer: String,
}

impl World {
    async fn start() -> Self {
        Self::start_with(Control::new()).await
    }

    async fn start_with(control: Control) -> Self {
        let ocm = OcmSandbox::from_fixture(
            OcmFixture::from_yaml(
                "clients: [{client_id: dtp, client_secret: s3cret}]\n\
                 clusters:\n\
                 - {id: c1, organization: org-a}\n\
                 - {id: h1, organization: org-a, product: rosa, hcp: true}\n",
            )
            .expect("OCM fixture"),
        );
        let dt_fixture: DynatraceFixture =
            serde_saphyr::from_str(&format!("tenants: [{{id: t1, bootstrap_token: {BOOT}}}]"))
                .expect("Dynatrace fixture");
        let dt = DynatraceSandbox::from_fixture(dt_fixture);
        let ocm_url = ocm.serve("prod", control.clone()).await.expect("serve").url;
        let dt_url = dt.serve(control.clone()).await.expect("serve").url;
        let mut world = Self {
            control,
            ocm,
            ocm_url,
            dt,
            dt_url,
            bearer: String::new(),
        };
        world.bearer = world.sso_token().await;
        world.control.clear_requests();
        world
    }

    async fn sso_token(&self) -> String {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", "dtp"),
            ("client_secret", "s3cret"),
        ];
        let resp = client()
            .post(format!("{}{SSO_TOKEN_PATH}", self.ocm_url))
            .form(&form)
            .send()
            .await
            .expect("SSO answers");
        let body: Value = resp.json().await.expect("SSO JSON");
        body["access_token"].as_str().expect("a token").to_owned()
    }

    fn ocm_post(&self, c: &reqwest::Client, path: &str, body: Value) -> reqwest::RequestBuilder {
        c.post(format!("{}{path}", self.ocm_url))
            .bearer_auth(&self.bearer)
            .json(&body)
    }

    fn ocm_get(&self, c: &reqwest::Client, path: &str) -> reqwest::RequestBuilder {
        c.get(format!("{}{path}", self.ocm_url))
            .bearer_auth(&self.bearer)
    }

    fn dt_create(&self, c: &reqwest::Client, name: &str) -> reqwest::RequestBuilder {
        c.post(format!("{}{TOKENS}", self.dt_url))
            .header("Authorization", format!("Api-Token {BOOT}"))
            .json(&json!({"name": name, "scopes": ["metrics.ingest"]}))
    }

    fn dt_list(&self, c: &reqwest::Client) -> reqwest::RequestBuilder {
        c.get(format!("{}{TOKENS}", self.dt_url))
            .header("Authorization", format!("Api-Token {BOOT}"))
    }

    fn only_fault(&self) -> InjectedFault {
        let faulted = self.control.injected();
        assert_eq!(faulted.len(), 1, "{faulted:?}");
        faulted[0].fault.clone().expect("a fault")
    }
}

/// A transport error caused by a TCP reset (no status, no timeout).
fn is_connection_reset(err: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionReset
        {
            return err.status().is_none() && !err.is_timeout();
        }
        source = e.source();
    }
    false
}

fn syncset() -> Value {
    json!({"id": BUNDLE_ID, "resources": [{"kind": "Secret"}]})
}
