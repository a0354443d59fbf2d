# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# SMTP: real TLS (our CA), AUTH, mail files, scripted faults; smtp-sink for benchmarks.

# send PORT_KIND AUTH_MECH PASSWORD TO MARKER [swaks args...] : prints swaks' transcript, returns its status
send() {
    local kind=$1 mech=$2 pw=$3 to=$4 marker=$5; shift 5
    local conn=()
    case $kind in
        starttls) conn=(--port "$TW_SMTP_PORT_STARTTLS" --tls) ;;
        tls) conn=(--port "$TW_SMTP_PORT_TLS" --tlsc) ;;
        plain) conn=(--port "$TW_SMTP_PORT_STARTTLS") ;;
    esac
    local auth=()
    [ "$mech" = none ] || auth=(--auth "$mech" --auth-user "$TW_SMTP_USER" --auth-password "$pw")
    swaks --server "$TW_SMTP_HOST" "${conn[@]}" --tls-verify --tls-ca-path "$TW_CA_FILE" "${auth[@]}" \
        --timeout 15 --from "sender@example.test" --to "$to" \
        --header "Subject: stack test $marker" --body "body $marker" "$@" 2>&1
}
mail_file() { grep -l -F "$1" "$TW_MAIL_DIR"/*.eml 2>/dev/null | head -n 1; }
has_mail() { [ -n "$(mail_file "$1")" ]; }
no_mail() { ! has_mail "$1" || fail "a message with marker $1 was stored"; }
normal_on_exit() { trap '"$STACK" smtp-mode normal >/dev/null 2>&1 || true' EXIT; "$STACK" smtp-mode normal >/dev/null; }

test_smtp_starttls_auth_plain_delivers() {
    local m; m=$(uniq_id)
    local out; out=$(send starttls PLAIN "$TW_SMTP_PASSWORD" "to@example.test" "$m") || { echo "$out" >&2; fail "swaks failed"; }
    assert_contains "$out" "235 2.7.0 Authentication successful" "AUTH PLAIN"
    wait_until 10 "mail file with $m" has_mail "$m"
    local f; f=$(mail_file "$m")
    grep -q "^X-Stack-Channel: starttls" "$f" || fail "not marked as received over STARTTLS"
    grep -q "^X-Stack-Auth-User: $TW_SMTP_USER" "$f" || fail "authenticated user not recorded"
    grep -q "^X-Stack-Rcpt-To: <to@example.test>" "$f" || fail "recipient not recorded"
    grep -q "^Subject: stack test $m" "$f" || fail "message headers not stored"
    [ -z "$(ls -A "$TW_MAIL_DIR/.tmp" 2>/dev/null)" ] || fail "temporary files left in $TW_MAIL_DIR/.tmp"
}

test_smtp_auth_login_delivers() {
    local m; m=$(uniq_id)
    local out; out=$(send starttls LOGIN "$TW_SMTP_PASSWORD" "to@example.test" "$m") || { echo "$out" >&2; fail "swaks failed"; }
    assert_contains "$out" "AUTH LOGIN" "mechanism"
    wait_until 10 "mail file with $m" has_mail "$m"
}

test_smtp_implicit_tls_delivers() {
    local m; m=$(uniq_id)
    local out; out=$(send tls PLAIN "$TW_SMTP_PASSWORD" "to@example.test" "$m") || { echo "$out" >&2; fail "swaks failed"; }
    wait_until 10 "mail file with $m" has_mail "$m"
    grep -q "^X-Stack-Channel: tls" "$(mail_file "$m")" || fail "not marked as received over implicit TLS"
}

test_smtp_certificate_verifies_for_ip_and_localhost() {
    local out
    out=$(openssl s_client -connect "127.0.0.1:$TW_SMTP_PORT_STARTTLS" -starttls smtp -CAfile "$TW_CA_FILE" \
        -verify_return_error -verify_ip 127.0.0.1 </dev/null 2>&1) || { echo "$out" >&2; fail "STARTTLS cert did not verify for 127.0.0.1"; }
    assert_contains "$out" "Verify return code: 0 (ok)" "STARTTLS verify"
    out=$(openssl s_client -connect "127.0.0.1:$TW_SMTP_PORT_TLS" -servername localhost -CAfile "$TW_CA_FILE" \
        -verify_return_error -verify_hostname localhost </dev/null 2>&1) || { echo "$out" >&2; fail "TLS cert did not verify for localhost"; }
    assert_contains "$out" "Verify return code: 0 (ok)" "implicit TLS verify"
    # and not by the system's trust store: it is our own CA
    if openssl s_client -connect "127.0.0.1:$TW_SMTP_PORT_TLS" -verify_return_error </dev/null >/dev/null 2>&1; then
        fail "server certificate verified without the stack CA"
    fi
}

test_smtp_wrong_password_refused() {
    local m; m=$(uniq_id)
    local out
    if out=$(send starttls PLAIN "wrong-$RANDOM" "to@example.test" "$m"); then fail "swaks succeeded with a wrong password"; fi
    assert_contains "$out" "535 5.7.8" "AUTH reply"
    sleep 1; no_mail "$m"
}

test_smtp_requires_starttls_and_auth() {
    local m; m=$(uniq_id)
    local out
    if out=$(send plain none x "to@example.test" "$m"); then fail "accepted mail without TLS and AUTH"; fi
    assert_contains "$out" "530" "reply without STARTTLS"
    if out=$(send starttls none x "to@example.test" "$m"); then fail "accepted mail without AUTH"; fi
    assert_contains "$out" "530" "reply without AUTH"
    sleep 1; no_mail "$m"
}

test_smtp_pipelining() {
    local m; m=$(uniq_id)
    local out; out=$(send starttls PLAIN "$TW_SMTP_PASSWORD" "to@example.test" "$m" --pipeline) || { echo "$out" >&2; fail "swaks --pipeline failed"; }
    assert_contains "$out" "250-PIPELINING" "EHLO"
    wait_until 10 "mail file with $m" has_mail "$m"
}

test_smtp_mode_421_then_normal() {
    normal_on_exit
    local m out; m=$(uniq_id)
    "$STACK" smtp-mode 421 >/dev/null
    if out=$(send starttls PLAIN "$TW_SMTP_PASSWORD" "to@example.test" "$m"); then fail "delivered in 421 mode"; fi
    assert_contains "$out" "421 4.3.2" "greeting"
    if out=$(send tls PLAIN "$TW_SMTP_PASSWORD" "to@example.test" "$m"); then fail "delivered in 421 mode (TLS port)"; fi
    assert_contains "$out" "421 4.3.2" "greeting (TLS port)"
    "$STACK" smtp-mode normal >/dev/null
    out=$(send starttls PLAIN "$TW_SMTP_PASSWORD" "to@example.test" "$m") || { echo "$out" >&2; fail "normal mode did not restore delivery"; }
    wait_until 10 "mail file with $m" has_mail "$m"
}

test_smtp_mode_451_once_then_delivers() {
    normal_on_exit
    local m out; m=$(uniq_id)
    "$STACK" smtp-mode 451 --count 1 >/dev/null
    if out=$(send starttls PLAIN "$TW_SMTP_PASSWORD" "to@example.test" "$m"); then fail "delivered in 451 mode"; fi
    assert_contains "$out" "451 4.3.0" "RCPT reply"
    no_mail "$m"
    out=$(send starttls PLAIN "$TW_SMTP_PASSWORD" "to@example.test" "$m") || { echo "$out" >&2; fail "second attempt after 451 --count 1 failed"; }
    wait_until 10 "mail file with $m" has_mail "$m"
    assert_eq normal "$(curl -s "$TW_SMTP_CONTROL/mode" | json 'd["mode"]')" "mode after count ran out"
}

test_smtp_mode_550_for_one_recipient() {
    normal_on_exit
    local m out; m=$(uniq_id)
    "$STACK" smtp-mode 550 bad@example.test >/dev/null
    if out=$(send starttls PLAIN "$TW_SMTP_PASSWORD" "bad@example.test" "$m-bad"); then fail "delivered to the 550 recipient"; fi
    assert_contains "$out" "550 5.1.1" "RCPT reply"
    out=$(send starttls PLAIN "$TW_SMTP_PASSWORD" "good@example.test" "$m-good") || { echo "$out" >&2; fail "other recipient refused in targeted 550 mode"; }
    wait_until 10 "mail file for good recipient" has_mail "$m-good"
    no_mail "$m-bad"
    "$STACK" smtp-mode 550 >/dev/null
    if out=$(send starttls PLAIN "$TW_SMTP_PASSWORD" "good@example.test" "$m-all"); then fail "delivered in 550 mode"; fi
    assert_contains "$out" "550 5.1.1" "RCPT reply (all recipients)"
}

test_smtp_mode_refuse_then_normal() {
    normal_on_exit
    local m out; m=$(uniq_id)
    "$STACK" smtp-mode refuse >/dev/null
    if (exec 3<>"/dev/tcp/127.0.0.1/$TW_SMTP_PORT_STARTTLS") 2>/dev/null; then fail "STARTTLS port still accepts connections"; fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$TW_SMTP_PORT_TLS") 2>/dev/null; then fail "TLS port still accepts connections"; fi
    if out=$(send starttls PLAIN "$TW_SMTP_PASSWORD" "to@example.test" "$m"); then fail "delivered in refuse mode"; fi
    assert_contains "$out" "refused" "swaks error"
    "$STACK" smtp-mode normal >/dev/null
    out=$(send starttls PLAIN "$TW_SMTP_PASSWORD" "to@example.test" "$m") || { echo "$out" >&2; fail "normal mode did not restore delivery"; }
    wait_until 10 "mail file with $m" has_mail "$m"
}

test_smtp_mode_stall_client_times_out() {
    normal_on_exit
    local m out; m=$(uniq_id)
    "$STACK" smtp-mode stall >/dev/null
    if out=$(send starttls PLAIN "$TW_SMTP_PASSWORD" "to@example.test" "$m" --timeout 2); then fail "delivered in stall mode"; fi
    assert_contains "$out" "Connected to" "TCP connection"
    assert_contains "$out" "Timeout" "client time-out"
    assert_not_contains "$out" "<-  220" "greeting"
    "$STACK" smtp-mode normal >/dev/null
    out=$(send starttls PLAIN "$TW_SMTP_PASSWORD" "to@example.test" "$m") || { echo "$out" >&2; fail "normal mode did not restore delivery"; }
    wait_until 10 "mail file with $m" has_mail "$m"
}

test_smtp_sink_accepts_mail() {
    local out
    out=$(swaks --server 127.0.0.1 --port "$TW_SMTP_SINK_PORT" --timeout 15 --from a@example.test \
        --to b@example.test --body "sink $(uniq_id)" 2>&1) || { echo "$out" >&2; fail "smtp-sink did not accept mail"; }
    assert_contains "$out" "250" "sink reply"
    assert_contains "$out" "PIPELINING" "sink EHLO"
}
