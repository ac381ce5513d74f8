//! The first phase of a run: read app-interface from one bundle, validate it (every problem,
//! exit 2 on any), check the `--ocm-env` filter against it, and choose the secret reader that
//! app-interface's `vault` setting asks for.

use super::{Dependencies, RunError};
use crate::clients::{AppInterfaceSource, SecretReader};
use crate::config::Filters;
use crate::model::AppInterfaceData;
use crate::model::validate::validate_app_interface;
use std::sync::Arc;
use tracing::info;

/// What the rest of a run builds on.
pub struct Inputs {
    pub data: AppInterfaceData,
    pub secrets: Arc<dyn SecretReader>,
}

/// Reads and validates app-interface data (`dtp validate`, and the first step of a run).
pub async fn load_and_validate(
    source: &dyn AppInterfaceSource,
) -> Result<AppInterfaceData, RunError> {
    let data = source.load().await?;
    let problems = validate_app_interface(&data);
    if problems.is_empty() {
        Ok(data)
    } else {
        Err(RunError::Invalid(problems))
    }
}

pub(super) async fn read(deps: &Dependencies, filters: &Filters) -> Result<Inputs, RunError> {
    let data = load_and_validate(deps.app_interface.as_ref()).await?;
    info!(
        bundle_sha = data.bundle_sha.as_deref().unwrap_or("-"),
        dynatrace_environments = data.dynatrace_environments.len(),
        ocm_environments = data.ocm_environments.len(),
        token_specs = data.token_specs.len(),
        "read app-interface"
    );
    for name in &filters.ocm_envs {
        if !data.ocm_environments.iter().any(|e| &e.name == name) {
            return Err(RunError::Config(format!(
                "--ocm-env (DTP_OCM_ENV) '{name}': no such OCM environment in app-interface"
            )));
        }
    }
    let secrets = deps.secrets.reader(data.vault).await?;
    Ok(Inputs { data, secrets })
}
