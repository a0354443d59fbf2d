#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""test_rpc_once.py - at most once over the rpc role's pool of write connections ([db]
write_connections): 40 concurrent clients send the same request ids at the same time (the same
register, update or delete several times over, the same id with other params, other ids for the
same e-mail), and PostgreSQL must hold each command's effect exactly once: one user row per
e-mail, one rpc_requests row per id, alert_state's episode moved once per executed update; every
client that sent an id with the same params got the same answer. The agent must really write on
its pool: PostgreSQL sees the shared write and read connections plus write_connections more.
usage: test_rpc_once.py TICKWATCH_BINARY"""
import os
import random
import shutil
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rpclib import Agent, Client, Fail, check, drop_db, err_code, make_db, sql, stack_env  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
ENV = stack_env()
ADMIN = ENV["TW_DB_URL"]
DBNAME = "tw_it_rpc_once_%d" % os.getpid()
WORK = tempfile.mkdtemp(prefix="tw-it-rpc-once.")
CLIENTS = 40
POOL = 4
IDS = 60      # register ids, each sent by every client
CLASH = 20    # ids sent with two different params sets
DUPS = 10     # e-mails registered under one id per client


def count(url, table, where="true", *args):
    return int(sql(url, "SELECT count(*) FROM %s WHERE %s" % (table, where), *args)[0][0])


def requests():
    """Every (request id, method, params) a client sends; each client sends all of them."""
    out = []
    for i in range(IDS):
        out.append(("reg-%d" % i, "user.register",
                    {"email": "once%03d@example.com" % i, "ticker": "AAPL", "high": 200 + i,
                     "low": 100}))
    for i in range(IDS // 2):  # an update of half of them, the same id from everybody
        out.append(("upd-%d" % i, "user.update_ticker",
                    {"email": "once%03d@example.com" % i, "ticker": "U%d" % i}))
    return out


def run_clients(port):
    answers = {}  # request id -> list of answers (result or error), one per client
    errors = []
    lock = threading.Lock()
    base = requests()

    def worker(n):
        rnd = random.Random(n)
        mine = list(base)
        for j in range(CLASH):  # odd clients send other params under the same id
            mine.append(("clash-%d" % j, "user.register",
                         {"email": "clash%02d.%s@example.com" % (j, "b" if n % 2 else "a"),
                          "ticker": "MSFT"}))
        for j in range(DUPS):  # every client its own id, all for the same e-mail
            mine.append(("dup-%d-%d" % (j, n), "user.register",
                         {"email": "dup%02d@example.com" % j, "ticker": "IBM"}))
        rnd.shuffle(mine)
        # registers before the updates of the same user, or the update may find no user yet
        mine.sort(key=lambda r: r[1] != "user.register")
        try:
            c = Client(port, timeout=60)
            for rid, method, params in mine:
                r = c.call(method, dict(params, request_id=rid))
                with lock:
                    answers.setdefault(rid, []).append(
                        (n, r.get("result"), r.get("error"), params["email"]))
            c.close()
        except Exception as ex:  # noqa: BLE001
            errors.append("client %d: %s" % (n, ex))

    ts = [threading.Thread(target=worker, args=(n,)) for n in range(CLIENTS)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(300)
    check(not errors, "; ".join(errors[:5]))
    return answers


def main():
    url = make_db(ADMIN, DBNAME)
    agent = Agent(BIN, url, WORK, extra={"TICKWATCH_DB_WRITE_CONNECTIONS": str(POOL),
                                         "TICKWATCH_LIMITS_RPC_SLOTS": "64",
                                         "TICKWATCH_LIMITS_MAX_FDS": "128",
                                         "TICKWATCH_AGENT_LOG_LEVEL": "warn"})
    failed = 0
    try:
        agent.start()
        answers = run_clients(agent.port)
        # the pool is real: PostgreSQL sees write + read + POOL connections of the agent
        conns = count(url, "pg_stat_activity", "datname = :'v1' AND application_name = "
                      "'tickwatch'", DBNAME)
        check(conns == 2 + POOL, "connections of the agent seen by PostgreSQL: %d, want %d"
              % (conns, 2 + POOL))
        # registers: one row per e-mail, one request row per id, the same answer for all
        for i in range(IDS):
            rid, email = "reg-%d" % i, "once%03d@example.com" % i
            got = answers[rid]
            check(len(got) == CLIENTS, "%s: %d answers" % (rid, len(got)))
            check(all(g[1] == got[0][1] and g[2] is None for g in got),
                  "%s: answers differ or failed: %s" % (rid, got[:3]))
            check(got[0][1]["email"] == email and got[0][1]["high"] == 200 + i, "%s: %s"
                  % (rid, got[0][1]))
            check(count(url, "users", "email = :'v1'", email) == 1, "%s: user rows" % email)
            check(count(url, "rpc_requests", "request_id = :'v1'", rid) == 1, "%s rows" % rid)
        # updates executed once: the ticker changed and the user re-armed exactly once
        for i in range(IDS // 2):
            rid, email = "upd-%d" % i, "once%03d@example.com" % i
            got = answers[rid]
            check(all(g[1] == got[0][1] and g[2] is None for g in got),
                  "%s: answers differ: %s" % (rid, got[:3]))
            row = sql(url, "SELECT u.ticker, s.episode FROM users u JOIN alert_state s USING "
                      "(email) WHERE email = :'v1'", email)
            check(row == [["U%d" % i, "1"]], "%s: ticker and episode %s (one re-arm)" % (email, row))
        for i in range(IDS // 2, IDS):
            check(count(url, "alert_state", "email = :'v1'", "once%03d@example.com" % i) == 0,
                  "no update was sent for user %d" % i)
        # the same id with other params: one of the two registered, the other side -32006
        for j in range(CLASH):
            got = answers["clash-%d" % j]
            won = [g for g in got if g[1] is not None]
            lost = [g for g in got if g[1] is None]
            check(won and all(g[3] == won[0][3] and g[1] == won[0][1] for g in won),
                  "clash-%d: winners %s" % (j, won[:3]))
            check(all(err_code({"error": g[2]}) == -32006 and g[3] != won[0][3] for g in lost),
                  "clash-%d: the other params must get -32006: %s" % (j, lost[:3]))
            rows = sql(url, "SELECT email FROM users WHERE email LIKE :'v1'", "clash%02d.%%" % j)
            check(rows == [[won[0][3]]], "clash-%d: users %s, want only %s" % (j, rows, won[0][3]))
            check(count(url, "rpc_requests", "request_id = :'v1'", "clash-%d" % j) == 1,
                  "clash-%d request rows" % j)
        # one e-mail under many ids: registered once, every other id says it exists
        for j in range(DUPS):
            email = "dup%02d@example.com" % j
            got = [a for rid, a in answers.items() if rid.startswith("dup-%d-" % j)]
            ok = [a[0] for a in got if a[0][1] is not None]
            check(len(got) == CLIENTS and len(ok) == 1, "%s: %d of %d registered"
                  % (email, len(ok), len(got)))
            check(all(err_code({"error": a[0][2]}) == -32004 for a in got if a[0][1] is None),
                  "%s: the others must say it exists" % email)
            check(count(url, "users", "email = :'v1'", email) == 1, "%s rows" % email)
        check(count(url, "rpc_requests") == IDS + IDS // 2 + CLASH + DUPS * CLIENTS,
              "rpc_requests rows: %d" % count(url, "rpc_requests"))
        print("ok - concurrent repeated request ids over %d write connections" % POOL)
    except Fail as e:
        failed = 1
        print("FAIL - %s" % e)
    finally:
        log = agent.stop() if agent.proc else ""
        for bad in ("ERROR: AddressSanitizer", "runtime error"):
            if bad in log:
                failed = 1
                print("FAIL - sanitizer: " + bad)
        if failed:
            print("agent log (tail):\n" + log[-3000:])
        drop_db(ADMIN, DBNAME)
        shutil.rmtree(WORK, ignore_errors=True)
    return failed


if __name__ == "__main__":
    sys.exit(main())
