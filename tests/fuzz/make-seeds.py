#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# make-seeds.py - (re)write the hand-made seeds of tests/fuzz/corpus/<target>/seed-*: real inputs
# taken from the repository (captured Yahoo answers of tests/unit/data, the docs' JSON-RPC
# examples, the board configurations, the demo replay file, the unit tests' cases). Files that
# libFuzzer added (run.sh --merge: names are SHA-1 sums) are left alone; the seed-* files of a
# target are removed first, so a seed renamed or dropped here does not linger.
#
# usage: tests/fuzz/make-seeds.py
import glob
import hashlib
import hmac
import json
import os
import re
import struct

here = os.path.dirname(os.path.abspath(__file__))
repo = os.path.dirname(os.path.dirname(here))


def read(path):
    with open(os.path.join(repo, path), "rb") as f:
        return f.read()


cleared = set()


def write(target, name, data):
    d = os.path.join(here, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if target not in cleared:  # a seed renamed or dropped here does not linger
        cleared.add(target)
        for old in glob.glob(os.path.join(d, "seed-*")):
            os.remove(old)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


quotes = sorted(glob.glob(os.path.join(repo, "tests/unit/data/quotes/*")))
alert = read("tests/unit/data/alert/higher.json")

# JSON-RPC requests: the docs' examples (lines starting with the arrow) and a few edge cases.
rpc_lines = []
for line in read("docs/rpc.md").decode().splitlines():
    m = re.match(r'^(?:→ )?(\{"jsonrpc".*"method".*\})\s*$', line)
    if m:
        rpc_lines.append(m.group(1).replace('"token":"..."', '"token":"s3cret"'))
rpc_lines += [
    '{"jsonrpc":"2.0","id":"a","method":"quote.average","params":{"email":"a@b.c","n":5}}',
    '{"jsonrpc":"2.0","id":null,"method":"user.list","params":{"limit":2,"after":"a@b.c"}}',
    '{"jsonrpc":"2.0","method":"agent.status"}',
    '{"jsonrpc":"2.0","id":9,"method":"quote.last","params":{"ticker":"AAPL"}}',
    '{"jsonrpc":"2.0","id":10,"method":"user.delete","params":{"email":"a@b.c","request_id":"d-1"}}',
    '[{"jsonrpc":"2.0","id":1,"method":"agent.status"}]',
    '{"jsonrpc":"2.0","id":11,"method":"user.get","params":{"email":"\\u00e9@x.y"},"token":"s3cret"}',
    '{"jsonrpc":"2.0","id":12,"method":"alert.update","params":{"email":"a@b.c","id":2,"enabled":true,"expires_ms":null,"cooldown_s":60,"rearm_pct":0.5,"request_id":"u-1"}}',
    '{"jsonrpc":"2.0","id":13,"method":"alert.remove","params":{"email":"a@b.c","id":0,"request_id":"r-0"}}',
    '{"jsonrpc":"2.0","id":14,"method":"alert.add","params":{"email":"a@b.c","ticker":"X","kind":"cross","level":1,"frequency":"once","request_id":"a-1"}}',
]

# ---- json: every JSON text of the repository's tests and docs ----
for p in quotes:
    if p.endswith(".json"):
        write("json", os.path.basename(p), open(p, "rb").read())
write("json", "alert-higher.json", alert)
write("json", "alert-higher-v2.json", read("tests/unit/data/alert/higher-v2.json"))
for i, l in enumerate(rpc_lines):
    write("json", "rpc-%02d" % i, l.encode())
write("json", "escapes", b'["a\\"b\\\\c\\/\\b\\f\\n\\r\\t","\\u00e9\\u20ac\\ud83d\\ude00",-0,1.5e-3,true,false,null,{}]')
write("json", "bare-number", b"2")

# ---- rpc: control byte (outcome, token, chunking) + request lines ----
body = ("\n".join(rpc_lines) + "\n").encode()
write("rpc", "docs-ok", b"\x00" + body)
write("rpc", "docs-token-chunked", b"\x58" + body)
write("rpc", "docs-exists", b"\x02" + body)
write("rpc", "docs-sync-fail", b"\x07" + body)
write("rpc", "crlf-blank", b"\x30" + b'\r\n\n{"jsonrpc":"2.0","id":1,"method":"agent.status"}\r\n')
write("rpc", "long-line", b"\x00" + b'{"jsonrpc":"2.0","id":4,"method":"user.get","params":{"email":"' + b"b" * 3000 + b'@example.com"}}\n')

# ---- http: responses as the quote server and Yahoo send them ----
msft = read("tests/unit/data/quotes/yahoo-msft.json")
notfound = read("tests/unit/data/quotes/yahoo-notfound.json")
cl = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(msft) + msft
chunks = b"".join(b"%x\r\n%s\r\n" % (len(msft[i:i + 100]), msft[i:i + 100]) for i in range(0, len(msft), 100))
chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n" + chunks + b"0\r\nX-Trailer: 1\r\n\r\n"
write("http", "content-length", b"\x0f" + cl)
write("http", "chunked-split", b"\x7f" + chunked)
write("http", "continue-then-404", b"\x2e" + b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: %d\r\n\r\n" % len(notfound) + notfound)
write("http", "no-content", b"\x0a" + b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
write("http", "until-close", b"\x1c" + b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\n" + msft[:200])
write("http", "too-big", b"\x03" + b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
write("http", "keep-alive-two", b"\x0f" + cl + cl)

# ---- yahoo: the captured answers, for each ticker slot ----
for p in quotes:
    data = open(p, "rb").read()
    n = os.path.basename(p)
    write("yahoo", "msft-" + n, b"\x18" + data)
    write("yahoo", "aapl-" + n, b"\x19" + data)

write("yahoo", "meta-bad", b"\x19" + b'{"chart":{"result":[{"meta":{"symbol":"AAPL","currency":"usd",'
      b'"exchangeName":" NMS","chartPreviousClose":NaN,"regularMarketPrice":190.5,'
      b'"regularMarketTime":1764363600}}],"error":null}}')
write("yahoo", "meta-good", b"\x19" + b'{"chart":{"result":[{"meta":{"symbol":"AAPL","currency":"EUR",'
      b'"exchangeName":"Xetra \\u0041","chartPreviousClose":1e9,"regularMarketPrice":190.5,'
      b'"regularMarketTime":1764363600}}],"error":null}}')

# ---- replay: the demo scenario and the format's cases ----
write("replay", "demo", b"\x3f" + read("scripts/demo/scenario.replay"))
write("replay", "steps", b"\x07# time ticker price\n1764363600 AAPL 191.23\n1764363600 msft 412.5\n\n"
      b"1764363660\tAAPL\t192 # up\r\n1764363720 BRK-B 1e2\n")
write("replay", "prev-currency-exchange", b"\x07# time ticker price [prev=] [currency=] [exchange=]\n"
      b"1764363600 AAPL 191.23 prev=190.5 currency=USD exchange=NMS\n"
      b"1764363600 SAP.DE 240 exchange=GER currency=EUR\n1764363660 AAPL 192 prev=190.5\n"
      b"1764363660 MSFT 410 exchange=X\n")
write("replay", "bad-prev", b"\x07" + b"1764363600 MSFT 410 prev=0 currency=usd exchange=\n")

# ---- smtp_reply: what the stack's SMTP server and real relays answer ----
write("smtp_reply", "session", b"\x00220 mx.example ESMTP ready\r\n250-mx.example\r\n250-PIPELINING\r\n"
      b"250-SIZE 10240000\r\n250-AUTH PLAIN LOGIN\r\n250-STARTTLS\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
      b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued\r\n221 Bye\r\n")
write("smtp_reply", "split", b"\x03220-first\r\n220 second\n334 VXNlcm5hbWU6\r\n235 2.7.0 ok\r\n"
      b"421 4.3.2 closing\r\n")
write("smtp_reply", "auth-eq", b"\x07250-x\r\n250-AUTH=LOGIN PLAIN\r\n250 SIZE\r\n")

# ---- smtp_format: SUBJECT NUL BODY ----
write("smtp_format", "alert", b"\x01AAPL is above 190.00: 191.23\x00"
      b"AAPL traded at 191.23 at 2026-01-01 00:00 UTC, above your high threshold of 190.00.\n")
write("smtp_format", "dots", b"\x00.\x00.\n..\r\n.x\n\n.\r\n" + b"y" * 1200 + b"\n.")
write("smtp_format", "utf8", "\x01Prix \u20ac: 12 \u00e9l\u00e9phant =?x?= " .encode() + b"x" * 80 + b"\x00"
      + "tr\u00e8s\tcher = \u20ac\r.\rend".encode())

# ---- notif: a message value (bit 0 clear), or a crossing to build (bit 0 set) ----
# Format version 2 (docs/notifications.md): one line, fields in the writer's order, signed last
# with ,"sig":"<HMAC-SHA256 hex of every byte before it, the comma included>"}. The key is the
# one fuzz_notif.c holds (its 64 hex digits are the HMAC key, as tw_notif_key_set() keeps
# them), so a seed written here passes the signature check and reaches the field reader. The
# target also signs what it is given (a value ending in '}' gets the tail), so each message is
# kept both signed and unsigned; a few refusals (v1, another key, a bad tail) cover the checks
# that come before the fields.
NOTIF_KEY = b"00112233445566778899aabbccddeeff" * 2


def notif_esc(s):
    o = bytearray(b'"')
    for ch in s.encode():
        if ch in (0x22, 0x5c):
            o += b"\\" + bytes([ch])
        elif ch == 0x0a:
            o += b"\\n"
        elif ch < 0x20 or ch == 0x7f:
            o += b"\\u%04x" % ch
        else:
            o.append(ch)
    return bytes(o + b'"')


def notif_num(v):
    """tw_notif_number(): the fewest decimals that read back as the same double."""
    for prec in range(18):
        t = "%.*f" % (prec, v)
        if float(t) == v:
            return t.encode()
    return ("%.17g" % v).encode()


def notif_unsigned(ident, email, ticker, value, threshold, cond, qt, subject, body):
    """The writer's bytes before the signature, closed with '}' (the target signs it)."""
    return (b'{"v":2,"id":' + notif_esc(ident) + b',"email":' + notif_esc(email)
            + b',"ticker":' + notif_esc(ticker) + b',"value":' + notif_num(value)
            + b',"threshold":' + notif_num(threshold) + b',"condition":"' + cond.encode()
            + b'","quote_time":%d,"subject":' % qt + notif_esc(subject) + b',"body":'
            + notif_esc(body) + b"}")


def notif_sign(unsigned, key=NOTIF_KEY):
    head = unsigned[:-1] + b","
    return head + b'"sig":"' + hmac.new(key, head, hashlib.sha256).hexdigest().encode() + b'"}'


v2 = json.loads(read("tests/unit/data/alert/higher-v2.json"))
docs_msg = json.loads(re.search(rb"```json\n(.*?)```", read("docs/notifications.md"), re.S).group(1))
fields = ("id", "email", "ticker", "value", "threshold", "condition", "quote_time", "subject", "body")
notif_msgs = {
    "alert-higher": notif_unsigned(*(v2[f] for f in fields)),
    "docs-example": notif_unsigned(*(docs_msg[f] for f in fields)),
    "lower": notif_unsigned("0f1e2d3c4b5a69788796a5b4c3d2e1f0", "bob@example.org", "BRK-B", 99.5, 100.0,
                            "lower", 1767225600, "BRK-B is below 100.00: 99.50",
                            "BRK-B traded at 99.50 at 2026-01-01 00:00 UTC, below your low threshold of 100.00.\n"),
    "escapes": notif_unsigned("ffffffffffffffffffffffffffffffff", "o'neil+fx@mail.example.co.uk", "EURUSD=X",
                              1.0850001, 1.085, "higher", 253402300799,
                              "Prix \u20ac \"haut\" \\ 1.09 \u00e9\U0001f600",
                              "l1\nl2\tt\x7f\x01 \u00e9l\u00e9phant \u20ac \U0001f4c8 end\n"),
    "index": notif_unsigned("00000000000000000000000000000000", "a@b.co", "^GSPC", 0.0001, 12345678.9,
                            "lower", 0, "^GSPC is below 12345678.90: 0.00", "x"),
    "long-body": notif_unsigned("1234567890abcdef1234567890abcdef", "carol@example.net", "MSFT", 412.5, 400,
                                "higher", 1767225600, "MSFT is above 400.00: 412.50",
                                ("MSFT traded at 412.50, above 400.00. " * 100) + "\n"),
}
for name, m in notif_msgs.items():
    write("notif", "v2-" + name, b"\x00" + m)
    write("notif", "v2-signed-" + name, b"\x00" + notif_sign(m))
# refusals before the fields: the old version, another database's key (the unit tests'), a
# tail that is not lower-case hex, a field the writer does not write, a field twice
write("notif", "v1-refused", b"\x00" + alert)
write("notif", "v2-other-key", b"\x00" + read("tests/unit/data/alert/higher-v2.json").strip())
signed = notif_sign(notif_msgs["alert-higher"])
write("notif", "v2-sig-upper", b"\x00" + signed[:-66] + signed[-66:-2].upper() + b'"}')
write("notif", "v2-extra-field", b"\x00" + notif_sign(notif_msgs["alert-higher"][:-1] + b',"x":1}'))
write("notif", "v2-email-twice", b"\x00" + notif_sign(notif_msgs["alert-higher"][:-1] + b',"email":"m@x.y"}'))
write("notif", "build-higher", b"\x03alice@example.com\x00AAPL\x00" + struct.pack("<ddqqq", 191.23, 190.0, 1767225600123, 191, 3))
write("notif", "build-lower", b"\x01bob@example.org\x00BRK-B\x00" + struct.pack("<ddqqq", 99.5, 100.0, 1767225600000, 99, 0))
write("notif", "build-close", b"\x03a@b.co\x00EURUSD=X\x00" + struct.pack("<ddqqq", 1.0850001, 1.085, 253402300799999, 1, 7))

# ---- config: a file (bit 0 clear) or "section.key" NUL value (bit 0 set) ----
write("config", "good", b"\x00" + read("tests/unit/data/good.conf"))
for b in sorted(glob.glob(os.path.join(repo, "board/*/tickwatch.conf"))):
    write("config", "board-" + os.path.basename(os.path.dirname(b)), b"\x00" + open(b, "rb").read())
write("config", "kafka-extra", b"\x00[kafka]\nbootstrap = k1:9092,k2:9092\nlinger.ms = 5\n; c\n# c\n[smtp]\nuser = u\npassword = p w\n")
for i, (k, v) in enumerate([("smtp.from", "tickwatch <alerts@example.com>"), ("quotes.interval", "90s"),
                            ("agent.log_level", "debug"), ("limits.arena_kb", "4096"),
                            ("smtp.verify", "false"), ("kafka.fetch_max_bytes", "2m"),
                            ("rpc.listen", "0.0.0.0:7070"), ("db.write_url", "postgresql://u:p@h:5432/db")]):
    write("config", "set-%d" % i, b"\x01" + k.encode() + b"\x00" + v.encode())
# every key of agent/core/config.c's table at its default, as one file (each as `config set`
# reaches no edge the set-* seeds above do not: one per kind of value is enough)
cfg_keys = re.findall(r'^\s*\{"([a-z]+)", "([a-z_.]+)", [A-Z]+\([^)]*\),\s*"([^"]*)"',
                      read("agent/core/config.c").decode(), re.M)
defaults = b""
for sec in dict.fromkeys(k[0] for k in cfg_keys):
    defaults += b"[%s]\n" % sec.encode() + b"".join(b"%s = %s\n" % (k.encode(), v.encode())
                                                   for s_, k, v in cfg_keys if s_ == sec and v)
write("config", "defaults", b"\x00" + defaults)
print("seeds written under", os.path.join(here, "corpus"))
