//! The OCM object dtp writes per cluster (SyncSet for classic clusters, Manifest for hosted
//! control planes, id `ext-dynatrace-tokens-dtp`) and the Secret layout inside it (B32):
//! building the exact JSON the Python integration writes, reading it back, and comparing the
//! two semantically. Resource lists carry token values, so they live in [`Resources`], whose
//! `Debug` never prints them.

use super::{BUNDLE_ID, INTEGRATION_NAME, INTEGRATION_VERSION};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::fmt;

/// Which OCM object carries the Secrets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum BundleKind {
    /// Classic OSD/ROSA: `.../external_configuration/syncsets`.
    SyncSet,
    /// ROSA hosted control plane: `.../external_configuration/manifests`.
    Manifest,
}

impl BundleKind {
    pub fn for_cluster(is_hcp: bool) -> Self {
        if is_hcp {
            Self::Manifest
        } else {
            Self::SyncSet
        }
    }
    /// The collection segment of the OCM path.
    pub fn collection(self) -> &'static str {
        match self {
            Self::SyncSet => "syncsets",
            Self::Manifest => "manifests",
        }
    }
    /// The field holding the resources in the OCM object.
    pub fn items_field(self) -> &'static str {
        match self {
            Self::SyncSet => "resources",
            Self::Manifest => "workloads",
        }
    }
    /// The `kind` dtp (like the Python integration) sends.
    pub fn kind(self) -> &'static str {
        match self {
            Self::SyncSet => "SyncSet",
            Self::Manifest => "Manifest",
        }
    }

    /// The JSON body for POST (with id) or PATCH (without id), as the Python integration sends.
    pub fn body(self, resources: &Resources, with_id: bool) -> Value {
        let mut m = Map::new();
        m.insert("kind".into(), Value::String(self.kind().into()));
        m.insert(self.items_field().into(), Value::Array(resources.0.clone()));
        if with_id {
            m.insert("id".into(), Value::String(BUNDLE_ID.into()));
        }
        Value::Object(m)
    }

    /// Extracts the resource list from an OCM object returned by GET: absent or `null` is an
    /// empty list; anything but a list is an error (a bundle dtp cannot read must not be
    /// taken for an empty one and overwritten).
    pub fn resources_of(self, object: &Value) -> Result<Resources, String> {
        match object.get(self.items_field()) {
            None | Some(Value::Null) => Ok(Resources::default()),
            Some(Value::Array(items)) => Ok(Resources(items.clone())),
            Some(_) => Err(format!(
                "'{}' of the {self} is not a list",
                self.items_field()
            )),
        }
    }
}

impl fmt::Display for BundleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind())
    }
}

/// The resources of a SyncSet/Manifest. They hold token values: `Debug` shows only kinds
/// and names, and there is no `Display` or `Serialize`.
#[derive(Clone, Default, PartialEq)]
pub struct Resources(pub Vec<Value>);

impl fmt::Debug for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self
            .0
            .iter()
            .map(|r| {
                format!(
                    "{}/{}",
                    r.get("kind").and_then(Value::as_str).unwrap_or("?"),
                    r.pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                )
            })
            .collect();
        f.debug_tuple("Resources").field(&names).finish()
    }
}

/// One key of a desired Secret whose value is a token: existing (reused from the current
/// bundle) or to be created by the executor (a slot of the plan).
#[derive(Clone, Debug)]
pub enum TokenValue {
    Existing { id: String, token: SecretString },
    Slot(usize),
}

/// A Secret dtp wants in the bundle.
#[derive(Clone, Debug)]
pub struct DesiredSecret {
    pub name: String,
    pub namespace: String,
    pub api_url: String,
    /// `(key, token)` in spec order; the Secret gets `<key>` and `<key>Id`.
    pub tokens: Vec<(String, TokenValue)>,
}

/// A token whose id and value are known (existing or freshly created).
pub struct ResolvedToken<'a> {
    pub id: &'a str,
    pub token: &'a SecretString,
}

/// Renders the Secret exactly as the Python integration does (§10.5): annotations, then
/// `data` with `apiUrl`, `<key>`, `<key>Id` per token, all base64 of UTF-8.
pub fn render_secret(
    secret: &DesiredSecret,
    resolve: &dyn Fn(&TokenValue) -> Option<(String, SecretString)>,
) -> Option<Value> {
    let mut data = Map::new();
    data.insert(
        "apiUrl".into(),
        Value::String(STANDARD.encode(&secret.api_url)),
    );
    for (key, value) in &secret.tokens {
        let (id, token) = resolve(value)?;
        data.insert(
            key.clone(),
            Value::String(STANDARD.encode(token.expose_secret())),
        );
        data.insert(format!("{key}Id"), Value::String(STANDARD.encode(&id)));
    }
    Some(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": secret.name,
            "namespace": secret.namespace,
            "annotations": {
                "qontract.integration": INTEGRATION_NAME,
                "qontract.integration_version": INTEGRATION_VERSION,
            }
        },
        "data": Value::Object(data),
    }))
}

/// A Secret read back from a bundle, values base64-decoded. A value that is not valid
/// base64/UTF-8 is kept as `None`: dtp then treats it as wrong and repairs it.
#[derive(Clone, Debug)]
pub struct CurrentSecret {
    pub name: String,
    pub namespace: String,
    pub data: BTreeMap<String, Option<SecretString>>,
}

impl CurrentSecret {
    pub fn get(&self, key: &str) -> Option<&SecretString> {
        self.data.get(key).and_then(Option::as_ref)
    }
}

/// The parsed content of a current bundle.
#[derive(Clone, Debug, Default)]
pub struct CurrentBundle {
    pub secrets: Vec<CurrentSecret>,
}

impl CurrentBundle {
    pub fn parse(resources: &Resources) -> Self {
        let secrets = resources
            .0
            .iter()
            .filter(|r| r.get("kind").and_then(Value::as_str) == Some("Secret"))
            .map(|r| CurrentSecret {
                name: str_at(r, "/metadata/name"),
                namespace: str_at(r, "/metadata/namespace"),
                data: r
                    .get("data")
                    .and_then(Value::as_object)
                    .map(|d| {
                        d.iter()
                            .map(|(k, v)| {
                                (
                                    k.clone(),
                                    v.as_str().and_then(decode).map(SecretString::from),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect();
        Self { secrets }
    }

    /// Every token id the bundle's Secrets hold (the values of their `<key>Id` keys).
    pub fn token_ids(&self) -> std::collections::BTreeSet<String> {
        self.secrets
            .iter()
            .flat_map(|s| s.data.iter())
            .filter(|(k, _)| k.ends_with("Id"))
            .filter_map(|(_, v)| v.as_ref())
            .map(|v| v.expose_secret().trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// Whether the bundle delivers every desired Secret: in the right namespace, with the
    /// right `apiUrl`, and for every token key a non-empty id and a value that belongs to it.
    /// (Another dtp run that won a race delivers exactly that.)
    pub fn delivers(&self, desired: &[DesiredSecret]) -> bool {
        desired.iter().all(|d| {
            let Some(cur) = self
                .secrets
                .iter()
                .find(|s| s.name == d.name && s.namespace == d.namespace)
            else {
                return false;
            };
            let api_url = cur.get("apiUrl").map(|v| v.expose_secret().to_owned());
            api_url.as_deref() == Some(d.api_url.as_str())
                && d.tokens.iter().all(|(key, _)| {
                    let id = cur.get(&format!("{key}Id")).map(|v| v.expose_secret().trim());
                    let value = cur.get(key).map(|v| v.expose_secret());
                    matches!((id, value), (Some(id), Some(v)) if !id.is_empty() && value_belongs_to(id, v))
                })
        })
    }

    /// The Secret with this name, preferring the given namespace (the Python integration
    /// matches by name only).
    pub fn find(&self, name: &str, namespace: &str) -> Option<&CurrentSecret> {
        self.secrets
            .iter()
            .filter(|s| s.name == name)
            .max_by_key(|s| s.namespace == namespace)
    }
}

/// Whether a delivered token value can belong to the token id. Dynatrace tokens are
/// `<prefix>.<public>.<secret>` and their id is `<prefix>.<public>`; when both have that
/// shape the value must extend the id. Other shapes are only required to be non-empty.
pub fn value_belongs_to(id: &str, value: &str) -> bool {
    let value = value.trim();
    if value.is_empty() {
        return false;
    }
    let id_parts = id.split('.').count();
    let value_parts = value.split('.').count();
    if id_parts == 2 && value_parts == 3 {
        return value.starts_with(&format!("{id}."));
    }
    true
}

fn str_at(v: &Value, ptr: &str) -> String {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn decode(s: &str) -> Option<String> {
    let bytes = STANDARD
        .decode(s.trim())
        .or_else(|_| STANDARD_NO_PAD.decode(s.trim()))
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// A canonical, comparable form of one resource: what matters for delivery (kind, apiVersion,
/// name, namespace, decoded data). Annotations, labels and `type` are not compared: they do
/// not change what the cluster receives from the tokens' point of view.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Canonical {
    kind: String,
    api_version: String,
    name: String,
    namespace: String,
    data: Vec<(String, Option<String>)>,
    other: String,
}

fn canonical(r: &Value) -> Canonical {
    let kind = str_at(r, "/kind");
    let is_secret = kind == "Secret";
    Canonical {
        api_version: str_at(r, "/apiVersion"),
        name: str_at(r, "/metadata/name"),
        namespace: str_at(r, "/metadata/namespace"),
        data: if is_secret {
            r.get("data")
                .and_then(Value::as_object)
                .map(|d| {
                    d.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().and_then(decode)))
                        .collect()
                })
                .unwrap_or_default()
        } else {
            Vec::new()
        },
        // Non-Secret resources are compared whole.
        other: if is_secret {
            String::new()
        } else {
            r.to_string()
        },
        kind,
    }
}

/// True when `current` delivers the same Secrets as `desired` (order-insensitive).
pub fn same_content(desired: &Resources, current: &Resources) -> bool {
    let mut a: Vec<Canonical> = desired.0.iter().map(canonical).collect();
    let mut b: Vec<Canonical> = current.0.iter().map(canonical).collect();
    for c in a.iter_mut().chain(b.iter_mut()) {
        c.data.sort();
    }
    a.sort();
    b.sort();
    a == b
}

/// What differs between desired and current, for the plan (names and keys only, no values).
pub fn differences(desired: &Resources, current: &Resources) -> Vec<String> {
    let d = CurrentBundle::parse(desired);
    let c = CurrentBundle::parse(current);
    let mut out = Vec::new();
    for s in &d.secrets {
        match c.find(&s.name, &s.namespace) {
            None => out.push(format!("secret {}/{} is missing", s.namespace, s.name)),
            Some(cur) => {
                if cur.namespace != s.namespace {
                    out.push(format!(
                        "secret {} is in namespace '{}' instead of '{}'",
                        s.name, cur.namespace, s.namespace
                    ));
                }
                for (k, v) in &s.data {
                    match cur.data.get(k) {
                        None => {
                            out.push(format!("secret {}/{} lacks key '{k}'", s.namespace, s.name))
                        }
                        Some(cv) => {
                            let same = match (v, cv) {
                                (Some(a), Some(b)) => a.expose_secret() == b.expose_secret(),
                                _ => false,
                            };
                            if !same {
                                out.push(format!(
                                    "secret {}/{} has a different '{k}'",
                                    s.namespace, s.name
                                ));
                            }
                        }
                    }
                }
                for k in cur.data.keys() {
                    if !s.data.contains_key(k) {
                        out.push(format!(
                            "secret {}/{} has extra key '{k}'",
                            s.namespace, s.name
                        ));
                    }
                }
            }
        }
    }
    for s in &c.secrets {
        if !d.secrets.iter().any(|x| x.name == s.name) {
            out.push(format!(
                "secret {}/{} is not wanted any more",
                s.namespace, s.name
            ));
        }
    }
    let others = |r: &Resources| {
        r.0.iter()
            .filter(|x| x.get("kind").and_then(Value::as_str) != Some("Secret"))
            .count()
    };
    if others(current) != others(desired) {
        out.push("the bundle holds resources other than dtp's Secrets".into());
    }
    if out.is_empty() && !same_content(desired, current) {
        out.push("resource metadata differs".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired() -> DesiredSecret {
        DesiredSecret {
            name: "dynatrace-token-dtp".into(),
            namespace: "dynatrace".into(),
            api_url: "https://dt_tenant_a.live.dynatrace.com/api".into(),
            tokens: vec![(
                "apiToken".into(),
                TokenValue::Existing {
                    id: "id1".into(),
                    token: "operator123".into(),
                },
            )],
        }
    }

    fn resolve(v: &TokenValue) -> Option<(String, SecretString)> {
        match v {
            TokenValue::Existing { id, token } => Some((id.clone(), token.clone())),
            TokenValue::Slot(_) => None,
        }
    }

    #[test]
    fn secrets_are_rendered_in_the_python_layout() {
        let v = render_secret(&desired(), &resolve).unwrap();
        assert_eq!(
            v.to_string(),
            r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"dynatrace-token-dtp","namespace":"dynatrace","annotations":{"qontract.integration":"dynatrace-token-provider","qontract.integration_version":"2.0.1"}},"data":{"apiUrl":"aHR0cHM6Ly9kdF90ZW5hbnRfYS5saXZlLmR5bmF0cmFjZS5jb20vYXBp","apiToken":"b3BlcmF0b3IxMjM=","apiTokenId":"aWQx"}}"#
        );
    }

    #[test]
    fn bodies_carry_the_id_only_on_create() {
        let r = Resources(vec![render_secret(&desired(), &resolve).unwrap()]);
        let post = BundleKind::SyncSet.body(&r, true);
        assert_eq!(post["id"], "ext-dynatrace-tokens-dtp");
        assert_eq!(post["kind"], "SyncSet");
        assert!(BundleKind::Manifest.body(&r, false).get("id").is_none());
        assert!(BundleKind::Manifest.body(&r, false)["workloads"].is_array());
    }

    #[test]
    fn comparison_ignores_order_annotations_and_base64_padding() {
        let a = render_secret(&desired(), &resolve).unwrap();
        let mut b = a.clone();
        b["metadata"]["annotations"] = json!({});
        b["data"]["apiTokenId"] = json!("aWQx");
        b["data"]["apiToken"] = json!("b3BlcmF0b3IxMjM");
        assert!(same_content(
            &Resources(vec![a.clone()]),
            &Resources(vec![b])
        ));
        let mut c = a.clone();
        c["metadata"]["namespace"] = json!("other");
        assert!(!same_content(
            &Resources(vec![a.clone()]),
            &Resources(vec![c.clone()])
        ));
        assert_eq!(
            differences(&Resources(vec![a]), &Resources(vec![c])),
            vec!["secret dynatrace-token-dtp is in namespace 'other' instead of 'dynatrace'"]
        );
    }

    #[test]
    fn debug_output_never_shows_token_values() {
        let r = Resources(vec![render_secret(&desired(), &resolve).unwrap()]);
        let dbg = format!("{r:?}");
        assert!(!dbg.contains("b3BlcmF0b3IxMjM"));
        assert!(!dbg.contains("operator123"));
        let parsed = CurrentBundle::parse(&r);
        assert_eq!(
            parsed.secrets[0].get("apiToken").unwrap().expose_secret(),
            "operator123"
        );
        assert!(!format!("{parsed:?}").contains("operator123"));
    }
}
