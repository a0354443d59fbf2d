#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""test_rpc_pool.py - user.register over the rpc role's pool of write connections ([db]
write_connections, docs/rpc.md): a burst of concurrent registers really runs on several
connections (PostgreSQL's pg_stat_activity shows more than one backend of the agent whose
last statement was the register) and every register is one row; and the same request_id sent at the same moment on two
JSON-RPC connections executes once (one users row, one rpc_requests row) and both get the same
answer, the row as stored. With the ticker check on, the verdict is in the registered row.
usage: test_rpc_pool.py TICKWATCH_BINARY"""
import os
import shutil
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rpclib import Agent, Client, Fail, check, drop_db, make_db, sql, stack_env  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
ENV = stack_env()
ADMIN = ENV["TW_DB_URL"]
DBNAME = "tw_it_rpc_pool_%d" % os.getpid()
WORK = tempfile.mkdtemp(prefix="tw-it-rpc-pool.")
POOL = 4
CLIENTS = 20
EACH = 25     # registers per client in the burst
PAIRS = 40    # request ids each sent by two clients at once


def count(url, table, where="true", *args):
    return int(sql(url, "SELECT count(*) FROM %s WHERE %s" % (table, where), *args)[0][0])


def burst(port):
    """CLIENTS clients at once, each EACH registers of its own e-mails and ids."""
    errors = []
    start = threading.Barrier(CLIENTS)

    def worker(n):
        try:
            c = Client(port, timeout=60)
            start.wait(30)
            for k in range(EACH):
                r = c.call("user.register", {"email": "burst%02d.%02d@example.com" % (n, k),
                                             "ticker": "AAPL", "high": 200, "low": 100,
                                             "request_id": "burst-%d-%d" % (n, k)})
                if "result" not in r:
                    errors.append("client %d: %s" % (n, r))
            c.close()
        except Exception as ex:  # noqa: BLE001
            errors.append("client %d: %s" % (n, ex))

    ts = [threading.Thread(target=worker, args=(n,)) for n in range(CLIENTS)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(300)
    check(not errors, "burst: " + "; ".join(errors[:3]))


def pairs(port):
    """For each id, two connections send the same register at the same moment."""
    answers = {}
    errors = []
    lock = threading.Lock()
    go = threading.Barrier(2)

    def side(name):
        try:
            c = Client(port, timeout=60)
            for i in range(PAIRS):
                go.wait(30)
                r = c.call("user.register", {"email": "pair%02d@example.com" % i,
                                             "ticker": "MSFT", "high": 300 + i,
                                             "request_id": "pair-%d" % i})
                with lock:
                    answers.setdefault(i, []).append(r)
            c.close()
        except Exception as ex:  # noqa: BLE001
            errors.append("%s: %s" % (name, ex))
            go.abort()

    ts = [threading.Thread(target=side, args=(s,)) for s in ("a", "b")]
    for t in ts:
        t.start()
    for t in ts:
        t.join(300)
    check(not errors, "pairs: " + "; ".join(errors[:3]))
    return answers


def main():
    url = make_db(ADMIN, DBNAME)
    agent = Agent(BIN, url, WORK, extra={"TICKWATCH_DB_WRITE_CONNECTIONS": str(POOL),
                                         "TICKWATCH_RPC_CHECK_TICKERS": "false",
                                         "TICKWATCH_LIMITS_RPC_SLOTS": "32",
                                         "TICKWATCH_AGENT_LOG_LEVEL": "warn"})
    failed = 0
    try:
        agent.start()
        burst(agent.port)
        check(count(url, "users", "email LIKE 'burst%'") == CLIENTS * EACH,
              "burst: %d user rows, want %d" % (count(url, "users", "email LIKE 'burst%'"),
                                                CLIENTS * EACH))
        check(count(url, "rpc_requests", "request_id LIKE 'burst-%'") == CLIENTS * EACH,
              "burst: request rows")
        # pg_stat_activity keeps each backend's last statement: the register's (prepared,
        # shown as its text) on more than one backend of the agent means several connections
        # ran registers; the shared write connection alone would be one
        ran = count(url, "pg_stat_activity", "datname = :'v1' AND application_name = "
                    "'tickwatch' AND query LIKE 'WITH prev AS%'", DBNAME)
        check(ran >= 2, "backends of the agent that ran a register: %d, want >= 2 (of %d)"
              % (ran, POOL))
        print("ok - %d concurrent registers, one row each, on %d connections" % (
            CLIENTS * EACH, ran))

        answers = pairs(agent.port)
        for i in range(PAIRS):
            got = answers.get(i, [])
            email = "pair%02d@example.com" % i
            check(len(got) == 2, "pair-%d: %d answers" % (i, len(got)))
            check(all("result" in g for g in got), "pair-%d: %s" % (i, got))
            check(got[0]["result"] == got[1]["result"],
                  "pair-%d: the two answers differ: %s" % (i, got))
            row = sql(url, "SELECT email, ticker, high, (extract(epoch FROM created_at) * 1000)"
                      "::bigint FROM users WHERE email = :'v1'", email)
            check(len(row) == 1, "pair-%d: %d user rows" % (i, len(row)))
            res = got[0]["result"]
            check([res["email"], res["ticker"], float(res["high"]), int(res["created_ms"])] ==
                  [row[0][0], row[0][1], float(row[0][2]), int(row[0][3])],
                  "pair-%d: answer %s is not the stored row %s" % (i, res, row))
            check(count(url, "rpc_requests", "request_id = :'v1'", "pair-%d" % i) == 1,
                  "pair-%d: request rows" % i)
        print("ok - the same request_id on two connections at once: executed once, "
              "the same answer (%d ids)" % PAIRS)

        # the ticker check's verdict goes in with the row (one statement): on, a known ticker
        agent.stop()
        agent = Agent(BIN, url, WORK, extra={"TICKWATCH_DB_WRITE_CONNECTIONS": str(POOL),
                                             "TICKWATCH_AGENT_LOG_LEVEL": "warn"})
        agent.start()
        c = Client(agent.port, timeout=30)
        r = c.call("user.register", {"email": "checked@example.com", "ticker": "AAPL",
                                     "request_id": "checked-1"})
        r2 = c.call("user.register", {"email": "checked@example.com", "ticker": "AAPL",
                                      "request_id": "checked-1"})
        c.close()
        check("result" in r and r2.get("result") == r["result"], "checked: %s / %s" % (r, r2))
        v = sql(url, "SELECT coalesce(ticker_verified::text, 'null') FROM users WHERE "
                "email = 'checked@example.com'")
        check(v == [["true"]], "checked: ticker_verified %s, want true" % v)
        print("ok - the ticker check's verdict stored with the registered row")
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
