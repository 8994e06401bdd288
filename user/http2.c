// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Incremental HTTP/2 decoder (RFC 9113), both directions of one client
 * connection, with nghttp2's HPACK inflater (RFC 7541).
 *
 * Each direction is a byte-level state machine: the client preface (dir
 * 0), a frame header, the fixed fields at the start of a payload (pad
 * length, priority, promised stream, a control frame's fields), the
 * payload's data part, then its padding or whatever of it is ignored.
 * Every transition is taken as soon as the bytes it needs are in, so
 * cutting the input anywhere changes nothing that is reported.
 *
 * DATA goes to on_body from the caller's buffer.  A header block goes to
 * the inflater from the caller's buffer when it arrives whole in one feed
 * with END_HEADERS, else its fragments are gathered in a buffer charged to
 * the memory budget.  The inflater's name/value pointers only live until
 * its next call, so the fields of a head are copied into one more bounded
 * buffer for the time of the on_head call.
 *
 * Streams live in a fixed table.  An ended stream keeps its slot, so late
 * frames for it are known as late, until a new stream needs the room.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <nghttp2/nghttp2.h>
#include "http2.h"
#include "membudget.h"

enum {
	T_DATA, T_HEADERS, T_PRIORITY, T_RST_STREAM, T_SETTINGS, T_PUSH_PROMISE,
	T_PING, T_GOAWAY, T_WINDOW_UPDATE, T_CONTINUATION,
	T_KNOWN,
};

#define FL_END_STREAM	0x01
#define FL_ACK		0x01
#define FL_END_HEADERS	0x04
#define FL_PADDED	0x08
#define FL_PRIORITY	0x20

#define FRAME_HDR	9
#define SETTING_LEN	6
#define SET_HEADER_TABLE_SIZE 1
#define HPACK_DEFAULT_TABLE 4096
#define NO_VALUE	UINT32_MAX	/* a SETTINGS frame without a header table size */

#define PL_MAX_LEN	(1u << 20)	/* longest frame h2_plausible takes */
#define PL_MAX_CTRL	16384		/* longest SETTINGS or GOAWAY it takes */
#define PL_DEPTH	4		/* frames it looks at */

#define BUF_KEEP	4096		/* block or field buffer kept between heads */
#define PENDING_MAX	4		/* SETTINGS awaiting their ACK, per direction */

static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define PREFACE_LEN (sizeof(preface) - 1)

/* the flags each type defines */
static const uint8_t type_flags[T_KNOWN] = {
	[T_DATA] = FL_END_STREAM | FL_PADDED,
	[T_HEADERS] = FL_END_STREAM | FL_END_HEADERS | FL_PADDED | FL_PRIORITY,
	[T_SETTINGS] = FL_ACK,
	[T_PUSH_PROMISE] = FL_END_HEADERS | FL_PADDED,
	[T_PING] = FL_ACK,
	[T_CONTINUATION] = FL_END_HEADERS,
};

enum fstate {
	FS_PREFACE,	/* dir 0: the client connection preface */
	FS_HEAD,	/* a frame header */
	FS_FIXED,	/* fixed fields at the start of the payload */
	FS_BODY,	/* the payload's data part */
	FS_SKIP,	/* padding, or a payload that is ignored */
	FS_RESYNC,	/* framing lost: waiting for a feed that starts with a frame */
};

struct h2_stream {
	uint32_t sid;		/* 0: free slot */
	uint64_t age;		/* creation order */
	uint8_t closed;		/* reset, cut by GOAWAY, evicted: all its frames are late */
	uint8_t started[2];	/* on_head made */
	uint8_t final[2];	/* the head that opens the message made (not only 1xx) */
	uint8_t ended[2];	/* on_end made, or on_head refused */
};

struct h2_dir {
	enum fstate st;
	uint8_t hpack_lost;
	size_t pre;			/* preface bytes matched */
	uint64_t fed;
	/* the frame being read */
	uint8_t hdr[FRAME_HDR];
	size_t hlen;
	uint32_t len, sid;
	uint8_t type, flags;
	uint8_t fix[8];
	size_t fixlen, fixneed;
	uint32_t left;			/* bytes left in the current part */
	uint32_t pad;			/* padding after the data part */
	uint32_t setting;		/* SETTINGS: its header table size, or NO_VALUE */
	/* header block: HEADERS or PUSH_PROMISE, then CONTINUATION */
	uint8_t in_block;
	uint8_t blk_push;		/* PUSH_PROMISE: decoded, not reported */
	uint8_t blk_es;			/* END_STREAM on its HEADERS */
	uint8_t blk_lost;		/* cannot be decoded: too big, no budget, HPACK lost */
	uint32_t blk_sid;
	uint8_t *blk;
	size_t blen, bcap;
	const uint8_t *direct;		/* the whole fragment, in the caller's buffer */
	size_t direct_len;
	/* HPACK of this direction */
	nghttp2_hd_inflater *inf;
	uint32_t table_max;		/* settings maximum applied to inf */
	uint32_t pending[PENDING_MAX];	/* table sizes of SETTINGS sent this way, not acked */
	size_t npending;
};

struct h2_conn {
	struct h2_callbacks cb;
	void *ctx;
	struct h2_dir dir[2];
	struct h2_stream s[H2_MAX_STREAMS];
	size_t hint;			/* slot last found */
	uint64_t age;
	int eof;
	uint8_t *fields;		/* decoded fields of the head being reported */
	size_t fcap;
	struct membudget *mb;
	struct h2_stats st;
};

/* A decoded field: offsets into c->fields. */
struct fref {
	uint32_t off, len;
	uint8_t set;
};

struct decoded {
	struct fref name[HTTP1_MAX_HEADERS], value[HTTP1_MAX_HEADERS];
	size_t nf;
	struct fref method, path, authority, status;
	size_t used;			/* bytes of c->fields */
};

#define IEQ(s, n, lit) ((n) == sizeof(lit) - 1 && !strncasecmp((s), (lit), (n)))
#define MIN(a, b) ((a) < (b) ? (a) : (b))

static uint32_t get24(const uint8_t *p)
{
	return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

static uint32_t get31(const uint8_t *p)
{
	return ((uint32_t)p[0] & 0x7f) << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int cb_rc(int rc)
{
	return rc < 0 ? rc : 0;
}

static int first_err(int err, int rc)
{
	return err ? err : rc;
}

/* --- frame rules ---------------------------------------------------------- */

/* The payload length a type must have, or -1. */
static int fixed_len(uint8_t type)
{
	switch (type) {
	case T_PRIORITY:
		return 5;
	case T_RST_STREAM:
	case T_WINDOW_UPDATE:
		return 4;
	case T_PING:
		return 8;
	default:
		return -1;
	}
}

/* 1: the type needs a stream id, 0: it must have none, -1: either. */
static int needs_sid(uint8_t type)
{
	switch (type) {
	case T_SETTINGS:
	case T_PING:
	case T_GOAWAY:
		return 0;
	case T_WINDOW_UPDATE:
		return -1;
	default:
		return 1;
	}
}

/* Bytes read at the start of a payload before its data part. */
static size_t fixed_need(uint8_t type, uint8_t flags)
{
	size_t pad = flags & FL_PADDED ? 1 : 0;

	switch (type) {
	case T_DATA:
		return pad;
	case T_HEADERS:
		return pad + (flags & FL_PRIORITY ? 5 : 0);
	case T_PUSH_PROMISE:
		return pad + 4;
	case T_RST_STREAM:
		return 4;
	case T_GOAWAY:
		return 8;
	default:
		return 0;
	}
}

static int has_padding(uint8_t type, uint8_t flags)
{
	return (flags & FL_PADDED) &&
	       (type == T_DATA || type == T_HEADERS || type == T_PUSH_PROMISE);
}

/*
 * Could the n bytes at p (only the first 9 are looked at) begin a frame of
 * an established connection?  1 yes, 0 no, -1 fewer than 9 and none of
 * them wrong yet.
 */
static int header_check(const uint8_t *p, size_t n)
{
	uint32_t len;
	uint8_t type, flags;
	size_t i;
	int fl, need;

	if (n > FRAME_HDR)
		n = FRAME_HDR;
	if (n < 4) {
		if (n >= 1 && p[0] > PL_MAX_LEN >> 16)
			return 0;
		if (n == 3 && get24(p) > PL_MAX_LEN)
			return 0;
		return -1;
	}
	len = get24(p);
	type = p[3];
	if (len > PL_MAX_LEN || type >= T_KNOWN)
		return 0;
	fl = fixed_len(type);
	if (fl >= 0 && len != (uint32_t)fl)
		return 0;
	if (type == T_SETTINGS && (len % SETTING_LEN || len > PL_MAX_CTRL))
		return 0;
	if (type == T_GOAWAY && len > PL_MAX_CTRL)
		return 0;
	if (n < 5)
		return -1;
	flags = p[4];
	if ((flags & ~type_flags[type]) || len < fixed_need(type, flags) ||
	    (type == T_SETTINGS && (flags & FL_ACK) && len))
		return 0;
	if (n >= 6 && (p[5] & 0x80))
		return 0;
	need = needs_sid(type);
	for (i = 5; need == 0 && i < n; i++)
		if (p[i])
			return 0;
	if (n < FRAME_HDR)
		return -1;
	return need == 1 && !get31(p + 5) ? 0 : 1;
}

/* The first n bytes of a payload: 0 when they cannot be right. */
static int payload_check(const uint8_t *p, size_t n, uint32_t len, uint8_t type, uint8_t flags)
{
	if (n >= 1 && has_padding(type, flags) && p[0] > len - fixed_need(type, flags))
		return 0;
	if (n >= 4 && type == T_WINDOW_UPDATE && !get31(p))
		return 0;
	return 1;
}

int h2_plausible(const uint8_t *data, size_t len)
{
	size_t off = 0, rest;
	uint32_t flen;
	int depth, r;

	if (!len)
		return -1;
	for (depth = 0; depth < PL_DEPTH; depth++) {
		r = header_check(data + off, len - off);
		if (r < 0)
			return depth ? 1 : -1;	/* a next header begun, nothing wrong in it */
		if (!r)
			return 0;
		flen = get24(data + off);
		rest = len - off - FRAME_HDR;
		if (!payload_check(data + off + FRAME_HDR, MIN(rest, flen), flen, data[off + 3],
				   data[off + 4]))
			return 0;
		if (rest <= flen)
			return 1;	/* the frame runs to the end of the buffer or past it */
		off += FRAME_HDR + flen;
	}
	return 1;
}

/* --- streams -------------------------------------------------------------- */

static struct h2_stream *stream_find(struct h2_conn *c, uint32_t sid)
{
	size_t i;

	if (!sid)
		return NULL;
	if (c->s[c->hint].sid == sid)
		return &c->s[c->hint];
	for (i = 0; i < H2_MAX_STREAMS; i++) {
		if (c->s[i].sid == sid) {
			c->hint = i;
			return &c->s[i];
		}
	}
	return NULL;
}

static int dir_open(const struct h2_stream *s, int d)
{
	return s->started[d] && !s->ended[d];
}

/* 0: nothing more can come, 1: no message open, 2: a message open */
static int stream_rank(const struct h2_stream *s)
{
	if (s->closed || (s->ended[0] && s->ended[1]))
		return 0;
	return dir_open(s, 0) || dir_open(s, 1) ? 2 : 1;
}

static int end_dir(struct h2_conn *c, struct h2_stream *s, int d, enum h2_end why)
{
	if (!dir_open(s, d))
		return 0;
	s->ended[d] = 1;
	return c->cb.on_end ? cb_rc(c->cb.on_end(c->ctx, s->sid, d, why)) : 0;
}

/* Ends both directions that are open; the stream takes no more frames. */
static int close_stream(struct h2_conn *c, struct h2_stream *s, enum h2_end why)
{
	int err = end_dir(c, s, 0, why);

	err = first_err(err, end_dir(c, s, 1, why));
	s->closed = 1;
	if (c->cb.on_close)
		err = first_err(err, cb_rc(c->cb.on_close(c->ctx, s->sid, why)));
	return err;
}

/*
 * A slot for stream sid.  When the table is full, the stream pushed out is
 * the oldest of those that are over, else of those with nothing open, else
 * of all (its open messages end H2_END_EVICTED).  *out is set even when a
 * callback failed.
 */
static int stream_new(struct h2_conn *c, uint32_t sid, struct h2_stream **out)
{
	struct h2_stream *s = NULL, *v;
	int err = 0, rv, rs = 0;
	size_t i;

	for (i = 0; i < H2_MAX_STREAMS; i++) {
		v = &c->s[i];
		if (!v->sid) {
			s = v;
			break;
		}
		rv = stream_rank(v);
		if (!s || rv < rs || (rv == rs && v->age < s->age)) {
			s = v;
			rs = rv;
		}
	}
	if (s->sid && rs == 2) {
		c->st.evicted++;
		err = close_stream(c, s, H2_END_EVICTED);
	}
	memset(s, 0, sizeof(*s));
	s->sid = sid;
	s->age = ++c->age;
	c->st.streams++;
	c->hint = s - c->s;
	*out = s;
	return err;
}

/* Ends, in stream id order, every stream with an id above "above" not over yet. */
static int end_streams(struct h2_conn *c, uint32_t above, enum h2_end why)
{
	struct h2_stream *m;
	uint32_t prev = above;
	int err = 0;
	size_t i;

	for (;;) {
		m = NULL;
		for (i = 0; i < H2_MAX_STREAMS; i++) {
			struct h2_stream *s = &c->s[i];

			if (s->sid > prev && !s->closed && (!m || s->sid < m->sid))
				m = s;
		}
		if (!m)
			return err;
		err = first_err(err, close_stream(c, m, why));
		prev = m->sid;
	}
}

/*
 * Reports a head of stream s in direction d (h NULL: not decoded).  A head
 * the callback refuses does not start the direction: nothing more of it
 * is reported.
 */
static int report_head(struct h2_conn *c, struct h2_stream *s, int d, const struct http1_head *h,
		       unsigned flags)
{
	int rc = 0;

	if (!h)
		c->st.headless++;
	if (c->cb.on_head)
		rc = c->cb.on_head(c->ctx, s->sid, d, h, flags);
	if (rc < 0) {
		if (!s->started[d])
			s->ended[d] = 1;
		s->final[d] = 1;
		return rc;
	}
	s->started[d] = 1;
	if (!h || d == 0 || h->status < 100 || h->status > 199)
		s->final[d] = 1;
	return 0;
}

/*
 * The stream a frame of direction d is for, made if new: 1 with *sp set,
 * 0 when the frame is to be passed over (a pushed stream, or one whose
 * message in d is over: a late frame), or -errno.
 */
static int stream_live(struct h2_conn *c, int d, uint32_t sid, struct h2_stream **sp)
{
	struct h2_stream *s = stream_find(c, sid);
	int err;

	if (!(sid & 1))
		return 0;	/* a pushed stream */
	if (!s) {
		err = stream_new(c, sid, &s);
		if (err)
			return err;
	}
	if (s->closed || s->ended[d]) {
		c->st.late_frames++;
		return 0;
	}
	*sp = s;
	return 1;
}

/* A header block of stream sid in direction d is over (h NULL: not decoded). */
static int headers_done(struct h2_conn *c, int d, uint32_t sid, const struct http1_head *h, int es)
{
	struct h2_stream *s;
	int err = stream_live(c, d, sid, &s);

	if (err <= 0)
		return err;
	if (!s->final[d]) {
		/* a request, an interim or final response; after it, trailers */
		err = report_head(c, s, d, h, (es ? H2_HEAD_END_STREAM : 0) |
					      (h ? 0 : H2_HEAD_MIDSTREAM));
		if (err)
			return err;
	}
	return es ? end_dir(c, s, d, H2_END_STREAM) : 0;
}

/* DATA of stream sid begins in direction d: a stream with no head yet is reported headless. */
static int data_begin(struct h2_conn *c, int d, uint32_t sid)
{
	struct h2_stream *s;
	int err = stream_live(c, d, sid, &s);

	if (err <= 0)
		return err;
	return s->final[d] ? 0 : report_head(c, s, d, NULL, H2_HEAD_MIDSTREAM);
}

/* The stream DATA of sid goes to in direction d, or NULL. */
static struct h2_stream *data_stream(struct h2_conn *c, int d, uint32_t sid)
{
	struct h2_stream *s = sid & 1 ? stream_find(c, sid) : NULL;

	return s && dir_open(s, d) ? s : NULL;
}

/* --- HPACK ---------------------------------------------------------------- */

static void hpack_lose(struct h2_conn *c, int dir, int count)
{
	struct h2_dir *d = &c->dir[dir];

	if (d->hpack_lost)
		return;
	d->hpack_lost = 1;
	if (count)
		c->st.hpack_lost++;
	if (d->inf)
		nghttp2_hd_inflate_del(d->inf);
	d->inf = NULL;
}

/* Sets the settings maximum of dir's inflater (what its decoder allows). */
static void table_apply(struct h2_conn *c, int dir, uint32_t v)
{
	struct h2_dir *d = &c->dir[dir];

	if (d->hpack_lost)
		return;
	if (v > H2_MAX_HPACK_TABLE)
		v = H2_MAX_HPACK_TABLE;
	if (nghttp2_hd_inflate_change_table_size(d->inf, v)) {
		c->st.hpack_errors++;
		hpack_lose(c, dir, 1);
		return;
	}
	d->table_max = v;
}

/*
 * A SETTINGS frame of dir is over.  Its header table size is the sender's
 * decoder's, so it sizes the other direction's inflater: at once when it
 * grows (the encoder may use it as soon as it has read it), at the ACK
 * when it shrinks (the encoder then announces the smaller size).  An ACK
 * applies the oldest SETTINGS the other direction sent.
 */
static void settings_done(struct h2_conn *c, int dir)
{
	struct h2_dir *d = &c->dir[dir], *o = &c->dir[!dir];
	uint32_t v;

	if (d->flags & FL_ACK) {
		if (!o->npending)
			return;
		v = o->pending[0];
		memmove(o->pending, o->pending + 1, --o->npending * sizeof(o->pending[0]));
		if (v != NO_VALUE)
			table_apply(c, dir, v);
		return;
	}
	if (d->setting != NO_VALUE && MIN(d->setting, H2_MAX_HPACK_TABLE) > o->table_max)
		table_apply(c, !dir, d->setting);
	if (d->npending == PENDING_MAX) {
		/* the ACKs are not coming (or not seen): apply the oldest */
		v = d->pending[0];
		memmove(d->pending, d->pending + 1, --d->npending * sizeof(d->pending[0]));
		if (v != NO_VALUE)
			table_apply(c, !dir, v);
	}
	d->pending[d->npending++] = d->setting;
}

static void settings_bytes(struct h2_dir *d, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		d->fix[d->fixlen++] = p[i];
		if (d->fixlen < SETTING_LEN)
			continue;
		d->fixlen = 0;
		if ((d->fix[0] << 8 | d->fix[1]) == SET_HEADER_TABLE_SIZE)
			d->setting = (uint32_t)d->fix[2] << 24 | (uint32_t)d->fix[3] << 16 |
				     (uint32_t)d->fix[4] << 8 | d->fix[5];
	}
}

/* Copies n bytes to the field buffer: 0, or -1 when they do not fit. */
static int field_store(struct h2_conn *c, struct decoded *dc, const uint8_t *p, size_t n,
		       struct fref *r)
{
	size_t cap;
	uint8_t *b;

	if (n > H2_MAX_HEAD_FIELDS - dc->used)
		return -1;
	if (dc->used + n > c->fcap) {
		cap = c->fcap ? c->fcap : 1024;
		while (cap < dc->used + n)
			cap *= 2;
		cap = MIN(cap, (size_t)H2_MAX_HEAD_FIELDS);
		b = membudget_realloc(c->mb, c->fields, cap, MEMBUDGET_HEAD);
		if (!b)
			return -1;
		c->fields = b;
		c->fcap = cap;
	}
	if (n)
		memcpy(c->fields + dc->used, p, n);
	r->off = dc->used;
	r->len = n;
	r->set = 1;
	dc->used += n;
	return 0;
}

static void field_add(struct h2_conn *c, struct decoded *dc, const nghttp2_nv *nv)
{
	const char *n = (const char *)nv->name;
	size_t nl = nv->namelen, used = dc->used;
	struct fref *r = NULL;

	if (nl && n[0] == ':') {
		if (IEQ(n, nl, ":method"))
			r = &dc->method;
		else if (IEQ(n, nl, ":path"))
			r = &dc->path;
		else if (IEQ(n, nl, ":authority"))
			r = &dc->authority;
		else if (IEQ(n, nl, ":status"))
			r = &dc->status;
		if (r && !r->set && field_store(c, dc, nv->value, nv->valuelen, r))
			c->st.dropped_fields++;
		return;		/* others (:scheme, :protocol) are not reported */
	}
	if (dc->nf == HTTP1_MAX_HEADERS ||
	    field_store(c, dc, nv->name, nl, &dc->name[dc->nf]) ||
	    field_store(c, dc, nv->value, nv->valuelen, &dc->value[dc->nf])) {
		dc->used = used;
		c->st.dropped_fields++;
		return;
	}
	dc->nf++;
}

/* Inflates a whole header block with inf, its fields into dc (NULL: only
 * the inflater's table is wanted): 0, or -1 when the inflater refuses it. */
static int inflate_block(struct h2_conn *c, nghttp2_hd_inflater *inf, const uint8_t *in,
			 size_t n, struct decoded *dc)
{
	static const uint8_t empty[1];
	nghttp2_nv nv;
	ssize_t rv;
	int fl;

	if (!in)
		in = empty;	/* an empty block gathered in no buffer */
	for (;;) {
		fl = 0;
		rv = nghttp2_hd_inflate_hd2(inf, &nv, &fl, in, n, 1);
		if (rv < 0)
			return -1;
		in += rv;
		n -= rv;
		if ((fl & NGHTTP2_HD_INFLATE_EMIT) && dc)
			field_add(c, dc, &nv);
		if (fl & NGHTTP2_HD_INFLATE_FINAL) {
			nghttp2_hd_inflate_end_headers(inf);
			return 0;
		}
		if (!(fl & NGHTTP2_HD_INFLATE_EMIT) && (!n || !rv))
			return -1;
	}
}

static int parse_status(const char *s, size_t n)
{
	if (n != 3 || s[0] < '1' || s[0] > '9' || s[1] < '0' || s[1] > '9' || s[2] < '0' ||
	    s[2] > '9')
		return 0;
	return (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
}

/* 1*DIGIT, or -1 */
static int64_t parse_length(const char *s, size_t n)
{
	int64_t x = 0;
	size_t i;

	if (!n)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || x > (INT64_MAX - (s[i] - '0')) / 10)
			return -1;
		x = x * 10 + (s[i] - '0');
	}
	return x;
}

static void first_value(const struct http1_header *f, const char **v, size_t *vl)
{
	if (!*v) {
		*v = f->value;
		*vl = f->value_len;
	}
}

/* Makes the http1_head of a decoded header list; its strings point into c->fields. */
static void build_head(const struct h2_conn *c, const struct decoded *dc, struct http1_head *h,
		       struct http1_header *hv)
{
	const char *b = c->fields ? (const char *)c->fields : "";
	int cl_seen = 0;
	size_t i;

	memset(h, 0, sizeof(*h));
	h->version_minor = 1;
	h->content_length = -1;
	h->headers = hv;
	h->nheaders = dc->nf;
	if (dc->method.set) {
		h->method = b + dc->method.off;
		h->method_len = dc->method.len;
	}
	if (dc->path.set) {
		h->target = b + dc->path.off;
		h->target_len = dc->path.len;
	}
	if (dc->authority.set) {
		h->host = b + dc->authority.off;
		h->host_len = dc->authority.len;
	}
	if (dc->status.set)
		h->status = parse_status(b + dc->status.off, dc->status.len);
	for (i = 0; i < dc->nf; i++) {
		struct http1_header *f = &hv[i];
		const char *n;
		size_t nl;

		f->name = n = b + dc->name[i].off;
		f->name_len = nl = dc->name[i].len;
		f->value = b + dc->value[i].off;
		f->value_len = dc->value[i].len;
		if (IEQ(n, nl, "host")) {
			first_value(f, &h->host, &h->host_len);
		} else if (IEQ(n, nl, "content-length")) {
			if (!cl_seen)
				h->content_length = parse_length(f->value, f->value_len);
			cl_seen = 1;
		} else if (IEQ(n, nl, "content-type")) {
			first_value(f, &h->content_type, &h->content_type_len);
		} else if (IEQ(n, nl, "content-encoding")) {
			first_value(f, &h->content_encoding, &h->content_encoding_len);
		} else if (IEQ(n, nl, "expect")) {
			h->expect_continue |= IEQ(f->value, f->value_len, "100-continue");
		}
	}
}

/* --- header blocks -------------------------------------------------------- */

static void block_drop(struct h2_conn *c, struct h2_dir *d)
{
	d->blen = 0;
	d->direct = NULL;
	d->direct_len = 0;
	if (d->bcap > BUF_KEEP) {
		membudget_free(c->mb, d->blk);
		d->blk = NULL;
		d->bcap = 0;
	}
}

static void block_begin(struct h2_dir *d)
{
	d->in_block = 1;
	d->blk_sid = d->sid;
	d->blk_push = d->type == T_PUSH_PROMISE;
	d->blk_es = d->type == T_HEADERS && (d->flags & FL_END_STREAM);
	d->blk_lost = d->hpack_lost;
	d->blen = 0;
	d->direct = NULL;
}

static void block_append(struct h2_conn *c, struct h2_dir *d, const uint8_t *p, size_t n)
{
	size_t cap;
	uint8_t *b;

	if (d->blk_lost)
		return;
	if (n > H2_MAX_HEADER_BLOCK - d->blen)
		goto lost;
	if (d->blen + n > d->bcap) {
		cap = d->bcap ? d->bcap : 1024;
		while (cap < d->blen + n)
			cap *= 2;
		cap = MIN(cap, (size_t)H2_MAX_HEADER_BLOCK);
		b = membudget_realloc(c->mb, d->blk, cap, MEMBUDGET_HEAD);
		if (!b)
			goto lost;
		d->blk = b;
		d->bcap = cap;
	}
	memcpy(d->blk + d->blen, p, n);
	d->blen += n;
	return;
lost:
	/* the block is lost, and with it the HPACK state (at END_HEADERS) */
	c->st.oversized_heads++;
	d->blk_lost = 1;
	block_drop(c, d);
}

/* END_HEADERS: decode the block, report the head. */
static int block_end(struct h2_conn *c, int dir)
{
	struct h2_dir *d = &c->dir[dir];
	struct http1_header hv[HTTP1_MAX_HEADERS];
	const struct http1_head *hp = NULL;
	struct http1_head h;
	struct decoded dc;
	int err = 0;

	d->in_block = 0;
	if (!d->hpack_lost && d->blk_lost) {
		hpack_lose(c, dir, 1);
	} else if (!d->hpack_lost) {
		dc.nf = dc.used = 0;
		dc.method.set = dc.path.set = dc.authority.set = dc.status.set = 0;
		if (inflate_block(c, d->inf, d->direct ? d->direct : d->blk,
				  d->direct ? d->direct_len : d->blen, &dc)) {
			c->st.hpack_errors++;
			hpack_lose(c, dir, 1);
		} else {
			build_head(c, &dc, &h, hv);
			hp = &h;
		}
	}
	block_drop(c, d);
	if (!d->blk_push)
		err = headers_done(c, dir, d->blk_sid, hp, d->blk_es);
	if (c->fcap > BUF_KEEP) {
		membudget_free(c->mb, c->fields);
		c->fields = NULL;
		c->fcap = 0;
	}
	return err;
}

/* --- framing -------------------------------------------------------------- */

/* The stream whose frame (or header block) is being read, if any. */
static uint32_t cut_stream(const struct h2_dir *d)
{
	if (d->in_block)
		return d->blk_sid;
	if (d->st != FS_FIXED && d->st != FS_BODY && d->st != FS_SKIP)
		return 0;
	switch (d->type) {
	case T_DATA:
	case T_HEADERS:
	case T_PUSH_PROMISE:
	case T_CONTINUATION:
		return d->sid;
	default:
		return 0;
	}
}

static void drop_framing(struct h2_conn *c, int dir)
{
	struct h2_dir *d = &c->dir[dir];

	if (d->st != FS_RESYNC)
		c->st.resyncs++;
	d->st = FS_RESYNC;
	d->hlen = 0;
	d->in_block = 0;
	block_drop(c, d);
	hpack_lose(c, dir, 1);
}

/* The framing of dir is lost: the message of the stream cut ends H2_END_LOST. */
static int lose_framing(struct h2_conn *c, int dir)
{
	uint32_t cut = cut_stream(&c->dir[dir]);
	struct h2_stream *s;

	drop_framing(c, dir);
	s = cut & 1 ? stream_find(c, cut) : NULL;
	return s ? end_dir(c, s, dir, H2_END_LOST) : 0;
}

static int bad_frame(struct h2_conn *c, int dir)
{
	c->st.bad_frames++;
	return lose_framing(c, dir);
}

/* The connection was not seen from its start in dir. */
static void go_midstream(struct h2_conn *c, int dir)
{
	c->dir[dir].st = FS_RESYNC;
	c->dir[dir].hlen = 0;
	hpack_lose(c, dir, 0);
}

/* A frame header that cannot be right where the framing is known: 0 or -EBADMSG. */
static int check_header(const struct h2_dir *d, int dir)
{
	int need, fl;

	if (d->type >= T_KNOWN)	/* extension frames are skipped, not inside a block */
		return d->in_block ? -EBADMSG : 0;
	need = needs_sid(d->type);
	fl = fixed_len(d->type);
	if ((need == 1 && !d->sid) || (need == 0 && d->sid) ||
	    (fl >= 0 && d->len != (uint32_t)fl) ||
	    (d->type == T_SETTINGS && (d->len % SETTING_LEN || ((d->flags & FL_ACK) && d->len))) ||
	    d->len < fixed_need(d->type, d->flags) ||
	    (d->type == T_PUSH_PROMISE && dir == 0))
		return -EBADMSG;
	if (d->in_block)
		return d->type == T_CONTINUATION && d->sid == d->blk_sid ? 0 : -EBADMSG;
	/* a CONTINUATION out of place is an error, unless what came before is lost */
	return d->type == T_CONTINUATION && !d->hpack_lost ? -EBADMSG : 0;
}

static int body_done(struct h2_conn *c, int dir)
{
	struct h2_dir *d = &c->dir[dir];
	struct h2_stream *s;

	d->st = d->pad ? FS_SKIP : FS_HEAD;
	d->left = d->pad;
	switch (d->type) {
	case T_DATA:
		s = d->flags & FL_END_STREAM ? data_stream(c, dir, d->sid) : NULL;
		return s ? end_dir(c, s, dir, H2_END_STREAM) : 0;
	case T_HEADERS:
	case T_PUSH_PROMISE:
	case T_CONTINUATION:
		return d->in_block && (d->flags & FL_END_HEADERS) ? block_end(c, dir) : 0;
	case T_SETTINGS:
		settings_done(c, dir);
		return 0;
	default:
		return 0;
	}
}

/* The fixed fields are in: act on them and go to the data part. */
static int fixed_done(struct h2_conn *c, int dir)
{
	struct h2_dir *d = &c->dir[dir];
	uint32_t rest = d->len - d->fixneed, pad = 0;
	struct h2_stream *s;
	int err = 0;

	if (has_padding(d->type, d->flags)) {
		pad = d->fix[0];
		if (pad > rest)
			return bad_frame(c, dir);
	}
	d->pad = pad;
	d->left = rest - pad;
	d->fixlen = 0;
	d->st = FS_BODY;
	switch (d->type) {
	case T_DATA:
		err = data_begin(c, dir, d->sid);
		break;
	case T_HEADERS:
	case T_PUSH_PROMISE:
		block_begin(d);
		break;
	case T_RST_STREAM:
		c->st.resets++;
		s = d->sid & 1 ? stream_find(c, d->sid) : NULL;
		if (s && !s->closed)
			err = close_stream(c, s, H2_END_RESET);
		break;
	case T_GOAWAY:
		/* the server's names the last client stream it will process */
		c->st.goaways++;
		if (dir == 1)
			err = end_streams(c, get31(d->fix), H2_END_GOAWAY);
		break;
	case T_SETTINGS:
		d->setting = NO_VALUE;
		break;
	}
	if (err)
		return err;
	return d->left ? 0 : body_done(c, dir);
}

static int frame_begin(struct h2_conn *c, int dir)
{
	struct h2_dir *d = &c->dir[dir];

	d->hlen = 0;
	d->len = get24(d->hdr);
	d->type = d->hdr[3];
	d->flags = d->hdr[4];
	d->sid = get31(d->hdr + 5);
	c->st.frames++;
	if (check_header(d, dir))
		return bad_frame(c, dir);
	d->fixneed = fixed_need(d->type, d->flags);
	d->fixlen = 0;
	if (d->type >= T_KNOWN || (d->type == T_CONTINUATION && !d->in_block)) {
		/* skipped whole */
		d->pad = 0;
		d->left = d->len;
		d->st = d->len ? FS_SKIP : FS_HEAD;
		return 0;
	}
	if (d->fixneed) {
		d->st = FS_FIXED;
		return 0;
	}
	return fixed_done(c, dir);
}

static ssize_t feed_preface(struct h2_conn *c, int dir, const uint8_t *p, size_t n)
{
	struct h2_dir *d = &c->dir[dir];
	size_t i = 0;

	while (i < n && d->pre < PREFACE_LEN && p[i] == (uint8_t)preface[d->pre]) {
		i++;
		d->pre++;
	}
	if (d->pre == PREFACE_LEN) {
		d->st = FS_HEAD;
		return i;
	}
	if (i == n)
		return n;
	/* not the preface: the connection was not seen from its start */
	c->st.bad_prefaces++;
	go_midstream(c, dir);
	if (!c->dir[!dir].fed)
		go_midstream(c, !dir);
	if (d->pre == i)
		return 0;	/* it all lies in this feed: it may start with a frame */
	c->st.skipped += d->pre;
	return i;
}

static ssize_t feed_head(struct h2_conn *c, int dir, const uint8_t *p, size_t n)
{
	struct h2_dir *d = &c->dir[dir];
	size_t k = MIN(FRAME_HDR - d->hlen, n);
	int err;

	memcpy(d->hdr + d->hlen, p, k);
	d->hlen += k;
	if (d->hlen < FRAME_HDR)
		return k;
	err = frame_begin(c, dir);
	return err ? err : (ssize_t)k;
}

static ssize_t feed_fixed(struct h2_conn *c, int dir, const uint8_t *p, size_t n)
{
	struct h2_dir *d = &c->dir[dir];
	size_t k = MIN(d->fixneed - d->fixlen, n);
	int err;

	memcpy(d->fix + d->fixlen, p, k);
	d->fixlen += k;
	if (d->fixlen < d->fixneed)
		return k;
	err = fixed_done(c, dir);
	return err ? err : (ssize_t)k;
}

static ssize_t feed_body(struct h2_conn *c, int dir, const uint8_t *p, size_t n)
{
	struct h2_dir *d = &c->dir[dir];
	size_t k = MIN((size_t)d->left, n);
	struct h2_stream *s;
	int err = 0;

	switch (d->type) {
	case T_DATA:
		s = data_stream(c, dir, d->sid);
		if (s && c->cb.on_body)
			err = cb_rc(c->cb.on_body(c->ctx, s->sid, dir, p, k));
		break;
	case T_HEADERS:
	case T_PUSH_PROMISE:
	case T_CONTINUATION:
		if (!d->blen && k == d->left && (d->flags & FL_END_HEADERS)) {
			/* the whole block is here: inflate it where it lies */
			d->direct = p;
			d->direct_len = k;
		} else {
			block_append(c, d, p, k);
		}
		break;
	case T_SETTINGS:
		settings_bytes(d, p, k);
		break;
	}
	if (err)
		return err;
	d->left -= k;
	if (!d->left)
		err = body_done(c, dir);
	return err ? err : (ssize_t)k;
}

static ssize_t feed_skip(struct h2_dir *d, size_t n)
{
	size_t k = MIN((size_t)d->left, n);

	d->left -= k;
	if (!d->left)
		d->st = FS_HEAD;
	return k;
}

/*
 * Framing lost: a feed that starts with a plausible frame header resumes
 * it (a header cut by the feed's end is completed from the next feed);
 * the rest is skipped.
 */
static ssize_t feed_resync(struct h2_conn *c, int dir, const uint8_t *p, size_t n, int at_start)
{
	struct h2_dir *d = &c->dir[dir];
	size_t had = d->hlen, k;
	int r, err;

	if (!had && !at_start) {
		c->st.skipped += n;
		return n;
	}
	k = MIN(FRAME_HDR - had, n);
	memcpy(d->hdr + had, p, k);
	d->hlen += k;
	if (d->hlen < FRAME_HDR)
		r = h2_plausible(d->hdr, d->hlen);
	else
		r = had ? h2_plausible(d->hdr, FRAME_HDR) : h2_plausible(p, n);
	if (r < 0)
		return k;
	if (!r) {
		c->st.skipped += d->hlen + (n - k);
		d->hlen = 0;
		return n;
	}
	d->st = FS_HEAD;
	err = frame_begin(c, dir);
	return err ? err : (ssize_t)k;
}

ssize_t h2_conn__feed(struct h2_conn *c, int dir, const uint8_t *data, size_t len)
{
	struct h2_dir *d;
	size_t off = 0;
	ssize_t n = 0;

	if (dir != 0 && dir != 1)
		return -EINVAL;
	if (c->eof) {
		c->st.skipped += len;
		return len;
	}
	d = &c->dir[dir];
	d->fed += len;
	while (off < len) {
		const uint8_t *p = data + off;
		size_t left = len - off;

		switch (d->st) {
		case FS_PREFACE:
			n = feed_preface(c, dir, p, left);
			break;
		case FS_HEAD:
			n = feed_head(c, dir, p, left);
			break;
		case FS_FIXED:
			n = feed_fixed(c, dir, p, left);
			break;
		case FS_BODY:
			n = feed_body(c, dir, p, left);
			break;
		case FS_SKIP:
			n = feed_skip(d, left);
			break;
		case FS_RESYNC:
			n = feed_resync(c, dir, p, left, !off);
			break;
		}
		if (n < 0) {
			/* a callback failed: the rest of the feed is not read */
			drop_framing(c, dir);
			return n;
		}
		off += n;
	}
	return len;
}

int h2_conn__gap(struct h2_conn *c, int dir, uint64_t len)
{
	struct h2_stream *s;
	struct h2_dir *d;
	uint64_t part;
	int err = 0;

	if (dir != 0 && dir != 1)
		return -EINVAL;
	if (!len || c->eof)
		return 0;
	d = &c->dir[dir];
	if (len != UINT64_MAX)
		c->st.gap_bytes += len;
	if (d->st == FS_RESYNC) {
		/* a frame header begun before the gap is not one */
		c->st.skipped += d->hlen;
		d->hlen = 0;
		return 0;
	}
	if (d->type == T_DATA && len != UINT64_MAX &&
	    ((d->st == FS_BODY && len <= (uint64_t)d->left + d->pad) ||
	     (d->st == FS_SKIP && len <= d->left))) {
		/* inside a DATA payload: the framing holds */
		if (d->st == FS_BODY) {
			part = MIN(len, (uint64_t)d->left);
			s = data_stream(c, dir, d->sid);
			if (s && c->cb.on_body_gap)
				err = cb_rc(c->cb.on_body_gap(c->ctx, s->sid, dir, part));
			d->left -= part;
			len -= part;
			if (!d->left)
				err = first_err(err, body_done(c, dir));
			if (!len)
				return err;
		}
		d->left -= len;	/* padding */
		if (!d->left)
			d->st = FS_HEAD;
		return err;
	}
	return lose_framing(c, dir);
}

int h2_conn__eof(struct h2_conn *c)
{
	int dir;

	if (c->eof)
		return 0;
	c->eof = 1;
	for (dir = 0; dir < 2; dir++) {
		c->dir[dir].in_block = 0;
		block_drop(c, &c->dir[dir]);
	}
	return end_streams(c, 0, H2_END_CLOSED);
}

struct h2_conn *h2_conn__new(const struct h2_callbacks *cb, void *ctx, int midstream)
{
	struct h2_conn *c = calloc(1, sizeof(*c));
	int dir;

	if (!c)
		return NULL;
	if (cb)
		c->cb = *cb;
	c->ctx = ctx;
	for (dir = 0; dir < 2; dir++) {
		struct h2_dir *d = &c->dir[dir];

		d->table_max = HPACK_DEFAULT_TABLE;
		if (midstream) {
			d->st = FS_RESYNC;
			d->hpack_lost = 1;
			continue;
		}
		d->st = dir ? FS_HEAD : FS_PREFACE;
		if (nghttp2_hd_inflate_new(&d->inf)) {
			h2_conn__free(c);
			errno = ENOMEM;
			return NULL;
		}
	}
	return c;
}

void h2_conn__set_budget(struct h2_conn *c, struct membudget *mb)
{
	c->mb = mb;
}

void h2_conn__free(struct h2_conn *c)
{
	int dir;

	if (!c)
		return;
	for (dir = 0; dir < 2; dir++) {
		if (c->dir[dir].inf)
			nghttp2_hd_inflate_del(c->dir[dir].inf);
		membudget_free(c->mb, c->dir[dir].blk);
	}
	membudget_free(c->mb, c->fields);
	free(c);
}

void h2_conn__stats(const struct h2_conn *c, struct h2_stats *out)
{
	*out = c->st;
}

/* --- looking ahead at a write ---------------------------------------------- */

/* An HPACK integer with an n-bit prefix (RFC 7541 5.1), after `first`'s
 * high bits; 0 when it does not fit. */
static size_t hpack_int(uint8_t *out, size_t cap, uint8_t first, unsigned n, uint64_t v)
{
	uint8_t max = (uint8_t)((1u << n) - 1);
	size_t i = 0;

	if (!cap)
		return 0;
	if (v < max) {
		out[i++] = first | (uint8_t)v;
		return i;
	}
	out[i++] = first | max;
	v -= max;
	while (v >= 128) {
		if (i == cap)
			return 0;
		out[i++] = (uint8_t)(v % 128 + 128);
		v /= 128;
	}
	if (i == cap)
		return 0;
	out[i++] = (uint8_t)v;
	return i;
}

/* A literal string, without Huffman coding. */
static size_t hpack_str(uint8_t *out, size_t cap, const uint8_t *s, size_t len)
{
	size_t n = hpack_int(out, cap, 0, 7, len);

	if (!n || len > cap - n)
		return 0;
	memcpy(out + n, s, len);
	return n + len;
}

/*
 * A copy of an inflater's state: a fresh inflater, given the same table
 * limit and fed a block that inserts the same dynamic entries, oldest
 * first (literals with incremental indexing: nghttp2 has no copy).  NULL
 * when it cannot be made.
 */
static nghttp2_hd_inflater *inflater_copy(struct h2_conn *c, nghttp2_hd_inflater *inf)
{
	size_t i, n, at = 0, k, max = nghttp2_hd_inflate_get_max_dynamic_table_size(inf);
	nghttp2_hd_inflater *cp;
	const nghttp2_nv *nv;
	uint8_t *blk;
	size_t cap = 64 + nghttp2_hd_inflate_get_dynamic_table_size(inf) * 2;

	if (nghttp2_hd_inflate_new(&cp))
		return NULL;
	blk = malloc(cap);
	if (!blk || (max > HPACK_DEFAULT_TABLE && nghttp2_hd_inflate_change_table_size(cp, max)))
		goto fail;
	at = hpack_int(blk, cap, 0x20, 5, max);		/* table size update */
	n = nghttp2_hd_inflate_get_num_table_entries(inf);
	for (i = n; i > 61; i--) {
		nv = nghttp2_hd_inflate_get_table_entry(inf, i);
		if (!nv || at == cap)
			goto fail;
		blk[at++] = 0x40;		/* incremental indexing, new name */
		k = hpack_str(blk + at, cap - at, nv->name, nv->namelen);
		if (!k)
			goto fail;
		at += k;
		k = hpack_str(blk + at, cap - at, nv->value, nv->valuelen);
		if (!k)
			goto fail;
		at += k;
	}
	if (inflate_block(c, cp, blk, at, NULL))
		goto fail;
	free(blk);
	return cp;
fail:
	free(blk);
	nghttp2_hd_inflate_del(cp);
	return NULL;
}

int h2_conn__peek(struct h2_conn *c, const uint8_t *data, size_t len,
		  const struct h2_peek_callbacks *cb, void *ctx)
{
	struct h2_dir *d = &c->dir[0];
	struct http1_header hv[HTTP1_MAX_HEADERS];
	nghttp2_hd_inflater *inf;
	struct http1_head h;
	struct decoded dc;
	uint8_t *blk = NULL;
	size_t off = 0, blen = 0, pad, skip, n = 0;
	uint32_t flen, sid, blk_sid = 0;
	uint8_t type, flags, blk_es = 0;
	int in_block = 0, rc = 0;

	if (d->hpack_lost || d->in_block || d->hlen || d->st == FS_RESYNC ||
	    (d->st != FS_HEAD && d->st != FS_PREFACE))
		return -EAGAIN;		/* not at a frame's start, or cannot decode */
	if (d->st == FS_PREFACE) {
		if (len < sizeof(preface) - 1 || memcmp(data, preface, sizeof(preface) - 1))
			return -EAGAIN;
		off = sizeof(preface) - 1;
	}
	inf = inflater_copy(c, d->inf);
	if (!inf)
		return -ENOMEM;
	while (off + FRAME_HDR <= len && !rc) {
		flen = get24(data + off);
		type = data[off + 3];
		flags = data[off + 4];
		sid = get31(data + off + 5);
		off += FRAME_HDR;
		if (flen > len - off)
			break;		/* the rest is not in this write */
		pad = 0;
		skip = 0;
		if ((type == T_HEADERS || type == T_DATA) && (flags & FL_PADDED) && flen) {
			pad = data[off];
			skip = 1;
		}
		if (type == T_HEADERS && (flags & FL_PRIORITY))
			skip += 5;
		if (skip + pad > flen)
			break;
		if (type == T_HEADERS || (type == T_CONTINUATION && in_block)) {
			uint8_t *nb;

			if (type == T_HEADERS) {
				in_block = 1;
				blk_sid = sid;
				blk_es = flags & FL_END_STREAM;
				blen = 0;
			}
			nb = realloc(blk, blen + flen);
			if (!nb) {
				rc = -ENOMEM;
				break;
			}
			blk = nb;
			memcpy(blk + blen, data + off + skip, flen - skip - pad);
			blen += flen - skip - pad;
			if (flags & FL_END_HEADERS) {
				in_block = 0;
				memset(&dc, 0, sizeof(dc));
				if (inflate_block(c, inf, blk, blen, &dc))
					break;		/* not decodable: stop here */
				build_head(c, &dc, &h, hv);
				if ((blk_sid & 1) && cb->on_head) {
					rc = cb->on_head(ctx, blk_sid, &h, blk_es);
					n++;
				}
			}
		} else if (type == T_DATA && (sid & 1) && cb->on_data) {
			rc = cb->on_data(ctx, sid, data + off + skip, flen - skip - pad,
					 flags & FL_END_STREAM);
		} else if (in_block) {
			break;			/* broken block */
		}
		off += flen;
	}
	free(blk);
	nghttp2_hd_inflate_del(inf);
	if (c->fcap > BUF_KEEP) {
		membudget_free(c->mb, c->fields);
		c->fields = NULL;
		c->fcap = 0;
	}
	return rc < 0 ? rc : (int)n;
}
