//! Per-request data handed to the resolvers next to the bundle: the datafile schemas a query
//! touched (`extensions.schemas`) and the phase a request failed in (parse or validation,
//! which Apollo answers with HTTP 400).

use std::sync::{Arc, Mutex};

/// Datafile schemas the query touched (`extensions.schemas`), in first-seen order.
#[derive(Clone, Default)]
pub(super) struct Touched(pub(super) Arc<Mutex<Vec<String>>>);

impl Touched {
    pub(super) fn add(&self, schema: Option<&str>) {
        if let Some(s) = schema {
            let mut v = self.0.lock().expect("touched lock");
            if !v.iter().any(|x| x == s) {
                v.push(s.to_owned());
            }
        }
    }
}

/// Set when the request failed before execution (Apollo answers those with HTTP 400).
#[derive(Clone, Default)]
pub(super) struct Phase(pub(super) Arc<Mutex<Option<&'static str>>>);
