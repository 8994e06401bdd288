#!/usr/bin/python3
"""Checks tollgate's metering of replayed fixtures (tests/integ/test_meter.sh).

    check_meter.py RECORDS REPLAY [--mode exact|estimate|cut] [--name PREFIX]
                   [--calc-price NODE SCRIPT] [--only FIXTURE...]

RECORDS is tollgate's JSON-lines output, REPLAY the output of
clients/py_replay.py (one line per fixture, in the order sent).  The
records of the replay's pid are paired with its lines in order.  Prints a
PASS or FAIL line per fixture:

  exact     the record's buckets equal the fixture's expected usage (in the
            §9 convention), usage_source "provider" (or "estimated" where
            the recording reports none), the status as recorded, error
            responses cost nothing; with --calc-price, cost_usd equals what
            @pydantic/genai-prices' calcPrice gives for the same model and
            usage (a differential check), and a model it prices is never
            unpriced here.
  estimate  the response was replayed without usage: usage_source is
            "estimated", all input and output are within the tolerance of
            the fixture's figures (OpenAI models, whose tokenizers are public,
            1 %; Anthropic and Gemini 10 %; other families, counted with
            OpenAI's tokenizer, 35 %; at least 1 token).
  cut       the response was cut off after some events: the record says
            cut_off, is estimated (or carries the provider's partial report)
            and costs more than nothing.
"""

import argparse
import decimal
import json
import os
import re
import subprocess
import sys

FIXTURES = os.path.join(os.environ.get("FIXTURES") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..", "shared", "fixtures"),
    "llm-traffic")
BUCKETS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens",
           "reasoning_tokens")


def expected(fx):
    """The fixture's usage in §9 buckets (non-overlapping input), or None."""
    n = fx["expected_usage"].get("normalized") or {}
    if not n.get("usage_reported"):
        return None
    prov = fx.get("provider", "")
    g = lambda k: int(n.get(k) or 0)
    if prov.startswith("anthropic"):
        return {"input_tokens": g("input_tokens"),
                "cached_input_tokens": g("cache_read_input_tokens"),
                "cache_write_tokens": g("cache_creation_input_tokens"),
                "output_tokens": g("output_tokens"), "reasoning_tokens": 0}
    if prov.startswith("gemini"):
        return {"input_tokens": g("input_tokens") - g("cached_input_tokens")
                + g("tool_use_prompt_tokens"),
                "cached_input_tokens": g("cached_input_tokens"), "cache_write_tokens": 0,
                "output_tokens": g("output_tokens") + g("reasoning_tokens"),
                "reasoning_tokens": g("reasoning_tokens")}
    return {"input_tokens": g("input_tokens") - g("cached_input_tokens"),
            "cached_input_tokens": g("cached_input_tokens"), "cache_write_tokens": 0,
            "output_tokens": g("output_tokens"), "reasoning_tokens": g("reasoning_tokens")}


def nano(rec):
    v = rec.get("cost_usd")
    return None if v is None else int(decimal.Decimal(str(v)) * 10**9)


def load_jsonl(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                out.append(json.loads(line, parse_float=decimal.Decimal))
    return out


def calc_prices(node, script, recs):
    lines = "".join(json.dumps({"model": r.get("model"), "provider": r.get("provider"),
                                **{k: int(r.get(k) or 0) for k in BUCKETS}}) + "\n"
                    for r in recs)
    p = subprocess.run([node, script], input=lines, capture_output=True, text=True,
                       timeout=120)
    if p.returncode:
        sys.exit("calc_price failed: " + p.stderr[-500:])
    return [json.loads(l) for l in p.stdout.splitlines() if l.strip()]


OPENAI_MODEL = re.compile(r"^(openai/)?(gpt-|o[1-9]|chatgpt-|text-embedding-|davinci|babbage)")


ESTIMATED_MODEL = re.compile(r"^(models/)?(claude-|gemini-)")


def tolerance(rec):
    """OpenAI's tokenizers are public: 1 %.  Anthropic's and Google's are
    estimated by calibration: 10 %.  Other families (DeepSeek, Llama on
    Groq) are counted with o200k_base and OpenAI's chat format, which is
    not theirs: 35 %."""
    model = rec.get("model") or ""
    if OPENAI_MODEL.match(model):
        return 0.01
    return 0.10 if ESTIMATED_MODEL.match(model) else 0.35


def within(got, want, tol):
    return abs(got - want) <= max(1, tol * want)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("records")
    ap.add_argument("replay")
    ap.add_argument("--mode", default="exact", choices=("exact", "estimate", "cut"))
    ap.add_argument("--name", default="meter")
    ap.add_argument("--calc-price", nargs=2, metavar=("NODE", "SCRIPT"))
    a = ap.parse_args()
    replay = load_jsonl(a.replay)
    if not replay:
        print("FAIL %s: the replay client sent nothing" % a.name)
        return 1
    pid = replay[0]["pid"]
    recs = [r for r in load_jsonl(a.records) if r.get("pid") == pid]
    prices = calc_prices(*a.calc_price, recs) if a.calc_price else None
    bad = 0
    if len(recs) != len(replay):
        print("FAIL %s_count: %d records for %d calls of pid %d" % (a.name, len(recs),
                                                                   len(replay), pid))
        bad += 1
    for i, (call, rec) in enumerate(zip(replay, recs)):
        name = "%s_%s" % (a.name, call["fixture"][:-5])
        with open(os.path.join(FIXTURES, call["fixture"]), encoding="utf-8") as f:
            fx = json.load(f)
        why = check(a.mode, fx, call, rec, prices[i] if prices else None)
        if why:
            print("FAIL %s: %s" % (name, why))
            bad += 1
        else:
            print("PASS %s" % name)
    return 1 if bad else 0


def got_buckets(rec):
    return {k: rec.get(k) for k in BUCKETS}


def check(mode, fx, call, rec, price):
    if call.get("error") and mode != "cut":
        return "the client failed: %s" % call["error"]
    if mode != "cut" and rec.get("status") != fx["status"]:
        return "status %s, recorded %s" % (rec.get("status"), fx["status"])
    want = expected(fx)
    got = got_buckets(rec)
    if mode == "exact":
        if fx["status"] >= 400:
            if any(got.values()) or nano(rec) != 0:
                return "an error response billed: %s $%s" % (got, rec.get("cost_usd"))
            return None
        if want is None:
            if rec.get("usage_source") != "estimated":
                return "no usage reported, yet usage_source %s" % rec.get("usage_source")
            if not rec.get("output_tokens") or not rec.get("input_tokens"):
                return "an estimate of nothing: %s" % got
        else:
            if got != want:
                return "buckets %s, expected %s" % (got, want)
            if rec.get("usage_source") != "provider":
                return "usage_source %s" % rec.get("usage_source")
        return check_price(rec, price)
    if mode == "estimate":
        if rec.get("usage_source") != "estimated":
            return "usage_source %s after usage was stripped" % rec.get("usage_source")
        tol = tolerance(rec)
        gin = sum(got[k] for k in BUCKETS[:3])
        win = sum(want[k] for k in BUCKETS[:3])
        print("# %s: in %d (provider %d), out %d (provider %d)" % (
            fx.get("provider"), gin, win, got["output_tokens"], want["output_tokens"]))
        if not within(gin, win, tol) or not within(got["output_tokens"], want["output_tokens"],
                                                   tol):
            return "estimated in=%d out=%d, provider in=%d out=%d (tolerance %d%%)" % (
                gin, got["output_tokens"], win, want["output_tokens"], tol * 100)
        return None
    # cut
    if rec.get("capture") != "cut_off":
        return "capture %s for a response cut off" % rec.get("capture")
    if not rec.get("input_tokens") and not rec.get("cached_input_tokens"):
        return "no input metered: %s" % got
    if not nano(rec):
        return "a cut-off call metered as free"
    return None


def check_price(rec, price):
    if price is None:
        return None
    ours = nano(rec)
    if price.get("nano") is None:
        # the package has no price either: ours must be the default, flagged
        if not rec.get("unpriced"):
            return "priced by us (%s), unknown to genai-prices" % rec.get("cost_usd")
        return None
    if rec.get("unpriced"):
        return "unpriced, but genai-prices prices %s as %s nano-USD" % (rec.get("model"),
                                                                      price["nano"])
    if abs(ours - price["nano"]) > 1:
        return "cost %s nano-USD, genai-prices %s (model %s)" % (ours, price["nano"],
                                                               rec.get("model"))
    return None


if __name__ == "__main__":
    sys.exit(main())
