#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test_console_pty.py - `tickwatch run --console DEV --baud 115200` over a real pty pair: many
# commands in a row, outputs bigger than the tty buffer, input typed a byte at a time, a hang-up
# (the master closed, as an unplugged adapter) and the reopen of a new device at the same path,
# then `quit` answered and exit 0. Also: a terminal on stdin shares its open file description
# with stderr, and the agent must not make that description non-blocking.
# Usage: test_console_pty.py path/to/tickwatch. No services needed (roles retry quietly).
import fcntl
import os
import select
import subprocess
import sys
import tempfile
import termios
import time
import tty

BIN = sys.argv[1]
WAIT = 30  # bound on every wait, never an assertion on speed
failures = 0


def ok(msg):
    print("ok - " + msg, flush=True)


def fail(msg):
    global failures
    failures += 1
    print("FAIL: " + msg, file=sys.stderr, flush=True)


def new_pty(baud=termios.B115200):
    master, slave = os.openpty()
    tty.setraw(master)
    attrs = termios.tcgetattr(slave)
    attrs[4] = attrs[5] = baud
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    name = os.ttyname(slave)
    os.close(slave)  # the pts stays while the master is open
    return master, name


def point(link, target):
    tmp = link + ".new"
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(target, tmp)
    os.replace(tmp, link)


class Reader:
    def __init__(self, fd):
        self.fd = fd
        self.buf = b""

    def pump(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if r:
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                return False
            self.buf += data
            return bool(data)
        return False

    def until(self, needle, count=1):
        deadline = time.monotonic() + WAIT
        while self.buf.count(needle) < count and time.monotonic() < deadline:
            self.pump(0.2)
        return self.buf.count(needle) >= count


def wait_file(path, needle):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        with open(path, "rb") as f:
            if needle in f.read():
                return True
        time.sleep(0.1)
    return False


def send(fd, text):
    data = text.encode()
    while data:
        _, w, _ = select.select([], [fd], [], WAIT)
        if not w:
            raise RuntimeError("pty master not writable")
        n = os.write(fd, data)
        data = data[n:]


work = tempfile.mkdtemp(prefix="tw-console-")
link = os.path.join(work, "ttyTW0")
master, name = new_pty()
point(link, name)
log_path = os.path.join(work, "agent.log")
env = {k: v for k, v in os.environ.items() if not k.startswith("TICKWATCH_")}
env["TICKWATCH_AGENT_LOG_LEVEL"] = "info"
with open(log_path, "wb") as log:
    agent = subprocess.Popen([BIN, "run", "--console", link, "--baud", "115200"],
                             stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
try:
    if not wait_file(log_path, b"ready"):
        raise SystemExit("FAIL: the agent did not reach ready:\n" + open(log_path).read())
    rd = Reader(master)

    # 1. many commands in a row, in one write
    n = 40
    send(master, "".join("status\nnosuch%d\n" % i for i in range(n)))
    if rd.until(b"unknown command 'nosuch%d'" % (n - 1)) and rd.buf.count(b"loop: ") >= n:
        ok("%d commands in a row all answered" % (2 * n))
    else:
        fail("commands in a row: %d status answers, last: %r" % (rd.buf.count(b"loop: "), rd.buf[-300:]))

    # 2. outputs bigger than the tty buffer, with the reader away meanwhile
    rd.buf = b""
    send(master, "config show\nconfig show\nconfig show\nhelp\nhelp\nhelp\nnosuch-end1\n")
    time.sleep(1)  # let the tty buffer fill: the agent must wait for room, not drop
    if rd.until(b"unknown command 'nosuch-end1'"):
        shows = rd.buf.count(b"agent.roles = ")
        helps = rd.buf.count(b"config set KEY VALUE")
        if shows == 3 and helps == 3 and len(rd.buf) > 8192:
            ok("long outputs (%d bytes) came through whole" % len(rd.buf))
        else:
            fail("long outputs: %d config show, %d help in %d bytes" % (shows, helps, len(rd.buf)))
    else:
        fail("long outputs not finished: %r" % rd.buf[-300:])
    rd.buf = b""
    send(master, "log 200\nnosuch-end2\n")
    if rd.until(b"unknown command 'nosuch-end2'") and rd.buf.count(b"[agent]") > 3:
        ok("log 200 answered")
    else:
        fail("log 200: %r" % rd.buf[-300:])

    # 3. input typed a byte at a time, with a CR as a terminal's Enter
    rd.buf = b""
    for ch in "nosuch-typed\r":
        send(master, ch)
        time.sleep(0.02)
        rd.pump(0)
    if rd.until(b"unknown command 'nosuch-typed'"):
        ok("input typed a byte at a time")
    else:
        fail("byte-at-a-time input not answered: %r" % rd.buf[-200:])

    # 4. hang-up: the master goes away (adapter unplugged); a new device appears at the path
    os.close(master)
    if wait_file(log_path, b"hung up"):
        ok("the hang-up is seen")
    else:
        fail("no hang-up logged")
    master, name = new_pty()
    point(link, name)
    if wait_file(log_path, b"reopened"):
        ok("the console reopened the device")
    else:
        fail("the console did not reopen the device")
    rd = Reader(master)
    send(master, "status\n")
    if rd.until(b"loop: "):
        ok("commands answered after the reopen")
    else:
        fail("no answer after the reopen: %r" % rd.buf[-200:])

    # 5. quit answered, exit 0
    send(master, "quit\n")
    if rd.until(b"bye"):
        ok("quit answered")
    else:
        fail("quit not answered")
    try:
        rc = agent.wait(WAIT)
        if rc == 0:
            ok("the agent exited 0")
        else:
            fail("the agent exited %d" % rc)
    except subprocess.TimeoutExpired:
        fail("the agent ignored quit")
finally:
    if agent.poll() is None:
        agent.kill()
        agent.wait()

# 6. a terminal on stdin: its description (shared with stderr) must stay blocking
master2, slave2 = os.openpty()
with open(os.path.join(work, "agent2.log"), "wb"):
    pass
agent = subprocess.Popen([BIN, "run", "--console", "-"], stdin=slave2, stdout=slave2,
                         stderr=slave2, env=env)
try:
    rd = Reader(master2)
    if not rd.until(b"ready"):
        fail("agent on a tty stdin did not reach ready: %r" % rd.buf[-300:])
    flags = fcntl.fcntl(slave2, fcntl.F_GETFL)  # the same open file description as the agent's
    if flags & os.O_NONBLOCK:
        fail("O_NONBLOCK was set on the terminal's shared description (stderr too)")
    else:
        ok("the terminal's shared description stays blocking")
    send(master2, "nosuch-tty\n")
    if rd.until(b"unknown command 'nosuch-tty'"):
        ok("console over a tty stdin answers")
    else:
        fail("console over a tty stdin: %r" % rd.buf[-300:])
    send(master2, "quit\n")
    rd.until(b"bye")
    try:
        rc = agent.wait(WAIT)
        if rc != 0:
            fail("agent on a tty stdin exited %d" % rc)
    except subprocess.TimeoutExpired:
        fail("agent on a tty stdin ignored quit")
finally:
    if agent.poll() is None:
        agent.kill()
        agent.wait()
    os.close(slave2)
    os.close(master2)

if failures:
    print("log of the agent:\n" + open(log_path).read()[-3000:], file=sys.stderr)
    sys.exit(1)
print("all console pty checks passed")
