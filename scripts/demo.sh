#!/usr/bin/env bash
# The main job end to end: compile the project's own trained model
# (examples/digits, an int8 CNN for handwritten digits) with kiln into
# Cortex-M4F firmware, run it in QEMU on held-out digits, and print the
# answers and their cost: instructions per inference, flash and RAM.
# Installs what it needs (the Rust target, QEMU) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-qemu.sh
rustup target list --installed | grep -qx thumbv7em-none-eabihf || rustup target add thumbv7em-none-eabihf

model=examples/digits/digits_int8.tflite
echo "== kiln inspect $model (host)"
cargo run --release -q --locked -p kiln-codegen -- inspect "$model"

echo
echo "== build the Cortex-M4F firmware (targets/cortex-m4: build.rs compiles the model with kiln_codegen::Builder) and run it in QEMU mps2-an386"
echo "   true labels of the embedded digits: $(cat examples/digits/samples/label_*.txt | tr '\n' ' ')"
(cd targets/cortex-m4 && cargo run --release -q --locked)

elf=targets/target/thumbv7em-none-eabihf/release/kiln-cortex-m4
if command -v arm-none-eabi-size >/dev/null; then
  echo
  echo "== firmware size (flash = text + data, static RAM = data + bss; the arena is in bss)"
  arm-none-eabi-size "$elf"
fi
