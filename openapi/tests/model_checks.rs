//! A model handed over as data (an upload) is checked before the runtime
//! follows it: an alias chain must end in a type that is not an alias.

use reprise_openapi::model::ApiModel;

fn model(types: serde_json::Value) -> ApiModel {
    serde_json::from_value(serde_json::json!({
        "namespace": "api",
        "name": "evil",
        "version": null,
        "docs": null,
        "types": types,
        "interfaces": [],
        "error_body": null,
        "server": null,
    }))
    .expect("a model")
}

fn alias(name: &str, of: &str) -> serde_json::Value {
    serde_json::json!({"name": name, "docs": null, "kind": {"Alias": {"Named": of}}})
}

#[test]
fn an_alias_of_itself_is_refused() {
    // The runtime followed it for ever: an upload overflowed the stack and
    // took the executor down.
    let err = model(serde_json::json!([alias("error", "error")]))
        .check_aliases()
        .unwrap_err()
        .to_string();
    assert!(err.contains("`error` is an alias of itself"), "{err}");

    let err = model(serde_json::json!([alias("a", "b"), alias("b", "a")]))
        .check_aliases()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("a -> b -> a") || err.contains("b -> a -> b"),
        "{err}"
    );

    let err = model(serde_json::json!([alias("a", "missing")]))
        .check_aliases()
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not have"), "{err}");
}

#[test]
fn a_chain_that_ends_is_accepted() {
    let string = serde_json::json!({"name": "text", "docs": null, "kind": {"Alias": "String"}});
    model(serde_json::json!([
        alias("a", "b"),
        alias("b", "text"),
        string
    ]))
    .check_aliases()
    .expect("a chain that ends");
}

#[test]
fn an_alias_loop_among_an_interfaces_own_types_is_refused() {
    // Each interface sees its own types over the shared ones: a loop there
    // was not looked for.
    let mut looped = model(serde_json::json!([]));
    looped.interfaces = serde_json::from_value(serde_json::json!([{
        "name": "things",
        "types": [alias("a", "b"), alias("b", "a")],
        "functions": [],
    }]))
    .expect("an interface");
    let err = looped.check_aliases().unwrap_err().to_string();
    assert!(err.contains("is an alias of itself"), "{err}");
}
