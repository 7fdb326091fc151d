//! The committed references: per op kind, one file `OP.cases` with TFLM's
//! output bytes for each seed. The models and inputs are not stored: the
//! generator rebuilds them from the seed, and the recorded model hash shows
//! when it no longer builds the same one.
//!
//! Format (little-endian): the magic `KILNDIFF`, a `u32` version, a `u32`
//! case count, then per case the seed (`u64`), the model's FNV-1a hash
//! (`u64`), the output length (`u32`) and the output bytes.

use std::path::Path;

const MAGIC: &[u8; 8] = b"KILNDIFF";
const VERSION: u32 = 1;

/// TFLM's answer for one seed.
#[derive(Clone, Debug, PartialEq)]
pub struct Expected {
    pub seed: u64,
    pub model_hash: u64,
    pub output: Vec<u8>,
}

pub fn write(path: &Path, cases: &[Expected]) -> std::io::Result<()> {
    let mut bytes = MAGIC.to_vec();
    bytes.extend(VERSION.to_le_bytes());
    bytes.extend((cases.len() as u32).to_le_bytes());
    for c in cases {
        bytes.extend(c.seed.to_le_bytes());
        bytes.extend(c.model_hash.to_le_bytes());
        bytes.extend((c.output.len() as u32).to_le_bytes());
        bytes.extend(&c.output);
    }
    std::fs::write(path, bytes)
}

pub fn read(path: &Path) -> Result<Vec<Expected>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let bad = |what: &str| format!("{}: {what}", path.display());
    let mut rest = bytes
        .strip_prefix(MAGIC.as_slice())
        .ok_or_else(|| bad("not a differential fixture"))?;
    let mut take = |n: usize| -> Result<&[u8], String> {
        if rest.len() < n {
            return Err(bad("truncated"));
        }
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Ok(head)
    };
    let u32_at = |b: &[u8]| u32::from_le_bytes(b.try_into().expect("4 bytes"));
    let u64_at = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes"));
    if u32_at(take(4)?) != VERSION {
        return Err(bad("another fixture version"));
    }
    let count = u32_at(take(4)?) as usize;
    let mut cases = Vec::with_capacity(count.min(1 << 16));
    for _ in 0..count {
        let seed = u64_at(take(8)?);
        let model_hash = u64_at(take(8)?);
        let len = u32_at(take(4)?) as usize;
        let output = take(len)?.to_vec();
        cases.push(Expected {
            seed,
            model_hash,
            output,
        });
    }
    if !rest.is_empty() {
        return Err(bad("bytes after the last case"));
    }
    Ok(cases)
}
