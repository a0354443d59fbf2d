#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""chaos.py - the chaos suite: two agents (every role) on the real stack, hundreds of users on
tens of tickers, a seeded random price path served by the stack's quote server, and a seeded
fault schedule (agent SIGKILL and SIGSTOP/SIGCONT, broker SIGKILL, PostgreSQL restart, SMTP
refuse/421/451/stall, and Toxiproxy latency/reset_peer/timeout/bandwidth between the agents and
Kafka, PostgreSQL and SMTP). The oracle (oracle.py) computes the e-mails the path calls for;
the auditor (audit.py) compares them with the SMTP server's mail folder. Deterministic by seed:
the path, the users, the expected e-mails and the fault schedule (which fault at which step,
with which parameters) depend on the seed and the step count only.

Stepping: the quote server is in manual advance. For step k the harness moves the server to k,
waits until every ticker's quote of step k is stored in PostgreSQL, then produces a wake-up of
its own on to-alert-system and waits until tickwatch-alert's committed offset covers it (a
pass that started after the store has finished), and only then steps on. The end
condition is positive: tickwatch-alert and tickwatch-notifier committed up to the end of
their topics, no `sending` row left, and then every expected e-mail in the folder (a bounded
wait, for deferred retries), or the run fails naming what is missing.

The agents reach Kafka, PostgreSQL and SMTP only through Toxiproxy (scripts/stack/toxiproxy.sh:
each broker has a listener that advertises its proxy, so every Kafka connection is covered).
The harness itself talks to the servers directly.

usage: chaos.py --binary BIN [--minutes M] [--seed S] [--steps N] [--keep]
Exit 0 on pass, 1 on a failed audit or a wedged run, 2 on a harness error."""
import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import audit  # noqa: E402
import kafkaq  # noqa: E402
import oracle  # noqa: E402
from twlib import STACK, Fail, drop_db, free_port, make_db, sql  # noqa: E402
import twlib  # noqa: E402

STEPS_PER_MINUTE = 16
STEP_TIMEOUT = 300          # seconds one step may take before the run is called wedged
DRAIN_TIMEOUT = 300         # seconds for the end condition after the last step


def log(msg):
    print("chaos %s %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def stack(*args, timeout=300):
    r = subprocess.run([STACK] + list(args), capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise Fail("scripts/stack.sh %s: %s %s" % (" ".join(args), r.stdout[-500:],
                                                   r.stderr[-800:]))
    return r.stdout


def http(url, data=None, method=None, timeout=10):
    body = None if data is None else (data if isinstance(data, bytes) else data.encode())
    req = urllib.request.Request(url, data=body, method=method,
                                 headers={"User-Agent": "tickwatch-chaos"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read().decode()


def quiet(fn):
    """fn() with the stack's transient errors (a restarting PostgreSQL, a dead broker) as
    None, for polling."""
    try:
        return fn()
    except (Fail, kafkaq.KafkaError, subprocess.TimeoutExpired, OSError):
        return None


def wait_for(what, fn, timeout, every=0.25, alive=None):
    t0 = time.monotonic()
    end, note = t0 + timeout, t0 + 30
    while True:
        v = quiet(fn)
        if v:
            return v
        if alive:
            alive()
        now = time.monotonic()
        if now > end:
            raise Fail("wedged: %s not reached within %d s" % (what, timeout))
        if now > note:
            log("still waiting (%.0f s) for %s" % (now - t0, what))
            note = now + 30
        time.sleep(every)


class Offsets:
    """End and committed offsets; a new librdkafka handle per question (a long-lived one
    that never polls can keep a dead broker's state after a broker kill)."""

    def __init__(self, bootstrap):
        self.bootstrap = bootstrap

    def _ask(self, group, fn):
        c = kafkaq.Client(self.bootstrap, group)
        try:
            return fn(c)
        finally:
            c.close()

    def end(self, topic, parts):
        return self._ask("tickwatch-chaos-reader", lambda c: c.end_offsets(topic, parts))

    def committed(self, group, topic, parts):
        return self._ask(group, lambda c: c.committed(topic, parts))

    def caught_up(self, group, topic, parts):
        return self._ask(group, lambda c: c.caught_up(topic, parts))


class Agent:
    """One tickwatch agent with every role, reaching the stack through Toxiproxy."""

    def __init__(self, binary, env, work, name, url):
        self.binary, self.name, self.proc = binary, name, None
        self.conf = os.path.join(work, name + ".conf")
        self.log = os.path.join(work, name + ".log")
        self.port = free_port()
        self.starts, self.stopped = 0, False
        with open(self.conf, "w") as f:
            f.write("""[agent]
name = %(name)s
log_level = info
stop_timeout = 10s
[kafka]
bootstrap = %(kafka)s
session.timeout.ms = 10000
[db]
write_url = %(url)s
connect_timeout = 5s
statement_timeout = 10s
[smtp]
host = 127.0.0.1
port = %(smtp_port)s
mode = starttls
user = %(smtp_user)s
password = %(smtp_pass)s
ca_file = %(ca)s
from = alerts@tickwatch.test
timeout = 10s
breaker_recovery = 5s
# a 4xx defers into the retry schedule: re-driven within seconds here, never old enough to
# become a dead letter within a run
retry_interval = 2s
retry_max_interval = 10s
max_retry_age = 1h
[quotes]
source = yahoo
base = %(quotes)s
ca_file = %(ca)s
interval = 1s
timeout = 5s
max_age = 3650d
breaker_recovery = 3s
[rpc]
listen = 127.0.0.1:%(port)d
[limits]
arena_kb = 16384
""" % dict(name=name, kafka=env["TW_TOXI_KAFKA_BOOTSTRAP"], url=url,
                smtp_port=env["TW_TOXI_SMTP_PORT_STARTTLS"], smtp_user=env["TW_SMTP_USER"],
                smtp_pass=env["TW_SMTP_PASSWORD"], ca=env["TW_CA_FILE"],
                quotes=env["TW_QUOTES_BASE"], port=self.port))
        os.chmod(self.conf, 0o600)

    def text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def start(self):
        before = self.text().count("ready: roles")
        self.logf = open(self.log, "a")
        self.proc = subprocess.Popen([self.binary, "run", "--config", self.conf, "--console",
                                      "none"], stdout=self.logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        self.starts += 1
        wait_for("agent %s ready" % self.name,
                 lambda: self.check() and self.text().count("ready: roles") > before, 90)

    def check(self):
        if self.proc is None or self.proc.poll() is not None:
            raise Fail("agent %s exited by itself (rc %s); log tail:\n%s" % (
                self.name, self.proc and self.proc.returncode, self.text()[-3000:]))
        return True

    def signal(self, sig):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def kill(self):
        self.signal(signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None

    def stop(self, timeout=60):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise Fail("agent %s did not stop within %d s of SIGTERM" % (self.name, timeout))
        self.proc = None


# ---------------------------------------------------------------- the fault schedule

KINDS = [("agent-kill", 3), ("agent-stop", 2), ("broker-kill", 1), ("pg-restart", 1),
         ("smtp-refuse", 1), ("smtp-421", 1), ("smtp-451", 1), ("smtp-stall", 1),
         ("toxic-latency", 2), ("toxic-reset_peer", 2), ("toxic-timeout", 2),
         ("toxic-bandwidth", 1)]


def schedule(seed, steps):
    """[(step, kind, params)]: about one fault every 3 steps, none in the first 2 steps or
    the last 2 (the path's start and end are observed calmly too). The first faults are every
    kind once, in a seeded order, so a run of 40 steps or more covers them all; the rest are
    drawn by weight."""
    rng = random.Random("faults-%d" % seed)
    total = sum(w for _, w in KINDS)
    first = [k for k, _ in KINDS]
    for i in range(len(first) - 1, 0, -1):          # Fisher-Yates on .random() only
        j = int(rng.random() * (i + 1))
        first[i], first[j] = first[j], first[i]
    out = []
    for k in range(2, max(2, steps - 2)):
        if rng.random() >= 0.34:
            continue
        if first:
            kind = first.pop(0)
        else:
            r, kind = rng.random() * total, KINDS[-1][0]
            for name, w in KINDS:
                if r < w:
                    kind = name
                    break
                r -= w
        p = {"agent": "ab"[int(rng.random() * 2)], "secs": round(1 + 7 * rng.random(), 1),
             "broker": 1 + int(rng.random() * 3),
             "proxy": ["kafka1", "kafka2", "kafka3", "kafka", "pg", "smtp"][int(rng.random() * 6)],
             "stream": "upstream" if rng.random() < 0.5 else "downstream",
             "latency": 200 + int(rng.random() * 1800), "rate": 2 + int(rng.random() * 30),
             "reset_after": int(rng.random() * 500)}
        # Some faults are held longer than the agents' bounds on purpose: a SIGSTOP past
        # session.timeout.ms (10 s) evicts the member in the middle of its batch; a 421/451
        # window past the notifier's retries must defer, not drop.
        if kind == "agent-stop":
            p["secs"] = round(1 + 19 * rng.random(), 1)
        elif kind in ("smtp-421", "smtp-451"):
            p["secs"] = round(3 + 22 * rng.random(), 1)
        out.append((k, kind, p))
    return out


class Faults:
    """Runs the schedule's faults one at a time on a worker thread: inject, hold, heal."""

    def __init__(self, env, agents):
        self.env, self.agents = env, agents
        self.api = env["TW_TOXIPROXY_URL"]
        self.queue, self.cv = [], threading.Condition()
        self.done = Counter()
        self.errors = []
        self.lock_agents = threading.Lock()   # agent restarts vs the main thread's checks
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.closing = False
        self.busy = False
        self.thread.start()

    def add(self, step, kind, p):
        with self.cv:
            self.queue.append((step, kind, p))
            self.cv.notify()

    def run(self):
        while True:
            with self.cv:
                while not self.queue and not self.closing:
                    self.cv.wait()
                if not self.queue:
                    return
                step, kind, p = self.queue.pop(0)
                self.busy = True
            try:
                self.one(step, kind, p)
                self.done[kind] += 1
            except Exception as e:  # noqa: BLE001  (reported, the run fails)
                self.errors.append("step %d %s: %s" % (step, kind, e))
                log("fault %s at step %d FAILED: %s" % (kind, step, e))
            finally:
                self.busy = False

    def close(self):
        with self.cv:
            self.closing = True
            self.cv.notify()
        self.thread.join(900)

    def toxi(self, method, path, body=None):
        return http(self.api + path, None if body is None else json.dumps(body), method)

    def one(self, step, kind, p):
        secs = p["secs"]
        a = self.agents[p["agent"]]
        log("fault at step %d: %s %s" % (step, kind, {k: v for k, v in p.items() if k in
                                                      _USED.get(kind, ())}))
        if kind == "agent-kill":
            with self.lock_agents:
                a.kill()
            time.sleep(min(secs, 3))
            with self.lock_agents:
                a.start()
        elif kind == "agent-stop":
            a.signal(signal.SIGSTOP)
            time.sleep(secs)
            a.signal(signal.SIGCONT)
        elif kind == "broker-kill":
            stack("kafka-kill", str(p["broker"]))
            time.sleep(secs)
            stack("kafka-start", str(p["broker"]))
        elif kind == "pg-restart":
            pg_restart(self.env)
        elif kind.startswith("smtp-"):
            stack("smtp-mode", kind[5:])
            time.sleep(secs)
            stack("smtp-mode", "normal")
        elif kind.startswith("toxic-"):
            t = kind[6:]
            proxies = ["kafka1", "kafka2", "kafka3"] if p["proxy"] == "kafka" else [p["proxy"]]
            attrs = {"latency": {"latency": p["latency"], "jitter": p["latency"] // 4},
                     "reset_peer": {"timeout": p["reset_after"]},
                     "timeout": {"timeout": 0},
                     "bandwidth": {"rate": p["rate"]}}[t]
            for px in proxies:
                self.toxi("POST", "/proxies/%s/toxics" % px,
                          {"name": "chaos", "type": t, "stream": p["stream"], "attributes": attrs})
            time.sleep(secs)
            for px in proxies:
                self.toxi("DELETE", "/proxies/%s/toxics/chaos" % px)
        else:
            raise Fail("unknown fault kind %s" % kind)


_USED = {"agent-kill": ("agent", "secs"), "agent-stop": ("agent", "secs"),
         "broker-kill": ("broker", "secs"), "pg-restart": (),
         "smtp-refuse": ("secs",), "smtp-421": ("secs",), "smtp-451": ("secs",),
         "smtp-stall": ("secs",), "toxic-latency": ("proxy", "stream", "latency", "secs"),
         "toxic-reset_peer": ("proxy", "stream", "reset_after", "secs"),
         "toxic-timeout": ("proxy", "stream", "secs"),
         "toxic-bandwidth": ("proxy", "stream", "rate", "secs")}


def pg_restart(env):
    """Fast shutdown of the stack's PostgreSQL (SIGINT to its postmaster) and a start again
    (scripts/stack.sh up starts what is missing)."""
    with open(os.path.join(env["TW_STACK_DIR"], "pids", "postgres")) as f:
        pid = int(f.read().split()[0])
    os.kill(pid, signal.SIGINT)
    end = time.monotonic() + 60
    while os.path.exists("/proc/%d" % pid) and time.monotonic() < end:
        try:
            with open("/proc/%d/status" % pid) as f:
                if "\nState:\tZ" in f.read():
                    break
        except OSError:
            break
        time.sleep(0.1)
    stack("up")


# ---------------------------------------------------------------- the run

class Run:
    def __init__(self, args, env):
        self.args, self.env = args, env
        self.tag = "c%d%d" % (os.getpid(), int(time.time()) % 100000)
        self.work = tempfile.mkdtemp(prefix="tw-chaos.")
        self.steps = args.steps or max(8, int(round(args.minutes * STEPS_PER_MINUTE)))
        self.sc = oracle.scenario(args.seed, self.steps, tickers=args.tickers,
                                  users_per_ticker=args.users_per_ticker, tag=self.tag)
        self.start_time = (int(time.time()) // 60) * 60 - 2 * 86400
        self.faults_planned = schedule(args.seed, self.steps)
        self.dbname = "tw_chaos_%s" % self.tag
        self.kafka = env["TW_KAFKA_BOOTSTRAP"]
        self.agents = {}
        self.faults = None
        self.step_secs = []

    # -- set-up
    def prepare(self):
        e = self.env
        http(e["TW_TOXIPROXY_URL"] + "/reset", "", "POST")
        stack("smtp-mode", "normal")
        # Every Kafka connection of the agents must go through Toxiproxy: metadata asked
        # through the proxies has to name the proxies (the brokers' TOXI listener).
        r = subprocess.run(["kcat", "-b", e["TW_TOXI_KAFKA_BOOTSTRAP"], "-L", "-J", "-m", "10"],
                           capture_output=True, text=True, timeout=30)
        named = sorted("%s:%s" % (b["name"].split(":")[0], b["name"].split(":")[1].split("/")[0])
                       for b in json.loads(r.stdout or "{}").get("brokers", []))
        if named != sorted(e["TW_TOXI_KAFKA_BOOTSTRAP"].split(",")):
            raise Fail("brokers seen through Toxiproxy advertise %s, not the proxies %s "
                       "(the stack predates scripts/stack/toxiproxy.sh? restart it)"
                       % (named, e["TW_TOXI_KAFKA_BOOTSTRAP"]))
        path = os.path.join(self.work, "scenario.json")
        with open(path, "w") as f:
            json.dump({"start_time": self.start_time, "step_seconds": oracle.STEP_SECONDS,
                       "tickers": {t: {"prices": p, "currency": oracle.CURRENCY,
                                       "exchange": oracle.EXCHANGE}
                                   for t, p in self.sc["tickers"].items()}}, f)
        stack("quotes-reset")
        stack("quotes-scenario", path)
        self.url = make_db(e["TW_DB_URL"], self.dbname)
        r = subprocess.run([self.args.binary, "db", "migrate"],
                           env=dict(os.environ, TICKWATCH_DB_WRITE_URL=self.url),
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise Fail("tickwatch db migrate: %s %s" % (r.stdout, r.stderr))
        rows = "".join("%s\t%s\t%s\t%s\n" % (m, t, "\\N" if h is None else h,
                                             "\\N" if lo is None else lo)
                       for m, t, h, lo in self.sc["users"])
        sql(self.url, "COPY users (email, ticker, high, low) FROM STDIN", stdin=rows)
        # Leftovers of other suites on the shared groups would be mailed by our notifiers:
        # move both groups past them first (nothing of this run is on the topics yet). Read
        # from the beginning where a group never committed (a partition added later), as the
        # agents would: kcat's default (the end) commits nothing there.
        for group, topic in (("tickwatch-alert", "to-alert-system"),
                             ("tickwatch-notifier", "to-notifier")):
            if kafkaq.partitions(self.kafka, topic):
                r = subprocess.run(["kcat", "-b", self.kafka, "-G", group, "-e", "-q", "-X",
                                    "enable.auto.commit=true", "-X",
                                    "auto.commit.interval.ms=200", "-X",
                                    "auto.offset.reset=beginning", "-f", "", topic],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   text=True, timeout=300)
                if r.returncode != 0:
                    raise Fail("kcat could not move %s to the end of %s: %s"
                               % (group, topic, r.stderr[-300:]))
        toxi_db = self.url.replace(":%s/" % e["TW_DB_PORT"], ":%s/" % e["TW_TOXI_DB_PORT"])
        if toxi_db == self.url:
            raise Fail("cannot point %s at the PostgreSQL proxy" % self.url)
        for n in "ab":
            self.agents[n] = Agent(self.args.binary, e, self.work, "chaos-%s-%s" % (n, self.tag),
                                   toxi_db)
        self.offsets = Offsets(self.kafka)

    def alive(self):
        if self.faults is None:
            return
        with self.faults.lock_agents:
            for a in self.agents.values():
                if a.proc is not None:
                    a.check()

    # -- stepping
    def stored(self, k):
        at = oracle.quote_time(self.start_time, k)
        rows = sql(self.url, "SELECT count(DISTINCT ticker) FROM quotes WHERE at = "
                   "to_timestamp(%d)" % at)
        return int(rows[0][0]) == len(self.sc["tickers"])

    def topic_end(self, topic):
        parts = kafkaq.partitions(self.kafka, topic)
        return self.offsets.end(topic, parts) if parts else None

    def wake(self, k):
        r = subprocess.run(["kcat", "-P", "-b", self.kafka, "-t", "to-alert-system", "-k",
                            "chaos", "-X", "acks=all"], input='{"chaos_step":%d}\n' % k,
                           capture_output=True, text=True, timeout=60)
        return r.returncode == 0

    def step(self, k):
        t0 = time.monotonic()
        if k > 0:
            stack("quotes-step", str(k))
        wait_for("step %d: every quote stored" % k, lambda: self.stored(k), STEP_TIMEOUT,
                 alive=self.alive)
        # A wake-up of our own, produced after every quote of step k is stored (a collector
        # wakes the alert side only for a cycle that stored something new, and may have
        # done so before the last ticker of the step was in): the pass that takes it
        # started after the store.
        wait_for("step %d: to-alert-system exists" % k,
                 lambda: self.topic_end("to-alert-system"), STEP_TIMEOUT, alive=self.alive)
        wait_for("step %d: the harness's wake-up produced" % k, lambda: self.wake(k),
                 STEP_TIMEOUT, alive=self.alive)
        later = wait_for("step %d: to-alert-system's end offsets" % k,
                         lambda: self.topic_end("to-alert-system"), STEP_TIMEOUT,
                         alive=self.alive)
        parts = sorted(later)
        wait_for("step %d: tickwatch-alert committed past it" % k,
                 lambda: all(later[p] == 0 or v >= later[p] for p, v in self.offsets.committed(
                     "tickwatch-alert", "to-alert-system", parts).items()),
                 STEP_TIMEOUT, alive=self.alive)
        self.step_secs.append(time.monotonic() - t0)

    def drained(self):
        for g, topic in (("tickwatch-alert", "to-alert-system"),
                         ("tickwatch-notifier", "to-notifier")):
            parts = kafkaq.partitions(self.kafka, topic)
            ok, end, com = self.offsets.caught_up(g, topic, parts)
            if not ok:
                return False
        rows = sql(self.url, "SELECT count(*) FROM sent_notifications WHERE state = 'sending'")
        if int(rows[0][0]) != 0:
            return False
        # and the retry schedule re-drove every deferred e-mail (sent, or dropped by its rules)
        rows = sql(self.url, "SELECT count(*) FROM notify_retry")
        return int(rows[0][0]) == 0

    def logs(self):
        return {a.name: a.text() for a in self.agents.values()}

    def go(self):
        t_start = time.monotonic()
        log("seed %d: %d steps, %d users on %d tickers, %d faults planned; work %s" % (
            self.args.seed, self.steps, len(self.sc["users"]), len(self.sc["tickers"]),
            len(self.faults_planned), self.work))
        self.expected = oracle.expected(self.sc, self.start_time)
        log("the oracle expects %d e-mails" % len(self.expected))
        self.agents["a"].start()
        self.agents["b"].start()
        self.faults = Faults(self.env, self.agents)
        plan = {}
        for k, kind, p in self.faults_planned:
            plan.setdefault(k, []).append((kind, p))
        for k in range(self.steps):
            self.step(k)
            for kind, p in plan.get(k, []):
                self.faults.add(k, kind, p)
            if k % 10 == 0:
                log("step %d of %d done (%d e-mail files so far)" % (
                    k, self.steps, len(audit.read_mails(self.env["TW_MAIL_DIR"], self.tag))))
        log("last step observed; healing the remaining faults")
        self.faults.close()
        http(self.env["TW_TOXIPROXY_URL"] + "/reset", "", "POST")
        stack("smtp-mode", "normal")
        wait_for("end: both groups committed to the end, no `sending` row",
                 self.drained, DRAIN_TIMEOUT, every=1, alive=self.alive)
        amb = audit.ambiguous(self.logs())
        # Deferred e-mails (a persisted retry schedule) may still be due: wait, bounded, for
        # nothing to be lost.
        try:
            wait_for("end: every expected e-mail delivered", lambda: not audit.audit(
                self.expected, audit.read_mails(self.env["TW_MAIL_DIR"], self.tag),
                audit.ambiguous(self.logs()))["lost"], 120, every=2, alive=self.alive)
        except Fail:
            pass
        for a in self.agents.values():
            a.stop()
        amb = audit.ambiguous(self.logs())
        rep = audit.audit(self.expected, audit.read_mails(self.env["TW_MAIL_DIR"], self.tag), amb,
                          audit.deferred(self.logs()))
        self.report(rep, time.monotonic() - t_start)
        return rep["ok"] and not self.faults.errors

    def report(self, rep, secs):
        dead = quiet(lambda: sql(self.url, "SELECT email, coalesce(reason, '') FROM "
                                 "dead_letters")) or []
        print("==== chaos summary: seed %d, %d steps, %d users, %d tickers, %.0f s (steps: "
              "median %.1f s, longest %.1f s)" % (
                  self.args.seed, self.steps, len(self.sc["users"]), len(self.sc["tickers"]),
                  secs, sorted(self.step_secs)[len(self.step_secs) // 2] if self.step_secs else 0,
                  max(self.step_secs or [0])))
        print("faults injected: %d (%s)" % (sum(self.faults.done.values()), ", ".join(
            "%s %d" % kv for kv in sorted(self.faults.done.items()))))
        for e in self.faults.errors:
            print("  fault error: %s" % e)
        nsec = sum(n - 1 for _, n, _, _, _ in rep["second_copies"])
        print("e-mails: expected %d, delivered %d (%d files), lost %d, second copies %d, "
              "unexplained duplicates %d, unexpected %d" % (
                  rep["expected"], rep["delivered"], rep["files"], len(rep["lost"]), nsec,
                  len(rep["unexplained_duplicates"]), len(rep["unexpected"])))
        print("deferred into the retry schedule: %d, delivered later %d, not delivered %d" % (
            rep.get("deferred", 0), len(rep.get("deferred_delivered", [])),
            len(rep.get("deferred_missing", []))))
        for nid in rep.get("deferred_missing", [])[:10]:
            print("  deferred, never delivered: %s" % nid)
        for mid, n, rcpt, subj, why in rep["second_copies"]:
            print("  second copy: %s x%d to %s (%s); window: %s" % (
                mid, n, rcpt, subj, "; ".join("%s at %s: %s" % (a, w, r[:80])
                                              for a, w, _, r in why)))
        for mid, n, rcpt, subj, _ in rep["unexplained_duplicates"][:20]:
            print("  UNEXPLAINED DUPLICATE: %s x%d to %s (%s), no agent logged it as "
                  "ambiguous" % (mid, n, rcpt, subj))
        for rcpt, subj, body in rep["lost"][:20]:
            print("  LOST: %s %r %r" % (rcpt, subj, body[:60]))
        if len(rep["lost"]) > 20:
            print("  ... %d more lost" % (len(rep["lost"]) - 20))
        for rcpt, subj, body in rep["unexpected"][:20]:
            print("  UNEXPECTED: %s %r %r" % (rcpt, subj, body[:60]))
        for mid in rep["mismatched_copies"][:10]:
            print("  COPIES DIFFER: %s" % mid)
        for mid in rep["bad_message_ids"][:10]:
            print("  BAD MESSAGE-ID: %r" % mid)
        if dead:
            print("dead letters: %d, e.g. %s" % (len(dead), dead[:3]))
        print("RESULT: %s" % ("pass" if rep["ok"] and not self.faults.errors else "FAIL"))

    def close(self, ok):
        for a in self.agents.values():
            try:
                a.stop()
            except Fail as e:
                print("warning: %s" % e)
        try:
            http(self.env["TW_TOXIPROXY_URL"] + "/reset", "", "POST")
            stack("smtp-mode", "normal")
            stack("quotes-reset")
            if self.env.get("TW_QUOTES_SCENARIO"):     # the stack's own scenario back
                stack("quotes-scenario", self.env["TW_QUOTES_SCENARIO"])
        except Exception as e:  # noqa: BLE001
            print("warning: could not reset the stack's fault switches: %s" % e)
        if ok and not self.args.keep:
            shutil.rmtree(self.work, ignore_errors=True)
            quiet(lambda: drop_db(self.env["TW_DB_URL"], self.dbname))
        else:
            print("kept %s (agent logs, configs, scenario) and database %s" % (self.work,
                                                                            self.dbname))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", required=True)
    ap.add_argument("--minutes", type=float, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--steps", type=int, default=0, help="steps (default: 16 per minute)")
    ap.add_argument("--tickers", type=int, default=16)
    ap.add_argument("--users-per-ticker", type=int, default=13)
    ap.add_argument("--keep", action="store_true", help="keep the work folder and database")
    args = ap.parse_args()
    args.binary = os.path.abspath(args.binary)
    try:
        env = twlib.stack_env(need=("TW_DB_URL", "TW_KAFKA_BOOTSTRAP", "TW_MAIL_DIR",
                                    "TW_TOXIPROXY_URL", "TW_TOXI_KAFKA_BOOTSTRAP",
                                    "TW_QUOTES_BASE"))
        env["TW_STACK_DIR"] = env.get("TW_STACK_DIR") or os.environ.get("TW_STACK_DIR", "")
        http(env["TW_TOXIPROXY_URL"] + "/version")
    except Exception as e:  # noqa: BLE001
        print("chaos: the stack (with Toxiproxy) is not up: %s" % e)
        return 2
    run = Run(args, env)
    ok = False
    try:
        run.prepare()
        ok = run.go()
    except Fail as e:
        print("FAIL chaos: %s" % e)
        try:
            run.report(audit.audit(getattr(run, "expected", []), audit.read_mails(
                env["TW_MAIL_DIR"], run.tag), audit.ambiguous(run.logs())), 0)
        except Exception as e2:  # noqa: BLE001
            print("(no summary: %s)" % e2)
        for a in run.agents.values():
            print("---- %s log tail\n%s" % (a.name, a.text()[-2500:]))
        ok = False
    finally:
        run.close(ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
