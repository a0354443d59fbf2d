# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# lifecycle.sh - the commands of scripts/stack.sh that span every component (sourced by it):
# up, down, env, status, logs. Each component file (kafka.sh, pg.sh, ...) provides NAME_up_begin,
# NAME_ready, NAME_up_died, NAME_up_tail and NAME_status for the names in COMPONENTS.

# The streaming replica of PostgreSQL (made from it once it is ready: last in the list).
# shellcheck source=scripts/stack/replica.sh
. "$REPO/scripts/stack/replica.sh"
COMPONENTS+=(replica)

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
    local comp
    mkdir -p "$STATE/smtp"
    [ -f "$STATE/smtp/password" ] || { printf '%s\n' "$CFG_SMTP_PASSWORD" >"$STATE/smtp/password"; chmod 600 "$STATE/smtp/password"; }
    tls_make
    # Kafka first: its JVMs take longest; the rest starts while they boot.
    for comp in "${COMPONENTS[@]}"; do "${comp}_up_begin"; done

    local deadline=$((t0 + UP_TIMEOUT)) pending
    local -A done_=()
    while :; do
        pending=()
        for comp in "${COMPONENTS[@]}"; do
            [ -n "${done_[$comp]:-}" ] && continue
            if "${comp}_ready" 2>/dev/null; then
                done_[$comp]=1; say "$comp ready ($((SECONDS - t0))s)"
            else
                pending+=("$comp")
                # a process that died will not become ready: fail now
                "${comp}_up_died"
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

up_failed() {  # COMPONENT REASON : show the component's logs, stop what was started, exit 1
    say "up failed: $2"
    "${1}_up_tail"
    up_cleanup
    exit 1
}

cmd_down() {
    [ -d "$STATE" ] || { say "nothing to stop ($STATE does not exist)"; return 0; }
    lock
    load_config
    # everything at once: Kafka nodes must stop together (a lone node waits for its quorum)
    stop_procs kafka1:TERM kafka2:TERM kafka3:TERM postgres:INT replica:INT smtp:TERM quotes:TERM smtp-sink:TERM toxiproxy:TERM
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
    replica_env
    toxiproxy_env
    kafka_env   # SASL_SSL listeners (kafka.sh)
    pg_env      # the TLS-only role (pg.sh)
    echo "export TW_STACK_TLS_NAMES='${TLS_NAMES[*]}'"
}

status_bad() { STATUS_RC=1; }  # a component's NAME_status found something wrong

cmd_status() {  # each component prints its section, calling status_bad for what is wrong
    require_up
    STATUS_RC=0
    echo "state: $STATE"
    kafka_status
    pg_status
    replica_status
    smtp_status
    sink_status
    quotes_status
    toxiproxy_status
    local total=0 name pid kib line=""
    for name in kafka1 kafka2 kafka3 postgres replica smtp quotes smtp-sink toxiproxy; do
        pid=$(pid_of "$name") || continue
        kib=$(rss_kib "$pid"); total=$((total + kib))
        line+=" $name $((kib / 1024))M"
    done
    echo "== memory (RSS incl. children): total $((total / 1024)) MiB:$line"
    if port_listening 25; then echo "note: something listens on port 25 (a system postfix?); the stack does not use it"; fi
    return $STATUS_RC
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
