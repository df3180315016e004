//! Names that collide in one WIT scope: every scope's names come out
//! unique (a function and a type of `types` it uses, a function and an
//! interface's own type, a path parameter and `request`, two parameters
//! that differ only in case), and the model keeps each one's wire name.

mod common;

use common::wit_of;
use reprise_openapi::model::Location;

#[test]
fn a_function_named_like_a_type_it_uses_renames_the_type_in_its_interface() {
    let (model, wit) = wit_of(
        r#"
openapi: 3.0.3
info: {title: ItemMin, version: 1.0.0}
paths:
  /item:
    get:
      operationId: item
      responses:
        '200': {description: ok, content: {application/json: {schema: {$ref: '#/components/schemas/Item'}}}}
components:
  schemas:
    Item: {type: object, properties: {id: {type: string}}}
"#,
    );
    assert!(
        wit.contains("use types.{error, item as item-type};"),
        "{wit}"
    );
    assert!(
        wit.contains("item: func() -> result<item-type, error>;"),
        "{wit}"
    );
    assert_eq!(model.interfaces[0].functions[0].name, "item");
}

#[test]
fn a_function_named_error_renames_the_error_type() {
    let (_, wit) = wit_of(
        r#"
openapi: 3.0.3
info: {title: Clash, version: 1.0.0}
paths:
  /e:
    get:
      operationId: error
      responses: {'200': {description: ok}}
"#,
    );
    assert!(wit.contains("use types.{error as error-type};"), "{wit}");
    assert!(
        wit.contains("error: func() -> result<_, error-type>;"),
        "{wit}"
    );
}

#[test]
fn an_interface_type_keeps_clear_of_function_names_and_schema_names() {
    let (model, wit) = wit_of(
        r#"
openapi: 3.0.3
info: {title: Clash, version: 1.0.0}
paths:
  /f:
    get:
      operationId: foo
      parameters: [{name: q, in: query, schema: {type: string}}]
      responses: {'200': {description: ok}}
    post:
      operationId: fooRequest
      responses: {'200': {description: ok}}
    put:
      operationId: bar
      parameters: [{name: q, in: query, schema: {type: string}}]
      requestBody:
        content: {application/json: {schema: {$ref: '#/components/schemas/BarRequest'}}}
      responses: {'200': {description: ok}}
components:
  schemas:
    BarRequest: {type: object, properties: {id: {type: string}}}
"#,
    );
    let interface = &model.interfaces[0];
    let names: Vec<&str> = interface
        .functions
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(names, ["foo", "foo-request", "bar"]);
    let request = |i: usize| {
        interface.functions[i]
            .request
            .as_ref()
            .unwrap()
            .type_name
            .as_str()
    };
    assert_eq!(request(0), "foo-request2");
    // `bar-request` is the schema's: the interface's record must not hide it.
    assert_eq!(request(2), "bar-request2");
    assert!(wit.contains("body: option<bar-request>,"), "{wit}");
}

#[test]
fn path_parameters_keep_clear_of_request_and_of_each_other() {
    let (model, wit) = wit_of(
        r#"
openapi: 3.0.3
info: {title: Clash, version: 1.0.0}
paths:
  /things/{request}:
    get:
      parameters:
        - {name: request, in: path, required: true, schema: {type: string}}
        - {name: q, in: query, schema: {type: string}}
      responses: {'200': {description: ok}}
  /pairs/{a}/{A}:
    get:
      parameters:
        - {name: a, in: path, required: true, schema: {type: string}}
        - {name: A, in: path, required: true, schema: {type: string}}
        - {name: If-Match, in: header, schema: {type: string}}
        - {name: if-match, in: header, schema: {type: string}}
      responses: {'200': {description: ok}}
"#,
    );
    assert!(
        wit.contains("get: func(request2: string, request: get-request)"),
        "{wit}"
    );
    assert!(wit.contains("get: func(a: string, a2: string"), "{wit}");
    let pairs = &model.interfaces[1].functions[0];
    let wires: Vec<(&str, &str)> = pairs
        .path_params
        .iter()
        .map(|p| (p.name.as_str(), p.wire.as_str()))
        .collect();
    assert_eq!(wires, [("a", "a"), ("a2", "A")]);
    let headers: Vec<&str> = pairs
        .request
        .as_ref()
        .unwrap()
        .params
        .iter()
        .filter(|p| p.location == Location::Header)
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(headers, ["expected-version", "expected-version2"]);
    assert_eq!(
        model.interfaces[0].functions[0].path_params[0].wire,
        "request"
    );
}
