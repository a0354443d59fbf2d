#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""watch.py - the demo's mail window: print each e-mail for the demo's recipients as it lands in
the SMTP server's folder (recipient, subject, first lines), stop when @want arrived and nothing
new came for @settle seconds, when @pidfile's agent is gone, or after @timeout; then a summary.
usage: watch.py MAIL_DIR SINCE_LIST WANT TIMEOUT PIDFILE RCPT..."""
import email.parser
import email.policy
import glob
import os
import sys
import time
from collections import Counter

folder, since, want, timeout, pidfile = (sys.argv[1], sys.argv[2], int(sys.argv[3]),
                                         float(sys.argv[4]), sys.argv[5])
rcpts = {a.lower() for a in sys.argv[6:]}
with open(since) as f:
    old = set(f.read().split())
seen, got, last_new = set(), [], time.monotonic()
parser = email.parser.BytesParser(policy=email.policy.default)
end = time.monotonic() + timeout


def agent_alive():
    try:
        with open(pidfile) as f:
            os.kill(int(f.read().strip()), 0)
        return True
    except (OSError, ValueError):
        return False


while time.monotonic() < end:
    for path in sorted(glob.glob(os.path.join(folder, "*.eml"))):
        name = os.path.basename(path)
        if name in old or name in seen:
            continue
        seen.add(name)
        try:
            with open(path, "rb") as f:
                m = parser.parsebytes(f.read())
        except OSError:
            continue
        rcpt = (m.get("X-Stack-Rcpt-To") or m.get("To") or "").strip().strip("<>").lower()
        if rcpt not in rcpts:
            continue
        body = m.get_body(preferencelist=("plain",))
        lines = (body.get_content() if body is not None else "").strip().splitlines()
        got.append((rcpt, str(m.get("Subject"))))
        last_new = time.monotonic()
        print("\n  \u2709  to:      %s\n     subject: %s\n     id:      %s" %
              (rcpt, m.get("Subject"), m.get("Message-ID")))
        for line in lines[:3]:
            print("     | %s" % line)
        sys.stdout.flush()
    if len(got) >= want and time.monotonic() - last_new > 5:
        break
    if not agent_alive():
        print("\n  the agent is gone")
        break
    time.sleep(0.5)

print("\n==== demo: summary: %d e-mail(s) for %d recipient(s) (expected %d)" %
      (len(got), len({r for r, _ in got}), want))
for rcpt, n in sorted(Counter(r for r, _ in got).items()):
    print("     %-40s %d" % (rcpt, n))
sys.exit(0 if len(got) == want else 1)
