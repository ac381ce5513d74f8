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
        let tokens = tokenize(input)?;
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
    items.sort_by(|a, b| {
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
    });
}

/// The value at a dotted path; `None` for missing or JSON null (SQL NULL).
pub fn lookup<'a>(item: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = item;
    for seg in path.split('.') {
        cur = cur.get(seg)?;
    }
    (!cur.is_null()).then_some(cur)
}

// ---------------------------------------------------------------------------------------------
// Tokens

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64, String),
    Op(CmpOp),
    LParen,
    RParen,
    Comma,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Ident(s) => write!(f, "'{s}'"),
            Tok::Str(s) => write!(f, "string '{s}'"),
            Tok::Num(_, s) => write!(f, "number {s}"),
            Tok::Op(op) => write!(f, "'{}'", op.symbol()),
            Tok::LParen => f.write_str("'('"),
            Tok::RParen => f.write_str("')'"),
            Tok::Comma => f.write_str("','"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
    fn holds(self, o: Ordering) -> bool {
        match self {
            CmpOp::Eq => o == Ordering::Equal,
            CmpOp::Ne => o != Ordering::Equal,
            CmpOp::Lt => o == Ordering::Less,
            CmpOp::Le => o != Ordering::Greater,
            CmpOp::Gt => o == Ordering::Greater,
            CmpOp::Ge => o != Ordering::Less,
        }
    }
}

/// Tokens with their byte offsets (for error messages).
fn tokenize(input: &str) -> Result<Vec<(usize, Tok)>, SearchError> {
    let chars: Vec<(usize, char)> = input.char_indices().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (pos, c) = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push((pos, Tok::LParen));
                i += 1;
            }
            ')' => {
                out.push((pos, Tok::RParen));
                i += 1;
            }
            ',' => {
                out.push((pos, Tok::Comma));
                i += 1;
            }
            '=' => {
                out.push((pos, Tok::Op(CmpOp::Eq)));
                i += 1;
            }
            '!' | '<' | '>' => {
                let next = chars.get(i + 1).map(|&(_, c)| c);
                let (op, len) = match (c, next) {
                    ('!', Some('=')) => (CmpOp::Ne, 2),
                    ('<', Some('>')) => (CmpOp::Ne, 2),
                    ('<', Some('=')) => (CmpOp::Le, 2),
                    ('>', Some('=')) => (CmpOp::Ge, 2),
                    ('<', _) => (CmpOp::Lt, 1),
                    ('>', _) => (CmpOp::Gt, 1),
                    _ => {
                        return Err(SearchError(format!(
                            "Invalid search: unexpected character '!' at position {pos}"
                        )));
                    }
                };
                out.push((pos, Tok::Op(op)));
                i += len;
            }
            '\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(SearchError(format!(
                                "Invalid search: unterminated string starting at position {pos}"
                            )));
                        }
                        Some(&(_, '\'')) if chars.get(i + 1).map(|&(_, c)| c) == Some('\'') => {
                            s.push('\'');
                            i += 2;
                        }
                        Some(&(_, '\'')) => {
                            i += 1;
                            break;
                        }
                        Some(&(_, c)) => {
                            s.push(c);
                            i += 1;
                        }
                    }
                }
                out.push((pos, Tok::Str(s)));
            }
            c if c.is_ascii_digit()
                || (c == '-' && chars.get(i + 1).is_some_and(|&(_, d)| d.is_ascii_digit())) =>
            {
                let start = i;
                i += 1;
                while chars
                    .get(i)
                    .is_some_and(|&(_, d)| d.is_ascii_digit() || d == '.')
                {
                    i += 1;
                }
                let text: String = chars[start..i].iter().map(|&(_, c)| c).collect();
                let n = text.parse::<f64>().map_err(|_| {
                    SearchError(format!(
                        "Invalid search: bad number '{text}' at position {pos}"
                    ))
                })?;
                out.push((pos, Tok::Num(n, text)));
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while chars
                    .get(i)
                    .is_some_and(|&(_, d)| d.is_ascii_alphanumeric() || d == '_' || d == '.')
                {
                    i += 1;
                }
                let text: String = chars[start..i].iter().map(|&(_, c)| c).collect();
                if text.ends_with('.') || text.contains("..") {
                    return Err(SearchError(format!(
                        "Invalid search: malformed attribute '{text}' at position {pos}"
                    )));
                }
                out.push((pos, Tok::Ident(text)));
            }
            other => {
                return Err(SearchError(format!(
                    "Invalid search: unexpected character '{other}' at position {pos}"
                )));
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Syntax tree

#[derive(Clone, Debug, PartialEq)]
enum Literal {
    Str(String),
    Num(f64),
    Bool(bool),
}

#[derive(Clone, Debug, PartialEq)]
enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp(String, CmpOp, Literal),
    In(String, Vec<Literal>, bool),
    Like(String, String, bool, bool),
    IsNull(String, bool),
}

struct Parser<'a> {
    tokens: Vec<(usize, Tok)>,
    pos: usize,
    attributes: &'a [&'a str],
}

fn is_kw(t: &Tok, kw: &str) -> bool {
    matches!(t, Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|(_, t)| t)
    }
    fn position(&self) -> usize {
        self.tokens
            .get(self.pos)
            .map(|&(p, _)| p)
            .unwrap_or(usize::MAX)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.tokens.get(self.pos).map(|(_, t)| t.clone());
        self.pos += 1;
        t
    }
    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.peek().is_some_and(|t| is_kw(t, kw)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn unexpected(&self, t: &Tok, expected: &str) -> SearchError {
        SearchError(format!(
            "Invalid search: expected {expected} at position {}, found {t}",
            self.position()
        ))
    }
    fn end(expected: &str) -> SearchError {
        SearchError(format!(
            "Invalid search: expected {expected}, found the end of the expression"
        ))
    }
    fn expect(&mut self, want: &Tok, expected: &str) -> Result<(), SearchError> {
        match self.peek() {
            Some(t) if t == want => {
                self.pos += 1;
                Ok(())
            }
            Some(t) => Err(self.unexpected(t, expected)),
            None => Err(Self::end(expected)),
        }
    }

    fn or(&mut self) -> Result<Expr, SearchError> {
        let mut e = self.and()?;
        while self.eat_kw("or") {
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, SearchError> {
        let mut e = self.not()?;
        while self.eat_kw("and") {
            e = Expr::And(Box::new(e), Box::new(self.not()?));
        }
        Ok(e)
    }

    fn not(&mut self) -> Result<Expr, SearchError> {
        if self.eat_kw("not") {
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, SearchError> {
        match self.peek() {
            Some(Tok::LParen) => {
                self.pos += 1;
                let e = self.or()?;
                self.expect(&Tok::RParen, "')'")?;
                Ok(e)
            }
            Some(Tok::Ident(_)) => self.comparison(),
            Some(t) => Err(self.unexpected(t, "an attribute name or '('")),
            None => Err(Self::end("an attribute name or '('")),
        }
    }

    fn attribute(&mut self) -> Result<String, SearchError> {
        let at = self.position();
        let Some(Tok::Ident(name)) = self.next() else {
            unreachable!("primary() checked for an identifier");
        };
        const KEYWORDS: [&str; 8] = ["and", "or", "not", "in", "like", "ilike", "is", "null"];
        if KEYWORDS.iter().any(|k| name.eq_ignore_ascii_case(k)) {
            return Err(SearchError(format!(
                "Invalid search: expected an attribute name at position {at}, found keyword '{name}'"
            )));
        }
        if !self.attributes.contains(&name.as_str()) {
            return Err(SearchError(format!(
                "Invalid search: unknown attribute '{name}' at position {at}"
            )));
        }
        Ok(name)
    }

    fn comparison(&mut self) -> Result<Expr, SearchError> {
        let attr = self.attribute()?;
        const EXPECTED: &str = "a comparison operator, 'in', 'like', 'ilike' or 'is'";
        let negated = self.eat_kw("not");
        match self.next() {
            Some(Tok::Op(op)) if !negated => Ok(Expr::Cmp(attr, op, self.literal()?)),
            Some(t) if is_kw(&t, "in") => {
                self.expect(&Tok::LParen, "'(' after 'in'")?;
                let mut values = vec![self.literal()?];
                loop {
                    match self.next() {
                        Some(Tok::Comma) => values.push(self.literal()?),
                        Some(Tok::RParen) => break,
                        Some(t) => {
                            self.pos -= 1;
                            return Err(self.unexpected(&t, "',' or ')' in the 'in' list"));
                        }
                        None => return Err(Self::end("',' or ')' in the 'in' list")),
                    }
                }
                Ok(Expr::In(attr, values, negated))
            }
            Some(t) if is_kw(&t, "like") || is_kw(&t, "ilike") => {
                let insensitive = is_kw(&t, "ilike");
                match self.next() {
                    Some(Tok::Str(p)) => Ok(Expr::Like(attr, p, insensitive, negated)),
                    Some(t) => {
                        self.pos -= 1;
                        Err(self.unexpected(&t, "a quoted pattern"))
                    }
                    None => Err(Self::end("a quoted pattern")),
                }
            }
            Some(t) if is_kw(&t, "is") && !negated => {
                let not_null = self.eat_kw("not");
                if self.eat_kw("null") {
                    Ok(Expr::IsNull(attr, not_null))
                } else {
                    match self.peek() {
                        Some(t) => Err(self.unexpected(t, "'null'")),
                        None => Err(Self::end("'null'")),
                    }
                }
            }
            Some(t) => {
                self.pos -= 1;
                Err(self.unexpected(
                    &t,
                    if negated {
                        "'in', 'like' or 'ilike' after 'not'"
                    } else {
                        EXPECTED
                    },
                ))
            }
            None => Err(Self::end(EXPECTED)),
        }
    }

    fn literal(&mut self) -> Result<Literal, SearchError> {
        const EXPECTED: &str = "a quoted string, a number, 'true' or 'false'";
        match self.next() {
            Some(Tok::Str(s)) => Ok(Literal::Str(s)),
            Some(Tok::Num(n, _)) => Ok(Literal::Num(n)),
            Some(t) if is_kw(&t, "true") => Ok(Literal::Bool(true)),
            Some(t) if is_kw(&t, "false") => Ok(Literal::Bool(false)),
            Some(t) => {
                self.pos -= 1;
                Err(self.unexpected(&t, EXPECTED))
            }
            None => Err(Self::end(EXPECTED)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation

impl Expr {
    fn eval(&self, item: &Value) -> bool {
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

fn compare_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::String(x), Value::String(y)) => compare_strings(x, y),
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => scalar_text(a).cmp(&scalar_text(b)),
    }
}

/// SQL LIKE: `%` any sequence, `_` any one character, `\` escapes the next character.
fn like(text: &str, pattern: &str) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ATTRS: &[&str] = &[
        "id",
        "key",
        "type",
        "managed",
        "status",
        "state",
        "product.id",
        "hypershift.enabled",
        "created_at",
        "count",
        "description",
        "missing",
    ];

    fn item() -> Value {
        json!({
            "id": "2abc",
            "key": "sre-capabilities.dtp.v2.tenant",
            "type": "Subscription",
            "managed": true,
            "status": "Active",
            "state": "ready",
            "product": {"id": "rosa"},
            "hypershift": {"enabled": false},
            "created_at": "2024-05-01T10:00:00.250Z",
            "count": 7,
            "description": "it's\nbroken",
        })
    }

    fn m(search: &str) -> bool {
        Search::parse(search, ATTRS)
            .unwrap_or_else(|e| panic!("{search}: {e}"))
            .matches(&item())
    }

    fn err(search: &str) -> String {
        Search::parse(search, ATTRS).expect_err(search).0
    }

    #[test]
    fn the_searches_dtp_sends_match_as_ocm_would() {
        assert!(m(
            "key like 'sre-capabilities.dtp.%' and type in ('Organization','Subscription')"
        ));
        assert!(m(
            "id in ('2abc') and managed='true' and status in ('Active','Reserved')"
        ));
        assert!(m(
            "managed='true' and product.id in ('osd','rosa') and state='ready'"
        ));
        assert!(!m(
            "managed='true' and product.id in ('osd') and state='ready'"
        ));
        assert!(m(
            "created_at >= '2024-04-30T10:00:00Z' and description='it''s\nbroken'"
        ));
    }

    #[test]
    fn equality_and_inequality_operators() {
        assert!(m("id = '2abc'"));
        assert!(!m("id = '2ABC'"));
        assert!(m("id != 'x'"));
        assert!(m("id <> 'x'"));
        assert!(!m("id <> '2abc'"));
        assert!(m("count = 7 and count > 6.5 and count <= '7'"));
        assert!(!m("count < 7"));
    }

    #[test]
    fn booleans_match_true_and_t() {
        assert!(m("managed = 'true'"));
        assert!(m("managed = 't'"));
        assert!(m("managed = true"));
        assert!(m("hypershift.enabled = 'f'"));
        assert!(!m("hypershift.enabled = 'true'"));
        assert!(!m("managed = 'maybe'"));
    }

    #[test]
    fn timestamps_compare_as_instants() {
        assert!(m("created_at > '2024-05-01T10:00:00Z'"));
        assert!(m("created_at < '2024-05-01T12:00:00+01:00'"));
        assert!(m("created_at = '2024-05-01T10:00:00.25Z'"));
        assert!(!m("created_at >= '2024-05-02T00:00:00Z'"));
        // Non-timestamps compare lexically.
        assert!(m("status < 'B' and status > 'A'"));
    }

    #[test]
    fn like_is_case_sensitive_with_percent_and_underscore_wildcards() {
        assert!(m("key like 'sre-capabilities.dtp.%'"));
        assert!(m("key like '%tenant'"));
        assert!(m("key like 'sre%dtp%v_.tenant'"));
        assert!(!m("key like 'SRE-capabilities.%'"));
        assert!(m("key ilike 'SRE-capabilities.%'"));
        assert!(m("key not like 'other%'"));
        assert!(!m("key like 'sre-capabilities.dtp.'"));
        assert!(like("50%", "50\\%"));
        assert!(!like("500", "50\\%"));
        assert!(like("", "%"));
        assert!(!like("", "_"));
    }

    #[test]
    fn in_and_not_in() {
        assert!(m("status in ('Active', 'Reserved')"));
        assert!(!m("status not in ('Active', 'Reserved')"));
        assert!(m("status not in ('Deprovisioned')"));
    }

    #[test]
    fn boolean_connectives_follow_precedence_and_parentheses() {
        // and binds tighter than or.
        assert!(m("id = 'x' and status = 'x' or state = 'ready'"));
        assert!(!m("id = 'x' and (status = 'x' or state = 'ready')"));
        assert!(m("not id = 'x'"));
        assert!(!m("not (id = '2abc' or id = 'x')"));
        assert!(m("NOT id = 'x' AND state = 'ready'"));
    }

    #[test]
    fn missing_attributes_are_null_and_never_compare_true() {
        assert!(!m("missing = 'x'"));
        assert!(!m("missing != 'x'"));
        assert!(!m("missing in ('x')"));
        assert!(!m("missing not in ('x')"));
        assert!(m("missing is null"));
        assert!(!m("id is null"));
        assert!(m("id is not null"));
    }

    #[test]
    fn an_empty_search_matches_everything() {
        assert!(m(""));
        assert!(m("   "));
    }

    #[test]
    fn unknown_attributes_and_syntax_errors_name_the_problem() {
        assert_eq!(
            err("nope = 'x'"),
            "Invalid search: unknown attribute 'nope' at position 0"
        );
        assert!(
            err("id = 'x").contains("unterminated string"),
            "{}",
            err("id = 'x")
        );
        assert!(err("id = ").contains("found the end of the expression"));
        assert!(err("id 'x'").contains("expected a comparison operator"));
        assert!(err("id in ('a' 'b')").contains("',' or ')'"));
        assert!(err("(id = 'a'").contains("expected ')'"));
        assert!(err("id = 'a' id = 'b'").contains("'and', 'or'"));
        assert!(err("id = 'a' and").contains("attribute name"));
        assert!(err("id # 'a'").contains("unexpected character '#'"));
        assert!(err("and = 'a'").contains("keyword 'and'"));
        assert!(err("product. = 'a'").contains("malformed attribute"));
    }

    #[test]
    fn order_terms_parse_and_sort_with_nulls_last() {
        let order = parse_order("state desc, id", ATTRS).unwrap();
        assert_eq!(
            order,
            vec![
                OrderTerm {
                    attribute: "state".into(),
                    descending: true
                },
                OrderTerm {
                    attribute: "id".into(),
                    descending: false
                },
            ]
        );
        let mut items = vec![
            json!({"id": "b", "state": "ready"}),
            json!({"id": "c"}),
            json!({"id": "a", "state": "ready"}),
            json!({"id": "d", "state": "zzz"}),
        ];
        sort_items(
            &mut items,
            &parse_order("state asc, id desc", ATTRS).unwrap(),
        );
        let ids: Vec<&str> = items.iter().map(|i| i["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["b", "a", "d", "c"]);
        assert!(parse_order("", ATTRS).unwrap().is_empty());
        assert!(
            parse_order("bogus", ATTRS)
                .unwrap_err()
                .0
                .contains("unknown field 'bogus'")
        );
        assert!(
            parse_order("id sideways", ATTRS)
                .unwrap_err()
                .0
                .contains("[asc|desc]")
        );
        assert!(
            parse_order("id,", ATTRS)
                .unwrap_err()
                .0
                .contains("empty term")
        );
    }
}
