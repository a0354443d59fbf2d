#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""test_http.py - the http role: `tickwatch run --roles rpc,http` on the stack's PostgreSQL,
scraped with curl. /healthz is 200 "ready" while the database is up and 503 "degraded" naming
the outage when it is not; /metrics passes `promtool check metrics`, names the roles running and
counts this endpoint's own answers exactly; refusals (404, 405 with Allow, 431, 501, a sixth
connection over 5 slots gets 503, idle connections closed at [http] timeout) as docs/http.md
says; /unsubscribe (RFC 8058) with a token this test signs itself from the documented rule:
GET changes nothing, a forged token is refused 403, the one-click POST deletes the user.
Expected values come from the docs, never from the agent's code.
usage: test_http.py TICKWATCH_BINARY"""
import hashlib
import hmac
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lib"))
from twlib import Fail, check, drop_db, free_port, make_db, sql, stack_env  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
ENV = stack_env()
ADMIN = ENV["TW_DB_URL"]
WORK = tempfile.mkdtemp(prefix="tw-it-http.")
WAIT = 30  # bound on every wait, never an assertion on speed


def start(db_url, name, extra=None):
    port = free_port()
    env = dict(os.environ)
    env.update(TICKWATCH_DB_WRITE_URL=db_url,
               TICKWATCH_RPC_LISTEN="127.0.0.1:%d" % free_port(),
               TICKWATCH_HTTP_LISTEN="127.0.0.1:%d" % port, TICKWATCH_HTTP_SLOTS="5",
               TICKWATCH_HTTP_TIMEOUT="2s", TICKWATCH_DB_CONNECT_TIMEOUT="2s",
               TICKWATCH_AGENT_NAME=name, TICKWATCH_AGENT_LOG_LEVEL="info")
    env.update(extra or {})
    log = open(os.path.join(WORK, name + ".log"), "w")
    proc = subprocess.Popen([BIN, "run", "--roles", "rpc,http", "--console", "none"], env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + WAIT
    while time.time() < deadline:
        check(proc.poll() is None, "agent %s exited at start: %s" % (
            name, open(os.path.join(WORK, name + ".log")).read()))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.2)
    raise Fail("agent %s never listened on its http port" % name)


def curl(port, path, *extra):
    """(status, headers text, body) of one request made by curl."""
    r = subprocess.run(["curl", "-sS", "-D", "-", "--max-time", "10", *extra,
                        "http://127.0.0.1:%d%s" % (port, path)],
                       capture_output=True, timeout=WAIT)  # bytes: keep the CRLFs
    check(r.returncode == 0, "curl %s: rc %d %s" % (path, r.returncode, r.stderr))
    head, _, body = r.stdout.decode().partition("\r\n\r\n")
    status = int(head.split()[1])
    return status, head, body


def raw(port, data, read=True):
    s = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)  # the server reads a refused request's rest until our end
    out = b""
    while read:
        b = s.recv(65536)
        if not b:
            break
        out += b
    s.close()
    return out.decode(errors="replace")


def samples(text):
    """{'name{labels}': value} of a Prometheus text page."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, val = line.rpartition(" ")
            out[key] = float(val)
    return out


def healthy_agent():
    db = "tw_it_http_%d" % os.getpid()
    url = make_db(ADMIN, db)
    proc, port = start(url, "http-ok")
    try:
        deadline = time.time() + WAIT
        st = 0
        while time.time() < deadline:
            st, _, body = curl(port, "/healthz")
            if st == 200:
                break
            time.sleep(0.3)
        check(st == 200 and body == "ready\n", "/healthz with the database up: %d %r" % (st, body))
        answered_2xx = 1  # the 200 above (earlier 503s, if any, are 5xx)
        st, head, page = curl(port, "/metrics")
        check(st == 200, "/metrics: %d" % st)
        check(re.search(r"(?im)^content-type: text/plain; version=0\.0\.4", head) is not None,
              "/metrics content type: %s" % head)
        r = subprocess.run(["promtool", "check", "metrics"], input=page, capture_output=True,
                           text=True, timeout=WAIT)
        check(r.returncode == 0, "promtool check metrics: %s %s\n%s" % (r.stdout, r.stderr, page))
        s = samples(page)
        for role in ("rpc", "http"):
            check(s.get('tickwatch_role_up{role="%s"}' % role) == 1, "role %s up: %s" % (role, page))
        check(not any(k.startswith('tickwatch_role_up{role="alert"') for k in s),
              "a role this agent does not run is listed")
        check(any(k.startswith("tickwatch_build_info{") and 'name="http-ok"' in k for k in s),
              "build info names the agent: %s" % page)
        check(s['tickwatch_arena_bytes{kind="used"}'] <= s['tickwatch_arena_bytes{kind="size"}'],
              "arena used > size")
        check(s.get('tickwatch_http_responses_total{class="2xx"}') == answered_2xx,
              "2xx answers counted before this scrape: %s" % page)
        # scraped again and again: counters only grow, the 2xx count is exact
        turns = s["tickwatch_loop_turns_total"]
        for i in range(10):
            st, _, page = curl(port, "/metrics")
            s = samples(page)
            check(s['tickwatch_http_responses_total{class="2xx"}'] == answered_2xx + 1 + i,
                  "2xx counter at scrape %d" % i)
            check(s["tickwatch_loop_turns_total"] >= turns, "loop turns went back")
            turns = s["tickwatch_loop_turns_total"]
        # HEAD: same headers, no body
        out = raw(port, b"HEAD /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
        head, _, body = out.partition("\r\n\r\n")
        check(head.startswith("HTTP/1.1 200 ") and body == "" and "Content-Length: 6\r\n" in head,
              "HEAD /healthz: %r" % out)
        # refusals
        st, _, _ = curl(port, "/nope")
        check(st == 404, "/nope: %d" % st)
        st, head, _ = curl(port, "/metrics", "-X", "POST", "-d", "x")
        check(st == 405 and "Allow: GET, HEAD" in head, "POST /metrics: %d %s" % (st, head))
        st, _, _ = curl(port, "/metrics", "-H", "X-Big: " + "a" * 5000)
        check(st == 431, "a 5 KB header: %d" % st)
        out = raw(port, b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
        check(out.startswith("HTTP/1.1 501 "), "Transfer-Encoding request: %r" % out[:60])
        out = raw(port, b"GET / HTTP/3.0\r\nHost: a\r\n\r\n")
        check(out.startswith("HTTP/1.1 505 "), "HTTP/3.0 request: %r" % out[:60])
        # five slots: five idle connections hold them, a sixth is told 503 at once
        idle = [socket.create_connection(("127.0.0.1", port), timeout=WAIT) for _ in range(5)]
        time.sleep(0.5)
        out = raw(port, b"")
        check(out.startswith("HTTP/1.1 503 "), "a sixth connection: %r" % out[:60])
        # [http] timeout (2 s) closes the idle ones: each reads an end of stream
        for c in idle:
            c.settimeout(WAIT)
            check(c.recv(10) == b"", "an idle connection was not closed at [http] timeout")
            c.close()
        st, _, page = curl(port, "/metrics")
        s = samples(page)
        check(s['tickwatch_http_refused_total{reason="busy"}'] == 1, "busy refusals: %s" % page)
        check(s['tickwatch_http_refused_total{reason="timeout"}'] == 5, "time-outs: %s" % page)
        check(s['tickwatch_http_responses_total{class="4xx"}'] == 3, "4xx answers: %s" % page)
        check(s['tickwatch_http_responses_total{class="5xx"}'] >= 2, "5xx answers: %s" % page)
        print("ok - healthy agent: /healthz ready, /metrics valid and exact, refusals as documented")
    finally:
        proc.terminate()
        proc.wait(timeout=WAIT)
        drop_db(ADMIN, db)


def token(key, email):
    """docs/http.md: hex of the address, a dot, hex of the first 16 bytes of
    HMAC-SHA256(key = the 64 ASCII hex digits of notif_key.key, "tickwatch-unsubscribe|" + email)."""
    mac = hmac.new(key.encode(), ("tickwatch-unsubscribe|" + email).encode(), hashlib.sha256)
    return email.encode().hex() + "." + mac.hexdigest()[:32]


def rpc(port, method, params):
    s = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    s.sendall((json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
               + "\n").encode())
    line = b""
    while not line.endswith(b"\n"):
        b = s.recv(4096)
        check(b, "rpc connection closed before the answer")
        line += b
    s.close()
    return json.loads(line)


def unsubscribe():
    db = "tw_it_http_u_%d" % os.getpid()
    url = make_db(ADMIN, db)
    rport = free_port()
    proc, port = start(url, "http-unsub", {"TICKWATCH_HTTP_PUBLIC_URL": "https://alerts.example",
                                            "TICKWATCH_RPC_LISTEN": "127.0.0.1:%d" % rport})
    try:
        users = ("o'neil&co@example.com", "keep@example.com")
        for u in users:
            r = rpc(rport, "user.register", {"email": u, "ticker": "AAPL", "high": 200,
                                             "request_id": "reg-" + u.encode().hex()})
            check("result" in r, "user.register %s: %s" % (u, r))
        key = sql(url, "SELECT key FROM notif_key")[0][0]
        good = token(key, users[0])
        forged = good[:-1] + ("0" if good[-1] != "0" else "1")
        other = users[1].encode().hex() + good[-33:]  # user 0's MAC on user 1's address
        path = "/unsubscribe?t=" + good

        def present(email):
            return int(sql(url, "SELECT count(*) FROM users WHERE email = :'v1'", email)[0][0]) == 1

        deadline = time.time() + WAIT
        st = 503
        while st == 503 and time.time() < deadline:  # the key loads shortly after start
            st, head, page = curl(port, path)
            time.sleep(0.2)
        check(st == 200 and "text/html" in head and "o&#39;neil&amp;co@example.com" in page
              and 'method="post"' in page, "GET %s: %d %s" % (path, st, page))
        check(present(users[0]), "a GET deleted the user (scanners open links)")
        for bad in (forged, other, "zz." + good.split(".")[1], good.split(".")[0]):
            st, _, _ = curl(port, "/unsubscribe?t=" + bad, "-d", "List-Unsubscribe=One-Click")
            check(st == 403, "forged token %s: %d" % (bad[:20], st))
        check(present(users[0]) and present(users[1]), "a forged token deleted a user")
        st, _, body = curl(port, path, "-X", "POST")
        check(st == 400, "POST without the one-click body: %d %s" % (st, body))
        check(present(users[0]), "a POST without List-Unsubscribe=One-Click deleted the user")
        st, _, body = curl(port, path, "-d", "List-Unsubscribe=One-Click")
        check(st == 200 and "unsubscribed" in body and users[0] in body,
              "one-click POST: %d %s" % (st, body))
        check(not present(users[0]), "the user is still there after the one-click POST")
        check(present(users[1]), "another user went too")
        st, _, body = curl(port, path, "-d", "List-Unsubscribe=One-Click")
        check(st == 200, "a second click: %d %s" % (st, body))
        st, _, page = curl(port, "/metrics")
        s = samples(page)
        check(s.get("tickwatch_http_unsubscribes_total") == 1 and
              s.get("tickwatch_http_unsubscribe_forged_total") == 4, "unsubscribe counters: %s"
              % page)
        print("ok - /unsubscribe: GET shows, forged refused, one-click POST deletes that user")
    finally:
        proc.terminate()
        proc.wait(timeout=WAIT)
        drop_db(ADMIN, db)


def degraded_agent():
    dead = "postgresql://tickwatch:x@127.0.0.1:%d/none" % free_port()
    proc, port = start(dead, "http-down")
    try:
        deadline = time.time() + WAIT
        st, body = 0, ""
        while time.time() < deadline:
            st, _, body = curl(port, "/healthz")
            if st == 503:
                break
            time.sleep(0.3)
        check(st == 503 and body.startswith("degraded\n") and "outage: database" in body,
              "/healthz with no database: %d %r" % (st, body))
        st, _, page = curl(port, "/metrics")
        check(st == 200 and re.search(r'^tickwatch_outage_seconds\{dependency="database[^"]*"\} '
                                      r'\d+$', page, re.M), "outage gauge: %s" % page)
        r = subprocess.run(["promtool", "check", "metrics"], input=page, capture_output=True,
                           text=True, timeout=WAIT)
        check(r.returncode == 0, "promtool on the degraded page: %s" % r.stderr)
        print("ok - database down: /healthz degraded naming it, outage gauge on /metrics")
    finally:
        proc.terminate()
        proc.wait(timeout=WAIT)


def main():
    failed = 0
    for t in (healthy_agent, unsubscribe, degraded_agent):
        try:
            t()
        except Fail as e:
            failed += 1
            print("FAIL %s: %s" % (t.__name__, e), file=sys.stderr)
    print("http: %d failed" % failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
