//! The run-time stubs' pure part, on the Todo example: component values
//! become requests (path, query, headers, JSON body), constraints are
//! checked before anything is sent, and responses become the functions'
//! `result` values — success records with headers, and each error status
//! as its case of `error`.

#![cfg(feature = "runtime")]

mod common;

use std::path::Path;

use reprise_openapi::runtime::{HttpResponse, function, request, response};
use reprise_openapi::{ApiModel, Options, load};
use wasmtime::component::Val;

use common::values::{none, s, some};

fn model() -> ApiModel {
    load(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/openapi/todo.yaml"),
        &Options::default(),
    )
    .unwrap()
}

fn todo_json() -> &'static str {
    r#"{"id":"t1","title":"milk","completed":false,"userId":"ada","createdAt":"c","updatedAt":"u"}"#
}

#[test]
fn a_create_becomes_a_post_with_a_json_body() {
    let model = model();
    let (interface, create) = function(&model, "todos-collection", "create").unwrap();
    let body = Val::Record(vec![
        ("title".into(), s("milk")),
        ("description".into(), none()),
        ("due-date".into(), none()),
        ("user-id".into(), s("ada")),
    ]);
    let sent = request(
        &model,
        interface,
        create,
        &[Val::Record(vec![("body".into(), body)])],
    )
    .unwrap();
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.path_and_query, "/todos");
    let (media, bytes) = sent.body.unwrap();
    assert_eq!(media, "application/json");
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        r#"{"title":"milk","userId":"ada"}"#
    );
}

#[test]
fn a_list_puts_its_parameters_in_the_query() {
    let model = model();
    let (interface, list) = function(&model, "todos-collection", "list").unwrap();
    let params = Val::Record(vec![
        ("user-id".into(), s("ada lovelace")),
        ("status".into(), some(Val::Enum("completed".into()))),
        ("limit".into(), some(Val::S64(10))),
        ("offset".into(), none()),
        ("sort-by".into(), some(Val::Enum("due-date".into()))),
        ("sort-order".into(), none()),
    ]);
    let sent = request(&model, interface, list, &[params]).unwrap();
    assert_eq!(sent.method, "GET");
    assert_eq!(
        sent.path_and_query,
        "/todos?userId=ada%20lovelace&status=completed&limit=10&sortBy=dueDate"
    );
    assert!(sent.body.is_none());
}

#[test]
fn a_value_breaking_a_constraint_is_refused_before_sending() {
    let model = model();
    let (interface, list) = function(&model, "todos-collection", "list").unwrap();
    let params = Val::Record(vec![
        ("user-id".into(), s("ada")),
        ("status".into(), none()),
        ("limit".into(), some(Val::S64(500))),
        ("offset".into(), none()),
        ("sort-by".into(), none()),
        ("sort-order".into(), none()),
    ]);
    let refused = request(&model, interface, list, &[params]).unwrap_err();
    let text = format!("{refused:?}");
    assert!(
        text.contains("validation-error") && text.contains("limit") && text.contains("at most 100"),
        "{text}"
    );
    let (interface, create) = function(&model, "todos-collection", "create").unwrap();
    let body = Val::Record(vec![
        ("title".into(), s("")),
        ("description".into(), none()),
        ("due-date".into(), none()),
        ("user-id".into(), s("ada")),
    ]);
    let refused = request(
        &model,
        interface,
        create,
        &[Val::Record(vec![("body".into(), body)])],
    )
    .unwrap_err();
    let text = format!("{refused:?}");
    assert!(
        text.contains("body.title") && text.contains("at least 1 characters"),
        "{text}"
    );
}

#[test]
fn path_parameters_are_encoded_into_the_template() {
    let model = model();
    let (interface, get) = function(&model, "todos-resource", "get").unwrap();
    let sent = request(&model, interface, get, &[s("a/b c")]).unwrap();
    assert_eq!(sent.path_and_query, "/todos/a%2Fb%20c");
}

#[test]
fn a_success_becomes_its_record_with_headers() {
    let model = model();
    let (interface, get) = function(&model, "todos-resource", "get").unwrap();
    let answer = HttpResponse {
        status: 200,
        headers: vec![
            ("etag".into(), "\"v7\"".into()),
            ("Last-Modified".into(), "yesterday".into()),
        ],
        body: format!(r#"{{"data":{}}}"#, todo_json()).into_bytes(),
    };
    let Val::Result(Ok(Some(value))) = response(&model, interface, get, &answer) else {
        panic!("not a success");
    };
    let Val::Record(fields) = *value else {
        panic!("not a record")
    };
    assert_eq!(fields[0].0, "body");
    assert_eq!(fields[1], ("version".into(), some(s("\"v7\""))));
    assert_eq!(fields[2], ("last-updated".into(), some(s("yesterday"))));
    assert_eq!(fields[3], ("x-request-id".into(), none()));
    let text = format!("{:?}", fields[0].1);
    assert!(text.contains("milk") && text.contains("ada"), "{text}");
}

#[test]
fn error_statuses_become_their_cases() {
    let model = model();
    let (interface, get) = function(&model, "todos-resource", "get").unwrap();
    let error_body = br#"{"error":{"code":"NOT_FOUND","message":"no such todo"}}"#.to_vec();
    let cases = [
        (401, "unauthorized"),
        (404, "not-found"),
        (412, "precondition-failed"),
        (409, "conflict"),
        (500, "server-error"),
        (503, "server-error"),
        (418, "other"),
        (400, "validation-error"),
    ];
    for (status, case) in cases {
        let answer = HttpResponse {
            status,
            headers: Vec::new(),
            body: error_body.clone(),
        };
        let Val::Result(Err(Some(error))) = response(&model, interface, get, &answer) else {
            panic!("{status} is not an error");
        };
        let Val::Variant(name, _) = error.as_ref() else {
            panic!("not a variant")
        };
        assert_eq!(name, case, "status {status}");
        if status == 404 {
            let text = format!("{error:?}");
            assert!(
                text.contains("not-found") && text.contains("no such todo"),
                "the documented error schema is decoded: {text}"
            );
        }
    }
    let limited = HttpResponse {
        status: 429,
        headers: vec![("Retry-After".into(), "30".into())],
        body: Vec::new(),
    };
    let Val::Result(Err(Some(error))) = response(&model, interface, get, &limited) else {
        panic!()
    };
    let text = format!("{error:?}");
    assert!(
        text.contains("rate-limited") && text.contains("U32(30)"),
        "{text}"
    );
}

#[test]
fn an_undecodable_success_is_an_error_not_a_panic() {
    let model = model();
    let (interface, get) = function(&model, "todos-resource", "get").unwrap();
    let answer = HttpResponse {
        status: 200,
        headers: Vec::new(),
        body: b"not json".to_vec(),
    };
    let Val::Result(Err(Some(error))) = response(&model, interface, get, &answer) else {
        panic!("accepted");
    };
    assert!(format!("{error:?}").contains("the body is not JSON"));
}

/// A small API whose one operation takes a code that must match a pattern.
fn patterned(pattern: &str) -> ApiModel {
    let text = format!(
        "openapi: 3.0.3\ninfo: {{title: codes, version: 1.0.0}}\npaths:\n  /codes/{{code}}:\n    get:\n      operationId: lookup\n      parameters:\n        - name: code\n          in: path\n          required: true\n          schema: {{type: string, pattern: '{pattern}'}}\n      responses:\n        '204': {{description: ok}}\n"
    );
    reprise_openapi::parse(&text, "codes.yaml", &Options::default()).unwrap()
}

#[test]
fn a_pattern_is_checked_before_sending() {
    let model = patterned("^[A-Z]{3}-[0-9]+$");
    let interface = &model.interfaces[0];
    let lookup = &interface.functions[0];
    assert!(request(&model, interface, lookup, &[s("ABC-12")]).is_ok());
    let refused = request(&model, interface, lookup, &[s("abc-12")]).unwrap_err();
    let text = format!("{refused:?}");
    assert!(
        text.contains("validation-error")
            && text.contains("must match the pattern `^[A-Z]{3}-[0-9]+$`"),
        "{text}"
    );
    assert!(reprise_openapi::runtime::unchecked_patterns(&model).is_empty());
}

#[test]
fn a_pattern_the_engine_cannot_compile_is_named_and_not_checked() {
    let model = patterned("^(?!admin).*$");
    let interface = &model.interfaces[0];
    let lookup = &interface.functions[0];
    assert!(request(&model, interface, lookup, &[s("admin")]).is_ok());
    assert_eq!(
        reprise_openapi::runtime::unchecked_patterns(&model),
        vec!["^(?!admin).*$".to_string()]
    );
}

#[test]
fn patterns_of_items_map_values_and_bodies_that_cannot_be_checked_are_named() {
    // Checked there too (and skipped when they do not compile), but only
    // the patterns of fields and parameters were named when the dependency
    // was loaded: these were sent unchecked without a word.
    let text = "openapi: 3.0.3\ninfo: {title: t, version: 1.0.0}\npaths:\n  /tags:\n    post:\n      operationId: tag\n      parameters:\n        - {name: tags, in: query, schema: {type: array, items: {type: string, pattern: '^(?!admin).*$'}}}\n      requestBody:\n        required: true\n        content: {text/plain: {schema: {type: string, pattern: '^(?!root).*$'}}}\n      responses:\n        '204': {description: ok}\n  /labels:\n    post:\n      operationId: label\n      requestBody:\n        required: true\n        content: {application/json: {schema: {$ref: '#/components/schemas/Labels'}}}\n      responses:\n        '204': {description: ok}\ncomponents:\n  schemas:\n    Labels:\n      type: object\n      properties:\n        names: {type: object, additionalProperties: {type: string, pattern: '^(?!x)'}}\n";
    let model = reprise_openapi::parse(text, "t.yaml", &Options::default()).unwrap();
    let mut named = reprise_openapi::runtime::unchecked_patterns(&model);
    named.sort();
    assert_eq!(named, ["^(?!admin).*$", "^(?!root).*$", "^(?!x)"]);
}

#[test]
fn a_required_property_of_a_nullable_plain_schema_is_sent_as_null() {
    // Its type was the alias (an `option` behind a name): `none` was left
    // out of the body, not sent as the `null` a required property needs.
    let text = "openapi: 3.0.3\ninfo: {title: due, version: 1.0.0}\npaths:\n  /todos:\n    post:\n      operationId: create\n      requestBody:\n        required: true\n        content: {application/json: {schema: {$ref: '#/components/schemas/Todo'}}}\n      responses:\n        '204': {description: ok}\ncomponents:\n  schemas:\n    MaybeDate: {type: string, nullable: true}\n    Todo:\n      type: object\n      required: [due]\n      properties:\n        due: {$ref: '#/components/schemas/MaybeDate'}\n        later: {$ref: '#/components/schemas/MaybeDate'}\n";
    let model = reprise_openapi::parse(text, "due.yaml", &Options::default()).unwrap();
    let wit = reprise_openapi::wit::render(&model);
    assert!(
        wit.contains("due: maybe-date") && wit.contains("later: option<maybe-date>"),
        "{wit}"
    );
    let (interface, create) = function(&model, "todos-collection", "create").unwrap();
    let body = Val::Record(vec![("due".into(), none()), ("later".into(), none())]);
    let sent = request(
        &model,
        interface,
        create,
        &[Val::Record(vec![("body".into(), body)])],
    )
    .unwrap();
    let (_, bytes) = sent.body.unwrap();
    assert_eq!(String::from_utf8(bytes).unwrap(), r#"{"due":null}"#);
}

#[test]
fn constraints_hold_through_an_alias_and_inside_a_variant() {
    // A body whose schema is a one-part `allOf` (an alias of the record)
    // or a `oneOf` case was sent without its fields' constraints checked.
    let text = "openapi: 3.0.3\ninfo: {title: t, version: 1.0.0}\npaths:\n  /todos:\n    post:\n      operationId: create\n      requestBody:\n        required: true\n        content: {application/json: {schema: {$ref: '#/components/schemas/NewTodo'}}}\n      responses:\n        '204': {description: ok}\n  /notes:\n    post:\n      operationId: note\n      requestBody:\n        required: true\n        content: {application/json: {schema: {$ref: '#/components/schemas/Note'}}}\n      responses:\n        '204': {description: ok}\ncomponents:\n  schemas:\n    TodoBase: {type: object, required: [title], properties: {title: {type: string, minLength: 1}}}\n    NewTodo: {allOf: [{$ref: '#/components/schemas/TodoBase'}]}\n    Other: {type: object, required: [n], properties: {n: {type: integer, maximum: 5}}}\n    Note: {oneOf: [{$ref: '#/components/schemas/TodoBase'}, {$ref: '#/components/schemas/Other'}]}\n";
    let model = reprise_openapi::parse(text, "t.yaml", &Options::default()).unwrap();
    let (interface, create) = function(&model, "todos-collection", "create").unwrap();
    let empty = Val::Record(vec![("title".into(), s(""))]);
    let refused = request(
        &model,
        interface,
        create,
        &[Val::Record(vec![("body".into(), empty.clone())])],
    )
    .unwrap_err();
    let text = format!("{refused:?}");
    assert!(
        text.contains("body.title") && text.contains("at least 1 characters"),
        "{text}"
    );
    let (interface, note) = function(&model, "notes-collection", "note").unwrap();
    let wit = reprise_openapi::wit::render(&model);
    let case = if wit.contains("todo-base(todo-base)") {
        "todo-base"
    } else {
        panic!("{wit}")
    };
    let body = Val::Variant(case.into(), Some(Box::new(empty)));
    let refused = request(
        &model,
        interface,
        note,
        &[Val::Record(vec![("body".into(), body)])],
    )
    .unwrap_err();
    let text = format!("{refused:?}");
    assert!(
        text.contains("body.title") && text.contains("at least 1 characters"),
        "{text}"
    );
}

#[test]
fn a_float_is_sent_and_checked_as_the_guests_value_and_map_values_are_checked() {
    // `format: float` values were widened to f64 first: 0.1 went out as
    // 0.10000000149011612 and broke a `maximum: 0.1` it meets. The values
    // of a map (`additionalProperties`) were sent unchecked.
    let text = "openapi: 3.0.3\ninfo: {title: t, version: 1.0.0}\npaths:\n  /prices:\n    post:\n      operationId: price\n      requestBody:\n        required: true\n        content: {application/json: {schema: {$ref: '#/components/schemas/Price'}}}\n      responses:\n        '204': {description: ok}\n  /boards:\n    post:\n      operationId: board\n      requestBody:\n        required: true\n        content: {application/json: {schema: {$ref: '#/components/schemas/Board'}}}\n      responses:\n        '204': {description: ok}\ncomponents:\n  schemas:\n    Price: {type: object, required: [price], properties: {price: {type: number, format: float, maximum: 0.1}}}\n    TodoBase: {type: object, required: [title], properties: {title: {type: string, minLength: 1}}}\n    Board: {type: object, additionalProperties: {$ref: '#/components/schemas/TodoBase'}}\n";
    let model = reprise_openapi::parse(text, "t.yaml", &Options::default()).unwrap();
    let (interface, price) = function(&model, "prices-collection", "price").unwrap();
    let body = |n: f32| {
        [Val::Record(vec![(
            "body".into(),
            Val::Record(vec![("price".into(), Val::Float32(n))]),
        )])]
    };
    let sent = request(&model, interface, price, &body(0.1)).unwrap();
    let (_, bytes) = sent.body.unwrap();
    assert_eq!(String::from_utf8(bytes).unwrap(), r#"{"price":0.1}"#);
    let refused = request(&model, interface, price, &body(0.2)).unwrap_err();
    assert!(format!("{refused:?}").contains("must be at most 0.1"));

    let (interface, board) = function(&model, "boards-collection", "board").unwrap();
    let entry =
        |title: &str| Val::Tuple(vec![s("a"), Val::Record(vec![("title".into(), s(title))])]);
    let body = |title: &str| {
        [Val::Record(vec![(
            "body".into(),
            Val::List(vec![entry(title)]),
        )])]
    };
    let sent = request(&model, interface, board, &body("milk")).unwrap();
    let (_, bytes) = sent.body.unwrap();
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        r#"{"a":{"title":"milk"}}"#
    );
    let refused = request(&model, interface, board, &body("")).unwrap_err();
    let text = format!("{refused:?}");
    assert!(
        text.contains("body.a.title") && text.contains("at least 1 characters"),
        "{text}"
    );
}

#[test]
fn items_map_values_and_a_bodys_own_schema_are_checked() {
    // Constraints were kept only for record fields and parameters: array
    // items, map values of plain types, a text body's `maxLength` and an
    // array body's `maxItems` were sent unchecked.
    let text = "openapi: 3.0.3\ninfo: {title: t, version: 1.0.0}\npaths:\n  /posts:\n    post:\n      operationId: post\n      parameters:\n        - {name: ids, in: query, schema: {type: array, items: {type: integer, minimum: 1}}}\n      requestBody:\n        required: true\n        content: {application/json: {schema: {$ref: '#/components/schemas/Post'}}}\n      responses:\n        '204': {description: ok}\n  /notes:\n    post:\n      operationId: note\n      requestBody:\n        required: true\n        content: {text/plain: {schema: {type: string, maxLength: 3}}}\n      responses:\n        '204': {description: ok}\n  /batches:\n    post:\n      operationId: batch\n      requestBody:\n        required: true\n        content: {application/json: {schema: {type: array, maxItems: 2, items: {$ref: '#/components/schemas/UserId'}}}}\n      responses:\n        '204': {description: ok}\ncomponents:\n  schemas:\n    UserId: {type: string, pattern: '^u[0-9]+$'}\n    Post:\n      type: object\n      required: [tags, scores]\n      properties:\n        tags: {type: array, items: {type: string, maxLength: 5}}\n        scores: {type: object, additionalProperties: {type: integer, maximum: 10}}\n";
    let model = reprise_openapi::parse(text, "t.yaml", &Options::default()).unwrap();
    let refused = |interface: &str, name: &str, params: Val| {
        let (interface, function) = function(&model, interface, name).unwrap();
        format!(
            "{:?}",
            request(&model, interface, function, &[params]).unwrap_err()
        )
    };
    let post = |ids: Vec<i64>, tag: &str, score: i64| {
        Val::Record(vec![
            (
                "ids".into(),
                some(Val::List(ids.into_iter().map(Val::S64).collect())),
            ),
            (
                "body".into(),
                Val::Record(vec![
                    ("tags".into(), Val::List(vec![s(tag)])),
                    (
                        "scores".into(),
                        Val::List(vec![Val::Tuple(vec![s("a"), Val::S64(score)])]),
                    ),
                ]),
            ),
        ])
    };
    let (interface, function_name) = ("posts-collection", "post");
    let (i, f) = function(&model, interface, function_name).unwrap();
    request(&model, i, f, &[post(vec![1], "ok", 10)]).expect("within every bound");
    let text = refused(interface, function_name, post(vec![0], "ok", 1));
    assert!(
        text.contains("ids[0]") && text.contains("at least 1"),
        "{text}"
    );
    let text = refused(interface, function_name, post(vec![1], "far too long", 1));
    assert!(
        text.contains("body.tags[0]") && text.contains("at most 5"),
        "{text}"
    );
    let text = refused(interface, function_name, post(vec![1], "ok", 11));
    assert!(
        text.contains("body.scores.a") && text.contains("at most 10"),
        "{text}"
    );

    let note = |t: &str| Val::Record(vec![("body".into(), s(t))]);
    let text = refused("notes-collection", "note", note("abcd"));
    assert!(text.contains("at most 3 characters"), "{text}");

    let batch = |ids: &[&str]| {
        Val::Record(vec![(
            "body".into(),
            Val::List(ids.iter().map(|id| s(id)).collect()),
        )])
    };
    let text = refused("batches-collection", "batch", batch(&["u1", "u2", "u3"]));
    assert!(text.contains("at most 2 items"), "{text}");
    let text = refused("batches-collection", "batch", batch(&["x"]));
    assert!(
        text.contains("body[0]") && text.contains("pattern"),
        "{text}"
    );
}

#[test]
fn an_untyped_value_is_sent_as_its_json_not_checked_as_text() {
    // A schema without `type` maps to JSON text; its `pattern` was checked
    // against that text, quotes included, and a value the schema allows
    // was refused locally.
    let text = "openapi: 3.0.3\ninfo: {title: t, version: 1.0.0}\npaths:\n  /tags:\n    post:\n      operationId: tag\n      requestBody:\n        required: true\n        content: {application/json: {schema: {type: array, items: {pattern: '^[a-z]+$'}}}}\n      responses:\n        '204': {description: ok}\n";
    let model = reprise_openapi::parse(text, "t.yaml", &Options::default()).unwrap();
    let (interface, tag) = function(&model, "tags-collection", "tag").unwrap();
    let body = Val::Record(vec![("body".into(), Val::List(vec![s("\"abc\"")]))]);
    let sent = request(&model, interface, tag, &[body]).expect("sent");
    let (_, bytes) = sent.body.unwrap();
    assert_eq!(String::from_utf8(bytes).unwrap(), r#"["abc"]"#);
}
