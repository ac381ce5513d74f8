//! The schema the sandbox serves, mirroring the subset of `graphql/schema.graphql` dtp uses
//! (same type, field and argument names and nullability): the top-level queries and the
//! object types, each resolving its fields from the datafile JSON through [`Node`].

use super::filters::select;
use super::values::{GqlResult, Json, Node};
use crate::clients::appinterface::{
    CLUSTER_SCHEMA, DYNATRACE_ENVIRONMENT_SCHEMA, NAMESPACE_SCHEMA, OCM_ENVIRONMENT_SCHEMA,
    SETTINGS_SCHEMA, TOKEN_SPEC_SCHEMA,
};
use async_graphql::{Context, Object};

const INTEGRATION_SCHEMA: &str = "/app-sre/integration-1.yml";
pub(super) struct QueryRoot;

#[Object(name = "Query")]
impl QueryRoot {
    /// Datafiles of schema /dependencies/dynatrace-environment-1.yml.
    #[graphql(name = "dynatrace_environment_v1")]
    async fn dynatrace_environment_v1(
        &self,
        ctx: &Context<'_>,
        path: Option<String>,
        filter: Option<Json>,
    ) -> GqlResult<Option<Vec<DynatraceEnvironmentV1>>> {
        let nodes = select(
            ctx,
            DYNATRACE_ENVIRONMENT_SCHEMA,
            "DynatraceEnvironment_v1",
            &[("path", path)],
            filter,
        )?;
        Ok(Some(
            nodes.into_iter().map(DynatraceEnvironmentV1).collect(),
        ))
    }

    /// Datafiles of schema /dynatrace/dynatrace-token-provider-token-spec-1.yml.
    #[graphql(name = "dynatrace_token_provider_token_spec_v1")]
    async fn dynatrace_token_provider_token_spec_v1(
        &self,
        ctx: &Context<'_>,
        path: Option<String>,
        filter: Option<Json>,
    ) -> GqlResult<Option<Vec<TokenSpecV1>>> {
        let nodes = select(
            ctx,
            TOKEN_SPEC_SCHEMA,
            "DynatraceTokenProviderTokenSpec_v1",
            &[("path", path)],
            filter,
        )?;
        Ok(Some(nodes.into_iter().map(TokenSpecV1).collect()))
    }

    /// Datafiles of schema /openshift/openshift-cluster-manager-environment-1.yml.
    #[graphql(name = "ocm_environments_v1")]
    async fn ocm_environments_v1(
        &self,
        ctx: &Context<'_>,
        name: Option<String>,
        path: Option<String>,
        filter: Option<Json>,
    ) -> GqlResult<Vec<OcmEnvironmentV1>> {
        let nodes = select(
            ctx,
            OCM_ENVIRONMENT_SCHEMA,
            "OpenShiftClusterManagerEnvironment_v1",
            &[("name", name), ("path", path)],
            filter,
        )?;
        Ok(nodes.into_iter().map(OcmEnvironmentV1).collect())
    }

    /// Datafiles of schema /app-interface/app-interface-settings-1.yml.
    #[graphql(name = "app_interface_settings_v1")]
    async fn app_interface_settings_v1(
        &self,
        ctx: &Context<'_>,
        path: Option<String>,
        filter: Option<Json>,
    ) -> GqlResult<Option<Vec<AppInterfaceSettingsV1>>> {
        let nodes = select(
            ctx,
            SETTINGS_SCHEMA,
            "AppInterfaceSettings_v1",
            &[("path", path)],
            filter,
        )?;
        Ok(Some(
            nodes.into_iter().map(AppInterfaceSettingsV1).collect(),
        ))
    }

    /// Datafiles of schema /app-sre/integration-1.yml.
    #[graphql(name = "integrations_v1")]
    async fn integrations_v1(
        &self,
        ctx: &Context<'_>,
        path: Option<String>,
        filter: Option<Json>,
    ) -> GqlResult<Option<Vec<IntegrationV1>>> {
        let nodes = select(
            ctx,
            INTEGRATION_SCHEMA,
            "Integration_v1",
            &[("path", path)],
            filter,
        )?;
        Ok(Some(nodes.into_iter().map(IntegrationV1).collect()))
    }

    /// Datafiles of schema /openshift/cluster-1.yml.
    #[graphql(name = "clusters_v1")]
    async fn clusters_v1(
        &self,
        ctx: &Context<'_>,
        path: Option<String>,
        name: Option<String>,
        filter: Option<Json>,
    ) -> GqlResult<Option<Vec<ClusterV1>>> {
        let nodes = select(
            ctx,
            CLUSTER_SCHEMA,
            "Cluster_v1",
            &[("path", path), ("name", name)],
            filter,
        )?;
        Ok(Some(nodes.into_iter().map(ClusterV1).collect()))
    }

    /// Datafiles of schema /openshift/namespace-1.yml.
    #[graphql(name = "namespaces_v1")]
    async fn namespaces_v1(
        &self,
        ctx: &Context<'_>,
        path: Option<String>,
        name: Option<String>,
        filter: Option<Json>,
    ) -> GqlResult<Option<Vec<NamespaceV1>>> {
        let nodes = select(
            ctx,
            NAMESPACE_SCHEMA,
            "Namespace_v1",
            &[("path", path), ("name", name)],
            filter,
        )?;
        Ok(Some(nodes.into_iter().map(NamespaceV1).collect()))
    }
}

struct VaultSecretV1(Node);

#[Object(name = "VaultSecret_v1")]
impl VaultSecretV1 {
    async fn path(&self) -> GqlResult<String> {
        self.0.req_string("path")
    }
    async fn field(&self) -> GqlResult<String> {
        self.0.req_string("field")
    }
    async fn format(&self) -> GqlResult<Option<String>> {
        self.0.string("format")
    }
    async fn version(&self) -> GqlResult<Option<i32>> {
        self.0.int("version")
    }
}

struct DynatraceEnvironmentV1(Node);

#[Object(name = "DynatraceEnvironment_v1")]
impl DynatraceEnvironmentV1 {
    async fn schema(&self) -> GqlResult<String> {
        self.0.req_string("schema")
    }
    async fn path(&self) -> GqlResult<String> {
        self.0.req_string("path")
    }
    async fn name(&self) -> GqlResult<String> {
        self.0.req_string("name")
    }
    async fn description(&self) -> GqlResult<String> {
        self.0.req_string("description")
    }
    #[graphql(name = "environmentID")]
    async fn environment_id(&self) -> GqlResult<String> {
        self.0.req_string("environmentID")
    }
    async fn environment_url(&self) -> GqlResult<String> {
        self.0.req_string("environmentUrl")
    }
    async fn bootstrap_token(&self, ctx: &Context<'_>) -> GqlResult<VaultSecretV1> {
        self.0
            .req_child(ctx, "bootstrapToken", "VaultSecret_v1")
            .map(VaultSecretV1)
    }
    async fn environment(&self) -> GqlResult<Option<String>> {
        self.0.string("environment")
    }
    async fn dynatrace_region(&self) -> GqlResult<Option<String>> {
        self.0.string("dynatraceRegion")
    }
    async fn aws_region(&self) -> GqlResult<Option<Vec<String>>> {
        self.0.strings("awsRegion")
    }
}

struct TokenSpecV1(Node);

#[Object(name = "DynatraceTokenProviderTokenSpec_v1")]
impl TokenSpecV1 {
    async fn path(&self) -> GqlResult<String> {
        self.0.req_string("path")
    }
    async fn schema(&self) -> GqlResult<String> {
        self.0.req_string("schema")
    }
    async fn name(&self) -> GqlResult<String> {
        self.0.req_string("name")
    }
    async fn description(&self) -> GqlResult<String> {
        self.0.req_string("description")
    }
    #[graphql(name = "ocm_org_ids")]
    async fn ocm_org_ids(&self) -> GqlResult<Vec<String>> {
        self.0.req_strings("ocm_org_ids")
    }
    async fn secrets(&self, ctx: &Context<'_>) -> GqlResult<Vec<TokenSecretV1>> {
        let nodes = self
            .0
            .req_children(ctx, "secrets", "DynatraceTokenProviderTokenSecret_v1")?;
        Ok(nodes.into_iter().map(TokenSecretV1).collect())
    }
}

struct TokenSecretV1(Node);

#[Object(name = "DynatraceTokenProviderTokenSecret_v1")]
impl TokenSecretV1 {
    async fn name(&self) -> GqlResult<String> {
        self.0.req_string("name")
    }
    async fn namespace(&self) -> GqlResult<String> {
        self.0.req_string("namespace")
    }
    async fn tokens(&self, ctx: &Context<'_>) -> GqlResult<Vec<ApiTokenV1>> {
        let nodes = self.0.req_children(ctx, "tokens", "DynatraceAPIToken_v1")?;
        Ok(nodes.into_iter().map(ApiTokenV1).collect())
    }
}

struct ApiTokenV1(Node);

#[Object(name = "DynatraceAPIToken_v1")]
impl ApiTokenV1 {
    async fn name(&self) -> GqlResult<String> {
        self.0.req_string("name")
    }
    async fn key_name_in_secret(&self) -> GqlResult<Option<String>> {
        self.0.string("keyNameInSecret")
    }
    async fn scopes(&self) -> GqlResult<Vec<String>> {
        self.0.req_strings("scopes")
    }
}

struct OcmEnvironmentV1(Node);

#[Object(name = "OpenShiftClusterManagerEnvironment_v1")]
impl OcmEnvironmentV1 {
    async fn schema(&self) -> GqlResult<String> {
        self.0.req_string("schema")
    }
    async fn path(&self) -> GqlResult<String> {
        self.0.req_string("path")
    }
    async fn labels(&self) -> Option<Json> {
        self.0.json("labels")
    }
    async fn name(&self) -> GqlResult<String> {
        self.0.req_string("name")
    }
    async fn url(&self) -> GqlResult<String> {
        self.0.req_string("url")
    }
    async fn description(&self) -> GqlResult<Option<String>> {
        self.0.string("description")
    }
    async fn access_token_client_id(&self) -> GqlResult<String> {
        self.0.req_string("accessTokenClientId")
    }
    async fn access_token_url(&self) -> GqlResult<String> {
        self.0.req_string("accessTokenUrl")
    }
    async fn access_token_client_secret(&self, ctx: &Context<'_>) -> GqlResult<VaultSecretV1> {
        self.0
            .req_child(ctx, "accessTokenClientSecret", "VaultSecret_v1")
            .map(VaultSecretV1)
    }
    async fn telemeter(&self, ctx: &Context<'_>) -> GqlResult<Option<PrometheusInstanceV1>> {
        Ok(self
            .0
            .child(ctx, "telemeter", "PrometheusInstance_v1")?
            .map(PrometheusInstanceV1))
    }
}

/// Subset: the `auth` interface field is left out.
struct PrometheusInstanceV1(Node);

#[Object(name = "PrometheusInstance_v1")]
impl PrometheusInstanceV1 {
    async fn schema(&self) -> GqlResult<String> {
        self.0.req_string("schema")
    }
    async fn path(&self) -> GqlResult<String> {
        self.0.req_string("path")
    }
    async fn name(&self) -> GqlResult<String> {
        self.0.req_string("name")
    }
    async fn labels(&self) -> Option<Json> {
        self.0.json("labels")
    }
    async fn description(&self) -> GqlResult<Option<String>> {
        self.0.string("description")
    }
    async fn base_url(&self) -> GqlResult<String> {
        self.0.req_string("baseUrl")
    }
    async fn query_path(&self) -> GqlResult<Option<String>> {
        self.0.string("queryPath")
    }
}

/// Subset: only the scalar fields.
struct AppInterfaceSettingsV1(Node);

#[Object(name = "AppInterfaceSettings_v1")]
impl AppInterfaceSettingsV1 {
    async fn schema(&self) -> GqlResult<String> {
        self.0.req_string("schema")
    }
    async fn path(&self) -> GqlResult<String> {
        self.0.req_string("path")
    }
    async fn labels(&self) -> Option<Json> {
        self.0.json("labels")
    }
    async fn name(&self) -> GqlResult<String> {
        self.0.req_string("name")
    }
    async fn description(&self) -> GqlResult<String> {
        self.0.req_string("description")
    }
    async fn repo_url(&self) -> GqlResult<String> {
        self.0.req_string("repoUrl")
    }
    async fn vault(&self) -> GqlResult<bool> {
        self.0.req_bool("vault")
    }
    async fn kube_binary(&self) -> GqlResult<String> {
        self.0.req_string("kubeBinary")
    }
    async fn merge_request_gateway(&self) -> GqlResult<Option<String>> {
        self.0.string("mergeRequestGateway")
    }
    async fn saas_deploy_job_template(&self) -> GqlResult<String> {
        self.0.req_string("saasDeployJobTemplate")
    }
    async fn hash_length(&self) -> GqlResult<i32> {
        self.0.req_int("hashLength")
    }
}

/// Subset: `pr_check` and `managed` are left out.
struct IntegrationV1(Node);

#[Object(name = "Integration_v1")]
impl IntegrationV1 {
    async fn schema(&self) -> GqlResult<String> {
        self.0.req_string("schema")
    }
    async fn path(&self) -> GqlResult<String> {
        self.0.req_string("path")
    }
    async fn labels(&self) -> Option<Json> {
        self.0.json("labels")
    }
    async fn name(&self) -> GqlResult<String> {
        self.0.req_string("name")
    }
    async fn description(&self) -> GqlResult<String> {
        self.0.req_string("description")
    }
    async fn upstream(&self) -> GqlResult<Option<String>> {
        self.0.string("upstream")
    }
    async fn schemas(&self) -> GqlResult<Vec<String>> {
        self.0.req_strings("schemas")
    }
}

/// Subset: the fields of the log-rules reconciler.
struct ClusterV1(Node);

#[Object(name = "Cluster_v1")]
impl ClusterV1 {
    async fn schema(&self) -> GqlResult<String> {
        self.0.req_string("schema")
    }
    async fn path(&self) -> GqlResult<String> {
        self.0.req_string("path")
    }
    async fn labels(&self) -> Option<Json> {
        self.0.json("labels")
    }
    async fn name(&self) -> GqlResult<String> {
        self.0.req_string("name")
    }
    async fn description(&self) -> GqlResult<String> {
        self.0.req_string("description")
    }
    async fn disable(&self, ctx: &Context<'_>) -> GqlResult<Option<DisableClusterAutomationsV1>> {
        Ok(self
            .0
            .child(ctx, "disable", "DisableClusterAutomations_v1")?
            .map(DisableClusterAutomationsV1))
    }
    async fn dynatrace_environment(
        &self,
        ctx: &Context<'_>,
    ) -> GqlResult<Option<DynatraceEnvironmentV1>> {
        Ok(self
            .0
            .child(ctx, "dynatraceEnvironment", "DynatraceEnvironment_v1")?
            .map(DynatraceEnvironmentV1))
    }
}

/// Subset: `e2eTests` is left out.
struct DisableClusterAutomationsV1(Node);

#[Object(name = "DisableClusterAutomations_v1")]
impl DisableClusterAutomationsV1 {
    async fn integrations(&self) -> GqlResult<Option<Vec<String>>> {
        self.0.strings("integrations")
    }
}

/// Subset: the fields of the log-rules reconciler.
struct NamespaceV1(Node);

#[Object(name = "Namespace_v1")]
impl NamespaceV1 {
    async fn schema(&self) -> GqlResult<String> {
        self.0.req_string("schema")
    }
    async fn path(&self) -> GqlResult<String> {
        self.0.req_string("path")
    }
    async fn labels(&self) -> Option<Json> {
        self.0.json("labels")
    }
    async fn name(&self) -> GqlResult<String> {
        self.0.req_string("name")
    }
    async fn description(&self) -> GqlResult<String> {
        self.0.req_string("description")
    }
    async fn delete(&self) -> GqlResult<Option<bool>> {
        self.0.bool("delete")
    }
    async fn cluster(&self, ctx: &Context<'_>) -> GqlResult<ClusterV1> {
        self.0
            .req_child(ctx, "cluster", "Cluster_v1")
            .map(ClusterV1)
    }
    async fn enable_dynatrace_logging(&self) -> GqlResult<Option<bool>> {
        self.0.bool("enableDynatraceLogging")
    }
}
