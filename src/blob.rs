//! Models as data: a compiled graph and its weights in one postcard blob,
//! decoded from a `&[u8]` (a flash partition, as an over-the-air model
//! update would deliver it) without copying the weights, and validated before
//! anything runs.
//!
//! Layer: exec-level loader; uses `graph`, `exec::validate`, `postcard` and
//! `heapless`. Never panics on any input: every length is checked, a CRC-32
//! covers every byte after the fixed header, and the decoded graph goes
//! through the same validation as generated code.
//!
//! Layout, little-endian:
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 8 | magic `KILNBLOB` |
//! | 8 | 4 | format version ([`VERSION`]) |
//! | 12 | 4 | total length of the blob in bytes |
//! | 16 | 4 | CRC-32 (IEEE) of bytes `20..total` |
//! | 20 | .. | postcard: [`BlobHeader`], then each input and output [`TensorIo`], each [`StateTensor`], then each [`Op`] |
//! | `weights_offset` | `weights_len` | the weights, 16-byte aligned within the blob |
//!
//! With the `blob-signing` feature, [`load_signed`] accepts only a blob
//! signed with the owner's Ed25519 key (`kiln keygen`, `kiln compile --blob
//! --sign KEY`), checking the signature before reading any field.

use crate::error::{BlobError, Error};
use crate::graph::{Graph, Op, StateTensor, TensorIo};
use crate::wire::wire_struct;

#[cfg(feature = "blob-signing")]
mod signed;
#[cfg(feature = "blob-signing")]
pub use signed::{load_signed, SIGNED_MAGIC, SIGNED_PREFIX, SIGNED_VERSION};

pub const MAGIC: [u8; 8] = *b"KILNBLOB";
pub const VERSION: u32 = crate::BLOB_VERSION;
/// Bytes before the postcard part.
pub const PREFIX: usize = 20;
/// The most inputs plus outputs a blob model may have.
pub const MAX_IO: usize = 8;
/// The most variable tensors a blob model may have (a stateful layer has
/// one or two).
pub const MAX_STATE: usize = 32;

wire_struct! {
    /// What follows the fixed prefix.
    #[derive(Eq)]
    pub struct BlobHeader {
        pub arena_bytes: u32,
        pub op_count: u32,
        pub input_count: u32,
        pub output_count: u32,
        pub state_count: u32,
        pub weights_offset: u32,
        pub weights_len: u32,
    }
}

/// CRC-32 (IEEE 802.3, reflected, as zlib computes it), bit by bit: small
/// code, and only run once per load.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

/// A graph decoded from a blob: ops and tensor descriptors held here (at
/// most `MAX_OPS` ops), weights borrowed from the blob.
pub struct BlobGraph<'a, const MAX_OPS: usize> {
    ops: heapless::Vec<Op, MAX_OPS>,
    inputs: heapless::Vec<TensorIo, MAX_IO>,
    outputs: heapless::Vec<TensorIo, MAX_IO>,
    state: heapless::Vec<StateTensor, MAX_STATE>,
    arena_bytes: u32,
    weights: &'a [u8],
}

impl<const MAX_OPS: usize> BlobGraph<'_, MAX_OPS> {
    pub fn graph(&self) -> Graph<'_> {
        Graph {
            ops: &self.ops,
            inputs: &self.inputs,
            outputs: &self.outputs,
            state: &self.state,
            arena_bytes: self.arena_bytes,
            weights: self.weights,
        }
    }
}

fn blob_err<T>(e: BlobError) -> Result<T, Error> {
    Err(Error::Blob(e))
}

fn take<'b, T: serde::Deserialize<'b>>(rest: &mut &'b [u8]) -> Result<T, Error> {
    match postcard::take_from_bytes::<T>(rest) {
        Ok((value, remaining)) => {
            *rest = remaining;
            Ok(value)
        }
        Err(_) => blob_err(BlobError::Corrupted),
    }
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

/// Decodes and validates a blob. The blob must start on a 16-byte boundary
/// (so that its weights do); the result borrows the weights from it.
pub fn load<const MAX_OPS: usize>(blob: &[u8]) -> Result<BlobGraph<'_, MAX_OPS>, Error> {
    if blob.len() < PREFIX || blob[..8] != MAGIC {
        return blob_err(BlobError::NotABlob);
    }
    let version = u32_at(blob, 8);
    if version != VERSION {
        return blob_err(BlobError::Version { found: version });
    }
    let total = u32_at(blob, 12) as usize;
    if total != blob.len() {
        return blob_err(BlobError::Length {
            declared: total,
            actual: blob.len(),
        });
    }
    if crc32(&blob[PREFIX..]) != u32_at(blob, 16) {
        return blob_err(BlobError::Checksum);
    }
    let mut rest = &blob[PREFIX..];
    let header: BlobHeader = take(&mut rest)?;
    let (start, len) = (header.weights_offset as usize, header.weights_len as usize);
    let weights = match blob.get(start..start.saturating_add(len)) {
        Some(w) if start % crate::graph::ALIGNMENT == 0 => w,
        _ => return blob_err(BlobError::Corrupted),
    };
    let mut graph = BlobGraph {
        ops: heapless::Vec::new(),
        inputs: heapless::Vec::new(),
        outputs: heapless::Vec::new(),
        state: heapless::Vec::new(),
        arena_bytes: header.arena_bytes,
        weights,
    };
    if header.input_count as usize + header.output_count as usize > MAX_IO {
        return blob_err(BlobError::TooManyTensors);
    }
    for _ in 0..header.input_count {
        let t: TensorIo = take(&mut rest)?;
        let _ = graph.inputs.push(t);
    }
    for _ in 0..header.output_count {
        let t: TensorIo = take(&mut rest)?;
        let _ = graph.outputs.push(t);
    }
    if header.state_count as usize > MAX_STATE {
        return blob_err(BlobError::TooManyTensors);
    }
    for _ in 0..header.state_count {
        let t: StateTensor = take(&mut rest)?;
        let _ = graph.state.push(t);
    }
    if header.op_count as usize > MAX_OPS {
        return blob_err(BlobError::TooManyOps {
            max: MAX_OPS,
            count: header.op_count as usize,
        });
    }
    for _ in 0..header.op_count {
        let op: Op = take(&mut rest)?;
        if graph.ops.push(op).is_err() {
            return blob_err(BlobError::TooManyOps {
                max: MAX_OPS,
                count: header.op_count as usize,
            });
        }
    }
    // The postcard part must end before the weights begin.
    if blob.len() - rest.len() > start {
        return blob_err(BlobError::Corrupted);
    }
    crate::exec::validate(&graph.graph())?;
    Ok(graph)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn rejects_what_is_not_a_blob() {
        assert_eq!(load::<4>(b"").err(), Some(Error::Blob(BlobError::NotABlob)));
        assert_eq!(
            load::<4>(&[0u8; 64]).err(),
            Some(Error::Blob(BlobError::NotABlob))
        );
        let mut b = [0u8; 32];
        b[..8].copy_from_slice(&MAGIC);
        b[8] = 9;
        assert_eq!(
            load::<4>(&b).err(),
            Some(Error::Blob(BlobError::Version { found: 9 }))
        );
    }
}
