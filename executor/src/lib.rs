//! The Reprise worker executor.
//!
//! Runs WebAssembly components as durable workers on wasmtime. Every
//! nondeterministic thing a worker does is journaled in its oplog, so a
//! worker is rebuilt after a crash by replaying it: recorded results come
//! back from the oplog, and execution continues live where it stopped.
//!
//! Layers, top to bottom (a module only uses the ones below it):
//! [`api`], [`inbound`] (workers served as gRPC services) and the CLI
//! (the front doors); [`executor`] (the facade: stores,
//! recovery, the table of workers in [`slots`]); [`worker`] (one worker and
//! its invocation loop) with [`components`] (the component store and
//! linking, through the [`deps::ImportKind`] seam assembled in [`kinds`]);
//! the dependency kinds — [`grpc`], generic over a small view trait — and
//! [`wasi`] (durable clocks and random); [`durable`] (the one
//! durable path: replay or live, commit policy, the committer); and below
//! it the oplog store. [`engine`] configures wasmtime.

pub mod api;
pub mod cluster;
pub mod components;
pub mod deps;
pub mod durable;
pub mod engine;
pub mod error;
pub mod executor;
pub mod grpc;
pub mod guest_output;
pub mod inbound;
pub mod kinds;
mod listen;
pub mod memory;
pub mod rest;
pub mod secrets;
pub mod slots;
pub mod stop;
pub mod stores;
#[cfg(test)]
mod test_support;
pub mod wasi;
pub mod wave;
pub mod worker;

pub use error::{Error, Result};
pub use executor::{Executor, ExecutorConfig, RecoverySummary, WorkerInfo};
pub use secrets::SecretEnvPolicy;
pub use slots::DEFAULT_MAX_LOADED as DEFAULT_MAX_LOADED_WORKERS;
pub use stores::Stores;
pub use worker::{InvocationOutcome, WorkerConfig, WorkerState};
