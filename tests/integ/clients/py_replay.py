#!/usr/bin/python3
"""Replays recorded LLM requests (../shared/fixtures/llm-traffic) against the
local provider, which answers each with the recorded response.

    py_replay.py URL CA FIXTURE.json... [--strip-usage] [--abort-after N]
                 [--key KEY] [--key-header NAME] [--marker TEXT] [--http2]

Sends each fixture's recorded method, path (query kept) and body, with
X-Test-Fixture naming it, one after the other on a keep-alive connection
(a new one after a connection the provider dropped).  The request carries
an API key: KEY (default a fresh random one) in the fixture provider's
header (Authorization: Bearer, x-api-key, x-goog-api-key, api-key for
Azure) or --key-header.  --marker TEXT is put into the prompt of every
request that has one (a planted secret for the no-leak tests; the request
is then no longer byte-for-byte the recording).  Prints one JSON line per
fixture: {"fixture", "pid", "status", "request_bytes", "response_bytes",
"error"}.  Run it with /usr/bin/python3 (Debian's libssl).  --http2: over
one HTTP/2 connection, with httpx (Debian's python3-httpx and python3-h2),
to a provider that speaks it (provider_h2.js); "proto" says what was used.
"""

import argparse
import gzip
import http.client
import json
import os
import ssl
import sys
import time

FIXTURES = os.path.join(os.environ.get("FIXTURES") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..", "shared", "fixtures"),
    "llm-traffic")


def key_header(fx):
    prov = fx.get("provider", "")
    if prov.startswith("anthropic"):
        return "x-api-key", "%s"
    if prov.startswith("gemini"):
        return "x-goog-api-key", "%s"
    if prov.startswith("azure"):
        return "api-key", "%s"
    return "Authorization", "Bearer %s"


def plant(body, marker):
    """The marker into the first user text of a JSON request."""
    try:
        obj = json.loads(body)
    except ValueError:
        return body

    def walk(o):
        if isinstance(o, dict):
            for k in ("content", "text", "input", "prompt"):
                if isinstance(o.get(k), str):
                    o[k] = o[k] + " " + marker
                    return True
            return any(walk(v) for v in o.values())
        if isinstance(o, list):
            return any(walk(v) for v in o)
        return False
    walk(obj)
    return json.dumps(obj)


def request_of(a, name, key):
    """The fixture's method, path, body and headers, as replayed."""
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as f:
        fx = json.load(f)
    body = fx.get("request_body") or ""
    if a.marker:
        body = plant(body, a.marker)
    hname, fmt = key_header(fx)
    if a.key_header:
        hname, fmt = a.key_header, "%s"
    headers = {"Content-Type": "application/json", "X-Test-Fixture": name,
               hname: fmt % key, "Accept-Encoding": "gzip"}
    if a.strip_usage:
        headers["X-Test-Strip-Usage"] = "1"
    if a.abort_after is not None:
        headers["X-Test-Abort-After-Events"] = str(a.abort_after)
    # some recorders lower-case the method ("post"): send it as sent
    return fx.get("method", "POST").upper(), fx["path"], body.encode(), headers


def replay_h2(a):
    import httpx
    key = a.key or "sk-replay-" + os.urandom(12).hex()
    client = httpx.Client(http2=True, verify=a.ca, timeout=30)
    for name in a.fixtures:
        method, path, data, headers = request_of(a, name, key)
        out = {"fixture": name, "pid": os.getpid(), "request_bytes": len(data)}
        try:
            with client.stream(method, a.url + path, content=data, headers=headers) as r:
                raw = b"".join(r.iter_bytes())	# decoded (gzip) by httpx
                out.update(status=r.status_code, response_bytes=len(raw),
                           proto=r.http_version)
        except (httpx.HTTPError, OSError) as e:
            out.update(error=type(e).__name__)
            time.sleep(0.05)
        print(json.dumps(out), flush=True)
    client.close()
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("ca")
    ap.add_argument("fixtures", nargs="+")
    ap.add_argument("--strip-usage", action="store_true")
    ap.add_argument("--abort-after", type=int)
    ap.add_argument("--key")
    ap.add_argument("--key-header")
    ap.add_argument("--marker")
    ap.add_argument("--http2", action="store_true")
    a = ap.parse_args()
    if a.http2:
        return replay_h2(a)
    host = a.url.split("://", 1)[1]
    ctx = ssl.create_default_context(cafile=a.ca)
    conn = None
    key = a.key or "sk-replay-" + os.urandom(12).hex()
    for name in a.fixtures:
        with open(os.path.join(FIXTURES, name), encoding="utf-8") as f:
            fx = json.load(f)
        body = fx.get("request_body") or ""
        if a.marker:
            body = plant(body, a.marker)
        data = body.encode()
        hname, fmt = key_header(fx)
        if a.key_header:
            hname, fmt = a.key_header, "%s"
        headers = {"Content-Type": "application/json", "X-Test-Fixture": name,
                   hname: fmt % key, "Accept-Encoding": "gzip"}
        if a.strip_usage:
            headers["X-Test-Strip-Usage"] = "1"
        if a.abort_after is not None:
            headers["X-Test-Abort-After-Events"] = str(a.abort_after)
        out = {"fixture": name, "pid": os.getpid(), "request_bytes": len(data)}
        try:
            if conn is None:
                conn = http.client.HTTPSConnection(host, context=ctx, timeout=30)
            # some recorders lower-case the method ("post"): send it as sent
            conn.request(fx.get("method", "POST").upper(), fx["path"], body=data,
                         headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            if resp.getheader("Content-Encoding") == "gzip":
                raw = gzip.decompress(raw)
            out.update(status=resp.status, response_bytes=len(raw))
            if resp.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException, EOFError) as e:
            out.update(error=type(e).__name__)
            if conn:
                conn.close()
            conn = None
            time.sleep(0.05)
        print(json.dumps(out), flush=True)
    if conn:
        conn.close()


if __name__ == "__main__":
    sys.exit(main())
