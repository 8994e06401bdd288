#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""Build the tokenizer benchmark corpus from files Debian installs.

  bench/tokenizer/build_corpus.py OUT [MIN_MB]

Three parts, each from sorted file lists (deterministic on a given host):
  * translated man pages (/usr/share/man/<lang>/, troff source, 25
    languages here; from man-db, passwd, dpkg-dev, apt, procps, xz-utils,
    ...) up to 45 % of the corpus, taken round-robin over the languages,
  * English man pages (/usr/share/man/man[1-8]; manpages, manpages-dev and
    every other package's pages) up to 25 %,
  * C headers (/usr/include) up to the rest.
Nothing repeats: identical files are skipped and so is every paragraph
(text between blank lines, 32 bytes or longer) that appeared before, so
licence boilerplate and copied passages count once.  Exits non-zero if
fewer than MIN_MB (default 10) megabytes of unique text are available.
A summary (JSON) goes to stderr.
"""
import gzip
import hashlib
import json
import os
import sys


def files(root, pred):
    out = []
    for d, dirs, names in os.walk(root):
        dirs.sort()
        for n in sorted(names):
            p = os.path.join(d, n)
            if pred(n) and os.path.isfile(p) and not os.path.islink(p):
                out.append(p)
    return out


def round_robin(lists):
    out, k = [], 0
    while any(k < len(x) for x in lists):
        out.extend(x[k] for x in lists if k < len(x))
        k += 1
    return out


def read(p):
    try:
        with open(p, 'rb') as f:
            b = f.read()
        return gzip.decompress(b) if p.endswith('.gz') else b
    except (OSError, EOFError, gzip.BadGzipFile):
        return None


def main():
    if len(sys.argv) < 2:
        sys.exit('usage: build_corpus.py OUT [MIN_MB]')
    out_path = sys.argv[1]
    min_bytes = int(float(sys.argv[2] if len(sys.argv) > 2 else 10) * 1e6)
    target = int(min_bytes * 1.1)
    man = '/usr/share/man'
    langs = sorted(d for d in os.listdir(man) if not d.startswith('man')
                   and os.path.isdir(os.path.join(man, d)))
    groups = [
        ('man-translated', round_robin([files(os.path.join(man, l), lambda n: n.endswith('.gz'))
                                        for l in langs]),
         int(target * 0.45)),
        ('man-english', [p for s in '12345678' for p in files(os.path.join(man, 'man' + s),
                                                              lambda n: n.endswith('.gz'))],
         int(target * 0.25)),
        ('c-headers', files('/usr/include', lambda n: n.endswith('.h')), None),
    ]
    seen_files, seen_par = set(), set()
    parts, summary, total = [], {}, 0
    for name, paths, cap in groups:
        got = nfiles = 0
        for p in paths:
            if (cap is not None and got >= cap) or total >= target:
                break
            b = read(p)
            if not b:
                continue
            h = hashlib.sha1(b).digest()
            if h in seen_files:
                continue
            seen_files.add(h)
            keep = []
            for par in b.split(b'\n\n'):
                if len(par) >= 32:
                    ph = hashlib.sha1(par).digest()
                    if ph in seen_par:
                        continue
                    seen_par.add(ph)
                keep.append(par)
            text = b'\n\n'.join(keep)
            if not text.strip():
                continue
            parts.append(text)
            parts.append(b'\n\n')
            got += len(text) + 2
            total += len(text) + 2
            nfiles += 1
        summary[name] = {'files': nfiles, 'bytes': got}
    data = b''.join(parts)
    with open(out_path, 'wb') as f:
        f.write(data)
    nonascii = sum(1 for x in data if x >= 0x80)
    summary['total_bytes'] = len(data)
    summary['non_ascii_bytes'] = nonascii
    summary['languages'] = langs
    summary['sha256'] = hashlib.sha256(data).hexdigest()
    json.dump(summary, sys.stderr)
    sys.stderr.write('\n')
    if len(data) < min_bytes:
        sys.exit('build_corpus: only %d bytes of unique text (need %d)' % (len(data), min_bytes))


if __name__ == '__main__':
    main()
