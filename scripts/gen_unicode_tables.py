#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""Generate user/tokenizer/unicode_tables.c: the character classes the
o200k_base / cl100k_base pretokenizers need, for the Unicode version that
the reference tokenizer (tiktoken: the Rust regex crate's tables) uses.

  scripts/gen_unicode_tables.py [PACKAGE_DIR] > user/tokenizer/unicode_tables.c

The data comes from the npm package @unicode/unicode-X.Y.Z (MIT; the
Unicode data in it is under the Unicode licence) that tests/node/package.json
pins, installed by `make deps` in tests/node/node_modules.  That package is
the only @unicode/unicode-* dependency there, so the generator and the
conformance test (tests/integ/test_tokenizer_conformance) always agree on
the version; PACKAGE_DIR overrides it (any @unicode/unicode-* directory).
The version X.Y.Z is taken from the package name and recorded in the
output (`toktool classes` prints it as "# Unicode X.Y.Z").

The package ships its data as ES modules (base64-packed ranges), so this
script runs node once to dump what it needs as JSON:
  General_Category   all 30 categories (checked to cover every code point
                     exactly once); Cn gives the ASSIGNED bit
  White_Space        (Binary_Property) the meaning of \\s in the regex crate
  Case_Folding C, S  simple case folding, which is what the regex crate's
                     (?i) uses: only these non-ASCII code points fold onto
                     the ASCII letters of the contraction suffixes

Per code point one byte of class bits (see tok_internal.h):
  L  \\p{L}      N  \\p{N}      S  White_Space     M  \\p{M}
  UP [\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]   LO [\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]
  NL \\r or \\n   ASSIGNED  General_Category is not Cn
Unassigned code points (Cn), surrogates, private use: no class bits.
Lookup: stage2[stage1[cp >> 7] * 128 + (cp & 127)].
"""
import json
import os
import re
import subprocess
import sys

L, N, S, UP, LO, NL, M, ASSIGNED = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80
SHIFT = 7
MAXCP = 0x110000

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NODE_DIR = os.path.join(TOP, 'tests', 'node')

# General_Category: short alias -> directory name in the package.
CATEGORIES = {
    'Lu': 'Uppercase_Letter', 'Ll': 'Lowercase_Letter', 'Lt': 'Titlecase_Letter',
    'Lm': 'Modifier_Letter', 'Lo': 'Other_Letter',
    'Mn': 'Nonspacing_Mark', 'Mc': 'Spacing_Mark', 'Me': 'Enclosing_Mark',
    'Nd': 'Decimal_Number', 'Nl': 'Letter_Number', 'No': 'Other_Number',
    'Pc': 'Connector_Punctuation', 'Pd': 'Dash_Punctuation', 'Ps': 'Open_Punctuation',
    'Pe': 'Close_Punctuation', 'Pi': 'Initial_Punctuation', 'Pf': 'Final_Punctuation',
    'Po': 'Other_Punctuation',
    'Sm': 'Math_Symbol', 'Sc': 'Currency_Symbol', 'Sk': 'Modifier_Symbol', 'So': 'Other_Symbol',
    'Zs': 'Space_Separator', 'Zl': 'Line_Separator', 'Zp': 'Paragraph_Separator',
    'Cc': 'Control', 'Cf': 'Format', 'Cs': 'Surrogate', 'Co': 'Private_Use', 'Cn': 'Unassigned',
}

# Run by node: argv[1] the package directory, argv[2] the categories as
# JSON.  Prints {"gc": {alias: [[first, last], ...]}, "white_space": [...],
# "fold": [[cp, folded], ...]} (ranges inclusive).
DUMP_JS = r'''
import path from 'node:path';
import { pathToFileURL } from 'node:url';
const dir = process.argv[1];
const cats = JSON.parse(process.argv[2]);
const load = async (rel) => (await import(pathToFileURL(path.join(dir, rel)).href)).default;
const ranges = async (rel) => (await load(rel)).map((r) => [r.begin, r.end - 1]);
const out = { gc: {} };
for (const [alias, name] of Object.entries(cats))
	out.gc[alias] = await ranges(`General_Category/${name}/ranges.mjs`);
out.white_space = await ranges('Binary_Property/White_Space/ranges.mjs');
out.fold = [];
for (const status of ['C', 'S'])
	for (const [cp, to] of await load(`Case_Folding/${status}/code-points.mjs`))
		out.fold.push([cp, to]);
process.stdout.write(JSON.stringify(out));
'''


def die(msg):
    sys.exit('gen_unicode_tables: ' + msg)


def default_package():
    """The one @unicode/unicode-* dependency of tests/node/package.json."""
    with open(os.path.join(NODE_DIR, 'package.json'), encoding='utf-8') as f:
        deps = json.load(f).get('dependencies', {})
    names = [d for d in deps if re.fullmatch(r'@unicode/unicode-\d+\.\d+\.\d+', d)]
    if len(names) != 1:
        die('tests/node/package.json must depend on exactly one @unicode/unicode-X.Y.Z, has %s'
            % (names or 'none'))
    return os.path.join(NODE_DIR, 'node_modules', names[0])


def load_package(pkg):
    """(version, package label, data) of the @unicode package in pkg."""
    try:
        with open(os.path.join(pkg, 'package.json'), encoding='utf-8') as f:
            meta = json.load(f)
    except OSError as e:
        die('%s: %s (run make deps)' % (pkg, e.strerror))
    m = re.fullmatch(r'@unicode/unicode-(\d+\.\d+\.\d+)', meta.get('name', ''))
    if not m:
        die('%s is not an @unicode/unicode-X.Y.Z package' % pkg)
    try:
        r = subprocess.run(['node', '--input-type=module', '-e', DUMP_JS, pkg,
                            json.dumps(CATEGORIES)],
                           check=True, stdout=subprocess.PIPE)
    except (OSError, subprocess.CalledProcessError) as e:
        die('node could not read %s: %s' % (pkg, e))
    return m.group(1), '%s %s' % (meta['name'], meta['version']), json.loads(r.stdout)


def gc_bits(gc):
    b = 0
    if gc[0] == 'L':
        b |= L
        if gc in ('Lu', 'Lt', 'Lm', 'Lo'):
            b |= UP
        if gc in ('Ll', 'Lm', 'Lo'):
            b |= LO
    elif gc[0] == 'M':
        b |= M | UP | LO
    elif gc[0] == 'N':
        b |= N
    return b


def main():
    pkg = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else default_package())
    ver, label, data = load_package(pkg)

    cls = bytearray(MAXCP)
    seen = bytearray(MAXCP)		# categories per code point: must be 1
    for gc, ranges in data['gc'].items():
        b = gc_bits(gc) | (0 if gc == 'Cn' else ASSIGNED)
        for a, z in ranges:
            for c in range(a, z + 1):
                cls[c] = b
                seen[c] += 1
    bad = [c for c in range(MAXCP) if seen[c] != 1]
    if bad:
        die('General_Category does not give U+%04X (and %d more) exactly one category'
            % (bad[0], len(bad) - 1))
    nws = 0
    for a, z in data['white_space']:
        for c in range(a, z + 1):
            cls[c] |= S
            nws += 1
    cls[0x0A] |= NL
    cls[0x0D] |= NL

    # Simple case folding (C + S): the non-ASCII code points that fold onto
    # an ASCII letter (folding maps onto the lowercase letter, so this is
    # every code point whose fold orbit holds one).
    folds = sorted((cp, chr(t)) for cp, t in data['fold']
                   if cp >= 0x80 and t < 0x80 and chr(t).isalpha())

    blocks, index = [], {}
    stage1 = []
    for base in range(0, MAXCP, 1 << SHIFT):
        blk = bytes(cls[base:base + (1 << SHIFT)])
        if blk not in index:
            index[blk] = len(blocks)
            blocks.append(blk)
        stage1.append(index[blk])
    if len(blocks) > 65535:
        die('too many blocks')
    t1 = 'uint8_t' if len(blocks) <= 256 else 'uint16_t'

    out = sys.stdout
    w = out.write
    w('/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */\n')
    w('/*\n * GENERATED by scripts/gen_unicode_tables.py from Unicode %s data:\n' % ver)
    w(' * the npm package %s (General_Category,\n' % label)
    w(' * White_Space, Case_Folding C and S).  Do not edit.\n')
    w(' * %d blocks of %d code points; %d White_Space code points.\n */\n'
      % (len(blocks), 1 << SHIFT, nws))
    w('#include "tok_internal.h"\n\n')
    w('const char tok_uc_version[] = "%s";\n\n' % ver)
    w('const %s tok_uc_stage1[%d] = {\n' % (t1, len(stage1)))
    for i in range(0, len(stage1), 16):
        w('\t' + ', '.join(str(x) for x in stage1[i:i + 16]) + ',\n')
    w('};\n\n')
    w('const uint8_t tok_uc_stage2[%d] = {\n' % (len(blocks) << SHIFT))
    for bi, blk in enumerate(blocks):
        w('\t/* block %d */\n' % bi)
        for i in range(0, len(blk), 16):
            w('\t' + ', '.join('0x%02x' % x for x in blk[i:i + 16]) + ',\n')
    w('};\n\n')
    w('const struct tok_uc_fold tok_uc_folds[%d] = {\n' % len(folds))
    for cp, ch in folds:
        w("\t{ 0x%04X, '%s' },\n" % (cp, ch))
    w('};\n')
    w('const unsigned tok_uc_nfolds = %d;\n' % len(folds))
    sys.stderr.write('gen_unicode_tables: Unicode %s (%s), %d blocks (%s index), %d folds\n'
                     % (ver, label, len(blocks), t1, len(folds)))


if __name__ == '__main__':
    main()
