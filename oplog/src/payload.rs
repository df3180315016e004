//! Opaque byte payloads of entries and how they are stored: inline in the
//! record, or out of line in a content-addressed payload store (keyed by the
//! SHA-256 of the bytes) when larger than the store's threshold.
//!
//! Callers only ever handle [`Payload`]; [`StoredPayload`] is the on-disk form
//! that stores (and alternative store implementations) convert to and from.

use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::entry::{OplogEntry, StoredEntry};
use crate::error::{Corruption, Error, Result};
use crate::ids::{OplogIndex, WorkerId, to_hex};

/// Opaque bytes carried by an entry (function parameters, results, encoded
/// gRPC requests and responses, stream frames).
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Payload(Vec<u8>);

impl Payload {
    /// Wraps bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Payload(bytes.into())
    }

    /// An empty payload.
    pub const fn empty() -> Self {
        Payload(Vec::new())
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Takes the bytes out.
    pub fn into_vec(self) -> Vec<u8> {
        self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 32;
        let head = &self.0[..self.0.len().min(SHOWN)];
        let ellipsis = if self.0.len() > SHOWN { "..." } else { "" };
        write!(
            f,
            "Payload({} bytes: {}{ellipsis})",
            self.0.len(),
            to_hex(head)
        )
    }
}

impl From<Vec<u8>> for Payload {
    fn from(v: Vec<u8>) -> Self {
        Payload(v)
    }
}

impl From<&[u8]> for Payload {
    fn from(v: &[u8]) -> Self {
        Payload(v.to_vec())
    }
}

impl From<&str> for Payload {
    fn from(v: &str) -> Self {
        Payload(v.as_bytes().to_vec())
    }
}

impl AsRef<[u8]> for Payload {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct BytesVisitor;
        impl<'de> Visitor<'de> for BytesVisitor {
            type Value = Payload;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Payload, E> {
                Ok(Payload(v.to_vec()))
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Payload, E> {
                Ok(Payload(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Payload, A::Error> {
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
                while let Some(b) = seq.next_element::<u8>()? {
                    v.push(b);
                }
                Ok(Payload(v))
            }
        }
        d.deserialize_bytes(BytesVisitor)
    }
}

/// SHA-256 content address of an out-of-line payload.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PayloadDigest(#[serde(with = "crate::ids::digest_serde")] pub [u8; 32]);

impl PayloadDigest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        PayloadDigest(Sha256::digest(bytes).into())
    }
}

impl fmt::Display for PayloadDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&to_hex(&self.0))
    }
}

impl fmt::Debug for PayloadDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PayloadDigest({self})")
    }
}

/// Reference from a stored entry to an out-of-line payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PayloadRef {
    /// SHA-256 of the payload bytes (the key in the payload store).
    pub digest: PayloadDigest,
    /// Length of the payload in bytes.
    pub len: u64,
}

/// A payload as it appears inside an encoded record.
///
/// The variant order is part of the on-disk format: never reorder, only append.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StoredPayload {
    /// The bytes are in the record itself.
    Inline(Payload),
    /// The bytes live in the payload store under `PayloadRef::digest`.
    External(PayloadRef),
}

/// An out-of-line payload split off an entry on its way to the store:
/// store `bytes` under `digest` before (or atomically with) the entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalPayload {
    /// Content address.
    pub digest: PayloadDigest,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// Stored form of `payload` under `threshold`: payloads longer than `threshold`
/// bytes go out of line and are pushed onto `externals`.
pub fn externalize(
    payload: Payload,
    threshold: usize,
    externals: &mut Vec<ExternalPayload>,
) -> StoredPayload {
    if payload.len() <= threshold {
        return StoredPayload::Inline(payload);
    }
    let bytes = payload.into_vec();
    let digest = PayloadDigest::of(&bytes);
    let reference = PayloadRef {
        digest,
        len: bytes.len() as u64,
    };
    externals.push(ExternalPayload { digest, bytes });
    StoredPayload::External(reference)
}

/// Turns a decoded entry of `worker_id` at `index` back into the caller's
/// form, fetching each out-of-line payload with `fetch` and checking its
/// length and digest.
///
/// Errors: [`Error::MissingPayload`] if `fetch` finds nothing,
/// [`Error::Corrupt`] if the bytes do not match the reference.
pub fn resolve_entry(
    worker_id: &WorkerId,
    index: OplogIndex,
    stored: StoredEntry,
    mut fetch: impl FnMut(&PayloadDigest) -> Result<Option<Vec<u8>>>,
) -> Result<OplogEntry> {
    stored.try_map_payloads(|p| match p {
        StoredPayload::Inline(p) => Ok(p),
        StoredPayload::External(r) => {
            let corrupt = |reason| Error::Corrupt {
                worker_id: worker_id.clone(),
                index,
                reason,
            };
            let bytes = fetch(&r.digest)?.ok_or_else(|| Error::MissingPayload {
                worker_id: worker_id.clone(),
                index,
                digest: r.digest,
            })?;
            if bytes.len() as u64 != r.len {
                return Err(corrupt(Corruption::PayloadLengthMismatch {
                    expected: r.len,
                    found: bytes.len() as u64,
                }));
            }
            if PayloadDigest::of(&bytes) != r.digest {
                return Err(corrupt(Corruption::PayloadDigestMismatch {
                    expected: r.digest,
                }));
            }
            Ok(Payload(bytes))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_payload_stays_inline() {
        let mut ext = Vec::new();
        let p = externalize(Payload::from("abc"), 3, &mut ext);
        assert_eq!(p, StoredPayload::Inline(Payload::from("abc")));
        assert!(ext.is_empty());
    }

    #[test]
    fn large_payload_goes_out_of_line() {
        let mut ext = Vec::new();
        let p = externalize(Payload::from("abcd"), 3, &mut ext);
        let digest = PayloadDigest::of(b"abcd");
        assert_eq!(p, StoredPayload::External(PayloadRef { digest, len: 4 }));
        assert_eq!(
            ext,
            vec![ExternalPayload {
                digest,
                bytes: b"abcd".to_vec()
            }]
        );
        // Known SHA-256 of "abcd".
        assert_eq!(
            digest.to_string(),
            "88d4266fd4e6338d13b845fcf289579d209c897823b9217da3e161936f031589"
        );
    }

    #[test]
    fn debug_is_bounded() {
        let s = format!("{:?}", Payload::new(vec![7u8; 1000]));
        assert!(s.starts_with("Payload(1000 bytes: 0707"), "{s}");
        assert!(s.len() < 120, "{s}");
    }
}
