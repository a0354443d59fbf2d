#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""test_rpctls.py - the RPC port's security, the real binary against the stack's PostgreSQL:
plaintext refused at start on a non-loopback listen (0.0.0.0); TLS with tickwatch ctl (the right
CA works and the row lands in PostgreSQL; another CA, a name the certificate does not carry, and
plaintext are refused); client certificates ([rpc] tls_client_ca); the token from --token-file
(owner-only mode enforced) and from TICKWATCH_RPC_TOKEN, never in /proc/PID/cmdline; the
auth-failure limiter trips (status names the banned address) and recovers.
Certificates: tests/unit/make-test-certs.sh (a CA, "localhost"/127.0.0.1, another CA) plus a
client certificate signed by the CA, made here. Standard library only.
usage: test_rpctls.py TICKWATCH_BINARY MAKE_TEST_CERTS_SH"""
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lib"))
from twlib import Fail, check, drop_db, free_port, make_db, sql, stack_env  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
ENV = stack_env()
ADMIN = ENV["TW_DB_URL"]
DBNAME = "tw_it_rpctls_%d" % os.getpid()
WORK = tempfile.mkdtemp(prefix="tw-it-rpctls.")
CERTS = os.path.join(WORK, "certs")
TOKEN = "tls-t0ken-%d" % os.getpid()
results = []


def test(fn):
    results.append(fn)
    return fn


def make_certs():
    subprocess.run([sys.argv[2], CERTS], check=True, capture_output=True)

    def q(*a):
        subprocess.run(["openssl"] + list(a), check=True, capture_output=True, cwd=CERTS)
    q("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj",
      "/CN=tickwatch ctl", "-keyout", "client.key", "-out", "client.csr")
    q("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
      "-CAcreateserial", "-days", "30", "-out", "client.pem")


def cert(name):
    return os.path.join(CERTS, name)


class Agent:
    """tickwatch run --roles rpc on 0.0.0.0:PORT (TLS) with its own database."""

    def __init__(self, url, extra):
        self.port = free_port()
        self.env = dict(os.environ, TICKWATCH_DB_WRITE_URL=url,
                        TICKWATCH_RPC_LISTEN="0.0.0.0:%d" % self.port,
                        TICKWATCH_RPC_TOKEN=TOKEN, TICKWATCH_RPC_SLOW_TIMEOUT="5s",
                        TICKWATCH_DB_CONNECT_TIMEOUT="3s", TICKWATCH_AGENT_LOG_LEVEL="info",
                        TICKWATCH_RPC_TLS_CERT=cert("server.pem"),
                        TICKWATCH_RPC_TLS_KEY=cert("server.key"))
        self.env.update(extra)
        self.log = os.path.join(WORK, "agent-%d.log" % self.port)
        self.logf = open(self.log, "w")
        self.proc = subprocess.Popen([BIN, "run", "--roles", "rpc", "--console", "none"],
                                     env=self.env, stdout=self.logf, stderr=subprocess.STDOUT)

    def ready(self, *ctl_args):
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise Fail("agent exited (%d):\n%s" % (self.proc.returncode, open(self.log).read()))
            r = ctl(self, "--retries", "0", "--timeout", "2000", *ctl_args, "status")
            if r.returncode == 0 and "schema ok" in r.stdout:
                return self
            time.sleep(0.2)
        raise Fail("agent not ready within 30 s:\n" + open(self.log).read())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)
        self.logf.close()
        return open(self.log).read()


def ctl(agent, *args, env=None, host="127.0.0.1", token=TOKEN):
    e = {k: v for k, v in os.environ.items() if not k.startswith("TICKWATCH_")}
    if token is not None:
        e["TICKWATCH_RPC_TOKEN"] = token
    e.update(env or {})
    return subprocess.run([BIN, "ctl", "--connect", "%s:%d" % (host, agent.port)] + list(args),
                          env=e, capture_output=True, text=True, timeout=60)


def users(url, email):
    return sql(url, "SELECT email, ticker FROM users WHERE email = :'v1'", email)


@test
def plaintext_refused_on_a_non_loopback_listen(url):
    env = dict(os.environ, TICKWATCH_DB_WRITE_URL=url, TICKWATCH_RPC_TOKEN=TOKEN,
               TICKWATCH_RPC_LISTEN="0.0.0.0:%d" % free_port())
    r = subprocess.run([BIN, "run", "--roles", "rpc", "--console", "none"], env=env,
                       capture_output=True, text=True, timeout=60)
    out = r.stdout + r.stderr
    check(r.returncode != 0, "a plaintext agent on 0.0.0.0 started: %s" % out)
    check("[rpc] tls_cert: required when [rpc] listen (0.0.0.0:" in out and
          "is not a loopback address" in out, "the refusal does not say why: %s" % out)


@test
def tls_with_ctl(url, a):
    ca = ("--ca", cert("ca.pem"))
    r = ctl(a, *ca, "register", "tls-alice@example.com", "aapl")
    check(r.returncode == 0 and "AAPL" in r.stdout, "register over TLS: %s %s" % (r.stdout, r.stderr))
    check(users(url, "tls-alice@example.com") == [["tls-alice@example.com", "AAPL"]],
          "the TLS register left no row")
    r = ctl(a, *ca, "get", "tls-alice@example.com", host="localhost")
    check(r.returncode == 0, "by the name localhost: %s" % r.stderr)
    r = ctl(a, "--ca", cert("other-ca.pem"), "register", "tls-bob@example.com", "aapl")
    check(r.returncode == 3 and "not trusted" in r.stderr, "another CA: rc %d %s" % (r.returncode, r.stderr))
    # 127.0.0.2 reaches the same socket, but the certificate names 127.0.0.1 and localhost only
    r = ctl(a, *ca, "register", "tls-bob@example.com", "aapl", host="127.0.0.2")
    check(r.returncode == 3 and "not trusted" in r.stderr, "a name not in the certificate: rc %d %s"
          % (r.returncode, r.stderr))
    r = ctl(a, "--retries", "0", "register", "tls-bob@example.com", "aapl")
    check(r.returncode == 3, "plaintext on the TLS port: rc %d %s" % (r.returncode, r.stderr))
    check(users(url, "tls-bob@example.com") == [], "a refused client registered a user")


class Silent:
    """A listener that takes one request line and never answers (ctl waits on it)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.got = b""
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        c, _ = self.sock.accept()
        c.settimeout(30)
        while b"\n" not in self.got:
            d = c.recv(4096)
            if not d:
                break
            self.got += d
        time.sleep(30)  # hold the connection: never answer


def cmdline_while_waiting(args, env):
    """Run ctl against a silent peer; @return (its /proc cmdline, the request line it sent)."""
    s = Silent()
    e = {k: v for k, v in os.environ.items() if not k.startswith("TICKWATCH_")}
    e.update(env)
    p = subprocess.Popen([BIN, "ctl", "--connect", "127.0.0.1:%d" % s.port, "--retries", "0",
                          "--timeout", "20000"] + args + ["status"], env=e,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 20
    while b"\n" not in s.got and time.time() < deadline:
        time.sleep(0.05)
    with open("/proc/%d/cmdline" % p.pid, "rb") as f:
        cmdline = f.read()
    p.kill()
    p.wait(10)
    return cmdline, s.got


@test
def token_from_file_and_environment(url, a):
    tf = os.path.join(WORK, "token")
    with open(tf, "w") as f:
        f.write(TOKEN + "\n")
    os.chmod(tf, 0o644)
    r = ctl(a, "--ca", cert("ca.pem"), "--token-file", tf, "status", token=None)
    check(r.returncode == 2 and "too open" in r.stderr and "chmod 600" in r.stderr,
          "a 0644 token file: rc %d %s" % (r.returncode, r.stderr))
    os.chmod(tf, 0o600)
    r = ctl(a, "--ca", cert("ca.pem"), "--token-file", tf, "get", "tls-alice@example.com",
            token=None)
    check(r.returncode == 0 and "AAPL" in r.stdout, "token from a file: %s %s" % (r.stdout, r.stderr))
    r = ctl(a, "--ca", cert("ca.pem"), "get", "tls-alice@example.com", token=TOKEN)
    check(r.returncode == 0, "token from TICKWATCH_RPC_TOKEN: %s" % r.stderr)
    r = ctl(a, "--ca", cert("ca.pem"), "get", "tls-alice@example.com", token=None)
    check(r.returncode == 1 and "-32001" in r.stderr, "no token at all: rc %d %s"
          % (r.returncode, r.stderr))
    for how, args, env in (("--token-file", ["--token-file", tf], {}),
                           ("TICKWATCH_RPC_TOKEN", [], {"TICKWATCH_RPC_TOKEN": TOKEN})):
        cmdline, sent = cmdline_while_waiting(args, env)
        check(b"ctl" in cmdline and TOKEN.encode() not in cmdline,
              "%s: the token is in the running ctl's argv: %r" % (how, cmdline))
        check(TOKEN.encode() in sent, "%s: ctl did not send the token: %r" % (how, sent))
    r = subprocess.run([BIN, "ctl", "--help"], capture_output=True, text=True, timeout=30)
    check("--token-file" in r.stdout and "ps" in r.stdout and "history" in r.stdout,
          "--help does not warn about --token: %s" % r.stdout)


def attacker(port, line):
    """A TLS connection from 127.0.0.2 (another peer address); @return its answer or None."""
    ctx = ssl.create_default_context(cafile=cert("ca.pem"))
    ctx.check_hostname = False
    raw = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=("127.0.0.2", 0))
    try:
        s = ctx.wrap_socket(raw)
    except (ssl.SSLError, OSError):
        raw.close()
        return None
    try:
        s.sendall(line.encode() + b"\n")
        buf = b""
        while b"\n" not in buf:
            d = s.recv(4096)
            if not d:
                return buf.decode() or None
            buf += d
        return buf.decode()
    except (ssl.SSLError, OSError):
        return None
    finally:
        s.close()


@test
def limiter_trips_and_recovers(url, a):
    bad = '{"jsonrpc":"2.0","id":1,"method":"agent.status","token":"wrong"}'
    good = '{"jsonrpc":"2.0","id":2,"method":"agent.status","token":"%s"}' % TOKEN
    for i in range(3):
        r = attacker(a.port, bad)
        check(r is not None and "-32001" in r, "failure %d not answered -32001: %r" % (i + 1, r))
    r = attacker(a.port, good)
    check(r is None, "a banned address was served: %r" % r)
    st = ctl(a, "--ca", cert("ca.pem"), "status")  # 127.0.0.1 is another address: not banned
    check(st.returncode == 0 and "banned 1: 127.0.0.2 (" in st.stdout,
          "status does not show the ban: %s %s" % (st.stdout, st.stderr))
    deadline = time.time() + 60  # [rpc] auth_ban = 2s; bounded wait for the ban to lapse
    while time.time() < deadline:
        r = attacker(a.port, good)
        if r is not None:
            break
        time.sleep(0.3)
    check(r is not None and '"result"' in r, "the ban never lapsed: %r" % r)
    st = ctl(a, "--ca", cert("ca.pem"), "status")
    check("banned 0" in st.stdout, "status after the ban: %s" % st.stdout)
    check("127.0.0.2: 3 failed authentications" in open(a.log).read(), "the ban is not logged")


@test
def client_certificates(url, _a):
    b = Agent(url, {"TICKWATCH_RPC_TLS_CLIENT_CA": cert("ca.pem")})
    try:
        mine = ("--ca", cert("ca.pem"), "--cert", cert("client.pem"), "--key", cert("client.key"))
        b.ready(*mine)
        r = ctl(b, *mine, "get", "tls-alice@example.com")
        check(r.returncode == 0 and "AAPL" in r.stdout, "with a client certificate: %s" % r.stderr)
        r = ctl(b, "--ca", cert("ca.pem"), "--retries", "0", "get", "tls-alice@example.com")
        check(r.returncode == 3 and "--cert" in r.stderr, "without one: rc %d %s"
              % (r.returncode, r.stderr))
        other = ("--ca", cert("ca.pem"), "--cert", cert("other-ca.pem"), "--key",
                 cert("other-ca.key"), "--retries", "0")
        r = ctl(b, *other, "get", "tls-alice@example.com")
        check(r.returncode == 3, "a certificate of another CA: rc %d %s" % (r.returncode, r.stderr))
        check("client certificates required" in open(b.log).read(), "start log lacks the mode")
    finally:
        log = b.stop()
        check(TOKEN not in log, "the token is in the log")


def main():
    passed = failed = 0
    make_certs()
    url = make_db(ADMIN, DBNAME)
    a = None
    try:
        a = Agent(url, {"TICKWATCH_RPC_AUTH_FAILURES": "3", "TICKWATCH_RPC_AUTH_BAN": "2s"})
        a.ready("--ca", cert("ca.pem"))
        for fn in results:
            t0 = time.time()
            try:
                if fn is plaintext_refused_on_a_non_loopback_listen:
                    fn(url)
                else:
                    fn(url, a)
                passed += 1
                print("ok - %s (%.1f s)" % (fn.__name__, time.time() - t0), flush=True)
            except Exception as e:  # noqa: BLE001
                failed += 1
                print("FAIL - %s: %s" % (fn.__name__, e), flush=True)
    finally:
        log = a.stop() if a else ""
        if TOKEN in log:
            failed += 1
            print("FAIL - the token is in the agent's log")
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
