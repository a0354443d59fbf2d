#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The stack's quote server: HTTPS, Yahoo Finance chart API shape, scripted by a scenario.

  GET /v8/finance/chart/{TICKER}[?anything]   -> Yahoo chart JSON (200), or for a ticker not
      in the scenario 404 {"chart": {"result": null, "error": {"code": "Not Found", ...}}}
  GET /health                                 -> {"ok": true}

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
  POST /reset    step 0, cursors 0, mode normal, encoding length, advance manual
"""
import argparse
import json
import os
import re
import socket
import ssl
import struct
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

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
        self.encoding, self.advance = "length", "manual"

    def snapshot(self):
        with self.lock:
            return {"mode": self.mode, "count": self.count, "delay_ms": self.delay_ms,
                    "encoding": self.encoding, "advance": self.advance, "step": self.step,
                    "cursors": dict(self.cursors), "served": self.served,
                    "scenario": self.scenario["path"],
                    "tickers": {k: len(v["prices"]) for k, v in self.scenario["tickers"].items()}}

    def take_fault(self):
        with self.lock:
            mode, delay = self.mode, self.delay_ms
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
            if t is None:
                return None
            if self.advance == "request":
                step = self.cursors.get(symbol.upper(), 0)
                self.cursors[symbol.upper()] = step + 1
            else:
                step = self.step
            prices = t["prices"]
            i = min(step, len(prices) - 1)
            prev = prices[i - 1] if i > 0 else prices[0]
            self.served += 1
            when = int(sc["start_time"]) + step * int(sc["step_seconds"])
            return {"symbol": symbol.upper(), "price": prices[i], "prev": prev, "time": when,
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
            "validRanges": ["1d", "5d"]},
        "timestamp": [t],
        "indicators": {"quote": [{"open": [q["prev"]], "high": [max(p, q["prev"])],
                                  "low": [min(p, q["prev"])], "close": [p], "volume": [0]}]},
    }], "error": None}}


def error_body(code, description):
    return {"chart": {"result": None, "error": {"code": code, "description": description}}}


class QuoteHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60            # idle keep-alive connections are closed after this
    wbufsize = -1           # head and body leave in one write (flushed in send_json)
    server_version = "tickwatch-stack-quoted/1"

    def log_message(self, fmt, *a):
        log(f"{self.client_address[0]}:{self.client_address[1]} {fmt % a}")

    def send_json(self, code, obj, extra=()):
        st = self.server.state
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json;charset=utf-8")
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

    def do_GET(self):
        path = urlparse(self.path).path
        if path == "/health":
            return self.send_json(200, {"ok": True})
        m = re.fullmatch(r"/v8/finance/chart/([^/]+)", path)
        if not m:
            return self.send_json(404, error_body("Not Found", "HTTP 404 Not Found"))
        mode, delay = self.server.state.take_fault()
        if mode == "reset":
            log(f"fault reset for {path}")
            return self.reset_connection()
        if mode == "slow":
            log(f"fault slow {delay} ms for {path}")
            time.sleep(delay / 1000.0)
        elif mode != "normal":
            code = int(mode)
            log(f"fault {code} for {path}")
            return self.send_json(code, error_body(HTTPStatus(code).phrase, "stack fault mode"))
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
                        state.mode, state.count = mode, count
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
    ctx.load_cert_chain(args.cert, args.key)
    srv = TLSServer((args.host, args.port), QuoteHandler)
    srv.ctx, srv.state = ctx, state
    control_server(args.host, args.control_port, state)
    log(f"quotes: https://{args.host}:{args.port}, control http://{args.host}:{args.control_port}, "
        f"scenario {args.scenario}")
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
