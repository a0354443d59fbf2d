#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""t_e2e.py - end to end with a board's ARM binary under qemu-user against the real local stack:
a fresh database migrated by the ARM `db migrate`, one agent running EVERY role (rpc, admin,
collector, alert, notifier) with the board's [limits], a user registered with the ARM `ctl`, a
crossing quote from a replay: source, exactly one e-mail in the SMTP server's mail folder;
then a collector fetching over HTTPS from the stack's quote server (the TLS quote path), after
openssl has checked that the server presents what Yahoo's and Stooq's front ends do (an RSA-2048
leaf under a three-level RSA chain, TLS 1.2 and 1.3 only): the board's trimmed Mbed TLS and its
TLS heap complete that handshake under qemu-user.

Host names go through the static binary's resolver: Kafka's bootstrap and the database are
reached by names that exist only in /etc/hosts, the SMTP relay (STARTTLS, verified certificate)
as `localhost`, and `ctl` connects by a /etc/hosts name and by `localhost`. run.sh starts this
inside a private mount namespace (unshare -m) with a temporary hosts file bind-mounted over
/etc/hosts; the real /etc/hosts is never changed.

usage: t_e2e.py BOARD BINARY QEMU"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "e2e", "alerts"))
from e2elib import (Agent, Fail, Mail, check, consumer_group_to_end, drop_db,  # noqa: E402
                    make_db, migrate, stack_env, wait_for, write_replay)

BOARD, BIN, QEMU = sys.argv[1], os.path.abspath(sys.argv[2]), sys.argv[3]
RUN = "cross%s%d%d" % (re.sub(r"[^a-z0-9]", "", BOARD), os.getpid(), int(time.time()) % 100000)
HOSTS_NAMES = ("tw-cross-db.test", "tw-cross-kafka.test", "tw-cross-rpc.test")
TICKER = "XARM"
passed = 0


def ok(what):
    global passed
    passed += 1
    print("ok - %s: %s" % (BOARD, what), flush=True)


def board_limits():
    """The board's memory bounds from its tickwatch.conf, as config text: the [limits] section
    and [kafka] queue_kbytes and fetch_max_bytes."""
    text, kafka, sec = [], ["[kafka]\n"], None
    with open(os.path.join(SRC, "board", BOARD, "tickwatch.conf")) as f:
        for line in f:
            s = line.strip()
            if s.startswith("["):
                sec = s
            if sec == "[limits]":
                text.append(line)
            elif sec == "[kafka]" and re.match(r"(queue_kbytes|fetch_max_bytes) *=", s):
                kafka.append(line)
    check(text and len(kafka) == 3,
          "board/%s/tickwatch.conf lacks [limits] or [kafka] queue_kbytes/fetch_max_bytes" % BOARD)
    return "".join(text + kafka)


def s_client(port, ca, *opts):
    """openssl s_client to the quote server: (verified, output)."""
    r = subprocess.run(["openssl", "s_client", "-connect", "localhost:%s" % port, "-servername",
                        "localhost", "-CAfile", ca, "-verify_return_error", "-showcerts",
                        *opts], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=20)
    return r.returncode == 0 and "Verify return code: 0 (ok)" in r.stdout, r.stdout + r.stderr


def quote_server_chain(port, ca):
    """What the board's handshake below meets, checked so it cannot quietly become something
    easier: an RSA-2048 leaf sent with its RSA intermediate, verified up to a root only the CA
    file holds (three levels), TLS 1.2 and 1.3 completed, 1.1 refused."""
    good, out = s_client(port, ca, "-tls1_3")
    check(good, "TLS 1.3 to the quote server failed:\n" + out[-800:])
    sent = out.count("-----BEGIN CERTIFICATE-----")
    check(sent == 2, "the quote server sent %d certificates (want leaf + intermediate)" % sent)
    check("Server public key is 2048 bit" in out, "the leaf's key is not 2048 bits")
    keys = re.findall(r"a:PKEY: ?(\w+), (\d+) \(bit\)", out)
    check(len(keys) == 2 and all(k == ("rsaEncryption", "2048") for k in keys),
          "certificates' keys are not RSA-2048: %s" % keys)
    depth = max(int(d) for d in re.findall(r"^depth=(\d+)", out, re.M) or ["0"])
    check(depth == 2, "the chain verified at depth %d (want 2: leaf, intermediate, root)" % depth)
    good, out = s_client(port, ca, "-tls1_2")
    check(good, "TLS 1.2 to the quote server failed:\n" + out[-800:])
    # (OpenSSL 3's client refuses 1.1 itself at its default security level: lowered, so a
    # refusal is the server's)
    good, _ = s_client(port, ca, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")
    check(not good, "the quote server completed a TLS 1.1 handshake")
    return "RSA-2048 leaf + RSA intermediate under an RSA root, TLS 1.2 and 1.3, 1.1 refused"


def ctl(wrapper, connect, *args, expect=0):
    r = subprocess.run([wrapper, "ctl", "--connect", connect, "--timeout", "15000"] + list(args),
                       capture_output=True, text=True, timeout=120)
    if expect is None:  # polling: any answer
        if r.returncode != 0 and os.environ.get("TW_CROSS_DEBUG"):
            print("# ctl %s: rc %d %s %s" % (" ".join(args), r.returncode, r.stdout, r.stderr))
        return r.stdout if r.returncode == 0 else ""
    check(r.returncode == expect, "ctl --connect %s %s: rc %d (want %d) %s %s"
          % (connect, " ".join(args), r.returncode, expect, r.stdout, r.stderr))
    return r.stdout + r.stderr


def main():
    with open("/etc/hosts") as f:
        hosts = f.read()
    for n in HOSTS_NAMES:
        check(re.search(r"^127\.0\.0\.1\s.*\b%s\b" % re.escape(n), hosts, re.M),
              "%s is not in /etc/hosts: run this through tests/cross/run.sh (private namespace)" % n)
    env = stack_env()
    work = tempfile.mkdtemp(prefix="tw-cross-e2e.")
    wrapper = os.path.join(work, "tickwatch")
    with open(wrapper, "w") as f:
        f.write('#!/bin/sh\nexec %s %s "$@"\n' % (QEMU, BIN))
    os.chmod(wrapper, 0o755)
    dbname = "tw_cross_%s" % RUN
    agent = None
    good = False
    try:
        url = make_db(env["TW_DB_URL"], dbname)
        named_url = url.replace("@127.0.0.1:", "@tw-cross-db.test:")
        check(named_url != url, "cannot put a host name into %s" % url)
        migrate(wrapper, named_url)
        ok("ARM 'db migrate' on a fresh database reached by an /etc/hosts name")

        # One step, served every cycle: the user's high threshold is below it from the start.
        replay = write_replay(os.path.join(work, "cross.replay"), [{TICKER: 200.0}])
        brokers = env["TW_KAFKA_BOOTSTRAP"].split(",")
        env2 = dict(env)
        env2["TW_KAFKA_BOOTSTRAP"] = ",".join(
            [brokers[0].replace("127.0.0.1", "tw-cross-kafka.test")] +
            [b.replace("127.0.0.1", "localhost") for b in brokers[1:]])
        env2["TW_SMTP_HOST"] = "localhost"
        # The notifier's group is shared with other suites: start past what they left behind.
        consumer_group_to_end(env, "tickwatch-notifier", "to-notifier")
        agent = Agent(wrapper, env2, work, "cross-" + RUN, named_url, "all", replay=replay,
                      extra=board_limits() + "[agent]\nboard = %s\n" % BOARD)
        agent.start()
        ok("agent with every role under %s reached ready (board [limits], Kafka bounds)" % QEMU)

        out = ctl(wrapper, "tw-cross-rpc.test:%d" % agent.port, "status")
        check("notifier" in out and "collector" in out, "ctl status lacks roles: %s" % out)
        ok("ctl status through an /etc/hosts name")
        missing = ctl(wrapper, "tw-cross-missing.invalid:%d" % agent.port, "--retries", "0",
                      "status", expect=3)
        check("tw-cross-missing.invalid" in missing, "unresolvable name not named: %s" % missing)
        ok("an unknown name is reported as such (exit 3)")

        rcpt = "arm.%s@e2e.test" % RUN
        ctl(wrapper, "localhost:%d" % agent.port, "register", rcpt, TICKER, "--high", "150")
        ok("ARM ctl registered %s through localhost" % rcpt)

        mail = Mail(env["TW_MAIL_DIR"], RUN)
        wait_for("the e-mail to %s" % rcpt, lambda: agent.alive() and mail.for_rcpt(rcpt), 180,
                 every=0.5)
        time.sleep(5)  # a second e-mail would be a bug: give it time to show
        got = mail.for_rcpt(rcpt)
        check(len(got) == 1, "want exactly one e-mail to %s, got %d" % (rcpt, len(got)))
        m = got[0]
        check(m["subject"] == "%s is above 150.00: 200.00" % TICKER, "subject %r" % m["subject"])
        check("%s traded at 200.00" % TICKER in m["body"], "body %r" % m["body"])
        check(m["message_id"].endswith("@tickwatch>"), "Message-ID %r" % m["message_id"])
        ok("exactly one e-mail (STARTTLS to localhost, verified): %r" % m["subject"])

        rss = agent.rss_kb()
        print("# %s: RSS of qemu + agent with every role, idle after the e-mail: %d KiB"
              % (BOARD, rss), flush=True)
        proc = agent.proc
        agent.stop()
        check(proc.returncode == 0, "agent exit code %s after SIGTERM" % proc.returncode)
        ok("SIGTERM stops the agent cleanly (exit 0)")

        # The quote path's TLS (Mbed TLS, the board's client-only config): the stack's HTTPS
        # quote server by name (SNI and the certificate's DNS name checked), read-only use of
        # whatever scenario step it serves now.
        port = env["TW_QUOTES_BASE"].rsplit(":", 1)[1]
        chain = quote_server_chain(port, env["TW_CA_FILE"])
        ok("the quote server presents what Yahoo's and Stooq's front ends do: %s" % chain)
        quotes = Agent(wrapper, env2, work, "crossq-" + RUN, named_url, "rpc,collector",
                       extra="[quotes]\nbase = https://localhost:%s\nca_file = %s\n"
                             "max_age = 3650d\n" % (port, env["TW_CA_FILE"]) + board_limits())
        agent = quotes
        quotes.start()
        qrcpt = "armq.%s@e2e.test" % RUN
        ctl(wrapper, "localhost:%d" % quotes.port, "register", qrcpt, "AAPL")
        last = wait_for("a quote of AAPL over HTTPS", lambda: quotes.alive() and re.search(
            r"^AAPL ([0-9]+(?:\.[0-9]+)?) at ", ctl(wrapper, "localhost:%d" % quotes.port, "last", "--ticker", "AAPL",
                              expect=None), re.M), 90, every=1)
        with open(env["TW_QUOTES_SCENARIO"]) as f:
            prices = json.load(f)["tickers"]["AAPL"]["prices"]
        check(float(last.group(1)) in prices, "AAPL %s is not a scenario price %s"
              % (last.group(1), prices))
        ok("collector fetched AAPL over HTTPS (TLS to https://localhost:%s): %s"
           % (port, last.group(1)))
        proc = quotes.proc
        quotes.stop()
        check(proc.returncode == 0, "quotes agent exit code %s" % proc.returncode)
        good = True
    finally:
        if agent is not None and agent.proc is not None:
            agent.kill()
        if good:
            shutil.rmtree(work, ignore_errors=True)
            drop_db(env["TW_DB_URL"], dbname)
        else:
            print("# kept %s and database %s" % (work, dbname))
            if agent is not None:
                print("# ---- agent log tail\n%s" % agent.text()[-4000:])


if __name__ == "__main__":
    try:
        main()
    except Fail as e:
        print("FAIL - %s: %s" % (BOARD, e), flush=True)
        sys.exit(1)
    print("# %s: %d passed" % (BOARD, passed))
