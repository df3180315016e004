//! A corpus of hand-written OpenAPI documents exercising the mapping's
//! rules and sloppy documents (no `operationId`, untyped schemas, duplicate
//! names, deep paths, keywords, recursion), each rendering valid WIT
//! (wit-parser) byte-identically across runs; and broken documents, each
//! refused with a message naming what is wrong and where.

use reprise_openapi::{ApiModel, Error, Options, parse, wit};

/// Parses `text`, renders it twice and checks the WIT with wit-parser.
fn wit_of(text: &str) -> (ApiModel, String) {
    let model = parse(text, "spec.yaml", &Options::default())
        .unwrap_or_else(|e| panic!("the document maps: {e}"));
    let wit = wit::render(&model);
    let again = wit::render(&parse(text, "spec.yaml", &Options::default()).unwrap());
    assert_eq!(wit, again, "rendering is deterministic");
    let mut resolve = wit_parser::Resolve::default();
    resolve
        .push_str("spec.wit", &wit)
        .unwrap_or_else(|e| panic!("invalid WIT: {e:?}\n{wit}"));
    (model, wit)
}

fn error_of(text: &str) -> String {
    match parse(text, "spec.yaml", &Options::default()) {
        Ok(model) => panic!("accepted: {}", wit::render(&model)),
        Err(e) => e.to_string(),
    }
}

const SLOPPY: &str = r##"
openapi: 3.0.1
info: { title: "Shop: the API!", version: v2 }
paths:
  /items:
    get:
      parameters:
        - { name: type, in: query, schema: { type: string } }
        - { name: X-Trace-Id, in: header, schema: { type: string } }
      responses:
        '200':
          content:
            application/json:
              schema: { type: array, items: { $ref: '#/components/schemas/Item' } }
    post:
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties:
                name: { type: string, minLength: 1 }
                tags: { type: array, items: { type: string }, maxItems: 3 }
              required: [name]
      responses:
        '201': { content: { application/json: { schema: { $ref: '#/components/schemas/Item' } } } }
        '202': { content: { application/json: { schema: { type: object, properties: { job: { type: string } } } } } }
  /shops/{shopId}/items/{itemId}/notes:
    parameters:
      - { name: shopId, in: path, required: true, schema: { type: integer, format: int32 } }
      - { name: itemId, in: path, required: true, schema: { type: string } }
    get:
      responses:
        '200': { content: { application/json: { schema: {} } } }
  /list:
    get:
      operationId: list
      responses: { '204': { description: empty } }
components:
  schemas:
    Item:
      type: object
      properties:
        id: { type: integer }
        record: { type: string, nullable: true }
        price: { type: number, format: float }
        photo: { type: string, format: binary }
        attributes: { type: object, additionalProperties: { type: integer } }
        anything: {}
        parent: { $ref: '#/components/schemas/Item' }
        kind: { type: string, enum: [small, LARGE, x-large] }
      required: [id]
    item:
      type: string
    Shape:
      oneOf:
        - $ref: '#/components/schemas/Circle'
        - $ref: '#/components/schemas/Square'
      discriminator:
        propertyName: kind
        mapping:
          round: '#/components/schemas/Circle'
    Circle: { type: object, properties: { r: { type: number } } }
    Square: { type: object, properties: { side: { type: number } } }
    Named:
      allOf:
        - $ref: '#/components/schemas/Circle'
        - type: object
          properties: { label: { type: string } }
          required: [label]
    Error: { type: object, properties: { message: { type: string } } }
"##;

#[test]
fn a_sloppy_document_maps_to_valid_wit() {
    let (model, wit) = wit_of(SLOPPY);
    assert_eq!(model.name, "shop-the-api");
    assert_eq!(
        model.version, None,
        "`v2` is not semver: no package version"
    );
    // Keywords are escaped; duplicate schema names get a suffix.
    assert!(wit.contains("%record: option<string>,"), "{wit}");
    assert!(wit.contains("%type: option<string>,"), "{wit}");
    assert!(wit.contains("type item2 = string;"), "{wit}");
    // Recursion broken as JSON text, untyped schemas as JSON text.
    assert!(wit.contains("parent: option<string>,"), "{wit}");
    assert!(wit.contains("anything: option<string>,"), "{wit}");
    // Formats and maps.
    assert!(wit.contains("price: option<f32>,"), "{wit}");
    assert!(wit.contains("photo: option<list<u8>>,"), "{wit}");
    assert!(
        wit.contains("attributes: option<list<tuple<string, s64>>>,"),
        "{wit}"
    );
    assert!(wit.contains("id: s64,"), "{wit}");
    // Enums, the discriminator's names, allOf merged.
    assert!(
        wit.contains("enum item-kind {\n        small,\n        large,\n        x-large,"),
        "{wit}"
    );
    assert!(wit.contains("round(circle),"), "{wit}");
    assert!(wit.contains("square(square),"), "{wit}");
    assert!(
        wit.contains("record named {\n        r: option<f64>,\n        label: string,"),
        "{wit}"
    );
    // Deep paths: the literal segments name the interface; path parameters
    // come first; a function without operationId is named by its method.
    assert!(
        wit.contains("interface shops-items-notes-collection {"),
        "{wit}"
    );
    assert!(
        wit.contains("%list: func(shop-id: s32, item-id: string) -> result<string, error>;"),
        "{wit}"
    );
    // Two different 2xx bodies: a variant.
    assert!(
        wit.contains("variant create-response {\n        status201(item),"),
        "{wit}"
    );
    // An operationId that is a keyword; no body: `_`.
    assert!(wit.contains("%list: func() -> result<_, error>;"), "{wit}");
    // A schema named `Error` does not take the error type's name.
    assert!(wit.contains("record error-schema {"), "{wit}");
    // Constraints are kept for the run-time checks.
    let create = model.interfaces[0]
        .functions
        .iter()
        .find(|f| f.name == "create")
        .unwrap();
    assert_eq!(create.method, "POST");
    assert!(create.request.as_ref().unwrap().body.is_some());
}

#[test]
fn an_openapi_3_1_json_document_maps() {
    let (model, wit) = wit_of(
        r##"{
  "openapi": "3.1.0",
  "info": {"title": "Pets", "version": "1.2.3"},
  "paths": {
    "/pets/{id}": {
      "get": {
        "operationId": "getPet",
        "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
        "responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}}}}
      }
    }
  },
  "components": {"schemas": {"Pet": {"type": "object", "properties": {"name": {"type": ["string", "null"]}, "age": {"type": "integer", "format": "int32"}}, "required": ["name", "age"]}}}
}"##,
    );
    assert_eq!(model.version.as_deref(), Some("1.2.3"));
    assert!(wit.contains("package api:pets@1.2.3;"), "{wit}");
    assert!(wit.contains("name: option<string>,"), "{wit}");
    assert!(wit.contains("age: s32,"), "{wit}");
    assert!(
        wit.contains("get-pet: func(id: string) -> result<pet, error>;"),
        "{wit}"
    );
}

#[test]
fn broken_documents_are_refused_with_the_place_and_the_reason() {
    let cases: &[(&str, &str)] = &[
        (
            "- just\n- a list\n",
            "expected an OpenAPI document (a mapping), found a list",
        ),
        (
            "swagger: '2.0'\ninfo: {title: x}\n",
            "Swagger 2.0 documents are not supported",
        ),
        (
            "openapi: 2.5.0\ninfo: {title: x}\n",
            "OpenAPI 2.5.0 is not supported",
        ),
        ("info: {title: x}\n", "missing `openapi: 3.x.y`"),
        (
            "openapi: 3.0.0\ninfo: {version: '1'}\n",
            "missing `info.title`",
        ),
        ("openapi: 3.0.0\ninfo: {title: x\n", "spec.yaml:"),
        (
            "openapi: 3.0.0\ninfo: {title: x}\npaths:\n  /a:\n    get:\n      responses:\n        '200': {content: {application/json: {schema: {$ref: '#/components/schemas/Nope'}}}}\n",
            "spec.yaml:7:",
        ),
        (
            "openapi: 3.0.0\ninfo: {title: x}\npaths:\n  /a:\n    get:\n      responses:\n        '200': {content: {application/json: {schema: {$ref: 'other.yaml#/X'}}}}\n",
            "points outside this document",
        ),
        (
            "openapi: 3.0.0\ninfo: {title: x}\ncomponents: {schemas: {A: {type: strin}}}\npaths: {}\n",
            "unknown type `strin`",
        ),
        (
            "openapi: 3.0.0\ninfo: {title: x}\npaths:\n  /a/{id}:\n    get:\n      responses: {'204': {description: ok}}\n",
            "path parameter `id` is not declared",
        ),
        (
            "openapi: 3.0.0\ninfo: {title: x}\npaths:\n  /a:\n    get:\n      parameters: [{name: s, in: cookie}]\n      responses: {'204': {description: ok}}\n",
            "cookie parameter `s` is not supported",
        ),
        (
            "openapi: 3.0.0\ninfo: {title: x}\npaths:\n  a:\n    get: {responses: {}}\n",
            "a path must start with `/`",
        ),
    ];
    for (text, expected) in cases {
        let message = error_of(text);
        assert!(message.contains(expected), "for {text:?}: {message}");
        assert!(
            message.starts_with("spec.yaml"),
            "names the file: {message}"
        );
    }
}

#[test]
fn every_problem_is_reported_at_once() {
    let message = error_of(
        "openapi: 3.0.0\ninfo: {title: x}\ncomponents: {schemas: {A: {type: strin}, B: {type: nmber}}}\npaths: {}\n",
    );
    assert!(
        message.contains("`strin`") && message.contains("`nmber`"),
        "{message}"
    );
    assert_eq!(message.lines().count(), 2, "{message}");
    assert!(matches!(
        parse("a: [", "x.yaml", &Options::default()),
        Err(Error::Syntax { .. })
    ));
}

/// `count` schemas, each holding a reference to the next.
fn chained(count: usize) -> String {
    let mut text = String::from(
        "openapi: 3.0.3\ninfo: {title: Chain, version: 1.0.0}\npaths:\n  /s:\n    get:\n      operationId: getS\n      responses:\n        '200':\n          description: ok\n          content: {application/json: {schema: {$ref: '#/components/schemas/S0'}}}\ncomponents:\n  schemas:\n",
    );
    for i in 0..count {
        text.push_str(&format!(
            "    S{i}: {{type: object, properties: {{n: {{$ref: '#/components/schemas/S{}'}}}}}}\n",
            i + 1
        ));
    }
    text.push_str(&format!("    S{count}: {{type: string}}\n"));
    text
}

#[test]
fn a_long_chain_of_references_is_refused_not_a_stack_overflow() {
    // Each reference to a schema not mapped yet nested the mapping deeper:
    // thousands of them overflowed the stack and aborted the process.
    let long = chained(3_000);
    // A tokio worker's stack (2 MiB), where the admin API maps uploads.
    let refused = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || error_of(&long))
        .unwrap()
        .join()
        .expect("no stack overflow");
    assert!(refused.contains("nested references"), "{refused}");
    // A chain of ordinary length maps.
    let (model, _) = wit_of(&chained(40));
    assert!(model.types.len() >= 40);
}

#[test]
fn a_reference_to_a_type_already_mapped_is_followed_at_any_depth() {
    // The bound on nested references was checked before looking whether
    // the target was mapped already: a reference to a type mapped earlier
    // (which nests nothing) was refused at the deepest level of a chain.
    let mut text = String::from(
        "openapi: 3.0.3\ninfo: {title: Chain, version: 1.0.0}\npaths:\n  /c:\n    get:\n      operationId: getC\n      responses:\n        '200':\n          description: ok\n          content: {application/json: {schema: {$ref: '#/components/schemas/Common'}}}\n  /s:\n    get:\n      operationId: getS\n      responses:\n        '200':\n          description: ok\n          content: {application/json: {schema: {$ref: '#/components/schemas/S0'}}}\ncomponents:\n  schemas:\n    Common: {type: object, properties: {n: {type: string}}}\n",
    );
    // S0 .. S98 each refer to the next; S99, the 100th level, to Common.
    for i in 0..99 {
        text.push_str(&format!(
            "    S{i}: {{type: object, properties: {{n: {{$ref: '#/components/schemas/S{}'}}}}}}\n",
            i + 1
        ));
    }
    text.push_str(
        "    S99: {type: object, properties: {c: {$ref: '#/components/schemas/Common'}}}\n",
    );
    let (model, _) = wit_of(&text);
    assert!(model.types.len() >= 101, "{}", model.types.len());
}
