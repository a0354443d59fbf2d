#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""test_attach.py - the agent attached to the stack exactly as docs/device.md says, with
verification on: Kafka over SASL_SSL (SCRAM-SHA-512, the brokers' certificates checked against
[kafka] ca_file and their names kafkaN.tickwatch.test), PostgreSQL as the TLS-only role with
sslmode=verify-full, SMTP with STARTTLS to smtp.tickwatch.test (verified). One user, one replayed
crossing, exactly one e-mail. Then the refusals, each asserted on its log line: a wrong CA
(Kafka and PostgreSQL), a wrong password (Kafka and PostgreSQL) and a plaintext attempt (Kafka's
PLAINTEXT against the SASL_SSL listener, PostgreSQL with sslmode=disable).

Run through run.sh (a private /etc/hosts maps the names to 127.0.0.1).
usage: test_attach.py TICKWATCH_BINARY"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "e2e", "alerts"))
from e2elib import (Agent, Fail, Mail, check, consumer_group_to_end, stack_env,  # noqa: E402
                    wait_for, write_replay)

BIN = os.path.abspath(sys.argv[1])
RUN = "attach%d" % os.getpid()
TICKER = "XATT"
passed = 0


def ok(what):
    global passed
    passed += 1
    print("ok - %s" % what, flush=True)


def psql_tls(env, db, sql):
    dsn = ("host=db.tickwatch.test port=%s user=%s password=%s dbname=%s sslmode=verify-full "
           "sslrootcert=%s" % (env["TW_DB_PORT"], env["TW_DB_TLS_USER"], env["TW_DB_TLS_PASSWORD"],
                               db, env["TW_CA_FILE"]))
    r = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", dsn, "-c", sql],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, "psql (TLS role) %s: %s" % (sql, r.stderr))
    return r.stdout


def tls_url(env, db, password=None, ca=None, mode="verify-full"):
    return ("postgresql://%s:%s@db.tickwatch.test:%s/%s?sslmode=%s&sslrootcert=%s"
            % (env["TW_DB_TLS_USER"], password or env["TW_DB_TLS_PASSWORD"], env["TW_DB_PORT"], db,
               mode, ca or env["TW_CA_FILE"]))


def kafka_block(env, security="SASL_SSL", password=None, ca=None):
    return ("[kafka]\nsecurity = %s\nsasl_mechanism = SCRAM-SHA-512\nusername = %s\npassword = %s\n"
            "ca_file = %s\n" % (security, env["TW_KAFKA_SASL_USER"],
                                password or env["TW_KAFKA_SASL_PASSWORD"], ca or env["TW_CA_FILE"]))


def refused(env, work, name, db, line_re, kafka=None, url=None):
    """An agent (admin and rpc roles: Kafka and the database) that must log @line_re."""
    a = Agent(BIN, dict(env, TW_KAFKA_BOOTSTRAP=env["TW_KAFKA_SASL_BOOTSTRAP"]), work, name,
              url or tls_url(env, db), "admin,rpc", extra=kafka or kafka_block(env))
    a.start()
    try:
        m = wait_for("%s: a line matching %r" % (name, line_re),
                     lambda: a.alive() and re.search(line_re, a.text(), re.M), 90)
    finally:
        a.kill()
    line = m.group(0)
    ok("%s: %s" % (name, line[:300]))


def main():
    env = stack_env()
    for k in ("TW_KAFKA_SASL_BOOTSTRAP", "TW_DB_TLS_URL", "TW_STACK_TLS_NAMES"):
        check(env.get(k), "%s missing: the stack predates its SASL_SSL/TLS listeners" % k)
    with open("/etc/hosts") as f:
        check("kafka1.tickwatch.test" in f.read(), "run this through run.sh (private /etc/hosts)")
    work = tempfile.mkdtemp(prefix="tw-attach.")
    db = "tw_%s" % RUN
    agent = None
    good = False
    try:
        psql_tls(env, env["TW_DB_TLS_NAME"], "CREATE DATABASE %s" % db)
        # a CA that signed nothing of the stack
        other = os.path.join(work, "other-ca.crt")
        r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                            os.path.join(work, "other.key"), "-out", other, "-subj",
                            "/CN=not the stack CA", "-days", "2"], capture_output=True, text=True)
        check(r.returncode == 0, "openssl: %s" % r.stderr)

        replay = write_replay(os.path.join(work, "attach.replay"), [{TICKER: 200.0}])
        consumer_group_to_end(env, "tickwatch-notifier", "to-notifier")
        penv = dict(env, TW_KAFKA_BOOTSTRAP=env["TW_KAFKA_SASL_BOOTSTRAP"],
                    TW_SMTP_HOST="smtp.tickwatch.test")
        agent = Agent(BIN, penv, work, "prod-" + RUN, tls_url(env, db), "all", replay=replay,
                      extra=kafka_block(env) + "[smtp]\nverify = true\n")
        agent.start()
        wait_for("the database over TLS", lambda: agent.alive() and
                 "write connection ready" in agent.text(), 60)
        wait_for("the Kafka cluster over SASL_SSL", lambda: agent.alive() and
                 re.search(r"broker 1 kafka1\.tickwatch\.test:\d+", agent.text()), 90)
        ok("attached: SASL_SSL brokers kafkaN.tickwatch.test, PostgreSQL verify-full")
        rcpt = "%s@attach.test" % RUN
        agent.ctl("register", rcpt, TICKER, "--high", "150")
        mail = Mail(env["TW_MAIL_DIR"], RUN)
        wait_for("the e-mail to %s" % rcpt, lambda: agent.alive() and mail.for_rcpt(rcpt), 180,
                 every=0.5)
        time.sleep(3)  # a second e-mail would be a bug: give it time to show
        got = mail.for_rcpt(rcpt)
        check(len(got) == 1, "want exactly one e-mail to %s, got %d" % (rcpt, len(got)))
        check(got[0]["subject"] == "%s is above 150.00: 200.00" % TICKER, "subject %r" % got[0]["subject"])
        ok("exactly one e-mail through SASL_SSL Kafka, TLS PostgreSQL, verified STARTTLS: %r"
           % got[0]["subject"])
        proc = agent.proc
        agent.stop()
        check(proc.returncode == 0, "agent exit %s" % proc.returncode)

        refused(env, work, "kafka-wrong-ca", db,
                # librdkafka reports a failed handshake as _SSL or as _TRANSPORT, run to run
                r"kafka error: _(?:SSL|TRANSPORT): sasl_ssl://kafka\d\.tickwatch\.test:\d+/bootstrap: "
                r"[^\n]*certificate verify failed[^\n]*", kafka=kafka_block(env, ca=other))
        refused(env, work, "db-wrong-ca", db,
                r"\[db\] [^\n]*db\.tickwatch\.test[^\n]*SSL error: certificate verify failed[^\n]*",
                url=tls_url(env, db, ca=other))
        refused(env, work, "kafka-wrong-password", db,
                r"kafka error: _AUTHENTICATION: [^\n]*Authentication failed during authentication "
                r"due to invalid credentials with SASL mechanism SCRAM-SHA-512[^\n]*",
                kafka=kafka_block(env, password="not-the-password"))
        refused(env, work, "db-wrong-password", db,
                r'\[db\] [^\n]*password authentication failed for user "tickwatch_tls"[^\n]*',
                url=tls_url(env, db, password="not-the-password"))
        refused(env, work, "db-plaintext", db,
                r'\[db\] [^\n]*pg_hba\.conf rejects connection for host "127\.0\.0\.1", user '
                r'"tickwatch_tls"[^\n]*', url=tls_url(env, db, mode="disable"))
        # librdkafka gives no hint here: the TLS listener closes the connection that sent a
        # plaintext ApiVersion request.
        refused(env, work, "kafka-plaintext", db,
                r"kafka\d\.tickwatch\.test:\d+/bootstrap: Disconnected[^\n]*APIVERSION_QUERY[^\n]*",
                kafka=kafka_block(env, security="PLAINTEXT"))
        good = True
    finally:
        if agent is not None and agent.proc is not None:
            agent.kill()
        try:
            psql_tls(env, env["TW_DB_TLS_NAME"], "DROP DATABASE IF EXISTS %s WITH (FORCE)" % db)
        except Fail as e:
            print("# %s" % e)
        if good:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("# kept %s" % work)
            if agent is not None:
                print("# ---- agent log tail\n%s" % agent.text()[-3000:])


if __name__ == "__main__":
    try:
        main()
    except Fail as e:
        print("FAIL - %s" % e, flush=True)
        sys.exit(1)
    print("# attach: %d passed" % passed)
