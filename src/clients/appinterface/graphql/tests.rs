//! Unit tests of the GraphQL source: endpoints, configuration errors, redaction.

use super::*;

fn source(url: &str, token: Option<&str>) -> GraphqlSource {
    GraphqlSource::new(
        url,
        token.map(|t| SecretString::from(t.to_owned())),
        crate::clients::http::Http::new(crate::clients::http::HttpSettings::default())
            .expect("client"),
    )
}

fn try_source(url: &str, token: Option<&str>) -> Result<GraphqlSource, AppInterfaceError> {
    GraphqlSource::try_new(
        url,
        token.map(|t| SecretString::from(t.to_owned())),
        crate::clients::http::Http::new(crate::clients::http::HttpSettings::default())
            .expect("client"),
    )
}

#[test]
fn the_bundle_endpoints_replace_the_path_of_the_configured_url() {
    let s = source(
        "https://gql.example.com:8443/some/graphql?x=1",
        Some("Basic abc"),
    );
    assert_eq!(s.origin(), "https://gql.example.com:8443");
    assert_eq!(
        s.sha_endpoint("f00"),
        "https://gql.example.com:8443/graphqlsha/f00"
    );
}

#[test]
fn an_unusable_url_or_token_is_a_configuration_error_that_hides_credentials() {
    for url in ["not a url", "ftp://host/graphql", "file:///graphql"] {
        let err = try_source(url, None).unwrap_err();
        assert!(matches!(err, AppInterfaceError::Config(_)), "{url}: {err}");
    }
    let err = try_source("https://user:hunter2@host/graphql", None).unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
    let s = source("https://user:hunter2@host/graphql", None);
    assert!(!s.server().contains("hunter2"), "{}", s.server());

    let err = try_source("https://host/graphql", Some("Basic a\nb")).unwrap_err();
    assert!(
        err.to_string().contains("not a valid HTTP header value"),
        "{err}"
    );
    assert!(!err.to_string().contains("Basic a"), "{err}");
    assert!(try_source("https://host/graphql", Some("Basic abc\n")).is_ok());
}

#[tokio::test]
async fn a_source_built_from_a_bad_url_fails_every_load() {
    let err = source("ftp://host", None).load().await.unwrap_err();
    assert!(matches!(err, AppInterfaceError::Config(_)), "{err}");
}

#[test]
fn the_debug_output_never_shows_the_token() {
    let s = source("https://host/graphql", Some("Basic c2VjcmV0"));
    let text = format!("{s:?}");
    assert!(
        text.contains("<redacted>") && !text.contains("c2VjcmV0"),
        "{text}"
    );
}

#[test]
fn server_error_bodies_give_their_graphql_messages() {
    let body = serde_json::json!({"errors": [{"message": "a"}, {"message": "b"}]});
    assert_eq!(gql_message(&body).as_deref(), Some("a; b"));
    assert_eq!(gql_message(&serde_json::json!({"errors": []})), None);
    let e: graphql_client::Error = serde_json::from_value(serde_json::json!({
        "message": "boom", "path": ["token_specs", 0, "name"]
    }))
    .unwrap();
    assert_eq!(describe(&e), "boom (at token_specs/0/name)");
}
