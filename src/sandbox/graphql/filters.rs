//! Top-level selection (datafiles of a schema, searchable arguments such as `name`, `path`)
//! and qontract-server's generic `filter` argument (`filterObjectPredicateBuilder`):
//! equality, `in`, `ne`, list equality and nested `filter`, with `BAD_FILTER_FIELD` for an
//! unknown field; values compare as JavaScript `===`.

use super::bundle::Bundle;
use super::request::Touched;
use super::values::{GqlResult, Json, Node};
use async_graphql::registry::{MetaType, MetaTypeName};
use async_graphql::{Context, ErrorExtensions};
use serde_json::Value;
use std::sync::Arc;
/// The datafiles of `schema` matching the searchable arguments (`(field, value)`, a null value
/// matches everything) and `filter`, as nodes of GraphQL type `ty`.
pub(super) fn select(
    ctx: &Context<'_>,
    schema: &str,
    ty: &'static str,
    searchable: &[(&str, Option<String>)],
    filter: Option<Json>,
) -> GqlResult<Vec<Node>> {
    let bundle = ctx.data_unchecked::<Arc<Bundle>>();
    let filter = filter.map(|f| Filter::compile(ctx, ty, &f.0)).transpose()?;
    let touched = ctx.data_unchecked::<Touched>();
    let mut out = Vec::new();
    for v in bundle.by_schema(schema) {
        let searchable_ok = searchable.iter().all(|(field, want)| match want {
            None => true,
            Some(w) => v.get(*field).and_then(Value::as_str) == Some(w.as_str()),
        });
        if searchable_ok && filter.as_ref().is_none_or(|f| f.matches(bundle, v)) {
            touched.add(Some(schema));
            out.push(Node::new(ty, v.clone()));
        }
    }
    Ok(out)
}

/// A compiled `filter` argument (qontract-server `filterObjectPredicateBuilder`).
enum Filter {
    /// A filter that is not an object matches nothing.
    Never,
    All(Vec<(String, Cond)>),
}

enum Cond {
    /// `(source[field] ?? null) === value`.
    Eq(Value),
    /// A list field compared element-wise with an array.
    ListEq(Vec<Value>),
    /// `{in: [...]}`: the field is present and its value is one of them.
    In(Vec<Value>),
    /// `{ne: value}`.
    Ne(Value),
    /// `{filter: {...}}` on the object (or crossref'd datafile) in the field; for a list, any
    /// element matching (the sandbox's reading of an unspecified case).
    Nested(Filter),
}

impl Filter {
    fn compile(ctx: &Context<'_>, ty: &str, filter: &Value) -> GqlResult<Self> {
        let Some(obj) = filter.as_object() else {
            return Ok(Filter::Never);
        };
        let registry = &ctx.schema_env.registry;
        let fields = match registry.types.get(ty) {
            Some(MetaType::Object { fields, .. }) => fields,
            _ => return Ok(Filter::Never),
        };
        let mut conds = Vec::new();
        for (name, value) in obj {
            let Some(field) = fields.get(name) else {
                return Err(async_graphql::Error::new(format!(
                    "Field \"{name}\" does not exist on type \"{ty}\""
                ))
                .extend_with(|_, e| {
                    e.set("code", "BAD_FILTER_FIELD");
                    e.set("gqlType", ty);
                }));
            };
            // `[T!]` or `[T!]!`.
            let is_list = field.ty.starts_with('[');
            let cond = match value {
                Value::Array(a) if is_list => Cond::ListEq(a.clone()),
                Value::Object(o) if o.contains_key("in") => {
                    Cond::In(o["in"].as_array().cloned().unwrap_or_default())
                }
                Value::Object(o) if o.contains_key("filter") => Cond::Nested(Filter::compile(
                    ctx,
                    MetaTypeName::concrete_typename(&field.ty),
                    &o["filter"],
                )?),
                Value::Object(o) if o.contains_key("ne") => Cond::Ne(o["ne"].clone()),
                other => Cond::Eq(other.clone()),
            };
            conds.push((name.clone(), cond));
        }
        Ok(Filter::All(conds))
    }

    fn matches(&self, bundle: &Bundle, source: &Value) -> bool {
        let Filter::All(conds) = self else {
            return false;
        };
        conds.iter().all(|(field, cond)| {
            let key = if field == "schema" {
                "$schema"
            } else {
                field.as_str()
            };
            let value = source.get(key).unwrap_or(&Value::Null);
            match cond {
                Cond::Eq(want) => js_strict_eq(value, want),
                Cond::Ne(want) => !js_strict_eq(value, want),
                Cond::In(set) => {
                    source.get(key).is_some() && set.iter().any(|w| js_strict_eq(value, w))
                }
                Cond::ListEq(want) => value.as_array().is_some_and(|have| {
                    have.len() == want.len()
                        && have.iter().zip(want).all(|(a, b)| js_strict_eq(a, b))
                }),
                Cond::Nested(f) => {
                    let resolve =
                        |v: &Value| bundle.resolve_ref(v).cloned().unwrap_or_else(|| v.clone());
                    match value {
                        Value::Null => false,
                        Value::Array(items) => items.iter().any(|i| f.matches(bundle, &resolve(i))),
                        v => f.matches(bundle, &resolve(v)),
                    }
                }
            }
        })
    }
}

/// JavaScript `===` between JSON values: primitives by value, objects and arrays never equal.
pub(super) fn js_strict_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => false,
    }
}
