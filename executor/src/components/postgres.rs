//! [`PostgresComponentStore`]: components in the PostgreSQL database that
//! also holds the oplogs (the `components` table of the oplog crate's
//! schema), so every executor on that database can load any component.

use std::sync::Arc;

use async_trait::async_trait;
use reprise_oplog::{ComponentId, PostgresOplogStore};

use super::{ComponentStore, StoredComponent};
use crate::error::{Error, Result};

/// The component store in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PostgresComponentStore {
    store: Arc<PostgresOplogStore>,
}

impl PostgresComponentStore {
    /// The components of the database `store` is open on.
    pub fn new(store: Arc<PostgresOplogStore>) -> Self {
        PostgresComponentStore { store }
    }
}

#[async_trait]
impl ComponentStore for PostgresComponentStore {
    async fn put(&self, id: &ComponentId, component: &StoredComponent) -> Result<()> {
        self.store
            .put_component(
                &id.to_string(),
                &component.wasm,
                &component.dependencies_json,
            )
            .await?;
        Ok(())
    }

    async fn get(&self, id: &ComponentId) -> Result<Option<StoredComponent>> {
        Ok(self
            .store
            .get_component(&id.to_string())
            .await?
            .map(|(wasm, dependencies_json)| StoredComponent {
                wasm,
                dependencies_json,
            }))
    }

    async fn list(&self) -> Result<Vec<ComponentId>> {
        let mut ids = Vec::new();
        for id in self.store.list_components().await? {
            ids.push(id.parse::<ComponentId>().map_err(|e| {
                Error::InvalidConfig(format!(
                    "table `components` in {} holds a row with a malformed id `{id}`: {e}",
                    self.store.target()
                ))
            })?);
        }
        Ok(ids)
    }

    fn location(&self, id: &ComponentId) -> String {
        format!(
            "row `{id}` of table `components` in {}",
            self.store.target()
        )
    }
}
