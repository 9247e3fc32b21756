#!/usr/bin/env bash
# Install Slurm (controller, node daemon, client) and MUNGE from Debian, only
# if missing: what `make test-slurm` needs for its single-node test cluster.
# Needs root (or sudo) the first time; afterwards it is a quick dpkg check.
set -euo pipefail
pkgs=(slurm-wlm slurmctld slurmd slurm-client munge)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "slurm-deps: installing ${missing[*]}"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# Another apt-get may hold the lock on a shared machine: wait for it (bounded).
APT=(apt-get -o DPkg::Lock::Timeout=900)
$SUDO "${APT[@]}" update -qq
$SUDO "${APT[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "slurm-deps: done"
