//! Reading Dynatrace's token list answers: a page of `apiTokens` (with `nextPageKey`) into
//! [`DtToken`]s, keeping only what the plan uses (scope sets shared through [`ScopeSets`]);
//! entries that cannot be read are logged and skipped, dates are RFC 3339.

use crate::clients::http::ApiError;
use crate::model::token::ScopeSets;
use crate::model::{DtToken, TokenId};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// One `ApiTokenList` page: its usable tokens and the next page's key (`None` on the last).
/// Lenient per item: only `id` and `name` are required; others are skipped with a warning.
pub(super) fn parse_page(
    op: &str,
    page: &Value,
    scope_sets: &mut ScopeSets,
) -> Result<(Vec<DtToken>, Option<String>), ApiError> {
    let items = page
        .get("apiTokens")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::decode(op, "the token list has no 'apiTokens' array"))?;
    let next = match page.get("nextPageKey") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(ApiError::decode(op, "'nextPageKey' is not a string")),
    };
    let tokens = items
        .iter()
        .filter_map(|item| parse_token(op, item, scope_sets))
        .collect();
    Ok((tokens, next))
}

fn parse_token(op: &str, item: &Value, scope_sets: &mut ScopeSets) -> Option<DtToken> {
    let id = item
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    let name = item.get("name").and_then(Value::as_str);
    let (Some(id), Some(name)) = (id, name) else {
        match id {
            Some(id) => tracing::warn!(op, token_id = id, "skipping a listed token without a name"),
            None => tracing::warn!(op, "skipping a listed token without an id"),
        }
        return None;
    };
    let enabled = match item.get("enabled") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            tracing::warn!(op, token_id = id, "ignoring a non-boolean 'enabled'");
            None
        }
    };
    let expiration_date = date_field(op, id, item, "expirationDate");
    let created = date_field(op, id, item, "creationDate");
    let scopes = match item.get("scopes") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => {
            let scopes: Option<Vec<String>> =
                a.iter().map(|s| s.as_str().map(str::to_owned)).collect();
            if scopes.is_none() {
                tracing::warn!(
                    op,
                    token_id = id,
                    "ignoring 'scopes' that are not all strings"
                );
            }
            scopes.map(|s| scope_sets.intern(s))
        }
        Some(_) => {
            tracing::warn!(op, token_id = id, "ignoring a non-array 'scopes'");
            None
        }
    };
    Some(DtToken {
        id: TokenId::new(id),
        name: name.to_owned(),
        enabled,
        expiration_date,
        created,
        scopes,
    })
}

/// A date field of a listed token: ISO 8601 or epoch milliseconds; unparsable is ignored.
fn date_field(op: &str, id: &str, item: &Value, field: &str) -> Option<DateTime<Utc>> {
    let v = item.get(field).filter(|v| !v.is_null())?;
    let parsed = match v {
        Value::String(s) => parse_date(s),
        Value::Number(n) => n.as_i64().and_then(DateTime::from_timestamp_millis),
        _ => None,
    };
    if parsed.is_none() {
        tracing::warn!(op, token_id = id, field, value = %v, "ignoring an unparsable date");
    }
    parsed
}

/// A Dynatrace timestamp: ISO 8601 in UTC with or without milliseconds
/// (`2024-01-01T00:00:00Z`, `2024-01-01T00:00:00.123Z`), or with an offset.
pub fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|d| d.with_timezone(&Utc))
}
