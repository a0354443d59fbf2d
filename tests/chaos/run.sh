#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run.sh - the chaos suite (tests/chaos/chaos.py, docs/chaos.md) against the stack in
# $TW_STACK_DIR (default <repo>/.stack), which must be up with Toxiproxy; it kills brokers,
# restarts PostgreSQL and switches SMTP modes, so never point it at a stack others use.
#
# usage: tests/chaos/run.sh [--minutes M] [--seed S] [--binary BIN] [chaos.py options]
#        (defaults: 3 minutes, seed 1, build/host/tickwatch)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=$repo/build/host/tickwatch
args=()
while [ $# -gt 0 ]; do
    case $1 in
        --binary) bin=$2; shift 2 ;;
        -h|--help) exec /usr/bin/python3 "$repo/tests/chaos/chaos.py" --help ;;
        *) args+=("$1"); shift ;;
    esac
done
[ -x "$bin" ] || { echo "chaos: $bin not built (cmake --build --preset host)" >&2; exit 2; }
exec /usr/bin/python3 -u "$repo/tests/chaos/chaos.py" --binary "$bin" "${args[@]}"
