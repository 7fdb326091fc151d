#!/usr/bin/env bash
# Runs every check and test of the repository: formatting, clippy, the
# no_std runtime cross-compiled for Cortex-M4F and Cortex-M0, every firmware
# target, and the whole test suite, which includes running the generated
# models on emulated Cortex-M4F/M33/M0 and RV32 cores in QEMU (goldens need
# ../shared or $KILN_SHARED; with CI set they are required). Installs what it
# needs: the Rust targets and components, QEMU (Debian, as root) and NVRTC
# (PyPI, into .venv-nvrtc); fuzzing needs nightly Rust and cargo-fuzz
# (installed when missing; skipped, saying so, when they cannot be).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-qemu.sh

# A run from a fresh clone never reuses incremental state, and needs line
# tables (for backtraces) but no variables' debug info: together they were
# 9.5 GB of the tests' 11 GB debug build, and a CI machine's disk is not ours
# to fill (measured: `du -sh target/debug` after `cargo test --no-run`).
if [ -n "${CI:-}" ]; then
  export CARGO_INCREMENTAL=0 CARGO_PROFILE_DEV_DEBUG=line-tables-only
fi

targets=(thumbv7em-none-eabihf thumbv6m-none-eabi thumbv8m.main-none-eabihf riscv32imac-unknown-none-elf riscv32imc-unknown-none-elf)
installed=$(rustup target list --installed)
for t in "${targets[@]}"; do
  grep -qx "$t" <<<"$installed" || rustup target add "$t"
done
rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed | grep -q '^clippy' || rustup component add clippy

echo "== format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The Cortex-M DSP fast paths (src/arch/dsp.rs) exist only on thumbv7em.
cargo clippy -p kiln --target thumbv7em-none-eabihf --locked -- -D warnings

for fw in targets/cortex-m4 targets/cortex-m33 targets/cortex-m0 targets/riscv32 targets/microflow-m4; do
  (cd "$fw" && cargo fmt --all -- --check && cargo clippy --release --locked -q -- -D warnings)
done

echo "== real boards cross-compile (flash them with probe-rs: cargo run --release in the folder)"
for board in targets/boards/nrf52840-dk targets/boards/stm32f411 targets/boards/rp-pico targets/boards/esp32c3; do
  (cd "$board" && cargo fmt --all -- --check && cargo clippy --release --locked -q -- -D warnings && cargo build --release --locked -q)
done

echo "== runtime builds with no std and no alloc"
for t in thumbv7em-none-eabihf thumbv6m-none-eabi; do
  cargo build -p kiln --target "$t" --locked
  cargo build -p kiln --target "$t" --release --features defmt --locked
  # Signed blobs: Ed25519 verification without std or alloc.
  cargo build -p kiln --target "$t" --release --features blob-signing --locked
done

echo "== tests"
# NVRTC for the CUDA kernel tests (they compile every kernel to PTX).
LD_LIBRARY_PATH="$(./scripts/install-nvrtc.sh)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LD_LIBRARY_PATH
# The last line adds up every test binary's "test result" (pass or fail).
results=$(mktemp)
summary() {
  local rc=$?
  awk '/^test result:/ { passed += $4; failed += $6 }
       END { printf "%d passed, %d failed\n", passed, failed }' "$results"
  rm -f "$results"
  exit "$rc"
}
trap summary EXIT
cargo test --workspace --locked 2>&1 | tee -a "$results"
cargo test -p kiln --lib --locked --features fast-math 2>&1 | tee -a "$results"

echo "== Miri: the runtime's unit tests, the AVX2 kernels included (needs nightly Rust)"
./scripts/miri.sh 2>&1 | tee -a "$results"

echo "== fuzzing, 20 s per target (needs nightly Rust; says so and goes on without it)"
./scripts/fuzz.sh --time 20
