# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# sink.sh - Postfix's smtp-sink, the benchmarks' SMTP sink in scripts/stack.sh (sourced by
# it): start, readiness and status.

sink_up_begin() {
    alive smtp-sink && return 0
    [ -x "$SINK_BIN" ] || die "$SINK_BIN not found (install postfix)"
    local user=()
    [ "$(id -u)" -ne 0 ] || user=(-u nobody)
    mkdir -p "$STATE/sink"
    spawn smtp-sink "$STATE/sink/smtp-sink.log" "$SINK_BIN" "${user[@]}" -h localhost \
        "127.0.0.1:$CFG_SMTP_SINK_PORT" 256
}
sink_ready() { alive smtp-sink && port_listening "$CFG_SMTP_SINK_PORT"; }

# ---------------------------------------------------------------- hooks of up and status
sink_up_died() { alive smtp-sink || up_failed sink "smtp-sink died"; }
sink_up_tail() { tail_log smtp-sink "$STATE/sink/smtp-sink.log"; }

sink_status() {  # one line in the smtp section; status_bad if wrong
    local pid
    if pid=$(pid_of smtp-sink) && port_listening "$CFG_SMTP_SINK_PORT"; then
        echo "  smtp-sink: pid $pid, 127.0.0.1:$CFG_SMTP_SINK_PORT"
    else
        echo "  smtp-sink: DOWN"; status_bad
    fi
}
