//! `application/x-www-form-urlencoded` request bodies (OAuth token
//! endpoints, Stripe-style APIs): a record's fields as `name=value` pairs,
//! each written as a query parameter would be, in the style the media
//! type's `encoding` gives it; and what such a body refuses.

#![cfg(feature = "runtime")]

mod common;

use reprise_openapi::runtime::{function, request};
use reprise_openapi::{ApiModel, Options, parse};
use wasmtime::component::Val;

use common::error_of;
use common::values::{none, s, some};

const DOC: &str = r##"
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
                grant_type: {type: string, enum: [client_credentials, password]}
                scope: {type: array, items: {type: string}}
                audience: {type: string}
                metadata: {type: object, properties: {team: {type: string}, tier: {type: integer}}}
                extra: {type: object, properties: {a: {type: array, items: {type: integer}}}}
                id: {type: string, readOnly: true}
                note: {type: string}
            encoding:
              metadata: {style: deepObject, explode: true}
              extra: {contentType: application/json}
              scope: {style: form, explode: false}
      responses:
        "200":
          description: ok
          content: {application/json: {schema: {type: object, properties: {access_token: {type: string}}}}}
"##;

fn model() -> ApiModel {
    parse(DOC, "tokens.yaml", &Options::default()).unwrap()
}

/// The body `getToken` sends for `fields` (kebab names; the others absent).
fn sent(given: &[(&str, Val)]) -> Result<(String, String), Val> {
    let model = model();
    let (interface, get) = function(&model, "token-collection", "get-token").unwrap();
    let names = [
        "grant-type",
        "scope",
        "audience",
        "metadata",
        "extra",
        "id",
        "note",
    ];
    let body = Val::Record(
        names
            .iter()
            .map(|name| {
                let value = given
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone());
                let value = match (*name, value) {
                    ("grant-type", Some(v)) => v,
                    (_, Some(v)) => some(v),
                    (_, None) => none(),
                };
                ((*name).to_owned(), value)
            })
            .collect(),
    );
    let sent = request(
        &model,
        interface,
        get,
        &[Val::Record(vec![("body".into(), body)])],
    )?;
    let (media, bytes) = sent.body.expect("a body");
    Ok((media, String::from_utf8(bytes).unwrap()))
}

#[test]
fn a_form_body_writes_each_field_in_its_style() {
    let (media, body) = sent(&[
        ("grant-type", Val::Enum("client-credentials".into())),
        ("scope", Val::List(vec![s("read"), s("write all")])),
        (
            "metadata",
            Val::Record(vec![
                ("team".into(), some(s("core & ops"))),
                ("tier".into(), some(Val::S64(2))),
            ]),
        ),
        (
            "extra",
            Val::Record(vec![(
                "a".into(),
                some(Val::List(vec![Val::S64(1), Val::S64(2)])),
            )]),
        ),
        ("id", s("set-by-the-server")),
    ])
    .unwrap();
    assert_eq!(media, "application/x-www-form-urlencoded");
    let pairs: Vec<&str> = body.split('&').collect();
    assert_eq!(
        pairs,
        [
            "grant_type=client_credentials",
            // `form`, not exploded: one name, items joined by commas.
            "scope=read,write%20all",
            // `deepObject`.
            "metadata%5Bteam%5D=core%20%26%20ops",
            "metadata%5Btier%5D=2",
            // `contentType: application/json`: its JSON text.
            "extra=%7B%22a%22%3A%5B1%2C2%5D%7D",
        ],
        "{body}"
    );
    // Absent fields and `readOnly` ones are left out; a field the
    // document says nothing of is `form`, exploded.
    let (_, body) = sent(&[
        ("grant-type", Val::Enum("password".into())),
        ("note", s("a=b")),
    ])
    .unwrap();
    assert_eq!(body, "grant_type=password&note=a%3Db");
}

#[test]
fn a_field_no_style_can_write_is_a_validation_error() {
    // An exploded `form` object holding a list has no defined form.
    let model = parse(
        &DOC.replace("              extra: {contentType: application/json}\n", ""),
        "tokens.yaml",
        &Options::default(),
    )
    .unwrap();
    let (interface, get) = function(&model, "token-collection", "get-token").unwrap();
    let mut fields: Vec<(String, Val)> = vec![
        ("grant-type".into(), Val::Enum("password".into())),
        ("scope".into(), none()),
        ("audience".into(), none()),
        ("metadata".into(), none()),
        (
            "extra".into(),
            some(Val::Record(vec![(
                "a".into(),
                some(Val::List(vec![Val::S64(1)])),
            )])),
        ),
    ];
    fields.push(("id".into(), none()));
    fields.push(("note".into(), none()));
    let refused = request(
        &model,
        interface,
        get,
        &[Val::Record(vec![("body".into(), Val::Record(fields))])],
    )
    .unwrap_err();
    let text = format!("{refused:?}");
    assert!(
        text.contains("validation-error") && text.contains("body.extra"),
        "{text}"
    );
}

#[test]
fn what_a_form_body_cannot_honour_is_refused() {
    let not_an_object = DOC.replacen(
        "            schema:\n              type: object\n",
        "            schema:\n              type: string\n",
        1,
    );
    let message = error_of(&not_an_object);
    assert!(
        message.contains("a form body's schema must be an object with properties"),
        "{message}"
    );
    let unknown = DOC.replace(
        "              scope: {style: form",
        "              scopes: {style: form",
    );
    let message = error_of(&unknown);
    assert!(
        message.contains("`encoding` names `scopes`, which the body's schema does not have"),
        "{message}"
    );
    let reserved = DOC.replace(
        "extra: {contentType: application/json}",
        "extra: {allowReserved: true}",
    );
    assert!(error_of(&reserved).contains("`allowReserved: true` is not supported"));
    let xml = DOC.replace(
        "extra: {contentType: application/json}",
        "extra: {contentType: application/xml}",
    );
    assert!(error_of(&xml).contains("`contentType: application/xml` is not supported"));
    let matrix = DOC.replace("{style: deepObject, explode: true}", "{style: matrix}");
    assert!(error_of(&matrix).contains("`style: matrix`"));
}
