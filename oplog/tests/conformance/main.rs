//! The store conformance suite run against every store (memory, sled, and
//! PostgreSQL on a throwaway server the tests start), plus property tests:
//! arbitrary entry sequences round-trip through each store, and a model test
//! checks the sled store against a plain `Vec` across reopen steps.

#[path = "../common/mod.rs"]
mod common;

mod memory {
    crate::conformance_suite!(crate::common::memory);
}

mod sled {
    crate::conformance_suite!(crate::common::sled);
}

mod reopening_sled {
    crate::conformance_suite!(crate::common::reopening_sled);
}

mod postgres {
    crate::conformance_suite!(async crate::common::postgres);
}

mod properties;
