#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# stack.sh - the real local stack for tickwatch's integration tests, benchmarks and demo:
#   a 3-node Apache Kafka 4 cluster (KRaft, combined broker+controller), PostgreSQL,
#   an SMTP server with STARTTLS/implicit TLS/AUTH (aiosmtpd), Postfix's smtp-sink and an
#   HTTPS quote server in Yahoo Finance chart format. Everything on 127.0.0.1, all state in
#   one folder ($TW_STACK_DIR, default <repo>/.stack), every process tracked by pid.
#
# usage: scripts/stack.sh COMMAND [ARGS]      (see `scripts/stack.sh help`, docs/stack.md)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ENVDIR=$REPO/tests/env
STATE=${TW_STACK_DIR:-$REPO/.stack}
PY=/usr/bin/python3                      # Debian's interpreter: python3-aiosmtpd lives there
PGBIN=${TW_PG_BIN:-/usr/lib/postgresql/15/bin}
KCAT=${TW_KCAT:-kcat}
SINK_BIN=${TW_SMTP_SINK_BIN:-/usr/sbin/smtp-sink}
CACHE=${TW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tickwatch}
UP_TIMEOUT=${TW_UP_TIMEOUT:-170}         # seconds for `up` to become ready
STOP_GRACE=${TW_STOP_GRACE:-10}          # seconds between the polite signal and SIGKILL
NODES=(1 2 3)

say() { printf 'stack: %s\n' "$*" >&2; }
die() { say "error: $*"; up_cleanup; exit 1; }
UP_RUNNING=0
up_cleanup() {  # an `up` that fails stops what it started (unless TW_KEEP_ON_FAIL=1)
    [ "$UP_RUNNING" = 1 ] || return 0
    UP_RUNNING=0
    if [ "${TW_KEEP_ON_FAIL:-0}" = 1 ]; then
        say "TW_KEEP_ON_FAIL=1: the stack is left running for inspection; run '$0 down' to stop it"
    else
        say "stopping what was started (set TW_KEEP_ON_FAIL=1 to keep it running); logs stay in $STATE"
        cmd_down >&2 || true
    fi
}

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
}

# ---------------------------------------------------------------- processes by pid
# $STATE/pids/NAME holds "PID STARTTIME"; the start time (from /proc) guards against a
# recycled pid, so we only ever signal the process we started.
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

# ---------------------------------------------------------------- TLS (fresh CA per stack)
tls_make() {
    local d=$STATE/tls
    [ -f "$d/server.crt" ] && [ -f "$d/ca.crt" ] && return 0
    mkdir -p "$d"
    (
        cd "$d"
        umask 077
        openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
        openssl req -x509 -new -key ca.key -sha256 -days 30 -subj "/CN=tickwatch stack test CA $(date -u +%Y%m%dT%H%M%SZ)" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
            -out ca.crt 2>/dev/null
        openssl ecparam -name prime256v1 -genkey -noout -out server.key 2>/dev/null
        openssl req -new -key server.key -subj "/CN=localhost" -out server.csr 2>/dev/null
        printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
            "extendedKeyUsage=serverAuth" "subjectAltName=IP:127.0.0.1,DNS:localhost" >server.ext
        openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 -sha256 \
            -extfile server.ext -out server.crt 2>/dev/null
        cat server.crt ca.crt >server-chain.crt
        chmod 644 ca.crt server.crt server-chain.crt
        rm -f server.csr server.ext ca.srl
    ) || die "could not make the test CA / server certificate with openssl"
}

# ---------------------------------------------------------------- Kafka
kafka_jars() {   # resolve the jars once per pom content into the cache
    local pom=$ENVDIR/kafka/pom.xml hash dir tmp
    hash=$(sha256sum "$pom" | cut -c1-16)
    dir=$CACHE/kafka-jars-$hash
    if [ ! -f "$dir/.complete" ]; then
        say "resolving Kafka jars with Maven into $dir (first time only)"
        mkdir -p "$CACHE"
        tmp=$(mktemp -d "$CACHE/.kafka-jars.XXXXXX")
        if ! mvn -q -B -f "$pom" dependency:copy-dependencies -DincludeScope=runtime \
                -DoutputDirectory="$tmp" >"$CACHE/mvn-kafka.log" 2>&1; then
            tail_log "mvn" "$CACHE/mvn-kafka.log"; rm -rf "$tmp"; die "Maven could not resolve the Kafka jars"
        fi
        touch "$tmp/.complete"
        rm -rf "$dir"; mv "$tmp" "$dir"
    fi
    KAFKA_JARS=$dir
}

kafka_java() {   # HEAP MAIN ARGS...
    local heap=$1; shift
    exec_java=(java "-Xms64m" "-Xmx$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20
        -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent
        -XX:MaxDirectMemorySize=128m -Djava.awt.headless=true -Djava.net.preferIPv4Stack=true
        "-Dlog4j2.configurationFile=$ENVDIR/kafka/log4j2.properties"
        -cp "$KAFKA_JARS/*" "$@")
}

kafka_write_config() {  # N
    local n=$1 d=$STATE/kafka/$1 voters="" m
    for m in "${NODES[@]}"; do voters+="${voters:+,}$m@127.0.0.1:${CTRL_PORTS[m]}"; done
    mkdir -p "$d/data"
    cat >"$d/server.properties" <<EOF
# generated by scripts/stack.sh for node $n
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:${KAFKA_PORTS[n]},CONTROLLER://127.0.0.1:${CTRL_PORTS[n]}
advertised.listeners=PLAINTEXT://127.0.0.1:${KAFKA_PORTS[n]}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$d/data
num.partitions=3
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
transaction.state.log.num.partitions=6
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
group.initial.rebalance.delay.ms=0
unclean.leader.election.enable=false
auto.create.topics.enable=true
# a dead follower leaves the ISR within ~10 s (fenced by the controller or lagging)
replica.lag.time.max.ms=10000
broker.session.timeout.ms=9000
# small box: 2 cores, capped heap
num.network.threads=2
num.io.threads=2
background.threads=2
num.replica.fetchers=1
num.recovery.threads.per.data.dir=1
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=8388608
log.segment.bytes=67108864
log.retention.hours=24
EOF
}

kafka_start_node() {  # N
    local n=$1 d=$STATE/kafka/$1
    kafka_java "$CFG_KAFKA_HEAP" "-Dkafka.logs.dir=$d" kafka.Kafka "$d/server.properties"
    spawn "kafka$n" "$d/server.log" "${exec_java[@]}"
}

kafka_format() {
    local id n pids=()
    # Kafka Uuid: 16 random bytes, URL-safe base64 without padding, not starting with '-'
    id=$($PY -c 'import base64,os
while True:
    s=base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
    if not s.startswith("-"): print(s); break')
    echo "$id" >"$STATE/kafka/cluster-id"
    for n in "${NODES[@]}"; do
        kafka_java 128m kafka.tools.StorageTool format -t "$id" -c "$STATE/kafka/$n/server.properties"
        "${exec_java[@]}" >"$STATE/kafka/$n/format.log" 2>&1 9>&- &
        pids+=($!)
    done
    for n in "${NODES[@]}"; do
        wait "${pids[n-1]}" || { tail_log "kafka$n format" "$STATE/kafka/$n/format.log"; die "formatting kafka node $n failed"; }
    done
}

kafka_up_begin() {   # start what is missing; readiness is checked in kafka_wait
    local n alive_n=0
    for n in "${NODES[@]}"; do alive "kafka$n" && alive_n=$((alive_n + 1)); done
    KAFKA_STARTED=()
    if [ "$alive_n" -eq 3 ]; then return 0; fi
    kafka_jars
    if [ "$alive_n" -eq 0 ]; then
        rm -rf "$STATE/kafka"
        for n in "${NODES[@]}"; do kafka_write_config "$n"; done
        kafka_format
    fi
    ln -sfn "$KAFKA_JARS" "$STATE/kafka/jars"   # for Java tools: java -cp "$TW_KAFKA_JARS/*" ...
    for n in "${NODES[@]}"; do
        alive "kafka$n" && continue
        KAFKA_STARTED+=("$n")
        echo "$(grep -c 'Kafka Server started' "$STATE/kafka/$n/server.log" 2>/dev/null || true)" \
            >"$STATE/kafka/$n/started-before"
        kafka_start_node "$n"
    done
}

kafka_node_started() {  # N : logged "Kafka Server started" since its latest start
    local n=$1 before now
    before=$(cat "$STATE/kafka/$n/started-before" 2>/dev/null || echo 0)
    now=$(grep -c 'Kafka Server started' "$STATE/kafka/$n/server.log" 2>/dev/null || true)
    [ "${now:-0}" -gt "${before:-0}" ]
}

kafka_metadata_json() { "$KCAT" -b "$BOOTSTRAP" -L -J -m 5 2>/dev/null; }

kafka_broker_ids() {  # prints sorted broker ids from a metadata request
    kafka_metadata_json | $PY -c 'import json,sys
d=json.load(sys.stdin); print(" ".join(str(b["id"]) for b in sorted(d.get("brokers",[]),key=lambda b:b["id"])))'
}

kafka_ready() {
    local n
    for n in "${NODES[@]}"; do
        alive "kafka$n" || return 1
        kafka_node_started "$n" || return 1
    done
    [ "$(kafka_broker_ids 2>/dev/null)" = "1 2 3" ]
}

# ---------------------------------------------------------------- PostgreSQL
pg_up_begin() {
    local d
    d=$(readlink -f "$STATE/pg" 2>/dev/null || echo "$STATE/pg")   # may be a link to /tmp, see pg_prepare_dir
    if alive postgres; then return 0; fi
    [ -x "$PGBIN/postgres" ] || die "PostgreSQL server not found in $PGBIN (install postgresql-15)"
    if [ ! -f "$d/data/PG_VERSION" ]; then
        pg_prepare_dir
        d=$(readlink -f "$STATE/pg")
        mkdir -p "$d/data" "$d/run"
        printf '%s\n' "$CFG_DB_ADMIN_PASSWORD" >"$d/pwfile"
        chmod 700 "$d/data" "$d/run"; chmod 600 "$d/pwfile"
        own_unpriv "$d/"
        if ! run_unpriv "$PGBIN/initdb" -D "$d/data" -U postgres --pwfile="$d/pwfile" \
                --auth=scram-sha-256 -E UTF8 --locale=C.UTF-8 --no-sync >"$d/initdb.log" 2>&1; then
            tail_log initdb "$d/initdb.log"; die "initdb failed"
        fi
        rm -f "$d/pwfile"
        local sockdir=$d/run
        # a unix socket path must stay under ~107 bytes; use TCP only if the state path is too long
        [ ${#sockdir} -le 90 ] || sockdir=""
        cat >>"$d/data/postgresql.conf" <<EOF

# --- scripts/stack.sh: throw-away test cluster ---
listen_addresses = '127.0.0.1'
port = $CFG_DB_PORT
unix_socket_directories = '$sockdir'
max_connections = 100
shared_buffers = 32MB
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
log_min_messages = warning
log_connections = off
EOF
        cat >"$d/data/pg_hba.conf" <<EOF
# scripts/stack.sh: passwords (SCRAM) everywhere, loopback only
local   all all                scram-sha-256
host    all all 127.0.0.1/32   scram-sha-256
EOF
        own_unpriv "$d/"
        touch "$d/needs-roles"
    fi
    if [ "$(id -u)" -eq 0 ]; then
        spawn postgres "$d/postgres.log" setpriv --reuid=nobody --regid=nogroup --clear-groups -- \
            "$PGBIN/postgres" -D "$d/data"
    else
        spawn postgres "$d/postgres.log" "$PGBIN/postgres" -D "$d/data"
    fi
}

pg_prepare_dir() {  # $STATE/pg, or (as root, when user nobody cannot reach $STATE) a link to /tmp
    local d=$STATE/pg alt
    if [ -L "$d" ]; then rm -rf "$(readlink "$d")"; fi
    rm -rf "$d"
    if [ "$(id -u)" -eq 0 ] && ! setpriv --reuid=nobody --regid=nogroup --clear-groups -- test -x "$STATE"; then
        alt=/tmp/tickwatch-stack-pg-$(printf '%s' "$STATE" | sha256sum | cut -c1-12)
        rm -rf "$alt"; mkdir -p "$alt"; chmod 755 "$alt"
        ln -s "$alt" "$d"
        say "note: user nobody cannot reach $STATE, so PostgreSQL's files live in $alt (linked from $d)"
    else
        mkdir -p "$d"
    fi
}

pg_admin_sql() {
    PGPASSWORD=$CFG_DB_ADMIN_PASSWORD psql -X -q -h 127.0.0.1 -p "$CFG_DB_PORT" -U postgres -d postgres \
        -v ON_ERROR_STOP=1 "$@"
}

pg_ready() {
    alive postgres || return 1
    "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$CFG_DB_PORT" -t 2 || return 1
    if [ -f "$STATE/pg/needs-roles" ]; then
        pg_admin_sql -c "CREATE ROLE tickwatch LOGIN CREATEDB PASSWORD '$CFG_DB_PASSWORD'" \
            -c "CREATE DATABASE tickwatch OWNER tickwatch" >>"$STATE/pg/roles.log" 2>&1 || return 1
        rm -f "$STATE/pg/needs-roles"
    fi
    PGPASSWORD=$CFG_DB_PASSWORD psql -X -q -At -h 127.0.0.1 -p "$CFG_DB_PORT" -U tickwatch -d tickwatch \
        -c 'select 1' 2>/dev/null | grep -qx 1
}

# ---------------------------------------------------------------- SMTP (aiosmtpd) and smtp-sink
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

# ---------------------------------------------------------------- quote server
quotes_up_begin() {
    alive quotes && return 0
    [ -f "$CFG_QUOTES_SCENARIO" ] || die "quote scenario $CFG_QUOTES_SCENARIO not found"
    mkdir -p "$STATE/quotes"
    spawn quotes "$STATE/quotes/quotes.log" "$PY" -u "$ENVDIR/quotes/quoted.py" \
        --host 127.0.0.1 --port "$CFG_QUOTES_PORT" --control-port "$CFG_QUOTES_CONTROL_PORT" \
        --cert "$STATE/tls/server-chain.crt" --key "$STATE/tls/server.key" \
        --scenario "$CFG_QUOTES_SCENARIO"
}

quotes_ready() {
    alive quotes || return 1
    curl -sf -m 3 "$QUOTES_CONTROL/health" >/dev/null 2>&1 || return 1
    curl -sf -m 3 --cacert "$CA_FILE" "https://127.0.0.1:$CFG_QUOTES_PORT/health" >/dev/null 2>&1
}

# ---------------------------------------------------------------- commands
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

cmd_up() {
    lock
    prepare_state_dir
    local t0=$SECONDS
    if ! any_alive; then
        # fresh stack: new state, new CA, new cluster id, new passwords
        find "$STATE" -mindepth 1 -maxdepth 1 ! -name .gitignore ! -name .lock -exec rm -rf {} +
        default_config
        save_config
        load_config
        check_ports_free
        say "starting a fresh stack in $STATE"
    else
        load_config
    fi
    UP_RUNNING=1
    mkdir -p "$STATE/smtp"
    [ -f "$STATE/smtp/password" ] || { printf '%s\n' "$CFG_SMTP_PASSWORD" >"$STATE/smtp/password"; chmod 600 "$STATE/smtp/password"; }
    tls_make
    # Kafka first: its JVMs take longest; the rest starts while they boot.
    kafka_up_begin
    pg_up_begin
    smtp_up_begin
    quotes_up_begin
    sink_up_begin

    local deadline=$((t0 + UP_TIMEOUT)) pending comp
    local -A done_=()
    while :; do
        pending=()
        for comp in kafka pg smtp quotes sink; do
            [ -n "${done_[$comp]:-}" ] && continue
            if "${comp}_ready" 2>/dev/null; then
                done_[$comp]=1; say "$comp ready ($((SECONDS - t0))s)"
            else
                pending+=("$comp")
                # a process that died will not become ready: fail now
                case $comp in
                    kafka) for n in "${NODES[@]}"; do alive "kafka$n" || { up_failed "$comp" "kafka$n died"; }; done ;;
                    pg) alive postgres || up_failed pg "postgres died" ;;
                    smtp) alive smtp || up_failed smtp "smtp server died" ;;
                    quotes) alive quotes || up_failed quotes "quote server died" ;;
                    sink) alive smtp-sink || up_failed sink "smtp-sink died" ;;
                esac
            fi
        done
        [ ${#pending[@]} -eq 0 ] && break
        if [ $SECONDS -ge $deadline ]; then
            up_failed "${pending[0]}" "not ready after ${UP_TIMEOUT}s (pending: ${pending[*]})"
        fi
        sleep 0.5
    done
    UP_RUNNING=0
    say "stack is up in $((SECONDS - t0))s; use: eval \"\$($0 env)\""
}

up_failed() {  # COMPONENT REASON
    local comp=$1 n
    say "up failed: $2"
    case $comp in
        kafka) for n in "${NODES[@]}"; do tail_log "kafka$n" "$STATE/kafka/$n/server.log"; done ;;
        pg) tail_log postgres "$STATE/pg/postgres.log"; [ -f "$STATE/pg/roles.log" ] && tail_log roles "$STATE/pg/roles.log" ;;
        smtp) tail_log smtp "$STATE/smtp/smtp.log" ;;
        quotes) tail_log quotes "$STATE/quotes/quotes.log" ;;
        sink) tail_log smtp-sink "$STATE/sink/smtp-sink.log" ;;
    esac
    up_cleanup
    exit 1
}

cmd_down() {
    [ -d "$STATE" ] || { say "nothing to stop ($STATE does not exist)"; return 0; }
    lock
    load_config
    # everything at once: Kafka nodes must stop together (a lone node waits for its quorum)
    stop_procs kafka1:TERM kafka2:TERM kafka3:TERM postgres:INT smtp:TERM quotes:TERM smtp-sink:TERM
    local p busy=() deadline=$((SECONDS + 5))
    while :; do
        busy=()
        for p in $(all_ports); do port_listening "$p" && busy+=("$p"); done
        [ ${#busy[@]} -eq 0 ] || [ $SECONDS -ge $deadline ] && break
        sleep 0.2
    done
    if [ ${#busy[@]} -gt 0 ]; then
        say "warning: ports still listening after down: ${busy[*]}"
        ss -Hltnp 2>/dev/null | grep -E ":($(IFS='|'; echo "${busy[*]}"))\b" >&2 || true
        return 1
    fi
    say "stack is down (state kept in $STATE for inspection; the next 'up' starts fresh)"
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

cmd_env() {
    require_up
    cat <<EOF
export TW_STACK_DIR='$STATE'
export TW_KAFKA_BOOTSTRAP='$BOOTSTRAP'
export TW_KAFKA_CLUSTER_ID='$(cat "$STATE/kafka/cluster-id" 2>/dev/null)'
export TW_KAFKA_JARS='$STATE/kafka/jars'
export TW_KAFKA_PORT_BASE='$CFG_KAFKA_PORT_BASE'
export TW_KAFKA_CONTROLLER_PORT_BASE='$CFG_KAFKA_CONTROLLER_PORT_BASE'
export TW_DB_HOST='127.0.0.1'
export TW_DB_PORT='$CFG_DB_PORT'
export TW_DB_NAME='tickwatch'
export TW_DB_USER='tickwatch'
export TW_DB_PASSWORD='$CFG_DB_PASSWORD'
export TW_DB_URL='postgresql://tickwatch:$CFG_DB_PASSWORD@127.0.0.1:$CFG_DB_PORT/tickwatch'
export TW_SMTP_HOST='127.0.0.1'
export TW_SMTP_PORT_STARTTLS='$CFG_SMTP_PORT_STARTTLS'
export TW_SMTP_PORT_TLS='$CFG_SMTP_PORT_TLS'
export TW_SMTP_USER='$CFG_SMTP_USER'
export TW_SMTP_PASSWORD='$CFG_SMTP_PASSWORD'
export TW_SMTP_CONTROL='$SMTP_CONTROL'
export TW_SMTP_CONTROL_PORT='$CFG_SMTP_CONTROL_PORT'
export TW_SMTP_SINK_PORT='$CFG_SMTP_SINK_PORT'
export TW_SMTP_SINK_BIN='$SINK_BIN'
export TW_MAIL_DIR='$MAIL_DIR'
export TW_CA_FILE='$CA_FILE'
export TW_QUOTES_BASE='https://127.0.0.1:$CFG_QUOTES_PORT'
export TW_QUOTES_PORT='$CFG_QUOTES_PORT'
export TW_QUOTES_CONTROL='$QUOTES_CONTROL'
export TW_QUOTES_CONTROL_PORT='$CFG_QUOTES_CONTROL_PORT'
export TW_QUOTES_SCENARIO='$CFG_QUOTES_SCENARIO'
EOF
}

cmd_status() {
    require_up
    local rc=0 n pid
    echo "state: $STATE"
    echo "== kafka (bootstrap $BOOTSTRAP, cluster $(cat "$STATE/kafka/cluster-id" 2>/dev/null))"
    for n in "${NODES[@]}"; do
        if pid=$(pid_of "kafka$n"); then
            printf '  node %s: pid %s, broker 127.0.0.1:%s, controller 127.0.0.1:%s\n' "$n" "$pid" "${KAFKA_PORTS[n]}" "${CTRL_PORTS[n]}"
        else
            printf '  node %s: DOWN\n' "$n"; rc=1
        fi
    done
    local md
    if md=$(kafka_metadata_json) && [ -n "$md" ]; then
        printf '%s' "$md" | $PY -c '
import json, sys
d = json.load(sys.stdin)
bs = sorted(d.get("brokers", []), key=lambda b: b["id"])
print("  brokers in metadata: " + ", ".join("%d@%s" % (b["id"], b["name"]) for b in bs))
for t in sorted(d.get("topics", []), key=lambda t: t["topic"]):
    print("  topic %s" % t["topic"])
    for p in sorted(t.get("partitions", []), key=lambda p: p["partition"]):
        reps = [r["id"] for r in p.get("replicas", [])]
        isrs = [r["id"] for r in p.get("isrs", [])]
        print("    p%-3d leader %-3s replicas %-10s isr %s%s" % (p["partition"], p["leader"],
              ",".join(map(str, reps)), ",".join(map(str, isrs)),
              "  (UNDER-REPLICATED)" if len(isrs) < len(reps) else ""))
' || rc=1
    else
        echo "  metadata request FAILED"; rc=1
    fi
    echo "== postgresql"
    if pid=$(pid_of postgres) && "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$CFG_DB_PORT" -t 2; then
        echo "  up: pid $pid, 127.0.0.1:$CFG_DB_PORT, $(PGPASSWORD=$CFG_DB_PASSWORD psql -X -At -h 127.0.0.1 -p "$CFG_DB_PORT" -U tickwatch -d tickwatch -c 'show server_version' 2>/dev/null | sed 's/^/server /')"
    else
        echo "  DOWN"; rc=1
    fi
    echo "== smtp"
    if pid=$(pid_of smtp) && smtp_ready; then
        echo "  up: pid $pid, STARTTLS 127.0.0.1:$CFG_SMTP_PORT_STARTTLS, TLS 127.0.0.1:$CFG_SMTP_PORT_TLS, control $SMTP_CONTROL"
        echo "  $(curl -s -m 3 "$SMTP_CONTROL/mode")"
        echo "  messages in $MAIL_DIR: $(find "$MAIL_DIR" -maxdepth 1 -name '*.eml' 2>/dev/null | wc -l)"
    elif pid=$(pid_of smtp); then
        echo "  process up (pid $pid) but not healthy: $(curl -s -m 3 "$SMTP_CONTROL/mode")"; rc=1
    else
        echo "  DOWN"; rc=1
    fi
    if pid=$(pid_of smtp-sink) && port_listening "$CFG_SMTP_SINK_PORT"; then
        echo "  smtp-sink: pid $pid, 127.0.0.1:$CFG_SMTP_SINK_PORT"
    else
        echo "  smtp-sink: DOWN"; rc=1
    fi
    echo "== quotes"
    if pid=$(pid_of quotes) && quotes_ready; then
        echo "  up: pid $pid, https://127.0.0.1:$CFG_QUOTES_PORT, control $QUOTES_CONTROL"
        echo "  $(curl -s -m 3 "$QUOTES_CONTROL/state")"
    else
        echo "  DOWN or unhealthy"; rc=1
    fi
    local total=0 name kib line=""
    for name in kafka1 kafka2 kafka3 postgres smtp quotes smtp-sink; do
        pid=$(pid_of "$name") || continue
        kib=$(rss_kib "$pid"); total=$((total + kib))
        line+=" $name $((kib / 1024))M"
    done
    echo "== memory (RSS incl. children): total $((total / 1024)) MiB:$line"
    if port_listening 25; then echo "note: something listens on port 25 (a system postfix?); the stack does not use it"; fi
    return $rc
}

cmd_kafka_kill() {  # N
    local n=${1:-}; [[ "$n" =~ ^[123]$ ]] || die "usage: kafka-kill 1|2|3"
    require_up; lock
    local pid; pid=$(pid_of "kafka$n") || die "kafka node $n is not running"
    kill -KILL "$pid"
    local deadline=$((SECONDS + 10))
    while alive "kafka$n" && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
    alive "kafka$n" && die "kafka node $n (pid $pid) survived SIGKILL"
    say "kafka node $n (pid $pid) killed with SIGKILL"
}

cmd_kafka_stop() {  # N : polite stop (SIGTERM, grace, SIGKILL)
    local n=${1:-}; [[ "$n" =~ ^[123]$ ]] || die "usage: kafka-stop 1|2|3"
    require_up; lock
    alive "kafka$n" || { say "kafka node $n is not running"; return 0; }
    STOP_GRACE=${TW_STOP_GRACE:-30} stop_procs "kafka$n:TERM"
    say "kafka node $n stopped"
}

cmd_kafka_start() { # N : restart a stopped node (same data, same cluster) and wait until it serves
    local n=${1:-}; [[ "$n" =~ ^[123]$ ]] || die "usage: kafka-start 1|2|3"
    require_up; lock
    if alive "kafka$n"; then say "kafka node $n is already running"; return 0; fi
    kafka_jars
    echo "$(grep -c 'Kafka Server started' "$STATE/kafka/$n/server.log" 2>/dev/null || true)" >"$STATE/kafka/$n/started-before"
    kafka_start_node "$n"
    local deadline=$((SECONDS + UP_TIMEOUT))
    until kafka_ready 2>/dev/null; do
        alive "kafka$n" || { tail_log "kafka$n" "$STATE/kafka/$n/server.log"; die "kafka node $n died while starting"; }
        [ $SECONDS -lt $deadline ] || { tail_log "kafka$n" "$STATE/kafka/$n/server.log"; die "kafka node $n not ready after ${UP_TIMEOUT}s"; }
        sleep 0.5
    done
    say "kafka node $n is back (pid $(pid_of "kafka$n"))"
}

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

cmd_quotes_mode() { # MODE [--count N] [--delay-ms D]
    require_up
    local mode=${1:-}; [ -n "$mode" ] || die "usage: quotes-mode normal|slow|reset|HTTPSTATUS [--count N] [--delay-ms D]"
    shift
    local args=(--data-urlencode "mode=$mode")
    while [ $# -gt 0 ]; do
        case $1 in
            --count) args+=(--data-urlencode "count=$2"); shift 2 ;;
            --delay-ms) args+=(--data-urlencode "delay_ms=$2"); shift 2 ;;
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
    require_up
    [ $# -eq 2 ] || die "usage: quotes-set encoding length|chunked | quotes-set advance manual|request"
    ctl "$QUOTES_CONTROL/set" --data-urlencode "$1=$2"
}

cmd_quotes_scenario() { # FILE : load a scenario (step back to 0)
    require_up
    local f=${1:-}; [ -f "$f" ] || die "usage: quotes-scenario FILE"
    ctl "$QUOTES_CONTROL/scenario" --data-urlencode "path=$(cd "$(dirname "$f")" && pwd)/$(basename "$f")"
}

cmd_quotes_reset() { # step 0, cursors 0, mode normal, encoding length, advance manual
    require_up
    ctl "$QUOTES_CONTROL/reset" -X POST
}

cmd_logs() { # [COMPONENT]
    load_config
    local c=${1:-all} n
    case $c in
        kafka[123]) tail -n 60 "$STATE/kafka/${c#kafka}/server.log" ;;
        kafka) for n in "${NODES[@]}"; do echo "== kafka$n"; tail -n 20 "$STATE/kafka/$n/server.log"; done ;;
        pg|postgres) tail -n 60 "$STATE/pg/postgres.log" ;;
        smtp) tail -n 60 "$STATE/smtp/smtp.log" ;;
        quotes) tail -n 60 "$STATE/quotes/quotes.log" ;;
        sink|smtp-sink) tail -n 60 "$STATE/sink/smtp-sink.log" ;;
        all) for c in kafka pg smtp quotes sink; do echo "==== $c"; cmd_logs "$c" 2>/dev/null || true; done ;;
        *) die "usage: logs [kafka|kafka1|kafka2|kafka3|pg|smtp|quotes|sink]" ;;
    esac
}

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
  quotes-mode MODE [--count N] [--delay-ms D]
                          MODE: normal | slow | reset | an HTTP status such as 500, 503, 429
  quotes-step [N|+N]      advance the scenario by one step (or +N), or go to step N
  quotes-set KEY VALUE    encoding length|chunked ; advance manual|request
  quotes-scenario FILE    load another scenario file (step back to 0)
  quotes-reset            step 0, mode normal, encoding length, advance manual
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
        help|-h|--help) usage ;;
        *) usage >&2; exit 2 ;;
    esac
}
main "$@"
