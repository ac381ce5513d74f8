//! The operations, compiled by `graphql_client` against the schema subset
//! (`graphql/schema.graphql`). Each struct is named after its operation; the derive generates a
//! module of the same name (snake case) with `Variables` and `ResponseData`.

use graphql_client::GraphQLQuery;

/// The `JSON` scalar of the schema (the generated code refers to it by this name).
type Json = serde_json::Value;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/schema.graphql",
    query_path = "graphql/token_specs.graphql",
    response_derives = "Debug",
    normalization = "rust"
)]
pub struct DynatraceTokenProviderTokenSpecs;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/schema.graphql",
    query_path = "graphql/dynatrace_environments.graphql",
    response_derives = "Debug",
    normalization = "rust"
)]
pub struct DynatraceEnvironment;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/schema.graphql",
    query_path = "graphql/ocm_environments.graphql",
    response_derives = "Debug",
    normalization = "rust"
)]
pub struct OcmEnvironments;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/schema.graphql",
    query_path = "graphql/vault_settings.graphql",
    response_derives = "Debug",
    normalization = "rust"
)]
pub struct AppInterfaceVaultSettings;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/schema.graphql",
    query_path = "graphql/log_rules/clusters.graphql",
    response_derives = "Debug",
    normalization = "rust"
)]
pub struct LogRulesClusters;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/schema.graphql",
    query_path = "graphql/log_rules/namespaces.graphql",
    response_derives = "Debug",
    normalization = "rust"
)]
pub struct LogRulesNamespaces;
