//! `config.toml` in the qontract-reconcile format: which Vault login a config selects, the
//! messages a broken config gets (naming the file and the key, never a value), the
//! config-file secret reader, and that `Debug` shows no secret.

use dtp::clients::SecretReader;
use dtp::clients::vault::SecretError;
use dtp::clients::vault::VaultAuth;
use dtp::config::{ConfigError, ConfigSecretReader, QontractConfig};
use dtp::model::VaultSecretRef;
use secrecy::{ExposeSecret, SecretString};
use std::io::Write;

const FULL: &str = r#"
[graphql]
server = "https://qontract.example.com/graphql"
token = "Basic Z3FsLXNlY3JldC12YWx1ZQ=="

[vault]
server = "https://vault.example.com"
role_id = "role-id-value-1234"
secret_id = "secret-id-value-5678"

[smtp]
server = "smtp.example.com"
username = "mailer"
password = "smtp-password-value"

[app-sre.creds.dynatrace]
bootstrap = "dt0c01.config-file-token"
port = 8443
"#;

fn parse(text: &str) -> Result<QontractConfig, ConfigError> {
    QontractConfig::from_str(text, "config.toml", None)
}

fn parse_err(text: &str, vault_token: Option<&str>) -> String {
    QontractConfig::from_str(
        text,
        "config.toml",
        vault_token.map(|t| SecretString::from(t.to_owned())),
    )
    .expect_err("config must be refused")
    .to_string()
}

fn secret(path: &str, field: &str) -> VaultSecretRef {
    VaultSecretRef {
        path: path.into(),
        field: field.into(),
        version: None,
        format: None,
    }
}

#[test]
fn a_full_qontract_config_gives_graphql_and_approle_vault() {
    let c = parse(FULL).unwrap();
    let g = c.graphql.as_ref().unwrap();
    assert_eq!(g.server.as_str(), "https://qontract.example.com/graphql");
    assert_eq!(
        g.token.as_ref().unwrap().expose_secret(),
        "Basic Z3FsLXNlY3JldC12YWx1ZQ=="
    );
    let v = c.vault.as_ref().unwrap();
    assert_eq!(v.server.as_str(), "https://vault.example.com/");
    match &v.auth {
        VaultAuth::AppRole { role_id, secret_id } => {
            assert_eq!(role_id, "role-id-value-1234");
            assert_eq!(secret_id.expose_secret(), "secret-id-value-5678");
        }
        other => panic!("expected AppRole, got {other:?}"),
    }
}

#[test]
fn approle_wins_over_kubernetes_and_the_vault_token() {
    let c = QontractConfig::from_str(
        "[vault]\nserver = \"http://127.0.0.1:8200\"\nrole_id = \"r\"\nsecret_id = \"s\"\nkube_auth_role = \"k\"\nkube_auth_mount = \"kubernetes\"\n",
        "config.toml",
        Some(SecretString::from("env-token")),
    )
    .unwrap();
    assert_eq!(c.vault.unwrap().auth.method(), "approle");
}

#[test]
fn kube_auth_role_without_role_id_selects_kubernetes_auth() {
    let c = parse(
        "[vault]\nserver = \"https://vault.example.com\"\nkube_auth_role = \"dtp\"\nkube_auth_mount = \"k8s-appsrep09ue1\"\n",
    )
    .unwrap();
    match c.vault.unwrap().auth {
        VaultAuth::Kubernetes { role, mount } => {
            assert_eq!(role, "dtp");
            assert_eq!(mount, "k8s-appsrep09ue1");
        }
        other => panic!("expected Kubernetes, got {other:?}"),
    }
}

#[test]
fn a_vault_section_without_credentials_uses_the_vault_token_given() {
    let c = QontractConfig::from_str(
        "[vault]\nserver = \"https://vault.example.com\"\n",
        "config.toml",
        Some(SecretString::from("s.env-token-value")),
    )
    .unwrap();
    match c.vault.unwrap().auth {
        VaultAuth::Token(t) => assert_eq!(t.expose_secret(), "s.env-token-value"),
        other => panic!("expected Token, got {other:?}"),
    }
}

#[test]
fn a_vault_section_without_credentials_or_vault_token_is_refused() {
    let text = "[vault]\nserver = \"https://vault.example.com\"\n";
    for token in [None, Some(""), Some("  ")] {
        let e = parse_err(text, token);
        assert!(
            e.starts_with("config.toml: [vault] has neither role_id"),
            "{e}"
        );
        assert!(e.contains("VAULT_TOKEN is not set"), "{e}");
    }
}

#[test]
fn role_id_without_secret_id_is_refused_naming_the_key() {
    let e = parse_err(
        "[vault]\nserver = \"https://vault.example.com\"\nrole_id = \"role-id-value-1234\"\n",
        None,
    );
    assert_eq!(e, "config.toml: [vault] has role_id but no secret_id");
}

#[test]
fn kube_auth_role_without_kube_auth_mount_is_refused_not_defaulted() {
    let e = parse_err(
        "[vault]\nserver = \"https://vault.example.com\"\nkube_auth_role = \"dtp\"\n",
        Some("env-token"),
    );
    assert_eq!(
        e,
        "config.toml: [vault] has kube_auth_role but no kube_auth_mount"
    );
}

#[test]
fn secret_id_without_role_id_is_refused() {
    let e = parse_err(
        "[vault]\nserver = \"https://vault.example.com\"\nsecret_id = \"secret-id-value-5678\"\n",
        Some("env-token"),
    );
    assert_eq!(e, "config.toml: [vault] has secret_id but no role_id");
}

#[test]
fn missing_or_invalid_servers_are_refused_naming_the_key() {
    assert_eq!(
        parse_err("[vault]\nrole_id = \"r\"\nsecret_id = \"s\"\n", None),
        "config.toml: [vault] has no server"
    );
    assert_eq!(
        parse_err("[graphql]\ntoken = \"Basic abc\"\n", None),
        "config.toml: [graphql] has no server"
    );
    let e = parse_err("[graphql]\nserver = \"ftp://user:pw@host/graphql\"\n", None);
    assert_eq!(
        e,
        "config.toml: [graphql] server must not carry credentials (user info in the URL)"
    );
    assert!(!e.contains("pw"), "{e}");
    let e = parse_err(
        "[vault]\nserver = \"not a url\"\nrole_id = \"r\"\nsecret_id = \"s\"\n",
        None,
    );
    assert!(
        e.starts_with("config.toml: [vault] server is not a valid URL"),
        "{e}"
    );
}

#[test]
fn a_key_of_the_wrong_type_is_refused_without_quoting_its_value() {
    let e = parse_err(
        "[vault]\nserver = \"https://vault.example.com\"\nrole_id = \"r\"\nsecret_id = 123456789\n",
        None,
    );
    assert_eq!(
        e,
        "config.toml: [vault] secret_id must be a string, not an integer"
    );
    assert!(!e.contains("123456789"));
    let e = parse_err("vault = \"https://vault.example.com\"\n", None);
    assert_eq!(e, "config.toml: [vault] must be a table, not a string");
}

#[test]
fn empty_credentials_are_refused() {
    let e = parse_err(
        "[vault]\nserver = \"https://vault.example.com\"\nrole_id = \"r\"\nsecret_id = \"\"\n",
        None,
    );
    assert_eq!(e, "config.toml: [vault] secret_id is empty");
}

#[test]
fn a_toml_syntax_error_gives_line_and_column_but_not_the_line_itself() {
    let e = parse_err(
        "[vault]\nserver = \"https://vault.example.com\"\nsecret_id = very-secret-unquoted\n",
        None,
    );
    assert!(
        e.starts_with("config.toml: invalid TOML at line 3, column 13"),
        "{e}"
    );
    assert!(!e.contains("very-secret-unquoted"), "{e}");
}

#[test]
fn unknown_sections_are_ignored_and_sections_are_optional() {
    let c = parse("[smtp]\nserver = \"x\"\n[qontract-api]\nurl = 1\n").unwrap();
    assert!(c.graphql.is_none());
    assert!(c.vault.is_none());
    let c = parse("").unwrap();
    assert!(c.graphql.is_none() && c.vault.is_none());
}

#[test]
fn load_reads_the_file_and_names_it_in_errors() {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(FULL.as_bytes()).unwrap();
    let c = QontractConfig::load(f.path(), None).unwrap();
    assert_eq!(c.origin(), f.path().display().to_string());
    assert!(c.vault.is_some());

    let mut bad = tempfile::NamedTempFile::new().unwrap();
    bad.write_all(b"[vault]\nserver = \"https://v\"\nrole_id = \"r\"\n")
        .unwrap();
    let e = QontractConfig::load(bad.path(), None)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        format!(
            "{}: [vault] has role_id but no secret_id",
            bad.path().display()
        )
    );

    let missing = f.path().with_extension("absent");
    let e = QontractConfig::load(&missing, None)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&format!("cannot read config file {}", missing.display())),
        "{e}"
    );
}

#[test]
fn debug_output_shows_no_secret() {
    let c = parse(FULL).unwrap();
    let dbg = format!("{c:?}");
    for secret in [
        "Z3FsLXNlY3JldC12YWx1ZQ",
        "role-id-value-1234",
        "secret-id-value-5678",
        "smtp-password-value",
        "dt0c01.config-file-token",
    ] {
        assert!(!dbg.contains(secret), "{secret} leaked into {dbg}");
    }
    assert!(dbg.contains("https://vault.example.com"), "{dbg}");
    assert!(dbg.contains("<redacted>"), "{dbg}");

    let token = QontractConfig::from_str(
        "[vault]\nserver = \"https://vault.example.com\"\n",
        "config.toml",
        Some(SecretString::from("s.env-token-value")),
    )
    .unwrap();
    assert!(!format!("{token:?}").contains("s.env-token-value"));
    let reader = ConfigSecretReader::new(c);
    assert!(!format!("{reader:?}").contains("secret-id-value-5678"));
}

#[test]
fn the_config_secret_reader_walks_nested_tables() {
    let c = parse(FULL).unwrap();
    let v = c
        .config_secret(&secret("app-sre/creds/dynatrace", "bootstrap"))
        .unwrap();
    assert_eq!(v.expose_secret(), "dt0c01.config-file-token");
    // Non-string scalars come back as their TOML text.
    let v = c
        .config_secret(&secret("app-sre/creds/dynatrace", "port"))
        .unwrap();
    assert_eq!(v.expose_secret(), "8443");
    // Any section is reachable, as in Python.
    let v = c.config_secret(&secret("smtp", "password")).unwrap();
    assert_eq!(v.expose_secret(), "smtp-password-value");
}

#[test]
fn the_config_secret_reader_ignores_format_and_version() {
    let c = parse(FULL).unwrap();
    let s = VaultSecretRef {
        version: Some(7),
        format: Some("base64".into()),
        ..secret("app-sre/creds/dynatrace", "bootstrap")
    };
    assert_eq!(
        c.config_secret(&s).unwrap().expose_secret(),
        "dt0c01.config-file-token"
    );
}

#[test]
fn a_missing_config_key_names_path_and_field() {
    let c = parse(FULL).unwrap();
    for (path, field) in [
        ("app-sre/creds/dynatrace", "nope"),
        ("app-sre/creds/absent", "bootstrap"),
        // A value in the middle of the path is not a table.
        ("app-sre/creds/dynatrace/bootstrap", "x"),
    ] {
        let e = c.config_secret(&secret(path, field)).unwrap_err();
        assert!(matches!(e, SecretError::ConfigKeyNotFound { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            format!("key not found in config file {path}/{field}")
        );
    }
    let e = c
        .config_secret(&secret("app-sre/creds", "dynatrace"))
        .unwrap_err();
    assert!(matches!(e, SecretError::Decode { .. }), "{e:?}");
    assert!(!e.to_string().contains("config-file-token"), "{e}");
}

#[tokio::test]
async fn config_secret_reader_implements_secret_reader() {
    let reader = ConfigSecretReader::new(parse(FULL).unwrap());
    let v = reader
        .read(&secret("app-sre/creds/dynatrace", "bootstrap"))
        .await
        .unwrap();
    assert_eq!(v.expose_secret(), "dt0c01.config-file-token");
}
