#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The stack's quote server: HTTPS, Yahoo Finance chart API and Stooq CSV shapes, scripted by a
scenario.

  GET /v8/finance/chart/{TICKER}[?anything]   -> Yahoo chart JSON (200), or for a ticker not
      in the scenario 404 {"chart": {"result": null, "error": {"code": "Not Found", ...}}}
  GET /                                       -> 404 with Set-Cookie: A3=... (fc.yahoo.com's way
      of handing out the session cookie)
  GET /v1/test/getcrumb  (Cookie: A3=...)     -> 200 text/plain crumb; 401 without the cookie
  GET /q/l/?s=aapl.us&f=sd2t2ohlcv&h&e=csv    -> Stooq CSV: header + one line; the symbol is the
      ticker in lower case with ".us" for a plain US ticker (any other suffix kept: sap.de);
      Date/Time are Europe/Warsaw wall-clock time; an unknown symbol has N/D fields
  GET /health                                 -> {"ok": true}

Crumb (POST /crumb require=1): a chart request needs the A3 cookie and a crumb= the server
issued, else 401 {"finance": {"error": {"code": "Unauthorized", "description": "Invalid
Crumb"}}}; POST /crumb expire=1 forgets every crumb issued (the next chart request is 401).

Rate limit (POST /mode mode=429 [count=N] [retry_after=SECONDS|date|none]): each answered 429
carries Retry-After (delay-seconds, default 2; "date": an HTTP-date 3 s ahead; "none": no
header) and starts a window of that length; a chart or CSV request arriving inside a window
is counted in "early" (state). Every chart/CSV request is counted per ticker ("requests":
{"yahoo": {...}, "stooq": {...}}), the cookie and crumb requests too.

Trading period (POST /period regular=open|ended|none|START,END): the chart meta carries
currentTradingPeriod {pre, regular, post} as Yahoo's does. open (default): the regular session
is the UTC day of the quote's market time (every scenario time is inside it); ended: it ended
60 s before the quote's market time (started 2 h before: a closed market's late print); none:
no currentTradingPeriod; START,END: those Unix seconds.

Faults apply to the chart API, the CSV or both: POST /mode ... source=yahoo|stooq|all
(default all). POST /freeze tickers=AAPL,MSFT|all|none: those tickers' market (time and
price) stays at the step they were frozen at (a shut market).

HTTP/1.1 with keep-alive; bodies are sent with Content-Length, or with chunked transfer
encoding when `encoding` is `chunked` (HTTP/1.1 requests only).

Scenario file (JSON):
  {"start_time": 1767258000, "step_seconds": 60,
   "tickers": {"AAPL": {"currency": "USD", "exchange": "NMS", "prices": [190.1, 191.0, ...]}}}

Steps. advance=manual (default): one global step counter, starting at 0, moved only by the
control channel (POST /step). advance=request: each ticker has its own cursor; every chart
response for that ticker serves the price at its cursor, then moves the cursor on by one.
Either way the index is clamped at the last price; regularMarketTime is
start_time + step * step_seconds (not clamped, so time keeps moving).

Control channel (plain HTTP on loopback), form or query parameters:
  GET  /state, GET /health
  POST /mode     mode=normal|slow|reset|<HTTP status 400..599> [count=N] [delay_ms=D]
                 slow: wait delay_ms (default 10000) then answer normally; reset: close the
                 TCP connection with RST after reading the request; status: answer that
                 status with a Yahoo-style error body. count=N: N requests, then normal.
  POST /step     by=N (default 1) | to=N
  POST /set      encoding=length|chunked, advance=manual|request
  POST /scenario path=FILE   (load; step and cursors back to 0)
  POST /crumb    require=0|1, expire=1
  POST /freeze   tickers=T1,T2|all|none
  POST /period   regular=open|ended|none|START,END
  POST /reset    step 0, cursors 0, mode normal, encoding length, advance manual, no crumb
                 required, nothing frozen, period open, counts 0

Listed tickers: the scenario's optional "listed" list (regular expressions, matched whole,
case-insensitive) names tickers that exist without prices of their own: their chart is served
at the scenario's "listed_price" (default 100) like a ticker's, so that the rpc role's ticker
check finds them. Any other ticker is unknown (404 Not Found; Stooq N/D).
"""
import argparse
import email.utils
import json
import os
import re
import secrets
import socket
import ssl
import struct
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lib"))
from control import ControlHandler, log, serve  # noqa: E402  (tests/lib/control.py)


def load_scenario(path):
    with open(path) as f:
        sc = json.load(f)
    tickers = sc.get("tickers")
    if not isinstance(tickers, dict) or not tickers:
        raise ValueError("scenario needs a non-empty 'tickers' object")
    for sym, t in tickers.items():
        prices = t.get("prices")
        if not isinstance(prices, list) or not prices or \
                not all(isinstance(p, (int, float)) for p in prices):
            raise ValueError(f"ticker {sym}: 'prices' must be a non-empty list of numbers")
    sc.setdefault("start_time", 1767258000)
    sc.setdefault("step_seconds", 60)
    sc["tickers"] = {k.upper(): v for k, v in tickers.items()}
    sc["path"] = path
    return sc


class State:
    def __init__(self, scenario):
        self.lock = threading.Lock()
        self.scenario = scenario
        self.reset()
        self.served = 0

    def reset(self):
        self.step = 0
        self.cursors = {}
        self.mode, self.count, self.delay_ms = "normal", None, 10000
        self.fault_source, self.retry_after = "all", "2"
        self.encoding, self.advance = "length", "manual"
        self.crumb_required, self.cookies, self.crumbs = False, set(), set()
        self.frozen = {}            # ticker -> step it was frozen at
        self.period = "open"        # currentTradingPeriod: open, ended, none or (start, end)
        self.requests = {"yahoo": {}, "stooq": {}}
        self.cookie_requests = self.crumb_requests = self.unauthorized = 0
        self.limited = self.early = 0
        self.limit_until = 0.0

    def snapshot(self):
        with self.lock:
            return {"mode": self.mode, "count": self.count, "delay_ms": self.delay_ms,
                    "encoding": self.encoding, "advance": self.advance, "step": self.step,
                    "cursors": dict(self.cursors), "served": self.served,
                    "source": self.fault_source, "retry_after": self.retry_after,
                    "crumb_required": self.crumb_required, "crumbs_issued": len(self.crumbs),
                    "frozen": dict(self.frozen),
                    "period": self.period if isinstance(self.period, str) else
                    "%d,%d" % self.period,
                    "requests": {k: dict(v) for k, v in self.requests.items()},
                    "cookie_requests": self.cookie_requests,
                    "crumb_requests": self.crumb_requests, "unauthorized": self.unauthorized,
                    "limited": self.limited, "early": self.early,
                    "scenario": self.scenario["path"],
                    "tickers": {k: len(v["prices"]) for k, v in self.scenario["tickers"].items()}}

    def count_request(self, source, ticker):
        """A chart or CSV request: counted per ticker, and as early inside a 429 window."""
        with self.lock:
            per = self.requests[source]
            per[ticker] = per.get(ticker, 0) + 1
            if time.monotonic() < self.limit_until:
                self.early += 1

    def take_fault(self, source):
        with self.lock:
            mode, delay = self.mode, self.delay_ms
            if self.fault_source not in ("all", source):
                return "normal", delay
            if mode != "normal" and self.count is not None:
                self.count -= 1
                if self.count <= 0:
                    self.mode, self.count = "normal", None
            return mode, delay

    def quote(self, symbol):
        """-> (meta dict, step) or None for an unknown ticker; advances in request mode."""
        with self.lock:
            sc = self.scenario
            t = sc["tickers"].get(symbol.upper())
            if t is None and any(re.fullmatch(rx, symbol, re.I) for rx in sc.get("listed", ())):
                t = {"prices": [sc.get("listed_price", 100.0)]}
            if t is None:
                return None
            if symbol.upper() in self.frozen:
                step = self.frozen[symbol.upper()]
            elif self.advance == "request":
                step = self.cursors.get(symbol.upper(), 0)
                self.cursors[symbol.upper()] = step + 1
            else:
                step = self.step
            prices = t["prices"]
            i = min(step, len(prices) - 1)
            prev = prices[i - 1] if i > 0 else prices[0]
            self.served += 1
            when = int(sc["start_time"]) + step * int(sc["step_seconds"])
            if self.period == "none":
                period = None
            elif self.period == "open":
                period = (when - when % 86400, when - when % 86400 + 86399)
            elif self.period == "ended":
                period = (when - 7200, when - 60)
            else:
                period = self.period
            return {"symbol": symbol.upper(), "price": prices[i], "prev": prev, "time": when,
                    "period": period,
                    "currency": t.get("currency", sc.get("currency", "USD")),
                    "exchange": t.get("exchange", "NMS"),
                    "name": t.get("name", symbol.upper())}, step


def chart_body(q):
    p, t = q["price"], q["time"]
    return {"chart": {"result": [{
        "meta": {
            "currency": q["currency"], "symbol": q["symbol"], "exchangeName": q["exchange"],
            "fullExchangeName": q["exchange"], "instrumentType": "EQUITY",
            "firstTradeDate": 0, "regularMarketTime": t, "hasPrePostMarketData": False,
            "gmtoffset": 0, "timezone": "UTC", "exchangeTimezoneName": "Etc/UTC",
            "regularMarketPrice": p, "regularMarketDayHigh": max(p, q["prev"]),
            "regularMarketDayLow": min(p, q["prev"]), "regularMarketVolume": 0,
            "longName": q["name"], "shortName": q["name"],
            "chartPreviousClose": q["prev"], "previousClose": q["prev"], "scale": 3,
            "priceHint": 2, "dataGranularity": "1m", "range": "1d",
            "validRanges": ["1d", "5d"],
        **({"currentTradingPeriod": trading_period(q["period"])} if q["period"] else {})},
        "timestamp": [t],
        "indicators": {"quote": [{"open": [q["prev"]], "high": [max(p, q["prev"])],
                                  "low": [min(p, q["prev"])], "close": [p], "volume": [0]}]},
    }], "error": None}}


def trading_period(regular):
    """Yahoo's meta.currentTradingPeriod around the regular session (start, end)."""
    start, end = regular
    one = lambda a, b: {"timezone": "UTC", "start": a, "end": b, "gmtoffset": 0}  # noqa: E731
    return {"pre": one(start - 19800, start), "regular": one(start, end),
            "post": one(end, end + 14400)}


WARSAW = ZoneInfo("Europe/Warsaw")


def stooq_ticker(symbol):
    """Stooq symbol -> scenario ticker: aapl.us -> AAPL, sap.de -> SAP.DE."""
    s = symbol.upper()
    return s[:-3] if s.endswith(".US") else s


def stooq_csv(symbol, q):
    head = "Symbol,Date,Time,Open,High,Low,Close,Volume\r\n"
    if q is None:
        return head + f"{symbol.upper()},N/D,N/D,N/D,N/D,N/D,N/D,N/D\r\n"
    local = datetime.fromtimestamp(q["time"], timezone.utc).astimezone(WARSAW)
    p, prev = q["price"], q["prev"]
    return head + (f"{symbol.upper()},{local:%Y-%m-%d},{local:%H:%M:%S},{prev},{max(p, prev)},"
                   f"{min(p, prev)},{p},0\r\n")


def error_body(code, description):
    return {"chart": {"result": None, "error": {"code": code, "description": description}}}


class QuoteHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60            # idle keep-alive connections are closed after this
    wbufsize = -1           # head and body leave in one write (flushed in send_json)
    server_version = "tickwatch-stack-quoted/1"

    def log_message(self, fmt, *a):
        log(f"{self.client_address[0]}:{self.client_address[1]} {fmt % a}")

    def send_json(self, code, obj, extra=(), ctype="application/json;charset=utf-8"):
        st = self.server.state
        body = obj.encode() if isinstance(obj, str) else json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Cache-Control", "no-store")
        for k, v in extra:
            self.send_header(k, v)
        chunked = st.encoding == "chunked" and self.request_version == "HTTP/1.1"
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            half = max(1, len(body) // 2)
            for part in (body[:half], body[half:]):
                if part:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        self.wfile.flush()

    def reset_connection(self):
        """Abort: SO_LINGER 0 then close -> the peer gets a TCP RST."""
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        for f in (self.rfile, self.wfile):
            try:
                f.close()
            except OSError:
                pass
        try:
            self.connection.close()
        except OSError:
            pass
        self.close_connection = True

    def cookie(self):
        """The A3 cookie of the request, or None."""
        for part in (self.headers.get("Cookie") or "").split(";"):
            k, _, v = part.strip().partition("=")
            if k == "A3":
                return v
        return None

    def give_cookie(self):
        st = self.server.state
        value = "d=AQABBK" + secrets.token_urlsafe(24) + "&S=AQAAA" + secrets.token_urlsafe(8)
        with st.lock:
            st.cookie_requests += 1
            st.cookies.add(value)
        expires = email.utils.formatdate(time.time() + 365 * 86400, usegmt=True)
        self.send_json(404, "<html><body>Not Found</body></html>", ctype="text/html", extra=[
            ("Set-Cookie", f"A3={value}; Expires={expires}; Max-Age=31557600; Domain=127.0.0.1;"
                           f" Path=/; SameSite=None; Secure; HttpOnly")])

    def give_crumb(self):
        st = self.server.state
        with st.lock:
            st.crumb_requests += 1
            ok = self.cookie() in st.cookies
            crumb = secrets.token_urlsafe(8)[:11].replace("-", "/") if ok else None
            if ok:
                st.crumbs.add(crumb)
        if not ok:
            return self.send_json(401, error_body("Unauthorized", "Invalid Cookie"))
        self.send_json(200, crumb, ctype="text/plain;charset=utf-8")

    def crumb_ok(self, query):
        st = self.server.state
        with st.lock:
            if not st.crumb_required:
                return True
            crumb = parse_qs(query).get("crumb", [""])[-1]
            ok = crumb in st.crumbs and self.cookie() in st.cookies
            if not ok:
                st.unauthorized += 1
            return ok

    def fault(self, source, path):
        """Apply the fault mode. -> True when it answered (or cut) the request."""
        st = self.server.state
        mode, delay = st.take_fault(source)
        if mode == "reset":
            log(f"fault reset for {path}")
            self.reset_connection()
            return True
        if mode == "slow":
            log(f"fault slow {delay} ms for {path}")
            time.sleep(delay / 1000.0)
            return False
        if mode == "normal":
            return False
        code = int(mode)
        extra = []
        if code == 429:
            with st.lock:
                ra = st.retry_after
                st.limited += 1
                if ra == "date":
                    # an HTTP-date 3 s ahead (whole seconds): the window ends at that instant
                    when = int(time.time()) + 3
                    extra.append(("Retry-After", email.utils.formatdate(when, usegmt=True)))
                    end = time.monotonic() + (when - time.time())
                elif ra != "none":
                    extra.append(("Retry-After", ra))
                    end = time.monotonic() + int(ra)
                else:
                    end = 0.0
                st.limit_until = max(st.limit_until, end)
        log(f"fault {code} for {path}")
        if source == "stooq":
            self.send_json(code, HTTPStatus(code).phrase + "\r\n", extra=extra,
                           ctype="text/plain")
        else:
            self.send_json(code, error_body(HTTPStatus(code).phrase, "stack fault mode"),
                           extra=extra)
        return True

    def do_GET(self):
        u = urlparse(self.path)
        path = u.path
        st = self.server.state
        if path == "/health":
            return self.send_json(200, {"ok": True})
        if path == "/":
            return self.give_cookie()
        if path == "/v1/test/getcrumb":
            return self.give_crumb()
        if path == "/q/l/" or path == "/q/l":
            sym = parse_qs(u.query).get("s", [""])[-1]
            if not re.fullmatch(r"[A-Za-z0-9.^=_-]{1,32}", sym):
                return self.send_json(200, "No data\r\n", ctype="text/plain")
            st.count_request("stooq", stooq_ticker(sym))
            if self.fault("stooq", path):
                return None
            got = st.quote(stooq_ticker(sym))
            return self.send_json(200, stooq_csv(sym, got[0] if got else None),
                                  ctype="text/csv")
        m = re.fullmatch(r"/v8/finance/chart/([^/]+)", path)
        if not m:
            return self.send_json(404, error_body("Not Found", "HTTP 404 Not Found"))
        st.count_request("yahoo", m.group(1).upper())
        if not self.crumb_ok(u.query):
            return self.send_json(401, {"finance": {"result": None, "error": {
                "code": "Unauthorized", "description": "Invalid Crumb"}}})
        if self.fault("yahoo", path):
            return None
        got = self.server.state.quote(m.group(1))
        if got is None:
            return self.send_json(404, error_body(
                "Not Found", "No data found, symbol may be delisted"))
        q, step = got
        self.send_json(200, chart_body(q), extra=[("X-Stack-Step", str(step))])


class TLSServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def finish_request(self, request, client_address):
        # TLS handshake in the worker thread, so a slow client cannot block accept()
        request.settimeout(30)
        # No Nagle: a response must not wait for the client's delayed ACK.
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            tls = self.ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            log(f"{client_address}: TLS handshake failed: {e}")
            request.close()
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass


def control_server(host, port, state):
    class Ctl(ControlHandler):
        def do_GET(self):
            path, _ = self.params()
            if path in ("/state", "/health"):
                self.reply(200, {"ok": True, **state.snapshot()})
            else:
                self.reply(404, {"error": "unknown path"})

        def do_POST(self):
            path, q = self.params(last=True)
            try:
                with state.lock:
                    if path == "/mode":
                        mode = q.get("mode", "")
                        if mode not in ("normal", "slow", "reset") and not (
                                mode.isdigit() and 400 <= int(mode) <= 599):
                            raise ValueError("mode must be normal, slow, reset or a status 400..599")
                        count = int(q["count"]) if q.get("count") else None
                        if count is not None and count < 1:
                            raise ValueError("count must be >= 1")
                        src = q.get("source", "all")
                        if src not in ("all", "yahoo", "stooq"):
                            raise ValueError("source must be all, yahoo or stooq")
                        ra = q.get("retry_after", state.retry_after)
                        if not (ra.isdigit() or ra in ("date", "none")):
                            raise ValueError("retry_after must be seconds, date or none")
                        state.mode, state.count = mode, count
                        state.fault_source, state.retry_after = src, ra
                        if q.get("delay_ms"):
                            state.delay_ms = int(q["delay_ms"])
                    elif path == "/step":
                        if "to" in q:
                            state.step = int(q["to"])
                        else:
                            state.step += int(q.get("by", 1))
                        if state.step < 0:
                            raise ValueError("step must be >= 0")
                    elif path == "/set":
                        if "encoding" in q:
                            if q["encoding"] not in ("length", "chunked"):
                                raise ValueError("encoding must be length or chunked")
                            state.encoding = q["encoding"]
                        if "advance" in q:
                            if q["advance"] not in ("manual", "request"):
                                raise ValueError("advance must be manual or request")
                            state.advance = q["advance"]
                    elif path == "/scenario":
                        state.scenario = load_scenario(q["path"])
                        state.step, state.cursors = 0, {}
                    elif path == "/crumb":
                        if "require" in q:
                            if q["require"] not in ("0", "1"):
                                raise ValueError("require must be 0 or 1")
                            state.crumb_required = q["require"] == "1"
                        if q.get("expire") == "1":
                            state.crumbs = set()
                    elif path == "/freeze":
                        t = q.get("tickers", "")
                        if t == "none":
                            state.frozen = {}
                        else:
                            names = list(state.scenario["tickers"]) if t == "all" else \
                                [x.strip().upper() for x in t.split(",") if x.strip()]
                            if not names:
                                raise ValueError("tickers must be T1,T2, all or none")
                            for n in names:
                                state.frozen.setdefault(n, state.step)
                    elif path == "/period":
                        v = q.get("regular", "")
                        m = re.fullmatch(r"(\d{1,12}),(\d{1,12})", v)
                        if v in ("open", "ended", "none"):
                            state.period = v
                        elif m and int(m.group(1)) < int(m.group(2)):
                            state.period = (int(m.group(1)), int(m.group(2)))
                        else:
                            raise ValueError("regular must be open, ended, none or START,END "
                                             "(Unix seconds, START < END)")
                    elif path == "/reset":
                        state.reset()
                    else:
                        return self.reply(404, {"error": "unknown path"})
            except (ValueError, KeyError, OSError) as e:
                return self.reply(400, {"error": str(e)})
            snap = state.snapshot()
            log(f"control {path} {q} -> mode={snap['mode']} step={snap['step']} "
                f"encoding={snap['encoding']} advance={snap['advance']}")
            self.reply(200, {"ok": True, **snap})

    serve(host, port, Ctl)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--control-port", type=int, required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--scenario", required=True)
    args = p.parse_args()

    state = State(load_scenario(args.scenario))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2   # as Yahoo's and Stooq's front ends
    ctx.load_cert_chain(args.cert, args.key)
    srv = TLSServer((args.host, args.port), QuoteHandler)
    srv.ctx, srv.state = ctx, state
    control_server(args.host, args.control_port, state)
    log(f"quotes: https://{args.host}:{args.port}, control http://{args.host}:{args.control_port}, "
        f"scenario {args.scenario}")
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
