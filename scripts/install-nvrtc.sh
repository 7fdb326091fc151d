#!/usr/bin/env bash
# Installs NVRTC, the run-time CUDA compiler, from PyPI into .venv-nvrtc (no
# GPU or CUDA toolkit needed) and prints the folder for LD_LIBRARY_PATH. The
# CUDA kernel tests compile every kernel with it.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-nvrtc
lib="$PWD/$venv/lib/python3*/site-packages/nvidia/cuda_nvrtc/lib"
# shellcheck disable=SC2086
if ! ls $lib/libnvrtc.so.12 >/dev/null 2>&1; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check nvidia-cuda-nvrtc-cu12 >&2
fi
# shellcheck disable=SC2086
echo $lib
