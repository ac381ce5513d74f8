//! qontract-server's default resolver over JSON datafiles: the `JSON` scalar (serialized as a
//! JSON string), [`Node`] (a JSON object seen as a GraphQL type) with graphql-js coercion of
//! strings, ints and booleans, `Cannot return null for non-nullable field` errors, and
//! crossrefs followed into other datafiles (recording their schema).

use super::bundle::{Bundle, crossref};
use super::request::Touched;
use async_graphql::{
    Context, InputValueError, InputValueResult, Scalar, ScalarType, Value as GqlValue,
};
use serde_json::Value;
use std::sync::Arc;
/// qontract-server's `JSON` scalar: any JSON as input; serialized with `JSON.stringify`, so
/// clients receive a JSON *string*.
#[derive(Clone, Debug)]
pub(super) struct Json(pub(super) Value);

/// A scalar that can represent any JSON value.
#[Scalar(name = "JSON")]
impl ScalarType for Json {
    fn parse(value: GqlValue) -> InputValueResult<Self> {
        value.into_json().map(Json).map_err(InputValueError::custom)
    }

    fn to_value(&self) -> GqlValue {
        GqlValue::String(self.0.to_string())
    }
}

pub(super) type GqlResult<T> = async_graphql::Result<T>;

/// One JSON object (a datafile or a part of one) seen as a value of GraphQL type `ty`.
#[derive(Clone)]
pub(super) struct Node {
    ty: &'static str,
    v: Value,
}

pub(super) fn non_null(ty: &str, field: &str) -> async_graphql::Error {
    async_graphql::Error::new(format!(
        "Cannot return null for non-nullable field {ty}.{field}."
    ))
}

pub(super) fn coerce_string(v: &Value) -> GqlResult<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(async_graphql::Error::new(format!(
            "String cannot represent value: {other}"
        ))),
    }
}

pub(super) fn coerce_int(v: &Value) -> GqlResult<i32> {
    let n = match v {
        Value::Number(n) => n.as_f64(),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match n {
        Some(f) if f.fract() == 0.0 && f >= f64::from(i32::MIN) && f <= f64::from(i32::MAX) => {
            Ok(f as i32)
        }
        _ => Err(async_graphql::Error::new(format!(
            "Int cannot represent non-integer value: {v}"
        ))),
    }
}

pub(super) fn coerce_bool(v: &Value) -> GqlResult<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) if n.as_f64().is_some() => Ok(n.as_f64() != Some(0.0)),
        other => Err(async_graphql::Error::new(format!(
            "Boolean cannot represent a non boolean value: {other}"
        ))),
    }
}

impl Node {
    pub(super) fn new(ty: &'static str, v: Value) -> Self {
        Self { ty, v }
    }

    /// The datafile key behind a GraphQL field (`schema` is `$schema`); null counts as absent.
    pub(super) fn get(&self, field: &str) -> Option<&Value> {
        let key = if field == "schema" { "$schema" } else { field };
        self.v.get(key).filter(|v| !v.is_null())
    }

    pub(super) fn string(&self, field: &str) -> GqlResult<Option<String>> {
        self.get(field).map(coerce_string).transpose()
    }

    pub(super) fn req_string(&self, field: &str) -> GqlResult<String> {
        self.string(field)?.ok_or_else(|| non_null(self.ty, field))
    }

    pub(super) fn int(&self, field: &str) -> GqlResult<Option<i32>> {
        self.get(field).map(coerce_int).transpose()
    }

    pub(super) fn req_int(&self, field: &str) -> GqlResult<i32> {
        self.int(field)?.ok_or_else(|| non_null(self.ty, field))
    }

    pub(super) fn bool(&self, field: &str) -> GqlResult<Option<bool>> {
        self.get(field).map(coerce_bool).transpose()
    }

    pub(super) fn req_bool(&self, field: &str) -> GqlResult<bool> {
        self.get(field)
            .map(coerce_bool)
            .transpose()?
            .ok_or_else(|| non_null(self.ty, field))
    }

    pub(super) fn json(&self, field: &str) -> Option<Json> {
        self.get(field).cloned().map(Json)
    }

    pub(super) fn list(&self, field: &str) -> GqlResult<Option<&Vec<Value>>> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(_) => Err(async_graphql::Error::new(format!(
                "Expected Iterable, but did not find one for field \"{}.{field}\".",
                self.ty
            ))),
        }
    }

    /// `[String!]`.
    pub(super) fn strings(&self, field: &str) -> GqlResult<Option<Vec<String>>> {
        let Some(items) = self.list(field)? else {
            return Ok(None);
        };
        items
            .iter()
            .map(|i| {
                if i.is_null() {
                    Err(non_null(self.ty, field))
                } else {
                    coerce_string(i)
                }
            })
            .collect::<GqlResult<Vec<_>>>()
            .map(Some)
    }

    /// `[String!]!`.
    pub(super) fn req_strings(&self, field: &str) -> GqlResult<Vec<String>> {
        self.strings(field)?.ok_or_else(|| non_null(self.ty, field))
    }

    /// An object field, following a `$ref` crossref into another datafile.
    pub(super) fn child(
        &self,
        ctx: &Context<'_>,
        field: &str,
        ty: &'static str,
    ) -> GqlResult<Option<Node>> {
        let Some(v) = self.get(field) else {
            return Ok(None);
        };
        Ok(deref(ctx, v).map(|v| Node::new(ty, v)))
    }

    pub(super) fn req_child(
        &self,
        ctx: &Context<'_>,
        field: &str,
        ty: &'static str,
    ) -> GqlResult<Node> {
        self.child(ctx, field, ty)?
            .ok_or_else(|| non_null(self.ty, field))
    }

    /// `[T!]!` of objects (each possibly a crossref).
    pub(super) fn req_children(
        &self,
        ctx: &Context<'_>,
        field: &str,
        ty: &'static str,
    ) -> GqlResult<Vec<Node>> {
        let items = self.list(field)?.ok_or_else(|| non_null(self.ty, field))?;
        items
            .iter()
            .map(|i| {
                deref(ctx, i)
                    .map(|v| Node::new(ty, v))
                    .ok_or_else(|| non_null(self.ty, field))
            })
            .collect()
    }
}

/// Follows a crossref (recording the target's schema); other values are returned as they are.
pub(super) fn deref(ctx: &Context<'_>, v: &Value) -> Option<Value> {
    if crossref(v).is_none() {
        return (!v.is_null()).then(|| v.clone());
    }
    let bundle = ctx.data_unchecked::<Arc<Bundle>>();
    let target = bundle.resolve_ref(v)?;
    ctx.data_unchecked::<Touched>()
        .add(target.get("$schema").and_then(Value::as_str));
    Some(target.clone())
}
