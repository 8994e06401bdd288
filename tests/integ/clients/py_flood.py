#!/usr/bin/python3
"""Holds N TLS connections each in the middle of a gzip-encoded LLM request
whose body decodes to far more than any cap: the head and all but the last
bytes of the body are sent, then nothing, for --hold seconds; then the
connections close.  What an agent that buffers request bodies must survive.

    py_flood.py URL [--conns N] [--mib M] [--hold SEC] [--ca CA]

Prints {"pid", "conns", "body_bytes"} once everything is sent, then holds.
Run it with /usr/bin/python3 (Debian's, on the system libssl).
"""

import argparse
import json
import os
import socket
import ssl
import sys
import time
import urllib.parse
import zlib


def body(mib):
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [z.compress(b'{"model":"gpt-flood","messages":[{"role":"user","content":"')]
    chunk = b"a" * (1 << 20)
    for _ in range(mib):
        out.append(z.compress(chunk))
    out.append(z.compress(b'"}]}'))
    out.append(z.flush())
    return b"".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--conns", type=int, default=16)
    ap.add_argument("--mib", type=int, default=200)
    ap.add_argument("--hold", type=float, default=5)
    ap.add_argument("--ca", default=os.environ.get("TG_CA"))
    a = ap.parse_args()
    u = urllib.parse.urlsplit(a.url)
    ctx = ssl.create_default_context(cafile=a.ca)
    data = body(a.mib)
    head = ("POST /v1/chat/completions HTTP/1.1\r\nHost: %s:%d\r\n"
            "Authorization: Bearer sk-test-0000000000000000\r\n"
            "Content-Type: application/json\r\nContent-Encoding: gzip\r\n"
            "Content-Length: %d\r\n\r\n" % (u.hostname, u.port, len(data))).encode()
    socks = []
    for _ in range(a.conns):
        s = ctx.wrap_socket(socket.create_connection((u.hostname, u.port)),
                            server_hostname=u.hostname)
        s.sendall(head)
        s.sendall(data[:-100])
        socks.append(s)
    print(json.dumps({"pid": os.getpid(), "conns": len(socks), "body_bytes": len(data)}),
          flush=True)
    time.sleep(a.hold)
    for s in socks:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
