//! Criterion benchmarks of the oplog stores (filled in below).
fn main() {}
