//! A form request body (`application/x-www-form-urlencoded`) sent by the
//! REST client to a real HTTP server, which reads it with its own form
//! parser (axum's `Form`): the fields arrive decoded as the guest gave
//! them, with the form's content type.

use std::sync::Arc;
use std::time::Duration;

use reprise_executor::deps::OpenApiDependencyConfig;
use reprise_executor::rest::client::{RestClient, install_crypto_provider};
use wasmtime::component::Val;

const DOC: &str = r#"
openapi: 3.0.3
info: {title: Tokens, version: "1"}
paths:
  /token:
    post:
      operationId: getToken
      requestBody:
        required: true
        content:
          application/x-www-form-urlencoded:
            schema:
              type: object
              required: [grant_type]
              properties:
                grant_type: {type: string}
                scope: {type: array, items: {type: string}}
                note: {type: string}
            encoding:
              scope: {style: form, explode: false}
      responses:
        "200": {description: ok, content: {text/plain: {schema: {type: string}}}}
"#;

#[tokio::test]
async fn a_form_body_reaches_a_server_s_form_parser_as_the_guest_gave_it() {
    install_crypto_provider();
    let app = axum::Router::new().route(
        "/token",
        axum::routing::post(
            |headers: axum::http::HeaderMap, form: axum::Form<Vec<(String, String)>>| async move {
                let media = headers
                    .get("content-type")
                    .map_or("none".to_owned(), |v| v.to_str().unwrap_or("?").to_owned());
                let pairs: Vec<String> = form.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("{media}\n{}", pairs.join("\n"))
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let model = reprise_openapi::parse(DOC, "tokens.yaml", &Default::default()).unwrap();
    let config = OpenApiDependencyConfig {
        name: "tokens".into(),
        openapi: model.clone(),
        base_url: base_url.clone(),
        timeout_ms: 5000,
        auth: None,
        retry: None,
        tls: None,
    };
    let rest = RestClient::new(Arc::new(config)).unwrap();
    let (interface, function) =
        reprise_openapi::runtime::function(&model, "token-collection", "get-token").unwrap();
    let some = |v: Val| Val::Option(Some(Box::new(v)));
    let body = Val::Record(vec![
        (
            "grant-type".into(),
            Val::String("client_credentials".into()),
        ),
        (
            "scope".into(),
            some(Val::List(vec![
                Val::String("read".into()),
                Val::String("write all".into()),
            ])),
        ),
        ("note".into(), some(Val::String("a=b&c+d é".into()))),
    ]);
    let request = reprise_openapi::runtime::request(
        &model,
        interface,
        function,
        &[Val::Record(vec![("body".into(), body)])],
    )
    .unwrap();
    let answer = rest
        .send(&base_url, &request, None, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(answer.status, 200, "{answer:?}");
    let text = String::from_utf8(answer.body).unwrap();
    assert_eq!(
        text,
        "application/x-www-form-urlencoded\ngrant_type=client_credentials\nscope=read,write all\nnote=a=b&c+d é"
    );
}
