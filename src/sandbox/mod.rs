//! In-process, stateful fakes of the systems dtp talks to, following their documented
//! contracts: OCM (SSO, accounts_mgmt, clusters_mgmt, service_logs), Dynatrace tokens v2 and
//! qontract-server GraphQL. [`Sandbox::start`] seeds them from one YAML fixture and serves them
//! on loopback; they back the tests and `dtp demo`. Feature-gated (`sandbox`): never part of
//! the production image.
//!
//! Fixture strings may use `${OCM_URL:<env>}` (that OCM environment's base URL) and
//! `${DYNATRACE_URL}` (the Dynatrace server; tenants live under `/e/<tenant id>`), since the
//! ports are only known once the servers listen (`placeholders`).
//!
//! Layout: [`common`] (serving, recording, latency and the fault model), one folder per
//! server ([`ocm`], [`dynatrace`], [`graphql`]); [`search`] is the OCM search language
//! (`ocm::search`), re-exported at its old path; `tests` runs the servers on 127.0.0.1 to
//! test the fault model end to end.

pub mod common;
pub mod dynatrace;
pub mod graphql;
pub mod ocm;
mod placeholders;

pub use ocm::search;

use common::{Control, FaultRule, Served};
use placeholders::{json_to_toml, substitute, substitute_typed};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// The whole sandbox world.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    pub app_interface: AppInterfaceFixture,
    /// One fake OCM installation per OCM environment name.
    #[serde(default)]
    pub ocm: BTreeMap<String, ocm::OcmFixture>,
    pub dynatrace: dynatrace::DynatraceFixture,
    /// Secrets for config.toml (nested tables), read when app-interface says `vault: false`.
    #[serde(default)]
    pub config_secrets: BTreeMap<String, Value>,
    /// Fault rules, in order (see [`common`] for every option).
    #[serde(default)]
    pub faults: Vec<FaultRule>,
    /// Latency of every request, in milliseconds.
    #[serde(default)]
    pub latency_ms: u64,
    /// Extra latency by system prefix (`dynatrace`, `ocm`, `ocm:<env>`, `graphql`), on top of
    /// `latency_ms`; the longest matching prefix wins.
    #[serde(default)]
    pub system_latency_ms: BTreeMap<String, u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppInterfaceFixture {
    /// Datafiles by app-interface path, each with its `$schema`.
    pub datafiles: BTreeMap<String, Value>,
    /// When set, qontract-server requires this exact `Authorization` header.
    #[serde(default)]
    pub authorization: Option<String>,
}

impl Fixture {
    /// Parses a fixture. Placeholders stay as they are until [`Sandbox::start`].
    pub fn from_yaml(text: &str) -> Result<Self, String> {
        serde_saphyr::from_str(text).map_err(|e| format!("sandbox fixture: {e}"))
    }
}

/// A running sandbox.
pub struct Sandbox {
    pub control: Control,
    pub ocm: BTreeMap<String, (ocm::OcmSandbox, Served)>,
    pub dynatrace: (dynatrace::DynatraceSandbox, Served),
    pub graphql: (graphql::GraphqlSandbox, Served),
    /// The datafiles as served (placeholders resolved).
    pub datafiles: Vec<(String, Value)>,
    authorization: Option<String>,
    config_secrets: BTreeMap<String, Value>,
}

impl Sandbox {
    /// Starts every server of the fixture on loopback. Servers start in dependency order:
    /// Dynatrace (no placeholders), then OCM (may embed `${DYNATRACE_URL}`), then
    /// qontract-server (may embed every URL).
    pub async fn start(fixture: Fixture) -> std::io::Result<Self> {
        let control = Control::new();
        for (i, f) in fixture.faults.into_iter().enumerate() {
            f.validate()
                .map_err(|e| std::io::Error::other(format!("faults[{i}]: {e}")))?;
            control.add_fault(f);
        }
        control.set_latency(Duration::from_millis(fixture.latency_ms));
        for (system, ms) in fixture.system_latency_ms {
            control.set_system_latency(&system, Duration::from_millis(ms));
        }
        let dt = dynatrace::DynatraceSandbox::try_from_fixture(fixture.dynatrace)
            .map_err(|e| std::io::Error::other(format!("Dynatrace fixture: {e}")))?;
        let dt_served = common::serve("dynatrace", dt.router(), control.clone()).await?;
        let mut vars: BTreeMap<String, String> = BTreeMap::new();
        vars.insert("${DYNATRACE_URL}".into(), dt_served.url.clone());

        let mut ocm = BTreeMap::new();
        for (env, fx) in fixture.ocm {
            let fx = substitute_typed(fx, &vars)?;
            let sb = ocm::OcmSandbox::try_from_fixture(fx)
                .map_err(|e| std::io::Error::other(format!("OCM fixture '{env}': {e}")))?;
            let served = common::serve(&format!("ocm:{env}"), sb.router(), control.clone()).await?;
            ocm.insert(env, (sb, served));
        }
        for (env, (_, served)) in &ocm {
            vars.insert(format!("${{OCM_URL:{env}}}"), served.url.clone());
        }
        let datafiles: Vec<(String, Value)> = fixture
            .app_interface
            .datafiles
            .into_iter()
            .map(|(path, mut v)| {
                substitute(&mut v, &vars);
                (path, v)
            })
            .collect();
        let gql = graphql::GraphqlSandbox::new(
            datafiles.clone(),
            fixture.app_interface.authorization.clone(),
        );
        let gql_served = common::serve("graphql", gql.router(), control.clone()).await?;
        Ok(Self {
            control,
            ocm,
            dynatrace: (dt, dt_served),
            graphql: (gql, gql_served),
            datafiles,
            authorization: fixture.app_interface.authorization,
            config_secrets: fixture.config_secrets,
        })
    }

    /// Parses and starts a YAML fixture.
    pub async fn start_yaml(text: &str) -> Result<Self, String> {
        let fixture = Fixture::from_yaml(text)?;
        Self::start(fixture)
            .await
            .map_err(|e| format!("sandbox: {e}"))
    }

    /// The qontract-server GraphQL endpoint (`/graphql`).
    pub fn graphql_url(&self) -> String {
        format!("{}/graphql", self.graphql.1.url)
    }

    pub fn ocm_env(&self, env: &str) -> &ocm::OcmSandbox {
        &self.ocm[env].0
    }

    pub fn dynatrace(&self) -> &dynatrace::DynatraceSandbox {
        &self.dynatrace.0
    }

    /// A qontract-reconcile config.toml pointing at this sandbox, with the fixture's config
    /// secrets (for `vault: false`).
    pub fn config_toml(&self) -> String {
        let mut root = toml::Table::new();
        let mut gql = toml::Table::new();
        gql.insert("server".into(), toml::Value::String(self.graphql_url()));
        if let Some(auth) = &self.authorization {
            gql.insert("token".into(), toml::Value::String(auth.clone()));
        }
        root.insert("graphql".into(), toml::Value::Table(gql));
        for (k, v) in &self.config_secrets {
            if let Some(t) = json_to_toml(v) {
                root.insert(k.clone(), t);
            }
        }
        toml::to_string(&root).expect("config serializes")
    }

    /// Writes the datafiles under `dir` (for `--app-interface-dir`).
    pub fn write_datafiles(&self, dir: &std::path::Path) -> std::io::Result<()> {
        for (path, v) in &self.datafiles {
            let file = dir.join(path.trim_start_matches('/'));
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let text = serde_json::to_string_pretty(v).expect("datafile serializes");
            // JSON is valid YAML.
            std::fs::write(file, text)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
