//! The tokenizer of the `search` language: identifiers and dotted attribute paths, single-quoted
//! strings (`''` escapes a quote), numbers, comparison operators, parentheses and commas, each
//! with its byte offset for error messages.

use super::SearchError;
use std::cmp::Ordering;
use std::fmt;

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Tok {
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
pub(super) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub(super) fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
    pub(super) fn holds(self, o: Ordering) -> bool {
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
pub(super) fn tokenize(input: &str) -> Result<Vec<(usize, Tok)>, SearchError> {
    let mut lexer = Lexer {
        chars: input.char_indices().collect(),
        i: 0,
    };
    let mut out = Vec::new();
    while let Some((pos, c)) = lexer.peek() {
        let tok = match c {
            c if c.is_whitespace() => {
                lexer.i += 1;
                continue;
            }
            '(' | ')' | ',' | '=' => {
                lexer.i += 1;
                match c {
                    '(' => Tok::LParen,
                    ')' => Tok::RParen,
                    ',' => Tok::Comma,
                    _ => Tok::Op(CmpOp::Eq),
                }
            }
            '!' | '<' | '>' => lexer.operator(pos, c)?,
            '\'' => lexer.string(pos)?,
            c if c.is_ascii_digit() || (c == '-' && lexer.next_is(char::is_ascii_digit)) => {
                lexer.number(pos)?
            }
            c if c.is_ascii_alphabetic() || c == '_' => lexer.ident(pos)?,
            other => {
                return Err(SearchError(format!(
                    "Invalid search: unexpected character '{other}' at position {pos}"
                )));
            }
        };
        out.push((pos, tok));
    }
    Ok(out)
}

struct Lexer {
    chars: Vec<(usize, char)>,
    i: usize,
}

impl Lexer {
    fn peek(&self) -> Option<(usize, char)> {
        self.chars.get(self.i).copied()
    }

    fn char_at(&self, i: usize) -> Option<char> {
        self.chars.get(i).map(|&(_, c)| c)
    }

    /// Whether the character after the current one satisfies `f`.
    fn next_is(&self, f: impl Fn(&char) -> bool) -> bool {
        self.char_at(self.i + 1).is_some_and(|c| f(&c))
    }

    /// The text from `start` to the current position.
    fn text_from(&self, start: usize) -> String {
        self.chars[start..self.i].iter().map(|&(_, c)| c).collect()
    }

    /// `!=`, `<>`, `<=`, `>=`, `<`, `>`.
    fn operator(&mut self, pos: usize, c: char) -> Result<Tok, SearchError> {
        let (op, len) = match (c, self.char_at(self.i + 1)) {
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
        self.i += len;
        Ok(Tok::Op(op))
    }

    /// A single-quoted string; `''` is a quote.
    fn string(&mut self, pos: usize) -> Result<Tok, SearchError> {
        let mut s = String::new();
        self.i += 1;
        loop {
            match self.char_at(self.i) {
                None => {
                    return Err(SearchError(format!(
                        "Invalid search: unterminated string starting at position {pos}"
                    )));
                }
                Some('\'') if self.char_at(self.i + 1) == Some('\'') => {
                    s.push('\'');
                    self.i += 2;
                }
                Some('\'') => {
                    self.i += 1;
                    return Ok(Tok::Str(s));
                }
                Some(c) => {
                    s.push(c);
                    self.i += 1;
                }
            }
        }
    }

    fn number(&mut self, pos: usize) -> Result<Tok, SearchError> {
        let start = self.i;
        self.i += 1;
        while self
            .char_at(self.i)
            .is_some_and(|d| d.is_ascii_digit() || d == '.')
        {
            self.i += 1;
        }
        let text = self.text_from(start);
        let n = text.parse::<f64>().map_err(|_| {
            SearchError(format!(
                "Invalid search: bad number '{text}' at position {pos}"
            ))
        })?;
        Ok(Tok::Num(n, text))
    }

    /// An attribute path (`product.id`) or a keyword.
    fn ident(&mut self, pos: usize) -> Result<Tok, SearchError> {
        let start = self.i;
        while self
            .char_at(self.i)
            .is_some_and(|d| d.is_ascii_alphanumeric() || d == '_' || d == '.')
        {
            self.i += 1;
        }
        let text = self.text_from(start);
        if text.ends_with('.') || text.contains("..") {
            return Err(SearchError(format!(
                "Invalid search: malformed attribute '{text}' at position {pos}"
            )));
        }
        Ok(Tok::Ident(text))
    }
}
