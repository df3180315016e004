//! gRPC metadata as plain data: validated request metadata (ASCII and binary
//! `-bin` entries) and the response headers and trailers a call returns.

use serde::{Deserialize, Serialize};
use tonic::metadata::{
    AsciiMetadataKey, AsciiMetadataValue, BinaryMetadataKey, BinaryMetadataValue, KeyAndValueRef,
    MetadataMap,
};

use crate::Error;

/// Keys a caller may not set: gRPC's own (`grpc-*`) and the HTTP/2 headers
/// the transport manages.
const RESERVED: &[&str] = &[
    "content-type",
    // hyper sends it as given: a body longer than it says is a protocol
    // error at the server (a reset stream) after the call was journaled.
    "content-length",
    "te",
    "user-agent",
    "host",
    "connection",
    "transfer-encoding",
    "keep-alive",
    "upgrade",
    "proxy-connection",
];

/// One metadata value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MetadataValue {
    /// A printable-ASCII value (key not ending in `-bin`).
    Ascii(String),
    /// Arbitrary bytes (key ending in `-bin`; base64 on the wire).
    Binary(Vec<u8>),
}

/// One metadata entry: a lower-case key and its value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MetadataEntry {
    /// Lower-case key.
    pub key: String,
    /// The value; binary exactly when the key ends in `-bin`.
    pub value: MetadataValue,
}

impl MetadataEntry {
    /// A validated entry. The key is lower-cased; it must be non-empty, use
    /// only `0-9 a-z _ - .`, not be reserved (`grpc-*`, `content-type`, `te`,
    /// `user-agent`, …), and end in `-bin` exactly when the value is binary.
    /// ASCII values must be printable ASCII (0x20..=0x7E).
    pub fn new(key: impl Into<String>, value: MetadataValue) -> Result<Self, Error> {
        let key = key.into().to_ascii_lowercase();
        let bad = |reason: String| Error::InvalidMetadata {
            key: key.clone(),
            reason,
        };
        if key.is_empty() {
            return Err(bad("the key is empty".into()));
        }
        if let Some(c) = key
            .chars()
            .find(|c| !(c.is_ascii_digit() || c.is_ascii_lowercase() || "_-.".contains(*c)))
        {
            return Err(bad(format!(
                "the key contains {c:?}; keys may only use 0-9, a-z, `_`, `-` and `.`"
            )));
        }
        if key.starts_with("grpc-") || RESERVED.contains(&key.as_str()) {
            return Err(bad("the key is reserved for the gRPC transport".into()));
        }
        let binary_key = key.ends_with("-bin");
        match &value {
            MetadataValue::Ascii(_) if binary_key => {
                return Err(bad(
                    "keys ending in `-bin` carry binary values; pass the bytes as binary".into(),
                ));
            }
            MetadataValue::Binary(_) if !binary_key => {
                return Err(bad("binary values need a key ending in `-bin`".into()));
            }
            MetadataValue::Ascii(text) => {
                if let Some(c) = text.chars().find(|c| !(' '..='~').contains(c)) {
                    return Err(bad(format!(
                        "the value contains {c:?}; ASCII values must be printable ASCII \
                         (use a `-bin` key for other bytes)"
                    )));
                }
            }
            MetadataValue::Binary(_) => {}
        }
        Ok(Self { key, value })
    }

    /// An entry as a peer sent it or as it was stored, without the checks
    /// of [`MetadataEntry::new`]: what a server may send is what HTTP/2
    /// allows (keys with `~`, `+`, `!`, …; values with tabs or bytes
    /// 0x80-0xFF), more than a caller may set. Received metadata is kept as
    /// it came, stored that way (`RpcStatus::to_bytes`) and read back that
    /// way (`RpcStatus::from_bytes`), so a recorded status always replays.
    pub(crate) fn received(key: String, value: MetadataValue) -> Self {
        Self { key, value }
    }
}

/// An ordered list of metadata entries; a key may repeat.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Metadata {
    entries: Vec<MetadataEntry>,
}

impl Metadata {
    /// No entries.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends an entry (validated by [`MetadataEntry::new`], unless it was
    /// received: see [`Metadata::from_tonic`]).
    pub fn push(&mut self, entry: MetadataEntry) {
        self.entries.push(entry);
    }

    /// Validates and appends an ASCII entry.
    pub fn push_ascii(&mut self, key: &str, value: &str) -> Result<&mut Self, Error> {
        self.push(MetadataEntry::new(
            key,
            MetadataValue::Ascii(value.to_owned()),
        )?);
        Ok(self)
    }

    /// Validates and appends a binary entry (`key` must end in `-bin`).
    pub fn push_binary(&mut self, key: &str, value: &[u8]) -> Result<&mut Self, Error> {
        self.push(MetadataEntry::new(
            key,
            MetadataValue::Binary(value.to_vec()),
        )?);
        Ok(self)
    }

    /// The first value of `key` (compared lower-case).
    pub fn get(&self, key: &str) -> Option<&MetadataValue> {
        let key = key.to_ascii_lowercase();
        self.entries.iter().find(|e| e.key == key).map(|e| &e.value)
    }

    /// The first ASCII value of `key`.
    pub fn get_ascii(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            MetadataValue::Ascii(s) => Some(s),
            MetadataValue::Binary(_) => None,
        }
    }

    /// The first binary value of `key`.
    pub fn get_binary(&self, key: &str) -> Option<&[u8]> {
        match self.get(key)? {
            MetadataValue::Binary(b) => Some(b),
            MetadataValue::Ascii(_) => None,
        }
    }

    /// The entries in order.
    pub fn iter(&self) -> impl Iterator<Item = &MetadataEntry> {
        self.entries.iter()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Appends every other entry of `other`.
    pub fn extend(&mut self, other: Metadata) {
        self.entries.extend(other.entries);
    }

    /// The entries of a received metadata map, without the reserved ones
    /// (`grpc-*`, `content-type`, …). Entries are kept as the server sent
    /// them, also those [`MetadataEntry::new`] would refuse (a key with `~`,
    /// a value with a tab): an ASCII value is read as UTF-8, a byte sequence
    /// that is not UTF-8 becoming U+FFFD; a binary value that is not valid
    /// base64 is kept as its raw bytes rather than dropped.
    pub fn from_tonic(map: &MetadataMap) -> Self {
        let mut out = Metadata::new();
        for entry in map.iter() {
            let (key, value) = match entry {
                KeyAndValueRef::Ascii(key, value) => (
                    key.as_str(),
                    MetadataValue::Ascii(
                        String::from_utf8_lossy(value.as_encoded_bytes()).into_owned(),
                    ),
                ),
                KeyAndValueRef::Binary(key, value) => (
                    key.as_str(),
                    MetadataValue::Binary(match value.to_bytes() {
                        Ok(bytes) => bytes.to_vec(),
                        Err(_) => value.as_encoded_bytes().to_vec(),
                    }),
                ),
            };
            if key.starts_with("grpc-") || RESERVED.contains(&key) {
                continue;
            }
            out.entries
                .push(MetadataEntry::received(key.to_owned(), value));
        }
        out
    }

    /// Appends every entry to a tonic metadata map. Entries built through
    /// [`MetadataEntry::new`] always fit; any other is reported.
    pub fn apply_to(&self, map: &mut MetadataMap) {
        for entry in &self.entries {
            // Validated entries cannot fail here; skipping keeps this total.
            let _ = append(map, entry);
        }
    }

    /// Like [`Metadata::apply_to`] but fails on the first entry tonic rejects.
    pub fn try_apply_to(&self, map: &mut MetadataMap) -> Result<(), Error> {
        self.entries.iter().try_for_each(|entry| append(map, entry))
    }
}

impl<'a> IntoIterator for &'a Metadata {
    type Item = &'a MetadataEntry;
    type IntoIter = std::slice::Iter<'a, MetadataEntry>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

fn append(map: &mut MetadataMap, entry: &MetadataEntry) -> Result<(), Error> {
    let bad = |reason: String| Error::InvalidMetadata {
        key: entry.key.clone(),
        reason,
    };
    match &entry.value {
        MetadataValue::Ascii(text) => {
            let key = AsciiMetadataKey::from_bytes(entry.key.as_bytes())
                .map_err(|e| bad(e.to_string()))?;
            let value =
                AsciiMetadataValue::try_from(text.as_str()).map_err(|e| bad(e.to_string()))?;
            map.append(key, value);
        }
        MetadataValue::Binary(bytes) => {
            let key = BinaryMetadataKey::from_bytes(entry.key.as_bytes())
                .map_err(|e| bad(e.to_string()))?;
            map.append_bin(key, BinaryMetadataValue::from_bytes(bytes));
        }
    }
    Ok(())
}

/// Sets `key` to one ASCII `value`, replacing earlier values (used for the
/// headers the client itself owns: auth and `idempotency-key`).
pub(crate) fn set_ascii(map: &mut MetadataMap, key: &str, value: &str) -> Result<(), Error> {
    let bad = |reason: String| Error::InvalidMetadata {
        key: key.to_owned(),
        reason,
    };
    let key = AsciiMetadataKey::from_bytes(key.as_bytes()).map_err(|e| bad(e.to_string()))?;
    let value = AsciiMetadataValue::try_from(value).map_err(|e| bad(e.to_string()))?;
    map.insert(key, value);
    Ok(())
}
