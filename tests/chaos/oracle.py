# SPDX-License-Identifier: MIT
"""oracle.py - the chaos suite's independent oracle: from a seed, the scenario (tickers and
their price path, users and their thresholds) and the e-mails that path calls for.

Written from the rules in docs/alerts.md, docs/notifications.md, docs/schema.md and
/work/shared/DESIGN.md §1, sharing no code with the agent:
- `high` alerts when value > high (condition `higher`), `low` when value < low (`lower`);
  an unset threshold never alerts.
- Seed rule (duplicate suppression): an e-mail is sent only when the user is armed (never
  notified, or re-armed) or when the ticker, the condition or the integer part (floor) of the
  value differs from the last e-mail sent.
- Re-arm: a user who is not armed and whose latest quote is back inside the band
  (not above high, not below low) is armed again, so the next crossing mails even at the same
  integer part.
- Texts: subject `TICKER is above|below THRESHOLD: VALUE`, body `TICKER traded at VALUE at
  YYYY-MM-DD HH:MM UTC, above your high threshold of THRESHOLD.` (or `below your low
  threshold`), two decimals (the scenario keeps prices on odd cents and thresholds on even
  cents, so two decimals never show them equal and no price ever equals a threshold); the
  quote server is given each ticker's currency (CURRENCY) and exchange (EXCHANGE), which the
  chart meta carries, so the texts name them: `TICKER (EXCHANGE)` and `PRICE CURRENCY`
  (docs/notifications.md, Texts).
The harness holds each price step until an alert pass that started after its quotes were
stored has committed, so every step is observed by the alert side: the oracle evaluates the
rules once per step, per user, on that step's price.

Only random.Random(seed).random() is used (stable across Python versions)."""
import datetime
import math
import random

STEP_SECONDS = 60
CURRENCY = "USD"   # every ticker's meta.currency on the quote server
EXCHANGE = "NMS"   # and its meta.exchangeName


def _odd_cents(p):
    c = int(round(p * 100))
    if c % 2 == 0:
        c += 1
    return max(c, 101) / 100.0


def _even_cents(p):
    c = int(round(p * 100))
    if c % 2 == 1:
        c += 1
    return max(c, 100) / 100.0


def scenario(seed, steps, tickers=16, users_per_ticker=20, tag="chaos"):
    """-> dict(tickers={name: [price per step]}, users=[(email, ticker, high|None,
    low|None)], steps=N). Deterministic in (seed, steps, tickers, users_per_ticker, tag)."""
    rng = random.Random("prices-%d" % seed)
    names = ["CH" + chr(65 + i // 26) + chr(65 + i % 26) for i in range(tickers)]
    prices = {}
    for name in names:
        p = 20 + 60 * rng.random()
        path = []
        for _ in range(steps):
            r = rng.random()
            if r < 0.30:
                pass                                   # held: suppression, no change
            elif r < 0.36:
                p *= 1.07 if rng.random() < 0.5 else 1 / 1.07   # a jump across the band
            else:
                z = sum(rng.random() for _ in range(6)) - 3.0   # ~N(0, 0.7)
                p *= math.exp(0.012 * z)
            p = min(max(p, 2.0), 5000.0)
            path.append(_odd_cents(p))
        prices[name] = path
    urng = random.Random("users-%d" % seed)
    users = []
    for ti, name in enumerate(names):
        p0 = prices[name][0]
        for j in range(users_per_ticker):
            kind = urng.random()
            high = _even_cents(p0 * (0.97 + 0.08 * urng.random()))
            low = _even_cents(p0 * (0.95 + 0.05 * urng.random()))
            if low >= high:
                low = _even_cents(high * 0.97)
            if kind < 0.4:
                pass
            elif kind < 0.7:
                low = None
            elif kind < 0.97:
                high = None
            else:
                high = low = None                      # no threshold: never mailed
            users.append(("u%02d%03d.%s@chaos.test" % (ti, j, tag), name, high, low))
    return {"tickers": prices, "users": users, "steps": steps}


def quote_time(start_time, k):
    return start_time + k * STEP_SECONDS


def texts(ticker, cond, value, threshold, when):
    word = "above" if cond == "higher" else "below"
    name = "%s (%s)" % (ticker, EXCHANGE)
    subject = "%s is %s %.2f %s: %.2f %s" % (name, word, threshold, CURRENCY, value, CURRENCY)
    stamp = datetime.datetime.fromtimestamp(when, datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M")
    body = "%s traded at %.2f %s at %s UTC, %s your %s threshold of %.2f %s." % (
        name, value, CURRENCY, stamp, word, "high" if cond == "higher" else "low", threshold,
        CURRENCY)
    return subject, body


def expected(sc, start_time, upto=None):
    """The e-mails the path calls for, in order: dicts with step, email, ticker, condition,
    value, threshold, subject, body. @upto: only the steps before it (a run cut short)."""
    n = sc["steps"] if upto is None else upto
    out = []
    for email, ticker, high, low in sc["users"]:
        last = None                         # None: armed; else (ticker, condition, floor)
        path = sc["tickers"][ticker]
        for k in range(n):
            v = path[k]
            above = high is not None and v > high
            below = low is not None and v < low
            if last is not None and not above and not below:
                last = None                 # back inside the band: re-armed
            if not (above or below):
                continue
            cond, thr = ("higher", high) if above else ("lower", low)
            key = (ticker, cond, math.floor(v))
            if last is None or last != key:
                s, b = texts(ticker, cond, v, thr, quote_time(start_time, k))
                out.append({"step": k, "email": email, "ticker": ticker, "condition": cond,
                            "value": v, "threshold": thr, "subject": s, "body": b})
                last = key
    return out


if __name__ == "__main__":   # a look at a seed: python3 oracle.py SEED STEPS
    import sys
    from collections import Counter
    sc = scenario(int(sys.argv[1]), int(sys.argv[2]))
    e = expected(sc, 1767225600)
    print("%d users, %d tickers, %d steps: %d e-mails; per step %s" % (
        len(sc["users"]), len(sc["tickers"]), sc["steps"], len(e),
        sorted(Counter(m["step"] for m in e).items())[:20]))
