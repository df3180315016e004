//! Every `.proto` of the shared corpus translates to WIT that wit-parser
//! resolves and wit-component encodes, identically on every run.

#[path = "wit_util.rs"]
mod util;

use reprise_grpc_stub::model::ModelOptions;
use reprise_grpc_stub::wit::render;

fn options() -> ModelOptions {
    ModelOptions {
        namespace: Some("corpus".to_owned()),
        version: None,
    }
}

#[test]
fn every_corpus_file_resolves_on_its_own() {
    let files = util::corpus_files();
    assert!(files.len() >= 20, "corpus too small: {files:?}");
    let mut failures = Vec::new();
    // No namespace: one file's package may have several segments, which
    // refuse a namespace it would not take; one-segment ones get `proto`.
    let options = ModelOptions::default;
    for file in &files {
        let pool = util::corpus_pool(&[file]);
        let result = util::model_for_files(&pool, &[file], &options())
            .and_then(|model| util::resolve_and_encode(&model).map(|_| model));
        match result {
            Ok(model) => {
                assert!(
                    !model.packages().is_empty(),
                    "{file}: model has no packages"
                );
                // A second run from a fresh compile gives the same bytes.
                let again = util::model_for_files(&util::corpus_pool(&[file]), &[file], &options())
                    .expect("second build");
                assert_eq!(
                    render(&model),
                    render(&again),
                    "{file}: output differs between runs"
                );
            }
            Err(e) => failures.push(format!("{file}: {e:#}")),
        }
    }
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n\n"));
}

#[test]
fn whole_corpus_resolves_together() {
    let files = util::corpus_files();
    let refs: Vec<&str> = files.iter().map(String::as_str).collect();
    let pool = util::corpus_pool(&refs);
    let model = util::model_for_files(&pool, &refs, &options()).expect("model");
    util::resolve_and_encode(&model).expect("whole corpus resolves");
    // Every service of the corpus is exposed.
    assert_eq!(model.services().len(), pool.services().len());
}

#[test]
fn output_is_byte_identical_across_runs_and_argument_order() {
    let files = util::corpus_files();
    let forward: Vec<&str> = files.iter().map(String::as_str).collect();
    let mut backward = forward.clone();
    backward.reverse();
    let first =
        render(&util::model_for_files(&util::corpus_pool(&forward), &forward, &options()).unwrap());
    for order in [&forward, &backward, &forward] {
        let again =
            render(&util::model_for_files(&util::corpus_pool(order), order, &options()).unwrap());
        assert_eq!(first, again, "output differs for argument order {order:?}");
    }
}
