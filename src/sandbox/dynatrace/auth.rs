//! `Api-Token` authentication: the presented token must be an enabled, unexpired token of the
//! tenant itself with the scope the endpoint needs (`apiTokens.read`/`apiTokens.write`); a
//! successful call records the token's last use. The settings and entities endpoints name
//! their scopes ([`Need::All`]) and answer a missing one with a 403, as the Settings API does.

use super::constants::AUTH_FAILED;
use super::errors::{Reject, error};
use super::state::{Handle, SandboxState, Tenant};
use axum::http::{HeaderMap, StatusCode, header};
use chrono::{DateTime, Utc};
/// Which scope an endpoint needs (lookup needs only a valid token).
#[derive(Clone, Copy)]
pub(super) enum Need {
    Read,
    Write,
    AnyValidToken,
    /// Every one of these scopes; a missing one is a 403.
    All(&'static [&'static str]),
}

/// Finds the tenant and checks the caller's token (found by value in the tenant's index); on
/// success, records its use and returns the tenant and the caller's handle.
pub(super) fn authorize<'s>(
    state: &'s mut SandboxState,
    tenant: &str,
    headers: &HeaderMap,
    need: Need,
    now: DateTime<Utc>,
) -> Result<(&'s mut Tenant, Handle), Reject> {
    let Some(t) = state.tenants.get_mut(tenant) else {
        return Err(error(
            StatusCode::NOT_FOUND,
            &format!("Environment '{tenant}' not found"),
        ));
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("Api-Token"))
        .map(|(_, token)| token.trim());
    let Some(presented) = presented.filter(|p| !p.is_empty()) else {
        return Err(error(StatusCode::UNAUTHORIZED, AUTH_FAILED));
    };
    let Some((caller, token)) = t
        .tokens
        .by_value(presented)
        .and_then(|h| Some((h, t.tokens.get(h)?)))
        .filter(|(_, x)| x.usable_at(now))
    else {
        return Err(error(StatusCode::UNAUTHORIZED, AUTH_FAILED));
    };
    let scope = match need {
        Need::Read => Some("apiTokens.read"),
        Need::Write => Some("apiTokens.write"),
        Need::AnyValidToken => None,
        Need::All(scopes) => {
            if let Some(missing) = scopes
                .iter()
                .find(|s| !token.scopes.iter().any(|t| t == *s))
            {
                return Err(error(
                    StatusCode::FORBIDDEN,
                    &format!("Token is missing required scope. Use one of: {missing}"),
                ));
            }
            None
        }
    };
    if let Some(scope) = scope
        && !token.scopes.iter().any(|s| s == scope)
    {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            &format!("Token is missing required scope. Use one of: {scope}"),
        ));
    }
    t.tokens.record_use(caller, now);
    Ok((t, caller))
}
