// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * SSE parser tests.  Each input runs whole, cut in two at every offset, and
 * one byte at a time: the event log (with the counters) must not change.
 * The recorded streams of the LLM traffic fixtures ($FIXTURES, default
 * ../shared/fixtures) are checked against an independent event count and
 * what each provider's stream must end with.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <json-c/json.h>
#include "fixtures.h"
#include "tap.h"
#include "decode.h"
#include "membudget.h"
#include "sse.h"

struct sb {
	char *p;
	size_t len, cap;
};

static void sb_add(struct sb *b, const void *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	if (n)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* --- recorder ----------------------------------------------------------- */

/*
 * Writes a text log of the events.  A run that only has to agree with an
 * earlier one compares as it goes instead (expect), which keeps cutting
 * long streams at every offset cheap.
 */
struct rec {
	struct sb log;
	const struct sb *expect;
	size_t pos;		/* of the next byte to compare in expect */
	int differs;
	int stop_at;		/* return -ECANCELED from this event (1-based), 0 never */
	unsigned n;
	struct sb last_event, last_data;
};

static void emit(struct rec *r, const char *s, size_t n)
{
	if (!r->expect) {
		sb_add(&r->log, s, n);
		return;
	}
	if (r->differs || n > r->expect->len - r->pos || memcmp(r->expect->p + r->pos, s, n))
		r->differs = 1;
	else
		r->pos += n;
}

static void emit_field(struct rec *r, const char *tag, const char *s, size_t n)
{
	CHECK(s[n] == '\0', "%s not NUL-terminated", tag);
	emit(r, tag, strlen(tag));
	emit(r, s, n);
	emit(r, "]", 1);
}

static int rec_event(void *ctx, const struct sse_event *ev)
{
	struct rec *r = ctx;

	emit_field(r, "EV event=[", ev->event, ev->event_len);
	emit_field(r, " id=[", ev->id, ev->id_len);
	emit_field(r, " data=[", ev->data, ev->data_len);
	emit(r, "\n", 1);
	if (!r->expect) {
		r->last_event.len = r->last_data.len = 0;
		sb_add(&r->last_event, ev->event, ev->event_len);
		sb_add(&r->last_data, ev->data, ev->data_len);
	}
	return ++r->n == (unsigned)r->stop_at ? -ECANCELED : 0;
}

static void rec_free(struct rec *r)
{
	free(r->log.p);
	free(r->last_event.p);
	free(r->last_data.p);
}

#define CUT_BYTES SIZE_MAX

/* Feeds in, cut at cut (0 whole, CUT_BYTES byte by byte), then finishes. */
static void run(struct rec *r, const char *in, size_t len, size_t max_event, size_t cut)
{
	struct sse_parser *p = sse_parser__new(max_event, rec_event, r);
	struct sse_stats st;
	size_t pos, n;
	char line[160];
	int rc = 0;

	for (pos = 0; pos < len && !rc; pos += n) {
		n = cut == CUT_BYTES ? 1 : cut > pos && cut < len ? cut - pos : len - pos;
		rc = sse_parser__feed(p, (const uint8_t *)in + pos, n);
	}
	if (!rc)
		rc = sse_parser__finish(p);
	sse_parser__stats(p, &st);
	sse_parser__free(p);
	n = rc ? (size_t)snprintf(line, sizeof(line), "ERR %d\n", rc) : 0;
	n += snprintf(line + n, sizeof(line) - n,
		      "STATS events=%llu oversized=%llu partial=%llu comments=%llu\n",
		      (unsigned long long)st.events, (unsigned long long)st.oversized,
		      (unsigned long long)st.partial, (unsigned long long)st.comments);
	emit(r, line, n);
}

static void check_cut(const struct rec *whole, const char *in, size_t len, size_t max_event,
		      size_t cut)
{
	struct rec r = { .stop_at = whole->stop_at, .expect = &whole->log };

	run(&r, in, len, max_event, cut);
	if (r.differs || r.pos != whole->log.len) {
		/* run it again, logging, to show the difference */
		r = (struct rec){ .stop_at = whole->stop_at };
		run(&r, in, len, max_event, cut);
		CHECK(0, "cut at %zd of %zu:\n--- got\n%s--- whole\n%s", (ssize_t)cut, len,
		      r.log.p, whole->log.p);
	}
	rec_free(&r);
}

/* Whole, cut in two at every stride-th offset, byte by byte: all the same
 * (and want, if given). */
static void check_rec(struct rec *whole, const char *in, size_t len, size_t max_event,
		      const char *want, size_t stride)
{
	size_t cut;

	run(whole, in, len, max_event, 0);
	if (want)
		CHECK(!strcmp(whole->log.p, want), "\n--- got\n%s--- want\n%s", whole->log.p, want);
	for (cut = 1; cut < len && !tap_cur_failed; cut += stride)
		check_cut(whole, in, len, max_event, cut);
	check_cut(whole, in, len, max_event, CUT_BYTES);
}

static void check_in(const char *in, size_t len, size_t max_event, const char *want)
{
	struct rec r = { 0 };

	check_rec(&r, in, len, max_event, want, 1);
	rec_free(&r);
}

#define CHECK_IN(in, want) check_in((in), sizeof(in) - 1, SIZE_MAX, (want))
#define CHECK_IN_CAP(in, cap, want) check_in((in), sizeof(in) - 1, (cap), (want))
#define STATS(ev, over, part, com) \
	"STATS events=" #ev " oversized=" #over " partial=" #part " comments=" #com "\n"

/* --- framing rules ------------------------------------------------------ */

static void test_basic(void)
{
	CHECK_IN("data: hello\n\n",
		 "EV event=[] id=[] data=[hello]\n" STATS(1, 0, 0, 0));
	CHECK_IN("event: add\ndata: 73857293\n\n"
		 "event: remove\ndata: 2153\n\n"
		 "data: first\ndata: second\ndata\n\n",
		 "EV event=[add] id=[] data=[73857293]\n"
		 "EV event=[remove] id=[] data=[2153]\n"
		 "EV event=[] id=[] data=[first\nsecond\n]\n"
		 STATS(3, 0, 0, 0));
}

static void test_field_rules(void)
{
	/* one space after the colon is dropped, not two; no colon: empty value;
	 * unknown fields and retry are ignored; field names are case-sensitive */
	CHECK_IN("data:no space\n\n"
		 "data:  two spaces \n\n"
		 "data\ndata\n\n"
		 "data:\n\n"
		 "retry: 1000\nfoo: bar\nDATA: upper\nevent\ndata: x\n\n"
		 "data: a:b: c\n\n",
		 "EV event=[] id=[] data=[no space]\n"
		 "EV event=[] id=[] data=[ two spaces ]\n"
		 "EV event=[] id=[] data=[\n]\n"
		 "EV event=[] id=[] data=[]\n"
		 "EV event=[] id=[] data=[x]\n"
		 "EV event=[] id=[] data=[a:b: c]\n"
		 STATS(6, 0, 0, 0));
	/* no data lines: nothing is dispatched, and the event type resets */
	CHECK_IN("event: ping\n\n"
		 "\n\n\n"
		 "id: 7\n\n"
		 "data: after\n\n",
		 "EV event=[] id=[7] data=[after]\n" STATS(1, 0, 0, 0));
}

static void test_id_and_comments(void)
{
	/* the last event id persists; an id with NUL is ignored; comments count */
	static const char in[] =
		": this is a comment\n"
		"id: 1\ndata: a\n\n"
		"data: b\n\n"
		":\n"
		"id: 2\0x\ndata: c\n\n"
		"id\ndata: d\n\n";

	check_in(in, sizeof(in) - 1, SIZE_MAX,
		 "EV event=[] id=[1] data=[a]\n"
		 "EV event=[] id=[1] data=[b]\n"
		 "EV event=[] id=[1] data=[c]\n"
		 "EV event=[] id=[] data=[d]\n"
		 STATS(4, 0, 0, 2));
}

static void test_line_ends(void)
{
	static const char *const want =
		"EV event=[e] id=[] data=[1\n2]\n"
		"EV event=[] id=[] data=[3]\n"
		STATS(2, 0, 0, 1);

	CHECK_IN("event: e\ndata: 1\ndata: 2\n\n: c\ndata: 3\n\n", want);
	CHECK_IN("event: e\r\ndata: 1\r\ndata: 2\r\n\r\n: c\r\ndata: 3\r\n\r\n", want);
	CHECK_IN("event: e\rdata: 1\rdata: 2\r\r: c\rdata: 3\r\r", want);
	CHECK_IN("event: e\r\ndata: 1\rdata: 2\n\r: c\r\ndata: 3\r\r\n", want);
	/* CR LF is one line end, LF CR is two */
	CHECK_IN("data: x\n\rdata: y\n\n",
		 "EV event=[] id=[] data=[x]\n" "EV event=[] id=[] data=[y]\n" STATS(2, 0, 0, 0));
}

static void test_bom(void)
{
	CHECK_IN("\xef\xbb\xbf" "data: bom\n\n",
		 "EV event=[] id=[] data=[bom]\n" STATS(1, 0, 0, 0));
	/* only one, only at the start */
	CHECK_IN("\xef\xbb\xbf\xef\xbb\xbf" "data: two\n\ndata: ok\n\n",
		 "EV event=[] id=[] data=[ok]\n" STATS(1, 0, 0, 0));
	CHECK_IN("data: x\n\n\xef\xbb\xbf" "data: mid\n\n",
		 "EV event=[] id=[] data=[x]\n" STATS(1, 0, 0, 0));
	/* a BOM prefix that is not one is text */
	CHECK_IN("\xef\xbb" "data: y\n\n" "data: z\n\n",
		 "EV event=[] id=[] data=[z]\n" STATS(1, 0, 0, 0));
	CHECK_IN("\xef" "\n" "data: z\n\n",
		 "EV event=[] id=[] data=[z]\n" STATS(1, 0, 0, 0));
	CHECK_IN("\xef\xbb", STATS(0, 0, 0, 0));
}

static void test_finish(void)
{
	CHECK_IN("data: 1\n\ndata: unterminated", "EV event=[] id=[] data=[1]\n" STATS(1, 0, 1, 0));
	CHECK_IN("data: 1\n\ndata: no blank line\n", "EV event=[] id=[] data=[1]\n" STATS(1, 0, 1, 0));
	CHECK_IN("data: 1\n\ndata: cr\r", "EV event=[] id=[] data=[1]\n" STATS(1, 0, 1, 0));
	CHECK_IN("data: 1\n\nevent: x\n: c", "EV event=[] id=[] data=[1]\n" STATS(1, 0, 0, 1));
	CHECK_IN("", STATS(0, 0, 0, 0));
}

static void test_oversized(void)
{
	static const char in[] =
		"data: 0123456789\ndata: 0123456789\ndata: 0123456789\n\n"	/* 33 bytes of data */
		"data: small\n\n"
		"event: e\ndata: 01234567890123456789012345678901234567890\n\n"	/* one long line */
		": a comment longer than the cap is no event at all........\n"
		"data: after\n\n"
		"data: 0123456789012345678901234567890123456789 unterminated";

	check_in(in, sizeof(in) - 1, 32,
		 "EV event=[] id=[] data=[small]\n"
		 "EV event=[] id=[] data=[after]\n"
		 STATS(2, 3, 0, 1));
	/* a comment does not count against the cap, even cut in pieces */
	CHECK_IN_CAP("data: 0123456789012345\n: comment\ndata: 67890\n\n", 32,
		     "EV event=[] id=[] data=[0123456789012345\n67890]\n" STATS(1, 0, 0, 1));
	/* the same with room for everything */
	check_in(in, sizeof(in) - 1, 64,
		 "EV event=[] id=[] data=[0123456789\n0123456789\n0123456789]\n"
		 "EV event=[] id=[] data=[small]\n"
		 "EV event=[e] id=[] data=[01234567890123456789012345678901234567890]\n"
		 "EV event=[] id=[] data=[after]\n"
		 STATS(4, 0, 1, 1));
}

static void test_callback_error(void)
{
	static const char in[] = "data: 1\n\ndata: 2\n\ndata: 3\n\n";
	struct rec r = { .stop_at = 2 };
	struct sse_parser *p;

	check_rec(&r, in, sizeof(in) - 1, SIZE_MAX,
		  "EV event=[] id=[] data=[1]\nEV event=[] id=[] data=[2]\n"
		  "ERR -125\n" STATS(2, 0, 0, 0), 1);
	rec_free(&r);

	r = (struct rec){ .stop_at = 1 };
	p = sse_parser__new(SIZE_MAX, rec_event, &r);
	CHECK_EQ_INT(sse_parser__feed(p, (const uint8_t *)in, sizeof(in) - 1), -ECANCELED);
	CHECK_EQ_INT(sse_parser__feed(p, (const uint8_t *)in, 1), -ECANCELED);
	CHECK_EQ_INT(sse_parser__finish(p), -ECANCELED);
	sse_parser__free(p);
	sse_parser__free(NULL);
	rec_free(&r);
}

static void test_reuse_after_finish(void)
{
	static const char one[] = "id: 5\ndata: a\n\ndata: b", two[] = "\xef\xbb\xbf" "data: c\n\n";
	struct rec r = { 0 };
	struct sse_parser *p = sse_parser__new(SIZE_MAX, rec_event, &r);

	CHECK_EQ_INT(sse_parser__feed(p, (const uint8_t *)one, sizeof(one) - 1), 0);
	CHECK_EQ_INT(sse_parser__finish(p), 0);
	CHECK_EQ_INT(sse_parser__feed(p, (const uint8_t *)two, sizeof(two) - 1), 0);
	CHECK(r.log.p && !strcmp(r.log.p, "EV event=[] id=[5] data=[a]\nEV event=[] id=[] data=[c]\n"),
	      "%s", r.log.p);
	sse_parser__free(p);
	rec_free(&r);
}

/*
 * Under a memory bound: an event whose buffer the bound refuses is dropped
 * and counted as shed, later events still come, and every byte charged
 * is given back.
 */
static void test_budget_shed(void)
{
	static char in[4096 + 64];
	struct rec r = { 0 };
	struct membudget mb;
	struct sse_parser *p;
	struct sse_stats st;
	size_t n;

	n = snprintf(in, sizeof(in), "data: %03000d\n\ndata: ok\n\n", 0);
	membudget_init(&mb, 2048);
	p = sse_parser__new(SIZE_MAX, rec_event, &r);
	sse_parser__set_budget(p, &mb);
	/* byte by byte, so the lines are buffered too */
	for (size_t i = 0; i < n; i++)
		CHECK_EQ_INT(sse_parser__feed(p, (const uint8_t *)in + i, 1), 0);
	CHECK_EQ_INT(sse_parser__finish(p), 0);
	sse_parser__stats(p, &st);
	CHECK_EQ_INT(st.shed, 1);
	CHECK_EQ_INT(st.events, 1);
	CHECK(r.log.p && !strcmp(r.log.p, "EV event=[] id=[] data=[ok]\n"), "%s", r.log.p);
	CHECK(mb.peak <= mb.limit, "peak %llu", (unsigned long long)mb.peak);
	sse_parser__free(p);
	CHECK_EQ_INT(mb.used, 0);
	rec_free(&r);
}

/* --- recorded streams --------------------------------------------------- */

static const char *jstr(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string) ?
	       json_object_get_string(v) : NULL;
}

static int collect(void *ctx, const uint8_t *out, size_t len)
{
	sb_add(ctx, out, len);
	return 0;
}

/* An SSE stream, by its recorded content type or Gemini's alt=sse. */
static int is_sse(json_object *fx)
{
	json_object *hdrs;
	const char *path = jstr(fx, "path");

	if (path && strstr(path, "alt=sse"))
		return 1;
	json_object_object_get_ex(fx, "response_headers", &hdrs);
	json_object_object_foreach(hdrs, name, val)
		if (!strcasecmp(name, "content-type") &&
		    strstr(json_object_get_string(val), "text/event-stream"))
			return 1;
	return 0;
}

/* Events by a plain reading of the text: blocks between blank lines that
 * hold a "data" line (CR LF and CR made LF first). */
static unsigned count_events(const char *s)
{
	struct sb t = { 0 };
	unsigned n = 0;
	int has_data = 0;
	char *line, *eol;

	for (; *s; s++) {
		if (*s != '\r')
			sb_add(&t, s, 1);
		else if (s[1] != '\n')
			sb_add(&t, "\n", 1);
	}
	for (line = t.p; line && (eol = strchr(line, '\n')); line = eol + 1) {
		*eol = '\0';
		if (!*line) {
			n += has_data;
			has_data = 0;
		} else if (!strncmp(line, "data", 4) && (line[4] == ':' || !line[4])) {
			has_data = 1;
		}
	}
	free(t.p);
	return n;
}

static void check_stream(const char *name, const char *kind, const char *body, size_t len)
{
	struct rec r = { 0 };
	unsigned want = count_events(body);
	char stats[128];

	/* past 8 KiB, some 8000 cuts spread evenly (byte by byte covers every offset) */
	check_rec(&r, body, len, 1 << 20, NULL, 1 + len / 8192);
	snprintf(stats, sizeof(stats), "STATS events=%u oversized=0 partial=0 ", want);
	CHECK(want > 0 && r.n == want && strstr(r.log.p, stats), "%s: %u events, want %u", name, r.n, want);
	if (!strncmp(kind, "anthropic", 9)) {
		CHECK(!strcmp(r.last_event.p, "message_stop"), "%s: last event %s", name, r.last_event.p);
		CHECK(strstr(r.log.p, "EV event=[message_start]") == r.log.p, "%s: first event", name);
	} else if (!strncmp(kind, "openai-responses", 16)) {
		CHECK(!strcmp(r.last_event.p, "response.completed"), "%s: last %s", name, r.last_event.p);
	} else if (!strncmp(kind, "gemini", 6)) {
		CHECK(strstr(r.last_data.p, "\"usageMetadata\""), "%s: last %s", name, r.last_data.p);
	} else {	/* OpenAI chat and compatible */
		CHECK(!strcmp(r.last_data.p, "[DONE]"), "%s: last data %s", name, r.last_data.p);
	}
	rec_free(&r);
}

static void test_fixture_streams(void)
{
	struct dirent **ents;
	char dir[512], path[1024];
	int i, n, streams = 0;

	n = scandir(fixture_dir(dir, sizeof(dir)), &ents, json_suffix, alphasort);
	CHECK(n > 0, "%s: no fixtures", dir);
	for (i = 0; i < n; i++) {
		json_object *fx;
		const char *text, *b64;

		snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
		fx = json_object_from_file(path);
		CHECK(fx != NULL, "%s: unreadable", path);
		if (fx && is_sse(fx) && !tap_cur_failed) {
			text = jstr(fx, "response_body");
			b64 = jstr(fx, "response_body_base64");
			if (b64) {
				/* the wire bytes gunzip to the recorded text */
				uint8_t *gz = malloc(strlen(b64));
				struct decoder *d = decoder__new("gzip", 4, 64 << 20, NULL);
				struct sb plain = { 0 };
				size_t gzlen = base64_decode(b64, gz);

				CHECK_EQ_INT(decoder__feed(d, gz, gzlen, collect, &plain), 0);
				CHECK_EQ_INT(decoder__finish(d, collect, &plain), 0);
				CHECK(plain.len == strlen(text) && !memcmp(plain.p, text, plain.len),
				      "%s: gunzip", ents[i]->d_name);
				check_stream(ents[i]->d_name, jstr(fx, "kind"), plain.p, plain.len);
				decoder__free(d);
				free(gz);
				free(plain.p);
			} else {
				check_stream(ents[i]->d_name, jstr(fx, "kind"), text, strlen(text));
			}
			streams++;
		}
		json_object_put(fx);
		free(ents[i]);
	}
	free(ents);
	CHECK(streams >= 1, "no SSE fixtures");
}

int main(void)
{
	RUN(test_basic);
	RUN(test_field_rules);
	RUN(test_id_and_comments);
	RUN(test_line_ends);
	RUN(test_bom);
	RUN(test_finish);
	RUN(test_oversized);
	RUN(test_callback_error);
	RUN(test_reuse_after_finish);
	RUN(test_budget_shed);
	if (have_fixtures())
		RUN(test_fixture_streams);
	else
		tap_skip("test_fixture_streams", "no fixtures: set FIXTURES to the fixtures directory");
	return tap_done();
}
