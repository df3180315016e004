//! The throwaway PostgreSQL server of `reprise-system-tests` (see its
//! `postgres` module), and opening the store on it. The benchmarks include
//! this file too.

#[allow(unused_imports)]
pub use reprise_system_tests::postgres::{PgServer, shared};

use reprise_oplog::{PostgresOplogStore, PostgresOptions, StoreOptions};

/// Opens the store at `url`, failing the test with the error.
pub async fn open(url: &str, options: StoreOptions) -> PostgresOplogStore {
    let options = PostgresOptions {
        store: options,
        ..PostgresOptions::default()
    };
    PostgresOplogStore::open_with(url, options)
        .await
        .unwrap_or_else(|e| panic!("opening the PostgreSQL store at {url}: {e}"))
}
