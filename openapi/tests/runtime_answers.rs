//! Which type an answer is read as: a `oneOf` with a discriminator by the
//! case its property names (not the first that fits), one without by the
//! case that reads the most of it, 2xx answers with
//! different headers as different cases, and a 2xx answer only `default`
//! describes (the error answer when a 2xx one is documented) not taken for
//! a success. Also the parameter styles that are refused, not ignored, the
//! `Idempotency-Key` header left to the executor, and `Accept` and
//! `Content-Type` parameters ignored.

#![cfg(feature = "runtime")]

use reprise_openapi::runtime::{HttpResponse, function, response};
use reprise_openapi::{ApiModel, Options, parse};
use wasmtime::component::Val;

const DOC: &str = r##"
openapi: 3.0.3
info: {title: Pets, version: "1"}
paths:
  /pets/{id}:
    get:
      operationId: getPet
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses:
        "200": {description: ok, content: {application/json: {schema: {$ref: "#/components/schemas/Pet"}}}}
        default: {description: failed, content: {application/json: {schema: {$ref: "#/components/schemas/Problem"}}}}
    put:
      operationId: putPet
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses:
        "200":
          description: replaced
          headers: {ETag: {schema: {type: string}}}
          content: {application/json: {schema: {$ref: "#/components/schemas/Pet"}}}
        "201":
          description: created
          headers: {Location: {schema: {type: string}}}
          content: {application/json: {schema: {$ref: "#/components/schemas/Pet"}}}
  /animals/{id}:
    get:
      operationId: getAnimal
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses:
        "200": {description: ok, content: {application/json: {schema: {$ref: "#/components/schemas/Animal"}}}}
  /kennels/{id}:
    get:
      operationId: getKennel
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses:
        "200": {description: ok, content: {application/json: {schema: {$ref: "#/components/schemas/Kennel"}}}}
  /pens/{id}:
    get:
      operationId: getPen
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses:
        "200": {description: ok, content: {application/json: {schema: {$ref: "#/components/schemas/Pen"}}}}
  /issues/{id}:
    get:
      operationId: getIssue
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses:
        "200": {description: ok, content: {application/json: {schema: {$ref: "#/components/schemas/Issue"}}}}
components:
  schemas:
    Pen:
      oneOf: [{$ref: "#/components/schemas/Cat"}, {$ref: "#/components/schemas/Dog"}]
      discriminator: {propertyName: petType, mapping: {kitty: Cat, doggo: Dog}}
    Owner:
      type: object
      nullable: true
      properties: {login: {type: string}}
    Issue:
      type: object
      required: [title, assignee]
      properties: {title: {type: string}, assignee: {$ref: "#/components/schemas/Owner"}}
    Kennel:
      oneOf: [{$ref: "#/components/schemas/Felines"}, {$ref: "#/components/schemas/Hound"}]
    Felines:
      oneOf: [{$ref: "#/components/schemas/Cat"}]
    Animal:
      oneOf: [{$ref: "#/components/schemas/Cat"}, {$ref: "#/components/schemas/Hound"}]
    Hound:
      type: object
      required: [name]
      properties: {name: {type: string}, bark: {type: boolean}, petType: {type: string}}
    Problem:
      type: object
      properties: {title: {type: string}}
    Cat:
      type: object
      required: [petType, name]
      properties: {petType: {type: string}, name: {type: string}}
    Dog:
      type: object
      required: [petType, name, bark]
      properties: {petType: {type: string}, name: {type: string}, bark: {type: boolean}}
    Pet:
      oneOf: [{$ref: "#/components/schemas/Cat"}, {$ref: "#/components/schemas/Dog"}]
      discriminator: {propertyName: petType, mapping: {cat: "#/components/schemas/Cat", dog: "#/components/schemas/Dog"}}
"##;

fn model() -> ApiModel {
    parse(DOC, "pets.yaml", &Options::default()).unwrap()
}

fn json(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
    let mut all = vec![("content-type".to_owned(), "application/json".to_owned())];
    all.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    HttpResponse {
        status,
        headers: all,
        body: body.as_bytes().to_vec(),
    }
}

#[test]
fn a_discriminator_picks_the_case() {
    // A dog decoded as the first case that fit, `cat`, and lost `bark`.
    let model = model();
    let (interface, get) = function(&model, "pets-resource", "get-pet").unwrap();
    let answer = json(200, &[], r#"{"petType":"dog","name":"Rex","bark":true}"#);
    let Val::Result(Ok(Some(pet))) = response(&model, interface, get, &answer) else {
        panic!("{:?}", response(&model, interface, get, &answer));
    };
    let Val::Variant(case, Some(dog)) = *pet else {
        panic!("not a variant");
    };
    assert_eq!(case, "dog");
    assert!(format!("{dog:?}").contains("Bool(true)"), "{dog:?}");
    // A mapping may name its schemas bare (`doggo: Dog`); they were taken
    // for no mapping, and `doggo` named no case.
    let (interface, pen) = function(&model, "pens-resource", "get-pen").unwrap();
    let answer = json(200, &[], r#"{"petType":"doggo","name":"Rex","bark":true}"#);
    let read = format!("{:?}", response(&model, interface, pen, &answer));
    assert!(
        read.contains("Variant(\"doggo\"") && read.contains("Bool(true)"),
        "{read}"
    );
    let (interface, get) = function(&model, "pets-resource", "get-pet").unwrap();
    // A tag naming no case is an error naming it, not a guess.
    let answer = json(200, &[], r#"{"petType":"fish","name":"Nemo"}"#);
    let failed = format!("{:?}", response(&model, interface, get, &answer));
    assert!(failed.contains("`fish`, which names no case"), "{failed}");
}

#[test]
fn without_a_discriminator_the_case_reading_the_most_is_picked() {
    // A hound decoded as the first case that fit, `cat` (it ignores
    // `bark`), and lost `bark`.
    let model = model();
    let (interface, get) = function(&model, "animals-resource", "get-animal").unwrap();
    let case_of = |body: &str| {
        let answer = response(&model, interface, get, &json(200, &[], body));
        let Val::Result(Ok(Some(animal))) = answer else {
            panic!("{answer:?}");
        };
        let Val::Variant(case, Some(payload)) = *animal else {
            panic!("not a variant");
        };
        (case, format!("{payload:?}"))
    };
    let (case, hound) = case_of(r#"{"petType":"hound","name":"Rex","bark":true}"#);
    assert_eq!(case, "hound");
    assert!(hound.contains("Bool(true)"), "{hound}");
    // Both read all of it: the first, as before.
    assert_eq!(case_of(r#"{"petType":"cat","name":"Tom"}"#).0, "cat");
    // Only the second fits at all (`cat` requires `petType`).
    assert_eq!(case_of(r#"{"name":"Rex"}"#).0, "hound");
    // A case that is itself a oneOf is weighed by the case it was read
    // as (it counted as reading everything, and `bark` was lost again).
    let (interface, kennel) = function(&model, "kennels-resource", "get-kennel").unwrap();
    let answer = response(
        &model,
        interface,
        kennel,
        &json(200, &[], r#"{"petType":"hound","name":"Rex","bark":true}"#),
    );
    let text = format!("{answer:?}");
    assert!(
        text.contains("\"hound\"") && text.contains("Bool(true)"),
        "{text}"
    );
    // Both leave `colour` unread: the first of equals.
    assert_eq!(
        case_of(r#"{"petType":"cat","name":"Tom","colour":"grey"}"#).0,
        "cat"
    );
}

#[test]
fn a_reference_to_a_nullable_object_schema_is_an_option() {
    // It was the bare record, and an answer with `"assignee": null` failed
    // to decode (the whole 2xx became an error).
    let model = model();
    let (interface, get) = function(&model, "issues-resource", "get-issue").unwrap();
    let wit = reprise_openapi::wit::render(&model);
    assert!(wit.contains("assignee: option<owner>"), "{wit}");
    let read = |body: &str| {
        format!(
            "{:?}",
            response(&model, interface, get, &json(200, &[], body))
        )
    };
    let unassigned = read(r#"{"title":"t","assignee":null}"#);
    assert!(
        unassigned.starts_with("Result(Ok(") && unassigned.contains("(\"assignee\", Option(None))"),
        "{unassigned}"
    );
    let assigned = read(r#"{"title":"t","assignee":{"login":"ada"}}"#);
    assert!(assigned.contains("String(\"ada\")"), "{assigned}");
}

#[test]
fn a_2xx_answer_only_default_describes_is_not_a_success() {
    // A 202 took `default` (the error schema) and handed its value to the
    // guest as the ok value, of the wrong type.
    let model = model();
    let (interface, get) = function(&model, "pets-resource", "get-pet").unwrap();
    let answer = json(202, &[], r#"{"title":"queued"}"#);
    let failed = format!("{:?}", response(&model, interface, get, &answer));
    assert!(
        failed.starts_with("Result(Err(") && failed.contains("status 202 is not documented"),
        "{failed}"
    );
}

#[test]
fn success_answers_with_different_headers_are_different_cases() {
    // Both have headers, so both looked like one type: a 201 was read as
    // a record with `location` where the function's type has `version`.
    let model = model();
    let (interface, put) = function(&model, "pets-resource", "put-pet").unwrap();
    let body = r#"{"petType":"cat","name":"Tom"}"#;
    let created = response(
        &model,
        interface,
        put,
        &json(201, &[("location", "/pets/1")], body),
    );
    let replaced = response(&model, interface, put, &json(200, &[("etag", "v2")], body));
    let case = |v: &Val| match v {
        Val::Result(Ok(Some(ok))) => match ok.as_ref() {
            Val::Variant(case, _) => case.clone(),
            other => panic!("not a variant: {other:?}"),
        },
        other => panic!("not a success: {other:?}"),
    };
    assert_eq!(case(&created), "status201");
    assert_eq!(case(&replaced), "status200");
}

#[test]
fn parameter_styles_that_are_not_sent_are_refused() {
    for (parameter, expected) in [
        (
            "{name: ids, in: query, style: matrix, schema: {type: object}}",
            "query parameter `ids` has `style: matrix`; a query parameter takes form, \
             spaceDelimited, pipeDelimited, deepObject",
        ),
        (
            "{name: ids, in: query, style: deepObject, explode: false, schema: {type: object}}",
            "`style: deepObject` with `explode: false`, which OpenAPI does not define",
        ),
        (
            "{name: \"X Trace\", in: header, schema: {type: string}}",
            "`X Trace` is not a valid HTTP header name",
        ),
        (
            "{name: a, in: header, style: form, schema: {type: string}}",
            "header parameter `a` has `style: form`; a header parameter takes simple",
        ),
        (
            "{name: a, in: query, style: spaceDelimited, explode: true, schema: {type: array, \
             items: {type: string}}}",
            "`style: spaceDelimited` with `explode: true`, which OpenAPI does not define",
        ),
        (
            "{name: a, in: query, style: tilde, schema: {type: string}}",
            "`style: tilde`, which OpenAPI does not define",
        ),
        (
            "{name: a, in: query, explode: \"yes\", schema: {type: string}}",
            "an `explode` that is not true or false",
        ),
        (
            "{name: a, in: query, content: {text/plain: {schema: {type: string}}}}",
            "`content: text/plain`; only a JSON media type is supported",
        ),
        (
            "{name: a, in: query, content: {application/json: {}, application/xml: {}}}",
            "2 media types in `content`; OpenAPI allows exactly one",
        ),
        (
            "{name: a, in: query, schema: {type: string}, content: {application/json: {}}}",
            "both `schema` and `content`",
        ),
    ] {
        let doc = format!(
            "openapi: 3.0.3\ninfo: {{title: T, version: \"1\"}}\npaths:\n  /x:\n    get:\n      \
             operationId: getX\n      parameters: [{parameter}]\n      responses:\n        \
             \"204\": {{description: ok}}\n"
        );
        let err = parse(&doc, "x.yaml", &Options::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{parameter}: {err}");
    }
}

#[test]
fn headers_the_executor_or_openapi_owns_are_not_fields() {
    // As a field, the guest's value went out beside the executor's own
    // key: two `Idempotency-Key` headers. `Accept` and `Content-Type`
    // OpenAPI says to ignore; as fields, a second `Content-Type` went out
    // beside the body's (and `Accept`'s style was checked, and refused).
    let doc = "openapi: 3.0.3\ninfo: {title: T, version: \"1\"}\npaths:\n  /x:\n    post:\n      \
               operationId: postX\n      parameters:\n        - {name: Idempotency-Key, in: \
               header, schema: {type: string}}\n        - {name: X-Other, in: header, schema: \
               {type: string}}\n        - {name: content-type, in: header, schema: {type: \
               string}}\n        - {name: Accept, in: header, style: form, schema: {type: \
               string}}\n      responses:\n        \"204\": {description: ok}\n";
    let model = parse(doc, "x.yaml", &Options::default()).unwrap();
    let (_, post) = function(&model, "x-collection", "post-x").unwrap();
    let fields: Vec<&str> = post
        .request
        .as_ref()
        .unwrap()
        .params
        .iter()
        .map(|p| p.wire.as_str())
        .collect();
    assert_eq!(fields, ["X-Other"]);
}

#[test]
fn an_operation_on_another_server_is_refused() {
    // Its `servers` were ignored: the call went to the dependency's base
    // URL, another server than the document says.
    let doc = |servers: &str| {
        format!(
            "openapi: 3.0.3\ninfo: {{title: T, version: \"1\"}}\nservers: [{{url: \
             \"https://api.example.com/\"}}]\npaths:\n  /upload:\n    post:\n      \
             operationId: upload\n      servers: [{{url: \"{servers}\"}}]\n      responses:\n        \
             \"204\": {{description: ok}}\n"
        )
    };
    let err = parse(
        &doc("https://uploads.example.com"),
        "x.yaml",
        &Options::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("paths./upload.post")
            && err.contains("`servers` here names `https://uploads.example.com`"),
        "{err}"
    );
    // The document's own server, repeated, is no other server.
    parse(
        &doc("https://api.example.com"),
        "x.yaml",
        &Options::default(),
    )
    .unwrap();
}

#[test]
fn properties_beside_a_one_of_are_refused() {
    // `id` was dropped from the variant, sending and reading.
    let doc = "openapi: 3.0.3\ninfo: {title: T, version: \"1\"}\npaths:\n  /x:\n    get:\n      \
               operationId: getX\n      responses:\n        \"200\": {description: ok, content: \
               {application/json: {schema: {$ref: '#/components/schemas/Shape'}}}}\ncomponents:\n  \
               schemas:\n    Shape:\n      type: object\n      properties: {id: {type: string}}\n      \
               oneOf: [{type: object, properties: {r: {type: number}}}, {type: object, properties: \
               {w: {type: number}}}]\n";
    let err = parse(doc, "x.yaml", &Options::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("components.schemas.Shape")
            && err.contains("`properties` beside `oneOf`/`anyOf` are not supported"),
        "{err}"
    );
}

#[test]
fn the_transport_s_own_headers_are_refused_as_parameters() {
    // A `Host` parameter let the guest pick the virtual host the
    // dependency's credentials went to.
    for header in ["Host", "content-length", "Transfer-Encoding", "Connection"] {
        let doc = format!(
            r#"
openapi: 3.0.3
info: {{title: Hosts, version: "1"}}
paths:
  /things:
    get:
      operationId: listThings
      parameters: [{{name: {header}, in: header, schema: {{type: string}}}}]
      responses:
        "200": {{description: ok}}
"#
        );
        let message = match parse(&doc, "hosts.yaml", &Options::default()) {
            Ok(_) => panic!("{header} accepted"),
            Err(e) => e.to_string(),
        };
        assert!(
            message.contains(&format!(
                "header parameter `{header}` is the transport's own"
            )),
            "{message}"
        );
    }
}

#[test]
fn an_undocumented_2xx_is_other_also_when_the_success_has_no_value() {
    // Only `204` and `default` documented: a `202 Accepted` (the work is
    // not done) was `ok(())`, where an operation with a body got `other`.
    let doc = r#"
openapi: 3.0.3
info: {title: Jobs, version: "1"}
paths:
  /jobs/{id}:
    delete:
      operationId: deleteJob
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses:
        "204": {description: deleted}
        default: {description: failed}
"#;
    let model = parse(doc, "jobs.yaml", &Options::default()).unwrap();
    let (interface, delete) = function(&model, "jobs-resource", "delete-job").unwrap();
    let answer = |status: u16| {
        let read = response(
            &model,
            interface,
            delete,
            &HttpResponse {
                status,
                headers: Vec::new(),
                body: Vec::new(),
            },
        );
        format!("{read:?}")
    };
    assert_eq!(answer(204), "Result(Ok(None))");
    let accepted = answer(202);
    assert!(
        accepted.contains("Variant(\"other\"") && accepted.contains("status 202 is not documented")
            || accepted.contains("Variant(\"other\"") && accepted.contains("U16(202)"),
        "{accepted}"
    );
}

#[test]
fn integers_written_with_a_zero_fraction_are_read_and_pointers_into_a_schema_are_not_its_name() {
    // `1.0` for an integer was "expected an integer, found a number"
    // (JSON Schema counts it as 1). And a `$ref` into another schema's
    // property took the property's name for a schema's: `refund.customer`
    // was read as the `customer` record, not the string it points to.
    const COUNTS: &str = r##"
openapi: 3.0.3
info: {title: Counts, version: "1"}
paths:
  /counts:
    get:
      operationId: getCounts
      responses:
        "200": {description: ok, content: {application/json: {schema: {$ref: "#/components/schemas/Counts"}}}}
components:
  schemas:
    customer: {type: object, properties: {id: {type: string}}}
    charge: {type: object, properties: {customer: {type: string}}}
    Counts:
      type: object
      required: [small, big, unsigned, customer]
      properties:
        small: {type: integer, format: int32}
        big: {type: integer, format: int64}
        unsigned: {type: integer, format: int32, minimum: 0}
        customer: {$ref: "#/components/schemas/charge/properties/customer"}
"##;
    let model = parse(COUNTS, "counts.yaml", &Options::default()).unwrap();
    let wit = reprise_openapi::wit::render(&model);
    assert!(wit.contains("customer: string"), "{wit}");
    let (interface, get) = function(&model, "counts-collection", "get-counts").unwrap();
    let read = |body: &str| {
        format!(
            "{:?}",
            response(&model, interface, get, &json(200, &[], body))
        )
    };
    let whole = read(r#"{"small": 1.0, "big": -2.0, "unsigned": 3.0, "customer": "cus_1"}"#);
    assert!(
        whole.starts_with("Result(Ok(")
            && whole.contains("S32(1)")
            && whole.contains("S64(-2)")
            && whole.contains("String(\"cus_1\")"),
        "{whole}"
    );
    let fraction = read(r#"{"small": 1.5, "big": 2, "unsigned": 3, "customer": "c"}"#);
    assert!(!fraction.starts_with("Result(Ok("), "{fraction}");
}
