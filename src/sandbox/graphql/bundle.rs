//! A loaded bundle: the datafiles by path (each with its `path` set, as qontract-server does),
//! its sha (sha256 of the datafiles as JSON), a made-up git commit and the load time; and
//! `$ref` crossrefs between datafiles.

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
/// One loaded bundle: datafiles by path (each with its `path` set, as qontract-server does).
pub(super) struct Bundle {
    pub(super) sha: String,
    /// A made-up git commit (40 hex), stable for a sha.
    pub(super) commit: String,
    /// Unix seconds at load time, as a string (qontract-server's `gitCommitTimestamp`).
    pub(super) timestamp: String,
    pub(super) datafiles: BTreeMap<String, Value>,
}

impl Bundle {
    pub(super) fn new(datafiles: Vec<(String, Value)>) -> Self {
        let mut by_path = BTreeMap::new();
        for (path, mut value) in datafiles {
            if let Value::Object(o) = &mut value {
                o.insert("path".to_owned(), Value::String(path.clone()));
            }
            by_path.insert(path, value);
        }
        let sha = hex(&Sha256::digest(
            serde_json::to_vec(&by_path).expect("JSON serializes"),
        ));
        let commit = hex(&Sha256::digest(format!("git-commit:{sha}")))[..40].to_owned();
        let timestamp = chrono::Utc::now().timestamp().to_string();
        Self {
            sha,
            commit,
            timestamp,
            datafiles: by_path,
        }
    }

    pub(super) fn by_schema<'a>(&'a self, schema: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.datafiles
            .values()
            .filter(move |v| v.get("$schema").and_then(Value::as_str) == Some(schema))
    }

    pub(super) fn resolve_ref(&self, v: &Value) -> Option<&Value> {
        let target = crossref(v)?;
        let path = target.split('#').next().unwrap_or(target);
        self.datafiles.get(path)
    }
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `{"$ref": "<path>"}` (an object with that single key).
pub(super) fn crossref(v: &Value) -> Option<&str> {
    let o = v.as_object()?;
    if o.len() == 1 {
        o.get("$ref")?.as_str()
    } else {
        None
    }
}

/// The sha a bundle of these datafiles gets (sha256 of the datafiles by path, as JSON).
pub fn bundle_sha(datafiles: &[(String, Value)]) -> String {
    Bundle::new(datafiles.to_vec()).sha
}
