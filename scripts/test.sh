#!/usr/bin/env bash
# Runs every check and test of the repository: formatting, clippy, the
# no_std runtime cross-compiled for Cortex-M4F and Cortex-M0, and the whole
# test suite (goldens need ../shared or $KILN_SHARED; with CI set they are
# required). Installs the Rust targets it needs.
set -euo pipefail
cd "$(dirname "$0")/.."

targets=(thumbv7em-none-eabihf thumbv6m-none-eabi)
installed=$(rustup target list --installed)
for t in "${targets[@]}"; do
  grep -qx "$t" <<<"$installed" || rustup target add "$t"
done
rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed | grep -q '^clippy' || rustup component add clippy

echo "== format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== runtime builds with no std and no alloc"
for t in "${targets[@]}"; do
  cargo build -p kiln --target "$t" --locked
  cargo build -p kiln --target "$t" --release --features defmt --locked
done

echo "== tests"
cargo test --workspace --locked
