//! Plain Rust inspection and mutation of the host groups and settings objects, for tests:
//! seeding host groups and pre-existing objects (such as the log-config Job's rule), reading
//! what dtp stored, and changes behind dtp's back (a new value, a removed object or group).

use super::DynatraceSandbox;
use super::schema::validate_log_storage;
use super::settings::{LOG_STORAGE_SCHEMA, Position, SettingsObject, SettingsObjectView};
use serde_json::Value;

impl DynatraceSandbox {
    /// Adds the host group `name` to `tenant` and returns its `HOST_GROUP-<16 hex>` id (the
    /// existing id when the group exists).
    pub fn add_host_group(&self, tenant: &str, name: &str) -> String {
        self.with_tenant_mut(tenant, |t| t.settings.add_host_group(tenant, name))
    }

    /// Removes a host group (its objects stay, dangling). `false` when absent.
    pub fn remove_host_group(&self, tenant: &str, entity_id: &str) -> bool {
        self.with_tenant_mut(tenant, |t| {
            let before = t.settings.host_groups.len();
            t.settings.host_groups.retain(|g| g.id != entity_id);
            t.settings.host_groups.len() != before
        })
    }

    /// `tenant`'s host groups as (entityId, name), in creation order.
    pub fn host_groups(&self, tenant: &str) -> Vec<(String, String)> {
        self.with_tenant(tenant, |t| {
            let groups = t.settings.host_groups.iter();
            groups.map(|g| (g.id.clone(), g.name.clone())).collect()
        })
    }

    /// Every settings object of `tenant`, each (schema, scope) in its schema's order.
    pub fn settings_objects(&self, tenant: &str) -> Vec<SettingsObjectView> {
        self.with_tenant(tenant, |t| {
            t.settings
                .objects
                .iter()
                .map(SettingsObject::view)
                .collect()
        })
    }

    pub fn settings_object(&self, tenant: &str, object_id: &str) -> Option<SettingsObjectView> {
        self.with_tenant(tenant, |t| {
            t.settings.get(object_id).map(SettingsObject::view)
        })
    }

    /// Stores a `builtin:logmonitoring.log-storage-settings` object last on `scope`, as
    /// another writer (the log-config Job) would, and returns its objectId. Panics on an
    /// unknown scope or an invalid value (a mistake in the test).
    pub fn seed_settings_object(
        &self,
        tenant: &str,
        scope: &str,
        external_id: Option<&str>,
        value: Value,
    ) -> String {
        let problems = validate_log_storage(&value);
        assert!(problems.is_empty(), "invalid seeded value: {problems:?}");
        self.with_tenant_mut(tenant, |t| {
            assert!(
                t.settings.is_known_scope(scope),
                "unknown settings scope '{scope}'"
            );
            let ext = external_id.map(str::to_owned);
            let s = &mut t.settings;
            s.insert(LOG_STORAGE_SCHEMA, scope, ext, value, None, &Position::Last)
        })
    }

    /// Replaces an object's value behind dtp's back (a new updateToken). `false` when absent.
    pub fn set_settings_value(&self, tenant: &str, object_id: &str, value: Value) -> bool {
        self.with_tenant_mut(tenant, |t| {
            t.settings
                .get_mut(object_id)
                .map(|o| o.replace(value, None))
                .is_some()
        })
    }

    /// Deletes an object behind dtp's back. `false` when absent.
    pub fn remove_settings_object(&self, tenant: &str, object_id: &str) -> bool {
        self.with_tenant_mut(tenant, |t| t.settings.remove(object_id).is_some())
    }
}
