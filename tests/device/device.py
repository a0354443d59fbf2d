#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""device.py - one board's image (scripts/image.sh) booted under qemu-system -M virt and driven
over its serial line only, against the real local stack, attached as in production
(docs/device.md): Kafka over SASL_SSL (SCRAM-SHA-512) with the stack CA, PostgreSQL with
sslmode=verify-full, SMTP with STARTTLS and a verified certificate.

The serial port is a host pty that this script opens with termios at the board's baud rate.
The guest reaches the stack on the host's loopback through QEMU's user-mode network (10.0.2.2):
the brokers' SASL_SSL listeners advertise kafkaN.tickwatch.test, the database and SMTP are
db.tickwatch.test and smtp.tickwatch.test, and the image's /data/hosts maps those names to
10.0.2.2 (the certificate holds them, so verification stays on). The data partition is
provisioned from the host before the first boot (as one would write the SD card): the CA file,
the hosts file and the replay scenario.

Over the serial line: the boot banner and the memory budget, `status`, a line longer than
[limits] console_line and an unsupported baud rate (both refused with one clear line), `config
set` of the Kafka, database and SMTP keys, `config save`; a reboot of the VM (through the test
shell on the virtio console hvc0, enabled by tickwatch.test_shell=1 on the kernel command line);
the keys survived (`config show`); a user registered by a JSON-RPC line typed on the console;
that user's alert e-mail in the stack's mail folder after the replayed crossing.

usage: device.py BOARD       (after scripts/image.sh BOARD; the stack up)"""
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import termios
import time
import tty

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "e2e", "alerts"))
from e2elib import Fail, Mail, check, consumer_group_to_end, stack_env, write_replay  # noqa: E402

BOARDS = {
    "rpi4-aarch64": ["qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a72"],
    "armhf-generic": ["qemu-system-arm", "-M", "virt", "-cpu", "cortex-a15"],
}
SPEEDS = {9600: termios.B9600, 19200: termios.B19200, 38400: termios.B38400,
          57600: termios.B57600, 115200: termios.B115200, 230400: termios.B230400,
          460800: termios.B460800, 921600: termios.B921600}
GUEST_HOST = "10.0.2.2"   # QEMU user-mode network: the host's loopback
BOARD = sys.argv[1]
RUN = "dev%s%d" % (re.sub(r"[^a-z0-9]", "", BOARD)[:6], os.getpid())
TICKER = "XDEV"
passed = 0
figures = {}


def ok(what):
    global passed
    passed += 1
    print("ok - %s: %s" % (BOARD, what), flush=True)


class Tty:
    """A host pty of QEMU, raw, at @baud (termios), with a read buffer and a log."""

    def __init__(self, path, baud, log):
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)
        a = termios.tcgetattr(self.fd)
        a[4] = a[5] = SPEEDS[baud]
        termios.tcsetattr(self.fd, termios.TCSANOW, a)
        check(termios.tcgetattr(self.fd)[4] == SPEEDS[baud], "%s did not take %d baud" % (path, baud))
        self.buf, self.log = b"", open(log, "ab")

    def pump(self, timeout):
        r, _, _ = select.select([self.fd], [], [], max(timeout, 0))
        if r:
            try:
                b = os.read(self.fd, 65536)
            except OSError:
                raise Fail("the pty closed (QEMU exited?)")
            self.buf += b
            self.log.write(b)
            self.log.flush()

    def expect(self, pat, timeout, what=None):
        rx = re.compile(pat.encode() if isinstance(pat, str) else pat)
        end = time.monotonic() + timeout
        while True:
            m = rx.search(self.buf)
            if m:
                self.last = self.buf[:m.end()].decode(errors="replace").replace("\r", "")
                self.buf = self.buf[m.end():]
                return m
            left = end - time.monotonic()
            if left <= 0:
                raise Fail("no %s within %ds on the serial line; last bytes: %r"
                           % (what or pat, timeout, self.buf[-600:]))
            self.pump(min(left, 1.0))

    def send(self, s, chunk=64):
        data = s.encode()
        for i in range(0, len(data), chunk):   # a human-sized pace: the UART has a 32-byte FIFO
            os.write(self.fd, data[i:i + chunk])
            time.sleep(0.01)

    def drain(self):
        self.pump(0)
        self.buf = b""


def lines(m):
    return m.group(0).decode(errors="replace").replace("\r", "")


class Vm:
    def __init__(self, work, image, baud, data):
        self.work, self.image, self.baud = work, image, baud
        with open(os.path.join(image, "cmdline.txt")) as f:
            cmdline = f.read().strip()
        self.argv = BOARDS[BOARD] + [
            "-smp", "1", "-m", "256", "-display", "none", "-monitor", "none",
            "-chardev", "pty,id=ser0", "-serial", "chardev:ser0",
            "-kernel", os.path.join(image, "vmlinuz"), "-initrd", os.path.join(image, "initrd.gz"),
            "-append", cmdline + " tickwatch.test_shell=1",
            "-netdev", "user,id=n0", "-device", "virtio-net-device,netdev=n0",
            "-drive", "file=%s,format=raw,if=none,id=d0" % data, "-device", "virtio-blk-device,drive=d0",
            "-device", "virtio-rng-device",
            "-device", "virtio-serial-device", "-chardev", "pty,id=sh0", "-device", "virtconsole,chardev=sh0"]

    def start(self):
        self.t0 = time.monotonic()
        self.qlog = open(os.path.join(self.work, "qemu.log"), "ab")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        ptys = {}
        while len(ptys) < 2:
            line = self.proc.stdout.readline()
            if not line:
                raise Fail("qemu exited (rc %s) before its ptys: %s" % (self.proc.wait(), self.argv))
            self.qlog.write(line)
            m = re.search(rb"(/dev/pts/\d+) \(label (\w+)\)", line)
            if m:
                ptys[m.group(2).decode()] = m.group(1).decode()
        self.serial = Tty(ptys["ser0"], self.baud, os.path.join(self.work, "serial.log"))
        self.shell = Tty(ptys["sh0"], 115200, os.path.join(self.work, "shell.log"))

    def sh(self, cmd, timeout=30):
        """A command on the test shell (hvc0): its output and exit code."""
        self.shell.drain()
        self.shell.send("%s; echo __E''ND__$?\n" % cmd)
        m = self.shell.expect(rb"([\s\S]*?)__END__(\d+)", timeout, "the test shell's answer")
        out = m.group(1).decode(errors="replace").replace("\r", "")
        # drop the echoed command line (the shell's line editor may wrap it)
        out = "\n".join(x for x in out.split("\n")[1:] if "__E''ND__" not in x)
        return int(m.group(2)), out.strip()

    def console(self, line, pat, timeout=30, what=None):
        """Type @line on the serial console and wait for @pat."""
        self.serial.drain()
        self.serial.send(line + "\r")
        try:
            return self.serial.expect(pat, timeout, what or ("the answer to %r" % line[:60]))
        except Fail as e:
            with open(self.serial.log.name, "rb") as f:
                if b"console input closed" in f.read():
                    raise Fail("%s -- the agent logged 'console input closed': it stopped reading "
                               "its serial console (a read of 0 bytes from a tty is not the end "
                               "of input; issue 19)" % e)
            raise

    def boot(self, n):
        """Wait for the image's banner, the memory budget and the agent's ready line."""
        t0 = self.t0
        m = self.serial.expect(r"tickwatch-image: board=[^\r\n]*\r?\n", 240, "the image banner")
        banner = lines(m).strip()
        check("board=%s" % BOARD in banner and "data=/dev/vda" in banner and
              "ip=10.0.2.15/24" in banner, "banner: %r" % banner)
        mb = self.serial.expect(r"memory budget: (\d+) KiB arena, (\d+) KiB used[^\r\n]*\r?\n", 120,
                                "the memory budget line")
        self.serial.expect(r"ready: roles [^\r\n]*\r?\n", 120, "the agent's ready line")
        t = time.monotonic() - t0
        figures.setdefault("ready_s", []).append(round(t, 1))
        ok("boot %d: banner %r, %s, ready %.1f s after QEMU started" % (n, banner, lines(mb).strip(), t))
        # the shell on hvc0 answers (it starts in parallel with the agent)
        for _ in range(60):
            self.shell.drain()
            self.shell.send("\n")
            try:
                self.shell.expect(rb"# ", 1)
                break
            except Fail:
                continue
        return int(mb.group(1))

    def reboot(self):
        self.shell.send("reboot\n")
        self.t0 = time.monotonic()

    def poweroff(self):
        try:
            self.shell.send("poweroff\n")
            self.proc.wait(60)
        except Exception:  # noqa: BLE001 - whatever happened, do not leave QEMU behind
            pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def debugfs(img, *cmds):
    script = "\n".join(cmds) + "\n"
    r = subprocess.run(["debugfs", "-w", "-f", "-", img], input=script, capture_output=True,
                       text=True, timeout=60)
    check(r.returncode == 0, "debugfs %s: %s" % (img, r.stderr))


def board_baud():
    with open(os.path.join(SRC, "board", BOARD, "tickwatch.conf")) as f:
        m = re.search(r"^\s*console_baud\s*=\s*(\d+)", f.read(), re.M)
    check(m, "board/%s/tickwatch.conf has no console_baud" % BOARD)
    return int(m.group(1))


def psql_tls(env, db, sql):
    """@sql as the TLS-only role, verify-full against db.tickwatch.test (hostaddr 127.0.0.1)."""
    dsn = ("host=db.tickwatch.test hostaddr=127.0.0.1 port=%s user=%s password=%s dbname=%s "
           "sslmode=verify-full sslrootcert=%s" % (env["TW_DB_PORT"], env["TW_DB_TLS_USER"],
                                                   env["TW_DB_TLS_PASSWORD"], db, env["TW_CA_FILE"]))
    r = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", dsn, "-c", sql],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, "psql (TLS role) %s: %s" % (sql, r.stderr))
    return r.stdout


def main():
    env = stack_env()
    for k in ("TW_KAFKA_SASL_PORT_BASE", "TW_KAFKA_SASL_USER", "TW_DB_TLS_PASSWORD"):
        check(env.get(k), "%s missing: the stack was made before its SASL_SSL/TLS listeners "
                          "(scripts/stack.sh down; scripts/stack.sh up)" % k)
    image = os.path.join(SRC, "dist", BOARD, "image")
    check(os.path.isfile(os.path.join(image, "initrd.gz")), "no image: run scripts/image.sh %s" % BOARD)
    r = subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=image, capture_output=True,
                       text=True)
    check(r.returncode == 0, "dist/%s/image/SHA256SUMS: %s%s" % (BOARD, r.stdout, r.stderr))
    sizes = {}
    with open(os.path.join(image, "SIZES")) as f:
        for line in f:
            n, name = line.split()
            sizes[name] = int(n)
    check(sizes["vmlinuz"] == os.path.getsize(os.path.join(image, "vmlinuz")), "SIZES is stale")
    figures["image_bytes"] = sizes
    ok("image files match SHA256SUMS and SIZES (vmlinuz %d, initrd.gz %d, data.img %d bytes)"
       % (sizes["vmlinuz"], sizes["initrd.gz"], sizes["data.img"]))

    baud = board_baud()
    work = tempfile.mkdtemp(prefix="tw-device-%s." % BOARD)
    dbname = "tw_%s" % RUN
    vm = None
    good = False
    try:
        # The SD card as an operator would prepare it: the image's data partition plus the
        # CA, the names of the stack and the replay scenario.
        data = os.path.join(work, "data.img")
        shutil.copyfile(os.path.join(image, "data.img"), data)
        hosts = os.path.join(work, "hosts")
        with open(hosts, "w") as f:
            f.write("%s %s\n" % (GUEST_HOST, env["TW_STACK_TLS_NAMES"]))
        replay = write_replay(os.path.join(work, "device.replay"), [{TICKER: 200.0}])
        debugfs(data, "mkdir /ca", "write %s /ca/stack-ca.pem" % env["TW_CA_FILE"],
                "write %s /hosts" % hosts, "write %s /device.replay" % replay)
        psql_tls(env, env["TW_DB_TLS_NAME"], "CREATE DATABASE %s" % dbname)
        consumer_group_to_end(env, "tickwatch-notifier", "to-notifier")

        vm = Vm(work, image, baud, data)
        vm.start()
        budget = vm.boot(1)
        check(budget > 0, "memory budget %d" % budget)

        vm.console("status", r"(?m)^tickwatch \S+, board %s, up [^\r\n]*\r?\n" % BOARD, 30, "status")
        m = vm.serial.expect(r"(?m)^memory budget: \d+ KiB arena[^\r\n]*\r?\n", 30, "status' memory budget")
        ok("status answers over the serial line (%s)" % lines(m).strip())
        m = vm.console("x" * 1100, r"(?m)^error: line longer than (\d+) bytes ignored[^\r\n]*\r?\n", 30)
        # [limits] console_line is 1024 on both boards; the buffer keeps room for its NUL, so the
        # refusal names 1023 (reported to the console's owner, agent/core/console.c).
        check(m.group(1) in (b"1023", b"1024"), "console_line refusal %r" % m.group(0))
        ok("a 1,100-byte line is refused: %r" % lines(m).strip())
        m = vm.console("config set agent.console_baud 12345", r"(?m)^error: [^\r\n]*console_baud[^\r\n]*\r?\n", 30)
        check(b"not a rate the serial console takes" in m.group(0), "baud refusal %r" % m.group(0))
        ok("an unsupported baud rate is refused: %r" % lines(m).strip())
        rc, out = vm.sh("tickwatch run --console /dev/ttyAMA0 --baud 12345 --config /data/tickwatch.conf --roles rpc 2>&1")
        check(rc == 1 and "baud rate 12345 not supported" in out, "run --baud 12345: rc %d %r" % (rc, out))
        ok("`run --baud 12345` is refused: %r" % out.splitlines()[-1])

        sasl = ",".join("kafka%d.tickwatch.test:%d" % (n, int(env["TW_KAFKA_SASL_PORT_BASE"]) + n - 1)
                        for n in (1, 2, 3))
        db_url = ("postgresql://%s:%s@db.tickwatch.test:%s/%s?sslmode=verify-full&sslrootcert=/data/ca/stack-ca.pem"
                  % (env["TW_DB_TLS_USER"], env["TW_DB_TLS_PASSWORD"], env["TW_DB_PORT"], dbname))
        keys = [  # username/password before security: SASL needs them (a cross-key rule)
            ("agent.name", "edge-" + RUN),
            ("kafka.bootstrap", sasl),
            ("kafka.username", env["TW_KAFKA_SASL_USER"]),
            ("kafka.password", env["TW_KAFKA_SASL_PASSWORD"]),
            ("kafka.sasl_mechanism", "SCRAM-SHA-512"),
            ("kafka.ca_file", "/data/ca/stack-ca.pem"),
            ("kafka.security", "SASL_SSL"),
            ("db.write_url", db_url),
            # read_url too: an empty read_url is filled with the write_url of the time at load,
            # so `config set db.write_url` alone leaves reads on the old address
            ("db.read_url", db_url),
            ("smtp.host", "smtp.tickwatch.test"),
            ("smtp.port", env["TW_SMTP_PORT_STARTTLS"]),
            ("smtp.mode", "starttls"),
            ("smtp.password", env["TW_SMTP_PASSWORD"]),   # before the user: AUTH needs both
            ("smtp.user", env["TW_SMTP_USER"]),
            ("smtp.ca_file", "/data/ca/stack-ca.pem"),
            ("smtp.verify", "true"),
            ("smtp.from", "alerts@tickwatch.test"),
            ("quotes.source", "replay:/data/device.replay"),
            ("quotes.interval", "1s"),
        ]
        for k, v in keys:
            m = vm.console("config set %s %s" % (k, v), r"(?m)^(ok|error): [^\r\n]*\r?\n", 30)
            check(m.group(1) == b"ok", "config set %s: %r" % (k, m.group(0)))
        ok("config set of %d keys (Kafka SASL_SSL, database verify-full, SMTP STARTTLS)" % len(keys))
        m = vm.console("config save", r"(?m)^(ok|error)\b[^\r\n]*\r?\n", 30)
        check(m.group(1) == b"ok", "config save: %r" % m.group(0))
        ok("config save: %r" % lines(m).strip())

        vm.reboot()
        vm.boot(2)
        vm.console("config show", r"(?m)^quotes\.interval = [^\r\n]*\r?\n", 30, "config show")
        shown = vm.serial.last
        for k, v in keys:
            secret = k.endswith("password")
            want = "%s = %s" % (k, "***" if secret else v)
            if k.startswith("db."):
                want = "%s = %s" % (k, v.replace(":" + env["TW_DB_TLS_PASSWORD"] + "@", ":***@"))
            check(want in shown and "/data/tickwatch.conf" in shown,
                  "after the reboot, %s not shown from the file: %r" % (want, shown[-3000:]))
        ok("after a reboot every key is back from /data/tickwatch.conf (secrets masked)")

        rcpt = "%s@device.test" % RUN
        req = {"jsonrpc": "2.0", "id": 7, "method": "user.register",
               "params": {"email": rcpt, "ticker": TICKER, "high": 150, "request_id": RUN + "-reg"}}
        answer = None
        for _ in range(60):   # until the database is attached (schema migrated at start)
            m = vm.console(json.dumps(req, separators=(",", ":")), r'\{"jsonrpc":"2\.0","id":7,[^\r\n]*\r?\n', 30,
                           "the JSON-RPC answer")
            answer = json.loads(m.group(0).decode())
            if "error" not in answer or answer["error"]["code"] != -32005:
                break
            time.sleep(2)
        check("result" in answer and answer["result"]["email"] == rcpt, "register: %r" % answer)
        ok("user.register typed on the console: %s" % m.group(0).decode())

        mail = Mail(env["TW_MAIL_DIR"], RUN)
        end = time.monotonic() + 240
        while not mail.for_rcpt(rcpt):
            check(time.monotonic() < end, "no e-mail to %s within 240 s; serial tail: %r"
                  % (rcpt, vm.serial.buf[-2000:]))
            vm.serial.pump(1.0)
        got = mail.for_rcpt(rcpt)
        check(len(got) == 1, "want one e-mail to %s, got %d" % (rcpt, len(got)))
        check(got[0]["subject"] == "%s is above 150.00: 200.00" % TICKER, "subject %r" % got[0]["subject"])
        ok("the alert e-mail arrived (SASL_SSL Kafka, TLS PostgreSQL, STARTTLS SMTP): %r" % got[0]["subject"])

        rc, out = vm.sh("grep -E 'VmRSS|VmHWM' /proc/$(pidof tickwatch)/status; free -k | sed -n 2p")
        check(rc == 0, "reading the agent's memory: %s" % out)
        figures["agent_status"] = out.replace("\n", "; ")
        print("# %s: agent on the emulated board: %s" % (BOARD, figures["agent_status"]), flush=True)
        vm.poweroff()
        check(vm.proc.returncode == 0, "QEMU exit %s after poweroff" % vm.proc.returncode)
        ok("poweroff: QEMU exited 0")
        good = True
    finally:
        if vm is not None and getattr(vm, "proc", None) is not None and vm.proc.poll() is None:
            vm.poweroff()
        try:
            psql_tls(env, env["TW_DB_TLS_NAME"], "DROP DATABASE IF EXISTS %s WITH (FORCE)" % dbname)
        except Fail as e:
            print("# %s" % e)
        if good:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("# kept %s (serial.log, shell.log, qemu.log)" % work)
    print("# %s figures: %s" % (BOARD, json.dumps(figures)), flush=True)


if __name__ == "__main__":
    try:
        main()
    except Fail as e:
        print("FAIL - %s: %s" % (BOARD, e), flush=True)
        sys.exit(1)
    print("# %s: %d passed" % (BOARD, passed))
