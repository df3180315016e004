//! Checks that the streaming guest components export exactly the functions
//! the streaming design (issue 6) fixes, by decoding each built component's
//! world and comparing its export lines with the specified WIT.

use wit_component::{DecodedWasm, WitPrinter};

/// The world of the component at `path`, printed as WIT without doc comments.
fn world_text(path: &str) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let (resolve, world) = match wit_component::decode(&bytes) {
        Ok(DecodedWasm::Component(resolve, world)) => (resolve, world),
        Ok(DecodedWasm::WitPackage(..)) => panic!("{path} is a WIT package, not a component"),
        Err(e) => panic!("{path} does not decode: {e:#}"),
    };
    let package = resolve.worlds[world]
        .package
        .unwrap_or_else(|| panic!("{path}: the decoded world has no package"));
    let mut printer = WitPrinter::default();
    printer.emit_docs(false);
    printer
        .print(&resolve, package, &[])
        .unwrap_or_else(|e| panic!("{path}: printing the world failed: {e:#}"));
    printer.output.to_string()
}

/// The `import`/`export` lines of a printed world, trimmed and sorted.
fn items(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("import ") || line.starts_with("export "))
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

/// Asserts that the exports of `path` are exactly `expected`, and that it
/// imports `import` (among the WASI and support imports).
fn assert_world(path: &str, import: &str, expected: &[&str]) {
    let text = world_text(path);
    let found = items(&text);
    let exports: Vec<&str> = found
        .iter()
        .map(String::as_str)
        .filter(|line| line.starts_with("export "))
        .collect();
    let mut wanted = expected.to_vec();
    wanted.sort_unstable();
    assert_eq!(exports, wanted, "exports of {path}; world:\n{text}");
    let import_line = format!("import {import};");
    assert!(
        found.contains(&import_line),
        "{path} does not `{import_line}`; world:\n{text}"
    );
}

#[test]
fn route_guide_client_exports_the_specified_functions() {
    assert_world(
        reprise_test_components::ROUTE_GUIDE_CLIENT,
        "example:routeguide/route-guide",
        &[
            "export get-feature: func(latitude: s32, longitude: s32) -> result<string, string>;",
            "export get-feature-within: func(latitude: s32, longitude: s32, deadline-ms: u64) -> result<string, string>;",
            "export list-features: func(lo-latitude: s32, lo-longitude: s32, hi-latitude: s32, hi-longitude: s32) -> result<list<string>, string>;",
            "export list-features-after-get: func(lo-latitude: s32, lo-longitude: s32, hi-latitude: s32, hi-longitude: s32) -> result<list<string>, string>;",
            "export list-features-take: func(lo-latitude: s32, lo-longitude: s32, hi-latitude: s32, hi-longitude: s32, take: u32) -> result<list<string>, string>;",
            "export list-features-resilient: func(lo-latitude: s32, lo-longitude: s32, hi-latitude: s32, hi-longitude: s32) -> result<tuple<list<string>, u32>, string>;",
            "export record-route: func(points: list<tuple<s32, s32>>) -> result<tuple<s32, s32, s32>, string>;",
            "export route-chat: func(notes: list<tuple<s32, s32, string>>) -> result<list<string>, string>;",
            "export chat-after-random: func(close-first: bool) -> result<u64, string>;",
            "export chat-send-after-close: func(notes: list<tuple<s32, s32, string>>) -> result<tuple<string, list<string>>, string>;",
            "export list-features-within: func(lo-latitude: s32, lo-longitude: s32, hi-latitude: s32, hi-longitude: s32, deadline-ms: u64) -> result<list<string>, string>;",
        ],
    );
}

#[test]
fn interop_client_exports_the_specified_functions() {
    assert_world(
        reprise_test_components::INTEROP_CLIENT,
        "grpc:testing/test-service",
        &[
            "export server-streaming: func() -> result<_, string>;",
            "export client-streaming: func() -> result<_, string>;",
            "export ping-pong: func() -> result<_, string>;",
            "export empty-stream: func() -> result<_, string>;",
            "export cancel-after-first-response: func() -> result<_, string>;",
            "export count-stream: func(frames: u32, size: u32) -> result<u64, string>;",
            "export hold-stream: func(frames: u32, size: u32) -> result<u32, string>;",
            "export drop-stream: func(frames: u32, size: u32) -> result<u32, string>;",
        ],
    );
}
