//! Index probes of a `search`: string equalities (`a = 'x'`, `a in ('x', 'y')`) that every
//! match must satisfy, so a server holding an index of `a` only evaluates the rows it names
//! instead of every row. Only literals that compare exactly qualify: a quoted string that is
//! not an RFC 3339 timestamp (two timestamps compare as instants, so different texts can be
//! equal). A row whose attribute is a non-string value (a number or boolean compares with
//! conversions) may still match, so an index must also return those rows for a probe.

use super::Search;
use super::lexer::CmpOp;
use super::parser::{Expr, Literal};

/// Rows whose `attribute` is one of the strings `values` (or a non-string value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Probe {
    pub(crate) attribute: String,
    pub(crate) values: Vec<String>,
}

impl Search {
    /// Probes whose rows hold every match, or `None` when the expression names no indexed
    /// equality every match needs (then every row must be evaluated). `size` says how many
    /// rows an index returns for `(attribute, value)`, `None` when the attribute has no
    /// index; of the two sides of an `and`, the one with fewer rows is probed.
    pub(crate) fn probes(&self, size: &dyn Fn(&str, &str) -> Option<usize>) -> Option<Vec<Probe>> {
        self.expr
            .as_ref()
            .and_then(|e| plan(e, size))
            .map(|(_, p)| p)
    }
}

/// The probes of `e` with the number of rows they return.
fn plan(e: &Expr, size: &dyn Fn(&str, &str) -> Option<usize>) -> Option<(usize, Vec<Probe>)> {
    match e {
        Expr::And(a, b) => match (plan(a, size), plan(b, size)) {
            (Some(x), Some(y)) => Some(if y.0 < x.0 { y } else { x }),
            (x, None) | (None, x) => x,
        },
        Expr::Or(a, b) => {
            let (ca, mut pa) = plan(a, size)?;
            let (cb, pb) = plan(b, size)?;
            pa.extend(pb);
            Some((ca.saturating_add(cb), pa))
        }
        Expr::Cmp(attribute, CmpOp::Eq, lit) => probe(attribute, std::slice::from_ref(lit), size),
        Expr::In(attribute, lits, false) => probe(attribute, lits, size),
        _ => None,
    }
}

fn probe(
    attribute: &str,
    lits: &[Literal],
    size: &dyn Fn(&str, &str) -> Option<usize>,
) -> Option<(usize, Vec<Probe>)> {
    let values = lits
        .iter()
        .map(|l| match l {
            Literal::Str(s) if chrono::DateTime::parse_from_rfc3339(s).is_err() => Some(s.clone()),
            _ => None,
        })
        .collect::<Option<Vec<String>>>()?;
    let mut rows = 0usize;
    for v in &values {
        rows = rows.saturating_add(size(attribute, v)?);
    }
    let p = Probe {
        attribute: attribute.to_owned(),
        values,
    };
    Some((rows, vec![p]))
}
