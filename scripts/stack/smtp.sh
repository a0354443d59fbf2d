# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# smtp.sh - the SMTP server of scripts/stack.sh (tests/env/smtp/smtpd.py, sourced by it):
# start, readiness, status and the smtp-mode command.

smtp_up_begin() {
    alive smtp && return 0
    $PY -c 'import aiosmtpd' 2>/dev/null || die "$PY cannot import aiosmtpd (install python3-aiosmtpd)"
    mkdir -p "$MAIL_DIR" "$STATE/smtp"
    spawn smtp "$STATE/smtp/smtp.log" "$PY" -u "$ENVDIR/smtp/smtpd.py" \
        --host 127.0.0.1 --starttls-port "$CFG_SMTP_PORT_STARTTLS" --tls-port "$CFG_SMTP_PORT_TLS" \
        --control-port "$CFG_SMTP_CONTROL_PORT" --cert "$STATE/tls/server-chain.crt" --key "$STATE/tls/server.key" \
        --user "$CFG_SMTP_USER" --password-file "$STATE/smtp/password" --mail-dir "$MAIL_DIR" \
        --state-dir "$STATE/smtp"
}

smtp_ready() {
    alive smtp || return 1
    curl -sf -m 3 "$SMTP_CONTROL/health" >/dev/null 2>&1 || return 1
    port_listening "$CFG_SMTP_PORT_STARTTLS" && port_listening "$CFG_SMTP_PORT_TLS"
}

# ---------------------------------------------------------------- hooks of up and status
smtp_up_died() { alive smtp || up_failed smtp "smtp server died"; }
smtp_up_tail() { tail_log smtp "$STATE/smtp/smtp.log"; }

smtp_status() {  # the server, its fault mode, the messages written; status_bad if wrong
    local pid
    echo "== smtp"
    if pid=$(pid_of smtp) && smtp_ready; then
        echo "  up: pid $pid, STARTTLS 127.0.0.1:$CFG_SMTP_PORT_STARTTLS, TLS 127.0.0.1:$CFG_SMTP_PORT_TLS, control $SMTP_CONTROL"
        echo "  $(curl -s -m 3 "$SMTP_CONTROL/mode")"
        echo "  messages in $MAIL_DIR: $(find "$MAIL_DIR" -maxdepth 1 -name '*.eml' 2>/dev/null | wc -l)"
    elif pid=$(pid_of smtp); then
        echo "  process up (pid $pid) but not healthy: $(curl -s -m 3 "$SMTP_CONTROL/mode")"; status_bad
    else
        echo "  DOWN"; status_bad
    fi
}

# ---------------------------------------------------------------- commands
cmd_smtp_mode() {   # MODE [--count N] [RCPT...]
    require_up
    local mode=${1:-}; [ -n "$mode" ] || die "usage: smtp-mode normal|refuse|421|451|550|stall [--count N] [RCPT...]"
    shift
    local args=(--data-urlencode "mode=$mode")
    while [ $# -gt 0 ]; do
        case $1 in
            --count) args+=(--data-urlencode "count=$2"); shift 2 ;;
            *) args+=(--data-urlencode "rcpt=$1"); shift ;;
        esac
    done
    ctl "$SMTP_CONTROL/mode" "${args[@]}"
}
