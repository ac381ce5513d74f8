//! Dynatrace token names (behaviour B29): `dtp_<name[:46]>_<cluster uuid>_<scope hash>`, the
//! scope hash being the first 12 hex digits of sha256 over the sorted scopes joined by `,`.
//! The hash lets the token list (which has no scopes) reveal scope drift by name alone.

use super::ids::ExternalClusterId;
use sha2::{Digest, Sha256};

/// Longest token-name part kept in the Dynatrace token name (schema `maxLength 46`).
pub const MAX_TOKEN_NAME_LEN: usize = 46;

/// Every token name dtp gives starts with this.
pub const TOKEN_NAME_PREFIX: &str = "dtp_";

/// The Python integration lists (and so repairs) every token whose name starts with this; a
/// token not named so is never updated by dtp (it is not dtp's).
pub const OWNED_NAME_PREFIX: &str = "dtp";

/// First 12 hex characters of sha256(sorted(scopes).join(",")). Sorting is by code point
/// (uppercase before lowercase) and keeps duplicates, exactly as Python's `sorted`.
pub fn scope_hash(scopes: &[String]) -> String {
    let mut sorted: Vec<&str> = scopes.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    let digest = Sha256::digest(sorted.join(",").as_bytes());
    let hex = format!("{digest:x}");
    hex[..12].to_owned()
}

/// The name dtp gives the Dynatrace token of one spec token on one cluster.
pub fn token_name(spec_token_name: &str, cluster: &ExternalClusterId, scopes: &[String]) -> String {
    // Python slices by code point, not byte: do the same.
    let short: String = spec_token_name.chars().take(MAX_TOKEN_NAME_LEN).collect();
    format!(
        "{TOKEN_NAME_PREFIX}{short}_{cluster}_{}",
        scope_hash(scopes)
    )
}

/// The part shared by the names of every token dtp gives one cluster (`_<uuid>_`).
pub fn cluster_token_infix(cluster: &ExternalClusterId) -> String {
    format!("_{cluster}_")
}

/// Whether a token name is one dtp gives this cluster (`dtp_<name>_<uuid>_<hash>`): only such
/// tokens are ever deleted by dtp.
pub fn named_for_cluster(name: &str, cluster: &ExternalClusterId) -> bool {
    name.starts_with(TOKEN_NAME_PREFIX) && name.contains(&cluster_token_infix(cluster))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn ingestion_scopes_hash_to_the_reference_vector() {
        let scopes = s(&["metrics.ingest", "logs.ingest", "events.ingest"]);
        assert_eq!(scope_hash(&scopes), "f6e7fac64719");
        assert_eq!(
            token_name("ingestion-token", &"external_id_a".into(), &scopes),
            "dtp_ingestion-token_external_id_a_f6e7fac64719"
        );
    }

    #[test]
    fn operator_scopes_hash_to_the_reference_vector() {
        let scopes = s(&[
            "activeGateTokenManagement.create",
            "entities.read",
            "settings.write",
            "settings.read",
            "DataExport",
            "InstallerDownload",
        ]);
        assert_eq!(scope_hash(&scopes), "1b6c3b9a7248");
        assert_eq!(
            token_name("operator-token", &"external_id_a".into(), &scopes),
            "dtp_operator-token_external_id_a_1b6c3b9a7248"
        );
    }

    #[test]
    fn scope_order_does_not_change_the_hash_but_duplicates_do() {
        let a = s(&["b", "a"]);
        let b = s(&["a", "b"]);
        assert_eq!(scope_hash(&a), scope_hash(&b));
        assert_ne!(scope_hash(&a), scope_hash(&s(&["a", "b", "b"])));
    }

    #[test]
    fn long_token_names_are_cut_at_46_characters() {
        let long = "x".repeat(60);
        let name = token_name(&long, &"uuid".into(), &s(&["a"]));
        assert!(name.starts_with(&format!("dtp_{}_uuid_", "x".repeat(46))));
    }
}
