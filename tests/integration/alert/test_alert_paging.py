#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_alert_paging.py - one alert role on a fresh database with [limits] alert_page = 3, so a
# pass over 11 users walks several keyset pages (crossing and re-arm) and advances the
# suppression state in batches: every crossing user is e-mailed once per change and its
# alert_state row says so, nobody is skipped or doubled at a page boundary, re-arms cover
# every page, and a repeat pass suppresses everything. Each wake-up is followed by exactly the
# next pass (no pass is passed over for one that matches), and the messages each pass produced
# are read back from to-notifier (kcat) and checked field by field (the text names the quote's
# currency and exchange when it has them, schema 12). Fails (never skips) without
# the stack. Afterwards tickwatch-notifier is moved past the test's messages (bench/alert does
# the same), so no notifier mails the test's addresses.
# usage: test_alert_paging.py BINARY
import hashlib
import hmac
import json
import os
import re
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "e2e", "alerts"))
from e2elib import (Agent, Fail, caught_up, check, consumer_group_to_end,  # noqa: E402
                    drop_db, end_offsets, make_db, migrate, sql, stack_env, topic_messages, wait_for,
                    wake)

DONE = re.compile(r"\[alert\] pass (\d+) done: (\d+) rows, (\d+) sent, (\d+) suppressed, "
                  r"(\d+) invalid, (\d+) re-armed; (\d+) pages, (\d+) advance batches")
N = 11
TAG = "%d" % os.getpid()   # the run's addresses: uNN.TAG@paging.test


def em(i):
    return "u%02d.%s@paging.test" % (i, TAG)


SIGN_KEY = []  # the database's notif_key, read once (main() sets it)


def signed(payload):
    """@payload ends with ,"sig":"<HMAC-SHA256 of every byte before "sig">"} under notif_key."""
    raw = payload.encode() if isinstance(payload, str) else payload
    cut = raw.rfind(b'"sig":"')
    if cut < 0 or not SIGN_KEY:
        return False
    want = hmac.new(SIGN_KEY[0].encode(), raw[:cut], hashlib.sha256).hexdigest()
    return raw[cut:] == ('"sig":"%s"}' % want).encode()


def produced(env, start, want):
    """The test's messages on to-notifier since @start: {email: message}; each exactly once,
    signed, and exactly the addresses in @want."""
    msgs = [m for m in topic_messages(env, "to-notifier", start)
            if (m["key"] or "").endswith(".%s@paging.test" % TAG)]
    got = {}
    for m in msgs:
        v = json.loads(m["payload"])
        check(signed(m["payload"]), "message not signed with notif_key: %r" % m["payload"])
        check(m["key"] == v.get("email"), "message key %r is not its email %r" % (m["key"], v))
        check(v["email"] not in got, "two messages for %s in one pass: %s and %s"
              % (v["email"], got.get(v["email"]), v))
        got[v["email"]] = v
    check(sorted(got) == sorted(want), "to-notifier holds messages for %s, want %s"
          % (sorted(got), sorted(want)))
    return got


def check_message(v, ticker, cond, value, thr, cur=None, exch=None):
    """The message of a crossing; its text names the quote's exchange after the ticker and its
    currency after each price when the quote has them (docs/notifications.md, Texts)."""
    word = "above" if cond == "higher" else "below"
    name = "%s (%s)" % (ticker, exch) if exch else ticker
    c = " " + cur if cur else ""
    check(v.get("v") == 2 and re.fullmatch(r"[0-9a-f]{32}", v.get("id", "")), "message %s" % v)
    check((v["ticker"], v["condition"], v["value"], v["threshold"]) == (ticker, cond, value, thr),
          "message %s: want %s %s %s %s" % (v, ticker, cond, value, thr))
    check(v["subject"] == "%s is %s %.2f%s: %.2f%s" % (name, word, thr, c, value, c),
          "subject %r" % v["subject"])
    check(v["body"].startswith("%s traded at %.2f%s at " % (name, value, c)) and
          ("%s your %s threshold of %.2f%s.\n" % (word, "high" if cond == "higher" else "low",
                                                  thr, c))
          in v["body"], "body %r" % v["body"])


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
        SIGN_KEY.append(sql(url, "SELECT key FROM notif_key")[0][0])
        # 11 users over 3 tickers; high 100 for P*, low 10 for L*; e-mails that sort across
        # pages; u10 has no threshold at all (never crosses).
        rows = []
        for i in range(N):
            t = "P%d" % (i % 2) if i < 8 else "LOW"
            hi, lo = ("100", "\\N") if t != "LOW" else ("\\N", "10")
            if i == 10:
                hi, lo = "\\N", "\\N"
            rows.append("%s\t%s\t%s\t%s\n" % (em(i), t, hi, lo))
        sql(url, "COPY users (email, ticker, high, low) FROM STDIN", stdin="".join(rows))
        # admin too: on a fresh cluster the topics are made by it, never auto-created
        group = "tickwatch-alert-int-%d" % os.getpid()
        agent = Agent(binary, env, work, "int-alert", url, "admin,alert",
                      extra="[limits]\nalert_page = 3\nalert_inflight = 16\n[kafka]\n"
                            "group.id = %s\n" % group)
        agent.start()
        wait_for("admin: topics ready", lambda: "[admin] topics ready" in agent.text(), 60)
        # The new group starts at the earliest wake-up: let it take the topic's backlog
        # (passes over no quotes, nothing to send) before the test's quotes go in.
        wait_for("%s past the backlog of to-alert-system" % group,
                 lambda: agent.alive() and caught_up(env, group, "to-alert-system"), 120)
        check(not [d for d in DONE.findall(agent.text()) if int(d[2])],
              "a pass sent before the test's quotes: %s" % DONE.findall(agent.text()))
        # P1's quote tells its currency and exchange (schema 12): its e-mails name them
        sql(url, "INSERT INTO quotes (ticker, at, value, currency, exchange) VALUES "
            "('P0', now(), 150.25, NULL, NULL), ('P1', now(), 120.5, 'USD', 'NMS'), "
            "('LOW', now(), 5.75, NULL, NULL)")

        def pass_after(before):
            """Wake the alert role and return the pass that did the work: every pass logged
            after @before until the group has committed the wake-up. Other wake-ups on the
            shared topic (another suite's collector) may add passes; exactly one of them may
            send or re-arm, every other one must find nothing to do (sent 0, re-armed 0)."""
            wake(env)
            end = end_offsets(env, "to-alert-system")
            c = {}

            def committed():
                agent.alive()
                if not caught_up(env, group, "to-alert-system", at_least=end):
                    return False
                c["done"] = DONE.findall(agent.text())[before:]
                return c["done"]
            done = wait_for("the pass of the wake-up (%s committed)" % group, committed, 120)
            work_ = [d for d in done if int(d[2]) or int(d[5])]
            check(len(work_) <= 1, "more than one pass did work for one wake-up: %s" % done)
            return work_[0] if work_ else done[-1]

        # 1: every crossing user (10 of 11) e-mailed once, over 4 pages of 3.
        before = len(DONE.findall(agent.text()))
        start = end_offsets(env, "to-notifier")
        m = pass_after(before)
        check(int(m[1]) == 10 and int(m[2]) == 10, "pass 1 rows and sent: %s" % (m,))
        check(int(m[6]) == 4, "pass 1 should walk 4 crossing pages of 3, got %s" % m[6])
        check(int(m[7]) >= 1, "pass 1 advanced in no batch: %s" % (m,))
        s = state(url)
        check(len(s) == 10 and em(10) not in s, "alert_state after pass 1: %s" % s)
        msgs1 = produced(env, start, [em(i) for i in range(10)])
        for i in range(10):
            e = em(i)
            want = {0: ("P0", "higher", "150"), 1: ("P1", "higher", "120")}[i % 2] if i < 8 \
                else ("LOW", "lower", "5")
            check(s[e][:3] == want and s[e][3] == 1, "%s after pass 1: %s, want %s episode 1"
                  % (e, s[e], want))
            check_message(msgs1[e], *({0: ("P0", "higher", 150.25, 100.0),
                                       1: ("P1", "higher", 120.5, 100.0, "USD", "NMS")}[i % 2]
                                      if i < 8 else ("LOW", "lower", 5.75, 10.0)))
        check(len({v["id"] for v in msgs1.values()}) == 10, "pass 1 ids not distinct: %s"
              % [v["id"] for v in msgs1.values()])

        # 2: same prices: all suppressed, nothing advanced.
        before = len(DONE.findall(agent.text()))
        start = end_offsets(env, "to-notifier")
        m = pass_after(before)
        check(int(m[2]) == 0 and int(m[3]) == 10, "pass 2 should suppress all 10: %s" % (m,))
        check(state(url) == s, "pass 2 changed alert_state")
        produced(env, start, [])

        # 3: P0 and LOW back inside the band: their 6 users re-armed over several re-arm
        # pages, P1's 4 users still suppressed.
        sql(url, "INSERT INTO quotes (ticker, at, value) VALUES ('P0', now() + interval '1 s', "
            "99.5), ('LOW', now() + interval '1 s', 11)")
        before = len(DONE.findall(agent.text()))
        start = end_offsets(env, "to-notifier")
        m = pass_after(before)
        check(int(m[5]) == 6 and int(m[2]) == 0 and int(m[3]) == 4, "pass 3: %s" % (m,))
        produced(env, start, [])
        s3 = state(url)
        for i in range(10):
            e = em(i)
            if i < 8 and i % 2 == 1:
                check(s3[e] == s[e], "%s should be untouched: %s" % (e, s3[e]))
            else:
                check(s3[e] == ("", "", "", 2), "%s should be re-armed at episode 2: %s"
                      % (e, s3[e]))

        # 4: crossing again at the same integer parts: the 6 re-armed users e-mailed again.
        sql(url, "INSERT INTO quotes (ticker, at, value) VALUES ('P0', now() + interval '2 s', "
            "150.75), ('LOW', now() + interval '2 s', 5.25)")
        before = len(DONE.findall(agent.text()))
        start = end_offsets(env, "to-notifier")
        m = pass_after(before)
        check(int(m[2]) == 6 and int(m[3]) == 4, "pass 4 should send 6 and suppress P1's 4 "
              "users: %s" % (m,))
        rearmed = [i for i in range(10) if i >= 8 or i % 2 == 0]
        msgs4 = produced(env, start, [em(i) for i in rearmed])
        for i in rearmed:
            check_message(msgs4[em(i)], *(("P0", "higher", 150.75, 100.0) if i < 8
                                          else ("LOW", "lower", 5.25, 10.0)))
            check(msgs4[em(i)]["id"] != msgs1[em(i)]["id"], "%s: the e-mail after the re-arm "
                  "reuses the id %s" % (em(i), msgs1[em(i)]["id"]))
        s4 = state(url)
        for i in range(10):
            e = em(i)
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
