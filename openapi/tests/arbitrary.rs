//! Property: any YAML text — random bytes, or random trees built from
//! OpenAPI's own keywords so the reader goes deep — either is refused with
//! an error or maps to WIT that wit-parser accepts. Never a panic.

use proptest::prelude::*;
use reprise_openapi::{Options, parse, wit};

/// A random YAML value as flow-style text.
fn yaml() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "openapi",
        "info",
        "title",
        "version",
        "paths",
        "/a",
        "/a/{id}",
        "/b/{x}/c",
        "get",
        "post",
        "patch",
        "delete",
        "parameters",
        "name",
        "in",
        "path",
        "query",
        "header",
        "required",
        "schema",
        "type",
        "object",
        "string",
        "integer",
        "number",
        "array",
        "boolean",
        "properties",
        "items",
        "enum",
        "oneOf",
        "anyOf",
        "allOf",
        "nullable",
        "format",
        "int32",
        "float",
        "binary",
        "additionalProperties",
        "$ref",
        "responses",
        "200",
        "201",
        "404",
        "default",
        "content",
        "application/json",
        "text/plain",
        "requestBody",
        "components",
        "schemas",
        "A",
        "B",
        "Error",
        "headers",
        "ETag",
        "operationId",
        "list",
        "record",
        "discriminator",
        "mapping",
        "id",
        "minLength",
    ]);
    let leaf = prop_oneof![
        key.clone().prop_map(|k| format!("{k:?}")),
        Just("'#/components/schemas/A'".to_owned()),
        Just("'#/components/schemas/B'".to_owned()),
        Just("'3.0.3'".to_owned()),
        Just("true".to_owned()),
        Just("null".to_owned()),
        any::<i32>().prop_map(|i| i.to_string()),
        "[a-z{}/$#-]{0,6}".prop_map(|s| format!("{s:?}")),
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec((key.clone(), inner), 0..6).prop_map(|entries| {
                let mut seen = std::collections::HashSet::new();
                let body: Vec<String> = entries
                    .into_iter()
                    .filter(|(k, _)| seen.insert(*k))
                    .map(|(k, v)| format!("{k:?}: {v}"))
                    .collect();
                format!("{{{}}}", body.join(", "))
            }),
        ]
    })
}

/// One operation with random parameter, body and response schemas.
fn operation() -> impl Strategy<Value = String> {
    (yaml(), yaml(), yaml(), yaml(), prop::bool::ANY).prop_map(|(param, body, ok, headers, with_id)| {
        let id = if with_id {
            "{name: id, in: path, required: true, schema: {type: string}}, "
        } else {
            ""
        };
        format!(
            "{{parameters: [{id}{{name: q, in: query, schema: {param}}}], \
             requestBody: {{content: {{application/json: {{schema: {body}}}}}}}, \
             responses: {{'200': {{headers: {headers}, content: {{application/json: {{schema: {ok}}}}}}}, \
             '404': {{content: {{application/json: {{schema: {{$ref: '#/components/schemas/A'}}}}}}}}}}}}"
        )
    })
}

/// A document that starts like an OpenAPI one, with random parts.
fn document() -> impl Strategy<Value = String> {
    let path = prop::sample::select(vec!["/a", "/a/{id}", "/b/{id}/c", "/list/{id}"]);
    let method = prop::sample::select(vec!["get", "post", "patch", "delete", "put"]);
    let paths = prop::collection::vec((path, method, operation()), 0..4).prop_map(|ops| {
        let mut by_path: Vec<(&str, Vec<String>)> = Vec::new();
        for (path, method, op) in ops {
            match by_path.iter_mut().find(|(p, _)| *p == path) {
                Some((_, methods)) if methods.iter().any(|m| m.starts_with(method)) => {}
                Some((_, methods)) => methods.push(format!("{method}: {op}")),
                None => by_path.push((path, vec![format!("{method}: {op}")])),
            }
        }
        let body: Vec<String> = by_path
            .into_iter()
            .map(|(p, methods)| format!("{p:?}: {{{}}}", methods.join(", ")))
            .collect();
        format!("{{{}}}", body.join(", "))
    });
    (paths, yaml(), yaml(), yaml()).prop_map(|(paths, a, b, extra)| {
        format!(
            "openapi: 3.0.3\ninfo: {{title: t, version: 1.0.0}}\npaths: {paths}\ncomponents: {{schemas: {{A: {a}, B: {b}}}}}\nx-extra: {extra}\n"
        )
    })
}

fn check(text: &str) -> Result<(), TestCaseError> {
    if let Ok(model) = parse(text, "p.yaml", &Options::default()) {
        let rendered = wit::render(&model);
        let mut resolve = wit_parser::Resolve::default();
        if let Err(e) = resolve.push_str("p.wit", &rendered) {
            return Err(TestCaseError::fail(format!(
                "accepted document renders invalid WIT: {e:?}\n--- document\n{text}\n--- WIT\n{rendered}"
            )));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn random_openapi_shaped_documents_never_panic(text in document()) {
        check(&text)?;
    }

    #[test]
    fn random_yaml_never_panics(text in yaml()) {
        check(&text)?;
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        check(&String::from_utf8_lossy(&bytes))?;
    }
}
