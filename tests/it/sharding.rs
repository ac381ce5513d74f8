//! Sharding: N shards (N = 1, 2, 3) run side by side on the example fleet do exactly what one
//! process does — the same Secrets with the same keys on the same clusters, the same token
//! names in each tenant, the same number of writes — each shard writing only to its own
//! clusters, and every cluster served by exactly one shard.

use dtp::cli::SourceArgs;
use dtp::config::Mode;
use dtp::demo::DEMO_FLEET;
use dtp::model::ExternalClusterId;
use dtp::reconcile::{RunOptions, run};
use dtp::sandbox::{Fixture, Sandbox};
use dtp::shard::Shard;
use std::collections::{BTreeMap, BTreeSet};

/// What the fleet ends up with, modulo token values: per cluster the Secrets and their keys
/// (with the Dynatrace name of each delivered token), per tenant the dtp token names.
#[derive(Debug, PartialEq, Eq)]
struct EndState {
    bundles: BTreeMap<String, BTreeSet<String>>,
    tokens: BTreeMap<String, BTreeSet<String>>,
    writes: usize,
}

async fn fleet_run(shards: u32) -> (EndState, BTreeMap<u32, BTreeSet<String>>) {
    let sandbox = Sandbox::start_yaml(DEMO_FLEET).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, sandbox.config_toml()).expect("config");
    let args = SourceArgs {
        config: Some(config),
        ..SourceArgs::default()
    };
    let deps = crate::common::settings_from(&args).dependencies();
    let fixture = Fixture::from_yaml(DEMO_FLEET).unwrap();
    let clusters: Vec<(String, String, String)> = fixture
        .ocm
        .iter()
        .flat_map(|(env, f)| {
            f.clusters.iter().map(move |c| {
                (
                    env.clone(),
                    c.id.clone(),
                    c.external_id.clone().unwrap_or_default(),
                )
            })
        })
        .collect();

    // Shards run side by side, as separate pods would.
    let runs = (0..shards).map(|k| {
        let deps = deps.clone();
        async move {
            let opts = RunOptions {
                mode: Mode::Apply,
                shard: Shard::new(shards, k).unwrap(),
                ..RunOptions::default()
            };
            (k, run(&deps, &opts).await.expect("run"))
        }
    });
    let reports = futures::future::join_all(runs).await;
    let mut served: BTreeMap<u32, BTreeSet<String>> = BTreeMap::new();
    for (k, report) in &reports {
        assert_eq!(report.exit_code(), 0, "shard {k}: {:?}", report.errors());
        for c in &report.plan.clusters {
            served
                .entry(*k)
                .or_default()
                .insert(c.cluster.id.to_string());
        }
    }

    // Writes touch only the writing shard's clusters: check by path.
    let owner = |path: &str| -> Option<u32> {
        clusters
            .iter()
            .find(|(_, id, _)| path.contains(&format!("/clusters/{id}/")))
            .map(|(_, _, uuid)| Shard::of(&ExternalClusterId::new(uuid.clone()), shards))
    };
    let writes = sandbox.control.writes();
    for w in &writes {
        if let Some(o) = owner(&w.path) {
            assert!(
                served[&o]
                    .iter()
                    .any(|id| w.path.contains(&format!("/clusters/{id}/"))),
                "{} {}",
                w.method,
                w.path
            );
        }
    }

    let dt = sandbox.dynatrace();
    let names: BTreeMap<String, String> = dt
        .tenant_ids()
        .iter()
        .flat_map(|t| dt.tokens(t))
        .map(|t| (t.id.clone(), t.name.clone()))
        .collect();
    let mut bundles = BTreeMap::new();
    for (env, id, _) in &clusters {
        let ocm = sandbox.ocm_env(env);
        for (kind, res) in [("SyncSet", ocm.syncset(id)), ("Manifest", ocm.manifest(id))] {
            let Some(res) = res else { continue };
            let mut keys = BTreeSet::new();
            for r in res {
                let secret = format!(
                    "{}/{}",
                    r["metadata"]["namespace"].as_str().unwrap(),
                    r["metadata"]["name"].as_str().unwrap()
                );
                for (k, v) in r["data"].as_object().unwrap() {
                    let decoded = String::from_utf8(
                        base64::Engine::decode(
                            &base64::engine::general_purpose::STANDARD,
                            v.as_str().unwrap(),
                        )
                        .unwrap(),
                    )
                    .unwrap();
                    let shown = if k.ends_with("Id") {
                        names
                            .get(&decoded)
                            .cloned()
                            .unwrap_or_else(|| format!("unknown id {decoded}"))
                    } else if k == "apiUrl" {
                        decoded
                    } else {
                        "<token>".into()
                    };
                    keys.insert(format!("{kind} {secret} {k} = {shown}"));
                }
            }
            bundles.insert(format!("{env}/{id}"), keys);
        }
    }
    let tokens = dt
        .tenant_ids()
        .iter()
        .map(|t| {
            (
                t.clone(),
                dt.tokens(t).into_iter().map(|x| x.name).collect(),
            )
        })
        .collect();
    let state = EndState {
        bundles,
        tokens,
        writes: writes.len(),
    };
    (state, served)
}

fn normalize(mut s: EndState) -> EndState {
    // Each fleet has its own Dynatrace port in apiUrl.
    for keys in s.bundles.values_mut() {
        *keys = keys
            .iter()
            .map(|k| match k.find("http://127.0.0.1:") {
                Some(i) => {
                    let rest = &k[i + "http://127.0.0.1:".len()..];
                    let path = rest.find('/').map(|p| &rest[p..]).unwrap_or("");
                    format!("{}<dynatrace>{path}", &k[..i])
                }
                None => k.clone(),
            })
            .collect();
    }
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn n_shards_side_by_side_do_exactly_what_one_process_does() {
    let (single, served1) = fleet_run(1).await;
    let single = normalize(single);
    let all: BTreeSet<String> = served1[&0].clone();
    assert_eq!(all.len(), 9);
    for n in [2, 3] {
        let (state, served) = fleet_run(n).await;
        assert_eq!(normalize(state), single, "{n} shards");
        // Every served cluster belongs to exactly one shard.
        let mut seen = BTreeSet::new();
        for ids in served.values() {
            for id in ids {
                assert!(seen.insert(id.clone()), "{id} served twice with {n} shards");
            }
        }
        assert_eq!(seen, all, "{n} shards serve the whole fleet");
        assert!(
            served.len() >= 2,
            "the work was really split with {n} shards: {served:?}"
        );
    }
}
