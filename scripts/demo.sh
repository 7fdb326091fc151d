#!/usr/bin/env bash
# The main job end to end, on any machine with Rust: compile the project's
# own trained model (examples/digits, an int8 CNN for handwritten digits)
# with kiln, then run it through the kiln runtime on a held-out digit and
# print the answer and its cost.
set -euo pipefail
cd "$(dirname "$0")/.."

model=examples/digits/digits_int8.tflite
sample=${1:-0}
cargo build --release -q -p kiln-codegen --locked
kiln=target/release/kiln

echo "== kiln inspect $model"
$kiln inspect "$model"
echo
echo "== kiln compile $model -o target/demo"
$kiln compile "$model" -o target/demo
echo
echo "== kiln run $model --input examples/digits/samples/input_$sample.npy"
$kiln run "$model" --input "examples/digits/samples/input_$sample.npy" --output target/demo/output.npy
echo "true label: $(cat examples/digits/samples/label_$sample.txt)"
