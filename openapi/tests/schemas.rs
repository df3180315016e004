//! Schemas that are hard to map: recursion through `allOf` and through
//! references into schemas, empty objects, `allOf`s that are not objects
//! or disagree, several types, duplicate enum values: each maps to valid
//! WIT or is refused naming the schema and why, never silently dropped.

mod common;

use common::{error_of, wit_of};

fn with_schemas(schemas: &str) -> String {
    format!(
        "openapi: 3.0.3\ninfo: {{title: S, version: 1.0.0}}\npaths: {{}}\ncomponents:\n  schemas:\n{schemas}"
    )
}

#[test]
fn an_allof_extending_itself_is_refused_not_a_crash() {
    let message = error_of(&with_schemas(
        "    AllOfRec:\n      allOf:\n        - $ref: '#/components/schemas/AllOfRec'\n        - {type: object, properties: {z: {type: string}}}\n",
    ));
    assert!(
        message.contains("components.schemas.AllOfRec.allOf[0]")
            && message.contains("cannot extend itself"),
        "{message}"
    );
    let message = error_of(&with_schemas(
        "    A: {allOf: [{$ref: '#/components/schemas/B'}]}\n    B: {allOf: [{$ref: '#/components/schemas/A'}]}\n",
    ));
    assert!(message.contains("cannot extend itself"), "{message}");
}

#[test]
fn an_allof_closing_a_cycle_is_json_as_recursion_is() {
    let (_, wit) = wit_of(&with_schemas(
        "    Node:\n      type: object\n      properties:\n        name: {type: string}\n        child: {nullable: true, allOf: [{$ref: '#/components/schemas/Node'}]}\n",
    ));
    assert!(wit.contains("child: option<string>,"), "{wit}");
    // A derived schema still merges its base's properties.
    let (_, wit) = wit_of(&with_schemas(
        "    Base: {type: object, properties: {id: {type: string}, child: {$ref: '#/components/schemas/Derived'}}}\n    Derived: {allOf: [{$ref: '#/components/schemas/Base'}, {type: object, properties: {extra: {type: string}}}]}\n",
    ));
    assert!(wit.contains("extra: option<string>"), "{wit}");
}

#[test]
fn a_reference_into_a_schema_closing_a_cycle_is_json() {
    let (_, wit) = wit_of(&with_schemas(
        "    A:\n      type: object\n      properties:\n        b: {type: object, properties: {c: {$ref: '#/components/schemas/A/properties/b'}}}\n",
    ));
    assert!(wit.contains("c: option<string>,"), "{wit}");
}
