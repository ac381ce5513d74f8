//! Dynatrace tokens as the pure core sees them: the metadata the token list shows
//! ([`DtToken`], never a secret) and a token Dynatrace just created ([`CreatedToken`], the only
//! time its secret is visible, kept as a [`SecretString`]).

use super::ids::TokenId;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use std::collections::HashSet;
use std::sync::Arc;

/// A token's scopes. Shared: the tokens of one tenant have few distinct scope sets, so a
/// listing keeps one copy of each ([`ScopeSets`]).
pub type Scopes = Arc<[String]>;

/// The distinct scope sets of one listing.
#[derive(Debug, Default)]
pub struct ScopeSets(HashSet<Scopes>);

impl ScopeSets {
    /// The shared copy of `scopes`.
    pub fn intern(&mut self, scopes: Vec<String>) -> Scopes {
        if let Some(s) = self.0.get(scopes.as_slice()) {
            return s.clone();
        }
        let s: Scopes = scopes.into();
        self.0.insert(s.clone());
        s
    }
}

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
    pub scopes: Option<Scopes>,
}

/// A token Dynatrace just created: the only time its secret is visible. `Debug` shows the id
/// only (`SecretString` redacts the value).
#[derive(Clone, Debug)]
pub struct CreatedToken {
    pub id: TokenId,
    pub token: SecretString,
}

/// `text` with the secret part of everything shaped like a Dynatrace token
/// (`dt0c01.<id>.<secret>`) replaced by [`super::REDACTED`]; the id part stays, so the token
/// can still be found. For messages a server wrote (an error body may echo a token).
pub fn redact_token_secrets(text: &str) -> String {
    const PREFIX: &str = "dt0c01.";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(PREFIX) {
        let after = &rest[at + PREFIX.len()..];
        let id_len = after
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(after.len());
        let secret = after[id_len..].strip_prefix('.');
        let secret_len = secret.map_or(0, |s| {
            s.find(|c: char| !c.is_ascii_alphanumeric())
                .unwrap_or(s.len())
        });
        out.push_str(&rest[..at + PREFIX.len() + id_len]);
        if id_len > 0 && secret_len > 0 {
            out.push('.');
            out.push_str(super::REDACTED);
            rest = &after[id_len + 1 + secret_len..];
        } else {
            rest = &after[id_len..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::redact_token_secrets;

    #[test]
    fn token_secrets_are_redacted_and_ids_kept() {
        assert_eq!(
            redact_token_secrets("Token dt0c01.ABC123.s3cr3tS3CR3T is not valid"),
            format!(
                "Token dt0c01.ABC123.{} is not valid",
                super::super::REDACTED
            )
        );
        assert_eq!(
            redact_token_secrets("id dt0c01.ABC123 only"),
            "id dt0c01.ABC123 only"
        );
        assert_eq!(redact_token_secrets("dt0c01."), "dt0c01.");
        assert_eq!(
            redact_token_secrets("a dt0c01.X.y, b dt0c01.Z.w"),
            format!("a dt0c01.X.{r}, b dt0c01.Z.{r}", r = super::super::REDACTED)
        );
    }
}
