//! The dynamic client over TLS against real tonic TLS servers whose
//! certificates are generated here: a private CA with the system's roots
//! off, a server-name override, mutual TLS, and each failure a user meets
//! told in plain words (unknown CA, name mismatch, expired certificate, a
//! missing client certificate, TLS against plaintext and the reverse).

mod client_support;

use std::time::Duration;

use client_support::{dynamic, method, typed};
use reprise_grpc_stub::client::{CallOptions, ClientConfig, ClientTls, GrpcClient};
use reprise_grpc_stub::config::{GrpcDependencyConfig, TlsConfig};
use reprise_grpc_stub::{Code, RpcStatus};
use reprise_system_tests::proto::example::{HelloReply, HelloRequest};
use reprise_system_tests::{TestCa, spawn_greeter_server, spawn_tls_greeter_server};

const LIMIT: Duration = Duration::from_secs(20);

fn private(ca: &TestCa) -> ClientTls {
    ClientTls {
        ca_pem: Some(ca.cert_pem.clone()),
        system_roots: false,
        ..ClientTls::default()
    }
}

/// Says hello to `endpoint` with `tls` (`None`: the client's default).
async fn hello(endpoint: &str, tls: Option<ClientTls>) -> Result<String, RpcStatus> {
    let config = ClientConfig {
        tls,
        connect_timeout: Some(Duration::from_secs(5)),
        ..ClientConfig::default()
    };
    let client = GrpcClient::new(endpoint, config).expect("client");
    let request = dynamic("example.HelloRequest", &HelloRequest { name: "tls".into() });
    let (say_hello, options) = (method("example.Greeter", "SayHello"), CallOptions::new());
    let call = client.unary(&say_hello, request, &options);
    let response = tokio::time::timeout(LIMIT, call)
        .await
        .expect("answered in time")?;
    Ok(typed::<HelloReply>(&response.message).message)
}

/// The failure of a call that must fail as UNAVAILABLE, its message.
async fn refused(endpoint: &str, tls: Option<ClientTls>) -> String {
    let err = hello(endpoint, tls).await.expect_err("the call fails");
    assert_eq!(err.code, Code::Unavailable, "{err}");
    assert!(err.message.contains(endpoint), "{err}");
    err.message
}

#[tokio::test]
async fn a_private_ca_is_trusted_with_the_system_roots_off() {
    let ca = TestCa::new("reprise test CA").unwrap();
    let server = spawn_tls_greeter_server(&ca.server(&["127.0.0.1"]).unwrap(), None)
        .await
        .unwrap();
    assert!(server.endpoint().starts_with("https://"));
    assert_eq!(
        hello(&server.endpoint(), Some(private(&ca))).await.unwrap(),
        "Hello, tls!"
    );

    // Another CA's certificate, or the system's roots alone: unknown CA.
    let other = TestCa::new("someone else").unwrap();
    let message = refused(&server.endpoint(), Some(private(&other))).await;
    assert!(message.contains("unknown CA"), "{message}");
    assert!(message.contains("tls.ca"), "says what to set: {message}");
    let message = refused(&server.endpoint(), None).await;
    assert!(message.contains("unknown CA"), "{message}");
}

#[tokio::test]
async fn the_server_name_can_be_overridden_and_a_mismatch_is_named() {
    let ca = TestCa::new("reprise test CA").unwrap();
    let server = spawn_tls_greeter_server(&ca.server(&["routes.internal"]).unwrap(), None)
        .await
        .unwrap();
    let message = refused(&server.endpoint(), Some(private(&ca))).await;
    assert!(
        message.contains("not valid for the name") && message.contains("tls.server-name"),
        "{message}"
    );
    let named = ClientTls {
        server_name: Some("routes.internal".into()),
        ..private(&ca)
    };
    assert_eq!(
        hello(&server.endpoint(), Some(named)).await.unwrap(),
        "Hello, tls!"
    );
}

#[tokio::test]
async fn an_expired_certificate_is_named() {
    let ca = TestCa::new("reprise test CA").unwrap();
    let server = spawn_tls_greeter_server(&ca.expired_server(&["127.0.0.1"]).unwrap(), None)
        .await
        .unwrap();
    let message = refused(&server.endpoint(), Some(private(&ca))).await;
    assert!(message.contains("expired"), "{message}");
}

#[tokio::test]
async fn mutual_tls_is_given_when_required_and_its_absence_named() {
    let ca = TestCa::new("reprise test CA").unwrap();
    let clients = TestCa::new("reprise client CA").unwrap();
    let server =
        spawn_tls_greeter_server(&ca.server(&["127.0.0.1"]).unwrap(), Some(&clients.cert_pem))
            .await
            .unwrap();
    let message = refused(&server.endpoint(), Some(private(&ca))).await;
    assert!(
        message.contains("requires a client certificate"),
        "{message}"
    );

    // The configuration as a dependency carries it: the certificate
    // embedded, the key read from the executor's environment.
    let client = clients.client("worker").unwrap();
    let dependency = GrpcDependencyConfig {
        timeout_ms: 5000,
        tls: Some(TlsConfig {
            ca_pem: Some(ca.cert_pem.clone()),
            system_roots: false,
            server_name: None,
            client_cert_pem: Some(client.cert_pem.clone()),
            client_key_env: Some("REPRISE_SECRET_GREETER_KEY".into()),
        }),
        ..GrpcDependencyConfig::new("greeter", Vec::new(), Vec::new(), server.endpoint())
    };
    let key = client.key_pem.clone();
    let config = ClientConfig::for_dependency(&dependency, |name| {
        (name == "REPRISE_SECRET_GREETER_KEY").then(|| key.clone())
    })
    .expect("configured");
    assert!(
        !format!("{config:?}").contains("PRIVATE KEY"),
        "the key is never printed"
    );
    assert_eq!(
        hello(&server.endpoint(), config.tls).await.unwrap(),
        "Hello, tls!"
    );

    // A key variable that is not set, or holds no key, is named.
    let err = ClientConfig::for_dependency(&dependency, |_| None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("REPRISE_SECRET_GREETER_KEY"), "{err}");
    let err = ClientConfig::for_dependency(&dependency, |_| Some("hunter2".into()))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("REPRISE_SECRET_GREETER_KEY") && !err.contains("hunter2"),
        "{err}"
    );
}

#[tokio::test]
async fn tls_against_plaintext_and_plaintext_against_tls_are_named() {
    let plain = spawn_greeter_server().await.unwrap();
    let as_tls = plain.endpoint().replace("http://", "https://");
    let message = refused(&as_tls, None).await;
    assert!(
        message.contains("plaintext server") && message.contains("http://"),
        "{message}"
    );

    let ca = TestCa::new("reprise test CA").unwrap();
    let server = spawn_tls_greeter_server(&ca.server(&["127.0.0.1"]).unwrap(), None)
        .await
        .unwrap();
    let as_plain = server.endpoint().replace("https://", "http://");
    let message = refused(&as_plain, None).await;
    assert!(
        message.contains("TLS server") && message.contains("https://"),
        "{message}"
    );
}

#[tokio::test]
async fn the_connect_timeout_bounds_a_stalled_tls_handshake() {
    // Tonic bounds only the TCP connection with it; the handshake had a
    // fixed 10 s, whatever the dependency's connect-timeout said.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("https://{}", listener.local_addr().unwrap());
    // Accepts and says nothing, holding every connection.
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        // Bounded by the test's life (the task is aborted at its end).
        while let Ok((socket, _)) = listener.accept().await {
            sockets.push(socket);
        }
    });
    let ca = TestCa::new("reprise test CA").unwrap();
    let config = ClientConfig {
        tls: Some(private(&ca)),
        connect_timeout: Some(Duration::from_millis(300)),
        default_timeout: Some(Duration::from_secs(30)),
        ..ClientConfig::default()
    };
    let client = GrpcClient::new(&endpoint, config).expect("client");
    let request = dynamic("example.HelloRequest", &HelloRequest { name: "tls".into() });
    let (say_hello, options) = (method("example.Greeter", "SayHello"), CallOptions::new());
    let started = std::time::Instant::now();
    let call = client.unary(&say_hello, request, &options);
    let err = tokio::time::timeout(LIMIT, call)
        .await
        .expect("answered in time")
        .expect_err("nothing answers");
    let waited = started.elapsed();
    held.abort();
    assert_eq!(err.code, Code::Unavailable, "{err}");
    assert!(waited < Duration::from_secs(5), "{waited:?}: {err}");
}
