//! App-interface from a local directory of datafiles (YAML), for PR checks and local runs
//! without a qontract-server.
//!
//! Conventions:
//! - The directory plays the role of app-interface's `data/` directory: a file's app-interface
//!   path is its path relative to the directory, `/`-rooted (`/dependencies/dt/abc.yml`). That
//!   is the `path` qontract-server would report, and the `source` of every model object.
//! - Every `*.yml` / `*.yaml` file is read (recursively, in path order; hidden entries such as
//!   `.git` and symlinked directories are skipped) and dispatched on its `$schema`: token specs,
//!   Dynatrace environments, OCM environments and app-interface settings are parsed; any other
//!   schema, and files without `$schema`, are ignored. A file that cannot be parsed as YAML is
//!   an error only when it names one of dtp's schemas (it is ignored otherwise).
//! - Each of dtp's files is parsed into typed structs that follow the JSON schemas
//!   (qontract-schemas; `additionalProperties: false` becomes `deny_unknown_fields`); the
//!   settings file is read for `vault` only.
//! - Every problem is collected (file path, line and column when known, what is wrong) and
//!   returned together in [`AppInterfaceError::Datafiles`].
//! - Vault settings: at most one settings datafile. **Without one, `vault` is `false`**: secrets
//!   then come from config.toml, which is what a local datafiles run usually wants; add an
//!   `/app-interface/app-interface-settings-1.yml` file with `vault: true` to read Vault.
//!
//! - The log-rules reconciler's inputs (clusters, namespaces and the Dynatrace environments
//!   they reference) are read by a separate pass ([`load_log_rules_dir`], module `log_rules`)
//!   with the same conventions; the token load above never looks at those schemas.
//!
//! The typed parsing is shared with in-memory datafiles ([`from_datafiles`]), which is how the
//! GraphQL sandbox and tests turn the same files into the data a GraphQL load must equal.

use super::AppInterfaceError;
use crate::clients::AppInterfaceSource;
use crate::model::{
    AppInterfaceData, DynatraceEnvironment, LogRulesInput, OcmEnvName, OcmEnvironment, OrgId,
    SpecName, SpecSecret, SpecToken, TenantId, TokenSpec, VaultSecretRef,
};
use async_trait::async_trait;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `$schema` of token specs.
pub const TOKEN_SPEC_SCHEMA: &str = "/dynatrace/dynatrace-token-provider-token-spec-1.yml";
/// `$schema` of Dynatrace environments.
pub const DYNATRACE_ENVIRONMENT_SCHEMA: &str = "/dependencies/dynatrace-environment-1.yml";
/// `$schema` of OCM environments.
pub const OCM_ENVIRONMENT_SCHEMA: &str = "/openshift/openshift-cluster-manager-environment-1.yml";
/// `$schema` of the app-interface settings (holds `vault`).
pub const SETTINGS_SCHEMA: &str = "/app-interface/app-interface-settings-1.yml";

const OUR_SCHEMAS: [&str; 4] = [
    TOKEN_SPEC_SCHEMA,
    DYNATRACE_ENVIRONMENT_SCHEMA,
    OCM_ENVIRONMENT_SCHEMA,
    SETTINGS_SCHEMA,
];

/// One datafile: its app-interface path (`/`-rooted) and its content as JSON.
pub type Datafile = (String, Value);

/// App-interface data from a datafiles directory. See the module documentation for the
/// conventions.
#[derive(Clone, Debug)]
pub struct DatafilesSource {
    dir: PathBuf,
}

impl DatafilesSource {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[async_trait]
impl AppInterfaceSource for DatafilesSource {
    async fn load(&self) -> Result<AppInterfaceData, AppInterfaceError> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || load_dir(&dir))
            .await
            .map_err(|e| AppInterfaceError::Other(format!("reading datafiles: {e}")))?
    }

    async fn load_log_rules(&self) -> Result<LogRulesInput, AppInterfaceError> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || load_log_rules_dir(&dir))
            .await
            .map_err(|e| AppInterfaceError::Other(format!("reading datafiles: {e}")))?
    }
}

/// Reads dtp's data from a datafiles directory (blocking). YAML is parsed straight into the
/// typed structs, so problems carry line and column.
pub fn load_dir(dir: &Path) -> Result<AppInterfaceData, AppInterfaceError> {
    let mut problems = Vec::new();
    let mut parsed = Vec::new();
    for file in walk(dir, &mut problems) {
        let Some(text) = read_text(&file, &mut problems) else {
            continue;
        };
        let schema = match serde_saphyr::from_str_with_options::<SchemaProbe>(
            &text.text,
            yaml_options(),
        ) {
            Ok(probe) => probe.schema,
            Err(e) => {
                if looks_like_ours(&text.text) {
                    problems.push(format!("{}: invalid YAML: {}", file.path, yaml_error(&e)));
                } else {
                    tracing::debug!(file = %file.path, "skipping a file that is not a YAML mapping");
                }
                continue;
            }
        };
        let Some(kind) = kind_of(&file.path, schema.as_deref(), &mut problems) else {
            continue;
        };
        let item = match kind {
            Kind::TokenSpec => from_yaml(&text.text).map(Parsed::TokenSpec),
            Kind::Dynatrace => from_yaml(&text.text).map(Parsed::Dynatrace),
            Kind::Ocm => from_yaml(&text.text).map(Parsed::Ocm),
            Kind::Settings => from_yaml(&text.text).map(Parsed::Settings),
        };
        match item {
            Ok(item) => parsed.push((file.path, item)),
            Err(message) => problems.push(format!("{}: {message}", file.path)),
        }
    }
    assemble(parsed, problems)
}

/// Reads every datafile of a directory as JSON: each `*.yml`/`*.yaml` file whose top level is a
/// mapping with a string `$schema` (any schema), in path order. This is how a qontract-server
/// bundle (or the GraphQL sandbox) is built from the same files.
pub fn read_datafiles(dir: &Path) -> Result<Vec<Datafile>, AppInterfaceError> {
    let mut problems = Vec::new();
    let mut out = Vec::new();
    for file in walk(dir, &mut problems) {
        let Some(text) = read_text(&file, &mut problems) else {
            continue;
        };
        match serde_saphyr::from_str_with_options::<Value>(&text.text, yaml_options()) {
            Ok(value) => {
                if value.get("$schema").is_some_and(Value::is_string) {
                    out.push((file.path, value));
                }
            }
            Err(e) => {
                if looks_like_ours(&text.text) {
                    problems.push(format!("{}: invalid YAML: {}", file.path, yaml_error(&e)));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(AppInterfaceError::Datafiles(problems))
    }
}

/// Builds dtp's data from in-memory datafiles (`(path, content)`, any order, any schemas):
/// the same typed parsing and rules as a datafiles directory, without line numbers.
pub fn from_datafiles(files: &[Datafile]) -> Result<AppInterfaceData, AppInterfaceError> {
    let mut sorted: Vec<&Datafile> = files.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut problems = Vec::new();
    let mut parsed = Vec::new();
    for (path, value) in sorted {
        let schema = value.get("$schema").and_then(Value::as_str);
        let Some(kind) = kind_of(path, schema, &mut problems) else {
            continue;
        };
        let item = match kind {
            Kind::TokenSpec => from_json(value).map(Parsed::TokenSpec),
            Kind::Dynatrace => from_json(value).map(Parsed::Dynatrace),
            Kind::Ocm => from_json(value).map(Parsed::Ocm),
            Kind::Settings => from_json(value).map(Parsed::Settings),
        };
        match item {
            Ok(item) => parsed.push((path.clone(), item)),
            Err(message) => problems.push(format!("{path}: {message}")),
        }
    }
    assemble(parsed, problems)
}

/// The kind of one of dtp's datafiles by its `$schema`; `None` for other files. A `$schema`
/// that looks like one of dtp's (another version, another extension, a typo) is a problem
/// naming the file, not a file to skip silently.
fn kind_of(path: &str, schema: Option<&str>, problems: &mut Vec<String>) -> Option<Kind> {
    let schema = schema?;
    if let Some(kind) = Kind::of(schema) {
        return Some(kind);
    }
    if let Some(known) = Kind::near_miss(schema) {
        problems.push(format!(
            "{path}: $schema '{schema}' is not a schema dtp reads (did you mean '{known}'?)"
        ));
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Walking and reading

struct FoundFile {
    /// App-interface path: relative to the directory, `/`-rooted, `/`-separated.
    path: String,
    fs_path: PathBuf,
}

struct FileText {
    text: String,
}

/// Every YAML file under `dir`, sorted by app-interface path.
fn walk(dir: &Path, problems: &mut Vec<String>) -> Vec<FoundFile> {
    let mut out = Vec::new();
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => walk_into(dir, dir, &mut out, problems),
        Ok(_) => problems.push(format!("{}: not a directory", dir.display())),
        Err(e) => problems.push(format!(
            "{}: cannot read the datafiles directory: {e}",
            dir.display()
        )),
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

fn walk_into(root: &Path, dir: &Path, out: &mut Vec<FoundFile>, problems: &mut Vec<String>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            problems.push(format!(
                "{}: cannot list directory: {e}",
                app_path(root, dir)
            ));
            return;
        }
    };
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                problems.push(format!(
                    "{}: cannot list directory: {e}",
                    app_path(root, dir)
                ));
                continue;
            }
        };
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        if file_type.is_dir() {
            walk_into(root, &path, out, problems);
            continue;
        }
        // A symlink counts when it points at a file; symlinked directories are not followed
        // (no cycles).
        let is_file = file_type.is_file()
            || (file_type.is_symlink() && std::fs::metadata(&path).is_ok_and(|m| m.is_file()));
        if is_file && (name.ends_with(".yml") || name.ends_with(".yaml")) {
            out.push(FoundFile {
                path: app_path(root, &path),
                fs_path: path,
            });
        }
    }
}

fn app_path(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    format!("/{}", parts.join("/"))
}

fn read_text(file: &FoundFile, problems: &mut Vec<String>) -> Option<FileText> {
    match std::fs::read(&file.fs_path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => Some(FileText { text }),
            Err(e) => {
                if looks_like_ours(&String::from_utf8_lossy(e.as_bytes())) {
                    problems.push(format!("{}: not valid UTF-8", file.path));
                }
                None
            }
        },
        Err(e) => {
            problems.push(format!("{}: cannot read: {e}", file.path));
            None
        }
    }
}

/// Whether unparseable text names one of dtp's schemas in a `$schema:` line: then the broken
/// file is an error, not something to skip.
fn looks_like_ours(text: &str) -> bool {
    names_schema(text, &OUR_SCHEMAS)
}

/// Whether text has a `$schema:` line naming one of `schemas`.
fn names_schema(text: &str, schemas: &[&str]) -> bool {
    text.lines().any(|line| {
        let l = line.trim_start().trim_start_matches(['"', '\'']);
        l.starts_with("$schema") && schemas.iter().any(|s| line.contains(s))
    })
}

fn yaml_options() -> serde_saphyr::Options {
    let mut o = serde_saphyr::Options::default();
    // One-line messages (with line/column) instead of rendered source snippets.
    o.with_snippet = false;
    o
}

fn yaml_error(e: &serde_saphyr::Error) -> String {
    let message = e.without_snippet().to_string();
    match e.location() {
        Some(loc) if !message.contains("line") => {
            format!("line {} column {}: {message}", loc.line(), loc.column())
        }
        _ => message,
    }
}

fn from_yaml<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_saphyr::from_str_with_options::<T>(text, yaml_options()).map_err(|e| yaml_error(&e))
}

fn from_json<T: DeserializeOwned>(value: &Value) -> Result<T, String> {
    T::deserialize(value).map_err(|e| e.to_string())
}

mod log_rules;
mod schema;

pub use log_rules::{load_log_rules_dir, log_rules_from_datafiles};
use schema::*;

// ---------------------------------------------------------------------------------------------
// Assembly

fn assemble(
    parsed: Vec<(String, Parsed)>,
    mut problems: Vec<String>,
) -> Result<AppInterfaceData, AppInterfaceError> {
    let mut data = AppInterfaceData::default();
    let mut settings: Vec<(String, bool)> = Vec::new();
    for (path, item) in parsed {
        match item {
            Parsed::TokenSpec(f) => data.token_specs.push(TokenSpec {
                name: SpecName::new(f.name),
                ocm_org_ids: f.ocm_org_ids.into_iter().map(OrgId::new).collect(),
                secrets: f
                    .secrets
                    .into_iter()
                    .map(|s| SpecSecret {
                        name: s.name,
                        namespace: s.namespace,
                        tokens: s
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
                source: Some(path),
            }),
            Parsed::Dynatrace(f) => data.dynatrace_environments.push(DynatraceEnvironment {
                name: f.name,
                environment_id: TenantId::new(f.environment_id),
                environment_url: f.environment_url,
                bootstrap_token: f.bootstrap_token.into(),
                source: Some(path),
            }),
            Parsed::Ocm(f) => data.ocm_environments.push(OcmEnvironment {
                name: OcmEnvName::new(f.name),
                url: f.url,
                access_token_url: f.access_token_url,
                access_token_client_id: f.access_token_client_id,
                access_token_client_secret: f.access_token_client_secret.into(),
                source: Some(path),
            }),
            Parsed::Settings(f) => settings.push((path, f.vault)),
        }
    }
    match settings.as_slice() {
        [] => data.vault = false,
        [(_, vault)] => data.vault = *vault,
        many => problems.push(format!(
            "vault settings not uniquely defined: {} settings datafiles ({})",
            many.len(),
            many.iter()
                .map(|(p, _)| p.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
    if problems.is_empty() {
        Ok(data)
    } else {
        Err(AppInterfaceError::Datafiles(problems))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(name: &str) -> Value {
        json!({
            "$schema": TOKEN_SPEC_SCHEMA,
            "name": name,
            "description": "d",
            "ocm_org_ids": ["org"],
            "secrets": [{"name": "s", "namespace": "ns", "tokens": [{"name": "t", "scopes": ["logs.ingest"]}]}],
        })
    }

    #[test]
    fn in_memory_datafiles_become_model_objects_named_after_their_path() {
        let files = vec![
            ("/b.yml".to_owned(), spec("b")),
            ("/a.yml".to_owned(), spec("a")),
            (
                "/other.yml".to_owned(),
                json!({"$schema": "/access/user-1.yml", "name": "x"}),
            ),
        ];
        let data = from_datafiles(&files).unwrap();
        let names: Vec<_> = data.token_specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a", "b"], "ordered by path, other schemas ignored");
        assert_eq!(data.token_specs[0].source.as_deref(), Some("/a.yml"));
        assert!(!data.vault, "no settings file means no Vault");
    }

    #[test]
    fn every_broken_in_memory_datafile_is_reported() {
        let mut unknown = spec("u");
        unknown["color"] = json!("blue");
        let mut missing = spec("m");
        missing.as_object_mut().unwrap().remove("description");
        let files = vec![
            ("/unknown.yml".to_owned(), unknown),
            ("/missing.yml".to_owned(), missing),
            (
                "/s1.yml".to_owned(),
                json!({"$schema": SETTINGS_SCHEMA, "vault": true}),
            ),
            (
                "/s2.yml".to_owned(),
                json!({"$schema": SETTINGS_SCHEMA, "vault": false, "name": "n"}),
            ),
        ];
        let problems = from_datafiles(&files).unwrap_err().problems();
        assert_eq!(problems.len(), 3, "{problems:#?}");
        assert!(problems[0].starts_with("/missing.yml: ") && problems[0].contains("description"));
        assert!(problems[1].starts_with("/unknown.yml: ") && problems[1].contains("color"));
        assert!(
            problems[2].contains("vault settings not uniquely defined")
                && problems[2].contains("/s1.yml, /s2.yml")
        );
    }

    #[test]
    fn ocm_labels_may_be_a_map_or_a_json_string() {
        let base = json!({
            "$schema": OCM_ENVIRONMENT_SCHEMA, "name": "prod", "description": "d",
            "url": "https://api.openshift.com", "accessTokenClientId": "id",
            "accessTokenUrl": "https://sso/token",
            "accessTokenClientSecret": {"path": "app-sre/ocm", "field": "client_secret"},
        });
        for labels in [json!({"a": "b"}), json!("{\"a\": \"b\"}"), Value::Null] {
            let mut v = base.clone();
            v["labels"] = labels;
            assert!(from_datafiles(&[("/o.yml".into(), v)]).is_ok());
        }
        let mut bad = base.clone();
        bad["labels"] = json!({"a": 1});
        let problems = from_datafiles(&[("/o.yml".into(), bad)])
            .unwrap_err()
            .problems();
        assert!(
            problems[0].contains("labels must be a map of strings"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_schema_of_the_family_of_ours_is_an_error_naming_the_file() {
        let files = vec![
            (
                "/a.yml".to_owned(),
                json!({"$schema": "/dynatrace/dynatrace-token-provider-token-spec-2.yml", "name": "x"}),
            ),
            (
                "/b.yml".to_owned(),
                json!({"$schema": "/dynatrace/dynatrace-token-provider-tokn-spec-1.yml", "name": "x"}),
            ),
            (
                "/c.yml".to_owned(),
                json!({"$schema": "/openshift/cluster-1.yml", "name": "x"}),
            ),
        ];
        let e = from_datafiles(&files).unwrap_err().problems();
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].starts_with("/a.yml: $schema"), "{e:?}");
        assert!(
            e[1].contains("did you mean '/dynatrace/dynatrace-token-provider-token-spec-1.yml'"),
            "{e:?}"
        );
    }

    #[test]
    fn a_broken_file_is_an_error_only_when_it_names_one_of_our_schemas() {
        assert!(looks_like_ours(
            "$schema: /dependencies/dynatrace-environment-1.yml\nname: [x\n"
        ));
        assert!(looks_like_ours(
            "\"$schema\": \"/app-interface/app-interface-settings-1.yml\"\n"
        ));
        assert!(!looks_like_ours("$schema: /access/user-1.yml\nname: [x\n"));
        assert!(!looks_like_ours("{{ jinja }}: template\n"));
    }
}
