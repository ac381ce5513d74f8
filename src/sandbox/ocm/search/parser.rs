//! The syntax tree of a `search` expression and its recursive-descent parser: `or` over `and`
//! over `not` over comparisons (`=`, `!=`, `<`, …, `[not] in`, `[not] like`/`ilike`,
//! `is [not] null`) and parentheses; attributes are checked against the resource's list.

use super::SearchError;
use super::lexer::{CmpOp, Tok};
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Literal {
    Str(String),
    Num(f64),
    Bool(bool),
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp(String, CmpOp, Literal),
    In(String, Vec<Literal>, bool),
    Like(String, String, bool, bool),
    IsNull(String, bool),
}

pub(super) struct Parser<'a> {
    pub(super) tokens: Vec<(usize, Tok)>,
    pub(super) pos: usize,
    pub(super) attributes: &'a [&'a str],
}

pub(super) fn is_kw(t: &Tok, kw: &str) -> bool {
    matches!(t, Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
}

impl Parser<'_> {
    pub(super) fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|(_, t)| t)
    }
    pub(super) fn position(&self) -> usize {
        self.tokens
            .get(self.pos)
            .map(|&(p, _)| p)
            .unwrap_or(usize::MAX)
    }
    pub(super) fn next(&mut self) -> Option<Tok> {
        let t = self.tokens.get(self.pos).map(|(_, t)| t.clone());
        self.pos += 1;
        t
    }
    pub(super) fn eat_kw(&mut self, kw: &str) -> bool {
        if self.peek().is_some_and(|t| is_kw(t, kw)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    pub(super) fn unexpected(&self, t: &Tok, expected: &str) -> SearchError {
        SearchError(format!(
            "Invalid search: expected {expected} at position {}, found {t}",
            self.position()
        ))
    }
    pub(super) fn end(expected: &str) -> SearchError {
        SearchError(format!(
            "Invalid search: expected {expected}, found the end of the expression"
        ))
    }
    pub(super) fn expect(&mut self, want: &Tok, expected: &str) -> Result<(), SearchError> {
        match self.peek() {
            Some(t) if t == want => {
                self.pos += 1;
                Ok(())
            }
            Some(t) => Err(self.unexpected(t, expected)),
            None => Err(Self::end(expected)),
        }
    }

    pub(super) fn or(&mut self) -> Result<Expr, SearchError> {
        let mut e = self.and()?;
        while self.eat_kw("or") {
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    pub(super) fn and(&mut self) -> Result<Expr, SearchError> {
        let mut e = self.not()?;
        while self.eat_kw("and") {
            e = Expr::And(Box::new(e), Box::new(self.not()?));
        }
        Ok(e)
    }

    pub(super) fn not(&mut self) -> Result<Expr, SearchError> {
        if self.eat_kw("not") {
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    pub(super) fn primary(&mut self) -> Result<Expr, SearchError> {
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

    pub(super) fn attribute(&mut self) -> Result<String, SearchError> {
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

    pub(super) fn comparison(&mut self) -> Result<Expr, SearchError> {
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

    pub(super) fn literal(&mut self) -> Result<Literal, SearchError> {
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
