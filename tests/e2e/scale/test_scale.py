#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_scale.py - many agents, one cluster (docs/scale.md), end to end on the real stack:
# three agents (admin, alert, notifier, rpc) with [kafka] partitions = 6 share 3,000 users on
# 30 tickers. The quotes go into PostgreSQL and each cycle's wake-ups go to every partition of
# to-alert-system with the tw-partitions header, as the wired collector sends them (the
# collector's per-ticker fetch-once check is tests/integration/collector/test_fleet.sh).
# Round 1: every user e-mailed exactly once, and the passes were sharded (no agent's pass
# covered every slot). Round 2: SIGKILL one agent mid-round: its partitions move (agent.status
# of the survivors shows them), nothing is lost, a second copy only for the ids a survivor
# logged ambiguous. Round 3: a fourth agent joins mid-round: a rebalance without duplicates.
# Fails (never skips) without the stack. usage: test_scale.py BINARY
# It found (2026-12-02) the notifier leaving its group while it waited out a killed peer's
# 'sending' leases (no poll for 300 s); with held batches kept in the group it passes.
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "alerts"))
from e2elib import (Agent, Fail, Mail, caught_up, check, drop_db, make_db,  # noqa: E402
                    migrate, sql, stack_env, wait_for)

RUN = "sc%d" % os.getpid()
USERS, TICKERS, P = 3000, 30, 6


def topic_partitions(env):
    """to-alert-system's partition count now (0: none yet), from the whole metadata: asking for
    one topic by name (kcat -t) would auto-create it. Earlier suites may have grown the topics
    (a topic never shrinks), so the run uses P = max(6, that)."""
    r = subprocess.run(["kcat", "-b", env["TW_KAFKA_BOOTSTRAP"], "-L", "-J", "-m", "10"],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, "kcat -L: %s" % r.stderr)
    d = json.loads(r.stdout)
    return sum(len(t["partitions"]) for t in d["topics"] if t["topic"] == "to-alert-system")


def addr(i):
    return "u%05d.%s@scale.test" % (i, RUN)


def wake_all(env, cycle):
    data = "".join("%d\n" % cycle for _ in range(1))
    for p in range(P):
        r = subprocess.run(["kcat", "-P", "-b", env["TW_KAFKA_BOOTSTRAP"], "-t", "to-alert-system",
                            "-p", str(p), "-H", "tw-partitions=%d" % P, "-k", "scale"],
                           input=data, capture_output=True, text=True, timeout=60)
        check(r.returncode == 0, "kcat produce to partition %d: %s" % (p, r.stderr))


def quotes(url, value, k):
    sql(url, "INSERT INTO quotes (ticker, at, value) SELECT 'SC' || lpad(t::text, 2, '0'), "
        "now() + interval '%d s', %s FROM generate_series(0, %d) t" % (k, value, TICKERS - 1))


def round_mails(mail, subject_value):
    return [m for m in mail.scan() if m["subject"].endswith(": %s" % subject_value)]


def settle(env, agents, mail, value, want):
    wait_for("%d e-mails at %s" % (want, value),
             lambda: len(round_mails(mail, value)) >= want, 400, every=0.5)
    wait_for("tickwatch-alert and tickwatch-notifier caught up",
             lambda: caught_up(env, "tickwatch-alert", "to-alert-system") and
             caught_up(env, "tickwatch-notifier", "to-notifier"), 400, every=0.5)
    return round_mails(mail, value)


def status_parts(agent):
    out = agent.ctl("status")
    m = re.search(r"partitions ([0-9]+(?:,[0-9]+)*|none|\?)", out)
    return m.group(1) if m else "?"


def check_once(mails, allowed_twice, what):
    per = Counter(m["rcpt"] for m in mails)
    missing = [i for i in range(USERS) if per[addr(i)] == 0]
    check(not missing, "%s: %d users got nothing, e.g. %s" % (what, len(missing), missing[:5]))
    by = {}
    for m in mails:
        by.setdefault(m["rcpt"], []).append(m["message_id"])
    bad = [(r, ids) for r, ids in by.items() if len(ids) > 1 and not (
        len(ids) == 2 and ids[0] == ids[1] and ids[0].strip("<>").split("@")[0] in allowed_twice)]
    check(not bad, "%s: second e-mails not logged ambiguous: %s" % (what, bad[:5]))
    return sum(len(v) - 1 for v in by.values())


def main():
    binary = os.path.abspath(sys.argv[1])
    global P
    env = stack_env()
    P = max(P, topic_partitions(env))
    work = tempfile.mkdtemp(prefix="tw-e2e-scale.")
    name = "tw_e2e_scale_%d" % os.getpid()
    url = make_db(env["TW_DB_URL"], name)
    agents = []
    ok = False
    try:
        migrate(binary, url)
        sql(url, "COPY users (email, ticker, high) FROM STDIN", stdin="".join(
            "%s\tSC%02d\t70\n" % (addr(i), i % TICKERS) for i in range(USERS)))
        extra = "[kafka]\npartitions = %d\n[limits]\narena_kb = 16384\n" % P
        for i in range(4):
            agents.append(Agent(binary, env, work, "scale-%s-%d" % (RUN, i), url,
                                "rpc,admin,alert,notifier", extra=extra))
        for a in agents[:3]:
            a.start()
        for a in agents[:3]:
            wait_for("%s: topics ready" % a.name, lambda a=a: "[admin] topics ready" in a.text(),
                     120)
        # the groups settle over the three (and the backlog of other suites is passed)
        wait_for("three alert members with partitions", lambda: all(
            status_parts(a) not in ("none", "?") for a in agents[:3]), 120, every=1)
        wait_for("tickwatch-alert past the backlog",
                 lambda: caught_up(env, "tickwatch-alert", "to-alert-system"), 120)
        mail = Mail(env["TW_MAIL_DIR"], RUN)
        print("  assignment: %s" % {a.name: status_parts(a) for a in agents[:3]})

        # Round 1: sharded passes, every user once.
        quotes(url, 75.5, 1)
        wake_all(env, 1)
        m1 = settle(env, agents, mail, "75.50", USERS)
        check(check_once(m1, set(), "round 1") == 0, "round 1: second copies without a crash")
        slots = [int(s) for a in agents[:3] for s in
                 re.findall(r"done: [1-9]\d* rows.*shard slots (\d+) of 4096", a.text())]
        check(slots and max(slots) < 4096, "no pass was sharded: %s" % slots)
        print("ok - round 1: %d users e-mailed exactly once by sharded passes (slots %s)"
              % (USERS, sorted(set(slots))))

        # Round 2: SIGKILL one agent with part of the round out.
        quotes(url, 80.5, 2)
        wake_all(env, 2)
        wait_for("the first e-mails of round 2", lambda: len(round_mails(mail, "80.50")) >= 200,
                 300, every=0.05)
        agents[1].kill()
        print("  SIGKILL of %s with %d e-mails of round 2 out" % (agents[1].name,
                                                                len(round_mails(mail, "80.50"))))
        wait_for("the survivors own all %d partitions" % P, lambda: sum(
            len(status_parts(a).split(",")) for a in (agents[0], agents[2])
            if status_parts(a) not in ("none", "?")) == P, 120, every=1)
        print("  assignment after the kill: %s" % {a.name: status_parts(a)
                                                   for a in (agents[0], agents[2])})
        m2 = settle(env, agents, mail, "80.50", USERS)
        amb = set(re.findall(r"ambiguous delivery id=([0-9a-f]{32})",
                             agents[0].text() + agents[2].text()))
        twice = check_once(m2, amb, "round 2")
        print("ok - round 2: SIGKILL lost nothing; %d second copies, all of ids logged ambiguous "
              "(%d logged)" % (twice, len(amb)))

        # Round 3: a fourth agent joins mid-round.
        quotes(url, 85.5, 3)
        wake_all(env, 3)
        wait_for("the first e-mails of round 3", lambda: len(round_mails(mail, "85.50")) >= 200,
                 300, every=0.05)
        agents[3].start()
        m3 = settle(env, agents, mail, "85.50", USERS)
        check(check_once(m3, set(), "round 3") == 0, "round 3: second copies after a join")
        print("  assignment after the join: %s" % {a.name: status_parts(a)
                                                  for a in (agents[0], agents[2], agents[3])})
        print("ok - round 3: a fourth agent joined mid-round, every user e-mailed exactly once")
        ok = True
        print("1 passed, 0 failed")
    finally:
        for a in agents:  # a stop that fails must not hide the failure that led here
            if a.proc and a.proc.poll() is None:
                try:
                    a.stop()
                except Fail as e:
                    print("  %s" % e)
                    a.kill()
        if ok:
            drop_db(env["TW_DB_URL"], name)
        else:
            print("  kept %s (logs) and database %s" % (work, name))


if __name__ == "__main__":
    try:
        main()
    except Fail as e:
        print("FAIL scale: %s" % e)
        sys.exit(1)
