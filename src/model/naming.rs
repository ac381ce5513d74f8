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

/// Whether dtp owns a token by its name (it starts with `dtp`, the Python integration's rule,
/// so its older names are still repaired): only such tokens are ever updated.
pub fn owned_by_dtp(name: &str) -> bool {
    name.starts_with(OWNED_NAME_PREFIX)
}

/// The parts of a name dtp gives (`dtp_<name>_<cluster>_<hash>`): the spec token's name and
/// the cluster id, given the cluster id's expected form. `None` for any other name.
fn split_name<'a>(name: &'a str, cluster: &str) -> Option<&'a str> {
    let rest = name.strip_prefix(TOKEN_NAME_PREFIX)?;
    let (rest, hash) = rest.rsplit_once('_')?;
    let hex_hash = hash.len() == 12
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !hex_hash {
        return None;
    }
    let token = rest.strip_suffix(cluster)?.strip_suffix('_')?;
    let len = token.chars().count();
    (1..=MAX_TOKEN_NAME_LEN).contains(&len).then_some(token)
}

/// Whether a token name is one dtp gives this cluster, exactly `dtp_<name>_<uuid>_<hash>`
/// (`<name>` 1 to 46 characters, `<hash>` 12 lowercase hex digits): only such tokens are ever
/// deleted by dtp.
pub fn named_for_cluster(name: &str, cluster: &ExternalClusterId) -> bool {
    !cluster.as_str().is_empty() && split_name(name, cluster.as_str()).is_some()
}

/// Every cluster id `c` for which [`named_for_cluster`]`(name, c)` holds (usually one; a name
/// whose parts hold `_` may fit several free-form ids). For indexing a token list by cluster.
pub fn clusters_named(name: &str) -> Vec<&str> {
    let Some(rest) = name.strip_prefix(TOKEN_NAME_PREFIX) else {
        return Vec::new();
    };
    let Some((rest, _)) = rest.rsplit_once('_') else {
        return Vec::new();
    };
    rest.match_indices('_')
        .map(|(i, _)| &rest[i + 1..])
        .filter(|c| !c.is_empty() && split_name(name, c).is_some())
        .collect()
}

/// The cluster a token is named for, when its name is exactly `dtp_<name>_<uuid>_<hash>` and
/// `<uuid>` is an OCM cluster UUID (8-4-4-4-12 hex digits). Used to find the tokens of
/// clusters that left the fleet.
pub fn cluster_of(name: &str) -> Option<ExternalClusterId> {
    let rest = name.strip_prefix(TOKEN_NAME_PREFIX)?;
    let (rest, _) = rest.rsplit_once('_')?;
    let (_, uuid) = rest.rsplit_once('_')?;
    let is_uuid = {
        let groups: Vec<&str> = uuid.split('-').collect();
        groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
            && groups
                .iter()
                .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    (is_uuid && split_name(name, uuid).is_some()).then(|| ExternalClusterId::new(uuid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clusters_named_are_exactly_those_named_for_cluster_holds_for() {
        let uuid = "6f0c5e0e-4a5b-4b0e-9a57-0d2d7c1f0a11";
        let name = format!("dtp_operator-token_{uuid}_0123456789ab");
        assert_eq!(clusters_named(&name), vec![uuid]);
        let free = "dtp_a_b_c_0123456789ab";
        assert_eq!(clusters_named(free), vec!["b_c", "c"]);
        for c in clusters_named(free) {
            assert!(named_for_cluster(free, &ExternalClusterId::new(c)));
        }
        assert!(clusters_named("dtp_x_0123456789ab").is_empty());
        assert!(clusters_named("other_a_b_0123456789ab").is_empty());
        assert!(clusters_named("dtp_a_b_nothex").is_empty());
    }

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
    fn only_exact_dtp_names_of_the_cluster_are_its_tokens() {
        let c = ExternalClusterId::from("6f0c7e1a-1111-4222-8333-444455556666");
        let name = token_name("ingestion-token", &c, &s(&["logs.ingest"]));
        assert!(named_for_cluster(&name, &c));
        assert_eq!(cluster_of(&name), Some(c.clone()));
        // The cluster in the middle of another name, a wrong hash, another prefix: not ours.
        for other in [
            format!("dtp_x_{c}_abc"),
            format!("dtp_x_{c}_0123456789AB"),
            format!("dtp-x_{c}_0123456789ab"),
            format!("xdtp_x_{c}_0123456789ab"),
            format!("dtp__{c}_0123456789ab"),
            format!("dtp_x_{c}-suffix_0123456789ab"),
            format!("dtp_x_prefix{c}_0123456789ab"),
            "my-token".to_owned(),
        ] {
            assert!(!named_for_cluster(&other, &c), "{other}");
        }
        // Names with underscores and the Python fixtures' free-form cluster ids.
        let py = ExternalClusterId::from("external_id_a");
        assert!(named_for_cluster(
            &token_name("operator_token", &py, &s(&["a"])),
            &py
        ));
        assert_eq!(
            cluster_of(&token_name("operator_token", &py, &s(&["a"]))),
            None
        );
        assert!(owned_by_dtp("dtp-old-style-name") && !owned_by_dtp("renamed-by-hand"));
    }

    #[test]
    fn long_token_names_are_cut_at_46_characters() {
        let long = "x".repeat(60);
        let name = token_name(&long, &"uuid".into(), &s(&["a"]));
        assert!(name.starts_with(&format!("dtp_{}_uuid_", "x".repeat(46))));
    }
}
