//! Body validation of create and update: every problem is collected as a constraint
//! violation (unknown fields, `name`, `scopes` against [`super::KNOWN_SCOPES`],
//! `expirationDate`, `personalAccessToken`) and answered together in one 400.

use super::constants::KNOWN_SCOPES;
use super::errors::{Reject, Violation, violations};
use super::format::parse_time;
use chrono::{DateTime, SubsecRound, Utc};
use serde_json::{Map, Value};
/// Body violations collected while validating a request.
#[derive(Default)]
pub(super) struct Violations(Vec<Violation>);

impl Violations {
    pub(super) fn add(&mut self, path: &str, message: &str) {
        self.0.push(Violation::new(path, message, "PAYLOAD_BODY"));
    }

    /// `Err` with every violation when there is any.
    pub(super) fn finish(self) -> Result<(), Reject> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(violations(self.0))
        }
    }

    pub(super) fn unknown_fields(&mut self, body: &Map<String, Value>, known: &[&str]) {
        for key in body.keys().filter(|k| !known.contains(&k.as_str())) {
            self.add(key, "unrecognized field");
        }
    }

    /// `name`: a non-empty string; `None` (with a violation when required) otherwise.
    pub(super) fn name(&mut self, body: &Map<String, Value>, required: bool) -> Option<String> {
        match body.get("name") {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            Some(Value::String(_)) => {
                self.add("name", "must not be empty");
                None
            }
            None | Some(Value::Null) => {
                if required {
                    self.add("name", "must not be null");
                }
                None
            }
            Some(_) => {
                self.add("name", "must be a string");
                None
            }
        }
    }

    /// `scopes`: a non-empty array of known scopes, de-duplicated in order.
    pub(super) fn scopes(
        &mut self,
        body: &Map<String, Value>,
        required: bool,
    ) -> Option<Vec<String>> {
        let list = match body.get("scopes") {
            Some(Value::Array(a)) => a,
            None | Some(Value::Null) => {
                if required {
                    self.add("scopes", "must not be null");
                }
                return None;
            }
            Some(_) => {
                self.add("scopes", "must be an array of scopes");
                return None;
            }
        };
        if list.is_empty() {
            self.add("scopes", "must not be empty");
            return None;
        }
        let mut scopes: Vec<String> = Vec::new();
        let mut ok = true;
        for (i, s) in list.iter().enumerate() {
            match s.as_str() {
                Some(s) if KNOWN_SCOPES.contains(&s) => {
                    if !scopes.iter().any(|x| x == s) {
                        scopes.push(s.to_owned());
                    }
                }
                Some(s) => {
                    ok = false;
                    self.add(&format!("scopes[{i}]"), &format!("unknown scope '{s}'"));
                }
                None => {
                    ok = false;
                    self.add(&format!("scopes[{i}]"), "must be a string");
                }
            }
        }
        ok.then_some(scopes)
    }

    /// `expirationDate`: in the future, as UTC milliseconds, ISO 8601 or relative (`now+14d`).
    pub(super) fn expiration(
        &mut self,
        body: &Map<String, Value>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        match body.get("expirationDate") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => match parse_time(s, now) {
                Some(t) if t > now => Some(t.trunc_subsecs(3)),
                Some(_) => {
                    self.add("expirationDate", "must be in the future");
                    None
                }
                None => {
                    self.add(
                        "expirationDate",
                        "must be UTC milliseconds, an ISO 8601 timestamp or relative (now+14d)",
                    );
                    None
                }
            },
            Some(Value::Number(n)) => match n.as_i64().and_then(DateTime::from_timestamp_millis) {
                Some(t) if t > now => Some(t),
                _ => {
                    self.add("expirationDate", "must be in the future");
                    None
                }
            },
            Some(_) => {
                self.add("expirationDate", "must be a string");
                None
            }
        }
    }

    /// `personalAccessToken`: a boolean, `false` when absent.
    pub(super) fn personal(&mut self, body: &Map<String, Value>) -> bool {
        match body.get("personalAccessToken") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                self.add("personalAccessToken", "must be a boolean");
                false
            }
        }
    }
}
