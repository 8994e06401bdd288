#!/usr/bin/python3
"""LLM API client on python3's http.client.HTTPSConnection (Debian's python3,
whose ssl module uses the system libssl.so.3).

    py_http.py URL [CA] [--path P] [--model M] [--stream] [--include-usage]
               [--events N] [--body-bytes N] [--repeat K] [--pause SEC]
               [--dlopen-delay SEC] [--header 'K: V']... [--gzip] [--req-chunked]
               [--absolute USERINFO] [--timeout SEC]

URL is the provider's base URL (https://127.0.0.1:PORT), CA the CA file
(default: --ca or $TG_CA).  Prints one JSON line:
    {"status", "response_bytes", "request_bytes", "events", "requests",
     "connections", "statuses", "pid", "provider": {X-Test-* headers of the last response}}
response_bytes / request_bytes / events are summed over --repeat requests;
response_bytes is the decoded body (chunking and gzip removed); events
counts SSE events (blocks with a data: line).  Exits 1 if a request failed
(status >= 400 or a cut-off body: then "error" says why), 2 on bad usage.

--dlopen-delay SEC sleeps before ssl and http.client are imported, so
libssl.so.3 is mapped (dlopen of _ssl) SEC seconds after the process started.
--events N asks the provider for N content events (X-Test-Events).
--body-bytes N pads the prompt so the JSON body is exactly N bytes.
--req-chunked sends the request body with Transfer-Encoding: chunked.
--pause SEC waits between --repeat requests (on the same connection).
--absolute USERINFO sends the request-target in absolute form with that
userinfo: https://USERINFO@HOST:PORT/path (as a proxy-style client may).
Run it with /usr/bin/python3 (the python3 on PATH may be a pyenv build with
its own OpenSSL).
"""

import argparse
import json
import os
import re
import sys
import time

# $TG_TEST_KEY replaces the API key, $TG_TEST_PROMPT is added to the prompt
# (planted secrets for the tests that check nothing leaks).
KEY = os.environ.get("TG_TEST_KEY")
PROMPT_EXTRA = os.environ.get("TG_TEST_PROMPT", "")
FILLER = " lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor"
DEFAULT_MODEL = {"chat": "gpt-4o-mini", "completions": "gpt-3.5-turbo-instruct",
                 "responses": "gpt-4o-mini", "embeddings": "text-embedding-3-small",
                 "anthropic": "claude-haiku-4-5-20251001"}


def api_of(path):
    p = path.split("?", 1)[0].rstrip("/")
    if p.endswith("/chat/completions"):
        return "chat"
    if p.endswith("/completions"):
        return "completions"
    if p.endswith("/responses"):
        return "responses"
    if p.endswith("/embeddings"):
        return "embeddings"
    if p.endswith("/messages"):
        return "anthropic"
    if re.search(r":(stream)?[gG]enerateContent$", p):
        return "gemini"
    if re.search(r":(batch)?[eE]mbedContents?$", p):
        return "gemini-embed"
    return "other"


def stream_path(path, stream):
    if stream and re.search(r":generateContent(\?|$)", path):
        return (path.replace(":generateContent", ":streamGenerateContent") +
                ("&" if "?" in path else "?") + "alt=sse")
    return path


def build_body(path, model=None, stream=False, include_usage=False, body_bytes=0,
               prompt="Say this is a test"):
    """JSON request body (bytes) for the path's API, the same as _common.js."""
    api = api_of(path)
    model = model or DEFAULT_MODEL.get(api, "gpt-4o-mini")
    prompt += PROMPT_EXTRA

    def make(text):
        if api == "completions":
            o = {"model": model, "prompt": text, "max_tokens": 64}
        elif api == "responses":
            o = {"model": model, "input": text, "instructions": "You are a helpful assistant."}
        elif api == "embeddings":
            return {"model": model, "input": text}
        elif api == "anthropic":
            o = {"model": model, "max_tokens": 1024,
                 "messages": [{"role": "user", "content": text}]}
        elif api == "gemini":
            return {"contents": [{"role": "user", "parts": [{"text": text}]}]}
        elif api == "gemini-embed":
            return {"content": {"parts": [{"text": text}]}}
        else:
            o = {"model": model, "messages": [{"role": "user", "content": text}]}
        if stream:
            o["stream"] = True
            if include_usage and api in ("chat", "completions"):
                o["stream_options"] = {"include_usage": True}
        return o

    enc = lambda o: json.dumps(o, separators=(",", ":")).encode()
    body = enc(make(prompt))
    if body_bytes > len(body):
        need = body_bytes - len(body)
        pad = (FILLER * (need // len(FILLER) + 1))[:need]
        body = enc(make(prompt + pad))
    return body


def auth_headers(path):
    api = api_of(path)
    if api == "anthropic":
        return {"x-api-key": KEY or "sk-ant-test-0000000000", "anthropic-version": "2023-06-01"}
    if api.startswith("gemini"):
        return {"x-goog-api-key": KEY or "AIzaTest000000000000"}
    return {"Authorization": "Bearer " + (KEY or "sk-test-0000000000000000")}


def count_sse(text):
    return sum(1 for b in re.split(r"\r?\n\r?\n", text) if re.search(r"(?m)^data:", b))


def provider_info(resp):
    o = {}
    v = resp.getheader("X-Test-Request-Bytes")
    if v is not None:
        o["request_bytes"] = int(v)
    v = resp.getheader("X-Test-Usage")
    if v:
        try:
            o["usage"] = json.loads(v)
        except ValueError:
            pass
    v = resp.getheader("X-Test-Sse-Events")
    if v is not None:
        o["sse_events"] = int(v)
    v = resp.getheader("X-Test-Api")
    if v:
        o["api"] = v
    return o


def main():
    ap = argparse.ArgumentParser(description="LLM API call over http.client")
    ap.add_argument("url", nargs="?", default=os.environ.get("TG_URL"))
    ap.add_argument("ca_pos", nargs="?", metavar="CA")
    ap.add_argument("--ca", default=None)
    ap.add_argument("--path", default="/v1/chat/completions")
    ap.add_argument("--model")
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--include-usage", action="store_true",
                    help="stream_options.include_usage (OpenAI chat/completions)")
    ap.add_argument("--events", type=int)
    ap.add_argument("--body-bytes", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--dlopen-delay", type=float, default=0)
    ap.add_argument("--header", action="append", default=[])
    ap.add_argument("--gzip", action="store_true", help="ask for a gzip body (X-Test-Gzip)")
    ap.add_argument("--req-chunked", action="store_true")
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--pause", type=float, default=0)
    ap.add_argument("--blocking", action="store_true",
                    help="no socket timeout: SSL_read itself waits for the response")
    ap.add_argument("--absolute", metavar="USERINFO")
    a = ap.parse_args()
    if not a.url:
        ap.error("no base URL (argument or TG_URL)")
    ca = a.ca_pos or a.ca or os.environ.get("TG_CA")

    if a.dlopen_delay > 0:
        time.sleep(a.dlopen_delay)
    # Imported only now: with --dlopen-delay libssl arrives late, by dlopen.
    import http.client
    import ssl
    import urllib.parse
    import zlib

    u = urllib.parse.urlsplit(a.url)
    if u.scheme != "https":
        ap.error("URL must be https://")
    base = u.path.rstrip("/")
    path = base + stream_path(a.path, a.stream)
    target = path
    if a.absolute:
        target = "https://%s@%s:%d%s" % (a.absolute, u.hostname, u.port or 443, path)
    ctx = ssl.create_default_context(cafile=ca)
    connects = [0]

    class Conn(http.client.HTTPSConnection):
        def connect(self):
            connects[0] += 1
            super().connect()

    conn = Conn(u.hostname, u.port or 443, context=ctx,
                timeout=None if a.blocking else a.timeout)
    headers = {"Content-Type": "application/json", "Accept": "application/json",
               "User-Agent": "tollgate-test-py_http/1"}
    headers.update(auth_headers(path))
    if a.events is not None:
        headers["X-Test-Events"] = str(a.events)
    if a.gzip:
        headers["X-Test-Gzip"] = "1"
        headers["Accept-Encoding"] = "gzip"
    for h in a.header:
        k, sep, v = h.partition(":")
        if not sep:
            ap.error("bad --header %r (want 'Name: value')" % h)
        headers[k.strip()] = v.strip()

    body = build_body(a.path, a.model, a.stream, a.include_usage, a.body_bytes)
    out = {"status": None, "response_bytes": 0, "request_bytes": 0, "events": 0,
           "requests": 0, "connections": 0, "statuses": [], "pid": os.getpid()}
    ok = True
    for n in range(max(1, a.repeat)):
        if n and a.pause:
            time.sleep(a.pause)
        try:
            if a.req_chunked:
                conn.request("POST", target, body=iter([body[i:i + 16384]
                                                        for i in range(0, len(body), 16384)]),
                             headers=headers, encode_chunked=True)
            else:
                conn.request("POST", target, body=body, headers=headers)
            out["request_bytes"] += len(body)
            resp = conn.getresponse()
            raw = bytearray()
            try:
                while True:     # read as it arrives, as streaming clients do
                    b = resp.read1(65536)
                    if not b:
                        break
                    raw += b
                raw += resp.read()   # marks the response done: keep-alive reuse
            except http.client.IncompleteRead as e:
                raw += e.partial
                out["error"] = "incomplete body"
            except (OSError, ssl.SSLError) as e:
                out["error"] = "read: %s" % e
            enc = (resp.getheader("Content-Encoding") or "").lower()
            if enc == "gzip":
                try:
                    data = zlib.decompressobj(31).decompress(bytes(raw))
                except zlib.error as e:
                    data = b""
                    out["error"] = "gzip: %s" % e
            else:
                data = bytes(raw)
            out["status"] = resp.status
            out["statuses"].append(resp.status)
            out["response_bytes"] += len(data)
            if (resp.getheader("Content-Type") or "").startswith("text/event-stream"):
                out["events"] += count_sse(data.decode("utf-8", "replace"))
            out["provider"] = provider_info(resp)
            out["requests"] += 1
            if resp.status >= 400 or "error" in out:
                ok = False
            if "error" in out:
                break
        except (OSError, ssl.SSLError, http.client.HTTPException) as e:
            out["error"] = "%s: %s" % (type(e).__name__, e)
            ok = False
            break
    conn.close()
    out["connections"] = connects[0]
    print(json.dumps(out), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
