#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/all.sh - runs every bench (callgrind, boot, rpc, collector, notifier, alert, scale) in one go
# and writes one markdown table of their figures and ratios, each against the reference the
# bench measures in the same run, into docs/performance.md (the raw output of each follows the
# table). Benches print, they never assert timings; a bench that fails is marked in the table
# and the others still run. Sizes are parameters, so the whole run fits about 15 minutes on
# 2 cores with the defaults:
#   ALERT_USERS (1000000), ALERT_TICKERS (10000), NOTIFIER_N (20000), RPC_SECONDS (5),
#   CALLGRIND_N (1000), BOOT_RUNS (15), SCALE_EMAILS (600), SCALE_USERS (ALERT_USERS),
#   TW_BIN (build/host/tickwatch), OUT (docs/performance.md)
# Needs the host build (cmake --preset host && cmake --build --preset host) and the local stack:
# started here (and stopped at the end) when `scripts/stack.sh env` finds none running.
# usage: bench/all.sh
set -uo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BIN=${TW_BIN:-$SRC/build/host/tickwatch}
OUT=${OUT:-$SRC/docs/performance.md}
ALERT_USERS=${ALERT_USERS:-1000000}
ALERT_TICKERS=${ALERT_TICKERS:-10000}
NOTIFIER_N=${NOTIFIER_N:-20000}
RPC_SECONDS=${RPC_SECONDS:-5}
CALLGRIND_N=${CALLGRIND_N:-1000}
BOOT_RUNS=${BOOT_RUNS:-15}
SCALE_EMAILS=${SCALE_EMAILS:-600}
SCALE_USERS=${SCALE_USERS:-$ALERT_USERS}
STACK=$SRC/scripts/stack.sh
fail() { echo "bench/all: $*" >&2; exit 1; }
[ -x "$BIN" ] || fail "$BIN missing: cmake --preset host && cmake --build --preset host"
if [ ! -x "$SRC/build/host/bench/paths/tw_bench_paths" ]; then
	cmake --build --preset host --target tw_bench_paths >/dev/null || fail "cannot build tw_bench_paths"
fi
work=$(mktemp -d /tmp/tw-bench-all.XXXXXX)
started_stack=
cleanup() {
	[ -n "$started_stack" ] && "$STACK" down >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT
if ! "$STACK" env >/dev/null 2>&1; then
	echo "bench/all: starting the local stack"
	"$STACK" up || fail "scripts/stack.sh up failed"
	started_stack=1
fi
eval "$("$STACK" env)" || fail "scripts/stack.sh env failed"

# The topics exist before the benches that use them: the admin role makes them (or finds them).
TICKWATCH_KAFKA_BOOTSTRAP=$TW_KAFKA_BOOTSTRAP TICKWATCH_DB_WRITE_URL=$TW_DB_URL \
	timeout 60 "$BIN" run --roles admin --console none >"$work/admin.log" 2>&1 &
admin=$!
for _ in $(seq 1 120); do
	grep -q "topic to-notifier \(ready\|created\|exists\)" "$work/admin.log" && break
	sleep 0.5
done
kill "$admin" 2>/dev/null
wait "$admin" 2>/dev/null

# run NAME TIMEOUT_S COMMAND...: its output into $work/NAME.out, rc and seconds into NAME.meta
run() {
	local name=$1 tmo=$2 t0 rc
	shift 2
	echo "bench/all: $name ($*)"
	t0=$SECONDS
	timeout "$tmo" "$@" >"$work/$name.out" 2>&1
	rc=$?
	echo "$rc $((SECONDS - t0))" >"$work/$name.meta"
	sed 's/^/    /' "$work/$name.out" | tail -15
}
t_all=$SECONDS
run callgrind 900 "$SRC/bench/callgrind" "$CALLGRIND_N"
run boot 300 "$SRC/bench/boot" "$BIN" "$BOOT_RUNS"
run rpc 600 python3 "$SRC/bench/rpc.py" "$BIN" "$RPC_SECONDS"
run collector 600 "$SRC/bench/collector.sh" "$BIN"
run notifier 900 env TW_BIN="$BIN" "$SRC/bench/notifier.sh" "$NOTIFIER_N"
run alert 3600 python3 "$SRC/bench/alert" "$BIN" "$ALERT_USERS" "$ALERT_TICKERS"
run scale 3600 python3 "$SRC/bench/scale" "$BIN" "$SCALE_EMAILS" "$SCALE_USERS" "$ALERT_TICKERS"

python3 - "$work" "$OUT" "$((SECONDS - t_all))" "$ALERT_USERS" "$NOTIFIER_N" "$RPC_SECONDS" <<'PY'
import os, re, subprocess, sys, time

work, out, secs, users, nn, rsec = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), \
    int(sys.argv[5]), int(sys.argv[6])
rows = []  # (bench, figure, reference, ratio)


def text(name):
    try:
        return open(os.path.join(work, name + ".out")).read()
    except OSError:
        return ""


def meta(name):
    try:
        rc, s = open(os.path.join(work, name + ".meta")).read().split()
        return int(rc), int(s)
    except (OSError, ValueError):
        return 1, 0


def num(s):
    return float(s.replace(",", ""))


def add(bench, figure, ref, ratio):
    rows.append((bench, figure, ref, ratio))


def failed(name):
    rc, _ = meta(name)
    if rc != 0:
        last = [l for l in text(name).splitlines() if l.strip()][-1:] or ["no output"]
        add(name, "**failed** (exit %d): %s" % (rc, last[0].strip()[:120]), "", "")
    return rc != 0

# callgrind: instructions per item, stable from run to run
t = text("callgrind")
for path, ir in re.findall(r"^\| ([a-z-]+) \| (\d+) \|$", t, re.M):
    add("callgrind", "`%s`: %s instructions per item" % (path, ir), "", "")
m = re.search(r"json / bare jsmn on the same chart answer: ([\d.]+)", t)
if m:
    add("callgrind", "JSON parse of a chart answer", "bare jsmn tokenizer, same input", m.group(1))
failed("callgrind")

t = text("boot")
m = re.search(r"exec -> ready : tickwatch +([\d.]+) ms +trivial static C +([\d.]+) ms +ratio +([\d.]+)", t)
if m:
    add("boot", "exec to ready: %s ms" % m.group(1), "trivial static C: %s ms" % m.group(2), m.group(3))
m = re.search(r"idle RSS +: tickwatch +(\d+) KiB +trivial static C +(\d+) KiB +ratio +([\d.]+)", t)
if m:
    add("boot", "idle RSS: %s KiB" % m.group(1), "trivial static C: %s KiB" % m.group(2), m.group(3))
failed("boot")

t = text("rpc")
m = re.search(r"user.register .*?: +(\d+) req/s", t)
p = re.search(r"pgbench one-row INSERT .*?: +(\d+) tps +ratio ([\d.]+)", t)
q = re.search(r"pgbench same 5-statement transaction: +(\d+) tps +ratio ([\d.]+)", t)
if m and p:
    add("rpc", "`user.register`, 20 clients, at most once, check_tickers off: %s req/s"
        % m.group(1),
        "pgbench one-row INSERT, 20 clients: %s tps" % p.group(1), p.group(2))
c = re.search(r"user.register with the ticker check: +(\d+) req/s", t)
if m and q:
    add("rpc", "", "pgbench, the old 5-statement transaction: %s tps" % q.group(1), q.group(2))
if c and p:
    add("rpc", "`user.register` with `[rpc] check_tickers` on (the stack's Python quote "
        "server, 2 connections): %s req/s" % c.group(1),
        "pgbench one-row INSERT, 20 clients: %s tps" % p.group(1),
        "%.2f" % (int(c.group(1)) / int(p.group(1))))
failed("rpc")

t = text("collector")
cyc = [int(x) for x in re.findall(r"cycle: (\d+) ms", t)]
py = re.search(r"python http.client: (\d+) ms", t)
cu = re.search(r"curl \(one process\): (\d+) ms", t)
if cyc and py:
    add("collector", "one cycle, 1,000 tickers: %d ms" % min(cyc),
        "python http.client, same URLs: %s ms" % py.group(1), "%.2f" % (min(cyc) / int(py.group(1))))
if cyc and cu:
    add("collector", "", "curl, one process: %s ms" % cu.group(1), "%.2f" % (min(cyc) / int(cu.group(1))))
failed("collector")

t = text("notifier")
n = re.search(r"notifier: (\d+) e-mails in ([\d.]+) s = ([\d,]+) e-mails/s", t)
s1 = re.search(r"smtp-source, one session: +([\d,]+) e-mails/s", t)
if n and s1:
    add("notifier", "%s e-mails into smtp-sink: %s e-mails/s" % (n.group(1), n.group(3)),
        "smtp-source, one session: %s/s" % s1.group(1), "%.2f" % (num(n.group(3)) / num(s1.group(1))))
for line in t.splitlines():  # what else it measured (sessions, connections), as it says it
    if re.search(r"\d+ sessions", line):
        add("notifier", line.strip(), "", "")
failed("notifier")

t = text("alert")
for what, sent, pass_s, sel, kc, ups, slow in re.findall(
        r"pass (all crossing|1% crossing) +(\d+) sent: ([\d.]+) s; bare parts: crossing SELECT "
        r"([\d.]+) s, kcat ([\d.]+) s, upsert ([\d.]+) s; pass / slowest part ([\d.]+)", t):
    add("alert", "pass over %s users, %s (%s sent): %s s" % (format(users, ","), what, sent, pass_s),
        "bare parts alone: crossing SELECT %s s, kcat %s s, upsert %s s" % (sel, kc, ups),
        "%s of the slowest" % slow)
m = re.search(r"memory: peak RSS (\d+) KiB of the boot budget's total (\d+) KiB: ratio ([\d.]+) \((.*?)\)", t)
if m:
    add("alert", "peak RSS of that run: %s KiB" % m.group(1),
        "the boot budget's memory total: %s KiB (%s)" % (m.group(2), m.group(4)), m.group(3))
failed("alert")

t = text("scale")
one = re.search(r"1 agent\(s\): +([\d.]+) e-mails/s", t)
for k, rate, ratio in re.findall(r"([23]) agent\(s\): +([\d.]+) e-mails/s .*ratio to one agent ([\d.]+)", t):
    add("scale", "%s notifier agents, sink answering after 20 ms: %s e-mails/s" % (k, rate),
        "one agent, same sink: %s e-mails/s" % (one.group(1) if one else "?"),
        "%s (linear: %s)" % (ratio, k))
p1 = re.search(r"pass, 1 agent: +([\d.]+) s \((\d+) rows", t)
p3 = re.search(r"pass, 3 agents: +([\d.]+) s .*time ratio to one agent ([\d.]+)", t)
if p1 and p3:
    add("scale", "sharded pass, 3 alert agents: %s s" % p3.group(1),
        "one agent, same users: %s s" % p1.group(1), "%s of the time" % p3.group(2))
failed("scale")

host = subprocess.run(["uname", "-srm"], capture_output=True, text=True).stdout.strip()
cpus = os.cpu_count()
with open(out, "w") as f:
    f.write("# Performance\n\n")
    f.write("Written by `bench/all.sh` (do not edit by hand; run it again). Every figure sits next "
            "to a reference measured in the same run on the same machine, so the ratio is what "
            "to compare between runs: these machines are shared and noisy, absolute rates are "
            "not. Instruction counts (callgrind) are stable whatever the machine does. The memory "
            "total is the first line of the agent's boot budget: its arena, its program image and "
            "the caps of its libraries (librdkafka's queues and fetch and receive buffers per "
            "broker, libpq's buffers and largest row per connection; the Mbed TLS heap is a carve "
            "of the arena), the most its RSS can reach.\n\n")
    f.write("Run of %s UTC on %s, %d CPUs, %d s in all; sizes: alert %s users, notifier %d "
            "e-mails, rpc %d s per rate.\n\n" % (time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
                                              host, cpus, secs, format(users, ","), nn, rsec))
    f.write("| bench | tickwatch | reference in the same run | ratio |\n|---|---|---|---|\n")
    for r in rows:
        f.write("| %s |\n" % " | ".join(x.replace("|", "\\|") for x in r))
    f.write("\nWhat each bench does: the top comment of its file in `bench/`. Goals (issue 17): "
            "`user.register` >= 0.5x pgbench's one-row INSERT; alert pass <= 1.25x its slowest "
            "bare part; peak RSS within the boot budget's memory total.\n\n## Raw output\n")
    for name in ("callgrind", "boot", "rpc", "collector", "notifier", "alert", "scale"):
        rc, s = meta(name)
        f.write("\n### %s (exit %d, %d s)\n\n```\n%s```\n" % (name, rc, s, text(name)[-6000:]))
print("bench/all: wrote %s (%d rows)" % (out, len(rows)))
PY
