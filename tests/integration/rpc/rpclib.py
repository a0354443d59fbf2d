# SPDX-License-Identifier: MIT
"""rpclib.py - helpers of the rpc integration tests and the bench: a running agent and a line
client. What the Python suites share (the stack's environment, psql queries whose psql variables
:'v1'.. hold the arguments, a private database, a free port, Fail/check) is tests/lib/twlib.py,
re-exported here. Standard library only."""
import json
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lib"))
from twlib import Fail, check, drop_db, free_port, make_db, sql, stack_env  # noqa: E402

__all__ = ["Agent", "Client", "Fail", "check", "drop_db", "err_code", "free_port", "make_db",
           "quotes_env", "sql", "stack_env"]


_quotes_env = None


def quotes_env():
    """The stack's quote server as the agent's [quotes] source: the rpc role's ticker check
    ([rpc] check_tickers, on by default) asks it, never the real Yahoo. It knows the tickers
    these tests register (tests/env/quotes/scenario.json: its tickers and "listed" ones)."""
    global _quotes_env
    if _quotes_env is None:
        e = stack_env(need=("TW_DB_URL", "TW_QUOTES_BASE", "TW_CA_FILE"))
        _quotes_env = {"TICKWATCH_QUOTES_SOURCE": "yahoo",
                       "TICKWATCH_QUOTES_BASE": e["TW_QUOTES_BASE"],
                       "TICKWATCH_QUOTES_CA_FILE": e["TW_CA_FILE"],
                       "TICKWATCH_QUOTES_MAX_AGE": "3650d", "TICKWATCH_QUOTES_TIMEOUT": "3s",
                       "TICKWATCH_QUOTES_RATE": "1000"}  # the stack's server, not Yahoo
    return _quotes_env


class Agent:
    """tickwatch run --roles rpc with its own port and database, its [quotes] source the
    stack's quote server (quotes_env)."""

    def __init__(self, binary, db_url, workdir, extra=None, port=None):
        self.binary, self.db_url, self.workdir = binary, db_url, workdir
        self.port = port or free_port()
        self.extra = extra or {}
        self.proc = None
        self.logf = None
        self.starts = 0

    def start(self, wait_ready=True):
        env = dict(os.environ)
        env.update({"TICKWATCH_DB_WRITE_URL": self.db_url,
                    "TICKWATCH_RPC_LISTEN": "127.0.0.1:%d" % self.port,
                    "TICKWATCH_RPC_SLOW_TIMEOUT": "2s", "TICKWATCH_RPC_IDLE_TIMEOUT": "60s",
                    "TICKWATCH_DB_CONNECT_TIMEOUT": "3s", "TICKWATCH_DB_STATEMENT_TIMEOUT": "5s",
                    "TICKWATCH_AGENT_LOG_LEVEL": "info"})
        env.update(quotes_env())
        env.update(self.extra)
        self.starts += 1
        self.log = os.path.join(self.workdir, "agent%d.log" % self.starts)
        self.logf = open(self.log, "w")
        self.proc = subprocess.Popen([self.binary, "run", "--roles", "rpc", "--console", "none"],
                                     env=env, stdout=self.logf, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise Fail("agent exited (%d) at start:\n%s" % (self.proc.returncode,
                                                                open(self.log).read()))
            try:
                c = Client(self.port, timeout=2, token=self.extra.get("TICKWATCH_RPC_TOKEN"))
                r = c.call("agent.status")
                c.close()
                if not wait_ready or "schema ok" in r.get("result", {}).get("db", ""):
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise Fail("agent not ready within 30 s:\n" + open(self.log).read())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.logf:
            self.logf.close()
        self.proc = None
        return open(self.log).read()


class Client:
    def __init__(self, port, timeout=10, token=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.token = token
        self.next_id = 0

    def send_raw(self, data):
        self.sock.sendall(data)

    def read_line(self):
        while b"\n" not in self.buf:
            d = self.sock.recv(65536)
            if not d:
                raise ConnectionError("closed by the agent")
            self.buf += d
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def raw(self, line):
        self.send_raw(line.encode() + b"\n" if isinstance(line, str) else line + b"\n")
        return json.loads(self.read_line())

    def call(self, method, params=None, token=None, rid=None):
        self.next_id += 1
        req = {"jsonrpc": "2.0", "id": rid if rid is not None else self.next_id, "method": method}
        if params is not None:
            req["params"] = params
        tok = token if token is not None else self.token
        if tok:
            req["token"] = tok
        return self.raw(json.dumps(req))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def err_code(resp):
    return resp.get("error", {}).get("code")
