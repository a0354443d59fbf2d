# SPDX-License-Identifier: MIT
"""alert_oracle.py - the e-mails one further alert must send along a price path, decided from
the rules of docs/alerts.md ("Kinds", "Frequencies, cooldown, re-arm band, expiry") only: it
shares no code with agent/alert and reads nothing of the implementation.

A path is the list of (quote time in Unix seconds, price) the passes look at, in order."""
import math


def _day(t):
    return int(t // 86400)  # the UTC date of a quote time


def _condition(a, p):
    """(condition, threshold) the kind's condition gives, or (None, None) inside."""
    kind = a["kind"]
    if kind == "above" and p > a["level"]:
        return "higher", a["level"]
    if kind == "below" and p < a["level"]:
        return "lower", a["level"]
    if kind == "band":
        if p > a["level2"]:
            return "higher", a["level2"]
        if p < a["level"]:
            return "lower", a["level"]
    return None, None


def _back_inside(a, p, last_cond):
    """Inside, and back by rearm_pct percent of the threshold last crossed."""
    pct = a.get("rearm_pct", 0) / 100.0
    if last_cond == "higher":
        thr = a["level2"] if a["kind"] == "band" else a["level"]
        return p <= thr * (1 - pct)
    thr = a["level"]
    return p >= thr * (1 + pct)


def emails(a, path):
    """@a: {kind, level, level2?, frequency?, cooldown_s?, rearm_pct?, expired?}.
    @return [(condition, value, threshold)] in order, and whether it ends disabled (its reason
    or None)."""
    freq = a.get("frequency", "change")
    cooldown = a.get("cooldown_s", 0)
    out = []
    last = None          # (condition, integer part) of the last e-mail; None: never / re-armed
    last_sent = None     # the quote time of the last e-mail
    side = None          # cross: the side stored
    for t, p in path:
        if a.get("expired"):
            return out, "expired"  # past its expiry: disabled, nothing sent
        if a["kind"] == "cross":
            band = a["level"] * a.get("rearm_pct", 0) / 100.0
            now = 1 if p > a["level"] + band else -1 if p < a["level"] - band else 0
            if now == 0:
                continue  # on the level or within the band: the side stays
            if side is None or side == now:
                side = now  # the first look only stores the side
                continue
            side = now
            cond, thr = ("higher" if now > 0 else "lower"), a["level"]
            fresh = True
        else:
            cond, thr = _condition(a, p)
            if cond is None:
                if last is not None and _back_inside(a, p, last[0]):
                    last = None  # re-armed: the next crossing e-mails again
                continue
            fresh = last is None or last != (cond, math.floor(p))
        if freq == "daily":
            fresh = last_sent is None or _day(t) != _day(last_sent)
        elif freq == "once":
            fresh = True
        if not fresh:
            continue
        if cooldown and last_sent is not None and t - last_sent < cooldown:
            continue
        out.append((cond, p, thr))
        last, last_sent = (cond, math.floor(p)), t
        if freq == "once":
            return out, "once"
    return out, None
