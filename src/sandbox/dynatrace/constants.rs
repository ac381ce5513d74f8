//! The vocabulary of the token API: the scopes it accepts, the `ApiToken` fields (all, the
//! list defaults, the sortable ones), the `pageSize` bounds and the bootstrap token's
//! defaults.
/// Scopes the token API accepts on create and update: the app-interface token-spec enum, the
/// scopes of the v2 API surface and the common v1 ones. Anything else is rejected with a
/// constraint violation, as the real API does for an unknown enum value.
pub const KNOWN_SCOPES: &[&str] = &[
    // app-interface `dynatrace-token-provider-token-spec-1.yml`
    "metrics.ingest",
    "logs.ingest",
    "events.ingest",
    "activeGateTokenManagement.create",
    "entities.read",
    "settings.write",
    "settings.read",
    "DataExport",
    "InstallerDownload",
    "SupportAlert",
    "ExternalSyntheticIntegration",
    // API v2
    "apiTokens.read",
    "apiTokens.write",
    "openTelemetryTrace.ingest",
    "metrics.read",
    "metrics.write",
    "logs.read",
    "events.read",
    "entities.write",
    "problems.read",
    "problems.write",
    "auditLogs.read",
    "activeGateTokenManagement.read",
    "activeGateTokenManagement.write",
    "activeGates.read",
    "activeGates.write",
    "bizevents.ingest",
    "credentialVault.read",
    "credentialVault.write",
    "extensions.read",
    "extensions.write",
    "extensionConfigurations.read",
    "extensionConfigurations.write",
    "extensionEnvironment.read",
    "extensionEnvironment.write",
    "networkZones.read",
    "networkZones.write",
    "oneAgents.read",
    "oneAgents.write",
    "releases.read",
    "securityProblems.read",
    "securityProblems.write",
    "slo.read",
    "slo.write",
    "syntheticLocations.read",
    "syntheticLocations.write",
    "tenantTokenRotation.write",
    "traces.lookup",
    // API v1
    "ReadConfig",
    "WriteConfig",
    "PluginUpload",
    "DcrumIntegration",
    "AdvancedSyntheticIntegration",
    "LogExport",
    "DTAQLAccess",
    "UserSessionAnonymization",
    "DataPrivacy",
    "CaptureRequestData",
    "Davis",
    "DssFileManagement",
    "RumJavaScriptTagManagement",
    "TenantTokenManagement",
    "ActiveGateCertManagement",
    "RestRequestForwarding",
    "ReadSyntheticData",
    "DataImport",
];

/// Every field an `ApiToken` can have, in the order the sandbox writes them.
pub(super) const ALL_FIELDS: &[&str] = &[
    "id",
    "name",
    "enabled",
    "personalAccessToken",
    "owner",
    "creationDate",
    "expirationDate",
    "lastUsedDate",
    "lastUsedIpAddress",
    "modifiedDate",
    "scopes",
    "additionalMetadata",
];
/// The fields a list returns without `fields`.
pub(super) const DEFAULT_FIELDS: &[&str] = &["id", "name", "enabled", "owner", "creationDate"];
pub(super) const SORT_FIELDS: &[&str] = &[
    "name",
    "lastUsedDate",
    "creationDate",
    "expirationDate",
    "modifiedDate",
];
pub(super) const MIN_PAGE_SIZE: usize = 100;
pub(super) const MAX_PAGE_SIZE: usize = 10_000;
pub(super) const DEFAULT_PAGE_SIZE: usize = 200;
/// Name and owner of a bootstrap token the fixture does not list itself.
pub(super) const BOOTSTRAP_NAME: &str = "bootstrap";
pub(super) const BOOTSTRAP_OWNER: &str = "dtp-bootstrap";
pub(super) const AUTH_FAILED: &str = "Token Authentication failed";
