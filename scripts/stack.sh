#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# stack.sh - the real local stack for tickwatch's integration tests, benchmarks and demo:
#   a 3-node Apache Kafka 4 cluster (KRaft, combined broker+controller), PostgreSQL,
#   an SMTP server with STARTTLS/implicit TLS/AUTH (aiosmtpd), Postfix's smtp-sink and an
#   HTTPS quote server in Yahoo Finance chart format, and Toxiproxy in front of Kafka,
#   PostgreSQL and SMTP (for the chaos suite). Everything on 127.0.0.1, all state in
#   one folder ($TW_STACK_DIR, default <repo>/.stack), every process tracked by pid.
#   This file only dispatches; the parts are in scripts/stack/: common.sh (settings, saved
#   config, processes by pid, locking), tls.sh (the test CA), one file per component (kafka.sh,
#   pg.sh, smtp.sh, sink.sh, quotes.sh, toxiproxy.sh, each with its own commands) and lifecycle.sh (up, down,
#   env, status, logs).
#
# usage: scripts/stack.sh COMMAND [ARGS]      (see `scripts/stack.sh help`, docs/stack.md)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NODES=(1 2 3)
COMPONENTS=(kafka pg smtp quotes sink toxiproxy)   # start order: Kafka's JVMs take longest

# One file per component, then the commands that span them all.
# shellcheck source=scripts/stack/common.sh
. "$REPO/scripts/stack/common.sh"
# shellcheck source=scripts/stack/tls.sh
. "$REPO/scripts/stack/tls.sh"
# shellcheck source=scripts/stack/kafka.sh
. "$REPO/scripts/stack/kafka.sh"
# shellcheck source=scripts/stack/pg.sh
. "$REPO/scripts/stack/pg.sh"
# shellcheck source=scripts/stack/smtp.sh
. "$REPO/scripts/stack/smtp.sh"
# shellcheck source=scripts/stack/sink.sh
. "$REPO/scripts/stack/sink.sh"
# shellcheck source=scripts/stack/quotes.sh
. "$REPO/scripts/stack/quotes.sh"
# shellcheck source=scripts/stack/toxiproxy.sh
. "$REPO/scripts/stack/toxiproxy.sh"
# shellcheck source=scripts/stack/lifecycle.sh
. "$REPO/scripts/stack/lifecycle.sh"

usage() {
    cat <<'EOF'
usage: scripts/stack.sh COMMAND
  up                      start everything (idempotent; fresh state if nothing is running)
  down                    stop everything (signal all, grace, SIGKILL), check ports are free
  status                  brokers with partition leaders/ISR, PostgreSQL, SMTP, quotes health
  env                     print `export TW_...=` lines: eval "$(scripts/stack.sh env)"
  logs [COMPONENT]        tail logs (kafka, kafka1..3, pg, smtp, quotes, sink)
  kafka-kill N            SIGKILL Kafka node N (1..3)
  kafka-stop N            stop Kafka node N politely (SIGTERM, grace, SIGKILL)
  kafka-start N           start Kafka node N again and wait until the cluster has 3 brokers
  smtp-mode MODE [--count N] [RCPT...]
                          MODE: normal | refuse | 421 | 451 | 550 | stall
  quotes-mode MODE [--count N] [--delay-ms D] [--source yahoo|stooq|all] [--retry-after S|date|none]
                          MODE: normal | slow | reset | an HTTP status such as 500, 503, 429
  quotes-step [N|+N]      advance the scenario by one step (or +N), or go to step N
  quotes-set KEY VALUE    encoding length|chunked ; advance manual|request
  quotes-scenario FILE    load another scenario file (step back to 0)
  quotes-reset            step 0, mode normal, encoding length, advance manual
  quotes-crumb require|optional|expire   demand cookie + crumb / stop / expire the crumbs
  quotes-freeze T1,T2|all|none           freeze tickers' market time (a shut market)
  quotes-period open|ended|none|START,END  the chart's currentTradingPeriod.regular
EOF
}

main() {
    local cmd=${1:-help}; shift || true
    case $cmd in
        up) cmd_up "$@" ;;
        down) cmd_down "$@" ;;
        status) cmd_status "$@" ;;
        env) cmd_env "$@" ;;
        logs) cmd_logs "$@" ;;
        kafka-kill) cmd_kafka_kill "$@" ;;
        kafka-stop) cmd_kafka_stop "$@" ;;
        kafka-start) cmd_kafka_start "$@" ;;
        smtp-mode) cmd_smtp_mode "$@" ;;
        quotes-mode) cmd_quotes_mode "$@" ;;
        quotes-step) cmd_quotes_step "$@" ;;
        quotes-set) cmd_quotes_set "$@" ;;
        quotes-scenario) cmd_quotes_scenario "$@" ;;
        quotes-reset) cmd_quotes_reset "$@" ;;
        quotes-crumb) cmd_quotes_crumb "$@" ;;
        quotes-freeze) cmd_quotes_freeze "$@" ;;
        quotes-period) cmd_quotes_period "$@" ;;
        help|-h|--help) usage ;;
        *) echo "stack.sh: unknown command '$cmd'" >&2; usage >&2; exit 2 ;;
    esac
}
main "$@"
