//! PR-check mode against the sandbox: the early-exit comparison between a comparison bundle
//! (by sha) and the current bundle of qontract-server, through the real GraphQL client and
//! `Settings::app_interface_at`, and the Markdown plan of a real dry-run. Checks that equal
//! desired states exit early, that a changed token spec or Dynatrace environment does not, that
//! moving a datafile does not count as a change, that a missing bundle means a full run, and
//! that deciding makes no request to OCM or Dynatrace.

use crate::common::TestSettings;
use dtp::cli::SourceArgs;
use dtp::clients::http::Http;
use dtp::config::Mode;
use dtp::demo::DEMO_FLEET;
use dtp::deps;
use dtp::early_exit::{self, desired_fingerprint, unchanged};
use dtp::reconcile::{self, RunOptions};
use dtp::report::{self, PlanFormat};
use dtp::sandbox::Sandbox;
use serde_json::Value;

struct World {
    sandbox: Sandbox,
    settings: TestSettings,
    http: Http,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let sandbox = Sandbox::start_yaml(DEMO_FLEET).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = crate::common::settings_for(&sandbox, dir.path());
    let http = settings.http();
    World {
        sandbox,
        settings,
        http,
        _dir: dir,
    }
}

impl World {
    fn sha(&self) -> String {
        self.sandbox
            .graphql
            .0
            .latest_sha()
            .expect("a bundle is loaded")
    }

    /// Loads a new latest bundle: the fixture's datafiles changed by `f`. Returns its sha.
    fn publish(&self, f: impl FnOnce(&mut Vec<(String, Value)>)) -> String {
        let mut files = self.sandbox.datafiles.clone();
        f(&mut files);
        self.sandbox.graphql.0.set_datafiles(files)
    }

    /// `unchanged(current, comparison bundle at sha)`, with the request log cleared first.
    async fn unchanged_since(&self, sha: &str) -> Result<bool, String> {
        self.sandbox.control.clear_requests();
        let compare =
            deps::app_interface_at(&self.settings.source, &self.http, sha).expect("graphql source");
        let current = deps::app_interface(&self.settings.source, &self.http);
        unchanged(current.as_ref(), compare.as_ref()).await
    }

    /// The decision of `dtp run --early-exit-compare-sha <sha>`.
    async fn exits_early(&self, settings: &TestSettings, sha: &str) -> bool {
        let current = deps::app_interface(&settings.source, &self.http);
        let compare = deps::app_interface_at(&settings.source, &self.http, sha);
        early_exit::should_exit_early(current.as_ref(), compare, sha).await
    }

    /// Every request since the last clear went to qontract-server, and at least one did.
    fn only_graphql_was_asked(&self) {
        let requests = self.sandbox.control.requests();
        assert!(!requests.is_empty());
        let others: Vec<String> = requests
            .iter()
            .filter(|r| r.system != "graphql")
            .map(|r| format!("{} {} {}", r.system, r.method, r.path))
            .collect();
        assert!(
            others.is_empty(),
            "the PR check touched other systems: {others:?}"
        );
    }
}

fn file<'a>(files: &'a mut [(String, Value)], path: &str) -> &'a mut Value {
    &mut files
        .iter_mut()
        .find(|(p, _)| p == path)
        .unwrap_or_else(|| panic!("no datafile {path}"))
        .1
}

#[tokio::test]
async fn the_same_bundle_exits_early_without_touching_ocm_or_dynatrace() {
    let w = world().await;
    let sha = w.sha();
    assert_eq!(w.unchanged_since(&sha).await, Ok(true));
    w.only_graphql_was_asked();
    // The comparison bundle really was read by sha.
    assert!(
        w.sandbox
            .control
            .requests()
            .iter()
            .any(|r| r.path == format!("/graphqlsha/{sha}")),
    );
}

#[tokio::test]
async fn a_changed_token_spec_is_a_change() {
    let w = world().await;
    let before = w.sha();
    let after = w.publish(|files| {
        let spec = file(files, "/dynatrace/token-specs/slo.yml");
        spec["ocm_org_ids"]
            .as_array_mut()
            .expect("orgs")
            .push("org-payments".into());
    });
    assert_ne!(before, after);
    assert_eq!(w.unchanged_since(&before).await, Ok(false));
    w.only_graphql_was_asked();
    // Compared with itself, the new bundle is unchanged.
    assert_eq!(w.unchanged_since(&after).await, Ok(true));
}

#[tokio::test]
async fn a_changed_dynatrace_environment_url_is_a_change() {
    let w = world().await;
    let before = w.sha();
    w.publish(|files| {
        let env = file(files, "/dependencies/dynatrace/abc12345.yml");
        let url = env["environmentUrl"].as_str().expect("url").to_owned();
        env["environmentUrl"] = url.replace("/e/abc12345", "/e/abc12345-eu").into();
    });
    assert_eq!(w.unchanged_since(&before).await, Ok(false));
    w.only_graphql_was_asked();
}

#[tokio::test]
async fn a_changed_ocm_client_secret_ref_is_a_change() {
    let w = world().await;
    let before = w.sha();
    w.publish(|files| {
        file(files, "/openshift/ocm-stage.yml")["accessTokenClientSecret"]["path"] =
            "ocm/stage-rotated".into();
    });
    assert_eq!(w.unchanged_since(&before).await, Ok(false));
    w.only_graphql_was_asked();
}

#[tokio::test]
async fn a_moved_but_identical_datafile_is_not_a_change() {
    let w = world().await;
    let before = w.sha();
    let after = w.publish(|files| {
        let (path, _) = files
            .iter_mut()
            .find(|(p, _)| p == "/dynatrace/token-specs/slo.yml")
            .expect("slo spec");
        *path = "/dynatrace/token-specs/moved/slo-spec.yml".into();
        files.reverse();
    });
    assert_ne!(before, after, "the bundle differs (paths are part of it)");
    assert_eq!(w.unchanged_since(&before).await, Ok(true));
    w.only_graphql_was_asked();

    // The fingerprints agree although the data says where each file was.
    let old = deps::app_interface_at(&w.settings.source, &w.http, &before)
        .expect("source")
        .load()
        .await
        .expect("old bundle");
    let new = deps::app_interface(&w.settings.source, &w.http)
        .load()
        .await
        .expect("new");
    assert_ne!(old, new);
    assert_eq!(desired_fingerprint(&old), desired_fingerprint(&new));
}

#[tokio::test]
async fn a_missing_comparison_bundle_means_a_full_run() {
    let w = world().await;
    let old = w.sha();
    w.publish(|files| {
        file(files, "/dynatrace/token-specs/default.yml")["description"] = "changed".into();
    });
    assert!(w.sandbox.graphql.0.expire(&old));
    let err = w.unchanged_since(&old).await.expect_err("bundle is gone");
    assert!(err.contains("comparison app-interface bundle"), "{err}");
    assert!(err.contains(&old), "{err}");
    w.only_graphql_was_asked();
    assert!(!w.exits_early(&w.settings, &old).await);
}

#[tokio::test]
async fn should_exit_early_decides_for_dtp_run() {
    let w = world().await;
    let before = w.sha();
    w.sandbox.control.clear_requests();
    assert!(w.exits_early(&w.settings, &before).await);
    w.only_graphql_was_asked();

    w.publish(|files| {
        file(files, "/dependencies/dynatrace/xyz67890.yml")["bootstrapToken"]["field"] =
            "token".into();
    });
    w.sandbox.control.clear_requests();
    assert!(!w.exits_early(&w.settings, &before).await);
    w.only_graphql_was_asked();

    // Not a sha: no request at all, full run.
    w.sandbox.control.clear_requests();
    assert!(!w.exits_early(&w.settings, "../graphql").await);
    assert!(w.sandbox.control.requests().is_empty());
}

#[tokio::test]
async fn early_exit_needs_graphql() {
    let w = world().await;
    let dir = tempfile::tempdir().expect("tempdir");
    w.sandbox.write_datafiles(dir.path()).expect("datafiles");
    let args = SourceArgs {
        app_interface_dir: Some(dir.path().to_owned()),
        ..SourceArgs::default()
    };
    let settings = crate::common::settings_from(&args);
    let err = match deps::app_interface_at(&settings.source, &w.http, &w.sha()) {
        Ok(_) => panic!("a datafiles directory has no bundles"),
        Err(e) => e,
    };
    assert!(err.contains("early exit needs GraphQL"), "{err}");
    assert!(!w.exits_early(&settings, &w.sha()).await);
}

#[tokio::test]
async fn the_markdown_plan_of_a_dry_run_is_complete_and_deterministic() {
    let w = world().await;
    let deps = w.settings.dependencies();
    let opts = RunOptions::default();
    assert_eq!(opts.mode, Mode::DryRun, "the default is a dry-run");
    let first = reconcile::run(&deps, &opts).await.expect("dry-run");
    let second = reconcile::run(&deps, &opts).await.expect("dry-run");
    assert!(w.sandbox.control.writes().is_empty());

    let md = report::render_plan(&first, PlanFormat::Markdown);
    assert_eq!(md, report::render_plan(&second, PlanFormat::Markdown));
    assert!(md.starts_with("## dtp plan (dry-run)\n"), "{md}");
    assert!(md.contains("### Changes"), "{md}");
    assert!(
        md.contains("#### ocm-production / p-osd-1 (2posd100)"),
        "{md}"
    );
    assert!(md.contains("Tokens to create:"), "{md}");
    assert!(md.contains("dtp\\_operator-token\\_"), "{md}");
    assert!(
        md.contains("**Create SyncSet ext-dynatrace-tokens-dtp**"),
        "{md}"
    );
    assert!(md.contains("### Skipped clusters"), "{md}");
    for skipped in ["p-bad-label", "p-foreign-org"] {
        let row = md
            .lines()
            .find(|l| l.starts_with("| ") && l.contains(skipped))
            .unwrap_or_else(|| panic!("{skipped} is not in the skipped table:\n{md}"));
        assert_eq!(row.matches(" | ").count(), 2, "{row}");
    }
    // Clusters appear in the plan's order (OCM environment, then id).
    let headings: Vec<&str> = md.lines().filter(|l| l.starts_with("#### ")).collect();
    let mut sorted = headings.clone();
    sorted.sort_by_key(|h| {
        let env = h
            .trim_start_matches("#### ")
            .split(" / ")
            .next()
            .unwrap_or("");
        let id = h.rsplit('(').next().unwrap_or("");
        (env.to_owned(), id.to_owned())
    });
    assert_eq!(headings, sorted);
    // No token value: the plan holds ids and names only.
    for tenant in w.sandbox.dynatrace().tenant_ids() {
        for t in w.sandbox.dynatrace().tokens(&tenant) {
            assert!(!md.contains(&t.token), "a token value leaks");
        }
    }
}
