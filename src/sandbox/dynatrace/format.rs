//! How the token API writes things: the JSON of a token restricted to `fields` (never its
//! value), dates (`.SSS` dropped when the milliseconds are zero), and the times it accepts
//! (UTC milliseconds, ISO 8601, `now±<n><unit>`).

use super::state::Token;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};
/// The JSON of a token with `fields` (never its value).
pub(super) fn token_json<S: AsRef<str>>(t: &Token, fields: &[S]) -> Value {
    let mut m = Map::new();
    for field in fields {
        let value = match field.as_ref() {
            "id" => json!(t.id),
            "name" => json!(t.name),
            "enabled" => json!(t.enabled),
            "personalAccessToken" => json!(t.personal_access_token),
            "owner" => json!(t.owner),
            "creationDate" => json!(fmt_date(&t.creation_date)),
            "expirationDate" => match &t.expiration_date {
                Some(d) => json!(fmt_date(d)),
                None => continue,
            },
            "lastUsedDate" => match &t.last_used_date {
                Some(d) => json!(fmt_date(d)),
                None => continue,
            },
            "lastUsedIpAddress" => match &t.last_used_ip {
                Some(ip) => json!(ip),
                None => continue,
            },
            "modifiedDate" => match &t.modified_date {
                Some(d) => json!(fmt_date(d)),
                None => continue,
            },
            "scopes" => json!(t.scopes),
            _ => continue,
        };
        m.insert(field.as_ref().to_owned(), value);
    }
    Value::Object(m)
}

/// `yyyy-MM-ddTHH:mm:ss.SSSZ`, without `.SSS` when the milliseconds are zero (as Dynatrace).
pub fn fmt_date(d: &DateTime<Utc>) -> String {
    if d.timestamp_subsec_millis() == 0 {
        d.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
    }
}

/// A time as the API accepts it: UTC milliseconds, ISO 8601, or relative to now
/// (`now`, `now-2h`, `now+14d`; units s, m, h, d, w, M = 30 days, y = 365 days).
pub(super) fn parse_time(s: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(ms) = s.parse::<i64>() {
        return DateTime::from_timestamp_millis(ms);
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    let rel = s.strip_prefix("now")?;
    if rel.is_empty() {
        return Some(now);
    }
    let (sign, rest) = match rel.split_at_checked(1)? {
        ("+", rest) => (1, rest),
        ("-", rest) => (-1, rest),
        _ => return None,
    };
    let unit_at = rest.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = rest.split_at(unit_at);
    let n: i64 = n.parse().ok()?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        "M" => 30 * 86_400,
        "y" => 365 * 86_400,
        _ => return None,
    };
    now.checked_add_signed(Duration::try_seconds(sign * n.checked_mul(secs)?)?)
}
