//! Descriptions become `///` comments: characters WIT refuses in them
//! (controls, bidirectional overrides) never reach the WIT.

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
