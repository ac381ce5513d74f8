//! Validated settings built once from flags, environment and config.toml, and the one place
//! where the real clients are built ([`Settings::dependencies`]). Everything downstream
//! receives trait objects, so tests and the demo can point the same code at the sandbox.

use crate::cli::{DEFAULT_KUBE_SA_TOKEN_PATH, Env, SourceArgs};
use crate::clients::appinterface::{DatafilesSource, GraphqlSource};
use crate::clients::dynatrace::DynatraceClient;
use crate::clients::http::HttpSettings;
use crate::clients::ocm::OcmClient;
use crate::clients::vault::{SecretError, VaultReader};
use crate::clients::{AppInterfaceSource, Dynatrace, Ocm, SecretReader};
use crate::config::{ConfigSecretReader, QontractConfig};
use crate::model::{DynatraceEnvironment, OcmEnvironment};
use crate::reconcile::{Connector, Dependencies, SecretBackend};
use async_trait::async_trait;
use secrecy::SecretString;
use std::path::PathBuf;
use std::sync::Arc;

/// Where app-interface data comes from.
#[derive(Clone, Debug)]
pub enum Source {
    Graphql {
        server: String,
        token: Option<SecretString>,
    },
    Datafiles(PathBuf),
}

/// Everything a command needs, validated.
#[derive(Clone, Debug)]
pub struct Settings {
    pub source: Source,
    pub qontract: Option<QontractConfig>,
    pub http: HttpSettings,
    pub kube_sa_token_path: PathBuf,
}

impl Settings {
    /// Builds settings from the source flags and the environment. Errors are configuration
    /// errors (exit code 2) and name the flag or key at fault.
    pub fn from_args(args: &SourceArgs, env: &Env) -> Result<Self, String> {
        let vault_token = env
            .vault_token
            .clone()
            .filter(|t| !t.is_empty())
            .map(SecretString::from);
        let qontract = match &args.config {
            Some(path) => Some(QontractConfig::load(path, vault_token).map_err(|e| e.to_string())?),
            None => None,
        };
        let source = if let Some(dir) = &args.app_interface_dir {
            if !dir.is_dir() {
                return Err(format!(
                    "--app-interface-dir {}: not a directory",
                    dir.display()
                ));
            }
            Source::Datafiles(dir.clone())
        } else {
            let gql = qontract.as_ref().and_then(|q| q.graphql.clone());
            let server = args
                .graphql_server
                .clone()
                .or_else(|| gql.as_ref().map(|g| g.server.clone()))
                .ok_or_else(|| {
                    "no app-interface source: give --app-interface-dir, --graphql-server, or --config with [graphql] server"
                        .to_owned()
                })?;
            url::Url::parse(&server)
                .map_err(|e| format!("GraphQL server '{server}' is not a URL: {e}"))?;
            Source::Graphql {
                server,
                token: gql.and_then(|g| g.token),
            }
        };
        let ca_bundle = args.ca_bundle.clone().or_else(|| {
            env.ssl_cert_file
                .clone()
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
        });
        if let Some(p) = &ca_bundle
            && !p.is_file()
        {
            return Err(format!("CA bundle {}: no such file", p.display()));
        }
        Ok(Self {
            source,
            qontract,
            http: HttpSettings {
                ca_bundle,
                ..HttpSettings::default()
            },
            kube_sa_token_path: env
                .kube_sa_token_path
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| DEFAULT_KUBE_SA_TOKEN_PATH.to_owned())
                .into(),
        })
    }

    /// The app-interface source alone (for `dtp validate`).
    pub fn app_interface(&self, http: &reqwest::Client) -> Arc<dyn AppInterfaceSource> {
        match &self.source {
            Source::Graphql { server, token } => Arc::new(GraphqlSource::new(
                server,
                token.clone(),
                http.clone(),
                self.http.clone(),
            )),
            Source::Datafiles(dir) => Arc::new(DatafilesSource::new(dir.clone())),
        }
    }

    /// The app-interface source pinned to bundle `sha` (the comparison bundle of a PR check,
    /// `--early-exit-compare-sha`): GraphQL at `/graphqlsha/<sha>`, never re-pinned, so an
    /// unknown or expired sha makes its load fail. A datafiles directory has no bundles, so
    /// it is an error, as is a sha that is not alphanumeric.
    pub fn app_interface_at(
        &self,
        http: &reqwest::Client,
        sha: &str,
    ) -> Result<Arc<dyn AppInterfaceSource>, String> {
        let sha = sha.trim();
        if sha.is_empty() || !sha.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(format!(
                "early exit: '{sha}' is not an app-interface bundle sha"
            ));
        }
        match &self.source {
            Source::Graphql { server, token } => Ok(Arc::new(
                GraphqlSource::new(server, token.clone(), http.clone(), self.http.clone())
                    .with_sha(Some(sha.to_owned())),
            )),
            Source::Datafiles(dir) => Err(format!(
                "early exit needs GraphQL (qontract-server bundles by sha); app-interface is read from the datafiles directory {}",
                dir.display()
            )),
        }
    }

    /// Builds the real clients.
    pub fn dependencies(&self) -> Result<Dependencies, String> {
        let http = self.http.client()?;
        Ok(Dependencies {
            app_interface: self.app_interface(&http),
            secrets: Arc::new(ConfiguredSecrets {
                qontract: self.qontract.clone(),
                http: self.http.clone(),
                kube_sa_token_path: self.kube_sa_token_path.clone(),
            }),
            connector: Arc::new(HttpConnector {
                http,
                settings: self.http.clone(),
            }),
        })
    }
}

/// Secrets from Vault or config.toml, as app-interface settings say (B5).
struct ConfiguredSecrets {
    qontract: Option<QontractConfig>,
    http: HttpSettings,
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

/// Builds HTTP clients sharing one connection pool.
struct HttpConnector {
    http: reqwest::Client,
    settings: HttpSettings,
}

impl Connector for HttpConnector {
    fn ocm(&self, env: &OcmEnvironment, client_secret: SecretString) -> Arc<dyn Ocm> {
        Arc::new(OcmClient::new(
            env,
            client_secret,
            self.http.clone(),
            self.settings.clone(),
        ))
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
            self.settings.clone(),
        ))
    }
}
