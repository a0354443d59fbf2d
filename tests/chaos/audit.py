# SPDX-License-Identifier: MIT
"""audit.py - the chaos suite's auditor: the e-mails the oracle calls for against the SMTP
server's mail folder and the ids the agents logged as ambiguous.

Pass: 0 lost; no e-mail the rules don't call for (a recipient, subject and body the oracle
does not list, or listed fewer times than delivered under distinct Message-IDs); a Message-ID
delivered more than once only when an agent logged that id as ambiguous (its end of data was in
flight at a crash or a time-out), and every copy of it with the same text. An e-mail the notifier
deferred into its retry schedule (a 4xx: "ID to EMAIL deferred (...)") counts as delivered once it
arrives -- late is not lost -- and the same rules hold for it: exactly once unless ambiguous."""
import email.parser
import email.policy
import glob
import os
import re
from collections import Counter, defaultdict

# The notifier's one warning for an id whose end of data was in flight (docs/notifications.md,
# "Ambiguous deliveries"): "ambiguous delivery id=ID to=EMAIL window=WINDOW: sent again ...",
# WINDOW "crash" (found 'sending' after a restart) or "end-of-data-no-answer" (a time-out or
# reset waiting for the reply to the final dot).
AMBIGUOUS = re.compile(r"^(\S+) .*?ambiguous delivery id=([0-9a-f]{32}) to=(\S+) (window=.*)$",
                       re.M)


# The notifier's line for an e-mail put into the persisted retry schedule (docs/notifications.md,
# "The retry schedule"): "ID to EMAIL deferred (REASON): into the retry schedule, ...".
DEFERRED = re.compile(r"\[notifier\] ([0-9a-f]{32}) to (\S+) deferred \(", re.M)


def norm(s):
    return " ".join(s.split())


def read_mails(folder, tag):
    """Every e-mail of this run (a recipient containing @tag): dicts with rcpt, subject,
    body, message_id, file."""
    parser = email.parser.BytesParser(policy=email.policy.default)
    out = []
    tag = tag.lower().encode()
    for path in sorted(glob.glob(os.path.join(folder, "*.eml"))):
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except OSError:
            continue
        if tag not in raw.lower():
            continue
        m = parser.parsebytes(raw)
        rcpt = (m.get("X-Stack-Rcpt-To") or "").strip().strip("<>").lower()
        if tag.decode() not in rcpt:
            continue
        body = m.get_body(preferencelist=("plain",))
        out.append({"rcpt": rcpt, "subject": str(m.get("Subject") or ""),
                    "body": norm(body.get_content() if body is not None else ""),
                    "message_id": str(m.get("Message-ID") or "").strip(), "file": path})
    return out


def ambiguous(logs):
    """{id: [(agent, time, email, rest of line)]} from the agents' logs {agent: text}."""
    out = defaultdict(list)
    for agent, text in logs.items():
        for when, nid, rcpt, rest in AMBIGUOUS.findall(text):
            out[nid].append((agent, when, rcpt, rest.strip()))
    return out


def deferred(logs):
    """{id: email} of every e-mail an agent deferred into the retry schedule."""
    out = {}
    for text in logs.values():
        for nid, rcpt in DEFERRED.findall(text):
            out[nid] = rcpt.lower()
    return out


def audit(expected, mails, amb, defer=None):
    """-> dict: counts and lists (lost, unexpected, unexplained duplicates, second copies,
    mismatched copies, deferred ids delivered / not delivered) and ok."""
    want = Counter((e["email"].lower(), e["subject"], norm(e["body"])) for e in expected)
    by_id = defaultdict(list)
    for m in mails:
        by_id[m["message_id"]].append(m)
    logical = Counter()
    seconds, unexplained, mismatched, bad_ids = [], [], [], []
    for mid, copies in by_id.items():
        first = copies[0]
        logical[(first["rcpt"], first["subject"], first["body"])] += 1
        if not re.fullmatch(r"<[0-9a-f]{32}@tickwatch>", mid):
            bad_ids.append(mid)
        if any((c["rcpt"], c["subject"], c["body"]) != (first["rcpt"], first["subject"],
                                                         first["body"]) for c in copies):
            mismatched.append(mid)
        if len(copies) > 1:
            nid = mid.strip("<>").split("@")[0]
            entry = (mid, len(copies), first["rcpt"], first["subject"], amb.get(nid, []))
            (seconds if nid in amb else unexplained).append(entry)
    lost = list((want - logical).elements())
    unexpected = list((logical - want).elements())
    defer = defer or {}
    ids = {mid.strip("<>").split("@")[0] for mid in by_id}
    deferred_delivered = sorted(n for n in defer if n in ids)
    deferred_missing = sorted(n for n in defer if n not in ids)
    return {"expected": sum(want.values()), "delivered": len(by_id), "files": len(mails),
            "deferred": len(defer), "deferred_delivered": deferred_delivered,
            "deferred_missing": deferred_missing,
            "lost": lost, "unexpected": unexpected, "second_copies": seconds,
            "unexplained_duplicates": unexplained, "mismatched_copies": mismatched,
            "bad_message_ids": bad_ids,
            "ok": not (lost or unexpected or unexplained or mismatched or bad_ids)}
