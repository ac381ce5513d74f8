//! The environment variables dtp reads outside clap (they have no flag), read once at start.
//! The values stay raw here; [`super::build`] validates them.

/// Environment variables without a flag. `Debug` says which are set, never a value (tokens,
/// passwords and URLs with credentials are among them).
#[derive(Clone, Default)]
pub struct Env {
    /// `DRY_RUN`: true/false, 1/0, yes/no, or qontract's `--dry-run`/`--no-dry-run`.
    pub dry_run: Option<String>,
    /// `VAULT_TOKEN`, used when config.toml has neither AppRole nor Kubernetes auth.
    pub vault_token: Option<String>,
    /// `KUBE_SA_TOKEN_PATH`.
    pub kube_sa_token_path: Option<String>,
    /// `SSL_CERT_FILE`.
    pub ssl_cert_file: Option<String>,
    /// `RUN_ONCE`: any non-empty value means one run.
    pub run_once: Option<String>,
    /// `SLEEP_DURATION_SECS`: the loop interval when `--interval` is not given.
    pub sleep_duration_secs: Option<String>,
    /// `PUSHGATEWAY_ENABLED`, `PUSHGATEWAY_URL`, `PUSHGATEWAY_USERNAME`, `PUSHGATEWAY_PASSWORD`.
    pub pushgateway_enabled: Option<String>,
    pub pushgateway_url: Option<String>,
    pub pushgateway_username: Option<String>,
    pub pushgateway_password: Option<String>,
    /// `UNLEASH_API_URL`, `UNLEASH_CLIENT_ACCESS_TOKEN`: the feature toggle.
    pub unleash_api_url: Option<String>,
    pub unleash_client_access_token: Option<String>,
    /// `CONFIG`: the config.toml when neither `--config` nor `QONTRACT_CONFIG` names one
    /// (qontract-reconcile's container contract).
    pub config: Option<String>,
    /// `INTEGRATION_EXTRA_ARGS`: flags appended to the command line, split on whitespace.
    pub integration_extra_args: Option<String>,
    /// `LOG_FILE`: every log line is also appended to this file.
    pub log_file: Option<String>,
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |v: &Option<String>| if v.is_some() { "set" } else { "unset" };
        f.debug_struct("Env")
            .field("DRY_RUN", &self.dry_run)
            .field("VAULT_TOKEN", &set(&self.vault_token))
            .field("KUBE_SA_TOKEN_PATH", &self.kube_sa_token_path)
            .field("SSL_CERT_FILE", &self.ssl_cert_file)
            .field("RUN_ONCE", &self.run_once)
            .field("SLEEP_DURATION_SECS", &self.sleep_duration_secs)
            .field("PUSHGATEWAY_ENABLED", &self.pushgateway_enabled)
            .field("PUSHGATEWAY_URL", &set(&self.pushgateway_url))
            .field("PUSHGATEWAY_USERNAME", &set(&self.pushgateway_username))
            .field("PUSHGATEWAY_PASSWORD", &set(&self.pushgateway_password))
            .field("UNLEASH_API_URL", &set(&self.unleash_api_url))
            .field(
                "UNLEASH_CLIENT_ACCESS_TOKEN",
                &set(&self.unleash_client_access_token),
            )
            .field("CONFIG", &self.config)
            .field("INTEGRATION_EXTRA_ARGS", &self.integration_extra_args)
            .field("LOG_FILE", &self.log_file)
            .finish()
    }
}

impl Env {
    pub fn from_process() -> Self {
        let var = |k: &str| std::env::var(k).ok();
        Self {
            dry_run: var("DRY_RUN"),
            vault_token: var("VAULT_TOKEN"),
            kube_sa_token_path: var("KUBE_SA_TOKEN_PATH"),
            ssl_cert_file: var("SSL_CERT_FILE"),
            run_once: var("RUN_ONCE"),
            sleep_duration_secs: var("SLEEP_DURATION_SECS"),
            pushgateway_enabled: var("PUSHGATEWAY_ENABLED"),
            pushgateway_url: var("PUSHGATEWAY_URL"),
            pushgateway_username: var("PUSHGATEWAY_USERNAME"),
            pushgateway_password: var("PUSHGATEWAY_PASSWORD"),
            unleash_api_url: var("UNLEASH_API_URL"),
            unleash_client_access_token: var("UNLEASH_CLIENT_ACCESS_TOKEN"),
            config: var("CONFIG"),
            integration_extra_args: var("INTEGRATION_EXTRA_ARGS"),
            log_file: var("LOG_FILE"),
        }
    }
}
