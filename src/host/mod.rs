//! Host validation (feature `host`, the only part of kiln that uses `std`):
//! the same graph the firmware runs, over whole data sets, on every CPU core
//! ([`batch`]) or on a CUDA GPU ([`cuda`]), giving the firmware's bytes.
//!
//! Layer: host; uses `exec` and `graph`; `cuda` uses `cudarc`. Unsafe code
//! is allowed here (and in `arch/`) only, for CUDA launches.

use std::fmt;
use std::string::String;

pub mod batch;
pub mod cuda;

/// What can go wrong on the host side, beyond the runtime's own errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostError {
    /// The graph or an input was refused by the runtime.
    Kiln(crate::Error),
    /// Inputs that do not fit the model (count or length), with details.
    Inputs(String),
    /// No CUDA driver library could be loaded (no NVIDIA driver installed).
    NoDriver,
    /// A driver is present but reports no usable device.
    NoDevice(String),
    /// NVRTC (the run-time CUDA compiler) is missing.
    NoCompiler,
    /// A kernel failed to compile; the compiler's log.
    Compile(String),
    /// The device ran out of memory.
    OutOfMemory(String),
    /// Any other CUDA error.
    Cuda(String),
    /// The model ends a run from the reset state early (a CIRCULAR_BUFFER
    /// that lets the graph run every few calls), so independent samples
    /// give no outputs: it runs only as a sequence on one `Executor`.
    EndsEarly,
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::Kiln(e) => write!(f, "{e}"),
            HostError::Inputs(s) => write!(f, "{s}"),
            HostError::NoDriver => f.write_str("no CUDA driver found (libcuda could not be loaded): install the NVIDIA driver, or use --device cpu"),
            HostError::NoDevice(s) => write!(f, "no usable CUDA device: {s}"),
            HostError::NoCompiler => f.write_str("NVRTC not found (libnvrtc): install the CUDA toolkit or the nvidia-cuda-nvrtc-cu12 wheel and add its lib folder to LD_LIBRARY_PATH"),
            HostError::Compile(log) => write!(f, "CUDA kernels failed to compile:\n{log}"),
            HostError::OutOfMemory(s) => write!(f, "out of GPU memory: {s} (try a smaller --batch)"),
            HostError::Cuda(s) => write!(f, "CUDA error: {s}"),
            HostError::EndsEarly => f.write_str(crate::exec::ENDS_FRESH_RUNS_EARLY),
        }
    }
}

impl std::error::Error for HostError {}

impl From<crate::Error> for HostError {
    fn from(e: crate::Error) -> Self {
        HostError::Kiln(e)
    }
}
