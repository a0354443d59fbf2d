#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# update-confs.sh - bring every board/*/tickwatch.conf up to date with a binary's
# `config defaults`: keys, order and comments from the binary; each board's header comment and
# its own values kept; keys new to the board get the default (review them for the board).
#
# usage: board/update-confs.sh [TICKWATCH]   (default: build/host/tickwatch)
# An ARM binary works too: board/update-confs.sh "qemu-aarch64-static dist/rpi4-aarch64/tickwatch"
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${1:-}
if [ -z "$bin" ] && [ -x "$repo/build/host/tickwatch" ]; then
	bin=$repo/build/host/tickwatch
fi
[ -n "$bin" ] || { echo "update-confs: no tickwatch binary: build one or pass its path" >&2; exit 1; }
defaults=$(mktemp)
trap 'rm -f "$defaults"' EXIT
# shellcheck disable=SC2086 # "qemu-... BINARY" is two words on purpose
$bin config defaults >"$defaults"
for conf in "$repo"/board/*/tickwatch.conf; do
	python3 - "$defaults" "$conf" <<'PY'
import re, sys
defaults, conf = sys.argv[1], sys.argv[2]
old = open(conf).read().splitlines()
header = []
for line in old:
    if line.startswith(";") or not line.strip():
        header.append(line)
    else:
        break
while header and not header[-1].strip():
    header.pop()
values, sec = {}, None
for line in old:
    m = re.match(r"^\[(\w+)\]", line)
    if m:
        sec = m.group(1)
    m = re.match(r"^(\w+) =", line)
    if m:
        values[(sec, m.group(1))] = line
out, sec, added = header + [""], None, []
for line in open(defaults).read().splitlines():
    if line.startswith("; tickwatch configuration."):
        continue
    m = re.match(r"^\[(\w+)\]", line)
    if m:
        sec = m.group(1)
    m = re.match(r"^(\w+) =", line)
    if m:
        if (sec, m.group(1)) in values:
            line = values[(sec, m.group(1))]
        else:
            added.append("[%s] %s" % (sec, m.group(1)))
    out.append(line)
while out and not out[-1].strip():
    out.pop()
text = "\n".join(out).replace("\n\n\n", "\n\n") + "\n"
if text != open(conf).read():
    open(conf, "w").write(text)
    print("update-confs: %s updated%s" % (conf, (": new keys " + ", ".join(added)) if added else ""))
PY
done
