//! Property-based tests (proptest) of the code that reads input dtp does not control: cluster
//! labels into bindings, bundle parsing and comparison, `config.toml`, in-memory datafiles, and
//! the OCM search strings and token names dtp builds. Each property runs hundreds of generated
//! cases, mixing realistic values with near misses (typos, half pairs, wrong types, base64
//! without padding) and arbitrary unicode, quotes, parentheses and control characters. No
//! network and no files: failure persistence is off, and a failing property prints its
//! shrunk input.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use dtp::clients::appinterface::{
    DYNATRACE_ENVIRONMENT_SCHEMA, Datafile, OCM_ENVIRONMENT_SCHEMA, SETTINGS_SCHEMA,
    TOKEN_SPEC_SCHEMA, from_datafiles,
};
use dtp::clients::ocm::{in_list, quote};
use dtp::config::QontractConfig;
use dtp::model::bindings::{
    Binding, LEGACY_SPEC, LEGACY_TENANT, Resolved, V2_SPEC, V2_TENANT, V3_PREFIX, resolve,
};
use dtp::model::bundle::{
    CurrentBundle, DesiredSecret, Resources, TokenValue, differences, render_secret, same_content,
    value_belongs_to,
};
use dtp::model::naming::{
    MAX_TOKEN_NAME_LEN, cluster_of, named_for_cluster, owned_by_dtp, scope_hash, token_name,
};
use dtp::model::validate::{ALLOWED_SCOPES, validate_app_interface};
use dtp::model::{ExternalClusterId, OrgId, SpecName, TenantId, TokenSpec};
use dtp::sandbox::search::Search;
use proptest::prelude::*;
use proptest::sample::{Index, select, subsequence};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// `cases` generated inputs per property (`PROPTEST_CASES` overrides it, for a longer run);
/// failures are shrunk and printed, never written to a regressions file in the source tree.
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Shared generators

/// Pieces that break parsers: quotes and escapes, the search language's keywords and
/// operators, label-key parts, unicode (combining, right-to-left, zero-width, BOM), controls.
#[rustfmt::skip]
const FRAGMENTS: &[&str] = &[
    "'", "''", "\"", "\\", "\\'", "(", ")", ",", " ", "  ", "=", "!=", "<>", "%", "_", ".", "-",
    "/", " and ", " or ", "not ", " in ", "AND", "Or", "null", "is", "true", "1.5", "-3", "é",
    "e\u{301}", "ß", "İ", "🦀", "\u{202e}", "\u{0}", "\n", "\r\n", "\t", "\u{a0}", "\u{200b}",
    "\u{feff}", "dtp_", "dtp", "Id", "apiUrl", "sre-capabilities.dtp.", ".tenant", ".token-spec",
    "2024-01-01T00:00:00Z", "2024-01-01T00:00:00.000Z", "[", "]", "{", "}", "#", "$schema", "~",
];

/// A string: fragments glued together, arbitrary printable unicode, or a plain identifier.
fn text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => prop::collection::vec(
            prop_oneof![
                3 => select(FRAGMENTS).prop_map(str::to_owned),
                2 => "[a-zA-Z0-9]{1,6}",
                1 => any::<char>().prop_map(String::from),
            ],
            0..8,
        )
        .prop_map(|parts| parts.concat()),
        1 => any::<String>(),
        1 => "[a-z0-9-]{0,12}",
    ]
    .boxed()
}

/// Any JSON value, up to three levels deep.
fn json_value() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((text(), inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
    .boxed()
}

// ---------------------------------------------------------------------------------------------
// 1. Labels → bindings

const SPEC_POOL: &[&str] = &["default", "slo", "regional", "Default", "é-spec"];
const TENANT_POOL: &[&str] = &["abc12345", "def67890", "t", "é"];
const ORG_POOL: &[&str] = &["org-a", "org-b", "org-c"];
const GROUPS: &[&str] = &["a", "b", "slo", "", "a.b", "é", " ", "tenant", "token-spec"];
const SUFFIXES: &[&str] = &[
    "tenant",
    "token-spec",
    "tenat",
    "token_spec",
    "Tenant",
    "",
    "tenant ",
];
const OLDER_KEYS: &[&str] = &[V2_TENANT, V2_SPEC, LEGACY_TENANT, LEGACY_SPEC];
const NEAR_PREFIXES: &[&str] = &[
    "sre-capabilities.dtp.v3",
    "sre-capabilities.dtp.v3x",
    "sre-capabilities.dtp.v2",
    "sre-capabilities.dtp",
    "sre-capabilities.dtp.v4",
    "SRE-capabilities.dtp.v3",
    " sre-capabilities.dtp.v3",
];
const PADDING: &[&str] = &["", "", " ", "\t", "\n ", "\u{a0}"];

fn label_key() -> BoxedStrategy<String> {
    prop_oneof![
        6 => (select(GROUPS), select(SUFFIXES)).prop_map(|(g, s)| format!("{V3_PREFIX}.{g}.{s}")),
        3 => select(OLDER_KEYS).prop_map(str::to_owned),
        2 => (select(NEAR_PREFIXES), prop::option::of(select(SUFFIXES)))
            .prop_map(|(p, s)| s.map_or_else(|| p.to_owned(), |s| format!("{p}.{s}"))),
        1 => text(),
    ]
    .boxed()
}

fn label_value() -> BoxedStrategy<String> {
    let pooled: Vec<&'static str> = SPEC_POOL.iter().chain(TENANT_POOL).copied().collect();
    prop_oneof![
        6 => (select(PADDING), select(pooled), select(PADDING))
            .prop_map(|(a, v, b)| format!("{a}{v}{b}")),
        1 => select(&["", " ", "\n"][..]).prop_map(str::to_owned),
        1 => text(),
    ]
    .boxed()
}

fn pooled_value(pool: &'static [&'static str]) -> BoxedStrategy<String> {
    prop_oneof![
        16 => (select(PADDING), select(pool), select(PADDING)).prop_map(|(a, v, b)| format!("{a}{v}{b}")),
        1 => select(&["", " "][..]).prop_map(str::to_owned),
        1 => text(),
    ]
    .boxed()
}

/// The labels of one pair under `prefix`: usually both halves, sometimes one, or one with a
/// mistyped last segment.
fn pair_labels(prefix: String) -> BoxedStrategy<Vec<(String, String)>> {
    (pooled_value(TENANT_POOL), pooled_value(SPEC_POOL), 0u8..16)
        .prop_map(move |(tenant, spec, shape)| {
            let t = (format!("{prefix}.tenant"), tenant);
            let s = (format!("{prefix}.token-spec"), spec);
            match shape {
                0 => vec![t],
                1 => vec![s],
                2 => vec![(format!("{prefix}.tenat"), t.1), s],
                _ => vec![t, s],
            }
        })
        .boxed()
}

/// A cluster's labels: v3 groups, v2 and legacy pairs, unrelated or broken labels, shuffled.
fn labels() -> impl Strategy<Value = Vec<(String, String)>> {
    let group = select(GROUPS).prop_flat_map(|g| pair_labels(format!("{V3_PREFIX}.{g}")));
    let older = select(&["sre-capabilities.dtp.v2", "sre-capabilities.dtp"][..])
        .prop_flat_map(|p| pair_labels(p.to_owned()));
    (
        prop::collection::vec(group, 0..4),
        prop::collection::vec(older, 0..3),
        prop_oneof![
            1 => Just(vec![]),
            1 => prop::collection::vec((label_key(), label_value()), 1..4),
        ],
    )
        .prop_map(|(groups, older, other)| {
            let mut all: Vec<(String, String)> = groups.into_iter().flatten().collect();
            all.extend(older.into_iter().flatten());
            all.extend(other);
            all
        })
        .prop_shuffle()
}

/// Token specs named from the pool (mostly all of them), each allowing some organizations.
fn specs() -> impl Strategy<Value = BTreeMap<SpecName, TokenSpec>> {
    let names = prop_oneof![
        2 => Just(SPEC_POOL.to_vec()),
        1 => subsequence(SPEC_POOL, 0..=SPEC_POOL.len()),
    ];
    let orgs = prop_oneof![
        3 => Just(ORG_POOL.to_vec()),
        2 => subsequence(ORG_POOL, 0..=ORG_POOL.len()),
    ];
    names
        .prop_flat_map(move |names| {
            let n = names.len();
            (Just(names), prop::collection::vec(orgs.clone(), n))
        })
        .prop_map(|(names, orgs)| names.into_iter().zip(orgs))
        .prop_map(|m| {
            m.into_iter()
                .map(|(name, orgs)| {
                    (
                        SpecName::from(name),
                        TokenSpec {
                            name: name.into(),
                            ocm_org_ids: orgs.into_iter().map(OrgId::from).collect(),
                            secrets: vec![],
                            source: None,
                        },
                    )
                })
                .collect()
        })
}

fn tenants() -> impl Strategy<Value = BTreeSet<TenantId>> {
    prop_oneof![
        2 => Just(TENANT_POOL.to_vec()),
        1 => subsequence(TENANT_POOL, 1..=TENANT_POOL.len()),
    ]
    .prop_map(|t| t.into_iter().map(TenantId::from).collect())
}

fn org() -> BoxedStrategy<OrgId> {
    prop_oneof![
        4 => select(ORG_POOL).prop_map(OrgId::from),
        1 => text().prop_map(OrgId::new),
    ]
    .boxed()
}

/// The effective value of a label: the last one given (later labels override earlier ones).
fn label<'a>(labels: &'a [(String, String)], key: &str) -> Option<&'a str> {
    labels
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// v3 pair prefixes (`<V3_PREFIX><anything>` minus the last segment `tenant`/`token-spec`), in
/// first-seen order.
fn v3_prefixes(labels: &[(String, String)]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (key, _) in labels {
        if !key.starts_with(V3_PREFIX) {
            continue;
        }
        if let Some((prefix, last)) = key.rsplit_once('.')
            && (last == "tenant" || last == "token-spec")
            && !out.iter().any(|p| p == prefix)
        {
            out.push(prefix.to_owned());
        }
    }
    out
}

/// The pair a prefix names (trimmed), when both halves are non-empty and the spec exists.
fn pair_of(
    labels: &[(String, String)],
    tenant_key: &str,
    spec_key: &str,
    specs: &BTreeMap<SpecName, TokenSpec>,
) -> Option<(String, String)> {
    let tenant = label(labels, tenant_key).map(str::trim).unwrap_or_default();
    let spec = label(labels, spec_key).map(str::trim).unwrap_or_default();
    (!tenant.is_empty() && !spec.is_empty() && specs.contains_key(&SpecName::from(spec)))
        .then(|| (tenant.to_owned(), spec.to_owned()))
}

/// Every candidate binding (usable, disallowed or with an unknown tenant).
fn candidates(r: &Resolved) -> impl Iterator<Item = &Binding> {
    r.bindings
        .iter()
        .chain(&r.disallowed)
        .chain(&r.unknown_tenants)
}

fn check_resolved(
    labels: &[(String, String)],
    specs: &BTreeMap<SpecName, TokenSpec>,
    tenants: &BTreeSet<TenantId>,
    org: &OrgId,
    r: &Resolved,
) -> Result<(), TestCaseError> {
    // Usable bindings: a known tenant, an existing spec that allows the org, no repeats.
    let mut pairs = BTreeSet::new();
    for b in &r.bindings {
        prop_assert!(
            specs.get(&b.spec).is_some_and(|s| s.allows_org(org)),
            "binding {b:?}: its spec is missing or does not allow org {org}"
        );
        prop_assert!(
            tenants.contains(&b.tenant),
            "binding {b:?}: tenant not among {tenants:?}"
        );
        prop_assert!(
            pairs.insert((b.tenant.clone(), b.spec.clone())),
            "binding {b:?} repeats a (tenant, spec) pair: {:?}",
            r.bindings
        );
    }
    for b in candidates(r) {
        for part in [b.tenant.as_str(), b.spec.as_str()] {
            prop_assert!(
                !part.is_empty() && part == part.trim(),
                "binding {b:?}: tenant and spec are trimmed and non-empty"
            );
        }
        prop_assert!(specs.contains_key(&b.spec), "candidate {b:?}: unknown spec");
    }
    for b in &r.unknown_tenants {
        prop_assert!(
            !tenants.contains(&b.tenant),
            "{b:?} is not an unknown tenant"
        );
    }
    for b in &r.disallowed {
        prop_assert!(
            tenants.contains(&b.tenant),
            "disallowed {b:?}: unknown tenant"
        );
        prop_assert!(
            !specs[&b.spec].allows_org(org),
            "disallowed {b:?}, but its spec allows org {org}"
        );
    }

    // `unresolved` is exactly "some note other than a disallowed-org note": each disallowed
    // binding has its own note, every other note is a label that cannot be resolved.
    let mut other_notes = r.notes.clone();
    for b in &r.disallowed {
        let message = format!(
            "token spec '{}' does not allow organization '{org}'",
            b.spec
        );
        let at = other_notes
            .iter()
            .position(|n| n.label == b.key && n.message == message);
        prop_assert!(at.is_some(), "no note for disallowed {b:?}: {:?}", r.notes);
        other_notes.remove(at.unwrap_or_default());
    }
    prop_assert_eq!(
        r.unresolved,
        !other_notes.is_empty(),
        "unresolved must be set exactly when a note other than a disallowed-org note exists: {:?}",
        r.notes
    );

    // Each binding is what the labels say (the last value of a key wins), v3 bindings in
    // first-seen order, and v2/legacy only as the single binding when no v3 pair resolves.
    let prefixes = v3_prefixes(labels);
    let v3_resolves = prefixes.iter().any(|p| {
        pair_of(
            labels,
            &format!("{p}.tenant"),
            &format!("{p}.token-spec"),
            specs,
        )
        .is_some()
    });
    let mut last_position = None;
    for b in &r.bindings {
        if let Some(at) = prefixes.iter().position(|p| *p == b.key) {
            prop_assert!(
                last_position < Some(at),
                "v3 bindings out of first-seen order: {:?}",
                r.bindings
            );
            last_position = Some(at);
        }
    }
    for b in candidates(r) {
        let (tenant_key, spec_key) = match b.key.as_str() {
            "v2" => (V2_TENANT.to_owned(), V2_SPEC.to_owned()),
            "legacy" => (LEGACY_TENANT.to_owned(), LEGACY_SPEC.to_owned()),
            prefix => {
                prop_assert!(
                    prefixes.iter().any(|p| p == prefix),
                    "{b:?}: key is neither v2, legacy nor a v3 prefix of the labels"
                );
                (format!("{prefix}.tenant"), format!("{prefix}.token-spec"))
            }
        };
        prop_assert_eq!(
            pair_of(labels, &tenant_key, &spec_key, specs),
            Some((b.tenant.to_string(), b.spec.to_string())),
            "{:?} is not what its labels say",
            b
        );
        if b.key == "legacy" {
            prop_assert!(
                pair_of(labels, V2_TENANT, V2_SPEC, specs).is_none(),
                "{b:?} used although the v2 pair resolves"
            );
        }
        if b.key == "v2" || b.key == "legacy" {
            prop_assert!(!v3_resolves, "{b:?} used although a v3 pair resolves");
            prop_assert_eq!(candidates(r).count(), 1, "v2/legacy give one binding only");
        }
    }

    // Nothing usable is lost: every usable v3 pair is served (maybe under another group that
    // names the same pair), and without v3 the usable v2 pair is.
    let usable = |(t, s): &(String, String)| {
        tenants.contains(&TenantId::from(t.as_str()))
            && specs
                .get(&SpecName::from(s.as_str()))
                .is_some_and(|spec| spec.allows_org(org))
    };
    let served = |(t, s): &(String, String)| {
        r.bindings
            .iter()
            .any(|b| b.tenant.as_str() == t && b.spec.as_str() == s)
    };
    for p in &prefixes {
        if let Some(pair) = pair_of(
            labels,
            &format!("{p}.tenant"),
            &format!("{p}.token-spec"),
            specs,
        ) && usable(&pair)
        {
            prop_assert!(served(&pair), "usable v3 pair {pair:?} of {p} not served");
        }
    }
    if !v3_resolves
        && let Some(pair) = pair_of(labels, V2_TENANT, V2_SPEC, specs)
        && usable(&pair)
    {
        prop_assert!(served(&pair), "usable v2 pair {pair:?} not served");
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(1024))]

    /// Arbitrary labels never panic, and the resolution keeps every promise of
    /// `model::bindings` (see `check_resolved`).
    #[test]
    fn label_bindings_keep_their_promises(
        labels in labels(),
        specs in specs(),
        tenants in tenants(),
        org in org(),
    ) {
        let r = resolve(&labels, &specs, &tenants, &org);
        check_resolved(&labels, &specs, &tenants, &org, &r)?;
    }

    /// Binding labels buried among other labels (arbitrary keys and values) resolve the same.
    #[test]
    fn unrelated_labels_do_not_change_bindings(
        labels in labels(),
        noise in prop::collection::vec((text(), text()), 0..6),
        specs in specs(),
        tenants in tenants(),
        org in org(),
    ) {
        let noise: Vec<(String, String)> = noise
            .into_iter()
            .filter(|(k, _)| !k.starts_with("sre-capabilities.dtp."))
            .collect();
        let mut mixed = noise.clone();
        mixed.extend(labels.iter().cloned());
        mixed.extend(noise);
        prop_assert_eq!(
            resolve(&labels, &specs, &tenants, &org),
            resolve(&mixed, &specs, &tenants, &org)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Bundles: render, parse, compare

/// A desired Secret as plain strings: `(key, token id, token value)` per token.
#[derive(Clone, Debug)]
struct SecretCase {
    name: String,
    namespace: String,
    api_url: String,
    tokens: Vec<(String, String, String)>,
}

impl SecretCase {
    fn desired(&self) -> DesiredSecret {
        DesiredSecret {
            name: self.name.clone(),
            namespace: self.namespace.clone(),
            api_url: self.api_url.clone(),
            tokens: self
                .tokens
                .iter()
                .map(|(key, id, token)| {
                    (
                        key.clone(),
                        TokenValue::Existing {
                            id: id.clone(),
                            token: SecretString::from(token.clone()),
                        },
                    )
                })
                .collect(),
        }
    }
}

fn existing(v: &TokenValue) -> Option<(String, SecretString)> {
    match v {
        TokenValue::Existing { id, token } => Some((id.clone(), token.clone())),
        TokenValue::Slot(_) => None,
    }
}

fn k8s_name() -> BoxedStrategy<String> {
    prop_oneof![
        3 => "[a-z0-9]([a-z0-9.-]{0,10}[a-z0-9])?",
        1 => text(),
    ]
    .boxed()
}

fn secret_key() -> BoxedStrategy<String> {
    prop_oneof![
        3 => "[a-zA-Z][a-zA-Z0-9._-]{0,10}",
        2 => select(&["apiToken", "dataIngestToken", "apiTokenId", "apiUrl", "clientId", "Id"][..])
            .prop_map(str::to_owned),
        1 => text(),
    ]
    .boxed()
}

/// Token ids and values: Dynatrace-shaped (`dt0c01.PUBLIC[.SECRET]`) or anything.
fn token_id_and_value() -> BoxedStrategy<(String, String)> {
    prop_oneof![
        3 => ("[A-Z0-9]{8}", "[A-Z0-9]{16}")
            .prop_map(|(public, secret)| (format!("dt0c01.{public}"), format!("dt0c01.{public}.{secret}"))),
        1 => (text(), text()),
    ]
    .boxed()
}

/// Keys that can share a Secret (what validation enforces): distinct, not `apiUrl`, none the
/// `<key>Id` of another.
fn usable_keys(tokens: Vec<(String, (String, String))>) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = Vec::new();
    for (key, (id, value)) in tokens {
        let collides = key == "apiUrl"
            || out
                .iter()
                .any(|(k, _, _)| *k == key || format!("{k}Id") == key || format!("{key}Id") == *k);
        if !collides {
            out.push((key, id, value));
        }
    }
    out
}

fn secret_case() -> impl Strategy<Value = SecretCase> {
    (
        k8s_name(),
        k8s_name(),
        prop_oneof![3 => "https://[a-z]{3,8}\\.live\\.dynatrace\\.com/api", 1 => text()],
        prop::collection::vec((secret_key(), token_id_and_value()), 0..4),
    )
        .prop_map(|(name, namespace, api_url, tokens)| SecretCase {
            name,
            namespace,
            api_url,
            tokens: usable_keys(tokens),
        })
}

/// Desired bundles as dtp builds them: one Secret per (name, namespace).
fn secret_cases() -> impl Strategy<Value = Vec<SecretCase>> {
    prop::collection::vec(secret_case(), 0..4).prop_map(|cases| {
        let mut seen = BTreeSet::new();
        cases
            .into_iter()
            .filter(|c| seen.insert((c.name.clone(), c.namespace.clone())))
            .collect()
    })
}

fn render_all(cases: &[SecretCase]) -> Resources {
    Resources(
        cases
            .iter()
            .map(|c| render_secret(&c.desired(), &existing).expect("no slots"))
            .collect(),
    )
}

/// A data value as OCM may hold it: base64 (padded or not), not base64, not UTF-8, not a
/// string.
fn data_value() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => text().prop_map(|s| Value::String(STANDARD.encode(s))),
        1 => text().prop_map(|s| Value::String(STANDARD.encode(s).trim_end_matches('=').to_owned())),
        1 => prop::collection::vec(any::<u8>(), 0..8).prop_map(|b| Value::String(STANDARD.encode(b))),
        1 => text().prop_map(Value::String),
        1 => json_value(),
    ]
    .boxed()
}

/// A resource of a bundle read back from OCM: a Secret-like object with any fields missing or
/// of the wrong type, another kind, or any JSON value.
fn resource() -> BoxedStrategy<Value> {
    let secretish = (
        prop::option::of(prop_oneof![
            4 => Just(Value::String("Secret".into())),
            1 => select(&["ConfigMap", "secret", "Namespace"][..]).prop_map(|k| Value::String(k.into())),
            1 => json_value(),
        ]),
        prop::option::of(prop_oneof![3 => Just(json!("v1")), 1 => json_value()]),
        prop::option::of(prop_oneof![3 => k8s_name().prop_map(Value::String), 1 => json_value()]),
        prop::option::of(prop_oneof![3 => k8s_name().prop_map(Value::String), 1 => json_value()]),
        prop::option::of(prop_oneof![
            4 => prop::collection::vec((secret_key(), data_value()), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            1 => json_value(),
        ]),
    )
        .prop_map(|(kind, api_version, name, namespace, data)| {
            let mut metadata = Map::new();
            if let Some(n) = name {
                metadata.insert("name".into(), n);
            }
            if let Some(n) = namespace {
                metadata.insert("namespace".into(), n);
            }
            let mut r = Map::new();
            if let Some(v) = api_version {
                r.insert("apiVersion".into(), v);
            }
            if let Some(k) = kind {
                r.insert("kind".into(), k);
            }
            r.insert("metadata".into(), Value::Object(metadata));
            if let Some(d) = data {
                r.insert("data".into(), d);
            }
            Value::Object(r)
        });
    prop_oneof![4 => secretish, 1 => json_value()].boxed()
}

fn resources() -> impl Strategy<Value = Resources> {
    prop::collection::vec(resource(), 0..5).prop_map(Resources)
}

/// A desired Secret with any names and tokens, some of them unfilled slots.
fn any_desired() -> impl Strategy<Value = DesiredSecret> {
    (
        k8s_name(),
        k8s_name(),
        text(),
        prop::collection::vec(
            (
                secret_key(),
                prop_oneof![
                    4 => token_id_and_value().prop_map(|(id, token)| TokenValue::Existing {
                        id,
                        token: SecretString::from(token),
                    }),
                    1 => (0usize..4).prop_map(TokenValue::Slot),
                ],
            ),
            0..4,
        ),
    )
        .prop_map(|(name, namespace, api_url, tokens)| DesiredSecret {
            name,
            namespace,
            api_url,
            tokens,
        })
}

/// The same content as OCM may return it: resources reordered, data keys reordered, base64
/// padding dropped or whitespace around it, annotations changed or gone, labels and `type`
/// added. `noise` drives the choices.
fn reshuffle(r: &Resources, order: &[usize], noise: &[u8]) -> Resources {
    let mut noise = noise.iter().copied().cycle();
    let mut next = move || noise.next().unwrap_or(0);
    let out = order
        .iter()
        .map(|&i| {
            let mut v = r.0[i].clone();
            if let Some(data) = v.get_mut("data").and_then(Value::as_object_mut) {
                let mut entries: Vec<(String, Value)> = std::mem::take(data).into_iter().collect();
                if next() % 2 == 0 {
                    entries.reverse();
                }
                for (_, value) in &mut entries {
                    if let Value::String(s) = value {
                        match next() % 4 {
                            0 => *s = s.trim_end_matches('=').to_owned(),
                            1 => *s = format!(" {s}\n"),
                            _ => {}
                        }
                    }
                }
                data.extend(entries);
            }
            match next() % 4 {
                0 => {
                    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
                        m.shift_remove("annotations");
                    }
                }
                1 => set_at(
                    &mut v,
                    &["metadata", "annotations"],
                    json!({"qontract.integration_version": "0.9"}),
                ),
                2 => {
                    set_at(&mut v, &["metadata", "labels"], json!({"app": "dtp"}));
                    set_at(&mut v, &["type"], json!("Opaque"));
                }
                _ => {}
            }
            v
        })
        .collect();
    Resources(out)
}

/// One change that matters (or may not) to a rendered bundle.
#[derive(Clone, Debug)]
enum Change {
    Value(Index, Index, String),
    RemoveKey(Index, Index),
    AddKey(Index, String, Value),
    Namespace(Index, String),
    Name(Index, String),
    RemoveSecret(Index),
    AddResource(Value),
    Kind(Index, Value),
    ApiVersion(Index, Value),
    Data(Index, Value),
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        (any::<Index>(), any::<Index>(), text()).prop_map(|(a, b, s)| Change::Value(a, b, s)),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Change::RemoveKey(a, b)),
        (any::<Index>(), secret_key(), data_value()).prop_map(|(a, k, v)| Change::AddKey(a, k, v)),
        (any::<Index>(), k8s_name()).prop_map(|(a, s)| Change::Namespace(a, s)),
        (any::<Index>(), k8s_name()).prop_map(|(a, s)| Change::Name(a, s)),
        any::<Index>().prop_map(Change::RemoveSecret),
        resource().prop_map(Change::AddResource),
        (any::<Index>(), json_value()).prop_map(|(a, v)| Change::Kind(a, v)),
        (any::<Index>(), json_value()).prop_map(|(a, v)| Change::ApiVersion(a, v)),
        (any::<Index>(), json_value()).prop_map(|(a, v)| Change::Data(a, v)),
    ]
}

/// Sets `path` in nested objects, creating missing objects; does nothing where a value on the
/// way is not an object.
fn set_at(v: &mut Value, path: &[&str], new: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = v;
    for p in parents {
        let Some(m) = cur.as_object_mut() else {
            return;
        };
        cur = m.entry(*p).or_insert_with(|| json!({}));
    }
    if let Some(m) = cur.as_object_mut() {
        m.insert((*last).to_owned(), new);
    }
}

fn apply_change(r: &mut Resources, c: &Change) {
    let items = &mut r.0;
    if let Change::AddResource(v) = c {
        items.push(v.clone());
        return;
    }
    if items.is_empty() {
        return;
    }
    let n = items.len();
    match c {
        Change::Value(i, k, _) | Change::RemoveKey(i, k) => {
            let Some(data) = items[i.index(n)]
                .get_mut("data")
                .and_then(Value::as_object_mut)
            else {
                return;
            };
            if data.is_empty() {
                return;
            }
            let key = data
                .keys()
                .nth(k.index(data.len()))
                .cloned()
                .unwrap_or_default();
            if let Change::Value(_, _, s) = c {
                data.insert(key, Value::String(STANDARD.encode(s)));
            } else {
                data.shift_remove(&key);
            }
        }
        Change::AddKey(i, k, v) => {
            if let Some(data) = items[i.index(n)]
                .get_mut("data")
                .and_then(Value::as_object_mut)
            {
                data.insert(k.clone(), v.clone());
            }
        }
        Change::Namespace(i, s) => {
            set_at(&mut items[i.index(n)], &["metadata", "namespace"], json!(s));
        }
        Change::Name(i, s) => set_at(&mut items[i.index(n)], &["metadata", "name"], json!(s)),
        Change::RemoveSecret(i) => {
            items.remove(i.index(n));
        }
        Change::Kind(i, v) => set_at(&mut items[i.index(n)], &["kind"], v.clone()),
        Change::ApiVersion(i, v) => set_at(&mut items[i.index(n)], &["apiVersion"], v.clone()),
        Change::Data(i, v) => set_at(&mut items[i.index(n)], &["data"], v.clone()),
        Change::AddResource(_) => {}
    }
}

proptest! {
    #![proptest_config(config(512))]

    /// Rendering Secrets and parsing them back gives the same names, namespaces, keys and
    /// decoded values; the bundle equals itself and delivers exactly what its tokens allow.
    #[test]
    fn rendered_secrets_parse_back(cases in secret_cases()) {
        let rendered = render_all(&cases);
        let parsed = CurrentBundle::parse(&rendered);
        prop_assert_eq!(parsed.secrets.len(), cases.len());
        let mut ids = BTreeSet::new();
        for (case, cur) in cases.iter().zip(&parsed.secrets) {
            prop_assert_eq!(&cur.name, &case.name);
            prop_assert_eq!(&cur.namespace, &case.namespace);
            let mut keys = BTreeSet::from(["apiUrl".to_owned()]);
            for (key, _, _) in &case.tokens {
                keys.insert(key.clone());
                keys.insert(format!("{key}Id"));
            }
            prop_assert_eq!(cur.data.keys().cloned().collect::<BTreeSet<_>>(), keys);
            let value = |k: &str| cur.get(k).map(|v| v.expose_secret().to_owned());
            prop_assert_eq!(value("apiUrl"), Some(case.api_url.clone()));
            for (key, id, token) in &case.tokens {
                prop_assert_eq!(value(key), Some(token.clone()), "value of {}", key);
                prop_assert_eq!(value(&format!("{key}Id")), Some(id.clone()), "id of {}", key);
                if !id.trim().is_empty() {
                    ids.insert(id.trim().to_owned());
                }
            }
        }
        // `token_ids` holds every id (and, for a key itself ending in `Id`, that key's value).
        let token_ids = parsed.token_ids();
        prop_assert!(ids.is_subset(&token_ids), "{ids:?} not all in {token_ids:?}");
        for id in &token_ids {
            prop_assert!(
                parsed.secrets.iter().flat_map(|s| s.data.iter()).any(|(k, v)| {
                    k.ends_with("Id") && v.as_ref().is_some_and(|v| v.expose_secret().trim() == id)
                }),
                "token id {id:?} is not the value of an <key>Id key"
            );
        }
        prop_assert!(same_content(&rendered, &rendered));
        prop_assert_eq!(differences(&rendered, &rendered), Vec::<String>::new());
        let desired: Vec<DesiredSecret> = cases.iter().map(SecretCase::desired).collect();
        let expected = cases.iter().all(|c| {
            c.tokens
                .iter()
                .all(|(_, id, token)| !id.trim().is_empty() && value_belongs_to(id.trim(), token))
        });
        prop_assert_eq!(parsed.delivers(&desired), expected);
        // `Debug` of the resources and of the parsed bundle shows no token value.
        let shown = format!("{rendered:?} {parsed:?}");
        for (_, _, token) in cases.iter().flat_map(|c| &c.tokens) {
            if token.starts_with("dt0c01.") && token.len() > 30 {
                prop_assert!(!shown.contains(token.as_str()), "{token} in {shown}");
                prop_assert!(!shown.contains(&STANDARD.encode(token)), "{token} (base64) in {shown}");
            }
        }
    }

    /// Order, data key order, base64 padding, whitespace, annotations, labels and `type` do not
    /// matter: same_content holds both ways, and no difference is reported.
    #[test]
    fn comparison_ignores_order_padding_and_metadata(
        (cases, order) in secret_cases().prop_flat_map(|c| {
            let n = c.len();
            (Just(c), Just((0..n).collect::<Vec<_>>()).prop_shuffle())
        }),
        noise in prop::collection::vec(any::<u8>(), 1..32),
    ) {
        let a = render_all(&cases);
        let b = reshuffle(&a, &order, &noise);
        prop_assert!(same_content(&a, &b), "a vs reshuffled b");
        prop_assert!(same_content(&b, &a), "reshuffled b vs a");
        prop_assert_eq!(differences(&a, &b), Vec::<String>::new());
        prop_assert_eq!(differences(&b, &a), Vec::<String>::new());
    }

    /// After changes to a rendered bundle, `differences` is empty exactly when `same_content`
    /// holds (either way round), and `same_content` is symmetric.
    #[test]
    fn differences_are_empty_iff_same_content(
        cases in secret_cases(),
        changes in prop::collection::vec(change(), 0..3),
    ) {
        let a = render_all(&cases);
        let mut b = a.clone();
        for c in &changes {
            apply_change(&mut b, c);
        }
        let same = same_content(&a, &b);
        prop_assert_eq!(same, same_content(&b, &a), "same_content is symmetric");
        let d = differences(&a, &b);
        prop_assert_eq!(d.is_empty(), same, "differences(a, b) = {:?}", d);
        let d = differences(&b, &a);
        prop_assert_eq!(d.is_empty(), same, "differences(b, a) = {:?}", d);
    }

    /// Any resources read back from OCM: parsing, token ids, `delivers`, the comparison and
    /// `Debug` never panic; a bundle equals itself and any reordering of itself; comparison is
    /// symmetric; a bundle that differs always gets a reason (what the plan shows).
    #[test]
    fn any_bundle_is_parsed_and_compared_without_panics(
        a in resources(),
        b in resources(),
        desired in prop::collection::vec(any_desired(), 0..3),
        seed in any::<u64>(),
    ) {
        for r in [&a, &b] {
            let parsed = CurrentBundle::parse(r);
            let _ = parsed.token_ids();
            let _ = parsed.delivers(&desired);
            let _ = parsed.find("dynatrace-token-dtp", "dynatrace");
            let _ = format!("{r:?}{parsed:?}");
            prop_assert!(same_content(r, r));
            prop_assert!(parsed.delivers(&[]));
        }
        prop_assert!(CurrentBundle::default().delivers(&desired) == desired.is_empty());
        let mut rotated = a.0.clone();
        if !rotated.is_empty() {
            let k = usize::try_from(seed % rotated.len() as u64).unwrap_or_default();
            rotated.rotate_left(k);
        }
        prop_assert!(same_content(&a, &Resources(rotated)), "order matters");
        let same = same_content(&a, &b);
        prop_assert_eq!(same, same_content(&b, &a));
        if !same {
            prop_assert!(!differences(&a, &b).is_empty(), "a differing bundle has no reason");
        }
        let _ = differences(&b, &a);
        for d in &desired {
            let rendered = render_secret(d, &existing);
            let slots = d.tokens.iter().any(|(_, v)| matches!(v, TokenValue::Slot(_)));
            prop_assert_eq!(rendered.is_none(), slots, "render_secret is None iff a slot is unfilled");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 3. config.toml: no panic, no secret in any error or Debug output

/// Secrets: long enough that a leaked piece is recognisable, TOML-safe in every string form.
fn secret() -> BoxedStrategy<String> {
    "[A-Za-z0-9+/_-]{16,28}".boxed()
}

/// How a value is written: basic, literal, multi-line basic, multi-line literal string.
fn toml_string(s: &str, style: u8) -> String {
    match style % 4 {
        0 => format!("\"{s}\""),
        1 => format!("'{s}'"),
        2 => format!("\"\"\"{s}\"\"\""),
        _ => format!("'''{s}'''"),
    }
}

#[derive(Clone, Debug)]
struct ConfigCase {
    text: String,
    secrets: Vec<String>,
    /// The password in the GraphQL server URL, if any.
    url_secret: Option<String>,
    vault_token: Option<String>,
}

#[derive(Clone, Debug)]
enum Corruption {
    Truncate(Index),
    Replace(Index, char),
    Delete(Index),
    Insert(Index, char),
    DuplicateLine(Index),
    DeleteLine(Index),
    SwapLines(Index),
    /// The value of the line (when it has ` = `) becomes something of another type.
    WrongType(Index, u8),
}

const CORRUPT_CHARS: &[char] = &[
    '"', '\'', '=', '[', ']', '{', '}', '\n', '\r', '#', '\\', ' ', '\t', ',', '.', 'x', '1', 'é',
    '🦀', '\u{2028}', '\u{0}',
];

fn corruption() -> impl Strategy<Value = Corruption> {
    prop_oneof![
        1 => any::<Index>().prop_map(Corruption::Truncate),
        1 => (any::<Index>(), select(CORRUPT_CHARS)).prop_map(|(i, c)| Corruption::Replace(i, c)),
        1 => any::<Index>().prop_map(Corruption::Delete),
        1 => (any::<Index>(), select(CORRUPT_CHARS)).prop_map(|(i, c)| Corruption::Insert(i, c)),
        1 => any::<Index>().prop_map(Corruption::DuplicateLine),
        1 => any::<Index>().prop_map(Corruption::DeleteLine),
        1 => any::<Index>().prop_map(Corruption::SwapLines),
        3 => (any::<Index>(), any::<u8>()).prop_map(|(i, k)| Corruption::WrongType(i, k)),
    ]
}

fn corrupt(text: &str, c: &Corruption) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let at = |i: &Index, n: usize| if n == 0 { 0 } else { i.index(n) };
    if chars.is_empty() && matches!(c, Corruption::Replace(..) | Corruption::Delete(_)) {
        return String::new();
    }
    match c {
        Corruption::Truncate(i) => chars[..at(i, chars.len() + 1)].iter().collect(),
        Corruption::Replace(i, ch) => {
            let mut chars = chars.clone();
            let k = at(i, chars.len());
            chars[k] = *ch;
            chars.into_iter().collect()
        }
        Corruption::Delete(i) => {
            let mut chars = chars.clone();
            chars.remove(at(i, chars.len()));
            chars.into_iter().collect()
        }
        Corruption::Insert(i, ch) => {
            let mut chars = chars.clone();
            chars.insert(at(i, chars.len() + 1), *ch);
            chars.into_iter().collect()
        }
        Corruption::DuplicateLine(i) if !lines.is_empty() => {
            let k = at(i, lines.len());
            lines.insert(k, lines[k].clone());
            lines.join("\n")
        }
        Corruption::DeleteLine(i) if !lines.is_empty() => {
            lines.remove(at(i, lines.len()));
            lines.join("\n")
        }
        Corruption::SwapLines(i) if lines.len() > 1 => {
            let k = at(i, lines.len() - 1);
            lines.swap(k, k + 1);
            lines.join("\n")
        }
        Corruption::WrongType(i, kind) => {
            let with_value: Vec<usize> = (0..lines.len())
                .filter(|&k| lines[k].contains(" = "))
                .collect();
            if with_value.is_empty() {
                return text.to_owned();
            }
            let k = with_value[at(i, with_value.len())];
            let (key, value) = lines[k].split_once(" = ").unwrap_or_default();
            let (key, value) = (key.to_owned(), value.to_owned());
            let bare = value.trim_matches(['"', '\'']).to_owned();
            let replaced = match kind % 9 {
                0 => "8443".to_owned(),
                1 => "true".to_owned(),
                2 => format!("[{value}]"),
                3 => format!("{{ value = {value} }}"),
                4 => "1979-05-27T07:32:00Z".to_owned(),
                5 => format!("{value} {value}"),
                6 => bare,
                7 => format!("{value}\n{key} = {value}"),
                _ => format!("\"{bare}"),
            };
            lines[k] = format!("{key} = {replaced}");
            lines.join("\n")
        }
        Corruption::DuplicateLine(_) | Corruption::DeleteLine(_) | Corruption::SwapLines(_) => {
            text.to_owned()
        }
    }
}

/// A config.toml as qontract-reconcile writes it, with random secrets: `[graphql]` with a
/// token, `[vault]` with AppRole, Kubernetes or token login (or none), other sections holding
/// secrets, and credentials in server URLs.
fn config_case() -> impl Strategy<Value = ConfigCase> {
    (
        (
            secret(),
            secret(),
            secret(),
            secret(),
            secret(),
            // A URL password: without `/`, which would end the authority.
            "[A-Za-z0-9_-]{16,28}",
        ),
        prop::array::uniform4(any::<u8>()),
        0u8..4,
        (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
    )
        .prop_map(
            |((gql, role, secret_id, vault_token, password, url_pass), styles, auth, flags)| {
                let (with_graphql, with_vault, with_smtp, url_creds) = flags;
                let mut text = String::new();
                let mut secrets = vec![];
                let mut url_secret = None;
                if with_graphql {
                    let server = if url_creds {
                        url_secret = Some(url_pass.clone());
                        format!("https://dtp:{url_pass}@qontract.example.com/graphql")
                    } else {
                        "https://qontract.example.com/graphql".to_owned()
                    };
                    text.push_str(&format!(
                        "[graphql]\nserver = {}\ntoken = {}\n\n",
                        toml_string(&server, styles[0]),
                        toml_string(&format!("Basic {gql}"), styles[1])
                    ));
                    secrets.push(gql);
                }
                let mut token = None;
                if with_vault {
                    text.push_str("[vault]\nserver = \"https://vault.example.com\"\n");
                    match auth {
                        0 => {
                            text.push_str(&format!(
                                "role_id = {}\nsecret_id = {}\n",
                                toml_string(&role, styles[2]),
                                toml_string(&secret_id, styles[3])
                            ));
                            secrets.push(role);
                            secrets.push(secret_id);
                        }
                        1 => text.push_str(
                            "kube_auth_role = \"dtp\"\nkube_auth_mount = \"kubernetes/\"\n",
                        ),
                        2 => {
                            secrets.push(vault_token.clone());
                            token = Some(vault_token);
                        }
                        _ => {}
                    }
                    text.push('\n');
                }
                if with_smtp {
                    text.push_str(&format!(
                        "[smtp]\nserver = \"smtp.example.com\"\npassword = {}\n\n[app-sre.creds.dynatrace]\nbootstrap = \"{password}\"\n",
                        toml_string(&password, styles[0])
                    ));
                    secrets.push(password);
                }
                ConfigCase {
                    text,
                    secrets,
                    url_secret,
                    vault_token: token,
                }
            },
        )
}

/// A leaked secret, whole or a recognisable piece of it (12 characters in a row).
fn leaked<'a>(output: &str, secrets: &'a [String]) -> Option<&'a str> {
    secrets
        .iter()
        .find(|s| {
            let chars: Vec<char> = s.chars().collect();
            chars
                .windows(12.min(chars.len()))
                .any(|w| output.contains(&w.iter().collect::<String>()))
        })
        .map(String::as_str)
}

/// No secret in an error (Display or Debug) or in a loaded config's Debug. A URL password
/// counts as long as it is one: a corrupted URL can turn it into a path or query, which a
/// config may show, so a loaded config is checked for the password its URLs really hold.
fn check_config(
    text: &str,
    secrets: &[String],
    url_secret: Option<&str>,
    vault_token: Option<&str>,
) -> Result<(), TestCaseError> {
    let loaded = QontractConfig::from_str(text, "config.toml", vault_token.map(SecretString::from));
    let mut all: Vec<String> = secrets.to_vec();
    all.extend(url_secret.map(str::to_owned));
    let (output, checked) = match &loaded {
        Ok(c) => {
            let mut checked = secrets.to_vec();
            let urls = c.graphql.iter().map(|g| &g.server);
            let urls = urls.chain(c.vault.iter().map(|v| &v.server));
            checked.extend(
                urls.filter_map(|u| u.password())
                    .filter(|p| p.len() >= 8)
                    .map(str::to_owned),
            );
            (format!("{c:?} {:?} {:?}", c.graphql, c.vault), checked)
        }
        Err(e) => (format!("{e} {e:?}"), all),
    };
    prop_assert!(
        leaked(&output, &checked).is_none(),
        "secret {:?} in {output:?} (config {text:?})",
        leaked(&output, &checked)
    );
    Ok(())
}

proptest! {
    #![proptest_config(config(1024))]

    /// Valid-looking configs with random secrets, corrupted (truncated, characters flipped,
    /// inserted or deleted, lines duplicated, dropped or swapped, values of the wrong type):
    /// loading never panics, and neither an error (Display, Debug) nor a loaded config's Debug
    /// shows a secret.
    #[test]
    fn config_errors_and_debug_never_show_secrets(
        case in config_case(),
        corruptions in prop::collection::vec(corruption(), 0..4),
    ) {
        let mut text = case.text.clone();
        for c in &corruptions {
            text = corrupt(&text, c);
        }
        let mut secrets = case.secrets.clone();
        if text == case.text {
            // Uncorrupted, the URL password must never show.
            secrets.extend(case.url_secret.clone());
        }
        check_config(&text, &secrets, case.url_secret.as_deref(), case.vault_token.as_deref())?;
    }

    /// Arbitrary text (and text built from TOML pieces) never makes loading panic.
    #[test]
    fn config_loading_never_panics(
        text in prop_oneof![
            text(),
            prop::collection::vec(
                prop_oneof![
                    select(&["[graphql]", "[vault]", "[[vault]]", "[vault.x]", "server", "token",
                             "role_id", "secret_id", "kube_auth_role", "kube_auth_mount", " = ",
                             "=", "\"", "'", "\"\"\"", "'''", "\n", "https://h", "http://",
                             "1", "true", "[", "]", "{", "}", ",", "#", "\\u00e9", "\\", "é",
                             "1979-05-27", "inf", "nan", "0x1f", "."][..])
                        .prop_map(str::to_owned),
                    text(),
                ],
                0..16,
            )
            .prop_map(|p| p.concat()),
        ],
        token in prop::option::of(text()),
    ) {
        let _ = QontractConfig::from_str(&text, "config.toml", token.map(SecretString::from))
            .map(|c| format!("{c:?}"))
            .map_err(|e| e.to_string());
    }
}

// ---------------------------------------------------------------------------------------------
// 4. In-memory datafiles

fn simple() -> BoxedStrategy<String> {
    prop_oneof![4 => "[a-z][a-z0-9-]{0,10}", 1 => text()].boxed()
}

fn url_text() -> BoxedStrategy<String> {
    prop_oneof![
        4 => "https://[a-z]{1,8}\\.example\\.com(/[a-z]{1,5})?",
        1 => select(&["ftp://x", "https://", "https://h?q=1", "http://[::1]:99999", "https://u:p@h/", "/relative", "https://h#f"][..])
            .prop_map(str::to_owned),
        1 => text(),
    ]
    .boxed()
}

fn vault_ref() -> BoxedStrategy<Value> {
    (
        simple(),
        simple(),
        prop::option::of(select(&["plain", "base64"][..])),
        prop::option::of(0u64..5),
    )
        .prop_map(|(path, field, format, version)| {
            let mut m = Map::new();
            m.insert("path".into(), json!(path));
            m.insert("field".into(), json!(field));
            if let Some(f) = format {
                m.insert("format".into(), json!(f));
            }
            if let Some(v) = version {
                m.insert("version".into(), json!(v));
            }
            Value::Object(m)
        })
        .boxed()
}

fn token_spec_file() -> BoxedStrategy<Value> {
    let token = (
        simple(),
        prop::option::of(simple()),
        prop::collection::vec(
            prop_oneof![4 => select(ALLOWED_SCOPES).prop_map(str::to_owned), 1 => text()],
            0..3,
        ),
    )
        .prop_map(|(name, key, scopes)| {
            let mut m = Map::new();
            m.insert("name".into(), json!(name));
            if let Some(k) = key {
                m.insert("keyNameInSecret".into(), json!(k));
            }
            m.insert("scopes".into(), json!(scopes));
            Value::Object(m)
        });
    let secret = (simple(), simple(), prop::collection::vec(token, 0..3)).prop_map(
        |(name, namespace, tokens)| json!({"name": name, "namespace": namespace, "tokens": tokens}),
    );
    (
        simple(),
        simple(),
        prop::collection::vec(simple(), 0..3),
        prop::collection::vec(secret, 0..3),
    )
        .prop_map(|(name, description, orgs, secrets)| {
            json!({
                "$schema": TOKEN_SPEC_SCHEMA,
                "name": name,
                "description": description,
                "ocm_org_ids": orgs,
                "secrets": secrets,
            })
        })
        .boxed()
}

fn dynatrace_file() -> BoxedStrategy<Value> {
    (
        (simple(), simple(), simple(), url_text(), vault_ref()),
        prop::option::of(select(&["integration", "stage", "production"][..])),
        prop::option::of(simple()),
        prop::option::of(prop::collection::vec(simple(), 0..3)),
    )
        .prop_map(
            |((name, description, id, url, token), stage, region, aws)| {
                let mut v = json!({
                    "$schema": DYNATRACE_ENVIRONMENT_SCHEMA,
                    "name": name,
                    "description": description,
                    "environmentID": id,
                    "environmentUrl": url,
                    "bootstrapToken": token,
                });
                if let Some(s) = stage {
                    v["environment"] = json!(s);
                }
                if let Some(r) = region {
                    v["dynatraceRegion"] = json!(r);
                }
                if let Some(a) = aws {
                    v["awsRegion"] = json!(a);
                }
                v
            },
        )
        .boxed()
}

fn ocm_file() -> BoxedStrategy<Value> {
    let labels = prop_oneof![
        prop::collection::btree_map(simple(), simple(), 0..3).prop_map(|m| json!(m)),
        prop::collection::btree_map(simple(), simple(), 0..3)
            .prop_map(|m| Value::String(json!(m).to_string())),
        Just(Value::Null),
    ];
    (
        (simple(), url_text(), simple(), url_text(), vault_ref()),
        prop::option::of(labels),
        prop::option::of(simple()),
        prop::option::of(simple()),
    )
        .prop_map(
            |((name, url, client_id, token_url, secret), labels, description, telemeter)| {
                let mut v = json!({
                    "$schema": OCM_ENVIRONMENT_SCHEMA,
                    "name": name,
                    "url": url,
                    "accessTokenClientId": client_id,
                    "accessTokenUrl": token_url,
                    "accessTokenClientSecret": secret,
                });
                if let Some(l) = labels {
                    v["labels"] = l;
                }
                if let Some(d) = description {
                    v["description"] = json!(d);
                }
                if let Some(t) = telemeter {
                    v["telemeter"] = json!({"$ref": format!("/dependencies/{t}.yml")});
                }
                v
            },
        )
        .boxed()
}

fn settings_file() -> BoxedStrategy<Value> {
    (any::<bool>(), prop::option::of(simple()))
        .prop_map(|(vault, extra)| {
            let mut v = json!({"$schema": SETTINGS_SCHEMA, "vault": vault});
            if let Some(e) = extra {
                v["name"] = json!(e);
            }
            v
        })
        .boxed()
}

fn valid_file() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => token_spec_file(),
        2 => dynatrace_file(),
        2 => ocm_file(),
        1 => settings_file(),
    ]
    .boxed()
}

/// A schema that is almost one of dtp's: another version, extension, case or padding (each
/// of which dtp must report), or a typo, an unrelated schema, or not a string.
fn schema_near(schema: &str, how: u8, at: Index, ch: char) -> (Value, bool) {
    let s = schema.to_owned();
    let near = match how % 9 {
        0 => s.replace("-1.yml", "-2.yml"),
        1 => s.replace(".yml", ".yaml"),
        2 => s.replace(".yml", ".json"),
        3 => s.to_uppercase(),
        4 => format!(" {s}"),
        5 => {
            let mut chars: Vec<char> = s.chars().collect();
            let k = at.index(chars.len());
            chars[k] = ch;
            return (Value::String(chars.into_iter().collect()), false);
        }
        6 => return (json!("/access/user-1.yml"), false),
        7 => return (json!(42), false),
        _ => return (Value::Null, false),
    };
    (Value::String(near), true)
}

/// One structural change anywhere in a JSON document.
#[derive(Clone, Debug)]
enum Edit {
    Replace(Index, Value),
    Remove(Index),
    AddField(Index, String, Value),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<Index>(), json_value()).prop_map(|(i, v)| Edit::Replace(i, v)),
        any::<Index>().prop_map(Edit::Remove),
        (
            any::<Index>(),
            prop_oneof![simple(), Just("$schema".to_owned())],
            json_value()
        )
            .prop_map(|(i, k, v)| Edit::AddField(i, k, v)),
    ]
}

#[derive(Clone, Debug)]
enum Step {
    Key(String),
    At(usize),
}

fn node_paths(v: &Value, here: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(here.clone());
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                here.push(Step::Key(k.clone()));
                node_paths(child, here, out);
                here.pop();
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                here.push(Step::At(i));
                node_paths(child, here, out);
                here.pop();
            }
        }
        _ => {}
    }
}

fn node_mut<'a>(v: &'a mut Value, path: &[Step]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |cur, step| match step {
        Step::Key(k) => cur.get_mut(k.as_str()),
        Step::At(i) => cur.get_mut(*i),
    })
}

fn apply_edit(doc: &mut Value, e: &Edit) {
    let mut paths = Vec::new();
    node_paths(doc, &mut Vec::new(), &mut paths);
    match e {
        Edit::Replace(i, new) => {
            if let Some(n) = node_mut(doc, &paths[i.index(paths.len())]) {
                *n = new.clone();
            }
        }
        Edit::Remove(i) => {
            let path = &paths[i.index(paths.len())];
            let Some((last, parent)) = path.split_last() else {
                return;
            };
            match (node_mut(doc, parent), last) {
                (Some(Value::Object(m)), Step::Key(k)) => {
                    m.shift_remove(k);
                }
                (Some(Value::Array(a)), Step::At(i)) => {
                    a.remove(*i);
                }
                _ => {}
            }
        }
        Edit::AddField(i, k, new) => {
            if let Some(Value::Object(m)) = node_mut(doc, &paths[i.index(paths.len())]) {
                m.insert(k.clone(), new.clone());
            }
        }
    }
}

fn datafile_path() -> BoxedStrategy<String> {
    prop_oneof![
        4 => "/[a-z]{1,6}(/[a-z]{1,6})?\\.yml",
        1 => text(),
    ]
    .boxed()
}

/// What a datafile may hold: one of dtp's files, edited (fields dropped, retyped, added), with
/// a near-miss schema, another schema, or any JSON value.
fn any_datafile_content() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => (valid_file(), prop::collection::vec(edit(), 0..3)).prop_map(|(mut v, edits)| {
            for e in &edits {
                apply_edit(&mut v, e);
            }
            v
        }),
        1 => (valid_file(), any::<u8>(), any::<Index>(), any::<char>()).prop_map(|(mut v, how, at, ch)| {
            let schema = v["$schema"].as_str().unwrap_or_default().to_owned();
            v["$schema"] = schema_near(&schema, how, at, ch).0;
            v
        }),
        1 => (simple(), json_value()).prop_map(|(n, v)| json!({"$schema": "/access/user-1.yml", "name": n, "x": v})),
        1 => json_value(),
    ]
    .boxed()
}

fn check_loaded(files: &[Datafile]) -> Result<(), TestCaseError> {
    let paths: BTreeSet<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    match from_datafiles(files) {
        Ok(data) => {
            let sources = data
                .token_specs
                .iter()
                .map(|s| &s.source)
                .chain(data.dynatrace_environments.iter().map(|e| &e.source))
                .chain(data.ocm_environments.iter().map(|e| &e.source));
            for source in sources {
                prop_assert!(
                    source.as_deref().is_some_and(|s| paths.contains(s)),
                    "source {source:?} is not one of the datafiles {paths:?}"
                );
            }
            let of_schema = |schema: &str| {
                files
                    .iter()
                    .filter(|(_, v)| v.get("$schema").and_then(Value::as_str) == Some(schema))
                    .count()
            };
            prop_assert_eq!(data.token_specs.len(), of_schema(TOKEN_SPEC_SCHEMA));
            prop_assert_eq!(
                data.dynatrace_environments.len(),
                of_schema(DYNATRACE_ENVIRONMENT_SCHEMA)
            );
            prop_assert_eq!(
                data.ocm_environments.len(),
                of_schema(OCM_ENVIRONMENT_SCHEMA)
            );
            for problem in validate_app_interface(&data) {
                let _ = problem.to_string();
                prop_assert!(
                    problem.source.as_deref().is_none_or(|s| paths.contains(s)),
                    "problem {problem} names an unknown file"
                );
            }
        }
        Err(e) => {
            let problems = e.problems();
            prop_assert!(!problems.is_empty(), "an error without problems: {e}");
            for p in &problems {
                prop_assert!(
                    paths.iter().any(|path| p.starts_with(&format!("{path}: ")))
                        || p.starts_with("vault settings not uniquely defined"),
                    "problem {p:?} does not name its datafile"
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(512))]

    /// Any mix of datafiles (dtp's schemas edited, near-miss schemas, other files, any JSON):
    /// loading never panics; loaded objects come from the given files (by `source`), one per
    /// file of the exact schema; validation never panics; every problem names its file.
    #[test]
    fn any_datafiles_load_without_panics(
        files in prop::collection::vec((datafile_path(), any_datafile_content()), 0..6),
    ) {
        check_loaded(&files)?;
    }

    /// Datafiles that follow dtp's schemas load (whatever their values), one object per file
    /// in path order, whatever order they are given in; at most one settings file sets `vault`.
    #[test]
    fn valid_datafiles_load_in_path_order(
        files in prop::collection::btree_map(datafile_path(), valid_file(), 0..6)
            .prop_map(|m| {
                let mut settings = 0;
                m.into_iter()
                    .filter(|(_, v)| v["$schema"] != SETTINGS_SCHEMA || { settings += 1; settings == 1 })
                    .collect::<Vec<_>>()
            })
            .prop_shuffle(),
    ) {
        let data = from_datafiles(&files);
        prop_assert!(data.is_ok(), "{:?}", data.as_ref().err().map(|e| e.problems()));
        let data = data.unwrap_or_default();
        check_loaded(&files)?;
        let mut sorted = files.clone();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let paths_of = |schema: &str| -> Vec<Option<String>> {
            sorted
                .iter()
                .filter(|(_, v)| v["$schema"] == schema)
                .map(|(p, _)| Some(p.clone()))
                .collect()
        };
        prop_assert_eq!(
            data.token_specs.iter().map(|s| s.source.clone()).collect::<Vec<_>>(),
            paths_of(TOKEN_SPEC_SCHEMA)
        );
        prop_assert_eq!(
            data.dynatrace_environments.iter().map(|s| s.source.clone()).collect::<Vec<_>>(),
            paths_of(DYNATRACE_ENVIRONMENT_SCHEMA)
        );
        prop_assert_eq!(
            data.ocm_environments.iter().map(|s| s.source.clone()).collect::<Vec<_>>(),
            paths_of(OCM_ENVIRONMENT_SCHEMA)
        );
        let vault = sorted
            .iter()
            .find(|(_, v)| v["$schema"] == SETTINGS_SCHEMA)
            .is_some_and(|(_, v)| v["vault"] == true);
        prop_assert_eq!(data.vault, vault);
        prop_assert_eq!(from_datafiles(&sorted).ok(), Some(data.clone()), "order matters");
        let _ = validate_app_interface(&data);
    }

    /// A schema of the family of dtp's (another version, extension, case, or padding) is
    /// reported with the file's path, never skipped silently.
    #[test]
    fn near_miss_schemas_are_reported(
        path in datafile_path(),
        file in valid_file(),
        how in 0u8..5,
        at in any::<Index>(),
    ) {
        let mut file = file;
        let schema = file["$schema"].as_str().unwrap_or_default().to_owned();
        let (near, reported) = schema_near(&schema, how, at, 'x');
        prop_assert!(reported);
        file["$schema"] = near;
        let files = vec![(path.clone(), file)];
        let problems = from_datafiles(&files).err().map(|e| e.problems()).unwrap_or_default();
        prop_assert!(
            problems.iter().any(|p| p.starts_with(&format!("{path}: $schema ")) && p.contains("is not a schema dtp reads")),
            "{problems:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 5. OCM search strings and token names

const ATTRIBUTES: &[&str] = &["id", "external_id", "subscription.id", "organization_id"];

/// A JSON item whose attribute (a dotted path) holds `value`.
fn item(attr: &str, value: &str) -> Value {
    attr.rsplit('.').fold(
        Value::String(value.to_owned()),
        |inner, seg| json!({ seg: inner }),
    )
}

/// Whether the sandbox's search compares the two strings as equal (RFC 3339 timestamps as
/// instants, everything else exactly).
fn search_equal(a: &str, b: &str) -> bool {
    use chrono::DateTime;
    a == b
        || matches!(
            (DateTime::parse_from_rfc3339(a), DateTime::parse_from_rfc3339(b)),
            (Ok(x), Ok(y)) if x == y
        )
}

fn parse(search: &str, attributes: &[&str]) -> Result<Search, TestCaseError> {
    Search::parse(search, attributes)
        .map_err(|e| TestCaseError::fail(format!("{search:?} does not parse: {e}")))
}

fn uuid() -> BoxedStrategy<String> {
    "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-fA-F]{12}".boxed()
}

fn scope_list() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(
        prop_oneof![3 => select(ALLOWED_SCOPES).prop_map(str::to_owned), 1 => text()],
        0..5,
    )
}

fn token_part() -> BoxedStrategy<String> {
    prop_oneof![
        3 => "[a-z][a-z_-]{0,20}",
        1 => "[a-z]{40,60}",
        1 => text(),
    ]
    .boxed()
}

proptest! {
    #![proptest_config(config(1024))]

    /// `quote` survives the OCM search parser: `attr = quote(s)` parses and matches exactly
    /// the items whose attribute is `s`.
    #[test]
    fn quoted_values_round_trip_through_the_search_parser(
        attr in select(ATTRIBUTES),
        value in text(),
        other in text(),
    ) {
        let search = format!("{attr}={}", quote(&value));
        let parsed = parse(&search, ATTRIBUTES)?;
        prop_assert!(parsed.matches(&item(attr, &value)), "{search:?} misses {value:?}");
        if !search_equal(&value, &other) {
            prop_assert!(!parsed.matches(&item(attr, &other)), "{search:?} matches {other:?}");
        }
        prop_assert!(!parsed.matches(&json!({})), "{search:?} matches a missing attribute");
    }

    /// `in_list` (one to 100 values, as discovery chunks them) parses, matches every listed
    /// value and nothing else, also inside discovery's full searches.
    #[test]
    fn in_lists_round_trip_through_the_search_parser(
        attr in select(ATTRIBUTES),
        values in prop_oneof![
            4 => prop::collection::vec(text(), 1..8),
            1 => prop::collection::vec("[a-z0-9'()]{1,6}", 90..=100),
        ],
        pick in any::<Index>(),
        other in text(),
    ) {
        let search = in_list(attr, &values);
        let parsed = parse(&search, ATTRIBUTES)?;
        let chosen = &values[pick.index(values.len())];
        prop_assert!(parsed.matches(&item(attr, chosen)), "{search:?} misses {chosen:?}");
        let listed = values.iter().any(|v| search_equal(v, &other));
        prop_assert_eq!(parsed.matches(&item(attr, &other)), listed, "{:?} on {:?}", search, other);

        // As discovery uses it: `<in_list> and <filter>`, the filter binding to the whole list.
        let full = format!("{search} and managed='true' and status in ('Active','Reserved')");
        let attrs = [attr, "managed", "status"];
        let parsed = parse(&full, &attrs)?;
        let mut hit = item(attr, chosen);
        hit["managed"] = json!("true");
        hit["status"] = json!("Active");
        prop_assert!(parsed.matches(&hit), "{full:?} misses {hit}");
        hit["status"] = json!("Deprovisioned");
        prop_assert!(!parsed.matches(&hit), "{full:?} matches {hit}");
    }

    /// Token names: `dtp_<name[:46]>_<cluster>_<12 hex of the sorted scopes>`, owned by dtp,
    /// named for their cluster whenever the name and the cluster are not empty.
    #[test]
    fn token_names_have_the_documented_shape(
        name in token_part(),
        cluster in prop_oneof![uuid(), text()],
        scopes in scope_list(),
    ) {
        let c = ExternalClusterId::new(cluster.clone());
        let tn = token_name(&name, &c, &scopes);
        let short: String = name.chars().take(MAX_TOKEN_NAME_LEN).collect();
        let mut sorted: Vec<&str> = scopes.iter().map(String::as_str).collect();
        sorted.sort_unstable();
        let digest = format!("{:x}", Sha256::digest(sorted.join(",").as_bytes()));
        prop_assert_eq!(scope_hash(&scopes), &digest[..12]);
        prop_assert_eq!(&tn, &format!("dtp_{short}_{cluster}_{}", &digest[..12]));
        prop_assert!(owned_by_dtp(&tn));
        prop_assert_eq!(token_name(&short, &c, &scopes), tn.clone(), "names are cut at 46");
        prop_assert_eq!(
            named_for_cluster(&tn, &c),
            !short.is_empty() && !cluster.is_empty(),
            "named_for_cluster({:?}, {:?})", tn, cluster
        );
    }

    /// Scope order does not change the hash, which is 12 lowercase hex digits.
    #[test]
    fn scope_hash_ignores_order(
        (a, b) in scope_list().prop_flat_map(|s| (Just(s.clone()), Just(s).prop_shuffle())),
    ) {
        prop_assert_eq!(scope_hash(&a), scope_hash(&b));
        let h = scope_hash(&a);
        prop_assert!(h.len() == 12 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    }

    /// For OCM cluster UUIDs: `cluster_of` finds the cluster a name is for, and a name is never
    /// taken for another cluster's.
    #[test]
    fn token_names_belong_to_exactly_their_uuid(
        name in token_part(),
        a in uuid(),
        b in uuid(),
        scopes in scope_list(),
    ) {
        let (ca, cb) = (ExternalClusterId::new(a.clone()), ExternalClusterId::new(b.clone()));
        let tn = token_name(&name, &ca, &scopes);
        let expected = (!name.is_empty()).then_some(ca.clone());
        prop_assert_eq!(cluster_of(&tn), expected);
        if a != b {
            prop_assert!(!named_for_cluster(&tn, &cb), "{tn} taken for {b}");
        }
    }

    /// For free-form cluster ids (the Python fixtures' `external_id_a`), a name is taken for
    /// another cluster `b` exactly when `_<b>` ends `<name>_<a>` and leaves 1 to 46 characters
    /// of name: ids that end another after an `_` are ambiguous (OCM's UUIDs never are).
    #[test]
    fn free_form_cluster_ids_match_only_as_a_suffix(
        (name, a, b) in (token_part(), text()).prop_flat_map(|(name, a)| {
            let short: String = name.chars().take(MAX_TOKEN_NAME_LEN).collect();
            let joined = format!("{short}_{a}");
            let suffixes: Vec<String> = joined
                .match_indices('_')
                .map(|(i, _)| joined[i + 1..].to_owned())
                .collect();
            (Just(name), Just(a), prop_oneof![text(), select(suffixes)])
        }),
        scopes in scope_list(),
    ) {
        let tn = token_name(&name, &ExternalClusterId::new(a.clone()), &scopes);
        let short: String = name.chars().take(MAX_TOKEN_NAME_LEN).collect();
        let expected = !b.is_empty()
            && format!("{short}_{a}")
                .strip_suffix(&format!("_{b}"))
                .is_some_and(|n| (1..=MAX_TOKEN_NAME_LEN).contains(&n.chars().count()));
        prop_assert_eq!(
            named_for_cluster(&tn, &ExternalClusterId::new(b.clone())),
            expected,
            "{} for {:?}", tn, b
        );
    }

    /// Any string: the name checks never panic; what they accept has the exact shape.
    #[test]
    fn name_checks_accept_only_the_exact_shape(
        raw in prop_oneof![
            text(),
            (token_part(), uuid(), scope_list(), any::<Index>(), select(FRAGMENTS)).prop_map(|(n, u, s, at, f)| {
                let mut tn: Vec<char> = token_name(&n, &ExternalClusterId::new(u), &s).chars().collect();
                let k = at.index(tn.len() + 1);
                tn.splice(k..k, f.chars());
                tn.into_iter().collect()
            }),
            ("[a-z]{47}", uuid()).prop_map(|(n, u)| format!("dtp_{n}_{u}_0123456789ab")),
        ],
        cluster in prop_oneof![uuid(), text()],
    ) {
        let c = ExternalClusterId::new(cluster);
        if named_for_cluster(&raw, &c) {
            prop_assert!(owned_by_dtp(&raw) && raw.starts_with("dtp_"));
            let hash = raw.rsplit('_').next().unwrap_or_default();
            prop_assert!(hash.len() == 12 && hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{raw}");
            let inner = raw.strip_prefix("dtp_").and_then(|r| r.strip_suffix(&format!("_{}_{hash}", c.as_str())));
            let len = inner.map(|n| n.chars().count()).unwrap_or_default();
            prop_assert!((1..=MAX_TOKEN_NAME_LEN).contains(&len), "{raw}: name part of {len} chars");
        }
        if let Some(found) = cluster_of(&raw) {
            prop_assert!(named_for_cluster(&raw, &found), "{raw}: cluster_of {found} but not named for it");
            let groups: Vec<usize> = found.as_str().split('-').map(str::len).collect();
            prop_assert_eq!(groups, vec![8, 4, 4, 4, 12]);
        }
    }
}

/// Pieces of the search language, for expressions that are almost right.
#[rustfmt::skip]
const SEARCH_PIECES: &[&str] = &[
    "id", "external_id", "subscription.id", "organization_id", "product.id", "bogus", "a..b",
    "x.", " ", "=", "!=", "<>", "<", "<=", ">", ">=", "!", "in", "not", "like", "ilike", "is",
    "null", "and", "or", "true", "false", "(", ")", ",", "'", "''", "'x'", "'%'", "'_'", "'\\'",
    "1", "-2", "1.5", "1.2.3", "-", "é", "\"",
];

proptest! {
    #![proptest_config(config(1024))]

    /// The sandbox's search parser never panics on any expression, nor does evaluating what
    /// it accepts on any JSON item; `not (e)` matches exactly what `e` does not.
    #[test]
    fn search_parser_never_panics(
        input in prop_oneof![
            3 => prop::collection::vec(
                prop_oneof![3 => select(SEARCH_PIECES).prop_map(str::to_owned), 1 => text()],
                0..12,
            )
            .prop_map(|p| p.join(" ")),
            1 => text(),
        ],
        items in prop::collection::vec(
            prop_oneof![
                3 => (select(ATTRIBUTES), prop_oneof![text().prop_map(Value::String), json_value()])
                    .prop_map(|(a, v)| {
                        let mut it = item(a, "");
                        set_at(&mut it, &a.split('.').collect::<Vec<_>>(), v);
                        it
                    }),
                1 => json_value(),
            ],
            0..4,
        ),
    ) {
        if let Ok(search) = Search::parse(&input, ATTRIBUTES) {
            let negated = Search::parse(&format!("not ({input})"), ATTRIBUTES).ok();
            for it in &items {
                let hit = search.matches(it);
                if let Some(n) = &negated {
                    prop_assert_eq!(n.matches(it), !hit, "not ({}) on {}", input, it);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// The sandbox's `order` sorts any list of values without panicking.
    #[test]
    fn sandbox_order_sorts_any_values(
        values in prop::collection::vec(
            prop_oneof![
                "2024-01-01T0[0-9]:00:00(Z|[+-]0[0-9]:00)",
                "2024-01-01T0[0-9]",
                text(),
            ],
            0..200,
        ),
        descending in any::<bool>(),
    ) {
        let order = dtp::sandbox::search::parse_order(if descending { "id desc" } else { "id" }, &["id"]);
        prop_assert!(order.is_ok());
        let order = order.unwrap_or_default();
        let mut items: Vec<Value> = values.iter().map(|v| json!({ "id": v })).collect();
        dtp::sandbox::search::sort_items(&mut items, &order);
        prop_assert_eq!(items.len(), values.len());
    }
}
