//! Instructions and stack per op of one model on the emulated Cortex-M33:
//! loads the model's blob (build with `KILN_BLOB=1`), runs each op once on
//! its first reference sample and prints one line per op (instructions, and
//! the stack the op took below the caller), then the total
//! (`kiln_target_common::profile_ops`). For finding where an inference's
//! instructions and stack go:
//!
//! ```text
//! KILN_BLOB=1 KILN_MODEL=path/to/model.tflite KILN_CASES=path/to/samples \
//!     cargo run --release --bin opprof
//! ```

#![no_std]
#![no_main]

kiln_target_common::cortex_m_firmware!("cortex-m33", profile_ops);
