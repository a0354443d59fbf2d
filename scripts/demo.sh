#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# demo.sh - the main job on a fresh Debian machine: install, build the static binary, bring the
# real local stack up (Kafka x3, PostgreSQL, SMTP, quote server) and run the agent against it
# with its console on this terminal. Ctrl-C (or 'quit') stops the agent and the stack.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
say() { printf '\n==== demo: %s\n' "$*"; }

say "installing Debian packages (once)"
scripts/bootstrap.sh
say "building the static tickwatch binary (dependencies are cached after the first build)"
cmake --preset host >build-demo-configure.log 2>&1 || { tail -30 build-demo-configure.log; exit 1; }
rm -f build-demo-configure.log
cmake --build --preset host
bin=$repo/build/host/tickwatch
"$bin" version

say "bringing the local stack up"
scripts/stack.sh up
trap 'say "stopping the stack"; scripts/stack.sh down' EXIT
eval "$(scripts/stack.sh env)"
scripts/stack.sh status || true

conf=$repo/build/demo.conf
cat >"$conf" <<CONF
[agent]
name = tickwatch-demo
[kafka]
bootstrap = $TW_KAFKA_BOOTSTRAP
[db]
write_url = $TW_DB_URL
[smtp]
host = $TW_SMTP_HOST
port = $TW_SMTP_PORT_STARTTLS
mode = starttls
user = $TW_SMTP_USER
password = $TW_SMTP_PASSWORD
ca_file = $TW_CA_FILE
from = alerts@tickwatch.test
[quotes]
base = $TW_QUOTES_BASE
ca_file = $TW_CA_FILE
interval = 5s
CONF
chmod 600 "$conf"
"$bin" config check "$conf"

say "running the agent; type 'help' at the console, 'quit' or Ctrl-C to stop"
"$bin" run --config "$conf" --console - || true
