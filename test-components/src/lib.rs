//! Guest components for Reprise's tests, built from source.
//!
//! The build script compiles every crate in `guests/` for `wasm32-wasip2`
//! (wit-bindgen emits components directly) and publishes one constant per
//! component holding the absolute path of its `.wasm` file. Tests read the
//! bytes from there; no binary is committed.

include!(concat!(env!("OUT_DIR"), "/components.rs"));

/// Every guest component: (crate name, path of its `.wasm`).
pub fn all() -> Vec<(&'static str, &'static str)> {
    vec![
        ("counter", COUNTER),
        ("clock-random", CLOCK_RANDOM),
        ("todo-client", TODO_CLIENT),
        ("greeter-client", GREETER_CLIENT),
        ("route-guide-client", ROUTE_GUIDE_CLIENT),
        ("interop-client", INTEROP_CLIENT),
        ("typed-exports", TYPED_EXPORTS),
        ("rest-todo-client", REST_TODO_CLIENT),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_component_is_a_wasm_component() {
        for (name, path) in all() {
            let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{name}: {path}: {e}"));
            // Component binaries start with `\0asm` followed by the component
            // layer's version/layer field (0x0d 0x00 0x01 0x00), unlike core modules.
            assert_eq!(&bytes[..4], b"\0asm", "{name} is not wasm");
            assert_eq!(
                &bytes[4..8],
                &[0x0d, 0x00, 0x01, 0x00],
                "{name} is a core module, not a component"
            );
        }
    }
}
