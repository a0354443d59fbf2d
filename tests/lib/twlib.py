# SPDX-License-Identifier: MIT
"""twlib.py - what the Python suites share (tests/e2e/alerts/e2elib.py, tests/integration/rpc/
rpclib.py and through them the benches and the cross suite): the stack's environment, psql
queries, a private database per run, a free port, the Fail/check convention. Standard library
only. A suite's own helper module imports it with
    sys.path.insert(0, os.path.join(<tests folder>, "lib")); import twlib
and re-exports what its tests use, so a test imports from one module."""
import os
import socket
import subprocess

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
STACK = os.path.join(SRC, "scripts", "stack.sh")
PSQL = "/usr/bin/psql"


class Fail(Exception):
    """A test's failure: the runner prints it and the suite fails (never skips)."""


def check(cond, what):
    if not cond:
        raise Fail(what)


def stack_env(need=("TW_DB_URL",)):
    """The stack's TW_* variables (scripts/stack.sh env); fails (never skips) when the stack is
    not up, when a name in @need is missing, or when its PostgreSQL does not answer."""
    try:
        out = subprocess.run([STACK, "env"], capture_output=True, text=True, timeout=60).stdout
    except Exception as e:  # noqa: BLE001
        raise Fail("scripts/stack.sh env failed: %s (run scripts/stack.sh up)" % e)
    env = {}
    for line in out.splitlines():
        if line.startswith("export ") and "=" in line:
            k, v = line[7:].split("=", 1)
            env[k] = v.strip("'")
    for k in need:
        if k not in env:
            raise Fail("%s missing from scripts/stack.sh env: run scripts/stack.sh up" % k)
    r = subprocess.run([PSQL, env["TW_DB_URL"], "-tAc", "select 1"], capture_output=True,
                       text=True, timeout=20)
    if r.stdout.strip() != "1":
        raise Fail("the stack's PostgreSQL does not answer (%s): run scripts/stack.sh up"
                   % r.stderr.strip())
    return env


def sql(url, query, *args, stdin=None, command=False, timeout=60):
    """Rows of @query, each a list of its tab-separated fields.

    By default psql reads @query from its standard input, where psql variables :'v1', :'v2'..
    hold @args (so no quoting by hand). With @command (or @stdin, the data of a COPY ... FROM
    STDIN) @query is one -c command instead, and @args must be empty."""
    cmd = [PSQL, url, "-X", "-q", "-tA", "-F", "\t", "-v", "ON_ERROR_STOP=1"]
    if command or stdin is not None:
        if args:
            raise ValueError("sql: psql variables need the query on standard input")
        cmd += ["-c", query]
        data = stdin
    else:
        for i, a in enumerate(args):
            cmd += ["-v", "v%d=%s" % (i + 1, a)]
        data = query
    r = subprocess.run(cmd, input=data, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise Fail("psql failed: %s\n%s" % (query, r.stderr))
    return [line.split("\t") for line in r.stdout.splitlines() if line != ""]


def make_db(admin_url, name):
    """A fresh database @name next to @admin_url's (dropped first if left over); its URL."""
    sql(admin_url, 'DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name, command=True, timeout=600)
    sql(admin_url, 'CREATE DATABASE "%s"' % name, command=True, timeout=600)
    return admin_url.rsplit("/", 1)[0] + "/" + name


def drop_db(admin_url, name):
    try:
        sql(admin_url, 'DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name, command=True,
            timeout=600)
    except Fail:
        pass


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p
