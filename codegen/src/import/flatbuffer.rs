//! A minimal, bounds-checked FlatBuffers reader: tables, scalars, vectors and
//! strings, each read returning an error instead of reading out of bounds.
//!
//! Layer: import; uses only `std`. The `flatbuffers` crate's accessors are
//! `unsafe` (they trust a prior verification pass); kiln keeps `unsafe` out of
//! the codegen, so the importer reads through this instead. Field slots are
//! numbered as in the schema: slot `n` is vtable entry `4 + 2n`.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FbError {
    pub offset: usize,
    pub what: &'static str,
}

impl fmt::Display for FbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.what, self.offset)
    }
}

pub type FbResult<T> = Result<T, FbError>;

fn err<T>(offset: usize, what: &'static str) -> FbResult<T> {
    Err(FbError { offset, what })
}

fn read<const N: usize>(buf: &[u8], pos: usize) -> FbResult<[u8; N]> {
    match buf.get(pos..pos.saturating_add(N)) {
        Some(b) => Ok(b.try_into().expect("slice of length N")),
        None => err(pos, "read past the end of the file"),
    }
}

fn u16_at(buf: &[u8], pos: usize) -> FbResult<u16> {
    Ok(u16::from_le_bytes(read(buf, pos)?))
}

fn u32_at(buf: &[u8], pos: usize) -> FbResult<u32> {
    Ok(u32::from_le_bytes(read(buf, pos)?))
}

/// Follows a forward `uoffset` stored at `pos`.
fn follow(buf: &[u8], pos: usize) -> FbResult<usize> {
    let target = pos as u64 + u64::from(u32_at(buf, pos)?);
    if target >= buf.len() as u64 {
        return err(pos, "offset points past the end of the file");
    }
    Ok(target as usize)
}

#[derive(Clone, Copy)]
pub struct Table<'a> {
    buf: &'a [u8],
    pos: usize,
    vtable: usize,
    vtable_len: usize,
}

impl<'a> Table<'a> {
    /// The root table of a buffer.
    pub fn root(buf: &'a [u8]) -> FbResult<Table<'a>> {
        if buf.len() < 8 {
            return err(0, "file too short to be a flatbuffer");
        }
        Table::at(buf, follow(buf, 0)?)
    }

    fn at(buf: &'a [u8], pos: usize) -> FbResult<Table<'a>> {
        let soffset = i32::from_le_bytes(read(buf, pos)?);
        let vtable = pos as i64 - i64::from(soffset);
        if vtable < 0 || vtable as usize + 4 > buf.len() {
            return err(pos, "table's vtable lies outside the file");
        }
        let vtable = vtable as usize;
        let vtable_len = usize::from(u16_at(buf, vtable)?);
        let object_len = usize::from(u16_at(buf, vtable + 2)?);
        if vtable_len < 4 || vtable_len % 2 != 0 || vtable + vtable_len > buf.len() {
            return err(vtable, "malformed vtable");
        }
        if pos + object_len > buf.len() {
            return err(pos, "table extends past the end of the file");
        }
        Ok(Table {
            buf,
            pos,
            vtable,
            vtable_len,
        })
    }

    /// Absolute position of field `slot`, if present.
    fn field(&self, slot: usize) -> FbResult<Option<usize>> {
        let entry = 4 + 2 * slot;
        if entry + 2 > self.vtable_len {
            return Ok(None);
        }
        let offset = usize::from(u16_at(self.buf, self.vtable + entry)?);
        Ok((offset != 0).then_some(self.pos + offset))
    }

    fn scalar<const N: usize>(&self, slot: usize) -> FbResult<Option<[u8; N]>> {
        match self.field(slot)? {
            Some(p) => Ok(Some(read(self.buf, p)?)),
            None => Ok(None),
        }
    }

    pub fn i8(&self, slot: usize, default: i8) -> FbResult<i8> {
        Ok(self.scalar::<1>(slot)?.map_or(default, |b| b[0] as i8))
    }

    pub fn bool(&self, slot: usize, default: bool) -> FbResult<bool> {
        Ok(self.scalar::<1>(slot)?.map_or(default, |b| b[0] != 0))
    }

    pub fn i32(&self, slot: usize, default: i32) -> FbResult<i32> {
        Ok(self.scalar(slot)?.map_or(default, i32::from_le_bytes))
    }

    pub fn u32(&self, slot: usize, default: u32) -> FbResult<u32> {
        Ok(self.scalar(slot)?.map_or(default, u32::from_le_bytes))
    }

    pub fn u64(&self, slot: usize, default: u64) -> FbResult<u64> {
        Ok(self.scalar(slot)?.map_or(default, u64::from_le_bytes))
    }

    pub fn f32(&self, slot: usize, default: f32) -> FbResult<f32> {
        Ok(self.scalar(slot)?.map_or(default, f32::from_le_bytes))
    }

    pub fn table(&self, slot: usize) -> FbResult<Option<Table<'a>>> {
        match self.field(slot)? {
            Some(p) => Ok(Some(Table::at(self.buf, follow(self.buf, p)?)?)),
            None => Ok(None),
        }
    }

    /// A vector of `element_size`-byte elements.
    pub fn vector(&self, slot: usize, element_size: usize) -> FbResult<Option<Vector<'a>>> {
        let Some(p) = self.field(slot)? else {
            return Ok(None);
        };
        let start = follow(self.buf, p)?;
        let len = u32_at(self.buf, start)? as usize;
        let bytes = (len as u64) * element_size as u64;
        if start as u64 + 4 + bytes > self.buf.len() as u64 {
            return err(start, "vector extends past the end of the file");
        }
        Ok(Some(Vector {
            buf: self.buf,
            start: start + 4,
            len,
            element_size,
        }))
    }

    pub fn string(&self, slot: usize) -> FbResult<Option<&'a str>> {
        match self.vector(slot, 1)? {
            Some(v) => match std::str::from_utf8(v.bytes()) {
                Ok(s) => Ok(Some(s)),
                Err(_) => err(v.start, "string is not UTF-8"),
            },
            None => Ok(None),
        }
    }
}

#[derive(Clone, Copy)]
pub struct Vector<'a> {
    buf: &'a [u8],
    start: usize,
    len: usize,
    element_size: usize,
}

impl<'a> Vector<'a> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The raw bytes of the elements (bounds checked when the vector was read).
    pub fn bytes(&self) -> &'a [u8] {
        &self.buf[self.start..self.start + self.len * self.element_size]
    }

    fn element(&self, i: usize) -> FbResult<usize> {
        if i >= self.len {
            return err(self.start, "vector index out of range");
        }
        Ok(self.start + i * self.element_size)
    }

    pub fn table(&self, i: usize) -> FbResult<Table<'a>> {
        Table::at(self.buf, follow(self.buf, self.element(i)?)?)
    }

    pub fn tables(&self) -> impl Iterator<Item = FbResult<Table<'a>>> + '_ {
        (0..self.len).map(|i| self.table(i))
    }

    pub fn i32s(&self) -> Vec<i32> {
        self.bytes()
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect()
    }

    pub fn i64s(&self) -> Vec<i64> {
        self.bytes()
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect()
    }

    pub fn f32s(&self) -> Vec<f32> {
        self.bytes()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-assembled buffer: root table with an i32 field (slot 0) = 7
    /// and a vector of two i32 (slot 1).
    fn sample() -> Vec<u8> {
        let mut b = vec![0u8; 0];
        b.extend(12u32.to_le_bytes()); // 0: root offset -> table at 12
        b.extend([8, 0, 12, 0, 4, 0, 8, 0]); // 4: vtable len 8, obj len 12, slot0 @4, slot1 @8
        b.extend(8i32.to_le_bytes()); // 12: soffset to vtable (12 - 8 = 4)
        b.extend(7i32.to_le_bytes()); // 16: slot 0
        b.extend(4u32.to_le_bytes()); // 20: slot 1 -> vector at 24
        b.extend(2u32.to_le_bytes()); // 24: length
        b.extend(5i32.to_le_bytes());
        b.extend((-6i32).to_le_bytes());
        b
    }

    #[test]
    fn reads_scalars_and_vectors() {
        let b = sample();
        let t = Table::root(&b).unwrap();
        assert_eq!(t.i32(0, 0).unwrap(), 7);
        assert_eq!(t.vector(1, 4).unwrap().unwrap().i32s(), vec![5, -6]);
        assert_eq!(t.i32(5, 42).unwrap(), 42, "absent field gives the default");
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let b = sample();
        for n in 0..b.len() {
            let cut = &b[..n];
            let r = Table::root(cut).and_then(|t| {
                t.i32(0, 0)?;
                t.vector(1, 4)?;
                Ok(())
            });
            assert!(r.is_err(), "truncated to {n} bytes was accepted");
        }
    }

    #[test]
    fn corrupted_offsets_are_errors() {
        let mut b = sample();
        b[20] = 0xff; // vector offset now points far past the end
        let t = Table::root(&b).unwrap();
        assert!(t.vector(1, 4).is_err());
        let mut b = sample();
        b[12] = 0x80; // vtable offset points before the start
        assert!(Table::root(&b).is_err());
    }
}
