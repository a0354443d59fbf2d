#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# gen-docs.sh - regenerate what is generated from the configuration key table: README.md's
# configuration reference (between its markers) and every board/*/tickwatch.conf (through
# board/update-confs.sh).
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

# Every board's conf: keys and comments from the binary, each board's header and values kept.
board/update-confs.sh "$bin"
for conf in board/*/tickwatch.conf; do
	"$bin" config check "$conf"
done
echo "gen-docs: README.md reference and board confs regenerated"
