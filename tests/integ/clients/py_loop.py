#!/usr/bin/python3
"""Sequential LLM calls for the ledger's crash test.

    py_loop.py URL CA --calls N [--prefix P] [--events K] [--stop-file F]

Call i asks for model P-i, every third one streamed (K events, a few ms
apart, include_usage), on a keep-alive connection (a new one after an
error).  One JSON line per call: {"i", "model", "start_ns", "end_ns",
"status", "usage" (the provider's X-Test-Usage), "error"}, times from
CLOCK_REALTIME.  Stops early when --stop-file exists.  Run it with
/usr/bin/python3 (Debian's libssl).
"""

import argparse
import http.client
import json
import os
import ssl
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("ca")
    ap.add_argument("--calls", type=int, default=100)
    ap.add_argument("--prefix", default="crash")
    ap.add_argument("--events", type=int, default=20)
    ap.add_argument("--stop-file")
    a = ap.parse_args()
    host = a.url.split("://", 1)[1]
    ctx = ssl.create_default_context(cafile=a.ca)
    conn = None
    for i in range(a.calls):
        if a.stop_file and os.path.exists(a.stop_file):
            break
        model = "%s-%d" % (a.prefix, i)
        stream = i % 3 == 0
        body = {"model": model, "messages": [{"role": "user", "content": "call %d" % i}]}
        headers = {"Content-Type": "application/json",
                   "Authorization": "Bearer sk-test-loop"}
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
            headers["X-Test-Events"] = str(a.events)
            headers["X-Test-Event-Delay-Ms"] = "5"
        out = {"i": i, "model": model, "stream": stream, "start_ns": time.time_ns()}
        try:
            if conn is None:
                conn = http.client.HTTPSConnection(host, context=ctx, timeout=30)
            conn.request("POST", "/v1/chat/completions", body=json.dumps(body),
                         headers=headers)
            resp = conn.getresponse()
            resp.read()
            out["status"] = resp.status
            out["usage"] = json.loads(resp.getheader("X-Test-Usage") or "null")
        except (OSError, http.client.HTTPException) as e:
            out["error"] = type(e).__name__
            if conn:
                conn.close()
            conn = None
        out["end_ns"] = time.time_ns()
        print(json.dumps(out), flush=True)
    if conn:
        conn.close()


if __name__ == "__main__":
    sys.exit(main())
