#!/usr/bin/python3
"""LLM API calls over HTTP/2 with httpx (Debian's python3-httpx 0.23 and
python3-h2, on Debian's libssl.so.3 through the ssl module), one after the
other on one connection.

    py_httpx_h2.py --url URL --ca CA [-n N] [--stream] [--path P] [--delay-ms MS]
                   [--warmup] [--header 'K: V']... [--timeout SEC]

httpx.Client(http2=True, verify=CA); N (default 3) sequential POSTs of an
OpenAI chat body ({"model": "gpt-4o-mini", "messages": [{"role": "user",
"content": "hello h2 #i"}]}; --stream adds "stream": true and
stream_options.include_usage and reads the answer line by line with
client.stream(); otherwise client.post()) with
Authorization: Bearer sk-test-httpx ($TG_TEST_KEY if set).  Each answer must
come over HTTP/2.  --delay-ms sleeps before each call; httpx connects at its
first request, so --warmup first makes a GET /v1/models (not an LLM call,
not printed) to have the connection open during the first sleep.  One JSON
line per call:
    {"i", "status", "bytes", "usage", "http_version"}   (+ "error" when it failed)
bytes: the response body as received (not decoded); usage: the X-Test-Usage
response header, parsed, or null.  Then {"pid", "calls", "ok"}.  Exits 1 if
a call failed (status >= 400, not HTTP/2, an error).  Run it with
/usr/bin/python3.
"""

import argparse
import json
import os
import sys
import time

import httpx


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default=os.environ.get("TG_URL"))
    ap.add_argument("--ca", default=os.environ.get("TG_CA"))
    ap.add_argument("-n", type=int, default=3)
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--path", default="/v1/chat/completions")
    ap.add_argument("--delay-ms", type=int, default=0)
    ap.add_argument("--warmup", action="store_true")
    ap.add_argument("--header", action="append", default=[])
    ap.add_argument("--timeout", type=float, default=60)
    a = ap.parse_args()
    if not a.url:
        ap.error("no --url (or $TG_URL)")

    base = a.url.rstrip("/")
    headers = {
        "content-type": "application/json",
        "accept": "application/json",
        "authorization": "Bearer " + (os.environ.get("TG_TEST_KEY") or "sk-test-httpx"),
        "user-agent": "tollgate-test-py_httpx_h2/1",
    }
    for h in a.header:
        k, sep, v = h.partition(":")
        if not sep or not k.strip():
            ap.error("bad --header %r (want 'Name: value')" % h)
        headers[k.strip().lower()] = v.strip()

    calls = ok = 0
    with httpx.Client(http2=True, verify=a.ca or True, timeout=a.timeout) as client:
        if a.warmup:
            client.get(base + "/v1/models", headers={"user-agent": headers["user-agent"]}).read()
        for i in range(max(1, a.n)):
            if a.delay_ms:
                time.sleep(a.delay_ms / 1000.0)
            req = {"model": "gpt-4o-mini",
                   "messages": [{"role": "user",
                                 "content": "hello h2 #%d" % i + os.environ.get("TG_TEST_PROMPT", "")}]}
            if a.stream:
                req["stream"] = True
                req["stream_options"] = {"include_usage": True}
            body = json.dumps(req, separators=(",", ":")).encode()
            out = {"i": i, "status": None, "bytes": 0, "usage": None, "http_version": None}
            r = None

            def head(r):
                out["status"] = r.status_code
                out["http_version"] = r.http_version
                u = r.headers.get("x-test-usage")
                if u:
                    try:
                        out["usage"] = json.loads(u)
                    except ValueError:
                        pass

            try:
                if a.stream:
                    with client.stream("POST", base + a.path, content=body,
                                       headers=headers) as r:
                        head(r)
                        for _ in r.iter_lines():
                            pass
                else:
                    r = client.post(base + a.path, content=body, headers=headers)
                    head(r)
                if r.http_version != "HTTP/2":
                    out["error"] = "not HTTP/2: %s" % r.http_version
            except (httpx.HTTPError, OSError) as e:
                out["error"] = "%s: %s" % (type(e).__name__, e)
            if r is not None:
                out["bytes"] = r.num_bytes_downloaded
            calls += 1
            if "error" not in out and out["status"] < 400:
                ok += 1
            print(json.dumps(out), flush=True)
    print(json.dumps({"pid": os.getpid(), "calls": calls, "ok": ok}), flush=True)
    return 0 if ok == calls else 1


if __name__ == "__main__":
    sys.exit(main())
