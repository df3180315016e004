//! `reprise-oplog`: the durable journal (oplog) of Reprise workers.
//!
//! Every worker has an append-only log of typed [`OplogEntry`]s (indices start
//! at 1). The executor claims a worker ([`OplogStore::claim`]), appends
//! entries while it runs (each append fenced by the owner epoch and the index
//! the batch must start at, see [`AppendFence`]), calls
//! [`OplogStore::commit`] at durability points, and after a crash replays the
//! log by reading it back page by page ([`OplogPages`]).
//!
//! * [`ids`]: validated identifiers ([`WorkerId`], [`ComponentId`],
//!   [`OplogIndex`], [`OwnerEpoch`], [`IdempotencyKey`]) and [`Timestamp`].
//! * [`entry`]: the entry type and its variants.
//! * [`codec`]: the versioned, CRC-protected binary record format.
//! * [`payload`]: payload bytes and their out-of-line storage.
//! * [`store`]: the [`OplogStore`] trait, fences, the paging reader, options
//!   and the recovery report.
//! * [`SledOplogStore`] (persistent default, which also checks at start-up
//!   that no committed entry was lost), [`PostgresOplogStore`] (a database
//!   several executors share; appends fenced in the committing transaction)
//!   and [`MemoryOplogStore`].
//!
//! ```
//! use reprise_oplog::*;
//! # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
//! # rt.block_on(async {
//! let store: std::sync::Arc<dyn OplogStore> = std::sync::Arc::new(MemoryOplogStore::new());
//! let worker = WorkerId::new("w1")?;
//! let epoch = store.claim(&worker).await?;
//! let create = OplogEntry::now(EntryKind::Create {
//!     component_id: ComponentId::of_bytes(b"\0asm"),
//!     env: Default::default(),
//!     args: vec![],
//!     endpoint_overrides: Default::default(),
//! });
//! let fence = AppendFence::new(epoch, OplogIndex::FIRST);
//! let indices = store.append(&worker, fence, vec![create]).await?;
//! store.commit(&worker).await?;
//! assert_eq!(indices, vec![OplogIndex::FIRST]);
//!
//! // A later claim fences the first owner off.
//! let newer = store.claim(&worker).await?;
//! assert!(newer > epoch);
//! let next = OplogIndex::new(2)?;
//! let stale = store.append(&worker, AppendFence::new(epoch, next), vec![]).await;
//! assert!(stale.is_ok(), "an empty batch checks nothing");
//! let entry = OplogEntry::now(EntryKind::Interrupted);
//! let refused = store.append(&worker, AppendFence::new(epoch, next), vec![entry]).await;
//! assert!(matches!(refused, Err(Error::StaleOwner { .. })));
//!
//! let mut pages = OplogPages::new(store.clone(), &worker, OplogIndex::FIRST, DEFAULT_PAGE);
//! let page = pages.next_page().await?.expect("one page");
//! assert_eq!(page.len(), 1);
//! assert!(pages.next_page().await?.is_none());
//! # Ok::<(), Error>(()) }).unwrap();
//! ```

pub mod codec;
pub mod entry;
mod error;
pub mod ids;
mod memory;
pub mod payload;
mod postgres;
mod sled_store;
pub mod store;

pub use entry::{
    EntryKind, InvocationFailure, OplogEntry, RequestHash, SideEffectClass, StoredEntry, StreamKind,
};
pub use error::{Corruption, Error, Result};
pub use ids::{
    ComponentId, IdempotencyKey, Incarnation, OplogIndex, OwnerEpoch, Timestamp, WorkerId,
};
pub use memory::MemoryOplogStore;
pub use payload::{Payload, PayloadDigest};
pub use postgres::{
    DEFAULT_SHARDS, Forgotten, JoinConflict, LeaseRound, MAX_SHARDS, PostgresOplogStore,
    PostgresOptions, SCHEMA_VERSION as POSTGRES_SCHEMA_VERSION, ShardOwner,
};
pub use sled_store::{
    ReopeningSledStore, SalvageReport, SledOplogStore, WorkerSalvage, salvage as salvage_sled,
};
pub use store::{
    AppendFence, DEFAULT_PAGE, LostCommitted, OplogPages, OplogStore, RecoveryReport, StoreOptions,
    TruncatedLog, read_whole_log,
};
