//! Reprise application manifest.
pub mod yaml;
