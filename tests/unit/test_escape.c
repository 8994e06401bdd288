// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Escaping what captured bytes and other users' names put in front of a
 * terminal or a log, and cleaning what goes into JSON.
 */
#include <string.h>
#include "escape.h"
#include "tap.h"

static const char *esc(const char *s, size_t n, unsigned flags)
{
	static char buf[512];

	escape_text(buf, sizeof(buf), s, n, flags);
	return buf;
}

#define ESC(lit, flags) esc(lit, sizeof(lit) - 1, flags)

static void test_controls(void)
{
	/* a model name that tries to forge a record line and recolour the terminal */
	CHECK(!strcmp(ESC("gpt\n12:00:00.000 1 evil", 0), "gpt\\x0a12:00:00.000 1 evil"), "%s",
	      ESC("gpt\n12:00:00.000 1 evil", 0));
	CHECK(!strcmp(ESC("\x1b[31mred\x1b[0m", 0), "\\x1b[31mred\\x1b[0m"), "%s",
	      ESC("\x1b[31mred\x1b[0m", 0));
	CHECK(!strcmp(ESC("a\rb\tc\x7f", 0), "a\\x0db\\x09c\\x7f"), "%s", ESC("a\rb\tc\x7f", 0));
	CHECK(!strcmp(ESC("nul\0x", 0), "nul\\x00x"), "%s", ESC("nul\0x", 0));
	/* the escape character itself, so an escape cannot be faked */
	CHECK(!strcmp(ESC("a\\x0a", 0), "a\\x5cx0a"), "%s", ESC("a\\x0a", 0));
}

static void test_unicode(void)
{
	/* C1 CSI as UTF-8, bidi override, line separator: escaped */
	CHECK(!strcmp(ESC("\xc2\x9b" "31m", 0), "\\u{009b}31m"), "%s", ESC("\xc2\x9b" "31m", 0));
	CHECK(!strcmp(ESC("ab\xe2\x80\xae" "cd", 0), "ab\\u{202e}cd"), "%s",
	      ESC("ab\xe2\x80\xae" "cd", 0));
	CHECK(!strcmp(ESC("x\xe2\x80\xa8y", 0), "x\\u{2028}y"), "%s", ESC("x\xe2\x80\xa8y", 0));
	/* ordinary text in any script is kept */
	CHECK(!strcmp(ESC("modèle-日本-🙂", 0), "modèle-日本-🙂"), "%s", ESC("modèle-日本-🙂", 0));
	/* ill-formed UTF-8: each byte shown */
	CHECK(!strcmp(ESC("a\xff\xc3(b\xed\xa0\x80", 0), "a\\xff\\xc3(b\\xed\\xa0\\x80"), "%s",
	      ESC("a\xff\xc3(b\xed\xa0\x80", 0));
}

static void test_spaces_and_cut(void)
{
	char small[8];
	int cut;

	CHECK(!strcmp(ESC("a b", ESCAPE_SPACE), "a\\x20b"), "%s", ESC("a b", ESCAPE_SPACE));
	CHECK(!strcmp(ESC("a b", 0), "a b"), "%s", ESC("a b", 0));
	/* output that does not fit is cut whole: never half an escape or a
	 * character */
	cut = escape_text(small, sizeof(small), "abcd\nef", 7, 0);
	CHECK(cut && !strcmp(small, "abcd"), "cut %d '%s'", cut, small);
	cut = escape_text(small, sizeof(small), "ab日本", 8, 0);
	CHECK(cut && !strcmp(small, "ab日"), "cut %d '%s'", cut, small);
	cut = escape_text(small, sizeof(small), "abc", 3, 0);
	CHECK(!cut && !strcmp(small, "abc"), "cut %d '%s'", cut, small);
}

static void test_utf8_clean(void)
{
	char buf[64];
	int cut;

	cut = escape_utf8(buf, sizeof(buf), "ok\xff\xe2\x82x\x1b", 7);
	CHECK(!cut && !strcmp(buf, "ok\xef\xbf\xbd\xef\xbf\xbdx\x1b"), "'%s'", buf);
	cut = escape_utf8(buf, 5, "abcdef", 6);
	CHECK(cut && !strcmp(buf, "abcd"), "'%s'", buf);
}

int main(void)
{
	RUN(test_controls);
	RUN(test_unicode);
	RUN(test_spaces_and_cut);
	RUN(test_utf8_clean);
	return tap_done();
}
