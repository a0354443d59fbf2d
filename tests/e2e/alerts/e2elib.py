# SPDX-License-Identifier: MIT
"""e2elib.py - helpers of the alert end-to-end suite, the demo and bench/alert: agents run from
the real binary with a replay: scenario, the SMTP server's mail folder, the stack's fault
switches and Kafka (end and committed offsets: tests/chaos/kafkaq.py). What the Python suites share (the stack's environment, psql, a private
database, Fail/check) is tests/lib/twlib.py, re-exported here. Standard library only."""
import email.parser
import email.policy
import glob
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lib"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "chaos"))
import kafkaq  # noqa: E402  (tests/chaos/kafkaq.py: end and committed offsets)
import twlib  # noqa: E402
from twlib import STACK, Fail, check, drop_db, free_port, make_db  # noqa: E402

__all__ = ["STACK", "Agent", "Fail", "Mail", "caught_up", "check", "consumer_group_to_end",
           "drop_db", "end_offsets", "free_port", "make_db", "migrate", "phases", "sql", "stack",
           "stack_env", "topic_messages", "wait_for", "wake", "write_replay"]


def stack_env():
    """The stack's TW_* variables; fails (never skips) when the stack is not up, its Kafka
    cluster has not 3 brokers or the SMTP server's mail folder is missing."""
    env = twlib.stack_env(need=("TW_DB_URL", "TW_KAFKA_BOOTSTRAP", "TW_MAIL_DIR", "TW_SMTP_CONTROL"))
    r = subprocess.run(["kcat", "-b", env["TW_KAFKA_BOOTSTRAP"], "-L", "-m", "10"],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0 or "3 brokers" not in r.stdout:
        raise Fail("the stack's Kafka cluster does not have 3 brokers up: %s%s"
                   % (r.stdout[:300], r.stderr[:300]))
    check(os.path.isdir(env["TW_MAIL_DIR"]), "mail folder %s missing" % env["TW_MAIL_DIR"])
    return env


def stack(*args, timeout=180):
    r = subprocess.run([STACK] + list(args), capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise Fail("scripts/stack.sh %s failed: %s %s" % (" ".join(args), r.stdout, r.stderr))
    return r.stdout


def sql(url, query, stdin=None):
    """Rows of @query, sent as one psql -c command (@stdin: the data of a COPY ... FROM STDIN);
    up to 600 s, for the bench's large loads."""
    return twlib.sql(url, query, stdin=stdin, command=True, timeout=600)


def migrate(binary, url):
    r = subprocess.run([binary, "db", "migrate"], env=dict(os.environ, TICKWATCH_DB_WRITE_URL=url),
                       capture_output=True, text=True, timeout=120)
    check(r.returncode == 0, "tickwatch db migrate: %s %s" % (r.stdout, r.stderr))


def wait_for(what, fn, timeout, every=0.2):
    """Poll fn() until it returns a true value; Fail naming @what after @timeout seconds."""
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > end:
            raise Fail("timed out after %ds waiting for %s" % (timeout, what))
        time.sleep(every)


def write_replay(path, steps, t0=None, extra=None):
    """steps: list of {ticker: price}; one step per collector cycle, in increasing time.
    @extra: {ticker: "prev=... currency=... exchange=..."}, appended to that ticker's lines
    (docs/quotes.md, the replay format's optional fields)."""
    t0 = t0 or int(time.time()) - 86400
    extra = extra or {}
    with open(path, "w") as f:
        f.write("# replay scenario written by e2elib.py\n")
        for i, step in enumerate(steps):
            for t, p in sorted(step.items()):
                f.write("%d %s %s%s\n" % (t0 + i * 60, t, repr(float(p)),
                                           (" " + extra[t]) if t in extra else ""))
    return path


def phases(*spec):
    """[(n_steps, {ticker: price}), ...] -> a flat step list (each phase held n steps)."""
    out = []
    for n, prices in spec:
        out += [dict(prices)] * n
    return out


class Agent:
    """One tickwatch process: its own config file, log file and roles."""

    def __init__(self, binary, env, work, name, url, roles, replay=None, extra="",
                 console=False):
        """@console: the agent's console on a pipe (commands with console()), its output
        in the log; otherwise --console none."""
        self.binary, self.env, self.work, self.name = binary, env, work, name
        self.console_on = console
        self.url, self.roles, self.replay = url, roles, replay
        self.port = free_port()
        self.conf = os.path.join(work, name + ".conf")
        self.log = os.path.join(work, name + ".log")
        self.proc = None
        with open(self.conf, "w") as f:
            f.write("""[agent]
name = %(name)s
log_level = info
[kafka]
bootstrap = %(kafka)s
[db]
write_url = %(url)s
[smtp]
host = %(smtp_host)s
port = %(smtp_port)s
mode = starttls
user = %(smtp_user)s
password = %(smtp_pass)s
ca_file = %(ca)s
from = alerts@tickwatch.test
[quotes]
source = %(source)s
interval = 1s
[rpc]
listen = 127.0.0.1:%(port)d
%(extra)s
""" % dict(name=name, kafka=env["TW_KAFKA_BOOTSTRAP"], url=url, smtp_host=env["TW_SMTP_HOST"],
                smtp_port=env["TW_SMTP_PORT_STARTTLS"], smtp_user=env["TW_SMTP_USER"],
                smtp_pass=env["TW_SMTP_PASSWORD"], ca=env["TW_CA_FILE"],
                source=("replay:" + replay) if replay else "yahoo", port=self.port, extra=extra))
        os.chmod(self.conf, 0o600)

    def start(self):
        self.logf = open(self.log, "a")
        self.proc = subprocess.Popen([self.binary, "run", "--config", self.conf, "--roles",
                                      self.roles, "--console",
                                      "-" if self.console_on else "none"], stdout=self.logf,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.PIPE if self.console_on else
                                     subprocess.DEVNULL)
        wait_for("agent %s ready" % self.name,
                 lambda: self.alive() and "ready: roles" in self.text(), 60)
        return self

    def alive(self):
        if self.proc is None or self.proc.poll() is not None:
            raise Fail("agent %s exited (rc %s); log tail:\n%s"
                       % (self.name, self.proc and self.proc.returncode, self.text()[-3000:]))
        return True

    def text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def count(self, needle):
        return self.text().count(needle)

    def console(self, command, answer, timeout=30):
        """Type @command on the console; the first line matching the regex @answer (a
        compiled pattern) that the agent writes after it."""
        check(self.console_on, "agent %s has no console" % self.name)
        before = len(answer.findall(self.text()))
        self.proc.stdin.write((command + "\n").encode())
        self.proc.stdin.flush()
        return wait_for("%s's answer to %r" % (self.name, command),
                        lambda: self.alive() and len(answer.findall(self.text())) > before
                        and answer.findall(self.text())[before], timeout)

    def cpu_seconds(self):
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_kb(self, peak=False):
        key = "VmHWM:" if peak else "VmRSS:"
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
        return 0

    def stop(self, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise Fail("agent %s did not stop within %ds of SIGTERM" % (self.name, timeout))
        self.proc = None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def ctl(self, *args):
        r = subprocess.run([self.binary, "ctl", "--connect", "127.0.0.1:%d" % self.port] +
                           list(args), capture_output=True, text=True, timeout=60)
        check(r.returncode == 0, "tickwatch ctl %s: rc %d %s %s"
              % (" ".join(args), r.returncode, r.stdout, r.stderr))
        return r.stdout


def wake(env, n=1):
    """Produce @n wake-ups on to-alert-system, as the collector does."""
    data = "".join('{"probe":%d}\n' % i for i in range(n))
    r = subprocess.run(["kcat", "-P", "-b", env["TW_KAFKA_BOOTSTRAP"], "-t", "to-alert-system",
                        "-k", "e2e"], input=data, capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, "kcat produce to to-alert-system: %s" % r.stderr)


class Mail:
    """The e-mails of this run in the SMTP server's folder (recipients containing @tag)."""

    def __init__(self, folder, tag):
        self.folder, self.tag, self.seen = folder, tag.lower(), {}

    def scan(self):
        parser = email.parser.BytesParser(policy=email.policy.default)
        for path in glob.glob(os.path.join(self.folder, "*.eml")):
            if path in self.seen:
                continue
            try:
                with open(path, "rb") as f:
                    raw = f.read()
            except OSError:
                continue
            if self.tag.encode() not in raw.lower():
                self.seen[path] = None
                continue
            m = parser.parsebytes(raw)
            rcpt = (m.get("X-Stack-Rcpt-To") or "").strip().strip("<>").lower()
            body = m.get_body(preferencelist=("plain",))
            self.seen[path] = {
                "rcpt": rcpt, "to": str(m.get("To") or ""), "subject": str(m.get("Subject") or ""),
                "message_id": str(m.get("Message-ID") or "").strip(),
                "body": body.get_content() if body is not None else "", "file": path}
        return [v for v in self.seen.values() if v]

    def for_rcpt(self, rcpt):
        return [m for m in self.scan() if m["rcpt"] == rcpt.lower()]


def caught_up(env, group, topic, at_least=None):
    """True when @group has committed up to the end offset of every partition of @topic
    (read straight from the brokers; False on a transient error or a missing topic); with
    @at_least ({partition: offset}), up to those offsets instead."""
    try:
        parts = kafkaq.partitions(env["TW_KAFKA_BOOTSTRAP"], topic)
        if not parts:
            return False
        c = kafkaq.Client(env["TW_KAFKA_BOOTSTRAP"], group)
        try:
            if at_least is not None:
                com = c.committed(topic, parts)
                return all(v == 0 or com.get(p, -1) >= v for p, v in at_least.items())
            return c.caught_up(topic, parts)[0]
        finally:
            c.close()
    except (kafkaq.KafkaError, subprocess.TimeoutExpired):
        return False


def topic_messages(env, topic, start):
    """The messages of @topic after the offsets @start ({partition: offset}, from
    end_offsets), as dicts with partition, offset, key and payload (kcat -J)."""
    import json
    out = []
    for p, off in sorted(start.items()):
        r = subprocess.run(["kcat", "-C", "-b", env["TW_KAFKA_BOOTSTRAP"], "-t", topic, "-p",
                            str(p), "-o", str(off), "-e", "-q", "-J"], capture_output=True,
                           text=True, timeout=60)
        check(r.returncode == 0, "kcat -C %s/%d: %s" % (topic, p, r.stderr[-300:]))
        for line in r.stdout.splitlines():
            if line.strip():
                m = json.loads(line)
                out.append({"partition": m["partition"], "offset": m["offset"],
                            "key": m.get("key"), "payload": m.get("payload")})
    return out


def end_offsets(env, topic):
    """{partition: end offset} of @topic."""
    parts = kafkaq.partitions(env["TW_KAFKA_BOOTSTRAP"], topic)
    check(parts, "topic %s does not exist" % topic)
    c = kafkaq.Client(env["TW_KAFKA_BOOTSTRAP"], "tickwatch-tests-reader")
    try:
        return c.end_offsets(topic, parts)
    finally:
        c.close()


def consumer_group_to_end(env, group, topic):
    """Move @group past everything on @topic (used after a bench that nobody should mail):
    consume to the end as a member of the group and commit (kcat -G ... -e). Where the group
    never committed (a partition added later) it reads from the beginning, as the agents would:
    kcat's default, the end, would commit nothing there and leave the backlog for the agents."""
    try:
        r = subprocess.run(["kcat", "-b", env["TW_KAFKA_BOOTSTRAP"], "-G", group, "-e", "-q",
                            "-X", "enable.auto.commit=true", "-X", "auto.commit.interval.ms=200",
                            "-X", "auto.offset.reset=beginning", "-f", "", topic], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return False, "kcat did not reach the end of %s within 600 s" % topic
    return r.returncode == 0, r.stderr
