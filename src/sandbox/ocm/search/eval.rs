//! Evaluating a parsed `search` over a JSON object with SQL semantics: a missing attribute is
//! NULL and compares false, booleans compare with `true`/`t`/`false`/`f`, RFC 3339 timestamps
//! as instants, numbers numerically, other strings lexically; `like` with `%`, `_` and `\`.

use super::lookup;
use super::parser::{Expr, Literal};
use serde_json::Value;
use std::cmp::Ordering;
impl Expr {
    pub(super) fn eval(&self, item: &Value) -> bool {
        match self {
            Expr::Or(a, b) => a.eval(item) || b.eval(item),
            Expr::And(a, b) => a.eval(item) && b.eval(item),
            Expr::Not(e) => !e.eval(item),
            Expr::Cmp(attr, op, lit) => lookup(item, attr)
                .and_then(|v| compare(v, lit))
                .is_some_and(|o| op.holds(o)),
            Expr::In(attr, lits, negated) => match lookup(item, attr) {
                None => false,
                Some(v) => lits.iter().any(|l| compare(v, l) == Some(Ordering::Equal)) != *negated,
            },
            Expr::Like(attr, pattern, insensitive, negated) => match lookup(item, attr) {
                None => false,
                Some(v) => {
                    let text = scalar_text(v);
                    let hit = if *insensitive {
                        like(&text.to_lowercase(), &pattern.to_lowercase())
                    } else {
                        like(&text, pattern)
                    };
                    hit != *negated
                }
            },
            Expr::IsNull(attr, not_null) => lookup(item, attr).is_none() != *not_null,
        }
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "t" => Some(true),
        "false" | "f" => Some(false),
        _ => None,
    }
}

/// Compares an attribute value with a literal; `None` when incomparable (never matches).
fn compare(v: &Value, lit: &Literal) -> Option<Ordering> {
    match (v, lit) {
        (Value::Bool(b), Literal::Bool(l)) => Some(b.cmp(l)),
        (Value::Bool(b), Literal::Str(s)) => parse_bool(s).map(|l| b.cmp(&l)),
        (Value::Number(n), Literal::Num(l)) => n.as_f64()?.partial_cmp(l),
        (Value::Number(n), Literal::Str(s)) => {
            n.as_f64()?.partial_cmp(&s.trim().parse::<f64>().ok()?)
        }
        (Value::String(s), Literal::Str(l)) => Some(compare_strings(s, l)),
        (Value::String(s), Literal::Num(l)) => s.trim().parse::<f64>().ok()?.partial_cmp(l),
        (Value::String(s), Literal::Bool(l)) => parse_bool(s).map(|b| b.cmp(l)),
        _ => None,
    }
}

/// Instants when both sides are RFC 3339 timestamps (so `...00Z` and `...00.000Z` are equal),
/// else plain string order.
fn compare_strings(a: &str, b: &str) -> Ordering {
    match (
        chrono::DateTime::parse_from_rfc3339(a),
        chrono::DateTime::parse_from_rfc3339(b),
    ) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

/// The order of `order=` sorting: a total order (sorting requires one), so values are first
/// grouped by kind (booleans, numbers, RFC 3339 instants, other strings, anything else), then
/// compared within their group (instants as instants, ties by text).
pub(super) fn compare_values(a: &Value, b: &Value) -> Ordering {
    fn group(v: &Value) -> (u8, Option<chrono::DateTime<chrono::FixedOffset>>) {
        match v {
            Value::Bool(_) => (0, None),
            Value::Number(_) => (1, None),
            Value::String(s) => match chrono::DateTime::parse_from_rfc3339(s) {
                Ok(t) => (2, Some(t)),
                Err(_) => (3, None),
            },
            _ => (4, None),
        }
    }
    let ((ga, ta), (gb, tb)) = (group(a), group(b));
    ga.cmp(&gb).then_with(|| match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => ta.cmp(&tb).then_with(|| x.cmp(y)),
        _ => scalar_text(a).cmp(&scalar_text(b)),
    })
}

/// SQL LIKE: `%` any sequence, `_` any one character, `\` escapes the next character.
pub(super) fn like(text: &str, pattern: &str) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum P {
        Any,
        One,
        Char(char),
    }
    let mut pat = Vec::new();
    let mut it = pattern.chars();
    while let Some(c) = it.next() {
        pat.push(match c {
            '%' => P::Any,
            '_' => P::One,
            '\\' => P::Char(it.next().unwrap_or('\\')),
            c => P::Char(c),
        });
    }
    let text: Vec<char> = text.chars().collect();
    // Classic wildcard matching with backtracking to the last `%`.
    let (mut t, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pat.get(p) {
            Some(P::Any) => {
                star = Some((p, t));
                p += 1;
            }
            Some(P::One) => {
                t += 1;
                p += 1;
            }
            Some(P::Char(c)) if *c == text[t] => {
                t += 1;
                p += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pat[p..].iter().all(|x| *x == P::Any)
}
