#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bootstrap.sh - install every Debian package tickwatch needs to build, test and demo.
#
# Reads the package lists in scripts/packages/*.txt (one name per line, '#' comments),
# installs only what is missing, non-interactively. Safe to run again and again.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
want=()
for list in "$here"/packages/*.txt; do
    while read -r pkg _; do
        case "$pkg" in ''|\#*) continue ;; esac
        want+=("$pkg")
    done < "$list"
done

missing=()
for pkg in "${want[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$pkg")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "bootstrap: all ${#want[@]} packages present"
    exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "bootstrap: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
$sudo apt-get "${apt_opts[@]}" update -qq
$sudo apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends "${missing[@]}"
echo "bootstrap: done"
