//! Inheritance by `allOf` with a discriminator on the base schema (`Pet`
//! with a `discriminator`, `Dog: allOf [Pet, ...]`): `Pet` is a variant of
//! the schemas extending it, read by the discriminator's value and sent
//! with the case's value. (It was the base record, and a subtype's own
//! properties were lost.)

#![cfg(feature = "runtime")]

mod common;

use reprise_openapi::runtime::{HttpResponse, function, request, response};
use reprise_openapi::{ApiModel, Options, parse, wit};
use wasmtime::component::Val;

use common::values::{s, some};
use common::{error_of, wit_of};

const DOC: &str = r##"
openapi: 3.0.3
info: {title: Zoo, version: "1"}
paths:
  /pets:
    post:
      operationId: addPet
      requestBody: {required: true, content: {application/json: {schema: {$ref: "#/components/schemas/Pet"}}}}
      responses:
        "201": {description: ok, content: {application/json: {schema: {$ref: "#/components/schemas/Pet"}}}}
  /pets/{id}:
    get:
      operationId: getPet
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses:
        "200": {description: ok, content: {application/json: {schema: {$ref: "#/components/schemas/Pet"}}}}
components:
  schemas:
    Pet:
      type: object
      required: [petType, name]
      properties: {petType: {type: string}, name: {type: string}}
      discriminator: {propertyName: petType, mapping: {doggo: "#/components/schemas/Dog"}}
    Dog:
      allOf:
        - $ref: "#/components/schemas/Pet"
        - type: object
          properties: {bark: {type: boolean}}
    Cat:
      allOf:
        - $ref: "#/components/schemas/Pet"
        - type: object
          required: [purrs]
          properties: {purrs: {type: boolean}}
    Husky:
      allOf:
        - $ref: "#/components/schemas/Dog"
        - type: object
          properties: {sled: {type: boolean}}
"##;

fn model() -> ApiModel {
    parse(DOC, "zoo.yaml", &Options::default()).unwrap()
}

fn answer(body: &str) -> HttpResponse {
    HttpResponse {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.as_bytes().to_vec(),
    }
}

/// The case and payload an answer of `getPet` is read as.
fn read(model: &ApiModel, body: &str) -> (String, String) {
    let (interface, get) = function(model, "pets-resource", "get-pet").unwrap();
    let read = response(model, interface, get, &answer(body));
    let Val::Result(Ok(Some(pet))) = read else {
        panic!("{read:?}");
    };
    let Val::Variant(case, Some(payload)) = *pet else {
        panic!("not a variant: {pet:?}");
    };
    (case, format!("{payload:?}"))
}

#[test]
fn the_base_is_a_variant_of_its_subtypes() {
    let (_, text) = wit_of(DOC);
    assert!(
        text.contains("variant pet {") && text.contains("doggo(dog)"),
        "{text}"
    );
    assert!(
        text.contains("cat(cat)") && text.contains("husky(husky)"),
        "{text}"
    );
    // The subtypes are records holding the base's properties (a subtype
    // of a subtype too), not the variant.
    for (record, own) in [("dog", "bark"), ("cat", "purrs"), ("husky", "sled")] {
        let body = text
            .split(&format!("record {record} {{"))
            .nth(1)
            .and_then(|rest| rest.split('}').next())
            .unwrap_or_else(|| panic!("no record {record}: {text}"));
        assert!(
            body.contains("pet-type: string") && body.contains("name: string"),
            "{record}: {body}"
        );
        assert!(body.contains(own), "{record}: {body}");
    }
}

#[test]
fn an_answer_is_read_as_the_subtype_its_discriminator_names() {
    let model = model();
    // Named by the mapping.
    let (case, dog) = read(&model, r#"{"petType":"doggo","name":"Rex","bark":true}"#);
    assert_eq!(case, "doggo");
    assert!(dog.contains("Bool(true)") && dog.contains("Rex"), "{dog}");
    // Named by the schema's name (no mapping names it), through two
    // levels of `allOf`.
    let (case, husky) = read(&model, r#"{"petType":"Husky","name":"Balto","sled":true}"#);
    assert_eq!(case, "husky");
    assert!(
        husky.contains("\"sled\"") && husky.contains("Bool(true)"),
        "{husky}"
    );
    let (case, _) = read(&model, r#"{"petType":"Cat","name":"Tom","purrs":false}"#);
    assert_eq!(case, "cat");
    // A value naming no subtype is an error naming it.
    let (interface, get) = function(&model, "pets-resource", "get-pet").unwrap();
    let failed = format!(
        "{:?}",
        response(
            &model,
            interface,
            get,
            &answer(r#"{"petType":"Fish","name":"Nemo"}"#)
        )
    );
    assert!(failed.contains("`Fish`, which names no case"), "{failed}");
}

#[test]
fn a_subtype_is_sent_with_its_case_s_discriminator_value() {
    let model = model();
    let (interface, add) = function(&model, "pets-collection", "add-pet").unwrap();
    // The guest's record says `Cat`; the case says `doggo`, and the server
    // must read what the case is.
    let dog = Val::Record(vec![
        ("pet-type".into(), s("Cat")),
        ("name".into(), s("Rex")),
        ("bark".into(), some(Val::Bool(true))),
    ]);
    let body = Val::Variant("doggo".into(), Some(Box::new(dog)));
    let sent = request(
        &model,
        interface,
        add,
        &[Val::Record(vec![("body".into(), body)])],
    )
    .unwrap();
    let (_, bytes) = sent.body.unwrap();
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"petType": "doggo", "name": "Rex", "bark": true})
    );
    let cat = Val::Record(vec![
        ("pet-type".into(), s("")),
        ("name".into(), s("Tom")),
        ("purrs".into(), Val::Bool(false)),
    ]);
    let body = Val::Variant("cat".into(), Some(Box::new(cat)));
    let sent = request(
        &model,
        interface,
        add,
        &[Val::Record(vec![("body".into(), body)])],
    )
    .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&sent.body.unwrap().1).unwrap();
    assert_eq!(json["petType"], "Cat");
}

#[test]
fn a_mapping_to_the_base_itself_or_to_no_schema_is_refused() {
    let itself = DOC.replace(
        "mapping: {doggo: \"#/components/schemas/Dog\"}",
        "mapping: {pet: Pet}",
    );
    let message = error_of(&itself);
    assert!(
        message.contains("the mapping names `Pet` itself")
            && message.contains("discriminator.mapping.pet"),
        "{message}"
    );
    let nowhere = DOC.replace(
        "#/components/schemas/Dog\"}",
        "#/components/schemas/Wolf\"}",
    );
    let message = error_of(&nowhere);
    assert!(message.contains("discriminator.mapping.doggo"), "{message}");
    // A discriminator on a schema nothing extends is a record, as before.
    let alone = DOC.split("    Dog:").next().unwrap().to_owned();
    let text = wit::render(&parse(&alone, "zoo.yaml", &Options::default()).unwrap());
    assert!(text.contains("record pet {"), "{text}");
}

#[test]
fn a_subtype_adding_nothing_is_a_record_of_the_base_s_properties() {
    // `Puppy: allOf: [$ref: Pet]`, referenced before its base: an alias
    // of the base's variant would have been a case of itself.
    let doc = DOC
        .replace(
            "  /pets/{id}:",
            "  /puppies/{id}:\n    get:\n      operationId: getPuppy\n      parameters: [{name: id, in: path, required: true, schema: {type: string}}]\n      responses:\n        \"200\": {description: ok, content: {application/json: {schema: {$ref: \"#/components/schemas/Puppy\"}}}}\n  /pets/{id}:",
        )
        .replace(
            "    Husky:",
            "    Puppy:\n      allOf: [{$ref: \"#/components/schemas/Pet\"}]\n    Husky:",
        );
    let (_, text) = wit_of(&doc);
    assert!(text.contains("puppy(puppy)"), "{text}");
    let puppy = text.split("record puppy {").nth(1).expect(&text);
    let puppy = puppy.split('}').next().unwrap();
    assert!(
        puppy.contains("pet-type: string") && puppy.contains("name: string"),
        "{puppy}"
    );
}

#[test]
fn a_subtype_with_a_discriminator_of_its_own_stays_a_case_of_the_outer_base() {
    // `Dog` with a discriminator, extending `Pet`: it became a variant of
    // `Husky` alone, so a plain dog (`petType: Dog`) named no case.
    let doc = DOC.replace(
        "    Dog:\n      allOf:",
        "    Dog:\n      discriminator: {propertyName: petType}\n      allOf:",
    );
    assert!(doc.contains("    Dog:\n      discriminator"), "{doc}");
    let (_, text) = wit_of(&doc);
    assert!(text.contains("record dog {"), "{text}");
    assert!(
        text.contains("doggo(dog)") && text.contains("husky(husky)"),
        "{text}"
    );
    let model = parse(&doc, "zoo.yaml", &Options::default()).unwrap();
    let (case, dog) = read(&model, r#"{"petType":"doggo","name":"Rex","bark":true}"#);
    assert_eq!(case, "doggo");
    assert!(dog.contains("Bool(true)"), "{dog}");
    let (case, _) = read(&model, r#"{"petType":"Husky","name":"Balto","sled":true}"#);
    assert_eq!(case, "husky");
}

#[test]
fn a_subtype_listed_before_its_base_does_not_make_the_types_hold_each_other() {
    // `File` first: its base `Node` was reached through `children`, and
    // `Node`'s cases named `file`, still being defined: `file` held a list
    // of `node` and `node` a `file` (invalid WIT). It maps as with `Node`
    // listed first.
    let doc = |order: &[&str]| {
        let file = "    File:\n      allOf:\n        - $ref: '#/components/schemas/Node'\n        - {type: object, properties: {size: {type: integer}}}\n";
        let node = "    Node:\n      type: object\n      required: [kind]\n      discriminator: {propertyName: kind}\n      properties:\n        kind: {type: string}\n        children: {type: array, items: {$ref: '#/components/schemas/Node'}}\n";
        let mut text = String::from(
            "openapi: 3.0.3\ninfo: {title: T, version: 1.0.0}\npaths: {}\ncomponents:\n  schemas:\n",
        );
        for name in order {
            text.push_str(if *name == "File" { file } else { node });
        }
        text
    };
    let (_, file_first) = wit_of(&doc(&["File", "Node"]));
    let (_, node_first) = wit_of(&doc(&["Node", "File"]));
    assert_eq!(file_first, node_first);
}
