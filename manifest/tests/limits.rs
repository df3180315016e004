//! A component's `limits`: read into [`Limits`], and every bad value
//! reported with its position and what to write instead.

use std::time::Duration;

use reprise_manifest::{Error, Limits, Manifest, ParseOptions};

const ORIGIN: &str = "/apps/demo/app.yaml";

fn with_limits(lines: &str) -> String {
    format!("components:\n  app:\n    wasm: app.wasm\n    limits:\n{lines}")
}

fn parse(yaml: &str) -> Result<Manifest, Error> {
    Manifest::parse_with(yaml, ORIGIN, &ParseOptions { check_files: false })
}

fn problems(yaml: &str) -> Vec<String> {
    match parse(yaml) {
        Ok(manifest) => panic!("expected problems, parsed {manifest:?}"),
        Err(Error::Invalid(problems)) => problems.problems.iter().map(|p| p.to_string()).collect(),
        Err(other) => panic!("expected Error::Invalid, got {other}"),
    }
}

#[test]
fn limits_are_read_with_units() {
    let manifest = parse(&with_limits(
        "      time-budget: 1m30s\n      memory: 64MiB\n",
    ))
    .unwrap();
    let limits = manifest.component("app").unwrap().limits;
    assert_eq!(
        limits,
        Limits {
            time_budget: Some(Duration::from_secs(90)),
            memory: Some(64 << 20),
        }
    );
    let only_memory = parse(&with_limits("      memory: 2097152\n")).unwrap();
    let limits = only_memory.component("app").unwrap().limits;
    assert_eq!(limits.memory, Some(2 << 20));
    assert_eq!(limits.time_budget, None);
}

#[test]
fn a_component_without_limits_keeps_the_executor_defaults() {
    let manifest = parse("components:\n  app:\n    wasm: app.wasm\n").unwrap();
    assert!(manifest.component("app").unwrap().limits.is_empty());
}

#[test]
fn bad_limits_are_reported_each_with_its_position() {
    let found = problems(&with_limits(
        "      time-budget: 25h\n      memory: 512KiB\n      cpu: 2\n",
    ));
    assert_eq!(found.len(), 3, "{found:#?}");
    let all = found.join("\n");
    assert!(
        all.contains("app.yaml:5:20: components.app.limits.time-budget: is more than the largest accepted, 24h"),
        "{all}"
    );
    assert!(
        all.contains(
            "components.app.limits.memory: 524288 bytes is out of range: give 1MiB to 4GiB"
        ),
        "{all}"
    );
    assert!(all.contains("components.app.limits.cpu"), "{all}");

    let found = problems(&with_limits("      time-budget: 0s\n      memory: lots\n"));
    let all = found.join("\n");
    assert!(
        all.contains("time-budget: must be greater than zero"),
        "{all}"
    );
    assert!(all.contains("memory: not a size"), "{all}");
    let found = problems(&with_limits("      time-budget: 5\n"));
    assert!(found[0].contains("`5` has no unit"), "{found:?}");
}
