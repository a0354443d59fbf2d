# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# PostgreSQL: a real server, password (SCRAM) required.

export PGPASSFILE=/dev/null PGCONNECT_TIMEOUT=10

test_pg_accepts_the_password() {
    local out t=stack_t_$RANDOM
    out=$(psql "$TW_DB_URL" -X -q -At -v ON_ERROR_STOP=1 \
        -c "select current_user || '/' || current_database()" \
        -c "create table $t (v text)" -c "insert into $t values ('ok')" -c "select v from $t" \
        -c "drop table $t")
    assert_eq "tickwatch/tickwatch
ok" "$out" "query result"
    # and the URL really is loopback TCP with the documented parts
    assert_eq "postgresql://$TW_DB_USER:$TW_DB_PASSWORD@$TW_DB_HOST:$TW_DB_PORT/$TW_DB_NAME" "$TW_DB_URL" "TW_DB_URL"
}

test_pg_rejects_a_wrong_password() {
    local out
    if out=$(psql "postgresql://tickwatch:wrong-$RANDOM@127.0.0.1:$TW_DB_PORT/tickwatch" -X -w -c 'select 1' 2>&1); then
        fail "a wrong password was accepted"
    fi
    assert_contains "$out" "password authentication failed" "psql error"
}

test_pg_rejects_no_password() {
    local out
    if out=$(env -u PGPASSWORD psql -X -w -h 127.0.0.1 -p "$TW_DB_PORT" -U tickwatch -d tickwatch -c 'select 1' 2>&1); then
        fail "a connection without password was accepted (trust?)"
    fi
    assert_contains "$out" "password" "psql error"
}

test_pg_uses_scram() {
    local out
    out=$(psql "$TW_DB_URL" -X -At -c "show password_encryption")
    assert_eq "scram-sha-256" "$out" "password_encryption"
}
