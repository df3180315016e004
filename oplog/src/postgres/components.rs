//! Uploaded components in the same PostgreSQL database as the oplogs, so
//! every executor sharing the database can load any worker's component:
//! the wasm and its dependencies' JSON by content id (written once; the
//! id is a hash of both, so a second write of an id is the same bytes).
//! The executor wraps this in its component store; compiled code stays in
//! each executor's local cache.

use tokio_postgres::types::Type;

use super::PostgresOplogStore;
use crate::error::Result;

impl PostgresOplogStore {
    /// Stores component `id` (a no-op when it is stored already).
    pub async fn put_component(&self, id: &str, wasm: &[u8], dependencies: &[u8]) -> Result<()> {
        self.pool
            .query(
                "INSERT INTO components (id, wasm, dependencies) VALUES ($1, $2, $3) \
                 ON CONFLICT (id) DO NOTHING",
                &[
                    (&id, Type::TEXT),
                    (&wasm, Type::BYTEA),
                    (&dependencies, Type::BYTEA),
                ],
                || format!("storing component {id}"),
            )
            .await
            .map(drop)
    }

    /// The ids of every stored component, sorted.
    pub async fn list_components(&self) -> Result<Vec<String>> {
        let rows = self
            .pool
            .query("SELECT id FROM components ORDER BY id", &[], || {
                "listing components".to_owned()
            })
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// The wasm and dependencies' JSON of component `id`, if stored.
    pub async fn get_component(&self, id: &str) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        let rows = self
            .pool
            .query(
                "SELECT wasm, dependencies FROM components WHERE id = $1",
                &[(&id, Type::TEXT)],
                || format!("reading component {id}"),
            )
            .await?;
        Ok(rows.first().map(|row| (row.get(0), row.get(1))))
    }
}
