//! Validation of app-interface data before any cluster work (behaviour B11 plus the holes the
//! Python integration leaves open, docs/behaviour.md §9). Unlike the Python integration, every problem
//! is collected (not only the first), each naming the spec, secret, token or environment and,
//! when known, the datafile.

use super::appinterface::{AppInterfaceData, SpecSecret, SpecToken, TokenSpec};
use super::naming::MAX_TOKEN_NAME_LEN;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Scopes the token-spec schema allows (`dynatrace-token-provider-token-spec-1.yml`).
pub const ALLOWED_SCOPES: &[&str] = &[
    "metrics.ingest",
    "logs.ingest",
    "events.ingest",
    "activeGateTokenManagement.create",
    "entities.read",
    "settings.write",
    "settings.read",
    "DataExport",
    "InstallerDownload",
    "SupportAlert",
    "ExternalSyntheticIntegration",
];

/// One problem in app-interface data.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// What is wrong, e.g. `token spec 'default'`.
    pub object: String,
    /// The datafile, when the data came from a datafiles directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.object)?;
        if let Some(src) = &self.source {
            write!(f, " ({src})")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Validates one token spec; returns every problem found.
pub fn validate_spec(spec: &TokenSpec) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut push = |message: String| {
        problems.push(Problem {
            object: format!("token spec '{}'", spec.name),
            source: spec.source.clone(),
            message,
        })
    };
    if spec.name.as_str().is_empty() {
        push("the spec name is empty".into());
    }
    if spec.secrets.is_empty() {
        push("the spec defines no secrets".into());
    }
    let mut seen_secrets = BTreeSet::new();
    for secret in &spec.secrets {
        if secret.name.is_empty() || secret.namespace.is_empty() {
            push(format!(
                "secret '{}' in namespace '{}' needs a non-empty name and namespace",
                secret.name, secret.namespace
            ));
        }
        if !seen_secrets.insert((secret.namespace.as_str(), secret.name.as_str())) {
            // Message of the Python integration's SecretNotUniqueError.
            push(format!(
                "A secret cannot be re-defined and must be unique per spec. Secret '{}' in namespace '{}' is defined multiple times in spec '{}'.",
                secret.name, secret.namespace, spec.name
            ));
        }
        if secret.tokens.is_empty() {
            push(format!("secret '{}' defines no tokens", secret.name));
        }
        check_kubernetes_names(secret, &mut push);
        check_tokens(spec, secret, &mut push);
        check_keys(secret, &mut push);
    }
    problems
}

/// Names, keys and scopes of each token of a secret.
fn check_tokens(spec: &TokenSpec, secret: &SpecSecret, push: &mut impl FnMut(String)) {
    let mut names = BTreeSet::new();
    let mut keys = BTreeSet::new();
    for token in &secret.tokens {
        if !names.insert(token.name.as_str()) {
            push(format!(
                "A token name must be unique within a secret. Token name '{}' is used more than once in secret '{}' in token spec '{}'.",
                token.name, secret.name, spec.name
            ));
        }
        if !keys.insert(token.key()) {
            push(format!(
                "A key name must be unique within a secret. Key name '{}' is used more than once in secret '{}' in token spec '{}'.",
                token.key(),
                secret.name,
                spec.name
            ));
        }
        if token.name.is_empty() {
            push(format!(
                "secret '{}' has a token with an empty name",
                secret.name
            ));
        }
        if token.key().is_empty() {
            push(format!(
                "token '{}' in secret '{}' has an empty keyNameInSecret",
                token.name, secret.name
            ));
        }
        if token.name.chars().count() > MAX_TOKEN_NAME_LEN {
            push(format!(
                "token name '{}' in secret '{}' is longer than {MAX_TOKEN_NAME_LEN} characters",
                token.name, secret.name
            ));
        }
        check_scopes(secret, token, push);
    }
}

fn check_scopes(secret: &SpecSecret, token: &SpecToken, push: &mut impl FnMut(String)) {
    if token.scopes.is_empty() {
        push(format!(
            "token '{}' in secret '{}' has no scopes",
            token.name, secret.name
        ));
    }
    for scope in &token.scopes {
        if !ALLOWED_SCOPES.contains(&scope.as_str()) {
            push(format!(
                "token '{}' in secret '{}' has scope '{scope}', which the token-spec schema does not allow",
                token.name, secret.name
            ));
        }
    }
}

/// Secret names are RFC 1123 subdomains (253 characters, lowercase alphanumerics, `-` and
/// `.`), namespaces RFC 1123 labels (63, lowercase alphanumerics and `-`), and Secret keys
/// `[-._a-zA-Z0-9]+` of at most 253 characters (`<key>Id` included): Kubernetes refuses
/// anything else, and the whole bundle with it.
fn check_kubernetes_names(secret: &SpecSecret, push: &mut impl FnMut(String)) {
    if !secret.name.is_empty() && !is_dns_subdomain(&secret.name) {
        push(format!(
            "secret name '{}' is not a valid Kubernetes name (lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters)",
            secret.name
        ));
    }
    if !secret.namespace.is_empty() && !is_dns_label(&secret.namespace) {
        push(format!(
            "namespace '{}' of secret '{}' is not a valid Kubernetes namespace (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)",
            secret.namespace, secret.name
        ));
    }
    for token in &secret.tokens {
        let key = token.key();
        let valid = key.len() + 2 <= 253
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
        if !key.is_empty() && !valid {
            push(format!(
                "key '{key}' of token '{}' in secret '{}' is not a valid Secret key (letters, digits, '-', '.' and '_', at most 251 characters)",
                token.name, secret.name
            ));
        }
    }
}

/// An RFC 1123 label: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters.
pub fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// An RFC 1123 subdomain: labels joined by `.`, at most 253 characters.
pub fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// Keys share one Secret with `apiUrl` and with each token's `<key>Id`.
fn check_keys(secret: &SpecSecret, push: &mut impl FnMut(String)) {
    for token in &secret.tokens {
        let key = token.key();
        if key == "apiUrl" {
            push(format!(
                "token '{}' in secret '{}' uses key 'apiUrl', which holds the Dynatrace API URL",
                token.name, secret.name
            ));
        }
        for other in &secret.tokens {
            if format!("{}Id", other.key()) == key {
                push(format!(
                    "token '{}' in secret '{}' uses key '{key}', which collides with the id key of token '{}'",
                    token.name, secret.name, other.name
                ));
            }
        }
    }
}

/// Validates all app-interface data dtp uses: token specs (B11 and more) and the Dynatrace and
/// OCM environments (unique names and tenant ids, usable URLs).
pub fn validate_app_interface(data: &AppInterfaceData) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut spec_names = BTreeMap::new();
    for spec in &data.token_specs {
        if let Some(first) = spec_names.insert(spec.name.clone(), spec.source.clone()) {
            problems.push(Problem {
                object: format!("token spec '{}'", spec.name),
                source: spec.source.clone(),
                message: format!(
                    "the spec name is defined more than once{}",
                    first.map(|f| format!(" (also in {f})")).unwrap_or_default()
                ),
            });
        }
        problems.extend(validate_spec(spec));
    }
    if data.dynatrace_environments.is_empty() {
        problems.push(Problem {
            object: "app-interface".into(),
            source: None,
            message: "No Dynatrace environment defined.".into(),
        });
    }
    let mut tenants = BTreeSet::new();
    for env in &data.dynatrace_environments {
        let mut push = |message: String| {
            problems.push(Problem {
                object: format!("Dynatrace environment '{}'", env.name),
                source: env.source.clone(),
                message,
            })
        };
        if env.environment_id.as_str().is_empty() {
            push("environmentID is empty".into());
        }
        if !tenants.insert(env.environment_id.clone()) {
            push(format!(
                "environmentID '{}' is used by more than one Dynatrace environment",
                env.environment_id
            ));
        }
        if let Err(e) = check_url(&env.environment_url) {
            push(format!("environmentUrl '{}' {e}", env.environment_url));
        }
    }
    let mut ocm_names = BTreeSet::new();
    for env in &data.ocm_environments {
        let mut push = |message: String| {
            problems.push(Problem {
                object: format!("OCM environment '{}'", env.name),
                source: env.source.clone(),
                message,
            })
        };
        if !ocm_names.insert(env.name.clone()) {
            push("the name is used by more than one OCM environment".into());
        }
        if let Err(e) = check_url(&env.url) {
            push(format!("url '{}' {e}", env.url));
        }
        if let Err(e) = check_url(&env.access_token_url) {
            push(format!("accessTokenUrl '{}' {e}", env.access_token_url));
        }
        if env.access_token_client_id.is_empty() {
            push("accessTokenClientId is empty".into());
        }
    }
    problems
}

fn check_url(raw: &str) -> Result<(), String> {
    let url = url::Url::parse(raw).map_err(|e| format!("is not a URL: {e}"))?;
    match url.scheme() {
        "https" | "http" => {}
        other => return Err(format!("has scheme '{other}'; expected https")),
    }
    if url.host_str().is_none() {
        return Err("has no host".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or fragment".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SpecSecret, SpecToken};

    fn token(name: &str, key: Option<&str>) -> SpecToken {
        SpecToken {
            name: name.into(),
            key_name_in_secret: key.map(Into::into),
            scopes: vec!["metrics.ingest".into()],
        }
    }

    fn spec(secrets: Vec<SpecSecret>) -> TokenSpec {
        TokenSpec {
            name: "default".into(),
            ocm_org_ids: vec!["org".into()],
            secrets,
            source: None,
        }
    }

    fn secret(name: &str, tokens: Vec<SpecToken>) -> SpecSecret {
        SpecSecret {
            name: name.into(),
            namespace: "dynatrace".into(),
            tokens,
        }
    }

    fn messages(spec: &TokenSpec) -> Vec<String> {
        validate_spec(spec).into_iter().map(|p| p.message).collect()
    }

    #[test]
    fn a_valid_spec_has_no_problems() {
        let s = spec(vec![secret(
            "dynatrace-token-dtp",
            vec![
                token("ingestion-token", Some("dataIngestToken")),
                token("operator-token", Some("apiToken")),
            ],
        )]);
        assert!(validate_spec(&s).is_empty());
    }

    #[test]
    fn a_secret_defined_twice_is_rejected_with_the_python_message() {
        let s = spec(vec![
            secret("dynatrace-token-dtp", vec![token("a", None)]),
            secret("dynatrace-token-dtp", vec![token("b", None)]),
        ]);
        assert_eq!(
            messages(&s),
            vec![
                "A secret cannot be re-defined and must be unique per spec. Secret 'dynatrace-token-dtp' in namespace 'dynatrace' is defined multiple times in spec 'default'."
            ]
        );
    }

    #[test]
    fn a_token_name_used_twice_in_a_secret_is_rejected() {
        let s = spec(vec![secret(
            "s",
            vec![
                token("ingestion-token", Some("a")),
                token("ingestion-token", Some("b")),
            ],
        )]);
        assert_eq!(
            messages(&s),
            vec![
                "A token name must be unique within a secret. Token name 'ingestion-token' is used more than once in secret 's' in token spec 'default'."
            ]
        );
    }

    #[test]
    fn a_key_used_twice_is_rejected_including_through_the_name_fallback() {
        let s = spec(vec![secret(
            "s",
            vec![
                token("a", Some("dataIngestToken")),
                token("b", Some("dataIngestToken")),
            ],
        )]);
        assert_eq!(messages(&s).len(), 1);
        assert!(
            messages(&s)[0].starts_with(
                "A key name must be unique within a secret. Key name 'dataIngestToken'"
            )
        );
        let s = spec(vec![secret(
            "s",
            vec![
                token("x", Some("other-ingestion")),
                token("other-ingestion", None),
            ],
        )]);
        assert!(messages(&s)[0].contains("Key name 'other-ingestion'"));
    }

    #[test]
    fn empty_lists_and_reserved_keys_are_rejected() {
        assert_eq!(messages(&spec(vec![])), vec!["the spec defines no secrets"]);
        assert_eq!(
            messages(&spec(vec![secret("s", vec![])])),
            vec!["secret 's' defines no tokens"]
        );
        let mut t = token("t", None);
        t.scopes.clear();
        assert_eq!(
            messages(&spec(vec![secret("s", vec![t])])),
            vec!["token 't' in secret 's' has no scopes"]
        );
        let m = messages(&spec(vec![secret("s", vec![token("t", Some("apiUrl"))])]));
        assert!(m[0].contains("uses key 'apiUrl'"), "{m:?}");
        let m = messages(&spec(vec![secret(
            "s",
            vec![token("a", Some("apiToken")), token("b", Some("apiTokenId"))],
        )]));
        assert!(
            m[0].contains("collides with the id key of token 'a'"),
            "{m:?}"
        );
    }

    #[test]
    fn unknown_scopes_and_long_names_are_rejected() {
        let mut t = token(&"n".repeat(47), None);
        t.scopes = vec!["apiTokens.write".into()];
        let m = messages(&spec(vec![secret("s", vec![t])]));
        assert_eq!(m.len(), 2, "{m:?}");
    }

    #[test]
    fn kubernetes_names_and_keys_are_checked() {
        let mut s = spec(vec![secret("Bad_Name", vec![token("t", Some("a key"))])]);
        s.secrets[0].namespace = "-ns".into();
        let m = messages(&s);
        assert_eq!(m.len(), 3, "{m:?}");
        assert!(
            m[0].contains("'Bad_Name' is not a valid Kubernetes name"),
            "{m:?}"
        );
        assert!(m[1].contains("'-ns'"), "{m:?}");
        assert!(m[2].contains("'a key'"), "{m:?}");
        assert!(is_dns_subdomain("dynatrace-token-dtp.v1") && is_dns_label("dynatrace"));
        assert!(!is_dns_label(&"a".repeat(64)) && !is_dns_subdomain("a..b"));
    }

    #[test]
    fn every_problem_is_reported_not_only_the_first() {
        let s = spec(vec![
            secret("s", vec![]),
            secret("s", vec![token("a", Some("apiUrl"))]),
        ]);
        assert_eq!(validate_spec(&s).len(), 3);
    }
}
