//! The typed datafiles dtp reads, following the qontract-schemas JSON schemas
//! (`additionalProperties: false` becomes `deny_unknown_fields`), and how a `$schema` picks one.

use super::*;

#[derive(Deserialize)]
pub(super) struct SchemaProbe {
    #[serde(rename = "$schema", default)]
    pub(super) schema: Option<String>,
}

#[derive(Clone, Copy)]
pub(super) enum Kind {
    TokenSpec,
    Dynatrace,
    Ocm,
    Settings,
}

/// The schemas dtp reads.
const KNOWN: [&str; 4] = [
    TOKEN_SPEC_SCHEMA,
    DYNATRACE_ENVIRONMENT_SCHEMA,
    OCM_ENVIRONMENT_SCHEMA,
    SETTINGS_SCHEMA,
];

/// A schema path without its version and extension, lowercased: the family it belongs to.
fn stem(schema: &str) -> String {
    let s = schema.trim().trim_start_matches('/').to_ascii_lowercase();
    let s = s
        .strip_suffix(".yml")
        .or_else(|| s.strip_suffix(".yaml"))
        .or_else(|| s.strip_suffix(".json"))
        .unwrap_or(&s);
    let s = s.trim_end_matches(|c: char| c.is_ascii_digit());
    s.strip_suffix('-').unwrap_or(s).to_owned()
}

/// The Levenshtein distance of two short strings.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The schema of `known` that `schema` resembles without being it: the same family in
/// another version or extension, or a typo (at most two characters off).
pub(super) fn near_miss_in(known: &[&'static str], schema: &str) -> Option<&'static str> {
    let s = stem(schema);
    known
        .iter()
        .find(|k| {
            let known = stem(k);
            known == s || distance(&known, &s) <= 2
        })
        .copied()
}

impl Kind {
    /// The schema of dtp's that `schema` resembles without being it: the same family in
    /// another version or extension, or a typo (at most two characters off).
    pub(super) fn near_miss(schema: &str) -> Option<&'static str> {
        near_miss_in(&KNOWN, schema)
    }

    pub(super) fn of(schema: &str) -> Option<Self> {
        match schema {
            TOKEN_SPEC_SCHEMA => Some(Self::TokenSpec),
            DYNATRACE_ENVIRONMENT_SCHEMA => Some(Self::Dynatrace),
            OCM_ENVIRONMENT_SCHEMA => Some(Self::Ocm),
            SETTINGS_SCHEMA => Some(Self::Settings),
            _ => None,
        }
    }
}

pub(super) enum Parsed {
    TokenSpec(TokenSpecFile),
    Dynatrace(DynatraceEnvironmentFile),
    Ocm(OcmEnvironmentFile),
    Settings(SettingsFile),
}

/// `/common-1.json#/definitions/vaultSecret`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct VaultSecretFile {
    pub(super) path: String,
    pub(super) field: String,
    #[serde(default)]
    pub(super) format: Option<VaultSecretFormat>,
    #[serde(default)]
    pub(super) version: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum VaultSecretFormat {
    Plain,
    Base64,
}

impl From<VaultSecretFile> for VaultSecretRef {
    fn from(v: VaultSecretFile) -> Self {
        VaultSecretRef {
            path: v.path,
            field: v.field,
            version: v.version,
            format: v.format.map(|f| {
                match f {
                    VaultSecretFormat::Plain => "plain",
                    VaultSecretFormat::Base64 => "base64",
                }
                .to_owned()
            }),
        }
    }
}

// Fields dtp does not use are still declared, so that their presence and types are checked
// like app-interface's schema validation would.

/// `/dynatrace/dynatrace-token-provider-token-spec-1.yml`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(super) struct TokenSpecFile {
    #[serde(rename = "$schema")]
    pub(super) schema: String,
    pub(super) name: String,
    pub(super) description: String,
    pub(super) ocm_org_ids: Vec<String>,
    pub(super) secrets: Vec<TokenSecretFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TokenSecretFile {
    pub(super) name: String,
    pub(super) namespace: String,
    pub(super) tokens: Vec<TokenFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TokenFile {
    /// `maxLength: 46` in the schema; checked by model validation with a clearer message.
    pub(super) name: String,
    #[serde(rename = "keyNameInSecret", default)]
    pub(super) key_name_in_secret: Option<String>,
    /// Enum-restricted in the schema; checked by model validation (every bad scope at once).
    pub(super) scopes: Vec<String>,
}

/// `/dependencies/dynatrace-environment-1.yml`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(super) struct DynatraceEnvironmentFile {
    #[serde(rename = "$schema")]
    pub(super) schema: String,
    pub(super) name: String,
    pub(super) description: String,
    #[serde(rename = "environmentID")]
    pub(super) environment_id: String,
    #[serde(rename = "environmentUrl")]
    pub(super) environment_url: String,
    #[serde(rename = "bootstrapToken")]
    pub(super) bootstrap_token: VaultSecretFile,
    #[serde(default)]
    pub(super) environment: Option<DynatraceStage>,
    #[serde(rename = "dynatraceRegion", default)]
    pub(super) dynatrace_region: Option<String>,
    /// Items are AWS region names (`/aws/regions-1.yml` enum, not re-checked here).
    #[serde(rename = "awsRegion", default)]
    pub(super) aws_region: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum DynatraceStage {
    Integration,
    Stage,
    Production,
}

/// `/openshift/openshift-cluster-manager-environment-1.yml`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(super) struct OcmEnvironmentFile {
    #[serde(rename = "$schema")]
    pub(super) schema: String,
    /// Required by the JSON schema, optional in GraphQL and unused by dtp: accepted when
    /// absent. A map of strings, or that map as a JSON string (how GraphQL returns it).
    #[serde(default, deserialize_with = "labels")]
    pub(super) labels: Option<BTreeMap<String, String>>,
    pub(super) name: String,
    /// Required by the JSON schema, optional in GraphQL and unused by dtp: accepted when
    /// absent.
    #[serde(default)]
    pub(super) description: Option<String>,
    pub(super) url: String,
    #[serde(rename = "accessTokenClientId")]
    pub(super) access_token_client_id: String,
    #[serde(rename = "accessTokenUrl")]
    pub(super) access_token_url: String,
    #[serde(rename = "accessTokenClientSecret")]
    pub(super) access_token_client_secret: VaultSecretFile,
    /// A crossref to a `/dependencies/prometheus-instance-1.yml` datafile.
    #[serde(default)]
    pub(super) telemeter: Option<CrossRef>,
}

/// `/common-1.json#/definitions/crossref`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(super) struct CrossRef {
    #[serde(rename = "$ref")]
    pub(super) target: String,
}

/// `/app-interface/app-interface-settings-1.yml`: only `vault` matters to dtp; the many other
/// fields are allowed and not checked.
#[derive(Deserialize)]
pub(super) struct SettingsFile {
    pub(super) vault: bool,
}

pub(super) fn labels<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    use serde::de::Error;
    let value = Option::<Value>::deserialize(d)?;
    let object = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => serde_json::from_str::<Value>(&s)
            .map_err(|e| D::Error::custom(format!("labels: not a JSON object: {e}")))?,
        Some(v) => v,
    };
    serde_json::from_value(object)
        .map(Some)
        .map_err(|_| D::Error::custom("labels must be a map of strings"))
}
