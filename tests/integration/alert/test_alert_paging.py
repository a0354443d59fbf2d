#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_alert_paging.py - one alert role on a fresh database with [limits] alert_page = 3, so a
# pass over 11 users walks several keyset pages (crossing and re-arm) and advances the
# suppression state in batches: every crossing user is e-mailed once per change and its
# alert_state row says so, nobody is skipped or doubled at a page boundary, re-arms cover
# every page, and a repeat pass suppresses everything. Fails (never skips) without the stack.
# Its messages go to to-notifier: afterwards tickwatch-notifier is moved past them (bench/alert
# does the same), so no notifier mails the test's addresses.
# usage: test_alert_paging.py BINARY
import os
import re
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "e2e", "alerts"))
from e2elib import (Agent, Fail, check, consumer_group_to_end, drop_db, make_db, migrate,  # noqa: E402
                    sql, stack_env, wait_for, wake)

DONE = re.compile(r"\[alert\] pass (\d+) done: (\d+) rows, (\d+) sent, (\d+) suppressed, "
                  r"(\d+) invalid, (\d+) re-armed; (\d+) pages, (\d+) advance batches")
N = 11


def state(url):
    rows = sql(url, "SELECT email, coalesce(last_ticker, ''), coalesce(last_condition, ''), "
               "coalesce(last_int::text, ''), episode FROM alert_state ORDER BY email")
    return {r[0]: (r[1], r[2], r[3], int(r[4])) for r in rows}


def main():
    binary = os.path.abspath(sys.argv[1])
    env = stack_env()
    work = tempfile.mkdtemp(prefix="tw-int-alert.")
    name = "tw_int_alert_%d" % os.getpid()
    url = make_db(env["TW_DB_URL"], name)
    agent = None
    try:
        migrate(binary, url)
        # 11 users over 3 tickers; high 100 for P*, low 10 for L*; e-mails that sort across
        # pages; u10 has no threshold at all (never crosses).
        rows = []
        for i in range(N):
            t = "P%d" % (i % 2) if i < 8 else "LOW"
            hi, lo = ("100", "\\N") if t != "LOW" else ("\\N", "10")
            if i == 10:
                hi, lo = "\\N", "\\N"
            rows.append("u%02d@paging.test\t%s\t%s\t%s\n" % (i, t, hi, lo))
        sql(url, "COPY users (email, ticker, high, low) FROM STDIN", stdin="".join(rows))
        sql(url, "INSERT INTO quotes (ticker, at, value) VALUES ('P0', now(), 150.25), "
            "('P1', now(), 120.5), ('LOW', now(), 5.75)")
        # admin too: on a fresh cluster the topics are made by it, never auto-created
        agent = Agent(binary, env, work, "int-alert", url, "admin,alert",
                      extra="[limits]\nalert_page = 3\nalert_inflight = 16\n[kafka]\n"
                            "group.id = tickwatch-alert-int-%d\n" % os.getpid())
        agent.start()
        wait_for("admin: topics ready", lambda: "[admin] topics ready" in agent.text(), 60)

        def pass_after(before, want_sent=None):
            def got():
                agent.alive()
                done = DONE.findall(agent.text())[before:]
                for m in done:
                    if want_sent is None or int(m[2]) == want_sent:
                        return m
                return None
            return wait_for("an alert pass", got, 120)

        # 1: every crossing user (10 of 11) e-mailed once, over 4 pages of 3.
        before = len(DONE.findall(agent.text()))
        wake(env)
        m = pass_after(before, want_sent=10)
        check(int(m[1]) == 10, "pass 1 rows: %s" % (m,))
        check(int(m[6]) == 4, "pass 1 should walk 4 crossing pages of 3, got %s" % m[6])
        check(int(m[7]) >= 1, "pass 1 advanced in no batch: %s" % (m,))
        s = state(url)
        check(len(s) == 10 and "u10@paging.test" not in s, "alert_state after pass 1: %s" % s)
        for i in range(10):
            e = "u%02d@paging.test" % i
            want = {0: ("P0", "higher", "150"), 1: ("P1", "higher", "120")}[i % 2] if i < 8 \
                else ("LOW", "lower", "5")
            check(s[e][:3] == want and s[e][3] == 1, "%s after pass 1: %s, want %s episode 1"
                  % (e, s[e], want))

        # 2: same prices: all suppressed, nothing advanced.
        before = len(DONE.findall(agent.text()))
        wake(env)
        m = pass_after(before)
        check(int(m[2]) == 0 and int(m[3]) == 10, "pass 2 should suppress all 10: %s" % (m,))
        check(state(url) == s, "pass 2 changed alert_state")

        # 3: P0 and LOW back inside the band: their 6 users re-armed over several re-arm
        # pages, P1's 4 users still suppressed.
        sql(url, "INSERT INTO quotes (ticker, at, value) VALUES ('P0', now() + interval '1 s', "
            "99.5), ('LOW', now() + interval '1 s', 11)")
        before = len(DONE.findall(agent.text()))
        wake(env)
        m = pass_after(before)
        check(int(m[5]) == 6 and int(m[2]) == 0 and int(m[3]) == 4, "pass 3: %s" % (m,))
        s3 = state(url)
        for i in range(10):
            e = "u%02d@paging.test" % i
            if i < 8 and i % 2 == 1:
                check(s3[e] == s[e], "%s should be untouched: %s" % (e, s3[e]))
            else:
                check(s3[e] == ("", "", "", 2), "%s should be re-armed at episode 2: %s"
                      % (e, s3[e]))

        # 4: crossing again at the same integer parts: the 6 re-armed users e-mailed again.
        sql(url, "INSERT INTO quotes (ticker, at, value) VALUES ('P0', now() + interval '2 s', "
            "150.75), ('LOW', now() + interval '2 s', 5.25)")
        before = len(DONE.findall(agent.text()))
        wake(env)
        m = pass_after(before, want_sent=6)
        check(int(m[3]) == 4, "pass 4 should suppress P1's 4 users: %s" % (m,))
        s4 = state(url)
        for i in range(10):
            e = "u%02d@paging.test" % i
            if i < 8 and i % 2 == 1:
                check(s4[e] == s[e], "%s should be untouched: %s" % (e, s4[e]))
            elif i < 8:
                check(s4[e] == ("P0", "higher", "150", 3), "%s after pass 4: %s" % (e, s4[e]))
            else:
                check(s4[e] == ("LOW", "lower", "5", 3), "%s after pass 4: %s" % (e, s4[e]))
        print("ok: paging over %d users in pages of 3, batched advances, re-arms, suppression" % N)
        return 0
    except Fail as e:
        print("FAIL: %s" % e)
        if agent:
            print(agent.text()[-3000:])
        return 1
    finally:
        if agent:
            agent.stop(60)
        ok, out = consumer_group_to_end(env, "tickwatch-notifier", "to-notifier")
        if not ok:
            print("warning: could not move tickwatch-notifier past the test's messages: %s"
                  % out.strip()[-300:])
        drop_db(env["TW_DB_URL"], name)


if __name__ == "__main__":
    sys.exit(main())
