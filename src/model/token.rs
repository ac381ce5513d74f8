//! Dynatrace tokens as the pure core sees them: the metadata the token list shows
//! ([`DtToken`], never a secret) and a token Dynatrace just created ([`CreatedToken`], the only
//! time its secret is visible, kept as a [`SecretString`]).

use super::ids::TokenId;
use chrono::{DateTime, Utc};
use secrecy::SecretString;

/// A token as the Dynatrace token list shows it (never its secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DtToken {
    pub id: TokenId,
    pub name: String,
    /// `None` when the server did not say.
    pub enabled: Option<bool>,
    pub expiration_date: Option<DateTime<Utc>>,
    /// `creationDate`, when the server said (orphans younger than the grace period are kept).
    pub created: Option<DateTime<Utc>>,
    /// Present when the server returned scopes in the list.
    pub scopes: Option<Vec<String>>,
}

/// A token Dynatrace just created: the only time its secret is visible. `Debug` shows the id
/// only (`SecretString` redacts the value).
#[derive(Clone, Debug)]
pub struct CreatedToken {
    pub id: TokenId,
    pub token: SecretString,
}
