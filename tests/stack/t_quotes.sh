# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Quote server: Yahoo chart shape over HTTPS (our CA), scenario steps, keep-alive, chunked, faults.

qctl() { curl -sf -m 10 -X POST "$TW_QUOTES_CONTROL/$1" "${@:2}" >/dev/null || fail "control $1 failed"; }
fresh() { trap 'qctl reset' EXIT; qctl reset; }
get() { curl -sS -m 20 --cacert "$TW_CA_FILE" "$TW_QUOTES_BASE/v8/finance/chart/$1" "${@:2}"; }
scen() { json "$1" <"$TW_QUOTES_SCENARIO"; }

test_quotes_serves_steps_in_order() {
    fresh
    local n i body want t0 dt
    n=$(scen 'len(d["tickers"]["AAPL"]["prices"])'); t0=$(scen 'd["start_time"]'); dt=$(scen 'd["step_seconds"]')
    [ "$n" -ge 3 ] || fail "scenario needs >= 3 AAPL steps"
    for ((i = 0; i < n + 2; i++)); do
        body=$(get AAPL) || fail "GET AAPL at step $i failed"
        want=$(scen "d['tickers']['AAPL']['prices'][min($i, $n - 1)]")
        assert_eq "$want" "$(json 'd["chart"]["result"][0]["meta"]["regularMarketPrice"]' <<<"$body")" "price at step $i"
        assert_eq "$((t0 + i * dt))" "$(json 'd["chart"]["result"][0]["meta"]["regularMarketTime"]' <<<"$body")" "time at step $i"
        assert_eq AAPL "$(json 'd["chart"]["result"][0]["meta"]["symbol"]' <<<"$body")" "symbol"
        assert_eq USD "$(json 'd["chart"]["result"][0]["meta"]["currency"]' <<<"$body")" "currency"
        assert_eq null "$(json 'd["chart"]["error"]' <<<"$body")" "chart.error"
        "$STACK" quotes-step >/dev/null
    done
    # the step is global: another ticker sees the same step; EUR comes from the scenario
    "$STACK" quotes-step 2 >/dev/null
    body=$(get SAP.DE)
    assert_eq "$(scen 'd["tickers"]["SAP.DE"]["prices"][2]')" "$(json 'd["chart"]["result"][0]["meta"]["regularMarketPrice"]' <<<"$body")" "SAP.DE at step 2"
    assert_eq EUR "$(json 'd["chart"]["result"][0]["meta"]["currency"]' <<<"$body")" "SAP.DE currency"
}

test_quotes_per_request_advance() {
    fresh
    qctl set --data-urlencode advance=request
    local i
    for i in 0 1 2; do
        assert_eq "$(scen "d['tickers']['MSFT']['prices'][$i]")" \
            "$(get MSFT | json 'd["chart"]["result"][0]["meta"]["regularMarketPrice"]')" "MSFT request $i"
    done
    assert_eq "$(scen 'd["tickers"]["NVDA"]["prices"][0]')" \
        "$(get NVDA | json 'd["chart"]["result"][0]["meta"]["regularMarketPrice"]')" "NVDA has its own cursor"
}

test_quotes_unknown_ticker_is_yahoo_not_found() {
    fresh
    local body code
    code=$(get NOSUCHTICKER -o /dev/null -w '%{http_code}')
    assert_eq 404 "$code" "status"
    body=$(get NOSUCHTICKER)
    assert_eq null "$(json 'd["chart"]["result"]' <<<"$body")" "chart.result"
    assert_eq "Not Found" "$(json 'd["chart"]["error"]["code"]' <<<"$body")" "chart.error.code"
    [ -n "$(json 'd["chart"]["error"]["description"]' <<<"$body")" ] || fail "no chart.error.description"
}

test_quotes_tls_uses_stack_ca_for_ip_and_localhost() {
    fresh
    curl -sSf -m 10 --cacert "$TW_CA_FILE" "https://127.0.0.1:$TW_QUOTES_PORT/v8/finance/chart/AAPL" >/dev/null || fail "127.0.0.1 did not verify"
    curl -sSf -m 10 --cacert "$TW_CA_FILE" "https://localhost:$TW_QUOTES_PORT/v8/finance/chart/AAPL" >/dev/null || fail "localhost did not verify"
    local rc=0
    curl -sS -m 10 "$TW_QUOTES_BASE/v8/finance/chart/AAPL" >/dev/null 2>&1 || rc=$?
    assert_eq 60 "$rc" "curl status without the stack CA (60 = peer certificate not trusted)"
}

test_quotes_keepalive_with_length_and_chunked() {
    fresh
    local out
    out=$(curl -sv -m 20 --cacert "$TW_CA_FILE" "$TW_QUOTES_BASE/v8/finance/chart/AAPL" "$TW_QUOTES_BASE/v8/finance/chart/MSFT" 2>&1 >/dev/null)
    assert_contains "$out" "Re-using existing connection" "keep-alive"
    assert_contains "$out" "< Content-Length:" "length encoding"
    qctl set --data-urlencode encoding=chunked
    out=$(curl -sv -m 20 --cacert "$TW_CA_FILE" "$TW_QUOTES_BASE/v8/finance/chart/AAPL" "$TW_QUOTES_BASE/v8/finance/chart/MSFT" 2>&1)
    assert_contains "$out" "< Transfer-Encoding: chunked" "chunked encoding"
    assert_contains "$out" "Re-using existing connection" "keep-alive with chunked"
    assert_not_contains "$out" "< Content-Length:" "chunked response"
    [ "$(get MSFT | json 'd["chart"]["result"][0]["meta"]["symbol"]')" = MSFT ] || fail "chunked body did not decode"
}

test_quotes_fail_500_on_demand() {
    fresh
    "$STACK" quotes-mode 500 --count 2 >/dev/null
    local body
    assert_eq 500 "$(get AAPL -o /dev/null -w '%{http_code}')" "first request"
    body=$(get AAPL)
    assert_eq "Internal Server Error" "$(json 'd["chart"]["error"]["code"]' <<<"$body")" "error body of second request"
    assert_eq 200 "$(get AAPL -o /dev/null -w '%{http_code}')" "after the count ran out"
    "$STACK" quotes-mode 503 >/dev/null
    assert_eq 503 "$(get AAPL -o /dev/null -w '%{http_code}')" "503 mode"
    assert_eq 503 "$(get AAPL -o /dev/null -w '%{http_code}')" "503 mode stays"
    "$STACK" quotes-mode normal >/dev/null
    assert_eq 200 "$(get AAPL -o /dev/null -w '%{http_code}')" "normal mode"
}

test_quotes_reset_on_demand() {
    fresh
    "$STACK" quotes-mode reset --count 1 >/dev/null
    local out rc=0
    out=$(get AAPL 2>&1) || rc=$?
    assert_eq 56 "$rc" "curl status (56 = failure receiving data)"
    assert_contains "$out" "reset by peer" "curl error"
    assert_eq 200 "$(get AAPL -o /dev/null -w '%{http_code}')" "after the reset"
}

test_quotes_slow_trips_client_timeout() {
    fresh
    "$STACK" quotes-mode slow --delay-ms 4000 --count 1 >/dev/null
    local rc=0
    curl -sS -m 1 --cacert "$TW_CA_FILE" "$TW_QUOTES_BASE/v8/finance/chart/AAPL" >/dev/null 2>&1 || rc=$?
    assert_eq 28 "$rc" "curl status (28 = operation timed out)"
    # the slow mode was used up by that request: the next one answers (even while the slow one sleeps)
    assert_eq 200 "$(get AAPL -o /dev/null -w '%{http_code}')" "after the slow one"
    # without a client time-out the slow answer does arrive
    "$STACK" quotes-mode slow --delay-ms 1500 --count 1 >/dev/null
    assert_eq 200 "$(get AAPL -o /dev/null -w '%{http_code}')" "slow answer"
}

test_quotes_scenario_can_be_swapped() {
    fresh
    f=$TW_STACK_DIR/test-scenario-$$.json   # global: the EXIT trap runs after this function returns
    trap '"$STACK" quotes-scenario "$TW_QUOTES_SCENARIO" >/dev/null 2>&1; qctl reset; rm -f "$f"' EXIT
    cat >"$f" <<'JSON'
{"start_time": 1000, "step_seconds": 10, "tickers": {"ZZZ": {"currency": "GBp", "prices": [1.5, 2.5]}}}
JSON
    "$STACK" quotes-step 1 >/dev/null
    "$STACK" quotes-scenario "$f" >/dev/null
    local body; body=$(get ZZZ)
    assert_eq 1.5 "$(json 'd["chart"]["result"][0]["meta"]["regularMarketPrice"]' <<<"$body")" "price at step 0 of the new scenario"
    assert_eq GBp "$(json 'd["chart"]["result"][0]["meta"]["currency"]' <<<"$body")" "currency"
    assert_eq 1000 "$(json 'd["chart"]["result"][0]["meta"]["regularMarketTime"]' <<<"$body")" "time"
    assert_eq 404 "$(get AAPL -o /dev/null -w '%{http_code}')" "AAPL is not in the new scenario"
    echo '{"tickers": {}}' >"$f.bad"
    if "$STACK" quotes-scenario "$f.bad" >/dev/null 2>&1; then fail "an invalid scenario was accepted"; fi
    rm -f "$f.bad"
    assert_eq 1.5 "$(get ZZZ | json 'd["chart"]["result"][0]["meta"]["regularMarketPrice"]')" "a rejected scenario leaves the old one"
}

qstate() { curl -sf -m 10 "$TW_QUOTES_CONTROL/state"; }

test_quotes_rsa_chain_three_levels_tls12_floor() {
    fresh
    local chain n
    chain=$(openssl s_client -connect "127.0.0.1:$TW_QUOTES_PORT" -servername localhost -showcerts \
        -CAfile "$TW_CA_FILE" </dev/null 2>/dev/null)
    assert_contains "$chain" "Verify return code: 0 (ok)" "chain verifies against the stack CA bundle"
    n=$(grep -c "BEGIN CERTIFICATE" <<<"$chain")
    assert_eq 2 "$n" "certificates sent (leaf + intermediate; the root is the trust anchor)"
    assert_contains "$(openssl x509 -noout -text <<<"$chain")" "Public-Key: (2048 bit)" "RSA-2048 leaf"
    assert_contains "$(openssl x509 -noout -text <<<"$chain")" "rsaEncryption" "leaf key is RSA"
    assert_contains "$chain" "i:O = tickwatch stack, CN = tickwatch stack quote intermediate CA" "leaf issued by the intermediate"
    assert_contains "$chain" "tickwatch stack quote root CA" "intermediate issued by the RSA root"
    local rc=0
    openssl s_client -connect "127.0.0.1:$TW_QUOTES_PORT" -tls1_1 </dev/null >/dev/null 2>&1 || rc=$?
    [ "$rc" != 0 ] || fail "a TLS 1.1 handshake was accepted"
    local v out
    for v in 2 3; do   # the whole output first: a grep -q ending the pipe early is no answer
        out=$(openssl s_client -connect "127.0.0.1:$TW_QUOTES_PORT" "-tls1_$v" -CAfile "$TW_CA_FILE" </dev/null 2>/dev/null)
        grep -Eq "New, TLSv1\.$v,|Protocol *: TLSv1\.$v" <<<"$out" || fail "no TLS 1.$v"
    done
}

test_quotes_cookie_crumb_required_and_expired() {
    fresh
    jar=$TW_STACK_DIR/cookies-$$   # global: the EXIT trap runs after this function returns
    local crumb code
    trap 'qctl reset; rm -f "$jar"' EXIT
    "$STACK" quotes-crumb require >/dev/null
    assert_eq 401 "$(get AAPL -o /dev/null -w '%{http_code}')" "chart without cookie or crumb"
    assert_eq 401 "$(curl -s -m 10 --cacert "$TW_CA_FILE" -o /dev/null -w '%{http_code}' "$TW_QUOTES_BASE/v1/test/getcrumb")" "getcrumb without the cookie"
    code=$(curl -s -m 10 --cacert "$TW_CA_FILE" -c "$jar" -o /dev/null -w '%{http_code}' "$TW_QUOTES_BASE/")
    assert_eq 404 "$code" "the cookie comes with a 404, like fc.yahoo.com"
    grep -q "A3" "$jar" || fail "no A3 cookie in the jar"
    crumb=$(curl -sf -m 10 --cacert "$TW_CA_FILE" -b "$jar" "$TW_QUOTES_BASE/v1/test/getcrumb") || fail "no crumb"
    [ -n "$crumb" ] || fail "empty crumb"
    local enc; enc=$($PY -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$crumb")
    assert_eq 200 "$(curl -s -m 10 --cacert "$TW_CA_FILE" -b "$jar" -o /dev/null -w '%{http_code}' "$TW_QUOTES_BASE/v8/finance/chart/AAPL?crumb=$enc")" "chart with cookie + crumb"
    assert_eq 401 "$(get "AAPL?crumb=$enc" -o /dev/null -w '%{http_code}')" "crumb without the cookie"
    "$STACK" quotes-crumb expire >/dev/null
    assert_eq 401 "$(curl -s -m 10 --cacert "$TW_CA_FILE" -b "$jar" -o /dev/null -w '%{http_code}' "$TW_QUOTES_BASE/v8/finance/chart/AAPL?crumb=$enc")" "expired crumb"
    assert_eq 1 "$(qstate | json 'd["crumb_requests"] - 1')" "crumb requests counted (2)"
    assert_eq 3 "$(qstate | json 'd["unauthorized"]')" "refused chart requests counted"
}

test_quotes_429_retry_after_and_counts() {
    fresh
    local h
    "$STACK" quotes-mode 429 --count 2 --retry-after 7 >/dev/null
    h=$(curl -s -m 10 --cacert "$TW_CA_FILE" -D - -o /dev/null "$TW_QUOTES_BASE/v8/finance/chart/AAPL")
    assert_contains "$h" "HTTP/1.1 429" "status"
    assert_contains "$h" "Retry-After: 7" "delay-seconds"
    get MSFT -o /dev/null   # inside the window: counted as early
    assert_eq 2 "$(qstate | json 'd["limited"]')" "429s answered"
    assert_eq 1 "$(qstate | json 'd["early"]')" "requests inside the window"
    assert_eq '{"AAPL": 1, "MSFT": 1}' "$(qstate | json 'd["requests"]["yahoo"]')" "per-ticker counts"
    "$STACK" quotes-mode 429 --count 1 --retry-after date >/dev/null
    h=$(curl -s -m 10 --cacert "$TW_CA_FILE" -D - -o /dev/null "$TW_QUOTES_BASE/v8/finance/chart/AAPL")
    assert_contains "$h" "GMT" "Retry-After as an HTTP date"
    "$STACK" quotes-mode 429 --count 1 --retry-after none >/dev/null
    h=$(curl -s -m 10 --cacert "$TW_CA_FILE" -D - -o /dev/null "$TW_QUOTES_BASE/v8/finance/chart/AAPL")
    assert_not_contains "$h" "Retry-After" "no Retry-After"
}

test_quotes_stooq_csv_and_failover_source() {
    fresh
    local body t0 want
    body=$(curl -sf -m 10 --cacert "$TW_CA_FILE" "$TW_QUOTES_BASE/q/l/?s=aapl.us&f=sd2t2ohlcv&h&e=csv") || fail "no CSV"
    assert_contains "$body" "Symbol,Date,Time,Open,High,Low,Close,Volume" "header"
    t0=$(scen 'd["start_time"]')
    # the scenario's start, 2026-01-01 09:00 UTC, is 10:00 in Warsaw (CET)
    [ "$t0" = 1767258000 ] || fail "scenario start moved: fix this oracle"
    want="AAPL.US,2026-01-01,10:00:00,$(scen 'd["tickers"]["AAPL"]["prices"][0]')"
    assert_contains "$body" "$want" "data line"
    assert_contains "$(curl -sf -m 10 --cacert "$TW_CA_FILE" "$TW_QUOTES_BASE/q/l/?s=sap.de&f=sd2t2ohlcv&h&e=csv")" "SAP.DE,2026-01-01" "non-US symbol"
    assert_contains "$(curl -sf -m 10 --cacert "$TW_CA_FILE" "$TW_QUOTES_BASE/q/l/?s=zzzz.us&f=sd2t2ohlcv&h&e=csv")" "ZZZZ.US,N/D,N/D" "unknown symbol"
    "$STACK" quotes-mode 503 --source yahoo >/dev/null
    assert_eq 503 "$(get AAPL -o /dev/null -w '%{http_code}')" "yahoo fails"
    assert_eq 200 "$(curl -s -m 10 --cacert "$TW_CA_FILE" -o /dev/null -w '%{http_code}' "$TW_QUOTES_BASE/q/l/?s=aapl.us&f=sd2t2ohlcv&h&e=csv")" "stooq still answers"
    assert_eq '{"AAPL": 2, "SAP.DE": 1, "ZZZZ": 1}' "$(qstate | json 'd["requests"]["stooq"]')" "stooq counts"
}

test_quotes_freeze_market() {
    fresh
    local t
    "$STACK" quotes-freeze AAPL >/dev/null
    "$STACK" quotes-step 3 >/dev/null
    t=$(get AAPL | json 'd["chart"]["result"][0]["meta"]["regularMarketTime"]')
    assert_eq "$(scen 'd["start_time"]')" "$t" "a frozen ticker keeps its market time"
    assert_eq "$(scen 'd["start_time"] + 3 * d["step_seconds"]')" "$(get MSFT | json 'd["chart"]["result"][0]["meta"]["regularMarketTime"]')" "others move on"
    "$STACK" quotes-freeze none >/dev/null
    assert_eq "$(scen 'd["start_time"] + 3 * d["step_seconds"]')" "$(get AAPL | json 'd["chart"]["result"][0]["meta"]["regularMarketTime"]')" "thawed"
}
