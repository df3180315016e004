//! An OpenAPI dependency's credentials: its client key
//! (`tls.client-key-env`) is read from the executor's environment when its
//! client is built, and when it cannot be read, each call to the
//! dependency's origin is refused naming the variable, as for gRPC, instead
//! of the whole component failing to load; its `auth` goes with every call
//! but to an operation that says `security: []`, and alone (not beside a
//! header of the same name the guest set).

use std::sync::Arc;
use std::time::Duration;

use reprise_executor::deps::OpenApiDependencyConfig;
use reprise_executor::rest::client::{RestClient, SendFailure, install_crypto_provider};
use reprise_openapi::runtime::HttpRequest;
use reprise_system_tests::TestCa;

const UNSET: &str = "REPRISE_SECRET_TEST_REST_KEY_NEVER_SET";

#[tokio::test]
async fn an_unreadable_client_key_fails_the_call_not_the_component() {
    // Building the client failed with `InvalidComponent`; after a restart
    // without the variable, the stored component was reported damaged
    // ("upload it again") and every one of its workers failed to load.
    install_crypto_provider();
    let ca = TestCa::new("rest-key-ca").unwrap();
    let client = ca.client("worker").unwrap();
    let doc = "openapi: 3.0.3\ninfo: {title: Pings, version: \"1\"}\npaths:\n  /ping:\n    get:\n      operationId: ping\n      responses:\n        \"204\": {description: ok}\n";
    let config = OpenApiDependencyConfig {
        name: "pings".into(),
        openapi: reprise_openapi::parse(doc, "pings.yaml", &Default::default()).unwrap(),
        base_url: "https://127.0.0.1:1".into(),
        timeout_ms: 1000,
        auth: None,
        retry: None,
        tls: Some(reprise_grpc_stub::config::TlsConfig {
            ca_pem: Some(ca.cert_pem.clone()),
            system_roots: false,
            client_cert_pem: Some(client.cert_pem.clone()),
            client_key_env: Some(UNSET.into()),
            ..Default::default()
        }),
    };
    assert!(std::env::var(UNSET).is_err());
    let rest = RestClient::new(Arc::new(config)).expect("the component loads");
    let request = HttpRequest {
        method: "GET".into(),
        path_and_query: "/ping".into(),
        headers: Vec::new(),
        body: None,
        anonymous: false,
    };
    match rest
        .send(
            "https://127.0.0.1:1",
            &request,
            None,
            Duration::from_secs(1),
        )
        .await
    {
        Err(SendFailure::Setup(message)) => {
            assert!(
                message.contains(UNSET) && message.contains("pings"),
                "{message}"
            );
        }
        other => panic!("expected a refusal naming the variable: {other:?}"),
    }
}

#[tokio::test]
async fn an_operation_without_security_gets_no_credentials() {
    // It got the dependency's bearer token like every other operation.
    install_crypto_provider();
    let app = axum::Router::new().route(
        "/{name}",
        axum::routing::get(|headers: axum::http::HeaderMap| async move {
            headers
                .get("authorization")
                .map_or("none".to_owned(), |v| v.to_str().unwrap_or("?").to_owned())
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let doc = "openapi: 3.0.3\ninfo: {title: Pings, version: \"1\"}\npaths:\n  /ping:\n    get:\n      \
               operationId: ping\n      responses:\n        \"200\": {description: ok, content: \
               {text/plain: {schema: {type: string}}}}\n  /open:\n    get:\n      operationId: \
               open\n      security: []\n      responses:\n        \"200\": {description: ok, \
               content: {text/plain: {schema: {type: string}}}}\n";
    let model = reprise_openapi::parse(doc, "pings.yaml", &Default::default()).unwrap();
    let config = OpenApiDependencyConfig {
        name: "pings".into(),
        openapi: model.clone(),
        base_url: base_url.clone(),
        timeout_ms: 5000,
        // Any variable the process has: its value is the token.
        auth: Some(reprise_grpc_stub::config::AuthConfig::Bearer {
            token_env: "PATH".into(),
        }),
        retry: None,
        tls: None,
    };
    let rest = RestClient::new(Arc::new(config)).unwrap();
    let mut seen = Vec::new();
    for operation in ["ping", "open"] {
        let (interface, function) =
            reprise_openapi::runtime::function(&model, "ping-collection", operation)
                .or_else(|| {
                    reprise_openapi::runtime::function(&model, "open-collection", operation)
                })
                .unwrap();
        let request = reprise_openapi::runtime::request(&model, interface, function, &[]).unwrap();
        let answer = rest
            .send(&base_url, &request, None, Duration::from_secs(5))
            .await
            .unwrap();
        seen.push(String::from_utf8(answer.body).unwrap());
    }
    let path = std::env::var("PATH").unwrap();
    assert_eq!(seen, [format!("Bearer {path}"), "none".to_owned()]);
}

#[tokio::test]
async fn an_api_key_header_the_guest_also_sets_is_sent_once_with_the_manifests_key() {
    // A document that declares its API-key header as a parameter too gives
    // the guest a field for it: both went out, the guest's first.
    install_crypto_provider();
    let app = axum::Router::new().route(
        "/ping",
        axum::routing::get(|headers: axum::http::HeaderMap| async move {
            let keys: Vec<&str> = headers
                .get_all("x-api-key")
                .iter()
                .map(|v| v.to_str().unwrap_or("?"))
                .collect();
            keys.join(" | ")
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let doc = "openapi: 3.0.3\ninfo: {title: Pings, version: \"1\"}\npaths:\n  /ping:\n    get:\n      \
               operationId: ping\n      responses:\n        \"200\": {description: ok, content: \
               {text/plain: {schema: {type: string}}}}\n";
    let config = OpenApiDependencyConfig {
        name: "pings".into(),
        openapi: reprise_openapi::parse(doc, "pings.yaml", &Default::default()).unwrap(),
        base_url: base_url.clone(),
        timeout_ms: 5000,
        // Any variable the process has: its value is the key.
        auth: Some(reprise_grpc_stub::config::AuthConfig::ApiKey {
            header: "X-API-Key".into(),
            value_env: "PATH".into(),
        }),
        retry: None,
        tls: None,
    };
    let rest = RestClient::new(Arc::new(config)).unwrap();
    let request = HttpRequest {
        method: "GET".into(),
        path_and_query: "/ping".into(),
        headers: vec![("x-api-key".into(), "the-guests-value".into())],
        body: None,
        anonymous: false,
    };
    let answer = rest
        .send(&base_url, &request, None, Duration::from_secs(5))
        .await
        .unwrap();
    let path = std::env::var("PATH").unwrap();
    assert_eq!(String::from_utf8(answer.body).unwrap(), path);
}
