// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Incremental HTTP/1.x parser (RFC 9112).
 *
 * A head that arrives whole in one feed is parsed where it lies; otherwise
 * its bytes are gathered in a buffer that grows up to HTTP1_MAX_HEAD.  The
 * request or status line is checked as soon as it is complete (and its
 * first bytes as soon as they arrive), so a stream that is not HTTP/1 fails
 * fast.  Body bytes go to on_body straight from the caller's buffer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "http1.h"
#include "membudget.h"

#define CHUNK_LINE_MAX 4096	/* chunk-size line with its extensions */
#define METHOD_MAX     32	/* longest method token accepted at a message start */
#define HBUF_KEEP      4096	/* head buffer kept between messages */

enum state {
	ST_HEAD,	/* between messages, or inside a head */
	ST_BODY_LEN,	/* content-length body */
	ST_CHUNK_SIZE,	/* chunk-size line */
	ST_CHUNK_DATA,
	ST_CHUNK_END,	/* line end after chunk data */
	ST_TRAILERS,
	ST_BODY_EOF,	/* response body delimited by the connection close */
	ST_RESYNC,	/* framing lost: looking for a message start */
	ST_TUNNEL,	/* no longer HTTP: ignore everything */
	ST_CLOSED,	/* after eof */
};

enum framing { FR_NONE, FR_LENGTH, FR_CHUNKED, FR_EOF };

/* chunk-size line: where we are in "1a3 ;ext=v\r\n" */
enum { CS_SIZE, CS_WS, CS_EXT, CS_LF };

/* Line scanner shared by heads and trailer sections. */
enum { EV_NONE, EV_LINE1, EV_END, EV_BAD };
struct scan {
	uint8_t bol;	/* at the beginning of a line */
	uint8_t cr;	/* last byte was CR: LF must follow */
	uint32_t lines;	/* complete lines so far */
};

struct http1_parser {
	enum http1_kind kind;
	struct http1_callbacks cb;
	void *ctx;
	enum state state;
	int err;		/* sticky error, cleared by a gap */
	uint8_t in_msg;		/* on_head reported, on_end not yet */
	uint8_t candidate;	/* head start found by resync: if it fails, resync again */
	uint8_t tunnel_after;	/* the current message hands the stream to a tunnel */
	uint8_t rs_bol;		/* resync: at the beginning of a line */
	uint8_t cs;		/* CS_*, also ST_CHUNK_END's "CR seen" */
	uint8_t has_digit;	/* the chunk size has a digit */
	enum framing framing;	/* of the head just parsed */
	uint64_t remaining;	/* body or chunk bytes left; the chunk size being read */
	size_t aux_len;		/* bytes of the chunk-size line or trailer section */
	struct scan scan;
	uint8_t *hbuf;		/* partial head, or resync look-ahead */
	size_t hlen, hcap;
	struct membudget *mb;	/* charged for hbuf */
	struct http1_stats st;
};

/* RFC 9110 tchar */
static const uint8_t tchar[256] = {
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1,
	['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,
	['~'] = 1, ['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1,
};

static const char *const known_methods[] = {
	"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE",
};

#define IEQ(s, n, lit) ((n) == sizeof(lit) - 1 && !strncasecmp((s), (lit), (n)))

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int is_ows(int c)
{
	return c == ' ' || c == '\t';
}

/* field-value and reason-phrase bytes: no controls but HTAB */
static int is_text(uint8_t c)
{
	return (c >= 0x20 && c != 0x7f) || c == '\t';
}

static int hex_val(uint8_t c)
{
	if (is_digit(c))
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Length of a line that ended just before its LF at s[n]: drop the CR. */
static size_t line_len(const char *s, size_t n)
{
	return n && s[n - 1] == '\r' ? n - 1 : n;
}

static int known_method(const uint8_t *s, size_t n)
{
	size_t i;

	for (i = 0; i < sizeof(known_methods) / sizeof(known_methods[0]); i++)
		if (strlen(known_methods[i]) == n && !memcmp(s, known_methods[i], n))
			return 1;
	return 0;
}

/*
 * Could b[0..n), with no line end yet, begin a message?  1 yes, 0 cannot
 * tell yet, -1 no.  strict (resync) wants a known method and the first byte
 * of a target, or a full "HTTP/1.x NNN".
 */
static int start_check(enum http1_kind kind, const uint8_t *b, size_t n, int strict)
{
	static const char status[] = "HTTP/1.# ###";
	size_t i;

	if (kind == HTTP1_RESPONSE) {
		for (i = 0; i < n && i < sizeof(status) - 1; i++)
			if (status[i] == '#' ? !is_digit(b[i]) : b[i] != status[i])
				return -1;
		return i == sizeof(status) - 1;
	}
	for (i = 0; i < n && tchar[b[i]]; i++)
		;
	if (i > (strict ? 7 : METHOD_MAX))
		return -1;
	if (i == n)
		return 0;
	if (!i || b[i] != ' ' || (strict && !known_method(b, i)))
		return -1;
	if (++i == n)
		return 0;
	return b[i] > ' ' && b[i] != 0x7f ? 1 : -1;
}

/*
 * Feeds head bytes to the line scanner.  Stops after the LF that ends the
 * first line (EV_LINE1) or the blank line that ends the section (EV_END),
 * or after a CR not followed by LF (EV_BAD).  Returns the bytes scanned.
 */
static size_t scan_lines(struct scan *s, const uint8_t *d, size_t n, int *ev)
{
	const uint8_t *lf, *cr;
	size_t i = 0, stop;

	while (i < n) {
		if (s->cr) {
			s->cr = 0;
			if (d[i] != '\n') {
				*ev = EV_BAD;
				return i + 1;
			}
		} else {
			lf = memchr(d + i, '\n', n - i);
			stop = lf ? (size_t)(lf - d) : n;
			cr = memchr(d + i, '\r', stop - i);
			if (cr)
				stop = cr - d;
			if (stop > i)
				s->bol = 0;
			if (cr) {
				s->cr = 1;
				i = stop + 1;
				continue;
			}
			if (!lf)
				break;
			i = stop;
		}
		/* d[i] is a line's LF */
		i++;
		if (s->bol) {
			*ev = EV_END;
			return i;
		}
		s->bol = 1;
		if (++s->lines == 1) {
			*ev = EV_LINE1;
			return i;
		}
	}
	*ev = EV_NONE;
	return n;
}

static int parse_version(const char *s, struct http1_head *h)
{
	if (memcmp(s, "HTTP/1.", 7) || !is_digit(s[7]))
		return -EBADMSG;
	h->version_minor = s[7] - '0';
	return 0;
}

/* Request line or status line, without its line end. */
static int parse_start_line(enum http1_kind kind, const char *s, size_t n, struct http1_head *h)
{
	size_t i = 0, t;

	if (kind == HTTP1_RESPONSE) {
		/* HTTP/1.1 200 OK; the reason phrase may be empty, even its SP */
		if (n < 12 || parse_version(s, h) || s[8] != ' ' || !is_digit(s[9]) ||
		    !is_digit(s[10]) || !is_digit(s[11]) || s[9] == '0' || (n > 12 && s[12] != ' '))
			return -EBADMSG;
		h->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
		for (i = 13; i < n; i++)
			if (!is_text(s[i]))
				return -EBADMSG;
		return 0;
	}
	/* GET /path HTTP/1.1 */
	while (i < n && tchar[(uint8_t)s[i]])
		i++;
	if (!i || i > METHOD_MAX || i == n || s[i] != ' ')
		return -EBADMSG;
	h->method = s;
	h->method_len = i;
	t = ++i;
	while (i < n && (uint8_t)s[i] > ' ' && s[i] != 0x7f)
		i++;
	if (i == t || n - i != 9 || s[i] != ' ' || parse_version(s + i + 1, h))
		return -EBADMSG;
	h->target = s + t;
	h->target_len = i - t;
	return 0;
}

/* Next element of a comma-separated list, trimmed, possibly empty; 0 at the end. */
static int list_next(const char **pos, const char *end, const char **tok, size_t *len)
{
	const char *s = *pos, *e;

	if (s > end)
		return 0;
	e = memchr(s, ',', end - s);
	if (!e)
		e = end;
	*pos = e + 1;
	while (s < e && is_ows(*s))
		s++;
	while (e > s && is_ows(e[-1]))
		e--;
	*tok = s;
	*len = e - s;
	return 1;
}

/* Content-Length: 1*DIGIT, or a list of identical values; must agree with *cl if set. */
static int parse_length(const char *v, size_t n, int64_t *cl)
{
	const char *pos = v, *t;
	size_t tl, i;

	while (list_next(&pos, v + n, &t, &tl)) {
		int64_t x = 0;

		if (!tl)
			return -EBADMSG;
		for (i = 0; i < tl; i++) {
			if (!is_digit(t[i]) || x > (INT64_MAX - (t[i] - '0')) / 10)
				return -EBADMSG;
			x = x * 10 + (t[i] - '0');
		}
		if (*cl >= 0 && *cl != x)
			return -EBADMSG;
		*cl = x;
	}
	return 0;
}

static int parse_field(const char *s, size_t n, struct http1_header *f)
{
	size_t i = 0, v, e, k;

	/* a line starting with whitespace (obs-fold) fails here too */
	while (i < n && tchar[(uint8_t)s[i]])
		i++;
	if (!i || i == n || s[i] != ':')
		return -EBADMSG;
	for (v = i + 1; v < n && is_ows(s[v]); v++)
		;
	for (e = n; e > v && is_ows(s[e - 1]); e--)
		;
	for (k = v; k < e; k++)
		if (!is_text(s[k]))
			return -EBADMSG;
	f->name = s;
	f->name_len = i;
	f->value = s + v;
	f->value_len = e - v;
	return 0;
}

struct head_flags {
	int te;		/* Transfer-Encoding present */
	int close;	/* Connection: close */
	int keep_alive;	/* Connection: keep-alive */
};

/* Keeps the first value of a header the head reports raw. */
static void first_value(const struct http1_header *f, const char **v, size_t *vl)
{
	if (!*v) {
		*v = f->value;
		*vl = f->value_len;
	}
}

/* Folds one header field into the head summary. */
static int apply_field(enum http1_kind kind, const struct http1_header *f, struct http1_head *h,
		       struct head_flags *fl)
{
	const char *n = f->name, *v = f->value, *pos = v, *t;
	size_t vl = f->value_len, tl;

	switch (f->name_len) {	/* one string compare per field at most */
	case 4:
		if (kind == HTTP1_REQUEST && !strncasecmp(n, "host", 4))
			first_value(f, &h->host, &h->host_len);
		break;
	case 6:
		if (kind == HTTP1_REQUEST && !strncasecmp(n, "expect", 6))
			h->expect_continue |= IEQ(v, vl, "100-continue");
		break;
	case 10:
		if (strncasecmp(n, "connection", 10))
			break;
		while (list_next(&pos, v + vl, &t, &tl)) {
			fl->close |= IEQ(t, tl, "close");
			fl->keep_alive |= IEQ(t, tl, "keep-alive");
		}
		break;
	case 12:
		if (!strncasecmp(n, "content-type", 12))
			first_value(f, &h->content_type, &h->content_type_len);
		break;
	case 14:
		if (!strncasecmp(n, "content-length", 14))
			return parse_length(v, vl, &h->content_length);
		break;
	case 16:
		if (!strncasecmp(n, "content-encoding", 16))
			first_value(f, &h->content_encoding, &h->content_encoding_len);
		break;
	case 17:
		if (strncasecmp(n, "transfer-encoding", 17))
			break;
		fl->te = 1;
		while (list_next(&pos, v + vl, &t, &tl))
			if (tl)
				h->chunked = IEQ(t, tl, "chunked");
		break;
	}
	return 0;
}

/*
 * Parses a complete head s[0..n) (ends with its blank line; the scanner has
 * already refused bare CRs) and decides the body framing.
 */
static int parse_head(struct http1_parser *p, const char *s, size_t n, struct http1_head *h,
		      struct http1_header *hdrs)
{
	const char *end = s + n, *line, *eol;
	struct head_flags fl = { 0 };
	size_t len;
	int err;

	memset(h, 0, sizeof(*h));
	h->content_length = -1;
	h->headers = hdrs;
	eol = memchr(s, '\n', n);
	err = parse_start_line(p->kind, s, line_len(s, eol - s), h);
	if (err)
		return err;
	for (line = eol + 1; line < end; line = eol + 1) {
		eol = memchr(line, '\n', end - line);
		len = line_len(line, eol - line);
		if (!len)
			break;
		if (h->nheaders == HTTP1_MAX_HEADERS)
			return -EBADMSG;
		err = parse_field(line, len, &hdrs[h->nheaders]);
		if (!err)
			err = apply_field(p->kind, &hdrs[h->nheaders++], h, &fl);
		if (err)
			return err;
	}
	h->conn_close = fl.close || (h->version_minor == 0 && !fl.keep_alive);
	if (fl.te) {
		/* Transfer-Encoding overrides Content-Length (RFC 9112 6.3) */
		if (!h->chunked && p->kind == HTTP1_REQUEST)
			return -EBADMSG;
		p->framing = h->chunked ? FR_CHUNKED : FR_EOF;
	} else if (h->content_length > 0) {
		p->framing = FR_LENGTH;
	} else {
		p->framing = h->content_length == 0 || p->kind == HTTP1_REQUEST ? FR_NONE : FR_EOF;
	}
	return 0;
}

static int cb_result(int rc)
{
	return rc < 0 ? rc : 0;
}

static int end_message(struct http1_parser *p, int truncated)
{
	p->in_msg = 0;
	p->state = p->tunnel_after ? ST_TUNNEL : ST_HEAD;
	if (truncated)
		p->st.truncated++;
	return p->cb.on_end ? cb_result(p->cb.on_end(p->ctx, truncated)) : 0;
}

static void chunk_line_reset(struct http1_parser *p)
{
	p->state = ST_CHUNK_SIZE;
	p->cs = CS_SIZE;
	p->has_digit = 0;
	p->remaining = 0;
	p->aux_len = 0;
}

static int start_message(struct http1_parser *p, const struct http1_head *h)
{
	int flags = p->cb.on_head ? p->cb.on_head(p->ctx, h) : 0;

	if (flags < 0)
		return flags;
	p->st.messages++;
	p->in_msg = 1;
	p->tunnel_after = !!(flags & HTTP1_HEAD_TUNNEL);
	if (p->kind == HTTP1_RESPONSE &&
	    (h->status < 200 || h->status == 204 || h->status == 304 || (flags & HTTP1_HEAD_NO_BODY))) {
		/* 1xx are interim: the real response follows, unless 101 */
		p->tunnel_after |= h->status == 101;
		p->framing = FR_NONE;
	}
	if (p->tunnel_after)
		p->framing = FR_NONE;
	switch (p->framing) {
	case FR_NONE:
		return end_message(p, 0);
	case FR_LENGTH:
		p->state = ST_BODY_LEN;
		p->remaining = h->content_length;
		break;
	case FR_CHUNKED:
		chunk_line_reset(p);
		break;
	case FR_EOF:
		p->state = ST_BODY_EOF;
		break;
	}
	return 0;
}

static int head_append(struct http1_parser *p, const uint8_t *d, size_t n)
{
	size_t cap = p->hcap ? p->hcap : 1024;
	uint8_t *b;

	if (!n)
		return 0;
	if (p->hlen + n > p->hcap) {
		while (cap < p->hlen + n)
			cap *= 2;
		if (cap > HTTP1_MAX_HEAD)
			cap = HTTP1_MAX_HEAD;
		b = membudget_realloc(p->mb, p->hbuf, cap, MEMBUDGET_HEAD);
		if (!b)
			return -errno;
		p->hbuf = b;
		p->hcap = cap;
	}
	memcpy(p->hbuf + p->hlen, d, n);
	p->hlen += n;
	return 0;
}

/* Drops whatever head was in progress and looks for the next message start. */
static void enter_resync(struct http1_parser *p, int bol)
{
	if (p->state != ST_RESYNC)
		p->st.resyncs++;
	p->state = ST_RESYNC;
	p->rs_bol = bol;
	p->st.skipped += p->hlen;
	p->hlen = 0;
	p->candidate = 0;
}

/*
 * A head could not be parsed.  Normally that is the error; when resync
 * picked this head start, it was only a guess: keep looking, the bytes
 * consumed so far are skipped.
 */
static ssize_t head_fail(struct http1_parser *p, int err, size_t consumed, size_t head_bytes)
{
	p->hlen = 0;
	if (!p->candidate)
		return err;
	p->st.skipped += head_bytes;
	p->state = ST_RESYNC;
	p->rs_bol = p->scan.bol;
	p->candidate = 0;
	return consumed;
}

static ssize_t feed_head(struct http1_parser *p, const uint8_t *d, size_t n)
{
	struct http1_header hdrs[HTTP1_MAX_HEADERS];
	struct http1_head h;
	size_t i = 0, start, first, room, blen, had = p->hlen;
	const uint8_t *buf;
	int ev, err;

	if (!had) {
		/* empty lines before a message are allowed (RFC 9112 2.2) */
		while (i < n && (d[i] == '\r' || d[i] == '\n'))
			i++;
		p->scan = (struct scan){ 0 };
	}
	/* d[start..i) is head not yet copied to hbuf */
	start = first = i;
	while (i < n) {
		room = HTTP1_MAX_HEAD - p->hlen - (i - start);
		if (!room)
			return head_fail(p, -EMSGSIZE, i, had + i - first);
		i += scan_lines(&p->scan, d + i, n - i < room ? n - i : room, &ev);
		if (ev == EV_NONE)
			continue;
		if (ev == EV_BAD)
			return head_fail(p, -EBADMSG, i, had + i - first);
		if (p->hlen) {
			err = head_append(p, d + start, i - start);
			if (err)
				return err;
			start = i;
		}
		buf = p->hlen ? p->hbuf : d + start;
		blen = p->hlen ? p->hlen : i - start;
		if (ev == EV_LINE1)
			err = parse_start_line(p->kind, (const char *)buf,
					       line_len((const char *)buf, blen - 1), &h);
		else
			err = parse_head(p, (const char *)buf, blen, &h, hdrs);
		if (err)
			return head_fail(p, err, i, had + i - first);
		if (ev == EV_LINE1)
			continue;
		p->hlen = 0;
		p->candidate = 0;
		err = start_message(p, &h);
		if (p->hcap > HBUF_KEEP) {
			/* a large head: give the memory back between messages */
			membudget_free(p->mb, p->hbuf);
			p->hbuf = NULL;
			p->hcap = 0;
		}
		return err ? err : (ssize_t)i;
	}
	err = head_append(p, d + start, n - start);
	if (err)
		return err;
	if (!p->scan.lines && start_check(p->kind, p->hbuf, p->hlen, 0) < 0)
		return head_fail(p, -EBADMSG, n, had + n - first);
	return n;
}

static ssize_t feed_resync(struct http1_parser *p, const uint8_t *d, size_t n)
{
	const uint8_t *lf;
	size_t i = 0, next;
	int r, err;

	while (i < n) {
		if (!p->rs_bol) {
			lf = memchr(d + i, '\n', n - i);
			next = lf ? (size_t)(lf - d) + 1 : n;
			p->st.skipped += next - i;
			p->rs_bol = !!lf;
			i = next;
			continue;
		}
		err = head_append(p, d + i++, 1);
		if (err)
			return err;
		r = start_check(p->kind, p->hbuf, p->hlen, 1);
		if (r > 0) {
			/* hbuf keeps the look-ahead: it is the start of the head */
			p->state = ST_HEAD;
			p->candidate = 1;
			p->scan = (struct scan){ 0 };
			return i;
		}
		if (r < 0) {
			p->st.skipped += p->hlen;
			p->hlen = 0;
			p->rs_bol = d[i - 1] == '\n';
		}
	}
	return n;
}

/* Content-length body or chunk data: hand out what belongs to it. */
static ssize_t feed_framed(struct http1_parser *p, const uint8_t *d, size_t n)
{
	int err;

	if (n > p->remaining)
		n = p->remaining;
	err = p->cb.on_body ? cb_result(p->cb.on_body(p->ctx, d, n)) : 0;
	if (err)
		return err;
	p->remaining -= n;
	if (p->remaining)
		return n;
	if (p->state == ST_CHUNK_DATA) {
		p->state = ST_CHUNK_END;
		p->cs = CS_SIZE;
		return n;
	}
	err = end_message(p, 0);
	return err ? err : (ssize_t)n;
}

static ssize_t feed_chunk_size(struct http1_parser *p, const uint8_t *d, size_t n)
{
	size_t i;
	int v;

	for (i = 0; i < n; i++) {
		uint8_t c = d[i];

		if (++p->aux_len > CHUNK_LINE_MAX)
			return -EBADMSG;
		if (p->cs == CS_LF && c != '\n')
			return -EBADMSG;
		if (c == '\r' || c == '\n') {
			if (!p->has_digit)
				return -EBADMSG;
			if (c == '\r') {
				p->cs = CS_LF;
				continue;
			}
			if (p->remaining) {
				p->state = ST_CHUNK_DATA;
			} else {
				/* last-chunk: the trailer section follows, maybe empty */
				p->state = ST_TRAILERS;
				p->scan = (struct scan){ .bol = 1, .lines = 1 };
				p->aux_len = 0;
			}
			return i + 1;
		}
		switch (p->cs) {
		case CS_SIZE:
			v = hex_val(c);
			if (v >= 0) {
				if (p->remaining >> 60)
					return -EBADMSG;
				p->remaining = p->remaining << 4 | v;
				p->has_digit = 1;
				continue;
			}
			if (!p->has_digit)
				return -EBADMSG;
			/* fall through */
		case CS_WS:
			if (is_ows(c))
				p->cs = CS_WS;
			else if (c == ';')
				p->cs = CS_EXT;
			else
				return -EBADMSG;
			continue;
		default:	/* CS_EXT: anything printable up to the line end */
			if (!is_text(c))
				return -EBADMSG;
		}
	}
	return n;
}

static ssize_t feed_chunk_end(struct http1_parser *p, const uint8_t *d, size_t n)
{
	if (d[0] == '\r' && p->cs != CS_LF) {
		p->cs = CS_LF;
		return 1;
	}
	if (d[0] != '\n')
		return -EBADMSG;
	chunk_line_reset(p);
	return 1;
}

static ssize_t feed_trailers(struct http1_parser *p, const uint8_t *d, size_t n)
{
	size_t room = HTTP1_MAX_HEAD - p->aux_len, k;
	int ev, err;

	if (!room)
		return -EMSGSIZE;
	k = scan_lines(&p->scan, d, n < room ? n : room, &ev);
	p->aux_len += k;
	if (ev == EV_BAD)
		return -EBADMSG;
	if (ev != EV_END)
		return k;
	err = end_message(p, 0);
	return err ? err : (ssize_t)k;
}

static int fail(struct http1_parser *p, int err)
{
	if (err == -EBADMSG || err == -EMSGSIZE)
		p->st.bad++;
	p->err = err;
	return err;
}

ssize_t http1_parser__feed(struct http1_parser *p, const uint8_t *data, size_t len)
{
	size_t off = 0;
	ssize_t n = 0;

	if (p->err)
		return p->err;
	if (p->state == ST_CLOSED)
		return -EPIPE;
	while (off < len) {
		const uint8_t *d = data + off;
		size_t left = len - off;

		switch (p->state) {
		case ST_HEAD:
			n = feed_head(p, d, left);
			break;
		case ST_BODY_LEN:
		case ST_CHUNK_DATA:
			n = feed_framed(p, d, left);
			break;
		case ST_CHUNK_SIZE:
			n = feed_chunk_size(p, d, left);
			break;
		case ST_CHUNK_END:
			n = feed_chunk_end(p, d, left);
			break;
		case ST_TRAILERS:
			n = feed_trailers(p, d, left);
			break;
		case ST_BODY_EOF:
			n = p->cb.on_body ? cb_result(p->cb.on_body(p->ctx, d, left)) : 0;
			if (!n)
				n = left;
			break;
		case ST_RESYNC:
			n = feed_resync(p, d, left);
			break;
		case ST_TUNNEL:
			n = p->cb.on_tunnel ? cb_result(p->cb.on_tunnel(p->ctx, d, left)) : 0;
			if (!n)
				n = left;
			break;
		case ST_CLOSED:
			n = left;
			break;
		}
		if (n < 0)
			return fail(p, n);
		off += n;
	}
	return len;
}

int http1_parser__gap(struct http1_parser *p, uint64_t len)
{
	uint64_t part;
	int err = 0;

	if (!len && !p->err)
		return 0;
	if (len != HTTP1_GAP_UNKNOWN)
		p->st.gap_bytes += len;
	if (p->state == ST_TUNNEL || p->state == ST_CLOSED) {
		return 0;
	} else if (p->err) {
		p->err = 0;
	} else if (p->state == ST_BODY_EOF) {
		err = p->cb.on_body_gap ? cb_result(p->cb.on_body_gap(p->ctx, len)) : 0;
		return err ? fail(p, err) : 0;
	} else if (p->state == ST_BODY_LEN || p->state == ST_CHUNK_DATA) {
		part = len < p->remaining ? len : p->remaining;
		err = p->cb.on_body_gap ? cb_result(p->cb.on_body_gap(p->ctx, part)) : 0;
		if (err)
			return fail(p, err);
		p->remaining -= part;
		if (p->remaining)
			return 0;
		if (part == len) {	/* ends exactly where the body does */
			if (p->state == ST_BODY_LEN) {
				err = end_message(p, 0);
				return err ? fail(p, err) : 0;
			}
			p->state = ST_CHUNK_END;
			p->cs = CS_SIZE;
			return 0;
		}
	}
	/* framing lost */
	if (p->in_msg)
		err = end_message(p, 1);
	if (p->state != ST_TUNNEL)
		enter_resync(p, 1);
	return err ? fail(p, err) : 0;
}

int http1_parser__eof(struct http1_parser *p)
{
	int err = 0;

	if (p->state == ST_CLOSED)
		return 0;
	if (p->in_msg)
		err = end_message(p, p->err || p->state != ST_BODY_EOF);
	p->state = ST_CLOSED;
	return err;
}

struct http1_parser *http1_parser__new(enum http1_kind kind, const struct http1_callbacks *cb,
				       void *ctx)
{
	struct http1_parser *p;

	if (kind != HTTP1_REQUEST && kind != HTTP1_RESPONSE) {
		errno = EINVAL;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->kind = kind;
	if (cb)
		p->cb = *cb;
	p->ctx = ctx;
	p->state = ST_HEAD;
	return p;
}

void http1_parser__set_budget(struct http1_parser *p, struct membudget *mb)
{
	p->mb = mb;
}

void http1_parser__free(struct http1_parser *p)
{
	if (!p)
		return;
	membudget_free(p->mb, p->hbuf);
	free(p);
}

void http1_parser__stats(const struct http1_parser *p, struct http1_stats *out)
{
	*out = p->st;
}
