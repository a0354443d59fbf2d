#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""test_history.py - alert.history and the console's `history EMAIL` (docs/rpc.md, docs/alerts.md
History) on the real binary and the stack's PostgreSQL. Ledger rows are written with psql in the
shapes docs/schema.md documents (sent_notifications, notify_retry, dead_letters); the stored
messages are signed here from docs/notifications.md (HMAC-SHA256 under notif_key's 64 hex
digits of every byte before "sig"). Expected answers come from the docs: newest first, ties by
source (dead, deferred, sent) then key, the states, the reader's ticker/condition/value only for
a message that verifies, paging by "next", an unknown address an empty page, bad params refused.
usage: test_history.py TICKWATCH_BINARY"""
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rpclib import Agent, Client, Fail, check, drop_db, err_code, make_db, sql, stack_env  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
ENV = stack_env()
ADMIN = ENV["TW_DB_URL"]
DBNAME = "tw_it_history_%d" % os.getpid()
WORK = tempfile.mkdtemp(prefix="tw-it-history.")
URL = make_db(ADMIN, DBNAME)
AGENT = Agent(BIN, URL, WORK)
results = []
BOB = "bob@example.com"


def test(fn):
    results.append(fn)
    return fn


def ms(ts):
    return int(sql(URL, "SELECT (extract(epoch FROM :'v1'::timestamptz) * 1000)::bigint", ts)[0][0])


def signed(key, nid, email, ticker, value, threshold, cond, forge=False):
    body = ('{"v":2,"id":%s,"email":%s,"ticker":%s,"value":%s,"threshold":%s,"condition":%s,'
            '"quote_time":1767225600,"subject":"s","body":"b",'
            % (json.dumps(nid), json.dumps(email), json.dumps(ticker), value, threshold,
               json.dumps(cond)))
    mac = hmac.new(key.encode(), body.encode(), hashlib.sha256).hexdigest()
    if forge:
        mac = ("0" if mac[0] != "0" else "1") + mac[1:]
    return body + '"sig":"%s"}' % mac


NIDS = {n: hashlib.sha256(n.encode()).hexdigest()[:32] for n in ("s1", "s2", "r1", "r2", "d1", "d2", "c1")}


def seed():
    key = sql(URL, "SELECT key FROM notif_key")[0][0]
    m_r1 = signed(key, NIDS["r1"], BOB, "AAPL", "191.23", "190", "higher")
    m_r2 = signed(key, NIDS["r2"], BOB, "AAPL", "99.5", "100", "lower", forge=True)
    m_d1 = signed(key, NIDS["d1"], BOB, "MSFT", "400.5", "401", "lower")
    sql(URL, "INSERT INTO sent_notifications (notification_id, email, sent_at, state) VALUES "
        "(:'v1', :'v3', '2026-01-01 10:00:00+00', 'sent'), "
        "(:'v2', :'v3', '2026-01-01 11:00:00+00', 'sending'), "
        "(:'v4', 'carol@example.com', '2026-01-01 13:00:00+00', 'sent')",
        NIDS["s1"], NIDS["s2"], BOB, NIDS["c1"])
    sql(URL, "INSERT INTO notify_retry (notification_id, email, message, msg_key, attempts, "
        "first_at, next_at, last_reason) VALUES "
        "(:'v1', :'v3', :'v4', :'v3', 2, '2026-01-01 12:00:00+00', '2026-01-01 12:05:00+00', "
        "'421 4.7.0 try again later'), "
        "(:'v2', :'v3', :'v5', :'v3', 1, '2026-01-01 08:00:00+00', '2026-01-01 08:01:00+00', "
        "'451 busy')", NIDS["r1"], NIDS["r2"], BOB, m_r1, m_r2)
    sql(URL, "INSERT INTO dead_letters (notification_id, email, payload, reason, attempts, "
        "created_at, message, msg_key, first_at) VALUES "
        "(:'v1', :'v3', 'p', '550 5.1.1 no such user', 5, '2026-01-01 09:00:00+00', :'v4', "
        ":'v3', '2026-01-01 08:30:00+00'), "
        "(:'v2', :'v3', 'p', 'malformed: no signature', 0, '2026-01-01 10:00:00+00', NULL, "
        "NULL, NULL)", NIDS["d1"], NIDS["d2"], BOB, m_d1)
    # further alerts (docs/alerts.md): past their expiry, enabled (no pass stored it yet) or
    # disabled by it, are entries; disabled by the user, or not expired yet, are not
    sql(URL, "INSERT INTO users (email, ticker, high) VALUES (:'v1', 'AAPL', 100)", BOB)
    rows = sql(URL, "INSERT INTO alerts (email, ticker, kind, level, expires_at, enabled, "
               "disabled_reason) VALUES "
               "(:'v1', 'NVDA', 'above', 150, '2026-01-01 09:30:00+00', true, NULL), "
               "(:'v1', 'TSLA', 'below', 200, '2026-01-01 07:00:00+00', false, 'expired'), "
               "(:'v1', 'IBM', 'above', 300, '2026-01-01 07:30:00+00', false, 'user'), "
               "(:'v1', 'SAP', 'above', 100, now() + interval '1 day', true, NULL) "
               "RETURNING id", BOB)
    ALERTS.update(nvda=int(rows[0][0]), tsla=int(rows[1][0]))


ALERTS = {}


def expired(aid, ticker, ts):
    return {"id": None, "state": "expired", "time_ms": ms(ts), "alert": aid, "ticker": ticker,
            "condition": None, "value": None}


def expected():
    """docs/alerts.md History: newest first; at one time dead before deferred before sent."""
    no_msg = {"ticker": None, "condition": None, "value": None, "alert": None}
    return [
        dict({"id": NIDS["r1"], "state": "deferred", "time_ms": ms("2026-01-01 12:00:00+00"),
              "attempts": 2, "next_ms": ms("2026-01-01 12:05:00+00"),
              "reason": "421 4.7.0 try again later"},
             ticker="AAPL", condition="higher", value=191.23, alert=0),
        dict({"id": NIDS["s2"], "state": "sending", "time_ms": ms("2026-01-01 11:00:00+00")}, **no_msg),
        dict({"id": NIDS["d2"], "state": "dead", "time_ms": ms("2026-01-01 10:00:00+00"),
              "attempts": 0, "reason": "malformed: no signature"}, **no_msg),
        dict({"id": NIDS["s1"], "state": "sent", "time_ms": ms("2026-01-01 10:00:00+00")}, **no_msg),
        expired(ALERTS["nvda"], "NVDA", "2026-01-01 09:30:00+00"),
        dict({"id": NIDS["d1"], "state": "dead", "time_ms": ms("2026-01-01 09:00:00+00"),
              "attempts": 5, "reason": "550 5.1.1 no such user"},
             ticker="MSFT", condition="lower", value=400.5, alert=0),
        dict({"id": NIDS["r2"], "state": "deferred", "time_ms": ms("2026-01-01 08:00:00+00"),
              "attempts": 1, "next_ms": ms("2026-01-01 08:01:00+00"), "reason": "451 busy"},
             **no_msg),  # its signature is forged: the reader refuses it
        expired(ALERTS["tsla"], "TSLA", "2026-01-01 07:00:00+00"),
    ]


def history(c, params):
    return c.call("alert.history", params)


def wait_key(c):
    """The rpc role loads the signing key after the start; until then tickers read null."""
    deadline = time.time() + 30
    while time.time() < deadline:
        r = history(c, {"email": BOB, "limit": 1})
        rows = r.get("result", {}).get("history", [])
        if rows and rows[0].get("ticker") == "AAPL":
            return
        time.sleep(0.2)
    raise Fail("the signing key was not loaded within 30 s: %s" % r)


@test
def whole_history_newest_first():
    c = Client(AGENT.port)
    wait_key(c)
    r = history(c, {"email": BOB})
    check(r.get("result") == {"history": expected(), "next": None}, "alert.history: %s" % r)
    r2 = history(c, {"email": "Bob@EXAMPLE.com"})
    check(r2.get("result", {}).get("history") == [], "the local part is case-sensitive: %s" % r2)
    r3 = history(c, {"email": "bob@EXAMPLE.COM"})
    check(r3.get("result") == r["result"], "the domain is folded: %s" % r3)


@test
def paging():
    c = Client(AGENT.port)
    want = expected()
    got, after, pages = [], None, 0
    while True:
        p = {"email": BOB, "limit": 4}
        if after is not None:
            p["after"] = after
        r = history(c, p)
        res = r.get("result")
        check(res is not None, "page: %s" % r)
        got += res["history"]
        pages += 1
        after = res["next"]
        if after is None:
            break
        check(pages < 5, "paging does not end: %s" % r)
    check(got == want and pages == 3, "pages of 4, 4 and none (the second is full): %d pages, %s"
          % (pages, got))
    r = history(c, {"email": BOB, "limit": 3})
    check(len(r["result"]["history"]) == 3 and r["result"]["next"] is not None, "%s" % r)
    r = history(c, {"email": BOB, "limit": 3, "after": r["result"]["next"]})
    check(r["result"]["history"] == want[3:6] and r["result"]["next"] is not None,
          "a full page names its last row: %s" % r)
    r = history(c, {"email": BOB, "after": r["result"]["next"]})
    check(r.get("result") == {"history": want[6:], "next": None}, "the rest: %s" % r)
    r = history(c, {"email": BOB, "after": "1767259800000.4.%020d" % ALERTS["nvda"]})
    check(r.get("result", {}).get("history") == want[5:], "after an expired entry: %s" % r)


@test
def unknown_user_is_empty():
    c = Client(AGENT.port)
    r = history(c, {"email": "nobody@example.com"})
    check(r.get("result") == {"history": [], "next": None}, "unknown address: %s" % r)
    r = history(c, {"email": "carol@example.com"})
    check([h["id"] for h in r["result"]["history"]] == [NIDS["c1"]]
          and r["result"]["history"][0]["state"] == "sent", "a deleted user's ledger: %s" % r)


@test
def bad_params_refused():
    c = Client(AGENT.port)
    # docs/rpc.md: -32602 a param missing, unknown or of the wrong type; -32002 a value refused
    for params, code, field in (({}, -32602, "email"), ({"email": 3}, -32602, "email"),
                                ({"email": BOB, "limit": 1.5}, -32602, "limit"),
                                ({"email": BOB, "ticker": "AAPL"}, -32602, None),
                                ({"email": "not-an-address"}, -32002, "email"),
                                ({"email": BOB, "limit": 0}, -32002, "limit"),
                                ({"email": BOB, "limit": 51}, -32002, "limit"),
                                ({"email": BOB, "after": ""}, -32002, "after"),
                                ({"email": BOB, "after": "12"}, -32002, "after"),
                                ({"email": BOB, "after": "x.1.k"}, -32002, "after"),
                                ({"email": BOB, "after": "1.5.k"}, -32002, "after")):
        r = history(c, params)
        data = r.get("error", {}).get("data") or {}
        check(err_code(r) == code and data.get("field") == field,
              "%s refused with %d (%s): %s" % (params, code, field, r))
    r = history(c, {"email": BOB, "limit": 50})
    check(len(r.get("result", {}).get("history", [])) == 8, "limit 50 accepted: %s" % r)


@test
def page_cut_at_the_answer_buffer():
    """60 dead letters with 300-character reasons of control bytes (each written \\u0001, the
    reason handed over cut to 200 characters): 50 rows do not fit the 10 KiB answer, so a page
    ends at the last row that fits, its "next" names it, and walking the pages gives each row
    once, newest first."""
    sql(URL, "INSERT INTO dead_letters (notification_id, email, payload, reason, attempts, "
        "created_at) SELECT 'big-' || lpad(g::text, 3, '0'), 'big@example.com', 'p', "
        "repeat(chr(1), 300), g, '2026-02-01 00:00:00+00'::timestamptz + g * interval '1 s' "
        "FROM generate_series(1, 60) g")
    c = Client(AGENT.port)
    got, after, sizes = [], None, []
    while True:
        p = {"email": "big@example.com", "limit": 50}
        if after is not None:
            p["after"] = after
        c.send_raw((json.dumps({"jsonrpc": "2.0", "id": 1, "method": "alert.history",
                                "params": p}) + "\n").encode())
        line = c.read_line()
        check(len(line) + 1 <= 10240, "answer within the 10 KiB buffer: %d bytes" % len(line))
        res = json.loads(line).get("result")
        check(res is not None and res["history"], "page: %s" % line[:300])
        sizes.append(len(res["history"]))
        got += res["history"]
        after = res["next"]
        if after is None:
            break
        check(len(sizes) < 60, "paging does not end")
    check(sizes[0] < 50, "the first page is cut by the buffer: %s" % sizes)
    check([h["id"] for h in got] == ["big-%03d" % g for g in range(60, 0, -1)],
          "every row once, newest first: %s" % [h["id"] for h in got])
    check(all(h["reason"] == "\x01" * 200 and h["state"] == "dead" and h["attempts"] == int(h["id"][4:])
              for h in got), "the reasons cut to 200 characters")


@test
def console_history():
    env = dict(os.environ, TICKWATCH_DB_WRITE_URL=URL, TICKWATCH_RPC_LISTEN="none",
               TICKWATCH_RPC_TOKEN="")
    p = subprocess.Popen([BIN, "run", "--roles", "rpc", "--console", "-"], env=env,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True)
    want = expected()
    got = []
    try:
        deadline = time.time() + 30
        # until the key is loaded the deferred row reads null: ask again (bounded)
        while time.time() < deadline:
            p.stdin.write("history %s\n" % BOB)
            p.stdin.flush()
            line = p.stdout.readline()
            while not line.startswith("{"):
                line = p.stdout.readline()
            ans = json.loads(line)
            if ans.get("result", {}).get("history", [{}])[0].get("ticker") == "AAPL":
                break
            time.sleep(0.2)
        got.append(ans)
        p.stdin.write("history %s %s\n" % (BOB, "x.1.k"))
        p.stdin.write("history\n")
        p.stdin.flush()
        line = p.stdout.readline()
        while not line.startswith("{"):
            line = p.stdout.readline()
        got.append(json.loads(line))
        line = p.stdout.readline()
        while not line.startswith("usage"):
            line = p.stdout.readline()
        got.append(line.strip())
        p.stdin.write("quit\n")
        p.stdin.flush()
        p.wait(15)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    check(got[0].get("id") == "history" and got[0].get("result") == {"history": want, "next": None},
          "console history: %s" % got[0])
    check(err_code(got[1]) == -32002, "console history with a bad cursor: %s" % got[1])
    check(got[2].startswith("usage: history EMAIL [AFTER]"), "console usage: %s" % got[2])


@test
def ctl_alert_history():
    env = dict(os.environ, TICKWATCH_RPC_TOKEN="")
    r = subprocess.run([BIN, "ctl", "--connect", "127.0.0.1:%d" % AGENT.port, "alert", "history",
                        BOB, "--limit", "2"], env=env, capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, "ctl alert history: %d %s %s" % (r.returncode, r.stdout, r.stderr))
    nxt = Client(AGENT.port).call("alert.history", {"email": BOB, "limit": 2})["result"]["next"]
    want = ("%s  deferred  2026-01-01T12:00:00Z  AAPL higher 191.23  attempts 2  next "
            "2026-01-01T12:05:00Z\n    421 4.7.0 try again later\n"
            "%s  sending   2026-01-01T11:00:00Z\n(2 e-mails)\nmore: --after %s\n"
            % (NIDS["r1"], NIDS["s2"], nxt))
    check(r.stdout == want, "ctl: %r" % r.stdout)


def main():
    passed = failed = 0
    try:
        AGENT.start()
        seed()
        for fn in results:
            t0 = time.time()
            try:
                fn()
                passed += 1
                print("ok - %s (%.1f s)" % (fn.__name__, time.time() - t0), flush=True)
            except Exception as e:  # noqa: BLE001
                failed += 1
                print("FAIL - %s: %s" % (fn.__name__, e), flush=True)
                if AGENT.proc is None or AGENT.proc.poll() is not None:
                    print("agent log:\n" + open(AGENT.log).read()[-3000:])
                    AGENT.proc = None
                    AGENT.start()
    finally:
        log = AGENT.stop() if AGENT.proc else ""
        for bad in ("ERROR: AddressSanitizer", "runtime error"):
            if bad in log:
                failed += 1
                print("FAIL - sanitizer: " + bad)
        drop_db(ADMIN, DBNAME)
        shutil.rmtree(WORK, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Fail as e:
        print("FAIL - setup: %s" % e)
        drop_db(ADMIN, DBNAME)
        sys.exit(1)
