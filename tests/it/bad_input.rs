//! The bad-input catalogue: invalid flags, environment values, `config.toml` files, datafiles
//! and API bodies, each given to the real `dtp` binary the way a user gives it (`dtp run` or
//! `dtp validate`, flags, env vars, a config file, a datafiles directory, sandbox servers that
//! answer with a chosen body). For every case the table says the exit code (2: configuration
//! or data error; 1: an external system failed an environment, tenant or cluster; never a
//! panic or a signal) and what the output must name (the flag and its variable, the file, the
//! key, the datafile, the OCM environment, the tenant, the cluster). Every case plants
//! distinctive secrets (`SeCrEt…`) in every secret place it touches — `VAULT_TOKEN`,
//! `PUSHGATEWAY_PASSWORD`, `UNLEASH_CLIENT_ACCESS_TOKEN`, the `[graphql] token`, OCM client
//! secrets and bootstrap tokens of the fleet, `[vault]` credentials, credentials in URLs — and
//! no output may contain one.
//!
//! Each case gets its own sandbox and directory, so cases run concurrently. A failing case is
//! printed (with its output) and the test fails once all cases ran.
//!
//! Development aids: `BAD_INPUT_ONLY=<substring>` runs only the matching cases,
//! `BAD_INPUT_SHOW=1` prints the output of every case.
//!
//! All traffic goes to loopback: the sandbox, a stub server and a closed port on 127.0.0.1.

use dtp::demo::DEMO_FLEET;
use dtp::sandbox::Sandbox;
use dtp::sandbox::common::FaultRule;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Planted secrets. Every one contains MARK; no output may contain MARK at all.

const MARK: &str = "SeCrEt";
const VAULT_TOKEN: &str = "hvs.SeCrEt-vault-token-q8w2";
const PUSHGATEWAY_PASSWORD: &str = "SeCrEt-pushgateway-password-k3j9";
const UNLEASH_TOKEN: &str = "SeCrEt-unleash-client-token-z7x1";
const GRAPHQL_TOKEN: &str = "Bearer SeCrEt-graphql-token-m4n8";
const PROD_CLIENT_SECRET: &str = "SeCrEt-ocm-production-client-secret-p49z";
const STAGE_CLIENT_SECRET: &str = "SeCrEt-ocm-stage-client-secret-21i9";
const BOOTSTRAP_ABC: &str = "SeCrEt-bootstrap-abc12345-y29db8p5qa3e68f7";
const BOOTSTRAP_XYZ: &str = "SeCrEt-bootstrap-xyz67890-ztj0wyuhvauvzhma";
/// The public id of tenant abc12345's bootstrap token (safe to print).
const BOOTSTRAP_ABC_ID: &str = "dt0c01.F7JYU5JSJC616I76BOFBCIXG";

/// The demo fleet with every secret replaced by a planted one, and qontract-server requiring
/// the planted GraphQL token.
fn fleet_yaml() -> String {
    let replacements = [
        (
            "production-client-secret-pt49zhkken659o2v",
            PROD_CLIENT_SECRET,
        ),
        ("stage-client-secret-21i9mpflv9fupxqm", STAGE_CLIENT_SECRET),
        (
            "Y29DB8P5QA3E68F7E4QEQPNO35YE4SCMEJVQTIA4D5RGN5S7S333H9MTF4BS3E62",
            BOOTSTRAP_ABC,
        ),
        (
            "ZTJ0WYUHVAUVZHMASQXEZYEX1RDRGDSJPR16UMX1BZ99NFD02IS5D9IK40VSTQQZ",
            BOOTSTRAP_XYZ,
        ),
    ];
    let mut text = DEMO_FLEET.to_owned();
    for (from, to) in replacements {
        assert!(text.contains(from), "the demo fleet changed: no '{from}'");
        text = text.replace(from, to);
    }
    let anchor = "app_interface:\n  datafiles:\n";
    assert!(
        text.contains(anchor),
        "the demo fleet changed: no '{anchor}'"
    );
    text.replace(
        anchor,
        &format!("app_interface:\n  authorization: {GRAPHQL_TOKEN}\n  datafiles:\n"),
    )
}

/// The environment of every case (a case may override a variable; an empty value counts as
/// unset for dtp). The secrets are planted even where the case does not use them.
fn base_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("VAULT_TOKEN", VAULT_TOKEN),
        ("PUSHGATEWAY_USERNAME", "pushgateway-user"),
        ("PUSHGATEWAY_PASSWORD", PUSHGATEWAY_PASSWORD),
        ("UNLEASH_CLIENT_ACCESS_TOKEN", UNLEASH_TOKEN),
        // A case that unexpectedly loops must not bind 0.0.0.0:9090.
        ("PROMETHEUS_PORT", "0"),
    ]
}

// ---------------------------------------------------------------------------------------------
// The table

type Datafiles = Vec<(String, Value)>;

/// One invalid input and what dtp must do with it.
///
/// Placeholders, replaced in args, env values, files, datafiles and expectations: `@DIR@` (the
/// case's directory), `@CONFIG@` (`@DIR@/config.toml`, the sandbox's config unless the case
/// writes its own), `@SANDBOX_CONFIG@` (the text of that config), `@DATA@` (`@DIR@/data`, the
/// fleet's datafiles after `edit`), `@GQL@` (the sandbox's GraphQL URL), `@CLOSED@`
/// (`127.0.0.1:1`, a closed port), `@STUB@` (`http://127.0.0.1:<port>` of a server answering
/// every request with `200` and an HTML page).
#[derive(Clone)]
struct Case {
    name: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// Written under `@DIR@` (after the sandbox's config.toml and the datafiles).
    files: Vec<(String, Vec<u8>)>,
    /// Changes the fleet's datafiles: those written to `@DATA@` and those qontract-server
    /// serves.
    edit: Option<fn(&mut Datafiles)>,
    faults: Vec<FaultRule>,
    code: i32,
    /// Each must appear in stdout+stderr; `a || b` means either.
    expect: Vec<String>,
    /// None may appear.
    absent: Vec<String>,
}

fn case(name: &str, args: &[&str]) -> Case {
    Case {
        name: name.to_owned(),
        args: args.iter().map(|s| (*s).to_owned()).collect(),
        env: Vec::new(),
        files: Vec::new(),
        edit: None,
        faults: Vec::new(),
        code: 2,
        expect: Vec::new(),
        absent: Vec::new(),
    }
}

/// `dtp run --config @CONFIG@ <extra>` (GraphQL from the sandbox).
fn run(name: &str, extra: &[&str]) -> Case {
    let mut args = vec!["run", "--config", "@CONFIG@"];
    args.extend_from_slice(extra);
    case(name, &args)
}

/// `dtp run --config @CONFIG@ --app-interface-dir @DATA@ <extra>`.
fn run_dir(name: &str, extra: &[&str]) -> Case {
    let mut args = vec![
        "run",
        "--config",
        "@CONFIG@",
        "--app-interface-dir",
        "@DATA@",
    ];
    args.extend_from_slice(extra);
    case(name, &args)
}

/// `dtp validate <args>`.
fn validate(name: &str, extra: &[&str]) -> Case {
    let mut args = vec!["validate"];
    args.extend_from_slice(extra);
    case(name, &args)
}

impl Case {
    fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }
    fn file(mut self, path: &str, content: impl Into<Vec<u8>>) -> Self {
        self.files.push((path.to_owned(), content.into()));
        self
    }
    /// Replaces config.toml.
    fn config(self, text: &str) -> Self {
        self.file("config.toml", text)
    }
    fn edit(mut self, f: fn(&mut Datafiles)) -> Self {
        self.edit = Some(f);
        self
    }
    fn fault(mut self, rule: FaultRule) -> Self {
        self.faults.push(rule);
        self
    }
    fn exits(mut self, code: i32) -> Self {
        self.code = code;
        self
    }
    fn names(mut self, parts: &[&str]) -> Self {
        self.expect.extend(parts.iter().map(|s| (*s).to_owned()));
        self
    }
    fn absent(mut self, parts: &[&str]) -> Self {
        self.absent.extend(parts.iter().map(|s| (*s).to_owned()));
        self
    }
}

/// A fault answering `200` with `body` to `method path_contains` on `system`.
fn answer(system: &str, method: &str, path_contains: &str, body: Value) -> FaultRule {
    FaultRule {
        system: Some(system.to_owned()),
        method: Some(method.to_owned()),
        path_contains: path_contains.to_owned(),
        status: 200,
        body: Some(body),
        ..Default::default()
    }
}

/// A fault answering `status` with `body`.
fn answer_status(
    system: &str,
    method: &str,
    path_contains: &str,
    status: u16,
    body: Value,
) -> FaultRule {
    FaultRule {
        status,
        ..answer(system, method, path_contains, body)
    }
}

/// The datafile at `path`.
fn df<'a>(files: &'a mut Datafiles, path: &str) -> &'a mut Value {
    &mut files
        .iter_mut()
        .find(|(p, _)| p == path)
        .unwrap_or_else(|| panic!("the fleet has no datafile {path}"))
        .1
}

const DEFAULT_SPEC: &str = "/dynatrace/token-specs/default.yml";
const SLO_SPEC: &str = "/dynatrace/token-specs/slo.yml";
const DT_ABC: &str = "/dependencies/dynatrace/abc12345.yml";
const DT_XYZ: &str = "/dependencies/dynatrace/xyz67890.yml";
const OCM_PROD: &str = "/openshift/ocm-production.yml";
const OCM_STAGE: &str = "/openshift/ocm-stage.yml";
const SETTINGS: &str = "/app-interface/app-interface-settings.yml";

fn vault_true(f: &mut Datafiles) {
    df(f, SETTINGS)["vault"] = json!(true);
}

/// Flags and environment variables: every invalid value exits 2 naming the flag and its
/// variable.
fn flag_cases() -> Vec<Case> {
    let mut v = vec![
        run("concurrency-zero", &["--concurrency", "0"])
            .names(&["--concurrency", "DTP_CONCURRENCY"]),
        run("concurrency-abc", &["--concurrency", "abc"]).names(&[
            "--concurrency",
            "DTP_CONCURRENCY",
            "'abc'",
        ]),
        // Far above config::MAX_CONCURRENCY (1024; the README still says 1–256).
        run("concurrency-100000", &["--concurrency", "100000"]).names(&[
            "--concurrency",
            "DTP_CONCURRENCY",
            "'100000'",
        ]),
        run("ocm-concurrency-zero", &["--ocm-concurrency", "0"])
            .names(&["--ocm-concurrency", "DTP_OCM_CONCURRENCY"]),
        run("dynatrace-concurrency-env-abc", &[])
            .env("DTP_DYNATRACE_CONCURRENCY", "abc")
            .names(&["--dynatrace-concurrency", "DTP_DYNATRACE_CONCURRENCY"]),
        run("vault-concurrency-300", &["--vault-concurrency", "300"])
            .names(&["--vault-concurrency", "DTP_VAULT_CONCURRENCY"]),
        run("concurrency-env-abc", &[])
            .env("DTP_CONCURRENCY", "abc")
            .names(&["--concurrency", "DTP_CONCURRENCY"]),
        run("interval-huge", &["--interval", "99999999999999y"]).names(&["--interval"]),
        run("interval-negative", &["--interval=-5"]).names(&["--interval", "'-5'"]),
        run("interval-soon", &["--interval", "soon"]).names(&["--interval", "'soon'"]),
        run("interval-zero", &["--interval", "0s"]).names(&["--interval"]),
        run("sleep-duration-huge", &[])
            .env("SLEEP_DURATION_SECS", "99999999999999y")
            .names(&["SLEEP_DURATION_SECS"]),
        run("sleep-duration-negative", &[])
            .env("SLEEP_DURATION_SECS", "-5")
            .names(&["SLEEP_DURATION_SECS", "'-5'"]),
        run("sleep-duration-soon", &[])
            .env("SLEEP_DURATION_SECS", "soon")
            .names(&["SLEEP_DURATION_SECS", "'soon'"]),
        run("timeout-zero", &["--timeout", "0"]).names(&["--timeout", "RUNNER_TIMEOUT"]),
        run("timeout-env-huge", &[])
            .env("RUNNER_TIMEOUT", "99999999999999y")
            .names(&["--timeout", "RUNNER_TIMEOUT"]),
        run("timeout-env-soon", &[])
            .env("RUNNER_TIMEOUT", "soon")
            .names(&["--timeout", "RUNNER_TIMEOUT", "'soon'"]),
        run("metrics-port-70000", &["--metrics-port", "70000"])
            .names(&["--metrics-port", "PROMETHEUS_PORT"]),
        run("metrics-port-env-http", &[])
            .env("PROMETHEUS_PORT", "http")
            .names(&["--metrics-port", "PROMETHEUS_PORT"]),
        run("shards-zero", &["--shards", "0"]).names(&["--shards", "SHARDS"]),
        run("shards-env-2000", &[])
            .env("SHARDS", "2000")
            .names(&["--shards", "SHARDS"]),
        run("shard-id-5-of-2", &["--shard-id", "5", "--shards", "2"])
            .names(&["--shard-id", "SHARD_ID"]),
        run("shard-id-env-x", &[])
            .env("SHARD_ID", "x")
            .names(&["--shard-id", "SHARD_ID"]),
        run("shard-key-env-slash", &[])
            .env("SHARD_KEY", "eu/west")
            .names(&["--shard-key", "SHARD_KEY"]),
        run("orphan-grace-x", &["--orphan-grace", "x"]).names(&[
            "--orphan-grace",
            "DTP_ORPHAN_GRACE",
            "'x'",
        ]),
        run("orphan-grace-env-huge", &[])
            .env("DTP_ORPHAN_GRACE", "99999999999999y")
            .names(&["--orphan-grace", "DTP_ORPHAN_GRACE"]),
        run("max-deletions-negative", &["--max-deletions=-1"]).names(&[
            "--max-deletions",
            "DTP_MAX_DELETIONS",
            "'-1'",
        ]),
        run("max-deletions-env-many", &[])
            .env("DTP_MAX_DELETIONS", "many")
            .names(&["--max-deletions", "DTP_MAX_DELETIONS", "'many'"]),
        run("collect-departed-maybe", &["--collect-departed", "maybe"]).names(&[
            "--collect-departed",
            "DTP_COLLECT_DEPARTED",
            "'maybe'",
        ]),
        run("collect-departed-env-maybe", &[])
            .env("DTP_COLLECT_DEPARTED", "maybe")
            .names(&["--collect-departed", "DTP_COLLECT_DEPARTED"]),
        run("shutdown-grace-zero", &["--shutdown-grace", "0"])
            .names(&["--shutdown-grace", "DTP_SHUTDOWN_GRACE"]),
        run("shutdown-grace-env-soon", &[])
            .env("DTP_SHUTDOWN_GRACE", "soon")
            .names(&["--shutdown-grace", "DTP_SHUTDOWN_GRACE"]),
        run("ocm-env-empty", &["--ocm-env", ""]).names(&["--ocm-env", "DTP_OCM_ENV"]),
        run("ocm-env-env-trailing-comma", &[])
            .env("DTP_OCM_ENV", "ocm-stage,")
            .names(&["--ocm-env", "DTP_OCM_ENV"]),
        run("cluster-empty", &["--cluster", ""]).names(&["--cluster", "DTP_CLUSTER"]),
        run("cluster-env-blank", &[])
            .env("DTP_CLUSTER", " ")
            .names(&["--cluster", "DTP_CLUSTER"]),
        run("ocm-env-unknown", &["--ocm-env", "unknown-env"]).names(&[
            "--ocm-env",
            "DTP_OCM_ENV",
            "unknown-env",
        ]),
        run("ocm-env-env-unknown", &[])
            .env("DTP_OCM_ENV", "unknown-env")
            .names(&["--ocm-env", "DTP_OCM_ENV", "unknown-env"]),
        run("plan-format-yaml", &["--plan-format", "yaml"]).names(&[
            "--plan-format",
            "PLAN_FORMAT",
            "'yaml'",
        ]),
        run("plan-format-env-yaml", &[])
            .env("PLAN_FORMAT", "yaml")
            .names(&["--plan-format", "PLAN_FORMAT", "'yaml'"]),
        run("log-level-verbose", &["--log-level", "verbose"]).names(&[
            "--log-level",
            "LOG_LEVEL",
            "'verbose'",
        ]),
        run("log-level-env-verbose", &[])
            .env("LOG_LEVEL", "verbose")
            .names(&["--log-level", "LOG_LEVEL", "'verbose'"]),
        run("log-format-xml", &["--log-format", "xml"]).names(&[
            "--log-format",
            "LOG_FORMAT",
            "'xml'",
        ]),
        run("log-format-env-xml", &[])
            .env("LOG_FORMAT", "xml")
            .names(&["--log-format", "LOG_FORMAT", "'xml'"]),
        run("unknown-flag", &["--concurency", "4"]).names(&["--concurency"]),
        run("dry-run-perhaps", &[])
            .env("DRY_RUN", "perhaps")
            .names(&["DRY_RUN", "'perhaps'"]),
        run(
            "early-exit-sha-not-a-sha",
            &["--early-exit-compare-sha", "not a sha!"],
        )
        .names(&["--early-exit-compare-sha", "EARLY_EXIT_COMPARE_SHA"]),
        run_dir(
            "early-exit-sha-with-datafiles",
            &["--early-exit-compare-sha", "abc123"],
        )
        .names(&[
            "--early-exit-compare-sha",
            "EARLY_EXIT_COMPARE_SHA",
            "--app-interface-dir",
        ]),
        // Pushgateway and Unleash settings.
        run("pushgateway-without-url", &[])
            .env("PUSHGATEWAY_ENABLED", "true")
            .names(&["PUSHGATEWAY_URL", "PUSHGATEWAY_ENABLED"]),
        run("pushgateway-url-with-credentials", &[])
            .env("PUSHGATEWAY_ENABLED", "true")
            .env(
                "PUSHGATEWAY_URL",
                "https://pg:SeCrEt-pushgateway-url-password@@CLOSED@/",
            )
            .names(&["PUSHGATEWAY_URL", "credentials"]),
        run("pushgateway-url-not-a-url", &[])
            .env("PUSHGATEWAY_ENABLED", "1")
            .env("PUSHGATEWAY_URL", "not a url")
            .names(&["PUSHGATEWAY_URL"]),
        run("pushgateway-url-ftp", &[])
            .env("PUSHGATEWAY_ENABLED", "yes")
            .env("PUSHGATEWAY_URL", "ftp://@CLOSED@/")
            .names(&["PUSHGATEWAY_URL", "'ftp'"]),
        run("unleash-url-ftp", &[])
            .env(
                "UNLEASH_API_URL",
                "ftp://unleash:SeCrEt-unleash-url-password@@CLOSED@/api",
            )
            // Decided: a misconfigured Unleash fails open, like the Python client (the toggle
            // is an emergency brake; it must not stop provisioning), with a warning naming it.
            .exits(0)
            .names(&["UNLEASH_API_URL"]),
        // The app-interface source and the CA bundle.
        run(
            "graphql-server-not-a-url",
            &["--graphql-server", "not a url"],
        )
        .names(&["--graphql-server", "GRAPHQL_SERVER"]),
        run(
            "graphql-server-bad-host-with-credentials",
            &[
                "--graphql-server",
                "https://user:SeCrEt-graphql-url-password@[bad",
            ],
        )
        .names(&["--graphql-server", "GRAPHQL_SERVER"]),
        case("graphql-server-env-with-credentials", &["run"])
            .env(
                "GRAPHQL_SERVER",
                "http://user:SeCrEt-graphql-url-password@@CLOSED@/graphql",
            )
            .names(&["--graphql-server || GRAPHQL_SERVER", "credentials"]),
        run(
            "graphql-server-ftp",
            &["--graphql-server", "ftp://@CLOSED@/graphql"],
        )
        .names(&["--graphql-server || GRAPHQL_SERVER"]),
        case("no-app-interface-source", &["run"]).names(&[
            "--app-interface-dir",
            "--graphql-server",
            "--config",
        ]),
        case("validate-no-app-interface-source", &["validate"]).names(&[
            "--app-interface-dir",
            "--graphql-server",
            "--config",
        ]),
        run(
            "app-interface-dir-missing",
            &["--app-interface-dir", "/nonexistent/data"],
        )
        .names(&[
            "--app-interface-dir",
            "APP_INTERFACE_DIR",
            "/nonexistent/data",
        ]),
        run("app-interface-dir-env-is-a-file", &[])
            .env("APP_INTERFACE_DIR", "@CONFIG@")
            .names(&["--app-interface-dir", "APP_INTERFACE_DIR", "@CONFIG@"]),
        validate(
            "validate-app-interface-dir-missing",
            &["--app-interface-dir", "/nonexistent/data"],
        )
        .names(&[
            "--app-interface-dir",
            "APP_INTERFACE_DIR",
            "/nonexistent/data",
        ]),
        run("ca-bundle-missing", &["--ca-bundle", "/nonexistent/ca.pem"]).names(&[
            "--ca-bundle",
            "DTP_CA_BUNDLE",
            "/nonexistent/ca.pem",
        ]),
        run("ssl-cert-file-missing", &[])
            .env("SSL_CERT_FILE", "/nonexistent/ca.pem")
            .names(&["SSL_CERT_FILE", "/nonexistent/ca.pem"]),
        validate(
            "validate-ca-bundle-missing",
            &[
                "--app-interface-dir",
                "@DATA@",
                "--ca-bundle",
                "/nonexistent/ca.pem",
            ],
        )
        .names(&["--ca-bundle", "DTP_CA_BUNDLE", "/nonexistent/ca.pem"]),
        run("ca-bundle-not-pem", &["--ca-bundle", "@DIR@/ca.pem"])
            .file(
                "ca.pem",
                "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n",
            )
            .names(&["--ca-bundle", "DTP_CA_BUNDLE", "@DIR@/ca.pem"]),
        run("ca-bundle-env-empty-file", &[])
            .env("DTP_CA_BUNDLE", "@DIR@/empty.pem")
            .file("empty.pem", "")
            .names(&["--ca-bundle", "DTP_CA_BUNDLE", "@DIR@/empty.pem"]),
        // Log levels that must work (Python names): exit 0, and the level is honoured.
        run("log-level-env-warning-works", &[])
            .env("LOG_LEVEL", "WARNING")
            .exits(0)
            .names(&["WARN", "Plan (dry-run"])
            .absent(&[" INFO "]),
        run("log-level-env-critical-works", &[])
            .env("LOG_LEVEL", "CRITICAL")
            .exits(0)
            .names(&["Plan (dry-run"])
            .absent(&[" INFO ", " WARN "]),
    ];
    v.push(
        case(
            "config-missing",
            &["run", "--config", "/nonexistent/config.toml"],
        )
        .names(&["--config", "QONTRACT_CONFIG", "/nonexistent/config.toml"]),
    );
    v.push(
        case("config-env-missing", &["run"])
            .env("QONTRACT_CONFIG", "/nonexistent/config.toml")
            .names(&["--config", "QONTRACT_CONFIG", "/nonexistent/config.toml"]),
    );
    v.push(
        validate(
            "validate-config-missing",
            &["--config", "/nonexistent/config.toml"],
        )
        .names(&["--config", "QONTRACT_CONFIG", "/nonexistent/config.toml"]),
    );
    v
}

/// `config.toml` files: exit 2 naming the file and the key, never quoting a value.
fn config_cases() -> Vec<Case> {
    vec![
        run("toml-syntax-secret-on-broken-line", &[])
            .config("[graphql]\nserver = \"@GQL@\"\ntoken = \"Bearer SeCrEt-broken-line-token\n")
            .names(&["--config", "@CONFIG@", "line 3"]),
        run("toml-syntax-duplicate-key", &[])
            .config("[graphql]\nserver = \"@GQL@\"\ntoken = \"SeCrEt-first-token\"\ntoken = \"SeCrEt-second-token\"\n")
            .names(&["@CONFIG@", "line 4"]),
        validate("validate-toml-syntax", &["--config", "@CONFIG@"])
            .config("[vault\nserver = \"http://@CLOSED@\"\nsecret_id = \"SeCrEt-vault-secret-id-broken\"\n")
            .names(&["--config", "@CONFIG@", "line 1"]),
        run("vault-role-id-without-secret-id", &[])
            .config("@SANDBOX_CONFIG@\n[vault]\nserver = \"http://@CLOSED@\"\nrole_id = \"SeCrEt-vault-role-id-r1\"\n")
            .names(&["@CONFIG@", "[vault]", "secret_id"]),
        run("vault-secret-id-without-role-id", &[])
            .config("@SANDBOX_CONFIG@\n[vault]\nserver = \"http://@CLOSED@\"\nsecret_id = \"SeCrEt-vault-secret-id-s1\"\n")
            .names(&["@CONFIG@", "[vault]", "role_id"]),
        run("vault-role-id-wrong-type", &[])
            .config("@SANDBOX_CONFIG@\n[vault]\nserver = \"http://@CLOSED@\"\nrole_id = 12345\nsecret_id = \"SeCrEt-vault-secret-id-s2\"\n")
            .names(&["@CONFIG@", "[vault] role_id", "integer"]),
        run("vault-empty-secret-id", &[])
            .config("@SANDBOX_CONFIG@\n[vault]\nserver = \"http://@CLOSED@\"\nrole_id = \"SeCrEt-vault-role-id-r2\"\nsecret_id = \"\"\n")
            .names(&["@CONFIG@", "[vault] secret_id"]),
        run("vault-kube-role-without-mount", &[])
            .config("@SANDBOX_CONFIG@\n[vault]\nserver = \"http://@CLOSED@\"\nkube_auth_role = \"dtp\"\n")
            .names(&["@CONFIG@", "[vault]", "kube_auth_mount"]),
        run("vault-token-auth-without-vault-token", &[])
            .env("VAULT_TOKEN", "")
            .config("@SANDBOX_CONFIG@\n[vault]\nserver = \"http://@CLOSED@\"\n")
            .names(&["@CONFIG@", "[vault]", "VAULT_TOKEN"]),
        run("vault-server-missing", &[])
            .config("@SANDBOX_CONFIG@\n[vault]\nrole_id = \"SeCrEt-vault-role-id-r3\"\nsecret_id = \"SeCrEt-vault-secret-id-s3\"\n")
            .names(&["@CONFIG@", "[vault]", "server"]),
        run("vault-server-not-a-url", &[])
            .config("@SANDBOX_CONFIG@\n[vault]\nserver = \"vault at port 8200\"\nrole_id = \"SeCrEt-vault-role-id-r4\"\nsecret_id = \"SeCrEt-vault-secret-id-s4\"\n")
            .names(&["@CONFIG@", "[vault] server"]),
        run("vault-section-not-a-table", &[])
            .config("vault = \"SeCrEt-vault-as-string\"\n@SANDBOX_CONFIG@")
            .names(&["@CONFIG@", "[vault]", "table"]),
        run("graphql-server-wrong-type", &[])
            .config("[graphql]\nserver = 42\ntoken = \"SeCrEt-graphql-token-t1\"\n")
            .names(&["@CONFIG@", "[graphql] server", "integer"]),
        run("graphql-server-not-a-url", &[])
            .config("[graphql]\nserver = \"not a url\"\ntoken = \"SeCrEt-graphql-token-t2\"\n")
            .names(&["@CONFIG@", "[graphql] server"]),
        run("graphql-server-ftp", &[])
            .config("[graphql]\nserver = \"ftp://@CLOSED@/graphql\"\ntoken = \"SeCrEt-graphql-token-t3\"\n")
            .names(&["@CONFIG@", "[graphql] server", "http"]),
        run("graphql-server-missing", &[])
            .config("[graphql]\ntoken = \"SeCrEt-graphql-token-t4\"\n")
            .names(&["@CONFIG@", "[graphql]", "server"]),
        run("graphql-token-wrong-type", &[])
            .config("[graphql]\nserver = \"@GQL@\"\ntoken = [\"SeCrEt-graphql-token-t5\"]\n")
            .names(&["@CONFIG@", "[graphql] token", "array"]),
        run("graphql-server-with-credentials", &[])
            .config("[graphql]\nserver = \"http://user:SeCrEt-graphql-url-password@@CLOSED@/graphql\"\n")
            .names(&["[graphql] server || @CONFIG@", "credentials"]),
        run("graphql-token-not-a-header-value", &[])
            .config("[graphql]\nserver = \"@GQL@\"\ntoken = \"Bearer SeCrEt-graphql-token\\nwith-a-newline\"\n")
            .names(&["[graphql] token || @CONFIG@"]),
        run("vault-true-without-vault-section", &[])
            .edit(vault_true)
            .names(&["vault: true", "[vault]"]),
        run("vault-server-with-credentials", &[])
            .edit(vault_true)
            .config("@SANDBOX_CONFIG@\n[vault]\nserver = \"http://vault:SeCrEt-vault-url-password@@CLOSED@\"\n")
            .names(&["[vault] server", "credentials"]),
    ]
}

/// One edit of the fleet's datafiles, the problem it must produce, and whether qontract-server
/// can serve it (schema-level problems exist only in a datafiles directory).
struct DataEdit {
    name: &'static str,
    edit: fn(&mut Datafiles),
    names: &'static [&'static str],
    graphql: bool,
}

fn data_edits() -> Vec<DataEdit> {
    vec![
        DataEdit {
            name: "duplicate-secret",
            edit: |f| {
                let s = df(f, DEFAULT_SPEC);
                let first = s["secrets"][0].clone();
                s["secrets"].as_array_mut().unwrap().push(first);
            },
            names: &[
                DEFAULT_SPEC,
                "token spec 'default'",
                "dynatrace-token-dtp",
                "defined multiple times",
            ],
            graphql: true,
        },
        DataEdit {
            name: "duplicate-token-name",
            edit: |f| {
                df(f, DEFAULT_SPEC)["secrets"][0]["tokens"][1]["name"] = json!("operator-token")
            },
            names: &[
                DEFAULT_SPEC,
                "Token name 'operator-token' is used more than once",
            ],
            graphql: true,
        },
        DataEdit {
            name: "invalid-scope",
            edit: |f| {
                df(f, DEFAULT_SPEC)["secrets"][0]["tokens"][0]["scopes"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!("metrics.write"));
            },
            names: &[DEFAULT_SPEC, "operator-token", "'metrics.write'"],
            graphql: true,
        },
        DataEdit {
            name: "token-name-47-characters",
            edit: |f| df(f, SLO_SPEC)["secrets"][0]["tokens"][0]["name"] = json!("t".repeat(47)),
            names: &[SLO_SPEC, "longer than 46"],
            graphql: true,
        },
        DataEdit {
            name: "secret-name-Bad_Name",
            edit: |f| df(f, SLO_SPEC)["secrets"][0]["name"] = json!("Bad_Name"),
            names: &[SLO_SPEC, "'Bad_Name'"],
            graphql: true,
        },
        DataEdit {
            name: "namespace-dash-ns",
            edit: |f| df(f, DEFAULT_SPEC)["secrets"][0]["namespace"] = json!("-ns"),
            names: &[DEFAULT_SPEC, "namespace '-ns'"],
            graphql: true,
        },
        DataEdit {
            name: "key-with-space",
            edit: |f| {
                df(f, DEFAULT_SPEC)["secrets"][0]["tokens"][0]["keyNameInSecret"] = json!("a key")
            },
            names: &[DEFAULT_SPEC, "key 'a key'"],
            graphql: true,
        },
        DataEdit {
            name: "no-scopes",
            edit: |f| df(f, DEFAULT_SPEC)["secrets"][0]["tokens"][1]["scopes"] = json!([]),
            names: &[DEFAULT_SPEC, "ingestion-token", "has no scopes"],
            graphql: true,
        },
        DataEdit {
            name: "key-apiUrl",
            edit: |f| {
                df(f, SLO_SPEC)["secrets"][0]["tokens"][0]["keyNameInSecret"] = json!("apiUrl")
            },
            names: &[SLO_SPEC, "'apiUrl'"],
            graphql: true,
        },
        DataEdit {
            name: "duplicate-spec-name",
            edit: |f| df(f, SLO_SPEC)["name"] = json!("default"),
            names: &[
                SLO_SPEC,
                DEFAULT_SPEC,
                "token spec 'default'",
                "more than once",
            ],
            graphql: true,
        },
        DataEdit {
            name: "dynatrace-url-not-a-url",
            edit: |f| df(f, DT_ABC)["environmentUrl"] = json!("not a url"),
            names: &[DT_ABC, "dt-abc12345", "environmentUrl"],
            graphql: true,
        },
        DataEdit {
            name: "duplicate-environment-id",
            edit: |f| df(f, DT_XYZ)["environmentID"] = json!("abc12345"),
            names: &[DT_XYZ, "environmentID 'abc12345'", "more than one"],
            graphql: true,
        },
        DataEdit {
            name: "ocm-url-ftp",
            edit: |f| df(f, OCM_PROD)["url"] = json!("ftp://127.0.0.1/"),
            names: &[OCM_PROD, "ocm-production", "url 'ftp://127.0.0.1/'"],
            graphql: true,
        },
        DataEdit {
            name: "duplicate-ocm-name",
            edit: |f| df(f, OCM_STAGE)["name"] = json!("ocm-production"),
            names: &[
                OCM_STAGE,
                "OCM environment 'ocm-production'",
                "more than one",
            ],
            graphql: true,
        },
        DataEdit {
            name: "ocm-client-id-empty",
            edit: |f| df(f, OCM_STAGE)["accessTokenClientId"] = json!(""),
            names: &[OCM_STAGE, "ocm-stage", "accessTokenClientId"],
            graphql: true,
        },
        DataEdit {
            name: "two-settings-files",
            edit: |f| {
                f.push((
                    "/app-interface/more-settings.yml".into(),
                    json!({"$schema": "/app-interface/app-interface-settings-1.yml", "vault": true}),
                ));
            },
            names: &["vault settings not uniquely defined"],
            graphql: true,
        },
        DataEdit {
            name: "schema-typo",
            edit: |f| {
                df(f, DEFAULT_SPEC)["$schema"] =
                    json!("/dynatrace/dynatrace-token-provider-tokn-spec-1.yml")
            },
            names: &[
                DEFAULT_SPEC,
                "/dynatrace/dynatrace-token-provider-tokn-spec-1.yml",
            ],
            graphql: false,
        },
        DataEdit {
            name: "schema-other-version",
            edit: |f| df(f, DT_ABC)["$schema"] = json!("/dependencies/dynatrace-environment-2.yml"),
            names: &[DT_ABC, "/dependencies/dynatrace-environment-2.yml"],
            graphql: false,
        },
        DataEdit {
            name: "unknown-field",
            edit: |f| df(f, DEFAULT_SPEC)["colour"] = json!("blue"),
            names: &[DEFAULT_SPEC, "colour"],
            graphql: false,
        },
        DataEdit {
            name: "missing-field",
            edit: |f| {
                df(f, OCM_PROD)
                    .as_object_mut()
                    .unwrap()
                    .remove("accessTokenUrl");
            },
            names: &[OCM_PROD, "accessTokenUrl"],
            graphql: false,
        },
        DataEdit {
            name: "wrong-type",
            edit: |f| df(f, SLO_SPEC)["ocm_org_ids"] = json!("org-sre"),
            names: &[SLO_SPEC, "ocm_org_ids || sequence || array"],
            graphql: false,
        },
    ]
}

/// Every datafile problem, through `dtp validate`, `dtp run` on the directory, and (where
/// qontract-server can serve it) `dtp run` on GraphQL: exit 2 naming the datafile.
fn datafile_cases() -> Vec<Case> {
    let mut v = Vec::new();
    for e in data_edits() {
        v.push(
            validate(
                &format!("validate-{}", e.name),
                &["--app-interface-dir", "@DATA@"],
            )
            .edit(e.edit)
            .names(e.names),
        );
        v.push(
            run_dir(&format!("run-dir-{}", e.name), &[])
                .edit(e.edit)
                .names(e.names),
        );
        if e.graphql {
            v.push(
                run(&format!("run-graphql-{}", e.name), &[])
                    .edit(e.edit)
                    .names(e.names),
            );
        }
    }
    let broken = "/dynatrace/token-specs/broken.yml";
    let broken_text = "$schema: /dynatrace/dynatrace-token-provider-token-spec-1.yml\nname: broken\nsecrets: [unclosed\n";
    v.push(
        validate("validate-invalid-yaml", &["--app-interface-dir", "@DATA@"])
            .file(&format!("data{broken}"), broken_text)
            .names(&[broken, "invalid YAML"]),
    );
    v.push(
        run_dir("run-dir-invalid-yaml", &[])
            .file(&format!("data{broken}"), broken_text)
            .names(&[broken, "invalid YAML"]),
    );
    let mut latin1 = b"$schema: /dependencies/dynatrace-environment-1.yml\nname: caf".to_vec();
    latin1.extend_from_slice(&[0xe9, b'\n']);
    v.push(
        validate("validate-not-utf8", &["--app-interface-dir", "@DATA@"])
            .file("data/dependencies/dynatrace/latin1.yml", latin1)
            .names(&["/dependencies/dynatrace/latin1.yml", "UTF-8"]),
    );
    v.push(
        validate(
            "validate-empty-directory",
            &["--app-interface-dir", "@DIR@/empty"],
        )
        .file("empty/.keep", "")
        .names(&["No Dynatrace environment"]),
    );
    v
}

/// Bodies and failures of the systems dtp talks to. An environment, tenant or cluster that
/// fails exits 1 naming it, and the rest of the fleet is still planned; a source that cannot be
/// read at all exits 1 naming it.
fn api_cases() -> Vec<Case> {
    // Planned for the stage environment and tenant xyz67890 in every run below.
    let stage_goes_on = "s-hcp-1";
    // Planned for the production environment and tenant abc12345.
    let production_goes_on = "p-osd-1";
    vec![
        run("ocm-cluster-list-without-items", &[])
            .fault(answer("ocm:production", "GET", "/api/clusters_mgmt/v1/clusters", json!({"kind": "ClusterList", "page": 1, "size": 0, "total": 3})))
            .exits(1)
            .names(&["- ocm-production: OCM ocm-production: list clusters", "no 'items'", "Reconcile exceptions", stage_goes_on]),
        run("ocm-label-list-without-items", &[])
            .fault(answer("ocm:stage", "GET", "/api/accounts_mgmt/v1/labels", json!({"kind": "LabelList", "page": 1, "size": 0, "total": 0})))
            .exits(1)
            .names(&["- ocm-stage: OCM ocm-stage: list labels", "no 'items'", production_goes_on]),
        run("ocm-subscription-list-not-an-object", &[])
            .fault(answer("ocm:production", "GET", "/api/accounts_mgmt/v1/subscriptions", json!(["not", "a", "page"])))
            .exits(1)
            .names(&["- ocm-production: OCM ocm-production: list subscriptions", stage_goes_on]),
        run("ocm-cluster-without-subscription", &[])
            .fault(answer("ocm:stage", "GET", "/api/clusters_mgmt/v1/clusters", json!({
                "kind": "ClusterList", "page": 1, "size": 1, "total": 1,
                "items": [{"kind": "Cluster", "id": "3sbroken99", "external_id": "000000ff-0000-4000-8000-0000000000ff", "name": "s-broken", "state": "ready"}],
            })))
            .exits(1)
            .names(&["- ocm-stage: OCM ocm-stage: cluster 3sbroken99 has no subscription.id", production_goes_on]),
        run("sso-token-response-without-access-token", &[])
            .fault(answer("ocm:production", "POST", "/protocol/openid-connect/token", json!({"token_type": "Bearer", "expires_in": 300})))
            .exits(1)
            .names(&["- ocm-production: OCM ocm-production: SSO token request", "no access_token", stage_goes_on]),
        run("sso-token-response-not-an-object", &[])
            .fault(answer("ocm:stage", "POST", "/protocol/openid-connect/token", json!("<html>Service Unavailable</html>")))
            .exits(1)
            .names(&["- ocm-stage: OCM ocm-stage: SSO token request", "unreadable token response", production_goes_on]),
        run("sso-token-type-mac", &[])
            .fault(answer("ocm:production", "POST", "/protocol/openid-connect/token", json!({"access_token": "SeCrEt-sso-access-token-a1", "token_type": "mac", "expires_in": 300})))
            .exits(1)
            .names(&["- ocm-production: OCM ocm-production: SSO token request", "'mac'", stage_goes_on]),
        run("sso-error-echoes-the-client-secret", &[])
            .fault(answer_status("ocm:production", "POST", "/protocol/openid-connect/token", 401, json!({
                "error": "unauthorized_client",
                "error_description": format!("Invalid client secret {PROD_CLIENT_SECRET}"),
            })))
            .exits(1)
            .names(&["- ocm-production: OCM ocm-production: SSO token request", "unauthorized_client", stage_goes_on]),
        run_dir("dynatrace-token-list-not-json", &[])
            .edit(|f| df(f, DT_ABC)["environmentUrl"] = json!("@STUB@/e/abc12345"))
            .exits(1)
            .names(&["Dynatrace tenant abc12345: list tokens: unexpected response", "- ocm-production/org-sre/2posd100: ", stage_goes_on]),
        run("dynatrace-token-list-without-apiTokens", &[])
            .fault(answer("dynatrace", "GET", "/e/abc12345/api/v2/apiTokens", json!({"totalCount": 3, "pageSize": 100})))
            .exits(1)
            .names(&["Dynatrace tenant abc12345: list tokens", "no 'apiTokens'", "- ocm-production/org-sre/2posd100: ", stage_goes_on]),
        run("dynatrace-401-echoes-the-bootstrap-token", &[])
            .fault(answer_status("dynatrace", "GET", "/e/abc12345/api/v2/apiTokens", 401, json!({
                "error": {"code": 401, "message": format!("Token {BOOTSTRAP_ABC_ID}.{BOOTSTRAP_ABC} is not valid")},
            })))
            .exits(1)
            .names(&["Dynatrace tenant abc12345: list tokens: HTTP 401", stage_goes_on]),
        run("dynatrace-created-token-without-value", &["--no-dry-run"])
            .fault(answer("dynatrace", "POST", "/e/abc12345/api/v2/apiTokens", json!({"id": "dt0c01.NOVALUE0000000000000000"})))
            .exits(1)
            .names(&["- ocm-production/org-sre/2posd100: Dynatrace tenant abc12345: create token", "has no token value", "Reconcile exceptions"]),
        run("ocm-bundle-with-wrong-shape", &[])
            .fault(answer("ocm:stage", "GET", "3sosd100/external_configuration/syncsets", json!({"kind": "SyncSet", "id": "ext-dynatrace-tokens-dtp", "resources": "not a list"})))
            .exits(1)
            .names(&["3sosd100", "resources", production_goes_on]),
        run("graphql-response-with-errors", &[])
            .fault(answer("graphql", "POST", "/graphqlsha/", json!({"errors": [{"message": "resolver exploded"}]})))
            .exits(1)
            .names(&["qontract-server", "resolver exploded"]),
        run("graphql-data-with-wrong-shape", &[])
            .fault(answer("graphql", "POST", "/graphqlsha/", json!({"data": {"token_specs": "not a list", "environments": 7}})))
            .exits(1)
            .names(&["qontract-server", "unexpected response"]),
        run("graphql-sha256-not-a-sha", &[])
            .fault(answer("graphql", "GET", "/sha256", json!("<html>login page</html>")))
            .exits(1)
            .names(&["qontract-server", "sha"]),
        run("graphql-wrong-token", &[])
            .config("[graphql]\nserver = \"@GQL@\"\ntoken = \"Bearer SeCrEt-wrong-graphql-token\"\n")
            .exits(1)
            .names(&["qontract-server", "401"]),
        run("graphql-unreachable", &["--graphql-server", "http://@CLOSED@/graphql"])
            .exits(1)
            .names(&["qontract-server: GET http://@CLOSED@/sha256"]),
        validate("validate-graphql-response-with-errors", &["--config", "@CONFIG@"])
            .fault(answer("graphql", "POST", "/graphqlsha/", json!({"errors": [{"message": "resolver exploded"}]})))
            .exits(1)
            .names(&["qontract-server", "resolver exploded"]),
        // The same failures at the most verbose level, in both formats: still no secret.
        run("trace-json-sso-error-echoes-the-client-secret", &["--log-level", "trace", "--log-format", "json"])
            .fault(answer_status("ocm:production", "POST", "/protocol/openid-connect/token", 401, json!({
                "error": "unauthorized_client",
                "error_description": format!("Invalid client secret {PROD_CLIENT_SECRET}"),
            })))
            .exits(1)
            .names(&["- ocm-production: OCM ocm-production: SSO token request", "unauthorized_client"]),
        run("trace-graphql-wrong-token", &["--log-level", "trace"])
            .config("[graphql]\nserver = \"@GQL@\"\ntoken = \"Bearer SeCrEt-wrong-graphql-token\"\n")
            .exits(1)
            .names(&["qontract-server", "401"]),
        run("trace-dynatrace-created-token-without-value", &["--no-dry-run", "--log-level", "trace"])
            .fault(answer("dynatrace", "POST", "/e/abc12345/api/v2/apiTokens", json!({"id": "dt0c01.NOVALUE0000000000000000"})))
            .exits(1)
            .names(&["- ocm-production/org-sre/2posd100: Dynatrace tenant abc12345: create token", "has no token value"]),
        run("trace-json-vault-unreachable-approle", &["--log-level", "trace", "--log-format", "json"])
            .edit(vault_true)
            .config("@SANDBOX_CONFIG@\n[vault]\nserver = \"http://@CLOSED@\"\nrole_id = \"SeCrEt-vault-role-id-r6\"\nsecret_id = \"SeCrEt-vault-secret-id-s6\"\n")
            .exits(1)
            .names(&["secrets: vault: approle login", "@CLOSED@"]),
        // Vault and the other optional systems.
        run("vault-unreachable-token-auth", &[])
            .edit(vault_true)
            .config("@SANDBOX_CONFIG@\n[vault]\nserver = \"http://@CLOSED@\"\n")
            .exits(1)
            .names(&["secrets: vault: token login", "@CLOSED@"]),
        run("vault-unreachable-approle", &[])
            .edit(vault_true)
            .config("@SANDBOX_CONFIG@\n[vault]\nserver = \"http://@CLOSED@\"\nrole_id = \"SeCrEt-vault-role-id-r5\"\nsecret_id = \"SeCrEt-vault-secret-id-s5\"\n")
            .exits(1)
            .names(&["secrets: vault: approle login", "@CLOSED@"]),
        run("vault-unreachable-kubernetes", &[])
            .edit(vault_true)
            .env("KUBE_SA_TOKEN_PATH", "@DIR@/sa-token")
            .file("sa-token", "SeCrEt-kubernetes-service-account-jwt\n")
            .config("@SANDBOX_CONFIG@\n[vault]\nserver = \"http://@CLOSED@\"\nkube_auth_role = \"dtp\"\nkube_auth_mount = \"kubernetes\"\n")
            .exits(1)
            .names(&["secrets: vault: kubernetes login", "@CLOSED@"]),
        run("vault-kubernetes-jwt-missing", &[])
            .edit(vault_true)
            .env("KUBE_SA_TOKEN_PATH", "/nonexistent/sa-token")
            .config("@SANDBOX_CONFIG@\n[vault]\nserver = \"http://@CLOSED@\"\nkube_auth_role = \"dtp\"\nkube_auth_mount = \"kubernetes\"\n")
            .names(&["KUBE_SA_TOKEN_PATH", "/nonexistent/sa-token"]),
        run("pushgateway-unreachable", &[])
            .env("PUSHGATEWAY_ENABLED", "true")
            .env("PUSHGATEWAY_URL", "http://@CLOSED@/")
            .exits(0)
            .names(&["cannot push the run metrics to the Pushgateway", "@CLOSED@", "Plan (dry-run"]),
        run("unleash-unreachable-with-credentials-in-url", &[])
            .env("UNLEASH_API_URL", "http://unleash:SeCrEt-unleash-url-password@@CLOSED@/api")
            .exits(0)
            .names(&["feature toggle could not be read", "@CLOSED@", "Plan (dry-run"]),
    ]
}

fn all_cases() -> Vec<Case> {
    let groups = [
        ("flag", flag_cases()),
        ("config", config_cases()),
        ("data", datafile_cases()),
        ("api", api_cases()),
    ];
    groups
        .into_iter()
        .flat_map(|(group, cases)| {
            cases.into_iter().map(move |mut c| {
                c.name = format!("{group}/{}", c.name);
                c
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The runner

/// Cases in flight at once.
const PARALLEL: usize = 8;
/// A case that takes longer has hung.
const CASE_TIMEOUT: Duration = Duration::from_secs(90);

/// What every case of one test shares: a closed port and the stub server.
struct Shared {
    /// `127.0.0.1:<port>` where nothing listens.
    closed: String,
    /// `http://127.0.0.1:<port>` answering every request with `200` and an HTML page.
    stub: String,
}

impl Shared {
    async fn start() -> Self {
        // A port outside the ephemeral range, which no server of the suite binds (a port
        // released by a probe listener could be taken by a parallel test's sandbox).
        let closed = "127.0.0.1:1".to_owned();
        assert!(
            std::net::TcpStream::connect(&closed).is_err(),
            "nothing listens on {closed}"
        );
        let app = axum::Router::new().fallback(|| async {
            (
                [("content-type", "text/html")],
                "<html><body><h1>Welcome</h1>this is not JSON</body></html>",
            )
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let stub = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { closed, stub }
    }
}

/// Placeholder values of one case.
struct Vars {
    pairs: Vec<(&'static str, String)>,
}

impl Vars {
    fn apply(&self, s: &str) -> String {
        let mut s = s.to_owned();
        for (k, v) in &self.pairs {
            s = s.replace(k, v);
        }
        s
    }
}

struct Ran {
    status: std::process::ExitStatus,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

/// Runs one case; `Err` lists what is wrong, with the output.
async fn run_case(case: &Case, shared: &Shared) -> Result<Duration, String> {
    let sandbox = Sandbox::start_yaml(&fleet_yaml())
        .await
        .map_err(|e| format!("sandbox: {e}"))?;
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let dir = tmp.path();
    let config = dir.join("config.toml");
    let sandbox_config = sandbox.config_toml();
    let vars = Vars {
        pairs: vec![
            ("@SANDBOX_CONFIG@", sandbox_config.clone()),
            ("@CONFIG@", config.display().to_string()),
            ("@DATA@", dir.join("data").display().to_string()),
            ("@DIR@", dir.display().to_string()),
            ("@GQL@", sandbox.graphql_url()),
            ("@CLOSED@", shared.closed.clone()),
            ("@STUB@", shared.stub.clone()),
        ],
    };
    std::fs::write(&config, &sandbox_config).map_err(|e| e.to_string())?;
    let mut datafiles = sandbox.datafiles.clone();
    if let Some(edit) = case.edit {
        edit(&mut datafiles);
        for (_, v) in &mut datafiles {
            *v = serde_json::from_str(&vars.apply(&v.to_string())).expect("JSON");
        }
        sandbox.graphql.0.set_datafiles(datafiles.clone());
    }
    write_datafiles(&dir.join("data"), &datafiles)?;
    for (path, content) in &case.files {
        let file = dir.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        let content = match std::str::from_utf8(content) {
            Ok(text) => vars.apply(text).into_bytes(),
            Err(_) => content.clone(),
        };
        std::fs::write(&file, content).map_err(|e| e.to_string())?;
    }
    for f in &case.faults {
        sandbox.control.add_fault(f.clone());
    }

    let args: Vec<String> = case.args.iter().map(|a| vars.apply(a)).collect();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_dtp"));
    cmd.args(&args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    for (k, v) in base_env() {
        cmd.env(k, v);
    }
    for (k, v) in &case.env {
        cmd.env(k, vars.apply(v));
    }
    let started = Instant::now();
    let out = match tokio::time::timeout(CASE_TIMEOUT, cmd.output()).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => return Err(format!("cannot run dtp: {e}")),
        Err(_) => return Err(format!("no exit within {CASE_TIMEOUT:?} (killed)")),
    };
    let ran = Ran {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: started.elapsed(),
    };
    if std::env::var_os("BAD_INPUT_SHOW").is_some() {
        println!(
            "=== {} ({:?}, {:.1}s)\n$ dtp {}\n--- stdout\n{}--- stderr\n{}",
            case.name,
            ran.status.code(),
            ran.elapsed.as_secs_f64(),
            args.join(" "),
            ran.stdout,
            ran.stderr
        );
    }
    let problems = check(case, &vars, &sandbox, &ran);
    if problems.is_empty() {
        Ok(ran.elapsed)
    } else {
        Err(format!(
            "$ dtp {}\n  env: {}\n{}\n  --- output (stdout then stderr):\n{}",
            args.join(" "),
            case.env
                .iter()
                .map(|(k, v)| format!("{k}={}", vars.apply(v)))
                .collect::<Vec<_>>()
                .join(" "),
            problems
                .iter()
                .map(|p| format!("  ! {p}"))
                .collect::<Vec<_>>()
                .join("\n"),
            excerpt(&format!("{}{}", ran.stdout, ran.stderr)),
        ))
    }
}

/// As `Sandbox::write_datafiles` (JSON is YAML), for edited datafiles.
fn write_datafiles(dir: &Path, files: &Datafiles) -> Result<(), String> {
    for (path, v) in files {
        let file = dir.join(path.trim_start_matches('/'));
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        let text = serde_json::to_string_pretty(v).map_err(|e| e.to_string())?;
        std::fs::write(file, text).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Everything wrong with one run of a case.
fn check(case: &Case, vars: &Vars, sandbox: &Sandbox, ran: &Ran) -> Vec<String> {
    use std::os::unix::process::ExitStatusExt;
    let mut problems = Vec::new();
    let output = format!("{}{}", ran.stdout, ran.stderr);
    match (ran.status.code(), ran.status.signal()) {
        (_, Some(sig)) => problems.push(format!("killed by signal {sig}")),
        (Some(101), _) => problems.push("exit code 101: dtp panicked".to_owned()),
        (Some(code), _) if code != case.code => {
            problems.push(format!("exit code {code}, expected {}", case.code));
        }
        _ => {}
    }
    if output.contains("panicked at") {
        problems.push("the output shows a panic".to_owned());
    }
    for e in &case.expect {
        let e = vars.apply(e);
        if !e.split(" || ").any(|alt| output.contains(alt)) {
            problems.push(format!("the output does not name {e:?}"));
        }
    }
    for a in &case.absent {
        if output.contains(a.as_str()) {
            problems.push(format!("the output contains {a:?}"));
        }
    }
    for line in output.lines().filter(|l| l.contains(MARK)) {
        problems.push(format!("a planted secret is printed: {}", line.trim()));
    }
    for secret in sandbox_token_values(sandbox) {
        let secret_part = secret.rsplit('.').next().unwrap_or(&secret).to_owned();
        if output.contains(&secret) || (secret_part.len() >= 16 && output.contains(&secret_part)) {
            problems.push(format!(
                "a Dynatrace token value of the sandbox is printed ({}…)",
                &secret[..secret.len().min(14)]
            ));
        }
    }
    problems
}

/// The values of every token the sandbox's tenants hold (after the run).
fn sandbox_token_values(sandbox: &Sandbox) -> Vec<String> {
    let dt = sandbox.dynatrace();
    dt.tenant_ids()
        .into_iter()
        .flat_map(|t| dt.tokens(&t).into_iter().map(|tok| tok.token))
        .filter(|t| t.len() >= 8)
        .collect()
}

/// The lines that matter of an output: errors and warnings first, else its end.
fn excerpt(output: &str) -> String {
    let lines: Vec<&str> = output.lines().collect();
    let relevant: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| {
            ["ERROR", "WARN", "error", "problem", "- ", "dtp:"]
                .iter()
                .any(|k| l.contains(k))
        })
        .collect();
    let chosen = if relevant.is_empty() {
        &lines[lines.len().saturating_sub(12)..]
    } else {
        &relevant[relevant.len().saturating_sub(20)..]
    };
    chosen
        .iter()
        .map(|l| {
            let l: String = l.chars().take(400).collect();
            format!("    | {l}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs `cases` concurrently and fails once, listing every failing case.
async fn run_table(cases: Vec<Case>) {
    let only = std::env::var("BAD_INPUT_ONLY").ok();
    let cases: Vec<Case> = cases
        .into_iter()
        .filter(|c| only.as_deref().is_none_or(|o| c.name.contains(o)))
        .collect();
    let mut names = std::collections::BTreeSet::new();
    for c in &cases {
        assert!(names.insert(c.name.clone()), "two cases named {}", c.name);
    }
    let started = Instant::now();
    let shared = Arc::new(Shared::start().await);
    let limit = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, case) in cases.iter().cloned().enumerate() {
        let shared = shared.clone();
        let limit = limit.clone();
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await.expect("semaphore");
            (i, run_case(&case, &shared).await)
        });
    }
    let mut results: Vec<Option<Result<Duration, String>>> = vec![None; cases.len()];
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((i, r)) => results[i] = Some(r),
            Err(e) => panic!("a case task failed: {e}"),
        }
    }
    let mut failed = 0;
    let mut slowest: Option<(Duration, &str)> = None;
    for (case, result) in cases.iter().zip(results) {
        match result.expect("every case ran") {
            Ok(d) => {
                if slowest.is_none_or(|(s, _)| d > s) {
                    slowest = Some((d, &case.name));
                }
            }
            Err(why) => {
                failed += 1;
                println!("\nFAILED {}\n{why}", case.name);
            }
        }
    }
    println!(
        "\n{} case(s): {} passed, {failed} failed, in {:.1}s (slowest passing: {})",
        cases.len(),
        cases.len() - failed,
        started.elapsed().as_secs_f64(),
        slowest
            .map(|(d, n)| format!("{n}, {:.1}s", d.as_secs_f64()))
            .unwrap_or_else(|| "-".into()),
    );
    assert_eq!(failed, 0, "{failed} bad-input case(s) failed; see above");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_catalogue() {
    let cases = all_cases();
    assert!(cases.len() >= 60, "the catalogue has {} cases", cases.len());
    run_table(cases).await;
}
