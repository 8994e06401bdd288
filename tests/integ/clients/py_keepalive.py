#!/usr/bin/python3
"""Back-to-back LLM calls on one keep-alive connection, going on after errors.

    py_keepalive.py URL CA --calls N [--model M] [--path P] [--usage SPEC]
                    [--max-tokens N] [--same-body] [--pause SEC] [--duration SEC]
                    [--fork]

Each call POSTs an OpenAI chat request (model M, default gpt-4o-mini; body
different per call unless --same-body) with X-Test-Usage: SPEC (the
provider's token numbers).  A failed call (a TLS or connection error: what
tollgate's block looks like) is reported and the client reconnects for the
next one.  --duration stops after SEC seconds (however many calls are
left).  --fork makes the calls from a forked child (no exec), the parent
waiting for it.  One JSON line per call: {"i", "status", "error", "t"} (t: the
CLOCK_MONOTONIC second the call ended).  Exits 0 however many calls failed:
a blocked request must not take the process down.  Run it with
/usr/bin/python3 (Debian's libssl).
"""

import argparse
import http.client
import json
import os
import ssl
import sys
import time
from urllib.parse import urlparse


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("ca")
    ap.add_argument("--calls", type=int, default=6)
    ap.add_argument("--model", default="gpt-4o-mini")
    ap.add_argument("--path", default="/v1/chat/completions")
    ap.add_argument("--usage", default="prompt=1000,completion=0")
    ap.add_argument("--max-tokens", type=int)
    ap.add_argument("--same-body", action="store_true")
    ap.add_argument("--pause", type=float, default=0)
    ap.add_argument("--duration", type=float)
    ap.add_argument("--fork", action="store_true")
    args = ap.parse_args()
    if args.fork:
        pid = os.fork()
        if pid:
            _, status = os.waitpid(pid, 0)
            return os.waitstatus_to_exitcode(status)
    t_end = time.monotonic() + args.duration if args.duration else None
    u = urlparse(args.url)
    ctx = ssl.create_default_context(cafile=args.ca)
    conn = None
    for i in range(args.calls):
        if t_end is not None and time.monotonic() >= t_end:
            break
        body = {"model": args.model,
                "messages": [{"role": "user",
                              "content": "hello" if args.same_body else "hello %d" % i}]}
        if args.max_tokens:
            body["max_tokens"] = args.max_tokens
        data = json.dumps(body).encode()
        out = {"i": i, "status": None, "error": None}
        try:
            if conn is None:
                conn = http.client.HTTPSConnection(u.hostname, u.port, context=ctx,
                                                   timeout=30)
            conn.request("POST", args.path, body=data, headers={
                "Content-Type": "application/json",
                "Authorization": "Bearer sk-test-keepalive",
                "X-Test-Usage": args.usage})
            r = conn.getresponse()
            r.read()
            out["status"] = r.status
        except Exception as e:  # noqa: BLE001 - every failure is reported
            out["error"] = "%s: %s" % (type(e).__name__, e)
            try:
                conn.close()
            except Exception:  # noqa: BLE001
                pass
            conn = None
        out["t"] = time.monotonic()
        print(json.dumps(out), flush=True)
        if args.pause:
            time.sleep(args.pause)
    print(json.dumps({"done": True, "pid": os.getpid()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
