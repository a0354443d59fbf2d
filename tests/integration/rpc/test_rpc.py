#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""test_rpc.py - the rpc role, CQRS and db layer against the stack's real PostgreSQL: every
method's success and failure paths checked in the tables, at-most-once request ids (also across
an agent restart), 20 concurrent clients, hostile input, token auth, migrations, tickwatch ctl,
and the database going away (a throw-away PostgreSQL we stop and start) and coming back.
usage: test_rpc.py TICKWATCH_BINARY"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rpclib import Agent, Client, Fail, check, drop_db, err_code, free_port, make_db, sql, stack_env  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
ENV = stack_env()
ADMIN = ENV["TW_DB_URL"]
DBNAME = "tw_it_rpc_%d" % os.getpid()
WORK = tempfile.mkdtemp(prefix="tw-it-rpc.")
URL = make_db(ADMIN, DBNAME)
AGENT = Agent(BIN, URL, WORK)
MIGRATIONS = "1,2,3,4,5,6,7,8,9,10,11,12,13"  # what agent/db/migrate.c holds
NMIG = len(MIGRATIONS.split(","))
results = []


def test(fn):
    results.append(fn)
    return fn


def users(where="true", *args):
    return sql(URL, "SELECT email, ticker, coalesce(high::text,'NULL'), coalesce(low::text,'NULL') "
               "FROM users WHERE " + where + " ORDER BY email", *args)


def count(table, where="true", *args):
    return int(sql(URL, "SELECT count(*) FROM %s WHERE %s" % (table, where), *args)[0][0])


@test
def migrations():
    tables = {r[0] for r in sql(URL, "SELECT tablename FROM pg_tables WHERE schemaname='public'")}
    for t in ("users", "quotes", "rpc_requests", "alert_state", "sent_notifications",
              "dead_letters", "schema_migrations"):
        check(t in tables, "table %s missing after start (have %s)" % (t, sorted(tables)))
    check(sql(URL, "SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_migrations")
          == [[MIGRATIONS]], "schema_migrations is not " + MIGRATIONS)
    env = dict(os.environ, TICKWATCH_DB_WRITE_URL=URL)
    r = subprocess.run([BIN, "db", "migrate"], env=env, capture_output=True, text=True, timeout=60)
    check(r.returncode == 0 and "applied 0 migrations" in r.stdout,
          "db migrate on a migrated database: rc %d %s %s" % (r.returncode, r.stdout, r.stderr))
    # two migrations racing on a fresh database: the advisory lock makes one wait
    fresh = make_db(ADMIN, DBNAME + "_m")
    try:
        env2 = dict(os.environ, TICKWATCH_DB_WRITE_URL=fresh)
        ps = [subprocess.Popen([BIN, "db", "migrate"], env=env2, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True) for _ in range(3)]
        outs = [p.communicate(timeout=60) for p in ps]
        check(all(p.returncode == 0 for p in ps), "concurrent db migrate failed: %s" % outs)
        check(sum("applied %d migrations" % NMIG in o[0] for o in outs) == 1,
              "exactly one concurrent run applies the migrations: %s" % outs)
        check(sql(fresh, "SELECT count(*) FROM schema_migrations") == [[str(NMIG)]],
              "schema_migrations rows after concurrent runs")
    finally:
        drop_db(ADMIN, DBNAME + "_m")
    bad = subprocess.run([BIN, "db", "migrate"], env=dict(
        os.environ, TICKWATCH_DB_WRITE_URL="postgresql://x@127.0.0.1:%d/x" % free_port(),
        TICKWATCH_DB_CONNECT_TIMEOUT="2s"), capture_output=True, text=True, timeout=60)
    check(bad.returncode == 1 and "cannot connect" in bad.stderr, "db migrate, no server: %s"
          % bad.stderr)
    check("retrying" not in bad.stderr, "db migrate says 'retrying' and then exits: %s" % bad.stderr)
    # a wrong password: libpq's whole message, not cut at 100 characters
    u = urllib.parse.urlsplit(ADMIN)
    user = u.username
    wrong = urllib.parse.urlunsplit(u._replace(netloc="%s:not-the-password@%s:%d" % (
        user, u.hostname, u.port)))
    bad = subprocess.run([BIN, "db", "migrate"], env=dict(os.environ, TICKWATCH_DB_WRITE_URL=wrong,
                         TICKWATCH_DB_CONNECT_TIMEOUT="3s"), capture_output=True, text=True,
                         timeout=60)
    check(bad.returncode == 1 and ('password authentication failed for user "%s"' % user)
          in bad.stderr and "retrying" not in bad.stderr, "db migrate, wrong password: %s"
          % bad.stderr)


@test
def email_domain_case():
    """RFC 5321: the domain is case-insensitive, the local part is kept as given."""
    c = Client(AGENT.port)
    r = c.call("user.register", {"email": "bob@EXAMPLE.com", "ticker": "AAPL",
                                 "request_id": "case-1"})
    check(r.get("result", {}).get("email") == "bob@example.com", "register bob@EXAMPLE.com: %s" % r)
    check(users("email ILIKE 'bob@example.com'") == [["bob@example.com", "AAPL", "NULL", "NULL"]],
          "stored with the domain lower-cased: %s" % users("email ILIKE 'bob@example.com'"))
    r = c.call("user.register", {"email": "bob@example.com", "ticker": "MSFT",
                                 "request_id": "case-2"})
    check(err_code(r) == -32004, "bob@example.com is the same user as bob@EXAMPLE.com: %s" % r)
    r = c.call("user.get", {"email": "bob@Example.COM"})
    check(r.get("result", {}).get("ticker") == "AAPL", "get by another case of the domain: %s" % r)
    r = c.call("user.register", {"email": "BOB@example.com", "ticker": "NVDA",
                                 "request_id": "case-3"})
    check(r.get("result", {}).get("email") == "BOB@example.com",
          "the local part is kept as given (another user): %s" % r)
    check(count("users", "lower(email) = 'bob@example.com'") == 2, "two users, not three")
    r = c.call("user.delete", {"email": "bob@EXAMPLE.COM", "request_id": "case-4"})
    check("result" in r and count("users", "email = 'bob@example.com'") == 0,
          "delete by another case of the domain: %s" % r)
    c.call("user.delete", {"email": "BOB@example.com", "request_id": "case-5"})
    c.close()


@test
def migration_6_reports_collisions():
    """Rows written before migration 6: folded when alone, left (and reported) when two fold
    to one address."""
    db = DBNAME + "_m6"
    u = make_db(ADMIN, db)
    try:
        env = dict(os.environ, TICKWATCH_DB_WRITE_URL=u)
        r = subprocess.run([BIN, "db", "migrate"], env=env, capture_output=True, text=True,
                           timeout=60)
        check(r.returncode == 0, "db migrate: %s %s" % (r.stdout, r.stderr))
        # the state before 6: addresses as older agents stored them, 6 not yet applied
        sql(u, "DROP INDEX users_email_unfolded_idx")
        sql(u, "DELETE FROM schema_migrations WHERE version = 6")
        sql(u, "INSERT INTO users (email, ticker) VALUES ('ann@Foo.ORG', 'AAPL'), "
               "('bob@example.com', 'AAPL'), ('bob@EXAMPLE.com', 'MSFT'), ('Cy@X.io', 'NVDA')")
        r = subprocess.run([BIN, "db", "migrate"], env=env, capture_output=True, text=True,
                           timeout=60)
        check(r.returncode == 0 and "applied 1 migration now" in r.stdout, "migrate 6: %s %s"
              % (r.stdout, r.stderr))
        check(sql(u, "SELECT email FROM users ORDER BY email") ==
              [["Cy@x.io"], ["ann@foo.org"], ["bob@EXAMPLE.com"], ["bob@example.com"]],
              "rows after 6: %s" % sql(u, "SELECT email FROM users ORDER BY email"))
        check("bob@EXAMPLE.com left as it is" in r.stderr and "bob@example.com" in r.stderr,
              "the collision is reported: %s" % r.stderr)
        check("left unmerged" in r.stdout, "the summary says so: %s" % r.stdout)
        r = subprocess.run([BIN, "db", "migrate"], env=env, capture_output=True, text=True,
                           timeout=60)
        check("bob@EXAMPLE.com left as it is" in r.stderr, "reported again until resolved: %s"
              % r.stderr)
        sql(u, "DELETE FROM users WHERE email = 'bob@EXAMPLE.com'")
        r = subprocess.run([BIN, "db", "migrate"], env=env, capture_output=True, text=True,
                           timeout=60)
        check("left as it is" not in r.stderr and "unmerged" not in r.stdout,
              "resolved: no report: %s %s" % (r.stdout, r.stderr))
    finally:
        drop_db(ADMIN, db)


@test
def quote_queries_need_email_or_ticker():
    c = Client(AGENT.port)
    for m, p in (("quote.last", {}), ("quote.average", {"n": 3})):
        r = c.call(m, p)
        check(err_code(r) == -32602 and r["error"]["data"].get("reason") == "invalid params",
              "%s without email or ticker: %s" % (m, r))
    c.close()


@test
def busy_refusal_has_reason():
    """The line a refused connection gets (-32007) has data.reason like every other error."""
    a = Agent(BIN, URL, WORK, extra={"TICKWATCH_LIMITS_RPC_SLOTS": "1"})
    a.start()
    try:
        # answered: the one slot is ours while we keep it open (a refusal means the agent had
        # not yet seen a.start()'s own status client close: its slot frees a moment later)
        for _ in range(50):
            hold = socket.create_connection(("127.0.0.1", a.port), timeout=5)
            hold.sendall(b'{"jsonrpc":"2.0","id":1,"method":"agent.status"}\n')
            if b'"result"' in hold.makefile("rb").readline():
                break
            hold.close()
            time.sleep(0.1)
        s2 = socket.create_connection(("127.0.0.1", a.port), timeout=5)
        line = s2.makefile().readline()
        s2.close()
        hold.close()
        r = json.loads(line)
        check(err_code(r) == -32007 and r["error"].get("data", {}).get("reason") == "busy",
              "refusal line: %s" % line)
    finally:
        a.stop()


@test
def register_and_validation():
    c = Client(AGENT.port)
    r = c.call("user.register", {"email": "alice@example.com", "ticker": "aapl", "high": 200,
                                 "low": 150.5, "request_id": "reg-alice"})
    check(r.get("result", {}).get("ticker") == "AAPL", "register: %s" % r)
    check(users("email = 'alice@example.com'") == [["alice@example.com", "AAPL", "200", "150.5"]],
          "alice's row")
    r = c.call("user.register", {"email": "alice@example.com", "ticker": "MSFT",
                                 "request_id": "reg-alice-2"})
    check(err_code(r) == -32004, "duplicate register: %s" % r)
    check(users("email = 'alice@example.com'")[0][1] == "AAPL", "duplicate changed the row")
    bad = [
        ({"email": "no-at-sign", "ticker": "AAPL"}, -32002, "email"),
        ({"email": "a@b..c", "ticker": "AAPL"}, -32002, "email"),
        ({"email": "x" * 65 + "@example.com", "ticker": "AAPL"}, -32002, "email"),
        ({"email": "a@" + "b" * 250 + ".com", "ticker": "AAPL"}, -32002, "email"),
        ({"email": "x'); DROP TABLE users;--@example.com", "ticker": "AAPL"}, -32002, "email"),
        ({"email": "bob@example.com", "ticker": "AAPL'; --"}, -32002, "ticker"),
        ({"email": "bob@example.com", "ticker": "TOOLONGTICKER1234"}, -32002, "ticker"),
        ({"email": "bob@example.com", "ticker": ""}, -32002, "ticker"),
        ({"email": "bob@example.com", "ticker": "AAPL", "high": 0}, -32002, "high"),
        ({"email": "bob@example.com", "ticker": "AAPL", "low": -5}, -32002, "low"),
        ({"email": "bob@example.com", "ticker": "AAPL", "high": 10, "low": 20}, -32002, "high"),
        ({"email": "bob@example.com", "ticker": "AAPL", "high": 10, "low": 10}, -32002, "high"),
        ({"email": "bob@example.com", "ticker": "AAPL", "high": "10"}, -32602, "high"),
        ({"email": 42, "ticker": "AAPL"}, -32602, "email"),
        ({"email": "bob@example.com"}, -32602, "ticker"),
        ({"email": "bob@example.com", "ticker": "AAPL", "hihg": 5}, -32602, None),
    ]
    for i, (p, code, field) in enumerate(bad):
        p = dict(p, request_id="bad-%d" % i)
        r = c.call("user.register", p)
        check(err_code(r) == code, "register %s: want %d, got %s" % (p, code, r))
        if field:
            check(r["error"]["data"].get("field") == field, "field of %s: %s" % (p, r))
    r = c.call("user.register", {"email": "bob@example.com", "ticker": "AAPL"})
    check(err_code(r) == -32602 and r["error"]["data"]["field"] == "request_id",
          "register without request_id: %s" % r)
    r = c.raw('{"jsonrpc":"2.0","id":7,"method":"user.register","params":{"email":"bob@example.com",'
              '"ticker":"AAPL","high":1e999,"request_id":"huge"}}')
    check(err_code(r) == -32002 and "finite" in r["error"]["message"], "1e999: %s" % r)
    r = c.raw('{"jsonrpc":"2.0","id":8,"method":"user.register","params":{"email":"bob@example.com",'
              '"ticker":"AAPL","high":NaN,"request_id":"nan"}}')
    check(err_code(r) == -32700, "NaN: %s" % r)
    r = c.raw('{"jsonrpc":"2.0","id":9,"method":"user.register","params":{"email":"bob@example.com",'
              '"ticker":"AAPL","high":' + "9" * 400 + ',"request_id":"long-num"}}')
    check(err_code(r) == -32002, "400-digit number: %s" % r)
    check(count("users", "email <> 'alice@example.com'") == 0, "a failed validation wrote a user")
    check(count("rpc_requests", "request_id LIKE 'bad-%'") == 0,
          "a failed validation stored a request id")
    # SQL metacharacters that are valid in an address are stored verbatim
    r = c.call("user.register", {"email": "o'brien+x@example.com", "ticker": "brk-b", "high": -1,
                                 "low": None, "request_id": "reg-obrien"})
    check("result" in r, "o'brien: %s" % r)
    check(users("email = :'v1'", "o'brien+x@example.com") ==
          [["o'brien+x@example.com", "BRK-B", "NULL", "NULL"]], "o'brien's row")
    for i, t in enumerate(("^GSPC", "ENI.MI", "EURUSD=X")):
        r = c.call("user.register", {"email": "t%d@example.com" % len(t), "ticker": t,
                                     "request_id": "reg-t%d" % i})
        check(r.get("result", {}).get("ticker") == t, "ticker %s: %s" % (t, r))
    c.close()


@test
def update_delete_get():
    c = Client(AGENT.port)
    r = c.call("user.update_ticker", {"email": "alice@example.com", "ticker": "nvda",
                                      "request_id": "ut-1"})
    check(r.get("result", {}).get("ticker") == "NVDA", "update_ticker: %s" % r)
    check(users("email = 'alice@example.com'")[0][1] == "NVDA", "ticker in the table")
    r = c.call("user.update_ticker", {"email": "nobody@example.com", "ticker": "NVDA",
                                      "request_id": "ut-2"})
    check(err_code(r) == -32003, "update_ticker unknown user: %s" % r)
    r = c.call("user.update_ticker", {"email": "alice@example.com", "ticker": "N V",
                                      "request_id": "ut-3"})
    check(err_code(r) == -32002 and users("email = 'alice@example.com'")[0][1] == "NVDA",
          "bad ticker: %s" % r)
    r = c.call("user.update_thresholds", {"email": "alice@example.com", "high": 900,
                                          "request_id": "th-1"})
    check(r.get("result", {}).get("low") is None, "update_thresholds: %s" % r)
    check(users("email = 'alice@example.com'")[0][2:] == ["900", "NULL"], "thresholds in table")
    r = c.call("user.update_thresholds", {"email": "alice@example.com", "high": 5, "low": 6,
                                          "request_id": "th-2"})
    check(err_code(r) == -32002, "high < low: %s" % r)
    check(users("email = 'alice@example.com'")[0][2:] == ["900", "NULL"], "unchanged after error")
    r = c.call("user.update_thresholds", {"email": "ghost@example.com", "low": 1,
                                          "request_id": "th-3"})
    check(err_code(r) == -32003, "thresholds unknown user: %s" % r)
    r = c.call("user.get", {"email": "alice@example.com"})
    check(r.get("result", {}).get("high") == 900, "get: %s" % r)
    check(err_code(c.call("user.get", {"email": "ghost@example.com"})) == -32003, "get ghost")
    check(err_code(c.call("user.get", {"email": "bad"})) == -32002, "get bad email")
    # quotes: rows written straight into the table, read back through the queries
    sql(URL, "INSERT INTO quotes (ticker, at, value) SELECT 'NVDA', now() - (i || ' min')::interval,"
        " 100 + i FROM generate_series(0, 9) i")
    r = c.call("quote.last", {"email": "alice@example.com"})
    check(r.get("result", {}).get("value") == 100, "quote.last: %s" % r)
    r = c.call("quote.last", {"ticker": "nvda"})
    check(r.get("result", {}).get("ticker") == "NVDA", "quote.last by ticker: %s" % r)
    check(err_code(c.call("quote.last", {"ticker": "ZZZZ"})) == -32003, "no quote")
    check(err_code(c.call("quote.last", {})) == -32602,
          "quote.last without email or ticker is a missing param (-32602, docs/rpc.md)")
    r = c.call("quote.average", {"email": "alice@example.com", "n": 4})
    check(r.get("result", {}).get("average") == 101.5 and r["result"]["n"] == 4,
          "average: %s" % r)
    r = c.call("quote.average", {"ticker": "NVDA", "n": 1000})
    check(r.get("result", {}).get("n") == 10, "average over more than there are: %s" % r)
    for n in (0, 1001, -3):
        check(err_code(c.call("quote.average", {"ticker": "NVDA", "n": n})) == -32002, "n=%d" % n)
    check(err_code(c.call("quote.average", {"ticker": "NVDA", "n": 2.5})) == -32602, "n=2.5")
    # list, paged
    seen, after = [], ""
    for _ in range(10):
        r = c.call("user.list", {"after": after, "limit": 2})
        seen += [u["email"] for u in r["result"]["users"]]
        after = r["result"]["next"]
        if after is None:
            break
    want = [row[0] for row in users()]
    check(seen == want, "paged list %s != table %s" % (seen, want))
    check(err_code(c.call("user.list", {"limit": 21})) == -32002, "limit 21")
    r = c.call("user.delete", {"email": "t6@example.com", "request_id": "del-1"})
    check(r.get("result", {}).get("deleted") == "t6@example.com", "delete: %s" % r)
    check(count("users", "email = 't6@example.com'") == 0, "row gone after delete")
    check(err_code(c.call("user.delete", {"email": "t6@example.com", "request_id": "del-2"}))
          == -32003, "delete twice (new id)")
    c.close()


@test
def protocol_errors():
    c = Client(AGENT.port)
    cases = [
        (b'{"jsonrpc":"2.0","id":1,"method":"user.get"', -32700),
        (b'not json', -32700),
        (b'{"jsonrpc":"2.0","id":1,"method":"user.get","params":{"email":"\xff\xfe@x.com"}}', -32700),
        (b'{"jsonrpc":"2.0","id":1,"method":"agent.status"} {"x":1}', -32700),
        (b'[{"jsonrpc":"2.0","id":1,"method":"agent.status"}]', -32600),
        (b'{"jsonrpc":"1.0","id":1,"method":"agent.status"}', -32600),
        (b'{"jsonrpc":"2.0","id":1,"method":5}', -32600),
        (b'{"jsonrpc":"2.0","id":true,"method":"agent.status"}', -32600),
        (b'{"jsonrpc":"2.0","id":1,"method":"agent.status","extra":1}', -32600),
        (b'{"jsonrpc":"2.0","id":1,"method":"no.such"}', -32601),
        (b'{"jsonrpc":"2.0","id":1,"method":"user.get","params":["a@b.c"]}', -32602),
        (b'{"jsonrpc":"2.0","id":1,"method":"user.get","params":{"email":"a\\u0000@b.c"}}', -32602),
        (b'{"jsonrpc":"2.0","id":1,"method":"user.get","params":{"email":"a@b.c","email":"c@d.e"}}',
         -32602),
        (b'{"jsonrpc":"2.0","id":1,"method":"user.list","params":{"limit":[' + b"1," * 200 + b'1]}}',
         -32600),
    ]
    for line, code in cases:
        r = c.raw(line)
        check(err_code(r) == code, "%r: want %d, got %s" % (line[:80], code, r))
    # the connection still serves after every one of those
    r = c.call("agent.status")
    check("result" in r and r["id"] == c.next_id, "status after bad lines: %s" % r)
    # id echo: string ids come back as given
    r = c.raw('{"jsonrpc":"2.0","id":"abc-\\"q\\"","method":"agent.status"}')
    check(r["id"] == 'abc-"q"', "string id: %s" % r)
    # a notification (no id) gets no answer; the next request does
    c.send_raw(b'{"jsonrpc":"2.0","method":"agent.status"}\n')
    r = c.call("agent.status")
    check(r["id"] == c.next_id, "after a notification: %s" % r)
    # pipelined lines are answered in order
    c.send_raw(b"".join(b'{"jsonrpc":"2.0","id":%d,"method":"agent.status"}\n' % i
                        for i in range(100, 110)))
    ids = [json.loads(c.read_line())["id"] for _ in range(10)]
    check(ids == list(range(100, 110)), "pipelined order: %s" % ids)
    c.close()


@test
def at_most_once():
    c = Client(AGENT.port)
    p = {"email": "carol@example.com", "ticker": "SAP.DE", "high": 250, "request_id": "amo-1"}
    first = c.call("user.register", p)
    check("result" in first, "first: %s" % first)
    sql(URL, "UPDATE users SET high = 300 WHERE email = 'carol@example.com'")  # a later change
    again = c.call("user.register", p)
    check(again["result"] == first["result"], "repeat answered %s, first %s" % (again, first))
    check(users("email = 'carol@example.com'")[0][2] == "300", "the repeat executed again")
    check(count("users", "email = 'carol@example.com'") == 1, "user rows")
    check(count("rpc_requests", "request_id = 'amo-1'") == 1, "request rows")
    # key order and spacing do not matter, a different value does
    r = c.raw('{"params":{"request_id":"amo-1","high":250,"ticker":"sap.de","email":"carol@example.com"},'
              '"method":"user.register","id":"k","jsonrpc":"2.0"}')
    check(r.get("result") == first["result"], "same params, other order: %s" % r)
    r = c.call("user.register", dict(p, high=251))
    check(err_code(r) == -32006, "same id, other params: %s" % r)
    r = c.call("user.delete", {"email": "carol@example.com", "request_id": "amo-1"})
    check(err_code(r) == -32006, "same id, other method: %s" % r)
    # an error outcome is stored too: the repeat says "exists" again, not something new
    dup = c.call("user.register", {"email": "carol@example.com", "ticker": "X", "request_id": "amo-2"})
    check(err_code(dup) == -32004, "dup: %s" % dup)
    sql(URL, "DELETE FROM users WHERE email = 'carol@example.com'")
    dup2 = c.call("user.register", {"email": "carol@example.com", "ticker": "X", "request_id": "amo-2"})
    check(dup2["error"] == dup["error"] and count("users", "email = 'carol@example.com'") == 0,
          "stored error replayed, nothing executed: %s" % dup2)
    # delete, then its repeat: "deleted" again, not "not found"
    c.call("user.register", {"email": "dave@example.com", "ticker": "AAPL", "request_id": "amo-3"})
    d1 = c.call("user.delete", {"email": "dave@example.com", "request_id": "amo-4"})
    d2 = c.call("user.delete", {"email": "dave@example.com", "request_id": "amo-4"})
    check(d1 == dict(d2, id=d1["id"]) and "result" in d2, "delete repeat: %s %s" % (d1, d2))
    # across a restart of the agent
    before = sql(URL, "SELECT response FROM rpc_requests WHERE request_id = 'amo-3'")
    c.close()
    AGENT.stop()
    AGENT.start()
    c = Client(AGENT.port)
    r = c.call("user.register", {"email": "dave@example.com", "ticker": "AAPL", "request_id": "amo-3"})
    check("result" in r and count("users", "email = 'dave@example.com'") == 0,
          "after restart the repeat must not re-register dave: %s" % r)
    check(sql(URL, "SELECT response FROM rpc_requests WHERE request_id = 'amo-3'") == before,
          "stored response changed")
    # an expired id is executed again
    sql(URL, "UPDATE rpc_requests SET created_at = now() - interval '25 hours' "
        "WHERE request_id = 'amo-3'")
    r = c.call("user.register", {"email": "dave@example.com", "ticker": "AAPL", "request_id": "amo-3"})
    check("result" in r and count("users", "email = 'dave@example.com'") == 1,
          "expired id not executed again: %s" % r)
    c.close()


@test
def replay_bytes_and_upgrade():
    """A repeat gets the very bytes of the first answer (under its own id), for a result and for
    an error; so does an id whose row a build before the outcome format stored (its answer text)."""
    c = Client(AGENT.port)

    def line(i, email, rid):
        c.send_raw(('{"jsonrpc":"2.0","id":%d,"method":"user.register","params":{"email":"%s",'
                    '"ticker":"sap.de","high":123.456,"low":0.1,"request_id":"%s"}}\n'
                    % (i, email, rid)).encode())
        return c.read_line()

    def same(a, i, b, what):
        check(a.replace('"id":1,', '"id":%d,' % i, 1) == b, "%s: %s / %s" % (what, a, b))
    first = line(1, "fay@example.com", "rb-1")
    check('"result":{"email":"fay@example.com"' in first, "first: %s" % first)
    same(first, 2, line(2, "fay@example.com", "rb-1"), "replayed result")
    err = line(1, "fay@example.com", "rb-2")
    check('"code":-32004' in err, "exists: %s" % err)
    same(err, 3, line(3, "fay@example.com", "rb-2"), "replayed error")
    stored = json.loads(sql(URL, "SELECT response FROM rpc_requests WHERE request_id = 'rb-1'")[0][0])
    check(stored.get("v") == 1 and stored["rc"] == 0 and stored["user"]["email"] == "fay@example.com",
          "stored outcome: %s" % stored)
    # the rows of the previous build held the answer fragment it rendered: replayed as they are
    for rid, ans in (("rb-1", first), ("rb-2", err)):
        old = ans.split(",", 2)[2][:-1]  # after {"jsonrpc":"2.0","id":1, and before the last }
        sql(URL, "UPDATE rpc_requests SET response = :'v1' WHERE request_id = :'v2'", old, rid)
        same(ans, 4, line(4, "fay@example.com", rid), "previous build's row %s" % rid)
    check(count("users", "email = 'fay@example.com'") == 1, "a replay executed")
    c.close()


@test
def concurrent_clients():
    errors = []

    def worker(i):
        try:
            c = Client(AGENT.port, timeout=30)
            e = "user%02d@example.com" % i
            r = c.call("user.register", {"email": e, "ticker": "AAPL", "request_id": "cc-r-%d" % i})
            check("result" in r, "register %s" % r)
            for k in range(5):
                r = c.call("user.update_ticker", {"email": e, "ticker": "T%d" % k,
                                                  "request_id": "cc-t-%d-%d" % (i, k)})
                check(r.get("result", {}).get("ticker") == "T%d" % k, "update %s" % r)
                r = c.call("user.update_thresholds", {"email": e, "high": 100 + i + k, "low": i + 1,
                                                      "request_id": "cc-h-%d-%d" % (i, k)})
                check("result" in r, "thresholds %s" % r)
            r = c.call("user.get", {"email": e})
            check(r["result"]["high"] == 104 + i, "get %s" % r)
            c.close()
        except Exception as ex:  # noqa: BLE001
            errors.append("client %d: %s" % (i, ex))

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(20)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    check(not errors, "; ".join(errors[:5]))
    rows = users("email LIKE 'user%@example.com'")
    check(len(rows) == 20, "20 users, got %d" % len(rows))
    for r in rows:
        i = int(r[0][4:6])
        check(r[1:] == ["T4", str(104 + i), str(i + 1)], "row of %s: %s" % (r[0], r))
    check(count("rpc_requests", "request_id LIKE 'cc-%'") == 20 * 11, "request ids stored")


@test
def hostile_input():
    good = Client(AGENT.port)
    # a 10 MB line: an error and/or a closed connection, never a crash; others are served
    big = Client(AGENT.port, timeout=20)
    done = {}

    def blast():
        try:
            big.send_raw(b'{"jsonrpc":"2.0","id":1,"method":"user.get","params":{"email":"'
                         + b"a" * (10 << 20) + b'"}}\n')
            done["sent"] = True
        except OSError as e:
            done["sent"] = "closed: %s" % e

    t = threading.Thread(target=blast)
    t.start()
    check("result" in good.call("agent.status"), "served during the 10 MB line")
    t.join(60)
    try:
        line = big.read_line()
        check(json.loads(line)["error"]["code"] in (-32600, -32007), "10 MB line answer: %s" % line)
        try:
            big.read_line()
            raise Fail("connection not closed after the overlong line")
        except (ConnectionError, OSError):
            pass
    except (ConnectionError, OSError):
        pass  # closed (reset) before the answer could be read: also fine
    big.close()
    # a client that never ends its line: an error after [rpc] slow_timeout (2 s here), closed
    slow = Client(AGENT.port, timeout=10)
    slow.send_raw(b'{"jsonrpc":"2.0","id":1,"method":"agent.st')
    check("result" in good.call("agent.status"), "served while a line hangs")
    t0 = time.time()
    r = json.loads(slow.read_line())
    check(err_code(r) == -32600 and "slow_timeout" in r["error"]["message"], "slow line: %s" % r)
    check(time.time() - t0 < 8, "slow line not cut within the time-out")
    try:
        slow.read_line()
        raise Fail("slow client not closed")
    except (ConnectionError, OSError):
        pass
    # a connection that sends nothing at all is not answered and does not hold others up
    idle = Client(AGENT.port)
    check("result" in good.call("agent.status"), "served with an idle connection open")
    idle.close()
    # invalid UTF-8 and control bytes: an error on the same connection, which keeps working
    r = good.raw(b'{"jsonrpc":"2.0","id":2,"method":"user.get","params":{"email":"\xc0\xaf@x.com"}}')
    check(err_code(r) == -32700, "overlong UTF-8: %s" % r)
    r = good.raw(b'{"jsonrpc":"2.0","id":3,"method":"user.get","params":{"email":"a\x00b@x.com"}}')
    check(err_code(r) == -32700, "NUL byte: %s" % r)
    r = good.raw(b'{"jsonrpc":"2.0","id":4,"method":"user.get","params":{"email":"\xe2\x82\xac@x.com"}}')
    check(err_code(r) == -32002, "euro sign in an e-mail: %s" % r)
    check("result" in good.call("agent.status"), "good client after all that")
    # all slots taken: the next connection is refused with an error, the others still work
    hold = [Client(AGENT.port) for _ in range(31)]  # 32 slots, "good" holds one
    extra = Client(AGENT.port)
    r = json.loads(extra.read_line())
    check(err_code(r) == -32007, "33rd connection: %s" % r)
    extra.close()
    for h in hold:
        h.close()
    time.sleep(0.3)
    check("result" in good.call("agent.status"), "good client after the slots freed")
    good.close()
    check(AGENT.proc.poll() is None, "the agent died")
    check(count("users", "email LIKE 'aaaa%'") == 0, "hostile input wrote rows")


@test
def token_auth():
    AGENT.stop()
    AGENT.extra["TICKWATCH_RPC_TOKEN"] = "s3cret-token"
    AGENT.start()
    try:
        c = Client(AGENT.port)
        r = c.call("user.get", {"email": "alice@example.com"})
        check(err_code(r) == -32001, "no token: %s" % r)
        r = c.call("user.get", {"email": "alice@example.com"}, token="wrong")
        check(err_code(r) == -32001, "wrong token: %s" % r)
        r = c.call("user.get", {"email": "alice@example.com"}, token="s3cret-token")
        check("result" in r, "right token: %s" % r)
        c.close()
        log = open(AGENT.log).read()
        check("s3cret-token" not in log, "the token appears in the log")
    finally:
        AGENT.stop()
        del AGENT.extra["TICKWATCH_RPC_TOKEN"]
        AGENT.start()


@test
def ctl_client():
    env = dict(os.environ, TICKWATCH_RPC_LISTEN="127.0.0.1:%d" % AGENT.port)

    def ctl(*a):
        return subprocess.run([BIN, "ctl"] + list(a), env=env, capture_output=True, text=True,
                              timeout=60)
    r = ctl("register", "erin@example.com", "msft", "--high", "500", "--low", "300")
    check(r.returncode == 0 and "MSFT" in r.stdout, "ctl register: %s %s" % (r.stdout, r.stderr))
    check(users("email = 'erin@example.com'") == [["erin@example.com", "MSFT", "500", "300"]], "row")
    r = ctl("register", "erin@example.com", "msft")
    check(r.returncode == 1 and "-32004" in r.stderr, "ctl register again: %s" % r.stderr)
    r = ctl("thresholds", "erin@example.com", "--high", "100", "--low", "300")
    check(r.returncode == 1 and "high" in r.stderr, "ctl bad thresholds: %s" % r.stderr)
    r = ctl("--request-id", "ctl-fixed-1", "update-ticker", "erin@example.com", "goog")
    r2 = ctl("--request-id", "ctl-fixed-1", "update-ticker", "erin@example.com", "goog")
    check(r.returncode == 0 and r.stdout == r2.stdout, "ctl same id twice: %s / %s" % (r, r2))
    check(count("rpc_requests", "request_id = 'ctl-fixed-1'") == 1, "ctl request id stored once")
    r = ctl("--json", "get", "erin@example.com")
    check(r.returncode == 0 and json.loads(r.stdout)["result"]["ticker"] == "GOOG", r.stdout)
    r = ctl("list", "--limit", "3")
    check(r.returncode == 0 and "more:" in r.stdout, "ctl list: %s" % r.stdout)
    r = ctl("status")
    check(r.returncode == 0 and "schema ok" in r.stdout, "ctl status: %s" % r.stdout)
    r = ctl("delete", "erin@example.com")
    check(r.returncode == 0 and count("users", "email = 'erin@example.com'") == 0, "ctl delete")
    check(ctl("get", "erin@example.com").returncode == 1, "ctl get deleted")
    check(ctl("frobnicate").returncode == 2, "ctl usage error")
    r = ctl("--connect", "127.0.0.1:%d" % free_port(), "--retries", "1", "--timeout", "500",
            "get", "x@example.com")
    check(r.returncode == 3, "ctl unreachable: %d %s" % (r.returncode, r.stderr))


@test
def console_json():
    """Console lines starting with '{' are JSON-RPC requests, queued and answered in order."""
    env = dict(os.environ, TICKWATCH_DB_WRITE_URL=URL, TICKWATCH_RPC_LISTEN="none",
               TICKWATCH_RPC_TOKEN="")
    lines = ['{"jsonrpc":"2.0","id":%d,"method":"user.register","params":{"email":"con%d@example.com",'
             '"ticker":"AAPL","request_id":"con-%d"}}' % (i, i, i) for i in range(3)]
    lines.append('{"jsonrpc":"2.0","id":9,"method":"user.get","params":{"email":"con1@example.com"}}')
    p = subprocess.Popen([BIN, "run", "--roles", "rpc", "--console", "-"], env=env,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True)
    try:
        p.stdin.write("\n".join(lines) + "\n")
        p.stdin.flush()
        got = []
        deadline = time.time() + 30
        while len(got) < 4 and time.time() < deadline:
            line = p.stdout.readline()
            if line.startswith("{"):
                got.append(json.loads(line))
        p.stdin.write("quit\n")
        p.stdin.flush()
        p.wait(15)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    check([g["id"] for g in got] == [0, 1, 2, 9], "console answers: %s" % got)
    check(all("result" in g for g in got), "console results: %s" % got)
    check(count("users", "email LIKE 'con%@example.com'") == 3, "console registered 3 users")


@test
def database_goes_away():
    """A throw-away PostgreSQL (initdb under a temp dir, as nobody) stopped and started."""
    pgbin = "/usr/lib/postgresql/15/bin"
    d = tempfile.mkdtemp(prefix="tw-it-pg.")
    os.chmod(d, 0o777)
    data, port = os.path.join(d, "data"), free_port()
    unpriv = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"] \
        if os.getuid() == 0 else []

    def pg(*a):
        return subprocess.run(unpriv + [os.path.join(pgbin, "pg_ctl")] + list(a), capture_output=True,
                              text=True, timeout=120)
    r = subprocess.run(unpriv + [os.path.join(pgbin, "initdb"), "-D", data, "-U", "postgres",
                                 "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"],
                       capture_output=True, text=True, timeout=120)
    check(r.returncode == 0, "initdb: %s" % r.stderr)
    opts = "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off" % (port, d)
    check(pg("-D", data, "-o", opts, "-l", os.path.join(d, "log"), "-w", "start").returncode == 0,
          "pg_ctl start")
    agent = Agent(BIN, "postgresql://postgres@127.0.0.1:%d/postgres" % port, WORK)
    try:
        agent.start()
        c = Client(agent.port)
        r = c.call("user.register", {"email": "zoe@example.com", "ticker": "AAPL",
                                     "request_id": "dg-1"})
        check("result" in r, "before: %s" % r)
        check(pg("-D", data, "-m", "fast", "-w", "stop").returncode == 0, "pg_ctl stop")
        for m, p in (("user.register", {"email": "yan@example.com", "ticker": "AAPL",
                                        "request_id": "dg-2"}),
                     ("user.get", {"email": "zoe@example.com"})):
            r = c.call(m, p)
            check(err_code(r) == -32005 and "database unavailable" in r["error"]["message"],
                  "while down, %s: %s" % (m, r))
        check("result" in c.call("agent.status"), "status while the database is down")
        check(pg("-D", data, "-o", opts, "-l", os.path.join(d, "log"), "-w", "start").returncode
              == 0, "pg_ctl start again")
        deadline, r = time.time() + 30, None
        while time.time() < deadline:
            r = c.call("user.register", {"email": "yan@example.com", "ticker": "AAPL",
                                         "request_id": "dg-2"})
            if "result" in r:
                break
            check(err_code(r) == -32005, "while coming back: %s" % r)
            time.sleep(0.25)
        check(r is not None and "result" in r, "service did not resume: %s" % r)
        r = c.call("user.get", {"email": "zoe@example.com"})
        check("result" in r, "reads resume: %s" % r)
        rows = sql("postgresql://postgres@127.0.0.1:%d/postgres" % port,
                   "SELECT string_agg(email, ',' ORDER BY email) FROM users")
        check(rows == [["yan@example.com,zoe@example.com"]], "rows after the outage: %s" % rows)
        c.close()
        log = agent.stop()
        check("database unavailable" in log and "retrying in" in log, "outage not logged")
    finally:
        agent.stop() if agent.proc else None
        pg("-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(d, ignore_errors=True)


def main():
    passed = failed = 0
    try:
        AGENT.start()
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
