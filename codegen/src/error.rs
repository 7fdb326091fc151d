//! Errors of the codegen and CLI. Every one names the file it concerns;
//! unsupported features are collected and reported all at once.
//!
//! Layer: bottom of kiln-codegen; plain data.

use std::fmt;
use std::path::PathBuf;

/// One thing in a model that kiln cannot compile, located precisely.
#[derive(Debug, Clone, PartialEq)]
pub struct Unsupported {
    /// Operator index in the subgraph, when the problem belongs to an op.
    pub op_index: Option<usize>,
    /// Operator name as the file spells it (`CONV_2D`, `CUSTOM(MyOp)`).
    pub op_name: String,
    /// Names of the op's input and output tensors.
    pub tensors: Vec<String>,
    pub reason: String,
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.op_index {
            Some(i) => write!(f, "op #{i} {}", self.op_name)?,
            None => write!(f, "{}", self.op_name)?,
        }
        if !self.tensors.is_empty() {
            write!(f, " [{}]", self.tensors.join(", "))?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// What went wrong, naming the file. `Debug` prints the same text as
/// `Display`, so that `.unwrap()` in a build script shows the model file,
/// the op and the reason as the CLI does, not a struct dump.
pub enum Error {
    /// The file could not be read or written.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not a well-formed model (truncated, corrupted, wrong format).
    Malformed { path: PathBuf, detail: String },
    /// The model is well-formed but uses operators, types or options kiln
    /// does not support; every one is listed.
    Unsupported {
        path: PathBuf,
        problems: Vec<Unsupported>,
    },
    /// The model is well-formed but inconsistent (shapes or quantization
    /// that do not fit together).
    Invalid { path: PathBuf, detail: String },
    /// A data file (`.npy`) that cannot be used.
    Data { path: PathBuf, detail: String },
    /// The runtime rejected the compiled graph or its inputs.
    Runtime { path: PathBuf, error: kiln::Error },
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Malformed { path, detail } => {
                write!(f, "{}: not a valid model file: {detail}", path.display())
            }
            Error::Unsupported { path, problems } => {
                write!(
                    f,
                    "{}: {} unsupported feature(s):",
                    path.display(),
                    problems.len()
                )?;
                for p in problems {
                    write!(f, "\n  - {p}")?;
                }
                Ok(())
            }
            Error::Invalid { path, detail } => {
                write!(f, "{}: inconsistent model: {detail}", path.display())
            }
            Error::Data { path, detail } => write!(f, "{}: {detail}", path.display()),
            Error::Runtime { path, error } => write!(f, "{}: {error}", path.display()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::Runtime { error, .. } => Some(error),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
