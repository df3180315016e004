//! Identifier newtypes of the oplog: [`WorkerId`], [`ComponentId`],
//! [`OplogIndex`], [`OwnerEpoch`], [`IdempotencyKey`] and the entry
//! [`Timestamp`].
//!
//! Every type validates on construction, parses with [`FromStr`] (errors name
//! the offending input and what is wrong), prints with [`Display`] in the same
//! form it parses, and (de)serializes through serde with the same validation,
//! so an invalid value can never come out of a decoded record.

use std::fmt::{self, Display};
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Longest input echoed back in an [`Error::InvalidId`].
const MAX_ECHO: usize = 300;

fn invalid(kind: &'static str, input: &str, reason: impl Into<String>) -> Error {
    let input = if input.len() > MAX_ECHO {
        let mut end = MAX_ECHO;
        while !input.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &input[..end])
    } else {
        input.to_owned()
    };
    Error::InvalidId {
        kind,
        input,
        reason: reason.into(),
    }
}

/// Lowercase hex rendering of a byte string.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    s
}

/// Parses exactly 64 lowercase hex digits into 32 bytes.
pub(crate) fn parse_sha256_hex(kind: &'static str, s: &str) -> Result<[u8; 32]> {
    if s.len() != 64 {
        return Err(invalid(
            kind,
            s,
            format!(
                "expected 64 lowercase hex digits, got {} characters",
                s.len()
            ),
        ));
    }
    let mut out = [0u8; 32];
    for (i, pair) in s.as_bytes().chunks_exact(2).enumerate() {
        let digit = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        match (digit(pair[0]), digit(pair[1])) {
            (Some(hi), Some(lo)) => out[i] = (hi << 4) | lo,
            _ => {
                let pos = if digit(pair[0]).is_none() {
                    2 * i
                } else {
                    2 * i + 1
                };
                return Err(invalid(
                    kind,
                    s,
                    format!(
                        "character {pos} ({:?}) is not a lowercase hex digit",
                        char::from(s.as_bytes()[pos])
                    ),
                ));
            }
        }
    }
    Ok(out)
}

/// Stable name of a worker: 1 to 128 characters from `[A-Za-z0-9._-]`, not
/// starting with `.` (ids name files, e.g. commit watermarks).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WorkerId(String);

impl WorkerId {
    /// Maximum length of a worker id in characters.
    pub const MAX_LEN: usize = 128;

    /// Validates `name` as a worker id.
    pub fn new(name: impl Into<String>) -> Result<Self> {
        let name = name.into();
        Self::validate(&name)?;
        Ok(WorkerId(name))
    }

    /// A fresh random worker id (a UUID v4 in hyphenated form).
    pub fn generate() -> Self {
        WorkerId(uuid::Uuid::new_v4().hyphenated().to_string())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn validate(name: &str) -> Result<()> {
        const KIND: &str = "worker id";
        if name.is_empty() {
            return Err(invalid(KIND, name, "must not be empty"));
        }
        if name.len() > Self::MAX_LEN {
            return Err(invalid(
                KIND,
                name,
                format!(
                    "is {} characters long, at most {} allowed",
                    name.len(),
                    Self::MAX_LEN
                ),
            ));
        }
        if name.starts_with('.') {
            // `.` and `..` name directories, and a leading dot hides files:
            // ids become file names (watermarks), so none of that.
            return Err(invalid(KIND, name, "must not start with `.`"));
        }
        if let Some((pos, c)) = name
            .char_indices()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(invalid(
                KIND,
                name,
                format!("character {pos} ({c:?}) is not one of [A-Za-z0-9._-]"),
            ));
        }
        Ok(())
    }
}

impl Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for WorkerId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        WorkerId::new(s)
    }
}

impl TryFrom<String> for WorkerId {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        WorkerId::new(s)
    }
}

impl From<WorkerId> for String {
    fn from(id: WorkerId) -> String {
        id.0
    }
}

impl AsRef<str> for WorkerId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Content address of a component: the SHA-256 of its wasm bytes, written as
/// 64 lowercase hex digits.
///
/// Serialized as the hex string in human-readable formats (JSON) and as the 32
/// raw bytes in the binary oplog format.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ComponentId([u8; 32]);

impl ComponentId {
    /// The id of a component with the given wasm bytes.
    pub fn of_bytes(wasm: &[u8]) -> Self {
        ComponentId(Sha256::digest(wasm).into())
    }

    /// Wraps an already computed SHA-256 digest.
    pub fn from_digest(digest: [u8; 32]) -> Self {
        ComponentId(digest)
    }

    /// The raw digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ComponentId({self})")
    }
}

impl Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&to_hex(&self.0))
    }
}

impl FromStr for ComponentId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        parse_sha256_hex("component id", s).map(ComponentId)
    }
}

impl Serialize for ComponentId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        digest_serde::serialize(&self.0, s)
    }
}

impl<'de> Deserialize<'de> for ComponentId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        digest_serde::deserialize(d).map(ComponentId)
    }
}

/// Serde form of 32-byte digests: 64 lowercase hex digits in human-readable
/// formats (JSON), a length-prefixed byte string in binary ones (bincode),
/// which decodes with one copy instead of 32 element visits.
pub(crate) mod digest_serde {
    use std::fmt;

    use serde::de::{self, SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};

    use super::{parse_sha256_hex, to_hex};

    /// Serializes `bytes` as hex text or a byte string.
    pub(crate) fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&to_hex(bytes))
        } else {
            s.serialize_bytes(bytes)
        }
    }

    /// Deserializes what [`serialize`] wrote.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        struct DigestVisitor;
        impl<'de> Visitor<'de> for DigestVisitor {
            type Value = [u8; 32];
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a SHA-256 digest (32 bytes or 64 lowercase hex digits)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<[u8; 32], E> {
                parse_sha256_hex("digest", v).map_err(E::custom)
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<[u8; 32], E> {
                v.try_into()
                    .map_err(|_| E::invalid_length(v.len(), &"32 bytes"))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<[u8; 32], A::Error> {
                let mut out = [0u8; 32];
                for (i, slot) in out.iter_mut().enumerate() {
                    *slot = seq
                        .next_element()?
                        .ok_or_else(|| de::Error::invalid_length(i, &"32 bytes"))?;
                }
                Ok(out)
            }
        }
        if d.is_human_readable() {
            d.deserialize_str(DigestVisitor)
        } else {
            d.deserialize_bytes(DigestVisitor)
        }
    }
}

/// Position of an entry in a worker's oplog. The first entry has index 1;
/// index 0 does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub struct OplogIndex(u64);

impl OplogIndex {
    /// The index of a worker's first entry (its `Create`).
    pub const FIRST: OplogIndex = OplogIndex(1);

    /// Wraps `n`, rejecting 0.
    pub fn new(n: u64) -> Result<Self> {
        if n == 0 {
            Err(invalid(
                "oplog index",
                "0",
                "indices start at 1 (the Create entry)",
            ))
        } else {
            Ok(OplogIndex(n))
        }
    }

    /// The index as a number (always >= 1).
    pub fn get(self) -> u64 {
        self.0
    }

    /// The following index, or `None` on overflow.
    pub fn next(self) -> Option<OplogIndex> {
        self.0.checked_add(1).map(OplogIndex)
    }

    /// The preceding index, or `None` for [`OplogIndex::FIRST`].
    pub fn prev(self) -> Option<OplogIndex> {
        if self.0 > 1 {
            Some(OplogIndex(self.0 - 1))
        } else {
            None
        }
    }
}

impl Display for OplogIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for OplogIndex {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let n: u64 = s.parse().map_err(|e| {
            invalid(
                "oplog index",
                s,
                format!("not an unsigned 64-bit integer ({e})"),
            )
        })?;
        OplogIndex::new(n)
    }
}

impl TryFrom<u64> for OplogIndex {
    type Error = Error;
    fn try_from(n: u64) -> Result<Self> {
        OplogIndex::new(n)
    }
}

impl From<OplogIndex> for u64 {
    fn from(i: OplogIndex) -> u64 {
        i.0
    }
}

/// Ownership epoch of a worker: issued by [`OplogStore::claim`], which makes
/// the caller the worker's owner. A store issues strictly increasing epochs
/// (across all workers, and across restarts of a persistent store), so an
/// owner that lost a worker to a later claim can never append again.
///
/// [`OplogStore::claim`]: crate::store::OplogStore::claim
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct OwnerEpoch(u64);

impl OwnerEpoch {
    /// Wraps an epoch number.
    pub const fn new(n: u64) -> Self {
        OwnerEpoch(n)
    }

    /// The epoch as a number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl Display for OwnerEpoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for OwnerEpoch {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        s.parse().map(OwnerEpoch).map_err(|e| {
            invalid(
                "owner epoch",
                s,
                format!("not an unsigned 64-bit integer ({e})"),
            )
        })
    }
}

impl From<OwnerEpoch> for u64 {
    fn from(e: OwnerEpoch) -> u64 {
        e.0
    }
}

/// Key that lets a server (or the executor) recognise a repeated request:
/// 1 to 256 printable ASCII characters (`' '..='~'`), without leading or
/// trailing spaces (it travels as gRPC metadata, which trims them).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Maximum length in characters.
    pub const MAX_LEN: usize = 256;

    /// Validates `key`.
    pub fn new(key: impl Into<String>) -> Result<Self> {
        const KIND: &str = "idempotency key";
        let key = key.into();
        if key.is_empty() {
            return Err(invalid(KIND, &key, "must not be empty"));
        }
        if key.len() > Self::MAX_LEN {
            return Err(invalid(
                KIND,
                &key,
                format!(
                    "is {} characters long, at most {} allowed",
                    key.len(),
                    Self::MAX_LEN
                ),
            ));
        }
        if let Some((pos, c)) = key.char_indices().find(|(_, c)| !matches!(c, ' '..='~')) {
            return Err(invalid(
                KIND,
                &key,
                format!("character {pos} ({c:?}) is not printable ASCII"),
            ));
        }
        if key.starts_with(' ') || key.ends_with(' ') {
            return Err(invalid(KIND, &key, "must not start or end with a space"));
        }
        Ok(IdempotencyKey(key))
    }

    /// A fresh random key (a UUID v4 in hyphenated form).
    pub fn generate() -> Self {
        IdempotencyKey(uuid::Uuid::new_v4().hyphenated().to_string())
    }

    /// The deterministic key of the call recorded at `index` in `worker`'s
    /// oplog: `"<worker>/<incarnation>/<index>"`, or `"<worker>/<index>"`
    /// for a worker created before creations carried an incarnation (its
    /// calls keep the keys they were first sent with). A call retried
    /// after a crash gets the same key; a worker deleted and created again
    /// under the same id gets a new incarnation, so its calls do not reuse
    /// the keys of the calls its predecessor made at the same indexes.
    pub fn derived(worker: &WorkerId, incarnation: Option<Incarnation>, index: OplogIndex) -> Self {
        // A worker id is at most 128 characters, an incarnation 16 and an
        // index at most 20 digits, so this always satisfies the length and
        // alphabet rules.
        match incarnation {
            Some(incarnation) => IdempotencyKey(format!("{worker}/{incarnation}/{index}")),
            None => IdempotencyKey(format!("{worker}/{index}")),
        }
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for IdempotencyKey {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        IdempotencyKey::new(s)
    }
}

impl TryFrom<String> for IdempotencyKey {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        IdempotencyKey::new(s)
    }
}

impl From<IdempotencyKey> for String {
    fn from(k: IdempotencyKey) -> String {
        k.0
    }
}

/// One creation of a worker: a random number chosen when the worker is
/// created and journaled in its creation entry. A worker deleted and
/// created again under the same id gets a new one, which sets the keys of
/// its calls apart from its predecessor's (see [`IdempotencyKey::derived`]).
/// Shown as 16 lowercase hexadecimal digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Incarnation(u64);

impl Incarnation {
    /// A fresh random incarnation.
    pub fn generate() -> Self {
        // The low 64 bits of a UUID v4: 60 of them random.
        Incarnation(uuid::Uuid::new_v4().as_u64_pair().1)
    }

    /// Wraps a stored number.
    pub const fn from_u64(value: u64) -> Self {
        Incarnation(value)
    }

    /// The number.
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

impl Display for Incarnation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Wall-clock time of an entry: microseconds since the Unix epoch (UTC).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(u64);

impl Timestamp {
    /// Wraps a count of microseconds since the Unix epoch.
    pub const fn from_micros(micros: u64) -> Self {
        Timestamp(micros)
    }

    /// The current time (the epoch itself if the system clock is before it).
    pub fn now() -> Self {
        let micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Timestamp(micros)
    }

    /// Microseconds since the Unix epoch.
    pub const fn as_micros(self) -> u64 {
        self.0
    }
}

impl Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Timestamp {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        s.parse().map(Timestamp).map_err(|e| {
            invalid(
                "timestamp",
                s,
                format!("expected microseconds since the Unix epoch as an unsigned integer ({e})"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_id_rules() {
        assert!(WorkerId::new("a").is_ok());
        assert!(WorkerId::new("Worker_1.test-x").is_ok());
        assert!(WorkerId::new("x".repeat(128)).is_ok());
        let long = WorkerId::new("x".repeat(129)).unwrap_err().to_string();
        assert!(long.contains("129 characters"), "{long}");
        let empty = WorkerId::new("").unwrap_err().to_string();
        assert!(empty.contains("must not be empty"), "{empty}");
        let bad = "ab/c".parse::<WorkerId>().unwrap_err().to_string();
        assert!(bad.contains("character 2 ('/')"), "{bad}");
        assert!(WorkerId::new("é").is_err());
        for hidden in [".", "..", ".w.tmp"] {
            let err = WorkerId::new(hidden).unwrap_err().to_string();
            assert!(err.contains("must not start with"), "{hidden}: {err}");
        }
        let g = WorkerId::generate();
        assert_eq!(g.as_str().len(), 36);
        assert_eq!(g.to_string().parse::<WorkerId>().unwrap(), g);
        assert_ne!(WorkerId::generate(), g);
    }

    #[test]
    fn component_id_rules() {
        let id = ComponentId::of_bytes(b"wasm");
        let text = id.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(text.parse::<ComponentId>().unwrap(), id);
        let upper = text
            .to_uppercase()
            .parse::<ComponentId>()
            .unwrap_err()
            .to_string();
        assert!(upper.contains("not a lowercase hex digit"), "{upper}");
        let short = "abc".parse::<ComponentId>().unwrap_err().to_string();
        assert!(short.contains("got 3 characters"), "{short}");
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{text}\""));
        assert_eq!(serde_json::from_str::<ComponentId>(&json).unwrap(), id);
    }

    #[test]
    fn oplog_index_rules() {
        assert!(OplogIndex::new(0).is_err());
        assert_eq!("7".parse::<OplogIndex>().unwrap().get(), 7);
        let zero = "0".parse::<OplogIndex>().unwrap_err().to_string();
        assert!(zero.contains("start at 1"), "{zero}");
        assert!("-1".parse::<OplogIndex>().is_err());
        assert_eq!(OplogIndex::FIRST.prev(), None);
        assert_eq!(OplogIndex::FIRST.next().unwrap().get(), 2);
        assert!(serde_json::from_str::<OplogIndex>("0").is_err());
    }

    #[test]
    fn owner_epoch_parses_prints_and_orders() {
        let e = "42".parse::<OwnerEpoch>().unwrap();
        assert_eq!(e, OwnerEpoch::new(42));
        assert_eq!(e.get(), 42);
        assert_eq!(e.to_string(), "42");
        assert!(OwnerEpoch::new(3) < OwnerEpoch::new(5));
        let bad = "-1".parse::<OwnerEpoch>().unwrap_err().to_string();
        assert!(bad.contains("owner epoch"), "{bad}");
        assert_eq!(serde_json::to_string(&e).unwrap(), "42");
        assert_eq!(serde_json::from_str::<OwnerEpoch>("42").unwrap(), e);
    }

    #[test]
    fn idempotency_key_rules() {
        assert!(IdempotencyKey::new("order 42").is_ok());
        assert!(IdempotencyKey::new("~!").is_ok());
        assert!(IdempotencyKey::new(" x").is_err());
        assert!(IdempotencyKey::new("x\n").is_err());
        assert!(IdempotencyKey::new("k".repeat(257)).is_err());
        assert!(IdempotencyKey::new("k".repeat(256)).is_ok());
        let w = WorkerId::new("w".repeat(128)).unwrap();
        let last = OplogIndex::new(u64::MAX).unwrap();
        for incarnation in [None, Some(Incarnation::from_u64(u64::MAX))] {
            let d = IdempotencyKey::derived(&w, incarnation, last);
            assert_eq!(IdempotencyKey::new(d.as_str()).unwrap(), d);
        }
        let w = WorkerId::new("order-42").unwrap();
        let three = OplogIndex::new(3).unwrap();
        assert_eq!(
            IdempotencyKey::derived(&w, Some(Incarnation::from_u64(0xab)), three).as_str(),
            "order-42/00000000000000ab/3"
        );
        assert_eq!(
            IdempotencyKey::derived(&w, None, three).as_str(),
            "order-42/3"
        );
        assert_ne!(Incarnation::generate(), Incarnation::generate());
        assert_ne!(IdempotencyKey::generate(), IdempotencyKey::generate());
    }

    #[test]
    fn timestamp_parses_and_prints() {
        let t = Timestamp::from_micros(1_700_000_000_000_000);
        assert_eq!(t.to_string().parse::<Timestamp>().unwrap(), t);
        assert!("soon".parse::<Timestamp>().is_err());
        assert!(Timestamp::now() > t);
    }
}
