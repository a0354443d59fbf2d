# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# pg.sh - the PostgreSQL cluster of scripts/stack.sh (sourced by it): initdb, start,
# roles, readiness and status. TLS is on (the stack CA's certificate, valid for
# db.tickwatch.test); role tickwatch_tls (the production-like attach of docs/device.md) may log
# in only over TLS (hostssl + SCRAM), role tickwatch as before over plain TCP or TLS.

pg_tls_load() {  # the TLS role's password: made once per fresh cluster, in $STATE/pg/tls.env
    local f=$STATE/pg/tls.env
    if [ -f "$f" ]; then
        # shellcheck disable=SC1090
        . "$f"
    else
        PG_TLS_PASSWORD=$(rand_secret)
        printf "PG_TLS_PASSWORD='%s'\n" "$PG_TLS_PASSWORD" >"$f.tmp"
        chmod 600 "$f.tmp"; mv "$f.tmp" "$f"
    fi
}
pg_env() {  # the TLS lines of `scripts/stack.sh env` (none for a stack made before TLS)
    [ -f "$STATE/pg/tls.env" ] || return 0
    pg_tls_load
    cat <<EOF
export TW_DB_TLS_HOST='db.tickwatch.test'
export TW_DB_TLS_USER='tickwatch_tls'
export TW_DB_TLS_NAME='tickwatch_tls'
export TW_DB_TLS_PASSWORD='$PG_TLS_PASSWORD'
export TW_DB_TLS_URL='postgresql://tickwatch_tls:$PG_TLS_PASSWORD@db.tickwatch.test:$CFG_DB_PORT/tickwatch_tls?sslmode=verify-full&sslrootcert=$CA_FILE'
EOF
}

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
ssl = on
ssl_cert_file = 'server-chain.crt'
ssl_key_file = 'server.key'
ssl_min_protocol_version = 'TLSv1.2'
EOF
        cat >"$d/data/pg_hba.conf" <<EOF
# scripts/stack.sh: passwords (SCRAM) everywhere, loopback only; tickwatch_tls only over TLS
local   all tickwatch_tls              reject
hostssl all tickwatch_tls 127.0.0.1/32 scram-sha-256
host    all tickwatch_tls 127.0.0.1/32 reject
local   all all                scram-sha-256
host    all all 127.0.0.1/32   scram-sha-256
EOF
        install -m 0644 "$STATE/tls/server-chain.crt" "$d/data/server-chain.crt"
        install -m 0600 "$STATE/tls/server.key" "$d/data/server.key"
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
        pg_tls_load
        pg_admin_sql -c "CREATE ROLE tickwatch LOGIN CREATEDB PASSWORD '$CFG_DB_PASSWORD'" \
            -c "CREATE DATABASE tickwatch OWNER tickwatch" \
            -c "CREATE ROLE tickwatch_tls LOGIN CREATEDB PASSWORD '$PG_TLS_PASSWORD'" \
            -c "CREATE DATABASE tickwatch_tls OWNER tickwatch_tls" >>"$STATE/pg/roles.log" 2>&1 || return 1
        rm -f "$STATE/pg/needs-roles"
    fi
    PGPASSWORD=$CFG_DB_PASSWORD psql -X -q -At -h 127.0.0.1 -p "$CFG_DB_PORT" -U tickwatch -d tickwatch \
        -c 'select 1' 2>/dev/null | grep -qx 1
}

# ---------------------------------------------------------------- hooks of up and status
pg_up_died() { alive postgres || up_failed pg "postgres died"; }
pg_up_tail() {
    tail_log postgres "$STATE/pg/postgres.log"
    if [ -f "$STATE/pg/roles.log" ]; then tail_log roles "$STATE/pg/roles.log"; fi
}

pg_status() {  # the server and its version; status_bad if wrong
    local pid
    echo "== postgresql"
    if pid=$(pid_of postgres) && "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$CFG_DB_PORT" -t 2; then
        echo "  up: pid $pid, 127.0.0.1:$CFG_DB_PORT, $(PGPASSWORD=$CFG_DB_PASSWORD psql -X -At -h 127.0.0.1 -p "$CFG_DB_PORT" -U tickwatch -d tickwatch -c 'show server_version' 2>/dev/null | sed 's/^/server /')"
    else
        echo "  DOWN"; status_bad
    fi
}
