#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""test_alerts.py - alert.add / alert.list / alert.update / alert.remove (docs/rpc.md) on the
real binary and the stack's PostgreSQL: the rows in the alerts table (migration 10), alert 0 being
the users row untouched, [limits] alerts_per_user (also under concurrent adds), at-most-once
request ids (replay, reuse with other params), validation errors, the percent move (kind move,
migration 13), the cascade on user.delete, and tickwatch ctl alert. Expected values come from docs/alerts.md and docs/rpc.md.
usage: test_alerts.py TICKWATCH_BINARY"""
import os
import subprocess
import sys
import tempfile
import shutil
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rpclib import Agent, Client, Fail, check, drop_db, err_code, make_db, sql, stack_env  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
ENV = stack_env()
ADMIN = ENV["TW_DB_URL"]
DBNAME = "tw_it_alerts_%d" % os.getpid()
WORK = tempfile.mkdtemp(prefix="tw-it-alerts.")
URL = make_db(ADMIN, DBNAME)
LIMIT = 4  # [limits] alerts_per_user for this run: the first alert and 3 more
AGENT = Agent(BIN, URL, WORK, extra={"TICKWATCH_LIMITS_ALERTS_PER_USER": str(LIMIT)})
results = []


def test(fn):
    results.append(fn)
    return fn


def alerts(email):
    return sql(URL, "SELECT id::text, ticker, kind, level::text, coalesce(level2::text, 'NULL'), "
               "frequency, cooldown_s::text, rearm_pct::text, enabled::text, "
               "coalesce(disabled_reason, 'NULL'), episode::text FROM alerts WHERE email = :'v1' "
               "ORDER BY id", email)


def same(r1, r2):
    """The same answer but for the JSON-RPC id (the client numbers its calls)."""
    return {k: v for k, v in r1.items() if k != "id"} == {k: v for k, v in r2.items() if k != "id"}


def count(table, where="true", *args):
    return int(sql(URL, "SELECT count(*) FROM %s WHERE %s" % (table, where), *args)[0][0])


def register(c, email, ticker="AAPL", high=200, low=100):
    r = c.call("user.register", {"email": email, "ticker": ticker, "high": high, "low": low,
                                 "request_id": "reg-" + email.replace("@", ".")})
    check("result" in r, "register %s: %s" % (email, r))


@test
def add_list_and_alert_zero():
    c = Client(AGENT.port)
    register(c, "ann@example.com")
    seed_before = sql(URL, "SELECT email, ticker, high::text, low::text, updated_at::text FROM "
                      "users WHERE email = 'ann@example.com'")
    r = c.call("alert.add", {"email": "ann@example.com", "ticker": "msft", "kind": "above",
                             "level": 420.5, "request_id": "a-1"})
    res = r.get("result", {})
    check(res.get("ticker") == "MSFT" and res.get("kind") == "above" and res.get("level") == 420.5
          and res.get("level2") is None and res.get("frequency") == "change"
          and res.get("cooldown_s") == 0 and res.get("rearm_pct") == 0
          and res.get("expires_ms") is None and res.get("enabled") is True
          and res.get("disabled_reason") is None and res.get("id", 0) >= 1, "alert.add: %s" % r)
    a1 = res["id"]
    check(alerts("ann@example.com") == [[str(a1), "MSFT", "above", "420.5", "NULL", "change", "0",
                                         "0", "true", "NULL", "0"]],
          "the row in alerts: %s" % alerts("ann@example.com"))
    exp = int(time.time() * 1000) + 86400 * 1000
    r = c.call("alert.add", {"email": "ann@example.com", "ticker": "NVDA", "kind": "band",
                             "level": 100, "level2": 150, "frequency": "daily", "cooldown_s": 3600,
                             "rearm_pct": 1.5, "expires_ms": exp, "request_id": "a-2"})
    res = r.get("result", {})
    check(res.get("kind") == "band" and res.get("level") == 100 and res.get("level2") == 150
          and res.get("frequency") == "daily" and res.get("cooldown_s") == 3600
          and res.get("rearm_pct") == 1.5 and abs(res.get("expires_ms", 0) - exp) <= 1,
          "band alert: %s" % r)
    a2 = res["id"]
    r = c.call("alert.list", {"email": "ann@example.com"})
    lst = r.get("result", {}).get("alerts", [])
    check([a["id"] for a in lst] == [0, a1, a2] and r["result"].get("next") is None,
          "alert.list: alert 0 then the alerts by id: %s" % r)
    z = lst[0]
    check(z["ticker"] == "AAPL" and z["kind"] == "band" and z["level"] == 100
          and z["level2"] == 200 and z["frequency"] == "change" and z["enabled"] is True,
          "alert 0 is the users row (band low 100 to high 200): %s" % z)
    r = c.call("alert.list", {"email": "ann@example.com", "limit": 2})
    check([a["id"] for a in r["result"]["alerts"]] == [0, a1] and r["result"]["next"] == str(a1),
          "a page of 2: %s" % r)
    r = c.call("alert.list", {"email": "ann@example.com", "limit": 2, "after": str(a1)})
    check([a["id"] for a in r["result"]["alerts"]] == [a2] and r["result"]["next"] is None,
          "the next page: %s" % r)
    check(sql(URL, "SELECT email, ticker, high::text, low::text, updated_at::text FROM users "
              "WHERE email = 'ann@example.com'") == seed_before, "the users row is untouched")
    r = c.call("alert.list", {"email": "nobody@example.com"})
    check(err_code(r) == -32003, "alert.list of no user: %s" % r)
    r = c.call("alert.add", {"email": "nobody@example.com", "ticker": "AAPL", "kind": "above",
                             "level": 1, "request_id": "a-nobody"})
    check(err_code(r) == -32003 and count("alerts", "email = 'nobody@example.com'") == 0,
          "alert.add for no user: %s" % r)
    c.close()


@test
def replays_and_reuse():
    c = Client(AGENT.port)
    register(c, "bea@example.com")
    p = {"email": "bea@example.com", "ticker": "IBM", "kind": "below", "level": 90,
         "request_id": "b-1"}
    r1 = c.call("alert.add", p)
    r2 = c.call("alert.add", p)
    check("result" in r1 and same(r1, r2), "the same request_id twice, the same answer: %s / %s"
          % (r1, r2))
    check(count("alerts", "email = 'bea@example.com'") == 1, "one row for two calls")
    r = c.call("alert.add", dict(p, level=91))
    check(err_code(r) == -32006, "the id with other params: %s" % r)
    r = c.call("user.delete", {"email": "bea@example.com", "request_id": "b-1"})
    check(err_code(r) == -32006, "the id with another method: %s" % r)
    aid = r1["result"]["id"]
    u = {"email": "bea@example.com", "id": aid, "level": 80, "request_id": "b-2"}
    r1 = c.call("alert.update", u)
    r2 = c.call("alert.update", u)
    check(r1.get("result", {}).get("level") == 80 and same(r1, r2), "update replayed: %s / %s"
          % (r1, r2))
    check(alerts("bea@example.com")[0][3] == "80" and alerts("bea@example.com")[0][10] == "1",
          "updated once (episode 1): %s" % alerts("bea@example.com"))
    rm = {"email": "bea@example.com", "id": aid, "request_id": "b-3"}
    r1 = c.call("alert.remove", rm)
    r2 = c.call("alert.remove", rm)
    check(r1.get("result", {}).get("removed", {}).get("id") == aid and same(r1, r2),
          "remove replayed: %s / %s" % (r1, r2))
    check(count("alerts", "email = 'bea@example.com'") == 0, "removed")
    r = c.call("alert.remove", dict(rm, request_id="b-4"))
    check(err_code(r) == -32003, "remove again, a new id: not found: %s" % r)
    check(count("rpc_requests", "request_id LIKE 'b-%'") == 4, "each id stored once")
    c.close()


@test
def limit_counts_the_first_alert():
    c = Client(AGENT.port)
    register(c, "cat@example.com")
    ids = []
    for i in range(LIMIT - 1):
        r = c.call("alert.add", {"email": "cat@example.com", "ticker": "T%d" % i, "kind": "cross",
                                 "level": 10 + i, "request_id": "c-%d" % i})
        check("result" in r, "add %d under the limit: %s" % (i, r))
        ids.append(r["result"]["id"])
    r = c.call("alert.add", {"email": "cat@example.com", "ticker": "TX", "kind": "above",
                             "level": 1, "request_id": "c-over"})
    check(err_code(r) == -32002 and "alerts_per_user" in r["error"]["message"]
          and r["error"].get("data", {}).get("field") == "email", "over the limit: %s" % r)
    check(count("alerts", "email = 'cat@example.com'") == LIMIT - 1, "no row over the limit")
    r2 = c.call("alert.add", {"email": "cat@example.com", "ticker": "TX", "kind": "above",
                              "level": 1, "request_id": "c-over"})
    check(same(r2, r), "the refusal is replayed: %s / %s" % (r, r2))
    c.call("alert.remove", {"email": "cat@example.com", "id": ids[0], "request_id": "c-rm"})
    r = c.call("alert.add", {"email": "cat@example.com", "ticker": "TY", "kind": "above",
                             "level": 1, "request_id": "c-after-rm"})
    check("result" in r, "room again after a remove: %s" % r)
    c.close()


@test
def concurrent_adds_stay_under_the_limit():
    c = Client(AGENT.port)
    register(c, "dan@example.com")
    c.close()
    out = []

    def add(i):
        cl = Client(AGENT.port)
        out.append(cl.call("alert.add", {"email": "dan@example.com", "ticker": "C%d" % i,
                                         "kind": "above", "level": 5, "request_id": "d-%d" % i}))
        cl.close()
    ts = [threading.Thread(target=add, args=(i,)) for i in range(12)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    ok = [r for r in out if "result" in r]
    check(len(ok) == LIMIT - 1 and all(err_code(r) == -32002 for r in out if "result" not in r),
          "12 concurrent adds, %d accepted: %s" % (LIMIT - 1, out))
    check(count("alerts", "email = 'dan@example.com'") == LIMIT - 1, "rows after the race")


@test
def validation_errors():
    c = Client(AGENT.port)
    register(c, "eve@example.com")
    base = {"email": "eve@example.com", "ticker": "AAPL", "kind": "above", "level": 10}
    cases = [
        ({"kind": "sideways"}, -32002, "kind"),
        ({"kind": "band"}, -32002, "level2"),
        ({"kind": "band", "level2": 5}, -32002, "level2"),
        ({"kind": "above", "level2": 50}, -32002, "level2"),
        ({"level": 0}, -32002, "level"),
        ({"level": -3}, -32002, "level"),
        ({"level": 1e300}, -32002, "level"),
        ({"frequency": "hourly"}, -32002, "frequency"),
        ({"cooldown_s": -1}, -32002, "cooldown_s"),
        ({"cooldown_s": 30 * 86400 + 1}, -32002, "cooldown_s"),
        ({"cooldown_s": 1.5}, -32602, "cooldown_s"),
        ({"rearm_pct": -0.1}, -32002, "rearm_pct"),
        ({"expires_ms": int(time.time() * 1000) - 1000}, -32002, "expires_ms"),
        ({"ticker": "no spaces"}, -32002, "ticker"),
        ({"level": "ten"}, -32602, "level"),
    ]
    for i, (over, code, field) in enumerate(cases):
        r = c.call("alert.add", dict(base, request_id="e-%d" % i, **over))
        check(err_code(r) == code and r["error"].get("data", {}).get("field") == field,
              "add %s: want %d on %s, got %s" % (over, code, field, r))
    r = c.call("alert.add", dict(base, request_id="e-x", enabled=False))
    check(err_code(r) == -32602 and "unknown param 'enabled'" in r["error"]["message"],
          "add takes no enabled: %s" % r)
    r = c.call("alert.add", dict(base, request_id="e-y", colour="red"))
    check(err_code(r) == -32602 and "unknown param 'colour'" in r["error"]["message"],
          "unknown param: %s" % r)
    r = c.call("alert.add", {"email": "eve@example.com", "ticker": "AAPL", "kind": "above",
                             "level": 10})
    check(err_code(r) == -32602 and "request_id" in r["error"]["message"], "no request_id: %s" % r)
    check(count("alerts", "email = 'eve@example.com'") == 0, "nothing stored by refused adds")
    check(count("rpc_requests", "request_id LIKE 'e-%'") == 0, "no id claimed by a refusal")
    r = c.call("alert.remove", {"email": "eve@example.com", "id": 0, "request_id": "e-r0"})
    check(err_code(r) == -32602 and "user.delete" in r["error"]["message"],
          "alert 0 cannot be removed: %s" % r)
    r = c.call("alert.update", {"email": "eve@example.com", "id": 0, "level": 5,
                                "request_id": "e-u0"})
    check(err_code(r) == -32602 and "user.update_thresholds" in r["error"]["message"],
          "alert 0 is changed by the user methods: %s" % r)
    r = c.call("alert.add", dict(base, kind="band", level=10, level2=20, request_id="e-ok"))
    aid = r["result"]["id"]
    r = c.call("alert.update", {"email": "eve@example.com", "id": aid, "level": 30,
                                "request_id": "e-u1"})
    check(err_code(r) == -32002 and "level < level2" in r["error"]["message"],
          "update breaking the band with the stored level2: %s" % r)
    check(alerts("eve@example.com")[0][3] == "10", "the row stays: %s" % alerts("eve@example.com"))
    r = c.call("alert.update", {"email": "eve@example.com", "id": aid, "kind": "above",
                                "request_id": "e-u2"})
    check(r.get("result", {}).get("kind") == "above" and r["result"]["level2"] is None,
          "band to above drops level2: %s" % r)
    r = c.call("alert.update", {"email": "eve@example.com", "id": aid, "enabled": False,
                                "request_id": "e-u3"})
    check(r.get("result", {}).get("enabled") is False
          and r["result"]["disabled_reason"] == "user", "disabled by the user: %s" % r)
    r = c.call("alert.update", {"email": "eve@example.com", "id": aid, "enabled": True,
                                "request_id": "e-u4"})
    check(r.get("result", {}).get("enabled") is True and r["result"]["disabled_reason"] is None,
          "enabled again: %s" % r)
    r = c.call("alert.update", {"email": "eve@example.com", "id": aid + 1000,
                                "level": 3, "request_id": "e-u5"})
    check(err_code(r) == -32003, "update of no such alert: %s" % r)
    register(c, "fay@example.com")
    r = c.call("alert.remove", {"email": "fay@example.com", "id": aid, "request_id": "e-u6"})
    check(err_code(r) == -32003 and count("alerts", "id = %d" % aid) == 1,
          "another user's alert id is not found: %s" % r)
    c.close()


@test
def move_alerts():
    """kind move (docs/alerts.md, Kinds): level the percent, 0 < level <= 100, checked on add
    and on update (also against the stored kind or level), and by the table (migration 13)."""
    c = Client(AGENT.port)
    register(c, "mo@example.com")
    base = {"email": "mo@example.com", "ticker": "AAPL", "kind": "move"}
    r = c.call("alert.add", dict(base, level=5, rearm_pct=2, request_id="m-1"))
    res = r.get("result", {})
    check(res.get("kind") == "move" and res.get("level") == 5 and res.get("level2") is None
          and res.get("rearm_pct") == 2, "add move: %s" % r)
    mid = res["id"]
    check(alerts("mo@example.com") == [[str(mid), "AAPL", "move", "5", "NULL", "change", "0",
                                        "2", "true", "NULL", "0"]],
          "the move row: %s" % alerts("mo@example.com"))
    r2 = c.call("alert.add", dict(base, level=5, rearm_pct=2, request_id="m-1"))
    check(same(r, r2) and count("alerts", "email = 'mo@example.com'") == 1,
          "a repeated add is replayed, not executed: %s" % r2)
    cases = [
        ({"level": 100.5}, -32002, "level"),
        ({"level": 1e9}, -32002, "level"),
        ({"level": 0}, -32002, "level"),
        ({"level": -5}, -32002, "level"),
        ({"level": 5, "level2": 10}, -32002, "level2"),
        ({"kind": "moves", "level": 5}, -32002, "kind"),
    ]
    for i, (over, code, field) in enumerate(cases):
        r = c.call("alert.add", dict(base, request_id="m-e%d" % i, **over))
        check(err_code(r) == code and r["error"].get("data", {}).get("field") == field,
              "add %s: want %d on %s, got %s" % (over, code, field, r))
    check(count("alerts", "email = 'mo@example.com'") == 1, "nothing stored by refused adds")
    r = c.call("alert.add", dict(base, level=100, request_id="m-100"))
    check(r.get("result", {}).get("level") == 100, "level 100 is the most: %s" % r)
    c.call("alert.remove", {"email": "mo@example.com", "id": r["result"]["id"],
                            "request_id": "m-100-rm"})
    # update: the level of a stored move, an above with a large level turned into a move
    r = c.call("alert.update", {"email": "mo@example.com", "id": mid, "level": 2.5,
                                "request_id": "m-u1"})
    check(r.get("result", {}).get("level") == 2.5 and r["result"]["kind"] == "move",
          "update the percent: %s" % r)
    r = c.call("alert.update", {"email": "mo@example.com", "id": mid, "level": 150,
                                "request_id": "m-u2"})
    check(err_code(r) == -32002 and r["error"].get("data", {}).get("field") == "level"
          and "percent" in r["error"]["message"], "a stored move's level over 100: %s" % r)
    check(alerts("mo@example.com")[0][3] == "2.5", "the row stays: %s" % alerts("mo@example.com"))
    r = c.call("alert.add", {"email": "mo@example.com", "ticker": "MSFT", "kind": "above",
                             "level": 500, "request_id": "m-a"})
    aid = r["result"]["id"]
    r = c.call("alert.update", {"email": "mo@example.com", "id": aid, "kind": "move",
                                "request_id": "m-u3"})
    check(err_code(r) == -32002 and r["error"].get("data", {}).get("field") == "level",
          "above 500 made a move keeps level 500: refused: %s" % r)
    r = c.call("alert.update", {"email": "mo@example.com", "id": aid, "kind": "move",
                                "level": 101, "request_id": "m-u4"})
    check(err_code(r) == -32002 and r["error"].get("data", {}).get("field") == "level",
          "kind move with level 101: %s" % r)
    r = c.call("alert.update", {"email": "mo@example.com", "id": aid, "kind": "move",
                                "level": 3, "request_id": "m-u5"})
    check(r.get("result", {}).get("kind") == "move" and r["result"]["level"] == 3,
          "above made a move of 3 %%: %s" % r)
    r = c.call("alert.update", {"email": "mo@example.com", "id": aid, "kind": "above",
                                "level": 500, "request_id": "m-u6"})
    check(r.get("result", {}).get("kind") == "above" and r["result"]["level"] == 500,
          "and back to above 500: %s" % r)
    r = c.call("alert.list", {"email": "mo@example.com"})
    kinds = [(a["id"], a["kind"], a["level"]) for a in r["result"]["alerts"]]
    check(kinds == [(0, "band", 100), (mid, "move", 2.5), (aid, "above", 500)],
          "alert.list: %s" % kinds)
    # the table refuses what the methods refuse (migration 13's checks)
    try:
        sql(URL, "INSERT INTO alerts (email, ticker, kind, level) VALUES "
            "('mo@example.com', 'AAPL', 'move', 101)")
        check(False, "the table took a move of 101 %")
    except Fail as e:
        check("alerts_move_level" in str(e), "refused by another rule: %s" % e)
    try:
        sql(URL, "INSERT INTO alerts (email, ticker, kind, level) VALUES "
            "('mo@example.com', 'AAPL', 'sideways', 1)")
        check(False, "the table took kind sideways")
    except Fail as e:
        check("alerts_kind_check" in str(e), "refused by another rule: %s" % e)
    c.close()


@test
def expired_alert_listed_disabled():
    c = Client(AGENT.port)
    register(c, "ivy@example.com")
    exp = int(time.time() * 1000) + 3600 * 1000
    r = c.call("alert.add", {"email": "ivy@example.com", "ticker": "AMD", "kind": "above",
                             "level": 150, "expires_ms": exp, "request_id": "i-1"})
    aid = r["result"]["id"]
    lst = c.call("alert.list", {"email": "ivy@example.com"})["result"]["alerts"]
    check(lst[1]["enabled"] is True and lst[1]["disabled_reason"] is None, "live: %s" % lst)
    sql(URL, "UPDATE alerts SET expires_at = now() - interval '1 minute' WHERE id = :'v1'",
        str(aid))
    lst = c.call("alert.list", {"email": "ivy@example.com"})["result"]["alerts"]
    check(lst[1]["enabled"] is False and lst[1]["disabled_reason"] == "expired",
          "past its expiry it is listed disabled, expired: %s" % lst)
    r = c.call("alert.update", {"email": "ivy@example.com", "id": aid, "enabled": True,
                                "request_id": "i-2"})
    check(err_code(r) == -32002 and r["error"]["data"]["field"] == "expires_ms",
          "enabling an expired alert needs a new expiry: %s" % r)
    r = c.call("alert.update", {"email": "ivy@example.com", "id": aid, "expires_ms": exp,
                                "request_id": "i-3"})
    check(r.get("result", {}).get("enabled") is True, "a new expiry: live again: %s" % r)
    c.close()


@test
def cascade_on_user_delete():
    c = Client(AGENT.port)
    register(c, "gus@example.com")
    for i in range(2):
        c.call("alert.add", {"email": "gus@example.com", "ticker": "G%d" % i, "kind": "above",
                             "level": 3, "request_id": "g-%d" % i})
    check(count("alerts", "email = 'gus@example.com'") == 2, "two alerts")
    r = c.call("user.delete", {"email": "gus@example.com", "request_id": "g-del"})
    check("result" in r and count("alerts", "email = 'gus@example.com'") == 0,
          "user.delete takes the alerts with it: %s" % r)
    c.close()


@test
def shard_like_users():
    check(sql(URL, "SELECT count(*) FROM alerts a JOIN users u USING (email) "
              "WHERE a.shard <> u.shard") == [["0"]], "alerts.shard is users.shard")


@test
def ctl_alert():
    env = dict(os.environ, TICKWATCH_RPC_LISTEN="127.0.0.1:%d" % AGENT.port)

    def ctl(*a):
        return subprocess.run([BIN, "ctl"] + list(a), env=env, capture_output=True, text=True,
                              timeout=60)
    c = Client(AGENT.port)
    register(c, "hal@example.com")
    c.close()
    r = ctl("alert", "add", "hal@example.com", "tsla", "band", "200", "250", "frequency=once",
            "cooldown_s=60")
    check(r.returncode == 0 and "TSLA" in r.stdout and "once" in r.stdout,
          "ctl alert add: %s %s" % (r.stdout, r.stderr))
    rows = alerts("hal@example.com")
    check(len(rows) == 1 and rows[0][1:8] == ["TSLA", "band", "200", "250", "once", "60", "0"],
          "the row: %s" % rows)
    aid = rows[0][0]
    r = ctl("alert", "update", "hal@example.com", aid, "enabled=false")
    check(r.returncode == 0 and "disabled: user" in r.stdout, "ctl alert update: %s %s"
          % (r.stdout, r.stderr))
    r = ctl("alert", "list", "hal@example.com")
    check(r.returncode == 0 and "(2 alerts)" in r.stdout and "alert 0 " in r.stdout,
          "ctl alert list: %s %s" % (r.stdout, r.stderr))
    r = ctl("alert", "remove", "hal@example.com", "0")
    check(r.returncode == 1 and "-32602" in r.stderr, "ctl alert remove 0: %s" % r.stderr)
    r = ctl("alert", "add", "hal@example.com", "tsla", "above", "x")
    check(r.returncode == 2, "ctl alert add, LEVEL not a number: usage (2): %s" % r.stderr)
    r = ctl("alert", "remove", "hal@example.com", aid)
    check(r.returncode == 0 and "removed alert " + aid in r.stdout, "ctl alert remove: %s %s"
          % (r.stdout, r.stderr))
    check(alerts("hal@example.com") == [], "removed")


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
