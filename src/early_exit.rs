//! PR-check early exit (`--early-exit-compare-sha`): in a dry-run, compare dtp's desired state
//! at a comparison bundle (the merge target) with the one at the current bundle (the merge
//! request), and skip the run when they are equal, without any request to OCM or Dynatrace.
//!
//! # What the desired state covers
//!
//! [`desired_fingerprint`] covers everything in app-interface that determines what dtp does:
//!
//! - every **token spec**: name, allowed OCM organizations (as a set), and its secrets and their
//!   tokens **in spec order** (the order decides the Secret layout): secret name and namespace,
//!   token name, `keyNameInSecret` (as written, absent ≠ equal to the name) and scopes (as a
//!   set: token names hash the sorted scopes and Dynatrace compares them unordered);
//! - every **Dynatrace environment** (by `environmentID`): name, `environmentUrl` and the
//!   bootstrap token's Vault reference (path, field, version, format);
//! - every **OCM environment** (by name): URL, access-token URL, client id and the client
//!   secret's Vault reference;
//! - the app-interface **`vault`** setting (Vault or config.toml secrets);
//! - [`FINGERPRINT_VERSION`], so a dtp release that changes what the desired state means can
//!   invalidate old fingerprints.
//!
//! It leaves out what cannot change dtp's actions: the bundle sha, datafile paths (`source`)
//! and the order of datafiles, environments, specs, organizations and scopes. Duplicates are
//! kept (never merged), so data that validation would reject never fingerprints like valid
//! data. Cluster labels live in OCM, not app-interface, and are out of scope by design.
//!
//! The Python integration (B40) hashed only the token specs and the integration version, so a
//! merge request changing a Dynatrace or OCM environment passed its PR check without a dry-run
//! (gap G15). This module fixes that.
//!
//! # Decision rule
//!
//! [`unchanged`] answers `Ok(true)` only when both bundles load, the current one passes
//! [`validate_app_interface`] and the fingerprints are equal. Invalid current data answers
//! `Ok(false)` (the full dry-run reports every problem and exits 2). A load failure on either
//! side is an `Err`: the caller logs it and does the full run, as the Python integration does
//! ("errors while computing either state → full run"). [`should_exit_early`] wraps all of that
//! for the `dtp run` flow.

use crate::clients::AppInterfaceSource;
use crate::model::validate::validate_app_interface;
use crate::model::{AppInterfaceData, VaultSecretRef};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Version of the desired-state document. Bump it whenever what the fingerprint covers, or
/// how dtp acts on it, changes.
pub const FINGERPRINT_VERSION: &str = "dtp-1";

/// The canonical desired-state document (serialized in field order, lists sorted).
#[derive(Serialize)]
struct Document<'a> {
    version: &'static str,
    vault: bool,
    token_specs: Vec<Spec<'a>>,
    dynatrace_environments: Vec<DtEnv<'a>>,
    ocm_environments: Vec<OcmEnv<'a>>,
}

#[derive(Serialize)]
struct Spec<'a> {
    name: &'a str,
    ocm_org_ids: Vec<&'a str>,
    secrets: Vec<Secret<'a>>,
}

#[derive(Serialize)]
struct Secret<'a> {
    name: &'a str,
    namespace: &'a str,
    tokens: Vec<Token<'a>>,
}

#[derive(Serialize)]
struct Token<'a> {
    name: &'a str,
    key_name_in_secret: Option<&'a str>,
    scopes: Vec<&'a str>,
}

#[derive(Serialize)]
struct DtEnv<'a> {
    environment_id: &'a str,
    name: &'a str,
    environment_url: &'a str,
    bootstrap_token: SecretRef<'a>,
}

#[derive(Serialize)]
struct OcmEnv<'a> {
    name: &'a str,
    url: &'a str,
    access_token_url: &'a str,
    access_token_client_id: &'a str,
    access_token_client_secret: SecretRef<'a>,
}

#[derive(Serialize)]
struct SecretRef<'a> {
    path: &'a str,
    field: &'a str,
    version: Option<u64>,
    format: Option<&'a str>,
}

impl<'a> From<&'a VaultSecretRef> for SecretRef<'a> {
    fn from(r: &'a VaultSecretRef) -> Self {
        Self {
            path: &r.path,
            field: &r.field,
            version: r.version,
            format: r.format.as_deref(),
        }
    }
}

/// Sorts by `key`, breaking ties by the full serialized item so that the order of the input
/// never matters, even for duplicates.
fn sort_canonical<T: Serialize, K: Ord>(items: &mut [T], key: impl Fn(&T) -> K) {
    items.sort_by_cached_key(|i| {
        (
            key(i),
            serde_json::to_string(i).expect("desired state serializes"),
        )
    });
}

fn sorted<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut v: Vec<&str> = items.collect();
    v.sort_unstable();
    v
}

/// The canonical desired-state document as JSON: deterministic and independent of list order
/// (see the [module documentation](self) for what it covers). Holds Vault references, never a
/// secret value; useful to log or diff when two fingerprints differ.
pub fn desired_state_json(data: &AppInterfaceData) -> String {
    let mut token_specs: Vec<Spec<'_>> = data
        .token_specs
        .iter()
        .map(|s| Spec {
            name: s.name.as_str(),
            ocm_org_ids: sorted(s.ocm_org_ids.iter().map(|o| o.as_str())),
            secrets: s
                .secrets
                .iter()
                .map(|sec| Secret {
                    name: &sec.name,
                    namespace: &sec.namespace,
                    tokens: sec
                        .tokens
                        .iter()
                        .map(|t| Token {
                            name: &t.name,
                            key_name_in_secret: t.key_name_in_secret.as_deref(),
                            scopes: sorted(t.scopes.iter().map(String::as_str)),
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect();
    sort_canonical(&mut token_specs, |s| s.name);

    let mut dynatrace_environments: Vec<DtEnv<'_>> = data
        .dynatrace_environments
        .iter()
        .map(|e| DtEnv {
            environment_id: e.environment_id.as_str(),
            name: &e.name,
            environment_url: &e.environment_url,
            bootstrap_token: (&e.bootstrap_token).into(),
        })
        .collect();
    sort_canonical(&mut dynatrace_environments, |e| e.environment_id);

    let mut ocm_environments: Vec<OcmEnv<'_>> = data
        .ocm_environments
        .iter()
        .map(|e| OcmEnv {
            name: e.name.as_str(),
            url: &e.url,
            access_token_url: &e.access_token_url,
            access_token_client_id: &e.access_token_client_id,
            access_token_client_secret: (&e.access_token_client_secret).into(),
        })
        .collect();
    sort_canonical(&mut ocm_environments, |e| e.name);

    serde_json::to_string(&Document {
        version: FINGERPRINT_VERSION,
        vault: data.vault,
        token_specs,
        dynatrace_environments,
        ocm_environments,
    })
    .expect("desired state serializes")
}

/// The fingerprint of dtp's desired state: `dtp-1:<sha256 hex>` of [`desired_state_json`].
/// Two app-interface bundles with equal fingerprints make dtp do exactly the same thing.
pub fn desired_fingerprint(data: &AppInterfaceData) -> String {
    let digest = Sha256::digest(desired_state_json(data).as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{FINGERPRINT_VERSION}:{hex}")
}

/// Whether the desired state at `current` (the bundle under test) equals the one at `compare`
/// (the comparison bundle). Both are loaded concurrently; only app-interface is read.
///
/// - `Ok(true)`: equal, and the current data is valid: the PR check may exit 0 right away.
/// - `Ok(false)`: different, or the current data is invalid: do the full dry-run.
/// - `Err(message)`: a bundle could not be loaded (the message says which): do the full
///   dry-run. The message carries no credential.
pub async fn unchanged(
    current: &dyn AppInterfaceSource,
    compare: &dyn AppInterfaceSource,
) -> Result<bool, String> {
    let (cur, cmp) = futures::join!(current.load(), compare.load());
    let cur = cur.map_err(|e| format!("current app-interface bundle: {e}"))?;
    let cmp = cmp.map_err(|e| format!("comparison app-interface bundle: {e}"))?;
    let problems = validate_app_interface(&cur);
    if !problems.is_empty() {
        tracing::info!(
            problems = problems.len(),
            "the current app-interface data has problems; no early exit"
        );
        return Ok(false);
    }
    let (a, b) = (desired_fingerprint(&cur), desired_fingerprint(&cmp));
    tracing::debug!(
        current_bundle = cur.bundle_sha.as_deref().unwrap_or("-"),
        current = %a,
        compare_bundle = cmp.bundle_sha.as_deref().unwrap_or("-"),
        compare = %b,
        "desired-state fingerprints"
    );
    Ok(a == b)
}

/// The whole PR-check decision for `dtp run --early-exit-compare-sha SHA` (call it in dry-run
/// only): given the current source and the one pinned to the comparison sha (or why it could
/// not be had), runs [`unchanged`] and logs the outcome. `true` means "exit 0 now"; every error
/// is logged as a warning and answers `false` (full run). Makes no request to OCM, Dynatrace
/// or Vault.
pub async fn should_exit_early(
    current: &dyn AppInterfaceSource,
    compare: Result<std::sync::Arc<dyn AppInterfaceSource>, String>,
    compare_sha: &str,
) -> bool {
    let compare = match compare {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("early exit skipped: {e}");
            return false;
        }
    };
    match unchanged(current, compare.as_ref()).await {
        Ok(true) => {
            tracing::info!(
                compare_sha,
                "No changes in desired state. Exit PR check early."
            );
            true
        }
        Ok(false) => {
            tracing::info!(
                compare_sha,
                "the desired state differs from the comparison bundle; running the dry-run"
            );
            false
        }
        Err(e) => {
            tracing::warn!(
                compare_sha,
                "early exit skipped (full dry-run instead): {e}"
            );
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::appinterface::AppInterfaceError;
    use crate::model::{
        DynatraceEnvironment, OcmEnvName, OcmEnvironment, OrgId, SpecName, SpecSecret, SpecToken,
        TenantId, TokenSpec,
    };
    use async_trait::async_trait;

    fn vref(path: &str) -> VaultSecretRef {
        VaultSecretRef {
            path: path.into(),
            field: "token".into(),
            version: None,
            format: None,
        }
    }

    fn token(name: &str, key: &str, scopes: &[&str]) -> SpecToken {
        SpecToken {
            name: name.into(),
            key_name_in_secret: Some(key.into()),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn spec(name: &str, orgs: &[&str]) -> TokenSpec {
        TokenSpec {
            name: SpecName::new(name),
            ocm_org_ids: orgs.iter().map(|o| OrgId::new(*o)).collect(),
            secrets: vec![SpecSecret {
                name: "dynatrace-token-dtp".into(),
                namespace: "dynatrace".into(),
                tokens: vec![
                    token(
                        "operator-token",
                        "apiToken",
                        &["entities.read", "settings.read"],
                    ),
                    token(
                        "ingestion-token",
                        "dataIngestToken",
                        &["metrics.ingest", "logs.ingest"],
                    ),
                ],
            }],
            source: Some(format!("/dynatrace/{name}.yml")),
        }
    }

    fn dt(id: &str) -> DynatraceEnvironment {
        DynatraceEnvironment {
            name: format!("dt-{id}"),
            environment_id: TenantId::new(id),
            environment_url: format!("https://{id}.live.dynatrace.com"),
            bootstrap_token: vref(&format!("dynatrace/{id}")),
            source: Some(format!("/dependencies/dynatrace/{id}.yml")),
        }
    }

    fn ocm(name: &str) -> OcmEnvironment {
        OcmEnvironment {
            name: OcmEnvName::new(name),
            url: format!("https://api.{name}.example.com"),
            access_token_url: format!("https://sso.{name}.example.com/token"),
            access_token_client_id: "dtp".into(),
            access_token_client_secret: vref(&format!("ocm/{name}")),
            source: Some(format!("/openshift/{name}.yml")),
        }
    }

    fn data() -> AppInterfaceData {
        AppInterfaceData {
            dynatrace_environments: vec![dt("abc12345"), dt("xyz67890")],
            ocm_environments: vec![ocm("production"), ocm("stage")],
            token_specs: vec![
                spec("default", &["org-a", "org-b"]),
                spec("slo", &["org-a"]),
            ],
            vault: true,
            bundle_sha: Some("aaaa".into()),
        }
    }

    fn fp(d: &AppInterfaceData) -> String {
        desired_fingerprint(d)
    }

    #[test]
    fn the_fingerprint_is_versioned_and_stable() {
        let f = fp(&data());
        assert!(f.starts_with("dtp-1:"), "{f}");
        assert_eq!(f.len(), "dtp-1:".len() + 64);
        assert_eq!(f, fp(&data()));
    }

    #[test]
    fn reordered_lists_are_equal() {
        let base = data();
        let mut d = data();
        d.dynatrace_environments.reverse();
        d.ocm_environments.reverse();
        d.token_specs.reverse();
        d.token_specs[1].ocm_org_ids.reverse();
        d.token_specs[0].secrets[0].tokens[0].scopes.reverse();
        assert_eq!(fp(&base), fp(&d));
        assert_eq!(desired_state_json(&base), desired_state_json(&d));
    }

    #[test]
    fn sources_and_bundle_sha_do_not_matter() {
        let base = data();
        let mut d = data();
        d.bundle_sha = Some("bbbb".into());
        for s in &mut d.token_specs {
            s.source = Some(format!("/elsewhere/{}.yml", s.name));
        }
        for e in &mut d.dynatrace_environments {
            e.source = None;
        }
        for e in &mut d.ocm_environments {
            e.source = Some("/moved.yml".into());
        }
        assert_eq!(fp(&base), fp(&d));
    }

    #[test]
    fn token_order_inside_a_secret_matters() {
        let mut d = data();
        d.token_specs[0].secrets[0].tokens.reverse();
        assert_ne!(fp(&data()), fp(&d));
    }

    /// A named edit of the data.
    type Change = (&'static str, Box<dyn Fn(&mut AppInterfaceData)>);

    #[test]
    fn every_input_of_the_desired_state_changes_the_fingerprint() {
        let base = fp(&data());
        let changes: Vec<Change> = vec![
            (
                "a scope",
                Box::new(|d| d.token_specs[0].secrets[0].tokens[0].scopes[0] = "DataExport".into()),
            ),
            (
                "an added scope",
                Box::new(|d| {
                    d.token_specs[0].secrets[0].tokens[0]
                        .scopes
                        .push("DataExport".into())
                }),
            ),
            (
                "a key name",
                Box::new(|d| d.token_specs[0].secrets[0].tokens[0].key_name_in_secret = None),
            ),
            (
                "a secret namespace",
                Box::new(|d| d.token_specs[0].secrets[0].namespace = "other".into()),
            ),
            (
                "an org",
                Box::new(|d| d.token_specs[1].ocm_org_ids.push(OrgId::new("org-c"))),
            ),
            (
                "a duplicated spec",
                Box::new(|d| {
                    let s = d.token_specs[0].clone();
                    d.token_specs.push(s)
                }),
            ),
            (
                "a Dynatrace environment URL",
                Box::new(|d| {
                    d.dynatrace_environments[0].environment_url =
                        "https://abc12345.apps.dynatrace.com".into()
                }),
            ),
            (
                "a Dynatrace environment name",
                Box::new(|d| d.dynatrace_environments[0].name = "renamed".into()),
            ),
            (
                "a bootstrap token version",
                Box::new(|d| d.dynatrace_environments[1].bootstrap_token.version = Some(3)),
            ),
            (
                "a removed Dynatrace environment",
                Box::new(|d| {
                    d.dynatrace_environments.pop();
                }),
            ),
            (
                "an OCM client secret ref",
                Box::new(|d| d.ocm_environments[0].access_token_client_secret.path = "x/y".into()),
            ),
            (
                "an OCM client secret field",
                Box::new(|d| {
                    d.ocm_environments[0].access_token_client_secret.field = "secret".into()
                }),
            ),
            (
                "an OCM client id",
                Box::new(|d| d.ocm_environments[1].access_token_client_id = "other".into()),
            ),
            (
                "an OCM token URL",
                Box::new(|d| d.ocm_environments[1].access_token_url = "https://sso/t".into()),
            ),
            (
                "a new OCM environment",
                Box::new(|d| d.ocm_environments.push(ocm("integration"))),
            ),
            ("the vault setting", Box::new(|d| d.vault = false)),
        ];
        for (what, change) in changes {
            let mut d = data();
            change(&mut d);
            assert_ne!(base, fp(&d), "{what} must change the fingerprint");
        }
    }

    #[test]
    fn the_document_holds_references_not_paths_or_shas() {
        let json = desired_state_json(&data());
        assert!(json.contains("\"version\":\"dtp-1\""), "{json}");
        assert!(json.contains("dynatrace/abc12345"), "{json}");
        assert!(!json.contains("aaaa"), "{json}");
        assert!(!json.contains(".yml"), "{json}");
    }

    struct Fixed(Result<AppInterfaceData, String>);

    #[async_trait]
    impl AppInterfaceSource for Fixed {
        async fn load(&self) -> Result<AppInterfaceData, AppInterfaceError> {
            self.0.clone().map_err(AppInterfaceError::Other)
        }
    }

    #[tokio::test]
    async fn unchanged_compares_fingerprints_and_reports_load_errors() {
        let mut moved = data();
        moved.bundle_sha = Some("other".into());
        let mut changed = data();
        changed.ocm_environments.push(ocm("integration"));
        let ok = |d: AppInterfaceData| Fixed(Ok(d));

        assert_eq!(unchanged(&ok(data()), &ok(moved)).await, Ok(true));
        assert_eq!(unchanged(&ok(changed), &ok(data())).await, Ok(false));

        let err = unchanged(&Fixed(Err("boom".into())), &ok(data()))
            .await
            .unwrap_err();
        assert!(err.starts_with("current app-interface bundle"), "{err}");
        let err = unchanged(&ok(data()), &Fixed(Err("gone".into())))
            .await
            .unwrap_err();
        assert!(err.starts_with("comparison app-interface bundle"), "{err}");
    }

    #[tokio::test]
    async fn invalid_current_data_never_exits_early() {
        let mut invalid = data();
        invalid.token_specs[0].secrets[0].tokens[0].scopes.clear();
        assert_eq!(
            unchanged(&Fixed(Ok(invalid.clone())), &Fixed(Ok(invalid))).await,
            Ok(false)
        );
    }
}
