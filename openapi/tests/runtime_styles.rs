//! Parameters written in the style their document gives them: objects in
//! the query spread over their properties (`form`), joined (`explode:
//! false`, `spaceDelimited`, `pipeDelimited`) or bracketed (`deepObject`);
//! `content: application/json` as JSON text; `simple`, `label` and
//! `matrix` in the path; `simple` headers. A value no style can write is
//! refused before sending (the styles a place does not take are refused
//! when the document is read: `runtime_answers`), and models stored before
//! styles were recorded keep writing what they wrote.

#![cfg(feature = "runtime")]

mod common;

use reprise_openapi::runtime::{function, request};
use reprise_openapi::{ApiModel, Options, parse};
use wasmtime::component::Val;

use common::values::{none, s, some};

const DOC: &str = r##"
openapi: 3.0.3
info: {title: Styles, version: "1"}
components:
  schemas:
    Color:
      type: object
      properties: {R: {type: integer}, G: {type: integer}, B: {type: integer}}
    Tagged:
      type: object
      properties: {tags: {type: array, items: {type: string}}}
paths:
  /search:
    get:
      operationId: search
      parameters:
        - {name: color, in: query, schema: {$ref: '#/components/schemas/Color'}}
        - {name: ids, in: query, explode: false, schema: {type: array, items: {type: integer}}}
        - {name: shade, in: query, explode: false, schema: {$ref: '#/components/schemas/Color'}}
        - {name: words, in: query, style: spaceDelimited, schema: {type: array, items: {type: string}}}
        - {name: codes, in: query, style: pipeDelimited, schema: {type: array, items: {type: string}}}
        - {name: filter, in: query, style: deepObject, schema: {$ref: '#/components/schemas/Color'}}
        - {name: q, in: query, content: {application/json: {schema: {$ref: '#/components/schemas/Tagged'}}}}
        - {name: tagged, in: query, schema: {$ref: '#/components/schemas/Tagged'}}
        - {name: X-Color, in: header, explode: true, schema: {$ref: '#/components/schemas/Color'}}
        - {name: X-Ids, in: header, schema: {type: array, items: {type: integer}}}
        - {name: maybe, in: query, schema: {type: array, items: {type: string, nullable: true}}}
        - {name: ratio, in: query, schema: {type: number}}
      responses: {"204": {description: ok}}
  /paint/{simple}/{label}/{matrix}/{spread}:
    get:
      operationId: paint
      parameters:
        - {name: simple, in: path, required: true, explode: true, schema: {$ref: '#/components/schemas/Color'}}
        - {name: label, in: path, required: true, style: label, schema: {type: array, items: {type: string}}}
        - {name: matrix, in: path, required: true, style: matrix, schema: {type: array, items: {type: string}}}
        - {name: spread, in: path, required: true, style: matrix, explode: true, schema: {$ref: '#/components/schemas/Color'}}
      responses: {"204": {description: ok}}
"##;

fn model() -> ApiModel {
    parse(DOC, "styles.yaml", &Options::default()).unwrap()
}

fn int(n: i64) -> Val {
    some(Val::S64(n))
}

/// A `Color` record (each channel optional).
fn color(r: Option<i64>, g: Option<i64>, b: Option<i64>) -> Val {
    let channel = |c: Option<i64>| c.map_or_else(none, int);
    Val::Record(vec![
        ("r".into(), channel(r)),
        ("g".into(), channel(g)),
        ("b".into(), channel(b)),
    ])
}

fn strings(items: &[&str]) -> Val {
    Val::List(items.iter().map(|t| s(t)).collect())
}

fn tagged(tags: &[&str]) -> Val {
    Val::Record(vec![("tags".into(), some(strings(tags)))])
}

/// The request record of `search`, every field absent but those given.
fn search_request(given: &[(&str, Val)]) -> Val {
    let names = [
        "color", "ids", "shade", "words", "codes", "filter", "q", "tagged", "x-color", "x-ids",
        "maybe", "ratio",
    ];
    Val::Record(
        names
            .iter()
            .map(|name| {
                let value = given
                    .iter()
                    .find(|(n, _)| n == name)
                    .map_or_else(none, |(_, v)| some(v.clone()));
                ((*name).to_owned(), value)
            })
            .collect(),
    )
}

#[test]
fn query_parameters_follow_their_style() {
    let model = model();
    let (interface, search) = function(&model, "search-collection", "search").unwrap();
    let params = search_request(&[
        ("color", color(Some(100), Some(200), None)),
        (
            "ids",
            Val::List(vec![Val::S64(1), Val::S64(2), Val::S64(3)]),
        ),
        ("shade", color(Some(1), Some(2), None)),
        ("words", strings(&["a b", "c"])),
        ("codes", strings(&["x", "y|z"])),
        ("filter", color(Some(5), None, Some(7))),
        ("q", tagged(&["a"])),
        ("x-color", color(Some(1), Some(2), None)),
        ("x-ids", Val::List(vec![Val::S64(1), Val::S64(2)])),
        ("maybe", Val::List(vec![some(s("a")), none()])),
    ]);
    let sent = request(&model, interface, search, &[params]).unwrap();
    let (path, query) = sent.path_and_query.split_once('?').unwrap();
    assert_eq!(path, "/search");
    let pairs: Vec<&str> = query.split('&').collect();
    assert_eq!(
        pairs,
        [
            // form, exploded (the default): the object's properties, in
            // the schema's order.
            "R=100",
            "G=200",
            // form, not exploded: items, or keys and values, joined.
            "ids=1,2,3",
            "shade=R,1,G,2",
            // The delimited styles (`|` is not allowed in a URI).
            "words=a%20b%20c",
            "codes=x%7Cy%7Cz",
            "filter%5BR%5D=5",
            "filter%5BB%5D=7",
            // content: application/json.
            "q=%7B%22tags%22%3A%5B%22a%22%5D%7D",
            // An absent item is left out (it was sent as `null`).
            "maybe=a",
        ]
    );
    let headers: Vec<(&str, &str)> = sent
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    assert_eq!(headers, [("X-Color", "R=1,G=2"), ("X-Ids", "1,2")]);
}

#[test]
fn path_parameters_follow_their_style() {
    let model = model();
    let (interface, paint) = function(&model, "paint-resource", "paint").unwrap();
    let sent = request(
        &model,
        interface,
        paint,
        &[
            color(Some(1), Some(2), None),
            strings(&["a", "b"]),
            strings(&["a", "b,c"]),
            color(Some(1), None, Some(3)),
        ],
    )
    .unwrap();
    assert_eq!(
        sent.path_and_query,
        "/paint/R=1,G=2/.a,b/;matrix=a,b%2Cc/;R=1;B=3"
    );
    // An empty value in `matrix` is the bare name, as RFC 6570 writes it
    // (it was `;matrix=`).
    let sent = request(
        &model,
        interface,
        paint,
        &[
            color(Some(1), None, None),
            strings(&["a"]),
            strings(&[""]),
            color(Some(1), None, None),
        ],
    )
    .unwrap();
    assert_eq!(sent.path_and_query, "/paint/R=1/.a/;matrix/;R=1");
}

#[test]
fn a_value_no_style_can_write_is_refused_before_sending() {
    let model = model();
    let (interface, search) = function(&model, "search-collection", "search").unwrap();
    let params = search_request(&[("tagged", tagged(&["a", "b"]))]);
    let refused = format!(
        "{:?}",
        request(&model, interface, search, &[params]).unwrap_err()
    );
    assert!(
        refused.contains("validation-error")
            && refused.contains("parameter `tagged` holds an array or object in property `tags`")
            && refused.contains("content: application/json"),
        "{refused}"
    );
    // A number JSON cannot hold is refused, not left out (it sent no
    // parameter at all).
    let params = search_request(&[("ratio", Val::Float64(f64::NAN))]);
    let refused = format!(
        "{:?}",
        request(&model, interface, search, &[params]).unwrap_err()
    );
    assert!(
        refused.contains("ratio") && refused.contains("JSON has no NaN or infinity"),
        "{refused}"
    );
    // The same value is fine as JSON text, and nothing at all is sent for
    // absent parameters.
    let params = search_request(&[("q", tagged(&["a", "b"]))]);
    let sent = request(&model, interface, search, &[params]).unwrap();
    assert_eq!(
        sent.path_and_query,
        "/search?q=%7B%22tags%22%3A%5B%22a%22%2C%22b%22%5D%7D"
    );
    assert!(sent.headers.is_empty());
}

#[test]
fn models_stored_before_styles_write_what_they_wrote() {
    let mut model = model();
    for interface in &mut model.interfaces {
        for function in &mut interface.functions {
            for param in function.path_params.iter_mut().chain(
                function
                    .request
                    .iter_mut()
                    .flat_map(|request| request.params.iter_mut()),
            ) {
                param.encoding = None;
            }
        }
    }
    // A stored model is JSON: one without the field reads back as legacy.
    let stored = serde_json::to_string(&model).unwrap();
    assert!(!stored.contains("encoding"), "{stored}");
    let model: ApiModel = serde_json::from_str(&stored).unwrap();
    let (interface, search) = function(&model, "search-collection", "search").unwrap();
    let params = search_request(&[
        ("color", color(Some(1), None, None)),
        ("ids", Val::List(vec![Val::S64(1), Val::S64(2)])),
    ]);
    let sent = request(&model, interface, search, &[params]).unwrap();
    assert_eq!(
        sent.path_and_query,
        "/search?color=%7B%22R%22%3A1%7D&ids=1&ids=2"
    );
}

const ONE_OF: &str = r##"
openapi: 3.0.3
info: {title: Filters, version: "1"}
components:
  schemas:
    ByName:
      type: object
      properties: {name: {type: string}}
    ByTag:
      type: object
      properties: {tag: {type: string}}
    Filter:
      oneOf: [{$ref: '#/components/schemas/ByName'}, {$ref: '#/components/schemas/ByTag'}]
paths:
  /items:
    get:
      operationId: listItems
      parameters:
        - {name: filter, in: query, style: deepObject, schema: {$ref: '#/components/schemas/Filter'}}
        - {name: X-Filter, in: header, explode: true, schema: {$ref: '#/components/schemas/Filter'}}
      responses: {"204": {description: ok}}
"##;

#[test]
fn an_object_parameter_of_a_one_of_is_written_as_its_case() {
    // The keys of an object parameter came only from a record's or a
    // map's fields: a `oneOf` case's object had none, and the parameter
    // was silently left out of the request.
    let model = parse(ONE_OF, "filters.yaml", &Options::default()).unwrap();
    let (interface, list) = function(&model, "items-collection", "list-items").unwrap();
    let by_name = |name: &str| {
        let record = Val::Record(vec![("name".into(), some(s(name)))]);
        Val::Variant("by-name".into(), Some(Box::new(record)))
    };
    let params = Val::Record(vec![
        ("filter".into(), some(by_name("milk"))),
        ("x-filter".into(), some(by_name("tea"))),
    ]);
    let sent = request(&model, interface, list, &[params]).unwrap();
    assert_eq!(sent.path_and_query, "/items?filter%5Bname%5D=milk");
    let headers: Vec<(&str, &str)> = sent
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    assert_eq!(headers, [("X-Filter", "name=tea")]);
}

#[test]
fn a_json_content_parameter_without_a_schema_takes_any_json() {
    // It was a string, written as a JSON string: `{"a":1}` went out quoted,
    // and an object, array or number could never be sent.
    let text = "openapi: 3.0.3\ninfo: {title: Q, version: \"1\"}\npaths:\n  /find:\n    get:\n      operationId: find\n      parameters:\n        - {name: q, in: query, content: {application/json: {}}}\n      responses: {\"204\": {description: ok}}\n";
    let model = parse(text, "q.yaml", &Options::default()).unwrap();
    let (interface, find) = function(&model, "find-collection", "find").unwrap();
    let params = Val::Record(vec![("q".into(), some(s(r#"{"a":1}"#)))]);
    let sent = request(&model, interface, find, &[params]).unwrap();
    assert_eq!(sent.path_and_query, "/find?q=%7B%22a%22%3A1%7D");
}
