//! In-process, stateful fakes of the systems dtp talks to, following their documented
//! contracts: OCM (SSO, accounts_mgmt, clusters_mgmt, service_logs), Dynatrace tokens v2 and
//! qontract-server GraphQL. Seeded from a YAML fixture; they back the tests and `dtp demo`.
//! Feature-gated (`sandbox`): never part of the production image.

pub mod common;
