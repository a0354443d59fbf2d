# SPDX-License-Identifier: MIT
# shellcheck shell=bash disable=SC2034 # the settings here are read by the other parts
# common.sh - what every part of scripts/stack.sh shares (sourced by it): the settings,
# messages, the saved configuration, processes tracked by pid, locking and the state folder.
# Needs REPO (the repository) and NODES (the Kafka node numbers) set by scripts/stack.sh.

ENVDIR=$REPO/tests/env
STATE=${TW_STACK_DIR:-$REPO/.stack}
PY=/usr/bin/python3                      # Debian's interpreter: python3-aiosmtpd lives there
PGBIN=${TW_PG_BIN:-/usr/lib/postgresql/15/bin}
KCAT=${TW_KCAT:-kcat}
SINK_BIN=${TW_SMTP_SINK_BIN:-/usr/sbin/smtp-sink}
CACHE=${TW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tickwatch}
UP_TIMEOUT=${TW_UP_TIMEOUT:-170}         # seconds for `up` to become ready
STOP_GRACE=${TW_STOP_GRACE:-10}          # seconds between the polite signal and SIGKILL

say() { printf 'stack: %s\n' "$*" >&2; }
die() { say "error: $*"; up_cleanup; exit 1; }   # up_cleanup: lifecycle.sh

# ---------------------------------------------------------------- configuration
# Defaults (overridable by the same TW_* names `env` prints) are fixed when a stack is
# created and saved in $STATE/config.env; later commands read the saved values.
default_config() {
    CFG_KAFKA_PORT_BASE=${TW_KAFKA_PORT_BASE:-19092}
    CFG_KAFKA_CONTROLLER_PORT_BASE=${TW_KAFKA_CONTROLLER_PORT_BASE:-19192}
    CFG_KAFKA_HEAP=${TW_KAFKA_HEAP:-384m}
    CFG_DB_PORT=${TW_DB_PORT:-15432}
    CFG_SMTP_PORT_STARTTLS=${TW_SMTP_PORT_STARTTLS:-10025}
    CFG_SMTP_PORT_TLS=${TW_SMTP_PORT_TLS:-10465}
    CFG_SMTP_CONTROL_PORT=${TW_SMTP_CONTROL_PORT:-18025}
    CFG_SMTP_SINK_PORT=${TW_SMTP_SINK_PORT:-10026}
    CFG_QUOTES_PORT=${TW_QUOTES_PORT:-18443}
    CFG_QUOTES_CONTROL_PORT=${TW_QUOTES_CONTROL_PORT:-18444}
    CFG_QUOTES_SCENARIO=${TW_QUOTES_SCENARIO:-$ENVDIR/quotes/scenario.json}
    CFG_TOXIPROXY_PORT=${TW_TOXIPROXY_PORT:-18474}              # toxiproxy.sh
    CFG_TOXIPROXY_PROXY_BASE=${TW_TOXIPROXY_PROXY_BASE:-18600}
    CFG_DB_PASSWORD=$(rand_secret)
    CFG_DB_ADMIN_PASSWORD=$(rand_secret)
    CFG_SMTP_USER=tickwatch
    CFG_SMTP_PASSWORD=$(rand_secret)
}
rand_secret() { od -An -N12 -tx1 /dev/urandom | tr -d ' \n'; }

load_config() {
    if [ -f "$STATE/config.env" ]; then
        # shellcheck disable=SC1091
        . "$STATE/config.env"
    else
        default_config
    fi
    KAFKA_PORTS=() CTRL_PORTS=()
    local n
    for n in "${NODES[@]}"; do
        KAFKA_PORTS[n]=$((CFG_KAFKA_PORT_BASE + n - 1))
        CTRL_PORTS[n]=$((CFG_KAFKA_CONTROLLER_PORT_BASE + n - 1))
    done
    BOOTSTRAP="127.0.0.1:${KAFKA_PORTS[1]},127.0.0.1:${KAFKA_PORTS[2]},127.0.0.1:${KAFKA_PORTS[3]}"
    SMTP_CONTROL=http://127.0.0.1:$CFG_SMTP_CONTROL_PORT
    QUOTES_CONTROL=http://127.0.0.1:$CFG_QUOTES_CONTROL_PORT
    MAIL_DIR=$STATE/smtp/mail
    CA_FILE=$STATE/tls/ca.crt
}

save_config() {
    mkdir -p "$STATE"
    local v
    : >"$STATE/config.env.tmp"
    for v in $(compgen -v CFG_); do
        printf "%s='%s'\n" "$v" "${!v}" >>"$STATE/config.env.tmp"
    done
    chmod 600 "$STATE/config.env.tmp"
    mv "$STATE/config.env.tmp" "$STATE/config.env"
}

all_ports() {
    printf '%s\n' "${KAFKA_PORTS[@]:1}" "${CTRL_PORTS[@]:1}" "$CFG_DB_PORT" \
        "$CFG_SMTP_PORT_STARTTLS" "$CFG_SMTP_PORT_TLS" "$CFG_SMTP_CONTROL_PORT" \
        "$CFG_SMTP_SINK_PORT" "$CFG_QUOTES_PORT" "$CFG_QUOTES_CONTROL_PORT"
    toxiproxy_ports
    kafka_ports   # the SASL_SSL listeners (kafka.sh)
}

# ---------------------------------------------------------------- processes by pid
# $STATE/pids/NAME holds "PID STARTTIME"; the start time (from /proc) guards against a
# recycled pid, so we only ever signal the process we started.
# shellcheck disable=SC2086 # $s is split into /proc/PID/stat's fields on purpose
proc_starttime() { local s; s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1; s=${s##*) }; set -- $s; echo "${20}"; }

pid_of() {   # NAME -> prints pid if that tracked process is alive
    local f=$STATE/pids/$1 pid st
    [ -f "$f" ] || return 1
    read -r pid st <"$f" || return 1
    [ -n "$pid" ] && [ "$(proc_starttime "$pid" 2>/dev/null)" = "$st" ] || return 1
    # a zombie (killed, not yet reaped) is not alive
    [ "$(sed -n 's/^State:\s*\(.\).*/\1/p' "/proc/$pid/status" 2>/dev/null)" != Z ] || return 1
    echo "$pid"
}
alive() { pid_of "$1" >/dev/null; }

spawn() {    # NAME LOGFILE CMD... : start detached (own session), stdin closed, track pid
    local name=$1 log=$2; shift 2
    mkdir -p "$STATE/pids" "$(dirname "$log")"
    # fd 9 is our lock: the daemon must not inherit it, or it would hold the lock forever
    ( exec 9>&-; cd "$STATE" && exec setsid "$@" </dev/null >>"$log" 2>&1 ) &
    local pid=$! st=""
    for _ in 1 2 3 4 5 6 7 8 9 10; do st=$(proc_starttime "$pid") && break; sleep 0.05; done
    echo "$pid $st" >"$STATE/pids/$name"
}

stop_procs() {   # NAME:SIGNAL ... : signal all at once, wait STOP_GRACE, SIGKILL the rest
    local spec name sig pid pids=() names=()
    for spec in "$@"; do
        name=${spec%%:*} sig=${spec#*:}
        pid=$(pid_of "$name") || { rm -f "$STATE/pids/$name"; continue; }
        kill "-$sig" "$pid" 2>/dev/null || true
        pids+=("$pid") names+=("$name")
    done
    [ ${#pids[@]} -gt 0 ] || return 0
    local deadline=$((SECONDS + STOP_GRACE)) left
    while :; do
        left=0
        for name in "${names[@]}"; do alive "$name" && left=$((left + 1)); done
        [ "$left" -gt 0 ] || break
        [ $SECONDS -lt $deadline ] || break
        sleep 0.2
    done
    for name in "${names[@]}"; do
        if pid=$(pid_of "$name"); then
            say "$name (pid $pid) still running after ${STOP_GRACE}s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    deadline=$((SECONDS + 10))
    for name in "${names[@]}"; do
        while alive "$name" && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
        if alive "$name"; then say "warning: $name did not exit"; else rm -f "$STATE/pids/$name"; fi
    done
}

rss_kib() {   # PID : resident memory (KiB) of the process and all its descendants
    ps -e -o pid=,ppid=,rss= | awk -v root="$1" '
        { ppid[$1] = $2; rss[$1] = $3 }
        END { for (p in rss) { q = p; while (q != "" && q != 0 && q != root) q = ppid[q];
                               if (q == root) sum += rss[p] } print sum + 0 }'
}

port_listening() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

# ---------------------------------------------------------------- helpers
tail_log() { # LABEL FILE
    say "---- last lines of $1 ($2) ----"
    if [ -f "$2" ]; then tail -n 40 "$2" >&2; else say "(no log file)"; fi
    say "----"
}

ctl() {      # URL [curl args] : POST/GET to a control endpoint, print body, fail on non-2xx
    local out code
    out=$(curl -sS -m 10 -w '\n%{http_code}' "$@") || return 1
    code=${out##*$'\n'}; out=${out%$'\n'*}
    [ -n "$out" ] && printf '%s\n' "$out"
    [ "${code:0:1}" = 2 ]
}

run_unpriv() { # CMD... as an unprivileged user when we are root (initdb/postgres refuse root)
    if [ "$(id -u)" -eq 0 ]; then
        setpriv --reuid=nobody --regid=nogroup --clear-groups --reset-env -- "$@"
    else
        "$@"
    fi
}
own_unpriv() { [ "$(id -u)" -ne 0 ] || chown -R nobody:nogroup "$@"; }

# ---------------------------------------------------------------- the state folder
any_alive() {
    local f
    for f in "$STATE"/pids/*; do [ -e "$f" ] && alive "$(basename "$f")" && return 0; done
    return 1
}

lock() { mkdir -p "$STATE"; exec 9>"$STATE/.lock"; flock -w 600 9 || die "could not lock $STATE/.lock"; }

prepare_state_dir() {
    mkdir -p "$STATE"
    # the state folder ignores itself, whatever the top-level .gitignore says
    [ -f "$STATE/.gitignore" ] || echo '*' >"$STATE/.gitignore"
}

check_ports_free() {
    local p busy=()
    for p in $(all_ports); do port_listening "$p" && busy+=("$p"); done
    [ ${#busy[@]} -eq 0 ] && return 0
    ss -Hltnp 2>/dev/null | grep -E ":($(IFS='|'; echo "${busy[*]}"))\b" >&2 || true
    die "ports already in use by something else: ${busy[*]} (override with TW_* port variables, see docs/stack.md)"
}

require_up() {
    [ -f "$STATE/config.env" ] || die "the stack is not up (no $STATE/config.env): run scripts/stack.sh up"
    load_config
    local n
    for n in kafka1 kafka2 kafka3 postgres smtp quotes smtp-sink; do
        alive "$n" && return 0
    done
    die "the stack is not up: run scripts/stack.sh up"
}
