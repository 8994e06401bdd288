// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Incremental JSON scanner (see jscan.h).  A byte-driven state machine:
 * every piece of state lives in struct jscan, so a feed may stop anywhere
 * and the next one goes on from there.  Runs of bytes that need no
 * decision (white space, string content, the inside of a skipped value)
 * are crossed with memchr or a class table, not one state step per byte.
 */
#include <errno.h>
#include <string.h>
#include "jscan.h"

enum {
	S_VALUE,		/* a value is expected */
	S_VALUE_OR_CLOSE,	/* just after '[': a value or ']' */
	S_KEY,			/* after ',' in an object: a key */
	S_KEY_OR_CLOSE,		/* just after '{': a key or '}' */
	S_IN_KEY,		/* in a member name */
	S_COLON,
	S_AFTER,		/* after a member or element: ',' or the closer */
	S_STR,			/* in a string value */
	S_LIT,			/* in a number or a literal */
	S_NEST,			/* in an object or array being passed over */
	S_DONE,			/* after a root value: white space, or another */
	S_ERR,
};

enum { E_NONE, E_BS, E_HEX };	/* escape state: after '\', in "\uXXXX" */

/* Bytes that matter inside a passed container, outside strings. */
static const uint8_t nest_class[256] = {
	['"'] = 1, ['{'] = 1, ['}'] = 1, ['['] = 1, [']'] = 1,
};

/* Bytes that end a run of string content. */
static const uint8_t str_stop[256] = { ['"'] = 1, ['\\'] = 1 };

static int is_ws(uint8_t c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static int is_num(uint8_t c)
{
	return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' ||
	       c == 'e' || c == 'E';
}

static int hex_val(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * Where to cut n buffered bytes so that no UTF-8 sequence is split: before
 * the last lead byte if its sequence is incomplete.  Ill-formed bytes are
 * not held back (they never complete).
 */
static size_t utf8_cut(const char *b, size_t n)
{
	size_t i = n, need;
	unsigned k;
	uint8_t c;

	for (k = 0; k < 4 && i > 0; k++) {
		c = (uint8_t)b[--i];
		if ((c & 0xc0) == 0x80)
			continue;
		need = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 :
		       (c & 0xf8) == 0xf0 ? 4 : 1;
		return n - i >= need ? n : i;
	}
	return n;
}

static void flush(struct jscan *s, int all)
{
	size_t n = all ? s->out_len : utf8_cut(s->out, s->out_len);

	if (!n)
		n = s->out_len;
	if (!n)
		return;
	if (s->ops->text)
		s->ops->text(s->ctx, s->depth, s->out, n);
	memmove(s->out, s->out + n, s->out_len - n);
	s->out_len -= n;
}

static void out_put(struct jscan *s, const void *p, size_t n)
{
	const char *c = p;
	size_t k;

	while (n) {
		if (s->out_len == sizeof(s->out))
			flush(s, 0);
		k = sizeof(s->out) - s->out_len;
		if (k > n)
			k = n;
		memcpy(s->out + s->out_len, c, k);
		s->out_len += k;
		c += k;
		n -= k;
	}
}

/* Decoded string bytes go to the key being read, or out as text. */
static void emit(struct jscan *s, const void *p, size_t n)
{
	size_t k;

	if (s->state != S_IN_KEY) {
		out_put(s, p, n);
		return;
	}
	k = sizeof(s->key) - s->key_len;
	if (k > n)
		k = n;
	memcpy(s->key + s->key_len, p, k);
	s->key_len += k;
}

static void emit_cp(struct jscan *s, uint32_t cp)
{
	char u[4];

	if (cp < 0x80) {
		u[0] = (char)cp;
		emit(s, u, 1);
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3f));
		emit(s, u, 2);
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12);
		u[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		emit(s, u, 3);
	} else {
		u[0] = (char)(0xf0 | cp >> 18);
		u[1] = (char)(0x80 | (cp >> 12 & 0x3f));
		u[2] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		emit(s, u, 4);
	}
}

/* A high surrogate not followed by its low half stands for U+FFFD. */
static void lone_high(struct jscan *s)
{
	if (s->uhi) {
		s->uhi = 0;
		emit_cp(s, 0xfffd);
	}
}

static void code_point(struct jscan *s, uint32_t cp)
{
	if (s->uhi && cp >= 0xdc00 && cp <= 0xdfff) {
		cp = 0x10000 + ((s->uhi - 0xd800) << 10) + (cp - 0xdc00);
		s->uhi = 0;
		emit_cp(s, cp);
		return;
	}
	lone_high(s);
	if (cp >= 0xd800 && cp <= 0xdbff)
		s->uhi = cp;
	else
		emit_cp(s, cp >= 0xdc00 && cp <= 0xdfff ? 0xfffd : cp);
}

static void fail(struct jscan *s)
{
	/* What was read of a value's text is still text. */
	if (s->act == JSCAN_TEXT && s->state != S_IN_KEY)
		flush(s, 1);
	s->state = S_ERR;
}

static void after_value(struct jscan *s)
{
	s->act = JSCAN_SKIP;
	if (s->depth) {
		s->state = S_AFTER;
	} else {
		s->state = S_DONE;
		s->done = 1;
	}
}

/* A passed or text value ended. */
static void value_end(struct jscan *s)
{
	if (s->act == JSCAN_TEXT) {
		flush(s, 1);
		if (s->ops->end)
			s->ops->end(s->ctx, s->depth);
	}
	after_value(s);
}

/* An entered container closed. */
static void close_container(struct jscan *s)
{
	s->depth--;
	if (s->ops->end)
		s->ops->end(s->ctx, s->depth);
	after_value(s);
}

static enum jscan_kind kind_of(uint8_t c)
{
	switch (c) {
	case '{':	return JSCAN_OBJECT;
	case '[':	return JSCAN_ARRAY;
	case '"':	return JSCAN_STRING;
	case 't':	return JSCAN_TRUE;
	case 'f':	return JSCAN_FALSE;
	case 'n':	return JSCAN_NULL;
	default:	return c == '-' || (c >= '0' && c <= '9') ? JSCAN_NUMBER : 0;
	}
}

static void start_value(struct jscan *s, uint8_t c)
{
	enum jscan_kind kind = kind_of(c);
	const char *key = NULL;
	enum jscan_act act;

	if (!kind) {
		fail(s);
		return;
	}
	if (s->depth && s->stack[s->depth - 1] == '{')
		key = s->key;
	act = s->ops->value(s->ctx, s->depth, key, key ? s->key_len : 0, kind);
	if (act == JSCAN_ENTER && (kind == JSCAN_OBJECT || kind == JSCAN_ARRAY) &&
	    s->depth < JSCAN_DEPTH) {
		s->stack[s->depth++] = (char)c;
		s->state = kind == JSCAN_OBJECT ? S_KEY_OR_CLOSE : S_VALUE_OR_CLOSE;
		return;
	}
	s->act = act == JSCAN_TEXT ? JSCAN_TEXT : JSCAN_SKIP;
	s->esc = E_NONE;
	s->uhi = 0;
	switch (kind) {
	case JSCAN_OBJECT:
	case JSCAN_ARRAY:
		s->state = S_NEST;
		s->nest = 1;
		s->in_str = 0;
		break;
	case JSCAN_STRING:
		s->state = S_STR;
		return;
	default:
		s->state = S_LIT;
		s->lit = kind == JSCAN_NUMBER ? 0 : c;
		s->lit_pos = 1;
		break;
	}
	if (s->act == JSCAN_TEXT)
		out_put(s, &c, 1);
}

/*
 * One byte of an escape sequence, in a key or a string read as text.
 * Bad escapes are taken as well as they can be (an unknown "\x" as "x",
 * a "\u" cut short as U+FFFD and the rest as text), never as an error: a
 * backslash escapes one byte here as in the strings that are passed over,
 * so both read the same structure, and whether a value is read or passed
 * over never changes what is flagged.
 */
static const uint8_t *escape_byte(struct jscan *s, const uint8_t *p)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *e;
	int h;

	if (s->esc == E_BS) {
		if (*p == 'u') {
			s->esc = E_HEX;
			s->udigits = 0;
			s->ucode = 0;
			return p + 1;
		}
		e = *p ? strchr(from, *p) : NULL;
		lone_high(s);
		emit(s, e ? &to[e - from] : (const char *)p, 1);
		s->esc = E_NONE;
		return p + 1;
	}
	h = hex_val(*p);
	if (h < 0) {
		s->esc = E_NONE;
		lone_high(s);
		emit_cp(s, 0xfffd);
		return p;	/* read again as string content */
	}
	s->ucode = s->ucode << 4 | (uint32_t)h;
	if (++s->udigits == 4) {
		s->esc = E_NONE;
		code_point(s, s->ucode);
	}
	return p + 1;
}

/* A key, or a string read as text: decoded. */
static const uint8_t *str_decode(struct jscan *s, const uint8_t *p, const uint8_t *end)
{
	const uint8_t *q;

	while (p < end && s->state != S_ERR) {
		if (s->esc) {
			p = escape_byte(s, p);
			continue;
		}
		for (q = p; q < end && !str_stop[*q]; q++)
			;
		if (q > p) {
			lone_high(s);
			emit(s, p, q - p);
		}
		if (q == end)
			return end;
		if (*q == '\\') {
			s->esc = E_BS;
			p = q + 1;
			continue;
		}
		lone_high(s);
		if (s->state == S_IN_KEY)
			s->state = S_COLON;
		else
			value_end(s);
		return q + 1;
	}
	return p;
}

/* Past a string (value or inside a passed container) up to its end quote. */
static const uint8_t *str_pass(struct jscan *s, const uint8_t *p, const uint8_t *end,
			       int *closed)
{
	const uint8_t *q, *b;

	*closed = 0;
	while (p < end) {
		if (s->esc) {
			s->esc = E_NONE;
			p++;
			continue;
		}
		q = memchr(p, '"', end - p);
		b = memchr(p, '\\', (q ? q : end) - p);
		if (b) {
			s->esc = E_BS;
			p = b + 1;
			continue;
		}
		if (!q)
			return end;
		*closed = 1;
		return q + 1;
	}
	return p;
}

static const uint8_t *str_value(struct jscan *s, const uint8_t *p, const uint8_t *end)
{
	int closed;

	if (s->act == JSCAN_TEXT)
		return str_decode(s, p, end);
	p = str_pass(s, p, end, &closed);
	if (closed)
		value_end(s);
	return p;
}

static const uint8_t *lit_value(struct jscan *s, const uint8_t *p, const uint8_t *end)
{
	const char *word = s->lit == 't' ? "true" : s->lit == 'f' ? "false" : "null";
	const uint8_t *q;

	if (!s->lit) {
		/* A number ends at the first byte that cannot be in it; that
		 * byte is read by the next state. */
		for (q = p; q < end && is_num(*q); q++)
			;
		if (s->act == JSCAN_TEXT)
			out_put(s, p, q - p);
		if (q < end)
			value_end(s);
		return q;
	}
	for (; p < end; p++) {
		if (*p != (uint8_t)word[s->lit_pos]) {
			fail(s);
			return p;
		}
		if (s->act == JSCAN_TEXT)
			out_put(s, p, 1);
		if (!word[++s->lit_pos]) {
			value_end(s);
			return p + 1;
		}
	}
	return p;
}

/* Inside an object or array passed over: brackets counted, strings crossed. */
static const uint8_t *nest_pass(struct jscan *s, const uint8_t *p, const uint8_t *end)
{
	const uint8_t *q;
	int closed;

	while (p < end) {
		if (s->in_str) {
			p = str_pass(s, p, end, &closed);
			s->in_str = !closed;
			continue;
		}
		for (q = p; q < end && !nest_class[*q]; q++)
			;
		if (q == end)
			return end;
		p = q + 1;
		if (*q == '"') {
			s->in_str = 1;
		} else if (*q == '{' || *q == '[') {
			s->nest++;
		} else if (!--s->nest) {
			value_end(s);
			return p;
		}
	}
	return p;
}

/* Inside an object or array read as text: its bytes, less white space
 * between tokens. */
static const uint8_t *nest_text(struct jscan *s, const uint8_t *p, const uint8_t *end)
{
	const uint8_t *q;
	uint8_t c;

	while (p < end) {
		if (s->in_str) {
			if (s->esc) {
				s->esc = E_NONE;
				out_put(s, p++, 1);
				continue;
			}
			for (q = p; q < end && !str_stop[*q]; q++)
				;
			if (q == end) {
				out_put(s, p, q - p);
				return end;
			}
			out_put(s, p, q - p + 1);
			if (*q == '\\')
				s->esc = E_BS;
			else
				s->in_str = 0;
			p = q + 1;
			continue;
		}
		c = *p++;
		if (is_ws(c))
			continue;
		out_put(s, &c, 1);
		if (c == '"') {
			s->in_str = 1;
		} else if (c == '{' || c == '[') {
			s->nest++;
		} else if ((c == '}' || c == ']') && !--s->nest) {
			value_end(s);
			return p;
		}
	}
	return p;
}

/* After the quote that opens a key: a plain key whole in this feed is
 * taken at once, any other is decoded as it comes. */
static const uint8_t *key_start(struct jscan *s, const uint8_t *p, const uint8_t *end)
{
	const uint8_t *q;

	for (q = p; q < end && !str_stop[*q] && q - p <= JSCAN_KEY_MAX; q++)
		;
	if (q < end && *q == '"') {
		memcpy(s->key, p, q - p);
		s->key_len = q - p;
		s->state = S_COLON;
		return q + 1;
	}
	s->state = S_IN_KEY;
	s->key_len = 0;
	s->esc = E_NONE;
	s->uhi = 0;
	return p;
}

/* The grammar between values: white space, punctuation, value starts. */
static const uint8_t *punct(struct jscan *s, const uint8_t *p, const uint8_t *end)
{
	char top = s->depth ? s->stack[s->depth - 1] : 0;
	uint8_t c;

	while (p < end && is_ws(*p))
		p++;
	if (p == end)
		return p;
	c = *p;
	switch (s->state) {
	case S_VALUE_OR_CLOSE:
		if (c == ']') {
			close_container(s);
			break;
		}
		/* fall through */
	case S_VALUE:
	case S_DONE:
		start_value(s, c);
		break;
	case S_KEY_OR_CLOSE:
		if (c == '}') {
			close_container(s);
			break;
		}
		/* fall through */
	case S_KEY:
		if (c != '"') {
			fail(s);
			return p;
		}
		return key_start(s, p + 1, end);
	case S_COLON:
		if (c != ':') {
			fail(s);
			return p;
		}
		s->state = S_VALUE;
		break;
	default:	/* S_AFTER */
		if (c == ',') {
			s->state = top == '{' ? S_KEY : S_VALUE;
		} else if (c == (top == '{' ? '}' : ']')) {
			close_container(s);
		} else {
			fail(s);
			return p;
		}
		break;
	}
	return s->state == S_ERR ? p : p + 1;
}

void jscan_reset(struct jscan *s)
{
	/* Not the buffers: they are read only up to their lengths. */
	s->state = S_VALUE;
	s->act = JSCAN_SKIP;
	s->depth = 0;
	s->in_str = 0;
	s->esc = E_NONE;
	s->done = 0;
	s->uhi = 0;
	s->nest = 0;
	s->key_len = 0;
	s->out_len = 0;
}

void jscan_init(struct jscan *s, const struct jscan_ops *ops, void *ctx)
{
	s->ops = ops;
	s->ctx = ctx;
	jscan_reset(s);
}

int jscan_feed(struct jscan *s, const uint8_t *data, size_t len)
{
	const uint8_t *p, *end;

	if (!len)		/* data may be NULL: no arithmetic on it */
		return s->state == S_ERR ? -EBADMSG : 0;
	p = data;
	end = data + len;

	while (p < end && s->state != S_ERR) {
		switch (s->state) {
		case S_IN_KEY:
			p = str_decode(s, p, end);
			break;
		case S_STR:
			p = str_value(s, p, end);
			break;
		case S_LIT:
			p = lit_value(s, p, end);
			break;
		case S_NEST:
			p = s->act == JSCAN_TEXT ? nest_text(s, p, end) : nest_pass(s, p, end);
			break;
		default:
			p = punct(s, p, end);
			break;
		}
	}
	return s->state == S_ERR ? -EBADMSG : 0;
}

int jscan_finish(struct jscan *s)
{
	if (s->state == S_ERR)
		return -EBADMSG;
	/* Only the end of input ends a number at the root. */
	if (s->state == S_LIT && !s->lit && !s->depth)
		value_end(s);
	if (s->state == S_DONE)
		return 0;
	if (s->state == S_VALUE && !s->depth)
		return -ENODATA;
	if (s->act == JSCAN_TEXT)
		flush(s, 1);
	return -EAGAIN;
}
