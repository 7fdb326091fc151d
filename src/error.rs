//! The one error type of the runtime: what a caller can get wrong.
//!
//! Layer: bottom of the runtime; plain data.

use core::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// The arena is smaller than the graph's planned `arena_bytes`.
    ArenaTooSmall { needed: u32, got: usize },
    /// The arena does not start on a 16-byte boundary.
    ArenaMisaligned,
    /// The weights do not start on a 16-byte boundary.
    WeightsMisaligned,
    /// No model input or output with this index.
    NoSuchTensor { index: usize },
    /// Input data of the wrong length (in bytes).
    InputLength {
        index: usize,
        expected: usize,
        got: usize,
    },
    /// Input data of the wrong element type.
    InputType { index: usize },
    /// An op's spans, shapes or params do not fit together: the graph was not
    /// made by this version of the codegen, or was corrupted.
    InvalidGraph { op: usize, reason: &'static str },
    /// A model blob that cannot be loaded.
    Blob(BlobError),
}

/// Why a model blob was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum BlobError {
    /// It does not start with the blob magic.
    NotABlob,
    /// It was written in a format version this runtime does not read.
    Version { found: u32 },
    /// Its declared length is not its length (truncated or padded).
    Length { declared: usize, actual: usize },
    /// Its bytes do not match their checksum (corrupted in storage or transit).
    Checksum,
    /// Its contents do not decode to a graph.
    Corrupted,
    /// More ops than the loader was given room for.
    TooManyOps { max: usize, count: usize },
    /// More inputs and outputs than the loader has room for.
    TooManyTensors,
    /// `load_signed` was given bytes that are not a signed blob (an unsigned
    /// blob, or fewer bytes than a signature envelope).
    Unsigned,
    /// A signed blob in an envelope version this runtime does not read.
    SignedVersion { found: u32 },
    /// The signature does not verify with the key (tampered, truncated, or
    /// signed by another key), or the key is not a valid Ed25519 key.
    BadSignature,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::ArenaTooSmall { needed, got } => {
                write!(
                    f,
                    "arena too small: the model needs {needed} bytes, got {got}"
                )
            }
            Error::ArenaMisaligned => f.write_str("arena is not 16-byte aligned"),
            Error::WeightsMisaligned => f.write_str("weights are not 16-byte aligned"),
            Error::NoSuchTensor { index } => write!(f, "the model has no input or output #{index}"),
            Error::InputLength {
                index,
                expected,
                got,
            } => {
                write!(f, "input #{index} must be {expected} bytes, got {got}")
            }
            Error::InputType { index } => write!(f, "input #{index} has a different element type"),
            Error::InvalidGraph { op, reason } => write!(f, "invalid graph at op #{op}: {reason}"),
            Error::Blob(e) => write!(f, "model blob refused: {e}"),
        }
    }
}

impl core::error::Error for Error {}

impl fmt::Display for BlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            BlobError::NotABlob => f.write_str("not a kiln model blob"),
            BlobError::Version { found } => write!(
                f,
                "format version {found}, this runtime reads version {}",
                crate::BLOB_VERSION
            ),
            BlobError::Length { declared, actual } => {
                write!(f, "declares {declared} bytes but has {actual}")
            }
            BlobError::Checksum => f.write_str("checksum mismatch (corrupted)"),
            BlobError::Corrupted => f.write_str("contents do not decode to a graph"),
            BlobError::TooManyOps { max, count } => write!(f, "{count} ops, room for {max}"),
            BlobError::TooManyTensors => {
                f.write_str("too many inputs, outputs or variable tensors")
            }
            BlobError::Unsigned => f.write_str("not a signed blob (no KILNSIGN envelope)"),
            BlobError::SignedVersion { found } => write!(
                f,
                "signed envelope version {found}, which this runtime does not read"
            ),
            BlobError::BadSignature => {
                f.write_str("signature does not verify with this public key")
            }
        }
    }
}
