//! The list query: `pageSize` bounds, `fields` modifiers, `sort`, `apiTokenSelector`
//! (`owner`, `personalAccessToken`, `scope`), the `from`/`to` last-use window, and the opaque
//! `nextPageKey` cursor (the serialized query with its offset), which must come alone; as a
//! [`TokenQuery`] it selects and orders a tenant's tokens (and names the cached selection).

use super::constants::{
    ALL_FIELDS, DEFAULT_FIELDS, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, MIN_PAGE_SIZE, SORT_FIELDS,
};
use super::errors::{Reject, Violation, violations};
use super::format::parse_time;
use super::state::{Token, TokenQuery, now};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
/// A validated list query. Serialised (with the tenant and offset) into `nextPageKey`, so a
/// later page is the same query further on, as with the real cursor.
#[derive(Clone, Serialize, Deserialize)]
pub(super) struct ListQuery {
    pub(super) tenant: String,
    pub(super) page_size: usize,
    pub(super) fields: Vec<String>,
    pub(super) sort_field: String,
    pub(super) sort_descending: bool,
    pub(super) owner: Option<String>,
    pub(super) personal: Option<bool>,
    pub(super) any_scope: Option<Vec<String>>,
    /// Last-use window, UTC milliseconds.
    pub(super) from: Option<i64>,
    pub(super) to: Option<i64>,
    pub(super) offset: usize,
}

impl ListQuery {
    pub(super) fn parse(tenant: &str, raw: &str) -> Result<Self, Reject> {
        let params = unique_params(raw)?;
        if let Some(key) = params.get("nextPageKey") {
            return Self::next_page(tenant, key, &params);
        }
        let now = now();
        let mut q = Self::first_page(tenant);
        let mut vs = Vec::new();
        for (k, v) in &params {
            if let Err(message) = q.apply(k, v, now) {
                vs.push(Violation::new(k, &message, "QUERY"));
            }
        }
        if vs.is_empty() {
            Ok(q)
        } else {
            Err(violations(vs))
        }
    }

    /// The defaults: 200 per page, default fields, newest first, no filter.
    fn first_page(tenant: &str) -> Self {
        Self {
            tenant: tenant.to_owned(),
            page_size: DEFAULT_PAGE_SIZE,
            fields: DEFAULT_FIELDS.iter().map(|s| (*s).to_owned()).collect(),
            sort_field: "creationDate".to_owned(),
            sort_descending: true,
            owner: None,
            personal: None,
            any_scope: None,
            from: None,
            to: None,
            offset: 0,
        }
    }

    /// A later page: `nextPageKey` alone.
    fn next_page(
        tenant: &str,
        key: &str,
        params: &BTreeMap<String, String>,
    ) -> Result<Self, Reject> {
        if params.len() > 1 {
            let others: Vec<&str> = params
                .keys()
                .map(String::as_str)
                .filter(|k| *k != "nextPageKey")
                .collect();
            return Err(violations(vec![Violation::new(
                "nextPageKey",
                &format!(
                    "no other query parameter may be given with nextPageKey (got {})",
                    others.join(", ")
                ),
                "QUERY",
            )]));
        }
        Self::from_cursor(tenant, key).ok_or_else(|| {
            violations(vec![Violation::new(
                "nextPageKey",
                "invalid nextPageKey",
                "QUERY",
            )])
        })
    }

    /// Applies one query parameter of a first page.
    fn apply(&mut self, k: &str, v: &str, now: DateTime<Utc>) -> Result<(), String> {
        match k {
            "pageSize" => parse_page_size(v).map(|n| self.page_size = n),
            "fields" => parse_fields(v).map(|f| self.fields = f),
            "sort" => parse_sort(v).map(|(f, desc)| {
                self.sort_field = f;
                self.sort_descending = desc;
            }),
            "apiTokenSelector" => parse_selector(v).map(|s| {
                self.owner = s.owner;
                self.personal = s.personal;
                self.any_scope = s.scopes;
            }),
            "from" | "to" => {
                let t = parse_time(v, now).ok_or_else(|| {
                    "must be UTC milliseconds, an ISO 8601 timestamp or relative (now-2h)"
                        .to_owned()
                })?;
                if k == "from" {
                    self.from = Some(t.timestamp_millis());
                } else {
                    self.to = Some(t.timestamp_millis());
                }
                Ok(())
            }
            other => Err(format!("unknown query parameter '{other}'")),
        }
    }

    pub(super) fn cursor(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("a list query serialises"))
    }

    fn from_cursor(tenant: &str, key: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(key.trim()).ok()?;
        let q: Self = serde_json::from_slice(&bytes).ok()?;
        (q.tenant == tenant && (MIN_PAGE_SIZE..=MAX_PAGE_SIZE).contains(&q.page_size)).then_some(q)
    }
}

impl TokenQuery for ListQuery {
    fn matches(&self, t: &Token) -> bool {
        self.owner.as_ref().is_none_or(|o| &t.owner == o)
            && self.personal.is_none_or(|p| t.personal_access_token == p)
            && self
                .any_scope
                .as_ref()
                .is_none_or(|any| t.scopes.iter().any(|s| any.contains(s)))
            && (self.from.is_none() && self.to.is_none()
                || t.last_used_date.is_some_and(|used| {
                    let ms = used.timestamp_millis();
                    self.from.is_none_or(|f| ms >= f) && self.to.is_none_or(|to| ms <= to)
                }))
    }

    /// `sort`: by name or by a date (absent dates first when ascending).
    fn compare(&self, a: &Token, b: &Token) -> Ordering {
        let key_date = |t: &Token| match self.sort_field.as_str() {
            "lastUsedDate" => t.last_used_date,
            "expirationDate" => t.expiration_date,
            "modifiedDate" => t.modified_date,
            _ => Some(t.creation_date),
        };
        let ord = if self.sort_field == "name" {
            a.name.cmp(&b.name)
        } else {
            key_date(a).cmp(&key_date(b))
        };
        if self.sort_descending {
            ord.reverse()
        } else {
            ord
        }
    }

    /// Everything but the page (offset, size) and the fields shown.
    fn selection_key(&self) -> String {
        let mut q = self.clone();
        (q.offset, q.page_size) = (0, 0);
        q.fields.clear();
        serde_json::to_string(&q).expect("a list query serialises")
    }

    fn depends_on_use(&self) -> bool {
        self.sort_field == "lastUsedDate" || self.from.is_some() || self.to.is_some()
    }
}

pub(super) fn parse_page_size(v: &str) -> Result<usize, String> {
    let n: i64 = v
        .trim()
        .parse()
        .map_err(|_| "must be an integer".to_owned())?;
    if n < MIN_PAGE_SIZE as i64 {
        Err(format!("must be greater than or equal to {MIN_PAGE_SIZE}"))
    } else if n > MAX_PAGE_SIZE as i64 {
        Err(format!("must be less than or equal to {MAX_PAGE_SIZE}"))
    } else {
        Ok(n as usize)
    }
}

/// `fields`: `+x`/`-x` modify the defaults, otherwise the list replaces them; `id` is always
/// returned. A `+` sent unencoded arrives as a space and is rejected as an unknown field.
pub(super) fn parse_fields(v: &str) -> Result<Vec<String>, String> {
    let items: Vec<&str> = v.split(',').filter(|s| !s.is_empty()).collect();
    if items.is_empty() {
        return Err("must not be empty".to_owned());
    }
    let modifies = items.iter().any(|s| s.starts_with(['+', '-']));
    let mut set: BTreeSet<&str> = if modifies {
        DEFAULT_FIELDS.iter().copied().collect()
    } else {
        BTreeSet::new()
    };
    for item in items {
        let (remove, name) = match item.split_at_checked(1) {
            Some(("+", rest)) => (false, rest),
            Some(("-", rest)) => (true, rest),
            _ => (false, item),
        };
        let Some(field) = ALL_FIELDS.iter().copied().find(|f| *f == name) else {
            return Err(format!("unknown field '{name}'"));
        };
        if remove {
            set.remove(field);
        } else {
            set.insert(field);
        }
    }
    set.insert("id");
    Ok(ALL_FIELDS
        .iter()
        .filter(|f| set.contains(*f))
        .map(|f| (*f).to_owned())
        .collect())
}

pub(super) fn parse_sort(v: &str) -> Result<(String, bool), String> {
    let (desc, name) = match v.split_at_checked(1) {
        Some(("-", rest)) => (true, rest),
        Some(("+", rest)) => (false, rest),
        _ => (false, v),
    };
    if SORT_FIELDS.contains(&name) {
        Ok((name.to_owned(), desc))
    } else {
        Err(format!(
            "unknown sort field '{name}'; use one of {}",
            SORT_FIELDS.join(", ")
        ))
    }
}

#[derive(Default)]
pub(super) struct Selector {
    pub(super) owner: Option<String>,
    pub(super) personal: Option<bool>,
    pub(super) scopes: Option<Vec<String>>,
}

/// `apiTokenSelector`: comma-separated `owner("x")`, `personalAccessToken(false)`,
/// `scope("a","b")`; values in quotes, `~` escapes a quote or a tilde.
pub(super) fn parse_selector(v: &str) -> Result<Selector, String> {
    let mut sel = Selector::default();
    let mut chars = v.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            break;
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '(')).collect();
        if chars.next() != Some('(') {
            return Err(format!("criterion '{}' has no '('", key.trim()));
        }
        let mut args = Vec::new();
        loop {
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            let arg = if chars.next_if_eq(&'"').is_some() {
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some('~') => s.push(chars.next().ok_or("dangling '~'")?),
                        Some('"') => break,
                        Some(c) => s.push(c),
                        None => return Err("unterminated quote".to_owned()),
                    }
                }
                s
            } else {
                std::iter::from_fn(|| chars.next_if(|c| *c != ',' && *c != ')'))
                    .collect::<String>()
                    .trim()
                    .to_owned()
            };
            args.push(arg);
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            match chars.next() {
                Some(',') => continue,
                Some(')') => break,
                _ => return Err(format!("criterion '{}' is not closed", key.trim())),
            }
        }
        match (key.trim(), args.as_slice()) {
            ("owner", [o]) => sel.owner = Some(o.clone()),
            ("personalAccessToken", [b]) => {
                sel.personal = Some(
                    b.parse()
                        .map_err(|_| "personalAccessToken needs true or false")?,
                )
            }
            ("scope", scopes) if !scopes.is_empty() => sel.scopes = Some(scopes.to_vec()),
            (other, _) => return Err(format!("unknown or malformed criterion '{other}'")),
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        match chars.next() {
            None => break,
            Some(',') => continue,
            Some(c) => return Err(format!("unexpected '{c}' after a criterion")),
        }
    }
    Ok(sel)
}

/// The query parameters, each at most once.
pub(super) fn unique_params(raw: &str) -> Result<BTreeMap<String, String>, Reject> {
    let mut params: BTreeMap<String, String> = BTreeMap::new();
    let mut vs = Vec::new();
    for (k, v) in url::form_urlencoded::parse(raw.as_bytes()) {
        if params.insert(k.to_string(), v.to_string()).is_some() {
            vs.push(Violation::new(&k, "must be given at most once", "QUERY"));
        }
    }
    if vs.is_empty() {
        Ok(params)
    } else {
        Err(violations(vs))
    }
}
