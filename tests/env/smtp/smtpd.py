#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The stack's SMTP server (run by scripts/stack.sh with Debian's /usr/bin/python3).

aiosmtpd on two loopback ports:
  * STARTTLS port: plain SMTP, STARTTLS required before AUTH/MAIL;
  * implicit-TLS port: TLS from the first byte (SMTPS).
Both require AUTH (PLAIN or LOGIN, one test user) before MAIL, and advertise PIPELINING.
Each accepted message is written as ONE file MAIL_DIR/<ns-time>-<seq>.eml (written to
MAIL_DIR/.tmp first, then renamed, so readers never see half a file). The file starts with
X-Stack-* header lines carrying the envelope, followed by the message exactly as received.

A control channel (plain HTTP on loopback) switches fault modes while running:
  GET  /health                  -> {"ok": true, ...}
  GET  /mode                    -> current mode
  POST /mode  mode=M [rcpt=ADDR ...] [count=N]     (form or query parameters)
Modes:
  normal   accept mail
  refuse   stop listening on both SMTP ports (clients get "connection refused")
  421      greet with 421 and close; with rcpt=: answer 421 to RCPT TO of those addresses
           and close the connection
  451      answer 451 (transient) to RCPT TO (every recipient, or only the rcpt= ones)
  550      answer 550 (permanent) to RCPT TO (every recipient, or only the rcpt= ones)
  stall    accept the TCP connection and never send a greeting (the connection is held
           until the client gives up, or 300 s)
count=N: the fault fires N times (connections for 421-at-greeting/stall, recipients for
RCPT faults), then the mode returns to normal by itself.
"""
import argparse
import asyncio
import os
import ssl
import sys
import threading
import time
from datetime import datetime, timezone

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lib"))
from control import ControlHandler, log, serve  # noqa: E402  (tests/lib/control.py)

MODES = ("normal", "refuse", "421", "451", "550", "stall")


class Faults:
    """Current fault mode; read by the SMTP side, written by the control thread."""

    def __init__(self):
        self.lock = threading.Lock()
        self.mode = "normal"
        self.rcpts = set()
        self.count = None      # None: until changed
        self.fired = 0

    def snapshot(self):
        with self.lock:
            return {"mode": self.mode, "rcpts": sorted(self.rcpts), "count": self.count,
                    "fired": self.fired}

    def set(self, mode, rcpts, count):
        with self.lock:
            self.mode, self.rcpts, self.count, self.fired = mode, set(rcpts), count, 0

    def _fire(self):
        self.fired += 1
        if self.count is not None:
            self.count -= 1
            if self.count <= 0:
                self.mode, self.rcpts, self.count = "normal", set(), None

    def on_connect(self):
        """-> None, '421' or 'stall' for a new connection."""
        with self.lock:
            if self.mode == "stall" or (self.mode == "421" and not self.rcpts):
                m = self.mode
                self._fire()
                return m
            return None

    def on_rcpt(self, address):
        """-> None, '421', '451' or '550' for RCPT TO:<address>."""
        with self.lock:
            if self.mode in ("421", "451", "550"):
                if self.mode == "421" and not self.rcpts:
                    return None   # applied at greeting already
                if not self.rcpts or address.lower() in self.rcpts:
                    m = self.mode
                    self._fire()
                    return m
            return None


FAULTS = Faults()


class StackSMTP(SMTP):
    def __init__(self, handler, channel, **kw):
        super().__init__(handler, **kw)
        self.channel = channel

    async def _handle_client(self):
        action = FAULTS.on_connect()
        if action == "421":
            log(f"{self.channel} {self.session.peer}: fault 421 at greeting")
            await self.push("421 4.3.2 localhost Service not available, closing transmission channel")
            self.transport.close()
            return
        if action == "stall":
            log(f"{self.channel} {self.session.peer}: fault stall (no greeting)")
            try:
                while await self._reader.read(4096):
                    pass
            finally:
                if self.transport is not None:
                    self.transport.close()
            return
        await super()._handle_client()


class Handler:
    def __init__(self, mail_dir):
        self.mail_dir = mail_dir
        self.tmp_dir = os.path.join(mail_dir, ".tmp")
        os.makedirs(self.tmp_dir, exist_ok=True)
        self.seq = 0
        self.accepted = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        responses.insert(len(responses) - 1, "250-PIPELINING")
        responses.insert(len(responses) - 1, "250-ENHANCEDSTATUSCODES")
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        fault = FAULTS.on_rcpt(address)
        if fault == "421":
            log(f"{server.channel} {session.peer}: fault 421 at RCPT {address}")
            server.loop.call_later(0.05, lambda: server.transport and server.transport.close())
            return "421 4.3.2 localhost Service not available, closing transmission channel"
        if fault == "451":
            log(f"{server.channel} {session.peer}: fault 451 at RCPT {address}")
            return f"451 4.3.0 <{address}>: Temporary failure, try again later"
        if fault == "550":
            log(f"{server.channel} {session.peer}: fault 550 at RCPT {address}")
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        self.seq += 1
        name = f"{time.time_ns()}-{os.getpid()}-{self.seq:06d}.eml"
        auth_user = session.auth_data.login.decode("utf-8", "replace") \
            if isinstance(session.auth_data, LoginPassword) else ""
        head = (
            f"X-Stack-Mail-From: <{envelope.mail_from}>\r\n"
            f"X-Stack-Rcpt-To: {', '.join('<%s>' % r for r in envelope.rcpt_tos)}\r\n"
            f"X-Stack-Auth-User: {auth_user}\r\n"
            f"X-Stack-Channel: {server.channel}\r\n"
            f"X-Stack-Helo: {session.host_name}\r\n"
            f"X-Stack-Received-At: {datetime.now(timezone.utc).isoformat()}\r\n"
        ).encode()
        content = envelope.original_content if envelope.original_content is not None else envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")
        tmp = os.path.join(self.tmp_dir, name)
        with open(tmp, "wb") as f:
            f.write(head + content)
        os.rename(tmp, os.path.join(self.mail_dir, name))
        self.accepted += 1
        log(f"{server.channel} {session.peer}: accepted {name} from <{envelope.mail_from}> "
            f"to {envelope.rcpt_tos} ({len(content)} bytes)")
        return f"250 2.0.0 OK: queued as {name}"


class Listeners:
    def __init__(self, loop, args, handler, ctx, user, password):
        self.loop, self.args, self.handler, self.ctx = loop, args, handler, ctx
        self.user, self.password = user.encode(), password.encode()
        self.servers = []

    def authenticator(self, server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == self.user
              and auth_data.password == self.password)
        log(f"{server.channel} {session.peer}: AUTH {mechanism} "
            f"{'ok' if ok else 'FAILED'} for {getattr(auth_data, 'login', b'?')!r}")
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    def factory(self, channel):
        def make():
            common = dict(hostname="localhost", ident="tickwatch-stack-smtpd",
                          auth_required=True, authenticator=self.authenticator,
                          timeout=300, loop=self.loop)
            if channel == "starttls":
                return StackSMTP(self.handler, channel, tls_context=self.ctx,
                                 require_starttls=True, auth_require_tls=True, **common)
            # implicit TLS: the transport is already encrypted
            return StackSMTP(self.handler, channel, auth_require_tls=False, **common)
        return make

    async def start(self):
        if self.servers:
            return
        a = self.args
        self.servers = [
            await self.loop.create_server(self.factory("starttls"), a.host, a.starttls_port,
                                          reuse_address=True),
            await self.loop.create_server(self.factory("tls"), a.host, a.tls_port,
                                          ssl=self.ctx, reuse_address=True),
        ]
        log(f"listening: STARTTLS {a.host}:{a.starttls_port}, TLS {a.host}:{a.tls_port}")

    async def stop(self):
        for s in self.servers:
            s.close()
        self.servers = []
        log("listening sockets closed (refuse mode)")


def control_server(args, loop, listeners, handler):
    class Ctl(ControlHandler):
        def do_GET(self):
            path, _ = self.params()
            if path == "/health":
                self.reply(200, {"ok": True, "listening": bool(listeners.servers),
                                 "accepted": handler.accepted, **FAULTS.snapshot()})
            elif path == "/mode":
                self.reply(200, FAULTS.snapshot())
            else:
                self.reply(404, {"error": "unknown path"})

        def do_POST(self):
            path, q = self.params()
            if path != "/mode":
                return self.reply(404, {"error": "unknown path"})
            mode = (q.get("mode") or [""])[0]
            if mode not in MODES:
                return self.reply(400, {"error": f"mode must be one of {MODES}"})
            rcpts = [r.strip().strip("<>").lower() for r in q.get("rcpt", []) if r.strip()]
            count = None
            if q.get("count"):
                try:
                    count = int(q["count"][0])
                    assert count >= 1
                except (ValueError, AssertionError):
                    return self.reply(400, {"error": "count must be an integer >= 1"})
            if mode == "refuse" and (count or rcpts):
                return self.reply(400, {"error": "refuse takes neither count nor rcpt"})
            if mode in ("stall",) and rcpts:
                return self.reply(400, {"error": "stall takes no rcpt"})
            FAULTS.set(mode, rcpts, count)
            coro = listeners.stop() if mode == "refuse" else listeners.start()
            try:
                asyncio.run_coroutine_threadsafe(coro, loop).result(10)
            except Exception as e:  # noqa: BLE001 - report to the caller
                return self.reply(500, {"error": f"could not apply mode: {e!r}"})
            log(f"control: mode {FAULTS.snapshot()}")
            self.reply(200, FAULTS.snapshot())

    serve(args.host, args.control_port, Ctl)
    log(f"control: http://{args.host}:{args.control_port}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--starttls-port", type=int, required=True)
    p.add_argument("--tls-port", type=int, required=True)
    p.add_argument("--control-port", type=int, required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password-file", required=True)
    p.add_argument("--mail-dir", required=True)
    p.add_argument("--state-dir", default=".")
    args = p.parse_args()

    with open(args.password_file) as f:
        password = f.read().strip()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.cert, args.key)
    os.makedirs(args.mail_dir, exist_ok=True)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    handler = Handler(args.mail_dir)
    listeners = Listeners(loop, args, handler, ctx, args.user, password)
    loop.run_until_complete(listeners.start())
    control_server(args, loop, listeners, handler)
    try:
        loop.run_forever()
    finally:
        loop.close()


if __name__ == "__main__":
    sys.exit(main())
