//! Names in a descriptor pool that are not proto identifiers are refused
//! before anything is mapped. `.proto` files cannot hold such names (the
//! grammar refuses them), but a pool decoded from bytes can: server
//! reflection or an uploaded descriptor set. The names are printed into
//! the generated WIT's comments (`/// Proto message \`...\`.`), where a line
//! break would end the comment and let the rest of the name be read as WIT.

use prost_reflect::DescriptorPool;

use crate::Error;

/// Whether `name` is a dotted sequence of identifiers
/// (`[A-Za-z_][A-Za-z0-9_]*`, separated by single dots).
fn dotted_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// Refuses the first name in `pool` (package, message, field, oneof, enum,
/// enum value, service, method) that is not a proto identifier.
pub(crate) fn check(pool: &DescriptorPool) -> Result<(), Error> {
    let refuse = |kind: &str, name: &str| Error::Unmappable {
        item: name.escape_debug().to_string(),
        reason: format!(
            "the {kind} name is not a proto identifier (letters, digits and `_`, not starting \
             with a digit); the descriptors did not come from a valid .proto file"
        ),
    };
    for file in pool.files() {
        let package = file.package_name();
        if !package.is_empty() && !dotted_identifier(package) {
            return Err(refuse("package", package));
        }
    }
    for message in pool.all_messages() {
        if !dotted_identifier(message.name()) {
            return Err(refuse("message", message.full_name()));
        }
        for field in message.fields() {
            if !dotted_identifier(field.name()) {
                return Err(refuse("field", field.full_name()));
            }
        }
        for oneof in message.oneofs() {
            if !dotted_identifier(oneof.name()) {
                return Err(refuse("oneof", oneof.full_name()));
            }
        }
    }
    for e in pool.all_enums() {
        if !dotted_identifier(e.name()) {
            return Err(refuse("enum", e.full_name()));
        }
        for value in e.values() {
            if !dotted_identifier(value.name()) {
                return Err(refuse("enum value", value.full_name()));
            }
        }
    }
    for service in pool.services() {
        if !dotted_identifier(service.name()) {
            return Err(refuse("service", service.full_name()));
        }
        for method in service.methods() {
            if !dotted_identifier(method.name()) {
                return Err(refuse("method", method.full_name()));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::dotted_identifier;

    #[test]
    fn identifiers() {
        for good in ["a", "A_b1", "_x", "pkg.v1", "a.b.C"] {
            assert!(dotted_identifier(good), "{good}");
        }
        for bad in [
            "",
            "1a",
            "a..b",
            "a.",
            ".a",
            "Foo\ninterface evil {}",
            "a\u{202E}b",
            "a-b",
        ] {
            assert!(!dotted_identifier(bad), "{bad:?}");
        }
    }
}
