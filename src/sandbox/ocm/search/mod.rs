//! The OCM search and order languages, as the sandbox OCM server understands them: a real
//! tokenizer, recursive-descent parser and evaluator of the SQL-WHERE-like `search` parameter
//! (`=`, `!=`/`<>`, `<`, `<=`, `>`, `>=`, `[not] in (...)`, `[not] like`, `[not] ilike`,
//! `is [not] null`, `and`, `or`, `not`, parentheses, single-quoted strings with `''` escapes)
//! over `serde_json::Value` objects addressed by dotted attribute paths (`product.id`), and of
//! the SQL-ORDER-BY-like `order` parameter. Attributes are checked against the resource's
//! known attribute list, so a typo is a 400 like on the real server instead of silently
//! matching nothing. Semantics follow SQL as OCM's database does: a missing attribute is NULL
//! and compares false; `like` is case-sensitive with `%` and `_` wildcards; booleans compare
//! as `'true'`/`'t'`/`'false'`/`'f'`; timestamps compare as instants when both sides parse as
//! RFC 3339, numbers numerically, other strings lexically. This module does no I/O.

//!
//! Layout: `lexer` (tokens), `parser` (syntax tree and recursive descent), `eval`
//! (SQL semantics over JSON), `probe` (the equalities an index can answer); this file holds
//! the public API.

mod eval;
mod lexer;
mod parser;
mod probe;

use eval::compare_values;
use parser::{Expr, Parser};
use serde_json::Value;
use std::cmp::Ordering;
use std::fmt;

/// Why a search or order expression was rejected; the text goes into the 400's `reason`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchError(pub String);

impl fmt::Display for SearchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SearchError {}

/// A parsed `search` expression. The empty expression matches everything.
#[derive(Clone, Debug, PartialEq)]
pub struct Search {
    expr: Option<Expr>,
}

impl Search {
    /// Parses `input`, accepting only the given attribute paths.
    pub fn parse(input: &str, attributes: &[&str]) -> Result<Self, SearchError> {
        let tokens = lexer::tokenize(input)?;
        if tokens.is_empty() {
            return Ok(Self { expr: None });
        }
        let mut p = Parser {
            tokens,
            pos: 0,
            attributes,
        };
        let expr = p.or()?;
        if let Some(t) = p.peek() {
            return Err(p.unexpected(t, "'and', 'or' or the end of the expression"));
        }
        Ok(Self { expr: Some(expr) })
    }

    /// Whether `item` satisfies the expression.
    pub fn matches(&self, item: &Value) -> bool {
        self.expr.as_ref().is_none_or(|e| e.eval(item))
    }
}

/// One term of an `order` parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderTerm {
    pub attribute: String,
    pub descending: bool,
}

/// Parses `order` (`<attr> [asc|desc]`, comma-separated), accepting only known attributes.
pub fn parse_order(input: &str, attributes: &[&str]) -> Result<Vec<OrderTerm>, SearchError> {
    let mut terms = Vec::new();
    for part in input.split(',') {
        let words: Vec<&str> = part.split_whitespace().collect();
        let (attribute, descending) = match words.as_slice() {
            [] if input.trim().is_empty() => return Ok(Vec::new()),
            [] => return Err(SearchError(format!("Invalid order '{input}': empty term"))),
            [a] => (*a, false),
            [a, dir] if dir.eq_ignore_ascii_case("asc") => (*a, false),
            [a, dir] if dir.eq_ignore_ascii_case("desc") => (*a, true),
            _ => {
                return Err(SearchError(format!(
                    "Invalid order '{input}': expected '<field> [asc|desc]', found '{}'",
                    part.trim()
                )));
            }
        };
        if !attributes.contains(&attribute) {
            return Err(SearchError(format!(
                "Invalid order '{input}': unknown field '{attribute}'"
            )));
        }
        terms.push(OrderTerm {
            attribute: attribute.to_owned(),
            descending,
        });
    }
    Ok(terms)
}

/// Sorts `items` by the order terms (stable: equal items keep their order). NULLs sort last
/// in ascending order, as in PostgreSQL.
pub fn sort_items(items: &mut [Value], order: &[OrderTerm]) {
    if order.is_empty() {
        return;
    }
    items.sort_by(|a, b| compare_by(a, b, order));
}

/// How two items compare under the order terms: the order [`sort_items`] sorts by.
pub fn compare_by(a: &Value, b: &Value, order: &[OrderTerm]) -> Ordering {
    for term in order {
        let (x, y) = (lookup(a, &term.attribute), lookup(b, &term.attribute));
        let o = match (x, y) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(x), Some(y)) => compare_values(x, y),
        };
        let o = if term.descending { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// The value at a dotted path; `None` for missing or JSON null (SQL NULL).
pub fn lookup<'a>(item: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = item;
    for seg in path.split('.') {
        cur = cur.get(seg)?;
    }
    (!cur.is_null()).then_some(cur)
}

#[cfg(test)]
mod tests;
