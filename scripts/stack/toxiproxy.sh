# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# toxiproxy.sh - Shopify's Toxiproxy in scripts/stack.sh (sourced by it): the pinned build (Go
# module proxy, cached), the server, its proxies, readiness and status. The chaos suite
# (tests/chaos) points its agents at the proxies and injects network faults through the API.
#
# Proxies (all on 127.0.0.1, B = CFG_TOXIPROXY_PROXY_BASE, default 18600):
#   kafka1..3  B+1..B+3  -> B+11..B+13, each broker's TOXI listener. That listener advertises
#                           B+n, so a client bootstrapped on B+1..B+3 gets metadata naming the
#                           proxies and every connection it makes (bootstrap, partition
#                           leaders, group coordinator) goes through them. The brokers' own
#                           PLAINTEXT listener (and inter-broker traffic) stays direct.
#   pg         B+20      -> PostgreSQL
#   smtp       B+25      -> SMTP STARTTLS;  smtps  B+26 -> SMTP implicit TLS
# Stacks made before this file existed have no CFG_TOXIPROXY_PORT: then nothing here runs.
# Without a cached build and without Go >= 1.23 (Debian 12 packages 1.19), `up` warns and
# leaves Toxiproxy out ($STATE/toxiproxy/unavailable, shown by status; `env` then has no
# TW_TOXIPROXY_URL and the chaos suite fails saying so): the rest of the stack is unaffected.

TOXIPROXY_VERSION=v2.12.0   # module github.com/Shopify/toxiproxy/v2
# go.sum: h1:d1x++lYZg/zijXPPcv7PH0MvHMzEI5aX/YuUi/Sw+yg=  go.mod: h1:R9Z38Pw6k2cGZWXHe7tbxjGW9azmY1KbDQJ1kd+h7Tk=

toxiproxy_on() { [ -n "${CFG_TOXIPROXY_PORT:-}" ] && [ ! -f "$STATE/toxiproxy/unavailable" ]; }

toxiproxy_go() {  # prints a Go >= 1.23 to build with, or fails
    local go v
    for go in "$(command -v go 2>/dev/null)" /usr/local/go/bin/go; do
        [ -n "$go" ] && [ -x "$go" ] || continue
        v=$("$go" env GOVERSION 2>/dev/null) || continue        # go1.26.8
        v=${v#go}
        if [ "${v%%.*}" -gt 1 ] 2>/dev/null || { [ "${v%%.*}" = 1 ] && [ "$(echo "$v" | cut -d. -f2)" -ge 23 ]; }; then
            echo "$go"; return 0
        fi
    done
    return 1
}
toxiproxy_api() { echo "http://127.0.0.1:$CFG_TOXIPROXY_PORT"; }

toxiproxy_bin() {  # build once into the cache (pinned version, from the Go module proxy); prints the folder
    local out=$CACHE/toxiproxy/$TOXIPROXY_VERSION/bin go tmp
    if [ -x "$out/toxiproxy-server" ] && [ -x "$out/toxiproxy-cli" ]; then echo "$out"; return 0; fi
    go=$(toxiproxy_go) || return 1
    say "building Toxiproxy $TOXIPROXY_VERSION with $("$go" version) from the Go module proxy (first time only)"
    tmp=$(mktemp -d)
    mkdir -p "$out"
    if ! GOBIN="$tmp/bin" CGO_ENABLED=0 GOFLAGS=-modcacherw GOTOOLCHAIN=local "$go" install -trimpath \
            -ldflags="-s -w -X github.com/Shopify/toxiproxy/v2.Version=${TOXIPROXY_VERSION#v}" \
            "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION" \
            "github.com/Shopify/toxiproxy/v2/cmd/cli@$TOXIPROXY_VERSION" >"$tmp/build.log" 2>&1; then
        tail_log "go install" "$tmp/build.log"; rm -rf "$tmp"; die "building Toxiproxy failed (needs Go >= 1.23)"
    fi
    mv "$tmp/bin/server" "$out/toxiproxy-server"
    mv "$tmp/bin/cli" "$out/toxiproxy-cli"
    rm -rf "$tmp"
    echo "$out"
}

toxiproxy_ports() {  # the ports this file listens on or makes the brokers listen on
    toxiproxy_on || return 0
    local b=$CFG_TOXIPROXY_PROXY_BASE n
    echo "$CFG_TOXIPROXY_PORT"
    for n in "${NODES[@]}"; do echo $((b + n)); echo $((b + 10 + n)); done
    echo $((b + 20)) $((b + 25)) $((b + 26))
}

toxiproxy_kafka_listener() {  # N FILE : add broker N's TOXI listener to its server.properties
    toxiproxy_on || return 0
    local n=$1 f=$2 b=$CFG_TOXIPROXY_PROXY_BASE
    # appended to whatever listeners the file has (PLAINTEXT, CONTROLLER, SASL_SSL, ...)
    sed -i -e "s|^listeners=.*|&,TOXI://127.0.0.1:$((b + 10 + n))|" \
        -e "s|^advertised\.listeners=.*|&,TOXI://127.0.0.1:$((b + n))|" \
        -e "s|^listener\.security\.protocol\.map=.*|&,TOXI:PLAINTEXT|" "$f"
    grep -q "^listeners=.*TOXI://" "$f" && grep -q "^advertised\.listeners=.*TOXI://" "$f" \
        || die "could not add the TOXI listener to $f"
}

toxiproxy_config() {  # the proxies, as the JSON array -config and /populate take
    local b=$CFG_TOXIPROXY_PROXY_BASE n sep=""
    printf '['
    for n in "${NODES[@]}"; do
        printf '%s{"name":"kafka%s","listen":"127.0.0.1:%s","upstream":"127.0.0.1:%s","enabled":true}' \
            "$sep" "$n" $((b + n)) $((b + 10 + n)); sep=,
    done
    printf ',{"name":"pg","listen":"127.0.0.1:%s","upstream":"127.0.0.1:%s","enabled":true}' $((b + 20)) "$CFG_DB_PORT"
    printf ',{"name":"smtp","listen":"127.0.0.1:%s","upstream":"127.0.0.1:%s","enabled":true}' $((b + 25)) "$CFG_SMTP_PORT_STARTTLS"
    printf ',{"name":"smtps","listen":"127.0.0.1:%s","upstream":"127.0.0.1:%s","enabled":true}]\n' $((b + 26)) "$CFG_SMTP_PORT_TLS"
}

toxiproxy_up_begin() {
    toxiproxy_on || return 0
    alive toxiproxy && return 0
    local bin
    mkdir -p "$STATE/toxiproxy"
    if ! bin=$(toxiproxy_bin); then
        say "warning: Toxiproxy left out of this stack: no cached build and no Go >= 1.23 to build it (install Go from go.dev/dl into /usr/local/go, then down + up); the chaos suite needs it"
        echo "no Go >= 1.23" >"$STATE/toxiproxy/unavailable"
        return 0
    fi
    toxiproxy_config >"$STATE/toxiproxy/proxies.json"
    spawn toxiproxy "$STATE/toxiproxy/toxiproxy.log" env LOG_LEVEL=info "$bin/toxiproxy-server" \
        -host 127.0.0.1 -port "$CFG_TOXIPROXY_PORT" -config "$STATE/toxiproxy/proxies.json"
}

toxiproxy_ready() {
    toxiproxy_on || return 0
    alive toxiproxy || return 1
    curl -sf -m 3 "$(toxiproxy_api)/proxies" 2>/dev/null | grep -q '"smtps"'
}

toxiproxy_up_died() { toxiproxy_on || return 0; alive toxiproxy || up_failed toxiproxy "toxiproxy died"; }
toxiproxy_up_tail() { tail_log toxiproxy "$STATE/toxiproxy/toxiproxy.log"; }

toxiproxy_env() {  # export lines for `env`
    toxiproxy_on || return 0
    local b=$CFG_TOXIPROXY_PROXY_BASE
    cat <<EOT
export TW_TOXIPROXY_URL='$(toxiproxy_api)'
export TW_TOXI_KAFKA_BOOTSTRAP='127.0.0.1:$((b + 1)),127.0.0.1:$((b + 2)),127.0.0.1:$((b + 3))'
export TW_TOXI_DB_PORT='$((b + 20))'
export TW_TOXI_SMTP_PORT_STARTTLS='$((b + 25))'
export TW_TOXI_SMTP_PORT_TLS='$((b + 26))'
EOT
}

toxiproxy_status() {  # the server, its proxies and their toxics; status_bad if wrong
    echo "== toxiproxy"
    if [ -f "$STATE/toxiproxy/unavailable" ]; then
        echo "  UNAVAILABLE: $(cat "$STATE/toxiproxy/unavailable") (see scripts/stack/toxiproxy.sh)"; return 0
    fi
    toxiproxy_on || { echo "  not part of this stack (made before toxiproxy.sh)"; return 0; }
    local pid
    if pid=$(pid_of toxiproxy) && toxiproxy_ready; then
        echo "  up: pid $pid, API $(toxiproxy_api), $(curl -s -m 3 "$(toxiproxy_api)/version")"
        curl -s -m 3 "$(toxiproxy_api)/proxies" | $PY -c '
import json, sys
for name, p in sorted(json.load(sys.stdin).items()):
    t = ", ".join("%s %s" % (x["type"], x["stream"]) for x in p.get("toxics", [])) or "no toxics"
    print("  %-6s %s -> %s %s; %s" % (name, p["listen"], p["upstream"],
          "enabled" if p["enabled"] else "DISABLED", t))' || status_bad
    else
        echo "  DOWN or unhealthy"; status_bad
    fi
}
