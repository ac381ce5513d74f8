//! Unit tests of the fixture seeding, of the parsers and formats, and of the token index and
//! its cached list selections.

use super::errors::public_part;
use super::format::parse_time;
use super::query::{ListQuery, parse_fields, parse_selector};
use super::state::{Token, Tokens, bootstrap_id_of, random_alnum};
use super::*;

use chrono::{Duration, TimeZone, Utc};

fn fixture(yaml: &str) -> DynatraceFixture {
    serde_saphyr::from_str(yaml).expect("fixture parses")
}

#[test]
fn the_bootstrap_token_is_a_token_of_its_tenant_unless_listed() {
    let sb = DynatraceSandbox::from_fixture(fixture(
        r#"
tenants:
  - id: t1
    bootstrap_token: dt0c01.BOOT.S1
  - id: t2
    bootstrap_token: dt0c01.OWN.S2
    tokens:
      - {id: dt0c01.OWN, name: admin, token: dt0c01.OWN.S2, scopes: [apiTokens.read], owner: me}
      - {id: dt0c01.X, name: dtp_x, scopes: [logs.ingest]}
"#,
    ));
    assert_eq!(sb.bootstrap_token_id("t1"), "dt0c01.BOOT");
    assert!(sb.tokens("t1").is_empty());
    assert_eq!(
        sb.all_tokens("t1")[0].scopes,
        ["apiTokens.read", "apiTokens.write"]
    );
    assert_eq!(sb.bootstrap_token_id("t2"), "dt0c01.OWN");
    let x = &sb.tokens("t2")[0];
    assert_eq!((x.owner.as_str(), x.enabled), ("me", true));
    assert!(x.token.starts_with("dt0c01.X.") && x.token.len() == "dt0c01.X.".len() + 64);
}

#[test]
fn inconsistent_fixtures_are_refused() {
    for (yaml, why) in [
        (
            "tenants:\n- {id: t, bootstrap_token: b}\n- {id: t, bootstrap_token: c}\n",
            "twice",
        ),
        (
            "tenants:\n- id: t\n  bootstrap_token: b\n  tokens:\n  - {id: dt0c01.A, name: a, token: dt0c01.B.S}\n",
            "does not start",
        ),
        (
            "tenants:\n- id: t\n  bootstrap_token: b\n  tokens:\n  - {id: dt0c01.A, name: a}\n  - {id: dt0c01.A, name: b}\n",
            "twice",
        ),
        (
            "tenants:\n- {id: a/b, bootstrap_token: b}\n",
            "path segment",
        ),
    ] {
        let err = DynatraceSandbox::try_from_fixture(fixture(yaml)).unwrap_err();
        assert!(err.contains(why), "{yaml}: {err}");
    }
    assert!(serde_saphyr::from_str::<DynatraceFixture>("tenants: []\nextra: 1\n").is_err());
}

#[test]
fn dates_drop_zero_milliseconds() {
    let d = Utc.with_ymd_and_hms(2025, 1, 20, 21, 37, 2).unwrap();
    assert_eq!(fmt_date(&d), "2025-01-20T21:37:02Z");
    assert_eq!(
        fmt_date(&(d + Duration::milliseconds(7))),
        "2025-01-20T21:37:02.007Z"
    );
}

#[test]
fn fields_take_modifiers_or_an_explicit_list() {
    assert_eq!(
        parse_fields("+expirationDate,+scopes,-owner").unwrap(),
        [
            "id",
            "name",
            "enabled",
            "creationDate",
            "expirationDate",
            "scopes"
        ]
    );
    assert_eq!(parse_fields("name").unwrap(), ["id", "name"]);
    assert!(parse_fields(" expirationDate").is_err());
    assert!(parse_fields("+secret").is_err());
}

#[test]
fn selectors_parse_owner_scope_and_personal_flag() {
    let s = parse_selector(
        r#"owner("john.smith"), scope("metrics.ingest","lo~"gs"),personalAccessToken(false)"#,
    )
    .unwrap();
    assert_eq!(s.owner.as_deref(), Some("john.smith"));
    assert_eq!(s.personal, Some(false));
    assert_eq!(s.scopes.unwrap(), ["metrics.ingest", "lo\"gs"]);
    assert!(parse_selector("owner(").is_err());
    assert!(parse_selector("colour(\"red\")").is_err());
}

#[test]
fn relative_and_absolute_times_parse() {
    let now = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    assert_eq!(parse_time("now+14d", now), Some(now + Duration::days(14)));
    assert_eq!(parse_time("now-2h", now), Some(now - Duration::hours(2)));
    assert_eq!(parse_time("1735689600000", now), Some(now));
    assert_eq!(parse_time("2025-01-01T00:00:00.000Z", now), Some(now));
    assert_eq!(parse_time("now+14", now), None);
    assert_eq!(parse_time("tomorrow", now), None);
}

#[test]
fn generated_secrets_have_the_documented_shape() {
    let v = random_alnum(64);
    assert_eq!(v.len(), 64);
    assert!(
        v.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    );
    assert_eq!(bootstrap_id_of("dt0c01.BOOT.SECRET"), "dt0c01.BOOT");
    assert_eq!(bootstrap_id_of("plain").len(), "dt0c01.".len() + 24);
    assert_eq!(public_part("dt0c01.A.SECRET"), "dt0c01.A");
    assert_eq!(public_part("dt0c01.A"), "dt0c01.A");
}

fn token(id: &str, value: &str, created: chrono::DateTime<Utc>) -> Token {
    Token::bootstrap(id.to_owned(), value.to_owned(), created)
}

#[test]
fn the_token_index_finds_by_id_or_value_first_in_creation_order() {
    let now = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    let mut tokens = Tokens::default();
    // A listed bootstrap token may have any value, even another token's id.
    let odd = tokens.push(token("dt0c01.ODD", "dt0c01.X", now));
    let x = tokens.push(token("dt0c01.X", "dt0c01.X.S", now));
    assert_eq!(tokens.find("dt0c01.X"), Some(odd));
    assert_eq!(tokens.find("dt0c01.X.S"), Some(x));
    assert_eq!(tokens.by_id("dt0c01.X"), Some(x));
    assert_eq!(tokens.find("dt0c01.NONE"), None);
    assert!(tokens.remove(odd).is_some());
    assert_eq!(tokens.find("dt0c01.X"), Some(x));
    assert_eq!(tokens.by_value("dt0c01.X"), None);
    assert_eq!(tokens.len(), 1);
}

#[test]
fn list_selections_are_cached_until_a_token_changes() {
    let at = |s| Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, s).unwrap();
    let mut tokens = Tokens::default();
    let a = tokens.push(token("dt0c01.A", "dt0c01.A.S", at(1)));
    let b = tokens.push(token("dt0c01.B", "dt0c01.B.S", at(2)));
    let newest_first = ListQuery::parse("t", "").unwrap_or_else(|_| panic!("a valid query"));
    let by_use = ListQuery::parse("t", "sort=-lastUsedDate").unwrap_or_else(|_| panic!("valid"));
    assert_eq!(&*tokens.select(&newest_first), [b, a]);
    assert_eq!(&*tokens.select(&by_use), [a, b]);
    // A recorded use changes what depends on last use, and only that.
    tokens.record_use(b, at(9));
    assert_eq!(&*tokens.select(&by_use), [b, a]);
    assert_eq!(&*tokens.select(&newest_first), [b, a]);
    // Any other change ends every cached selection.
    tokens.get_mut(a).unwrap().creation_date = at(3);
    assert_eq!(&*tokens.select(&newest_first), [a, b]);
    let c = tokens.push(token("dt0c01.C", "dt0c01.C.S", at(4)));
    assert_eq!(&*tokens.select(&newest_first), [c, a, b]);
    tokens.remove(a);
    assert_eq!(&*tokens.select(&newest_first), [c, b]);
}
