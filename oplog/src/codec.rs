//! The binary record format of one oplog entry.
//!
//! ```text
//! +---------+------------------------------+-------------------+
//! | version | body                         | crc32             |
//! | 1 byte  | bincode 2 (standard config)  | 4 bytes, LE       |
//! +---------+------------------------------+-------------------+
//!            CRC32 (IEEE, crc32fast) covers version + body
//! ```
//!
//! The body is a [`StoredEntry`] serialized through serde with bincode's
//! standard configuration (little endian, variable-length integers; enum
//! variants as their index). The record is not length-prefixed: the store
//! frames it (the sled store packs records into length-prefixed segments,
//! see `sled_store::segment`; PostgreSQL keeps one row per record). Decoding never panics and never
//! allocates more than [`MAX_RECORD_LEN`] for any input.

use bincode::config::{Configuration, Limit, LittleEndian, Varint};

use crate::entry::{OplogEntry, StoredEntry};
use crate::error::{Corruption, Error, Result};
use crate::payload::{ExternalPayload, Payload, StoredPayload, externalize};

/// Version byte written in front of every record by this build.
pub const FORMAT_VERSION: u8 = 1;

/// Largest encoded record accepted (64 MiB); larger payloads must go out of line.
pub const MAX_RECORD_LEN: usize = 64 * 1024 * 1024;

/// Bytes of framing around the body: version byte + CRC32.
pub const FRAMING_LEN: usize = 5;

type Config = Configuration<LittleEndian, Varint, Limit<MAX_RECORD_LEN>>;

fn config() -> Config {
    bincode::config::standard()
        .with_little_endian()
        .with_variable_int_encoding()
        .with_limit::<MAX_RECORD_LEN>()
}

/// bincode's limit while decoding counts what each value claims, not the
/// bytes it reads: a length or an integer claims 8 bytes however short its
/// varint, so a record of empty strings claims 8 times its size. Every
/// record that was written (at most [`MAX_RECORD_LEN`] bytes) must read
/// back: one of millions of empty `args`, under the size limit, failed
/// every read of its worker, and made the embedded store refuse to open.
const DECODE_LIMIT: usize = 8 * MAX_RECORD_LEN;

fn decode_config() -> Configuration<LittleEndian, Varint, Limit<DECODE_LIMIT>> {
    bincode::config::standard()
        .with_little_endian()
        .with_variable_int_encoding()
        .with_limit::<DECODE_LIMIT>()
}

/// Appends the record of `entry` to `out`.
pub fn encode_stored_into(entry: &StoredEntry, out: &mut Vec<u8>) -> Result<()> {
    let start = out.len();
    out.push(FORMAT_VERSION);
    if let Err(e) = bincode::serde::encode_into_std_write(entry, out, config()) {
        out.truncate(start);
        return Err(Error::Encode {
            reason: e.to_string(),
        });
    }
    let len = out.len() - start + 4;
    if len > MAX_RECORD_LEN {
        out.truncate(start);
        return Err(Error::Encode {
            reason: format!(
                "record of {len} bytes exceeds the maximum of {MAX_RECORD_LEN}; \
                 lower the store's payload threshold so large payloads go out of line"
            ),
        });
    }
    let crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// The record of a stored entry.
pub fn encode_stored(entry: &StoredEntry) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(64);
    encode_stored_into(entry, &mut out)?;
    Ok(out)
}

/// The record of `entry` with every payload inline.
pub fn encode_entry(entry: &OplogEntry) -> Result<Vec<u8>> {
    let stored: StoredEntry = inline_all(entry.clone());
    encode_stored(&stored)
}

/// `entry` with every payload inline.
pub fn inline_all(entry: OplogEntry) -> StoredEntry {
    match entry.try_map_payloads(|p| Ok::<_, std::convert::Infallible>(StoredPayload::Inline(p))) {
        Ok(e) => e,
        Err(never) => match never {},
    }
}

/// Splits `entry` for storage: payloads longer than `threshold` bytes are
/// replaced by references and returned separately, to be stored under their digest.
pub fn split_for_storage(
    entry: OplogEntry,
    threshold: usize,
) -> (StoredEntry, Vec<ExternalPayload>) {
    let mut externals = Vec::new();
    let stored = match entry.try_map_payloads(|p| {
        Ok::<_, std::convert::Infallible>(externalize(p, threshold, &mut externals))
    }) {
        Ok(e) => e,
        Err(never) => match never {},
    };
    (stored, externals)
}

/// Checks framing and CRC of a record and decodes its body.
pub(crate) fn decode_record(bytes: &[u8]) -> std::result::Result<StoredEntry, Corruption> {
    if bytes.len() < FRAMING_LEN {
        return Err(Corruption::TooShort { len: bytes.len() });
    }
    let (content, crc_bytes) = bytes.split_at(bytes.len() - 4);
    let stored = u32::from_le_bytes([crc_bytes[0], crc_bytes[1], crc_bytes[2], crc_bytes[3]]);
    let computed = crc32fast::hash(content);
    if stored != computed {
        return Err(Corruption::ChecksumMismatch { stored, computed });
    }
    let (version, body) = (content[0], &content[1..]);
    if version != FORMAT_VERSION {
        return Err(Corruption::UnsupportedVersion { found: version });
    }
    let (entry, used): (StoredEntry, usize) =
        bincode::serde::borrow_decode_from_slice(body, decode_config()).map_err(|e| {
            Corruption::MalformedBody {
                message: e.to_string(),
            }
        })?;
    if used != body.len() {
        return Err(Corruption::TrailingBytes {
            count: body.len() - used,
        });
    }
    Ok(entry)
}

/// Decodes a record into its stored form (payloads may be references).
pub fn decode_stored(bytes: &[u8]) -> Result<StoredEntry> {
    decode_record(bytes).map_err(|reason| Error::Decode { reason })
}

/// Decodes a record whose payloads are all inline. A record referencing an
/// out-of-line payload is rejected (only a store can resolve it).
pub fn decode_entry(bytes: &[u8]) -> Result<OplogEntry> {
    decode_stored(bytes)?.try_map_payloads(|p| match p {
        StoredPayload::Inline(p) => Ok::<Payload, Error>(p),
        StoredPayload::External(r) => Err(Error::Decode {
            reason: Corruption::MissingPayload { digest: r.digest },
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::EntryKind;
    use crate::ids::Timestamp;

    fn sample() -> OplogEntry {
        OplogEntry {
            timestamp: Timestamp::from_micros(42),
            kind: EntryKind::StreamFrameSent {
                open_index: crate::ids::OplogIndex::FIRST,
                frame: Payload::from("hello"),
            },
        }
    }

    #[test]
    fn round_trip_and_framing() {
        let bytes = encode_entry(&sample()).unwrap();
        assert_eq!(bytes[0], FORMAT_VERSION);
        assert_eq!(decode_entry(&bytes).unwrap(), sample());
    }

    #[test]
    fn every_single_byte_flip_is_detected() {
        let bytes = encode_entry(&sample()).unwrap();
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.clone();
                b[i] ^= 1 << bit;
                assert!(
                    decode_stored(&b).is_err(),
                    "flip of bit {bit} in byte {i} undetected"
                );
            }
        }
    }

    #[test]
    fn truncation_is_detected() {
        let bytes = encode_entry(&sample()).unwrap();
        for len in 0..bytes.len() {
            let err = decode_stored(&bytes[..len]).unwrap_err();
            assert!(err.is_corruption(), "{err}");
        }
    }

    #[test]
    fn unknown_version_is_named() {
        let mut bytes = encode_entry(&sample()).unwrap();
        bytes[0] = 9;
        let n = bytes.len();
        let crc = crc32fast::hash(&bytes[..n - 4]).to_le_bytes();
        bytes[n - 4..].copy_from_slice(&crc);
        let err = decode_stored(&bytes).unwrap_err().to_string();
        assert!(err.contains("unsupported format version 9"), "{err}");
    }

    #[test]
    fn huge_length_prefix_is_rejected_without_allocating() {
        // Version, then a body claiming a u64::MAX-long string via varint 0xFF marker.
        let mut bytes = vec![FORMAT_VERSION, 0x00, 0xFF];
        bytes.extend_from_slice(&u64::MAX.to_le_bytes());
        let crc = crc32fast::hash(&bytes).to_le_bytes();
        bytes.extend_from_slice(&crc);
        assert!(decode_stored(&bytes).is_err());
    }
}
