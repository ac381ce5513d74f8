//! `make bench`, the planning table: the pure core alone (`desired_state` + `plan`) for 1 000
//! and 10 000 clusters, both for a fleet the Python integration already provisioned
//! (everything compared, nothing to do) and for a new fleet (every token and bundle to
//! create). The runs of the binary against the sandbox are the fleet table (`benches/fleet`).

use dtp::desired::desired_state;
use dtp::model::DiscoveredCluster;
use dtp::model::bundle::{DesiredSecret, Resources, TokenValue, render_secret};
use dtp::model::*;
use dtp::plan::{CurrentState, TenantTokens, plan};
use secrecy::SecretString;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const OPERATOR: [&str; 6] = [
    "activeGateTokenManagement.create",
    "entities.read",
    "settings.write",
    "settings.read",
    "DataExport",
    "InstallerDownload",
];
const INGEST: [&str; 3] = ["metrics.ingest", "logs.ingest", "events.ingest"];

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn data() -> AppInterfaceData {
    let tenant = |id: &str| DynatraceEnvironment {
        name: id.into(),
        environment_id: id.into(),
        environment_url: format!("https://{id}.live.dynatrace.com"),
        bootstrap_token: VaultSecretRef {
            path: "p".into(),
            field: "f".into(),
            version: None,
            format: None,
        },
        source: None,
    };
    AppInterfaceData {
        dynatrace_environments: vec![tenant("abc12345"), tenant("xyz67890")],
        ocm_environments: vec![],
        token_specs: vec![TokenSpec {
            name: "default".into(),
            ocm_org_ids: vec!["org".into()],
            secrets: vec![SpecSecret {
                name: "dynatrace-token-dtp".into(),
                namespace: "dynatrace".into(),
                tokens: vec![
                    SpecToken {
                        name: "operator-token".into(),
                        key_name_in_secret: Some("apiToken".into()),
                        scopes: s(&OPERATOR),
                    },
                    SpecToken {
                        name: "ingestion-token".into(),
                        key_name_in_secret: Some("dataIngestToken".into()),
                        scopes: s(&INGEST),
                    },
                ],
            }],
            source: None,
        }],
        vault: false,
        bundle_sha: None,
    }
}

fn uuid(i: usize) -> String {
    format!("{i:08x}-0000-4000-8000-{i:012x}")
}

fn fleet(n: usize) -> Vec<(OcmEnvName, DiscoveredCluster)> {
    (0..n)
        .map(|i| {
            let tenant = if i % 2 == 0 { "abc12345" } else { "xyz67890" };
            (
                OcmEnvName::from("production"),
                DiscoveredCluster {
                    id: ClusterId::new(format!("c{i}")),
                    external_id: ExternalClusterId::new(uuid(i)),
                    name: format!("cluster-{i}"),
                    subscription_id: SubscriptionId::new(format!("s{i}")),
                    organization_id: "org".into(),
                    is_hcp: i % 3 == 0,
                    labels: vec![
                        ("sre-capabilities.dtp.v2.tenant".into(), tenant.into()),
                        (
                            "sre-capabilities.dtp.v2.token-spec".into(),
                            "default".into(),
                        ),
                    ],
                },
            )
        })
        .collect()
}

/// The current state the Python integration would have left: every token present, every
/// bundle in its layout.
fn provisioned(
    data: &AppInterfaceData,
    clusters: &[(OcmEnvName, DiscoveredCluster)],
) -> CurrentState {
    let desired = desired_state(data, clusters);
    let mut tenants: BTreeMap<TenantId, Vec<dtp::model::DtToken>> = BTreeMap::new();
    let mut bundles = BTreeMap::new();
    for (n, dc) in desired.clusters.iter().enumerate() {
        let mut secrets = Vec::new();
        for sec in &dc.secrets {
            let mut tokens = Vec::new();
            for (k, t) in sec.tokens.iter().enumerate() {
                let id = format!("dt0c01.{:0>24}", n * 2 + k);
                tenants
                    .entry(sec.tenant.clone())
                    .or_default()
                    .push(dtp::model::DtToken {
                        id: TokenId::new(id.clone()),
                        name: t.token_name.clone(),
                        enabled: Some(true),
                        expiration_date: None,
                        created: None,
                        scopes: Some(t.scopes.clone().into()),
                    });
                tokens.push((
                    t.key.clone(),
                    TokenValue::Existing {
                        token: SecretString::from(format!("{id}.{:0>64}", n)),
                        id,
                    },
                ));
            }
            secrets.push(DesiredSecret {
                name: sec.name.clone(),
                namespace: sec.namespace.clone(),
                api_url: sec.api_url.clone(),
                tokens,
            });
        }
        let resolve = |v: &TokenValue| match v {
            TokenValue::Existing { id, token } => Some((id.clone(), token.clone())),
            TokenValue::Slot(_) => None,
        };
        let res = Resources(
            secrets
                .iter()
                .filter_map(|s| render_secret(s, &resolve))
                .collect(),
        );
        bundles.insert(
            (dc.cluster.ocm_env.clone(), dc.cluster.id.clone()),
            Ok(Some(res)),
        );
    }
    CurrentState {
        now: chrono::Utc::now(),
        tenants: tenants
            .into_iter()
            .map(|(t, v)| (t, Ok(TenantTokens::new(v))))
            .collect(),
        bundles,
        departed: Default::default(),
    }
}

fn fresh(data: &AppInterfaceData, clusters: &[(OcmEnvName, DiscoveredCluster)]) -> CurrentState {
    let desired = desired_state(data, clusters);
    CurrentState {
        now: chrono::Utc::now(),
        tenants: data
            .dynatrace_environments
            .iter()
            .map(|e| (e.environment_id.clone(), Ok(TenantTokens::default())))
            .collect(),
        bundles: desired
            .clusters
            .iter()
            .map(|c| ((c.cluster.ocm_env.clone(), c.cluster.id.clone()), Ok(None)))
            .collect(),
        departed: Default::default(),
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn vm_hwm_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn bench_plan() {
    println!("## Planning (pure: desired_state + plan), median of 5");
    println!("| clusters | state | time | per cluster | actions |");
    println!("|---:|---|---:|---:|---:|");
    let data = data();
    for n in [1_000usize, 10_000] {
        let clusters = fleet(n);
        for (label, current) in [
            ("provisioned (no change)", provisioned(&data, &clusters)),
            ("new fleet", fresh(&data, &clusters)),
        ] {
            let mut times = Vec::new();
            let mut actions = 0;
            for _ in 0..5 {
                let t = Instant::now();
                let desired = desired_state(&data, &clusters);
                let p = plan(&desired, &current, &dtp::plan::Policy::default());
                times.push(t.elapsed());
                actions = p.action_count();
                std::hint::black_box(&p);
            }
            if label.starts_with("provisioned") {
                assert_eq!(actions, 0, "a provisioned fleet plans nothing");
            }
            let m = median(times);
            println!(
                "| {n} | {label} | {:.1} ms | {:.1} µs | {actions} |",
                m.as_secs_f64() * 1e3,
                m.as_secs_f64() * 1e6 / n as f64
            );
        }
    }
    println!(
        "\nbench process peak RSS after planning: {} MiB\n",
        vm_hwm_kib("self").unwrap_or(0) / 1024
    );
}

fn main() {
    // `cargo bench` passes --bench; nothing to parse.
    bench_plan();
}
