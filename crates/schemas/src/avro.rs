//! Avro's binary encoding, the parts Flowline's schemas use: longs and
//! ints as zigzag variable-length integers, floats and doubles as
//! little-endian IEEE 754, booleans as one byte, strings and bytes as a
//! length and the bytes, fixed as the bytes, unions and enums as an index,
//! arrays as counted blocks ending with an empty one.
//!
//! Writing appends to a caller's buffer and never fails. Reading walks a
//! record's bytes with a [`Reader`] that borrows them, so strings and
//! bytes come out as slices of the input, and every problem is an error
//! naming the field and its offset from the start of the record.

use crate::error::DecodeError;
use crate::schema::SchemaKind;

/// Longest variable-length encoding of a 64-bit integer: ten groups of
/// seven bits.
const MAX_VARINT_LEN: usize = 10;

/// Appends `value` as a variable-length integer: seven bits a byte, low
/// bits first, the top bit set on every byte but the last.
#[inline]
fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    // Fast path: one extend of a stack buffer rather than a push a byte.
    let mut buffer = [0_u8; MAX_VARINT_LEN];
    let mut len = 0;
    while value >= 0x80 {
        buffer[len] = (value as u8) | 0x80;
        value >>= 7;
        len += 1;
    }
    buffer[len] = value as u8;
    out.extend_from_slice(&buffer[..=len]);
}

/// Appends an Avro `long`: zigzag, so small negative numbers stay short.
#[inline]
pub(crate) fn put_long(out: &mut Vec<u8>, value: i64) {
    put_varint(out, ((value << 1) ^ (value >> 63)) as u64);
}

/// Appends an Avro `int`, which has the same encoding as a `long` of the
/// same value.
#[inline]
pub(crate) fn put_int(out: &mut Vec<u8>, value: i32) {
    put_long(out, i64::from(value));
}

/// Appends an Avro `float`: four bytes, little-endian.
#[inline]
pub(crate) fn put_float(out: &mut Vec<u8>, value: f32) {
    out.extend_from_slice(&value.to_le_bytes());
}

/// Appends an Avro `double`: eight bytes, little-endian.
#[inline]
pub(crate) fn put_double(out: &mut Vec<u8>, value: f64) {
    out.extend_from_slice(&value.to_le_bytes());
}

/// Appends an Avro `boolean`: one byte, 0 or 1.
#[inline]
pub(crate) fn put_boolean(out: &mut Vec<u8>, value: bool) {
    out.push(u8::from(value));
}

/// Appends Avro `bytes`: the length as a `long`, then the bytes.
#[inline]
pub(crate) fn put_bytes(out: &mut Vec<u8>, value: &[u8]) {
    put_long(out, value.len() as i64);
    out.extend_from_slice(value);
}

/// Appends an Avro `string`: its UTF-8 bytes as `bytes`.
#[inline]
pub(crate) fn put_string(out: &mut Vec<u8>, value: &str) {
    put_bytes(out, value.as_bytes());
}

/// Appends the branch index of a union, or the symbol index of an enum.
#[inline]
pub(crate) fn put_index(out: &mut Vec<u8>, index: usize) {
    put_long(out, index as i64);
}

/// Appends an optional `long`, as the union `["null", "long"]`.
#[inline]
pub(crate) fn put_optional_long(out: &mut Vec<u8>, value: Option<i64>) {
    match value {
        None => put_index(out, 0),
        Some(value) => {
            put_index(out, 1);
            put_long(out, value);
        }
    }
}

/// Appends an optional `string`, as the union `["null", "string"]`.
#[inline]
pub(crate) fn put_optional_string(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        None => put_index(out, 0),
        Some(value) => {
            put_index(out, 1);
            put_string(out, value);
        }
    }
}

/// Appends an array of `items`, each written by `put_item`: one block
/// with the count, then the end marker (a count of zero). An empty array
/// is the end marker alone.
pub(crate) fn put_array<T>(out: &mut Vec<u8>, items: &[T], put_item: impl Fn(&mut Vec<u8>, &T)) {
    if !items.is_empty() {
        put_long(out, items.len() as i64);
        for item in items {
            put_item(out, item);
        }
    }
    put_long(out, 0);
}

/// Where decoding stands in one record: the record's bytes (the wire
/// header included, so offsets count from its first byte), the position
/// of the next unread byte, and which schema the bytes are read as, for
/// error messages. Only this crate's record types read from it.
#[derive(Debug)]
pub struct Reader<'a> {
    /// The whole record value.
    bytes: &'a [u8],
    /// Offset of the next byte to read.
    position: usize,
    /// The schema being read, named in errors.
    schema: SchemaKind,
}

impl<'a> Reader<'a> {
    /// A reader of `bytes` as a `schema` record whose body starts at
    /// `position`.
    #[inline]
    pub(crate) fn new(bytes: &'a [u8], position: usize, schema: SchemaKind) -> Self {
        Reader {
            bytes,
            position,
            schema,
        }
    }

    /// The offset of the next byte to read, from the record's first byte.
    #[inline]
    pub(crate) fn position(&self) -> usize {
        self.position
    }

    /// The error for `found`, read from `field` at `offset`, not being a
    /// known `what` (a unit, a topic).
    pub(crate) fn unknown_name(
        &self,
        field: &'static str,
        offset: usize,
        what: &'static str,
        found: &str,
    ) -> DecodeError {
        DecodeError::UnknownName {
            schema: self.schema,
            field,
            offset,
            what,
            found: found.to_owned(),
        }
    }

    /// The error for `needed` bytes of `field` wanted at `offset` where
    /// fewer are left.
    fn truncated(&self, field: &'static str, offset: usize, needed: usize) -> DecodeError {
        DecodeError::Truncated {
            schema: self.schema,
            field,
            offset,
            expected: needed,
            found: self.bytes.len().saturating_sub(offset),
        }
    }

    /// The next `len` bytes, for `field`.
    #[inline]
    fn take(&mut self, field: &'static str, len: usize) -> Result<&'a [u8], DecodeError> {
        let start = self.position;
        let slice = start
            .checked_add(len)
            .and_then(|end| self.bytes.get(start..end))
            .ok_or_else(|| self.truncated(field, start, len))?;
        self.position = start + len;
        Ok(slice)
    }

    /// The next `N` bytes, for `field`.
    #[inline]
    fn take_array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let slice = self.take(field, N)?;
        Ok(slice
            .try_into()
            .expect("bug: take returns the length asked"))
    }

    /// A variable-length integer of at most ten bytes whose value fits in
    /// 64 bits.
    #[inline]
    fn varint(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        let start = self.position;
        // Fast path: flags, small ids, union branches and lengths fit in
        // one byte.
        if let Some(&byte) = self.bytes.get(start)
            && byte < 0x80
        {
            self.position = start + 1;
            return Ok(u64::from(byte));
        }
        let mut value = 0_u64;
        for (index, &byte) in self.bytes.get(start..).unwrap_or(&[]).iter().enumerate() {
            if index == MAX_VARINT_LEN - 1 && byte > 1 {
                // The tenth byte holds the 64th bit only.
                return Err(self.bad_varint(field, start));
            }
            value |= u64::from(byte & 0x7f) << (7 * index);
            if byte & 0x80 == 0 {
                self.position = start + index + 1;
                return Ok(value);
            }
        }
        let read = self.bytes.len() - start.min(self.bytes.len());
        Err(self.truncated(field, start, read + 1))
    }

    /// The error for a variable-length integer at `offset` that has more
    /// than ten bytes or more than 64 bits.
    fn bad_varint(&self, field: &'static str, offset: usize) -> DecodeError {
        DecodeError::BadVarint {
            schema: self.schema,
            field,
            offset,
        }
    }

    /// An Avro `long`.
    #[inline]
    pub(crate) fn long(&mut self, field: &'static str) -> Result<i64, DecodeError> {
        let zigzag = self.varint(field)?;
        Ok((zigzag >> 1) as i64 ^ -((zigzag & 1) as i64))
    }

    /// A `long` that must lie in `min..=max`.
    #[inline]
    fn long_within(&mut self, field: &'static str, min: i64, max: i64) -> Result<i64, DecodeError> {
        let offset = self.position;
        let value = self.long(field)?;
        if (min..=max).contains(&value) {
            Ok(value)
        } else {
            Err(DecodeError::OutOfRange {
                schema: self.schema,
                field,
                offset,
                value,
                min,
                max,
            })
        }
    }

    /// An Avro `int` that cannot be negative, such as a partition.
    #[inline]
    pub(crate) fn non_negative_int(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        Ok(self.long_within(field, 0, i64::from(i32::MAX))? as u32)
    }

    /// A `long` holding an unsigned 32-bit number, such as a tag id.
    #[inline]
    pub(crate) fn u32_long(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        Ok(self.long_within(field, 0, i64::from(u32::MAX))? as u32)
    }

    /// A `long` holding a number that cannot be negative, such as a
    /// version.
    #[inline]
    pub(crate) fn u64_long(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        Ok(self.long_within(field, 0, i64::MAX)? as u64)
    }

    /// An `int` holding an unsigned 16-bit number, such as the flags.
    #[inline]
    pub(crate) fn u16_int(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        Ok(self.long_within(field, 0, i64::from(u16::MAX))? as u16)
    }

    /// An Avro `float`.
    #[inline]
    pub(crate) fn float(&mut self, field: &'static str) -> Result<f32, DecodeError> {
        Ok(f32::from_le_bytes(self.take_array(field)?))
    }

    /// An Avro `double`.
    #[inline]
    pub(crate) fn double(&mut self, field: &'static str) -> Result<f64, DecodeError> {
        Ok(f64::from_le_bytes(self.take_array(field)?))
    }

    /// An Avro `boolean`: a byte that must be 0 or 1.
    #[inline]
    pub(crate) fn boolean(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        let offset = self.position;
        match self.take(field, 1)?[0] {
            0 => Ok(false),
            1 => Ok(true),
            found => Err(DecodeError::BadBoolean {
                schema: self.schema,
                field,
                offset,
                found,
            }),
        }
    }

    /// A length of `bytes` or `string`, which cannot be negative.
    #[inline]
    fn length(&mut self, field: &'static str) -> Result<usize, DecodeError> {
        let offset = self.position;
        let length = self.long(field)?;
        usize::try_from(length).map_err(|_| DecodeError::NegativeLength {
            schema: self.schema,
            field,
            offset,
            length,
        })
    }

    /// Avro `bytes`, borrowed from the record.
    #[inline]
    pub(crate) fn bytes(&mut self, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let length = self.length(field)?;
        self.take(field, length)
    }

    /// An Avro `string`, borrowed from the record.
    #[inline]
    pub(crate) fn string(&mut self, field: &'static str) -> Result<&'a str, DecodeError> {
        let length = self.length(field)?;
        let offset = self.position;
        let bytes = self.take(field, length)?;
        std::str::from_utf8(bytes).map_err(|error| DecodeError::InvalidUtf8 {
            schema: self.schema,
            field,
            offset: offset + error.valid_up_to(),
        })
    }

    /// An Avro `fixed` of `N` bytes.
    #[inline]
    pub(crate) fn fixed<const N: usize>(
        &mut self,
        field: &'static str,
    ) -> Result<[u8; N], DecodeError> {
        self.take_array(field)
    }

    /// The branch index of a union of `branches` types.
    #[inline]
    pub(crate) fn union_index(
        &mut self,
        field: &'static str,
        branches: usize,
    ) -> Result<usize, DecodeError> {
        let offset = self.position;
        let index = self.long(field)?;
        match usize::try_from(index) {
            Ok(index) if index < branches => Ok(index),
            _ => Err(DecodeError::BadUnionIndex {
                schema: self.schema,
                field,
                offset,
                index,
                branches,
            }),
        }
    }

    /// The symbol index of an enum of `symbols` symbols.
    #[inline]
    pub(crate) fn enum_index(
        &mut self,
        field: &'static str,
        symbols: usize,
    ) -> Result<usize, DecodeError> {
        let offset = self.position;
        let index = self.long(field)?;
        match usize::try_from(index) {
            Ok(index) if index < symbols => Ok(index),
            _ => Err(DecodeError::BadEnumIndex {
                schema: self.schema,
                field,
                offset,
                index,
                symbols,
            }),
        }
    }

    /// An optional `long`, the union `["null", "long"]`.
    #[inline]
    pub(crate) fn optional_u32_long(
        &mut self,
        field: &'static str,
    ) -> Result<Option<u32>, DecodeError> {
        match self.union_index(field, 2)? {
            0 => Ok(None),
            _ => self.u32_long(field).map(Some),
        }
    }

    /// An optional `string`, the union `["null", "string"]`.
    #[inline]
    pub(crate) fn optional_string(
        &mut self,
        field: &'static str,
    ) -> Result<Option<&'a str>, DecodeError> {
        match self.union_index(field, 2)? {
            0 => Ok(None),
            _ => self.string(field).map(Some),
        }
    }

    /// An array whose items `read_item` reads, each taking at least
    /// `min_item_len` bytes. A count larger than the bytes left could
    /// hold is refused before anything is allocated for it.
    pub(crate) fn array<T>(
        &mut self,
        field: &'static str,
        min_item_len: usize,
        mut read_item: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let mut items = Vec::new();
        loop {
            let offset = self.position;
            let count = self.long(field)?;
            if count == 0 {
                return Ok(items);
            }
            if count < 0 {
                // A negative count is followed by the block's size in
                // bytes, which a reader that decodes every item ignores.
                self.length(field)?;
            }
            let count = count.unsigned_abs();
            let needed = count.saturating_mul(min_item_len as u64);
            let left = (self.bytes.len() - self.position) as u64;
            if needed > left {
                return Err(DecodeError::Truncated {
                    schema: self.schema,
                    field,
                    offset,
                    expected: usize::try_from(needed).unwrap_or(usize::MAX),
                    found: self.bytes.len() - offset,
                });
            }
            items.reserve(count as usize);
            for _ in 0..count {
                items.push(read_item(self)?);
            }
        }
    }

    /// Checks that the record ends where its schema does.
    #[inline]
    pub(crate) fn finish(self) -> Result<(), DecodeError> {
        if self.position == self.bytes.len() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes {
                schema: self.schema,
                end: self.position,
                len: self.bytes.len(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn reader(bytes: &[u8]) -> Reader<'_> {
        Reader::new(bytes, 0, SchemaKind::RawSample)
    }

    /// Examples from the Avro specification's table of zigzag encodings.
    #[test]
    fn longs_are_zigzag_varints_as_the_specification_shows() {
        let cases: [(i64, &[u8]); 6] = [
            (0, &[0x00]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (-2, &[0x03]),
            (2, &[0x04]),
            (-64, &[0x7f]),
        ];
        for (value, bytes) in cases {
            let mut out = Vec::new();
            put_long(&mut out, value);
            assert_eq!(out, bytes, "{value}");
            assert_eq!(reader(bytes).long("n").unwrap(), value);
        }
        let mut out = Vec::new();
        put_long(&mut out, 64);
        assert_eq!(out, [0x80, 0x01]);
    }

    #[test]
    fn the_extremes_of_a_long_take_ten_bytes_and_read_back() {
        for value in [i64::MIN, i64::MAX] {
            let mut out = Vec::new();
            put_long(&mut out, value);
            assert_eq!(out.len(), 10);
            let mut reader = reader(&out);
            assert_eq!(reader.long("n").unwrap(), value);
            reader.finish().unwrap();
        }
    }

    #[test]
    fn a_varint_of_eleven_bytes_or_beyond_64_bits_is_refused_with_its_offset() {
        let eleven = [0xff; 11];
        let error = reader(&eleven).long("tag").unwrap_err();
        assert_eq!(
            error,
            DecodeError::BadVarint {
                schema: SchemaKind::RawSample,
                field: "tag",
                offset: 0
            }
        );
        let mut too_wide = vec![0xff; 9];
        too_wide.push(0x02);
        assert!(matches!(
            reader(&too_wide).long("tag"),
            Err(DecodeError::BadVarint { .. })
        ));
    }

    #[test]
    fn a_varint_cut_short_says_how_many_bytes_it_needed_and_found() {
        let mut reader = Reader::new(&[0x00, 0x80, 0x80], 1, SchemaKind::RawSample);
        let error = reader.long("time").unwrap_err();
        assert_eq!(
            error.to_string(),
            "truncated raw-sample record: expected 3 bytes for `time` at offset 1, found 2"
        );
    }

    #[test]
    fn a_string_borrows_the_record_and_bad_utf8_names_the_offset_of_the_bad_byte() {
        let record = [0x06, b'b', b'a', b'r'];
        assert_eq!(reader(&record).string("unit").unwrap(), "bar");
        let bad = [0x06, b'b', 0xff, b'r'];
        assert_eq!(
            reader(&bad).string("unit").unwrap_err(),
            DecodeError::InvalidUtf8 {
                schema: SchemaKind::RawSample,
                field: "unit",
                offset: 2
            }
        );
    }

    #[test]
    fn negative_lengths_and_lengths_past_the_end_are_errors() {
        // -1 as a length.
        assert!(matches!(
            reader(&[0x01]).bytes("original_value"),
            Err(DecodeError::NegativeLength { length: -1, .. })
        ));
        // 5 bytes announced, 2 present.
        assert!(matches!(
            reader(&[0x0a, 1, 2]).bytes("original_value"),
            Err(DecodeError::Truncated {
                expected: 5,
                found: 2,
                offset: 1,
                ..
            })
        ));
    }

    #[test]
    fn booleans_other_than_zero_and_one_are_refused() {
        assert!(reader(&[1]).boolean("value").unwrap());
        assert!(matches!(
            reader(&[2]).boolean("value"),
            Err(DecodeError::BadBoolean { found: 2, .. })
        ));
    }

    #[test]
    fn an_array_in_negative_blocks_reads_like_one_in_positive_blocks() {
        // Block of -2 items with a byte size of 2, then a block of 1, then
        // the end: items 1, 2, 3 as longs.
        let bytes = [0x03, 0x04, 0x02, 0x04, 0x02, 0x06, 0x00];
        let mut reader = reader(&bytes);
        let items = reader.array("evidence", 1, |r| r.long("evidence")).unwrap();
        assert_eq!(items, [1, 2, 3]);
        reader.finish().unwrap();
    }

    #[test]
    fn an_array_count_larger_than_the_bytes_left_is_refused_before_allocating() {
        let mut bytes = Vec::new();
        put_long(&mut bytes, i64::MAX);
        let error = reader(&bytes)
            .array("evidence", 1, |r| r.long("evidence"))
            .unwrap_err();
        assert!(
            matches!(error, DecodeError::Truncated { offset: 0, .. }),
            "{error}"
        );
    }

    proptest! {
        #[test]
        fn every_long_and_int_reads_back_as_written(value: i64, small in 0..=i32::MAX) {
            let mut out = Vec::new();
            put_long(&mut out, value);
            put_int(&mut out, small);
            let mut reader = reader(&out);
            prop_assert_eq!(reader.long("a").unwrap(), value);
            prop_assert_eq!(reader.non_negative_int("b").unwrap(), small as u32);
            reader.finish().unwrap();
        }

        #[test]
        fn any_bytes_read_as_a_long_give_a_value_or_an_error_never_a_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..12),
        ) {
            let _ = reader(&bytes).long("n");
        }
    }
}
