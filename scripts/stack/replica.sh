# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# replica.sh - a streaming replica of the stack's PostgreSQL (sourced by scripts/stack.sh through
# lifecycle.sh): pg_basebackup of the primary onto port TW_DB_REPLICA_PORT (default: the
# primary's + 1), hot_standby, fed by streaming replication. `env` prints TW_DB_READ_URL (the
# tickwatch database on the replica) for tests of [db] read_url; the role tickwatch may pause
# and resume the replica's replay (pg_wal_replay_pause/resume, granted on the primary in the
# tickwatch database and template1), so a test can hold the replica behind the primary.

replica_dir() { readlink -f "$STATE/replica" 2>/dev/null || echo "$STATE/replica"; }

replica_port() {  # fixed when the replica is made, kept in $STATE/replica/port
    local f
    f=$(replica_dir)/port
    if [ -f "$f" ]; then cat "$f"; else echo "${TW_DB_REPLICA_PORT:-$((CFG_DB_PORT + 1))}"; fi
}

replica_prepare_dir() {  # as pg_prepare_dir: $STATE/replica, or a link to /tmp when root
    local d=$STATE/replica alt
    if [ -L "$d" ]; then rm -rf "$(readlink "$d")"; fi
    rm -rf "$d"
    if [ "$(id -u)" -eq 0 ] && ! setpriv --reuid=nobody --regid=nogroup --clear-groups -- test -x "$STATE"; then
        alt=/tmp/tickwatch-stack-replica-$(printf '%s' "$STATE" | sha256sum | cut -c1-12)
        rm -rf "$alt"; mkdir -p "$alt"; chmod 755 "$alt"
        ln -s "$alt" "$d"
    else
        mkdir -p "$d"
    fi
}

# The primary must be up first: the copy is made by replica_ready, once pg is ready.
replica_up_begin() { rm -f "$STATE/replica-failed"; }

replica_spawn() {
    local d
    d=$(replica_dir)
    if [ "$(id -u)" -eq 0 ]; then
        spawn replica "$d/postgres.log" setpriv --reuid=nobody --regid=nogroup --clear-groups -- \
            "$PGBIN/postgres" -D "$d/data"
    else
        spawn replica "$d/postgres.log" "$PGBIN/postgres" -D "$d/data"
    fi
}

replica_make() {  # pg_basebackup from the primary, then the replica's own settings
    local d port hba
    port=$(replica_port)
    # (function privileges are per database: the tickwatch database and new ones from template1)
    local g="GRANT EXECUTE ON FUNCTION pg_wal_replay_pause(), pg_wal_replay_resume() TO tickwatch"
    pg_admin_sql -c '\connect tickwatch' -c "$g" -c '\connect template1' -c "$g" \
        >>"$STATE/pg/roles.log" 2>&1 || return 1
    hba=$(readlink -f "$STATE/pg")/data/pg_hba.conf
    if ! grep -q '^host *replication' "$hba"; then
        printf 'host    replication all 127.0.0.1/32   scram-sha-256\n' >>"$hba"
        pg_admin_sql -c "SELECT pg_reload_conf()" >/dev/null 2>&1 || return 1
    fi
    replica_prepare_dir
    d=$(replica_dir)
    own_unpriv "$d/"
    if ! run_unpriv "$PGBIN/pg_basebackup" \
            -d "host=127.0.0.1 port=$CFG_DB_PORT user=postgres password=$CFG_DB_ADMIN_PASSWORD" \
            -D "$d/data" -R -X stream -c fast --no-sync >"$d/basebackup.log" 2>&1; then
        tail_log pg_basebackup "$d/basebackup.log"; return 1
    fi
    printf '%s\n' "$port" >"$d/port"
    cat >>"$d/data/postgresql.conf" <<EOC

# --- scripts/stack/replica.sh: the streaming replica ---
port = $port
unix_socket_directories = ''
hot_standby = on
hot_standby_feedback = on
EOC
    own_unpriv "$d/"
    replica_spawn
}

replica_ready() {
    local port
    if ! alive replica; then
        pg_ready 2>/dev/null || return 1
        if [ -f "$(replica_dir)/data/standby.signal" ]; then   # made before: start it again
            replica_spawn
        else
            replica_make || { touch "$STATE/replica-failed"; return 1; }
        fi
        return 1
    fi
    port=$(replica_port)
    "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$port" -t 2 || return 1
    [ "$(PGPASSWORD=$CFG_DB_PASSWORD psql -X -q -At -h 127.0.0.1 -p "$port" -U tickwatch -d tickwatch \
        -c 'SELECT pg_is_in_recovery()' 2>/dev/null)" = t ]
}

replica_env() {
    local port
    port=$(replica_port)
    printf "export TW_DB_REPLICA_PORT='%s'\n" "$port"
    printf "export TW_DB_READ_URL='postgresql://tickwatch:%s@127.0.0.1:%s/tickwatch'\n" \
        "$CFG_DB_PASSWORD" "$port"
}

# ---------------------------------------------------------------- hooks of up and status
replica_up_died() {
    if [ -f "$STATE/replica-failed" ]; then
        rm -f "$STATE/replica-failed"; up_failed replica "pg_basebackup or its setup failed"
    fi
    if [ -f "$(replica_dir)/data/standby.signal" ] && [ -f "$STATE/pids/replica" ] && ! alive replica; then
        up_failed replica "the replica died"
    fi
}
replica_up_tail() {
    local d
    d=$(replica_dir)
    if [ -f "$d/basebackup.log" ]; then tail_log pg_basebackup "$d/basebackup.log"; fi
    if [ -f "$d/postgres.log" ]; then tail_log replica "$d/postgres.log"; fi
}

replica_status() {  # the replica, in recovery, and its replay
    local pid port
    port=$(replica_port)
    echo "== postgresql replica"
    if pid=$(pid_of replica) && "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$port" -t 2; then
        echo "  up: pid $pid, 127.0.0.1:$port, $(PGPASSWORD=$CFG_DB_PASSWORD psql -X -At -h 127.0.0.1 \
            -p "$port" -U tickwatch -d tickwatch -c "SELECT CASE WHEN pg_is_in_recovery() THEN \
'standby' ELSE 'NOT a standby' END || ', replay ' || CASE WHEN pg_is_wal_replay_paused() THEN \
'PAUSED' ELSE 'running' END" 2>/dev/null)"
    else
        echo "  DOWN"; status_bad
    fi
}
