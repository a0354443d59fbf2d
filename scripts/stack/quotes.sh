# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# quotes.sh - the HTTPS quote server of scripts/stack.sh (tests/env/quotes/quoted.py, sourced
# by it): start, readiness, status and the quotes-* commands.

quotes_up_begin() {
    alive quotes && return 0
    [ -f "$CFG_QUOTES_SCENARIO" ] || die "quote scenario $CFG_QUOTES_SCENARIO not found"
    mkdir -p "$STATE/quotes"
    spawn quotes "$STATE/quotes/quotes.log" "$PY" -u "$ENVDIR/quotes/quoted.py" \
        --host 127.0.0.1 --port "$CFG_QUOTES_PORT" --control-port "$CFG_QUOTES_CONTROL_PORT" \
        --cert "$STATE/tls/quotes-chain.crt" --key "$STATE/tls/quotes.key" \
        --scenario "$CFG_QUOTES_SCENARIO"
}

quotes_ready() {
    alive quotes || return 1
    curl -sf -m 3 "$QUOTES_CONTROL/health" >/dev/null 2>&1 || return 1
    curl -sf -m 3 --cacert "$CA_FILE" "https://127.0.0.1:$CFG_QUOTES_PORT/health" >/dev/null 2>&1
}

# ---------------------------------------------------------------- hooks of up and status
quotes_up_died() { alive quotes || up_failed quotes "quote server died"; }
quotes_up_tail() { tail_log quotes "$STATE/quotes/quotes.log"; }

quotes_status() {  # the server and its control state (mode, step, ...); status_bad if wrong
    local pid
    echo "== quotes"
    if pid=$(pid_of quotes) && quotes_ready; then
        echo "  up: pid $pid, https://127.0.0.1:$CFG_QUOTES_PORT, control $QUOTES_CONTROL"
        echo "  $(curl -s -m 3 "$QUOTES_CONTROL/state")"
    else
        echo "  DOWN or unhealthy"; status_bad
    fi
}

# ---------------------------------------------------------------- commands
cmd_quotes_mode() { # MODE [--count N] [--delay-ms D] [--source yahoo|stooq|all] [--retry-after S|date|none]
    require_up
    local mode=${1:-}; [ -n "$mode" ] || die "usage: quotes-mode normal|slow|reset|HTTPSTATUS [--count N] [--delay-ms D] [--source yahoo|stooq|all] [--retry-after S|date|none]"
    shift
    local args=(--data-urlencode "mode=$mode")
    while [ $# -gt 0 ]; do
        case $1 in
            --count) args+=(--data-urlencode "count=$2"); shift 2 ;;
            --delay-ms) args+=(--data-urlencode "delay_ms=$2"); shift 2 ;;
            --source) args+=(--data-urlencode "source=$2"); shift 2 ;;
            --retry-after) args+=(--data-urlencode "retry_after=$2"); shift 2 ;;
            *) die "unknown option $1" ;;
        esac
    done
    ctl "$QUOTES_CONTROL/mode" "${args[@]}"
}

cmd_quotes_step() {  # [N | +N] : no argument = advance by one
    require_up
    local a=${1:-+1}
    if [[ "$a" =~ ^\+[0-9]+$ ]]; then ctl "$QUOTES_CONTROL/step" --data-urlencode "by=${a#+}"
    elif [[ "$a" =~ ^[0-9]+$ ]]; then ctl "$QUOTES_CONTROL/step" --data-urlencode "to=$a"
    else die "usage: quotes-step [N|+N]"; fi
}

cmd_quotes_set() {  # KEY VALUE : encoding length|chunked, advance manual|request
    # arguments are checked here, before the server is asked (it would ignore an unknown key)
    [ $# -eq 2 ] || die "usage: quotes-set encoding length|chunked | quotes-set advance manual|request"
    case $1=$2 in
        encoding=length|encoding=chunked|advance=manual|advance=request) ;;
        encoding=*|advance=*) die "quotes-set $1: '$2' is not allowed (encoding length|chunked, advance manual|request)" ;;
        *) die "quotes-set: unknown key '$1' (keys: encoding, advance)" ;;
    esac
    require_up
    ctl "$QUOTES_CONTROL/set" --data-urlencode "$1=$2"
}

cmd_quotes_scenario() { # FILE : load a scenario (step back to 0)
    local f=${1:-}
    [ $# -eq 1 ] || die "usage: quotes-scenario FILE"
    [ -e "$f" ] || die "quotes-scenario: $f: no such file"
    [ -f "$f" ] && [ -r "$f" ] || die "quotes-scenario: $f: not a readable file"
    require_up
    ctl "$QUOTES_CONTROL/scenario" --data-urlencode "path=$(cd "$(dirname "$f")" && pwd)/$(basename "$f")"
}

cmd_quotes_crumb() { # require|optional|expire : demand cookie + crumb, stop demanding, expire crumbs
    case ${1:-} in
        require) require_up; ctl "$QUOTES_CONTROL/crumb" --data-urlencode require=1 ;;
        optional) require_up; ctl "$QUOTES_CONTROL/crumb" --data-urlencode require=0 ;;
        expire) require_up; ctl "$QUOTES_CONTROL/crumb" --data-urlencode expire=1 ;;
        *) die "usage: quotes-crumb require|optional|expire" ;;
    esac
}

cmd_quotes_freeze() { # TICKERS|all|none : those tickers' market time and price stop moving
    [ $# -eq 1 ] || die "usage: quotes-freeze T1,T2|all|none"
    require_up
    ctl "$QUOTES_CONTROL/freeze" --data-urlencode "tickers=$1"
}

cmd_quotes_period() { # open|ended|none|START,END : the regular session the chart meta names
    [ $# -eq 1 ] || die "usage: quotes-period open|ended|none|START,END"
    require_up
    ctl "$QUOTES_CONTROL/period" --data-urlencode "regular=$1"
}

cmd_quotes_reset() { # step 0, cursors 0, mode normal, encoding length, advance manual
    require_up
    ctl "$QUOTES_CONTROL/reset" -X POST
}
