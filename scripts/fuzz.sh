#!/usr/bin/env bash
# Fuzzes kiln's input paths with cargo-fuzz (libFuzzer, nightly Rust):
#
#   ./scripts/fuzz.sh                    # every target, 30 s each
#   ./scripts/fuzz.sh --time 600 blob_run
#   ./scripts/fuzz.sh --runs 10000000    # every target, 10^7 executions each
#
# Targets (fuzz/fuzz_targets): tflite_compile, onnx_quantize, blob_run,
# npy_read, sensor_window. The corpora (fuzz/corpus/TARGET, not committed)
# start from the repository's own models, blobs and samples, never from
# ../shared. A crash stops the run with the input in fuzz/artifacts/TARGET;
# it becomes a regression test in the ordinary suite (tests/fuzz_regressions.rs).
# Without a nightly toolchain (or cargo-fuzz, installed from crates.io when
# missing) the script says so and exits 0: fuzzing is extra, not a gate.
set -euo pipefail
cd "$(dirname "$0")/.."

limit=(-max_total_time=30)
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --time) limit=(-max_total_time="$2"); shift 2 ;;
    --runs) limit=(-runs="$2"); shift 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(tflite_compile onnx_quantize blob_run npy_read sensor_window)

if ! rustup toolchain list | grep -q '^nightly' && ! rustup toolchain install nightly --profile minimal >/dev/null 2>&1; then
  echo "fuzzing skipped: no nightly toolchain here and none could be installed"
  exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1 && ! cargo install cargo-fuzz --locked >/dev/null 2>&1; then
  echo "fuzzing skipped: cargo-fuzz is missing and could not be installed"
  exit 0
fi

seed() {
  local dir="fuzz/corpus/$1"; shift
  mkdir -p "$dir"
  for f in "$@"; do [ -f "$f" ] && cp -n "$f" "$dir/" ; done
}
seed tflite_compile examples/*/*.tflite tests/fixtures/op_zoo/*.tflite
seed onnx_quantize examples/onnx/*.onnx tests/fixtures/onnx_ops/*.onnx
seed blob_run tests/fixtures/blob/v*/*.kiln
seed npy_read examples/*/samples/*.npy tests/fixtures/op_zoo/activations/*.npy
mkdir -p fuzz/corpus/sensor_window
# hop 4, 0.001 units per LSB, scale 1/64, zero point 3, then samples.
printf '\x04\x6f\x12\x83\x3a\x00\x00\x80\x3c\x03\x00\x00\x00%s' "$(head -c 240 /dev/zero | tr '\0' 'A')" \
  > fuzz/corpus/sensor_window/seed

for t in "${targets[@]}"; do
  echo "== fuzz $t (${limit[*]})"
  cargo +nightly fuzz run "$t" "fuzz/corpus/$t" -- "${limit[@]}" -print_final_stats=1 2>&1 \
    | grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|Done|==[0-9]+==|SUMMARY|thread|.*panicked|artifact_prefix|Test unit written)' || true
  # cargo fuzz exits non-zero on a crash; pipefail would hide which target.
  if [ -n "$(ls -A "fuzz/artifacts/$t" 2>/dev/null)" ]; then
    echo "fuzz $t: crash inputs in fuzz/artifacts/$t"
    exit 1
  fi
done
