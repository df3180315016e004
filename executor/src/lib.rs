//! The Reprise worker executor.
//!
//! Runs WebAssembly components as durable workers on wasmtime. Every
//! nondeterministic thing a worker does is journaled in its oplog, so a
//! worker is rebuilt after a crash by replaying it: recorded results come
//! back from the oplog, and execution continues live where it stopped.
//!
//! Modules: [`engine`] (wasmtime configuration), [`components`] (the
//! content-addressed component store), [`durable`] (the live/replay
//! journal), [`wasi`] (durable clocks and random), [`worker`] (one worker and
//! its invocation loop) and [`executor`] (the facade the API and CLI use).

pub mod api;
pub mod components;
pub mod deps;
pub mod durable;
pub mod engine;
pub mod error;
pub mod executor;
pub mod grpc;
pub mod wasi;
pub mod watermark;
pub mod worker;

pub use error::{Error, Result};
pub use executor::{Executor, ExecutorConfig, RecoverySummary, WorkerInfo};
pub use worker::{InvocationOutcome, WorkerConfig, WorkerState};
