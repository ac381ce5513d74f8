//! The services dtp reads from or reports to, from flags, `config.toml` and the environment:
//! where app-interface data and secrets come from (GraphQL or datafiles, Vault), the
//! Pushgateway and the Unleash toggle. Part of [`super::build`]: same rules (checked once,
//! errors name the flag and its variable).

use super::{Env, SourceArgs};
use crate::clients::appinterface::{check_server, token_header};
use crate::clients::pushgateway::PushgatewaySettings;
use crate::clients::unleash::{UnleashConfig, UnleashSettings};
use crate::config::{self, QontractConfig, Source, SourceConfig};
use secrecy::SecretString;
use std::path::PathBuf;
use url::Url;

/// An invalid setting: the message names the flag and/or environment variable at fault, and
/// never quotes a secret. The process exits 2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

/// Where qontract-reconcile's container chart mounts config.toml.
pub const CONTAINER_CONFIG: &str = "/config/config.toml";

/// The config.toml to read, and how it was named: `--config` / `QONTRACT_CONFIG`, else
/// `CONFIG`, else [`CONTAINER_CONFIG`] when that file exists.
fn config_file(args: &SourceArgs, env: &Env) -> Option<(PathBuf, &'static str)> {
    if let Some(path) = &args.config {
        return Some((path.clone(), "--config (QONTRACT_CONFIG)"));
    }
    if let Some(path) = env.config.as_deref().filter(|p| !p.trim().is_empty()) {
        return Some((PathBuf::from(path.trim()), "CONFIG"));
    }
    let mounted = PathBuf::from(CONTAINER_CONFIG);
    mounted
        .is_file()
        .then_some((mounted, "the mounted /config/config.toml"))
}

/// Where app-interface data and secrets come from.
pub fn source_config(args: &SourceArgs, env: &Env) -> Result<SourceConfig, Invalid> {
    let vault_token = env
        .vault_token
        .clone()
        .filter(|t| !t.is_empty())
        .map(SecretString::from);
    let qontract = match config_file(args, env) {
        None => None,
        Some((path, named)) => Some(
            QontractConfig::load(&path, vault_token)
                .map_err(|e| Invalid(format!("{named}: {e}")))?,
        ),
    };
    let source = match &args.app_interface_dir {
        Some(dir) if !dir.is_dir() => {
            return Err(Invalid(format!(
                "--app-interface-dir (APP_INTERFACE_DIR) {}: not a directory",
                dir.display()
            )));
        }
        Some(dir) => Source::Datafiles(dir.clone()),
        None => graphql_source(args, qontract.as_ref())?,
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
        return Err(Invalid(format!(
            "--ca-bundle (DTP_CA_BUNDLE, SSL_CERT_FILE) {}: no such file",
            p.display()
        )));
    }
    if let Some(p) = &ca_bundle {
        crate::clients::http::ca_certificates(p).map_err(|e| {
            Invalid(format!(
                "--ca-bundle (DTP_CA_BUNDLE, SSL_CERT_FILE) {}: {e}",
                p.display()
            ))
        })?;
    }
    Ok(SourceConfig {
        source,
        qontract,
        ca_bundle,
        kube_sa_token_path: env
            .kube_sa_token_path
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| config::DEFAULT_KUBE_SA_TOKEN_PATH.to_owned())
            .into(),
    })
}

/// `--graphql-server` / `GRAPHQL_SERVER`, else `[graphql] server` of config.toml.
fn graphql_source(args: &SourceArgs, qontract: Option<&QontractConfig>) -> Result<Source, Invalid> {
    let gql = qontract.and_then(|q| q.graphql.clone());
    let token = gql.as_ref().and_then(|g| g.token.clone());
    let in_config = |key: &str, e: String| {
        let file = args
            .config
            .as_ref()
            .map_or_else(String::new, |p| format!(" {}", p.display()));
        Invalid(format!(
            "--config (QONTRACT_CONFIG){file}: [graphql] {key}: {e}"
        ))
    };
    let server = match (&args.graphql_server, gql) {
        (Some(raw), _) => {
            let flag = "--graphql-server (GRAPHQL_SERVER)";
            let url =
                Url::parse(raw.trim()).map_err(|e| Invalid(format!("{flag} is not a URL: {e}")))?;
            check_server(&url).map_err(|e| Invalid(format!("{flag}: {e}")))?;
            url
        }
        (None, Some(g)) => {
            check_server(&g.server).map_err(|e| in_config("server", e))?;
            g.server
        }
        (None, None) => {
            return Err(Invalid(
                "no app-interface source: give --app-interface-dir, --graphql-server, or --config with [graphql] server"
                    .to_owned(),
            ));
        }
    };
    if let Some(t) = &token {
        token_header(t).map_err(|e| in_config("token", e))?;
    }
    Ok(Source::Graphql { server, token })
}

/// `PUSHGATEWAY_ENABLED` (non-empty and not `false`/`0`: enabled), `PUSHGATEWAY_URL` (required
/// when enabled), `PUSHGATEWAY_USERNAME` and `PUSHGATEWAY_PASSWORD` (basic auth when given).
pub(super) fn pushgateway(env: &Env) -> Result<Option<PushgatewaySettings>, Invalid> {
    let enabled = env
        .pushgateway_enabled
        .as_deref()
        .map(str::trim)
        .is_some_and(|v| !v.is_empty() && !v.eq_ignore_ascii_case("false") && v != "0");
    if !enabled {
        return Ok(None);
    }
    let raw = env
        .pushgateway_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| {
            Invalid("PUSHGATEWAY_URL is required when PUSHGATEWAY_ENABLED is set".into())
        })?;
    let url = Url::parse(raw).map_err(|e| Invalid(format!("PUSHGATEWAY_URL is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Invalid(format!(
            "PUSHGATEWAY_URL must be http(s), not '{}'",
            url.scheme()
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Invalid(
            "PUSHGATEWAY_URL must not hold credentials; use PUSHGATEWAY_USERNAME and PUSHGATEWAY_PASSWORD"
                .into(),
        ));
    }
    let non_empty = |v: &Option<String>| v.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
    Ok(Some(PushgatewaySettings {
        url,
        username: non_empty(&env.pushgateway_username),
        password: non_empty(&env.pushgateway_password).map(SecretString::from),
    }))
}

/// `UNLEASH_API_URL` and `UNLEASH_CLIENT_ACCESS_TOKEN`: both set and non-empty turn the toggle
/// check on; an unusable URL is reported at every check and counts as enabled.
pub(super) fn unleash(env: &Env) -> UnleashConfig {
    let url = env
        .unleash_api_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty());
    let token = env
        .unleash_client_access_token
        .as_deref()
        .filter(|t| !t.trim().is_empty());
    let (Some(raw), Some(token)) = (url, token) else {
        return UnleashConfig::Off;
    };
    match Url::parse(raw) {
        Ok(api_url) if matches!(api_url.scheme(), "http" | "https") && api_url.has_host() => {
            UnleashConfig::On(UnleashSettings {
                api_url,
                token: SecretString::from(token.to_owned()),
            })
        }
        Ok(u) => UnleashConfig::Misconfigured(format!(
            "UNLEASH_API_URL '{}' is not an http(s) URL",
            crate::clients::http::redact_url(&u)
        )),
        Err(_) => UnleashConfig::Misconfigured(
            "UNLEASH_API_URL '<invalid URL>' is not an http(s) URL".into(),
        ),
    }
}
