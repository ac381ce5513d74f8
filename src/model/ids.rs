//! Identifier newtypes. OCM has two cluster identifiers (the internal `id` used in
//! `/clusters/{id}` paths and the `external_id` UUID used in token names and service logs);
//! mixing them up is a classic bug, so each id is its own type. None of these carry secrets.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn new(s: impl Into<String>) -> Self {
                Self(s.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }
    };
}

id_type!(
    /// OCM internal cluster id (`cluster.id`), used in clusters_mgmt paths.
    ClusterId
);
id_type!(
    /// Cluster UUID (`cluster.external_id`): part of token names, `cluster_uuid` of service logs.
    ExternalClusterId
);
id_type!(
    /// accounts_mgmt subscription id.
    SubscriptionId
);
id_type!(
    /// OCM organization id.
    OrgId
);
id_type!(
    /// Dynatrace tenant (environment) id, e.g. `abc12345`; the value of the tenant labels.
    TenantId
);
id_type!(
    /// Dynatrace token id (`dt0c01.PUBLIC`): safe to log, unlike the token itself.
    TokenId
);
id_type!(
    /// Token spec name (`dynatrace_token_provider_token_spec_v1.name`).
    SpecName
);
id_type!(
    /// OCM environment name from app-interface.
    OcmEnvName
);
