#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""test_tickers.py - [rpc] check_tickers against the stack's quote server and PostgreSQL: the
rpc role asks the quote source about the ticker of user.register and user.update_ticker.
  - a ticker the quote server knows (a scenario ticker, a listed one): the row is stored with
    users.ticker_verified = true;
  - one it does not know (404 Not Found): -32002 "unknown ticker", no row (register), the row
    unchanged (update_ticker);
  - the quote server answering slower than [quotes] timeout, or not listening at all: the
    registration is accepted, ticker_verified = false;
  - check_tickers = false: accepted without a question, ticker_verified NULL.
The oracle is docs/rpc.md's rule, and the quote server's request counts show it was asked.
usage: test_tickers.py TICKWATCH_BINARY"""
import json
import os
import shutil
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rpclib import Agent, Client, Fail, check, drop_db, err_code, free_port, make_db, sql, stack_env  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
ENV = stack_env(need=("TW_DB_URL", "TW_QUOTES_CONTROL", "TW_QUOTES_BASE"))
ADMIN = ENV["TW_DB_URL"]
CTL = ENV["TW_QUOTES_CONTROL"]
DBNAME = "tw_it_tickers_%d" % os.getpid()
WORK = tempfile.mkdtemp(prefix="tw-it-tickers.")


def qctl(path, **form):
    data = "&".join("%s=%s" % kv for kv in form.items()).encode()
    with urllib.request.urlopen(CTL + path, data=data, timeout=10) as r:
        return json.load(r)


def asked(ticker):
    with urllib.request.urlopen(CTL + "/state", timeout=10) as r:
        return json.load(r)["requests"]["yahoo"].get(ticker, 0)


def row(url, email):
    """(ticker, ticker_verified as t / f / '') of @email's row, or None."""
    r = sql(url, "SELECT ticker, coalesce(ticker_verified::text, '') FROM users WHERE email = :'v1'",
            email)
    return tuple(r[0]) if r else None


def main():
    url = make_db(ADMIN, DBNAME)
    qctl("/reset")
    agent = Agent(BIN, url, WORK).start()
    try:
        c = Client(agent.port)
        r = c.call("user.register", {"email": "known@example.com", "ticker": "AAPL",
                                     "request_id": "t-1"})
        check("result" in r, "AAPL registered: %s" % r)
        check(row(url, "known@example.com") == ("AAPL", "true"), "AAPL verified: %s"
              % (row(url, "known@example.com"),))
        check(asked("AAPL") == 1, "the quote server was asked about AAPL once")
        print("ok - a known ticker: registered, ticker_verified true")

        r = c.call("user.register", {"email": "nope@example.com", "ticker": "ZZZZ",
                                     "request_id": "t-2"})
        check(err_code(r) == -32002 and r["error"]["message"] == "unknown ticker" and
              r["error"].get("data", {}).get("field") == "ticker", "ZZZZ refused: %s" % r)
        check(row(url, "nope@example.com") is None, "no row for an unknown ticker")
        check(asked("ZZZZ") == 1, "the quote server was asked about ZZZZ")
        print("ok - an unknown ticker: -32002 unknown ticker, no row")

        r = c.call("user.update_ticker", {"email": "known@example.com", "ticker": "ZZZZ",
                                          "request_id": "t-3"})
        check(err_code(r) == -32002, "update to ZZZZ refused: %s" % r)
        check(row(url, "known@example.com") == ("AAPL", "true"), "row unchanged after the refusal")
        r = c.call("user.update_ticker", {"email": "known@example.com", "ticker": "ibm",
                                          "request_id": "t-4"})
        check(r.get("result", {}).get("ticker") == "IBM", "update to a listed ticker: %s" % r)
        check(row(url, "known@example.com") == ("IBM", "true"), "IBM verified: %s"
              % (row(url, "known@example.com"),))
        print("ok - update_ticker: unknown refused (row unchanged), known stored verified")

        # the quote server answers after the time-out: accepted, not verified
        qctl("/mode", mode="slow", delay_ms="5000")
        r = c.call("user.register", {"email": "slow@example.com", "ticker": "MSFT",
                                     "request_id": "t-5"})
        qctl("/mode", mode="normal")
        check("result" in r, "registration during a slow quote server accepted: %s" % r)
        check(row(url, "slow@example.com") == ("MSFT", "false"), "MSFT unverified: %s"
              % (row(url, "slow@example.com"),))
        print("ok - quote server slower than [quotes] timeout: accepted, ticker_verified false")
        c.close()
        agent.stop()

        # nothing listens where the quote server should be
        down = Agent(BIN, url, WORK, extra={
            "TICKWATCH_QUOTES_BASE": "https://127.0.0.1:%d" % free_port()}).start()
        c = Client(down.port)
        r = c.call("user.register", {"email": "down@example.com", "ticker": "ZZZZ",
                                     "request_id": "t-6"})
        check("result" in r, "registration with the quote server down accepted: %s" % r)
        check(row(url, "down@example.com") == ("ZZZZ", "false"), "ZZZZ unverified: %s"
              % (row(url, "down@example.com"),))
        print("ok - quote server down: accepted, ticker_verified false")
        c.close()
        down.stop()

        off = Agent(BIN, url, WORK, extra={"TICKWATCH_RPC_CHECK_TICKERS": "false"}).start()
        c = Client(off.port)
        before = asked("NOSUCH")
        r = c.call("user.register", {"email": "off@example.com", "ticker": "NOSUCH",
                                     "request_id": "t-7"})
        check("result" in r, "registration with the check off accepted: %s" % r)
        check(row(url, "off@example.com") == ("NOSUCH", ""), "not checked: NULL")
        check(asked("NOSUCH") == before, "the quote server was not asked")
        print("ok - check_tickers false: accepted, ticker_verified NULL, nobody asked")
        c.close()
        off.stop()
    finally:
        agent.stop()
        drop_db(ADMIN, DBNAME)


if __name__ == "__main__":
    try:
        main()
    except Fail as e:
        print("FAIL - %s" % e)
        sys.exit(1)
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
    print("all ticker checks passed")
