# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# The stack as a whole: env is complete, status is healthy, everything listens on loopback only.

test_env_has_every_variable() {
    local v
    for v in TW_STACK_DIR TW_KAFKA_BOOTSTRAP TW_KAFKA_CLUSTER_ID TW_KAFKA_JARS TW_DB_URL TW_DB_HOST \
             TW_DB_PORT TW_DB_NAME TW_DB_USER TW_DB_PASSWORD TW_SMTP_HOST TW_SMTP_PORT_STARTTLS \
             TW_SMTP_PORT_TLS TW_SMTP_USER TW_SMTP_PASSWORD TW_SMTP_CONTROL TW_SMTP_SINK_PORT \
             TW_MAIL_DIR TW_CA_FILE TW_QUOTES_BASE TW_QUOTES_CONTROL TW_QUOTES_SCENARIO \
             TW_DB_READ_URL TW_DB_REPLICA_PORT; do
        [ -n "${!v:-}" ] || fail "$v is empty or unset in 'stack.sh env'"
    done
    [ -d "$TW_MAIL_DIR" ] || fail "TW_MAIL_DIR $TW_MAIL_DIR is not a folder"
    openssl x509 -in "$TW_CA_FILE" -noout -text | grep -q 'CA:TRUE' || fail "TW_CA_FILE is not a CA certificate"
    ls "$TW_KAFKA_JARS"/kafka_2.13-*.jar >/dev/null || fail "TW_KAFKA_JARS has no kafka_2.13 jar"
    assert_eq 3 "$(tr ',' '\n' <<<"$TW_KAFKA_BOOTSTRAP" | grep -c '^127\.0\.0\.1:[0-9]*$')" "bootstrap entries"
}

test_status_reports_every_component() {
    local out
    out=$("$STACK" status) || { echo "$out" >&2; fail "stack.sh status exited non-zero"; }
    assert_contains "$out" "brokers in metadata: 1@127.0.0.1" "status kafka"
    assert_contains "$out" "== postgresql" "status pg"
    assert_contains "$out" "127.0.0.1:$TW_DB_REPLICA_PORT, standby" "status replica"
    assert_contains "$out" "STARTTLS 127.0.0.1:$TW_SMTP_PORT_STARTTLS" "status smtp"
    assert_contains "$out" "smtp-sink: pid" "status smtp-sink"
    assert_contains "$out" "https://127.0.0.1:" "status quotes"
    assert_not_contains "$out" "DOWN" "status"
}

test_every_port_listens_on_loopback_only() {
    local p n ports=("$TW_DB_PORT" "$TW_DB_REPLICA_PORT" "$TW_SMTP_PORT_STARTTLS" "$TW_SMTP_PORT_TLS" "$TW_SMTP_CONTROL_PORT"
                     "$TW_SMTP_SINK_PORT" "$TW_QUOTES_PORT" "$TW_QUOTES_CONTROL_PORT")
    for n in 0 1 2; do ports+=($((TW_KAFKA_PORT_BASE + n)) $((TW_KAFKA_CONTROLLER_PORT_BASE + n))); done
    for p in "${ports[@]}"; do
        local addrs
        addrs=$(ss -Hltn "sport = :$p" | awk '{print $4}' | sort -u)
        [ -n "$addrs" ] || fail "nothing listens on port $p"
        [ "$addrs" = "127.0.0.1:$p" ] || fail "port $p listens on '$addrs', not only 127.0.0.1"
    done
}

test_up_is_idempotent() {
    local before after out
    before=$(cat "$TW_STACK_DIR"/pids/* | sort)
    out=$("$STACK" up 2>&1) || { echo "$out" >&2; fail "second 'up' failed"; }
    after=$(cat "$TW_STACK_DIR"/pids/* | sort)
    assert_eq "$before" "$after" "tracked processes after a second 'up'"
}
