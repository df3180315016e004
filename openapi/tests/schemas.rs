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
        "    A: {allOf: [{$ref: '#/components/schemas/B'}, {type: object, properties: {a: {type: string}}}]}\n    B: {allOf: [{$ref: '#/components/schemas/A'}, {type: object, properties: {b: {type: string}}}]}\n",
    ));
    assert!(message.contains("cannot extend itself"), "{message}");
    // A one-part `allOf` is its part: a cycle of them is a cycle of `$ref`s.
    let (_, wit) = wit_of(&with_schemas(
        "    A: {allOf: [{$ref: '#/components/schemas/B'}]}\n    B: {allOf: [{$ref: '#/components/schemas/A'}]}\n",
    ));
    assert!(
        wit.contains("type b = string;") && wit.contains("type a = b;"),
        "{wit}"
    );
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

#[test]
fn objects_without_properties_are_json_not_empty_records() {
    let (model, wit) = wit_of(
        r#"
openapi: 3.0.3
info: {title: EmptyRec, version: 1.0.0}
paths:
  /x:
    post:
      requestBody:
        content: {application/json: {schema: {type: object, properties: {}}}}
      responses:
        '200': {description: ok, content: {application/json: {schema: {$ref: '#/components/schemas/Wrapper'}}}}
components:
  schemas:
    E1: {type: object, properties: {}}
    E2: {allOf: []}
    E3: {allOf: [{type: object}]}
    E4: {allOf: [{type: string}]}
    E5: {allOf: [{$ref: '#/components/schemas/Union'}]}
    Union: {oneOf: [{type: string}, {type: integer}]}
    E7: {type: object, required: [a], properties: {}}
    Wrapper: {type: object, properties: {e5: {$ref: '#/components/schemas/E5'}, e2: {$ref: '#/components/schemas/E2'}}}
"#,
    );
    for alias in [
        "type e1 = string;",
        "type e2 = string;",
        "type e3 = string;",
        "type e4 = string;",
        "type e5 = union;",
        "type e7 = string;",
    ] {
        assert!(wit.contains(alias), "{alias}: {wit}");
    }
    let body = model.interfaces[0].functions[0].request.as_ref().unwrap();
    assert!(
        wit.contains("body: option<string>,") && body.body.is_some(),
        "{wit}"
    );
}

#[test]
fn an_allof_with_a_part_that_is_not_an_object_is_refused() {
    for (part, what) in [
        ("{type: string}", "is a `string`, not an object"),
        (
            "{$ref: '#/components/schemas/U'}",
            "is a `oneOf`, not an object",
        ),
        ("{type: string, enum: [a]}", "is an enum, not an object"),
    ] {
        let message = error_of(&with_schemas(&format!(
            "    U: {{oneOf: [{{type: string}}, {{type: integer}}]}}\n    A: {{allOf: [{part}, {{type: object, properties: {{a: {{type: string}}}}}}]}}\n"
        )));
        assert!(
            message.contains("components.schemas.A.allOf[0]") && message.contains(what),
            "{part}: {message}"
        );
    }
}

#[test]
fn allof_parts_disagreeing_on_a_property_type_are_refused() {
    let message = error_of(&with_schemas(
        "    A: {allOf: [{type: object, properties: {kind: {type: string}}}, {type: object, required: [kind], properties: {kind: {type: integer}}}]}\n",
    ));
    assert!(
        message.contains("components.schemas.A.allOf[1]")
            && message.contains("disagree on property `kind`: `string` in one, `s64` in another"),
        "{message}"
    );
    // Agreeing parts merge; a later one may make a property required.
    let (_, wit) = wit_of(&with_schemas(
        "    A: {allOf: [{type: object, properties: {kind: {type: string}}}, {type: object, required: [kind], properties: {kind: {type: string}}}], properties: {own: {type: boolean}}}\n",
    ));
    assert!(
        wit.contains("kind: string,") && wit.contains("own: option<bool>,"),
        "{wit}"
    );
}

#[test]
fn properties_with_typed_additional_properties_are_json_not_dropped() {
    let (_, wit) = wit_of(&with_schemas(
        "    A:\n      type: object\n      properties:\n        mapProps: {type: object, properties: {a: {type: string}}, additionalProperties: {type: integer}}\n        open: {type: object, properties: {a: {type: string}}, additionalProperties: true}\n",
    ));
    assert!(wit.contains("map-props: option<string>,"), "{wit}");
    assert!(wit.contains("open: option<a-open>,"), "{wit}");
}

#[test]
fn several_types_are_json_and_non_schema_refs_are_refused() {
    let (_, wit) = wit_of(
        "openapi: 3.1.0\ninfo: {title: S, version: 1.0.0}\npaths: {}\ncomponents:\n  schemas:\n    Multi: {type: [integer, string]}\n    MultiNull: {type: [integer, string, 'null']}\n    Obj: {type: [object, string], properties: {a: {type: string}}}\n",
    );
    assert!(wit.contains("type multi = string;"), "{wit}");
    assert!(wit.contains("type multi-null = option<string>;"), "{wit}");
    assert!(wit.contains("type obj = string;"), "{wit}");
    let message = error_of(&with_schemas(
        "    B: {$ref: '#/paths'}\n    C: {$ref: '#/info'}\n    G: {type: object, properties: {x: {$ref: '#/components/responses/R'}}}\n",
    ));
    for (at, pointer) in [
        ("components.schemas.B", "#/paths"),
        ("components.schemas.C", "#/info"),
        (
            "components.schemas.G.properties.x",
            "#/components/responses/R",
        ),
    ] {
        assert!(
            message.contains(&format!(
                "at `{at}`: `$ref: {pointer}` does not point at a schema"
            )),
            "{at}: {message}"
        );
    }
}

#[test]
fn a_default_response_without_a_2xx_one_is_the_success() {
    let (model, wit) = wit_of(
        "openapi: 3.0.3\ninfo: {title: S, version: 1.0.0}\npaths:\n  /items:\n    get:\n      responses:\n        default: {description: any, content: {application/json: {schema: {type: array, items: {type: string}}}}}\n",
    );
    assert!(
        wit.contains("%list: func() -> result<list<string>, error>;"),
        "{wit}"
    );
    assert_eq!(model.error_body, None);
}

#[test]
fn a_repeated_enum_value_is_one_case() {
    let (model, wit) = wit_of(&with_schemas("    E: {type: string, enum: [x, x, X]}\n"));
    assert!(
        wit.contains("enum e {\n        x,\n        x2,\n    }"),
        "{wit}"
    );
    let e = model.types.iter().find(|t| t.name == "e").unwrap();
    let reprise_openapi::model::TypeKind::Enum(cases) = &e.kind else {
        panic!("{e:?}")
    };
    let values: Vec<&str> = cases.iter().map(|c| c.value.as_str()).collect();
    assert_eq!(values, ["x", "X"]);
}

#[test]
fn an_unquoted_openapi_version_is_named_as_not_a_string() {
    let message = error_of("openapi: 3.0\ninfo: {title: x, version: '1'}\npaths: {}\n");
    assert!(
        message.contains("`openapi` must be a string") && !message.contains("missing"),
        "{message}"
    );
}

#[test]
fn allof_parts_giving_a_property_two_schemas_are_refused() {
    // An inline object in each part, with other properties: one record
    // cannot hold both, and keeping one dropped the other's `zip`.
    let message = error_of(&with_schemas(
        "    A: {allOf: [{type: object, properties: {addr: {type: object, properties: {street: {type: string}}}}}, {type: object, properties: {addr: {type: object, properties: {zip: {type: integer}}}}}]}\n",
    ));
    assert!(
        message.contains("components.schemas.A.allOf[1]")
            && message.contains(
                "the `allOf` parts give property `addr` two different schemas (`a-addr` in one, `a-addr2` in another)"
            ),
        "{message}"
    );
    // Two `$ref`s to different schemas.
    let message = error_of(&with_schemas(
        "    P: {type: object, properties: {street: {type: string}}}\n    Q: {type: object, properties: {zip: {type: integer}}}\n    A: {allOf: [{type: object, properties: {addr: {$ref: '#/components/schemas/P'}}}, {type: object, properties: {addr: {$ref: '#/components/schemas/Q'}}}]}\n",
    ));
    assert!(
        message.contains("property `addr` two different schemas (`p` in one, `q` in another)"),
        "{message}"
    );
    // One `$ref` in both parts, or the same inline object twice, merges; a
    // later part may make it required.
    let (_, wit) = wit_of(&with_schemas(
        "    P: {type: object, properties: {street: {type: string}}}\n    A: {allOf: [{type: object, properties: {addr: {$ref: '#/components/schemas/P'}}}, {type: object, required: [addr], properties: {addr: {$ref: '#/components/schemas/P'}}}]}\n",
    ));
    assert!(wit.contains("record a {\n        addr: p,\n    }"), "{wit}");
    let (_, wit) = wit_of(&with_schemas(
        "    A: {allOf: [{type: object, properties: {addr: {type: object, properties: {zip: {type: integer}}}}}, {type: object, required: [addr], properties: {addr: {type: object, properties: {zip: {type: integer}}}}}]}\n",
    ));
    assert!(
        wit.contains("record a {\n        addr: a-addr,\n    }"),
        "{wit}"
    );
    // The second part's copy is not left behind as an unused type.
    assert!(!wit.contains("a-addr2"), "{wit}");
    // Inline objects nested in both, alike, merge too (each part's gets a
    // name of its own); different nested ones are refused.
    let nested = |zip: &str| {
        let part = |name: &str| {
            format!(
                "        - type: object\n          properties:\n            addr:\n              type: object\n              properties:\n                geo:\n                  type: object\n                  properties:\n                    {name}: {{type: number}}\n"
            )
        };
        with_schemas(&format!(
            "    A:\n      allOf:\n{}{}",
            part("lat"),
            part(zip)
        ))
    };
    let (_, wit) = wit_of(&nested("lat"));
    assert!(
        wit.contains("record a {\n        addr: option<a-addr>,\n    }"),
        "{wit}"
    );
    assert!(!wit.contains("a-addr2"), "{wit}");
    let message = error_of(&nested("lng"));
    assert!(
        message.contains("property `addr` two different schemas"),
        "{message}"
    );
    // The same for a list of inline objects defined alike in both parts.
    let listed = |field: &str| {
        let part = |name: &str| {
            format!(
                "        - type: object\n          properties:\n            tags:\n              type: array\n              items:\n                type: object\n                properties:\n                  {name}: {{type: string}}\n"
            )
        };
        with_schemas(&format!(
            "    A:\n      allOf:\n{}{}",
            part("label"),
            part(field)
        ))
    };
    let (_, wit) = wit_of(&listed("label"));
    assert!(wit.contains("tags: option<list<a-tags-item>>,"), "{wit}");
    assert!(!wit.contains("a-tags-item2"), "{wit}");
    let message = error_of(&listed("colour"));
    assert!(message.contains("disagree on property `tags`"), "{message}");
}

#[test]
fn a_required_list_in_one_allof_part_applies_to_properties_of_another() {
    // Each part's fields saw only its own `required`: `name` stayed an
    // `option`, and a guest could leave out what the server requires.
    let (model, wit) = wit_of(&with_schemas(
        "    Base:\n      type: object\n      properties: {name: {type: string}, note: {type: string, \
         nullable: true}, secret: {type: string, writeOnly: true}, extra: {type: string}}\n    \
         Named:\n      allOf:\n        - $ref: '#/components/schemas/Base'\n        - {required: \
         [name, note, secret]}\n",
    ));
    assert!(
        wit.contains("record named {\n")
            && wit.contains("    name: string,")
            && wit.contains("    extra: option<string>,"),
        "{wit}"
    );
    let named = model
        .types
        .iter()
        .find(|t| t.name == "named")
        .expect("the merged record");
    let reprise_openapi::model::TypeKind::Record(fields) = &named.kind else {
        panic!("{named:?}");
    };
    let field = |wire: &str| fields.iter().find(|f| f.wire == wire).unwrap();
    // Nullable: still an option, sent as `null` for `none`.
    assert!(field("note").null_when_none, "{:?}", field("note"));
    // Write-only: answers leave it out, so it stays an option.
    assert!(
        matches!(
            field("secret").ty,
            reprise_openapi::model::TypeRef::Option(_)
        ),
        "{:?}",
        field("secret")
    );
}

#[test]
fn allof_parts_whose_properties_name_alike_get_distinct_fields() {
    // Each part named its properties on its own: `due_date` and `dueDate`
    // were both `due-date`, twice in one record (invalid WIT).
    let (_, wit) = wit_of(&with_schemas(
        "    Todo:\n      allOf:\n        - {type: object, properties: {due_date: {type: string}}}\n        - {type: object, properties: {dueDate: {type: string}}}\n",
    ));
    assert!(
        wit.contains("due-date: option<string>") && wit.contains("due-date2: option<string>"),
        "{wit}"
    );
}

#[test]
fn a_nullable_enum_listing_null_keeps_its_cases() {
    // `null` among the values (as OpenAPI 3.0.3 asks of a nullable enum, and
    // 3.1's type list) made the schema a free `option<string>`.
    for status in [
        "{type: string, nullable: true, enum: [active, inactive, null]}",
        "{type: [string, 'null'], enum: [active, inactive, null]}",
    ] {
        let (_, wit) = wit_of(&with_schemas(&format!(
            "    Status: {status}\n    Holder: {{type: object, required: [status], properties: {{status: {{$ref: '#/components/schemas/Status'}}}}}}\n"
        )));
        assert!(
            wit.contains("enum status {") && wit.contains("active,") && wit.contains("inactive,"),
            "{status}: {wit}"
        );
        assert!(wit.contains("status: option<status>"), "{status}: {wit}");
    }
}

#[test]
fn types_with_more_members_than_a_component_type_may_have_are_refused() {
    // wasmparser refuses a record, variant or enum of more than 10 000
    // members; the document mapped, the WIT was written, and every
    // component built on it failed.
    let values: String = (0..10_001).map(|i| format!("v{i}, ")).collect();
    let properties: String = (0..10_001)
        .map(|i| format!("p{i}: {{type: string}}, "))
        .collect();
    for (schemas, what) in [
        (
            format!("    Big: {{type: string, enum: [{values}]}}\n"),
            "enum values",
        ),
        (
            format!("    Big: {{type: object, properties: {{{properties}}}}}\n"),
            "properties",
        ),
    ] {
        let error = error_of(&with_schemas(&schemas));
        assert!(
            error.contains("10001") && error.contains(what),
            "{what}: {error}"
        );
    }
}

#[test]
fn allof_parts_defining_one_property_both_hold() {
    // When a later part made the property required, its definition
    // replaced the first one whole, `readOnly` and constraints included;
    // an optional later part's were dropped. Both hold.
    let (model, _) = wit_of(&with_schemas(
        "    A: {allOf: [{type: object, properties: {id: {type: string, readOnly: true, maxLength: 8}}}, {type: object, required: [id], properties: {id: {type: string, minLength: 2}}}]}\n    B: {allOf: [{type: object, properties: {n: {type: integer, minimum: 0}}}, {type: object, properties: {n: {type: integer, maximum: 9, readOnly: true}}}]}\n",
    ));
    let field = |record: &str, name: &str| {
        model
            .types
            .iter()
            .find(|t| t.name == record)
            .and_then(|t| match &t.kind {
                reprise_openapi::model::TypeKind::Record(fields) => {
                    fields.iter().find(|f| f.wire == name).cloned()
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("{record}.{name}"))
    };
    let id = field("a", "id");
    assert!(id.read_only, "{id:?}");
    assert_eq!(
        (id.constraints.min_length, id.constraints.max_length),
        (Some(2), Some(8))
    );
    let n = field("b", "n");
    assert!(n.read_only, "{n:?}");
    assert_eq!(
        (n.constraints.minimum, n.constraints.maximum),
        (Some(0.0), Some(9.0))
    );
}
