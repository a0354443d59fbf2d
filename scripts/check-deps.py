#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# check-deps.py - the module map in docs/developing.md is the law: every #include "<module>/..."
# (and "hal.h") in agent/ and hal/ must be allowed by that module's "may include" cell.
# Prints each violation and exits 1; run by scripts/lint.sh.
import pathlib
import re
import sys

repo = pathlib.Path(__file__).resolve().parent.parent
doc = (repo / "docs/developing.md").read_text()
section = doc.split("## Module map", 1)[1].split("\n## ", 1)[0]
allowed = {}
for row in section.splitlines():
    cells = [c.strip() for c in row.strip().strip("|").split("|")]
    if len(cells) != 3 or not cells[0].startswith("`"):
        continue
    names = re.findall(r"`([^`]+)`", cells[0])
    may = set(re.findall(r"`([a-z]+)`", cells[2]))
    for name in names:
        key = name.strip("/").replace("agent/", "")
        if key.endswith(".c") or key.startswith("main"):
            key = "root"
        allowed[key if key != "agent" else "root"] = may
for key in ("main.c", "root.c", "version.c"):
    allowed.pop(key, None)
if "hal" not in allowed or "core" not in allowed:
    sys.exit("check-deps: the module map in docs/developing.md was not found or is incomplete")

bad = 0
for path in sorted(list((repo / "agent").rglob("*.[ch]")) + list((repo / "hal").rglob("*.[ch]"))):
    rel = path.relative_to(repo).parts
    if rel[0] == "hal":
        mod = "hal"
    elif len(rel) == 2:
        mod = "root"
    else:
        mod = rel[1]
    if mod not in allowed:
        print(f"check-deps: {path.relative_to(repo)}: module '{mod}' is missing from the map")
        bad += 1
        continue
    for n, line in enumerate(path.read_text().splitlines(), 1):
        m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
        if not m:
            continue
        inc = m.group(1)
        target = "hal" if inc == "hal.h" else inc.split("/")[0] if "/" in inc else mod
        if target in (mod, "root") and (target == mod or mod == "root"):
            continue
        if target not in allowed[mod]:
            print(f"check-deps: {path.relative_to(repo)}:{n}: includes {inc}, "
                  f"but the map lets {mod} include only: {', '.join(sorted(allowed[mod])) or 'nothing'}")
            bad += 1
sys.exit(1 if bad else 0)
