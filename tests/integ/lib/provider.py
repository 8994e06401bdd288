#!/usr/bin/python3
"""A local HTTPS "LLM provider" for tollgate's integration tests.

    provider.py --certdir DIR --portfile FILE [--host 127.0.0.1] [--port 0] [--verbose]
                [--comm tg-provider] [--plain-portfile PFILE]

On start it makes, if DIR lacks them, a throw-away CA (ca.pem, ca.key) and a
server certificate for localhost / 127.0.0.1 / ::1 (server.pem, server.key)
with the `openssl` command; it listens on an ephemeral port, writes the port
to FILE once it is listening, and serves HTTP/1.1 over TLS with keep-alive
until SIGTERM or SIGINT.  Standard library only; run it with /usr/bin/python3.
It renames itself (comm) "tg-provider": it is an OpenSSL user too (the
server side of every exchange goes through its libssl.so.3 SSL_read/SSL_write),
so a global tracer sees it; tests tell it apart by comm or by its cgroup.
With --plain-portfile PFILE it also serves the same routes over plain
HTTP/1.1 (no TLS) on 127.0.0.1, on another ephemeral port written to PFILE
once listening, before --portfile's FILE (same handler, same /__test/stats
counts): the upstream of the HTTP/2 front provider_h2.js, whose relaying
tollgate does not see (plain HTTP is not captured).

Routes, matched on the path's API suffix whatever comes before it (as
tollgate matches them), for POST:
    .../chat/completions   OpenAI chat completions (stream: chat.completion.chunk SSE + [DONE])
    .../completions        OpenAI legacy completions
    .../responses          OpenAI Responses API (stream: response.* events, ends response.completed)
    .../embeddings         OpenAI embeddings
    .../v1/messages        Anthropic messages (stream: message_start ... message_stop)
    .../v1/messages/count_tokens   Anthropic token count (not a metered call)
    ...:generateContent    Gemini
    ...:streamGenerateContent      Gemini stream; ?alt=sse gives SSE (CRLF), otherwise a JSON array
    ...:embedContent, ...:batchEmbedContents   Gemini embeddings
Any GET (e.g. /v1/models) and any other path answer a small non-LLM JSON.
GET /__test/stats answers {"requests": N, "llm_requests": N}.

Bodies follow the shape of the recorded traffic in
/work/shared/fixtures/llm-traffic (ids, field order, pretty-printing of
OpenAI and Gemini bodies, CRLF in Gemini SSE), with the request's model
echoed and a usage object in the provider's own shape.

Usage numbers are deterministic.  Unless X-Test-Usage says otherwise:
    prompt     = max(1, decoded request body bytes // 4)   (all input tokens)
    completion = number of content deltas (X-Test-Events, default 5)
    cached = cache_write = reasoning = 0
X-Test-Usage: prompt=P,completion=C,cached=K,cache_write=W,reasoning=R
(any subset) overrides them.  Each provider reports them its own way:
OpenAI prompt_tokens=P with cached_tokens=K, completion_tokens=C with
reasoning_tokens=R; Anthropic input_tokens=P-K-W, cache_read=K,
cache_creation=W, output_tokens=C; Gemini promptTokenCount=P,
cachedContentTokenCount=K, candidatesTokenCount=C-R, thoughtsTokenCount=R.
Every LLM response carries X-Test-Usage with the numbers tollgate should
report (DESIGN.md §9 names), as JSON:
    {"input_tokens": P-K-W, "cached_input_tokens": K, "cache_write_tokens": W,
     "output_tokens": C, "reasoning_tokens": R, "reported": true|false}
("reported" is false where the provider sends no usage: an OpenAI stream
without stream_options.include_usage, Gemini embedContent, errors.)

Test knobs (request headers):
    X-Test-Events: N        content delta events in a stream (default 5)
    X-Test-Event-Delay-Ms: N  pause between stream events (default 0)
    X-Test-Chunked: 1       non-stream body sent chunked (streams always are)
    X-Test-Gzip: 1          gzip the response body (Content-Encoding: gzip)
    X-Test-Status: 429      answer that status with the provider's error JSON
    X-Test-Delay-Ms: N      wait before the first byte of the response
    X-Test-Usage: ...       token numbers, see above
    X-Test-Pad-Bytes: N     grow the generated text so the body is about N bytes
    X-Test-Close-Delimited: 1   no Content-Length, no chunking: body ends at close
    X-Test-Abort-After-Events: K  send K stream events, then drop the connection
                            (no terminating chunk); for non-stream, drop after
                            half the body
    X-Test-Close: 1         Connection: close after this response
    X-Test-Fixture: NAME    replay the recorded response of fixture NAME (a file of
                            $FIXTURES/llm-traffic, default ../shared/fixtures next
                            to the checkout): its status, Content-Type and body,
                            gzip bytes as recorded, SSE one event per write
    X-Test-Strip-Usage: 1   with X-Test-Fixture: remove every usage report
                            (usage, usageMetadata, x_groq.usage) from the body
                            (X-Test-Abort-After-Events applies to fixtures too)
Every response carries X-Test-Request-Bytes (decoded request body length
received) and X-Test-Request-Id; LLM responses also X-Test-Api (route
name), X-Test-Usage and, for streams, X-Test-Sse-Events (events sent).
"""

import argparse
import base64
import fcntl
import gzip
import http.server
import json
import os
import stat
import random
import signal
import socket
import ssl
import string
import subprocess
import sys
import threading
import time
import zlib

VERBOSE = False
STATS = {"requests": 0, "llm_requests": 0}
STATS_LOCK = threading.Lock()

WORDS = ["This", " is", " a", " test", " from", " the", " local", " provider", ".",
         " It", " streams", " one", " word", " per", " event", ",", " like", " a",
         " real", " model", " would", "."]

OPENSSL_CNF = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = tollgate test
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[v3_server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1,IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
"""


def log(msg):
    if VERBOSE:
        sys.stderr.write("provider: %s\n" % msg)
        sys.stderr.flush()


# --- certificates -------------------------------------------------------------

def ensure_certs(certdir):
    """Create ca.pem/ca.key/server.pem/server.key in certdir unless present.
    A lock file makes concurrent starts on one directory safe."""
    os.makedirs(certdir, mode=0o700, exist_ok=True)
    st = os.lstat(certdir)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o022:
        # someone else's directory could hold a CA of their choosing
        raise SystemExit("provider: %s is not a private directory of ours" % certdir)
    need = ["ca.pem", "server.pem", "server.key"]
    with open(os.path.join(certdir, ".lock"), "w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        if all(os.path.exists(os.path.join(certdir, f)) for f in need):
            return
        tmp = os.path.join(certdir, ".gen.%d" % os.getpid())
        os.makedirs(tmp)
        cnf = os.path.join(tmp, "openssl.cnf")
        with open(cnf, "w") as f:
            f.write(OPENSSL_CNF)

        def run(*args):
            r = subprocess.run(["openssl"] + list(args), cwd=tmp,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            if r.returncode != 0:
                raise SystemExit("provider: openssl %s failed:\n%s" %
                                 (args[0], r.stdout.decode(errors="replace")))

        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        run("req", "-x509", "-new", *ec, "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "3650", "-config", cnf, "-extensions", "v3_ca",
            "-subj", "/CN=tollgate test CA")
        run("req", "-new", *ec, "-keyout", "server.key", "-out", "server.csr",
            "-config", cnf, "-subj", "/CN=localhost")
        run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-set_serial", str(random.getrandbits(63)), "-days", "3650",
            "-extfile", cnf, "-extensions", "v3_server", "-out", "server.pem")
        for f in ["ca.key", "server.key", "ca.pem", "server.pem"]:
            os.replace(os.path.join(tmp, f), os.path.join(certdir, f))
        for f in os.listdir(tmp):
            os.unlink(os.path.join(tmp, f))
        os.rmdir(tmp)


# --- helpers --------------------------------------------------------------------

def rand_id(n, alphabet=string.ascii_letters + string.digits):
    return "".join(random.choice(alphabet) for _ in range(n))


def hex_id(n):
    return "".join(random.choice("0123456789abcdef") for _ in range(n))


def int_header(headers, name, default, lo=0, hi=1 << 40):
    v = headers.get(name)
    if v is None or v.strip() == "":
        return default
    try:
        return max(lo, min(hi, int(v.strip())))
    except ValueError:
        return default


def flag_header(headers, name):
    v = headers.get(name)
    return v is not None and v.strip().lower() in ("1", "true", "yes", "on")


def make_words(n, pad_to=0):
    """n text pieces (one per content event); if pad_to > 0, pad them so their
    total length reaches about pad_to bytes."""
    pieces = [WORDS[i % len(WORDS)] for i in range(max(n, 0))]
    if pad_to > 0 and pieces:
        have = sum(len(p) for p in pieces)
        missing = pad_to - have
        if missing > 0:
            filler = " lorem ipsum dolor sit amet"
            per = missing // len(pieces) + 1
            pieces = [p + (filler * (per // len(filler) + 1))[:per] for p in pieces]
    return pieces


class Usage:
    def __init__(self, prompt, completion, cached=0, cache_write=0, reasoning=0):
        self.completion = completion
        self.cached = cached
        self.cache_write = cache_write
        self.reasoning = min(reasoning, completion)
        self.prompt = max(prompt, cached + cache_write)
        self.reported = True

    def normalized(self):
        return {"input_tokens": self.prompt - self.cached - self.cache_write,
                "cached_input_tokens": self.cached,
                "cache_write_tokens": self.cache_write,
                "output_tokens": self.completion,
                "reasoning_tokens": self.reasoning,
                "reported": self.reported}


def parse_usage(headers, req_bytes, events):
    u = {"prompt": max(1, req_bytes // 4), "completion": events,
         "cached": 0, "cache_write": 0, "reasoning": 0}
    spec = headers.get("X-Test-Usage")
    if spec:
        for part in spec.replace(";", ",").split(","):
            if "=" in part:
                k, v = part.split("=", 1)
                k = k.strip().lower().replace("-", "_")
                if k in u:
                    try:
                        u[k] = max(0, int(v.strip()))
                    except ValueError:
                        pass
    return Usage(u["prompt"], u["completion"], u["cached"], u["cache_write"], u["reasoning"])


FIXTURE_DIR = os.path.join(os.environ.get("FIXTURES") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..", "shared", "fixtures"),
    "llm-traffic")


def load_fixture(name):
    if "/" in name or not name.endswith(".json"):
        return None
    try:
        with open(os.path.join(FIXTURE_DIR, name), encoding="utf-8") as f:
            return json.load(f)
    except OSError:
        return None


def split_events(body):
    """SSE text cut after each blank line (LF or CRLF), verbatim."""
    out, start, i = [], 0, 0
    while i < len(body):
        for sep in ("\r\n\r\n", "\n\n"):
            if body.startswith(sep, i):
                i += len(sep)
                out.append(body[start:i])
                start = i
                break
        else:
            i += 1
    if start < len(body):
        out.append(body[start:])
    return out


USAGE_KEYS = ("usage", "usageMetadata")


def drop_usage(obj):
    if isinstance(obj, dict):
        return {k: drop_usage(v) for k, v in obj.items() if k not in USAGE_KEYS}
    if isinstance(obj, list):
        return [drop_usage(v) for v in obj]
    return obj


def strip_usage(body, sse):
    """The body without any usage report (the estimate tests)."""
    if not sse:
        try:
            return json.dumps(drop_usage(json.loads(body)))
        except ValueError:
            return body
    out = []
    for ev in split_events(body):
        lines = []
        for line in ev.replace("\r\n", "\n").split("\n"):
            if line.startswith("data:"):
                data = line[5:].strip()
                try:
                    line = "data: " + json.dumps(drop_usage(json.loads(data)))
                except ValueError:
                    pass
            lines.append(line)
        out.append("\n".join(lines))
    return "".join(out)


def jdump(obj, pretty):
    if pretty:
        return json.dumps(obj, indent=2)
    return json.dumps(obj, separators=(",", ":"))


def sse(data, event=None, crlf=False):
    nl = "\r\n" if crlf else "\n"
    s = ""
    if event:
        s += "event: %s%s" % (event, nl)
    s += "data: %s%s%s" % (data, nl, nl)
    return s


def route(method, path):
    p = path.split("?", 1)[0].rstrip("/")
    if method == "GET" and p.endswith("/__test/stats"):
        return "stats"
    if method != "POST":
        return None
    last = p.rsplit("/", 1)[-1]
    if p.endswith("/chat/completions"):
        return "openai-chat"
    if p.endswith("/completions"):
        return "openai-completions"
    if p.endswith("/responses"):
        return "openai-responses"
    if p.endswith("/embeddings"):
        return "openai-embeddings"
    if p.endswith("/v1/messages/count_tokens"):
        return "anthropic-count-tokens"
    if p.endswith("/v1/messages"):
        return "anthropic-messages"
    if ":" in last:
        verb = last.rsplit(":", 1)[1]
        return {"generateContent": "gemini-generate",
                "streamGenerateContent": "gemini-stream",
                "embedContent": "gemini-embed",
                "batchEmbedContents": "gemini-batch-embed"}.get(verb)
    return None


def gemini_model(path):
    last = path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[0] or "gemini-2.0-flash"


def fake_vector(n, seed):
    r = random.Random(seed)
    return [round(r.uniform(-0.08, 0.08), 9) for _ in range(n)]


# --- response bodies ------------------------------------------------------------
# Each builder returns (content_type, pretty_body_str) for non-streams, or
# (content_type, [event strings]) for streams.

ERR_OPENAI = {
    400: ("invalid_request_error", None, "We could not parse the JSON body of your request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided: sk-test. You can find your API key at https://platform.openai.com/account/api-keys."),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Country, region, or territory not supported"),
    404: ("invalid_request_error", "model_not_found", "The model `%(model)s` does not exist or you do not have access to it."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for %(model)s in organization org-test on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s."),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    503: ("server_error", None, "The engine is currently overloaded, please try again later"),
}
ERR_ANTHROPIC = {
    400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
    404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
    500: "api_error", 529: "overloaded_error",
}
ERR_GEMINI = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
    404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def error_body(api, status, model):
    if api.startswith("anthropic"):
        t = ERR_ANTHROPIC.get(status, "api_error")
        msg = {"rate_limit_error": "Number of request tokens has exceeded your per-minute rate limit",
               "not_found_error": "model: %s" % model,
               "overloaded_error": "Overloaded"}.get(t, "test error %d" % status)
        return jdump({"type": "error", "error": {"type": t, "message": msg},
                      "request_id": "req_011C" + rand_id(20)}, False)
    if api.startswith("gemini"):
        st = ERR_GEMINI.get(status, "UNKNOWN")
        msg = {429: "Resource exhausted. Please try again later. Please refer to https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details."
               }.get(status, "test error %d" % status)
        return jdump({"error": {"code": status, "message": msg, "status": st}}, True)
    t, code, msg = ERR_OPENAI.get(status, ("server_error", None, "test error %d" % status))
    return jdump({"error": {"message": msg % {"model": model}, "type": t, "param": None,
                            "code": code}}, True)


def openai_chat_usage(u):
    return {"prompt_tokens": u.prompt, "completion_tokens": u.completion,
            "total_tokens": u.prompt + u.completion,
            "prompt_tokens_details": {"cached_tokens": u.cached, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": u.reasoning, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0,
                                          "rejected_prediction_tokens": 0}}


def openai_chat(req, model, u, pieces, stream):
    cid = "chatcmpl-" + rand_id(29)
    created = int(time.time())
    fp = "fp_" + hex_id(10)
    if not stream:
        body = {"id": cid, "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0,
                             "message": {"role": "assistant", "content": "".join(pieces),
                                         "refusal": None, "annotations": []},
                             "logprobs": None, "finish_reason": "stop"}],
                "usage": openai_chat_usage(u),
                "service_tier": "default", "system_fingerprint": fp}
        return "application/json", jdump(body, True)
    so = req.get("stream_options") if isinstance(req, dict) else None
    inc = isinstance(so, dict) and bool(so.get("include_usage"))
    u.reported = inc

    def chunk(delta, finish, choices=True):
        c = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
             "service_tier": "default", "system_fingerprint": fp,
             "choices": [{"index": 0, "delta": delta, "logprobs": None,
                          "finish_reason": finish}] if choices else []}
        if inc:
            c["usage"] = None
        return c

    ev = [sse(jdump(chunk({"role": "assistant", "content": "", "refusal": None}, None), False))]
    for p in pieces:
        ev.append(sse(jdump(chunk({"content": p}, None), False)))
    ev.append(sse(jdump(chunk({}, "stop"), False)))
    if inc:
        last = chunk(None, None, choices=False)
        last["usage"] = openai_chat_usage(u)
        ev.append(sse(jdump(last, False)))
    ev.append(sse("[DONE]"))
    return "text/event-stream; charset=utf-8", ev


def openai_completions(req, model, u, pieces, stream):
    cid = "cmpl-" + rand_id(29)
    created = int(time.time())
    usage = {"prompt_tokens": u.prompt, "completion_tokens": u.completion,
             "total_tokens": u.prompt + u.completion}
    if not stream:
        body = {"id": cid, "object": "text_completion", "created": created, "model": model,
                "choices": [{"text": "".join(pieces), "index": 0, "logprobs": None,
                             "finish_reason": "stop"}],
                "usage": usage}
        return "application/json", jdump(body, True)
    so = req.get("stream_options") if isinstance(req, dict) else None
    inc = isinstance(so, dict) and bool(so.get("include_usage"))
    u.reported = inc
    ev = []
    for i, p in enumerate(pieces + [""]):
        c = {"id": cid, "object": "text_completion", "created": created, "model": model,
             "choices": [{"text": p, "index": 0, "logprobs": None,
                          "finish_reason": "stop" if i == len(pieces) else None}]}
        if inc:
            c["usage"] = None
        ev.append(sse(jdump(c, False)))
    if inc:
        ev.append(sse(jdump({"id": cid, "object": "text_completion", "created": created,
                             "model": model, "choices": [], "usage": usage}, False)))
    ev.append(sse("[DONE]"))
    return "text/event-stream; charset=utf-8", ev


def openai_responses(req, model, u, pieces, stream):
    rid = "resp_" + hex_id(50)
    mid = "msg_" + hex_id(50)
    created = int(time.time())
    text = "".join(pieces)
    instructions = req.get("instructions") if isinstance(req, dict) else None

    def response(status, output, usage):
        return {"id": rid, "object": "response", "created_at": created, "status": status,
                "background": False, "completed_at": created if status == "completed" else None,
                "error": None, "incomplete_details": None, "instructions": instructions,
                "max_output_tokens": None, "max_tool_calls": None, "model": model,
                "output": output, "parallel_tool_calls": True, "previous_response_id": None,
                "prompt_cache_key": None, "reasoning": {"effort": None, "summary": None},
                "safety_identifier": None, "service_tier": "default", "store": True,
                "temperature": 1.0, "text": {"format": {"type": "text"}, "verbosity": "medium"},
                "tool_choice": "auto", "tools": [], "top_logprobs": 0, "top_p": 1.0,
                "truncation": "disabled", "usage": usage, "user": None, "metadata": {}}

    usage = {"input_tokens": u.prompt, "input_tokens_details": {"cached_tokens": u.cached},
             "output_tokens": u.completion,
             "output_tokens_details": {"reasoning_tokens": u.reasoning},
             "total_tokens": u.prompt + u.completion}
    part = {"type": "output_text", "annotations": [], "logprobs": [], "text": text}
    msg = {"id": mid, "type": "message", "status": "completed", "content": [part],
           "role": "assistant"}
    output = []
    if u.reasoning:
        output.append({"id": "rs_" + hex_id(50), "type": "reasoning", "summary": []})
    output.append(msg)
    if not stream:
        return "application/json", jdump(response("completed", output, usage), True)
    seq = [0]

    def ev(obj):
        obj["sequence_number"] = seq[0]
        seq[0] += 1
        return sse(jdump(obj, False), event=obj["type"])

    oi = len(output) - 1
    out = [ev({"type": "response.created", "response": response("in_progress", [], None)}),
           ev({"type": "response.in_progress", "response": response("in_progress", [], None)}),
           ev({"type": "response.output_item.added", "output_index": oi,
               "item": {"id": mid, "type": "message", "status": "in_progress", "content": [],
                        "role": "assistant"}}),
           ev({"type": "response.content_part.added", "content_index": 0, "item_id": mid,
               "output_index": oi,
               "part": {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}})]
    for p in pieces:
        out.append(ev({"type": "response.output_text.delta", "content_index": 0, "delta": p,
                       "item_id": mid, "logprobs": [], "obfuscation": rand_id(12),
                       "output_index": oi}))
    out.append(ev({"type": "response.output_text.done", "content_index": 0, "item_id": mid,
                   "logprobs": [], "output_index": oi, "text": text}))
    out.append(ev({"type": "response.content_part.done", "content_index": 0, "item_id": mid,
                   "output_index": oi, "part": part}))
    out.append(ev({"type": "response.output_item.done", "output_index": oi, "item": msg}))
    out.append(ev({"type": "response.completed",
                   "response": response("completed", output, usage)}))
    return "text/event-stream; charset=utf-8", out


def openai_embeddings(req, model, u, pieces, stream):
    inp = req.get("input") if isinstance(req, dict) else None
    n = len(inp) if isinstance(inp, list) and inp and not isinstance(inp[0], int) else 1
    dims = req.get("dimensions") if isinstance(req, dict) else None
    dims = dims if isinstance(dims, int) and 0 < dims <= 4096 else 16
    b64 = isinstance(req, dict) and req.get("encoding_format") == "base64"
    data = []
    for i in range(n):
        vec = fake_vector(dims, i)
        if b64:
            import struct
            emb = base64.b64encode(struct.pack("<%df" % dims, *vec)).decode()
        else:
            emb = vec
        data.append({"object": "embedding", "index": i, "embedding": emb})
    u.completion = 0
    u.reasoning = 0
    body = {"object": "list", "data": data, "model": model,
            "usage": {"prompt_tokens": u.prompt, "total_tokens": u.prompt}}
    return "application/json", jdump(body, True)


def anthropic_usage(u, output, start=False):
    return {"input_tokens": u.prompt - u.cached - u.cache_write,
            "cache_creation_input_tokens": u.cache_write,
            "cache_read_input_tokens": u.cached,
            "cache_creation": {"ephemeral_5m_input_tokens": u.cache_write,
                               "ephemeral_1h_input_tokens": 0},
            "output_tokens": output, "service_tier": "standard"}


def anthropic_messages(req, model, u, pieces, stream):
    mid = "msg_01" + rand_id(22)
    text = "".join(pieces)
    if not stream:
        body = {"id": mid, "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn", "stop_sequence": None,
                "usage": anthropic_usage(u, u.completion)}
        return "application/json", jdump(body, False)
    start = {"type": "message_start",
             "message": {"model": model, "id": mid, "type": "message", "role": "assistant",
                         "content": [], "stop_reason": None, "stop_sequence": None,
                         "usage": anthropic_usage(u, 1, start=True)}}
    ev = [sse(jdump(start, False), event="message_start"),
          sse(jdump({"type": "content_block_start", "index": 0,
                     "content_block": {"type": "text", "text": ""}}, False),
              event="content_block_start"),
          sse('{"type": "ping"}', event="ping")]
    for p in pieces:
        ev.append(sse(jdump({"type": "content_block_delta", "index": 0,
                             "delta": {"type": "text_delta", "text": p}}, False),
                      event="content_block_delta"))
    ev.append(sse('{"type":"content_block_stop","index":0}', event="content_block_stop"))
    du = {"input_tokens": u.prompt - u.cached - u.cache_write,
          "cache_creation_input_tokens": u.cache_write,
          "cache_read_input_tokens": u.cached, "output_tokens": u.completion}
    ev.append(sse(jdump({"type": "message_delta",
                         "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                         "usage": du}, False), event="message_delta"))
    ev.append(sse('{"type":"message_stop"}', event="message_stop"))
    return "text/event-stream; charset=utf-8", ev


def gemini_usage(u, candidates=None):
    cand = (u.completion - u.reasoning) if candidates is None else candidates
    m = {"promptTokenCount": u.prompt}
    if cand:
        m["candidatesTokenCount"] = cand
    m["totalTokenCount"] = u.prompt + cand + (u.reasoning if candidates is None else 0)
    if u.cached:
        m["cachedContentTokenCount"] = u.cached
        m["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": u.cached}]
    m["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": u.prompt}]
    if cand:
        m["candidatesTokensDetails"] = [{"modality": "TEXT", "tokenCount": cand}]
    if u.reasoning and candidates is None:
        m["thoughtsTokenCount"] = u.reasoning
    m["serviceTier"] = "standard"
    return m


def gemini_generate(req, model, u, pieces, stream, sse_mode=False):
    rid = rand_id(23)
    if not stream:
        body = {"candidates": [{"content": {"parts": [{"text": "".join(pieces)}],
                                            "role": "model"},
                                "finishReason": "STOP", "index": 0}],
                "usageMetadata": gemini_usage(u), "modelVersion": model, "responseId": rid}
        return "application/json; charset=UTF-8", jdump(body, True)
    chunks = []
    n = len(pieces)
    for i, p in enumerate(pieces):
        last = i == n - 1
        cand = {"content": {"parts": [{"text": p}], "role": "model"}}
        if last:
            cand["finishReason"] = "STOP"
            cand["index"] = 0
        # usage grows across chunks; the last one carries the final numbers
        usage = gemini_usage(u) if last else gemini_usage(u, candidates=0)
        chunks.append({"candidates": [cand], "usageMetadata": usage, "modelVersion": model,
                       "responseId": rid})
    if not chunks:
        chunks.append({"candidates": [{"content": {"parts": [{"text": ""}], "role": "model"},
                                       "finishReason": "STOP", "index": 0}],
                       "usageMetadata": gemini_usage(u), "modelVersion": model,
                       "responseId": rid})
    if sse_mode:
        return ("text/event-stream",
                [sse(json.dumps(c, separators=(",", ": ")), crlf=True) for c in chunks])
    # JSON array streamed element by element, as the real API does without alt=sse
    parts = []
    for i, c in enumerate(chunks):
        s = jdump(c, True)
        parts.append(("[" if i == 0 else "\n,\r\n") + s)
    parts[-1] += "\n]"
    return "application/json; charset=UTF-8", parts


def gemini_embed(req, model, u, pieces, stream, batch=False):
    u.completion = 0
    u.reasoning = 0
    if not batch:
        u.reported = False
        return "application/json; charset=UTF-8", jdump(
            {"embedding": {"values": fake_vector(16, 0)}}, True)
    reqs = req.get("requests") if isinstance(req, dict) else None
    n = len(reqs) if isinstance(reqs, list) and reqs else 1
    body = {"embeddings": [{"values": fake_vector(16, i)} for i in range(n)],
            "usageMetadata": {"promptTokenCount": u.prompt,
                              "promptTokenDetails": [{"modality": "TEXT",
                                                      "tokenCount": u.prompt}]}}
    return "application/json; charset=UTF-8", jdump(body, True)


DEFAULT_MODEL = {
    "openai-chat": "gpt-4o-mini", "openai-completions": "gpt-3.5-turbo-instruct",
    "openai-responses": "gpt-4o-mini", "openai-embeddings": "text-embedding-3-small",
    "anthropic-messages": "claude-haiku-4-5-20251001",
}


# --- the server -------------------------------------------------------------------

class ClientGone(Exception):
    pass


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    responses = dict(http.server.BaseHTTPRequestHandler.responses)
    responses[529] = ("Overloaded", "")
    server_version = "tollgate-test-provider"
    sys_version = ""
    timeout = 120           # idle keep-alive connections end after this

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):
        if VERBOSE:
            sys.stderr.write("provider: %s %s\n" % (self.address_string(), fmt % args))

    def setup(self):
        super().setup()
        if not isinstance(self.request, ssl.SSLSocket):
            return      # the plain HTTP listener (--plain-portfile)
        try:
            self.request.do_handshake()
        except (OSError, ssl.SSLError) as e:
            log("handshake failed: %s" % e)
            self.close_connection = True
            raise ClientGone()

    def handle(self):
        try:
            super().handle()
        except (ClientGone, ConnectionError, ssl.SSLError, socket.timeout, OSError) as e:
            log("connection ended: %r" % (e,))
            self.close_connection = True

    def finish(self):
        try:
            super().finish()
        except (OSError, ssl.SSLError):
            pass

    # Every method goes through dispatch.
    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def do_HEAD(self):
        self.read_body()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "0")
        self.end_headers()

    # -- request body ----------------------------------------------------------
    def read_exact(self, n):
        out = bytearray()
        while len(out) < n:
            b = self.rfile.read(n - len(out))
            if not b:
                raise ClientGone("short body")
            out += b
        return bytes(out)

    def read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            out = bytearray()
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ClientGone("eof in chunk size")
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while True:     # trailers
                        t = self.rfile.readline(65537)
                        if not t or t in (b"\r\n", b"\n"):
                            break
                    break
                out += self.read_exact(size)
                self.rfile.readline(65537)      # CRLF after the chunk
            raw = bytes(out)
        else:
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.read_exact(n) if n > 0 else b""
        ce = (self.headers.get("Content-Encoding") or "").lower()
        if ce in ("gzip", "x-gzip"):
            raw = gzip.decompress(raw)
        elif ce == "deflate":
            raw = zlib.decompress(raw)
        return raw

    # -- response writing --------------------------------------------------------
    def write(self, data):
        if isinstance(data, str):
            data = data.encode()
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except (OSError, ssl.SSLError) as e:
            raise ClientGone(str(e))

    def abort(self):
        """Drop the connection without finishing the HTTP message."""
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.close_connection = True
        raise ClientGone("abort requested")

    def start(self, status, ctype, extra, framing, gz):
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in extra:
            self.send_header(k, v)
        if gz:
            self.send_header("Content-Encoding", "gzip")
        if framing == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
        elif isinstance(framing, int):
            self.send_header("Content-Length", str(framing))
        if self.close_connection or framing == "close":
            self.close_connection = True
            self.send_header("Connection", "close")
        else:
            self.send_header("Connection", "keep-alive")
        self.end_headers()
        self.wfile.flush()

    def send_piece(self, data, framing):
        if isinstance(data, str):
            data = data.encode()
        if not data:
            return
        if framing == "chunked":
            self.write(b"%x\r\n" % len(data) + data + b"\r\n")
        else:
            self.write(data)

    def end_body(self, framing):
        if framing == "chunked":
            self.write(b"0\r\n\r\n")

    def send_whole(self, status, ctype, body, extra, chunked, gz, close_delim, abort):
        data = body.encode() if isinstance(body, str) else body
        if gz:
            data = gzip.compress(data, 6)
        framing = "close" if close_delim else ("chunked" if chunked else len(data))
        self.start(status, ctype, extra, framing, gz)
        if abort:
            self.send_piece(data[:len(data) // 2], framing)
            self.abort()
        if framing == "chunked":
            # a few chunks, as real servers flush as they go
            step = max(1, min(16384, (len(data) + 2) // 3))
            for i in range(0, len(data), step):
                self.send_piece(data[i:i + step], framing)
            self.end_body(framing)
        else:
            self.write(data)

    def send_stream(self, status, ctype, events, extra, gz, close_delim, abort_after,
                    event_delay):
        framing = "close" if close_delim else "chunked"
        self.start(status, ctype, extra, framing, gz)
        comp = zlib.compressobj(6, zlib.DEFLATED, 31) if gz else None
        for i, e in enumerate(events):
            if abort_after is not None and i >= abort_after:
                self.abort()
            if event_delay and i:
                time.sleep(event_delay / 1000.0)
            data = e.encode()
            if comp:
                data = comp.compress(data) + comp.flush(zlib.Z_SYNC_FLUSH)
            self.send_piece(data, framing)
        if comp:
            self.send_piece(comp.flush(), framing)
        self.end_body(framing)

    # -- recorded responses ---------------------------------------------------------

    def send_fixture(self, name, extra, strip, abort_after, close_delim):
        fx = load_fixture(name)
        if fx is None:
            self.send_whole(404, "application/json", '{"error":"no such fixture"}', extra,
                            False, False, close_delim, False)
            return
        ctype = None	# sent as recorded: none when the recording has none
        for k, v in fx.get("response_headers", {}).items():
            if k.lower() == "content-type":
                ctype = v if isinstance(v, str) else v[0]
        body = fx["response_body"]
        raw = fx.get("response_body_base64")
        gz = raw is not None
        status = fx["status"]
        sse = ctype.startswith("text/event-stream") if ctype else \
            body.lstrip().startswith(("data:", "event:"))
        if strip:
            body = strip_usage(body, sse)
        if not sse:
            if gz and not strip:
                # the recorded wire bytes, as the provider sent them
                data = base64.b64decode(raw)
                self.start(status, ctype, extra + [("Content-Encoding", "gzip")],
                           "close" if close_delim else len(data), False)
                if abort_after is not None:
                    self.write(data[:len(data) // 2])
                    self.abort()
                self.write(data)
                return
            self.send_whole(status, ctype, body, extra, False, gz, close_delim,
                            abort_after is not None)
            return
        events = split_events(body)
        extra.append(("X-Test-Sse-Events", str(len(events))))
        self.send_stream(status, ctype, events, extra, gz, close_delim, abort_after, 0)

    # -- dispatch -------------------------------------------------------------------
    def dispatch(self):
        with STATS_LOCK:
            STATS["requests"] += 1
        reqno = STATS["requests"]
        h = self.headers
        body = self.read_body()
        nbytes = len(body)
        if flag_header(h, "X-Test-Close") or (h.get("Connection") or "").lower() == "close":
            self.close_connection = True
        extra = [("X-Test-Request-Bytes", str(nbytes)), ("X-Test-Request-Id", str(reqno))]
        api = route(self.command, self.path)
        chunked = flag_header(h, "X-Test-Chunked")
        gz = flag_header(h, "X-Test-Gzip")
        close_delim = flag_header(h, "X-Test-Close-Delimited")
        abort_after = h.get("X-Test-Abort-After-Events")
        abort_after = int_header(h, "X-Test-Abort-After-Events", 0) if abort_after else None
        delay = int_header(h, "X-Test-Delay-Ms", 0, hi=600000)
        status = int_header(h, "X-Test-Status", 200, lo=100, hi=599)

        fixture = h.get("X-Test-Fixture")
        if fixture and self.command == "POST":
            with STATS_LOCK:
                STATS["llm_requests"] += 1
            self.send_fixture(fixture, extra, flag_header(h, "X-Test-Strip-Usage"),
                              abort_after, close_delim)
            return

        if api is None or api in ("stats", "anthropic-count-tokens"):
            if delay:
                time.sleep(delay / 1000.0)
            if api == "stats":
                with STATS_LOCK:
                    obj = dict(STATS)
            elif api == "anthropic-count-tokens":
                obj = {"input_tokens": max(1, nbytes // 4)}
            elif self.path.split("?", 1)[0].rstrip("/").endswith("/models"):
                obj = {"object": "list", "data": [
                    {"id": m, "object": "model", "created": 1715367049, "owned_by": "system"}
                    for m in ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small")]}
            else:
                obj = {"ok": True, "method": self.command, "path": self.path}
            self.send_whole(200, "application/json", jdump(obj, False), extra, chunked, gz,
                            close_delim, False)
            return

        with STATS_LOCK:
            STATS["llm_requests"] += 1
        try:
            req = json.loads(body.decode("utf-8")) if body else {}
        except (ValueError, UnicodeDecodeError):
            req = None
        if api.startswith("gemini"):
            model = gemini_model(self.path)
        elif isinstance(req, dict) and isinstance(req.get("model"), str):
            model = req["model"]
        else:
            model = DEFAULT_MODEL.get(api, "unknown")
        extra.append(("X-Test-Api", api))
        if req is None or not isinstance(req, dict):
            status = 400
        if api.startswith("anthropic"):
            extra += [("request-id", "req_011C" + rand_id(20)),
                      ("anthropic-organization-id", "00000000-0000-0000-0000-000000000000")]
        elif api.startswith("openai"):
            extra += [("x-request-id", "req_" + hex_id(32)), ("openai-version", "2020-10-01"),
                      ("openai-processing-ms", str(random.randint(80, 900)))]
        if delay:
            time.sleep(delay / 1000.0)

        if status != 200:
            u = Usage(0, 0)
            u.reported = False
            extra.append(("X-Test-Usage", jdump(u.normalized(), False)))
            if status == 429 and api.startswith("openai"):
                extra.append(("retry-after", "20"))
            self.send_whole(status, "application/json", error_body(api, status, model), extra,
                            chunked, gz, close_delim, abort_after is not None)
            return

        path_q = self.path.split("?", 1)[1] if "?" in self.path else ""
        if api == "gemini-stream":
            stream = True
        elif api.startswith("gemini") or api.endswith("embeddings"):
            stream = False
        else:
            stream = req.get("stream") is True
        events = int_header(h, "X-Test-Events", 5, hi=1000000)
        pad = int_header(h, "X-Test-Pad-Bytes", 0, hi=1 << 30)
        u = parse_usage(h, nbytes, events)
        pieces = make_words(events, pad)

        if api == "openai-chat":
            ctype, out = openai_chat(req, model, u, pieces, stream)
        elif api == "openai-completions":
            ctype, out = openai_completions(req, model, u, pieces, stream)
        elif api == "openai-responses":
            ctype, out = openai_responses(req, model, u, pieces, stream)
        elif api == "openai-embeddings":
            ctype, out = openai_embeddings(req, model, u, pieces, stream)
        elif api == "anthropic-messages":
            ctype, out = anthropic_messages(req, model, u, pieces, stream)
        elif api in ("gemini-generate", "gemini-stream"):
            alt_sse = "alt=sse" in path_q.split("&")
            ctype, out = gemini_generate(req, model, u, pieces, stream, sse_mode=alt_sse)
        else:
            ctype, out = gemini_embed(req, model, u, pieces, stream,
                                      batch=(api == "gemini-batch-embed"))
        extra.append(("X-Test-Usage", jdump(u.normalized(), False)))
        if stream:
            extra.append(("X-Test-Sse-Events", str(len(out))))
            if ctype.startswith("text/event-stream"):
                extra.append(("Cache-Control", "no-cache"))
            self.send_stream(200, ctype, out, extra, gz, close_delim, abort_after,
                             int_header(h, "X-Test-Event-Delay-Ms", 0, hi=60000))
        else:
            self.send_whole(200, ctype, out, extra, chunked, gz, close_delim,
                            abort_after is not None)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, ctx):
        self.ctx = ctx          # None: plain HTTP, no TLS
        if ":" in addr[0]:
            self.address_family = socket.AF_INET6
        super().__init__(addr, Handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        # The handshake runs in the handler's thread (Handler.setup), so a
        # client that connects and stalls cannot block the accept loop.
        sock.settimeout(Handler.timeout)
        if self.ctx is None:
            return sock, addr
        return self.ctx.wrap_socket(sock, server_side=True,
                                    do_handshake_on_connect=False), addr

    def handle_error(self, request, client_address):
        if VERBOSE:
            super().handle_error(request, client_address)


def main():
    # a request nested thousands deep is valid JSON a real provider takes
    # (tollgate's fail-closed test sends one)
    sys.setrecursionlimit(20000)
    global VERBOSE
    ap = argparse.ArgumentParser(description="local HTTPS LLM provider for tests")
    ap.add_argument("--certdir", required=True)
    ap.add_argument("--portfile", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--plain-portfile",
                    help="also serve plain HTTP/1.1 (no TLS) on 127.0.0.1, an ephemeral "
                         "port written to this file once listening")
    ap.add_argument("--comm", default="tg-provider",
                    help="process name (comm) to take, so tests can tell the provider's "
                         "own SSL_read/SSL_write calls from the clients' (default tg-provider)")
    a = ap.parse_args()
    VERBOSE = a.verbose
    if a.comm:
        try:    # PR_SET_NAME; threads started later inherit it
            import ctypes
            ctypes.CDLL(None, use_errno=True).prctl(15, a.comm.encode()[:15], 0, 0, 0)
        except (OSError, AttributeError):
            pass
    ensure_certs(a.certdir)

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(a.certdir, "server.pem"),
                        os.path.join(a.certdir, "server.key"))
    ctx.set_alpn_protocols(["http/1.1"])
    srv = Server((a.host, a.port), ctx)
    port = srv.server_address[1]
    servers = [srv]
    if a.plain_portfile:
        plain = Server(("127.0.0.1", 0), None)
        servers.append(plain)

    def stop(signum, frame):
        for s in servers:
            threading.Thread(target=s.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if a.plain_portfile:
        # written before --portfile, so waiting for that one is enough
        threading.Thread(target=plain.serve_forever, kwargs={"poll_interval": 0.2},
                         daemon=True).start()
        pport = plain.server_address[1]
        tmp = a.plain_portfile + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % pport)
        os.replace(tmp, a.plain_portfile)
        log("plain HTTP listening on 127.0.0.1:%d" % pport)
    tmp = a.portfile + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, a.portfile)
    log("listening on %s:%d" % (a.host, port))
    try:
        srv.serve_forever(poll_interval=0.2)
    finally:
        for s in servers:
            s.server_close()


if __name__ == "__main__":
    main()
