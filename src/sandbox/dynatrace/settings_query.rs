//! The settings objects list query (`GET /api/v2/settings/objects`, `log-ingest-rules.md`
//! §1.4): `schemaIds`, `scopes`, `externalIds`, `fields` (replacing `objectId,value`),
//! `pageSize` (1..=500, default 100), and the opaque `nextPageKey` cursor (the serialized query
//! with its offset), which must come alone. A first page needs `schemaIds` or `scopes`.

use super::errors::{Reject, Violation, violations};
use super::query::unique_params;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The `fields` the fake supports, in the order items show them.
pub(super) const OBJECT_FIELDS: &[&str] = &[
    "objectId",
    "summary",
    "updateToken",
    "scope",
    "schemaId",
    "schemaVersion",
    "value",
    "externalId",
];
const DEFAULT_OBJECT_FIELDS: &[&str] = &["objectId", "value"];
const DEFAULT_PAGE_SIZE: usize = 100;
const MAX_PAGE_SIZE: usize = 500;
const MAX_EXTERNAL_ID: usize = 500;

/// A validated list query, serialised (with tenant and offset) into `nextPageKey`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct ObjectsQuery {
    pub(super) tenant: String,
    pub(super) schema_ids: Option<Vec<String>>,
    pub(super) scopes: Option<Vec<String>>,
    pub(super) external_ids: Option<Vec<String>>,
    pub(super) fields: Vec<String>,
    pub(super) page_size: usize,
    pub(super) offset: usize,
}

fn violation(path: &str, message: &str) -> Reject {
    violations(vec![Violation::new(path, message, "QUERY")])
}

impl ObjectsQuery {
    pub(super) fn parse(tenant: &str, raw: &str) -> Result<Self, Reject> {
        let params = unique_params(raw)?;
        if let Some(key) = params.get("nextPageKey") {
            if params.len() > 1 {
                return Err(violation(
                    "nextPageKey",
                    "no other query parameter may be given with nextPageKey",
                ));
            }
            return Self::from_cursor(tenant, key)
                .ok_or_else(|| violation("nextPageKey", "invalid nextPageKey"));
        }
        let mut q = Self {
            tenant: tenant.to_owned(),
            schema_ids: None,
            scopes: None,
            external_ids: None,
            fields: DEFAULT_OBJECT_FIELDS
                .iter()
                .map(|f| (*f).to_owned())
                .collect(),
            page_size: DEFAULT_PAGE_SIZE,
            offset: 0,
        };
        let mut vs = Vec::new();
        for (k, v) in &params {
            if let Err(message) = q.apply(k, v) {
                vs.push(Violation::new(k, &message, "QUERY"));
            }
        }
        if q.schema_ids.is_none() && q.scopes.is_none() {
            vs.push(Violation::new(
                "schemaIds",
                "schemaIds or scopes is required",
                "QUERY",
            ));
        }
        if vs.is_empty() {
            Ok(q)
        } else {
            Err(violations(vs))
        }
    }

    fn apply(&mut self, k: &str, v: &str) -> Result<(), String> {
        match k {
            "schemaIds" => list(v).map(|l| self.schema_ids = Some(l)),
            "scopes" => list(v).map(|l| self.scopes = Some(l)),
            "externalIds" => {
                let l = list(v)?;
                if l.iter().any(|e| e.chars().count() > MAX_EXTERNAL_ID) {
                    return Err(format!(
                        "an external id must not be longer than {MAX_EXTERNAL_ID} characters"
                    ));
                }
                self.external_ids = Some(l);
                Ok(())
            }
            "fields" => parse_object_fields(v).map(|f| self.fields = f),
            "pageSize" => match v.trim().parse::<usize>() {
                Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => {
                    self.page_size = n;
                    Ok(())
                }
                _ => Err(format!("must be an integer from 1 to {MAX_PAGE_SIZE}")),
            },
            other => Err(format!("unknown query parameter '{other}'")),
        }
    }

    /// The same query, `offset` objects further on.
    pub(super) fn cursor_at(&self, offset: usize) -> String {
        let q = Self {
            offset,
            ..self.clone()
        };
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&q).expect("a list query serialises"))
    }

    fn from_cursor(tenant: &str, key: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(key.trim()).ok()?;
        let q: Self = serde_json::from_slice(&bytes).ok()?;
        (q.tenant == tenant && (1..=MAX_PAGE_SIZE).contains(&q.page_size)).then_some(q)
    }

    /// Whether an object with these keys is listed.
    pub(super) fn matches(&self, schema: &str, scope: &str, external_id: Option<&str>) -> bool {
        let within =
            |l: &Option<Vec<String>>, x: &str| l.as_ref().is_none_or(|l| l.iter().any(|i| i == x));
        within(&self.schema_ids, schema)
            && within(&self.scopes, scope)
            && self
                .external_ids
                .as_ref()
                .is_none_or(|l| external_id.is_some_and(|e| l.iter().any(|i| i == e)))
    }
}

/// A non-empty comma list.
fn list(v: &str) -> Result<Vec<String>, String> {
    let l: Vec<String> = v
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if l.is_empty() {
        Err("must not be empty".to_owned())
    } else {
        Ok(l)
    }
}

/// `fields`: a list that replaces the defaults, in [`OBJECT_FIELDS`] order.
pub(super) fn parse_object_fields(v: &str) -> Result<Vec<String>, String> {
    let mut chosen = BTreeMap::new();
    for name in list(v)? {
        let Some(i) = OBJECT_FIELDS.iter().position(|f| *f == name) else {
            return Err(format!(
                "unknown field '{name}'; use any of {}",
                OBJECT_FIELDS.join(", ")
            ));
        };
        chosen.insert(i, name);
    }
    Ok(chosen.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_is_the_same_query_further_on() {
        let q = ObjectsQuery::parse("t", "schemaIds=a&pageSize=2&fields=value,objectId")
            .unwrap_or_else(|_| panic!("valid"));
        assert_eq!(q.fields, ["objectId", "value"]);
        let next = ObjectsQuery::parse("t", &format!("nextPageKey={}", q.cursor_at(2)))
            .unwrap_or_else(|_| panic!("valid"));
        assert_eq!((next.offset, next.page_size), (2, 2));
        assert!(ObjectsQuery::parse("u", &format!("nextPageKey={}", q.cursor_at(2))).is_err());
        assert!(ObjectsQuery::parse("t", "pageSize=5").is_err());
        assert!(ObjectsQuery::parse("t", "scopes=environment&fields=secret").is_err());
    }
}
