#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""test_http.py - the http role: `tickwatch run --roles rpc,http` on the stack's PostgreSQL,
scraped with curl. /healthz is 200 "ready" while the database is up and 503 "degraded" naming
the outage when it is not; /metrics passes `promtool check metrics`, names the roles running and
counts this endpoint's own answers exactly; refusals (404, 405 with Allow, 431, 501, a sixth
connection over 5 slots gets 503, idle connections closed at [http] timeout) as docs/http.md
says; /unsubscribe (RFC 8058) with a token this test signs itself from the documented rule:
GET changes nothing, a forged token is refused 403, the one-click POST deletes the user.
live_run: admin, alert, collector and http roles on the whole stack (the quote server, Kafka,
PostgreSQL), /metrics scraped after each of two market steps: the page passes promtool, and
the role families count what really happened: alert passes = the passes the agent logged,
rows checked = the rows those passes logged, notifications acknowledged = the messages on
to-notifier for this run's users (and exactly the ones the documented rule expects), quote
fetches = the quote server's own request count, quotes saved = rows in the quotes table; then
the quote server fails every request: the breaker gauge turns open after [quotes]
breaker_failures errors, each counted.
Expected values come from the docs, never from the agent's code.
usage: test_http.py TICKWATCH_BINARY [TEST...]"""
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

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "e2e",
                                "alerts"))
import e2elib  # noqa: E402  (Agent, Kafka offsets, kcat reads)

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


def promtool(page):
    r = subprocess.run(["promtool", "check", "metrics"], input=page, capture_output=True,
                       text=True, timeout=WAIT)
    check(r.returncode == 0, "promtool check metrics: %s %s\n%s" % (r.stdout, r.stderr, page))


def total(s, name, **labels):
    """The sum of the samples of @name whose labels include @labels."""
    out, found = 0, False
    for k, v in s.items():
        n, _, rest = k.partition("{")
        if n != name:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', rest))
        if all(have.get(a) == b for a, b in labels.items()):
            out += v
            found = True
    check(found, "no sample of %s%s on the page" % (name, labels))
    return out


def qctl(env, path, **form):
    r = subprocess.run(["curl", "-sf", "-m", "10", "-X", "POST", env["TW_QUOTES_CONTROL"] + path]
                       + sum((["-d", "%s=%s" % kv] for kv in form.items()), []),
                       capture_output=True, text=True, timeout=WAIT)
    check(r.returncode == 0, "quote server %s: %s" % (path, r.stderr))


def qrequests(env, tickers):
    """The quote server's own count of chart requests for @tickers (its /state)."""
    r = subprocess.run(["curl", "-sf", "-m", "10", env["TW_QUOTES_CONTROL"] + "/state"],
                       capture_output=True, text=True, timeout=WAIT)
    check(r.returncode == 0, "quote server state: %s" % r.stderr)
    per = json.loads(r.stdout)["requests"]["yahoo"]
    return {t: per.get(t, 0) for t in tickers}


# docs/alerts.md, the seed's rule: a user is e-mailed when its ticker crosses a threshold and
# the ticker, the condition or the integer part of the price changed since its last e-mail.
# The stack's scenario (tests/env/quotes/scenario.json): step 0 AAPL 190.00, MSFT 410.00,
# NVDA 120.00; step 1 AAPL 190.50, MSFT 410.20, NVDA 121.00. ZZZZ is not in it (404).
LIVE_USERS = {"a": ("AAPL", "100", "\\N"), "m": ("MSFT", "\\N", "500"),
              "n": ("NVDA", "100", "\\N"), "z": ("ZZZZ", "1", "\\N")}
LIVE_STEPS = [{"a", "m", "n"}, {"n"}]  # who is e-mailed at step 0, then at step 1
DONE = re.compile(r"\[alert\] pass (\d+) done: (\d+) rows, (\d+) sent")


def live_run():
    env = e2elib.stack_env()
    tag = "h%d" % os.getpid()
    emails = {k: "%s.%s@metrics.test" % (k, tag) for k in LIVE_USERS}
    db = "tw_it_http_live_%d" % os.getpid()
    url = make_db(ADMIN, db)
    group = "tickwatch-alert-http-%d" % os.getpid()
    hport = free_port()
    agent = None
    try:
        e2elib.migrate(BIN, url)
        sql(url, "COPY users (email, ticker, high, low) FROM STDIN",
            stdin="".join("%s\t%s\t%s\t%s\n" % ((emails[k],) + v)
                          for k, v in sorted(LIVE_USERS.items())))
        qctl(env, "/reset")  # step 0, counts 0, every request answered
        agent = e2elib.Agent(BIN, env, WORK, "http-live", url, "admin,alert,collector,http",
                             extra="[quotes]\nbase = %s\nca_file = %s\nmax_age = 3650d\n"
                                   "breaker_failures = 3\nbreaker_recovery = 1h\nrate = 100\n"
                                   "connections = 1\n"
                                   "[http]\nlisten = 127.0.0.1:%d\n[kafka]\ngroup.id = %s\n"
                                   "report_interval = 1h\n"
                             % (env["TW_QUOTES_BASE"], env["TW_CA_FILE"], hport, group))
        agent.start()
        e2elib.wait_for("admin: topics ready", lambda: "[admin] topics ready" in agent.text(),
                        WAIT * 2)
        # this run's messages are the ones keyed by its addresses, wherever they are
        notifier_from = {p: "beginning" for p in
                         e2elib.kafkaq.partitions(env["TW_KAFKA_BOOTSTRAP"], "to-notifier")}

        def cycles():
            return [ln for ln in agent.text().splitlines()
                    if re.search(r"\[collector\] cycle \d+: \d+ tickers", ln)]

        def scrape():
            st, _, page = curl(hport, "/metrics")
            check(st == 200, "/metrics during the run: %d %s" % (st, page[:300]))
            with open(os.path.join(WORK, "live-metrics.txt"), "w") as f:
                f.write(page)  # the last page, for a failure's post-mortem
            return page

        def quiet(step):
            """Wait until the step's quotes are stored, the collector's cycles find nothing
            new (no more wake-ups), every wake-up it queued was delivered and the alert group
            committed them all (every pass they caused is over)."""
            e2elib.wait_for("the quotes of step %d stored" % step, lambda: int(sql(
                url, "SELECT count(*) FROM quotes WHERE source = 'yahoo'")[0][0]) == 3 * (step + 1),
                WAIT * 2)
            mark = len(cycles())
            e2elib.wait_for("a collector cycle that found nothing new", lambda: any(
                "wake-up none" in c for c in cycles()[mark:]), WAIT * 2)
            e2elib.wait_for("every wake-up delivered", lambda: (
                lambda s: total(s, "tickwatch_collector_wakeups_total", result="queued")
                == total(s, "tickwatch_collector_wakeups_total", result="delivered"))(
                samples(scrape())), WAIT)
            e2elib.wait_for("%s committed to the end of to-alert-system" % group,
                            lambda: agent.alive() and e2elib.caught_up(env, group,
                                                                       "to-alert-system"),
                            WAIT * 4)

        def passes_match():
            """The pass counter against the agent's log (the log ring may trail the counter
            by a turn: waited for, never more than WAIT)."""
            got = {}

            def same():
                s = samples(scrape())
                done = DONE.findall(agent.text())
                got.update(s=s, done=done)
                check(total(s, "tickwatch_alert_passes_total", result="ok") >= len(done),
                      "more passes logged (%d) than counted: %s" % (len(done), s))
                return total(s, "tickwatch_alert_passes_total", result="ok") == len(done)
            e2elib.wait_for("tickwatch_alert_passes_total = the passes logged", same, WAIT)
            return got["s"], got["done"]

        def to_notifier():
            msgs = [m for m in e2elib.topic_messages(env, "to-notifier", notifier_from)
                    if (m["key"] or "").endswith(".%s@metrics.test" % tag)]
            return [json.loads(m["payload"])["email"] for m in msgs]

        def fetches_match():
            """tickwatch_collector_fetches_total against the quote server's request count,
            read before and after the scrape; equal once no request is in flight."""
            tickers = [v[0] for v in LIVE_USERS.values()]
            got = {}

            def same():
                before = qrequests(env, tickers)
                s = samples(scrape())
                after = qrequests(env, tickers)
                fetched = total(s, "tickwatch_collector_fetches_total", source="yahoo")
                check(fetched <= sum(after.values()), "more fetches counted (%d) than the "
                      "quote server answered (%s)" % (fetched, after))
                got.update(s=s, q=after)
                return before == after and fetched == sum(after.values())
            e2elib.wait_for("tickwatch_collector_fetches_total = the quote server's count",
                            same, WAIT)
            return got["s"], got["q"]

        pages = []
        for step, want in enumerate(LIVE_STEPS):
            if step:
                qctl(env, "/step", by="1")
            quiet(step)
            promtool(scrape())
            s, done = passes_match()
            pages.append(s)
            check(total(s, "tickwatch_alert_passes_total", result="failed") == 0,
                  "failed passes: %s" % s)
            check(total(s, "tickwatch_alert_pass_duration_seconds_count") ==
                  total(s, "tickwatch_alert_passes_total"), "histogram count != passes")
            check(total(s, "tickwatch_alert_rows_checked_total") ==
                  sum(int(d[1]) for d in done), "rows checked != the rows the passes logged")
            mailed = to_notifier()
            expect = sorted(emails[k] for st in LIVE_STEPS[:step + 1] for k in st)
            check(sorted(mailed) == expect, "to-notifier after step %d: %s, want %s"
                  % (step, sorted(mailed), expect))
            for name in ("tickwatch_alert_notifications_produced_total",
                         "tickwatch_alert_notifications_acknowledged_total",
                         "tickwatch_alert_advanced_total"):
                check(total(s, name) == len(mailed), "%s = %d, to-notifier holds %d"
                      % (name, total(s, name), len(mailed)))
            check(sum(int(d[2]) for d in done) == len(mailed), "sent in the log != to-notifier")
            stored = int(sql(url, "SELECT count(*) FROM quotes WHERE source = 'yahoo'")[0][0])
            check(total(s, "tickwatch_collector_quote_saves_total", source="yahoo",
                        result="saved") == stored, "quotes saved != rows in quotes (%d)" % stored)
            s, q = fetches_match()
            check(total(s, "tickwatch_collector_fetches_total", source="yahoo", result="ok") ==
                  q["AAPL"] + q["MSFT"] + q["NVDA"], "ok fetches != the server's: %s" % q)
            check(total(s, "tickwatch_collector_fetches_total", source="yahoo",
                        result="rejected") == q["ZZZZ"], "rejected fetches != ZZZZ's: %s" % q)
            check(s['tickwatch_collector_breaker_state{source="yahoo"}'] == 0, "breaker not closed")
            for pool in ("write", "read"):
                check(s['tickwatch_db_connections{pool="%s",state="ready"}' % pool] == 1,
                      "%s connection not ready: %s" % (pool, s))
            check(total(s, "tickwatch_db_statement_failures_total") == 0 and
                  total(s, "tickwatch_db_refused_total") == 0, "database failures: %s" % s)
            check(total(s, "tickwatch_admin_topic_checks_total", result="ok") ==
                  agent.text().count("[admin] topics ready"), "topic checks != the log's")
        a, b = pages
        check(total(b, "tickwatch_alert_passes_total") > total(a, "tickwatch_alert_passes_total"),
              "no pass between the two scrapes")
        check(total(b, "tickwatch_db_statements_total", pool="write") >
              total(a, "tickwatch_db_statements_total", pool="write"), "no write statement")
        # every request fails now: [quotes] breaker_failures (3) errors in a row on its one
        # connection open the breaker, which then holds (breaker_recovery 1h): no further
        # request, each error counted
        before = qrequests(env, [v[0] for v in LIVE_USERS.values()])
        qctl(env, "/mode", mode="500")
        s = e2elib.wait_for("the yahoo breaker open", lambda: (
            lambda s: s if s['tickwatch_collector_breaker_state{source="yahoo"}'] == 1 else None)(
            samples(scrape())), WAIT)
        promtool(scrape())
        s, q = fetches_match()
        errors = sum(q.values()) - sum(before.values())
        check(errors == 3 and total(s, "tickwatch_collector_fetches_total", source="yahoo",
                                    result="error") == 3,
              "errors: the server answered %d failing requests, counted %d, want 3"
              % (errors, total(s, "tickwatch_collector_fetches_total", result="error")))
        check(s['tickwatch_collector_breaker_trips_total{source="yahoo"}'] == 1, "trips")
        e2elib.wait_for("a cycle skipped by the open breaker", lambda: total(samples(scrape()),
                        "tickwatch_collector_skipped_total") > 0, WAIT)
        print("ok - live run: %d passes, %d notifications, %d fetches, each as the log, Kafka "
              "and the quote server say; breaker open after 3 errors; page %d bytes"
              % (total(b, "tickwatch_alert_passes_total"), len(to_notifier()), sum(q.values()),
                 len(scrape())))
    finally:
        if agent:
            agent.stop()
        qctl(env, "/reset")
        # nobody mails this run's addresses later (the notifier group moves past them)
        e2elib.consumer_group_to_end(env, "tickwatch-notifier", "to-notifier")
        drop_db(ADMIN, db)


def main():
    failed = 0
    only = sys.argv[2:]  # names of the tests to run (all when none)
    for t in (healthy_agent, unsubscribe, degraded_agent, live_run):
        if only and t.__name__ not in only:
            continue
        try:
            t()
        except Fail as e:
            failed += 1
            print("FAIL %s: %s" % (t.__name__, e), file=sys.stderr)
    print("http: %d failed" % failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
