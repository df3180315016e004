//! How much one answer may decode to: at most
//! [`MAX_ANSWER_VALUES`](reprise_openapi::runtime::MAX_ANSWER_VALUES)
//! component values (each byte of binary data one), so that a 16 MiB body
//! of bytes or numbers does not become more than half a gigabyte of host
//! memory. The cases of a `oneOf` tried one after another count once. A
//! number past a 32-bit float's range is refused, not read as infinity.

#![cfg(feature = "runtime")]

use reprise_openapi::runtime::{HttpResponse, MAX_ANSWER_VALUES, function, response};
use reprise_openapi::{ApiModel, Options, parse};
use wasmtime::component::Val;

const DOC: &str = r##"
openapi: 3.0.3
info: {title: Blobs, version: "1"}
paths:
  /blob:
    get:
      operationId: getBlob
      responses:
        "200": {description: ok, content: {application/octet-stream: {schema: {type: string, format: binary}}}}
  /numbers:
    get:
      operationId: getNumbers
      responses:
        "200": {description: ok, content: {application/json: {schema: {type: array, items: {type: integer}}}}}
  /packed:
    get:
      operationId: getPacked
      responses:
        "200": {description: ok, content: {application/json: {schema: {$ref: "#/components/schemas/Packed"}}}}
  /price:
    get:
      operationId: getPrice
      responses:
        "200": {description: ok, content: {application/json: {schema: {type: number, format: float}}}}
  /either:
    get:
      operationId: getEither
      responses:
        "200": {description: ok, content: {application/json: {schema: {$ref: "#/components/schemas/Either"}}}}
components:
  schemas:
    Packed:
      type: object
      required: [data]
      properties: {data: {type: string, format: byte}}
    Either:
      oneOf: [{$ref: "#/components/schemas/Short"}, {$ref: "#/components/schemas/Long"}]
    Short:
      type: object
      required: [items]
      properties: {items: {type: array, items: {type: integer}}}
    Long:
      type: object
      required: [items, label]
      properties: {items: {type: array, items: {type: integer}}, label: {type: string}}
"##;

fn model() -> ApiModel {
    parse(DOC, "blobs.yaml", &Options::default()).unwrap()
}

fn answer(content_type: &str, body: Vec<u8>) -> HttpResponse {
    HttpResponse {
        status: 200,
        headers: vec![("content-type".into(), content_type.into())],
        body,
    }
}

/// The error message of a refused answer, or a panic naming what came.
fn refusal(value: Val) -> String {
    match value {
        Val::Result(Err(Some(error))) => format!("{error:?}"),
        Val::Result(Ok(_)) => panic!("the answer was accepted"),
        other => panic!("not a result: {other:?}"),
    }
}

/// A JSON array of `n` ones.
fn ones(n: usize) -> String {
    let mut text = String::with_capacity(2 * n + 2);
    text.push('[');
    for i in 0..n {
        if i > 0 {
            text.push(',');
        }
        text.push('1');
    }
    text.push(']');
    text
}

#[test]
fn a_binary_answer_holds_at_most_the_limit_in_bytes() {
    let model = model();
    let (interface, get) = function(&model, "blob-collection", "get-blob").unwrap();
    let at_limit = response(
        &model,
        interface,
        get,
        &answer("application/octet-stream", vec![7; MAX_ANSWER_VALUES]),
    );
    let Val::Result(Ok(Some(body))) = at_limit else {
        panic!("refused at the limit");
    };
    let Val::List(bytes) = *body else {
        panic!("not a list");
    };
    assert_eq!(bytes.len(), MAX_ANSWER_VALUES);
    let over = refusal(response(
        &model,
        interface,
        get,
        &answer("application/octet-stream", vec![7; MAX_ANSWER_VALUES + 1]),
    ));
    assert!(
        over.contains("more than 4194304 values"),
        "{}",
        &over[..over.len().min(400)]
    );
}

#[test]
fn json_answers_count_every_value_and_every_decoded_byte() {
    let model = model();
    let (interface, get) = function(&model, "numbers-collection", "get-numbers").unwrap();
    // The array itself is a value: the limit holds one item fewer.
    let fits = response(
        &model,
        interface,
        get,
        &answer("application/json", ones(MAX_ANSWER_VALUES - 1).into_bytes()),
    );
    assert!(matches!(fits, Val::Result(Ok(Some(_)))), "refused");
    let over = refusal(response(
        &model,
        interface,
        get,
        &answer("application/json", ones(MAX_ANSWER_VALUES).into_bytes()),
    ));
    assert!(
        over.contains("more than 4194304 values"),
        "{}",
        &over[..400]
    );

    // Base64 data counts its decoded bytes.
    use base64::Engine as _;
    let data = base64::engine::general_purpose::STANDARD.encode(vec![1u8; MAX_ANSWER_VALUES]);
    let (interface, get) = function(&model, "packed-collection", "get-packed").unwrap();
    let over = refusal(response(
        &model,
        interface,
        get,
        &answer(
            "application/json",
            format!(r#"{{"data":"{data}"}}"#).into_bytes(),
        ),
    ));
    assert!(
        over.contains("body.data: the answer decodes"),
        "{}",
        &over[..400]
    );
}

#[test]
fn cases_tried_one_after_another_count_once() {
    // `Short` reads the items and leaves `label` unread, so `Long` is tried
    // too: the items are decoded twice, but only the kept case counts.
    let model = model();
    let (interface, get) = function(&model, "either-collection", "get-either").unwrap();
    let n = MAX_ANSWER_VALUES * 2 / 3;
    let body = format!(r#"{{"label":"x","items":{}}}"#, ones(n));
    let read = response(
        &model,
        interface,
        get,
        &answer("application/json", body.into_bytes()),
    );
    let Val::Result(Ok(Some(either))) = read else {
        panic!("refused: {}", &format!("{read:?}")[..400]);
    };
    let Val::Variant(case, _) = *either else {
        panic!("not a variant");
    };
    assert_eq!(case, "long");
}

#[test]
fn a_float_answer_past_f32_range_is_refused() {
    let model = model();
    let (interface, get) = function(&model, "price-collection", "get-price").unwrap();
    let read = |body: &str| {
        response(
            &model,
            interface,
            get,
            &answer("application/json", body.into()),
        )
    };
    assert_eq!(
        read("3.0e38"),
        Val::Result(Ok(Some(Box::new(Val::Float32(3.0e38)))))
    );
    for past in ["1e39", "-1e39"] {
        let refused = refusal(read(past));
        assert!(
            refused.contains("body: expected a number within a 32-bit float's range"),
            "{past}: {refused}"
        );
    }
}
