#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# gen-docs.sh - regenerate what is generated from the configuration key table: README.md's
# configuration reference (between its markers) and board/host/tickwatch.conf's key list.
# The smoke test fails when either is stale. Usage: scripts/gen-docs.sh [BINARY]
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${1:-$repo/build/host/tickwatch}
cd "$repo"

ref=$(mktemp)
trap 'rm -f "$ref"' EXIT
"$bin" config reference >"$ref"
python3 - "$ref" <<'PY'
import sys
ref = open(sys.argv[1]).read()
text = open("README.md").read()
begin, end = "<!-- config-reference:begin -->\n", "<!-- config-reference:end -->"
a, b = text.index(begin) + len(begin), text.index(end)
open("README.md", "w").write(text[:a] + ref + text[b:])
PY

# board/host: header comment kept, body regenerated from the defaults.
conf=board/host/tickwatch.conf
head=$(sed -n '/^\[/q;p' "$conf")
{ printf '%s\n' "$head"; "$bin" config defaults | sed -n '/^\[/,$p'; } >"$conf.tmp"
mv "$conf.tmp" "$conf"
"$bin" config check "$conf"
echo "gen-docs: README.md reference and $conf regenerated"
