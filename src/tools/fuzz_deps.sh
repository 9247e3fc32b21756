#!/usr/bin/env bash
# Install what `make fuzz` needs beyond src/tools/deps.sh: clang, whose
# libFuzzer and sanitizer runtimes (libclang-rt) come with Debian's clang
# package. Needs root (or sudo) the first time; afterwards a quick check.
set -euo pipefail
command -v clang >/dev/null 2>&1 && exit 0
echo "fuzz deps: installing clang"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -o DPkg::Lock::Timeout=900 update -qq
$SUDO apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends clang >/dev/null
echo "fuzz deps: done"
