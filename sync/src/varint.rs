//! Unsigned LEB128 varints limited to 2^53 - 1 (so JavaScript numbers hold them), and a bounds-checked byte reader.

use crate::Error;

/// The largest value a varint may carry: what a JavaScript number holds exactly.
pub const MAX_VARINT: u64 = (1 << 53) - 1;

/// Appends `value` as an unsigned LEB128 varint. Values above [`MAX_VARINT`] are a caller bug and are clamped.
pub fn put_varint(out: &mut Vec<u8>, value: u64) {
    let mut value = value.min(MAX_VARINT);
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// A cursor over untrusted bytes; every read is bounds-checked.
#[derive(Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    pub fn byte(&mut self) -> Result<u8, Error> {
        let byte = *self.bytes.get(self.pos).ok_or(Error::Truncated)?;
        self.pos += 1;
        Ok(byte)
    }

    pub fn take(&mut self, len: usize) -> Result<&'a [u8], Error> {
        if len > self.remaining() {
            return Err(Error::Truncated);
        }
        let slice = &self.bytes[self.pos..self.pos + len];
        self.pos += len;
        Ok(slice)
    }

    pub fn varint(&mut self) -> Result<u64, Error> {
        let mut value: u64 = 0;
        for index in 0..8 {
            let byte = self.byte()?;
            if index > 0 && byte == 0 {
                return Err(Error::BadVarint("overlong encoding"));
            }
            value |= u64::from(byte & 0x7f) << (7 * index);
            if byte & 0x80 == 0 {
                if value > MAX_VARINT {
                    return Err(Error::BadVarint("value above 2^53 - 1"));
                }
                return Ok(value);
            }
        }
        Err(Error::BadVarint("longer than 8 bytes"))
    }

    /// A varint that must fit a length bounded by `limit`.
    pub fn length(&mut self, limit: usize) -> Result<usize, Error> {
        let value = self.varint()?;
        if value > limit as u64 {
            return Err(Error::DocumentTooLarge {
                size: value,
                limit: limit as u64,
            });
        }
        Ok(value as usize)
    }

    /// A count or length that must fit in the bytes left (each item takes at least one byte).
    pub fn count(&mut self) -> Result<usize, Error> {
        let value = self.varint()?;
        if value > self.remaining() as u64 {
            return Err(Error::Truncated);
        }
        Ok(value as usize)
    }

    /// A varint-length-prefixed UTF-8 string of at most `limit` bytes.
    pub fn string(&mut self, limit: usize) -> Result<&'a str, Error> {
        let len = self.length(limit)?;
        std::str::from_utf8(self.take(len)?).map_err(|_| Error::BadUtf8)
    }

    pub fn u64_le(&mut self) -> Result<u64, Error> {
        let bytes = self.take(8)?;
        let mut array = [0u8; 8];
        array.copy_from_slice(bytes);
        Ok(u64::from_le_bytes(array))
    }

    pub fn finish(&self) -> Result<(), Error> {
        match self.remaining() {
            0 => Ok(()),
            extra => Err(Error::TrailingBytes(extra)),
        }
    }
}

/// Appends a varint-length-prefixed UTF-8 string.
pub fn put_string(out: &mut Vec<u8>, text: &str) {
    put_varint(out, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(value: u64) -> u64 {
        let mut out = Vec::new();
        put_varint(&mut out, value);
        let mut reader = Reader::new(&out);
        let decoded = reader.varint().unwrap_or(u64::MAX);
        assert!(reader.finish().is_ok());
        decoded
    }

    #[test]
    fn varints_round_trip() {
        for value in [0, 1, 127, 128, 300, 1 << 31, MAX_VARINT] {
            assert_eq!(round_trip(value), value);
        }
    }

    #[test]
    fn overlong_and_huge_varints_are_rejected() {
        assert_eq!(
            Reader::new(&[0x80, 0x00]).varint(),
            Err(Error::BadVarint("overlong encoding"))
        );
        assert!(Reader::new(&[0xff; 8]).varint().is_err());
        assert!(Reader::new(&[0xff; 9]).varint().is_err());
        assert_eq!(Reader::new(&[0x80]).varint(), Err(Error::Truncated));
    }
}
