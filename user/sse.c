// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * text/event-stream parser (WHATWG HTML, "Server-sent events", event stream
 * interpretation).  Lines complete within one feed are read where they lie;
 * only a line cut by the end of a feed is copied.  Comment lines are never
 * buffered beyond their colon, so keep-alive padding costs nothing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "membudget.h"
#include "sse.h"

struct buf {
	char *p;	/* NUL-terminated once allocated */
	size_t len, cap;
};

struct sse_parser {
	size_t max_event;
	struct membudget *mb;	/* charged for the buffers */
	sse_event_fn fn;
	void *ctx;
	int err;		/* sticky */
	uint8_t bom;		/* BOM bytes matched at stream start; 3 once past it */
	uint8_t skip_lf;	/* the last line ended in CR: an LF next belongs to it */
	uint8_t oversized;	/* the current event went over max_event: drop it */
	uint8_t skip_line;	/* the pending line went over max_event: drop to its end */
	struct buf line;	/* a line cut by the end of a feed */
	struct buf event, data, id;
	struct sse_stats st;
};

static const char bom[] = "\xef\xbb\xbf";

#define FIELD_IS(s, n, lit) ((n) == sizeof(lit) - 1 && !memcmp((s), (lit), (n)))

static int buf_put(struct membudget *mb, struct buf *b, const char *s, size_t n)
{
	size_t cap = b->cap ? b->cap : 256;
	char *p;

	if (b->len + n + 1 > b->cap) {
		while (cap < b->len + n + 1)
			cap *= 2;
		p = membudget_realloc(mb, b->p, cap, MEMBUDGET_BULK);
		if (!p)
			return -errno;
		b->p = p;
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static const char *buf_str(const struct buf *b)
{
	return b->len ? b->p : "";
}

/*
 * Does a line of n bytes fit beside what the event holds?  Checked for
 * every field line, whole or still pending, so a line that fits also fits
 * once applied (a value is shorter than its line) and the outcome does not
 * depend on where the feeds were cut.
 */
static int fits(const struct sse_parser *p, size_t n)
{
	return p->event.len + p->data.len + p->id.len + n <= p->max_event;
}

static void drop_event(struct sse_parser *p)
{
	if (!p->oversized)
		p->st.oversized++;
	p->oversized = 1;
	p->data.len = 0;
	p->event.len = 0;
}

static void buf_release(struct sse_parser *p, struct buf *b)
{
	membudget_free(p->mb, b->p);
	*b = (struct buf){ 0 };
}

/*
 * Appends to one of the parser's buffers.  When the memory budget refuses,
 * the event is dropped as an oversized one would be (counted apart) and
 * its buffers are given back; a line refused is skipped to its end.  (A
 * line being applied is not released: its bytes are being read.)
 */
static int put(struct sse_parser *p, struct buf *b, const char *s, size_t n)
{
	int err = buf_put(p->mb, b, s, n);

	if (err != -ENOBUFS)
		return err;
	if (!p->oversized)
		p->st.shed++;
	p->oversized = 1;
	buf_release(p, &p->data);
	buf_release(p, &p->event);
	if (b == &p->line) {
		buf_release(p, &p->line);
		p->skip_line = 1;
	}
	return 0;
}

static int dispatch(struct sse_parser *p)
{
	struct sse_event ev;
	int rc = 0;

	/* an event without data lines is not dispatched */
	if (!p->oversized && p->data.len) {
		p->data.p[--p->data.len] = '\0';	/* the LF after the last data line */
		ev = (struct sse_event){
			.event = buf_str(&p->event), .event_len = p->event.len,
			.data = buf_str(&p->data), .data_len = p->data.len,
			.id = buf_str(&p->id), .id_len = p->id.len,
		};
		p->st.events++;
		rc = p->fn ? p->fn(p->ctx, &ev) : 0;
	}
	p->oversized = 0;
	p->data.len = 0;
	p->event.len = 0;
	return rc < 0 ? rc : 0;
}

/* One line, without its line end. */
static int on_line(struct sse_parser *p, const char *s, size_t n)
{
	const char *v = s + n, *colon;
	size_t fl = n, vl = 0;
	int err;

	if (!n)
		return dispatch(p);
	if (s[0] == ':') {
		p->st.comments++;
		return 0;
	}
	if (p->oversized)
		return 0;
	if (!fits(p, n)) {
		drop_event(p);
		return 0;
	}
	colon = memchr(s, ':', n);
	if (colon) {
		fl = colon - s;
		v = colon + 1;
		vl = n - fl - 1;
		if (vl && *v == ' ') {
			v++;
			vl--;
		}
	}
	if (FIELD_IS(s, fl, "data")) {
		err = put(p, &p->data, v, vl);
		return err || p->oversized ? err : put(p, &p->data, "\n", 1);
	}
	if (FIELD_IS(s, fl, "event")) {
		p->event.len = 0;
		return put(p, &p->event, v, vl);
	}
	if (FIELD_IS(s, fl, "id") && !memchr(v, '\0', vl)) {
		p->id.len = 0;
		return put(p, &p->id, v, vl);
	}
	return 0;	/* retry, and any other field, are ignored */
}

/* Part of a line that continues in a later feed. */
static int line_add(struct sse_parser *p, const char *s, size_t n)
{
	if (p->skip_line || (p->line.len && p->line.p[0] == ':'))
		return 0;
	if (!p->line.len && n && s[0] == ':')
		return put(p, &p->line, s, 1);	/* a comment: only its colon matters */
	if (!fits(p, p->line.len + n)) {
		drop_event(p);
		p->skip_line = 1;
		p->line.len = 0;
		return 0;
	}
	return put(p, &p->line, s, n);
}

static int line_end(struct sse_parser *p)
{
	size_t n = p->line.len;
	int skip = p->skip_line;

	/* the line leaves the buffer (its bytes stay put) before it is applied */
	p->line.len = 0;
	p->skip_line = 0;
	return skip ? 0 : on_line(p, p->line.p, n);
}

static int feed_lines(struct sse_parser *p, const char *s, size_t n)
{
	const char *end = s + n, *lf, *e;
	int err = 0;

	while (!err && s < end) {
		if (p->skip_lf) {
			p->skip_lf = 0;
			if (*s == '\n') {
				s++;
				continue;
			}
		}
		lf = memchr(s, '\n', end - s);
		e = memchr(s, '\r', (lf ? lf : end) - s);
		if (!e)
			e = lf;
		if (!e)
			return line_add(p, s, end - s);
		if (p->line.len || p->skip_line) {
			err = line_add(p, s, e - s);
			if (!err)
				err = line_end(p);
		} else {
			err = on_line(p, s, e - s);
		}
		p->skip_lf = *e == '\r';
		s = e + 1;
	}
	return err;
}

int sse_parser__feed(struct sse_parser *p, const uint8_t *data, size_t len)
{
	const char *s = (const char *)data, *end = s + len;
	int err = 0;

	if (p->err)
		return p->err;
	/* a UTF-8 BOM at the start of the stream is not part of the first line */
	while (p->bom < 3 && s < end) {
		if (*s == bom[p->bom]) {
			p->bom++;
			s++;
			continue;
		}
		err = feed_lines(p, bom, p->bom);	/* what looked like a BOM was text */
		p->bom = 3;
	}
	if (!err && s < end)
		err = feed_lines(p, s, end - s);
	p->err = err;
	return err;
}

int sse_parser__finish(struct sse_parser *p)
{
	int err = 0;

	if (p->err)
		return p->err;
	if (p->bom < 3)
		err = feed_lines(p, bom, p->bom);
	/* the unterminated last line counts as a line, but nothing is dispatched */
	if (!err && (p->line.len || p->skip_line))
		err = line_end(p);
	if (!err && !p->oversized && p->data.len)
		p->st.partial++;
	p->bom = 0;
	p->skip_lf = 0;
	p->oversized = 0;
	p->data.len = 0;
	p->event.len = 0;
	p->id.len = 0;
	p->err = err;
	return err;
}

struct sse_parser *sse_parser__new(size_t max_event, sse_event_fn fn, void *ctx)
{
	struct sse_parser *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->max_event = max_event;
	p->fn = fn;
	p->ctx = ctx;
	return p;
}

void sse_parser__set_budget(struct sse_parser *p, struct membudget *mb)
{
	p->mb = mb;
}

void sse_parser__stats(const struct sse_parser *p, struct sse_stats *out)
{
	*out = p->st;
}

void sse_parser__free(struct sse_parser *p)
{
	if (!p)
		return;
	buf_release(p, &p->line);
	buf_release(p, &p->event);
	buf_release(p, &p->data);
	buf_release(p, &p->id);
	free(p);
}
