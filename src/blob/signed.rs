//! Signed model blobs: an Ed25519 signature in front of a blob, checked
//! before any of the blob's fields is read, so that a device accepts only
//! models its owner signed (a CRC-32 anyone can recompute).
//!
//! Layer: exec-level loader beside `blob`; uses `ed25519-dalek` (no_std,
//! default features off) and then `blob::load`. Never panics on any input.
//!
//! Layout, little-endian:
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 8 | magic `KILNSIGN` |
//! | 8 | 4 | envelope version ([`SIGNED_VERSION`]) |
//! | 12 | 4 | zero |
//! | 16 | 64 | Ed25519 signature (RFC 8032) of every byte from offset 80 on |
//! | 80 | .. | the blob, as [`load`](super::load) reads it (16-byte aligned) |

use ed25519_dalek::{Signature, VerifyingKey};

use super::{load, BlobGraph};
use crate::error::{BlobError, Error};

pub const SIGNED_MAGIC: [u8; 8] = *b"KILNSIGN";
pub const SIGNED_VERSION: u32 = 1;
/// Bytes before the signed blob; a multiple of 16, so the blob inside stays
/// as aligned as the envelope.
pub const SIGNED_PREFIX: usize = 80;

/// Checks the signature of a signed blob with `public_key` (32 bytes, as
/// `kiln keygen` writes it), then loads the blob inside as [`load`] does.
/// Bytes that are not a signed blob, a partial one (every prefix), one
/// changed anywhere, or one signed with another key are refused with
/// [`Error::Blob`] before anything in the blob is trusted.
pub fn load_signed<'a, const MAX_OPS: usize>(
    bytes: &'a [u8],
    public_key: &[u8; 32],
) -> Result<BlobGraph<'a, MAX_OPS>, Error> {
    let refuse = |e| Err(Error::Blob(e));
    let Some((envelope, blob)) = bytes.split_at_checked(SIGNED_PREFIX) else {
        return refuse(BlobError::Unsigned);
    };
    let (magic, rest) = envelope.split_at(8);
    if magic != SIGNED_MAGIC {
        return refuse(BlobError::Unsigned);
    }
    let (version, rest) = rest.split_at(4);
    let version = u32::from_le_bytes([version[0], version[1], version[2], version[3]]);
    if version != SIGNED_VERSION {
        return refuse(BlobError::SignedVersion { found: version });
    }
    let (zero, signature) = rest.split_at(4);
    if zero != [0; 4] {
        return refuse(BlobError::BadSignature);
    }
    let Ok(signature) = <[u8; 64]>::try_from(signature) else {
        return refuse(BlobError::BadSignature);
    };
    let Ok(key) = VerifyingKey::from_bytes(public_key) else {
        return refuse(BlobError::BadSignature);
    };
    // Strict verification: no malleable signatures, no weak keys.
    if key
        .verify_strict(blob, &Signature::from_bytes(&signature))
        .is_err()
    {
        return refuse(BlobError::BadSignature);
    }
    load(blob)
}
