//! One tenant's host groups (the `HOST_GROUP` entities, `HOST_GROUP-<16 hex>`) and Settings 2.0
//! objects (`log-ingest-rules.md` §1.3–1.5), with the [`SettingsObjectView`] tests get.
//!
//! Objects are kept in one list whose order, restricted to one (schema, scope), is the order
//! of that ordered schema: creation order unless an `insertAfter` placed an object elsewhere.
//! Every change of an object gives it a fresh opaque `updateToken`. Lookups scan the list: a
//! tenant holds a few rules per cluster, not thousands.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The only schema the fake knows.
pub(super) const LOG_STORAGE_SCHEMA: &str = "builtin:logmonitoring.log-storage-settings";
/// The schema version objects get when the client sends none (`[TF]` schema.json).
pub(super) const LOG_STORAGE_VERSION: &str = "1.0.18";
/// The scope of environment-wide objects.
pub(super) const ENVIRONMENT_SCOPE: &str = "environment";

/// A settings object as tests see it.
#[derive(Clone, Debug, PartialEq)]
pub struct SettingsObjectView {
    pub object_id: String,
    pub schema_id: String,
    pub schema_version: String,
    pub scope: String,
    pub external_id: Option<String>,
    pub value: Value,
    pub update_token: String,
}

#[derive(Clone)]
pub(super) struct HostGroup {
    pub(super) id: String,
    pub(super) name: String,
}

#[derive(Clone)]
pub(super) struct SettingsObject {
    pub(super) object_id: String,
    pub(super) schema_id: String,
    pub(super) schema_version: String,
    pub(super) scope: String,
    pub(super) external_id: Option<String>,
    pub(super) value: Value,
    pub(super) update_token: String,
}

impl SettingsObject {
    pub(super) fn view(&self) -> SettingsObjectView {
        SettingsObjectView {
            object_id: self.object_id.clone(),
            schema_id: self.schema_id.clone(),
            schema_version: self.schema_version.clone(),
            scope: self.scope.clone(),
            external_id: self.external_id.clone(),
            value: self.value.clone(),
            update_token: self.update_token.clone(),
        }
    }

    /// The title, which is also the object's `summary`.
    pub(super) fn title(&self) -> &str {
        self.value
            .get("config-item-title")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// Replaces the value (and the schema version when given), with a fresh update token.
    pub(super) fn replace(&mut self, value: Value, schema_version: Option<String>) {
        self.value = value;
        if let Some(v) = schema_version {
            self.schema_version = v;
        }
        self.update_token = new_update_token();
    }
}

/// Where a new object goes in its (schema, scope) list.
pub(super) enum Position {
    Last,
    First,
    After(String),
}

/// A tenant's host groups (creation order) and settings objects.
#[derive(Clone, Default)]
pub(super) struct Settings {
    pub(super) host_groups: Vec<HostGroup>,
    pub(super) objects: Vec<SettingsObject>,
}

impl Settings {
    /// Adds the host group `name` (the id is derived from tenant and name), or returns the id
    /// of the one that exists.
    pub(super) fn add_host_group(&mut self, tenant: &str, name: &str) -> String {
        if let Some(g) = self.host_groups.iter().find(|g| g.name == name) {
            return g.id.clone();
        }
        let digest = Sha256::digest(format!("{tenant}/{name}").as_bytes());
        let hex: String = digest.iter().take(8).map(|b| format!("{b:02X}")).collect();
        let id = format!("HOST_GROUP-{hex}");
        self.host_groups.push(HostGroup {
            id: id.clone(),
            name: name.to_owned(),
        });
        id
    }

    pub(super) fn has_host_group(&self, id: &str) -> bool {
        self.host_groups.iter().any(|g| g.id == id)
    }

    /// A scope objects may be stored on: `environment` or a known host group.
    pub(super) fn is_known_scope(&self, scope: &str) -> bool {
        scope == ENVIRONMENT_SCOPE || self.has_host_group(scope)
    }

    pub(super) fn get(&self, object_id: &str) -> Option<&SettingsObject> {
        self.objects.iter().find(|o| o.object_id == object_id)
    }

    pub(super) fn get_mut(&mut self, object_id: &str) -> Option<&mut SettingsObject> {
        self.objects.iter_mut().find(|o| o.object_id == object_id)
    }

    pub(super) fn remove(&mut self, object_id: &str) -> Option<SettingsObject> {
        let i = self.objects.iter().position(|o| o.object_id == object_id)?;
        Some(self.objects.remove(i))
    }

    /// Another object of `schema` on `scope` with this title (the UNIQUE constraint).
    pub(super) fn title_taken(
        &self,
        schema: &str,
        scope: &str,
        title: &str,
        except: Option<&str>,
    ) -> bool {
        self.objects.iter().any(|o| {
            o.schema_id == schema
                && o.scope == scope
                && o.title() == title
                && Some(o.object_id.as_str()) != except
        })
    }

    pub(super) fn external_id_taken(&self, schema: &str, external_id: &str) -> bool {
        self.objects
            .iter()
            .any(|o| o.schema_id == schema && o.external_id.as_deref() == Some(external_id))
    }

    /// Whether `position` names a place in the (schema, scope) list.
    pub(super) fn can_insert(&self, schema: &str, scope: &str, position: &Position) -> bool {
        match position {
            Position::After(id) => self
                .get(id)
                .is_some_and(|o| o.schema_id == schema && o.scope == scope),
            Position::First | Position::Last => true,
        }
    }

    /// Stores a new object at `position` (checked with [`Self::can_insert`]; `Last` otherwise)
    /// and returns its id.
    pub(super) fn insert(
        &mut self,
        schema: &str,
        scope: &str,
        external_id: Option<String>,
        value: Value,
        schema_version: Option<String>,
        position: &Position,
    ) -> String {
        let object = SettingsObject {
            object_id: new_object_id(),
            schema_id: schema.to_owned(),
            schema_version: schema_version.unwrap_or_else(|| LOG_STORAGE_VERSION.to_owned()),
            scope: scope.to_owned(),
            external_id,
            value,
            update_token: new_update_token(),
        };
        let id = object.object_id.clone();
        let same_list = |o: &SettingsObject| o.schema_id == schema && o.scope == scope;
        let index = match position {
            Position::Last => None,
            Position::First => self.objects.iter().position(same_list),
            Position::After(after) => self
                .objects
                .iter()
                .position(|o| &o.object_id == after)
                .map(|i| i + 1),
        };
        match index {
            Some(i) => self.objects.insert(i, object),
            None => self.objects.push(object),
        }
        id
    }
}

/// An opaque object id, in the base64 style of the real ones.
fn new_object_id() -> String {
    let mut bytes = b"vu9U3hXa3q0AAAABACpidWlsdGluOmxvZ21vbml0b3Jpbmc".to_vec();
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A fresh opaque update token.
fn new_update_token() -> String {
    let mut bytes = b"vu9U3hXY3q0ATAAkABhi".to_vec();
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}
