#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/rpc.py - user.register requests/s from 20 concurrent JSON-RPC clients against a running
agent (rpc role, [db] write_connections 4) on the stack's PostgreSQL, printed next to the same
run's pgbench rates with 20 clients on the same server: a plain one-row INSERT (the reference of
issue 17's goal, register / INSERT >= 0.5, printed as "ratio"), and the 5-statement transaction
the agent ran per register before its one statement (BEGIN, claim the request id, INSERT the user,
store the response, COMMIT). The register (check off) and the INSERT alternate ROUNDS times and
the best of each is compared, so a load other work puts on the machine for a while hits both
alike. The register is measured twice: with [rpc] check_tickers off (the
database path the goal is about: one statement, one round trip) and on (each register first asks
the stack's quote server, a Python HTTPS server, on at most 2 connections: its rate, not the
database's, bounds that figure).
usage: bench/rpc.py TICKWATCH_BINARY [SECONDS]   (needs scripts/stack.sh up)"""
import os
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration", "rpc"))
from rpclib import Agent, Client, drop_db, make_db, sql, stack_env  # noqa: E402

PGBENCH = "/usr/lib/postgresql/15/bin/pgbench"
CLIENTS = 20
ROUNDS = 2  # register and INSERT alternate this many times; the best of each is printed


def rpc_rate(port, seconds, tag):
    counts = [0] * CLIENTS
    errors = []
    stop = time.time() + seconds

    def worker(i):
        c = Client(port, timeout=30)
        n = 0
        try:
            while time.time() < stop:
                r = c.call("user.register", {"email": "b%s%d.%d@example.com" % (tag, i, n),
                                             "ticker": "AAPL", "high": 200, "low": 100,
                                             "request_id": "bench-%s%d-%d" % (tag, i, n)})
                if "result" not in r:
                    errors.append(r)
                    return
                n += 1
        finally:
            counts[i] = n
            c.close()
    t0 = time.time()
    ts = [threading.Thread(target=worker, args=(i,)) for i in range(CLIENTS)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    el = time.time() - t0
    if errors:
        raise SystemExit("bench: a register failed: %s" % errors[0])
    return sum(counts) / el, sum(counts)


def pgbench_rate(url, script, seconds):
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(script)
    try:
        r = subprocess.run([PGBENCH, "-n", "-c", str(CLIENTS), "-j", "4", "-T", str(seconds),
                            "-f", f.name, url], capture_output=True, text=True, timeout=seconds + 60)
    finally:
        os.unlink(f.name)
    for line in r.stdout.splitlines():
        if line.startswith("tps =") and "without initial" in line:
            return float(line.split()[2])
        if line.startswith("tps ="):
            rate = float(line.split()[2])
    try:
        return rate
    except NameError:
        raise SystemExit("pgbench failed: %s %s" % (r.stdout, r.stderr))


def main():
    binary = os.path.abspath(sys.argv[1])
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    env = stack_env()
    name = "tw_bench_rpc_%d" % os.getpid()
    url = make_db(env["TW_DB_URL"], name)
    work = tempfile.mkdtemp(prefix="tw-bench-rpc.")
    agent = Agent(binary, url, work, extra={"TICKWATCH_AGENT_LOG_LEVEL": "warn",
                                            "TICKWATCH_DB_WRITE_CONNECTIONS": "4",
                                            "TICKWATCH_RPC_CHECK_TICKERS": "false"})
    insert = ("\\set id random(1, 2000000000)\n"
              "INSERT INTO bench_users (email, ticker, high, low) VALUES "
              "('p' || :id || '.' || :client_id || '@example.com', 'AAPL', 200, 100) "
              "ON CONFLICT DO NOTHING;\n")
    try:
        agent.start()
        sql(url, "CREATE TABLE bench_users (LIKE users INCLUDING ALL)")
        # the register and the INSERT alternate, ROUNDS times each, and the best of each
        # counts: a load that other work puts on the machine for a while hits both alike
        rpcs, plains = [], []
        for r in range(ROUNDS):
            rpcs.append(rpc_rate(agent.port, seconds, "off%d." % r))
            plains.append(pgbench_rate(url, insert, seconds))
        rpc, n = max(rpcs)
        plain = max(plains)
        agent.stop()
        agent = Agent(binary, url, work, extra={"TICKWATCH_AGENT_LOG_LEVEL": "warn",
                                                "TICKWATCH_DB_WRITE_CONNECTIONS": "4",
                                                "TICKWATCH_RPC_CHECK_TICKERS": "true"})
        agent.start()
        checked, nc = rpc_rate(agent.port, seconds, "on")
        agent.stop()
        same = pgbench_rate(url, "\\set id random(1, 2000000000)\n"
                            "BEGIN;\n"
                            "INSERT INTO rpc_requests (request_id, method, params_hash) VALUES "
                            "('pg-' || :id || '-' || :client_id, 'user.register', 'h') "
                            "ON CONFLICT (request_id) DO NOTHING RETURNING 1;\n"
                            "INSERT INTO users (email, ticker, high, low) VALUES "
                            "('q' || :id || '.' || :client_id || '@example.com', 'AAPL', 200, 100) "
                            "ON CONFLICT (email) DO NOTHING RETURNING email;\n"
                            "UPDATE rpc_requests SET response = 'r' WHERE request_id = "
                            "'pg-' || :id || '-' || :client_id;\n"
                            "COMMIT;\n", seconds)
        print("bench rpc: %d clients, %d s each, PostgreSQL %s" % (
            CLIENTS, seconds, sql(url, "SHOW server_version")[0][0]))
        print("  register (check_tickers off) and one-row INSERT alternated %d times, best of "
              "each: register %s req/s, INSERT %s tps" % (
                  ROUNDS, " ".join("%.0f" % r for r, _ in rpcs),
                  " ".join("%.0f" % p for p in plains)))
        print("  tickwatch user.register (JSON-RPC, at-most-once): %8.0f req/s  (%d registered, "
              "check_tickers off)" % (rpc, n))
        print("  user.register with the ticker check:              %8.0f req/s  (%d registered, "
              "check_tickers on, the stack's quote server)" % (checked, nc))
        print("  pgbench one-row INSERT (reference):               %8.0f tps   ratio %.2f"
              % (plain, rpc / plain))
        print("  pgbench same 5-statement transaction:             %8.0f tps   ratio %.2f"
              % (same, rpc / same))
        print("  ratio register / one-row INSERT: %.2f (goal >= 0.5); with the ticker check: %.2f"
              % (rpc / plain, checked / plain))
    finally:
        if agent.proc:
            agent.stop()
        drop_db(env["TW_DB_URL"], name)


if __name__ == "__main__":
    main()
