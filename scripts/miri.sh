#!/usr/bin/env bash
# Runs the runtime's unit tests under Miri (nightly Rust), which checks for
# undefined behaviour as it interprets them: the portable kernels, the
# executor and blob decoding, then the AVX2 micro-kernels (`unsafe`, in
# src/arch/x86.rs) through their random cases against the portable ones,
# with AVX2 enabled. The heaviest sweeps take fewer values under Miri
# (`cfg!(miri)`). Without nightly Rust and its miri component the script
# says so and exits 0. The Cortex-M DSP kernels are assembly: Miri cannot
# run them; the emulated M4 and M33 self-tests check them.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! rustup toolchain list | grep -q '^nightly' && ! rustup toolchain install nightly --profile minimal >/dev/null 2>&1; then
  echo "Miri skipped: no nightly toolchain here and none could be installed"
  exit 0
fi
if ! cargo +nightly miri --version >/dev/null 2>&1 && ! rustup component add miri --toolchain nightly >/dev/null 2>&1; then
  echo "Miri skipped: the miri component is missing and could not be installed"
  exit 0
fi
# A target directory of its own: Miri's artifacts differ from cargo's.
export CARGO_TARGET_DIR=target/miri
if ! cargo +nightly miri setup >/dev/null 2>&1; then
  echo "Miri skipped: 'cargo miri setup' failed (it needs the nightly rust-src component)"
  exit 0
fi
cargo +nightly miri test -p kiln --lib
RUSTFLAGS="-C target-feature=+avx2" cargo +nightly miri test -p kiln --lib arch::
