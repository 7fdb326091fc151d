#!/usr/bin/env bash
# Installs QEMU for the emulated microcontrollers if it is missing (Debian 12,
# as root). A plain `apt-get install qemu-system-arm` conflicts with the
# image's newer qemu-utils; pinning qemu-utils to bookworm's resolves it.
set -euo pipefail
if command -v qemu-system-arm >/dev/null && command -v qemu-system-riscv32 >/dev/null; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "QEMU is missing: install qemu-system-arm and qemu-system-misc (needs root)" >&2
  exit 1
fi
echo "== installing QEMU"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --allow-downgrades --no-install-recommends \
  qemu-system-arm qemu-system-misc binutils-arm-none-eabi qemu-utils/bookworm >/dev/null
