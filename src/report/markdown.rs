//! The plan as GitHub/GitLab-flavoured Markdown (`--plan-format markdown`), for a PR-check
//! comment: a heading with the mode and counts, then per changed cluster its tokens to create,
//! update and delete and its bundle write, the skipped clusters with the reason, and the
//! failures. Every value is escaped, so a name can never break a table or format text.

use super::{PlanCounts, short_sha};
use crate::action::{Action, TokenUpdate};
use crate::model::{BUNDLE_ID, ClusterRef};
use crate::plan::{ClusterPlan, Plan};
use crate::reconcile::Report;
use std::fmt::Write as _;

/// What the Markdown plan shows besides the plan itself.
struct MarkdownContext<'a> {
    dry_run: bool,
    bundle_sha: Option<&'a str>,
    clusters_discovered: usize,
    /// `(index, count)` when the run served one shard of several.
    shard: Option<(u32, u32)>,
    /// Every failure of the run, one line each.
    failures: Vec<String>,
    not_started: &'a [ClusterRef],
}

pub(super) fn render(report: &Report) -> String {
    let ctx = MarkdownContext {
        dry_run: report.dry_run(),
        bundle_sha: report.bundle_sha.as_deref(),
        clusters_discovered: report.clusters_discovered,
        shard: (report.shard.count > 1).then_some((report.shard.id, report.shard.count)),
        failures: report.errors(),
        not_started: &report.not_started,
    };
    markdown_plan(&report.plan, &ctx)
}

/// Escapes text for Markdown (also inside table cells): backslash-escapes the characters that
/// would format, link or break a table row, and turns line breaks into spaces.
pub(crate) fn md(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '|' | '<' | '>' | '[' | ']' | '#' | '~' | '&' => {
                out.push('\\');
                out.push(c);
            }
            '\r' | '\n' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

/// `ocm_env / name (id)`, escaped.
fn md_cluster(c: &ClusterRef) -> String {
    format!(
        "{} / {} ({})",
        md(c.ocm_env.as_str()),
        md(&c.name),
        md(c.id.as_str())
    )
}

/// The Markdown plan: a heading with the mode and counts, then per changed cluster the tokens
/// to create, update and delete and the bundle write; skipped clusters with the reason; and
/// failures. Order is deterministic: clusters as the plan orders them (OCM environment, then
/// id), failures sorted.
fn markdown_plan(plan: &Plan, ctx: &MarkdownContext<'_>) -> String {
    let mut s = String::new();
    heading(&mut s, plan, ctx);
    if plan.is_empty() {
        let _ = writeln!(s, "\nNo changes: every served cluster is up to date.");
    } else {
        let _ = writeln!(s, "\n### Changes");
        for cp in plan.changes() {
            markdown_cluster(&mut s, cp);
        }
    }
    skipped(&mut s, plan);
    let mut failures = ctx.failures.clone();
    failures.sort();
    failures.dedup();
    if !failures.is_empty() {
        let _ = writeln!(s, "\n### Failures\n");
        for f in &failures {
            let _ = writeln!(s, "- {}", md(f));
        }
    }
    departed(&mut s, plan);
    if !ctx.not_started.is_empty() {
        let _ = writeln!(s, "\n### Not started (time limit or shutdown)\n");
        for c in ctx.not_started {
            let _ = writeln!(s, "- {}", md_cluster(c));
        }
    }
    s
}

/// The title with the mode and shard, the cluster counts and the table of action counts.
fn heading(s: &mut String, plan: &Plan, ctx: &MarkdownContext<'_>) {
    let counts = PlanCounts::of(plan);
    let mode = if ctx.dry_run { "dry-run" } else { "apply" };
    let _ = write!(s, "## dtp plan ({mode}");
    if let Some((id, count)) = ctx.shard {
        let _ = write!(s, ", shard {id} of {count}");
    }
    let _ = writeln!(s, ")\n");
    if let Some(sha) = ctx.bundle_sha {
        let _ = write!(s, "App-interface bundle `{}`: ", md(short_sha(sha)));
    }
    let _ = writeln!(
        s,
        "{} labelled cluster(s): **{} to change**, {} up to date, {} skipped, {} failed.\n",
        ctx.clusters_discovered,
        counts.clusters_to_change,
        counts.clusters_up_to_date,
        counts.clusters_skipped,
        counts.clusters_failed,
    );
    let _ = writeln!(
        s,
        "| Tokens to create | Tokens to update | Tokens to delete | Tokens to collect | Bundles to create | Bundles to patch |\n|---:|---:|---:|---:|---:|---:|\n| {} | {} | {} | {} | {} | {} |",
        counts.tokens_to_create,
        counts.tokens_to_update,
        counts.tokens_to_delete,
        counts.tokens_to_collect,
        counts.bundles_to_create,
        counts.bundles_to_patch,
    );
}

fn skipped(s: &mut String, plan: &Plan) {
    if plan.skipped.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "\n### Skipped clusters\n\n| Cluster | Organization | Reason |\n|---|---|---|"
    );
    for k in &plan.skipped {
        let mut reason = md(&k.reason);
        for n in &k.notes {
            let _ = write!(reason, "<br>{}: {}", md(&n.label), md(&n.message));
        }
        let _ = writeln!(
            s,
            "| {} | {} | {reason} |",
            md_cluster(&k.cluster),
            md(k.cluster.org.as_str())
        );
    }
}

fn departed(s: &mut String, plan: &Plan) {
    if plan.departed.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "\n### Departed clusters (gone from OCM)\n\n| Cluster | Token id | Name | Tenant |\n|---|---|---|---|"
    );
    for d in &plan.departed {
        for a in &d.actions {
            if let Action::CollectToken(c) = a {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} |",
                    md(d.cluster.as_str()),
                    md(c.id.as_str()),
                    md(&c.name),
                    md(c.tenant.as_str())
                );
            }
        }
    }
}

fn markdown_cluster(s: &mut String, cp: &ClusterPlan) {
    let c = &cp.cluster;
    let _ = writeln!(
        s,
        "\n#### {}\n\n{}, organization {}, uuid {}",
        md_cluster(c),
        c.kind,
        md(c.org.as_str()),
        md(c.external_id.as_str())
    );
    let mut sections = Sections::default();
    for a in &cp.actions {
        match a {
            Action::CreateToken(t) => sections.creates.push(format!(
                "| {} | {} | {} | {} | {} |",
                md(&t.name),
                md(t.tenant.as_str()),
                md(&t.secret),
                md(&t.key),
                md(t.reason.describe())
            )),
            Action::UpdateToken(u) => sections.updates.push(format!(
                "| {} | {} | {} |",
                md(u.id.as_str()),
                md(u.tenant.as_str()),
                update_changes(u)
            )),
            Action::CreateBundle(b) => {
                let secrets: Vec<String> = cp
                    .secrets
                    .iter()
                    .map(|x| md(&format!("{}/{}", x.namespace, x.name)))
                    .collect();
                sections.bundle = Some(format!(
                    "\n**Create {} {}** with {} secret(s): {}",
                    b.kind,
                    md(BUNDLE_ID),
                    cp.secrets.len(),
                    secrets.join(", ")
                ));
            }
            Action::PatchBundle(b) => {
                let mut text = format!("\n**Patch {} {}**:\n", b.kind, md(BUNDLE_ID));
                for r in &b.reasons {
                    let _ = write!(text, "\n- {}", md(r));
                }
                sections.bundle = Some(text);
            }
            Action::DeleteToken(d) => sections.deletes.push(format!(
                "| {} | {} | {} | {} |",
                md(d.id.as_str()),
                md(&d.name),
                md(d.tenant.as_str()),
                md(d.reason.describe())
            )),
            Action::CollectToken(c) => sections.collects.push(format!(
                "| {} | {} | {} | {} |",
                md(c.id.as_str()),
                md(&c.name),
                md(c.tenant.as_str()),
                md(c.reason.describe())
            )),
        }
    }
    sections.write(s);
    if !cp.carried_over.is_empty() {
        let kept: Vec<String> = cp.carried_over.iter().map(|k| md(k)).collect();
        let _ = writeln!(
            s,
            "\nCarried over unchanged (a binding label cannot be resolved): {}",
            kept.join(", ")
        );
    }
}

/// A changed cluster's Markdown, collected per kind of action.
#[derive(Default)]
struct Sections {
    creates: Vec<String>,
    updates: Vec<String>,
    bundle: Option<String>,
    deletes: Vec<String>,
    collects: Vec<String>,
}

impl Sections {
    fn write(self, s: &mut String) {
        table(
            s,
            "Tokens to create",
            "| Token | Tenant | Secret | Key | Reason |\n|---|---|---|---|---|",
            &self.creates,
        );
        table(
            s,
            "Tokens to update",
            "| Token id | Tenant | Change |\n|---|---|---|",
            &self.updates,
        );
        if let Some(b) = self.bundle {
            let _ = writeln!(s, "{b}");
        }
        table(
            s,
            "Tokens to delete after delivery (replaced)",
            "| Token id | Name | Tenant | Reason |\n|---|---|---|---|",
            &self.deletes,
        );
        table(
            s,
            "Orphaned tokens to collect",
            "| Token id | Name | Tenant | Reason |\n|---|---|---|---|",
            &self.collects,
        );
    }
}

fn table(s: &mut String, title: &str, header: &str, rows: &[String]) {
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(s, "\n{title}:\n\n{header}");
    for r in rows {
        let _ = writeln!(s, "{r}");
    }
}

/// `name a → b; scopes x → y`, escaped.
fn update_changes(u: &TokenUpdate) -> String {
    let mut what = Vec::new();
    if u.current_name != u.name {
        what.push(format!("name {} → {}", md(&u.current_name), md(&u.name)));
    }
    if let (true, Some(cur)) = (u.changes_scopes(), &u.current_scopes) {
        what.push(format!(
            "scopes {} → {}",
            md(&cur.join(", ")),
            md(&u.scopes.join(", "))
        ));
    }
    what.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::{BundleWrite, CreateReason, TokenCreate, TokenDelete, TokenUpdate};
    use crate::desired::SkippedCluster;
    use crate::model::bindings::LabelNote;
    use crate::model::bundle::BundleKind;
    use crate::model::{ClusterId, ExternalClusterId, OcmEnvName, OrgId, TenantId, TokenId};
    use crate::plan::{ClusterFailure, KeySummary, SecretSummary};

    fn cluster(env: &str, id: &str, name: &str, hcp: bool) -> ClusterRef {
        ClusterRef {
            ocm_env: OcmEnvName::new(env),
            id: ClusterId::new(id),
            external_id: ExternalClusterId::new(format!("uuid-{id}")),
            name: name.into(),
            org: OrgId::new("org-a"),
            kind: BundleKind::for_cluster(hcp),
        }
    }

    fn empty(c: ClusterRef) -> ClusterPlan {
        ClusterPlan {
            cluster: c,
            actions: vec![],
            secrets: vec![],
            desired: vec![],
            carried_over: vec![],
            kept: Default::default(),
        }
    }

    fn sample() -> Plan {
        let mut new = empty(cluster("ocm-prod", "c1", "new|cluster", false));
        new.actions.push(Action::CreateToken(TokenCreate {
            slot: 0,
            tenant: TenantId::new("abc12345"),
            name: "dtp_operator-token_uuid-c1_1b6c3b9a7248".into(),
            scopes: vec!["entities.read".into()],
            reason: CreateReason::Missing,
            secret: "dynatrace/dynatrace-token-dtp".into(),
            key: "apiToken".into(),
        }));
        new.secrets.push(SecretSummary {
            namespace: "dynatrace".into(),
            name: "dynatrace-token-dtp".into(),
            tenant: TenantId::new("abc12345"),
            keys: vec![KeySummary {
                key: "apiToken".into(),
                token_id: None,
                token_name: "dtp_operator-token_uuid-c1_1b6c3b9a7248".into(),
            }],
        });
        new.actions.push(Action::CreateBundle(BundleWrite {
            kind: BundleKind::SyncSet,
            reasons: vec!["SyncSet ext-dynatrace-tokens-dtp does not exist".into()],
        }));

        let mut drift = empty(cluster("ocm-prod", "c2", "drifted", true));
        drift.actions.push(Action::UpdateToken(TokenUpdate {
            tenant: TenantId::new("abc12345"),
            id: TokenId::new("dt0c01.ABC"),
            name: "dtp_ingestion-token_uuid-c2_f6e7fac64719".into(),
            scopes: vec!["metrics.ingest".into(), "logs.ingest".into()],
            current_name: "old*name".into(),
            current_scopes: Some(vec!["metrics.ingest".into()]),
        }));
        drift.actions.push(Action::PatchBundle(BundleWrite {
            kind: BundleKind::Manifest,
            reasons: vec!["secret dynatrace/x gets a new token for key 'apiToken'".into()],
        }));
        drift.actions.push(Action::DeleteToken(TokenDelete {
            tenant: TenantId::new("abc12345"),
            id: TokenId::new("dt0c01.OLD"),
            name: "dtp_operator-token_uuid-c2_1b6c3b9a7248".into(),
            reason: CreateReason::Disabled,
        }));

        Plan {
            clusters: vec![new, drift, empty(cluster("ocm-prod", "c3", "fine", false))],
            failed: vec![ClusterFailure {
                cluster: cluster("ocm-stage", "c9", "broken", false),
                error: "Dynatrace tenant 'xyz': HTTP 401".into(),
            }],
            skipped: vec![SkippedCluster {
                cluster: cluster("ocm-stage", "c5", "bad`label", false),
                reason: "no usable DTP label".into(),
                notes: vec![LabelNote {
                    label: "sre-capabilities.dtp.v2.tenant".into(),
                    message: "unknown tenant 'a|b'".into(),
                }],
            }],
            ..Plan::default()
        }
    }

    fn ctx<'a>(failures: Vec<String>) -> MarkdownContext<'a> {
        MarkdownContext {
            dry_run: true,
            bundle_sha: Some("0123456789abcdef0123"),
            clusters_discovered: 5,
            shard: None,
            failures,
            not_started: &[],
        }
    }

    #[test]
    fn markdown_shows_every_change_skip_and_failure() {
        let plan = sample();
        let out = markdown_plan(
            &plan,
            &ctx(vec![
                "ocm-stage/org-a/c9: Dynatrace tenant 'xyz': HTTP 401".into(),
                "ocm-env: SSO failed".into(),
            ]),
        );
        assert!(out.starts_with("## dtp plan (dry-run)\n"), "{out}");
        assert!(out.contains("App-interface bundle `0123456789ab`"), "{out}");
        assert!(
            out.contains(
                "5 labelled cluster(s): **2 to change**, 1 up to date, 1 skipped, 1 failed."
            ),
            "{out}"
        );
        assert!(out.contains("| 1 | 1 | 1 | 0 | 1 | 1 |"), "{out}");
        // Per changed cluster, in plan order; the up-to-date one is not listed.
        let c1 = out.find("#### ocm-prod / new\\|cluster (c1)").expect("c1");
        let c2 = out.find("#### ocm-prod / drifted (c2)").expect("c2");
        assert!(c1 < c2);
        assert!(!out.contains("fine"), "{out}");
        assert!(out.contains(
            "| dtp\\_operator-token\\_uuid-c1\\_1b6c3b9a7248 | abc12345 | dynatrace/dynatrace-token-dtp | apiToken | not delivered yet |"
        ), "{out}");
        assert!(out.contains(
            "**Create SyncSet ext-dynatrace-tokens-dtp** with 1 secret(s): dynatrace/dynatrace-token-dtp"
        ), "{out}");
        assert!(out.contains(
            "| dt0c01.ABC | abc12345 | name old\\*name → dtp\\_ingestion-token\\_uuid-c2\\_f6e7fac64719; scopes metrics.ingest → metrics.ingest, logs.ingest |"
        ), "{out}");
        assert!(out.contains("**Patch Manifest ext-dynatrace-tokens-dtp**:\n\n- secret dynatrace/x gets a new token for key 'apiToken'"), "{out}");
        assert!(out.contains("| dt0c01.OLD | dtp\\_operator-token\\_uuid-c2\\_1b6c3b9a7248 | abc12345 | disabled in Dynatrace |"), "{out}");
        assert!(out.contains(
            "| ocm-stage / bad\\`label (c5) | org-a | no usable DTP label<br>sre-capabilities.dtp.v2.tenant: unknown tenant 'a\\|b' |"
        ), "{out}");
        // Failures sorted.
        let f = out
            .find("### Failures\n\n- ocm-env: SSO failed\n- ocm-stage/org-a/c9")
            .expect("failures");
        assert!(f > c2);
    }

    #[test]
    fn table_rows_never_break_on_values() {
        let out = markdown_plan(&sample(), &ctx(vec![]));
        // Unescaped pipes delimit cells: every row of a table has as many as its header.
        let mut tables = 0;
        let mut header: Option<usize> = None;
        for line in out.lines() {
            if !line.starts_with('|') {
                header = None;
                continue;
            }
            let cells = line.replace("\\|", "").matches('|').count();
            match header {
                None => {
                    tables += 1;
                    header = Some(cells);
                }
                Some(h) => assert_eq!(cells, h, "broken row: {line}"),
            }
        }
        assert_eq!(tables, 5, "{out}");
    }

    #[test]
    fn markdown_is_deterministic_and_says_when_nothing_changes() {
        let plan = sample();
        assert_eq!(
            markdown_plan(&plan, &ctx(vec!["b".into(), "a".into()])),
            markdown_plan(&plan, &ctx(vec!["a".into(), "b".into(), "a".into()]))
        );
        let quiet = Plan {
            clusters: vec![empty(cluster("e", "c", "n", false))],
            ..Plan::default()
        };
        let out = markdown_plan(
            &quiet,
            &MarkdownContext {
                dry_run: false,
                bundle_sha: None,
                clusters_discovered: 1,
                shard: Some((1, 3)),
                failures: vec![],
                not_started: &[],
            },
        );
        assert!(
            out.starts_with("## dtp plan (apply, shard 1 of 3)\n\n1 labelled"),
            "{out}"
        );
        assert!(
            out.contains("No changes: every served cluster is up to date."),
            "{out}"
        );
        assert!(!out.contains("###"), "{out}");
    }

    #[test]
    fn escaping_covers_markdown_specials_and_line_breaks() {
        assert_eq!(md("a|b*c_d`e"), "a\\|b\\*c\\_d\\`e");
        assert_eq!(md("x\ny<z>"), "x y\\<z\\>");
        assert_eq!(
            md("[l](u) #h ~s &amp; \\"),
            "\\[l\\](u) \\#h \\~s \\&amp; \\\\"
        );
    }
}
