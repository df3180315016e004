//! The span-aware YAML tree the manifest is read from; it lives in
//! `reprise-openapi`, which reads OpenAPI documents with the same tree.

pub use reprise_openapi::yaml::*;
