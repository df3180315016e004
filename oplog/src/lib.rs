//! `reprise-oplog`: the durable journal (oplog) of Reprise workers.
//!
//! Every worker has an append-only log of typed [`OplogEntry`]s (indices start
//! at 1). The executor appends entries while a worker runs, calls
//! [`OplogStore::commit`] at durability points, and after a crash replays the
//! log by reading it back.
//!
//! * [`ids`]: validated identifiers ([`WorkerId`], [`ComponentId`],
//!   [`OplogIndex`], [`IdempotencyKey`]) and [`Timestamp`].
//! * [`entry`]: the entry type and its variants.
//! * [`codec`]: the versioned, CRC-protected binary record format.
//! * [`payload`]: payload bytes and their out-of-line storage.
//! * [`store`]: the [`OplogStore`] trait, options and recovery report.
//! * [`SledOplogStore`] (persistent default) and [`MemoryOplogStore`].
//!
//! ```
//! use reprise_oplog::*;
//! # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
//! # rt.block_on(async {
//! let store: std::sync::Arc<dyn OplogStore> = std::sync::Arc::new(MemoryOplogStore::new());
//! let worker = WorkerId::new("w1")?;
//! let create = OplogEntry::now(EntryKind::Create {
//!     component_id: ComponentId::of_bytes(b"\0asm"),
//!     env: Default::default(),
//!     args: vec![],
//!     endpoint_overrides: Default::default(),
//! });
//! let indices = store.append(&worker, vec![create]).await?;
//! store.commit(&worker).await?;
//! assert_eq!(indices, vec![OplogIndex::FIRST]);
//! assert_eq!(store.read_all(&worker).await?.len(), 1);
//! # Ok::<(), Error>(()) }).unwrap();
//! ```

pub mod codec;
pub mod entry;
mod error;
pub mod ids;
mod memory;
pub mod payload;
mod sled_store;
pub mod store;

pub use entry::{EntryKind, OplogEntry, RequestHash, SideEffectClass, StoredEntry, StreamKind};
pub use error::{Corruption, Error, Result};
pub use ids::{ComponentId, IdempotencyKey, OplogIndex, Timestamp, WorkerId};
pub use memory::MemoryOplogStore;
pub use payload::{Payload, PayloadDigest};
pub use sled_store::SledOplogStore;
pub use store::{OplogStore, RecoveryReport, StoreOptions, TruncatedLog};
