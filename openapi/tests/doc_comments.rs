//! Descriptions become `///` comments: characters WIT refuses in them
//! (controls, bidirectional overrides), in descriptions and in path keys,
//! never reach the WIT; a version that is not semver gives the package none.

mod common;

use common::wit_of;

#[test]
fn control_characters_in_descriptions_do_not_reach_the_wit() {
    let (_, wit) = wit_of(
        "openapi: 3.0.3\ninfo: {title: Ctl, version: 1.0.0, description: \"pkg\\x0c doc \\u202e evil */\"}\npaths:\n  /p:\n    get:\n      summary: \"sum\\u0085mary\"\n      operationId: getP\n      responses: {\"200\": {description: ok}}\ncomponents:\n  schemas:\n    A: {type: object, description: \"bell\\x07\\e\\x7f\\u2069\", properties: {x: {type: string, description: \"line1\\rline2\"}}}\n",
    );
    assert!(wit.contains("/// pkg  doc   evil */\n"), "{wit}");
    assert!(wit.contains("/// line1 line2\n"), "{wit}");
}

#[test]
fn a_path_key_with_control_characters_does_not_break_the_wit() {
    // The path went raw into the function's comment: a NEL ended the
    // comment line and wit-parser refused the file.
    let (_, wit) = wit_of(
        "openapi: 3.0.3\ninfo: {title: Ctl, version: 1.0.0}\npaths:\n  \"/p\\u0085x\":\n    get:\n      operationId: getP\n      responses: {\"200\": {description: ok}}\n",
    );
    assert!(wit.contains("/// `GET /p x`\n"), "{wit}");
}

#[test]
fn a_version_that_is_not_semver_gives_no_package_version() {
    // Leading zeros and malformed pre-release parts passed the check and
    // became a package version wit-parser refuses.
    // A WIT keyword where WIT's lexer reads one ends the version there.
    for version in [
        "2024.01.15",
        "01.0.0",
        "1.0.0-",
        "1.0.0-beta_1",
        "1.0",
        "1.0.0-stream",
        "2.0.0+async",
        "1.0.0-1u8",
    ] {
        let (model, wit) = wit_of(&format!(
            "openapi: 3.0.3\ninfo: {{title: V, version: \"{version}\"}}\npaths:\n  /p:\n    get:\n      operationId: getP\n      responses: {{\"200\": {{description: ok}}}}\n"
        ));
        assert_eq!(model.version, None, "{version}: {wit}");
    }
    let (model, _) = wit_of(
        "openapi: 3.0.3\ninfo: {title: V, version: \"1.2.3-rc.1+b5\"}\npaths:\n  /p:\n    get:\n      operationId: getP\n      responses: {\"200\": {description: ok}}\n",
    );
    assert_eq!(model.version.as_deref(), Some("1.2.3-rc.1+b5"));
}
