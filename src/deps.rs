//! The one place where real clients are built: from the validated [`SourceConfig`] and the
//! process's one HTTP client ([`Http`]), the [`Dependencies`] of a run — the app-interface
//! source, the secret backend (Vault or config.toml, as app-interface says) and the connector
//! that builds the OCM and Dynatrace clients of each run. Everything downstream receives trait
//! objects, so tests and the demo point the same code at the sandbox.

use crate::clients::appinterface::{DatafilesSource, GraphqlSource};
use crate::clients::dynatrace::DynatraceClient;
use crate::clients::http::{Http, HttpSettings};
use crate::clients::ocm::OcmClient;
use crate::clients::vault::{SecretError, VaultReader};
use crate::clients::{AppInterfaceSource, Connector, Dynatrace, Ocm, SecretBackend, SecretReader};
use crate::config::{ConfigSecretReader, QontractConfig, Source, SourceConfig};
use crate::model::{DynatraceEnvironment, OcmEnvironment};
use crate::reconcile::Dependencies;
use async_trait::async_trait;
use secrecy::SecretString;
use std::path::PathBuf;
use std::sync::Arc;

/// The HTTP settings every client shares (timeouts, retries, CA bundle).
pub fn http_settings(source: &SourceConfig) -> HttpSettings {
    HttpSettings {
        ca_bundle: source.ca_bundle.clone(),
        ..HttpSettings::default()
    }
}

/// The app-interface source alone (for `dtp validate`).
pub fn app_interface(source: &SourceConfig, http: &Http) -> Arc<dyn AppInterfaceSource> {
    match &source.source {
        Source::Graphql { server, token } => {
            Arc::new(GraphqlSource::from_url(server, token.clone(), http.clone()))
        }
        Source::Datafiles(dir) => Arc::new(DatafilesSource::new(dir.clone())),
    }
}

/// The app-interface source pinned to bundle `sha` (the comparison bundle of a PR check,
/// `--early-exit-compare-sha`): GraphQL at `/graphqlsha/<sha>`, never re-pinned, so an
/// unknown or expired sha makes its load fail. A datafiles directory has no bundles, so
/// it is an error, as is a sha that is not alphanumeric.
pub fn app_interface_at(
    source: &SourceConfig,
    http: &Http,
    sha: &str,
) -> Result<Arc<dyn AppInterfaceSource>, String> {
    let sha = sha.trim();
    if sha.is_empty() || !sha.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!(
            "early exit: '{sha}' is not an app-interface bundle sha"
        ));
    }
    match &source.source {
        Source::Graphql { server, token } => Ok(Arc::new(
            GraphqlSource::from_url(server, token.clone(), http.clone())
                .with_sha(Some(sha.to_owned())),
        )),
        Source::Datafiles(dir) => Err(format!(
            "early exit needs GraphQL (qontract-server bundles by sha); app-interface is read from the datafiles directory {}",
            dir.display()
        )),
    }
}

/// Builds the real clients of a run.
pub fn dependencies(source: &SourceConfig, http: &Http) -> Dependencies {
    Dependencies {
        app_interface: app_interface(source, http),
        secrets: Arc::new(ConfiguredSecrets {
            qontract: source.qontract.clone(),
            http: http.clone(),
            kube_sa_token_path: source.kube_sa_token_path.clone(),
        }),
        connector: Arc::new(HttpConnector { http: http.clone() }),
    }
}

/// Secrets from Vault or config.toml, as app-interface settings say (B5).
struct ConfiguredSecrets {
    qontract: Option<QontractConfig>,
    http: Http,
    kube_sa_token_path: PathBuf,
}

#[async_trait]
impl SecretBackend for ConfiguredSecrets {
    async fn reader(&self, vault: bool) -> Result<Arc<dyn SecretReader>, SecretError> {
        let config = self.qontract.as_ref().ok_or_else(|| {
            SecretError::config("app-interface references secrets: give --config (config.toml)")
        })?;
        if vault {
            let vc = config.vault.as_ref().ok_or_else(|| {
                SecretError::config(
                    "app-interface settings say vault: true but config.toml has no [vault] section",
                )
            })?;
            Ok(Arc::new(
                VaultReader::connect(vc, &self.http, &self.kube_sa_token_path).await?,
            ))
        } else {
            Ok(Arc::new(ConfigSecretReader::new(config.clone())))
        }
    }
}

/// Builds clients sharing the process's one HTTP client.
struct HttpConnector {
    http: Http,
}

impl Connector for HttpConnector {
    fn ocm(&self, env: &OcmEnvironment, client_secret: SecretString) -> Arc<dyn Ocm> {
        Arc::new(OcmClient::new(env, client_secret, self.http.clone()))
    }
    fn dynatrace(
        &self,
        env: &DynatraceEnvironment,
        bootstrap_token: SecretString,
    ) -> Arc<dyn Dynatrace> {
        Arc::new(DynatraceClient::new(
            env,
            bootstrap_token,
            self.http.clone(),
        ))
    }
}
