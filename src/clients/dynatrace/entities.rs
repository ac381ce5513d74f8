//! Host groups by exact name (`GET /api/v2/entities`, `log-ingest-rules.md` §1.5; token scope
//! `entities.read`), a further method of [`DynatraceClient`] that pages like the settings list
//! ([`super::settings`]): the first request carries the entity selector, later ones
//! `nextPageKey` alone. A host group is the settings scope of a cluster's log ingest rules.

use super::DynatraceClient;
use crate::clients::http::ApiError;
use serde_json::Value;

/// The entity selector matching host groups named exactly `name` (case-sensitive):
/// `entityName("x")` would be a case-insensitive *contains* match. `"` and `\` are escaped.
pub fn host_group_selector(name: &str) -> String {
    let escaped = name.replace('\\', "\\\\").replace('"', "\\\"");
    format!("type(\"HOST_GROUP\"),entityName.equals(\"{escaped}\")")
}

impl DynatraceClient {
    /// The entity ids of the host groups named exactly `name`, over every page. Empty when
    /// none is known (or none was observed recently: the API lists observed entities only).
    pub async fn host_groups(&self, name: &str) -> Result<Vec<String>, ApiError> {
        let op = self.op(format_args!("look up host group '{name}'"));
        let selector = host_group_selector(name);
        let query = [("entitySelector", selector.as_str())];
        let entities = self
            .pages(&op, &["entities"], &query, "entities")
            .await
            .map_err(|e| self.scrub(e))?;
        entities
            .iter()
            .map(|e| {
                e.get("entityId")
                    .and_then(Value::as_str)
                    .filter(|id| !id.is_empty())
                    .map(str::to_owned)
                    .ok_or_else(|| ApiError::decode(&op, "an entity has no entityId"))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_escape_quotes_and_backslashes() {
        assert_eq!(
            host_group_selector(r#"a"b\c"#),
            r#"type("HOST_GROUP"),entityName.equals("a\"b\\c")"#
        );
    }
}
