# SPDX-License-Identifier: MIT
"""control.py - what the stack's test servers share (tests/env/quotes/quoted.py,
tests/env/smtp/smtpd.py): their timestamped log line and the plain-HTTP control channel on
loopback through which scripts/stack.sh and the tests switch their fault modes. Standard library
only (the servers run under Debian's /usr/bin/python3).

A server subclasses ControlHandler, writes do_GET/do_POST with params() and reply(), and starts
it with serve(host, port, Handler): a daemon thread, one thread per request."""
import json
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


def log(msg):
    print(f"[{datetime.now().isoformat(timespec='milliseconds')}] {msg}", flush=True)


class ControlHandler(BaseHTTPRequestHandler):
    """A control request: quiet (no access log), JSON replies, form or query parameters."""

    def log_message(self, fmt, *a):
        pass

    def reply(self, code, obj):
        """Answer @code with @obj as one line of JSON."""
        body = (json.dumps(obj) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def params(self, last=False):
        """-> (path, {name: [values]}): the query's parameters, then the form body's. With @last
        each name maps to its last value instead."""
        u = urlparse(self.path)
        q = parse_qs(u.query)
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            for k, v in parse_qs(self.rfile.read(n).decode()).items():
                q.setdefault(k, []).extend(v)
        if last:
            return u.path, {k: v[-1] for k, v in q.items()}
        return u.path, q


def serve(host, port, handler):
    """Serve @handler (a ControlHandler subclass) on host:port from a daemon thread."""
    srv = ThreadingHTTPServer((host, port), handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv
