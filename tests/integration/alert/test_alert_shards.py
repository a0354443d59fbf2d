#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_alert_shards.py - sharded alert passes (docs/scale.md) on the real PostgreSQL and Kafka:
# migration 8's users.shard equals the documented slot (first 12 bits of md5(email), computed
# here with Python's hashlib: no shared code) and follows an e-mail change; a wake-up on
# partition p of to-alert-system with "tw-partitions: P" makes the alert role e-mail exactly
# the crossing users of slot range p of P (floor(slot * P / 4096) = p); the other partitions'
# wake-ups cover the rest, every user exactly once; the same holds after P changes (6 -> 3) with
# no row rewritten; a wake-up without the header (an older collector) is a full pass; and the
# notification ids a sharded pass produces are those a full pass produces for the same state.
# Fails (never skips) without the stack. usage: test_alert_shards.py BINARY
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "e2e", "alerts"))
from e2elib import (Agent, Fail, caught_up, check, consumer_group_to_end,  # noqa: E402
                    drop_db, end_offsets, make_db, migrate, sql, stack_env, topic_messages,
                    wait_for, wake)

TAG = "%d" % os.getpid()
N = 48
SLOTS = 4096


def em(i):
    return "s%02d.%s@Shards.test" % (i, TAG) if i % 5 == 0 else "s%02d.%s@shards.test" % (i, TAG)


def slot(e):
    """The documented rule: the first 3 hex digits of md5(e-mail) as a number."""
    return int(hashlib.md5(e.encode()).hexdigest()[:3], 16)


def part(e, p_count):
    return slot(e) * p_count // SLOTS


def wake_parts(env, parts, p_count):
    for p in parts:
        r = subprocess.run(["kcat", "-P", "-b", env["TW_KAFKA_BOOTSTRAP"], "-t", "to-alert-system",
                            "-p", str(p), "-H", "tw-partitions=%d" % p_count, "-k", "shards"],
                           input='{"probe":"shards"}\n', capture_output=True, text=True,
                           timeout=60)
        check(r.returncode == 0, "kcat produce to partition %d: %s" % (p, r.stderr))


def main():
    binary = os.path.abspath(sys.argv[1])
    env = stack_env()
    work = tempfile.mkdtemp(prefix="tw-int-shards.")
    name = "tw_int_shards_%d" % os.getpid()
    url = make_db(env["TW_DB_URL"], name)
    agent = None
    group = "tickwatch-alert-shards-%d" % os.getpid()
    try:
        migrate(binary, url)
        emails = [em(i) for i in range(N)]
        # the domain is folded on the way in (migration 6's rule): store them folded
        folded = [e.split("@")[0] + "@" + e.split("@")[1].lower() for e in emails]
        sql(url, "COPY users (email, ticker, high) FROM STDIN",
            stdin="".join("%s\tSH%d\t100\n" % (e, i % 2) for i, e in enumerate(folded)))
        got = dict(sql(url, "SELECT email, shard FROM users WHERE email LIKE '%%.%s@%%'" % TAG))
        check({e: int(v) for e, v in got.items()} == {e: slot(e) for e in folded},
              "users.shard differs from the first 12 bits of md5(email)")
        idx = {r[0] for r in sql(url, "SELECT indexname FROM pg_indexes WHERE indexname IN "
                                      "('users_shard_idx', 'alert_state_shard_idx')")}
        check(idx == {"users_shard_idx", "alert_state_shard_idx"}, "shard indexes: %s" % idx)
        moved = "moved.%s@shards.test" % TAG
        sql(url, "UPDATE users SET email = '%s' WHERE email = '%s'" % (moved, folded[1]))
        check(int(sql(url, "SELECT shard FROM users WHERE email = '%s'" % moved)[0][0]) ==
              slot(moved), "shard not recomputed after an e-mail change")
        folded[1] = moved
        print("ok - users.shard is the documented slot, indexed, and follows the e-mail")

        agent = Agent(binary, env, work, "int-shards", url, "admin,alert",
                      extra="[limits]\nalert_page = 5\nalert_inflight = 16\n[kafka]\n"
                            "partitions = 6\ngroup.id = %s\n" % group)
        agent.start()
        wait_for("admin: topics ready", lambda: "[admin] topics ready" in agent.text(), 90)
        wait_for("%s past the backlog" % group,
                 lambda: agent.alive() and caught_up(env, group, "to-alert-system"), 120)

        def run(fn):
            """Do @fn (produce wake-ups), wait until the group committed them, and return the
            test's to-notifier messages since: {email: message}, each exactly once."""
            start = end_offsets(env, "to-notifier")
            fn()
            end = end_offsets(env, "to-alert-system")
            wait_for("the passes committed", lambda: agent.alive() and
                     caught_up(env, group, "to-alert-system", at_least=end), 120)
            out = {}
            for m in topic_messages(env, "to-notifier", start):
                if ".%s@shards.test" % TAG not in (m["key"] or ""):
                    continue
                v = json.loads(m["payload"])
                check(m["key"] == v["email"], "key %r is not the e-mail %r" % (m["key"], v))
                check(v["email"] not in out, "%s e-mailed twice" % v["email"])
                out[v["email"]] = dict(v, partition=m["partition"])
            return out

        sql(url, "INSERT INTO quotes (ticker, at, value) VALUES ('SH0', now(), 150.5), "
            "('SH1', now(), 151.5)")
        # P = 6: partition 2 alone, then all six (partition 2's users are suppressed by then).
        got2 = run(lambda: wake_parts(env, [2], 6))
        want2 = sorted(e for e in folded if part(e, 6) == 2)
        check(want2 and sorted(got2) == want2, "partition 2 of 6 e-mailed %s, want %s"
              % (sorted(got2), want2))
        print("ok - a wake-up on partition 2 of 6 e-mails exactly its %d users" % len(want2))
        rest = run(lambda: wake_parts(env, range(6), 6))
        check(sorted(rest) == sorted(set(folded) - set(want2)), "the other five partitions "
              "e-mailed %d users, want %d" % (len(rest), N - len(want2)))
        first = dict(got2, **rest)
        print("ok - the six partitions of P = 6 cover every user exactly once")

        # Same state, a full pass (no header): the very same notification ids.
        sql(url, "DELETE FROM alert_state WHERE email LIKE '%%.%s@%%'" % TAG)
        full = run(lambda: wake(env))
        check(sorted(full) == sorted(folded), "the full pass e-mailed %d users" % len(full))
        diff = [e for e in folded if full[e]["id"] != first[e]["id"]]
        check(not diff, "ids differ between the sharded and the full pass: %s" % diff[:3])
        print("ok - a wake-up without the header is a full pass, with the ids the sharded "
              "passes produced")

        # P changes to 3 (nothing rewritten): a new integer part, partition 1 of 3, then 0 and 2.
        sql(url, "INSERT INTO quotes (ticker, at, value) VALUES ('SH0', now() + interval '1 s', "
            "160.5), ('SH1', now() + interval '1 s', 161.5)")
        got1 = run(lambda: wake_parts(env, [1], 3))
        want1 = sorted(e for e in folded if part(e, 3) == 1)
        check(want1 and sorted(got1) == want1, "partition 1 of 3 e-mailed %s, want %s"
              % (sorted(got1), want1))
        rest3 = run(lambda: wake_parts(env, [0, 2], 3))
        check(sorted(rest3) == sorted(set(folded) - set(want1)), "partitions 0 and 2 of 3 "
              "e-mailed %d users, want %d" % (len(rest3), N - len(want1)))
        print("ok - after P = 6 -> 3 the three ranges cover every user exactly once")
        by_user = {}
        for d in (got2, rest, full, got1, rest3):
            for e, v in d.items():
                by_user.setdefault(e, set()).add(v["partition"])
        split = [e for e, ps in by_user.items() if len(ps) != 1]
        check(not split, "users whose e-mails went to more than one to-notifier partition: %s"
              % split[:3])
        print("ok - each user's messages are keyed by the e-mail: one to-notifier partition each")
        agent.stop()
        agent = None
        print("1 passed, 0 failed")
    finally:
        if agent:
            agent.stop()
        ok, _ = consumer_group_to_end(env, "tickwatch-notifier", "to-notifier")
        drop_db(env["TW_DB_URL"], name)


if __name__ == "__main__":
    try:
        main()
    except Fail as e:
        print("FAIL: %s" % e)
        sys.exit(1)
