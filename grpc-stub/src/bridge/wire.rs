//! Protobuf wire-format primitives for the direct `Val` <-> bytes paths.

/// Wire type: varint.
pub(crate) const VARINT: u8 = 0;
/// Wire type: 64-bit.
pub(crate) const I64: u8 = 1;
/// Wire type: length-delimited.
pub(crate) const LEN: u8 = 2;
/// Wire type: start group.
pub(crate) const SGROUP: u8 = 3;
/// Wire type: end group.
pub(crate) const EGROUP: u8 = 4;
/// Wire type: 32-bit.
pub(crate) const I32: u8 = 5;

/// Appends a varint.
#[inline]
pub(crate) fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Appends a field key.
#[inline]
pub(crate) fn put_key(buf: &mut Vec<u8>, number: u32, wire_type: u8) {
    put_varint(buf, (u64::from(number) << 3) | u64::from(wire_type));
}

/// Appends a length-delimited body written by `body`, patching the length
/// in front of it afterwards (one byte is reserved; longer lengths shift the
/// body).
#[inline]
pub(crate) fn put_nested<E>(
    buf: &mut Vec<u8>,
    body: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
) -> Result<(), E> {
    let start = buf.len();
    buf.push(0);
    body(buf)?;
    let len = buf.len() - start - 1;
    if len < 0x80 {
        buf[start] = len as u8;
    } else {
        let mut prefix = Vec::with_capacity(5);
        put_varint(&mut prefix, len as u64);
        buf[start] = prefix[0];
        buf.splice(start + 1..start + 1, prefix[1..].iter().copied());
    }
    Ok(())
}

/// The decoder gave up on the fast path; the caller retries with the
/// general (`DynamicMessage`) path, which also reports malformed input.
#[derive(Debug)]
pub(crate) struct Irregular;

/// A cursor over protobuf bytes.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Reads `buf` from the start.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// No bytes left.
    #[inline]
    pub(crate) fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// A varint.
    #[inline]
    pub(crate) fn varint(&mut self) -> Result<u64, Irregular> {
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let byte = *self.buf.get(self.pos).ok_or(Irregular)?;
            self.pos += 1;
            if shift == 63 && byte > 1 {
                return Err(Irregular);
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(Irregular)
    }

    /// A field key: (number, wire type).
    #[inline]
    pub(crate) fn key(&mut self) -> Result<(u32, u8), Irregular> {
        let key = self.varint()?;
        // Keys past 32 bits are malformed (as protobuf reads them), not
        // field numbers of 30 bits and more.
        let key = u32::try_from(key).map_err(|_| Irregular)?;
        let number = key >> 3;
        if number == 0 {
            return Err(Irregular);
        }
        Ok((number, (key & 7) as u8))
    }

    /// `n` raw bytes.
    #[inline]
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], Irregular> {
        let end = self.pos.checked_add(n).ok_or(Irregular)?;
        let out = self.buf.get(self.pos..end).ok_or(Irregular)?;
        self.pos = end;
        Ok(out)
    }

    /// Reads to the end, checking that what is left is well-formed
    /// fields (groups give up, as in [`Self::skip`]).
    pub(crate) fn skip_fields(&mut self) -> Result<(), Irregular> {
        while !self.done() {
            let (_, wire_type) = self.key()?;
            self.skip(wire_type)?;
        }
        Ok(())
    }

    /// A length-delimited body.
    #[inline]
    pub(crate) fn len_delimited(&mut self) -> Result<&'a [u8], Irregular> {
        let len = usize::try_from(self.varint()?).map_err(|_| Irregular)?;
        self.take(len)
    }

    /// A little-endian 32-bit value.
    #[inline]
    pub(crate) fn fixed32(&mut self) -> Result<u32, Irregular> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A little-endian 64-bit value.
    #[inline]
    pub(crate) fn fixed64(&mut self) -> Result<u64, Irregular> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// Skips one field's value (groups are left to the general path).
    pub(crate) fn skip(&mut self, wire_type: u8) -> Result<(), Irregular> {
        match wire_type {
            VARINT => self.varint().map(|_| ()),
            I64 => self.take(8).map(|_| ()),
            LEN => self.len_delimited().map(|_| ()),
            I32 => self.take(4).map(|_| ()),
            _ => Err(Irregular),
        }
    }
}

/// Zig-zag decoding.
#[inline]
pub(crate) fn unzigzag32(v: u64) -> i32 {
    let v = v as u32;
    ((v >> 1) as i32) ^ -((v & 1) as i32)
}

/// Zig-zag decoding.
#[inline]
pub(crate) fn unzigzag64(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Zig-zag encoding.
#[inline]
pub(crate) fn zigzag32(v: i32) -> u64 {
    u64::from(((v << 1) ^ (v >> 31)) as u32)
}

/// Zig-zag encoding.
#[inline]
pub(crate) fn zigzag64(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_nesting_round_trip() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut buf = Vec::new();
            put_varint(&mut buf, v);
            assert_eq!(Reader::new(&buf).varint().unwrap(), v);
        }
        for len in [0usize, 5, 127, 128, 20_000] {
            let mut buf = vec![9u8];
            put_nested::<()>(&mut buf, |b| {
                b.extend(std::iter::repeat_n(7u8, len));
                Ok(())
            })
            .unwrap();
            let mut r = Reader::new(&buf[1..]);
            assert_eq!(r.len_delimited().unwrap().len(), len);
            assert!(r.done());
        }
        for v in [0i32, -1, 1, i32::MIN, i32::MAX] {
            assert_eq!(unzigzag32(zigzag32(v)), v);
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX] {
            assert_eq!(unzigzag64(zigzag64(v)), v);
        }
    }
}
