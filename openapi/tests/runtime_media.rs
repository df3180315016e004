//! The run-time stubs on the edges of the request and response: text and
//! octet-stream bodies sent and read as they are (not as JSON), a JSON
//! string answer parsed, path parameters inside a segment and trailing
//! slashes kept, path values that would name another resource, header
//! values HTTP cannot carry and untyped values that do not parse refused
//! before sending, an answer without a body among several 2xx ones, a 204
//! read without a body though the document gives it one, and no `Accept:
//! application/json` for an answer that is not JSON.

#![cfg(feature = "runtime")]

mod common;

use reprise_openapi::runtime::{HttpResponse, function, request, response};
use reprise_openapi::{ApiModel, Options, parse};
use wasmtime::component::Val;

use common::values::s;

const DOC: &str = r#"
openapi: 3.0.3
info: {title: Files, version: "1"}
paths:
  /reports/{id}.pdf:
    get:
      operationId: getReport
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses:
        "200": {description: ok, content: {application/octet-stream: {schema: {type: string, format: binary}}}}
  /reports/{id}.csv:
    get:
      operationId: getReportCsv
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses:
        "200": {description: ok, content: {text/csv: {schema: {type: string}}}}
        default: {description: failed, content: {application/json: {schema: {type: object, properties: {code: {type: integer}}}}}}
  /notes/{id}/:
    put:
      operationId: putNote
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
        - {name: X-Trace, in: header, schema: {type: string}}
        - {name: extra, in: query, schema: {}}
      requestBody: {required: true, content: {text/plain: {schema: {type: string}}}}
      responses:
        "200": {description: ok, content: {application/json: {schema: {type: string}}}}
        "204": {description: nothing}
  /files/{name}.{ext}:
    get:
      operationId: getFile
      parameters:
        - {name: name, in: path, required: true, schema: {type: string}}
        - {name: ext, in: path, required: true, schema: {type: string}}
      responses: {"204": {description: ok}}
  /scores:
    get:
      operationId: getScores
      parameters:
        - {name: ratio, in: query, schema: {type: number, minimum: 0, exclusiveMinimum: true}}
        - {name: cap, in: query, schema: {type: integer, exclusiveMaximum: 10}}
      responses: {"204": {description: ok}}
  /memos/{id}:
    head:
      operationId: headMemo
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses:
        "200":
          description: copied from a GET
          headers: {ETag: {schema: {type: string}}}
          content: {application/json: {schema: {type: object, properties: {title: {type: string}}}}}
    delete:
      operationId: deleteMemo
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses:
        "204":
          description: copied from a 200
          content: {application/json: {schema: {type: object, properties: {title: {type: string}}}}}
  /blobs/{ids}:
    post:
      operationId: putBlob
      parameters: [{name: ids, in: path, required: true, schema: {type: array, items: {type: integer}}}]
      requestBody: {required: true, content: {application/octet-stream: {schema: {type: string, format: binary}}}}
      responses:
        "201": {description: created}
  /batches:
    get:
      operationId: getBatches
      responses:
        "200":
          description: ok
          headers:
            X-Tags: {schema: {type: array, items: {type: string}}}
            X-Count: {$ref: '#/components/headers/Count'}
          content: {text/plain: {schema: {type: string}}}
  /accounts/{id}:
    get:
      operationId: getAccount
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses:
        "200": {description: ok, content: {"*/*": {schema: {$ref: '#/components/schemas/Account'}}}}
        "404": {description: gone, content: {"*/*": {schema: {type: string}}}}
  /accounts:
    post:
      operationId: createAccount
      requestBody: {required: true, content: {application/json: {schema: {$ref: '#/components/schemas/Account'}}}}
      responses:
        "201": {description: created, content: {application/json: {schema: {$ref: '#/components/schemas/Account'}}}}
  /avatars/{id}:
    get:
      operationId: getAvatar
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses:
        "200": {description: ok, content: {"*/*": {schema: {$ref: '#/components/schemas/Picture'}}}}
components:
  headers:
    Count: {schema: {$ref: '#/components/schemas/Counter'}}
  schemas:
    Counter: {type: integer}
    Picture: {type: string, format: binary}
    Account:
      type: object
      required: [id, name, password]
      properties:
        id: {type: string, readOnly: true, minLength: 3}
        name: {type: string}
        password: {type: string, writeOnly: true}
"#;

fn model() -> ApiModel {
    parse(DOC, "files.yaml", &Options::default()).unwrap()
}

fn bytes(data: &[u8]) -> Val {
    Val::List(data.iter().map(|b| Val::U8(*b)).collect())
}

/// The `validation-error` fields of a refused request: `field: message`
/// lines.
fn refused(error: Val) -> String {
    let Val::Variant(case, Some(payload)) = error else {
        panic!("not a variant: {error:?}");
    };
    assert_eq!(case, "validation-error");
    let Val::Record(fields) = *payload else {
        panic!("{payload:?}");
    };
    let Val::List(faults) = &fields[0].1 else {
        panic!("{fields:?}");
    };
    faults
        .iter()
        .map(|fault| match fault {
            Val::Record(f) => match (&f[0].1, &f[1].1) {
                (Val::String(field), Val::String(message)) => format!("{field}: {message}\n"),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn text_and_octet_stream_bodies_go_as_they_are() {
    // They went out as JSON: `"hello"` with quotes, bytes as base64 text.
    let model = model();
    let (interface, put) = function(&model, "notes-resource", "put-note").unwrap();
    let record = Val::Record(vec![
        ("x-trace".into(), Val::Option(None)),
        ("extra".into(), Val::Option(None)),
        ("body".into(), s("hello \"world\"\n")),
    ]);
    let sent = request(&model, interface, put, &[s("n1"), record]).unwrap();
    let (media, body) = sent.body.unwrap();
    // Saying its charset, which the document's media type does not.
    assert_eq!(media, "text/plain; charset=utf-8");
    assert_eq!(body, b"hello \"world\"\n");
    // The template's trailing slash is kept.
    assert_eq!(sent.path_and_query, "/notes/n1/");

    let (interface, blob) = function(&model, "blobs-resource", "put-blob").unwrap();
    let record = Val::Record(vec![("body".into(), bytes(&[0, 1, 2, 255]))]);
    let ids = Val::List(vec![Val::S64(1), Val::S64(2)]);
    let sent = request(&model, interface, blob, &[ids, record]).unwrap();
    assert_eq!(sent.body.unwrap().1, vec![0, 1, 2, 255]);
    // A list in the path: style `simple`, items joined by commas (it sent
    // the first item only; then the commas percent-encoded).
    assert_eq!(sent.path_and_query, "/blobs/1,2");
}

#[test]
fn answers_are_read_by_their_media_type() {
    let model = model();
    let (interface, get) = function(&model, "reports-resource", "get-report").unwrap();
    let answer = HttpResponse {
        status: 200,
        headers: vec![("content-type".into(), "application/octet-stream".into())],
        body: vec![b'"', 0, 200],
    };
    assert_eq!(
        response(&model, interface, get, &answer),
        Val::Result(Ok(Some(Box::new(bytes(&[b'"', 0, 200])))))
    );
    // A path parameter inside a segment is filled in (it was sent as the
    // literal `{id}`).
    let sent = request(&model, interface, get, &[s("q3 2026")]).unwrap();
    assert_eq!(sent.path_and_query, "/reports/q3%202026.pdf");

    // A JSON string answer is parsed (the guest got its quotes); a 204
    // among several 2xx answers is its payload-less case (it was an
    // error: "the response has no body").
    let (interface, put) = function(&model, "notes-resource", "put-note").unwrap();
    let answer = HttpResponse {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: br#""v\"2""#.to_vec(),
    };
    let Val::Result(Ok(Some(ok))) = response(&model, interface, put, &answer) else {
        panic!("not a success");
    };
    assert_eq!(
        *ok,
        Val::Variant("status200".into(), Some(Box::new(s("v\"2"))))
    );
    let answer = HttpResponse {
        status: 204,
        headers: Vec::new(),
        body: Vec::new(),
    };
    let Val::Result(Ok(Some(ok))) = response(&model, interface, put, &answer) else {
        panic!(
            "not a success: {:?}",
            response(&model, interface, put, &answer)
        );
    };
    assert_eq!(*ok, Val::Variant("status204".into(), None));
}

#[test]
fn values_a_request_cannot_carry_are_refused_before_sending() {
    let model = model();
    let (interface, put) = function(&model, "notes-resource", "put-note").unwrap();
    let record = |trace: Option<&str>, extra: Option<&str>| {
        let opt = |v: Option<&str>| Val::Option(v.map(|t| Box::new(s(t))));
        Val::Record(vec![
            ("x-trace".into(), opt(trace)),
            ("extra".into(), opt(extra)),
            ("body".into(), s("b")),
        ])
    };
    // `..` resolves to the parent, an empty value names the collection.
    for id in ["..", ".", ""] {
        let err =
            refused(request(&model, interface, put, &[s(id), record(None, None)]).unwrap_err());
        assert!(
            err.contains("cannot be empty, `.` or `..`"),
            "{id:?}: {err}"
        );
    }
    assert!(request(&model, interface, put, &[s("..."), record(None, None)]).is_ok());
    // A line break in a header (it failed in the HTTP client and was
    // retried as a transport error).
    let err = refused(
        request(
            &model,
            interface,
            put,
            &[s("n"), record(Some("a\r\nX: y"), None)],
        )
        .unwrap_err(),
    );
    assert!(err.contains("header `X-Trace` cannot carry '\\r'"), "{err}");
    let err = refused(
        request(
            &model,
            interface,
            put,
            &[s("n"), record(Some("José"), None)],
        )
        .unwrap_err(),
    );
    assert!(err.contains("cannot carry 'é'"), "{err}");
    // An untyped value that is not JSON (it was left out of the query).
    let err = refused(
        request(
            &model,
            interface,
            put,
            &[s("n"), record(None, Some("{nope"))],
        )
        .unwrap_err(),
    );
    assert!(err.contains("extra"), "{err}");
    let sent = request(
        &model,
        interface,
        put,
        &[s("n"), record(Some("t\t1"), Some("[1,2]"))],
    )
    .unwrap();
    // An untyped value is written in its parameter's style like a typed
    // one: an array in the query (`form`) repeats the parameter.
    assert!(
        sent.path_and_query.ends_with("?extra=1&extra=2"),
        "{}",
        sent.path_and_query
    );
    // Its answer is read as JSON, so JSON is what it asks for.
    assert_eq!(
        sent.headers,
        vec![
            ("X-Trace".to_owned(), "t\t1".to_owned()),
            ("Accept".to_owned(), "application/json".to_owned())
        ]
    );
    // An answer read as bytes asks for nothing in particular.
    let (interface, get) = function(&model, "reports-resource", "get-report").unwrap();
    let sent = request(&model, interface, get, &[s("q3")]).unwrap();
    assert!(sent.headers.is_empty(), "{:?}", sent.headers);
}

const PEOPLE: &str = r##"
openapi: 3.0.3
info: {title: People, version: "1"}
paths:
  /people/{id}:
    put:
      operationId: putPerson
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      requestBody:
        required: true
        content: {application/json: {schema: {$ref: "#/components/schemas/Person"}}}
      responses:
        "204": {description: stored}
components:
  schemas:
    Person:
      type: object
      required: [name, nickname, manager]
      properties:
        name: {type: string}
        nickname: {type: string, nullable: true}
        manager: {type: [string, "null"]}
        age: {type: integer, nullable: true}
        email: {type: string}
"##;

#[test]
fn a_required_nullable_property_goes_as_null_when_none() {
    // It was left out: for a PUT, "absent" and "null" differ, and a server
    // validating `required` refused the request.
    let model = parse(PEOPLE, "people.yaml", &Options::default()).unwrap();
    let (interface, put) = function(&model, "people-resource", "put-person").unwrap();
    let person = Val::Record(vec![
        ("name".into(), s("Ada")),
        ("nickname".into(), Val::Option(None)),
        ("manager".into(), Val::Option(None)),
        ("age".into(), Val::Option(None)),
        ("email".into(), Val::Option(None)),
    ]);
    let record = Val::Record(vec![("body".into(), person)]);
    let sent = request(&model, interface, put, &[s("p1"), record]).unwrap();
    let (media, body) = sent.body.unwrap();
    assert_eq!(media, "application/json");
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    // Required and nullable: `null`. Optional: left out.
    assert_eq!(
        json,
        serde_json::json!({"name": "Ada", "nickname": null, "manager": null})
    );
}

#[test]
fn a_head_answer_is_read_without_a_body() {
    // Its documented JSON content made the body part of the result, and an
    // answer (which has no body) failed to decode: every call an error.
    let model = model();
    let (interface, head) = function(&model, "memos-resource", "head-memo").unwrap();
    let answer = HttpResponse {
        status: 200,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("etag".into(), "v7".into()),
        ],
        body: Vec::new(),
    };
    assert_eq!(
        response(&model, interface, head, &answer),
        Val::Result(Ok(Some(Box::new(Val::Record(vec![(
            "version".into(),
            Val::Option(Some(Box::new(s("v7"))))
        )])))))
    );
}

#[test]
fn a_204_answer_is_read_without_a_body_whatever_the_document_says() {
    // Its documented JSON content made the body part of the result, and the
    // answer (which has none) failed to decode: a done delete an error.
    let model = model();
    let (interface, delete) = function(&model, "memos-resource", "delete-memo").unwrap();
    let answer = HttpResponse {
        status: 204,
        headers: Vec::new(),
        body: Vec::new(),
    };
    assert_eq!(
        response(&model, interface, delete, &answer),
        Val::Result(Ok(None))
    );
}

#[test]
fn json_is_not_asked_for_when_the_success_answer_is_something_else() {
    // A CSV report whose errors are JSON: `Accept: application/json` made a
    // negotiating server refuse it (406).
    let model = model();
    let (interface, csv) = function(&model, "reports-resource", "get-report-csv").unwrap();
    let sent = request(&model, interface, csv, &[s("r1")]).unwrap();
    assert_eq!(sent.path_and_query, "/reports/r1.csv");
    assert!(
        !sent.headers.iter().any(|(name, _)| name == "Accept"),
        "{:?}",
        sent.headers
    );
}

#[test]
fn parameters_inside_a_segment_are_read_as_the_request_fills_them() {
    // `{name}.{ext}` was read as one parameter, `name}.{ext`, and the
    // document refused; an undeclared `{id}.pdf` was let through and sent
    // as the literal `{id}`.
    let model = model();
    let (interface, file) = function(&model, "files-resource", "get-file").unwrap();
    let sent = request(&model, interface, file, &[s("report"), s("tar.gz")]).unwrap();
    assert_eq!(sent.path_and_query, "/files/report.tar.gz");
    let undeclared = DOC.replace(
        "      operationId: getReport\n      parameters: [{name: id, in: path, required: true, schema: {type: string}}]\n",
        "      operationId: getReport\n",
    );
    assert_ne!(undeclared, DOC);
    let err = parse(&undeclared, "files.yaml", &Options::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("path parameter `id` is not declared in `parameters`"),
        "{err}"
    );
}

#[test]
fn exclusive_bounds_are_checked_before_sending() {
    // Neither form was read: a boundary value was sent, for the server to
    // refuse.
    let model = model();
    let (interface, scores) = function(&model, "scores-collection", "get-scores").unwrap();
    let ask = |ratio: f64, cap: i64| {
        request(
            &model,
            interface,
            scores,
            &[Val::Record(vec![
                (
                    "ratio".into(),
                    Val::Option(Some(Box::new(Val::Float64(ratio)))),
                ),
                ("cap".into(), Val::Option(Some(Box::new(Val::S64(cap))))),
            ])],
        )
    };
    // 3.0's `exclusiveMinimum: true` beside `minimum`, 3.1's number.
    let err = refused(ask(0.0, 10).unwrap_err());
    assert!(
        err.contains("ratio: must be greater than 0") && err.contains("cap: must be less than 10"),
        "{err}"
    );
    let sent = ask(0.5, 9).unwrap();
    assert_eq!(sent.path_and_query, "/scores?ratio=0.5&cap=9");
}

#[test]
fn read_only_properties_are_not_sent_and_write_only_ones_may_be_missing() {
    // `id` went out in the request; an answer without `password` (as a
    // server leaves it out) failed to decode, and the 201 was an error.
    let model = model();
    let wit = reprise_openapi::wit::render(&model);
    assert!(
        wit.contains("id: string,") && wit.contains("password: option<string>,"),
        "{wit}"
    );
    let (interface, create) = function(&model, "accounts-collection", "create-account").unwrap();
    let account = Val::Record(vec![
        // Not sent, so not checked (`minLength: 3`) either.
        ("id".into(), s("")),
        ("name".into(), s("ada")),
        ("password".into(), Val::Option(Some(Box::new(s("pw"))))),
    ]);
    let sent = request(
        &model,
        interface,
        create,
        &[Val::Record(vec![("body".into(), account)])],
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(sent.body.unwrap().1).unwrap(),
        r#"{"name":"ada","password":"pw"}"#
    );
    let answer = HttpResponse {
        status: 201,
        headers: vec![("content-type".into(), "application/json".into())],
        body: br#"{"id":"a1","name":"ada"}"#.to_vec(),
    };
    assert_eq!(
        response(&model, interface, create, &answer),
        Val::Result(Ok(Some(Box::new(Val::Record(vec![
            ("id".into(), s("a1")),
            ("name".into(), s("ada")),
            ("password".into(), Val::Option(None)),
        ])))))
    );
}

#[test]
fn answer_headers_are_read_by_their_types() {
    // A list header failed to decode (the 2xx became an error), and a
    // header given by `$ref` was read as a string.
    let model = model();
    let (interface, batches) = function(&model, "batches-collection", "get-batches").unwrap();
    let answer = HttpResponse {
        status: 200,
        headers: vec![
            ("content-type".into(), "text/plain".into()),
            ("x-tags".into(), "a, b".into()),
            ("x-count".into(), "42".into()),
        ],
        body: b"done".to_vec(),
    };
    let some = |v: Val| Val::Option(Some(Box::new(v)));
    assert_eq!(
        response(&model, interface, batches, &answer),
        Val::Result(Ok(Some(Box::new(Val::Record(vec![
            ("body".into(), s("done")),
            ("x-tags".into(), some(Val::List(vec![s("a"), s("b")]))),
            ("x-count".into(), some(Val::S64(42))),
        ])))))
    );
    // A list header sent as several lines: every line's items (only the
    // first line was read).
    let answer = HttpResponse {
        status: 200,
        headers: vec![
            ("content-type".into(), "text/plain".into()),
            ("x-tags".into(), "a, b".into()),
            ("X-Tags".into(), "c".into()),
        ],
        body: b"done".to_vec(),
    };
    assert_eq!(
        response(&model, interface, batches, &answer),
        Val::Result(Ok(Some(Box::new(Val::Record(vec![
            ("body".into(), s("done")),
            (
                "x-tags".into(),
                some(Val::List(vec![s("a"), s("b"), s("c")]))
            ),
            ("x-count".into(), Val::Option(None)),
        ])))))
    );
}

#[test]
fn a_wildcard_answer_with_a_schema_is_read_by_it() {
    // `*/*` made the body bytes and dropped the schema.
    let model = model();
    let (interface, get) = function(&model, "accounts-resource", "get-account").unwrap();
    let wit = reprise_openapi::wit::render(&model);
    assert!(
        wit.contains("get-account: func(id: string) -> result<account, error>"),
        "{wit}"
    );
    let answer = HttpResponse {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: br#"{"id":"a1","name":"ada"}"#.to_vec(),
    };
    assert_eq!(
        response(&model, interface, get, &answer),
        Val::Result(Ok(Some(Box::new(Val::Record(vec![
            ("id".into(), s("a1")),
            ("name".into(), s("ada")),
            ("password".into(), Val::Option(None)),
        ])))))
    );
}

#[test]
fn a_wildcard_answer_whose_schema_names_a_binary_string_is_read_as_bytes() {
    // The named schema made it JSON: every answer was refused as "not JSON".
    let model = model();
    let (interface, get) = function(&model, "avatars-resource", "get-avatar").unwrap();
    let answer = HttpResponse {
        status: 200,
        headers: vec![("content-type".into(), "image/png".into())],
        body: b"\x89PNG".to_vec(),
    };
    assert_eq!(
        response(&model, interface, get, &answer),
        Val::Result(Ok(Some(Box::new(bytes(b"\x89PNG")))))
    );
}

#[test]
fn a_text_answer_is_decoded_by_its_charset() {
    // It was read as UTF-8 whatever it said: "caf\u{FFFD}".
    let model = model();
    let (interface, batches) = function(&model, "batches-collection", "get-batches").unwrap();
    let answer = HttpResponse {
        status: 200,
        headers: vec![(
            "content-type".into(),
            "text/plain; charset=ISO-8859-1".into(),
        )],
        body: b"caf\xe9".to_vec(),
    };
    let Val::Result(Ok(Some(record))) = response(&model, interface, batches, &answer) else {
        panic!("not a success");
    };
    let Val::Record(fields) = *record else {
        panic!("{record:?}");
    };
    assert_eq!(fields[0], ("body".into(), s("café")));
}

#[test]
fn a_text_error_answer_fills_the_error_field() {
    // Error answers documented as `text/plain` give `error: option<string>`,
    // but the answer was parsed as JSON, which plain text is not: the
    // field was always `none`.
    let text = "openapi: 3.0.3\ninfo: {title: memos, version: 1.0.0}\npaths:\n  /memos/{id}:\n    get:\n      operationId: getMemo\n      parameters: [{name: id, in: path, required: true, schema: {type: string}}]\n      responses:\n        '200': {description: ok, content: {application/json: {schema: {type: string}}}}\n        '404': {description: missing, content: {text/plain: {schema: {type: string}}}}\n";
    let model = parse(text, "memos.yaml", &Options::default()).unwrap();
    let (interface, get) = function(&model, "memos-resource", "get-memo").unwrap();
    let answer = HttpResponse {
        status: 404,
        headers: vec![("content-type".into(), "text/plain".into())],
        body: b"no such memo".to_vec(),
    };
    let read = format!("{:?}", response(&model, interface, get, &answer));
    assert!(
        read.contains(r#"("error", Option(Some(String("no such memo"))))"#),
        "{read}"
    );
}
