//! Cluster labels to bindings (behaviours B18–B20, B23 without its default spec). A binding
//! pairs a Dynatrace tenant with a token spec; a cluster may have several (v3 groups). The org
//! allow-list is applied per binding here, which fixes the Python gap G7.

use super::appinterface::TokenSpec;
use super::ids::{OrgId, SpecName, TenantId};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

pub const LABEL_PREFIX: &str = "sre-capabilities.dtp.";
pub const V3_PREFIX: &str = "sre-capabilities.dtp.v3";
pub const V2_TENANT: &str = "sre-capabilities.dtp.v2.tenant";
pub const V2_SPEC: &str = "sre-capabilities.dtp.v2.token-spec";
pub const LEGACY_TENANT: &str = "sre-capabilities.dtp.tenant";
pub const LEGACY_SPEC: &str = "sre-capabilities.dtp.token-spec";

/// One (tenant, token spec) pair a cluster asks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Binding {
    /// The label prefix the pair came from (`sre-capabilities.dtp.v3.<group>`), or `v2` /
    /// `legacy`.
    pub key: String,
    pub tenant: TenantId,
    pub spec: SpecName,
}

/// Why a label or binding was not used. Reported in the plan and logged as a warning.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LabelNote {
    /// The label key (or prefix) concerned.
    pub label: String,
    pub message: String,
}

/// The outcome of reading one cluster's labels.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Resolved {
    /// Usable bindings, in first-seen label order, deduplicated.
    pub bindings: Vec<Binding>,
    /// Labels or bindings that were ignored, and why.
    pub notes: Vec<LabelNote>,
    /// Bindings dropped because their spec does not allow the cluster's organization.
    pub disallowed: Vec<Binding>,
    /// Bindings naming a tenant with no Dynatrace environment.
    pub unknown_tenants: Vec<Binding>,
    /// Some binding label cannot be resolved (a bad v3 key, half a pair, an unknown spec or
    /// tenant): probably a typo, so the Secrets no resolved binding claims are kept as they are.
    pub unresolved: bool,
}

/// Resolves a cluster's DTP labels (given in effective order, subscription labels having
/// overridden organization labels) into bindings.
pub fn resolve(
    labels: &[(String, String)],
    specs: &BTreeMap<SpecName, TokenSpec>,
    tenants: &BTreeSet<TenantId>,
    org: &OrgId,
) -> Resolved {
    let map: BTreeMap<&str, &str> = labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut out = Resolved::default();
    let mut candidates = v3_candidates(labels, &map, specs, &mut out.notes, &mut out.unresolved);
    if candidates.is_empty() {
        candidates = older_candidate(&map, specs, &mut out.notes, &mut out.unresolved);
    }
    for b in candidates {
        out.admit(b, specs, tenants, org);
    }
    out
}

/// v3: one binding per `sre-capabilities.dtp.v3.<group>` prefix, in first-seen order.
fn v3_candidates(
    labels: &[(String, String)],
    map: &BTreeMap<&str, &str>,
    specs: &BTreeMap<SpecName, TokenSpec>,
    notes: &mut Vec<LabelNote>,
    unresolved: &mut bool,
) -> Vec<Binding> {
    let mut candidates = Vec::new();
    let mut seen_prefixes = BTreeSet::new();
    for (key, _) in labels {
        if !key.starts_with(V3_PREFIX) {
            continue;
        }
        let Some((prefix, last)) = key.rsplit_once('.') else {
            continue;
        };
        if last != "tenant" && last != "token-spec" {
            *unresolved = true;
            notes.push(LabelNote {
                label: key.clone(),
                message: "Bad DTPv3 label key: it must end in '.tenant' or '.token-spec'".into(),
            });
            continue;
        }
        if !seen_prefixes.insert(prefix.to_owned()) {
            continue;
        }
        let tenant = map.get(format!("{prefix}.tenant").as_str()).copied();
        let spec = map.get(format!("{prefix}.token-spec").as_str()).copied();
        let b = pair(prefix, tenant, spec, specs, notes);
        *unresolved |= b.is_none();
        candidates.extend(b);
    }
    candidates
}

/// v2, then the legacy unversioned pair: at most one binding.
fn older_candidate(
    map: &BTreeMap<&str, &str>,
    specs: &BTreeMap<SpecName, TokenSpec>,
    notes: &mut Vec<LabelNote>,
    unresolved: &mut bool,
) -> Vec<Binding> {
    for (name, tenant_key, spec_key) in [
        ("v2", V2_TENANT, V2_SPEC),
        ("legacy", LEGACY_TENANT, LEGACY_SPEC),
    ] {
        let tenant = map.get(tenant_key).copied();
        let spec = map.get(spec_key).copied();
        if tenant.is_none() && spec.is_none() {
            continue;
        }
        let prefix = tenant_key.trim_end_matches(".tenant");
        match pair(prefix, tenant, spec, specs, notes) {
            Some(mut b) => {
                b.key = name.into();
                return vec![b];
            }
            None => *unresolved = true,
        }
    }
    Vec::new()
}

impl Resolved {
    /// Keeps a candidate binding unless it repeats one, names an unknown tenant, or its spec
    /// does not allow the organization.
    fn admit(
        &mut self,
        b: Binding,
        specs: &BTreeMap<SpecName, TokenSpec>,
        tenants: &BTreeSet<TenantId>,
        org: &OrgId,
    ) {
        if self
            .bindings
            .iter()
            .any(|x| x == &b || (x.tenant == b.tenant && x.spec == b.spec))
        {
            return;
        }
        if !tenants.contains(&b.tenant) {
            self.unresolved = true;
            self.notes.push(LabelNote {
                label: b.key.clone(),
                message: format!("Dynatrace tenant '{}' does not exist", b.tenant),
            });
            self.unknown_tenants.push(b);
            return;
        }
        if !specs.get(&b.spec).is_some_and(|s| s.allows_org(org)) {
            self.notes.push(LabelNote {
                label: b.key.clone(),
                message: format!(
                    "token spec '{}' does not allow organization '{org}'",
                    b.spec
                ),
            });
            self.disallowed.push(b);
            return;
        }
        self.bindings.push(b);
    }
}

fn pair(
    prefix: &str,
    tenant: Option<&str>,
    spec: Option<&str>,
    specs: &BTreeMap<SpecName, TokenSpec>,
    notes: &mut Vec<LabelNote>,
) -> Option<Binding> {
    let tenant = tenant.map(str::trim).unwrap_or_default();
    let spec = spec.map(str::trim).unwrap_or_default();
    if tenant.is_empty() {
        notes.push(LabelNote {
            label: format!("{prefix}.tenant"),
            message: "missing or empty tenant label".into(),
        });
        return None;
    }
    if spec.is_empty() {
        notes.push(LabelNote {
            label: format!("{prefix}.token-spec"),
            message: "missing or empty token-spec label".into(),
        });
        return None;
    }
    if !specs.contains_key(&SpecName::from(spec)) {
        notes.push(LabelNote {
            label: format!("{prefix}.token-spec"),
            message: format!("token spec '{spec}' does not exist"),
        });
        return None;
    }
    Some(Binding {
        key: prefix.to_owned(),
        tenant: tenant.into(),
        spec: spec.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs(names: &[(&str, &[&str])]) -> BTreeMap<SpecName, TokenSpec> {
        names
            .iter()
            .map(|(n, orgs)| {
                (
                    SpecName::from(*n),
                    TokenSpec {
                        name: (*n).into(),
                        ocm_org_ids: orgs.iter().map(|o| OrgId::from(*o)).collect(),
                        secrets: vec![],
                        source: None,
                    },
                )
            })
            .collect()
    }

    fn labels(l: &[(&str, &str)]) -> Vec<(String, String)> {
        l.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn tenants(t: &[&str]) -> BTreeSet<TenantId> {
        t.iter().map(|x| TenantId::from(*x)).collect()
    }

    #[test]
    fn v3_groups_become_bindings_in_first_seen_order() {
        let r = resolve(
            &labels(&[
                ("sre-capabilities.dtp.v3.slo.token-spec", "slo-spec"),
                ("sre-capabilities.dtp.v3.regional.tenant", "regional-tenant"),
                (
                    "sre-capabilities.dtp.v3.regional.token-spec",
                    "regional-spec",
                ),
                ("sre-capabilities.dtp.v3.slo.tenant", "slo-tenant"),
            ]),
            &specs(&[("slo-spec", &["org"]), ("regional-spec", &["org"])]),
            &tenants(&["slo-tenant", "regional-tenant"]),
            &"org".into(),
        );
        let got: Vec<_> = r
            .bindings
            .iter()
            .map(|b| (b.tenant.as_str(), b.spec.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("slo-tenant", "slo-spec"),
                ("regional-tenant", "regional-spec")
            ]
        );
        assert!(r.notes.is_empty());
    }

    #[test]
    fn v2_is_only_used_when_no_v3_binding_resolves() {
        let l = labels(&[
            ("sre-capabilities.dtp.v3.x.tenant", "t"),
            ("sre-capabilities.dtp.v3.x.token-spec", "unknown"),
            (V2_TENANT, "t"),
            (V2_SPEC, "default"),
        ]);
        let r = resolve(
            &l,
            &specs(&[("default", &["org"])]),
            &tenants(&["t"]),
            &"org".into(),
        );
        assert_eq!(r.bindings.len(), 1);
        assert_eq!(r.bindings[0].key, "v2");
        assert_eq!(r.notes.len(), 1, "the unknown v3 spec is noted");
    }

    #[test]
    fn the_legacy_pair_works_without_a_default_spec() {
        let r = resolve(
            &labels(&[(LEGACY_TENANT, "t")]),
            &specs(&[("hypershift-management-cluster-v1", &["org"])]),
            &tenants(&["t"]),
            &"org".into(),
        );
        assert!(r.bindings.is_empty());
        let r = resolve(
            &labels(&[(LEGACY_TENANT, "t"), (LEGACY_SPEC, "s")]),
            &specs(&[("s", &["org"])]),
            &tenants(&["t"]),
            &"org".into(),
        );
        assert_eq!(r.bindings[0].key, "legacy");
    }

    #[test]
    fn bad_v3_keys_and_incomplete_pairs_are_noted_and_skipped() {
        let r = resolve(
            &labels(&[
                ("sre-capabilities.dtp.v3.a.tenat", "t"),
                ("sre-capabilities.dtp.v3.b.tenant", "t"),
            ]),
            &specs(&[("s", &["org"])]),
            &tenants(&["t"]),
            &"org".into(),
        );
        assert!(r.bindings.is_empty());
        assert_eq!(r.notes.len(), 2);
        assert!(r.notes[0].message.contains("Bad DTPv3 label key"));
    }

    #[test]
    fn the_org_allow_list_applies_per_binding() {
        let r = resolve(
            &labels(&[
                ("sre-capabilities.dtp.v3.a.tenant", "t"),
                ("sre-capabilities.dtp.v3.a.token-spec", "allowed"),
                ("sre-capabilities.dtp.v3.b.tenant", "t"),
                ("sre-capabilities.dtp.v3.b.token-spec", "other-org-only"),
            ]),
            &specs(&[("allowed", &["org"]), ("other-org-only", &["other"])]),
            &tenants(&["t"]),
            &"org".into(),
        );
        assert_eq!(r.bindings.len(), 1);
        assert_eq!(r.bindings[0].spec.as_str(), "allowed");
        assert_eq!(r.disallowed.len(), 1);
    }

    #[test]
    fn an_unknown_tenant_is_reported() {
        let r = resolve(
            &labels(&[(V2_TENANT, "nope"), (V2_SPEC, "s")]),
            &specs(&[("s", &["org"])]),
            &tenants(&["t"]),
            &"org".into(),
        );
        assert!(r.bindings.is_empty());
        assert_eq!(r.unknown_tenants.len(), 1);
    }

    #[test]
    fn identical_pairs_from_two_groups_collapse_into_one_binding() {
        let r = resolve(
            &labels(&[
                ("sre-capabilities.dtp.v3.a.tenant", "t"),
                ("sre-capabilities.dtp.v3.a.token-spec", "s"),
                ("sre-capabilities.dtp.v3.b.tenant", "t"),
                ("sre-capabilities.dtp.v3.b.token-spec", "s"),
            ]),
            &specs(&[("s", &["org"])]),
            &tenants(&["t"]),
            &"org".into(),
        );
        assert_eq!(r.bindings.len(), 1);
    }
}
