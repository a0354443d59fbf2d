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
from rpclib import Agent, Client, Fail, check, drop_db, err_code, free_port, make_db, sql, stack_env  # noqa: E402,E501

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
    """(ticker, ticker_verified as true / false / '') of @email's row, or None."""
    r = sql(url, "SELECT ticker, coalesce(ticker_verified::text, '') FROM users WHERE email = :'v1'",
            email)
    return tuple(r[0]) if r else None


def accepted(c, url, method, email, ticker, rid, want_row):
    """@method for @email with @ticker answers a result and leaves the row @want_row."""
    r = c.call(method, {"email": email, "ticker": ticker, "request_id": rid})
    check("result" in r, "%s %s %s: %s" % (method, email, ticker, r))
    check(row(url, email) == want_row, "%s: row %s, want %s" % (email, row(url, email), want_row))


def refused(c, url, method, email, ticker, rid, want_row):
    """@method answers -32002 "unknown ticker" (field ticker) and the row stays @want_row."""
    r = c.call(method, {"email": email, "ticker": ticker, "request_id": rid})
    e = r.get("error", {})
    check(err_code(r) == -32002 and e.get("message") == "unknown ticker" and
          e.get("data", {}).get("field") == "ticker", "%s %s refused: %s" % (method, ticker, r))
    check(row(url, email) == want_row, "%s: row %s after the refusal" % (email, row(url, email)))


def with_agent(url, extra, body):
    agent = Agent(BIN, url, WORK, extra=extra).start()
    c = Client(agent.port)
    try:
        body(c)
    finally:
        c.close()
        agent.stop()


def answering(url):
    def body(c):
        accepted(c, url, "user.register", "known@example.com", "AAPL", "t-1", ("AAPL", "true"))
        check(asked("AAPL") == 1, "the quote server was asked about AAPL once")
        print("ok - a known ticker: registered, ticker_verified true")
        refused(c, url, "user.register", "nope@example.com", "ZZZZ", "t-2", None)
        check(asked("ZZZZ") == 1, "the quote server was asked about ZZZZ")
        print("ok - an unknown ticker: -32002 unknown ticker, no row")
        refused(c, url, "user.update_ticker", "known@example.com", "ZZZZ", "t-3", ("AAPL", "true"))
        accepted(c, url, "user.update_ticker", "known@example.com", "ibm", "t-4", ("IBM", "true"))
        print("ok - update_ticker: unknown refused (row unchanged), a listed one stored verified")
        qctl("/mode", mode="slow", delay_ms="5000")  # answers after [quotes] timeout (3 s)
        try:
            accepted(c, url, "user.register", "slow@example.com", "MSFT", "t-5",
                     ("MSFT", "false"))
        finally:
            qctl("/mode", mode="normal")
        print("ok - quote server slower than [quotes] timeout: accepted, ticker_verified false")
    with_agent(url, {}, body)


def down(url):
    def body(c):
        accepted(c, url, "user.register", "down@example.com", "ZZZZ", "t-6", ("ZZZZ", "false"))
        print("ok - nothing listens at [quotes] base: accepted, ticker_verified false")
    with_agent(url, {"TICKWATCH_QUOTES_BASE": "https://127.0.0.1:%d" % free_port()}, body)


def off(url):
    def body(c):
        before = asked("NOSUCH")
        accepted(c, url, "user.register", "off@example.com", "NOSUCH", "t-7", ("NOSUCH", ""))
        check(asked("NOSUCH") == before, "the quote server was asked with the check off")
        print("ok - check_tickers false: accepted, ticker_verified NULL, nobody asked")
    with_agent(url, {"TICKWATCH_RPC_CHECK_TICKERS": "false"}, body)


if __name__ == "__main__":
    status = 0
    try:
        db = make_db(ADMIN, DBNAME)
        qctl("/reset")
        for case in (answering, down, off):
            case(db)
        print("all ticker checks passed")
    except Fail as e:
        print("FAIL - %s" % e)
        status = 1
    finally:
        drop_db(ADMIN, DBNAME)
        shutil.rmtree(WORK, ignore_errors=True)
    sys.exit(status)
