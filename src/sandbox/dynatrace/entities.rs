//! The monitored-entities endpoint, for host groups only (`GET /api/v2/entities`,
//! `log-ingest-rules.md` §1.5; scope `entities.read`). `entitySelector` must be exactly
//! `type("HOST_GROUP"),entityName.equals("<name>")` (exact, case-sensitive) or
//! `type("HOST_GROUP"),entityName("<name>")` (case-insensitive contains, as the real API);
//! values are quoted, with `\"` and `\\` escapes. Anything else is a 400. `fields`, `from` and
//! `to` are accepted and change nothing (every seeded host group counts as observed). One page
//! of at most 50 entities, `nextPageKey` alone for the next.

use super::DynatraceSandbox;
use super::auth::{Need, authorize};
use super::errors::{Reject, error};
use super::query::unique_params;
use super::state::now;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::json;

const PAGE_SIZE: usize = 50;

/// A parsed selector: the name and whether it must match exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct NameSelector {
    pub(super) name: String,
    pub(super) exact: bool,
}

impl NameSelector {
    pub(super) fn matches(&self, display_name: &str) -> bool {
        if self.exact {
            display_name == self.name
        } else {
            display_name
                .to_lowercase()
                .contains(&self.name.to_lowercase())
        }
    }
}

/// Parses one of the two supported selector forms.
pub(super) fn parse_entity_selector(s: &str) -> Result<NameSelector, String> {
    let rest = s
        .strip_prefix("type(\"HOST_GROUP\"),")
        .ok_or("the selector must start with type(\"HOST_GROUP\"),")?;
    let (exact, rest) = if let Some(r) = rest.strip_prefix("entityName.equals(") {
        (true, r)
    } else if let Some(r) = rest.strip_prefix("entityName(") {
        (false, r)
    } else {
        return Err("only entityName.equals(\"…\") or entityName(\"…\") may follow".to_owned());
    };
    let mut chars = rest.chars();
    if chars.next() != Some('"') {
        return Err("the entity name must be quoted".to_owned());
    }
    let mut name = String::new();
    loop {
        match chars.next() {
            Some('\\') => match chars.next() {
                Some(c @ ('"' | '\\')) => name.push(c),
                _ => return Err("only \\\" and \\\\ may be escaped".to_owned()),
            },
            Some('"') => break,
            Some(c) => name.push(c),
            None => return Err("unterminated quote".to_owned()),
        }
    }
    if chars.as_str() != ")" {
        return Err("the name criterion must end the selector".to_owned());
    }
    Ok(NameSelector { name, exact })
}

#[derive(Serialize, Deserialize)]
struct Cursor {
    tenant: String,
    selector: NameSelector,
    offset: usize,
}

fn bad_request(message: &str) -> Reject {
    error(StatusCode::BAD_REQUEST, message)
}

/// The selector and offset of this page, from the query parameters.
fn parse_query(tenant: &str, raw: &str) -> Result<(NameSelector, usize), Reject> {
    let params = unique_params(raw)?;
    if let Some(key) = params.get("nextPageKey") {
        if params.len() > 1 {
            return Err(bad_request("nextPageKey must be the only query parameter"));
        }
        let cursor = URL_SAFE_NO_PAD
            .decode(key)
            .ok()
            .and_then(|b| serde_json::from_slice::<Cursor>(&b).ok())
            .filter(|c| c.tenant == tenant)
            .ok_or_else(|| bad_request("invalid nextPageKey"))?;
        return Ok((cursor.selector, cursor.offset));
    }
    if let Some(k) = params
        .keys()
        .find(|k| !["entitySelector", "fields", "from", "to"].contains(&k.as_str()))
    {
        return Err(bad_request(&format!("unknown query parameter '{k}'")));
    }
    let selector = params
        .get("entitySelector")
        .ok_or_else(|| bad_request("entitySelector is required"))?;
    let selector = parse_entity_selector(selector)
        .map_err(|e| bad_request(&format!("Invalid entitySelector: {e}")))?;
    Ok((selector, 0))
}

pub(super) async fn list_entities(
    State(sb): State<DynatraceSandbox>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, Reject> {
    let mut state = sb.lock();
    let need = Need::All(&["entities.read"]);
    let t = authorize(&mut state, &tenant, &headers, need, now())?.0;
    let (selector, offset) = parse_query(&tenant, query.as_deref().unwrap_or(""))?;
    let matching: Vec<_> = t
        .settings
        .host_groups
        .iter()
        .filter(|g| selector.matches(&g.name))
        .collect();
    let entities: Vec<_> = matching
        .iter()
        .skip(offset)
        .take(PAGE_SIZE)
        .map(|g| json!({"entityId": g.id, "displayName": g.name, "type": "HOST_GROUP"}))
        .collect();
    let end = offset + PAGE_SIZE;
    let next = (end < matching.len()).then(|| {
        let c = Cursor {
            tenant: tenant.clone(),
            selector: selector.clone(),
            offset: end,
        };
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).expect("a cursor serialises"))
    });
    let mut body = json!({"totalCount": matching.len(), "pageSize": PAGE_SIZE,
                          "entities": entities});
    if let Some(next) = next {
        body["nextPageKey"] = json!(next);
    }
    Ok(Json(body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_parse_equals_and_contains_with_escapes() {
        let s = parse_entity_selector(r#"type("HOST_GROUP"),entityName.equals("a\"b\\c")"#);
        assert_eq!(
            s,
            Ok(NameSelector {
                name: r#"a"b\c"#.to_owned(),
                exact: true
            })
        );
        let s = parse_entity_selector(r#"type("HOST_GROUP"),entityName("Stage")"#).unwrap();
        assert!(!s.exact && s.matches("my-stage-01") && !s.matches("prod"));
        for bad in [
            r#"type("HOST"),entityName("x")"#,
            r#"entityName("x")"#,
            r#"type("HOST_GROUP"),entityName.startsWith("x")"#,
            r#"type("HOST_GROUP"),entityName("x"),tag("y")"#,
            r#"type("HOST_GROUP"),entityName("x\n")"#,
            r#"type("HOST_GROUP"),entityName(x)"#,
            r#"type("HOST_GROUP"),entityName("x"#,
        ] {
            assert!(parse_entity_selector(bad).is_err(), "{bad}");
        }
    }
}
