#!/usr/bin/python3
"""Assertions on JSON-lines records (`tollgate trace --format jsonl`, the
--events file).

    check_records.py FILE [--match COND]... [--exclude COND]...
                     [--expect-count N | --min-count N | --max-count N]
                     [--get KEY] [--wait SEC] [--allow-bad] [--quiet] [--verbose]

A record matches when every --match COND holds and no --exclude COND does.
COND is KEY OP VALUE; KEY may be dotted for nested objects (a.b.c):
    key=value    equal: numbers compare as numbers (12 = 12.0), true/false/null
                 as JSON literals, anything else as the string
    key!=value   not equal (a missing key is not equal)
    key~glob     the value as a string matches the shell glob (fnmatch)
    key>=N key<=N key>N key<N   numeric comparison
    key?         the key is present (any value, null included)
    key!?        the key is absent
Expectation (default: at least one match): --expect-count N exactly N,
--min-count N at least N, --max-count N at most N.

Output: one line per matching record (`match line L: {...}`); when the
expectation fails, for every other record the conditions it failed
(`line L: model='gpt-4o' want 'gpt-4o-mini'`), then a summary.  --get KEY
prints only KEY of each matching record, one per line (for shell capture).
--wait SEC re-reads FILE until the expectation holds or SEC pass (records
arrive after the call returns).  A line that is not a JSON object is an error
unless --allow-bad.  Exit 0 when the expectation holds, 1 when not, 2 on
bad usage or an unreadable file.
"""

import argparse
import fnmatch
import json
import re
import sys
import time

COND_RE = re.compile(r"^([A-Za-z0-9_.\-]+?)(>=|<=|!=|=|~|>|<|!\?|\?)(.*)$", re.S)
MISSING = object()


def parse_cond(s):
    m = COND_RE.match(s)
    if not m:
        raise argparse.ArgumentTypeError("bad condition %r (want KEY=VALUE, KEY~GLOB, "
                                         "KEY>=N, KEY?, ...)" % s)
    key, op, val = m.groups()
    if op in ("?", "!?") and val:
        raise argparse.ArgumentTypeError("bad condition %r" % s)
    if op in (">=", "<=", ">", "<"):
        try:
            float(val)
        except ValueError:
            raise argparse.ArgumentTypeError("%r: %s needs a number" % (s, op))
    return (key, op, val, s)


def lookup(rec, key):
    v = rec
    for part in key.split("."):
        if isinstance(v, dict) and part in v:
            v = v[part]
        elif isinstance(v, list) and part.isdigit() and int(part) < len(v):
            v = v[int(part)]
        else:
            return MISSING
    return v


def as_text(v):
    if isinstance(v, str):
        return v
    return json.dumps(v)


def equal(v, want):
    """JSON value v against the string want from the command line."""
    if isinstance(v, bool) or v is None:
        return as_text(v) == want
    if isinstance(v, (int, float)):
        try:
            return float(v) == float(want)
        except ValueError:
            return False
    if isinstance(v, str):
        return v == want
    try:
        return v == json.loads(want)
    except ValueError:
        return False


def holds(rec, cond):
    key, op, want, _ = cond
    v = lookup(rec, key)
    if op == "?":
        return v is not MISSING
    if op == "!?":
        return v is MISSING
    if v is MISSING:
        return False if op != "!=" else True
    if op == "=":
        return equal(v, want)
    if op == "!=":
        return not equal(v, want)
    if op == "~":
        return fnmatch.fnmatchcase(as_text(v), want)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    w = float(want)
    return {">=": v >= w, "<=": v <= w, ">": v > w, "<": v < w}[op]


def why_not(rec, cond):
    key, op, want, _ = cond
    v = lookup(rec, key)
    if op == "?":
        return "%s missing" % key
    if op == "!?":
        return "%s present (%s)" % (key, as_text(v))
    if v is MISSING:
        return "%s missing (want %s%s)" % (key, op, want)
    return "%s=%s, want %s%s" % (key, json.dumps(v), op, want)


def load(path, allow_bad):
    recs, bad = [], []
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise SystemExit("check_records: %s" % e) from None
    lines = data.split(b"\n")
    # The last line may still be being written: only complete lines count.
    complete = lines[:-1] if not data.endswith(b"\n") else lines
    for i, raw in enumerate(complete, 1):
        if not raw.strip():
            continue
        try:
            r = json.loads(raw.decode("utf-8"))
            if not isinstance(r, dict):
                raise ValueError("not an object")
            recs.append((i, r))
        except ValueError as e:
            bad.append((i, raw[:200].decode("utf-8", "replace"), str(e)))
    return recs, bad


def evaluate(a):
    recs, bad = load(a.file, a.allow_bad)
    matched, others = [], []
    for line, r in recs:
        if any(holds(r, c) for c in a.exclude):
            continue
        failed = [c for c in a.match if not holds(r, c)]
        (others if failed else matched).append((line, r, failed))
    n = len(matched)
    if a.expect_count is not None:
        ok = n == a.expect_count
        want = "exactly %d" % a.expect_count
    else:
        lo = a.min_count if a.min_count is not None else (0 if a.max_count is not None else 1)
        ok = n >= lo and (a.max_count is None or n <= a.max_count)
        want = "at least %d" % lo + ("" if a.max_count is None else ", at most %d" % a.max_count)
    if bad and not a.allow_bad:
        ok = False
    return ok, matched, others, bad, want, len(recs)


def main():
    ap = argparse.ArgumentParser(
        description="assertions on JSON-lines records",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("file")
    ap.add_argument("--match", action="append", default=[], type=parse_cond, metavar="COND")
    ap.add_argument("--exclude", action="append", default=[], type=parse_cond, metavar="COND")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--expect-count", type=int)
    g.add_argument("--min-count", type=int)
    ap.add_argument("--max-count", type=int)
    ap.add_argument("--get", metavar="KEY")
    ap.add_argument("--wait", type=float, default=0)
    ap.add_argument("--allow-bad", action="store_true")
    ap.add_argument("--quiet", action="store_true", help="print nothing, exit code only")
    ap.add_argument("--verbose", action="store_true", help="explain non-matches even on success")
    a = ap.parse_args()

    deadline = time.monotonic() + a.wait
    while True:
        ok, matched, others, bad, want, total = evaluate(a)
        if ok or time.monotonic() >= deadline:
            break
        time.sleep(0.1)

    if a.quiet:
        return 0 if ok else 1
    if a.get:
        for _, r, _ in matched:
            v = lookup(r, a.get)
            print("" if v is MISSING or v is None else as_text(v))
        if not ok:
            sys.stderr.write("check_records: %d matching records, want %s\n" % (len(matched), want))
        return 0 if ok else 1
    for line, r, _ in matched:
        print("match line %d: %s" % (line, json.dumps(r, separators=(",", ":"))))
    if not ok or a.verbose:
        for line, r, failed in others:
            print("line %d: %s" % (line, "; ".join(why_not(r, c) for c in failed)))
        for line, text, err in bad:
            print("line %d: not a JSON object (%s): %s" % (line, err, text))
    conds = " ".join(c[3] for c in a.match) or "(any)"
    print("%s: %d of %d records match %s, want %s%s" % (
        "ok" if ok else "FAILED", len(matched), total, conds, want,
        "" if not bad else "; %d bad lines" % len(bad)))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
