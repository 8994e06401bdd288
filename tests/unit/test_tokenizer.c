// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Tokenizer unit tests: Unicode classes, UTF-8 repair, pretokenizer
 * splits, BPE against the literal reference (user/tokenizer/tok_ref.h),
 * vocabulary integrity (SHA-256 of the rebuilt .tiktoken files), special
 * tokens, model mapping, and the `tokenize` command.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "tap.h"
#include "tokenizer.h"
#include "../../user/tokenizer/tok_internal.h"
#include "../../user/tokenizer/tok_ref.h"

static const struct tok_encoding *cl, *o2;

/* --- Unicode classes ------------------------------------------------------ */

static void test_unicode_classes(void)
{
	const unsigned L = TOK_UC_L, N = TOK_UC_N, S = TOK_UC_S, UP = TOK_UC_UP,
		       LO = TOK_UC_LO, M = TOK_UC_M, NL = TOK_UC_NL;
	const struct {
		uint32_t cp;
		unsigned want;
	} v[] = {
		{ 'A', L | UP }, { 'z', L | LO }, { '0', N }, { ' ', S }, { '\n', S | NL },
		{ '\r', S | NL }, { '\t', S }, { 0x0B, S }, { 0x0C, S }, { '\'', 0 }, { '/', 0 },
		{ 0x0085, S },		/* NEL: White_Space, unlike JS \s */
		{ 0x00A0, S }, { 0x1680, S }, { 0x2000, S }, { 0x200A, S }, { 0x2028, S },
		{ 0x2029, S }, { 0x202F, S }, { 0x205F, S }, { 0x3000, S },
		{ 0x200B, 0 },		/* ZERO WIDTH SPACE: Cf, not White_Space */
		{ 0xFEFF, 0 },		/* BOM: Cf, not White_Space (JS \s has it) */
		{ 0x180E, 0 },		/* MONGOLIAN VOWEL SEPARATOR: Cf since 6.3 */
		{ 0x00E9, L | LO },	/* é Ll */
		{ 0x01C5, L | UP },	/* ǅ Lt */
		{ 0x02B0, L | UP | LO },	/* ʰ Lm */
		{ 0x4E2D, L | UP | LO },	/* 中 Lo */
		{ 0x0301, M | UP | LO },	/* combining acute: Mn */
		{ 0x0903, M | UP | LO },	/* Devanagari visarga: Mc */
		{ 0x20DD, M | UP | LO },	/* enclosing circle: Me */
		{ 0x0663, N },		/* Arabic-Indic three: Nd */
		{ 0x216B, N },		/* Roman numeral twelve: Nl */
		{ 0x00BD, N },		/* ½: No */
		{ 0x00B2, N },		/* ²: No */
		{ 0x1F600, 0 },		/* emoji: So */
		{ 0x200D, 0 },		/* ZWJ: Cf */
		{ 0xFE0F, M | UP | LO },	/* VS16: Mn */
		{ 0x1F3FD, 0 },		/* skin tone modifier: Sk */
		{ 0x20000, L | UP | LO },	/* CJK Ext B */
		{ 0xE000, 0 },		/* private use */
		{ 0x10FFFF, 0 },
	};
	size_t k;

	CHECK(!strcmp(tok_unicode_version(), "16.0.0"), "version %s", tok_unicode_version());
	for (k = 0; k < sizeof(v) / sizeof(v[0]); k++) {
		unsigned c = tok_uc_class(v[k].cp) & ~TOK_UC_ASSIGNED;

		CHECK(c == v[k].want, "U+%04X class %#x, want %#x", v[k].cp, c, v[k].want);
	}
	CHECK(tok_uc_class(0x0378) == 0, "U+0378 is unassigned");
	CHECK(tok_uc_class(0x0041) & TOK_UC_ASSIGNED, "A assigned");
	CHECK(tok_uc_class(0x110000) == 0, "beyond Unicode");
	/* case folding onto ASCII: LONG S -> s, KELVIN -> k, nothing else */
	CHECK_EQ_INT(tok_uc_nfolds, 2);
	CHECK(tok_uc_folds[0].cp == 0x017F && tok_uc_folds[0].ascii == 's', "ſ folds to s");
}

/* --- UTF-8 repair --------------------------------------------------------- */

static void test_utf8_repair(void)
{
	static const struct {
		const char *in;
		size_t inlen;
		const char *out;
	} v[] = {
#define R "\xEF\xBF\xBD"
		{ "abc", 3, "abc" },
		{ "\x80", 1, R },
		{ "\xBF\x80", 2, R R },
		{ "\xC0\xAF", 2, R R },		/* overlong: C0 never starts a sequence */
		{ "\xC1\xBF", 2, R R },
		{ "\xC2", 1, R },			/* truncated at end: one */
		{ "\xC2" "A", 2, R "A" },
		{ "\xE0\x80\x80", 3, R R R },	/* E0 needs A0..BF */
		{ "\xE0\xA0", 2, R },		/* truncated 3-byte: one */
		{ "\xED\xA0\x80", 3, R R R },	/* surrogate D800 */
		{ "\xED\x9F\xBF", 3, "\xED\x9F\xBF" },	/* U+D7FF is fine */
		{ "\xF0\x80\x80\x80", 4, R R R R },
		{ "\xF0\x9F\x98", 3, R },
		{ "\xF0\x9F\x98" "A", 4, R "A" },
		{ "\xF0\x9F\x98\x80", 4, "\xF0\x9F\x98\x80" },
		{ "\xF4\x8F\xBF\xBF", 4, "\xF4\x8F\xBF\xBF" },	/* U+10FFFF */
		{ "\xF4\x90\x80\x80", 4, R R R R },	/* > U+10FFFF */
		{ "\xF5\x80", 2, R R },
		{ "\xFF\xFE", 2, R R },
		{ "\xE1\x80\x41", 3, R "A" },
		{ "\xE1\x80\xE1\x80\x80", 5, R "\xE1\x80\x80" },
		{ "a\0b", 3, "a\0b" },
#undef R
	};
	size_t k, n;

	for (k = 0; k < sizeof(v) / sizeof(v[0]); k++) {
		uint8_t *o = tok_utf8_repair((const uint8_t *)v[k].in, v[k].inlen, &n);
		size_t want = strlen(v[k].out);

		if (v[k].inlen == 3 && v[k].in[1] == 0)
			want = 3;
		CHECK(o && n == want && !memcmp(o, v[k].out, n), "case %zu: got %zu bytes", k, n);
		CHECK((tok_utf8_valid_prefix((const uint8_t *)v[k].in, v[k].inlen) == v[k].inlen) ==
		      (n == v[k].inlen && !memcmp(o, v[k].in, n)), "case %zu validity", k);
		free(o);
	}
}

/* Invalid bytes are tokenized as the U+FFFD they are replaced with. */
static void test_invalid_utf8_encode(void)
{
	static const char raw[] = "ab\xC3(\xED\xA0\x80x \xF0\x9F\x98 y\xFF";
	struct tok_ids a = { 0 }, b = { 0 };
	uint8_t *fixed;
	size_t n;

	fixed = tok_utf8_repair((const uint8_t *)raw, sizeof(raw) - 1, &n);
	CHECK(fixed != NULL, "repair");
	CHECK_EQ_INT(tok_encode(o2, raw, sizeof(raw) - 1, 0, &a), 0);
	CHECK_EQ_INT(tok_encode(o2, fixed, n, 0, &b), 0);
	CHECK(a.len == b.len && !memcmp(a.v, b.v, a.len * 4), "raw and repaired differ");
	CHECK_EQ_INT(tok_count(o2, raw, sizeof(raw) - 1, 0), (ssize_t)b.len);
	free(fixed);
	tok_ids_free(&a);
	tok_ids_free(&b);
}

/* --- pretokenizer --------------------------------------------------------- */

/* pieces joined with '|' */
static void split_str(const struct tok_encoding *e, const char *s, char *out, size_t cap)
{
	size_t n = strlen(s), i = 0, o = 0, j;

	while (i < n) {
		j = e->pretok((const uint8_t *)s, n, i);
		if (j <= i || j > n || o + (j - i) + 2 >= cap) {
			snprintf(out, cap, "<bad split at %zu>", i);
			return;
		}
		if (i)
			out[o++] = '|';
		memcpy(out + o, s + i, j - i);
		o += j - i;
		i = j;
	}
	out[o] = 0;
}

static void test_pretok_cl100k(void)
{
	static const char *const v[][2] = {
		{ "Hello world", "Hello| world" },
		{ "I'm here", "I|'m| here" },
		{ "they'll've", "they|'ll|'ve" },
		{ "DON'T", "DON|'T" },
		{ "'sa", "'s|a" },			/* the contraction wins over 'sa */
		{ "'llama", "'ll|ama" },
		{ "'x", "'x" },
		{ "'\xC5\xBF", "'\xC5\xBF" },		/* 'ſ: (?i) folds ſ to s */
		{ "123456789", "123|456|789" },
		{ "12a", "12|a" },
		{ "  x", " | x" },
		{ "x  ", "x|  " },
		{ "a\n\n  b", "a|\n\n| | b" },
		{ "a \n\n  b", "a| \n\n| | b" },
		{ "today\n ", "today|\n| " },
		{ "today\n \n", "today|\n \n" },
		{ " \xC2\x85" "0", " |\xC2\x85|0" },	/* U+0085 is \s */
		{ "?!\n\nx", "?!\n\n|x" },
		{ " (x)", " (|x|)" },
		{ "\tx", "\tx" },
		{ "\nx", "\n|x" },
		{ "e\xCC\x81", "e|\xCC\x81" },		/* marks are not \p{L} */
		{ "\xCC\x81" "e", "\xCC\x81" "e" },	/* a mark may prefix letters */
		{ "\xE4\xBD\xA0\xE5\xA5\xBD\xEF\xBC\x81", "\xE4\xBD\xA0\xE5\xA5\xBD|\xEF\xBC\x81" },
		{ "x\r\n", "x|\r\n" },
		{ "a  \n", "a|  \n" },
		{ "...\n\n\n", "...\n\n\n" },
		{ "/path/to", "/path|/to" },
		{ "x\xC2\xA0y", "x|\xC2\xA0y" },	/* NBSP: \s, and a valid prefix */
	};
	char got[256];
	size_t k;

	for (k = 0; k < sizeof(v) / sizeof(v[0]); k++) {
		split_str(cl, v[k][0], got, sizeof(got));
		CHECK(!strcmp(got, v[k][1]), "[%s]: got [%s] want [%s]", v[k][0], got, v[k][1]);
	}
}

static void test_pretok_o200k(void)
{
	static const char *const v[][2] = {
		{ "Hello world", "Hello| world" },
		{ "HelloWorld", "Hello|World" },
		{ "HELLOworld", "HELLOworld" },
		{ "ABC.", "ABC|." },
		{ " ABC def", " ABC| def" },
		{ "can't", "can't" },
		{ "CAN'T", "CAN'T" },
		{ " don't stop", " don't| stop" },
		{ "'s", "'s" },
		{ " 's", " '|s" },
		{ "x'sa", "x's|a" },
		{ "I'M", "I'M" },
		{ "we'LL", "we'LL" },
		{ "it'\xC5\xBF", "it'\xC5\xBF" },
		{ "12345", "123|45" },
		{ "/path/to//x", "/path|/to|//|x" },
		{ "x//\n\ny", "x|//\n\n|y" },
		{ "a.b", "a|.b" },
		{ "3.14", "3|.|14" },
		{ "e\xCC\x81t\xC3\xA9", "e\xCC\x81t\xC3\xA9" },	/* marks are letters here */
		{ "\xCC\x81", "\xCC\x81" },
		{ "\xCC\x81" "A", "\xCC\x81|A" },	/* LO+ takes the mark alone */
		{ "A\xCC\x81" "B", "A\xCC\x81|B" },		/* UP*: backtrack to the mark */
		{ "\xC7\x85" "a", "\xC7\x85" "a" },		/* ǅ (Lt) then a */
		{ "x\xCA\xB0Y", "x\xCA\xB0|Y" },		/* ʰ (Lm) */
		{ "today\n ", "today|\n| " },
		{ "a  \n\n b", "a|  \n\n| b" },
		{ " \xC2\x85" "0", " |\xC2\x85|0" },
		{ "  x", " | x" },
		{ "x  ", "x|  " },
		{ " \t x", " \t| x" },
		{ "\xE4\xBD\xA0\xE5\xA5\xBD", "\xE4\xBD\xA0\xE5\xA5\xBD" },
		{ "#include <stdio.h>", "#include| <|stdio|.h|>" },
	};
	char got[256];
	size_t k;

	for (k = 0; k < sizeof(v) / sizeof(v[0]); k++) {
		split_str(o2, v[k][0], got, sizeof(got));
		CHECK(!strcmp(got, v[k][1]), "[%s]: got [%s] want [%s]", v[k][0], got, v[k][1]);
	}
}

/* --- generated text against the literal reference -------------------------- */

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)((rng >> 11) % n);
}

static size_t put_cp(uint8_t *o, uint32_t c)
{
	if (c < 0x80) {
		o[0] = (uint8_t)c;
		return 1;
	}
	if (c < 0x800) {
		o[0] = (uint8_t)(0xC0 | (c >> 6));
		o[1] = (uint8_t)(0x80 | (c & 0x3F));
		return 2;
	}
	if (c < 0x10000) {
		o[0] = (uint8_t)(0xE0 | (c >> 12));
		o[1] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
		o[2] = (uint8_t)(0x80 | (c & 0x3F));
		return 3;
	}
	o[0] = (uint8_t)(0xF0 | (c >> 18));
	o[1] = (uint8_t)(0x80 | ((c >> 12) & 0x3F));
	o[2] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
	o[3] = (uint8_t)(0x80 | (c & 0x3F));
	return 4;
}

/* Text from a palette that hits every class and rule boundary (< 4 KB). */
static size_t gen_text(uint8_t *o, size_t max_cps)
{
	static const uint32_t pal[] = {
		'a', 'b', 'e', 'z', 'A', 'B', 'Z', 's', 'S', 't', 'l', 'L', 'r', 'e', 'v', 'm', 'd', 'D',
		'\'', '\'', '\'', '0', '1', '9', ' ', ' ', ' ', ' ', '\t', '\n', '\n', '\r', '/', '.',
		',', '!', '(', '"', '-', '_', '<', '|', '>', 0x017F, 0x0085, 0x00A0, 0x3000, 0x2028,
		0x00E9, 0x00C9, 0x01C5, 0x02B0, 0x0301, 0x0308, 0x0903, 0x4E2D, 0x3042, 0xAC00,
		0x0416, 0x0436, 0x03A9, 0x03C9, 0x0663, 0x216B, 0x00BD, 0x1F600, 0x200D, 0xFE0F,
		0x1F3FD, 0x20000, 0xFFFD, 0x2019, 0x05D0, 0x0627, 0x0E01, 0x0E34, 0x212A,
	};
	size_t n = 1 + rnd((uint32_t)max_cps), k, o_len = 0;

	for (k = 0; k < n; k++) {
		uint32_t c = pal[rnd(sizeof(pal) / sizeof(pal[0]))];
		unsigned rep = rnd(8) == 0 ? 1 + rnd(40) : 1;

		while (rep-- && o_len < 4000)
			o_len += put_cp(o + o_len, c);
	}
	return o_len;
}

static void check_against_ref(const struct tok_encoding *e, const uint8_t *s, size_t n,
			      int *reported)
{
	uint32_t *ref = malloc((n + 1) * sizeof(*ref));
	size_t *ends = malloc((n + 1) * sizeof(*ends)), np, nref, i = 0, k = 0;
	struct tok_ids got = { 0 };

	nref = tokref_encode(e, s, n, ref, ends, &np);
	while (i < n) {		/* piece boundaries */
		size_t j = e->pretok(s, n, i);

		if (k >= np || j != ends[k]) {
			if (!(*reported)++)
				CHECK(0, "%s: split differs at byte %zu of %zu: got end %zu want %zu",
				      e->name, i, n, j, k < np ? ends[k] : 0);
			break;
		}
		i = j;
		k++;
	}
	CHECK_EQ_INT(tok_encode(e, s, n, 0, &got), 0);
	if (got.len != nref || memcmp(got.v, ref, nref * sizeof(*ref))) {
		if (!(*reported)++)
			CHECK(0, "%s: ids differ from the reference (%zu vs %zu ids, %zu bytes)",
			      e->name, got.len, nref, n);
	}
	CHECK_EQ_INT(tok_count(e, s, n, 0), (ssize_t)nref);
	tok_ids_free(&got);
	free(ref);
	free(ends);
}

static void test_against_reference(void)
{
	uint8_t *buf = malloc(4100);
	int reported = 0, it;

	for (it = 0; it < 3000 && !reported; it++) {
		size_t n = gen_text(buf, it % 10 == 0 ? 3000 : 60);

		check_against_ref(cl, buf, n, &reported);
		check_against_ref(o2, buf, n, &reported);
	}
	free(buf);
}

/* Long pieces go through the heap BPE and the memo: both against the reference. */
static void test_long_pieces(void)
{
	static const char *const units[] = {
		"a", "ab", "x", " ", "\n", "0", "^", "\xE4\xBD\xA0", "\xF0\x9F\x98\x80", "abc",
		"Ab", "e\xCC\x81", "=", "-", "'s", "ʰ",
	};
	uint8_t *buf = malloc(40000);
	int reported = 0;
	size_t u, r;

	for (u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
		for (r = 1; r < 5000; r = r * 3 + 1) {
			size_t n = 0, l = strlen(units[u]), k;

			for (k = 0; k < r && n + l < 40000; k++, n += l)
				memcpy(buf + n, units[u], l);
			check_against_ref(cl, buf, n, &reported);
			check_against_ref(o2, buf, n, &reported);
		}
	}
	/* many distinct rare pieces in one call: the memo must not confuse them */
	{
		size_t n = 0, k;

		for (k = 0; k < 3000; k++)
			n += (size_t)sprintf((char *)buf + n, " zq%xj%ck", (unsigned)(k * 7919),
					     'a' + (int)(k % 26));
		check_against_ref(cl, buf, n, &reported);
		check_against_ref(o2, buf, n, &reported);
	}
	free(buf);
}

/* --- known ids -------------------------------------------------------------- */

static void expect_ids(const struct tok_encoding *e, const char *s, unsigned flags,
		       const uint32_t *want, size_t n)
{
	struct tok_ids ids = { 0 };

	CHECK_EQ_INT(tok_encode(e, s, strlen(s), flags, &ids), 0);
	CHECK(ids.len == n && !memcmp(ids.v, want, n * 4), "%s [%s]: %zu ids (first %u)",
	      e->name, s, ids.len, ids.len ? ids.v[0] : 0);
	CHECK_EQ_INT(tok_count(e, s, strlen(s), flags), (ssize_t)n);
	tok_ids_free(&ids);
}

#define IDS(...) (const uint32_t[]){ __VA_ARGS__ }, sizeof((const uint32_t[]){ __VA_ARGS__ }) / 4

static void test_known_ids(void)
{
	/* openai/tiktoken tests/test_encoding.py, test_simple_public.py */
	expect_ids(cl, "hello world", 0, IDS(15339, 1917));
	expect_ids(cl, "today\n ", 0, IDS(31213, 198, 220));
	expect_ids(cl, "today\n \n", 0, IDS(31213, 27907));
	expect_ids(cl, "today\n  \n", 0, IDS(31213, 14211));
	expect_ids(cl, "rer", 0, IDS(38149));
	expect_ids(cl, "'rer", 0, IDS(2351, 81));
	expect_ids(cl, " \xC2\x85" "0", 0, IDS(220, 126, 227, 15));
	expect_ids(cl, "\xF0\x9F\x91\x8D", 0, IDS(9468, 239, 235));
	expect_ids(cl, "hello <|endoftext|>", TOK_ALLOW_SPECIAL, IDS(15339, 220, 100257));
	expect_ids(o2, "hello world", 0, IDS(24912, 2375));
	expect_ids(o2, "<|endoftext|>", TOK_ALLOW_SPECIAL, IDS(199999));
	CHECK_EQ_INT(tok_count(o2, "", 0, 0), 0);
}

static void test_special_tokens(void)
{
	const char *s = "a<|endoftext|>b<|endofprompt|><|fim_prefix|>";
	struct tok_ids ord = { 0 }, sp = { 0 };
	size_t k;
	int eot = 0, eop = 0;

	/* ordinary: special strings are text */
	CHECK_EQ_INT(tok_encode(cl, s, strlen(s), 0, &ord), 0);
	for (k = 0; k < ord.len; k++)
		CHECK(ord.v[k] < 100256, "special id %u in ordinary encoding", ord.v[k]);
	CHECK_EQ_INT(tok_encode(cl, s, strlen(s), TOK_ALLOW_SPECIAL, &sp), 0);
	for (k = 0; k < sp.len; k++) {
		eot += sp.v[k] == 100257;
		eop += sp.v[k] == 100276;
	}
	CHECK(eot == 1 && eop == 1, "eot %d eop %d", eot, eop);
	CHECK(sp.len >= 4 && sp.v[sp.len - 1] == 100258, "fim_prefix last");
	tok_ids_free(&ord);
	tok_ids_free(&sp);
}

/* --- vocabulary ------------------------------------------------------------- */

/* sha256 of the .tiktoken text ("base64(token) rank\n" per rank) */
static void vocab_sha256(const struct tok_encoding *e, char hex[65])
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char md[32];
	unsigned int mdlen = 0, k;
	uint32_t r;

	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	for (r = 0; r < e->n_ranks; r++) {
		char line[256];
		size_t len, i, o = 0;
		const uint8_t *p = tok_token_bytes(e, r, &len);

		if (!p)
			continue;
		for (i = 0; i < len; i += 3) {
			uint32_t v = (uint32_t)p[i] << 16;

			if (i + 1 < len)
				v |= (uint32_t)p[i + 1] << 8;
			if (i + 2 < len)
				v |= p[i + 2];
			line[o++] = b64[(v >> 18) & 63];
			line[o++] = b64[(v >> 12) & 63];
			line[o++] = i + 1 < len ? b64[(v >> 6) & 63] : '=';
			line[o++] = i + 2 < len ? b64[v & 63] : '=';
		}
		o += (size_t)sprintf(line + o, " %u\n", r);
		EVP_DigestUpdate(ctx, line, o);
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	for (k = 0; k < 32; k++)
		sprintf(hex + 2 * k, "%02x", md[k]);
}

static void test_vocab_hashes(void)
{
	char hex[65];

	/* the expected_hash values of tiktoken_ext/openai_public.py */
	vocab_sha256(cl, hex);
	CHECK(!strcmp(hex, "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"),
	      "cl100k_base %s", hex);
	vocab_sha256(o2, hex);
	CHECK(!strcmp(hex, "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"),
	      "o200k_base %s", hex);
	CHECK_EQ_INT(cl->n_ranks, 100256);
	CHECK_EQ_INT(o2->n_ranks, 199998);
	CHECK_EQ_INT(tok_vocab_size(cl), 100277);
	CHECK_EQ_INT(tok_vocab_size(o2), 200019);
}

/* Every token's bytes look up to its own rank (the hash table is complete). */
static void test_vocab_lookup(void)
{
	const struct tok_encoding *es[2] = { cl, o2 };
	int k;

	for (k = 0; k < 2; k++) {
		const struct tok_encoding *e = es[k];
		uint32_t r, bad = 0;

		for (r = 0; r < e->n_ranks; r++) {
			size_t len;
			const uint8_t *p = tok_token_bytes(e, r, &len);

			if (p && tok_rank(e, p, len) != r)
				bad++;
		}
		CHECK(bad == 0, "%s: %u tokens do not look up to their rank", e->name, bad);
		CHECK(tok_token_bytes(e, e->n_ranks + 100, &(size_t){ 0 }) == NULL, "bad id");
	}
}

/*
 * The claim pretok.h rests on for cl100k_base: no token ends in \r or \n
 * followed by other whitespace, and every whitespace-only token is what
 * BPE of its own bytes gives.  Then the older and newer tiktoken patterns
 * give the same ids.
 */
static void test_whitespace_tokens(void)
{
	const struct tok_encoding *es[2] = { cl, o2 };
	int k;

	for (k = 0; k < 2; k++) {
		const struct tok_encoding *e = es[k];
		uint32_t r, ends_nl_ws = 0, unreachable = 0, ws_tokens = 0;

		for (r = 0; r < e->n_ranks; r++) {
			size_t len, i, l, last_nl = SIZE_MAX;
			const uint8_t *p = tok_token_bytes(e, r, &len);
			int all_ws = 1;

			if (!p)
				continue;
			if (tok_utf8_valid_prefix(p, len) != len)
				continue;	/* partial characters are never whitespace */
			for (i = 0; i < len; i += l) {
				unsigned c = tok_cls_at(p, i, &l);

				if (!(c & TOK_UC_S)) {
					all_ws = 0;
					last_nl = SIZE_MAX;
				} else if (c & TOK_UC_NL) {
					last_nl = i;
				}
			}
			if (last_nl != SIZE_MAX && last_nl + 1 < len) {
				/* after the last newline: only whitespace, at least one */
				ends_nl_ws++;
			}
			if (all_ws && len > 1) {
				size_t n, j, m = len;
				size_t *st = malloc((len + 1) * sizeof(*st));

				ws_tokens++;
				/* BPE without the whole-piece shortcut */
				for (j = 0; j <= len; j++)
					st[j] = j;
				for (;;) {
					uint32_t br = TOK_NO_RANK, rr;
					size_t best = 0;

					for (j = 0; j + 1 < m; j++) {
						rr = tok_rank(e, p + st[j], st[j + 2] - st[j]);
						if (rr < br) {
							br = rr;
							best = j;
						}
					}
					if (br == TOK_NO_RANK)
						break;
					memmove(&st[best + 1], &st[best + 2], (m - best - 1) * sizeof(*st));
					m--;
				}
				n = m;
				if (n != 1 || tok_rank(e, p, len) != r)
					unreachable++;
				free(st);
			}
		}
		CHECK(ends_nl_ws == 0, "%s: %u tokens end in a newline plus whitespace",
		      e->name, ends_nl_ws);
		if (e->id == TOK_CL100K_BASE)
			CHECK(unreachable == 0, "%s: %u of %u whitespace tokens unreachable by BPE",
			      e->name, unreachable, ws_tokens);
	}
}

static void test_decode_roundtrip(void)
{
	uint8_t *buf = malloc(4100), *dec = NULL;
	size_t declen, n;
	int it;

	for (it = 0; it < 300; it++) {
		struct tok_ids ids = { 0 };

		n = gen_text(buf, 500);
		CHECK_EQ_INT(tok_encode(o2, buf, n, 0, &ids), 0);
		declen = 0;
		CHECK_EQ_INT(tok_decode(o2, ids.v, ids.len, &dec, &declen), 0);
		CHECK(declen == n && !memcmp(dec, buf, n), "roundtrip %d", it);
		tok_ids_free(&ids);
	}
	{
		uint32_t bad = 5000000;

		declen = 0;
		CHECK_EQ_INT(tok_decode(o2, &bad, 1, &dec, &declen), -EINVAL);
	}
	free(dec);
	free(buf);
}

/* --- API -------------------------------------------------------------------- */

static void test_models(void)
{
	const struct {
		const char *m;
		enum tok_enc e;
	} v[] = {
		{ "gpt-4o", TOK_O200K_BASE }, { "gpt-4o-mini-2024-07-18", TOK_O200K_BASE },
		{ "gpt-4.1-nano", TOK_O200K_BASE }, { "gpt-5", TOK_O200K_BASE },
		{ "gpt-5-nano", TOK_O200K_BASE }, { "o1", TOK_O200K_BASE }, { "o1-pro", TOK_O200K_BASE },
		{ "o3-mini", TOK_O200K_BASE }, { "o4-mini", TOK_O200K_BASE },
		{ "chatgpt-4o-latest", TOK_O200K_BASE }, { "openai/gpt-4o", TOK_O200K_BASE },
		{ "gpt-4", TOK_CL100K_BASE }, { "gpt-4-0613", TOK_CL100K_BASE },
		{ "gpt-4-turbo", TOK_CL100K_BASE }, { "gpt-3.5-turbo", TOK_CL100K_BASE },
		{ "gpt-35-turbo", TOK_CL100K_BASE }, { "text-embedding-3-small", TOK_CL100K_BASE },
		{ "text-embedding-ada-002", TOK_CL100K_BASE },
		{ "claude-3-opus", TOK_ENC_UNKNOWN }, { "o10", TOK_ENC_UNKNOWN },
		{ "llama3-8b-8192", TOK_ENC_UNKNOWN }, { "", TOK_ENC_UNKNOWN },
	};
	size_t k;

	for (k = 0; k < sizeof(v) / sizeof(v[0]); k++)
		CHECK(tok_encoding_for_model(v[k].m) == v[k].e, "%s", v[k].m);
	CHECK(tok_encoding_for_model(NULL) == TOK_ENC_UNKNOWN, "NULL");
	CHECK(tok_encoding_by_name("o200k_base") == TOK_O200K_BASE, "by name");
	CHECK(tok_encoding_by_name("p50k_base") == TOK_ENC_UNKNOWN, "p50k");
	CHECK(!strcmp(tok_encoding_name(TOK_CL100K_BASE), "cl100k_base"), "name");
	errno = 0;
	CHECK(tok_encoding_get(TOK_ENC_UNKNOWN) == NULL && errno == EINVAL, "get unknown");
	CHECK(tok_encoding_get(TOK_O200K_BASE) == o2, "get is idempotent");
}

/* Run cmd_tokenize with stdin from `in`; its stdout into out. */
static int run_cmd(char **argv, int argc, const char *in, size_t inlen, char *out, size_t cap)
{
	char inpath[] = "/tmp/tg-tok-in.XXXXXX", outpath[] = "/tmp/tg-tok-out.XXXXXX";
	int fi = mkstemp(inpath), fo = mkstemp(outpath), saved_in = dup(0), saved_out = dup(1);
	int rc, saved_err = dup(2), devnull = open("/dev/null", O_WRONLY);
	ssize_t n;

	if (write(fi, in, inlen) != (ssize_t)inlen)
		return -100;
	lseek(fi, 0, SEEK_SET);
	fflush(stdout);
	dup2(fi, 0);
	dup2(fo, 1);
	dup2(devnull, 2);
	rc = cmd_tokenize(argc, argv);
	fflush(stdout);
	dup2(saved_in, 0);
	dup2(saved_out, 1);
	dup2(saved_err, 2);
	lseek(fo, 0, SEEK_SET);
	n = read(fo, out, cap - 1);
	out[n < 0 ? 0 : n] = 0;
	close(fi);
	close(fo);
	close(saved_in);
	close(saved_out);
	close(saved_err);
	close(devnull);
	unlink(inpath);
	unlink(outpath);
	return rc;
}

static void test_cmd_tokenize(void)
{
	char out[4096];
	char *a1[] = { "tokenize", NULL };
	char *a2[] = { "tokenize", "--encoding", "cl100k_base", NULL };
	char *a3[] = { "tokenize", "--count", "--model", "gpt-4", NULL };
	char *a4[] = { "tokenize", "--bogus", NULL };
	char *a5[] = { "tokenize", "--encoding", "p50k_base", NULL };
	char *a6[] = { "tokenize", "--help", NULL };
	char *a7[] = { "tokenize", "--model", "claude-3", NULL };
	char *a8[] = { "tokenize", "--encoding", NULL };
	char *a9[] = { "tokenize", "-e", "o200k_base", "-m", "gpt-4", NULL };

	CHECK_EQ_INT(run_cmd(a1, 1, "hello world", 11, out, sizeof(out)), 0);
	CHECK(!strcmp(out, "24912 2375\n"), "default o200k: [%s]", out);
	CHECK_EQ_INT(run_cmd(a2, 3, "hello world", 11, out, sizeof(out)), 0);
	CHECK(!strcmp(out, "15339 1917\n"), "cl100k: [%s]", out);
	CHECK_EQ_INT(run_cmd(a3, 4, "hello world", 11, out, sizeof(out)), 0);
	CHECK(!strcmp(out, "2\n"), "count: [%s]", out);
	CHECK_EQ_INT(run_cmd(a1, 1, "", 0, out, sizeof(out)), 0);
	CHECK(!strcmp(out, "\n"), "empty: [%s]", out);
	CHECK_EQ_INT(run_cmd(a1, 1, "<|endoftext|>", 13, out, sizeof(out)), 0);
	CHECK(!strstr(out, "199999"), "special strings are ordinary text: [%s]", out);
	CHECK_EQ_INT(run_cmd(a4, 2, "", 0, out, sizeof(out)), 2);
	CHECK_EQ_INT(run_cmd(a5, 3, "", 0, out, sizeof(out)), 2);
	CHECK_EQ_INT(run_cmd(a6, 2, "", 0, out, sizeof(out)), 0);
	CHECK(strstr(out, "Usage: tollgate tokenize") != NULL, "help: [%s]", out);
	CHECK_EQ_INT(run_cmd(a7, 3, "", 0, out, sizeof(out)), 2);
	CHECK_EQ_INT(run_cmd(a8, 2, "", 0, out, sizeof(out)), 2);
	CHECK_EQ_INT(run_cmd(a9, 5, "", 0, out, sizeof(out)), 2);
}

int main(void)
{
	cl = tok_encoding_get(TOK_CL100K_BASE);
	o2 = tok_encoding_get(TOK_O200K_BASE);
	if (!cl || !o2) {
		printf("FAIL tokenizer_load: %s\n", strerror(errno));
		return 1;
	}
	RUN(test_unicode_classes);
	RUN(test_utf8_repair);
	RUN(test_invalid_utf8_encode);
	RUN(test_pretok_cl100k);
	RUN(test_pretok_o200k);
	RUN(test_against_reference);
	RUN(test_long_pieces);
	RUN(test_known_ids);
	RUN(test_special_tokens);
	RUN(test_vocab_hashes);
	RUN(test_vocab_lookup);
	RUN(test_whitespace_tokens);
	RUN(test_decode_roundtrip);
	RUN(test_models);
	RUN(test_cmd_tokenize);
	return tap_done();
}
