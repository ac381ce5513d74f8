//! The CLI comforts, run through the real `dtp` binary: shell completions, the man page,
//! `dtp validate --format json|markdown`, and the environment variables `--help` lists.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/app-interface");

fn dtp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dtp"))
        .args(["--log-level", "error"])
        .args(args)
        .env_remove("DTP_VALIDATE_FORMAT")
        .env_remove("APP_INTERFACE_DIR")
        .env_remove("QONTRACT_CONFIG")
        .env_remove("GRAPHQL_SERVER")
        .output()
        .expect("dtp runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("utf-8 stdout")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

/// A copy of the example app-interface with `edit` applied to the `default` token spec.
fn broken_copy(edit: impl FnOnce(String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_dir(Path::new(EXAMPLES), dir.path());
    let spec = dir.path().join("dynatrace/token-specs/default.yml");
    let text = std::fs::read_to_string(&spec).expect("default.yml");
    std::fs::write(&spec, edit(text)).expect("write default.yml");
    dir
}

fn validate_json(dir: &Path) -> (Option<i32>, Value) {
    let out = dtp(&[
        "validate",
        "--format",
        "json",
        "--app-interface-dir",
        dir.to_str().expect("utf-8 path"),
    ]);
    let json = serde_json::from_str(&stdout(&out)).expect("stdout is one JSON object");
    (out.status.code(), json)
}

#[test]
fn completions_for_every_shell_mention_the_subcommands() {
    for shell in ["bash", "zsh", "fish"] {
        let out = dtp(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = stdout(&out);
        assert!(!script.trim().is_empty(), "{shell}: empty script");
        assert!(script.contains("validate"), "{shell}: no validate");
        assert!(script.contains("completions"), "{shell}: no completions");
    }
    assert_eq!(dtp(&["completions", "tcsh"]).status.code(), Some(2));
}

#[test]
fn man_page_is_roff_and_documents_subcommand_flags() {
    let out = dtp(&["man"]);
    assert_eq!(out.status.code(), Some(0));
    let page = stdout(&out);
    assert!(page.contains("\n.TH dtp 1"), "no .TH header: {page:.300}");
    assert!(page.lines().next().is_some_and(|l| l.starts_with('.')));
    assert!(page.contains("concurrency"), "no --concurrency");
    assert!(page.contains("VAULT_TOKEN"), "no environment section");
    // Hidden from --help, present as a command.
    let help = stdout(&dtp(&["--help"]));
    assert!(!help.lines().any(|l| l.trim_start().starts_with("man ")));
}

#[test]
fn validate_json_on_the_examples_is_valid() {
    let (code, json) = validate_json(Path::new(EXAMPLES));
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(json["valid"], Value::Bool(true));
    assert_eq!(json["token_specs"], 2);
    assert!(json["dynatrace_environments"].as_u64().unwrap_or(0) >= 1);
    assert!(json["ocm_environments"].as_u64().unwrap_or(0) >= 1);
    assert_eq!(json["problems"], Value::Array(vec![]));
}

#[test]
fn validate_json_names_the_broken_datafile() {
    let invalid_scope = broken_copy(|t| t.replace("- metrics.ingest", "- metrics.write"));
    let (code, json) = validate_json(invalid_scope.path());
    assert_eq!(code, Some(2), "{json}");
    assert_eq!(json["valid"], Value::Bool(false));
    assert_eq!(json["token_specs"], 2, "counts survive invalid data");
    let problems = json["problems"].as_array().expect("problems");
    assert!(
        problems.iter().any(|p| {
            p["source"]
                .as_str()
                .is_some_and(|s| s.ends_with("default.yml"))
                && p["object"].as_str().is_some_and(|o| o.contains("default"))
                && p["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("metrics.write"))
        }),
        "{json}"
    );

    let bad_yaml = broken_copy(|t| format!("{t}\nsecrets: [unclosed\n"));
    let (code, json) = validate_json(bad_yaml.path());
    assert_eq!(code, Some(2), "{json}");
    assert_eq!(json["valid"], Value::Bool(false));
    let problems = json["problems"].as_array().expect("problems");
    assert!(
        problems.iter().any(|p| p["object"]
            .as_str()
            .is_some_and(|o| o.ends_with("default.yml"))),
        "{json}"
    );
}

#[test]
fn validate_markdown_is_a_heading_and_a_table() {
    let dir = broken_copy(|t| t.replace("- metrics.ingest", "- metrics.write"));
    let out = dtp(&[
        "validate",
        "--format",
        "markdown",
        "--app-interface-dir",
        dir.path().to_str().expect("utf-8 path"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let md = stdout(&out);
    assert!(md.starts_with("### dtp validate: 1 problem(s)"), "{md}");
    assert!(md.contains("| Object | Datafile | Problem |"), "{md}");
    assert!(md.contains("default.yml"), "{md}");
    let ok = dtp(&[
        "validate",
        "--format",
        "markdown",
        "--app-interface-dir",
        EXAMPLES,
    ]);
    assert_eq!(ok.status.code(), Some(0));
    assert!(stdout(&ok).starts_with("### dtp validate: app-interface data is valid"));
}

#[test]
fn help_lists_the_environment_variables_without_a_flag() {
    for args in [
        &["--help"][..],
        &["run", "--help"][..],
        &["help", "run"][..],
    ] {
        let help = stdout(&dtp(args));
        for var in [
            "VAULT_TOKEN",
            "KUBE_SA_TOKEN_PATH",
            "UNLEASH_API_URL",
            "RUN_ONCE",
        ] {
            assert!(help.contains(var), "{args:?}: no {var}");
        }
    }
    // Every variable `Env::from_process` reads is listed (the list is kept by hand).
    let env_rs = include_str!("../../src/cli/env.rs");
    let read: Vec<&str> = env_rs
        .split("var(\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert!(read.contains(&"VAULT_TOKEN"), "{read:?}");
    let help = stdout(&dtp(&["--help"]));
    for var in read {
        assert!(help.contains(var), "--help does not list {var}");
    }
    let validate_help = stdout(&dtp(&["validate", "--help"]));
    assert!(validate_help.contains("--format"));
    assert!(validate_help.contains("DTP_VALIDATE_FORMAT"));
}
