//! From the `graphql_client` response types to the model: every list of the four queries,
//! with `path` kept as `source` and Vault versions checked.

use super::*;

fn vault_version(v: Option<i64>, what: &str) -> Result<Option<u64>, String> {
    v.map(|n| u64::try_from(n).map_err(|_| format!("{what}: negative Vault secret version {n}")))
        .transpose()
}

pub(super) fn token_specs(r: dynatrace_token_provider_token_specs::ResponseData) -> Vec<TokenSpec> {
    r.token_specs
        .unwrap_or_default()
        .into_iter()
        .map(|s| TokenSpec {
            name: SpecName::new(s.name),
            ocm_org_ids: s.ocm_org_ids.into_iter().map(OrgId::new).collect(),
            secrets: s
                .secrets
                .into_iter()
                .map(|sec| SpecSecret {
                    name: sec.name,
                    namespace: sec.namespace,
                    tokens: sec
                        .tokens
                        .into_iter()
                        .map(|t| SpecToken {
                            name: t.name,
                            key_name_in_secret: t.key_name_in_secret,
                            scopes: t.scopes,
                        })
                        .collect(),
                })
                .collect(),
            source: Some(s.path),
        })
        .collect()
}

pub(super) fn dynatrace_environments(
    r: dynatrace_environment::ResponseData,
) -> Result<Vec<DynatraceEnvironment>, String> {
    r.environments
        .unwrap_or_default()
        .into_iter()
        .map(|e| {
            let t = e.bootstrap_token;
            Ok(DynatraceEnvironment {
                bootstrap_token: VaultSecretRef {
                    version: vault_version(t.version, &format!("{} bootstrapToken", e.path))?,
                    path: t.path,
                    field: t.field,
                    format: t.format,
                },
                name: e.name,
                environment_id: TenantId::new(e.environment_id),
                environment_url: e.environment_url,
                source: Some(e.path),
            })
        })
        .collect()
}

pub(super) fn ocm_environments(
    r: ocm_environments::ResponseData,
) -> Result<Vec<OcmEnvironment>, String> {
    r.environments
        .into_iter()
        .map(|e| {
            let s = e.access_token_client_secret;
            Ok(OcmEnvironment {
                access_token_client_secret: VaultSecretRef {
                    version: vault_version(
                        s.version,
                        &format!("{} accessTokenClientSecret", e.path),
                    )?,
                    path: s.path,
                    field: s.field,
                    format: s.format,
                },
                name: OcmEnvName::new(e.name),
                url: e.url,
                access_token_url: e.access_token_url,
                access_token_client_id: e.access_token_client_id,
                source: Some(e.path),
            })
        })
        .collect()
}

/// `app_interface_settings_v1 { vault }`: exactly one element (B5).
pub(super) fn vault(
    r: app_interface_vault_settings::ResponseData,
) -> Result<bool, AppInterfaceError> {
    match r.vault_settings.unwrap_or_default().as_slice() {
        [one] => Ok(one.vault),
        other => Err(AppInterfaceError::Data(format!(
            "vault settings not uniquely defined: app_interface_settings_v1 returned {} element(s), expected 1",
            other.len()
        ))),
    }
}
